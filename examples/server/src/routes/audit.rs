//! `/api/v1/audit`: the team's audit trail, and `record`, which every handler that
//! changes something security-relevant calls once it has succeeded.
//!
//! The store writes member changes itself (REST, SCIM and SSO sign-in alike), in the
//! transaction of the change; this module writes the rest: API keys, SCIM tokens and
//! group-role mappings, SSO configuration, connections, backups run, and refused
//! authentications (from [`crate::rbac`] and [`crate::scim`]). Actor and request id come
//! from the [`AuditContext`] the router sets around each request.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue};
use butterfly_core::TeamId;
use butterfly_core::store::{AuditEntry, AuditOutcome, AuditStore};
use butterfly_store::sql::{AuditContext, audit_entry};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::app::AppState;
use crate::error::ApiError;
use crate::rbac::Caller;

/// The header carrying each request's id, answered on every response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// `GET /audit` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries at or after this time (RFC 3339).
    #[serde(default)]
    pub since: Option<String>,
}

/// The team's audit entries, oldest first.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let Query(query) = query?;
    let since = query
        .since
        .as_deref()
        .map(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| ApiError::BadRequest(format!("since: not an RFC 3339 time: {e}")))
        })
        .transpose()?;
    Ok(Json(
        state.store.list_audit(Some(caller.team_id), since).await?,
    ))
}

/// Append an audit line by the current actor. A failure to write it is logged, not
/// answered: the action it records has already happened.
pub(crate) async fn record(
    state: &AppState,
    team: Option<TeamId>,
    action: &str,
    target: Option<String>,
    outcome: AuditOutcome,
    detail: Value,
) {
    let entry = audit_entry(team, action, target, outcome, detail);
    if let Err(e) = state.store.record_audit(entry).await {
        tracing::error!(error = %e, action, "cannot write the audit trail");
    }
}

/// A request id: the caller's `X-Request-Id` when it is a short token, else a new one.
pub(crate) fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// Middleware: give each request an id (answered in `X-Request-Id`) and an
/// [`AuditContext`], so every audit line it causes names it.
pub(crate) async fn with_request_context(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let id = request_id(req.headers());
    if let Ok(value) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(REQUEST_ID_HEADER, value.clone());
        let mut response = AuditContext::new(Some(id)).scope(next.run(req)).await;
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
        return response;
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_short_tokens_or_new() {
        let mut headers = HeaderMap::new();
        assert_eq!(request_id(&headers).len(), 36);
        headers.insert(REQUEST_ID_HEADER, "abc-123_x.y".parse().unwrap());
        assert_eq!(request_id(&headers), "abc-123_x.y");
        for bad in ["has space", "semi;colon", &"x".repeat(65)] {
            headers.insert(REQUEST_ID_HEADER, bad.parse().unwrap());
            assert_ne!(request_id(&headers), bad);
        }
    }
}
