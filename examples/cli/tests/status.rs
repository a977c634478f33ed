//! `butterfly status` and `butterfly notifications` in server mode: the binary against a
//! real server (with its job worker) on a loopback port, which backs up the Okta
//! simulator on another.

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

use butterfly_providers::okta::RateLimitBucket;
use butterfly_providers::okta::simulator::{
    OrgConfig, RunningSimulator, Simulator, SimulatorConfig, generate_client_key,
};
use butterfly_server::app::{bootstrap, build_router, open_state};
use butterfly_server::backups::spawn_worker;
use butterfly_server::config::Config;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::Value;

struct Running {
    url: String,
    key: String,
    sim: RunningSimulator,
    dir: tempfile::TempDir,
}

async fn start() -> Running {
    let (private_pem, public) = generate_client_key().unwrap();
    let sim = Simulator::bind(
        SimulatorConfig {
            org: OrgConfig {
                seed: 3,
                users: 10,
                groups: 2,
                apps: 2,
            },
            rate_limits: RateLimitBucket::ALL.iter().map(|b| (*b, 60_000)).collect(),
            client_public_key_pem: Some(public.to_public_key_pem(LineEnding::LF).unwrap()),
            ..SimulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key.pem"), private_pem).unwrap();
    let mut config = Config::for_data_dir(dir.path().join("server"));
    // The simulator listens on loopback.
    config.allow_private_org_urls = true;
    let state = open_state(&config).await.unwrap();
    let (_, key) = bootstrap(&state).await.unwrap().unwrap();
    let _detached = spawn_worker(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, build_router(state)).await });
    Running {
        url,
        key: key.secret().to_owned(),
        sim,
        dir,
    }
}

async fn butterfly(server: &Running, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_butterfly"));
    cmd.env("BUTTERFLY_API_KEY", &server.key)
        .env_remove("BUTTERFLY_WEBHOOK_SECRET")
        .args(["--server", &server.url])
        .args(args);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

async fn connection(s: &Running, name: &str, client_id: &str) {
    let key_path = s.dir.path().join("key.pem");
    let created = butterfly(
        s,
        &[
            "connections",
            "create",
            "--name",
            name,
            "--org-url",
            s.sim.org_url(),
            "--client-id",
            client_id,
            "--private-key",
            key_path.to_str().unwrap(),
            "--rate-limit-share",
            "1",
        ],
    )
    .await;
    assert!(created.status.success(), "{}", stderr(&created));
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
