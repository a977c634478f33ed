//! Backup connections and backup jobs through the JSON API, with the job worker running
//! in-process against the Okta simulator on a loopback port.

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::Router;
use axum::http::{Method, StatusCode};
use butterfly_core::store::{ApiKeyStore, JobStore, TeamStore};
use butterfly_core::{Role, TeamId};
use butterfly_providers::okta::simulator::{
    FaultKind, FaultRule, OrgConfig, RunningSimulator, SECRET_MARKER, Simulator, SimulatorConfig,
};
use butterfly_server::app::{AppState, bootstrap, build_router, open_state};
use butterfly_server::backups::{OKTA_BACKUP_JOB, Worker, spawn_worker};
use butterfly_server::config::Config;
use chrono::Utc;
use serde_json::{Value, json};

mod support;

struct Setup {
    sim: RunningSimulator,
    state: AppState,
    worker: Option<Worker>,
    router: Router,
    key: String,
    team: TeamId,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn start(granted_scopes: Option<BTreeSet<String>>) -> Setup {
        let sim = Simulator::bind(
            SimulatorConfig {
                granted_scopes,
                ..support::simulator_config(OrgConfig {
                    seed: 11,
                    users: 30,
                    groups: 5,
                    apps: 6,
                })
            },
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_data_dir(dir.path());
        // The simulator listens on loopback.
        config.allow_private_org_urls = true;
        let state = open_state(&config).await.unwrap();
        let (team, key) = bootstrap(&state).await.unwrap().unwrap();
        let worker = Some(spawn_worker(state.clone()));
        Setup {
            sim,
            worker,
            router: build_router(state.clone()),
            state,
            key: key.secret().to_owned(),
            team: team.id,
            dir,
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

    fn connection_body(&self, name: &str) -> Value {
        let credentials = self.sim.simulator().client_credentials();
        support::connection_body(name, self.sim.org_url(), &credentials.client_id)
    }

    async fn create_connection(&self, name: &str) -> Value {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/connections",
                Some(self.connection_body(name)),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Queue a backup and poll it until it finishes (bounded by polls, not by time).
    async fn backup(&self, connection_id: &str) -> Value {
        let (status, job) = self
            .call(
                Method::POST,
                "/api/v1/backups",
                Some(json!({"connection_id": connection_id})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{job}");
        assert_eq!(job["status"], "queued");
        self.wait_for(job["id"].as_str().unwrap()).await
    }

    async fn wait_for(&self, job_id: &str) -> Value {
        support::wait_for_backup(&self.router, &self.key, job_id).await
    }
}

fn org_counts(sim: &RunningSimulator) -> BTreeMap<String, u64> {
    sim.simulator()
        .org()
        .counts()
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_owned(), n as u64))
        .collect()
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_backup_runs_as_a_job_and_its_snapshot_is_served() {
    let s = Setup::start(None).await;
    let connection = s.create_connection("okta-prod").await;
    let id = connection["id"].as_str().unwrap();
    assert_eq!(connection["private_key_set"], true);
    assert_eq!(connection["rate_limit_share"], 1.0);
    assert!(!connection.to_string().contains("PRIVATE KEY"));

    // Test: signs in and reads users; the outcome is kept on the connection.
    let (status, tested) = s
        .call(
            Method::POST,
            &format!("/api/v1/connections/{id}/test"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tested}");
    assert_eq!(tested["ok"], true, "{tested}");
    assert_eq!(tested["users_readable"], true);
    assert_eq!(tested["missing_scopes"], json!([]));
    let (_, shown) = s
        .call(Method::GET, &format!("/api/v1/connections/{id}"), None)
        .await;
    assert_eq!(shown["last_test"]["ok"], true);

    let job = s.backup(id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["attempts"], 1);
    let outcome = &job["outcome"];
    assert_eq!(outcome["snapshot"]["status"], "complete", "{outcome}");

    // The audit trail has the run: queued by the API key, succeeded by the worker (which
    // writes its line just after the job's end, so it is polled for, boundedly).
    let job_target = format!("job:{}", job["id"].as_str().unwrap());
    let mut lines = Vec::new();
    for _ in 0..100 {
        let (_, trail) = s.call(Method::GET, "/api/v1/audit", None).await;
        lines = trail
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["target"] == json!(job_target))
            .map(|l| (l["action"].clone(), l["actor"].clone()))
            .collect();
        if lines.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].0, "backup.queued");
    assert!(lines[0].1.as_str().unwrap().starts_with("api_key:"));
    assert_eq!(lines[1], (json!("backup.succeeded"), json!("system")));
    let expected = org_counts(&s.sim);
    let counts: BTreeMap<String, u64> =
        serde_json::from_value(outcome["snapshot"]["counts"].clone()).unwrap();
    assert_eq!(counts, expected);
    // The last progress report agrees with the outcome.
    assert_eq!(
        job["progress"]["resources"],
        outcome["snapshot"]["resources"]
    );

    let snapshot_id = outcome["snapshot"]["id"].as_str().unwrap();
    let (status, listed) = s.call(Method::GET, "/api/v1/snapshots", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], snapshot_id);
    assert_eq!(listed[0]["org"], s.sim.org_url());
    let (status, snapshot) = s
        .call(
            Method::GET,
            &format!("/api/v1/snapshots/{snapshot_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(snapshot, outcome["snapshot"]);

    // A second backup of the unchanged org stores almost nothing new.
    let again = s.backup(id).await;
    assert_eq!(again["status"], "succeeded");
    let first_bytes = outcome["write"]["new_bytes"].as_u64().unwrap();
    let second_bytes = again["outcome"]["write"]["new_bytes"].as_u64().unwrap();
    assert!(
        second_bytes * 10 < first_bytes,
        "{second_bytes} vs {first_bytes}"
    );
    let (_, jobs) = s.call(Method::GET, "/api/v1/backups", None).await;
    assert_eq!(jobs[0]["id"], again["id"], "newest first");
    assert_eq!(jobs.as_array().unwrap().len(), 2);

    // The snapshots are in the object store (here the default `<data-dir>/objects`),
    // under the team's prefix.
    let repository = s
        .dir
        .path()
        .join(format!("objects/teams/{}/repository", s.team));
    assert!(
        repository
            .join(format!("snapshots/{snapshot_id}.snapshot"))
            .is_file()
    );
    // Another replica with its own data directory, sharing the object store and the
    // master key, serves the same snapshots.
    let replica = tempfile::tempdir().unwrap();
    std::fs::copy(
        s.dir.path().join("master.key"),
        replica.path().join("master.key"),
    )
    .unwrap();
    let mut config = Config::for_data_dir(replica.path());
    config.allow_private_org_urls = true;
    config.object_store_url = Some(format!("file://{}", s.dir.path().join("objects").display()));
    let other = open_state(&config).await.unwrap();
    let shared = other.backups.repository(s.team).await.unwrap();
    let ids: Vec<String> = shared
        .list()
        .await
        .unwrap()
        .iter()
        .map(|snapshot| snapshot.id.to_string())
        .collect();
    assert_eq!(
        ids,
        [
            snapshot_id,
            again["outcome"]["snapshot"]["id"].as_str().unwrap()
        ]
    );
    assert!(shared.verify(None).await.unwrap().problems.is_empty());

    // Neither the key nor the org's planted secrets are stored in clear anywhere.
    let pem_body = support::client_key()
        .private_pem
        .lines()
        .nth(1)
        .unwrap()
        .as_bytes()
        .to_vec();
    for file in files_under(s.dir.path()) {
        let bytes = std::fs::read(&file).unwrap();
        for needle in [SECRET_MARKER.as_bytes(), &pem_body] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} holds a secret",
                file.display()
            );
        }
    }
}

/// Finding 5 of issue 11 (SSRF): without `--allow-private-org-urls`, org URLs on
/// non-public addresses are refused when saved, and one saved while they were allowed
/// fails its test without a request leaving the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_org_urls_are_refused_unless_the_server_allows_them() {
    let s = Setup::start(None).await;
    let saved = s.create_connection("sim").await;
    // The same database and keys, served without the option.
    let strict = open_state(&Config::for_data_dir(s.dir.path()))
        .await
        .unwrap();
    assert!(!strict.allow_private_org_urls);
    let strict = build_router(strict);
    let call = |method, path: String, body| {
        let strict = &strict;
        let key = s.key.clone();
        async move { support::call(strict, method, &path, Some(&key), body).await }
    };
    let port = s.sim.org_url().rsplit(':').next().unwrap().to_owned();
    for org in [
        "https://169.254.169.254".to_owned(),
        "https://10.0.0.1".to_owned(),
        "https://[::1]".to_owned(),
        "https://[::ffff:127.0.0.1]".to_owned(),
        "https://[fe80::1]".to_owned(),
        "https://100.64.0.1".to_owned(),
        "http://2130706433".to_owned(),
        "http://0x7f.1".to_owned(),
        format!("http://localhost:{port}"),
        s.sim.org_url().to_owned(),
    ] {
        let mut body = s.connection_body("private");
        body["org_url"] = json!(org);
        let (status, answer) = call(Method::POST, "/api/v1/connections".into(), Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{org}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("public internet"), "{org}: {message}");
    }
    let before = s.sim.simulator().request_log().total;
    let id = saved["id"].as_str().unwrap();
    let (status, tested) = call(Method::POST, format!("/api/v1/connections/{id}/test"), None).await;
    assert_eq!(status, StatusCode::OK, "{tested}");
    assert_eq!(tested["ok"], false, "{tested}");
    assert!(
        tested["error"].as_str().unwrap().contains("loopback"),
        "{tested}"
    );
    assert_eq!(s.sim.simulator().request_log().total, before);
    // The server that allows them still reaches the simulator.
    let (_, tested) = s
        .call(
            Method::POST,
            &format!("/api/v1/connections/{id}/test"),
            None,
        )
        .await;
    assert_eq!(tested["ok"], true, "{tested}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_connections_are_refused_and_failed_tests_say_why() {
    let s = Setup::start(None).await;
    let mut cases = Vec::new();
    for (field, value) in [
        ("org_url", json!("ftp://example.okta.com")),
        ("org_url", json!("http://example.okta.com")),
        ("org_url", json!("https://example.okta.com/api/v1")),
        ("org_url", json!("https://example.okta.com/#admin")),
        ("org_url", json!("https://example.okta.com?x=1")),
        ("org_url", json!("https://user:pass@example.okta.com")),
        ("org_url", json!("not a url")),
        (
            "private_key",
            json!("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"),
        ),
        ("client_id", json!("  ")),
        ("rate_limit_share", json!(0)),
        ("rate_limit_share", json!(1.5)),
        ("provider", json!("auth0")),
        ("scopes", json!([])),
        ("name", json!("")),
    ] {
        let mut body = s.connection_body("bad");
        body[field] = value.clone();
        cases.push((format!("{field}={value}"), body));
    }
    let mut unknown = s.connection_body("bad");
    unknown["client_secret"] = json!("x");
    cases.push(("unknown field".into(), unknown));
    for (what, body) in cases {
        let (status, answer) = s
            .call(Method::POST, "/api/v1/connections", Some(body))
            .await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {status} {answer}"
        );
        assert!(answer["error"]["message"].is_string(), "{what}: {answer}");
    }
    // None of them was saved.
    let (status, listed) = s.call(Method::GET, "/api/v1/connections", None).await;
    assert_eq!((status, listed), (StatusCode::OK, json!([])));

    // A bad query string is a JSON error too.
    for query in ["limit=abc", "limit=-1", "limit=99999999999"] {
        let (status, body) = s
            .call(Method::GET, &format!("/api/v1/backups?{query}"), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(body["error"]["message"].is_string(), "{query}: {body}");
    }

    // Names are unique per team.
    s.create_connection("prod").await;
    let (status, _) = s
        .call(
            Method::POST,
            "/api/v1/connections",
            Some(s.connection_body("prod")),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A client id the org does not know: the test runs and reports the refusal.
    let mut wrong = s.connection_body("wrong-client");
    wrong["client_id"] = json!("0oa-not-registered");
    let (_, wrong) = s
        .call(Method::POST, "/api/v1/connections", Some(wrong))
        .await;
    let wrong_id = wrong["id"].as_str().unwrap();
    let (status, tested) = s
        .call(
            Method::POST,
            &format!("/api/v1/connections/{wrong_id}/test"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tested["ok"], false, "{tested}");
    let error = tested["error"].as_str().unwrap();
    // Named by its OAuth error code with our hint, never in the org's own words.
    assert!(
        error.contains("authentication") && error.contains("invalid_client"),
        "{error}"
    );

    // A backup of it fails as a job with the reason, and leaves no snapshot.
    let job = s.backup(wrong_id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["outcome"]["error"].is_string(), "{job}");
    let (_, snapshots) = s.call(Method::GET, "/api/v1/snapshots", None).await;
    assert_eq!(snapshots, json!([]));

    // Unknown ids and malformed ones.
    let missing = uuid::Uuid::new_v4();
    for path in [
        format!("/api/v1/connections/{missing}"),
        format!("/api/v1/backups/{missing}"),
        format!("/api/v1/snapshots/{missing}"),
    ] {
        let (status, _) = s.call(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = s
        .call(
            Method::POST,
            "/api/v1/backups",
            Some(json!({"connection_id": missing.to_string()})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s
        .call(Method::GET, "/api/v1/snapshots/not-an-id", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_scopes_make_a_partial_snapshot_and_the_test_lists_them() {
    let granted: BTreeSet<String> = butterfly_providers::okta::kinds::backup_scopes()
        .into_iter()
        .filter(|s| *s != "okta.logStreams.read" && *s != "okta.idps.read")
        .map(str::to_owned)
        .collect();
    let s = Setup::start(Some(granted)).await;
    let connection = s.create_connection("narrow").await;
    let id = connection["id"].as_str().unwrap();
    let (_, tested) = s
        .call(
            Method::POST,
            &format!("/api/v1/connections/{id}/test"),
            None,
        )
        .await;
    assert_eq!(tested["ok"], true, "{tested}");
    assert_eq!(
        tested["missing_scopes"],
        json!(["okta.idps.read", "okta.logStreams.read"])
    );
    assert!(
        tested["kinds_without_scope"]
            .as_array()
            .unwrap()
            .contains(&json!("idp"))
    );
    let job = s.backup(id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["outcome"]["snapshot"]["status"], "partial");
    assert!(
        job["outcome"]["snapshot"]["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("idp"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_worker_died_is_run_again() {
    let s = Setup::start(None).await;
    let connection = s.create_connection("prod").await;
    // A worker claimed this job an hour ago and has not been heard from since (it was
    // killed mid-backup).
    let an_hour_ago = Utc::now() - chrono::TimeDelta::hours(1);
    let job = s
        .state
        .store
        .enqueue_job(
            s.team,
            OKTA_BACKUP_JOB,
            json!({"connection_id": connection["id"]}),
            an_hour_ago - chrono::TimeDelta::minutes(1),
        )
        .await
        .unwrap();
    let claimed = s
        .state
        .store
        .claim_next_job("worker-that-died", an_hour_ago)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, job.id);
    // The live worker gives it back and runs it to the end.
    s.state.backups.job_queued();
    let done = s.wait_for(&job.id.to_string()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["attempts"], 2);
    assert_eq!(done["outcome"]["snapshot"]["status"], "complete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_see_only_their_own_connections_backups_and_snapshots() {
    let s = Setup::start(None).await;
    let connection = s.create_connection("prod").await;
    let id = connection["id"].as_str().unwrap();
    let job = s.backup(id).await;
    let snapshot_id = job["outcome"]["snapshot"]["id"].as_str().unwrap();

    let other = s.state.store.create_team("other").await.unwrap();
    let (_, raw) = s
        .state
        .store
        .create_api_key(other.id, "other", Role::SuperAdmin, None)
        .await
        .unwrap();
    let stranger = raw.secret();
    for path in [
        format!("/api/v1/connections/{id}"),
        format!("/api/v1/backups/{}", job["id"].as_str().unwrap()),
        format!("/api/v1/snapshots/{snapshot_id}"),
    ] {
        let (status, _) = s.call_as(stranger, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    for path in [
        "/api/v1/connections",
        "/api/v1/backups",
        "/api/v1/snapshots",
    ] {
        let (status, listed) = s.call_as(stranger, Method::GET, path, None).await;
        assert_eq!((status, listed), (StatusCode::OK, json!([])), "{path}");
    }
    let (status, _) = s
        .call_as(
            stranger,
            Method::POST,
            &format!("/api/v1/connections/{id}/test"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s
        .call_as(
            stranger,
            Method::POST,
            "/api/v1/backups",
            Some(json!({"connection_id": id})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s
        .call_as(
            stranger,
            Method::DELETE,
            &format!("/api/v1/connections/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A backup operator runs and reads backups but cannot add connections.
    let (_, raw) = s
        .state
        .store
        .create_api_key(s.team, "ops", Role::BackupOperator, None)
        .await
        .unwrap();
    let operator = raw.secret();
    let (status, _) = s
        .call_as(
            operator,
            Method::POST,
            "/api/v1/connections",
            Some(s.connection_body("ops")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s
        .call_as(
            operator,
            Method::POST,
            "/api/v1/backups",
            Some(json!({"connection_id": id})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_running_at_shutdown_is_handed_back_and_finished_after_restart() {
    let mut s = Setup::start(None).await;
    // Slow answers keep the backup running, however fast the machine, while the worker
    // is told to stop.
    s.sim.simulator().add_faults([FaultRule {
        delay_ms: Some(100),
        ..FaultRule::new(FaultKind::Slow)
    }]);
    let connection = s.create_connection("prod").await;
    let (_, job) = s
        .call(
            Method::POST,
            "/api/v1/backups",
            Some(json!({"connection_id": connection["id"]})),
        )
        .await;
    let job_id = job["id"].as_str().unwrap().to_owned();
    let mut running = false;
    for _ in 0..600 {
        let (_, job) = s
            .call(Method::GET, &format!("/api/v1/backups/{job_id}"), None)
            .await;
        if job["status"] == "running" {
            running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(running, "the job never started");

    s.worker.take().unwrap().shutdown().await;
    let (_, handed_back) = s
        .call(Method::GET, &format!("/api/v1/backups/{job_id}"), None)
        .await;
    assert_eq!(handed_back["status"], "queued", "{handed_back}");
    assert_eq!(
        handed_back["attempts"], 0,
        "the interrupted claim is not an attempt"
    );
    let (_, snapshots) = s.call(Method::GET, "/api/v1/snapshots", None).await;
    assert_eq!(snapshots, json!([]), "no half-written snapshot is listed");

    // The next server (here: a new worker) runs it to the end at once.
    s.sim.simulator().clear_faults();
    s.worker = Some(spawn_worker(s.state.clone()));
    let done = s.wait_for(&job_id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["attempts"], 1);
    let (_, snapshots) = s.call(Method::GET, "/api/v1/snapshots", None).await;
    assert_eq!(snapshots.as_array().unwrap().len(), 1);
}

/// `GET /api/v1/snapshots/{a}/diff/{b}`: the CLI's diff, over the API, under
/// `view backup contents`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_snapshots_are_diffed_over_the_api() {
    let s = Setup::start(None).await;
    let full = s.create_connection("full").await;
    let mut body = s.connection_body("no-zones");
    let scopes: Vec<&str> = butterfly_providers::okta::kinds::backup_scopes()
        .into_iter()
        .filter(|s| *s != "okta.networkZones.read")
        .collect();
    body["scopes"] = json!(scopes);
    let (status, partial) = s
        .call(Method::POST, "/api/v1/connections", Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{partial}");
    let a = s.backup(full["id"].as_str().unwrap()).await["outcome"]["snapshot"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = s.backup(partial["id"].as_str().unwrap()).await["outcome"]["snapshot"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let zones = org_counts(&s.sim)["network_zone"];

    let (status, diff) = s
        .call(
            Method::GET,
            &format!("/api/v1/snapshots/{}/diff/{}", &a[..8], &b[..8]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{diff}");
    assert_eq!(diff["summary"]["removed"], zones, "{diff}");
    assert_eq!(diff["summary"]["changed"], 0, "{diff}");
    assert!(
        diff["removed"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["severity"] == "high")
    );

    // Filters, and a bad one.
    let (_, filtered) = s
        .call(
            Method::GET,
            &format!("/api/v1/snapshots/{a}/diff/{b}?min_severity=critical"),
            None,
        )
        .await;
    assert_eq!(filtered["summary"]["removed"], 0, "{filtered}");
    let (_, other_kind) = s
        .call(
            Method::GET,
            &format!("/api/v1/snapshots/{a}/diff/{b}?kind=user,group"),
            None,
        )
        .await;
    assert_eq!(other_kind["summary"]["removed"], 0, "{other_kind}");
    let (status, bad) = s
        .call(
            Method::GET,
            &format!("/api/v1/snapshots/{a}/diff/{b}?min_severity=huge"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    let (status, _) = s
        .call(
            Method::GET,
            &format!("/api/v1/snapshots/{a}/diff/ffffffff"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // read_only may list backups but not look inside them.
    let (status, created) = s
        .call(
            Method::POST,
            "/api/v1/api-keys",
            Some(json!({"name": "viewer", "role": "read_only"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let viewer = created["secret"].as_str().unwrap();
    let (status, body) = s
        .call_as(
            viewer,
            Method::GET,
            &format!("/api/v1/snapshots/{a}/diff/{b}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["permission"], "view_backup_contents");
}

/// A finished backup job records the compliance summary of its snapshot: per framework
/// the checks passed, failed and not applicable and the highest failing severity, the
/// same counts as the snapshot's full report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_job_records_its_snapshot_s_compliance_summary() {
    let s = Setup::start(None).await;
    let connection = s.create_connection("okta-prod").await;
    let job = s.backup(connection["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let summary = &job["outcome"]["compliance"]["frameworks"];
    assert!(job["outcome"].get("compliance_error").is_none(), "{job}");
    let snapshot = job["outcome"]["snapshot"]["id"].as_str().unwrap();
    let (status, report) = s
        .call(
            Method::GET,
            &format!("/api/v1/snapshots/{snapshot}/compliance"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let summaries = report["summaries"].as_array().unwrap();
    assert_eq!(summary.as_object().unwrap().len(), summaries.len(), "{job}");
    assert_eq!(summaries.len(), 7);
    for full in summaries {
        let name = full["framework"].as_str().unwrap();
        let short = &summary[name];
        for field in ["passed", "failed", "not_applicable"] {
            assert_eq!(short[field], full[field], "{name} {field}: {job}");
        }
        let highest = report["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["framework"] == name && r["status"] == "fail")
            .map(|r| match r["severity"].as_str().unwrap() {
                "low" => 0,
                "medium" => 1,
                "high" => 2,
                _ => 3,
            })
            .max()
            .map(|n| ["low", "medium", "high", "critical"][n]);
        assert_eq!(
            short["highest_failing_severity"],
            json!(highest),
            "{name}: {job}"
        );
    }
    // The simulated org is not perfect: something fails somewhere.
    assert!(
        summaries.iter().any(|s| s["failed"].as_u64().unwrap() > 0),
        "{report}"
    );
}

/// Poll a connection's Git export setting until its outcome is about `snapshot` (bounded
/// by polls, not by time).
async fn wait_for_git_outcome(s: &Setup, connection: &str, snapshot: &str) -> Value {
    for _ in 0..1200 {
        let (status, body) = s
            .call(
                Method::GET,
                &format!("/api/v1/connections/{connection}/git-export"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["last_outcome"]["snapshot"] == snapshot {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no git export outcome for {snapshot}");
}

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

/// "Export to Git after every backup": each successful backup becomes a commit pushed
/// to the remote; a failed push is reported on the connection, never fails the backup,
/// and is made good by the next backup's push. The credential is sealed and never shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_are_exported_to_git_and_a_failed_push_never_fails_them() {
    let s = Setup::start(None).await;
    let connection = s.create_connection("prod").await;
    let id = connection["id"].as_str().unwrap();
    let path = format!("/api/v1/connections/{id}/git-export");
    let remote = s.dir.path().join("remote.git");
    git(
        s.dir.path(),
        &["init", "--bare", "--quiet", remote.to_str().unwrap()],
    );
    let good_url = format!("file://{}", remote.display());

    // Refusals: a password in the URL, a deploy key that is not one, both credentials,
    // a bad branch; and read_only may not touch integrations.
    for bad in [
        json!({"remote_url": "https://u:ghp_x@github.com/a/b.git"}),
        json!({"remote_url": good_url, "deploy_key": "not a key"}),
        json!({"remote_url": good_url, "token": "t", "deploy_key": "-----BEGIN OPENSSH PRIVATE KEY-----"}),
        json!({"remote_url": good_url, "branch": "a..b"}),
    ] {
        let (status, body) = s.call(Method::PUT, &path, Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (_, created) = s
        .call(
            Method::POST,
            "/api/v1/api-keys",
            Some(json!({"name": "viewer", "role": "read_only"})),
        )
        .await;
    let (status, _) = s
        .call_as(
            created["secret"].as_str().unwrap(),
            Method::GET,
            &path,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // On, pushing to a remote that does not exist, with a token: the backup succeeds,
    // the commit is made, the failed push is on the connection.
    let (status, setting) = s
        .call(
            Method::PUT,
            &path,
            Some(
                json!({"remote_url": format!("file://{}/missing.git", s.dir.path().display()),
                        "token": "ghp_canary_token_value"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{setting}");
    assert_eq!(setting["credential"], "token");
    assert!(!setting.to_string().contains("ghp_canary"), "{setting}");
    let job = s.backup(id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let first = job["outcome"]["snapshot"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = wait_for_git_outcome(&s, id, &first).await;
    let outcome = &shown["last_outcome"];
    assert_eq!(outcome["ok"], false, "{shown}");
    assert_eq!(outcome["stage"], "push", "{shown}");
    assert_eq!(outcome["pending_push"], true, "{shown}");
    assert_eq!(outcome["push_attempts"], 3, "{shown}");
    let commit = outcome["commit"].as_str().unwrap().to_owned();
    assert!(!shown.to_string().contains("ghp_canary"), "{shown}");
    let local = s.dir.path().join("git").join(format!("{id}.git"));
    assert_eq!(git(&local, &["rev-parse", "main"]), commit);
    let files = git(&local, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(files.contains("/user/"), "{files}");
    // The token is sealed in the database, never in clear.
    let db = std::fs::read(s.dir.path().join("butterfly.db")).unwrap();
    assert!(!db.windows(10).any(|w| w == b"ghp_canary"));

    // Fixed: the next backup (nothing changed, so no new commit) pushes what was pending.
    let (status, _) = s
        .call(Method::PUT, &path, Some(json!({"remote_url": good_url})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let second = s.backup(id).await["outcome"]["snapshot"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = wait_for_git_outcome(&s, id, &second).await;
    let outcome = &shown["last_outcome"];
    assert_eq!(outcome["ok"], true, "{shown}");
    assert_eq!(outcome["commit"], Value::Null, "{shown}");
    assert_eq!(outcome["pending_push"], false, "{shown}");
    assert_eq!(git(&remote, &["rev-parse", "main"]), commit);

    // Off: a backup leaves the outcome as it was.
    let (status, _) = s
        .call(
            Method::PUT,
            &path,
            Some(json!({"remote_url": good_url, "enabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let third = s.backup(id).await;
    assert_eq!(third["status"], "succeeded", "{third}");
    let (_, shown) = s.call(Method::GET, &path, None).await;
    assert_eq!(shown["enabled"], false);
    assert_eq!(
        shown["last_outcome"]["snapshot"],
        second.as_str(),
        "{shown}"
    );
    assert_eq!(git(&local, &["rev-parse", "main"]), commit);
    let (status, _) = s.call(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s.call(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
