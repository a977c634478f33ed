//! The storage the service runs on: the [`ScimStore`] trait and the types it speaks.
//!
//! A store keeps SCIM resources of many teams as JSON. The service hands it resources
//! already validated and normalised to the schemas' canonical attribute spelling (so a
//! SQL store can read `userName` or `members` at fixed JSON paths), and reads back the
//! full representation with `id` and `meta` filled in, except `meta.location`, which
//! depends on the URL the client used and is added per response.
//!
//! Every call names the team: nothing a store returns may belong to another team.

use std::collections::BTreeMap;
use std::future::Future;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use thiserror::Error;

use butterfly_core::TeamId;

use crate::ScimType;
use crate::filter::{AttrPath, Filter};

/// The kinds of resource the service provides (RFC 7643 sections 4.1 and 4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    /// `urn:ietf:params:scim:schemas:core:2.0:User`, at `/Users`.
    User,
    /// `urn:ietf:params:scim:schemas:core:2.0:Group`, at `/Groups`.
    Group,
}

impl ResourceType {
    /// Both types, in discovery order.
    pub const ALL: [ResourceType; 2] = [ResourceType::User, ResourceType::Group];

    /// The name used in `meta.resourceType` and `/ResourceTypes/{name}`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::User => "User",
            ResourceType::Group => "Group",
        }
    }

    /// The endpoint, without the slash: `Users` or `Groups`.
    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceType::User => "Users",
            ResourceType::Group => "Groups",
        }
    }

    /// The type served at an endpoint, ignoring ASCII case (`users` is accepted, as some
    /// clients lowercase paths).
    pub fn from_endpoint(segment: &str) -> Option<ResourceType> {
        ResourceType::ALL
            .into_iter()
            .find(|t| t.endpoint().eq_ignore_ascii_case(segment))
    }

    /// The type with this name (`User`, `Group`), ignoring ASCII case.
    pub fn from_name(name: &str) -> Option<ResourceType> {
        ResourceType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(name))
    }
}

/// What the store decides about a resource: its identity, times and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMeta {
    /// The resource's `id`, assigned by the store on creation and never reused for
    /// another resource of the team.
    pub id: String,
    /// When the resource was created.
    pub created: DateTime<Utc>,
    /// When it last changed.
    pub last_modified: DateTime<Utc>,
    /// An opaque version that changes on every write, without the `W/"..."` of the ETag
    /// (the service adds it). Printable ASCII without `"` or `\`.
    pub version: String,
}

impl StoredMeta {
    /// The weak ETag for this version: `W/"<version>"` (RFC 7644 section 3.14).
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }
}

/// A resource as a store returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    /// Identity, times and version.
    pub meta: StoredMeta,
    /// The full SCIM representation, with canonical attribute names, `id` and `meta`
    /// (`resourceType`, `created`, `lastModified`, `version`), but no `meta.location`.
    pub resource: Value,
}

impl StoredResource {
    /// Build the representation from the attributes the service handed the store (an
    /// object without `id` and `meta`) and the store's metadata. Stores call this so that
    /// every store writes `id` and `meta` the same way.
    pub fn new(resource_type: ResourceType, meta: StoredMeta, attributes: Value) -> Self {
        let mut object = match attributes {
            Value::Object(object) => object,
            // The service only ever hands over objects; anything else is kept nowhere.
            _ => Map::new(),
        };
        object.insert("id".into(), Value::String(meta.id.clone()));
        object.insert(
            "meta".into(),
            json!({
                "resourceType": resource_type.as_str(),
                "created": format_time(meta.created),
                "lastModified": format_time(meta.last_modified),
                "version": meta.etag(),
            }),
        );
        StoredResource {
            meta,
            resource: Value::Object(object),
        }
    }

    /// The representation without `id` and `meta`: what the service handed the store.
    pub fn attributes(&self) -> Value {
        let mut attributes = self.resource.clone();
        if let Some(object) = attributes.as_object_mut() {
            object.remove("id");
            object.remove("meta");
        }
        attributes
    }
}

/// RFC 3339 with the offset as given; the stores keep UTC, so this ends in `Z`.
pub(crate) fn format_time(t: DateTime<Utc>) -> String {
    // Formatting as RFC 3339 fails only for years outside 0..=9999, which no clock in
    // service produces; fall back to the Unix timestamp text.
    butterfly_core::rfc3339::format(&t).unwrap_or_else(|_| t.timestamp().to_string())
}

/// A page of a list or search request (RFC 7644 section 3.4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Only resources matching this filter. Its attribute paths are as the client wrote
    /// them: names and URNs must be matched without regard to case.
    pub filter: Option<Filter>,
    /// Sort by this attribute; `None` means the store's stable default order (creation
    /// order in [`MemoryStore`](crate::MemoryStore)).
    pub sort_by: Option<AttrPath>,
    /// Sort descending instead of ascending.
    pub descending: bool,
    /// 1-based index of the first result of the page. Always at least 1.
    pub start_index: usize,
    /// How many results at most. 0 asks for the total only.
    pub count: usize,
}

/// What [`ScimStore::query_with_groups`] found: the total, the page, and the Groups of
/// the page's Users.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryPage {
    /// How many resources match, across every page.
    pub total: usize,
    /// The page's resources, in order.
    pub resources: Vec<StoredResource>,
    /// User id -> the Groups that list it `(group id, displayName)`, for every User of the
    /// page when Groups were asked for; empty otherwise.
    pub groups: BTreeMap<String, Vec<(String, String)>>,
}

/// A group member as the store found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedMember {
    /// The member's id.
    pub id: String,
    /// Whether it is a User or a Group.
    pub resource_type: ResourceType,
    /// A name to show for it: a User's `displayName` (or `userName`), a Group's
    /// `displayName`.
    pub display: Option<String>,
}

/// Why a store operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ScimStoreError {
    /// No such resource in this team. Becomes 404.
    #[error("resource not found")]
    NotFound,
    /// A uniqueness rule was broken (`userName`, a Group's `displayName`). Becomes 409
    /// `uniqueness`; the detail is shown to the client.
    #[error("uniqueness violation: {0}")]
    Uniqueness(String),
    /// The resource's version was not the expected one. Becomes 412 (or a retry, when the
    /// service itself chose the expected version).
    #[error("the resource was modified concurrently")]
    VersionMismatch,
    /// The embedding application refused the change, for instance "cannot demote the last
    /// super_admin". The status, `scimType` and detail are shown to the client.
    #[error("rejected ({status}): {detail}")]
    Rejected {
        /// The HTTP status to answer with.
        status: u16,
        /// The `scimType`, if one fits.
        scim_type: Option<ScimType>,
        /// What the client is told.
        detail: String,
    },
    /// The backend failed. Becomes 500 with a generic body; the error itself is logged
    /// with `tracing`, never sent to the client.
    #[error("store backend failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Where a [`ScimService`](crate::ScimService) keeps resources.
///
/// # Contract
///
/// - **Tenancy.** Every method takes the team; resources of other teams are invisible
///   (`NotFound`, never returned by `query`, never counted).
/// - **Identity and versions.** [`create`](ScimStore::create) assigns the `id` (unique in
///   the team), `created`, `lastModified` and a version; every successful write changes
///   the version and `lastModified`. Build the returned value with
///   [`StoredResource::new`].
/// - **Input.** `attributes` is a JSON object with canonical attribute names, `schemas`,
///   and neither `id` nor `meta`; store it as it is.
/// - **Uniqueness.** A User's `userName` and a Group's `displayName` are unique within the
///   team, compared without regard to case: a write that breaks this fails with
///   [`ScimStoreError::Uniqueness`], atomically with the write.
/// - **Compare-and-swap.** [`replace`](ScimStore::replace) with `Some(version)` fails
///   with [`ScimStoreError::VersionMismatch`] unless the stored version is that one,
///   checked atomically with the write. The service uses it for PUT and for PATCH
///   (read, apply, write back), so a lost update cannot happen.
/// - **Deleting** a resource also removes it from the `members` of every Group of the
///   team (changing their versions), so no Group points at a missing member.
/// - **Queries** evaluate the filter with the semantics of
///   [`Filter::matches`] and [`SchemaRules`](crate::schema::SchemaRules) against the
///   representation `get` would return, count all matches in `total`, and return the
///   page `start_index..start_index + count` of the (sorted) matches.
///
/// Native `async fn`-style methods, not `async-trait`: the SCIM service is generic over
/// its store and nothing holds one as `dyn`, so no call pays for a boxed future.
pub trait ScimStore: Send + Sync {
    /// Create a resource.
    fn create(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        attributes: Value,
    ) -> impl Future<Output = Result<StoredResource, ScimStoreError>> + Send;

    /// Read one resource.
    fn get(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
    ) -> impl Future<Output = Result<StoredResource, ScimStoreError>> + Send;

    /// Replace a resource's attributes, if its version is `expected_version` (when given).
    fn replace(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
        attributes: Value,
        expected_version: Option<&str>,
    ) -> impl Future<Output = Result<StoredResource, ScimStoreError>> + Send;

    /// Replace `current` (the resource as [`get`](ScimStore::get) returned it) with
    /// `attributes`, if it is still at `current`'s version.
    ///
    /// PUT and PATCH read the resource once, compute the new attributes from it and call
    /// this: a store that needs the old representation (to see what the write changes)
    /// takes it from `current` rather than reading it again. The provided implementation
    /// is [`replace`](ScimStore::replace) with `current`'s id and version.
    fn replace_current(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        current: &StoredResource,
        attributes: Value,
    ) -> impl Future<Output = Result<StoredResource, ScimStoreError>> + Send {
        self.replace(
            team,
            resource_type,
            &current.meta.id,
            attributes,
            Some(&current.meta.version),
        )
    }

    /// [`replace_current`](ScimStore::replace_current), told also the Groups that list
    /// `current` (a User), as [`get_with_groups`](ScimStore::get_with_groups) read them
    /// with it: a store that needs them to see what the write changes (a User's role may
    /// come from its Groups) takes them from here rather than reading them again. The
    /// provided implementation is [`replace_current`](ScimStore::replace_current),
    /// ignoring them.
    fn replace_current_in_groups(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        current: &StoredResource,
        groups: &[(String, String)],
        attributes: Value,
    ) -> impl Future<Output = Result<StoredResource, ScimStoreError>> + Send {
        let _ = groups;
        self.replace_current(team, resource_type, current, attributes)
    }

    /// Delete a resource, and remove it from every Group's `members`.
    fn delete(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
    ) -> impl Future<Output = Result<(), ScimStoreError>> + Send;

    /// Find resources: the total number of matches, and one page of them.
    fn query(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        query: &ListQuery,
    ) -> impl Future<Output = Result<(usize, Vec<StoredResource>), ScimStoreError>> + Send;

    /// The Groups that list `user_id` among their `members`: `(group id, displayName)`,
    /// for the read-only `groups` attribute of a User.
    fn groups_of_user(
        &self,
        team: TeamId,
        user_id: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, ScimStoreError>> + Send;

    /// [`groups_of_user`](ScimStore::groups_of_user) for each of `user_ids` at once, for
    /// rendering a page of Users: the map has an entry (maybe empty) for every id. The
    /// provided implementation asks once per id; a database store answers a page in one
    /// query instead.
    fn groups_of_users(
        &self,
        team: TeamId,
        user_ids: &[String],
    ) -> impl Future<Output = Result<BTreeMap<String, Vec<(String, String)>>, ScimStoreError>> + Send
    {
        async move {
            let mut groups = BTreeMap::new();
            for id in user_ids {
                groups.insert(id.clone(), self.groups_of_user(team, id).await?);
            }
            Ok(groups)
        }
    }

    /// [`get`](ScimStore::get), and, when `with_groups` and the resource is a User, the
    /// Groups that list it (as [`groups_of_user`](ScimStore::groups_of_user) gives them;
    /// empty otherwise), for rendering it or writing it back. The provided implementation
    /// makes both calls; a database store answers in one query.
    fn get_with_groups(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
        with_groups: bool,
    ) -> impl Future<Output = Result<(StoredResource, Vec<(String, String)>), ScimStoreError>> + Send
    {
        async move {
            let stored = self.get(team, resource_type, id).await?;
            let groups = if with_groups && resource_type == ResourceType::User {
                self.groups_of_user(team, &stored.meta.id).await?
            } else {
                Vec::new()
            };
            Ok((stored, groups))
        }
    }

    /// [`query`](ScimStore::query), and, when `with_groups` and `resource_type` is User,
    /// the Groups of each User of the page (as
    /// [`groups_of_users`](ScimStore::groups_of_users) gives them: an entry for every
    /// User of the page; the map is empty otherwise). The provided implementation makes
    /// both calls; a database store answers a `userName eq` lookup or a page in one query.
    fn query_with_groups(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        query: &ListQuery,
        with_groups: bool,
    ) -> impl Future<Output = Result<QueryPage, ScimStoreError>> + Send {
        async move {
            let (total, page) = self.query(team, resource_type, query).await?;
            let groups = if with_groups && resource_type == ResourceType::User && !page.is_empty() {
                let ids: Vec<String> = page.iter().map(|s| s.meta.id.clone()).collect();
                self.groups_of_users(team, &ids).await?
            } else {
                BTreeMap::new()
            };
            Ok(QueryPage {
                total,
                resources: page,
                groups,
            })
        }
    }

    /// Which of `ids` name a User or a Group of the team. Ids that name nothing are left
    /// out of the answer; the service refuses them when a Group is created (400
    /// `invalidValue`) and leaves them out of a PUT or PATCH of an existing Group.
    fn resolve_members(
        &self,
        team: TeamId,
        ids: &[String],
    ) -> impl Future<Output = Result<Vec<ResolvedMember>, ScimStoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_resource_carries_id_and_meta() {
        let meta = StoredMeta {
            id: "42".into(),
            created: DateTime::<Utc>::UNIX_EPOCH,
            last_modified: DateTime::<Utc>::UNIX_EPOCH,
            version: "7".into(),
        };
        let stored = StoredResource::new(ResourceType::User, meta, json!({"userName": "a"}));
        assert_eq!(stored.resource["id"], "42");
        assert_eq!(stored.resource["meta"]["version"], "W/\"7\"");
        assert_eq!(stored.resource["meta"]["created"], "1970-01-01T00:00:00Z");
        assert_eq!(stored.attributes(), json!({"userName": "a"}));
        assert_eq!(
            ResourceType::from_endpoint("users"),
            Some(ResourceType::User)
        );
        assert_eq!(ResourceType::from_name("GROUP"), Some(ResourceType::Group));
    }
}
