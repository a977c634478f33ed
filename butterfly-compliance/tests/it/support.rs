//! Fixture orgs for tests, the report writer example and the benchmark: a JSON file of
//! resources loaded into an `InMemorySnapshotSource`.

#![allow(dead_code)]

use std::error::Error;
use std::path::PathBuf;

use butterfly_core::source::InMemorySnapshotSource;
use butterfly_core::{ProviderKind, Resource, ResourceKind, Snapshot, SnapshotStatus};
use serde::Deserialize;
use serde_json::{Value, json};

/// The time every report in tests says it was generated.
pub const GENERATED_AT: &str = "2026-12-01T00:00:00Z";

#[derive(Deserialize)]
struct Fixture {
    snapshot_id: String,
    org: String,
    taken_at: String,
    warnings: Vec<String>,
    resources: Vec<FixtureResource>,
}

#[derive(Deserialize)]
struct FixtureResource {
    kind: String,
    id: String,
    attributes: Value,
}

pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Fixtures are read by tests, an example and a benchmark: errors are returned, not
/// unwrapped, so the example and benchmark need no panics.
pub type Fallible<T> = Result<T, Box<dyn Error>>;

/// The resources of a fixture file, to edit before [`build`].
pub fn resources(name: &str) -> Fallible<(Vec<Resource>, FixtureMeta)> {
    let text = std::fs::read_to_string(fixture_path(name))?;
    let fixture: Fixture = serde_json::from_str(&text)?;
    let resources = fixture
        .resources
        .into_iter()
        .map(|r| Resource::new(ResourceKind::new(r.kind), r.id, r.attributes))
        .collect();
    Ok((
        resources,
        FixtureMeta {
            snapshot_id: fixture.snapshot_id,
            org: fixture.org,
            taken_at: fixture.taken_at,
            warnings: fixture.warnings,
        },
    ))
}

/// What a fixture says about its snapshot.
pub struct FixtureMeta {
    pub snapshot_id: String,
    pub org: String,
    pub taken_at: String,
    pub warnings: Vec<String>,
}

/// Seal `resources` into a source; the returned manifest carries the fixture's fixed id
/// and warnings, so reports are the same on every run.
pub fn build(
    resources: Vec<Resource>,
    meta: &FixtureMeta,
) -> Fallible<(InMemorySnapshotSource, Snapshot)> {
    let mut source = InMemorySnapshotSource::new();
    let taken = butterfly_core::rfc3339::parse(&meta.taken_at)?;
    let mut snapshot = source.insert(
        ProviderKind::Okta,
        meta.org.clone(),
        taken,
        SnapshotStatus::Complete,
        resources,
    );
    // Evaluation reads objects by digest, never by snapshot id, so the manifest may be
    // given the fixture's id.
    snapshot.id = meta.snapshot_id.parse()?;
    snapshot.warnings.clone_from(&meta.warnings);
    Ok((source, snapshot))
}

pub fn load(name: &str) -> Fallible<(InMemorySnapshotSource, Snapshot)> {
    let (resources, meta) = resources(name)?;
    build(resources, &meta)
}

/// The clean fixture plus `users` generated users, a tenth of them dormant: the
/// benchmark's 50K-user org.
pub fn large_org(users: usize) -> Fallible<(InMemorySnapshotSource, Snapshot)> {
    let (mut all, meta) = resources("clean-org.json")?;
    let kind = ResourceKind::new("user");
    for i in 0..users {
        let id = format!("00u{i:08}");
        let last_login = if i % 10 == 0 {
            "2025-01-01T00:00:00.000Z"
        } else {
            "2026-11-29T12:00:00.000Z"
        };
        let status = if i % 50 == 0 {
            "DEPROVISIONED"
        } else {
            "ACTIVE"
        };
        all.push(Resource::new(
            kind.clone(),
            id.clone(),
            json!({
                "id": id, "status": status, "created": "2024-01-01T00:00:00.000Z",
                "activated": "2024-01-01T00:00:00.000Z", "lastLogin": last_login,
                "passwordChanged": "2026-10-01T00:00:00.000Z",
                "profile": {"login": format!("user{i}@large.example"), "email": format!("user{i}@large.example"),
                    "firstName": "User", "lastName": format!("{i}"), "department": "Engineering"},
                "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}}
            }),
        ));
    }
    build(all, &meta)
}
