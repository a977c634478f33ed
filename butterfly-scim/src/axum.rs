//! The service as an axum [`Router`] (feature `axum`), with bearer-token authentication
//! (RFC 7644 section 2, RFC 6750).
//!
//! [`router`] answers every path under wherever it is mounted; nest it at the SCIM base
//! path:
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use butterfly_core::TeamId;
//! use butterfly_scim::axum::{TokenAuthenticator, router};
//! use butterfly_scim::{MemoryStore, ScimService};
//!
//! /// One fixed token for one team; a real server looks up the token's hash.
//! struct OneToken {
//!     token: String,
//!     team: TeamId,
//! }
//!
//! impl TokenAuthenticator for OneToken {
//!     async fn authenticate(&self, token: &str) -> Option<TeamId> {
//!         // A real implementation compares hashes in constant time.
//!         (token == self.token).then_some(self.team)
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let service = Arc::new(ScimService::new(MemoryStore::new()));
//! let auth = OneToken { token: "bfs_scim_example".into(), team: TeamId::new_random() };
//! let app = axum::Router::new()
//!     .route("/health", axum::routing::get(|| async { "ok" }))
//!     .nest("/scim/v2", router(service, auth));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```
//!
//! - A request without `Authorization: Bearer <token>`, or with a token the
//!   [`TokenAuthenticator`] does not know, gets 401 with a SCIM error body and
//!   `WWW-Authenticate: Bearer`.
//! - The body is read up to [`ScimConfig::max_request_bytes`](crate::ScimConfig); a larger
//!   one gets a SCIM 413 without being read further.
//! - The base URL in `Location`, `meta.location` and `$ref` is, with
//!   [`router_with_base_url`], the one configured; with [`router`], it is derived from
//!   the request: scheme from `X-Forwarded-Proto` (else `http`), host from
//!   `X-Forwarded-Host` or `Host`, then `X-Forwarded-Prefix` and the path the router is
//!   nested at. Those headers only shape URLs in the answer to the same client, but
//!   behind a proxy that does not set them the URLs will be wrong: configure the base URL
//!   in production.

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{OriginalUri, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::uri::Authority;
use http::{HeaderMap, HeaderValue};

use butterfly_core::TeamId;

use crate::service::error_response;
use crate::store::ScimStore;
use crate::{ScimError, ScimService};

/// Decides which team a SCIM bearer token speaks for.
pub trait TokenAuthenticator: Send + Sync + 'static {
    /// The team `token` authenticates, or `None` if it authenticates nothing. The token
    /// is the raw value after `Bearer `.
    fn authenticate(&self, token: &str) -> impl Future<Output = Option<TeamId>> + Send;
}

struct RouterState<S, A> {
    service: Arc<ScimService<S>>,
    auth: Arc<A>,
    base_url: Option<String>,
}

impl<S, A> Clone for RouterState<S, A> {
    fn clone(&self) -> Self {
        RouterState {
            service: Arc::clone(&self.service),
            auth: Arc::clone(&self.auth),
            base_url: self.base_url.clone(),
        }
    }
}

/// The SCIM endpoints as a router, deriving the base URL from each request.
pub fn router<S, A>(service: Arc<ScimService<S>>, auth: A) -> Router
where
    S: ScimStore + 'static,
    A: TokenAuthenticator,
{
    build(service, auth, None)
}

/// The SCIM endpoints as a router, with a fixed base URL such as
/// `https://example.com/scim/v2`.
pub fn router_with_base_url<S, A>(
    service: Arc<ScimService<S>>,
    auth: A,
    base_url: impl Into<String>,
) -> Router
where
    S: ScimStore + 'static,
    A: TokenAuthenticator,
{
    build(service, auth, Some(base_url.into()))
}

fn build<S, A>(service: Arc<ScimService<S>>, auth: A, base_url: Option<String>) -> Router
where
    S: ScimStore + 'static,
    A: TokenAuthenticator,
{
    let state = RouterState {
        service,
        auth: Arc::new(auth),
        base_url: base_url.map(|b| b.trim_end_matches('/').to_owned()),
    };
    Router::new()
        .route("/", any(handle::<S, A>))
        .route("/{*path}", any(handle::<S, A>))
        .with_state(state)
}

fn unauthorized(detail: &str, token_given: bool) -> Response {
    let mut response = error_response(&ScimError::new(401, detail)).map(Body::from);
    let challenge = if token_given {
        "Bearer realm=\"SCIM\", error=\"invalid_token\""
    } else {
        "Bearer realm=\"SCIM\""
    };
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    response
}

/// The token after `Bearer ` (the scheme in any case).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn first_forwarded<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)?
        .to_str()
        .ok()?
        .split(',')
        .next()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The base URL as the client sees it (see the module docs).
fn derive_base_url(headers: &HeaderMap, original_path: &str, inner_path: &str) -> String {
    let scheme = match first_forwarded(headers, "x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    let host = first_forwarded(headers, "x-forwarded-host")
        .or_else(|| headers.get(http::header::HOST)?.to_str().ok())
        .filter(|h| Authority::from_str(h).is_ok());
    let prefix = first_forwarded(headers, "x-forwarded-prefix")
        .filter(|p| {
            p.starts_with('/')
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b))
        })
        .unwrap_or_default()
        .trim_end_matches('/');
    let mount = original_path
        .strip_suffix(inner_path)
        .unwrap_or_default()
        .trim_end_matches('/');
    match host {
        Some(host) => format!("{scheme}://{host}{prefix}{mount}"),
        // No usable host: relative URLs are still correct for the client.
        None => format!("{prefix}{mount}"),
    }
}

async fn handle<S, A>(
    State(state): State<RouterState<S, A>>,
    OriginalUri(original): OriginalUri,
    request: Request,
) -> Response
where
    S: ScimStore + 'static,
    A: TokenAuthenticator,
{
    let token_given = request.headers().contains_key(AUTHORIZATION);
    let Some(token) = bearer_token(request.headers()) else {
        return unauthorized("a bearer token is required", token_given);
    };
    let Some(team) = state.auth.authenticate(token).await else {
        return unauthorized("the bearer token is not valid", true);
    };
    let base_url = match &state.base_url {
        Some(base) => base.clone(),
        None => derive_base_url(request.headers(), original.path(), request.uri().path()),
    };
    let limit = state.service.config().max_request_bytes();
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, limit.saturating_add(1)).await else {
        return error_response(&ScimError::new(
            413,
            format!("the request body exceeds the limit of {limit} bytes"),
        ))
        .map(Body::from);
    };
    let request = http::Request::from_parts(parts, bytes);
    state
        .service
        .handle(team, &base_url, request)
        .await
        .map(Body::from)
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_comes_from_forwarded_headers_and_mount() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("internal:8080"));
        assert_eq!(
            derive_base_url(&headers, "/scim/v2/Users/1", "/Users/1"),
            "http://internal:8080/scim/v2"
        );
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        headers.insert(
            "x-forwarded-host",
            HeaderValue::from_static("example.com, proxy"),
        );
        headers.insert("x-forwarded-prefix", HeaderValue::from_static("/api/"));
        assert_eq!(
            derive_base_url(&headers, "/scim/v2/Users", "/Users"),
            "https://example.com/api/scim/v2"
        );
        headers.insert("x-forwarded-host", HeaderValue::from_static("bad host/x"));
        headers.remove("host");
        assert_eq!(derive_base_url(&headers, "/Users", "/Users"), "/api");
    }

    #[test]
    fn bearer_tokens_are_read_in_any_case() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("bearer abc"));
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&headers), None);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&headers), None);
    }
}
