//! `butterfly connections|backups|backup okta --connection|snapshots` in server mode:
//! the binary against a real server (with its job worker) on a loopback port, which
//! backs up the Okta simulator on another.

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::process::Output;

use butterfly_providers::okta::simulator::OrgConfig;
use serde_json::Value;

mod support;
use support::{Running, butterfly, connection, start_server_with_simulator, stderr, stdout};

async fn start() -> Running {
    start_server_with_simulator(OrgConfig {
        seed: 5,
        users: 25,
        groups: 4,
        apps: 5,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_and_backups_run_on_the_server() {
    let s = start().await;
    let client_id = s.sim.simulator().client_credentials().client_id;

    let created = connection(&s, "okta-prod", &client_id).await;
    assert!(stdout(&created).contains("okta-prod"));

    // Named by name; the test passes.
    let tested = butterfly(&s, &["connections", "test", "okta-prod"]).await;
    assert!(tested.status.success(), "{}", stderr(&tested));
    assert!(stdout(&tested).contains("ok: true"), "{}", stdout(&tested));

    // `backup okta --connection` waits and prints the snapshot id last, like local mode.
    let backup = butterfly(&s, &["backup", "okta", "--connection", "okta-prod"]).await;
    assert!(backup.status.success(), "{}", stderr(&backup));
    let snapshot_id = stdout(&backup).lines().last().unwrap().to_owned();
    assert_eq!(snapshot_id.len(), 36, "{}", stdout(&backup));
    assert!(stderr(&backup).contains("complete"), "{}", stderr(&backup));
    // With the server's compliance summary of the snapshot, framework by framework.
    let summary = stderr(&backup);
    let line = summary
        .lines()
        .find(|l| l.starts_with("compliance: "))
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(
        line.contains("soc2 ") && line.contains("stig ") && line.contains(" failed"),
        "{line}"
    );

    let listed = butterfly(&s, &["--output", "json", "snapshots", "list"]).await;
    assert!(listed.status.success(), "{}", stderr(&listed));
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["id"], snapshot_id.as_str());
    let shown = butterfly(&s, &["--output", "json", "snapshots", "show", &snapshot_id]).await;
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    let users = usize::try_from(shown["counts"]["user"].as_u64().unwrap()).unwrap();
    assert_eq!(users, s.sim.simulator().org().counts()["user"]);

    // `backups run` without --wait prints the job id; `backups show` follows it.
    let queued = butterfly(&s, &["backups", "run", "okta-prod"]).await;
    assert!(queued.status.success(), "{}", stderr(&queued));
    let job_id = stdout(&queued).lines().last().unwrap().to_owned();
    let mut finished = false;
    for _ in 0..600 {
        let shown = butterfly(&s, &["--output", "json", "backups", "show", &job_id]).await;
        let job: Value = serde_json::from_slice(&shown.stdout).unwrap();
        if job["status"] == "succeeded" {
            finished = true;
            break;
        }
        assert_ne!(job["status"], "failed", "{job}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(finished);
    let jobs = butterfly(&s, &["--output", "json", "backups", "list"]).await;
    let jobs: Value = serde_json::from_slice(&jobs.stdout).unwrap();
    assert_eq!(jobs.as_array().unwrap().len(), 2);
    let table = butterfly(&s, &["connections", "list"]).await;
    assert!(stdout(&table).contains("okta-prod"));

    // Errors are clear and exit non-zero.
    let unknown = butterfly(&s, &["connections", "test", "nope"]).await;
    assert!(!unknown.status.success());
    assert!(stderr(&unknown).contains("no connection named `nope`"));
    let both = butterfly(
        &s,
        &["backup", "okta", "--connection", "okta-prod", "--repo", "x"],
    )
    .await;
    assert!(!both.status.success());
    let neither = butterfly(&s, &["backup", "okta"]).await;
    assert!(!neither.status.success());
    assert!(
        stderr(&neither).contains("--org-url"),
        "{}",
        stderr(&neither)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_connection_fails_its_test_and_its_backup() {
    let s = start().await;
    connection(&s, "wrong", "0oa-unknown").await;
    let tested = butterfly(&s, &["connections", "test", "wrong"]).await;
    assert!(!tested.status.success());
    assert!(stderr(&tested).contains("connection test failed"));
    let backup = butterfly(&s, &["backup", "okta", "--connection", "wrong"]).await;
    assert!(!backup.status.success());
    assert!(stderr(&backup).contains("failed"), "{}", stderr(&backup));
    let deleted = butterfly(&s, &["connections", "delete", "wrong"]).await;
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    let listed = butterfly(&s, &["--output", "json", "connections", "list"]).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&listed.stdout).unwrap(),
        Value::Array(vec![])
    );
}

/// The keys of a JSON object, and of each object nested in it (by path), so two
/// descriptions of one kind of snapshot can be compared shape for shape.
fn shape(value: &Value, path: &str, into: &mut BTreeSet<String>) {
    if let Value::Object(map) = value {
        for (key, item) in map {
            // `counts` is keyed by kind: its keys are data, not shape.
            if path.is_empty() && key == "counts" {
                into.insert("counts".to_owned());
                continue;
            }
            let here = format!("{path}/{key}");
            into.insert(here.clone());
            shape(item, &here, into);
        }
    }
}

fn keys(value: &Value) -> BTreeSet<String> {
    let mut into = BTreeSet::new();
    shape(value, "", &mut into);
    into
}

fn assert_rfc3339(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"));
    butterfly_core::rfc3339::parse(text)
        .unwrap_or_else(|e| panic!("`{text}` is not RFC 3339: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_and_server_mode_describe_snapshots_with_the_same_json() {
    let s = start().await;
    let key_path = s.dir.path().join("key.pem");
    let repo = s.dir.path().join("repo");
    let client_id = s.sim.simulator().client_credentials().client_id;

    // The same org backed up locally and on the server.
    let local = butterfly(
        &s,
        &[
            "backup",
            "okta",
            "--org-url",
            s.sim.org_url(),
            "--client-id",
            &client_id,
            "--private-key",
            key_path.to_str().unwrap(),
            "--repo",
            repo.to_str().unwrap(),
            "--rate-limit-share",
            "1",
        ],
    )
    .await;
    assert!(local.status.success(), "{}", stderr(&local));
    let local_id = stdout(&local).lines().last().unwrap().to_owned();
    connection(&s, "okta", &client_id).await;
    let remote = butterfly(
        &s,
        &["--output", "json", "backup", "okta", "--connection", "okta"],
    )
    .await;
    assert!(remote.status.success(), "{}", stderr(&remote));
    let remote_id = stdout(&remote).lines().last().unwrap().to_owned();

    let json = |o: &Output| -> Value {
        assert!(o.status.success(), "{}", stderr(o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let repo_arg = repo.to_str().unwrap();
    // Shown by an unambiguous prefix in both modes.
    let local_shown = json(
        &butterfly(
            &s,
            &[
                "--output",
                "json",
                "snapshots",
                "show",
                &local_id[..8],
                "--repo",
                repo_arg,
            ],
        )
        .await,
    );
    let remote_shown = json(
        &butterfly(
            &s,
            &["--output", "json", "snapshots", "show", &remote_id[..8]],
        )
        .await,
    );
    let local_listed = json(
        &butterfly(
            &s,
            &["--output", "json", "snapshots", "list", "--repo", repo_arg],
        )
        .await,
    );
    let remote_listed = json(&butterfly(&s, &["--output", "json", "snapshots", "list"]).await);

    assert_eq!(local_shown["id"], local_id.as_str());
    assert_eq!(remote_shown["id"], remote_id.as_str());
    assert_eq!(keys(&local_shown), keys(&remote_shown));
    assert_eq!(keys(&local_listed[0]), keys(&remote_listed[0]));
    assert_eq!(keys(&local_shown), keys(&local_listed[0]));
    for key in [
        "id",
        "provider",
        "org",
        "started_at",
        "finished_at",
        "status",
        "counts",
        "resources",
        "warnings",
        "root_digest",
    ] {
        assert!(
            local_shown.get(key).is_some(),
            "no `{key}` in {local_shown}"
        );
    }
    for shown in [
        &local_shown,
        &remote_shown,
        &local_listed[0],
        &remote_listed[0],
    ] {
        assert_rfc3339(&shown["started_at"]);
        assert_rfc3339(&shown["finished_at"]);
    }
    // Same org, same content: the two descriptions differ only in id and times.
    assert_eq!(local_shown["counts"], remote_shown["counts"]);
    assert_eq!(local_shown["root_digest"], remote_shown["root_digest"]);

    // The job's outcome embeds that same description.
    let job: Value = serde_json::from_str(stdout(&remote).lines().next().unwrap()).unwrap();
    assert_eq!(job["outcome"]["snapshot"], remote_shown);
    // And local mode's summary line is the same outcome shape as the job's.
    let local_json = butterfly(
        &s,
        &[
            "--output",
            "json",
            "backup",
            "okta",
            "--org-url",
            s.sim.org_url(),
            "--client-id",
            &client_id,
            "--private-key",
            key_path.to_str().unwrap(),
            "--repo",
            repo_arg,
            "--rate-limit-share",
            "1",
        ],
    )
    .await;
    assert!(local_json.status.success(), "{}", stderr(&local_json));
    let local_outcome: Value =
        serde_json::from_str(stdout(&local_json).lines().next().unwrap()).unwrap();
    assert_eq!(keys(&local_outcome["snapshot"]), keys(&remote_shown));
    // The job's outcome adds only the snapshot's compliance summary, which the server
    // records after a backup.
    let mut job_keys: Vec<&String> = job["outcome"].as_object().unwrap().keys().collect();
    job_keys.retain(|k| *k != "compliance");
    assert_eq!(
        local_outcome
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        job_keys
    );
    assert!(
        job["outcome"]["compliance"]["frameworks"].is_object(),
        "{job}"
    );
}
