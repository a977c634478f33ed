//! One backup, start to finish: the runner every front end calls.
//!
//! [`run_okta_backup`] opens a snapshot in a [`SnapshotTarget`], drives the Okta fetcher
//! into it, seals it with the status the fetch deserves and returns a [`BackupOutcome`].
//! The CLI's local mode and the server's backup jobs both call it, so they agree on what
//! a backup writes, how a snapshot's status is decided and what is reported afterwards:
//!
//! - every kind fetched: `complete`;
//! - a kind skipped (scope not granted, feature off): `partial`;
//! - a kind failed after its retries: `failed`, and what was fetched is kept for
//!   inspection.
//!
//! Each skip and failure becomes a warning in the manifest. If the fetch cannot start
//! (sign-in refused) or storage fails, nothing is sealed: the target is left without a
//! new snapshot and the error says why.
//!
//! ```no_run
//! use butterfly_core::SystemClock;
//! use butterfly_providers::backup::run_okta_backup;
//! use butterfly_providers::okta::fetcher::{
//!     ClientId, FetchEvent, FetchOptions, OktaCredentials, OrgUrl, PrivateKey,
//! };
//!
//! # async fn run(
//! #     repo: &impl butterfly_core::SnapshotTarget,
//! #     pem: &str,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! let credentials = OktaCredentials {
//!     org_url: OrgUrl::parse("https://example.okta.com")?,
//!     client_id: ClientId::new("0oa1")?,
//!     key_id: None,
//!     private_key: PrivateKey::from_pem(pem)?,
//! };
//! let outcome = run_okta_backup(
//!     credentials,
//!     FetchOptions::default(),
//!     repo,
//!     &SystemClock,
//!     |event: &FetchEvent| eprintln!("{event:?}"),
//! )
//! .await?;
//! println!("{}", serde_json::to_string(&outcome)?);
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, BTreeSet};

use butterfly_core::source::{SnapshotSource, SourceError};
use butterfly_core::{
    Clock, ManifestEntry, ProviderKind, Resource, ResourceKind, SnapshotId, SnapshotSink,
    SnapshotStatus, SnapshotSummary, SnapshotTarget, WriteStats,
};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::okta::backup::drive;
use crate::okta::fetcher::{
    FetchError, FetchEvent, FetchOptions, FetchReport, IncrementalReport, IncrementalWindow,
    LOG_RETENTION, MAX_CLOCK_SKEW, OktaCredentials, OktaFetcher, partial_child,
};
use crate::okta::kinds;

/// The warning an incremental snapshot carries, naming the snapshot it was built on.
pub const INCREMENTAL_NOTE: &str = "incremental backup on top of snapshot ";

/// The warning a backup carries when it read everything instead of what changed.
pub const FULL_INSTEAD_NOTE: &str = "full backup instead of incremental: ";

/// How many incrementals in a row before a full backup, by default.
pub const DEFAULT_FULL_EVERY: u32 = 24;

/// Whether a backup reads everything or only what changed. See the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackupMode {
    /// Read every kind in full.
    Full,
    /// Read what changed since the newest complete snapshot of the same org in the
    /// repository, when there is one (a full backup otherwise), and a full backup after
    /// `full_every` incrementals in a row, as a safety net.
    Incremental {
        /// Incrementals in a row before the next full backup (`0`: always full).
        full_every: u32,
    },
}

impl Default for BackupMode {
    fn default() -> Self {
        BackupMode::Incremental {
            full_every: DEFAULT_FULL_EVERY,
        }
    }
}

/// Why a backup produced no snapshot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The fetch could not start or stopped (bad key or options, sign-in refused).
    #[error("backup failed: {0}")]
    Fetch(#[from] FetchError),
    /// The target could not store a page or seal the snapshot.
    #[error("cannot store the snapshot: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The previous snapshot an incremental backup builds on could not be read.
    #[error("cannot read the previous snapshot: {0}")]
    Previous(#[source] SourceError),
    /// The fetch task panicked or was cancelled.
    #[error("the fetch task stopped: {0}")]
    Task(#[source] tokio::task::JoinError),
}

/// Receives what the fetcher reports while a backup runs: progress bars, job progress.
///
/// Any `FnMut(&FetchEvent) + Send` closure is one. Events arrive on the backup's own
/// loop, before the page they carry is stored: a slow receiver slows the backup.
pub trait ProgressSink: Send {
    /// One event.
    fn on_event(&mut self, event: &FetchEvent);
}

impl<F: FnMut(&FetchEvent) + Send> ProgressSink for F {
    fn on_event(&mut self, event: &FetchEvent) {
        self(event);
    }
}

/// What one backup did: the snapshot it sealed, what storing it cost, and the fetcher's
/// counters. Serialized, it is the result a server's backup job records and the summary
/// the CLI prints.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct BackupOutcome {
    /// The sealed snapshot, as listings show it (status, times, counts, warnings).
    pub snapshot: SnapshotSummary,
    /// What storing it cost: new objects, bytes, packs.
    pub write: WriteStats,
    /// The fetcher's counters: requests (per bucket), retries, `429`s, headroom pauses,
    /// re-authentications, granted scopes, and the kinds skipped or failed with reasons.
    pub fetch: FetchReport,
    /// Seconds from start to seal, on the runner's clock.
    pub seconds: f64,
}

impl BackupOutcome {
    /// The snapshot's id.
    pub fn snapshot_id(&self) -> SnapshotId {
        self.snapshot.id
    }

    /// The snapshot's status.
    pub fn status(&self) -> SnapshotStatus {
        self.snapshot.status
    }

    /// What an operator should know: each skipped or failed kind, with the reason.
    pub fn warnings(&self) -> &[String] {
        &self.snapshot.warnings
    }

    /// Bytes the backup added to the repository (packs, indexes and the manifest).
    pub fn new_bytes(&self) -> u64 {
        self.write.new_bytes + self.write.manifest_bytes
    }
}

/// Back up the org in `credentials` into `target`. See the [module docs](self).
///
/// `clock` stamps the snapshot's start and finish; `progress` sees every fetch event.
/// A snapshot whose kinds failed is still sealed (status `failed`) and returned as an
/// outcome: whether that fails the caller's command or job is the caller's choice.
pub async fn run_okta_backup<T: SnapshotTarget>(
    credentials: OktaCredentials,
    options: FetchOptions,
    target: &T,
    clock: &dyn Clock,
    mut progress: impl ProgressSink,
) -> Result<BackupOutcome, BackupError> {
    let org = credentials.org_url.as_str().to_owned();
    // Before the snapshot is opened: a bad option or key leaves no trace in the target.
    let mut fetcher = OktaFetcher::new(credentials, options)?;
    let started_at = clock.now();
    let mut sink = target
        .resume_snapshot(ProviderKind::Okta, &org, started_at)
        .await
        .map_err(|e| BackupError::Storage(Box::new(e)))?;
    let resumed = sink.resumed_kinds();
    fetcher.options_mut().resumed = resumed.keys().cloned().collect();
    let mut run = drive(fetcher, &mut sink, true, |event| progress.on_event(event)).await?;
    run.report.counts.extend(resumed);
    let finished_at = clock.now();
    let (snapshot, write) = sink
        .finish(finished_at, run.status)
        .await
        .map_err(|e| BackupError::Storage(Box::new(e)))?;
    Ok(BackupOutcome {
        snapshot: snapshot.summary(),
        write,
        fetch: run.report,
        seconds: (finished_at - started_at).as_seconds_f64().max(0.0),
    })
}

/// Back up the org in `credentials` into `repo`, reading only what changed since the
/// newest complete snapshot of the same org when `mode` allows it. See the
/// [module docs](self) and [`crate::okta::fetcher::IncrementalWindow`].
///
/// An incremental backup reads the System Log for the window between the previous
/// snapshot's start and this one's, fetches what the log and `lastUpdated` name, and
/// carries every other entry over from the previous manifest: the sealed snapshot lists
/// the same entries and digests a full backup would. It reads everything instead, and
/// says why in the warnings, when the previous snapshot is older than the log's
/// retention, when `okta.logs.read` is not granted, when the log cannot be read or the
/// org's clock is too far from `clock`, and after `full_every` incrementals in a row.
pub async fn run_okta_backup_with<T: SnapshotTarget + SnapshotSource>(
    credentials: OktaCredentials,
    mut options: FetchOptions,
    mode: BackupMode,
    repo: &T,
    clock: &dyn Clock,
    mut progress: impl ProgressSink,
) -> Result<BackupOutcome, BackupError> {
    let org = credentials.org_url.as_str().to_owned();
    // Before the snapshot is opened: a bad option or key leaves no trace in the target.
    // Built (and checked) now; only `incremental` and `resumed` change below, which the
    // HTTP client does not depend on.
    let mut fetcher = OktaFetcher::new(credentials, options.clone())?;
    let started_at = clock.now();
    // A full backup of this org that was killed left a checkpoint: it is resumed, in
    // full, whatever the mode, since what it already holds was read in full.
    let mut sink = repo
        .resume_snapshot(ProviderKind::Okta, &org, started_at)
        .await
        .map_err(|e| BackupError::Storage(Box::new(e)))?;
    let resumed = sink.resumed_kinds();
    let (previous, full_instead) = match mode {
        _ if !resumed.is_empty() => (None, None),
        BackupMode::Full => (None, None),
        BackupMode::Incremental { full_every } => {
            choose_base(repo, &org, started_at, full_every).await?
        }
    };
    // The previous snapshot's groups, read once: the fetch needs them (new groups'
    // children are listed) and so does the carry-over (a deleted group's memberships go).
    let mut previous_groups: BTreeSet<String> = BTreeSet::new();
    if let Some(previous) = &previous {
        // Only the parents' ids: the previous manifest is read kind by kind, never whole.
        let mut known_parents = BTreeMap::new();
        for kind in ["group", "app"] {
            let ids = repo
                .kind_entries(previous.id, &ResourceKind::new(kind))
                .await
                .map_err(BackupError::Previous)?
                .into_iter()
                .map(|e| e.id)
                .collect();
            known_parents.insert(kind.to_owned(), ids);
        }
        previous_groups = known_parents.get("group").cloned().unwrap_or_default();
        options.incremental = Some(IncrementalWindow {
            since: previous.started_at - MAX_CLOCK_SKEW,
            until: started_at,
            known_parents,
        });
    }
    let incremental = options.incremental.is_some();
    if !incremental {
        options.resumed = resumed.keys().cloned().collect();
    }
    *fetcher.options_mut() = options;
    if let Some(why) = full_instead {
        sink.warn(format!("{FULL_INSTEAD_NOTE}{why}"));
    }
    // What the fetch returned of the kinds whose unchanged entries are carried over.
    let mut fetched_users: BTreeSet<String> = BTreeSet::new();
    let mut parents: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    let mut run = drive(fetcher, &mut sink, !incremental, |event| {
        if incremental && let FetchEvent::Resources { kind, resources } = event {
            match kind.as_str() {
                "user" => fetched_users.extend(resources.iter().map(|r| r.id.clone())),
                name @ ("group" | "app") => {
                    let ids = parents.entry(if name == "group" { "group" } else { "app" });
                    ids.or_default()
                        .extend(resources.iter().map(|r| r.id.clone()));
                }
                _ => {}
            }
        }
        progress.on_event(event);
    })
    .await?;
    if !incremental {
        run.report.counts.extend(resumed);
    }
    if let (Some(previous), Some(report)) = (&previous, &run.report.incremental) {
        if let Some(why) = &report.fallback {
            sink.warn(format!("{FULL_INSTEAD_NOTE}{why}"));
        } else {
            carry_over(
                repo,
                &mut sink,
                Base {
                    summary: previous,
                    groups: &previous_groups,
                },
                &run.report,
                report,
                &fetched_users,
                &parents,
            )
            .await?;
            sink.warn(format!(
                "{INCREMENTAL_NOTE}{} ({} System Log events since {})",
                previous.id,
                report.log_events,
                previous
                    .started_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
    }
    let finished_at = clock.now();
    let (snapshot, write) = sink
        .finish(finished_at, run.status)
        .await
        .map_err(|e| BackupError::Storage(Box::new(e)))?;
    Ok(BackupOutcome {
        snapshot: snapshot.summary(),
        write,
        fetch: run.report,
        seconds: (finished_at - started_at).as_seconds_f64().max(0.0),
    })
}

/// The snapshot an incremental backup of `org` builds on, or why there is none worth
/// saying (a safety-net full backup, a base too old for the log).
async fn choose_base<S: SnapshotSource>(
    source: &S,
    org: &str,
    now: DateTime<Utc>,
    full_every: u32,
) -> Result<(Option<SnapshotSummary>, Option<String>), BackupError> {
    let mut ours: Vec<SnapshotSummary> = source
        .summaries()
        .await
        .map_err(BackupError::Previous)?
        .into_iter()
        .filter(|s| s.provider == ProviderKind::Okta && s.org == org)
        .collect();
    ours.sort_by_key(|s| s.started_at);
    let Some(base) = ours
        .iter()
        .rev()
        .find(|s| s.status == SnapshotStatus::Complete)
    else {
        return Ok((None, None));
    };
    let in_a_row = ours
        .iter()
        .rev()
        .take_while(|s| s.warnings.iter().any(|w| w.starts_with(INCREMENTAL_NOTE)))
        .count();
    if u32::try_from(in_a_row).unwrap_or(u32::MAX) >= full_every {
        return Ok((
            None,
            Some(format!(
                "{in_a_row} incremental backups in a row; a full one every {} (safety net)",
                full_every + 1
            )),
        ));
    }
    if now - base.started_at > LOG_RETENTION {
        return Ok((
            None,
            Some(format!(
                "the previous complete snapshot ({}) is older than the System Log's retention ({} days)",
                base.id,
                LOG_RETENTION.num_days()
            )),
        ));
    }
    Ok((Some(base.clone()), None))
}

/// Resources carried over from the previous snapshot at once.
pub(crate) const CARRY_BATCH: usize = 256;

/// Carry unchanged `entries` of `kind` from the previous snapshot into `sink` (Okta's
/// and Entra's incremental backups). The repository holds their objects already, so the
/// entries are carried as they are; only those it cannot vouch for (a damaged pack's)
/// are read back and stored again, [`CARRY_BATCH`] at a time. Reading every unchanged
/// object cost one request each on S3.
pub(crate) async fn carry_entries<S: SnapshotSource, K: SnapshotSink>(
    source: &S,
    sink: &mut K,
    kind: &ResourceKind,
    entries: Vec<ManifestEntry>,
) -> Result<(), BackupError> {
    let not_held = sink
        .carry(kind, entries)
        .await
        .map_err(|e| BackupError::Storage(Box::new(e)))?;
    for chunk in not_held.chunks(CARRY_BATCH) {
        let mut batch = Vec::with_capacity(chunk.len());
        for entry in chunk {
            let attributes = source
                .object(&entry.digest)
                .await
                .map_err(BackupError::Previous)?;
            batch.push(Resource::new(kind.clone(), entry.id.clone(), attributes));
        }
        sink.add(&batch)
            .await
            .map_err(|e| BackupError::Storage(Box::new(e)))?;
    }
    Ok(())
}

/// The snapshot an incremental backup builds on, as the carry-over needs it.
#[derive(Debug, Clone, Copy)]
struct Base<'a> {
    summary: &'a SnapshotSummary,
    /// Its groups' ids (read once, for the fetch too).
    groups: &'a BTreeSet<String>,
}

/// Add the previous snapshot's entries the incremental fetch did not read again: users it
/// did not list (and the log did not delete), and the children of groups and apps it did
/// not list again (whose parent still exists, and whose member was not deleted). Member
/// lists not read again get the log's membership changes: a pair an event decided is
/// kept or added as the latest event says.
async fn carry_over<S: SnapshotSource, K: SnapshotSink>(
    source: &S,
    sink: &mut K,
    previous: Base<'_>,
    fetch: &FetchReport,
    report: &IncrementalReport,
    fetched_users: &BTreeSet<String>,
    parents: &BTreeMap<&'static str, BTreeSet<String>>,
) -> Result<(), BackupError> {
    let empty = BTreeSet::new();
    let current_groups = parents.get("group").unwrap_or(&empty);
    let deleted_groups: BTreeSet<&str> = previous
        .groups
        .difference(current_groups)
        .map(String::as_str)
        .collect();
    // Kind by kind, each released once carried over: neither the previous manifest nor
    // the new one is held whole.
    for kind in previous.summary.counts.keys() {
        let Some(spec) = kinds::by_name(kind.as_str()) else {
            continue;
        };
        if fetch.skipped.contains_key(kind) || fetch.failed.contains_key(kind) {
            continue;
        }
        // Pairs the log added to groups whose members were not listed again.
        let mut added: Vec<Resource> = Vec::new();
        let keep: Box<dyn Fn(&str) -> bool + Send + Sync> = if spec.name == "user" {
            Box::new(|id: &str| !fetched_users.contains(id) && !report.deleted_users.contains(id))
        } else if partial_child(spec)
            && let (Some(parent), Some(relisted)) = (spec.parent, report.relisted.get(spec.name))
        {
            let current = parents.get(parent.kind).unwrap_or(&empty);
            let deleted_groups = &deleted_groups;
            let applied = if spec.name == "group_membership" {
                added = applied_members(spec, report, current, relisted);
                Some(&report.memberships)
            } else {
                None
            };
            Box::new(move |id: &str| {
                let Some((parent_id, member)) = id.split_once('/') else {
                    return false;
                };
                current.contains(parent_id)
                    && !relisted.contains(parent_id)
                    && !report.deleted_users.contains(member)
                    && !deleted_groups.contains(member)
                    // A pair the log decided is added (or not) from the log.
                    && !applied
                        .and_then(|m| m.get(parent_id))
                        .is_some_and(|users| users.contains_key(member))
            })
        } else {
            continue;
        };
        let mut entries = source
            .kind_entries(previous.summary.id, kind)
            .await
            .map_err(BackupError::Previous)?;
        entries.retain(|e| keep(&e.id));
        if !added.is_empty() {
            sink.add(&added)
                .await
                .map_err(|e| BackupError::Storage(Box::new(e)))?;
        }
        carry_entries(source, sink, kind, entries).await?;
        sink.release_kind(kind)
            .await
            .map_err(|e| BackupError::Storage(Box::new(e)))?;
    }
    Ok(())
}

/// The member pairs the log says exist at the end of its window, under groups that still
/// exist and were not listed again, of users not deleted: built as a listing would build
/// them, so their digests are the ones a full backup stores.
fn applied_members(
    spec: &kinds::KindSpec,
    report: &IncrementalReport,
    current: &BTreeSet<String>,
    relisted: &BTreeSet<String>,
) -> Vec<Resource> {
    let mut out = Vec::new();
    for (group, users) in &report.memberships {
        if !current.contains(group) || relisted.contains(group) {
            continue;
        }
        let parent = kinds::ParentIds {
            resource_id: group.clone(),
            param_value: group.clone(),
        };
        for (user, member) in users {
            if !*member || report.deleted_users.contains(user) {
                continue;
            }
            // Only a blank id fails, and the log's reader keeps no blank ids.
            if let Ok(resource) = spec.to_resource(Some(&parent), serde_json::json!({ "id": user }))
            {
                out.push(resource);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use butterfly_core::{Digest, ResourceKind, Snapshot};
    use chrono::{DateTime, Utc};

    #[test]
    fn outcome_serializes_the_snapshot_summary_with_rfc3339_times() {
        let mut snapshot = Snapshot::begin(
            ProviderKind::Okta,
            "https://example.okta.com",
            DateTime::<Utc>::UNIX_EPOCH,
        );
        snapshot.insert(
            ResourceKind::new("user"),
            "00u1",
            Digest::of_json(&serde_json::json!({"id": "00u1"})),
        );
        snapshot.warnings.push("kind `brand` skipped: 404".into());
        snapshot.seal(
            DateTime::<Utc>::UNIX_EPOCH + chrono::TimeDelta::seconds(3),
            SnapshotStatus::Partial,
        );
        let outcome = BackupOutcome {
            snapshot: snapshot.summary(),
            write: WriteStats::default(),
            fetch: FetchReport::default(),
            seconds: 3.0,
        };
        assert_eq!(outcome.snapshot_id(), snapshot.id);
        assert_eq!(outcome.status(), SnapshotStatus::Partial);
        assert_eq!(outcome.warnings(), ["kind `brand` skipped: 404"]);
        let json = serde_json::to_value(&outcome).unwrap();
        assert_eq!(
            json["snapshot"],
            serde_json::to_value(snapshot.summary()).unwrap()
        );
        assert_eq!(json["snapshot"]["finished_at"], "1970-01-01T00:00:03Z");
        assert_eq!(json["snapshot"]["status"], "partial");
        assert_eq!(json["fetch"]["requests"], 0);
        assert_eq!(json["write"]["new_objects"], 0);
    }
}

/// The runner against the simulator, writing into memory: status, clock and outcome.
#[cfg(all(test, feature = "simulator"))]
// Clippy treats only a bare `cfg(test)` as test code; a failed setup is a failed test.
#[allow(clippy::unwrap_used)]
mod runner_tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;

    use butterfly_core::FixedClock;
    use butterfly_core::source::{InMemorySnapshotSource, SnapshotSource as _};
    use chrono::{DateTime, TimeDelta, Utc};
    use futures::executor::block_on;

    use super::*;
    use crate::clock::VirtualTimer;
    use crate::okta::fetcher::{ClientId, OrgUrl, PrivateKey};
    use crate::okta::simulator::{OrgConfig, RunningSimulator, Simulator, SimulatorConfig};

    /// Every snapshot the target holds: the runner seals at most one per run.
    fn sealed(target: &InMemorySnapshotSource) -> Vec<SnapshotSummary> {
        block_on(target.summaries()).unwrap()
    }

    /// Simulator and fetcher wait on one virtual clock: no real time passes.
    fn timer() -> Arc<VirtualTimer> {
        Arc::new(VirtualTimer::new(DateTime::<Utc>::UNIX_EPOCH))
    }

    async fn simulator(
        granted: Option<BTreeSet<String>>,
        timer: &Arc<VirtualTimer>,
    ) -> RunningSimulator {
        let config = SimulatorConfig {
            org: OrgConfig {
                seed: 3,
                users: 12,
                groups: 3,
                apps: 3,
            },
            timer: timer.clone(),
            granted_scopes: granted,
            ..SimulatorConfig::default()
        };
        Simulator::bind(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
    }

    fn credentials(sim: &RunningSimulator, client_id: &str) -> OktaCredentials {
        let given = sim.simulator().client_credentials();
        OktaCredentials {
            org_url: OrgUrl::parse(&given.org_url).unwrap(),
            client_id: ClientId::new(client_id).unwrap(),
            key_id: Some(given.key_id),
            private_key: PrivateKey::from_pem(&given.private_key_pem.unwrap()).unwrap(),
        }
    }

    fn options(timer: &Arc<VirtualTimer>) -> FetchOptions {
        FetchOptions {
            rate_limit_share: 1.0,
            timer: timer.clone(),
            insecure_allow_private_addresses: true,
            ..FetchOptions::default()
        }
    }

    const T0: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_backup_is_sealed_complete_on_the_given_clock() {
        let timer = timer();
        let sim = simulator(None, &timer).await;
        let client_id = sim.simulator().client_credentials().client_id;
        let target = InMemorySnapshotSource::new();
        let clock = FixedClock::new(T0);
        let mut finished_kinds = 0i32;
        let outcome = run_okta_backup(
            credentials(&sim, &client_id),
            options(&timer),
            &target,
            &clock,
            |event: &FetchEvent| {
                // Each finished kind moves the clock a second: the seal time shows the
                // runner read the clock after the fetch, not the wall clock.
                if matches!(event, FetchEvent::KindFinished { .. }) {
                    finished_kinds += 1;
                    clock.advance(TimeDelta::seconds(1));
                }
            },
        )
        .await
        .unwrap();

        assert_eq!(outcome.status(), SnapshotStatus::Complete);
        assert!(outcome.warnings().is_empty(), "{:?}", outcome.warnings());
        assert_eq!(outcome.snapshot.started_at, T0);
        assert_eq!(
            outcome.snapshot.finished_at,
            Some(T0 + TimeDelta::seconds(finished_kinds.into()))
        );
        assert!((outcome.seconds - f64::from(finished_kinds)).abs() < 1e-9);
        let expected: BTreeMap<String, u64> = sim
            .simulator()
            .org()
            .counts()
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(kind, n)| (kind.to_owned(), n as u64))
            .collect();
        let counted: BTreeMap<String, u64> = outcome
            .snapshot
            .counts
            .iter()
            .map(|(kind, n)| (kind.as_str().to_owned(), *n))
            .collect();
        assert_eq!(counted, expected);
        assert_eq!(outcome.write.resources, outcome.snapshot.resources);
        assert!(outcome.fetch.requests > 0 && outcome.fetch.failed.is_empty());
        let sealed = sealed(&target);
        assert_eq!(sealed.len(), 1);
        assert_eq!(sealed[0], outcome.snapshot);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn missing_scopes_seal_a_partial_snapshot_with_warnings() {
        let granted: BTreeSet<String> = kinds::backup_scopes()
            .into_iter()
            .filter(|s| *s != "okta.idps.read")
            .map(str::to_owned)
            .collect();
        let timer = timer();
        let sim = simulator(Some(granted), &timer).await;
        let client_id = sim.simulator().client_credentials().client_id;
        let target = InMemorySnapshotSource::new();
        let outcome = run_okta_backup(
            credentials(&sim, &client_id),
            options(&timer),
            &target,
            &FixedClock::new(T0),
            |_: &FetchEvent| {},
        )
        .await
        .unwrap();
        assert_eq!(outcome.status(), SnapshotStatus::Partial);
        assert!(
            outcome
                .fetch
                .skipped
                .contains_key(&ResourceKind::new("idp"))
        );
        assert!(
            outcome
                .warnings()
                .iter()
                .any(|w| w.starts_with("kind `idp` skipped")),
            "{:?}",
            outcome.warnings()
        );
        assert_eq!(sealed(&target).len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_sign_in_seals_nothing() {
        let timer = timer();
        let sim = simulator(None, &timer).await;
        let target = InMemorySnapshotSource::new();
        let error = run_okta_backup(
            credentials(&sim, "0oa-not-registered"),
            options(&timer),
            &target,
            &FixedClock::new(T0),
            |_: &FetchEvent| {},
        )
        .await
        .unwrap_err();
        assert!(
            matches!(error, BackupError::Fetch(FetchError::Authentication(_))),
            "{error:?}"
        );
        assert!(sealed(&target).is_empty());
    }
}
