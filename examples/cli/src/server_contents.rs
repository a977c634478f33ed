//! What is inside the server's snapshots, for the commands that read a local repository
//! with `--repo` and the server without it: `snapshots ls|cat|download`, `diff A B` and
//! `compliance ID`. They print what the local forms print: the server's bodies are the
//! same JSON (`butterfly_store::export`, `SnapshotDiff`, the compliance `Report`).
//!
//! ```text
//! butterfly snapshots ls 3f2a --kind group
//! butterfly snapshots cat 3f2a group 00g1abc
//! butterfly snapshots download 3f2a --format tar.zst --out okta.tar.zst
//! butterfly diff 3f2a 9c1e --min-severity high
//! butterfly compliance 3f2a --framework soc2 --format sarif --out okta.sarif
//! butterfly export terraform 3f2a --out ./okta-tf --skip-users
//! ```

use std::io::Write as _;
use std::path::{Path, PathBuf};

use butterfly_core::diff::{Severity, SnapshotDiff};
use serde_json::{Value, json};

use crate::Output;
use crate::client::{ApiClient, CliError};
use crate::output::{Column, print_json, print_records};

const LISTING_COLUMNS: &[Column] = &[
    Column::new("KIND", "/kind"),
    Column::new("ID", "/id"),
    Column::new("NAME", "/name"),
    Column::new("DIGEST", "/digest"),
    Column::new("BYTES", "/bytes"),
];

/// One path segment, percent-encoded (snapshot ids, kinds, resource ids are the user's
/// text).
fn segment(text: &str) -> String {
    crate::url_encode(text)
}

/// `snapshots ls ID [--kind K]`.
pub async fn ls(
    client: &ApiClient,
    out: Output,
    id: &str,
    kind: Option<&str>,
) -> Result<(), CliError> {
    let mut path = format!("snapshots/{}/resources", segment(id));
    if let Some(kind) = kind {
        path.push_str("?kind=");
        path.push_str(&segment(kind));
    }
    print_records(out, &client.get(&path).await?, LISTING_COLUMNS);
    Ok(())
}

/// `snapshots cat ID KIND RESOURCE_ID`: the resource's attributes, pretty.
pub async fn cat(
    client: &ApiClient,
    out: Output,
    id: &str,
    kind: &str,
    resource_id: &str,
) -> Result<(), CliError> {
    let resource = client
        .get(&format!(
            "snapshots/{}/resources/{}/{}",
            segment(id),
            segment(kind),
            segment(resource_id)
        ))
        .await?;
    if out == Output::Markdown {
        println!("```json");
        print_json(&resource["attributes"]);
        println!("```");
    } else {
        print_json(&resource["attributes"]);
    }
    Ok(())
}

/// `snapshots download ID --format F --out FILE` (`-` for stdout): streamed to a file
/// beside the final name, moved into place once complete, as the local form does.
pub async fn download(
    client: &ApiClient,
    out: Output,
    id: &str,
    format: &str,
    path: &Path,
) -> Result<(), CliError> {
    let url = format!(
        "snapshots/{}/download?format={}",
        segment(id),
        segment(format)
    );
    if path == Path::new("-") {
        let mut stdout = std::io::stdout().lock();
        return match client.download(&url, &mut stdout, path).await {
            Ok(_) => Ok(()),
            // The reader took what it wanted (`| head`).
            Err(CliError::WriteFile { source, .. })
                if source.kind() == std::io::ErrorKind::BrokenPipe =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        };
    }
    let written = download_to_file(client, &url, path).await?;
    let report = json!({
        "snapshot": id,
        "format": format,
        "out": path,
        "bytes": written,
    });
    match out {
        Output::Json => print_json(&report),
        Output::Table | Output::Markdown => {
            let _ = writeln!(
                std::io::stderr(),
                "wrote snapshot {id} as {format} to {}: {written} bytes",
                path.display()
            );
        }
    }
    Ok(())
}

/// Stream `url` into `path` through a partial file, so a failed download never leaves
/// a truncated file under the name asked for.
async fn download_to_file(client: &ApiClient, url: &str, path: &Path) -> Result<u64, CliError> {
    let partial = crate::contents::partial_path(path);
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| CliError::WriteFile { path, source }
    };
    let file = std::fs::File::create(&partial).map_err(write_err(&partial))?;
    let mut writer = std::io::BufWriter::new(file);
    let written = match client.download(url, &mut writer, &partial).await {
        Ok(written) => written,
        Err(e) => {
            drop(writer);
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    let file = writer.into_inner().map_err(|e| CliError::WriteFile {
        path: partial.clone(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(write_err(&partial))?;
    std::fs::rename(&partial, path).map_err(write_err(path))?;
    Ok(written)
}

/// `diff A B` without `--repo`: the server compares two of its snapshots.
pub async fn diff(
    client: &ApiClient,
    out: Output,
    from: &str,
    to: &str,
    kinds: &[String],
    min_severity: Severity,
    include_volatile: bool,
) -> Result<(), CliError> {
    if from == "live" || to == "live" {
        return Err(CliError::Failed(
            "a diff with the live org reads the snapshot from a local repository: give --repo"
                .to_owned(),
        ));
    }
    let mut path = format!(
        "snapshots/{}/diff/{}?min_severity={min_severity}",
        segment(from),
        segment(to)
    );
    if !kinds.is_empty() {
        path.push_str("&kind=");
        path.push_str(&segment(&kinds.join(",")));
    }
    if include_volatile {
        path.push_str("&include_volatile=true");
    }
    let body = client.get(&path).await?;
    let diff: SnapshotDiff = serde_json::from_value(body)
        .map_err(|e| CliError::Failed(format!("the server's diff did not parse: {e}")))?;
    crate::diff::print_diff(out, &diff);
    Ok(())
}

/// Flags of `compliance ID` without `--repo`.
#[derive(Debug)]
pub struct ComplianceArgs {
    /// The snapshot.
    pub snapshot: String,
    /// `all` or a framework.
    pub framework: String,
    /// The report format.
    pub format: String,
    /// Where to write it.
    pub out: Option<PathBuf>,
    /// `--fail-on`.
    pub fail_on: Option<String>,
}

/// `compliance ID` without `--repo`: the server evaluates its snapshot; the report is
/// rendered and written here exactly as a local one is.
pub async fn compliance(client: &ApiClient, args: ComplianceArgs) -> Result<(), CliError> {
    let failed = |e: crate::reports::ReportError| CliError::Failed(e.to_string());
    let (format, fail_on) =
        crate::reports::compliance_flags(&args.framework, &args.format, args.fail_on.as_deref())
            .map_err(failed)?;
    let report = report_of(client, &args.snapshot, &args.framework).await?;
    crate::reports::write_report(&report, format, args.out.as_deref(), fail_on).map_err(failed)
}

/// `export terraform ID --out DIR` without `--repo`: the server's zip of the export,
/// unpacked into `DIR` (created if missing) as the local form writes it.
pub async fn terraform(
    client: &ApiClient,
    out: Output,
    snapshot: &str,
    dir: &Path,
    kinds: &[String],
    skip_users: bool,
) -> Result<(), CliError> {
    let mut url = format!(
        "snapshots/{}/terraform?skip_users={skip_users}",
        segment(snapshot)
    );
    if !kinds.is_empty() {
        url.push_str("&kind=");
        url.push_str(&segment(&kinds.join(",")));
    }
    let mut zip = Vec::new();
    client.download(&url, &mut zip, dir).await?;
    let bad_zip = |e: zip::result::ZipError| {
        CliError::Failed(format!(
            "the server's Terraform zip did not unpack into {}: {e}",
            dir.display()
        ))
    };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).map_err(bad_zip)?;
    let files: Vec<String> = archive
        .file_names()
        .map(|name| name.map(std::borrow::Cow::into_owned))
        .collect::<Result<_, _>>()
        .map_err(bad_zip)?;
    std::fs::create_dir_all(dir).map_err(|source| CliError::WriteFile {
        path: dir.to_owned(),
        source,
    })?;
    // `extract` refuses entries that would land outside `dir`.
    archive.extract(dir).map_err(bad_zip)?;
    match out {
        Output::Json => print_json(&json!({"out": dir, "files": files})),
        Output::Table | Output::Markdown => {
            println!("wrote {} file(s) to {}", files.len(), dir.display());
        }
    }
    Ok(())
}

/// The server's compliance report of one snapshot.
async fn report_of(
    client: &ApiClient,
    snapshot: &str,
    framework: &str,
) -> Result<butterfly_compliance::Report, CliError> {
    let body: Value = client
        .get(&format!(
            "snapshots/{}/compliance?framework={}",
            segment(snapshot),
            segment(framework)
        ))
        .await?;
    serde_json::from_value(body)
        .map_err(|e| CliError::Failed(format!("the server's report did not parse: {e}")))
}

/// `compliance trend A B` without `--repo`: the server evaluates both snapshots; the
/// trend is computed and printed here as a local one is (the server's
/// `/compliance/trend` computes the same, but without the two reports the table shows).
pub async fn trend(
    client: &ApiClient,
    out: Output,
    from: &str,
    to: &str,
    framework: &str,
) -> Result<(), CliError> {
    crate::reports::compliance_flags(framework, "json", None)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let before = report_of(client, from, framework).await?;
    let after = report_of(client, to, framework).await?;
    crate::reports::show_trend(out, &before, &after);
    Ok(())
}
