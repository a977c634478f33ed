//! Restore runs: one writing run per org, decided by the database, on both backends.

use butterfly_core::store::TeamStore;
use butterfly_store::SqlStore;
use butterfly_store::sql::{NewRestoreJob, RestoreFinish, RestoreJobStatus, RestoreStart};
use chrono::{TimeDelta, Utc};
use futures::future::join_all;
use serde_json::json;
use uuid::Uuid;

fn run(team: butterfly_core::TeamId, org: &str, dry_run: bool) -> NewRestoreJob {
    NewRestoreJob {
        team_id: team,
        connection_id: Uuid::new_v4(),
        org: org.to_owned(),
        kind: "restore".into(),
        dry_run,
        request: json!({"snapshot": "s"}),
        requested_by: "api_key:test".into(),
        undo_of: None,
    }
}

/// Many starts of one org at once (as from several replicas): exactly one holds it, the
/// others are told which; dry runs and other orgs are never held up; a finished run
/// frees the org; a silent run is failed as abandoned by the next start.
pub async fn one_writing_run_per_org(s: &SqlStore) {
    let a = s.create_team("a").await.unwrap();
    let b = s.create_team("b").await.unwrap();
    let long_ago = Utc::now() - TimeDelta::hours(1);
    let starts = join_all((0..8).map(|i| {
        let team = if i % 2 == 0 { a.id } else { b.id };
        s.start_restore_job(run(team, "https://acme.okta.com", false), long_ago)
    }))
    .await;
    let started: Vec<_> = starts
        .iter()
        .filter_map(|r| match r.as_ref().unwrap() {
            RestoreStart::Started(job) => Some(job.id),
            _ => None,
        })
        .collect();
    assert_eq!(started.len(), 1, "{starts:?}");
    for start in &starts {
        if let RestoreStart::Busy { job_id, .. } = start.as_ref().unwrap() {
            assert_eq!(*job_id, started[0]);
        }
    }
    // A dry run, and another org, start regardless.
    for new in [
        run(a.id, "https://acme.okta.com", true),
        run(a.id, "https://other.okta.com", false),
    ] {
        assert!(matches!(
            s.start_restore_job(new, long_ago).await.unwrap(),
            RestoreStart::Started(_)
        ));
    }
    let holder_team = if s.restore_job(a.id, started[0]).await.unwrap().is_some() {
        a.id
    } else {
        b.id
    };
    s.finish_restore_job(
        started[0],
        RestoreFinish {
            succeeded: true,
            report: Some(json!({"done": 1})),
            journal: Some(json!([])),
            error: None,
        },
    )
    .await
    .unwrap();
    // Finishing twice is refused: the first outcome stands.
    assert!(
        s.finish_restore_job(
            started[0],
            RestoreFinish {
                succeeded: false,
                report: None,
                journal: None,
                error: Some("late".into()),
            },
        )
        .await
        .is_err()
    );
    let finished = s
        .restore_job(holder_team, started[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(finished.status, RestoreJobStatus::Succeeded);
    assert_eq!(finished.report, Some(json!({"done": 1})));
    let RestoreStart::Started(next) = s
        .start_restore_job(run(a.id, "https://acme.okta.com", false), long_ago)
        .await
        .unwrap()
    else {
        panic!("a finished run still holds the org");
    };
    // Its beat is older than the next start's cutoff: failed as abandoned, org taken.
    let cutoff = Utc::now() + TimeDelta::minutes(1);
    assert!(matches!(
        s.start_restore_job(run(a.id, "https://acme.okta.com", false), cutoff)
            .await
            .unwrap(),
        RestoreStart::Started(_)
    ));
    let abandoned = s.restore_job(a.id, next.id).await.unwrap().unwrap();
    assert_eq!(abandoned.status, RestoreJobStatus::Failed);
    assert!(abandoned.error.unwrap().starts_with("abandoned"));
    // Teams see only their own runs.
    assert!(s.restore_job(b.id, next.id).await.unwrap().is_none());
    assert!(
        s.list_restore_jobs(b.id, 50)
            .await
            .unwrap()
            .iter()
            .all(|j| j.team_id == b.id)
    );
    // Reviewed plans are kept per team.
    s.save_restore_plan(a.id, "f00d", next.connection_id, b"sealed")
        .await
        .unwrap();
    assert_eq!(
        s.restore_plan(a.id, "f00d").await.unwrap(),
        Some((next.connection_id, b"sealed".to_vec()))
    );
    assert_eq!(s.restore_plan(b.id, "f00d").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_one_writing_run_per_org() {
    crate::harness::on_sqlite(|s| async move { one_writing_run_per_org(&s).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_one_writing_run_per_org() {
    crate::harness::on_postgres(|s| async move { one_writing_run_per_org(&s).await }).await;
}
