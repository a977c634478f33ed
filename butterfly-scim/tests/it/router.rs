//! The axum router: authentication, base URLs, body limits.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use butterfly_core::TeamId;
use butterfly_scim::axum::{TokenAuthenticator, router, router_with_base_url};
use butterfly_scim::{MemoryStore, ScimConfig, ScimService};
use http::Request;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

struct Tokens(Vec<(&'static str, TeamId)>);

impl TokenAuthenticator for Tokens {
    async fn authenticate(&self, token: &str) -> Option<TeamId> {
        self.0
            .iter()
            .find(|(t, _)| *t == token)
            .map(|(_, team)| *team)
    }
}

fn app(config: ScimConfig) -> (Router, TeamId, TeamId) {
    let (a, b) = (TeamId::new_random(), TeamId::new_random());
    let service = Arc::new(ScimService::with_config(MemoryStore::new(), config));
    let scim = router(service, Tokens(vec![("token-a", a), ("token-b", b)]));
    (Router::new().nest("/scim/v2", scim), a, b)
}

async fn send(app: &Router, request: Request<Body>) -> (u16, http::HeaderMap, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, headers, body)
}

fn user_request(token: &str, user_name: &str) -> Request<Body> {
    Request::post("/scim/v2/Users")
        .header("host", "scim.example.com")
        .header("x-forwarded-proto", "https")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/scim+json")
        .body(Body::from(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name}).to_string(),
        ))
        .unwrap()
}

#[tokio::test]
async fn tokens_are_required_and_select_the_team() {
    let (app, _, _) = app(ScimConfig::default());

    let (status, headers, body) = send(
        &app,
        Request::get("/scim/v2/Users").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "Bearer realm=\"SCIM\"");
    assert_eq!(headers["content-type"], "application/scim+json");
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(body["status"], "401");

    let wrong = Request::get("/scim/v2/Users")
        .header("authorization", "Bearer nope")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = send(&app, wrong).await;
    assert_eq!(status, 401);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );

    let (status, headers, body) = send(&app, user_request("token-a", "alice")).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap();
    let location = format!("https://scim.example.com/scim/v2/Users/{id}");
    assert_eq!(headers["location"], location.as_str());
    assert_eq!(body["meta"]["location"], location.as_str());

    // Team B's token does not reach team A's user.
    let get = |token: &str| {
        Request::get(format!("/scim/v2/Users/{id}"))
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(send(&app, get("token-b")).await.0, 404);
    assert_eq!(send(&app, get("token-a")).await.0, 200);

    let discovery = Request::get("/scim/v2/ServiceProviderConfig")
        .header("authorization", "Bearer token-b")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(&app, discovery).await;
    assert_eq!(status, 200);
    assert_eq!(body["patch"]["supported"], true);
}

#[tokio::test]
async fn fixed_base_url_and_body_limit() {
    let team = TeamId::new_random();
    let mut config = ScimConfig::default();
    config.max_body_bytes = 128;
    config.bulk_max_payload_bytes = 128;
    let service = Arc::new(ScimService::with_config(MemoryStore::new(), config));
    let app = Router::new().nest(
        "/scim/v2",
        router_with_base_url(
            service,
            Tokens(vec![("t", team)]),
            "https://id.example.org/scim/v2/",
        ),
    );
    let (status, headers, _) = send(&app, user_request("t", "bob")).await;
    assert_eq!(status, 201);
    assert!(
        headers["location"]
            .to_str()
            .unwrap()
            .starts_with("https://id.example.org/scim/v2/Users/")
    );

    let (status, _, body) = send(&app, user_request("t", &"x".repeat(1000))).await;
    assert_eq!(status, 413);
    assert_eq!(body["status"], "413");
}
