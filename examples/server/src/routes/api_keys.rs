//! `/api/v1/api-keys`: the team's API keys. The secret is in the creation response
//! only; lists show a non-secret hint.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use butterfly_core::Role;
use butterfly_core::store::{ApiKey, ApiKeyStore, AuditOutcome};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{audit, label, no_content_or_not_found, parse_id};
use crate::app::AppState;
use crate::error::ApiError;
use crate::rbac::Caller;
use crate::secret::SecretText;

/// `POST /api-keys` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// A label.
    pub name: String,
    /// The role the key acts with.
    pub role: Role,
    /// Make a service key for this service (a CI job, Terraform...): it acts for no
    /// member, so it outlives the one who creates it, who is recorded as its owner.
    /// Without it, the key belongs to the member who asks.
    #[serde(default)]
    pub service: Option<String>,
}

/// `POST /api-keys` response: the record and, this once, the secret.
#[derive(Debug, Serialize)]
pub struct CreatedApiKey {
    /// The stored record.
    pub api_key: ApiKey,
    /// The secret. It is not stored and cannot be shown again.
    pub secret: SecretText,
}

/// List keys.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ApiKey>>, ApiError> {
    Ok(Json(state.store.list_api_keys(caller.team_id).await?))
}

/// Create a key. It belongs to the member who asked (signed in, or through a key of
/// theirs), so suspending or removing that member revokes it with their other access.
/// A service key (`service`) belongs to no member and records who created it. A caller
/// that is itself a service key can only create service keys: nobody would own the
/// others.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateApiKey>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    let Json(body) = body?;
    let name = label(&body.name)?;
    let (api_key, secret) = match (&body.service, caller.member_id) {
        (Some(service), _) => {
            let service = label(service)?;
            state
                .store
                .create_service_api_key(caller.team_id, name, body.role, service, caller.answerable)
                .await?
        }
        (None, Some(member)) => {
            state
                .store
                .create_api_key(caller.team_id, name, body.role, Some(member))
                .await?
        }
        (None, None) => {
            return Err(ApiError::BadRequest(
                "this key acts for no member, so the keys it creates must be service keys: \
                 give `service`"
                    .into(),
            ));
        }
    };
    audit::record(
        &state,
        Some(caller.team_id),
        "api_key.created",
        Some(format!("api_key:{}", api_key.id)),
        AuditOutcome::Success,
        json!({
            "name": api_key.name,
            "role": api_key.role,
            "member_id": api_key.member_id,
            "service": api_key.service,
        }),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            api_key,
            secret: SecretText::new(secret.secret()),
        }),
    ))
}

/// Revoke a key.
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let revoked = state.store.revoke_api_key(caller.team_id, id).await?;
    if revoked {
        audit::record(
            &state,
            Some(caller.team_id),
            "api_key.revoked",
            Some(format!("api_key:{id}")),
            AuditOutcome::Success,
            json!({}),
        )
        .await;
    }
    no_content_or_not_found(revoked, "api key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_created_body_shows_the_secret_on_the_wire_only() {
        let created = CreatedApiKey {
            api_key: ApiKey {
                id: uuid::Uuid::nil(),
                team_id: butterfly_core::TeamId::from_uuid(uuid::Uuid::nil()),
                member_id: None,
                service: Some("ci".into()),
                created_by: None,
                name: "ci".into(),
                role: Role::BackupOperator,
                hint: "bfs_api_abcd".into(),
                created_at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
                revoked_at: None,
            },
            secret: SecretText::new("bfs_api_abcd_s3cr3t-tail"),
        };
        let shown = format!("{created:?}");
        assert!(shown.contains("bfs_api_abcd"), "{shown}");
        assert!(!shown.contains("s3cr3t-tail"), "{shown}");
        let wire = serde_json::to_value(&created).unwrap();
        assert_eq!(wire["secret"], "bfs_api_abcd_s3cr3t-tail");
    }
}
