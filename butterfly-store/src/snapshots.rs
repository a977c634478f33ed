//! A snapshot repository on any object store: packed, deduplicated, encrypted, verifiable.
//!
//! One store (a local directory, in memory, or S3-compatible), under one prefix, holds
//! everything a restore needs, and nothing else is needed to read it besides the key:
//!
//! ```text
//! {prefix}/packs/{pack id}.pack     sealed objects, many per pack (see format::pack)
//! {prefix}/index/{pack id}.idx      which digests each pack holds, sealed
//! {prefix}/snapshots/{id}.snapshot  one sealed manifest per backup (see format::manifest)
//! ```
//!
//! A local repository ([`SnapshotRepository::open`]) is a directory with this layout
//! (empty prefix) and its master key beside it: wrapped under one or more passwords in
//! `keys/` (see [`crate::repository_keys`]), or, when made without a password, plain in
//! `master.key` (mode 0600); a server
//! keeps one repository per team under a prefix of its object store (see
//! [`RepositoryStore::repository`](crate::RepositoryStore::repository)).
//! Addresses sealed into the objects are relative to the prefix, so a repository can be
//! moved or copied to another prefix or store whole.
//!
//! Each resource is stored once, as canonical JSON under its SHA-256, whatever number of
//! snapshots list it: an unchanged org costs a manifest per backup. A [`SnapshotWriter`]
//! collects new objects into packs and writes the manifest last, so an interrupted backup
//! leaves no manifest and only harmless orphans. [`SnapshotRepository::verify`] re-reads
//! every object a snapshot lists and recomputes every digest, the manifest's root digest
//! included, and names each problem precisely instead of returning garbage.
//!
//! **Damage.** Deduplication trusts the index: an object it names is not written
//! again. So on open (and whenever other writers' indexes are loaded) the packs are
//! listed once with their sizes, and a pack that is missing, or shorter than the end of
//! the last object its index names, is not trusted: a backup stores its objects again
//! and records a warning in the new snapshot, which therefore verifies clean.
//! [`SnapshotRepository::check`] reports such packs, and objects no index has, without
//! reading packs; a byte changed inside a pack keeps its size and is found only by
//! reading the data (`check(true)`, or [`SnapshotRepository::verify`]).
//! [`SnapshotRepository::repair_index`] rewrites each index with only the objects that
//! still read back, so the next backup stores the others again.
//!
//! **Crash safety.** Each pack, index and manifest is one `put` of the whole object, which
//! every store makes atomic (a local directory writes a temporary file and renames it; S3
//! publishes an object whole): readers see all of it or nothing. A pack is stored before
//! its index, and a snapshot's manifest after every pack and index it needs. A crash at
//! any moment leaves at worst a temporary file or a pack without an index: readers ignore
//! both (the objects of an unindexed pack are written again by the next backup), so the
//! repository stays valid. On a local directory each written file and its directory are
//! also fsynced before the next write, so that ordering survives a power loss too.
//!
//! ```
//! use std::sync::Arc;
//!
//! use butterfly_core::{Resource, ResourceKind, SnapshotStatus, TeamId};
//! use butterfly_store::MasterKey;
//! use butterfly_store::snapshots::SnapshotRepository;
//! use object_store::memory::InMemory;
//! use object_store::path::Path;
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A directory: `SnapshotRepository::open_or_create(dir)`. Any other store works the same way.
//! let store = Arc::new(InMemory::new());
//! let team = TeamId::new_random();
//! let repo =
//!     SnapshotRepository::open_in(store, Path::from("teams/acme"), &MasterKey::generate(), team)
//!         .await?;
//! let mut writer = repo.begin(butterfly_core::ProviderKind::Okta, "https://example.okta.com", chrono::Utc::now());
//! let user = Resource::new(ResourceKind::new("user"), "00u1", json!({"id": "00u1"}));
//! let digest = writer.add(&user).await?;
//! let snapshot = writer
//!     .finish(chrono::Utc::now(), SnapshotStatus::Complete)
//!     .await?;
//! assert_eq!(repo.get_json(&digest).await?, json!({"id": "00u1"}));
//! assert!(repo.verify(Some(snapshot.id)).await?.problems.is_empty());
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use butterfly_core::source::{SnapshotSource, SourceError};
use butterfly_core::{
    Digest, ManifestEntry, ProviderKind, Resource, ResourceKind, RootDigest, Snapshot, SnapshotId,
    SnapshotSink, SnapshotStatus, SnapshotSummary, SnapshotTarget, TeamId, canonical_json,
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use serde::Serialize;
use serde_json::Value;

pub use butterfly_core::WriteStats;

use crate::format::key::{KeyError, MASTER_KEY_FILE, MasterKey, TeamKey};
use crate::format::keyring::{KdfCost, Password};
use crate::format::manifest::{self, ENTRY_LIST_CHUNK, ManifestError, StoredManifest};
use crate::format::pack::{self, Location, PackBuilder, PackError, PackId};
use crate::format::{open_sealed_bytes, seal_bytes};
use crate::repository_keys::{RepositoryKeys, RepositoryKeysError, password_from_env};

mod checkpoint;
mod index;
mod prune;
mod spill;

pub use checkpoint::{CHECKPOINT_ENTRIES, Checkpoint};

pub use prune::{
    DEFAULT_LOCK_WAIT, DEFAULT_REWRITE_THRESHOLD, ForgetReport, Hold, LockKind, PruneOptions,
    PruneReport, STALE_LOCK_AFTER,
};

/// Indexes (and, in `verify`, packs) read at once: a remote store answers each read
/// after a round trip, so reading one at a time would add them all up.
const READ_CONCURRENCY: usize = 16;

/// How long a process that opens repositories should keep an idle thread of tokio's
/// blocking pool (tokio's default: 10 s); the CLI and the server build their runtimes
/// with it (`thread_keep_alive`).
///
/// Opening a repository reads every pack index through the object store, whose file
/// reads run on blocking threads, and the buffers are freed on the async workers. An
/// allocator gives a block freed by another thread back to its owner's heap only when the
/// owner allocates again or exits, and an idle blocking thread does neither: at 200K
/// users about 100 MiB of freed index buffers stayed resident into the backup (a second
/// full backup peaked at 217-260 MiB, 125-155 MiB with idle threads ending). A thread
/// started again costs microseconds. See README, "Memory of a backup".
pub const BLOCKING_THREAD_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_millis(50);

/// Room an open pack keeps past its target for the object that reaches it: a resource's
/// canonical JSON or an entry list is well under this, so the pack's buffer is not
/// regrown (see [`PackBuilder::with_capacity`]).
const LAST_OBJECT_ROOM: usize = 256 * 1024;

/// The team a local repository's key is derived for (the nil UUID): a local repository
/// has one owner, and a fixed id lets the directory open wherever its key is.
pub fn local_team() -> TeamId {
    TeamId::from_uuid(uuid::Uuid::nil())
}

/// A local scratch file (spilled manifest entries, the object index's runs) could not be
/// written or read.
fn scratch_error(source: io::Error) -> SnapshotError {
    SnapshotError::Io {
        path: std::env::temp_dir(),
        source,
    }
}

/// Errors from the snapshot repository.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// A local directory could not be created, or a written file could not be synced.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The object store could not read, write or list.
    #[error("{path}: {source}")]
    Storage {
        /// The object (or prefix) in the store.
        path: String,
        /// The cause.
        #[source]
        source: object_store::Error,
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
    /// No snapshot id starts with this text (or it is shorter than 4 characters).
    #[error("no snapshot id starts with `{0}`")]
    NoMatch(String),
    /// Several snapshot ids start with this text.
    #[error("snapshot id prefix `{prefix}` is ambiguous: it matches {matches} snapshots")]
    Ambiguous {
        /// The text given.
        prefix: String,
        /// How many snapshots it matches.
        matches: usize,
    },
    /// No pack holds this object.
    #[error("object {0} is in no pack")]
    MissingObject(Digest),
    /// The index names a pack for this object, but the pack is gone.
    #[error("object {digest} is in pack {pack}, which is missing")]
    MissingPack {
        /// The object.
        digest: Digest,
        /// The pack the index names.
        pack: PackId,
    },
    /// A read-only command was pointed at a directory that is not a repository (it does
    /// not exist, or has no `master.key`). Nothing was created.
    #[error("{} is not a snapshot repository: {reason}", path.display())]
    NotARepository {
        /// The directory.
        path: PathBuf,
        /// What is missing.
        reason: &'static str,
    },
    /// `init` found a repository already there.
    #[error("{} already holds a repository (it has a master.key or keys/)", .0.display())]
    AlreadyInitialized(PathBuf),
    /// The repository's key is wrapped under a password, and none was given.
    #[error(
        "{} is protected by a password: set BUTTERFLY_REPO_PASSWORD, or \
         BUTTERFLY_REPO_PASSWORD_FILE (--password-file)",
        .0.display()
    )]
    PasswordRequired(PathBuf),
    /// The repository's password keys could not be read, or none opened.
    #[error(transparent)]
    Keys(#[from] RepositoryKeysError),
    /// The snapshot is under legal hold: release it first.
    #[error("snapshot {0} is under legal hold; release it first (`butterfly snapshots release`)")]
    Held(SnapshotId),
    /// Another process holds a conflicting repository lock, and it was not released
    /// within the lock wait.
    #[error(
        "the repository is locked by {holder}; try again when it has finished (a lock \
         left by a process that died goes stale after 30 minutes)"
    )]
    Locked {
        /// Who holds it: `a backup` or `a prune`.
        holder: &'static str,
    },
    /// A backup's lock was removed as stale while it ran (it stopped refreshing it for
    /// 30 minutes), so a prune may have removed objects it reused: its snapshot is not
    /// written.
    #[error(
        "this backup's repository lock was removed as stale while it ran; the snapshot was \
         not written: run the backup again"
    )]
    LockLost,
    /// Pruning would have to guess what is referenced: nothing was removed.
    #[error("prune refused, nothing was removed: {0}")]
    PruneRefused(String),
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

/// A snapshot repository on an object store. See the [module docs](self).
#[derive(Debug)]
pub struct SnapshotRepository {
    store: Arc<dyn ObjectStore>,
    /// Where the repository is in the store (empty for a whole local directory).
    prefix: ObjectPath,
    /// The directory `store` writes into, when it is a local one: written files are
    /// fsynced there, which object_store's `LocalFileSystem` does not do.
    local_root: Option<PathBuf>,
    team: TeamId,
    key: TeamKey,
    /// Every indexed object, compact (see the `index` module).
    index: Mutex<index::ObjectIndex>,
    /// The packs whose indexes are in `index`: what a refresh need not read again.
    indexed_packs: Mutex<HashSet<PackId>>,
    /// Indexed packs that are missing, or shorter than their index says: their objects
    /// are not deduplicated against, so the next backup stores them again.
    untrusted_packs: Mutex<HashSet<PackId>>,
    /// Packs are closed once they hold this many bytes.
    pack_target: usize,
    /// How long to wait for a conflicting repository lock.
    lock_wait: std::time::Duration,
}

/// One problem found by [`SnapshotRepository::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyProblem {
    /// What is damaged: a snapshot, an entry `snapshot kind/id`, a pack or an index.
    pub location: String,
    /// What is wrong with it.
    pub message: String,
}

/// The outcome of [`SnapshotRepository::repair_index`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RepairReport {
    /// Indexes examined.
    pub indexes: u64,
    /// Indexes rewritten without the objects that no longer read.
    pub indexes_rewritten: u64,
    /// Indexes removed: their pack is gone, they did not open, or nothing in them read.
    pub indexes_removed: u64,
    /// Indexed objects that read back and stay indexed.
    pub objects_kept: u64,
    /// Indexed objects dropped from the index (the next backup stores them again).
    pub objects_dropped: u64,
}

/// What [`SnapshotRepository::list_all`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotListing {
    /// The snapshots whose manifests read, oldest first.
    pub snapshots: Vec<SnapshotSummary>,
    /// The snapshots whose manifests do not, each with what is wrong.
    pub damaged: Vec<VerifyProblem>,
}

/// Indexes as read again by `verify`, `check` and `repair_index`.
struct FreshIndex {
    index: BTreeMap<Digest, Location>,
    untrusted: HashSet<PackId>,
    packs: u64,
    problems: Vec<(String, String)>,
}

/// The outcome of [`SnapshotRepository::verify`] and [`SnapshotRepository::check`].
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
    /// Open the existing repository in the local directory `dir`. Its key is the plain
    /// `dir/master.key` (a repository made without a password), or is unwrapped from
    /// `dir/keys/` with the password in the environment ([`password_from_env`]).
    /// Writes nothing: a directory that does not exist or has no key is
    /// [`SnapshotError::NotARepository`], and is left as it was. What read-only commands
    /// use; see [`SnapshotRepository::open_or_create`] for backups.
    pub async fn open(dir: &Path) -> Result<Self, SnapshotError> {
        Self::open_with_password(dir, password_from_env()?.as_ref()).await
    }

    /// [`SnapshotRepository::open`] with the password given rather than read from the
    /// environment (`None`: the repository must have a plain `master.key`).
    pub async fn open_with_password(
        dir: &Path,
        password: Option<&Password>,
    ) -> Result<Self, SnapshotError> {
        if !dir.is_dir() {
            return Err(SnapshotError::NotARepository {
                path: dir.to_owned(),
                reason: "the directory does not exist",
            });
        }
        let master = Self::unlock_local(dir, password)?;
        Self::open_local(dir, &master, local_team()).await
    }

    /// The master key of the local repository in `dir`, without writing anything.
    fn unlock_local(dir: &Path, password: Option<&Password>) -> Result<MasterKey, SnapshotError> {
        if dir.join(MASTER_KEY_FILE).exists() {
            return Ok(MasterKey::load_existing(dir)?);
        }
        let keys = RepositoryKeys::at(dir);
        if !keys.exist() {
            return Err(SnapshotError::NotARepository {
                path: dir.to_owned(),
                reason: "it has neither keys/ nor a master.key (create one with `butterfly init`)",
            });
        }
        let password = password.ok_or_else(|| SnapshotError::PasswordRequired(dir.to_owned()))?;
        Ok(keys.unlock(password)?.0)
    }

    /// Open the repository in the local directory `dir`, or create it if it does not
    /// exist. With a password (given, or from the environment) a new repository keeps
    /// its key only wrapped under it, in `keys/`; without one, a new repository gets a
    /// plain `master.key` (mode 0600), which is for tests and embedding: the CLI only
    /// makes such a repository when told to (`--insecure-no-password`).
    pub async fn open_or_create(dir: &Path) -> Result<Self, SnapshotError> {
        let password = password_from_env()?;
        if Self::exists_at(dir) {
            return Self::open_with_password(dir, password.as_ref()).await;
        }
        if let Some(password) = password {
            return Self::init_with_password(dir, &password, KdfCost::DEFAULT).await;
        }
        let master = MasterKey::load_or_create(dir)?;
        Self::open_with_key(dir, &master, local_team()).await
    }

    /// Create a new, empty repository in `dir` (created if missing) with a fresh master
    /// key in a plain `master.key` file: anyone with a copy of the directory can read it.
    /// A directory that already holds a repository is refused
    /// ([`SnapshotError::AlreadyInitialized`]) and left as it was. See
    /// [`SnapshotRepository::init_with_password`] for the safe default.
    pub async fn init(dir: &Path) -> Result<Self, SnapshotError> {
        Self::refuse_existing(dir)?;
        let master = MasterKey::load_or_create(dir)?;
        Self::open_with_key(dir, &master, local_team()).await
    }

    /// Create a new, empty repository in `dir` (created if missing) whose fresh master key
    /// is kept only wrapped under `password` (Argon2id with `cost`), in `keys/`.
    pub async fn init_with_password(
        dir: &Path,
        password: &Password,
        cost: KdfCost,
    ) -> Result<Self, SnapshotError> {
        Self::refuse_existing(dir)?;
        let master = MasterKey::generate();
        RepositoryKeys::at(dir).add(&master, password, cost, Utc::now())?;
        Self::open_with_key(dir, &master, local_team()).await
    }

    /// Whether `dir` holds a local repository's key: a plain `master.key` or a password
    /// key in `keys/`. Reads only.
    pub fn exists_at(dir: &Path) -> bool {
        dir.join(MASTER_KEY_FILE).exists() || RepositoryKeys::at(dir).exist()
    }

    fn refuse_existing(dir: &Path) -> Result<(), SnapshotError> {
        if Self::exists_at(dir) {
            return Err(SnapshotError::AlreadyInitialized(dir.to_owned()));
        }
        Ok(())
    }

    /// Open the repository in the local directory `dir` with a key kept elsewhere, for
    /// `team`.
    pub async fn open_with_key(
        dir: &Path,
        master: &MasterKey,
        team: TeamId,
    ) -> Result<Self, SnapshotError> {
        std::fs::create_dir_all(dir).map_err(|source| SnapshotError::Io {
            path: dir.to_owned(),
            source,
        })?;
        Self::open_local(dir, master, team).await
    }

    /// Open the repository in the existing directory `dir`.
    async fn open_local(
        dir: &Path,
        master: &MasterKey,
        team: TeamId,
    ) -> Result<Self, SnapshotError> {
        let store =
            LocalFileSystem::new_with_prefix(dir).map_err(|source| SnapshotError::Storage {
                path: dir.display().to_string(),
                source,
            })?;
        let repo = Self::open_in(Arc::new(store), ObjectPath::default(), master, team).await?;
        Ok(repo.syncing_files_under(dir))
    }

    /// Open the repository under `prefix` in any object store, for `team`, with the
    /// team's key derived from `master`. Nothing is written until a snapshot is.
    ///
    /// Opening reads every pack index (to know which objects are stored), so open a
    /// repository once and share it.
    pub async fn open_in(
        store: Arc<dyn ObjectStore>,
        prefix: ObjectPath,
        master: &MasterKey,
        team: TeamId,
    ) -> Result<Self, SnapshotError> {
        let repo = SnapshotRepository {
            store,
            prefix,
            local_root: None,
            team,
            key: master.team_key(team),
            index: Mutex::new(index::ObjectIndex::default()),
            indexed_packs: Mutex::new(HashSet::new()),
            untrusted_packs: Mutex::new(HashSet::new()),
            pack_target: pack::PACK_TARGET_BYTES,
            lock_wait: DEFAULT_LOCK_WAIT,
        };
        repo.load_new_indexes().await?;
        Ok(repo)
    }

    /// Read the indexes of packs this handle has not seen: at open, every one; later,
    /// those other writers (another server sharing the store) added since. Returns how
    /// many were read.
    async fn load_new_indexes(&self) -> Result<usize, SnapshotError> {
        let known = self
            .indexed_packs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let new: Vec<PackId> = self
            .pack_ids("index", ".idx")
            .await?
            .into_iter()
            .filter(|id| !known.contains(id))
            .collect();
        let count = new.len();
        if count == 0 {
            return Ok(0);
        }
        // Deduplication trusts the index: an object it names is not written again. So
        // before trusting an index, check its pack is there, whole (one listing for all,
        // after the listing of indexes: a pack is stored before its index).
        let sizes = self.pack_sizes().await?;
        // Each index goes into the object index as it is read, not gathered first: at
        // 1.4 million objects the gathered entries were 90 MiB on top of the index.
        let mut indexes = self.read_indexes(new);
        while let Some((id, sealed)) = indexes.next().await {
            let entries = pack::open_index(id, &sealed?, self.team, &self.key)?;
            let mut untrusted = self.lock_untrusted();
            if let Some(reason) = pack_damage(sizes.get(&id).copied(), &entries) {
                tracing::warn!(pack = %id, %reason, "pack not trusted for deduplication: its objects will be stored again");
                untrusted.insert(id);
            }
            let mut index = self.lock_index();
            for (digest, location) in entries {
                index
                    .prefer_trusted(&untrusted, digest, location)
                    .map_err(scratch_error)?;
            }
            self.indexed_packs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id);
        }
        Ok(count)
    }

    fn lock_untrusted(&self) -> std::sync::MutexGuard<'_, HashSet<PackId>> {
        self.untrusted_packs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The size of every pack, from one listing.
    async fn pack_sizes(&self) -> Result<HashMap<PackId, u64>, SnapshotError> {
        Ok(self
            .file_names("packs")
            .await?
            .into_iter()
            .filter_map(|(name, size)| Some((pack::parse_name(&name, ".pack")?, size)))
            .collect())
    }

    /// The store is a `LocalFileSystem` rooted at `root`: after each write, fsync the
    /// written file and its directory, so that a pack is on disk before its index, and
    /// both before the manifest that needs them, even across a power loss.
    /// [`SnapshotRepository::open`] does this by itself.
    #[must_use]
    pub fn syncing_files_under(mut self, root: &Path) -> Self {
        self.local_root = Some(root.to_owned());
        self
    }

    /// Close packs at `bytes` instead of the default 16 MiB (smaller packs for tests that
    /// interrupt writers; larger ones for huge orgs).
    #[must_use]
    pub fn with_pack_target(mut self, bytes: usize) -> Self {
        self.pack_target = bytes.max(1);
        self
    }

    /// The store the repository is in.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Where the repository is in its store.
    pub fn prefix(&self) -> &ObjectPath {
        &self.prefix
    }

    /// The path in the store of `name`, relative to the repository's prefix.
    fn path(&self, name: &str) -> ObjectPath {
        if self.prefix.as_ref().is_empty() {
            ObjectPath::from(name)
        } else {
            ObjectPath::from(format!("{}/{name}", self.prefix))
        }
    }

    /// The ids in the file names directly under `dir` ending in `suffix`, sorted.
    /// Temporary files of interrupted writes and stray names are ignored.
    async fn pack_ids(&self, dir: &str, suffix: &str) -> Result<Vec<PackId>, SnapshotError> {
        let mut ids: Vec<PackId> = self
            .file_names(dir)
            .await?
            .iter()
            .filter_map(|(name, _)| pack::parse_name(name, suffix))
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// The names and sizes of the objects directly under `dir`.
    async fn file_names(&self, dir: &str) -> Result<Vec<(String, u64)>, SnapshotError> {
        let prefix = self.path(dir);
        let listed = match self.store.list_with_delimiter(Some(&prefix)).await {
            Ok(listed) => listed,
            Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(source) => return Err(storage_error(&prefix, source)),
        };
        Ok(listed
            .objects
            .into_iter()
            .filter_map(|meta| Some((meta.location.filename()?.to_owned(), meta.size)))
            .collect())
    }

    /// Read the sealed indexes of `ids`, several at a time, in order.
    fn read_indexes(
        &self,
        ids: Vec<PackId>,
    ) -> impl futures::Stream<Item = (PackId, Result<Bytes, SnapshotError>)> + '_ {
        futures::stream::iter(ids)
            .map(move |id| async move {
                let path = self.path(&pack::index_name(id));
                (id, self.read_whole(&path).await)
            })
            .buffered(READ_CONCURRENCY)
    }

    /// A whole stored object.
    async fn read_whole(&self, path: &ObjectPath) -> Result<Bytes, SnapshotError> {
        let result = self
            .store
            .get(path)
            .await
            .map_err(|e| storage_error(path, e))?;
        result.bytes().await.map_err(|e| storage_error(path, e))
    }

    /// Store `bytes` at `name` in one `put` (atomic in every store), and on a local
    /// directory make it durable before returning.
    async fn write(&self, name: &str, bytes: Vec<u8>) -> Result<(), SnapshotError> {
        let path = self.path(name);
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|e| storage_error(&path, e))?;
        if let Some(root) = &self.local_root {
            let mut file = root.clone();
            file.extend(path.parts().map(|part| part.as_ref().to_owned()));
            sync_file_and_directory(file).await?;
        }
        Ok(())
    }

    fn lock_index(&self) -> std::sync::MutexGuard<'_, index::ObjectIndex> {
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether an object is stored in a pack that is present and whole (so a backup
    /// need not store it again).
    pub fn contains(&self, digest: &Digest) -> Result<bool, SnapshotError> {
        Ok(self.stored_copy(digest)? == Some(true))
    }

    /// Whether the index names a copy of the object, and if so whether its pack is
    /// trusted.
    fn stored_copy(&self, digest: &Digest) -> Result<Option<bool>, SnapshotError> {
        let Some(location) = self.lock_index().get(digest).map_err(scratch_error)? else {
            return Ok(None);
        };
        Ok(Some(!self.lock_untrusted().contains(&location.pack)))
    }

    /// Where the index says an object is stored: its pack, offset and sealed length.
    /// For diagnostics (and tests that damage one object on purpose).
    pub fn location(&self, digest: &Digest) -> Result<Option<Location>, SnapshotError> {
        self.lock_index().get(digest).map_err(scratch_error)
    }

    /// How many distinct objects are stored.
    pub fn object_count(&self) -> usize {
        self.lock_index().len()
    }

    /// Start a snapshot.
    pub fn begin(
        &self,
        provider: ProviderKind,
        org: impl Into<String>,
        started_at: DateTime<Utc>,
    ) -> SnapshotWriter<'_> {
        SnapshotWriter {
            repo: self,
            snapshot: Snapshot::begin(provider, org, started_at),
            pack: self.new_pack(),
            pending: HashSet::new(),
            stats: WriteStats::default(),
            stored_again: 0,
            lock: None,
            checkpoint: None,
            stored_kinds: BTreeMap::new(),
            spilled: BTreeMap::new(),
        }
    }

    /// An empty pack sized for this handle's target (see [`PackBuilder::with_capacity`]).
    fn new_pack(&self) -> PackBuilder {
        // A target set far above the default still grows as it fills, not reserved whole.
        let target = self.pack_target.min(4 * pack::PACK_TARGET_BYTES);
        PackBuilder::with_capacity(target.saturating_add(LAST_OBJECT_ROOM))
    }

    /// The bytes of an object, checked against its digest.
    pub async fn get(&self, digest: &Digest) -> Result<Vec<u8>, SnapshotError> {
        let location = self.location_of(digest).await?;
        let sealed = self.read_sealed(digest, location).await?;
        Ok(pack::open_sealed(
            &sealed, digest, location, self.team, &self.key,
        )?)
    }

    /// Where the index puts `digest`.
    async fn location_of(&self, digest: &Digest) -> Result<Location, SnapshotError> {
        let known = self.lock_index().get(digest).map_err(scratch_error)?;
        match known {
            Some(location) => Ok(location),
            // Another writer sharing the store (a server replica) may have stored it
            // since this handle read the indexes.
            None if self.load_new_indexes().await? > 0 => self
                .lock_index()
                .get(digest)
                .map_err(scratch_error)?
                .ok_or(SnapshotError::MissingObject(*digest)),
            None => Err(SnapshotError::MissingObject(*digest)),
        }
    }

    /// One object's sealed bytes, and the pack's header to check it is the right pack,
    /// without reading the rest of the pack.
    async fn read_sealed(
        &self,
        digest: &Digest,
        location: Location,
    ) -> Result<Bytes, SnapshotError> {
        let path = self.path(&pack::pack_name(location.pack));
        let end = location.offset + u64::from(location.length);
        let header = 0..pack::PACK_HEADER_LEN as u64;
        let truncated = || {
            SnapshotError::Pack(PackError::Damaged {
                what: pack::object_what(digest, location),
                reason: "truncated: the pack ends inside the object".into(),
            })
        };
        let parts = match self
            .store
            .get_ranges(&path, &[header, location.offset..end])
            .await
        {
            Ok(parts) => parts,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(SnapshotError::MissingPack {
                    digest: *digest,
                    pack: location.pack,
                });
            }
            // Stores refuse a range past the end differently (an error, or fewer bytes):
            // the pack's size says whether it was cut short.
            Err(e) => {
                return match self.store.head(&path).await {
                    Ok(meta) if meta.size < end => Err(truncated()),
                    _ => Err(storage_error(&path, e)),
                };
            }
        };
        let (Some(header), Some(sealed)) = (parts.first(), parts.get(1)) else {
            return Err(truncated());
        };
        pack::check_header(header, location.pack)?;
        if sealed.len() < location.length as usize {
            return Err(truncated());
        }
        Ok(sealed.clone())
    }

    /// The bytes of several objects, in the order asked, each checked against its
    /// digest. Objects are grouped by pack and each pack is read once for all of its
    /// objects here (one open, one ranged read per object), instead of once per object:
    /// reading a kind of 50K users this way costs a few reads per pack.
    pub async fn get_many(&self, digests: &[Digest]) -> Result<Vec<Vec<u8>>, SnapshotError> {
        let mut locations = Vec::with_capacity(digests.len());
        for digest in digests {
            locations.push(self.location_of(digest).await?);
        }
        let mut by_pack: BTreeMap<PackId, Vec<usize>> = BTreeMap::new();
        for (i, location) in locations.iter().enumerate() {
            by_pack.entry(location.pack).or_default().push(i);
        }
        let mut out: Vec<Option<Vec<u8>>> = vec![None; digests.len()];
        for (pack_id, wanted) in by_pack {
            let path = self.path(&pack::pack_name(pack_id));
            let header = 0..pack::PACK_HEADER_LEN as u64;
            let ranges: Vec<_> = std::iter::once(header)
                .chain(wanted.iter().map(|&i| {
                    let l = locations[i];
                    l.offset..l.offset + u64::from(l.length)
                }))
                .collect();
            let Ok(parts) = self.store.get_ranges(&path, &ranges).await else {
                // A missing or short pack: let the one-object path name the problem.
                for &i in &wanted {
                    out[i] = Some(self.get(&digests[i]).await?);
                }
                continue;
            };
            let Some(header) = parts.first() else {
                return Err(SnapshotError::MissingPack {
                    digest: digests[wanted[0]],
                    pack: pack_id,
                });
            };
            pack::check_header(header, pack_id)?;
            for (part, &i) in parts.iter().skip(1).zip(&wanted) {
                let location = locations[i];
                if part.len() < location.length as usize {
                    return Err(SnapshotError::Pack(PackError::Damaged {
                        what: pack::object_what(&digests[i], location),
                        reason: "truncated: the pack ends inside the object".into(),
                    }));
                }
                out[i] = Some(pack::open_sealed(
                    part,
                    &digests[i],
                    location,
                    self.team,
                    &self.key,
                )?);
            }
        }
        out.into_iter()
            .zip(digests)
            .map(|(bytes, digest)| bytes.ok_or(SnapshotError::MissingObject(*digest)))
            .collect()
    }

    /// An object as JSON.
    pub async fn get_json(&self, digest: &Digest) -> Result<Value, SnapshotError> {
        let bytes = self.get(digest).await?;
        serde_json::from_slice(&bytes).map_err(|source| SnapshotError::Json {
            digest: *digest,
            source,
        })
    }

    fn manifest_name(id: SnapshotId) -> String {
        format!("snapshots/{id}.snapshot")
    }

    fn manifest_address(id: SnapshotId) -> String {
        format!("snapshot/{id}")
    }

    /// Every snapshot id, sorted.
    pub async fn ids(&self) -> Result<Vec<SnapshotId>, SnapshotError> {
        let mut ids: Vec<SnapshotId> = self
            .file_names("snapshots")
            .await?
            .iter()
            .filter_map(|(name, _)| name.strip_suffix(".snapshot")?.parse().ok())
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// The manifest of one snapshot, with its entries (its root digest is not checked
    /// here: see [`Self::verify`], or the [`SnapshotSource`] implementation, which does).
    pub async fn manifest(&self, id: SnapshotId) -> Result<Snapshot, SnapshotError> {
        let (mut snapshot, entry_lists) = self.stored_manifest(id).await?;
        for (kind, chunks) in entry_lists {
            let entries = snapshot.kinds.entry(kind.clone()).or_default();
            for chunk in chunks {
                entries.extend(self.entry_list(id, &kind, &chunk).await?);
            }
        }
        Ok(snapshot)
    }

    /// The entries of one kind of snapshot `id`, sorted by id (empty when it lists
    /// none): the small manifest object and this kind's entry lists only, so a reader
    /// going kind by kind (the incremental backup) neither holds nor downloads the whole
    /// manifest once per kind. Like [`Self::manifest`], the root digest is not checked.
    pub async fn kind_entries(
        &self,
        id: SnapshotId,
        kind: &ResourceKind,
    ) -> Result<Vec<ManifestEntry>, SnapshotError> {
        let (mut snapshot, mut entry_lists) = self.stored_manifest(id).await?;
        // Manifests written before entry lists held their entries inline.
        let mut entries = snapshot.kinds.remove(kind).unwrap_or_default();
        for chunk in entry_lists.remove(kind).unwrap_or_default() {
            entries.extend(self.entry_list(id, kind, &chunk).await?);
        }
        Ok(entries)
    }

    /// One entry-list object of snapshot `id`.
    async fn entry_list(
        &self,
        id: SnapshotId,
        kind: &ResourceKind,
        chunk: &Digest,
    ) -> Result<Vec<ManifestEntry>, SnapshotError> {
        let damaged = |reason: String| SnapshotError::Manifest {
            id: id.to_string(),
            reason: format!("entry list of `{kind}`: {reason}"),
        };
        let bytes = match self.get(chunk).await {
            Ok(bytes) => bytes,
            // A missing object stays a missing object: callers tell it from damage.
            Err(e @ (SnapshotError::MissingObject(_) | SnapshotError::MissingPack { .. })) => {
                return Err(e);
            }
            Err(e) => return Err(damaged(e.to_string())),
        };
        manifest::decode_entry_list(&bytes).map_err(|e| damaged(e.to_string()))
    }

    /// One snapshot's summary: everything in its manifest (status, times, counts per
    /// kind, warnings, root digest) but the entries, which are not read. What listings
    /// need, at one small read per snapshot instead of every entry list.
    pub async fn summary(&self, id: SnapshotId) -> Result<SnapshotSummary, SnapshotError> {
        Ok(self.stored_manifest(id).await?.0.summary())
    }

    /// The manifest object as stored, opened and checked to be this snapshot's: the
    /// snapshot without entries, and per kind its entry-list objects.
    async fn stored_manifest(
        &self,
        id: SnapshotId,
    ) -> Result<(Snapshot, BTreeMap<ResourceKind, Vec<Digest>>), SnapshotError> {
        let path = self.path(&Self::manifest_name(id));
        let sealed = match self.store.get(&path).await {
            Ok(result) => result.bytes().await.map_err(|e| storage_error(&path, e))?,
            Err(object_store::Error::NotFound { .. }) => return Err(SnapshotError::NotFound(id)),
            Err(e) => return Err(storage_error(&path, e)),
        };
        let damaged = |reason: String| SnapshotError::Manifest {
            id: id.to_string(),
            reason,
        };
        let plain = open_sealed_bytes(self.team, &self.key, &Self::manifest_address(id), &sealed)
            .map_err(damaged)?;
        let read = |e: ManifestError| damaged(e.to_string());
        let stored = StoredManifest::from_bytes(&plain).map_err(read)?;
        let snapshot = stored.snapshot().map_err(read)?;
        if snapshot.id != id {
            return Err(damaged(format!("holds snapshot {}", snapshot.id)));
        }
        Ok((snapshot, stored.entry_lists().map_err(read)?))
    }

    /// Every snapshot's [summary](Self::summary) (entries not loaded), oldest first.
    pub async fn list(&self) -> Result<Vec<SnapshotSummary>, SnapshotError> {
        let mut snapshots = Vec::new();
        for id in self.ids().await? {
            snapshots.push(self.summary(id).await?);
        }
        snapshots.sort_by_key(|s| (s.started_at, s.id));
        Ok(snapshots)
    }

    /// Every snapshot's summary, oldest first, and apart, the snapshots whose manifests
    /// do not read (damaged, truncated, or from a newer format): one bad manifest does
    /// not hide the others. [`Self::list`] fails on the first instead.
    pub async fn list_all(&self) -> Result<SnapshotListing, SnapshotError> {
        let mut listing = SnapshotListing::default();
        for id in self.ids().await? {
            match self.summary(id).await {
                Ok(summary) => listing.snapshots.push(summary),
                Err(e @ SnapshotError::Manifest { .. }) => listing.damaged.push(VerifyProblem {
                    location: format!("snapshot {id}"),
                    message: e.to_string(),
                }),
                // Gone since it was listed (deleted by another process): not damage.
                Err(SnapshotError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        listing.snapshots.sort_by_key(|s| (s.started_at, s.id));
        Ok(listing)
    }

    /// The snapshot whose id is `text` or starts with it (at least 4 characters, any
    /// case).
    pub async fn resolve(&self, text: &str) -> Result<SnapshotId, SnapshotError> {
        if let Ok(id) = text.parse() {
            return Ok(id);
        }
        let text = text.to_ascii_lowercase();
        if text.len() < 4 {
            return Err(SnapshotError::NoMatch(text));
        }
        let matching: Vec<SnapshotId> = self
            .ids()
            .await?
            .into_iter()
            .filter(|id| id.to_string().starts_with(&text))
            .collect();
        match matching.as_slice() {
            [one] => Ok(*one),
            [] => Err(SnapshotError::NoMatch(text)),
            many => Err(SnapshotError::Ambiguous {
                prefix: text,
                matches: many.len(),
            }),
        }
    }

    /// One resource of a snapshot, reading only the manifest and the entry lists a binary
    /// search over them needs (entry lists are in id order), not every one.
    ///
    /// The entry found can be trusted without the root digest: the manifest is
    /// authenticated, it names each entry list by digest, and each is checked against it.
    pub async fn resource(
        &self,
        id: SnapshotId,
        kind: &ResourceKind,
        resource_id: &str,
    ) -> Result<Option<Resource>, SnapshotError> {
        let (_, entry_lists) = self.stored_manifest(id).await?;
        let Some(chunks) = entry_lists.get(kind) else {
            return Ok(None);
        };
        let (mut low, mut high) = (0, chunks.len());
        while low < high {
            let middle = low + (high - low) / 2;
            let entries = self.entry_list(id, kind, &chunks[middle]).await?;
            let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
                return Ok(None);
            };
            if resource_id < first.id.as_str() {
                high = middle;
            } else if resource_id > last.id.as_str() {
                low = middle + 1;
            } else {
                let Ok(at) = entries.binary_search_by(|e| e.id.as_str().cmp(resource_id)) else {
                    return Ok(None);
                };
                let attributes = self.get_json(&entries[at].digest).await?;
                return Ok(Some(Resource::new(kind.clone(), resource_id, attributes)));
            }
        }
        Ok(None)
    }

    /// Check one snapshot (or all, with `None`): each manifest's counts and root digest,
    /// and every object it lists, read from its pack and hashed. Without an id, every
    /// indexed object of every pack is checked too, listed or not.
    ///
    /// Damage is reported in [`VerifyReport::problems`]; `Err` means the check itself
    /// could not run (the snapshot does not exist).
    pub async fn verify(&self, id: Option<SnapshotId>) -> Result<VerifyReport, SnapshotError> {
        let ids = match id {
            Some(id) => {
                let path = self.path(&Self::manifest_name(id));
                match self.store.head(&path).await {
                    Ok(_) => {}
                    Err(object_store::Error::NotFound { .. }) => {
                        return Err(SnapshotError::NotFound(id));
                    }
                    Err(e) => return Err(storage_error(&path, e)),
                }
                vec![id]
            }
            None => self.ids().await?,
        };
        let mut report = VerifyReport::default();
        let mut problem = |location: String, message: String| {
            report_problem(&mut report.problems, location, message);
        };
        // Re-read the indexes from the store: verify must not trust what was loaded
        // earlier.
        let fresh = self.fresh_index().await?;
        for (location, message) in fresh.problems {
            problem(location, message);
        }
        let index = fresh.index;
        // Which objects to check, and which entries need them.
        let mut wanted: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
        let mut snapshots = 0u64;
        let mut entries = 0u64;
        for id in &ids {
            snapshots += 1;
            let snapshot = match self.manifest(*id).await {
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
        // Whole packs, a few at a time, each read once.
        let mut packs_read = futures::stream::iter(by_pack)
            .map(|(pack_id, objects_in_pack)| async move {
                let path = self.path(&pack::pack_name(pack_id));
                (pack_id, objects_in_pack, self.read_whole(&path).await)
            })
            .buffered(2);
        while let Some((pack_id, objects_in_pack, bytes)) = packs_read.next().await {
            let bytes = match bytes {
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

    /// Every index read again from the store, with each object at a copy in a trusted
    /// pack where there is one, and the problems found on the way (indexes that do not
    /// open; packs missing or shorter than their index).
    async fn fresh_index(&self) -> Result<FreshIndex, SnapshotError> {
        let mut found = Vec::new();
        let mut problems = Vec::new();
        let mut indexes = self.read_indexes(self.pack_ids("index", ".idx").await?);
        while let Some((pack_id, sealed)) = indexes.next().await {
            let opened = sealed
                .and_then(|sealed| Ok(pack::open_index(pack_id, &sealed, self.team, &self.key)?));
            match opened {
                Ok(entries) => found.push((pack_id, entries)),
                Err(e) => problems.push((format!("index {pack_id}"), e.to_string())),
            }
        }
        drop(indexes);
        let sizes = self.pack_sizes().await?;
        let mut untrusted = HashSet::new();
        for (id, entries) in &found {
            if let Some(reason) = pack_damage(sizes.get(id).copied(), entries) {
                problems.push((format!("pack {id}"), reason));
                untrusted.insert(*id);
            }
        }
        let mut index = HashMap::new();
        let packs = found.len() as u64;
        for (_, entries) in found {
            for (digest, location) in entries {
                prefer_trusted(&mut index, &untrusted, digest, location);
            }
        }
        Ok(FreshIndex {
            index: index.into_iter().collect(),
            untrusted,
            packs,
            problems,
        })
    }

    /// Check the repository's structure, as `restic check` does: every manifest opens and
    /// matches its root digest, every object a snapshot lists is indexed, and every
    /// indexed pack exists with at least the size its index says. Cheap: reads manifests,
    /// entry lists and indexes, not packs.
    ///
    /// A byte changed inside a pack (same size) is not found this way: with `read_data`,
    /// every indexed object is also read, decrypted and hashed ([`Self::verify`]).
    pub async fn check(&self, read_data: bool) -> Result<VerifyReport, SnapshotError> {
        if read_data {
            return self.verify(None).await;
        }
        let fresh = self.fresh_index().await?;
        let mut report = VerifyReport {
            packs: fresh.packs,
            ..VerifyReport::default()
        };
        for (location, message) in fresh.problems {
            report_problem(&mut report.problems, location, message);
        }
        let mut wanted: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
        for id in self.ids().await? {
            report.snapshots += 1;
            let snapshot = match self.manifest(id).await {
                Ok(s) => s,
                Err(e) => {
                    report_problem(
                        &mut report.problems,
                        format!("snapshot {id}"),
                        e.to_string(),
                    );
                    continue;
                }
            };
            if let Err(e) = snapshot.check_consistency() {
                report_problem(
                    &mut report.problems,
                    format!("snapshot {id}"),
                    e.to_string(),
                );
            }
            for (kind, list) in &snapshot.kinds {
                for entry in list {
                    report.entries += 1;
                    wanted
                        .entry(entry.digest)
                        .or_default()
                        .push(format!("snapshot {id} {kind}/{}", entry.id));
                }
            }
        }
        report.objects = wanted.len() as u64;
        for (digest, users) in &wanted {
            let message = match fresh.index.get(digest) {
                None => format!("object {digest} is in no pack"),
                Some(location) if fresh.untrusted.contains(&location.pack) => format!(
                    "object {digest} is in pack {}, which is missing or truncated",
                    location.pack
                ),
                Some(_) => continue,
            };
            let location = match users.as_slice() {
                [one] => one.clone(),
                [first, rest @ ..] => format!("{first} (and {} more entries)", rest.len()),
                [] => format!("object {digest}"),
            };
            report_problem(&mut report.problems, location, message);
        }
        Ok(report)
    }

    /// Rebuild the indexes from the packs that are there: each index's objects are read
    /// back from its pack; those that open and hash right are kept, the others dropped
    /// (the index is rewritten, or removed when nothing in it is left), so the next
    /// backup stores the dropped objects again. Then this handle reloads the indexes.
    ///
    /// A pack without an index (left by an interrupted backup) cannot be indexed: an
    /// object's digest is in the index only. Its objects are stored again when needed.
    pub async fn repair_index(&self) -> Result<RepairReport, SnapshotError> {
        let mut report = RepairReport::default();
        for pack_id in self.pack_ids("index", ".idx").await? {
            report.indexes += 1;
            let index_path = self.path(&pack::index_name(pack_id));
            let entries = match self.read_whole(&index_path).await {
                Ok(sealed) => pack::open_index(pack_id, &sealed, self.team, &self.key).ok(),
                Err(_) => None,
            };
            let pack_path = self.path(&pack::pack_name(pack_id));
            let pack_bytes = match self.store.get(&pack_path).await {
                Ok(result) => Some(
                    result
                        .bytes()
                        .await
                        .map_err(|e| storage_error(&pack_path, e))?,
                ),
                Err(object_store::Error::NotFound { .. }) => None,
                Err(e) => return Err(storage_error(&pack_path, e)),
            };
            let (Some(entries), Some(pack_bytes)) = (entries, pack_bytes) else {
                // No pack, or an index that does not open: nothing in it can be used.
                self.store
                    .delete(&index_path)
                    .await
                    .map_err(|e| storage_error(&index_path, e))?;
                report.indexes_removed += 1;
                continue;
            };
            let total = entries.len();
            let kept: Vec<(Digest, Location)> = entries
                .into_iter()
                .filter(|(digest, location)| {
                    pack::open_object(&pack_bytes, digest, *location, self.team, &self.key).is_ok()
                })
                .collect();
            report.objects_kept += kept.len() as u64;
            report.objects_dropped += (total - kept.len()) as u64;
            if kept.len() == total {
                continue;
            }
            if kept.is_empty() {
                self.store
                    .delete(&index_path)
                    .await
                    .map_err(|e| storage_error(&index_path, e))?;
                report.indexes_removed += 1;
            } else {
                let sealed = pack::seal_index(pack_id, &kept, self.team, &self.key)?;
                self.write(&pack::index_name(pack_id), sealed).await?;
                report.indexes_rewritten += 1;
            }
        }
        // Forget what was loaded, and load what is there now.
        self.lock_index().clear();
        self.lock_untrusted().clear();
        self.indexed_packs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.load_new_indexes().await?;
        Ok(report)
    }

    /// Bytes in the repository's packs, indexes and manifests.
    pub async fn stored_bytes(&self) -> Result<u64, SnapshotError> {
        let mut total = 0;
        for dir in ["packs", "index", "snapshots"] {
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

fn storage_error(path: &ObjectPath, source: object_store::Error) -> SnapshotError {
    SnapshotError::Storage {
        path: path.to_string(),
        source,
    }
}

/// Flush a written file and the directory entry that names it to disk.
async fn sync_file_and_directory(file: PathBuf) -> Result<(), SnapshotError> {
    let synced = tokio::task::spawn_blocking(move || {
        let sync = |path: &Path| {
            File::open(path)
                .and_then(|f| f.sync_all())
                .map_err(|source| SnapshotError::Io {
                    path: path.to_owned(),
                    source,
                })
        };
        sync(&file)?;
        file.parent().map_or(Ok(()), sync)
    })
    .await;
    synced.map_err(|e| SnapshotError::Io {
        path: PathBuf::new(),
        source: io::Error::other(e.to_string()),
    })?
}

/// Why a pack cannot be trusted, given its size (`None`: missing) and its index.
fn pack_damage(size: Option<u64>, entries: &[(Digest, Location)]) -> Option<String> {
    let end = pack::indexed_end(entries);
    match size {
        None => Some("missing".to_owned()),
        Some(size) if size < end => Some(format!(
            "truncated: {size} bytes, but its index lists objects up to byte {end}"
        )),
        Some(_) => None,
    }
}

/// [`index::ObjectIndex::prefer_trusted`] for the indexes `verify`, `check` and
/// `repair_index` read afresh.
fn prefer_trusted(
    index: &mut HashMap<Digest, Location>,
    untrusted: &HashSet<PackId>,
    digest: Digest,
    location: Location,
) {
    match index.entry(digest) {
        std::collections::hash_map::Entry::Vacant(slot) => {
            slot.insert(location);
        }
        std::collections::hash_map::Entry::Occupied(mut slot) => {
            if untrusted.contains(&slot.get().pack) && !untrusted.contains(&location.pack) {
                slot.insert(location);
            }
        }
    }
}

fn report_problem(problems: &mut Vec<VerifyProblem>, location: String, message: String) {
    problems.push(VerifyProblem { location, message });
}

/// A backup fills the writer page by page.
impl SnapshotSink for SnapshotWriter<'_> {
    type Error = SnapshotError;

    async fn add(&mut self, resources: &[Resource]) -> Result<(), SnapshotError> {
        self.add_all(resources).await
    }

    fn warn(&mut self, warning: String) {
        self.snapshot.warnings.push(warning);
    }

    async fn kind_finished(&mut self, kind: &ResourceKind) -> Result<(), SnapshotError> {
        self.finish_kind(kind).await
    }

    async fn release_kind(&mut self, kind: &ResourceKind) -> Result<(), SnapshotError> {
        self.store_kind(kind).await.map(drop)
    }

    async fn carry(
        &mut self,
        kind: &ResourceKind,
        entries: Vec<ManifestEntry>,
    ) -> Result<Vec<ManifestEntry>, SnapshotError> {
        SnapshotWriter::carry(self, kind, entries).await
    }

    fn resumed_kinds(&self) -> BTreeMap<ResourceKind, u64> {
        SnapshotWriter::resumed_kinds(self)
    }

    /// Returns the snapshot without its entries: they are in the repository.
    async fn finish(
        self,
        finished_at: DateTime<Utc>,
        status: SnapshotStatus,
    ) -> Result<(Snapshot, WriteStats), SnapshotError> {
        self.seal(finished_at, status).await
    }
}

/// The backup runner writes new snapshots here.
impl SnapshotTarget for SnapshotRepository {
    type Sink<'a> = SnapshotWriter<'a>;

    fn begin_snapshot(
        &self,
        provider: ProviderKind,
        org: &str,
        started_at: DateTime<Utc>,
    ) -> SnapshotWriter<'_> {
        self.begin(provider, org, started_at)
    }

    async fn resume_snapshot(
        &self,
        provider: ProviderKind,
        org: &str,
        started_at: DateTime<Utc>,
    ) -> Result<SnapshotWriter<'_>, SnapshotError> {
        self.resume(provider, org, started_at).await
    }
}

impl From<SnapshotError> for SourceError {
    /// Missing snapshots and objects keep their meaning; damage is
    /// [`SourceError::Damaged`], naming what is damaged; a store or key that cannot be
    /// used is [`SourceError::Backend`].
    fn from(e: SnapshotError) -> Self {
        match e {
            SnapshotError::NotFound(id) => SourceError::NotFound(id),
            SnapshotError::NoMatch(text) => SourceError::NoMatch(text),
            SnapshotError::Ambiguous { prefix, matches } => {
                SourceError::Ambiguous { prefix, matches }
            }
            SnapshotError::MissingObject(digest) | SnapshotError::MissingPack { digest, .. } => {
                SourceError::MissingObject(digest)
            }
            SnapshotError::Manifest { id, reason } => SourceError::Damaged {
                what: format!("snapshot {id}"),
                reason,
            },
            SnapshotError::Pack(PackError::Damaged { what, reason }) => {
                SourceError::Damaged { what, reason }
            }
            SnapshotError::Json { digest, source } => SourceError::Damaged {
                what: format!("object {digest}"),
                reason: format!("not JSON: {source}"),
            },
            other => SourceError::Backend(Box::new(other)),
        }
    }
}

/// How many objects [`SnapshotSource::visit_kind`] reads at a time: large enough that
/// a chunk spans few packs, small enough that its bytes stay a few MiB.
const VISIT_CHUNK: usize = 2048;

/// Diff, restore, compliance and exports read snapshots through this.
#[async_trait::async_trait]
impl SnapshotSource for SnapshotRepository {
    async fn summaries(&self) -> Result<Vec<SnapshotSummary>, SourceError> {
        Ok(self.list().await?)
    }

    async fn manifest(&self, id: SnapshotId) -> Result<Snapshot, SourceError> {
        let snapshot = SnapshotRepository::manifest(self, id).await?;
        snapshot
            .check_consistency()
            .map_err(|e| SourceError::Damaged {
                what: format!("snapshot {id}"),
                reason: e.to_string(),
            })?;
        Ok(snapshot)
    }

    async fn object(&self, digest: &Digest) -> Result<Value, SourceError> {
        Ok(self.get_json(digest).await?)
    }

    async fn kind_entries(
        &self,
        id: SnapshotId,
        kind: &ResourceKind,
    ) -> Result<Vec<ManifestEntry>, SourceError> {
        Ok(SnapshotRepository::kind_entries(self, id, kind).await?)
    }

    /// Reads the kind a chunk at a time, each chunk's packs once ([`get_many`]), and lends
    /// each object in manifest order.
    ///
    /// [`get_many`]: SnapshotRepository::get_many
    async fn visit_kind(
        &self,
        snapshot: &Snapshot,
        kind: &ResourceKind,
        visit: &mut (dyn for<'v> FnMut(&'v str, &'v Value) + Send),
    ) -> Result<(), SourceError> {
        let entries = snapshot
            .kinds
            .get(kind)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for chunk in entries.chunks(VISIT_CHUNK) {
            let digests: Vec<Digest> = chunk.iter().map(|e| e.digest).collect();
            let bodies = self.get_many(&digests).await?;
            for (entry, bytes) in chunk.iter().zip(bodies) {
                let attributes: Value =
                    serde_json::from_slice(&bytes).map_err(|source| SnapshotError::Json {
                        digest: entry.digest,
                        source,
                    })?;
                visit(&entry.id, &attributes);
            }
        }
        Ok(())
    }

    async fn resource(
        &self,
        id: SnapshotId,
        kind: &ResourceKind,
        resource_id: &str,
    ) -> Result<Option<Resource>, SourceError> {
        Ok(SnapshotRepository::resource(self, id, kind, resource_id).await?)
    }

    async fn resolve(&self, text: &str) -> Result<SnapshotId, SourceError> {
        Ok(SnapshotRepository::resolve(self, text).await?)
    }
}

/// One snapshot being written. Add resources with [`SnapshotWriter::add`], then
/// [`SnapshotWriter::finish`]; dropping it unfinished leaves no snapshot.
#[derive(Debug)]
pub struct SnapshotWriter<'r> {
    repo: &'r SnapshotRepository,
    snapshot: Snapshot,
    pack: PackBuilder,
    /// Objects in the open pack, not yet in the repository's index (their locations are
    /// in the pack builder: a set, not a second map of them).
    pending: HashSet<Digest>,
    stats: WriteStats,
    /// Objects stored again because the only indexed copy is in an untrusted pack.
    stored_again: u64,
    /// The repository's shared lock, from the first object to the manifest.
    lock: Option<prune::HeldLock>,
    /// The checkpoint a resumable writer keeps (see [`SnapshotRepository::resume`]).
    checkpoint: Option<checkpoint::CheckpointState>,
    /// Kinds whose entries are stored as entry lists (in this snapshot's packs, open or
    /// flushed) and no longer held in `snapshot.kinds`: a kind is moved here when it
    /// finishes, so a large org's manifest is never held whole. The seal reads them back
    /// one list at a time for the root digest.
    stored_kinds: BTreeMap<ResourceKind, StoredKind>,
    /// Kinds with more than [`spill::SPILL_AT`] entries so far: all but the last of them
    /// are in sorted runs in temporary files, merged when the kind is stored.
    spilled: BTreeMap<ResourceKind, spill::Spill>,
}

/// A kind whose entries are stored as entry-list objects, not held in memory.
#[derive(Debug, Clone)]
struct StoredKind {
    /// Its entry lists, in id order.
    chunks: Vec<Digest>,
    /// How many entries they hold (at least one: a kind without entries is not listed).
    count: u64,
}

impl Drop for SnapshotWriter<'_> {
    fn drop(&mut self) {
        self.abandon_lock();
    }
}

impl SnapshotWriter<'_> {
    /// The snapshot's id.
    pub fn id(&self) -> SnapshotId {
        self.snapshot.id
    }

    /// Store one resource (if its content is new) and list it in the manifest.
    pub async fn add(&mut self, resource: &Resource) -> Result<Digest, SnapshotError> {
        let digest = self
            .add_object(&canonical_json(&resource.attributes))
            .await?;
        self.record(&resource.kind, resource.id.clone(), digest)?;
        Ok(digest)
    }

    /// Record one manifest entry, spilling the kind's entries to a sorted run once it
    /// holds [`spill::SPILL_AT`] of them.
    fn record(
        &mut self,
        kind: &ResourceKind,
        id: String,
        digest: Digest,
    ) -> Result<(), SnapshotError> {
        self.stats.resources += 1;
        self.snapshot.insert(kind.clone(), id, digest);
        if let Some(entries) = self.snapshot.kinds.get_mut(kind)
            && entries.len() >= spill::SPILL_AT
        {
            self.spilled
                .entry(kind.clone())
                .or_default()
                .push_run(entries)
                .map_err(scratch_error)?;
        }
        Ok(())
    }

    /// Record entries of `kind` whose objects the repository already holds in a trusted
    /// pack (or this writer's open pack), without reading or storing them again: an
    /// incremental backup's unchanged resources. Returns the entries whose object is not
    /// held, or only in a damaged pack, for the caller to [`add`](Self::add) with their
    /// bodies.
    pub async fn carry(
        &mut self,
        kind: &ResourceKind,
        entries: Vec<ManifestEntry>,
    ) -> Result<Vec<ManifestEntry>, SnapshotError> {
        // Before the index is consulted, as for `add_object`: a prune must not delete an
        // object between this check and the seal.
        self.ensure_lock().await?;
        let mut not_held = Vec::new();
        for entry in entries {
            let held = self.pending.contains(&entry.digest)
                || self.repo.stored_copy(&entry.digest)? == Some(true);
            if held {
                self.record(kind, entry.id, entry.digest)?;
            } else {
                not_held.push(entry);
            }
        }
        Ok(not_held)
    }

    /// Store bytes unless the repository or the open pack has them already.
    async fn add_object(&mut self, bytes: &[u8]) -> Result<Digest, SnapshotError> {
        // Before the index is consulted: see `prune` for why.
        self.ensure_lock().await?;
        let digest = Digest::of_bytes(bytes);
        let stored = if self.pending.contains(&digest) {
            Some(true)
        } else {
            self.repo.stored_copy(&digest)?
        };
        if stored != Some(true) {
            if stored == Some(false) {
                self.stored_again += 1;
            }
            self.pack
                .add(self.repo.team, &self.repo.key, digest, bytes)?;
            self.pending.insert(digest);
            self.stats.new_objects += 1;
            if self.pack.len_bytes() >= self.repo.pack_target {
                self.flush().await?;
            }
        }
        Ok(digest)
    }

    /// Record a warning (a skipped kind...) in the manifest.
    pub fn warn(&mut self, warning: impl Into<String>) {
        self.snapshot.warnings.push(warning.into());
    }

    /// Store a page of resources.
    pub async fn add_all(&mut self, resources: &[Resource]) -> Result<(), SnapshotError> {
        for resource in resources {
            self.add(resource).await?;
        }
        Ok(())
    }

    /// What was written so far.
    pub fn stats(&self) -> WriteStats {
        self.stats
    }

    /// Write the open pack, then its index, and make its objects known.
    async fn flush(&mut self) -> Result<(), SnapshotError> {
        if self.pack.is_empty() {
            return Ok(());
        }
        // The next pack's buffer is made once this one is stored and freed, not before:
        // two pack buffers at once were 16 MiB of a backup's peak.
        let pack = std::mem::replace(&mut self.pack, PackBuilder::with_capacity(0))
            .finish(self.repo.team, &self.repo.key)?;
        let bytes = (pack.pack.len() + pack.index.len()) as u64;
        // The pack first: an index that is stored always names a pack that is.
        self.repo
            .write(&pack::pack_name(pack.id), pack.pack)
            .await?;
        self.repo
            .write(&pack::index_name(pack.id), pack.index)
            .await?;
        self.stats.new_bytes += bytes;
        self.stats.packs += 1;
        {
            // Scoped rather than dropped: the guards must be gone before the next await.
            let untrusted = self.repo.lock_untrusted();
            let mut index = self.repo.lock_index();
            for (digest, location) in pack.entries {
                index
                    .prefer_trusted(&untrusted, digest, location)
                    .map_err(scratch_error)?;
            }
        }
        self.repo
            .indexed_packs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(pack.id);
        self.pending.clear();
        self.pack = self.repo.new_pack();
        // Only now are the finished kinds' objects all stored: the checkpoint may name them.
        self.save_checkpoint().await
    }

    /// Write the last pack, then seal and write the manifest: only now does the snapshot
    /// exist.
    pub async fn finish(
        self,
        finished_at: DateTime<Utc>,
        status: SnapshotStatus,
    ) -> Result<Snapshot, SnapshotError> {
        self.finish_with_stats(finished_at, status)
            .await
            .map(|(snapshot, _)| snapshot)
    }

    /// [`SnapshotWriter::finish`], also returning what was written.
    ///
    /// The snapshot returned holds its entries, read back from the repository: for
    /// callers that use them at once. A backup runner seals through
    /// [`SnapshotSink::finish`], which returns it without them, so a large org's
    /// manifest is never held whole.
    pub async fn finish_with_stats(
        self,
        finished_at: DateTime<Utc>,
        status: SnapshotStatus,
    ) -> Result<(Snapshot, WriteStats), SnapshotError> {
        let repo = self.repo;
        let (mut snapshot, stats) = self.seal(finished_at, status).await?;
        snapshot.kinds = repo.manifest(snapshot.id).await?.kinds;
        Ok((snapshot, stats))
    }

    /// Store `kind`'s entries held in memory as entry lists, sorted, and drop them from
    /// memory; returns the kind's lists. Entries added after the kind was stored are
    /// merged with the stored ones (read back), so the lists always hold the whole kind.
    pub(crate) async fn store_kind(
        &mut self,
        kind: &ResourceKind,
    ) -> Result<Vec<Digest>, SnapshotError> {
        let spilled = self.spilled.remove(kind);
        let Some(mut entries) = self
            .snapshot
            .kinds
            .remove(kind)
            .or_else(|| spilled.as_ref().map(|_| Vec::new()))
        else {
            return Ok(self
                .stored_kinds
                .get(kind)
                .map(|stored| stored.chunks.clone())
                .unwrap_or_default());
        };
        if let Some(earlier) = self.stored_kinds.remove(kind) {
            // Readable only once their pack is stored and indexed.
            if earlier.chunks.iter().any(|c| self.pending.contains(c)) {
                self.flush().await?;
            }
            for chunk in &earlier.chunks {
                entries.extend(self.repo.entry_list(self.snapshot.id, kind, chunk).await?);
            }
        }
        // Sorted as the sealed manifest is, so these lists are the very objects it points
        // to (and a checkpoint's lists cost the manifest nothing more). The spilled runs
        // and what is in memory are merged one entry at a time.
        let mut merged = spilled
            .unwrap_or_default()
            .merge(entries)
            .map_err(scratch_error)?;
        let mut chunks = Vec::new();
        let mut count = 0u64;
        let mut chunk = Vec::with_capacity(ENTRY_LIST_CHUNK);
        loop {
            let next = merged.next_entry().map_err(scratch_error)?;
            let end = next.is_none();
            if let Some(entry) = next {
                chunk.push(entry);
                count += 1;
            }
            if chunk.len() == ENTRY_LIST_CHUNK || (end && !chunk.is_empty()) {
                chunks.push(
                    self.add_object(&manifest::encode_entry_list(&chunk))
                        .await?,
                );
                chunk.clear();
            }
            if end {
                break;
            }
        }
        if count > 0 {
            self.stored_kinds.insert(
                kind.clone(),
                StoredKind {
                    chunks: chunks.clone(),
                    count,
                },
            );
        }
        Ok(chunks)
    }

    /// Store what is still in memory, compute the root digest from the stored entry
    /// lists, and write the manifest: the snapshot, without entries, and what was
    /// written.
    async fn seal(
        mut self,
        finished_at: DateTime<Utc>,
        status: SnapshotStatus,
    ) -> Result<(Snapshot, WriteStats), SnapshotError> {
        // The manifest replaces the checkpoint: no need to rewrite it on the way.
        let checkpoint = self.checkpoint.take();
        // Said in the snapshot itself, so whoever reads it knows the repository was
        // damaged when it was written (and that this snapshot does not depend on it).
        let stored_again = self.stored_again;
        if stored_again > 0 {
            let mut packs: Vec<String> = self
                .repo
                .lock_untrusted()
                .iter()
                .map(ToString::to_string)
                .collect();
            packs.sort();
            self.snapshot.warnings.push(format!(
                "repository damaged: {stored_again} object(s) were stored again because their \
                 packs are missing or truncated ({}); run `butterfly check` and \
                 `butterfly repair index`",
                packs.join(", ")
            ));
        }
        let id = self.snapshot.id;
        let manifest_error = |reason: String| SnapshotError::Manifest {
            id: id.to_string(),
            reason,
        };
        // The entry lists go into packs as objects, in chunks, so an unchanged kind costs
        // the next snapshot nothing: the manifest file itself stays small.
        let in_memory: Vec<ResourceKind> = self.snapshot.kinds.keys().cloned().collect();
        for kind in &in_memory {
            self.store_kind(kind).await?;
        }
        self.flush().await?;
        // Every kind is stored now: the root digest is read back one list at a time.
        let mut root = RootDigest::new(self.snapshot.provider, &self.snapshot.org);
        for (kind, stored) in &self.stored_kinds {
            root.kind(kind, stored.count);
            for chunk in &stored.chunks {
                for entry in self.repo.entry_list(id, kind, chunk).await? {
                    root.entry(&entry.id, &entry.digest);
                }
            }
        }
        self.snapshot.counts = self
            .stored_kinds
            .iter()
            .map(|(kind, stored)| (kind.clone(), stored.count))
            .collect();
        self.snapshot.finished_at = Some(finished_at);
        self.snapshot.status = status;
        self.snapshot.root_digest = root.finish();
        let entry_lists: BTreeMap<ResourceKind, Vec<Digest>> = self
            .stored_kinds
            .iter()
            .map(|(kind, stored)| (kind.clone(), stored.chunks.clone()))
            .collect();
        self.confirm_lock().await?;
        let plain = StoredManifest::new(&self.snapshot, &entry_lists)
            .and_then(|stored| stored.to_bytes())
            .map_err(|e| manifest_error(e.to_string()))?;
        let sealed = seal_bytes(
            self.repo.team,
            &self.repo.key,
            &SnapshotRepository::manifest_address(id),
            &plain,
        )
        .map_err(manifest_error)?;
        self.stats.manifest_bytes = sealed.len() as u64;
        // Last: only now does the snapshot exist.
        self.repo
            .write(&SnapshotRepository::manifest_name(id), sealed)
            .await?;
        if let Some(checkpoint) = checkpoint {
            // The snapshot exists: a checkpoint left behind is ignored by the next run, so
            // failing to remove it is no reason to fail the backup.
            if let Err(e) = checkpoint.remove(self.repo).await {
                tracing::warn!(error = %e, "cannot remove the backup's checkpoint");
            }
        }
        self.release_lock().await?;
        let snapshot = std::mem::replace(
            &mut self.snapshot,
            Snapshot::begin(ProviderKind::Okta, String::new(), finished_at),
        );
        Ok((snapshot, self.stats))
    }
}
