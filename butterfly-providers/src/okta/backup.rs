//! One whole backup: the fetcher's pages into a [`SnapshotSink`], and the status the
//! snapshot deserves.
//!
//! The CLI's local mode and the server's backup jobs both run a backup through
//! [`run_backup`], so they agree on what a skipped or failed kind means for the snapshot:
//! every kind fetched is `complete`; a kind skipped (scope not granted, feature off) makes
//! it `partial`; a kind that failed after its retries makes it `failed`, and what was
//! fetched is kept for inspection. Each skip and failure becomes a warning in the manifest.
//!
//! The caller opens the sink before and seals it after, with [`BackupRun::status`].

use butterfly_core::{SnapshotSink, SnapshotStatus};
use tokio::sync::mpsc;

use super::fetcher::{FetchError, FetchEvent, FetchReport, OktaFetcher};

/// Pages waiting between the fetcher and the sink. Short on purpose: when writing falls
/// behind, the fetch waits instead of piling pages up in memory.
const PAGES_IN_FLIGHT: usize = 16;

/// Why a backup stopped before the fetch finished.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError<E: std::error::Error + 'static> {
    /// The fetch could not start or stopped (sign-in refused, bad options...).
    #[error("backup failed: {0}")]
    Fetch(#[from] FetchError),
    /// The sink could not store a page.
    #[error("cannot store the snapshot: {0}")]
    Sink(#[source] E),
    /// The fetch task panicked or was cancelled.
    #[error("the fetch task stopped: {0}")]
    Task(String),
}

/// How a backup went.
#[derive(Debug, Clone)]
pub struct BackupRun {
    /// The status the snapshot should be sealed with.
    pub status: SnapshotStatus,
    /// The fetcher's counters.
    pub report: FetchReport,
}

/// Fetch every kind with `fetcher` into `sink`, calling `on_event` for each event first
/// (progress bars, job progress). Returns once every kind is finished, skipped or failed.
pub async fn run_backup<S: SnapshotSink>(
    fetcher: OktaFetcher,
    sink: &mut S,
    mut on_event: impl FnMut(&FetchEvent) + Send,
) -> Result<BackupRun, BackupError<S::Error>> {
    let (tx, mut rx) = mpsc::channel(PAGES_IN_FLIGHT);
    // Its own task, so pages keep arriving while the sink writes the previous one.
    let fetch = tokio::spawn(async move { fetcher.run(tx).await });
    let mut sink_error = None;
    while let Some(event) = rx.recv().await {
        on_event(&event);
        match event {
            FetchEvent::Resources { resources, .. } => {
                if let Err(e) = sink.add(&resources).await {
                    sink_error = Some(e);
                    // Dropping the receiver stops the fetch at its next page.
                    break;
                }
            }
            FetchEvent::KindSkipped { kind, reason } => {
                sink.warn(format!("kind `{kind}` skipped: {reason}"));
            }
            FetchEvent::KindFailed { kind, reason } => {
                sink.warn(format!("kind `{kind}` failed: {reason}"));
            }
            _ => {}
        }
    }
    drop(rx);
    let fetched = fetch.await.map_err(|e| BackupError::Task(e.to_string()));
    if let Some(e) = sink_error {
        return Err(BackupError::Sink(e));
    }
    let report = fetched??;
    let status = if !report.failed.is_empty() {
        SnapshotStatus::Failed
    } else if !report.skipped.is_empty() {
        SnapshotStatus::Partial
    } else {
        SnapshotStatus::Complete
    };
    Ok(BackupRun { status, report })
}
