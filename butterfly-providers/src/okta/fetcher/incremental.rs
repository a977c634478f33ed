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
//!
//! Group members are the exception, as a member list is only `{groupId, userId}` pairs
//! that the log states exactly: a successful `group.user_membership.add` or `.remove`
//! (targets one `UserGroup` and one `User`) says whether the pair exists after it, and
//! `user.lifecycle.delete.completed` takes the user out of every group. Those are applied
//! to the previous snapshot's list instead of listing the group again: per pair, the
//! event with the latest `published` time decides, so an add and a remove of the same
//! pair in one window come out in the order they happened, and an event the previous
//! snapshot already saw changes nothing. A group's members are still listed again when
//! the log cannot prove them:
//!
//! - the group is new, or an event names it that is not one of those (an unknown type
//!   included), or a membership event is not a plain success with one group, one user
//!   and a time, or two events of one pair disagree at the same instant;
//! - the group is `BUILT_IN` (Everyone) and an event names a user in a way that may
//!   change it without a membership event: a new user joins Everyone, and whether Okta
//!   logs a `group.user_membership.add` for that (or for a status change) is not
//!   established, so the list is read rather than guessed.
//!
//! Likewise an app's children are not listed again for an
//! `application.user_membership.remove` of a user deleted in the same window: the
//! deleted user's entries are dropped everywhere, which is that removal.

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

/// The event that says a user joined a group.
pub const MEMBER_ADDED: &str = "group.user_membership.add";

/// The event that says a user left a group.
pub const MEMBER_REMOVED: &str = "group.user_membership.remove";

/// The event that says a user's assignment to an app is gone.
pub const APP_USER_REMOVED: &str = "application.user_membership.remove";

/// Events that name a user without changing who is in a `BUILT_IN` group, or whose
/// effect on members is applied from the log itself. Any other event naming a user
/// (a creation, a status change, one this code does not know) lists those groups again.
const BUILT_IN_UNCHANGED: [&str; 6] = [
    "user.account.update_profile",
    USER_DELETED,
    MEMBER_ADDED,
    MEMBER_REMOVED,
    "application.user_membership.add",
    APP_USER_REMOVED,
];

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
    /// Membership pairs the log's events decided, applied to the previous snapshot's
    /// member lists of groups not listed again.
    pub memberships_applied: u64,
    /// Per group, per user: whether the user is a member at the end of the window, as the
    /// latest membership event says. Not serialized: it can be long, and
    /// `memberships_applied` counts it.
    #[serde(skip)]
    pub memberships: BTreeMap<String, BTreeMap<String, bool>>,
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

/// What the log's events name: parents whose children are listed again, deleted users,
/// and the membership changes that are applied instead of listing.
#[derive(Debug, Default)]
pub(crate) struct Touched {
    /// Parents (by kind) whose children are all listed again.
    pub parents: BTreeMap<&'static str, BTreeSet<String>>,
    pub deleted_users: BTreeSet<String>,
    /// Per `(group, user)`, the latest membership event.
    pairs: BTreeMap<(String, String), PairEvent>,
    /// Groups whose members the log cannot prove: listed again.
    unproven_members: BTreeSet<String>,
    /// Users an event names in a way that may change a `BUILT_IN` group.
    built_in_changed: BTreeSet<String>,
    /// `(app, user)` of each assignment removal: the app is listed again unless the user
    /// is deleted by the end of the window (see [`Touched::finish`]).
    app_user_removals: Vec<(String, String)>,
}

/// The latest membership event of one pair.
#[derive(Debug, Clone, Copy)]
struct PairEvent {
    published: DateTime<Utc>,
    member: bool,
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
        if !event_type.is_some_and(|t| BUILT_IN_UNCHANGED.contains(&t)) {
            self.built_in_changed.extend(
                targets
                    .iter()
                    .filter(|t| t.get("type").and_then(Value::as_str) == Some("User"))
                    .map(|t| {
                        t.get("id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned()
                    }),
            );
        }
        if event_type == Some(APP_USER_REMOVED)
            && targets.iter().all(|t| {
                matches!(
                    t.get("type").and_then(Value::as_str),
                    Some("AppInstance" | "User")
                )
            })
            && let ([app], [user]) = (
                ids_of(targets, "AppInstance").as_slice(),
                ids_of(targets, "User").as_slice(),
            )
        {
            self.app_user_removals
                .push(((*app).to_owned(), (*user).to_owned()));
            return;
        }
        if let Some(member) = match event_type {
            Some(MEMBER_ADDED) => Some(true),
            Some(MEMBER_REMOVED) => Some(false),
            _ => None,
        } {
            self.membership(event, targets, member);
            return;
        }
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

    /// Note a membership event: the pair's state after it, when the event proves it.
    fn membership(&mut self, event: &Value, targets: &[Value], member: bool) {
        let (groups, users) = (ids_of(targets, "UserGroup"), ids_of(targets, "User"));
        let succeeded = event.pointer("/outcome/result").and_then(Value::as_str) == Some("SUCCESS");
        let published = event
            .get("published")
            .and_then(Value::as_str)
            .and_then(|p| DateTime::parse_from_rfc3339(p).ok())
            .map(|p| p.with_timezone(&Utc));
        let (Some(published), true, [group], [user]) =
            (published, succeeded, groups.as_slice(), users.as_slice())
        else {
            // Not provable: every group it names is listed again.
            self.unproven_members
                .extend(groups.iter().map(|g| (*g).to_owned()));
            return;
        };
        let next = PairEvent { published, member };
        match self.pairs.entry(((*group).to_owned(), (*user).to_owned())) {
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(next);
            }
            std::collections::btree_map::Entry::Occupied(mut slot) => {
                let seen = *slot.get();
                if published > seen.published {
                    slot.insert(next);
                } else if published == seen.published && member != seen.member {
                    // Which came last is unknown: the list says.
                    self.unproven_members.insert((*group).to_owned());
                }
            }
        }
    }

    /// Settle what depends on the whole window, once every event is noted: an assignment
    /// removal of a user deleted in the window is already applied (a deleted user's
    /// entries are dropped everywhere), any other lists the app again.
    pub(crate) fn finish(&mut self) {
        for (app, user) in std::mem::take(&mut self.app_user_removals) {
            if !self.deleted_users.contains(&user) {
                self.parents.entry("app").or_default().insert(app);
            }
        }
    }

    /// Whether children of kind `child` under `parent` (a resource of `parent_kind`)
    /// must be listed again; `built_in` says the parent is a `BUILT_IN` group.
    pub(crate) fn relist(
        &self,
        window: &IncrementalWindow,
        child: &str,
        parent_kind: &str,
        parent: &str,
        built_in: bool,
    ) -> bool {
        let named = self
            .parents
            .get(parent_kind)
            .is_some_and(|ids| ids.contains(parent));
        let known = window
            .known_parents
            .get(parent_kind)
            .is_some_and(|ids| ids.contains(parent));
        named
            || !known
            || (child == "group_membership"
                && (self.unproven_members.contains(parent)
                    || (built_in && self.built_in_changed())))
    }

    /// Whether a `BUILT_IN` group's members may have changed without a membership event:
    /// an event named a user that is not deleted by the end of the window (a deleted user
    /// has left every group, whatever came before).
    fn built_in_changed(&self) -> bool {
        self.built_in_changed
            .iter()
            .any(|user| !self.deleted_users.contains(user))
    }

    /// Per group, per user: whether the user is a member after the window, for every
    /// pair a membership event decided.
    pub(crate) fn memberships(&self) -> BTreeMap<String, BTreeMap<String, bool>> {
        let mut out: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
        for ((group, user), event) in &self.pairs {
            out.entry(group.clone())
                .or_default()
                .insert(user.clone(), event.member);
        }
        out
    }
}

/// The non-blank ids of the targets of one type.
fn ids_of<'v>(targets: &'v [Value], kind: &str) -> Vec<&'v str> {
    targets
        .iter()
        .filter(|t| t.get("type").and_then(Value::as_str) == Some(kind))
        .filter_map(|t| t.get("id").and_then(Value::as_str))
        .filter(|id| !id.is_empty())
        .collect()
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

    fn window() -> IncrementalWindow {
        IncrementalWindow {
            since: DateTime::<Utc>::UNIX_EPOCH,
            until: DateTime::<Utc>::UNIX_EPOCH,
            known_parents: BTreeMap::from([
                (
                    "group".to_owned(),
                    BTreeSet::from(["00g1".to_owned(), "00g2".to_owned(), "00gE".to_owned()]),
                ),
                ("app".to_owned(), BTreeSet::from(["0oa1".to_owned()])),
            ]),
        }
    }

    /// A membership event as Okta writes it: the user first, then the group.
    fn member(added: bool, group: &str, user: &str, published: &str) -> Value {
        json!({"eventType": if added { MEMBER_ADDED } else { MEMBER_REMOVED },
            "published": published, "outcome": {"result": "SUCCESS", "reason": null},
            "target": [{"id": user, "type": "User"}, {"id": group, "type": "UserGroup"}]})
    }

    #[test]
    fn events_name_parents_and_deleted_users() {
        let mut touched = Touched::default();
        touched.add(&member(true, "00g1", "00u1", "2025-10-01T10:00:00.000Z"));
        touched.add(&json!({"eventType": USER_DELETED,
            "target": [{"id": "00u2", "type": "User"}]}));
        touched.add(&json!({"eventType": "something.new",
            "target": [{"id": "0oa1", "type": "AppInstance"}]}));
        assert_eq!(touched.deleted_users, BTreeSet::from(["00u2".to_owned()]));
        let window = window();
        // The membership event is applied, not listed again.
        assert!(!touched.relist(&window, "group_membership", "group", "00g1", false));
        assert!(!touched.relist(&window, "group_owner", "group", "00g1", false));
        assert_eq!(
            touched.memberships(),
            BTreeMap::from([(
                "00g1".to_owned(),
                BTreeMap::from([("00u1".to_owned(), true)])
            )])
        );
        assert!(!touched.relist(&window, "group_membership", "group", "00g2", false));
        assert!(
            touched.relist(&window, "group_membership", "group", "00g3", false),
            "a new group"
        );
        assert!(touched.relist(&window, "app_user", "app", "0oa1", false));
    }

    #[test]
    fn an_unknown_event_naming_a_group_relists_it() {
        let mut touched = Touched::default();
        touched.add(
            &json!({"eventType": "group.something.new", "published": "2025-10-01T10:00:00.000Z",
            "target": [{"id": "00g2", "type": "UserGroup"}]}),
        );
        let window = window();
        assert!(touched.relist(&window, "group_membership", "group", "00g2", false));
        assert!(touched.relist(&window, "group_owner", "group", "00g2", false));
        assert!(!touched.relist(&window, "group_membership", "group", "00g1", false));
    }

    #[test]
    fn the_latest_event_of_a_pair_decides() {
        let mut touched = Touched::default();
        // Added then removed, read out of order: the later one wins.
        touched.add(&member(false, "00g1", "00u1", "2025-10-01T10:00:01.000Z"));
        touched.add(&member(true, "00g1", "00u1", "2025-10-01T10:00:00.000Z"));
        // Removed then added again.
        touched.add(&member(false, "00g1", "00u2", "2025-10-01T10:00:00.000Z"));
        touched.add(&member(true, "00g1", "00u2", "2025-10-01T10:00:02.000Z"));
        assert_eq!(
            touched.memberships()["00g1"],
            BTreeMap::from([("00u1".to_owned(), false), ("00u2".to_owned(), true)])
        );
        assert!(!touched.relist(&window(), "group_membership", "group", "00g1", false));
    }

    #[test]
    fn what_the_log_cannot_prove_relists_the_group() {
        let window = window();
        // An add and a remove of one pair at the same instant: which came last is unknown.
        let mut touched = Touched::default();
        touched.add(&member(true, "00g1", "00u1", "2025-10-01T10:00:00.000Z"));
        touched.add(&member(false, "00g1", "00u1", "2025-10-01T10:00:00.000Z"));
        assert!(touched.relist(&window, "group_membership", "group", "00g1", false));
        // A failed add, an add without a time, an add naming two users.
        for event in [
            json!({"eventType": MEMBER_ADDED, "published": "2025-10-01T10:00:00.000Z",
                "outcome": {"result": "FAILURE"},
                "target": [{"id": "00u1", "type": "User"}, {"id": "00g1", "type": "UserGroup"}]}),
            json!({"eventType": MEMBER_ADDED, "outcome": {"result": "SUCCESS"},
                "target": [{"id": "00u1", "type": "User"}, {"id": "00g1", "type": "UserGroup"}]}),
            json!({"eventType": MEMBER_ADDED, "published": "2025-10-01T10:00:00.000Z",
                "outcome": {"result": "SUCCESS"},
                "target": [{"id": "00u1", "type": "User"}, {"id": "00u2", "type": "User"},
                    {"id": "00g1", "type": "UserGroup"}]}),
        ] {
            let mut touched = Touched::default();
            touched.add(&event);
            assert!(
                touched.relist(&window, "group_membership", "group", "00g1", false),
                "{event}"
            );
            assert!(touched.memberships().is_empty());
        }
    }

    #[test]
    fn a_deleted_users_assignment_removals_do_not_relist_its_apps() {
        let window = window();
        let removal = |app: &str, user: &str| {
            json!({"eventType": APP_USER_REMOVED, "outcome": {"result": "SUCCESS"},
                "target": [{"id": app, "type": "AppInstance"}, {"id": user, "type": "User"}]})
        };
        let mut touched = Touched::default();
        touched.add(&removal("0oa1", "00u2"));
        touched.add(&json!({"eventType": USER_DELETED,
            "target": [{"id": "00u2", "type": "User"}]}));
        touched.finish();
        assert!(!touched.relist(&window, "app_user_assignment", "app", "0oa1", false));
        // A user still there: the app's assignments are listed again.
        touched.add(&removal("0oa1", "00u3"));
        touched.finish();
        assert!(touched.relist(&window, "app_user_assignment", "app", "0oa1", false));
    }

    #[test]
    fn a_new_user_relists_built_in_groups_only() {
        let window = window();
        let mut touched = Touched::default();
        touched.add(&member(true, "00g1", "00u1", "2025-10-01T10:00:00.000Z"));
        touched.add(&json!({"eventType": "user.account.update_profile",
            "target": [{"id": "00u1", "type": "User"}]}));
        touched.add(&json!({"eventType": USER_DELETED,
            "target": [{"id": "00u2", "type": "User"}]}));
        // A deactivation before the deletion: the user is gone either way.
        touched.add(&json!({"eventType": "user.lifecycle.deactivate",
            "target": [{"id": "00u2", "type": "User"}]}));
        assert!(!touched.relist(&window, "group_membership", "group", "00gE", true));
        touched.add(&json!({"eventType": "user.lifecycle.create",
            "target": [{"id": "00u3", "type": "User"}]}));
        assert!(touched.relist(&window, "group_membership", "group", "00gE", true));
        assert!(!touched.relist(&window, "group_owner", "group", "00gE", true));
        assert!(!touched.relist(&window, "group_membership", "group", "00g1", false));
    }
}
