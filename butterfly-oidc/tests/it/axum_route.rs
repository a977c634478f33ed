//! The back-channel logout route (feature `axum`), driven without sockets.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use butterfly_oidc::{
    ClientId, EndSessionsError, Issuer, JwksCache, LogoutHandler, LogoutRequest,
    LogoutTokenValidator,
};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

use crate::support::{CLIENT_ID, ISSUER, NOW, clock_at, idp_key, jwks, logout_claims, sign};

#[derive(Default)]
pub(crate) struct Recorder {
    validators: Vec<Arc<LogoutTokenValidator>>,
    pub(crate) ended: Mutex<Vec<LogoutRequest>>,
    fail: bool,
}

impl LogoutHandler for Recorder {
    async fn validator_for(&self, issuer: &str) -> Option<Arc<LogoutTokenValidator>> {
        self.validators
            .iter()
            .find(|v| v.issuer().as_str() == issuer)
            .cloned()
    }

    async fn end_sessions(&self, request: LogoutRequest) -> Result<(), EndSessionsError> {
        if self.fail {
            return Err("database is down at 10.0.0.7".into());
        }
        self.ended.lock().unwrap().push(request);
        Ok(())
    }
}

/// A handler that knows one validator and records what it ends.
pub(crate) fn recorder_with(validator: Arc<LogoutTokenValidator>) -> Arc<Recorder> {
    Arc::new(Recorder {
        validators: vec![validator],
        ended: Mutex::default(),
        fail: false,
    })
}

fn recorder(fail: bool) -> Arc<Recorder> {
    // Two connections on one endpoint: the token's iss picks the validator.
    let validators = [ISSUER, "https://other-idp.example.com"]
        .into_iter()
        .map(|iss| {
            Arc::new(
                LogoutTokenValidator::new(
                    Issuer::new(iss).unwrap(),
                    ClientId::new(CLIENT_ID).unwrap(),
                    Arc::new(JwksCache::from_json(&jwks(&[idp_key()])).unwrap()),
                )
                .with_clock(clock_at(NOW)),
            )
        })
        .collect();
    Arc::new(Recorder {
        validators,
        ended: Mutex::default(),
        fail,
    })
}

pub(crate) async fn post(
    handler: &Arc<Recorder>,
    content_type: &str,
    body: String,
) -> (StatusCode, Option<String>, String) {
    let app: Router = Router::new().route(
        "/logout/backchannel",
        butterfly_oidc::axum::backchannel_logout(Arc::clone(handler)),
    );
    let response = app
        .oneshot(
            Request::post("/logout/backchannel")
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let cache = response
        .headers()
        .get(header::CACHE_CONTROL)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, cache, String::from_utf8(bytes.to_vec()).unwrap())
}

pub(crate) const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn a_valid_logout_token_ends_sessions_with_200() {
    let handler = recorder(false);
    let other = "https://other-idp.example.com";
    for (iss, jti) in [(ISSUER, "j-route-1"), (other, "j-route-2")] {
        let body = format!("logout_token={}", sign(&logout_claims(iss, jti)));
        let (status, cache, text) = post(&handler, FORM, body).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        assert_eq!(cache.as_deref(), Some("no-store"));
    }
    let ended = handler.ended.lock().unwrap();
    assert_eq!(ended.len(), 2);
    assert_eq!(ended[0].issuer.as_str(), ISSUER);
    assert_eq!(ended[1].issuer.as_str(), other);
    assert_eq!(ended[0].sid.as_deref(), Some("sid-1"));
}

#[tokio::test]
async fn bad_requests_get_400_with_a_json_error_and_no_store() {
    let handler = recorder(false);
    let token = sign(&logout_claims(ISSUER, "j-route-bad"));
    let unknown = sign(&logout_claims(
        "https://unknown.example.com",
        "j-route-unknown",
    ));
    let cases = [
        (FORM, String::new(), "no logout_token"),
        (FORM, "logout_token=".to_owned(), "no logout_token"),
        (
            "application/json",
            format!("logout_token={token}"),
            "x-www-form-urlencoded",
        ),
        (
            FORM,
            format!("logout_token={token}&logout_token={token}"),
            "several",
        ),
        (FORM, "logout_token=garbage".to_owned(), "malformed"),
        (
            FORM,
            format!("logout_token={unknown}"),
            "not a configured provider",
        ),
    ];
    for (content_type, body, expected) in cases {
        let (status, cache, text) = post(&handler, content_type, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
        assert_eq!(cache.as_deref(), Some("no-store"));
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["error"], "invalid_request");
        let description = json["error_description"].as_str().unwrap();
        assert!(
            description.contains(expected),
            "{description:?} lacks {expected:?}"
        );
    }
    assert!(handler.ended.lock().unwrap().is_empty());

    // A replay is a bad request too.
    let body = format!("logout_token={token}");
    assert_eq!(post(&handler, FORM, body.clone()).await.0, StatusCode::OK);
    let (status, _, text) = post(&handler, FORM, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("already used"), "{text}");
}

#[tokio::test]
async fn handler_failures_are_400_without_internal_detail() {
    let handler = recorder(true);
    let body = format!(
        "logout_token={}",
        sign(&logout_claims(ISSUER, "j-route-fail"))
    );
    let (status, cache, text) = post(
        &handler,
        "application/x-www-form-urlencoded; charset=utf-8",
        body,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(cache.as_deref(), Some("no-store"));
    assert!(text.contains("could not be ended"), "{text}");
    assert!(!text.contains("10.0.0.7"), "{text}");
}
