//! Rewrite the golden repository in `tests/fixtures/golden-repo` (TEST ONLY data).
//!
//! ```sh
//! cargo run -p butterfly-store --example regenerate-golden
//! ```
//!
//! Run it only when the on-disk format changes on purpose: the golden repository exists
//! to prove that repositories written before a change still read after it. The resources
//! come from a fixed seed, the times are fixed and the key is the public test-only key
//! beside the fixture; snapshot ids, pack ids and nonces are fresh each run, so the bytes
//! differ from one run to the next but every digest is the same.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use butterfly_core::{ProviderKind, Resource, ResourceKind, SnapshotStatus};
use butterfly_store::MasterKey;
use butterfly_store::snapshots::{SnapshotRepository, local_team};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

type Failure = Box<dyn std::error::Error>;

/// A small deterministic generator (SplitMix64), so the fixture does not depend on a
/// random number crate's algorithm staying the same.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden-repo")
}

fn test_only_key(dir: &Path) -> Result<MasterKey, Failure> {
    let text = std::fs::read_to_string(dir.join("TEST-ONLY-master-key.hex"))?;
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes)?;
    Ok(MasterKey::from_bytes(bytes))
}

fn pick(rng: &mut Seeded, from: &[&'static str]) -> &'static str {
    let at = usize::try_from(rng.below(from.len() as u64)).unwrap_or(0);
    from[at]
}

fn user(rng: &mut Seeded, i: u64, version: u64) -> Resource {
    let id = format!("00u{i:05}");
    let status = pick(rng, &["ACTIVE", "SUSPENDED", "DEPROVISIONED", "STAGED"]);
    let department = pick(rng, &["Sales", "Engineering", "Support", "Finance"]);
    Resource::new(
        ResourceKind::new("user"),
        id.clone(),
        json!({
            "id": id,
            "status": status,
            "profile": {
                "login": format!("user{i}@example.com"),
                "firstName": format!("First{}", rng.below(1000)),
                "lastName": format!("Last{}", rng.below(1000)),
                "department": department,
                "costCenter": rng.below(100_000),
                "unicode": "Zoë, Ægir, 李",
            },
            "version": version,
        }),
    )
}

fn group(rng: &mut Seeded, i: u64) -> Resource {
    let id = format!("00g{i:04}");
    Resource::new(
        ResourceKind::new("group"),
        id.clone(),
        json!({"id": id, "type": "OKTA_GROUP", "profile": {"name": format!("Group {i}"), "seats": rng.below(500)}}),
    )
}

fn app(rng: &mut Seeded, i: u64) -> Resource {
    let id = format!("0oa{i:04}");
    Resource::new(
        ResourceKind::new("app"),
        id.clone(),
        json!({"id": id, "signOnMode": "OPENID_CONNECT", "settings": {"redirect_uris": [format!("https://app{i}.example.com/cb")], "ttl": f64::from(u32::try_from(rng.below(3600)).unwrap_or(0)) / 8.0}}),
    )
}

/// 1,100 memberships with one body: many entries, one object, and two entry lists.
fn memberships() -> Vec<Resource> {
    (0..1100)
        .map(|i| {
            Resource::new(
                ResourceKind::new("group_membership"),
                format!("00g0001:00u{i:05}"),
                json!({"type": "member"}),
            )
        })
        .collect()
}

async fn write(
    repo: &SnapshotRepository,
    started_at: DateTime<Utc>,
    status: SnapshotStatus,
    warnings: &[&str],
    resources: &[Resource],
) -> Result<Value, Failure> {
    let mut writer = repo.begin(
        ProviderKind::Okta,
        "https://golden.okta.example",
        started_at,
    );
    writer.add_all(resources).await?;
    for warning in warnings {
        writer.warn(*warning);
    }
    let snapshot = writer
        .finish(started_at + chrono::TimeDelta::minutes(3), status)
        .await?;
    let entries: Vec<Value> = snapshot
        .kinds
        .iter()
        .flat_map(|(kind, entries)| {
            entries
                .iter()
                .map(move |e| json!(format!("{kind} {} {}", e.id, e.digest)))
        })
        .collect();
    Ok(json!({
        "id": snapshot.id,
        "root_digest": snapshot.root_digest,
        "status": snapshot.status,
        "counts": snapshot.counts,
        "warnings": snapshot.warnings,
        "entries": entries,
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Failure> {
    let dir = fixture_dir();
    let master = test_only_key(&dir)?;
    for sub in ["packs", "index", "snapshots"] {
        match std::fs::remove_dir_all(dir.join(sub)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    // Small packs, so the fixture has several.
    let repo = SnapshotRepository::open_with_key(&dir, &master, local_team())
        .await?
        .with_pack_target(64 * 1024);
    let mut rng = Seeded(0x00b0_77e2_f1e5);

    let mut first: Vec<Resource> = (0..300).map(|i| user(&mut rng, i, 1)).collect();
    first.extend((0..40).map(|i| group(&mut rng, i)));
    first.extend((0..12).map(|i| app(&mut rng, i)));
    first.extend(memberships());
    let mut snapshots = vec![
        write(
            &repo,
            "2026-01-01T00:00:00Z".parse::<DateTime<Utc>>()?,
            SnapshotStatus::Complete,
            &[],
            &first,
        )
        .await?,
    ];

    // An hour later: 25 users changed, 5 removed, 10 added.
    let mut second: Vec<Resource> = first
        .iter()
        .filter(|r| {
            !(r.kind.as_str() == "user"
                && (295..300).contains(&r.id[3..].parse::<u64>().unwrap_or(0)))
        })
        .cloned()
        .collect();
    for r in second
        .iter_mut()
        .filter(|r| r.kind.as_str() == "user")
        .take(25)
    {
        let i = r.id[3..].parse::<u64>()?;
        *r = user(&mut rng, i, 2);
    }
    second.extend((300..310).map(|i| user(&mut rng, i, 1)));
    snapshots.push(
        write(
            &repo,
            "2026-01-01T01:00:00Z".parse::<DateTime<Utc>>()?,
            SnapshotStatus::Complete,
            &[],
            &second,
        )
        .await?,
    );

    // A partial backup: apps were refused.
    let third: Vec<Resource> = second
        .iter()
        .filter(|r| r.kind.as_str() != "app")
        .cloned()
        .collect();
    snapshots.push(
        write(
            &repo,
            "2026-01-01T02:00:00Z".parse::<DateTime<Utc>>()?,
            SnapshotStatus::Partial,
            &["skipped kind `app`: 403 Forbidden (okta.apps.read missing)"],
            &third,
        )
        .await?,
    );

    let objects = repo.object_count();
    let expected = json!({
        "about": "TEST ONLY fixture: see README.md. Written by examples/regenerate-golden.rs. Entries are \"kind id digest\".",
        "objects": objects,
        "snapshots": snapshots,
    });
    let mut text = serde_json::to_string_pretty(&expected)?;
    text.push('\n');
    std::fs::write(dir.join("expected.json"), text)?;
    let counts: BTreeMap<&str, usize> = ["packs", "index", "snapshots"]
        .into_iter()
        .map(|sub| Ok((sub, std::fs::read_dir(dir.join(sub))?.count())))
        .collect::<Result<_, std::io::Error>>()?;
    println!("wrote {} with {objects} objects: {counts:?}", dir.display());
    Ok(())
}
