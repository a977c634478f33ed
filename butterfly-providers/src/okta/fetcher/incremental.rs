//! Incremental fetches: what changed since the previous snapshot, from the System Log.
//!
//! An incremental fetch reads `GET /api/v1/logs?since=...&until=...` (scope
//! `okta.logs.read`, its own rate-limit bucket) for the window between the previous
//! snapshot's start and this one's, then fetches:
//!
//! - users with `search=lastUpdated gt "<since>"` (every status), and learns deleted users
//!   from `user.lifecycle.delete.completed` events;
//! - the children of groups and apps (memberships, owners, assignments, push mappings,
//!   grants, features, role assignments) only under the groups and apps an event names
//!   as a target, and under groups and apps the previous snapshot did not have;
//! - every other kind in full: they are small (policies, zones, authorization servers,
//!   brands, groups and apps themselves), and reading them costs a few requests.
//!
//! Every event in the window is read, whatever its type: a group or app is re-listed when
//! any event targets it, so an event type this code does not know still re-lists it.
//! The runner ([`crate::backup`]) then carries the unchanged entries over from the
//! previous manifest.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::okta::kinds::{IdRule, KindSpec};

/// The scope the System Log needs.
pub const LOG_SCOPE: &str = "okta.logs.read";

/// How long Okta keeps System Log events: an older previous snapshot means a full backup.
pub const LOG_RETENTION: TimeDelta = TimeDelta::days(90);

/// How far the org's clock may be from the runner's before the log's window cannot be
/// trusted (a change could fall outside it).
pub const MAX_CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);

/// The event that says a user is gone for good.
pub const USER_DELETED: &str = "user.lifecycle.delete.completed";

/// Where an incremental fetch starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncrementalWindow {
    /// Changes after this time are read (the previous snapshot's start, less a margin).
    pub since: DateTime<Utc>,
    /// Changes before this time are read from the log (this backup's start).
    pub until: DateTime<Utc>,
    /// The ids of groups and apps in the previous snapshot, by kind: children of any other
    /// group or app are new and are listed.
    pub known_parents: BTreeMap<String, BTreeSet<String>>,
}

/// What an incremental fetch read instead of everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct IncrementalReport {
    /// When the full fetch was done instead, why (the runner puts it in the warnings).
    pub fallback: Option<String>,
    /// System Log events read.
    pub log_events: u64,
    /// Users deleted in the window.
    pub deleted_users: BTreeSet<String>,
    /// Per child kind, the parents (resource ids) whose children were listed again.
    pub relisted: BTreeMap<String, BTreeSet<String>>,
}

/// Whether an incremental fetch lists `kind` only under some parents: a child of a group
/// or an app whose snapshot ids start with the parent's id.
pub fn partial_child(kind: &KindSpec) -> bool {
    kind.parent
        .is_some_and(|p| p.kind == "group" || p.kind == "app")
        && !matches!(kind.id, IdRule::Field(_))
}

/// The user listing of an incremental fetch: changed users of every status.
pub(crate) fn user_query(since: DateTime<Utc>) -> String {
    format!(
        "search=lastUpdated gt \"{}\"",
        since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )
}

/// What the log's events name: touched parents by kind, and deleted users.
#[derive(Debug, Default)]
pub(crate) struct Touched {
    pub parents: BTreeMap<&'static str, BTreeSet<String>>,
    pub deleted_users: BTreeSet<String>,
}

impl Touched {
    /// Note one event.
    pub(crate) fn add(&mut self, event: &Value) {
        let event_type = event.get("eventType").and_then(Value::as_str);
        let targets = event
            .get("target")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for target in targets {
            let Some(id) = target.get("id").and_then(Value::as_str) else {
                continue;
            };
            match target.get("type").and_then(Value::as_str) {
                Some("UserGroup") => {
                    self.parents
                        .entry("group")
                        .or_default()
                        .insert(id.to_owned());
                }
                Some("AppInstance") => {
                    self.parents.entry("app").or_default().insert(id.to_owned());
                }
                Some("User") if event_type == Some(USER_DELETED) => {
                    self.deleted_users.insert(id.to_owned());
                }
                _ => {}
            }
        }
    }

    /// Whether children of `parent` (a resource of `parent_kind`) must be listed again.
    pub(crate) fn relist(
        &self,
        window: &IncrementalWindow,
        parent_kind: &str,
        parent: &str,
    ) -> bool {
        self.parents
            .get(parent_kind)
            .is_some_and(|ids| ids.contains(parent))
            || !window
                .known_parents
                .get(parent_kind)
                .is_some_and(|ids| ids.contains(parent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::okta::kinds;
    use serde_json::json;

    #[test]
    fn children_of_groups_and_apps_are_partial() {
        let partial: Vec<&str> = kinds::all()
            .filter(|k| partial_child(k))
            .map(|k| k.name)
            .collect();
        for name in [
            "group_membership",
            "app_user_assignment",
            "app_group_assignment",
        ] {
            assert!(partial.contains(&name), "{name}");
        }
        assert!(!partial.contains(&"user"));
        assert!(!partial.contains(&"policy_rule.PASSWORD"));
    }

    #[test]
    fn events_name_parents_and_deleted_users() {
        let mut touched = Touched::default();
        touched.add(&json!({"eventType": "group.user_membership.add",
            "target": [{"id": "00g1", "type": "UserGroup"}, {"id": "00u1", "type": "User"}]}));
        touched.add(&json!({"eventType": USER_DELETED,
            "target": [{"id": "00u2", "type": "User"}]}));
        touched.add(&json!({"eventType": "something.new",
            "target": [{"id": "0oa1", "type": "AppInstance"}]}));
        assert_eq!(touched.deleted_users, BTreeSet::from(["00u2".to_owned()]));
        let window = IncrementalWindow {
            since: DateTime::<Utc>::UNIX_EPOCH,
            until: DateTime::<Utc>::UNIX_EPOCH,
            known_parents: BTreeMap::from([
                (
                    "group".to_owned(),
                    BTreeSet::from(["00g1".to_owned(), "00g2".to_owned()]),
                ),
                ("app".to_owned(), BTreeSet::from(["0oa1".to_owned()])),
            ]),
        };
        assert!(touched.relist(&window, "group", "00g1"));
        assert!(!touched.relist(&window, "group", "00g2"));
        assert!(touched.relist(&window, "group", "00g3"), "a new group");
        assert!(touched.relist(&window, "app", "0oa1"));
    }
}
