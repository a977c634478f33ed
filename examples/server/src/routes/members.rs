//! `/api/v1/members`: the team's members.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use butterfly_core::members::MemberChange;
use butterfly_core::store::{MemberStore, MemberUpdate, MemberWriteStore, NewMember};
use butterfly_core::{Member, MemberId, Role};
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
    let outcome = state
        .store
        .write_members(
            caller.team_id,
            vec![MemberChange::Create(NewMember {
                email: email.to_owned(),
                display_name: body.display_name,
                role: body.role.unwrap_or(Role::ReadOnly),
                active: true,
                external_id: None,
            })],
        )
        .await?;
    let member = outcome
        .members
        .into_iter()
        .flatten()
        .next()
        .ok_or(ApiError::NotFound("member"))?;
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

/// Change a member's role or status, through the member rules in one transaction:
/// the team's last active super_admin cannot be demoted or suspended (409), and a
/// suspension ends the member's sessions and revokes their API keys in the same commit.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<UpdateMember>, JsonRejection>,
) -> Result<Json<Member>, ApiError> {
    let Json(body) = body?;
    let id = MemberId::from_uuid(parse_id(&id)?);
    let mut update = MemberUpdate::new();
    update.role = body.role;
    update.active = body.active;
    update.display_name = body.display_name.map(Some);
    let outcome = state
        .store
        .write_members(caller.team_id, vec![MemberChange::update(id, update)])
        .await?;
    outcome
        .members
        .into_iter()
        .flatten()
        .next()
        .map(Json)
        .ok_or(ApiError::NotFound("member"))
}

/// Remove a member (their sessions and keys go with them), through the member rules:
/// the team's last active super_admin stays (409).
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = MemberId::from_uuid(parse_id(&id)?);
    state
        .store
        .write_members(caller.team_id, vec![MemberChange::Delete(id)])
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
