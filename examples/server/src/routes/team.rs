//! `GET /api/v1/team`, `GET /api/v1/me`.

use axum::Json;
use axum::extract::State;
use butterfly_core::Team;
use butterfly_core::store::{MemberStore, TeamStore};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::error::ApiError;
use crate::rbac::Caller;

/// The caller's team.
pub async fn show(State(state): State<AppState>, caller: Caller) -> Result<Json<Team>, ApiError> {
    state
        .store
        .team(caller.team_id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("team"))
}

/// Who the caller is and what they may do.
pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let team = state
        .store
        .team(caller.team_id)
        .await?
        .ok_or(ApiError::NotFound("team"))?;
    let member = match caller.member_id {
        Some(id) => state.store.member(caller.team_id, id).await?,
        None => None,
    };
    Ok(Json(json!({
        "team": team,
        "role": caller.role,
        "permissions": caller.role.permissions(),
        "api_key_id": caller.api_key_id,
        "member_id": caller.member_id,
        "member": member,
    })))
}
