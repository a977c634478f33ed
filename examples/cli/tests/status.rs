//! `butterfly status` and `butterfly notifications` in server mode: the binary against a
//! real server (with its job worker) on a loopback port, which backs up the Okta
//! simulator on another.

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use butterfly_providers::okta::simulator::OrgConfig;
use serde_json::Value;

mod support;
use support::{Running, butterfly, connection, start_server_with_simulator, stderr, stdout};

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
async fn status_shows_health_errors_with_fixes_and_storage_on_one_screen() {
    let s = start().await;
    let client_id = s.sim.simulator().client_credentials().client_id;
    connection(&s, "okta-prod", &client_id).await;
    connection(&s, "okta-broken", "0oa-unknown").await;
    let ok = butterfly(&s, &["backup", "okta", "--connection", "okta-prod"]).await;
    assert!(ok.status.success(), "{}", stderr(&ok));
    let failed = butterfly(&s, &["backup", "okta", "--connection", "okta-broken"]).await;
    assert!(!failed.status.success());

    let table = butterfly(&s, &["status"]).await;
    assert!(table.status.success(), "{}", stderr(&table));
    let text = stdout(&table);
    assert!(text.starts_with("Team default: storage "), "{text}");
    assert!(text.contains("in 1 snapshot(s)"), "{text}");
    for expected in [
        "okta-prod",
        "healthy",
        "okta-broken",
        "failing",
        "invalid_client",
        "okta-broken — Invalid OAuth Client (invalid_client)",
        "  → Verify the Client ID matches exactly",
        "  → Regenerate a new key pair",
    ] {
        assert!(text.contains(expected), "`{expected}` missing:\n{text}");
    }
    // One screen: a small team's status fits in 40 lines.
    assert!(text.lines().count() <= 40, "{text}");

    let json = butterfly(&s, &["--output", "json", "status"]).await;
    let body: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(body["connections"].as_array().unwrap().len(), 2);
    assert!(body["storage"]["bytes"].as_u64().unwrap() > 0);

    let one = butterfly(&s, &["--output", "json", "status", "okta-broken"]).await;
    let body: Value = serde_json::from_slice(&one.stdout).unwrap();
    let connections = body["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 1);
    assert_eq!(
        connections[0]["last_error"]["trouble"]["code"],
        "invalid_client"
    );
    let missing = butterfly(&s, &["status", "nope"]).await;
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("no connection named `nope`"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_channels_are_added_listed_and_removed() {
    let s = start().await;
    let added = butterfly(
        &s,
        &[
            "--output",
            "json",
            "notifications",
            "add-webhook",
            "--name",
            "ops",
            "--url",
            "ftp://hooks.example.com/hook",
            "--events",
            "backup_failed,critical_drift",
        ],
    )
    .await;
    // Only http(s) URLs are kept.
    assert!(!added.status.success());
    assert!(
        stderr(&added).contains("invalid channel"),
        "{}",
        stderr(&added)
    );

    let added = butterfly(
        &s,
        &[
            "--output",
            "json",
            "notifications",
            "add-webhook",
            "--name",
            "ops",
            "--url",
            "https://hooks.example.com/butterfly",
        ],
    )
    .await;
    assert!(added.status.success(), "{}", stderr(&added));
    let channel: Value = serde_json::from_slice(&added.stdout).unwrap();
    // No secret given: one is generated and shown this once.
    let secret = channel["secret"].as_str().unwrap();
    assert!(secret.starts_with("bfw_"), "{channel}");
    assert_eq!(
        channel["events"],
        serde_json::json!(["backup_failed", "schedule_paused", "critical_drift"])
    );

    let email = butterfly(
        &s,
        &[
            "notifications",
            "add-email",
            "--name",
            "oncall",
            "--smtp-host",
            "smtp.example.com",
            "--from",
            "butterfly@example.com",
            "--to",
            "oncall@example.com,backup@example.com",
            "--username",
            "bf",
            "--password",
            "smtp-password-canary",
        ],
    )
    .await;
    assert!(email.status.success(), "{}", stderr(&email));

    let listed = butterfly(&s, &["--output", "json", "notifications", "list"]).await;
    let text = stdout(&listed);
    assert!(!text.contains(secret) && !text.contains("smtp-password-canary"));
    let listed: Value = serde_json::from_str(&text).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["oncall", "ops"]);
    assert_eq!(listed[0]["secret_set"], true);

    let removed = butterfly(&s, &["notifications", "remove", "ops"]).await;
    assert!(removed.status.success(), "{}", stderr(&removed));
    let listed = butterfly(&s, &["--output", "json", "notifications", "list"]).await;
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
}
