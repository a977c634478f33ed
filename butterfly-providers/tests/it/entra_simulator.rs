//! The Entra ID Graph simulator over real HTTP: tokens (secret and certificate),
//! permissions, paging, `$select`, `$filter`, throttling, delta queries, writes, faults,
//! and the shape of every kind against Graph's CSDL.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use butterfly_providers::clock::VirtualTimer;
use butterfly_providers::entra::kinds::{self, IdRule, Shape};
use butterfly_providers::entra::simulator::{
    EntraSimConfig, EntraSimulator, JWT_BEARER_ASSERTION, SECRET_CANARY, TenantConfig,
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

    // The SHA-256 thumbprint names the certificate too.
    let der = STANDARD
        .decode(
            sim.certificate_pem()
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5t_s256 = Some(URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&der)));
    let now = chrono::Utc::now().timestamp();
    let s256 = jsonwebtoken::encode(
        &header,
        &json!({"aud": sim.token_url(), "iss": sim.client_id(), "sub": sim.client_id(), "jti": "jti-s256", "nbf": now, "exp": now + 600}),
        &rsa_key(sim.private_key_pem()),
    )
    .unwrap();
    let (status, body) = post_assertion(&sim, &s256).await;
    assert_eq!(status, 200, "{body}");
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
    // Five GET /users at 2 units each fill the window; past 80% Graph warns.
    for n in 1..=5 {
        let (status, headers, _) = get(&sim, &token, "/users").await;
        assert_eq!(status, 200);
        let warning = headers
            .get("x-ms-throttle-limit-percentage")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            warning.as_deref(),
            (n == 5).then_some("1.00"),
            "request {n}"
        );
    }
    let (status, headers, body) = get(&sim, &token, "/users").await;
    assert_eq!(status, 429);
    assert_eq!(
        headers["x-ms-throttle-information"],
        "ResourceUnitLimitExceeded"
    );
    assert!(
        headers["x-ms-throttle-scope"]
            .to_str()
            .unwrap()
            .starts_with("Tenant_Application/Read/")
    );
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
    let expected = f64::from(u32::try_from(bound.resource_units).unwrap()) / 8_000.0 * 10.0;
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

async fn send(
    sim: &EntraSimulator,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}/v1.0{path}", sim.graph_url()))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn domain_of(sim: &EntraSimulator) -> String {
    sim.tenant()
        .objects_of("domain")
        .find(|(_, d)| d["isDefault"] == true)
        .map(|(id, _)| id.clone())
        .unwrap()
}

#[tokio::test]
async fn users_are_created_updated_and_deleted_with_graphs_validation() {
    let sim = EntraSimulator::start(small(20)).await.unwrap();
    let token = secret_token(&sim).await;
    let upn = format!("restored.user@{}", domain_of(&sim));
    let user = json!({
        "accountEnabled": false, "displayName": "Restored User", "mailNickname": "restored.user",
        "userPrincipalName": upn, "passwordProfile": {"password": "x-Very-Long-Random-1", "forceChangePasswordNextSignIn": true},
    });
    let (status, body) = send(
        &sim,
        &token,
        reqwest::Method::POST,
        "/users",
        Some(user.clone()),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    assert!(body.get("passwordProfile").is_none());
    assert_eq!(body["accountEnabled"], false);

    let (status, body) = send(
        &sim,
        &token,
        reqwest::Method::POST,
        "/users",
        Some(user.clone()),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(
        body["error"]["code"],
        "Request_MultipleObjectsWithSameKeyValue"
    );
    let mut no_nick = user.clone();
    no_nick.as_object_mut().unwrap().remove("mailNickname");
    no_nick["userPrincipalName"] = json!(format!("other@{}", domain_of(&sim)));
    let (status, body) = send(&sim, &token, reqwest::Method::POST, "/users", Some(no_nick)).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "Request_BadRequest");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'mailNickname'")
    );
    let mut foreign = user.clone();
    foreign["userPrincipalName"] = json!("someone@not-ours.example");
    assert_eq!(
        send(&sim, &token, reqwest::Method::POST, "/users", Some(foreign))
            .await
            .0,
        400
    );
    assert_eq!(
        send(
            &sim,
            &token,
            reqwest::Method::POST,
            "/users",
            Some(json!([1]))
        )
        .await
        .0,
        400
    );

    let (status, _) = send(
        &sim,
        &token,
        reqwest::Method::PATCH,
        &format!("/users/{id}"),
        Some(json!({"jobTitle": "Restorer"})),
    )
    .await;
    assert_eq!(status, 204);
    let (_, _, body) = get(
        &sim,
        &token,
        &format!("/users/{id}?$select=jobTitle,accountEnabled"),
    )
    .await;
    assert_eq!(
        (body["jobTitle"].as_str(), body["accountEnabled"].as_bool()),
        (Some("Restorer"), Some(false))
    );
    assert_eq!(
        send(
            &sim,
            &token,
            reqwest::Method::DELETE,
            &format!("/users/{id}"),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(get(&sim, &token, &format!("/users/{id}")).await.0, 404);
    assert_eq!(
        send(
            &sim,
            &token,
            reqwest::Method::DELETE,
            &format!("/users/{id}"),
            None
        )
        .await
        .0,
        404
    );

    let log = sim.request_log();
    assert_eq!(log.writes_by_route()["POST /users"], 5);
    assert_eq!(log.writes_by_route()["PATCH /users/{id}"], 1);

    // Without the write permission.
    sim.set_permissions(["User.Read.All"]);
    let token = secret_token(&sim).await;
    let (status, body) = send(
        &sim,
        &token,
        reqwest::Method::PATCH,
        &format!(
            "/users/{}",
            sim.tenant().objects_of("user").next().unwrap().0
        ),
        Some(json!({"jobTitle": "x"})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("Authorization_RequestDenied"))
    );
}

#[tokio::test]
async fn groups_members_owners_and_app_role_assignments_are_written() {
    let sim = EntraSimulator::start(small(30)).await.unwrap();
    let token = secret_token(&sim).await;
    let users: Vec<String> = sim
        .tenant()
        .objects_of("user")
        .map(|(id, _)| id.clone())
        .take(3)
        .collect();
    let bind = |id: &str| format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}");
    let (status, body) = send(&sim, &token, reqwest::Method::POST, "/groups", Some(json!({
        "displayName": "Restored", "mailEnabled": false, "mailNickname": "restored", "securityEnabled": true,
        "members@odata.bind": [bind(&users[0])], "owners@odata.bind": [bind(&users[1])],
    }))).await;
    assert_eq!(status, 201, "{body}");
    let group = body["id"].as_str().unwrap().to_owned();
    assert!(body.get("members@odata.bind").is_none());
    assert_eq!(
        sim.tenant().members_of("group_member", &group),
        vec![users[0].clone()]
    );
    assert_eq!(
        sim.tenant().members_of("group_owner", &group),
        vec![users[1].clone()]
    );

    let path = format!("/groups/{group}/members/$ref");
    assert_eq!(
        send(
            &sim,
            &token,
            reqwest::Method::POST,
            &path,
            Some(json!({"@odata.id": bind(&users[2])}))
        )
        .await
        .0,
        204
    );
    let (status, body) = send(
        &sim,
        &token,
        reqwest::Method::POST,
        &path,
        Some(json!({"@odata.id": bind(&users[2])})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("Request_BadRequest"))
    );
    assert_eq!(
        send(
            &sim,
            &token,
            reqwest::Method::POST,
            &path,
            Some(json!({"@odata.id": bind("nobody")}))
        )
        .await
        .0,
        404
    );
    let (members, _) = all_pages(&sim, &token, &format!("/groups/{group}/members")).await;
    assert_eq!(members.len(), 2);
    assert_eq!(
        send(
            &sim,
            &token,
            reqwest::Method::DELETE,
            &format!("/groups/{group}/members/{}/$ref", users[0]),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        send(
            &sim,
            &token,
            reqwest::Method::DELETE,
            &format!("/groups/{group}/members/{}/$ref", users[0]),
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        sim.tenant().members_of("group_member", &group),
        vec![users[2].clone()]
    );

    // An app role of a simulated app, granted to a user, then taken back.
    let (resource, role) = sim
        .tenant()
        .objects_of("service_principal")
        .find_map(|(id, sp)| {
            sp["appRoles"]
                .as_array()
                .filter(|r| !r.is_empty() && sp["displayName"] != "Microsoft Graph")
                .map(|r| (id.clone(), r[0]["id"].as_str().unwrap().to_owned()))
        })
        .unwrap();
    let path = format!("/servicePrincipals/{resource}/appRoleAssignedTo");
    let assignment = json!({"principalId": users[0], "resourceId": resource, "appRoleId": role});
    let (status, body) = send(
        &sim,
        &token,
        reqwest::Method::POST,
        &path,
        Some(assignment.clone()),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["principalType"], "User");
    let assignment_id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        send(&sim, &token, reqwest::Method::POST, &path, Some(assignment))
            .await
            .0,
        400
    );
    let bad_role = json!({"principalId": users[0], "resourceId": resource, "appRoleId": "11111111-2222-4333-8444-555555555555"});
    assert_eq!(
        send(&sim, &token, reqwest::Method::POST, &path, Some(bad_role))
            .await
            .0,
        400
    );
    let (listed, _) = all_pages(&sim, &token, &path).await;
    assert!(listed.iter().any(|a| a["id"] == assignment_id.as_str()));
    assert_eq!(
        send(
            &sim,
            &token,
            reqwest::Method::DELETE,
            &format!("{path}/{assignment_id}"),
            None
        )
        .await
        .0,
        204
    );

    // Applications and their service principals.
    let (status, app) = send(
        &sim,
        &token,
        reqwest::Method::POST,
        "/applications",
        Some(json!({"displayName": "Restored app"})),
    )
    .await;
    assert_eq!(status, 201);
    let app_id = app["appId"].as_str().unwrap();
    let (status, sp) = send(
        &sim,
        &token,
        reqwest::Method::POST,
        "/servicePrincipals",
        Some(json!({"appId": app_id})),
    )
    .await;
    assert_eq!(status, 201, "{sp}");
    assert_eq!(sp["displayName"], "Restored app");
    let (status, body) = send(
        &sim,
        &token,
        reqwest::Method::POST,
        "/servicePrincipals",
        Some(json!({"appId": app_id})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("Request_MultipleObjectsWithSameKeyValue"))
    );
    assert_eq!(
        send(
            &sim,
            &token,
            reqwest::Method::POST,
            "/servicePrincipals",
            Some(json!({"appId": "no-such-app"}))
        )
        .await
        .0,
        400
    );
    // Deleting the app takes its service principal along.
    let app_object = app["id"].as_str().unwrap();
    assert_eq!(
        send(
            &sim,
            &token,
            reqwest::Method::DELETE,
            &format!("/applications/{app_object}"),
            None
        )
        .await
        .0,
        204
    );
    let sp_id = sp["id"].as_str().unwrap();
    assert_eq!(
        get(&sim, &token, &format!("/servicePrincipals/{sp_id}"))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn named_locations_and_conditional_access_policies_are_written() {
    let sim = EntraSimulator::start(small(20)).await.unwrap();
    let token = secret_token(&sim).await;
    let (status, location) = send(&sim, &token, reqwest::Method::POST, "/identity/conditionalAccess/namedLocations", Some(json!({
        "@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "Office", "isTrusted": true,
        "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "198.51.100.0/24"}],
    }))).await;
    assert_eq!(status, 201, "{location}");
    assert_eq!(
        send(
            &sim,
            &token,
            reqwest::Method::POST,
            "/identity/conditionalAccess/namedLocations",
            Some(json!({"displayName": "No type"}))
        )
        .await
        .0,
        400
    );
    let policy = json!({
        "displayName": "Restored policy", "state": "enabledForReportingButNotEnforced",
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}, "locations": {"includeLocations": [location["id"]]}},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
    });
    let (status, body) = send(
        &sim,
        &token,
        reqwest::Method::POST,
        "/identity/conditionalAccess/policies",
        Some(policy),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap();
    let (status, _) = send(
        &sim,
        &token,
        reqwest::Method::PATCH,
        &format!("/identity/conditionalAccess/policies/{id}"),
        Some(json!({"state": "sometimes"})),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = send(
        &sim,
        &token,
        reqwest::Method::PATCH,
        &format!("/identity/conditionalAccess/policies/{id}"),
        Some(json!({"state": "enabled"})),
    )
    .await;
    assert_eq!(status, 204);
    let (_, _, body) = get(
        &sim,
        &token,
        &format!("/identity/conditionalAccess/policies/{id}"),
    )
    .await;
    assert_eq!(body["state"], "enabled");
    assert!(body["modifiedDateTime"].is_string());
    // Policy.Read.All reads but does not write.
    sim.set_permissions(["Policy.Read.All"]);
    let token = secret_token(&sim).await;
    assert_eq!(
        send(
            &sim,
            &token,
            reqwest::Method::DELETE,
            &format!("/identity/conditionalAccess/policies/{id}"),
            None
        )
        .await
        .0,
        403
    );
}

async fn delta_round(sim: &EntraSimulator, token: &str, first: &str) -> (Vec<Value>, String) {
    let mut items = Vec::new();
    let mut next = first.to_owned();
    loop {
        let (status, _, body) = get(sim, token, &next).await;
        assert_eq!(status, 200, "{body}");
        items.extend(body["value"].as_array().unwrap().iter().cloned());
        if let Some(link) = body["@odata.nextLink"].as_str() {
            link.clone_into(&mut next);
        } else {
            return (items, body["@odata.deltaLink"].as_str().unwrap().to_owned());
        }
    }
}

#[tokio::test]
async fn delta_links_return_only_what_changed() {
    let sim = EntraSimulator::start(small(300)).await.unwrap();
    let token = secret_token(&sim).await;
    let (users, link) = delta_round(
        &sim,
        &token,
        "/users/delta?$select=id,displayName,jobTitle&$top=50",
    )
    .await;
    assert_eq!(users.len(), 300);
    assert!(link.contains("$deltatoken="));
    // Nothing changed yet.
    let (nothing, same_link) = delta_round(&sim, &token, &link).await;
    assert!(nothing.is_empty());

    let changed = sim.mutate(10.0);
    assert!(changed >= 30);
    let (changes, next) = delta_round(&sim, &token, &same_link).await;
    let mutated_users = changes.len();
    assert_eq!(mutated_users, 30);
    assert!(
        changes
            .iter()
            .all(|u| u["jobTitle"].as_str().unwrap().starts_with("Changed at"))
    );

    // A deleted user comes back as removed.
    let victim = users[0]["id"].as_str().unwrap();
    assert_eq!(
        send(
            &sim,
            &token,
            reqwest::Method::DELETE,
            &format!("/users/{victim}"),
            None
        )
        .await
        .0,
        204
    );
    let (changes, _) = delta_round(&sim, &token, &next).await;
    assert_eq!(
        changes,
        vec![json!({"id": victim, "@removed": {"reason": "changed"}})]
    );

    // Groups carry their members, then the member changes.
    let (groups, link) = delta_round(&sim, &token, "/groups/delta").await;
    assert_eq!(groups.len(), 12);
    let group = groups
        .iter()
        .find(|g| g["members@delta"].as_array().is_some_and(|m| !m.is_empty()))
        .unwrap();
    let gid = group["id"].as_str().unwrap();
    let member = group["members@delta"][0]["id"].as_str().unwrap();
    assert_eq!(
        send(
            &sim,
            &token,
            reqwest::Method::DELETE,
            &format!("/groups/{gid}/members/{member}/$ref"),
            None
        )
        .await
        .0,
        204
    );
    let (changes, _) = delta_round(&sim, &token, &link).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(
        changes[0]["members@delta"],
        json!([{"@odata.type": "#microsoft.graph.user", "id": member, "@removed": {"reason": "deleted"}}])
    );

    // Applications and service principals too.
    let (apps, _) = delta_round(&sim, &token, "/applications/delta").await;
    assert_eq!(apps.len(), 11);
    let (sps, _) = delta_round(&sim, &token, "/servicePrincipals/delta").await;
    assert_eq!(sps.len(), 12);
    let (status, _, _) = get(&sim, &token, "/users/delta?$deltatoken=garbage").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn faults_strike_and_the_admin_api_mutates_and_counts() {
    let sim = EntraSimulator::start(small(20)).await.unwrap();
    let token = secret_token(&sim).await;
    let mut rule = butterfly_providers::okta::simulator::FaultRule::new(
        butterfly_providers::okta::simulator::FaultKind::ServerError,
    );
    rule.count = Some(1);
    rule.status = Some(503);
    sim.add_faults([rule]);
    let (status, _, body) = get(&sim, &token, "/groups").await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "UnknownError");
    assert_eq!(get(&sim, &token, "/groups").await.0, 200);
    let mut rule = butterfly_providers::okta::simulator::FaultRule::new(
        butterfly_providers::okta::simulator::FaultKind::TruncatePage,
    );
    rule.count = Some(1);
    sim.add_faults([rule]);
    let (status, _, body) = get(&sim, &token, "/groups").await;
    assert_eq!((status, body), (200, Value::Null));

    let client = reqwest::Client::new();
    let body: Value = client
        .post(format!("{}/_sim/mutate", sim.graph_url()))
        .json(&json!({"percent": 50}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["changed"].as_u64().unwrap() > 10);
    let log: Value = client
        .get(format!("{}/_sim/requests", sim.graph_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log["total"].as_u64().unwrap(), sim.request_count());
    assert!(log["resource_units"].as_u64().unwrap() >= 2);
    let tenant: Value = client
        .get(format!("{}/_sim/tenant", sim.graph_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tenant["counts"]["user"], 20);
    assert_eq!(tenant["tenant_id"], sim.tenant_id());
}

#[tokio::test]
async fn secrets_never_appear_unless_the_canary_is_asked_for() {
    let plain = EntraSimulator::start(small(10)).await.unwrap();
    let token = secret_token(&plain).await;
    let (status, _, body) = get(&plain, &token, "/applications?$top=999").await;
    assert_eq!(status, 200);
    assert!(!body.to_string().contains(SECRET_CANARY));
    assert!(body["value"].as_array().unwrap().iter().any(|a| {
        a["passwordCredentials"]
            .as_array()
            .is_some_and(|p| !p.is_empty() && p[0]["secretText"].is_null())
    }));

    let mut tenant = small(10);
    tenant.secret_canary = true;
    let canary = EntraSimulator::start(tenant).await.unwrap();
    let token = secret_token(&canary).await;
    let (_, _, apps) = get(&canary, &token, "/applications?$top=999").await;
    assert!(apps.to_string().contains(SECRET_CANARY));
    let (_, _, providers) = get(&canary, &token, "/identity/identityProviders").await;
    assert!(providers.to_string().contains(SECRET_CANARY));
}

/// Graph's CSDL, reduced to what the shape test needs: per type (full name), its base
/// type and its properties (navigation properties included) with their types.
struct Csdl {
    types: std::collections::HashMap<String, (Option<String>, BTreeMap<String, String>)>,
}

fn full_name(name: &str) -> String {
    match name.strip_prefix("graph.") {
        Some(rest) => format!("microsoft.graph.{rest}"),
        None => name.to_owned(),
    }
}

impl Csdl {
    fn load() -> Csdl {
        use quick_xml::events::Event;
        let xml = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/msgraph-v1.0-metadata.xml"
        ))
        .unwrap();
        let mut reader = quick_xml::Reader::from_str(&xml);
        let mut types = std::collections::HashMap::new();
        let mut namespace = String::new();
        let mut current: Option<String> = None;
        let attr = |e: &quick_xml::events::BytesStart<'_>, name: &[u8]| {
            e.attributes()
                .flatten()
                .find(|a| a.key.as_ref() == name)
                .map(|a| String::from_utf8_lossy(&a.value).into_owned())
        };
        loop {
            let event = reader.read_event().unwrap();
            let (e, empty) = match &event {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::End(e) => {
                    if matches!(e.name().as_ref(), b"EntityType" | b"ComplexType") {
                        current = None;
                    }
                    continue;
                }
                Event::Eof => break,
                _ => continue,
            };
            match e.name().as_ref() {
                b"Schema" => namespace = attr(e, b"Namespace").unwrap_or_default(),
                b"EntityType" | b"ComplexType" => {
                    let name = format!("{namespace}.{}", attr(e, b"Name").unwrap());
                    types.insert(
                        name.clone(),
                        (attr(e, b"BaseType").map(|b| full_name(&b)), BTreeMap::new()),
                    );
                    current = (!empty).then_some(name);
                }
                b"Property" | b"NavigationProperty" => {
                    if let Some(owner) = &current {
                        let (name, ty) = (attr(e, b"Name").unwrap(), attr(e, b"Type").unwrap());
                        types.get_mut(owner).unwrap().1.insert(name, ty);
                    }
                }
                _ => {}
            }
        }
        Csdl { types }
    }

    fn chain(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut next = Some(name.to_owned());
        while let Some(n) = next {
            next = self.types.get(&n).and_then(|(b, _)| b.clone());
            out.push(n);
        }
        out
    }

    fn property(&self, type_name: &str, property: &str) -> Option<String> {
        self.chain(type_name).iter().find_map(|t| {
            self.types
                .get(t)
                .and_then(|(_, p)| p.get(property).cloned())
        })
    }

    /// Check every property of `value` against `type_name`, recursing into complex and
    /// entity values; push what is wrong onto `errors`.
    fn check(&self, type_name: &str, value: &Value, at: &str, errors: &mut Vec<String>) {
        let Value::Object(map) = value else { return };
        let mut ty = type_name.to_owned();
        if let Some(actual) = map.get("@odata.type").and_then(Value::as_str) {
            let actual = actual.trim_start_matches('#').to_owned();
            if !self.chain(&actual).contains(&ty) {
                errors.push(format!(
                    "{at}: @odata.type {actual} does not derive from {ty}"
                ));
                return;
            }
            ty = actual;
        }
        if !self.types.contains_key(&ty) {
            errors.push(format!("{at}: no type {ty} in the CSDL"));
            return;
        }
        for (key, v) in map {
            if key.contains('@') {
                continue;
            }
            let Some(prop_type) = self.property(&ty, key) else {
                errors.push(format!("{at}.{key}: not a property of {ty}"));
                continue;
            };
            let inner = prop_type
                .strip_prefix("Collection(")
                .and_then(|t| t.strip_suffix(')'))
                .unwrap_or(&prop_type);
            let inner = full_name(inner);
            if !self.types.contains_key(&inner) {
                continue;
            }
            match v {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.check(&inner, item, &format!("{at}.{key}[{i}]"), errors);
                    }
                }
                Value::Object(_) => self.check(&inner, v, &format!("{at}.{key}"), errors),
                _ => {}
            }
        }
    }
}

#[tokio::test]
async fn every_property_the_simulator_emits_is_on_its_type_in_graphs_csdl() {
    let csdl = Csdl::load();
    assert!(csdl.types.contains_key("microsoft.graph.user"));
    // The checker itself catches strangers, nested ones and wrong derived types.
    let mut caught = Vec::new();
    csdl.check(
        "microsoft.graph.user",
        &json!({"id": "x", "deletedDateTime": null, "notAProperty": 1, "identities": [{"issuer": "a", "bogus": 1}]}),
        "probe",
        &mut caught,
    );
    csdl.check(
        "microsoft.graph.namedLocation",
        &json!({"@odata.type": "#microsoft.graph.user", "id": "y"}),
        "probe",
        &mut caught,
    );
    assert_eq!(caught.len(), 3, "{caught:?}");
    let mut tenant = small(60);
    tenant.secret_canary = true;
    let sim = EntraSimulator::start(tenant).await.unwrap();
    let token = secret_token(&sim).await;
    let mut errors = Vec::new();
    let mut checked = 0;

    // Everything stored, every property.
    {
        let t = sim.tenant();
        for kind in kinds::all() {
            for (i, item) in t.items(kind.name).into_iter().enumerate() {
                csdl.check(
                    kind.entity_type,
                    item,
                    &format!("{}[{i}]", kind.name),
                    &mut errors,
                );
                checked += 1;
            }
        }
    }
    // Everything served over HTTP, every kind (members with their @odata.type).
    for kind in kinds::all() {
        // A parent whose listing is not empty.
        let parent = kind.parent.map(|p| {
            let t = sim.tenant();
            if kind.id == IdRule::Member {
                t.objects_of(p.kind)
                    .map(|(id, _)| id.clone())
                    .find(|id| !t.members_of(kind.name, id).is_empty())
                    .unwrap()
            } else if kind.name == "app_role_assignment" {
                t.items(kind.name)[0]["resourceId"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            } else {
                t.objects_of(p.kind)
                    .next()
                    .map(|(id, _)| id.clone())
                    .unwrap()
            }
        });
        let path = kind.path_for(parent.as_deref());
        let (status, _, body) = get(&sim, &token, &path).await;
        assert_eq!(status, 200, "{}: {body}", kind.name);
        assert!(body["@odata.context"].is_string(), "{}", kind.name);
        let items: Vec<Value> = match kind.shape {
            Shape::Singleton => vec![body.clone()],
            _ => body["value"].as_array().unwrap().clone(),
        };
        assert!(!items.is_empty(), "{} is empty", kind.name);
        for (i, item) in items.iter().enumerate() {
            csdl.check(
                kind.entity_type,
                item,
                &format!("GET {path}[{i}]"),
                &mut errors,
            );
        }
    }
    // Created objects too.
    let (status, _) = send(
        &sim,
        &token,
        reqwest::Method::POST,
        "/applications",
        Some(json!({"displayName": "Shape"})),
    )
    .await;
    assert_eq!(status, 201);
    let t = sim.tenant();
    let created = t
        .items("application")
        .into_iter()
        .find(|a| a["displayName"] == "Shape")
        .unwrap();
    csdl.check(
        "microsoft.graph.application",
        created,
        "created application",
        &mut errors,
    );
    assert!(checked > 200, "{checked}");
    assert!(
        errors.is_empty(),
        "{} properties off the CSDL:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[tokio::test]
async fn the_binary_writes_the_credentials_a_client_signs_in_with() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("creds").join("entra.json");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_butterfly-entra-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "3",
            "--users",
            "40",
            "--groups",
            "4",
            "--apps",
            "3",
        ])
        .arg("--write-credentials")
        .arg(&creds)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    // The binary prints the lower bound once the credentials are written and it serves.
    let stdout = child.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        use std::io::BufRead as _;
        std::io::BufReader::new(stdout)
            .lines()
            .next()
            .unwrap()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(line.starts_with("Full-backup lower bound: "), "{line}");
    let body: Value = serde_json::from_slice(&std::fs::read(&creds).unwrap()).unwrap();
    for field in [
        "graph_url",
        "authority_url",
        "tenant_id",
        "client_id",
        "client_secret_file",
        "certificate_file",
        "private_key_file",
    ] {
        assert!(body[field].is_string(), "{field} missing: {body}");
    }
    let secret = std::fs::read_to_string(body["client_secret_file"].as_str().unwrap()).unwrap();
    let certificate = std::fs::read_to_string(body["certificate_file"].as_str().unwrap()).unwrap();
    let key = std::fs::read_to_string(body["private_key_file"].as_str().unwrap()).unwrap();
    assert!(certificate.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    let token_url = format!(
        "{}/{}/oauth2/v2.0/token",
        body["authority_url"].as_str().unwrap(),
        body["tenant_id"].as_str().unwrap()
    );
    let client = reqwest::Client::new();
    let token: Value = client
        .post(&token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", body["client_id"].as_str().unwrap()),
            ("client_secret", secret.trim()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let users: Value = client
        .get(format!(
            "{}/v1.0/users?$top=999",
            body["graph_url"].as_str().unwrap()
        ))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users["value"].as_array().unwrap().len(), 40);
    assert!(thumbprint_matches(&certificate, &key));
}

/// The simulator process dies with the test, passed or failed.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The certificate file holds the public half of the key file.
fn thumbprint_matches(certificate: &str, key: &str) -> bool {
    use rsa::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(key).unwrap();
    let spki = key.to_public_key().to_public_key_der().unwrap();
    let body: String = certificate
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = STANDARD.decode(body).unwrap();
    let found = der
        .windows(spki.as_bytes().len())
        .any(|w| w == spki.as_bytes());
    assert!(
        found,
        "the certificate does not carry the key's public half"
    );
    found
}

#[tokio::test]
async fn a_walk_of_every_kind_at_the_largest_pages_spends_exactly_the_lower_bound() {
    let sim = EntraSimulator::start(small(700)).await.unwrap();
    let token = secret_token(&sim).await;
    sim.reset_request_log();
    let bound = sim.lower_bound();
    let mut requests = 0u64;
    let mut units = 0u64;
    for kind in kinds::all() {
        let parents: Vec<Option<String>> = match kind.parent {
            Some(p) => sim
                .tenant()
                .objects_of(p.kind)
                .map(|(id, _)| Some(id.clone()))
                .collect(),
            None => vec![None],
        };
        for parent in parents {
            let path = kind.path_for(parent.as_deref());
            let mut next = Some(match kind.shape {
                Shape::Collection { max_top: Some(max) } => format!("{path}?$top={max}&$select=id"),
                _ => format!("{path}?$select=id"),
            });
            while let Some(url) = next {
                let (status, headers, body) = get(&sim, &token, &url).await;
                assert_eq!(status, 200, "{url}: {body}");
                requests += 1;
                units += headers["x-ms-resource-unit"]
                    .to_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap();
                next = body["@odata.nextLink"].as_str().map(str::to_owned);
            }
        }
    }
    assert_eq!(requests, bound.requests);
    assert_eq!(units, bound.resource_units);
    assert_eq!(sim.resource_units_spent(), units);
    // The users took one page of 999 at one unit each.
    assert_eq!(bound.kinds["user"].requests, 1);
}
