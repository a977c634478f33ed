//! The back-channel logout endpoint, framework-agnostic (OpenID Connect Back-Channel
//! Logout 1.0 sections 2.5 and 2.8): a form body in, an [`http::Response`] out.
//!
//! One endpoint can serve every SSO connection: the token's `iss` (read unverified)
//! picks the validator through [`LogoutHandler::validator_for`], which then verifies
//! everything, including that `iss`. The `axum` feature wraps this as a route.

use std::future::Future;
use std::sync::Arc;

use http::{HeaderValue, Response, StatusCode, header};

use crate::logout::{LogoutRequest, LogoutTokenError, LogoutTokenValidator};

/// The error type applications return from [`LogoutHandler::end_sessions`].
pub type EndSessionsError = Box<dyn std::error::Error + Send + Sync>;

/// What the back-channel logout endpoint needs from the application.
///
/// ```
/// use std::sync::Arc;
/// use butterfly_oidc::{EndSessionsError, LogoutHandler, LogoutRequest, LogoutTokenValidator};
///
/// struct Sessions {
///     // One validator per SSO connection; one here.
///     validator: Arc<LogoutTokenValidator>,
/// }
///
/// impl LogoutHandler for Sessions {
///     async fn validator_for(&self, issuer: &str) -> Option<Arc<LogoutTokenValidator>> {
///         (self.validator.issuer().as_str() == issuer).then(|| Arc::clone(&self.validator))
///     }
///
///     async fn end_sessions(&self, request: LogoutRequest) -> Result<(), EndSessionsError> {
///         // Revoke the refresh tokens of sessions with this (issuer, sid) or, without
///         // a sid, of every session of (issuer, subject).
///         Ok(())
///     }
/// }
/// ```
pub trait LogoutHandler: Send + Sync + 'static {
    /// The validator for tokens whose (unverified) `iss` is `issuer`, or `None` if no
    /// connection uses that issuer.
    fn validator_for(
        &self,
        issuer: &str,
    ) -> impl Future<Output = Option<Arc<LogoutTokenValidator>>> + Send;

    /// End the sessions a verified logout request names. An error makes the endpoint
    /// answer 400, so the provider can tell the logout did not happen.
    fn end_sessions(
        &self,
        request: LogoutRequest,
    ) -> impl Future<Output = Result<(), EndSessionsError>> + Send;
}

/// Why a back-channel logout request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackchannelLogoutError {
    /// The body is not `application/x-www-form-urlencoded`.
    #[error("the request body must be application/x-www-form-urlencoded")]
    NotAForm,
    /// The form has no `logout_token`.
    #[error("the request has no logout_token")]
    MissingLogoutToken,
    /// The form has several `logout_token`s.
    #[error("the request has several logout_token parameters")]
    DuplicateLogoutToken,
    /// The token's `iss` is not a configured provider.
    #[error("the logout token's issuer is not a configured provider")]
    UnknownIssuer,
    /// The token is invalid.
    #[error(transparent)]
    Token(#[from] LogoutTokenError),
    /// The token is valid and ending the sessions failed.
    #[error("the sessions could not be ended")]
    EndSessions(#[source] EndSessionsError),
}

/// The outcome of one back-channel logout request.
#[derive(Debug)]
pub struct BackchannelLogoutOutcome {
    /// The verified request whose sessions were ended, or why not.
    pub result: Result<LogoutRequest, BackchannelLogoutError>,
}

impl BackchannelLogoutOutcome {
    /// The HTTP response of section 2.8: `200` with an empty body on success, `400` with
    /// `{"error": "invalid_request", "error_description": ...}` otherwise, and
    /// `Cache-Control: no-store` on both.
    pub fn into_response(self) -> Response<String> {
        let (status, body) = match &self.result {
            Ok(_) => (StatusCode::OK, String::new()),
            Err(e) => {
                // Internal failures get a fixed text; the cause is the application's to log.
                let description = match e {
                    BackchannelLogoutError::EndSessions(_) => {
                        "the sessions could not be ended".to_owned()
                    }
                    other => other.to_string(),
                };
                let body = serde_json::json!({
                    "error": "invalid_request",
                    "error_description": description,
                });
                (StatusCode::BAD_REQUEST, body.to_string())
            }
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status != StatusCode::OK {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        response
    }
}

/// Handle one back-channel logout POST: read `logout_token` from the form body, pick
/// and run the validator, end the sessions.
///
/// `content_type` is the request's `Content-Type` header, if any.
pub async fn handle_backchannel_logout<H: LogoutHandler + ?Sized>(
    handler: &H,
    content_type: Option<&str>,
    body: &[u8],
) -> BackchannelLogoutOutcome {
    BackchannelLogoutOutcome {
        result: process(handler, content_type, body).await,
    }
}

async fn process<H: LogoutHandler + ?Sized>(
    handler: &H,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<LogoutRequest, BackchannelLogoutError> {
    let is_form = content_type.is_some_and(|ct| {
        ct.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    if !is_form {
        return Err(BackchannelLogoutError::NotAForm);
    }
    let mut token = None;
    for (name, value) in url::form_urlencoded::parse(body) {
        if name == "logout_token" && token.replace(value).is_some() {
            return Err(BackchannelLogoutError::DuplicateLogoutToken);
        }
    }
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or(BackchannelLogoutError::MissingLogoutToken)?;
    let issuer = LogoutTokenValidator::peek_issuer(&token).ok_or(BackchannelLogoutError::Token(
        LogoutTokenError::Malformed("no readable iss claim"),
    ))?;
    let validator = handler
        .validator_for(&issuer)
        .await
        .ok_or(BackchannelLogoutError::UnknownIssuer)?;
    let request = validator.validate(&token).await?;
    handler
        .end_sessions(request.clone())
        .await
        .map_err(BackchannelLogoutError::EndSessions)?;
    Ok(request)
}
