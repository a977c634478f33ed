//! A snapshot's manifest as stored, versioned apart from [`butterfly_core::Snapshot`].
//!
//! The stored manifest is a sealed file (`snapshots/{id}.snapshot`, see the `envelope`
//! module) whose plaintext is the canonical JSON (sorted keys, no whitespace) of:
//!
//! ```text
//! {
//!   "format": 1,
//!   "snapshot": {
//!     "id": "<uuid>",
//!     "provider": "okta",                      ProviderKind's wire name
//!     "org": "https://example.okta.com",
//!     "started_at": "2026-01-02T03:04:05Z",     RFC 3339
//!     "finished_at": "2026-01-02T03:05:00Z",    RFC 3339, or null while running
//!     "status": "complete",                     running | complete | partial | failed
//!     "kinds": {},                              always empty: entries are in entry lists
//!     "counts": {"user": 3},
//!     "warnings": ["..."],
//!     "root_digest": "<64 hex>"
//!   },
//!   "entry_lists": {"user": ["<64 hex>", ...]}  per kind, its entry-list objects
//! }
//! ```
//!
//! Each entry-list object is stored in a pack like any other object, under the SHA-256 of
//! its canonical JSON `[["<resource id>", "<64 hex digest>"], ...]`, at most
//! [`ENTRY_LIST_CHUNK`] entries each, in id order: a kind that did not change costs the
//! next snapshot no new object.
//!
//! Format 1 was first written by serializing `butterfly_core::Snapshot` directly (hence
//! `kinds`, always empty). The types here spell out every field, so renaming a field of
//! the core type cannot change what is written, and they read those first files as they
//! are. A change to this layout is a new format number, with a reader kept for each older
//! one.

use std::collections::BTreeMap;

use butterfly_core::{
    Digest, ManifestEntry, ProviderKind, ResourceKind, Snapshot, SnapshotId, SnapshotStatus,
    canonical_json,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The manifest format this build writes.
pub const FORMAT_VERSION: u32 = 1;

/// Entries per stored entry-list object.
pub const ENTRY_LIST_CHUNK: usize = 1024;

/// Why stored manifest bytes could not be read, or a snapshot could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The plaintext is not JSON of the expected shape.
    #[error("not a manifest: {0}")]
    Shape(#[source] serde_json::Error),
    /// A format this build does not know (written by a newer one).
    #[error("unknown manifest format {0}")]
    UnknownFormat(u32),
    /// A field holds a value this build cannot read.
    #[error("field `{field}`: {reason}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The snapshot has a status this format cannot express.
    #[error("status {0:?} has no stored form")]
    UnknownStatus(SnapshotStatus),
}

/// Format 1, as stored. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredManifest {
    format: u32,
    snapshot: StoredSnapshot,
    /// Per kind, the digests (hex) of its entry-list objects, in order.
    entry_lists: BTreeMap<String, Vec<String>>,
}

/// The snapshot part of a format 1 manifest: a `Snapshot` without entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredSnapshot {
    id: String,
    provider: String,
    org: String,
    started_at: String,
    finished_at: Option<String>,
    status: String,
    /// Always empty; kept because the first format 1 writer wrote it.
    #[serde(default)]
    kinds: BTreeMap<String, Value>,
    counts: BTreeMap<String, u64>,
    warnings: Vec<String>,
    root_digest: String,
}

/// Only the version, read first, so an unknown format is reported as such and not as a
/// missing field.
#[derive(Deserialize)]
struct FormatProbe {
    format: u32,
}

fn rfc3339(field: &'static str, at: DateTime<Utc>) -> Result<String, ManifestError> {
    butterfly_core::rfc3339::format(&at).map_err(|e| ManifestError::Field {
        field,
        reason: e.to_string(),
    })
}

fn parse_time(field: &'static str, text: &str) -> Result<DateTime<Utc>, ManifestError> {
    butterfly_core::rfc3339::parse(text).map_err(|e| ManifestError::Field {
        field,
        reason: format!("`{text}` is not an RFC 3339 time: {e}"),
    })
}

fn parse_digest(field: &'static str, text: &str) -> Result<Digest, ManifestError> {
    text.parse().map_err(|_| ManifestError::Field {
        field,
        reason: format!("`{text}` is not a digest"),
    })
}

fn status_name(status: SnapshotStatus) -> Result<&'static str, ManifestError> {
    Ok(match status {
        SnapshotStatus::Running => "running",
        SnapshotStatus::Complete => "complete",
        SnapshotStatus::Partial => "partial",
        SnapshotStatus::Failed => "failed",
        other => return Err(ManifestError::UnknownStatus(other)),
    })
}

fn parse_status(text: &str) -> Result<SnapshotStatus, ManifestError> {
    Ok(match text {
        "running" => SnapshotStatus::Running,
        "complete" => SnapshotStatus::Complete,
        "partial" => SnapshotStatus::Partial,
        "failed" => SnapshotStatus::Failed,
        other => {
            return Err(ManifestError::Field {
                field: "status",
                reason: format!("unknown status `{other}`"),
            });
        }
    })
}

impl StoredManifest {
    /// The stored form of `snapshot` (its entries are ignored: they are in the entry-list
    /// objects named by `entry_lists`, per kind).
    pub fn new(
        snapshot: &Snapshot,
        entry_lists: &BTreeMap<ResourceKind, Vec<Digest>>,
    ) -> Result<Self, ManifestError> {
        Ok(StoredManifest {
            format: FORMAT_VERSION,
            snapshot: StoredSnapshot {
                id: snapshot.id.to_string(),
                provider: snapshot.provider.as_str().to_owned(),
                org: snapshot.org.clone(),
                started_at: rfc3339("started_at", snapshot.started_at)?,
                finished_at: snapshot
                    .finished_at
                    .map(|at| rfc3339("finished_at", at))
                    .transpose()?,
                status: status_name(snapshot.status)?.to_owned(),
                kinds: BTreeMap::new(),
                counts: snapshot
                    .counts
                    .iter()
                    .map(|(kind, n)| (kind.as_str().to_owned(), *n))
                    .collect(),
                warnings: snapshot.warnings.clone(),
                root_digest: snapshot.root_digest.to_hex(),
            },
            entry_lists: entry_lists
                .iter()
                .map(|(kind, chunks)| {
                    (
                        kind.as_str().to_owned(),
                        chunks.iter().map(Digest::to_hex).collect(),
                    )
                })
                .collect(),
        })
    }

    /// The plaintext to seal: canonical JSON, so equal manifests are equal bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ManifestError> {
        let value = serde_json::to_value(self).map_err(ManifestError::Shape)?;
        Ok(canonical_json(&value))
    }

    /// Read a manifest's plaintext, of any format this build knows.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ManifestError> {
        let probe: FormatProbe = serde_json::from_slice(bytes).map_err(ManifestError::Shape)?;
        if probe.format != FORMAT_VERSION {
            return Err(ManifestError::UnknownFormat(probe.format));
        }
        serde_json::from_slice(bytes).map_err(ManifestError::Shape)
    }

    /// The format version it was stored with.
    pub fn format(&self) -> u32 {
        self.format
    }

    /// The snapshot id it names.
    pub fn id(&self) -> Result<SnapshotId, ManifestError> {
        self.snapshot.id.parse().map_err(|_| ManifestError::Field {
            field: "id",
            reason: format!("`{}` is not a snapshot id", self.snapshot.id),
        })
    }

    /// The snapshot it describes, without entries (`kinds` is empty; `counts` is not).
    pub fn snapshot(&self) -> Result<Snapshot, ManifestError> {
        let s = &self.snapshot;
        let provider: ProviderKind = s.provider.parse().map_err(|_| ManifestError::Field {
            field: "provider",
            reason: format!("unknown provider `{}`", s.provider),
        })?;
        let mut snapshot = Snapshot::begin(
            provider,
            s.org.clone(),
            parse_time("started_at", &s.started_at)?,
        );
        snapshot.id = self.id()?;
        snapshot.finished_at = s
            .finished_at
            .as_deref()
            .map(|at| parse_time("finished_at", at))
            .transpose()?;
        snapshot.status = parse_status(&s.status)?;
        snapshot.counts = s
            .counts
            .iter()
            .map(|(kind, n)| (ResourceKind::new(kind.clone()), *n))
            .collect();
        snapshot.warnings.clone_from(&s.warnings);
        snapshot.root_digest = parse_digest("root_digest", &s.root_digest)?;
        Ok(snapshot)
    }

    /// Per kind, the digests of its entry-list objects, in order.
    pub fn entry_lists(&self) -> Result<BTreeMap<ResourceKind, Vec<Digest>>, ManifestError> {
        self.entry_lists
            .iter()
            .map(|(kind, chunks)| {
                let digests = chunks
                    .iter()
                    .map(|d| parse_digest("entry_lists", d))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((ResourceKind::new(kind.clone()), digests))
            })
            .collect()
    }
}

/// The plaintext of one entry-list object: `[["id", "digest"], ...]`, canonical.
pub fn encode_entry_list(entries: &[ManifestEntry]) -> Vec<u8> {
    let value = Value::Array(
        entries
            .iter()
            .map(|e| {
                Value::Array(vec![
                    Value::String(e.id.clone()),
                    Value::String(e.digest.to_hex()),
                ])
            })
            .collect(),
    );
    canonical_json(&value)
}

/// Read one entry-list object's plaintext.
pub fn decode_entry_list(bytes: &[u8]) -> Result<Vec<ManifestEntry>, ManifestError> {
    let pairs: Vec<(String, String)> =
        serde_json::from_slice(bytes).map_err(ManifestError::Shape)?;
    pairs
        .into_iter()
        .map(|(id, digest)| {
            Ok(ManifestEntry {
                id,
                digest: parse_digest("entry list", &digest)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A format 1 manifest exactly as the first writer (which serialized
    /// `butterfly_core::Snapshot` itself) wrote it.
    const FORMAT_1: &str = concat!(
        r#"{"entry_lists":{"group":["#,
        r#""0000000000000000000000000000000000000000000000000000000000000002"],"#,
        r#""user":["0000000000000000000000000000000000000000000000000000000000000001"]},"#,
        r#""format":1,"snapshot":{"counts":{"group":1,"user":2},"#,
        r#""finished_at":"2026-01-02T03:05:00Z","id":"6f1b7a3c-2d4e-4f5a-8b6c-7d8e9f0a1b2c","#,
        r#""kinds":{},"org":"https://example.okta.com","provider":"okta","#,
        r#""root_digest":"00000000000000000000000000000000000000000000000000000000000000ff","#,
        r#""started_at":"2026-01-02T03:04:05Z","status":"partial","#,
        r#""warnings":["skipped kind `app`: 403"]}}"#
    );

    #[test]
    fn reads_format_1_as_first_written_and_writes_the_same_bytes() {
        let stored = StoredManifest::from_bytes(FORMAT_1.as_bytes()).unwrap();
        let snapshot = stored.snapshot().unwrap();
        assert_eq!(
            snapshot.id.to_string(),
            "6f1b7a3c-2d4e-4f5a-8b6c-7d8e9f0a1b2c"
        );
        assert_eq!(snapshot.provider, ProviderKind::Okta);
        assert_eq!(snapshot.org, "https://example.okta.com");
        assert_eq!(snapshot.status, SnapshotStatus::Partial);
        assert_eq!(
            snapshot.started_at,
            "2026-01-02T03:04:05Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            snapshot.finished_at,
            Some("2026-01-02T03:05:00Z".parse::<DateTime<Utc>>().unwrap())
        );
        assert_eq!(snapshot.counts[&ResourceKind::new("user")], 2);
        assert_eq!(snapshot.warnings, ["skipped kind `app`: 403"]);
        assert!(snapshot.kinds.is_empty());
        let lists = stored.entry_lists().unwrap();
        assert_eq!(lists[&ResourceKind::new("group")].len(), 1);
        // Written again from the core type, the bytes are the same.
        let again = StoredManifest::new(&snapshot, &lists).unwrap();
        assert_eq!(
            String::from_utf8(again.to_bytes().unwrap()).unwrap(),
            FORMAT_1
        );
    }

    #[test]
    fn unknown_formats_and_bad_fields_are_named() {
        let newer = FORMAT_1.replace(r#""format":1"#, r#""format":2"#);
        assert!(matches!(
            StoredManifest::from_bytes(newer.as_bytes()),
            Err(ManifestError::UnknownFormat(2))
        ));
        for (from, to, field) in [
            (
                r#""provider":"okta""#,
                r#""provider":"myspace""#,
                "provider",
            ),
            (r#""status":"partial""#, r#""status":"paused""#, "status"),
            (
                r#""started_at":"2026-01-02T03:04:05Z""#,
                r#""started_at":"yesterday""#,
                "started_at",
            ),
        ] {
            let bad = FORMAT_1.replace(from, to);
            let stored = StoredManifest::from_bytes(bad.as_bytes()).unwrap();
            let err = stored.snapshot().unwrap_err();
            assert!(
                matches!(&err, ManifestError::Field { field: f, .. } if *f == field),
                "{err:?}"
            );
        }
        assert!(matches!(
            StoredManifest::from_bytes(b"{\"format\":1}"),
            Err(ManifestError::Shape(_))
        ));
    }

    #[test]
    fn entry_lists_round_trip() {
        let entries = vec![
            ManifestEntry {
                id: "00u1".into(),
                digest: Digest::of_bytes(b"a"),
            },
            ManifestEntry {
                id: "00u2".into(),
                digest: Digest::of_bytes(b"b"),
            },
        ];
        let bytes = encode_entry_list(&entries);
        assert!(bytes.starts_with(br#"[["00u1",""#));
        assert_eq!(decode_entry_list(&bytes).unwrap(), entries);
        assert!(decode_entry_list(br#"[["00u1","zz"]]"#).is_err());
    }
}
