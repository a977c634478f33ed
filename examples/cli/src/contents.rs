//! What is inside a snapshot of a local repository:
//!
//! ```text
//! butterfly snapshots ls 3f2a --repo ./backups [--kind user]
//! butterfly snapshots cat 3f2a group 00g1abc --repo ./backups
//! butterfly snapshots download 3f2a --repo ./backups --format tar.zst --out okta.tar.zst
//! ```
//!
//! Listing, reading and the download formats are `butterfly_store::export`, which the
//! server's `/api/v1/snapshots/{id}/resources` and `/download` use too.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use butterfly_core::ResourceKind;
use butterfly_core::source::{SnapshotSource, SourceError};
use butterfly_store::SnapshotRepository;
use butterfly_store::export::{self, ExportError, ExportFormat, WriteExportError};
use serde_json::json;

use crate::Output;
use crate::local::LocalError;
use crate::output::{Column, print_json, print_records};

/// Why a contents command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContentsError {
    /// The repository could not be opened.
    #[error(transparent)]
    Local(#[from] LocalError),
    /// The snapshot could not be found or read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A kind, resource or format that is not there.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// The download could not be written.
    #[error(transparent)]
    Download(#[from] WriteExportError),
    /// The output file could not be created or moved into place.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

const LISTING_COLUMNS: &[Column] = &[
    Column::new("KIND", "/kind"),
    Column::new("ID", "/id"),
    Column::new("NAME", "/name"),
    Column::new("DIGEST", "/digest"),
    Column::new("BYTES", "/bytes"),
];

async fn open(
    repo: &Path,
    id: &str,
) -> Result<(Arc<SnapshotRepository>, butterfly_core::Snapshot), ContentsError> {
    let repo = crate::repository::open(repo)
        .await
        .map_err(LocalError::from)?;
    // Through SnapshotSource, as every reader of snapshots does.
    let source: &dyn SnapshotSource = &repo;
    let snapshot = source.manifest(source.resolve(id).await?).await?;
    Ok((Arc::new(repo), snapshot))
}

/// `butterfly snapshots ls ID [--kind K]`.
pub async fn ls(
    out: Output,
    repo: &Path,
    id: &str,
    kind: Option<&str>,
) -> Result<(), ContentsError> {
    let (repo, snapshot) = open(repo, id).await?;
    let kind = kind.map(ResourceKind::new);
    let listed = export::list_resources(repo.as_ref(), &snapshot, kind.as_ref()).await?;
    print_records(out, &json!(listed), LISTING_COLUMNS);
    Ok(())
}

/// `butterfly snapshots cat ID KIND RESOURCE_ID`: the resource as stored, pretty.
pub async fn cat(
    out: Output,
    repo: &Path,
    id: &str,
    kind: &str,
    resource_id: &str,
) -> Result<(), ContentsError> {
    let (repo, snapshot) = open(repo, id).await?;
    let resource = export::read_resource(
        repo.as_ref(),
        &snapshot,
        &ResourceKind::new(kind),
        resource_id,
    )
    .await?;
    if out == Output::Markdown {
        println!("```json");
        print_json(&resource.attributes);
        println!("```");
    } else {
        print_json(&resource.attributes);
    }
    Ok(())
}

/// `butterfly snapshots download ID --format F --out FILE` (`-` for stdout). A file is
/// written beside its final name and moved into place once complete, so a failed
/// download never leaves a truncated file under the name asked for.
pub async fn download(
    out: Output,
    repo: &Path,
    id: &str,
    format: &str,
    path: &Path,
) -> Result<(), ContentsError> {
    let format: ExportFormat = format.parse()?;
    let (repo, snapshot) = open(repo, id).await?;
    let resources: u64 = snapshot.counts.values().sum();
    let snapshot_id = snapshot.id;
    let source: Arc<dyn SnapshotSource> = repo;
    if path == Path::new("-") {
        let mut stdout = std::io::BufWriter::new(std::io::stdout());
        match export::write_export(source, snapshot, format, &mut stdout).await {
            Ok(_) => {}
            // The reader took what it wanted (`| head`), as with every other command.
            Err(WriteExportError::Write(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => return Err(e.into()),
        }
        return Ok(());
    }
    let partial = partial_path(path);
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| ContentsError::Write { path, source }
    };
    let file = std::fs::File::create(&partial).map_err(write_err(&partial))?;
    let mut writer = std::io::BufWriter::new(file);
    let written = match export::write_export(source, snapshot, format, &mut writer).await {
        Ok(written) => written,
        Err(e) => {
            drop(writer);
            let _ = std::fs::remove_file(&partial);
            return Err(e.into());
        }
    };
    let file = writer.into_inner().map_err(|e| ContentsError::Write {
        path: partial.clone(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(write_err(&partial))?;
    std::fs::rename(&partial, path).map_err(write_err(path))?;
    let report = json!({
        "snapshot": snapshot_id,
        "format": format.as_str(),
        "out": path,
        "resources": resources,
        "bytes": written,
    });
    match out {
        Output::Json => print_json(&report),
        Output::Table | Output::Markdown => {
            let mut stderr = std::io::stderr();
            let _ = writeln!(
                stderr,
                "wrote snapshot {snapshot_id} ({resources} resources) as {format} to {}: {written} bytes",
                path.display()
            );
        }
    }
    Ok(())
}

pub(crate) fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(ToOwned::to_owned).unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_files_sit_beside_the_target() {
        assert_eq!(
            partial_path(Path::new("/tmp/x/okta.tar.zst")),
            Path::new("/tmp/x/okta.tar.zst.partial")
        );
        assert_eq!(
            partial_path(Path::new("out.jsonl")),
            Path::new("out.jsonl.partial")
        );
    }
}
