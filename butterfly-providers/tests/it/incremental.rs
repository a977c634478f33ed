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
use butterfly_providers::okta::simulator::{OrgConfig, SimulatorConfig};
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

    // Apps: assignments of a user and a group, a relabel.
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
    // Members listed again only under the groups the log names (and the new group).
    let relisted = &report.relisted["group_membership"];
    let groups = ids_of(&manifest(&repo, &full).await, "group");
    assert!(relisted.len() < groups.len(), "{relisted:?}");
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
