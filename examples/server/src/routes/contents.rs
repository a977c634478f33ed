//! What is inside a snapshot: `GET /api/v1/snapshots/{id}/resources[?kind=K]` and
//! `GET /api/v1/snapshots/{id}/resources/{kind}/{resource_id}` (`view backup contents`),
//! and `GET /api/v1/snapshots/{id}/download?format=jsonl|tar.zst` (`download backups`).
//!
//! The same listing, resource and download bytes as `butterfly snapshots ls|cat|download`
//! on a local repository: both are `butterfly_store::export`. Snapshot ids may be
//! unambiguous prefixes, as for `GET /snapshots/{id}`. A nested kind's scoped id
//! (`00p1/0pr1`) may be sent as is or with its slash percent-encoded.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use butterfly_core::source::SnapshotSource;
use butterfly_core::{Resource, ResourceKind, Snapshot, SnapshotId};
use butterfly_store::SnapshotRepository;
use butterfly_store::export::{self, ExportError, ExportFormat, ResourceListing};
use futures::TryStreamExt as _;
use serde::Deserialize;

use super::backups::{repository_error, resolve_prefix, source_error};
use crate::app::AppState;
use crate::error::ApiError;
use crate::rbac::Caller;

/// The query of `GET /snapshots/{id}/resources`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesQuery {
    /// Only this kind.
    #[serde(default)]
    kind: Option<String>,
}

/// The query of `GET /snapshots/{id}/download`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadQuery {
    /// `jsonl` (the default) or `tar.zst`.
    #[serde(default)]
    format: Option<String>,
}

/// The caller's team's repository and the manifest of the snapshot `id` names (an id or
/// an unambiguous prefix).
async fn open(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(Arc<SnapshotRepository>, Snapshot), ApiError> {
    let repo = state
        .backups
        .repository(caller.team_id)
        .await
        .map_err(repository_error)?;
    let id = if let Ok(id) = id.parse::<SnapshotId>() {
        id
    } else {
        let ids = repo.ids().await.map_err(|e| repository_error(e.into()))?;
        resolve_prefix(&ids, id)?
    };
    let source: &dyn SnapshotSource = repo.as_ref();
    let snapshot = source.manifest(id).await.map_err(source_error)?;
    Ok((repo, snapshot))
}

fn export_error(e: ExportError) -> ApiError {
    match e {
        ExportError::UnknownKind { .. } => ApiError::NotFound("resource kind"),
        ExportError::UnknownResource { .. } => ApiError::NotFound("resource"),
        ExportError::UnknownFormat(_) => ApiError::BadRequest(e.to_string()),
        ExportError::Source(e) => source_error(e),
        other => ApiError::Internal(Box::new(other)),
    }
}

/// The snapshot's resources (only those of `kind`, when given), in manifest order: kind,
/// id, display name, digest and size of each, the JSON of `butterfly snapshots ls
/// --output json`.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<ResourcesQuery>, QueryRejection>,
) -> Result<Json<Vec<ResourceListing>>, ApiError> {
    let Query(query) = query?;
    let (repo, snapshot) = open(&state, &caller, &id).await?;
    let kind = query
        .kind
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(ResourceKind::new);
    let listed = export::list_resources(repo.as_ref(), &snapshot, kind.as_ref())
        .await
        .map_err(export_error)?;
    Ok(Json(listed))
}

/// One resource as it was backed up: `{"kind", "id", "attributes"}`, the shape of a line
/// of the JSON-lines download.
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, kind, resource_id)): Path<(String, String, String)>,
) -> Result<Json<Resource>, ApiError> {
    let (repo, snapshot) = open(&state, &caller, &id).await?;
    let resource = export::read_resource(
        repo.as_ref(),
        &snapshot,
        &ResourceKind::new(kind),
        &resource_id,
    )
    .await
    .map_err(export_error)?;
    Ok(Json(resource))
}

/// The whole snapshot as one file, streamed as it is read: JSON lines or a tar.zst (see
/// `butterfly_store::export`), with a `Content-Disposition` naming the file. A failure
/// after the first bytes can only cut the body short (the status is sent); it is logged.
pub async fn download(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<DownloadQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let format = match query.format.as_deref() {
        None => ExportFormat::Jsonl,
        Some(text) => text.parse().map_err(export_error)?,
    };
    let (repo, snapshot) = open(&state, &caller, &id).await?;
    let file_name = format.file_name(&snapshot);
    let snapshot_id = snapshot.id;
    let source: Arc<dyn SnapshotSource> = repo;
    let stream = export::export(source, snapshot, format).inspect_err(move |e| {
        tracing::error!(snapshot = %snapshot_id, error = %e, "snapshot download cut short");
    });
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
