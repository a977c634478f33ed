//! `/api/v1/scim-tokens`: bearer tokens for SCIM clients (Okta, Entra ID). Several may
//! be live at once so a token can be rotated without downtime.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use butterfly_core::store::{AuditOutcome, ScimToken, ScimTokenStore};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{audit, label, no_content_or_not_found, parse_id};
use crate::app::AppState;
use crate::error::ApiError;
use crate::rbac::Caller;
use crate::secret::SecretText;

/// `POST /scim-tokens` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateScimToken {
    /// A label (default `scim`).
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /scim-tokens` response.
#[derive(Debug, Serialize)]
pub struct CreatedScimToken {
    /// The stored record.
    pub scim_token: ScimToken,
    /// The secret, shown this once.
    pub secret: SecretText,
}

/// List tokens.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ScimToken>>, ApiError> {
    Ok(Json(state.store.list_scim_tokens(caller.team_id).await?))
}

/// Create a token.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateScimToken>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedScimToken>), ApiError> {
    let Json(body) = body?;
    let name = label(body.name.as_deref().unwrap_or("scim"))?;
    let (scim_token, secret) = state.store.create_scim_token(caller.team_id, name).await?;
    audit::record(
        &state,
        Some(caller.team_id),
        "scim_token.created",
        Some(format!("scim_token:{}", scim_token.id)),
        AuditOutcome::Success,
        json!({"name": scim_token.name}),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedScimToken {
            scim_token,
            secret: SecretText::new(secret.secret()),
        }),
    ))
}

/// Revoke a token.
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let revoked = state.store.revoke_scim_token(caller.team_id, id).await?;
    if revoked {
        audit::record(
            &state,
            Some(caller.team_id),
            "scim_token.revoked",
            Some(format!("scim_token:{id}")),
            AuditOutcome::Success,
            json!({}),
        )
        .await;
    }
    no_content_or_not_found(revoked, "scim token")
}
