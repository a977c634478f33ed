//! Backup schedules: `GET /schedules`, and per connection `GET|PUT|DELETE
//! /connections/{id}/schedule`, `POST /connections/{id}/schedule/pause|resume`.
//! Changing one needs `edit_backup_schedules`.
//!
//! A save checks the schedule ([`Schedule::new`]), clears the failure count and any
//! pause, and sets the next run to the first slot after now (so re-saving is how a
//! schedule paused after failures is resumed at once, as the product documents).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use butterfly_core::api::ScheduleBody;
use butterfly_core::schedule::{Schedule, ScheduleSpec};
use butterfly_core::store::{AuditOutcome, BackupSchedule, ConnectionStore, ScheduleStore};
use chrono::DateTime;
use serde_json::json;

use super::audit;
use super::connections::find;
use crate::app::AppState;
use crate::backups::PAUSE_AFTER_FAILURES;
use crate::error::ApiError;
use crate::rbac::Caller;

/// A schedule for people: its description, or why it is stored but unreadable.
pub(crate) fn description(schedule: &BackupSchedule) -> String {
    let text = match Schedule::new(&schedule.spec) {
        Ok(checked) => checked.describe(),
        Err(e) => format!("invalid: {e}"),
    };
    if schedule.paused {
        format!("{text}, paused")
    } else {
        text
    }
}

fn describe(state: &AppState, schedule: &BackupSchedule, name: &str) -> ScheduleBody {
    let checked = Schedule::new(&schedule.spec);
    let now = state.clock.now();
    let failure_pause = schedule.paused_until.filter(|until| *until > now);
    let (status, warning) = if schedule.paused {
        ("paused", None)
    } else if let Some(until) = failure_pause {
        (
            "paused_after_failures",
            Some(format!(
                "paused after {} failed scheduled runs in a row, until {}; re-save the \
                 schedule (or resume it) to run again now",
                schedule.consecutive_failures,
                butterfly_core::rfc3339::format(&until).unwrap_or_default()
            )),
        )
    } else if schedule.consecutive_failures > 0 {
        (
            "active",
            Some(format!(
                "{} scheduled run(s) failed in a row; after {PAUSE_AFTER_FAILURES} the \
                 schedule pauses for 24 hours",
                schedule.consecutive_failures
            )),
        )
    } else {
        ("active", None)
    };
    let warning = match &checked {
        Err(e) => Some(format!("the stored schedule is invalid: {e}")),
        Ok(_) => warning,
    };
    ScheduleBody {
        connection_id: schedule.connection_id,
        connection_name: name.to_owned(),
        consecutive_failures: schedule.consecutive_failures,
        cron: checked
            .as_ref()
            .map(|s| s.cron_expression().to_owned())
            .unwrap_or_default(),
        description: description(schedule),
        last_job_id: schedule.last_job_id,
        last_run_at: schedule.last_run_at.as_ref().map(DateTime::timestamp),
        next_run_at: schedule
            .next_run_at
            .filter(|_| !schedule.paused)
            .as_ref()
            .map(DateTime::timestamp),
        paused_until: failure_pause.as_ref().map(DateTime::timestamp),
        spec: schedule.spec.clone(),
        state: status.to_owned(),
        warning,
    }
}

/// The team's schedules, by connection name.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ScheduleBody>>, ApiError> {
    let connections = state.store.list_connections(caller.team_id).await?;
    let schedules = state.store.list_schedules(caller.team_id).await?;
    Ok(Json(
        connections
            .iter()
            .filter_map(|c| {
                schedules
                    .iter()
                    .find(|s| s.connection_id == c.id)
                    .map(|s| describe(&state, s, &c.name))
            })
            .collect(),
    ))
}

/// One connection's schedule.
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ScheduleBody>, ApiError> {
    let connection = find(&state, &caller, &id).await?;
    let schedule = state
        .store
        .schedule(caller.team_id, connection.id)
        .await?
        .ok_or(ApiError::NotFound("schedule"))?;
    Ok(Json(describe(&state, &schedule, &connection.name)))
}

/// Save a connection's schedule: checked, failure count and pauses cleared, next run
/// the first slot after now.
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<ScheduleSpec>, JsonRejection>,
) -> Result<Json<ScheduleBody>, ApiError> {
    let Json(spec) = body?;
    let connection = find(&state, &caller, &id).await?;
    let schedule = Schedule::new(&spec).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let next = schedule
        .next_after(state.clock.now())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let saved = state
        .store
        .put_schedule(caller.team_id, connection.id, schedule.spec().clone(), next)
        .await?;
    audit::record(
        &state,
        Some(caller.team_id),
        "schedule.saved",
        Some(format!("connection:{}", connection.id)),
        AuditOutcome::Success,
        json!({"schedule": schedule.spec(), "description": schedule.describe()}),
    )
    .await;
    Ok(Json(describe(&state, &saved, &connection.name)))
}

/// Remove a connection's schedule: back to manual backups.
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let connection = find(&state, &caller, &id).await?;
    let found = state
        .store
        .delete_schedule(caller.team_id, connection.id)
        .await?;
    if found {
        audit::record(
            &state,
            Some(caller.team_id),
            "schedule.deleted",
            Some(format!("connection:{}", connection.id)),
            AuditOutcome::Success,
            json!({}),
        )
        .await;
    }
    super::no_content_or_not_found(found, "schedule")
}

/// Pause a schedule until resumed.
pub async fn pause(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ScheduleBody>, ApiError> {
    set_paused(state, caller, id, true).await
}

/// Resume a schedule: failure count and pauses cleared, next run the first slot after
/// now.
pub async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ScheduleBody>, ApiError> {
    set_paused(state, caller, id, false).await
}

async fn set_paused(
    state: AppState,
    caller: Caller,
    id: String,
    paused: bool,
) -> Result<Json<ScheduleBody>, ApiError> {
    let connection = find(&state, &caller, &id).await?;
    let current = state
        .store
        .schedule(caller.team_id, connection.id)
        .await?
        .ok_or(ApiError::NotFound("schedule"))?;
    let next = if paused {
        None
    } else {
        let schedule =
            Schedule::new(&current.spec).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        Some(
            schedule
                .next_after(state.clock.now())
                .map_err(|e| ApiError::BadRequest(e.to_string()))?,
        )
    };
    state
        .store
        .set_schedule_paused(caller.team_id, connection.id, paused, next)
        .await?;
    audit::record(
        &state,
        Some(caller.team_id),
        if paused {
            "schedule.paused_by_member"
        } else {
            "schedule.resumed"
        },
        Some(format!("connection:{}", connection.id)),
        AuditOutcome::Success,
        json!({}),
    )
    .await;
    let schedule = state
        .store
        .schedule(caller.team_id, connection.id)
        .await?
        .ok_or(ApiError::NotFound("schedule"))?;
    Ok(Json(describe(&state, &schedule, &connection.name)))
}
