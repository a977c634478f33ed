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

use butterfly_core::{SnapshotStatus, SnapshotSummary};
use butterfly_providers::okta::backup::{BackupError, BackupRun, run_backup};
use butterfly_providers::okta::fetcher::{
    FetchEvent, FetchOptions, OktaCredentials, OktaFetcher, PrivateKey,
};
use butterfly_store::snapshots::{SnapshotError, SnapshotRepository, VerifyReport};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::Output;
use crate::output::{SNAPSHOT_COLUMNS, print_json, print_records, print_snapshot};

/// Errors of local commands.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The repository could not be opened, read or written.
    #[error(transparent)]
    Repository(#[from] SnapshotError),
    /// The fetch could not start or stopped.
    #[error("backup failed: {0}")]
    Fetch(#[from] butterfly_providers::okta::fetcher::FetchError),
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
    Backup(#[from] BackupError<SnapshotError>),
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
    pub time_scale: f64,
    pub concurrency: usize,
    pub pack_target_bytes: Option<usize>,
}

/// Progress on stderr: bars on a terminal, plain lines otherwise.
enum Progress {
    Bars {
        multi: MultiProgress,
        bars: BTreeMap<&'static str, ProgressBar>,
    },
    Lines {
        started: Instant,
    },
}

impl Progress {
    fn new() -> Self {
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

    fn bar(&mut self, kind: &'static str) -> Option<&ProgressBar> {
        match self {
            Progress::Bars { multi, bars } => Some(bars.entry(kind).or_insert_with(|| {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {prefix:<32} {pos:>7} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(kind);
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

    fn event(&mut self, event: &FetchEvent) {
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

/// `butterfly backup okta`: fetch every kind, write a snapshot, print its id last.
pub async fn backup_okta(out: Output, args: OktaBackupArgs) -> Result<(), LocalError> {
    let started_at = time::OffsetDateTime::now_utc();
    let started = Instant::now();
    let mut repo = SnapshotRepository::open_or_create(&args.repo).await?;
    if let Some(bytes) = args.pack_target_bytes {
        repo = repo.with_pack_target(bytes);
    }
    let pem =
        std::fs::read_to_string(&args.private_key).map_err(|source| LocalError::ReadFile {
            path: args.private_key.clone(),
            source,
        })?;
    let credentials = OktaCredentials {
        org_url: args.org_url.trim_end_matches('/').to_owned(),
        client_id: args.client_id,
        key_id: args.key_id,
        private_key: PrivateKey::from_pem(&pem)?,
    };
    let options = FetchOptions {
        rate_limit_share: args.rate_limit_share,
        scopes: args.scopes.map(|s| s.into_iter().collect()),
        time_scale: args.time_scale,
        concurrency: args.concurrency,
        ..FetchOptions::default()
    };
    let org = credentials.org_url.clone();
    let fetcher = OktaFetcher::new(credentials, options)?;
    let mut writer = repo.begin(butterfly_core::ProviderKind::Okta, org, started_at);
    let mut progress = Progress::new();
    let BackupRun { status, report } =
        run_backup(fetcher, &mut writer, |event| progress.event(event)).await?;
    let (snapshot, stats) = writer
        .finish_with_stats(time::OffsetDateTime::now_utc(), status)
        .await?;
    let elapsed = started.elapsed().as_secs_f64();
    let summary = json!({
        "snapshot_id": snapshot.id,
        "status": snapshot.status,
        "resources": snapshot.total(),
        "kinds": snapshot.counts.len(),
        "warnings": snapshot.warnings,
        "seconds": elapsed,
        "new_objects": stats.new_objects,
        "new_bytes": stats.new_bytes + stats.manifest_bytes,
        "packs": stats.packs,
        "requests": report.requests,
        "retries": report.retries,
        "rate_limited": report.rate_limited,
        "headroom_pauses": report.headroom_pauses,
        "reauthentications": report.reauthentications,
        "requests_per_bucket": report.requests_per_bucket,
    });
    match out {
        // One line of JSON, then the id, so both `head -n1` and `tail -n1` work.
        Output::Json => println!("{summary}"),
        Output::Table => {
            eprintln!(
                "snapshot {} {:?}: {} resources in {} kinds, {} warning(s); {} new objects, {} new bytes; {} requests, {} retries, {} rate-limited, {} re-authentications; {elapsed:.1}s",
                snapshot.id,
                snapshot.status,
                snapshot.total(),
                snapshot.counts.len(),
                snapshot.warnings.len(),
                stats.new_objects,
                stats.new_bytes + stats.manifest_bytes,
                report.requests,
                report.retries,
                report.rate_limited,
                report.reauthentications,
            );
            for warning in &snapshot.warnings {
                eprintln!("warning: {warning}");
            }
        }
    }
    println!("{}", snapshot.id);
    if snapshot.status == SnapshotStatus::Failed {
        return Err(LocalError::Incomplete(snapshot.id.to_string()));
    }
    Ok(())
}

fn summary(snapshot: &SnapshotSummary) -> Value {
    json!({
        "id": snapshot.id,
        "provider": snapshot.provider,
        "org": snapshot.org,
        "started_at": rfc3339(snapshot.started_at),
        "finished_at": snapshot.finished_at.map(rfc3339),
        "status": snapshot.status,
        "resources": snapshot.resources,
        "kinds": snapshot.counts.len(),
        "warnings": snapshot.warnings.len(),
    })
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

/// `butterfly snapshots list`.
pub async fn list(out: Output, repo: &Path) -> Result<(), LocalError> {
    let repo = SnapshotRepository::open(repo).await?;
    let listing = repo.list_all().await?;
    // Flagged, not fatal: one damaged manifest must not hide every other snapshot.
    for damaged in &listing.damaged {
        eprintln!(
            "warning: {}: {} (see `butterfly check`)",
            damaged.location, damaged.message
        );
    }
    let records: Vec<Value> = listing.snapshots.iter().map(summary).collect();
    print_records(out, &Value::Array(records), SNAPSHOT_COLUMNS);
    Ok(())
}

/// `butterfly snapshots show ID`.
pub async fn show(out: Output, repo: &Path, id: &str) -> Result<(), LocalError> {
    let repo = SnapshotRepository::open(repo).await?;
    let snapshot = repo.summary(repo.resolve(id).await?).await?;
    let mut record = summary(&snapshot);
    record["root_digest"] = json!(snapshot.root_digest);
    record["counts"] = json!(snapshot.counts);
    record["warnings"] = json!(snapshot.warnings);
    print_snapshot(out, &record);
    Ok(())
}

/// `butterfly snapshots verify [ID]`: exit status 1 if anything is damaged.
pub async fn verify(out: Output, repo: &Path, id: Option<&str>) -> Result<(), LocalError> {
    let repo = SnapshotRepository::open(repo).await?;
    let id = match id {
        Some(id) => Some(repo.resolve(id).await?),
        None => None,
    };
    let report: VerifyReport = repo.verify(id).await?;
    match out {
        Output::Json => print_json(&json!(report)),
        Output::Table => {
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
