//! A SCIM client for the tests: builds `http` requests, runs them through a
//! `ScimService` over a `MemoryStore` (or, for the request sequences of real clients,
//! over butterfly-store's `SqlStore` on SQLite and PostgreSQL), and reads the answers
//! back as JSON.

use std::future::Future;
use std::sync::Arc;

use butterfly_core::store::TeamStore as _;
use butterfly_core::{Clock, FixedClock, TeamId};
use butterfly_scim::{MemoryStore, ScimConfig, ScimService, ScimStore};
use butterfly_store::SqlStore;
use bytes::Bytes;
use futures::executor::block_on;
use http::{HeaderMap, Method, Request};
use serde_json::Value;
use sqlx::postgres::PgConnection;
use sqlx::{Connection as _, Executor as _};

pub const BASE: &str = "https://example.com/scim/v2";

/// The variable naming a PostgreSQL server the tests may create databases on (as in
/// butterfly-store's suite; `scripts/test` sets it).
const DATABASE_URL_VAR: &str = "BUTTERFLY_TEST_DATABASE_URL";

/// A service, a team, and helpers to talk to it.
pub struct Scim<S = MemoryStore> {
    pub service: Arc<ScimService<S>>,
    pub team: TeamId,
    /// Drives a database store's futures (sqlx needs a Tokio reactor); `None` for the
    /// in-memory store, whose futures are always ready.
    runtime: Option<Arc<tokio::runtime::Runtime>>,
    /// Removes the database when the test ends.
    _database: Option<Database>,
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(FixedClock::new(
        "2026-01-02T03:04:05Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap(),
    ))
}

/// A database made for one test: a SQLite file in a temporary directory, or a
/// PostgreSQL database dropped when the test ends (also when it fails).
enum Database {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        runtime: Arc<tokio::runtime::Runtime>,
        store: SqlStore,
        admin_url: String,
        name: String,
    },
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Database::Postgres {
            runtime,
            store,
            admin_url,
            name,
        } = self
        {
            runtime.block_on(async {
                store.close().await;
                if let Ok(mut admin) = PgConnection::connect(admin_url).await {
                    let _ = admin
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                    let _ = admin.close().await;
                }
            });
        }
    }
}

fn runtime() -> Arc<tokio::runtime::Runtime> {
    Arc::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    )
}

impl Scim<SqlStore> {
    /// The service over `SqlStore` on a new SQLite file, with one team.
    pub fn on_sqlite() -> Self {
        let runtime = runtime();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("scim.db").display());
        let store = runtime
            .block_on(SqlStore::connect(&url))
            .expect("open SQLite")
            .with_clock(clock());
        Scim::over_sql(runtime, store, Database::Sqlite(dir))
    }

    /// The service over `SqlStore` on a new PostgreSQL database, with one team.
    ///
    /// Fails, rather than skips, without `BUTTERFLY_TEST_DATABASE_URL`: a sequence that
    /// passes by running nothing would hide a broken PostgreSQL path.
    pub fn on_postgres() -> Self {
        let Ok(admin_url) = std::env::var(DATABASE_URL_VAR) else {
            panic!(
                "the PostgreSQL SCIM sequences need a server: set {DATABASE_URL_VAR} \
                 (e.g. postgres://postgres@127.0.0.1:54329/postgres) or run scripts/test"
            );
        };
        let runtime = runtime();
        let name = format!("bf_scim_test_{}", uuid::Uuid::new_v4().simple());
        let store = runtime.block_on(async {
            let mut admin = PgConnection::connect(&admin_url)
                .await
                .unwrap_or_else(|e| panic!("cannot reach {DATABASE_URL_VAR}: {e}"));
            admin
                .execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("create a test database");
            admin.close().await.ok();
            SqlStore::connect(&with_database(&admin_url, &name))
                .await
                .expect("open PostgreSQL")
        });
        let store = store.with_clock(clock());
        let database = Database::Postgres {
            runtime: Arc::clone(&runtime),
            store: store.clone(),
            admin_url,
            name,
        };
        Scim::over_sql(runtime, store, database)
    }

    fn over_sql(
        runtime: Arc<tokio::runtime::Runtime>,
        store: SqlStore,
        database: Database,
    ) -> Self {
        let team = runtime
            .block_on(store.create_team("scim-sequences"))
            .expect("create a team")
            .id;
        Scim {
            service: Arc::new(ScimService::new(store)),
            team,
            runtime: Some(runtime),
            _database: Some(database),
        }
    }
}

/// `url` with its database name replaced by `name`, keeping user, host and parameters.
fn with_database(url: &str, name: &str) -> String {
    let authority_at = url.find("://").map_or(0, |i| i + 3);
    let (scheme_and_authority, path_and_query) = match url[authority_at..].find('/') {
        Some(i) => url.split_at(authority_at + i),
        None => (url, ""),
    };
    let query = path_and_query
        .find('?')
        .map_or("", |i| &path_and_query[i..]);
    format!("{scheme_and_authority}/{name}{query}")
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

impl Scim<MemoryStore> {
    pub fn new() -> Self {
        Scim::with_config(ScimConfig::default())
    }

    pub fn with_config(config: ScimConfig) -> Self {
        let store = MemoryStore::with_clock(clock());
        Scim {
            service: Arc::new(ScimService::with_config(store, config)),
            team: TeamId::new_random(),
            runtime: None,
            _database: None,
        }
    }

    /// The same service, another team.
    pub fn other_team(&self) -> Scim {
        Scim {
            service: Arc::clone(&self.service),
            team: TeamId::new_random(),
            runtime: None,
            _database: None,
        }
    }
}

impl<S: ScimStore> Scim<S> {
    fn run<T>(&self, future: impl Future<Output = T>) -> T {
        match &self.runtime {
            Some(runtime) => runtime.block_on(future),
            None => block_on(future),
        }
    }

    pub fn raw(&self, method: Method, path: &str, body: Bytes, headers: &[(&str, &str)]) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request.body(body).unwrap();
        let response = self.run(self.service.handle(self.team, BASE, request));
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
