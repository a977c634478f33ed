//! One runner for Entra ID restores, dry runs and undos, which the CLI's
//! `butterfly restore` and the server's restore jobs both call.
//!
//! 1. [`prepare`] reads what a run needs and makes its plan: for a
//!    [`RunRequest::Fresh`] run, the snapshot's restorable kinds and the live tenant's
//!    ([`read_live`]); for a [`RunRequest::Reviewed`] plan, the live tenant, refused if
//!    it changed since the plan was made; for a [`RunRequest::Undo`], the journal's done
//!    steps, the undo snapshot and the live tenant. A dry run stops here and shows
//!    [`PreparedRun::plan`].
//! 2. [`run`] executes it: it signs in, refuses to start when the token lacks a write
//!    permission the plan needs (nothing is written), stores the live versions of what
//!    the plan updates or deletes as an undo snapshot in `undo_target` (its id goes in
//!    the journal), then performs every step through the Graph session, journaling each.
//!
//! The journal is the caller's ([`Journal::open`] on a file for the CLI, so `--undo`
//! works from a later process; [`Journal::in_memory`] for the server, which stores
//! its records with the job). Re-running an interrupted restore with the same journal
//! continues it: the plan is made afresh against the tenant, which now holds what the
//! first run created, so nothing is created twice, and the undo snapshot keeps the
//! first versions seen.

use std::collections::{BTreeMap, BTreeSet};

use butterfly_core::restore::{PlanAction, PlanError, RestoreMode, RestoreOptions, RestorePlan};
use butterfly_core::source::{SnapshotSource, SourceError};
use butterfly_core::{
    ProviderKind, Resource, SnapshotId, SnapshotSink as _, SnapshotStatus, SnapshotTarget,
};
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::{
    ExecuteError, ExecuteOptions, ExecutionReport, PlanInput, execute, plan as make_plan, undo_plan,
};
use crate::entra::fetcher::EntraFetcher;
use crate::entra::kinds;
use crate::okta::fetcher::{FetchError, FetchEvent};
use crate::okta::restore::ResourceSet;
use crate::okta::restore::journal::{Journal, JournalError, JournalRecord};

/// What a run is asked to do.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunRequest {
    /// Plan a restore of a snapshot into the fetcher's tenant.
    Fresh {
        /// The snapshot (of this tenant).
        snapshot: SnapshotId,
        /// Kinds, ids, overwrite, delete-extra.
        options: RestoreOptions,
    },
    /// Execute exactly this reviewed plan; refused if the tenant changed since.
    Reviewed(Box<RestorePlan>),
    /// Take back the runs whose journal this is.
    Undo {
        /// The journal's records.
        journal: Vec<JournalRecord>,
    },
}

/// Why a run did not plan or did not finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The tenant could not be signed in to or read.
    #[error("cannot read the tenant: {0}")]
    Fetch(#[from] FetchError),
    /// A restorable kind the snapshot holds could not be read from the tenant: a plan
    /// without it would create what may already be there.
    #[error("cannot read the tenant's `{kind}`: {reason}")]
    Unreadable {
        /// The kind.
        kind: String,
        /// Why.
        reason: String,
    },
    /// The snapshot or the undo snapshot could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The snapshot is not an Entra ID snapshot.
    #[error("snapshot {0} is not an Entra ID snapshot")]
    NotEntra(SnapshotId),
    /// The plan is refused: edited, or the tenant changed since it was made.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The plan or snapshot is for another tenant.
    #[error("the plan is for tenant {planned}, not {given}")]
    OtherTenant {
        /// The plan's tenant.
        planned: String,
        /// The tenant signed in to.
        given: String,
    },
    /// The app lacks application permissions the plan writes with; nothing was written.
    #[error(
        "the app lacks the application permission(s) {} needed to write {} (Graph would answer 403 Authorization_RequestDenied); nothing was written",
        missing.join(", "), kinds.join(", ")
    )]
    MissingPermissions {
        /// The permissions.
        missing: Vec<String>,
        /// The kinds that need them.
        kinds: Vec<String>,
    },
    /// The undo snapshot could not be stored: nothing was written.
    #[error("cannot store the undo snapshot (nothing was written): {0}")]
    UndoSnapshot(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The journal could not be read or written.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A step failed (the journal records it, and what was done before it).
    #[error(transparent)]
    Execute(#[from] ExecuteError),
}

/// The tenant as a plan reads it.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct LiveTenant {
    /// Its resources of the kinds read.
    pub resources: ResourceSet,
    /// Kinds that could not be read, and why (missing permission, failure).
    pub unreadable: BTreeMap<String, String>,
}

/// A run ready to execute: its plan, and what executing it reads.
#[derive(Debug)]
pub struct PreparedRun {
    /// The plan (show it for a dry run).
    pub plan: RestorePlan,
    /// The bodies the plan writes (the snapshot's; an undo's: the undo snapshot's).
    bodies: ResourceSet,
    /// The tenant as read for the plan.
    live: LiveTenant,
}

impl PreparedRun {
    /// The tenant as read for the plan (kinds that could not be read are listed).
    pub fn live(&self) -> &LiveTenant {
        &self.live
    }
}

/// The restorable kinds, by catalogue name.
pub fn restorable_kinds() -> BTreeSet<String> {
    kinds::restore_order()
        .into_iter()
        .map(|k| k.name.to_owned())
        .collect()
}

/// Read `kinds` of the fetcher's tenant (and the parents they are listed under) with
/// the backup fetcher; the fetcher's [`EntraFetchOptions::only_kinds`](crate::entra::fetcher::EntraFetchOptions::only_kinds)
/// is ignored in favour of `kinds`.
pub async fn read_live(
    fetcher: &EntraFetcher,
    kinds: &BTreeSet<String>,
) -> Result<LiveTenant, RunError> {
    let fetcher = fetcher.with_only_kinds(kinds.clone());
    let (tx, mut rx) = mpsc::channel(64);
    let collect = async {
        let mut live = LiveTenant::default();
        while let Some(event) = rx.recv().await {
            match event {
                FetchEvent::Resources { resources, .. } => {
                    for resource in resources {
                        if kinds.contains(resource.kind.as_str()) {
                            live.resources.insert(resource);
                        }
                    }
                }
                FetchEvent::KindSkipped { kind, reason }
                | FetchEvent::KindFailed { kind, reason }
                    if kinds.contains(kind.as_str()) =>
                {
                    live.unreadable.insert(kind.as_str().to_owned(), reason);
                }
                _ => {}
            }
        }
        live
    };
    let (result, live) = futures::join!(fetcher.run(tx), collect);
    result?;
    Ok(live)
}

/// Read what the run needs and make its plan. See the [module docs](self).
pub async fn prepare(
    fetcher: &EntraFetcher,
    source: &dyn SnapshotSource,
    request: RunRequest,
    now: DateTime<Utc>,
) -> Result<PreparedRun, RunError> {
    let tenant = fetcher.tenant_id().to_owned();
    match request {
        RunRequest::Fresh { snapshot, options } => {
            let manifest = source.manifest(snapshot).await?;
            if manifest.provider != ProviderKind::EntraId {
                return Err(RunError::NotEntra(snapshot));
            }
            if !manifest.org.eq_ignore_ascii_case(&tenant) {
                return Err(RunError::OtherTenant {
                    planned: manifest.org.clone(),
                    given: tenant,
                });
            }
            let kinds = restorable_kinds();
            let bodies = ResourceSet::from_snapshot(source, &manifest, &kinds).await?;
            let live = read_live(fetcher, &kinds).await?;
            refuse_unreadable(&live, &bodies)?;
            let plan = make_plan(&PlanInput::new(
                &manifest,
                &bodies,
                &live.resources,
                &options,
                now,
            ));
            Ok(PreparedRun { plan, bodies, live })
        }
        RunRequest::Reviewed(plan) => {
            plan.verify()?;
            if !plan.org.eq_ignore_ascii_case(&tenant) {
                return Err(RunError::OtherTenant {
                    planned: plan.org.clone(),
                    given: tenant,
                });
            }
            let kinds = restorable_kinds();
            let manifest = source.manifest(plan.snapshot_id).await?;
            let bodies = ResourceSet::from_snapshot(source, &manifest, &kinds).await?;
            let live = read_live(fetcher, &kinds).await?;
            refuse_unreadable(&live, &bodies)?;
            plan.check_live(super::live_fingerprint_of(&live.resources))?;
            Ok(PreparedRun {
                plan: *plan,
                bodies,
                live,
            })
        }
        RunRequest::Undo { journal: records } => {
            let mut journal = Journal::in_memory();
            for record in records {
                journal.append(record)?;
            }
            // An undo of another tenant's run would find nothing of it here and
            // report success having taken nothing back.
            if let Some(org) = journal.records().iter().find_map(|r| match r {
                JournalRecord::Run { org, .. } => Some(org),
                _ => None,
            }) && !org.eq_ignore_ascii_case(&tenant)
            {
                return Err(RunError::OtherTenant {
                    planned: org.clone(),
                    given: tenant,
                });
            }
            let before = match journal.undo_snapshot() {
                Some(id) => {
                    let manifest = source.manifest(id).await?;
                    let all = manifest
                        .kinds
                        .keys()
                        .map(|k| k.as_str().to_owned())
                        .collect();
                    Some((
                        id,
                        ResourceSet::from_snapshot(source, &manifest, &all).await?,
                    ))
                }
                None => None,
            };
            let live = read_live(fetcher, &restorable_kinds()).await?;
            // A kind that cannot be read would look already gone: its steps would be
            // skipped and the undo would report success having taken nothing back.
            for (_, _, _, kind, _, _) in journal.done_steps() {
                if let Some(reason) = live.unreadable.get(kind.as_str()) {
                    return Err(RunError::Unreadable {
                        kind: kind.as_str().to_owned(),
                        reason: reason.clone(),
                    });
                }
            }
            let plan = undo_plan(
                &journal,
                before.as_ref().map(|(id, set)| (*id, set)),
                &live.resources,
                &tenant,
                now,
            );
            Ok(PreparedRun {
                plan,
                bodies: before.map(|(_, set)| set).unwrap_or_default(),
                live,
            })
        }
    }
}

/// A plan must not be made blind: a restorable kind the snapshot holds must have been
/// read from the tenant.
fn refuse_unreadable(live: &LiveTenant, bodies: &ResourceSet) -> Result<(), RunError> {
    for (kind, reason) in &live.unreadable {
        if bodies.kind(kind).next().is_some() {
            return Err(RunError::Unreadable {
                kind: kind.clone(),
                reason: reason.clone(),
            });
        }
    }
    Ok(())
}

/// The write permissions `plan` needs that `roles` lacks, and the kinds needing them.
pub fn missing_write_permissions(
    plan: &RestorePlan,
    roles: &BTreeSet<String>,
) -> (Vec<String>, Vec<String>) {
    let mut missing = BTreeSet::new();
    let mut needing = BTreeSet::new();
    for (_, entry) in plan.steps() {
        let Some(spec) = kinds::by_name(entry.kind.as_str()) else {
            continue;
        };
        let Some(write) = spec.write_permission else {
            continue;
        };
        let directory = matches!(
            write,
            "User.ReadWrite.All"
                | "Group.ReadWrite.All"
                | "GroupMember.ReadWrite.All"
                | "Application.ReadWrite.All"
        );
        let granted = roles.contains(write)
            || (directory && roles.contains("Directory.ReadWrite.All"))
            || (write == "GroupMember.ReadWrite.All" && roles.contains("Group.ReadWrite.All"));
        if !granted {
            missing.insert(write.to_owned());
            needing.insert(spec.name.to_owned());
        }
    }
    (missing.into_iter().collect(), needing.into_iter().collect())
}

/// Execute a prepared run. See the [module docs](self). `journal` gets every step
/// (a resumed run appends to its journal); the undo snapshot is written to
/// `undo_target` (not for an undo: its journal's own undo snapshot is what it puts
/// back).
pub async fn run<T: SnapshotTarget>(
    fetcher: &EntraFetcher,
    source: &dyn SnapshotSource,
    prepared: &PreparedRun,
    journal: &mut Journal,
    undo_target: &T,
    options: &ExecuteOptions,
    now: DateTime<Utc>,
) -> Result<ExecutionReport, RunError> {
    let plan = &prepared.plan;
    let session = fetcher.session().await?;
    if let Some(roles) = session.roles() {
        let (missing, kinds) = missing_write_permissions(plan, roles);
        if !missing.is_empty() {
            return Err(RunError::MissingPermissions { missing, kinds });
        }
    }
    if plan.mode != RestoreMode::Undo {
        store_undo_snapshot(
            plan,
            source,
            &prepared.live.resources,
            journal,
            undo_target,
            now,
        )
        .await?;
    }
    let mut report = execute(
        plan,
        &prepared.bodies,
        &prepared.live.resources,
        &session,
        journal,
        options,
    )
    .await?;
    report.requests = session.stats().requests;
    Ok(report)
}

/// Store the live versions of what the plan updates or deletes, merged with the undo
/// snapshot an earlier (interrupted) run of the same journal stored: the first version
/// seen is kept.
async fn store_undo_snapshot<T: SnapshotTarget>(
    plan: &RestorePlan,
    source: &dyn SnapshotSource,
    live: &ResourceSet,
    journal: &mut Journal,
    target: &T,
    now: DateTime<Utc>,
) -> Result<(), RunError> {
    let mut kept: BTreeMap<(String, String), Resource> = BTreeMap::new();
    let previous = journal.undo_snapshot();
    if let Some(id) = previous {
        let manifest = source.manifest(id).await?;
        let all = manifest
            .kinds
            .keys()
            .map(|k| k.as_str().to_owned())
            .collect();
        for resource in ResourceSet::from_snapshot(source, &manifest, &all)
            .await?
            .into_resources()
        {
            kept.insert(
                (resource.kind.as_str().to_owned(), resource.id.clone()),
                resource,
            );
        }
    }
    let before = kept.len();
    let created: BTreeSet<String> = journal
        .done_steps()
        .filter(|s| s.2 == PlanAction::Create)
        .filter_map(|s| s.5.map(str::to_owned))
        .collect();
    for entry in plan.update.iter().chain(&plan.delete) {
        let Some(live_id) = &entry.live_id else {
            continue;
        };
        let key = (entry.kind.as_str().to_owned(), live_id.clone());
        if created.contains(live_id) || kept.contains_key(&key) {
            continue;
        }
        if let Some(body) = live.get(entry.kind.as_str(), live_id) {
            kept.insert(
                key,
                Resource::new(entry.kind.clone(), live_id, body.clone()),
            );
        }
    }
    if kept.len() == before {
        return Ok(());
    }
    let mut sink = target.begin_snapshot(ProviderKind::EntraId, &plan.org, now);
    let resources: Vec<Resource> = kept.into_values().collect();
    sink.add(&resources)
        .await
        .map_err(|e| RunError::UndoSnapshot(Box::new(e)))?;
    sink.warn(format!(
        "undo snapshot of Entra ID restore of snapshot {}: the live versions it replaces",
        plan.snapshot_id
    ));
    let (snapshot, _) = sink
        .finish(now, SnapshotStatus::Partial)
        .await
        .map_err(|e| RunError::UndoSnapshot(Box::new(e)))?;
    journal.append(JournalRecord::UndoSnapshot {
        snapshot_id: snapshot.id,
    })?;
    Ok(())
}
