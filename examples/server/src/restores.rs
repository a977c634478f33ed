//! Restores, syncs and undos as server jobs, with the Okta restore engine of
//! `butterfly_providers::okta::restore` (the same plan and execution as the CLI's
//! `butterfly restore` and `butterfly sync`), and for Entra ID connections the Entra
//! runner of `butterfly_providers::entra::restore::runner` (the CLI's
//! `butterfly restore entra`): restores, dry runs and undos, no syncs.
//!
//! A run is a row of `restore_jobs` (see `butterfly_store::sql::SqlStore::start_restore_job`)
//! and a task on the server that accepted it: it reads the live org, makes (or checks) the
//! plan, keeps it sealed under the team's key, and unless it is a dry run stores the undo
//! snapshot and performs the plan. The row holds its org while it writes, so two runs on
//! one org never overlap, whichever replica started them; the task beats every few
//! seconds, and a run whose server died is failed as abandoned by the next start on its
//! org once its beat is [`STALE_AFTER`] old.
//!
//! These runs deliberately do not go through the backup job queue: they are started by a
//! person reviewing a plan and must start at once or be refused, never wait in a queue
//! behind backups.
//!
//! The journal is kept in memory while the run writes and stored with the run when it
//! ends (ids and actions only); `POST /restores/{id}/undo` reads it back. An Entra run
//! stops at its first failed step, and its journal is stored then too, so the steps done
//! before it can be undone. A run killed
//! midway loses its journal: a new run of the same snapshot re-plans, finds what the
//! killed run created by name, and does not create it twice.

use std::collections::BTreeSet;
use std::time::Duration;

use butterfly_core::restore::{PlanError, RestoreMode, RestoreOptions, RestorePlan, Variables};
use butterfly_core::source::{SnapshotSource, SourceError};
use butterfly_core::store::{AuditOutcome, BackupConnection};
use butterfly_core::{Clock as _, ProviderKind, SnapshotId, SystemClock};
use butterfly_providers::entra::restore::ExecuteOptions as EntraExecuteOptions;
use butterfly_providers::entra::restore::runner::{self as entra_runner, RunError};
use butterfly_providers::okta::fetcher::{FetchError, OktaFetcher};
use butterfly_providers::okta::kinds;
use butterfly_providers::okta::restore::execute::ExecutionReport;
use butterfly_providers::okta::restore::plan::{ResourceSet, read_kinds};
use butterfly_providers::okta::restore::{
    ExecuteError, ExecuteOptions, IdMap, Journal, JournalRecord, LiveState, PlanInput, execute,
    plan, read_live, undo_plan,
};
use butterfly_store::snapshots::SnapshotRepository;
use butterfly_store::sql::{AuditContext, RestoreFinish, RestoreJob};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::backups::{BackupJobError, entra_fetcher_for, fetcher_for};

/// Purpose label under which restore plans are sealed.
pub const PLAN_PURPOSE: &str = "restore-plan";

/// How often a running restore shows it is alive.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

/// How long a running restore may be silent before another start on its org fails it
/// as abandoned. Far above [`HEARTBEAT_EVERY`], so a busy database never frees an org
/// under a live run.
pub const STALE_AFTER: Duration = Duration::from_secs(90);

/// Why a restore did not plan or did not finish. The message is what the run's `error`
/// shows: never a resource body, never an upstream body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreJobError {
    /// The connection's credentials could not be used.
    #[error(transparent)]
    Connection(#[from] BackupJobError),
    /// The snapshot could not be read.
    #[error("cannot read the snapshot: {0}")]
    Source(#[from] SourceError),
    /// The undo snapshot could not be read.
    #[error("cannot read the undo snapshot: {0}")]
    Snapshot(#[from] butterfly_store::snapshots::SnapshotError),
    /// The org could not be read or signed in to.
    #[error("cannot read the org: {0}")]
    Fetch(#[from] FetchError),
    /// The plan is refused: stale, edited, or it would write a placeholder.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The run stopped.
    #[error(transparent)]
    Execute(#[from] ExecuteError),
    /// The plan could not be sealed or opened.
    #[error("cannot seal or open the plan: {0}")]
    Seal(#[from] butterfly_store::RepositoryStoreError),
    /// A plan does not serialize or parse.
    #[error("the stored plan is unreadable: {0}")]
    PlanJson(#[from] serde_json::Error),
    /// The plan was made for another org.
    #[error("the plan is for {planned}, not this connection's org {given}")]
    OtherOrg {
        /// The plan's org.
        planned: String,
        /// The connection's.
        given: String,
    },
    /// Steps failed.
    #[error("{failed} step(s) failed; see the run's report; a new restore retries them")]
    StepsFailed {
        /// How many.
        failed: u64,
    },
    /// An Entra ID run did not plan, or was refused before writing.
    #[error(transparent)]
    Entra(Box<RunError>),
    /// An Entra ID run stopped after writing: its journal holds what was done.
    #[error("{source}")]
    EntraStopped {
        /// Why it stopped.
        #[source]
        source: Box<RunError>,
        /// The steps done (and the one that failed), for an undo.
        journal: Vec<JournalRecord>,
    },
    /// Something the provider of the connection cannot do.
    #[error("{0} is not available for entra_id connections")]
    NotForEntra(&'static str),
}

impl RestoreJobError {
    /// A short code for the run's `error_code`.
    pub fn code(&self) -> &'static str {
        match self {
            RestoreJobError::Plan(PlanError::LiveChanged { .. }) => "plan_stale",
            RestoreJobError::Plan(_) => "plan_refused",
            RestoreJobError::OtherOrg { .. } => "other_org",
            RestoreJobError::StepsFailed { .. } => "steps_failed",
            RestoreJobError::Fetch(_) | RestoreJobError::Connection(_) => "org_unreachable",
            RestoreJobError::Entra(e) | RestoreJobError::EntraStopped { source: e, .. } => {
                entra_code(e)
            }
            RestoreJobError::NotForEntra(_) => "not_supported",
            _ => "internal",
        }
    }
}

impl From<RunError> for RestoreJobError {
    fn from(error: RunError) -> Self {
        // Boxed: the run's error is large, and every result of this module carries it.
        RestoreJobError::Entra(Box::new(error))
    }
}

/// The `error_code` of an Entra run's error, in Okta's words where they mean the same.
fn entra_code(error: &RunError) -> &'static str {
    match error {
        RunError::Plan(PlanError::LiveChanged { .. }) => "plan_stale",
        RunError::Plan(_) => "plan_refused",
        RunError::OtherTenant { .. } | RunError::NotEntra(_) => "other_org",
        RunError::MissingPermissions { .. } => "missing_permissions",
        RunError::Fetch(_) | RunError::Unreadable { .. } => "org_unreachable",
        RunError::Execute(_) => "steps_failed",
        _ => "internal",
    }
}

/// Whether a connection is an Entra ID one (its runs go to the Entra runner).
pub fn is_entra(connection: &BackupConnection) -> bool {
    connection.provider == ProviderKind::EntraId.as_str()
}

/// What a run is asked to do.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunRequest {
    /// Plan from a snapshot of the team's repository, then (unless a dry run) execute.
    Fresh {
        /// The snapshot.
        snapshot: SnapshotId,
        /// Restore (by id, then name) or sync (by name, with variables).
        mode: RestoreMode,
        /// Kinds, ids, overwrite, delete-extra.
        options: RestoreOptions,
        /// A sync's variables.
        variables: Option<Variables>,
    },
    /// Execute exactly this reviewed plan, refused if the org changed since.
    Reviewed(Box<RestorePlan>),
    /// Take back a finished run, from its journal.
    Undo {
        /// The journal of the run taken back.
        journal: Vec<JournalRecord>,
    },
}

/// What a run did: its plan, and what executing it did.
#[derive(Debug)]
pub struct RunOutcome {
    /// The plan made or executed.
    pub plan: RestorePlan,
    /// What execution did (`None` for a dry run or an empty plan).
    pub report: Option<ExecutionReport>,
    /// The journal (empty for a dry run).
    pub journal: Vec<JournalRecord>,
}

/// Plan a restore or sync of `snapshot` onto the connection's org: reads the snapshot
/// and the live org, writes nothing.
pub async fn make_plan(
    state: &AppState,
    connection: &BackupConnection,
    snapshot: SnapshotId,
    mode: RestoreMode,
    options: &RestoreOptions,
    variables: Option<&Variables>,
) -> Result<(RestorePlan, LiveState), RestoreJobError> {
    let fetcher = fetcher_for(state, connection)?;
    let repo = state.backups.repository(connection.team_id).await?;
    plan_with(
        &fetcher, &repo, connection, snapshot, mode, options, variables,
    )
    .await
}

async fn plan_with(
    fetcher: &OktaFetcher,
    repo: &SnapshotRepository,
    connection: &BackupConnection,
    snapshot: SnapshotId,
    mode: RestoreMode,
    options: &RestoreOptions,
    variables: Option<&Variables>,
) -> Result<(RestorePlan, LiveState), RestoreJobError> {
    let source: &dyn SnapshotSource = repo;
    let manifest = source.manifest(snapshot).await?;
    let read = read_kinds(options);
    let ours = ResourceSet::from_snapshot(source, &manifest, &read).await?;
    let live = read_live(fetcher, &read).await?;
    let made = plan(&PlanInput {
        snapshot: &manifest,
        snapshot_resources: &ours,
        live: &live,
        mode,
        options,
        variables,
        known: &IdMap::new(),
        own_client_id: Some(connection.client_id.as_str()),
        now: SystemClock.now(),
    })?;
    Ok((made, live))
}

/// Plan a restore of `snapshot` onto an Entra ID connection's tenant with the Entra
/// runner: reads the snapshot and the tenant, writes nothing.
pub async fn make_entra_plan(
    state: &AppState,
    connection: &BackupConnection,
    snapshot: SnapshotId,
    options: RestoreOptions,
) -> Result<RestorePlan, RestoreJobError> {
    let fetcher = entra_fetcher_for(state, connection)?;
    let repo = state.backups.repository(connection.team_id).await?;
    let prepared = entra_runner::prepare(
        &fetcher,
        repo.as_ref(),
        entra_runner::RunRequest::Fresh { snapshot, options },
        SystemClock.now(),
    )
    .await?;
    Ok(prepared.plan)
}

/// Seal a plan under the team's key, for the database.
pub fn seal_plan(
    state: &AppState,
    connection: &BackupConnection,
    plan: &RestorePlan,
) -> Result<Vec<u8>, RestoreJobError> {
    let text = serde_json::to_vec(plan)?;
    Ok(state
        .objects
        .seal_secret(connection.team_id, PLAN_PURPOSE, &text)?)
}

/// Open a sealed plan; its fingerprint is checked too.
pub fn open_plan(
    state: &AppState,
    team: butterfly_core::TeamId,
    sealed: &[u8],
) -> Result<RestorePlan, RestoreJobError> {
    let text = state.objects.open_secret(team, PLAN_PURPOSE, sealed)?;
    let plan: RestorePlan = serde_json::from_slice(&text)?;
    plan.verify()?;
    Ok(plan)
}

/// Run `job` in the background on this server; its row records the end, and the audit
/// trail says it finished or failed, by the actor who asked.
pub fn spawn(state: AppState, job: RestoreJob, connection: BackupConnection, request: RunRequest) {
    let (actor, request_id) = AuditContext::current();
    let beat = {
        let store = state.store.clone();
        let id = job.id;
        tokio::spawn(async move {
            let mut every = tokio::time::interval(HEARTBEAT_EVERY);
            loop {
                every.tick().await;
                if let Err(e) = store.restore_job_heartbeat(id).await {
                    tracing::warn!(job = %id, error = %e, "cannot record the restore's heartbeat");
                }
            }
        })
    };
    let runtime = tokio::runtime::Handle::current();
    // The execution's future is not `Send` (rustc cannot prove it for the engine's
    // per-step closures), so it cannot go to `tokio::spawn`: it runs on a blocking
    // thread of the runtime instead, which is fine for something as rare as a restore.
    tokio::task::spawn_blocking(move || {
        runtime.block_on(AuditContext::new(request_id).scope(async move {
            AuditContext::set_actor(actor);
            let result = run(&state, &job, &connection, request).await;
            beat.abort();
            finish(&state, &job, result).await;
        }));
    });
}

async fn finish(state: &AppState, job: &RestoreJob, result: Result<RunOutcome, RestoreJobError>) {
    let (finish, detail) = match result {
        Ok(outcome) => {
            let failed = outcome.report.as_ref().map_or(0, |r| r.failed);
            let interrupted = outcome.report.as_ref().is_some_and(|r| r.interrupted);
            let error = (failed > 0).then(|| RestoreJobError::StepsFailed { failed });
            let detail = json!({
                "create": outcome.plan.create.len(),
                "update": outcome.plan.update.len(),
                "delete": outcome.plan.delete.len(),
                "done": outcome.report.as_ref().map(|r| r.done),
                "failed": failed,
                "plan_fingerprint": outcome.plan.fingerprint.to_string(),
                "error_code": error.as_ref().map(RestoreJobError::code),
            });
            (
                RestoreFinish {
                    succeeded: error.is_none() && !interrupted,
                    report: outcome
                        .report
                        .as_ref()
                        .map(|r| serde_json::to_value(r).unwrap_or(Value::Null)),
                    journal: Some(
                        serde_json::to_value(&outcome.journal).unwrap_or(Value::Array(vec![])),
                    ),
                    error: error.map(|e| e.to_string()),
                },
                detail,
            )
        }
        Err(e) => {
            tracing::warn!(job = %job.id, error = %e, "restore failed");
            // What an Entra run did before it stopped stays undoable.
            let journal = match &e {
                RestoreJobError::EntraStopped { journal, .. } if !journal.is_empty() => {
                    Some(serde_json::to_value(journal).unwrap_or(Value::Array(vec![])))
                }
                _ => None,
            };
            (
                RestoreFinish {
                    succeeded: false,
                    report: None,
                    journal,
                    error: Some(format!("{}: {e}", e.code())),
                },
                json!({"error_code": e.code()}),
            )
        }
    };
    let succeeded = finish.succeeded;
    match state.store.finish_restore_job(job.id, finish).await {
        Ok(()) => {}
        Err(e) => {
            tracing::warn!(job = %job.id, error = %e, "cannot record the restore's end");
        }
    }
    let mut detail = detail;
    if let Value::Object(map) = &mut detail {
        map.insert("connection_id".into(), json!(job.connection_id));
        map.insert("dry_run".into(), json!(job.dry_run));
        map.insert("requested_by".into(), json!(job.requested_by));
    }
    crate::routes::audit::record(
        state,
        Some(job.team_id),
        &format!(
            "{}.{}",
            job.kind,
            if succeeded { "succeeded" } else { "failed" }
        ),
        Some(format!("restore:{}", job.id)),
        AuditOutcome::Success,
        detail,
    )
    .await;
}

async fn run(
    state: &AppState,
    job: &RestoreJob,
    connection: &BackupConnection,
    request: RunRequest,
) -> Result<RunOutcome, RestoreJobError> {
    if is_entra(connection) {
        return run_entra(state, job, connection, request).await;
    }
    let fetcher = fetcher_for(state, connection)?;
    let repo = state.backups.repository(connection.team_id).await?;
    let (plan, live, variables) = match request {
        RunRequest::Fresh {
            snapshot,
            mode,
            options,
            variables,
        } => {
            let (plan, live) = plan_with(
                &fetcher,
                &repo,
                connection,
                snapshot,
                mode,
                &options,
                variables.as_ref(),
            )
            .await?;
            (plan, live, variables)
        }
        RunRequest::Reviewed(plan) => {
            if plan.org != fetcher.org_url() {
                return Err(RestoreJobError::OtherOrg {
                    planned: plan.org.clone(),
                    given: fetcher.org_url().to_owned(),
                });
            }
            let live = read_live(&fetcher, &read_kinds(&plan.options)).await?;
            plan.check_live(live.fingerprint())?;
            (*plan, live, None)
        }
        RunRequest::Undo { journal } => {
            let (plan, live) = plan_undo(&fetcher, &repo, &journal).await?;
            (plan, live, None)
        }
    };
    let sealed = seal_plan(state, connection, &plan)?;
    if let Err(e) = state.store.set_restore_job_plan(job.id, &sealed).await {
        tracing::warn!(job = %job.id, error = %e, "cannot keep the restore's plan");
    }
    if job.dry_run || plan.write_count() == 0 {
        return Ok(RunOutcome {
            plan,
            report: None,
            journal: Vec::new(),
        });
    }
    let mut journal = Journal::in_memory();
    let session = fetcher.sign_in(write_scopes(&plan)).await?;
    let source: &dyn SnapshotSource = repo.as_ref();
    let report = execute(
        &plan,
        source,
        &live,
        &session,
        &mut journal,
        repo.as_ref(),
        &ExecuteOptions::new(job.id.to_string()).with_variables(variables),
        SystemClock.now(),
    )
    .await?;
    Ok(RunOutcome {
        plan,
        report: Some(report),
        journal: journal.records().to_vec(),
    })
}

/// A run on an Entra ID connection, through the Entra runner: the same steps as
/// [`run`] (plan, keep it sealed, stop for a dry run or an empty plan, execute with an
/// in-memory journal stored with the run).
async fn run_entra(
    state: &AppState,
    job: &RestoreJob,
    connection: &BackupConnection,
    request: RunRequest,
) -> Result<RunOutcome, RestoreJobError> {
    let request = match request {
        RunRequest::Fresh {
            snapshot,
            mode: RestoreMode::Restore,
            options,
            variables: None,
        } => entra_runner::RunRequest::Fresh { snapshot, options },
        RunRequest::Fresh { .. } => return Err(RestoreJobError::NotForEntra("sync")),
        RunRequest::Reviewed(plan) => entra_runner::RunRequest::Reviewed(plan),
        RunRequest::Undo { journal } => entra_runner::RunRequest::Undo { journal },
    };
    let fetcher = entra_fetcher_for(state, connection)?;
    let repo = state.backups.repository(connection.team_id).await?;
    let prepared =
        entra_runner::prepare(&fetcher, repo.as_ref(), request, SystemClock.now()).await?;
    let sealed = seal_plan(state, connection, &prepared.plan)?;
    if let Err(e) = state.store.set_restore_job_plan(job.id, &sealed).await {
        tracing::warn!(job = %job.id, error = %e, "cannot keep the restore's plan");
    }
    if job.dry_run || prepared.plan.write_count() == 0 {
        return Ok(RunOutcome {
            plan: prepared.plan,
            report: None,
            journal: Vec::new(),
        });
    }
    let mut journal = Journal::in_memory();
    let ran = entra_runner::run(
        &fetcher,
        repo.as_ref(),
        &prepared,
        &mut journal,
        repo.as_ref(),
        &EntraExecuteOptions::new(job.id.to_string()),
        SystemClock.now(),
    )
    .await;
    match ran {
        Ok(report) => Ok(RunOutcome {
            plan: prepared.plan,
            report: Some(report),
            journal: journal.records().to_vec(),
        }),
        Err(source) => Err(RestoreJobError::EntraStopped {
            source: Box::new(source),
            journal: journal.records().to_vec(),
        }),
    }
}

/// The plan that takes back a run with `records` as its journal (as `butterfly restore
/// --undo`).
async fn plan_undo(
    fetcher: &OktaFetcher,
    repo: &SnapshotRepository,
    records: &[JournalRecord],
) -> Result<(RestorePlan, LiveState), RestoreJobError> {
    let mut journal = Journal::in_memory();
    for record in records {
        // In memory: appending cannot fail.
        journal.append(record.clone()).map_err(ExecuteError::from)?;
    }
    let mut touched: BTreeSet<String> = journal
        .done_steps()
        .map(|(_, _, _, kind, _, _)| kind.as_str().to_owned())
        .collect();
    let options =
        RestoreOptions::default().with_kinds(touched.iter().map(butterfly_core::ResourceKind::new));
    touched.extend(read_kinds(&options));
    let live = read_live(fetcher, &touched).await?;
    let before = match journal.undo_snapshot() {
        Some(id) => {
            let manifest = repo.manifest(id).await?;
            let all = manifest
                .kinds
                .keys()
                .map(|k| k.as_str().to_owned())
                .collect();
            Some((id, ResourceSet::from_snapshot(repo, &manifest, &all).await?))
        }
        None => None,
    };
    let plan = undo_plan(
        &journal,
        before.as_ref().map(|(id, set)| (*id, set)),
        &live,
        SystemClock.now(),
    );
    Ok((plan, live))
}

/// Read and manage scopes of every kind the plan touches (and of what it reads).
fn write_scopes(plan: &RestorePlan) -> BTreeSet<String> {
    let mut scopes = BTreeSet::new();
    let touched: BTreeSet<&str> = plan
        .steps()
        .into_iter()
        .map(|(_, e)| e.kind.as_str())
        .collect();
    for spec in kinds::all() {
        if touched.contains(spec.name) {
            scopes.extend(spec.manage_scope.map(str::to_owned));
        }
        if touched.contains(spec.name) || spec.parent.is_none() {
            scopes.extend(spec.read_scopes.iter().map(|s| (*s).to_owned()));
        }
    }
    scopes
}

/// Whether a run's journal holds any step done (so an undo has something to take back).
pub fn journal_has_done_steps(journal: &Value) -> bool {
    serde_json::from_value::<Vec<JournalRecord>>(journal.clone()).is_ok_and(|records| {
        let mut j = Journal::in_memory();
        records.into_iter().all(|r| j.append(r).is_ok()) && j.done_steps().next().is_some()
    })
}
