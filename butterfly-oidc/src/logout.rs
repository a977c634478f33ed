//! Logout token validation, OpenID Connect Back-Channel Logout 1.0 section 2.6.
//!
//! The provider POSTs a signed logout token to our endpoint when a user's session there
//! ends (the user signed out, an admin ended the session, risk detection). The endpoint
//! is public, so everything about the token is checked before a session is touched:
//!
//! 1. signature by a key from the provider's key set, with an asymmetric algorithm the
//!    provider advertises (never `none`, never HS*);
//! 2. `typ` header, when present, `logout+jwt` (or plain `JWT`);
//! 3. `iss` is the provider; `aud` contains our client id;
//! 4. `iat` present, not in the future beyond the skew, not older than the maximum age;
//!    `exp`, when present, not passed;
//! 5. `events` holds `http://schemas.openid.net/event/backchannel-logout` with an object
//!    value, and there is no `nonce` (so an ID token cannot pass for a logout token, nor
//!    the reverse);
//! 6. `sub` or `sid` present; `jti` present and not seen before.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use butterfly_core::store::ReplicaCoordination;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::config::{ClientId, Issuer};
use crate::jwks::{JwksCache, JwksError};
use crate::jws::{self, Claims, JwsError, TokenPolicy};

/// The member of `events` that makes a JWT a logout token.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Why a logout token was rejected: one variant per rule of section 2.6.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogoutTokenError {
    /// Not a well-formed signed JWT with a JSON object as claims.
    #[error("the logout token is malformed: {0}")]
    Malformed(&'static str),
    /// Signed with `none`, a symmetric algorithm, or one the provider does not advertise.
    #[error("the logout token's algorithm `{0}` is not allowed")]
    DisallowedAlgorithm(String),
    /// No key in the provider's key set can verify it (unknown `kid`, or the key set could
    /// not be fetched).
    #[error("no key to verify the logout token")]
    Keys(#[source] JwksError),
    /// The signature does not verify.
    #[error("the logout token's signature is invalid")]
    InvalidSignature,
    /// The `typ` header is neither `logout+jwt` nor `JWT`.
    #[error("the logout token's type `{0}` is not logout+jwt")]
    WrongType(String),
    /// `iss` is not the provider's issuer.
    #[error("the logout token's issuer is not the expected one")]
    WrongIssuer,
    /// `aud` does not contain our client id.
    #[error("the logout token is not for this client")]
    WrongAudience,
    /// `iat` is missing.
    #[error("the logout token has no issue time")]
    MissingIssuedAt,
    /// `iat` is in the future beyond the allowed clock skew.
    #[error("the logout token was issued in the future")]
    IssuedInFuture,
    /// `iat` is older than the maximum age we accept.
    #[error("the logout token is too old")]
    TooOld,
    /// `exp` is in the past.
    #[error("the logout token has expired")]
    Expired,
    /// `events` is missing or lacks the back-channel logout member.
    #[error("the logout token has no back-channel logout event")]
    MissingLogoutEvent,
    /// The back-channel logout member of `events` is not a JSON object.
    #[error("the logout token's back-channel logout event is not a JSON object")]
    EventNotObject,
    /// A `nonce` claim is present, which logout tokens must not have.
    #[error("the logout token has a nonce")]
    NoncePresent,
    /// Neither `sub` nor `sid` is present.
    #[error("the logout token names neither a subject nor a session")]
    MissingSubjectAndSession,
    /// `jti` is missing.
    #[error("the logout token has no jti")]
    MissingJti,
    /// This `jti` was accepted before: a replay.
    #[error("the logout token was already used")]
    Replayed,
    /// The replicas' shared record of used tokens could not be consulted; the token is
    /// refused rather than risk accepting a replay.
    #[error("the record of used logout tokens is unavailable")]
    ReplayRecordUnavailable(#[source] butterfly_core::store::StoreError),
    /// A claim has the wrong JSON type.
    #[error("the logout token's `{0}` claim has the wrong type")]
    InvalidClaim(&'static str),
}

impl From<JwsError> for LogoutTokenError {
    fn from(e: JwsError) -> Self {
        match e {
            JwsError::Malformed(why) => LogoutTokenError::Malformed(why),
            JwsError::DisallowedAlgorithm(alg) => LogoutTokenError::DisallowedAlgorithm(alg),
            JwsError::Keys(e) => LogoutTokenError::Keys(e),
            JwsError::InvalidSignature => LogoutTokenError::InvalidSignature,
        }
    }
}

/// A verified request to end sessions.
///
/// If `sid` is present, end that provider session's sessions for this issuer (and
/// `subject`, if present). If only `subject` is present, end every session of that user
/// from this issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LogoutRequest {
    /// The provider that sent it.
    pub issuer: Issuer,
    /// The user (`sub`), if named.
    pub subject: Option<String>,
    /// The provider session (`sid`), if named.
    pub sid: Option<String>,
    /// The token's unique id, for audit logs.
    pub jti: String,
}

/// Remembers accepted `jti`s until their tokens could no longer pass the time checks.
///
/// Bounded: when full, the entry closest to expiry is forgotten first. Filling it needs
/// tokens validly signed by the provider, so the bound is against a misbehaving provider,
/// not the public. It is per process: replicas behind a load balancer each keep their
/// own, so a replay to another replica is accepted (ending the same sessions again).
#[derive(Debug)]
struct ReplayCache {
    capacity: usize,
    inner: Mutex<ReplayState>,
}

#[derive(Debug, Default)]
struct ReplayState {
    expiry_by_jti: BTreeMap<String, i64>,
    by_expiry: BTreeSet<(i64, String)>,
}

impl ReplayCache {
    fn new(capacity: usize) -> Self {
        ReplayCache {
            capacity: capacity.max(1),
            inner: Mutex::new(ReplayState::default()),
        }
    }

    /// Record `jti` until `expires_at` (unix seconds); false if it is already recorded.
    fn first_use(&self, jti: &str, expires_at: i64, now: i64) -> bool {
        let mut state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some((at, _)) = state.by_expiry.first()
            && *at <= now
        {
            if let Some((_, old)) = state.by_expiry.pop_first() {
                state.expiry_by_jti.remove(&old);
            }
        }
        if state.expiry_by_jti.contains_key(jti) {
            return false;
        }
        if state.expiry_by_jti.len() >= self.capacity
            && let Some((_, old)) = state.by_expiry.pop_first()
        {
            state.expiry_by_jti.remove(&old);
        }
        state.expiry_by_jti.insert(jti.to_owned(), expires_at);
        state.by_expiry.insert((expires_at, jti.to_owned()));
        true
    }
}

/// Validates back-channel logout tokens from one provider for one client.
///
/// Keep one per provider for the life of the process (it holds the replay cache), and
/// share its [`JwksCache`] with the ID token validator:
/// [`OidcClient::logout_validator`](crate::OidcClient::logout_validator) does both.
#[derive(Debug)]
pub struct LogoutTokenValidator {
    policy: TokenPolicy,
    max_age: TimeDelta,
    replay: ReplayCache,
    /// Shared with the other replicas, when there are any: used `jti`s are recorded
    /// there instead of in `replay`.
    replicas: Option<Arc<dyn ReplicaCoordination>>,
}

impl LogoutTokenValidator {
    /// A validator accepting RS256 only, on the system clock, with 60 seconds of clock
    /// skew, tokens at most 5 minutes old, and room for 10,000 remembered `jti`s.
    pub fn new(issuer: Issuer, client_id: ClientId, jwks: Arc<JwksCache>) -> Self {
        LogoutTokenValidator {
            policy: TokenPolicy::new(issuer, client_id, jwks),
            max_age: TimeDelta::minutes(5),
            replay: ReplayCache::new(10_000),
            replicas: None,
        }
    }

    /// Record used `jti`s in state all replicas share (the server's database), so a
    /// token replayed to another replica is refused too. Without it, the record is this
    /// process's own.
    #[must_use]
    pub fn with_replica_coordination(mut self, replicas: Arc<dyn ReplicaCoordination>) -> Self {
        self.replicas = Some(replicas);
        self
    }

    jws::token_policy_builders!();

    /// Reject tokens issued longer ago than this. It also bounds how long a `jti` must be
    /// remembered. Default: 5 minutes.
    #[must_use]
    pub fn with_max_age(mut self, max_age: TimeDelta) -> Self {
        self.max_age = max_age;
        self
    }

    /// Remember at most this many `jti`s. Default: 10,000.
    #[must_use]
    pub fn with_replay_capacity(mut self, capacity: usize) -> Self {
        self.replay = ReplayCache::new(capacity);
        self
    }

    /// The provider this validator trusts.
    pub fn issuer(&self) -> &Issuer {
        &self.policy.issuer
    }

    /// The `iss` a token claims, unverified: to choose which provider's validator to
    /// use when one endpoint serves several. Never act on it otherwise.
    pub fn peek_issuer(logout_token: &str) -> Option<String> {
        let (_, claims) = jws::peek(logout_token).ok()?;
        claims.get("iss")?.as_str().map(str::to_owned)
    }

    /// Validate a logout token per section 2.6 and record its `jti`.
    pub async fn validate(&self, logout_token: &str) -> Result<LogoutRequest, LogoutTokenError> {
        let verified = self.policy.verify(logout_token).await?;
        // Explicit typing (section 4.1) is optional for providers; when present it must
        // say logout token. Media type names are case-insensitive, and the
        // `application/` prefix may be omitted (RFC 7515 section 4.1.9).
        if let Some(typ) = &verified.typ {
            let t = typ.to_ascii_lowercase();
            let t = t.strip_prefix("application/").unwrap_or(&t);
            if t != "logout+jwt" && t != "jwt" {
                return Err(LogoutTokenError::WrongType(typ.clone()));
            }
        }
        let claims = verified.claims;
        let read = Claims(&claims);
        let string = |name| read.string(name).map_err(LogoutTokenError::InvalidClaim);
        let date = |name| read.date(name).map_err(LogoutTokenError::InvalidClaim);

        if !self.policy.is_issuer(string("iss")?.as_deref()) {
            return Err(LogoutTokenError::WrongIssuer);
        }
        if !jws::audience(claims.get("aud"), self.policy.client_id.as_str()).0 {
            return Err(LogoutTokenError::WrongAudience);
        }

        let (now, skew) = self.policy.now_and_skew();
        let iat = date("iat")?.ok_or(LogoutTokenError::MissingIssuedAt)?;
        if iat > now.saturating_add(skew) {
            return Err(LogoutTokenError::IssuedInFuture);
        }
        let oldest_accepted = iat.saturating_add(self.max_age.num_seconds());
        if now > oldest_accepted.saturating_add(skew) {
            return Err(LogoutTokenError::TooOld);
        }
        let exp = date("exp")?;
        if let Some(exp) = exp
            && now > exp.saturating_add(skew)
        {
            return Err(LogoutTokenError::Expired);
        }

        match claims.get("events") {
            Some(Value::Object(events)) => match events.get(BACKCHANNEL_LOGOUT_EVENT) {
                Some(Value::Object(_)) => {}
                Some(_) => return Err(LogoutTokenError::EventNotObject),
                None => return Err(LogoutTokenError::MissingLogoutEvent),
            },
            Some(_) => return Err(LogoutTokenError::InvalidClaim("events")),
            None => return Err(LogoutTokenError::MissingLogoutEvent),
        }
        if claims.contains_key("nonce") {
            return Err(LogoutTokenError::NoncePresent);
        }
        let subject = string("sub")?.filter(|s| !s.is_empty());
        let sid = string("sid")?.filter(|s| !s.is_empty());
        if subject.is_none() && sid.is_none() {
            return Err(LogoutTokenError::MissingSubjectAndSession);
        }
        let jti = string("jti")?
            .filter(|s| !s.is_empty())
            .ok_or(LogoutTokenError::MissingJti)?;

        // Recorded last, so only tokens that passed every other check take room. The
        // entry lives as long as the token could still pass the time checks above.
        let forget_at = exp
            .map_or(oldest_accepted, |exp| exp.min(oldest_accepted))
            .saturating_add(skew);
        let first_use = match &self.replicas {
            Some(replicas) => {
                let at = |secs| DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or_default();
                replicas
                    .first_use(self.policy.issuer.as_str(), &jti, at(forget_at), at(now))
                    .await
                    .map_err(LogoutTokenError::ReplayRecordUnavailable)?
            }
            None => self.replay.first_use(&jti, forget_at, now),
        };
        if !first_use {
            return Err(LogoutTokenError::Replayed);
        }
        Ok(LogoutRequest {
            issuer: self.policy.issuer.clone(),
            subject,
            sid,
            jti,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_cache_forgets_expired_and_evicts_when_full() {
        let cache = ReplayCache::new(2);
        assert!(cache.first_use("a", 100, 0));
        assert!(!cache.first_use("a", 100, 50));
        // Expired entries go first.
        assert!(cache.first_use("a", 200, 100));
        assert!(cache.first_use("b", 300, 100));
        // Full: the entry closest to expiry ("a") makes room.
        assert!(cache.first_use("c", 400, 100));
        assert!(!cache.first_use("b", 300, 100));
        assert!(!cache.first_use("c", 400, 100));
        assert!(cache.first_use("a", 200, 100));
    }
}
