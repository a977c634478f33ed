//! The golden repository (`tests/fixtures/golden-repo`, TEST ONLY data and key): bytes
//! written by an earlier build must keep reading, with the same snapshots, root digests
//! and entries. This test only reads; `cargo run -p butterfly-store --example
//! regenerate-golden` rewrites the fixture, which is needed only for a deliberate format
//! change.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use butterfly_core::source::SnapshotSource;
use butterfly_core::{Digest, SnapshotId, SnapshotStatus};
use butterfly_store::MasterKey;
use butterfly_store::snapshots::{SnapshotRepository, local_team};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use serde_json::Value;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden-repo")
}

fn test_only_key() -> MasterKey {
    let text = std::fs::read_to_string(fixture().join("TEST-ONLY-master-key.hex")).unwrap();
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes).unwrap();
    MasterKey::from_bytes(bytes)
}

/// Every file under the fixture with its bytes, to prove nothing was written.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(tree(&path));
        } else {
            out.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
    out
}

#[tokio::test]
async fn the_golden_repository_reads_back_unchanged() {
    let dir = fixture();
    let before = tree(&dir);
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();

    // Opened as a server opens a team's repository (the key is passed, not read from a
    // `master.key`), on the directory itself.
    let store = Arc::new(LocalFileSystem::new_with_prefix(&dir).unwrap());
    let repo =
        SnapshotRepository::open_in(store, ObjectPath::default(), &test_only_key(), local_team())
            .await
            .unwrap();
    assert_eq!(
        repo.object_count() as u64,
        expected["objects"].as_u64().unwrap()
    );
    assert!(repo.object_count() >= 300, "a few hundred objects");

    let report = repo.verify(None).await.unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    let wanted = expected["snapshots"].as_array().unwrap();
    assert!(wanted.len() >= 3);
    assert_eq!(report.snapshots, wanted.len() as u64);

    let summaries = repo.summaries().await.unwrap();
    assert_eq!(summaries.len(), wanted.len());
    for (summary, want) in summaries.iter().zip(wanted) {
        let id: SnapshotId = want["id"].as_str().unwrap().parse().unwrap();
        assert_eq!(summary.id, id, "oldest first");
        assert_eq!(
            summary.root_digest.to_hex(),
            want["root_digest"].as_str().unwrap()
        );
        assert_eq!(
            serde_json::to_value(summary.status).unwrap(),
            want["status"]
        );
        assert_eq!(
            serde_json::to_value(&summary.counts).unwrap(),
            want["counts"]
        );
        assert_eq!(
            serde_json::to_value(&summary.warnings).unwrap(),
            want["warnings"]
        );

        // The whole manifest, root digest checked, lists exactly the expected entries,
        // and every object reads back under its digest.
        let manifest = SnapshotSource::manifest(&repo, id).await.unwrap();
        let mut listed = Vec::new();
        for (kind, entries) in &manifest.kinds {
            for entry in entries {
                listed.push(format!("{kind} {} {}", entry.id, entry.digest));
                let value = repo.object(&entry.digest).await.unwrap();
                assert_eq!(Digest::of_json(&value), entry.digest);
            }
        }
        let want_entries: Vec<&str> = want["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert_eq!(listed, want_entries, "snapshot {id}");
    }
    assert_eq!(summaries[2].status, SnapshotStatus::Partial);
    assert_eq!(tree(&dir), before, "reading wrote nothing");
}
