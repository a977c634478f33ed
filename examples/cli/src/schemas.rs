//! `butterfly schemas --out DIR`: the JSON Schema of every JSON body users script
//! against (CLI output and the server's API bodies), one file per type, generated from the Rust types with schemars. The
//! checked-in copies live in `schemas/` at the repository root; a test fails when they
//! differ from what this writes (regenerate with
//! `cargo run -p butterfly-cli -- schemas --out schemas`).

use std::path::{Path, PathBuf};

use butterfly_compliance::{Report, Trend};
use butterfly_core::api::{
    ApiErrorBody, BackupJobBody, ConnectionBody, RestoreJobBody, RestorePlanRequestBody,
    RestoreRequestBody, ScheduleBody, SyncRequestBody,
};
use butterfly_core::diff::SnapshotDiff;
use butterfly_core::restore::RestorePlan;
use butterfly_core::{Snapshot, SnapshotSummary};
use butterfly_providers::backup::BackupOutcome;
use butterfly_store::export::ResourceListing;
use schemars::{JsonSchema, SchemaGenerator};

/// Why the schemas could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SchemasError {
    /// The directory or a file could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The directory or file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A schema did not serialize (it always should).
    #[error("cannot serialize the schema {name}")]
    Serialize {
        /// The file name.
        name: &'static str,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

fn schema<T: JsonSchema>() -> schemars::Schema {
    SchemaGenerator::default().into_root_schema_for::<T>()
}

/// Every schema, as (file name, schema), in a fixed order.
pub fn all() -> Vec<(&'static str, schemars::Schema)> {
    vec![
        ("snapshot-summary.schema.json", schema::<SnapshotSummary>()),
        ("snapshot.schema.json", schema::<Snapshot>()),
        ("snapshot-diff.schema.json", schema::<SnapshotDiff>()),
        ("backup-outcome.schema.json", schema::<BackupOutcome>()),
        ("compliance-report.schema.json", schema::<Report>()),
        (
            "snapshot-resources.schema.json",
            schema::<Vec<ResourceListing>>(),
        ),
        ("connection.schema.json", schema::<ConnectionBody>()),
        ("backup-job.schema.json", schema::<BackupJobBody>()),
        ("schedule.schema.json", schema::<ScheduleBody>()),
        ("api-error.schema.json", schema::<ApiErrorBody>()),
        ("compliance-trend.schema.json", schema::<Trend>()),
        ("restore-plan.schema.json", schema::<RestorePlan>()),
        (
            "restore-plan-request.schema.json",
            schema::<RestorePlanRequestBody>(),
        ),
        (
            "restore-request.schema.json",
            schema::<RestoreRequestBody>(),
        ),
        ("sync-request.schema.json", schema::<SyncRequestBody>()),
        ("restore-job.schema.json", schema::<RestoreJobBody>()),
    ]
}

/// Each schema as the file text written: pretty JSON and a final newline.
pub fn rendered() -> Result<Vec<(&'static str, String)>, SchemasError> {
    all()
        .into_iter()
        .map(|(name, schema)| {
            serde_json::to_string_pretty(&schema)
                .map(|text| (name, text + "\n"))
                .map_err(|source| SchemasError::Serialize { name, source })
        })
        .collect()
}

/// Writes every schema into `dir` (created if missing); returns the files written.
pub fn write(dir: &Path) -> Result<Vec<PathBuf>, SchemasError> {
    std::fs::create_dir_all(dir).map_err(|source| SchemasError::Write {
        path: dir.to_owned(),
        source,
    })?;
    let mut written = Vec::new();
    for (name, text) in rendered()? {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| SchemasError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}
