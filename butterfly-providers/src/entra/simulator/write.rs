//! Writes, as a restore and tenant-mutating tests make them.
//!
//! - Objects: `POST {list path}` creates (`201` with the object), `PATCH {list path}/{id}`
//!   updates the properties sent (`204`), `DELETE {list path}/{id}` removes (`204`), for
//!   users, groups, applications, service principals, named locations and Conditional
//!   Access policies (deleting an application deletes its service principal, as in
//!   Entra). Server-set properties (`id`, `createdDateTime`, `deletedDateTime`,
//!   `appId` of an application) are ignored if sent; `passwordProfile` is used, never
//!   stored (a password equal to a restore's unfilled placeholder `${GENERATED_PASSWORD}`
//!   is refused with `400`); `secretText` is never stored.
//! - Members and owners: `POST /groups/{id}/members/$ref` (and `owners`, and
//!   `/applications/{id}/owners/$ref`) with `{"@odata.id": ".../directoryObjects/{id}"}`,
//!   `DELETE /groups/{id}/members/{memberId}/$ref`: `204`. A new group may also name
//!   `members@odata.bind` and `owners@odata.bind` arrays.
//! - App role assignments: `POST /servicePrincipals/{id}/appRoleAssignedTo` with
//!   `{principalId, resourceId, appRoleId}`: `201`; `DELETE
//!   /servicePrincipals/{id}/appRoleAssignedTo/{assignmentId}`: `204`.
//!
//! Each write needs the kind's write permission (or a higher one) and spends one resource
//! unit and one write of the 150 s quota. Errors are Graph's: `400 Request_BadRequest`
//! (`Invalid value specified for property 'X' of resource 'Y'.`), `409
//! Request_MultipleObjectsWithSameKeyValue` for a duplicate `userPrincipalName` or a
//! second service principal for one `appId`, `404 Request_ResourceNotFound`, `403
//! Authorization_RequestDenied`, and `405` for anything else.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::api::{Reply, Route, bad_request, denied, graph_error, may_write, not_found, resolve};
use super::generate::ts;
use super::oauth::AccessClaims;
use super::tenant::Tenant;
use super::{State, generate};
use crate::entra::kinds::{self, EntraKind};

/// Kinds whose objects the simulator creates, updates and deletes.
pub const WRITABLE_KINDS: &[&str] = &[
    "user",
    "group",
    "application",
    "service_principal",
    "named_location",
    "conditional_access_policy",
];

/// Properties the server sets; ignored when a client sends them.
const SERVER_SET: &[&str] = &[
    "id",
    "createdDateTime",
    "deletedDateTime",
    "modifiedDateTime",
    "@odata.context",
];

fn not_allowed(state: &State) -> Reply {
    graph_error(
        state,
        StatusCode::METHOD_NOT_ALLOWED,
        "Request_BadRequest",
        "The specified HTTP method is not allowed for the resource.",
    )
}

fn invalid(state: &State, property: &str, resource: &str) -> Reply {
    bad_request(
        state,
        &format!("Invalid value specified for property '{property}' of resource '{resource}'."),
    )
}

fn conflict(state: &State, message: &str, target: &str) -> Reply {
    let mut reply = graph_error(
        state,
        StatusCode::CONFLICT,
        "Request_MultipleObjectsWithSameKeyValue",
        message,
    );
    if let Ok(mut body) = serde_json::from_slice::<Value>(&reply.body) {
        body["error"]["details"] =
            json!([{"code": "ObjectConflict", "message": message, "target": target}]);
        reply.body = body.to_string().into();
    }
    reply
}

fn resource_name(kind: &EntraKind) -> String {
    let name = kind.entity_type.trim_start_matches("microsoft.graph.");
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

/// The permission a write to a relation kind needs.
fn relation_allowed(kind: &EntraKind, roles: &BTreeSet<String>) -> bool {
    match kind.name {
        "group_member" | "group_owner" => may_write(kind, roles),
        "application_owner" => kinds::by_name("application").is_some_and(|k| may_write(k, roles)),
        _ => false,
    }
}

pub(crate) fn handle(
    state: &State,
    claims: &AccessClaims,
    roles: &BTreeSet<String>,
    method: &Method,
    rel: &str,
    query: &BTreeMap<String, String>,
    body: &[u8],
) -> Reply {
    let _ = (claims, query);
    let Some(route) = resolve(rel) else {
        let segment = rel.rsplit('/').next().unwrap_or_default();
        return bad_request(
            state,
            &format!("Resource not found for the segment '{segment}'."),
        );
    };
    let parse = || -> Result<Map<String, Value>, Reply> {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(bad_request(
                state,
                "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
            )),
        }
    };
    match (method.as_str(), route) {
        ("POST", Route::Kind(kind, None)) if WRITABLE_KINDS.contains(&kind.name) => {
            if !may_write(kind, roles) {
                return denied(state);
            }
            match parse() {
                Ok(map) => create(state, kind, map, rel),
                Err(reply) => reply,
            }
        }
        ("PATCH", Route::Object(kind, None, id)) if WRITABLE_KINDS.contains(&kind.name) => {
            if !may_write(kind, roles) {
                return denied(state);
            }
            match parse() {
                Ok(map) => update(state, kind, &id, map),
                Err(reply) => reply,
            }
        }
        ("DELETE", Route::Object(kind, None, id)) if WRITABLE_KINDS.contains(&kind.name) => {
            if !may_write(kind, roles) {
                return denied(state);
            }
            let mut tenant = state.tenant_mut();
            let Some(removed) = tenant.remove(kind.name, &id) else {
                return not_found(state, &id);
            };
            // As in Entra, an app registration takes its service principal with it.
            if kind.name == "application"
                && let Some(app_id) = removed["appId"].as_str()
            {
                let principals: Vec<String> = tenant
                    .objects_of("service_principal")
                    .filter(|(_, sp)| sp["appId"] == app_id)
                    .map(|(sp, _)| sp.clone())
                    .collect();
                for sp in principals {
                    tenant.remove("service_principal", &sp);
                }
            }
            Reply::empty(StatusCode::NO_CONTENT)
        }
        ("POST", Route::RefAdd(kind, parent)) => {
            if !relation_allowed(kind, roles) {
                return if kind.name == "administrative_unit_member" {
                    not_allowed(state)
                } else {
                    denied(state)
                };
            }
            let map = match parse() {
                Ok(map) => map,
                Err(reply) => return reply,
            };
            let Some(member) = map
                .get("@odata.id")
                .and_then(Value::as_str)
                .and_then(|u| u.trim_end_matches('/').rsplit('/').next())
                .map(str::to_owned)
            else {
                return invalid(state, "@odata.id", "DirectoryObject");
            };
            let mut tenant = state.tenant_mut();
            if !tenant.parent_exists(kind, &parent) {
                return not_found(state, &parent);
            }
            if !tenant.directory.contains_key(&member) {
                return not_found(state, &member);
            }
            if !tenant.add_member(kind.name, &parent, &member) {
                let property = rel
                    .trim_end_matches("/$ref")
                    .rsplit('/')
                    .next()
                    .unwrap_or("members");
                return bad_request(
                    state,
                    &format!(
                        "One or more added object references already exist for the following modified properties: '{property}'."
                    ),
                );
            }
            touch_parent(&mut tenant, kind, &parent);
            Reply::empty(StatusCode::NO_CONTENT)
        }
        ("DELETE", Route::Ref(kind, parent, member)) => {
            if !relation_allowed(kind, roles) {
                return denied(state);
            }
            let mut tenant = state.tenant_mut();
            if !tenant.parent_exists(kind, &parent) {
                return not_found(state, &parent);
            }
            if !tenant.remove_member(kind.name, &parent, &member) {
                return not_found(state, &member);
            }
            touch_parent(&mut tenant, kind, &parent);
            Reply::empty(StatusCode::NO_CONTENT)
        }
        ("POST", Route::Kind(kind, Some(resource))) if kind.name == "app_role_assignment" => {
            if !may_write(kind, roles) {
                return denied(state);
            }
            match parse() {
                Ok(map) => assign(state, &resource, &map),
                Err(reply) => reply,
            }
        }
        ("DELETE", Route::Object(kind, Some(resource), id))
            if kind.name == "app_role_assignment" =>
        {
            if !may_write(kind, roles) {
                return denied(state);
            }
            let mut tenant = state.tenant_mut();
            let removed = tenant
                .children
                .get_mut(kind.name)
                .and_then(|m| m.get_mut(&resource))
                .and_then(|m| m.remove(&id));
            if removed.is_none() {
                return not_found(state, &id);
            }
            Reply::empty(StatusCode::NO_CONTENT)
        }
        _ => not_allowed(state),
    }
}

/// Owner changes of a delta-tracked parent show up as a change of the parent.
fn touch_parent(tenant: &mut Tenant, kind: &EntraKind, parent: &str) {
    if kind.name == "application_owner" || kind.name == "group_owner" {
        let parent_kind = if kind.name == "application_owner" {
            "application"
        } else {
            "group"
        };
        if let Some(object) = tenant.object(parent_kind, parent).cloned() {
            tenant.put(parent_kind, parent, object);
        }
    }
}

fn strip_secrets(map: &mut Map<String, Value>) {
    map.remove("passwordProfile");
    if let Some(Value::Array(list)) = map.get_mut("passwordCredentials") {
        for credential in list {
            if let Some(c) = credential.as_object_mut() {
                c.insert("secretText".into(), Value::Null);
            }
        }
    }
}

fn missing<'a>(map: &Map<String, Value>, required: &[&'a str]) -> Option<&'a str> {
    required
        .iter()
        .find(|p| map.get(**p).is_none_or(Value::is_null))
        .copied()
}

fn upn_taken(tenant: &Tenant, upn: &str, except: Option<&str>) -> bool {
    tenant.objects_of("user").any(|(id, u)| {
        Some(id.as_str()) != except
            && u["userPrincipalName"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case(upn))
    })
}

fn verified_domain(tenant: &Tenant, upn: &str) -> bool {
    upn.rsplit_once('@').is_some_and(|(_, domain)| {
        tenant
            .object("domain", &domain.to_ascii_lowercase())
            .is_some()
            || tenant
                .objects_of("domain")
                .any(|(id, _)| id.eq_ignore_ascii_case(domain))
    })
}

fn validate(
    state: &State,
    tenant: &Tenant,
    kind: &EntraKind,
    map: &Map<String, Value>,
    existing: Option<&str>,
) -> Result<(), Reply> {
    let resource = resource_name(kind);
    match kind.name {
        "user" => {
            if existing.is_none() {
                if let Some(p) = missing(
                    map,
                    &[
                        "accountEnabled",
                        "displayName",
                        "mailNickname",
                        "userPrincipalName",
                        "passwordProfile",
                    ],
                ) {
                    return Err(invalid(state, p, &resource));
                }
                if map["passwordProfile"]["password"]
                    .as_str()
                    .is_none_or(str::is_empty)
                {
                    return Err(invalid(state, "passwordProfile", &resource));
                }
                // A restore's unfilled one-time password placeholder: refused, so a
                // test catches any write path that forgets to fill it.
                if map["passwordProfile"]["password"].as_str()
                    == Some(crate::entra::restore::PASSWORD_PLACEHOLDER)
                {
                    return Err(invalid(state, "passwordProfile", &resource));
                }
            }
            if let Some(upn) = map.get("userPrincipalName") {
                let Some(upn) = upn.as_str().filter(|u| u.contains('@')) else {
                    return Err(invalid(state, "userPrincipalName", &resource));
                };
                if !verified_domain(tenant, upn) {
                    return Err(bad_request(
                        state,
                        "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.",
                    ));
                }
                if upn_taken(tenant, upn, existing) {
                    return Err(conflict(
                        state,
                        "Another object with the same value for property userPrincipalName already exists.",
                        "userPrincipalName",
                    ));
                }
            }
        }
        "group" if existing.is_none() => {
            if let Some(p) = missing(
                map,
                &[
                    "displayName",
                    "mailEnabled",
                    "mailNickname",
                    "securityEnabled",
                ],
            ) {
                return Err(invalid(state, p, &resource));
            }
        }
        "application" | "conditional_access_policy" | "named_location" if existing.is_none() => {
            if let Some(p) = missing(map, &["displayName"]) {
                return Err(invalid(state, p, &resource));
            }
        }
        _ => {}
    }
    if kind.name == "conditional_access_policy" {
        if existing.is_none()
            && let Some(p) = missing(map, &["state", "conditions"])
        {
            return Err(invalid(state, p, &resource));
        }
        if let Some(s) = map.get("state")
            && !matches!(
                s.as_str(),
                Some("enabled" | "disabled" | "enabledForReportingButNotEnforced")
            )
        {
            return Err(invalid(state, "state", &resource));
        }
    }
    if kind.name == "named_location" && existing.is_none() {
        match map.get("@odata.type").and_then(Value::as_str) {
            Some("#microsoft.graph.ipNamedLocation") => {
                if map
                    .get("ipRanges")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty)
                {
                    return Err(invalid(state, "ipRanges", "IpNamedLocation"));
                }
            }
            Some("#microsoft.graph.countryNamedLocation") => {
                if map
                    .get("countriesAndRegions")
                    .and_then(Value::as_array)
                    .is_none()
                {
                    return Err(invalid(
                        state,
                        "countriesAndRegions",
                        "CountryNamedLocation",
                    ));
                }
            }
            _ => return Err(invalid(state, "@odata.type", &resource)),
        }
    }
    Ok(())
}

fn bound_ids(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .filter_map(|u| u.trim_end_matches('/').rsplit('/').next())
        .map(str::to_owned)
        .collect()
}

fn create(
    state: &State,
    kind: &'static EntraKind,
    mut map: Map<String, Value>,
    rel: &str,
) -> Reply {
    let now = ts(state.clock.now());
    let mut tenant = state.tenant_mut();
    if let Err(reply) = validate(state, &tenant, kind, &map, None) {
        return reply;
    }
    for key in SERVER_SET {
        map.remove(*key);
    }
    let members = bound_ids(map.remove("members@odata.bind").as_ref());
    let owners = bound_ids(map.remove("owners@odata.bind").as_ref());
    if let Some(unknown) = members
        .iter()
        .chain(&owners)
        .find(|m| !tenant.directory.contains_key(*m))
    {
        return not_found(state, unknown);
    }
    strip_secrets(&mut map);
    let id = state.lock_ids().uuid();
    let mut object = Map::new();
    object.insert("id".into(), json!(id));
    match kind.name {
        "user" => {
            object.insert("deletedDateTime".into(), Value::Null);
            object.insert("createdDateTime".into(), json!(now));
            object.insert("userType".into(), json!("Member"));
            object.insert("businessPhones".into(), json!([]));
        }
        "group" => {
            object.insert("deletedDateTime".into(), Value::Null);
            object.insert("createdDateTime".into(), json!(now));
            object.insert("groupTypes".into(), json!([]));
        }
        "application" => {
            object.insert("deletedDateTime".into(), Value::Null);
            object.insert("createdDateTime".into(), json!(now));
            object.insert("appId".into(), json!(state.lock_ids().uuid()));
            object.insert("signInAudience".into(), json!("AzureADMyOrg"));
            object.insert("passwordCredentials".into(), json!([]));
            object.insert("keyCredentials".into(), json!([]));
            object.insert("appRoles".into(), json!([]));
            object.insert("publisherDomain".into(), json!(tenant.domain));
            map.remove("appId");
        }
        "service_principal" => {
            let Some(app_id) = map.get("appId").and_then(Value::as_str).map(str::to_owned) else {
                return invalid(state, "appId", "ServicePrincipal");
            };
            let Some(app) = tenant
                .objects_of("application")
                .map(|(_, a)| a)
                .find(|a| a["appId"] == app_id.as_str())
                .cloned()
            else {
                return bad_request(
                    state,
                    &format!(
                        "The appId '{app_id}' of the service principal does not reference a valid application object."
                    ),
                );
            };
            if tenant
                .objects_of("service_principal")
                .any(|(_, s)| s["appId"] == app_id.as_str())
            {
                return conflict(
                    state,
                    &format!(
                        "The service principal cannot be created, updated, or restored because the service principal name {app_id} is already in use."
                    ),
                    "appId",
                );
            }
            let name = app["displayName"].as_str().unwrap_or_default();
            let base = generate::service_principal(
                &id,
                &app_id,
                name,
                &tenant.tenant_id,
                &now,
                &app["appRoles"],
                &json!([]),
                &json!([]),
            );
            if let Some(b) = base.as_object() {
                object.extend(b.clone());
            }
        }
        "named_location" | "conditional_access_policy" => {
            object.insert("createdDateTime".into(), json!(now));
            object.insert("modifiedDateTime".into(), Value::Null);
        }
        _ => {}
    }
    object.extend(map);
    let object = Value::Object(object);
    tenant.put(kind.name, &id, object.clone());
    match kind.name {
        "group" => {
            tenant
                .relations
                .entry("group_member")
                .or_default()
                .entry(id.clone())
                .or_default();
            tenant
                .relations
                .entry("group_owner")
                .or_default()
                .entry(id.clone())
                .or_default();
            for m in &members {
                tenant.add_member("group_member", &id, m);
            }
            for o in &owners {
                tenant.add_member("group_owner", &id, o);
            }
        }
        "application" => {
            tenant
                .relations
                .entry("application_owner")
                .or_default()
                .entry(id.clone())
                .or_default();
            for o in &owners {
                tenant.add_member("application_owner", &id, o);
            }
        }
        "service_principal" => {
            tenant
                .children
                .entry("app_role_assignment")
                .or_default()
                .entry(id.clone())
                .or_default();
        }
        _ => {}
    }
    let mut answer = object;
    answer["@odata.context"] = json!(format!(
        "{}/v1.0/$metadata#{}/$entity",
        state.graph_url,
        rel.trim_start_matches('/')
    ));
    Reply::json(StatusCode::CREATED, &answer)
}

fn update(state: &State, kind: &'static EntraKind, id: &str, mut map: Map<String, Value>) -> Reply {
    let now = ts(state.clock.now());
    let mut tenant = state.tenant_mut();
    let Some(mut object) = tenant.object(kind.name, id).cloned() else {
        return not_found(state, id);
    };
    if let Err(reply) = validate(state, &tenant, kind, &map, Some(id)) {
        return reply;
    }
    for key in SERVER_SET {
        map.remove(*key);
    }
    if kind.name == "application" || kind.name == "service_principal" {
        map.remove("appId");
    }
    if kind.name == "named_location" {
        // The type of a location cannot change.
        map.remove("@odata.type");
    }
    strip_secrets(&mut map);
    if let Some(target) = object.as_object_mut() {
        target.extend(map);
        if matches!(kind.name, "named_location" | "conditional_access_policy") {
            target.insert("modifiedDateTime".into(), json!(now));
        }
    }
    tenant.put(kind.name, id, object);
    Reply::empty(StatusCode::NO_CONTENT)
}

fn assign(state: &State, resource: &str, map: &Map<String, Value>) -> Reply {
    let now = ts(state.clock.now());
    let mut tenant = state.tenant_mut();
    let Some(resource_sp) = tenant.object("service_principal", resource).cloned() else {
        return not_found(state, resource);
    };
    let Some(principal) = map
        .get("principalId")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return invalid(state, "principalId", "AppRoleAssignment");
    };
    if map.get("resourceId").and_then(Value::as_str) != Some(resource) {
        return invalid(state, "resourceId", "AppRoleAssignment");
    }
    let Some(role) = map
        .get("appRoleId")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return invalid(state, "appRoleId", "AppRoleAssignment");
    };
    let default_role = "00000000-0000-0000-0000-000000000000";
    let role_exists = role == default_role
        || resource_sp["appRoles"]
            .as_array()
            .is_some_and(|roles| roles.iter().any(|r| r["id"] == role.as_str()));
    if !role_exists {
        return bad_request(
            state,
            "Permission being assigned was not found on application",
        );
    }
    let Some(principal_kind) = tenant.directory.get(&principal).copied() else {
        return not_found(state, &principal);
    };
    let principal_type = match principal_kind {
        "user" => "User",
        "group" => "Group",
        "service_principal" => "ServicePrincipal",
        _ => return invalid(state, "principalId", "AppRoleAssignment"),
    };
    let duplicate = tenant
        .children
        .get("app_role_assignment")
        .and_then(|m| m.get(resource))
        .is_some_and(|m| {
            m.values()
                .any(|a| a["principalId"] == principal.as_str() && a["appRoleId"] == role.as_str())
        });
    if duplicate {
        return bad_request(
            state,
            "Permission being assigned already exists on the object",
        );
    }
    let name = resource_sp["displayName"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let assignment = {
        let mut ids = state.lock_ids();
        generate::app_role_assignment(
            &mut ids,
            &tenant,
            &principal,
            principal_type,
            resource,
            &name,
            &role,
            &now,
        )
    };
    generate::insert_assignment(&mut tenant, resource, assignment.clone());
    let mut answer = assignment;
    answer["@odata.context"] = json!(format!(
        "{}/v1.0/$metadata#servicePrincipals('{resource}')/appRoleAssignedTo/$entity",
        state.graph_url
    ));
    Reply::json(StatusCode::CREATED, &answer)
}
