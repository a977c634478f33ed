//! `POST /oauth2/v1/token`: client credentials with a `private_key_jwt` client assertion.
//!
//! Okta's rules for the assertion (RFC 7523 as Okta applies it to service apps): `iss` and
//! `sub` are both the client id, `aud` is the token endpoint's full URL, `exp` is present
//! and at most one hour ahead, the signature is RS256 by a key registered for the client,
//! and a `jti`, when present, is never accepted twice. The requested scopes must all be
//! granted to the client. Errors use the OAuth 2.0 body (`error`, `error_description`):
//! `invalid_client` (401) for the assertion, `invalid_scope` and `unsupported_grant_type`
//! (400) for the rest.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};

/// The `client_assertion_type` for a JWT client assertion.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How far ahead Okta lets an assertion's `exp` be.
const MAX_ASSERTION_LIFETIME: TimeDelta = TimeDelta::hours(1);

/// An OAuth 2.0 error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OAuthError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    fn client(description: impl Into<String>) -> Self {
        OAuthError {
            status: 401,
            error: "invalid_client",
            description: description.into(),
        }
    }

    fn request(error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status: 400,
            error,
            description: description.into(),
        }
    }

    pub fn body(&self) -> Value {
        json!({ "error": self.error, "error_description": self.description })
    }
}

/// A registered service app.
pub(crate) struct Client {
    pub id: String,
    pub key_id: String,
    pub key: DecodingKey,
    pub granted: BTreeSet<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("key_id", &self.key_id)
            .field("granted", &self.granted)
            .finish_non_exhaustive()
    }
}

/// An issued access token.
#[derive(Debug, Clone)]
pub(crate) struct TokenInfo {
    pub scopes: BTreeSet<String>,
    /// In simulated time.
    pub expires_at: DateTime<Utc>,
}

/// The authorization server: clients, issued tokens and spent `jti`s.
#[derive(Debug)]
pub(crate) struct AuthServer {
    pub client: Client,
    pub token_ttl: TimeDelta,
    tokens: Mutex<BTreeMap<String, TokenInfo>>,
    spent_jti: Mutex<BTreeMap<String, DateTime<Utc>>>,
}

#[derive(Debug, Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Value>,
    exp: Option<i64>,
    jti: Option<String>,
}

impl AuthServer {
    pub fn new(client: Client, token_ttl: TimeDelta) -> Self {
        AuthServer {
            client,
            token_ttl,
            tokens: Mutex::new(BTreeMap::new()),
            spent_jti: Mutex::new(BTreeMap::new()),
        }
    }

    /// Answer a token request (the form fields of the body).
    ///
    /// `token_url` is the endpoint's full URL (the required `aud`), `wall_now` the real time
    /// the assertion is checked against, `sim_now` the simulated time tokens expire by.
    pub fn token(
        &self,
        form: &BTreeMap<String, String>,
        token_url: &str,
        wall_now: DateTime<Utc>,
        sim_now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
        if field("grant_type") != "client_credentials" {
            return Err(OAuthError::request(
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server. Configured grant types: [client_credentials].",
            ));
        }
        if field("client_assertion_type") != JWT_BEARER_ASSERTION {
            return Err(OAuthError::client(
                "Client authentication failed. Either the client or the client credentials are invalid.",
            ));
        }
        let client_id = self.verify_assertion(field("client_assertion"), token_url, wall_now)?;
        if !field("client_id").is_empty() && field("client_id") != client_id {
            return Err(OAuthError::client(
                "The client_id does not match the client_assertion issuer.",
            ));
        }

        let requested: BTreeSet<String> = field("scope")
            .split_ascii_whitespace()
            .map(str::to_owned)
            .collect();
        if requested.is_empty() {
            return Err(OAuthError::request(
                "invalid_scope",
                "The authorization server resource does not have any configured default scopes, 'scope' must be provided.",
            ));
        }
        let refused: Vec<&str> = requested
            .iter()
            .filter(|s| !self.client.granted.contains(*s))
            .map(String::as_str)
            .collect();
        if !refused.is_empty() {
            return Err(OAuthError::request(
                "invalid_scope",
                format!(
                    "The following scopes are not allowed: [{}]",
                    refused.join(", ")
                ),
            ));
        }

        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let token = URL_SAFE_NO_PAD.encode(raw);
        let scope = requested.iter().cloned().collect::<Vec<_>>().join(" ");
        self.lock_tokens().insert(
            token.clone(),
            TokenInfo {
                scopes: requested,
                expires_at: sim_now + self.token_ttl,
            },
        );
        Ok(json!({
            "token_type": "Bearer",
            "expires_in": self.token_ttl.num_seconds(),
            "access_token": token,
            "scope": scope,
        }))
    }

    fn verify_assertion(
        &self,
        assertion: &str,
        token_url: &str,
        now: DateTime<Utc>,
    ) -> Result<String, OAuthError> {
        let malformed = || OAuthError::client("The client_assertion token is malformed.");
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| malformed())?;
        if header.alg != Algorithm::RS256 {
            return Err(OAuthError::client(
                "The client_assertion token has an unsupported signing algorithm.",
            ));
        }
        // Read the claims before checking the signature, to find whose key to check it with.
        let payload = assertion.split('.').nth(1).ok_or_else(malformed)?;
        let claims: AssertionClaims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(malformed)?;
        let iss = claims.iss.as_deref().unwrap_or_default();
        if claims.sub.as_deref() != Some(iss) {
            return Err(OAuthError::client(
                "The client_assertion token's 'sub' claim must equal its 'iss' claim.",
            ));
        }
        if iss != self.client.id {
            return Err(OAuthError::client(
                "The client_assertion token's issuer is not a known client.",
            ));
        }
        if header
            .kid
            .as_deref()
            .is_some_and(|kid| kid != self.client.key_id)
        {
            return Err(OAuthError::client(
                "The client_assertion token's 'kid' does not match a key registered for the client.",
            ));
        }
        let mut validation = Validation::new(Algorithm::RS256);
        // Time and audience are checked below, against the wall clock and the exact URL.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<Value>(assertion, &self.client.key, &validation)
            .map_err(|_| OAuthError::client("The client_assertion signature is invalid."))?;

        let audience_ok = match &claims.aud {
            Some(Value::String(a)) => a == token_url,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(token_url)),
            _ => false,
        };
        if !audience_ok {
            return Err(OAuthError::client(format!(
                "The audience [aud] claim for client_assertion must be the endpoint invoked for the client: {token_url}"
            )));
        }
        let exp = claims
            .exp
            .and_then(|e| DateTime::from_timestamp(e, 0))
            .ok_or_else(|| {
                OAuthError::client("The client_assertion token must have an 'exp' claim.")
            })?;
        if exp <= now {
            return Err(OAuthError::client("The client_assertion token is expired."));
        }
        if exp - now > MAX_ASSERTION_LIFETIME {
            return Err(OAuthError::client(
                "The client_assertion token has an expiration too far into the future.",
            ));
        }
        if let Some(jti) = claims.jti {
            let mut spent = self
                .spent_jti
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            spent.retain(|_, until| *until > now);
            if spent.insert(jti, exp).is_some() {
                return Err(OAuthError::client(
                    "The client_assertion token has already been used (jti).",
                ));
            }
        }
        Ok(iss.to_owned())
    }

    /// The scopes of a live token, or `None` for an unknown or expired one.
    pub fn scopes(&self, token: &str, sim_now: DateTime<Utc>) -> Option<BTreeSet<String>> {
        let tokens = self.lock_tokens();
        let info = tokens.get(token)?;
        (info.expires_at > sim_now).then(|| info.scopes.clone())
    }

    /// Expire every issued token now, as if their lifetime had run out mid-backup.
    pub fn expire_all(&self) -> usize {
        let mut tokens = self.lock_tokens();
        let n = tokens.len();
        tokens.clear();
        n
    }

    fn lock_tokens(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, TokenInfo>> {
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
