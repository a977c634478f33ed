//! What a snapshot says beyond its contents: compliance reports (`butterfly compliance`),
//! their trend between two snapshots (`butterfly compliance trend`) and the Terraform
//! export (`butterfly export terraform`). All read a local repository through
//! `SnapshotSource`; the work is in `butterfly-compliance` and `butterfly-tf`.

use std::path::{Path, PathBuf};

use butterfly_compliance::report::{self, Format};
use butterfly_compliance::{Framework, Report, Severity, Status, Trend, TrendItem, evaluate};
use butterfly_core::Snapshot;
use butterfly_core::source::{SnapshotSource, SourceError};
use butterfly_tf::{ExportOptions, export};
use comfy_table::presets::{ASCII_MARKDOWN, UTF8_FULL_CONDENSED};
use comfy_table::{ContentArrangement, Table};
use serde_json::json;

use crate::Output;
use crate::local::LocalError;
use crate::output::print_json;

/// Why a report or an export could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The repository could not be opened.
    #[error(transparent)]
    Local(#[from] LocalError),
    /// A snapshot or an object could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A framework, format or severity name was refused, or a report failed.
    #[error(transparent)]
    Compliance(#[from] butterfly_compliance::Error),
    /// The export failed.
    #[error(transparent)]
    Export(#[from] butterfly_tf::ExportError),
    /// The report could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The snapshot's time cannot be written as RFC 3339 (a year past 9999).
    #[error(transparent)]
    Time(#[from] butterfly_core::rfc3339::Rfc3339Error),
    /// Checks at or above `--fail-on` failed (the report was still written).
    #[error("{0} check(s) at or above the --fail-on severity failed")]
    Failed(usize),
}

/// Flags of `butterfly compliance`.
#[derive(Debug)]
pub struct ComplianceArgs {
    pub snapshot: String,
    pub repo: PathBuf,
    pub framework: String,
    pub format: String,
    pub out: Option<PathBuf>,
    pub fail_on: Option<String>,
}

async fn open(repo: &Path) -> Result<butterfly_store::snapshots::SnapshotRepository, ReportError> {
    Ok(crate::repository::open(repo)
        .await
        .map_err(LocalError::from)?)
}

/// `butterfly compliance SNAPSHOT --repo DIR --framework F --format FMT`.
pub async fn compliance(args: ComplianceArgs) -> Result<(), ReportError> {
    let frameworks = frameworks(&args.framework)?;
    let format: Format = args.format.parse()?;
    let fail_on: Option<Severity> = args.fail_on.as_deref().map(str::parse).transpose()?;
    let repo = open(&args.repo).await?;
    let source: &dyn SnapshotSource = &repo;
    let snapshot = source
        .manifest(source.resolve(&args.snapshot).await?)
        .await?;
    let report = report_of(source, &snapshot, &frameworks).await?;
    write_report(&report, format, args.out.as_deref(), fail_on)
}

/// The `--format`, `--fail-on` and `--framework` of `butterfly compliance`, checked
/// before anything is read.
pub fn compliance_flags(
    framework: &str,
    format: &str,
    fail_on: Option<&str>,
) -> Result<(Format, Option<Severity>), ReportError> {
    frameworks(framework)?;
    let format: Format = format.parse()?;
    let fail_on: Option<Severity> = fail_on.map(str::parse).transpose()?;
    Ok((format, fail_on))
}

/// Write a report in `format` to `out` (stdout without it); an error when a check at or
/// above `fail_on` failed. The same for a local report and one from the server.
pub fn write_report(
    report: &Report,
    format: Format,
    out: Option<&Path>,
    fail_on: Option<Severity>,
) -> Result<(), ReportError> {
    let text = report::render(report, format)?;
    match out {
        Some(path) => std::fs::write(path, &text).map_err(|source| ReportError::Write {
            path: path.to_owned(),
            source,
        })?,
        None => print!("{text}"),
    }
    if let Some(severity) = fail_on {
        let failed = report.failures_at_or_above(severity).count();
        if failed > 0 {
            return Err(ReportError::Failed(failed));
        }
    }
    Ok(())
}

/// `all` or one framework name.
fn frameworks(name: &str) -> Result<Vec<Framework>, ReportError> {
    Ok(if name == "all" {
        Framework::ALL.to_vec()
    } else {
        vec![name.parse()?]
    })
}

/// The report of `snapshot`, stamped with the snapshot's own time, so the same snapshot
/// always gives the same bytes.
async fn report_of(
    source: &dyn SnapshotSource,
    snapshot: &Snapshot,
    frameworks: &[Framework],
) -> Result<Report, ReportError> {
    let at = butterfly_core::rfc3339::format(&snapshot.started_at)?;
    Ok(evaluate(source, snapshot, frameworks, &at).await?)
}

/// Flags of `butterfly compliance trend`.
#[derive(Debug)]
pub struct TrendArgs {
    pub from: String,
    pub to: String,
    pub repo: PathBuf,
    pub framework: String,
}

/// `butterfly compliance trend A B --repo DIR`: both snapshots evaluated, then compared
/// with the crate's `trend`. JSON is the [`Trend`] (as the server's
/// `/api/v1/compliance/trend` answers); tables show each framework's counts before and
/// after, then every check that newly fails or was fixed.
pub async fn trend(out: Output, args: TrendArgs) -> Result<Trend, ReportError> {
    let frameworks = frameworks(&args.framework)?;
    let repo = open(&args.repo).await?;
    let source: &dyn SnapshotSource = &repo;
    let old = source.manifest(source.resolve(&args.from).await?).await?;
    let new = source.manifest(source.resolve(&args.to).await?).await?;
    let before = report_of(source, &old, &frameworks).await?;
    let after = report_of(source, &new, &frameworks).await?;
    Ok(show_trend(out, &before, &after))
}

/// What got better or worse from `before` to `after`, printed; the same for local
/// reports and the server's.
pub fn show_trend(out: Output, before: &Report, after: &Report) -> Trend {
    let trend = butterfly_compliance::trend(before, after);
    match out {
        Output::Json => print_json(&serde_json::to_value(&trend).unwrap_or_default()),
        Output::Table | Output::Markdown => print_trend(out, before, after, &trend),
    }
    trend
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

fn print_trend(out: Output, before: &Report, after: &Report, trend: &Trend) {
    let markdown = out == Output::Markdown;
    let (from, to) = (&trend.before, &trend.after);
    if markdown {
        println!(
            "## Compliance from `{}` ({}) to `{}` ({})\n",
            from.id, from.taken_at, to.id, to.taken_at
        );
    } else {
        println!(
            "compliance from {} ({}) to {} ({})",
            from.id, from.taken_at, to.id, to.taken_at
        );
    }
    let mut frameworks = table(
        markdown,
        [
            "FRAMEWORK",
            "FAILED BEFORE",
            "FAILED AFTER",
            "SCORE BEFORE",
            "SCORE AFTER",
            "NEWLY FAILING",
            "FIXED",
        ],
    );
    for summary in &after.summaries {
        let framework = summary.framework;
        let old = before.summaries.iter().find(|s| s.framework == framework);
        let count = |items: &[TrendItem]| items.iter().filter(|i| i.framework == framework).count();
        frameworks.add_row([
            framework.to_string(),
            old.map_or_else(String::new, |s| s.failed.to_string()),
            summary.failed.to_string(),
            old.map_or_else(String::new, |s| format!("{}%", s.score_percent)),
            format!("{}%", summary.score_percent),
            count(&trend.newly_failing).to_string(),
            count(&trend.fixed).to_string(),
        ]);
    }
    println!("{frameworks}\n");
    println!(
        "{} newly failing, {} fixed, {} still failing\n",
        trend.newly_failing.len(),
        trend.fixed.len(),
        trend.still_failing
    );
    if trend.newly_failing.is_empty() && trend.fixed.is_empty() {
        return;
    }
    let mut checks = table(
        markdown,
        [
            "CHANGE",
            "FRAMEWORK",
            "CONTROL",
            "CHECK",
            "SEVERITY",
            "BEFORE",
            "AFTER",
        ],
    );
    let status = |s: Option<Status>| s.map_or("not evaluated", Status::as_str).to_owned();
    for (change, items) in [("worse", &trend.newly_failing), ("better", &trend.fixed)] {
        for item in items {
            checks.add_row([
                change.to_owned(),
                item.framework.to_string(),
                item.control.clone(),
                item.check_id.clone(),
                item.severity.to_string(),
                status(item.before),
                status(item.after),
            ]);
        }
    }
    println!("{checks}");
}

/// Flags of `butterfly export terraform`.
#[derive(Debug)]
pub struct TerraformArgs {
    pub snapshot: String,
    pub repo: PathBuf,
    pub out: PathBuf,
    pub kinds: Vec<String>,
    pub skip_users: bool,
}

/// `butterfly export terraform SNAPSHOT --repo DIR --out DIR`.
pub async fn terraform(out: Output, args: TerraformArgs) -> Result<(), ReportError> {
    let repo = open(&args.repo).await?;
    let source: &dyn SnapshotSource = &repo;
    let id = source.resolve(&args.snapshot).await?;
    let mut options = ExportOptions::new().skip_users(args.skip_users);
    for kind in args.kinds {
        options = options.kind(kind);
    }
    let exported = export(source, id, &options).await?;
    exported.write_to(&args.out)?;
    let report = &exported.report;
    match out {
        Output::Json => print_json(&json!({
            "out": args.out,
            "files": exported.files.keys().collect::<Vec<_>>(),
            "resources": report.resources,
            "imports": report.imports,
            "secret_variables": report.secret_variables,
            "skipped": report.skipped,
            "unresolved_references": report.unresolved_references,
            "uncovered_kinds": report.uncovered_kinds,
        })),
        Output::Table | Output::Markdown => {
            let written: usize = report.resources.values().sum();
            println!(
                "wrote {} file(s) to {}: {written} resources, {} import blocks, {} secret variable(s)",
                exported.files.len(),
                args.out.display(),
                report.imports,
                report.secret_variables.len()
            );
            for (kind, reasons) in &report.skipped {
                for (reason, n) in reasons {
                    eprintln!("skipped {n} {kind}: {reason}");
                }
            }
            if !report.uncovered_kinds.is_empty() {
                eprintln!("not covered: {}", report.uncovered_kinds.join(", "));
            }
        }
    }
    Ok(())
}
