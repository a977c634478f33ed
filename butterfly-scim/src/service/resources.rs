//! `/Users/{id}` and `/Groups/{id}`: create (RFC 7644 section 3.3), read (3.4.1),
//! replace (3.5.1), modify (3.5.2) and delete (3.6), with versioning (3.14).
//!
//! - POST answers 201 with the resource, `Location` and `ETag`.
//! - GET answers 200 with `ETag`, or 304 when `If-None-Match` names the current version.
//! - PUT replaces every writable attribute: `readOnly` ones in the body are ignored,
//!   attributes left out are cleared (`active` returns to its default, true), and an
//!   `immutable` attribute that already has a value may not change (400 `mutability`).
//! - PATCH answers 200 with the resource by default. With `Prefer: return=minimal` (RFC
//!   7240) and no `attributes`/`excludedAttributes`, it answers 204 with just the `ETag`:
//!   RFC 7644 section 3.5.2 lets the provider pick, and clients that do not ask get the
//!   body they need to confirm the change.
//! - PUT and PATCH read the resource, compute the new one and write it back with
//!   compare-and-swap on the version read, retrying a few times when another writer got
//!   in between, so concurrent PATCHes never lose each other's changes. With `If-Match`
//!   a lost race is the client's 412 instead. A write that changes nothing is not stored,
//!   so the version (and the ETag) stay as they were.
//! - DELETE answers 204. `If-Match` is checked against the version read just before.
//! - Group `members` must name Users or Groups of the same team (400 `invalidValue`
//!   otherwise); the service fills each member's `type`, a missing `display`, and on
//!   output `$ref`. A User's `groups` is computed from the Groups that list it.

use http::StatusCode;
use serde_json::{Map, Value, json};

use butterfly_core::TeamId;

use super::{Projection, Reply, ScimService, etag_matches, store_error};
use crate::normalize::{invalid_value, normalize_resource};
use crate::patch::PatchRequest;
use crate::schema::{Mutability, ResourceSchema};
use crate::store::{ResourceType, ScimStore, ScimStoreError, StoredResource};
use crate::{ScimError, ScimType};

fn precondition_failed() -> ScimError {
    ScimError::new(
        412,
        "the resource has changed: its version no longer matches If-Match",
    )
}

fn describe(resource_type: ResourceType, id: &str) -> String {
    format!("{} `{id}`", resource_type.as_str())
}

/// Defaults of RFC 7643 section 4.1.1: a User is active unless told otherwise.
fn apply_defaults(resource_type: ResourceType, attributes: &mut Map<String, Value>) {
    if resource_type == ResourceType::User && !attributes.contains_key("active") {
        attributes.insert("active".into(), Value::Bool(true));
    }
}

/// The attributes a POST of `body` hands the store: checked against the schema,
/// normalised to canonical names, defaults applied (a Group's `members` are then
/// resolved against the store, which needs it).
pub(crate) fn new_attributes(
    resource_type: ResourceType,
    body: &Value,
) -> Result<Map<String, Value>, ScimError> {
    let mut attributes = normalize_resource(ResourceSchema::of(resource_type), body, true)?;
    apply_defaults(resource_type, &mut attributes);
    Ok(attributes)
}

/// Refuse a change to an `immutable` attribute that already has a value (RFC 7643
/// section 7). Looks at top-level attributes and sub-attributes of single-valued complex
/// ones; the immutable sub-attributes of `members` identify a member, so a changed one
/// is a different member, not a modified one.
fn check_immutable(
    rs: &ResourceSchema,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Result<(), ScimError> {
    let schemas =
        std::iter::once((None, rs.core)).chain(rs.extensions.iter().map(|s| (Some(s.id), *s)));
    for (urn, schema) in schemas {
        let (old_c, new_c) = match urn {
            None => (Some(old), Some(new)),
            Some(urn) => (
                old.get(urn).and_then(Value::as_object),
                new.get(urn).and_then(Value::as_object),
            ),
        };
        let (Some(old_c), Some(new_c)) = (old_c, new_c) else {
            continue;
        };
        for attribute in schema.attributes {
            if attribute.multi_valued {
                continue;
            }
            let (Some(before), Some(after)) =
                (old_c.get(attribute.name), new_c.get(attribute.name))
            else {
                continue;
            };
            if attribute.mutability == Mutability::Immutable && before != after {
                return Err(
                    ScimError::new(400, format!("`{}` is immutable", attribute.name))
                        .with_type(ScimType::Mutability),
                );
            }
            for sub in attribute.sub_attributes {
                if sub.mutability == Mutability::Immutable
                    && let (Some(b), Some(a)) = (before.get(sub.name), after.get(sub.name))
                    && b != a
                {
                    return Err(ScimError::new(
                        400,
                        format!("`{}.{}` is immutable", attribute.name, sub.name),
                    )
                    .with_type(ScimType::Mutability));
                }
            }
        }
    }
    Ok(())
}

/// The representation a client sees, given a User's Groups (id, display name) as the
/// store found them (ignored for a Group, and when the projection leaves `groups` out).
pub(crate) fn render_with_groups(
    base: &str,
    resource_type: ResourceType,
    stored: StoredResource,
    projection: &Projection,
    groups: Vec<(String, String)>,
) -> Value {
    let rs = ResourceSchema::of(resource_type);
    let id = stored.meta.id.clone();
    let mut resource = stored.resource;
    let location = format!("{base}/{}/{id}", resource_type.endpoint());
    if let Some(meta) = resource.get_mut("meta").and_then(Value::as_object_mut) {
        meta.insert("location".into(), Value::String(location));
    }
    match resource_type {
        ResourceType::User => {
            if projection.wants(rs, "groups")
                && !groups.is_empty()
                && let Some(object) = resource.as_object_mut()
            {
                let list = groups
                    .into_iter()
                    .map(|(group_id, name)| {
                        json!({
                            "value": group_id,
                            "$ref": format!("{base}/Groups/{group_id}"),
                            "display": name,
                            "type": "direct",
                        })
                    })
                    .collect();
                object.insert("groups".into(), Value::Array(list));
            }
        }
        ResourceType::Group => {
            if let Some(members) = resource.get_mut("members").and_then(Value::as_array_mut) {
                for member in members.iter_mut().filter_map(Value::as_object_mut) {
                    let endpoint = match member.get("type").and_then(Value::as_str) {
                        Some("Group") => "Groups",
                        _ => "Users",
                    };
                    if let Some(value) = member.get("value").and_then(Value::as_str) {
                        let reference = format!("{base}/{endpoint}/{value}");
                        member.insert("$ref".into(), Value::String(reference));
                    }
                }
            }
        }
    }
    projection.apply(rs, &mut resource);
    resource
}

impl<S: ScimStore> ScimService<S> {
    /// Check and complete a Group's `members`: each names a User or Group of the team
    /// (only members not already in `old` are looked up), gets its `type` and, if the
    /// client gave none, a `display`. Every id is resolved before anything is written,
    /// so a replace never empties a group on its way to the new list.
    ///
    /// A member that names nothing is refused with 400 on creation. On a PUT or PATCH of
    /// an existing group (`group_id` given) it is left out and logged, and the rest of the
    /// change is made: identity providers push a group's membership in one request and
    /// do not retry a 400 (Okta loses the whole push for one stale or not yet provisioned
    /// user), while the answer's `members` shows the client what was kept.
    async fn prepare_members(
        &self,
        team: TeamId,
        group_id: Option<&str>,
        old: Option<&Value>,
        attributes: &mut Map<String, Value>,
    ) -> Result<(), ScimError> {
        let Some(Value::Array(members)) = attributes.get_mut("members") else {
            return Ok(());
        };
        let old_members: Vec<&Map<String, Value>> = old
            .and_then(|o| o.get("members"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        let mut unique = Vec::with_capacity(members.len());
        for member in members.drain(..) {
            let Some(id) = member
                .get("value")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                return Err(invalid_value(
                    "each member needs a `value`: the id of a User or Group",
                ));
            };
            if group_id == Some(id.as_str()) {
                return Err(invalid_value("a group cannot be a member of itself"));
            }
            if seen.insert(id) {
                unique.push(member);
            }
        }
        let mut unknown: Vec<String> = Vec::new();
        for member in &mut unique {
            let Some(object) = member.as_object_mut() else {
                continue;
            };
            let id = object
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            match old_members
                .iter()
                .find(|m| m.get("value").and_then(Value::as_str) == Some(id.as_str()))
            {
                Some(previous) if previous.get("type").is_some() => {
                    // The type is the service's finding, not the client's claim.
                    if let Some(t) = previous.get("type") {
                        object.insert("type".into(), t.clone());
                    }
                    if !object.contains_key("display")
                        && let Some(d) = previous.get("display")
                    {
                        object.insert("display".into(), d.clone());
                    }
                }
                _ => unknown.push(id),
            }
        }
        if !unknown.is_empty() {
            let resolved = self
                .store
                .resolve_members(team, &unknown)
                .await
                .map_err(|e| store_error(e, "member"))?;
            let mut kept = Vec::with_capacity(unique.len());
            for mut member in unique {
                let Some(object) = member.as_object_mut() else {
                    continue;
                };
                let Some(id) = object.get("value").and_then(Value::as_str) else {
                    continue;
                };
                if !unknown.iter().any(|u| u == id) {
                    kept.push(member);
                    continue;
                }
                let Some(found) = resolved.iter().find(|r| r.id == id) else {
                    let Some(group_id) = group_id else {
                        return Err(invalid_value(format!(
                            "member `{id}` is not a User or Group of this team"
                        )));
                    };
                    tracing::warn!(
                        %team,
                        group = group_id,
                        member = id,
                        "SCIM group write names a member that is not a User or Group of the team; left out"
                    );
                    continue;
                };
                object.insert(
                    "type".into(),
                    Value::String(found.resource_type.as_str().into()),
                );
                if !object.contains_key("display")
                    && let Some(display) = &found.display
                {
                    object.insert("display".into(), Value::String(display.clone()));
                }
                kept.push(member);
            }
            unique = kept;
        }
        if unique.is_empty() {
            attributes.remove("members");
        } else {
            attributes.insert("members".into(), Value::Array(unique));
        }
        Ok(())
    }

    /// POST `/Users`, `/Groups` (RFC 7644 section 3.3).
    pub(crate) async fn create(
        &self,
        team: TeamId,
        base: &str,
        resource_type: ResourceType,
        body: &Value,
        projection: &Projection,
    ) -> Result<Reply, ScimError> {
        let mut attributes = new_attributes(resource_type, body)?;
        if resource_type == ResourceType::Group {
            self.prepare_members(team, None, None, &mut attributes)
                .await?;
        }
        let stored = self
            .store
            .create(team, resource_type, Value::Object(attributes))
            .await
            .map_err(|e| store_error(e, resource_type.as_str()))?;
        let etag = stored.meta.etag();
        let location = format!("{base}/{}/{}", resource_type.endpoint(), stored.meta.id);
        // A resource created just now is in no Group: its id is fresh, and a Group can
        // only name members that exist. So no need to ask the store for its Groups.
        let body = render_with_groups(base, resource_type, stored, projection, Vec::new());
        Ok(Reply::json(StatusCode::CREATED, body)
            .with_etag(etag)
            .with_location(location))
    }

    /// GET `/Users/{id}`, `/Groups/{id}` (RFC 7644 section 3.4.1).
    pub(crate) async fn read(
        &self,
        team: TeamId,
        base: &str,
        resource_type: ResourceType,
        id: &str,
        if_none_match: Option<&str>,
        projection: &Projection,
    ) -> Result<Reply, ScimError> {
        // The resource and a User's Groups in one store call (one query on a database).
        let wants_groups = projection.wants(ResourceSchema::of(resource_type), "groups");
        let (stored, groups) = self
            .store
            .get_with_groups(team, resource_type, id, wants_groups)
            .await
            .map_err(|e| store_error(e, &describe(resource_type, id)))?;
        let etag = stored.meta.etag();
        if if_none_match.is_some_and(|h| etag_matches(h, &etag)) {
            return Ok(Reply::empty(StatusCode::NOT_MODIFIED).with_etag(etag));
        }
        let body = render_with_groups(base, resource_type, stored, projection, groups);
        Ok(Reply::json(StatusCode::OK, body).with_etag(etag))
    }

    /// PUT `/Users/{id}`, `/Groups/{id}` (RFC 7644 section 3.5.1).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn replace(
        &self,
        team: TeamId,
        base: &str,
        resource_type: ResourceType,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        projection: &Projection,
    ) -> Result<Reply, ScimError> {
        let rs = ResourceSchema::of(resource_type);
        let mut attributes = normalize_resource(rs, body, true)?;
        apply_defaults(resource_type, &mut attributes);
        self.write(
            team,
            base,
            resource_type,
            id,
            if_match,
            projection,
            false,
            |current| {
                let old = current.attributes();
                if let Some(old) = old.as_object() {
                    check_immutable(rs, old, &attributes)?;
                }
                Ok(attributes.clone())
            },
        )
        .await
    }

    /// PATCH `/Users/{id}`, `/Groups/{id}` (RFC 7644 section 3.5.2).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn patch(
        &self,
        team: TeamId,
        base: &str,
        resource_type: ResourceType,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        projection: &Projection,
        minimal: bool,
    ) -> Result<Reply, ScimError> {
        let request = PatchRequest::parse(body)?;
        self.write(
            team,
            base,
            resource_type,
            id,
            if_match,
            projection,
            minimal,
            |current| match request.apply(resource_type, &current.resource)? {
                Value::Object(attributes) => Ok(attributes),
                _ => Err(invalid_value("the patched resource is not an object")),
            },
        )
        .await
    }

    /// Read, compute, compare-and-swap; shared by PUT and PATCH.
    #[allow(clippy::too_many_arguments)]
    async fn write<F>(
        &self,
        team: TeamId,
        base: &str,
        resource_type: ResourceType,
        id: &str,
        if_match: Option<&str>,
        projection: &Projection,
        minimal: bool,
        compute: F,
    ) -> Result<Reply, ScimError>
    where
        F: Fn(&StoredResource) -> Result<Map<String, Value>, ScimError> + Send + Sync,
    {
        let what = describe(resource_type, id);
        for _ in 0..self.config.write_attempts.max(1) {
            // A User is read with its Groups, once: the store may need them to see what
            // the write changes (a role from a Group), and the answer shows them. A User
            // write cannot change its Groups (`groups` is read-only), so the ones read
            // here are the answer's, as of this read.
            let (current, groups) = self
                .store
                .get_with_groups(team, resource_type, id, true)
                .await
                .map_err(|e| store_error(e, &what))?;
            if if_match.is_some_and(|h| !etag_matches(h, &current.meta.etag())) {
                return Err(precondition_failed());
            }
            let mut attributes = compute(&current)?;
            if resource_type == ResourceType::Group {
                self.prepare_members(team, Some(id), Some(&current.resource), &mut attributes)
                    .await?;
            }
            let stored = if Value::Object(attributes.clone()) == current.attributes() {
                current
            } else {
                match self
                    .store
                    .replace_current_in_groups(
                        team,
                        resource_type,
                        &current,
                        &groups,
                        Value::Object(attributes),
                    )
                    .await
                {
                    Ok(stored) => stored,
                    Err(ScimStoreError::VersionMismatch) if if_match.is_some() => {
                        return Err(precondition_failed());
                    }
                    Err(ScimStoreError::VersionMismatch) => continue,
                    Err(e) => return Err(store_error(e, &what)),
                }
            };
            let etag = stored.meta.etag();
            if minimal {
                return Ok(Reply::empty(StatusCode::NO_CONTENT).with_etag(etag));
            }
            let body = render_with_groups(base, resource_type, stored, projection, groups);
            return Ok(Reply::json(StatusCode::OK, body).with_etag(etag));
        }
        tracing::warn!(resource = %what, "SCIM write lost every compare-and-swap race");
        Err(ScimError::new(
            503,
            "the resource is being modified concurrently; retry the request",
        ))
    }

    /// DELETE `/Users/{id}`, `/Groups/{id}` (RFC 7644 section 3.6).
    pub(crate) async fn remove(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<Reply, ScimError> {
        let what = describe(resource_type, id);
        if let Some(header) = if_match {
            let current = self
                .store
                .get(team, resource_type, id)
                .await
                .map_err(|e| store_error(e, &what))?;
            if !etag_matches(header, &current.meta.etag()) {
                return Err(precondition_failed());
            }
        }
        self.store
            .delete(team, resource_type, id)
            .await
            .map_err(|e| store_error(e, &what))?;
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemas;

    #[test]
    fn immutable_values_cannot_change() {
        let rs = ResourceSchema::of(ResourceType::User);
        let old = json!({"userName": "a", schemas::ENTERPRISE_USER: {"manager": {"value": "1"}}});
        let new = json!({"userName": "b", schemas::ENTERPRISE_USER: {"manager": {"value": "2"}}});
        // Nothing in these schemas is immutable outside `members`, so both changes pass.
        assert!(check_immutable(rs, old.as_object().unwrap(), new.as_object().unwrap()).is_ok());
    }
}
