//! Backup schedules through the JSON API, with calendar time driven by a `FixedClock`
//! (the scheduler is ticked by the test, so nothing waits for a slot to come round):
//! three failed scheduled runs pause a schedule for 24 hours and a re-save clears it;
//! slots missed while no scheduler ran fire once; one backup of a connection at a time
//! (`409` naming the job); and two schedulers on one database (SQLite file and
//! PostgreSQL) fire every slot exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::Router;
use axum::http::{Method, StatusCode};
use butterfly_core::schedule::ScheduleSpec;
use butterfly_core::store::{
    AuditStore, BackupConnection, ConnectionStore, ScheduleStore, TeamStore,
};
use butterfly_core::{Clock as _, FixedClock, TeamId};
use butterfly_providers::okta::simulator::{OrgConfig, RunningSimulator};
use butterfly_server::app::{AppState, bootstrap, build_router, open_state};
use butterfly_server::backups::{Worker, schedule_tick, spawn_worker};
use butterfly_server::config::Config;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::{Value, json};
use sqlx::postgres::PgConnection;
use sqlx::{Connection as _, Executor as _};

mod support;

/// Calendar time starts here: a Saturday, the day before Europe's spring change.
fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 28, 9, 10, 0).unwrap()
}

struct Setup {
    sim: RunningSimulator,
    state: AppState,
    clock: Arc<FixedClock>,
    router: Router,
    key: String,
    _dir: tempfile::TempDir,
}

impl Setup {
    async fn start() -> Setup {
        let sim = support::okta_simulator(OrgConfig {
            seed: 15,
            users: 10,
            groups: 2,
            apps: 2,
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_data_dir(dir.path());
        config.allow_private_org_urls = true;
        let mut state = open_state(&config).await.unwrap();
        let clock = Arc::new(FixedClock::new(start()));
        state.clock = clock.clone();
        let (_, key) = bootstrap(&state).await.unwrap().unwrap();
        Setup {
            sim,
            router: build_router(state.clone()),
            state,
            clock,
            key: key.secret().to_owned(),
            _dir: dir,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        support::call(&self.router, method, path, Some(&self.key), body).await
    }

    async fn create_connection(&self, name: &str, org_url: &str) -> String {
        let client_id = self.sim.simulator().client_credentials().client_id;
        self.create_connection_as(name, org_url, &client_id).await
    }

    async fn create_connection_as(&self, name: &str, org_url: &str, client_id: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/connections",
                Some(support::connection_body(name, org_url, client_id)),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    async fn schedule(&self, connection: &str) -> Value {
        let (status, body) = self
            .call(
                Method::GET,
                &format!("/api/v1/connections/{connection}/schedule"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn wait_for(&self, job_id: &str) -> Value {
        support::wait_for_backup(&self.router, &self.key, job_id).await
    }

    fn worker(&self) -> Worker {
        spawn_worker(self.state.clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_failed_scheduled_runs_pause_the_schedule_for_a_day_until_it_is_saved_again() {
    let s = Setup::start().await;
    let worker = s.worker();
    // A client the org does not know: every sign-in is refused, so every backup fails
    // (at once: a refused sign-in is not retried request by request).
    let connection = s
        .create_connection_as("okta-revoked", s.sim.org_url(), "0oaunknownclient")
        .await;
    let hourly = json!({"frequency": "hourly", "time_zone": "Europe/Berlin"});
    let (status, saved) = s
        .call(
            Method::PUT,
            &format!("/api/v1/connections/{connection}/schedule"),
            Some(hourly.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let first_slot = Utc.with_ymd_and_hms(2026, 3, 28, 10, 0, 0).unwrap();
    assert_eq!(saved["next_run_at"], first_slot.timestamp());
    assert_eq!(saved["state"], "active");
    assert_eq!(saved["cron"], "0 * * * *");

    // The connection shows its schedule and next run.
    let (_, listed) = s.call(Method::GET, "/api/v1/connections", None).await;
    assert_eq!(listed[0]["schedule"], "hourly, on the hour (Europe/Berlin)");
    assert_eq!(listed[0]["next_run_at"], first_slot.timestamp());

    for run in 1..=3u32 {
        s.clock.advance(TimeDelta::hours(1));
        assert_eq!(schedule_tick(&s.state).await.unwrap(), 1, "run {run}");
        let job_id = s.schedule(&connection).await["last_job_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let job = s.wait_for(&job_id).await;
        assert_eq!(job["status"], "failed", "{job}");
        // Tried three times inside the run (two retries with backoff).
        let error = job["outcome"]["error"].as_str().unwrap();
        assert!(error.contains("after 3 tries"), "{error}");
        let schedule = s.schedule(&connection).await;
        assert_eq!(schedule["consecutive_failures"], run, "{schedule}");
    }
    let now = s.clock.now();
    let paused = s.schedule(&connection).await;
    assert_eq!(paused["state"], "paused_after_failures", "{paused}");
    assert_eq!(
        paused["paused_until"],
        (now + TimeDelta::hours(24)).timestamp()
    );
    // It picks up at the first slot at or after the pause's end: the clock reads ten
    // past, so ten to the hour after that.
    assert_eq!(now.format("%M").to_string(), "10");
    assert_eq!(
        paused["next_run_at"],
        (now + TimeDelta::hours(24) + TimeDelta::minutes(50)).timestamp()
    );
    assert!(
        paused["warning"]
            .as_str()
            .unwrap()
            .contains("paused after 3 failed")
    );
    let team = s.state.store.list_teams().await.unwrap()[0].id;
    let audit = s.state.store.list_audit(Some(team), None).await.unwrap();
    let pauses: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "schedule.paused")
        .collect();
    assert_eq!(pauses.len(), 1, "{audit:?}");
    assert_eq!(pauses[0].actor, "system");
    assert_eq!(pauses[0].detail["consecutive_failures"], 3);

    // During the pause nothing fires, hour after hour.
    for _ in 0..23 {
        s.clock.advance(TimeDelta::hours(1));
        assert_eq!(schedule_tick(&s.state).await.unwrap(), 0);
    }

    // A re-saved schedule clears the count and the pause and runs at the next slot.
    let (status, saved) = s
        .call(
            Method::PUT,
            &format!("/api/v1/connections/{connection}/schedule"),
            Some(hourly),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["state"], "active");
    assert_eq!(saved["consecutive_failures"], 0);
    assert_eq!(saved["paused_until"], Value::Null);
    assert_eq!(
        saved["next_run_at"],
        (s.clock.now() + TimeDelta::minutes(50)).timestamp()
    );
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_slots_run_once_and_a_connection_backs_up_one_at_a_time() {
    let s = Setup::start().await;
    let org = s.sim.org_url();
    let connection = s.create_connection("okta-prod", org).await;
    let (status, saved) = s
        .call(
            Method::PUT,
            &format!("/api/v1/connections/{connection}/schedule"),
            Some(json!({"frequency": "daily", "at": "02:30", "time_zone": "Europe/Berlin"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    // Saturday 10:10 CET: next is Sunday 02:30, which does not exist; 03:00 CEST.
    assert_eq!(
        saved["next_run_at"],
        Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0)
            .unwrap()
            .timestamp()
    );

    // No worker yet: a manual backup stays queued, and a second one is refused.
    let (status, first) = s
        .call(
            Method::POST,
            "/api/v1/backups",
            Some(json!({"connection_id": connection})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let (status, refused) = s
        .call(
            Method::POST,
            "/api/v1/backups",
            Some(json!({"connection_id": connection})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("okta-prod")
            && message.contains(first["id"].as_str().unwrap())
            && message.contains("already queued"),
        "{message}"
    );

    // Five days go by with no scheduler awake: five missed slots fire once. The
    // manual backup is still queued, so the slot is used up without a second job.
    s.clock.advance(TimeDelta::days(5));
    assert_eq!(schedule_tick(&s.state).await.unwrap(), 0);
    let schedule = s.schedule(&connection).await;
    assert_eq!(schedule["last_job_id"], Value::Null, "{schedule}");
    let now = s.clock.now();
    assert!(schedule["next_run_at"].as_i64().unwrap() > now.timestamp());

    let worker = s.worker();
    let job = s.wait_for(first["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "succeeded", "{job}");

    // Three more days missed, the connection free: one run, not three.
    s.clock.advance(TimeDelta::days(3));
    assert_eq!(schedule_tick(&s.state).await.unwrap(), 1);
    assert_eq!(schedule_tick(&s.state).await.unwrap(), 0);
    let schedule = s.schedule(&connection).await;
    let job = s.wait_for(schedule["last_job_id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let (_, jobs) = s.call(Method::GET, "/api/v1/backups", None).await;
    assert_eq!(jobs.as_array().unwrap().len(), 2, "{jobs}");

    // Paused by a person: no next run shown, nothing fires; resumed: the next slot.
    let (status, paused) = s
        .call(
            Method::POST,
            &format!("/api/v1/connections/{connection}/schedule/pause"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["state"], "paused");
    assert_eq!(paused["next_run_at"], Value::Null);
    s.clock.advance(TimeDelta::days(2));
    assert_eq!(schedule_tick(&s.state).await.unwrap(), 0);
    let (status, resumed) = s
        .call(
            Method::POST,
            &format!("/api/v1/connections/{connection}/schedule/resume"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["state"], "active");
    assert!(resumed["next_run_at"].as_i64().unwrap() > s.clock.now().timestamp());
    worker.shutdown().await;
}

#[tokio::test]
async fn a_bad_schedule_is_refused_and_a_read_only_key_cannot_edit_one() {
    let s = Setup::start().await;
    let connection = s.create_connection("okta-prod", s.sim.org_url()).await;
    let path = format!("/api/v1/connections/{connection}/schedule");
    let (status, body) = s
        .call(
            Method::PUT,
            &path,
            Some(json!({"frequency": "daily", "at": "25:00"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a time of day")
    );
    // A minute field that is not one number would back up more than once an hour.
    for cron in [
        "*/5 * * * *",
        "* * * * *",
        "0,30 * * * *",
        "0-59/20 9-17 * * 1-5",
        "15,45 */2 * * *",
    ] {
        let (status, body) = s
            .call(
                Method::PUT,
                &path,
                Some(json!({"frequency": "cron", "cron": cron})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{cron}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!(
                "cron expression `{cron}` runs more than once an hour"
            )),
            "{message}"
        );
    }
    // Nothing was kept: the connection still has no schedule.
    let (status, body) = s.call(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (created_status, created) = s
        .call(
            Method::POST,
            "/api/v1/api-keys",
            Some(json!({"name": "viewer", "role": "read_only"})),
        )
        .await;
    assert_eq!(created_status, StatusCode::CREATED, "{created}");
    let viewer = created["secret"].as_str().unwrap();
    let (status, body) = support::call(
        &s.router,
        Method::PUT,
        &path,
        Some(viewer),
        Some(json!({"frequency": "hourly"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["permission"], "edit_backup_schedules");
}

/// Two schedulers on one database, each with its own pool and both awake: 40 due
/// schedules, ticked by both at once, make exactly 40 jobs, one per slot.
async fn two_schedulers_fire_each_slot_once(database_url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut states = Vec::new();
    let clock = Arc::new(FixedClock::new(start()));
    for _ in 0..2 {
        let mut config = Config::for_data_dir(dir.path());
        config.database_url = Some(database_url.to_owned());
        let mut state = open_state(&config).await.unwrap();
        state.clock = clock.clone();
        states.push(state);
    }
    let store = &states[0].store;
    let team = store.create_team("schedulers").await.unwrap().id;
    let mut connections = BTreeSet::new();
    for i in 0..40 {
        let connection = store
            .create_connection(connection_row(team, &format!("org-{i}")))
            .await
            .unwrap();
        store
            .put_schedule(
                team,
                connection.id,
                ScheduleSpec::new(butterfly_core::schedule::Frequency::Hourly, "UTC"),
                start() + TimeDelta::minutes(50),
            )
            .await
            .unwrap();
        connections.insert(connection.id);
    }
    clock.advance(TimeDelta::hours(3));
    let (a, b) = tokio::join!(schedule_tick(&states[0]), schedule_tick(&states[1]));
    let fired = a.unwrap() + b.unwrap();
    assert_eq!(fired, 40);
    let (a, b) = tokio::join!(schedule_tick(&states[0]), schedule_tick(&states[1]));
    assert_eq!(a.unwrap() + b.unwrap(), 0);
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT connection_id, scheduled_for FROM jobs WHERE team_id = $1 \
         AND scheduled_for IS NOT NULL",
    )
    .bind(team.to_string())
    .fetch_all(store.pool())
    .await
    .unwrap();
    let mut per_connection: BTreeMap<String, u32> = BTreeMap::new();
    for (connection, _) in &rows {
        *per_connection.entry(connection.clone()).or_default() += 1;
    }
    assert_eq!(per_connection.len(), 40);
    assert!(
        per_connection.values().all(|n| *n == 1),
        "{per_connection:?}"
    );
    // Each slot moved on past now, to the next hour.
    for schedule in store.list_schedules(team).await.unwrap() {
        assert_eq!(
            schedule.next_run_at.unwrap(),
            start() + TimeDelta::hours(3) + TimeDelta::minutes(50)
        );
    }
    for state in states {
        state.store.close().await;
    }
}

fn connection_row(team: TeamId, name: &str) -> BackupConnection {
    BackupConnection {
        id: uuid::Uuid::new_v4(),
        team_id: team,
        name: name.to_owned(),
        provider: "okta".to_owned(),
        org_url: "https://example.okta.com".to_owned(),
        client_id: "0oa1".to_owned(),
        key_id: None,
        private_key_sealed: vec![1, 2, 3],
        scopes: None,
        rate_limit_percent: 50,
        created_at: Utc::now(),
        last_test: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_fire_each_slot_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("shared.db").display()
    );
    two_schedulers_fire_each_slot_once(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_fire_each_slot_once_on_postgres() {
    let Ok(admin_url) = std::env::var("BUTTERFLY_TEST_DATABASE_URL") else {
        panic!(
            "set BUTTERFLY_TEST_DATABASE_URL (a PostgreSQL server the tests may create databases on)"
        );
    };
    let name = format!("bf_schedules_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&admin_url).await.unwrap();
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let (prefix, _) = admin_url.rsplit_once('/').unwrap();
    let url = format!("{prefix}/{name}");
    let outcome = tokio::spawn(async move { two_schedulers_fire_each_slot_once(&url).await }).await;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
