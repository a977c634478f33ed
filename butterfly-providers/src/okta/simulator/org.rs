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
    pub items: Vec<Arc<Item>>,
    /// `false` when Okta answers 404 here (an optional sub-resource that is not set up).
    pub present: bool,
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
}

impl Org {
    pub(crate) fn new(org_url: &str, service_app: ServiceApp) -> Self {
        Org {
            url: org_url.trim_end_matches('/').to_owned(),
            listings: BTreeMap::new(),
            objects: BTreeMap::new(),
            service_app,
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
            .map(|body| {
                let id = kind.own_id(&body).unwrap_or_default();
                let status = (kind.name == "user")
                    .then(|| {
                        body.get("status")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .flatten();
                Arc::new(Item {
                    id,
                    body: Arc::from(body.to_string()),
                    status,
                })
            })
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
            .or_insert_with(|| Listing {
                kind,
                items: Vec::new(),
                present: true,
            });
        listing.items.extend(items);
        listing.present = true;
    }

    /// Record that Okta answers 404 at this path for this kind.
    pub(crate) fn insert_absent(&mut self, kind: &'static KindSpec, path: String) {
        self.listings.insert(
            (path, kind.name),
            Listing {
                kind,
                items: Vec::new(),
                present: false,
            },
        );
    }

    /// Record a single object at a path (a detail view richer than its list entry).
    pub(crate) fn insert_object(&mut self, kind: &'static KindSpec, path: String, body: &Value) {
        self.objects
            .insert(path, (kind, Arc::from(body.to_string())));
    }
}

/// The items of `listing` a request with these query parameters selects.
pub(crate) fn select<'a>(
    listing: &'a Listing,
    query: &BTreeMap<String, String>,
) -> Vec<&'a Arc<Item>> {
    if listing.kind.name != "user" {
        return listing.items.iter().collect();
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
