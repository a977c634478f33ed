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
use std::sync::Arc;

use butterfly_core::source::InMemorySnapshotSource;
use butterfly_core::source::SnapshotSource as _;
use butterfly_core::{ProviderKind, Resource, SnapshotStatus};
use butterfly_providers::backup::run_okta_backup;
use butterfly_providers::clock::VirtualTimer;
use butterfly_providers::okta::fetcher::{FetchEvent, FetchOptions, OktaCredentials, PrivateKey};
use butterfly_providers::okta::simulator::{OrgConfig, Simulator, SimulatorConfig};
use butterfly_tf::{ExportOptions, export};
use futures::TryStreamExt as _;
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
    let timer = Arc::new(VirtualTimer::new(
        chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
    ));
    let config = SimulatorConfig {
        org: OrgConfig {
            seed: 3,
            users: 100,
            groups: 10,
            apps: 15,
        },
        timer: timer.clone(),
        ..SimulatorConfig::default()
    };
    let running = Simulator::bind(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let sim = running.simulator().client_credentials();
    let credentials = OktaCredentials {
        org_url: sim.org_url.parse().unwrap(),
        client_id: sim.client_id.parse().unwrap(),
        key_id: Some(sim.key_id.clone()),
        private_key: PrivateKey::from_pem(sim.private_key_pem.as_deref().unwrap()).unwrap(),
    };
    let options = FetchOptions {
        rate_limit_share: 1.0,
        timer: timer.clone(),
        ..FetchOptions::default()
    };
    let source = InMemorySnapshotSource::new();
    let outcome = run_okta_backup(
        credentials,
        options,
        &source,
        timer.as_ref(),
        |_: &FetchEvent| {},
    )
    .await
    .unwrap();
    running.shutdown().await.unwrap();
    let snapshot = source.manifest(outcome.snapshot_id()).await.unwrap();
    let mut resources = Vec::new();
    for kind in snapshot.kinds.keys() {
        let mut page: Vec<_> = source
            .kind_resources(&snapshot, kind)
            .try_collect()
            .await
            .unwrap();
        resources.append(&mut page);
    }
    (sim.org_url, resources)
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
