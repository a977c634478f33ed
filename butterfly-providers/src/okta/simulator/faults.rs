//! Fault injection: what goes wrong, when, and how often.
//!
//! A rule names a fault, an optional path prefix it applies to, a probability per matching
//! request and an optional number of times it may fire. Rules are checked in order and the
//! first that fires decides the request. Probabilities draw from a generator seeded from
//! the org seed, so a run with the same requests in the same order fails the same way.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FaultKind {
    /// `429` with `E0000047` and exhausted rate-limit headers, whatever the bucket holds.
    RateLimitStorm,
    /// A server error (`status`, default `500`) with an Okta error body.
    ServerError,
    /// The response is delayed by `delay_ms` real milliseconds.
    Slow,
    /// The connection is closed mid-body.
    DropConnection,
    /// The body is cut in half: valid HTTP, invalid JSON.
    TruncatePage,
    /// The request is carried out, then answered with a server error (`status`,
    /// default `500`): a write that happened although the client was told it failed.
    ServerErrorAfterWrite,
}

/// One fault rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// The fault.
    pub kind: FaultKind,
    /// Chance per matching request, 0 to 1 (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Fire at most this many times (default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Only requests whose path starts with this (default: every API request, including
    /// the token endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// For `server_error`: the status (default 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// For `slow`: the delay in real milliseconds (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}

impl FaultRule {
    /// A rule for `kind` that always fires.
    pub fn new(kind: FaultKind) -> Self {
        FaultRule {
            kind,
            probability: None,
            count: None,
            path_prefix: None,
            status: None,
            delay_ms: None,
        }
    }

    /// Parse the command-line form `KIND[:key=value,...]`, e.g.
    /// `server_error:probability=0.05,status=503` or `truncate_page:count=1,path_prefix=/api/v1/users`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (kind, options) = spec.split_once(':').unwrap_or((spec, ""));
        let kind: FaultKind = serde_json::from_value(serde_json::Value::String(kind.trim().to_owned()))
            .map_err(|_| format!("unknown fault `{kind}`: expected rate_limit_storm, server_error, slow, drop_connection, truncate_page or server_error_after_write"))?;
        let mut rule = FaultRule::new(kind);
        for option in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let (key, value) = option
                .split_once('=')
                .ok_or_else(|| format!("fault option `{option}` is not key=value"))?;
            let bad = || format!("fault option `{option}` has a bad value");
            match key.trim() {
                "probability" => rule.probability = Some(value.parse().map_err(|_| bad())?),
                "count" => rule.count = Some(value.parse().map_err(|_| bad())?),
                "path_prefix" => rule.path_prefix = Some(value.to_owned()),
                "status" => rule.status = Some(value.parse().map_err(|_| bad())?),
                "delay_ms" => rule.delay_ms = Some(value.parse().map_err(|_| bad())?),
                other => return Err(format!("unknown fault option `{other}`")),
            }
        }
        Ok(rule)
    }
}

/// A rule and how often it fired.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ActiveRule {
    #[serde(flatten)]
    pub rule: FaultRule,
    pub fired: u64,
}

/// What to do to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultAction {
    RateLimit,
    ServerError(u16),
    Slow(u64),
    Drop,
    Truncate,
    /// Carry the request out, then answer this status.
    AfterWrite(u16),
}

#[derive(Debug)]
pub(crate) struct Faults {
    pub rules: Vec<ActiveRule>,
    rng: ChaCha8Rng,
}

impl Faults {
    pub fn new(seed: u64, rules: Vec<FaultRule>) -> Self {
        Faults {
            rules: rules
                .into_iter()
                .map(|rule| ActiveRule { rule, fired: 0 })
                .collect(),
            // Distinct from the org's stream, so adding faults never changes the org.
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6661_756c_7473),
        }
    }

    /// The fault for a request to `path`, if one fires.
    pub fn decide(&mut self, path: &str) -> Option<FaultAction> {
        for active in &mut self.rules {
            let rule = &active.rule;
            if rule.count.is_some_and(|c| active.fired >= c) {
                continue;
            }
            if rule
                .path_prefix
                .as_deref()
                .is_some_and(|p| !path.starts_with(p))
            {
                continue;
            }
            let p = rule.probability.unwrap_or(1.0).clamp(0.0, 1.0);
            if p < 1.0 && !self.rng.gen_bool(p) {
                continue;
            }
            active.fired += 1;
            return Some(match rule.kind {
                FaultKind::RateLimitStorm => FaultAction::RateLimit,
                FaultKind::ServerError => FaultAction::ServerError(rule.status.unwrap_or(500)),
                FaultKind::Slow => FaultAction::Slow(rule.delay_ms.unwrap_or(1000)),
                FaultKind::DropConnection => FaultAction::Drop,
                FaultKind::TruncatePage => FaultAction::Truncate,
                FaultKind::ServerErrorAfterWrite => {
                    FaultAction::AfterWrite(rule.status.unwrap_or(500))
                }
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_command_line_form() {
        let rule =
            FaultRule::parse("server_error:probability=0.5,status=503,path_prefix=/api/v1/users")
                .unwrap();
        assert_eq!(rule.kind, FaultKind::ServerError);
        assert_eq!(rule.status, Some(503));
        assert_eq!(rule.probability, Some(0.5));
        assert_eq!(rule.path_prefix.as_deref(), Some("/api/v1/users"));
        assert_eq!(
            FaultRule::parse("drop_connection").unwrap().kind,
            FaultKind::DropConnection
        );
        assert!(FaultRule::parse("meteor_strike").is_err());
        assert!(FaultRule::parse("slow:delay=1").is_err());
    }

    #[test]
    fn counts_and_prefixes_limit_a_rule() {
        let mut rule = FaultRule::new(FaultKind::TruncatePage);
        rule.count = Some(2);
        rule.path_prefix = Some("/api/v1/users".into());
        let mut faults = Faults::new(1, vec![rule]);
        assert_eq!(faults.decide("/api/v1/groups"), None);
        assert_eq!(faults.decide("/api/v1/users"), Some(FaultAction::Truncate));
        assert_eq!(faults.decide("/api/v1/users"), Some(FaultAction::Truncate));
        assert_eq!(faults.decide("/api/v1/users"), None);
        assert_eq!(faults.rules[0].fired, 2);
    }
}
