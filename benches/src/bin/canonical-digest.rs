//! Throughput of canonical JSON + SHA-256 over Okta-like user objects: the per-resource
//! cost every backup pays. Run: `cargo run --release -p butterfly-benches --bin canonical-digest`.

// Figures for humans: f64 precision is ample for byte and item counts here.
#![allow(clippy::cast_precision_loss)]

use std::time::Instant;

use butterfly_core::Digest;
use serde_json::json;

fn main() {
    let users: Vec<_> = (0..50_000)
        .map(|i| {
            json!({
                "id": format!("00u{i:017}"),
                "status": "ACTIVE",
                "created": "2024-01-01T00:00:00.000Z",
                "profile": {
                    "login": format!("user{i}@example.com"),
                    "email": format!("user{i}@example.com"),
                    "firstName": "Test", "lastName": format!("User {i}"),
                    "department": "Engineering", "title": "Engineer",
                },
                "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
                "type": {"id": "oty1"},
            })
        })
        .collect();
    let start = Instant::now();
    let mut bytes = 0usize;
    let mut last = Digest::of_bytes(b"");
    for u in &users {
        let canon = butterfly_core::canonical_json(u);
        bytes += canon.len();
        last = Digest::of_bytes(&canon);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "canonical-digest: {} users, {:.1} MB canonical JSON in {:.3}s",
        users.len(),
        bytes as f64 / 1e6,
        secs
    );
    println!(
        "canonical-digest: {:.0} resources/s, {:.1} MB/s (last digest {last})",
        users.len() as f64 / secs,
        bytes as f64 / 1e6 / secs
    );
}
