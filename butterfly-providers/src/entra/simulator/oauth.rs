//! `POST {authority}/{tenant}/oauth2/v2.0/token`: client credentials, as Entra's v2.0
//! endpoint answers them.
//!
//! The client authenticates with its secret (`client_secret`) or with a certificate: a
//! client assertion (`client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`)
//! signed RS256 with the certificate's key, whose header names the certificate by its
//! thumbprint (`x5t`, SHA-1, or `x5t#S256`), with `aud` the token endpoint, `iss` and
//! `sub` the client id, a future `exp`, a past `nbf` and a `jti` never seen before.
//! `scope` must be `https://graph.microsoft.com/.default` (or `{graph_url}/.default`).
//!
//! Errors are Entra's: `error`, `error_description` starting with the AADSTS code, and
//! `error_codes`, `timestamp`, `trace_id`, `correlation_id`.
//!
//! The access token is a JWT (HS256 with a key only the simulator knows; clients never
//! check it) carrying `tid`, `appid`, `oid`, `aud`, `exp` and `roles`: the application
//! permissions granted when it was issued, as Entra puts them in the token.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The `client_assertion_type` for a certificate credential.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Microsoft Graph's resource identifier (the token's `aud`, the scope's prefix).
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

/// An Entra token-endpoint error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenError {
    pub status: u16,
    pub error: &'static str,
    pub code: u32,
    pub description: String,
}

impl TokenError {
    fn new(status: u16, error: &'static str, code: u32, description: impl Into<String>) -> Self {
        TokenError {
            status,
            error,
            code,
            description: description.into(),
        }
    }

    fn client(code: u32, description: impl Into<String>) -> Self {
        TokenError::new(401, "invalid_client", code, description)
    }

    pub fn body(&self, now: DateTime<Utc>, trace_id: &str) -> Value {
        let timestamp = now.format("%Y-%m-%d %H:%M:%SZ").to_string();
        json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {trace_id}\r\nTimestamp: {timestamp}",
                self.code, self.description
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": trace_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        })
    }
}

/// The registered app a backup signs in as.
pub(crate) struct Client {
    pub app_id: String,
    /// The service principal's object id (the token's `oid`).
    pub object_id: String,
    pub secret: String,
    pub certificate_key: DecodingKey,
    pub x5t: String,
    pub x5t_s256: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("app_id", &self.app_id)
            .field("x5t", &self.x5t)
            .finish_non_exhaustive()
    }
}

/// The access token's claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AccessClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub appid: String,
    pub oid: String,
    pub sub: String,
    pub tid: String,
    pub idtyp: String,
    pub ver: String,
    #[serde(default)]
    pub roles: Vec<String>,
    /// Which generation of tokens: expiring every token bumps it.
    pub sim_gen: u64,
}

#[derive(Debug, Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Value>,
    exp: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenRefusal {
    Missing,
    Malformed,
    Expired,
}

/// The authority: the client, token signing, spent `jti`s.
#[derive(Debug)]
pub(crate) struct Authority {
    pub client: Client,
    pub tenant_id: String,
    pub token_ttl: TimeDelta,
    signing: EncodingKeyDebug,
    verifying: DecodingKeyDebug,
    generation: AtomicU64,
    spent_jti: Mutex<BTreeMap<String, DateTime<Utc>>>,
}

struct EncodingKeyDebug(EncodingKey);
struct DecodingKeyDebug(DecodingKey);
impl std::fmt::Debug for EncodingKeyDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncodingKey(..)")
    }
}
impl std::fmt::Debug for DecodingKeyDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DecodingKey(..)")
    }
}

impl Authority {
    pub fn new(client: Client, tenant_id: String, token_ttl: TimeDelta, key: &[u8]) -> Self {
        Authority {
            client,
            tenant_id,
            token_ttl,
            signing: EncodingKeyDebug(EncodingKey::from_secret(key)),
            verifying: DecodingKeyDebug(DecodingKey::from_secret(key)),
            generation: AtomicU64::new(0),
            spent_jti: Mutex::new(BTreeMap::new()),
        }
    }

    /// Answer a token request to `tenant` (the path segment), with the form fields.
    #[allow(clippy::too_many_arguments)]
    pub fn token(
        &self,
        tenant: &str,
        form: &BTreeMap<String, String>,
        token_url: &str,
        graph_url: &str,
        roles: &BTreeSet<String>,
        wall_now: DateTime<Utc>,
        sim_now: DateTime<Utc>,
    ) -> Result<Value, TokenError> {
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
        if tenant != self.tenant_id && !tenant.eq_ignore_ascii_case(&self.tenant_id) {
            return Err(TokenError::new(
                400,
                "invalid_request",
                90002,
                format!(
                    "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
                ),
            ));
        }
        if field("grant_type").is_empty() {
            return Err(TokenError::new(
                400,
                "invalid_request",
                900_144,
                "The request body must contain the following parameter: 'grant_type'.",
            ));
        }
        if field("grant_type") != "client_credentials" {
            return Err(TokenError::new(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type.",
            ));
        }
        let scope = field("scope");
        let graph_default = format!("{}/.default", graph_url.trim_end_matches('/'));
        if scope.is_empty() {
            return Err(TokenError::new(
                400,
                "invalid_request",
                900_144,
                "The request body must contain the following parameter: 'scope'.",
            ));
        }
        if scope != format!("{GRAPH_RESOURCE}/.default") && scope != graph_default {
            return Err(TokenError::new(
                400,
                "invalid_scope",
                1_002_012,
                format!(
                    "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                ),
            ));
        }
        let client_id = if field("client_assertion").is_empty() {
            let id = field("client_id");
            if id.is_empty() {
                return Err(TokenError::new(
                    400,
                    "invalid_request",
                    900_144,
                    "The request body must contain the following parameter: 'client_id'.",
                ));
            }
            if id != self.client.app_id {
                return Err(TokenError::new(
                    400,
                    "unauthorized_client",
                    700_016,
                    format!(
                        "Application with identifier '{id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.",
                        self.tenant_id
                    ),
                ));
            }
            let secret = field("client_secret");
            if secret.is_empty() {
                return Err(TokenError::client(
                    7_000_218,
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                ));
            }
            if secret != self.client.secret {
                return Err(TokenError::client(
                    7_000_215,
                    format!(
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{id}'."
                    ),
                ));
            }
            id.to_owned()
        } else {
            if field("client_assertion_type") != JWT_BEARER_ASSERTION {
                return Err(TokenError::new(
                    400,
                    "invalid_request",
                    50027,
                    "Invalid client_assertion_type: expected urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
                ));
            }
            let id = self.verify_assertion(field("client_assertion"), token_url, wall_now)?;
            if !field("client_id").is_empty() && field("client_id") != id {
                return Err(TokenError::client(
                    700_021,
                    "Client assertion application identifier doesn't match 'client_id' parameter.",
                ));
            }
            id
        };

        let now = sim_now.timestamp();
        let claims = AccessClaims {
            aud: GRAPH_RESOURCE.to_owned(),
            iss: format!("https://sts.windows.net/{}/", self.tenant_id),
            iat: now,
            nbf: now,
            exp: now + self.token_ttl.num_seconds(),
            appid: client_id,
            oid: self.client.object_id.clone(),
            sub: self.client.object_id.clone(),
            tid: self.tenant_id.clone(),
            idtyp: "app".into(),
            ver: "1.0".into(),
            roles: roles.iter().cloned().collect(),
            sim_gen: self.generation.load(Ordering::SeqCst),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.signing.0)
            .map_err(|e| TokenError::new(500, "server_error", 90033, e.to_string()))?;
        Ok(json!({
            "token_type": "Bearer",
            "expires_in": self.token_ttl.num_seconds(),
            "ext_expires_in": self.token_ttl.num_seconds(),
            "access_token": token,
        }))
    }

    fn verify_assertion(
        &self,
        assertion: &str,
        token_url: &str,
        now: DateTime<Utc>,
    ) -> Result<String, TokenError> {
        let malformed = || TokenError::client(50027, "JWT token is invalid or malformed.");
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| malformed())?;
        if header.alg != Algorithm::RS256 && header.alg != Algorithm::PS256 {
            return Err(TokenError::client(
                5_002_738,
                "Invalid JWT token. Only RS256 and PS256 signing algorithms are supported.",
            ));
        }
        let named = match (&header.x5t, &header.x5t_s256) {
            (Some(x5t), _) => *x5t == self.client.x5t,
            (None, Some(s256)) => *s256 == self.client.x5t_s256,
            (None, None) => {
                return Err(TokenError::client(
                    700_027,
                    "Client assertion failed signature validation. The header has no 'x5t' or 'x5t#S256' naming the certificate.",
                ));
            }
        };
        if !named {
            return Err(TokenError::client(
                700_027,
                format!(
                    "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'.]",
                    self.client.app_id
                ),
            ));
        }
        let payload = assertion.split('.').nth(1).ok_or_else(malformed)?;
        let claims: AssertionClaims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(malformed)?;
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<Value>(assertion, &self.client.certificate_key, &validation)
            .map_err(|_| {
                TokenError::client(700_027, "Client assertion failed signature validation.")
            })?;
        let iss = claims.iss.unwrap_or_default();
        if iss != self.client.app_id || claims.sub.as_deref() != Some(iss.as_str()) {
            return Err(TokenError::client(
                700_023,
                "Client assertion audience claim does not match Realm issuer, or its 'iss' and 'sub' are not the client id.",
            ));
        }
        let audience_ok = match &claims.aud {
            Some(Value::String(a)) => a == token_url,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(token_url)),
            _ => false,
        };
        if !audience_ok {
            return Err(TokenError::client(
                700_212,
                format!(
                    "No matching federated identity record found for presented assertion audience. The assertion's 'aud' must be the token endpoint: {token_url}"
                ),
            ));
        }
        let exp = claims
            .exp
            .ok_or_else(|| TokenError::client(50027, "Client assertion has no 'exp' claim."))?;
        // Entra allows five minutes of clock skew either way.
        let skew = 300;
        if exp + skew <= now.timestamp() {
            return Err(TokenError::client(
                700_024,
                "Client assertion is not within its valid time range.",
            ));
        }
        if claims.nbf.is_some_and(|nbf| nbf - skew > now.timestamp()) {
            return Err(TokenError::client(
                700_024,
                "Client assertion is not within its valid time range.",
            ));
        }
        let jti = claims
            .jti
            .ok_or_else(|| TokenError::client(50027, "Client assertion has no 'jti' claim."))?;
        let mut spent = self
            .spent_jti
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        spent.retain(|_, until| *until > now);
        let until = DateTime::from_timestamp(exp + skew, 0).unwrap_or(now);
        if spent.insert(jti, until).is_some() {
            return Err(TokenError::client(
                700_025,
                "Client assertion has already been used (its 'jti' was seen before).",
            ));
        }
        Ok(iss)
    }

    /// Check a bearer token: its claims, or why it is refused.
    pub fn check(
        &self,
        token: Option<&str>,
        sim_now: DateTime<Utc>,
    ) -> Result<AccessClaims, TokenRefusal> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(TokenRefusal::Missing)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &self.verifying.0, &validation)
            .map_err(|_| TokenRefusal::Malformed)?
            .claims;
        if claims.tid != self.tenant_id {
            return Err(TokenRefusal::Malformed);
        }
        if claims.exp <= sim_now.timestamp()
            || claims.sim_gen != self.generation.load(Ordering::SeqCst)
        {
            return Err(TokenRefusal::Expired);
        }
        Ok(claims)
    }

    /// Expire every token issued so far.
    pub fn expire_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}
