//! The simulated tenant: every object by kind, relations, and the change log delta
//! queries read.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Value, json};

use crate::entra::kinds::{self, EntraKind, IdRule};

/// Kinds Graph tracks changes of (they have a `delta_path` in the catalogue).
pub(crate) const DELTA_KINDS: [&str; 4] = ["user", "group", "application", "service_principal"];

/// What happened to an object at one point of the change sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChangeWhat {
    /// Created or updated.
    Upsert,
    /// Removed: `changed` (soft-deleted, restorable) or `deleted` (gone for good).
    Removed(&'static str),
    /// A directory object joined the group (`kind` is `group`).
    MemberAdded(String),
    /// A directory object left the group.
    MemberRemoved(String),
}

/// One entry of the change log.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub seq: u64,
    pub kind: &'static str,
    pub id: String,
    pub what: ChangeWhat,
}

/// The tenant's contents.
#[derive(Debug, Default)]
pub struct Tenant {
    /// The tenant (directory) id.
    pub tenant_id: String,
    /// The initial `*.onmicrosoft.com` domain.
    pub domain: String,
    /// Top-level collections and singletons: kind -> id -> object (a singleton under its
    /// catalogue name).
    pub(crate) objects: BTreeMap<&'static str, BTreeMap<String, Value>>,
    /// Nested kinds with objects of their own: kind -> parent id -> id -> object.
    pub(crate) children: BTreeMap<&'static str, BTreeMap<String, BTreeMap<String, Value>>>,
    /// Member relations: kind -> parent id -> member ids.
    pub(crate) relations: BTreeMap<&'static str, BTreeMap<String, BTreeSet<String>>>,
    /// Directory object id -> its kind, to render members.
    pub(crate) directory: HashMap<String, &'static str>,
    /// The last change's sequence number.
    pub(crate) seq: u64,
    pub(crate) changes: Vec<Change>,
}

/// The `@odata.type` of a directory object's kind.
pub(crate) fn odata_type_of(kind: &str) -> &'static str {
    match kind {
        "user" => "#microsoft.graph.user",
        "group" => "#microsoft.graph.group",
        "application" => "#microsoft.graph.application",
        "service_principal" => "#microsoft.graph.servicePrincipal",
        "administrative_unit" => "#microsoft.graph.administrativeUnit",
        _ => "#microsoft.graph.directoryObject",
    }
}

impl Tenant {
    /// Objects per kind (for relations: pairs), for the admin API and reports.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut out = BTreeMap::new();
        for kind in kinds::all() {
            let n = if let Some(map) = self.objects.get(kind.name) {
                map.len()
            } else if let Some(map) = self.children.get(kind.name) {
                map.values().map(BTreeMap::len).sum()
            } else if let Some(map) = self.relations.get(kind.name) {
                map.values().map(BTreeSet::len).sum()
            } else {
                0
            };
            out.insert(kind.name, n);
        }
        out
    }

    /// The object of a top-level kind.
    pub fn object(&self, kind: &str, id: &str) -> Option<&Value> {
        self.objects.get(kind)?.get(id)
    }

    /// Every object of a top-level kind, by id.
    pub fn objects_of(&self, kind: &str) -> impl Iterator<Item = (&String, &Value)> {
        self.objects.get(kind).into_iter().flatten()
    }

    /// Every stored object of a kind that has objects of its own (top-level, or nested
    /// under any parent); empty for member relations.
    pub fn items(&self, kind: &str) -> Vec<&Value> {
        if let Some(map) = self.objects.get(kind) {
            return map.values().collect();
        }
        self.children
            .get(kind)
            .into_iter()
            .flat_map(BTreeMap::values)
            .flat_map(BTreeMap::values)
            .collect()
    }

    /// Member ids of a relation kind under `parent`.
    pub fn members_of(&self, kind: &str, parent: &str) -> Vec<String> {
        self.relations
            .get(kind)
            .and_then(|m| m.get(parent))
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn record(&mut self, kind: &'static str, id: &str, what: ChangeWhat) {
        if !DELTA_KINDS.contains(&kind) {
            return;
        }
        self.seq += 1;
        self.changes.push(Change {
            seq: self.seq,
            kind,
            id: id.to_owned(),
            what,
        });
    }

    /// Insert or replace a top-level object, recording the change.
    pub(crate) fn put(&mut self, kind: &'static str, id: &str, object: Value) {
        if matches!(
            kind,
            "user" | "group" | "application" | "service_principal" | "administrative_unit"
        ) {
            self.directory.insert(id.to_owned(), kind);
        }
        self.objects
            .entry(kind)
            .or_default()
            .insert(id.to_owned(), object);
        self.record(kind, id, ChangeWhat::Upsert);
    }

    /// Remove a top-level object and every relation that names it, recording changes.
    pub(crate) fn remove(&mut self, kind: &'static str, id: &str) -> Option<Value> {
        let removed = self.objects.get_mut(kind)?.remove(id)?;
        self.directory.remove(id);
        let reason = if kind == "service_principal" {
            "deleted"
        } else {
            "changed"
        };
        self.record(kind, id, ChangeWhat::Removed(reason));
        // Its own relations and children go with it.
        for map in self.relations.values_mut() {
            map.remove(id);
        }
        for map in self.children.values_mut() {
            map.remove(id);
        }
        // And it leaves every group, owner list and unit it was in.
        let mut left_groups = Vec::new();
        for (relation, map) in &mut self.relations {
            for (parent, members) in map.iter_mut() {
                if members.remove(id) && *relation == "group_member" {
                    left_groups.push(parent.clone());
                }
            }
        }
        for group in left_groups {
            self.record("group", &group, ChangeWhat::MemberRemoved(id.to_owned()));
        }
        // App role assignments to or from it.
        if let Some(map) = self.children.get_mut("app_role_assignment") {
            for assignments in map.values_mut() {
                assignments.retain(|_, a| a["principalId"].as_str() != Some(id));
            }
        }
        Some(removed)
    }

    /// Add `member` to a relation; false if it was there.
    pub(crate) fn add_member(&mut self, kind: &'static str, parent: &str, member: &str) -> bool {
        let added = self
            .relations
            .entry(kind)
            .or_default()
            .entry(parent.to_owned())
            .or_default()
            .insert(member.to_owned());
        if added && kind == "group_member" {
            self.record("group", parent, ChangeWhat::MemberAdded(member.to_owned()));
        }
        added
    }

    /// Remove `member` from a relation; false if it was not there.
    pub(crate) fn remove_member(&mut self, kind: &'static str, parent: &str, member: &str) -> bool {
        let removed = self
            .relations
            .get_mut(kind)
            .and_then(|m| m.get_mut(parent))
            .is_some_and(|s| s.remove(member));
        if removed && kind == "group_member" {
            self.record(
                "group",
                parent,
                ChangeWhat::MemberRemoved(member.to_owned()),
            );
        }
        removed
    }

    /// A directory object as a member listing shows it: the object with its `@odata.type`.
    pub(crate) fn directory_object(&self, id: &str) -> Option<Value> {
        let kind = self.directory.get(id)?;
        let mut object = self.object(kind, id)?.clone();
        if let Some(map) = object.as_object_mut() {
            map.insert("@odata.type".into(), json!(odata_type_of(kind)));
        }
        Some(object)
    }

    /// Whether `parent` exists for a nested kind.
    pub(crate) fn parent_exists(&self, kind: &EntraKind, parent: &str) -> bool {
        kind.parent
            .is_some_and(|p| self.object(p.kind, parent).is_some())
    }

    /// One page of a listing of `kind` (under `parent`), in id order: up to `top` items
    /// after the id `after` that `keep` accepts, each rendered by `render` (given the
    /// member's kind for member listings), and whether more follow.
    pub(crate) fn page(
        &self,
        kind: &EntraKind,
        parent: Option<&str>,
        after: Option<&str>,
        keep: &dyn Fn(&Value) -> bool,
        render: &dyn Fn(Option<&'static str>, &Value) -> Value,
        top: usize,
    ) -> (Vec<Value>, bool) {
        use std::ops::Bound;
        let lower = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_owned()));
        let range = (lower, Bound::Unbounded);
        // Items as (member kind, object): a member is decorated with its type once kept.
        let items: Box<dyn Iterator<Item = (Option<&'static str>, &Value)> + '_> =
            match (kind.id, parent) {
                (IdRule::Member, Some(parent)) => Box::new(
                    self.relations
                        .get(kind.name)
                        .and_then(|m| m.get(parent))
                        .into_iter()
                        .flat_map(move |s| s.range::<String, _>(range.clone()))
                        .filter_map(|id| {
                            let kind = *self.directory.get(id)?;
                            Some((Some(kind), self.object(kind, id)?))
                        }),
                ),
                (_, Some(parent)) => Box::new(
                    self.children
                        .get(kind.name)
                        .and_then(|m| m.get(parent))
                        .into_iter()
                        .flat_map(move |m| m.range::<String, _>(range.clone()))
                        .map(|(_, o)| (None, o)),
                ),
                (_, None) => Box::new(
                    self.objects
                        .get(kind.name)
                        .into_iter()
                        .flat_map(move |m| m.range::<String, _>(range.clone()))
                        .map(|(_, o)| (None, o)),
                ),
            };
        let mut out = Vec::new();
        let mut more = false;
        for (member_kind, item) in items.filter(|(_, o)| keep(o)) {
            if out.len() == top {
                more = true;
                break;
            }
            // Rendered straight from the stored object: a page of 999 members with
            // `$select=id` copies ids, not whole users.
            out.push(render(member_kind, item));
        }
        (out, more)
    }
}
