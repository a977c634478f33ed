//! Incremental backups against the simulator: after many kinds of change, an incremental
//! backup lists the same entries and digests as a full backup of the same org state; the
//! fallbacks (scope, retention, clock, safety net) read everything and say why.

use std::collections::{BTreeMap, BTreeSet};

use butterfly_core::source::{InMemorySnapshotSource, SnapshotSource as _};
use butterfly_core::{Clock, FixedClock, Snapshot, SnapshotStatus};
use butterfly_providers::backup::{
    BackupMode, BackupOutcome, FULL_INSTEAD_NOTE, INCREMENTAL_NOTE, run_okta_backup_with,
};
use butterfly_providers::okta::fetcher::{
    ClientId, FetchEvent, FetchOptions, OktaCredentials, OrgUrl, PrivateKey,
};
use butterfly_providers::okta::kinds;
use butterfly_providers::okta::simulator::{FaultKind, FaultRule, OrgConfig, SimulatorConfig};
use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::simulator::client_key;
use super::simulator_writes::Harness;

/// After the generator's timestamps (which end mid-2025): changes are newer than them.
const START: i64 = 1_760_000_000;

fn config(granted: Option<BTreeSet<String>>) -> SimulatorConfig {
    SimulatorConfig {
        org: OrgConfig {
            seed: 17,
            users: 60,
            groups: 8,
            apps: 10,
        },
        client_public_key_pem: Some(client_key().public_pem.clone()),
        granted_scopes: granted,
        ..SimulatorConfig::default()
    }
}

async fn harness(granted: Option<BTreeSet<String>>) -> Harness {
    let s = Harness::start(config(granted)).await;
    let now = s.timer.now().timestamp();
    s.timer.advance(TimeDelta::seconds(START - now));
    s
}

async fn back_up_on(
    s: &Harness,
    repo: &InMemorySnapshotSource,
    mode: BackupMode,
    clock: &dyn Clock,
) -> BackupOutcome {
    let given = s.sim.simulator().client_credentials();
    let credentials = OktaCredentials {
        org_url: OrgUrl::parse(&given.org_url).unwrap(),
        client_id: ClientId::new(given.client_id.clone()).unwrap(),
        key_id: Some(given.key_id.clone()),
        private_key: PrivateKey::from_pem(&client_key().private_pem).unwrap(),
    };
    let options = FetchOptions {
        rate_limit_share: 1.0,
        timer: s.timer.clone(),
        insecure_allow_private_addresses: true,
        ..FetchOptions::default()
    };
    run_okta_backup_with(credentials, options, mode, repo, clock, |_: &FetchEvent| {})
        .await
        .unwrap()
}

async fn back_up(s: &Harness, repo: &InMemorySnapshotSource, mode: BackupMode) -> BackupOutcome {
    back_up_on(s, repo, mode, s.timer.as_ref()).await
}

fn incremental() -> BackupMode {
    BackupMode::Incremental { full_every: 10 }
}

async fn manifest(repo: &InMemorySnapshotSource, outcome: &BackupOutcome) -> Snapshot {
    repo.manifest(outcome.snapshot_id()).await.unwrap()
}

/// The entries of two snapshots, kind by kind, with the first difference named.
fn assert_same_entries(incremental: &Snapshot, full: &Snapshot) {
    let kinds: BTreeSet<_> = incremental.kinds.keys().chain(full.kinds.keys()).collect();
    for kind in kinds {
        let a = incremental.kinds.get(kind).cloned().unwrap_or_default();
        let b = full.kinds.get(kind).cloned().unwrap_or_default();
        let a_ids: BTreeMap<_, _> = a.iter().map(|e| (&e.id, e.digest)).collect();
        let b_ids: BTreeMap<_, _> = b.iter().map(|e| (&e.id, e.digest)).collect();
        for (id, digest) in &b_ids {
            match a_ids.get(id) {
                None => panic!("{kind}: {id} missing from the incremental snapshot"),
                Some(d) => assert_eq!(d, digest, "{kind}: {id} differs"),
            }
        }
        for id in a_ids.keys() {
            assert!(
                b_ids.contains_key(id),
                "{kind}: {id} only in the incremental snapshot"
            );
        }
    }
    assert_eq!(incremental.root_digest, full.root_digest);
}

fn ids_of(snapshot: &Snapshot, kind: &str) -> Vec<String> {
    snapshot
        .kinds
        .get(&butterfly_core::ResourceKind::new(kind))
        .map(|e| e.iter().map(|e| e.id.clone()).collect())
        .unwrap_or_default()
}

fn user_body(n: u32) -> Value {
    json!({ "profile": { "login": format!("new{n}@example.com"), "email": format!("new{n}@example.com"),
        "firstName": "New", "lastName": format!("User{n}") } })
}

/// Change the org in every way the simulator can: users (profile, create, delete,
/// lifecycle), groups (create, rename, delete, members), apps (label, assignments),
/// policies and rules, zones, group rules, hooks, authorization servers.
async fn mutate(s: &Harness, base: &Snapshot) {
    let t = s.admin_token().await;
    // Deprovisioned users are left out (the default list does not show them): a delete
    // removes one at once, where the test deletes twice.
    let listed = s.ids(&t, "/api/v1/users?limit=200").await;
    let users: Vec<String> = ids_of(base, "user")
        .into_iter()
        .filter(|id| listed.contains(id))
        .collect();
    let groups = ids_of(base, "group");
    let apps = ids_of(base, "app");
    let ok = StatusCode::OK;

    // Users: a profile edit, two new users, a deletion (deactivate, then delete), a
    // deactivation, a suspension.
    s.post(
        &t,
        &format!("/api/v1/users/{}", users[1]),
        json!({ "profile": { "nickName": "Edited" } }),
    )
    .await
    .expect(ok);
    let new_user = s
        .post(&t, "/api/v1/users", user_body(1))
        .await
        .expect(ok)
        .id();
    s.post(&t, "/api/v1/users?activate=false", user_body(2))
        .await
        .expect(ok);
    let gone = &users[2];
    s.delete(&t, &format!("/api/v1/users/{gone}"))
        .await
        .expect(StatusCode::NO_CONTENT);
    s.delete(&t, &format!("/api/v1/users/{gone}"))
        .await
        .expect(StatusCode::NO_CONTENT);
    s.delete(&t, &format!("/api/v1/users/{}", users[3]))
        .await
        .expect(StatusCode::NO_CONTENT);
    let active: Vec<String> = s
        .get(&t, "/api/v1/users?filter=status%20eq%20%22ACTIVE%22")
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .filter(|id| !users[..4].contains(id))
        .collect();
    s.post(
        &t,
        &format!("/api/v1/users/{}/lifecycle/suspend", active[0]),
        json!({}),
    )
    .await
    .expect(ok);

    // Memberships: a move between groups, the new user into a group.
    let members = s
        .ids(&t, &format!("/api/v1/groups/{}/users", groups[1]))
        .await;
    if let Some(mover) = members.first() {
        s.delete(&t, &format!("/api/v1/groups/{}/users/{mover}", groups[1]))
            .await
            .expect(StatusCode::NO_CONTENT);
        s.put(
            &t,
            &format!("/api/v1/groups/{}/users/{mover}", groups[2]),
            json!({}),
        )
        .await
        .expect(StatusCode::NO_CONTENT);
    }
    s.put(
        &t,
        &format!("/api/v1/groups/{}/users/{new_user}", groups[3]),
        json!({}),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    // A pair added then removed, and one removed then added back, a second apart.
    let pair = |g: &str, u: &str| format!("/api/v1/groups/{g}/users/{u}");
    s.put(&t, &pair(&groups[3], &users[7]), json!({}))
        .await
        .expect(StatusCode::NO_CONTENT);
    s.timer.advance(TimeDelta::seconds(1));
    s.delete(&t, &pair(&groups[3], &users[7]))
        .await
        .expect(StatusCode::NO_CONTENT);
    let kept = s
        .ids(&t, &format!("/api/v1/groups/{}/users", groups[2]))
        .await;
    if let Some(kept) = kept.last() {
        s.delete(&t, &pair(&groups[2], kept))
            .await
            .expect(StatusCode::NO_CONTENT);
        s.timer.advance(TimeDelta::seconds(1));
        s.put(&t, &pair(&groups[2], kept), json!({}))
            .await
            .expect(StatusCode::NO_CONTENT);
    }

    // Groups: a new one with a member, a rename, a deletion (with its app assignments).
    let group = s
        .post(
            &t,
            "/api/v1/groups",
            json!({ "profile": { "name": "Incremental", "description": "new" } }),
        )
        .await
        .expect(ok)
        .id();
    s.put(
        &t,
        &format!("/api/v1/groups/{group}/users/{}", users[5]),
        json!({}),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    s.put(
        &t,
        &format!("/api/v1/groups/{}", groups[4]),
        json!({ "profile": { "name": "Renamed" } }),
    )
    .await
    .expect(ok);

    // Apps: an unassignment of a user who stays (the app is listed again), assignments
    // of a user and a group, a relabel.
    let (app, user) = ids_of(base, "app_user_assignment")
        .into_iter()
        .find_map(|id| {
            let (app, user) = id.split_once('/')?;
            (user != gone.as_str()).then(|| (app.to_owned(), user.to_owned()))
        })
        .expect("a user assigned to an app");
    s.delete(&t, &format!("/api/v1/apps/{app}/users/{user}"))
        .await
        .expect(StatusCode::NO_CONTENT);
    s.post(
        &t,
        &format!("/api/v1/apps/{}/users", apps[1]),
        json!({ "id": users[6], "scope": "USER" }),
    )
    .await
    .expect(ok);
    s.put(
        &t,
        &format!("/api/v1/apps/{}/groups/{}", apps[2], groups[5]),
        json!({}),
    )
    .await
    .expect(ok);
    s.put(
        &t,
        &format!("/api/v1/apps/{}/groups/{}", apps[3], groups[6]),
        json!({}),
    )
    .await
    .expect(ok);
    s.delete(&t, &format!("/api/v1/groups/{}", groups[6]))
        .await
        .expect(StatusCode::NO_CONTENT);
    let app = s
        .get(&t, &format!("/api/v1/apps/{}", apps[4]))
        .await
        .expect(ok)
        .body;
    let mut relabelled = app.clone();
    relabelled["label"] = json!("Relabelled");
    s.put(&t, &format!("/api/v1/apps/{}", apps[4]), relabelled)
        .await
        .expect(ok);

    // Policies and rules, zones, group rules, hooks, authorization servers.
    let policy = s.first(&t, "/api/v1/policies?type=PASSWORD").await;
    let mut body = s
        .get(&t, &format!("/api/v1/policies/{policy}"))
        .await
        .expect(ok)
        .body;
    body["description"] = json!("changed");
    s.put(&t, &format!("/api/v1/policies/{policy}"), body)
        .await
        .expect(ok);
    s.post(
        &t,
        &format!("/api/v1/policies/{policy}/rules"),
        json!({ "name": "New rule", "type": "PASSWORD" }),
    )
    .await
    .expect(ok);
    let zone = s.first(&t, "/api/v1/zones").await;
    let mut body = s
        .get(&t, &format!("/api/v1/zones/{zone}"))
        .await
        .expect(ok)
        .body;
    body["name"] = json!("Renamed zone");
    s.put(&t, &format!("/api/v1/zones/{zone}"), body)
        .await
        .expect(ok);
    s.post(
        &t,
        "/api/v1/groups/rules",
        json!({ "name": "Everyone new", "type": "group_rule",
        "conditions": { "expression": { "value": "true", "type": "urn:okta:expression:1.0" } } }),
    )
    .await
    .expect(ok);
    s.post(
        &t,
        "/api/v1/trustedOrigins",
        json!({ "name": "Portal", "origin": "https://portal.example.com",
        "scopes": [{ "type": "CORS" }] }),
    )
    .await
    .expect(ok);
    s.post(
        &t,
        "/api/v1/authorizationServers",
        json!({ "name": "API", "audiences": ["api://x"] }),
    )
    .await
    .expect(StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_backup_equals_a_full_one_after_many_changes() {
    let s = harness(None).await;
    let repo = InMemorySnapshotSource::new();
    let first = back_up(&s, &repo, incremental()).await;
    assert_eq!(first.status(), SnapshotStatus::Complete);
    assert!(
        first.fetch.incremental.is_none(),
        "nothing to build on: a full backup"
    );
    let base = manifest(&repo, &first).await;

    s.timer.advance(TimeDelta::hours(1));
    mutate(&s, &base).await;
    s.timer.advance(TimeDelta::minutes(5));

    let second = back_up(&s, &repo, incremental()).await;
    let report = second
        .fetch
        .incremental
        .clone()
        .expect("an incremental fetch");
    assert_eq!(report.fallback, None, "{:?}", second.warnings());
    assert!(report.log_events >= 20, "{report:?}");
    assert_eq!(report.deleted_users.len(), 1);
    assert!(
        second
            .warnings()
            .iter()
            .any(|w| w.starts_with(INCREMENTAL_NOTE)),
        "{:?}",
        second.warnings()
    );
    let full = back_up(&s, &repo, BackupMode::Full).await;
    assert_eq!(second.status(), SnapshotStatus::Complete);
    assert_same_entries(
        &manifest(&repo, &second).await,
        &manifest(&repo, &full).await,
    );
    assert!(
        second.fetch.requests < full.fetch.requests,
        "incremental {} requests, full {}",
        second.fetch.requests,
        full.fetch.requests
    );
    // Members listed again only under the new group, the groups other events name (a
    // rename, a deletion) and Everyone (new users); membership events are applied.
    let relisted = &report.relisted["group_membership"];
    let groups = ids_of(&manifest(&repo, &full).await, "group");
    assert!(relisted.len() < groups.len(), "{relisted:?}");
    assert!(
        !relisted.contains(&ids_of(&base, "group")[3]),
        "{relisted:?}"
    );
    assert!(report.memberships_applied >= 4, "{report:?}");
    // Changed users only, not all 60.
    let users = second.fetch.counts[&butterfly_core::ResourceKind::new("user")];
    assert!(users < 10, "{users} users read again");

    // And once more on top of the incremental one, with no change at all.
    s.timer.advance(TimeDelta::minutes(5));
    let third = back_up(&s, &repo, incremental()).await;
    assert!(third.fetch.incremental.as_ref().unwrap().fallback.is_none());
    assert_same_entries(
        &manifest(&repo, &third).await,
        &manifest(&repo, &full).await,
    );
}

/// A deleted user leaves the groups it owned, with no event naming those groups (the
/// incremental backup drops entries naming a deleted user): both backups agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_group_owner_leaves_its_groups() {
    let s = harness(None).await;
    let repo = InMemorySnapshotSource::new();
    let first = back_up(&s, &repo, incremental()).await;
    let base = manifest(&repo, &first).await;
    let memberships = ids_of(&base, "group_membership");
    // An owner who is not a member of the group it owns: deleting it names no such group.
    let (group, owner) = ids_of(&base, "group_owner")
        .into_iter()
        .find_map(|id| {
            let (group, user) = id.split_once('/')?;
            (!memberships.contains(&id)).then(|| (group.to_owned(), user.to_owned()))
        })
        .expect("a group owned by a user who is not its member");
    s.timer.advance(TimeDelta::hours(1));
    let t = s.admin_token().await;
    for _ in 0..2 {
        s.delete(&t, &format!("/api/v1/users/{owner}"))
            .await
            .expect(StatusCode::NO_CONTENT);
    }
    let owners = s.ids(&t, &format!("/api/v1/groups/{group}/owners")).await;
    assert!(!owners.contains(&owner), "{owners:?}");
    s.timer.advance(TimeDelta::minutes(5));
    let second = back_up(&s, &repo, incremental()).await;
    assert!(
        second
            .fetch
            .incremental
            .as_ref()
            .unwrap()
            .fallback
            .is_none()
    );
    let full = back_up(&s, &repo, BackupMode::Full).await;
    assert_same_entries(
        &manifest(&repo, &second).await,
        &manifest(&repo, &full).await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_log_scope_the_backup_is_full_and_says_why() {
    let granted: BTreeSet<String> = kinds::backup_scopes()
        .into_iter()
        .chain(kinds::all().filter_map(|k| k.manage_scope))
        .map(str::to_owned)
        .collect();
    let s = harness(Some(granted)).await;
    let repo = InMemorySnapshotSource::new();
    let first = back_up(&s, &repo, incremental()).await;
    s.timer.advance(TimeDelta::hours(1));
    mutate(&s, &manifest(&repo, &first).await).await;
    let second = back_up(&s, &repo, incremental()).await;
    assert!(
        second
            .warnings()
            .iter()
            .any(|w| w.starts_with(FULL_INSTEAD_NOTE) && w.contains("okta.logs.read")),
        "{:?}",
        second.warnings()
    );
    let full = back_up(&s, &repo, BackupMode::Full).await;
    assert_same_entries(
        &manifest(&repo, &second).await,
        &manifest(&repo, &full).await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_older_than_the_log_is_not_built_on() {
    let s = harness(None).await;
    let repo = InMemorySnapshotSource::new();
    back_up(&s, &repo, incremental()).await;
    s.timer.advance(TimeDelta::days(91));
    let second = back_up(&s, &repo, incremental()).await;
    assert!(second.fetch.incremental.is_none());
    assert!(
        second
            .warnings()
            .iter()
            .any(|w| w.starts_with(FULL_INSTEAD_NOTE) && w.contains("retention")),
        "{:?}",
        second.warnings()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_clock_far_from_the_orgs_falls_back() {
    let s = harness(None).await;
    let repo = InMemorySnapshotSource::new();
    back_up(&s, &repo, incremental()).await;
    s.timer.advance(TimeDelta::hours(1));
    // The runner believes it is a day later than the org does.
    let skewed = FixedClock::new(s.timer.now() + TimeDelta::days(1));
    let second = back_up_on(&s, &repo, incremental(), &skewed).await;
    let report = second.fetch.incremental.clone().unwrap();
    assert!(
        report.fallback.as_deref().unwrap().contains("clock"),
        "{report:?}"
    );
    assert!(
        second
            .warnings()
            .iter()
            .any(|w| w.starts_with(FULL_INSTEAD_NOTE))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_backup_comes_every_n_incrementals() {
    let s = harness(None).await;
    let repo = InMemorySnapshotSource::new();
    let mode = BackupMode::Incremental { full_every: 2 };
    let mut kinds_of_run = Vec::new();
    for _ in 0..5 {
        s.timer.advance(TimeDelta::minutes(10));
        let outcome = back_up(&s, &repo, mode).await;
        kinds_of_run.push(outcome.fetch.incremental.is_some());
    }
    assert_eq!(kinds_of_run, [false, true, true, false, true]);
}

/// Count the simulator's requests under each of `prefixes` from now on: a fault rule per
/// prefix that delays by nothing, whose `fired` count `/__sim/faults` reports.
fn watch(s: &Harness, prefixes: &[String]) {
    s.sim.simulator().clear_faults();
    s.sim
        .simulator()
        .add_faults(prefixes.iter().map(|prefix| FaultRule {
            delay_ms: Some(0),
            path_prefix: Some(prefix.clone()),
            ..FaultRule::new(FaultKind::Slow)
        }));
}

/// Requests under each watched prefix so far, in the order given to [`watch`].
async fn watched(s: &Harness) -> Vec<u64> {
    let faults: Value = reqwest::get(format!("{}/__sim/faults", s.sim.org_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    faults["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fired"].as_u64().unwrap())
        .collect()
}

fn members_path(group: &str) -> String {
    format!("/api/v1/groups/{group}/users")
}

/// The org's groups: the `BUILT_IN` one (Everyone), and the others with their members.
async fn groups_of(s: &Harness, base: &Snapshot) -> (String, Vec<(String, BTreeSet<String>)>) {
    let t = s.admin_token().await;
    let listed = s.get(&t, "/api/v1/groups").await.body;
    let everyone = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["type"] == "BUILT_IN")
        .map(|g| g["id"].as_str().unwrap().to_owned())
        .expect("an Everyone group");
    let mut members: BTreeMap<String, BTreeSet<String>> = ids_of(base, "group")
        .into_iter()
        .filter(|g| *g != everyone)
        .map(|g| (g, BTreeSet::new()))
        .collect();
    for pair in ids_of(base, "group_membership") {
        let (group, user) = pair.split_once('/').unwrap();
        if let Some(users) = members.get_mut(group) {
            users.insert(user.to_owned());
        }
    }
    (everyone, members.into_iter().collect())
}

/// A full (first) backup, a change, then an incremental and a full backup: the
/// incremental outcome, the requests it made under each watched prefix, and both
/// manifests compared.
async fn incremental_after(
    s: &Harness,
    repo: &InMemorySnapshotSource,
    prefixes: &[String],
) -> (BackupOutcome, Vec<u64>) {
    s.timer.advance(TimeDelta::minutes(5));
    watch(s, prefixes);
    let second = back_up(s, repo, incremental()).await;
    let requests = watched(s).await;
    s.sim.simulator().clear_faults();
    let report = second.fetch.incremental.as_ref().expect("an incremental");
    assert_eq!(report.fallback, None, "{:?}", second.warnings());
    let full = back_up(s, repo, BackupMode::Full).await;
    assert_same_entries(&manifest(repo, &second).await, &manifest(repo, &full).await);
    (second, requests)
}

/// Membership moves and a deleted user are applied from the log: neither the groups
/// involved nor Everyone are listed again, and the result equals a full backup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_moves_and_deleted_users_are_applied_without_listing_the_groups() {
    let s = harness(None).await;
    let repo = InMemorySnapshotSource::new();
    let base = manifest(&repo, &back_up(&s, &repo, incremental()).await).await;
    let (everyone, groups) = groups_of(&s, &base).await;
    let (from, from_members) = groups.iter().find(|(_, m)| m.len() >= 2).unwrap();
    let (to, to_members) = groups.iter().find(|(g, _)| g != from).unwrap();
    let mover = from_members
        .iter()
        .find(|u| !to_members.contains(*u))
        .unwrap();
    // A member of `from` other than the mover, deleted: it leaves `from` and Everyone.
    let gone = from_members.iter().find(|u| *u != mover).unwrap();
    s.timer.advance(TimeDelta::hours(1));
    let t = s.admin_token().await;
    s.delete(&t, &format!("/api/v1/groups/{from}/users/{mover}"))
        .await
        .expect(StatusCode::NO_CONTENT);
    s.put(&t, &format!("/api/v1/groups/{to}/users/{mover}"), json!({}))
        .await
        .expect(StatusCode::NO_CONTENT);
    for _ in 0..2 {
        s.delete(&t, &format!("/api/v1/users/{gone}"))
            .await
            .expect(StatusCode::NO_CONTENT);
    }
    let watched_groups = [from, to, &everyone];
    let prefixes: Vec<String> = watched_groups.iter().map(|g| members_path(g)).collect();
    let (second, requests) = incremental_after(&s, &repo, &prefixes).await;
    assert_eq!(requests, [0, 0, 0], "{watched_groups:?} listed again");
    let report = second.fetch.incremental.clone().unwrap();
    assert!(report.relisted["group_membership"].is_empty(), "{report:?}");
    // The move (two pairs) and the deleted user's removals (from its groups, Everyone
    // included).
    assert!(report.memberships_applied >= 4, "{report:?}");
    let members = ids_of(&manifest(&repo, &second).await, "group_membership");
    assert!(members.contains(&format!("{to}/{mover}")));
    assert!(!members.contains(&format!("{from}/{mover}")));
    assert!(!members.iter().any(|m| m.ends_with(&format!("/{gone}"))));
}

/// A new user joins Everyone without a membership event in the log (whether Okta logs
/// one is not established): Everyone is listed again, the group it was added to is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_lists_everyone_again_and_applies_its_other_groups() {
    let s = harness(None).await;
    let repo = InMemorySnapshotSource::new();
    let base = manifest(&repo, &back_up(&s, &repo, incremental()).await).await;
    let (everyone, groups) = groups_of(&s, &base).await;
    let group = &groups[0].0;
    s.timer.advance(TimeDelta::hours(1));
    let t = s.admin_token().await;
    let user = s
        .post(&t, "/api/v1/users", user_body(7))
        .await
        .expect(StatusCode::OK)
        .id();
    s.put(
        &t,
        &format!("/api/v1/groups/{group}/users/{user}"),
        json!({}),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    let prefixes = [members_path(group), members_path(&everyone)];
    let (second, requests) = incremental_after(&s, &repo, &prefixes).await;
    assert_eq!(requests[0], 0, "{group} listed again");
    assert!(requests[1] > 0, "Everyone not listed again");
    let members = ids_of(&manifest(&repo, &second).await, "group_membership");
    assert!(members.contains(&format!("{group}/{user}")));
    assert!(members.contains(&format!("{everyone}/{user}")));
}

/// An add and a remove of the same pair in one window end as the later one says; at
/// the same instant, which came last is unknown and the group is listed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_add_and_a_remove_of_one_pair_in_one_window() {
    let s = harness(None).await;
    let repo = InMemorySnapshotSource::new();
    let base = manifest(&repo, &back_up(&s, &repo, incremental()).await).await;
    let (_, groups) = groups_of(&s, &base).await;
    let users = ids_of(&base, "user");
    let outsider = |members: &BTreeSet<String>| {
        users
            .iter()
            .find(|u| !members.contains(*u))
            .unwrap()
            .clone()
    };
    let (added_removed, members_a) = &groups[0];
    let (removed_added, members_b) = &groups[1];
    let (same_instant, members_c) = &groups[2];
    let (joiner, returner, flicker) = (
        outsider(members_a),
        members_b.iter().next().unwrap().clone(),
        outsider(members_c),
    );
    s.timer.advance(TimeDelta::hours(1));
    let t = s.admin_token().await;
    let pair = |g: &str, u: &str| format!("/api/v1/groups/{g}/users/{u}");
    let no_content = StatusCode::NO_CONTENT;
    // Added, then removed a second later: not a member.
    s.put(&t, &pair(added_removed, &joiner), json!({}))
        .await
        .expect(no_content);
    s.timer.advance(TimeDelta::seconds(1));
    s.delete(&t, &pair(added_removed, &joiner))
        .await
        .expect(no_content);
    // Removed, then added back a second later: a member, as before.
    s.delete(&t, &pair(removed_added, &returner))
        .await
        .expect(no_content);
    s.timer.advance(TimeDelta::seconds(1));
    s.put(&t, &pair(removed_added, &returner), json!({}))
        .await
        .expect(no_content);
    // Added and removed at the same instant.
    s.put(&t, &pair(same_instant, &flicker), json!({}))
        .await
        .expect(no_content);
    s.delete(&t, &pair(same_instant, &flicker))
        .await
        .expect(no_content);
    let prefixes = [
        members_path(added_removed),
        members_path(removed_added),
        members_path(same_instant),
    ];
    let (second, requests) = incremental_after(&s, &repo, &prefixes).await;
    assert_eq!(requests[..2], [0, 0], "applied pairs listed again");
    assert!(requests[2] > 0, "a same-instant pair was not listed again");
    let members = ids_of(&manifest(&repo, &second).await, "group_membership");
    assert!(!members.contains(&format!("{added_removed}/{joiner}")));
    assert!(members.contains(&format!("{removed_added}/{returner}")));
    assert!(!members.contains(&format!("{same_instant}/{flicker}")));
}

/// An event type this code does not know, naming a group, lists its members again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_event_naming_a_group_lists_it_again() {
    let s = harness(None).await;
    let repo = InMemorySnapshotSource::new();
    let base = manifest(&repo, &back_up(&s, &repo, incremental()).await).await;
    let (_, groups) = groups_of(&s, &base).await;
    let (named, other) = (&groups[0].0, &groups[1].0);
    s.timer.advance(TimeDelta::hours(1));
    s.sim
        .simulator()
        .log_event("group.something_okta_adds_later", &[("UserGroup", named)]);
    let prefixes = [members_path(named), members_path(other)];
    let (second, requests) = incremental_after(&s, &repo, &prefixes).await;
    assert!(requests[0] > 0, "the named group was not listed again");
    assert_eq!(requests[1], 0);
    let report = second.fetch.incremental.unwrap();
    assert!(report.relisted["group_membership"].contains(named));
    assert!(report.relisted["group_owner"].contains(named));
}
