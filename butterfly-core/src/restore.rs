//! Restore plans: what a restore or an environment sync will write, reviewed before it
//! writes anything.
//!
//! A restore is a plan, then an execution. The plan compares a snapshot with the live
//! org and lists, per resource, what the execution will do and why:
//!
//! - `create`: in the snapshot, not in the org;
//! - `update`: in both, different, and `overwrite` was asked for (each entry carries its
//!   field changes, as a diff shows them);
//! - `delete`: in the org, not in the snapshot, and `delete_extra` was asked for;
//! - `skip`: equal, or existing without `overwrite`, or of a kind that cannot be
//!   restored, with the reason.
//!
//! Entries carry their `order`: the position of the step in the execution, so a plan
//! read by a person reads in the order it runs. Creates and updates run in dependency
//! order (user types before users, users before memberships...), deletes after them in
//! reverse.
//!
//! Two digests make a reviewed plan safe to execute later:
//!
//! - [`RestorePlan::live_fingerprint`] covers the live state the plan was made from (the
//!   resources of the kinds it read, volatile fields left out). Executing a saved plan
//!   reads the org again and refuses when this digest no longer matches
//!   ([`PlanError::LiveChanged`]): the plan would no longer do what was reviewed.
//! - [`RestorePlan::fingerprint`] covers the plan itself, so an edited plan file is
//!   refused ([`PlanError::Tampered`]).
//!
//! Plans hold ids, names and field changes, never whole resource bodies: the bodies stay
//! in the (encrypted) repository and are read again when the plan executes.
//!
//! ```
//! use butterfly_core::restore::{PlanEntry, RestoreMode, RestoreOptions, RestorePlan};
//! use butterfly_core::{Digest, ProviderKind, ResourceKind, SnapshotId};
//!
//! let mut plan = RestorePlan::new(
//!     SnapshotId::new_random(),
//!     ProviderKind::Okta,
//!     "https://example.okta.com",
//!     chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
//!     RestoreMode::Restore,
//!     RestoreOptions::default(),
//!     Digest::of_json(&serde_json::json!([])),
//! );
//! plan.create.push(PlanEntry::new(ResourceKind::new("group"), "00g1", "Ops", "not in the org"));
//! plan.seal();
//! plan.verify()?;
//! assert_eq!(plan.write_count(), 1);
//!
//! let json = serde_json::to_value(&plan).unwrap();
//! assert_eq!(json["create"][0]["kind"], "group");
//! assert_eq!(json["create"][0]["order"], 0);
//! # Ok::<(), butterfly_core::restore::PlanError>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::diff::RatedChange;
use crate::{Digest, ProviderKind, ResourceKind, SnapshotId, canonical_json};

/// Why a plan cannot be used, or would write something it must not.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The plan's content does not match its fingerprint: the file was edited.
    #[error("the plan does not match its fingerprint {expected} (found {found}): it was edited")]
    Tampered {
        /// The fingerprint the plan carries.
        expected: Digest,
        /// The fingerprint of its content.
        found: Digest,
    },
    /// The org changed since the plan was made.
    #[error(
        "the org changed since the plan was made (live fingerprint {planned}, now {now}): make a new plan"
    )]
    LiveChanged {
        /// The live fingerprint in the plan.
        planned: Digest,
        /// The live fingerprint now.
        now: Digest,
    },
    /// A value would be written with a `${NAME}` placeholder no variable resolves.
    #[error(
        "`{kind}` `{id}` would be written with the unresolved placeholder `${{{name}}}` (at {pointer}): add {name} to the variables file"
    )]
    UnresolvedPlaceholder {
        /// The placeholder's variable name.
        name: String,
        /// The resource's kind.
        kind: ResourceKind,
        /// The resource's id in the snapshot.
        id: String,
        /// Where in the resource, as a JSON pointer.
        pointer: String,
    },
    /// A variables file does not parse.
    #[error("variables file, line {line}: {reason}")]
    Variables {
        /// The line (1-based; 0 for JSON as a whole).
        line: usize,
        /// Why.
        reason: String,
    },
}

/// What a plan restores from and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RestoreMode {
    /// The snapshot back into its own org: resources match by id, then by name.
    Restore,
    /// One org's snapshot into another org: resources match by name only.
    Sync,
    /// A restore taken back: what a run created is deleted, what it changed put back.
    Undo,
}

impl fmt::Display for RestoreMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RestoreMode::Restore => "restore",
            RestoreMode::Sync => "sync",
            RestoreMode::Undo => "undo",
        })
    }
}

/// What a plan covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct RestoreOptions {
    /// Only these kinds (every restorable kind when empty).
    #[serde(default)]
    pub kinds: BTreeSet<ResourceKind>,
    /// Only these snapshot resource ids (every resource when empty).
    #[serde(default)]
    pub ids: BTreeSet<String>,
    /// Update resources that exist but differ (they are skipped otherwise).
    #[serde(default)]
    pub overwrite: bool,
    /// Delete resources the org has and the snapshot does not (never users).
    #[serde(default)]
    pub delete_extra: bool,
}

impl RestoreOptions {
    /// Only `kinds`.
    #[must_use]
    pub fn with_kinds(mut self, kinds: impl IntoIterator<Item = ResourceKind>) -> Self {
        self.kinds = kinds.into_iter().collect();
        self
    }

    /// Only the resources with these snapshot ids.
    #[must_use]
    pub fn with_ids(mut self, ids: impl IntoIterator<Item = String>) -> Self {
        self.ids = ids.into_iter().collect();
        self
    }

    /// Update resources that differ.
    #[must_use]
    pub fn with_overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// Delete resources the snapshot does not have.
    #[must_use]
    pub fn with_delete_extra(mut self, delete_extra: bool) -> Self {
        self.delete_extra = delete_extra;
        self
    }
}

/// What a step does.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PlanAction {
    /// Create the resource.
    Create,
    /// Update the live resource to the snapshot's version.
    Update,
    /// Delete the live resource.
    Delete,
    /// Nothing.
    Skip,
}

impl PlanAction {
    /// The action's name, as in the plan's JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanAction::Create => "create",
            PlanAction::Update => "update",
            PlanAction::Delete => "delete",
            PlanAction::Skip => "skip",
        }
    }
}

impl fmt::Display for PlanAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One resource in a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct PlanEntry {
    /// Its kind.
    pub kind: ResourceKind,
    /// Its id in the snapshot (for a delete: its id in the org).
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Why this action.
    pub reason: String,
    /// The id of the matching resource in the org, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_id: Option<String>,
    /// For an update (or a skipped difference): the fields that differ, from the org's
    /// value (`old`) to the snapshot's (`new`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<RatedChange>,
    /// The step's position in the execution (`0..n` over creates, updates and deletes);
    /// a skip carries its kind's place in the dependency order instead.
    pub order: u64,
}

impl PlanEntry {
    /// An entry without a live match or changes, ordered later by [`RestorePlan::seal`].
    pub fn new(
        kind: ResourceKind,
        id: impl Into<String>,
        name: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        PlanEntry {
            kind,
            id: id.into(),
            name: name.into(),
            reason: reason.into(),
            live_id: None,
            changes: Vec::new(),
            order: 0,
        }
    }

    /// The same entry, matched to a live resource.
    #[must_use]
    pub fn with_live_id(mut self, live_id: impl Into<String>) -> Self {
        self.live_id = Some(live_id.into());
        self
    }

    /// The same entry, with field changes.
    #[must_use]
    pub fn with_changes(mut self, changes: Vec<RatedChange>) -> Self {
        self.changes = changes;
        self
    }
}

/// Something a restore cannot do and a person must.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct FollowUp {
    /// What to do, in a sentence.
    pub what: String,
    /// The resources it concerns, as `kind:id` (at most a few dozen are listed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// How many resources it concerns in all.
    pub count: u64,
}

impl FollowUp {
    /// A follow-up about `resources` (listed up to 50).
    pub fn new(what: impl Into<String>, resources: Vec<String>) -> Self {
        let count = resources.len() as u64;
        let mut resources = resources;
        resources.truncate(50);
        FollowUp {
            what: what.into(),
            resources,
            count,
        }
    }
}

/// A reviewed restore, sync or undo. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct RestorePlan {
    /// The snapshot restored from (for an undo: the snapshot of the live versions the run
    /// replaced).
    pub snapshot_id: SnapshotId,
    /// The org written to.
    pub org: String,
    /// Its provider.
    pub provider: ProviderKind,
    /// When the plan was made.
    #[serde(with = "crate::rfc3339")]
    #[schemars(with = "DateTime<Utc>")]
    pub created_at: DateTime<Utc>,
    /// Restore, sync or undo.
    pub mode: RestoreMode,
    /// What it covers.
    pub options: RestoreOptions,
    /// The digest of the live state the plan read (see [`live_fingerprint`]).
    pub live_fingerprint: Digest,
    /// The digest of the plan itself (every other field).
    pub fingerprint: Digest,
    /// Resources to create.
    pub create: Vec<PlanEntry>,
    /// Resources to update.
    pub update: Vec<PlanEntry>,
    /// Resources to delete.
    pub delete: Vec<PlanEntry>,
    /// Resources left alone, with the reason.
    pub skip: Vec<PlanEntry>,
    /// What a person must do afterwards.
    pub follow_ups: Vec<FollowUp>,
}

impl RestorePlan {
    /// An empty plan; fill its arrays, then [`RestorePlan::seal`] it.
    pub fn new(
        snapshot_id: SnapshotId,
        provider: ProviderKind,
        org: impl Into<String>,
        created_at: DateTime<Utc>,
        mode: RestoreMode,
        options: RestoreOptions,
        live_fingerprint: Digest,
    ) -> Self {
        RestorePlan {
            snapshot_id,
            org: org.into(),
            provider,
            created_at,
            mode,
            options,
            live_fingerprint,
            fingerprint: Digest::from_array([0; 32]),
            create: Vec::new(),
            update: Vec::new(),
            delete: Vec::new(),
            skip: Vec::new(),
            follow_ups: Vec::new(),
        }
    }

    /// Number the steps in the order they were pushed (creates and updates interleaved
    /// by their existing order, then deletes), and compute the fingerprint.
    ///
    /// Callers push creates and updates with `order` set to their dependency position
    /// (ties keep push order), deletes likewise; seal renumbers them `0..n`.
    pub fn seal(&mut self) {
        let mut writes: Vec<(u64, usize, PlanAction, usize)> = Vec::new();
        for (i, e) in self.create.iter().enumerate() {
            writes.push((e.order, 0, PlanAction::Create, i));
        }
        for (i, e) in self.update.iter().enumerate() {
            writes.push((e.order, 0, PlanAction::Update, i));
        }
        for (i, e) in self.delete.iter().enumerate() {
            writes.push((e.order, 1, PlanAction::Delete, i));
        }
        writes.sort_by_key(|&(order, phase, action, i)| (phase, order, action, i));
        for (n, (_, _, action, i)) in writes.into_iter().enumerate() {
            let entry = match action {
                PlanAction::Create => &mut self.create[i],
                PlanAction::Update => &mut self.update[i],
                _ => &mut self.delete[i],
            };
            entry.order = n as u64;
        }
        self.create.sort_by_key(|e| e.order);
        self.update.sort_by_key(|e| e.order);
        self.delete.sort_by_key(|e| e.order);
        self.skip
            .sort_by(|a, b| (a.order, &a.kind, &a.id).cmp(&(b.order, &b.kind, &b.id)));
        self.fingerprint = self.compute_fingerprint();
    }

    /// The digest of every field but `fingerprint`.
    pub fn compute_fingerprint(&self) -> Digest {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.remove("fingerprint");
        }
        let mut hasher = Sha256::new();
        hasher.update(b"butterfly-restore-plan-v1\0");
        hasher.update(canonical_json(&value));
        Digest::from_array(hasher.finalize().into())
    }

    /// Check the plan against its fingerprint.
    pub fn verify(&self) -> Result<(), PlanError> {
        let found = self.compute_fingerprint();
        if found == self.fingerprint {
            Ok(())
        } else {
            Err(PlanError::Tampered {
                expected: self.fingerprint,
                found,
            })
        }
    }

    /// Check that the live state is still the one the plan was made from.
    pub fn check_live(&self, now: Digest) -> Result<(), PlanError> {
        if now == self.live_fingerprint {
            Ok(())
        } else {
            Err(PlanError::LiveChanged {
                planned: self.live_fingerprint,
                now,
            })
        }
    }

    /// The writes, in execution order.
    pub fn steps(&self) -> Vec<(PlanAction, &PlanEntry)> {
        let mut steps: Vec<(PlanAction, &PlanEntry)> = self
            .create
            .iter()
            .map(|e| (PlanAction::Create, e))
            .chain(self.update.iter().map(|e| (PlanAction::Update, e)))
            .chain(self.delete.iter().map(|e| (PlanAction::Delete, e)))
            .collect();
        steps.sort_by_key(|(_, e)| e.order);
        steps
    }

    /// How many writes (creates, updates, deletes) the plan holds.
    pub fn write_count(&self) -> usize {
        self.create.len() + self.update.len() + self.delete.len()
    }

    /// Counts per kind and action, for summaries.
    pub fn counts(&self) -> BTreeMap<ResourceKind, BTreeMap<PlanAction, u64>> {
        let mut counts: BTreeMap<ResourceKind, BTreeMap<PlanAction, u64>> = BTreeMap::new();
        for (action, entries) in [
            (PlanAction::Create, &self.create),
            (PlanAction::Update, &self.update),
            (PlanAction::Delete, &self.delete),
            (PlanAction::Skip, &self.skip),
        ] {
            for e in entries {
                *counts
                    .entry(e.kind.clone())
                    .or_default()
                    .entry(action)
                    .or_default() += 1;
            }
        }
        counts
    }
}

/// The digest of a live state: `(kind, id, digest)` triples, in any order (they are
/// sorted here). Callers digest each resource without its volatile fields, so a sign-in
/// (`lastLogin`) does not count as a change of the org.
pub fn live_fingerprint<'a>(
    resources: impl IntoIterator<Item = (&'a ResourceKind, &'a str, Digest)>,
) -> Digest {
    let mut all: Vec<(&ResourceKind, &str, Digest)> = resources.into_iter().collect();
    all.sort();
    let mut hasher = Sha256::new();
    hasher.update(b"butterfly-live-state-v1\0");
    for (kind, id, digest) in all {
        for field in [kind.as_str().as_bytes(), id.as_bytes(), digest.as_bytes()] {
            hasher.update((field.len() as u64).to_be_bytes());
            hasher.update(field);
        }
    }
    Digest::from_array(hasher.finalize().into())
}

/// Environment values for a sync: `${NAME}` placeholders and plain replacements.
///
/// Two file formats are read:
///
/// - JSON: `{"variables": {"NAME": "value"}, "replace": {"staging.example.com":
///   "example.com"}}` (both members optional);
/// - text, one `NAME=value` per line (`#` starts a comment line): variables only.
///
/// [`Variables::apply`] first replaces every occurrence of each `replace` key inside
/// every string (longest key first, so `a.staging.example.com` wins over
/// `staging.example.com`): domains, URLs, group names. It then substitutes
/// `${NAME}` placeholders from `variables`. Only upper-case names (`[A-Z][A-Z0-9_]*`) are
/// placeholders: Okta's own templates (`${user.login}`, `${org.subdomain}`) are left
/// alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Variables {
    /// Placeholder values.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Substrings replaced in every string value.
    #[serde(default)]
    pub replace: BTreeMap<String, String>,
}

impl Variables {
    /// No variables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Read a variables file (see the type's docs for the formats).
    pub fn parse(text: &str) -> Result<Self, PlanError> {
        if text.trim_start().starts_with('{') {
            let vars: Variables = serde_json::from_str(text).map_err(|e| PlanError::Variables {
                line: e.line(),
                reason: e.to_string(),
            })?;
            if let Some(bad) = vars.variables.keys().find(|k| !is_placeholder_name(k)) {
                return Err(PlanError::Variables {
                    line: 0,
                    reason: format!("`{bad}` is not a variable name (A-Z, 0-9, _)"),
                });
            }
            return Ok(vars);
        }
        let mut vars = Variables::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, value)) = line.split_once('=') else {
                return Err(PlanError::Variables {
                    line: n + 1,
                    reason: "expected NAME=value".into(),
                });
            };
            let name = name.trim();
            if !is_placeholder_name(name) {
                return Err(PlanError::Variables {
                    line: n + 1,
                    reason: format!("`{name}` is not a variable name (A-Z, 0-9, _)"),
                });
            }
            vars.variables
                .insert(name.to_owned(), value.trim().to_owned());
        }
        Ok(vars)
    }

    /// Apply replacements and placeholders to every string in `value`; the first
    /// placeholder left unresolved is an error naming it.
    pub fn apply(&self, kind: &ResourceKind, id: &str, value: &mut Value) -> Result<(), PlanError> {
        let mut replace: Vec<(&String, &String)> = self.replace.iter().collect();
        replace.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(b.0)));
        let mut pointer = String::new();
        self.walk(&replace, value, &mut pointer)
            .map_err(|(name, pointer)| PlanError::UnresolvedPlaceholder {
                name,
                kind: kind.clone(),
                id: id.to_owned(),
                pointer,
            })
    }

    fn walk(
        &self,
        replace: &[(&String, &String)],
        value: &mut Value,
        pointer: &mut String,
    ) -> Result<(), (String, String)> {
        match value {
            Value::String(s) => {
                for (from, to) in replace {
                    if !from.is_empty() && s.contains(from.as_str()) {
                        *s = s.replace(from.as_str(), to);
                    }
                }
                *s = self.substitute(s).map_err(|name| (name, pointer.clone()))?;
            }
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&i.to_string());
                    self.walk(replace, item, pointer)?;
                    pointer.truncate(len);
                }
            }
            Value::Object(map) => {
                for (key, item) in map.iter_mut() {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                    self.walk(replace, item, pointer)?;
                    pointer.truncate(len);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// `text` with its `${NAME}` placeholders filled in, or the first unresolved name.
    fn substitute(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            match after.find('}') {
                Some(end) if is_placeholder_name(&after[..end]) => {
                    let name = &after[..end];
                    let value = self.variables.get(name).ok_or_else(|| name.to_owned())?;
                    out.push_str(value);
                    rest = &after[end + 1..];
                }
                _ => {
                    out.push_str("${");
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn is_placeholder_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan() -> RestorePlan {
        let mut plan = RestorePlan::new(
            SnapshotId::new_random(),
            ProviderKind::Okta,
            "https://example.okta.com",
            DateTime::<Utc>::UNIX_EPOCH,
            RestoreMode::Restore,
            RestoreOptions::default().with_overwrite(true),
            Digest::of_json(&json!([])),
        );
        let mut member = PlanEntry::new(ResourceKind::new("group_membership"), "g/u", "u", "x");
        member.order = 45;
        let mut group = PlanEntry::new(ResourceKind::new("group"), "g", "Ops", "x");
        group.order = 35;
        let mut zone = PlanEntry::new(ResourceKind::new("network_zone"), "z", "Office", "x");
        zone.order = 5;
        let mut extra = PlanEntry::new(ResourceKind::new("group"), "g9", "Old", "x");
        extra.order = 1;
        plan.create.push(member);
        plan.create.push(group);
        plan.update.push(zone);
        plan.delete.push(extra);
        plan.seal();
        plan
    }

    #[test]
    fn seal_orders_writes_by_rank_and_deletes_last() {
        let plan = plan();
        let order: Vec<(&str, u64)> = plan
            .steps()
            .iter()
            .map(|(_, e)| (e.id.as_str(), e.order))
            .collect();
        assert_eq!(order, [("z", 0), ("g", 1), ("g/u", 2), ("g9", 3)]);
        assert_eq!(plan.write_count(), 4);
    }

    #[test]
    fn fingerprint_catches_edits_and_live_changes() {
        let mut plan = plan();
        plan.verify().unwrap();
        let text = serde_json::to_string(&plan).unwrap();
        let back: RestorePlan = serde_json::from_str(&text).unwrap();
        back.verify().unwrap();
        assert_eq!(back, plan);

        plan.create[0].id = "other".into();
        assert!(matches!(plan.verify(), Err(PlanError::Tampered { .. })));

        let planned = plan.live_fingerprint;
        plan.check_live(planned).unwrap();
        assert!(matches!(
            plan.check_live(Digest::of_json(&json!(1))),
            Err(PlanError::LiveChanged { .. })
        ));
    }

    #[test]
    fn json_names_the_arrays() {
        let json = serde_json::to_value(plan()).unwrap();
        for array in ["create", "update", "delete", "skip", "follow_ups"] {
            assert!(json[array].is_array(), "{array}");
        }
        assert_eq!(json["update"][0]["kind"], "network_zone");
        assert_eq!(json["update"][0]["name"], "Office");
        assert_eq!(json["mode"], "restore");
        assert_eq!(json["options"]["overwrite"], true);
    }

    #[test]
    fn live_fingerprint_ignores_order() {
        let (user, group) = (ResourceKind::new("user"), ResourceKind::new("group"));
        let digest = Digest::of_json(&json!(1));
        let one = live_fingerprint([(&user, "1", digest), (&group, "2", digest)]);
        let other = live_fingerprint([(&group, "2", digest), (&user, "1", digest)]);
        assert_eq!(one, other);
        assert_ne!(one, live_fingerprint([(&user, "1", digest)]));
    }

    #[test]
    fn variables_replace_and_substitute() {
        let vars = Variables::parse(
            r#"{"variables": {"DOMAIN": "example.com"}, "replace": {"staging.example.com": "example.com", "a.staging.example.com": "a.example.com"}}"#,
        )
        .unwrap();
        let kind = ResourceKind::new("trusted_origin");
        let mut value = json!({
            "origin": "https://a.staging.example.com",
            "other": ["https://${DOMAIN}/x", "${user.login}", "$ {X}", "${lower}"],
        });
        vars.apply(&kind, "tos1", &mut value).unwrap();
        assert_eq!(
            value,
            json!({
                "origin": "https://a.example.com",
                "other": ["https://example.com/x", "${user.login}", "$ {X}", "${lower}"],
            })
        );

        let mut value = json!({"a": [{"b": "x ${MISSING_1} y"}]});
        let err = vars.apply(&kind, "tos1", &mut value).unwrap_err();
        match err {
            PlanError::UnresolvedPlaceholder { name, pointer, .. } => {
                assert_eq!(name, "MISSING_1");
                assert_eq!(pointer, "/a/0/b");
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn variables_text_format() {
        let vars = Variables::parse("# prod\nDOMAIN = example.com\n\nURL=https://x?a=b\n").unwrap();
        assert_eq!(vars.variables["DOMAIN"], "example.com");
        assert_eq!(vars.variables["URL"], "https://x?a=b");
        assert!(matches!(
            Variables::parse("DOMAIN example.com"),
            Err(PlanError::Variables { line: 1, .. })
        ));
        assert!(matches!(
            Variables::parse("x=1"),
            Err(PlanError::Variables { line: 1, .. })
        ));
        assert!(Variables::parse("{\"variables\": {\"bad name\": \"1\"}}").is_err());
    }
}
