//! OAuth 2.0 client credentials with a `private_key_jwt` client assertion (RFC 7523), the
//! way Okta service apps sign in.

use std::collections::BTreeSet;
use std::fmt;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde_json::json;

use super::FetchError;

/// The assertion type Okta expects for `private_key_jwt`.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A service app's private key (PKCS#8 or PKCS#1 PEM). `Debug` is redacted.
#[derive(Clone)]
pub struct PrivateKey {
    signing: EncodingKey,
}

impl PrivateKey {
    /// Parse an RSA private key PEM.
    pub fn from_pem(pem: &str) -> Result<Self, FetchError> {
        use rsa::pkcs1::{DecodeRsaPrivateKey as _, EncodeRsaPrivateKey as _};
        use rsa::pkcs8::DecodePrivateKey as _;
        // jsonwebtoken is built without PEM support: parse with `rsa`, sign with DER.
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|_| FetchError::InvalidKey("not an RSA private key in PEM form".into()))?;
        let der = key
            .to_pkcs1_der()
            .map_err(|e| FetchError::InvalidKey(e.to_string()))?;
        Ok(PrivateKey {
            signing: EncodingKey::from_rsa_der(der.as_bytes()),
        })
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

/// What a client needs to sign in to an org.
#[derive(Debug, Clone)]
pub struct OktaCredentials {
    /// The org's base URL, e.g. `https://example.okta.com`.
    pub org_url: String,
    /// The service app's client id.
    pub client_id: String,
    /// The key id registered with the app, sent as the assertion's `kid` when known.
    pub key_id: Option<String>,
    /// The service app's private key.
    pub private_key: PrivateKey,
}

impl OktaCredentials {
    /// The org's token endpoint (the assertion's audience).
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/v1/token", self.org_url.trim_end_matches('/'))
    }

    fn assertion(&self) -> Result<String, FetchError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = json!({
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.token_url(),
            "iat": now,
            // Okta refuses assertions valid for more than an hour; five minutes is plenty.
            "exp": now + 300,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        let mut header = Header::new(Algorithm::RS256);
        header.kid.clone_from(&self.key_id);
        jsonwebtoken::encode(&header, &claims, &self.private_key.signing)
            .map_err(|e| FetchError::InvalidKey(e.to_string()))
    }
}

/// A bearer token. `Debug` is redacted.
#[derive(Clone)]
pub(crate) struct AccessToken(pub String);

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: String,
}

/// One token request's outcome.
pub(crate) enum TokenOutcome {
    Token(AccessToken),
    /// `invalid_scope`; the scopes the server named as refused, if it named them.
    ScopesRefused(Option<BTreeSet<String>>),
    /// Rate limited: seconds until the window resets.
    RateLimited(i64),
    /// A transient failure worth retrying.
    Transient(String),
}

pub(crate) async fn request_token(
    http: &reqwest::Client,
    credentials: &OktaCredentials,
    scopes: &BTreeSet<String>,
) -> Result<TokenOutcome, FetchError> {
    let scope = scopes.iter().cloned().collect::<Vec<_>>().join(" ");
    let assertion = credentials.assertion()?;
    let response = http
        .post(credentials.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", scope.as_str()),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion.as_str()),
        ])
        .send()
        .await;
    let response = match response {
        Ok(r) => r,
        Err(e) => return Ok(TokenOutcome::Transient(e.to_string())),
    };
    let status = response.status();
    let reset_in = super::reset_in_seconds(response.headers());
    let body = match response.bytes().await {
        Ok(b) => b,
        Err(e) => return Ok(TokenOutcome::Transient(e.to_string())),
    };
    if status.is_success() {
        return match serde_json::from_slice::<TokenAnswer>(&body) {
            Ok(answer) => Ok(TokenOutcome::Token(AccessToken(answer.access_token))),
            Err(e) => Ok(TokenOutcome::Transient(format!("token answer: {e}"))),
        };
    }
    if status.as_u16() == 429 {
        return Ok(TokenOutcome::RateLimited(reset_in.unwrap_or(60)));
    }
    if status.is_server_error() {
        return Ok(TokenOutcome::Transient(format!(
            "token endpoint said {status}"
        )));
    }
    let error: Option<OAuthErrorBody> = serde_json::from_slice(&body).ok();
    match error {
        Some(e) if e.error == "invalid_scope" => Ok(TokenOutcome::ScopesRefused(refused_scopes(
            &e.error_description,
        ))),
        Some(e) => Err(FetchError::Authentication(format!(
            "{status}: {} ({})",
            e.error, e.error_description
        ))),
        None => Err(FetchError::Authentication(format!("{status}"))),
    }
}

/// The scopes in `The following scopes are not allowed: [a, b]`.
fn refused_scopes(description: &str) -> Option<BTreeSet<String>> {
    let start = description.find('[')?;
    let end = description[start..].find(']')? + start;
    let scopes: BTreeSet<String> = description[start + 1..end]
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    (!scopes.is_empty()).then_some(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_refused_scopes() {
        let refused = refused_scopes(
            "The following scopes are not allowed: [okta.logStreams.read, okta.users.read]",
        )
        .unwrap();
        assert_eq!(
            refused.into_iter().collect::<Vec<_>>(),
            ["okta.logStreams.read", "okta.users.read"]
        );
        assert_eq!(
            refused_scopes("One or more scopes are not configured."),
            None
        );
    }
}
