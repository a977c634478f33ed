//! Local repository maintenance: create one, check it, repair its index.
//!
//! ```text
//! butterfly init --repo ./backups
//! butterfly check --repo ./backups               # structure: manifests, indexes, packs
//! butterfly check --repo ./backups --read-data   # also read and hash every object
//! butterfly repair index --repo ./backups
//! ```
//!
//! `check` without `--read-data` reads manifests, entry lists and indexes, and lists the
//! packs with their sizes: it finds a missing or truncated pack and an object no index
//! has, but not a byte changed inside a pack, which keeps its size. `--read-data` reads,
//! decrypts and hashes every object, and finds that too. `repair index` reads every pack
//! back and rewrites each index with only the objects that still read (removing the
//! index of a missing pack), so the next backup stores the others again.

use std::path::Path;

use butterfly_store::snapshots::{SnapshotError, SnapshotRepository, VerifyReport};
use serde_json::json;

use crate::Output;
use crate::output::print_json;

/// Errors of repository commands.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryCommandError {
    /// The repository could not be opened, read or written.
    #[error(transparent)]
    Repository(#[from] SnapshotError),
    /// `check` found problems.
    #[error("check found {0} problem(s)")]
    Damaged(usize),
}

/// `butterfly init --repo DIR`: a new, empty repository with a fresh master key.
pub async fn init(out: Output, dir: &Path) -> Result<(), RepositoryCommandError> {
    SnapshotRepository::init(dir).await?;
    match out {
        Output::Json => print_json(&json!({"repository": dir, "created": true})),
        Output::Table | Output::Markdown => println!(
            "created a snapshot repository in {}; its key is {}: keep a copy elsewhere, \
             nothing in it can be read without it",
            dir.display(),
            dir.join(butterfly_store::MASTER_KEY_FILE).display()
        ),
    }
    Ok(())
}

/// `butterfly check --repo DIR [--read-data]`: exit status 1 on problems.
pub async fn check(out: Output, dir: &Path, read_data: bool) -> Result<(), RepositoryCommandError> {
    let repo = SnapshotRepository::open(dir).await?;
    let report = repo.check(read_data).await?;
    print_report(out, &report, read_data);
    if report.problems.is_empty() {
        Ok(())
    } else {
        Err(RepositoryCommandError::Damaged(report.problems.len()))
    }
}

fn print_report(out: Output, report: &VerifyReport, read_data: bool) {
    match out {
        Output::Json => {
            let mut value = json!(report);
            value["read_data"] = json!(read_data);
            print_json(&value);
        }
        Output::Table | Output::Markdown => {
            let what = if read_data {
                format!(
                    "{} snapshot(s), {} entries, {} objects read in {} pack(s)",
                    report.snapshots, report.entries, report.objects, report.packs
                )
            } else {
                format!(
                    "{} snapshot(s), {} entries, {} objects indexed, {} pack(s) (structure only; \
                     --read-data also reads every object)",
                    report.snapshots, report.entries, report.objects, report.packs
                )
            };
            let verdict = if report.problems.is_empty() {
                "ok".to_owned()
            } else {
                format!("{} problem(s)", report.problems.len())
            };
            println!("checked {what}: {verdict}");
            for problem in &report.problems {
                println!("{}: {}", problem.location, problem.message);
            }
        }
    }
}

/// `butterfly repair index --repo DIR`.
pub async fn repair_index(out: Output, dir: &Path) -> Result<(), RepositoryCommandError> {
    let repo = SnapshotRepository::open(dir).await?;
    let report = repo.repair_index().await?;
    match out {
        Output::Json => print_json(&json!(report)),
        Output::Table | Output::Markdown => {
            println!(
                "{} index(es): {} rewritten, {} removed; {} object(s) kept, {} dropped",
                report.indexes,
                report.indexes_rewritten,
                report.indexes_removed,
                report.objects_kept,
                report.objects_dropped
            );
            if report.objects_dropped > 0 {
                println!(
                    "the next backup stores the dropped objects again; snapshots that need \
                     one of them stay damaged until then (see `butterfly check`)"
                );
            }
        }
    }
    Ok(())
}
