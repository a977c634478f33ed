//! ID token validation (OpenID Connect Core 1.0 section 3.1.3.7).
//!
//! We validate ID tokens ourselves rather than with `openidconnect`'s verifier because
//! that verifier holds the key set fetched at discovery and never refreshes it: after the
//! provider rotates its keys, every login would fail until a restart. Here the keys come
//! from the same rate-limited [`JwksCache`] as logout tokens, under the same algorithm
//! policy, and time comes from the injected [`Clock`].

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::config::{ClientId, Issuer};
use crate::jwks::{JwksCache, JwksError};
use crate::jws::{self, Claims, JwsError, TokenPolicy};

/// Why an ID token was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdTokenError {
    /// Not a well-formed signed JWT with JSON claims.
    #[error("the ID token is malformed: {0}")]
    Malformed(&'static str),
    /// Signed with `none`, a symmetric algorithm, or one the provider does not advertise.
    #[error("the ID token's algorithm `{0}` is not allowed")]
    DisallowedAlgorithm(String),
    /// No key to verify it with.
    #[error("no key to verify the ID token")]
    Keys(#[source] JwksError),
    /// The signature does not verify.
    #[error("the ID token's signature is invalid")]
    InvalidSignature,
    /// `iss` is not the provider's issuer.
    #[error("the ID token's issuer is not the expected one")]
    WrongIssuer,
    /// `aud` does not contain our client id.
    #[error("the ID token is not for this client")]
    WrongAudience,
    /// Several audiences and `azp` is not our client id (section 3.1.3.7 steps 3 to 5).
    #[error("the ID token has several audiences and is not authorized to this client")]
    WrongAuthorizedParty,
    /// `sub` is missing or empty.
    #[error("the ID token has no subject")]
    MissingSubject,
    /// `exp` is missing.
    #[error("the ID token has no expiry")]
    MissingExpiry,
    /// `exp` is in the past.
    #[error("the ID token has expired")]
    Expired,
    /// `iat` is missing.
    #[error("the ID token has no issue time")]
    MissingIssuedAt,
    /// `iat` is in the future beyond the allowed clock skew.
    #[error("the ID token was issued in the future")]
    IssuedInFuture,
    /// `nonce` is missing or is not the one we sent.
    #[error("the ID token's nonce does not match the login")]
    NonceMismatch,
    /// A claim has the wrong JSON type.
    #[error("the ID token's `{0}` claim has the wrong type")]
    InvalidClaim(&'static str),
}

impl From<JwsError> for IdTokenError {
    fn from(e: JwsError) -> Self {
        match e {
            JwsError::Malformed(why) => IdTokenError::Malformed(why),
            JwsError::DisallowedAlgorithm(alg) => IdTokenError::DisallowedAlgorithm(alg),
            JwsError::Keys(e) => IdTokenError::Keys(e),
            JwsError::InvalidSignature => IdTokenError::InvalidSignature,
        }
    }
}

/// An ID token as received, for `id_token_hint` at logout. Its `Debug` is redacted:
/// it carries personal data and is accepted as proof of a past login by some providers.
#[derive(Clone, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct RawIdToken(String);

impl RawIdToken {
    /// The compact JWT.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RawIdToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawIdToken(<redacted>)")
    }
}

/// Who signed in, from a validated ID token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifiedLogin {
    /// The provider (`iss`).
    pub issuer: Issuer,
    /// The user's stable id at the provider (`sub`). Key accounts on (issuer, subject),
    /// not on email, which users and admins can change.
    pub subject: String,
    /// The email address, if the provider sent one.
    pub email: Option<String>,
    /// Whether the provider vouches for the email. Absent counts as `false`: link
    /// accounts by email only when this is true.
    pub email_verified: bool,
    /// The display name (`name`), if sent.
    pub name: Option<String>,
    /// The provider's session id (`sid`), which back-channel logout tokens name. Store
    /// it with the session you create.
    pub sid: Option<String>,
    /// When the user authenticated at the provider (`auth_time`), if sent.
    pub auth_time: Option<DateTime<Utc>>,
    /// When the ID token expires (`exp`).
    pub expires_at: DateTime<Utc>,
    /// Every claim of the token, for mapping custom claims (groups, roles) at
    /// just-in-time provisioning.
    pub claims: Map<String, Value>,
    /// The token itself, for `id_token_hint` at RP-initiated logout.
    pub id_token: RawIdToken,
}

/// Validates ID tokens from one provider for one client.
#[derive(Debug, Clone)]
pub struct IdTokenValidator {
    policy: TokenPolicy,
}

impl IdTokenValidator {
    /// A validator accepting RS256 only, on the system clock with 60 seconds of skew.
    pub fn new(issuer: Issuer, client_id: ClientId, jwks: Arc<JwksCache>) -> Self {
        IdTokenValidator {
            policy: TokenPolicy::new(issuer, client_id, jwks),
        }
    }

    jws::token_policy_builders!();

    /// Validate `id_token`, which must carry `expected_nonce` (the one sent in the
    /// authorization request).
    pub async fn validate(
        &self,
        id_token: &str,
        expected_nonce: &str,
    ) -> Result<VerifiedLogin, IdTokenError> {
        let verified = self.policy.verify(id_token).await?;
        let claims = verified.claims;
        let (now, skew) = self.policy.now_and_skew();
        let read = Claims(&claims);
        let string = |name| read.string(name).map_err(IdTokenError::InvalidClaim);
        let date = |name| read.date(name).map_err(IdTokenError::InvalidClaim);

        if !self.policy.is_issuer(string("iss")?.as_deref()) {
            return Err(IdTokenError::WrongIssuer);
        }
        let client_id = self.policy.client_id.as_str();
        let (ours, audiences) = jws::audience(claims.get("aud"), client_id);
        if !ours {
            return Err(IdTokenError::WrongAudience);
        }
        let azp = string("azp")?;
        if (audiences > 1 || azp.is_some()) && azp.as_deref() != Some(client_id) {
            return Err(IdTokenError::WrongAuthorizedParty);
        }
        let exp = date("exp")?.ok_or(IdTokenError::MissingExpiry)?;
        if now > exp.saturating_add(skew) {
            return Err(IdTokenError::Expired);
        }
        let iat = date("iat")?.ok_or(IdTokenError::MissingIssuedAt)?;
        if iat > now.saturating_add(skew) {
            return Err(IdTokenError::IssuedInFuture);
        }
        let nonce = string("nonce")?.ok_or(IdTokenError::NonceMismatch)?;
        if !bool::from(nonce.as_bytes().ct_eq(expected_nonce.as_bytes())) {
            return Err(IdTokenError::NonceMismatch);
        }
        let subject = string("sub")?
            .filter(|s| !s.is_empty())
            .ok_or(IdTokenError::MissingSubject)?;
        // Some providers (Cognito among them) send email_verified as a string.
        let email_verified = match claims.get("email_verified") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s == "true" => true,
            Some(Value::String(s)) if s == "false" => false,
            Some(_) => return Err(IdTokenError::InvalidClaim("email_verified")),
        };
        let to_time = |t: i64| DateTime::from_timestamp(t, 0);
        Ok(VerifiedLogin {
            issuer: self.policy.issuer.clone(),
            subject,
            email: string("email")?,
            email_verified,
            name: string("name")?,
            sid: string("sid")?,
            auth_time: date("auth_time")?.and_then(to_time),
            expires_at: to_time(exp).ok_or(IdTokenError::InvalidClaim("exp"))?,
            id_token: RawIdToken(id_token.to_owned()),
            claims,
        })
    }
}
