//! Restores, syncs and undos as server jobs, over the JSON API, against the Okta
//! simulator on a loopback port: plan, dry run, execute, reviewed plans, one restore per
//! org, permissions, tenant isolation, audit trail, undo.

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::Duration;

use axum::Router;
use axum::http::{Method, StatusCode};
use butterfly_core::store::{ApiKeyStore, TeamStore};
use butterfly_core::{Role, TeamId};
use butterfly_providers::okta::restore::read_live;
use butterfly_providers::okta::simulator::{OrgConfig, RunningSimulator};
use butterfly_server::app::{AppState, bootstrap, build_router, open_state};
use butterfly_server::backups::{Worker, spawn_worker};
use butterfly_server::config::Config;
use butterfly_store::sql::{NewRestoreJob, RestoreFinish, RestoreStart};
use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

mod support;

async fn simulator(seed: u64) -> RunningSimulator {
    support::okta_simulator(OrgConfig {
        seed,
        users: 20,
        groups: 5,
        apps: 4,
    })
    .await
}

struct Setup {
    sim: RunningSimulator,
    state: AppState,
    _worker: Worker,
    router: Router,
    key: String,
    team: TeamId,
    _dir: tempfile::TempDir,
}

impl Setup {
    async fn start(seed: u64) -> Setup {
        let sim = simulator(seed).await;
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_data_dir(dir.path());
        // The simulator listens on loopback.
        config.allow_private_org_urls = true;
        let state = open_state(&config).await.unwrap();
        let (team, key) = bootstrap(&state).await.unwrap().unwrap();
        Setup {
            sim,
            _worker: spawn_worker(state.clone()),
            router: build_router(state.clone()),
            state,
            key: key.secret().to_owned(),
            team: team.id,
            _dir: dir,
        }
    }

    async fn call_as(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        support::call(&self.router, method, path, Some(key), body).await
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(&self.key, method, path, body).await
    }

    async fn key_with_role(&self, team: TeamId, role: Role) -> String {
        let (_, raw) = self
            .state
            .store
            .create_service_api_key(team, "test", role, "tests", None)
            .await
            .unwrap();
        raw.secret().to_owned()
    }

    async fn connection_to(&self, key: &str, sim: &RunningSimulator, name: &str) -> String {
        let credentials = sim.simulator().client_credentials();
        let (status, body) = self
            .call_as(
                key,
                Method::POST,
                "/api/v1/connections",
                Some(support::connection_body(
                    name,
                    sim.org_url(),
                    &credentials.client_id,
                )),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Back up a connection through a job; the snapshot's id.
    async fn backup(&self, connection: &str) -> String {
        let (status, job) = self
            .call(
                Method::POST,
                "/api/v1/backups",
                Some(json!({"connection_id": connection})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{job}");
        let job =
            support::wait_for_backup(&self.router, &self.key, job["id"].as_str().unwrap()).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        job["outcome"]["snapshot"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Start a run (`202`) and poll it until it ends (bounded by polls, not by time).
    async fn run(&self, path: &str, body: Value) -> Value {
        let (status, job) = self.call(Method::POST, path, Some(body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{job}");
        assert_eq!(job["status"], "running", "{job}");
        self.wait_for(job["id"].as_str().unwrap()).await
    }

    async fn wait_for(&self, id: &str) -> Value {
        for _ in 0..1200 {
            let (status, job) = self
                .call(Method::GET, &format!("/api/v1/restores/{id}"), None)
                .await;
            assert_eq!(status, StatusCode::OK, "{job}");
            if job["status"] != "running" {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("restore {id} did not finish");
    }

    /// The audit lines about run `id`: (action, actor).
    async fn audit_of(&self, id: &str, expected: usize) -> Vec<(String, String)> {
        let target = format!("restore:{id}");
        let mut lines = Vec::new();
        // The finishing line is written just after the run's row ends: polled, boundedly.
        for _ in 0..100 {
            let (_, trail) = self.call(Method::GET, "/api/v1/audit", None).await;
            lines = trail
                .as_array()
                .unwrap()
                .iter()
                .filter(|l| l["target"] == json!(target))
                .map(|l| {
                    (
                        l["action"].as_str().unwrap().to_owned(),
                        l["actor"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            if lines.len() >= expected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        lines
    }
}

/// Delete two of the org's own groups (with their memberships); their ids.
async fn delete_two_groups(sim: &RunningSimulator) -> Vec<String> {
    let fetcher = support::fetcher(sim);
    let live = read_live(&fetcher, &["group".to_owned()].into_iter().collect())
        .await
        .unwrap();
    let groups: Vec<String> = live
        .resources
        .kind("group")
        .filter(|(_, g)| g["type"] == "OKTA_GROUP")
        .map(|(id, _)| id.clone())
        .take(2)
        .collect();
    assert_eq!(groups.len(), 2);
    let session = fetcher.sign_in(support::admin_scopes()).await.unwrap();
    for group in &groups {
        let answer = session
            .send("DELETE", &format!("/api/v1/groups/{group}"), None, true)
            .await
            .unwrap();
        assert!(answer.is_success(), "{answer:?}");
    }
    groups
}

/// Rename one of the org's own network zones.
async fn rename_a_zone(sim: &RunningSimulator, name: &str) {
    support::edit_own_zone(sim, |zone| zone["name"] = Value::String(name.into())).await;
}

/// The names of the org's own groups.
async fn group_names(sim: &RunningSimulator) -> BTreeSet<String> {
    read_live(
        &support::fetcher(sim),
        &["group".to_owned()].into_iter().collect(),
    )
    .await
    .unwrap()
    .resources
    .kind("group")
    .filter(|(_, g)| g["type"] == "OKTA_GROUP")
    .map(|(_, g)| g["profile"]["name"].as_str().unwrap().to_owned())
    .collect()
}

fn groups_to_create(plan: &Value) -> usize {
    plan["create"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "group")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutated_org_is_restored_by_a_job_then_undone_and_every_run_is_audited() {
    let s = Setup::start(31).await;
    let connection = s.connection_to(&s.key, &s.sim, "okta-prod").await;
    let snapshot = s.backup(&connection).await;
    delete_two_groups(&s.sim).await;

    // The preview: both groups to create, nothing written.
    let before = s.sim.simulator().request_log();
    let (status, plan) = s
        .call(
            Method::POST,
            &format!("/api/v1/connections/{connection}/restore-plans"),
            Some(json!({"snapshot": &snapshot[..8]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(groups_to_create(&plan), 2, "{plan}");
    assert_eq!(plan["snapshot_id"], snapshot.as_str());
    assert!(plan["fingerprint"].as_str().unwrap().len() >= 64);
    assert_eq!(s.sim.simulator().request_log().writes, before.writes);

    // A dry run job: the plan, zero writes.
    let dry = s
        .run(
            &format!("/api/v1/connections/{connection}/restores"),
            json!({"snapshot": snapshot, "dry_run": true}),
        )
        .await;
    assert_eq!(dry["status"], "succeeded", "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(
        dry["counts"]["create"],
        plan["create"].as_array().unwrap().len()
    );
    assert_eq!(groups_to_create(&dry["plan"]), 2);
    assert_eq!(dry["report"], Value::Null);
    let after = s.sim.simulator().request_log();
    assert_eq!(after.writes, before.writes, "{:?}", after.writes_by_route());
    assert!(after.total > before.total, "the dry run read the org");

    // The restore: the groups come back (with their members); a new plan creates nothing.
    let done = s
        .run(
            &format!("/api/v1/connections/{connection}/restores"),
            json!({"snapshot": snapshot}),
        )
        .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["report"]["failed"], 0, "{}", done["report"]);
    assert!(done["report"]["done"].as_u64().unwrap() >= 2);
    assert!(
        done["report"]["undo_snapshot"].is_string() || done["report"]["undo_snapshot"].is_null()
    );
    assert!(s.sim.simulator().request_log().writes_to("/api/v1/groups") >= 2);
    assert!(done["follow_ups"].is_array());
    let (_, again) = s
        .call(
            Method::POST,
            &format!("/api/v1/connections/{connection}/restore-plans"),
            Some(json!({"snapshot": snapshot})),
        )
        .await;
    assert_eq!(groups_to_create(&again), 0, "{again}");

    // Listed, newest first.
    let (_, listed) = s.call(Method::GET, "/api/v1/restores", None).await;
    assert_eq!(listed[0]["id"], done["id"]);
    assert_eq!(listed[1]["id"], dry["id"]);
    assert!(listed[0].get("plan").is_none(), "lists leave plans out");

    // Audited: requested by the API key, finished in the key's name too.
    let lines = s.audit_of(done["id"].as_str().unwrap(), 2).await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].0, "restore.requested");
    assert_eq!(lines[1].0, "restore.succeeded");
    assert!(lines[0].1.starts_with("api_key:"), "{lines:?}");
    assert_eq!(lines[0].1, lines[1].1);
    assert_eq!(done["requested_by"], lines[0].1.as_str());
    let (_, trail) = s.call(Method::GET, "/api/v1/audit", None).await;
    assert!(
        trail
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["action"] == "restore.planned"),
        "{trail}"
    );

    // Undo: the groups are gone again.
    let undone = s
        .run(
            &format!("/api/v1/restores/{}/undo", done["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(undone["status"], "succeeded", "{undone}");
    assert_eq!(undone["kind"], "undo");
    assert_eq!(undone["undo_of"], done["id"]);
    assert!(!undone["plan"]["delete"].as_array().unwrap().is_empty());
    let (_, after_undo) = s
        .call(
            Method::POST,
            &format!("/api/v1/connections/{connection}/restore-plans"),
            Some(json!({"snapshot": snapshot})),
        )
        .await;
    assert_eq!(groups_to_create(&after_undo), 2, "{after_undo}");
    let lines = s.audit_of(undone["id"].as_str().unwrap(), 2).await;
    assert_eq!(
        lines.iter().map(|l| l.0.as_str()).collect::<Vec<_>>(),
        ["undo.requested", "undo.succeeded"]
    );

    // A dry run wrote nothing: nothing to undo.
    let (status, body) = s
        .call(
            Method::POST,
            &format!("/api/v1/restores/{}/undo", dry["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nothing to undo")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewed_plan_runs_exactly_and_is_refused_once_the_org_changed() {
    let s = Setup::start(32).await;
    let connection = s.connection_to(&s.key, &s.sim, "okta-prod").await;
    let snapshot = s.backup(&connection).await;
    delete_two_groups(&s.sim).await;
    let path = format!("/api/v1/connections/{connection}/restore-plans");
    let (_, reviewed) = s
        .call(Method::POST, &path, Some(json!({"snapshot": snapshot})))
        .await;
    let fingerprint = reviewed["fingerprint"].as_str().unwrap().to_owned();

    // The org changes after the review: executing the plan is refused, nothing written.
    rename_a_zone(&s.sim, "Renamed after the review").await;
    let before = s.sim.simulator().request_log();
    let refused = s
        .run(
            &format!("/api/v1/connections/{connection}/restores"),
            json!({"plan_fingerprint": fingerprint}),
        )
        .await;
    assert_eq!(refused["status"], "failed", "{refused}");
    let error = refused["error"].as_str().unwrap();
    assert!(error.starts_with("plan_stale:"), "{error}");
    assert!(error.contains("changed since the plan"), "{error}");
    assert_eq!(s.sim.simulator().request_log().writes, before.writes);
    let lines = s.audit_of(refused["id"].as_str().unwrap(), 2).await;
    assert_eq!(lines[1].0, "restore.failed", "{lines:?}");

    // A new review, executed exactly: the run's plan is that plan.
    let (_, fresh) = s
        .call(Method::POST, &path, Some(json!({"snapshot": snapshot})))
        .await;
    let done = s
        .run(
            &format!("/api/v1/connections/{connection}/restores"),
            json!({"plan_fingerprint": fresh["fingerprint"]}),
        )
        .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["plan"], fresh);
    assert_eq!(done["counts"]["plan_fingerprint"], fresh["fingerprint"]);

    // Unknown fingerprints, and mixing a plan with options, are refused up front.
    let (status, body) = s
        .call(
            Method::POST,
            &format!("/api/v1/connections/{connection}/restores"),
            Some(json!({"plan_fingerprint": "ab".repeat(32)})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = s
        .call(
            Method::POST,
            &format!("/api/v1/connections/{connection}/restores"),
            Some(json!({"plan_fingerprint": fingerprint, "kinds": ["group"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    for bad in [
        json!({"snapshot": snapshot, "kinds": ["no_such_kind"]}),
        json!({"snapshot": "zz"}),
        json!({"snapshot": snapshot, "surprise": true}),
        json!({}),
    ] {
        let (status, body) = s
            .call(
                Method::POST,
                &format!("/api/v1/connections/{connection}/restores"),
                Some(bad.clone()),
            )
            .await;
        assert!(status.is_client_error(), "{bad}: {status} {body}");
        assert!(body["error"]["message"].is_string(), "{bad}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_restore_of_one_org_is_refused_while_one_runs() {
    let s = Setup::start(33).await;
    let connection = s.connection_to(&s.key, &s.sim, "okta-prod").await;
    let snapshot = s.backup(&connection).await;
    // A restore of the org running on another replica: its row holds the org.
    let RestoreStart::Started(running) = s
        .state
        .store
        .start_restore_job(
            NewRestoreJob {
                team_id: s.team,
                connection_id: Uuid::parse_str(&connection).unwrap(),
                org: s.sim.org_url().to_owned(),
                kind: "restore".into(),
                dry_run: false,
                request: json!({}),
                requested_by: "api_key:elsewhere".into(),
                undo_of: None,
            },
            Utc::now() - chrono::TimeDelta::minutes(5),
        )
        .await
        .unwrap()
    else {
        panic!("the org was free");
    };
    let path = format!("/api/v1/connections/{connection}/restores");
    let (status, body) = s
        .call(Method::POST, &path, Some(json!({"snapshot": snapshot})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&running.id.to_string()), "{message}");
    assert!(message.contains("already running"), "{message}");
    // Syncs and undos onto the org are refused the same way; a dry run writes nothing
    // and is not.
    let (status, _) = s
        .call(
            Method::POST,
            &format!("/api/v1/connections/{connection}/syncs"),
            Some(json!({"snapshot": snapshot})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let dry = s
        .run(&path, json!({"snapshot": snapshot, "dry_run": true}))
        .await;
    assert_eq!(dry["status"], "succeeded", "{dry}");

    // Another team's connection to the same org is refused too, without naming the job.
    let other = s.state.store.create_team("other").await.unwrap();
    let other_key = s.key_with_role(other.id, Role::Admin).await;
    let theirs = s.connection_to(&other_key, &s.sim, "same-org").await;
    let (status, body) = s
        .call_as(
            &other_key,
            Method::POST,
            &format!("/api/v1/connections/{theirs}/syncs"),
            Some(json!({"snapshot": "0000"})),
        )
        .await;
    // Their repository has no snapshot: refused for that first.
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // Once it ends, the org is free again.
    s.state
        .store
        .finish_restore_job(
            running.id,
            RestoreFinish {
                succeeded: true,
                report: None,
                journal: None,
                error: None,
            },
        )
        .await
        .unwrap();
    let done = s.run(&path, json!({"snapshot": snapshot})).await;
    assert_eq!(done["status"], "succeeded", "{done}");

    // A run whose server stopped beating is failed as abandoned by the next start.
    let RestoreStart::Started(stuck) = s
        .state
        .store
        .start_restore_job(
            NewRestoreJob {
                team_id: s.team,
                connection_id: Uuid::parse_str(&connection).unwrap(),
                org: s.sim.org_url().to_owned(),
                kind: "restore".into(),
                dry_run: false,
                request: json!({}),
                requested_by: "api_key:elsewhere".into(),
                undo_of: None,
            },
            Utc::now(),
        )
        .await
        .unwrap()
    else {
        panic!("the org was not freed");
    };
    let taken_over = s
        .state
        .store
        .start_restore_job(
            NewRestoreJob {
                team_id: s.team,
                connection_id: Uuid::parse_str(&connection).unwrap(),
                org: s.sim.org_url().to_owned(),
                kind: "restore".into(),
                dry_run: false,
                request: json!({}),
                requested_by: "api_key:here".into(),
                undo_of: None,
            },
            // Every beat so far counts as stale.
            Utc::now() + chrono::TimeDelta::minutes(1),
        )
        .await
        .unwrap();
    assert!(matches!(taken_over, RestoreStart::Started(_)));
    let (_, stuck) = s
        .call(Method::GET, &format!("/api/v1/restores/{}", stuck.id), None)
        .await;
    assert_eq!(stuck["status"], "failed");
    assert!(stuck["error"].as_str().unwrap().starts_with("abandoned"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restores_need_the_permission_and_stay_in_the_team() {
    let s = Setup::start(34).await;
    let connection = s.connection_to(&s.key, &s.sim, "okta-prod").await;
    let snapshot = s.backup(&connection).await;
    let done = s
        .run(
            &format!("/api/v1/connections/{connection}/restores"),
            json!({"snapshot": snapshot, "dry_run": true}),
        )
        .await;
    let run = done["id"].as_str().unwrap();
    let routes = [
        (
            Method::POST,
            format!("/api/v1/connections/{connection}/restore-plans"),
        ),
        (
            Method::POST,
            format!("/api/v1/connections/{connection}/restores"),
        ),
        (
            Method::POST,
            format!("/api/v1/connections/{connection}/syncs"),
        ),
        (Method::GET, "/api/v1/restores".to_owned()),
        (Method::GET, format!("/api/v1/restores/{run}")),
        (Method::POST, format!("/api/v1/restores/{run}/undo")),
    ];
    for role in [Role::BackupOperator, Role::Auditor, Role::ReadOnly] {
        let key = s.key_with_role(s.team, role).await;
        for (method, path) in &routes {
            let (status, body) = s
                .call_as(
                    &key,
                    method.clone(),
                    path,
                    Some(json!({"snapshot": snapshot})),
                )
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{role} {method} {path}");
            assert_eq!(body["error"]["permission"], "restore_from_backup");
        }
    }
    // Another team sees none of it: not the connection, not the run, not the list.
    let other = s.state.store.create_team("other").await.unwrap();
    let other_key = s.key_with_role(other.id, Role::SuperAdmin).await;
    for (method, path) in &routes {
        let body = (*method == Method::POST && !path.ends_with("/undo"))
            .then(|| json!({"snapshot": snapshot}));
        let (status, body) = s.call_as(&other_key, method.clone(), path, body).await;
        if path == "/api/v1/restores" {
            assert_eq!(status, StatusCode::OK);
            assert_eq!(body, json!([]));
        } else {
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
        }
    }
    // Nothing was written by any of it.
    assert_eq!(s.sim.simulator().request_log().writes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_previews_then_brings_another_org_in_line_by_name() {
    let s = Setup::start(35).await;
    let staging = s.connection_to(&s.key, &s.sim, "staging").await;
    let production_sim = simulator(36).await;
    let production = s.connection_to(&s.key, &production_sim, "production").await;
    let snapshot = s.backup(&staging).await;
    let path = format!("/api/v1/connections/{production}/syncs");

    // A preview: zero writes to production.
    let preview = s
        .run(
            &path,
            json!({"snapshot": snapshot, "kinds": ["group"], "dry_run": true,
                   "vars": "# staging to production\nDOMAIN=prod.example.com\n"}),
        )
        .await;
    assert_eq!(preview["status"], "succeeded", "{preview}");
    assert_eq!(preview["kind"], "sync");
    assert_eq!(preview["plan"]["mode"], "sync");
    assert_eq!(production_sim.simulator().request_log().writes, 0);
    // Variable names are kept with the request, never their values.
    assert_eq!(preview["request"]["variables"], json!(["DOMAIN"]));
    assert!(!preview.to_string().contains("prod.example.com"));
    let to_create = groups_to_create(&preview["plan"]);
    assert!(to_create > 0, "{}", preview["plan"]);

    // The sync: staging's groups exist in production by name afterwards.
    let synced = s
        .run(&path, json!({"snapshot": snapshot, "kinds": ["group"]}))
        .await;
    assert_eq!(synced["status"], "succeeded", "{synced}");
    assert!(production_sim.simulator().request_log().writes > 0);
    let staging_names = group_names(&s.sim).await;
    let production_names = group_names(&production_sim).await;
    assert!(!staging_names.is_empty());
    assert!(
        staging_names.is_subset(&production_names),
        "{staging_names:?} vs {production_names:?}"
    );

    // Bad variables are refused before anything starts.
    let (status, body) = s
        .call(
            Method::POST,
            &path,
            Some(json!({"snapshot": snapshot, "vars": "not a variable line"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("vars:")
    );
}

/// A reviewed plan runs exactly as reviewed: a request that names the plan and also
/// chooses a snapshot, kinds, ids, overwrite or delete_extra is refused before anything
/// starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_fingerprint_with_a_selection_of_its_own_is_refused() {
    let s = Setup::start(37).await;
    let connection = s.connection_to(&s.key, &s.sim, "okta-prod").await;
    let snapshot = s.backup(&connection).await;
    let (status, plan) = s
        .call(
            Method::POST,
            &format!("/api/v1/connections/{connection}/restore-plans"),
            Some(json!({"snapshot": snapshot, "kinds": ["group"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    let fingerprint = plan["fingerprint"].as_str().unwrap();
    let path = format!("/api/v1/connections/{connection}/restores");
    for (field, value) in [
        ("snapshot", json!(snapshot)),
        ("kinds", json!(["group"])),
        ("ids", json!(["group/00g0000000000000001"])),
        ("overwrite", json!(true)),
        ("delete_extra", json!(true)),
    ] {
        let mut body = json!({"plan_fingerprint": fingerprint, "dry_run": true});
        body[field] = value;
        let (status, answer) = s.call(Method::POST, &path, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("with plan_fingerprint the reviewed plan says what to do"),
            "{field}: {answer}"
        );
    }
    // The plan alone is accepted: the refusals were about the extra choices.
    let accepted = s
        .run(
            &path,
            json!({"plan_fingerprint": fingerprint, "dry_run": true}),
        )
        .await;
    assert_eq!(accepted["status"], "succeeded", "{accepted}");
    let (_, runs) = s.call(Method::GET, "/api/v1/restores", None).await;
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(s.sim.simulator().request_log().writes, 0);
}

/// Variables a sync cannot read are refused before anything starts, each with what is
/// wrong: not text or an object, a name that is not a variable name, a value that is
/// not a string.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_with_malformed_vars_is_refused_before_it_starts() {
    let s = Setup::start(38).await;
    let staging = s.connection_to(&s.key, &s.sim, "staging").await;
    let production_sim = simulator(39).await;
    let production = s.connection_to(&s.key, &production_sim, "production").await;
    let snapshot = s.backup(&staging).await;
    let path = format!("/api/v1/connections/{production}/syncs");
    for (vars, expected) in [
        (
            json!(42),
            "vars: expected the variables file as text, or its JSON object",
        ),
        (
            json!(["DOMAIN=prod.example.com"]),
            "vars: expected the variables file as text, or its JSON object",
        ),
        (
            json!("domain=prod.example.com"),
            "`domain` is not a variable name",
        ),
        (json!("DOMAIN"), "expected NAME=value"),
        (
            json!({"variables": {"lower": "x"}}),
            "`lower` is not a variable name",
        ),
        (json!({"variables": {"DOMAIN": 1}}), "vars:"),
        (json!({"replace": "not a map"}), "vars:"),
    ] {
        let (status, body) = s
            .call(
                Method::POST,
                &path,
                Some(json!({"snapshot": snapshot, "kinds": ["group"], "vars": vars})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{vars}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("vars:"), "{vars}: {message}");
        assert!(message.contains(expected), "{vars}: {message}");
    }
    let (_, runs) = s.call(Method::GET, "/api/v1/restores", None).await;
    assert_eq!(runs, json!([]));
    assert_eq!(production_sim.simulator().request_log().writes, 0);
}
