//! Group commit on SQLite: concurrent SCIM writes share one transaction, each in a
//! savepoint of its own; a write that fails is rolled back alone, and each write is
//! answered only once the transaction holding it has committed.

use butterfly_core::TeamId;
use butterfly_core::store::{MemberStore as _, TeamStore as _};
use butterfly_scim::{ResourceType, ScimStore as _, ScimStoreError};
use butterfly_store::SqlStore;
use butterfly_store::sql::{GroupCommitStats, SqlError};
use serde_json::json;

fn user(name: &str) -> serde_json::Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "active": true,
    })
}

fn stats(s: &SqlStore) -> GroupCommitStats {
    s.group_commit_stats()
        .expect("SQLite stores batch their SCIM writes")
}

/// Yield until `waiting` writes are queued behind the one in progress (the tasks that
/// send them run on other worker threads).
async fn until_waiting(s: &SqlStore, waiting: u64) {
    while stats(s).waiting < waiting {
        tokio::task::yield_now().await;
    }
}

/// Whether the User named `name` is stored, as any other connection sees it.
async fn user_named(s: &SqlStore, team: TeamId, name: &str) -> bool {
    let query = butterfly_scim::ListQuery {
        filter: Some(
            butterfly_scim::filter::Filter::parse(&format!(r#"userName eq "{name}""#)).unwrap(),
        ),
        sort_by: None,
        descending: false,
        start_index: 1,
        count: 10,
    };
    let (total, _) = s.query(team, ResourceType::User, &query).await.unwrap();
    total == 1
}

/// Nine creates queued behind one write in progress share its commit: the one whose
/// userName is taken by a stored User, and the second of two creating the same new
/// userName (ignoring case), get 409 `uniqueness` (their savepoints rolled back); the
/// seven others, queued before, between and after them, are committed with the first
/// write, and a second store opened on the same file sees them.
pub async fn a_failed_write_fails_alone_in_its_batch(s: &SqlStore, url: &str) {
    let team = s.create_team("batch-team").await.unwrap().id;
    s.create(team, ResourceType::User, user("taken@example.com"))
        .await
        .unwrap();
    let before = stats(s);

    // Hold the writer: everything below queues behind this write.
    let mut first = s.begin_scim_write().await.unwrap();
    first
        .create(team, ResourceType::User, user("first@example.com"))
        .await
        .unwrap();
    let names = [
        "u0@example.com",
        "u1@example.com",
        "TAKEN@example.com",
        "u3@example.com",
        "twin@example.com",
        "u5@example.com",
        "Twin@Example.com",
        "u7@example.com",
        "u8@example.com",
    ];
    let mut tasks = Vec::new();
    for (queued, &name) in names.iter().enumerate() {
        let store = s.clone();
        tasks.push(tokio::spawn(async move {
            store.create(team, ResourceType::User, user(name)).await
        }));
        // One at a time, so the queue's order is the list's.
        until_waiting(s, queued as u64 + 1).await;
    }
    first.commit().await.unwrap();

    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    for (name, outcome) in names.iter().zip(&outcomes) {
        match *name {
            "TAKEN@example.com" | "Twin@Example.com" => assert!(
                matches!(outcome, Err(ScimStoreError::Uniqueness(_))),
                "{name}: {outcome:?}"
            ),
            _ => assert!(outcome.is_ok(), "{name}: {outcome:?}"),
        }
    }
    let after = stats(s);
    assert_eq!(after.commits, before.commits + 1, "{before:?} -> {after:?}");
    assert_eq!(after.committed_writes, before.committed_writes + 8);
    assert_eq!(after.rolled_back_writes, before.rolled_back_writes + 2);
    assert_eq!(after.waiting, 0);

    // Acknowledged means committed: another store on the file sees every one of them.
    let other = SqlStore::connect(url).await.unwrap();
    for name in [
        "first@example.com",
        "u0@example.com",
        "twin@example.com",
        "u8@example.com",
    ] {
        assert!(user_named(&other, team, name).await, "{name}");
    }
    let all = butterfly_scim::ListQuery {
        filter: None,
        sort_by: None,
        descending: false,
        start_index: 1,
        count: 100,
    };
    let (total, _) = other.query(team, ResourceType::User, &all).await.unwrap();
    assert_eq!(
        total,
        1 + 1 + 7,
        "taken, first and the seven that succeeded"
    );
    other.close().await;
}

/// A write that keeps its work is not answered before its batch commits: while a later
/// write of the same batch is still running, the first one's `commit` has not returned
/// and no other connection sees its User. The later write, given up, takes nothing of
/// the first with it.
pub async fn a_write_is_answered_after_its_batch_commits(s: &SqlStore) {
    let team = s.create_team("ack-team").await.unwrap().id;

    let mut first = s.begin_scim_write().await.unwrap();
    first
        .create(team, ResourceType::User, user("ada@example.com"))
        .await
        .unwrap();
    let (running_tx, running) = tokio::sync::oneshot::channel();
    let (go, go_rx) = tokio::sync::oneshot::channel::<()>();
    let second = {
        let s = s.clone();
        tokio::spawn(async move {
            let mut write = s.begin_scim_write().await.unwrap();
            write
                .create(team, ResourceType::User, user("grace@example.com"))
                .await
                .unwrap();
            running_tx.send(()).unwrap();
            go_rx.await.unwrap();
            // Given up: its User goes, the first's stays.
            write.rollback().await.unwrap();
        })
    };
    until_waiting(s, 1).await;
    let acknowledged = tokio::spawn(first.commit());
    running.await.unwrap();

    // The second write holds the shared transaction: the first is kept but not committed.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(!acknowledged.is_finished());
    assert!(!user_named(s, team, "ada@example.com").await);

    go.send(()).unwrap();
    second.await.unwrap();
    acknowledged.await.unwrap().unwrap();
    assert!(user_named(s, team, "ada@example.com").await);
    assert!(!user_named(s, team, "grace@example.com").await);
    assert!(s.list_members(team).await.unwrap().is_empty());
}

/// A SCIM write that begins another while holding its turn gets a precise error at once,
/// from a Tokio task or straight from `block_on`, instead of waiting for itself forever;
/// its own write goes on and commits, and the next write gets its turn.
pub async fn a_nested_write_is_refused_not_left_waiting(s: &SqlStore) {
    let team = s.create_team("nested").await.unwrap().id;
    // A hang would be the bug: fail instead of waiting for ever.
    let limit = std::time::Duration::from_secs(60);
    for in_task in [false, true] {
        let store = s.clone();
        let attempt = async move {
            let mut outer = store.begin_scim_write().await.unwrap();
            let name = format!("outer-{in_task}@example.com");
            outer
                .create(team, ResourceType::User, user(&name))
                .await
                .unwrap();
            let nested = store.begin_scim_write().await;
            let error = nested.expect_err("a nested write must be refused");
            let refused = matches!(
                &error,
                butterfly_core::store::StoreError::Backend(e)
                    if matches!(e.downcast_ref::<SqlError>(), Some(SqlError::NestedScimWrite))
            );
            assert!(refused, "{error}");
            outer.commit().await.unwrap();
            // Handed back: the same caller may write again.
            let again = store.begin_scim_write().await.unwrap();
            again.commit().await.unwrap();
        };
        if in_task {
            tokio::time::timeout(limit, tokio::spawn(attempt))
                .await
                .unwrap()
                .unwrap();
        } else {
            tokio::time::timeout(limit, attempt).await.unwrap();
        }
    }
    let (total, _) = s
        .query(
            team,
            ResourceType::User,
            &butterfly_scim::ListQuery {
                filter: None,
                sort_by: None,
                descending: false,
                start_index: 1,
                count: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(total, 2, "both outer writes committed");
}
