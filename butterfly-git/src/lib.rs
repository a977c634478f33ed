//! Export identity snapshots to a Git repository, so identity changes are reviewed the
//! way code is.
//!
//! [`export_snapshot`] reads one snapshot through a
//! [`SnapshotSource`](butterfly_core::source::SnapshotSource) and makes one commit of it:
//!
//! - one file per resource at `<provider>/<org>/<kind>/<name>.<id>.json`, canonical JSON
//!   (keys sorted) pretty-printed, and a `README.md` per org (the naming rule is in
//!   [`naming`]);
//! - an unchanged resource is an unchanged file, so it is no change in Git (volatile
//!   fields such as `lastLogin` are left out and set-like arrays sorted, as the diff
//!   does); a renamed resource keeps its id part and content, so `git diff -M` shows a
//!   rename; an unchanged org makes no commit;
//! - the commit message summarises the change with core's diff (`Backup: 3 users
//!   added, 1 policy changed (critical)`), lists it per kind in the body, and ends with
//!   trailers naming the snapshot, provider and org; author and committer date are the
//!   snapshot's;
//! - secrets are never in a snapshot, so never in the repository.
//!
//! [`push`] sends the branch to any remote: HTTPS with a token, SSH with a deploy key
//! (with an optional pinned host key), or a local path.
//!
//! # Example
//!
//! ```
//! use butterfly_core::source::InMemorySnapshotSource;
//! use butterfly_core::{ProviderKind, Resource, ResourceKind, SnapshotStatus};
//! use butterfly_git::{ExportOptions, export_snapshot};
//! use serde_json::json;
//!
//! # futures::executor::block_on(async {
//! let git_dir = tempfile::tempdir()?.keep().join("export.git");
//! let mut source = InMemorySnapshotSource::new();
//! let group = |name: &str| {
//!     Resource::new(
//!         ResourceKind::new("group"),
//!         "00g1",
//!         json!({"id": "00g1", "profile": {"name": name, "description": "Builds things"}}),
//!     )
//! };
//! let at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
//! let first = source.insert(ProviderKind::Okta, "https://acme.okta.com", at, SnapshotStatus::Complete, [group("Engineering")]);
//! let report = export_snapshot(&source, first.id, &git_dir, &ExportOptions::new()).await?;
//! assert!(report.commit.is_some());
//!
//! let at = at + chrono::Duration::hours(1);
//! let second = source.insert(ProviderKind::Okta, "https://acme.okta.com", at, SnapshotStatus::Complete, [group("Platform")]);
//! let report = export_snapshot(&source, second.id, &git_dir, &ExportOptions::new()).await?;
//! assert_eq!(report.subject, "Backup: 1 group changed");
//! assert_eq!(report.renamed, 1); // okta/acme.okta.com/group/engineering.00g1.json -> platform.00g1.json
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
#![deny(missing_docs)]

mod export;
pub mod naming;
mod push;

pub use export::{
    ExportError, ExportOptions, ExportReport, ORG_TRAILER, PROVIDER_TRAILER, SNAPSHOT_TRAILER,
    export_snapshot,
};
pub use push::{GitCredentials, GitSecret, HostKey, PushError, PushTarget, push};

/// Whether `branch` is a valid Git branch name (`main`, `identity/okta`; not `a..b`,
/// `-x` or `a b`).
pub fn is_valid_branch(branch: &str) -> bool {
    export::branch_ref(branch).is_ok()
}
