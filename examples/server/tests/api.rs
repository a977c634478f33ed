//! The JSON API over a real SQLite store, driven in-process with `oneshot`.

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use butterfly_core::store::{ApiKeyStore, TeamStore};
use butterfly_core::{Permission, Role, TeamId};
use butterfly_server::app::{AppState, bootstrap, build_router, open_state};
use butterfly_server::config::Config;
use butterfly_server::rbac::Access;
use serde_json::{Value, json};
use tower::ServiceExt;

mod support;

struct TestServer {
    state: AppState,
    router: Router,
    super_key: String,
    team: TeamId,
    _dir: tempfile::TempDir,
}

async fn server() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let state = open_state(&Config::for_data_dir(dir.path())).await.unwrap();
    let (team, key) = bootstrap(&state)
        .await
        .unwrap()
        .expect("fresh database bootstraps");
    TestServer {
        router: build_router(state.clone()),
        state,
        super_key: key.secret().to_owned(),
        team: team.id,
        _dir: dir,
    }
}

impl TestServer {
    async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        support::call(&self.router, method, path, key, body).await
    }

    async fn key_with_role(&self, team: TeamId, role: Role) -> String {
        let (_, raw) = self
            .state
            .store
            .create_api_key(team, "test", role, None)
            .await
            .unwrap();
        raw.secret().to_owned()
    }
}

#[tokio::test]
async fn health_and_readiness_need_no_key() {
    let s = server().await;
    assert_eq!(
        s.call(Method::GET, "/healthz", None, None).await,
        (StatusCode::OK, json!({"status": "ok"}))
    );
    assert_eq!(
        s.call(Method::GET, "/readyz", None, None).await,
        (StatusCode::OK, json!({"status": "ready"}))
    );
}

#[tokio::test]
async fn bootstrap_happens_once() {
    let s = server().await;
    assert!(bootstrap(&s.state).await.unwrap().is_none());
    assert_eq!(s.state.store.list_teams().await.unwrap().len(), 1);
}

#[tokio::test]
async fn requests_without_a_valid_key_get_401_json() {
    let s = server().await;
    for key in [None, Some("bfs_api_wrong"), Some("")] {
        let (status, body) = s.call(Method::GET, "/api/v1/members", key, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{key:?}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    // A non-Bearer scheme is refused too.
    let req = Request::get("/api/v1/members")
        .header("authorization", format!("Basic {}", s.super_key))
        .body(Body::empty())
        .unwrap();
    let res = s.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().contains_key("www-authenticate"));
}

/// Every declared route, called by every role: allowed roles get past the guard, the
/// others get 403 naming the permission. Routes and matrix come from the code under
/// test, the expectations from `Role::allows`, which has its own 85-cell table test.
#[tokio::test]
async fn every_route_enforces_the_permission_matrix() {
    let s = server().await;
    let declared = butterfly_server::routes::api(s.state.clone())
        .declared()
        .to_vec();
    assert!(declared.len() >= 13);
    // The snapshot contents routes are in the matrix, each under its own permission.
    for (path, permission) in [
        ("/snapshots/{id}/resources", Permission::ViewBackupContents),
        (
            "/snapshots/{id}/resources/{kind}/{*resource_id}",
            Permission::ViewBackupContents,
        ),
        ("/snapshots/{id}/download", Permission::DownloadBackups),
    ] {
        assert!(
            declared.iter().any(
                |(method, p, access)| *method == axum::routing::MethodFilter::GET
                    && *p == path
                    && *access == Access::Requires(permission)
            ),
            "{path} is not declared under {permission}"
        );
    }
    for role in Role::ALL {
        let key = s.key_with_role(s.team, role).await;
        for (method, path, access) in &declared {
            let method = [
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ]
            .into_iter()
            .find(|m| axum::routing::MethodFilter::try_from(m.clone()).unwrap() == *method)
            .unwrap();
            let uri = format!(
                "/api/v1{}",
                path.replace("{id}", &uuid::Uuid::new_v4().to_string())
                    .replace("{kind}", "user")
                    .replace("{*resource_id}", "00u1")
            );
            let (status, body) = s
                .call(method.clone(), &uri, Some(&key), Some(json!({})))
                .await;
            match access {
                Access::Requires(p) if !role.allows(*p) => {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{role} {method} {uri}");
                    assert_eq!(
                        body["error"]["permission"],
                        json!(p),
                        "{role} {method} {uri}"
                    );
                }
                _ => assert!(
                    status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                    "{role} {method} {uri} got {status}"
                ),
            }
        }
    }
}

#[tokio::test]
async fn members_lifecycle_and_last_super_admin_guard() {
    let s = server().await;
    let k = Some(s.super_key.as_str());
    let (status, alice) = s
        .call(
            Method::POST,
            "/api/v1/members",
            k,
            Some(json!({"email": "alice@example.com", "role": "super_admin"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{alice}");
    let (status, bob) = s
        .call(
            Method::POST,
            "/api/v1/members",
            k,
            Some(json!({"email": "bob@example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(bob["role"], "read_only");

    let (status, body) = s
        .call(
            Method::POST,
            "/api/v1/members",
            k,
            Some(json!({"email": "ALICE@example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let (_, list) = s.call(Method::GET, "/api/v1/members", k, None).await;
    assert_eq!(list.as_array().unwrap().len(), 2);

    let alice_path = format!("/api/v1/members/{}", alice["id"].as_str().unwrap());
    // Alice is the only super_admin member: she can be neither demoted, suspended nor removed.
    for change in [json!({"role": "admin"}), json!({"active": false})] {
        let (status, body) = s.call(Method::PATCH, &alice_path, k, Some(change)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
    }
    assert_eq!(
        s.call(Method::DELETE, &alice_path, k, None).await.0,
        StatusCode::CONFLICT
    );

    // With a second super_admin, she can.
    let bob_path = format!("/api/v1/members/{}", bob["id"].as_str().unwrap());
    let (status, bob) = s
        .call(
            Method::PATCH,
            &bob_path,
            k,
            Some(json!({"role": "super_admin"})),
        )
        .await;
    assert_eq!(
        (status, bob["role"].clone()),
        (StatusCode::OK, json!("super_admin"))
    );
    let (status, alice) = s
        .call(
            Method::PATCH,
            &alice_path,
            k,
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(
        (status, alice["active"].clone()),
        (StatusCode::OK, json!(false))
    );
    assert_eq!(
        s.call(Method::DELETE, &alice_path, k, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.call(Method::GET, &alice_path, k, None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn api_keys_are_shown_once_and_revocation_is_immediate() {
    let s = server().await;
    let k = Some(s.super_key.as_str());
    let (status, created) = s
        .call(
            Method::POST,
            "/api/v1/api-keys",
            k,
            Some(json!({"name": "ci", "role": "backup_operator"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("bfs_api_"));

    let (status, me) = s.call(Method::GET, "/api/v1/me", Some(&secret), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["role"], "backup_operator");
    assert!(
        me["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("run_backups"))
    );

    let (_, list) = s.call(Method::GET, "/api/v1/api-keys", k, None).await;
    assert!(
        !list.to_string().contains(&secret),
        "a list never shows a secret"
    );

    let id = created["api_key"]["id"].as_str().unwrap();
    assert_eq!(
        s.call(Method::DELETE, &format!("/api/v1/api-keys/{id}"), k, None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.call(Method::GET, "/api/v1/me", Some(&secret), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.call(Method::DELETE, &format!("/api/v1/api-keys/{id}"), k, None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn teams_never_see_each_other() {
    let s = server().await;
    let k = Some(s.super_key.as_str());
    let (_, alice) = s
        .call(
            Method::POST,
            "/api/v1/members",
            k,
            Some(json!({"email": "alice@a.example"})),
        )
        .await;
    let other = s.state.store.create_team("other").await.unwrap();
    let other_key = s.key_with_role(other.id, Role::SuperAdmin).await;
    let o = Some(other_key.as_str());

    let (_, list) = s.call(Method::GET, "/api/v1/members", o, None).await;
    assert_eq!(list, json!([]));
    let alice_path = format!("/api/v1/members/{}", alice["id"].as_str().unwrap());
    assert_eq!(
        s.call(Method::GET, &alice_path, o, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.call(
            Method::PATCH,
            &alice_path,
            o,
            Some(json!({"role": "admin"}))
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.call(Method::DELETE, &alice_path, o, None).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, keys) = s.call(Method::GET, "/api/v1/api-keys", k, None).await;
    let first_key_id = keys[0]["id"].as_str().unwrap();
    assert_eq!(
        s.call(
            Method::DELETE,
            &format!("/api/v1/api-keys/{first_key_id}"),
            o,
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    // Alice is untouched.
    let (status, still) = s.call(Method::GET, &alice_path, k, None).await;
    assert_eq!(
        (status, still["role"].clone()),
        (StatusCode::OK, json!("read_only"))
    );
}

#[tokio::test]
async fn bad_input_gets_precise_json_errors() {
    let s = server().await;
    let k = Some(s.super_key.as_str());
    let req = Request::post("/api/v1/members")
        .header("authorization", format!("Bearer {}", s.super_key))
        .header("content-type", "application/json")
        .body(Body::from("{\"email\": "))
        .unwrap();
    let res = s.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    for (path, body) in [
        (
            "/api/v1/members",
            json!({"email": "x@example.com", "rol": "admin"}),
        ),
        ("/api/v1/members", json!({"email": "no-at-sign"})),
        ("/api/v1/api-keys", json!({"name": "x", "role": "owner"})),
        ("/api/v1/api-keys", json!({"name": "  ", "role": "admin"})),
    ] {
        let (status, err) = s.call(Method::POST, path, k, Some(body.clone())).await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{body} -> {status}"
        );
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{err}"
        );
    }
    let (status, err) = s
        .call(Method::GET, "/api/v1/members/not-a-uuid", k, None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["code"], "bad_request");
    let (status, err) = s.call(Method::GET, "/api/v1/nope", k, None).await;
    assert_eq!(
        (status, err["error"]["code"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );

    let huge = "x".repeat(2 * 1024 * 1024);
    let (status, _) = s
        .call(
            Method::POST,
            "/api/v1/members",
            k,
            Some(json!({"email": huge})),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn sso_settings_and_initiation_refuse_bad_input_with_json_errors() {
    let s = server().await;
    let k = Some(s.super_key.as_str());
    // The issuer must be https (http only on loopback, for development providers).
    for issuer in [
        "http://idp.example.com",
        "ftp://idp.example.com",
        "idp.example.com",
        "https://idp.example.com/?q=1",
        "",
    ] {
        let (status, body) = s
            .call(
                Method::PUT,
                "/api/v1/sso",
                k,
                Some(json!({
                    "issuer": issuer,
                    "client_id": "butterfly",
                    "client_secret": "s3cret",
                    "domains": ["example.com"],
                })),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{issuer}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("issuer"),
            "{issuer}: {body}"
        );
    }
    let (status, _) = s.call(Method::GET, "/api/v1/sso", k, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was saved");

    // Third-party initiated login: a form body that is not UTF-8, no `iss`, an issuer
    // nobody configured.
    let req = Request::post("/auth/sso/initiate")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(vec![b'i', b's', b's', b'=', 0xff, 0xfe]))
        .unwrap();
    let (status, body) = support::send(&s.router, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("UTF-8"),
        "{body}"
    );
    for query in [
        "",
        "?login_hint=a%40example.com",
        "?iss=https%3A%2F%2Funknown.example.com",
    ] {
        let (status, body) = s
            .call(
                Method::GET,
                &format!("/auth/sso/initiate{query}"),
                None,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(body["error"]["message"].is_string(), "{query}: {body}");
    }
}
