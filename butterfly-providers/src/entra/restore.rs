//! Restore planning for Entra ID: the snapshot against the live tenant, resource by
//! resource, as a [`RestorePlan`] with the same rules as Okta's (plan, dry run, then an
//! execution that journals each write so it can be undone).
//!
//! [`plan`] is pure: it takes both sides already read (the snapshot's resources and the
//! tenant's, as the backup stores them) and decides, per restorable kind in
//! [`kinds::restore_order`]:
//!
//! | snapshot vs tenant | action |
//! | --- | --- |
//! | no match | `create`, with what Entra ID needs said in the reason (below) |
//! | match, equal once ids are remapped | `skip` ("equal") |
//! | match, different | `update` with `overwrite`, else `skip` with the changes |
//! | tenant only | `delete` with `delete_extra` (never users, never Microsoft's own objects) |
//! | kind not restorable | `skip` and a follow-up |
//!
//! Objects match by id first, then by a natural key: a user's `userPrincipalName`, an
//! app's, service principal's, group's, named location's or policy's `displayName`; a
//! relation (group member, owner, app role assignment) by both ends, remapped.
//!
//! What a create does, and the plan says:
//! - users come back **disabled** (`accountEnabled: false`) with a random password that
//!   must be changed at next sign-in ([`write_body`] leaves a placeholder; the executor
//!   fills it at write time and never stores or logs it);
//! - applications and service principals come back **without credentials** (secrets are
//!   never in a snapshot); a follow-up lists them;
//! - Conditional Access policies come back **report-only**
//!   (`enabledForReportingButNotEnforced`), so a restore cannot lock anyone out; a
//!   follow-up lists the ones to switch on after review. An update never switches a
//!   policy to enforced either, and an update never enables a user the tenant holds
//!   disabled (one an earlier run created, say): a follow-up lists them.
//! - references (group members, policy includes and excludes, app role assignments) are
//!   remapped to the tenant's object ids: matched objects now, created ones at execution.

pub mod runner;

use std::collections::{BTreeMap, BTreeSet};

use butterfly_core::diff::{DiffRules, diff_resource};
use butterfly_core::restore::{
    FollowUp, PlanEntry, RestoreMode, RestoreOptions, RestorePlan, live_fingerprint,
};
use butterfly_core::{Digest, ProviderKind, ResourceKind, Snapshot, SnapshotId};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::kinds::{self, IdRule};
use crate::okta::restore::ResourceSet;
use crate::okta::restore::journal::{Journal, JournalError, JournalRecord, StepOutcome};

/// The state a restored Conditional Access policy is written in.
pub const REPORT_ONLY: &str = "enabledForReportingButNotEnforced";

/// Where [`write_body`] leaves the password the executor generates for a created user.
pub const PASSWORD_PLACEHOLDER: &str = "${GENERATED_PASSWORD}";

/// The base of a `$ref` body: `{"@odata.id": "<base><object id>"}`.
pub const DIRECTORY_OBJECTS: &str = "https://graph.microsoft.com/v1.0/directoryObjects/";

/// Fields Graph sets itself: never written, never compared.
const READ_ONLY: &[&str] = &[
    "id",
    "@odata.context",
    "@odata.etag",
    "createdDateTime",
    "modifiedDateTime",
    "lastModifiedDateTime",
    "deletedDateTime",
    "renewedDateTime",
    "expirationDateTime",
    "onPremisesLastSyncDateTime",
    "signInActivity",
    "signInSessionsValidFromDateTime",
    "refreshTokensValidFromDateTime",
    "lastPasswordChangeDateTime",
    "appId",
    "publisherDomain",
    "passwordCredentials",
    "keyCredentials",
    "passwordProfile",
    "securityIdentifier",
    "onPremisesSecurityIdentifier",
    "proxyAddresses",
    "mail",
    "principalDisplayName",
    "resourceDisplayName",
    "principalType",
    "assignedPlans",
    "provisionedPlans",
];

/// Snapshot object ids mapped to the tenant's, for objects that exist on both sides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdRemap {
    objects: BTreeMap<String, String>,
    app_ids: BTreeMap<String, String>,
}

impl IdRemap {
    /// The tenant's id for a snapshot object id (itself when it was not re-created).
    pub fn object<'a>(&'a self, id: &'a str) -> &'a str {
        self.objects.get(id).map_or(id, String::as_str)
    }

    /// The tenant's `appId` for a snapshot application's `appId`.
    pub fn app_id<'a>(&'a self, app_id: &'a str) -> &'a str {
        self.app_ids.get(app_id).map_or(app_id, String::as_str)
    }

    /// Record that snapshot object `from` is tenant object `to`.
    pub fn insert_object(&mut self, from: impl Into<String>, to: impl Into<String>) {
        self.objects.insert(from.into(), to.into());
    }

    /// Record that snapshot `appId` `from` is tenant `appId` `to`.
    pub fn insert_app_id(&mut self, from: impl Into<String>, to: impl Into<String>) {
        self.app_ids.insert(from.into(), to.into());
    }
}

/// What [`plan`] reads.
#[derive(Debug)]
#[non_exhaustive]
pub struct PlanInput<'a> {
    /// The snapshot restored from.
    pub snapshot: &'a Snapshot,
    /// Its resources of the restorable kinds.
    pub snapshot_resources: &'a ResourceSet,
    /// The tenant's resources of the same kinds, read now.
    pub live: &'a ResourceSet,
    /// What the plan covers.
    pub options: &'a RestoreOptions,
    /// When the plan is made.
    pub now: DateTime<Utc>,
}

impl<'a> PlanInput<'a> {
    /// Everything a plan needs.
    pub fn new(
        snapshot: &'a Snapshot,
        snapshot_resources: &'a ResourceSet,
        live: &'a ResourceSet,
        options: &'a RestoreOptions,
        now: DateTime<Utc>,
    ) -> Self {
        PlanInput {
            snapshot,
            snapshot_resources,
            live,
            options,
            now,
        }
    }
}

fn text<'v>(body: &'v Value, field: &str) -> Option<&'v str> {
    body.get(field).and_then(Value::as_str)
}

/// The natural key a resource is matched by when ids differ.
fn natural_key(kind: &str, body: &Value, remap: &IdRemap, id: &str) -> Option<String> {
    match kind {
        "user" => text(body, "userPrincipalName").map(str::to_ascii_lowercase),
        "group" | "application" | "named_location" | "conditional_access_policy" => {
            text(body, "displayName").map(str::to_owned)
        }
        "service_principal" => text(body, "appId")
            .map(|a| format!("app:{}", remap.app_id(a)))
            .or_else(|| text(body, "displayName").map(str::to_owned)),
        "group_member" | "group_owner" => {
            let (parent, member) = id.split_once('/')?;
            Some(format!("{}/{}", remap.object(parent), remap.object(member)))
        }
        "app_role_assignment" => Some(format!(
            "{}/{}/{}",
            remap.object(text(body, "principalId")?),
            remap.object(text(body, "resourceId")?),
            text(body, "appRoleId")?
        )),
        _ => None,
    }
}

/// Live objects Microsoft owns (first-party service principals, built-in policies):
/// never deleted by a restore.
fn microsoft_owned(kind: &str, body: &Value) -> bool {
    match kind {
        "service_principal" => {
            text(body, "appOwnerOrganizationId")
                .is_some_and(|o| o.eq_ignore_ascii_case("f8cdef31-a31e-4b4a-93e4-5f571e91255a"))
                || text(body, "servicePrincipalType") == Some("ManagedIdentity")
        }
        _ => false,
    }
}

/// The body to write for a snapshot resource: read-only fields and credentials out,
/// references remapped, users disabled with a password placeholder, Conditional Access
/// policies report-only. `live` is the tenant's version for an update.
pub fn write_body(kind: &str, body: &Value, remap: &IdRemap, live: Option<&Value>) -> Value {
    let mut out = match body {
        Value::Object(map) => map
            .iter()
            .filter(|(k, _)| {
                // A user's mail is its own to set (a guest's is its home address); a
                // group's is derived by Graph.
                (!READ_ONLY.contains(&k.as_str()) || (kind == "user" && k.as_str() == "mail"))
                    && !k.contains("@odata.")
                    || k.as_str() == "@odata.type"
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Map<String, Value>>(),
        other => return other.clone(),
    };
    match kind {
        // A relation is written as a `$ref` to the member, remapped.
        "group_member" | "group_owner" | "application_owner" => {
            let member = text(body, "id").unwrap_or_default();
            return json!({
                "@odata.id": format!("{DIRECTORY_OBJECTS}{}", remap.object(member))
            });
        }
        "user" if live.is_none() => {
            out.insert("accountEnabled".to_owned(), json!(false));
            out.insert(
                "passwordProfile".to_owned(),
                json!({"forceChangePasswordNextSignIn": true, "password": PASSWORD_PLACEHOLDER}),
            );
        }
        // Never enable an account through a restore (a user an earlier run created
        // disabled, or one disabled since): enabling is a person's decision.
        "user" if live.and_then(|l| l.get("accountEnabled")) == Some(&json!(false)) => {
            out.insert("accountEnabled".to_owned(), json!(false));
        }
        "service_principal" => {
            if let Some(app_id) = text(body, "appId") {
                out.insert("appId".to_owned(), json!(remap.app_id(app_id)));
            }
            // Its names hold its application's appId, which a re-created app changes.
            if let Some(Value::Array(names)) = out.get_mut("servicePrincipalNames") {
                for name in names.iter_mut() {
                    if let Some(n) = name.as_str() {
                        *name = json!(remap.app_id(n));
                    }
                }
            }
        }
        "app_role_assignment" => {
            for field in ["principalId", "resourceId"] {
                if let Some(id) = text(body, field) {
                    out.insert(field.to_owned(), json!(remap.object(id)));
                }
            }
        }
        "conditional_access_policy" => {
            let mut policy = Value::Object(out);
            remap_policy(&mut policy, remap);
            // Never enforce through a restore: a new policy starts report-only, and an
            // update to an enforced state keeps an enforced policy enforced and brings a
            // disabled or report-only one back report-only, never straight to enforced.
            let wanted = text(body, "state").unwrap_or(REPORT_ONLY);
            let state = match (live.and_then(|l| text(l, "state")), wanted) {
                (_, "disabled") => "disabled",
                (Some("enabled"), "enabled") => "enabled",
                (_, "enabled") | (None, _) => REPORT_ONLY,
                (Some(_), other) => other,
            };
            policy["state"] = json!(state);
            return policy;
        }
        _ => {}
    }
    Value::Object(out)
}

/// Remap the object ids a Conditional Access policy refers to.
fn remap_policy(policy: &mut Value, remap: &IdRemap) {
    let object_lists = [
        "/conditions/users/includeUsers",
        "/conditions/users/excludeUsers",
        "/conditions/users/includeGroups",
        "/conditions/users/excludeGroups",
        "/conditions/locations/includeLocations",
        "/conditions/locations/excludeLocations",
        "/conditions/clientApplications/includeServicePrincipals",
        "/conditions/clientApplications/excludeServicePrincipals",
    ];
    for pointer in object_lists {
        if let Some(Value::Array(items)) = policy.pointer_mut(pointer) {
            for item in items.iter_mut() {
                if let Some(id) = item.as_str() {
                    *item = json!(remap.object(id));
                }
            }
        }
    }
    for pointer in [
        "/conditions/applications/includeApplications",
        "/conditions/applications/excludeApplications",
    ] {
        if let Some(Value::Array(items)) = policy.pointer_mut(pointer) {
            for item in items.iter_mut() {
                if let Some(id) = item.as_str() {
                    *item = json!(remap.app_id(id));
                }
            }
        }
    }
}

/// A resource as a plan compares it: what would be written, less the password
/// placeholder, so equal objects on both sides compare equal.
fn comparable(kind: &str, body: &Value, remap: &IdRemap, live: Option<&Value>) -> Value {
    let mut value = write_body(kind, body, remap, live);
    if kind == "user"
        && let Some(map) = value.as_object_mut()
    {
        map.remove("passwordProfile");
    }
    value
}

/// Plan a restore of `input.snapshot` into the tenant. Pure: the same input gives the
/// same plan.
pub fn plan(input: &PlanInput<'_>) -> RestorePlan {
    let rules = DiffRules::for_provider(ProviderKind::EntraId);
    let live_print = live_fingerprint_of(input.live);
    let mut out = RestorePlan::new(
        input.snapshot.id,
        ProviderKind::EntraId,
        input.snapshot.org.clone(),
        input.now,
        RestoreMode::Restore,
        input.options.clone(),
        live_print,
    );
    let mut remap = IdRemap::default();
    let mut report_only = Vec::new();
    let mut without_credentials = Vec::new();
    let mut disabled_users = Vec::new();
    let mut kept_disabled = Vec::new();
    let in_scope = |kind: &str| {
        input.options.kinds.is_empty() || input.options.kinds.contains(&ResourceKind::new(kind))
    };
    for (order, spec) in kinds::restore_order().into_iter().enumerate() {
        let kind = spec.name;
        let order = u64::try_from(order).unwrap_or(u64::MAX);
        // Live objects by natural key, to match re-created objects.
        let mut live_by_key: BTreeMap<String, &String> = BTreeMap::new();
        for (id, body) in input.live.kind(kind) {
            if let Some(key) = natural_key(kind, body, &IdRemap::default(), id) {
                live_by_key.entry(key).or_insert(id);
            }
        }
        let mut matched_live: BTreeSet<String> = BTreeSet::new();
        for (id, body) in input.snapshot_resources.kind(kind) {
            let name = rules
                .name_of(&spec.kind(), body)
                .unwrap_or_else(|| id.clone());
            let live_id = if input.live.get(kind, id).is_some() {
                Some(id.clone())
            } else {
                natural_key(kind, body, &remap, id)
                    .and_then(|key| live_by_key.get(&key).map(|l| (*l).clone()))
            };
            if let Some(live_id) = &live_id {
                matched_live.insert(live_id.clone());
                if matches!(spec.id, IdRule::Field(_)) {
                    remap.insert_object(id.clone(), live_id.clone());
                }
                if kind == "application"
                    && let (Some(from), Some(to)) = (
                        text(body, "appId"),
                        input.live.get(kind, live_id).and_then(|l| text(l, "appId")),
                    )
                {
                    remap.insert_app_id(from, to);
                }
            }
            if !wanted(input.options, id) || !in_scope(kind) {
                continue;
            }
            let mut entry = PlanEntry::new(spec.kind(), id.clone(), name.clone(), "");
            entry.order = order;
            match live_id.and_then(|l| input.live.get(kind, &l).map(|b| (l, b))) {
                None => {
                    create_reason(kind).clone_into(&mut entry.reason);
                    match kind {
                        "user" => disabled_users.push(name),
                        "conditional_access_policy" => report_only.push(name),
                        "application" | "service_principal" => without_credentials.push(name),
                        _ => {}
                    }
                    out.create.push(entry);
                }
                Some((live_id, live_body)) => {
                    if kind == "user"
                        && body.get("accountEnabled") == Some(&json!(true))
                        && live_body.get("accountEnabled") == Some(&json!(false))
                    {
                        kept_disabled.push(name.clone());
                    }
                    let wanted_body = comparable(kind, body, &remap, Some(live_body));
                    let live_view =
                        comparable(kind, live_body, &IdRemap::default(), Some(live_body));
                    let changes =
                        diff_resource(&rules, &spec.kind(), &live_view, &wanted_body, false);
                    let entry = entry.with_live_id(live_id);
                    if changes.is_empty() {
                        let mut entry = entry;
                        "equal".clone_into(&mut entry.reason);
                        out.skip.push(entry);
                    } else if input.options.overwrite && spec.id != IdRule::Member {
                        let mut entry = entry.with_changes(changes);
                        "differs: updated to the snapshot's version".clone_into(&mut entry.reason);
                        if kind == "conditional_access_policy"
                            && text(body, "state") == Some("enabled")
                            && text(live_body, "state") != Some("enabled")
                        {
                            report_only.push(name);
                        }
                        out.update.push(entry);
                    } else {
                        let mut entry = entry.with_changes(changes);
                        "differs (use overwrite to update)".clone_into(&mut entry.reason);
                        out.skip.push(entry);
                    }
                }
            }
        }
        if input.options.delete_extra && in_scope(kind) && kind != "user" {
            for (id, body) in input.live.kind(kind) {
                if matched_live.contains(id) || microsoft_owned(kind, body) {
                    continue;
                }
                let name = rules
                    .name_of(&spec.kind(), body)
                    .unwrap_or_else(|| id.clone());
                let mut entry = PlanEntry::new(
                    spec.kind(),
                    id.clone(),
                    name,
                    "in the tenant, not in the snapshot",
                )
                .with_live_id(id.clone());
                entry.order = order;
                out.delete.push(entry);
            }
        }
    }
    // Kinds the snapshot holds that a restore does not write.
    let not_restorable: Vec<String> = input
        .snapshot
        .kinds
        .keys()
        .filter(|k| kinds::by_name(k.as_str()).is_none_or(|s| s.restore_rank.is_none()))
        .map(|k| k.as_str().to_owned())
        .collect();
    if !disabled_users.is_empty() {
        out.follow_ups.push(FollowUp::new(
            "users created disabled with a one-time random password: enable them and send a password reset (the password is never stored or shown)",
            disabled_users,
        ));
    }
    if !kept_disabled.is_empty() {
        out.follow_ups.push(FollowUp::new(
            "users enabled in the snapshot but disabled in the tenant: left disabled (a restore never enables an account); enable them after review",
            kept_disabled,
        ));
    }
    if !report_only.is_empty() {
        out.follow_ups.push(FollowUp::new(
            "Conditional Access policies restored in report-only state (enabledForReportingButNotEnforced): review their sign-in impact, then switch them on",
            report_only,
        ));
    }
    if !without_credentials.is_empty() {
        out.follow_ups.push(FollowUp::new(
            "apps and service principals restored without credentials: add new client secrets or certificates and hand them to their owners",
            without_credentials,
        ));
    }
    if !not_restorable.is_empty() {
        out.follow_ups.push(FollowUp::new(
            "kinds in the snapshot that a restore does not write yet: re-create by hand if needed",
            not_restorable,
        ));
    }
    out.seal();
    out
}

fn create_reason(kind: &str) -> &'static str {
    match kind {
        "user" => {
            "not in the tenant: created disabled (accountEnabled false), with a random password to change at next sign-in, never stored"
        }
        "conditional_access_policy" => {
            "not in the tenant: created in report-only state (enabledForReportingButNotEnforced) so it cannot lock anyone out; switch it on after review"
        }
        "application" | "service_principal" => "not in the tenant: created without credentials",
        "group_member" | "group_owner" | "application_owner" | "app_role_assignment" => {
            "not in the tenant: added, both ends remapped to the tenant's ids"
        }
        _ => "not in the tenant",
    }
}

fn wanted(options: &RestoreOptions, id: &str) -> bool {
    options.ids.is_empty() || options.ids.contains(id)
}

/// The live state's digest, volatile and read-only fields left out, so a sign-in does
/// not make a reviewed plan stale.
pub fn live_fingerprint_of(live: &ResourceSet) -> Digest {
    let mut triples = Vec::new();
    for spec in kinds::restore_order() {
        for (id, body) in live.kind(spec.name) {
            let stable = comparable(spec.name, body, &IdRemap::default(), Some(body));
            triples.push((
                ResourceKind::new(spec.name),
                id.clone(),
                Digest::of_json(&stable),
            ));
        }
    }
    live_fingerprint(triples.iter().map(|(k, id, d)| (k, id.as_str(), *d)))
}

/// One Graph write a plan step turns into.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GraphWrite {
    /// `POST`, `PATCH` or `DELETE`.
    pub method: &'static str,
    /// The path under the version root (`/users`, `/groups/{id}/members/$ref`).
    pub path: String,
    /// The body, for `POST` and `PATCH`.
    pub body: Option<Value>,
}

impl GraphWrite {
    /// A write of `body` (if any) with `method` to `path` (under the version root).
    pub fn new(method: &'static str, path: impl Into<String>, body: Option<Value>) -> Self {
        GraphWrite {
            method,
            path: path.into(),
            body,
        }
    }
}

/// The Graph write for one plan step, with references remapped through `remap` (which
/// the executor extends with [`record_created`] as objects are created, so a member
/// added after its group is created points at the new group). `snapshot` is the step's
/// snapshot body (creates and updates), `live` the tenant's (updates and deletes).
/// `None` for a step Graph has no write for.
pub fn write_for(
    action: butterfly_core::restore::PlanAction,
    entry: &PlanEntry,
    snapshot: Option<&Value>,
    live: Option<&Value>,
    remap: &IdRemap,
) -> Option<GraphWrite> {
    use butterfly_core::restore::PlanAction;
    let spec = kinds::by_name(entry.kind.as_str())?;
    let live_id = entry.live_id.as_deref().unwrap_or(&entry.id);
    match (spec.id, action) {
        (IdRule::Member, PlanAction::Create) => {
            let (parent, _) = entry.id.split_once('/')?;
            let body = write_body(spec.name, snapshot?, remap, None);
            Some(GraphWrite {
                method: "POST",
                path: format!("{}/$ref", spec.path_for(Some(remap.object(parent)))),
                body: Some(body),
            })
        }
        (IdRule::Member, PlanAction::Delete) => {
            let (parent, member) = live_id.split_once('/')?;
            Some(GraphWrite {
                method: "DELETE",
                path: format!("{}/{}/$ref", spec.path_for(Some(parent)), member),
                body: None,
            })
        }
        (_, PlanAction::Create) => {
            let body = snapshot?;
            // A nested kind is created under its (remapped) parent.
            let parent = match spec.name {
                "app_role_assignment" => text(body, "resourceId").map(|r| remap.object(r)),
                _ => None,
            };
            Some(GraphWrite {
                method: "POST",
                path: spec.path_for(parent),
                body: Some(write_body(spec.name, body, remap, None)),
            })
        }
        (_, PlanAction::Update) => {
            let mut body = write_body(spec.name, snapshot?, remap, live);
            // A user's password and an existing object's type are never patched.
            if let Some(map) = body.as_object_mut() {
                map.remove("passwordProfile");
            }
            Some(GraphWrite {
                method: "PATCH",
                path: format!("{}/{}", spec.path_for(None), live_id),
                body: Some(body),
            })
        }
        (_, PlanAction::Delete) => {
            let parent = match spec.name {
                "app_role_assignment" => live.and_then(|l| text(l, "resourceId")),
                _ => None,
            };
            Some(GraphWrite {
                method: "DELETE",
                path: format!("{}/{}", spec.path_for(parent), live_id),
                body: None,
            })
        }
        _ => None,
    }
}

/// Record what Graph answered to a create: the new object's id (and an application's
/// new `appId`), so later steps refer to it.
pub fn record_created(
    kind: &str,
    snapshot_id: &str,
    snapshot: &Value,
    created: &Value,
    remap: &mut IdRemap,
) {
    if let Some(id) = text(created, "id") {
        remap.insert_object(snapshot_id, id);
    }
    if kind == "application"
        && let (Some(from), Some(to)) = (text(snapshot, "appId"), text(created, "appId"))
    {
        remap.insert_app_id(from, to);
    }
}

/// Why an execution stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecuteError {
    /// Graph refused a write, with its error code and message.
    #[error("{method} {path}: Graph answered {status} {code}: {message}")]
    Graph {
        /// The method.
        method: &'static str,
        /// The path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// Graph's error code (`Authorization_RequestDenied`...).
        code: String,
        /// Graph's message (never a request body: it may hold a password).
        message: String,
    },
    /// A write could not be sent, or kept failing after the retries.
    #[error("{method} {path} failed: {reason}")]
    Write {
        /// The method.
        method: &'static str,
        /// The path.
        path: String,
        /// Why (never a request body: it may hold a password).
        reason: String,
    },
    /// A plan step failed: which one, and why.
    #[error("step #{order} {action} {kind} `{name}` ({id}): {source}")]
    Step {
        /// Its position in the plan.
        order: u64,
        /// What it tried.
        action: butterfly_core::restore::PlanAction,
        /// The kind.
        kind: String,
        /// The resource's name.
        name: String,
        /// The resource's id in the snapshot.
        id: String,
        /// Why it failed.
        #[source]
        source: Box<ExecuteError>,
    },
    /// A create's outcome is unknown: Graph may have carried it out (a `5xx`, a timeout
    /// or a dropped connection after it was sent, or a `2xx` without the new object's
    /// id). It is not sent again, since a second `POST` would make a duplicate.
    #[error("{method} {path}: {reason}; the write may have happened: check {check}")]
    Uncertain {
        /// The method.
        method: &'static str,
        /// The path.
        path: String,
        /// What went wrong.
        reason: String,
        /// What to look for in the tenant: the object's natural key.
        check: String,
    },
    /// A step names a resource the snapshot does not hold.
    #[error("`{kind}` `{id}` is not in the snapshot")]
    MissingResource {
        /// Its kind.
        kind: String,
        /// Its snapshot id.
        id: String,
    },
    /// A write would send the unfilled password placeholder (a bug: refused before it
    /// leaves).
    #[error("{method} {path} still holds the password placeholder")]
    UnfilledPassword {
        /// The method.
        method: &'static str,
        /// The path.
        path: String,
    },
    /// The journal could not be written: the run stops before its next write.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl ExecuteError {
    /// Graph's error code, when Graph refused the write (inside a [`ExecuteError::Step`]
    /// too).
    pub fn graph_code(&self) -> Option<&str> {
        match self {
            ExecuteError::Graph { code, .. } => Some(code),
            ExecuteError::Step { source, .. } => source.graph_code(),
            _ => None,
        }
    }
}

/// Sends Graph writes: the Graph client in production, a fake tenant in tests.
#[async_trait::async_trait]
pub trait GraphWriter: Send + Sync {
    /// Send one write; the created object for a `POST` that returns one.
    async fn write(&self, write: &GraphWrite) -> Result<Option<Value>, ExecuteError>;
}

pub use crate::okta::restore::execute::{ExecutionReport, StepFailure};

/// How to run an execution.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ExecuteOptions {
    /// The run's id, recorded in the journal.
    pub run_id: String,
    /// Stop (as if killed) after this many steps: for tests of resuming and undoing an
    /// interrupted run.
    pub stop_after: Option<usize>,
}

impl ExecuteOptions {
    /// Options for run `run_id`.
    pub fn new(run_id: impl Into<String>) -> Self {
        ExecuteOptions {
            run_id: run_id.into(),
            stop_after: None,
        }
    }

    /// Stop after `steps` steps.
    #[must_use]
    pub fn with_stop_after(mut self, steps: Option<usize>) -> Self {
        self.stop_after = steps;
        self
    }
}

/// A one-time password for a created user: 64 random hex digits (two v4 UUIDs) and a
/// suffix that meets Entra's complexity rule. Sent once, never stored nor logged.
fn one_time_password() -> String {
    format!(
        "{}{}!Aa1",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Fill the [`PASSWORD_PLACEHOLDER`] of a write (a created user's
/// `passwordProfile.password`) with a fresh one-time password, and return it so errors
/// can be scrubbed of it. Every write a restore or an undo sends goes through
/// [`send_write`], which calls this: no path can send the placeholder itself.
pub fn fill_password(write: &mut GraphWrite) -> Option<String> {
    let slot = write
        .body
        .as_mut()
        .and_then(|b| b.pointer_mut("/passwordProfile/password"))?;
    if slot.as_str() != Some(PASSWORD_PLACEHOLDER) {
        return None;
    }
    let password = one_time_password();
    *slot = json!(password);
    Some(password)
}

/// `text` with every occurrence of `secret` masked.
fn scrub(text: &mut String, secret: &str) {
    if text.contains(secret) {
        *text = text.replace(secret, "[one-time password]");
    }
}

/// Send one write through `writer`: the password placeholder filled first
/// ([`fill_password`]), a body still holding it refused before it leaves, and the
/// password masked in any error. The password is dropped with the request.
pub async fn send_write(
    writer: &dyn GraphWriter,
    mut write: GraphWrite,
) -> Result<Option<Value>, ExecuteError> {
    let password = fill_password(&mut write);
    if write
        .body
        .as_ref()
        .is_some_and(|b| b.to_string().contains(PASSWORD_PLACEHOLDER))
    {
        return Err(ExecuteError::UnfilledPassword {
            method: write.method,
            path: write.path,
        });
    }
    let result = writer.write(&write).await;
    drop(write);
    match (result, password) {
        (Err(mut e), Some(password)) => {
            match &mut e {
                ExecuteError::Graph { message, .. } => scrub(message, &password),
                ExecuteError::Write { reason, .. } | ExecuteError::Uncertain { reason, .. } => {
                    scrub(reason, &password);
                }
                _ => {}
            }
            Err(e)
        }
        (result, _) => result,
    }
}

/// What to look for in the tenant to learn whether `write` happened: a user's
/// `userPrincipalName`, another object's `displayName`, or else the path (a `$ref`
/// names both ends).
pub(crate) fn write_check(write: &GraphWrite) -> String {
    let body = write.body.as_ref();
    if let Some(upn) = body.and_then(|b| text(b, "userPrincipalName")) {
        return format!("the user with userPrincipalName `{upn}`");
    }
    match body.and_then(|b| text(b, "displayName")) {
        Some(name) => format!("{} with displayName `{name}`", write.path),
        None => format!("{} in the tenant", write.path),
    }
}

/// The remap a run starts from: objects the plan matched keep their tenant ids.
fn initial_remap(plan: &RestorePlan, snapshot: &ResourceSet, live: &ResourceSet) -> IdRemap {
    let mut remap = IdRemap::default();
    for (_, entry) in plan.steps() {
        if let Some(live_id) = &entry.live_id {
            remap.insert_object(entry.id.clone(), live_id.clone());
        }
    }
    for entry in &plan.skip {
        if let Some(live_id) = &entry.live_id {
            remap.insert_object(entry.id.clone(), live_id.clone());
            if entry.kind.as_str() == "application"
                && let (Some(from), Some(to)) = (
                    snapshot
                        .get("application", &entry.id)
                        .and_then(|b| text(b, "appId")),
                    live.get("application", live_id)
                        .and_then(|b| text(b, "appId")),
                )
            {
                remap.insert_app_id(from, to);
            }
        }
    }
    remap
}

/// Execute `plan`'s steps in order through `writer`, remapping references to the ids
/// Graph gives created objects, and journal each step (synced when the journal is a
/// file) before the next write goes out. `snapshot` holds the bodies the plan writes
/// (for an undo plan: the undo snapshot's), `live` the tenant as read for the plan.
///
/// The run stops at the first step Graph refuses (later steps may depend on it): that
/// step is journaled as failed and its error, naming the step, Graph's code and message,
/// is returned. What was done before it is in the journal, so [`undo_plan`] takes it
/// back; re-planning and running again continues it (created objects are matched by
/// name, not created twice). A delete Graph answers `404` counts as done.
pub async fn execute(
    plan: &RestorePlan,
    snapshot: &ResourceSet,
    live: &ResourceSet,
    writer: &dyn GraphWriter,
    journal: &mut Journal,
    options: &ExecuteOptions,
) -> Result<ExecutionReport, ExecuteError> {
    use butterfly_core::restore::PlanAction;
    let mut report = ExecutionReport::default();
    report.run_id.clone_from(&options.run_id);
    journal.append(JournalRecord::Run {
        run_id: options.run_id.clone(),
        mode: plan.mode,
        snapshot_id: plan.snapshot_id,
        org: plan.org.clone(),
        plan_fingerprint: plan.fingerprint,
    })?;
    report.undo_snapshot = journal.undo_snapshot();
    let undoing = plan.mode == RestoreMode::Undo;
    let mut remap = initial_remap(plan, snapshot, live);
    for (n, (action, entry)) in plan.steps().into_iter().enumerate() {
        if options.stop_after.is_some_and(|limit| n >= limit) {
            report.interrupted = true;
            return Ok(report);
        }
        let kind = entry.kind.as_str();
        let body = snapshot.get(kind, &entry.id);
        let live_body = entry.live_id.as_deref().and_then(|l| live.get(kind, l));
        let step_error = |source: ExecuteError| ExecuteError::Step {
            order: entry.order,
            action,
            kind: kind.to_owned(),
            name: entry.name.clone(),
            id: entry.id.clone(),
            source: Box::new(source),
        };
        let result = if action != PlanAction::Delete && body.is_none() {
            Err(ExecuteError::MissingResource {
                kind: kind.to_owned(),
                id: entry.id.clone(),
            })
        } else {
            // An undo puts the body back exactly (a policy's state too); a restore
            // decides the state against the tenant's.
            let against = if undoing && action == PlanAction::Update {
                body
            } else {
                live_body
            };
            match write_for(action, entry, body, against, &remap) {
                None => Ok(None),
                Some(write) => {
                    let check = write_check(&write);
                    let (method, path) = (write.method, write.path.clone());
                    match send_write(writer, write).await {
                        Err(ExecuteError::Graph { status: 404, .. })
                            if action == PlanAction::Delete =>
                        {
                            Ok(None)
                        }
                        // Journaled without its tenant id, an undo could not delete it.
                        Ok(created)
                            if action == PlanAction::Create
                                && !entry.id.contains('/')
                                && created.as_ref().and_then(|c| text(c, "id")).is_none() =>
                        {
                            Err(ExecuteError::Uncertain {
                                method,
                                path,
                                reason: "Graph's reply has no id for the new object".to_owned(),
                                check,
                            })
                        }
                        other => other,
                    }
                }
            }
        };
        let created = match result {
            Ok(created) => created,
            Err(e) => {
                let e = step_error(e);
                report.failed += 1;
                report.failures.push(StepFailure {
                    order: entry.order,
                    action,
                    kind: kind.to_owned(),
                    id: entry.id.clone(),
                    error: e.to_string(),
                });
                journal.append(JournalRecord::Step {
                    plan_fingerprint: plan.fingerprint,
                    order: entry.order,
                    action,
                    kind: entry.kind.clone(),
                    id: entry.id.clone(),
                    live_id: None,
                    outcome: StepOutcome::Failed,
                    error: Some(e.to_string()),
                })?;
                return Err(e);
            }
        };
        let live_id = match (action, body) {
            (PlanAction::Create, Some(body)) => {
                if let Some(created) = &created {
                    record_created(kind, &entry.id, body, created, &mut remap);
                }
                match entry.id.split_once('/') {
                    Some((parent, member)) => {
                        Some(format!("{}/{}", remap.object(parent), remap.object(member)))
                    }
                    None => created
                        .as_ref()
                        .and_then(|c| text(c, "id"))
                        .map(str::to_owned),
                }
            }
            _ => entry.live_id.clone(),
        };
        report.done += 1;
        journal.append(JournalRecord::Step {
            plan_fingerprint: plan.fingerprint,
            order: entry.order,
            action,
            kind: entry.kind.clone(),
            id: entry.id.clone(),
            live_id,
            outcome: StepOutcome::Done,
            error: None,
        })?;
    }
    journal.append(JournalRecord::Finished {
        done: report.done,
        failed: report.failed,
    })?;
    Ok(report)
}

/// The plan that takes back every step `journal` records as done: what the runs
/// created is deleted (children first), what they updated or deleted is put back from
/// `before`, the undo snapshot of the live versions they replaced. `live` is the tenant
/// now, so what is already gone is skipped.
pub fn undo_plan(
    journal: &Journal,
    before: Option<(SnapshotId, &ResourceSet)>,
    live: &ResourceSet,
    org: &str,
    now: DateTime<Utc>,
) -> RestorePlan {
    use butterfly_core::restore::PlanAction;
    let rules = DiffRules::for_provider(ProviderKind::EntraId);
    let original = journal.records().iter().find_map(|r| match r {
        JournalRecord::Run { snapshot_id, .. } => Some(*snapshot_id),
        _ => None,
    });
    let snapshot_id = before
        .map(|(id, _)| id)
        .or(original)
        .unwrap_or_else(SnapshotId::new_random);
    let mut plan = RestorePlan::new(
        snapshot_id,
        ProviderKind::EntraId,
        org.to_owned(),
        now,
        RestoreMode::Undo,
        RestoreOptions::default(),
        live_fingerprint_of(live),
    );
    let top = kinds::restore_order()
        .iter()
        .filter_map(|k| k.restore_rank)
        .max()
        .unwrap_or(0);
    let mut seen = BTreeSet::new();
    for (_, _, action, kind, _, live_id) in journal.done_steps() {
        let Some(live_id) = live_id else { continue };
        let Some(spec) = kinds::by_name(kind.as_str()) else {
            continue;
        };
        if !seen.insert((kind.clone(), live_id.to_owned(), action)) {
            continue;
        }
        let rank = u64::from(spec.restore_rank.unwrap_or(0));
        let current = live.get(kind.as_str(), live_id);
        let previous = before.and_then(|(_, set)| set.get(kind.as_str(), live_id));
        let name = |body: Option<&Value>| {
            body.and_then(|b| rules.name_of(kind, b))
                .unwrap_or_else(|| live_id.to_owned())
        };
        let mut entry = PlanEntry::new(kind.clone(), live_id, "", "").with_live_id(live_id);
        match action {
            PlanAction::Create => {
                entry.name = name(current);
                // Children before their parents.
                entry.order = u64::from(top) - rank;
                if current.is_some() {
                    "created by the run: deleted".clone_into(&mut entry.reason);
                    plan.delete.push(entry);
                } else {
                    "created by the run, already gone".clone_into(&mut entry.reason);
                    plan.skip.push(entry);
                }
            }
            PlanAction::Update | PlanAction::Delete => {
                entry.name = name(previous);
                entry.order = u64::from(top) + 1 + rank;
                match (previous, current, action) {
                    (None, _, _) => {
                        "its earlier version is not in the undo snapshot"
                            .clone_into(&mut entry.reason);
                        plan.skip.push(entry);
                    }
                    (Some(_), Some(_), PlanAction::Update) => {
                        "updated by the run: put back".clone_into(&mut entry.reason);
                        plan.update.push(entry);
                    }
                    (Some(_), None, PlanAction::Delete) => {
                        "deleted by the run: created again".clone_into(&mut entry.reason);
                        entry.live_id = None;
                        plan.create.push(entry);
                    }
                    _ => {
                        "already as it was, or gone since".clone_into(&mut entry.reason);
                        plan.skip.push(entry);
                    }
                }
            }
            _ => {}
        }
    }
    plan.seal();
    plan
}

#[cfg(test)]
mod tests {
    use butterfly_core::source::InMemorySnapshotSource;
    use butterfly_core::{Resource, SnapshotStatus};

    use super::*;

    fn res(kind: &str, id: &str, body: Value) -> Resource {
        Resource::new(ResourceKind::new(kind), id, body)
    }

    /// A small tenant: two users, a group with one member, an app and its service
    /// principal with an app role assignment, a named location, a CA policy referring to
    /// all of them, and a kind a restore does not write.
    fn tenant() -> Vec<Resource> {
        vec![
            res(
                "user",
                "u1",
                json!({"id": "u1", "userPrincipalName": "ada@contoso.com", "displayName": "Ada", "accountEnabled": true, "signInActivity": {"lastSignInDateTime": "2026-11-01T00:00:00Z"}}),
            ),
            res(
                "user",
                "u2",
                json!({"id": "u2", "userPrincipalName": "bob@contoso.com", "displayName": "Bob", "accountEnabled": true}),
            ),
            res(
                "group",
                "g1",
                json!({"id": "g1", "displayName": "Finance", "securityEnabled": true, "mailEnabled": false, "mailNickname": "finance", "groupTypes": []}),
            ),
            res(
                "group_member",
                "g1/u1",
                json!({"parentId": "g1", "id": "u1", "@odata.type": "#microsoft.graph.user"}),
            ),
            res(
                "application",
                "a1",
                json!({"id": "a1", "appId": "c1", "displayName": "Payroll", "signInAudience": "AzureADMyOrg",
                "passwordCredentials": [{"keyId": "k1", "displayName": "prod", "secretText": null}], "keyCredentials": []}),
            ),
            res(
                "service_principal",
                "s1",
                json!({"id": "s1", "appId": "c1", "displayName": "Payroll", "accountEnabled": true,
                "appRoleAssignmentRequired": true, "passwordCredentials": [], "keyCredentials": []}),
            ),
            res(
                "app_role_assignment",
                "ar1",
                json!({"id": "ar1", "principalId": "g1", "principalType": "Group", "resourceId": "s1",
                "appRoleId": "00000000-0000-0000-0000-000000000000", "principalDisplayName": "Finance"}),
            ),
            res(
                "named_location",
                "l1",
                json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "id": "l1", "displayName": "Office",
                "isTrusted": true, "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24"}],
                "modifiedDateTime": "2026-01-01T00:00:00Z"}),
            ),
            res(
                "conditional_access_policy",
                "p1",
                json!({"id": "p1", "displayName": "MFA outside the office", "state": "enabled",
                "modifiedDateTime": "2026-01-01T00:00:00Z",
                "conditions": {"users": {"includeUsers": ["All"], "excludeUsers": ["u2"], "includeGroups": [], "excludeGroups": ["g1"], "includeRoles": [], "excludeRoles": []},
                    "applications": {"includeApplications": ["All"], "excludeApplications": ["c1"]},
                    "locations": {"includeLocations": ["All"], "excludeLocations": ["l1"]}},
                "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}}),
            ),
            res(
                "domain",
                "contoso.com",
                json!({"id": "contoso.com", "isVerified": true}),
            ),
        ]
    }

    fn set(resources: &[Resource]) -> ResourceSet {
        let mut out = ResourceSet::new();
        for r in resources {
            out.insert(r.clone());
        }
        out
    }

    fn plan_for(live: &[Resource], options: &RestoreOptions) -> RestorePlan {
        let mut source = InMemorySnapshotSource::new();
        let snapshot = source.insert(
            ProviderKind::EntraId,
            "contoso.onmicrosoft.com",
            DateTime::<Utc>::UNIX_EPOCH,
            SnapshotStatus::Complete,
            tenant(),
        );
        let snap = set(&tenant());
        let live = set(live);
        plan(&PlanInput::new(
            &snapshot,
            &snap,
            &live,
            options,
            DateTime::<Utc>::UNIX_EPOCH,
        ))
    }

    fn names(entries: &[PlanEntry]) -> Vec<(String, String)> {
        entries
            .iter()
            .map(|e| (e.kind.as_str().to_owned(), e.id.clone()))
            .collect()
    }

    #[test]
    fn an_unchanged_tenant_plans_no_writes() {
        let mut live = tenant();
        // Sign-ins and modification times are no change.
        live[0].attributes["signInActivity"]["lastSignInDateTime"] = json!("2026-12-01T00:00:00Z");
        live[8].attributes["modifiedDateTime"] = json!("2026-12-01T00:00:00Z");
        let plan = plan_for(&live, &RestoreOptions::default().with_overwrite(true));
        assert_eq!(plan.write_count(), 0, "{:#?}", plan.steps());
        assert_eq!(plan.skip.len(), 9);
        assert!(plan.skip.iter().all(|e| e.reason == "equal"));
        plan.verify().unwrap();
    }

    #[test]
    fn deleted_objects_come_back_safely_and_changes_are_updated() {
        // Mutations: a user, a group (and so its membership and assignment), a CA policy
        // deleted; the named location changed.
        let mut live: Vec<Resource> = tenant()
            .into_iter()
            .filter(|r| !matches!(r.id.as_str(), "u1" | "g1" | "g1/u1" | "ar1" | "p1"))
            .collect();
        for r in &mut live {
            if r.id == "l1" {
                r.attributes["ipRanges"][0]["cidrAddress"] = json!("0.0.0.0/0");
            }
        }
        let plan = plan_for(&live, &RestoreOptions::default().with_overwrite(true));
        assert_eq!(
            names(&plan.create),
            vec![
                ("user".to_owned(), "u1".to_owned()),
                ("group".to_owned(), "g1".to_owned()),
                ("group_member".to_owned(), "g1/u1".to_owned()),
                ("app_role_assignment".to_owned(), "ar1".to_owned()),
                ("conditional_access_policy".to_owned(), "p1".to_owned()),
            ]
        );
        assert_eq!(
            names(&plan.update),
            vec![("named_location".to_owned(), "l1".to_owned())]
        );
        assert_eq!(plan.update[0].changes[0].change.pointer, "/ipRanges");
        // Creates before the update that follows them in dependency order, in order.
        let orders: Vec<u64> = plan.steps().iter().map(|(_, e)| e.order).collect();
        assert!(orders.windows(2).all(|w| w[0] < w[1]), "{orders:?}");
        let user = &plan.create[0];
        assert!(user.reason.contains("disabled"), "{}", user.reason);
        let policy = &plan.create[4];
        assert!(policy.reason.contains(REPORT_ONLY), "{}", policy.reason);
        let follow = |needle: &str| plan.follow_ups.iter().find(|f| f.what.contains(needle));
        assert_eq!(
            follow("report-only").unwrap().resources,
            vec!["MFA outside the office".to_owned()]
        );
        assert_eq!(
            follow("disabled").unwrap().resources,
            vec!["ada@contoso.com".to_owned()]
        );
        assert_eq!(
            follow("does not write").unwrap().resources,
            vec!["domain".to_owned()]
        );
        plan.verify().unwrap();
        // Pure: the same input gives the same plan.
        let mut again = plan_for(&live, &RestoreOptions::default().with_overwrite(true));
        again.snapshot_id = plan.snapshot_id;
        again.seal();
        assert_eq!(plan, again);
        // Without overwrite the change is only shown.
        let shown = plan_for(&live, &RestoreOptions::default());
        assert!(shown.update.is_empty());
        assert!(
            shown
                .skip
                .iter()
                .any(|e| e.id == "l1" && !e.changes.is_empty())
        );
    }

    #[test]
    fn recreated_objects_match_by_name_and_references_follow_them() {
        // The tenant re-created Ada and Finance under new ids.
        let mut live = tenant();
        for r in &mut live {
            match r.id.as_str() {
                "u1" => {
                    r.id = "u9".to_owned();
                    r.attributes["id"] = json!("u9");
                }
                "g1" => {
                    r.id = "g9".to_owned();
                    r.attributes["id"] = json!("g9");
                }
                "g1/u1" => {
                    r.id = "g9/u9".to_owned();
                    r.attributes = json!({"parentId": "g9", "id": "u9", "@odata.type": "#microsoft.graph.user"});
                }
                "ar1" => r.attributes["principalId"] = json!("g9"),
                "p1" => r.attributes["conditions"]["users"]["excludeGroups"] = json!(["g9"]),
                _ => {}
            }
        }
        let plan = plan_for(&live, &RestoreOptions::default().with_overwrite(true));
        assert_eq!(plan.write_count(), 0, "{:#?}", plan.steps());
        let ada = plan.skip.iter().find(|e| e.id == "u1").unwrap();
        assert_eq!(ada.live_id.as_deref(), Some("u9"));
        let member = plan.skip.iter().find(|e| e.id == "g1/u1").unwrap();
        assert_eq!(member.live_id.as_deref(), Some("g9/u9"));
    }

    #[test]
    fn delete_extra_never_deletes_users_or_microsofts_apps() {
        let mut live = tenant();
        live.push(res(
            "user",
            "u7",
            json!({"id": "u7", "userPrincipalName": "eve@contoso.com"}),
        ));
        live.push(res(
            "group",
            "g7",
            json!({"id": "g7", "displayName": "Shadow admins"}),
        ));
        live.push(res("service_principal", "s7", json!({"id": "s7", "appId": "00000003-0000-0000-c000-000000000000",
            "displayName": "Microsoft Graph", "appOwnerOrganizationId": "f8cdef31-a31e-4b4a-93e4-5f571e91255a"})));
        let plan = plan_for(&live, &RestoreOptions::default().with_delete_extra(true));
        assert_eq!(
            names(&plan.delete),
            vec![("group".to_owned(), "g7".to_owned())]
        );
    }

    #[test]
    fn write_bodies_are_safe() {
        let tenant = tenant();
        let mut remap = IdRemap::default();
        remap.insert_object("u2", "u22");
        remap.insert_object("g1", "g11");
        remap.insert_object("l1", "l11");
        remap.insert_app_id("c1", "c11");
        let user = write_body("user", &tenant[0].attributes, &remap, None);
        assert_eq!(user["accountEnabled"], json!(false));
        assert_eq!(
            user["passwordProfile"]["forceChangePasswordNextSignIn"],
            json!(true)
        );
        assert_eq!(
            user["passwordProfile"]["password"],
            json!(PASSWORD_PLACEHOLDER)
        );
        assert!(user.get("id").is_none() && user.get("signInActivity").is_none());
        // An existing user is not disabled by an update.
        let update = write_body(
            "user",
            &tenant[0].attributes,
            &remap,
            Some(&tenant[0].attributes),
        );
        assert_eq!(update["accountEnabled"], json!(true));
        assert!(update.get("passwordProfile").is_none());
        // Nor enabled by one: a disabled tenant copy stays disabled.
        let mut disabled = tenant[0].attributes.clone();
        disabled["accountEnabled"] = json!(false);
        let update = write_body("user", &tenant[0].attributes, &remap, Some(&disabled));
        assert_eq!(update["accountEnabled"], json!(false));
        let app = write_body("application", &tenant[4].attributes, &remap, None);
        assert!(app.get("passwordCredentials").is_none() && app.get("appId").is_none());
        let sp = write_body("service_principal", &tenant[5].attributes, &remap, None);
        assert_eq!(sp["appId"], json!("c11"));
        let location = write_body("named_location", &tenant[7].attributes, &remap, None);
        assert_eq!(
            location["@odata.type"],
            json!("#microsoft.graph.ipNamedLocation")
        );
        let policy = write_body(
            "conditional_access_policy",
            &tenant[8].attributes,
            &remap,
            None,
        );
        assert_eq!(policy["state"], json!(REPORT_ONLY));
        assert_eq!(
            policy["conditions"]["users"]["excludeUsers"],
            json!(["u22"])
        );
        assert_eq!(
            policy["conditions"]["users"]["excludeGroups"],
            json!(["g11"])
        );
        assert_eq!(
            policy["conditions"]["users"]["includeUsers"],
            json!(["All"])
        );
        assert_eq!(
            policy["conditions"]["locations"]["excludeLocations"],
            json!(["l11"])
        );
        assert_eq!(
            policy["conditions"]["applications"]["excludeApplications"],
            json!(["c11"])
        );
        // An update never enforces: a report-only tenant policy stays report-only, a
        // disabled snapshot policy is written disabled.
        let mut live = tenant[8].attributes.clone();
        live["state"] = json!(REPORT_ONLY);
        assert_eq!(
            write_body(
                "conditional_access_policy",
                &tenant[8].attributes,
                &remap,
                Some(&live)
            )["state"],
            json!(REPORT_ONLY)
        );
        let mut disabled = tenant[8].attributes.clone();
        disabled["state"] = json!("disabled");
        assert_eq!(
            write_body(
                "conditional_access_policy",
                &disabled,
                &remap,
                Some(&tenant[8].attributes)
            )["state"],
            json!("disabled")
        );
        let member = write_body(
            "group_member",
            &tenant[3].attributes,
            &{
                let mut r = IdRemap::default();
                r.insert_object("u1", "u11");
                r
            },
            None,
        );
        assert_eq!(
            member,
            json!({"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/u11"})
        );
        let assignment = write_body("app_role_assignment", &tenant[6].attributes, &remap, None);
        assert_eq!(assignment["principalId"], json!("g11"));
        assert!(assignment.get("principalDisplayName").is_none());
    }
    #[test]
    fn steps_become_graph_writes_with_ids_remapped_as_objects_are_created() {
        use butterfly_core::restore::PlanAction;
        let tenant = tenant();
        let live: Vec<Resource> = tenant
            .iter()
            .filter(|r| !matches!(r.id.as_str(), "u1" | "g1" | "g1/u1" | "ar1" | "p1"))
            .cloned()
            .map(|mut r| {
                if r.id == "l1" {
                    r.attributes["ipRanges"][0]["cidrAddress"] = json!("0.0.0.0/0");
                }
                r
            })
            .collect();
        let plan = plan_for(&live, &RestoreOptions::default().with_overwrite(true));
        let snap = set(&tenant);
        let live_set = set(&live);
        let mut remap = IdRemap::default();
        let mut writes = Vec::new();
        for (action, entry) in plan.steps() {
            let body = snap.get(entry.kind.as_str(), &entry.id);
            let live_body = entry
                .live_id
                .as_deref()
                .and_then(|l| live_set.get(entry.kind.as_str(), l));
            let write = write_for(action, entry, body, live_body, &remap).unwrap();
            // What the tenant would answer: a new id per created object.
            if action == PlanAction::Create {
                let created = json!({"id": format!("new-{}", entry.id)});
                record_created(
                    entry.kind.as_str(),
                    &entry.id,
                    body.unwrap(),
                    &created,
                    &mut remap,
                );
            }
            writes.push(write);
        }
        let routes: Vec<String> = writes
            .iter()
            .map(|w| format!("{} {}", w.method, w.path))
            .collect();
        assert_eq!(
            routes,
            vec![
                "POST /users",
                "POST /groups",
                "PATCH /identity/conditionalAccess/namedLocations/l1",
                "POST /groups/new-g1/members/$ref",
                "POST /servicePrincipals/s1/appRoleAssignedTo",
                "POST /identity/conditionalAccess/policies",
            ]
        );
        assert_eq!(
            writes[0].body.as_ref().unwrap()["accountEnabled"],
            json!(false)
        );
        assert_eq!(
            writes[3].body,
            Some(json!({"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/new-u1"}))
        );
        assert_eq!(
            writes[4].body.as_ref().unwrap()["principalId"],
            json!("new-g1")
        );
        let policy = writes[5].body.as_ref().unwrap();
        assert_eq!(policy["state"], json!(REPORT_ONLY));
        assert_eq!(
            policy["conditions"]["users"]["excludeGroups"],
            json!(["new-g1"])
        );
        // Undo (as undo_plan makes it): creates are deleted by their new ids, the
        // update is patched back to the tenant's earlier body.
        let mut user = plan.create[0].clone();
        user.live_id = Some("new-u1".to_owned());
        assert_eq!(
            write_for(PlanAction::Delete, &user, None, None, &IdRemap::default())
                .map(|w| format!("{} {}", w.method, w.path)),
            Some("DELETE /users/new-u1".to_owned())
        );
        let location = &plan.update[0];
        let before = live_set.get("named_location", "l1").unwrap();
        let back = write_for(
            PlanAction::Update,
            location,
            Some(before),
            Some(before),
            &IdRemap::default(),
        )
        .unwrap();
        assert_eq!(back.method, "PATCH");
        assert_eq!(
            back.body.unwrap()["ipRanges"][0]["cidrAddress"],
            json!("0.0.0.0/0")
        );
        let member = &plan.create[2];
        let mut created_member = member.clone();
        created_member.live_id = Some("new-g1/new-u1".to_owned());
        assert_eq!(
            write_for(
                PlanAction::Delete,
                &created_member,
                None,
                None,
                &IdRemap::default()
            )
            .map(|w| format!("{} {}", w.method, w.path)),
            Some("DELETE /groups/new-g1/members/new-u1/$ref".to_owned())
        );
    }
    /// A tenant in memory that answers Graph writes the way Graph does.
    struct FakeTenant {
        state: std::sync::Mutex<(ResourceSet, u32, Vec<String>)>,
    }

    impl FakeTenant {
        fn new(live: &[Resource]) -> Self {
            FakeTenant {
                state: std::sync::Mutex::new((set(live), 0, Vec::new())),
            }
        }
        fn resources(&self) -> ResourceSet {
            self.state.lock().unwrap().0.clone()
        }
    }

    fn top_level(path: &str) -> Option<(&'static str, Option<String>)> {
        kinds::restore_order()
            .into_iter()
            .filter(|k| k.parent.is_none())
            .find_map(|k| {
                if path == k.path {
                    Some((k.name, None))
                } else {
                    let rest = path.strip_prefix(k.path)?.strip_prefix('/')?;
                    (!rest.contains('/')).then(|| (k.name, Some(rest.to_owned())))
                }
            })
    }

    #[async_trait::async_trait]
    impl GraphWriter for FakeTenant {
        async fn write(&self, write: &GraphWrite) -> Result<Option<Value>, ExecuteError> {
            let mut guard = self.state.lock().unwrap();
            let (tenant, next, passwords) = &mut *guard;
            let parts: Vec<&str> = write.path.trim_start_matches('/').split('/').collect();
            let mut remove = |kind: &str, id: &str| {
                let mut all = std::mem::take(tenant).into_resources();
                all.retain(|r| !(r.kind.as_str() == kind && r.id == id));
                *tenant = set(&all);
            };
            match (write.method, parts.as_slice()) {
                ("POST", ["groups", g, "members", "$ref"]) => {
                    let member = write
                        .body
                        .as_ref()
                        .and_then(|b| text(b, "@odata.id"))
                        .unwrap()
                        .rsplit('/')
                        .next()
                        .unwrap();
                    tenant.insert(res("group_member", &format!("{g}/{member}"), json!({"parentId": g, "id": member, "@odata.type": "#microsoft.graph.user"})));
                    Ok(None)
                }
                ("DELETE", ["groups", g, "members", m, "$ref"]) => {
                    remove("group_member", &format!("{g}/{m}"));
                    Ok(None)
                }
                ("POST", ["servicePrincipals", _, "appRoleAssignedTo"]) => {
                    *next += 1;
                    let mut body = write.body.clone().unwrap();
                    body["id"] = json!(format!("new{next}"));
                    tenant.insert(res(
                        "app_role_assignment",
                        &format!("new{next}"),
                        body.clone(),
                    ));
                    Ok(Some(body))
                }
                ("DELETE", ["servicePrincipals", _, "appRoleAssignedTo", id]) => {
                    remove("app_role_assignment", id);
                    Ok(None)
                }
                (method, _) => {
                    let (kind, id) = top_level(&write.path).unwrap();
                    match (method, id) {
                        ("POST", None) => {
                            *next += 1;
                            let mut body = write.body.clone().unwrap();
                            if let Some(password) = body
                                .pointer("/passwordProfile/password")
                                .and_then(Value::as_str)
                            {
                                if password == PASSWORD_PLACEHOLDER {
                                    return Err(ExecuteError::Graph {
                                        method: "POST",
                                        path: write.path.clone(),
                                        status: 400,
                                        code: "Request_BadRequest".into(),
                                        message: "placeholder".into(),
                                    });
                                }
                                passwords.push(password.to_owned());
                            }
                            body.as_object_mut().unwrap().remove("passwordProfile");
                            body["id"] = json!(format!("new{next}"));
                            tenant.insert(res(kind, &format!("new{next}"), body.clone()));
                            Ok(Some(body))
                        }
                        ("PATCH", Some(id)) => {
                            let mut current = tenant.get(kind, &id).unwrap().clone();
                            for (k, v) in write.body.as_ref().unwrap().as_object().unwrap() {
                                current[k] = v.clone();
                            }
                            tenant.insert(res(kind, &id, current));
                            Ok(None)
                        }
                        ("DELETE", Some(id)) => {
                            remove(kind, &id);
                            Ok(None)
                        }
                        _ => panic!("unexpected {} {}", write.method, write.path),
                    }
                }
            }
        }
    }

    #[test]
    fn execute_restores_the_mutated_tenant_and_undo_puts_it_back() {
        let tenant = tenant();
        let live: Vec<Resource> = tenant
            .iter()
            .filter(|r| !matches!(r.id.as_str(), "u1" | "g1" | "g1/u1" | "ar1" | "p1"))
            .cloned()
            .map(|mut r| {
                if r.id == "l1" {
                    r.attributes["ipRanges"][0]["cidrAddress"] = json!("0.0.0.0/0");
                }
                r
            })
            .collect();
        let options = RestoreOptions::default().with_overwrite(true);
        let plan = plan_for(&live, &options);
        let fake = FakeTenant::new(&live);
        let before = fake.resources();
        let mut journal = Journal::in_memory();
        let report = futures::executor::block_on(execute(
            &plan,
            &set(&tenant),
            &before,
            &fake,
            &mut journal,
            &ExecuteOptions::new("run-1"),
        ))
        .unwrap();
        assert_eq!(report.done, plan.write_count() as u64);
        assert!(journal.is_finished());
        // The created user got a real one-time password, which the journal does not hold.
        let passwords = fake.state.lock().unwrap().2.clone();
        assert_eq!(passwords.len(), 1);
        assert!(passwords[0].len() >= 64 && passwords[0] != PASSWORD_PLACEHOLDER);
        assert!(!format!("{:?}", journal.records()).contains(&passwords[0]));
        // Planned again (the same restore run again), the restored tenant matches the
        // snapshot apart from what a restore leaves for a person to do: the user it
        // created disabled stays disabled, and the plan says so.
        let after = fake.resources();
        let mut source = InMemorySnapshotSource::new();
        let snapshot = source.insert(
            ProviderKind::EntraId,
            "contoso.onmicrosoft.com",
            DateTime::<Utc>::UNIX_EPOCH,
            SnapshotStatus::Complete,
            tenant.clone(),
        );
        let again = super::plan(&PlanInput::new(
            &snapshot,
            &set(&tenant),
            &after,
            &options,
            DateTime::<Utc>::UNIX_EPOCH,
        ));
        assert!(
            again.create.is_empty() && again.delete.is_empty() && again.update.is_empty(),
            "{:#?}",
            again.steps()
        );
        let kept = again
            .follow_ups
            .iter()
            .find(|f| f.what.contains("never enables an account"))
            .unwrap();
        assert_eq!(kept.count, 1, "{kept:?}");
        // The restored policy is report-only and excludes the re-created group.
        let (_, policy) = after.kind("conditional_access_policy").next().unwrap();
        assert_eq!(policy["state"], json!(REPORT_ONLY));
        let new_group = after
            .kind("group")
            .find(|(_, g)| g["displayName"] == "Finance")
            .unwrap()
            .0
            .clone();
        assert_eq!(
            policy["conditions"]["users"]["excludeGroups"],
            json!([new_group])
        );
        assert!(
            after
                .kind("group_member")
                .any(|(id, _)| id.starts_with(&format!("{new_group}/")))
        );
        // Undo: the tenant is as it was before the restore.
        let now_live = fake.resources();
        let undo = undo_plan(
            &journal,
            Some((SnapshotId::new_random(), &before)),
            &now_live,
            "contoso.onmicrosoft.com",
            DateTime::<Utc>::UNIX_EPOCH,
        );
        assert_eq!(undo.delete.len(), 5, "{:#?}", undo.steps());
        assert_eq!(undo.update.len(), 1);
        let mut undo_journal = Journal::in_memory();
        futures::executor::block_on(execute(
            &undo,
            &before,
            &now_live,
            &fake,
            &mut undo_journal,
            &ExecuteOptions::new("undo-1"),
        ))
        .unwrap();
        assert_eq!(fake.resources(), before);
    }

    /// A tenant whose create replies lose the new object's id.
    struct NoIdEcho(FakeTenant);

    #[async_trait::async_trait]
    impl GraphWriter for NoIdEcho {
        async fn write(&self, write: &GraphWrite) -> Result<Option<Value>, ExecuteError> {
            let mut reply = self.0.write(write).await?;
            if let Some(Value::Object(map)) = &mut reply {
                map.remove("id");
            }
            Ok(reply)
        }
    }

    #[test]
    fn a_create_answered_without_an_id_fails_as_may_have_happened() {
        let tenant = tenant();
        let live: Vec<Resource> = tenant.iter().filter(|r| r.id != "u1").cloned().collect();
        let plan = plan_for(&live, &RestoreOptions::default());
        assert_eq!(
            names(&plan.create),
            vec![("user".to_owned(), "u1".to_owned())]
        );
        let fake = NoIdEcho(FakeTenant::new(&live));
        let mut journal = Journal::in_memory();
        let error = futures::executor::block_on(execute(
            &plan,
            &set(&tenant),
            &set(&live),
            &fake,
            &mut journal,
            &ExecuteOptions::new("run-1"),
        ))
        .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains(
                "may have happened: check the user with userPrincipalName `ada@contoso.com`"
            ),
            "{message}"
        );
        // Not journaled as done without an id (an undo could not delete it).
        assert_eq!(journal.done_steps().count(), 0);
        assert!(journal.records().iter().any(|r| matches!(
            r,
            JournalRecord::Step {
                outcome: StepOutcome::Failed,
                ..
            }
        )));
    }
}
