//! An OpenID Connect relying party for Rust services.
//!
//! - [`OidcClient`]: discovery, the authorization code flow with PKCE (S256), `state`
//!   and `nonce`, the callback ([`Callback`], RFC 9207 `iss` check) and ID token
//!   validation ([`IdTokenValidator`]), giving a plain [`VerifiedLogin`].
//! - [`JwksCache`]: the provider's keys, refetched when a token names an unknown `kid`,
//!   at most once per interval per issuer.
//! - [`LogoutTokenValidator`]: OpenID Connect Back-Channel Logout 1.0 logout tokens,
//!   every rule of section 2.6, with a replay cache; [`LogoutHandler`] and
//!   [`handle_backchannel_logout`] make the endpoint, and the `axum` feature mounts it
//!   (`butterfly_oidc::axum::backchannel_logout`).
//! - [`InitiateLogin`]: third-party initiated login (OIDC Core section 4) without an
//!   open redirect.
//! - [`DomainRouter`]: which SSO connection a sign-in email belongs to.
//!
//! Time comes from a [`butterfly_core::Clock`] in [`RelyingPartyConfig::clock`], so
//! expiry checks are testable without sleeping.
//!
//! # Security notes
//!
//! - Give the client an HTTP client that does not follow redirects
//!   ([`OidcClient::http_client`]): a redirect from a provider endpoint could otherwise
//!   point the server at internal addresses.
//! - Store [`PendingLogin`] server-side and use it once; it holds the PKCE verifier and
//!   the nonce.
//! - Tokens are accepted only with asymmetric algorithms the provider advertises; `none`
//!   and HS* are refused by name, so a token "signed" with the provider's public key as
//!   an HMAC secret never reaches a key.
//! - Key accounts on (issuer, subject), and link by email only when
//!   [`VerifiedLogin::email_verified`] is true.
//!
//! # Example: email routing
//!
//! ```
//! use butterfly_oidc::{DomainRouter, EmailDomain};
//!
//! let mut router = DomainRouter::new();
//! router.insert(EmailDomain::parse("example.com")?, "team-a");
//! router.insert(EmailDomain::parse("example.org")?, "team-a");
//!
//! assert_eq!(router.route_email("Jane.Doe@EXAMPLE.com")?, Some(&"team-a"));
//! assert_eq!(router.route_email("x@elsewhere.net")?, None);
//! assert!(router.route_email("not an email").is_err());
//! # Ok::<(), butterfly_oidc::Error>(())
//! ```
//!
//! # Example: SSO and back-channel logout in an axum app
//!
//! The login route redirects to the provider, the callback finishes the login, and the
//! back-channel logout route (feature `axum`) ends sessions when the provider says so.
//! Sessions and pending logins live in memory here; a real server keeps them in its
//! database.
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use std::sync::{Arc, Mutex};
//!
//! use axum::extract::{RawQuery, State};
//! use axum::http::StatusCode;
//! use axum::response::{IntoResponse, Redirect, Response};
//! use axum::routing::get;
//! use axum::Router;
//! use butterfly_oidc::{
//!     AuthorizeOptions, Callback, ClientId, ClientSecret, EndSessionsError, Issuer,
//!     LogoutHandler, LogoutRequest, LogoutTokenValidator, OidcClient, PendingLogin,
//!     RelyingPartyConfig,
//! };
//!
//! struct App {
//!     oidc: OidcClient,
//!     logout: Arc<LogoutTokenValidator>,
//!     pending: Mutex<BTreeMap<String, PendingLogin>>,
//!     /// Provider session id (`sid`) -> our session ids.
//!     sessions: Mutex<BTreeMap<String, Vec<String>>>,
//! }
//!
//! impl LogoutHandler for App {
//!     async fn validator_for(&self, issuer: &str) -> Option<Arc<LogoutTokenValidator>> {
//!         (self.logout.issuer().as_str() == issuer).then(|| Arc::clone(&self.logout))
//!     }
//!
//!     async fn end_sessions(&self, request: LogoutRequest) -> Result<(), EndSessionsError> {
//!         if let Some(sid) = &request.sid {
//!             self.sessions.lock().map_err(|e| e.to_string())?.remove(sid);
//!         }
//!         Ok(())
//!     }
//! }
//!
//! async fn login(State(app): State<Arc<App>>) -> Redirect {
//!     let (url, pending) = app.oidc.authorize_url(AuthorizeOptions::new());
//!     if let Ok(mut map) = app.pending.lock() {
//!         map.insert(pending.state().to_owned(), pending);
//!     }
//!     Redirect::to(url.as_str())
//! }
//!
//! async fn callback(State(app): State<Arc<App>>, RawQuery(query): RawQuery) -> Response {
//!     let Ok(callback) = Callback::from_query(query.as_deref().unwrap_or_default()) else {
//!         return StatusCode::BAD_REQUEST.into_response();
//!     };
//!     // Single use: take it out.
//!     let pending = app.pending.lock().ok().and_then(|mut m| m.remove(&callback.state));
//!     let Some(pending) = pending else {
//!         return StatusCode::BAD_REQUEST.into_response();
//!     };
//!     match app.oidc.complete_login(&callback, &pending).await {
//!         Ok(login) => {
//!             // Create the session; remember the provider's sid for back-channel logout.
//!             let session_id = "a fresh random session id".to_owned();
//!             if let (Some(sid), Ok(mut sessions)) = (login.sid, app.sessions.lock()) {
//!                 sessions.entry(sid).or_default().push(session_id);
//!             }
//!             Redirect::to(pending.return_to().map_or("/", |u| u.as_str())).into_response()
//!         }
//!         Err(_) => StatusCode::UNAUTHORIZED.into_response(),
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = RelyingPartyConfig::new(
//!     Issuer::new("https://example.okta.com")?,
//!     ClientId::new("0oa1example")?,
//!     Some(ClientSecret::new("from your secret store")),
//!     "https://app.example.com/sso/callback".parse()?,
//! );
//! let oidc = OidcClient::discover(config, OidcClient::http_client()?).await?;
//! let logout = Arc::new(oidc.logout_validator());
//! let app = Arc::new(App {
//!     oidc,
//!     logout,
//!     pending: Mutex::default(),
//!     sessions: Mutex::default(),
//! });
//!
//! let router = Router::new()
//!     .route("/sso/login", get(login))
//!     .route("/sso/callback", get(callback))
//!     .route(
//!         "/sso/logout/backchannel",
//!         butterfly_oidc::axum::backchannel_logout(Arc::clone(&app)),
//!     )
//!     .with_state(app);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, router).await?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

#[cfg(feature = "axum")]
pub mod axum;
mod backchannel;
mod client;
mod config;
mod discovery_cache;
mod domain;
mod id_token;
mod initiate;
mod jwks;
mod jws;
mod logout;

pub use backchannel::{
    BackchannelLogoutError, BackchannelLogoutOutcome, EndSessionsError, LogoutHandler,
    handle_backchannel_logout,
};
pub use client::{
    AuthorizeOptions, Callback, CallbackError, DiscoveryError, ExchangeError, OidcClient,
    PendingLogin,
};
pub use config::{ClientId, ClientSecret, ConfigError, Issuer, RelyingPartyConfig};
pub use discovery_cache::DiscoveryCache;
pub use domain::{DomainRouter, EmailDomain};
pub use id_token::{IdTokenError, IdTokenValidator, RawIdToken, VerifiedLogin};
pub use initiate::{InitiateLogin, InitiateLoginError, InitiateLoginPolicy};
pub use jwks::{JwksCache, JwksError};
pub use logout::{BACKCHANNEL_LOGOUT_EVENT, LogoutRequest, LogoutTokenError, LogoutTokenValidator};

/// Errors from email-domain routing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not an email address with a valid domain.
    #[error("`{0}` is not a valid email address")]
    InvalidEmail(String),
    /// The text is not a valid DNS domain name.
    #[error("`{0}` is not a valid domain name")]
    InvalidDomain(String),
}
