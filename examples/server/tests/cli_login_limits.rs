//! Issue 11: the CLI sign-in endpoints are limited per client address, like
//! `/auth/sso/login`. `POST /oauth/device_authorization` and `POST /device` share one
//! bucket (10 in a burst, then one every 6 s); past it they answer 429 with
//! `Retry-After`, in their own formats (an OAuth error; the approval page), while
//! another address is still served. The limiter reads a fake clock, so the test moves
//! time on instead of sleeping.

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, Response, StatusCode};
use butterfly_server::app::{bootstrap, build_router, open_state};
use butterfly_server::cli_login::SIGN_IN_QUOTA;
use butterfly_server::config::Config;
use butterfly_server::limits::{ClientLimiter, LimitClock};
use governor::clock::FakeRelativeClock;
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

const A: &str = "203.0.113.7:40000";
const B: &str = "198.51.100.9:50000";

fn form(path: &str, peer: &str, body: &str) -> Request<Body> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .unwrap();
    let peer: SocketAddr = peer.parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    request
}

fn start(peer: &str) -> Request<Body> {
    form(
        "/oauth/device_authorization",
        peer,
        "client_id=butterfly-cli",
    )
}

/// An approval form with a wrong code and no CSRF cookie: refused (403) if it gets as
/// far as being checked.
fn approve(peer: &str) -> Request<Body> {
    form(
        "/device",
        peer,
        "user_code=BCDF-GHJK&csrf=x&api_key=bf_guess&decision=approve",
    )
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, Response<()>, String) {
    let response = router.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        Response::from_parts(parts, ()),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn retry_after(response: &Response<()>) -> u64 {
    response
        .headers()
        .get("retry-after")
        .expect("a 429 says when to come back")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn device_authorization_and_the_approval_form_are_limited_per_client() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = open_state(&Config::for_data_dir(dir.path())).await.unwrap();
    bootstrap(&state).await.unwrap().unwrap();
    let time = FakeRelativeClock::default();
    state.cli_sign_ins = Arc::new(ClientLimiter::with_clock(
        SIGN_IN_QUOTA,
        LimitClock::fake(time.clone()),
    ));
    let router = build_router(state);

    // One client: the burst is shared by both endpoints (5 + 5), then both refuse.
    for _ in 0..5 {
        let (status, _, body) = send(&router, start(A)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, _, body) = send(&router, approve(A)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    let (status, response, body) = send(&router, start(A)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(retry_after(&response), 6);
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"], "slow_down", "{body}");
    assert!(
        error["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    assert_eq!(response.headers()["cache-control"], "no-store");

    let (status, response, body) = send(&router, approve(A)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(retry_after(&response), 6);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{response:?}"
    );
    assert!(body.contains("too many attempts"), "{body}");

    // Another client is still served.
    let (status, _, body) = send(&router, start(B)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Five seconds on, still one short; at six, exactly one more request is let through.
    time.advance(Duration::from_secs(5));
    let (status, response, _) = send(&router, approve(A)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&response), 1);
    time.advance(Duration::from_secs(1));
    let (status, _, body) = send(&router, start(A)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = send(&router, start(A)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}
