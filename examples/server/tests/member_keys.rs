//! API keys belong to the member who created them: suspending that member over SCIM
//! refuses the key at once.

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use butterfly_core::store::{MemberStore, NewSession, ScimTokenStore, SessionStore};
use butterfly_server::app::{BOOTSTRAP_EMAIL, bootstrap, build_router, open_state};
use butterfly_server::config::Config;
use chrono::Utc;
use serde_json::json;

mod support;

#[tokio::test]
async fn a_members_key_is_refused_once_scim_suspends_the_member() {
    let dir = tempfile::tempdir().unwrap();
    let state = open_state(&Config::for_data_dir(dir.path())).await.unwrap();
    let (team, _) = bootstrap(&state).await.unwrap().unwrap();
    let router = build_router(state.clone());
    let (_, scim_token) = state
        .store
        .create_scim_token(team.id, "okta")
        .await
        .unwrap();
    let scim = |method: Method, path: String, body: serde_json::Value| {
        Request::builder()
            .method(method)
            .uri(format!("/scim/v2{path}"))
            .header("authorization", format!("Bearer {}", scim_token.secret()))
            .header("content-type", "application/scim+json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };

    // Okta provisions two super_admins (so one may be suspended).
    let mut ids = Vec::new();
    for email in ["root@example.com", "ada@example.com"] {
        let (status, user) = support::send(
            &router,
            scim(
                Method::POST,
                "/Users".into(),
                json!({
                    "schemas": [
                        "urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:butterfly:2.0:User"
                    ],
                    "userName": email,
                    "emails": [{"primary": true, "value": email}],
                    "urn:ietf:params:scim:schemas:extension:butterfly:2.0:User": {"butterflyRole": "super_admin"},
                }),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        ids.push(user["id"].as_str().unwrap().to_owned());
    }

    // Ada signs in and creates a key.
    let ada = state
        .store
        .member_by_email(team.id, "ada@example.com")
        .await
        .unwrap()
        .unwrap();
    let (_, cookie) = state
        .store
        .create_session(NewSession {
            team_id: team.id,
            member_id: ada.id,
            idp_sid: None,
            idp_sub: None,
            expires_at: Utc::now() + chrono::TimeDelta::hours(1),
        })
        .await
        .unwrap();
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/api-keys")
        .header("cookie", format!("bf_session={}", cookie.secret()))
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"name": "ada's laptop", "role": "admin"}).to_string(),
        ))
        .unwrap();
    let (status, created) = support::send(&router, request).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["api_key"]["member_id"], json!(ada.id.to_string()));
    let key = created["secret"].as_str().unwrap().to_owned();
    let list = || async {
        support::call(&router, Method::GET, "/api/v1/backups", Some(&key), None)
            .await
            .0
    };
    assert_eq!(list().await, StatusCode::OK);

    // Okta deactivates Ada: her key is refused on the next request.
    let (status, body) = support::send(
        &router,
        scim(
            Method::PATCH,
            format!("/Users/{}", ids[1]),
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "active", "value": false}],
            }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(list().await, StatusCode::UNAUTHORIZED);
}

/// Issue 11, finding 6: every key has an owner. The first-start key is the bootstrap
/// member's (listed with the members); a key made through it is too; a service key
/// names its service and its creator and outlives them; a SCIM DELETE and a REST
/// suspension revoke the member's keys.
#[tokio::test]
async fn every_key_has_an_owner_and_goes_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let state = open_state(&Config::for_data_dir(dir.path())).await.unwrap();
    let (team, boot) = bootstrap(&state).await.unwrap().unwrap();
    let boot = boot.secret().to_owned();
    let router = build_router(state.clone());
    let api = |method: Method, path: &str, key: &str, body: Option<serde_json::Value>| {
        let router = router.clone();
        let path = format!("/api/v1{path}");
        let key = key.to_owned();
        async move { support::call(&router, method, &path, Some(&key), body).await }
    };

    // The bootstrap member is listed, and owns the first-start key.
    let (_, members) = api(Method::GET, "/members", &boot, None).await;
    let members = members.as_array().unwrap().clone();
    assert_eq!(members.len(), 1, "{members:?}");
    let bootstrap_member = &members[0];
    assert_eq!(bootstrap_member["email"], BOOTSTRAP_EMAIL);
    assert_eq!(bootstrap_member["display_name"], "bootstrap");
    assert_eq!(bootstrap_member["role"], "super_admin");
    let bootstrap_id = bootstrap_member["id"].as_str().unwrap().to_owned();
    let (_, keys) = api(Method::GET, "/api-keys", &boot, None).await;
    assert_eq!(keys[0]["member_id"], json!(bootstrap_id), "{keys}");
    assert_eq!(keys[0]["service"], json!(null), "{keys}");

    // A key made with it belongs to the bootstrap member too.
    let (status, made) = api(
        Method::POST,
        "/api-keys",
        &boot,
        Some(json!({"name": "ops", "role": "super_admin"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["api_key"]["member_id"], json!(bootstrap_id));
    let ops = made["secret"].as_str().unwrap().to_owned();

    // Okta provisions Ada and Ben, both super_admins.
    let (_, scim_token) = state
        .store
        .create_scim_token(team.id, "okta")
        .await
        .unwrap();
    let scim = |method: Method, path: String, body: serde_json::Value| {
        Request::builder()
            .method(method)
            .uri(format!("/scim/v2{path}"))
            .header("authorization", format!("Bearer {}", scim_token.secret()))
            .header("content-type", "application/scim+json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let mut scim_ids = Vec::new();
    for (email, role) in [
        ("ada@example.com", "super_admin"),
        ("ben@example.com", "super_admin"),
    ] {
        let (status, user) = support::send(
            &router,
            scim(
                Method::POST,
                "/Users".into(),
                json!({
                    "schemas": [
                        "urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:butterfly:2.0:User"
                    ],
                    "userName": email,
                    "emails": [{"primary": true, "value": email}],
                    "urn:ietf:params:scim:schemas:extension:butterfly:2.0:User": {"butterflyRole": role},
                }),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        scim_ids.push(user["id"].as_str().unwrap().to_owned());
    }
    let ben = state
        .store
        .member_by_email(team.id, "ben@example.com")
        .await
        .unwrap()
        .unwrap();

    // Ben signs in and makes his own key and a service key for CI.
    let (_, cookie) = state
        .store
        .create_session(NewSession {
            team_id: team.id,
            member_id: ben.id,
            idp_sid: None,
            idp_sub: None,
            expires_at: Utc::now() + chrono::TimeDelta::hours(1),
        })
        .await
        .unwrap();
    let as_ben = |body: serde_json::Value| {
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/api-keys")
            .header("cookie", format!("bf_session={}", cookie.secret()))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let (status, own) =
        support::send(&router, as_ben(json!({"name": "laptop", "role": "admin"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{own}");
    assert_eq!(own["api_key"]["member_id"], json!(ben.id.to_string()));
    assert_eq!(own["api_key"]["created_by"], json!(ben.id.to_string()));
    let (status, ci) = support::send(
        &router,
        as_ben(json!({"name": "deploys", "role": "super_admin", "service": "github-actions"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ci}");
    assert_eq!(ci["api_key"]["member_id"], json!(null));
    assert_eq!(ci["api_key"]["service"], json!("github-actions"));
    assert_eq!(ci["api_key"]["created_by"], json!(ben.id.to_string()));
    let own = own["secret"].as_str().unwrap().to_owned();
    let ci = ci["secret"].as_str().unwrap().to_owned();

    // A service key acts for nobody, so it may only make service keys.
    let (status, body) = api(
        Method::POST,
        "/api-keys",
        &ci,
        Some(json!({"name": "x", "role": "read_only"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = api(
        Method::POST,
        "/api-keys",
        &ci,
        Some(json!({"name": "x", "role": "read_only", "service": "nightly"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Owned by whoever answers for the key that made it: Ben.
    assert_eq!(body["api_key"]["created_by"], json!(ben.id.to_string()));

    // Okta deletes Ben: his key is refused, the service key he made is not.
    let (status, body) = support::send(
        &router,
        scim(Method::DELETE, format!("/Users/{}", scim_ids[1]), json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        api(Method::GET, "/backups", &own, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api(Method::GET, "/backups", &ci, None).await.0,
        StatusCode::OK
    );

    // With Ada holding super_admin, the bootstrap member is suspended over REST: the
    // first-start key and the key made with it stop at once.
    let (status, body) = api(
        Method::PATCH,
        &format!("/members/{bootstrap_id}"),
        &ops,
        Some(json!({"active": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for key in [&boot, &ops] {
        assert_eq!(
            api(Method::GET, "/backups", key, None).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
}
