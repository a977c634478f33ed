//! Retention over the API: `GET|PUT /api/v1/retention`, `DELETE /api/v1/snapshots/{id}`,
//! `PUT|DELETE /api/v1/snapshots/{id}/hold`, `POST /api/v1/prune`, with the audit trail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::http::{Method, StatusCode};
use butterfly_core::store::ApiKeyStore;
use butterfly_core::{ProviderKind, Resource, ResourceKind, Role, SnapshotStatus};
use butterfly_server::app::{bootstrap, build_router, open_state};
use butterfly_server::config::Config;
use chrono::{Duration, TimeZone as _, Utc};
use serde_json::json;

mod support;

#[tokio::test]
async fn delete_hold_release_prune_and_policies_over_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let state = open_state(&Config::for_data_dir(dir.path())).await.unwrap();
    let (team, key) = bootstrap(&state).await.unwrap().unwrap();
    let router = build_router(state.clone());
    let admin = key.secret().to_owned();
    let (_, viewer) = state
        .store
        .create_api_key(team.id, "viewer", Role::ReadOnly, None)
        .await
        .unwrap();
    let viewer = viewer.secret().to_owned();

    let repo = state.backups.repository(team.id).await.unwrap();
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 2, 0, 0).unwrap();
    let mut ids = Vec::new();
    for day in 0..3 {
        let at = start + Duration::days(day);
        let mut writer = repo.begin(ProviderKind::Okta, "https://x.okta.com", at);
        writer
            .add(&Resource::new(
                ResourceKind::new("user"),
                "00u1",
                json!({"id": "00u1", "day": day}),
            ))
            .await
            .unwrap();
        ids.push(
            writer
                .finish(at, SnapshotStatus::Complete)
                .await
                .unwrap()
                .id,
        );
    }
    let call = |method: Method, path: String, key: String, body: Option<serde_json::Value>| {
        let router = router.clone();
        async move { support::call(&router, method, &path, Some(&key), body).await }
    };

    // A viewer may not delete.
    let (status, _) = call(
        Method::DELETE,
        format!("/api/v1/snapshots/{}", ids[0]),
        viewer.clone(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Held, a snapshot cannot be deleted; released, it can.
    let (status, _) = call(
        Method::PUT,
        format!("/api/v1/snapshots/{}/hold", ids[0]),
        admin.clone(),
        Some(json!({"reason": "audit"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(
        Method::DELETE,
        format!("/api/v1/snapshots/{}", ids[0]),
        admin.clone(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = call(
        Method::DELETE,
        format!("/api/v1/snapshots/{}/hold", ids[0]),
        admin.clone(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        Method::DELETE,
        format!("/api/v1/snapshots/{}", ids[0]),
        admin.clone(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(repo.ids().await.unwrap().len(), 2);

    // Prune: the dry run says what would go, the real one removes it.
    let (status, dry) = call(
        Method::POST,
        "/api/v1/prune?dry_run=true".into(),
        admin.clone(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(dry["objects_removed"], 2, "{dry}");
    assert_eq!(dry["dry_run"], true);
    let (_, done) = call(Method::POST, "/api/v1/prune".into(), admin.clone(), None).await;
    assert_eq!(done["objects_removed"], 2, "{done}");
    assert!(repo.check(true).await.unwrap().problems.is_empty());

    // Policies: a preset for the team; an empty one is refused.
    let (status, set) = call(
        Method::PUT,
        "/api/v1/retention".into(),
        admin.clone(),
        Some(json!({"preset": "medium"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["policy"], json!({"keep_within": "60d"}));
    let (status, _) = call(
        Method::PUT,
        "/api/v1/retention".into(),
        admin.clone(),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, shown) = call(
        Method::GET,
        "/api/v1/retention".into(),
        viewer.clone(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["team"]["policy"], json!({"keep_within": "60d"}));
    assert_eq!(
        shown["presets"]["enterprise"],
        json!({"keep_monthly": 12, "keep_within": "90d"})
    );

    // Every delete, hold, release and prune is in the audit trail.
    let (_, trail) = call(Method::GET, "/api/v1/audit".into(), admin.clone(), None).await;
    let actions: Vec<String> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    for action in [
        "snapshot.held",
        "snapshot.released",
        "snapshot.deleted",
        "repository.pruned",
        "retention.set",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}
