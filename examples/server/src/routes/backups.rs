//! `/api/v1/backups` (backup jobs) and `/api/v1/snapshots` (what they produced).
//!
//! `POST /backups` queues a job and answers `202` at once; the job's status, progress
//! (resources and kinds so far) and outcome are read with `GET /backups/{id}`. A
//! finished job's outcome is the backup runner's `BackupOutcome`: the snapshot's
//! summary (the same JSON as `GET /snapshots/{id}`), write stats and fetch counters,
//! plus `compliance`, the snapshot's compliance summary per framework (see
//! [`crate::backups`]).

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use butterfly_core::api::BackupJobBody;
use butterfly_core::diff::{DiffOptions, DiffRules, Severity, SnapshotDiff, diff_snapshots};
use butterfly_core::source::{SnapshotSource, SourceError};
use butterfly_core::store::{AuditOutcome, ConnectionJobStore, Job, JobStore, StoreError};
use butterfly_core::{ResourceKind, SnapshotId, SnapshotSummary};
use butterfly_store::snapshots::SnapshotError;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::connections::find;
use super::{audit, parse_id};
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

fn describe_job(job: &Job) -> BackupJobBody {
    let mut body = BackupJobBody::new(job.id, &job.kind, job.status);
    body.connection_id = job
        .payload
        .get("connection_id")
        .and_then(Value::as_str)
        .and_then(|id| id.parse().ok());
    body.attempts = job.attempts;
    body.created_at = job.created_at.timestamp();
    body.finished_at = job.finished_at.as_ref().map(DateTime::timestamp);
    body.progress.clone_from(&job.progress);
    body.outcome.clone_from(&job.outcome);
    body
}

/// Queue a backup of a connection.
pub async fn start(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<StartBackup>, JsonRejection>,
) -> Result<(StatusCode, Json<BackupJobBody>), ApiError> {
    let Json(body) = body?;
    let connection = find(&state, &caller, &body.connection_id).await?;
    // One backup of a connection at a time: the job table refuses a second one.
    let queued = state
        .store
        .enqueue_connection_job(
            caller.team_id,
            connection.id,
            OKTA_BACKUP_JOB,
            json!({"connection_id": connection.id}),
            Utc::now(),
        )
        .await;
    let job = match queued {
        Ok(job) => job,
        Err(StoreError::Conflict(_)) => {
            let running = state
                .store
                .active_connection_job(caller.team_id, connection.id)
                .await?;
            return Err(ApiError::Conflict(match running {
                Some(job) => format!(
                    "a backup of connection `{}` is already {}: job {}; wait for it to finish",
                    connection.name,
                    job.status.as_str(),
                    job.id
                ),
                None => format!(
                    "a backup of connection `{}` is already queued or running",
                    connection.name
                ),
            }));
        }
        Err(e) => return Err(e.into()),
    };
    state.backups.job_queued();
    audit::record(
        &state,
        Some(caller.team_id),
        "backup.queued",
        Some(format!("job:{}", job.id)),
        AuditOutcome::Success,
        json!({"connection_id": connection.id, "connection": connection.name}),
    )
    .await;
    Ok((StatusCode::ACCEPTED, Json(describe_job(&job))))
}

/// The team's backup jobs, newest first.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListBackups>, QueryRejection>,
) -> Result<Json<Vec<BackupJobBody>>, ApiError> {
    // A bad query string gets the API's JSON error, not axum's plain text.
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let jobs = state
        .store
        .list_jobs(caller.team_id, OKTA_BACKUP_JOB, limit)
        .await?;
    Ok(Json(jobs.iter().map(describe_job).collect()))
}

/// One backup job.
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<BackupJobBody>, ApiError> {
    let job = state
        .store
        .job(caller.team_id, parse_id(&id)?)
        .await?
        .filter(|job| job.kind == OKTA_BACKUP_JOB)
        .ok_or(ApiError::NotFound("backup"))?;
    Ok(Json(describe_job(&job)))
}

pub(crate) fn repository_error(e: BackupJobError) -> ApiError {
    match e {
        BackupJobError::Repository(SnapshotError::NotFound(_)) => ApiError::NotFound("snapshot"),
        other => ApiError::Internal(Box::new(other)),
    }
}

/// The team's snapshots, oldest first: each a serialized [`SnapshotSummary`], the JSON
/// the CLI's local mode prints too.
pub async fn snapshots(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<SnapshotSummary>>, ApiError> {
    let repo = state
        .backups
        .repository(caller.team_id)
        .await
        .map_err(repository_error)?;
    let listed = repo.list().await.map_err(|e| repository_error(e.into()))?;
    Ok(Json(listed))
}

/// One snapshot, by id or an unambiguous prefix of it (at least 4 characters): its
/// [`SnapshotSummary`] (counts per kind, warnings, root digest).
pub async fn snapshot(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SnapshotSummary>, ApiError> {
    let repo = state
        .backups
        .repository(caller.team_id)
        .await
        .map_err(repository_error)?;
    let id = if let Ok(id) = id.parse::<SnapshotId>() {
        id
    } else {
        let ids = repo.ids().await.map_err(|e| repository_error(e.into()))?;
        resolve_prefix(&ids, &id)?
    };
    let snapshot = repo
        .summary(id)
        .await
        .map_err(|e| repository_error(e.into()))?;
    Ok(Json(snapshot))
}

/// The query of `GET /snapshots/{a}/diff/{b}`.
#[derive(Debug, Deserialize)]
pub struct DiffQuery {
    /// Only these kinds (comma-separated).
    #[serde(default)]
    kind: Option<String>,
    /// Leave out changes below this severity.
    #[serde(default)]
    min_severity: Option<String>,
    /// Also report volatile fields.
    #[serde(default)]
    include_volatile: bool,
}

/// What changed from snapshot `a` to snapshot `b` (ids or unambiguous prefixes): the
/// same JSON as `butterfly diff --output json`.
pub async fn diff(
    State(state): State<AppState>,
    caller: Caller,
    Path((a, b)): Path<(String, String)>,
    query: Result<Query<DiffQuery>, QueryRejection>,
) -> Result<Json<SnapshotDiff>, ApiError> {
    let Query(query) = query?;
    let min_severity = match query.min_severity.as_deref() {
        None => Severity::Info,
        Some(text) => text
            .parse()
            .map_err(|e: butterfly_core::Error| ApiError::BadRequest(e.to_string()))?,
    };
    let options = DiffOptions::default()
        .with_kinds(
            query
                .kind
                .iter()
                .flat_map(|k| k.split(','))
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(ResourceKind::new),
        )
        .with_min_severity(min_severity)
        .with_volatile(query.include_volatile);
    let repo = state
        .backups
        .repository(caller.team_id)
        .await
        .map_err(repository_error)?;
    let ids = repo.ids().await.map_err(|e| repository_error(e.into()))?;
    let resolve = |text: &str| match text.parse::<SnapshotId>() {
        Ok(id) => Ok(id),
        Err(_) => resolve_prefix(&ids, text),
    };
    let (a, b) = (resolve(&a)?, resolve(&b)?);
    let source: &dyn SnapshotSource = repo.as_ref();
    let old = source.manifest(a).await.map_err(source_error)?;
    let new = source.manifest(b).await.map_err(source_error)?;
    let rules = DiffRules::for_provider(old.provider);
    let diff = diff_snapshots(source, &old, &new, &rules, &options)
        .await
        .map_err(source_error)?;
    Ok(Json(diff))
}

pub(crate) fn source_error(e: SourceError) -> ApiError {
    match e {
        SourceError::NotFound(_) => ApiError::NotFound("snapshot"),
        other => ApiError::Internal(Box::new(other)),
    }
}

/// The shortest prefix accepted: shorter ones match too much to be meant.
const MIN_PREFIX: usize = 4;

/// The one id in `ids` starting with `prefix`: `400` for text that cannot be a prefix
/// of an id, `404` when none matches, `409` when several do.
pub(crate) fn resolve_prefix(ids: &[SnapshotId], prefix: &str) -> Result<SnapshotId, ApiError> {
    let prefix = prefix.to_ascii_lowercase();
    if prefix.len() < MIN_PREFIX || !prefix.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(ApiError::BadRequest(format!(
            "`{prefix}` is neither a snapshot id nor a prefix of one (at least {MIN_PREFIX} characters)"
        )));
    }
    let matching: Vec<SnapshotId> = ids
        .iter()
        .copied()
        .filter(|id| id.to_string().starts_with(&prefix))
        .collect();
    match matching.as_slice() {
        [] => Err(ApiError::NotFound("snapshot")),
        [one] => Ok(*one),
        many => Err(ApiError::Conflict(format!(
            "snapshot id prefix `{prefix}` is ambiguous: it matches {} snapshots",
            many.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> SnapshotId {
        text.parse().unwrap()
    }

    #[test]
    fn prefixes_resolve_to_one_snapshot_or_say_why_not() {
        let ids = [
            id("0a1b2c3d-0000-4000-8000-000000000001"),
            id("0a1b9999-0000-4000-8000-000000000002"),
            id("ffff0000-0000-4000-8000-000000000003"),
        ];
        assert_eq!(resolve_prefix(&ids, "0A1B2").unwrap(), ids[0]);
        assert_eq!(resolve_prefix(&ids, "ffff0000-00").unwrap(), ids[2]);
        assert!(matches!(
            resolve_prefix(&ids, "0a1b"),
            Err(ApiError::Conflict(message)) if message.contains("matches 2 snapshots")
        ));
        assert!(matches!(
            resolve_prefix(&ids, "abcd"),
            Err(ApiError::NotFound("snapshot"))
        ));
        for bad in ["0a1", "not-an-id", "0a1b/.."] {
            assert!(
                matches!(resolve_prefix(&ids, bad), Err(ApiError::BadRequest(_))),
                "{bad}"
            );
        }
    }
}
