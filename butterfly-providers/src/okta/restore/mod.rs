//! Restore and environment sync for Okta: a plan, then an execution.
//!
//! - [`plan`](mod@plan): reads the live org for the kinds in scope (with the backup fetcher,
//!   [`read_live`]), compares it with a snapshot and produces a
//!   [`RestorePlan`](butterfly_core::restore::RestorePlan): create, update, delete
//!   (only when asked, never users) and skip, each with its reason, in dependency order.
//!   Resources match by id, then by name (login, group name, label, name), so a resource
//!   deleted and re-created, or a second run, is found again; a sync matches by name only.
//! - [`writer`]: the requests each step sends (pure functions of the step, the body and
//!   the id map), and the [`WriteTransport`] they go through: the
//!   fetcher's signed-in [`OktaSession`](crate::okta::fetcher::OktaSession) in
//!   production, a fake in tests.
//! - [`remap`]: ids that change on re-creation (a deleted group comes back with a new
//!   id) are replaced everywhere later bodies and paths mention them: group rules, policy
//!   conditions, assignments, memberships.
//! - [`execute`](mod@execute): performs a plan in order, journals every step (fsync) so a killed run
//!   resumes, and first stores the live versions of what it will change as a snapshot,
//!   so the run can be undone ([`execute::undo_plan`]).
//! - [`journal`]: the journal (ids and actions only, never bodies).
//!
//! What comes back, and what does not:
//!
//! | kinds | restore |
//! | --- | --- |
//! | `user_type`, `group`, `group_rule`, `group_membership`, `app`, `app_user_assignment`, `app_group_assignment`, `network_zone`, `trusted_origin`, `event_hook`, `inline_hook`, `policy.*`, `policy_rule.*`, `authorization_server`, `auth_server_scope`, `auth_server_claim`, `auth_server_policy`, `auth_server_policy_rule` | created, updated (`--overwrite`), deleted (`--delete-extra`) |
//! | `user` | created STAGED (no password, no factors: a follow-up), never deleted; directory-sourced users are out of reach |
//! | everything else (schemas, brands, IdPs, authenticators, roles...) | skipped as "not restorable yet", listed as a follow-up |
//!
//! Objects Okta manages itself (`system: true` zones and policies, built-in and app
//! groups) are never created or deleted. Secrets were never stored (app client secrets,
//! hook auth headers): restored objects need them entered again, which the plan's
//! follow-ups say.

pub mod execute;
pub mod journal;
pub mod plan;
pub mod remap;
pub mod writer;

use serde_json::Value;

use super::kinds::{self, KindSpec};

pub use execute::{ExecuteError, ExecuteOptions, ExecutionReport, execute, undo_plan};
pub use journal::{Journal, JournalRecord};
pub use plan::{LiveState, PlanInput, ResourceSet, plan, read_live};
pub use remap::IdMap;
pub use writer::{WriteRequest, WriteTransport};

/// The kinds a restore writes, in the catalogue's names. Policy and policy rule kinds
/// are matched by prefix.
pub const RESTORABLE: &[&str] = &[
    "user_type",
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
];

/// Whether a restore writes `kind`.
pub fn is_restorable(kind: &str) -> bool {
    RESTORABLE.contains(&kind) || kind.starts_with("policy.") || kind.starts_with("policy_rule.")
}

/// Every restorable kind of the catalogue, in restore order.
pub fn restorable_kinds() -> Vec<&'static KindSpec> {
    kinds::restore_order()
        .into_iter()
        .filter(|k| is_restorable(k.name))
        .collect()
}

/// Fields Okta assigns or keeps up to date itself: never written, never compared.
const SERVER_FIELDS: &[&str] = &[
    "id",
    "created",
    "lastUpdated",
    "lastUpdatedBy",
    "createdBy",
    "orn",
    "_links",
    "_embedded",
    "lastLogin",
    "statusChanged",
    "passwordChanged",
    "activated",
    "lastMembershipUpdated",
    "transitioningToStatus",
    "lastSync",
    "syncState",
    "allGroupsValid",
];

/// Kinds with `status` that follows `lifecycle/activate` and `lifecycle/deactivate`.
pub(crate) fn has_lifecycle(kind: &str) -> bool {
    matches!(
        kind,
        "group_rule"
            | "app"
            | "network_zone"
            | "trusted_origin"
            | "event_hook"
            | "inline_hook"
            | "authorization_server"
            | "auth_server_policy"
            | "auth_server_policy_rule"
    ) || kind.starts_with("policy.")
        || kind.starts_with("policy_rule.")
}

/// The body as compared with the other side: server fields out, secrets out (a
/// snapshot has none, the live org's were stripped by the fetcher too), and what is
/// specific to one org out.
pub(crate) fn comparable(kind: &str, body: &Value) -> Value {
    let mut body = body.clone();
    if let Value::Object(map) = &mut body {
        for field in SERVER_FIELDS {
            map.remove(*field);
        }
        match kind {
            // A user's credentials are its provider (set by Okta) and its password
            // (never stored); its type is compared by id after remapping.
            "user" => {
                map.remove("credentials");
            }
            // An assignment's own id is the user or group; the pair is its identity.
            "app_user_assignment" => {
                map.remove("status");
                map.remove("externalId");
                map.remove("credentials");
            }
            _ => {}
        }
        if !has_lifecycle(kind) && kind != "user" {
            map.remove("status");
        }
    }
    body
}

/// The name a resource is matched by within its kind (and its parent): login, group
/// name, label, name. `None` when it has none.
pub(crate) fn own_name(kind: &str, body: &Value) -> Option<String> {
    let at = |p: &str| body.pointer(p).and_then(Value::as_str).map(str::to_owned);
    match kind {
        "user" => at("/profile/login").map(|s| s.to_lowercase()),
        "group" => at("/profile/name"),
        "app" => at("/label"),
        "trusted_origin" => at("/name").or_else(|| at("/origin")),
        _ => at("/name"),
    }
}

/// Whether Okta manages the object itself, so a restore may neither create nor delete
/// it (it may still update it).
pub(crate) fn managed_by_okta(kind: &str, body: &Value) -> Option<&'static str> {
    if body.get("system").and_then(Value::as_bool) == Some(true) {
        return Some("a system object Okta manages");
    }
    match kind {
        "group" => match body.get("type").and_then(Value::as_str) {
            Some("BUILT_IN") => Some("a built-in group"),
            Some("APP_GROUP") => Some("a group imported from an app or directory"),
            _ => None,
        },
        "app" => match body.get("name").and_then(Value::as_str) {
            Some("okta_enduser" | "saasure" | "okta_browser_plugin" | "flow") => {
                Some("an app Okta provides")
            }
            _ => None,
        },
        _ => None,
    }
}

/// Whether a user comes from a directory or another provider, so the API cannot create
/// it.
pub(crate) fn directory_sourced(body: &Value) -> bool {
    body.pointer("/credentials/provider/type")
        .and_then(Value::as_str)
        .is_some_and(|t| !matches!(t, "OKTA" | "SOCIAL" | "FEDERATION") && !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn restorable_kinds_are_in_the_catalogue() {
        for name in RESTORABLE {
            assert!(kinds::by_name(name).is_some(), "{name}");
        }
        let all = restorable_kinds();
        assert!(all.iter().any(|k| k.name == "policy_rule.OKTA_SIGN_ON"));
        assert!(!is_restorable("brand"));
        assert!(!is_restorable("user_schema"));
    }

    #[test]
    fn comparable_leaves_out_what_okta_sets() {
        let user = json!({"id": "00u1", "status": "ACTIVE", "lastLogin": "x",
            "credentials": {"provider": {"type": "OKTA"}}, "profile": {"login": "a@b"}});
        assert_eq!(
            comparable("user", &user),
            json!({"status": "ACTIVE", "profile": {"login": "a@b"}})
        );
        let group = json!({"id": "00g1", "profile": {"name": "Ops"}, "status": "x"});
        assert_eq!(
            comparable("group", &group),
            json!({"profile": {"name": "Ops"}})
        );
        assert_eq!(own_name("user", &user).as_deref(), Some("a@b"));
        assert_eq!(own_name("group", &group).as_deref(), Some("Ops"));
        assert!(directory_sourced(
            &json!({"credentials": {"provider": {"type": "ACTIVE_DIRECTORY"}}})
        ));
        assert!(!directory_sourced(&user));
        assert!(managed_by_okta("network_zone", &json!({"system": true})).is_some());
        assert!(managed_by_okta("group", &json!({"type": "BUILT_IN"})).is_some());
    }
}
