//! The `/__sim` endpoints a test harness drives the simulator with.
//!
//! - `GET /__sim/faults` lists the fault rules and how often each fired; `POST` adds rules
//!   (`{"rules": [FaultRule...], "expire_tokens": true}`), `DELETE` removes them all.
//! - `GET /__sim/requests` counts requests by method, route and status, and writes;
//!   `DELETE` resets the counts.
//! - `GET /__sim/lower-bound`: per bucket, the requests a full backup needs and the time
//!   they take at the bucket's rate; the bound is the slowest bucket.
//! - `GET /__sim/clock` shows simulated time; `POST {"advance_seconds": N}` jumps it.
//! - `GET /__sim/org` counts resources per kind.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State as AxumState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::State;
use super::faults::FaultRule;
use super::org::select;
use crate::okta::RateLimitBucket;
use crate::okta::kinds;

/// Request counts.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    total: u64,
    writes: u64,
    by_method: BTreeMap<String, u64>,
    by_route: BTreeMap<String, u64>,
    by_status: BTreeMap<u16, u64>,
}

impl RequestLog {
    pub fn record(&mut self, method: &str, route: &str, status: u16) {
        self.total += 1;
        if is_write(method, route) {
            self.writes += 1;
        }
        *self.by_method.entry(method.to_owned()).or_default() += 1;
        *self
            .by_route
            .entry(format!("{method} {route}"))
            .or_default() += 1;
        *self.by_status.entry(status).or_default() += 1;
    }
}

/// A copy of the request counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLogSnapshot {
    /// Every request outside `/__sim`.
    pub total: u64,
    /// Requests that would change the org (anything but `GET`, `HEAD`, `OPTIONS` and the
    /// token endpoint).
    pub writes: u64,
    /// Per HTTP method.
    pub by_method: BTreeMap<String, u64>,
    /// Per `METHOD route`, where the route is the catalogue's path template.
    pub by_route: BTreeMap<String, u64>,
    /// Per response status.
    pub by_status: BTreeMap<u16, u64>,
}

impl RequestLogSnapshot {
    /// Writes per `METHOD route` (every method but `GET`, `HEAD` and `OPTIONS`, the token
    /// endpoint left out): what a dry run must leave empty, and what a restore wrote.
    pub fn writes_by_route(&self) -> BTreeMap<String, u64> {
        self.by_route
            .iter()
            .filter(|(key, _)| {
                let (method, route) = key.split_once(' ').unwrap_or((key.as_str(), ""));
                is_write(method, route)
            })
            .map(|(key, n)| (key.clone(), *n))
            .collect()
    }

    /// How many writes went to `route` (a catalogue path template such as
    /// `/api/v1/groups/{groupId}/users`, with `/{id}` appended for one object).
    pub fn writes_to(&self, route: &str) -> u64 {
        self.writes_by_route()
            .iter()
            .filter(|(key, _)| key.split_once(' ').is_some_and(|(_, r)| r == route))
            .map(|(_, n)| n)
            .sum()
    }
}

/// Whether a request could change the org.
fn is_write(method: &str, route: &str) -> bool {
    // The token endpoint is a POST but changes nothing in the org.
    !matches!(method, "GET" | "HEAD" | "OPTIONS") && route != "/oauth2/v1/token"
}

pub(crate) fn snapshot(state: &State) -> RequestLogSnapshot {
    let log = state
        .log
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    RequestLogSnapshot {
        total: log.total,
        writes: log.writes,
        by_method: log.by_method.clone(),
        by_route: log.by_route.clone(),
        by_status: log.by_status.clone(),
    }
}

pub(crate) fn add_faults(state: &State, rules: impl IntoIterator<Item = FaultRule>) {
    let mut faults = state
        .faults
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    faults.rules.extend(
        rules
            .into_iter()
            .map(|rule| super::faults::ActiveRule { rule, fired: 0 }),
    );
}

pub(crate) fn clear_faults(state: &State) {
    state
        .faults
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .rules
        .clear();
}

/// One bucket's share of a full backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketBound {
    /// Requests a full backup makes in the bucket.
    pub requests: u64,
    /// The bucket's limit per minute.
    pub limit_per_minute: u32,
    /// `requests / limit` minutes, in simulated seconds.
    pub seconds: f64,
}

/// The least time a full backup can take: every bucket fetched concurrently, each at its
/// sustained rate, so the slowest bucket decides.
///
/// It counts one request per page at each endpoint's largest page size, one per
/// parent for nested kinds (404s included), one per item for kinds with a detail view,
/// and one token request. Windows are fixed minutes, so a backup that starts on a fresh
/// window can beat the bound by up to a minute per bucket; the bound is the sustained
/// rate, which is what matters for orgs that take many minutes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LowerBound {
    /// Per bucket (by name), the buckets a backup uses.
    pub buckets: BTreeMap<String, BucketBound>,
    /// Requests over all buckets.
    pub total_requests: u64,
    /// The slowest bucket.
    pub bound_bucket: String,
    /// Its time in seconds on the simulator's clock.
    pub bound_seconds: f64,
}

pub(crate) fn lower_bound(state: &State) -> LowerBound {
    let org = state
        .org
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut requests: BTreeMap<RateLimitBucket, u64> = BTreeMap::new();
    *requests
        .entry(RateLimitBucket::OrgAuthorizationServer)
        .or_default() += 1;
    for kind in kinds::all() {
        let queries: Vec<BTreeMap<String, String>> = if kind.list_queries.is_empty() {
            vec![BTreeMap::new()]
        } else {
            kind.list_queries
                .iter()
                .map(|q| {
                    url::form_urlencoded::parse(q.as_bytes())
                        .into_owned()
                        .collect()
                })
                .collect()
        };
        for (_, listing) in org.listings_of(kind.name) {
            for query in &queries {
                let n = if listing.present {
                    select(listing, query).len()
                } else {
                    0
                };
                let pages = match kind.pagination.max_limit() {
                    Some(max) if listing.present => {
                        let max = u64::from(max.max(1));
                        (n as u64).div_ceil(max).max(1)
                    }
                    _ => 1,
                };
                *requests.entry(kind.bucket).or_default() += pages;
                if let Some(detail) = kind.detail_path {
                    *requests
                        .entry(RateLimitBucket::for_request("GET", detail))
                        .or_default() += n as u64;
                }
            }
        }
    }
    let buckets: BTreeMap<String, BucketBound> = requests
        .iter()
        .map(|(bucket, n)| {
            let limit = state.limiter.limit(*bucket).max(1);
            (
                bucket.as_str().to_owned(),
                BucketBound {
                    requests: *n,
                    limit_per_minute: limit,
                    // Request counts stay far below 2^52, where f64 is exact.
                    #[allow(clippy::cast_precision_loss)]
                    seconds: *n as f64 * 60.0 / f64::from(limit),
                },
            )
        })
        .collect();
    let (bound_bucket, bound_seconds) = buckets
        .iter()
        .map(|(name, b)| (name.clone(), b.seconds))
        .fold((String::new(), 0.0_f64), |best, (name, s)| {
            if s > best.1 { (name, s) } else { best }
        });
    LowerBound {
        total_requests: requests.values().sum(),
        buckets,
        bound_bucket,
        bound_seconds,
    }
}

#[derive(Debug, Deserialize)]
struct FaultRequest {
    #[serde(default)]
    rules: Vec<FaultRule>,
    #[serde(default)]
    expire_tokens: bool,
}

#[derive(Debug, Deserialize)]
struct ClockRequest {
    advance_seconds: f64,
}

type Shared = AxumState<Arc<State>>;

async fn get_faults(AxumState(state): Shared) -> Response {
    let faults = state
        .faults
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Json(json!({ "rules": faults.rules })).into_response()
}

async fn post_faults(AxumState(state): Shared, Json(request): Json<FaultRequest>) -> Response {
    let added = request.rules.len();
    add_faults(&state, request.rules);
    let expired = if request.expire_tokens {
        state.auth.expire_all()
    } else {
        0
    };
    Json(json!({ "added": added, "expired_tokens": expired })).into_response()
}

async fn delete_faults(AxumState(state): Shared) -> StatusCode {
    clear_faults(&state);
    StatusCode::NO_CONTENT
}

async fn get_requests(AxumState(state): Shared) -> Json<RequestLogSnapshot> {
    Json(snapshot(&state))
}

async fn delete_requests(AxumState(state): Shared) -> StatusCode {
    *state
        .log
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = RequestLog::default();
    StatusCode::NO_CONTENT
}

async fn get_lower_bound(AxumState(state): Shared) -> Json<LowerBound> {
    Json(lower_bound(&state))
}

fn clock_body(state: &State) -> serde_json::Value {
    let now = state.clock.now();
    json!({ "now": now.timestamp(), "date": super::clock::http_date(now) })
}

async fn get_clock(AxumState(state): Shared) -> Json<serde_json::Value> {
    Json(clock_body(&state))
}

async fn post_clock(
    AxumState(state): Shared,
    Json(request): Json<ClockRequest>,
) -> Json<serde_json::Value> {
    if request.advance_seconds.is_finite() {
        state
            .clock
            .advance(super::clock::seconds_f64(request.advance_seconds));
    }
    Json(clock_body(&state))
}

async fn get_org(AxumState(state): Shared) -> Json<serde_json::Value> {
    let counts = state
        .org
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .counts();
    Json(json!({ "org_url": state.org_url, "counts": counts }))
}

pub(crate) fn router() -> Router<Arc<State>> {
    Router::new()
        .route(
            "/__sim/faults",
            get(get_faults).post(post_faults).delete(delete_faults),
        )
        .route("/__sim/requests", get(get_requests).delete(delete_requests))
        .route("/__sim/lower-bound", get(get_lower_bound))
        .route("/__sim/clock", get(get_clock).post(post_clock))
        .route("/__sim/org", get(get_org))
}
