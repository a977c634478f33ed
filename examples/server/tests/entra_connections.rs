//! Entra ID connections and backup jobs through the JSON API, with the job worker running
//! in-process against the Graph simulator on a loopback port.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use axum::Router;
use axum::http::{Method, StatusCode};
use butterfly_providers::entra::simulator::{
    EntraSimConfig, EntraSimulator, SECRET_CANARY, TenantConfig,
};
use butterfly_server::app::{bootstrap, build_router, open_state};
use butterfly_server::backups::{Worker, spawn_worker};
use butterfly_server::config::Config;
use serde_json::{Value, json};

mod support;

struct Setup {
    sim: EntraSimulator,
    _worker: Worker,
    router: Router,
    key: String,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn start(allow_private: bool) -> Setup {
        let sim = EntraSimulator::start(EntraSimConfig {
            tenant: TenantConfig {
                seed: 5,
                users: 30,
                groups: 4,
                apps: 3,
                secret_canary: true,
            },
            // The server runs on real time: far more than these tests spend.
            resource_units_per_10s: Some(1_000_000),
            ..EntraSimConfig::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_data_dir(dir.path());
        config.allow_private_org_urls = allow_private;
        let state = open_state(&config).await.unwrap();
        let (_, key) = bootstrap(&state).await.unwrap().unwrap();
        Setup {
            sim,
            _worker: spawn_worker(state.clone()),
            router: build_router(state),
            key: key.secret().to_owned(),
            dir,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        support::call(&self.router, method, path, Some(&self.key), body).await
    }

    fn secret_body(&self, name: &str) -> Value {
        json!({
            "name": name,
            "provider": "entra_id",
            "tenant_id": self.sim.tenant_id(),
            "client_id": self.sim.client_id(),
            "client_secret": self.sim.client_secret(),
            "graph_url": self.sim.graph_url(),
            "authority_url": self.sim.authority_url(),
            "rate_limit_share": 1.0,
        })
    }

    async fn backup(&self, connection_id: &str) -> Value {
        let (status, job) = self
            .call(
                Method::POST,
                "/api/v1/backups",
                Some(json!({"connection_id": connection_id})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{job}");
        let id = job["id"].as_str().unwrap().to_owned();
        for _ in 0..1200 {
            let (_, job) = self
                .call(Method::GET, &format!("/api/v1/backups/{id}"), None)
                .await;
            if job["status"] == "succeeded" || job["status"] == "failed" {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("backup {id} did not finish");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_connections_back_up_with_a_secret_or_a_certificate() {
    let s = Setup::start(true).await;
    let (status, secret) = s
        .call(
            Method::POST,
            "/api/v1/connections",
            Some(s.secret_body("entra-secret")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{secret}");
    assert_eq!(secret["provider"], "entra_id");
    assert_eq!(secret["org_url"], s.sim.tenant_id());
    assert_eq!(secret["private_key_set"], true);
    // The secret is sealed, never shown.
    assert!(!secret.to_string().contains(s.sim.client_secret()));

    let job = s.backup(secret["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let outcome = &job["outcome"];
    assert_eq!(outcome["snapshot"]["status"], "complete", "{outcome}");
    assert_eq!(outcome["snapshot"]["provider"], "entra_id");
    let users = s.sim.tenant().objects_of("user").count() as u64;
    assert_eq!(outcome["snapshot"]["counts"]["user"], users, "{outcome}");
    assert!(!outcome.to_string().contains(SECRET_CANARY));

    // A certificate and its key, in place of the secret.
    let mut body = s.secret_body("entra-cert");
    body.as_object_mut().unwrap().remove("client_secret");
    body["certificate"] = json!(s.sim.certificate_pem());
    body["private_key"] = json!(s.sim.private_key_pem());
    let (status, cert) = s
        .call(Method::POST, "/api/v1/connections", Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cert}");
    assert!(!cert.to_string().contains("PRIVATE KEY"));
    s.sim.mutate(10.0);
    let job = s.backup(cert["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    // On top of the first connection's snapshot of the same tenant, through delta links.
    let warnings = job["outcome"]["snapshot"]["warnings"].to_string();
    assert!(
        warnings.contains("incremental backup on top of snapshot"),
        "{warnings}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_entra_connections_are_refused() {
    let s = Setup::start(false).await;
    // A loopback Graph URL, with the server not allowing private addresses.
    let (status, body) = s
        .call(
            Method::POST,
            "/api/v1/connections",
            Some(s.secret_body("loopback")),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("graph_url"), "{body}");
    // No credential at all.
    let mut none = s.secret_body("none");
    none.as_object_mut().unwrap().remove("client_secret");
    none.as_object_mut().unwrap().remove("graph_url");
    none.as_object_mut().unwrap().remove("authority_url");
    let (status, body) = s
        .call(Method::POST, "/api/v1/connections", Some(none))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("client_secret"), "{body}");
    // A tenant id that is not one.
    let mut bad = s.secret_body("bad");
    bad["tenant_id"] = json!("../evil");
    bad.as_object_mut().unwrap().remove("graph_url");
    bad.as_object_mut().unwrap().remove("authority_url");
    let (status, body) = s.call(Method::POST, "/api/v1/connections", Some(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("tenant_id"), "{body}");
    // A rate-limit share outside (0, 1].
    for share in [json!(0), json!(1.5)] {
        let mut greedy = s.secret_body("greedy");
        greedy["rate_limit_share"] = share;
        greedy.as_object_mut().unwrap().remove("graph_url");
        greedy.as_object_mut().unwrap().remove("authority_url");
        let (status, body) = s
            .call(Method::POST, "/api/v1/connections", Some(greedy))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.to_string().contains("rate_limit_share"), "{body}");
    }
    // An Okta field on an Entra connection is a mistake, not something to drop.
    let mut foreign = s.secret_body("foreign");
    foreign["org_url"] = json!("https://example.okta.com");
    foreign.as_object_mut().unwrap().remove("graph_url");
    foreign.as_object_mut().unwrap().remove("authority_url");
    let (status, body) = s
        .call(Method::POST, "/api/v1/connections", Some(foreign))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("org_url"), "{body}");
}

impl Setup {
    async fn create(&self, body: Value) -> String {
        let (status, created) = self
            .call(Method::POST, "/api/v1/connections", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created["id"].as_str().unwrap().to_owned()
    }

    async fn test_connection(&self, id: &str) -> Value {
        let (status, tested) = self
            .call(
                Method::POST,
                &format!("/api/v1/connections/{id}/test"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{tested}");
        tested
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_connection_tests_report_permissions_and_reach_graph() {
    let s = Setup::start(true).await;
    let secret = s.create(s.secret_body("secret")).await;
    let tested = s.test_connection(&secret).await;
    assert_eq!(tested["ok"], true, "{tested}");
    assert_eq!(tested["users_readable"], true, "{tested}");
    assert_eq!(tested["missing_permissions"], json!([]), "{tested}");
    assert_eq!(tested["kinds_without_permission"], json!([]), "{tested}");
    let granted: Vec<&str> = tested["granted_permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(granted.contains(&"User.Read.All"), "{tested}");
    // Kept on the connection.
    let (_, shown) = s
        .call(Method::GET, &format!("/api/v1/connections/{secret}"), None)
        .await;
    assert_eq!(shown["last_test"]["ok"], true, "{shown}");
    assert!(!tested.to_string().contains(s.sim.client_secret()));

    // A certificate signs in too.
    let mut body = s.secret_body("cert");
    body.as_object_mut().unwrap().remove("client_secret");
    body["certificate"] = json!(s.sim.certificate_pem());
    body["private_key"] = json!(s.sim.private_key_pem());
    let cert = s.create(body).await;
    let tested = s.test_connection(&cert).await;
    assert_eq!(tested["ok"], true, "{tested}");

    // Without the identity-provider and user permissions: the kinds a backup would skip
    // are named, and Graph still answers (403 on users is not a failed test).
    let narrowed: Vec<String> = s
        .sim
        .permissions()
        .into_iter()
        .filter(|p| {
            !p.starts_with("IdentityProvider.")
                && !p.starts_with("User.")
                && !p.starts_with("Directory.")
        })
        .collect();
    s.sim.set_permissions(narrowed);
    let tested = s.test_connection(&secret).await;
    assert_eq!(tested["ok"], true, "{tested}");
    assert_eq!(tested["users_readable"], false, "{tested}");
    let missing = tested["missing_permissions"].as_array().unwrap();
    assert!(
        missing.contains(&json!("IdentityProvider.Read.All")),
        "{tested}"
    );
    assert!(missing.contains(&json!("User.Read.All")), "{tested}");
    let skipped = tested["kinds_without_permission"].as_array().unwrap();
    assert!(skipped.contains(&json!("identity_provider")), "{tested}");
    assert!(skipped.contains(&json!("user")), "{tested}");
    assert!(!skipped.contains(&json!("group")), "{tested}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_entra_connection_tests_say_precisely_why() {
    let s = Setup::start(true).await;
    // A wrong secret: the OAuth error and Entra's AADSTS code, never Entra's prose.
    let mut wrong = s.secret_body("wrong-secret");
    wrong["client_secret"] = json!("not-the-secret");
    let wrong = s.create(wrong).await;
    let tested = s.test_connection(&wrong).await;
    assert_eq!(tested["ok"], false, "{tested}");
    let error = tested["error"].as_str().unwrap();
    assert!(
        error.contains("invalid_client") && error.contains("AADSTS7000215"),
        "{error}"
    );
    assert!(error.contains("client secret is wrong"), "{error}");
    assert!(!error.contains("Trace ID"), "{error}");

    // An authority nobody listens on: the host and the cause are named.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut unreachable = s.secret_body("unreachable");
    unreachable["authority_url"] = json!(format!("http://{closed}"));
    let unreachable = s.create(unreachable).await;
    let tested = s.test_connection(&unreachable).await;
    assert_eq!(tested["ok"], false, "{tested}");
    let error = tested["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("token endpoint http://{closed}/")),
        "{error}"
    );
    assert!(
        error.to_lowercase().contains("connection refused"),
        "{error}"
    );

    // A Graph URL the authority issues no tokens for.
    let mut other_graph = s.secret_body("other-graph");
    other_graph["graph_url"] = json!(format!("http://{closed}"));
    let other_graph = s.create(other_graph).await;
    let tested = s.test_connection(&other_graph).await;
    assert_eq!(tested["ok"], false, "{tested}");
    let error = tested["error"].as_str().unwrap();
    assert!(
        error.contains("invalid_scope") && error.contains("AADSTS1002012"),
        "{error}"
    );

    // The same connection on a server that refuses private addresses: refused before
    // any request, and the test says which range.
    let secret = s.create(s.secret_body("loopback")).await;
    let strict = open_state(&Config::for_data_dir(s.dir.path()))
        .await
        .unwrap();
    assert!(!strict.allow_private_org_urls);
    let strict = build_router(strict);
    let before = s.sim.request_count();
    let (status, tested) = support::call(
        &strict,
        Method::POST,
        &format!("/api/v1/connections/{secret}/test"),
        Some(&s.key),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tested}");
    assert_eq!(tested["ok"], false, "{tested}");
    assert!(
        tested["error"].as_str().unwrap().contains("loopback"),
        "{tested}"
    );
    assert_eq!(s.sim.request_count(), before);
}
