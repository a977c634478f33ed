//! Issue 11, finding 8: unauthenticated sign-ins cannot make the server hammer an
//! identity provider that is down (a failed discovery is remembered), and one client
//! cannot loop over `/auth/sso/login` (10 attempts in a burst per peer address, then
//! 429), while another client is still served.

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use butterfly_server::app::{bootstrap, build_router, open_state};
use butterfly_server::config::Config;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod support;

/// A local "provider" that answers every request 503 and counts the connections made.
async fn failing_provider() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (issuer, connections)
}

fn login_from(peer: &str) -> Request<Body> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/auth/sso/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("email=jane%40example.com"))
        .unwrap();
    let peer: SocketAddr = peer.parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_discovery_is_remembered_and_logins_are_limited_per_client() {
    let (issuer, connections) = failing_provider().await;
    let dir = tempfile::tempdir().unwrap();
    let state = open_state(&Config::for_data_dir(dir.path())).await.unwrap();
    let (_, key) = bootstrap(&state).await.unwrap().unwrap();
    let router = build_router(state);
    let (status, body) = support::call(
        &router,
        Method::PUT,
        "/api/v1/sso",
        Some(key.secret()),
        Some(json!({"issuer": issuer, "client_id": "butterfly", "client_secret": "s", "domains": ["example.com"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // One client: ten attempts get as far as discovery (the provider is down: 502),
    // and only the first reaches the provider; the rest of the burst is refused.
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(
            support::send(&router, login_from("203.0.113.7:40000"))
                .await
                .0,
        );
    }
    assert_eq!(&statuses[..10], &[StatusCode::BAD_GATEWAY; 10]);
    assert_eq!(&statuses[10..], &[StatusCode::TOO_MANY_REQUESTS; 10]);
    assert_eq!(connections.load(Ordering::SeqCst), 1);

    // Another client is still served (from the remembered failure: no new connection).
    let (status, body) = support::send(&router, login_from("198.51.100.9:50000")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    // The refusal is the API's JSON error.
    let (status, body) = support::send(&router, login_from("203.0.113.7:40001")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"]["code"], "too_many_requests", "{body}");
}
