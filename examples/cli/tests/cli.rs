//! The `butterfly` binary against a real server on a loopback port.

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

use butterfly_server::app::{bootstrap, build_router, open_state};
use butterfly_server::config::Config;
use serde_json::Value;

struct Running {
    url: String,
    key: String,
    _dir: tempfile::TempDir,
}

async fn start_server() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let state = open_state(&Config::for_data_dir(dir.path())).await.unwrap();
    let (_, key) = bootstrap(&state).await.unwrap().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, build_router(state)).await });
    Running {
        url,
        key: key.secret().to_owned(),
        _dir: dir,
    }
}

async fn butterfly(server: &Running, key: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_butterfly"));
    cmd.env_remove("BUTTERFLY_API_KEY")
        .env("BUTTERFLY_SERVER", &server.url)
        .args(args);
    if let Some(key) = key {
        cmd.env("BUTTERFLY_API_KEY", key);
    }
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_create_list_revoke_round_trip() {
    let s = start_server().await;
    let k = Some(s.key.as_str());

    let created = butterfly(
        &s,
        k,
        &["api-keys", "create", "--name", "ci", "--role", "auditor"],
    )
    .await;
    assert!(created.status.success(), "{created:?}");
    let out = stdout(&created);
    let secret = out.lines().last().unwrap().to_owned();
    assert!(
        secret.starts_with("bfs_api_") && secret.len() == "bfs_api_".len() + 32,
        "{out}"
    );

    let listed = butterfly(&s, k, &["--output", "json", "api-keys", "list"]).await;
    let keys: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let ci = keys.iter().find(|k| k["name"] == "ci").unwrap();
    assert_eq!(ci["role"], "auditor");
    assert!(!stdout(&listed).contains(&secret));
    // Made with the first-start key, it belongs to the bootstrap member, as that key does.
    let first = keys.iter().find(|k| k["name"] == "bootstrap").unwrap();
    assert!(ci["member_id"].is_string(), "{ci}");
    assert_eq!(ci["member_id"], first["member_id"]);

    // A service key names its service, acts for no member and records its creator.
    let service = butterfly(
        &s,
        k,
        &[
            "--output",
            "json",
            "api-keys",
            "create",
            "--name",
            "deploys",
            "--role",
            "backup_operator",
            "--service",
            "github-actions",
        ],
    )
    .await;
    assert!(service.status.success(), "{service:?}");
    let made: Value = serde_json::from_slice(&service.stdout).unwrap();
    let made = &made["api_key"];
    assert_eq!(made["service"], "github-actions", "{made}");
    assert_eq!(made["member_id"], Value::Null, "{made}");
    assert_eq!(made["created_by"], first["member_id"], "{made}");

    // The auditor key can list members but not manage keys.
    let members = butterfly(&s, Some(&secret), &["members", "list"]).await;
    assert!(members.status.success(), "{members:?}");
    assert!(stdout(&members).contains("EMAIL"));
    let denied = butterfly(&s, Some(&secret), &["api-keys", "list"]).await;
    assert!(!denied.status.success());
    let err = String::from_utf8_lossy(&denied.stderr);
    assert!(
        err.contains("403") && err.contains("manage_team_settings"),
        "{err}"
    );

    let id = ci["id"].as_str().unwrap();
    let revoked = butterfly(&s, k, &["api-keys", "revoke", id]).await;
    assert!(revoked.status.success(), "{revoked:?}");
    let after = butterfly(&s, Some(&secret), &["members", "list"]).await;
    assert!(String::from_utf8_lossy(&after.stderr).contains("401"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_key_and_unreachable_server_are_clear_errors() {
    let s = start_server().await;
    let no_key = butterfly(&s, None, &["members", "list"]).await;
    assert!(!no_key.status.success());
    assert!(String::from_utf8_lossy(&no_key.stderr).contains("BUTTERFLY_API_KEY"));

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_butterfly"));
    cmd.args([
        "--server",
        "http://127.0.0.1:9",
        "--api-key",
        "bfs_api_x",
        "members",
        "list",
    ]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_tokens_can_be_created_and_revoked() {
    let s = start_server().await;
    let k = Some(s.key.as_str());
    let created = butterfly(
        &s,
        k,
        &["--output", "json", "scim-token", "create", "--name", "okta"],
    )
    .await;
    let body: Value = serde_json::from_slice(&created.stdout).unwrap();
    assert!(body["secret"].as_str().unwrap().starts_with("bfs_scim_"));
    let id = body["scim_token"]["id"].as_str().unwrap();
    let listed = butterfly(&s, k, &["scim-token", "list"]).await;
    assert!(stdout(&listed).contains("okta"));
    assert!(
        butterfly(&s, k, &["scim-token", "revoke", id])
            .await
            .status
            .success()
    );
    let listed: Value = serde_json::from_slice(
        &butterfly(&s, k, &["--output", "json", "scim-token", "list"])
            .await
            .stdout,
    )
    .unwrap();
    assert!(listed[0]["revoked_at"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sso_set_show_and_test() {
    let s = start_server().await;
    let k = Some(s.key.as_str());
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, "very-secret-value\n").unwrap();
    let set = butterfly(
        &s,
        k,
        &[
            "sso",
            "set",
            "--issuer",
            "http://127.0.0.1:9",
            "--client-id",
            "cid",
            "--client-secret-file",
            secret_file.to_str().unwrap(),
            "--domain",
            "Example.com",
            "--domain",
            "example.org",
            "--default-role",
            "auditor",
        ],
    )
    .await;
    assert!(set.status.success(), "{set:?}");
    assert!(!stdout(&set).contains("very-secret-value"));

    let shown = butterfly(&s, k, &["--output", "json", "sso", "show"]).await;
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(
        shown["domains"],
        serde_json::json!(["example.com", "example.org"])
    );
    assert_eq!(shown["default_role"], "auditor");
    assert_eq!(shown["client_secret_set"], true);
    assert!(!shown.to_string().contains("very-secret-value"));

    // Nothing listens on port 9: the check fails with the provider named as the cause.
    let tested = butterfly(&s, k, &["sso", "test"]).await;
    assert!(!tested.status.success());
    let err = String::from_utf8_lossy(&tested.stderr);
    assert!(err.contains("502") && err.contains("discovery"), "{err}");

    // A missing secret file is a clear local error, and a bad domain a server one.
    let missing = butterfly(
        &s,
        k,
        &[
            "sso",
            "set",
            "--issuer",
            "http://127.0.0.1:9",
            "--client-id",
            "c",
            "--client-secret-file",
            "/nonexistent",
            "--domain",
            "a.example",
        ],
    )
    .await;
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read /nonexistent"));
    let bad = butterfly(
        &s,
        k,
        &[
            "sso",
            "set",
            "--issuer",
            "http://127.0.0.1:9",
            "--client-id",
            "c",
            "--domain",
            "not a domain",
        ],
    )
    .await;
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("400"),
        "{bad:?}"
    );
}

/// `butterfly audit [--since]`: the team's trail, as a table or as the server's JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_lists_the_trail_since_a_time() {
    let s = start_server().await;
    let k = Some(s.key.as_str());
    let created = butterfly(
        &s,
        k,
        &["api-keys", "create", "--name", "ci", "--role", "auditor"],
    )
    .await;
    assert!(created.status.success(), "{created:?}");
    let secret = stdout(&created).lines().last().unwrap().to_owned();

    let table = butterfly(&s, k, &["audit"]).await;
    assert!(table.status.success(), "{table:?}");
    let text = stdout(&table);
    assert!(
        text.contains("ACTION") && text.contains("api_key.created"),
        "{text}"
    );
    assert!(!text.contains(&secret));

    let json = butterfly(&s, k, &["--output", "json", "audit"]).await;
    let lines: Value = serde_json::from_slice(&json.stdout).unwrap();
    let last = lines.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "api_key.created");
    // `--since` the last line's time (an RFC 3339 `+00:00` or `Z`): that line, at least.
    let since = butterfly(
        &s,
        k,
        &[
            "--output",
            "json",
            "audit",
            "--since",
            last["at"].as_str().unwrap(),
        ],
    )
    .await;
    assert!(since.status.success(), "{since:?}");
    let recent: Value = serde_json::from_slice(&since.stdout).unwrap();
    assert!(recent.as_array().unwrap().contains(&last), "{recent}");
    let future = butterfly(
        &s,
        k,
        &[
            "--output",
            "json",
            "audit",
            "--since",
            "2999-01-01T00:00:00+00:00",
        ],
    )
    .await;
    assert_eq!(
        serde_json::from_slice::<Value>(&future.stdout).unwrap(),
        serde_json::json!([])
    );

    // The auditor key may not read it.
    let denied = butterfly(&s, Some(&secret), &["audit"]).await;
    assert!(!denied.status.success());
}
