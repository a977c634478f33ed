//! The manifest of one backup.
//!
//! A snapshot stores no resource bodies itself: it lists, per kind, which resource ids
//! it holds and the digest of each one's canonical JSON. The bodies live once each in
//! the object repository, so an unchanged resource costs nothing in the next backup. The
//! root digest covers provider, org and every (kind, id, digest) triple, so a manifest
//! that was edited or truncated no longer matches it.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::{Digest, Error, ProviderKind, ResourceKind};

/// A snapshot's identifier.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct SnapshotId(Uuid);

impl SnapshotId {
    /// A fresh identifier.
    pub fn new_random() -> Self {
        SnapshotId(Uuid::new_v4())
    }
}

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for SnapshotId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s)
            .map(SnapshotId)
            .map_err(|_| Error::InvalidId {
                what: "snapshot id",
                value: s.to_owned(),
            })
    }
}

/// Where a snapshot is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SnapshotStatus {
    /// Still being written.
    Running,
    /// Every kind was fetched.
    Complete,
    /// Finished, but some kinds were skipped (see warnings).
    Partial,
    /// Stopped by an error; what was fetched is kept for inspection.
    Failed,
}

/// One resource in a manifest.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct ManifestEntry {
    /// The provider's id for the resource.
    pub id: String,
    /// The digest of its canonical JSON.
    pub digest: Digest,
}

/// The manifest of one backup of one org.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Snapshot {
    /// Identifier.
    pub id: SnapshotId,
    /// The provider backed up.
    pub provider: ProviderKind,
    /// The org, as its base URL or tenant name.
    pub org: String,
    /// When the backup started.
    #[serde(with = "crate::rfc3339")]
    #[schemars(with = "DateTime<Utc>")]
    pub started_at: DateTime<Utc>,
    /// When it finished.
    #[serde(with = "crate::rfc3339::option")]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Its status.
    pub status: SnapshotStatus,
    /// Per kind, the resources it holds, sorted by id.
    pub kinds: BTreeMap<ResourceKind, Vec<ManifestEntry>>,
    /// Per kind, how many resources it holds.
    pub counts: BTreeMap<ResourceKind, u64>,
    /// Kinds skipped and other things an operator should know.
    pub warnings: Vec<String>,
    /// Digest over provider, org and every (kind, id, digest).
    pub root_digest: Digest,
}

impl Snapshot {
    /// Start a manifest; add entries with [`Snapshot::insert`], then [`Snapshot::seal`].
    pub fn begin(
        provider: ProviderKind,
        org: impl Into<String>,
        started_at: DateTime<Utc>,
    ) -> Self {
        Snapshot {
            id: SnapshotId::new_random(),
            provider,
            org: org.into(),
            started_at,
            finished_at: None,
            status: SnapshotStatus::Running,
            kinds: BTreeMap::new(),
            counts: BTreeMap::new(),
            warnings: Vec::new(),
            root_digest: Digest::from_array([0; 32]),
        }
    }

    /// Record one resource.
    pub fn insert(&mut self, kind: ResourceKind, id: impl Into<String>, digest: Digest) {
        self.kinds.entry(kind).or_default().push(ManifestEntry {
            id: id.into(),
            digest,
        });
    }

    /// Sort entries, fill in counts, the finish time, the status and the root digest.
    pub fn seal(&mut self, finished_at: DateTime<Utc>, status: SnapshotStatus) {
        for entries in self.kinds.values_mut() {
            entries.sort();
            entries.dedup();
        }
        self.counts = self
            .kinds
            .iter()
            .map(|(kind, entries)| (kind.clone(), entries.len() as u64))
            .collect();
        self.finished_at = Some(finished_at);
        self.status = status;
        self.root_digest = self.compute_root_digest();
    }

    /// The root digest as it should be for the current entries.
    pub fn compute_root_digest(&self) -> Digest {
        let mut root = RootDigest::new(self.provider, &self.org);
        for (kind, entries) in &self.kinds {
            root.kind(kind, entries.len() as u64);
            for entry in entries {
                root.entry(&entry.id, &entry.digest);
            }
        }
        root.finish()
    }

    /// Check that the counts and the root digest match the entries.
    pub fn check_consistency(&self) -> Result<(), Error> {
        for (kind, entries) in &self.kinds {
            let counted = self.counts.get(kind).copied().unwrap_or(0);
            if counted != entries.len() as u64 {
                return Err(Error::InconsistentManifest(format!(
                    "kind {kind} lists {} resources but counts {counted}",
                    entries.len()
                )));
            }
        }
        if self.counts.keys().any(|k| !self.kinds.contains_key(k)) {
            return Err(Error::InconsistentManifest(
                "a count names a kind with no entries".into(),
            ));
        }
        if self.compute_root_digest() != self.root_digest {
            return Err(Error::InconsistentManifest(
                "root digest does not match the entries".into(),
            ));
        }
        Ok(())
    }

    /// Total number of resources.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// The manifest without its entries: what a listing shows.
    pub fn summary(&self) -> SnapshotSummary {
        SnapshotSummary {
            id: self.id,
            provider: self.provider,
            org: self.org.clone(),
            started_at: self.started_at,
            finished_at: self.finished_at,
            status: self.status,
            counts: self.counts.clone(),
            resources: self.total(),
            warnings: self.warnings.clone(),
            root_digest: self.root_digest,
        }
    }
}

/// The root digest of a manifest, fed kind by kind and entry by entry, so a writer that
/// keeps its entries stored rather than in memory can compute it by reading them back
/// one entry list at a time. [`Snapshot::compute_root_digest`] is this over `kinds`.
///
/// Feed kinds in order (a [`Snapshot`]'s `kinds` order: [`ResourceKind`]'s), each with
/// its entry count, then its entries sorted by id.
#[derive(Debug, Clone)]
pub struct RootDigest {
    hasher: Sha256,
}

impl RootDigest {
    /// Start the digest of a manifest of `org` at `provider`.
    pub fn new(provider: ProviderKind, org: &str) -> Self {
        let mut root = RootDigest {
            hasher: Sha256::new(),
        };
        root.field(b"butterfly-snapshot-v1");
        root.field(provider.as_str().as_bytes());
        root.field(org.as_bytes());
        root
    }

    /// Length-prefixed, so no two different manifests hash alike by shifting bytes
    /// between neighbouring fields.
    fn field(&mut self, bytes: &[u8]) {
        self.hasher.update((bytes.len() as u64).to_be_bytes());
        self.hasher.update(bytes);
    }

    /// The next kind, which holds `count` entries.
    pub fn kind(&mut self, kind: &ResourceKind, count: u64) {
        self.field(kind.as_str().as_bytes());
        self.field(&count.to_be_bytes());
    }

    /// The kind's next entry.
    pub fn entry(&mut self, id: &str, digest: &Digest) {
        self.field(id.as_bytes());
        self.field(digest.as_bytes());
    }

    /// The root digest.
    pub fn finish(self) -> Digest {
        Digest::from_array(self.hasher.finalize().into())
    }
}

/// One snapshot as a listing shows it: a [`Snapshot`] without its entries.
///
/// Reading one costs a single small object, whatever the size of the org, so listings
/// and the API's snapshot bodies use it. It is the one JSON shape both the CLI (local
/// and server mode) and the server print for a snapshot: times are RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct SnapshotSummary {
    /// Identifier.
    pub id: SnapshotId,
    /// The provider backed up.
    pub provider: ProviderKind,
    /// The org, as its base URL or tenant name.
    pub org: String,
    /// When the backup started.
    #[serde(with = "crate::rfc3339")]
    #[schemars(with = "DateTime<Utc>")]
    pub started_at: DateTime<Utc>,
    /// When it finished.
    #[serde(with = "crate::rfc3339::option")]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Its status.
    pub status: SnapshotStatus,
    /// Per kind, how many resources it holds.
    pub counts: BTreeMap<ResourceKind, u64>,
    /// How many resources it holds in all.
    pub resources: u64,
    /// Kinds skipped and other things an operator should know.
    pub warnings: Vec<String>,
    /// Digest over provider, org and every (kind, id, digest).
    pub root_digest: Digest,
}

/// What a [`SnapshotSink`] stored for one snapshot.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[non_exhaustive]
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

/// Where a backup puts what it fetches: a snapshot being written.
///
/// Providers fetch; storage keeps. This trait is the seam between the two, so a provider
/// crate can drive a whole backup (pages in, warnings, a final status) without knowing
/// how snapshots are stored, and a store can be filled by any provider. The writer of
/// `butterfly-store`'s snapshot repository implements it.
///
/// Generic rather than `dyn`: the backup runner is generic over its target, so native
/// `async fn`-style methods serve and no boxing is paid per page.
pub trait SnapshotSink: Send {
    /// Why a write failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Record resources (one page at a time).
    fn add(
        &mut self,
        resources: &[crate::Resource],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Record something an operator should know (a skipped or failed kind).
    fn warn(&mut self, warning: String);

    /// Record entries of `kind` carried over from an earlier snapshot in the same target
    /// (an incremental backup's unchanged resources), without their bodies: a sink whose
    /// target already holds an entry's object records the entry as it is, so carrying an
    /// org's unchanged resources costs no reads. Returns the entries it did not record
    /// (their object is not held, or only in a damaged pack): the caller reads those and
    /// [`add`](Self::add)s them. The default records none.
    fn carry(
        &mut self,
        kind: &ResourceKind,
        entries: Vec<ManifestEntry>,
    ) -> impl Future<Output = Result<Vec<ManifestEntry>, Self::Error>> + Send {
        let _ = kind;
        async { Ok(entries) }
    }

    /// Every resource of `kind` has been added: a sink that keeps a checkpoint records
    /// the kind there, so that if this backup is killed, the next run resumes it without
    /// fetching `kind` again; it may also release the kind's entries from memory (see
    /// [`release_kind`](Self::release_kind)). The default keeps no checkpoint.
    fn kind_finished(
        &mut self,
        kind: &ResourceKind,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let _ = kind;
        async { Ok(()) }
    }

    /// The kinds this sink already holds whole, taken from the checkpoint of an
    /// interrupted run of the same backup, with how many resources each holds: not to be
    /// fetched again. Empty for a fresh snapshot (the default).
    fn resumed_kinds(&self) -> BTreeMap<ResourceKind, u64> {
        BTreeMap::new()
    }

    /// Every resource of `kind` has been added, and none will follow: a sink that can
    /// store a kind's entries may do so now and drop them from memory, so a large org's
    /// manifest is not held whole until the seal. Unlike
    /// [`kind_finished`](Self::kind_finished), nothing is checkpointed: for a kind a
    /// resumed run must not take as it is (an incremental backup's). The default keeps
    /// the entries.
    fn release_kind(
        &mut self,
        kind: &ResourceKind,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let _ = kind;
        async { Ok(()) }
    }

    /// Seal the manifest with `status` and store it: only now does the snapshot exist.
    /// Dropping a sink unfinished leaves no snapshot. The snapshot returned has its
    /// counts, status and root digest; a sink that streams its entries to storage
    /// (the snapshot repository's) returns it without entries (`kinds` empty): read
    /// them from the target if needed.
    fn finish(
        self,
        finished_at: DateTime<Utc>,
        status: SnapshotStatus,
    ) -> impl Future<Output = Result<(Snapshot, WriteStats), Self::Error>> + Send
    where
        Self: Sized;
}

/// Somewhere new snapshots can be written: a repository, as the backup runner sees it.
pub trait SnapshotTarget: Send + Sync {
    /// The writer of one snapshot.
    type Sink<'a>: SnapshotSink + 'a
    where
        Self: 'a;

    /// Start a snapshot of `org` at `provider`.
    fn begin_snapshot(
        &self,
        provider: ProviderKind,
        org: &str,
        started_at: DateTime<Utc>,
    ) -> Self::Sink<'_>;

    /// Resume the interrupted backup of `org` at `provider` when one left a checkpoint
    /// (see [`SnapshotSink::kind_finished`]), keeping its id and start time, or start a
    /// new snapshot as [`SnapshotTarget::begin_snapshot`] does; the sink then keeps a
    /// checkpoint as kinds finish, and removes it when the snapshot is sealed. The
    /// default keeps no checkpoints and starts a new snapshot.
    fn resume_snapshot(
        &self,
        provider: ProviderKind,
        org: &str,
        started_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Self::Sink<'_>, <Self::Sink<'_> as SnapshotSink>::Error>> + Send
    {
        let sink = self.begin_snapshot(provider, org, started_at);
        async move { Ok(sink) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Snapshot {
        let mut s = Snapshot::begin(
            ProviderKind::Okta,
            "https://example.okta.com",
            DateTime::<Utc>::UNIX_EPOCH,
        );
        s.insert(
            ResourceKind::new("user"),
            "00u2",
            Digest::of_json(&json!({"id": "00u2"})),
        );
        s.insert(
            ResourceKind::new("user"),
            "00u1",
            Digest::of_json(&json!({"id": "00u1"})),
        );
        s.insert(
            ResourceKind::new("group"),
            "00g1",
            Digest::of_json(&json!({"id": "00g1"})),
        );
        s.seal(
            DateTime::<Utc>::UNIX_EPOCH + chrono::TimeDelta::seconds(5),
            SnapshotStatus::Complete,
        );
        s
    }

    #[test]
    fn seal_sorts_counts_and_digests() {
        let s = sample();
        let users = &s.kinds[&ResourceKind::new("user")];
        assert_eq!(users[0].id, "00u1");
        assert_eq!(s.counts[&ResourceKind::new("user")], 2);
        assert_eq!(s.total(), 3);
        s.check_consistency().unwrap();
    }

    #[test]
    fn tampering_breaks_the_root_digest() {
        let mut s = sample();
        s.kinds.get_mut(&ResourceKind::new("group")).unwrap()[0].id = "00g9".into();
        assert!(matches!(
            s.check_consistency(),
            Err(Error::InconsistentManifest(_))
        ));

        let mut s = sample();
        s.counts.insert(ResourceKind::new("group"), 7);
        assert!(s.check_consistency().is_err());
    }

    #[test]
    fn summary_keeps_everything_but_the_entries() {
        let s = sample();
        let summary = s.summary();
        assert_eq!(summary.id, s.id);
        assert_eq!(summary.resources, 3);
        assert_eq!(summary.counts, s.counts);
        assert_eq!(summary.root_digest, s.root_digest);
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["provider"], "okta");
        assert_eq!(json["started_at"], "1970-01-01T00:00:00Z");
        assert_eq!(json["finished_at"], "1970-01-01T00:00:05Z");
        assert!(json.get("kinds").is_none());
    }

    #[test]
    fn manifest_round_trips_through_json() {
        let s = sample();
        let text = serde_json::to_string(&s).unwrap();
        let back: Snapshot = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
        back.check_consistency().unwrap();
    }
}
