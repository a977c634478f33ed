//! The simulator over real HTTP: tokens, scopes, pagination, rate limits, faults,
//! determinism. Each test starts its own server on 127.0.0.1:0.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use butterfly_providers::clock::VirtualTimer;
use butterfly_providers::okta::kinds;
use butterfly_providers::okta::pagination::{next_body_link, next_link};
use butterfly_providers::okta::simulator::{
    FaultKind, FaultRule, JWT_BEARER_ASSERTION, LowerBound, OrgConfig, RequestLogSnapshot,
    RunningSimulator, Simulator, SimulatorConfig, generate_client_key,
};
use butterfly_providers::okta::{OktaErrorBody, RateLimitBucket};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{Value, json};

/// One key pair per test binary: RSA generation is the slow part of a test.
pub(crate) struct TestKey {
    pub(crate) private_pem: String,
    pub(crate) public_pem: String,
}

fn key(slot: &'static OnceLock<TestKey>) -> &'static TestKey {
    slot.get_or_init(|| {
        let (private_pem, public) = generate_client_key().unwrap();
        let public_pem = public.to_public_key_pem(LineEnding::LF).unwrap();
        TestKey {
            private_pem,
            public_pem,
        }
    })
}

pub(crate) fn client_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    key(&KEY)
}

fn other_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    key(&KEY)
}

fn config(users: usize) -> SimulatorConfig {
    SimulatorConfig {
        org: OrgConfig {
            seed: 42,
            users,
            groups: 6,
            apps: 8,
        },
        client_public_key_pem: Some(client_key().public_pem.clone()),
        ..SimulatorConfig::default()
    }
}

async fn start(config: SimulatorConfig) -> RunningSimulator {
    Simulator::bind(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// jsonwebtoken is built without its `use_pem` feature: read the PEM with `rsa`, sign with DER.
fn encoding_key(private_pem: &str) -> EncodingKey {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    use rsa::pkcs8::DecodePrivateKey as _;
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(private_pem).unwrap();
    EncodingKey::from_rsa_der(key.to_pkcs1_der().unwrap().as_bytes())
}

fn now() -> i64 {
    Utc::now().timestamp()
}

/// A client assertion; `edit` changes the claims before signing.
fn assertion(sim: &RunningSimulator, key: &TestKey, edit: impl FnOnce(&mut Value)) -> String {
    let credentials = sim.simulator().client_credentials();
    let mut claims = json!({
        "iss": credentials.client_id,
        "sub": credentials.client_id,
        "aud": credentials.token_url,
        "iat": now(),
        "exp": now() + 300,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    edit(&mut claims);
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(credentials.key_id);
    jsonwebtoken::encode(&header, &claims, &encoding_key(&key.private_pem)).unwrap()
}

async fn token_request(
    sim: &RunningSimulator,
    assertion: &str,
    scope: &str,
) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/oauth2/v1/token", sim.org_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", scope),
            ("client_assertion_type", JWT_BEARER_ASSERTION),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn token(sim: &RunningSimulator, scope: &str) -> String {
    let (status, body) = token_request(sim, &assertion(sim, client_key(), |_| {}), scope).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

fn all_scopes() -> String {
    kinds::backup_scopes()
        .into_iter()
        .collect::<Vec<_>>()
        .join(" ")
}

async fn get(sim: &RunningSimulator, token: &str, path_or_url: &str) -> reqwest::Response {
    let url = if path_or_url.starts_with("http") {
        path_or_url.to_owned()
    } else {
        format!("{}{path_or_url}", sim.org_url())
    };
    reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn next(response: &reqwest::Response) -> Option<String> {
    next_link(
        response
            .headers()
            .get_all("link")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

async fn okta_error(response: reqwest::Response) -> OktaErrorBody {
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

/// Every item of a Link-header-paged list, and the page sizes.
async fn walk(sim: &RunningSimulator, token: &str, first: &str) -> (Vec<Value>, Vec<usize>) {
    let mut items = Vec::new();
    let mut sizes = Vec::new();
    let mut url = Some(first.to_owned());
    while let Some(u) = url {
        let response = get(sim, token, &u).await;
        assert_eq!(response.status(), StatusCode::OK, "{u}");
        url = next(&response);
        let page: Vec<Value> = response.json().await.unwrap();
        sizes.push(page.len());
        items.extend(page);
        assert!(sizes.len() < 1000, "pagination does not end");
    }
    (items, sizes)
}

async fn admin<T: serde::de::DeserializeOwned>(sim: &RunningSimulator, path: &str) -> T {
    reqwest::get(format!("{}{path}", sim.org_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_valid_assertion_gets_a_token_that_reads_the_org() {
    let sim = start(config(30)).await;
    let (status, body) = token_request(
        &sim,
        &assertion(&sim, client_key(), |_| {}),
        "okta.users.read okta.groups.read",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "okta.groups.read okta.users.read");

    let access = body["access_token"].as_str().unwrap();
    let response = get(&sim, access, "/api/v1/users").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "x-rate-limit-limit").as_deref(),
        Some("600")
    );
    assert!(header(&response, "x-rate-limit-reset").is_some());
    assert!(header(&response, "date").is_some());
    let users: Vec<Value> = response.json().await.unwrap();
    assert!(!users.is_empty());
    assert!(
        users
            .iter()
            .all(|u| u["_links"]["self"]["href"].is_string())
    );
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_assertions_are_refused() {
    let sim = start(config(10)).await;
    let cases: Vec<(&str, String)> = vec![
        (
            "wrong audience",
            assertion(&sim, client_key(), |c| {
                c["aud"] = json!("https://other.okta.com/oauth2/v1/token");
            }),
        ),
        (
            "expired",
            assertion(&sim, client_key(), |c| c["exp"] = json!(now() - 60)),
        ),
        (
            "expiry over an hour ahead",
            assertion(&sim, client_key(), |c| c["exp"] = json!(now() + 3700)),
        ),
        (
            "no expiry",
            assertion(&sim, client_key(), |c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
        ),
        (
            "signed by another key",
            assertion(&sim, other_key(), |_| {}),
        ),
        (
            "iss is not sub",
            assertion(&sim, client_key(), |c| {
                c["sub"] = json!("0oaSomebodyElse12345");
            }),
        ),
        (
            "unknown client",
            assertion(&sim, client_key(), |c| {
                c["iss"] = json!("0oaUnknown");
                c["sub"] = json!("0oaUnknown");
            }),
        ),
        ("not a JWT", "not.a.jwt".to_owned()),
    ];
    for (case, jwt) in cases {
        let (status, body) = token_request(&sim, &jwt, "okta.users.read").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}: {body}");
        assert_eq!(body["error"], "invalid_client", "{case}: {body}");
    }

    // A replayed jti is refused the second time.
    let once = assertion(&sim, client_key(), |_| {});
    assert_eq!(
        token_request(&sim, &once, "okta.users.read").await.0,
        StatusCode::OK
    );
    let (status, body) = token_request(&sim, &once, "okta.users.read").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );

    // Scopes must be asked for and granted (manage scopes are granted, for restores).
    for scope in [
        "",
        "okta.nothing.manage",
        "okta.users.read okta.nothing.read",
    ] {
        let (status, body) =
            token_request(&sim, &assertion(&sim, client_key(), |_| {}), scope).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{scope:?}: {body}");
        assert_eq!(body["error"], "invalid_scope");
    }

    // Only client credentials.
    let response = reqwest::Client::new()
        .post(format!("{}/oauth2/v1/token", sim.org_url()))
        .form(&[
            ("grant_type", "password"),
            ("username", "a"),
            ("password", "b"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn pagination_walks_every_user_exactly_once() {
    let sim = start(config(450)).await;
    let access = token(&sim, "okta.users.read").await;

    let (users, sizes) = walk(&sim, &access, "/api/v1/users?limit=100").await;
    let ids: Vec<&str> = users.iter().map(|u| u["id"].as_str().unwrap()).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "a user came twice");
    assert!(users.iter().all(|u| u["status"] != "DEPROVISIONED"));
    assert!(sizes.iter().all(|s| *s <= 100));
    assert_eq!(sizes.len(), ids.len().div_ceil(100));

    // Deprovisioned users need their own listing; together they are every user.
    let filter = "/api/v1/users?filter=status%20eq%20%22DEPROVISIONED%22&limit=7";
    let (gone, _) = walk(&sim, &access, filter).await;
    assert!(!gone.is_empty());
    assert!(gone.iter().all(|u| u["status"] == "DEPROVISIONED"));
    let mut all: BTreeSet<&str> = unique.clone();
    all.extend(gone.iter().map(|u| u["id"].as_str().unwrap()));
    assert_eq!(all.len(), 450);

    // `limit` is capped at the endpoint's maximum (200 for users).
    let response = get(&sim, &access, "/api/v1/users?limit=1000").await;
    let next_url = next(&response).unwrap();
    assert!(next_url.contains("limit=200"), "{next_url}");
    assert_eq!(response.json::<Vec<Value>>().await.unwrap().len(), 200);

    // A cursor that is not one of ours is refused.
    let response = get(&sim, &access, "/api/v1/users?after=garbage").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_catalogue_kind_is_served() {
    let sim = start(config(40)).await;
    let access = token(&sim, &all_scopes()).await;
    // Copied out of the org: its read guard must not be held across requests.
    let (counts, listing_paths) = {
        let org = sim.simulator().org();
        let paths: BTreeMap<&str, Vec<String>> = kinds::all()
            .map(|k| {
                let paths = org.listing_paths(k.name).into_iter().map(str::to_owned);
                (k.name, paths.collect())
            })
            .collect();
        (org.counts(), paths)
    };
    for kind in kinds::all() {
        let paths = &listing_paths[kind.name];
        assert!(!paths.is_empty(), "{}: nothing listed", kind.name);
        let queries: Vec<&str> = if kind.list_queries.is_empty() {
            vec![""]
        } else {
            kind.list_queries.to_vec()
        };
        let mut seen = 0;
        for path in paths {
            for query in &queries {
                let url = if query.is_empty() {
                    path.clone()
                } else {
                    format!("{path}?{}", query.replace(' ', "%20").replace('"', "%22"))
                };
                let mut next_url = Some(url);
                while let Some(u) = next_url {
                    let response = get(&sim, &access, &u).await;
                    assert_eq!(response.status(), StatusCode::OK, "{}: GET {u}", kind.name);
                    next_url = next(&response);
                    let body: Value = response.json().await.unwrap();
                    if let Some(link) = next_body_link(&body) {
                        next_url = Some(link);
                    }
                    seen += kind.items(body).unwrap().len();
                }
            }
        }
        assert_eq!(
            seen, counts[kind.name],
            "{}: listed vs generated",
            kind.name
        );
    }
    // Detail views: a profile mapping by id carries its properties.
    let (mappings, _) = walk(&sim, &access, "/api/v1/mappings").await;
    let id = mappings[0]["id"].as_str().unwrap();
    assert!(mappings[0].get("properties").is_none());
    let detail: Value = get(&sim, &access, &format!("/api/v1/mappings/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(detail["properties"].is_object());
    // Policies need a type, as in Okta.
    assert_eq!(
        get(&sim, &access, "/api/v1/policies").await.status(),
        StatusCode::BAD_REQUEST
    );
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_missing_scope_is_403_and_a_missing_token_401() {
    let mut cfg = config(10);
    cfg.granted_scopes = Some(BTreeSet::from([
        "okta.users.read".to_owned(),
        "okta.groups.read".to_owned(),
    ]));
    let sim = start(cfg).await;
    let access = token(&sim, "okta.users.read").await;

    let response = get(&sim, &access, "/api/v1/groups").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenge = header(&response, "www-authenticate").unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("scope=\"okta.groups.read\""),
        "{challenge}"
    );
    assert_eq!(okta_error(response).await.error_code, "E0000006");

    // Granted to the client, but not asked for in this token: still 403. Not granted: no token.
    let (status, body) = token_request(
        &sim,
        &assertion(&sim, client_key(), |_| {}),
        "okta.apps.read",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );

    for auth in [None, Some("Bearer nope"), Some("SSWS abc")] {
        let mut request = reqwest::Client::new().get(format!("{}/api/v1/users", sim.org_url()));
        if let Some(a) = auth {
            request = request.header("authorization", a);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert!(
            header(&response, "www-authenticate")
                .unwrap()
                .contains("invalid_token")
        );
        assert_eq!(okta_error(response).await.error_code, "E0000011");
    }
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn tokens_expire_on_the_simulated_clock_and_on_demand() {
    let mut cfg = config(10);
    cfg.token_ttl_seconds = 120;
    let sim = start(cfg).await;
    let access = token(&sim, "okta.users.read").await;
    assert_eq!(
        get(&sim, &access, "/api/v1/users").await.status(),
        StatusCode::OK
    );
    let _: Value = reqwest::Client::new()
        .post(format!("{}/__sim/clock", sim.org_url()))
        .json(&json!({ "advance_seconds": 121 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        get(&sim, &access, "/api/v1/users").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Mid-run expiry: every token issued so far dies at once.
    let access = token(&sim, "okta.users.read").await;
    let body: Value = reqwest::Client::new()
        .post(format!("{}/__sim/faults", sim.org_url()))
        .json(&json!({ "expire_tokens": true }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["expired_tokens"].as_u64().unwrap() >= 1);
    assert_eq!(
        get(&sim, &access, "/api/v1/users").await.status(),
        StatusCode::UNAUTHORIZED
    );
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_exhausted_bucket_answers_429_until_the_clock_resets_it() {
    let mut cfg = config(10);
    cfg.rate_limits = BTreeMap::from([(RateLimitBucket::UsersList, 3)]);
    // Time stands still unless the test moves it: 10 s into a window.
    let timer = Arc::new(VirtualTimer::new(
        DateTime::from_timestamp(1_700_000_040 + 10, 0).unwrap(),
    ));
    cfg.timer = timer.clone();
    let sim = start(cfg).await;
    let access = token(&sim, &all_scopes()).await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let response = get(&sim, &access, "/api/v1/users").await;
        assert_eq!(response.status(), StatusCode::OK);
        remaining.push(header(&response, "x-rate-limit-remaining").unwrap());
    }
    assert_eq!(remaining, ["2", "1", "0"]);

    let response = get(&sim, &access, "/api/v1/users").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        header(&response, "x-rate-limit-limit").as_deref(),
        Some("3")
    );
    assert_eq!(
        header(&response, "x-rate-limit-remaining").as_deref(),
        Some("0")
    );
    let reset: i64 = header(&response, "x-rate-limit-reset")
        .unwrap()
        .parse()
        .unwrap();
    let body = okta_error(response).await;
    assert_eq!(body.error_code, "E0000047");
    assert!(body.is_rate_limited());

    // Other buckets are not affected.
    assert_eq!(
        get(&sim, &access, "/api/v1/groups").await.status(),
        StatusCode::OK
    );

    // The window holds until its reset, then the bucket is full again.
    assert_eq!(reset, 1_700_000_040 + 60);
    timer.advance(chrono::TimeDelta::seconds(49));
    assert_eq!(
        get(&sim, &access, "/api/v1/users").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    timer.advance(chrono::TimeDelta::seconds(1));
    let clock: Value = admin(&sim, "/__sim/clock").await;
    assert_eq!(clock["now"].as_i64(), Some(reset));
    let response = get(&sim, &access, "/api/v1/users").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "x-rate-limit-remaining").as_deref(),
        Some("2")
    );

    let log: RequestLogSnapshot = admin(&sim, "/__sim/requests").await;
    assert_eq!(log.by_status.get(&429), Some(&2));
    assert_eq!(log.writes, 0);
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn faults_strike_as_configured() {
    let sim = start(config(30)).await;
    let access = token(&sim, &all_scopes()).await;
    let simulator = sim.simulator();

    let rule = |kind, count| FaultRule {
        count: Some(count),
        path_prefix: Some("/api/v1/groups".into()),
        ..FaultRule::new(kind)
    };
    simulator.add_faults([rule(FaultKind::RateLimitStorm, 2)]);
    for _ in 0..2 {
        let response = get(&sim, &access, "/api/v1/groups").await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            header(&response, "x-rate-limit-remaining").as_deref(),
            Some("0")
        );
    }
    assert_eq!(
        get(&sim, &access, "/api/v1/groups").await.status(),
        StatusCode::OK
    );

    simulator.add_faults([FaultRule {
        status: Some(503),
        ..rule(FaultKind::ServerError, 1)
    }]);
    assert_eq!(
        get(&sim, &access, "/api/v1/groups").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    simulator.add_faults([rule(FaultKind::TruncatePage, 1)]);
    let response = get(&sim, &access, "/api/v1/groups").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(serde_json::from_slice::<Value>(&response.bytes().await.unwrap()).is_err());

    simulator.add_faults([rule(FaultKind::DropConnection, 1)]);
    let dropped = reqwest::Client::new()
        .get(format!("{}/api/v1/groups", sim.org_url()))
        .bearer_auth(&access)
        .send()
        .await;
    let failed = match dropped {
        Err(_) => true,
        Ok(response) => response.bytes().await.is_err(),
    };
    assert!(failed, "a dropped connection reads as a complete response");

    // A slow response outlasts a client's timeout (the delay is real: it exists to test
    // socket timeouts); the next one is prompt again.
    simulator.add_faults([FaultRule {
        delay_ms: Some(5_000),
        ..rule(FaultKind::Slow, 1)
    }]);
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let slow = impatient
        .get(format!("{}/api/v1/groups", sim.org_url()))
        .bearer_auth(&access)
        .send()
        .await;
    assert!(
        slow.is_err_and(|e| e.is_timeout()),
        "the slow fault did not delay"
    );
    assert_eq!(
        get(&sim, &access, "/api/v1/groups").await.status(),
        StatusCode::OK
    );

    // Rules that ran out stay listed with their counts; DELETE clears them.
    let faults: Value = admin(&sim, "/__sim/faults").await;
    assert_eq!(faults["rules"].as_array().unwrap().len(), 5);
    assert!(
        faults["rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["fired"].as_u64() >= Some(1))
    );
    let cleared = reqwest::Client::new()
        .delete(format!("{}/__sim/faults", sim.org_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);

    // A write without the manage scope is refused, and counted.
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/users", sim.org_url()))
        .bearer_auth(&access)
        .json(&json!({ "profile": {} }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let log: RequestLogSnapshot = admin(&sim, "/__sim/requests").await;
    assert_eq!(log.writes, 1);
    assert_eq!(log.by_route.get("POST /api/v1/users"), Some(&1));
    assert!(log.by_route["GET /api/v1/groups"] >= 7);
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn faults_from_the_admin_endpoint_use_the_json_form() {
    let sim = start(config(10)).await;
    let access = token(&sim, "okta.users.read").await;
    let response = reqwest::Client::new()
        .post(format!("{}/__sim/faults", sim.org_url()))
        .json(&json!({ "rules": [{ "kind": "server_error", "status": 502, "count": 1, "path_prefix": "/api/v1/users" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = get(&sim, &access, "/api/v1/users").await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(okta_error(response).await.error_code, "E0000009");
    assert_eq!(
        get(&sim, &access, "/api/v1/users").await.status(),
        StatusCode::OK
    );
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_lower_bound_counts_pages_per_bucket() {
    let sim = start(config(450)).await;
    let bound: LowerBound = admin(&sim, "/__sim/lower-bound").await;
    let counts = sim.simulator().org().counts();

    // Users: 450 in two listings (active, deprovisioned), 200 a page.
    let users = &bound.buckets["/api/v1/users"];
    assert_eq!(users.limit_per_minute, 600);
    assert!(users.requests >= 3 && users.requests <= 4, "{users:?}");
    // Apps and the five kinds listed under each app share the 100/min bucket.
    let apps = &bound.buckets["/api/v1/apps"];
    assert_eq!(apps.limit_per_minute, 100);
    let under_app = kinds::all()
        .filter(|k| {
            k.parent.is_some_and(|p| p.kind == "app") && k.bucket == RateLimitBucket::AppsList
        })
        .count();
    assert_eq!(under_app, 5);
    assert_eq!(apps.requests, 1 + 5 * counts["app"] as u64, "{apps:?}");
    // The bound is the slowest bucket.
    let slowest = bound
        .buckets
        .values()
        .map(|b| b.seconds)
        .fold(0.0, f64::max);
    assert!((bound.bound_seconds - slowest).abs() < 1e-9);
    assert!((bound.buckets[&bound.bound_bucket].seconds - bound.bound_seconds).abs() < 1e-9);
    assert_eq!(
        bound.total_requests,
        bound.buckets.values().map(|b| b.requests).sum::<u64>()
    );
    assert_eq!(bound, sim.simulator().lower_bound());
    sim.shutdown().await.unwrap();
}

/// Everything a backup keeps of the listed kinds, `_links` removed (they carry the port).
async fn backup_view(sim: &RunningSimulator) -> BTreeMap<String, Vec<Value>> {
    let access = token(sim, &all_scopes()).await;
    let mut view = BTreeMap::new();
    for path in [
        "/api/v1/users",
        "/api/v1/groups",
        "/api/v1/apps",
        "/api/v1/policies?type=ACCESS_POLICY",
        "/api/v1/idps",
        "/api/v1/eventHooks",
    ] {
        let (items, _) = walk(sim, &access, path).await;
        let spec = kinds::all()
            .find(|k| {
                path.starts_with(k.list_path)
                    && (k.list_queries.is_empty() || path.contains(k.list_queries[0]))
            })
            .unwrap();
        view.insert(
            path.to_owned(),
            items.into_iter().map(|i| spec.sanitize(i)).collect(),
        );
    }
    view
}

#[tokio::test]
async fn a_seed_gives_the_same_org_on_any_port() {
    let a = start(config(120)).await;
    let b = start(config(120)).await;
    assert_ne!(a.org_url(), b.org_url());
    assert_eq!(
        a.simulator().client_credentials().client_id,
        b.simulator().client_credentials().client_id
    );
    let (va, vb) = (backup_view(&a).await, backup_view(&b).await);
    assert_eq!(va, vb);
    let counts_a: Value = admin(&a, "/__sim/org").await;
    let counts_b: Value = admin(&b, "/__sim/org").await;
    assert_eq!(counts_a["counts"], counts_b["counts"]);

    let mut other = config(120);
    other.org.seed = 43;
    let c = start(other).await;
    assert_ne!(backup_view(&c).await["/api/v1/users"], va["/api/v1/users"]);
    for sim in [a, b, c] {
        sim.shutdown().await.unwrap();
    }
}
