//! Password-wrapped master keys: the `keys/` directory of a local repository.
//!
//! A copy of a repository directory must not be a copy of its plaintext. So instead of
//! the plain `master.key` file, a repository made with a password keeps its master key
//! only wrapped, as restic does: each file `keys/{id}.json` holds the master key sealed
//! with AES-256-GCM under a key derived from one password with Argon2id (RFC 9106), with
//! the salt and cost parameters beside it. Several files wrap the same master key under
//! different passwords, so a password can be added before an old one is removed, and
//! nothing is re-encrypted when passwords change.
//!
//! ```json
//! {
//!   "version": 1,
//!   "created": "2026-12-02T00:00:00Z",
//!   "kdf": {"algorithm": "argon2id", "memory_kib": 65536, "iterations": 3,
//!           "parallelism": 1, "salt": "<32 hex bytes>"},
//!   "nonce": "<12 hex bytes>",
//!   "sealed_key": "<48 hex bytes: the 32-byte key and the GCM tag>"
//! }
//! ```
//!
//! The file's id is bound into the seal as associated data, so a key file renamed or
//! swapped for another does not open. A wrong password and a tampered file are the same
//! failure to the cipher, and are reported as [`KeyringError::WrongPassword`].

use std::fmt;

use aes_gcm::aead::{Aead as _, Payload};
use aes_gcm::{Aes256Gcm, KeyInit as _, Nonce};
use allocator_api2::alloc::System;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use zeroize::Zeroize as _;

use super::key::MasterKey;

/// The only key file version so far.
const VERSION: u32 = 1;
/// Associated data prefix: a key file seal is never mistaken for any other.
const AAD_PREFIX: &str = "butterfly/keyring/v1/";

/// A repository password. `Debug` is redacted; the bytes are not kept beyond use.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// A password from its text. Surrounding newlines are kept: read files with
    /// [`Password::from_file_text`], which trims the final newline editors add.
    pub fn new(text: impl Into<String>) -> Self {
        Password(text.into())
    }

    /// A password read from a file: one trailing `\n` or `\r\n` is dropped, as restic
    /// does for `--password-file`.
    pub fn from_file_text(text: &str) -> Self {
        let text = text.strip_suffix('\n').unwrap_or(text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        Password(text.to_owned())
    }

    /// Whether the password is empty (refused when creating a key).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Argon2id cost parameters, stored in each key file so they can change over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KdfCost {
    /// Memory, in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl KdfCost {
    /// The default for new keys: 64 MiB, 3 passes, 1 lane. Above RFC 9106's second
    /// recommended option and OWASP's minimum; about 0.2 s on one core of this machine.
    pub const DEFAULT: KdfCost = KdfCost {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 1,
    };

    /// A cheap cost for tests of the format itself (never for real keys).
    pub const TESTING: KdfCost = KdfCost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    /// Costs below this are refused when opening, so a tampered file cannot weaken the
    /// next key derived from it into something cheap to brute-force unnoticed.
    fn is_reasonable(&self) -> bool {
        // Upper bounds keep a hostile file from making `open` allocate without limit.
        (8..=4 * 1024 * 1024).contains(&self.memory_kib)
            && (1..=64).contains(&self.iterations)
            && (1..=16).contains(&self.parallelism)
    }
}

/// How a key file derives its wrapping key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Kdf {
    algorithm: String,
    #[serde(flatten)]
    cost: KdfCost,
    salt: String,
}

/// One `keys/{id}.json` file: the master key wrapped under one password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFile {
    version: u32,
    /// When the key was added.
    pub created: DateTime<Utc>,
    kdf: Kdf,
    nonce: String,
    sealed_key: String,
}

/// Errors from wrapping and unwrapping keys.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KeyringError {
    /// No key file opens with this password (or the file was tampered with).
    #[error("wrong password: no key of this repository opens with it")]
    WrongPassword,
    /// The key file is not one this version can read.
    #[error("key file {id} is invalid: {reason}")]
    Invalid {
        /// The key file's id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// An empty password was given for a new key.
    #[error("the password is empty")]
    EmptyPassword,
}

impl KeyFile {
    /// Wrap `master` under `password` with a fresh salt and nonce, for the key file `id`.
    pub fn wrap(
        id: &str,
        master: &MasterKey,
        password: &Password,
        cost: KdfCost,
        created: DateTime<Utc>,
    ) -> Result<KeyFile, KeyringError> {
        if password.is_empty() {
            return Err(KeyringError::EmptyPassword);
        }
        let mut salt = [0u8; 32];
        OsRng.fill_bytes(&mut salt);
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let wrapping = derive(id, password, &salt, cost)?;
        let aad = format!("{AAD_PREFIX}{id}");
        let sealed = wrapping
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: master.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| invalid(id, "the key could not be sealed"))?;
        Ok(KeyFile {
            version: VERSION,
            created,
            kdf: Kdf {
                algorithm: "argon2id".to_owned(),
                cost,
                salt: hex::encode(salt),
            },
            nonce: hex::encode(nonce),
            sealed_key: hex::encode(sealed),
        })
    }

    /// The master key, if `password` opens this file (named `id`).
    pub fn unwrap(&self, id: &str, password: &Password) -> Result<MasterKey, KeyringError> {
        if self.version != VERSION {
            return Err(invalid(id, format!("unknown version {}", self.version)));
        }
        if self.kdf.algorithm != "argon2id" {
            return Err(invalid(
                id,
                format!("unknown key derivation {}", self.kdf.algorithm),
            ));
        }
        if !self.kdf.cost.is_reasonable() {
            return Err(invalid(id, "key derivation cost out of range"));
        }
        let salt = decode::<32>(id, "salt", &self.kdf.salt)?;
        let nonce = decode::<12>(id, "nonce", &self.nonce)?;
        let sealed = decode::<48>(id, "sealed_key", &self.sealed_key)?;
        let wrapping = derive(id, password, &salt, self.kdf.cost)?;
        let aad = format!("{AAD_PREFIX}{id}");
        let opened = wrapping
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &sealed,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| KeyringError::WrongPassword)?;
        let bytes: [u8; 32] = opened
            .try_into()
            .map_err(|_| invalid(id, "the sealed key is not 32 bytes"))?;
        Ok(MasterKey::from_bytes(bytes))
    }

    /// The Argon2id cost this file uses.
    pub fn cost(&self) -> KdfCost {
        self.kdf.cost
    }
}

fn derive(
    id: &str,
    password: &Password,
    salt: &[u8],
    cost: KdfCost,
) -> Result<Aes256Gcm, KeyringError> {
    let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, Some(32))
        .map_err(|e| invalid(id, format!("key derivation parameters: {e}")))?;
    let mut out = [0u8; 32];
    let mut memory = ArgonMemory::new(params.block_count());
    let derived = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into_with_memory(password.bytes(), salt, &mut out, memory.blocks());
    drop(memory);
    derived.map_err(|e| invalid(id, format!("key derivation: {e}")))?;
    let key = Aes256Gcm::new(&out.into());
    out.zeroize();
    Ok(key)
}

/// Argon2id's working memory (64 MiB at the default cost), zeroed when dropped.
///
/// It comes from the system allocator, not the process's global one: mimalloc (the CLI's
/// and server's allocator) keeps a freed region this large for about a second before it
/// returns it to the OS, which held the key derivation's 64 MiB through the start of
/// every backup and showed in its peak memory. The C library maps a block this large on
/// its own and unmaps it when freed.
struct ArgonMemory(allocator_api2::vec::Vec<Block, System>);

impl ArgonMemory {
    fn new(blocks: usize) -> Self {
        let mut memory = allocator_api2::vec::Vec::with_capacity_in(blocks, System);
        memory.resize(blocks, Block::default());
        ArgonMemory(memory)
    }

    fn blocks(&mut self) -> &mut [Block] {
        &mut self.0
    }
}

impl Drop for ArgonMemory {
    fn drop(&mut self) {
        // The blocks are derived from the password.
        for block in &mut self.0 {
            block.zeroize();
        }
    }
}

fn decode<const N: usize>(id: &str, field: &str, text: &str) -> Result<[u8; N], KeyringError> {
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out)
        .map_err(|_| invalid(id, format!("{field} is not {N} hex bytes")))?;
    Ok(out)
}

fn invalid(id: &str, reason: impl Into<String>) -> KeyringError {
    KeyringError::Invalid {
        id: id.to_owned(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn wraps_and_unwraps_with_the_right_password_only() {
        let master = MasterKey::generate();
        let file = KeyFile::wrap(
            "k1",
            &master,
            &Password::new("correct horse"),
            KdfCost::TESTING,
            now(),
        )
        .unwrap();
        let opened = file.unwrap("k1", &Password::new("correct horse")).unwrap();
        assert_eq!(opened.as_bytes(), master.as_bytes());
        assert!(matches!(
            file.unwrap("k1", &Password::new("wrong")),
            Err(KeyringError::WrongPassword)
        ));
        // The id is bound into the seal: a renamed file does not open.
        assert!(matches!(
            file.unwrap("k2", &Password::new("correct horse")),
            Err(KeyringError::WrongPassword)
        ));
    }

    #[test]
    fn the_file_never_holds_the_key_or_the_password() {
        let master = MasterKey::generate();
        let file = KeyFile::wrap(
            "k1",
            &master,
            &Password::new("hunter2-hunter2"),
            KdfCost::TESTING,
            now(),
        )
        .unwrap();
        let text = serde_json::to_string(&file).unwrap();
        assert!(!text.contains(&hex::encode(master.as_bytes())));
        assert!(!text.contains("hunter2"));
        let back: KeyFile = serde_json::from_str(&text).unwrap();
        assert_eq!(back, file);
    }

    #[test]
    fn tampering_and_hostile_costs_are_errors_not_panics() {
        let master = MasterKey::generate();
        let pw = Password::new("pw");
        let file = KeyFile::wrap("k1", &master, &pw, KdfCost::TESTING, now()).unwrap();
        let mut flipped = file.clone();
        let mut bytes = hex::decode(&flipped.sealed_key).unwrap();
        bytes[0] ^= 1;
        flipped.sealed_key = hex::encode(bytes);
        assert!(matches!(
            flipped.unwrap("k1", &pw),
            Err(KeyringError::WrongPassword)
        ));
        let mut huge = file.clone();
        huge.kdf.cost.memory_kib = u32::MAX;
        assert!(matches!(
            huge.unwrap("k1", &pw),
            Err(KeyringError::Invalid { .. })
        ));
        let mut short = file.clone();
        short.nonce = "00".to_owned();
        assert!(matches!(
            short.unwrap("k1", &pw),
            Err(KeyringError::Invalid { .. })
        ));
        let mut future = file;
        future.version = 2;
        assert!(matches!(
            future.unwrap("k1", &pw),
            Err(KeyringError::Invalid { .. })
        ));
    }

    #[test]
    fn empty_passwords_are_refused_and_file_text_loses_one_newline() {
        let master = MasterKey::generate();
        assert!(matches!(
            KeyFile::wrap("k", &master, &Password::new(""), KdfCost::TESTING, now()),
            Err(KeyringError::EmptyPassword)
        ));
        assert_eq!(Password::from_file_text("pw\r\n").bytes(), b"pw");
        assert_eq!(Password::from_file_text("pw\n\n").bytes(), b"pw\n");
        assert!(format!("{:?}", Password::new("secret")).contains("redacted"));
    }
}
