//! Local mode: back up an Okta org into a snapshot repository directory and inspect it,
//! with no server.
//!
//! ```text
//! butterfly backup okta --org-url https://example.okta.com --client-id 0oa... \
//!     --private-key key.pem --repo ./backups
//! butterfly snapshots list --repo ./backups
//! butterfly snapshots show <id> --repo ./backups
//! butterfly snapshots verify [<id>] --repo ./backups
//! ```

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use butterfly_core::{ResourceKind, SnapshotStatus, SnapshotSummary, SystemClock};
use butterfly_providers::backup::{BackupError, BackupMode, run_okta_backup_with};
use butterfly_providers::okta::fetcher::{
    ClientId, CredentialError, FetchEvent, FetchOptions, OktaCredentials, OrgUrl, PrivateKey,
};
use butterfly_store::snapshots::{SnapshotError, VerifyReport};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::json;

use crate::Output;
use crate::output::{print_backup_outcome, print_json, print_snapshot, print_snapshots};

/// Errors of local commands.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The repository could not be opened, read or written.
    #[error(transparent)]
    Repository(#[from] SnapshotError),
    /// A new repository could not be created (no password, for one).
    #[error(transparent)]
    Create(#[from] crate::repository::RepositoryCommandError),
    /// The fetch could not start or stopped.
    #[error("backup failed: {0}")]
    Fetch(#[from] butterfly_providers::okta::fetcher::FetchError),
    /// A flag's value was refused.
    #[error("{flag}: {source}")]
    Flag {
        /// The flag.
        flag: &'static str,
        /// Why.
        #[source]
        source: CredentialError,
    },
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Verification found damage.
    #[error("verify found {0} problem(s)")]
    Damaged(usize),
    /// The backup finished but some kinds failed.
    #[error("backup {0} is incomplete: some kinds failed (see its warnings)")]
    Incomplete(String),
    /// The backup stopped.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// An Entra flag's value was refused.
    #[error("{flag}: {source}")]
    EntraFlag {
        /// The flag.
        flag: &'static str,
        /// Why.
        #[source]
        source: butterfly_providers::entra::fetcher::EntraCredentialError,
    },
}

/// Flags of `butterfly backup okta`.
#[derive(Debug)]
pub struct OktaBackupArgs {
    pub org_url: String,
    pub client_id: String,
    pub key_id: Option<String>,
    pub private_key: PathBuf,
    pub repo: PathBuf,
    pub rate_limit_share: f64,
    pub scopes: Option<Vec<String>>,
    pub concurrency: usize,
    pub pack_target_bytes: Option<usize>,
    /// `--full`, `--full-every`: full or incremental.
    pub mode: BackupMode,
    /// `--allow-private-org-urls`.
    pub allow_private_org_urls: bool,
}

/// Progress on stderr: bars on a terminal, plain lines otherwise.
pub(crate) enum Progress {
    Bars {
        multi: MultiProgress,
        bars: BTreeMap<ResourceKind, ProgressBar>,
    },
    Lines {
        started: Instant,
    },
}

impl Progress {
    pub(crate) fn new() -> Self {
        if std::io::stderr().is_terminal() {
            Progress::Bars {
                multi: MultiProgress::new(),
                bars: BTreeMap::new(),
            }
        } else {
            Progress::Lines {
                started: Instant::now(),
            }
        }
    }

    fn bar(&mut self, kind: &ResourceKind) -> Option<&ProgressBar> {
        match self {
            Progress::Bars { multi, bars } => Some(bars.entry(kind.clone()).or_insert_with(|| {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {prefix:<32} {pos:>7} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(kind.to_string());
                bar.enable_steady_tick(Duration::from_millis(200));
                bar
            })),
            Progress::Lines { .. } => None,
        }
    }

    fn line(&self, text: &str) {
        if let Progress::Lines { started } = self {
            eprintln!("[{:>7.1}s] {text}", started.elapsed().as_secs_f64());
        }
    }

    pub(crate) fn event(&mut self, event: &FetchEvent) {
        match event {
            FetchEvent::KindStarted { kind, listings } => {
                if let Some(bar) = self.bar(kind) {
                    bar.set_message(format!("{listings} listing(s)"));
                } else {
                    self.line(&format!("{kind}: started ({listings} listing(s))"));
                }
            }
            FetchEvent::Resources { kind, resources } => {
                if let Some(bar) = self.bar(kind) {
                    bar.inc(resources.len() as u64);
                }
            }
            FetchEvent::KindFinished { kind, count } => {
                if let Some(bar) = self.bar(kind) {
                    bar.set_position(*count);
                    bar.finish_with_message("done");
                } else {
                    self.line(&format!("{kind}: {count} resource(s)"));
                }
            }
            FetchEvent::KindSkipped { kind, reason } => {
                if let Some(bar) = self.bar(kind) {
                    bar.finish_with_message(format!("skipped: {reason}"));
                } else {
                    self.line(&format!("{kind}: skipped: {reason}"));
                }
            }
            FetchEvent::KindFailed { kind, reason } => {
                if let Some(bar) = self.bar(kind) {
                    bar.finish_with_message(format!("FAILED: {reason}"));
                } else {
                    self.line(&format!("{kind}: FAILED: {reason}"));
                }
            }
            _ => {}
        }
    }
}

/// Okta credentials from the command line's flags, each checked, the key read from its
/// file.
pub fn okta_credentials(
    org_url: &str,
    client_id: String,
    key_id: Option<String>,
    private_key: &Path,
    allow_private_org_urls: bool,
) -> Result<OktaCredentials, LocalError> {
    let pem = std::fs::read_to_string(private_key).map_err(|source| LocalError::ReadFile {
        path: private_key.to_owned(),
        source,
    })?;
    let org_url = OrgUrl::parse(org_url).map_err(|source| LocalError::Flag {
        flag: "--org-url",
        source,
    })?;
    // Checked here as well as by the fetcher, so a refused URL stops before a
    // repository is created.
    if !allow_private_org_urls {
        org_url.check_public().map_err(|source| LocalError::Flag {
            flag: "--org-url",
            source,
        })?;
    }
    Ok(OktaCredentials {
        org_url,
        client_id: ClientId::new(client_id).map_err(|source| LocalError::Flag {
            flag: "--client-id",
            source,
        })?,
        key_id,
        private_key: PrivateKey::from_pem(&pem)?,
    })
}

/// `butterfly backup okta`: fetch every kind, write a snapshot, print its id last.
pub async fn backup_okta(out: Output, args: OktaBackupArgs) -> Result<(), LocalError> {
    // Flags and key first: a refused one must not leave a new, empty repository behind.
    let credentials = okta_credentials(
        &args.org_url,
        args.client_id,
        args.key_id,
        &args.private_key,
        args.allow_private_org_urls,
    )?;
    let options = FetchOptions {
        insecure_allow_private_addresses: args.allow_private_org_urls,
        rate_limit_share: args.rate_limit_share,
        scopes: args.scopes.map(|s| s.into_iter().collect()),
        concurrency: args.concurrency,
        ..FetchOptions::default()
    };
    let mut repo = crate::repository::open_or_create(&args.repo).await?;
    if let Some(bytes) = args.pack_target_bytes {
        repo = repo.with_pack_target(bytes);
    }
    let mut progress = Progress::new();
    let outcome = run_okta_backup_with(
        credentials,
        options,
        args.mode,
        &repo,
        &SystemClock,
        |event: &FetchEvent| {
            progress.event(event);
        },
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

/// `butterfly snapshots list`: each snapshot's `SnapshotSummary`, the JSON the server
/// answers too.
pub async fn list(out: Output, repo: &Path) -> Result<(), LocalError> {
    let repo = crate::repository::open(repo).await?;
    let listing = repo.list_all().await?;
    // Flagged, not fatal: one damaged manifest must not hide every other snapshot.
    for damaged in &listing.damaged {
        eprintln!(
            "warning: {}: {} (see `butterfly check`)",
            damaged.location, damaged.message
        );
    }
    let summaries: &[SnapshotSummary] = &listing.snapshots;
    print_snapshots(out, &json!(summaries));
    Ok(())
}

/// `butterfly snapshots show ID` (or an unambiguous prefix of it).
pub async fn show(out: Output, repo: &Path, id: &str) -> Result<(), LocalError> {
    let repo = crate::repository::open(repo).await?;
    let snapshot = repo.summary(repo.resolve(id).await?).await?;
    print_snapshot(out, &json!(snapshot));
    Ok(())
}

/// `butterfly snapshots verify [ID]`: exit status 1 if anything is damaged.
pub async fn verify(out: Output, repo: &Path, id: Option<&str>) -> Result<(), LocalError> {
    let repo = crate::repository::open(repo).await?;
    let id = match id {
        Some(id) => Some(repo.resolve(id).await?),
        None => None,
    };
    let report: VerifyReport = repo.verify(id).await?;
    match out {
        Output::Json => print_json(&json!(report)),
        Output::Table | Output::Markdown => {
            println!(
                "checked {} snapshot(s), {} entries, {} objects in {} pack(s): {}",
                report.snapshots,
                report.entries,
                report.objects,
                report.packs,
                if report.problems.is_empty() {
                    "ok".to_owned()
                } else {
                    format!("{} problem(s)", report.problems.len())
                }
            );
            for problem in &report.problems {
                println!("{}: {}", problem.location, problem.message);
            }
        }
    }
    if report.problems.is_empty() {
        Ok(())
    } else {
        Err(LocalError::Damaged(report.problems.len()))
    }
}
