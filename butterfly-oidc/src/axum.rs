//! axum adapters (feature `axum`): the back-channel logout endpoint as a route.

use std::sync::Arc;

use ::axum::body::Bytes;
use ::axum::http::{HeaderMap, header};
use ::axum::response::{IntoResponse, Response};
use ::axum::routing::{MethodRouter, post};

use crate::backchannel::{LogoutHandler, handle_backchannel_logout};

/// A `POST` route for the back-channel logout endpoint (OpenID Connect Back-Channel
/// Logout 1.0): form field `logout_token` in; `200` when the token is valid and
/// `handler` ended the sessions, `400` with a JSON error otherwise; `Cache-Control:
/// no-store` on both.
///
/// Mount it at the URI registered with the provider as `backchannel_logout_uri`:
///
/// ```
/// use std::sync::Arc;
///
/// use axum::Router;
/// use butterfly_oidc::axum::backchannel_logout;
/// use butterfly_oidc::{EndSessionsError, LogoutHandler, LogoutRequest, LogoutTokenValidator};
///
/// struct Sessions;
///
/// impl LogoutHandler for Sessions {
///     async fn validator_for(&self, _issuer: &str) -> Option<Arc<LogoutTokenValidator>> {
///         None // look the connection up by issuer
///     }
///
///     async fn end_sessions(&self, _request: LogoutRequest) -> Result<(), EndSessionsError> {
///         Ok(()) // revoke the sessions it names
///     }
/// }
///
/// let app: Router = Router::new().route("/logout/backchannel", backchannel_logout(Arc::new(Sessions)));
/// ```
///
/// It works with any router state `S`. The body size is bounded by axum's default body
/// limit (2 MB); the validator refuses tokens over 16 KiB before parsing them.
pub fn backchannel_logout<H, S>(handler: Arc<H>) -> MethodRouter<S>
where
    H: LogoutHandler,
    S: Clone + Send + Sync + 'static,
{
    post(move |headers: HeaderMap, body: Bytes| {
        let handler = Arc::clone(&handler);
        async move {
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            let outcome = handle_backchannel_logout(handler.as_ref(), content_type, &body).await;
            let response: Response = outcome.into_response().into_response();
            response
        }
    })
}
