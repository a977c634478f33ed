//! Executing a plan: every step in order, journaled, undoable.
//!
//! Before its first write, [`execute`] stores the live version of every resource the
//! plan updates or deletes as a snapshot in the repository (a normal snapshot, through
//! [`SnapshotTarget`]) and records its id in the journal. The steps are then sent in
//! plan order; consecutive steps of one action and kind (which never depend on each
//! other) go out [`ExecuteOptions::concurrency`] at a time, and each outcome is appended
//! to the journal (synced) as it comes:
//!
//! - a create reads the resource from the snapshot, replaces the ids that changed so far
//!   ([`IdMap`]), strips what Okta assigns, creates it (users STAGED), records its new id
//!   and mirrors its lifecycle status (group rules are created inactive; an app or a
//!   policy inactive in the snapshot is deactivated);
//! - an update sends the snapshot's version (an active group rule is deactivated first,
//!   as Okta requires) and mirrors the status;
//! - a delete deactivates first where Okta requires it; a `404` counts as done.
//!
//! A step Okta refuses is recorded as failed and the run goes on; dependent steps then
//! fail on their own. A run stopped midway (killed, or [`ExecuteOptions::stop_after`]
//! in tests) is resumed by running again with the same journal: steps done are not
//! repeated, and their new ids are remembered.
//!
//! [`undo_plan`] turns a journal back into a plan: delete what the run created, put back
//! what it updated or deleted from its undo snapshot.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{StreamExt as _, TryStreamExt as _};

use butterfly_core::diff::{DiffRules, diff_resource};
use butterfly_core::restore::{
    PlanAction, PlanEntry, PlanError, RestoreMode, RestoreOptions, RestorePlan, Variables,
};
use butterfly_core::source::{SnapshotSource, SourceError};
use butterfly_core::{
    ProviderKind, Resource, SnapshotId, SnapshotSink as _, SnapshotStatus, SnapshotTarget,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::journal::{Journal, JournalError, JournalRecord, StepOutcome};
use super::plan::{LiveState, ResourceSet, is_relation};
use super::remap::IdMap;
use super::writer::{
    WriteRequest, WriteTransport, create_request, delete_request, describe_failure,
    lifecycle_request, transitions, update_request, write_body,
};
use super::{comparable, has_lifecycle};
use crate::okta::kinds::{self, KindSpec};

/// Why a run stopped before attempting every step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecuteError {
    /// The snapshot (or the undo snapshot) could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The journal could not be written.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The undo snapshot could not be stored: nothing was written to the org.
    #[error("cannot store the undo snapshot (nothing was written): {0}")]
    UndoSnapshot(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A body would be written with an unresolved placeholder.
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// How to run.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ExecuteOptions {
    /// The run's id, recorded in the journal.
    pub run_id: String,
    /// Replacements and placeholders (a sync).
    pub variables: Option<Variables>,
    /// Stop (as if killed) after this many steps: for tests of resuming.
    pub stop_after: Option<usize>,
    /// Steps of one kind and action sent at once (default 8).
    pub concurrency: usize,
}

impl ExecuteOptions {
    /// Options for run `run_id`.
    pub fn new(run_id: impl Into<String>) -> Self {
        ExecuteOptions {
            run_id: run_id.into(),
            concurrency: 8,
            ..Self::default()
        }
    }

    /// With sync variables.
    #[must_use]
    pub fn with_variables(mut self, variables: Option<Variables>) -> Self {
        self.variables = variables;
        self
    }

    /// Stop after `steps` steps.
    #[must_use]
    pub fn with_stop_after(mut self, steps: Option<usize>) -> Self {
        self.stop_after = steps;
        self
    }
}

/// A step that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepFailure {
    /// Its position in the plan.
    pub order: u64,
    /// What it tried.
    pub action: PlanAction,
    /// The kind.
    pub kind: String,
    /// The resource's id.
    pub id: String,
    /// Why.
    pub error: String,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ExecutionReport {
    /// The run's id.
    pub run_id: String,
    /// Steps done in this run.
    pub done: u64,
    /// Steps that failed in this run.
    pub failed: u64,
    /// Steps an earlier, interrupted run of the same plan had done.
    pub already_done: u64,
    /// Requests sent.
    pub requests: u64,
    /// The failures.
    pub failures: Vec<StepFailure>,
    /// The snapshot of the live versions the run replaces (for `--undo`).
    pub undo_snapshot: Option<SnapshotId>,
    /// Whether the run stopped before the end ([`ExecuteOptions::stop_after`]).
    pub interrupted: bool,
}

/// Perform `plan`: see the [module docs](self). `source` holds the plan's snapshot (and
/// any earlier undo snapshot of the run); `live` is the org as last read; the undo
/// snapshot is written to `undo_target`.
#[allow(clippy::too_many_arguments)]
pub async fn execute<T: SnapshotTarget>(
    plan: &RestorePlan,
    source: &dyn SnapshotSource,
    live: &LiveState,
    transport: &dyn WriteTransport,
    journal: &mut Journal,
    undo_target: &T,
    options: &ExecuteOptions,
    now: DateTime<Utc>,
) -> Result<ExecutionReport, ExecuteError> {
    let mut report = ExecutionReport {
        run_id: options.run_id.clone(),
        ..ExecutionReport::default()
    };
    journal.append(JournalRecord::Run {
        run_id: options.run_id.clone(),
        mode: plan.mode,
        snapshot_id: plan.snapshot_id,
        org: plan.org.clone(),
        plan_fingerprint: plan.fingerprint,
    })?;
    report.undo_snapshot =
        store_undo_snapshot(plan, source, live, journal, undo_target, now).await?;

    // Ids known before the first step: matches the plan made, creates of earlier runs.
    let mut map = journal.created_ids();
    for entry in plan.update.iter().chain(&plan.skip) {
        if let Some(live_id) = &entry.live_id {
            map.insert_path(&entry.id, live_id);
        }
    }
    let step = Step {
        plan,
        source,
        live,
        transport,
        variables: options.variables.as_ref(),
        requests: AtomicU64::new(0),
    };
    let steps = plan.steps();
    let mut performed = 0usize;
    let mut start = 0;
    // Consecutive steps of one action and kind do not depend on each other: they run
    // concurrently (the bucket's budget still paces them), in batches, so a restore is
    // bound by the rate limits rather than by round trips.
    while start < steps.len() {
        let (action, first) = steps[start];
        let end = steps[start..]
            .iter()
            .position(|(a, e)| *a != action || e.kind != first.kind)
            .map_or(steps.len(), |n| start + n);
        let mut pending = Vec::new();
        for &(action, entry) in &steps[start..end] {
            if journal.is_done(plan.fingerprint, entry.order) {
                report.already_done += 1;
            } else {
                pending.push((action, entry));
            }
        }
        start = end;
        let mut stop = false;
        if let Some(limit) = options.stop_after {
            let allowed = limit.saturating_sub(performed);
            if pending.len() >= allowed {
                pending.truncate(allowed);
                stop = true;
            }
        }
        performed += pending.len();
        let mut remaps = Vec::new();
        {
            let map = &map;
            let step = &step;
            let mut results = futures::stream::iter(pending)
                .map(|(action, entry)| async move {
                    let outcome = match kinds::by_name(entry.kind.as_str()) {
                        None => StepResult::failed(format!("unknown kind `{}`", entry.kind)),
                        Some(spec) => match action {
                            PlanAction::Create => step.create(spec, entry, map).await?,
                            PlanAction::Update => step.update(spec, entry, map).await?,
                            _ => step.delete(spec, entry).await,
                        },
                    };
                    Ok::<_, ExecuteError>((action, entry, outcome))
                })
                .buffered(options.concurrency.max(1));
            while let Some((action, entry, outcome)) = results.try_next().await? {
                if let Some(remap) = &outcome.remap {
                    remaps.push(remap.clone());
                }
                record(&mut report, journal, plan, action, entry, outcome)?;
            }
        }
        for (old, new) in remaps {
            map.insert(&old, &new);
        }
        if stop {
            report.interrupted = true;
            report.requests = step.requests.load(Ordering::Relaxed);
            return Ok(report);
        }
    }
    report.requests = step.requests.load(Ordering::Relaxed);
    journal.append(JournalRecord::Finished {
        done: report.done + report.already_done,
        failed: report.failed,
    })?;
    Ok(report)
}

/// Count one step's outcome and journal it (synced) before the next is recorded.
fn record(
    report: &mut ExecutionReport,
    journal: &mut Journal,
    plan: &RestorePlan,
    action: PlanAction,
    entry: &PlanEntry,
    outcome: StepResult,
) -> Result<(), ExecuteError> {
    let failed = outcome.error.is_some();
    if failed {
        report.failed += 1;
        report.failures.push(StepFailure {
            order: entry.order,
            action,
            kind: entry.kind.to_string(),
            id: entry.id.clone(),
            error: outcome.error.clone().unwrap_or_default(),
        });
    } else {
        report.done += 1;
    }
    journal.append(JournalRecord::Step {
        plan_fingerprint: plan.fingerprint,
        order: entry.order,
        action,
        kind: entry.kind.clone(),
        id: entry.id.clone(),
        outcome: if outcome.live_id.is_some() || !failed {
            StepOutcome::Done
        } else {
            StepOutcome::Failed
        },
        live_id: outcome.live_id,
        error: outcome.error,
    })?;
    Ok(())
}

/// Store what the plan will replace, merged with an earlier undo snapshot of the same
/// run (resumed runs keep the first version they saw).
async fn store_undo_snapshot<T: SnapshotTarget>(
    plan: &RestorePlan,
    source: &dyn SnapshotSource,
    live: &LiveState,
    journal: &mut Journal,
    target: &T,
    now: DateTime<Utc>,
) -> Result<Option<SnapshotId>, ExecuteError> {
    let mut kept = ResourceSet::new();
    let previous = journal.undo_snapshot();
    if let Some(id) = previous {
        let manifest = source.manifest(id).await?;
        let all: BTreeSet<String> = manifest
            .kinds
            .keys()
            .map(|k| k.as_str().to_owned())
            .collect();
        kept = ResourceSet::from_snapshot(source, &manifest, &all).await?;
    }
    let created: BTreeSet<String> = journal
        .done_steps()
        .filter(|s| s.2 == PlanAction::Create)
        .filter_map(|s| s.5.map(str::to_owned))
        .collect();
    let before = kept.len();
    for entry in plan.update.iter().chain(&plan.delete) {
        let Some(live_id) = &entry.live_id else {
            continue;
        };
        if created.contains(live_id) || kept.get(entry.kind.as_str(), live_id).is_some() {
            continue;
        }
        if let Some(body) = live.resources.get(entry.kind.as_str(), live_id) {
            kept.insert(Resource::new(entry.kind.clone(), live_id, body.clone()));
        }
    }
    if kept.len() == before {
        return Ok(previous);
    }
    let mut sink = target.begin_snapshot(ProviderKind::Okta, &plan.org, now);
    let resources: Vec<Resource> = kept.into_resources();
    sink.add(&resources)
        .await
        .map_err(|e| ExecuteError::UndoSnapshot(Box::new(e)))?;
    sink.warn(format!(
        "undo snapshot of restore run {}: the live versions it replaced",
        journal_run_id(journal)
    ));
    let (snapshot, _) = sink
        .finish(now, SnapshotStatus::Partial)
        .await
        .map_err(|e| ExecuteError::UndoSnapshot(Box::new(e)))?;
    journal.append(JournalRecord::UndoSnapshot {
        snapshot_id: snapshot.id,
    })?;
    Ok(Some(snapshot.id))
}

fn journal_run_id(journal: &Journal) -> String {
    journal
        .records()
        .iter()
        .rev()
        .find_map(|r| match r {
            JournalRecord::Run { run_id, .. } => Some(run_id.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

struct StepResult {
    live_id: Option<String>,
    error: Option<String>,
    /// A created object's own id, old to new.
    remap: Option<(String, String)>,
}

impl StepResult {
    fn failed(error: String) -> Self {
        StepResult {
            live_id: None,
            error: Some(error),
            remap: None,
        }
    }

    fn done(live_id: String) -> Self {
        StepResult {
            live_id: Some(live_id),
            error: None,
            remap: None,
        }
    }
}

struct Step<'a> {
    plan: &'a RestorePlan,
    source: &'a dyn SnapshotSource,
    live: &'a LiveState,
    transport: &'a dyn WriteTransport,
    variables: Option<&'a Variables>,
    requests: AtomicU64,
}

impl Step<'_> {
    /// Send one request; a refusal or a transport failure is the error text.
    async fn send(&self, request: WriteRequest) -> Result<Value, String> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        match self.transport.send(&request).await {
            Ok(response) if response.is_success() => Ok(response.body),
            Ok(response) => Err(describe_failure(&request, &response)),
            Err(e) => Err(format!("{} {}: {e}", request.method, request.path)),
        }
    }

    /// The snapshot's version of `entry`, references remapped and variables applied.
    async fn body(
        &self,
        spec: &KindSpec,
        entry: &PlanEntry,
        map: &IdMap,
    ) -> Result<Option<Value>, ExecuteError> {
        let Some(resource) = self
            .source
            .resource(self.plan.snapshot_id, &entry.kind, &entry.id)
            .await?
        else {
            return Ok(None);
        };
        let mut body = resource.attributes;
        map.apply(&mut body);
        // A sync never writes a `${NAME}` placeholder, even from a saved plan run
        // without its variables: with none, any placeholder is unresolved.
        let none = Variables::new();
        match (self.variables, self.plan.mode) {
            (Some(vars), _) => vars.apply(&spec.kind(), &entry.id, &mut body)?,
            (None, RestoreMode::Sync) => none.apply(&spec.kind(), &entry.id, &mut body)?,
            (None, _) => {}
        }
        Ok(Some(body))
    }

    fn sync(&self) -> bool {
        self.plan.mode == RestoreMode::Sync
    }

    async fn create(
        &self,
        spec: &KindSpec,
        entry: &PlanEntry,
        map: &IdMap,
    ) -> Result<StepResult, ExecuteError> {
        let Some(body) = self.body(spec, entry, map).await? else {
            return Ok(StepResult::failed("not in the snapshot".into()));
        };
        let segments: Vec<&str> = entry.id.split('/').collect();
        let Some((own_old, parents_old)) = segments.split_last() else {
            return Ok(StepResult::failed("empty id".into()));
        };
        let parents: Vec<String> = parents_old.iter().map(|p| map.get(p).to_owned()).collect();
        let parent_refs: Vec<&str> = parents.iter().map(String::as_str).collect();
        let member = map.get(own_old).to_owned();
        let Some(request) = create_request(
            spec,
            &parent_refs,
            &member,
            write_body(spec, &body, self.sync()),
        ) else {
            return Ok(StepResult::failed(format!(
                "no path for `{}` `{}`",
                spec.name, entry.id
            )));
        };
        let created = match self.send(request).await {
            Ok(created) => created,
            Err(e) => return Ok(StepResult::failed(e)),
        };
        let new_own = if is_relation(spec) {
            member
        } else {
            match created.get("id").and_then(Value::as_str) {
                Some(id) => id.to_owned(),
                None => {
                    return Ok(StepResult::failed(
                        "the answer to the create has no id".into(),
                    ));
                }
            }
        };
        let remap = Some(((*own_old).to_owned(), new_own.clone()));
        let mut live_id = parents;
        live_id.push(new_own);
        let live_id = live_id.join("/");
        let mut error = None;
        if spec.name != "user" {
            let now = created.get("status").and_then(Value::as_str);
            let want = body.get("status").and_then(Value::as_str);
            for operation in transitions(spec.name, now, want) {
                if let Some(request) = lifecycle_request(spec, &live_id, operation)
                    && let Err(e) = self.send(request).await
                {
                    error = Some(format!("created, but: {e}"));
                    break;
                }
            }
        }
        Ok(StepResult {
            live_id: Some(live_id),
            error,
            remap,
        })
    }

    async fn update(
        &self,
        spec: &KindSpec,
        entry: &PlanEntry,
        map: &IdMap,
    ) -> Result<StepResult, ExecuteError> {
        let Some(live_id) = entry.live_id.clone() else {
            return Ok(StepResult::failed("an update without a live id".into()));
        };
        let Some(body) = self.body(spec, entry, map).await? else {
            return Ok(StepResult::failed("not in the snapshot".into()));
        };
        let live_body = self.live.resources.get(spec.name, &live_id);
        let mut status = live_body
            .and_then(|b| b.get("status"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let want = body.get("status").and_then(Value::as_str);
        let content_changed = live_body.is_none_or(|live| {
            let rules = DiffRules::for_provider(ProviderKind::Okta);
            let mut ours = comparable(spec.name, &body);
            let mut theirs = comparable(spec.name, live);
            for side in [&mut ours, &mut theirs] {
                if let Value::Object(m) = side {
                    m.remove("status");
                }
            }
            !diff_resource(&rules, &spec.kind(), &theirs, &ours, false).is_empty()
        });
        let fail = |e: String| Ok(StepResult::failed(e));
        if content_changed {
            // Okta refuses to update an active group rule.
            if spec.name == "group_rule" && status.as_deref() == Some("ACTIVE") {
                if let Some(request) = lifecycle_request(spec, &live_id, "deactivate")
                    && let Err(e) = self.send(request).await
                {
                    return fail(e);
                }
                status = Some("INACTIVE".into());
            }
            let Some(payload) = write_body(spec, &body, self.sync()) else {
                return fail(format!("`{}` has nothing to update", spec.name));
            };
            let Some(request) = update_request(spec, &live_id, payload) else {
                return fail(format!("`{}` cannot be updated", spec.name));
            };
            if let Err(e) = self.send(request).await {
                return fail(e);
            }
        }
        for operation in transitions(spec.name, status.as_deref(), want) {
            if let Some(request) = lifecycle_request(spec, &live_id, operation)
                && let Err(e) = self.send(request).await
            {
                return fail(e);
            }
        }
        Ok(StepResult::done(live_id))
    }

    async fn delete(&self, spec: &KindSpec, entry: &PlanEntry) -> StepResult {
        let live_id = entry.live_id.clone().unwrap_or_else(|| entry.id.clone());
        let status = self
            .live
            .resources
            .get(spec.name, &live_id)
            .and_then(|b| b.get("status"))
            .and_then(Value::as_str);
        let deactivate = if spec.name == "user" {
            status != Some("DEPROVISIONED")
        } else {
            has_lifecycle(spec.name) && status == Some("ACTIVE")
        };
        if deactivate
            && let Some(request) = lifecycle_request(spec, &live_id, "deactivate")
            && let Err(e) = self.send(request).await
        {
            return StepResult::failed(e);
        }
        let Some(request) = delete_request(spec, &live_id) else {
            return StepResult::failed(format!("no path for `{}` `{live_id}`", spec.name));
        };
        self.requests.fetch_add(1, Ordering::Relaxed);
        match self.transport.send(&request).await {
            // Already gone is what a delete wants.
            Ok(response) if response.is_success() || response.status == 404 => {
                StepResult::done(live_id)
            }
            Ok(response) => StepResult::failed(describe_failure(&request, &response)),
            Err(e) => StepResult::failed(format!("DELETE {}: {e}", request.path)),
        }
    }
}

/// The plan that takes a run back, from its journal: delete what it created (users
/// included: the run made them), put back what it updated, re-create what it deleted,
/// from its undo snapshot (`undo`, with the resources it holds).
pub fn undo_plan(
    journal: &Journal,
    undo: Option<(SnapshotId, &ResourceSet)>,
    live: &LiveState,
    now: DateTime<Utc>,
) -> RestorePlan {
    let rules = DiffRules::for_provider(ProviderKind::Okta);
    let original = journal.records().iter().find_map(|r| match r {
        JournalRecord::Run { snapshot_id, .. } => Some(*snapshot_id),
        _ => None,
    });
    let snapshot_id = undo
        .map(|(id, _)| id)
        .or(original)
        .unwrap_or_else(SnapshotId::new_random);
    let mut plan = RestorePlan::new(
        snapshot_id,
        ProviderKind::Okta,
        live.org.clone(),
        now,
        RestoreMode::Undo,
        RestoreOptions::default(),
        live.fingerprint(),
    );
    let top = kinds::all().map(|k| k.restore_rank).max().unwrap_or(0);
    let mut seen = BTreeSet::new();
    for (_, _, action, kind, _, live_id) in journal.done_steps() {
        let Some(live_id) = live_id else { continue };
        let Some(spec) = kinds::by_name(kind.as_str()) else {
            continue;
        };
        if !seen.insert((kind.clone(), live_id.to_owned(), action)) {
            continue;
        }
        let rank = u64::from(spec.restore_rank);
        let current = live.resources.get(kind.as_str(), live_id);
        let before = undo.and_then(|(_, set)| set.get(kind.as_str(), live_id));
        let name = |body: Option<&Value>| {
            body.and_then(|b| rules.name_of(kind, b))
                .unwrap_or_else(|| live_id.to_owned())
        };
        match action {
            PlanAction::Create => {
                let mut e =
                    PlanEntry::new(kind.clone(), live_id, name(current), "created by the run")
                        .with_live_id(live_id);
                e.order = u64::from(top - spec.restore_rank);
                if current.is_some() {
                    plan.delete.push(e);
                } else {
                    e.reason = "created by the run, already gone".into();
                    plan.skip.push(e);
                }
            }
            PlanAction::Update => {
                let mut e =
                    PlanEntry::new(kind.clone(), live_id, name(before), "").with_live_id(live_id);
                e.order = rank;
                match (before, current) {
                    (Some(before), Some(current)) => {
                        let changes = diff_resource(
                            &rules,
                            kind,
                            &comparable(kind.as_str(), current),
                            &comparable(kind.as_str(), before),
                            false,
                        );
                        if changes.is_empty() {
                            e.reason = "already as before the run".into();
                            plan.skip.push(e);
                        } else {
                            e.reason = "updated by the run: put back".into();
                            plan.update.push(e.with_changes(changes));
                        }
                    }
                    (None, _) => {
                        e.reason = "updated by the run, but not in its undo snapshot".into();
                        plan.skip.push(e);
                    }
                    (Some(_), None) => {
                        e.reason = "updated by the run, since deleted: re-created".into();
                        e.live_id = None;
                        plan.create.push(e);
                    }
                }
            }
            PlanAction::Delete => {
                let mut e = PlanEntry::new(
                    kind.clone(),
                    live_id,
                    name(before),
                    "deleted by the run: re-created",
                );
                e.order = rank;
                if before.is_none() {
                    e.reason = "deleted by the run, but not in its undo snapshot".into();
                    plan.skip.push(e);
                } else if current.is_some() {
                    e.reason = "deleted by the run, back already".into();
                    plan.skip.push(e.with_live_id(live_id));
                } else {
                    plan.create.push(e);
                }
            }
            _ => {}
        }
    }
    plan.seal();
    plan
}
