//! The audit trail (issue 11): each audited action leaves exactly one entry naming its
//! actor and request, no entry holds a secret, teams see only their own entries, and
//! `GET /api/v1/audit` needs manage_team_settings (the RBAC matrix test in api.rs covers
//! every role; this checks the row here too).

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use butterfly_core::Role;
use butterfly_core::store::{ApiKeyStore, AuditStore, TeamStore};
use butterfly_providers::okta::simulator::generate_client_key;
use butterfly_server::app::{bootstrap, build_router, open_state};
use butterfly_server::config::Config;
use serde_json::{Value, json};
use tower::ServiceExt;

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_audited_action_leaves_one_entry_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let state = open_state(&Config::for_data_dir(dir.path())).await.unwrap();
    let (team, boot) = bootstrap(&state).await.unwrap().unwrap();
    let boot = boot.secret().to_owned();
    let router = build_router(state.clone());
    let call = |method: Method, path: String, key: String, body: Option<Value>| {
        let router = router.clone();
        async move { support::call(&router, method, &format!("/api/v1{path}"), Some(&key), body).await }
    };
    let mut secrets = vec![boot.clone()];

    // API keys: created (with our own request id), then revoked.
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/api-keys")
        .header("authorization", format!("Bearer {boot}"))
        .header("content-type", "application/json")
        .header("x-request-id", "req-create-key")
        .body(Body::from(
            json!({"name": "laptop", "role": "admin"}).to_string(),
        ))
        .unwrap();
    let answer = router.clone().oneshot(request).await.unwrap();
    assert_eq!(answer.status(), StatusCode::CREATED);
    assert_eq!(answer.headers()["x-request-id"], "req-create-key");
    let bytes = http_body_util::BodyExt::collect(answer.into_body())
        .await
        .unwrap()
        .to_bytes();
    let created: Value = serde_json::from_slice(&bytes).unwrap();
    secrets.push(created["secret"].as_str().unwrap().to_owned());
    let key_id = created["api_key"]["id"].as_str().unwrap().to_owned();
    let (status, _) = call(
        Method::DELETE,
        format!("/api-keys/{key_id}"),
        boot.clone(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Revoking it again changes nothing, and records nothing.
    let (status, _) = call(
        Method::DELETE,
        format!("/api-keys/{key_id}"),
        boot.clone(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Members over REST: created, role changed, suspended.
    let (status, ada) = call(
        Method::POST,
        "/members".into(),
        boot.clone(),
        Some(json!({"email": "ada@example.com", "role": "admin"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ada}");
    let ada_path = format!("/members/{}", ada["id"].as_str().unwrap());
    for change in [json!({"role": "auditor"}), json!({"active": false})] {
        let (status, body) =
            call(Method::PATCH, ada_path.clone(), boot.clone(), Some(change)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // SCIM: a token, a User provisioned then deactivated, the group-role mapping.
    let (status, token) = call(
        Method::POST,
        "/scim-tokens".into(),
        boot.clone(),
        Some(json!({"name": "okta"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    let scim_secret = token["secret"].as_str().unwrap().to_owned();
    secrets.push(scim_secret.clone());
    let scim = |method: Method, path: String, body: Value, bearer: String| {
        let router = router.clone();
        async move {
            let request = Request::builder()
                .method(method)
                .uri(format!("/scim/v2{path}"))
                .header("authorization", format!("Bearer {bearer}"))
                .header("content-type", "application/scim+json")
                .body(Body::from(body.to_string()))
                .unwrap();
            support::send(&router, request).await
        }
    };
    let (status, ben) = scim(
        Method::POST,
        "/Users".into(),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ben@example.com",
            "emails": [{"primary": true, "value": "ben@example.com"}],
        }),
        scim_secret.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ben}");
    let (status, body) = scim(
        Method::PATCH,
        format!("/Users/{}", ben["id"].as_str().unwrap()),
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}],
        }),
        scim_secret.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(
        Method::PUT,
        "/scim/group-roles".into(),
        boot.clone(),
        Some(json!({"Admins": "admin"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // SSO configured, then removed.
    let sso_secret = "sso-client-secret-d41d8cd98f00";
    secrets.push(sso_secret.to_owned());
    let (status, body) = call(
        Method::PUT,
        "/sso".into(),
        boot.clone(),
        Some(json!({"issuer": "https://idp.example.com", "client_id": "butterfly", "client_secret": sso_secret, "domains": ["example.com"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = call(Method::DELETE, "/sso".into(), boot.clone(), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // A connection created and deleted; another backed up (queued: no worker runs here).
    let (pem, _) = generate_client_key().unwrap();
    secrets.extend(
        pem.lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 20)
            .map(str::to_owned),
    );
    let mut connection_ids = Vec::new();
    for name in ["gone", "kept"] {
        let (status, body) = call(
            Method::POST,
            "/connections".into(),
            boot.clone(),
            Some(json!({"name": name, "org_url": "https://example.okta.com", "client_id": "0oa1", "private_key": pem})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        connection_ids.push(body["id"].as_str().unwrap().to_owned());
    }
    let (status, _) = call(
        Method::DELETE,
        format!("/connections/{}", connection_ids[0]),
        boot.clone(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = call(
        Method::POST,
        "/backups".into(),
        boot.clone(),
        Some(json!({"connection_id": connection_ids[1]})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    // Refused: a key nobody has (API and SCIM), and a valid key without the permission.
    let bogus = "bfs_api_0123456789abcdefghijklmnopqrstuv".to_owned();
    secrets.push(bogus.clone());
    assert_eq!(
        call(Method::GET, "/members".into(), bogus.clone(), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        scim(Method::GET, "/Users".into(), json!({}), bogus.clone())
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (_, auditor) = state
        .store
        .create_service_api_key(team.id, "auditor", Role::Auditor, "tests", None)
        .await
        .unwrap();
    secrets.push(auditor.secret().to_owned());
    assert_eq!(
        call(
            Method::GET,
            "/audit".into(),
            auditor.secret().to_owned(),
            None
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );

    // Another team's doings stay in its own trail.
    let other = state.store.create_team("other").await.unwrap();
    let (_, other_key) = state
        .store
        .create_service_api_key(other.id, "root", Role::SuperAdmin, "tests", None)
        .await
        .unwrap();
    secrets.push(other_key.secret().to_owned());
    let (status, _) = call(
        Method::POST,
        "/api-keys".into(),
        other_key.secret().to_owned(),
        Some(json!({"name": "theirs", "role": "auditor", "service": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, trail) = call(Method::GET, "/audit".into(), boot.clone(), None).await;
    assert_eq!(status, StatusCode::OK, "{trail}");
    let lines = trail.as_array().unwrap();
    let actions: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            let actor = l["actor"].as_str().unwrap();
            (
                l["action"].as_str().unwrap(),
                actor.split(':').next().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("member.created", "system"), // the bootstrap member, at first start
            ("api_key.created", "api_key"),
            ("api_key.revoked", "api_key"),
            ("member.created", "api_key"),
            ("member.role_changed", "api_key"),
            ("member.suspended", "api_key"),
            ("scim_token.created", "api_key"),
            ("member.created", "scim_token"),
            ("member.suspended", "scim_token"),
            ("scim.group_roles_set", "api_key"),
            ("sso.configured", "api_key"),
            ("sso.deleted", "api_key"),
            ("connection.created", "api_key"),
            ("connection.created", "api_key"),
            ("connection.deleted", "api_key"),
            ("backup.queued", "api_key"),
            ("auth.forbidden", "api_key"),
        ],
        "{trail:#}"
    );
    assert_eq!(lines[1]["request_id"], "req-create-key");
    assert!(
        lines[1..].iter().all(|l| l["request_id"].is_string()),
        "{trail:#}"
    );
    assert_eq!(lines[16]["outcome"], "denied");
    assert_eq!(lines[16]["detail"]["permission"], "manage_team_settings");

    // The failed authentications belong to no team.
    let teamless = state.store.list_audit(None, None).await.unwrap();
    let failed: Vec<(&str, &str)> = teamless
        .iter()
        .map(|l| (l.action.as_str(), l.detail["via"].as_str().unwrap()))
        .collect();
    assert_eq!(failed, [("auth.failed", "api"), ("auth.failed", "scim")]);

    // No secret anywhere in any trail.
    let other_trail = state.store.list_audit(Some(other.id), None).await.unwrap();
    let everything = format!(
        "{trail} {} {}",
        serde_json::to_string(&teamless).unwrap(),
        serde_json::to_string(&other_trail).unwrap()
    );
    for secret in &secrets {
        assert!(
            !everything.contains(secret.as_str()),
            "a secret is in the trail"
        );
    }

    // Teams see only their own lines.
    let (_, theirs) = call(
        Method::GET,
        "/audit".into(),
        other_key.secret().to_owned(),
        None,
    )
    .await;
    let theirs = theirs.as_array().unwrap();
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert_eq!(theirs[0]["action"], "api_key.created");
    assert!(!trail.to_string().contains(&other.id.to_string()));

    // `since` filters; a bad one is a 400.
    let last = lines.last().unwrap()["at"].as_str().unwrap();
    let (_, recent) = call(
        Method::GET,
        format!("/audit?since={}", last.replace('+', "%2B")),
        boot.clone(),
        None,
    )
    .await;
    assert!(!recent.as_array().unwrap().is_empty(), "{recent}");
    let (_, none) = call(
        Method::GET,
        "/audit?since=2999-01-01T00:00:00Z".into(),
        boot.clone(),
        None,
    )
    .await;
    assert_eq!(none, json!([]));
    let (status, _) = call(
        Method::GET,
        "/audit?since=yesterday".into(),
        boot.clone(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
