//! Okta's error body.
//!
//! Every Okta management API error carries the same JSON object, e.g. for a rate limit:
//!
//! ```json
//! {"errorCode": "E0000047", "errorSummary": "API call exceeded rate limit due to too many requests.",
//!  "errorLink": "E0000047", "errorId": "oaeXXXX", "errorCauses": []}
//! ```
//!
//! The simulator writes these and the fetcher reads them, so both use this one type.

use serde::{Deserialize, Serialize};

/// The error codes Butterfly produces or reacts to.
pub mod codes {
    /// `401`: the access token is missing, malformed, expired or revoked.
    pub const INVALID_TOKEN: &str = "E0000011";
    /// `403`: the caller may not perform the action (for OAuth 2.0 clients, a missing scope).
    pub const ACCESS_DENIED: &str = "E0000006";
    /// `404`: no such resource.
    pub const NOT_FOUND: &str = "E0000007";
    /// `429`: the rate-limit bucket is exhausted until `X-Rate-Limit-Reset`.
    pub const RATE_LIMITED: &str = "E0000047";
    /// `500`: an internal server error.
    pub const INTERNAL: &str = "E0000009";
    /// `405`: the method is not supported on this resource.
    pub const METHOD_NOT_ALLOWED: &str = "E0000022";
}

/// One cause listed in an error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OktaErrorCause {
    /// What went wrong.
    pub error_summary: String,
}

/// An Okta error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OktaErrorBody {
    /// The Okta error code, `E0000047` and so on (see [`codes`]).
    pub error_code: String,
    /// A sentence for humans.
    pub error_summary: String,
    /// Okta repeats the code here.
    pub error_link: String,
    /// A per-occurrence id for support tickets.
    pub error_id: String,
    /// Details, often empty.
    #[serde(default)]
    pub error_causes: Vec<OktaErrorCause>,
}

impl OktaErrorBody {
    /// A body with `code` and `summary`, no causes.
    pub fn new(code: &str, summary: impl Into<String>, error_id: impl Into<String>) -> Self {
        OktaErrorBody {
            error_code: code.to_owned(),
            error_summary: summary.into(),
            error_link: code.to_owned(),
            error_id: error_id.into(),
            error_causes: Vec::new(),
        }
    }

    /// Whether this is the rate-limit error.
    pub fn is_rate_limited(&self) -> bool {
        self.error_code == codes::RATE_LIMITED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_documented_rate_limit_body() {
        let text = r#"{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests.","errorLink":"E0000047","errorId":"sampleQPivGUj_ND5v78vbYWW","errorCauses":[]}"#;
        let body: OktaErrorBody = serde_json::from_str(text).unwrap();
        assert!(body.is_rate_limited());
        assert_eq!(serde_json::to_string(&body).unwrap(), text);
    }
}
