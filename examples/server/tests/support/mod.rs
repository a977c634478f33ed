//! What the in-process JSON API tests share: one request through the router, answered as
//! a status and a JSON value; the Okta simulator with a client key it trusts, a
//! connection to it, a backup job waited for; and the test's own writes to the org.

// Each test binary uses part of this module.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use butterfly_providers::okta::RateLimitBucket;
use butterfly_providers::okta::fetcher::{
    ClientId, FetchOptions, OktaCredentials, OktaFetcher, OrgUrl, PrivateKey,
};
use butterfly_providers::okta::kinds;
use butterfly_providers::okta::restore::read_live;
use butterfly_providers::okta::simulator::{
    OrgConfig, RunningSimulator, Simulator, SimulatorConfig, generate_client_key,
};
use http_body_util::BodyExt;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Send `method path` with an optional bearer `key` and JSON `body`. The answer's body is
/// parsed as JSON; an empty body is `null`, and one that is not JSON comes back as a
/// string, so a test can show what it got.
pub async fn call(
    router: &Router,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(key) = key {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    send(router, req).await
}

/// Send a request built by the test (a raw body, other headers).
pub async fn send(router: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, value)
}

/// A client key pair the simulators trust, made once per test binary (an RSA key takes a
/// moment to generate).
pub struct TestKey {
    /// PKCS#8 PEM, as a connection is given it.
    pub private_pem: String,
    /// SPKI PEM, as the simulator is given it.
    pub public_pem: String,
}

/// The test binary's client key pair.
pub fn client_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let (private_pem, public) = generate_client_key().unwrap();
        TestKey {
            private_pem,
            public_pem: public.to_public_key_pem(LineEnding::LF).unwrap(),
        }
    })
}

/// The Okta simulator's configuration for `org`: it trusts [`client_key`], and its rate
/// limits are far above what a test spends (the server's fetcher runs on real time; rate
/// limiting itself is tested in butterfly-providers, on a virtual clock).
pub fn simulator_config(org: OrgConfig) -> SimulatorConfig {
    SimulatorConfig {
        org,
        rate_limits: RateLimitBucket::ALL.iter().map(|b| (*b, 60_000)).collect(),
        client_public_key_pem: Some(client_key().public_pem.clone()),
        ..SimulatorConfig::default()
    }
}

/// The Okta simulator for `org` (see [`simulator_config`]) on a free loopback port.
pub async fn okta_simulator(org: OrgConfig) -> RunningSimulator {
    Simulator::bind(simulator_config(org), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// The body of `POST /api/v1/connections`: `org_url` as `client_id`, with the test key.
pub fn connection_body(name: &str, org_url: &str, client_id: &str) -> Value {
    json!({
        "name": name,
        "org_url": org_url,
        "client_id": client_id,
        "private_key": client_key().private_pem,
        "rate_limit_share": 1.0,
    })
}

/// Poll backup job `id` until it succeeded or failed (bounded by polls, not by time).
pub async fn wait_for_backup(router: &Router, key: &str, id: &str) -> Value {
    for _ in 0..1200 {
        let (status, job) = call(
            router,
            Method::GET,
            &format!("/api/v1/backups/{id}"),
            Some(key),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{job}");
        if job["status"] == "succeeded" || job["status"] == "failed" {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("backup {id} did not finish");
}

/// Every scope a backup reads with and a restore writes with.
pub fn admin_scopes() -> BTreeSet<String> {
    kinds::backup_scopes()
        .into_iter()
        .chain(kinds::all().filter_map(|k| k.manage_scope))
        .map(str::to_owned)
        .collect()
}

/// A fetcher that signs in to `sim` as its client, with the test key: the test's own way
/// to read and change the org behind the server's back.
pub fn fetcher(sim: &RunningSimulator) -> OktaFetcher {
    let given = sim.simulator().client_credentials();
    OktaFetcher::new(
        OktaCredentials {
            org_url: OrgUrl::parse(&given.org_url).unwrap(),
            client_id: ClientId::new(given.client_id).unwrap(),
            key_id: Some(given.key_id),
            private_key: PrivateKey::from_pem(&client_key().private_pem).unwrap(),
        },
        FetchOptions {
            insecure_allow_private_addresses: true,
            ..FetchOptions::default()
        },
    )
    .unwrap()
}

/// Change one of the org's own (not system) network zones through the Okta API.
pub async fn edit_own_zone(sim: &RunningSimulator, edit: impl FnOnce(&mut Value)) {
    let fetcher = fetcher(sim);
    let live = read_live(&fetcher, &["network_zone".to_owned()].into_iter().collect())
        .await
        .unwrap();
    let (id, mut zone) = live
        .resources
        .kind("network_zone")
        .find(|(_, z)| z["system"] == false)
        .map(|(id, z)| (id.clone(), z.clone()))
        .unwrap();
    edit(&mut zone);
    let session = fetcher.sign_in(admin_scopes()).await.unwrap();
    let answer = session
        .send("PUT", &format!("/api/v1/zones/{id}"), Some(&zone), true)
        .await
        .unwrap();
    assert!(answer.is_success(), "{answer:?}");
}
