//! `butterfly export git`: snapshots of a local repository as commits of a Git
//! repository, optionally pushed. The work is in `butterfly-git`.

use std::path::PathBuf;

use butterfly_core::SnapshotId;
use butterfly_core::source::{SnapshotSource, SourceError};
use butterfly_git::{
    ExportError, ExportOptions, ExportReport, GitCredentials, GitSecret, HostKey, PushError,
    PushTarget, export_snapshot, push,
};
use serde_json::json;

use crate::Output;
use crate::local::LocalError;
use crate::output::print_json;

/// Why the export or the push failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitExportError {
    /// The snapshot repository could not be opened.
    #[error(transparent)]
    Local(#[from] LocalError),
    /// A snapshot could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The commit could not be made.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// The push failed (the commits are made; run again with `--push` to retry).
    #[error("{0} (the commits are in --git-dir; run the command again to retry the push)")]
    Push(#[from] PushError),
    /// A credential file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Credentials were given without `--push`, or both kinds at once.
    #[error("{0}")]
    Usage(&'static str),
    /// The blocking push task did not finish.
    #[error("the push task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Flags of `butterfly export git`.
#[derive(Debug)]
pub struct GitExportArgs {
    pub snapshot: String,
    pub repo: PathBuf,
    pub git_dir: PathBuf,
    pub push: Option<String>,
    pub branch: String,
    pub include_volatile: bool,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub token_user: String,
    pub deploy_key: Option<PathBuf>,
    pub deploy_key_passphrase: Option<String>,
    pub ssh_host_key: Option<String>,
}

fn read(path: &PathBuf) -> Result<String, GitExportError> {
    std::fs::read_to_string(path).map_err(|source| GitExportError::Read {
        path: path.clone(),
        source,
    })
}

fn credentials(args: &GitExportArgs) -> Result<GitCredentials, GitExportError> {
    let token = match (&args.token_file, &args.token) {
        (Some(file), _) => Some(read(file)?.trim().to_owned()),
        (None, token) => token.clone(),
    };
    match (token, &args.deploy_key) {
        (Some(_), Some(_)) => Err(GitExportError::Usage(
            "give a token (HTTPS) or a deploy key (SSH), not both",
        )),
        (Some(token), None) => Ok(GitCredentials::Token {
            username: args.token_user.clone(),
            token: GitSecret::new(token),
        }),
        (None, Some(key)) => Ok(GitCredentials::SshKey {
            username: "git".to_owned(),
            private_key: GitSecret::new(read(key)?),
            passphrase: args.deploy_key_passphrase.clone().map(GitSecret::new),
        }),
        (None, None) => Ok(GitCredentials::None),
    }
}

/// `butterfly export git SNAPSHOT --repo DIR --git-dir PATH [--push URL]`.
pub async fn export_git(out: Output, args: GitExportArgs) -> Result<(), GitExportError> {
    let credentials = credentials(&args)?;
    if args.push.is_none() && !matches!(credentials, GitCredentials::None) {
        return Err(GitExportError::Usage(
            "a token or deploy key is only used with --push URL",
        ));
    }
    let host_key = args
        .ssh_host_key
        .as_deref()
        .map(HostKey::parse)
        .transpose()?;
    let repo = crate::repository::open(&args.repo)
        .await
        .map_err(LocalError::from)?;
    let source: &dyn SnapshotSource = &repo;
    let options = ExportOptions::new()
        .with_branch(args.branch.clone())
        .with_volatile(args.include_volatile);

    // `all`: every snapshot not yet exported, oldest first, so history reads forward.
    let ids: Vec<SnapshotId> = if args.snapshot == "all" {
        source
            .summaries()
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect()
    } else {
        vec![source.resolve(&args.snapshot).await?]
    };
    let all = args.snapshot == "all";
    let mut reports: Vec<ExportReport> = Vec::new();
    for id in ids {
        match export_snapshot(source, id, &args.git_dir, &options).await {
            Ok(report) => reports.push(report),
            // With `all`, snapshots older than what the branch holds were exported
            // before (or predate the first export): skip them.
            Err(ExportError::OutOfOrder { .. }) if all => {}
            Err(e) => return Err(e.into()),
        }
    }

    let mut pushed = None;
    if let Some(url) = &args.push {
        let mut target = PushTarget::new(url.clone())
            .with_branch(args.branch.clone())
            .with_credentials(credentials);
        if let Some(key) = host_key {
            target = target.with_host_key(key);
        }
        let git_dir = args.git_dir.clone();
        tokio::task::spawn_blocking(move || push(&git_dir, &target)).await??;
        pushed = Some(url.clone());
    }

    match out {
        Output::Json => print_json(&json!({
            "git_dir": args.git_dir,
            "branch": args.branch,
            "exports": reports.iter().map(|r| json!({
                "snapshot": r.snapshot.to_string(),
                "commit": r.commit,
                "tip": r.tip,
                "previous": r.previous.map(|p| p.to_string()),
                "subject": r.subject,
                "resources": r.resources,
                "renamed": r.renamed,
            })).collect::<Vec<_>>(),
            "pushed": pushed,
        })),
        Output::Table | Output::Markdown => {
            for r in &reports {
                match &r.commit {
                    Some(commit) => println!("{} {}: {}", &commit[..12], r.snapshot, r.subject),
                    None => println!(
                        "{} {}: nothing to commit ({})",
                        "-".repeat(12),
                        r.snapshot,
                        r.subject
                    ),
                }
            }
            if let Some(url) = pushed {
                println!("pushed {} to {url}", args.branch);
            }
        }
    }
    Ok(())
}
