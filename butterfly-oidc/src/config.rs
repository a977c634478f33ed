//! Who we are to an OpenID provider: issuer, client credentials, redirect URI, clock.

use std::fmt;
use std::sync::Arc;

use butterfly_core::{Clock, SystemClock};
use chrono::TimeDelta;
use serde::{Deserialize, Serialize};
use url::Url;

/// A configuration value that is not acceptable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The issuer is not an absolute `https` URL without query or fragment (plain `http`
    /// is accepted only on loopback hosts, for tests and local development).
    #[error("`{issuer}` is not a valid issuer: {reason}")]
    InvalidIssuer {
        /// The rejected text.
        issuer: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The client id is empty.
    #[error("the client id is empty")]
    EmptyClientId,
}

/// An OpenID provider's issuer identifier, exactly as configured.
///
/// Issuers are compared as strings (OpenID Connect Discovery 1.0 section 4.3), so the
/// text is kept as given rather than normalised through [`Url`], which would add a
/// trailing slash to `https://idp.example.com` and so break the comparison with the `iss`
/// the provider puts in its tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Issuer(String);

impl Issuer {
    /// Validate an issuer: an absolute `https` URL with a host and no query or fragment.
    /// `http` is accepted only for `localhost`, `127.0.0.1` and `[::1]`.
    pub fn new(issuer: impl Into<String>) -> Result<Self, ConfigError> {
        let issuer = issuer.into();
        let invalid = |reason| ConfigError::InvalidIssuer {
            issuer: issuer.clone(),
            reason,
        };
        let url = Url::parse(&issuer).map_err(|_| invalid("not an absolute URL"))?;
        let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => return Err(invalid("the scheme must be https")),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("it has a query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("it has user information"));
        }
        Ok(Issuer(issuer))
    }

    /// The issuer text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Issuer {
    type Error = ConfigError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Issuer::new(value)
    }
}

impl From<Issuer> for String {
    fn from(value: Issuer) -> Self {
        value.0
    }
}

/// The OAuth 2.0 client id the provider registered for us.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

impl ClientId {
    /// A non-empty client id.
    pub fn new(id: impl Into<String>) -> Result<Self, ConfigError> {
        let id = id.into();
        if id.is_empty() {
            return Err(ConfigError::EmptyClientId);
        }
        Ok(ClientId(id))
    }

    /// The client id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ClientId {
    type Error = ConfigError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        ClientId::new(value)
    }
}

impl From<ClientId> for String {
    fn from(value: ClientId) -> Self {
        value.0
    }
}

/// The client secret. Its `Debug` is redacted and it has no equality, so it cannot leak
/// through logs or be compared in variable time by accident; read it with
/// [`ClientSecret::secret`].
#[derive(Clone)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wrap a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        ClientSecret(secret.into())
    }

    /// The clear text. Never log it.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// Everything a relying party needs to know about one SSO connection.
///
/// Build it with [`RelyingPartyConfig::new`], then adjust the public fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RelyingPartyConfig {
    /// The provider's issuer.
    pub issuer: Issuer,
    /// Our client id at the provider.
    pub client_id: ClientId,
    /// Our client secret (confidential clients); `None` for a public client, which then
    /// relies on PKCE alone.
    pub client_secret: Option<ClientSecret>,
    /// Where the provider sends the browser back with the authorization code. It must be
    /// registered with the provider exactly as written here.
    pub redirect_uri: Url,
    /// Scopes to request besides `openid`, which is always requested. Default: `email`.
    pub scopes: Vec<String>,
    /// How far the provider's clock may be from ours. Default: 60 seconds.
    pub clock_skew: TimeDelta,
    /// How long a [`PendingLogin`](crate::PendingLogin) stays usable: the time a user has
    /// to sign in at the provider. Default: 10 minutes.
    pub login_timeout: TimeDelta,
    /// The source of the current time. Default: the system clock.
    pub clock: Arc<dyn Clock>,
    /// State shared with other replicas of the relying party (the server's database):
    /// used logout token ids and the key set's refetch rate limit then hold across all
    /// of them. Default: `None`, each process keeps its own.
    pub replicas: Option<Arc<dyn butterfly_core::store::ReplicaCoordination>>,
}

impl RelyingPartyConfig {
    /// A configuration with the defaults described on each field.
    pub fn new(
        issuer: Issuer,
        client_id: ClientId,
        client_secret: Option<ClientSecret>,
        redirect_uri: Url,
    ) -> Self {
        RelyingPartyConfig {
            issuer,
            client_id,
            client_secret,
            redirect_uri,
            scopes: vec!["email".to_owned()],
            clock_skew: TimeDelta::seconds(60),
            login_timeout: TimeDelta::minutes(10),
            clock: Arc::new(SystemClock),
            replicas: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_must_be_https_urls_kept_verbatim() {
        for good in [
            "https://idp.example.com",
            "https://idp.example.com/",
            "https://example.okta.com/oauth2/default",
            "http://127.0.0.1:8080",
            "http://localhost:3000/realm",
        ] {
            assert_eq!(Issuer::new(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "idp.example.com",
            "http://idp.example.com",
            "https://idp.example.com/?x=1",
            "https://idp.example.com/#f",
            "https://user@idp.example.com",
            "ftp://idp.example.com",
        ] {
            assert!(Issuer::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let s = ClientSecret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.secret(), "hunter2");
        assert!(ClientId::new("").is_err());
    }
}
