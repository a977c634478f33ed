//! What a snapshot says beyond its contents: compliance reports and the Terraform export.
//!
//! - `GET /api/v1/snapshots/{id}/compliance?framework=F` (`view compliance reports`): the
//!   JSON report, as `butterfly compliance --format json` prints it.
//! - `GET /api/v1/snapshots/{id}/compliance/report?framework=F&format=FMT` (`export
//!   reports`): the same report as a download in SARIF, OSCAL, JUnit, HTML, Markdown,
//!   CSV or JSON.
//! - `GET /api/v1/compliance/trend?from=A&to=B&framework=F` (`view compliance reports`):
//!   which checks newly fail and which were fixed between two snapshots.
//! - `GET /api/v1/snapshots/{id}/terraform?kind=K&skip_users=true` (`manage
//!   integrations`): the Terraform export as a zip of its files.
//!
//! Snapshots are named by id or an unambiguous prefix, in the caller's team's repository
//! only. Every report is stamped with its snapshot's own time, so the same snapshot
//! always gives the same bytes; the zip has fixed timestamps and sorted entries for the
//! same reason.

use std::io::{Cursor, Write as _};

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use butterfly_compliance::report::{self, Format};
use butterfly_compliance::{Framework, Report, Trend, evaluate, trend};
use butterfly_core::source::SnapshotSource;
use butterfly_core::{Snapshot, SnapshotId};
use butterfly_store::snapshots::SnapshotRepository;
use butterfly_tf::{ExportError, ExportOptions, export};
use serde::Deserialize;
use zip::write::SimpleFileOptions;

use super::backups::{repository_error, resolve_prefix, source_error};
use crate::app::AppState;
use crate::error::ApiError;
use crate::rbac::Caller;

/// The query of the compliance routes.
#[derive(Debug, Deserialize)]
pub struct ComplianceQuery {
    /// `all` (the default) or framework names, comma-separated (`soc2,pci-dss`).
    #[serde(default)]
    framework: Option<String>,
}

/// The query of `GET /snapshots/{id}/compliance/report`.
#[derive(Debug, Deserialize)]
pub struct ReportQuery {
    /// As for [`ComplianceQuery`].
    #[serde(default)]
    framework: Option<String>,
    /// sarif, oscal, junit, html, markdown, csv or json (the default).
    #[serde(default)]
    format: Option<String>,
}

/// The query of `GET /compliance/trend`.
#[derive(Debug, Deserialize)]
pub struct TrendQuery {
    /// The older snapshot.
    #[serde(default)]
    from: Option<String>,
    /// The newer snapshot.
    #[serde(default)]
    to: Option<String>,
    /// As for [`ComplianceQuery`].
    #[serde(default)]
    framework: Option<String>,
}

/// The query of `GET /snapshots/{id}/terraform`.
#[derive(Debug, Deserialize)]
pub struct TerraformQuery {
    /// Only these snapshot kinds (comma-separated).
    #[serde(default)]
    kind: Option<String>,
    /// Leave users and their memberships and assignments out.
    #[serde(default)]
    skip_users: bool,
}

/// `all`, nothing, or a comma-separated list of framework names; an unknown name is
/// `400` naming it and the ones that exist.
fn frameworks(text: Option<&str>) -> Result<Vec<Framework>, ApiError> {
    let text = text.map_or("all", str::trim);
    if text.is_empty() || text.eq_ignore_ascii_case("all") {
        return Ok(Framework::ALL.to_vec());
    }
    text.split(',')
        .map(|name| {
            name.parse::<Framework>()
                .map_err(|e| ApiError::BadRequest(e.to_string()))
        })
        .collect()
}

/// The caller's team's repository and the manifests of `names` (ids or prefixes).
async fn team_snapshots<const N: usize>(
    state: &AppState,
    caller: &Caller,
    names: [&str; N],
) -> Result<(std::sync::Arc<SnapshotRepository>, [Snapshot; N]), ApiError> {
    let repo = state
        .backups
        .repository(caller.team_id)
        .await
        .map_err(repository_error)?;
    // The listing is read once, and only when a name is a prefix.
    let mut ids: Option<Vec<SnapshotId>> = None;
    let source: &dyn SnapshotSource = repo.as_ref();
    let mut manifests = Vec::with_capacity(N);
    for name in names {
        let id = if let Ok(id) = name.parse::<SnapshotId>() {
            id
        } else {
            if ids.is_none() {
                ids = Some(repo.ids().await.map_err(|e| repository_error(e.into()))?);
            }
            resolve_prefix(ids.as_deref().unwrap_or_default(), name)?
        };
        manifests.push(source.manifest(id).await.map_err(source_error)?);
    }
    let manifests = manifests
        .try_into()
        .map_err(|_| ApiError::Internal("manifest count mismatch".into()))?;
    Ok((repo, manifests))
}

/// Evaluate `frameworks` over `snapshot`, stamped with the snapshot's own time.
async fn report_of(
    repo: &SnapshotRepository,
    snapshot: &Snapshot,
    frameworks: &[Framework],
) -> Result<Report, ApiError> {
    let at = butterfly_core::rfc3339::format(&snapshot.started_at)
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    evaluate(repo, snapshot, frameworks, &at)
        .await
        .map_err(compliance_error)
}

fn compliance_error(e: butterfly_compliance::Error) -> ApiError {
    match e {
        butterfly_compliance::Error::Source(e) => source_error(e),
        butterfly_compliance::Error::UnknownFramework(_)
        | butterfly_compliance::Error::UnknownFormat(_)
        | butterfly_compliance::Error::UnknownSeverity(_) => ApiError::BadRequest(e.to_string()),
        other => ApiError::Internal(Box::new(other)),
    }
}

/// One snapshot's compliance report (JSON).
pub async fn compliance(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<ComplianceQuery>, QueryRejection>,
) -> Result<Json<Report>, ApiError> {
    let Query(query) = query?;
    let frameworks = frameworks(query.framework.as_deref())?;
    let (repo, [snapshot]) = team_snapshots(&state, &caller, [&id]).await?;
    Ok(Json(report_of(&repo, &snapshot, &frameworks).await?))
}

/// The media type a report format is served as.
fn content_type(format: Format) -> &'static str {
    match format {
        Format::Sarif => "application/sarif+json",
        Format::Junit => "application/xml",
        Format::Html => "text/html; charset=utf-8",
        Format::Markdown => "text/markdown; charset=utf-8",
        Format::Csv => "text/csv; charset=utf-8",
        // JSON, OSCAL (which has no registered media type of its own), and any format
        // added later.
        _ => "application/json",
    }
}

/// A body served as a download named `filename`.
fn download(content_type: &'static str, filename: &str, body: Vec<u8>) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The name is built from a snapshot id (hex and dashes) and fixed words only, so it
    // is always a valid header value.
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// One snapshot's compliance report as a file in the format asked for.
pub async fn compliance_report(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let frameworks = frameworks(query.framework.as_deref())?;
    let format: Format = query
        .format
        .as_deref()
        .unwrap_or("json")
        .parse()
        .map_err(compliance_error)?;
    let (repo, [snapshot]) = team_snapshots(&state, &caller, [&id]).await?;
    let report = report_of(&repo, &snapshot, &frameworks).await?;
    let body = report::render(&report, format).map_err(compliance_error)?;
    let scope = match frameworks.as_slice() {
        [one] => one.as_str(),
        _ if frameworks.len() == Framework::ALL.len() => "all",
        _ => "selected",
    };
    let filename = format!("compliance-{}-{scope}.{}", snapshot.id, format.extension());
    Ok(download(content_type(format), &filename, body.into_bytes()))
}

/// What changed in compliance from snapshot `from` to snapshot `to`.
pub async fn compliance_trend(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<TrendQuery>, QueryRejection>,
) -> Result<Json<Trend>, ApiError> {
    let Query(query) = query?;
    let (Some(from), Some(to)) = (query.from.as_deref(), query.to.as_deref()) else {
        return Err(ApiError::BadRequest(
            "both `from` and `to` must name a snapshot (an id or a prefix)".into(),
        ));
    };
    let frameworks = frameworks(query.framework.as_deref())?;
    let (repo, [before, after]) = team_snapshots(&state, &caller, [from, to]).await?;
    let old = report_of(&repo, &before, &frameworks).await?;
    let new = report_of(&repo, &after, &frameworks).await?;
    Ok(Json(trend(&old, &new)))
}

/// The Terraform export of one snapshot, as a zip of its files.
pub async fn terraform(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<TerraformQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let mut options = ExportOptions::new().skip_users(query.skip_users);
    for kind in query
        .kind
        .iter()
        .flat_map(|k| k.split(','))
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        options = options.kind(kind);
    }
    let (repo, [snapshot]) = team_snapshots(&state, &caller, [&id]).await?;
    let exported = export(repo.as_ref(), snapshot.id, &options)
        .await
        .map_err(|e| match e {
            ExportError::Source(e) => source_error(e),
            e @ (ExportError::UnknownKind(_) | ExportError::UnsupportedProvider(_)) => {
                ApiError::BadRequest(e.to_string())
            }
            other => ApiError::Internal(Box::new(other)),
        })?;
    let zip = zip_files(&exported.files).map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok(download(
        "application/zip",
        &format!("terraform-{}.zip", snapshot.id),
        zip,
    ))
}

/// `files` (name to text) as a zip: entries in name order (a `BTreeMap`), each deflated,
/// dated 1980-01-01 (the earliest zip time) with mode 0644, so the same files always
/// give the same bytes.
pub fn zip_files(
    files: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<u8>, zip::result::ZipError> {
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::DEFAULT)
        .system(zip::System::Unix)
        .unix_permissions(0o644);
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, text) in files {
        writer.start_file(name, options)?;
        writer.write_all(text.as_bytes())?;
    }
    Ok(writer.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zip_is_byte_stable_and_sorted() {
        let files: std::collections::BTreeMap<String, String> = [
            ("users.tf", "resource \"okta_user\" \"a\" {}\n"),
            ("groups.tf", "resource \"okta_group\" \"b\" {}\n"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let once = zip_files(&files).unwrap();
        assert_eq!(once, zip_files(&files).unwrap());
        let archive = zip::ZipArchive::new(Cursor::new(once)).unwrap();
        let names: Vec<String> = archive
            .file_names()
            .map(|n| n.unwrap().into_owned())
            .collect();
        assert_eq!(names, ["groups.tf", "users.tf"]);
    }

    #[test]
    fn framework_lists_are_parsed_or_refused_by_name() {
        assert_eq!(frameworks(None).unwrap(), Framework::ALL.to_vec());
        assert_eq!(frameworks(Some("ALL")).unwrap(), Framework::ALL.to_vec());
        assert_eq!(
            frameworks(Some("soc2,pci-dss")).unwrap(),
            vec![Framework::Soc2, Framework::PciDss]
        );
        assert!(matches!(
            frameworks(Some("soc2,myspace")),
            Err(ApiError::BadRequest(m)) if m.contains("myspace")
        ));
    }
}
