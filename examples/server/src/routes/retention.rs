//! Retention and deletion: `GET|PUT /api/v1/retention` (the team's and each connection's
//! policy; `edit backup schedules` to change), `DELETE /api/v1/snapshots/{id}`,
//! `PUT|DELETE /api/v1/snapshots/{id}/hold` and `POST /api/v1/prune[?dry_run=true]`
//! (`delete backups`). Deletes, holds, releases and prunes go to the audit trail.
//!
//! Legal holds live in the team's repository beside the snapshots they pin
//! (`butterfly_store::snapshots`), so every process that prunes it honours them.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use butterfly_core::SnapshotId;
use butterfly_core::retention::{RetentionPolicy, RetentionPreset};
use butterfly_core::store::AuditOutcome;
use butterfly_store::snapshots::{PruneOptions, PruneReport, SnapshotError, SnapshotRepository};
use serde::Deserialize;
use serde_json::{Value, json};

use super::backups::{repository_error, resolve_prefix};
use super::{audit, parse_id};
use crate::app::AppState;
use crate::backups::BackupJobError;
use crate::error::ApiError;
use crate::rbac::Caller;

/// The body of `PUT /retention`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionBody {
    /// The connection whose policy this is; absent: the team's.
    #[serde(default)]
    connection: Option<String>,
    /// A preset (`small`, `medium`, `large`, `enterprise`); `policy` fields add to it.
    #[serde(default)]
    preset: Option<String>,
    /// The rules.
    #[serde(default)]
    policy: Option<RetentionPolicy>,
    /// Remove the policy instead (a connection falls back to the team's).
    #[serde(default)]
    clear: bool,
}

/// The query of `POST /prune`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneQuery {
    #[serde(default)]
    dry_run: bool,
}

/// The body of `PUT /snapshots/{id}/hold`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    #[serde(default)]
    reason: String,
}

fn snapshot_error(e: SnapshotError) -> ApiError {
    match e {
        SnapshotError::NotFound(_) => ApiError::NotFound("snapshot"),
        e @ (SnapshotError::Held(_)
        | SnapshotError::Locked { .. }
        | SnapshotError::PruneRefused(_)) => ApiError::Conflict(e.to_string()),
        other => ApiError::Internal(Box::new(other)),
    }
}

async fn repository(
    state: &AppState,
    caller: &Caller,
) -> Result<std::sync::Arc<SnapshotRepository>, ApiError> {
    state
        .backups
        .repository(caller.team_id)
        .await
        .map_err(repository_error)
}

async fn resolve(repo: &SnapshotRepository, id: &str) -> Result<SnapshotId, ApiError> {
    if let Ok(id) = id.parse::<SnapshotId>() {
        return Ok(id);
    }
    let ids = repo
        .ids()
        .await
        .map_err(|e| repository_error(BackupJobError::from(e)))?;
    resolve_prefix(&ids, id)
}

/// The team's policy, each connection's, and the presets.
pub async fn show(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let all = state.store.list_retention(caller.team_id).await?;
    let team = all.iter().find(|r| r.connection.is_none());
    let connections: Vec<_> = all.iter().filter(|r| r.connection.is_some()).collect();
    let presets: serde_json::Map<String, Value> = RetentionPreset::ALL
        .iter()
        .map(|p| (p.name().to_owned(), json!(p.policy())))
        .collect();
    Ok(Json(json!({
        "team": team,
        "connections": connections,
        "presets": presets,
    })))
}

/// Set or clear the team's or a connection's policy.
pub async fn set(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<RetentionBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let connection = match &body.connection {
        Some(id) => {
            let id = parse_id(id)?;
            // Only this team's connections.
            super::connections::find(&state, &caller, &id.to_string()).await?;
            Some(id)
        }
        None => None,
    };
    let policy = if body.clear {
        None
    } else {
        let mut policy = match &body.preset {
            Some(name) => name
                .parse::<RetentionPreset>()
                .map_err(|e| ApiError::BadRequest(e.to_string()))?
                .policy(),
            None => RetentionPolicy::default(),
        };
        if let Some(own) = body.policy {
            let or = |a: Option<u32>, b: Option<u32>| a.or(b);
            policy = RetentionPolicy {
                keep_last: or(own.keep_last, policy.keep_last),
                keep_within: own.keep_within.or(policy.keep_within),
                keep_hourly: or(own.keep_hourly, policy.keep_hourly),
                keep_daily: or(own.keep_daily, policy.keep_daily),
                keep_weekly: or(own.keep_weekly, policy.keep_weekly),
                keep_monthly: or(own.keep_monthly, policy.keep_monthly),
                keep_yearly: or(own.keep_yearly, policy.keep_yearly),
            };
        }
        if policy.is_empty() {
            return Err(ApiError::BadRequest(
                "no rule: give a preset or at least one keep_* rule (or clear: true)".into(),
            ));
        }
        Some(policy)
    };
    state
        .store
        .set_retention(caller.team_id, connection, policy.as_ref())
        .await?;
    audit::record(
        &state,
        Some(caller.team_id),
        "retention.set",
        Some(connection.map_or_else(|| "team".to_owned(), |c| format!("connection:{c}"))),
        AuditOutcome::Success,
        json!({"policy": policy}),
    )
    .await;
    Ok(Json(json!({"connection": connection, "policy": policy})))
}

/// Delete a snapshot (refused while under legal hold); its data goes at the next prune.
pub async fn delete_snapshot(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let repo = repository(&state, &caller).await?;
    let id = resolve(&repo, &id).await?;
    let result = repo.delete_snapshot(id).await;
    let outcome = if result.is_ok() {
        AuditOutcome::Success
    } else {
        AuditOutcome::Denied
    };
    audit::record(
        &state,
        Some(caller.team_id),
        "snapshot.deleted",
        Some(format!("snapshot:{id}")),
        outcome,
        json!({"error": result.as_ref().err().map(ToString::to_string)}),
    )
    .await;
    result.map_err(snapshot_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Put a snapshot under legal hold.
pub async fn hold(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Option<Json<HoldBody>>,
) -> Result<Json<Value>, ApiError> {
    let reason = body.map(|Json(b)| b.reason).unwrap_or_default();
    let repo = repository(&state, &caller).await?;
    let id = resolve(&repo, &id).await?;
    let hold = repo.hold(id, &reason).await.map_err(snapshot_error)?;
    audit::record(
        &state,
        Some(caller.team_id),
        "snapshot.held",
        Some(format!("snapshot:{id}")),
        AuditOutcome::Success,
        json!({"reason": reason}),
    )
    .await;
    Ok(Json(json!(hold)))
}

/// Release a snapshot's legal hold.
pub async fn release(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let repo = repository(&state, &caller).await?;
    let id = resolve(&repo, &id).await?;
    let was_held = repo.release(id).await.map_err(snapshot_error)?;
    if was_held {
        audit::record(
            &state,
            Some(caller.team_id),
            "snapshot.released",
            Some(format!("snapshot:{id}")),
            AuditOutcome::Success,
            json!({}),
        )
        .await;
    }
    super::no_content_or_not_found(was_held, "legal hold")
}

/// Remove the data no snapshot references (`?dry_run=true`: only say what would go).
pub async fn prune(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<PruneQuery>, QueryRejection>,
) -> Result<Json<PruneReport>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let repo = repository(&state, &caller).await?;
    let report = repo
        .prune(PruneOptions::dry_run(query.dry_run))
        .await
        .map_err(snapshot_error)?;
    if !query.dry_run {
        audit::record(
            &state,
            Some(caller.team_id),
            "repository.pruned",
            Some("repository".to_owned()),
            AuditOutcome::Success,
            json!({"objects_removed": report.objects_removed, "bytes_freed": report.bytes_freed}),
        )
        .await;
    }
    Ok(Json(report))
}
