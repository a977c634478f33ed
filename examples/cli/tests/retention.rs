//! `butterfly forget`, `prune`, `snapshots delete|hold|release` on a local repository.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use butterfly_core::{ProviderKind, Resource, ResourceKind, SnapshotId, SnapshotStatus};
use butterfly_store::snapshots::SnapshotRepository;
use serde_json::{Value, json};

fn butterfly(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_butterfly"))
        .args(args)
        .env_remove("BUTTERFLY_SERVER")
        .env_remove("BUTTERFLY_API_KEY")
        .env_remove("BUTTERFLY_REPO_PASSWORD")
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = butterfly(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

async fn write_snapshot(dir: &Path, day: u32, version: u32) -> SnapshotId {
    let repo = SnapshotRepository::open_or_create(dir).await.unwrap();
    let at = butterfly_core::rfc3339::parse(&format!("2026-01-{day:02}T02:00:00Z")).unwrap();
    let mut writer = repo.begin(ProviderKind::Okta, "https://x.okta.com", at);
    for i in 0..50 {
        let user = Resource::new(
            ResourceKind::new("user"),
            format!("00u{i:03}"),
            json!({"id": i, "v": version, "pad": "x".repeat(500)}),
        );
        writer.add(&user).await.unwrap();
    }
    writer
        .finish(at, SnapshotStatus::Complete)
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn forget_prune_delete_and_holds_work_as_restic_users_expect() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().to_str().unwrap();
    let mut ids = Vec::new();
    for day in 1..=6 {
        ids.push(write_snapshot(dir.path(), day, day).await);
    }
    let short = |id: &SnapshotId| id.to_string()[..8].to_owned();

    ok(&[
        "snapshots",
        "hold",
        &short(&ids[0]),
        "--repo",
        repo,
        "--reason",
        "audit",
    ]);
    let refused = butterfly(&["snapshots", "delete", &short(&ids[0]), "--repo", repo]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("legal hold"));

    // No rule at all is refused, as restic does.
    assert!(!butterfly(&["forget", "--repo", repo]).status.success());

    // A dry run lists every decision and changes nothing.
    let dry = ok(&[
        "--output",
        "json",
        "forget",
        "--repo",
        repo,
        "--keep-last",
        "2",
        "--prune",
        "--dry-run",
    ]);
    let dry: Value = serde_json::from_str(&dry).unwrap();
    let actions: Vec<&str> = dry["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "keep",
            "keep",
            "would remove",
            "would remove",
            "would remove",
            "keep"
        ]
    );
    assert_eq!(dry["decisions"][5]["reasons"], "held");
    // Three snapshots' own versions of 50 users and their entry lists would go.
    assert_eq!(dry["prune"]["objects_removed"], 153);
    assert!(dry["prune"]["bytes_freed"].as_u64().unwrap() > 0);
    let listed = |repo: &str| -> usize {
        let out = ok(&["--output", "json", "snapshots", "list", "--repo", repo]);
        serde_json::from_str::<Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(listed(repo), 6);

    let table_dry = ok(&[
        "forget",
        "--repo",
        repo,
        "--keep-last",
        "2",
        "--prune",
        "--dry-run",
    ]);
    assert!(
        table_dry.contains("Would keep 3 snapshots and remove 3 (dry run: nothing changed)."),
        "{table_dry}"
    );
    assert!(
        table_dry.contains("Prune would remove 153 unreferenced objects"),
        "{table_dry}"
    );
    println!("{table_dry}");
    let table = ok(&["forget", "--repo", repo, "--keep-last", "2", "--prune"]);
    assert!(table.contains("Kept 3 snapshots, removed 3."), "{table}");
    assert!(table.contains("Freed "), "{table}");
    assert_eq!(listed(repo), 3);

    ok(&["snapshots", "delete", &short(&ids[4]), "--repo", repo]);
    let dry = ok(&["prune", "--repo", repo, "--dry-run"]);
    assert!(
        dry.contains("would remove 51 unreferenced objects"),
        "{dry}"
    );
    assert!(dry.contains("It would free about"), "{dry}");
    ok(&["prune", "--repo", repo]);
    ok(&["snapshots", "release", &short(&ids[0]), "--repo", repo]);
    ok(&["snapshots", "delete", &short(&ids[0]), "--repo", repo]);
    ok(&["prune", "--repo", repo]);
    assert_eq!(listed(repo), 1);
    ok(&["check", "--repo", repo, "--read-data"]);
}
