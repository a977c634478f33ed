//! The simulator's writes over real HTTP with a real bearer token: create, replace,
//! lifecycle and delete per kind, users' lifecycle, relations, validation, 404s, manage
//! scopes, rate-limit accounting, the request log, and a backup that sees the writes.

use std::collections::BTreeMap;
use std::sync::Arc;

use butterfly_core::source::InMemorySnapshotSource;
use butterfly_core::{Resource, SnapshotStatus};
use butterfly_providers::backup::run_okta_backup;
use butterfly_providers::clock::VirtualTimer;
use butterfly_providers::okta::fetcher::{
    ClientId, FetchEvent, FetchOptions, OktaCredentials, OrgUrl, PrivateKey,
};
use butterfly_providers::okta::kinds;
use butterfly_providers::okta::simulator::{
    JWT_BEARER_ASSERTION, OrgConfig, RunningSimulator, Simulator, SimulatorConfig,
};
use butterfly_providers::okta::{OktaErrorBody, RateLimitBucket};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::simulator::client_key;

/// Ten seconds into a rate-limit window, on the virtual clock.
const START: i64 = 1_700_000_050;

/// `created` and `lastUpdated` of everything written at `START`.
const START_TIME: &str = "2023-11-14T22:14:10.000Z";

pub(crate) struct Harness {
    pub(crate) sim: RunningSimulator,
    pub(crate) timer: Arc<VirtualTimer>,
    http: reqwest::Client,
}

/// One answer: status, headers and the JSON body (`Null` when empty).
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    headers: HeaderMap,
    pub(crate) body: Value,
}

impl Answer {
    fn error(&self) -> OktaErrorBody {
        serde_json::from_value(self.body.clone())
            .unwrap_or_else(|e| panic!("not an Okta error ({e}): {}", self.body))
    }

    pub(crate) fn id(&self) -> String {
        self.body["id"].as_str().unwrap().to_owned()
    }

    #[track_caller]
    pub(crate) fn expect(self, status: StatusCode) -> Self {
        assert_eq!(self.status, status, "{}", self.body);
        self
    }
}

fn config(rate_limits: BTreeMap<RateLimitBucket, u32>) -> SimulatorConfig {
    SimulatorConfig {
        org: OrgConfig {
            seed: 5,
            users: 30,
            groups: 4,
            apps: 7,
        },
        client_public_key_pem: Some(client_key().public_pem.clone()),
        rate_limits,
        ..SimulatorConfig::default()
    }
}

impl Harness {
    pub(crate) async fn start(mut config: SimulatorConfig) -> Harness {
        let timer = Arc::new(VirtualTimer::new(
            DateTime::from_timestamp(START, 0).unwrap(),
        ));
        config.timer = timer.clone();
        let sim = Simulator::bind(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        Harness {
            sim,
            timer,
            http: reqwest::Client::new(),
        }
    }

    async fn default() -> Harness {
        Harness::start(config(BTreeMap::new())).await
    }

    /// A bearer token for `scopes`, signed in as the service app.
    pub(crate) async fn token(&self, scopes: &[&str]) -> String {
        let credentials = self.sim.simulator().client_credentials();
        let now = Utc::now().timestamp();
        let claims = json!({
            "iss": credentials.client_id, "sub": credentials.client_id,
            "aud": credentials.token_url, "iat": now, "exp": now + 300,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        let key = {
            use rsa::pkcs1::EncodeRsaPrivateKey as _;
            use rsa::pkcs8::DecodePrivateKey as _;
            let key = rsa::RsaPrivateKey::from_pkcs8_pem(&client_key().private_pem).unwrap();
            EncodingKey::from_rsa_der(key.to_pkcs1_der().unwrap().as_bytes())
        };
        let assertion =
            jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap();
        let response = self
            .http
            .post(&credentials.token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", &scopes.join(" ")),
                ("client_assertion_type", JWT_BEARER_ASSERTION),
                ("client_assertion", &assertion),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// A token with every manage scope and every read scope.
    pub(crate) async fn admin_token(&self) -> String {
        let scopes: Vec<&str> = kinds::backup_scopes()
            .into_iter()
            .chain(kinds::all().filter_map(|k| k.manage_scope))
            .collect();
        self.token(&scopes).await
    }

    pub(crate) async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.sim.org_url()))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub(crate) async fn get(&self, token: &str, path: &str) -> Answer {
        self.call(token, Method::GET, path, None).await
    }

    pub(crate) async fn post(&self, token: &str, path: &str, body: Value) -> Answer {
        self.call(token, Method::POST, path, Some(body)).await
    }

    pub(crate) async fn put(&self, token: &str, path: &str, body: Value) -> Answer {
        self.call(token, Method::PUT, path, Some(body)).await
    }

    pub(crate) async fn delete(&self, token: &str, path: &str) -> Answer {
        self.call(token, Method::DELETE, path, None).await
    }

    /// The ids listed at `path` (one page is enough for the small orgs here).
    pub(crate) async fn ids(&self, token: &str, path: &str) -> Vec<String> {
        let answer = self.get(token, path).await.expect(StatusCode::OK);
        answer
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The first id listed at `path`.
    pub(crate) async fn first(&self, token: &str, path: &str) -> String {
        self.ids(token, path).await.remove(0)
    }

    /// Back the org up into memory with the shared runner, on the simulator's clock.
    async fn back_up(&self) -> (Vec<Resource>, SnapshotStatus) {
        let given = self.sim.simulator().client_credentials();
        let credentials = OktaCredentials {
            org_url: OrgUrl::parse(&given.org_url).unwrap(),
            client_id: ClientId::new(given.client_id.clone()).unwrap(),
            key_id: Some(given.key_id.clone()),
            private_key: PrivateKey::from_pem(&client_key().private_pem).unwrap(),
        };
        let options = FetchOptions {
            rate_limit_share: 1.0,
            timer: self.timer.clone(),
            // The simulator listens on loopback.
            insecure_allow_private_addresses: true,
            ..FetchOptions::default()
        };
        let source = InMemorySnapshotSource::new();
        let outcome = run_okta_backup(
            credentials,
            options,
            &source,
            self.timer.as_ref(),
            |_: &FetchEvent| {},
        )
        .await
        .unwrap();
        let resources = source.all_resources(outcome.snapshot_id()).unwrap();
        (resources, outcome.status())
    }
}

fn find<'a>(resources: &'a [Resource], kind: &str, id: &str) -> Option<&'a Resource> {
    resources
        .iter()
        .find(|r| r.kind.as_str() == kind && r.id == id)
}

#[tokio::test]
async fn a_group_round_trips_with_its_children() {
    let s = Harness::default().await;
    let t = s.admin_token().await;

    let created = s
        .post(
            &t,
            "/api/v1/groups",
            json!({ "profile": { "name": "Restored", "description": "from backup" },
                "id": "00gignored", "created": "1999-01-01T00:00:00.000Z", "status": "X" }),
        )
        .await
        .expect(StatusCode::OK);
    let id = created.id();
    assert!(id.starts_with("00g") && id.len() == 20, "{id}");
    assert_ne!(id, "00gignored");
    assert_eq!(created.body["created"], START_TIME);
    assert_eq!(created.body["lastUpdated"], START_TIME);
    assert_eq!(created.body["type"], "OKTA_GROUP");
    assert!(created.body.get("status").is_none());
    assert_eq!(created.body["profile"]["name"], "Restored");

    // Readable by id and in the list, with empty child listings.
    let read = s.get(&t, &format!("/api/v1/groups/{id}")).await;
    assert_eq!(read.expect(StatusCode::OK).body, created.body);
    assert!(s.ids(&t, "/api/v1/groups").await.contains(&id));
    for child in ["users", "owners", "roles"] {
        let answer = s.get(&t, &format!("/api/v1/groups/{id}/{child}")).await;
        assert_eq!(answer.expect(StatusCode::OK).body, json!([]), "{child}");
    }

    // Replace: the whole object; server fields stay.
    s.timer.advance(chrono::TimeDelta::seconds(90));
    let replaced = s
        .put(
            &t,
            &format!("/api/v1/groups/{id}"),
            json!({ "profile": { "name": "Renamed" } }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(replaced.body["id"], id);
    assert_eq!(replaced.body["created"], START_TIME);
    assert_eq!(replaced.body["lastUpdated"], "2023-11-14T22:15:40.000Z");
    assert_eq!(replaced.body["profile"], json!({ "name": "Renamed" }));
    assert_eq!(replaced.body["type"], "OKTA_GROUP");
    assert_eq!(
        s.get(&t, &format!("/api/v1/groups/{id}")).await.body,
        replaced.body
    );

    // Members and app group assignments.
    let user = s.first(&t, "/api/v1/users").await;
    let members = format!("/api/v1/groups/{id}/users");
    s.put(&t, &format!("{members}/{user}"), json!({}))
        .await
        .expect(StatusCode::NO_CONTENT);
    // Idempotent, as in Okta.
    s.put(&t, &format!("{members}/{user}"), json!({}))
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(s.ids(&t, &members).await, std::slice::from_ref(&user));
    let app = s.ids(&t, "/api/v1/apps").await[1].clone();
    let assignment = s
        .put(
            &t,
            &format!("/api/v1/apps/{app}/groups/{id}"),
            json!({ "priority": 7, "profile": { "role": "viewer" } }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(assignment.body["id"], id);
    assert_eq!(assignment.body["priority"], 7);
    assert!(
        s.ids(&t, &format!("/api/v1/apps/{app}/groups"))
            .await
            .contains(&id)
    );
    s.delete(&t, &format!("{members}/{user}"))
        .await
        .expect(StatusCode::NO_CONTENT);
    assert!(s.ids(&t, &members).await.is_empty());
    s.put(&t, &format!("{members}/{user}"), json!({}))
        .await
        .expect(StatusCode::NO_CONTENT);

    // Delete: gone by id, its listings gone, and gone from the app's assignments.
    s.delete(&t, &format!("/api/v1/groups/{id}"))
        .await
        .expect(StatusCode::NO_CONTENT);
    let gone = s
        .get(&t, &format!("/api/v1/groups/{id}"))
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(gone.error().error_code, "E0000007");
    s.get(&t, &members).await.expect(StatusCode::NOT_FOUND);
    assert!(!s.ids(&t, "/api/v1/groups").await.contains(&id));
    assert!(
        !s.ids(&t, &format!("/api/v1/apps/{app}/groups"))
            .await
            .contains(&id)
    );
    s.sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn users_follow_okta_lifecycle_rules() {
    let s = Harness::default().await;
    let t = s.admin_token().await;
    let profile = |login: &str| json!({ "firstName": "Ada", "lastName": "Lovelace", "login": login, "email": login });

    let staged = s
        .post(
            &t,
            "/api/v1/users?activate=false",
            json!({ "profile": profile("ada@example.com") }),
        )
        .await
        .expect(StatusCode::OK);
    let id = staged.id();
    assert!(id.starts_with("00u"), "{id}");
    assert_eq!(staged.body["status"], "STAGED");
    assert_eq!(staged.body["created"], START_TIME);
    assert!(!staged.body["type"]["id"].as_str().unwrap().is_empty());
    // Every user is in Everyone (the built-in group is listed first).
    let everyone = s.first(&t, "/api/v1/groups").await;
    assert!(
        s.ids(&t, &format!("/api/v1/groups/{everyone}/users?limit=200"))
            .await
            .contains(&id)
    );

    // Duplicate login, whatever its case.
    let duplicate = s
        .post(
            &t,
            "/api/v1/users?activate=false",
            json!({ "profile": profile("ADA@example.com") }),
        )
        .await
        .expect(StatusCode::BAD_REQUEST);
    let error = duplicate.error();
    assert_eq!(error.error_code, "E0000001");
    assert_eq!(error.error_summary, "Api validation failed: login");
    assert!(
        error.error_causes[0]
            .error_summary
            .contains("already exists")
    );

    let user = format!("/api/v1/users/{id}");
    // Not active yet: cannot be suspended.
    let refused = s
        .post(&t, &format!("{user}/lifecycle/suspend"), json!({}))
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert_eq!(refused.error().error_code, "E0000001");
    // Activated without a password: provisioned, with an activation token.
    let activated = s
        .post(
            &t,
            &format!("{user}/lifecycle/activate?sendEmail=false"),
            json!({}),
        )
        .await
        .expect(StatusCode::OK);
    assert!(activated.body["activationToken"].is_string());
    assert_eq!(s.get(&t, &user).await.body["status"], "PROVISIONED");
    s.post(&t, &format!("{user}/lifecycle/activate"), json!({}))
        .await
        .expect(StatusCode::FORBIDDEN);
    s.post(&t, &format!("{user}/lifecycle/reactivate"), json!({}))
        .await
        .expect(StatusCode::OK);

    // With a password the user is active at once; suspend and unsuspend.
    let active = s
        .post(
            &t,
            "/api/v1/users",
            json!({ "profile": profile("grace@example.com"),
                "credentials": { "password": { "value": "sim-secret-never-stored" } } }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(active.body["status"], "ACTIVE");
    assert!(!active.body.to_string().contains("sim-secret-never-stored"));
    let grace = format!("/api/v1/users/{}", active.id());
    s.post(&t, &format!("{grace}/lifecycle/suspend"), json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(s.get(&t, &grace).await.body["status"], "SUSPENDED");
    s.post(&t, &format!("{grace}/lifecycle/unsuspend"), json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(s.get(&t, &grace).await.body["status"], "ACTIVE");

    // Partial update merges; replace swaps the profile; a login taken by another fails.
    let merged = s
        .post(&t, &user, json!({ "profile": { "department": "Engines" } }))
        .await
        .expect(StatusCode::OK);
    assert_eq!(merged.body["profile"]["department"], "Engines");
    assert_eq!(merged.body["profile"]["firstName"], "Ada");
    let replaced = s
        .put(
            &t,
            &user,
            json!({ "profile": profile("ada.l@example.com") }),
        )
        .await
        .expect(StatusCode::OK);
    assert!(replaced.body["profile"].get("department").is_none());
    assert_eq!(replaced.body["status"], "PROVISIONED");
    s.put(
        &t,
        &user,
        json!({ "profile": profile("grace@example.com") }),
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
    // The old login is free again.
    s.post(
        &t,
        "/api/v1/users?activate=false",
        json!({ "profile": profile("Ada@Example.com") }),
    )
    .await
    .expect(StatusCode::OK);
    let missing = s
        .put(
            &t,
            &user,
            json!({ "profile": { "login": "x@example.com" } }),
        )
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert_eq!(
        missing.error().error_summary,
        "Api validation failed: email"
    );

    // An app assignment, then delete: the first delete deactivates, the second removes
    // the user with its memberships and assignments.
    let app = s.ids(&t, "/api/v1/apps").await[1].clone();
    let assignment = s
        .post(
            &t,
            &format!("/api/v1/apps/{app}/users"),
            json!({ "id": id, "scope": "USER", "profile": { "role": "admin" },
                "credentials": { "userName": "ada", "password": { "value": "sim-secret-x" } } }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(assignment.body["scope"], "USER");
    assert!(assignment.body["credentials"].get("password").is_none());
    let updated = s
        .post(
            &t,
            &format!("/api/v1/apps/{app}/users/{id}"),
            json!({ "profile": { "role": "viewer" } }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(updated.body["profile"]["role"], "viewer");
    assert_eq!(updated.body["credentials"]["userName"], "ada");

    s.delete(&t, &user).await.expect(StatusCode::NO_CONTENT);
    assert_eq!(s.get(&t, &user).await.body["status"], "DEPROVISIONED");
    s.delete(&t, &user).await.expect(StatusCode::NO_CONTENT);
    s.get(&t, &user).await.expect(StatusCode::NOT_FOUND);
    assert!(
        !s.ids(&t, &format!("/api/v1/groups/{everyone}/users?limit=200"))
            .await
            .contains(&id)
    );
    assert!(
        !s.ids(&t, &format!("/api/v1/apps/{app}/users"))
            .await
            .contains(&id)
    );
    s.get(&t, &format!("/api/v1/apps/{app}/users/{id}"))
        .await
        .expect(StatusCode::NOT_FOUND);
    s.sim.shutdown().await.unwrap();
}

/// One generic kind: where it lives, a valid body, and how Okta answers.
struct Case {
    kind: &'static str,
    list: String,
    body: Value,
    prefix: &'static str,
    created: StatusCode,
    status: Option<&'static str>,
    /// The lifecycle answer, for kinds with one.
    lifecycle: Option<StatusCode>,
    /// Whether Okta refuses to delete it while active.
    guarded: bool,
    deleted: StatusCode,
}

fn case(kind: &'static str, list: &str, body: Value, prefix: &'static str) -> Case {
    Case {
        kind,
        list: list.to_owned(),
        body,
        prefix,
        created: StatusCode::OK,
        status: Some("ACTIVE"),
        lifecycle: Some(StatusCode::OK),
        guarded: false,
        deleted: StatusCode::NO_CONTENT,
    }
}

#[tokio::test]
async fn every_generic_kind_round_trips() {
    let s = Harness::default().await;
    let t = s.admin_token().await;
    let created = StatusCode::CREATED;
    let no_content = StatusCode::NO_CONTENT;
    let channel = json!({ "type": "HTTP", "version": "1.0.0",
        "config": { "uri": "https://hooks.example.com/x", "method": "POST" } });

    // Parents first: a policy and an authorization server with a policy, for the nested kinds.
    let policy = s
        .post(
            &t,
            "/api/v1/policies",
            json!({ "name": "Parent", "type": "PASSWORD" }),
        )
        .await
        .expect(StatusCode::OK)
        .id();
    let server = s
        .post(
            &t,
            "/api/v1/authorizationServers",
            json!({ "name": "Parent", "audiences": ["api://parent"] }),
        )
        .await
        .expect(created)
        .id();
    let server_policy = s
        .post(
            &t,
            &format!("/api/v1/authorizationServers/{server}/policies"),
            json!({ "name": "Parent", "type": "OAUTH_AUTHORIZATION_POLICY" }),
        )
        .await
        .expect(created)
        .id();

    let cases = vec![
        Case {
            status: Some("INACTIVE"),
            lifecycle: Some(no_content),
            guarded: true,
            deleted: StatusCode::ACCEPTED,
            ..case(
                "group_rule",
                "/api/v1/groups/rules",
                json!({ "name": "Rule", "type": "group_rule",
                "conditions": { "expression": { "value": "true", "type": "urn:okta:expression:1.0" } } }),
                "0pr",
            )
        },
        Case {
            guarded: true,
            ..case(
                "app",
                "/api/v1/apps",
                json!({ "name": "bookmark", "label": "Wiki",
                "signOnMode": "BOOKMARK", "settings": { "app": { "url": "https://wiki.example.com" } } }),
                "0oa",
            )
        },
        Case {
            guarded: true,
            ..case(
                "network_zone",
                "/api/v1/zones",
                json!({ "name": "Office", "type": "IP",
                "gateways": [{ "type": "CIDR", "value": "10.0.0.0/8" }] }),
                "nzo",
            )
        },
        case(
            "trusted_origin",
            "/api/v1/trustedOrigins",
            json!({ "name": "Portal", "origin": "https://portal.example.com",
                "scopes": [{ "type": "CORS" }] }),
            "tos",
        ),
        Case {
            guarded: true,
            ..case(
                "event_hook",
                "/api/v1/eventHooks",
                json!({ "name": "Events",
                "events": { "type": "EVENT_TYPE", "items": ["user.lifecycle.create"] }, "channel": channel }),
                "who",
            )
        },
        Case {
            guarded: true,
            ..case(
                "inline_hook",
                "/api/v1/inlineHooks",
                json!({ "name": "Tokens",
                "type": "com.okta.oauth2.tokens.transform", "version": "1.0.0", "channel": channel }),
                "cal",
            )
        },
        Case {
            lifecycle: Some(no_content),
            ..case(
                "policy.OKTA_SIGN_ON",
                "/api/v1/policies",
                json!({ "name": "Sign on",
                "type": "OKTA_SIGN_ON", "priority": 1 }),
                "00p",
            )
        },
        Case {
            lifecycle: Some(no_content),
            ..case(
                "policy_rule.PASSWORD",
                &format!("/api/v1/policies/{policy}/rules"),
                json!({ "name": "Rule", "type": "PASSWORD" }),
                "0pr",
            )
        },
        Case {
            created,
            lifecycle: Some(no_content),
            ..case(
                "authorization_server",
                "/api/v1/authorizationServers",
                json!({ "name": "API", "audiences": ["api://default"] }),
                "aus",
            )
        },
        Case {
            created,
            status: None,
            lifecycle: None,
            ..case(
                "auth_server_scope",
                &format!("/api/v1/authorizationServers/{server}/scopes"),
                json!({ "name": "read:things" }),
                "scp",
            )
        },
        Case {
            created,
            lifecycle: None,
            ..case(
                "auth_server_claim",
                &format!("/api/v1/authorizationServers/{server}/claims"),
                json!({ "name": "dept", "claimType": "RESOURCE", "valueType": "EXPRESSION",
                    "value": "user.department" }),
                "ocl",
            )
        },
        Case {
            created,
            lifecycle: Some(no_content),
            ..case(
                "auth_server_policy",
                &format!("/api/v1/authorizationServers/{server}/policies"),
                json!({ "name": "Default", "type": "OAUTH_AUTHORIZATION_POLICY" }),
                "00p",
            )
        },
        Case {
            created,
            lifecycle: Some(no_content),
            ..case(
                "auth_server_policy_rule",
                &format!("/api/v1/authorizationServers/{server}/policies/{server_policy}/rules"),
                json!({ "name": "Default", "type": "RESOURCE_ACCESS" }),
                "0pr",
            )
        },
        Case {
            status: None,
            lifecycle: None,
            ..case(
                "user_type",
                "/api/v1/meta/types/user",
                json!({ "name": "vendor",
                "displayName": "Vendor", "description": "Vendors" }),
                "oty",
            )
        },
    ];

    for c in cases {
        let kind = c.kind;
        let answer = s.post(&t, &c.list, c.body.clone()).await;
        assert_eq!(answer.status, c.created, "{kind}: {}", answer.body);
        let id = answer.id();
        assert!(id.starts_with(c.prefix) && id.len() == 20, "{kind}: {id}");
        assert_eq!(
            answer.body.get("status").and_then(Value::as_str),
            c.status,
            "{kind}"
        );
        assert_eq!(answer.body["created"], START_TIME, "{kind}");
        let object = format!("{}/{id}", c.list);
        assert_eq!(s.get(&t, &object).await.body, answer.body, "{kind}");

        // Replace with a new name.
        let mut renamed = c.body.clone();
        renamed["name"] = json!("Renamed");
        let replaced = s.put(&t, &object, renamed).await;
        assert_eq!(replaced.status, StatusCode::OK, "{kind}: {}", replaced.body);
        assert_eq!(replaced.body["name"], "Renamed", "{kind}");
        assert_eq!(replaced.body["id"], id, "{kind}");
        assert_eq!(s.get(&t, &object).await.body["name"], "Renamed", "{kind}");
        if kind.starts_with("policy.") {
            // The type stays: it decides which listing the policy is in.
            let mut retyped = c.body.clone();
            retyped["type"] = json!("PASSWORD");
            let answer = s.put(&t, &object, retyped).await.expect(StatusCode::OK);
            assert_eq!(answer.body["type"], c.body["type"]);
            assert!(s.ids(&t, &listing(&c.list, kind)).await.contains(&id));
        }

        if let Some(code) = c.lifecycle {
            if c.guarded {
                // Active objects are not deleted.
                s.post(&t, &format!("{object}/lifecycle/activate"), json!({}))
                    .await
                    .expect(code);
                let refused = s.delete(&t, &object).await;
                assert_eq!(refused.status, StatusCode::FORBIDDEN, "{kind}");
                assert!(!refused.error().error_causes.is_empty(), "{kind}");
            }
            let answer = s
                .post(&t, &format!("{object}/lifecycle/deactivate"), json!({}))
                .await;
            assert_eq!(answer.status, code, "{kind}: {}", answer.body);
            assert_eq!(
                s.get(&t, &object).await.body["status"],
                "INACTIVE",
                "{kind}"
            );
        } else {
            s.post(&t, &format!("{object}/lifecycle/activate"), json!({}))
                .await
                .expect(StatusCode::NOT_FOUND);
        }

        let answer = s.delete(&t, &object).await;
        assert_eq!(answer.status, c.deleted, "{kind}: {}", answer.body);
        let gone = s.get(&t, &object).await;
        assert_eq!(gone.status, StatusCode::NOT_FOUND, "{kind}");
        assert_eq!(gone.error().error_code, "E0000007", "{kind}");
        assert!(
            !s.ids(&t, &listing(&c.list, kind)).await.contains(&id),
            "{kind}"
        );
    }

    // A new parent's child listings exist, and go with it.
    let scopes = format!("/api/v1/authorizationServers/{server}/scopes");
    s.get(&t, &format!("/api/v1/policies/{policy}/rules"))
        .await
        .expect(StatusCode::OK);
    s.get(&t, &scopes).await.expect(StatusCode::OK);
    s.post(
        &t,
        &format!("/api/v1/authorizationServers/{server}/lifecycle/deactivate"),
        json!({}),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    s.delete(&t, &format!("/api/v1/authorizationServers/{server}"))
        .await
        .expect(StatusCode::NO_CONTENT);
    s.get(&t, &scopes).await.expect(StatusCode::NOT_FOUND);
    s.get(
        &t,
        &format!("/api/v1/authorizationServers/{server}/policies/{server_policy}/rules"),
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    s.sim.shutdown().await.unwrap();
}

/// The list URL for `kind` at `list` (policies need their type).
fn listing(list: &str, kind: &str) -> String {
    match kind.strip_prefix("policy.") {
        Some(t) => format!("{list}?type={t}"),
        None => list.to_owned(),
    }
}

#[tokio::test]
async fn validation_errors_name_the_missing_field() {
    let s = Harness::default().await;
    let t = s.admin_token().await;
    let counts = s.sim.simulator().org().counts();
    let server = s.first(&t, "/api/v1/authorizationServers").await;
    let policy = s.first(&t, "/api/v1/policies?type=PASSWORD").await;
    let channel = json!({ "type": "HTTP", "config": { "uri": "https://x.example.com" } });
    for (path, body, field) in [
        (
            "/api/v1/users".to_owned(),
            json!({ "profile": { "login": "a@example.com", "email": "a@example.com", "firstName": "A" } }),
            "lastName",
        ),
        (
            "/api/v1/groups".to_owned(),
            json!({ "profile": {} }),
            "name",
        ),
        (
            "/api/v1/groups/rules".to_owned(),
            json!({ "type": "group_rule" }),
            "name",
        ),
        (
            "/api/v1/apps".to_owned(),
            json!({ "label": "X", "name": "bookmark" }),
            "signOnMode",
        ),
        ("/api/v1/zones".to_owned(), json!({ "name": "Z" }), "type"),
        (
            "/api/v1/policies".to_owned(),
            json!({ "name": "P" }),
            "type",
        ),
        (
            "/api/v1/policies".to_owned(),
            json!({ "type": "PASSWORD" }),
            "name",
        ),
        (
            format!("/api/v1/policies/{policy}/rules"),
            json!({}),
            "name",
        ),
        (
            "/api/v1/authorizationServers".to_owned(),
            json!({ "name": "A", "audiences": [] }),
            "audiences",
        ),
        (
            format!("/api/v1/authorizationServers/{server}/scopes"),
            json!({ "description": "no name" }),
            "name",
        ),
        (
            format!("/api/v1/authorizationServers/{server}/claims"),
            json!({ "name": "c", "claimType": "RESOURCE", "valueType": "EXPRESSION" }),
            "value",
        ),
        (
            "/api/v1/eventHooks".to_owned(),
            json!({ "name": "E", "channel": channel }),
            "events",
        ),
        (
            "/api/v1/inlineHooks".to_owned(),
            json!({ "name": "I", "type": "x" }),
            "channel",
        ),
    ] {
        let answer = s.post(&t, &path, body).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            answer.body
        );
        let error = answer.error();
        assert_eq!(error.error_code, "E0000001", "{path}");
        assert_eq!(
            error.error_summary,
            format!("Api validation failed: {field}"),
            "{path}"
        );
        assert!(
            error.error_causes[0].error_summary.starts_with(field),
            "{path}"
        );
    }
    // A body that is not JSON.
    let response = s
        .http
        .post(format!("{}/api/v1/groups", s.sim.org_url()))
        .bearer_auth(&t)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: OktaErrorBody = response.json().await.unwrap();
    assert_eq!(error.error_code, "E0000003");
    // Nothing was created.
    assert_eq!(s.sim.simulator().org().counts(), counts);
    s.sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn unknown_ids_are_not_found() {
    let s = Harness::default().await;
    let t = s.admin_token().await;
    let user = s.first(&t, "/api/v1/users").await;
    let group = s.ids(&t, "/api/v1/groups").await[1].clone();
    let app = s.ids(&t, "/api/v1/apps").await[1].clone();
    let nope = "00gw000000000000nope";
    for (method, path) in [
        (Method::PUT, format!("/api/v1/groups/{nope}")),
        (Method::DELETE, format!("/api/v1/groups/{nope}")),
        (Method::PUT, format!("/api/v1/groups/{nope}/users/{user}")),
        (Method::PUT, format!("/api/v1/groups/{group}/users/{nope}")),
        (
            Method::DELETE,
            format!("/api/v1/groups/{group}/users/{nope}"),
        ),
        (Method::PUT, format!("/api/v1/apps/{app}/groups/{nope}")),
        (Method::PUT, format!("/api/v1/apps/{nope}/groups/{group}")),
        (Method::DELETE, format!("/api/v1/apps/{app}/users/{nope}")),
        (Method::POST, format!("/api/v1/apps/{app}/users/{nope}")),
        (
            Method::POST,
            format!("/api/v1/users/{nope}/lifecycle/activate"),
        ),
        (
            Method::POST,
            format!("/api/v1/zones/{nope}/lifecycle/activate"),
        ),
        (Method::DELETE, format!("/api/v1/users/{nope}")),
        (Method::PUT, format!("/api/v1/policies/{nope}")),
        (Method::POST, format!("/api/v1/policies/{nope}/rules")),
    ] {
        let answer = s
            .call(&t, method.clone(), &path, Some(json!({ "name": "n" })))
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(answer.error().error_code, "E0000007", "{method} {path}");
    }
    let answer = s
        .post(
            &t,
            &format!("/api/v1/apps/{app}/users"),
            json!({ "id": nope }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    // Kinds outside the contract are not written.
    let answer = s
        .post(&t, "/api/v1/brands", json!({ "name": "B" }))
        .await
        .expect(StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.error().error_code, "E0000022");
    s.sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn writes_need_the_kinds_manage_scope() {
    let s = Harness::default().await;
    let granted = s.sim.simulator().client_credentials().scopes;
    for kind in kinds::all() {
        if let Some(scope) = kind.manage_scope {
            assert!(granted.iter().any(|g| g == scope), "{scope}");
        }
    }
    let read = s.token(&["okta.groups.read", "okta.users.read"]).await;
    let user = s.first(&read, "/api/v1/users").await;
    let group = s.ids(&read, "/api/v1/groups").await[1].clone();
    for (method, path, scope) in [
        (
            Method::POST,
            "/api/v1/groups".to_owned(),
            "okta.groups.manage",
        ),
        (
            Method::PUT,
            format!("/api/v1/groups/{group}/users/{user}"),
            "okta.groups.manage",
        ),
        (
            Method::POST,
            format!("/api/v1/users/{user}/lifecycle/suspend"),
            "okta.users.manage",
        ),
        (
            Method::DELETE,
            "/api/v1/zones/nzo1".to_owned(),
            "okta.networkZones.manage",
        ),
        (
            Method::POST,
            "/api/v1/policies".to_owned(),
            "okta.policies.manage",
        ),
    ] {
        let answer = s
            .call(
                &read,
                method.clone(),
                &path,
                Some(json!({ "profile": { "name": "x" } })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(answer.error().error_code, "E0000006");
        let challenge = answer.headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains("error=\"insufficient_scope\""),
            "{challenge}"
        );
        assert!(
            challenge.contains(&format!("scope=\"{scope}\"")),
            "{challenge}"
        );
    }
    // With the scope, the same write goes through.
    let manage = s.token(&["okta.groups.manage"]).await;
    s.put(
        &manage,
        &format!("/api/v1/groups/{group}/users/{user}"),
        json!({}),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    // Nothing was written without it.
    assert_eq!(
        s.sim.simulator().request_log().by_status.get(&204),
        Some(&1)
    );
    s.sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn writes_spend_rate_limit_buckets_and_are_logged() {
    let s = Harness::start(config(BTreeMap::from([
        (RateLimitBucket::UserWrite, 3),
        (RateLimitBucket::GroupsList, 50),
    ])))
    .await;
    let t = s.admin_token().await;
    let user = s.first(&t, "/api/v1/users").await;

    // A group create spends the groups list bucket, which reads share.
    let before = s.get(&t, "/api/v1/groups").await;
    let remaining = |a: &Answer| -> u32 {
        a.headers["x-rate-limit-remaining"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let created = s
        .post(&t, "/api/v1/groups", json!({ "profile": { "name": "G" } }))
        .await
        .expect(StatusCode::OK);
    assert_eq!(remaining(&created), remaining(&before) - 1);
    assert_eq!(created.headers["x-rate-limit-limit"], "50");

    // User updates have their own bucket: three pass, the fourth is a 429, and reads of
    // the user by id are unaffected.
    for i in 0..3 {
        s.post(
            &t,
            &format!("/api/v1/users/{user}"),
            json!({ "profile": { "nickName": format!("n{i}") } }),
        )
        .await
        .expect(StatusCode::OK);
    }
    let limited = s
        .post(
            &t,
            &format!("/api/v1/users/{user}"),
            json!({ "profile": { "nickName": "late" } }),
        )
        .await
        .expect(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.error().error_code, "E0000047");
    assert_eq!(limited.headers["x-rate-limit-limit"], "3");
    let read = s
        .get(&t, &format!("/api/v1/users/{user}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(read.body["profile"]["nickName"], "n2");
    // The next window lets writes through again.
    s.timer.advance(chrono::TimeDelta::seconds(60));
    s.post(
        &t,
        &format!("/api/v1/users/{user}"),
        json!({ "profile": { "nickName": "next" } }),
    )
    .await
    .expect(StatusCode::OK);

    let group = created.id();
    s.put(
        &t,
        &format!("/api/v1/groups/{group}/users/{user}"),
        json!({}),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    s.delete(&t, &format!("/api/v1/groups/{group}"))
        .await
        .expect(StatusCode::NO_CONTENT);

    let log = s.sim.simulator().request_log();
    assert_eq!(log.writes, 8);
    let writes = log.writes_by_route();
    assert_eq!(writes["POST /api/v1/groups"], 1);
    assert_eq!(writes["POST /api/v1/users/{id}"], 5);
    assert_eq!(writes["PUT /api/v1/groups/{groupId}/users/{id}"], 1);
    assert_eq!(writes["DELETE /api/v1/groups/{id}"], 1);
    assert_eq!(writes.values().sum::<u64>(), log.writes);
    assert_eq!(log.writes_to("/api/v1/users/{id}"), 5);
    assert!(
        !writes
            .keys()
            .any(|k| k.contains("token") || k.starts_with("GET"))
    );
    s.sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_backup_writes_nothing_and_sees_earlier_writes() {
    let s = Harness::default().await;
    let t = s.admin_token().await;

    // A backup alone writes nothing.
    let (before, status) = s.back_up().await;
    assert_eq!(status, SnapshotStatus::Complete);
    assert_eq!(s.sim.simulator().request_log().writes, 0);

    let group = s
        .post(
            &t,
            "/api/v1/groups",
            json!({ "profile": { "name": "New team" } }),
        )
        .await
        .expect(StatusCode::OK)
        .id();
    let user = s
        .post(
            &t,
            "/api/v1/users?activate=false",
            json!({ "profile": { "firstName": "N", "lastName": "U", "login": "nu@example.com",
                "email": "nu@example.com" } }),
        )
        .await
        .expect(StatusCode::OK)
        .id();
    s.put(
        &t,
        &format!("/api/v1/groups/{group}/users/{user}"),
        json!({}),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    let app = s
        .post(
            &t,
            "/api/v1/apps",
            json!({ "name": "oidc_client", "label": "New app", "signOnMode": "OPENID_CONNECT",
                "settings": { "oauthClient": { "application_type": "web" } } }),
        )
        .await
        .expect(StatusCode::OK)
        .id();
    s.put(&t, &format!("/api/v1/apps/{app}/groups/{group}"), json!({}))
        .await
        .expect(StatusCode::OK);
    s.post(
        &t,
        &format!("/api/v1/apps/{app}/users"),
        json!({ "id": user, "scope": "USER" }),
    )
    .await
    .expect(StatusCode::OK);
    let zone = s
        .post(
            &t,
            "/api/v1/zones",
            json!({ "name": "New zone", "type": "IP" }),
        )
        .await
        .expect(StatusCode::OK)
        .id();
    // A generated group renamed, and one deleted.
    let groups = s.ids(&t, "/api/v1/groups").await;
    let (renamed, deleted) = (groups[1].clone(), groups[2].clone());
    s.put(
        &t,
        &format!("/api/v1/groups/{renamed}"),
        json!({ "profile": { "name": "Renamed" } }),
    )
    .await
    .expect(StatusCode::OK);
    s.delete(&t, &format!("/api/v1/groups/{deleted}"))
        .await
        .expect(StatusCode::NO_CONTENT);
    let writes = s.sim.simulator().request_log().writes;
    assert_eq!(writes, 9);

    let (after, status) = s.back_up().await;
    assert_eq!(status, SnapshotStatus::Complete);
    // The backup wrote nothing either.
    assert_eq!(s.sim.simulator().request_log().writes, writes);

    assert_eq!(
        find(&after, "group", &group).unwrap().attributes["profile"]["name"],
        "New team"
    );
    assert_eq!(
        find(&after, "user", &user).unwrap().attributes["status"],
        "STAGED"
    );
    assert!(find(&after, "group_membership", &format!("{group}/{user}")).is_some());
    assert!(find(&after, "app", &app).is_some());
    assert!(find(&after, "app_group_assignment", &format!("{app}/{group}")).is_some());
    assert!(find(&after, "app_user_assignment", &format!("{app}/{user}")).is_some());
    assert!(find(&after, "network_zone", &zone).is_some());
    assert_eq!(
        find(&after, "group", &renamed).unwrap().attributes["profile"]["name"],
        "Renamed"
    );
    assert!(find(&after, "group", &deleted).is_none());
    assert!(find(&before, "group", &deleted).is_some());
    assert!(
        !after
            .iter()
            .any(|r| r.kind.as_str().starts_with("group_") && r.id.starts_with(&deleted)),
        "children of the deleted group remain"
    );
    // What the org counts is what the backup holds.
    let counts = s.sim.simulator().org().counts();
    for (kind, n) in counts {
        let held = after.iter().filter(|r| r.kind.as_str() == kind).count();
        assert_eq!(held, n, "{kind}");
    }
    s.sim.shutdown().await.unwrap();
}
