//! What a snapshot says beyond its contents: compliance reports (`butterfly compliance`)
//! and the Terraform export (`butterfly export terraform`). Both read a local repository
//! through `SnapshotSource`; the work is in `butterfly-compliance` and `butterfly-tf`.

use std::path::{Path, PathBuf};

use butterfly_compliance::report::{self, Format};
use butterfly_compliance::{Framework, Severity, evaluate};
use butterfly_core::source::{SnapshotSource, SourceError};
use butterfly_tf::{ExportOptions, export};
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
    let frameworks: Vec<Framework> = if args.framework == "all" {
        Framework::ALL.to_vec()
    } else {
        vec![args.framework.parse()?]
    };
    let format: Format = args.format.parse()?;
    let fail_on: Option<Severity> = args.fail_on.as_deref().map(str::parse).transpose()?;
    let repo = open(&args.repo).await?;
    let source: &dyn SnapshotSource = &repo;
    let snapshot = source
        .manifest(source.resolve(&args.snapshot).await?)
        .await?;
    // The report is stamped with the snapshot's own time, so the same snapshot always
    // gives the same bytes.
    let at = butterfly_core::rfc3339::format(&snapshot.started_at)?;
    let report = evaluate(source, &snapshot, &frameworks, &at).await?;
    let text = report::render(&report, format)?;
    match &args.out {
        Some(path) => std::fs::write(path, &text).map_err(|source| ReportError::Write {
            path: path.clone(),
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
