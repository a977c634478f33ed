//! The simulated org: every listing, keyed by the concrete path Okta serves it at.
//!
//! Items are stored serialized (`Arc<str>`), not as `serde_json::Value`: a 50K-user org
//! is mostly users, and a page is then a join of ready-made strings. A group's members
//! share the user items rather than copying them.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::okta::kinds::{self, IdRule, KindSpec, ListShape};

/// Where the generator hides secrets: every planted secret starts with this, so a test can
/// scan stored bytes for it.
pub const SECRET_MARKER: &str = "sim-secret-";

/// One listed object.
#[derive(Debug)]
pub(crate) struct Item {
    /// The object's own id (as [`KindSpec::own_id`] reads it).
    pub id: String,
    /// The object as Okta would send it.
    pub body: Arc<str>,
    /// For users, the status (the default user list leaves out deprovisioned users).
    pub status: Option<String>,
}

/// One list endpoint instance: a kind at a concrete path.
#[derive(Debug)]
pub(crate) struct Listing {
    pub kind: &'static KindSpec,
    /// Change through the methods below, which keep `keys` in step.
    pub items: Vec<Arc<Item>>,
    /// `false` when Okta answers 404 here (an optional sub-resource that is not set up).
    pub present: bool,
    /// A hash of each item's id, in item order: finding a user among 50K by scanning
    /// contiguous hashes takes microseconds, where following each item's pointers to its
    /// id string misses the cache twice per item and takes milliseconds.
    keys: Vec<u64>,
}

impl Listing {
    fn new(kind: &'static KindSpec, present: bool) -> Self {
        Listing {
            kind,
            items: Vec::new(),
            present,
            keys: Vec::new(),
        }
    }

    fn key(id: &str) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        id.hash(&mut hasher);
        hasher.finish()
    }

    /// Where the item with own id `id` is.
    pub(crate) fn position(&self, id: &str) -> Option<usize> {
        let key = Self::key(id);
        self.keys
            .iter()
            .enumerate()
            .filter(|(_, k)| **k == key)
            .map(|(i, _)| i)
            .find(|i| self.items.get(*i).is_some_and(|item| item.id == id))
    }

    /// The item with own id `id`.
    pub(crate) fn get(&self, id: &str) -> Option<&Arc<Item>> {
        self.position(id).and_then(|i| self.items.get(i))
    }

    fn extend(&mut self, items: Vec<Arc<Item>>) {
        self.keys.extend(items.iter().map(|i| Self::key(&i.id)));
        self.items.extend(items);
    }

    /// Replace the item with `item`'s id, or append it.
    fn put(&mut self, item: Arc<Item>) {
        if let Some(i) = self.position(&item.id) {
            self.items[i] = item;
        } else {
            self.keys.push(Self::key(&item.id));
            self.items.push(item);
        }
    }

    /// Remove the item with own id `id`; returns whether it was there.
    fn remove(&mut self, id: &str) -> bool {
        match self.position(id) {
            Some(i) => {
                self.items.remove(i);
                self.keys.remove(i);
                true
            }
            None => false,
        }
    }
}

/// The service app Butterfly authenticates as.
#[derive(Debug, Clone)]
pub(crate) struct ServiceApp {
    pub client_id: String,
    pub key_id: String,
}

/// A generated org.
#[derive(Debug)]
pub struct Org {
    pub(crate) url: String,
    pub(crate) listings: BTreeMap<(String, &'static str), Listing>,
    /// Single objects by path (`/api/v1/users/00u1`), for get-by-id and detail fetches.
    pub(crate) objects: BTreeMap<String, (&'static KindSpec, Arc<str>)>,
    pub(crate) service_app: ServiceApp,
    /// How many ids writes have handed out: new ids are `{prefix}w{n:016}`, so a test that
    /// writes the same things in the same order gets the same ids.
    pub(crate) written: u64,
    /// Users by lowercased login, built on the first user write: checking a new login
    /// against 50K stored bodies on every write would make a restore quadratic.
    logins: Option<BTreeMap<String, String>>,
    /// The System Log: one event per accepted write and per side effect.
    pub(crate) system_log: super::syslog::SystemLog,
}

impl Org {
    pub(crate) fn new(org_url: &str, service_app: ServiceApp) -> Self {
        Org {
            url: org_url.trim_end_matches('/').to_owned(),
            listings: BTreeMap::new(),
            objects: BTreeMap::new(),
            service_app,
            written: 0,
            logins: None,
            system_log: super::syslog::SystemLog::default(),
        }
    }

    /// The org's base URL.
    pub fn org_url(&self) -> &str {
        &self.url
    }

    /// How many resources of each kind the org holds.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts: BTreeMap<&'static str, usize> = kinds::all().map(|k| (k.name, 0)).collect();
        for ((_, kind), listing) in &self.listings {
            *counts.entry(kind).or_default() += listing.items.len();
        }
        counts
    }

    /// The paths at which `kind` is listed (a nested kind has one per parent), leaving
    /// out those that answer 404 (optional sub-resources that are not set up).
    pub fn listing_paths<'a>(&'a self, kind: &'a str) -> Vec<&'a str> {
        self.listings_of(kind)
            .filter(|(_, l)| l.present)
            .map(|(path, _)| path)
            .collect()
    }

    /// The own ids of the items of `kind` listed at `path` (every status), in list order:
    /// for tests and benchmarks that pick what to change.
    pub fn listing_ids(&self, path: &str, kind: &str) -> Vec<String> {
        self.listing(path, kind)
            .map(|l| l.items.iter().map(|i| i.id.clone()).collect())
            .unwrap_or_default()
    }

    /// Every listing of `kind` with its path, for tests and the lower bound.
    pub(crate) fn listings_of<'a>(
        &'a self,
        kind: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a Listing)> + 'a {
        self.listings
            .iter()
            .filter(move |((_, k), _)| *k == kind)
            .map(|((path, _), listing)| (path.as_str(), listing))
    }

    /// Record a listing; returns the shared items.
    pub(crate) fn insert(
        &mut self,
        kind: &'static KindSpec,
        path: String,
        bodies: Vec<Value>,
    ) -> Vec<Arc<Item>> {
        let items: Vec<Arc<Item>> = bodies
            .into_iter()
            .map(|body| Arc::new(Item::new(kind, &body)))
            .collect();
        self.insert_shared(kind, path, items.clone());
        items
    }

    /// Record a listing of items that already exist elsewhere (a group's members).
    pub(crate) fn insert_shared(
        &mut self,
        kind: &'static KindSpec,
        path: String,
        items: Vec<Arc<Item>>,
    ) {
        // Objects are reachable by id under their list path, as Okta serves them.
        if !matches!(kind.shape, ListShape::Object) && !matches!(kind.id, IdRule::Member { .. }) {
            for item in &items {
                if !item.id.is_empty() {
                    // A richer detail view recorded first wins over the list entry.
                    self.objects
                        .entry(format!("{path}/{}", item.id))
                        .or_insert_with(|| (kind, Arc::clone(&item.body)));
                }
            }
        }
        let listing = self
            .listings
            .entry((path, kind.name))
            .or_insert_with(|| Listing::new(kind, true));
        listing.extend(items);
        listing.present = true;
    }

    /// Record that Okta answers 404 at this path for this kind.
    pub(crate) fn insert_absent(&mut self, kind: &'static KindSpec, path: String) {
        self.listings
            .insert((path, kind.name), Listing::new(kind, false));
    }

    /// Record a single object at a path (a detail view richer than its list entry).
    pub(crate) fn insert_object(&mut self, kind: &'static KindSpec, path: String, body: &Value) {
        self.objects
            .insert(path, (kind, Arc::from(body.to_string())));
    }
}

impl Item {
    /// An item for `body` as `kind` lists it.
    pub(crate) fn new(kind: &KindSpec, body: &Value) -> Self {
        let id = kind.own_id(body).unwrap_or_default();
        let status = (kind.name == "user")
            .then(|| {
                body.get("status")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .flatten();
        Item {
            id,
            body: Arc::from(body.to_string()),
            status,
        }
    }
}

/// Writes: every change keeps `objects` consistent with `listings`, so a backup (which
/// reads both) sees the same org a client reading by id sees.
impl Org {
    /// A fresh id with Okta's `prefix` (`00u`, `00g`...), 20 characters like Okta's.
    pub(crate) fn next_id(&mut self, prefix: &str) -> String {
        self.written += 1;
        format!(
            "{prefix}w{:0>width$}",
            self.written,
            width = 19 - prefix.len()
        )
    }

    /// Users by lowercased login.
    pub(crate) fn logins(&mut self) -> &mut BTreeMap<String, String> {
        let listings = &self.listings;
        self.logins.get_or_insert_with(|| {
            let mut logins = BTreeMap::new();
            if let Some(users) = listings.get(&("/api/v1/users".to_owned(), "user")) {
                for user in &users.items {
                    if let Some(login) = serde_json::from_str::<Value>(&user.body)
                        .ok()
                        .and_then(|u| login_of(&u))
                    {
                        logins.insert(login, user.id.clone());
                    }
                }
            }
            logins
        })
    }

    /// The listing of `kind` at `path`, if the org has one (present or not).
    pub(crate) fn listing(&self, path: &str, kind: &str) -> Option<&Listing> {
        // The key owns its path; a lookup by borrowed parts would need a custom Borrow.
        self.listings.get(&(path.to_owned(), leak_kind(kind)?))
    }

    fn listing_mut(&mut self, path: &str, kind: &str) -> Option<&mut Listing> {
        self.listings.get_mut(&(path.to_owned(), leak_kind(kind)?))
    }

    /// Add an empty listing of `kind` at `path` (a new parent's children), or mark one
    /// absent when `present` is false.
    pub(crate) fn add_listing(&mut self, kind: &'static KindSpec, path: String, present: bool) {
        if present {
            self.insert_shared(kind, path, Vec::new());
        } else {
            self.insert_absent(kind, path);
        }
    }

    /// Add or replace (by own id) one item of `kind` in the listing at `path`, and its
    /// object at `{path}/{id}`. Returns the stored item.
    pub(crate) fn put_item(
        &mut self,
        kind: &'static KindSpec,
        path: &str,
        body: &Value,
    ) -> Arc<Item> {
        let item = Arc::new(Item::new(kind, body));
        self.put_shared(kind, path, Arc::clone(&item));
        item
    }

    /// [`Org::put_item`] for an item that already exists elsewhere (a member).
    pub(crate) fn put_shared(&mut self, kind: &'static KindSpec, path: &str, item: Arc<Item>) {
        if !matches!(kind.id, IdRule::Member { .. }) && !item.id.is_empty() {
            self.objects.insert(
                format!("{path}/{}", item.id),
                (kind, Arc::clone(&item.body)),
            );
        }
        let listing = self
            .listings
            .entry((path.to_owned(), kind.name))
            .or_insert_with(|| Listing::new(kind, true));
        listing.present = true;
        listing.put(item);
    }

    /// Remove the item with `id` from the listing of `kind` at `path`, and its object.
    /// Returns whether it was there.
    pub(crate) fn remove_item(&mut self, kind: &str, path: &str, id: &str) -> bool {
        self.objects.remove(&format!("{path}/{id}"));
        self.listing_mut(path, kind)
            .is_some_and(|listing| listing.remove(id))
    }

    /// Remove an object and everything under it: `{path}` itself and every listing and
    /// object whose path starts with `{path}/`.
    pub(crate) fn remove_tree(&mut self, path: &str) {
        let prefix = format!("{path}/");
        self.objects.remove(path);
        let objects: Vec<String> = self
            .objects
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in objects {
            self.objects.remove(&k);
        }
        let listings: Vec<(String, &'static str)> = self
            .listings
            .range((prefix.clone(), "")..)
            .take_while(|((p, _), _)| p.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in listings {
            self.listings.remove(&k);
        }
    }

    /// Remove every item with own id `id` from every listing of `kind` (a deleted user
    /// from every group's members), with their objects. Returns the listings' paths.
    pub(crate) fn remove_everywhere(&mut self, kind: &str, id: &str) -> Vec<String> {
        let mut paths = Vec::new();
        for ((path, k), listing) in &mut self.listings {
            if *k == kind && listing.remove(id) {
                paths.push(path.clone());
            }
        }
        for p in &paths {
            self.objects.remove(&format!("{p}/{id}"));
        }
        paths
    }

    /// Point every listing of `kind` that holds an item with `item`'s id at `item` (a
    /// user's new body in every group it is a member of).
    pub(crate) fn replace_everywhere(&mut self, kind: &str, item: &Arc<Item>) {
        for ((_, k), listing) in &mut self.listings {
            if *k == kind
                && let Some(i) = listing.position(&item.id)
            {
                listing.items[i] = Arc::clone(item);
            }
        }
    }
}

/// A user's login, lowercased (Okta compares logins without case).
pub(crate) fn login_of(user: &Value) -> Option<String> {
    user.pointer("/profile/login")
        .and_then(Value::as_str)
        .map(str::to_lowercase)
}

/// The catalogue's `&'static str` for a kind name (listing keys hold the static name).
fn leak_kind(kind: &str) -> Option<&'static str> {
    kinds::by_name(kind).map(|k| k.name)
}

/// The top-level `lastUpdated` of a serialized user (the first one: the generator and
/// the writes put it before `profile`), without parsing the body.
fn last_updated(body: &str) -> Option<&str> {
    let at = body.find("\"lastUpdated\":\"")? + "\"lastUpdated\":\"".len();
    let rest = &body[at..];
    rest.find('"').map(|end| &rest[..end])
}

/// The items of `listing` a request with these query parameters selects.
pub(crate) fn select<'a>(
    listing: &'a Listing,
    query: &BTreeMap<String, String>,
) -> Vec<&'a Arc<Item>> {
    if listing.kind.name != "user" {
        return listing.items.iter().collect();
    }
    // `search=lastUpdated gt "T"` (Okta's search): users of every status changed after T.
    if let Some(since) = query
        .get("search")
        .and_then(|s| s.trim().strip_prefix("lastUpdated gt "))
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t.trim().trim_matches('"')).ok())
    {
        return listing
            .items
            .iter()
            .filter(|item| {
                last_updated(&item.body)
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| t > since)
            })
            .collect();
    }
    // Okta: "all users except those with a DEPROVISIONED status" unless a filter says
    // otherwise; the simulator understands `status eq "X"`.
    let wanted = query.get("filter").and_then(|f| {
        let f = f.trim();
        let rest = f.strip_prefix("status eq ")?;
        Some(rest.trim().trim_matches('"').to_owned())
    });
    listing
        .items
        .iter()
        .filter(|item| match (&wanted, item.status.as_deref()) {
            (Some(w), s) => s == Some(w.as_str()),
            (None, s) => s != Some("DEPROVISIONED"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn org() -> Org {
        Org::new(
            "https://sim.example.com/",
            ServiceApp {
                client_id: "0oa1".into(),
                key_id: "k".into(),
            },
        )
    }

    fn spec(name: &str) -> &'static KindSpec {
        kinds::by_name(name).unwrap()
    }

    #[test]
    fn ids_count_up_with_okta_prefixes() {
        let mut org = org();
        assert_eq!(org.next_id("00g"), "00gw0000000000000001");
        assert_eq!(org.next_id("00u"), "00uw0000000000000002");
        assert_eq!(org.next_id("00u").len(), 20);
    }

    #[test]
    fn items_are_replaced_in_place_and_removed_with_their_objects() {
        let mut org = org();
        let group = spec("group");
        for id in ["00g1", "00g2", "00g3"] {
            org.put_item(group, "/api/v1/groups", &json!({ "id": id, "n": 1 }));
        }
        org.put_item(group, "/api/v1/groups", &json!({ "id": "00g2", "n": 2 }));
        let listing = org.listing("/api/v1/groups", "group").unwrap();
        let ids: Vec<&str> = listing.items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["00g1", "00g2", "00g3"]);
        assert!(listing.get("00g2").unwrap().body.contains("\"n\":2"));
        assert!(org.objects["/api/v1/groups/00g2"].1.contains("\"n\":2"));

        assert!(org.remove_item("group", "/api/v1/groups", "00g2"));
        assert!(!org.remove_item("group", "/api/v1/groups", "00g2"));
        let listing = org.listing("/api/v1/groups", "group").unwrap();
        assert_eq!(listing.position("00g3"), Some(1));
        assert!(listing.get("00g2").is_none());
        assert!(!org.objects.contains_key("/api/v1/groups/00g2"));
    }

    #[test]
    fn a_tree_goes_with_its_root_and_nothing_else() {
        let mut org = org();
        let members = spec("group_membership");
        org.add_listing(members, "/api/v1/groups/00g1/users".into(), true);
        org.add_listing(members, "/api/v1/groups/00g10/users".into(), true);
        org.put_item(spec("group"), "/api/v1/groups", &json!({ "id": "00g1" }));
        org.put_item(spec("group"), "/api/v1/groups", &json!({ "id": "00g10" }));
        org.remove_tree("/api/v1/groups/00g1");
        assert!(
            org.listing("/api/v1/groups/00g1/users", "group_membership")
                .is_none()
        );
        assert!(
            org.listing("/api/v1/groups/00g10/users", "group_membership")
                .is_some()
        );
        assert!(!org.objects.contains_key("/api/v1/groups/00g1"));
        assert!(org.objects.contains_key("/api/v1/groups/00g10"));
    }

    #[test]
    fn logins_are_indexed_without_case() {
        let mut org = org();
        org.put_item(
            spec("user"),
            "/api/v1/users",
            &json!({ "id": "00u1", "profile": { "login": "Ada@Example.com" } }),
        );
        assert_eq!(
            org.logins().get("ada@example.com").map(String::as_str),
            Some("00u1")
        );
    }
}
