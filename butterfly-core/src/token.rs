//! Bearer secrets: SCIM tokens, API keys, session ids.
//!
//! A secret is shown to its owner once, when it is created, and stored only as the
//! SHA-256 of its text. Verification hashes the presented value and compares the
//! hashes in constant time. The secrets are 32 random base62 characters (about 190
//! bits), so a plain hash is enough: there is nothing to brute-force.

use std::fmt;

use rand::Rng;
use rand::rngs::OsRng;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of SCIM bearer tokens.
pub const SCIM_TOKEN_PREFIX: &str = "bfs_scim_";
/// Prefix of API keys.
pub const API_KEY_PREFIX: &str = "bfs_api_";
/// Prefix of browser session ids.
pub const SESSION_PREFIX: &str = "bfs_sess_";

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_CHARS: usize = 32;

/// A secret in clear text. Its `Debug` is redacted; read it with [`RawToken::secret`].
#[derive(Clone)]
pub struct RawToken(String);

impl RawToken {
    /// A fresh secret: `prefix` followed by 32 random base62 characters from the OS RNG.
    pub fn generate(prefix: &str) -> Self {
        let mut rng = OsRng;
        let mut s = String::with_capacity(prefix.len() + RANDOM_CHARS);
        s.push_str(prefix);
        for _ in 0..RANDOM_CHARS {
            s.push(char::from(BASE62[rng.gen_range(0..BASE62.len())]));
        }
        RawToken(s)
    }

    /// Wrap a secret presented by a client.
    pub fn from_presented(value: impl Into<String>) -> Self {
        RawToken(value.into())
    }

    /// The clear text. Show it once; never log it.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// The hash to store.
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }

    /// A short, non-secret label for lists: the prefix and the first four random
    /// characters (`bfs_scim_AbC1…`).
    pub fn hint(&self) -> String {
        let keep = self
            .0
            .find('_')
            .map_or(0, |_| self.0.rfind('_').map_or(0, |i| i + 1));
        let end = (keep + 4).min(self.0.len());
        format!("{}…", &self.0[..end])
    }
}

impl fmt::Debug for RawToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawToken(<redacted>)")
    }
}

/// The SHA-256 of a secret: what is stored and looked up.
#[derive(Clone, Copy)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// From stored hex.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).ok()?;
        Some(TokenHash(bytes))
    }

    /// The hex to store.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Whether `presented` hashes to this value, compared in constant time.
    pub fn verify(&self, presented: &RawToken) -> bool {
        self.ct_eq(&presented.hash())
    }

    /// Constant-time equality (deliberately no `PartialEq`, which would not be).
    pub fn ct_eq(&self, other: &TokenHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", &self.to_hex()[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_have_the_documented_shape() {
        let t = RawToken::generate(SCIM_TOKEN_PREFIX);
        let s = t.secret();
        assert!(s.starts_with("bfs_scim_"));
        assert_eq!(s.len(), SCIM_TOKEN_PREFIX.len() + 32);
        assert!(
            s[SCIM_TOKEN_PREFIX.len()..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric())
        );
        assert_ne!(t.secret(), RawToken::generate(SCIM_TOKEN_PREFIX).secret());
        assert_eq!(t.hint().chars().count(), SCIM_TOKEN_PREFIX.len() + 5);
    }

    #[test]
    fn verification_accepts_only_the_same_secret() {
        let t = RawToken::generate(API_KEY_PREFIX);
        let stored = TokenHash::from_hex(&t.hash().to_hex()).unwrap();
        assert!(stored.verify(&RawToken::from_presented(t.secret())));
        assert!(!stored.verify(&RawToken::from_presented(format!("{}x", t.secret()))));
        assert!(!stored.verify(&RawToken::from_presented("")));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let t = RawToken::generate(API_KEY_PREFIX);
        assert!(!format!("{t:?}").contains(&t.secret()[API_KEY_PREFIX.len()..]));
        assert!(!format!("{:?}", t.hash()).contains(&t.hash().to_hex()));
    }
}
