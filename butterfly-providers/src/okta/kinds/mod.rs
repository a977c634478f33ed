//! The catalogue of Okta resource kinds a backup covers.
//!
//! Each [`KindSpec`] says where a kind is listed, which OAuth scope the list needs, which
//! rate-limit bucket the request spends, how the list pages, how to name each resource,
//! which fields are secrets to strip, and where the kind goes in a restore. The fetcher,
//! the simulator, the restore planner and the docs all read this one table, so a kind
//! added here is fetched, simulated, ordered and documented at once.
//!
//! Kinds nest: `group_membership` is listed once per `group`, with the group's id in the
//! `{groupId}` placeholder of its path. Placeholders use the OpenAPI spec's own names, so
//! a test can check every path against the spec.
//!
//! ```
//! use butterfly_providers::okta::kinds;
//!
//! let members = kinds::by_name("group_membership").unwrap();
//! assert_eq!(members.list_path, "/api/v1/groups/{groupId}/users");
//! assert_eq!(members.parent.as_ref().unwrap().kind, "group");
//! assert_eq!(members.read_scopes, ["okta.groups.read"]);
//! assert!(kinds::all().count() >= 45);
//! ```

mod apps;
mod authorization_servers;
mod branding;
mod groups;
mod hooks;
mod identity_providers;
mod org;
mod policies;
mod roles;
mod schemas;
mod security;
mod users;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::LazyLock;

use butterfly_core::{Resource, ResourceKind};
use serde_json::{Map, Value};

pub use policies::POLICY_TYPES;

use super::rate_limit::RateLimitBucket;
use super::secrets::{strip_links, strip_pointer};
use crate::Error;

/// A group of related kinds that share an Okta API (users, apps, policies...).
#[derive(Debug)]
pub struct Family {
    /// The family's name, as a heading.
    pub name: &'static str,
    /// Its kinds, parents before children.
    pub kinds: &'static [KindSpec],
}

/// How a list endpoint pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pagination {
    /// One response holds everything.
    None,
    /// An `after` cursor; the next page is the `Link: <...>; rel="next"` header.
    LinkHeader {
        /// The largest page the endpoint returns (the most it honours in `limit`).
        max_limit: u32,
        /// Whether the endpoint takes a `limit` parameter at all.
        accepts_limit: bool,
    },
    /// An `after` cursor; the next page is `_links.next.href` in the body (the IAM APIs).
    BodyLink {
        /// The largest page the endpoint returns.
        max_limit: u32,
        /// Whether the endpoint takes a `limit` parameter at all.
        accepts_limit: bool,
    },
}

impl Pagination {
    /// Whether the endpoint can return more than one page.
    pub fn paginates(self) -> bool {
        !matches!(self, Pagination::None)
    }

    /// The largest page the endpoint returns, when it pages.
    pub fn max_limit(self) -> Option<u32> {
        match self {
            Pagination::None => None,
            Pagination::LinkHeader { max_limit, .. } | Pagination::BodyLink { max_limit, .. } => {
                Some(max_limit)
            }
        }
    }

    /// Whether the endpoint takes a `limit` parameter.
    pub fn accepts_limit(self) -> bool {
        match self {
            Pagination::None => false,
            Pagination::LinkHeader { accepts_limit, .. }
            | Pagination::BodyLink { accepts_limit, .. } => accepts_limit,
        }
    }
}

/// Link-header paging with a `limit` parameter of at most `max_limit`.
const fn link_pages(max_limit: u32) -> Pagination {
    Pagination::LinkHeader {
        max_limit,
        accepts_limit: true,
    }
}

/// Where a list response keeps its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListShape {
    /// A JSON array of objects.
    Array,
    /// An object whose member of this name holds the array (`{"roles": [...], "_links": ...}`).
    Envelope(&'static str),
    /// One object: the kind has a single resource per org, or per parent.
    Object,
}

/// Where a child kind finds the value for its parent placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParamSource {
    /// The parent's own id (see [`IdRule`]).
    Id,
    /// The string at this JSON pointer in the parent as Okta returned it. Parents without
    /// it have no children of this kind (an app without an OAuth client has no client roles).
    Pointer(&'static str),
    /// The last path segment of the URL at this JSON pointer in the parent (a user type's
    /// schema id is only published as `_links.schema.href`).
    HrefTail(&'static str),
}

/// The parent of a nested kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParentRef {
    /// The parent kind's name.
    pub kind: &'static str,
    /// The placeholder in the child's path, without braces.
    pub param: &'static str,
    /// Where the placeholder's value comes from.
    pub source: ParamSource,
}

impl ParentRef {
    /// The placeholder value for children of `parent` (the parent as Okta returned it).
    pub fn value_from(&self, parent_spec: &KindSpec, parent: &Value) -> Option<String> {
        match self.source {
            ParamSource::Id => parent_spec.own_id(parent),
            ParamSource::Pointer(pointer) => parent
                .pointer(pointer)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            ParamSource::HrefTail(pointer) => parent
                .pointer(pointer)
                .and_then(Value::as_str)
                .and_then(|href| href.split(['?', '#']).next())
                .and_then(|href| href.trim_end_matches('/').rsplit('/').next())
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        }
    }
}

/// How a resource is named in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdRule {
    /// The string at this pointer, unique across the org (`/id`).
    Field(&'static str),
    /// The string at this pointer, unique only under its parent: the snapshot id is
    /// `{parent id}/{value}` (an app's user assignments carry the user's id).
    ScopedField(&'static str),
    /// One resource per org, or per parent: the id is this name, or `{parent id}/{name}`.
    Singleton(&'static str),
    /// A relation between the parent and the item the endpoint lists (a group's member
    /// users): the id is `{parent id}/{value at pointer}` and only the pair is kept, as
    /// `{"<parent placeholder>": parent id, "<key>": value}`, since the member itself is
    /// backed up under its own kind.
    Member {
        /// Where the member's id is in each listed item.
        pointer: &'static str,
        /// The name the member's id is stored under.
        key: &'static str,
    },
}

/// One Okta resource kind.
#[derive(Debug)]
#[non_exhaustive]
pub struct KindSpec {
    /// The kind's name in snapshots: `user`, `group_rule`, `policy.PASSWORD`...
    pub name: &'static str,
    /// What it is, in a few words.
    pub summary: &'static str,
    /// The list endpoint, a path in the OpenAPI spec, with `{placeholders}` for parents.
    pub list_path: &'static str,
    /// Query strings to list with, each a separate listing merged into the kind (an empty
    /// slice means one listing without a query). Policies need `type=...`; users need a
    /// second listing for the deprovisioned ones, which the default list leaves out.
    pub list_queries: &'static [&'static str],
    /// The parent, for nested kinds.
    pub parent: Option<ParentRef>,
    /// The OAuth scopes the list operation requires (from its `security` in the spec).
    pub read_scopes: &'static [&'static str],
    /// The scope a restore needs to write the kind, when Okta has one.
    pub manage_scope: Option<&'static str>,
    /// The rate-limit bucket the list request spends.
    pub bucket: RateLimitBucket,
    /// How the list pages.
    pub pagination: Pagination,
    /// Where the items are in the response.
    pub shape: ListShape,
    /// How each resource is named.
    pub id: IdRule,
    /// JSON pointers (with `*` wildcards) of secrets stripped before storage.
    pub secrets: &'static [&'static str],
    /// Restore order: lower ranks are restored first.
    pub restore_rank: u16,
    /// Kinds, other than the parent, that must be restored before this one.
    pub depends_on: &'static [&'static str],
    /// When the list returns summaries, the path that returns each whole object: the
    /// list path plus one placeholder for the item's own id.
    pub detail_path: Option<&'static str>,
    /// Whether `404` on the list means "none here" rather than an error (optional
    /// sub-resources: an app without provisioning has no features).
    pub absent_ok: bool,
}

/// Defaults for the family tables: `..BASE` keeps each entry to what is particular to it.
const BASE: KindSpec = KindSpec {
    name: "",
    summary: "",
    list_path: "",
    list_queries: &[],
    parent: None,
    read_scopes: &[],
    manage_scope: None,
    bucket: RateLimitBucket::Other,
    pagination: Pagination::None,
    shape: ListShape::Array,
    id: IdRule::Field("/id"),
    secrets: &[],
    restore_rank: 0,
    depends_on: &[],
    detail_path: None,
    absent_ok: false,
};

/// A parent reached through its own id.
const fn parent(kind: &'static str, param: &'static str) -> ParentRef {
    ParentRef {
        kind,
        param,
        source: ParamSource::Id,
    }
}

static FAMILIES: [Family; 12] = [
    org::FAMILY,
    security::FAMILY,
    hooks::FAMILY,
    schemas::FAMILY,
    branding::FAMILY,
    identity_providers::FAMILY,
    users::FAMILY,
    groups::FAMILY,
    apps::FAMILY,
    authorization_servers::FAMILY,
    policies::FAMILY,
    roles::FAMILY,
];

static BY_NAME: LazyLock<BTreeMap<&'static str, &'static KindSpec>> =
    LazyLock::new(|| all().map(|k| (k.name, k)).collect());

/// The families, in catalogue order.
pub fn families() -> &'static [Family] {
    &FAMILIES
}

/// Every kind, family by family.
pub fn all() -> impl Iterator<Item = &'static KindSpec> + Clone {
    FAMILIES.iter().flat_map(|f| f.kinds.iter())
}

/// The kind of this name.
pub fn by_name(name: &str) -> Option<&'static KindSpec> {
    BY_NAME.get(name).copied()
}

/// Every kind in restore order: by rank, then by name.
pub fn restore_order() -> Vec<&'static KindSpec> {
    let mut kinds: Vec<_> = all().collect();
    kinds.sort_by_key(|k| (k.restore_rank, k.name));
    kinds
}

/// Every kind in fetch order: parents before their children, otherwise by name.
pub fn fetch_order() -> Vec<&'static KindSpec> {
    let mut kinds: Vec<_> = all().collect();
    kinds.sort_by_key(|k| (k.depth(), k.name));
    kinds
}

/// Every OAuth scope a full backup needs.
pub fn backup_scopes() -> BTreeSet<&'static str> {
    all().flat_map(|k| k.read_scopes.iter().copied()).collect()
}

/// A path template (a list or detail path) with its `{placeholders}` filled in from
/// `params` (values are percent-encoded), or `None` when a placeholder has no value.
pub fn fill_path(template: &str, params: &BTreeMap<String, String>) -> Option<String> {
    fill(template, params)
}

/// A Markdown table of the catalogue (kind, endpoint, scope), one section per family,
/// for the README.
pub fn markdown_table() -> String {
    let mut out = String::new();
    out.push_str("| Kind | Endpoint | Scope |\n| --- | --- | --- |\n");
    for family in families() {
        for kind in family.kinds {
            let mut endpoint = format!("`GET {}", kind.list_path);
            if !kind.list_queries.is_empty() {
                endpoint.push('?');
                endpoint.push_str(&kind.list_queries.join("` + `?"));
            }
            endpoint.push('`');
            let scopes = kind
                .read_scopes
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(" + ");
            // Writing into a String cannot fail.
            let _ = writeln!(out, "| `{}` | {endpoint} | {scopes} |", kind.name);
        }
    }
    out
}

impl KindSpec {
    /// The kind as `butterfly-core` names it.
    pub fn kind(&self) -> ResourceKind {
        ResourceKind::new(self.name)
    }

    /// The parent kind's spec.
    pub fn parent_spec(&self) -> Option<&'static KindSpec> {
        self.parent.and_then(|p| by_name(p.kind))
    }

    /// How many ancestors the kind has (0 for top-level kinds).
    pub fn depth(&self) -> usize {
        // The catalogue test checks that parent chains end; the bound guards against a
        // cycle slipping into the table anyway.
        let mut depth = 0;
        let mut current = self.parent_spec();
        while let Some(p) = current {
            depth += 1;
            if depth > 8 {
                break;
            }
            current = p.parent_spec();
        }
        depth
    }

    /// The `{placeholders}` in the list path, in order.
    pub fn placeholders(&self) -> Vec<&'static str> {
        placeholders(self.list_path)
    }

    /// The list path with its placeholders filled in (values are percent-encoded), or
    /// `None` when a placeholder has no value.
    pub fn path_for(&self, params: &BTreeMap<String, String>) -> Option<String> {
        fill(self.list_path, params)
    }

    /// The item's own id, as used in its children's paths: the field for
    /// [`IdRule::Field`] and [`IdRule::ScopedField`], the name for a singleton, the member
    /// for a relation.
    pub fn own_id(&self, item: &Value) -> Option<String> {
        match self.id {
            IdRule::Field(p) | IdRule::ScopedField(p) | IdRule::Member { pointer: p, .. } => {
                string_at(item, p)
            }
            IdRule::Singleton(name) => Some(name.to_owned()),
        }
    }

    /// The id the item gets in a snapshot, given its parent's snapshot id.
    pub fn resource_id(&self, parent_id: Option<&str>, item: &Value) -> Option<String> {
        let own = self.own_id(item)?;
        Some(match (self.id, parent_id) {
            (IdRule::Field(_), _) | (_, None) => own,
            (IdRule::ScopedField(_) | IdRule::Singleton(_) | IdRule::Member { .. }, Some(p)) => {
                format!("{p}/{own}")
            }
        })
    }

    /// The items in a list response.
    pub fn items(&self, body: Value) -> Result<Vec<Value>, Error> {
        let unexpected = |expected: &'static str| Error::UnexpectedShape {
            kind: self.name.to_owned(),
            expected,
        };
        match (self.shape, body) {
            (ListShape::Array, Value::Array(items)) => Ok(items),
            (ListShape::Array, _) => Err(unexpected("a JSON array")),
            (ListShape::Envelope(field), Value::Object(mut map)) => match map.remove(field) {
                Some(Value::Array(items)) => Ok(items),
                Some(Value::Null) | None => Ok(Vec::new()),
                Some(_) => Err(unexpected("an array in the envelope")),
            },
            (ListShape::Envelope(_), _) => Err(unexpected("a JSON object envelope")),
            (ListShape::Object, body @ Value::Object(_)) => Ok(vec![body]),
            (ListShape::Object, _) => Err(unexpected("a JSON object")),
        }
    }

    /// Hand each item of a page's `body` to `each`, in order. A JSON array is read one
    /// item at a time, so only one item's `Value` tree is alive at once (parsed whole, a
    /// page of 1,000 group members is about ten times its body); other shapes are parsed
    /// whole, as [`items`](Self::items) does. Stops at the first error `each` returns.
    pub fn for_each_item<E>(
        &self,
        body: &[u8],
        each: impl FnMut(Value) -> Result<(), E>,
    ) -> Result<(), ItemError<E>> {
        if self.shape != ListShape::Array {
            let body = serde_json::from_slice(body).map_err(|e| {
                ItemError::Page(Error::Unreadable {
                    kind: self.name.to_owned(),
                    reason: e.to_string(),
                })
            })?;
            return self
                .items(body)
                .map_err(ItemError::Page)?
                .into_iter()
                .try_for_each(each)
                .map_err(ItemError::Item);
        }
        let mut visitor = EachItem {
            each,
            stopped: None,
        };
        let read = serde::Deserializer::deserialize_seq(
            &mut serde_json::Deserializer::from_slice(body),
            &mut visitor,
        );
        match (visitor.stopped, read) {
            (Some(e), _) => Err(ItemError::Item(e)),
            (None, Ok(())) => Ok(()),
            (None, Err(e)) if e.is_data() => Err(ItemError::Page(Error::UnexpectedShape {
                kind: self.name.to_owned(),
                expected: "a JSON array",
            })),
            (None, Err(e)) => Err(ItemError::Page(Error::Unreadable {
                kind: self.name.to_owned(),
                reason: e.to_string(),
            })),
        }
    }

    /// The item as it is stored: `_links` and the kind's secrets removed.
    pub fn sanitize(&self, mut item: Value) -> Value {
        strip_links(&mut item);
        for pointer in self.secrets {
            strip_pointer(&mut item, pointer);
        }
        item
    }

    /// Turn one listed item into a snapshot resource.
    ///
    /// `parent` is the parent's snapshot id and placeholder value, for nested kinds.
    pub fn to_resource(&self, parent: Option<&ParentIds>, item: Value) -> Result<Resource, Error> {
        let id = self
            .resource_id(parent.map(|p| p.resource_id.as_str()), &item)
            .ok_or_else(|| Error::MissingId {
                kind: self.name.to_owned(),
            })?;
        let attributes = match (self.id, parent, self.parent) {
            (IdRule::Member { key, .. }, Some(parent_ids), Some(parent_ref)) => {
                let member = self.own_id(&item).unwrap_or_default();
                let mut pair = Map::new();
                pair.insert(
                    parent_ref.param.to_owned(),
                    Value::String(parent_ids.param_value.clone()),
                );
                pair.insert(key.to_owned(), Value::String(member));
                Value::Object(pair)
            }
            _ => self.sanitize(item),
        };
        Ok(Resource::new(self.kind(), id, attributes))
    }
}

/// Why [`KindSpec::for_each_item`] stopped.
#[derive(Debug)]
pub enum ItemError<E> {
    /// The page is not what the kind lists.
    Page(Error),
    /// What the caller's function returned for an item.
    Item(E),
}

/// Reads a JSON array, handing each element to `each` as it is parsed.
struct EachItem<F, E> {
    each: F,
    /// The caller's error, kept here: serde's error type cannot carry it.
    stopped: Option<E>,
}

impl<'de, F, E> serde::de::Visitor<'de> for &mut EachItem<F, E>
where
    F: FnMut(Value) -> Result<(), E>,
{
    type Value = ();

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a JSON array")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<Value>()? {
            if let Err(e) = (self.each)(item) {
                self.stopped = Some(e);
                return Err(serde::de::Error::custom("stopped by the caller"));
            }
        }
        Ok(())
    }
}

/// A parent's ids, as a child needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentIds {
    /// The parent's id in the snapshot.
    pub resource_id: String,
    /// The value that fills the child's placeholder for this parent.
    pub param_value: String,
}

fn string_at(item: &Value, pointer: &str) -> Option<String> {
    match item.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn placeholders(path: &'static str) -> Vec<&'static str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

fn fill(template: &str, params: &BTreeMap<String, String>) -> Option<String> {
    let mut out = String::with_capacity(template.len() + 16);
    for (i, segment) in template.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => out.push_str(&encode_segment(params.get(name)?)),
            None => out.push_str(segment),
        }
    }
    Some(out)
}

/// Percent-encode a path segment: everything but RFC 3986 unreserved characters.
pub(crate) fn encode_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn each_item(kind: &KindSpec, body: &str) -> Result<Vec<Value>, ItemError<()>> {
        let mut seen = Vec::new();
        kind.for_each_item(body.as_bytes(), |item| {
            seen.push(item);
            Ok(())
        })?;
        Ok(seen)
    }

    #[test]
    fn items_one_at_a_time_are_the_items_of_the_whole_page() {
        let user = by_name("user").expect("user kind");
        let body =
            json!([{"id": "00u1", "profile": {"login": "a@example.com"}}, {"id": "00u2"}, []]);
        let whole = user.items(body.clone()).expect("an array");
        let seen = each_item(user, &body.to_string()).expect("an array");
        assert_eq!(seen, whole);
        assert_eq!(each_item(user, "[]").expect("empty"), Vec::<Value>::new());
        // Other shapes are parsed whole, as `items` does.
        let envelope = all()
            .find(|k| k.shape == ListShape::Envelope("email-servers"))
            .expect("an envelope kind");
        let seen = each_item(envelope, r#"{"email-servers": [{"id": "e1"}], "x": 1}"#)
            .expect("an envelope");
        assert_eq!(seen, vec![json!({"id": "e1"})]);
    }

    #[test]
    fn a_page_of_the_wrong_shape_is_refused_for_the_kind() {
        let user = by_name("user").expect("user kind");
        let refused = each_item(user, r#"{"id": "00u1"}"#).expect_err("not an array");
        assert!(
            matches!(&refused, ItemError::Page(Error::UnexpectedShape { kind, .. }) if kind == "user"),
            "{refused:?}"
        );
        let refused = each_item(user, "[1, ").expect_err("broken off");
        assert!(
            matches!(&refused, ItemError::Page(Error::Unreadable { kind, .. }) if kind == "user"),
            "{refused:?}"
        );
    }

    #[test]
    fn the_callers_error_stops_the_page_at_that_item() {
        let user = by_name("user").expect("user kind");
        let mut seen = Vec::new();
        let stopped = user.for_each_item(br#"[{"id": "a"}, {"id": "b"}, {"id": "c"}]"#, |item| {
            if item["id"] == "b" {
                return Err("no b");
            }
            seen.push(item);
            Ok(())
        });
        assert!(
            matches!(stopped, Err(ItemError::Item("no b"))),
            "{stopped:?}"
        );
        assert_eq!(seen, vec![json!({"id": "a"})]);
    }

    #[test]
    fn at_least_45_kinds_with_unique_names() {
        let names: Vec<_> = all().map(|k| k.name).collect();
        assert!(names.len() >= 45, "only {} kinds", names.len());
        let unique: BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "duplicate kind names");
    }

    #[test]
    fn every_kind_is_complete() {
        for k in all() {
            assert!(!k.summary.is_empty(), "{}: no summary", k.name);
            assert!(k.list_path.starts_with('/'), "{}: bad path", k.name);
            assert!(!k.read_scopes.is_empty(), "{}: no scope", k.name);
            assert!(
                k.read_scopes
                    .iter()
                    .all(|s| s.rsplit('.').next() == Some("read")),
                "{}: backups only need read scopes",
                k.name
            );
            assert!(k.restore_rank > 0, "{}: no restore rank", k.name);
            assert_eq!(
                k.bucket,
                RateLimitBucket::for_request("GET", k.list_path),
                "{}: bucket does not match its path",
                k.name
            );
            if matches!(k.shape, ListShape::Object) {
                assert!(
                    !k.pagination.paginates(),
                    "{}: a single object pages",
                    k.name
                );
            }
            if matches!(k.id, IdRule::Member { .. }) {
                assert!(k.parent.is_some(), "{}: a relation needs a parent", k.name);
            }
        }
    }

    #[test]
    fn parents_exist_and_fill_the_placeholders() {
        for k in all() {
            let mut expected = Vec::new();
            let mut current = Some(k);
            while let Some(spec) = current {
                if let Some(p) = spec.parent {
                    expected.push(p.param);
                }
                current = spec.parent_spec();
            }
            if let Some(p) = k.parent {
                assert!(
                    by_name(p.kind).is_some(),
                    "{}: unknown parent {}",
                    k.name,
                    p.kind
                );
            }
            let mut got = k.placeholders();
            got.sort_unstable();
            expected.sort_unstable();
            assert_eq!(got, expected, "{}: placeholders vs parent chain", k.name);
            assert!(
                k.depth() <= 3,
                "{}: parent chain too deep or cyclic",
                k.name
            );
        }
    }

    #[test]
    fn restore_ranks_respect_parents_and_dependencies() {
        for k in all() {
            if let Some(p) = k.parent_spec() {
                assert!(
                    p.restore_rank < k.restore_rank,
                    "{} (rank {}) must restore after its parent {} (rank {})",
                    k.name,
                    k.restore_rank,
                    p.name,
                    p.restore_rank
                );
            }
            for dep in k.depends_on {
                let d =
                    by_name(dep).unwrap_or_else(|| panic!("{}: unknown dependency {dep}", k.name));
                assert!(
                    d.restore_rank < k.restore_rank,
                    "{} (rank {}) must restore after {} (rank {})",
                    k.name,
                    k.restore_rank,
                    d.name,
                    d.restore_rank
                );
            }
        }
        // The order DESIGN.md gives for a restore.
        let rank = |n: &str| by_name(n).unwrap().restore_rank;
        let design = [
            "user_type",
            "user_schema",
            "user",
            "group",
            "group_rule",
            "group_membership",
            "app",
            "app_user_assignment",
            "authorization_server",
            "policy.OKTA_SIGN_ON",
            "policy_rule.OKTA_SIGN_ON",
        ];
        for pair in design.windows(2) {
            assert!(
                rank(pair[0]) < rank(pair[1]),
                "{} before {}",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn fetch_order_puts_parents_first() {
        let order = fetch_order();
        let position = |n: &str| order.iter().position(|k| k.name == n).unwrap();
        for k in &order {
            if let Some(p) = k.parent {
                assert!(position(p.kind) < position(k.name), "{}", k.name);
            }
        }
    }

    #[test]
    fn secrets_are_pointers() {
        for k in all() {
            for s in k.secrets {
                assert!(
                    s.starts_with('/') && s.len() > 1,
                    "{}: bad pointer {s}",
                    k.name
                );
            }
        }
    }

    #[test]
    fn fills_paths_and_encodes_values() {
        let k = by_name("email_customization").unwrap();
        let params: BTreeMap<String, String> = [
            ("brandId".to_owned(), "bnd1".to_owned()),
            ("templateName".to_owned(), "User Activation/2".to_owned()),
        ]
        .into();
        assert_eq!(
            k.path_for(&params).unwrap(),
            "/api/v1/brands/bnd1/templates/email/User%20Activation%2F2/customizations"
        );
        assert_eq!(k.path_for(&BTreeMap::new()), None);
    }

    #[test]
    fn resources_are_named_and_sanitized() {
        let app = by_name("app").unwrap();
        let r = app
            .to_resource(
                None,
                json!({"id": "0oa1", "_links": {"self": {}}, "credentials": {"oauthClient": {"client_id": "c", "client_secret": "s"}}}),
            )
            .unwrap();
        assert_eq!(r.id, "0oa1");
        assert_eq!(
            r.attributes,
            json!({"id": "0oa1", "credentials": {"oauthClient": {"client_id": "c"}}})
        );

        let members = by_name("group_membership").unwrap();
        let parent = ParentIds {
            resource_id: "00g1".into(),
            param_value: "00g1".into(),
        };
        let r = members
            .to_resource(
                Some(&parent),
                json!({"id": "00u1", "profile": {"login": "a@b"}}),
            )
            .unwrap();
        assert_eq!(r.id, "00g1/00u1");
        assert_eq!(r.attributes, json!({"groupId": "00g1", "userId": "00u1"}));

        let assignment = by_name("app_user_assignment").unwrap();
        let r = assignment
            .to_resource(
                Some(&ParentIds {
                    resource_id: "0oa1".into(),
                    param_value: "0oa1".into(),
                }),
                json!({"id": "00u1"}),
            )
            .unwrap();
        assert_eq!(r.id, "0oa1/00u1");

        assert!(matches!(
            app.to_resource(None, json!({"name": "x"})),
            Err(Error::MissingId { .. })
        ));
    }

    #[test]
    fn items_follow_the_shape() {
        let roles = by_name("custom_role").unwrap();
        assert_eq!(
            roles
                .items(json!({"roles": [{"id": "cr1"}], "_links": {}}))
                .unwrap()
                .len(),
            1
        );
        assert!(roles.items(json!([])).is_err());
        let org = by_name("org_setting").unwrap();
        assert_eq!(org.items(json!({"id": "00o1"})).unwrap().len(), 1);
        let users = by_name("user").unwrap();
        assert!(users.items(json!({})).is_err());
    }

    #[test]
    fn parameters_come_from_the_parent() {
        let schema = by_name("user_schema").unwrap();
        let user_type = by_name("user_type").unwrap();
        let parent = json!({"id": "oty1", "_links": {"schema": {"href": "https://x.okta.com/api/v1/meta/schemas/user/osc1"}}});
        assert_eq!(
            schema
                .parent
                .unwrap()
                .value_from(user_type, &parent)
                .as_deref(),
            Some("osc1")
        );
        let client_roles = by_name("client_role_assignment").unwrap();
        let app = by_name("app").unwrap();
        let p = client_roles.parent.unwrap();
        assert_eq!(p.value_from(app, &json!({"id": "0oa1"})), None);
        assert_eq!(
            p.value_from(
                app,
                &json!({"id": "0oa1", "credentials": {"oauthClient": {"client_id": "0oa1"}}})
            )
            .as_deref(),
            Some("0oa1")
        );
    }

    #[test]
    fn the_table_lists_every_kind() {
        let table = markdown_table();
        for k in all() {
            assert!(table.contains(&format!("| `{}` |", k.name)), "{}", k.name);
        }
        assert_eq!(table.lines().count(), all().count() + 2);
    }
}
