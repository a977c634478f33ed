//! Deleting, holding, forgetting and pruning snapshots, and pruning while a backup
//! writes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use butterfly_core::retention::{KeepReason, RetentionPolicy};
use butterfly_core::{ProviderKind, Resource, ResourceKind, Snapshot, SnapshotStatus, TeamId};
use butterfly_store::MasterKey;
use butterfly_store::snapshots::{PruneOptions, SnapshotError, SnapshotRepository};
use chrono::{TimeZone as _, Utc};
use object_store::ObjectStore;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use serde_json::json;

fn users(range: std::ops::Range<usize>, version: u32) -> Vec<Resource> {
    range
        .map(|i| {
            Resource::new(
                ResourceKind::new("user"),
                format!("00u{i:05}"),
                json!({"id": format!("00u{i}"), "v": version, "pad": "x".repeat(200)}),
            )
        })
        .collect()
}

async fn backup_at(
    repo: &SnapshotRepository,
    resources: &[Resource],
    at: chrono::DateTime<Utc>,
) -> Snapshot {
    let mut writer = repo.begin(ProviderKind::Okta, "https://x.okta.com", at);
    writer.add_all(resources).await.unwrap();
    writer.finish(at, SnapshotStatus::Complete).await.unwrap()
}

async fn open(store: &Arc<InMemory>, master: &MasterKey, team: TeamId) -> SnapshotRepository {
    SnapshotRepository::open_in(store.clone(), ObjectPath::from("t"), master, team)
        .await
        .unwrap()
        // Small packs, so pruning has packs to delete, rewrite and keep.
        .with_pack_target(16 * 1024)
}

async fn assert_sound(repo: &SnapshotRepository) {
    let check = repo.check(true).await.unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);
}

fn day(d: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, d, 2, 0, 0).unwrap()
}

#[tokio::test]
async fn delete_hold_forget_and_prune_free_space_and_keep_every_remaining_snapshot_whole() {
    let store = Arc::new(InMemory::new());
    let (master, team) = (MasterKey::generate(), TeamId::new_random());
    let repo = open(&store, &master, team).await;
    // Five daily backups; each changes a fifth of 500 users.
    let mut snapshots = Vec::new();
    for d in 1..=5u32 {
        let mut all = users(0..500, 0);
        for (i, r) in all.iter_mut().enumerate() {
            if i % 5 < d as usize {
                r.attributes["v"] = json!(d);
            }
        }
        snapshots.push(backup_at(&repo, &all, day(d)).await);
    }
    let before = repo.stored_bytes().await.unwrap();

    repo.hold(snapshots[0].id, "litigation 2026-17")
        .await
        .unwrap();
    assert!(matches!(
        repo.delete_snapshot(snapshots[0].id).await,
        Err(SnapshotError::Held(_))
    ));
    let holds = repo.holds().await.unwrap();
    assert_eq!(holds.len(), 1);
    assert_eq!(holds[0].reason, "litigation 2026-17");

    // Keep the last two; the held first one stays too.
    let policy = RetentionPolicy {
        keep_last: Some(2),
        ..RetentionPolicy::default()
    };
    let dry = repo.forget(&policy, day(6), true).await.unwrap();
    assert!(dry.deleted.is_empty());
    assert_eq!(repo.ids().await.unwrap().len(), 5);
    let report = repo.forget(&policy, day(6), false).await.unwrap();
    let mut deleted = report.deleted.clone();
    deleted.sort();
    let mut expected = vec![snapshots[1].id, snapshots[2].id];
    expected.sort();
    assert_eq!(deleted, expected);
    let held = report
        .decisions
        .iter()
        .find(|d| d.id == snapshots[0].id)
        .unwrap();
    assert_eq!(held.reasons, vec![KeepReason::Held]);

    // A dry run says what would go and changes nothing.
    let before_prune = repo.stored_bytes().await.unwrap();
    let dry = repo.prune(PruneOptions::dry_run(true)).await.unwrap();
    assert!(dry.objects_removed > 0 && dry.bytes_freed > 0, "{dry:?}");
    assert_eq!(repo.stored_bytes().await.unwrap(), before_prune);

    let pruned = repo.prune(PruneOptions::default()).await.unwrap();
    assert_eq!(pruned.objects_removed, dry.objects_removed);
    assert!(
        pruned.packs_deleted + pruned.packs_rewritten > 0,
        "{pruned:?}"
    );
    let after = repo.stored_bytes().await.unwrap();
    assert!(after < before);
    assert_eq!(pruned.bytes_freed, before_prune - after);
    assert_sound(&repo).await;
    for kept in [&snapshots[0], &snapshots[3], &snapshots[4]] {
        assert!(
            repo.verify(Some(kept.id))
                .await
                .unwrap()
                .problems
                .is_empty()
        );
        assert_eq!(
            repo.manifest(kept.id).await.unwrap().root_digest,
            kept.root_digest
        );
    }
    // Pruning again finds nothing, and a new handle (another process) reads everything.
    let again = repo.prune(PruneOptions::default()).await.unwrap();
    assert_eq!(again.objects_removed, 0, "{again:?}");
    let other = open(&store, &master, team).await;
    assert_sound(&other).await;

    // Released, the held snapshot can go.
    assert!(repo.release(snapshots[0].id).await.unwrap());
    assert!(!repo.release(snapshots[0].id).await.unwrap());
    repo.delete_snapshot(snapshots[0].id).await.unwrap();
    repo.prune(PruneOptions::default()).await.unwrap();
    assert_sound(&repo).await;
    assert_eq!(repo.ids().await.unwrap().len(), 2);
}

/// The race: a backup reuses an object that only a forgotten snapshot references, and
/// has written packs no manifest names yet, while a prune starts. The prune must wait for
/// the backup's lock, and everything must verify afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prune_started_while_a_backup_writes_removes_nothing_the_backup_needs() {
    let store = Arc::new(InMemory::new());
    let (master, team) = (MasterKey::generate(), TeamId::new_random());
    let backup_repo = open(&store, &master, team).await;
    // Another handle, as another process (a CLI prune next to a server) would have.
    let prune_repo = Arc::new(
        open(&store, &master, team)
            .await
            .with_lock_wait(Duration::from_secs(60)),
    );
    let old = backup_at(&backup_repo, &users(0..300, 1), day(1)).await;
    let _kept = backup_at(&backup_repo, &users(300..400, 1), day(2)).await;
    backup_repo.delete_snapshot(old.id).await.unwrap();

    // The backup starts: it reuses the forgotten snapshot's objects (garbage right now)
    // and writes new ones, several packs of them, before its manifest.
    let mut writer = backup_repo.begin(ProviderKind::Okta, "https://x.okta.com", day(3));
    writer.add_all(&users(0..300, 1)).await.unwrap();
    writer.add_all(&users(1000..1300, 3)).await.unwrap();
    assert!(writer.stats().new_objects >= 300);

    // The prune starts now, on its own task, and must wait for the backup.
    let pruning = tokio::spawn({
        let prune_repo = prune_repo.clone();
        async move { prune_repo.prune(PruneOptions::default()).await }
    });
    // The backup goes on writing while the prune waits; the prune has not finished.
    writer.add_all(&users(2000..2100, 3)).await.unwrap();
    assert!(!pruning.is_finished());
    let written = writer
        .finish(day(3), SnapshotStatus::Complete)
        .await
        .unwrap();
    let report = pruning.await.unwrap().unwrap();
    // Only the forgotten snapshot's own entry list went: every object it shared with
    // the backup, and every object the backup wrote, stayed.
    assert_eq!(report.objects_removed, 1, "{report:?}");
    assert_sound(&prune_repo).await;
    for id in prune_repo.ids().await.unwrap() {
        assert!(
            prune_repo
                .verify(Some(id))
                .await
                .unwrap()
                .problems
                .is_empty()
        );
    }
    assert_eq!(prune_repo.manifest(written.id).await.unwrap().total(), 700);
}

#[tokio::test]
async fn a_backup_waits_for_a_prune_lock_and_a_prune_removes_stale_locks() {
    let store = Arc::new(InMemory::new());
    let (master, team) = (MasterKey::generate(), TeamId::new_random());
    let repo = open(&store, &master, team)
        .await
        .with_lock_wait(Duration::ZERO);
    // A prune's lock, fresh: a backup that may not wait is refused, precisely.
    let fresh = format!(
        r#"{{"kind":"prune","refreshed_at":"{}","pid":1}}"#,
        butterfly_core::rfc3339::format(&Utc::now()).unwrap()
    );
    let lock = ObjectPath::from("t/locks/other.lock");
    store.put(&lock, fresh.into_bytes().into()).await.unwrap();
    let mut writer = repo.begin(ProviderKind::Okta, "https://x.okta.com", day(1));
    let refused = writer.add_all(&users(0..3, 1)).await.unwrap_err();
    assert!(
        matches!(refused, SnapshotError::Locked { holder: "a prune" }),
        "{refused}"
    );
    drop(writer);
    // The same lock, an hour old: its process died. A prune removes it, then a backup
    // runs.
    let stale = format!(
        r#"{{"kind":"backup","refreshed_at":"{}","pid":1}}"#,
        butterfly_core::rfc3339::format(&(Utc::now() - chrono::Duration::hours(1))).unwrap()
    );
    store.put(&lock, stale.into_bytes().into()).await.unwrap();
    repo.prune(PruneOptions::default()).await.unwrap();
    assert!(store.head(&lock).await.is_err());
    backup_at(&repo, &users(0..3, 1), day(2)).await;
    // No lock is left behind by a finished backup or prune.
    let left: Vec<_> = futures::TryStreamExt::try_collect::<Vec<_>>(
        store.list(Some(&ObjectPath::from("t/locks"))),
    )
    .await
    .unwrap();
    assert!(left.is_empty(), "{left:?}");
}
