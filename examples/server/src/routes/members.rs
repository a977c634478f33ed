//! `/api/v1/members`: the team's members.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use butterfly_core::store::{ApiKeyStore, MemberStore, MemberUpdate, NewMember, SessionStore};
use butterfly_core::{Member, MemberId, Role, TeamId};
use serde::Deserialize;

use super::parse_id;
use crate::app::AppState;
use crate::error::ApiError;
use crate::rbac::Caller;

/// `POST /members` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateMember {
    /// Sign-in email.
    pub email: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Role (default `read_only`).
    #[serde(default)]
    pub role: Option<Role>,
}

/// `PATCH /members/{id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    /// New role.
    #[serde(default)]
    pub role: Option<Role>,
    /// Suspend (`false`) or reactivate (`true`).
    #[serde(default)]
    pub active: Option<bool>,
    /// New display name.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// List members.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Member>>, ApiError> {
    Ok(Json(state.store.list_members(caller.team_id).await?))
}

/// Add a member.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateMember>, JsonRejection>,
) -> Result<(StatusCode, Json<Member>), ApiError> {
    let Json(body) = body?;
    let email = body.email.trim();
    if !email.contains('@') || email.starts_with('@') || email.ends_with('@') {
        return Err(ApiError::BadRequest(format!(
            "`{email}` is not an email address"
        )));
    }
    let member = state
        .store
        .create_member(
            caller.team_id,
            NewMember {
                email: email.to_owned(),
                display_name: body.display_name,
                role: body.role.unwrap_or(Role::ReadOnly),
                active: true,
                external_id: None,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(member)))
}

/// One member.
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Member>, ApiError> {
    let id = MemberId::from_uuid(parse_id(&id)?);
    state
        .store
        .member(caller.team_id, id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("member"))
}

/// Change a member's role or status. Suspending ends the member's sessions and
/// revokes their API keys at once.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<UpdateMember>, JsonRejection>,
) -> Result<Json<Member>, ApiError> {
    let Json(body) = body?;
    let id = MemberId::from_uuid(parse_id(&id)?);
    let current = state
        .store
        .member(caller.team_id, id)
        .await?
        .ok_or(ApiError::NotFound("member"))?;
    let loses_super_admin = current.role == Role::SuperAdmin
        && current.active
        && (body.role.is_some_and(|r| r != Role::SuperAdmin) || body.active == Some(false));
    if loses_super_admin {
        ensure_another_super_admin(&state, caller.team_id, id).await?;
    }
    let mut update = MemberUpdate::default();
    update.role = body.role;
    update.active = body.active;
    update.display_name = body.display_name.map(Some);
    let member = state
        .store
        .update_member(caller.team_id, id, update)
        .await?;
    if body.active == Some(false) {
        state
            .store
            .revoke_sessions_of_member(caller.team_id, id)
            .await?;
        state
            .store
            .revoke_api_keys_of_member(caller.team_id, id)
            .await?;
    }
    Ok(Json(member))
}

/// Remove a member (their sessions and keys go with them).
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = MemberId::from_uuid(parse_id(&id)?);
    let current = state
        .store
        .member(caller.team_id, id)
        .await?
        .ok_or(ApiError::NotFound("member"))?;
    if current.role == Role::SuperAdmin && current.active {
        ensure_another_super_admin(&state, caller.team_id, id).await?;
    }
    state
        .store
        .revoke_sessions_of_member(caller.team_id, id)
        .await?;
    state
        .store
        .revoke_api_keys_of_member(caller.team_id, id)
        .await?;
    if state.store.delete_member(caller.team_id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("member"))
    }
}

/// A team must keep at least one active super_admin member once it has one.
async fn ensure_another_super_admin(
    state: &AppState,
    team: TeamId,
    leaving: MemberId,
) -> Result<(), ApiError> {
    let others = state
        .store
        .list_members(team)
        .await?
        .into_iter()
        .filter(|m| m.id != leaving && m.active && m.role == Role::SuperAdmin)
        .count();
    if others == 0 {
        return Err(ApiError::Conflict(
            "cannot remove, suspend or demote the team's last super_admin".into(),
        ));
    }
    Ok(())
}
