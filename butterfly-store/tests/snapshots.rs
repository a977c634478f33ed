//! The snapshot repository, in a local directory and in memory: packing, dedup, round
//! trips, crash leftovers, damage.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use butterfly_core::{Resource, ResourceKind, SnapshotSink, SnapshotStatus, TeamId};
use butterfly_store::MasterKey;
use butterfly_store::snapshots::{SnapshotError, SnapshotRepository};
use chrono::Utc;
use futures::TryStreamExt as _;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use serde_json::json;

fn users(n: usize, version: u32) -> Vec<Resource> {
    (0..n)
        .map(|i| {
            Resource::new(
                ResourceKind::new("user"),
                format!("00u{i}"),
                json!({"id": format!("00u{i}"), "profile": {"login": format!("u{i}@example.com")}, "v": version}),
            )
        })
        .collect()
}

async fn backup(repo: &SnapshotRepository, resources: &[Resource]) -> butterfly_core::Snapshot {
    let mut writer = repo.begin(
        butterfly_core::ProviderKind::Okta,
        "https://x.okta.com",
        Utc::now(),
    );
    for r in resources {
        writer.add(r).await.unwrap();
    }
    writer
        .finish(Utc::now(), SnapshotStatus::Complete)
        .await
        .unwrap()
}

fn files(dir: &Path, sub: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    out.sort();
    out
}

#[tokio::test]
async fn many_objects_share_few_packs_and_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let repo = SnapshotRepository::open_or_create(dir.path())
        .await
        .unwrap()
        .with_pack_target(64 * 1024);
    let resources = users(2000, 1);
    let snapshot = backup(&repo, &resources).await;
    let packs = files(dir.path(), "packs");
    assert!(packs.len() > 1 && packs.len() < 50, "{} packs", packs.len());
    assert_eq!(files(dir.path(), "index").len(), packs.len());

    // A fresh handle reads everything back through the indexes.
    let reopened = SnapshotRepository::open_or_create(dir.path())
        .await
        .unwrap();
    let manifest = reopened.manifest(snapshot.id).await.unwrap();
    manifest.check_consistency().unwrap();
    assert_eq!(manifest, snapshot);
    for r in &resources {
        assert_eq!(reopened.get_json(&r.digest()).await.unwrap(), r.attributes);
    }
    let report = reopened.verify(None).await.unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    assert_eq!(report.entries, 2000);
}

#[tokio::test]
async fn unchanged_content_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let repo = SnapshotRepository::open_or_create(dir.path())
        .await
        .unwrap();
    backup(&repo, &users(500, 1)).await;
    let before = repo.stored_bytes().await.unwrap();
    let mut writer = repo.begin(
        butterfly_core::ProviderKind::Okta,
        "https://x.okta.com",
        Utc::now(),
    );
    for r in users(500, 1) {
        writer.add(&r).await.unwrap();
    }
    let (_, stats) = writer
        .finish_with_stats(Utc::now(), SnapshotStatus::Complete)
        .await
        .unwrap();
    assert_eq!(stats.new_objects, 0);
    let grown = repo.stored_bytes().await.unwrap() - before;
    assert!(grown * 100 < before, "grew {grown} of {before}");

    // One changed user costs one object (and its entry-list chunk).
    let mut changed = users(500, 1);
    changed[7] = users(500, 2).remove(7);
    let mut writer = repo.begin(
        butterfly_core::ProviderKind::Okta,
        "https://x.okta.com",
        Utc::now(),
    );
    for r in &changed {
        writer.add(r).await.unwrap();
    }
    let (_, stats) = writer
        .finish_with_stats(Utc::now(), SnapshotStatus::Complete)
        .await
        .unwrap();
    assert_eq!(stats.new_objects, 2, "{stats:?}");
    assert_eq!(repo.list().await.unwrap().len(), 3);
}

#[tokio::test]
async fn interrupted_writes_leave_a_valid_repository() {
    let dir = tempfile::tempdir().unwrap();
    let repo = SnapshotRepository::open_or_create(dir.path())
        .await
        .unwrap()
        .with_pack_target(4096);
    let good = backup(&repo, &users(50, 1)).await;

    // A writer that flushed packs but never wrote its manifest (a crash mid-backup).
    let mut writer = repo.begin(
        butterfly_core::ProviderKind::Okta,
        "https://x.okta.com",
        Utc::now(),
    );
    for r in users(200, 9) {
        writer.add(&r).await.unwrap();
    }
    drop(writer);
    // A pack without an index and a temporary file: a crash mid-write.
    std::fs::write(
        dir.path()
            .join("packs/00112233445566778899aabbccddeeff.pack"),
        b"BFPK\x01half",
    )
    .unwrap();
    std::fs::write(dir.path().join("snapshots/.x.snapshot.1234.tmp"), b"junk").unwrap();

    let reopened = SnapshotRepository::open_or_create(dir.path())
        .await
        .unwrap();
    assert_eq!(reopened.ids().await.unwrap(), vec![good.id]);
    let report = reopened.verify(None).await.unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    // And the next backup works.
    let next = backup(&reopened, &users(60, 1)).await;
    assert!(
        reopened
            .verify(Some(next.id))
            .await
            .unwrap()
            .problems
            .is_empty()
    );
}

#[tokio::test]
async fn damage_is_reported_precisely() {
    let dir = tempfile::tempdir().unwrap();
    let repo = SnapshotRepository::open_or_create(dir.path())
        .await
        .unwrap();
    let snapshot = backup(&repo, &users(20, 1)).await;
    let pack = files(dir.path(), "packs").remove(0);

    // A truncated pack.
    let bytes = std::fs::read(&pack).unwrap();
    std::fs::write(&pack, &bytes[..bytes.len() - 10]).unwrap();
    let report = repo.verify(Some(snapshot.id)).await.unwrap();
    assert!(!report.problems.is_empty());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.message.contains("truncated")),
        "{report:?}"
    );

    // A flipped byte in the first object's ciphertext (after the 21-byte pack header and
    // the object's 49-byte envelope header). The last objects are the manifest's entry
    // lists, written at finish.
    let mut flipped = bytes.clone();
    let at = 21 + 49 + 5;
    flipped[at] ^= 0x80;
    std::fs::write(&pack, &flipped).unwrap();
    let report = repo.verify(None).await.unwrap();
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert!(
        report.problems[0].message.contains("failed authentication"),
        "{report:?}"
    );
    assert!(
        report.problems[0]
            .location
            .starts_with(&format!("snapshot {} user/", snapshot.id)),
        "{report:?}"
    );

    // A damaged manifest.
    std::fs::write(&pack, &bytes).unwrap();
    let manifest = files(dir.path(), "snapshots").remove(0);
    let mut sealed = std::fs::read(&manifest).unwrap();
    let last = sealed.len() - 1;
    sealed[last] ^= 1;
    std::fs::write(&manifest, &sealed).unwrap();
    let err = repo.manifest(snapshot.id).await.unwrap_err();
    assert!(matches!(err, SnapshotError::Manifest { .. }), "{err}");
    let report = repo.verify(None).await.unwrap();
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert!(report.problems[0].location.starts_with("snapshot "));
}

#[tokio::test]
async fn another_master_key_cannot_read_the_repository() {
    let dir = tempfile::tempdir().unwrap();
    let repo = SnapshotRepository::open_or_create(dir.path())
        .await
        .unwrap();
    backup(&repo, &users(3, 1)).await;
    let other = MasterKey::from_bytes([9; 32]);
    let err = SnapshotRepository::open_with_key(
        dir.path(),
        &other,
        butterfly_store::snapshots::local_team(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("different key"), "{err}");
}

/// The same repository over `InMemory`: nothing in it depends on a file system.
async fn in_memory(
    store: &Arc<InMemory>,
    prefix: &str,
    master: &MasterKey,
    team: TeamId,
) -> SnapshotRepository {
    let store: Arc<dyn ObjectStore> = Arc::clone(store) as Arc<dyn ObjectStore>;
    SnapshotRepository::open_in(store, ObjectPath::from(prefix), master, team)
        .await
        .unwrap()
}

async fn names_under(store: &InMemory, prefix: &str) -> Vec<ObjectPath> {
    let prefix = ObjectPath::from(prefix);
    let mut names: Vec<ObjectPath> = store
        .list(Some(&prefix))
        .map_ok(|meta| meta.location)
        .try_collect()
        .await
        .unwrap();
    names.sort();
    names
}

#[tokio::test]
async fn in_memory_repositories_pack_dedup_and_verify_per_team_prefix() {
    let store = Arc::new(InMemory::new());
    let master = MasterKey::generate();
    let (a, b) = (TeamId::new_random(), TeamId::new_random());
    let repo_a = in_memory(&store, "teams/a/repository", &master, a)
        .await
        .with_pack_target(16 * 1024);
    let first = backup(&repo_a, &users(300, 1)).await;

    // Packs, indexes and the manifest, all under the prefix.
    let names = names_under(&store, "teams/a/repository").await;
    let count = |dir: &str, suffix: &str| {
        names
            .iter()
            .filter(|n| {
                n.as_ref()
                    .starts_with(&format!("teams/a/repository/{dir}/"))
                    && n.as_ref().ends_with(suffix)
            })
            .count()
    };
    assert!(count("packs", ".pack") > 1, "{names:?}");
    assert_eq!(count("index", ".idx"), count("packs", ".pack"));
    assert_eq!(count("snapshots", ".snapshot"), 1);
    assert_eq!(names.len(), 2 * count("packs", ".pack") + 1, "{names:?}");

    // An unchanged second backup adds a manifest and nothing else.
    let before = repo_a.stored_bytes().await.unwrap();
    let mut writer = repo_a.begin(
        butterfly_core::ProviderKind::Okta,
        "https://x.okta.com",
        Utc::now(),
    );
    for r in users(300, 1) {
        writer.add(&r).await.unwrap();
    }
    let (second, stats) = writer
        .finish_with_stats(Utc::now(), SnapshotStatus::Complete)
        .await
        .unwrap();
    assert_eq!((stats.new_objects, stats.packs), (0, 0), "{stats:?}");
    assert_eq!(
        repo_a.stored_bytes().await.unwrap() - before,
        stats.manifest_bytes
    );
    assert_eq!(first.root_digest, second.root_digest);

    // A fresh handle on the same store reads everything back through the indexes.
    let reopened = in_memory(&store, "teams/a/repository", &master, a).await;
    assert_eq!(reopened.ids().await.unwrap().len(), 2);
    assert_eq!(reopened.manifest(first.id).await.unwrap(), first);
    for r in users(300, 1) {
        assert_eq!(reopened.get_json(&r.digest()).await.unwrap(), r.attributes);
    }
    let report = reopened.verify(None).await.unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    assert_eq!(report.snapshots, 2);
    assert_eq!(report.entries, 600);

    // Another team beside it, in the same store: its own snapshots, its own objects.
    let repo_b = in_memory(&store, "teams/b/repository", &master, b).await;
    assert!(repo_b.ids().await.unwrap().is_empty());
    assert_eq!(repo_b.object_count(), 0);
    let theirs = backup(&repo_b, &users(10, 1)).await;
    assert_eq!(repo_b.ids().await.unwrap(), vec![theirs.id]);
    assert_eq!(reopened.ids().await.unwrap().len(), 2);

    // Team A's repository does not open under team B's key.
    let store_dyn: Arc<dyn ObjectStore> = Arc::clone(&store) as Arc<dyn ObjectStore>;
    let err = SnapshotRepository::open_in(
        store_dyn,
        ObjectPath::from("teams/a/repository"),
        &master,
        b,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("belongs to team"), "{err}");
}

#[tokio::test]
async fn in_memory_damage_and_interruptions_are_handled_like_on_disk() {
    let store = Arc::new(InMemory::new());
    let master = MasterKey::generate();
    let team = TeamId::new_random();
    let repo = in_memory(&store, "r", &master, team)
        .await
        .with_pack_target(4096);
    let good = backup(&repo, &users(50, 1)).await;

    // A writer that flushed packs but never wrote its manifest, and a pack without an
    // index: what a crash mid-backup leaves.
    let mut writer = repo.begin(
        butterfly_core::ProviderKind::Okta,
        "https://x.okta.com",
        Utc::now(),
    );
    for r in users(200, 9) {
        writer.add(&r).await.unwrap();
    }
    drop(writer);
    store
        .put(
            &ObjectPath::from("r/packs/00112233445566778899aabbccddeeff.pack"),
            PutPayload::from_static(b"BFPK\x01half"),
        )
        .await
        .unwrap();
    let reopened = in_memory(&store, "r", &master, team).await;
    assert_eq!(reopened.ids().await.unwrap(), vec![good.id]);
    let report = reopened.verify(None).await.unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    let next = backup(&reopened, &users(60, 1)).await;
    assert!(
        reopened
            .verify(Some(next.id))
            .await
            .unwrap()
            .problems
            .is_empty()
    );

    // One pack, whose first object is the first user.
    let repo = in_memory(&store, "d", &master, team).await;
    let snapshot = backup(&repo, &users(20, 1)).await;
    let [pack] = names_under(&store, "d/packs").await.try_into().unwrap();
    let bytes = store.get(&pack).await.unwrap().bytes().await.unwrap();

    // A flipped byte in the first user's ciphertext (after the 21-byte pack header and
    // the object's 49-byte envelope header) is named precisely.
    let mut flipped = bytes.to_vec();
    flipped[21 + 49 + 5] ^= 0x80;
    store.put(&pack, flipped.into()).await.unwrap();
    let report = repo.verify(None).await.unwrap();
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert!(
        report.problems[0].message.contains("failed authentication"),
        "{report:?}"
    );
    assert!(
        report.problems[0]
            .location
            .starts_with(&format!("snapshot {} user/", snapshot.id)),
        "{report:?}"
    );
    let err = repo.get(&users(1, 1)[0].digest()).await.unwrap_err();
    assert!(err.to_string().contains("failed authentication"), "{err}");

    // A truncated pack: the objects cut off say so, on read and on verify.
    store
        .put(&pack, bytes.slice(..bytes.len() - 10).into())
        .await
        .unwrap();
    let report = repo.verify(Some(snapshot.id)).await.unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.message.contains("truncated")),
        "{report:?}"
    );
    // The manifest's entry lists are the pack's last objects.
    let err = repo.manifest(snapshot.id).await.unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");

    // A damaged manifest.
    store.put(&pack, bytes.into()).await.unwrap();
    let manifest = ObjectPath::from(format!("d/snapshots/{}.snapshot", snapshot.id));
    let mut sealed = store
        .get(&manifest)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let last = sealed.len() - 1;
    sealed[last] ^= 1;
    store.put(&manifest, sealed.into()).await.unwrap();
    let err = repo.manifest(snapshot.id).await.unwrap_err();
    assert!(matches!(err, SnapshotError::Manifest { .. }), "{err}");
    let report = repo.verify(None).await.unwrap();
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert!(report.problems[0].location.starts_with("snapshot "));
}

/// Two servers sharing one store: a handle opened before the other wrote still reads
/// what the other stored (it reads the new pack indexes on a miss), and dedups against
/// it once it has.
#[tokio::test]
async fn a_handle_sees_objects_another_writer_stored_after_it_opened() {
    let store = Arc::new(InMemory::new());
    let master = MasterKey::generate();
    let team = TeamId::new_random();
    let early = in_memory(&store, "teams/t/repository", &master, team).await;
    let writer = in_memory(&store, "teams/t/repository", &master, team).await;
    let snapshot = backup(&writer, &users(50, 7)).await;

    // The manifest is read from the store; its objects come from packs `early` has not
    // indexed yet.
    let seen = early.manifest(snapshot.id).await.unwrap();
    assert_eq!(seen.total(), 50);
    let entry = &seen.kinds[&ResourceKind::new("user")][0];
    let body = early.get_json(&entry.digest).await.unwrap();
    assert_eq!(body["v"], 7);
    assert!(early.contains(&entry.digest).unwrap());
    assert!(
        early
            .verify(Some(snapshot.id))
            .await
            .unwrap()
            .problems
            .is_empty()
    );

    // An object nobody stored is still missing, after one look at the store.
    let absent = butterfly_core::Digest::of_bytes(b"never stored");
    assert!(matches!(
        early.get(&absent).await,
        Err(SnapshotError::MissingObject(d)) if d == absent
    ));
}

/// Listings read summaries: the manifest's counts, warnings, status and root digest,
/// without its entry lists.
#[tokio::test]
async fn summaries_are_manifests_without_their_entries() {
    let store = Arc::new(InMemory::new());
    let master = MasterKey::generate();
    let repo = in_memory(&store, "r", &master, TeamId::new_random()).await;
    let first = backup(&repo, &users(2500, 1)).await;
    let second = backup(&repo, &users(10, 2)).await;

    let listed = repo.list().await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![first.id, second.id]
    );
    for (summary, full) in listed.iter().zip([&first, &second]) {
        assert_eq!(summary.resources, full.total());
        assert_eq!(summary, &full.summary());
        assert_eq!(&repo.summary(full.id).await.unwrap(), summary);
        // The whole manifest still has every entry.
        assert_eq!(&repo.manifest(full.id).await.unwrap(), full);
    }
    assert!(matches!(
        repo.summary(butterfly_core::SnapshotId::new_random()).await,
        Err(SnapshotError::NotFound(_))
    ));
}

/// The repository read through core's `SnapshotSource`, as diff and restore read it.
#[tokio::test]
async fn the_repository_is_a_snapshot_source() {
    use butterfly_core::source::{SnapshotSource, SourceError};

    let dir = tempfile::tempdir().unwrap();
    let repo = SnapshotRepository::open_or_create(dir.path())
        .await
        .unwrap();
    // 2500 users: three entry lists, so a lookup searches across them.
    let all = users(2500, 1);
    let snapshot = backup(&repo, &all).await;
    let source: &dyn SnapshotSource = &repo;

    let summaries = source.summaries().await.unwrap();
    assert_eq!(summaries, vec![snapshot.summary()]);
    assert_eq!(source.manifest(snapshot.id).await.unwrap(), snapshot);
    let kind = ResourceKind::new("user");
    // Sorted ids: "00u0" < "00u1" < "00u10" ... so look up first, last and middles.
    let mut ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    for id in [ids[0], ids[1023], ids[1024], ids[1500], ids[2499]] {
        let found = source.resource(snapshot.id, &kind, id).await.unwrap();
        let expected = all.iter().find(|r| r.id == id).unwrap();
        assert_eq!(found.as_ref(), Some(expected), "{id}");
    }
    for absent in ["", "00u", "00u1000x", "zzz"] {
        assert_eq!(
            source.resource(snapshot.id, &kind, absent).await.unwrap(),
            None,
            "{absent}"
        );
    }
    let groups = ResourceKind::new("group");
    assert_eq!(
        source.resource(snapshot.id, &groups, "00g1").await.unwrap(),
        None
    );
    let digest = all[7].digest();
    assert_eq!(
        source.object(&digest).await.unwrap(),
        all[7].attributes.clone()
    );

    // Prefixes as typed by a user: any case, at least 4 characters.
    let text = snapshot.id.to_string();
    assert_eq!(
        source.resolve(&text[..6].to_uppercase()).await.unwrap(),
        snapshot.id
    );
    assert!(matches!(
        source.resolve(&text[..3]).await,
        Err(SourceError::NoMatch(_))
    ));
    let unknown = butterfly_core::SnapshotId::new_random();
    assert!(matches!(
        source.manifest(unknown).await,
        Err(SourceError::NotFound(id)) if id == unknown
    ));
    assert!(matches!(
        source
            .object(&butterfly_core::Digest::of_bytes(b"never stored"))
            .await,
        Err(SourceError::MissingObject(_))
    ));

    // A missing pack is a missing object, not a storage failure.
    for pack in files(dir.path(), "packs") {
        std::fs::remove_file(pack).unwrap();
    }
    let err = source.object(&digest).await.unwrap_err();
    assert!(
        matches!(err, SourceError::MissingObject(d) if d == digest),
        "{err}"
    );
    let err = source
        .resource(snapshot.id, &kind, "00u7")
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::MissingObject(_)), "{err}");

    // A damaged manifest is damage, naming the snapshot.
    let manifest = files(dir.path(), "snapshots").remove(0);
    let mut sealed = std::fs::read(&manifest).unwrap();
    let last = sealed.len() - 1;
    sealed[last] ^= 1;
    std::fs::write(&manifest, &sealed).unwrap();
    let err = source.summaries().await.unwrap_err();
    assert!(
        matches!(&err, SourceError::Damaged { what, .. } if *what == format!("snapshot {}", snapshot.id)),
        "{err}"
    );
}

/// Read-only opens write nothing: not the directory, not a key.
#[tokio::test]
async fn opening_a_missing_repository_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let err = SnapshotRepository::open(&missing).await.unwrap_err();
    assert!(matches!(err, SnapshotError::NotARepository { .. }), "{err}");
    assert!(!missing.exists());

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = SnapshotRepository::open(&empty).await.unwrap_err();
    assert!(err.to_string().contains("master.key"), "{err}");
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);

    let created = dir.path().join("new");
    let repo = SnapshotRepository::init(&created).await.unwrap();
    assert!(repo.list().await.unwrap().is_empty());
    assert!(created.join(butterfly_store::MASTER_KEY_FILE).exists());
    assert!(matches!(
        SnapshotRepository::init(&created).await,
        Err(SnapshotError::AlreadyInitialized(_))
    ));
    let snapshot = backup(&repo, &users(2, 1)).await;
    let reopened = SnapshotRepository::open(&created).await.unwrap();
    assert_eq!(reopened.list().await.unwrap(), vec![snapshot.summary()]);
}

#[derive(Debug, Clone, Copy)]
enum PackDamage {
    Delete,
    Truncate,
    FlipByte,
}

fn damage_every_pack(dir: &Path, damage: PackDamage) {
    for pack in files(dir, "packs") {
        match damage {
            PackDamage::Delete => std::fs::remove_file(&pack).unwrap(),
            PackDamage::Truncate => {
                let bytes = std::fs::read(&pack).unwrap();
                std::fs::write(&pack, &bytes[..bytes.len() / 2]).unwrap();
            }
            PackDamage::FlipByte => {
                // Inside the first object's ciphertext: same size, different bytes.
                let mut bytes = std::fs::read(&pack).unwrap();
                bytes[21 + 49 + 5] ^= 0x80;
                std::fs::write(&pack, &bytes).unwrap();
            }
        }
    }
}

/// A backup into a damaged repository must not trust the index for deduplication:
/// objects whose pack is missing or truncated are stored again, the snapshot says so,
/// and it verifies clean. `check` finds the damage; `repair_index` and a new write heal.
#[tokio::test]
async fn backups_into_a_repository_with_a_missing_or_truncated_pack_store_objects_again() {
    for damage in [PackDamage::Delete, PackDamage::Truncate] {
        let dir = tempfile::tempdir().unwrap();
        let first = {
            let repo = SnapshotRepository::open_or_create(dir.path())
                .await
                .unwrap();
            backup(&repo, &users(50, 1)).await
        };
        damage_every_pack(dir.path(), damage);

        // As the CLI does: a new process, a new handle.
        let repo = SnapshotRepository::open(dir.path()).await.unwrap();
        let structure = repo.check(false).await.unwrap();
        assert!(
            structure
                .problems
                .iter()
                .any(|p| p.location.starts_with("pack ")),
            "{damage:?}: {structure:?}"
        );
        let mut writer = repo.begin(
            butterfly_core::ProviderKind::Okta,
            "https://x.okta.com",
            Utc::now(),
        );
        writer.add_all(&users(50, 1)).await.unwrap();
        let (second, stats) = writer
            .finish_with_stats(Utc::now(), SnapshotStatus::Complete)
            .await
            .unwrap();
        // 50 users and the entry list, all stored again.
        assert_eq!(stats.new_objects, 51, "{damage:?}");
        assert!(
            second.warnings.iter().any(|w| w.contains("stored again")),
            "{damage:?}: {:?}",
            second.warnings
        );
        let report = repo.verify(Some(second.id)).await.unwrap();
        assert!(
            report
                .problems
                .iter()
                .all(|p| p.location.starts_with("pack ")),
            "{damage:?}: the new snapshot's objects read: {report:?}"
        );
        // The old snapshot's objects are the same content: it reads again too.
        assert_eq!(repo.manifest(first.id).await.unwrap(), first);

        // check still names the damaged pack, until the index is repaired.
        let before = repo.check(false).await.unwrap();
        assert!(!before.problems.is_empty(), "{damage:?}");
        let repaired = repo.repair_index().await.unwrap();
        // A deleted pack's index goes; a truncated one keeps the objects before the cut.
        if let PackDamage::Delete = damage {
            assert_eq!(repaired.indexes_removed, 1, "{repaired:?}");
        } else {
            assert_eq!(repaired.indexes_rewritten, 1, "{repaired:?}");
            assert!(repaired.objects_dropped > 0, "{repaired:?}");
        }
        let after = repo.check(true).await.unwrap();
        assert!(after.problems.is_empty(), "{damage:?}: {after:?}");
        assert!(repo.check(false).await.unwrap().problems.is_empty());

        // Healed: the next backup stores nothing and warns of nothing.
        let reopened = SnapshotRepository::open(dir.path()).await.unwrap();
        let mut writer = reopened.begin(
            butterfly_core::ProviderKind::Okta,
            "https://x.okta.com",
            Utc::now(),
        );
        writer.add_all(&users(50, 1)).await.unwrap();
        let (third, stats) = writer
            .finish_with_stats(Utc::now(), SnapshotStatus::Complete)
            .await
            .unwrap();
        assert_eq!(stats.new_objects, 0, "{damage:?}");
        assert!(third.warnings.is_empty(), "{damage:?}");
    }
}

/// A changed byte keeps the pack's size: only reading the data finds it. Then the index
/// is repaired (the damaged object dropped) and a new write stores it again.
#[tokio::test]
async fn a_flipped_byte_is_found_by_reading_data_and_healed_by_repair_and_a_new_write() {
    let dir = tempfile::tempdir().unwrap();
    let repo = SnapshotRepository::open_or_create(dir.path())
        .await
        .unwrap();
    backup(&repo, &users(20, 1)).await;
    damage_every_pack(dir.path(), PackDamage::FlipByte);

    let repo = SnapshotRepository::open(dir.path()).await.unwrap();
    assert!(repo.check(false).await.unwrap().problems.is_empty());
    let deep = repo.check(true).await.unwrap();
    assert_eq!(deep.problems.len(), 1, "{deep:?}");
    assert!(deep.problems[0].message.contains("failed authentication"));

    let repaired = repo.repair_index().await.unwrap();
    assert_eq!(repaired.objects_dropped, 1, "{repaired:?}");
    assert_eq!(repaired.indexes_rewritten, 1, "{repaired:?}");
    // The snapshot lists an object no index has now; the next write stores it again.
    assert!(!repo.check(false).await.unwrap().problems.is_empty());
    let healed = backup(&repo, &users(20, 1)).await;
    let report = repo.check(true).await.unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    assert!(
        repo.verify(Some(healed.id))
            .await
            .unwrap()
            .problems
            .is_empty()
    );
}

/// One damaged or truncated manifest does not hide the other snapshots.
#[tokio::test]
async fn a_damaged_manifest_is_flagged_and_the_others_still_list() {
    let dir = tempfile::tempdir().unwrap();
    let repo = SnapshotRepository::open_or_create(dir.path())
        .await
        .unwrap();
    let first = backup(&repo, &users(3, 1)).await;
    let second = backup(&repo, &users(3, 2)).await;
    let path = dir.path().join(format!("snapshots/{}.snapshot", first.id));
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();

    assert!(repo.list().await.is_err(), "the strict listing fails");
    let listing = repo.list_all().await.unwrap();
    assert_eq!(listing.snapshots, vec![second.summary()]);
    assert_eq!(listing.damaged.len(), 1);
    assert_eq!(
        listing.damaged[0].location,
        format!("snapshot {}", first.id)
    );
    assert!(
        listing.damaged[0].message.contains("truncated"),
        "{:?}",
        listing.damaged
    );
}

/// A repository made with a password keeps no plaintext key: a copy of the directory
/// without the password reads nothing, and each password in `keys/` opens it.
#[tokio::test]
async fn a_password_repository_keeps_its_key_only_wrapped() {
    use butterfly_store::format::keyring::{KdfCost, Password};
    use butterfly_store::repository_keys::RepositoryKeys;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repo");
    let password = Password::new("correct horse battery staple");
    let repo = SnapshotRepository::init_with_password(&path, &password, KdfCost::TESTING)
        .await
        .unwrap();
    let snapshot = backup(&repo, &users(3, 1)).await;
    assert!(!path.join(butterfly_store::MASTER_KEY_FILE).exists());
    assert!(matches!(
        SnapshotRepository::init(&path).await,
        Err(SnapshotError::AlreadyInitialized(_))
    ));

    let err = SnapshotRepository::open_with_password(&path, None)
        .await
        .unwrap_err();
    assert!(matches!(err, SnapshotError::PasswordRequired(_)), "{err}");
    let err = SnapshotRepository::open_with_password(&path, Some(&Password::new("nope")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("wrong password"), "{err}");

    let reopened = SnapshotRepository::open_with_password(&path, Some(&password))
        .await
        .unwrap();
    assert_eq!(reopened.list().await.unwrap(), vec![snapshot.summary()]);

    // A second password opens the same data; the first can then be removed.
    let keys = RepositoryKeys::at(&path);
    let (master, first) = keys.unlock(&password).unwrap();
    let second = Password::new("another one");
    let second_id = keys
        .add(&master, &second, KdfCost::TESTING, Utc::now())
        .unwrap();
    keys.remove(&first, &second_id).unwrap();
    let reopened = SnapshotRepository::open_with_password(&path, Some(&second))
        .await
        .unwrap();
    assert!(reopened.verify(None).await.unwrap().problems.is_empty());
    assert!(
        SnapshotRepository::open_with_password(&path, Some(&password))
            .await
            .is_err()
    );
}

/// Visiting a kind reads each pack once per chunk, and lends exactly what reading object
/// by object gives, in manifest order, across many packs; a missing pack is an error.
#[tokio::test]
async fn visiting_a_kind_batches_reads_by_pack_and_matches_single_reads() {
    use butterfly_core::source::SnapshotSource as _;
    let dir = tempfile::tempdir().unwrap();
    let repo = SnapshotRepository::open_or_create(dir.path())
        .await
        .unwrap()
        .with_pack_target(16 * 1024);
    let resources = users(3000, 7);
    let snapshot = backup(&repo, &resources).await;
    assert!(files(dir.path(), "packs").len() > 3);
    let kind = ResourceKind::new("user");
    let mut visited = Vec::new();
    repo.visit_kind(&snapshot, &kind, &mut |id, value| {
        visited.push((id.to_owned(), value.clone()));
    })
    .await
    .unwrap();
    let mut expected = Vec::new();
    for entry in &snapshot.kinds[&kind] {
        expected.push((
            entry.id.clone(),
            repo.get_json(&entry.digest).await.unwrap(),
        ));
    }
    assert_eq!(visited.len(), 3000);
    assert_eq!(visited, expected);

    // Every pack goes: which of them hold `user` objects depends on the packs' (random)
    // names, so removing "the second one" sometimes removed none the visit reads.
    for pack in files(dir.path(), "packs") {
        std::fs::remove_file(pack).unwrap();
    }
    let reopened = SnapshotRepository::open(dir.path()).await.unwrap();
    let err = reopened
        .visit_kind(&snapshot, &kind, &mut |_, _| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

fn groups(n: usize) -> Vec<Resource> {
    (0..n)
        .map(|i| {
            Resource::new(
                ResourceKind::new("group"),
                format!("00g{i}"),
                json!({"id": format!("00g{i}"), "profile": {"name": format!("g{i}")}}),
            )
        })
        .collect()
}

const ORG: &str = "https://x.okta.com";

/// A resumable writer is dropped (the process killed) after `user` and `group` finished
/// and half of `app` was added; returns the interrupted snapshot's id.
async fn interrupted(repo: &SnapshotRepository) -> butterfly_core::SnapshotId {
    let mut writer = repo
        .resume(butterfly_core::ProviderKind::Okta, ORG, Utc::now())
        .await
        .unwrap();
    assert!(writer.resumed_kinds().is_empty());
    writer.add_all(&users(1500, 1)).await.unwrap();
    writer
        .finish_kind(&ResourceKind::new("user"))
        .await
        .unwrap();
    writer.add_all(&groups(10)).await.unwrap();
    writer
        .finish_kind(&ResourceKind::new("group"))
        .await
        .unwrap();
    writer.add_all(&apps(0..5)).await.unwrap();
    let id = writer.id();
    drop(writer);
    id
}

fn apps(range: std::ops::Range<usize>) -> Vec<Resource> {
    range
        .map(|i| {
            Resource::new(
                ResourceKind::new("app"),
                format!("0oa{i}"),
                json!({"id": format!("0oa{i}"), "label": format!("app {i}")}),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_killed_writer_resumes_from_its_checkpoint_and_seals_what_an_uninterrupted_one_would() {
    let dir = tempfile::tempdir().unwrap();
    let repo = SnapshotRepository::open_or_create(dir.path())
        .await
        .unwrap()
        .with_pack_target(16 * 1024);
    let id = interrupted(&repo).await;
    // A new process: a fresh handle on the directory.
    let repo = SnapshotRepository::open_or_create(dir.path())
        .await
        .unwrap()
        .with_pack_target(16 * 1024);
    let checkpoint = repo
        .checkpoint(butterfly_core::ProviderKind::Okta, ORG)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(checkpoint.snapshot_id, Some(id));
    // `user` is large, so it was checkpointed at once; `group` waited for a flush that
    // never came; `app` never finished.
    assert_eq!(
        checkpoint.kinds.into_iter().collect::<Vec<_>>(),
        [(ResourceKind::new("user"), 1500)]
    );
    let mut writer = repo
        .resume(butterfly_core::ProviderKind::Okta, ORG, Utc::now())
        .await
        .unwrap();
    assert_ne!(
        writer.id(),
        id,
        "a resumed run seals under its own id, never over a run that may still be alive"
    );
    assert_eq!(
        writer.resumed_kinds().into_iter().collect::<Vec<_>>(),
        [(ResourceKind::new("user"), 1500)]
    );
    let before = writer.stats().new_objects;
    writer.add_all(&groups(10)).await.unwrap();
    writer
        .finish_kind(&ResourceKind::new("group"))
        .await
        .unwrap();
    writer.add_all(&apps(0..8)).await.unwrap();
    writer.finish_kind(&ResourceKind::new("app")).await.unwrap();
    let (resumed, stats) = writer
        .finish_with_stats(Utc::now(), SnapshotStatus::Complete)
        .await
        .unwrap();
    assert!(
        stats.new_objects - before < 1500,
        "users were not stored again"
    );
    assert!(resumed.warnings[0].starts_with("resumed the backup interrupted after 1 of its kinds"));
    assert!(
        repo.checkpoint(butterfly_core::ProviderKind::Okta, ORG)
            .await
            .unwrap()
            .is_none(),
        "the checkpoint is removed with the seal"
    );
    // The same org written in one go gives the same entries.
    let mut all = users(1500, 1);
    all.extend(groups(10));
    all.extend(apps(0..8));
    let whole = backup(&repo, &all).await;
    assert_eq!(resumed.root_digest, whole.root_digest);
    assert_ne!(resumed.id, id, "sealed under its own id");
    let report = repo.verify(None).await.unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
}

#[tokio::test]
async fn a_checkpoint_naming_a_lost_pack_or_a_sealed_snapshot_resumes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let repo = SnapshotRepository::open_or_create(dir.path())
        .await
        .unwrap()
        .with_pack_target(16 * 1024);
    let id = interrupted(&repo).await;
    // Every pack is lost (a prune took them: no snapshot named them).
    for pack in files(dir.path(), "packs") {
        std::fs::remove_file(pack).unwrap();
    }
    let repo = SnapshotRepository::open_or_create(dir.path())
        .await
        .unwrap();
    let writer = repo
        .resume(butterfly_core::ProviderKind::Okta, ORG, Utc::now())
        .await
        .unwrap();
    assert!(writer.resumed_kinds().is_empty());
    assert_ne!(writer.id(), id);
    drop(writer);

    // A checkpoint left behind by a run killed after its manifest was written: the run
    // checkpointed `user`, the file is copied, the run seals, the copy is put back.
    let dir = tempfile::tempdir().unwrap();
    let repo = SnapshotRepository::open_or_create(dir.path())
        .await
        .unwrap();
    let mut writer = repo
        .resume(butterfly_core::ProviderKind::Okta, ORG, Utc::now())
        .await
        .unwrap();
    writer.add_all(&users(1500, 1)).await.unwrap();
    writer
        .finish_kind(&ResourceKind::new("user"))
        .await
        .unwrap();
    let left: Vec<(PathBuf, Vec<u8>)> = files(dir.path(), "checkpoints")
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    assert_eq!(left.len(), 1);
    let sealed = writer
        .finish(Utc::now(), SnapshotStatus::Failed)
        .await
        .unwrap();
    assert!(files(dir.path(), "checkpoints").is_empty());
    for (path, bytes) in left {
        std::fs::write(path, bytes).unwrap();
    }
    let writer = repo
        .resume(butterfly_core::ProviderKind::Okta, ORG, Utc::now())
        .await
        .unwrap();
    assert_ne!(
        writer.id(),
        sealed.id,
        "a sealed snapshot is never written again"
    );
    assert!(writer.resumed_kinds().is_empty());
}

/// A released kind is stored and dropped from memory; entries of it added afterwards are
/// merged with the stored ones at the seal, and the sealed manifest is the one a writer
/// that held everything would have written: same entries, counts and root digest.
#[tokio::test]
async fn released_kinds_are_merged_with_later_entries_and_sealed_the_same() {
    let store = Arc::new(InMemory::new());
    let master = MasterKey::generate();
    let repo = in_memory(&store, "teams/t/repository", &master, TeamId::new_random())
        .await
        .with_pack_target(8 * 1024);
    let user = ResourceKind::new("user");
    let group = ResourceKind::new("group");
    let all_users = users(2500, 3);
    let groups: Vec<Resource> = (0..40)
        .map(|i| Resource::new(group.clone(), format!("00g{i}"), json!({"id": i})))
        .collect();

    let mut writer = repo.begin(
        butterfly_core::ProviderKind::Okta,
        "https://x.okta.com",
        Utc::now(),
    );
    // Users in reverse order, released twice with more added between: the seal sorts.
    let (late, early) = all_users.split_at(700);
    let mut early = early.to_vec();
    early.reverse();
    writer.add_all(&early).await.unwrap();
    writer.release_kind(&user).await.unwrap();
    writer.add_all(&groups).await.unwrap();
    writer.kind_finished(&group).await.unwrap();
    writer.add_all(late).await.unwrap();
    writer.release_kind(&user).await.unwrap();
    writer.add_all(&all_users[..10]).await.unwrap();
    let (sealed, stats) = SnapshotSink::finish(writer, Utc::now(), SnapshotStatus::Complete)
        .await
        .unwrap();
    // Returned without entries, with everything else.
    assert!(sealed.kinds.is_empty());
    assert_eq!(sealed.counts[&user], 2500);
    assert_eq!(sealed.counts[&group], 40);
    assert_eq!(stats.resources, 2500 + 40 + 10);

    // Read back (root digest checked), it lists every entry once, in order.
    let manifest = butterfly_core::source::SnapshotSource::manifest(&repo, sealed.id)
        .await
        .unwrap();
    assert_eq!(manifest.root_digest, sealed.root_digest);
    let mut expected = butterfly_core::Snapshot::begin(
        butterfly_core::ProviderKind::Okta,
        "https://x.okta.com",
        manifest.started_at,
    );
    for r in all_users.iter().chain(&groups) {
        let digest =
            butterfly_core::Digest::of_bytes(&butterfly_core::canonical_json(&r.attributes));
        expected.insert(r.kind.clone(), r.id.clone(), digest);
    }
    expected.seal(Utc::now(), SnapshotStatus::Complete);
    assert_eq!(manifest.kinds, expected.kinds);
    assert_eq!(manifest.root_digest, expected.root_digest);
    assert_eq!(
        repo.kind_entries(sealed.id, &user).await.unwrap(),
        expected.kinds[&user]
    );
    assert!(
        repo.verify(Some(sealed.id))
            .await
            .unwrap()
            .problems
            .is_empty()
    );
}

/// Counts the reads that reach the store under it: what a repository call costs in
/// requests on S3.
#[derive(Debug)]
struct CountingStore {
    inner: Arc<InMemory>,
    gets: std::sync::atomic::AtomicUsize,
}

impl CountingStore {
    fn gets(&self) -> usize {
        self.gets.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl std::fmt::Display for CountingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CountingStore({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &ObjectPath,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        self.gets.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.get_opts(location, options).await
    }

    async fn delete(&self, location: &ObjectPath) -> object_store::Result<()> {
        self.inner.delete(location).await
    }

    fn list(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> object_store::Result<object_store::ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy(&self, from: &ObjectPath, to: &ObjectPath) -> object_store::Result<()> {
        self.inner.copy(from, to).await
    }

    async fn copy_if_not_exists(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
    ) -> object_store::Result<()> {
        self.inner.copy_if_not_exists(from, to).await
    }
}

/// A repository in memory behind a [`CountingStore`], and the store to read its count.
async fn counting_repository() -> (SnapshotRepository, Arc<CountingStore>) {
    let counting = Arc::new(CountingStore {
        inner: Arc::new(InMemory::new()),
        gets: std::sync::atomic::AtomicUsize::new(0),
    });
    let store: Arc<dyn ObjectStore> = Arc::clone(&counting) as Arc<dyn ObjectStore>;
    let repo = SnapshotRepository::open_in(
        store,
        ObjectPath::from("teams/t/repository"),
        &MasterKey::generate(),
        TeamId::new_random(),
    )
    .await
    .unwrap();
    (repo, counting)
}

/// Reading one kind's entries reads the manifest object and that kind's entry lists,
/// not the whole manifest: the incremental backup reads the previous snapshot kind by
/// kind, and on S3 each read is a request (reading the whole manifest per kind made
/// every backup of a 150-user org thousands of requests).
#[tokio::test]
async fn one_kind_s_entries_cost_the_manifest_and_that_kind_s_lists_only() {
    let (repo, counting) = counting_repository().await;
    let group = ResourceKind::new("group");
    let mut resources = users(5000, 1);
    resources
        .extend((0..10).map(|i| Resource::new(group.clone(), format!("00g{i}"), json!({"id": i}))));
    let sealed = backup(&repo, &resources).await;
    let manifest = repo.manifest(sealed.id).await.unwrap();

    let before = counting.gets();
    let groups = repo.kind_entries(sealed.id, &group).await.unwrap();
    let group_reads = counting.gets() - before;
    assert_eq!(groups, manifest.kinds[&group]);
    // The manifest object, then the group's one entry list (its pack's header and the
    // list, in one ranged read or two).
    assert!(group_reads <= 3, "{group_reads} reads for one small kind");

    let before = counting.gets();
    let user_entries = repo
        .kind_entries(sealed.id, &ResourceKind::new("user"))
        .await
        .unwrap();
    assert_eq!(user_entries, manifest.kinds[&ResourceKind::new("user")]);
    assert_eq!(user_entries.len(), 5000);
    assert!(
        counting.gets() - before > group_reads,
        "five lists of users"
    );
    assert!(
        repo.kind_entries(sealed.id, &ResourceKind::new("app"))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Entries carried over from an earlier snapshot are recorded without reading their
/// objects (no read reaches the store), seal the same manifest as adding the resources
/// would, and an entry whose object the repository does not hold is handed back.
#[tokio::test]
async fn carried_entries_cost_no_reads_and_seal_what_adding_them_would() {
    let (repo, counting) = counting_repository().await;
    let user = ResourceKind::new("user");
    let all = users(3000, 1);
    let first = backup(&repo, &all).await;
    let previous = repo.kind_entries(first.id, &user).await.unwrap();

    let mut writer = repo.begin(
        butterfly_core::ProviderKind::Okta,
        "https://x.okta.com",
        Utc::now(),
    );
    // One changed user is added with its body; the others are carried, plus one entry
    // whose object was never stored.
    let changed = Resource::new(user.clone(), "00u7", json!({"id": "00u7", "v": 2}));
    writer.add(&changed).await.unwrap();
    let mut carried: Vec<_> = previous
        .iter()
        .filter(|e| e.id != "00u7")
        .cloned()
        .collect();
    let stranger = butterfly_core::ManifestEntry {
        id: "00u-stranger".into(),
        digest: butterfly_core::Digest::of_bytes(b"never stored"),
    };
    carried.push(stranger.clone());
    let before = counting.gets();
    let not_held = SnapshotSink::carry(&mut writer, &user, carried)
        .await
        .unwrap();
    assert_eq!(counting.gets(), before, "carrying read the store");
    assert_eq!(not_held, vec![stranger]);
    let (sealed, stats) = SnapshotSink::finish(writer, Utc::now(), SnapshotStatus::Complete)
        .await
        .unwrap();
    assert_eq!(stats.resources, 3000);
    // The changed user, and the one entry list (of three) that names it.
    assert_eq!(stats.new_objects, 2);

    let mut expected = all.clone();
    expected[7] = changed;
    let reference = backup(&repo, &expected).await;
    let sealed = butterfly_core::source::SnapshotSource::manifest(&repo, sealed.id)
        .await
        .unwrap();
    assert_eq!(sealed.kinds, reference.kinds);
    assert_eq!(sealed.root_digest, reference.root_digest);
}

/// More entries of one kind than a writer holds in memory (it spills sorted runs to
/// temporary files and merges them when the kind is stored): the manifest is what sorting
/// every entry at once gives, duplicates kept once, and its root digest checks.
#[tokio::test]
async fn a_kind_spilled_to_runs_gives_the_same_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let repo = SnapshotRepository::open_or_create(dir.path())
        .await
        .unwrap();
    let kind = ResourceKind::new("group_membership");
    // Shuffled ids (a multiplier coprime to n), some listed twice, another kind between.
    let n = 40_000u64;
    let mut resources = Vec::new();
    for i in 0..n {
        let k = (i * 7919) % n;
        resources.push(Resource::new(
            kind.clone(),
            format!("00g{}/00u{k}", k % 97),
            json!({"groupId": format!("00g{}", k % 97), "userId": format!("00u{k}")}),
        ));
        if i % 9_000 == 0 {
            resources.push(resources[resources.len() / 2].clone());
            resources.extend(users(3, u32::try_from(i).unwrap()));
        }
    }
    let mut expected =
        butterfly_core::Snapshot::begin(butterfly_core::ProviderKind::Okta, "o", Utc::now());
    for r in &resources {
        expected.insert(r.kind.clone(), r.id.clone(), r.digest());
    }
    expected.seal(Utc::now(), SnapshotStatus::Complete);

    let mut writer = repo.begin(butterfly_core::ProviderKind::Okta, "o", Utc::now());
    for r in &resources {
        writer.add(r).await.unwrap();
    }
    let written = writer
        .finish(Utc::now(), SnapshotStatus::Complete)
        .await
        .unwrap();
    assert_eq!(written.kinds[&kind].len(), usize::try_from(n).unwrap());
    assert_eq!(written.kinds, expected.kinds);
    assert_eq!(written.counts, expected.counts);
    assert_eq!(written.root_digest, expected.root_digest);
    let report = repo.verify(None).await.unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
}
