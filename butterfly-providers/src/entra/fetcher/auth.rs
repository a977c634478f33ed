//! Client credentials against the Microsoft identity platform's v2.0 token endpoint.
//!
//! `POST {authority}/{tenant}/oauth2/v2.0/token` with `scope={graph}/.default`, and either
//! a client secret or a client assertion: a JWT signed RS256 with the app's certificate
//! key, whose header names the certificate by `x5t` (the base64url SHA-1 thumbprint of its
//! DER). The permissions the app was granted come back in the access token's `roles`
//! claim; it is decoded (not verified: it is Graph's to verify) only to decide which kinds
//! to skip before asking.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, Header};
use serde::Deserialize;
use serde_json::json;
use sha1::{Digest as _, Sha1};

use crate::okta::fetcher::{ClientId, CredentialError, FetchError, OrgUrl, PrivateKey};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Microsoft's global authority.
pub const DEFAULT_AUTHORITY_URL: &str = "https://login.microsoftonline.com";
/// Microsoft Graph's global endpoint.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com";

/// Why a tenant id, secret or certificate was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EntraCredentialError {
    /// The tenant id is empty or not a GUID or domain name.
    #[error("the tenant id must be a GUID or a domain name such as contoso.onmicrosoft.com")]
    InvalidTenantId,
    /// The client secret is empty.
    #[error("the client secret is empty")]
    EmptySecret,
    /// The certificate file holds no PEM `CERTIFICATE` block, or its body is not base64.
    #[error("the certificate is not a PEM certificate (-----BEGIN CERTIFICATE-----): {0}")]
    InvalidCertificate(&'static str),
    /// A URL was refused.
    #[error(transparent)]
    Url(#[from] CredentialError),
}

/// A tenant: its GUID or one of its domains.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantId(String);

impl TenantId {
    /// Check a tenant id: letters, digits, `-` and `.` only (it goes into a URL path).
    pub fn new(id: impl Into<String>) -> Result<Self, EntraCredentialError> {
        let id = id.into();
        let id = id.trim();
        if id.is_empty()
            || id.len() > 256
            || id.starts_with('.')
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(EntraCredentialError::InvalidTenantId);
        }
        Ok(TenantId(id.to_ascii_lowercase()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TenantId {
    type Err = EntraCredentialError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TenantId::new(s)
    }
}

/// The Graph or authority base URL: https (http only on a loopback host), with an optional
/// path (an authority may sit under one, such as a simulator's `/login`), and no query,
/// fragment or userinfo. Stored without a trailing slash.
///
/// ```
/// use butterfly_providers::entra::fetcher::EndpointUrl;
///
/// assert_eq!(EndpointUrl::parse("https://login.microsoftonline.com/")?.as_str(), "https://login.microsoftonline.com");
/// assert_eq!(EndpointUrl::parse("http://127.0.0.1:9/login")?.as_str(), "http://127.0.0.1:9/login");
/// assert!(EndpointUrl::parse("http://graph.microsoft.com").is_err());
/// assert!(EndpointUrl::parse("https://graph.microsoft.com/?x=1").is_err());
/// # Ok::<(), butterfly_providers::entra::fetcher::EntraCredentialError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EndpointUrl {
    url: String,
    origin: OrgUrl,
}

impl EndpointUrl {
    /// Check and normalize a base URL.
    pub fn parse(text: &str) -> Result<Self, EntraCredentialError> {
        let url = url::Url::parse(text.trim())
            .map_err(|e| EntraCredentialError::Url(CredentialError::UnparsableOrgUrl(e)))?;
        let not_origin = |part| {
            Err(EntraCredentialError::Url(CredentialError::NotAnOrigin {
                part,
            }))
        };
        if !url.username().is_empty() || url.password().is_some() {
            return not_origin("user name or password");
        }
        if url.fragment().is_some() {
            return not_origin("fragment");
        }
        if url.query().is_some() {
            return not_origin("query");
        }
        // Scheme and host rules are the org URL's.
        let origin = OrgUrl::parse(&url.origin().ascii_serialization())?;
        let path = url.path().trim_end_matches('/');
        Ok(EndpointUrl {
            url: format!("{origin}{path}"),
            origin,
        })
    }

    /// The URL, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// Refuse a non-public host (see [`OrgUrl::check_public`]).
    pub fn check_public(&self) -> Result<(), CredentialError> {
        self.origin.check_public()
    }
}

impl fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// A client secret. `Debug` is redacted and there is no equality.
#[derive(Clone)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// A secret (surrounding whitespace, such as a file's last newline, is dropped).
    pub fn new(secret: impl Into<String>) -> Result<Self, EntraCredentialError> {
        let secret = secret.into().trim().to_owned();
        if secret.is_empty() {
            return Err(EntraCredentialError::EmptySecret);
        }
        Ok(ClientSecret(secret))
    }

    /// The secret itself.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// The app's certificate credential: the certificate's thumbprint and its private key.
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    /// `x5t`: base64url (no padding) of the SHA-1 digest of the certificate's DER.
    pub x5t: String,
    /// The certificate's private key.
    pub private_key: PrivateKey,
}

impl ClientCertificate {
    /// Read a PEM certificate and its PEM private key (PKCS#8 or PKCS#1).
    pub fn from_pem(certificate_pem: &str, private_key_pem: &str) -> Result<Self, FetchError> {
        let x5t = certificate_thumbprint(certificate_pem)
            .map_err(|e| FetchError::InvalidOptions(e.to_string()))?;
        Ok(ClientCertificate {
            x5t,
            private_key: PrivateKey::from_pem(private_key_pem)?,
        })
    }
}

/// `x5t` of a PEM certificate: base64url (no padding) of the SHA-1 of its DER.
///
/// ```
/// use butterfly_providers::entra::fetcher::certificate_thumbprint;
///
/// let pem = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n";
/// // SHA-1 of the bytes 00 01 02.
/// assert_eq!(certificate_thumbprint(pem)?, "DHpiP9K7wFsGQjvjWeQCHTbnIa0");
/// # Ok::<(), butterfly_providers::entra::fetcher::EntraCredentialError>(())
/// ```
pub fn certificate_thumbprint(pem: &str) -> Result<String, EntraCredentialError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = pem
        .find(BEGIN)
        .ok_or(EntraCredentialError::InvalidCertificate("no BEGIN line"))?
        + BEGIN.len();
    let length = pem[start..]
        .find(END)
        .ok_or(EntraCredentialError::InvalidCertificate("no END line"))?;
    let body: String = pem[start..start + length]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| EntraCredentialError::InvalidCertificate("the body is not base64"))?;
    if der.is_empty() {
        return Err(EntraCredentialError::InvalidCertificate(
            "the body is empty",
        ));
    }
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha1::digest(&der)))
}

/// How the app proves who it is.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientCredential {
    /// A client secret.
    Secret(ClientSecret),
    /// A certificate (a signed client assertion).
    Certificate(ClientCertificate),
}

/// What a client needs to sign in to a tenant. `Debug` never shows the secret or key.
#[derive(Debug, Clone)]
pub struct EntraCredentials {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The app registration's client (application) id.
    pub client_id: ClientId,
    /// The secret or certificate.
    pub credential: ClientCredential,
    /// Microsoft Graph's base URL ([`DEFAULT_GRAPH_URL`]).
    pub graph_url: EndpointUrl,
    /// The identity platform's base URL ([`DEFAULT_AUTHORITY_URL`]).
    pub authority_url: EndpointUrl,
}

impl EntraCredentials {
    /// Credentials against Microsoft's global cloud.
    pub fn new(
        tenant_id: TenantId,
        client_id: ClientId,
        credential: ClientCredential,
    ) -> Result<Self, EntraCredentialError> {
        Ok(EntraCredentials {
            tenant_id,
            client_id,
            credential,
            graph_url: EndpointUrl::parse(DEFAULT_GRAPH_URL)?,
            authority_url: EndpointUrl::parse(DEFAULT_AUTHORITY_URL)?,
        })
    }

    /// The tenant's token endpoint (the assertion's audience).
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority_url, self.tenant_id
        )
    }

    /// The scope asked for: every application permission granted to the app.
    pub fn scope(&self) -> String {
        format!("{}/.default", self.graph_url)
    }

    /// Refuse non-public Graph or authority hosts (see [`EndpointUrl::check_public`]).
    pub fn check_public(&self) -> Result<(), CredentialError> {
        self.graph_url.check_public()?;
        self.authority_url.check_public()
    }

    fn assertion(&self, certificate: &ClientCertificate) -> Result<String, FetchError> {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": self.client_id.as_str(),
            "sub": self.client_id.as_str(),
            "aud": self.token_url(),
            "iat": now,
            "nbf": now,
            // Entra accepts assertions for up to ten minutes; five is plenty.
            "exp": now + 300,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        let mut header = Header::new(Algorithm::RS256);
        header.x5t = Some(certificate.x5t.clone());
        jsonwebtoken::encode(&header, &claims, certificate.private_key.signing_key())
            .map_err(FetchError::Signing)
    }
}

/// A bearer token and what it grants. `Debug` is redacted.
#[derive(Clone)]
pub(crate) struct GraphToken {
    pub value: String,
    /// Seconds it lives, from the answer.
    pub expires_in: i64,
    /// The `roles` claim; `None` when the token could not be read (then nothing is
    /// skipped ahead and Graph's `403`s decide).
    pub roles: Option<BTreeSet<String>>,
}

impl fmt::Debug for GraphToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GraphToken(<redacted>)")
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    /// Entra's own codes (`7000215`: invalid client secret): numbers, so safe to repeat
    /// where the description is not.
    #[serde(default)]
    error_codes: Vec<u64>,
}

impl OAuthErrorBody {
    /// ` (AADSTS7000215)`, or nothing when the answer named no code.
    fn aadsts(&self) -> String {
        if self.error_codes.is_empty() {
            return String::new();
        }
        let codes: Vec<String> = self
            .error_codes
            .iter()
            .take(4)
            .map(|c| format!("AADSTS{c}"))
            .collect();
        format!(" ({})", codes.join(", "))
    }
}

/// One token request's outcome.
pub(crate) enum TokenOutcome {
    Token(GraphToken),
    /// Worth another try after the wait (seconds), if the server named one.
    Transient(String, Option<u64>),
}

/// The `roles` of a JWT access token, read without verifying it.
pub(crate) fn token_roles(token: &str) -> Option<BTreeSet<String>> {
    #[derive(Deserialize)]
    struct Claims {
        #[serde(default)]
        roles: Vec<String>,
    }
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    Some(claims.roles.into_iter().collect())
}

pub(crate) async fn request_token(
    http: &reqwest::Client,
    credentials: &EntraCredentials,
) -> Result<TokenOutcome, FetchError> {
    let scope = credentials.scope();
    let client_id = credentials.client_id.as_str();
    let mut form: Vec<(&str, String)> = vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", client_id.into()),
        ("scope", scope),
    ];
    match &credentials.credential {
        ClientCredential::Secret(secret) => form.push(("client_secret", secret.secret().into())),
        ClientCredential::Certificate(certificate) => {
            form.push(("client_assertion_type", JWT_BEARER.into()));
            form.push(("client_assertion", credentials.assertion(certificate)?));
        }
    }
    let response = match http.post(credentials.token_url()).form(&form).send().await {
        Ok(r) => r,
        Err(e) => {
            return Ok(TokenOutcome::Transient(
                format!(
                    "token request failed: {}",
                    super::check::request_failure(&e)
                ),
                None,
            ));
        }
    };
    let status = response.status();
    let retry_after = super::retry_after(response.headers());
    let body = match response.bytes().await {
        Ok(b) => b,
        Err(e) => {
            return Ok(TokenOutcome::Transient(
                format!("token answer broke off: {e}"),
                None,
            ));
        }
    };
    if status.is_success() {
        return match serde_json::from_slice::<TokenAnswer>(&body) {
            Ok(answer) => {
                let expires_in = match answer.expires_in {
                    // Entra has sent it both as a number and as a string.
                    Some(serde_json::Value::Number(n)) => n.as_i64(),
                    Some(serde_json::Value::String(s)) => s.parse().ok(),
                    _ => None,
                }
                .unwrap_or(3600)
                // The answer comes from whatever authority URL the connection names: a
                // day bounds it, so the renewal time never overflows a date.
                .clamp(1, 86_400);
                Ok(TokenOutcome::Token(GraphToken {
                    roles: token_roles(&answer.access_token),
                    value: answer.access_token,
                    expires_in,
                }))
            }
            Err(e) => Ok(TokenOutcome::Transient(
                format!("the token answer is not JSON with an access_token: {e}"),
                None,
            )),
        };
    }
    if status.as_u16() == 429 || status.is_server_error() {
        return Ok(TokenOutcome::Transient(
            format!("the token endpoint answered {status}"),
            retry_after,
        ));
    }
    // The upstream description is never repeated (whoever controls the authority URL
    // controls it); a known error code and our own hint are.
    let error: Option<OAuthErrorBody> = serde_json::from_slice(&body).ok();
    Err(FetchError::Authentication(match error {
        Some(e) => match oauth_error_hint(&e.error) {
            Some((code, hint)) => format!(
                "the token endpoint answered {status} {code}{}: {}",
                e.aadsts(),
                aadsts_hint(&e.error_codes).unwrap_or(hint)
            ),
            None => format!(
                "the token endpoint answered {status} with an unrecognised error{}",
                e.aadsts()
            ),
        },
        None => format!("the token endpoint answered {status} without an OAuth error"),
    }))
}

/// A more precise hint than the OAuth error's for the AADSTS codes operators meet most.
fn aadsts_hint(codes: &[u64]) -> Option<&'static str> {
    Some(match codes.first()? {
        7_000_215 => "the client secret is wrong (give the secret's value, not its id)",
        7_000_222 => "the client secret has expired; create a new one",
        700_016 => "no app with this client id in the tenant (check the client and tenant ids)",
        700_027 => "the certificate is not registered with the app, or the assertion is malformed",
        90_002 => "no such tenant (check the tenant id and the authority URL)",
        _ => return None,
    })
}

fn oauth_error_hint(error: &str) -> Option<(&'static str, &'static str)> {
    Some(match error {
        "invalid_client" => (
            "invalid_client",
            "the client id, secret or certificate is wrong, expired, or not registered with the app",
        ),
        "unauthorized_client" => (
            "unauthorized_client",
            "the app is not registered in this tenant (check the tenant id and the admin consent)",
        ),
        "invalid_request" => (
            "invalid_request",
            "the tenant id or the request is malformed (check the tenant id and authority URL)",
        ),
        "invalid_grant" => (
            "invalid_grant",
            "the assertion was refused (check the certificate and the clock)",
        ),
        "invalid_scope" => (
            "invalid_scope",
            "the Graph URL is not a resource this authority issues tokens for",
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_guids_or_domains() {
        assert!(TenantId::new("72f988bf-86f1-41af-91ab-2d7cd011db47").is_ok());
        assert_eq!(
            TenantId::new("Contoso.onmicrosoft.com").unwrap().as_str(),
            "contoso.onmicrosoft.com"
        );
        for bad in ["", "a/b", "../x", "a b", ".x", "a?b"] {
            assert!(TenantId::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roles_are_read_from_the_token_payload() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"roles":["User.Read.All","Group.Read.All"]}"#);
        let roles = token_roles(&format!("e30.{payload}.sig")).unwrap();
        assert!(roles.contains("User.Read.All") && roles.len() == 2);
        assert_eq!(token_roles("opaque"), None);
        let none = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#);
        assert_eq!(token_roles(&format!("e30.{none}.s")), Some(BTreeSet::new()));
    }

    #[test]
    fn certificates_without_pem_are_refused() {
        assert!(certificate_thumbprint("not a certificate").is_err());
        assert!(
            certificate_thumbprint("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----")
                .is_err()
        );
    }

    #[test]
    fn secrets_are_redacted() {
        let secret = ClientSecret::new("s3cr3t\n").unwrap();
        assert_eq!(secret.secret(), "s3cr3t");
        assert!(!format!("{secret:?}").contains("s3cr3t"));
        assert!(ClientSecret::new("  ").is_err());
    }
}
