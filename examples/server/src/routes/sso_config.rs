//! `/api/v1/sso`: the team's OpenID Connect connection. The client secret is sealed
//! under the team's key on the way in and never returned.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use butterfly_core::Role;
use butterfly_core::store::{AuditOutcome, SsoConnection, SsoStore};
use butterfly_oidc::{EmailDomain, Issuer};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::audit;
use crate::app::AppState;
use crate::error::ApiError;
use crate::rbac::Caller;
use crate::secret::SecretText;
use crate::sso::{CLIENT_SECRET_PURPOSE, discover};

/// `PUT /sso` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutSso {
    /// Issuer URL.
    pub issuer: String,
    /// Client id.
    pub client_id: String,
    /// Client secret; omit to keep the current one. `Debug` is redacted.
    #[serde(default)]
    pub client_secret: Option<SecretText>,
    /// Email domains routed to this team.
    pub domains: Vec<String>,
    /// Role for members created at first sign-in (default `read_only`).
    #[serde(default)]
    pub default_role: Option<Role>,
}

fn describe(connection: &SsoConnection) -> Value {
    json!({
        "issuer": connection.issuer,
        "client_id": connection.client_id,
        "client_secret_set": !connection.client_secret_sealed.is_empty(),
        "domains": connection.domains,
        "default_role": connection.default_role,
        "updated_at": connection.updated_at.timestamp(),
    })
}

/// Create or replace the connection.
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<PutSso>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let issuer = Issuer::new(body.issuer.trim())
        .map_err(|e| ApiError::BadRequest(format!("issuer: {e}")))?;
    let client_id = body.client_id.trim();
    if client_id.is_empty() {
        return Err(ApiError::BadRequest("client_id must not be empty".into()));
    }
    if body.domains.is_empty() {
        return Err(ApiError::BadRequest(
            "at least one email domain is needed".into(),
        ));
    }
    let domains = body
        .domains
        .iter()
        .map(|d| EmailDomain::parse(d).map(|d| d.as_str().to_owned()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let sealed = match body.client_secret.as_ref().map(|s| s.secret().trim()) {
        Some("") => {
            return Err(ApiError::BadRequest(
                "client_secret must not be empty".into(),
            ));
        }
        Some(secret) => state
            .objects
            .seal_secret(caller.team_id, CLIENT_SECRET_PURPOSE, secret.as_bytes())
            .map_err(|e| ApiError::Internal(Box::new(e)))?,
        None => state
            .store
            .sso_connection(caller.team_id)
            .await?
            .map(|c| c.client_secret_sealed)
            .ok_or_else(|| {
                ApiError::BadRequest("client_secret is required for a new connection".into())
            })?,
    };
    let saved = state
        .store
        .put_sso_connection(SsoConnection {
            team_id: caller.team_id,
            issuer: issuer.as_str().to_owned(),
            client_id: client_id.to_owned(),
            client_secret_sealed: sealed,
            domains,
            default_role: body.default_role.unwrap_or(Role::ReadOnly),
            updated_at: Utc::now(),
        })
        .await?;
    state.sso.invalidate(caller.team_id).await;
    let shown = describe(&saved);
    // What the API shows of it: never the client secret.
    audit::record(
        &state,
        Some(caller.team_id),
        "sso.configured",
        None,
        AuditOutcome::Success,
        shown.clone(),
    )
    .await;
    Ok(Json(shown))
}

/// The connection, without its secret.
pub async fn show(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let connection = state
        .store
        .sso_connection(caller.team_id)
        .await?
        .ok_or(ApiError::NotFound("sso connection"))?;
    Ok(Json(describe(&connection)))
}

/// Remove the connection.
pub async fn remove(State(state): State<AppState>, caller: Caller) -> Result<StatusCode, ApiError> {
    state.sso.invalidate(caller.team_id).await;
    if state.store.delete_sso_connection(caller.team_id).await? {
        audit::record(
            &state,
            Some(caller.team_id),
            "sso.deleted",
            None,
            AuditOutcome::Success,
            json!({}),
        )
        .await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("sso connection"))
    }
}

/// Check the provider: discovery and its signing keys must be reachable.
pub async fn test(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let connection = state
        .store
        .sso_connection(caller.team_id)
        .await?
        .ok_or(ApiError::NotFound("sso connection"))?;
    let client = discover(&state, &connection).await?;
    let keys = client
        .jwks()
        .ensure_loaded()
        .await
        .map_err(|e| ApiError::Upstream(format!("the provider's JWKS is unreachable: {e}")))?;
    Ok(Json(json!({
        "ok": true,
        "issuer": client.issuer().as_str(),
        "signing_keys": keys,
        "signing_algorithms": client.signing_algorithms(),
        "backchannel_logout_supported": client.backchannel_logout_supported(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_client_secret() {
        let body: PutSso = serde_json::from_value(json!({
            "issuer": "https://idp.example.com",
            "client_id": "butterfly",
            "client_secret": "s3cr3t-value",
            "domains": ["example.com"],
        }))
        .unwrap();
        let shown = format!("{body:?}");
        assert!(shown.contains("butterfly"), "{shown}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
    }
}
