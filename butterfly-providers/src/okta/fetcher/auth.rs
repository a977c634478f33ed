//! OAuth 2.0 client credentials with a `private_key_jwt` client assertion (RFC 7523), the
//! way Okta service apps sign in.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde_json::json;

use super::FetchError;

/// The assertion type Okta expects for `private_key_jwt`.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Why an org URL or a client id was refused.
///
/// The refused text is not repeated: an org URL with userinfo may carry a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The org URL is not a URL.
    #[error("the org URL does not parse: {0}")]
    UnparsableOrgUrl(#[source] url::ParseError),
    /// The org URL is neither https nor http on a loopback host.
    #[error(
        "the org URL must use https (http only on a loopback host such as 127.0.0.1), not `{scheme}`"
    )]
    InsecureOrgUrl {
        /// The scheme it has.
        scheme: String,
    },
    /// The org URL has more than an origin: a path, a query, a fragment or userinfo.
    #[error("the org URL must be a bare origin such as https://example.okta.com; it has a {part}")]
    NotAnOrigin {
        /// What it has too many of: `path`, `query`, `fragment` or `user name or password`.
        part: &'static str,
    },
    /// The org URL's host is an address (or `localhost`) outside the public internet:
    /// loopback, private, link-local and the like. Allowed only when the caller turns
    /// the check off (simulators and tests on loopback).
    #[error(
        "the org URL's host is a {range} address; org URLs must reach the public internet (a server or CLI for tests may allow private addresses explicitly)"
    )]
    NonPublicOrgUrl {
        /// The range it falls in: `loopback`, `link-local`, `private (RFC 1918)`...
        range: &'static str,
    },
    /// The client id is empty.
    #[error("the client id is empty")]
    EmptyClientId,
    /// The client id holds whitespace or control characters.
    #[error("the client id holds whitespace or control characters")]
    InvalidClientId,
}

/// An org's base URL: a bare origin such as `https://example.okta.com`.
///
/// Only https is accepted, and http on a loopback host (simulators); the URL may not
/// carry a path, query, fragment or userinfo, so every request URL built on it stays on
/// the org, and the bearer token with it. Stored without a trailing slash, with the
/// default port dropped and the host lower-cased (punycode for IDNs).
///
/// ```
/// use butterfly_providers::okta::fetcher::OrgUrl;
///
/// let org = OrgUrl::parse("https://Example.okta.com/")?;
/// assert_eq!(org.as_str(), "https://example.okta.com");
/// assert!(OrgUrl::parse("http://example.okta.com").is_err());
/// assert!(OrgUrl::parse("https://example.okta.com/oauth2#top").is_err());
/// assert!(OrgUrl::parse("http://127.0.0.1:8080").is_ok());
/// # Ok::<(), butterfly_providers::okta::fetcher::CredentialError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrgUrl(String);

impl OrgUrl {
    /// Check and normalize an org URL.
    pub fn parse(text: &str) -> Result<Self, CredentialError> {
        let url = url::Url::parse(text.trim()).map_err(CredentialError::UnparsableOrgUrl)?;
        let loopback = match url.host() {
            Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            other => {
                return Err(CredentialError::InsecureOrgUrl {
                    scheme: other.to_owned(),
                });
            }
        }
        let not_origin = |part| Err(CredentialError::NotAnOrigin { part });
        if !url.username().is_empty() || url.password().is_some() {
            return not_origin("user name or password");
        }
        if url.fragment().is_some() {
            return not_origin("fragment");
        }
        if url.query().is_some() {
            return not_origin("query");
        }
        if url.path() != "/" && !url.path().is_empty() {
            return not_origin("path");
        }
        // https and http URLs always have a host, so the origin is a tuple one.
        Ok(OrgUrl(url.origin().ascii_serialization()))
    }

    /// The origin, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Refuse a host that is a non-public IP address or `localhost` (see
    /// [`CredentialError::NonPublicOrgUrl`]).
    ///
    /// Numeric spellings are caught too: the URL parser reads `http://2130706433` and
    /// `http://0x7f.1` as `127.0.0.1`. Names are checked again, after DNS resolution, by
    /// the fetcher's HTTP client, which connects only to the public addresses it
    /// checked; this is the early, offline half of the check.
    ///
    /// ```
    /// use butterfly_providers::okta::fetcher::OrgUrl;
    ///
    /// assert!(OrgUrl::parse("https://example.okta.com")?.check_public().is_ok());
    /// assert!(OrgUrl::parse("https://169.254.169.254")?.check_public().is_err());
    /// assert!(OrgUrl::parse("http://0x7f.1")?.check_public().is_err());
    /// # Ok::<(), butterfly_providers::okta::fetcher::CredentialError>(())
    /// ```
    pub fn check_public(&self) -> Result<(), CredentialError> {
        let refused = |range| Err(CredentialError::NonPublicOrgUrl { range });
        // The stored origin parsed once already; a failure here cannot happen, and
        // would refuse rather than let the URL through.
        let Ok(url) = url::Url::parse(&self.0) else {
            return refused("unparsable");
        };
        match url.host() {
            Some(url::Host::Ipv4(ip)) => match super::address::non_public_range(ip.into()) {
                Some(range) => refused(range),
                None => Ok(()),
            },
            Some(url::Host::Ipv6(ip)) => match super::address::non_public_range(ip.into()) {
                Some(range) => refused(range),
                None => Ok(()),
            },
            Some(url::Host::Domain(domain)) => {
                let domain = domain.trim_end_matches('.').to_ascii_lowercase();
                // RFC 6761: `localhost` and every name under it are loopback.
                if domain == "localhost" || domain.ends_with(".localhost") {
                    refused("loopback")
                } else {
                    Ok(())
                }
            }
            None => refused("missing"),
        }
    }
}

impl fmt::Display for OrgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for OrgUrl {
    type Err = CredentialError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrgUrl::parse(s)
    }
}

/// A service app's client id (`0oa...`): not empty, no whitespace or control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    /// Check a client id.
    pub fn new(id: impl Into<String>) -> Result<Self, CredentialError> {
        let id = id.into();
        if id.is_empty() {
            return Err(CredentialError::EmptyClientId);
        }
        if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(CredentialError::InvalidClientId);
        }
        Ok(ClientId(id))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ClientId {
    type Err = CredentialError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ClientId::new(s)
    }
}

/// A service app's private key (PKCS#8 or PKCS#1 PEM). `Debug` is redacted.
#[derive(Clone)]
pub struct PrivateKey {
    signing: EncodingKey,
}

impl PrivateKey {
    /// Parse an RSA private key PEM: PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1
    /// (`BEGIN RSA PRIVATE KEY`).
    pub fn from_pem(pem: &str) -> Result<Self, FetchError> {
        use rsa::pkcs1::{DecodeRsaPrivateKey as _, EncodeRsaPrivateKey as _};
        use rsa::pkcs8::DecodePrivateKey as _;
        // jsonwebtoken is built without PEM support: parse with `rsa`, sign with DER.
        // The label says which form was meant, so the error is that form's.
        let key = if pem.contains("-----BEGIN RSA PRIVATE KEY-----") {
            rsa::RsaPrivateKey::from_pkcs1_pem(pem).map_err(|e| FetchError::InvalidKey {
                format: "PKCS#1",
                source: Box::new(e),
            })?
        } else {
            rsa::RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| FetchError::InvalidKey {
                format: "PKCS#8",
                source: Box::new(e),
            })?
        };
        let der = key.to_pkcs1_der().map_err(|e| FetchError::InvalidKey {
            format: "PKCS#1 DER",
            source: Box::new(e),
        })?;
        Ok(PrivateKey {
            signing: EncodingKey::from_rsa_der(der.as_bytes()),
        })
    }
}

impl PrivateKey {
    /// The key as `jsonwebtoken` signs with it (Entra's client assertions use it too).
    pub(crate) fn signing_key(&self) -> &EncodingKey {
        &self.signing
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

/// What a client needs to sign in to an org. Its `Debug` shows the org, client and key
/// ids, never the key.
#[derive(Debug, Clone)]
pub struct OktaCredentials {
    /// The org's base URL, e.g. `https://example.okta.com`.
    pub org_url: OrgUrl,
    /// The service app's client id.
    pub client_id: ClientId,
    /// The key id registered with the app, sent as the assertion's `kid` when known.
    pub key_id: Option<String>,
    /// The service app's private key.
    pub private_key: PrivateKey,
}

impl OktaCredentials {
    /// The org's token endpoint (the assertion's audience).
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/v1/token", self.org_url)
    }

    fn assertion(&self) -> Result<String, FetchError> {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": self.client_id.as_str(),
            "sub": self.client_id.as_str(),
            "aud": self.token_url(),
            "iat": now,
            // Okta refuses assertions valid for more than an hour; five minutes is plenty.
            "exp": now + 300,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        let mut header = Header::new(Algorithm::RS256);
        header.kid.clone_from(&self.key_id);
        jsonwebtoken::encode(&header, &claims, &self.private_key.signing)
            .map_err(FetchError::Signing)
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
    Transient(TokenEndpointError),
}

/// Why the token endpoint gave no usable answer. Retried with backoff; once retries run
/// out, the fetch stops with [`FetchError::TokenEndpoint`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenEndpointError {
    /// The request was not answered (connection refused, timeout, broken response).
    #[error("the token request failed: {0}")]
    Request(#[source] reqwest::Error),
    /// The endpoint answered a server error.
    #[error("the token endpoint answered {0}")]
    Status(reqwest::StatusCode),
    /// A success whose body is not a token answer.
    #[error("the token answer is not JSON with an access_token: {0}")]
    Answer(#[source] serde_json::Error),
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
        Err(e) => return Ok(TokenOutcome::Transient(TokenEndpointError::Request(e))),
    };
    let status = response.status();
    let reset_in = super::reset_in_seconds(response.headers());
    let body = match response.bytes().await {
        Ok(b) => b,
        Err(e) => return Ok(TokenOutcome::Transient(TokenEndpointError::Request(e))),
    };
    if status.is_success() {
        return match serde_json::from_slice::<TokenAnswer>(&body) {
            Ok(answer) => Ok(TokenOutcome::Token(AccessToken(answer.access_token))),
            Err(e) => Ok(TokenOutcome::Transient(TokenEndpointError::Answer(e))),
        };
    }
    if status.as_u16() == 429 {
        return Ok(TokenOutcome::RateLimited(reset_in.unwrap_or(60)));
    }
    if status.is_server_error() {
        return Ok(TokenOutcome::Transient(TokenEndpointError::Status(status)));
    }
    let error: Option<OAuthErrorBody> = serde_json::from_slice(&body).ok();
    match error {
        Some(e) if e.error == "invalid_scope" => Ok(TokenOutcome::ScopesRefused(
            // Only names we asked for: the description is the org's text, not ours.
            refused_scopes(&e.error_description)
                .map(|refused| {
                    refused
                        .intersection(scopes)
                        .cloned()
                        .collect::<BTreeSet<_>>()
                })
                .filter(|refused| !refused.is_empty()),
        )),
        // The upstream body is never repeated: whoever controls the org URL controls it,
        // and the message reaches API callers and the database. A known error code and
        // our own hint say as much, in words we chose.
        Some(e) => Err(FetchError::Authentication(
            match oauth_error_hint(&e.error) {
                Some((code, hint)) => {
                    format!("the token endpoint answered {status} {code}: {hint}")
                }
                None => format!("the token endpoint answered {status} with an unrecognised error"),
            },
        )),
        None => Err(FetchError::Authentication(format!(
            "the token endpoint answered {status} without an OAuth error"
        ))),
    }
}

/// A known OAuth 2.0 token error (RFC 6749 section 5.2, and Okta's DPoP errors) and what
/// to do about it; `None` for anything else.
fn oauth_error_hint(error: &str) -> Option<(&'static str, &'static str)> {
    Some(match error {
        "invalid_client" => (
            "invalid_client",
            "the client id or private key is wrong, or the key is not registered with the app (check the key id)",
        ),
        "unauthorized_client" => (
            "unauthorized_client",
            "the app may not use the client credentials grant; make it an API service app",
        ),
        "invalid_grant" => (
            "invalid_grant",
            "the client assertion was refused; check the server's clock and the key id",
        ),
        "invalid_request" => (
            "invalid_request",
            "the org refused the token request; check that the app authenticates with a public key (private_key_jwt)",
        ),
        "access_denied" => ("access_denied", "the org refused the app access"),
        "invalid_dpop_proof" | "use_dpop_nonce" => (
            "invalid_dpop_proof",
            "the app requires DPoP; turn off \"Require Demonstrating Proof of Possession\" for this service app",
        ),
        "server_error" | "temporarily_unavailable" => (
            "server_error",
            "the org could not issue a token just now; try again later",
        ),
        _ => return None,
    })
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
    fn org_urls_are_bare_https_origins() {
        for (given, kept) in [
            ("https://example.okta.com", "https://example.okta.com"),
            ("https://Example.OKTA.com/", "https://example.okta.com"),
            (
                "  https://example.okta.com:443/ ",
                "https://example.okta.com",
            ),
            (
                "https://example.okta.com:8443",
                "https://example.okta.com:8443",
            ),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://localhost:1234/", "http://localhost:1234"),
            ("http://[::1]:9000", "http://[::1]:9000"),
        ] {
            assert_eq!(OrgUrl::parse(given).unwrap().as_str(), kept, "{given}");
        }
        let refused = |text: &str| OrgUrl::parse(text).unwrap_err();
        assert!(matches!(
            refused("http://example.okta.com"),
            CredentialError::InsecureOrgUrl { ref scheme } if scheme == "http"
        ));
        assert!(matches!(
            refused("ftp://example.okta.com"),
            CredentialError::InsecureOrgUrl { .. }
        ));
        assert!(matches!(
            refused("example.okta.com"),
            CredentialError::UnparsableOrgUrl(_)
        ));
        for (text, part) in [
            ("https://example.okta.com/oauth2", "path"),
            ("https://example.okta.com/?x=1", "query"),
            ("https://example.okta.com/#top", "fragment"),
            ("https://example.okta.com#", "fragment"),
            (
                "https://admin:hunter2@example.okta.com",
                "user name or password",
            ),
        ] {
            let error = refused(text);
            assert!(
                matches!(error, CredentialError::NotAnOrigin { part: p } if p == part),
                "{text}: {error:?}"
            );
            // The refused text is not echoed: it may hold a password.
            assert!(!error.to_string().contains("hunter2"));
        }
    }

    #[test]
    fn non_public_hosts_are_refused_in_every_spelling() {
        for (text, range) in [
            ("https://169.254.169.254", "link-local"),
            ("https://10.0.0.1", "private (RFC 1918)"),
            ("https://[::1]", "loopback"),
            ("http://[::1]:9000", "loopback"),
            ("https://[::ffff:127.0.0.1]", "loopback"),
            ("https://[::ffff:a9fe:a9fe]", "link-local"),
            ("https://[fd00::1]", "unique local (fc00::/7)"),
            ("https://[fe80::1]", "link-local"),
            ("https://0.0.0.0", "unspecified"),
            (
                "https://100.64.1.2",
                "shared address space (CGNAT, 100.64.0.0/10)",
            ),
            ("https://255.255.255.255", "broadcast"),
            ("http://127.0.0.1:8080", "loopback"),
            ("http://localhost:1234", "loopback"),
            ("https://api.localhost", "loopback"),
            ("https://LOCALHOST.", "loopback"),
            // Numeric forms the URL parser normalises to 127.0.0.1.
            ("http://2130706433", "loopback"),
            ("http://0x7f.1", "loopback"),
            ("http://0177.0.0.1", "loopback"),
            ("http://127.1", "loopback"),
            ("https://0xa9fea9fe", "link-local"),
        ] {
            let org = OrgUrl::parse(text).unwrap();
            let error = org.check_public().unwrap_err();
            assert!(
                matches!(error, CredentialError::NonPublicOrgUrl { range: r } if r == range),
                "{text} ({org}): {error:?}"
            );
        }
        assert_eq!(
            OrgUrl::parse("http://2130706433").unwrap().as_str(),
            "http://127.0.0.1"
        );
        assert_eq!(
            OrgUrl::parse("http://0x7f.1").unwrap().as_str(),
            "http://127.0.0.1"
        );
        for public in [
            "https://example.okta.com",
            "https://8.8.8.8",
            "https://[2606:4700::1111]",
            "https://localhost.example.com",
        ] {
            OrgUrl::parse(public).unwrap().check_public().unwrap();
        }
    }

    #[test]
    fn oauth_errors_are_named_by_known_codes_only() {
        assert_eq!(
            oauth_error_hint("invalid_client").unwrap().0,
            "invalid_client"
        );
        assert_eq!(
            oauth_error_hint("use_dpop_nonce").unwrap().0,
            "invalid_dpop_proof"
        );
        assert!(oauth_error_hint("<script>alert(1)</script>").is_none());
        assert!(oauth_error_hint("").is_none());
    }

    #[test]
    fn client_ids_are_single_words() {
        assert_eq!(ClientId::new("0oa1b2c3").unwrap().as_str(), "0oa1b2c3");
        assert!(matches!(
            ClientId::new(""),
            Err(CredentialError::EmptyClientId)
        ));
        for bad in [" 0oa1", "0oa 1", "0oa1\n"] {
            assert!(
                matches!(ClientId::new(bad), Err(CredentialError::InvalidClientId)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn keys_and_credentials_never_show_the_key_in_debug() {
        use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
        let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        let credentials = OktaCredentials {
            org_url: OrgUrl::parse("https://example.okta.com").unwrap(),
            client_id: ClientId::new("0oa1").unwrap(),
            key_id: Some("kid-1".into()),
            private_key: PrivateKey::from_pem(&pem).unwrap(),
        };
        let shown = format!("{credentials:?} {:?}", credentials.private_key);
        assert!(
            shown.contains("0oa1") && shown.contains("<redacted>"),
            "{shown}"
        );
        for line in pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!shown.contains(line), "{shown}");
        }
    }

    #[test]
    fn unreadable_keys_keep_their_cause() {
        use std::error::Error as _;
        for (pem, format) in [
            ("not a key", "PKCS#8"),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
                "PKCS#1",
            ),
        ] {
            let error = PrivateKey::from_pem(pem).unwrap_err();
            assert!(
                matches!(error, FetchError::InvalidKey { format: f, .. } if f == format),
                "{error:?}"
            );
            assert!(error.source().is_some());
        }
    }

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
