//! Signature verification shared by ID tokens and logout tokens, and the algorithm
//! policy: only asymmetric algorithms the provider advertises.
//!
//! The algorithm is checked from the raw header before any key is looked up, so `none`
//! and the HMAC family are refused by name. That closes algorithm confusion (a token
//! "signed" with HS256 using the provider's public key as the shared secret) without
//! relying on the crypto library to notice that an RSA key was offered for HMAC; it also
//! would, as a second line.

use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use butterfly_core::{Clock, SystemClock};
use chrono::TimeDelta;

use crate::config::{ClientId, Issuer};
use crate::jwks::{JwksCache, JwksError, alg_name};

/// The largest token we look at. ID and logout tokens are a few kilobytes; the limit
/// bounds the work an anonymous POST to the logout endpoint can cause.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The asymmetric JWS algorithms we can verify, in preference order.
const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The signing algorithms a validator accepts: asymmetric ones only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AllowedAlgorithms(Vec<Algorithm>);

impl AllowedAlgorithms {
    /// The asymmetric algorithms among `names` (a provider's
    /// `id_token_signing_alg_values_supported`); `none`, HS* and unknown names are
    /// dropped.
    pub(crate) fn from_names<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut algs = Vec::new();
        for name in names {
            if let Some(alg) = ASYMMETRIC
                .into_iter()
                .find(|a| alg_name(*a) == name.as_ref())
                && !algs.contains(&alg)
            {
                algs.push(alg);
            }
        }
        AllowedAlgorithms(algs)
    }

    /// RS256 alone: the algorithm OpenID Connect requires every provider to support.
    pub(crate) fn default_rs256() -> Self {
        AllowedAlgorithms(vec![Algorithm::RS256])
    }

    fn find(&self, name: &str) -> Option<Algorithm> {
        let alg = Algorithm::from_str(name).ok()?;
        self.0.contains(&alg).then_some(alg)
    }
}

/// What the ID token and logout token validators share: whose tokens they accept
/// (issuer, our client id), with which keys and algorithms, and on which clock.
#[derive(Debug, Clone)]
pub(crate) struct TokenPolicy {
    pub(crate) issuer: Issuer,
    pub(crate) client_id: ClientId,
    pub(crate) jwks: Arc<JwksCache>,
    pub(crate) algorithms: AllowedAlgorithms,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) clock_skew: TimeDelta,
}

impl TokenPolicy {
    /// RS256 only, the system clock, 60 seconds of skew.
    pub(crate) fn new(issuer: Issuer, client_id: ClientId, jwks: Arc<JwksCache>) -> Self {
        TokenPolicy {
            issuer,
            client_id,
            jwks,
            algorithms: AllowedAlgorithms::default_rs256(),
            clock: Arc::new(SystemClock),
            clock_skew: TimeDelta::seconds(60),
        }
    }

    /// Check the signature under this policy's keys and algorithms.
    pub(crate) async fn verify(&self, token: &str) -> Result<VerifiedJws, JwsError> {
        verify(token, &self.jwks, &self.algorithms).await
    }

    /// Now and the allowed skew, in Unix seconds.
    pub(crate) fn now_and_skew(&self) -> (i64, i64) {
        (self.clock.now().timestamp(), self.clock_skew.num_seconds())
    }

    /// Whether `iss` names this policy's issuer.
    pub(crate) fn is_issuer(&self, iss: Option<&str>) -> bool {
        iss == Some(self.issuer.as_str())
    }
}

/// The builder methods both validators offer over their [`TokenPolicy`] (in a field
/// named `policy`), with one set of docs.
macro_rules! token_policy_builders {
    () => {
        /// Accept the asymmetric algorithms among `names`, typically the provider's
        /// `id_token_signing_alg_values_supported` (logout tokens are signed like ID
        /// tokens). `none` and HS* are always dropped.
        #[must_use]
        pub fn with_algorithms<I, S>(mut self, names: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: AsRef<str>,
        {
            self.policy.algorithms = $crate::jws::AllowedAlgorithms::from_names(names);
            self
        }

        /// Use this clock.
        #[must_use]
        pub fn with_clock(mut self, clock: std::sync::Arc<dyn butterfly_core::Clock>) -> Self {
            self.policy.clock = clock;
            self
        }

        /// Allow this much difference between the provider's clock and ours.
        #[must_use]
        pub fn with_clock_skew(mut self, skew: chrono::TimeDelta) -> Self {
            self.policy.clock_skew = skew;
            self
        }
    };
}
pub(crate) use token_policy_builders;

/// Typed reads of a claims set; a claim of the wrong type is an error naming it.
pub(crate) struct Claims<'a>(pub(crate) &'a JsonObject);

impl Claims<'_> {
    /// A string claim; absent or `null` is `None`.
    pub(crate) fn string(&self, name: &'static str) -> Result<Option<String>, &'static str> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(name),
        }
    }

    /// A NumericDate claim; absent or `null` is `None`.
    pub(crate) fn date(&self, name: &'static str) -> Result<Option<i64>, &'static str> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => numeric_date(v).map(Some).ok_or(name),
        }
    }
}

/// Why a token's signature was not accepted.
#[derive(Debug)]
pub(crate) enum JwsError {
    Malformed(&'static str),
    DisallowedAlgorithm(String),
    Keys(JwksError),
    InvalidSignature,
}

/// A token whose signature checked out.
#[derive(Debug)]
pub(crate) struct VerifiedJws {
    pub(crate) typ: Option<String>,
    pub(crate) claims: Map<String, Value>,
}

/// Decode one JWS compact part as a JSON object.
fn json_part(part: &str) -> Result<Map<String, Value>, JwsError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwsError::Malformed("a part is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| JwsError::Malformed("a part is not a JSON object"))
}

/// A decoded JWS header or claims set.
type JsonObject = Map<String, Value>;

/// The header and claims of a JWS, unverified. For routing only (which issuer's keys to
/// verify with); never trust the result.
pub(crate) fn peek(token: &str) -> Result<(JsonObject, JsonObject), JwsError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwsError::Malformed("the token is too large"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    match parts.as_slice() {
        [header, payload, _signature] => Ok((json_part(header)?, json_part(payload)?)),
        [_, _, _, _, _] => Err(JwsError::Malformed(
            "encrypted (JWE) tokens are not supported",
        )),
        _ => Err(JwsError::Malformed("not a JWS in compact form")),
    }
}

/// Verify `token`'s signature with a key from `jwks`, under the algorithm policy.
pub(crate) async fn verify(
    token: &str,
    jwks: &JwksCache,
    allowed: &AllowedAlgorithms,
) -> Result<VerifiedJws, JwsError> {
    let (header, _) = peek(token)?;
    let alg_text = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(JwsError::Malformed("the header has no alg"))?;
    let alg = allowed
        .find(alg_text)
        .ok_or_else(|| JwsError::DisallowedAlgorithm(alg_text.to_owned()))?;
    // RFC 7515 section 4.1.11: extensions we do not understand must fail the token.
    if header.contains_key("crit") {
        return Err(JwsError::Malformed("the header has critical extensions"));
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(JwsError::Malformed("the kid is not a string")),
    };
    let typ = match header.get("typ") {
        None => None,
        Some(Value::String(typ)) => Some(typ.clone()),
        Some(_) => return Err(JwsError::Malformed("the typ is not a string")),
    };
    let key = jwks.key_for(kid, alg).await.map_err(JwsError::Keys)?;

    // Signature only: every claim is checked by the caller against the injected clock,
    // with precise errors.
    let mut validation = Validation::new(alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(
        |e| match e.kind() {
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                JwsError::DisallowedAlgorithm(alg_text.to_owned())
            }
            // A key that cannot verify this token (wrong curve, broken parameters) fails
            // it just as a wrong signature does.
            ErrorKind::InvalidSignature
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidEddsaKey
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidKeyFormat => JwsError::InvalidSignature,
            _ => JwsError::Malformed("the token could not be decoded"),
        },
    )?;
    Ok(VerifiedJws {
        typ,
        claims: data.claims,
    })
}

/// A NumericDate claim (RFC 7519 section 2) in whole seconds; fractions are truncated.
pub(crate) fn numeric_date(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && f.abs() < 1e15)
                // Truncation is the intent: NumericDate may carry fractions of a second,
                // and the range was checked above.
                .map(|f| {
                    #[allow(clippy::cast_possible_truncation)]
                    let seconds = f as i64;
                    seconds
                })
        }),
        _ => None,
    }
}

/// Whether the `aud` claim (a string or an array of strings) names `client_id`, and how
/// many audiences it names.
pub(crate) fn audience(value: Option<&Value>, client_id: &str) -> (bool, usize) {
    match value {
        Some(Value::String(aud)) => (aud == client_id, 1),
        Some(Value::Array(auds)) => (
            auds.iter().any(|a| a.as_str() == Some(client_id)),
            auds.len(),
        ),
        _ => (false, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_asymmetric_advertised_algorithms_are_allowed() {
        let allowed = AllowedAlgorithms::from_names(["none", "HS256", "RS256", "ES256", "XX1"]);
        assert_eq!(allowed.0, vec![Algorithm::RS256, Algorithm::ES256]);
        assert!(allowed.find("HS256").is_none());
        assert!(allowed.find("none").is_none());
        assert!(allowed.find("PS256").is_none());
        assert_eq!(allowed.find("ES256"), Some(Algorithm::ES256));
    }

    #[test]
    fn numeric_dates_accept_integers_and_fractions() {
        assert_eq!(numeric_date(&serde_json::json!(10)), Some(10));
        assert_eq!(numeric_date(&serde_json::json!(10.9)), Some(10));
        assert_eq!(numeric_date(&serde_json::json!("10")), None);
    }
}
