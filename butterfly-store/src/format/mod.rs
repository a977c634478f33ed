//! The on-disk formats of a snapshot repository, byte by byte: keys, the sealed
//! envelope every stored file is wrapped in, packs and their indexes, and manifests.
//!
//! This module only turns values into bytes and back; it never touches a store, and
//! nothing in it depends on the [repository](crate::snapshots) that uses it. Each format
//! carries its own version, and each is pinned by fixed test vectors and by the golden
//! repository in `tests/fixtures/golden-repo`, so a backup written today still opens
//! after the code around it has changed:
//!
//! - [`key`]: the master key file and the per-team keys derived from it (HKDF-SHA256).
//! - [`keyring`]: the master key wrapped under passwords (Argon2id, AES-256-GCM).
//! - `envelope` (private, see its source): zstd, then AES-256-GCM under a team key, bound
//!   to the file's address, with a header that tells a wrong key, a wrong team, a
//!   truncated file and tampering apart.
//! - [`pack`]: many sealed objects per pack file, found through a sealed index.
//! - [`manifest`]: the manifest of one snapshot as stored, versioned apart from
//!   [`butterfly_core::Snapshot`].

mod envelope;
pub mod key;
pub mod keyring;
pub mod manifest;
pub mod pack;

use butterfly_core::TeamId;

use envelope::SealError;
use key::TeamKey;

/// Seal `plaintext` for `team` under `address` (the envelope's associated data), for
/// files outside packs: manifests and small secrets.
pub(crate) fn seal_bytes(
    team: TeamId,
    key: &TeamKey,
    address: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, String> {
    envelope::seal(team, key, address, plaintext).map_err(|e| match e {
        SealError::Compress(e) => format!("cannot compress: {e}"),
        SealError::Encrypt => "cannot encrypt".to_owned(),
    })
}

/// Open what [`seal_bytes`] sealed, saying precisely what is wrong if it does not open.
pub(crate) fn open_sealed_bytes(
    team: TeamId,
    key: &TeamKey,
    address: &str,
    sealed: &[u8],
) -> Result<Vec<u8>, String> {
    envelope::open(team, key, address, sealed).map_err(|e| pack::describe_open_error(&e))
}
