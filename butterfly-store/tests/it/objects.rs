//! The object repository on a local directory: what is on disk, and what a reader gets
//! back when the disk was tampered with.

use std::fs;
use std::path::{Path, PathBuf};

use butterfly_core::{Digest, ResourceKind, Snapshot, SnapshotStatus, TeamId};
use butterfly_store::objects::{KeyError, MASTER_KEY_FILE};
use butterfly_store::{MasterKey, ObjectError, ObjectRepository};
use serde_json::json;
use time::macros::datetime;

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

struct Fixture {
    dir: tempfile::TempDir,
    repo: ObjectRepository,
    team: TeamId,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo =
            ObjectRepository::local(&dir.path().join("objects"), MasterKey::generate()).unwrap();
        Fixture {
            dir,
            repo,
            team: TeamId::new_random(),
        }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("objects")
    }

    fn file_of(&self, team: TeamId, digest: &Digest) -> PathBuf {
        self.root()
            .join(ObjectRepository::object_path(team, digest).as_ref())
    }
}

#[tokio::test]
async fn objects_and_manifests_round_trip() {
    let f = Fixture::new();
    let body = b"any bytes at all \x00\xff".to_vec();
    let digest = f.repo.put(f.team, &body).await.unwrap();
    assert_eq!(digest, Digest::of_bytes(&body));
    assert_eq!(f.repo.get(f.team, &digest).await.unwrap(), body);

    let user = json!({"id": "00u1", "profile": {"login": "ada@example.com"}, "_unknown": [1, 2.5]});
    let user_digest = f.repo.put_json(f.team, &user).await.unwrap();
    assert_eq!(user_digest, Digest::of_json(&user));
    assert_eq!(f.repo.get_json(f.team, &user_digest).await.unwrap(), user);

    // Nothing readable is on disk: not the JSON, not even a field name.
    let on_disk = fs::read(f.file_of(f.team, &user_digest)).unwrap();
    assert!(!on_disk.windows(7).any(|w| w == b"profile"));

    let mut snapshot = Snapshot::begin(
        butterfly_core::ProviderKind::Okta,
        "https://acme.okta.com",
        datetime!(2030-01-01 0:00 UTC),
    );
    snapshot.insert(ResourceKind::new("user"), "00u1", user_digest);
    snapshot.seal(datetime!(2030-01-01 0:01 UTC), SnapshotStatus::Complete);
    f.repo.put_manifest(f.team, &snapshot).await.unwrap();
    let back = f.repo.get_manifest(f.team, snapshot.id).await.unwrap();
    assert_eq!(back, snapshot);
    back.check_consistency().unwrap();

    // Rewriting a manifest replaces it.
    let mut second = Snapshot::begin(
        butterfly_core::ProviderKind::Okta,
        "https://acme.okta.com",
        datetime!(2030-01-02 0:00 UTC),
    );
    f.repo.put_manifest(f.team, &second).await.unwrap();
    second.seal(datetime!(2030-01-02 0:01 UTC), SnapshotStatus::Partial);
    f.repo.put_manifest(f.team, &second).await.unwrap();
    assert_eq!(
        f.repo.get_manifest(f.team, second.id).await.unwrap().status,
        SnapshotStatus::Partial
    );

    let mut expected = vec![snapshot.id, second.id];
    expected.sort();
    assert_eq!(f.repo.list_manifests(f.team).await.unwrap(), expected);
    assert!(
        f.repo
            .list_manifests(TeamId::new_random())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn identical_content_is_stored_once_per_team() {
    let f = Fixture::new();
    let value = json!({"id": "00g1", "name": "Ops"});
    let respelled: serde_json::Value =
        serde_json::from_str(r#"{ "name": "Ops", "id": "00g1" }"#).unwrap();
    let first = f.repo.put_json(f.team, &value).await.unwrap();
    let before = fs::read(f.file_of(f.team, &first)).unwrap();
    for _ in 0..3 {
        assert_eq!(f.repo.put_json(f.team, &respelled).await.unwrap(), first);
    }
    // Concurrent writers of the same content too.
    let writers = (0..8).map(|_| f.repo.put_json(f.team, &value));
    for digest in futures::future::join_all(writers).await {
        assert_eq!(digest.unwrap(), first);
    }
    assert_eq!(files_under(&f.root()).len(), 1);
    // The stored object was not rewritten.
    assert_eq!(fs::read(f.file_of(f.team, &first)).unwrap(), before);

    f.repo
        .put_json(f.team, &json!({"id": "00g2"}))
        .await
        .unwrap();
    assert_eq!(files_under(&f.root()).len(), 2);

    // Another team's copy is its own (under its own key).
    let other = TeamId::new_random();
    f.repo.put_json(other, &value).await.unwrap();
    assert_eq!(files_under(&f.root()).len(), 3);
    assert!(f.repo.contains(other, &first).await.unwrap());

    // No temporary files are left next to the objects.
    for file in files_under(&f.root()) {
        assert!(!file.to_string_lossy().contains('#'), "{}", file.display());
    }
}

#[tokio::test]
async fn a_flipped_byte_is_detected() {
    let f = Fixture::new();
    let digest = f.repo.put(f.team, b"the original content").await.unwrap();
    let file = f.file_of(f.team, &digest);
    let mut bytes = fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    fs::write(&file, &bytes).unwrap();
    let err = f.repo.get(f.team, &digest).await.unwrap_err();
    assert!(matches!(err, ObjectError::Tampered { .. }), "{err:?}");
}

#[tokio::test]
async fn a_truncated_file_is_detected() {
    let f = Fixture::new();
    let digest = f.repo.put(f.team, &[7u8; 4096]).await.unwrap();
    let file = f.file_of(f.team, &digest);
    let bytes = fs::read(&file).unwrap();
    fs::write(&file, &bytes[..bytes.len() - 3]).unwrap();
    let err = f.repo.get(f.team, &digest).await.unwrap_err();
    assert!(
        matches!(err, ObjectError::Truncated { expected, actual, .. } if expected == actual + 3),
        "{err:?}"
    );
    fs::write(&file, b"").unwrap();
    let err = f.repo.get(f.team, &digest).await.unwrap_err();
    assert!(
        matches!(err, ObjectError::Truncated { actual: 0, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn another_master_key_cannot_read() {
    let f = Fixture::new();
    let digest = f.repo.put(f.team, b"secret config").await.unwrap();
    let intruder = ObjectRepository::local(&f.root(), MasterKey::generate()).unwrap();
    let err = intruder.get(f.team, &digest).await.unwrap_err();
    assert!(matches!(err, ObjectError::WrongKey { .. }), "{err:?}");
}

#[tokio::test]
async fn an_object_moved_to_another_address_does_not_open() {
    let f = Fixture::new();
    let digest = f.repo.put(f.team, b"team A's app").await.unwrap();
    let stolen = fs::read(f.file_of(f.team, &digest)).unwrap();

    // Into another team's area, at the same digest.
    let other = TeamId::new_random();
    let target = f.file_of(other, &digest);
    fs::create_dir_all(target.parent().unwrap()).unwrap();
    fs::write(&target, &stolen).unwrap();
    let err = f.repo.get(other, &digest).await.unwrap_err();
    assert!(
        matches!(err, ObjectError::WrongTeam { expected, found, .. } if expected == other && found == f.team),
        "{err:?}"
    );

    // Within the team, over another object.
    let victim = f.repo.put(f.team, b"another object").await.unwrap();
    fs::write(f.file_of(f.team, &victim), &stolen).unwrap();
    let err = f.repo.get(f.team, &victim).await.unwrap_err();
    assert!(matches!(err, ObjectError::Tampered { .. }), "{err:?}");

    // A manifest is bound to its address as well.
    let snapshot = Snapshot::begin(
        butterfly_core::ProviderKind::Okta,
        "https://acme.okta.com",
        datetime!(2030-01-01 0:00 UTC),
    );
    f.repo.put_manifest(f.team, &snapshot).await.unwrap();
    let manifest = f
        .root()
        .join(ObjectRepository::manifest_path(f.team, snapshot.id).as_ref());
    let elsewhere = butterfly_core::SnapshotId::new_random();
    fs::copy(
        &manifest,
        f.root()
            .join(ObjectRepository::manifest_path(f.team, elsewhere).as_ref()),
    )
    .unwrap();
    let err = f.repo.get_manifest(f.team, elsewhere).await.unwrap_err();
    assert!(matches!(err, ObjectError::Tampered { .. }), "{err:?}");
}

#[tokio::test]
async fn a_file_that_is_not_an_object_is_named_as_such() {
    let f = Fixture::new();
    let digest = f.repo.put(f.team, b"x").await.unwrap();
    fs::write(f.file_of(f.team, &digest), b"{\"plain\": \"json\"}").unwrap();
    let err = f.repo.get(f.team, &digest).await.unwrap_err();
    assert!(matches!(err, ObjectError::NotAnObject { .. }), "{err:?}");
}

#[cfg(unix)]
#[tokio::test]
async fn from_url_creates_a_private_master_key_and_refuses_a_readable_one() {
    use std::os::unix::fs::PermissionsExt as _;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let objects = dir.path().join("objects");
    let url = format!("file://{}", objects.display());

    let repo = ObjectRepository::from_url(&url, &data).unwrap();
    let team = TeamId::new_random();
    let digest = repo.put(team, b"kept").await.unwrap();
    let key_file = data.join(MASTER_KEY_FILE);
    let mode = fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // The same data directory gives the same key: the object reads back.
    let reopened = ObjectRepository::from_url(&url, &data).unwrap();
    assert_eq!(reopened.get(team, &digest).await.unwrap(), b"kept");

    fs::set_permissions(&key_file, fs::Permissions::from_mode(0o644)).unwrap();
    let err = ObjectRepository::from_url(&url, &data).unwrap_err();
    assert!(
        matches!(
            err,
            ObjectError::Key(KeyError::Permissions { mode: 0o644, .. })
        ),
        "{err:?}"
    );
}

#[test]
fn sealed_secrets_open_only_for_their_team_and_purpose() {
    let dir = tempfile::tempdir().unwrap();
    let repo = ObjectRepository::local(dir.path(), MasterKey::generate()).unwrap();
    let (a, b) = (TeamId::new_random(), TeamId::new_random());
    let sealed = repo
        .seal_secret(a, "sso-client-secret", b"s3cret-value")
        .unwrap();
    assert!(
        !sealed.windows(12).any(|w| w == b"s3cret-value"),
        "sealed text is not readable"
    );
    assert_eq!(
        repo.open_secret(a, "sso-client-secret", &sealed).unwrap(),
        b"s3cret-value"
    );
    assert!(
        repo.open_secret(b, "sso-client-secret", &sealed).is_err(),
        "another team"
    );
    assert!(
        repo.open_secret(a, "sso-pending-login", &sealed).is_err(),
        "another purpose"
    );
    let mut flipped = sealed.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert!(
        repo.open_secret(a, "sso-client-secret", &flipped).is_err(),
        "tampered"
    );
    let other_key = ObjectRepository::local(dir.path(), MasterKey::generate()).unwrap();
    assert!(
        other_key
            .open_secret(a, "sso-client-secret", &sealed)
            .is_err(),
        "wrong master key"
    );
}
