//! Reading snapshots: the seam every consumer of backups reads through.
//!
//! Diff, restore, compliance checks and the Terraform and Git exports take a
//! [`SnapshotSource`] and nothing else, so none of them depends on how snapshots are
//! stored. `butterfly-store`'s snapshot repository implements it over packed, encrypted
//! objects; [`InMemorySnapshotSource`] implements it over plain values, for tests and for
//! callers that build a snapshot in memory.
//!
//! ```
//! use butterfly_core::source::{InMemorySnapshotSource, SnapshotSource};
//! use butterfly_core::{ProviderKind, Resource, ResourceKind, SnapshotStatus};
//! use futures::TryStreamExt as _;
//! use serde_json::json;
//!
//! # futures::executor::block_on(async {
//! let mut source = InMemorySnapshotSource::new();
//! let users = ResourceKind::new("user");
//! let snapshot = source.insert(
//!     ProviderKind::Okta,
//!     "https://example.okta.com",
//!     chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
//!     SnapshotStatus::Complete,
//!     [Resource::new(users.clone(), "00u1", json!({"id": "00u1", "status": "ACTIVE"}))],
//! );
//!
//! // Listings, manifests, one resource, or every resource of a kind.
//! assert_eq!(source.summaries().await?[0].resources, 1);
//! let one = source.resource(snapshot.id, &users, "00u1").await?.unwrap();
//! assert_eq!(one.attributes["status"], "ACTIVE");
//! let all: Vec<_> = source.kind_resources(&snapshot, &users).try_collect().await?;
//! assert_eq!(all, vec![one]);
//! // Ids can be given by an unambiguous prefix, as on the command line.
//! let prefix = &snapshot.id.to_string()[..8];
//! assert_eq!(source.resolve(prefix).await?, snapshot.id);
//! # Ok::<(), butterfly_core::source::SourceError>(())
//! # }).unwrap();
//! ```

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::Stream;
use futures::stream::{self, StreamExt as _};
use serde_json::Value;

use crate::{
    Digest, ManifestEntry, ProviderKind, Resource, ResourceKind, Snapshot, SnapshotId,
    SnapshotSink, SnapshotStatus, SnapshotSummary, SnapshotTarget, WriteStats,
};

/// Why a snapshot could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// No snapshot has this id.
    #[error("no snapshot {0}")]
    NotFound(SnapshotId),
    /// No snapshot id starts with this text.
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
    /// A manifest lists an object the source does not hold.
    #[error("object {0} is missing")]
    MissingObject(Digest),
    /// Stored data is damaged (a digest mismatch, a manifest that does not parse...).
    #[error("{what} is damaged: {reason}")]
    Damaged {
        /// What is damaged.
        what: String,
        /// How.
        reason: String,
    },
    /// The storage behind the source failed.
    #[error("cannot read snapshots: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The resources of one kind, one at a time, in manifest (id) order.
pub type ResourceStream<'a> =
    Pin<Box<dyn Stream<Item = Result<Resource, SourceError>> + Send + 'a>>;

/// Somewhere snapshots can be read from. See the [module docs](self).
///
/// Held as `Arc<dyn SnapshotSource>` by servers and as `&dyn SnapshotSource` by library
/// code, so it uses `async_trait` (native `async fn` in traits is not object safe).
#[async_trait]
pub trait SnapshotSource: Send + Sync {
    /// Every snapshot, oldest first, without entries.
    async fn summaries(&self) -> Result<Vec<SnapshotSummary>, SourceError>;

    /// One snapshot's whole manifest, checked against its root digest.
    async fn manifest(&self, id: SnapshotId) -> Result<Snapshot, SourceError>;

    /// The JSON stored under `digest`, checked against it.
    async fn object(&self, digest: &Digest) -> Result<Value, SourceError>;

    /// One resource of a snapshot, or `None` when the snapshot does not list it.
    async fn resource(
        &self,
        id: SnapshotId,
        kind: &ResourceKind,
        resource_id: &str,
    ) -> Result<Option<Resource>, SourceError> {
        let manifest = self.manifest(id).await?;
        let Some(entries) = manifest.kinds.get(kind) else {
            return Ok(None);
        };
        // Entries are sorted by id once a snapshot is sealed.
        let Ok(at) = entries.binary_search_by(|e| e.id.as_str().cmp(resource_id)) else {
            return Ok(None);
        };
        let attributes = self.object(&entries[at].digest).await?;
        Ok(Some(Resource::new(kind.clone(), resource_id, attributes)))
    }

    /// Every resource of `kind` in `snapshot`, read lazily, so a consumer holds one at a
    /// time however large the org.
    fn kind_resources<'a>(
        &'a self,
        snapshot: &'a Snapshot,
        kind: &'a ResourceKind,
    ) -> ResourceStream<'a> {
        let entries = snapshot
            .kinds
            .get(kind)
            .map(Vec::as_slice)
            .unwrap_or_default();
        Box::pin(stream::iter(entries).then(move |entry| async move {
            let attributes = self.object(&entry.digest).await?;
            Ok(Resource::new(kind.clone(), entry.id.clone(), attributes))
        }))
    }

    /// Call `visit` with the id and stored JSON of every resource of `kind` in
    /// `snapshot`, in manifest (id) order, stopping at the first error.
    ///
    /// For readers that need a few fields of a large kind (the users of a 50K-user org):
    /// a source that holds its objects in memory lends them instead of cloning each
    /// whole body, as [`kind_resources`](Self::kind_resources) must. `visit` must not
    /// call back into the source. By default each object is read with
    /// [`object`](Self::object) and lent to `visit` for the call.
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
        for entry in entries {
            let attributes = self.object(&entry.digest).await?;
            visit(&entry.id, &attributes);
        }
        Ok(())
    }

    /// The entries of one kind of snapshot `id`, sorted by id (empty when it lists
    /// none): for readers that go kind by kind and need not hold a large org's whole
    /// manifest at once. By default, read from the whole [`manifest`](Self::manifest);
    /// a source that stores entries per kind reads only this kind's.
    async fn kind_entries(
        &self,
        id: SnapshotId,
        kind: &ResourceKind,
    ) -> Result<Vec<ManifestEntry>, SourceError> {
        Ok(self
            .manifest(id)
            .await?
            .kinds
            .remove(kind)
            .unwrap_or_default())
    }

    /// The snapshot whose id is `text` or starts with it (at least 4 characters).
    async fn resolve(&self, text: &str) -> Result<SnapshotId, SourceError> {
        if let Ok(id) = text.parse::<SnapshotId>() {
            return Ok(id);
        }
        let text = text.to_ascii_lowercase();
        if text.len() < 4 {
            return Err(SourceError::NoMatch(text));
        }
        let matching: Vec<SnapshotId> = self
            .summaries()
            .await?
            .into_iter()
            .map(|s| s.id)
            .filter(|id| id.to_string().starts_with(&text))
            .collect();
        match matching.as_slice() {
            [id] => Ok(*id),
            [] => Err(SourceError::NoMatch(text)),
            many => Err(SourceError::Ambiguous {
                prefix: text,
                matches: many.len(),
            }),
        }
    }
}

/// Snapshots held in memory: for tests, fixtures and callers that build one by hand.
///
/// It is also a [`SnapshotTarget`]: a backup runner can write into it, and what it wrote
/// is then readable like any other source.
#[derive(Debug, Default)]
pub struct InMemorySnapshotSource {
    held: Mutex<Held>,
}

#[derive(Debug, Clone, Default)]
struct Held {
    snapshots: BTreeMap<SnapshotId, Snapshot>,
    objects: BTreeMap<Digest, Value>,
}

impl Clone for InMemorySnapshotSource {
    fn clone(&self) -> Self {
        InMemorySnapshotSource {
            held: Mutex::new(self.lock().clone()),
        }
    }
}

impl InMemorySnapshotSource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        // A panic while holding the lock leaves maps that are still whole: go on.
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Seal a snapshot of `resources` and keep it; returns its manifest. It finishes when
    /// it starts: a fixture needs no duration.
    pub fn insert(
        &mut self,
        provider: ProviderKind,
        org: impl Into<String>,
        started_at: DateTime<Utc>,
        status: SnapshotStatus,
        resources: impl IntoIterator<Item = Resource>,
    ) -> Snapshot {
        let mut snapshot = Snapshot::begin(provider, org, started_at);
        let mut held = self.lock();
        for resource in resources {
            let digest = resource.digest();
            snapshot.insert(resource.kind, resource.id, digest);
            held.objects.insert(digest, resource.attributes);
        }
        snapshot.seal(started_at, status);
        held.snapshots.insert(snapshot.id, snapshot.clone());
        snapshot
    }

    /// Every resource of snapshot `id`, kind by kind in manifest order.
    pub fn all_resources(&self, id: SnapshotId) -> Result<Vec<Resource>, SourceError> {
        let held = self.lock();
        let snapshot = held.snapshots.get(&id).ok_or(SourceError::NotFound(id))?;
        let mut all = Vec::with_capacity(usize::try_from(snapshot.total()).unwrap_or(0));
        for (kind, entries) in &snapshot.kinds {
            for entry in entries {
                let attributes = held
                    .objects
                    .get(&entry.digest)
                    .cloned()
                    .ok_or(SourceError::MissingObject(entry.digest))?;
                all.push(Resource::new(kind.clone(), entry.id.clone(), attributes));
            }
        }
        Ok(all)
    }

    /// Drop the object stored under `digest`, as a damaged repository would: for tests of
    /// how consumers report a missing object.
    pub fn remove_object(&mut self, digest: &Digest) -> bool {
        self.lock().objects.remove(digest).is_some()
    }
}

#[async_trait]
impl SnapshotSource for InMemorySnapshotSource {
    async fn summaries(&self) -> Result<Vec<SnapshotSummary>, SourceError> {
        let mut all: Vec<SnapshotSummary> = self
            .lock()
            .snapshots
            .values()
            .map(Snapshot::summary)
            .collect();
        all.sort_by_key(|s| (s.started_at, s.id));
        Ok(all)
    }

    async fn manifest(&self, id: SnapshotId) -> Result<Snapshot, SourceError> {
        self.lock()
            .snapshots
            .get(&id)
            .cloned()
            .ok_or(SourceError::NotFound(id))
    }

    async fn object(&self, digest: &Digest) -> Result<Value, SourceError> {
        self.lock()
            .objects
            .get(digest)
            .cloned()
            .ok_or(SourceError::MissingObject(*digest))
    }

    /// Lends each held object under one lock, without cloning it.
    async fn visit_kind(
        &self,
        snapshot: &Snapshot,
        kind: &ResourceKind,
        visit: &mut (dyn for<'v> FnMut(&'v str, &'v Value) + Send),
    ) -> Result<(), SourceError> {
        let held = self.lock();
        for entry in snapshot.kinds.get(kind).into_iter().flatten() {
            let attributes = held
                .objects
                .get(&entry.digest)
                .ok_or(SourceError::MissingObject(entry.digest))?;
            visit(&entry.id, attributes);
        }
        Ok(())
    }
}

/// A snapshot being written into an [`InMemorySnapshotSource`].
#[derive(Debug)]
pub struct InMemorySnapshotWriter<'a> {
    into: &'a InMemorySnapshotSource,
    snapshot: Snapshot,
    objects: BTreeMap<Digest, Value>,
    stats: WriteStats,
}

impl SnapshotSink for InMemorySnapshotWriter<'_> {
    type Error = std::convert::Infallible;

    async fn add(&mut self, resources: &[Resource]) -> Result<(), Self::Error> {
        for resource in resources {
            let digest = resource.digest();
            self.stats.resources += 1;
            if !self.objects.contains_key(&digest)
                && !self.into.lock().objects.contains_key(&digest)
            {
                self.stats.new_objects += 1;
                self.objects.insert(digest, resource.attributes.clone());
            }
            self.snapshot
                .insert(resource.kind.clone(), resource.id.clone(), digest);
        }
        Ok(())
    }

    fn warn(&mut self, warning: String) {
        self.snapshot.warnings.push(warning);
    }

    async fn carry(
        &mut self,
        kind: &ResourceKind,
        entries: Vec<ManifestEntry>,
    ) -> Result<Vec<ManifestEntry>, Self::Error> {
        let held = self.into.lock();
        let mut not_held = Vec::new();
        for entry in entries {
            if self.objects.contains_key(&entry.digest) || held.objects.contains_key(&entry.digest)
            {
                self.stats.resources += 1;
                self.snapshot.insert(kind.clone(), entry.id, entry.digest);
            } else {
                not_held.push(entry);
            }
        }
        Ok(not_held)
    }

    async fn finish(
        mut self,
        finished_at: DateTime<Utc>,
        status: SnapshotStatus,
    ) -> Result<(Snapshot, WriteStats), Self::Error> {
        self.snapshot.seal(finished_at, status);
        let mut held = self.into.lock();
        held.objects.append(&mut self.objects);
        held.snapshots
            .insert(self.snapshot.id, self.snapshot.clone());
        Ok((self.snapshot, self.stats))
    }
}

impl SnapshotTarget for InMemorySnapshotSource {
    type Sink<'a> = InMemorySnapshotWriter<'a>;

    fn begin_snapshot(
        &self,
        provider: ProviderKind,
        org: &str,
        started_at: DateTime<Utc>,
    ) -> InMemorySnapshotWriter<'_> {
        InMemorySnapshotWriter {
            into: self,
            snapshot: Snapshot::begin(provider, org, started_at),
            objects: BTreeMap::new(),
            stats: WriteStats::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt as _;
    use futures::executor::block_on;
    use serde_json::json;

    use super::*;

    fn user(id: &str) -> Resource {
        Resource::new(ResourceKind::new("user"), id, json!({"id": id}))
    }

    #[test]
    fn reads_back_what_was_inserted_in_id_order() {
        let mut source = InMemorySnapshotSource::new();
        let snap = source.insert(
            ProviderKind::Okta,
            "o",
            DateTime::<Utc>::UNIX_EPOCH,
            SnapshotStatus::Complete,
            [user("b"), user("a"), user("c")],
        );
        let kind = ResourceKind::new("user");
        let ids: Vec<String> =
            block_on(source.kind_resources(&snap, &kind).try_collect::<Vec<_>>())
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert!(
            block_on(source.resource(snap.id, &kind, "zz"))
                .unwrap()
                .is_none()
        );
        let other = ResourceKind::new("group");
        assert!(
            block_on(source.resource(snap.id, &other, "a"))
                .unwrap()
                .is_none()
        );
    }

    /// A source that has only the required methods, so `visit_kind` is the default.
    struct ByObject<'a>(&'a InMemorySnapshotSource);
    #[async_trait]
    impl SnapshotSource for ByObject<'_> {
        async fn summaries(&self) -> Result<Vec<SnapshotSummary>, SourceError> {
            self.0.summaries().await
        }
        async fn manifest(&self, id: SnapshotId) -> Result<Snapshot, SourceError> {
            self.0.manifest(id).await
        }
        async fn object(&self, digest: &Digest) -> Result<Value, SourceError> {
            self.0.object(digest).await
        }
    }

    #[test]
    fn visiting_a_kind_lends_what_reading_it_returns() {
        let mut source = InMemorySnapshotSource::new();
        let snap = source.insert(
            ProviderKind::Okta,
            "o",
            DateTime::<Utc>::UNIX_EPOCH,
            SnapshotStatus::Complete,
            [user("b"), user("a")],
        );
        let kind = ResourceKind::new("user");
        let read: Vec<(String, Value)> =
            block_on(source.kind_resources(&snap, &kind).try_collect::<Vec<_>>())
                .unwrap()
                .into_iter()
                .map(|r| (r.id, r.attributes))
                .collect();
        let mut seen = Vec::new();
        block_on(source.visit_kind(&snap, &kind, &mut |id, v| {
            seen.push((id.to_owned(), v.clone()));
        }))
        .unwrap();
        assert_eq!(seen, read);
        // The default (through `object`) lends the same.
        let mut by_default = Vec::new();
        block_on(ByObject(&source).visit_kind(&snap, &kind, &mut |id, v| {
            by_default.push((id.to_owned(), v.clone()));
        }))
        .unwrap();
        assert_eq!(by_default, read);
        // A missing object is an error, not a silent gap.
        let digest = snap.kinds[&kind][0].digest;
        source.remove_object(&digest);
        let err = block_on(source.visit_kind(&snap, &kind, &mut |_, _| {})).unwrap_err();
        assert!(matches!(err, SourceError::MissingObject(d) if d == digest));
    }

    #[test]
    fn a_runner_can_write_into_it() {
        let source = InMemorySnapshotSource::new();
        let mut sink = source.begin_snapshot(ProviderKind::Okta, "o", DateTime::<Utc>::UNIX_EPOCH);
        block_on(sink.add(&[user("a"), user("b"), user("a")])).unwrap();
        sink.warn("kind `x` skipped".into());
        // Nothing is listed until the snapshot is finished.
        assert!(block_on(source.summaries()).unwrap().is_empty());
        let (snap, stats) =
            block_on(sink.finish(DateTime::<Utc>::UNIX_EPOCH, SnapshotStatus::Partial)).unwrap();
        assert_eq!((stats.resources, stats.new_objects), (3, 2));
        let listed = block_on(source.summaries()).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].resources, 2);
        assert_eq!(listed[0].warnings, ["kind `x` skipped"]);
        let kind = ResourceKind::new("user");
        assert!(
            block_on(source.resource(snap.id, &kind, "b"))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_missing_object_is_an_error_not_a_gap() {
        let mut source = InMemorySnapshotSource::new();
        let snap = source.insert(
            ProviderKind::Okta,
            "o",
            DateTime::<Utc>::UNIX_EPOCH,
            SnapshotStatus::Complete,
            [user("a")],
        );
        assert!(source.remove_object(&user("a").digest()));
        let kind = ResourceKind::new("user");
        let err = block_on(source.resource(snap.id, &kind, "a")).unwrap_err();
        assert!(matches!(err, SourceError::MissingObject(_)));
    }

    #[test]
    fn prefixes_resolve_only_when_unambiguous() {
        let mut source = InMemorySnapshotSource::new();
        let snap = source.insert(
            ProviderKind::Okta,
            "o",
            DateTime::<Utc>::UNIX_EPOCH,
            SnapshotStatus::Complete,
            [],
        );
        let text = snap.id.to_string();
        assert_eq!(block_on(source.resolve(&text[..6])).unwrap(), snap.id);
        assert_eq!(
            block_on(source.resolve(&text.to_uppercase()[..6])).unwrap(),
            snap.id
        );
        assert!(matches!(
            block_on(source.resolve("abc")),
            Err(SourceError::NoMatch(_))
        ));
        let unknown = SnapshotId::new_random();
        assert!(matches!(
            block_on(source.manifest(unknown)),
            Err(SourceError::NotFound(_))
        ));
    }
}
