//! Persistence for Butterfly: the server's database and the snapshot repository.
//!
//! Two independent halves, each usable on its own:
//!
//! - [`SqlStore`] keeps teams, members, API keys, SCIM tokens, browser sessions and
//!   background jobs, implementing every trait in [`butterfly_core::store`]. It runs on
//!   SQLite (a file that needs no set-up; the default) or PostgreSQL (shared by several
//!   server replicas, which claim jobs with `FOR UPDATE SKIP LOCKED`). Schemas are
//!   embedded and migrated on connect. Secrets are stored only as SHA-256 hashes and
//!   compared in constant time; every team-scoped query is filtered by team. It is also
//!   a [`ScimStore`](butterfly_scim::ScimStore) for the SCIM Users and Groups of every
//!   team, with SCIM filters and `sortBy` compiled to SQL (see [`scim`]). Members are
//!   written through one transaction that obeys the member rules
//!   ([`MemberWriteStore`](butterfly_core::store::MemberWriteStore)), and
//!   [`sql::MemberLinkedStore`] keeps SCIM Users and team members in step.
//! - [`ObjectRepository`] keeps snapshot objects and manifests on any
//!   [`object_store`] backend (a local directory by default):
//!   content-addressed and deduplicated per team, zstd-compressed, and sealed with
//!   AES-256-GCM under a per-team key derived from one [`MasterKey`]. Reads verify the
//!   digest and say precisely what is wrong with a damaged, truncated, moved or foreign
//!   object ([`ObjectError`]).
//!
//! # Example
//!
//! ```
//! use butterfly_core::Role;
//! use butterfly_core::store::{ApiKeyStore, TeamStore};
//! use butterfly_store::{MasterKey, ObjectRepository, SqlStore};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The database: `sqlite://PATH` for a file, `postgres://...` at scale.
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
//!
//! // The snapshot repository. A server would use
//! // `ObjectRepository::from_url("file:///var/lib/butterfly/objects", data_dir)`,
//! // which keeps the master key in `data_dir/master.key`.
//! let dir = tempfile::tempdir()?;
//! let repo = ObjectRepository::local(dir.path(), MasterKey::generate())?;
//! let user = json!({"id": "00u1", "profile": {"login": "ada@example.com"}});
//! let digest = repo.put_json(team.id, &user).await?;
//! // The same content, however its keys are ordered, is stored once.
//! let respelled = json!({"profile": {"login": "ada@example.com"}, "id": "00u1"});
//! assert_eq!(repo.put_json(team.id, &respelled).await?, digest);
//! assert_eq!(repo.get_json(team.id, &digest).await?, user);
//! # Ok(())
//! # }
//! ```
//!
//! # Testing against PostgreSQL
//!
//! The integration tests run every storage test on SQLite and on PostgreSQL. The
//! PostgreSQL half needs `BUTTERFLY_TEST_DATABASE_URL`, naming a server where the tests
//! may create and drop databases (one per test), and fails without it.
#![deny(missing_docs)]

pub mod objects;
pub mod scim;
pub mod snapshots;
pub mod sql;

pub use objects::{MasterKey, ObjectError, ObjectRepository};
pub use sql::{Backend, SqlError, SqlStore};
