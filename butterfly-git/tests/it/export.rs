//! Three snapshots with known changes become three commits whose diffs show exactly
//! those changes; pushing them over the file transport.

use butterfly_core::source::InMemorySnapshotSource;
use butterfly_core::{ProviderKind, Resource, ResourceKind, Snapshot, SnapshotStatus};
use butterfly_git::{ExportError, ExportOptions, PushError, PushTarget, export_snapshot, push};
use chrono::{DateTime, TimeZone as _, Utc};
use serde_json::{Value, json};

use crate::git;

const ORG: &str = "https://acme.okta.com";
const DIR: &str = "okta/acme.okta.com";

fn user(id: &str, login: &str, last_login: &str) -> Resource {
    Resource::new(
        ResourceKind::new("user"),
        id,
        json!({
            "id": id, "status": "ACTIVE", "lastLogin": last_login,
            "profile": {"login": login, "email": login, "firstName": "F", "lastName": "L"},
            "_links": {"self": {"href": format!("{ORG}/api/v1/users/{id}")}},
        }),
    )
}

fn group(name: &str) -> Resource {
    Resource::new(
        ResourceKind::new("group"),
        "00g1",
        json!({
            "id": "00g1", "type": "OKTA_GROUP", "created": "2024-01-01T00:00:00.000Z",
            "objectClass": ["okta:user_group"],
            "profile": {"name": name, "description": "Everyone who builds the product"},
        }),
    )
}

fn sign_on_policy(max_session_minutes: u64) -> Resource {
    Resource::new(
        ResourceKind::new("policy.OKTA_SIGN_ON"),
        "00p1",
        json!({
            "id": "00p1", "type": "OKTA_SIGN_ON", "name": "Default Policy", "status": "ACTIVE",
            "priority": 1, "system": true,
            "settings": {"session": {"maxSessionIdleMinutes": max_session_minutes}},
        }),
    )
}

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, hour, 0, 0).unwrap()
}

fn snapshot(source: &mut InMemorySnapshotSource, hour: u32, resources: Vec<Resource>) -> Snapshot {
    source.insert(
        ProviderKind::Okta,
        ORG,
        at(hour),
        SnapshotStatus::Complete,
        resources,
    )
}

/// The three snapshots: a first backup; three users added, the sign-on policy loosened
/// and a user's lastLogin moved (noise); the group renamed and a user removed.
fn three_snapshots() -> (InMemorySnapshotSource, [Snapshot; 3]) {
    let mut source = InMemorySnapshotSource::new();
    let first = snapshot(
        &mut source,
        1,
        vec![
            user("00u1", "ann@acme.com", "2026-03-01T00:00:00.000Z"),
            user("00u2", "bob@acme.com", "2026-03-01T00:00:00.000Z"),
            group("Engineering"),
            sign_on_policy(15),
        ],
    );
    let second = snapshot(
        &mut source,
        2,
        vec![
            user("00u1", "ann@acme.com", "2026-03-01T01:30:00.000Z"),
            user("00u2", "bob@acme.com", "2026-03-01T00:00:00.000Z"),
            user("00u3", "cat@acme.com", "2026-03-01T00:00:00.000Z"),
            user("00u4", "dan@acme.com", "2026-03-01T00:00:00.000Z"),
            user("00u5", "eve@acme.com", "2026-03-01T00:00:00.000Z"),
            group("Engineering"),
            sign_on_policy(720),
        ],
    );
    let third = snapshot(
        &mut source,
        3,
        vec![
            user("00u1", "ann@acme.com", "2026-03-01T01:30:00.000Z"),
            user("00u3", "cat@acme.com", "2026-03-01T00:00:00.000Z"),
            user("00u4", "dan@acme.com", "2026-03-01T00:00:00.000Z"),
            user("00u5", "eve@acme.com", "2026-03-01T00:00:00.000Z"),
            group("Platform Engineering"),
            sign_on_policy(720),
        ],
    );
    (source, [first, second, third])
}

#[tokio::test]
async fn three_snapshots_become_three_commits_with_exactly_their_changes() {
    let (source, [first, second, third]) = three_snapshots();
    let dir = tempfile::tempdir().unwrap();
    let git_dir = dir.path().join("export.git");
    let options = ExportOptions::new();

    let one = export_snapshot(&source, first.id, &git_dir, &options)
        .await
        .unwrap();
    let two = export_snapshot(&source, second.id, &git_dir, &options)
        .await
        .unwrap();
    let three = export_snapshot(&source, third.id, &git_dir, &options)
        .await
        .unwrap();
    let (c1, c2, c3) = (
        one.commit.unwrap(),
        two.commit.unwrap(),
        three.commit.unwrap(),
    );
    assert_eq!(git(&git_dir, &["rev-list", "--count", "main"]), "3");
    assert_eq!(git(&git_dir, &["rev-parse", "main"]), c3);
    assert_eq!(two.previous, Some(first.id));
    assert_eq!(three.previous, Some(second.id));

    // The first commit: every resource and the org's README.
    assert_eq!(
        git(&git_dir, &["ls-tree", "-r", "--name-only", &c1]),
        [
            "okta/acme.okta.com/README.md",
            "okta/acme.okta.com/group/engineering.00g1.json",
            "okta/acme.okta.com/policy.OKTA_SIGN_ON/default-policy.00p1.json",
            "okta/acme.okta.com/user/ann-acme-com.00u1.json",
            "okta/acme.okta.com/user/bob-acme-com.00u2.json",
        ]
        .join("\n")
    );
    assert_eq!(one.subject, "Backup: 4 resources (okta acme.okta.com)");
    // Canonical, pretty-printed, without the volatile fields.
    let ann = git(
        &git_dir,
        &["show", &format!("{c1}:{DIR}/user/ann-acme-com.00u1.json")],
    );
    let parsed: Value = serde_json::from_str(&ann).unwrap();
    assert_eq!(parsed["profile"]["login"], "ann@acme.com");
    assert!(parsed.get("lastLogin").is_none() && parsed.get("_links").is_none());
    assert!(
        ann.starts_with("{\n  \"id\": \"00u1\",\n  \"profile\": {\n"),
        "{ann}"
    );

    // The second: three users added and the policy changed; ann's lastLogin is noise,
    // so her file is untouched.
    assert_eq!(
        git(&git_dir, &["diff", "--name-status", "-M", &c1, &c2]),
        [
            "M\tokta/acme.okta.com/policy.OKTA_SIGN_ON/default-policy.00p1.json",
            "A\tokta/acme.okta.com/user/cat-acme-com.00u3.json",
            "A\tokta/acme.okta.com/user/dan-acme-com.00u4.json",
            "A\tokta/acme.okta.com/user/eve-acme-com.00u5.json",
        ]
        .join("\n")
    );
    let policy_diff = git(
        &git_dir,
        &[
            "diff",
            "-U0",
            &c1,
            &c2,
            "--",
            &format!("{DIR}/policy.OKTA_SIGN_ON"),
        ],
    );
    assert!(
        policy_diff.ends_with("@@ -7 +7 @@\n-      \"maxSessionIdleMinutes\": 15\n+      \"maxSessionIdleMinutes\": 720"),
        "{policy_diff}"
    );
    assert_eq!(
        two.subject,
        "Backup: 3 users added, 1 policy changed (critical)"
    );
    let message = git(&git_dir, &["log", "-1", "--format=%B", &c2]);
    assert!(message.starts_with("Backup: 3 users added, 1 policy changed (critical)\n\n"));
    assert!(
        message.contains("\nuser: 3 added, 0 changed, 0 removed\n  + cat@acme.com (00u3) [low]\n"),
        "{message}"
    );
    assert!(
        message.contains(
            "  ~ Default Policy (00p1) [critical]: /settings/session/maxSessionIdleMinutes\n"
        ),
        "{message}"
    );
    assert!(message.contains(&format!("Butterfly-Snapshot: {}\n", second.id)));

    // The third: the group renamed (a rename, not a delete and an add) and bob removed.
    assert_eq!(
        git(&git_dir, &["diff", "--name-status", "-M", &c2, &c3]),
        [
            "R085\tokta/acme.okta.com/group/engineering.00g1.json\tokta/acme.okta.com/group/platform-engineering.00g1.json",
            "D\tokta/acme.okta.com/user/bob-acme-com.00u2.json",
        ]
        .join("\n")
    );
    let rename = git(
        &git_dir,
        &["diff", "-M", &c2, &c3, "--", &format!("{DIR}/group")],
    );
    assert!(
        rename.contains("rename from okta/acme.okta.com/group/engineering.00g1.json"),
        "{rename}"
    );
    assert!(
        rename.contains("-    \"name\": \"Engineering\"\n+    \"name\": \"Platform Engineering\""),
        "{rename}"
    );
    assert_eq!(three.renamed, 1);
    assert_eq!(three.subject, "Backup: 1 group changed, 1 user removed");
    let message = git(&git_dir, &["log", "-1", "--format=%B", &c3]);
    assert!(
        message.contains(
            "Renamed:\n  group/engineering.00g1.json -> group/platform-engineering.00g1.json\n"
        ),
        "{message}"
    );

    // Author and committer are the snapshot's time, not the export's.
    for (commit, hour) in [(&c1, 1), (&c2, 2), (&c3, 3)] {
        let dates = git(
            &git_dir,
            &["log", "-1", "--format=%at %ct %an <%ae>", commit],
        );
        let ts = at(hour).timestamp();
        assert_eq!(
            dates,
            format!("{ts} {ts} Butterfly <backup@butterfly.invalid>")
        );
    }
}

#[tokio::test]
async fn unchanged_and_repeated_and_older_snapshots_make_no_commit() {
    let (mut source, [first, second, third]) = three_snapshots();
    let dir = tempfile::tempdir().unwrap();
    let git_dir = dir.path().join("export.git");
    let options = ExportOptions::new();
    for s in [&first, &second, &third] {
        export_snapshot(&source, s.id, &git_dir, &options)
            .await
            .unwrap();
    }
    let tip = git(&git_dir, &["rev-parse", "main"]);

    // The same snapshot again: nothing.
    let again = export_snapshot(&source, third.id, &git_dir, &options)
        .await
        .unwrap();
    assert_eq!(again.commit, None);
    assert_eq!(again.tip.as_deref(), Some(tip.as_str()));

    // A later backup where only volatile fields moved: nothing either.
    let fourth = snapshot(
        &mut source,
        4,
        vec![
            user("00u1", "ann@acme.com", "2026-03-01T03:59:00.000Z"),
            user("00u3", "cat@acme.com", "2026-03-01T00:00:00.000Z"),
            user("00u4", "dan@acme.com", "2026-03-01T00:00:00.000Z"),
            user("00u5", "eve@acme.com", "2026-03-01T00:00:00.000Z"),
            group("Platform Engineering"),
            sign_on_policy(720),
        ],
    );
    let unchanged = export_snapshot(&source, fourth.id, &git_dir, &options)
        .await
        .unwrap();
    assert_eq!(unchanged.commit, None);
    assert_eq!(unchanged.subject, "no change since the previous export");
    assert_eq!(git(&git_dir, &["rev-parse", "main"]), tip);

    // An older snapshot on top of a newer one is refused.
    let err = export_snapshot(&source, first.id, &git_dir, &options)
        .await
        .unwrap_err();
    assert!(matches!(err, ExportError::OutOfOrder { .. }), "{err}");
    assert_eq!(git(&git_dir, &["rev-parse", "main"]), tip);
}

#[tokio::test]
async fn orgs_share_a_repository_without_touching_each_other() {
    let (mut source, [first, ..]) = three_snapshots();
    let other = source.insert(
        ProviderKind::Okta,
        "https://beta.okta.com",
        at(5),
        SnapshotStatus::Complete,
        [group("Sales")],
    );
    let dir = tempfile::tempdir().unwrap();
    let git_dir = dir.path().join("export.git");
    let options = ExportOptions::new().with_branch("identity");
    export_snapshot(&source, first.id, &git_dir, &options)
        .await
        .unwrap();
    let report = export_snapshot(&source, other.id, &git_dir, &options)
        .await
        .unwrap();
    // Beta's first export is not diffed against Acme's.
    assert_eq!(report.previous, None);
    let diff = git(
        &git_dir,
        &["diff", "--name-status", "identity~1", "identity"],
    );
    assert_eq!(
        diff,
        "A\tokta/beta.okta.com/README.md\nA\tokta/beta.okta.com/group/sales.00g1.json"
    );
}

#[tokio::test]
async fn pushes_to_a_bare_repository_over_the_file_transport() {
    let (source, snapshots) = three_snapshots();
    let dir = tempfile::tempdir().unwrap();
    let git_dir = dir.path().join("export.git");
    let remote = dir.path().join("remote.git");
    git(
        dir.path(),
        &["init", "--bare", "--quiet", remote.to_str().unwrap()],
    );
    let target = PushTarget::new(format!("file://{}", remote.display()));

    export_snapshot(&source, snapshots[0].id, &git_dir, &ExportOptions::new())
        .await
        .unwrap();
    push(&git_dir, &target).unwrap();
    assert_eq!(
        git(&remote, &["rev-parse", "main"]),
        git(&git_dir, &["rev-parse", "main"])
    );

    // Later commits go as a fast-forward.
    for s in &snapshots[1..] {
        export_snapshot(&source, s.id, &git_dir, &ExportOptions::new())
            .await
            .unwrap();
    }
    push(&git_dir, &target).unwrap();
    assert_eq!(
        git(&remote, &["rev-parse", "main"]),
        git(&git_dir, &["rev-parse", "main"])
    );
    assert_eq!(git(&remote, &["rev-list", "--count", "main"]), "3");

    // A remote that moved on is reported, never overwritten.
    let other = dir.path().join("other.git");
    let other_source = {
        let mut s = InMemorySnapshotSource::new();
        let snap = snapshot(&mut s, 9, vec![group("Elsewhere")]);
        (s, snap)
    };
    export_snapshot(
        &other_source.0,
        other_source.1.id,
        &other,
        &ExportOptions::new(),
    )
    .await
    .unwrap();
    let err = push(&other, &target).unwrap_err();
    assert!(
        matches!(
            err,
            PushError::Rejected { .. } | PushError::Transport { .. }
        ),
        "{err:?}"
    );
    assert_eq!(
        git(&remote, &["rev-parse", "main"]),
        git(&git_dir, &["rev-parse", "main"])
    );
}
