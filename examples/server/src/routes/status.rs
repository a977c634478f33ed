//! `GET /api/v1/status` and `GET /api/v1/connections/{id}/status`: connection health
//! (see [`crate::status`]) and the team's storage.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use butterfly_core::schedule::Schedule;
use butterfly_core::store::{
    BackupConnection, ConnectionStore, JobStatus, JobStore, ScheduleStore, TeamStore,
};
use chrono::Utc;

use super::connections::find;
use crate::app::AppState;
use crate::backups::OKTA_BACKUP_JOB;
use crate::error::ApiError;
use crate::rbac::Caller;
use crate::status::{ConnectionHealth, Storage, TeamStatus, connection_health};

/// Backup jobs read to judge health: enough for weeks of hourly runs of a few
/// connections, few enough to read on every status call.
const JOBS_READ: u32 = 500;

/// The interval a connection's backups are expected at: its schedule's interval once
/// schedules exist (the scheduler supplies it here), `None` meanwhile, which reports
/// freshness as `unknown` rather than guessing. Async because the schedule is read
/// from the database.
#[allow(clippy::unused_async)]
pub async fn expected_interval(
    state: &AppState,
    connection: &BackupConnection,
) -> Result<Option<Duration>, ApiError> {
    // A connection without a schedule (manual backups only) has no expected interval;
    // one paused by a person is not expected to run either.
    let Some(saved) = state
        .store
        .schedule(connection.team_id, connection.id)
        .await?
    else {
        return Ok(None);
    };
    if saved.paused {
        return Ok(None);
    }
    let Ok(schedule) = Schedule::new(&saved.spec) else {
        return Ok(None);
    };
    // The gap between the two slots around now: an hour, six hours, a day or a week
    // (23 or 25 hours on a DST day), or a cron expression's current spacing.
    let gap = schedule
        .next_after(state.clock.now())
        .and_then(|next| Ok(schedule.next_after(next)? - next));
    Ok(gap.ok().and_then(|gap| gap.to_std().ok()))
}

async fn health_of(
    state: &AppState,
    connections: &[BackupConnection],
    team: butterfly_core::TeamId,
) -> Result<(Vec<ConnectionHealth>, usize), ApiError> {
    let jobs = state
        .store
        .list_jobs(team, OKTA_BACKUP_JOB, JOBS_READ)
        .await?;
    let now = state.clock.now();
    let mut out = Vec::with_capacity(connections.len());
    for connection in connections {
        let interval = expected_interval(state, connection).await?;
        out.push(connection_health(connection, &jobs, interval, now));
    }
    let in_progress = jobs
        .iter()
        .filter(|j| matches!(j.status, JobStatus::Queued | JobStatus::Running))
        .count();
    Ok((out, in_progress))
}

/// The team's repository size, or `None` (logged) when it cannot be read: status must
/// answer even when storage is the trouble.
async fn storage(state: &AppState, team: butterfly_core::TeamId) -> Option<Storage> {
    let read = async {
        let repo = state.backups.repository(team).await?;
        let bytes = repo.stored_bytes().await?;
        let snapshots = repo.ids().await?.len();
        Ok::<_, crate::backups::BackupJobError>(Storage { bytes, snapshots })
    };
    match read.await {
        Ok(storage) => Some(storage),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the repository's size for status");
            None
        }
    }
}

/// The team at a glance: each connection's health, jobs in progress, storage.
pub async fn team(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<TeamStatus>, ApiError> {
    let team = state
        .store
        .team(caller.team_id)
        .await?
        .ok_or(ApiError::NotFound("team"))?;
    let connections = state.store.list_connections(caller.team_id).await?;
    let (connections, jobs_in_progress) = health_of(&state, &connections, caller.team_id).await?;
    Ok(Json(TeamStatus {
        team: team.name,
        at: Utc::now(),
        connections,
        storage: storage(&state, caller.team_id).await,
        jobs_in_progress,
    }))
}

/// One connection's health.
pub async fn connection(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ConnectionHealth>, ApiError> {
    let connection = find(&state, &caller, &id).await?;
    let (mut health, _) =
        health_of(&state, std::slice::from_ref(&connection), caller.team_id).await?;
    health
        .pop()
        .map(Json)
        .ok_or(ApiError::NotFound("connection"))
}
