//! "Test connection" for a tenant: one token, what it grants, one Graph request.
//!
//! Unlike a backup, the check tries each request once: an operator waiting on a test wants
//! the reason now, not after a minute of backoff.

use std::collections::BTreeSet;
use std::error::Error as _;

use butterfly_core::ResourceKind;
use reqwest::header::ACCEPT;
use serde_json::Value;

use super::auth::{TokenOutcome, request_token};
use super::{EntraFetcher, accepted_permissions};
use crate::entra::kinds;
use crate::okta::fetcher::FetchError;

/// What [`EntraFetcher::check_connection`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EntraConnectionCheck {
    /// The application permissions in the token's `roles` claim; `None` when the token
    /// could not be read (then a backup lets Graph's `403`s decide).
    pub granted_permissions: Option<BTreeSet<String>>,
    /// The read permissions of catalogue kinds the token grants nothing for.
    pub missing_permissions: BTreeSet<String>,
    /// Kinds a backup would skip for want of a permission (their children included).
    pub kinds_without_permission: Vec<ResourceKind>,
    /// Whether one page of users was read (`false` when Graph answered `403`).
    pub users_readable: bool,
    /// HTTP requests the check sent.
    pub requests: u64,
}

impl EntraFetcher {
    /// Check that the authority and Graph answer and the app can sign in, without backing
    /// anything up: one token request and one page of one user
    /// (`GET /v1.0/users?$top=1&$select=id`). A `403` there still proves Graph took the
    /// token; a `401`, an unreachable host or a refused address is an error naming which
    /// of the two hosts failed and why.
    pub async fn check_connection(&self) -> Result<EntraConnectionCheck, FetchError> {
        let token_url = self.credentials.token_url();
        let token = match request_token(&self.http, &self.credentials).await? {
            TokenOutcome::Token(token) => token,
            TokenOutcome::Transient(why, _) => {
                return Err(FetchError::Authentication(format!(
                    "the token endpoint {token_url} gave no token: {why}"
                )));
            }
        };
        let users_url = format!(
            "{}/v1.0/users?$top=1&$select=id",
            self.credentials.graph_url
        );
        let answer = self
            .http
            .get(&users_url)
            .bearer_auth(&token.value)
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| {
                FetchError::Authentication(format!(
                    "signed in, but Graph at {} cannot be reached: {}",
                    self.credentials.graph_url,
                    request_failure(&e)
                ))
            })?;
        let status = answer.status();
        let users_readable = match status.as_u16() {
            200..=299 => {
                let page: Option<Value> = answer.json().await.ok();
                if page.as_ref().is_none_or(|p| p.get("value").is_none()) {
                    return Err(FetchError::Authentication(format!(
                        "signed in, but {} does not answer like Graph (no `value` list)",
                        self.credentials.graph_url
                    )));
                }
                true
            }
            403 => false,
            401 => {
                return Err(FetchError::Authentication(format!(
                    "signed in, but Graph at {} refused the token (401): check that the \
                     Graph URL and the authority URL belong to the same cloud",
                    self.credentials.graph_url
                )));
            }
            _ => {
                return Err(FetchError::Authentication(format!(
                    "signed in, but listing users at {} answered {status}",
                    self.credentials.graph_url
                )));
            }
        };
        let mut missing_permissions = BTreeSet::new();
        let mut kinds_without_permission = Vec::new();
        if let Some(roles) = &token.roles {
            for kind in kinds::all() {
                // A kind is read only when it and every ancestor are: a child of a
                // skipped kind is skipped too.
                let mut chain = Some(kind);
                let mut readable = true;
                while let Some(k) = chain {
                    if !roles.iter().any(|r| accepted_permissions(k).contains(r)) {
                        missing_permissions.insert(k.read_permission.to_owned());
                        readable = false;
                    }
                    chain = k.parent.and_then(|p| kinds::by_name(p.kind));
                }
                if !readable {
                    kinds_without_permission.push(kind.kind());
                }
            }
        }
        Ok(EntraConnectionCheck {
            granted_permissions: token.roles,
            missing_permissions,
            kinds_without_permission,
            users_readable,
            requests: 2,
        })
    }
}

/// A failed request in words: the innermost causes (connection refused, a name that
/// resolves only to private addresses, a timeout), not just "error sending request".
pub(crate) fn request_failure(error: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    if error.is_timeout() {
        parts.push("timed out".into());
    }
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        // hyper and reqwest repeat their cause in their own text; keep each once.
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    if parts.is_empty() {
        parts.push(error.to_string());
    }
    parts.join(": ")
}
