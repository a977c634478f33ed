//! `butterfly snapshots ls|cat|download` on a local repository (snapshots written through
//! the store's API), read back independently: JSON parsed, tar.zst unpacked with the
//! `zstd` and `tar` crates.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use butterfly_core::{ProviderKind, Resource, ResourceKind, Snapshot, SnapshotStatus};
use butterfly_store::snapshots::SnapshotRepository;
use chrono::{TimeZone as _, Utc};
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

fn ok(args: &[&str]) -> String {
    let out = butterfly(args);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// The one failure line a command printed, checking it failed and printed nothing else.
fn fails(args: &[&str]) -> String {
    let out = butterfly(args);
    assert_eq!(out.status.code(), Some(1), "{args:?}");
    assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
    text(&out.stderr).trim().to_owned()
}

fn resources() -> Vec<Resource> {
    let mut all = vec![
        Resource::new(
            ResourceKind::new("group"),
            "00g1",
            json!({"id": "00g1", "profile": {"name": "Admins", "description": "Ops"}}),
        ),
        Resource::new(
            ResourceKind::new("policy_rule"),
            "00p1/0pr1",
            json!({"id": "0pr1", "name": "Require MFA", "priority": 1}),
        ),
    ];
    for i in 0..40 {
        let id = format!("00u{i:02}");
        all.push(Resource::new(
            ResourceKind::new("user"),
            id.clone(),
            json!({"id": id, "profile": {"login": format!("user{i}@example.com")}, "status": "ACTIVE"}),
        ));
    }
    all
}

async fn write_snapshot(dir: &Path) -> Snapshot {
    let repo = SnapshotRepository::open_or_create(dir).await.unwrap();
    let at = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let mut writer = repo.begin(ProviderKind::Okta, "https://x.okta.com", at);
    writer.add_all(&resources()).await.unwrap();
    writer.finish(at, SnapshotStatus::Complete).await.unwrap()
}

/// The fixture's resources in manifest order: kinds by name, then ids.
fn sorted_resources() -> Vec<Resource> {
    let mut all = resources();
    all.sort_by(|a, b| (&a.kind, &a.id).cmp(&(&b.kind, &b.id)));
    all
}

#[tokio::test]
async fn ls_lists_names_and_digests_and_filters_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = write_snapshot(dir.path()).await;
    let repo = dir.path().to_str().unwrap();
    let id = snapshot.id.to_string();

    let listed: Value = serde_json::from_str(&ok(&[
        "--output",
        "json",
        "snapshots",
        "ls",
        &id[..8],
        "--repo",
        repo,
    ]))
    .unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 42);
    assert_eq!(
        listed[0],
        json!({
            "kind": "group",
            "id": "00g1",
            "name": "Admins",
            "digest": snapshot.kinds[&ResourceKind::new("group")][0].digest,
            "bytes": r#"{"id":"00g1","profile":{"description":"Ops","name":"Admins"}}"#.len(),
        })
    );
    assert_eq!(listed[1]["name"], "Require MFA");
    assert_eq!(listed[2]["name"], "user0@example.com");

    let users: Value = serde_json::from_str(&ok(&[
        "--output",
        "json",
        "snapshots",
        "ls",
        &id,
        "--kind",
        "user",
        "--repo",
        repo,
    ]))
    .unwrap();
    assert_eq!(users.as_array().unwrap().len(), 40);
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["kind"] == "user")
    );

    let table = ok(&["snapshots", "ls", &id, "--repo", repo]);
    assert!(
        table.contains("KIND") && table.contains("user39@example.com"),
        "{table}"
    );
    let markdown = ok(&[
        "--output",
        "markdown",
        "snapshots",
        "ls",
        &id,
        "--repo",
        repo,
    ]);
    assert!(markdown.contains("| group"), "{markdown}");

    assert_eq!(
        fails(&["snapshots", "ls", &id, "--kind", "usr", "--repo", repo]),
        format!("error: snapshot {id} has no kind `usr`; it has: group, policy_rule, user")
    );
    assert_eq!(
        fails(&["snapshots", "ls", "ffffffff", "--repo", repo]),
        "error: no snapshot id starts with `ffffffff`"
    );
}

#[tokio::test]
async fn cat_prints_one_resource_as_stored() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = write_snapshot(dir.path()).await;
    let repo = dir.path().to_str().unwrap();
    let id = snapshot.id.to_string();

    let printed = ok(&[
        "snapshots",
        "cat",
        &id[..6],
        "policy_rule",
        "00p1/0pr1",
        "--repo",
        repo,
    ]);
    assert_eq!(
        serde_json::from_str::<Value>(&printed).unwrap(),
        json!({"id": "0pr1", "name": "Require MFA", "priority": 1})
    );
    assert!(printed.contains("\n  \"name\""), "pretty: {printed}");

    assert_eq!(
        fails(&["snapshots", "cat", &id, "user", "00u99", "--repo", repo]),
        format!("error: snapshot {id} has no `user` with id `00u99`")
    );
    assert_eq!(
        fails(&["snapshots", "cat", &id, "app", "0oa1", "--repo", repo]),
        format!("error: snapshot {id} has no kind `app`; it has: group, policy_rule, user")
    );
}

#[tokio::test]
async fn downloads_round_trip_and_are_byte_stable() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = write_snapshot(dir.path()).await;
    let repo = dir.path().to_str().unwrap();
    let id = snapshot.id.to_string();
    let out = tempfile::tempdir().unwrap();
    let file = |name: &str| out.path().join(name).to_str().unwrap().to_owned();

    // JSON lines: the manifest, then every resource in manifest order.
    let report: Value = serde_json::from_str(&ok(&[
        "--output",
        "json",
        "snapshots",
        "download",
        &id,
        "--repo",
        repo,
        "--format",
        "jsonl",
        "--out",
        &file("a.jsonl"),
    ]))
    .unwrap();
    assert_eq!(report["resources"], 42);
    let jsonl = std::fs::read_to_string(file("a.jsonl")).unwrap();
    assert_eq!(report["bytes"], jsonl.len());
    let mut lines = jsonl.lines();
    let manifest: Snapshot = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(manifest, snapshot);
    let read: Vec<Resource> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(read, sorted_resources());

    // tar.zst: manifest.json, then KIND/ID.json per resource.
    ok(&[
        "snapshots",
        "download",
        &id,
        "--repo",
        repo,
        "--format",
        "tar.zst",
        "--out",
        &file("a.tar.zst"),
    ]);
    let compressed = std::fs::read(file("a.tar.zst")).unwrap();
    let tar = zstd::decode_all(compressed.as_slice()).unwrap();
    let mut archive = tar::Archive::new(tar.as_slice());
    let mut files = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut body = String::new();
        entry.read_to_string(&mut body).unwrap();
        files.insert(path, body);
    }
    let manifest: Snapshot = serde_json::from_str(&files.remove("manifest.json").unwrap()).unwrap();
    assert_eq!(manifest, snapshot);
    assert!(
        files.contains_key("policy_rule/00p1%2F0pr1.json"),
        "{:?}",
        files.keys()
    );
    let mut read: Vec<Resource> = files
        .values()
        .map(|body| serde_json::from_str(body).unwrap())
        .collect();
    read.sort_by(|a, b| (&a.kind, &a.id).cmp(&(&b.kind, &b.id)));
    assert_eq!(read, sorted_resources());

    // Again: the same bytes, in both formats.
    ok(&[
        "snapshots",
        "download",
        &id,
        "--repo",
        repo,
        "--out",
        &file("b.jsonl"),
    ]);
    assert_eq!(std::fs::read_to_string(file("b.jsonl")).unwrap(), jsonl);
    ok(&[
        "snapshots",
        "download",
        &id,
        "--repo",
        repo,
        "--format",
        "tar.zst",
        "--out",
        &file("b.tar.zst"),
    ]);
    assert_eq!(std::fs::read(file("b.tar.zst")).unwrap(), compressed);

    // Refusals write nothing.
    assert_eq!(
        fails(&[
            "snapshots",
            "download",
            &id,
            "--repo",
            repo,
            "--format",
            "zip",
            "--out",
            &file("c")
        ]),
        "error: unknown format `zip`: use jsonl or tar.zst"
    );
    fails(&[
        "snapshots",
        "download",
        "ffffffff",
        "--repo",
        repo,
        "--out",
        &file("c"),
    ]);
    let left: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('c'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// `| head`: the reader closes the pipe; the CLI stops quietly with status 0.
#[tokio::test]
async fn a_closed_stdout_ends_ls_cat_and_download_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = write_snapshot(dir.path()).await;
    let repo = dir.path().to_str().unwrap().to_owned();
    let id = snapshot.id.to_string();
    for args in [
        vec!["snapshots", "ls", &id, "--repo", &repo],
        vec!["snapshots", "cat", &id, "group", "00g1", "--repo", &repo],
        vec!["snapshots", "download", &id, "--repo", &repo, "--out", "-"],
    ] {
        // The read end is closed before the CLI starts, so its first write fails.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_butterfly"))
            .args(&args)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}");
    }
}
