//! `ScimWrite`: a SCIM resource and the team member it stands for, written in one
//! transaction, are seen together or not at all.

use butterfly_core::store::{MemberStore as _, MemberUpdate, NewMember, TeamStore as _};
use butterfly_core::{Role, TeamId};
use butterfly_scim::{ResourceType, ScimStore as _, ScimStoreError};
use butterfly_store::SqlStore;
use serde_json::json;

fn user(name: &str) -> serde_json::Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "active": true,
    })
}

fn member(email: &str) -> NewMember {
    NewMember {
        email: email.to_owned(),
        display_name: None,
        role: Role::ReadOnly,
        active: true,
        external_id: None,
    }
}

async fn team(s: &SqlStore) -> TeamId {
    s.create_team("write-team").await.unwrap().id
}

pub async fn a_write_commits_whole_or_not_at_all(s: &SqlStore) {
    let team = team(s).await;

    // Dropped without a commit: neither the User nor its member exists.
    let mut write = s.begin_scim_write().await.unwrap();
    let dropped = write
        .create(team, ResourceType::User, user("ada@example.com"))
        .await
        .unwrap();
    write
        .create_member(team, member("ada@example.com"))
        .await
        .unwrap();
    // The transaction sees its own writes.
    assert!(
        write
            .member_by_email(team, "ADA@example.com")
            .await
            .unwrap()
            .is_some()
    );
    drop(write);
    assert!(matches!(
        s.get(team, ResourceType::User, &dropped.meta.id).await,
        Err(ScimStoreError::NotFound)
    ));
    assert!(
        s.member_by_email(team, "ada@example.com")
            .await
            .unwrap()
            .is_none()
    );

    // Committed: both, with the id given.
    let mut write = s.begin_scim_write().await.unwrap();
    let id = "2b1f8a4e-0c1d-4e5f-9a6b-7c8d9e0f1a2b".to_owned();
    let created = write
        .create_with_id(
            team,
            ResourceType::User,
            id.clone(),
            user("ada@example.com"),
        )
        .await
        .unwrap();
    assert_eq!(created.meta.id, id);
    let ada = write
        .create_member(team, member("ada@example.com"))
        .await
        .unwrap();
    write.commit().await.unwrap();
    assert_eq!(
        s.get(team, ResourceType::User, &id).await.unwrap().resource["userName"],
        "ada@example.com"
    );
    assert!(
        s.member_by_email(team, "ada@example.com")
            .await
            .unwrap()
            .is_some()
    );

    // A replace compares versions; a stale one changes nothing, whatever else the
    // transaction did is rolled back with it when the caller gives up.
    let mut write = s.begin_scim_write().await.unwrap();
    let mut suspend = MemberUpdate::default();
    suspend.active = Some(false);
    write.update_member(team, ada.id, suspend).await.unwrap();
    assert!(matches!(
        write
            .replace(
                team,
                ResourceType::User,
                &id,
                user("ada@example.com"),
                Some("7")
            )
            .await,
        Err(ScimStoreError::VersionMismatch)
    ));
    drop(write);
    assert!(s.member(team, ada.id).await.unwrap().unwrap().active);

    // A replace and the member's suspension, together.
    let mut write = s.begin_scim_write().await.unwrap();
    let mut inactive = user("ada@example.com");
    inactive["active"] = json!(false);
    let replaced = write
        .replace(team, ResourceType::User, &id, inactive, Some("1"))
        .await
        .unwrap();
    assert_eq!(replaced.meta.version, "2");
    let mut suspend = MemberUpdate::default();
    suspend.active = Some(false);
    write.update_member(team, ada.id, suspend).await.unwrap();
    write.revoke_sessions_of_member(team, ada.id).await.unwrap();
    write.revoke_api_keys_of_member(team, ada.id).await.unwrap();
    write.commit().await.unwrap();
    assert!(!s.member(team, ada.id).await.unwrap().unwrap().active);
    assert_eq!(
        s.get(team, ResourceType::User, &id).await.unwrap().resource["active"],
        false
    );

    // Delete both in one write.
    let mut write = s.begin_scim_write().await.unwrap();
    write.delete(team, ResourceType::User, &id).await.unwrap();
    assert!(write.delete_member(team, ada.id).await.unwrap());
    write.commit().await.unwrap();
    assert!(s.member(team, ada.id).await.unwrap().is_none());
    assert!(write_free(s, team).await);
}

/// Whether the team holds no SCIM resource and no member.
async fn write_free(s: &SqlStore, team: TeamId) -> bool {
    let query = butterfly_scim::ListQuery {
        filter: None,
        sort_by: None,
        descending: false,
        start_index: 1,
        count: 10,
    };
    let (total, _) = s.query(team, ResourceType::User, &query).await.unwrap();
    total == 0 && s.list_members(team).await.unwrap().is_empty()
}

/// Many more queries at once than the pool has connections, of every list shape: each
/// holds one connection at a time, so none waits for a connection another holds (a
/// query that took a second connection while holding one would time out here).
pub async fn concurrent_lists_never_starve_the_pool(s: &SqlStore) {
    let team = team(s).await;
    for i in 0..30 {
        s.create(team, ResourceType::User, user(&format!("u{i}@example.com")))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for i in 0..48_usize {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let query = butterfly_scim::ListQuery {
                filter: (i % 2 == 0)
                    .then(|| butterfly_scim::filter::Filter::parse(r#"userName sw "u1""#).unwrap()),
                sort_by: match i % 3 {
                    0 => None,
                    1 => Some(butterfly_scim::filter::AttrPath::new("userName")),
                    _ => Some(butterfly_scim::filter::AttrPath::new("nickName")),
                },
                descending: i % 4 == 0,
                start_index: 1 + i % 5,
                count: if i % 7 == 0 { 0 } else { 3 },
            };
            s.query(team, ResourceType::User, &query).await
        }));
    }
    for task in tasks {
        let (total, _) = task.await.unwrap().unwrap();
        assert!(total > 0);
    }
}
