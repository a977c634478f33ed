//! A snapshot's contents over the API: `GET /api/v1/snapshots/{id}/resources`,
//! `.../resources/{kind}/{resource_id}` and `.../download`, on a real SQLite store with
//! snapshots written into the team's repository through the store's API. Downloads are
//! read back independently (JSON parsed; tar.zst unpacked with the `zstd` and `tar`
//! crates) and compared with the snapshot.

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::Read as _;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use butterfly_core::store::{ApiKeyStore, TeamStore};
use butterfly_core::{
    ProviderKind, Resource, ResourceKind, Role, Snapshot, SnapshotStatus, TeamId,
};
use butterfly_server::app::{AppState, bootstrap, build_router, open_state};
use butterfly_server::config::Config;
use chrono::{TimeZone as _, Utc};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

mod support;

struct Server {
    state: AppState,
    router: Router,
    key: String,
    team: TeamId,
    _dir: tempfile::TempDir,
}

async fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let state = open_state(&Config::for_data_dir(dir.path())).await.unwrap();
    let (team, key) = bootstrap(&state).await.unwrap().unwrap();
    Server {
        router: build_router(state.clone()),
        state,
        key: key.secret().to_owned(),
        team: team.id,
        _dir: dir,
    }
}

fn resources() -> Vec<Resource> {
    let mut all = vec![
        Resource::new(
            ResourceKind::new("group"),
            "00g1",
            json!({"id": "00g1", "profile": {"name": "Admins"}}),
        ),
        Resource::new(
            ResourceKind::new("policy_rule"),
            "00p1/0pr1",
            json!({"id": "0pr1", "name": "Require MFA", "priority": 1}),
        ),
    ];
    for i in 0..30 {
        let id = format!("00u{i:02}");
        all.push(Resource::new(
            ResourceKind::new("user"),
            id.clone(),
            json!({"id": id, "profile": {"login": format!("user{i}@example.com")}}),
        ));
    }
    all.sort_by(|a, b| (&a.kind, &a.id).cmp(&(&b.kind, &b.id)));
    all
}

impl Server {
    /// A snapshot of `resources()` in `team`'s repository.
    async fn snapshot(&self, team: TeamId) -> Snapshot {
        let repo = self.state.backups.repository(team).await.unwrap();
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let mut writer = repo.begin(ProviderKind::Okta, "https://x.okta.com", at);
        writer.add_all(&resources()).await.unwrap();
        writer.finish(at, SnapshotStatus::Complete).await.unwrap()
    }

    async fn key(&self, team: TeamId, role: Role) -> String {
        let (_, raw) = self
            .state
            .store
            .create_api_key(team, "test", role, None)
            .await
            .unwrap();
        raw.secret().to_owned()
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.get_as(&self.key, path).await
    }

    async fn get_as(&self, key: &str, path: &str) -> (StatusCode, Value) {
        support::call(&self.router, Method::GET, path, Some(key), None).await
    }

    /// The raw answer: status, headers and body bytes.
    async fn raw(&self, path: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
        let req = Request::get(path)
            .header("authorization", format!("Bearer {}", self.key))
            .body(Body::empty())
            .unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes().to_vec();
        (parts.status, parts.headers, bytes)
    }
}

#[tokio::test]
async fn resources_are_listed_with_names_and_digests() {
    let s = server().await;
    let snapshot = s.snapshot(s.team).await;
    let id = snapshot.id.to_string();

    let (status, listed) = s
        .get(&format!("/api/v1/snapshots/{}/resources", &id[..8]))
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 32);
    assert_eq!(
        listed[0],
        json!({
            "kind": "group",
            "id": "00g1",
            "name": "Admins",
            "digest": snapshot.kinds[&ResourceKind::new("group")][0].digest,
            "bytes": r#"{"id":"00g1","profile":{"name":"Admins"}}"#.len(),
        })
    );
    let ids: Vec<&str> = listed.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let want: Vec<String> = resources().into_iter().map(|r| r.id).collect();
    assert_eq!(ids, want);

    let (status, users) = s
        .get(&format!("/api/v1/snapshots/{id}/resources?kind=user"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(users.as_array().unwrap().len(), 30);
    assert_eq!(users[3]["name"], "user3@example.com");

    for (path, want) in [
        (
            format!("/api/v1/snapshots/{id}/resources?kind=usr"),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/snapshots/ffffffff/resources".to_owned(),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/api/v1/snapshots/{}/resources", uuid::Uuid::new_v4()),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/snapshots/zz/resources".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/api/v1/snapshots/{id}/resources?sort=id"),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, body) = s.get(&path).await;
        assert_eq!(status, want, "{path}: {body}");
        assert!(body["error"]["code"].is_string(), "{path}: {body}");
    }
    let (_, body) = s
        .get(&format!("/api/v1/snapshots/{id}/resources?kind=usr"))
        .await;
    assert_eq!(body["error"]["message"], "resource kind not found");
}

#[tokio::test]
async fn one_resource_is_read_as_stored() {
    let s = server().await;
    let snapshot = s.snapshot(s.team).await;
    let id = snapshot.id.to_string();

    let (status, group) = s
        .get(&format!(
            "/api/v1/snapshots/{}/resources/group/00g1",
            &id[..8]
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{group}");
    assert_eq!(
        group,
        json!({"kind": "group", "id": "00g1", "attributes": {"id": "00g1", "profile": {"name": "Admins"}}})
    );
    // A nested kind's scoped id, with its slash as is or percent-encoded.
    for rule in ["00p1/0pr1", "00p1%2F0pr1"] {
        let (status, body) = s
            .get(&format!(
                "/api/v1/snapshots/{id}/resources/policy_rule/{rule}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{rule}: {body}");
        assert_eq!(body["id"], "00p1/0pr1");
        assert_eq!(body["attributes"]["name"], "Require MFA");
    }
    for (path, message) in [
        (
            format!("/api/v1/snapshots/{id}/resources/user/00u99"),
            "resource not found",
        ),
        (
            format!("/api/v1/snapshots/{id}/resources/app/0oa1"),
            "resource kind not found",
        ),
        (
            "/api/v1/snapshots/ffffffff/resources/user/00u01".to_owned(),
            "snapshot not found",
        ),
    ] {
        let (status, body) = s.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(body["error"]["message"], message, "{path}");
    }
}

#[tokio::test]
async fn downloads_round_trip_and_are_byte_stable() {
    let s = server().await;
    let snapshot = s.snapshot(s.team).await;
    let id = snapshot.id.to_string();

    // JSON lines, the default: the manifest, then every resource in manifest order.
    let (status, headers, jsonl) = s
        .raw(&format!("/api/v1/snapshots/{}/download", &id[..8]))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&jsonl)
    );
    assert_eq!(headers["content-type"], "application/jsonl");
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"butterfly-snapshot-{id}.jsonl\"").as_str()
    );
    let text = String::from_utf8(jsonl.clone()).unwrap();
    let mut lines = text.lines();
    let manifest: Snapshot = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(manifest, snapshot);
    let read: Vec<Resource> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(read, resources());

    // tar.zst: manifest.json, then KIND/ID.json per resource.
    let (status, headers, compressed) = s
        .raw(&format!("/api/v1/snapshots/{id}/download?format=tar.zst"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/zstd");
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"butterfly-snapshot-{id}.tar.zst\"").as_str()
    );
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
    assert_eq!(read, resources());

    // The same bytes every time.
    assert_eq!(
        s.raw(&format!("/api/v1/snapshots/{id}/download?format=jsonl"))
            .await
            .2,
        jsonl
    );
    assert_eq!(
        s.raw(&format!("/api/v1/snapshots/{id}/download?format=tar.zst"))
            .await
            .2,
        compressed
    );

    let (status, body) = s
        .get(&format!("/api/v1/snapshots/{id}/download?format=zip"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["error"]["message"],
        "unknown format `zip`: use jsonl or tar.zst"
    );
    let (status, _) = s.get("/api/v1/snapshots/ffffffff/download").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Team B cannot see into team A's snapshots, by id or by prefix: to B they do not exist.
#[tokio::test]
async fn another_team_cannot_read_a_snapshot() {
    let s = server().await;
    let snapshot = s.snapshot(s.team).await;
    let id = snapshot.id.to_string();
    let other = s.state.store.create_team("other").await.unwrap();
    let other_key = s.key(other.id, Role::SuperAdmin).await;
    // B has a snapshot of its own, so its repository exists and is not empty.
    let own = s.snapshot(other.id).await;
    for path in [
        format!("/api/v1/snapshots/{id}/resources"),
        format!("/api/v1/snapshots/{}/resources", &id[..8]),
        format!("/api/v1/snapshots/{id}/resources/group/00g1"),
        format!("/api/v1/snapshots/{id}/download"),
        format!("/api/v1/snapshots/{id}/download?format=tar.zst"),
    ] {
        let (status, body) = s.get_as(&other_key, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(body["error"]["message"], "snapshot not found", "{path}");
    }
    let (status, _) = s
        .get_as(
            &other_key,
            &format!("/api/v1/snapshots/{}/resources", own.id),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "B reads its own");
}

/// `view backup contents` and `download backups` are different rows of the matrix: a
/// backup operator may look inside but not download; an auditor may do both; read-only
/// may do neither.
#[tokio::test]
async fn viewing_and_downloading_need_their_own_permissions() {
    let s = server().await;
    let id = s.snapshot(s.team).await.id;
    let list = format!("/api/v1/snapshots/{id}/resources");
    let download = format!("/api/v1/snapshots/{id}/download");
    for (role, can_view, can_download) in [
        (Role::BackupOperator, true, false),
        (Role::Auditor, true, true),
        (Role::ReadOnly, false, false),
    ] {
        let key = s.key(s.team, role).await;
        for (path, allowed, permission) in [
            (&list, can_view, "view_backup_contents"),
            (&download, can_download, "download_backups"),
        ] {
            let (status, body) = s.get_as(&key, path).await;
            if allowed {
                assert_eq!(status, StatusCode::OK, "{role} {path}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{role} {path}");
                assert_eq!(body["error"]["permission"], permission);
            }
        }
    }
}
