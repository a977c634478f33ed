//! API keys belong to the member who created them: suspending that member over SCIM
//! refuses the key at once.

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use butterfly_core::store::{MemberStore, NewSession, ScimTokenStore, SessionStore};
use butterfly_server::app::{bootstrap, build_router, open_state};
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
