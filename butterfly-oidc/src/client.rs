//! The relying party: discovery, the authorization code flow with PKCE, the callback.
//!
//! Flow, for one SSO connection:
//!
//! 1. [`OidcClient::discover`] once (cache the client; it holds the provider's metadata
//!    and key set).
//! 2. [`OidcClient::authorize_url`]: redirect the browser to the URL and store the
//!    [`PendingLogin`] server-side, keyed by [`PendingLogin::state`].
//! 3. At the redirect URI: [`Callback::from_query`], look the pending login up by
//!    [`Callback::state`] (and delete it: it is single use), then
//!    [`OidcClient::complete_login`] to get a [`VerifiedLogin`].
//!
//! All HTTP goes through one `reqwest` client that must not follow redirects: per
//! `openidconnect`'s advice, a redirect from a provider endpoint could otherwise point
//! our server at internal addresses (SSRF). [`OidcClient::http_client`] builds one.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use openidconnect as oidc;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreGrantType, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{EndpointMaybeSet, EndpointNotSet, EndpointSet, TokenResponse as _};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use url::Url;

use crate::config::{ClientId, Issuer, RelyingPartyConfig};
use crate::id_token::{IdTokenError, IdTokenValidator, RawIdToken, VerifiedLogin};
use crate::jwks::{JwksCache, JwksError};
use crate::logout::LogoutTokenValidator;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Discovery metadata beyond what `openidconnect`'s core type reads.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ExtraMetadata {
    /// OpenID Connect RP-Initiated Logout 1.0.
    end_session_endpoint: Option<Url>,
    /// RFC 9207: the provider puts `iss` in authorization responses.
    authorization_response_iss_parameter_supported: Option<bool>,
    /// OpenID Connect Back-Channel Logout 1.0 section 2.1.
    backchannel_logout_supported: Option<bool>,
    backchannel_logout_session_supported: Option<bool>,
    /// RFC 8414 section 2 (PKCE methods).
    code_challenge_methods_supported: Option<Vec<String>>,
}

impl oidc::AdditionalProviderMetadata for ExtraMetadata {}

type Metadata = oidc::ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The `openidconnect` client as built from discovery: authorization endpoint set,
/// token and userinfo endpoints as the metadata says.
type Inner = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why discovery failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The metadata or key set could not be fetched or is invalid (including an `issuer`
    /// in the metadata that differs from the configured one).
    #[error("OpenID provider discovery failed for {issuer}")]
    Discovery {
        /// The configured issuer.
        issuer: String,
        /// What went wrong.
        #[source]
        source: BoxError,
    },
    /// The provider has no token endpoint, so the code flow cannot work.
    #[error("the provider has no token endpoint")]
    NoTokenEndpoint,
    /// The provider does not offer the authorization code flow.
    #[error("the provider does not support response_type=code")]
    NoCodeFlow,
    /// The provider lists PKCE methods and S256 is not among them.
    #[error("the provider does not support PKCE with S256")]
    NoPkceS256,
    /// The key set fetched at discovery could not be read.
    #[error("the provider's key set is invalid")]
    Keys(#[source] JwksError),
    /// Discovery for this issuer failed a moment ago and is not tried again yet
    /// ([`DiscoveryCache`](crate::DiscoveryCache)).
    #[error(
        "OpenID provider discovery for {issuer} failed recently ({cause}); not retried for another {}s",
        .retry_in.num_seconds()
    )]
    RecentlyFailed {
        /// The configured issuer.
        issuer: String,
        /// How long until the next attempt is allowed.
        retry_in: chrono::TimeDelta,
        /// What the failed attempt said.
        cause: String,
    },
}

/// Why the authorization response could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// The provider answered with an error (`access_denied` when the user cancels).
    #[error("the provider returned `{error}`{}", .description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Provider {
        /// The OAuth error code.
        error: String,
        /// The provider's human-readable description, if any. Do not show it to users
        /// unescaped: it comes from the query string.
        description: Option<String>,
    },
    /// There is no `code` parameter.
    #[error("the callback has no code")]
    MissingCode,
    /// There is no `state` parameter.
    #[error("the callback has no state")]
    MissingState,
    /// A parameter appears more than once.
    #[error("the callback repeats the `{0}` parameter")]
    Duplicate(&'static str),
}

/// Why a login could not be completed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// The callback's `state` is not the pending login's (CSRF, or a mixed-up session).
    #[error("the callback's state does not match the pending login")]
    StateMismatch,
    /// The callback's `iss` is not this provider (RFC 9207 mix-up defence).
    #[error("the callback's iss is not this provider")]
    IssuerMismatch,
    /// The provider promises `iss` in callbacks and this one has none.
    #[error("the callback has no iss although the provider sends one")]
    MissingIssuer,
    /// The pending login was started with another connection (issuer or client id).
    #[error("the pending login belongs to another connection")]
    WrongConnection,
    /// The pending login is older than the configured login timeout.
    #[error("the login took too long; start again")]
    LoginExpired,
    /// The token endpoint refused the code (`invalid_grant`: used twice, expired, or
    /// the PKCE verifier does not match).
    #[error("the token endpoint refused the code: {error}")]
    TokenEndpoint {
        /// The OAuth error code.
        error: String,
        /// The provider's description, if any.
        description: Option<String>,
    },
    /// The token request failed (network, or an unreadable response).
    #[error("the token request failed")]
    TokenRequest(#[source] BoxError),
    /// The token response has no ID token.
    #[error("the token response has no ID token")]
    MissingIdToken,
    /// The ID token is invalid.
    #[error(transparent)]
    IdToken(#[from] IdTokenError),
}

/// Options for one authorization request.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AuthorizeOptions {
    /// Pre-fill the provider's sign-in form (`login_hint`), typically the email the user
    /// typed on our login page.
    pub login_hint: Option<String>,
    /// Where to send the user after login. Only ever a same-origin URL you validated
    /// (see [`InitiateLogin`](crate::InitiateLogin)); it is kept in the pending login,
    /// never sent to the provider.
    pub return_to: Option<Url>,
}

impl AuthorizeOptions {
    /// No hint, no return URL.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set the `login_hint`.
    #[must_use]
    pub fn login_hint(mut self, hint: impl Into<String>) -> Self {
        self.login_hint = Some(hint.into());
        self
    }

    /// Set where to go after login.
    #[must_use]
    pub fn return_to(mut self, url: Url) -> Self {
        self.return_to = Some(url);
        self
    }
}

/// A login in progress: what the callback needs to finish it. Store it server-side
/// (it holds the PKCE verifier and nonce, which must not reach the browser), keyed by
/// [`PendingLogin::state`], and use it once.
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    state: String,
    nonce: String,
    pkce_verifier: String,
    issuer: Issuer,
    client_id: ClientId,
    #[serde(with = "chrono::serde::ts_seconds")]
    created_at: DateTime<Utc>,
    return_to: Option<Url>,
}

impl PendingLogin {
    /// The `state` sent to the provider: the key to store this under.
    pub fn state(&self) -> &str {
        &self.state
    }

    /// The provider it was started with.
    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    /// When it was started.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// Where to send the user after login, if a return URL was given.
    pub fn return_to(&self) -> Option<&Url> {
        self.return_to.as_ref()
    }
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("state", &self.state)
            .field("nonce", &"<redacted>")
            .field("pkce_verifier", &"<redacted>")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("created_at", &self.created_at)
            .field("return_to", &self.return_to)
            .finish()
    }
}

/// The parameters of the redirect back from the provider (the authorization response).
#[derive(Clone)]
#[non_exhaustive]
pub struct Callback {
    /// The authorization code.
    pub code: String,
    /// The `state`: look the [`PendingLogin`] up by it.
    pub state: String,
    /// The issuer, when the provider sends it (RFC 9207).
    pub iss: Option<String>,
}

impl fmt::Debug for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callback")
            .field("code", &"<redacted>")
            .field("state", &self.state)
            .field("iss", &self.iss)
            .finish()
    }
}

impl Callback {
    /// Read the query string of the redirect URI request (without the leading `?`).
    pub fn from_query(query: &str) -> Result<Self, CallbackError> {
        let mut code = None;
        let mut state = None;
        let mut iss = None;
        let mut error = None;
        let mut description = None;
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let (slot, label) = match name.as_ref() {
                "code" => (&mut code, "code"),
                "state" => (&mut state, "state"),
                "iss" => (&mut iss, "iss"),
                "error" => (&mut error, "error"),
                "error_description" => (&mut description, "error_description"),
                _ => continue,
            };
            if slot.replace(value.into_owned()).is_some() {
                return Err(CallbackError::Duplicate(label));
            }
        }
        if let Some(error) = error {
            return Err(CallbackError::Provider { error, description });
        }
        Ok(Callback {
            code: code
                .filter(|c| !c.is_empty())
                .ok_or(CallbackError::MissingCode)?,
            state: state
                .filter(|s| !s.is_empty())
                .ok_or(CallbackError::MissingState)?,
            iss,
        })
    }
}

/// An OpenID Connect relying party for one provider and client.
pub struct OidcClient {
    config: RelyingPartyConfig,
    inner: Inner,
    http: reqwest::Client,
    end_session_endpoint: Option<Url>,
    iss_parameter_supported: bool,
    backchannel_logout_supported: bool,
    algorithms: Vec<String>,
    jwks: Arc<JwksCache>,
    id_tokens: IdTokenValidator,
}

impl fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcClient")
            .field("issuer", &self.config.issuer)
            .field("client_id", &self.config.client_id)
            .field("redirect_uri", &self.config.redirect_uri.as_str())
            .field("algorithms", &self.algorithms)
            .field("jwks", &self.jwks)
            .finish_non_exhaustive()
    }
}

impl OidcClient {
    /// An HTTP client fit for talking to providers: no redirects (SSRF), bounded
    /// timeouts, rustls.
    pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(15))
            .user_agent(concat!("butterfly-oidc/", env!("CARGO_PKG_VERSION")))
            .build()
    }

    /// Fetch the provider's metadata (`{issuer}/.well-known/openid-configuration`) and
    /// key set, check that the metadata's `issuer` is exactly the configured one, and
    /// build the client.
    ///
    /// `http` must not follow redirects; use [`OidcClient::http_client`].
    pub async fn discover(
        config: RelyingPartyConfig,
        http: reqwest::Client,
    ) -> Result<Self, DiscoveryError> {
        let discovery_error = |source: BoxError| DiscoveryError::Discovery {
            issuer: config.issuer.to_string(),
            source,
        };
        let issuer_url = oidc::IssuerUrl::new(config.issuer.as_str().to_owned())
            .map_err(|e| discovery_error(Box::new(e)))?;
        let metadata = Metadata::discover_async(issuer_url, &http)
            .await
            .map_err(|e| discovery_error(Box::new(e)))?;

        if metadata.token_endpoint().is_none() {
            return Err(DiscoveryError::NoTokenEndpoint);
        }
        let supports_code = metadata
            .response_types_supported()
            .iter()
            .any(|types| types.len() == 1 && types.contains(&CoreResponseType::Code));
        if !supports_code {
            return Err(DiscoveryError::NoCodeFlow);
        }
        // Absent means "not said" (Okta, for one, says nothing); present without S256
        // means the provider would ignore our challenge.
        if let Some(methods) = &metadata
            .additional_metadata()
            .code_challenge_methods_supported
            && !methods.iter().any(|m| m == "S256")
        {
            return Err(DiscoveryError::NoPkceS256);
        }

        let algorithms: Vec<String> = metadata
            .id_token_signing_alg_values_supported()
            .iter()
            .filter_map(|alg| serde_json::to_value(alg).ok()?.as_str().map(str::to_owned))
            .collect();
        let jwks_json =
            serde_json::to_vec(metadata.jwks()).map_err(|e| discovery_error(Box::new(e)))?;
        let mut jwks = JwksCache::new(metadata.jwks_uri().url().clone(), http.clone())
            .with_clock(Arc::clone(&config.clock));
        if let Some(replicas) = &config.replicas {
            jwks = jwks.with_replica_coordination(Arc::clone(replicas));
        }
        let jwks = Arc::new(jwks.seed(&jwks_json).map_err(DiscoveryError::Keys)?);
        let extra = metadata.additional_metadata().clone();

        // client_secret_basic is the default when the provider lists nothing (OIDC
        // Discovery 1.0 section 3); use client_secret_post only when basic is not offered.
        let post_only = metadata
            .token_endpoint_auth_methods_supported()
            .is_some_and(|methods| {
                !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
                    && methods.contains(&CoreClientAuthMethod::ClientSecretPost)
            });
        let mut inner = CoreClient::from_provider_metadata(
            metadata,
            oidc::ClientId::new(config.client_id.as_str().to_owned()),
            config
                .client_secret
                .as_ref()
                .map(|s| oidc::ClientSecret::new(s.secret().to_owned())),
        )
        .set_redirect_uri(oidc::RedirectUrl::from_url(config.redirect_uri.clone()));
        if post_only {
            inner = inner.set_auth_type(oidc::AuthType::RequestBody);
        }

        let id_tokens = IdTokenValidator::new(
            config.issuer.clone(),
            config.client_id.clone(),
            Arc::clone(&jwks),
        )
        .with_algorithms(&algorithms)
        .with_clock(Arc::clone(&config.clock))
        .with_clock_skew(config.clock_skew);

        Ok(OidcClient {
            inner,
            http,
            end_session_endpoint: extra.end_session_endpoint,
            iss_parameter_supported: extra
                .authorization_response_iss_parameter_supported
                .unwrap_or(false),
            backchannel_logout_supported: extra.backchannel_logout_supported.unwrap_or(false),
            algorithms,
            jwks,
            id_tokens,
            config,
        })
    }

    /// The configuration this client was built from.
    pub fn config(&self) -> &RelyingPartyConfig {
        &self.config
    }

    /// The provider's issuer.
    pub fn issuer(&self) -> &Issuer {
        &self.config.issuer
    }

    /// Our client id.
    pub fn client_id(&self) -> &ClientId {
        &self.config.client_id
    }

    /// The provider's key set cache, shared by the ID and logout token validators.
    pub fn jwks(&self) -> &Arc<JwksCache> {
        &self.jwks
    }

    /// The signing algorithms the provider advertises for ID tokens.
    pub fn signing_algorithms(&self) -> &[String] {
        &self.algorithms
    }

    /// Whether the provider says it supports back-channel logout.
    pub fn backchannel_logout_supported(&self) -> bool {
        self.backchannel_logout_supported
    }

    /// The provider's end-session endpoint (RP-initiated logout), if it has one.
    pub fn end_session_endpoint(&self) -> Option<&Url> {
        self.end_session_endpoint.as_ref()
    }

    /// The ID token validator this client uses.
    pub fn id_token_validator(&self) -> &IdTokenValidator {
        &self.id_tokens
    }

    /// A logout token validator for this provider and client, sharing this client's key
    /// set cache, algorithms, clock and skew. Keep the one you create for the life of
    /// the process: it holds the replay cache.
    pub fn logout_validator(&self) -> LogoutTokenValidator {
        let validator = LogoutTokenValidator::new(
            self.config.issuer.clone(),
            self.config.client_id.clone(),
            Arc::clone(&self.jwks),
        )
        .with_algorithms(&self.algorithms)
        .with_clock(Arc::clone(&self.config.clock))
        .with_clock_skew(self.config.clock_skew);
        match &self.config.replicas {
            Some(replicas) => validator.with_replica_coordination(Arc::clone(replicas)),
            None => validator,
        }
    }

    /// Start a login: the URL to redirect the browser to (authorization code flow with
    /// PKCE S256, a fresh random `state` and `nonce`), and the [`PendingLogin`] to store
    /// server-side until the callback.
    pub fn authorize_url(&self, options: AuthorizeOptions) -> (Url, PendingLogin) {
        let (challenge, verifier) = oidc::PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .inner
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                oidc::CsrfToken::new_random,
                oidc::Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in self.config.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(oidc::Scope::new(scope.clone()));
        }
        if let Some(hint) = options.login_hint {
            request = request.set_login_hint(oidc::LoginHint::new(hint));
        }
        let (url, state, nonce) = request.url();
        let pending = PendingLogin {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            issuer: self.config.issuer.clone(),
            client_id: self.config.client_id.clone(),
            created_at: self.config.clock.now(),
            return_to: options.return_to,
        };
        (url, pending)
    }

    /// Finish a login from the callback: check `state` and `iss`, then
    /// [`exchange_code`](Self::exchange_code).
    pub async fn complete_login(
        &self,
        callback: &Callback,
        pending: &PendingLogin,
    ) -> Result<VerifiedLogin, ExchangeError> {
        if !bool::from(callback.state.as_bytes().ct_eq(pending.state.as_bytes())) {
            return Err(ExchangeError::StateMismatch);
        }
        match &callback.iss {
            Some(iss) if iss != self.config.issuer.as_str() => {
                return Err(ExchangeError::IssuerMismatch);
            }
            None if self.iss_parameter_supported => return Err(ExchangeError::MissingIssuer),
            _ => {}
        }
        self.exchange_code(&callback.code, pending).await
    }

    /// Exchange an authorization code (with the pending login's PKCE verifier) for
    /// tokens, and validate the ID token: signature, issuer, audience, expiry and nonce.
    ///
    /// The caller must already have matched the callback's `state` to `pending` (looking
    /// it up by state does that); [`complete_login`](Self::complete_login) also checks.
    pub async fn exchange_code(
        &self,
        code: &str,
        pending: &PendingLogin,
    ) -> Result<VerifiedLogin, ExchangeError> {
        if pending.issuer != self.config.issuer || pending.client_id != self.config.client_id {
            return Err(ExchangeError::WrongConnection);
        }
        if self.config.clock.now() - pending.created_at > self.config.login_timeout {
            return Err(ExchangeError::LoginExpired);
        }
        let request = self
            .inner
            .exchange_code(oidc::AuthorizationCode::new(code.to_owned()))
            .map_err(|e| ExchangeError::TokenRequest(Box::new(e)))?
            .set_pkce_verifier(oidc::PkceCodeVerifier::new(pending.pkce_verifier.clone()));
        let response = request
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                oidc::RequestTokenError::ServerResponse(r) => ExchangeError::TokenEndpoint {
                    error: r.error().to_string(),
                    description: r.error_description().cloned(),
                },
                other => ExchangeError::TokenRequest(Box::new(other)),
            })?;
        let id_token = response
            .id_token()
            .ok_or(ExchangeError::MissingIdToken)?
            .to_string();
        Ok(self.id_tokens.validate(&id_token, &pending.nonce).await?)
    }

    /// The URL that signs the user out at the provider (OpenID Connect RP-Initiated
    /// Logout 1.0), or `None` if the provider has no end-session endpoint. The
    /// `post_logout_redirect_uri` must be registered with the provider.
    pub fn end_session_url(
        &self,
        id_token_hint: Option<&RawIdToken>,
        post_logout_redirect_uri: Option<&Url>,
        state: Option<&str>,
    ) -> Option<Url> {
        let mut url = self.end_session_endpoint.clone()?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("client_id", self.config.client_id.as_str());
            if let Some(hint) = id_token_hint {
                query.append_pair("id_token_hint", hint.as_str());
            }
            if let Some(uri) = post_logout_redirect_uri {
                query.append_pair("post_logout_redirect_uri", uri.as_str());
            }
            if let Some(state) = state {
                query.append_pair("state", state);
            }
        }
        Some(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_are_parsed_strictly() {
        let cb =
            Callback::from_query("code=abc&state=xyz&iss=https%3A%2F%2Fidp.example.com").unwrap();
        assert_eq!((cb.code.as_str(), cb.state.as_str()), ("abc", "xyz"));
        assert_eq!(cb.iss.as_deref(), Some("https://idp.example.com"));
        assert!(!format!("{cb:?}").contains("abc"));

        assert!(matches!(
            Callback::from_query("error=access_denied&error_description=no&state=x"),
            Err(CallbackError::Provider { error, description: Some(d) }) if error == "access_denied" && d == "no"
        ));
        assert!(matches!(
            Callback::from_query("state=x"),
            Err(CallbackError::MissingCode)
        ));
        assert!(matches!(
            Callback::from_query("code=c"),
            Err(CallbackError::MissingState)
        ));
        assert!(matches!(
            Callback::from_query("code=c&state=a&state=b"),
            Err(CallbackError::Duplicate("state"))
        ));
    }
}
