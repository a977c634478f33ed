//! A signed-in Graph session for writes: what a restore sends its `POST`, `PATCH` and
//! `DELETE` requests through.
//!
//! It is the fetcher's client with the fetcher's rules: one token renewed before it
//! expires and after a `401`, every request paced by the same
//! resource-unit budget (one unit per write, as Graph charges), a `429`
//! (or a `503` with `Retry-After`) pausing every request for its `Retry-After`, and
//! `5xx`, timeouts and broken answers retried with exponential backoff, except for a
//! `POST`: Graph may have carried it out, so it is never sent again after such an
//! outcome ([`SendError::Uncertain`]). Any other
//! answer is final: Graph's error code and message come back as [`SendError::Refused`].
//!
//! A request body may hold a created user's one-time password: it is never logged, and
//! no error built here quotes a request body.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::ACCEPT;
use serde_json::Value;

use super::budget::UnitBudget;
use super::{EntraFetcher, MAX_REAUTHENTICATIONS, MAX_THROTTLED, TokenKeeper, retry_after};
use crate::entra::kinds::request_cost;
use crate::entra::restore::{ExecuteError, GraphWrite, GraphWriter};
use crate::okta::fetcher::FetchError;

/// The longest Graph error message kept (the rest is cut).
const MAX_MESSAGE: usize = 400;

/// Why a write did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Graph answered with an error that retrying does not change.
    #[error("Graph answered {status} {code}: {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// Graph's error code (`Authorization_RequestDenied`, `Request_BadRequest`...).
        code: String,
        /// Graph's error message.
        message: String,
    },
    /// The request could not be sent, or kept failing (throttled, `5xx`, timeouts).
    #[error("{0}")]
    Failed(String),
    /// A `POST` was sent and its outcome is unknown (a `5xx`, a timeout or a dropped
    /// connection): Graph may have carried it out, so it is not sent again.
    #[error("{0}; it may have happened")]
    Uncertain(String),
}

/// Counters of one session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionStats {
    /// Requests sent (token requests included).
    pub requests: u64,
    /// `429`s (and `503`s with `Retry-After`) waited out.
    pub throttled: u64,
    /// Retries after `5xx`, timeouts and broken answers.
    pub retries: u64,
}

/// A signed-in session on one tenant. See the [module docs](self).
#[derive(Debug)]
pub struct GraphSession<'a> {
    fetcher: &'a EntraFetcher,
    token: TokenKeeper,
    roles: Option<BTreeSet<String>>,
    budget: UnitBudget,
    requests: AtomicU64,
    throttled: AtomicU64,
    retries: AtomicU64,
}

impl EntraFetcher {
    /// Sign in and open a write session, paced by the same budget rules as a fetch.
    pub async fn session(&self) -> Result<GraphSession<'_>, FetchError> {
        let token = self.sign_in().await?;
        let timer = self.options.timer.clone();
        Ok(GraphSession {
            fetcher: self,
            roles: token.roles.clone(),
            token: TokenKeeper::new(token, timer.now()),
            budget: UnitBudget::new(
                self.options.tenant_units,
                self.options.rate_limit_share,
                timer,
            ),
            requests: AtomicU64::new(1),
            throttled: AtomicU64::new(0),
            retries: AtomicU64::new(0),
        })
    }
}

/// Graph's `{"error": {"code", "message"}}`, the message cut to [`MAX_MESSAGE`] and
/// stripped of control characters (it ends up in terminals and journals).
fn graph_error(bytes: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(body) = serde_json::from_slice::<Value>(bytes) else {
        return (None, None);
    };
    let code = body
        .pointer("/error/code")
        .and_then(Value::as_str)
        .filter(|c| {
            c.len() <= 64
                && c.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        })
        .map(str::to_owned);
    let message = body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .map(|m| {
            m.chars()
                .filter(|c| !c.is_control())
                .take(MAX_MESSAGE)
                .collect()
        });
    (code, message)
}

impl GraphSession<'_> {
    /// The application permissions the token carries (`None`: it did not say).
    pub fn roles(&self) -> Option<&BTreeSet<String>> {
        self.roles.as_ref()
    }

    /// The session's counters so far.
    pub fn stats(&self) -> SessionStats {
        SessionStats {
            requests: self.requests.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
        }
    }

    /// Send `method path` (under the version root, `/users`) with `body`; the answer's
    /// JSON when it has one.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>, SendError> {
        let url = format!("{}/v1.0{path}", self.fetcher.credentials.graph_url);
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| SendError::Failed(format!("bad method {method}")))?;
        let cost = request_cost(method.as_str(), path, "");
        // A `POST` creates: sent again after an unknown outcome it would make a
        // duplicate (or fail on the first copy). Only answers Graph gives before
        // processing (`429`, `503` with `Retry-After`, `401`) and connections never
        // made let it go again.
        let repeatable = method != reqwest::Method::POST;
        let mut backoff = self.fetcher.backoff();
        let mut reauthentications = 0u32;
        let mut throttled = 0u32;
        loop {
            let (token, generation, renewed) = self
                .token
                .current(self.fetcher)
                .await
                .map_err(SendError::Failed)?;
            if renewed {
                self.requests.fetch_add(1, Ordering::Relaxed);
            }
            self.budget.acquire(cost).await;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let mut request = self
                .fetcher
                .http
                .request(method.clone(), &url)
                .bearer_auth(&token)
                .header(ACCEPT, "application/json");
            if let Some(body) = body {
                request = request.json(body);
            }
            let failure = match request.send().await {
                Err(e) => {
                    let connect = e.is_connect();
                    let failure = format!("request failed: {}", e.without_url());
                    if !repeatable && !connect {
                        return Err(SendError::Uncertain(failure));
                    }
                    failure
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    match status {
                        200..=299 => {
                            return match response.bytes().await {
                                Ok(bytes) if bytes.is_empty() => Ok(None),
                                Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
                                // The write happened; only its echo is lost.
                                Err(_) => Ok(None),
                            };
                        }
                        429 | 503 if status == 429 || retry_after(response.headers()).is_some() => {
                            throttled += 1;
                            self.throttled.fetch_add(1, Ordering::Relaxed);
                            if throttled > MAX_THROTTLED {
                                return Err(SendError::Failed(format!(
                                    "still throttled after {MAX_THROTTLED} waits"
                                )));
                            }
                            let wait = retry_after(response.headers())
                                .map_or(Duration::from_secs(10), Duration::from_secs);
                            self.budget.pause(wait);
                            tracing::debug!(%method, path, ?wait, "throttled: waiting for Retry-After");
                            continue;
                        }
                        401 if reauthentications < MAX_REAUTHENTICATIONS => {
                            reauthentications += 1;
                            if self
                                .token
                                .renew(self.fetcher, generation)
                                .await
                                .map_err(SendError::Failed)?
                            {
                                self.requests.fetch_add(1, Ordering::Relaxed);
                            }
                            continue;
                        }
                        500..=599 if !repeatable => {
                            return Err(SendError::Uncertain(format!("server error {status}")));
                        }
                        500..=599 => format!("server error {status}"),
                        _ => {
                            let bytes = response.bytes().await.unwrap_or_default();
                            let (code, message) = graph_error(&bytes);
                            return Err(SendError::Refused {
                                status,
                                code: code.unwrap_or_else(|| "(no code)".to_owned()),
                                message: message.unwrap_or_default(),
                            });
                        }
                    }
                }
            };
            match backoff.next() {
                Some(wait) => {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%method, path, %failure, ?wait, "retrying");
                    self.fetcher.options.timer.sleep(wait).await;
                }
                None => return Err(SendError::Failed(failure)),
            }
        }
    }
}

#[async_trait::async_trait]
impl GraphWriter for GraphSession<'_> {
    async fn write(&self, write: &GraphWrite) -> Result<Option<Value>, ExecuteError> {
        self.send(write.method, &write.path, write.body.as_ref())
            .await
            .map_err(|e| match e {
                SendError::Refused {
                    status,
                    code,
                    message,
                } => ExecuteError::Graph {
                    method: write.method,
                    path: write.path.clone(),
                    status,
                    code,
                    message,
                },
                SendError::Uncertain(reason) => ExecuteError::Uncertain {
                    method: write.method,
                    path: write.path.clone(),
                    reason,
                    check: crate::entra::restore::write_check(write),
                },
                SendError::Failed(reason) => ExecuteError::Write {
                    method: write.method,
                    path: write.path.clone(),
                    reason,
                },
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_errors_keep_code_and_a_clean_message() {
        let (code, message) = graph_error(
            br#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges\nto complete the operation."}}"#,
        );
        assert_eq!(code.as_deref(), Some("Authorization_RequestDenied"));
        assert_eq!(
            message.as_deref(),
            Some("Insufficient privilegesto complete the operation.")
        );
        let (code, message) = graph_error(b"<html>");
        assert!(code.is_none() && message.is_none());
        let long = format!(
            r#"{{"error":{{"code":"x y","message":"{}"}}}}"#,
            "a".repeat(999)
        );
        let (code, message) = graph_error(long.as_bytes());
        assert!(code.is_none());
        assert_eq!(message.unwrap().len(), MAX_MESSAGE);
    }
}
