//! What changed between two snapshots: resources added, removed and changed, each change
//! field by field, with a severity.
//!
//! - **Digest first.** Entries whose digests are equal are skipped without reading or
//!   parsing their objects, so a diff costs what changed, not what the org holds.
//! - **Noise out.** Volatile fields (`lastLogin`, `lastUpdated`, `_links`...) are ignored
//!   unless asked for, and arrays that are sets (group ids in a policy condition, scopes)
//!   compare as sets: a reordering is no change.
//! - **Severity from data.** Each change is rated by the provider's rule table
//!   ([`DiffRules`], kept as a JSON file beside this module): a sign-on rule loosened is
//!   critical, a password minimum lowered high, an assignment low, a description info.
//! - **Named.** Every resource carries its display name, not only its id.
//!
//! ```
//! use butterfly_core::diff::{DiffOptions, DiffRules, Severity, diff_snapshots};
//! use butterfly_core::source::InMemorySnapshotSource;
//! use butterfly_core::{ProviderKind, Resource, ResourceKind, SnapshotStatus};
//! use serde_json::json;
//!
//! # futures::executor::block_on(async {
//! let zone = |gateways: serde_json::Value| {
//!     Resource::new(
//!         ResourceKind::new("network_zone"),
//!         "nzo1",
//!         json!({"id": "nzo1", "name": "Office", "gateways": gateways, "lastUpdated": "x"}),
//!     )
//! };
//! let mut source = InMemorySnapshotSource::new();
//! let at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
//! let before = source.insert(ProviderKind::Okta, "o", at, SnapshotStatus::Complete, [zone(json!(["10.0.0.1"]))]);
//! let after = source.insert(ProviderKind::Okta, "o", at, SnapshotStatus::Complete, [zone(json!(["0.0.0.0/0"]))]);
//!
//! let rules = DiffRules::for_provider(ProviderKind::Okta);
//! let diff = diff_snapshots(&source, &before, &after, &rules, &DiffOptions::default()).await?;
//! assert_eq!(diff.changed.len(), 1);
//! assert_eq!(diff.changed[0].name, "Office");
//! assert_eq!(diff.changed[0].severity, Severity::High);
//! assert_eq!(diff.changed[0].changes[0].change.pointer, "/gateways");
//! # Ok::<(), butterfly_core::source::SourceError>(())
//! # }).unwrap();
//! ```

mod rules;
mod value;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use rules::{DiffRules, Rated};
pub use value::apply;

use crate::source::{SnapshotSource, SourceError};
use crate::{Error, ManifestEntry, ResourceKind, Snapshot};

/// How much a change matters, from `info` to `critical`.
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
    Default,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Severity {
    /// Worth knowing, nothing to act on (a description).
    #[default]
    Info,
    /// Routine (an assignment, a user added).
    Low,
    /// Worth a look (a group rule, a user deleted).
    Medium,
    /// Changes who can do what (an app's sign-on mode, a password minimum lowered).
    High,
    /// Changes how people prove who they are, or who is an admin.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| Error::InvalidId {
                what: "severity (info, low, medium, high, critical)",
                value: s.to_owned(),
            })
    }
}

/// What happened to a resource between two snapshots.
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
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChangeKind {
    /// Only in the newer snapshot.
    Added,
    /// Only in the older one.
    Removed,
    /// In both, with different content.
    Changed,
}

/// One field that differs: its JSON pointer, and its value before and after (absent
/// when the field did not exist on that side).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct FieldChange {
    /// Where, as a JSON pointer (RFC 6901) into the resource.
    pub pointer: String,
    /// The value before; absent when the field was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    /// The value after; absent when the field was removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
    /// For a set: the members added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<Value>,
    /// For a set: the members removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<Value>,
}

impl FieldChange {
    fn replaced(pointer: String, old: &Value, new: &Value) -> Self {
        FieldChange {
            pointer,
            old: Some(old.clone()),
            new: Some(new.clone()),
            added: Vec::new(),
            removed: Vec::new(),
        }
    }
}

/// A field change with the severity its rule gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct RatedChange {
    /// The change.
    #[serde(flatten)]
    pub change: FieldChange,
    /// How much it matters.
    pub severity: Severity,
    /// Why, when a rule named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// A resource added or removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct ResourceEntry {
    /// Its kind.
    pub kind: ResourceKind,
    /// The provider's id.
    pub id: String,
    /// Its display name (the id when it has none).
    pub name: String,
    /// How much it matters.
    pub severity: Severity,
}

/// A resource whose content changed, field by field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct ChangedResource {
    /// Its kind.
    pub kind: ResourceKind,
    /// The provider's id.
    pub id: String,
    /// Its display name in the newer snapshot.
    pub name: String,
    /// The highest severity of its changes.
    pub severity: Severity,
    /// Each field that differs, in pointer order.
    pub changes: Vec<RatedChange>,
}

/// Counts per kind.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[non_exhaustive]
pub struct KindCounts {
    /// Resources added.
    pub added: u64,
    /// Resources removed.
    pub removed: u64,
    /// Resources changed.
    pub changed: u64,
}

/// The totals of a diff, by kind and by severity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct DiffSummary {
    /// Resources added.
    pub added: u64,
    /// Resources removed.
    pub removed: u64,
    /// Resources changed.
    pub changed: u64,
    /// Resources whose digests differ only in volatile fields or set order.
    pub unchanged_but_noisy: u64,
    /// Per kind.
    pub by_kind: BTreeMap<ResourceKind, KindCounts>,
    /// Per severity, every added, removed and changed resource counted once.
    pub by_severity: BTreeMap<Severity, u64>,
    /// The highest severity present, if anything changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highest: Option<Severity>,
}

/// What changed between two snapshots. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct SnapshotDiff {
    /// The older snapshot's id (or a label such as `live`).
    pub from: String,
    /// The newer snapshot's id (or `live`).
    pub to: String,
    /// Totals.
    pub summary: DiffSummary,
    /// Resources only in the newer snapshot.
    pub added: Vec<ResourceEntry>,
    /// Resources only in the older snapshot.
    pub removed: Vec<ResourceEntry>,
    /// Resources in both whose content differs.
    pub changed: Vec<ChangedResource>,
}

/// What a diff looks at.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DiffOptions {
    /// Only these kinds (all when empty).
    pub kinds: BTreeSet<ResourceKind>,
    /// Leave out entries below this severity.
    pub min_severity: Severity,
    /// Report volatile fields too.
    pub include_volatile: bool,
}

impl DiffOptions {
    /// Only `kinds`.
    #[must_use]
    pub fn with_kinds(mut self, kinds: impl IntoIterator<Item = ResourceKind>) -> Self {
        self.kinds = kinds.into_iter().collect();
        self
    }

    /// Leave out entries below `severity`.
    #[must_use]
    pub fn with_min_severity(mut self, severity: Severity) -> Self {
        self.min_severity = severity;
        self
    }

    /// Report volatile fields too.
    #[must_use]
    pub fn with_volatile(mut self, include: bool) -> Self {
        self.include_volatile = include;
        self
    }
}

/// The path rules of one kind, as the value walk sees them.
struct KindRules<'a> {
    rules: &'a DiffRules,
    kind: &'a ResourceKind,
    include_volatile: bool,
}

impl value::PathRules for KindRules<'_> {
    fn is_volatile(&self, pointer: &str) -> bool {
        !self.include_volatile && self.rules.is_volatile(self.kind, pointer)
    }
    fn is_set(&self, pointer: &str) -> bool {
        self.rules.is_set(self.kind, pointer)
    }
}

/// The field changes between two versions of one resource, rated.
pub fn diff_resource(
    rules: &DiffRules,
    kind: &ResourceKind,
    old: &Value,
    new: &Value,
    include_volatile: bool,
) -> Vec<RatedChange> {
    let mut changes = Vec::new();
    let path_rules = KindRules {
        rules,
        kind,
        include_volatile,
    };
    value::diff_json(old, new, &mut String::new(), &path_rules, &mut changes);
    changes
        .into_iter()
        .map(|change| {
            let Rated { severity, why } = rules.rate_field_in(
                kind,
                &change.pointer,
                change.old.as_ref(),
                change.new.as_ref(),
                new,
            );
            RatedChange {
                change,
                severity,
                why,
            }
        })
        .collect()
}

/// Compare snapshot `old` with snapshot `new`, reading from `source` only the objects of
/// entries whose digests differ.
pub async fn diff_snapshots(
    source: &dyn SnapshotSource,
    old: &Snapshot,
    new: &Snapshot,
    rules: &DiffRules,
    options: &DiffOptions,
) -> Result<SnapshotDiff, SourceError> {
    let mut diff = SnapshotDiff {
        from: old.id.to_string(),
        to: new.id.to_string(),
        summary: DiffSummary::default(),
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
    };
    let kinds: BTreeSet<&ResourceKind> = old
        .kinds
        .keys()
        .chain(new.kinds.keys())
        .filter(|k| options.kinds.is_empty() || options.kinds.contains(*k))
        .collect();
    let empty = Vec::new();
    for kind in kinds {
        let before = old.kinds.get(kind).unwrap_or(&empty);
        let after = new.kinds.get(kind).unwrap_or(&empty);
        diff_kind(source, kind, before, after, rules, options, &mut diff).await?;
    }
    diff.summary.highest = diff.summary.by_severity.keys().next_back().copied();
    Ok(diff)
}

/// Merge-join two sorted entry lists of one kind.
async fn diff_kind(
    source: &dyn SnapshotSource,
    kind: &ResourceKind,
    before: &[ManifestEntry],
    after: &[ManifestEntry],
    rules: &DiffRules,
    options: &DiffOptions,
    diff: &mut SnapshotDiff,
) -> Result<(), SourceError> {
    let (mut i, mut j) = (0, 0);
    while i < before.len() || j < after.len() {
        let order = match (before.get(i), after.get(j)) {
            (Some(a), Some(b)) => a.id.cmp(&b.id),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, _) => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less | std::cmp::Ordering::Greater => {
                let (entry, what) = if order.is_lt() {
                    i += 1;
                    (&before[i - 1], ChangeKind::Removed)
                } else {
                    j += 1;
                    (&after[j - 1], ChangeKind::Added)
                };
                if let Some(record) = whole(source, kind, entry, rules, what, options).await? {
                    record_whole(diff, record, what);
                }
            }
            std::cmp::Ordering::Equal => {
                let (a, b) = (&before[i], &after[j]);
                // Digest first: equal content is never read.
                if a.digest != b.digest {
                    let old_body = source.object(&a.digest).await?;
                    let new_body = source.object(&b.digest).await?;
                    let changes =
                        diff_resource(rules, kind, &old_body, &new_body, options.include_volatile);
                    match changes.iter().map(|c| c.severity).max() {
                        None => diff.summary.unchanged_but_noisy += 1,
                        Some(severity) if severity >= options.min_severity => {
                            diff.summary.changed += 1;
                            diff.summary
                                .by_kind
                                .entry(kind.clone())
                                .or_default()
                                .changed += 1;
                            *diff.summary.by_severity.entry(severity).or_default() += 1;
                            diff.changed.push(ChangedResource {
                                kind: kind.clone(),
                                id: b.id.clone(),
                                name: rules
                                    .name_of(kind, &new_body)
                                    .unwrap_or_else(|| b.id.clone()),
                                severity,
                                changes,
                            });
                        }
                        Some(_) => {}
                    }
                }
                i += 1;
                j += 1;
            }
        }
    }
    Ok(())
}

/// A resource only one side has, named and rated; `None` when below the threshold (its
/// object is then never read).
async fn whole(
    source: &dyn SnapshotSource,
    kind: &ResourceKind,
    entry: &ManifestEntry,
    rules: &DiffRules,
    what: ChangeKind,
    options: &DiffOptions,
) -> Result<Option<ResourceEntry>, SourceError> {
    // The body is read only when a rule needs it or the entry is reported.
    let (severity, body) = if rules.needs_body(kind, what) {
        let body = source.object(&entry.digest).await?;
        (rules.rate_resource_body(kind, what, &body).severity, body)
    } else {
        let severity = rules.rate_resource(kind, what).severity;
        if severity < options.min_severity {
            return Ok(None);
        }
        (severity, source.object(&entry.digest).await?)
    };
    if severity < options.min_severity {
        return Ok(None);
    }
    Ok(Some(ResourceEntry {
        kind: kind.clone(),
        id: entry.id.clone(),
        name: rules
            .name_of(kind, &body)
            .unwrap_or_else(|| entry.id.clone()),
        severity,
    }))
}

fn record_whole(diff: &mut SnapshotDiff, record: ResourceEntry, what: ChangeKind) {
    let counts = diff.summary.by_kind.entry(record.kind.clone()).or_default();
    *diff.summary.by_severity.entry(record.severity).or_default() += 1;
    if what == ChangeKind::Added {
        counts.added += 1;
        diff.summary.added += 1;
        diff.added.push(record);
    } else {
        counts.removed += 1;
        diff.summary.removed += 1;
        diff.removed.push(record);
    }
}

#[cfg(test)]
mod entra_tests;
#[cfg(test)]
mod tests;
