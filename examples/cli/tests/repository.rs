//! `butterfly init`, `check` and `repair index`, and read-only commands that must not
//! write, on local repositories (snapshots written through the store's API).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use butterfly_core::{ProviderKind, Resource, ResourceKind, SnapshotStatus};
use butterfly_store::snapshots::SnapshotRepository;
use chrono::Utc;
use serde_json::{Value, json};

fn butterfly(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_butterfly"))
        .args(args)
        .env_remove("BUTTERFLY_SERVER")
        .env_remove("BUTTERFLY_API_KEY")
        .output()
        .unwrap()
}

fn butterfly_with(password: &str, extra: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_butterfly"));
    cmd.args(args)
        .env_remove("BUTTERFLY_SERVER")
        .env_remove("BUTTERFLY_API_KEY")
        .env("BUTTERFLY_REPO_PASSWORD", password);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn write_snapshot(dir: &Path) {
    let repo = SnapshotRepository::open_or_create(dir).await.unwrap();
    let mut writer = repo.begin(ProviderKind::Okta, "https://x.okta.com", Utc::now());
    for i in 0..20 {
        let id = format!("00u{i}");
        writer
            .add(&Resource::new(
                ResourceKind::new("user"),
                id.clone(),
                json!({"id": id}),
            ))
            .await
            .unwrap();
    }
    writer
        .finish(Utc::now(), SnapshotStatus::Complete)
        .await
        .unwrap();
}

fn packs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir.join("packs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[test]
fn read_only_commands_on_a_missing_repository_fail_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let path = missing.to_str().unwrap();
    for args in [
        vec!["snapshots", "list", "--repo", path],
        vec!["snapshots", "show", "abcd", "--repo", path],
        vec!["snapshots", "verify", "--repo", path],
        vec!["check", "--repo", path],
        vec!["check", "--read-data", "--repo", path],
        vec!["repair", "index", "--repo", path],
    ] {
        let out = butterfly(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            text(&out.stderr).contains("is not a snapshot repository"),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!missing.exists(), "{args:?} created the directory");
    }
    // A directory without a key: refused, and no key is made.
    std::fs::create_dir(&missing).unwrap();
    let out = butterfly(&["snapshots", "list", "--repo", path]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("master.key"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_dir(&missing).unwrap().count(), 0);

    // `init` without a password refuses, and writes nothing.
    let out = butterfly(&["init", "--repo", path]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("needs a password"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_dir(&missing).unwrap().count(), 0);

    // `init --insecure-no-password` makes one with a plain key file, once.
    let out = butterfly(&["init", "--insecure-no-password", "--repo", path]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(missing.join("master.key").exists());
    assert!(!butterfly(&["init", "--repo", path]).status.success());
    let out = butterfly(&["--output", "json", "snapshots", "list", "--repo", path]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed, json!([]));
}

#[tokio::test]
async fn check_finds_a_truncated_pack_and_repair_index_clears_it() {
    let dir = tempfile::tempdir().unwrap();
    write_snapshot(dir.path()).await;
    let path = dir.path().to_str().unwrap();
    let out = butterfly(&["check", "--repo", path]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains(": ok"), "{}", text(&out.stdout));

    for pack in packs(dir.path()) {
        let bytes = std::fs::read(&pack).unwrap();
        std::fs::write(&pack, &bytes[..bytes.len() - 100]).unwrap();
    }
    let out = butterfly(&["--output", "json", "check", "--repo", path]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["read_data"], json!(false));
    let problems = report["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["message"].as_str().unwrap().contains("truncated")),
        "{report}"
    );

    let out = butterfly(&["--output", "json", "repair", "index", "--repo", path]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let repaired: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        repaired["objects_dropped"].as_u64().unwrap() > 0,
        "{repaired}"
    );
    // The pack is consistent with its index again; the snapshot still lacks what was
    // cut off, until a backup stores it again.
    let out = butterfly(&["--output", "json", "check", "--repo", path]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["message"].as_str().unwrap().contains("in no pack")),
        "{report}"
    );
    write_snapshot(dir.path()).await;
    let out = butterfly(&["check", "--read-data", "--repo", path]);
    assert!(out.status.success(), "{}", text(&out.stdout));
}

#[tokio::test]
async fn snapshots_list_shows_the_healthy_snapshots_and_flags_a_damaged_one() {
    let dir = tempfile::tempdir().unwrap();
    write_snapshot(dir.path()).await;
    write_snapshot(dir.path()).await;
    let manifests: Vec<PathBuf> = std::fs::read_dir(dir.path().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    std::fs::write(&manifests[0], b"BFLY").unwrap();
    let damaged_id = manifests[0]
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let path = dir.path().to_str().unwrap();
    let out = butterfly(&["--output", "json", "snapshots", "list", "--repo", path]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "{listed}");
    assert_ne!(ids[0], damaged_id);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("snapshot {damaged_id}")),
        "{stderr}"
    );
}

/// A repository made with a password opens only with one of its passwords; keys are
/// added and removed as restic users expect.
#[test]
fn password_repositories_and_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let path = repo.to_str().unwrap();
    let out = butterfly_with("first password", &[], &["init", "--repo", path]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!repo.join("master.key").exists());
    assert_eq!(std::fs::read_dir(repo.join("keys")).unwrap().count(), 1);

    let out = butterfly(&["snapshots", "list", "--repo", path]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("protected by a password"),
        "{}",
        text(&out.stderr)
    );
    let out = butterfly_with("guess", &[], &["snapshots", "list", "--repo", path]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("wrong password"),
        "{}",
        text(&out.stderr)
    );
    // --password-file works too, with the editor's trailing newline.
    let pw_file = dir.path().join("pw");
    std::fs::write(&pw_file, "first password\n").unwrap();
    let out = butterfly(&[
        "--password-file",
        pw_file.to_str().unwrap(),
        "snapshots",
        "list",
        "--repo",
        path,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = butterfly_with(
        "first password",
        &[("BUTTERFLY_NEW_REPO_PASSWORD", "second password")],
        &["--output", "json", "key", "add", "--repo", path],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    let second = added["id"].as_str().unwrap().to_owned();

    let out = butterfly_with(
        "second password",
        &[],
        &["--output", "json", "key", "list", "--repo", path],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let keys: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    let first = ids.iter().find(|id| **id != second).unwrap().to_string();

    // Not the key in use...
    let out = butterfly_with(
        "second password",
        &[],
        &["key", "remove", "--repo", path, &second],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("your password opened"),
        "{}",
        text(&out.stderr)
    );
    // ...but another one, after which its password no longer opens the repository.
    let out = butterfly_with(
        "second password",
        &[],
        &["key", "remove", "--repo", path, &first],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = butterfly_with(
        "first password",
        &[],
        &["snapshots", "list", "--repo", path],
    );
    assert!(!out.status.success());
    // And never the last one.
    let out = butterfly_with(
        "second password",
        &[],
        &["key", "remove", "--repo", path, &second],
    );
    assert!(!out.status.success());
}
