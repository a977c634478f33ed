//! Local repositories: open and create them (with their password), check them, repair
//! their index, manage their keys.
//!
//! ```text
//! export BUTTERFLY_REPO_PASSWORD='...'           # or --password-file FILE
//! butterfly init --repo ./backups
//! butterfly key list --repo ./backups
//! BUTTERFLY_NEW_REPO_PASSWORD='...' butterfly key add --repo ./backups
//! butterfly key remove --repo ./backups KEY_ID
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

//!
//! A new repository keeps its key only wrapped under the password (Argon2id, in
//! `keys/`): a copy of the directory without the password reads nothing. Without a
//! password, `init` and the first backup refuse, unless `--insecure-no-password` asks
//! for a plain `master.key` file instead.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use butterfly_store::format::keyring::{KdfCost, Password};
use butterfly_store::repository_keys::{
    RepositoryKeys, RepositoryKeysError, password_from_env, password_from_file,
};
use butterfly_store::snapshots::{SnapshotError, SnapshotRepository, VerifyReport};
use butterfly_store::{MASTER_KEY_FILE, MasterKey};
use serde_json::json;

use crate::Output;
use crate::output::{Column, print_json, print_records};

/// The environment variable holding the new password for `butterfly key add`.
const NEW_PASSWORD_ENV: &str = "BUTTERFLY_NEW_REPO_PASSWORD";

/// How this run unlocks and creates local repositories (the global flags).
#[derive(Debug, Default)]
struct Unlocking {
    password_file: Option<PathBuf>,
    insecure_no_password: bool,
}

static UNLOCKING: OnceLock<Unlocking> = OnceLock::new();

/// Record the global `--password-file` and `--insecure-no-password` flags, once, before
/// any repository is opened.
pub fn configure(password_file: Option<PathBuf>, insecure_no_password: bool) {
    let _ = UNLOCKING.set(Unlocking {
        password_file,
        insecure_no_password,
    });
}

/// The repository password: `--password-file`, else `BUTTERFLY_REPO_PASSWORD` or
/// `BUTTERFLY_REPO_PASSWORD_FILE`.
fn password() -> Result<Option<Password>, SnapshotError> {
    match UNLOCKING.get().and_then(|u| u.password_file.as_deref()) {
        Some(file) => Ok(Some(password_from_file(file)?)),
        None => Ok(password_from_env()?),
    }
}

/// Open the existing repository in `dir`, unlocking it with the password if it has one.
/// Writes nothing.
pub async fn open(dir: &Path) -> Result<SnapshotRepository, SnapshotError> {
    SnapshotRepository::open_with_password(dir, password()?.as_ref()).await
}

/// Open the repository in `dir`, or create it (what a backup does): under the password,
/// or with a plain key file when `--insecure-no-password` says so; without either, a new
/// repository is refused before anything is written.
pub async fn open_or_create(dir: &Path) -> Result<SnapshotRepository, RepositoryCommandError> {
    if SnapshotRepository::exists_at(dir) {
        return Ok(open(dir).await?);
    }
    create(dir).await
}

async fn create(dir: &Path) -> Result<SnapshotRepository, RepositoryCommandError> {
    match password()? {
        Some(password) => {
            Ok(SnapshotRepository::init_with_password(dir, &password, KdfCost::DEFAULT).await?)
        }
        None if UNLOCKING.get().is_some_and(|u| u.insecure_no_password) => {
            Ok(SnapshotRepository::init(dir).await?)
        }
        None => Err(RepositoryCommandError::NoPassword(dir.to_owned())),
    }
}

/// Errors of repository commands.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryCommandError {
    /// The repository could not be opened, read or written.
    #[error(transparent)]
    Repository(#[from] SnapshotError),
    /// `check` found problems.
    #[error("check found {0} problem(s)")]
    Damaged(usize),
    /// A new repository needs a password, or an explicit choice not to have one.
    #[error(
        "a new repository in {} needs a password: set BUTTERFLY_REPO_PASSWORD or pass \
         --password-file FILE (or --insecure-no-password to keep its key in a plain \
         master.key file, readable by anyone who copies the directory)",
        .0.display()
    )]
    NoPassword(PathBuf),
    /// `key add` got no new password.
    #[error("the new password goes in BUTTERFLY_NEW_REPO_PASSWORD or --new-password-file FILE")]
    NoNewPassword,
    /// The repository's keys could not be read or changed.
    #[error(transparent)]
    Keys(#[from] RepositoryKeysError),
}

/// `butterfly init --repo DIR`: a new, empty repository with a fresh master key, wrapped
/// under the password (or plain, with `--insecure-no-password`).
pub async fn init(out: Output, dir: &Path) -> Result<(), RepositoryCommandError> {
    if SnapshotRepository::exists_at(dir) {
        return Err(SnapshotError::AlreadyInitialized(dir.to_owned()).into());
    }
    create(dir).await?;
    let plain = dir.join(MASTER_KEY_FILE).exists();
    match out {
        Output::Json => print_json(&json!({
            "repository": dir,
            "created": true,
            "password_protected": !plain,
        })),
        Output::Table | Output::Markdown if plain => println!(
            "created a snapshot repository in {}; its key is the plain file {}: anyone with a \
             copy of the directory can read every snapshot. Keep a copy of the key elsewhere.",
            dir.display(),
            dir.join(MASTER_KEY_FILE).display()
        ),
        Output::Table | Output::Markdown => println!(
            "created a snapshot repository in {}, its key wrapped under your password in {}: \
             nothing in it can be read without a password (add a second one with \
             `butterfly key add`)",
            dir.display(),
            dir.join(butterfly_store::repository_keys::KEYS_DIR)
                .display()
        ),
    }
    Ok(())
}

const KEY_COLUMNS: &[Column] = &[
    Column::new("ID", "/id"),
    Column::new("CREATED", "/created"),
    Column::new("MEMORY KIB", "/memory_kib"),
    Column::new("ITERATIONS", "/iterations"),
];

/// `butterfly key list --repo DIR`: the repository's password keys.
pub fn key_list(out: Output, dir: &Path) -> Result<(), RepositoryCommandError> {
    // Proves the caller holds a password (or the plain key) before listing anything.
    unlock(dir)?;
    let keys = RepositoryKeys::at(dir).list()?;
    print_records(out, &json!(keys), KEY_COLUMNS);
    Ok(())
}

/// `butterfly key add --repo DIR [--new-password-file FILE]`: wrap the master key under
/// another password. On a repository with a plain `master.key`, this is how it gets a
/// password (then delete `master.key`).
pub fn key_add(
    out: Output,
    dir: &Path,
    new_password_file: Option<&Path>,
) -> Result<(), RepositoryCommandError> {
    let (master, _) = unlock(dir)?;
    let new = match new_password_file {
        Some(file) => password_from_file(file)?,
        None => std::env::var(NEW_PASSWORD_ENV)
            .map(Password::new)
            .map_err(|_| RepositoryCommandError::NoNewPassword)?,
    };
    let id = RepositoryKeys::at(dir).add(&master, &new, KdfCost::DEFAULT, chrono::Utc::now())?;
    match out {
        Output::Json => print_json(&json!({"id": id})),
        Output::Table | Output::Markdown => {
            println!("added key {id}");
            if dir.join(MASTER_KEY_FILE).exists() {
                println!(
                    "this repository still has a plain {MASTER_KEY_FILE}: delete it so that \
                     only a password opens the repository"
                );
            }
        }
    }
    Ok(())
}

/// `butterfly key remove --repo DIR ID`: never the last key, nor the one the given
/// password opened.
pub fn key_remove(out: Output, dir: &Path, id: &str) -> Result<(), RepositoryCommandError> {
    let (_, in_use) = unlock(dir)?;
    RepositoryKeys::at(dir).remove(id, in_use.as_deref().unwrap_or_default())?;
    match out {
        Output::Json => print_json(&json!({"id": id, "removed": true})),
        Output::Table | Output::Markdown => println!("removed key {id}"),
    }
    Ok(())
}

/// The master key and, when a password opened it, which key file did.
fn unlock(dir: &Path) -> Result<(MasterKey, Option<String>), RepositoryCommandError> {
    if !dir.is_dir() {
        return Err(SnapshotError::NotARepository {
            path: dir.to_owned(),
            reason: "the directory does not exist",
        }
        .into());
    }
    if dir.join(MASTER_KEY_FILE).exists() {
        let master = MasterKey::load_existing(dir).map_err(SnapshotError::from)?;
        return Ok((master, None));
    }
    let password = password()?.ok_or_else(|| SnapshotError::PasswordRequired(dir.to_owned()))?;
    let (master, id) = RepositoryKeys::at(dir).unlock(&password)?;
    Ok((master, Some(id)))
}

/// `butterfly check --repo DIR [--read-data]`: exit status 1 on problems.
pub async fn check(out: Output, dir: &Path, read_data: bool) -> Result<(), RepositoryCommandError> {
    let repo = open(dir).await?;
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
    let repo = open(dir).await?;
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
