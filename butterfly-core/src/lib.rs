//! The domain model shared by every Butterfly crate.
//!
//! Butterfly is a toolkit for identity teams: SSO and SCIM provisioning for Rust
//! services, and backup, diff, restore and compliance checks for identity provider
//! configuration. This crate holds the vocabulary the others speak and depends on no
//! HTTP framework, database or provider:
//!
//! - [`Team`], [`Member`], [`Role`] and [`Permission`]: who may do what
//!   ([`Role::allows`] is the permission matrix).
//! - [`Resource`], [`ResourceKind`], [`canonical_json`] and [`Digest`]: an identity
//!   provider object kept exactly as the provider returned it, and its content address.
//! - [`Snapshot`]: the manifest of one backup, [`SnapshotSummary`] its listing, and
//!   [`ProviderKind`] the provider it was taken from.
//! - [`source`]: [`SnapshotSource`](source::SnapshotSource), the one way diff, restore,
//!   compliance and exports read snapshots, and an in-memory implementation.
//! - [`diff`]: what changed between two snapshots, field by field, rated by severity.
//! - [`restore`]: restore plans (create, update, delete, skip), their fingerprints, and
//!   the variables of an environment sync.
//! - [`members`]: the member rules (the last super_admin stays, a suspension revokes
//!   access, group push, just-in-time sign-in) that every member write goes through.
//! - [`token`]: bearer secrets that are shown once and stored only as hashes.
//! - [`schedule`]: backup schedules (presets and cron, in an IANA time zone, DST-correct).
//! - [`store`]: the storage traits that `butterfly-store` implements.
//! - [`Clock`]: injected time, so tests never sleep; times are
//!   `chrono::DateTime<Utc>`, written on the wire by [`rfc3339`].
//!
//! The JSON types users script against ([`SnapshotSummary`], [`Snapshot`],
//! [`diff::SnapshotDiff`]) derive `schemars::JsonSchema`; their schemas are checked in
//! under `schemas/` at the repository root (`cargo run -p butterfly-cli -- schemas --out
//! schemas` regenerates them).
//!
//! # Example
//!
//! ```
//! use butterfly_core::{Digest, Permission, Resource, ResourceKind, Role};
//! use serde_json::json;
//!
//! // The permission matrix.
//! assert!(Role::BackupOperator.allows(Permission::RunBackups));
//! assert!(!Role::Auditor.allows(Permission::RestoreFromBackup));
//!
//! // Two spellings of the same object have one content address.
//! let a = Resource::new(ResourceKind::new("group"), "00g1", json!({"name": "Ops", "id": "00g1"}));
//! let b = Resource::new(ResourceKind::new("group"), "00g1", json!({"id": "00g1", "name": "Ops"}));
//! assert_eq!(a.digest(), b.digest());
//! let parsed: Digest = a.digest().to_string().parse()?;
//! assert_eq!(parsed, a.digest());
//! # Ok::<(), butterfly_core::Error>(())
//! ```
#![deny(missing_docs)]

pub mod api;
mod canonical;
mod clock;
pub mod diff;
mod error;
pub mod members;
mod provider;
mod resource;
pub mod restore;
pub mod retention;
pub mod rfc3339;
mod role;
pub mod schedule;
mod snapshot;
pub mod source;
pub mod store;
mod team;
pub mod token;

pub use canonical::{Digest, canonical_json};
pub use clock::{Clock, FixedClock, SystemClock};
pub use error::Error;
pub use provider::ProviderKind;
pub use resource::{Resource, ResourceKind};
pub use role::{Permission, Role};
pub use snapshot::{
    ManifestEntry, RootDigest, Snapshot, SnapshotId, SnapshotSink, SnapshotStatus, SnapshotSummary,
    SnapshotTarget, WriteStats,
};
pub use team::{Member, MemberId, Team, TeamId};
