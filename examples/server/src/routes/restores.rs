//! Restore plans, restores, syncs and undos (`restore from backup`), for the caller's
//! team only. See [`crate::restores`] for how a run goes.
//!
//! - `POST /connections/{id}/restore-plans`: the plan of a restore onto the connection's
//!   org, made now (reads the snapshot and the org, writes nothing); kept, sealed, by its
//!   fingerprint. The JSON is the CLI's `butterfly restore --dry-run --output json`.
//! - `POST /connections/{id}/restores`: a restore job (`202`). With `plan_fingerprint` it
//!   executes exactly that reviewed plan and is refused (the run fails, nothing written)
//!   when the org changed since; `dry_run` only plans.
//! - `POST /connections/{target}/syncs`: a sync job from a snapshot of another org of the
//!   team, matched by name, with variables.
//! - `GET /restores`, `GET /restores/{id}`: runs, newest first; one with its plan,
//!   report, follow-ups and error.
//! - `POST /restores/{id}/undo`: a job that takes a finished run back.
//!
//! A second run that writes to an org while one runs is refused with `409`, naming the
//! running job (enforced by the database, so across replicas).
//!
//! Entra ID connections take restore plans, restores (dry run, reviewed plan) and undos
//! through the Entra runner, with the same bodies and answers; a sync onto one is refused
//! with `400`.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use butterfly_core::SnapshotId;
use butterfly_core::api::{
    RestoreJobBody, RestorePlanRequestBody, RestoreRequestBody, SyncRequestBody,
};
use butterfly_core::restore::{RestoreMode, RestoreOptions, RestorePlan, Variables};
use butterfly_core::store::{AuditOutcome, BackupConnection, ConnectionStore};
use butterfly_core::{ProviderKind, ResourceKind};
use butterfly_providers::entra::restore::runner::RunError;
use butterfly_providers::{entra, okta};
use butterfly_store::sql::{AuditContext, NewRestoreJob, RestoreJob, RestoreStart};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::backups::{repository_error, resolve_prefix};
use super::connections::find;
use super::{audit, parse_id};
use crate::app::AppState;
use crate::error::ApiError;
use crate::rbac::Caller;
use crate::restores::{
    RestoreJobError, RunRequest, STALE_AFTER, is_entra, journal_has_done_steps, make_entra_plan,
    make_plan, open_plan, seal_plan, spawn,
};

/// Most kinds or ids one request may name.
const MAX_SELECTORS: usize = 1000;

/// `POST /restores/{id}/undo` body (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UndoRequest {
    /// Plan only: zero writes.
    #[serde(default)]
    pub dry_run: bool,
}

/// `GET /restores` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListRestores {
    /// At most this many, newest first (default 50, at most 500).
    #[serde(default)]
    pub limit: Option<u32>,
}

fn describe(state: &AppState, job: &RestoreJob, with_plan: bool) -> RestoreJobBody {
    let plan = job.plan_sealed.as_ref().and_then(|sealed| {
        open_plan(state, job.team_id, sealed)
            .inspect_err(
                |e| tracing::warn!(job = %job.id, error = %e, "cannot open a restore's plan"),
            )
            .ok()
    });
    let mut body = RestoreJobBody::new(job.id, &job.kind, job.status.as_str());
    body.connection_id = job.connection_id;
    body.org.clone_from(&job.org);
    body.dry_run = job.dry_run;
    body.requested_by.clone_from(&job.requested_by);
    body.undo_of = job.undo_of;
    body.request.clone_from(&job.request);
    body.created_at = job.created_at.timestamp();
    body.finished_at = job.finished_at.as_ref().map(DateTime::timestamp);
    body.counts = plan.as_ref().map(|p| {
        json!({
            "create": p.create.len(),
            "update": p.update.len(),
            "delete": p.delete.len(),
            "skip": p.skip.len(),
            "plan_fingerprint": p.fingerprint.to_string(),
        })
    });
    body.follow_ups = plan
        .as_ref()
        .map(|p| p.follow_ups.clone())
        .unwrap_or_default();
    body.plan = plan.filter(|_| with_plan);
    body.report.clone_from(&job.report);
    body.error.clone_from(&job.error);
    body
}

/// Check the kinds (of the connection's provider's catalogue) and ids a request names.
fn check_kinds(
    connection: &BackupConnection,
    list: &[String],
    ids: &[String],
) -> Result<(), ApiError> {
    if list.len() > MAX_SELECTORS || ids.len() > MAX_SELECTORS {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_SELECTORS} kinds and {MAX_SELECTORS} ids"
        )));
    }
    let known = |kind: &str| {
        if is_entra(connection) {
            // A kind a restore does not write would only be skipped: say so now, as
            // the CLI does.
            entra::kinds::by_name(kind).is_some_and(|k| k.restore_rank.is_some())
        } else {
            okta::kinds::by_name(kind).is_some()
        }
    };
    if let Some(bad) = list.iter().find(|k| !known(k)) {
        return Err(ApiError::BadRequest(format!(
            "unknown or not restorable kind `{bad}` for {} connections",
            connection.provider
        )));
    }
    Ok(())
}

/// Restores and undos: Okta and Entra ID connections.
fn restorable(connection: &BackupConnection) -> Result<(), ApiError> {
    if connection.provider == ProviderKind::Okta.as_str() || is_entra(connection) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "restore is not available for `{}` connections",
            connection.provider
        )))
    }
}

/// Syncs: Okta connections only (Entra ID restores match by id, then name, and take no
/// variables).
fn okta_only(connection: &BackupConnection) -> Result<(), ApiError> {
    if connection.provider == ProviderKind::Okta.as_str() {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "sync is not available for `{}` connections",
            connection.provider
        )))
    }
}

async fn resolve_snapshot(
    state: &AppState,
    caller: &Caller,
    text: &str,
) -> Result<SnapshotId, ApiError> {
    let repo = state
        .backups
        .repository(caller.team_id)
        .await
        .map_err(repository_error)?;
    let ids = repo.ids().await.map_err(|e| repository_error(e.into()))?;
    match text.parse::<SnapshotId>() {
        Ok(id) if ids.contains(&id) => Ok(id),
        Ok(_) => Err(ApiError::NotFound("snapshot")),
        Err(_) => resolve_prefix(&ids, text),
    }
}

fn options(
    kinds: &[String],
    ids: &[String],
    overwrite: bool,
    delete_extra: bool,
) -> RestoreOptions {
    RestoreOptions::default()
        .with_kinds(kinds.iter().map(ResourceKind::new))
        .with_ids(ids.iter().cloned())
        .with_overwrite(overwrite)
        .with_delete_extra(delete_extra)
}

fn plan_error(e: RestoreJobError) -> ApiError {
    match e {
        RestoreJobError::Plan(plan) => ApiError::Conflict(plan.to_string()),
        RestoreJobError::Fetch(fetch) => {
            ApiError::Upstream(format!("cannot read the org: {fetch}"))
        }
        RestoreJobError::Entra(run) => match *run {
            RunError::Plan(plan) => ApiError::Conflict(plan.to_string()),
            e @ RunError::OtherTenant { .. } => ApiError::Conflict(e.to_string()),
            e @ RunError::NotEntra(_) => ApiError::BadRequest(e.to_string()),
            e @ (RunError::Fetch(_) | RunError::Unreadable { .. }) => {
                ApiError::Upstream(e.to_string())
            }
            other => ApiError::Internal(Box::new(other)),
        },
        other => ApiError::Internal(Box::new(other)),
    }
}

/// Plan a restore onto the connection's org: zero writes. The plan is kept so that
/// `POST /restores` can execute exactly it by its fingerprint.
pub async fn plan(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<RestorePlanRequestBody>, JsonRejection>,
) -> Result<Json<RestorePlan>, ApiError> {
    let Json(body) = body?;
    let connection = find(&state, &caller, &id).await?;
    restorable(&connection)?;
    check_kinds(&connection, &body.kinds, &body.ids)?;
    let snapshot = resolve_snapshot(&state, &caller, &body.snapshot).await?;
    let options = options(&body.kinds, &body.ids, body.overwrite, body.delete_extra);
    let made = if is_entra(&connection) {
        make_entra_plan(&state, &connection, snapshot, options).await
    } else {
        make_plan(
            &state,
            &connection,
            snapshot,
            RestoreMode::Restore,
            &options,
            None,
        )
        .await
        .map(|(made, _)| made)
    }
    .map_err(plan_error)?;
    let sealed = seal_plan(&state, &connection, &made).map_err(plan_error)?;
    state
        .store
        .save_restore_plan(
            caller.team_id,
            &made.fingerprint.to_string(),
            connection.id,
            &sealed,
        )
        .await?;
    audit::record(
        &state,
        Some(caller.team_id),
        "restore.planned",
        Some(format!("connection:{}", connection.id)),
        AuditOutcome::Success,
        json!({
            "snapshot": snapshot,
            "plan_fingerprint": made.fingerprint.to_string(),
            "create": made.create.len(),
            "update": made.update.len(),
            "delete": made.delete.len(),
        }),
    )
    .await;
    Ok(Json(made))
}

/// Start a run: the row first (which takes the org, or says who holds it), then the task.
#[allow(clippy::too_many_arguments)] // One private call site per kind of run.
async fn start(
    state: &AppState,
    caller: &Caller,
    connection: BackupConnection,
    kind: &str,
    dry_run: bool,
    request_body: Value,
    undo_of: Option<Uuid>,
    run: RunRequest,
) -> Result<(StatusCode, Json<RestoreJobBody>), ApiError> {
    let (actor, _) = AuditContext::current();
    let stale_before =
        Utc::now() - chrono::TimeDelta::from_std(STALE_AFTER).unwrap_or(chrono::TimeDelta::MAX);
    let started = state
        .store
        .start_restore_job(
            NewRestoreJob {
                team_id: caller.team_id,
                connection_id: connection.id,
                org: connection.org_url.clone(),
                kind: kind.to_owned(),
                dry_run,
                request: request_body.clone(),
                requested_by: actor,
                undo_of,
            },
            stale_before,
        )
        .await?;
    let job = match started {
        RestoreStart::Started(job) => *job,
        RestoreStart::Busy {
            job_id,
            team_id,
            since,
        } => {
            let since = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            return Err(ApiError::Conflict(if team_id == caller.team_id {
                format!(
                    "a restore of {} is already running: job {job_id}, started {since}; \
                     restores of one org never run at once, try again when it has finished",
                    connection.org_url
                )
            } else {
                format!(
                    "another team's restore of {} is running (started {since}); restores of \
                     one org never run at once, try again when it has finished",
                    connection.org_url
                )
            }));
        }
        _ => return Err(ApiError::Conflict("the org is busy; try again".into())),
    };
    let mut detail = request_body;
    if let Value::Object(map) = &mut detail {
        map.insert("connection_id".into(), json!(connection.id));
        map.insert("connection".into(), json!(connection.name));
    }
    audit::record(
        state,
        Some(caller.team_id),
        &format!("{kind}.requested"),
        Some(format!("restore:{}", job.id)),
        AuditOutcome::Success,
        detail,
    )
    .await;
    let body = describe(state, &job, false);
    spawn(state.clone(), job, connection, run);
    Ok((StatusCode::ACCEPTED, Json(body)))
}

/// Start a restore (or a dry run of one, or the execution of a reviewed plan).
pub async fn restore(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<RestoreRequestBody>, JsonRejection>,
) -> Result<(StatusCode, Json<RestoreJobBody>), ApiError> {
    let Json(body) = body?;
    let connection = find(&state, &caller, &id).await?;
    restorable(&connection)?;
    check_kinds(&connection, &body.kinds, &body.ids)?;
    let (run, request) = if let Some(fingerprint) = &body.plan_fingerprint {
        if body.snapshot.is_some()
            || !body.kinds.is_empty()
            || !body.ids.is_empty()
            || body.overwrite
            || body.delete_extra
        {
            return Err(ApiError::BadRequest(
                "with plan_fingerprint the reviewed plan says what to do: leave out snapshot, \
                 kinds, ids, overwrite and delete_extra"
                    .into(),
            ));
        }
        let fingerprint = fingerprint.to_ascii_lowercase();
        let (planned_for, sealed) = state
            .store
            .restore_plan(caller.team_id, &fingerprint)
            .await?
            .ok_or(ApiError::NotFound("restore plan"))?;
        if planned_for != connection.id {
            return Err(ApiError::Conflict(format!(
                "plan {fingerprint} was made for connection {planned_for}, not {}",
                connection.id
            )));
        }
        let plan = open_plan(&state, caller.team_id, &sealed).map_err(plan_error)?;
        let request = json!({
            "snapshot": plan.snapshot_id,
            "plan_fingerprint": fingerprint,
            "dry_run": body.dry_run,
        });
        (RunRequest::Reviewed(Box::new(plan)), request)
    } else {
        let Some(text) = &body.snapshot else {
            return Err(ApiError::BadRequest(
                "name a snapshot, or give plan_fingerprint".into(),
            ));
        };
        let snapshot = resolve_snapshot(&state, &caller, text).await?;
        let request = json!({
            "snapshot": snapshot,
            "kinds": body.kinds,
            "ids": body.ids,
            "overwrite": body.overwrite,
            "delete_extra": body.delete_extra,
            "dry_run": body.dry_run,
        });
        let run = RunRequest::Fresh {
            snapshot,
            mode: RestoreMode::Restore,
            options: options(&body.kinds, &body.ids, body.overwrite, body.delete_extra),
            variables: None,
        };
        (run, request)
    };
    start(
        &state,
        &caller,
        connection,
        "restore",
        body.dry_run,
        request,
        None,
        run,
    )
    .await
}

/// Start a sync from a snapshot (of another org of the team) onto the target's org.
pub async fn sync(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<SyncRequestBody>, JsonRejection>,
) -> Result<(StatusCode, Json<RestoreJobBody>), ApiError> {
    let Json(body) = body?;
    let connection = find(&state, &caller, &id).await?;
    okta_only(&connection)?;
    check_kinds(&connection, &body.kinds, &[])?;
    let variables = match &body.vars {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(Variables::parse(text)),
        Some(object @ Value::Object(_)) => Some(Variables::parse(&object.to_string())),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "vars: expected the variables file as text, or its JSON object".into(),
            ));
        }
    }
    .transpose()
    .map_err(|e| ApiError::BadRequest(format!("vars: {e}")))?;
    let snapshot = resolve_snapshot(&state, &caller, &body.snapshot).await?;
    // Variables' values may be internal URLs and names: the request keeps their names.
    let request = json!({
        "snapshot": snapshot,
        "kinds": body.kinds,
        "delete_extra": body.delete_extra,
        "dry_run": body.dry_run,
        "variables": variables.as_ref().map(|v| v.variables.keys().collect::<Vec<_>>()),
        "replacements": variables.as_ref().map_or(0, |v| v.replace.len()),
    });
    let run = RunRequest::Fresh {
        snapshot,
        mode: RestoreMode::Sync,
        // A sync brings the target in line with the source: it updates what differs.
        options: options(&body.kinds, &[], true, body.delete_extra),
        variables,
    };
    start(
        &state,
        &caller,
        connection,
        "sync",
        body.dry_run,
        request,
        None,
        run,
    )
    .await
}

/// Take back a finished run that wrote something.
pub async fn undo(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Option<Json<UndoRequest>>,
) -> Result<(StatusCode, Json<RestoreJobBody>), ApiError> {
    let Json(body) = body.unwrap_or_default();
    let original = state
        .store
        .restore_job(caller.team_id, parse_id(&id)?)
        .await?
        .ok_or(ApiError::NotFound("restore"))?;
    if original.finished_at.is_none() {
        return Err(ApiError::Conflict(format!(
            "restore {} is still running; undo it once it has finished",
            original.id
        )));
    }
    let Some(journal) = original
        .journal
        .as_ref()
        .filter(|j| journal_has_done_steps(j))
    else {
        return Err(ApiError::Conflict(format!(
            "restore {} wrote nothing: there is nothing to undo",
            original.id
        )));
    };
    let records =
        serde_json::from_value(journal.clone()).map_err(|e| ApiError::Internal(Box::new(e)))?;
    let connection = state
        .store
        .connection(caller.team_id, original.connection_id)
        .await?
        .ok_or(ApiError::NotFound("connection"))?;
    let request = json!({"undo_of": original.id, "dry_run": body.dry_run});
    start(
        &state,
        &caller,
        connection,
        "undo",
        body.dry_run,
        request,
        Some(original.id),
        RunRequest::Undo { journal: records },
    )
    .await
}

/// The team's runs, newest first (without their plans).
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListRestores>, QueryRejection>,
) -> Result<Json<Vec<RestoreJobBody>>, ApiError> {
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let jobs = state.store.list_restore_jobs(caller.team_id, limit).await?;
    Ok(Json(
        jobs.iter().map(|j| describe(&state, j, false)).collect(),
    ))
}

/// One run, with its plan.
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RestoreJobBody>, ApiError> {
    let job = state
        .store
        .restore_job(caller.team_id, parse_id(&id)?)
        .await?
        .ok_or(ApiError::NotFound("restore"))?;
    Ok(Json(describe(&state, &job, true)))
}
