//! JSON API errors, built in one place.
//!
//! Every error answers `{"error": {"code": ..., "message": ...}}` with the right status.
//! Internal failures are logged with their cause and answered with a generic message,
//! so database details never reach a client.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use butterfly_core::members::MemberRuleError;
use butterfly_core::store::StoreError;
use butterfly_core::{Permission, Role};
use serde_json::json;

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
            ApiError::Rejected { status, .. } => (
                *status,
                match status.as_u16() {
                    413 => "payload_too_large",
                    415 => "unsupported_media_type",
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
        let mut error = json!({ "code": code, "message": self.to_string() });
        if let ApiError::Forbidden { permission, role } = &self {
            error["permission"] = json!(permission);
            error["role"] = json!(role);
        }
        let mut response = (status, Json(json!({ "error": error }))).into_response();
        if asks_for_bearer {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"butterfly\""),
            );
        }
        response
    }
}
