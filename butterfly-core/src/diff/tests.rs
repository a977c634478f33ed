use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::executor::block_on;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::source::InMemorySnapshotSource;
use crate::{Digest, ProviderKind, Resource, SnapshotId, SnapshotStatus, SnapshotSummary};

/// Counts the objects a diff reads, to prove equal digests are skipped.
struct Counting {
    inner: InMemorySnapshotSource,
    reads: AtomicUsize,
}

#[async_trait]
impl SnapshotSource for Counting {
    async fn summaries(&self) -> Result<Vec<SnapshotSummary>, SourceError> {
        self.inner.summaries().await
    }
    async fn manifest(&self, id: SnapshotId) -> Result<Snapshot, SourceError> {
        self.inner.manifest(id).await
    }
    async fn object(&self, digest: &Digest) -> Result<Value, SourceError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.object(digest).await
    }
}

fn res(kind: &str, id: &str, body: Value) -> Resource {
    Resource::new(ResourceKind::new(kind), id, body)
}

fn snap(source: &mut InMemorySnapshotSource, resources: Vec<Resource>) -> Snapshot {
    source.insert(
        ProviderKind::Okta,
        "https://example.okta.com",
        DateTime::<Utc>::UNIX_EPOCH,
        SnapshotStatus::Complete,
        resources,
    )
}

fn okta() -> DiffRules {
    DiffRules::for_provider(ProviderKind::Okta)
}

#[test]
fn only_changed_entries_are_read() {
    let mut inner = InMemorySnapshotSource::new();
    let users: Vec<Resource> = (0..200)
        .map(|i| {
            res(
                "user",
                &format!("00u{i:03}"),
                json!({"profile": {"login": format!("u{i}")}}),
            )
        })
        .collect();
    let a = snap(&mut inner, users.clone());
    let mut changed = users;
    changed[7].attributes["profile"]["login"] = json!("renamed");
    changed.remove(50);
    changed.push(res("user", "00u999", json!({"profile": {"login": "new"}})));
    let b = snap(&mut inner, changed);
    let source = Counting {
        inner,
        reads: AtomicUsize::new(0),
    };
    let diff = block_on(diff_snapshots(
        &source,
        &a,
        &b,
        &okta(),
        &DiffOptions::default(),
    ))
    .unwrap();
    assert_eq!(
        (
            diff.summary.added,
            diff.summary.removed,
            diff.summary.changed
        ),
        (1, 1, 1)
    );
    // Two reads for the changed user, one each for the added and the removed one.
    assert_eq!(source.reads.load(Ordering::Relaxed), 4);
    assert_eq!(diff.changed[0].name, "renamed");
    assert_eq!(diff.removed[0].name, "u50");
}

#[test]
fn volatile_fields_and_set_order_are_no_change() {
    let mut source = InMemorySnapshotSource::new();
    let rule = |groups: Value, updated: &str| {
        res(
            "policy_rule.OKTA_SIGN_ON",
            "0pr1",
            json!({"name": "Default", "conditions": {"people": {"groups": {"include": groups}}}, "lastUpdated": updated}),
        )
    };
    let a = snap(&mut source, vec![rule(json!(["g1", "g2"]), "2024")]);
    let b = snap(&mut source, vec![rule(json!(["g2", "g1"]), "2025")]);
    let diff = block_on(diff_snapshots(
        &source,
        &a,
        &b,
        &okta(),
        &DiffOptions::default(),
    ))
    .unwrap();
    assert!(diff.changed.is_empty());
    assert_eq!(diff.summary.unchanged_but_noisy, 1);

    let loud = DiffOptions::default().with_volatile(true);
    let diff = block_on(diff_snapshots(&source, &a, &b, &okta(), &loud)).unwrap();
    assert_eq!(diff.changed[0].changes[0].change.pointer, "/lastUpdated");
}

#[test]
fn severities_follow_the_rule_table() {
    let mut source = InMemorySnapshotSource::new();
    let a = snap(
        &mut source,
        vec![
            res(
                "policy_rule.OKTA_SIGN_ON",
                "0pr1",
                json!({"name": "MFA everywhere", "actions": {"signon": {"requireFactor": true}}}),
            ),
            res(
                "policy.PASSWORD",
                "00p1",
                json!({"name": "Default", "settings": {"password": {"complexity": {"minLength": 12}}}}),
            ),
            res(
                "group_rule",
                "0pr9",
                json!({"name": "Engineers", "conditions": {"expression": {"value": "a"}}}),
            ),
            res(
                "app",
                "0oa1",
                json!({"label": "Wiki", "signOnMode": "SAML_2_0", "description": "x"}),
            ),
            res("network_zone", "nzo1", json!({"name": "Office"})),
        ],
    );
    let b = snap(
        &mut source,
        vec![
            res(
                "policy_rule.OKTA_SIGN_ON",
                "0pr1",
                json!({"name": "MFA everywhere", "actions": {"signon": {"requireFactor": false}}}),
            ),
            res(
                "policy.PASSWORD",
                "00p1",
                json!({"name": "Default", "settings": {"password": {"complexity": {"minLength": 8}}}}),
            ),
            res(
                "group_rule",
                "0pr9",
                json!({"name": "Engineers", "conditions": {"expression": {"value": "b"}}}),
            ),
            res(
                "app",
                "0oa1",
                json!({"label": "Wiki", "signOnMode": "BOOKMARK", "description": "y"}),
            ),
            res(
                "user_role_assignment",
                "ra1",
                json!({"type": "SUPER_ADMIN", "label": "Super Administrator"}),
            ),
        ],
    );
    let diff = block_on(diff_snapshots(
        &source,
        &a,
        &b,
        &okta(),
        &DiffOptions::default(),
    ))
    .unwrap();
    let by_kind = |k: &str| {
        diff.changed
            .iter()
            .find(|c| c.kind.as_str() == k)
            .unwrap()
            .severity
    };
    assert_eq!(by_kind("policy_rule.OKTA_SIGN_ON"), Severity::Critical);
    assert_eq!(by_kind("policy.PASSWORD"), Severity::High);
    assert_eq!(by_kind("group_rule"), Severity::Medium);
    assert_eq!(by_kind("app"), Severity::High);
    let app = diff
        .changed
        .iter()
        .find(|c| c.kind.as_str() == "app")
        .unwrap();
    let description = app
        .changes
        .iter()
        .find(|c| c.change.pointer == "/description")
        .unwrap();
    assert_eq!(description.severity, Severity::Info);
    assert_eq!(diff.added[0].severity, Severity::Critical);
    assert_eq!(diff.added[0].name, "Super Administrator");
    assert_eq!(diff.removed[0].severity, Severity::High);
    assert_eq!(diff.summary.highest, Some(Severity::Critical));
    assert_eq!(diff.summary.by_severity[&Severity::Critical], 2);

    let filtered = DiffOptions::default().with_min_severity(Severity::High);
    let diff = block_on(diff_snapshots(&source, &a, &b, &okta(), &filtered)).unwrap();
    assert!(diff.changed.iter().all(|c| c.severity >= Severity::High));
    assert_eq!(diff.changed.len(), 3);

    let only_apps = DiffOptions::default().with_kinds([ResourceKind::new("app")]);
    let diff = block_on(diff_snapshots(&source, &a, &b, &okta(), &only_apps)).unwrap();
    assert_eq!(
        diff.summary.changed + diff.summary.added + diff.summary.removed,
        1
    );
}

#[test]
fn a_missing_object_fails_the_diff() {
    let mut source = InMemorySnapshotSource::new();
    let a = snap(
        &mut source,
        vec![res("group", "00g1", json!({"profile": {"name": "A"}}))],
    );
    let b = snap(
        &mut source,
        vec![res("group", "00g1", json!({"profile": {"name": "B"}}))],
    );
    source.remove_object(&res("group", "00g1", json!({"profile": {"name": "B"}})).digest());
    let err = block_on(diff_snapshots(
        &source,
        &a,
        &b,
        &okta(),
        &DiffOptions::default(),
    ))
    .unwrap_err();
    assert!(matches!(err, SourceError::MissingObject(_)));
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-50i64..50).prop_map(Value::from),
        "[a-c]{0,3}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-d/~]{1,2}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn bare() -> DiffRules {
    DiffRules::from_json("{}").unwrap()
}

proptest! {
    #[test]
    fn a_value_does_not_differ_from_itself(a in json_value()) {
        prop_assert!(diff_resource(&okta(), &ResourceKind::new("user"), &a, &a, false).is_empty());
    }

    #[test]
    fn applying_the_diff_gives_the_new_value(a in json_value(), b in json_value()) {
        let changes = diff_resource(&bare(), &ResourceKind::new("x"), &a, &b, true);
        let plain: Vec<FieldChange> = changes.into_iter().map(|c| c.change).collect();
        let mut patched = a.clone();
        apply(&mut patched, &plain);
        prop_assert_eq!(patched, b);
    }

    #[test]
    fn input_order_does_not_change_the_diff(
        bodies in prop::collection::btree_map("[0-9]{1,3}", json_value(), 0..12),
        edits in prop::collection::btree_map("[0-9]{1,3}", json_value(), 0..12),
        seed in any::<usize>(),
    ) {
        let old: Vec<Resource> = bodies.iter().map(|(id, v)| res("group", id, v.clone())).collect();
        let mut new = old.clone();
        for (id, v) in &edits {
            match new.iter_mut().find(|r| &r.id == id) {
                Some(r) => r.attributes = v.clone(),
                None => new.push(res("group", id, v.clone())),
            }
        }
        let mut shuffled_old = old.clone();
        let mut shuffled_new = new.clone();
        // A cheap deterministic shuffle: rotate by the seed.
        if !shuffled_old.is_empty() { let n = shuffled_old.len(); shuffled_old.rotate_left(seed % n); }
        if !shuffled_new.is_empty() { let n = shuffled_new.len(); shuffled_new.rotate_left((seed / 7) % n); shuffled_new.reverse(); }
        let mut source = InMemorySnapshotSource::new();
        let a1 = snap(&mut source, old);
        let b1 = snap(&mut source, new);
        let a2 = snap(&mut source, shuffled_old);
        let b2 = snap(&mut source, shuffled_new);
        let rules = okta();
        let d1 = block_on(diff_snapshots(&source, &a1, &b1, &rules, &DiffOptions::default())).unwrap();
        let d2 = block_on(diff_snapshots(&source, &a2, &b2, &rules, &DiffOptions::default())).unwrap();
        prop_assert_eq!(d1.summary, d2.summary);
        prop_assert_eq!(d1.added, d2.added);
        prop_assert_eq!(d1.removed, d2.removed);
        prop_assert_eq!(d1.changed, d2.changed);
    }
}
