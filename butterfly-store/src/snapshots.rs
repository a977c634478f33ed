//! A local snapshot repository: packed, deduplicated, encrypted, verifiable.
//!
//! One directory holds everything a restore needs, and nothing else is needed to read it:
//!
//! ```text
//! {dir}/master.key               the master key (mode 0600), created on first use
//! {dir}/packs/{pack id}.pack     sealed objects, many per file (see objects::pack)
//! {dir}/index/{pack id}.idx      which digests each pack holds, sealed
//! {dir}/snapshots/{id}.snapshot  one sealed manifest (butterfly_core::Snapshot) per backup
//! ```
//!
//! Each resource is stored once, as canonical JSON under its SHA-256, whatever number of
//! snapshots list it: an unchanged org costs a manifest per backup. A [`SnapshotWriter`]
//! collects new objects into packs and writes the manifest last, so an interrupted backup
//! leaves no manifest and only harmless orphans (see `objects::pack` for the crash-safety
//! argument). [`SnapshotRepository::verify`] re-reads every object a snapshot lists and
//! recomputes every digest, the manifest's root digest included, and names each problem
//! precisely instead of returning garbage.
//!
//! ```
//! use butterfly_core::{Resource, ResourceKind, SnapshotStatus};
//! use butterfly_store::snapshots::SnapshotRepository;
//! use serde_json::json;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let repo = SnapshotRepository::open(dir.path())?;
//! let mut writer = repo.begin("okta", "https://example.okta.com", time::OffsetDateTime::now_utc());
//! let user = Resource::new(ResourceKind::new("user"), "00u1", json!({"id": "00u1"}));
//! let digest = writer.add(&user)?;
//! let snapshot = writer.finish(time::OffsetDateTime::now_utc(), SnapshotStatus::Complete)?;
//! assert_eq!(repo.get_json(&digest)?, json!({"id": "00u1"}));
//! assert!(repo.verify(Some(snapshot.id))?.problems.is_empty());
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use butterfly_core::{
    Digest, ManifestEntry, Resource, ResourceKind, Snapshot, SnapshotId, SnapshotSink,
    SnapshotStatus, TeamId, canonical_json,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::objects::pack::{self, Location, PackBuilder, PackError, PackId};
use crate::objects::{KeyError, MasterKey, TeamKey};

/// The team a local repository's key is derived for (the nil UUID): a local repository
/// has one owner, and a fixed id lets the directory open wherever its key is.
pub fn local_team() -> TeamId {
    TeamId::from_uuid(uuid::Uuid::nil())
}

/// Errors from the snapshot repository.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The master key could not be loaded or created.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A pack, index or object is damaged, or could not be written.
    #[error(transparent)]
    Pack(#[from] PackError),
    /// No snapshot has this id.
    #[error("no snapshot {0}")]
    NotFound(SnapshotId),
    /// No snapshot id starts with this prefix, or several do.
    #[error("snapshot id `{0}` matches no snapshot, or more than one")]
    Ambiguous(String),
    /// No pack holds this object.
    #[error("object {0} is in no pack")]
    MissingObject(Digest),
    /// A manifest is damaged.
    #[error("manifest {id}: {reason}")]
    Manifest {
        /// The snapshot.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// Stored JSON did not parse.
    #[error("object {digest} is not JSON: {source}")]
    Json {
        /// The object.
        digest: Digest,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

/// Entries per stored entry-list object.
const ENTRY_LIST_CHUNK: usize = 1024;
const MANIFEST_FORMAT: u32 = 1;

/// A manifest as stored: the snapshot without its entries, which are in objects.
#[derive(Debug, Serialize, Deserialize)]
struct StoredManifest {
    format: u32,
    snapshot: Snapshot,
    /// Per kind, the digests of its entry-list chunks, each `[[id, digest], ...]`.
    entry_lists: BTreeMap<String, Vec<Digest>>,
}

/// A local snapshot repository. See the [module docs](self).
#[derive(Debug)]
pub struct SnapshotRepository {
    dir: PathBuf,
    team: TeamId,
    key: TeamKey,
    /// Every indexed object. A `HashMap` for speed: it is never serialized or iterated
    /// into output.
    index: Mutex<HashMap<Digest, Location>>,
    /// Packs are closed once they hold this many bytes.
    pack_target: usize,
}

/// What a writer stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WriteStats {
    /// Resources added.
    pub resources: u64,
    /// Objects that were new to the repository.
    pub new_objects: u64,
    /// Bytes written for them (packs and indexes; the manifest is counted apart).
    pub new_bytes: u64,
    /// Bytes of the manifest.
    pub manifest_bytes: u64,
    /// Packs written.
    pub packs: u64,
}

/// One problem found by [`SnapshotRepository::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyProblem {
    /// What is damaged: a snapshot, an entry `snapshot kind/id`, a pack or an index.
    pub location: String,
    /// What is wrong with it.
    pub message: String,
}

/// The outcome of [`SnapshotRepository::verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Snapshots whose manifests were checked.
    pub snapshots: u64,
    /// Manifest entries whose objects were read and hashed.
    pub entries: u64,
    /// Distinct objects read.
    pub objects: u64,
    /// Packs read.
    pub packs: u64,
    /// Everything that is wrong; empty when the repository is sound.
    pub problems: Vec<VerifyProblem>,
}

impl SnapshotRepository {
    /// Open (or create) the repository in `dir`, with its own master key file
    /// `dir/master.key` (created with mode 0600 on first use).
    pub fn open(dir: &Path) -> Result<Self, SnapshotError> {
        let master = MasterKey::load_or_create(dir)?;
        Self::open_with_key(dir, &master, local_team())
    }

    /// Open the repository in `dir` with a key kept elsewhere, for `team`.
    pub fn open_with_key(
        dir: &Path,
        master: &MasterKey,
        team: TeamId,
    ) -> Result<Self, SnapshotError> {
        fs::create_dir_all(dir).map_err(|source| SnapshotError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let key = master.team_key(team);
        let mut index = HashMap::new();
        for id in pack::list_indexes(dir)? {
            for (digest, location) in pack::read_index(dir, id, team, &key)? {
                index.entry(digest).or_insert(location);
            }
        }
        Ok(SnapshotRepository {
            dir: dir.to_owned(),
            team,
            key,
            index: Mutex::new(index),
            pack_target: pack::PACK_TARGET_BYTES,
        })
    }

    /// Close packs at `bytes` instead of the default 16 MiB (smaller packs for tests that
    /// interrupt writers; larger ones for huge orgs).
    #[must_use]
    pub fn with_pack_target(mut self, bytes: usize) -> Self {
        self.pack_target = bytes.max(1);
        self
    }

    /// The repository's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock_index(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, Location>> {
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether an object is stored.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.lock_index().contains_key(digest)
    }

    /// How many distinct objects are stored.
    pub fn object_count(&self) -> usize {
        self.lock_index().len()
    }

    /// Start a snapshot.
    pub fn begin(
        &self,
        provider: impl Into<String>,
        org: impl Into<String>,
        started_at: OffsetDateTime,
    ) -> SnapshotWriter<'_> {
        SnapshotWriter {
            repo: self,
            snapshot: Snapshot::begin(provider, org, started_at),
            pack: PackBuilder::new(),
            pending: HashMap::new(),
            stats: WriteStats::default(),
        }
    }

    /// The bytes of an object, checked against its digest.
    pub fn get(&self, digest: &Digest) -> Result<Vec<u8>, SnapshotError> {
        let location = self
            .lock_index()
            .get(digest)
            .copied()
            .ok_or(SnapshotError::MissingObject(*digest))?;
        let sealed = pack::read_sealed(&self.dir, digest, location)?;
        Ok(pack::open_sealed(
            &sealed, digest, location, self.team, &self.key,
        )?)
    }

    /// An object as JSON.
    pub fn get_json(&self, digest: &Digest) -> Result<Value, SnapshotError> {
        let bytes = self.get(digest)?;
        serde_json::from_slice(&bytes).map_err(|source| SnapshotError::Json {
            digest: *digest,
            source,
        })
    }

    fn manifest_path(&self, id: SnapshotId) -> PathBuf {
        self.dir.join("snapshots").join(format!("{id}.snapshot"))
    }

    fn manifest_address(id: SnapshotId) -> String {
        format!("snapshot/{id}")
    }

    /// Every snapshot id, sorted.
    pub fn ids(&self) -> Result<Vec<SnapshotId>, SnapshotError> {
        let dir = self.dir.join("snapshots");
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(SnapshotError::Io { path: dir, source }),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| SnapshotError::Io {
                path: dir.clone(),
                source,
            })?;
            if let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".snapshot"))
                .and_then(|n| n.parse().ok())
            {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// The manifest of one snapshot (not checked: see [`Self::verify`]).
    pub fn manifest(&self, id: SnapshotId) -> Result<Snapshot, SnapshotError> {
        let path = self.manifest_path(id);
        let sealed = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(SnapshotError::NotFound(id));
            }
            Err(source) => return Err(SnapshotError::Io { path, source }),
        };
        let damaged = |reason: String| SnapshotError::Manifest {
            id: id.to_string(),
            reason,
        };
        let plain = crate::objects::open_sealed_bytes(
            self.team,
            &self.key,
            &Self::manifest_address(id),
            &sealed,
        )
        .map_err(damaged)?;
        let stored: StoredManifest =
            serde_json::from_slice(&plain).map_err(|e| damaged(format!("not a manifest: {e}")))?;
        if stored.format != MANIFEST_FORMAT {
            return Err(damaged(format!(
                "unknown manifest format {}",
                stored.format
            )));
        }
        let mut snapshot = stored.snapshot;
        for (kind, chunks) in stored.entry_lists {
            let entries = snapshot
                .kinds
                .entry(ResourceKind::new(kind.clone()))
                .or_default();
            for chunk in chunks {
                let value = self
                    .get_json(&chunk)
                    .map_err(|e| damaged(format!("entry list of `{kind}`: {e}")))?;
                let pairs: Vec<(String, Digest)> = serde_json::from_value(value)
                    .map_err(|e| damaged(format!("entry list of `{kind}`: {e}")))?;
                entries.extend(
                    pairs
                        .into_iter()
                        .map(|(id, digest)| ManifestEntry { id, digest }),
                );
            }
        }
        if snapshot.id != id {
            return Err(damaged(format!("holds snapshot {}", snapshot.id)));
        }
        Ok(snapshot)
    }

    /// Every snapshot, oldest first.
    pub fn list(&self) -> Result<Vec<Snapshot>, SnapshotError> {
        let mut snapshots = self
            .ids()?
            .into_iter()
            .map(|id| self.manifest(id))
            .collect::<Result<Vec<_>, _>>()?;
        snapshots.sort_by_key(|s| (s.started_at, s.id));
        Ok(snapshots)
    }

    /// The snapshot whose id is `text` or starts with it (at least 4 characters).
    pub fn resolve(&self, text: &str) -> Result<SnapshotId, SnapshotError> {
        if let Ok(id) = text.parse() {
            return Ok(id);
        }
        let matching: Vec<SnapshotId> = self
            .ids()?
            .into_iter()
            .filter(|id| text.len() >= 4 && id.to_string().starts_with(text))
            .collect();
        match matching.as_slice() {
            [one] => Ok(*one),
            _ => Err(SnapshotError::Ambiguous(text.to_owned())),
        }
    }

    /// Check one snapshot (or all, with `None`): each manifest's counts and root digest,
    /// and every object it lists, read from its pack and hashed. Without an id, every
    /// indexed object of every pack is checked too, listed or not.
    ///
    /// Damage is reported in [`VerifyReport::problems`]; `Err` means the check itself
    /// could not run (the snapshot does not exist).
    pub fn verify(&self, id: Option<SnapshotId>) -> Result<VerifyReport, SnapshotError> {
        let ids = match id {
            Some(id) => {
                if !self.manifest_path(id).exists() {
                    return Err(SnapshotError::NotFound(id));
                }
                vec![id]
            }
            None => self.ids()?,
        };
        let mut report = VerifyReport::default();
        let mut problem = |location: String, message: String| {
            report_problem(&mut report.problems, location, message);
        };
        // Re-read the indexes from disk: verify must not trust what was loaded earlier.
        let mut index: BTreeMap<Digest, Location> = BTreeMap::new();
        for pack_id in pack::list_indexes(&self.dir)? {
            match pack::read_index(&self.dir, pack_id, self.team, &self.key) {
                Ok(entries) => {
                    for (digest, location) in entries {
                        index.entry(digest).or_insert(location);
                    }
                }
                Err(e) => problem(format!("index {pack_id}"), e.to_string()),
            }
        }
        // Which objects to check, and which entries need them.
        let mut wanted: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
        let mut snapshots = 0u64;
        let mut entries = 0u64;
        for id in &ids {
            snapshots += 1;
            let snapshot = match self.manifest(*id) {
                Ok(s) => s,
                Err(e) => {
                    problem(format!("snapshot {id}"), e.to_string());
                    continue;
                }
            };
            if let Err(e) = snapshot.check_consistency() {
                problem(format!("snapshot {id}"), e.to_string());
            }
            for (kind, list) in &snapshot.kinds {
                for entry in list {
                    entries += 1;
                    wanted
                        .entry(entry.digest)
                        .or_default()
                        .push(format!("snapshot {id} {kind}/{}", entry.id));
                }
            }
        }
        // Read pack by pack, so each pack file is read once.
        let mut by_pack: BTreeMap<PackId, Vec<(Digest, Location)>> = BTreeMap::new();
        for (digest, users) in &wanted {
            match index.get(digest) {
                Some(location) => by_pack
                    .entry(location.pack)
                    .or_default()
                    .push((*digest, *location)),
                None => {
                    for user in users {
                        problem(user.clone(), format!("object {digest} is in no pack"));
                    }
                }
            }
        }
        if id.is_none() {
            for (digest, location) in &index {
                if !wanted.contains_key(digest) {
                    by_pack
                        .entry(location.pack)
                        .or_default()
                        .push((*digest, *location));
                }
            }
        }
        let mut objects = 0u64;
        let packs = by_pack.len() as u64;
        for (pack_id, objects_in_pack) in by_pack {
            let bytes = match pack::read_pack(&self.dir, pack_id) {
                Ok(bytes) => bytes,
                Err(e) => {
                    problem(format!("pack {pack_id}"), e.to_string());
                    continue;
                }
            };
            for (digest, location) in objects_in_pack {
                objects += 1;
                if let Err(e) = pack::open_object(&bytes, &digest, location, self.team, &self.key) {
                    let users = wanted.get(&digest).map(Vec::as_slice).unwrap_or_default();
                    let location = match users.first() {
                        Some(first) if users.len() == 1 => first.clone(),
                        Some(first) => format!("{first} (and {} more entries)", users.len() - 1),
                        None => format!("pack {pack_id}"),
                    };
                    problem(location, e.to_string());
                }
            }
        }
        report.snapshots = snapshots;
        report.entries = entries;
        report.objects = objects;
        report.packs = packs;
        Ok(report)
    }

    /// Bytes in the repository's packs, indexes and manifests.
    pub fn disk_usage(&self) -> Result<u64, SnapshotError> {
        let mut total = 0;
        for sub in ["packs", "index", "snapshots"] {
            let dir = self.dir.join(sub);
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                total += entry.metadata().map_or(0, |m| m.len());
            }
        }
        Ok(total)
    }
}

fn report_problem(problems: &mut Vec<VerifyProblem>, location: String, message: String) {
    problems.push(VerifyProblem { location, message });
}

/// A backup fills the writer page by page. Packs are written with blocking file I/O:
/// on a multi-threaded runtime the page is written under `block_in_place`, so the other
/// tasks (the fetch itself) move to other workers meanwhile; on a current-thread runtime
/// (tests) it is written in place.
impl SnapshotSink for SnapshotWriter<'_> {
    type Error = SnapshotError;

    async fn add(&mut self, resources: &[Resource]) -> Result<(), SnapshotError> {
        let multi_threaded = tokio::runtime::Handle::try_current().is_ok_and(|handle| {
            handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
        });
        if multi_threaded {
            tokio::task::block_in_place(|| self.add_all(resources))
        } else {
            self.add_all(resources)
        }
    }

    fn warn(&mut self, warning: String) {
        self.snapshot.warnings.push(warning);
    }
}

/// One snapshot being written. Add resources with [`SnapshotWriter::add`], then
/// [`SnapshotWriter::finish`]; dropping it unfinished leaves no snapshot.
#[derive(Debug)]
pub struct SnapshotWriter<'r> {
    repo: &'r SnapshotRepository,
    snapshot: Snapshot,
    pack: PackBuilder,
    /// Objects in the open pack, not yet in the repository's index.
    pending: HashMap<Digest, Location>,
    stats: WriteStats,
}

impl SnapshotWriter<'_> {
    /// The snapshot's id.
    pub fn id(&self) -> SnapshotId {
        self.snapshot.id
    }

    /// Store one resource (if its content is new) and list it in the manifest.
    pub fn add(&mut self, resource: &Resource) -> Result<Digest, SnapshotError> {
        let digest = self.add_object(&canonical_json(&resource.attributes))?;
        self.stats.resources += 1;
        self.snapshot
            .insert(resource.kind.clone(), resource.id.clone(), digest);
        Ok(digest)
    }

    /// Store bytes unless the repository or the open pack has them already.
    fn add_object(&mut self, bytes: &[u8]) -> Result<Digest, SnapshotError> {
        let digest = Digest::of_bytes(bytes);
        if !self.pending.contains_key(&digest) && !self.repo.contains(&digest) {
            let location = self
                .pack
                .add(self.repo.team, &self.repo.key, digest, bytes)?;
            self.pending.insert(digest, location);
            self.stats.new_objects += 1;
            if self.pack.len_bytes() >= self.repo.pack_target {
                self.flush()?;
            }
        }
        Ok(digest)
    }

    /// Record a warning (a skipped kind...) in the manifest.
    pub fn warn(&mut self, warning: impl Into<String>) {
        self.snapshot.warnings.push(warning.into());
    }

    /// Store a page of resources.
    pub fn add_all(&mut self, resources: &[Resource]) -> Result<(), SnapshotError> {
        resources
            .iter()
            .try_for_each(|resource| self.add(resource).map(|_| ()))
    }

    /// What was written so far.
    pub fn stats(&self) -> WriteStats {
        self.stats
    }

    /// Write the open pack and its index, and make its objects known.
    fn flush(&mut self) -> Result<(), SnapshotError> {
        if self.pack.is_empty() {
            return Ok(());
        }
        let pack = std::mem::take(&mut self.pack);
        let (bytes, entries) = pack.write(&self.repo.dir, self.repo.team, &self.repo.key)?;
        self.stats.new_bytes += bytes;
        self.stats.packs += 1;
        let mut index = self.repo.lock_index();
        for (digest, location) in entries {
            index.entry(digest).or_insert(location);
        }
        self.pending.clear();
        Ok(())
    }

    /// Write the last pack, then seal and write the manifest: only now does the snapshot
    /// exist.
    pub fn finish(
        self,
        finished_at: OffsetDateTime,
        status: SnapshotStatus,
    ) -> Result<Snapshot, SnapshotError> {
        self.finish_with_stats(finished_at, status)
            .map(|(snapshot, _)| snapshot)
    }

    /// [`SnapshotWriter::finish`], also returning what was written.
    pub fn finish_with_stats(
        mut self,
        finished_at: OffsetDateTime,
        status: SnapshotStatus,
    ) -> Result<(Snapshot, WriteStats), SnapshotError> {
        self.snapshot.seal(finished_at, status);
        let id = self.snapshot.id;
        let manifest_error = |reason: String| SnapshotError::Manifest {
            id: id.to_string(),
            reason,
        };
        // The entry lists go into packs as objects, in chunks, so an unchanged kind costs
        // the next snapshot nothing: the manifest file itself stays small.
        let mut stored = self.snapshot.clone();
        let mut entry_lists: BTreeMap<String, Vec<Digest>> = BTreeMap::new();
        for (kind, entries) in std::mem::take(&mut stored.kinds) {
            let mut chunks = Vec::new();
            for chunk in entries.chunks(ENTRY_LIST_CHUNK) {
                let value = Value::Array(chunk.iter().map(|e| json!([e.id, e.digest])).collect());
                chunks.push(self.add_object(&canonical_json(&value))?);
            }
            entry_lists.insert(kind.as_str().to_owned(), chunks);
        }
        self.flush()?;
        let manifest = StoredManifest {
            format: MANIFEST_FORMAT,
            snapshot: stored,
            entry_lists,
        };
        let value = serde_json::to_value(&manifest).map_err(|e| manifest_error(e.to_string()))?;
        let sealed = crate::objects::seal_bytes(
            self.repo.team,
            &self.repo.key,
            &SnapshotRepository::manifest_address(id),
            &canonical_json(&value),
        )
        .map_err(manifest_error)?;
        pack::write_atomically(&self.repo.manifest_path(id), &sealed)?;
        self.stats.manifest_bytes = sealed.len() as u64;
        Ok((self.snapshot, self.stats))
    }
}
