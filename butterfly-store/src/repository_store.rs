//! Where a server keeps its teams' snapshot repositories, and the key they are sealed
//! under.
//!
//! A [`RepositoryStore`] is one object store (a local directory, or S3-compatible
//! storage) named by a URL, plus the installation's [`MasterKey`]. Each team's
//! [`SnapshotRepository`] lives in it under [`RepositoryStore::team_prefix`], encrypted
//! under the team's key derived from the master key, so server replicas sharing the store
//! and the key share the repositories. The same key also seals the small secrets a server
//! keeps per team in its database (SSO client secrets, provider private keys, pending
//! logins): see [`RepositoryStore::seal_secret`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use butterfly_core::TeamId;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use thiserror::Error;

use crate::format::key::{KeyError, MasterKey};
use crate::format::{open_sealed_bytes, seal_bytes};
use crate::snapshots::{SnapshotError, SnapshotRepository};

/// Errors from opening a [`RepositoryStore`] or from its sealed secrets.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RepositoryStoreError {
    /// The underlying store could not be configured.
    #[error("object storage failed")]
    Storage(#[from] object_store::Error),
    /// The master key could not be loaded.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The URL is not one this build supports.
    #[error("unsupported object store URL scheme `{scheme}`: only file:// and s3:// are supported")]
    UnsupportedUrl {
        /// The scheme of the rejected URL (the rest is not kept: it may hold credentials).
        scheme: String,
    },
    /// The URL did not parse, or names no local directory.
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
    /// A secret could not be sealed.
    #[error("cannot seal a `{purpose}` secret: {reason}")]
    Seal {
        /// What the secret is for.
        purpose: String,
        /// What went wrong.
        reason: String,
    },
    /// A sealed secret did not open: it was changed, or sealed for another team, another
    /// purpose or under another master key.
    #[error("sealed `{purpose}` secret does not open: {reason}")]
    Unseal {
        /// What the secret is for.
        purpose: String,
        /// What is wrong (never the secret).
        reason: String,
    },
}

/// Every team's snapshot repository in one object store, and the master key they are
/// keyed from. See the [module docs](self).
///
/// Cheap to clone: clones share the store.
#[derive(Debug, Clone)]
pub struct RepositoryStore {
    store: Arc<dyn ObjectStore>,
    master: MasterKey,
    /// The directory `store` writes into, when it is a local one.
    local_dir: Option<PathBuf>,
}

impl RepositoryStore {
    /// Repositories in any [`ObjectStore`].
    pub fn new(store: Arc<dyn ObjectStore>, master: MasterKey) -> Self {
        RepositoryStore {
            store,
            master,
            local_dir: None,
        }
    }

    /// Repositories in a local directory, created if missing.
    pub fn local(dir: &Path, master: MasterKey) -> Result<Self, RepositoryStoreError> {
        std::fs::create_dir_all(dir).map_err(|source| RepositoryStoreError::Directory {
            path: dir.to_owned(),
            source,
        })?;
        let store = LocalFileSystem::new_with_prefix(dir)?;
        let mut repos = RepositoryStore::new(Arc::new(store), master);
        repos.local_dir = Some(dir.to_owned());
        Ok(repos)
    }

    /// Repositories at `url`, with the master key from `data_dir/master.key` (created
    /// on first use, see [`MasterKey::load_or_create`]).
    ///
    /// Supported:
    ///
    /// - `file:///absolute/path`: a local directory, created if missing.
    /// - `s3://bucket[/prefix]`: S3 or an S3-compatible service. Credentials, region and
    ///   endpoint come from the usual `AWS_*` environment variables (`AWS_ACCESS_KEY_ID`,
    ///   `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT` for a compatible service,
    ///   `AWS_ALLOW_HTTP` for one without TLS), never from the URL, which may be logged.
    pub fn from_url(url: &str, data_dir: &Path) -> Result<Self, RepositoryStoreError> {
        let master = MasterKey::load_or_create(data_dir)?;
        Self::from_url_with_key(url, master)
    }

    /// [`RepositoryStore::from_url`] with a master key kept elsewhere (a file outside the
    /// data directory, an environment variable, a secrets manager), so a copy of the data
    /// directory and the object store is not a copy of what they protect.
    pub fn from_url_with_key(url: &str, master: MasterKey) -> Result<Self, RepositoryStoreError> {
        let scheme = url.split_once(':').map(|(scheme, _)| scheme);
        if scheme.is_some_and(|s| s.eq_ignore_ascii_case("s3")) {
            let store = s3_store(url)?;
            return Ok(RepositoryStore::new(store, master));
        }
        let dir = local_dir_of_url(url)?;
        RepositoryStore::local(&dir, master)
    }

    /// The store itself, shared.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.store)
    }

    /// Where `team`'s snapshot repository is in the store.
    pub fn team_prefix(team: TeamId) -> ObjectPath {
        ObjectPath::from(format!("teams/{team}/repository"))
    }

    /// `team`'s snapshot repository, under [`RepositoryStore::team_prefix`], encrypted
    /// under the team's key. Opening reads every pack index, so open it once and share
    /// it. Nothing is written until a snapshot is.
    pub async fn repository(&self, team: TeamId) -> Result<SnapshotRepository, SnapshotError> {
        let repo =
            SnapshotRepository::open_in(self.store(), Self::team_prefix(team), &self.master, team)
                .await?;
        Ok(match &self.local_dir {
            Some(dir) => repo.syncing_files_under(dir),
            None => repo,
        })
    }

    /// Seal a small secret (an SSO client secret, a pending-login cookie) for `team`,
    /// bound to `purpose`: the same envelope as repository files (zstd, then AES-256-GCM
    /// under the team's key), so a value sealed for one team or purpose does not open as
    /// another.
    pub fn seal_secret(
        &self,
        team: TeamId,
        purpose: &str,
        secret: &[u8],
    ) -> Result<Vec<u8>, RepositoryStoreError> {
        seal_bytes(
            team,
            &self.master.team_key(team),
            &secret_address(purpose),
            secret,
        )
        .map_err(|reason| RepositoryStoreError::Seal {
            purpose: purpose.to_owned(),
            reason,
        })
    }

    /// Open what [`RepositoryStore::seal_secret`] sealed; any change, another team or
    /// another purpose is an error.
    pub fn open_secret(
        &self,
        team: TeamId,
        purpose: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, RepositoryStoreError> {
        open_sealed_bytes(
            team,
            &self.master.team_key(team),
            &secret_address(purpose),
            sealed,
        )
        .map_err(|reason| RepositoryStoreError::Unseal {
            purpose: purpose.to_owned(),
            reason,
        })
    }
}

/// The envelope address of a secret: what binds it to its purpose.
fn secret_address(purpose: &str) -> String {
    format!("secret:{purpose}")
}

/// The store an `s3://bucket[/prefix]` URL names, configured from the environment.
fn s3_store(url: &str) -> Result<Arc<dyn ObjectStore>, RepositoryStoreError> {
    let invalid = |why: &str| RepositoryStoreError::InvalidUrl(why.to_owned());
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
        .map_err(|e| RepositoryStoreError::InvalidUrl(format!("invalid prefix in S3 URL: {e}")))?;
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
/// `..` segments. Other schemes are [`RepositoryStoreError::UnsupportedUrl`], reported by scheme
/// only, since the rest of an object store URL may carry credentials.
fn local_dir_of_url(url: &str) -> Result<PathBuf, RepositoryStoreError> {
    let invalid = |why: &str| RepositoryStoreError::InvalidUrl(why.to_owned());
    let (scheme, rest) = url
        .split_once(':')
        .ok_or_else(|| invalid("expected a URL such as file:///var/lib/butterfly/objects"))?;
    if !scheme.eq_ignore_ascii_case("file") {
        return Err(RepositoryStoreError::UnsupportedUrl {
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
        .map_err(|e| RepositoryStoreError::InvalidUrl(format!("invalid path in file URL: {e}")))?;
    let mut dir = PathBuf::from("/");
    for part in decoded.parts() {
        dir.push(part.as_ref());
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

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
                matches!(
                    local_dir_of_url(bad),
                    Err(RepositoryStoreError::InvalidUrl(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn urls_other_than_file_and_s3_are_refused_without_echoing_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let err = RepositoryStore::from_url("gs://AKIA:secret@bucket/x", dir.path()).unwrap_err();
        assert!(matches!(&err, RepositoryStoreError::UnsupportedUrl { scheme } if scheme == "gs"));
        assert!(!err.to_string().contains("secret"));
        let err = RepositoryStore::from_url("s3://AKIA:secret@bucket/x", dir.path()).unwrap_err();
        assert!(
            matches!(&err, RepositoryStoreError::InvalidUrl(_)),
            "{err:?}"
        );
        assert!(!err.to_string().contains("secret"));
        for bad in ["s3://", "s3:///x", "s3://bucket/x?versionId=1"] {
            assert!(
                matches!(
                    RepositoryStore::from_url(bad, dir.path()),
                    Err(RepositoryStoreError::InvalidUrl(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            RepositoryStore::from_url("not a url", dir.path()),
            Err(RepositoryStoreError::InvalidUrl(_))
        ));
    }
}
