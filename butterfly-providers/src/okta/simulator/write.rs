//! Writes: create, replace, lifecycle and delete, as Okta answers them.
//!
//! The kinds, paths and answers follow the writes contract shared with the restore client
//! (see the module docs of [`simulator`](super)). Every write takes the org's write lock
//! once, so a write is atomic for readers; reads keep their shared lock and stay cheap.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::org::{Item, Org, login_of};
use super::{State, syslog};
use crate::okta::kinds::{self, KindSpec, ListShape};

/// What a write comes to, for the pipeline to turn into a response.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Done: the status and the body, if any.
    Done(StatusCode, Option<String>),
    /// An Okta error body.
    Error {
        status: StatusCode,
        code: &'static str,
        summary: String,
        causes: Vec<String>,
    },
    /// The token lacks the kind's manage scope.
    MissingScope(&'static str),
    /// No such object (or parent): `404 E0000007`.
    NotFound,
    /// A path Okta serves but the simulator does not write: `405 E0000022`.
    NotAllowed,
}

/// Kinds the simulator writes, besides `policy.*` and `policy_rule.*`.
const WRITABLE: [&str; 17] = [
    "user",
    "group",
    "group_rule",
    "group_membership",
    "app",
    "app_user_assignment",
    "app_group_assignment",
    "network_zone",
    "trusted_origin",
    "event_hook",
    "inline_hook",
    "authorization_server",
    "auth_server_scope",
    "auth_server_claim",
    "auth_server_policy",
    "auth_server_policy_rule",
    "user_type",
];

fn writable(kind: &KindSpec) -> bool {
    WRITABLE.contains(&kind.name)
        || kind.name.starts_with("policy.")
        || kind.name.starts_with("policy_rule.")
}

/// Okta's id prefix for objects of `kind`.
fn prefix(kind: &KindSpec) -> &'static str {
    match kind.name {
        "user" => "00u",
        "group" => "00g",
        "group_rule" | "auth_server_policy_rule" => "0pr",
        "app" => "0oa",
        "network_zone" => "nzo",
        "authorization_server" => "aus",
        "auth_server_scope" => "scp",
        "auth_server_claim" => "ocl",
        "auth_server_policy" => "00p",
        "event_hook" => "who",
        "inline_hook" => "cal",
        "trusted_origin" => "tos",
        "user_type" => "oty",
        n if n.starts_with("policy_rule.") => "0pr",
        n if n.starts_with("policy.") => "00p",
        _ => "",
    }
}

/// Fields each kind must carry (JSON pointers); blank (missing, null, `""`, `[]`) fails.
fn required(kind: &KindSpec) -> &'static [&'static str] {
    match kind.name {
        "user" => &[
            "/profile/login",
            "/profile/email",
            "/profile/firstName",
            "/profile/lastName",
        ],
        "group" => &["/profile/name"],
        "group_rule" | "auth_server_scope" | "auth_server_policy" | "auth_server_policy_rule" => {
            &["/name"]
        }
        "app" => &["/label", "/signOnMode", "/name"],
        "network_zone" => &["/name", "/type"],
        "authorization_server" => &["/name", "/audiences"],
        "auth_server_claim" => &["/name", "/claimType", "/valueType", "/value"],
        "event_hook" => &["/name", "/events", "/channel"],
        // Inline hooks have no events: their `type` says when Okta calls them.
        "inline_hook" => &["/name", "/type", "/channel"],
        "trusted_origin" => &["/name", "/origin"],
        "user_type" => &["/name", "/displayName"],
        n if n.starts_with("policy_rule.") => &["/name"],
        n if n.starts_with("policy.") => &["/name", "/type"],
        _ => &[],
    }
}

/// The status a new object starts in, when the kind has one.
fn initial_status(kind: &KindSpec, query: &BTreeMap<String, String>) -> Option<&'static str> {
    match kind.name {
        "group_rule" => Some("INACTIVE"),
        n if n.starts_with("policy.") => Some(
            if query.get("activate").map(String::as_str) == Some("false") {
                "INACTIVE"
            } else {
                "ACTIVE"
            },
        ),
        n if has_lifecycle(kind) || n == "auth_server_claim" => Some("ACTIVE"),
        _ => None,
    }
}

fn has_lifecycle(kind: &KindSpec) -> bool {
    matches!(
        kind.name,
        "app"
            | "group_rule"
            | "network_zone"
            | "trusted_origin"
            | "event_hook"
            | "inline_hook"
            | "authorization_server"
            | "auth_server_policy"
            | "auth_server_policy_rule"
    ) || kind.name.starts_with("policy.")
        || kind.name.starts_with("policy_rule.")
}

/// Kinds Okta answers `201 Created` for (the authorization server family), else `200`.
fn created_status(kind: &KindSpec) -> StatusCode {
    if kind.name.starts_with("auth") {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

/// Kinds whose lifecycle operations answer `204` (the rest answer `200`).
fn lifecycle_no_content(kind: &KindSpec) -> bool {
    kind.name == "group_rule" || kind.name.starts_with("policy") || kind.name.starts_with("auth")
}

/// Kinds Okta will not delete while `ACTIVE`.
fn refuses_active_delete(kind: &KindSpec) -> bool {
    matches!(
        kind.name,
        "app" | "group_rule" | "network_zone" | "event_hook" | "inline_hook"
    )
}

/// Fields the server owns: ignored on create, kept from the stored object on replace.
const SERVER_FIELDS: [&str; 6] = [
    "id",
    "created",
    "lastUpdated",
    "status",
    "_links",
    "_embedded",
];

/// Fields a kind's server sets besides [`SERVER_FIELDS`], kept on replace when not sent.
fn managed_fields(kind: &KindSpec) -> &'static [&'static str] {
    match kind.name {
        "group" => &["type", "objectClass", "lastMembershipUpdated"],
        "user" => &[
            "activated",
            "statusChanged",
            "lastLogin",
            "passwordChanged",
            "type",
            "credentials",
        ],
        "user_type" => &["createdBy", "lastUpdatedBy", "default"],
        "authorization_server" => &["issuer", "issuerMode", "credentials"],
        "event_hook" => &["verificationStatus", "createdBy"],
        n if n.starts_with("policy.") => &["system", "type"],
        _ => &[],
    }
}

fn okta_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn blank(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(_) => false,
    }
}

fn validation(field: &str, cause: &str) -> Outcome {
    Outcome::Error {
        status: StatusCode::BAD_REQUEST,
        code: "E0000001",
        summary: format!("Api validation failed: {field}"),
        causes: vec![format!("{field}: {cause}")],
    }
}

fn validate(kind: &KindSpec, body: &Value) -> Result<(), Outcome> {
    for pointer in required(kind) {
        if blank(body.pointer(pointer)) {
            let field = pointer.rsplit('/').next().unwrap_or(pointer);
            return Err(validation(field, "The field cannot be left blank"));
        }
    }
    Ok(())
}

fn parse_body(body: &[u8]) -> Result<Map<String, Value>, Outcome> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Outcome::Error {
            status: StatusCode::BAD_REQUEST,
            code: "E0000003",
            summary: "The request body was not well-formed.".to_owned(),
            causes: Vec::new(),
        }),
    }
}

fn done(status: StatusCode, body: Option<&Value>) -> Outcome {
    Outcome::Done(status, body.map(Value::to_string))
}

fn no_content() -> Outcome {
    Outcome::Done(StatusCode::NO_CONTENT, None)
}

/// What a request addresses.
enum Op {
    Create,
    Replace,
    Partial,
    Delete,
    Lifecycle(String),
}

/// Answer one write. `scopes` are the token's; `body` the raw request body.
pub(crate) fn handle(
    state: &State,
    scopes: &BTreeSet<String>,
    method: &Method,
    path: &str,
    query: &BTreeMap<String, String>,
    body: &[u8],
) -> Outcome {
    let path = path.trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').collect();
    let n = segments.len();
    let (list, id, op) = if *method == Method::POST && n >= 3 && segments[n - 2] == "lifecycle" {
        let base = segments[..n - 2].join("/");
        let Some((list, id)) = base.rsplit_once('/') else {
            return Outcome::NotFound;
        };
        (
            list.to_owned(),
            Some(id.to_owned()),
            Op::Lifecycle(segments[n - 1].to_owned()),
        )
    } else if *method == Method::POST && !state.routes.matching(path).is_empty() {
        (path.to_owned(), None, Op::Create)
    } else {
        let Some((list, id)) = path.rsplit_once('/') else {
            return Outcome::NotFound;
        };
        let op = match *method {
            Method::PUT => Op::Replace,
            Method::POST => Op::Partial,
            Method::DELETE => Op::Delete,
            _ => return Outcome::NotAllowed,
        };
        (list.to_owned(), Some(id.to_owned()), op)
    };

    let matching = state.routes.matching(&list);
    if matching.is_empty() {
        return Outcome::NotFound;
    }
    let candidates: Vec<&'static KindSpec> = matching.into_iter().filter(|k| writable(k)).collect();
    if candidates.is_empty() {
        return Outcome::NotAllowed;
    }
    let body = match parse_body(body) {
        Ok(b) => b,
        Err(e) => return e,
    };

    // Kinds sharing a path (policies, policy rules) share their manage scope too.
    if let Some(scope) = candidates[0].manage_scope
        && !scopes.contains(scope)
    {
        return Outcome::MissingScope(scope);
    }

    let mut org = state
        .org
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Kinds sharing a path are told apart by the stored object, by the body's `type`
    // (policies), or by which listing exists (a policy's rules are listed under one kind).
    let typed = |k: &KindSpec, t: &str| k.list_queries.iter().any(|q| *q == format!("type={t}"));
    let stored = id
        .as_ref()
        .and_then(|id| org.objects.get(&format!("{list}/{id}")))
        .map(|(k, _)| *k)
        .filter(|k| candidates.iter().any(|c| c.name == k.name));
    let kind = if candidates.len() == 1 {
        candidates[0]
    } else if let Some(k) = stored {
        k
    } else if matches!(op, Op::Create) && candidates.iter().any(|k| !k.list_queries.is_empty()) {
        let wanted = body.get("type").and_then(Value::as_str).unwrap_or_default();
        match candidates.iter().find(|k| typed(k, wanted)) {
            Some(k) => k,
            None if wanted.is_empty() => {
                return validation("type", "The field cannot be left blank");
            }
            None => return validation("type", "The type is not supported"),
        }
    } else {
        candidates
            .iter()
            .copied()
            .find(|k| org.listing(&list, k.name).is_some_and(|l| l.present))
            .unwrap_or(candidates[0])
    };
    // The parent must exist: its child listings are created with it.
    if !org.listing(&list, kind.name).is_some_and(|l| l.present) {
        return Outcome::NotFound;
    }

    let op_name = match &op {
        Op::Create => "create".to_owned(),
        Op::Replace | Op::Partial => "update".to_owned(),
        Op::Delete => "delete".to_owned(),
        Op::Lifecycle(action) => action.clone(),
    };
    // A first delete of a user deactivates it: the log says so.
    let deactivating = kind.name == "user"
        && op_name == "delete"
        && id.as_ref().is_some_and(|id| {
            org.objects
                .get(&format!("/api/v1/users/{id}"))
                .is_some_and(|(_, body)| !body.contains("\"status\":\"DEPROVISIONED\""))
        });
    let at = state.clock.now();
    let mut w = Writer {
        org: &mut org,
        state,
        now: okta_time(at),
        query,
        effects: Vec::new(),
    };
    let body = Value::Object(body);
    // Kept for the log's display names; writes are small.
    let sent = body.clone();
    let path_id = id.clone();
    let outcome = match (kind.name, op, id) {
        ("user", op, id) => w.user(kind, op, id, &body),
        ("group_membership", Op::Replace, Some(id)) => w.add_member(kind, &list, &id),
        ("group_membership", Op::Delete, Some(id)) => w.remove_member(kind, &list, &id),
        ("app_group_assignment", Op::Replace, Some(id)) => w.assign_group(kind, &list, &id, &body),
        ("app_user_assignment", Op::Create, None) => w.assign_user(kind, &list, None, &body),
        ("app_user_assignment", Op::Partial, Some(id)) => {
            w.assign_user(kind, &list, Some(&id), &body)
        }
        ("app_group_assignment" | "app_user_assignment", Op::Delete, Some(id)) => {
            if w.org.remove_item(kind.name, &list, &id) {
                no_content()
            } else {
                Outcome::NotFound
            }
        }
        ("group_membership" | "app_group_assignment" | "app_user_assignment", _, _) => {
            Outcome::NotAllowed
        }
        (_, Op::Create, None) => w.create(kind, &list, body),
        (_, Op::Replace, Some(id)) => w.replace(kind, &list, &id, body, false),
        // Okta updates inline hooks and user types with POST too, as a partial update.
        ("inline_hook" | "user_type", Op::Partial, Some(id)) => {
            w.replace(kind, &list, &id, body, true)
        }
        (_, Op::Delete, Some(id)) => w.delete(kind, &list, &id),
        (_, Op::Lifecycle(action), Some(id)) if has_lifecycle(kind) => {
            w.lifecycle(kind, &list, &id, &action)
        }
        (_, Op::Lifecycle(_), _) => Outcome::NotFound,
        _ => Outcome::NotAllowed,
    };
    if let Outcome::Done(status, answer) = &outcome
        && status.is_success()
    {
        let op_name = if deactivating {
            "deactivate"
        } else {
            op_name.as_str()
        };
        let own = path_id.or_else(|| {
            answer
                .as_deref()
                .and_then(|a| serde_json::from_str::<Value>(a).ok())
                .and_then(|a| a.get("id").and_then(Value::as_str).map(str::to_owned))
        });
        let effects = std::mem::take(&mut w.effects);
        let client = w.org.service_app.client_id.clone();
        let log = &mut w.org.system_log;
        let (event, targets) = write_event(kind, &list, op_name, own.as_deref(), &sent);
        log.append(at, &event, &event, &client, &targets);
        for (event, targets) in effects {
            log.append(at, &event, &event, &client, &targets);
        }
    }
    outcome
}

/// The event a write to `kind` at `list` logs, and its targets (the parent first).
fn write_event(
    kind: &KindSpec,
    list: &str,
    op: &str,
    own: Option<&str>,
    body: &Value,
) -> (String, Vec<syslog::Target>) {
    let name = |v: &Value| {
        ["/profile/login", "/profile/name", "/label", "/name"]
            .iter()
            .find_map(|p| v.pointer(p).and_then(Value::as_str))
            .unwrap_or_default()
            .to_owned()
    };
    let mut targets: Vec<syslog::Target> = Vec::new();
    if let Some(parent) = kind.parent {
        let params = Writer::params(kind, list);
        if let Some(value) = params.get(parent.param) {
            targets.push((
                syslog::target_type(parent.kind),
                value.clone(),
                String::new(),
            ));
        }
    }
    if let Some(own) = own {
        targets.push((syslog::target_type(kind.name), own.to_owned(), name(body)));
    }
    let event = match (kind.name, op) {
        ("group_membership", "update") => "group.user_membership.add".to_owned(),
        ("group_membership", _) => "group.user_membership.remove".to_owned(),
        ("app_user_assignment", "create") => "application.user_membership.add".to_owned(),
        ("app_user_assignment", "update") => "application.user_membership.update".to_owned(),
        ("app_user_assignment", _) => "application.user_membership.remove".to_owned(),
        ("app_group_assignment", "update") => "group.application_assignment.add".to_owned(),
        ("app_group_assignment", _) => "group.application_assignment.remove".to_owned(),
        (k, op) => syslog::event_type(k, op),
    };
    (event, targets)
}

/// The id in `segment` of a concrete path (`/api/v1/groups/{id}/users`: segment 4).
fn segment(path: &str, n: usize) -> String {
    path.split('/').nth(n).unwrap_or_default().to_owned()
}

struct Writer<'a> {
    org: &'a mut Org,
    state: &'a State,
    now: String,
    query: &'a BTreeMap<String, String>,
    /// Events for the write's side effects, logged after its own.
    effects: Vec<(String, Vec<syslog::Target>)>,
}

impl Writer<'_> {
    fn href(&self, path: &str) -> Value {
        json!({ "href": format!("{}{path}", self.state.org_url) })
    }

    fn stored(&self, path: &str) -> Option<Value> {
        self.org
            .objects
            .get(path)
            .and_then(|(_, body)| serde_json::from_str(body).ok())
    }

    /// The placeholder values of a concrete `list` path of `kind`.
    fn params(kind: &KindSpec, list: &str) -> BTreeMap<String, String> {
        kind.list_path
            .split('/')
            .zip(list.split('/'))
            .filter_map(|(t, v)| {
                t.strip_prefix('{')
                    .and_then(|t| t.strip_suffix('}'))
                    .map(|t| (t.to_owned(), v.to_owned()))
            })
            .collect()
    }

    /// The child listings of a new `body` of `kind` (at `list`): `(child, path)`.
    fn child_paths(kind: &KindSpec, list: &str, body: &Value) -> Vec<(&'static KindSpec, String)> {
        let params = Self::params(kind, list);
        kinds::all()
            .filter_map(|child| {
                let parent = child.parent.filter(|p| p.kind == kind.name)?;
                let mut params = params.clone();
                params.insert(parent.param.to_owned(), parent.value_from(kind, body)?);
                Some((child, child.path_for(&params)?))
            })
            .collect()
    }

    /// Create the (empty) child listings of a new object, so a backup sees them.
    fn create_children(&mut self, kind: &KindSpec, list: &str, body: &Value) {
        for (child, path) in Self::child_paths(kind, list, body) {
            match child.shape {
                ListShape::Object if child.name == "user_schema" => {
                    let schema = json!({
                        "id": format!("{}/meta/schemas/user/{}", self.state.org_url,
                            path.rsplit('/').next().unwrap_or_default()),
                        "$schema": "http://json-schema.org/draft-04/schema#",
                        "name": "user", "title": body.get("displayName").cloned().unwrap_or(Value::Null),
                        "type": "object", "created": self.now, "lastUpdated": self.now,
                        "definitions": { "base": { "id": "#base", "type": "object", "properties": {} },
                            "custom": { "id": "#custom", "type": "object", "properties": {} } },
                        "properties": { "profile": { "allOf": [{ "$ref": "#/definitions/custom" }, { "$ref": "#/definitions/base" }] } },
                        "_links": { "self": self.href(&path) } });
                    self.org.put_item(child, &path, &schema);
                }
                // Optional singletons (an app's user schema) are not set up yet.
                ListShape::Object => self.org.add_listing(child, path, false),
                _ if child.absent_ok => self.org.add_listing(child, path, false),
                _ => self.org.add_listing(child, path, true),
            }
        }
    }

    fn create(&mut self, kind: &'static KindSpec, list: &str, body: Value) -> Outcome {
        if let Err(e) = validate(kind, &body) {
            return e;
        }
        let Value::Object(mut map) = body else {
            return Outcome::NotAllowed;
        };
        for f in SERVER_FIELDS {
            map.remove(f);
        }
        let id = self.org.next_id(prefix(kind));
        let path = format!("{list}/{id}");
        map.insert("id".into(), json!(id));
        if let Some(status) = initial_status(kind, self.query) {
            map.insert("status".into(), json!(status));
        }
        map.insert("created".into(), json!(self.now));
        map.insert("lastUpdated".into(), json!(self.now));
        let mut links = json!({ "self": self.href(&path) });
        match kind.name {
            "group" => {
                map.insert("type".into(), json!("OKTA_GROUP"));
                map.insert("objectClass".into(), json!(["okta:user_group"]));
                map.insert("lastMembershipUpdated".into(), json!(self.now));
                links["users"] = self.href(&format!("{path}/users"));
                links["apps"] = self.href(&format!("{path}/apps"));
            }
            "group_rule" => {
                map.insert("type".into(), json!("group_rule"));
            }
            "app" => {
                map.entry("features").or_insert_with(|| json!([]));
                // Okta makes an OIDC app's id its client id.
                if map.get("signOnMode").and_then(Value::as_str) == Some("OPENID_CONNECT") {
                    let credentials = map.entry("credentials").or_insert_with(|| json!({}));
                    if let Value::Object(c) = credentials {
                        let client = c.entry("oauthClient").or_insert_with(|| json!({}));
                        if let Value::Object(client) = client {
                            client.entry("client_id").or_insert_with(|| json!(id));
                        }
                    }
                }
                links["users"] = self.href(&format!("{path}/users"));
                links["groups"] = self.href(&format!("{path}/groups"));
            }
            "event_hook" => {
                map.insert("verificationStatus".into(), json!("UNVERIFIED"));
            }
            "authorization_server" => {
                map.insert(
                    "issuer".into(),
                    json!(format!("{}/oauth2/{id}", self.state.org_url)),
                );
                map.entry("issuerMode").or_insert_with(|| json!("ORG_URL"));
            }
            "user_type" => {
                map.insert("default".into(), json!(false));
                let schema = self.org.next_id("osc");
                links["schema"] = self.href(&format!("/api/v1/meta/schemas/user/{schema}"));
            }
            n if n.starts_with("policy.") => {
                map.entry("system").or_insert_with(|| json!(false));
            }
            _ => {}
        }
        map.insert("_links".into(), links);
        let body = Value::Object(map);
        self.org.put_item(kind, list, &body);
        self.create_children(kind, list, &body);
        done(created_status(kind), Some(&body))
    }

    fn replace(
        &mut self,
        kind: &'static KindSpec,
        list: &str,
        id: &str,
        body: Value,
        partial: bool,
    ) -> Outcome {
        let path = format!("{list}/{id}");
        let Some(Value::Object(old)) = self.stored(&path) else {
            return Outcome::NotFound;
        };
        let Value::Object(sent) = body else {
            return Outcome::NotAllowed;
        };
        let mut map = if partial { old.clone() } else { Map::new() };
        map.extend(sent);
        for f in SERVER_FIELDS {
            map.remove(f);
            if let Some(v) = old.get(f) {
                map.insert(f.to_owned(), v.clone());
            }
        }
        for f in managed_fields(kind) {
            if !map.contains_key(*f)
                && let Some(v) = old.get(*f)
            {
                map.insert((*f).to_owned(), v.clone());
            }
        }
        // A group's or a policy's type decides where it is listed: it cannot change.
        if (kind.name == "group" || kind.name.starts_with("policy."))
            && let Some(t) = old.get("type")
        {
            map.insert("type".into(), t.clone());
        }
        map.insert("lastUpdated".into(), json!(self.now));
        let body = Value::Object(map);
        if let Err(e) = validate(kind, &body) {
            return e;
        }
        self.org.put_item(kind, list, &body);
        done(StatusCode::OK, Some(&body))
    }

    fn delete(&mut self, kind: &'static KindSpec, list: &str, id: &str) -> Outcome {
        let path = format!("{list}/{id}");
        let Some(old) = self.stored(&path) else {
            return Outcome::NotFound;
        };
        if refuses_active_delete(kind)
            && old.get("status").and_then(Value::as_str) == Some("ACTIVE")
        {
            let (code, summary) = if kind.name == "app" {
                ("E0000056", "Delete application forbidden.".to_owned())
            } else {
                (
                    "E0000006",
                    "You do not have permission to perform the requested action".to_owned(),
                )
            };
            return Outcome::Error {
                status: StatusCode::FORBIDDEN,
                code,
                summary,
                causes: vec![format!("Deactivate the {} before deleting it", kind.name)],
            };
        }
        for (child, child_path) in Self::child_paths(kind, list, &old) {
            self.org.remove_tree(&child_path);
            self.org.listings.remove(&(child_path, child.name));
        }
        self.org.remove_item(kind.name, list, id);
        self.org.remove_tree(&path);
        if kind.name == "group" {
            for apps in self.org.remove_everywhere("app_group_assignment", id) {
                self.effects.push((
                    "group.application_assignment.remove".into(),
                    vec![
                        ("AppInstance", segment(&apps, 4), String::new()),
                        ("UserGroup", id.to_owned(), String::new()),
                    ],
                ));
            }
        }
        if kind.name == "group_rule" {
            return Outcome::Done(StatusCode::ACCEPTED, None);
        }
        no_content()
    }

    fn lifecycle(
        &mut self,
        kind: &'static KindSpec,
        list: &str,
        id: &str,
        action: &str,
    ) -> Outcome {
        let status = match action {
            "activate" => "ACTIVE",
            "deactivate" => "INACTIVE",
            _ => return Outcome::NotFound,
        };
        let path = format!("{list}/{id}");
        let Some(Value::Object(mut map)) = self.stored(&path) else {
            return Outcome::NotFound;
        };
        map.insert("status".into(), json!(status));
        map.insert("lastUpdated".into(), json!(self.now));
        let body = Value::Object(map);
        self.org.put_item(kind, list, &body);
        if lifecycle_no_content(kind) {
            no_content()
        } else if kind.name == "app" {
            done(StatusCode::OK, Some(&json!({})))
        } else {
            done(StatusCode::OK, Some(&body))
        }
    }

    // Users.

    fn user(
        &mut self,
        kind: &'static KindSpec,
        op: Op,
        id: Option<String>,
        body: &Value,
    ) -> Outcome {
        const LIST: &str = "/api/v1/users";
        match (op, id) {
            (Op::Create, None) => self.create_user(kind, body),
            (Op::Replace, Some(id)) => self.update_user(kind, &id, body, false),
            (Op::Partial, Some(id)) => self.update_user(kind, &id, body, true),
            (Op::Lifecycle(action), Some(id)) => self.user_lifecycle(kind, &id, &action),
            (Op::Delete, Some(id)) => {
                let path = format!("{LIST}/{id}");
                let Some(Value::Object(mut user)) = self.stored(&path) else {
                    return Outcome::NotFound;
                };
                if user.get("status").and_then(Value::as_str) != Some("DEPROVISIONED") {
                    // Okta's delete deactivates a user that is not deprovisioned yet; a
                    // second delete removes it.
                    user.insert("status".into(), json!("DEPROVISIONED"));
                    user.insert("statusChanged".into(), json!(self.now));
                    user.insert("lastUpdated".into(), json!(self.now));
                    self.store_user(kind, &Value::Object(user));
                    return no_content();
                }
                let login = login_of(&Value::Object(user));
                self.reindex_login(&id, login, None);
                self.org.remove_item("user", LIST, &id);
                self.org.remove_tree(&path);
                for groups in self.org.remove_everywhere("group_membership", &id) {
                    self.effects.push((
                        "group.user_membership.remove".into(),
                        vec![
                            ("UserGroup", segment(&groups, 4), String::new()),
                            ("User", id.clone(), String::new()),
                        ],
                    ));
                }
                // A deleted user owns nothing any more; Okta logs no event for the groups
                // it owned (a backup drops entries naming a user the log says is deleted).
                self.org.remove_everywhere("group_owner", &id);
                for apps in self.org.remove_everywhere("app_user_assignment", &id) {
                    self.effects.push((
                        "application.user_membership.remove".into(),
                        vec![
                            ("AppInstance", segment(&apps, 4), String::new()),
                            ("User", id.clone(), String::new()),
                        ],
                    ));
                }
                no_content()
            }
            _ => Outcome::NotAllowed,
        }
    }

    /// Store a user's new body, in the user listing and in every group it is a member of.
    fn store_user(&mut self, kind: &'static KindSpec, body: &Value) -> Arc<Item> {
        let item = self.org.put_item(kind, "/api/v1/users", body);
        self.org.replace_everywhere("group_membership", &item);
        item
    }

    fn check_login(&mut self, user: &Value, except: Option<&str>) -> Result<(), Outcome> {
        let login = login_of(user).unwrap_or_default();
        if self
            .org
            .logins()
            .get(&login)
            .is_some_and(|owner| Some(owner.as_str()) != except)
        {
            return Err(validation(
                "login",
                "An object with this field already exists in the current organization",
            ));
        }
        Ok(())
    }

    /// Keep the login index in step with a user's login changing from `old` to `new`.
    fn reindex_login(&mut self, id: &str, old: Option<String>, new: Option<String>) {
        let logins = self.org.logins();
        if let Some(old) = old
            && logins.get(&old).is_some_and(|owner| owner == id)
        {
            logins.remove(&old);
        }
        if let Some(new) = new {
            logins.insert(new, id.to_owned());
        }
    }

    fn create_user(&mut self, kind: &'static KindSpec, body: &Value) -> Outcome {
        if let Err(e) = validate(kind, body) {
            return e;
        }
        if let Err(e) = self.check_login(body, None) {
            return e;
        }
        let types = self.org.listing("/api/v1/meta/types/user", "user_type");
        let type_id = match body.pointer("/type/id").and_then(Value::as_str) {
            Some(t) => {
                if types.is_none_or(|l| l.get(t).is_none()) {
                    return validation("type", "The user type does not exist");
                }
                t.to_owned()
            }
            None => types
                .and_then(|l| {
                    l.items.iter().find(|i| {
                        serde_json::from_str::<Value>(&i.body)
                            .ok()
                            .is_some_and(|t| t.get("default") == Some(&json!(true)))
                    })
                })
                .map(|i| i.id.clone())
                .unwrap_or_default(),
        };
        let activate = self.query.get("activate").map(String::as_str) != Some("false");
        let has_password = !blank(body.pointer("/credentials/password/value"));
        let status = match (activate, has_password) {
            (false, _) => "STAGED",
            (true, true) => "ACTIVE",
            // Without a password the user still has to finish activation.
            (true, false) => "PROVISIONED",
        };
        let id = self.org.next_id("00u");
        let href = format!("/api/v1/users/{id}");
        let now = self.now.clone();
        // Okta never returns a password or a recovery answer: keep only that they exist.
        let mut credentials = json!({ "provider": { "type": "OKTA", "name": "OKTA" } });
        if has_password {
            credentials["password"] = json!({});
        }
        if let Some(q) = body.pointer("/credentials/recovery_question/question") {
            credentials["recovery_question"] = json!({ "question": q });
        }
        let user = json!({
            "id": id, "status": status, "created": now,
            "activated": if activate { json!(now) } else { Value::Null },
            "statusChanged": if activate { json!(now) } else { Value::Null },
            "lastLogin": null, "lastUpdated": now,
            "passwordChanged": if has_password { json!(now) } else { Value::Null },
            "type": { "id": type_id },
            "profile": body.get("profile").cloned().unwrap_or_else(|| json!({})),
            "credentials": credentials,
            "_links": { "self": self.href(&href),
                "type": self.href(&format!("/api/v1/meta/types/user/{type_id}")) }
        });
        let item = self.org.put_item(kind, "/api/v1/users", &user);
        self.reindex_login(&id, None, login_of(&user));
        // Every user is a member of Everyone.
        if let Some(everyone) = self.everyone() {
            let members = format!("/api/v1/groups/{everyone}/users");
            if let Some(spec) = kinds::by_name("group_membership") {
                self.org.put_shared(spec, &members, item);
            }
        }
        done(StatusCode::OK, Some(&user))
    }

    fn everyone(&self) -> Option<String> {
        self.org
            .listing("/api/v1/groups", "group")?
            .items
            .iter()
            .find(|g| {
                serde_json::from_str::<Value>(&g.body)
                    .ok()
                    .is_some_and(|g| g.get("type") == Some(&json!("BUILT_IN")))
            })
            .map(|g| g.id.clone())
    }

    fn update_user(
        &mut self,
        kind: &'static KindSpec,
        id: &str,
        body: &Value,
        partial: bool,
    ) -> Outcome {
        let Some(Value::Object(mut user)) = self.stored(&format!("/api/v1/users/{id}")) else {
            return Outcome::NotFound;
        };
        let old_login = user
            .get("profile")
            .and_then(|p| p.get("login"))
            .and_then(Value::as_str)
            .map(str::to_lowercase);
        let sent = body.get("profile").cloned().unwrap_or_else(|| json!({}));
        let profile = match (partial, sent, user.get("profile")) {
            (true, Value::Object(sent), Some(Value::Object(old))) => {
                let mut merged = old.clone();
                merged.extend(sent);
                Value::Object(merged)
            }
            (_, sent, _) => sent,
        };
        user.insert("profile".into(), profile);
        user.insert("lastUpdated".into(), json!(self.now));
        let user = Value::Object(user);
        if let Err(e) = validate(kind, &user) {
            return e;
        }
        if let Err(e) = self.check_login(&user, Some(id)) {
            return e;
        }
        self.reindex_login(id, old_login, login_of(&user));
        self.store_user(kind, &user);
        done(StatusCode::OK, Some(&user))
    }

    fn user_lifecycle(&mut self, kind: &'static KindSpec, id: &str, action: &str) -> Outcome {
        let Some(Value::Object(mut user)) = self.stored(&format!("/api/v1/users/{id}")) else {
            return Outcome::NotFound;
        };
        let status = user
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let has_password = user
            .get("credentials")
            .and_then(|c| c.get("password"))
            .is_some();
        let refused = |summary: &str| Outcome::Error {
            status: StatusCode::FORBIDDEN,
            code: "E0000038",
            summary: summary.to_owned(),
            causes: Vec::new(),
        };
        let bad = |summary: &str| Outcome::Error {
            status: StatusCode::BAD_REQUEST,
            code: "E0000001",
            summary: format!("Api validation failed: {summary}"),
            causes: vec![summary.to_owned()],
        };
        let next = match (action, status.as_str()) {
            ("activate", "STAGED" | "DEPROVISIONED") => {
                if has_password {
                    "ACTIVE"
                } else {
                    "PROVISIONED"
                }
            }
            ("activate", _) => {
                return refused("Activation failed because the user is already active");
            }
            ("reactivate", "PROVISIONED") => "PROVISIONED",
            ("reactivate", _) => {
                return refused("This operation is not allowed in the user's current status.");
            }
            ("deactivate", _) => "DEPROVISIONED",
            ("suspend", "ACTIVE") => "SUSPENDED",
            ("suspend", _) => return bad("Cannot suspend a user that is not active"),
            ("unsuspend", "SUSPENDED") => "ACTIVE",
            ("unsuspend", _) => return bad("Cannot unsuspend a user that is not suspended"),
            _ => return Outcome::NotFound,
        };
        if next != status {
            user.insert("status".into(), json!(next));
            user.insert("statusChanged".into(), json!(self.now));
            if action == "activate" {
                user.insert("activated".into(), json!(self.now));
            }
        }
        user.insert("lastUpdated".into(), json!(self.now));
        self.store_user(kind, &Value::Object(user));
        let answer = if matches!(action, "activate" | "reactivate")
            && self.query.get("sendEmail").map(String::as_str) == Some("false")
        {
            let token = self.org.next_id("");
            json!({ "activationUrl": format!("{}/welcome/{token}", self.state.org_url),
                "activationToken": token })
        } else {
            json!({})
        };
        done(StatusCode::OK, Some(&answer))
    }

    // Relations.

    /// The object a relation listing hangs off: `/api/v1/groups/{id}` for its members.
    fn parent_of(list: &str) -> &str {
        list.rsplit_once('/').map_or("", |(g, _)| g)
    }

    fn add_member(&mut self, kind: &'static KindSpec, list: &str, user_id: &str) -> Outcome {
        let group_path = Self::parent_of(list).to_owned();
        let Some(Value::Object(mut group)) = self.stored(&group_path) else {
            return Outcome::NotFound;
        };
        let Some(user) = self
            .org
            .listing("/api/v1/users", "user")
            .and_then(|l| l.get(user_id).cloned())
        else {
            return Outcome::NotFound;
        };
        if self
            .org
            .listing(list, kind.name)
            .is_some_and(|l| l.get(user_id).is_some())
        {
            return no_content();
        }
        self.org.put_shared(kind, list, user);
        group.insert("lastMembershipUpdated".into(), json!(self.now));
        if let Some(groups) = kinds::by_name("group") {
            self.org
                .put_item(groups, "/api/v1/groups", &Value::Object(group));
        }
        no_content()
    }

    fn remove_member(&mut self, kind: &'static KindSpec, list: &str, user_id: &str) -> Outcome {
        let group_path = Self::parent_of(list).to_owned();
        let Some(Value::Object(mut group)) = self.stored(&group_path) else {
            return Outcome::NotFound;
        };
        if !self
            .org
            .objects
            .contains_key(&format!("/api/v1/users/{user_id}"))
        {
            return Outcome::NotFound;
        }
        if self.org.remove_item(kind.name, list, user_id) {
            group.insert("lastMembershipUpdated".into(), json!(self.now));
            if let Some(groups) = kinds::by_name("group") {
                self.org
                    .put_item(groups, "/api/v1/groups", &Value::Object(group));
            }
        }
        no_content()
    }

    fn assign_group(
        &mut self,
        kind: &'static KindSpec,
        list: &str,
        group_id: &str,
        body: &Value,
    ) -> Outcome {
        let app = Self::parent_of(list).to_owned();
        if !self
            .org
            .objects
            .contains_key(&format!("/api/v1/groups/{group_id}"))
        {
            return Outcome::NotFound;
        }
        let priority = match body.get("priority") {
            Some(p @ Value::Number(_)) => p.clone(),
            _ => json!(
                self.org
                    .listing(list, kind.name)
                    .map_or(0, |l| l.items.len())
            ),
        };
        let assignment = json!({
            "id": group_id, "lastUpdated": self.now, "priority": priority,
            "profile": body.get("profile").cloned().unwrap_or_else(|| json!({})),
            "_links": { "app": self.href(&app), "group": self.href(&format!("/api/v1/groups/{group_id}")) }
        });
        self.org.put_item(kind, list, &assignment);
        done(StatusCode::OK, Some(&assignment))
    }

    fn assign_user(
        &mut self,
        kind: &'static KindSpec,
        list: &str,
        existing: Option<&str>,
        body: &Value,
    ) -> Outcome {
        let app = Self::parent_of(list).to_owned();
        let user_id = match existing {
            Some(id) => id.to_owned(),
            None => match body.get("id").and_then(Value::as_str) {
                Some(id) if !id.is_empty() => id.to_owned(),
                _ => return validation("id", "The field cannot be left blank"),
            },
        };
        if !self
            .org
            .objects
            .contains_key(&format!("/api/v1/users/{user_id}"))
        {
            return Outcome::NotFound;
        }
        let old = self.stored(&format!("{list}/{user_id}"));
        if existing.is_some() && old.is_none() {
            return Outcome::NotFound;
        }
        let pick = |field: &str| {
            body.get(field)
                .cloned()
                .or_else(|| old.as_ref().and_then(|o| o.get(field).cloned()))
        };
        let mut credentials = pick("credentials").unwrap_or_else(|| json!({}));
        // The app user's password is write-only in Okta.
        if let Value::Object(c) = &mut credentials {
            c.remove("password");
        }
        let created = old
            .as_ref()
            .and_then(|o| o.get("created").cloned())
            .unwrap_or_else(|| json!(self.now));
        let assignment = json!({
            "id": user_id, "externalId": null, "created": created, "lastUpdated": self.now,
            "scope": pick("scope").unwrap_or_else(|| json!("USER")), "status": "ACTIVE",
            "statusChanged": created, "passwordChanged": null, "syncState": "DISABLED",
            "credentials": credentials,
            "profile": pick("profile").unwrap_or_else(|| json!({})),
            "_links": { "app": self.href(&app), "user": self.href(&format!("/api/v1/users/{user_id}")) }
        });
        self.org.put_item(kind, list, &assignment);
        done(StatusCode::OK, Some(&assignment))
    }
}
