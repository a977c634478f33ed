//! Retention policies per team and per connection, on both databases.

use butterfly_core::retention::{RetentionPolicy, RetentionPreset};
use butterfly_core::store::TeamStore as _;
use butterfly_store::SqlStore;
use uuid::Uuid;

pub async fn policies_are_set_per_team_and_connection_and_the_connection_wins(store: &SqlStore) {
    let team = store.create_team("retain-a").await.unwrap();
    let other = store.create_team("retain-b").await.unwrap();
    let connection = Uuid::new_v4();
    assert_eq!(
        store.effective_retention(team.id, None).await.unwrap(),
        None
    );

    let team_policy = RetentionPreset::Medium.policy();
    store
        .set_retention(team.id, None, Some(&team_policy))
        .await
        .unwrap();
    // Without its own, a connection gets the team's.
    let effective = store
        .effective_retention(team.id, Some(connection))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(effective.policy, team_policy);
    assert_eq!(effective.connection, None);

    let own = RetentionPolicy {
        keep_last: Some(3),
        keep_daily: Some(7),
        ..RetentionPolicy::default()
    };
    store
        .set_retention(team.id, Some(connection), Some(&own))
        .await
        .unwrap();
    let effective = store
        .effective_retention(team.id, Some(connection))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (effective.policy, effective.connection),
        (own.clone(), Some(connection))
    );

    // Setting again replaces; the other team sees nothing.
    let replaced = RetentionPolicy {
        keep_last: Some(9),
        ..RetentionPolicy::default()
    };
    store
        .set_retention(team.id, Some(connection), Some(&replaced))
        .await
        .unwrap();
    let all = store.list_retention(team.id).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].connection, None);
    assert_eq!(all[1].policy, replaced);
    assert!(store.list_retention(other.id).await.unwrap().is_empty());

    // Removing the connection's falls back to the team's.
    store
        .set_retention(team.id, Some(connection), None)
        .await
        .unwrap();
    let effective = store
        .effective_retention(team.id, Some(connection))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(effective.policy, team_policy);
}

/// The after-backup hook: the connection's policy, applied to its org's snapshots only,
/// keeping held ones; then a prune.
pub async fn the_hook_forgets_one_orgs_snapshots_by_the_connections_policy(store: &SqlStore) {
    use butterfly_core::{ProviderKind, Resource, ResourceKind, SnapshotStatus};
    use butterfly_store::MasterKey;
    use butterfly_store::retention::apply_retention;
    use butterfly_store::snapshots::SnapshotRepository;
    use chrono::{Duration, TimeZone as _, Utc};

    let team = store.create_team("retain-hook").await.unwrap();
    let connection = Uuid::new_v4();
    let repo = SnapshotRepository::open_in(
        std::sync::Arc::new(object_store::memory::InMemory::new()),
        object_store::path::Path::from("team"),
        &MasterKey::generate(),
        team.id,
    )
    .await
    .unwrap();
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 2, 0, 0).unwrap();
    let mut ids = Vec::new();
    for org in ["https://a.okta.com", "https://b.okta.com"] {
        for day in 0..4 {
            let at = start + Duration::days(day);
            let mut writer = repo.begin(ProviderKind::Okta, org, at);
            writer
                .add(&Resource::new(
                    ResourceKind::new("user"),
                    "00u1",
                    serde_json::json!({"org": org, "day": day}),
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
    }
    let now = start + Duration::days(10);
    // No policy: nothing happens.
    let none = apply_retention(
        store,
        &repo,
        team.id,
        connection,
        "https://a.okta.com",
        now,
        true,
    )
    .await
    .unwrap();
    assert!(none.forget.is_none());

    repo.hold(ids[0], "audit").await.unwrap();
    let policy = RetentionPolicy {
        keep_last: Some(1),
        ..RetentionPolicy::default()
    };
    store
        .set_retention(team.id, Some(connection), Some(&policy))
        .await
        .unwrap();
    let applied = apply_retention(
        store,
        &repo,
        team.id,
        connection,
        "https://a.okta.com",
        now,
        true,
    )
    .await
    .unwrap();
    let mut deleted = applied.forget.unwrap().deleted;
    deleted.sort();
    let mut expected = vec![ids[1], ids[2]];
    expected.sort();
    assert_eq!(deleted, expected);
    assert!(applied.prune.unwrap().objects_removed >= 2);
    // Org b's four snapshots are untouched; a's newest and its held one stay.
    let left = repo.ids().await.unwrap();
    assert_eq!(left.len(), 6);
    assert!(left.contains(&ids[0]) && left.contains(&ids[3]));
    assert!(repo.check(true).await.unwrap().problems.is_empty());
}
