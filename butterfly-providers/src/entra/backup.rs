//! One Entra ID backup into a repository, full or through delta queries.
//!
//! [`run_entra_backup`] is the Entra twin of
//! [`run_okta_backup_with`](crate::backup::run_okta_backup_with): the CLI's local mode and
//! the server's backup jobs call it, and it returns the same [`BackupOutcome`].
//!
//! **Incremental state lives in the snapshot.** A backup reads each delta kind (users,
//! groups, applications, service principals) through its delta query, and stores the
//! `@odata.deltaLink` Graph ends it with as a resource of kind [`DELTA_LINK_KIND`] (id: the
//! kind's name). The next backup of the same tenant finds them in the newest complete or
//! partial snapshot and asks Graph only for what changed since: changed objects are laid
//! over their previous copies (Graph returns at least the changed properties), deleted
//! ones dropped, the children (members, owners, app role assignments) listed again only
//! under parents the delta named, and everything else carried over from the previous
//! manifest. Kinds without a delta query are read in full each time (they are small).
//! The sealed snapshot lists the same entries and digests a full backup of the same
//! tenant state would (apart from the delta links themselves).
//!
//! A delta link older than Graph keeps it answers `410`; that kind is then read afresh.
//!
//! **Links are keyed by where they came from.** Each stored link records the Graph URL of
//! the backup that received it (`graphUrl`). A run follows only links recorded for its own
//! Graph URL that also point under it: the base snapshot may come from another connection
//! to the same tenant id (another cloud, a simulator, a fake Graph), and its links must
//! neither fail the kind (they leave this run's Graph URL) nor steer a run against the
//! real host. Any other link is ignored with a warning, and its kind is read in full.

use std::collections::{BTreeMap, BTreeSet};

use butterfly_core::source::SnapshotSource;
use butterfly_core::{
    Clock, ManifestEntry, ProviderKind, Resource, ResourceKind, Snapshot, SnapshotSink,
    SnapshotStatus, SnapshotSummary, SnapshotTarget,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::fetcher::{DeltaOutcome, EntraCredentials, EntraFetchOptions, EntraFetcher, parent_of};
use super::kinds;
use crate::backup::{
    BackupError, BackupMode, BackupOutcome, CARRY_BATCH, FULL_INSTEAD_NOTE, INCREMENTAL_NOTE,
    ProgressSink, carry_entries,
};
use crate::okta::fetcher::{FetchEvent, FetchReport};

/// The kind holding each delta kind's `@odata.deltaLink` in a snapshot.
pub const DELTA_LINK_KIND: &str = "delta_link";

/// Pages waiting between the fetcher and the sink.
const PAGES_IN_FLIGHT: usize = 16;

/// Back up the tenant in `credentials` into `repo`, through delta queries on top of the
/// newest snapshot of the same tenant when `mode` allows it. See the [module docs](self).
pub async fn run_entra_backup<T: SnapshotTarget + SnapshotSource>(
    credentials: EntraCredentials,
    mut options: EntraFetchOptions,
    mode: BackupMode,
    repo: &T,
    clock: &dyn Clock,
    mut progress: impl ProgressSink,
) -> Result<BackupOutcome, BackupError> {
    let org = credentials.tenant_id.as_str().to_owned();
    let graph_url = credentials.graph_url.as_str().to_owned();
    let started_at = clock.now();
    let (previous, full_instead) = match mode {
        BackupMode::Full => (None, None),
        BackupMode::Incremental { full_every } => choose_base(repo, &org, full_every).await?,
    };
    options.delta_links.clear();
    let mut ignored = Vec::new();
    if let Some(previous) = &previous {
        (options.delta_links, ignored) = usable_links(repo, previous, &graph_url).await?;
    }
    let fetcher = EntraFetcher::new(credentials, options)?;
    let mut sink = repo.begin_snapshot(ProviderKind::EntraId, &org, started_at);
    if let Some(why) = full_instead {
        sink.warn(format!("{FULL_INSTEAD_NOTE}{why}"));
    }
    for warning in ignored {
        tracing::warn!(%warning, "delta link ignored");
        sink.warn(warning);
    }
    let changed_kinds: BTreeSet<String> = fetcher_links(&fetcher);
    let (tx, mut rx) = mpsc::channel(PAGES_IN_FLIGHT);
    let fetch = tokio::spawn(async move { fetcher.run_with_delta(tx).await });
    let mut fetched: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut failure = None;
    while let Some(event) = rx.recv().await {
        progress.on_event(&event);
        let stored = match event {
            FetchEvent::Resources {
                kind,
                mut resources,
            } => {
                if let Some(previous) = &previous
                    && changed_kinds.contains(kind.as_str())
                {
                    let ids = fetched.entry(kind.as_str().to_owned()).or_default();
                    for resource in &mut resources {
                        ids.insert(resource.id.clone());
                        overlay_previous(repo, previous, resource).await?;
                    }
                }
                sink.add(&resources)
                    .await
                    .map_err(|e| BackupError::Storage(Box::new(e)))
            }
            FetchEvent::KindSkipped { kind, reason } => {
                sink.warn(format!("kind `{kind}` skipped: {reason}"));
                Ok(())
            }
            FetchEvent::KindFailed { kind, reason } => {
                sink.warn(format!("kind `{kind}` failed: {reason}"));
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(e) = stored {
            failure = Some(e);
            break;
        }
    }
    drop(rx);
    let fetched_result = fetch.await;
    if let Some(e) = failure {
        return Err(e);
    }
    let (report, delta) = fetched_result.map_err(BackupError::Task)??;
    if let Some(previous) = &previous
        && !delta.changes_only.is_empty()
    {
        carry_over(repo, &mut sink, previous, &report, &delta, &fetched).await?;
        sink.warn(format!(
            "{INCREMENTAL_NOTE}{} (delta queries for {})",
            previous.id,
            delta
                .changes_only
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut links: Vec<Resource> = Vec::new();
    for (kind, link) in &delta.links {
        if !on_origin(link, &graph_url) {
            // Never kept: the next run would only ignore it.
            sink.warn(format!(
                "delta link for `{kind}` not kept: it leaves the Graph URL {graph_url}"
            ));
            continue;
        }
        links.push(Resource::new(
            ResourceKind::new(DELTA_LINK_KIND),
            kind.clone(),
            json!({"kind": kind, "deltaLink": link, "graphUrl": graph_url}),
        ));
    }
    if !links.is_empty() {
        sink.add(&links)
            .await
            .map_err(|e| BackupError::Storage(Box::new(e)))?;
    }
    let status = status_after(&report);
    let finished_at = clock.now();
    let (snapshot, write) = sink
        .finish(finished_at, status)
        .await
        .map_err(|e| BackupError::Storage(Box::new(e)))?;
    Ok(BackupOutcome {
        snapshot: snapshot.summary(),
        write,
        fetch: report,
        seconds: (finished_at - started_at).as_seconds_f64().max(0.0),
    })
}

fn fetcher_links(fetcher: &EntraFetcher) -> BTreeSet<String> {
    fetcher.delta_kinds()
}

/// The status a snapshot deserves: any failed kind `failed`, any skipped kind `partial`.
fn status_after(report: &FetchReport) -> SnapshotStatus {
    if !report.failed.is_empty() {
        SnapshotStatus::Failed
    } else if !report.skipped.is_empty() {
        SnapshotStatus::Partial
    } else {
        SnapshotStatus::Complete
    }
}

/// The snapshot delta queries build on: the newest complete or partial one of the tenant
/// (a partial one lacks kinds the app may not read; those have no delta link).
async fn choose_base<S: SnapshotSource>(
    source: &S,
    org: &str,
    full_every: u32,
) -> Result<(Option<Snapshot>, Option<String>), BackupError> {
    let mut ours: Vec<SnapshotSummary> = source
        .summaries()
        .await
        .map_err(BackupError::Previous)?
        .into_iter()
        .filter(|s| s.provider == ProviderKind::EntraId && s.org == org)
        .collect();
    ours.sort_by_key(|s| s.started_at);
    let Some(base) = ours.iter().rev().find(|s| {
        matches!(s.status, SnapshotStatus::Complete | SnapshotStatus::Partial)
            && s.counts
                .get(&ResourceKind::new(DELTA_LINK_KIND))
                .is_some_and(|n| *n > 0)
    }) else {
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
    let manifest = source
        .manifest(base.id)
        .await
        .map_err(BackupError::Previous)?;
    Ok((Some(manifest), None))
}

/// Whether `link` lies under `graph_url` (the slash keeps `http://h:80` from matching
/// `http://h:8080`).
fn on_origin(link: &str, graph_url: &str) -> bool {
    link.starts_with(&format!("{graph_url}/"))
}

/// The previous snapshot's delta links a run against `graph_url` may follow, for kinds it
/// read in full with all their children (a link is no use when the previous copy of a
/// child kind is missing), and a warning for each link ignored because it was received
/// from another Graph URL (or before origins were recorded) or points elsewhere.
async fn usable_links<S: SnapshotSource>(
    source: &S,
    previous: &Snapshot,
    graph_url: &str,
) -> Result<(BTreeMap<String, String>, Vec<String>), BackupError> {
    let mut links = BTreeMap::new();
    let mut ignored = Vec::new();
    let Some(entries) = previous.kinds.get(&ResourceKind::new(DELTA_LINK_KIND)) else {
        return Ok((links, ignored));
    };
    let incomplete = |name: &str| {
        previous.warnings.iter().any(|w| {
            w.starts_with(&format!("kind `{name}` skipped"))
                || w.starts_with(&format!("kind `{name}` failed"))
        })
    };
    for entry in entries {
        let Some(kind) = kinds::by_name(&entry.id) else {
            continue;
        };
        if kind.delta_path.is_none()
            || incomplete(kind.name)
            || kinds::all()
                .any(|k| k.parent.is_some_and(|p| p.kind == kind.name) && incomplete(k.name))
        {
            continue;
        }
        let stored = source
            .object(&entry.digest)
            .await
            .map_err(BackupError::Previous)?;
        let Some(link) = stored.get("deltaLink").and_then(Value::as_str) else {
            continue;
        };
        let why = match stored.get("graphUrl").and_then(Value::as_str) {
            None => Some("its Graph URL was not recorded".to_owned()),
            Some(origin) if origin != graph_url => {
                Some(format!("it came from the Graph URL {origin}"))
            }
            Some(_) if !on_origin(link, graph_url) => {
                Some("it points outside the Graph URL".to_owned())
            }
            Some(_) => None,
        };
        match why {
            None => {
                links.insert(kind.name.to_owned(), link.to_owned());
            }
            Some(why) => ignored.push(format!(
                "delta link for `{}` of snapshot {} ignored: {why}, not {graph_url}; the kind is read in full",
                kind.name, previous.id
            )),
        }
    }
    Ok((links, ignored))
}

/// Lay a changed object over its previous copy: Graph's delta answers carry at least the
/// properties that changed.
async fn overlay_previous<S: SnapshotSource>(
    source: &S,
    previous: &Snapshot,
    resource: &mut Resource,
) -> Result<(), BackupError> {
    let Some(entry) = previous.kinds.get(&resource.kind).and_then(|entries| {
        entries
            .binary_search_by(|e| e.id.as_str().cmp(&resource.id))
            .ok()
            .map(|i| &entries[i])
    }) else {
        return Ok(());
    };
    let mut merged = source
        .object(&entry.digest)
        .await
        .map_err(BackupError::Previous)?;
    if let (Value::Object(base), Value::Object(changes)) = (&mut merged, &resource.attributes) {
        for (key, value) in changes {
            base.insert(key.clone(), value.clone());
        }
        resource.attributes = merged;
    }
    Ok(())
}

/// Add what the delta fetch did not read again: unchanged objects of the delta kinds, and
/// the children of parents the delta did not name.
async fn carry_over<S: SnapshotSource, K: SnapshotSink>(
    source: &S,
    sink: &mut K,
    previous: &Snapshot,
    report: &FetchReport,
    delta: &DeltaOutcome,
    fetched: &BTreeMap<String, BTreeSet<String>>,
) -> Result<(), BackupError> {
    let empty = BTreeSet::new();
    let removed_anywhere: BTreeSet<&str> = delta
        .removed
        .values()
        .flatten()
        .map(String::as_str)
        .collect();
    for (kind, entries) in &previous.kinds {
        let Some(spec) = kinds::by_name(kind.as_str()) else {
            continue;
        };
        if report.skipped.contains_key(kind) || report.failed.contains_key(kind) {
            continue;
        }
        let mut batch = Vec::with_capacity(CARRY_BATCH);
        if delta.changes_only.contains(spec.name) {
            let fetched = fetched.get(spec.name).unwrap_or(&empty);
            let removed = delta.removed.get(spec.name).unwrap_or(&empty);
            let unchanged: Vec<ManifestEntry> = entries
                .iter()
                .filter(|e| !fetched.contains(&e.id) && !removed.contains(&e.id))
                .cloned()
                .collect();
            carry_entries(source, sink, kind, unchanged).await?;
        } else if let (Some(parent), Some(relisted)) = (spec.parent, delta.relisted.get(spec.name))
        {
            let parent_removed = delta.removed.get(parent.kind).unwrap_or(&empty);
            for entry in entries {
                // Relations name the member after the `/`: a deleted member goes too.
                if let Some((_, member)) = entry.id.split_once('/')
                    && spec.id == kinds::IdRule::Member
                    && removed_anywhere.contains(member)
                {
                    continue;
                }
                let attributes = source
                    .object(&entry.digest)
                    .await
                    .map_err(BackupError::Previous)?;
                let Some(parent_id) = parent_of(spec, &entry.id, &attributes) else {
                    continue;
                };
                if relisted.contains(&parent_id) || parent_removed.contains(&parent_id) {
                    continue;
                }
                batch.push(Resource::new(kind.clone(), entry.id.clone(), attributes));
                flush(sink, &mut batch, CARRY_BATCH).await?;
            }
        }
        flush(sink, &mut batch, 1).await?;
    }
    Ok(())
}

async fn flush<K: SnapshotSink>(
    sink: &mut K,
    batch: &mut Vec<Resource>,
    at: usize,
) -> Result<(), BackupError> {
    if batch.len() >= at && !batch.is_empty() {
        sink.add(batch)
            .await
            .map_err(|e| BackupError::Storage(Box::new(e)))?;
        batch.clear();
    }
    Ok(())
}
