//! Persistence for Butterfly: the snapshot repository, and the server's database.
//!
//! Two independent halves, each usable on its own (and each behind a default feature):
//!
//! - [`SnapshotRepository`] (feature `snapshots`) keeps backups of an identity provider's
//!   configuration on any [`object_store`] backend (a local directory by default,
//!   S3-compatible storage at scale). Each resource is stored once, as canonical JSON
//!   under its SHA-256, whatever number of snapshots list it; objects are packed, zstd
//!   compressed and sealed with AES-256-GCM under a per-team key derived from one
//!   [`MasterKey`]. Reads check every digest and say precisely what is wrong with a
//!   damaged, truncated, moved or foreign file. [`SnapshotRepository::check`] checks the
//!   structure (manifests, indexes, packs present and whole) and, with `read_data`,
//!   every object; [`SnapshotRepository::repair_index`] drops what no longer reads, and
//!   a backup never deduplicates against a pack that is missing or truncated. It
//!   implements
//!   [`SnapshotSource`](butterfly_core::source::SnapshotSource), the seam diff, restore,
//!   compliance and exports read through, and
//!   [`SnapshotTarget`](butterfly_core::SnapshotTarget), which backups write through.
//!   [`export`] lists a snapshot's resources and writes a whole snapshot as one
//!   byte-stable JSON-lines or tar.zst download. The
//!   bytes it writes are specified in [`format`](mod@format), apart from the core types, and pinned
//!   by a golden repository in the tests. A server keeps one repository per team in a
//!   [`RepositoryStore`].
//! - [`SqlStore`] (feature `sql`) keeps teams, members, API keys, SCIM tokens, browser
//!   sessions and background jobs, implementing every trait in [`butterfly_core::store`].
//!   It runs on SQLite (a file that needs no set-up; the default) or PostgreSQL (shared by
//!   several server replicas, which claim jobs with `FOR UPDATE SKIP LOCKED`). Schemas
//!   are embedded and migrated on connect. Secrets are stored only as SHA-256 hashes and
//!   compared in constant time; every team-scoped query is filtered by team. It is also a
//!   [`ScimStore`](butterfly_scim::ScimStore) for the SCIM Users and Groups of every team,
//!   with SCIM filters and `sortBy` compiled to SQL (see [`scim`]). Members are written
//!   through one transaction that obeys the member rules
//!   ([`MemberWriteStore`](butterfly_core::store::MemberWriteStore)), and
//!   [`sql::MemberLinkedStore`] keeps SCIM Users and team members in step.
//!
//! # Example
//!
//! ```
//! use butterfly_core::source::SnapshotSource;
//! use butterfly_core::{ProviderKind, Resource, ResourceKind, SnapshotStatus};
//! use butterfly_store::SnapshotRepository;
//! use serde_json::json;
//! use chrono::{DateTime, Utc};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A local repository is a directory with its master key in `master.key` beside the
//! // packs. `SnapshotRepository::open` opens an existing one and never writes.
//! let dir = tempfile::tempdir()?;
//! let repo = SnapshotRepository::open_or_create(dir.path()).await?;
//!
//! let users = ResourceKind::new("user");
//! let ada = Resource::new(users.clone(), "00u1", json!({"id": "00u1", "status": "ACTIVE"}));
//! let mut writer = repo.begin(ProviderKind::Okta, "https://example.okta.com", Utc::now());
//! writer.add(&ada).await?;
//! let snapshot = writer.finish(Utc::now(), SnapshotStatus::Complete).await?;
//!
//! // An unchanged org costs the next backup a manifest and nothing else.
//! let mut writer = repo.begin(ProviderKind::Okta, "https://example.okta.com", Utc::now());
//! writer.add(&ada).await?;
//! let (_, stats) = writer.finish_with_stats(Utc::now(), SnapshotStatus::Complete).await?;
//! assert_eq!(stats.new_objects, 0); // its entry list too is the same object
//!
//! // Read back through the seam every consumer uses, by an id prefix as a user types it.
//! let id = repo.resolve(&snapshot.id.to_string()[..8]).await?;
//! let source: &dyn SnapshotSource = &repo;
//! let read = source.resource(id, &users, "00u1").await?;
//! assert_eq!(read, Some(ada));
//! assert!(repo.verify(None).await?.problems.is_empty());
//! # Ok(())
//! # }
//! ```
//!
//! The database half:
//!
//! ```
//! # #[cfg(feature = "sql")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use butterfly_core::Role;
//! use butterfly_core::store::{ApiKeyStore, TeamStore};
//! use butterfly_store::SqlStore;
//!
//! // `sqlite://PATH` for a file, `postgres://...` at scale.
//! let store = SqlStore::connect("sqlite::memory:").await?;
//! let team = store.create_team("acme").await?;
//! let (key, secret) = store
//!     .create_api_key(team.id, "ci", Role::BackupOperator, None)
//!     .await?;
//! // `secret` is shown to its owner once; the database holds only its hash.
//! let authenticated = store.authenticate_api_key(&secret).await?;
//! assert_eq!(authenticated.map(|k| k.id), Some(key.id));
//! assert!(store.revoke_api_key(team.id, key.id).await?);
//! assert!(store.authenticate_api_key(&secret).await?.is_none());
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "sql"))]
//! # fn main() {}
//! ```
//!
//! # Testing against PostgreSQL
//!
//! The integration tests run every storage test on SQLite and on PostgreSQL. The
//! PostgreSQL half needs `BUTTERFLY_TEST_DATABASE_URL`, naming a server where the tests
//! may create and drop databases (one per test), and fails without it.
#![deny(missing_docs)]

#[cfg(feature = "snapshots")]
pub mod export;
#[cfg(feature = "snapshots")]
pub mod format;
#[cfg(feature = "snapshots")]
pub mod repository_keys;
#[cfg(feature = "snapshots")]
pub mod repository_store;
#[cfg(all(feature = "sql", feature = "snapshots"))]
pub mod retention;
#[cfg(feature = "sql")]
pub mod scim;
#[cfg(feature = "snapshots")]
pub mod snapshots;
#[cfg(feature = "sql")]
pub mod sql;

#[cfg(feature = "snapshots")]
pub use format::key::{KeyError, MASTER_KEY_FILE, MasterKey};
#[cfg(feature = "snapshots")]
pub use repository_store::{RepositoryStore, RepositoryStoreError};
#[cfg(feature = "snapshots")]
pub use snapshots::{BLOCKING_THREAD_KEEP_ALIVE, SnapshotError, SnapshotRepository};
#[cfg(feature = "sql")]
pub use sql::{Backend, SqlStore};
