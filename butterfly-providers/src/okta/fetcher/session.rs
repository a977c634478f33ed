//! A signed-in session for writes: what a restore sends through.
//!
//! It shares the fetcher's sign-in (`private_key_jwt`, scopes the app lacks dropped),
//! its per-bucket budgets and its handling of `429` (wait for the window) and `401`
//! (sign in again). Server errors and broken connections are retried only for requests
//! that are safe to repeat: a create (`POST` to a collection) that failed with a `5xx`
//! may have happened, so it is reported, not repeated; a re-planned restore finds the
//! resource by name if it did.

use std::collections::BTreeSet;

use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::Value;
use tokio::sync::{RwLock, mpsc};

use super::{FetchError, FetchReport, MAX_REAUTHENTICATIONS, OktaFetcher, Shared, limit_headers};
use crate::okta::RateLimitBucket;

/// An answer to a write: its status and JSON body (`Null` when empty or not JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Value,
}

impl ApiResponse {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why a request got no answer worth reading.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The URL could not be built on the org URL.
    #[error("cannot build a request URL: {0}")]
    Url(#[source] url::ParseError),
    /// Retries ran out (or the request was not safe to retry).
    #[error("{0}")]
    Failed(String),
}

/// A signed-in session on one org, from [`OktaFetcher::sign_in`]: the fetcher's sign-in,
/// budgets and `429`/`401` handling, for writes.
pub struct OktaSession<'a> {
    shared: Shared<'a>,
}

impl std::fmt::Debug for OktaSession<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OktaSession")
            .field("org", &self.shared.fetcher.org_url())
            .field("granted", &self.shared.granted)
            .finish_non_exhaustive()
    }
}

impl OktaFetcher {
    /// Sign in for `scopes` (those the app was not granted are dropped) and keep the
    /// token for [`OktaSession::send`].
    pub async fn sign_in(&self, scopes: BTreeSet<String>) -> Result<OktaSession<'_>, FetchError> {
        let (events, _) = mpsc::channel(1);
        let mut shared = self.shared(events);
        let (token, granted) = shared.authenticate(scopes).await?;
        shared.token = RwLock::new((token, 1));
        shared.granted = granted;
        Ok(OktaSession { shared })
    }
}

impl OktaSession<'_> {
    /// The scopes the token was granted.
    pub fn granted_scopes(&self) -> &BTreeSet<String> {
        &self.shared.granted
    }

    /// Counters so far (requests per bucket, retries, `429`s).
    pub fn report(&self) -> FetchReport {
        self.shared.lock_stats().clone()
    }

    /// Send `method path_and_query` with an optional JSON body, within the bucket's
    /// budget. Any status is an answer (a `404` or `400` is the caller's to read), except
    /// `401` (signed in again), `429` (waited out) and, when `repeatable`, `5xx` and
    /// broken connections (retried with backoff). A create is not repeatable: after a
    /// `5xx` it may have happened.
    pub async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&Value>,
        repeatable: bool,
    ) -> Result<ApiResponse, SendError> {
        let path = path_and_query.split('?').next().unwrap_or_default();
        let bucket = RateLimitBucket::for_request(method, path);
        let budget = self.shared.budget(bucket);
        let url = reqwest::Url::parse(&format!(
            "{}{path_and_query}",
            self.shared.fetcher.credentials.org_url
        ))
        .map_err(SendError::Url)?;
        let method_value = Method::from_bytes(method.as_bytes())
            .map_err(|_| SendError::Failed(format!("not an HTTP method: {method}")))?;
        let mut backoff = self.shared.backoff();
        let mut reauthentications = 0u32;
        let mut rate_limited = 0u32;
        loop {
            budget.acquire().await;
            let (token, generation) = {
                let guard = self.shared.token.read().await;
                (guard.0.clone(), guard.1)
            };
            self.shared.count_request(bucket);
            let mut request = self
                .shared
                .fetcher
                .http
                .request(method_value.clone(), url.clone())
                .bearer_auth(&token.0)
                .header(ACCEPT, "application/json");
            if let Some(body) = body {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(serde_json::to_vec(body).unwrap_or_default());
            }
            let failure = match request.send().await {
                Err(e) => format!("request failed: {e}"),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let limits = limit_headers(response.headers());
                    if let Some(limits) = limits
                        && budget.observe(limits).is_some()
                        && status != 429
                    {
                        self.shared.lock_stats().headroom_pauses += 1;
                    }
                    match status {
                        429 => {
                            rate_limited += 1;
                            self.shared.lock_stats().rate_limited += 1;
                            if rate_limited > 100 {
                                return Err(SendError::Failed(
                                    "still rate limited after 100 waits".into(),
                                ));
                            }
                            let seconds = limits.map_or(60, |l| l.reset_in_seconds);
                            budget.pause_until_reset(seconds);
                            continue;
                        }
                        401 => {
                            if reauthentications >= MAX_REAUTHENTICATIONS {
                                return Err(SendError::Failed(
                                    "401 Unauthorized even with fresh tokens".into(),
                                ));
                            }
                            self.shared
                                .reauthenticate(generation)
                                .await
                                .map_err(SendError::Failed)?;
                            reauthentications += 1;
                            continue;
                        }
                        500..=599 => format!("server error {status}"),
                        _ => {
                            let bytes = response.bytes().await.unwrap_or_default();
                            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                            return Ok(ApiResponse { status, body });
                        }
                    }
                }
            };
            if !repeatable {
                return Err(SendError::Failed(format!(
                    "{failure} (a create is not repeated: it may have happened)"
                )));
            }
            match backoff.next() {
                Some(wait) => {
                    self.shared.lock_stats().retries += 1;
                    self.shared.options().timer.sleep(wait).await;
                }
                None => return Err(SendError::Failed(failure)),
            }
        }
    }
}
