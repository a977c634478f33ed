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

use std::convert::Infallible;
use std::path::PathBuf;

use butterfly_core::source::InMemorySnapshotSource;
use butterfly_core::{ProviderKind, Resource, Snapshot, SnapshotSink, SnapshotStatus, WriteStats};
use butterfly_providers::okta::backup::run_backup;
use butterfly_providers::okta::fetcher::{FetchOptions, OktaCredentials, OktaFetcher, PrivateKey};
use butterfly_providers::simulator::{OrgConfig, Simulator, SimulatorConfig};
use butterfly_tf::{ExportOptions, export};
use serde_json::Value;

#[derive(Default)]
struct Collect(Vec<Resource>);

impl SnapshotSink for Collect {
    type Error = Infallible;

    async fn add(&mut self, resources: &[Resource]) -> Result<(), Infallible> {
        self.0.extend_from_slice(resources);
        Ok(())
    }

    fn warn(&mut self, _warning: String) {}

    async fn finish(
        self,
        finished_at: time::OffsetDateTime,
        status: SnapshotStatus,
    ) -> Result<(Snapshot, WriteStats), Infallible> {
        let mut snapshot = Snapshot::begin(ProviderKind::Okta, "sim", finished_at);
        snapshot.seal(finished_at, status);
        Ok((snapshot, WriteStats::default()))
    }
}

async fn write(org: &str, resources: Vec<Resource>, options: &ExportOptions, dir: PathBuf) {
    let mut source = InMemorySnapshotSource::new();
    let snapshot = source.insert(
        ProviderKind::Okta,
        org,
        time::OffsetDateTime::UNIX_EPOCH,
        SnapshotStatus::Complete,
        resources,
    );
    let out = export(&source, snapshot.id, options).await.unwrap();
    out.write_to(&dir).unwrap();
    println!("{}: {} files", dir.display(), out.files.len());
}

async fn simulated_org() -> (String, Vec<Resource>) {
    let config = SimulatorConfig {
        org: OrgConfig {
            seed: 3,
            users: 100,
            groups: 10,
            apps: 15,
        },
        time_scale: 600.0,
        ..SimulatorConfig::default()
    };
    let running = Simulator::bind(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let sim = running.simulator().client_credentials();
    let credentials = OktaCredentials {
        org_url: sim.org_url.clone(),
        client_id: sim.client_id.clone(),
        key_id: Some(sim.key_id.clone()),
        private_key: PrivateKey::from_pem(sim.private_key_pem.as_deref().unwrap()).unwrap(),
    };
    let options = FetchOptions {
        time_scale: 600.0,
        rate_limit_share: 1.0,
        ..FetchOptions::default()
    };
    let mut sink = Collect::default();
    run_backup(
        OktaFetcher::new(credentials, options).unwrap(),
        &mut sink,
        |_| {},
    )
    .await
    .unwrap();
    running.shutdown().await.unwrap();
    (sim.org_url, sink.0)
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
