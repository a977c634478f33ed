//! Diff cost at scale: two snapshots of 100,000 resources with 1% changed, compared in
//! memory and from a real encrypted snapshot repository on disk.
//!
//! ```sh
//! cargo run --release -p butterfly-benches --bin snapshot-diff [-- --resources 100000 --one-in 100]
//! ```
//!
//! Prints the time of each diff and what it found. The diff reads only the objects of
//! entries whose digests differ, so its cost follows the change, not the org.

// Figures for humans: f64 precision is ample here.
#![allow(clippy::cast_precision_loss)]

use std::time::Instant;

use butterfly_core::diff::{DiffOptions, DiffRules, diff_snapshots};
use butterfly_core::source::InMemorySnapshotSource;
use butterfly_core::{
    Clock as _, ProviderKind, Resource, ResourceKind, SnapshotStatus, SystemClock,
};
use butterfly_store::snapshots::SnapshotRepository;
use serde_json::{Value, json};

fn parse_args() -> Result<(usize, usize), String> {
    let mut resources = 100_000;
    // One resource in this many is changed: 100 is 1%.
    let mut one_in = 100;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--resources" => resources = value.parse().map_err(|_| "bad --resources")?,
            "--one-in" => one_in = value.parse().map_err(|_| "bad --one-in")?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok((resources, one_in.max(1)))
}

/// An org shaped like Okta's: mostly users and memberships, some groups and rules.
fn org(n: usize) -> Vec<Resource> {
    (0..n)
        .map(|i| match i % 10 {
            0 => Resource::new(
                ResourceKind::new("group"),
                format!("00g{i:08}"),
                json!({"id": format!("00g{i:08}"), "profile": {"name": format!("Group {i}"), "description": "a group"}, "type": "OKTA_GROUP", "lastUpdated": "2026-01-01T00:00:00.000Z"}),
            ),
            1 => Resource::new(
                ResourceKind::new("group_membership"),
                format!("00g{i:08}:00u{i:08}"),
                json!({"groupId": format!("00g{i:08}"), "userId": format!("00u{i:08}")}),
            ),
            _ => Resource::new(
                ResourceKind::new("user"),
                format!("00u{i:08}"),
                json!({
                    "id": format!("00u{i:08}"),
                    "status": "ACTIVE",
                    "profile": {"login": format!("user{i}@example.com"), "email": format!("user{i}@example.com"), "firstName": "Ada", "lastName": format!("Lovelace {i}"), "department": "Engineering"},
                    "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
                    "lastLogin": "2026-01-01T00:00:00.000Z",
                    "lastUpdated": "2026-01-01T00:00:00.000Z"
                }),
            ),
        })
        .collect()
}

/// The same org with every `step`-th resource changed in a field that matters.
fn mutate(resources: &[Resource], step: usize) -> Vec<Resource> {
    resources
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut r = r.clone();
            if i % step == step / 2 {
                match &mut r.attributes {
                    Value::Object(map) if map.contains_key("status") => {
                        map.insert("status".into(), json!("SUSPENDED"));
                    }
                    Value::Object(map) => {
                        map.insert("changed".into(), json!(true));
                    }
                    _ => {}
                }
            }
            r
        })
        .collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (n, step) = parse_args()?;
    let before = org(n);
    let after = mutate(&before, step);
    let rules = DiffRules::for_provider(ProviderKind::Okta);
    let options = DiffOptions::default();
    let at = SystemClock.now();

    let mut memory = InMemorySnapshotSource::new();
    // Both snapshots' manifests are in hand: the diff alone is timed.
    let a = memory.insert(
        ProviderKind::Okta,
        "bench",
        at,
        SnapshotStatus::Complete,
        before.clone(),
    );
    let b = memory.insert(
        ProviderKind::Okta,
        "bench",
        at,
        SnapshotStatus::Complete,
        after.clone(),
    );
    let started = Instant::now();
    let diff = diff_snapshots(&memory, &a, &b, &rules, &options).await?;
    let in_memory = started.elapsed();
    println!(
        "in memory:   {n} resources, {} changed: diff in {:.1} ms",
        diff.summary.changed,
        in_memory.as_secs_f64() * 1000.0
    );

    let dir = std::env::temp_dir().join(format!("snapshot-diff-bench-{}", std::process::id()));
    let repo = SnapshotRepository::open_or_create(&dir).await?;
    let mut writer = repo.begin(ProviderKind::Okta, "bench", at);
    writer.add_all(&before).await?;
    let a = writer.finish(at, SnapshotStatus::Complete).await?;
    let mut writer = repo.begin(ProviderKind::Okta, "bench", at);
    writer.add_all(&after).await?;
    let b = writer.finish(at, SnapshotStatus::Complete).await?;
    // A fresh handle, as a CLI run would open it: index read, caches cold.
    let repo = SnapshotRepository::open(&dir).await?;
    let source: &dyn butterfly_core::source::SnapshotSource = &repo;
    let started = Instant::now();
    let a = source.manifest(a.id).await?;
    let b = source.manifest(b.id).await?;
    let manifests = started.elapsed();
    let diff = diff_snapshots(source, &a, &b, &rules, &options).await?;
    let total = started.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "repository:  {n} resources, {} changed: manifests {:.1} ms, diff in {:.1} ms in all",
        diff.summary.changed,
        manifests.as_secs_f64() * 1000.0,
        total.as_secs_f64() * 1000.0
    );
    Ok(())
}
