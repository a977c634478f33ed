//! Every error a client can provoke on `/api/v1` is the API's JSON error, and every error
//! on `/scim/v2` is a SCIM error (RFC 7644 section 3.12), including the ones the
//! framework raises before a handler runs: an oversized body announced by
//! `Content-Length`, a path that is not UTF-8 once decoded, a method the route does not
//! have, a URI that is too long, a header value with control characters.
//!
//! The server runs on a real socket and the requests are written byte by byte, as a
//! misbehaving client would send them.

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;

use butterfly_core::store::ScimTokenStore;
use butterfly_server::app::{bootstrap, build_router, open_state};
use butterfly_server::config::Config;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Server {
    address: SocketAddr,
    api_key: String,
    scim_token: String,
    _dir: tempfile::TempDir,
}

async fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let state = open_state(&Config::for_data_dir(dir.path())).await.unwrap();
    let (team, key) = bootstrap(&state).await.unwrap().unwrap();
    let (_, token) = state
        .store
        .create_scim_token(team.id, "okta")
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = build_router(state);
    // As the binary serves: through the guard that reads request heads before hyper.
    tokio::spawn(async move {
        axum::serve(butterfly_server::request_heads::listener(listener), router).await
    });
    Server {
        address,
        api_key: key.secret().to_owned(),
        scim_token: token.secret().to_owned(),
        _dir: dir,
    }
}

/// An answer as it came off the wire.
#[derive(Debug)]
struct Answer {
    head: String,
    status: u16,
    content_type: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

impl Server {
    /// Write `head` (request line and headers, without the final blank line), then
    /// `Connection: close`, then `body`, and read the whole answer.
    async fn raw(&self, head: &[u8], body: &[u8]) -> Answer {
        let mut stream = TcpStream::connect(self.address).await.unwrap();
        let mut request = head.to_vec();
        request.extend_from_slice(b"\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        request.extend_from_slice(body);
        // The server may answer and close before it has read a large body.
        let _ = stream.write_all(&request).await;
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response).await;
        let text = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let content_type = head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_owned())
        });
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_owned()
        };
        Answer {
            head: head.to_owned(),
            status,
            content_type,
            body,
        }
    }

    fn api_auth(&self) -> String {
        format!("Authorization: Bearer {}", self.api_key)
    }

    fn scim_auth(&self) -> String {
        format!("Authorization: Bearer {}", self.scim_token)
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// The API's JSON error with this status and code.
#[track_caller]
fn assert_api_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(
        answer.content_type.as_deref(),
        Some("application/json"),
        "{answer:?}"
    );
    let body = answer.json();
    assert_eq!(body["error"]["code"], code, "{answer:?}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{answer:?}"
    );
}

/// A SCIM error body with this status and `scimType` (RFC 7644 section 3.12).
#[track_caller]
fn assert_scim_error(answer: &Answer, status: u16, scim_type: Option<&str>) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(
        answer.content_type.as_deref(),
        Some("application/scim+json"),
        "{answer:?}"
    );
    let body = answer.json();
    assert_eq!(
        body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
        "{answer:?}"
    );
    assert_eq!(body["status"], status.to_string(), "{answer:?}");
    assert_eq!(
        body.get("scimType").and_then(Value::as_str),
        scim_type,
        "{answer:?}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|m| !m.is_empty()),
        "{answer:?}"
    );
}

#[tokio::test]
async fn an_oversized_body_announced_by_content_length_is_413_in_each_shape() {
    let s = server().await;
    // Over both the API's limit (1 MiB) and SCIM's (1 MiB, advertised in
    // ServiceProviderConfig); refused from the header, before the body is read.
    let big = vec![b'x'; 3 * 1024 * 1024];
    let head = |path: &str, auth: &str, content_type: &str| {
        format!(
            "POST {path} HTTP/1.1\r\n{auth}\r\nContent-Type: {content_type}\r\nContent-Length: {}",
            big.len()
        )
    };
    let api = s
        .raw(
            head("/api/v1/members", &s.api_auth(), "application/json").as_bytes(),
            &big,
        )
        .await;
    assert_api_error(&api, 413, "payload_too_large");
    let scim = s
        .raw(
            head("/scim/v2/Users", &s.scim_auth(), "application/scim+json").as_bytes(),
            &big,
        )
        .await;
    assert_scim_error(&scim, 413, None);
}

#[tokio::test]
async fn a_path_that_is_not_utf8_is_400_in_each_shape() {
    let s = server().await;
    let api = s
        .raw(
            format!("GET /api/v1/members/%FF HTTP/1.1\r\n{}", s.api_auth()).as_bytes(),
            b"",
        )
        .await;
    assert_api_error(&api, 400, "bad_request");
    let scim = s
        .raw(
            format!("GET /scim/v2/Users/%FF HTTP/1.1\r\n{}", s.scim_auth()).as_bytes(),
            b"",
        )
        .await;
    assert_scim_error(&scim, 400, Some("invalidValue"));
}

#[tokio::test]
async fn a_method_the_route_lacks_is_405_in_each_shape() {
    let s = server().await;
    let api = s
        .raw(
            format!(
                "PUT /api/v1/members HTTP/1.1\r\n{}\r\nContent-Length: 0",
                s.api_auth()
            )
            .as_bytes(),
            b"",
        )
        .await;
    assert_api_error(&api, 405, "method_not_allowed");
    let message = api.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("PUT") && message.contains("GET") && message.contains("POST"),
        "{message}"
    );
    assert!(
        api.head
            .to_ascii_lowercase()
            .contains("\r\nallow: get,head,post"),
        "{api:?}"
    );
    let scim = s
        .raw(
            format!(
                "PUT /scim/v2/Users HTTP/1.1\r\n{}\r\nContent-Length: 0",
                s.scim_auth()
            )
            .as_bytes(),
            b"",
        )
        .await;
    assert_scim_error(&scim, 405, None);
}

#[tokio::test]
async fn an_overlong_request_target_is_414_in_each_shape() {
    let s = server().await;
    // Longer than the server's limit (32 KiB), shorter than hyper's (64 KiB), which
    // answers a bare 414 before any layer runs.
    let query = format!("filter={}", "a".repeat(40_000));
    let api = s
        .raw(
            format!("GET /api/v1/members?{query} HTTP/1.1\r\n{}", s.api_auth()).as_bytes(),
            b"",
        )
        .await;
    assert_api_error(&api, 414, "uri_too_long");
    let scim = s
        .raw(
            format!("GET /scim/v2/Users?{query} HTTP/1.1\r\n{}", s.scim_auth()).as_bytes(),
            b"",
        )
        .await;
    assert_scim_error(&scim, 414, None);
    // A long but acceptable target still reaches the handler.
    let fits = s
        .raw(
            format!(
                "GET /api/v1/members?x={} HTTP/1.1\r\n{}",
                "a".repeat(20_000),
                s.api_auth()
            )
            .as_bytes(),
            b"",
        )
        .await;
    assert_eq!(fits.status, 200, "{fits:?}");
}

#[tokio::test]
async fn an_unreadable_if_match_is_400_in_each_shape() {
    let s = server().await;
    // hyper refuses ASCII control characters in a header value itself (a bare 400 no
    // layer can shape); bytes 0x80 to 0xFF get through and must not be mistaken for
    // "no precondition".
    let head = |path: &str, auth: &str| {
        let mut head = format!("DELETE {path} HTTP/1.1\r\n{auth}\r\nIf-Match: W/\"").into_bytes();
        head.extend_from_slice(b"\x80\xff\"");
        head
    };
    let api = s
        .raw(
            &head(
                "/api/v1/members/00000000-0000-0000-0000-000000000000",
                &s.api_auth(),
            ),
            b"",
        )
        .await;
    assert_api_error(&api, 400, "bad_request");
    let scim = s.raw(&head("/scim/v2/Users/x", &s.scim_auth()), b"").await;
    assert_scim_error(&scim, 400, Some("invalidValue"));
}

#[tokio::test]
async fn unknown_paths_and_unauthenticated_calls_keep_their_shapes() {
    let s = server().await;
    let api = s
        .raw(
            format!("GET /api/v1/nope HTTP/1.1\r\n{}", s.api_auth()).as_bytes(),
            b"",
        )
        .await;
    assert_api_error(&api, 404, "not_found");
    let scim = s
        .raw(
            format!("GET /scim/v2/nope HTTP/1.1\r\n{}", s.scim_auth()).as_bytes(),
            b"",
        )
        .await;
    assert_scim_error(&scim, 404, None);
    assert_api_error(
        &s.raw(b"GET /api/v1/members HTTP/1.1", b"").await,
        401,
        "unauthorized",
    );
    assert_scim_error(&s.raw(b"GET /scim/v2/Users HTTP/1.1", b"").await, 401, None);
}

#[tokio::test]
async fn a_target_past_hypers_limit_is_414_in_each_shape() {
    let s = server().await;
    // Past hyper's 65534 bytes, where hyper answers a bare 414 itself unless the head is
    // taken from it first.
    let query = format!("filter={}", "a".repeat(70_000));
    let api = s
        .raw(
            format!("GET /api/v1/members?{query} HTTP/1.1\r\n{}", s.api_auth()).as_bytes(),
            b"",
        )
        .await;
    assert_api_error(&api, 414, "uri_too_long");
    assert!(
        api.head
            .to_ascii_lowercase()
            .contains("\r\nconnection: close"),
        "{api:?}"
    );
    let scim = s
        .raw(
            format!("GET /scim/v2/Users?{query} HTTP/1.1\r\n{}", s.scim_auth()).as_bytes(),
            b"",
        )
        .await;
    assert_scim_error(&scim, 414, None);
}

#[tokio::test]
async fn a_control_character_in_if_match_is_400_in_each_shape() {
    let s = server().await;
    // hyper refuses these bytes in any header value with a bare 400.
    for bad in [&b"\x01"[..], b"\x1b[2J", b"\x7f"] {
        let head = |path: &str, auth: &str| {
            let mut head =
                format!("DELETE {path} HTTP/1.1\r\n{auth}\r\nIf-Match: W/\"").into_bytes();
            head.extend_from_slice(bad);
            head.push(b'"');
            head
        };
        let api = s
            .raw(
                &head(
                    "/api/v1/members/00000000-0000-0000-0000-000000000000",
                    &s.api_auth(),
                ),
                b"",
            )
            .await;
        assert_api_error(&api, 400, "bad_request");
        assert!(
            api.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("If-Match"),
            "{api:?}"
        );
        let scim = s.raw(&head("/scim/v2/Users/x", &s.scim_auth()), b"").await;
        assert_scim_error(&scim, 400, Some("invalidValue"));
    }
}

#[tokio::test]
async fn a_bad_head_after_good_requests_on_one_connection_is_still_shaped() {
    let s = server().await;
    // Keep-alive: a request with a body, a chunked one, then a head hyper would refuse,
    // all written at once (pipelined). The first two are answered normally, the third
    // in SCIM's shape, and the connection is closed.
    let mut request = Vec::new();
    request.extend_from_slice(
        format!(
            "POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\n{}\r\nContent-Type: application/scim+json\r\nContent-Length: 2\r\n\r\n{{}}",
            s.scim_auth()
        )
        .as_bytes(),
    );
    request.extend_from_slice(
        format!(
            "POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\n{}\r\nContent-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{{\r\n1\r\n}}\r\n0\r\n\r\n",
            s.scim_auth()
        )
        .as_bytes(),
    );
    request.extend_from_slice(
        format!(
            "DELETE /scim/v2/Users/x HTTP/1.1\r\nHost: x\r\n{}\r\nIf-Match: \x02\r\n\r\n",
            s.scim_auth()
        )
        .as_bytes(),
    );
    let mut stream = TcpStream::connect(s.address).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    let statuses: Vec<&str> = text
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &text[i + 9..i + 12])
        .collect();
    // The empty Users are refused by SCIM itself (no userName): both answered, in order.
    assert_eq!(statuses, ["400", "400", "400"], "{text}");
    let last = &text[text.rfind("HTTP/1.1 ").unwrap()..];
    assert!(last.contains("application/scim+json"), "{last}");
    assert!(
        last.contains("invalidValue") && last.contains("If-Match"),
        "{last}"
    );
}

#[tokio::test]
async fn a_forged_refusal_marker_changes_nothing() {
    let s = server().await;
    let answer = s
        .raw(
            format!(
                "GET /api/v1/members HTTP/1.1\r\n{}\r\nx-butterfly-refused-head: guess target_too_long",
                s.api_auth()
            )
            .as_bytes(),
            b"",
        )
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
}

#[tokio::test]
async fn heads_outside_the_apis_are_left_to_hyper() {
    let s = server().await;
    let answer = s.raw(b"GET /healthz HTTP/1.1\r\nIf-Match: \x01", b"").await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(answer.body.is_empty(), "{answer:?}");
}
