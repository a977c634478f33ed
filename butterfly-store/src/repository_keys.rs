//! The passwords of a local repository: its `keys/` directory.
//!
//! A repository created with a password keeps no plaintext key: `keys/{id}.json` files
//! each wrap the one master key under one password (see [`crate::format::keyring`]).
//! [`RepositoryKeys`] lists, unlocks, adds and removes them, as `restic key` does:
//!
//! ```text
//! butterfly key list   --repo ./backups
//! butterfly key add    --repo ./backups     # the new password from BUTTERFLY_NEW_REPO_PASSWORD
//! butterfly key remove --repo ./backups ID  # never the last one, nor the one in use
//! ```
//!
//! The password comes from [`password_from_env`]: `BUTTERFLY_REPO_PASSWORD`, or the file
//! named by `BUTTERFLY_REPO_PASSWORD_FILE`. A repository with a plain `master.key` (made
//! with `butterfly init --insecure-no-password`) needs none; that is an explicit choice,
//! since a copy of such a directory is a copy of everything in it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rand::RngCore as _;
use rand::rngs::OsRng;
use thiserror::Error;

use crate::format::key::{MasterKey, sync_dir, write_private};
use crate::format::keyring::{KdfCost, KeyFile, KeyringError, Password};

/// The directory of key files inside a repository.
pub const KEYS_DIR: &str = "keys";
/// The environment variable holding a repository password.
pub const PASSWORD_ENV: &str = "BUTTERFLY_REPO_PASSWORD";
/// The environment variable naming a file that holds a repository password.
pub const PASSWORD_FILE_ENV: &str = "BUTTERFLY_REPO_PASSWORD_FILE";

/// Errors of key management.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RepositoryKeysError {
    /// A key file or the keys directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A key file is not JSON of the expected shape.
    #[error("key file {}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// Wrapping or unwrapping failed (a wrong password, a damaged file).
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    /// The repository has no key files.
    #[error("the repository has no password keys")]
    NoKeys,
    /// No key file has this id.
    #[error("no key {0}")]
    NotFound(String),
    /// Removing the only key would lock everyone out.
    #[error("key {0} is the repository's only key: add another before removing it")]
    LastKey(String),
    /// The key being removed is the one the password given opened.
    #[error("key {0} is the one your password opened: unlock with another key to remove it")]
    InUse(String),
}

/// One key file, as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct KeyInfo {
    /// The key's id (its file name without `.json`).
    pub id: String,
    /// When it was added.
    pub created: DateTime<Utc>,
    /// Its Argon2id cost.
    pub memory_kib: u32,
    /// Its Argon2id passes.
    pub iterations: u32,
}

/// The `keys/` directory of the repository in a local directory. See the
/// [module docs](self).
#[derive(Debug, Clone)]
pub struct RepositoryKeys {
    dir: PathBuf,
}

impl RepositoryKeys {
    /// The keys of the repository in `repo_dir`.
    pub fn at(repo_dir: &Path) -> Self {
        RepositoryKeys {
            dir: repo_dir.join(KEYS_DIR),
        }
    }

    /// Whether the repository has at least one key file.
    pub fn exist(&self) -> bool {
        self.files().is_ok_and(|files| !files.is_empty())
    }

    /// Every key, oldest first.
    pub fn list(&self) -> Result<Vec<KeyInfo>, RepositoryKeysError> {
        let mut keys = Vec::new();
        for (id, path) in self.files()? {
            let file = read(&path)?;
            let cost = file.cost();
            keys.push(KeyInfo {
                id,
                created: file.created,
                memory_kib: cost.memory_kib,
                iterations: cost.iterations,
            });
        }
        keys.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(keys)
    }

    /// The master key, and the id of the key file `password` opened. Each file is
    /// tried in turn, as restic does; a damaged file does not hide a good one.
    pub fn unlock(&self, password: &Password) -> Result<(MasterKey, String), RepositoryKeysError> {
        let files = self.files()?;
        if files.is_empty() {
            return Err(RepositoryKeysError::NoKeys);
        }
        let mut first_error = None;
        let mut any_readable = false;
        for (id, path) in files {
            let opened = read(&path).and_then(|file| Ok(file.unwrap(&id, password)?));
            match opened {
                Ok(master) => return Ok((master, id)),
                Err(RepositoryKeysError::Keyring(KeyringError::WrongPassword)) => {
                    any_readable = true;
                }
                Err(e) => {
                    tracing::warn!(key = %id, error = %e, "key file skipped");
                    first_error.get_or_insert(e);
                }
            }
        }
        // A password that matched no readable key is wrong; when no key could even be
        // read, the damage is the story.
        match first_error {
            Some(e) if !any_readable => Err(e),
            _ => Err(KeyringError::WrongPassword.into()),
        }
    }

    /// Wrap `master` under `password` in a new key file; returns its id. The file is
    /// written under a temporary name, synced, and linked into place.
    pub fn add(
        &self,
        master: &MasterKey,
        password: &Password,
        cost: KdfCost,
        now: DateTime<Utc>,
    ) -> Result<String, RepositoryKeysError> {
        let mut raw = [0u8; 8];
        OsRng.fill_bytes(&mut raw);
        let id = hex::encode(raw);
        let file = KeyFile::wrap(&id, master, password, cost, now)?;
        let text =
            serde_json::to_vec_pretty(&file).map_err(|source| RepositoryKeysError::Json {
                path: self.dir.clone(),
                source,
            })?;
        let io_error = |path: &Path| {
            let path = path.to_owned();
            move |source| RepositoryKeysError::Io { path, source }
        };
        fs::create_dir_all(&self.dir).map_err(io_error(&self.dir))?;
        let path = self.dir.join(format!("{id}.json"));
        let temp = self.dir.join(format!(".{id}.json.tmp"));
        let result = write_private(&temp, &text)
            .and_then(|()| fs::hard_link(&temp, &path))
            .and_then(|()| sync_dir(&self.dir));
        let _ = fs::remove_file(&temp);
        result.map_err(io_error(&path))?;
        Ok(id)
    }

    /// Remove the key file `id`. Refused for the only key, and for `in_use` (the key the
    /// caller's password opened), so nobody removes the key they just proved they hold
    /// and finds another password does not work.
    pub fn remove(&self, id: &str, in_use: &str) -> Result<(), RepositoryKeysError> {
        let files = self.files()?;
        let Some((_, path)) = files.iter().find(|(f, _)| f == id) else {
            return Err(RepositoryKeysError::NotFound(id.to_owned()));
        };
        if files.len() == 1 {
            return Err(RepositoryKeysError::LastKey(id.to_owned()));
        }
        if id == in_use {
            return Err(RepositoryKeysError::InUse(id.to_owned()));
        }
        fs::remove_file(path).map_err(|source| RepositoryKeysError::Io {
            path: path.clone(),
            source,
        })?;
        sync_dir(&self.dir).map_err(|source| RepositoryKeysError::Io {
            path: self.dir.clone(),
            source,
        })
    }

    /// The key files, by id, sorted.
    fn files(&self) -> Result<Vec<(String, PathBuf)>, RepositoryKeysError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(RepositoryKeysError::Io {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| RepositoryKeysError::Io {
                path: self.dir.clone(),
                source,
            })?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            // Temporary files start with a dot; anything else is not ours.
            if let Some(id) = name.strip_suffix(".json").filter(|id| !id.starts_with('.')) {
                files.push((id.to_owned(), entry.path()));
            }
        }
        files.sort();
        Ok(files)
    }
}

fn read(path: &Path) -> Result<KeyFile, RepositoryKeysError> {
    let bytes = fs::read(path).map_err(|source| RepositoryKeysError::Io {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| RepositoryKeysError::Json {
        path: path.to_owned(),
        source,
    })
}

/// The repository password from the environment: `BUTTERFLY_REPO_PASSWORD`, or the
/// contents of the file `BUTTERFLY_REPO_PASSWORD_FILE` names (one trailing newline
/// dropped). `None` when neither is set.
pub fn password_from_env() -> Result<Option<Password>, RepositoryKeysError> {
    if let Ok(text) = std::env::var(PASSWORD_ENV) {
        return Ok(Some(Password::new(text)));
    }
    match std::env::var_os(PASSWORD_FILE_ENV) {
        Some(path) => password_from_file(Path::new(&path)).map(Some),
        None => Ok(None),
    }
}

/// A password read from a file (one trailing newline dropped).
pub fn password_from_file(path: &Path) -> Result<Password, RepositoryKeysError> {
    let text = fs::read_to_string(path).map_err(|source| RepositoryKeysError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(Password::from_file_text(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn keys_are_added_unlocked_listed_and_removed_with_guards() {
        let dir = tempfile::tempdir().unwrap();
        let keys = RepositoryKeys::at(dir.path());
        assert!(!keys.exist());
        assert!(matches!(
            keys.unlock(&Password::new("a")),
            Err(RepositoryKeysError::NoKeys)
        ));
        let master = MasterKey::generate();
        let first = keys
            .add(&master, &Password::new("one"), KdfCost::TESTING, now())
            .unwrap();
        assert!(keys.exist());
        let (opened, used) = keys.unlock(&Password::new("one")).unwrap();
        assert_eq!(opened.as_bytes(), master.as_bytes());
        assert_eq!(used, first);
        assert!(matches!(
            keys.unlock(&Password::new("two")),
            Err(RepositoryKeysError::Keyring(KeyringError::WrongPassword))
        ));
        assert!(matches!(
            keys.remove(&first, "other"),
            Err(RepositoryKeysError::LastKey(_))
        ));

        let second = keys
            .add(&master, &Password::new("two"), KdfCost::TESTING, now())
            .unwrap();
        assert_eq!(keys.list().unwrap().len(), 2);
        let (_, used) = keys.unlock(&Password::new("two")).unwrap();
        assert_eq!(used, second);
        assert!(matches!(
            keys.remove(&second, &second),
            Err(RepositoryKeysError::InUse(_))
        ));
        assert!(matches!(
            keys.remove("nope", &second),
            Err(RepositoryKeysError::NotFound(_))
        ));
        keys.remove(&first, &second).unwrap();
        assert!(keys.unlock(&Password::new("one")).is_err());
        assert_eq!(
            keys.list()
                .unwrap()
                .iter()
                .map(|k| &k.id)
                .collect::<Vec<_>>(),
            [&second]
        );
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let keys = RepositoryKeys::at(dir.path());
        let id = keys
            .add(
                &MasterKey::generate(),
                &Password::new("pw"),
                KdfCost::TESTING,
                now(),
            )
            .unwrap();
        let mode = fs::metadata(dir.path().join(KEYS_DIR).join(format!("{id}.json")))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_damaged_key_file_does_not_hide_a_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let keys = RepositoryKeys::at(dir.path());
        let master = MasterKey::generate();
        keys.add(&master, &Password::new("pw"), KdfCost::TESTING, now())
            .unwrap();
        fs::write(dir.path().join(KEYS_DIR).join("0000.json"), b"{not json").unwrap();
        let (opened, _) = keys.unlock(&Password::new("pw")).unwrap();
        assert_eq!(opened.as_bytes(), master.as_bytes());
        assert!(keys.list().is_err(), "listing names the damaged file");
    }
}
