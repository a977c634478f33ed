//! `butterfly backup entra`: a Microsoft Entra ID tenant into a local repository.
//!
//! ```text
//! butterfly backup entra --tenant-id 72f988bf-... --client-id 1b2c... \
//!     --client-secret-file secret.txt --repo ./backups
//! butterfly backup entra --tenant-id contoso.onmicrosoft.com --client-id 1b2c... \
//!     --certificate app.crt --private-key app.key --repo ./backups
//! ```

use std::path::{Path, PathBuf};

use butterfly_core::{SnapshotStatus, SystemClock};
use butterfly_providers::backup::BackupMode;
use butterfly_providers::entra::backup::run_entra_backup;
use butterfly_providers::entra::fetcher::{
    ClientCertificate, ClientCredential, ClientSecret, EndpointUrl, EntraCredentialError,
    EntraCredentials, EntraFetchOptions, TenantId,
};
use butterfly_providers::okta::fetcher::{ClientId, FetchEvent};
use serde_json::json;

use crate::Output;
use crate::local::{LocalError, Progress};
use crate::output::print_backup_outcome;

/// Flags of `butterfly backup entra`.
#[derive(Debug)]
pub struct EntraBackupArgs {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret_file: Option<PathBuf>,
    pub certificate: Option<PathBuf>,
    pub private_key: Option<PathBuf>,
    pub graph_url: String,
    pub authority_url: String,
    pub repo: PathBuf,
    pub rate_limit_share: f64,
    pub concurrency: usize,
    pub mode: BackupMode,
    pub allow_private_org_urls: bool,
}

fn read(path: &Path) -> Result<String, LocalError> {
    std::fs::read_to_string(path).map_err(|source| LocalError::ReadFile {
        path: path.to_owned(),
        source,
    })
}

fn flag(flag: &'static str) -> impl Fn(EntraCredentialError) -> LocalError {
    move |source| LocalError::EntraFlag { flag, source }
}

/// Entra credentials from the flags, each checked, secrets read from their files.
pub fn entra_credentials(args: &EntraBackupArgs) -> Result<EntraCredentials, LocalError> {
    let credential = match (
        &args.client_secret_file,
        &args.certificate,
        &args.private_key,
    ) {
        (Some(secret), _, _) => ClientCredential::Secret(
            ClientSecret::new(read(secret)?).map_err(flag("--client-secret-file"))?,
        ),
        (None, Some(certificate), Some(key)) => ClientCredential::Certificate(
            ClientCertificate::from_pem(&read(certificate)?, &read(key)?)?,
        ),
        // clap requires one of the two forms.
        _ => {
            return Err(LocalError::EntraFlag {
                flag: "--client-secret-file",
                source: EntraCredentialError::EmptySecret,
            });
        }
    };
    let graph_url = EndpointUrl::parse(&args.graph_url).map_err(flag("--graph-url"))?;
    let authority_url = EndpointUrl::parse(&args.authority_url).map_err(flag("--authority-url"))?;
    // Checked before the repository is created, as well as by the fetcher.
    if !args.allow_private_org_urls {
        graph_url
            .check_public()
            .map_err(|e| LocalError::EntraFlag {
                flag: "--graph-url",
                source: e.into(),
            })?;
        authority_url
            .check_public()
            .map_err(|e| LocalError::EntraFlag {
                flag: "--authority-url",
                source: e.into(),
            })?;
    }
    Ok(EntraCredentials {
        tenant_id: TenantId::new(args.tenant_id.clone()).map_err(flag("--tenant-id"))?,
        client_id: ClientId::new(args.client_id.clone()).map_err(|source| LocalError::Flag {
            flag: "--client-id",
            source,
        })?,
        credential,
        graph_url,
        authority_url,
    })
}

/// `butterfly backup entra`: fetch every kind, write a snapshot, print its id last.
pub async fn backup_entra(out: Output, args: EntraBackupArgs) -> Result<(), LocalError> {
    // Flags and credentials first: a refused one must not leave an empty repository.
    let credentials = entra_credentials(&args)?;
    let options = EntraFetchOptions {
        insecure_allow_private_addresses: args.allow_private_org_urls,
        rate_limit_share: args.rate_limit_share,
        concurrency: args.concurrency,
        ..EntraFetchOptions::default()
    };
    let repo = crate::repository::open_or_create(&args.repo).await?;
    let mut progress = Progress::new();
    let outcome = run_entra_backup(
        credentials,
        options,
        args.mode,
        &repo,
        &SystemClock,
        |event: &FetchEvent| progress.event(event),
    )
    .await?;
    print_backup_outcome(out, &json!(outcome));
    let snapshot = &outcome.snapshot;
    println!("{}", snapshot.id);
    if snapshot.status == SnapshotStatus::Failed {
        return Err(LocalError::Incomplete(snapshot.id.to_string()));
    }
    Ok(())
}
