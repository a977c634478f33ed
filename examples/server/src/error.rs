//! JSON API errors, built in one place, and the layer that gives the framework's own
//! error answers the shape of the API they belong to.
//!
//! Every error answers `{"error": {"code": ..., "message": ...}}` with the right status
//! ([`ApiErrorBody`], whose JSON Schema is `schemas/api-error.schema.json`).
//! Internal failures are logged with their cause and answered with a generic message,
//! so database details never reach a client.

use axum::Json;
use axum::body::Body;
use axum::extract::Request;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use butterfly_core::api::{ApiErrorBody, ApiErrorDetail};
use butterfly_core::members::MemberRuleError;
use butterfly_core::store::StoreError;
use butterfly_core::{Permission, Role};
use butterfly_scim::{SCIM_CONTENT_TYPE, ScimError, ScimType};

use crate::request_heads::Refusal;

/// An error answered by the JSON API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No credentials, or credentials that do not authenticate.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Authenticated, but the role lacks the permission the route needs.
    #[error("role `{role}` lacks permission `{permission}`")]
    Forbidden {
        /// The permission the route needs.
        permission: Permission,
        /// The caller's role.
        role: Role,
    },
    /// A sign-in could not be completed (bad code, state, token).
    #[error("{0}")]
    SignInFailed(String),
    /// Refused for a reason other than a missing permission (suspended member,
    /// unverified email, foreign domain).
    #[error("{0}")]
    Denied(String),
    /// A dependency outside this server (the identity provider) failed.
    #[error("{0}")]
    Upstream(String),
    /// The thing does not exist in the caller's team.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The client sent too many requests of this kind; it may try again shortly.
    #[error("{0}")]
    TooManyRequests(&'static str),
    /// The request body was refused before reaching the handler (not JSON, wrong
    /// content type, too large); keeps the status axum chose (400, 413, 415, 422).
    #[error("{message}")]
    Rejected {
        /// HTTP status.
        status: StatusCode,
        /// What was wrong.
        message: String,
    },
    /// Something failed on our side.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden { .. } | ApiError::Denied(_) => {
                (StatusCode::FORBIDDEN, "forbidden")
            }
            ApiError::SignInFailed(_) => (StatusCode::UNAUTHORIZED, "sign_in_failed"),
            ApiError::Upstream(_) => (StatusCode::BAD_GATEWAY, "upstream"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            ApiError::Rejected { status, .. } => (
                *status,
                match status.as_u16() {
                    404 => "not_found",
                    405 => "method_not_allowed",
                    413 => "payload_too_large",
                    414 => "uri_too_long",
                    415 => "unsupported_media_type",
                    431 => "headers_too_large",
                    500.. => "internal",
                    _ => "bad_request",
                },
            ),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Conflict(what) => ApiError::Conflict(format!("{what} already exists")),
            StoreError::Refused(rule) => match rule {
                MemberRuleError::UnknownMember(_) => ApiError::NotFound("member"),
                MemberRuleError::Suspended | MemberRuleError::UnverifiedEmail => {
                    ApiError::Denied(rule.to_string())
                }
                // The last super_admin, and any rule added later: the request conflicts
                // with the team as it is.
                _ => ApiError::Conflict(rule.to_string()),
            },
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        ApiError::Rejected {
            status: e.status(),
            message: e.body_text(),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        ApiError::Rejected {
            status: e.status(),
            message: e.body_text(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        // Only a missing or bad API key asks for Bearer credentials.
        let asks_for_bearer = matches!(self, ApiError::Unauthorized(_));
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = %cause, "internal error");
        }
        let mut error = ApiErrorDetail::new(code, self.to_string());
        if let ApiError::Forbidden { permission, role } = &self {
            error = error.with_permission(*permission, *role);
        }
        let mut response = (status, Json(ApiErrorBody::new(error))).into_response();
        if asks_for_bearer {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"butterfly\""),
            );
        }
        response
    }
}

/// The longest request target (path and query) accepted, in bytes. A SCIM filter may be
/// 8 KiB and triples when percent-encoded; anything longer is refused here, with the
/// API's own error. Past hyper's hard limit (64 KiB) the connection guard
/// ([`request_heads`](crate::request_heads)) refuses it before hyper does.
pub const MAX_URI_BYTES: usize = 32 * 1024;

/// The headers that make a write conditional. A value the server cannot read must be
/// refused: ignoring it would turn a conditional write into an unconditional one.
const CONDITIONAL_HEADERS: [header::HeaderName; 2] = [header::IF_MATCH, header::IF_NONE_MATCH];

/// `/api/v1` or `/scim/v2` when `path` is under one of them: the prefix of an API with
/// its own error shape.
pub(crate) fn shaped_prefix(path: &str) -> Option<&'static str> {
    Surface::of(path).map(|surface| match surface {
        Surface::Api => "/api/v1",
        Surface::Scim => "/scim/v2",
    })
}

/// Which error shape a path's answers take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Surface {
    /// `/api/v1`: [`ApiError`] JSON.
    Api,
    /// `/scim/v2`: SCIM error bodies (RFC 7644 section 3.12).
    Scim,
}

impl Surface {
    fn of(path: &str) -> Option<Surface> {
        let under = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if under("/api/v1") {
            Some(Surface::Api)
        } else if under("/scim/v2") {
            Some(Surface::Scim)
        } else {
            None
        }
    }

    /// Whether `response` already has this surface's error shape.
    fn shaped(self, response: &Response) -> bool {
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        match self {
            Surface::Api => essence.eq_ignore_ascii_case("application/json"),
            Surface::Scim => essence.eq_ignore_ascii_case(SCIM_CONTENT_TYPE),
        }
    }

    fn error(self, status: StatusCode, message: String, scim_type: Option<ScimType>) -> Response {
        match self {
            Surface::Api => ApiError::Rejected { status, message }.into_response(),
            Surface::Scim => {
                let error = ScimError::new(status.as_u16(), message);
                let error = match scim_type {
                    Some(t) => error.with_type(t),
                    None => error,
                };
                butterfly_scim::error_response(&error).map(Body::from)
            }
        }
    }
}

/// Gives every error answer under `/api/v1` the API's JSON shape and every one under
/// `/scim/v2` the SCIM shape, including those the framework produces before a handler
/// runs (405 without a body, 413 from the body limit, a path parameter that is not
/// UTF-8, a fallback's 404), and refuses, in the same shapes, a request target longer
/// than [`MAX_URI_BYTES`] (414) and an `If-Match` or `If-None-Match` that is not visible
/// ASCII (400), and the heads hyper itself refuses (an even longer target, a control
/// character in a header: [`request_heads`](crate::request_heads)). Answers that already have the right shape pass untouched, as does
/// everything outside the two prefixes.
pub async fn shape_errors(request: Request, next: Next) -> Response {
    let Some(surface) = Surface::of(request.uri().path()) else {
        return next.run(request).await;
    };
    // A head hyper would have refused with a bare status, replaced by the connection
    // guard (see `request_heads`): answered here, in this API's shape, and the
    // connection closed, as hyper would have.
    if let Some(refusal) = Refusal::from_headers(request.headers()) {
        let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let scim_type = (status == StatusCode::BAD_REQUEST).then_some(ScimType::InvalidValue);
        let mut response = surface.error(status, refusal.message(), scim_type);
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    let target_len = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if target_len > MAX_URI_BYTES {
        return surface.error(
            StatusCode::URI_TOO_LONG,
            format!("the request target is {target_len} bytes long; the limit is {MAX_URI_BYTES}"),
            None,
        );
    }
    if let Some(name) = unreadable_conditional_header(request.headers()) {
        return surface.error(
            StatusCode::BAD_REQUEST,
            format!("the {name} header must be visible ASCII entity tags"),
            Some(ScimType::InvalidValue),
        );
    }
    let method = request.method().clone();
    let response = next.run(request).await;
    if !(response.status().is_client_error() || response.status().is_server_error())
        || surface.shaped(&response)
    {
        return response;
    }
    let status = response.status();
    let (parts, body) = response.into_parts();
    // Framework rejections explain themselves in a short plain-text body; read a little
    // of it for the message, and never an unbounded body.
    let text = match axum::body::to_bytes(body, 1024).await {
        Ok(bytes) if is_plain_text(&parts.headers) => {
            String::from_utf8_lossy(&bytes).trim().to_owned()
        }
        _ => String::new(),
    };
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = parts
                .headers
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .unwrap_or("none");
            format!("{method} is not allowed here; allowed: {allowed}")
        }
        _ if !text.is_empty() => text,
        _ => status
            .canonical_reason()
            .unwrap_or("the request was refused")
            .to_owned(),
    };
    let mut shaped = surface.error(status, message, None);
    // Keep what the framework said about the resource (`Allow` on a 405, say).
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            shaped.headers_mut().append(name, value.clone());
        }
    }
    shaped
}

fn is_plain_text(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"))
}

/// The first conditional header whose value is not visible ASCII (control characters
/// never get this far: see [`request_heads`](crate::request_heads); bytes 0x80 to 0xFF
/// do).
fn unreadable_conditional_header(headers: &HeaderMap) -> Option<&'static str> {
    CONDITIONAL_HEADERS.iter().find_map(|name| {
        headers
            .get_all(name)
            .iter()
            .any(|value| value.to_str().is_err())
            .then_some(if *name == header::IF_MATCH {
                "If-Match"
            } else {
                "If-None-Match"
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surfaces_are_chosen_by_whole_path_segments() {
        assert_eq!(Surface::of("/api/v1"), Some(Surface::Api));
        assert_eq!(Surface::of("/api/v1/members"), Some(Surface::Api));
        assert_eq!(Surface::of("/api/v10"), None);
        assert_eq!(Surface::of("/scim/v2"), Some(Surface::Scim));
        assert_eq!(Surface::of("/scim/v2/Users"), Some(Surface::Scim));
        assert_eq!(Surface::of("/scim/v20"), None);
        assert_eq!(Surface::of("/healthz"), None);
    }
}
