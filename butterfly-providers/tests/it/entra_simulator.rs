//! The Entra ID Graph simulator over real HTTP: tokens (secret and certificate),
//! permissions, paging, `$select`, `$filter`, throttling, delta queries, writes, faults,
//! and the shape of every kind against Graph's CSDL.

use std::collections::BTreeSet;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use butterfly_providers::clock::VirtualTimer;
use butterfly_providers::entra::kinds;
use butterfly_providers::entra::simulator::{
    EntraSimConfig, EntraSimulator, JWT_BEARER_ASSERTION, TenantConfig,
};
use serde_json::{Value, json};
use sha1::Digest as _;

fn small(users: usize) -> TenantConfig {
    TenantConfig {
        seed: 7,
        users,
        groups: 12,
        apps: 10,
        secret_canary: false,
    }
}

fn virtual_config(tenant: TenantConfig) -> (EntraSimConfig, Arc<VirtualTimer>) {
    let timer = Arc::new(VirtualTimer::new(
        chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
    ));
    let config = EntraSimConfig {
        tenant,
        timer: timer.clone(),
        ..EntraSimConfig::default()
    };
    (config, timer)
}

async fn secret_token(sim: &EntraSimulator) -> String {
    let response = reqwest::Client::new()
        .post(sim.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", sim.client_id()),
            ("client_secret", sim.client_secret()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

fn x5t(pem: &str) -> String {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(body).unwrap();
    URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&der))
}

fn rsa_key(pem: &str) -> jsonwebtoken::EncodingKey {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    use rsa::pkcs8::DecodePrivateKey as _;
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem).unwrap();
    jsonwebtoken::EncodingKey::from_rsa_der(key.to_pkcs1_der().unwrap().as_bytes())
}

fn assertion(sim: &EntraSimulator, aud: &str, jti: &str, x5t_value: Option<String>) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5t = x5t_value;
    let claims = json!({
        "aud": aud, "iss": sim.client_id(), "sub": sim.client_id(),
        "jti": jti, "nbf": now, "exp": now + 600,
    });
    let key = rsa_key(sim.private_key_pem());
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

async fn post_assertion(sim: &EntraSimulator, assertion: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(sim.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", sim.client_id()),
            ("client_assertion_type", JWT_BEARER_ASSERTION),
            ("client_assertion", assertion),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn get(
    sim: &EntraSimulator,
    token: &str,
    path_and_query: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let url = if path_and_query.starts_with("http") {
        path_and_query.to_owned()
    } else {
        format!("{}/v1.0{path_and_query}", sim.graph_url())
    };
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

/// Every item of a listing, following `@odata.nextLink`.
async fn all_pages(sim: &EntraSimulator, token: &str, first: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut next = Some(first.to_owned());
    let mut pages = 0;
    while let Some(url) = next {
        let (status, _, body) = get(sim, token, &url).await;
        assert_eq!(status, 200, "{url}: {body}");
        items.extend(body["value"].as_array().unwrap().iter().cloned());
        next = body["@odata.nextLink"].as_str().map(str::to_owned);
        pages += 1;
    }
    (items, pages)
}

#[tokio::test]
async fn a_client_secret_gets_a_token_whose_roles_are_the_granted_permissions() {
    let sim = EntraSimulator::start(small(30)).await.unwrap();
    let token = secret_token(&sim).await;
    let payload: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(payload["tid"], sim.tenant_id());
    assert_eq!(payload["appid"], sim.client_id());
    let roles: BTreeSet<&str> = payload["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(roles.contains("User.Read.All") && roles.contains("Policy.Read.All"));
    assert!(roles.contains("User.ReadWrite.All"));

    // A wrong secret, an unknown client and a bad scope, as Entra answers them.
    let client = reqwest::Client::new();
    let answer = |form: Vec<(&'static str, String)>| {
        let client = client.clone();
        let url = sim.token_url();
        async move {
            let r = client.post(url).form(&form).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let base = |secret: &str, id: &str, scope: &str| {
        vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", id.to_owned()),
            ("client_secret", secret.to_owned()),
            ("scope", scope.to_owned()),
        ]
    };
    let (status, body) = answer(base(
        "nope",
        sim.client_id(),
        "https://graph.microsoft.com/.default",
    ))
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215:")
    );
    assert_eq!(body["error_codes"][0], 7_000_215);
    let (status, body) = answer(base(
        sim.client_secret(),
        "11111111-1111-1111-1111-111111111111",
        "https://graph.microsoft.com/.default",
    ))
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS700016:")
    );
    let (status, body) = answer(base(sim.client_secret(), sim.client_id(), "User.Read.All")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    // The simulator's own Graph URL works as a scope too.
    let scope = format!("{}/.default", sim.graph_url());
    let (status, _) = answer(base(sim.client_secret(), sim.client_id(), &scope)).await;
    assert_eq!(status, 200);
    // Another tenant in the path.
    let wrong = sim.token_url().replace(sim.tenant_id(), "contoso.example");
    let r = client
        .post(wrong)
        .form(&base(
            sim.client_secret(),
            sim.client_id(),
            "https://graph.microsoft.com/.default",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS90002:")
    );
}

#[tokio::test]
async fn a_certificate_assertion_gets_a_token_and_replays_and_strangers_do_not() {
    let sim = EntraSimulator::start(small(10)).await.unwrap();
    assert!(
        sim.certificate_pem()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    let thumb = x5t(sim.certificate_pem());
    let good = assertion(&sim, &sim.token_url(), "jti-1", Some(thumb.clone()));
    let (status, body) = post_assertion(&sim, &good).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().is_some());
    assert_eq!(body["token_type"], "Bearer");

    // The same jti again.
    let (status, body) = post_assertion(&sim, &good).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // A certificate the app does not have.
    let (status, body) = post_assertion(
        &sim,
        &assertion(&sim, &sim.token_url(), "jti-2", Some("AAAA".into())),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS700027:")
    );
    // No thumbprint at all.
    let (status, _) = post_assertion(&sim, &assertion(&sim, &sim.token_url(), "jti-3", None)).await;
    assert_eq!(status, 401);
    // The wrong audience.
    let (status, body) = post_assertion(
        &sim,
        &assertion(
            &sim,
            "https://login.microsoftonline.com/x/oauth2/v2.0/token",
            "jti-4",
            Some(thumb.clone()),
        ),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    // A key that is not the certificate's.
    let other = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let pem =
        rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(&other, rsa::pkcs8::LineEnding::LF).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5t = Some(thumb);
    let now = chrono::Utc::now().timestamp();
    let forged = jsonwebtoken::encode(
        &header,
        &json!({"aud": sim.token_url(), "iss": sim.client_id(), "sub": sim.client_id(), "jti": "jti-5", "exp": now + 600}),
        &rsa_key(&pem),
    )
    .unwrap();
    let (status, body) = post_assertion(&sim, &forged).await;
    assert_eq!(status, 401);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("signature")
    );
}

#[tokio::test]
async fn users_page_with_top_and_next_links_and_select_and_filter_narrow_them() {
    let sim = EntraSimulator::start(small(250)).await.unwrap();
    let token = secret_token(&sim).await;
    let (users, pages) = all_pages(&sim, &token, "/users?$top=40").await;
    assert_eq!(users.len(), 250);
    assert_eq!(pages, 7);
    let ids: BTreeSet<&str> = users.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 250);
    // Without $select, Graph's default user properties only.
    assert!(users[0].get("userPrincipalName").is_some());
    assert!(users[0].get("accountEnabled").is_none());

    let (status, headers, body) = get(
        &sim,
        &token,
        "/users?$select=id,accountEnabled,userType&$top=999",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-ms-resource-unit"], "1");
    assert_eq!(
        body["@odata.context"],
        format!("{}/v1.0/$metadata#users", sim.graph_url())
    );
    let first = &body["value"][0];
    assert!(first.get("accountEnabled").is_some() && first.get("displayName").is_none());
    let (_, headers, _) = get(&sim, &token, "/users?$top=999").await;
    assert_eq!(headers["x-ms-resource-unit"], "2");

    let (_, _, body) = get(
        &sim,
        &token,
        "/users?$filter=userType%20eq%20'Guest'&$select=userType&$top=999",
    )
    .await;
    let guests = body["value"].as_array().unwrap();
    assert_eq!(guests.len(), 25);
    assert!(guests.iter().all(|g| g["userType"] == "Guest"));
    let (_, _, body) = get(
        &sim,
        &token,
        "/users?$filter=startswith(displayName,'ada')&$top=999",
    )
    .await;
    assert!(
        body["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["displayName"].as_str().unwrap().starts_with("Ada"))
    );
    let (status, _, body) = get(&sim, &token, "/users?$filter=displayName%20gt%20'a'").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "Request_UnsupportedQuery");
    let (status, _, body) = get(&sim, &token, "/users?$top=1000").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("Request_BadRequest"))
    );

    // One by id.
    let id = users[3]["id"].as_str().unwrap();
    let (status, _, body) = get(&sim, &token, &format!("/users/{id}")).await;
    assert_eq!((status, body["id"].as_str()), (200, Some(id)));
    let (status, _, body) = get(&sim, &token, "/users/00000000-0000-0000-0000-00000000dead").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("Request_ResourceNotFound"))
    );
}

#[tokio::test]
async fn group_members_and_owners_list_directory_objects_with_their_type() {
    let sim = EntraSimulator::start(small(120)).await.unwrap();
    let token = secret_token(&sim).await;
    let (groups, _) = all_pages(&sim, &token, "/groups?$top=999").await;
    assert_eq!(groups.len(), 12);
    let mut total = 0;
    for group in &groups {
        let id = group["id"].as_str().unwrap();
        let (members, _) = all_pages(
            &sim,
            &token,
            &format!("/groups/{id}/members?$top=5&$select=id"),
        )
        .await;
        let expected = sim.tenant().members_of("group_member", id);
        let got: Vec<&str> = members.iter().map(|m| m["id"].as_str().unwrap()).collect();
        assert_eq!(got, expected.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(members.iter().all(|m| {
            m["@odata.type"]
                .as_str()
                .unwrap()
                .starts_with("#microsoft.graph.")
        }));
        total += members.len();
        let (owners, _) = all_pages(&sim, &token, &format!("/groups/{id}/owners")).await;
        assert!(!owners.is_empty());
    }
    assert!(total > 0);
    let (status, _, _) = get(&sim, &token, "/groups/no-such-group/members").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn missing_permissions_are_403_and_bad_tokens_401() {
    let sim = EntraSimulator::start(small(20)).await.unwrap();
    sim.set_permissions(["User.Read.All"]);
    let token = secret_token(&sim).await;
    let (status, _, _) = get(&sim, &token, "/users").await;
    assert_eq!(status, 200);
    let (status, _, body) = get(&sim, &token, "/groups").await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
    assert!(body["error"]["innerError"]["request-id"].is_string());
    let (status, _, _) = get(&sim, &token, "/identity/conditionalAccess/policies").await;
    assert_eq!(status, 403);
    // A higher permission also reads.
    sim.set_permissions(["Directory.Read.All"]);
    let token = secret_token(&sim).await;
    assert_eq!(get(&sim, &token, "/groups").await.0, 200);
    assert_eq!(
        get(&sim, &token, "/identity/conditionalAccess/policies")
            .await
            .0,
        403
    );

    let (status, _, body) = get(&sim, "not-a-token", "/users").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    sim.expire_tokens();
    assert_eq!(get(&sim, &token, "/users").await.0, 401);
}

#[tokio::test]
async fn the_resource_unit_budget_throttles_with_retry_after_until_the_window_turns() {
    let (mut config, timer) = virtual_config(small(20));
    config.resource_units_per_10s = Some(10);
    let sim = EntraSimulator::start(config).await.unwrap();
    assert_eq!(sim.resource_unit_budget(), 10);
    let token = secret_token(&sim).await;
    // Five GET /users at 2 units each fill the window.
    for _ in 0..5 {
        assert_eq!(get(&sim, &token, "/users").await.0, 200);
    }
    let (status, headers, body) = get(&sim, &token, "/users").await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], "TooManyRequests");
    let retry: i64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry));
    timer.advance(chrono::TimeDelta::seconds(retry));
    assert_eq!(get(&sim, &token, "/users").await.0, 200);
    let log = sim.request_log();
    assert_eq!(log.resource_units, 12);
    assert_eq!(log.throttled, 1);
    assert_eq!(sim.resource_units_spent(), 12);
    assert_eq!(log.by_route["GET /users"], 7);
    // The default tiers.
    let sim = EntraSimulator::start(small(20)).await.unwrap();
    assert_eq!(sim.resource_unit_budget(), 3_500);
}

#[tokio::test]
async fn the_lower_bound_counts_every_page_at_the_budget() {
    let sim = EntraSimulator::start(small(600)).await.unwrap();
    assert_eq!(sim.resource_unit_budget(), 8_000);
    let bound = sim.lower_bound();
    // 600 users fit one page of 999, at one unit with $select.
    assert_eq!(bound.kinds["user"].requests, 1);
    assert_eq!(bound.kinds["group_member"].requests, 12);
    assert_eq!(bound.kinds["group_member"].resource_units, 24);
    assert!(bound.seconds > 0.0);
    assert_eq!(bound.budget_per_10s, 8_000);
    let expected = bound.resource_units as f64 / 8_000.0 * 10.0;
    assert!((bound.seconds - expected).abs() < 1e-9);
    // The admin API says the same.
    let body: Value = reqwest::get(format!("{}/_sim/lower-bound", sim.graph_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["resource_units"], bound.resource_units);
}

#[tokio::test]
async fn the_same_seed_gives_the_same_tenant() {
    let a = EntraSimulator::start(small(50)).await.unwrap();
    let b = EntraSimulator::start(small(50)).await.unwrap();
    assert_eq!(a.tenant_id(), b.tenant_id());
    assert_eq!(a.client_id(), b.client_id());
    let (ta, tb) = (a.tenant(), b.tenant());
    for kind in kinds::all().filter(|k| k.parent.is_none()) {
        let ids_a: Vec<&String> = ta.objects_of(kind.name).map(|(id, _)| id).collect();
        let ids_b: Vec<&String> = tb.objects_of(kind.name).map(|(id, _)| id).collect();
        assert_eq!(ids_a, ids_b, "{}", kind.name);
    }
    assert_eq!(ta.counts(), tb.counts());
}
