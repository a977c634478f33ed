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
    _dir: tempfile::TempDir,
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
            _dir: dir,
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
