//! `/api/v1/scim/group-roles`: group push. Membership of a provisioned Group grants a
//! role; a member's role is the highest their Groups (and their own `butterflyRole`)
//! give. Changing the mapping re-computes every SCIM member's role at once.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use butterfly_core::Role;
use butterfly_core::store::{AuditOutcome, GroupRoleStore};
use butterfly_scim::store::ScimStoreError;
use serde_json::{Value, json};

use super::audit;
use crate::app::AppState;
use crate::error::ApiError;
use crate::rbac::Caller;

/// The mapping.
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<BTreeMap<String, Role>>, ApiError> {
    Ok(Json(state.store.group_roles(caller.team_id).await?))
}

/// Replace the mapping and apply it to every member provisioned by SCIM.
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<BTreeMap<String, Role>>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(mapping) = body?;
    if mapping.keys().any(|name| name.trim().is_empty()) {
        return Err(ApiError::BadRequest("group names must not be empty".into()));
    }
    let team = caller.team_id;
    let previous = state.store.group_roles(team).await?;
    state.store.set_group_roles(team, mapping.clone()).await?;
    match state.scim.store().recompute_roles(team).await {
        Ok(changed) => {
            audit::record(
                &state,
                Some(team),
                "scim.group_roles_set",
                None,
                AuditOutcome::Success,
                json!({"group_roles": mapping, "members_changed": changed}),
            )
            .await;
            Ok(Json(
                json!({"group_roles": mapping, "members_changed": changed}),
            ))
        }
        Err(e) => {
            // Nothing was applied; put the old mapping back so it stays the truth.
            state.store.set_group_roles(team, previous).await?;
            match e {
                ScimStoreError::Rejected { detail, .. } => Err(ApiError::Conflict(detail)),
                other => Err(ApiError::Internal(Box::new(other))),
            }
        }
    }
}
