//! Deleting snapshots, legal holds, retention (`forget`), and pruning, with the
//! repository locks that keep pruning safe while backups write.
//!
//! ```text
//! {prefix}/locks/{uuid}.lock        one per running backup (shared) or prune (exclusive)
//! {prefix}/holds/{snapshot id}.hold a legal hold, sealed (its reason may be sensitive)
//! ```
//!
//! **Why locks.** Deduplication means a backup reuses objects it finds in the index
//! without writing them again, and its new packs are referenced by no manifest until its
//! manifest is written last. A prune that ran meanwhile would see both as garbage: the
//! reused object of a forgotten snapshot, and the new packs. So, as in restic, a backup
//! holds a shared lock from its first object to its manifest, and a prune an exclusive
//! one. Each writes its lock file, then lists the locks: of two that start at once, at
//! least one sees the other (every store here lists what was put before), and backs off.
//! A backup takes its lock before it consults the index, and reloads the index when a
//! prune removed packs since it was read, so it never deduplicates against a removed
//! object.
//!
//! **Stale locks.** A backup refreshes its lock as it writes; a lock not refreshed for
//! [`STALE_LOCK_AFTER`] belongs to a process that died, and a prune removes it. A backup
//! checks that its lock is still there before writing its manifest, and fails rather
//! than write a snapshot whose objects a prune may have taken.
//!
//! **Pruning** (after `forget` or `delete` removed manifests): mark every object that
//! some manifest references (entry lists and the objects they list), then sweep, in an
//! order where a crash at any point loses nothing referenced and leaves a repository that
//! `check` passes: (1) live objects of packs that are mostly garbage are copied into new
//! packs, each stored before its index; (2) the indexes of packs that hold nothing live,
//! or whose live objects were copied, are deleted; (3) then those packs, and packs that
//! no index names (left by interrupted backups). A crash after (1) leaves duplicates
//! (harmless); after (2), packs no index names, which the next prune removes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration as StdDuration;

use butterfly_core::retention::{self, RetentionCandidate, RetentionDecision, RetentionPolicy};
use butterfly_core::{Digest, SnapshotId};
use chrono::{DateTime, Duration, Utc};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::{SnapshotError, SnapshotRepository, SnapshotWriter, prefer_trusted, storage_error};
use crate::format::pack::{self, Location, PackBuilder, PackId};
use crate::format::{open_sealed_bytes, seal_bytes};

/// A lock not refreshed for this long belongs to a process that died.
pub const STALE_LOCK_AFTER: Duration = Duration::minutes(30);
/// A backup rewrites its lock when it is this old, well before it would look stale.
const REFRESH_LOCK_AFTER: Duration = Duration::minutes(5);
/// How long a backup or prune waits for a conflicting lock to go, by default.
pub const DEFAULT_LOCK_WAIT: StdDuration = StdDuration::from_secs(600);
/// A pack is rewritten when more than this share of its bytes is garbage.
pub const DEFAULT_REWRITE_THRESHOLD: f64 = 0.5;

/// Who holds a repository lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockKind {
    /// A backup writing a snapshot (shared: backups run side by side).
    Backup,
    /// A prune (exclusive).
    Prune,
}

/// A lock file's contents (plain JSON: nothing secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LockFile {
    kind: LockKind,
    #[serde(with = "butterfly_core::rfc3339")]
    refreshed_at: DateTime<Utc>,
    pid: u32,
}

/// A lock this handle holds: its file name, and when it was last written.
#[derive(Debug)]
pub(super) struct HeldLock {
    name: String,
    refreshed_at: DateTime<Utc>,
}

/// A legal hold's contents, sealed.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct HoldFile {
    reason: String,
    #[serde(with = "butterfly_core::rfc3339")]
    held_at: DateTime<Utc>,
}

/// A legal hold on a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hold {
    /// The snapshot held.
    pub snapshot: SnapshotId,
    /// Why (free text).
    pub reason: String,
    /// Since when.
    #[serde(with = "butterfly_core::rfc3339")]
    pub held_at: DateTime<Utc>,
}

/// A pack's id, its index's entries, and the index file's size.
type IndexedPack = (PackId, Vec<(Digest, Location)>, u64);

/// What to prune.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PruneOptions {
    /// Only say what would go.
    pub dry_run: bool,
    /// Rewrite a pack when more than this share (0 to 1) of its bytes is garbage.
    pub rewrite_threshold: f64,
    /// Count these snapshots as gone (what `forget --prune --dry-run` would delete first).
    pub as_if_deleted: BTreeSet<SnapshotId>,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            dry_run: false,
            rewrite_threshold: DEFAULT_REWRITE_THRESHOLD,
            as_if_deleted: BTreeSet::new(),
        }
    }
}

impl PruneOptions {
    /// Count `ids` as deleted: what a `forget` dry run would delete before pruning.
    #[must_use]
    pub fn as_if_deleted(mut self, ids: impl IntoIterator<Item = SnapshotId>) -> Self {
        self.as_if_deleted.extend(ids);
        self
    }

    /// A dry run (`true`) or a real one.
    pub fn dry_run(dry_run: bool) -> Self {
        PruneOptions {
            dry_run,
            ..PruneOptions::default()
        }
    }
}

/// What a prune removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PruneReport {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// Snapshots whose objects were kept.
    pub snapshots: u64,
    /// Packs examined.
    pub packs: u64,
    /// Objects some snapshot references.
    pub objects_live: u64,
    /// Objects no snapshot references, removed.
    pub objects_removed: u64,
    /// Packs removed whole: nothing in them was referenced.
    pub packs_deleted: u64,
    /// Packs whose live objects were copied into new packs, then removed.
    pub packs_rewritten: u64,
    /// New packs written by the rewrite.
    pub packs_written: u64,
    /// Packs that no index names (left by interrupted backups), removed.
    pub unindexed_packs_deleted: u64,
    /// Packs left as they are though they hold some garbage (less than the threshold).
    pub packs_with_garbage_kept: u64,
    /// Bytes of packs and indexes before.
    pub bytes_before: u64,
    /// Bytes freed (in a dry run, the estimate: garbage objects' sealed sizes, and whole
    /// indexes and packs removed).
    pub bytes_freed: u64,
    /// Packs left alone because they are missing or truncated (see `check`).
    pub damaged_packs_skipped: u64,
}

/// What [`SnapshotRepository::forget`] decided and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ForgetReport {
    /// Per snapshot, newest first, kept or not and why.
    pub decisions: Vec<RetentionDecision>,
    /// Snapshots whose manifests were deleted (none in a dry run).
    pub deleted: Vec<SnapshotId>,
}

impl SnapshotRepository {
    /// The live locks (not stale at `now`), by file name, and the stale ones.
    async fn read_locks(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(BTreeMap<String, LockFile>, Vec<String>), SnapshotError> {
        let mut live = BTreeMap::new();
        let mut stale = Vec::new();
        for (name, _) in self.file_names("locks").await? {
            if name.strip_suffix(".lock").is_none() {
                continue;
            }
            let path = self.path(&format!("locks/{name}"));
            let bytes = match self.read_whole(&path).await {
                Ok(bytes) => bytes,
                // Released since it was listed.
                Err(SnapshotError::Storage {
                    source: object_store::Error::NotFound { .. },
                    ..
                }) => continue,
                Err(e) => return Err(e),
            };
            match serde_json::from_slice::<LockFile>(&bytes) {
                Ok(lock) if now - lock.refreshed_at < STALE_LOCK_AFTER => {
                    live.insert(name, lock);
                }
                // Old, or unreadable (a torn write of a process that died).
                _ => stale.push(name),
            }
        }
        Ok((live, stale))
    }

    async fn write_lock(&self, name: &str, kind: LockKind) -> Result<DateTime<Utc>, SnapshotError> {
        let now = Utc::now();
        let file = LockFile {
            kind,
            refreshed_at: now,
            pid: std::process::id(),
        };
        let bytes = serde_json::to_vec(&file).map_err(|e| SnapshotError::Manifest {
            id: name.to_owned(),
            reason: e.to_string(),
        })?;
        self.write(&format!("locks/{name}"), bytes).await?;
        Ok(now)
    }

    async fn remove_lock(&self, name: &str) -> Result<(), SnapshotError> {
        let path = self.path(&format!("locks/{name}"));
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(storage_error(&path, e)),
        }
    }

    /// Take a lock of `kind`: write it, then look for conflicting live locks (for a
    /// backup, a prune's; for a prune, any other); on conflict, withdraw and retry with
    /// backoff until the lock wait runs out.
    pub(super) async fn acquire_lock(&self, kind: LockKind) -> Result<HeldLock, SnapshotError> {
        let name = format!("{}.lock", uuid::Uuid::new_v4());
        let started = tokio::time::Instant::now();
        let mut backoff = StdDuration::from_millis(20);
        loop {
            let refreshed_at = self.write_lock(&name, kind).await?;
            let (live, stale) = self.read_locks(Utc::now()).await?;
            let conflict = live.iter().find(|(other, lock)| {
                *other != &name && (kind == LockKind::Prune || lock.kind == LockKind::Prune)
            });
            let Some((_, holder)) = conflict else {
                if kind == LockKind::Prune {
                    // A process that died left these: nothing of theirs is in flight.
                    for stale in stale {
                        self.remove_lock(&stale).await?;
                    }
                }
                return Ok(HeldLock { name, refreshed_at });
            };
            let holder = holder.kind;
            self.remove_lock(&name).await?;
            if started.elapsed() >= self.lock_wait {
                return Err(SnapshotError::Locked {
                    holder: match holder {
                        LockKind::Backup => "a backup",
                        LockKind::Prune => "a prune",
                    },
                });
            }
            tokio::time::sleep(backoff.min(self.lock_wait.saturating_sub(started.elapsed()))).await;
            backoff = (backoff * 2).min(StdDuration::from_secs(2));
        }
    }

    /// Forget what this handle knows of the indexes when a prune removed any of the packs
    /// it read them for, and read them all again (new ones are read in any case).
    pub(super) async fn reload_index_if_pruned(&self) -> Result<(), SnapshotError> {
        let present: HashSet<PackId> = self.pack_ids("index", ".idx").await?.into_iter().collect();
        let pruned = self
            .indexed_packs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .any(|id| !present.contains(id));
        if pruned {
            self.forget_loaded_index();
        }
        self.load_new_indexes().await?;
        Ok(())
    }

    fn forget_loaded_index(&self) {
        self.lock_index().clear();
        self.lock_untrusted().clear();
        self.indexed_packs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// Wait at most `wait` for a conflicting lock (a prune, for a backup; anything, for
    /// a prune) to be released, instead of the default ten minutes.
    #[must_use]
    pub fn with_lock_wait(mut self, wait: StdDuration) -> Self {
        self.lock_wait = wait;
        self
    }

    fn hold_name(id: SnapshotId) -> String {
        format!("holds/{id}.hold")
    }

    fn hold_address(id: SnapshotId) -> String {
        format!("hold/{id}")
    }

    /// Put snapshot `id` under legal hold: no rule forgets it and it cannot be deleted
    /// until released. Holding a held snapshot replaces the reason.
    pub async fn hold(&self, id: SnapshotId, reason: &str) -> Result<Hold, SnapshotError> {
        // The snapshot must exist.
        self.summary(id).await?;
        let hold = HoldFile {
            reason: reason.to_owned(),
            held_at: Utc::now(),
        };
        let plain = serde_json::to_vec(&hold).map_err(|e| SnapshotError::Manifest {
            id: id.to_string(),
            reason: e.to_string(),
        })?;
        let sealed = seal_bytes(self.team, &self.key, &Self::hold_address(id), &plain).map_err(
            |reason| SnapshotError::Manifest {
                id: id.to_string(),
                reason,
            },
        )?;
        self.write(&Self::hold_name(id), sealed).await?;
        Ok(Hold {
            snapshot: id,
            reason: hold.reason,
            held_at: hold.held_at,
        })
    }

    /// Release snapshot `id`'s legal hold. Returns whether it was held.
    pub async fn release(&self, id: SnapshotId) -> Result<bool, SnapshotError> {
        // Some stores report success for deleting a missing object: ask first.
        if !self.is_held(id).await? {
            return Ok(false);
        }
        self.delete_name(&Self::hold_name(id)).await?;
        Ok(true)
    }

    /// Every legal hold, by snapshot.
    pub async fn holds(&self) -> Result<Vec<Hold>, SnapshotError> {
        let mut holds = Vec::new();
        for (name, _) in self.file_names("holds").await? {
            let Some(id) = name
                .strip_suffix(".hold")
                .and_then(|id| id.parse::<SnapshotId>().ok())
            else {
                continue;
            };
            let path = self.path(&Self::hold_name(id));
            let sealed = match self.read_whole(&path).await {
                Ok(sealed) => sealed,
                Err(SnapshotError::Storage {
                    source: object_store::Error::NotFound { .. },
                    ..
                }) => continue,
                Err(e) => return Err(e),
            };
            let damaged = |reason: String| SnapshotError::Manifest {
                id: id.to_string(),
                reason: format!("legal hold: {reason}"),
            };
            let plain = open_sealed_bytes(self.team, &self.key, &Self::hold_address(id), &sealed)
                .map_err(damaged)?;
            let file: HoldFile =
                serde_json::from_slice(&plain).map_err(|e| damaged(e.to_string()))?;
            holds.push(Hold {
                snapshot: id,
                reason: file.reason,
                held_at: file.held_at,
            });
        }
        holds.sort_by_key(|h| h.snapshot);
        Ok(holds)
    }

    /// Whether snapshot `id` is under legal hold.
    pub async fn is_held(&self, id: SnapshotId) -> Result<bool, SnapshotError> {
        let path = self.path(&Self::hold_name(id));
        match self.store.head(&path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(storage_error(&path, e)),
        }
    }

    /// Delete snapshot `id`'s manifest. Its objects stay until a [prune](Self::prune).
    /// A snapshot under legal hold is refused ([`SnapshotError::Held`]).
    pub async fn delete_snapshot(&self, id: SnapshotId) -> Result<(), SnapshotError> {
        let path = self.path(&Self::manifest_name(id));
        match self.store.head(&path).await {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => return Err(SnapshotError::NotFound(id)),
            Err(e) => return Err(storage_error(&path, e)),
        }
        if self.is_held(id).await? {
            return Err(SnapshotError::Held(id));
        }
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(storage_error(&path, e)),
        }
    }

    /// Apply a retention policy at `now`: decide for every snapshot (held ones are kept),
    /// and unless `dry_run`, delete the manifests of those forgotten. Objects stay until
    /// a [prune](Self::prune).
    ///
    /// As `restic forget` groups by host and paths, the policy applies to each org on its
    /// own: `--keep-last 3` keeps three snapshots of every org the repository holds.
    pub async fn forget(
        &self,
        policy: &RetentionPolicy,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<ForgetReport, SnapshotError> {
        self.forget_org(None, policy, now, dry_run).await
    }

    /// [`Self::forget`] for the snapshots of one org only (`Some(org URL)`), such as a
    /// server connection's, or of each org (`None`).
    pub async fn forget_org(
        &self,
        org: Option<&str>,
        policy: &RetentionPolicy,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<ForgetReport, SnapshotError> {
        let held: HashSet<SnapshotId> = self.holds().await?.iter().map(|h| h.snapshot).collect();
        let mut groups: BTreeMap<(String, String), Vec<RetentionCandidate>> = BTreeMap::new();
        for s in self.list().await? {
            if org.is_some_and(|org| org != s.org) {
                continue;
            }
            groups
                .entry((s.provider.as_str().to_owned(), s.org.clone()))
                .or_default()
                .push(RetentionCandidate {
                    id: s.id,
                    time: s.started_at,
                    held: held.contains(&s.id),
                });
        }
        let mut decisions = Vec::new();
        for candidates in groups.values() {
            decisions.extend(retention::select(candidates, policy, now));
        }
        let mut deleted = Vec::new();
        if !dry_run {
            for decision in decisions.iter().filter(|d| !d.keep) {
                match self.delete_snapshot(decision.id).await {
                    // Held or deleted since it was listed: not ours to delete any more.
                    Ok(()) => deleted.push(decision.id),
                    Err(SnapshotError::Held(_) | SnapshotError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(ForgetReport { decisions, deleted })
    }

    /// Remove every object no snapshot references. Indexes go before their packs, so a
    /// crash at any point leaves only duplicates or orphan packs (the next prune clears
    /// them); an exclusive repository lock keeps running backups safe.
    /// A dry run changes nothing and takes no lock.
    pub async fn prune(&self, options: PruneOptions) -> Result<PruneReport, SnapshotError> {
        if options.dry_run {
            return self.prune_locked(options).await;
        }
        let lock = self.acquire_lock(LockKind::Prune).await?;
        let result = self.prune_locked(options).await;
        // Whatever happened, this handle reads the indexes again, and the lock goes.
        self.forget_loaded_index();
        let reloaded = self.load_new_indexes().await;
        let released = self.remove_lock(&lock.name).await;
        let report = result?;
        reloaded?;
        released?;
        Ok(report)
    }

    async fn prune_locked(&self, options: PruneOptions) -> Result<PruneReport, SnapshotError> {
        let mut report = PruneReport {
            dry_run: options.dry_run,
            ..PruneReport::default()
        };
        // Read every index first, then the manifests: an object a backup finished after
        // the indexes were read is in a pack this prune does not know, so it stays.
        let mut indexes: Vec<IndexedPack> = Vec::new();
        let mut read = self.read_indexes(self.pack_ids("index", ".idx").await?);
        let index_sizes: HashMap<String, u64> =
            self.file_names("index").await?.into_iter().collect();
        while let Some((id, sealed)) = read.next().await {
            // An index that does not read could name live objects: refuse to guess.
            let entries = pack::open_index(id, &sealed?, self.team, &self.key).map_err(|e| {
                SnapshotError::PruneRefused(format!("{e}; run `butterfly repair index` first"))
            })?;
            let size = index_sizes.get(&format!("{id}.idx")).copied().unwrap_or(0);
            indexes.push((id, entries, size));
        }
        drop(read);
        let pack_sizes = self.pack_sizes().await?;
        report.bytes_before = pack_sizes.values().sum::<u64>() + index_sizes.values().sum::<u64>();

        // Mark.
        let mut live: HashSet<Digest> = HashSet::new();
        for id in self.ids().await? {
            if options.as_if_deleted.contains(&id) {
                continue;
            }
            let (_, entry_lists) = match self.stored_manifest(id).await {
                Ok(found) => found,
                // Deleted since it was listed (a forget elsewhere): nothing to keep.
                Err(SnapshotError::NotFound(_)) => continue,
                Err(e) => {
                    return Err(SnapshotError::PruneRefused(format!(
                        "snapshot {id} does not read, so what it references is unknown: {e}"
                    )));
                }
            };
            report.snapshots += 1;
            for (kind, chunks) in entry_lists {
                for chunk in chunks {
                    live.insert(chunk);
                    let entries = self.entry_list(id, &kind, &chunk).await.map_err(|e| {
                        SnapshotError::PruneRefused(format!(
                            "snapshot {id} does not read, so what it references is unknown: {e}"
                        ))
                    })?;
                    live.extend(entries.iter().map(|e| e.digest));
                }
            }
        }
        report.objects_live = live.len() as u64;

        // Where each live object is kept: one copy, in a whole pack where there is one.
        let mut untrusted = HashSet::new();
        for (id, entries, _) in &indexes {
            if super::pack_damage(pack_sizes.get(id).copied(), entries).is_some() {
                untrusted.insert(*id);
            }
        }
        let mut keep_at: HashMap<Digest, Location> = HashMap::new();
        for (_, entries, _) in &indexes {
            for (digest, location) in entries {
                if live.contains(digest) {
                    prefer_trusted(&mut keep_at, &untrusted, *digest, *location);
                }
            }
        }

        // Sweep plan.
        let mut delete_whole: Vec<PackId> = Vec::new();
        let mut rewrite: Vec<(PackId, Vec<(Digest, Location)>)> = Vec::new();
        let indexed: HashSet<PackId> = indexes.iter().map(|(id, _, _)| *id).collect();
        let mut removed_objects: BTreeSet<(PackId, Digest)> = BTreeSet::new();
        for (id, entries, index_size) in &indexes {
            report.packs += 1;
            if untrusted.contains(id) {
                report.damaged_packs_skipped += 1;
                continue;
            }
            let pack_size = pack_sizes.get(id).copied().unwrap_or(0);
            let (kept, garbage): (Vec<_>, Vec<_>) = entries
                .iter()
                .partition(|(digest, location)| keep_at.get(digest) == Some(location));
            if garbage.is_empty() {
                continue;
            }
            let garbage_bytes: u64 = garbage.iter().map(|(_, l)| u64::from(l.length)).sum();
            // A share of a pack's bytes: 52 bits of precision are plenty.
            #[allow(clippy::cast_precision_loss)]
            let mostly_garbage = pack_size > 0
                && garbage_bytes as f64 / pack_size as f64 > options.rewrite_threshold;
            if kept.is_empty() {
                delete_whole.push(*id);
                report.bytes_freed += pack_size + index_size;
            } else if mostly_garbage {
                rewrite.push((*id, kept));
                report.bytes_freed += garbage_bytes;
            } else {
                report.packs_with_garbage_kept += 1;
                continue;
            }
            for (digest, _) in garbage {
                removed_objects.insert((*id, digest));
            }
        }
        let unindexed: Vec<PackId> = pack_sizes
            .keys()
            .filter(|id| !indexed.contains(id))
            .copied()
            .collect();
        for id in &unindexed {
            report.bytes_freed += pack_sizes.get(id).copied().unwrap_or(0);
        }
        report.objects_removed = removed_objects
            .iter()
            .map(|(_, d)| *d)
            .filter(|d| !live.contains(d))
            .collect::<HashSet<_>>()
            .len() as u64;
        report.packs_deleted = delete_whole.len() as u64;
        report.packs_rewritten = rewrite.len() as u64;
        report.unindexed_packs_deleted = unindexed.len() as u64;
        if options.dry_run {
            return Ok(report);
        }

        // (1) Copy the live objects of packs being rewritten into new packs.
        let mut builder = PackBuilder::new();
        let mut rewritten = Vec::new();
        for (id, kept) in rewrite {
            let path = self.path(&pack::pack_name(id));
            let bytes = self.read_whole(&path).await?;
            let mut opened = Vec::with_capacity(kept.len());
            for (digest, location) in &kept {
                match pack::open_object(&bytes, digest, *location, self.team, &self.key) {
                    Ok(plain) => opened.push((*digest, plain)),
                    Err(_) => break,
                }
            }
            if opened.len() != kept.len() {
                // A live object that does not read stays where it is, for `check` and
                // `repair index` to deal with; this pack is not touched.
                report.packs_rewritten -= 1;
                report.packs_with_garbage_kept += 1;
                continue;
            }
            for (digest, plain) in opened {
                builder.add(self.team, &self.key, digest, &plain)?;
                if builder.len_bytes() >= self.pack_target {
                    self.store_pack(std::mem::take(&mut builder)).await?;
                    report.packs_written += 1;
                }
            }
            rewritten.push(id);
        }
        if !builder.is_empty() {
            self.store_pack(builder).await?;
            report.packs_written += 1;
        }
        // (2) Indexes first: an index never names a pack that is gone.
        let doomed: Vec<PackId> = delete_whole.into_iter().chain(rewritten).collect();
        for id in &doomed {
            self.delete_name(&pack::index_name(*id)).await?;
        }
        // (3) Then the packs no index names any more.
        for id in doomed.iter().chain(&unindexed) {
            self.delete_name(&pack::pack_name(*id)).await?;
        }
        let after = self.stored_pack_and_index_bytes().await?;
        report.bytes_freed = report.bytes_before.saturating_sub(after);
        Ok(report)
    }

    /// Store a closed pack, then its index.
    async fn store_pack(&self, builder: PackBuilder) -> Result<(), SnapshotError> {
        let pack = builder.finish(self.team, &self.key)?;
        self.write(&pack::pack_name(pack.id), pack.pack).await?;
        self.write(&pack::index_name(pack.id), pack.index).await
    }

    async fn delete_name(&self, name: &str) -> Result<(), SnapshotError> {
        let path = self.path(name);
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(storage_error(&path, e)),
        }
    }

    async fn stored_pack_and_index_bytes(&self) -> Result<u64, SnapshotError> {
        let mut total = 0;
        for dir in ["packs", "index"] {
            total += self
                .file_names(dir)
                .await?
                .iter()
                .map(|(_, size)| size)
                .sum::<u64>();
        }
        Ok(total)
    }
}

impl SnapshotWriter<'_> {
    /// Hold the repository's shared lock before the index is consulted, refreshing it
    /// as the backup goes on; on first taking it, read the index again if a prune
    /// removed packs since it was read.
    pub(super) async fn ensure_lock(&mut self) -> Result<(), SnapshotError> {
        match &mut self.lock {
            None => {
                let lock = self.repo.acquire_lock(LockKind::Backup).await?;
                self.lock = Some(lock);
                self.repo.reload_index_if_pruned().await?;
            }
            Some(lock) if Utc::now() - lock.refreshed_at >= REFRESH_LOCK_AFTER => {
                lock.refreshed_at = self.repo.write_lock(&lock.name, LockKind::Backup).await?;
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Before the manifest is written: the lock must still be there (a prune removes
    /// only stale locks, and then may have taken objects this backup reused).
    pub(super) async fn confirm_lock(&mut self) -> Result<(), SnapshotError> {
        self.ensure_lock().await?;
        let Some(lock) = &self.lock else {
            return Ok(());
        };
        let path = self.repo.path(&format!("locks/{}", lock.name));
        match self.repo.store.head(&path).await {
            Ok(_) => Ok(()),
            Err(object_store::Error::NotFound { .. }) => Err(SnapshotError::LockLost),
            Err(e) => Err(storage_error(&path, e)),
        }
    }

    /// Release the lock once the manifest is written.
    pub(super) async fn release_lock(&mut self) -> Result<(), SnapshotError> {
        if let Some(lock) = self.lock.take() {
            self.repo.remove_lock(&lock.name).await?;
        }
        Ok(())
    }

    /// Dropped unfinished: remove the lock in the background if a runtime is there (if
    /// not, it goes stale and a prune removes it).
    pub(super) fn abandon_lock(&mut self) {
        let Some(lock) = self.lock.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.repo.store.clone();
        let path = self.repo.path(&format!("locks/{}", lock.name));
        runtime.spawn(async move {
            let _ = store.delete(&path).await;
        });
    }
}
