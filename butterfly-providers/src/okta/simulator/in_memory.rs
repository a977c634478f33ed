//! A simulated org backed up into memory: a realistic snapshot for tests, fixtures and
//! benchmarks of what reads snapshots (diff, compliance, exports), without a repository
//! or real time.

use std::sync::Arc;

use butterfly_core::source::InMemorySnapshotSource;

use super::{OrgConfig, Simulator, SimulatorConfig, SimulatorError};
use crate::backup::{BackupError, BackupOutcome, run_okta_backup};
use crate::clock::VirtualTimer;
use crate::okta::fetcher::{
    ClientId, CredentialError, FetchEvent, FetchOptions, OktaCredentials, OrgUrl, PrivateKey,
};

/// Why a simulated backup did not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimulatedBackupError {
    /// The simulator did not start.
    #[error(transparent)]
    Simulator(#[from] SimulatorError),
    /// The simulator's credentials were refused by the fetcher.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// The simulator generated no client key (a public key was configured instead).
    #[error("the simulator generated no client key")]
    NoKey,
    /// The key did not parse.
    #[error(transparent)]
    Key(#[from] crate::okta::fetcher::FetchError),
    /// The backup failed.
    #[error(transparent)]
    Backup(#[from] BackupError),
}

/// Generate `org`, serve it on loopback on a virtual clock, back it up with the shared
/// runner at a full rate-limit share into an [`InMemorySnapshotSource`], and stop the
/// simulator. Rate-limit waits take no real time.
pub async fn back_up_in_memory(
    org: OrgConfig,
) -> Result<(InMemorySnapshotSource, BackupOutcome), SimulatedBackupError> {
    let timer = Arc::new(VirtualTimer::new(
        chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
    ));
    let config = SimulatorConfig {
        org,
        timer: timer.clone(),
        ..SimulatorConfig::default()
    };
    let running = Simulator::bind(config, std::net::SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let given = running.simulator().client_credentials();
    let pem = given
        .private_key_pem
        .as_deref()
        .ok_or(SimulatedBackupError::NoKey)?;
    let credentials = OktaCredentials {
        org_url: OrgUrl::parse(&given.org_url)?,
        client_id: ClientId::new(given.client_id.clone())?,
        key_id: Some(given.key_id.clone()),
        private_key: PrivateKey::from_pem(pem)?,
    };
    let options = FetchOptions {
        rate_limit_share: 1.0,
        timer: timer.clone(),
        // The simulator listens on loopback.
        insecure_allow_private_addresses: true,
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
    .await;
    running.shutdown().await?;
    Ok((source, outcome?))
}
