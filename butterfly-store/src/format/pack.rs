//! Pack files: many sealed objects in one stored object, found through a sealed index.
//!
//! A backup of a 50,000-user org must not leave 50,000 files, so new objects are
//! appended to a pack of up to [`PACK_TARGET_BYTES`], and each pack gets an index:
//!
//! ```text
//! packs/{pack id}.pack   "BFPK" 0x01, pack id (16 bytes), then sealed objects back to back
//! index/{pack id}.idx    sealed: per object, digest (32) + offset (8, BE) + length (4, BE)
//! ```
//!
//! Each object is sealed on its own (zstd, then AES-256-GCM under the team key, see the
//! `envelope` module) with `pack/{pack id}/{digest}` as its address, so an object is read
//! without decrypting its neighbours, and one moved to another offset or pack, or
//! changed, fails authentication. The index is sealed too: digests of known content would
//! otherwise say what an org contains.
//!
//! This module only builds and parses bytes; the snapshot repository stores them with one
//! `put` per pack and per index (see `snapshots` for the crash-safety argument).

use butterfly_core::{Digest, TeamId};
use rand::RngCore as _;
use rand::rngs::OsRng;

use super::envelope::{self, OpenError, SealError};
use super::key::TeamKey;

/// Packs are closed once they hold this many bytes.
pub const PACK_TARGET_BYTES: usize = 16 * 1024 * 1024;
const PACK_MAGIC: &[u8; 4] = b"BFPK";
const PACK_VERSION: u8 = 1;
/// Magic, version, pack id.
pub const PACK_HEADER_LEN: usize = 4 + 1 + 16;
const INDEX_ENTRY_LEN: usize = 32 + 8 + 4;

/// A pack's identifier: 16 random bytes, as 32 hex characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackId([u8; 16]);

impl PackId {
    /// A fresh random id.
    pub fn new_random() -> Self {
        let mut bytes = [0u8; 16];
        OsRng.fill_bytes(&mut bytes);
        PackId(bytes)
    }

    /// Parse 32 hex characters.
    pub fn parse(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(PackId(bytes))
    }
}

impl std::fmt::Display for PackId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// Where an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// The pack.
    pub pack: PackId,
    /// Offset of the sealed object in the pack file.
    pub offset: u64,
    /// Length of the sealed object.
    pub length: u32,
}

/// Why a pack object or index did not open.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackError {
    /// Content could not be sealed.
    #[error("cannot compress or encrypt an object")]
    Seal,
    /// The bytes are not what was written (see the reason).
    #[error("{what}: {reason}")]
    Damaged {
        /// Which object or file.
        what: String,
        /// What is wrong.
        reason: String,
    },
}

/// Say what an envelope failure means, precisely.
pub(crate) fn describe_open_error(e: &OpenError) -> String {
    match e {
        OpenError::NotAnObject => "not a Butterfly object (bad magic)".into(),
        OpenError::UnsupportedVersion(v) => format!("unsupported format version {v}"),
        OpenError::WrongTeam(team) => format!("belongs to team {team}"),
        OpenError::WrongKey => "encrypted under a different key (wrong master key?)".into(),
        OpenError::Truncated { expected, actual } => {
            format!("truncated: {actual} of {expected} bytes")
        }
        OpenError::Tampered => "failed authentication: modified or moved".into(),
        OpenError::Decompress(e) => format!("decrypted but does not decompress: {e}"),
    }
}

/// The address a pack object is sealed under.
fn object_address(pack: PackId, digest: &Digest) -> String {
    format!("pack/{pack}/{}", digest.to_hex())
}

fn index_address(pack: PackId) -> String {
    format!("index/{pack}")
}

/// Objects waiting to be written as one pack.
#[derive(Debug)]
pub struct PackBuilder {
    id: PackId,
    bytes: Vec<u8>,
    entries: Vec<(Digest, Location)>,
}

impl Default for PackBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PackBuilder {
    /// An empty pack with a fresh id.
    pub fn new() -> Self {
        Self::with_capacity(1024 * 1024)
    }

    /// An empty pack with a fresh id, with room for `bytes` without growing.
    ///
    /// A pack closed at a target of `t` bytes ends a little past `t` (it closes after the
    /// object that reaches it), so a buffer grown by doubling ends at twice the target,
    /// and each doubling copies it whole while the old copy is still held. Sized once,
    /// at the target and some room for the last object, it is never copied (and pages
    /// not yet written cost no resident memory).
    pub fn with_capacity(bytes: usize) -> Self {
        let id = PackId::new_random();
        let mut bytes = Vec::with_capacity(bytes.max(PACK_HEADER_LEN));
        bytes.extend_from_slice(PACK_MAGIC);
        bytes.push(PACK_VERSION);
        bytes.extend_from_slice(&id.0);
        PackBuilder {
            id,
            bytes,
            entries: Vec::new(),
        }
    }

    /// Seal `plaintext` (whose digest is `digest`) into the pack.
    pub fn add(
        &mut self,
        team: TeamId,
        key: &TeamKey,
        digest: Digest,
        plaintext: &[u8],
    ) -> Result<Location, PackError> {
        let sealed = envelope::seal(team, key, &object_address(self.id, &digest), plaintext)
            .map_err(|e: SealError| {
                let _ = e;
                PackError::Seal
            })?;
        let location = Location {
            pack: self.id,
            offset: self.bytes.len() as u64,
            length: u32::try_from(sealed.len()).map_err(|_| PackError::Seal)?,
        };
        self.bytes.extend_from_slice(&sealed);
        self.entries.push((digest, location));
        Ok(location)
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes the pack file will have.
    pub fn len_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Close the pack: its bytes and its sealed index, ready to be stored (the pack
    /// first, then the index).
    pub fn finish(self, team: TeamId, key: &TeamKey) -> Result<FinishedPack, PackError> {
        let index = seal_index(self.id, &self.entries, team, key)?;
        Ok(FinishedPack {
            id: self.id,
            pack: self.bytes,
            index,
            entries: self.entries,
        })
    }
}

/// The sealed index of pack `id` listing `entries` (also used to rewrite the index of a
/// damaged pack with only the objects that still read).
pub fn seal_index(
    id: PackId,
    entries: &[(Digest, Location)],
    team: TeamId,
    key: &TeamKey,
) -> Result<Vec<u8>, PackError> {
    let mut index = Vec::with_capacity(entries.len() * INDEX_ENTRY_LEN);
    for (digest, location) in entries {
        index.extend_from_slice(digest.as_bytes());
        index.extend_from_slice(&location.offset.to_be_bytes());
        index.extend_from_slice(&location.length.to_be_bytes());
    }
    envelope::seal(team, key, &index_address(id), &index).map_err(|_| PackError::Seal)
}

/// Where the last object an index lists ends: the size its pack must have at least.
/// (The index records no pack size; objects are back to back after the header, so this
/// is the size the pack was written with.)
pub fn indexed_end(entries: &[(Digest, Location)]) -> u64 {
    entries
        .iter()
        .map(|(_, l)| l.offset.saturating_add(u64::from(l.length)))
        .max()
        .unwrap_or(PACK_HEADER_LEN as u64)
}

/// A closed pack: what [`PackBuilder::finish`] returns.
#[derive(Debug)]
pub struct FinishedPack {
    /// The pack's id.
    pub id: PackId,
    /// The pack's bytes, to store at [`pack_name`].
    pub pack: Vec<u8>,
    /// The sealed index, to store at [`index_name`] once the pack is stored.
    pub index: Vec<u8>,
    /// Where each object is.
    pub entries: Vec<(Digest, Location)>,
}

/// Where a pack is, relative to the repository's root.
pub fn pack_name(id: PackId) -> String {
    format!("packs/{id}.pack")
}

/// Where a pack's index is, relative to the repository's root.
pub fn index_name(id: PackId) -> String {
    format!("index/{id}.idx")
}

/// The pack id in the file name of a pack (`{id}.pack`) or an index (`{id}.idx`); `None`
/// for other names, such as temporary files left by an interrupted write.
pub fn parse_name(file_name: &str, suffix: &str) -> Option<PackId> {
    file_name.strip_suffix(suffix).and_then(PackId::parse)
}

/// Open one pack's sealed index.
pub fn open_index(
    id: PackId,
    sealed: &[u8],
    team: TeamId,
    key: &TeamKey,
) -> Result<Vec<(Digest, Location)>, PackError> {
    let plain =
        envelope::open(team, key, &index_address(id), sealed).map_err(|e| PackError::Damaged {
            what: format!("index {id}"),
            reason: describe_open_error(&e),
        })?;
    if plain.len() % INDEX_ENTRY_LEN != 0 {
        return Err(PackError::Damaged {
            what: format!("index {id}"),
            reason: "length is not a whole number of entries".into(),
        });
    }
    Ok(plain
        .chunks_exact(INDEX_ENTRY_LEN)
        .map(|entry| {
            let mut digest = [0u8; 32];
            digest.copy_from_slice(&entry[..32]);
            let mut offset = [0u8; 8];
            offset.copy_from_slice(&entry[32..40]);
            let mut length = [0u8; 4];
            length.copy_from_slice(&entry[40..44]);
            (
                Digest::from_array(digest),
                Location {
                    pack: id,
                    offset: u64::from_be_bytes(offset),
                    length: u32::from_be_bytes(length),
                },
            )
        })
        .collect())
}

pub(crate) fn object_what(digest: &Digest, location: Location) -> String {
    format!(
        "object {} in pack {} at offset {}",
        digest.to_hex(),
        location.pack,
        location.offset
    )
}

/// Check that `header`, the start of a pack's bytes, is the header of pack `pack`.
pub fn check_header(header: &[u8], pack: PackId) -> Result<(), PackError> {
    if header.len() < PACK_HEADER_LEN
        || &header[..4] != PACK_MAGIC
        || header[5..PACK_HEADER_LEN] != pack.0
    {
        return Err(PackError::Damaged {
            what: format!("pack {pack}"),
            reason: "bad pack header".into(),
        });
    }
    Ok(())
}

/// Open one object out of a whole pack file's bytes, checked against `digest`.
pub fn open_object(
    pack_bytes: &[u8],
    digest: &Digest,
    location: Location,
    team: TeamId,
    key: &TeamKey,
) -> Result<Vec<u8>, PackError> {
    check_header(pack_bytes, location.pack)?;
    let start = usize::try_from(location.offset).unwrap_or(usize::MAX);
    let end = start.saturating_add(location.length as usize);
    let Some(sealed) = pack_bytes.get(start..end) else {
        return Err(PackError::Damaged {
            what: object_what(digest, location),
            reason: format!(
                "truncated: the pack has {} bytes, the object ends at {end}",
                pack_bytes.len()
            ),
        });
    };
    open_sealed(sealed, digest, location, team, key)
}

/// Open one sealed object, checked against `digest`.
pub fn open_sealed(
    sealed: &[u8],
    digest: &Digest,
    location: Location,
    team: TeamId,
    key: &TeamKey,
) -> Result<Vec<u8>, PackError> {
    let plain =
        envelope::open(team, key, &object_address(location.pack, digest), sealed).map_err(|e| {
            PackError::Damaged {
                what: object_what(digest, location),
                reason: describe_open_error(&e),
            }
        })?;
    let actual = Digest::of_bytes(&plain);
    if actual != *digest {
        return Err(PackError::Damaged {
            what: object_what(digest, location),
            reason: format!("content has digest {actual}"),
        });
    }
    Ok(plain)
}
