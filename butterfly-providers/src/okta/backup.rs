//! The Okta fetcher's pages into a [`SnapshotSink`], and the status the snapshot
//! deserves. [`crate::backup::run_okta_backup`] opens the sink before and seals it after.

use butterfly_core::{SnapshotSink, SnapshotStatus};
use tokio::sync::mpsc;

use super::fetcher::{FetchEvent, FetchReport, OktaFetcher};
use crate::backup::BackupError;

/// Pages waiting between the fetcher and the sink. One on purpose: when writing falls
/// behind, the fetch waits instead of piling pages up in memory. Pages in this channel
/// are outside the fetcher's own bound on pages in memory, and a parsed page is large
/// (a page of 200 users about a MiB, of an app's assignments up to 10 MiB): four here
/// were 40 MiB of a 200K-user backup's peak. The fetcher's concurrent listings keep
/// their pages (within that bound) while they wait to send them.
const PAGES_IN_FLIGHT: usize = 1;

/// How a fetch into a sink went.
#[derive(Debug, Clone)]
pub(crate) struct BackupRun {
    /// The status the snapshot should be sealed with.
    pub(crate) status: SnapshotStatus,
    /// The fetcher's counters.
    pub(crate) report: FetchReport,
}

/// The status a snapshot deserves after a fetch: any failed kind makes it `failed`, any
/// skipped kind `partial`.
fn status_after(report: &FetchReport) -> SnapshotStatus {
    if !report.failed.is_empty() {
        SnapshotStatus::Failed
    } else if !report.skipped.is_empty() {
        SnapshotStatus::Partial
    } else {
        SnapshotStatus::Complete
    }
}

/// Fetch every kind with `fetcher` into `sink`, calling `on_event` for each event first.
/// Returns once every kind is finished, skipped or failed.
///
/// With `checkpoint`, each finished kind is reported to the sink
/// ([`SnapshotSink::kind_finished`]), which may record it so a killed backup resumes
/// without fetching it again: only a full fetch does that, as an incremental one lists
/// only part of some kinds until the previous snapshot fills them in.
pub(crate) async fn drive<S: SnapshotSink>(
    fetcher: OktaFetcher,
    sink: &mut S,
    checkpoint: bool,
    mut on_event: impl FnMut(&FetchEvent) + Send,
) -> Result<BackupRun, BackupError> {
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
            // Every page of the kind came before this event, on the same channel.
            FetchEvent::KindFinished { kind, .. } if checkpoint => {
                if let Err(e) = sink.kind_finished(&kind).await {
                    sink_error = Some(e);
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
    let fetched = fetch.await;
    if let Some(e) = sink_error {
        return Err(BackupError::Storage(Box::new(e)));
    }
    let report = fetched.map_err(BackupError::Task)??;
    Ok(BackupRun {
        status: status_after(&report),
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_outranks_skipped_outranks_complete() {
        let mut report = FetchReport::default();
        assert_eq!(status_after(&report), SnapshotStatus::Complete);
        report
            .skipped
            .insert(butterfly_core::ResourceKind::new("brand"), "404".into());
        assert_eq!(status_after(&report), SnapshotStatus::Partial);
        report.failed.insert(
            butterfly_core::ResourceKind::new("user"),
            "server error 500".into(),
        );
        assert_eq!(status_after(&report), SnapshotStatus::Failed);
    }
}
