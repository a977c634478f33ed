//! A SCIM client for the tests: builds `http` requests, runs them through a
//! `ScimService` over a `MemoryStore`, and reads the answers back as JSON.

use std::sync::Arc;

use butterfly_core::{FixedClock, TeamId};
use butterfly_scim::{MemoryStore, ScimConfig, ScimService};
use bytes::Bytes;
use futures::executor::block_on;
use http::{HeaderMap, Method, Request};
use serde_json::Value;
use time::macros::datetime;

pub const BASE: &str = "https://example.com/scim/v2";

/// A service, a team, and helpers to talk to it.
pub struct Scim {
    pub service: Arc<ScimService<MemoryStore>>,
    pub team: TeamId,
}

/// An answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Assert a SCIM error: status, scimType, and the error schema and content type.
    #[track_caller]
    pub fn assert_error(&self, status: u16, scim_type: Option<&str>) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(
            self.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
            "{}",
            self.body
        );
        assert_eq!(self.body["status"], status.to_string());
        assert_eq!(
            self.body.get("scimType").and_then(Value::as_str),
            scim_type,
            "{}",
            self.body
        );
        assert_eq!(self.header("content-type"), Some("application/scim+json"));
    }
}

impl Scim {
    pub fn new() -> Self {
        Scim::with_config(ScimConfig::default())
    }

    pub fn with_config(config: ScimConfig) -> Self {
        let clock = Arc::new(FixedClock::new(datetime!(2026-01-02 03:04:05 UTC)));
        let store = MemoryStore::with_clock(clock);
        Scim {
            service: Arc::new(ScimService::with_config(store, config)),
            team: TeamId::new_random(),
        }
    }

    /// The same service, another team.
    pub fn other_team(&self) -> Scim {
        Scim {
            service: Arc::clone(&self.service),
            team: TeamId::new_random(),
        }
    }

    pub fn raw(&self, method: Method, path: &str, body: Bytes, headers: &[(&str, &str)]) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request.body(body).unwrap();
        let response = block_on(self.service.handle(self.team, BASE, request));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.into_body();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let bytes = body.map_or_else(Bytes::new, |b| Bytes::from(serde_json::to_vec(b).unwrap()));
        let mut all = vec![("content-type", "application/scim+json")];
        all.extend_from_slice(headers);
        self.raw(method, path, bytes, &all)
    }

    pub fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None, &[])
    }

    pub fn post(&self, path: &str, body: &Value) -> Answer {
        self.call(Method::POST, path, Some(body), &[])
    }

    pub fn put(&self, path: &str, body: &Value) -> Answer {
        self.call(Method::PUT, path, Some(body), &[])
    }

    pub fn patch(&self, path: &str, body: &Value) -> Answer {
        self.call(Method::PATCH, path, Some(body), &[])
    }

    pub fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, None, &[])
    }

    /// Create a user with this userName; its id.
    pub fn user(&self, user_name: &str) -> String {
        let answer = self.post(
            "/Users",
            &serde_json::json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": user_name,
            }),
        );
        assert_eq!(answer.status, 201, "{}", answer.body);
        answer.body["id"].as_str().unwrap().to_owned()
    }
}

/// Percent-encode a query parameter value.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Replace every UUID, alone or inside a string, with `[uuid]`, so snapshots are stable.
pub fn redact(value: &mut Value) {
    match value {
        Value::String(s) => *s = redact_text(s),
        Value::Array(items) => items.iter_mut().for_each(redact),
        Value::Object(members) => members.values_mut().for_each(redact),
        _ => {}
    }
}

fn redact_text(s: &str) -> String {
    let is_uuid = |w: &str| {
        w.len() == 36
            && w.char_indices().all(|(i, c)| {
                if matches!(i, 8 | 13 | 18 | 23) {
                    c == '-'
                } else {
                    c.is_ascii_hexdigit()
                }
            })
    };
    let mut out = String::new();
    let mut i = 0;
    while i < s.len() {
        if let Some(w) = s.get(i..i + 36)
            && is_uuid(w)
        {
            out.push_str("[uuid]");
            i += 36;
        } else if let Some(c) = s[i..].chars().next() {
            out.push(c);
            i += c.len_utf8();
        } else {
            break;
        }
    }
    out
}
