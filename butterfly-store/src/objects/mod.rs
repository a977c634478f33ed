//! The snapshot repository: content-addressed, deduplicated, encrypted objects.
//!
//! An [`ObjectRepository`] keeps each distinct resource body once per team, under the
//! SHA-256 of its bytes, and each snapshot manifest under its id:
//!
//! ```text
//! teams/{team id}/objects/{first 2 hex of digest}/{64 hex digest}
//! teams/{team id}/snapshots/{snapshot id}.json
//! ```
//!
//! Every stored file is zstd-compressed, then sealed with AES-256-GCM under a key
//! derived for the team from the installation's [`MasterKey`], with the file's own path
//! as associated data (see the format in the `envelope` module source). Reading checks,
//! in order, that the file is one of ours, that it belongs to this team and key, that it
//! is whole, that it was not modified or moved, and finally that the plaintext hashes to
//! the digest it was asked for. Each failure has its own [`ObjectError`] variant; none
//! returns garbage and none panics.
//!
//! Storage goes through [`object_store`], so the same code writes to a local directory
//! today and to S3-compatible storage later. Writes use a single `put`, which on a local
//! directory writes a temporary file and renames it: a crash never leaves half an object
//! at its final path.

mod envelope;
mod key;
pub mod pack;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use butterfly_core::{Digest, Snapshot, SnapshotId, TeamId, canonical_json};
use futures::TryStreamExt as _;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, PutMode, PutPayload};
use serde_json::Value;
use thiserror::Error;

use crate::snapshots::{SnapshotError, SnapshotRepository};
use envelope::{OpenError, SealError};
pub use key::{KeyError, MASTER_KEY_FILE, MasterKey, TeamKey};

/// Errors from the object repository.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ObjectError {
    /// Nothing is stored at this path.
    #[error("object {path} not found")]
    NotFound {
        /// The object's path in the store.
        path: String,
    },
    /// The file does not start with the object format's magic bytes.
    #[error("{path} is not a Butterfly object")]
    NotAnObject {
        /// The object's path.
        path: String,
    },
    /// The file was written by a newer format version.
    #[error("{path} uses object format version {version}, which this build cannot read")]
    UnsupportedVersion {
        /// The object's path.
        path: String,
        /// The version byte found.
        version: u8,
    },
    /// The file belongs to another team (it was copied here from another team's area).
    #[error("{path} belongs to team {found}, not to team {expected}")]
    WrongTeam {
        /// The object's path.
        path: String,
        /// The team whose area it was read from.
        expected: TeamId,
        /// The team recorded in the object.
        found: TeamId,
    },
    /// The file was encrypted under another key: the master key is not the one it was
    /// written with.
    #[error("{path} was encrypted under a different key (is this the right master key?)")]
    WrongKey {
        /// The object's path.
        path: String,
    },
    /// The file is shorter than its header says: an interrupted copy or a full disk.
    #[error("{path} is truncated: {actual} of {expected} bytes")]
    Truncated {
        /// The object's path.
        path: String,
        /// Bytes the header promises (or the minimum for a header).
        expected: u64,
        /// Bytes found.
        actual: u64,
    },
    /// Authentication failed: the ciphertext, the header or the object's address was
    /// changed since it was written.
    #[error("{path} failed authentication: it was modified or moved")]
    Tampered {
        /// The object's path.
        path: String,
    },
    /// The content decrypted but did not decompress, which only a writer bug can cause.
    #[error("{path} decrypted but does not decompress")]
    Decompress {
        /// The object's path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The content decrypted, but does not hash to the digest it is stored under.
    #[error("{path} holds content with digest {actual}, not {expected}")]
    DigestMismatch {
        /// The object's path.
        path: String,
        /// The digest asked for.
        expected: Digest,
        /// The digest of what was found.
        actual: Digest,
    },
    /// A manifest file holds another snapshot than its name says.
    #[error("{path} holds snapshot {found}")]
    ManifestMismatch {
        /// The manifest's path.
        path: String,
        /// The id inside it.
        found: SnapshotId,
    },
    /// Content could not be compressed.
    #[error("cannot compress an object")]
    Compress(#[source] std::io::Error),
    /// Content could not be encrypted (it exceeds what AES-GCM may encrypt at once).
    #[error("cannot encrypt an object")]
    Encrypt,
    /// Stored JSON did not parse, or a value did not serialize.
    #[error("invalid JSON in {path}")]
    Json {
        /// The object's path.
        path: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The underlying store failed.
    #[error("object storage failed")]
    Storage(#[from] object_store::Error),
    /// The master key could not be loaded.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The repository URL is not one this build supports.
    #[error("unsupported object store URL scheme `{scheme}`: only file:// and s3:// are supported")]
    UnsupportedUrl {
        /// The scheme of the rejected URL (the rest is not kept: it may hold credentials).
        scheme: String,
    },
    /// The repository URL did not parse, or names no local directory.
    #[error("invalid object store URL: {0}")]
    InvalidUrl(String),
    /// The local directory could not be created.
    #[error("cannot create the object directory {path}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl ObjectError {
    fn from_open(path: &ObjectPath, team: TeamId, e: OpenError) -> Self {
        let path = path.to_string();
        match e {
            OpenError::NotAnObject => ObjectError::NotAnObject { path },
            OpenError::UnsupportedVersion(version) => {
                ObjectError::UnsupportedVersion { path, version }
            }
            OpenError::WrongTeam(found) => ObjectError::WrongTeam {
                path,
                expected: team,
                found,
            },
            OpenError::WrongKey => ObjectError::WrongKey { path },
            OpenError::Truncated { expected, actual } => ObjectError::Truncated {
                path,
                expected,
                actual,
            },
            OpenError::Tampered => ObjectError::Tampered { path },
            OpenError::Decompress(source) => ObjectError::Decompress { path, source },
        }
    }
}

impl From<SealError> for ObjectError {
    fn from(e: SealError) -> Self {
        match e {
            SealError::Compress(source) => ObjectError::Compress(source),
            SealError::Encrypt => ObjectError::Encrypt,
        }
    }
}

/// Encrypted, deduplicated storage of snapshot objects and manifests, per team.
///
/// Cheap to clone: clones share the store.
#[derive(Debug, Clone)]
pub struct ObjectRepository {
    store: Arc<dyn ObjectStore>,
    master: MasterKey,
    /// The directory `store` writes into, when it is a local one.
    local_dir: Option<PathBuf>,
}

impl ObjectRepository {
    /// A repository over any [`ObjectStore`].
    pub fn new(store: Arc<dyn ObjectStore>, master: MasterKey) -> Self {
        ObjectRepository {
            store,
            master,
            local_dir: None,
        }
    }

    /// A repository in a local directory, created if missing.
    pub fn local(dir: &Path, master: MasterKey) -> Result<Self, ObjectError> {
        std::fs::create_dir_all(dir).map_err(|source| ObjectError::Directory {
            path: dir.to_owned(),
            source,
        })?;
        let store = LocalFileSystem::new_with_prefix(dir)?;
        let mut repo = ObjectRepository::new(Arc::new(store), master);
        repo.local_dir = Some(dir.to_owned());
        Ok(repo)
    }

    /// The store itself, shared.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.store)
    }

    /// Where `team`'s packed snapshot repository is in the store.
    pub fn snapshot_repository_prefix(team: TeamId) -> ObjectPath {
        ObjectPath::from(format!("teams/{team}/repository"))
    }

    /// `team`'s packed snapshot repository in this store, under
    /// [`ObjectRepository::snapshot_repository_prefix`], encrypted under the team's key:
    /// replicas sharing the store share the repository. Opening reads every pack index,
    /// so open it once and share it.
    pub async fn snapshot_repository(
        &self,
        team: TeamId,
    ) -> Result<SnapshotRepository, SnapshotError> {
        let repo = SnapshotRepository::open_in(
            self.store(),
            Self::snapshot_repository_prefix(team),
            &self.master,
            team,
        )
        .await?;
        Ok(match &self.local_dir {
            Some(dir) => repo.syncing_files_under(dir),
            None => repo,
        })
    }

    /// A repository at `url`, with the master key from `data_dir/master.key` (created
    /// on first use, see [`MasterKey::load_or_create`]).
    ///
    /// Supported:
    ///
    /// - `file:///absolute/path`: a local directory, created if missing.
    /// - `s3://bucket[/prefix]`: S3 or an S3-compatible service. Credentials, region and
    ///   endpoint come from the usual `AWS_*` environment variables (`AWS_ACCESS_KEY_ID`,
    ///   `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT` for a compatible service,
    ///   `AWS_ALLOW_HTTP` for one without TLS), never from the URL, which may be logged.
    pub fn from_url(url: &str, data_dir: &Path) -> Result<Self, ObjectError> {
        let scheme = url.split_once(':').map(|(scheme, _)| scheme);
        if scheme.is_some_and(|s| s.eq_ignore_ascii_case("s3")) {
            let store = s3_store(url)?;
            let master = MasterKey::load_or_create(data_dir)?;
            return Ok(ObjectRepository::new(store, master));
        }
        let dir = local_dir_of_url(url)?;
        let master = MasterKey::load_or_create(data_dir)?;
        ObjectRepository::local(&dir, master)
    }

    /// Where an object is stored.
    pub fn object_path(team: TeamId, digest: &Digest) -> ObjectPath {
        let hex = digest.to_hex();
        ObjectPath::from(format!("teams/{team}/objects/{}/{hex}", &hex[..2]))
    }

    /// Where a snapshot manifest is stored.
    pub fn manifest_path(team: TeamId, id: SnapshotId) -> ObjectPath {
        ObjectPath::from(format!("teams/{team}/snapshots/{id}.json"))
    }

    /// Store `bytes` for `team`; returns their digest. Content already stored is not
    /// written again.
    pub async fn put(&self, team: TeamId, bytes: &[u8]) -> Result<Digest, ObjectError> {
        let digest = Digest::of_bytes(bytes);
        let path = Self::object_path(team, &digest);
        // Most objects of an hourly backup are unchanged: a HEAD saves compressing and
        // encrypting them again.
        if self.exists(&path).await? {
            return Ok(digest);
        }
        let sealed = envelope::seal(team, &self.master.team_key(team), path.as_ref(), bytes)?;
        // Create-only, so two writers racing on the same content do not both replace
        // the file; the loser finds it there, which is just as good.
        // PutPayload shares its buffer: the clone for the fallback below copies nothing.
        let payload = PutPayload::from(sealed);
        let written = self
            .store
            .put_opts(&path, payload.clone(), PutMode::Create.into())
            .await;
        match written {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(digest),
            // Stores without conditional writes: overwriting is harmless, the content
            // is the same by definition.
            Err(object_store::Error::NotImplemented) => {
                self.store.put(&path, payload).await?;
                Ok(digest)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The bytes stored for `team` under `digest`, checked against it.
    pub async fn get(&self, team: TeamId, digest: &Digest) -> Result<Vec<u8>, ObjectError> {
        let path = Self::object_path(team, digest);
        let plain = self.read(team, &path).await?;
        let actual = Digest::of_bytes(&plain);
        if actual != *digest {
            return Err(ObjectError::DigestMismatch {
                path: path.to_string(),
                expected: *digest,
                actual,
            });
        }
        Ok(plain)
    }

    /// Whether `team` has an object under `digest` (without reading or checking it).
    pub async fn contains(&self, team: TeamId, digest: &Digest) -> Result<bool, ObjectError> {
        self.exists(&Self::object_path(team, digest)).await
    }

    /// Store a JSON value in canonical form; returns [`Digest::of_json`] of it.
    pub async fn put_json(&self, team: TeamId, value: &Value) -> Result<Digest, ObjectError> {
        self.put(team, &canonical_json(value)).await
    }

    /// A JSON value stored with [`ObjectRepository::put_json`].
    pub async fn get_json(&self, team: TeamId, digest: &Digest) -> Result<Value, ObjectError> {
        let bytes = self.get(team, digest).await?;
        serde_json::from_slice(&bytes).map_err(|source| ObjectError::Json {
            path: Self::object_path(team, digest).to_string(),
            source,
        })
    }

    /// Store a snapshot manifest, replacing an earlier version of the same snapshot (a
    /// running backup writes its manifest again when it seals it).
    pub async fn put_manifest(&self, team: TeamId, snapshot: &Snapshot) -> Result<(), ObjectError> {
        let path = Self::manifest_path(team, snapshot.id);
        let value = serde_json::to_value(snapshot).map_err(|source| ObjectError::Json {
            path: path.to_string(),
            source,
        })?;
        let sealed = envelope::seal(
            team,
            &self.master.team_key(team),
            path.as_ref(),
            &canonical_json(&value),
        )?;
        self.store.put(&path, PutPayload::from(sealed)).await?;
        Ok(())
    }

    /// A snapshot manifest. Its consistency (counts, root digest) is the caller's to
    /// check with [`Snapshot::check_consistency`], since a running snapshot has none yet.
    pub async fn get_manifest(
        &self,
        team: TeamId,
        id: SnapshotId,
    ) -> Result<Snapshot, ObjectError> {
        let path = Self::manifest_path(team, id);
        let plain = self.read(team, &path).await?;
        let snapshot: Snapshot =
            serde_json::from_slice(&plain).map_err(|source| ObjectError::Json {
                path: path.to_string(),
                source,
            })?;
        if snapshot.id != id {
            return Err(ObjectError::ManifestMismatch {
                path: path.to_string(),
                found: snapshot.id,
            });
        }
        Ok(snapshot)
    }

    /// The ids of `team`'s stored manifests, sorted by id (which says nothing of time:
    /// read the manifests for their start times).
    pub async fn list_manifests(&self, team: TeamId) -> Result<Vec<SnapshotId>, ObjectError> {
        let prefix = ObjectPath::from(format!("teams/{team}/snapshots"));
        let metas: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        let mut ids: Vec<SnapshotId> = metas
            .iter()
            .filter_map(|meta| {
                meta.location
                    .filename()?
                    .strip_suffix(".json")?
                    .parse()
                    .ok()
            })
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    async fn exists(&self, path: &ObjectPath) -> Result<bool, ObjectError> {
        match self.store.head(path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Seal a small secret (an SSO client secret, a pending-login cookie) for `team`,
    /// bound to `purpose`: the same envelope as objects (AES-256-GCM under the team's
    /// key), so a value sealed for one team or purpose does not open as another.
    pub fn seal_secret(
        &self,
        team: TeamId,
        purpose: &str,
        secret: &[u8],
    ) -> Result<Vec<u8>, ObjectError> {
        let address = format!("secret:{purpose}");
        Ok(envelope::seal(
            team,
            &self.master.team_key(team),
            &address,
            secret,
        )?)
    }

    /// Open what [`ObjectRepository::seal_secret`] sealed; any change, another team or
    /// another purpose is an error.
    pub fn open_secret(
        &self,
        team: TeamId,
        purpose: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, ObjectError> {
        let address = format!("secret:{purpose}");
        envelope::open(team, &self.master.team_key(team), &address, sealed)
            .map_err(|e| ObjectError::from_open(&ObjectPath::from(address.as_str()), team, e))
    }

    async fn read(&self, team: TeamId, path: &ObjectPath) -> Result<Vec<u8>, ObjectError> {
        let stored = match self.store.get(path).await {
            Ok(result) => result.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(ObjectError::NotFound {
                    path: path.to_string(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        envelope::open(team, &self.master.team_key(team), path.as_ref(), &stored)
            .map_err(|e| ObjectError::from_open(path, team, e))
    }
}

/// Seal `plaintext` for `team` under `address` (for files outside the object layout,
/// such as snapshot manifests in a local repository).
pub(crate) fn seal_bytes(
    team: TeamId,
    key: &TeamKey,
    address: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, String> {
    envelope::seal(team, key, address, plaintext).map_err(|e| match e {
        SealError::Compress(e) => format!("cannot compress: {e}"),
        SealError::Encrypt => "cannot encrypt".to_owned(),
    })
}

/// Open what [`seal_bytes`] sealed, saying precisely what is wrong if it does not open.
pub(crate) fn open_sealed_bytes(
    team: TeamId,
    key: &TeamKey,
    address: &str,
    sealed: &[u8],
) -> Result<Vec<u8>, String> {
    envelope::open(team, key, address, sealed).map_err(|e| pack::describe_open_error(&e))
}

/// The store an `s3://bucket[/prefix]` URL names, configured from the environment.
fn s3_store(url: &str) -> Result<Arc<dyn ObjectStore>, ObjectError> {
    let invalid = |why: &str| ObjectError::InvalidUrl(why.to_owned());
    let rest = url
        .split_once("://")
        .map(|(_, rest)| rest)
        .ok_or_else(|| invalid("an S3 URL is s3://bucket or s3://bucket/prefix"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    // Refused without echoing the URL: `user:secret@bucket` would put a secret in logs.
    if bucket.is_empty() || bucket.contains(['@', ':']) || rest.contains(['?', '#']) {
        return Err(invalid(
            "an S3 URL is s3://bucket or s3://bucket/prefix, with no credentials, query or \
             fragment (credentials come from AWS_* environment variables)",
        ));
    }
    let store = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .build()?;
    let prefix = ObjectPath::parse(prefix.trim_matches('/'))
        .map_err(|e| ObjectError::InvalidUrl(format!("invalid prefix in S3 URL: {e}")))?;
    Ok(if prefix.as_ref().is_empty() {
        Arc::new(store)
    } else {
        Arc::new(PrefixStore::new(store, prefix))
    })
}

/// The directory a `file://` URL names.
///
/// Accepts `file:///absolute/path` and `file://localhost/absolute/path`, with
/// percent-encoded characters; refuses other hosts, queries and fragments, and `.` or
/// `..` segments. Other schemes are [`ObjectError::UnsupportedUrl`], reported by scheme
/// only, since the rest of an object store URL may carry credentials.
fn local_dir_of_url(url: &str) -> Result<PathBuf, ObjectError> {
    let invalid = |why: &str| ObjectError::InvalidUrl(why.to_owned());
    let (scheme, rest) = url
        .split_once(':')
        .ok_or_else(|| invalid("expected a URL such as file:///var/lib/butterfly/objects"))?;
    if !scheme.eq_ignore_ascii_case("file") {
        return Err(ObjectError::UnsupportedUrl {
            scheme: scheme.to_owned(),
        });
    }
    let authority_and_path = rest
        .strip_prefix("//")
        .ok_or_else(|| invalid("a file URL starts with file://"))?;
    if authority_and_path.contains(['?', '#']) {
        return Err(invalid("a file URL takes no query or fragment"));
    }
    let path_at = authority_and_path
        .find('/')
        .unwrap_or(authority_and_path.len());
    let (host, path) = authority_and_path.split_at(path_at);
    if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
        return Err(invalid("a file URL must name a local path (no host)"));
    }
    if path.is_empty() {
        return Err(invalid("a file URL must name an absolute path"));
    }
    // object_store's own decoder: percent-decoding plus its rules for path segments.
    let decoded = ObjectPath::from_url_path(path)
        .map_err(|e| ObjectError::InvalidUrl(format!("invalid path in file URL: {e}")))?;
    let mut dir = PathBuf::from("/");
    for part in decoded.parts() {
        dir.push(part.as_ref());
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn s3_urls_name_a_bucket_and_a_prefix_without_touching_the_network() {
        // Building the client reads the environment and contacts nothing: a URL that
        // parses gives a store even offline.
        for url in [
            "s3://backups",
            "s3://backups/",
            "s3://backups/butterfly/prod",
        ] {
            assert!(s3_store(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn file_urls_name_local_directories() {
        for (url, dir) in [
            (
                "file:///var/lib/butterfly/objects",
                "/var/lib/butterfly/objects",
            ),
            (
                "file:///var/lib/butterfly/objects/",
                "/var/lib/butterfly/objects",
            ),
            ("FILE://localhost/srv/my%20backups", "/srv/my backups"),
            ("file:///", "/"),
        ] {
            assert_eq!(local_dir_of_url(url).unwrap(), PathBuf::from(dir), "{url}");
        }
        for bad in [
            "file:relative",
            "file://otherhost/x",
            "file://",
            "file:///a/../etc",
            "file:///a?x=1",
            "/no/scheme",
        ] {
            assert!(
                matches!(local_dir_of_url(bad), Err(ObjectError::InvalidUrl(_))),
                "{bad}"
            );
        }
    }

    fn repo() -> (tempfile::TempDir, ObjectRepository) {
        let dir = tempfile::tempdir().unwrap();
        let repo = ObjectRepository::local(dir.path(), MasterKey::from_bytes([3; 32])).unwrap();
        (dir, repo)
    }

    #[tokio::test]
    async fn json_round_trips_under_its_canonical_digest() {
        let (_dir, repo) = repo();
        let team = TeamId::new_random();
        let value = json!({"b": 1, "a": [true, null]});
        let digest = repo.put_json(team, &value).await.unwrap();
        assert_eq!(digest, Digest::of_json(&value));
        assert_eq!(repo.get_json(team, &digest).await.unwrap(), value);
        assert!(repo.contains(team, &digest).await.unwrap());
        assert!(!repo.contains(TeamId::new_random(), &digest).await.unwrap());
    }

    #[tokio::test]
    async fn content_under_the_wrong_digest_is_a_digest_mismatch() {
        // Only a holder of the key can produce this (the address is authenticated), so
        // it stands for a writer bug; it must still be caught.
        let (_dir, repo) = repo();
        let team = TeamId::new_random();
        let claimed = Digest::of_bytes(b"what the manifest expects");
        let path = ObjectRepository::object_path(team, &claimed);
        let sealed = envelope::seal(
            team,
            &repo.master.team_key(team),
            path.as_ref(),
            b"something else",
        )
        .unwrap();
        repo.store.put(&path, sealed.into()).await.unwrap();
        let err = repo.get(team, &claimed).await.unwrap_err();
        assert!(
            matches!(&err, ObjectError::DigestMismatch { expected, actual, .. }
                if *expected == claimed && *actual == Digest::of_bytes(b"something else")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn missing_object_is_not_found() {
        let (_dir, repo) = repo();
        let err = repo
            .get(TeamId::new_random(), &Digest::of_bytes(b"never stored"))
            .await
            .unwrap_err();
        assert!(matches!(err, ObjectError::NotFound { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn manifest_under_another_id_is_refused() {
        let (_dir, repo) = repo();
        let team = TeamId::new_random();
        let snapshot = Snapshot::begin(
            butterfly_core::ProviderKind::Okta,
            "https://x.okta.com",
            time::OffsetDateTime::UNIX_EPOCH,
        );
        let other = SnapshotId::new_random();
        let path = ObjectRepository::manifest_path(team, other);
        let value = serde_json::to_value(&snapshot).unwrap();
        let sealed = envelope::seal(
            team,
            &repo.master.team_key(team),
            path.as_ref(),
            &canonical_json(&value),
        )
        .unwrap();
        repo.store.put(&path, sealed.into()).await.unwrap();
        let err = repo.get_manifest(team, other).await.unwrap_err();
        assert!(matches!(err, ObjectError::ManifestMismatch { found, .. } if found == snapshot.id));
    }

    #[test]
    fn urls_other_than_file_and_s3_are_refused_without_echoing_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let err = ObjectRepository::from_url("gs://AKIA:secret@bucket/x", dir.path()).unwrap_err();
        assert!(matches!(&err, ObjectError::UnsupportedUrl { scheme } if scheme == "gs"));
        assert!(!err.to_string().contains("secret"));
        let err = ObjectRepository::from_url("s3://AKIA:secret@bucket/x", dir.path()).unwrap_err();
        assert!(matches!(&err, ObjectError::InvalidUrl(_)), "{err:?}");
        assert!(!err.to_string().contains("secret"));
        for bad in ["s3://", "s3:///x", "s3://bucket/x?versionId=1"] {
            assert!(
                matches!(
                    ObjectRepository::from_url(bad, dir.path()),
                    Err(ObjectError::InvalidUrl(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            ObjectRepository::from_url("not a url", dir.path()),
            Err(ObjectError::InvalidUrl(_))
        ));
    }
}
