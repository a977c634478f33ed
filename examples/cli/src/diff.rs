//! `butterfly diff A B --repo DIR`: what changed between two snapshots, or between a
//! snapshot and the live org (`B` = `live`), field by field and rated by severity.
//!
//! The comparison itself is `butterfly_core::diff`; this module opens the repository,
//! fetches the live org when asked (into memory, never into the repository), and prints.

use std::path::PathBuf;

use async_trait::async_trait;
use butterfly_core::diff::{DiffOptions, DiffRules, Severity, SnapshotDiff, diff_snapshots};
use butterfly_core::source::{InMemorySnapshotSource, SnapshotSource, SourceError};
use butterfly_core::{Digest, ResourceKind, Snapshot, SnapshotId, SnapshotSummary, SystemClock};
use butterfly_providers::backup::run_okta_backup;
use butterfly_providers::okta::fetcher::{FetchEvent, FetchOptions};
use butterfly_store::snapshots::SnapshotRepository;
use comfy_table::presets::{ASCII_MARKDOWN, UTF8_FULL_CONDENSED};
use comfy_table::{ContentArrangement, Table};
use serde_json::Value;

use crate::Output;
use crate::local::{LocalError, okta_credentials};
use crate::output::print_json;

/// The word that stands for the live org in place of a snapshot id.
pub const LIVE: &str = "live";

/// Flags of `butterfly diff`.
#[derive(Debug)]
pub struct DiffArgs {
    pub from: String,
    pub to: String,
    pub repo: PathBuf,
    pub kinds: Vec<String>,
    pub min_severity: Severity,
    pub include_volatile: bool,
    /// For `live`: the org and the service app that reads it.
    pub org_url: Option<String>,
    pub client_id: Option<String>,
    pub key_id: Option<String>,
    pub private_key: Option<PathBuf>,
}

/// Why a diff could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiffError {
    /// The repository, a snapshot or an object could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The repository could not be opened.
    #[error(transparent)]
    Local(#[from] LocalError),
    /// `live` was asked for without the org's credentials.
    #[error("`live` needs --org-url, --client-id and --private-key")]
    LiveNeedsCredentials,
    /// `live` stands only for the newer side.
    #[error("`live` can only be the second snapshot: `butterfly diff SNAPSHOT live`")]
    LiveFirst,
    /// The live org could not be read.
    #[error("cannot read the live org: {0}")]
    Live(#[from] butterfly_providers::backup::BackupError),
}

/// Reads objects from the live org's in-memory snapshot, then from the repository: a
/// live diff compares across both.
struct Both<'a> {
    repo: &'a SnapshotRepository,
    live: &'a InMemorySnapshotSource,
}

#[async_trait]
impl SnapshotSource for Both<'_> {
    async fn summaries(&self) -> Result<Vec<SnapshotSummary>, SourceError> {
        let mut all = self.repo.summaries().await?;
        all.extend(self.live.summaries().await?);
        Ok(all)
    }

    async fn manifest(&self, id: SnapshotId) -> Result<Snapshot, SourceError> {
        match self.live.manifest(id).await {
            Err(SourceError::NotFound(_)) => SnapshotSource::manifest(self.repo, id).await,
            other => other,
        }
    }

    async fn object(&self, digest: &Digest) -> Result<Value, SourceError> {
        match self.live.object(digest).await {
            Err(SourceError::MissingObject(_)) => self.repo.object(digest).await,
            other => other,
        }
    }
}

/// `butterfly diff`.
pub async fn diff(out: Output, args: DiffArgs) -> Result<SnapshotDiff, DiffError> {
    if args.from == LIVE {
        return Err(DiffError::LiveFirst);
    }
    let repo = crate::repository::open(&args.repo)
        .await
        .map_err(LocalError::from)?;
    let options = DiffOptions::default()
        .with_kinds(args.kinds.iter().map(ResourceKind::new))
        .with_min_severity(args.min_severity)
        .with_volatile(args.include_volatile);
    // Through SnapshotSource, as every reader of snapshots does.
    let source: &dyn SnapshotSource = &repo;
    let old = source.manifest(source.resolve(&args.from).await?).await?;
    let rules = DiffRules::for_provider(old.provider);
    let diff = if args.to == LIVE {
        let (Some(org_url), Some(client_id), Some(private_key)) =
            (&args.org_url, &args.client_id, &args.private_key)
        else {
            return Err(DiffError::LiveNeedsCredentials);
        };
        let credentials =
            okta_credentials(org_url, client_id.clone(), args.key_id.clone(), private_key)?;
        // The live org is read as a backup is, into memory only: a diff writes nothing.
        let live = InMemorySnapshotSource::new();
        let outcome = run_okta_backup(
            credentials,
            FetchOptions::default(),
            &live,
            &SystemClock,
            |_: &FetchEvent| {},
        )
        .await?;
        for warning in outcome.warnings() {
            eprintln!("warning: live org: {warning}");
        }
        let new = live.manifest(outcome.snapshot_id()).await?;
        let both = Both {
            repo: &repo,
            live: &live,
        };
        let mut diff = diff_snapshots(&both, &old, &new, &rules, &options).await?;
        LIVE.clone_into(&mut diff.to);
        diff
    } else {
        let new = source.manifest(source.resolve(&args.to).await?).await?;
        diff_snapshots(source, &old, &new, &rules, &options).await?
    };
    print_diff(out, &diff);
    Ok(diff)
}

/// Print a diff as JSON, a table or Markdown.
pub fn print_diff(out: Output, diff: &SnapshotDiff) {
    match out {
        Output::Json => print_json(&serde_json::to_value(diff).unwrap_or(Value::Null)),
        Output::Table | Output::Markdown => {
            let markdown = out == Output::Markdown;
            if markdown {
                println!("## Changes from `{}` to `{}`\n", diff.from, diff.to);
            } else {
                println!("changes from {} to {}", diff.from, diff.to);
            }
            let mut summary = table(markdown, ["KIND", "ADDED", "REMOVED", "CHANGED"]);
            for (kind, counts) in &diff.summary.by_kind {
                summary.add_row([
                    kind.to_string(),
                    counts.added.to_string(),
                    counts.removed.to_string(),
                    counts.changed.to_string(),
                ]);
            }
            println!("{summary}\n");
            let severities: Vec<String> = diff
                .summary
                .by_severity
                .iter()
                .rev()
                .map(|(severity, n)| format!("{n} {severity}"))
                .collect();
            println!(
                "{} added, {} removed, {} changed{}{}\n",
                diff.summary.added,
                diff.summary.removed,
                diff.summary.changed,
                if severities.is_empty() { "" } else { "; " },
                severities.join(", ")
            );
            let mut rows = table(
                markdown,
                [
                    "SEVERITY", "WHAT", "KIND", "NAME", "FIELD", "BEFORE", "AFTER",
                ],
            );
            let mut any = false;
            for entry in &diff.added {
                any = true;
                rows.add_row(row(
                    entry.severity,
                    "added",
                    &entry.kind,
                    &entry.name,
                    "",
                    None,
                    None,
                ));
            }
            for entry in &diff.removed {
                any = true;
                rows.add_row(row(
                    entry.severity,
                    "removed",
                    &entry.kind,
                    &entry.name,
                    "",
                    None,
                    None,
                ));
            }
            for resource in &diff.changed {
                for change in &resource.changes {
                    any = true;
                    rows.add_row(row(
                        change.severity,
                        "changed",
                        &resource.kind,
                        &resource.name,
                        &change.change.pointer,
                        change.change.old.as_ref(),
                        change.change.new.as_ref(),
                    ));
                }
            }
            if any {
                println!("{rows}");
            }
        }
    }
}

fn table<const N: usize>(markdown: bool, header: [&str; N]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(if markdown {
            ASCII_MARKDOWN
        } else {
            UTF8_FULL_CONDENSED
        })
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    table
}

fn row(
    severity: Severity,
    what: &str,
    kind: &ResourceKind,
    name: &str,
    field: &str,
    before: Option<&Value>,
    after: Option<&Value>,
) -> Vec<String> {
    let show = |v: Option<&Value>| match v {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    vec![
        severity.to_string(),
        what.to_owned(),
        kind.to_string(),
        name.to_owned(),
        field.to_owned(),
        show(before),
        show(after),
    ]
}
