//! Backups as server jobs: the snapshot repositories, and the worker that runs queued
//! backups.
//!
//! `POST /api/v1/backups` only queues a job (`backup.okta`, payload `{"connection_id"}`);
//! the worker started by [`spawn_worker`] claims it from the job table, so with
//! PostgreSQL each job runs once across replicas (`FOR UPDATE SKIP LOCKED`). While it
//! runs, the worker writes the job's progress (resources and kinds so far) every few
//! seconds; that write is also its heartbeat. A job whose worker was killed stops
//! beating, and after [`JobSettings::abandoned_after`] any worker gives it back to the
//! queue (or fails it after [`MAX_ATTEMPTS`] claims). The snapshot it was writing never
//! got its manifest, so the repository is still valid and the retry starts clean.
//!
//! When a backup has written its snapshot, the worker evaluates every compliance
//! framework over it and adds the summary (per framework: checks passed, failed and not
//! applicable, and the highest failing severity) to the job's outcome as `compliance`.
//! That is extra information: if it cannot be made, the backup still counts, the
//! outcome says `compliance: null` with a `compliance_error`, and a warning is logged.
//!
//! Several jobs of different connections run at once: [`spawn_worker`] starts
//! [`JobSettings::workers`] job loops (`--workers N`), and the job table holds at most
//! one queued or running job per connection (a second backup of the same org would share
//! its rate limit), so `POST /backups` answers `409` naming the running job.
//!
//! A run that stops with an error (the org did not answer, sign-in failed) is tried again
//! inside the same job, [`JobSettings::run_retries`] times, with a doubling backoff; the
//! fetcher itself also retries each request on 429 and 5xx answers.
//!
//! Schedules: [`spawn_worker`] also starts the scheduler, which every
//! [`JobSettings::poll_every`] fires the schedules that are due ([`schedule_tick`]).
//! Firing moves a schedule to its next slot *after now*, so slots missed while every
//! server was down collapse into one run at start-up. After
//! [`PAUSE_AFTER_FAILURES`] failed scheduled runs in a row the schedule pauses for
//! [`FAILURE_PAUSE`] ([`on_schedule_paused`]); a successful run, manual or scheduled, or
//! a re-saved schedule clears the count. Calendar time (which slot is due, when a pause
//! ends) comes from the state's injected clock; the job lease (heartbeats) runs on real
//! time, since it measures whether a process is alive.
//!
//! Each team has its own snapshot repository in the server's object store
//! (`--object-store-url`, by default `file://<data-dir>/objects`), under
//! `teams/<team>/repository`, encrypted under the team's key derived from the server's
//! master key. Replicas sharing the store (and the master key) share the repositories.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use butterfly_compliance::{Framework, evaluate};
use butterfly_core::schedule::{Schedule, ScheduleError};
use butterfly_core::source::SnapshotSource;
use butterfly_core::store::{
    AuditOutcome, BackupConnection, ConnectionStore, Job, JobStore, ScheduleFiring, ScheduleStore,
    StoreError,
};
use butterfly_core::{ProviderKind, ResourceKind, SnapshotId, SnapshotStatus, SystemClock, TeamId};
use butterfly_providers::backup::{BackupError, BackupMode, run_okta_backup_with};
use butterfly_providers::entra::backup::run_entra_backup;
use butterfly_providers::entra::fetcher::{
    ClientCertificate, ClientCredential, ClientSecret, DEFAULT_AUTHORITY_URL, DEFAULT_GRAPH_URL,
    EndpointUrl, EntraCredentials, EntraFetchOptions, EntraFetcher, TenantId,
};
use butterfly_providers::okta::fetcher::{
    ClientId, CredentialError, FetchEvent, FetchOptions, OktaCredentials, OktaFetcher, OrgUrl,
    PrivateKey,
};
use butterfly_store::RepositoryStore;
use butterfly_store::snapshots::{SnapshotError, SnapshotRepository};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use crate::app::AppState;

/// The job kind of an Okta backup.
pub const OKTA_BACKUP_JOB: &str = "backup.okta";

/// Purpose label under which connection private keys are sealed.
pub const PRIVATE_KEY_PURPOSE: &str = "backup-connection-private-key";

/// Claims after which an abandoned job is failed instead of queued again: a backup that
/// kills its worker every time must not loop forever.
pub const MAX_ATTEMPTS: u32 = 3;

/// How often a running job reports progress (and so shows it is alive).
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Failed scheduled runs in a row after which a schedule pauses.
pub const PAUSE_AFTER_FAILURES: u32 = 3;

/// How long a failing schedule pauses.
pub const FAILURE_PAUSE: TimeDelta = TimeDelta::hours(24);

/// Due schedules fired per scheduler tick (the rest wait for the next tick).
const FIRE_PER_TICK: u32 = 500;

/// Timing of the job worker.
#[derive(Debug, Clone, Copy)]
pub struct JobSettings {
    /// How long a running job may be silent before it counts as abandoned. Must be well
    /// above the progress interval (2 s).
    pub abandoned_after: Duration,
    /// How often an idle worker looks for due jobs (a new job wakes it at once), and
    /// how often the scheduler looks for due schedules.
    pub poll_every: Duration,
    /// Job loops per server: backups of different connections that run at once.
    pub workers: usize,
    /// Extra tries of a run that stopped with an error, inside the same job.
    pub run_retries: u32,
    /// The wait before the first extra try; it doubles for each one after.
    pub retry_backoff: Duration,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            abandoned_after: Duration::from_secs(60),
            poll_every: Duration::from_secs(5),
            workers: 2,
            run_retries: 2,
            retry_backoff: Duration::from_secs(30),
        }
    }
}

/// Errors of a backup job, kept in the job's outcome.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupJobError {
    /// The payload does not name a connection.
    #[error("the job's payload names no connection")]
    BadPayload,
    /// The connection was deleted after the job was queued.
    #[error("connection {0} no longer exists")]
    ConnectionGone(Uuid),
    /// The sealed private key does not open (another master key, tampering).
    #[error("the connection's private key cannot be unsealed: {0}")]
    Unseal(#[from] butterfly_store::RepositoryStoreError),
    /// The stored org URL or client id is refused (stored before they were checked).
    #[error("the connection's credentials are refused: {0}")]
    Credentials(#[from] CredentialError),
    /// A stored Entra ID credential is refused.
    #[error("the connection's Entra ID credentials are refused: {0}")]
    EntraCredentials(String),
    /// The key or options were refused, or the fetch stopped.
    #[error(transparent)]
    Fetch(#[from] butterfly_providers::okta::fetcher::FetchError),
    /// The backup stopped.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// The repository could not be opened or written.
    #[error(transparent)]
    Repository(#[from] SnapshotError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A task died.
    #[error("a task stopped: {0}")]
    Task(#[source] tokio::task::JoinError),
    /// The backup stopped at every try.
    #[error("{source} (after {tries} tries)")]
    Tries {
        /// How many times it ran.
        tries: u32,
        /// The last try's error.
        #[source]
        source: Box<BackupError>,
    },
    /// The outcome could not be turned into the job's result.
    #[error("cannot record the backup's outcome: {0}")]
    Outcome(#[source] serde_json::Error),
}

/// The server's backup side: repositories per team, and the worker's settings.
#[derive(Debug)]
pub struct Backups {
    objects: Arc<RepositoryStore>,
    settings: JobSettings,
    worker_id: String,
    repos: Mutex<HashMap<TeamId, Arc<SnapshotRepository>>>,
    wake: Notify,
}

impl Backups {
    /// Repositories in the store of `objects`, one per team, keyed from its master key.
    pub fn new(objects: Arc<RepositoryStore>, settings: JobSettings) -> Self {
        Backups {
            objects,
            settings,
            // The process id says which server holds a job (replicas, `claimed_by`).
            worker_id: format!("worker-{}-{}", std::process::id(), Uuid::new_v4()),
            repos: Mutex::new(HashMap::new()),
            wake: Notify::new(),
        }
    }

    /// The team's repository, opened once (opening reads every pack index) and shared.
    pub async fn repository(
        &self,
        team: TeamId,
    ) -> Result<Arc<SnapshotRepository>, BackupJobError> {
        if let Some(repo) = self.lock_repos().get(&team) {
            return Ok(Arc::clone(repo));
        }
        let repo = self.objects.repository(team).await?;
        // Two callers may open it at once; the first one kept wins.
        Ok(Arc::clone(
            self.lock_repos()
                .entry(team)
                .or_insert_with(|| Arc::new(repo)),
        ))
    }

    fn lock_repos(&self) -> std::sync::MutexGuard<'_, HashMap<TeamId, Arc<SnapshotRepository>>> {
        self.repos.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tell the worker a job was queued.
    pub fn job_queued(&self) {
        self.wake.notify_one();
    }
}

/// The job workers and the scheduler of one server; [`Worker::shutdown`] stops them
/// cleanly.
#[derive(Debug)]
#[must_use = "dropping the Worker detaches it; keep it to shut it down cleanly"]
pub struct Worker {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Worker {
    /// Stop: a job still running is handed back to the queue at once (without
    /// spending an attempt), so another server, or this one after a restart, runs it
    /// without waiting for its heartbeat to go stale. Its half-written snapshot never
    /// got a manifest, so the repository stays valid.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "a job worker stopped abnormally");
            }
        }
    }
}

/// Run queued jobs, [`JobSettings::workers`] at a time, and fire due schedules, until
/// [`Worker::shutdown`].
pub fn spawn_worker(state: AppState) -> Worker {
    let (stop, stopping) = watch::channel(false);
    let mut tasks: Vec<_> = (0..state.backups.settings.workers.max(1))
        .map(|_| tokio::spawn(job_loop(state.clone(), stopping.clone())))
        .collect();
    tasks.push(tokio::spawn(scheduler_loop(state, stopping)));
    Worker { stop, tasks }
}

async fn job_loop(state: AppState, mut stopping: watch::Receiver<bool>) {
    loop {
        match next_job(&state).await {
            Ok(Some(job)) => {
                let id = job.id;
                tokio::select! {
                    () = run_job(&state, job) => {}
                    () = stop_requested(&mut stopping) => {
                        // The job's future is dropped here: the fetch stops at its
                        // next page and nothing more is written.
                        hand_back(&state, id).await;
                        return;
                    }
                }
            }
            Ok(None) => {
                tokio::select! {
                    _ = tokio::time::timeout(
                        state.backups.settings.poll_every,
                        state.backups.wake.notified(),
                    ) => {}
                    () = stop_requested(&mut stopping) => return,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim jobs");
                tokio::select! {
                    () = tokio::time::sleep(state.backups.settings.poll_every) => {}
                    () = stop_requested(&mut stopping) => return,
                }
            }
        }
    }
}

async fn scheduler_loop(state: AppState, mut stopping: watch::Receiver<bool>) {
    loop {
        // The first tick runs at start-up: slots missed while the server was down fire
        // now, once each schedule.
        match schedule_tick(&state).await {
            Ok(0) => {}
            Ok(fired) => tracing::info!(fired, "scheduled backups queued"),
            Err(e) => tracing::warn!(error = %e, "cannot fire due schedules"),
        }
        tokio::select! {
            () = tokio::time::sleep(state.backups.settings.poll_every) => {}
            () = stop_requested(&mut stopping) => return,
        }
    }
}

/// Why the scheduler could not fire a schedule.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchedulerError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored schedule no longer checks (a time zone dropped from the tz database).
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
}

/// Fire every schedule due at the state's clock: each moves on to its first slot after
/// now (missed slots collapse into this one run) and queues one backup, unless a backup
/// of the connection is already queued or running. Returns how many were queued. Safe
/// to run on every replica at once: each slot is queued by exactly one of them.
pub async fn schedule_tick(state: &AppState) -> Result<usize, SchedulerError> {
    let now = state.clock.now();
    let due = state.store.due_schedules(now, FIRE_PER_TICK).await?;
    let mut queued = 0;
    for due in due {
        let schedule = match Schedule::new(&due.spec) {
            Ok(schedule) => schedule,
            Err(e) => {
                tracing::warn!(connection = %due.connection_id, error = %e, "a stored schedule is invalid");
                continue;
            }
        };
        let next = schedule.next_after(now)?;
        let slot = due.next_run_at.unwrap_or(now);
        let payload = json!({
            "connection_id": due.connection_id,
            "scheduled_for": butterfly_core::rfc3339::format(&slot).unwrap_or_default(),
        });
        // The job is due at once on the lease's clock (real time).
        match state
            .store
            .fire_schedule(&due, next, OKTA_BACKUP_JOB, payload, Utc::now())
            .await?
        {
            ScheduleFiring::Queued(job) => {
                queued += 1;
                tracing::info!(job = %job.id, connection = %due.connection_id, %slot, "scheduled backup queued");
                state.backups.job_queued();
            }
            ScheduleFiring::Busy => tracing::info!(
                connection = %due.connection_id,
                %slot,
                "scheduled backup skipped: a backup of the connection is already queued or running"
            ),
            _ => {}
        }
    }
    Ok(queued)
}

/// After a backup of a connection: count it against the connection's schedule, and
/// pause the schedule after [`PAUSE_AFTER_FAILURES`] failed scheduled runs in a row.
async fn count_run(state: &AppState, job: &Job, succeeded: bool) -> Result<(), SchedulerError> {
    let Some(connection) = job
        .payload
        .get("connection_id")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
    else {
        return Ok(());
    };
    let scheduled = job.payload.get("scheduled_for").is_some();
    let Some(row) = state
        .store
        .record_schedule_outcome(job.team_id, connection, succeeded, scheduled)
        .await?
    else {
        return Ok(());
    };
    if succeeded || !scheduled || row.consecutive_failures < PAUSE_AFTER_FAILURES {
        return Ok(());
    }
    let until = state.clock.now() + FAILURE_PAUSE;
    let next = Schedule::new(&row.spec)?.next_at_or_after(until)?;
    state
        .store
        .pause_schedule_until(job.team_id, connection, until, next)
        .await?;
    on_schedule_paused(
        state,
        job.team_id,
        connection,
        until,
        row.consecutive_failures,
    )
    .await;
    Ok(())
}

/// A schedule paused itself after repeated failures: recorded in the audit trail
/// (`schedule.paused`, actor `system`).
///
/// This is the one place a paused schedule is announced: the team's notification
/// channels that take `schedule_paused` hear of it here, in the background.
pub async fn on_schedule_paused(
    state: &AppState,
    team: TeamId,
    connection: Uuid,
    until: DateTime<Utc>,
    failures: u32,
) {
    tracing::warn!(%connection, %until, failures, "schedule paused after repeated failures");
    crate::routes::audit::record(
        state,
        Some(team),
        "schedule.paused",
        Some(format!("connection:{connection}")),
        AuditOutcome::Success,
        json!({
            "consecutive_failures": failures,
            "paused_until": butterfly_core::rfc3339::format(&until).unwrap_or_default(),
        }),
    )
    .await;
    // In the background: a slow webhook must not hold up the worker.
    drop(crate::notify::schedule_paused(
        state, team, connection, until, failures,
    ));
}

/// After a successful backup of `connection`: forget that org's snapshots the
/// connection's (or else the team's) retention policy does not keep, and prune their data,
/// recording what went in the audit trail. Failures are logged; the backup stands.
fn apply_retention_after(
    state: &AppState,
    team: TeamId,
    connection: &BackupConnection,
    repo: Arc<SnapshotRepository>,
) {
    let state = state.clone();
    let connection_id = connection.id;
    let org = connection.org_url.clone();
    tokio::spawn(async move {
        let applied = butterfly_store::retention::apply_retention(
            &state.store,
            &repo,
            team,
            connection_id,
            &org,
            state.clock.now(),
            true,
        )
        .await;
        match applied {
            Ok(applied) => {
                let forgotten: Vec<String> = applied
                    .forget
                    .iter()
                    .flat_map(|f| f.deleted.iter().map(ToString::to_string))
                    .collect();
                if !forgotten.is_empty() {
                    crate::routes::audit::record(
                        &state,
                        Some(team),
                        "retention.applied",
                        Some(format!("connection:{connection_id}")),
                        AuditOutcome::Success,
                        json!({ "forgotten": forgotten, "prune": applied.prune }),
                    )
                    .await;
                }
            }
            Err(e) => {
                tracing::warn!(connection = %connection_id, error = %e, "cannot apply the retention policy; the backup is kept");
            }
        }
    });
}

/// Resolves when [`Worker::shutdown`] asks to stop. A dropped [`Worker`] detaches the
/// worker (like a dropped `JoinHandle`); it never stops it.
async fn stop_requested(stopping: &mut watch::Receiver<bool>) {
    loop {
        if stopping.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        if *stopping.borrow_and_update() {
            return;
        }
    }
}

async fn hand_back(state: &AppState, id: Uuid) {
    match state.store.release_job(id, &state.backups.worker_id).await {
        Ok(true) => tracing::info!(job = %id, "shutting down: job handed back to the queue"),
        Ok(false) => {}
        Err(e) => tracing::warn!(
            job = %id,
            error = %e,
            "cannot hand the job back; it is queued again once its heartbeat goes stale"
        ),
    }
}

async fn next_job(state: &AppState) -> Result<Option<Job>, StoreError> {
    let settings = state.backups.settings;
    let now = Utc::now();
    let given_back = state
        .store
        .requeue_abandoned_jobs(now - settings.abandoned_after, MAX_ATTEMPTS)
        .await?;
    if given_back > 0 {
        tracing::warn!(
            jobs = given_back,
            "gave back jobs whose worker stopped responding"
        );
    }
    state
        .store
        .claim_next_job(&state.backups.worker_id, now)
        .await
}

async fn run_job(state: &AppState, job: Job) {
    tracing::info!(job = %job.id, kind = %job.kind, attempt = job.attempts, "job started");
    // Only for the duration metric; nothing waits on or compares this clock.
    let started = std::time::Instant::now();
    let result = match job.kind.as_str() {
        OKTA_BACKUP_JOB => okta_backup(state, &job).await,
        other => Ok((
            false,
            json!({"error": format!("unknown job kind `{other}`")}),
        )),
    };
    let (succeeded, outcome) = match result {
        Ok(done) => done,
        Err(e) => (false, json!({"error": e.to_string()})),
    };
    tracing::info!(job = %job.id, succeeded, "job finished");
    state
        .metrics
        .job_finished(&job.kind, succeeded, started.elapsed().as_secs_f64());
    if job.kind == OKTA_BACKUP_JOB {
        state.metrics.backup_recorded(&outcome);
    }
    // The snapshot id, never the outcome's error text (it may quote an upstream).
    let snapshot = outcome
        .pointer("/snapshot/id")
        .cloned()
        .unwrap_or(Value::Null);
    match state
        .store
        .finish_job(job.id, succeeded, outcome.clone())
        .await
    {
        Ok(()) => {
            if job.kind == OKTA_BACKUP_JOB {
                // In the background: a slow webhook must not hold up the next job.
                drop(crate::notify::after_backup(
                    state, &job, succeeded, &outcome,
                ));
            }
            crate::routes::audit::record(
                state,
                Some(job.team_id),
                if succeeded {
                    "backup.succeeded"
                } else {
                    "backup.failed"
                },
                Some(format!("job:{}", job.id)),
                AuditOutcome::Success,
                json!({"attempt": job.attempts, "snapshot": snapshot}),
            )
            .await;
            if let Err(e) = count_run(state, &job, succeeded).await {
                tracing::warn!(job = %job.id, error = %e, "cannot count the run against its schedule");
            }
        }
        // Given back meanwhile (this worker was too slow to beat): another claim owns it.
        Err(e) => tracing::warn!(job = %job.id, error = %e, "cannot record the job's end"),
    }
}

/// What a running backup has done so far, as the job's progress.
#[derive(Debug, Default)]
struct Progress {
    resources: u64,
    per_kind: BTreeMap<ResourceKind, u64>,
    kinds_done: u64,
    kinds_skipped: u64,
    kinds_failed: u64,
}

impl Progress {
    fn observe(&mut self, event: &FetchEvent) {
        match event {
            FetchEvent::Resources { kind, resources } => {
                self.resources += resources.len() as u64;
                *self.per_kind.entry(kind.clone()).or_default() += resources.len() as u64;
            }
            FetchEvent::KindFinished { .. } => self.kinds_done += 1,
            FetchEvent::KindSkipped { .. } => self.kinds_skipped += 1,
            FetchEvent::KindFailed { .. } => self.kinds_failed += 1,
            _ => {}
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "resources": self.resources,
            "kinds_done": self.kinds_done,
            "kinds_skipped": self.kinds_skipped,
            "kinds_failed": self.kinds_failed,
            "counts": self.per_kind,
        })
    }
}

/// The credentials and fetch options of a stored connection (its key unsealed).
pub fn credentials_for(
    state: &AppState,
    connection: &BackupConnection,
) -> Result<(OktaCredentials, FetchOptions), BackupJobError> {
    let pem = state.objects.open_secret(
        connection.team_id,
        PRIVATE_KEY_PURPOSE,
        &connection.private_key_sealed,
    )?;
    let org_url = OrgUrl::parse(&connection.org_url)?;
    if !state.allow_private_org_urls {
        // Stored while the server allowed it, or before the check existed.
        org_url.check_public()?;
    }
    let credentials = OktaCredentials {
        org_url,
        client_id: ClientId::new(connection.client_id.as_str())?,
        key_id: connection.key_id.clone(),
        private_key: PrivateKey::from_pem(&String::from_utf8_lossy(&pem))?,
    };
    let options = FetchOptions {
        rate_limit_share: f64::from(connection.rate_limit_percent) / 100.0,
        scopes: connection
            .scopes
            .as_ref()
            .map(|s| s.iter().cloned().collect()),
        insecure_allow_private_addresses: state.allow_private_org_urls,
        ..FetchOptions::default()
    };
    Ok((credentials, options))
}

/// A backup job's credentials, by provider.
enum JobCredentials {
    Okta((OktaCredentials, FetchOptions)),
    Entra((EntraCredentials, EntraFetchOptions)),
}

/// Credentials and options for a stored Entra ID connection: the sealed JSON holds the
/// Graph and authority URLs and a client secret, or a certificate and its key.
pub fn entra_credentials_for(
    state: &AppState,
    connection: &BackupConnection,
) -> Result<(EntraCredentials, EntraFetchOptions), BackupJobError> {
    let opened = state.objects.open_secret(
        connection.team_id,
        PRIVATE_KEY_PURPOSE,
        &connection.private_key_sealed,
    )?;
    let sealed: Value = serde_json::from_slice(&opened).map_err(|_| {
        BackupJobError::EntraCredentials("the sealed credential is not JSON".into())
    })?;
    let text = |key: &str| sealed.get(key).and_then(Value::as_str);
    let refused = |e: &dyn std::fmt::Display| BackupJobError::EntraCredentials(e.to_string());
    let credential = match (
        text("client_secret"),
        text("certificate"),
        text("private_key"),
    ) {
        (Some(secret), _, _) => {
            ClientCredential::Secret(ClientSecret::new(secret).map_err(|e| refused(&e))?)
        }
        (None, Some(certificate), Some(key)) => {
            ClientCredential::Certificate(ClientCertificate::from_pem(certificate, key)?)
        }
        _ => return Err(refused(&"no client secret or certificate")),
    };
    let graph_url = EndpointUrl::parse(text("graph_url").unwrap_or(DEFAULT_GRAPH_URL))
        .map_err(|e| refused(&e))?;
    let authority_url = EndpointUrl::parse(text("authority_url").unwrap_or(DEFAULT_AUTHORITY_URL))
        .map_err(|e| refused(&e))?;
    if !state.allow_private_org_urls {
        // Stored while the server allowed it.
        graph_url.check_public()?;
        authority_url.check_public()?;
    }
    let credentials = EntraCredentials {
        tenant_id: TenantId::new(connection.org_url.as_str()).map_err(|e| refused(&e))?,
        client_id: ClientId::new(connection.client_id.as_str())?,
        credential,
        graph_url,
        authority_url,
    };
    let options = EntraFetchOptions {
        rate_limit_share: f64::from(connection.rate_limit_percent) / 100.0,
        insecure_allow_private_addresses: state.allow_private_org_urls,
        ..EntraFetchOptions::default()
    };
    Ok((credentials, options))
}

/// The fetcher for a stored connection (what "Test connection" runs).
pub fn fetcher_for(
    state: &AppState,
    connection: &BackupConnection,
) -> Result<OktaFetcher, BackupJobError> {
    let (credentials, options) = credentials_for(state, connection)?;
    Ok(OktaFetcher::new(credentials, options)?)
}

/// The Graph client for a stored Entra ID connection (what "Test connection" runs).
pub fn entra_fetcher_for(
    state: &AppState,
    connection: &BackupConnection,
) -> Result<EntraFetcher, BackupJobError> {
    let (credentials, options) = entra_credentials_for(state, connection)?;
    Ok(EntraFetcher::new(credentials, options)?)
}

/// Back up one connection into the team's repository; the job's result is the
/// serialized [`BackupOutcome`](butterfly_providers::backup::BackupOutcome). `Ok((false, _))` when the backup ran but some kinds
/// failed: the snapshot is kept, marked failed.
async fn okta_backup(state: &AppState, job: &Job) -> Result<(bool, Value), BackupJobError> {
    let connection_id = job
        .payload
        .get("connection_id")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or(BackupJobError::BadPayload)?;
    let connection = state
        .store
        .connection(job.team_id, connection_id)
        .await?
        .ok_or(BackupJobError::ConnectionGone(connection_id))?;
    let credentials = if connection.provider == ProviderKind::EntraId.to_string() {
        JobCredentials::Entra(entra_credentials_for(state, &connection)?)
    } else {
        JobCredentials::Okta(credentials_for(state, &connection)?)
    };
    let repo = state.backups.repository(job.team_id).await?;

    // Events arrive on the backup's own loop, which must not wait on the database; the
    // latest progress goes through a watch channel to a task that writes it.
    let mut progress = Progress::default();
    let (progress_tx, mut progress_rx) = watch::channel(progress.to_json());
    let heartbeat = {
        let store = Arc::clone(&state.store);
        let id = job.id;
        tokio::spawn(async move {
            loop {
                let progress = progress_rx.borrow_and_update().clone();
                if let Err(e) = store.set_job_progress(id, progress).await {
                    tracing::warn!(job = %id, error = %e, "cannot record progress");
                }
                let finished = tokio::select! {
                    () = tokio::time::sleep(PROGRESS_EVERY) => false,
                    () = async { while progress_rx.changed().await.is_ok() {} } => true,
                };
                if finished {
                    // The backup is over: its final figures, written last.
                    let last = progress_rx.borrow().clone();
                    if let Err(e) = store.set_job_progress(id, last).await {
                        tracing::warn!(job = %id, error = %e, "cannot record progress");
                    }
                    return;
                }
            }
        })
    };
    let settings = state.backups.settings;
    let mut tries: u32 = 0;
    let run = loop {
        tries += 1;
        progress = Progress::default();
        // Incremental on top of the org's newest complete snapshot, as the CLI does.
        let on_event = |event: &FetchEvent| {
            progress.observe(event);
            progress_tx.send_replace(progress.to_json());
        };
        let run = match &credentials {
            JobCredentials::Okta((credentials, options)) => {
                run_okta_backup_with(
                    credentials.clone(),
                    options.clone(),
                    BackupMode::default(),
                    repo.as_ref(),
                    &SystemClock,
                    on_event,
                )
                .await
            }
            JobCredentials::Entra((credentials, options)) => {
                run_entra_backup(
                    credentials.clone(),
                    options.clone(),
                    BackupMode::default(),
                    repo.as_ref(),
                    &SystemClock,
                    on_event,
                )
                .await
            }
        };
        match run {
            Err(e) if tries <= settings.run_retries => {
                let wait = settings.retry_backoff * 2u32.saturating_pow(tries - 1);
                tracing::warn!(job = %job.id, try_ = tries, error = %e, wait = ?wait, "backup failed; trying again");
                tokio::time::sleep(wait).await;
            }
            other => break other,
        }
    };
    // The snapshot's compliance summary, while the heartbeat still beats (reading a
    // large snapshot takes a moment). It is extra information: when it cannot be made,
    // the backup still succeeds, with a warning.
    let compliance = match &run {
        Ok(outcome) => Some(
            compliance_summary(repo.as_ref(), outcome.snapshot_id())
                .await
                .map_err(|e| {
                    tracing::warn!(
                        job = %job.id,
                        snapshot = %outcome.snapshot_id(),
                        error = %e,
                        "cannot evaluate the snapshot's compliance; the backup is kept"
                    );
                    e.to_string()
                }),
        ),
        Err(_) => None,
    };
    // Closing the channel ends the reporter after one last write; waiting for it means
    // no stale report can land after the job's end.
    drop(progress_tx);
    heartbeat.await.map_err(BackupJobError::Task)?;
    let outcome = run.map_err(|e| BackupJobError::Tries {
        tries,
        source: Box::new(e),
    })?;
    let succeeded = outcome.status() != SnapshotStatus::Failed;
    if succeeded {
        // In its own task: a slow or failed push never delays or fails the backup.
        crate::git_export::after_backup(state, job.team_id, connection.id, outcome.snapshot_id());
        // Also in its own task: the prune waits (for a while) on other backups' shared
        // repository locks, and that wait must not hold up this worker.
        apply_retention_after(state, job.team_id, &connection, Arc::clone(&repo));
    }
    let mut recorded = serde_json::to_value(&outcome).map_err(BackupJobError::Outcome)?;
    if let Some(compliance) = compliance {
        record_compliance(&mut recorded, compliance);
    }
    Ok((succeeded, recorded))
}

/// Add a snapshot's compliance summary to its backup's recorded outcome, or, when it
/// could not be made, `compliance: null` and why. Either way the rest of the outcome
/// (and so whether the backup succeeded) is left as it was.
fn record_compliance(recorded: &mut Value, compliance: Result<Value, String>) {
    let Value::Object(fields) = recorded else {
        return;
    };
    match compliance {
        Ok(summary) => {
            fields.insert("compliance".to_owned(), summary);
        }
        Err(error) => {
            fields.insert("compliance".to_owned(), Value::Null);
            fields.insert("compliance_error".to_owned(), Value::String(error));
        }
    }
}

/// Why a snapshot's compliance summary could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComplianceSummaryError {
    /// The snapshot's time cannot be written as RFC 3339 (a year past 9999).
    #[error(transparent)]
    Time(#[from] butterfly_core::rfc3339::Rfc3339Error),
    /// The snapshot could not be read or evaluated.
    #[error(transparent)]
    Compliance(#[from] butterfly_compliance::Error),
}

/// Every framework evaluated over snapshot `id`, summed up for a backup job's outcome:
/// per framework (keyed by its name) the checks passed, failed and not applicable, and
/// the highest severity among the failed ones (`null` when none failed). The whole
/// report is `GET /api/v1/snapshots/{id}/compliance`.
pub async fn compliance_summary(
    source: &dyn SnapshotSource,
    id: SnapshotId,
) -> Result<Value, ComplianceSummaryError> {
    let snapshot = source
        .manifest(id)
        .await
        .map_err(butterfly_compliance::Error::from)?;
    let at = butterfly_core::rfc3339::format(&snapshot.started_at)?;
    let report = evaluate(source, &snapshot, &Framework::ALL, &at).await?;
    let frameworks: serde_json::Map<String, Value> = report
        .summaries
        .iter()
        .map(|s| {
            (
                s.framework.as_str().to_owned(),
                json!({
                    "passed": s.passed,
                    "failed": s.failed,
                    "not_applicable": s.not_applicable,
                    "highest_failing_severity": s.highest_failing(),
                }),
            )
        })
        .collect();
    Ok(json!({ "frameworks": frameworks }))
}

#[cfg(test)]
mod tests {
    use butterfly_core::source::InMemorySnapshotSource;
    use butterfly_core::{ProviderKind, Resource};

    use super::*;

    fn source_with_short_passwords() -> (InMemorySnapshotSource, butterfly_core::Snapshot) {
        let mut source = InMemorySnapshotSource::new();
        let snapshot = source.insert(
            ProviderKind::Okta,
            "https://acme.okta.com",
            DateTime::<Utc>::UNIX_EPOCH,
            SnapshotStatus::Complete,
            [Resource::new(
                ResourceKind::new("policy.PASSWORD"),
                "00p1",
                json!({"id": "00p1", "status": "ACTIVE",
                    "settings": {"password": {"complexity": {"minLength": 8}}}}),
            )],
        );
        (source, snapshot)
    }

    #[tokio::test]
    async fn the_summary_counts_each_framework_and_names_the_worst_failure() {
        let (source, snapshot) = source_with_short_passwords();
        let summary = compliance_summary(&source, snapshot.id).await.unwrap();
        let frameworks = summary["frameworks"].as_object().unwrap();
        assert_eq!(frameworks.len(), Framework::ALL.len());
        let pci = &frameworks["pci_dss"];
        assert!(pci["failed"].as_u64().unwrap() >= 1, "{summary}");
        assert!(pci["highest_failing_severity"].is_string(), "{summary}");
        let at = butterfly_core::rfc3339::format(&snapshot.started_at).unwrap();
        let report = evaluate(&source, &snapshot, &[Framework::PciDss], &at)
            .await
            .unwrap();
        let full = &report.summaries[0];
        assert_eq!(
            (&pci["passed"], &pci["failed"], &pci["not_applicable"]),
            (
                &json!(full.passed),
                &json!(full.failed),
                &json!(full.not_applicable)
            )
        );
    }

    #[tokio::test]
    async fn a_snapshot_that_cannot_be_read_is_an_error_recorded_beside_the_outcome() {
        let (mut source, snapshot) = source_with_short_passwords();
        let digest = snapshot.kinds.values().next().unwrap()[0].digest;
        source.remove_object(&digest);
        let error = compliance_summary(&source, snapshot.id)
            .await
            .unwrap_err()
            .to_string();
        let mut outcome = json!({"snapshot": {"id": snapshot.id}, "seconds": 1});
        record_compliance(&mut outcome, Err(error.clone()));
        assert_eq!(
            outcome,
            json!({"snapshot": {"id": snapshot.id}, "seconds": 1,
                "compliance": null, "compliance_error": error})
        );
        let mut outcome = json!({"seconds": 1});
        record_compliance(&mut outcome, Ok(json!({"frameworks": {}})));
        assert_eq!(
            outcome,
            json!({"seconds": 1, "compliance": {"frameworks": {}}})
        );
    }
}
