//! What the fetcher will connect to, and what it repeats of an org's answers: org URLs
//! on non-public addresses are refused unless allowed, and an upstream error body never
//! comes back in an error message (it reaches API callers and the database).

use std::time::Duration;

use butterfly_providers::okta::fetcher::{
    CredentialError, FetchError, FetchOptions, OktaCredentials, OktaFetcher, PrivateKey,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use super::simulator::client_key;

fn credentials(org_url: &str) -> OktaCredentials {
    OktaCredentials {
        org_url: org_url.parse().unwrap(),
        client_id: "0oa1".parse().unwrap(),
        key_id: None,
        private_key: PrivateKey::from_pem(&client_key().private_pem).unwrap(),
    }
}

#[tokio::test]
async fn non_public_org_urls_are_refused_unless_allowed() {
    for org in [
        "https://169.254.169.254",
        "https://10.0.0.1",
        "https://[::1]",
        "http://2130706433",
        "http://0x7f.1",
        "http://localhost:8080",
    ] {
        let error = OktaFetcher::new(credentials(org), FetchOptions::default()).unwrap_err();
        assert!(
            matches!(
                error,
                FetchError::OrgAddress(CredentialError::NonPublicOrgUrl { .. })
            ),
            "{org}: {error:?}"
        );
        let allowed = FetchOptions {
            insecure_allow_private_addresses: true,
            ..FetchOptions::default()
        };
        OktaFetcher::new(credentials(org), allowed).unwrap();
    }
    OktaFetcher::new(
        credentials("https://example.okta.com"),
        FetchOptions::default(),
    )
    .unwrap();
}

/// Answer one HTTP request on `listener` with `status` and a JSON `body`.
async fn answer_once(listener: TcpListener, status: &'static str, body: String) {
    let (mut socket, _) = listener.accept().await.unwrap();
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    // Read the head, then as many body bytes as Content-Length says.
    loop {
        let n = socket.read(&mut buffer).await.unwrap();
        request.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if request.len() >= end + 4 + length {
                break;
            }
        }
        assert!(n > 0, "the client closed the connection early");
    }
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(response.as_bytes()).await.unwrap();
    socket.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_upstream_error_body_is_never_repeated() {
    const CANARY: &str = "CANARY-internal-admin-panel-<b>secret</b>";
    for (error_code, named) in [
        ("invalid_client", Some("invalid_client")),
        ("E-attacker-chosen <script>", None),
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let org = format!("http://{}", listener.local_addr().unwrap());
        let body = serde_json::json!({
            "error": error_code,
            "error_description": CANARY,
        })
        .to_string();
        let server = tokio::spawn(answer_once(listener, "401 Unauthorized", body));
        let fetcher = OktaFetcher::new(
            credentials(&org),
            FetchOptions {
                insecure_allow_private_addresses: true,
                max_retries: 0,
                request_timeout: Duration::from_secs(10),
                ..FetchOptions::default()
            },
        )
        .unwrap();
        let error = fetcher.check_connection().await.unwrap_err();
        server.await.unwrap();
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("CANARY"), "{shown}");
        assert!(!shown.contains("script"), "{shown}");
        match named {
            Some(code) => assert!(
                error.to_string().contains(code) && error.to_string().contains("key"),
                "{error}"
            ),
            None => assert!(error.to_string().contains("unrecognised"), "{error}"),
        }
    }
}
