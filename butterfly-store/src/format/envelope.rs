//! The stored form of one object: compressed, encrypted, bound to its address.
//!
//! ```text
//! offset  size  field
//!      0     4  magic "BFLY"
//!      4     1  format version (1)
//!      5    16  team id (UUID bytes)
//!     21     8  key check: derived with the team key, tells a wrong key from tampering
//!     29     8  ciphertext length, big endian (tells a truncated file from tampering)
//!     37    12  random nonce
//!     49     n  AES-256-GCM ciphertext of zstd(plaintext), with its 16-byte tag
//! ```
//!
//! The associated data is the 49-byte header followed by the object's address (its
//! path in the store), so a header that was edited, or an object copied to another
//! address or another team, fails authentication instead of decrypting.
//!
//! Every check runs before any slice is taken, in the order that gives the most precise
//! answer: not ours, newer format, another team, another key, truncated, tampered.

use aes_gcm::aead::{Aead as _, Payload};
use aes_gcm::{Aes256Gcm, KeyInit as _, Nonce};
use butterfly_core::TeamId;
use rand::RngCore as _;
use rand::rngs::OsRng;
use uuid::Uuid;

use super::key::{KEY_CHECK_LEN, TeamKey};

const MAGIC: &[u8; 4] = b"BFLY";
const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const VERSION_AT: usize = MAGIC.len();
const TEAM_AT: usize = VERSION_AT + 1;
const CHECK_AT: usize = TEAM_AT + 16;
const LEN_AT: usize = CHECK_AT + KEY_CHECK_LEN;
const NONCE_AT: usize = LEN_AT + 8;
/// Bytes before the ciphertext.
pub(crate) const HEADER_LEN: usize = NONCE_AT + NONCE_LEN;
/// zstd level: 3 is zstd's default, a good ratio on JSON at a fraction of the CPU of
/// higher levels, which matters when a backup writes tens of thousands of objects.
const ZSTD_LEVEL: i32 = 3;

/// Why stored bytes did not open. Paired with the path by the caller.
#[derive(Debug)]
pub(crate) enum OpenError {
    NotAnObject,
    UnsupportedVersion(u8),
    WrongTeam(TeamId),
    WrongKey,
    Truncated { expected: u64, actual: u64 },
    Tampered,
    Decompress(std::io::Error),
}

/// Why plaintext could not be sealed.
#[derive(Debug)]
pub(crate) enum SealError {
    Compress(std::io::Error),
    Encrypt,
}

fn cipher(key: &TeamKey) -> Aes256Gcm {
    Aes256Gcm::new(&key.cipher_key.into())
}

fn aad(header: &[u8], address: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header.len() + address.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(address.as_bytes());
    aad
}

/// Compress and encrypt `plaintext` for `team`, bound to `address`.
pub(crate) fn seal(
    team: TeamId,
    key: &TeamKey,
    address: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, SealError> {
    let compressed = zstd::encode_all(plaintext, ZSTD_LEVEL).map_err(SealError::Compress)?;
    let body_len = u64::try_from(compressed.len() + TAG_LEN).map_err(|_| SealError::Encrypt)?;
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);

    let mut out = Vec::with_capacity(HEADER_LEN + compressed.len() + TAG_LEN);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(team.as_uuid().as_bytes());
    out.extend_from_slice(&key.check);
    out.extend_from_slice(&body_len.to_be_bytes());
    out.extend_from_slice(&nonce);

    let ciphertext = cipher(key)
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &compressed,
                aad: &aad(&out, address),
            },
        )
        .map_err(|_| SealError::Encrypt)?;
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Check, decrypt and decompress bytes stored at `address` for `team`.
pub(crate) fn open(
    team: TeamId,
    key: &TeamKey,
    address: &str,
    stored: &[u8],
) -> Result<Vec<u8>, OpenError> {
    let actual = stored.len() as u64;
    // A file cut inside the magic still starts like one of ours.
    let magic_len = stored.len().min(MAGIC.len());
    if stored[..magic_len] != MAGIC[..magic_len] {
        return Err(OpenError::NotAnObject);
    }
    let header_expected = (HEADER_LEN + TAG_LEN) as u64;
    if stored.len() <= VERSION_AT {
        return Err(OpenError::Truncated {
            expected: header_expected,
            actual,
        });
    }
    if stored[VERSION_AT] != VERSION {
        return Err(OpenError::UnsupportedVersion(stored[VERSION_AT]));
    }
    let Some(header) = stored.get(..HEADER_LEN) else {
        return Err(OpenError::Truncated {
            expected: header_expected,
            actual,
        });
    };
    let mut team_bytes = [0u8; 16];
    team_bytes.copy_from_slice(&header[TEAM_AT..CHECK_AT]);
    let stored_team = TeamId::from_uuid(Uuid::from_bytes(team_bytes));
    if stored_team != team {
        return Err(OpenError::WrongTeam(stored_team));
    }
    if header[CHECK_AT..LEN_AT] != key.check {
        return Err(OpenError::WrongKey);
    }
    let mut len_bytes = [0u8; 8];
    len_bytes.copy_from_slice(&header[LEN_AT..NONCE_AT]);
    let body_len = u64::from_be_bytes(len_bytes);
    let expected = (HEADER_LEN as u64).saturating_add(body_len);
    if actual < expected {
        return Err(OpenError::Truncated { expected, actual });
    }
    // Extra bytes, or a length too short to hold the tag, can only come from an edit.
    if actual > expected || body_len < TAG_LEN as u64 {
        return Err(OpenError::Tampered);
    }
    let compressed = cipher(key)
        .decrypt(
            Nonce::from_slice(&header[NONCE_AT..HEADER_LEN]),
            Payload {
                msg: &stored[HEADER_LEN..],
                aad: &aad(header, address),
            },
        )
        .map_err(|_| OpenError::Tampered)?;
    zstd::decode_all(compressed.as_slice()).map_err(OpenError::Decompress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::key::MasterKey;

    fn setup() -> (TeamId, TeamKey) {
        let team = TeamId::new_random();
        (team, MasterKey::from_bytes([1; 32]).team_key(team))
    }

    /// Sealed once by this format (version 1) and kept: it must open to the same
    /// plaintext in every later build, and not with any byte changed.
    const SEALED_VECTOR: &str = concat!(
        "42464c5901000000000000000000000000000000008e88f934d669bc43000000000000004c225ff59184",
        "b560534de4e2248590ccc524620a1886e88edc3060e9ed31e7c171be689d9dfa5bac323a2a6519d72e16a1",
        "63f12592ffa13d8fb265989c638cfd49d092140ae3828b02c07d5d4997beb4fc16ff16c6488e91cc"
    );
    const VECTOR_ADDRESS: &str = "pack/000102030405060708090a0b0c0d0e0f/vector";
    const VECTOR_PLAINTEXT: &[u8] =
        b"{\"id\":\"00u1\",\"profile\":{\"login\":\"ada@example.com\"}}";

    fn vector_key() -> (TeamId, TeamKey) {
        let team = TeamId::from_uuid(Uuid::nil());
        let master = MasterKey::from_bytes(std::array::from_fn(|i| u8::try_from(i).unwrap()));
        (team, master.team_key(team))
    }

    #[test]
    fn a_fixed_sealed_blob_opens_to_its_plaintext() {
        let (team, key) = vector_key();
        let sealed = hex::decode(SEALED_VECTOR).unwrap();
        assert_eq!(
            open(team, &key, VECTOR_ADDRESS, &sealed).unwrap(),
            VECTOR_PLAINTEXT
        );
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 0x01;
        assert!(matches!(
            open(team, &key, VECTOR_ADDRESS, &tampered),
            Err(OpenError::Tampered)
        ));
        assert!(matches!(
            open(
                team,
                &key,
                "pack/000102030405060708090a0b0c0d0e0f/other",
                &sealed
            ),
            Err(OpenError::Tampered)
        ));
    }

    #[test]
    fn round_trips_and_compresses() {
        let (team, key) = setup();
        let plain = br#"{"id":"00u1","profile":{"login":"a@example.com"}}"#.repeat(50);
        let sealed = seal(team, &key, "a/b", &plain).unwrap();
        assert!(sealed.len() < plain.len() / 4, "{}", sealed.len());
        assert_eq!(&sealed[..4], b"BFLY");
        assert_eq!(open(team, &key, "a/b", &sealed).unwrap(), plain);
        // A fresh nonce each time: equal plaintexts give different bytes.
        assert_ne!(seal(team, &key, "a/b", &plain).unwrap(), sealed);
    }

    #[test]
    fn empty_plaintext_round_trips() {
        let (team, key) = setup();
        let sealed = seal(team, &key, "x", b"").unwrap();
        assert_eq!(open(team, &key, "x", &sealed).unwrap(), b"");
    }

    #[test]
    fn every_flipped_byte_is_an_error() {
        let (team, key) = setup();
        let sealed = seal(team, &key, "p", b"hello hello hello").unwrap();
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            let err = open(team, &key, "p", &bad).unwrap_err();
            let expected_kind = match i {
                0..4 => matches!(err, OpenError::NotAnObject),
                4 => matches!(err, OpenError::UnsupportedVersion(_)),
                5..21 => matches!(err, OpenError::WrongTeam(_)),
                21..29 => matches!(err, OpenError::WrongKey),
                29..37 => matches!(err, OpenError::Truncated { .. } | OpenError::Tampered),
                _ => matches!(err, OpenError::Tampered),
            };
            assert!(expected_kind, "byte {i}: {err:?}");
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        let (team, key) = setup();
        let sealed = seal(team, &key, "p", b"some content").unwrap();
        for len in 0..sealed.len() {
            let err = open(team, &key, "p", &sealed[..len]).unwrap_err();
            assert!(
                matches!(err, OpenError::Truncated { .. }),
                "length {len}: {err:?}"
            );
        }
        let mut longer = sealed.clone();
        longer.push(0);
        assert!(matches!(
            open(team, &key, "p", &longer),
            Err(OpenError::Tampered)
        ));
    }

    #[test]
    fn other_address_team_or_key_is_refused() {
        let (team, key) = setup();
        let sealed = seal(team, &key, "teams/a/objects/1", b"x").unwrap();
        assert!(matches!(
            open(team, &key, "teams/a/objects/2", &sealed),
            Err(OpenError::Tampered)
        ));
        let other_team = TeamId::new_random();
        let other_key = MasterKey::from_bytes([1; 32]).team_key(other_team);
        assert!(matches!(
            open(other_team, &other_key, "teams/a/objects/1", &sealed),
            Err(OpenError::WrongTeam(t)) if t == team
        ));
        let wrong_master = MasterKey::from_bytes([2; 32]).team_key(team);
        assert!(matches!(
            open(team, &wrong_master, "teams/a/objects/1", &sealed),
            Err(OpenError::WrongKey)
        ));
        assert!(matches!(
            open(team, &key, "x", b"PK\x03\x04 a zip file"),
            Err(OpenError::NotAnObject)
        ));
    }
}
