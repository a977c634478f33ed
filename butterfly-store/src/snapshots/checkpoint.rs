//! Checkpoints: how a backup killed midway resumes where it stopped.
//!
//! ```text
//! {prefix}/checkpoints/{provider}-{org digest}.checkpoint   one per backup running, sealed
//! ```
//!
//! A writer opened with [`SnapshotRepository::resume`] keeps a small checkpoint file
//! while it runs: the snapshot's id and start time, and for each kind it holds whole
//! (every page fetched and stored) the digests of that kind's entry lists, the same
//! objects a manifest points to. The entry lists and the objects they name are in packs
//! that were written, with their indexes, before the checkpoint that names them: the
//! checkpoint is rewritten (one atomic `put`: a temporary file renamed on a local
//! directory, fsynced) only after a pack is flushed. A kill at any moment therefore leaves
//! the previous checkpoint or the new one, each naming only stored objects.
//!
//! The next [`SnapshotRepository::resume`] of the same org reads it back: each kind whose
//! entry lists and objects are all still indexed (a prune in between may have removed
//! them: they belong to no snapshot) is put back into the new writer, which keeps the
//! interrupted snapshot's id and start time, and the backup runner does not fetch those
//! kinds again. Objects stored by the killed run but not yet named by a checkpoint cost
//! nothing either: they are in the index, so they are not stored again. The checkpoint is
//! removed once the manifest is written; one whose snapshot already exists (the run was
//! killed between the two) is ignored.
//!
//! A kind is checkpointed when it finishes if it is large ([`CHECKPOINT_ENTRIES`]
//! entries or more: fetching it again would cost many requests), and otherwise at the
//! next pack flush, so small kinds do not each cost a pack of their own.

use std::collections::BTreeMap;

use butterfly_core::{Digest, ProviderKind, ResourceKind, SnapshotId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{SnapshotError, SnapshotRepository, SnapshotWriter, StoredKind, storage_error};
use crate::format::manifest;
use crate::format::{open_sealed_bytes, seal_bytes};

/// A finished kind with at least this many entries is made durable (its pack flushed,
/// the checkpoint rewritten) at once; smaller ones wait for the next flush. About five
/// pages of a top-level kind, or as many listings of a nested one.
pub const CHECKPOINT_ENTRIES: usize = 1000;

/// The checkpoint file's format version.
const CHECKPOINT_VERSION: u32 = 1;

/// A checkpoint as stored (sealed JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointFile {
    version: u32,
    snapshot_id: SnapshotId,
    provider: ProviderKind,
    org: String,
    #[serde(with = "butterfly_core::rfc3339")]
    started_at: DateTime<Utc>,
    /// Per kind held whole, its entry lists (in order).
    kinds: BTreeMap<ResourceKind, Vec<Digest>>,
}

/// What a resumed backup found in the checkpoint of an interrupted run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Checkpoint {
    /// The interrupted snapshot's id, which the resumed one keeps.
    pub snapshot_id: Option<SnapshotId>,
    /// When the interrupted run started.
    pub started_at: Option<DateTime<Utc>>,
    /// Kinds held whole, with their entry counts.
    pub kinds: BTreeMap<ResourceKind, u64>,
}

/// A writer's checkpoint while it runs.
#[derive(Debug, Default)]
pub(super) struct CheckpointState {
    /// The file's name under the repository's prefix.
    name: String,
    /// Kinds whose entry lists and objects are all in flushed packs.
    durable: BTreeMap<ResourceKind, Vec<Digest>>,
    /// Finished kinds with objects still in the open pack.
    awaiting: BTreeMap<ResourceKind, Vec<Digest>>,
    /// Kinds taken from the interrupted run, with their counts.
    pub(super) resumed: BTreeMap<ResourceKind, u64>,
}

impl CheckpointState {
    /// Remove the file, once the manifest is written.
    pub(super) async fn remove(self, repo: &SnapshotRepository) -> Result<(), SnapshotError> {
        repo.remove_checkpoint(&self.name).await
    }

    /// Whether `kind` is recorded already (resumed, durable or waiting for a flush).
    fn has(&self, kind: &ResourceKind) -> bool {
        self.durable.contains_key(kind) || self.awaiting.contains_key(kind)
    }
}

/// The checkpoint's file name for one org: its digest keeps any URL out of file names.
fn checkpoint_name(provider: ProviderKind, org: &str) -> String {
    let digest = Digest::of_bytes(org.as_bytes()).to_hex();
    format!(
        "checkpoints/{}-{}.checkpoint",
        provider.as_str(),
        &digest[..32]
    )
}

impl SnapshotRepository {
    /// Start a snapshot of `org` that keeps a checkpoint, resuming the interrupted one
    /// the checkpoint describes if there is one.
    ///
    /// The writer records each kind [finished](SnapshotWriter::finish_kind) in a sealed
    /// file, `checkpoints/{provider}-{org digest}.checkpoint`, rewritten (atomically)
    /// only after the pack holding the kind's objects and entry lists is stored; sealing
    /// the snapshot removes it. Resuming keeps the interrupted snapshot's start time (under
    /// a new id, so a run still alive elsewhere is never overwritten) and puts back each
    /// recorded kind whose objects are all still indexed
    /// ([`SnapshotWriter::resumed_kinds`]); a checkpoint whose snapshot was sealed, or
    /// that does not read, is ignored.
    ///
    /// Takes the repository's shared lock first, since it consults the index.
    pub async fn resume(
        &self,
        provider: ProviderKind,
        org: &str,
        started_at: DateTime<Utc>,
    ) -> Result<SnapshotWriter<'_>, SnapshotError> {
        let mut writer = self.begin(provider, org, started_at);
        writer.ensure_lock().await?;
        let name = checkpoint_name(provider, org);
        let mut state = CheckpointState {
            name: name.clone(),
            ..CheckpointState::default()
        };
        let file = match self.read_checkpoint(&name).await {
            Ok(file) => file,
            Err(e) => {
                // A checkpoint only saves requests: a damaged one costs a fresh start.
                tracing::warn!(checkpoint = %name, error = %e, "checkpoint unreadable: starting afresh");
                None
            }
        };
        let resumable = match file.filter(|f| f.provider == provider && f.org == org) {
            // Killed after its manifest was written: that snapshot is never written again.
            Some(file) if self.manifest_exists(file.snapshot_id).await? => None,
            other => other,
        };
        if let Some(file) = &resumable {
            for (kind, chunks) in &file.kinds {
                if let Some(count) = self.entries_if_stored(chunks).await {
                    state.resumed.insert(kind.clone(), count);
                    writer.stats.resources += count;
                    state.durable.insert(kind.clone(), chunks.clone());
                    // Kept stored, not read into memory: the seal reads them back.
                    if count > 0 {
                        writer.stored_kinds.insert(
                            kind.clone(),
                            StoredKind {
                                chunks: chunks.clone(),
                                count,
                            },
                        );
                    }
                }
            }
        }
        if let Some(file) = resumable
            && !state.resumed.is_empty()
        {
            // A new id, never the interrupted run's: the checkpoint is found by org, and a
            // second backup of the same org may start while the first is still running
            // (two connections to one org, or the CLI beside the server). Taking over its
            // id would let the two manifests replace each other; with its own id each run
            // seals its own snapshot, and this one reuses only kinds already stored.
            writer.snapshot.started_at = file.started_at;
            writer.snapshot.warnings.push(format!(
                "resumed the backup interrupted after {} of its kinds (started {}): those \
                 were not fetched again",
                state.resumed.len(),
                file.started_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
        writer.checkpoint = Some(state);
        Ok(writer)
    }

    /// The checkpoint of a running (or interrupted) backup of `org`, if there is one:
    /// what a resumed backup would start from (before it checks the objects are stored).
    pub async fn checkpoint(
        &self,
        provider: ProviderKind,
        org: &str,
    ) -> Result<Option<Checkpoint>, SnapshotError> {
        let Some(file) = self
            .read_checkpoint(&checkpoint_name(provider, org))
            .await?
        else {
            return Ok(None);
        };
        let mut kinds = BTreeMap::new();
        for (kind, chunks) in &file.kinds {
            let mut count = 0u64;
            for chunk in chunks {
                count += manifest::decode_entry_list(&self.get(chunk).await?)
                    .map_err(|e| SnapshotError::Manifest {
                        id: file.snapshot_id.to_string(),
                        reason: format!("checkpointed entry list of `{kind}`: {e}"),
                    })?
                    .len() as u64;
            }
            kinds.insert(kind.clone(), count);
        }
        Ok(Some(Checkpoint {
            snapshot_id: Some(file.snapshot_id),
            started_at: Some(file.started_at),
            kinds,
        }))
    }

    async fn read_checkpoint(&self, name: &str) -> Result<Option<CheckpointFile>, SnapshotError> {
        let path = self.path(name);
        let sealed = match self.store.get(&path).await {
            Ok(result) => result.bytes().await.map_err(|e| storage_error(&path, e))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(storage_error(&path, e)),
        };
        let damaged = |reason: String| SnapshotError::Manifest {
            id: name.to_owned(),
            reason,
        };
        let plain = open_sealed_bytes(self.team, &self.key, name, &sealed).map_err(damaged)?;
        let file: CheckpointFile =
            serde_json::from_slice(&plain).map_err(|e| damaged(e.to_string()))?;
        if file.version != CHECKPOINT_VERSION {
            return Err(damaged(format!(
                "checkpoint version {} (this build reads {CHECKPOINT_VERSION})",
                file.version
            )));
        }
        Ok(Some(file))
    }

    async fn manifest_exists(&self, id: SnapshotId) -> Result<bool, SnapshotError> {
        let path = self.path(&Self::manifest_name(id));
        match self.store.head(&path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(storage_error(&path, e)),
        }
    }

    /// How many entries `chunks` hold, if the lists and every object they name are stored
    /// in trusted packs; `None` if anything is missing or does not read.
    async fn entries_if_stored(&self, chunks: &[Digest]) -> Option<u64> {
        let mut count = 0;
        for chunk in chunks {
            if !self.contains(chunk).ok()? {
                return None;
            }
            let bytes = self.get(chunk).await.ok()?;
            let list = manifest::decode_entry_list(&bytes).ok()?;
            if !list
                .iter()
                .all(|e| self.contains(&e.digest).unwrap_or(false))
            {
                return None;
            }
            count += list.len() as u64;
        }
        Some(count)
    }

    async fn remove_checkpoint(&self, name: &str) -> Result<(), SnapshotError> {
        let path = self.path(name);
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(storage_error(&path, e)),
        }
    }
}

impl SnapshotWriter<'_> {
    /// Every resource of `kind` was added: record it in the checkpoint, at once if it is
    /// large, else at the next pack flush. Either way its entries are stored as entry
    /// lists and dropped from memory (a writer without a checkpoint does only that).
    pub async fn finish_kind(&mut self, kind: &ResourceKind) -> Result<(), SnapshotError> {
        if self
            .checkpoint
            .as_ref()
            .is_some_and(|state| state.has(kind))
        {
            return Ok(());
        }
        // Stored as the sealed manifest's entry lists will be, and dropped from memory:
        // a checkpoint's lists cost the manifest nothing more.
        let chunks = self.store_kind(kind).await?;
        let Some(state) = &mut self.checkpoint else {
            return Ok(());
        };
        let count = self.stored_kinds.get(kind).map_or(0, |stored| stored.count);
        state.awaiting.insert(kind.clone(), chunks);
        if count >= CHECKPOINT_ENTRIES as u64 || self.pending.is_empty() {
            self.flush().await?;
            self.save_checkpoint().await?;
        }
        Ok(())
    }

    /// The kinds taken from an interrupted run, with their counts.
    pub fn resumed_kinds(&self) -> BTreeMap<ResourceKind, u64> {
        self.checkpoint
            .as_ref()
            .map(|state| state.resumed.clone())
            .unwrap_or_default()
    }

    /// After a flush (every object added so far is in a stored pack): the kinds waiting
    /// for one are durable, and the checkpoint is rewritten to name them.
    pub(super) async fn save_checkpoint(&mut self) -> Result<(), SnapshotError> {
        let Some(state) = &mut self.checkpoint else {
            return Ok(());
        };
        if state.awaiting.is_empty() {
            return Ok(());
        }
        state.durable.append(&mut state.awaiting);
        let file = CheckpointFile {
            version: CHECKPOINT_VERSION,
            snapshot_id: self.snapshot.id,
            provider: self.snapshot.provider,
            org: self.snapshot.org.clone(),
            started_at: self.snapshot.started_at,
            kinds: state.durable.clone(),
        };
        let name = state.name.clone();
        let damaged = |reason: String| SnapshotError::Manifest {
            id: name.clone(),
            reason,
        };
        let plain = serde_json::to_vec(&file).map_err(|e| damaged(e.to_string()))?;
        let sealed = seal_bytes(self.repo.team, &self.repo.key, &name, &plain).map_err(damaged)?;
        self.repo.write(&name, sealed).await
    }
}
