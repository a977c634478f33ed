//! `/api/v1/backups` (backup jobs) and `/api/v1/snapshots` (what they produced).
//!
//! `POST /backups` queues a job and answers `202` at once; the job's status, progress
//! (resources and kinds so far) and outcome (snapshot id, counts, warnings) are read with
//! `GET /backups/{id}`.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use butterfly_core::store::{Job, JobStore};
use butterfly_core::{SnapshotId, SnapshotSummary};
use butterfly_store::snapshots::SnapshotError;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::connections::find;
use super::parse_id;
use crate::app::AppState;
use crate::backups::{BackupJobError, OKTA_BACKUP_JOB};
use crate::error::ApiError;
use crate::rbac::Caller;

/// `POST /backups` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBackup {
    /// The connection to back up.
    pub connection_id: String,
}

/// `GET /backups` query.
#[derive(Debug, Deserialize)]
pub struct ListBackups {
    /// At most this many, newest first (default 50, at most 500).
    #[serde(default)]
    pub limit: Option<u32>,
}

fn describe_job(job: &Job) -> Value {
    json!({
        "id": job.id,
        "kind": job.kind,
        "connection_id": job.payload.get("connection_id"),
        "status": job.status,
        "attempts": job.attempts,
        "created_at": job.created_at.unix_timestamp(),
        "finished_at": job.finished_at.map(OffsetDateTime::unix_timestamp),
        "progress": job.progress,
        "outcome": job.outcome,
    })
}

/// Queue a backup of a connection.
pub async fn start(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<StartBackup>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    let connection = find(&state, &caller, &body.connection_id).await?;
    let job = state
        .store
        .enqueue_job(
            caller.team_id,
            OKTA_BACKUP_JOB,
            json!({"connection_id": connection.id}),
            OffsetDateTime::now_utc(),
        )
        .await?;
    state.backups.job_queued();
    Ok((StatusCode::ACCEPTED, Json(describe_job(&job))))
}

/// The team's backup jobs, newest first.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListBackups>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    // A bad query string gets the API's JSON error, not axum's plain text.
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let jobs = state
        .store
        .list_jobs(caller.team_id, OKTA_BACKUP_JOB, limit)
        .await?;
    Ok(Json(Value::Array(jobs.iter().map(describe_job).collect())))
}

/// One backup job.
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let job = state
        .store
        .job(caller.team_id, parse_id(&id)?)
        .await?
        .filter(|job| job.kind == OKTA_BACKUP_JOB)
        .ok_or(ApiError::NotFound("backup"))?;
    Ok(Json(describe_job(&job)))
}

fn describe_snapshot(snapshot: &SnapshotSummary) -> Value {
    json!({
        "id": snapshot.id,
        "provider": snapshot.provider,
        "org": snapshot.org,
        "started_at": snapshot.started_at.unix_timestamp(),
        "finished_at": snapshot.finished_at.map(OffsetDateTime::unix_timestamp),
        "status": snapshot.status,
        "resources": snapshot.resources,
        "kinds": snapshot.counts.len(),
        "warnings": snapshot.warnings.len(),
    })
}

fn repository_error(e: BackupJobError) -> ApiError {
    match e {
        BackupJobError::Repository(SnapshotError::NotFound(_)) => ApiError::NotFound("snapshot"),
        other => ApiError::Internal(Box::new(other)),
    }
}

/// The team's snapshots, oldest first.
pub async fn snapshots(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let repo = state
        .backups
        .repository(caller.team_id)
        .await
        .map_err(repository_error)?;
    let listed = repo.list().await.map_err(|e| repository_error(e.into()))?;
    Ok(Json(Value::Array(
        listed.iter().map(describe_snapshot).collect(),
    )))
}

/// One snapshot: summary, counts per kind, warnings, root digest.
pub async fn snapshot(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: SnapshotId = id
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("`{id}` is not a valid snapshot id")))?;
    let repo = state
        .backups
        .repository(caller.team_id)
        .await
        .map_err(repository_error)?;
    let snapshot = repo
        .summary(id)
        .await
        .map_err(|e| repository_error(e.into()))?;
    let mut shown = describe_snapshot(&snapshot);
    shown["counts"] = json!(snapshot.counts);
    shown["warnings"] = json!(snapshot.warnings);
    shown["root_digest"] = json!(snapshot.root_digest);
    Ok(Json(shown))
}
