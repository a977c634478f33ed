//! The server-mode commands for restores, Git export settings, members and SCIM group
//! roles: the binary against a real server (with its job worker) on a loopback port,
//! which backs up (and plans restores onto) the Okta simulator on another.

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Output;

use butterfly_providers::okta::simulator::OrgConfig;
use serde_json::Value;

mod support;
use support::{Running, butterfly, connection, start_server_with_simulator, stderr, stdout};

fn json(o: &Output) -> Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

async fn start() -> Running {
    start_server_with_simulator(OrgConfig {
        seed: 3,
        users: 10,
        groups: 2,
        apps: 2,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restores_are_planned_run_from_the_plan_and_listed() {
    let s = start().await;
    let client_id = s.sim.simulator().client_credentials().client_id;
    connection(&s, "okta-prod", &client_id).await;
    let backup = butterfly(&s, &["backup", "okta", "--connection", "okta-prod"]).await;
    assert!(backup.status.success(), "{}", stderr(&backup));
    let snapshot = stdout(&backup).lines().last().unwrap().to_owned();

    let empty = json(&butterfly(&s, &["--output", "json", "restores", "list"]).await);
    assert_eq!(empty, serde_json::json!([]));

    // A snapshot of the org as it is: nothing to create, update or delete.
    let plan = json(
        &butterfly(
            &s,
            &[
                "--output",
                "json",
                "restores",
                "plan",
                "okta-prod",
                "--snapshot",
                &snapshot[..8],
                "--kind",
                "group",
            ],
        )
        .await,
    );
    assert_eq!(plan["snapshot_id"], snapshot.as_str(), "{plan}");
    assert_eq!(plan["create"], serde_json::json!([]), "{plan}");
    assert!(!plan["skip"].as_array().unwrap().is_empty(), "{plan}");
    assert_eq!(plan["fingerprint"].as_str().unwrap().len(), 64, "{plan}");

    let table = butterfly(
        &s,
        &[
            "restores",
            "plan",
            "okta-prod",
            "--snapshot",
            &snapshot,
            "--kind",
            "group",
        ],
    )
    .await;
    assert!(table.status.success(), "{}", stderr(&table));
    let text = stdout(&table);
    assert!(text.contains("ACTION") && text.contains("skip"), "{text}");
    assert!(
        text.contains("0 to create, 0 to update, 0 to delete"),
        "{text}"
    );
    // The latest plan (each plan is kept; its fingerprint covers when it was made).
    let fingerprint = text
        .lines()
        .find_map(|l| l.strip_prefix("plan fingerprint: "))
        .unwrap_or_else(|| panic!("no fingerprint:\n{text}"))
        .to_owned();
    assert_eq!(fingerprint.len(), 64, "{text}");

    // The reviewed plan runs as it is: the selection flags are refused with it.
    let both = butterfly(
        &s,
        &[
            "restores",
            "run",
            "okta-prod",
            "--plan-fingerprint",
            &fingerprint,
            "--snapshot",
            &snapshot,
        ],
    )
    .await;
    assert!(!both.status.success());
    assert!(
        stderr(&both).contains("leave out --snapshot"),
        "{}",
        stderr(&both)
    );
    let neither = butterfly(&s, &["restores", "run", "okta-prod"]).await;
    assert!(!neither.status.success());
    assert!(stderr(&neither).contains("needs --snapshot or --plan-fingerprint"));

    let job = json(
        &butterfly(
            &s,
            &[
                "--output",
                "json",
                "restores",
                "run",
                "okta-prod",
                "--plan-fingerprint",
                &fingerprint,
                "--dry-run",
            ],
        )
        .await,
    );
    assert_eq!(job["kind"], "restore", "{job}");
    assert_eq!(job["dry_run"], true, "{job}");
    let job_id = job["id"].as_str().unwrap().to_owned();

    let listed = json(&butterfly(&s, &["--output", "json", "restores", "list"]).await);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], job_id.as_str());
    let shown = json(&butterfly(&s, &["--output", "json", "restores", "show", &job_id]).await);
    assert_eq!(shown["id"], job_id.as_str());
    let table = butterfly(&s, &["restores", "list"]).await;
    assert!(stdout(&table).contains(&job_id), "{}", stdout(&table));

    let missing = butterfly(&s, &["restores", "plan", "nope", "--snapshot", &snapshot]).await;
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("no connection named `nope`"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_export_settings_are_set_shown_and_removed_without_echoing_secrets() {
    let s = start().await;
    let client_id = s.sim.simulator().client_credentials().client_id;
    connection(&s, "okta-prod", &client_id).await;
    let token_file = s.dir.path().join("token.txt");
    std::fs::write(&token_file, "ghp_verysecrettoken123\n").unwrap();

    let set = butterfly(
        &s,
        &[
            "connections",
            "git-export",
            "set",
            "okta-prod",
            "--remote-url",
            "https://git.example.com/acme/okta-config.git",
            "--branch",
            "backups",
            "--token-file",
            token_file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(set.status.success(), "{}", stderr(&set));
    let text = stdout(&set);
    assert!(
        text.contains("https://git.example.com/acme/okta-config.git"),
        "{text}"
    );
    assert!(!text.contains("ghp_verysecret"), "{text}");
    assert!(!stderr(&set).contains("ghp_verysecret"));

    let shown = json(
        &butterfly(
            &s,
            &[
                "--output",
                "json",
                "connections",
                "git-export",
                "show",
                "okta-prod",
            ],
        )
        .await,
    );
    assert_eq!(shown["branch"], "backups", "{shown}");
    assert_eq!(shown["credential"], "token", "{shown}");
    assert_eq!(shown["enabled"], true, "{shown}");
    assert!(!shown.to_string().contains("ghp_verysecret"), "{shown}");

    let removed = butterfly(&s, &["connections", "git-export", "remove", "okta-prod"]).await;
    assert!(removed.status.success(), "{}", stderr(&removed));
    let gone = butterfly(&s, &["connections", "git-export", "show", "okta-prod"]).await;
    assert!(!gone.status.success());
    assert!(stderr(&gone).contains("404"), "{}", stderr(&gone));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_and_scim_group_roles_are_managed() {
    let s = start().await;
    let members = json(&butterfly(&s, &["--output", "json", "members", "list"]).await);
    let me = members[0]["id"].as_str().unwrap().to_owned();
    let shown = json(&butterfly(&s, &["--output", "json", "members", "show", &me]).await);
    assert_eq!(shown["role"], "super_admin");
    // The team's last super_admin stays one.
    let demote = butterfly(&s, &["members", "update", &me, "--role", "auditor"]).await;
    assert!(!demote.status.success());
    assert!(stderr(&demote).contains("409"), "{}", stderr(&demote));
    let renamed = json(
        &butterfly(
            &s,
            &[
                "--output",
                "json",
                "members",
                "update",
                &me,
                "--display-name",
                "Owner",
            ],
        )
        .await,
    );
    assert_eq!(renamed["display_name"], "Owner");
    let nothing = butterfly(&s, &["members", "update", &me]).await;
    assert!(stderr(&nothing).contains("needs --role, --active or --display-name"));

    let set = butterfly(
        &s,
        &[
            "scim-group-roles",
            "set",
            "--group",
            "Butterfly-Admins=admin",
            "--group",
            "Auditors=auditor",
        ],
    )
    .await;
    assert!(set.status.success(), "{}", stderr(&set));
    assert!(
        stdout(&set).contains("Butterfly-Admins"),
        "{}",
        stdout(&set)
    );
    let listed = json(&butterfly(&s, &["--output", "json", "scim-group-roles", "list"]).await);
    assert_eq!(
        listed,
        serde_json::json!({"Auditors": "auditor", "Butterfly-Admins": "admin"})
    );
    let bad = butterfly(&s, &["scim-group-roles", "set", "--group", "Admins=root"]).await;
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("unknown role"), "{}", stderr(&bad));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_contents_diff_and_compliance_come_from_the_server_without_repo() {
    let s = start().await;
    let client_id = s.sim.simulator().client_credentials().client_id;
    connection(&s, "okta-prod", &client_id).await;
    let mut snapshots = Vec::new();
    for _ in 0..2 {
        let backup = butterfly(&s, &["backup", "okta", "--connection", "okta-prod"]).await;
        assert!(backup.status.success(), "{}", stderr(&backup));
        snapshots.push(stdout(&backup).lines().last().unwrap().to_owned());
    }
    let (first, second) = (&snapshots[0], &snapshots[1]);

    let listed = json(
        &butterfly(
            &s,
            &[
                "--output",
                "json",
                "snapshots",
                "ls",
                first,
                "--kind",
                "group",
            ],
        )
        .await,
    );
    let groups = listed.as_array().unwrap();
    assert_eq!(groups.len(), 3, "{listed}");
    assert!(groups.iter().all(|g| g["kind"] == "group"), "{listed}");
    let group_id = groups[0]["id"].as_str().unwrap().to_owned();

    let cat = json(&butterfly(&s, &["snapshots", "cat", first, "group", &group_id]).await);
    assert_eq!(cat["id"], group_id.as_str(), "{cat}");
    let missing = butterfly(&s, &["snapshots", "cat", first, "group", "00gnothere"]).await;
    assert!(!missing.status.success());

    let file = s.dir.path().join("snapshot.jsonl");
    let download = butterfly(
        &s,
        &[
            "snapshots",
            "download",
            first,
            "--out",
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(download.status.success(), "{}", stderr(&download));
    let text = std::fs::read_to_string(&file).unwrap();
    // The manifest, then one line per resource.
    let resources: u64 = listed_total(&s, first).await;
    assert_eq!(text.lines().count() as u64, resources + 1);
    assert!(!s.dir.path().join("snapshot.jsonl.partial").exists());

    // The org did not change between the two backups.
    let diff = json(&butterfly(&s, &["--output", "json", "diff", first, second]).await);
    assert_eq!(diff["from"], first.as_str(), "{diff}");
    assert_eq!(diff["to"], second.as_str(), "{diff}");
    assert_eq!(diff["changed"], serde_json::json!([]), "{diff}");
    let live = butterfly(&s, &["diff", first, "live"]).await;
    assert!(!live.status.success());
    assert!(stderr(&live).contains("give --repo"), "{}", stderr(&live));

    let report = butterfly(
        &s,
        &[
            "compliance",
            first,
            "--framework",
            "soc2",
            "--format",
            "json",
        ],
    )
    .await;
    let report = json(&report);
    assert!(report.to_string().contains("soc2"), "{report}");
    let sarif = s.dir.path().join("soc2.sarif");
    let written = butterfly(
        &s,
        &[
            "compliance",
            first,
            "--format",
            "sarif",
            "--out",
            sarif.to_str().unwrap(),
        ],
    )
    .await;
    assert!(written.status.success(), "{}", stderr(&written));
    let sarif: Value = serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0", "{sarif}");
    let bad = butterfly(&s, &["compliance", first, "--format", "pdf"]).await;
    assert!(!bad.status.success());

    // Same org twice: nothing newly failing, nothing fixed.
    let trend = json(
        &butterfly(
            &s,
            &[
                "--output",
                "json",
                "compliance",
                "trend",
                first,
                second,
                "--framework",
                "soc2",
            ],
        )
        .await,
    );
    assert_eq!(trend["newly_failing"], serde_json::json!([]), "{trend}");
    assert_eq!(trend["fixed"], serde_json::json!([]), "{trend}");
    let table = butterfly(&s, &["compliance", "trend", first, second]).await;
    assert!(table.status.success(), "{}", stderr(&table));

    // The server's Terraform zip, unpacked where the local export writes its files.
    let tf = s.dir.path().join("okta-tf");
    let exported = json(
        &butterfly(
            &s,
            &[
                "--output",
                "json",
                "export",
                "terraform",
                first,
                "--out",
                tf.to_str().unwrap(),
                "--kind",
                "group",
            ],
        )
        .await,
    );
    let files = exported["files"].as_array().unwrap();
    assert!(!files.is_empty(), "{exported}");
    for file in files {
        assert!(tf.join(file.as_str().unwrap()).is_file(), "{file} missing");
    }
    let hcl: String = files
        .iter()
        .filter(|f| std::path::Path::new(f.as_str().unwrap()).extension() == Some("tf".as_ref()))
        .map(|f| std::fs::read_to_string(tf.join(f.as_str().unwrap())).unwrap())
        .collect();
    assert!(hcl.contains("okta_group"), "{hcl}");
}

/// How many resources `snapshots show` counts in a snapshot.
async fn listed_total(s: &Running, snapshot: &str) -> u64 {
    let shown = json(&butterfly(s, &["--output", "json", "snapshots", "show", snapshot]).await);
    shown["resources"].as_u64().unwrap()
}
