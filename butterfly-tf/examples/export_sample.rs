//! Export sample orgs as Terraform files, for checking them with other tools.
//!
//! ```sh
//! cargo run -p butterfly-tf --example export_sample -- OUT_DIR
//! ```
//!
//! Writes `OUT_DIR/fixture` (the hand-written test org), `OUT_DIR/fixture-skip-users`
//! (the same with `skip_users`) and `OUT_DIR/simulator` (an org from the Okta
//! simulator, backed up through the real fetcher). `scripts/validate-terraform` parses
//! every file with python-hcl2.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use butterfly_core::source::InMemorySnapshotSource;
use butterfly_core::{ProviderKind, Resource, SnapshotStatus};
use butterfly_providers::okta::simulator::{OrgConfig, back_up_in_memory};
use butterfly_tf::{ExportOptions, export};
use serde_json::Value;

async fn write(org: &str, resources: Vec<Resource>, options: &ExportOptions, dir: PathBuf) {
    let mut source = InMemorySnapshotSource::new();
    let snapshot = source.insert(
        ProviderKind::Okta,
        org,
        chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        SnapshotStatus::Complete,
        resources,
    );
    let out = export(&source, snapshot.id, options).await.unwrap();
    out.write_to(&dir).unwrap();
    println!("{}: {} files", dir.display(), out.files.len());
}

async fn simulated_org() -> (String, Vec<Resource>) {
    let (source, outcome) = back_up_in_memory(OrgConfig {
        seed: 3,
        users: 100,
        groups: 10,
        apps: 15,
    })
    .await
    .unwrap();
    let resources = source.all_resources(outcome.snapshot_id()).unwrap();
    (outcome.snapshot.org, resources)
}

#[tokio::main]
async fn main() {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: export_sample OUT_DIR"),
    );
    let text = include_str!("../tests/fixtures/acme-org.json");
    let doc: Value = serde_json::from_str(text).unwrap();
    let org = doc["org"].as_str().unwrap();
    let resources: Vec<Resource> = serde_json::from_value(doc["resources"].clone()).unwrap();
    write(
        org,
        resources.clone(),
        &ExportOptions::new(),
        out.join("fixture"),
    )
    .await;
    write(
        org,
        resources,
        &ExportOptions::new().skip_users(true),
        out.join("fixture-skip-users"),
    )
    .await;
    let (org, resources) = simulated_org().await;
    write(
        &org,
        resources,
        &ExportOptions::new(),
        out.join("simulator"),
    )
    .await;
}
