//! Planning: the snapshot against the live org, resource by resource.
//!
//! [`read_live`] lists the kinds in scope (and those their names and references need:
//! users, groups, apps, zones, user types, inline hooks, IdPs, authenticators, and every
//! parent) with the backup fetcher, into memory. [`plan`] then matches each snapshot resource to a live
//! one, by id first (restore), then by name within its parent (login, group name, app
//! label, name; a relation by the names of both ends), and decides:
//!
//! | snapshot vs org | action |
//! | --- | --- |
//! | no match | `create` (users STAGED; not for directory-sourced users or objects Okta manages) |
//! | match, equal after remapping ids | `skip` ("equal") |
//! | match, different | `update` with `overwrite`, else `skip` with the changes |
//! | live only | `delete` with `delete_extra` (never users, objects Okta manages, or the app Butterfly signs in as) |
//! | kind not restorable | `skip` ("not restorable yet") and a follow-up |
//!
//! Equality is [`butterfly_core::diff::diff_resource`] on both sides without the fields
//! Okta sets (ids, timestamps, `_links`), after the snapshot's references were remapped
//! to the org's ids, so volatile fields never make an update.

use std::collections::{BTreeMap, BTreeSet};

use butterfly_core::diff::{DiffRules, diff_resource};
use butterfly_core::restore::{
    FollowUp, PlanEntry, PlanError, RestoreMode, RestoreOptions, RestorePlan, Variables,
    live_fingerprint,
};
use butterfly_core::source::{SnapshotSource, SourceError};
use butterfly_core::{Digest, ProviderKind, Resource, ResourceKind, Snapshot};
use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use serde_json::Value;
use tokio::sync::mpsc;

use super::remap::IdMap;
use super::{
    comparable, directory_sourced, is_restorable, managed_by_okta, own_name, restorable_kinds,
};
use crate::okta::fetcher::{FetchError, FetchEvent, FetchReport, OktaFetcher};
use crate::okta::kinds::{self, IdRule, KindSpec};

/// Kinds read besides those restored: what names and references need.
const REFERENCED: &[&str] = &[
    "user",
    "group",
    "app",
    "network_zone",
    "user_type",
    "inline_hook",
    "idp",
    "authenticator",
];

/// Resources by kind and id, in memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceSet {
    kinds: BTreeMap<String, BTreeMap<String, Value>>,
}

impl ResourceSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one resource (replacing one of the same kind and id).
    pub fn insert(&mut self, resource: Resource) {
        self.kinds
            .entry(resource.kind.as_str().to_owned())
            .or_default()
            .insert(resource.id, resource.attributes);
    }

    /// One resource's attributes.
    pub fn get(&self, kind: &str, id: &str) -> Option<&Value> {
        self.kinds.get(kind)?.get(id)
    }

    /// Every resource of `kind`, by id.
    pub fn kind(&self, kind: &str) -> impl Iterator<Item = (&String, &Value)> {
        self.kinds.get(kind).into_iter().flatten()
    }

    /// Whether `kind` has any resource.
    pub fn has_kind(&self, kind: &str) -> bool {
        self.kinds.get(kind).is_some_and(|m| !m.is_empty())
    }

    /// How many resources in all.
    pub fn len(&self) -> usize {
        self.kinds.values().map(BTreeMap::len).sum()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every resource, kind by kind.
    pub fn into_resources(self) -> Vec<Resource> {
        self.kinds
            .into_iter()
            .flat_map(|(kind, items)| {
                let kind = ResourceKind::new(kind);
                items
                    .into_iter()
                    .map(move |(id, body)| Resource::new(kind.clone(), id, body))
            })
            .collect()
    }

    /// The resources of `kinds` in snapshot `manifest`, read from `source`.
    pub async fn from_snapshot(
        source: &dyn SnapshotSource,
        manifest: &Snapshot,
        kinds: &BTreeSet<String>,
    ) -> Result<Self, SourceError> {
        let mut set = ResourceSet::new();
        for kind in manifest.kinds.keys() {
            if !kinds.contains(kind.as_str()) {
                continue;
            }
            let mut stream = source.kind_resources(manifest, kind);
            while let Some(resource) = stream.try_next().await? {
                set.insert(resource);
            }
        }
        Ok(set)
    }
}

/// The live org as a plan reads it.
#[derive(Debug, Clone, Default)]
pub struct LiveState {
    /// The org's URL.
    pub org: String,
    /// What was read.
    pub resources: ResourceSet,
    /// The kinds that were read (asked for; see `unreadable` for those that were not).
    pub kinds: BTreeSet<String>,
    /// Kinds that could not be read, with the reason: nothing of them is planned.
    pub unreadable: BTreeMap<String, String>,
    /// What reading cost: requests per bucket, retries, `429`s.
    pub report: FetchReport,
}

impl LiveState {
    /// The digest of what was read, volatile fields left out (see
    /// [`butterfly_core::restore::live_fingerprint`]).
    pub fn fingerprint(&self) -> Digest {
        let kinds: Vec<(ResourceKind, String, Digest)> = self
            .resources
            .kinds
            .iter()
            .flat_map(|(kind, items)| {
                items.iter().map(move |(id, body)| {
                    (
                        ResourceKind::new(kind.clone()),
                        id.clone(),
                        Digest::of_json(&without_volatile(body)),
                    )
                })
            })
            .collect();
        let unreadable = self
            .unreadable
            .keys()
            .map(|k| {
                (
                    ResourceKind::new(k.clone()),
                    "!unreadable".to_owned(),
                    Digest::of_json(&Value::Null),
                )
            })
            .collect::<Vec<_>>();
        live_fingerprint(
            kinds
                .iter()
                .chain(unreadable.iter())
                .map(|(k, id, d)| (k, id.as_str(), *d)),
        )
    }
}

/// Fields that change without anyone changing the org.
fn without_volatile(body: &Value) -> Value {
    let mut body = body.clone();
    if let Value::Object(map) = &mut body {
        for field in [
            "_links",
            "_embedded",
            "lastLogin",
            "lastUpdated",
            "statusChanged",
            "passwordChanged",
            "lastMembershipUpdated",
            "transitioningToStatus",
            "lastSync",
        ] {
            map.remove(field);
        }
    }
    body
}

/// The restorable kinds a plan with `options` covers (every one when none is named).
pub fn scope_kinds(options: &RestoreOptions) -> BTreeSet<String> {
    if options.kinds.is_empty() {
        restorable_kinds()
            .into_iter()
            .map(|k| k.name.to_owned())
            .collect()
    } else {
        options
            .kinds
            .iter()
            .filter(|k| is_restorable(k.as_str()))
            .map(|k| k.as_str().to_owned())
            .collect()
    }
}

/// The kinds a plan reads, on both sides: its scope, what names and references need,
/// and every parent.
pub fn read_kinds(options: &RestoreOptions) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    for name in scope_kinds(options)
        .iter()
        .map(String::as_str)
        .chain(REFERENCED.iter().copied())
    {
        let mut current = kinds::by_name(name);
        while let Some(spec) = current {
            all.insert(spec.name.to_owned());
            current = spec.parent_spec();
        }
    }
    all
}

/// Read `kinds` (and their parents) of the live org with `fetcher`, into memory.
pub async fn read_live(
    fetcher: &OktaFetcher,
    kinds: &BTreeSet<String>,
) -> Result<LiveState, FetchError> {
    let (tx, mut rx) = mpsc::channel(16);
    let mut resources = ResourceSet::new();
    let receive = async {
        while let Some(event) = rx.recv().await {
            if let FetchEvent::Resources {
                resources: page, ..
            } = event
            {
                for resource in page {
                    resources.insert(resource);
                }
            }
        }
    };
    let (report, ()) = tokio::join!(fetcher.run_kinds(tx, kinds), receive);
    let report = report?;
    let mut unreadable: BTreeMap<String, String> = report
        .skipped
        .clone()
        .into_iter()
        .map(|(k, why)| (k.as_str().to_owned(), why))
        .collect();
    unreadable.extend(
        report
            .failed
            .clone()
            .into_iter()
            .map(|(k, why)| (k.as_str().to_owned(), format!("failed: {why}"))),
    );
    let mut read = kinds.clone();
    for name in kinds {
        let mut current = kinds::by_name(name).and_then(KindSpec::parent_spec);
        while let Some(spec) = current {
            read.insert(spec.name.to_owned());
            current = spec.parent_spec();
        }
    }
    Ok(LiveState {
        org: fetcher.org_url().to_owned(),
        resources,
        kinds: read,
        unreadable,
        report,
    })
}

/// Everything a plan is made from.
#[derive(Debug)]
pub struct PlanInput<'a> {
    /// The snapshot's manifest.
    pub snapshot: &'a Snapshot,
    /// Its resources of [`read_kinds`] (see [`ResourceSet::from_snapshot`]).
    pub snapshot_resources: &'a ResourceSet,
    /// The live org.
    pub live: &'a LiveState,
    /// Restore (by id, then name) or sync (by name).
    pub mode: RestoreMode,
    /// What to cover.
    pub options: &'a RestoreOptions,
    /// Replacements and placeholders, for a sync.
    pub variables: Option<&'a Variables>,
    /// Ids a previous, unfinished run of the same restore created (from its journal).
    pub known: &'a IdMap,
    /// The client id Butterfly signs in with: its app is never deleted.
    pub own_client_id: Option<&'a str>,
    /// When the plan is made.
    pub now: DateTime<Utc>,
}

/// Names of one side: `(kind, id)` to the name key, and back.
struct Names {
    by_id: BTreeMap<(String, String), String>,
    /// `None` when two resources share the key: no match by name then.
    by_key: BTreeMap<(String, String), Option<String>>,
}

impl Names {
    fn of(set: &ResourceSet) -> Self {
        let mut names = Names {
            by_id: BTreeMap::new(),
            by_key: BTreeMap::new(),
        };
        for spec in kinds::fetch_order() {
            for (id, body) in set.kind(spec.name) {
                let Some(key) = names.key_of(spec, id, body) else {
                    continue;
                };
                names
                    .by_id
                    .insert((spec.name.to_owned(), id.clone()), key.clone());
                names
                    .by_key
                    .entry((spec.name.to_owned(), key))
                    .and_modify(|slot| *slot = None)
                    .or_insert_with(|| Some(id.clone()));
            }
        }
        names
    }

    fn name(&self, kind: &str, id: &str) -> Option<&String> {
        self.by_id.get(&(kind.to_owned(), id.to_owned()))
    }

    /// The key of one resource, from its parent's key and its own name (relations: the
    /// names of both ends).
    fn key_of(&self, spec: &KindSpec, id: &str, body: &Value) -> Option<String> {
        let parent = || -> Option<&String> {
            let parent_kind = spec.parent?.kind;
            let (parent_id, _) = id.rsplit_once('/')?;
            self.name(parent_kind, parent_id)
        };
        let own = id.rsplit('/').next().unwrap_or(id);
        match spec.name {
            "group_membership" => {
                let group = body.get("groupId").and_then(Value::as_str)?;
                let user = body.get("userId").and_then(Value::as_str)?;
                Some(format!(
                    "{}\u{1f}{}",
                    self.name("group", group)?,
                    self.name("user", user)?
                ))
            }
            "app_user_assignment" => {
                Some(format!("{}\u{1f}{}", parent()?, self.name("user", own)?))
            }
            "app_group_assignment" => {
                Some(format!("{}\u{1f}{}", parent()?, self.name("group", own)?))
            }
            _ => {
                let name = own_name(spec.name, body)?;
                match spec.parent {
                    None => Some(name),
                    Some(_) => Some(format!("{}\u{1f}{name}", parent()?)),
                }
            }
        }
    }

    fn find(&self, kind: &str, key: &str) -> Option<&String> {
        self.by_key
            .get(&(kind.to_owned(), key.to_owned()))
            .and_then(Option::as_ref)
    }
}

/// Make the plan. See the [module docs](self).
pub fn plan(input: &PlanInput<'_>) -> Result<RestorePlan, PlanError> {
    let PlanInput {
        snapshot,
        snapshot_resources: ours,
        live,
        mode,
        options,
        variables,
        known,
        own_client_id,
        now,
    } = *input;
    let rules = DiffRules::for_provider(ProviderKind::Okta);
    let scope = scope_kinds(options);
    // A sync's names are those it will write: replacements applied (a login's domain).
    let our_names = match variables {
        Some(vars) if !vars.replace.is_empty() => {
            let mut named = ResourceSet::new();
            for resource in ours.clone().into_resources() {
                let mut resource = resource;
                // Placeholders are checked where a body is written, below.
                let _ = vars.apply(
                    &resource.kind,
                    &resource.id.clone(),
                    &mut resource.attributes,
                );
                named.insert(resource);
            }
            Names::of(&named)
        }
        _ => Names::of(ours),
    };
    let live_names = Names::of(&live.resources);

    // Pass 1: match every snapshot resource of every kind read, so references to
    // objects outside the scope are remapped too.
    let mut matched: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut map = known.clone();
    for spec in kinds::restore_order() {
        for (id, _) in ours.kind(spec.name) {
            let mapped = map.path(id);
            let by_id = || -> Option<String> {
                if mode != RestoreMode::Restore {
                    return None;
                }
                if live.resources.get(spec.name, id).is_some() {
                    return Some(id.clone());
                }
                live.resources
                    .get(spec.name, &mapped)
                    .is_some()
                    .then_some(mapped)
            };
            let by_name = || {
                let key = our_names.name(spec.name, id)?;
                live_names.find(spec.name, key).cloned()
            };
            if let Some(live_id) = by_id().or_else(by_name) {
                map.insert_path(id, &live_id);
                matched.insert((spec.name.to_owned(), id.clone()), live_id);
            }
        }
    }
    let matched_live: BTreeSet<(&str, &str)> = matched
        .iter()
        .map(|((kind, _), live_id)| (kind.as_str(), live_id.as_str()))
        .collect();

    let mut plan = RestorePlan::new(
        snapshot.id,
        ProviderKind::Okta,
        live.org.clone(),
        now,
        mode,
        options.clone(),
        live.fingerprint(),
    );
    let mut staged_users = Vec::new();
    let mut directory_users = Vec::new();
    let mut secrets: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut not_restorable: BTreeMap<String, u64> = BTreeMap::new();
    let mut created: BTreeSet<(String, String)> = BTreeSet::new();

    // Pass 2: one entry per snapshot resource in scope, in restore order.
    for spec in kinds::restore_order() {
        let name = spec.name;
        let in_options = options.kinds.is_empty() || options.kinds.contains(&spec.kind());
        if !in_options {
            continue;
        }
        let rank = u64::from(spec.restore_rank);
        if !scope.contains(name) {
            // Not restorable: one skip per resource the snapshot holds.
            if let Some(entries) = snapshot.kinds.get(&spec.kind()) {
                for entry in entries.iter().filter(|e| wanted(options, &e.id)) {
                    let mut skip =
                        PlanEntry::new(spec.kind(), &entry.id, &entry.id, "not restorable yet");
                    skip.order = rank;
                    plan.skip.push(skip);
                    *not_restorable.entry(name.to_owned()).or_default() += 1;
                }
            }
            continue;
        }
        for (id, body) in ours.kind(name) {
            if !wanted(options, id) {
                continue;
            }
            let display = rules
                .name_of(&spec.kind(), body)
                .unwrap_or_else(|| id.clone());
            let entry = |reason: &str| {
                let mut e = PlanEntry::new(spec.kind(), id, display.clone(), reason);
                e.order = rank;
                e
            };
            if let Some(why) = live.unreadable.get(name) {
                plan.skip.push(entry(&format!(
                    "the org's `{name}` could not be read: {why}"
                )));
                continue;
            }
            let mut wanted_body = comparable(name, body);
            map.apply(&mut wanted_body);
            if let Some(vars) = variables {
                vars.apply(&spec.kind(), id, &mut wanted_body)?;
            }
            let key = (name.to_owned(), id.clone());
            if !matched.contains_key(&key)
                && let Some((kind, end)) = ends(spec, id, body)
                    .into_iter()
                    .find(|end| !matched.contains_key(end) && !created.contains(end))
            {
                plan.skip.push(entry(&format!(
                    "its {kind} `{end}` is neither in the org nor restored"
                )));
                continue;
            }
            match matched.get(&key) {
                None => {
                    if name == "user" && directory_sourced(body) {
                        plan.skip
                            .push(entry("a directory-sourced user: the API cannot create it"));
                        directory_users.push(format!("user:{id}"));
                    } else if let Some(why) = managed_by_okta(name, body) {
                        plan.skip.push(entry(&format!("{why}: not created")));
                    } else {
                        if name == "user" {
                            staged_users.push(format!("user:{id}"));
                        }
                        if !spec.secrets.is_empty() {
                            secrets
                                .entry(spec.name)
                                .or_default()
                                .push(format!("{name}:{id}"));
                        }
                        created.insert(key);
                        plan.create.push(entry("not in the org"));
                    }
                }
                Some(live_id) => {
                    let live_body = live
                        .resources
                        .get(name, live_id)
                        .map_or(Value::Null, |b| comparable(name, b));
                    let changes =
                        diff_resource(&rules, &spec.kind(), &live_body, &wanted_body, false);
                    if changes.is_empty() {
                        plan.skip.push(entry("equal").with_live_id(live_id));
                    } else if options.overwrite {
                        if !spec.secrets.is_empty() {
                            secrets
                                .entry(spec.name)
                                .or_default()
                                .push(format!("{name}:{id}"));
                        }
                        plan.update.push(
                            entry("differs from the snapshot")
                                .with_live_id(live_id)
                                .with_changes(changes),
                        );
                    } else {
                        plan.skip.push(
                            entry("exists and differs; --overwrite updates it")
                                .with_live_id(live_id)
                                .with_changes(changes),
                        );
                    }
                }
            }
        }
    }

    if options.delete_extra && options.ids.is_empty() {
        let top = kinds::all().map(|k| k.restore_rank).max().unwrap_or(0);
        for spec in kinds::restore_order() {
            let name = spec.name;
            if name == "user" || !scope.contains(name) || live.unreadable.contains_key(name) {
                continue;
            }
            for (live_id, body) in live.resources.kind(name) {
                if matched_live.contains(&(name, live_id.as_str())) {
                    continue;
                }
                let display = rules
                    .name_of(&spec.kind(), body)
                    .unwrap_or_else(|| live_id.clone());
                let mut e = PlanEntry::new(spec.kind(), live_id, display, "");
                // Children before parents: the reverse of the restore order.
                e.order = u64::from(top - spec.restore_rank);
                e = e.with_live_id(live_id);
                if let Some(why) = managed_by_okta(name, body) {
                    e.reason = format!("{why}: not deleted");
                    plan.skip.push(e);
                } else if name == "app" && is_own_app(body, own_client_id) {
                    e.reason = "the app Butterfly signs in as: not deleted".into();
                    plan.skip.push(e);
                } else {
                    e.reason = "in the org, not in the snapshot (--delete-extra)".into();
                    plan.delete.push(e);
                }
            }
        }
    }

    follow_ups(
        &mut plan,
        staged_users,
        directory_users,
        secrets,
        not_restorable,
        &live.unreadable,
        &scope,
    );
    plan.seal();
    Ok(plan)
}

/// What a resource needs to exist first: its parent, and the other end of a relation,
/// as `(kind, snapshot id)`.
fn ends(spec: &KindSpec, id: &str, body: &Value) -> Vec<(String, String)> {
    let mut ends = Vec::new();
    if let (Some(parent), Some((parent_id, _))) = (spec.parent, id.rsplit_once('/')) {
        ends.push((parent.kind.to_owned(), parent_id.to_owned()));
    }
    let own = id.rsplit('/').next().unwrap_or(id).to_owned();
    match spec.name {
        "group_membership" => {
            if let Some(user) = body.get("userId").and_then(Value::as_str) {
                ends.push(("user".to_owned(), user.to_owned()));
            }
        }
        "app_user_assignment" => ends.push(("user".to_owned(), own)),
        "app_group_assignment" => ends.push(("group".to_owned(), own)),
        _ => {}
    }
    ends
}

fn wanted(options: &RestoreOptions, id: &str) -> bool {
    options.ids.is_empty() || options.ids.contains(id)
}

fn is_own_app(body: &Value, own_client_id: Option<&str>) -> bool {
    let Some(own) = own_client_id else {
        return false;
    };
    body.get("id").and_then(Value::as_str) == Some(own)
        || body
            .pointer("/credentials/oauthClient/client_id")
            .and_then(Value::as_str)
            == Some(own)
}

fn follow_ups(
    plan: &mut RestorePlan,
    staged_users: Vec<String>,
    directory_users: Vec<String>,
    secrets: BTreeMap<&'static str, Vec<String>>,
    not_restorable: BTreeMap<String, u64>,
    unreadable: &BTreeMap<String, String>,
    scope: &BTreeSet<String>,
) {
    if !staged_users.is_empty() {
        plan.follow_ups.push(FollowUp::new(
            "Users are created STAGED, without passwords or MFA factors: activate them; \
             each sets a password and enrols factors again",
            staged_users,
        ));
    }
    if !directory_users.is_empty() {
        plan.follow_ups.push(FollowUp::new(
            "Directory-sourced users (AD, LDAP, imports) cannot be created through the \
             API: restore them from their directory, then run the restore again for their \
             memberships and assignments",
            directory_users,
        ));
    }
    for (kind, resources) in secrets {
        let what = match kind {
            "app" => {
                "Secrets were never stored: set new client secrets (and signing \
                      credentials) for these apps and update their clients"
            }
            "event_hook" | "inline_hook" => {
                "Secrets were never stored: enter these hooks' authorization header values again"
            }
            _ => "Secrets were never stored: enter these resources' secrets again",
        };
        plan.follow_ups.push(FollowUp::new(what, resources));
    }
    for (kind, count) in not_restorable {
        let mut follow = FollowUp::new(
            format!(
                "`{kind}` is not restorable yet: re-create it by hand from the snapshot (`butterfly snapshots cat`)"
            ),
            Vec::new(),
        );
        follow.count = count;
        plan.follow_ups.push(follow);
    }
    for (kind, why) in unreadable {
        if scope.contains(kind) {
            plan.follow_ups.push(FollowUp::new(
                format!("`{kind}` was not planned: the org's could not be read ({why}); grant the app its read and manage scopes"),
                Vec::new(),
            ));
        }
    }
}

/// Which kind a spec's own id rule makes a relation (no object of its own).
pub(crate) fn is_relation(spec: &KindSpec) -> bool {
    matches!(spec.id, IdRule::Member { .. })
        || matches!(spec.name, "app_user_assignment" | "app_group_assignment")
}
