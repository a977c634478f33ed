//! `/metrics`: the server's counters in the Prometheus text format (OpenMetrics 1.0).
//!
//! Built on `prometheus-client`, the Prometheus project's own Rust client: a registry
//! owned by the server (no process-global state, so tests in one binary do not share
//! counters), typed label sets, and a text encoder; no HTTP server of its own.
//!
//! | Metric | Type | Labels | What |
//! |---|---|---|---|
//! | `butterfly_jobs_total` | counter | `kind`, `outcome` (`succeeded`, `failed`) | jobs finished |
//! | `butterfly_job_duration_seconds` | histogram | `kind` | time from claim to end |
//! | `butterfly_rate_limit_waits_total` | counter | `reason` (`429`, `headroom`) | waits of backups on Okta's rate limits |
//! | `butterfly_backup_bytes_stored_total` | counter | | bytes backups added to repositories |
//! | `butterfly_http_requests_total` | counter | `surface` (`scim`, `sso`), `method`, `status` | SCIM and SSO requests answered |
//!
//! No label names a team, a connection or an org: a scrape tells how the server does,
//! never who its tenants are. Per-team figures are in `GET /api/v1/status`, behind the
//! API's own access control.
//!
//! Access: `/metrics` is off (404) until `--metrics-token` (`BUTTERFLY_METRICS_TOKEN`)
//! is set; then it answers only `Authorization: Bearer <token>` (Prometheus'
//! `authorization` scrape setting), compared by SHA-256 digest in constant time.

use std::fmt;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::AppState;

/// The content type of the OpenMetrics text format, which Prometheus negotiates.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    surface: &'static str,
    method: &'static str,
    status: u16,
}

fn duration_histogram() -> Histogram {
    // 1 s to about 4.5 h: a small org's backup to a 50K-user one.
    Histogram::new(exponential_buckets(1.0, 2.0, 15))
}

/// The server's metrics and who may read them.
pub struct Metrics {
    registry: Registry,
    jobs: Family<JobLabels, Counter>,
    job_seconds: Family<KindLabels, Histogram, fn() -> Histogram>,
    rate_limit_waits: Family<ReasonLabels, Counter>,
    bytes_stored: Counter,
    requests: Family<RequestLabels, Counter>,
    token_digest: Option<[u8; 32]>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("enabled", &self.token_digest.is_some())
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// Metrics served to bearers of `token`; with `None`, `/metrics` answers 404 (the
    /// counters still count).
    pub fn new(token: Option<&str>) -> Self {
        let mut registry = Registry::with_prefix("butterfly");
        let jobs = Family::<JobLabels, Counter>::default();
        registry.register("jobs", "Jobs finished, by kind and outcome", jobs.clone());
        let job_seconds = Family::<KindLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram,
        );
        registry.register(
            "job_duration_seconds",
            "Seconds from a job's claim to its end",
            job_seconds.clone(),
        );
        let rate_limit_waits = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "rate_limit_waits",
            "Waits of backups on the provider's rate limits: 429 answers waited out, and pauses to leave headroom",
            rate_limit_waits.clone(),
        );
        let bytes_stored = Counter::default();
        registry.register(
            "backup_bytes_stored",
            "Bytes backups added to snapshot repositories (packs, indexes, manifests)",
            bytes_stored.clone(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "SCIM and SSO requests answered, by surface, method and status",
            requests.clone(),
        );
        Metrics {
            registry,
            jobs,
            job_seconds,
            rate_limit_waits,
            bytes_stored,
            requests,
            token_digest: token
                .filter(|t| !t.is_empty())
                .map(|t| Sha256::digest(t.as_bytes()).into()),
        }
    }

    /// A job of `kind` ended after `seconds`.
    pub fn job_finished(&self, kind: &str, succeeded: bool, seconds: f64) {
        let outcome = if succeeded { "succeeded" } else { "failed" };
        self.jobs
            .get_or_create(&JobLabels {
                kind: kind.to_owned(),
                outcome,
            })
            .inc();
        self.job_seconds
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .observe(seconds);
    }

    /// What a backup's recorded outcome says about rate limits and storage: the
    /// fetcher's `rate_limited` and `headroom_pauses`, and the bytes it added.
    pub fn backup_recorded(&self, outcome: &serde_json::Value) {
        let number = |pointer: &str| {
            outcome
                .pointer(pointer)
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
        };
        self.rate_limit_waits
            .get_or_create(&ReasonLabels { reason: "429" })
            .inc_by(number("/fetch/rate_limited"));
        self.rate_limit_waits
            .get_or_create(&ReasonLabels { reason: "headroom" })
            .inc_by(number("/fetch/headroom_pauses"));
        self.bytes_stored
            .inc_by(number("/write/new_bytes") + number("/write/manifest_bytes"));
    }

    fn request_answered(&self, surface: &'static str, method: &'static str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                surface,
                method,
                status,
            })
            .inc();
    }

    /// The registry in the text format.
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }

    fn admits(&self, headers: &HeaderMap) -> Access {
        let Some(expected) = &self.token_digest else {
            return Access::Disabled;
        };
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match presented {
            Some(token) if bool::from(Sha256::digest(token.as_bytes()).ct_eq(expected)) => {
                Access::Granted
            }
            _ => Access::Refused,
        }
    }
}

enum Access {
    Disabled,
    Refused,
    Granted,
}

/// `GET /metrics`.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let metrics = &state.metrics;
    match metrics.admits(&headers) {
        Access::Disabled => (
            StatusCode::NOT_FOUND,
            "metrics are off; start the server with --metrics-token to serve them\n",
        )
            .into_response(),
        Access::Refused => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token (--metrics-token) is needed\n",
        )
            .into_response(),
        Access::Granted => match metrics.encode() {
            Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot encode metrics");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        },
    }
}

/// Which counted surface a path belongs to.
fn surface_of(path: &str) -> Option<&'static str> {
    if path == "/scim/v2" || path.starts_with("/scim/v2/") {
        Some("scim")
    } else if path.starts_with("/auth/sso/") || path == "/auth/logout" {
        Some("sso")
    } else {
        None
    }
}

/// The method as a label: the standard ones by name, anything else `other`, so a
/// client cannot grow the label set.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware counting SCIM and SSO requests by their answer.
pub async fn count_requests(
    State(metrics): State<std::sync::Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(surface) = surface_of(request.uri().path()) else {
        return next.run(request).await;
    };
    let method = method_label(request.method());
    let response = next.run(request).await;
    metrics.request_answered(surface, method, response.status().as_u16());
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_token_is_checked_and_absent_means_off() {
        let mut headers = HeaderMap::new();
        assert!(matches!(
            Metrics::new(None).admits(&headers),
            Access::Disabled
        ));
        assert!(matches!(
            Metrics::new(Some("")).admits(&headers),
            Access::Disabled
        ));
        let metrics = Metrics::new(Some("s3cret"));
        assert!(matches!(metrics.admits(&headers), Access::Refused));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer nope"),
        );
        assert!(matches!(metrics.admits(&headers), Access::Refused));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret"),
        );
        assert!(matches!(metrics.admits(&headers), Access::Granted));
        assert!(!format!("{metrics:?}").contains("s3cret"));
    }

    #[test]
    fn surfaces_and_methods_are_a_closed_set() {
        assert_eq!(surface_of("/scim/v2/Users"), Some("scim"));
        assert_eq!(surface_of("/scim/v2"), Some("scim"));
        assert_eq!(surface_of("/scim/v2x"), None);
        assert_eq!(surface_of("/auth/sso/login"), Some("sso"));
        assert_eq!(surface_of("/api/v1/me"), None);
        let odd = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&odd), "other");
    }

    #[test]
    fn a_backup_outcome_feeds_waits_and_bytes() {
        let metrics = Metrics::new(None);
        metrics.job_finished("backup.okta", true, 3.0);
        metrics.backup_recorded(&serde_json::json!({
            "fetch": {"rate_limited": 2, "headroom_pauses": 5},
            "write": {"new_bytes": 1000, "manifest_bytes": 24},
        }));
        let text = metrics.encode().unwrap();
        assert!(
            text.contains("butterfly_jobs_total{kind=\"backup.okta\",outcome=\"succeeded\"} 1"),
            "{text}"
        );
        assert!(text.contains("butterfly_rate_limit_waits_total{reason=\"429\"} 2"));
        assert!(text.contains("butterfly_rate_limit_waits_total{reason=\"headroom\"} 5"));
        assert!(text.contains("butterfly_backup_bytes_stored_total 1024"));
        assert!(text.contains("butterfly_job_duration_seconds_count{kind=\"backup.okta\"} 1"));
        assert!(text.ends_with("# EOF\n"));
    }
}
