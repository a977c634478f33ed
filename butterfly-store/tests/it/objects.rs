//! Where a server keeps its teams' repositories: a store from a URL, a private master
//! key, one repository per team, and sealed secrets.

use std::fs;

use butterfly_core::{ProviderKind, Resource, ResourceKind, SnapshotStatus, TeamId};
use butterfly_store::{
    KeyError, MASTER_KEY_FILE, MasterKey, RepositoryStore, RepositoryStoreError,
};
use chrono::{DateTime, Utc};
use serde_json::json;

#[cfg(unix)]
#[tokio::test]
async fn from_url_creates_a_private_master_key_and_refuses_a_readable_one() {
    use std::os::unix::fs::PermissionsExt as _;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let objects = dir.path().join("objects");
    let url = format!("file://{}", objects.display());

    let repos = RepositoryStore::from_url(&url, &data).unwrap();
    let team = TeamId::new_random();
    let repo = repos.repository(team).await.unwrap();
    let kept = Resource::new(ResourceKind::new("user"), "00u1", json!({"id": "00u1"}));
    let mut writer = repo.begin(
        ProviderKind::Okta,
        "https://x.okta.com",
        DateTime::<Utc>::UNIX_EPOCH,
    );
    let digest = writer.add(&kept).await.unwrap();
    writer
        .finish(DateTime::<Utc>::UNIX_EPOCH, SnapshotStatus::Complete)
        .await
        .unwrap();
    // Under the team's prefix in the store.
    assert!(
        objects
            .join(format!("teams/{team}/repository/snapshots"))
            .is_dir()
    );
    let key_file = data.join(MASTER_KEY_FILE);
    let mode = fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // The same data directory gives the same key: the object reads back.
    let reopened = RepositoryStore::from_url(&url, &data).unwrap();
    let repo = reopened.repository(team).await.unwrap();
    assert_eq!(repo.get_json(&digest).await.unwrap(), kept.attributes);
    // Another team's repository in the same store does not see it.
    let other = reopened.repository(TeamId::new_random()).await.unwrap();
    assert!(!other.contains(&digest).unwrap());

    fs::set_permissions(&key_file, fs::Permissions::from_mode(0o644)).unwrap();
    let err = RepositoryStore::from_url(&url, &data).unwrap_err();
    assert!(
        matches!(
            err,
            RepositoryStoreError::Key(KeyError::Permissions { mode: 0o644, .. })
        ),
        "{err:?}"
    );
}

#[test]
fn sealed_secrets_open_only_for_their_team_and_purpose() {
    let dir = tempfile::tempdir().unwrap();
    let repo = RepositoryStore::local(dir.path(), MasterKey::generate()).unwrap();
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
    let other_key = RepositoryStore::local(dir.path(), MasterKey::generate()).unwrap();
    assert!(
        other_key
            .open_secret(a, "sso-client-secret", &sealed)
            .is_err(),
        "wrong master key"
    );
}
