//! The master key and the per-team keys derived from it.
//!
//! One 32-byte master key per installation lives in `master.key` in the data directory,
//! as hex, readable by its owner only. Each team's objects are encrypted under a key
//! derived from it with HKDF-SHA256, so one team's key opens nothing of another's, and
//! the master key never touches data directly.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use butterfly_core::TeamId;
use hkdf::Hkdf;
use rand::RngCore as _;
use rand::rngs::OsRng;
use sha2::Sha256;
use thiserror::Error;

/// The file name of the master key inside the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";

/// HKDF salt: fixed, so the same master key always yields the same team keys, and
/// specific to this use, so keys derived for anything else never collide with these.
const HKDF_SALT: &[u8] = b"butterfly/objects/v1";
const INFO_CIPHER_KEY: &[u8] = b"butterfly/objects/v1/team-cipher-key/";
const INFO_KEY_CHECK: &[u8] = b"butterfly/objects/v1/team-key-check/";

/// Length of the key check stored in each object header.
pub(crate) const KEY_CHECK_LEN: usize = 8;

/// Errors from loading or creating the master key.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key file or its directory could not be read or written.
    #[error("cannot access the master key file {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The key file can be read by its group or by others. Refused rather than fixed:
    /// the key may already have leaked, which an operator must know.
    #[error(
        "master key file {path} has mode {mode:o}: it must be readable by its owner only \
         (chmod 600), and the key should be treated as exposed"
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file does not hold 64 hex characters (32 bytes).
    #[error("master key file {path} is invalid: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// The installation's master key: 32 random bytes. `Debug` is redacted.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        MasterKey(bytes)
    }

    /// A key from 32 bytes kept elsewhere (a secrets manager, a KMS).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        MasterKey(bytes)
    }

    /// A key from 64 hex characters (as `master.key` holds it, or as an operator passes
    /// it in `BUTTERFLY_MASTER_KEY`); surrounding whitespace is ignored.
    pub fn from_hex(text: &str) -> Result<MasterKey, &'static str> {
        let hex_text = text.trim();
        if hex_text.len() != 64 {
            return Err("expected 64 hex characters (32 bytes)");
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_text, &mut bytes).map_err(|_| "not hexadecimal")?;
        Ok(MasterKey(bytes))
    }

    /// The key's bytes, for wrapping it (see [`super::keyring`]).
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Read `data_dir/master.key`, or create it with a fresh key if it does not exist.
    ///
    /// A new file is written in full under a temporary name with mode 0600, synced, and
    /// then linked into place, so no reader (and no crash) ever sees a half-written key,
    /// and two processes starting together agree on one key. An existing file is
    /// refused if its group or others may read it, or if it is not 64 hex characters.
    pub fn load_or_create(data_dir: &Path) -> Result<MasterKey, KeyError> {
        let path = data_dir.join(MASTER_KEY_FILE);
        match Self::load(&path) {
            Err(KeyError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            other => return other,
        }
        fs::create_dir_all(data_dir).map_err(|source| KeyError::Io {
            path: data_dir.to_owned(),
            source,
        })?;
        let key = MasterKey::generate();
        match key.publish(data_dir, &path) {
            Ok(()) => {
                tracing::info!(path = %path.display(), "created a new master key");
                Ok(key)
            }
            // Another process created it first: use theirs.
            Err(KeyError::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {
                Self::load(&path)
            }
            Err(e) => Err(e),
        }
    }

    /// Read `data_dir/master.key`, which must exist: unlike
    /// [`MasterKey::load_or_create`], never writes.
    pub fn load_existing(data_dir: &Path) -> Result<MasterKey, KeyError> {
        Self::load(&data_dir.join(MASTER_KEY_FILE))
    }

    /// Read a key file anywhere (64 hex characters, readable by its owner only): for a
    /// key kept outside the data directory.
    pub fn load_file(path: &Path) -> Result<MasterKey, KeyError> {
        Self::load(path)
    }

    fn load(path: &Path) -> Result<MasterKey, KeyError> {
        let io_error = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        let metadata = fs::metadata(path).map_err(io_error)?;
        check_permissions(path, &metadata)?;
        let text = fs::read_to_string(path).map_err(io_error)?;
        let invalid = |reason| KeyError::Invalid {
            path: path.to_owned(),
            reason,
        };
        MasterKey::from_hex(&text).map_err(invalid)
    }

    /// Write the key to a private temporary file, sync it, and hard-link it to `path`,
    /// which fails with `AlreadyExists` rather than replace a key another process wrote.
    fn publish(&self, dir: &Path, path: &Path) -> Result<(), KeyError> {
        let mut suffix = [0u8; 8];
        OsRng.fill_bytes(&mut suffix);
        let temp = dir.join(format!(".{MASTER_KEY_FILE}.{}.tmp", hex::encode(suffix)));
        let result = write_private(&temp, format!("{}\n", hex::encode(self.0)).as_bytes())
            .and_then(|()| fs::hard_link(&temp, path))
            .and_then(|()| sync_dir(dir));
        // The temporary name is removed whatever happened; the link, if made, remains.
        let _ = fs::remove_file(&temp);
        result.map_err(|source| KeyError::Io {
            path: path.to_owned(),
            source,
        })
    }

    /// The key for one team's objects.
    pub fn team_key(&self, team: TeamId) -> TeamKey {
        let hkdf = Hkdf::<Sha256>::new(Some(HKDF_SALT), &self.0);
        let team_bytes = team.as_uuid().into_bytes();
        let mut cipher_key = [0u8; 32];
        let mut check = [0u8; KEY_CHECK_LEN];
        expand(&hkdf, INFO_CIPHER_KEY, &team_bytes, &mut cipher_key);
        expand(&hkdf, INFO_KEY_CHECK, &team_bytes, &mut check);
        TeamKey { cipher_key, check }
    }
}

fn expand(hkdf: &Hkdf<Sha256>, label: &[u8], team: &[u8; 16], out: &mut [u8]) {
    // HKDF-SHA256 can produce up to 255 * 32 bytes; we ask for at most 32.
    if hkdf.expand_multi_info(&[label, team], out).is_err() {
        unreachable!("HKDF output of {} bytes is within its limit", out.len());
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// One team's object key, derived from the [`MasterKey`]. `Debug` is redacted.
#[derive(Clone)]
pub struct TeamKey {
    pub(crate) cipher_key: [u8; 32],
    /// A short value derived alongside the key and stored in each object header, so a
    /// wrong key is reported as such instead of as tampering.
    pub(crate) check: [u8; KEY_CHECK_LEN],
}

impl fmt::Debug for TeamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TeamKey(<redacted>)")
    }
}

#[cfg(unix)]
fn check_permissions(path: &Path, metadata: &fs::Metadata) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path, _metadata: &fs::Metadata) -> Result<(), KeyError> {
    // Other platforms have no mode bits; protect the data directory with ACLs there.
    Ok(())
}

/// Create `path` (which must not exist) readable by its owner only, write `bytes` and
/// sync them to disk.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Set at creation, so the file is never readable by others, not even briefly.
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Sync a directory, so a file just linked into it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn creates_then_reloads_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = MasterKey::load_or_create(&data).unwrap();
        let second = MasterKey::load_or_create(&data).unwrap();
        assert_eq!(first.0, second.0);
        let text = fs::read_to_string(data.join(MASTER_KEY_FILE)).unwrap();
        assert_eq!(text.trim(), hex::encode(first.0));
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(&data).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn new_key_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        MasterKey::load_or_create(dir.path()).unwrap();
        let mode = fs::metadata(dir.path().join(MASTER_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn readable_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MASTER_KEY_FILE);
        fs::write(&path, format!("{}\n", "ab".repeat(32))).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = MasterKey::load_or_create(dir.path()).unwrap_err();
        assert!(
            matches!(err, KeyError::Permissions { mode: 0o644, .. }),
            "{err:?}"
        );
        // Still there, untouched: a refused key is never replaced.
        assert_eq!(fs::read_to_string(&path).unwrap().trim(), "ab".repeat(32));
    }

    #[cfg(unix)]
    #[test]
    fn key_file_of_wrong_length_or_not_hex_is_refused() {
        for bad in ["abcd".to_owned(), "zz".repeat(32), "ab".repeat(33)] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(MASTER_KEY_FILE);
            fs::write(&path, &bad).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            let err = MasterKey::load_or_create(dir.path()).unwrap_err();
            assert!(matches!(err, KeyError::Invalid { .. }), "{bad}: {err:?}");
        }
    }

    #[test]
    fn team_keys_differ_per_team_and_per_master() {
        let master = MasterKey::from_bytes([7; 32]);
        let (a, b) = (TeamId::new_random(), TeamId::new_random());
        assert_eq!(master.team_key(a).cipher_key, master.team_key(a).cipher_key);
        assert_ne!(master.team_key(a).cipher_key, master.team_key(b).cipher_key);
        assert_ne!(master.team_key(a).check, master.team_key(b).check);
        let other = MasterKey::from_bytes([8; 32]);
        assert_ne!(master.team_key(a).cipher_key, other.team_key(a).cipher_key);
    }

    /// Fixed vectors: a change to the derivation (salt, labels, order) would make every
    /// existing repository unreadable, so it must fail here first.
    #[test]
    fn team_keys_derive_to_fixed_vectors() {
        let master = MasterKey::from_bytes(std::array::from_fn(|i| u8::try_from(i).unwrap()));
        for (team, cipher_key, check) in [
            (
                "00000000-0000-0000-0000-000000000000",
                "541c23c20a93ce678d2e6ffa96f4e04cf7a9bc9d09bfb378b1e84c71ec6df6ff",
                "8e88f934d669bc43",
            ),
            (
                "6f1b7a3c-2d4e-4f5a-8b6c-7d8e9f0a1b2c",
                "300a45e39ff8c611857390b3dab4e5603ca18ebae90954b14ad0a8d9dc6165fb",
                "05b1d06b3634839a",
            ),
        ] {
            let key = master.team_key(TeamId::from_uuid(team.parse().unwrap()));
            assert_eq!(hex::encode(key.cipher_key), cipher_key, "{team}");
            assert_eq!(hex::encode(key.check), check, "{team}");
        }
    }

    #[test]
    fn debug_is_redacted() {
        let master = MasterKey::from_bytes([0xab; 32]);
        assert_eq!(format!("{master:?}"), "MasterKey(<redacted>)");
        let team = master.team_key(TeamId::new_random());
        assert_eq!(format!("{team:?}"), "TeamKey(<redacted>)");
    }
}
