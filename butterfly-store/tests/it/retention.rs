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
