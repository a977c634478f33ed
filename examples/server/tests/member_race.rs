//! Two REST demotions of a team's two super_admins at the same moment, over HTTP on a
//! real bound server: exactly one may win, so the team always keeps a super_admin. Run
//! on SQLite and on PostgreSQL (`BUTTERFLY_TEST_DATABASE_URL`, a fresh database).

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use butterfly_core::store::{ApiKeyStore, MemberStore, NewMember, TeamStore};
use butterfly_core::{Role, TeamId};
use butterfly_server::app::{AppState, build_router, open_state};
use butterfly_server::config::Config;
use reqwest::StatusCode;
use sqlx::postgres::PgConnection;
use sqlx::{Connection as _, Executor as _};
use tokio::sync::Barrier;

const TRIALS: usize = 20;

/// Serve `state` on a free loopback port; returns the base URL.
async fn serve(state: AppState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, build_router(state)).await.unwrap();
    });
    format!("http://{addr}")
}

async fn super_admin(state: &AppState, team: TeamId, email: &str) -> String {
    state
        .store
        .create_member(
            team,
            NewMember {
                email: email.to_owned(),
                display_name: None,
                role: Role::SuperAdmin,
                active: true,
                external_id: None,
            },
        )
        .await
        .unwrap()
        .id
        .to_string()
}

async fn race(state: AppState) {
    let base = serve(state.clone()).await;
    let http = reqwest::Client::new();
    for trial in 0..TRIALS {
        let team = state
            .store
            .create_team(&format!("race-{trial}"))
            .await
            .unwrap()
            .id;
        let (_, key) = state
            .store
            .create_api_key(team, "admin", Role::SuperAdmin, None)
            .await
            .unwrap();
        let key = key.secret().to_owned();
        let a = super_admin(&state, team, "a@example.com").await;
        let b = super_admin(&state, team, "b@example.com").await;
        let barrier = Arc::new(Barrier::new(2));
        let demote = |id: String| {
            let (http, barrier, key) = (http.clone(), Arc::clone(&barrier), key.clone());
            let url = format!("{base}/api/v1/members/{id}");
            tokio::spawn(async move {
                let request = http
                    .patch(url)
                    .bearer_auth(key)
                    .json(&serde_json::json!({"role": "read_only"}));
                barrier.wait().await;
                let response = request.send().await.unwrap();
                (response.status(), response.text().await.unwrap())
            })
        };
        let (first, second) = (demote(a), demote(b));
        let answers = [first.await.unwrap(), second.await.unwrap()];
        let mut statuses: Vec<StatusCode> = answers.iter().map(|(status, _)| *status).collect();
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "trial {trial}: {answers:?}"
        );
        let left = state
            .store
            .list_members(team)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.active && m.role == Role::SuperAdmin)
            .count();
        assert_eq!(left, 1, "trial {trial}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rest_demotions_keep_a_super_admin_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let state = open_state(&Config::for_data_dir(dir.path())).await.unwrap();
    race(state).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rest_demotions_keep_a_super_admin_on_postgres() {
    let Ok(admin_url) = std::env::var("BUTTERFLY_TEST_DATABASE_URL") else {
        panic!(
            "set BUTTERFLY_TEST_DATABASE_URL (a PostgreSQL server the tests may create databases on)"
        );
    };
    let name = format!("bf_race_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&admin_url).await.unwrap();
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let (prefix, _) = admin_url
        .rsplit_once('/')
        .expect("a URL that names a database");
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_data_dir(dir.path());
    config.database_url = Some(format!("{prefix}/{name}"));
    let state = open_state(&config).await.unwrap();
    let outcome = tokio::spawn(race(state.clone())).await;
    state.store.close().await;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}
