//! `butterfly compliance trend A B`: what got better and worse between two snapshots of a
//! local repository (written through the store's API, with known changes).

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
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An org with a password policy of `min_length` characters and one event hook at `uri`.
fn org(min_length: i64, uri: &str) -> Vec<Resource> {
    vec![
        Resource::new(
            ResourceKind::new("policy.PASSWORD"),
            "00p1",
            json!({"id": "00p1", "name": "Default Policy", "status": "ACTIVE",
                "settings": {"password": {"complexity": {"minLength": min_length}}}}),
        ),
        Resource::new(
            ResourceKind::new("event_hook"),
            "who1",
            json!({"id": "who1", "name": "SIEM", "status": "ACTIVE",
                "verificationStatus": "VERIFIED", "channel": {"config": {"uri": uri}}}),
        ),
    ]
}

async fn write_snapshot(dir: &Path, at: &str, resources: &[Resource]) -> SnapshotId {
    let repo = SnapshotRepository::open_or_create(dir).await.unwrap();
    let at = butterfly_core::rfc3339::parse(at).unwrap();
    let mut writer = repo.begin(ProviderKind::Okta, "https://x.okta.com", at);
    for r in resources {
        writer.add(r).await.unwrap();
    }
    writer
        .finish(at, SnapshotStatus::Complete)
        .await
        .unwrap()
        .id
}

fn items(list: &Value) -> Vec<(String, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["framework"].as_str().unwrap().to_owned(),
                i["check_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pair(framework: &str, check: &str) -> (String, String) {
    (framework.to_owned(), check.to_owned())
}

/// The older snapshot has a short password length and a hook over HTTPS; the newer one
/// has a long password length and the hook moved to plain HTTP. So the length check is
/// fixed and the hook check newly fails, in every framework that maps them.
#[tokio::test]
async fn trend_shows_what_was_fixed_and_what_newly_fails() {
    let dir = tempfile::tempdir().unwrap();
    let old = write_snapshot(
        dir.path(),
        "2026-11-01T00:00:00Z",
        &org(8, "https://siem.example.com/okta"),
    )
    .await;
    let new = write_snapshot(
        dir.path(),
        "2026-12-01T00:00:00Z",
        &org(16, "http://siem.example.com/okta"),
    )
    .await;
    let (a, b) = (old.to_string(), new.to_string());
    let repo = dir.path().to_str().unwrap();

    // PCI DSS maps both checks; prefixes name the snapshots.
    let out = butterfly(&[
        "compliance",
        "trend",
        &a[..8],
        &b[..8],
        "--repo",
        repo,
        "--framework",
        "pci-dss",
        "--output",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let trend: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(trend["before"]["id"], a);
    assert_eq!(trend["after"]["id"], b);
    assert_eq!(
        items(&trend["fixed"]),
        [pair("pci_dss", "password.min_length")],
        "{trend}"
    );
    assert_eq!(
        items(&trend["newly_failing"]),
        [pair("pci_dss", "logging.event_hooks_https")],
        "{trend}"
    );
    let hook = &trend["newly_failing"][0];
    assert_eq!(
        (&hook["before"], &hook["after"], &hook["control"]),
        (&json!("pass"), &json!("fail"), &json!("4.2.1")),
        "{trend}"
    );

    // Every framework: the trend is exactly the per-check difference of the two
    // snapshots' own reports (each framework maps and thresholds the checks its way).
    let report = |id: &str| -> Value {
        let out = butterfly(&["compliance", id, "--repo", repo, "--format", "json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let failing = |report: &Value| -> Vec<(String, String)> {
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == "fail")
            .map(|r| {
                pair(
                    r["framework"].as_str().unwrap(),
                    r["check_id"].as_str().unwrap(),
                )
            })
            .collect()
    };
    let (before, after) = (failing(&report(&a)), failing(&report(&b)));
    let out = butterfly(&[
        "compliance",
        "trend",
        &a,
        &b,
        "--repo",
        repo,
        "--output",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    let newly: Vec<_> = after
        .iter()
        .filter(|c| !before.contains(c))
        .cloned()
        .collect();
    let fixed: Vec<_> = before
        .iter()
        .filter(|c| !after.contains(c))
        .cloned()
        .collect();
    let mut got_newly = items(&all["newly_failing"]);
    let mut got_fixed = items(&all["fixed"]);
    got_newly.sort();
    got_fixed.sort();
    let (mut newly, mut fixed) = (newly, fixed);
    newly.sort();
    fixed.sort();
    assert_eq!(got_newly, newly, "{all}");
    assert_eq!(got_fixed, fixed, "{all}");
    assert!(
        fixed.contains(&pair("stig", "password.min_length")),
        "{all}"
    );
    assert_eq!(
        all["still_failing"],
        before.iter().filter(|c| after.contains(c)).count(),
        "{all}"
    );

    // Tables for people, Markdown for a ticket.
    let out = butterfly(&["compliance", "trend", &a, &b, "--repo", repo]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.contains("password.min_length"), "{table}");
    assert!(table.contains("better"), "{table}");
    assert!(table.contains("worse"), "{table}");
    let out = butterfly(&[
        "compliance",
        "trend",
        &a,
        &b,
        "--repo",
        repo,
        "--framework",
        "pci-dss",
        "--output",
        "markdown",
    ]);
    let markdown = text(&out.stdout);
    assert!(markdown.starts_with("## Compliance from"), "{markdown}");
    assert!(
        markdown
            .lines()
            .any(|l| l.starts_with("| worse") && l.contains("logging.event_hooks_https")),
        "{markdown}"
    );
    assert!(
        markdown.lines().any(|l| l.starts_with("| pci_dss")),
        "{markdown}"
    );
}

#[tokio::test]
async fn trend_refuses_unknown_frameworks_and_snapshots_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let id = write_snapshot(
        dir.path(),
        "2026-11-01T00:00:00Z",
        &org(8, "https://siem.example.com"),
    )
    .await
    .to_string();
    let repo = dir.path().to_str().unwrap();
    let out = butterfly(&[
        "compliance",
        "trend",
        &id,
        &id,
        "--repo",
        repo,
        "--framework",
        "myspace",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("myspace"),
        "{}",
        text(&out.stderr)
    );
    let out = butterfly(&["compliance", "trend", &id, "ffffffff", "--repo", repo]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("ffffffff"),
        "{}",
        text(&out.stderr)
    );
    // The same snapshot twice: nothing changed.
    let out = butterfly(&[
        "compliance",
        "trend",
        &id,
        &id,
        "--repo",
        repo,
        "--output",
        "json",
    ]);
    let same: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(same["newly_failing"], json!([]));
    assert_eq!(same["fixed"], json!([]));
    // The report command is unchanged beside the subcommand.
    let out = butterfly(&[
        "compliance",
        &id[..8],
        "--repo",
        repo,
        "--framework",
        "stig",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = butterfly(&["compliance", "--repo", repo]);
    assert!(!out.status.success());
}
