//! A snapshot's contents for people and scripts: a listing of its resources, one resource,
//! or the whole snapshot as one download.
//!
//! Everything here reads through [`SnapshotSource`], so it works the same over a
//! [`SnapshotRepository`](crate::SnapshotRepository), a server's per-team repository or an
//! in-memory source. The CLI (`butterfly snapshots ls|cat|download`) and the server
//! (`/api/v1/snapshots/{id}/resources`, `/download`) both use it, so they print and send
//! the same bytes.
//!
//! A download comes in two formats ([`ExportFormat`]):
//!
//! - **JSON lines** (`jsonl`): the first line is the manifest (the [`Snapshot`] JSON:
//!   provider, org, times, status, every (kind, id, digest), counts, warnings, root
//!   digest); each further line is one resource, `{"kind", "id", "attributes"}`, in
//!   manifest order (kinds by name, then ids).
//! - **tar.zst**: a zstd-compressed tar holding `manifest.json` (the same manifest,
//!   pretty), then one file per resource, `KIND/ID.json`, holding the same object as its
//!   JSON line, pretty. Bytes outside `[A-Za-z0-9_.-]` in kinds and ids (the `/` of a
//!   nested kind's scoped id, say) are percent-encoded, and so is a leading dot, so
//!   every name is one plain file under its kind's directory.
//!
//! Both are byte-stable: the same snapshot always downloads as the same bytes (keys are
//! sorted, tar headers carry the snapshot's finish time, owner 0 and mode 0644), so a
//! download can be checksummed and compared.
//!
//! ```
//! use std::sync::Arc;
//! use butterfly_core::source::{InMemorySnapshotSource, SnapshotSource};
//! use butterfly_core::{ProviderKind, Resource, ResourceKind, SnapshotStatus};
//! use butterfly_store::export::{self, ExportFormat};
//! use futures::TryStreamExt as _;
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut source = InMemorySnapshotSource::new();
//! let users = ResourceKind::new("user");
//! let snapshot = source.insert(
//!     ProviderKind::Okta,
//!     "https://example.okta.com",
//!     chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
//!     SnapshotStatus::Complete,
//!     [Resource::new(users.clone(), "00u1", json!({"id": "00u1", "profile": {"login": "ada@example.com"}}))],
//! );
//!
//! let listed = export::list_resources(&source, &snapshot, None).await?;
//! assert_eq!(listed[0].name.as_deref(), Some("ada@example.com"));
//!
//! let source: Arc<dyn SnapshotSource> = Arc::new(source);
//! let chunks: Vec<Vec<u8>> = export::export(source, snapshot, ExportFormat::Jsonl)
//!     .try_collect()
//!     .await?;
//! let text = String::from_utf8(chunks.concat())?;
//! assert_eq!(text.lines().count(), 2); // the manifest, then the one user
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::fmt::Write as _;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

use butterfly_core::diff::DiffRules;
use butterfly_core::source::{SnapshotSource, SourceError};
use butterfly_core::{Digest, ManifestEntry, Resource, ResourceKind, Snapshot, canonical_json};
use futures::Stream;
use serde::{Deserialize, Serialize};

/// Why a snapshot's contents could not be listed, read or exported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The snapshot holds no resources of this kind, and never fetched it.
    #[error("snapshot {snapshot} has no kind `{kind}`; it has: {available}")]
    UnknownKind {
        /// The snapshot.
        snapshot: String,
        /// The kind asked for.
        kind: ResourceKind,
        /// The kinds it has, comma-separated (`none` when empty).
        available: String,
    },
    /// The snapshot has the kind, but no resource with this id.
    #[error("snapshot {snapshot} has no `{kind}` with id `{id}`")]
    UnknownResource {
        /// The snapshot.
        snapshot: String,
        /// The kind.
        kind: ResourceKind,
        /// The id asked for.
        id: String,
    },
    /// An unknown download format.
    #[error("unknown format `{0}`: use jsonl or tar.zst")]
    UnknownFormat(String),
    /// The snapshot or one of its objects could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The archive could not be written (compression or tar framing).
    #[error("cannot write the archive: {0}")]
    Archive(#[source] std::io::Error),
    /// A manifest or resource did not serialize (it always should).
    #[error("cannot serialize {what}: {source}")]
    Serialize {
        /// What.
        what: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

/// One resource of a snapshot as a listing shows it: what it is and what it is called,
/// without its body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct ResourceListing {
    /// Its kind (`user`, `group`, `app`...).
    pub kind: ResourceKind,
    /// The provider's id for it (a nested kind's is `{parent}/{own}`).
    pub id: String,
    /// Its display name (a user's login, a group's name, an app's label...), from the
    /// provider's diff rules; `null` when its kind has no name field or the field is
    /// empty.
    pub name: Option<String>,
    /// The SHA-256 of its canonical JSON: equal digests, equal resources.
    pub digest: Digest,
    /// The length of its canonical JSON, in bytes.
    pub bytes: u64,
}

/// The kinds `snapshot` has, or [`ExportError::UnknownKind`] naming them.
fn entries_of<'s>(
    snapshot: &'s Snapshot,
    kind: &ResourceKind,
) -> Result<&'s [ManifestEntry], ExportError> {
    match snapshot.kinds.get(kind) {
        Some(entries) => Ok(entries),
        // A kind fetched empty is counted but may list no entries.
        None if snapshot.counts.contains_key(kind) => Ok(&[]),
        None => Err(ExportError::UnknownKind {
            snapshot: snapshot.id.to_string(),
            kind: kind.clone(),
            available: available_kinds(snapshot),
        }),
    }
}

fn available_kinds(snapshot: &Snapshot) -> String {
    let mut kinds: Vec<&str> = snapshot
        .kinds
        .keys()
        .chain(snapshot.counts.keys())
        .map(ResourceKind::as_str)
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    if kinds.is_empty() {
        "none".to_owned()
    } else {
        kinds.join(", ")
    }
}

/// Every resource of `snapshot` (only those of `kind`, when given), in manifest order,
/// named by its display name. Reads each object once: a listing costs what reading the
/// snapshot costs.
pub async fn list_resources(
    source: &dyn SnapshotSource,
    snapshot: &Snapshot,
    kind: Option<&ResourceKind>,
) -> Result<Vec<ResourceListing>, ExportError> {
    let rules = DiffRules::for_provider(snapshot.provider);
    let kinds: Vec<(&ResourceKind, &[ManifestEntry])> = match kind {
        Some(kind) => vec![(kind, entries_of(snapshot, kind)?)],
        None => snapshot
            .kinds
            .iter()
            .map(|(k, entries)| (k, entries.as_slice()))
            .collect(),
    };
    let mut listed = Vec::new();
    for (kind, entries) in kinds {
        for entry in entries {
            let attributes = source.object(&entry.digest).await?;
            listed.push(ResourceListing {
                kind: kind.clone(),
                id: entry.id.clone(),
                name: rules.name_of(kind, &attributes),
                digest: entry.digest,
                bytes: u64::try_from(canonical_json(&attributes).len()).unwrap_or(u64::MAX),
            });
        }
    }
    Ok(listed)
}

/// One resource of `snapshot`, with an error that says whether the kind or the id was
/// not there.
pub async fn read_resource(
    source: &dyn SnapshotSource,
    snapshot: &Snapshot,
    kind: &ResourceKind,
    id: &str,
) -> Result<Resource, ExportError> {
    let entries = entries_of(snapshot, kind)?;
    // Entries are sorted by id once a snapshot is sealed.
    let at = entries
        .binary_search_by(|e| e.id.as_str().cmp(id))
        .map_err(|_| ExportError::UnknownResource {
            snapshot: snapshot.id.to_string(),
            kind: kind.clone(),
            id: id.to_owned(),
        })?;
    let attributes = source.object(&entries[at].digest).await?;
    Ok(Resource::new(kind.clone(), id, attributes))
}

/// How a whole snapshot is downloaded. See the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExportFormat {
    /// JSON lines: the manifest, then one resource per line.
    Jsonl,
    /// A zstd-compressed tar: `manifest.json`, then `KIND/ID.json` per resource.
    TarZst,
}

impl ExportFormat {
    /// Both formats.
    pub const ALL: [ExportFormat; 2] = [ExportFormat::Jsonl, ExportFormat::TarZst];

    /// The name used on the command line, in query strings and as the file extension.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::TarZst => "tar.zst",
        }
    }

    /// The media type to send it with.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "application/jsonl",
            ExportFormat::TarZst => "application/zstd",
        }
    }

    /// A file name for a download of `snapshot`: `butterfly-snapshot-ID.jsonl`.
    pub fn file_name(self, snapshot: &Snapshot) -> String {
        format!("butterfly-snapshot-{}.{}", snapshot.id, self.as_str())
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExportFormat {
    type Err = ExportError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ExportFormat::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ExportError::UnknownFormat(s.to_owned()))
    }
}

/// The bytes of a download, in chunks, produced as they are read.
pub type ExportStream = Pin<Box<dyn Stream<Item = Result<Vec<u8>, ExportError>> + Send>>;

/// Chunks are handed on once they reach this size, so memory stays flat however large
/// the snapshot while writes stay few.
const CHUNK_BYTES: usize = 64 * 1024;

/// zstd's default level: fast, and what `zstd` on the command line uses.
const ZSTD_LEVEL: i32 = 3;

/// The whole of `snapshot` in `format`, read from `source` one resource at a time and
/// handed on in chunks (a server streams them; the CLI writes them to a file). Every
/// object is checked against its digest as it is read; a damaged one ends the stream
/// with its error.
pub fn export(
    source: Arc<dyn SnapshotSource>,
    snapshot: Snapshot,
    format: ExportFormat,
) -> ExportStream {
    let entries: Vec<(ResourceKind, ManifestEntry)> = snapshot
        .kinds
        .iter()
        .flat_map(|(kind, entries)| entries.iter().map(|e| (kind.clone(), e.clone())))
        .collect();
    let state = ExportState {
        source,
        snapshot,
        entries: entries.into_iter(),
        writer: None,
        format,
        done: false,
    };
    Box::pin(futures::stream::try_unfold(state, |mut state| async move {
        match state.next_chunk().await? {
            Some(chunk) => Ok(Some((chunk, state))),
            None => Ok(None),
        }
    }))
}

struct ExportState {
    source: Arc<dyn SnapshotSource>,
    snapshot: Snapshot,
    entries: std::vec::IntoIter<(ResourceKind, ManifestEntry)>,
    /// `None` until the manifest is written.
    writer: Option<Writer>,
    format: ExportFormat,
    done: bool,
}

/// Where the bytes go before they are handed on.
enum Writer {
    Jsonl(Vec<u8>),
    TarZst {
        tar: tar::Builder<zstd::stream::write::Encoder<'static, Vec<u8>>>,
        /// Every entry's modification time: the snapshot's, so bytes do not depend on
        /// when the download was made.
        mtime: u64,
    },
}

impl Writer {
    fn start(format: ExportFormat, snapshot: &Snapshot) -> Result<Writer, ExportError> {
        Ok(match format {
            ExportFormat::Jsonl => {
                let mut line = to_json(snapshot, false, "the manifest")?;
                line.push(b'\n');
                Writer::Jsonl(line)
            }
            ExportFormat::TarZst => {
                let encoder = zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL)
                    .map_err(ExportError::Archive)?;
                let mut writer = Writer::TarZst {
                    tar: tar::Builder::new(encoder),
                    mtime: u64::try_from(
                        snapshot
                            .finished_at
                            .unwrap_or(snapshot.started_at)
                            .timestamp(),
                    )
                    .unwrap_or(0),
                };
                let mut manifest = to_json(snapshot, true, "the manifest")?;
                manifest.push(b'\n');
                writer.add_file("manifest.json", &manifest)?;
                writer
            }
        })
    }

    fn add_file(&mut self, path: &str, data: &[u8]) -> Result<(), ExportError> {
        if let Writer::TarZst { tar, mtime } = self {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(*mtime);
            // Sets the path (with a GNU long-name entry when it is over 100 bytes) and
            // the checksum.
            tar.append_data(&mut header, path, data)
                .map_err(ExportError::Archive)?;
        }
        Ok(())
    }

    fn add(&mut self, resource: &Resource) -> Result<(), ExportError> {
        let what = || format!("{} {}", resource.kind, resource.id);
        match self {
            Writer::Jsonl(buffer) => {
                let line = to_json(resource, false, &what())?;
                buffer.extend_from_slice(&line);
                buffer.push(b'\n');
                Ok(())
            }
            Writer::TarZst { .. } => {
                let mut body = to_json(resource, true, &what())?;
                body.push(b'\n');
                let path = format!(
                    "{}/{}.json",
                    file_name_part(resource.kind.as_str()),
                    file_name_part(&resource.id)
                );
                self.add_file(&path, &body)
            }
        }
    }

    /// The bytes written so far that no longer need to be held.
    fn buffered(&mut self) -> &mut Vec<u8> {
        match self {
            Writer::Jsonl(buffer) => buffer,
            Writer::TarZst { tar, .. } => tar.get_mut().get_mut(),
        }
    }

    /// The last bytes: the tar's end blocks and zstd's final frame.
    fn finish(self) -> Result<Vec<u8>, ExportError> {
        match self {
            Writer::Jsonl(buffer) => Ok(buffer),
            Writer::TarZst { tar, .. } => {
                let encoder = tar.into_inner().map_err(ExportError::Archive)?;
                encoder.finish().map_err(ExportError::Archive)
            }
        }
    }
}

impl ExportState {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ExportError> {
        if self.done {
            return Ok(None);
        }
        let mut writer = match self.writer.take() {
            Some(writer) => writer,
            None => Writer::start(self.format, &self.snapshot)?,
        };
        while writer.buffered().len() < CHUNK_BYTES {
            let Some((kind, entry)) = self.entries.next() else {
                self.done = true;
                return Ok(Some(writer.finish()?));
            };
            let attributes = self.source.object(&entry.digest).await?;
            writer.add(&Resource::new(kind, entry.id, attributes))?;
        }
        let chunk = std::mem::take(writer.buffered());
        self.writer = Some(writer);
        Ok(Some(chunk))
    }
}

fn to_json<T: Serialize>(value: &T, pretty: bool, what: &str) -> Result<Vec<u8>, ExportError> {
    let mut out = Vec::new();
    let written = if pretty {
        serde_json::to_writer_pretty(&mut out, value)
    } else {
        serde_json::to_writer(&mut out, value)
    };
    written.map_err(|source| ExportError::Serialize {
        what: what.to_owned(),
        source,
    })?;
    Ok(out)
}

/// `text` as one file-name part: bytes outside `[A-Za-z0-9_.-]`, and a leading dot, as
/// `%XX`, so no id can name a directory, a parent (`..`) or a hidden file.
pub fn file_name_part(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, byte) in text.bytes().enumerate() {
        let plain =
            byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' || (byte == b'.' && i > 0);
        if plain {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Writes the chunks of [`export`] into `out`, and returns how many bytes were written.
pub async fn write_export(
    source: Arc<dyn SnapshotSource>,
    snapshot: Snapshot,
    format: ExportFormat,
    out: &mut (dyn std::io::Write + Send),
) -> Result<u64, WriteExportError> {
    use futures::TryStreamExt as _;
    let mut stream = export(source, snapshot, format);
    let mut written = 0u64;
    while let Some(chunk) = stream.try_next().await? {
        out.write_all(&chunk).map_err(WriteExportError::Write)?;
        written += chunk.len() as u64;
    }
    out.flush().map_err(WriteExportError::Write)?;
    Ok(written)
}

/// Why [`write_export`] failed: reading the snapshot, or writing the bytes out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteExportError {
    /// The snapshot could not be read or encoded.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// The output could not be written.
    #[error("cannot write the download: {0}")]
    Write(#[source] std::io::Error),
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Read as _;

    use butterfly_core::source::InMemorySnapshotSource;
    use butterfly_core::{ProviderKind, SnapshotStatus};
    use futures::TryStreamExt as _;
    use serde_json::{Value, json};

    use super::*;

    fn fixture() -> (Arc<dyn SnapshotSource>, Snapshot) {
        let mut source = InMemorySnapshotSource::new();
        let users = ResourceKind::new("user");
        let groups = ResourceKind::new("group");
        let rules = ResourceKind::new("policy_rule");
        let mut resources = vec![
            Resource::new(
                groups.clone(),
                "00g1",
                json!({"id": "00g1", "profile": {"name": "Admins"}}),
            ),
            Resource::new(
                rules,
                "00p1/0pr1",
                json!({"id": "0pr1", "name": "Require MFA", "priority": 1}),
            ),
        ];
        for i in 0..300 {
            resources.push(Resource::new(
                users.clone(),
                format!("00u{i:03}"),
                json!({"id": format!("00u{i:03}"), "profile": {"login": format!("u{i}@example.com"), "bio": "x".repeat(400)}}),
            ));
        }
        let snapshot = source.insert(
            ProviderKind::Okta,
            "https://example.okta.com",
            chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            SnapshotStatus::Complete,
            resources,
        );
        (Arc::new(source), snapshot)
    }

    async fn download(
        source: &Arc<dyn SnapshotSource>,
        snapshot: &Snapshot,
        format: ExportFormat,
    ) -> (Vec<u8>, usize) {
        let chunks: Vec<Vec<u8>> = export(Arc::clone(source), snapshot.clone(), format)
            .try_collect()
            .await
            .unwrap();
        (chunks.concat(), chunks.len())
    }

    /// Every resource of the snapshot, read through the source.
    async fn all(source: &Arc<dyn SnapshotSource>, snapshot: &Snapshot) -> Vec<Resource> {
        let mut out = Vec::new();
        for kind in snapshot.kinds.keys() {
            let mut some: Vec<Resource> = source
                .kind_resources(snapshot, kind)
                .try_collect()
                .await
                .unwrap();
            out.append(&mut some);
        }
        out
    }

    #[tokio::test]
    async fn lists_names_digests_and_sizes_and_filters_by_kind() {
        let (source, snapshot) = fixture();
        let listed = list_resources(source.as_ref(), &snapshot, None)
            .await
            .unwrap();
        assert_eq!(listed.len(), 302);
        let group = &listed[0];
        assert_eq!(
            (
                group.kind.as_str(),
                group.id.as_str(),
                group.name.as_deref()
            ),
            ("group", "00g1", Some("Admins"))
        );
        let body = json!({"id": "00g1", "profile": {"name": "Admins"}});
        assert_eq!(group.digest, Digest::of_json(&body));
        assert_eq!(group.bytes, canonical_json(&body).len() as u64);

        let users = list_resources(source.as_ref(), &snapshot, Some(&ResourceKind::new("user")))
            .await
            .unwrap();
        assert_eq!(users.len(), 300);
        assert_eq!(users[7].name.as_deref(), Some("u7@example.com"));

        let err = list_resources(source.as_ref(), &snapshot, Some(&ResourceKind::new("usr")))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "snapshot {} has no kind `usr`; it has: group, policy_rule, user",
                snapshot.id
            )
        );
    }

    #[tokio::test]
    async fn reads_one_resource_or_says_what_is_missing() {
        let (source, snapshot) = fixture();
        let rule = read_resource(
            source.as_ref(),
            &snapshot,
            &ResourceKind::new("policy_rule"),
            "00p1/0pr1",
        )
        .await
        .unwrap();
        assert_eq!(rule.attributes["name"], "Require MFA");
        let missing = read_resource(
            source.as_ref(),
            &snapshot,
            &ResourceKind::new("user"),
            "00u999",
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&missing, ExportError::UnknownResource { id, .. } if id == "00u999"),
            "{missing}"
        );
        let no_kind = read_resource(source.as_ref(), &snapshot, &ResourceKind::new("app"), "x")
            .await
            .unwrap_err();
        assert!(matches!(no_kind, ExportError::UnknownKind { .. }));
    }

    #[tokio::test]
    async fn jsonl_round_trips_and_is_byte_stable() {
        let (source, snapshot) = fixture();
        let (bytes, chunks) = download(&source, &snapshot, ExportFormat::Jsonl).await;
        assert!(chunks > 1, "a 150 KB download comes in several chunks");
        let text = String::from_utf8(bytes.clone()).unwrap();
        let mut lines = text.lines();
        let manifest: Snapshot = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(manifest, snapshot);
        let resources: Vec<Resource> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(resources, all(&source, &snapshot).await);
        // Each line is `{kind, id, attributes}` and nothing else.
        let first: Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
        assert_eq!(
            first.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["attributes", "id", "kind"]
        );
        assert!(text.ends_with('\n'));
        assert_eq!(
            download(&source, &snapshot, ExportFormat::Jsonl).await.0,
            bytes
        );
    }

    #[tokio::test]
    async fn tar_zst_round_trips_and_is_byte_stable() {
        let (source, snapshot) = fixture();
        let (bytes, _) = download(&source, &snapshot, ExportFormat::TarZst).await;
        let tar = zstd::decode_all(bytes.as_slice()).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut files = BTreeMap::new();
        let mut order = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            assert_eq!(entry.header().mode().unwrap(), 0o644);
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            order.push(path.clone());
            files.insert(path, text);
        }
        assert_eq!(order[0], "manifest.json");
        let manifest: Snapshot = serde_json::from_str(&files["manifest.json"]).unwrap();
        assert_eq!(manifest, snapshot);
        assert!(files.contains_key("policy_rule/00p1%2F0pr1.json"));
        let mut resources = Vec::new();
        for path in &order[1..] {
            resources.push(serde_json::from_str::<Resource>(&files[path]).unwrap());
        }
        assert_eq!(resources, all(&source, &snapshot).await);
        assert_eq!(
            download(&source, &snapshot, ExportFormat::TarZst).await.0,
            bytes
        );
    }

    #[tokio::test]
    async fn a_missing_object_ends_the_download_with_its_error() {
        let mut source = InMemorySnapshotSource::new();
        let kept = source.insert(
            ProviderKind::Okta,
            "https://example.okta.com",
            chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            SnapshotStatus::Complete,
            [Resource::new(
                ResourceKind::new("user"),
                "00u1",
                json!({"id": "00u1"}),
            )],
        );
        let digest = kept.kinds[&ResourceKind::new("user")][0].digest;
        assert!(source.remove_object(&digest));
        let source: Arc<dyn SnapshotSource> = Arc::new(source);
        let result: Result<Vec<Vec<u8>>, _> = export(source, kept, ExportFormat::Jsonl)
            .try_collect()
            .await;
        assert!(matches!(
            result,
            Err(ExportError::Source(SourceError::MissingObject(d))) if d == digest
        ));
    }

    #[test]
    fn file_names_cannot_escape_their_directory() {
        assert_eq!(file_name_part("00u1"), "00u1");
        assert_eq!(file_name_part("00p1/0pr1"), "00p1%2F0pr1");
        assert_eq!(file_name_part(".."), "%2E.");
        assert_eq!(file_name_part(".hidden"), "%2Ehidden");
        assert_eq!(file_name_part("a.b c"), "a.b%20c");
        assert_eq!(file_name_part("é"), "%C3%A9");
    }

    proptest::proptest! {
        /// Whatever the id, its file name is one plain path component, and decoding it
        /// gives the id back (so two ids never share a file).
        #[test]
        fn any_id_is_one_reversible_file_name(id in "\\PC{0,40}") {
            let name = file_name_part(&id);
            proptest::prop_assert!(!name.contains('/') && !name.starts_with('.'));
            proptest::prop_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-%".contains(&b)));
            let mut decoded = Vec::new();
            let bytes = name.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'%' {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                    decoded.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 3;
                } else {
                    decoded.push(bytes[i]);
                    i += 1;
                }
            }
            proptest::prop_assert_eq!(String::from_utf8(decoded).unwrap(), id);
        }
    }

    #[test]
    fn formats_parse_by_name() {
        assert_eq!(
            "jsonl".parse::<ExportFormat>().unwrap(),
            ExportFormat::Jsonl
        );
        assert_eq!(
            "TAR.ZST".parse::<ExportFormat>().unwrap(),
            ExportFormat::TarZst
        );
        assert_eq!(
            "zip".parse::<ExportFormat>().unwrap_err().to_string(),
            "unknown format `zip`: use jsonl or tar.zst"
        );
    }
}
