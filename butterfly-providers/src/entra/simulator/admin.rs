//! The `/_sim` endpoints a test harness drives the simulator with, the request log and
//! the lower bound of a full backup.
//!
//! - `GET /_sim/requests`: requests by method, route and status, writes, resource units
//!   charged and requests throttled; `DELETE` resets them.
//! - `GET /_sim/faults` lists fault rules; `POST {"rules": [...], "expire_tokens": bool}`
//!   adds rules; `DELETE` removes them all.
//! - `POST /_sim/mutate {"percent": N}` changes N% of users, groups, applications and
//!   service principals (recorded for delta queries).
//! - `GET /_sim/lower-bound`: resource units a full backup needs and the seconds that
//!   takes at the tenant's budget.
//! - `GET /_sim/tenant`: objects per kind and the tenant's ids.
//! - `GET /_sim/clock`; `POST {"advance_seconds": N}` jumps simulated time.
//! - `POST /_sim/permissions {"roles": [...]}` sets the backup app's application
//!   permissions (new tokens carry them); `POST /_sim/expire-tokens` expires every token.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State as AxumState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::State;
use crate::entra::kinds::{self, IdRule, Shape};
use crate::okta::simulator::FaultRule;

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

fn is_write(method: &str, route: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS") && route != "/oauth2/v2.0/token"
}

/// A copy of the request log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLogSnapshot {
    /// Every request outside `/_sim`, the token endpoint included.
    pub total: u64,
    /// Requests that could change the tenant (not `GET`, not the token endpoint).
    pub writes: u64,
    /// Per HTTP method.
    pub by_method: BTreeMap<String, u64>,
    /// Per `METHOD route`, the route a catalogue path (`/groups/{groupId}/members`),
    /// `{path}/{id}`, a delta path or `/oauth2/v2.0/token`.
    pub by_route: BTreeMap<String, u64>,
    /// Per response status.
    pub by_status: BTreeMap<u16, u64>,
    /// Resource units charged to admitted requests.
    pub resource_units: u64,
    /// Requests refused with `429` by the resource-unit budget or write quota.
    pub throttled: u64,
}

impl RequestLogSnapshot {
    /// Writes per `METHOD route`: what a dry run must leave empty.
    pub fn writes_by_route(&self) -> BTreeMap<String, u64> {
        self.by_route
            .iter()
            .filter(|(key, _)| {
                let (method, route) = key.split_once(' ').unwrap_or((key.as_str(), ""));
                is_write(method, route)
            })
            .map(|(k, n)| (k.clone(), *n))
            .collect()
    }
}

pub(crate) fn snapshot(state: &State) -> RequestLogSnapshot {
    let log = state
        .log
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (resource_units, throttled) = state.limiter.totals();
    RequestLogSnapshot {
        total: log.total,
        writes: log.writes,
        by_method: log.by_method.clone(),
        by_route: log.by_route.clone(),
        by_status: log.by_status.clone(),
        resource_units,
        throttled,
    }
}

pub(crate) fn reset_log(state: &State) {
    *state
        .log
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = RequestLog::default();
    state.limiter.reset_totals();
}

/// One kind's share of a full backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindBound {
    /// Requests (pages, one per parent at least).
    pub requests: u64,
    /// Resource units they cost.
    pub resource_units: u64,
}

/// The least time a full backup of the tenant takes under Graph's throttling.
///
/// Every listing is read at its largest `$top` with `$select` (Graph charges a unit less
/// for it), nested kinds once per parent, singletons once; the token request costs
/// nothing. Units divided by the budget per 10 s give the bound: a backup cannot beat it
/// however it spreads requests, except by the first window's worth of units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LowerBound {
    /// Per kind.
    pub kinds: BTreeMap<String, KindBound>,
    /// Requests over all kinds.
    pub requests: u64,
    /// Resource units over all kinds.
    pub resource_units: u64,
    /// The tenant's budget per 10 s.
    pub budget_per_10s: u32,
    /// `resource_units / budget_per_10s * 10`, in seconds.
    pub seconds: f64,
}

pub(crate) fn lower_bound(state: &State) -> LowerBound {
    let tenant = state.tenant();
    let mut out = BTreeMap::new();
    for kind in kinds::all() {
        let parents: Vec<Option<String>> = match kind.parent {
            Some(p) => tenant
                .objects_of(p.kind)
                .map(|(id, _)| Some(id.clone()))
                .collect(),
            None => vec![None],
        };
        let mut bound = KindBound {
            requests: 0,
            resource_units: 0,
        };
        for parent in parents {
            let n = match (kind.id, &parent) {
                (IdRule::Member, Some(p)) => tenant.members_of(kind.name, p).len(),
                (_, Some(p)) => tenant
                    .children
                    .get(kind.name)
                    .and_then(|m| m.get(p))
                    .map_or(0, BTreeMap::len),
                (_, None) => tenant.objects.get(kind.name).map_or(0, BTreeMap::len),
            };
            let (pages, query) = match kind.shape {
                Shape::Collection { max_top: Some(max) } => (
                    (n as u64).div_ceil(u64::from(max.max(1))).max(1),
                    format!("$top={max}&$select=id"),
                ),
                _ => (1, "$select=id".to_owned()),
            };
            let cost = kinds::request_cost("GET", &kind.path_for(parent.as_deref()), &query);
            bound.requests += pages;
            bound.resource_units += pages * u64::from(cost);
        }
        out.insert(kind.name.to_owned(), bound);
    }
    let requests = out.values().map(|b| b.requests).sum();
    let resource_units: u64 = out.values().map(|b| b.resource_units).sum();
    let budget = state.limiter.units_per_window.max(1);
    // Unit counts stay far below 2^52, where f64 is exact.
    #[allow(clippy::cast_precision_loss)]
    let seconds = resource_units as f64 / f64::from(budget) * 10.0;
    LowerBound {
        kinds: out,
        requests,
        resource_units,
        budget_per_10s: budget,
        seconds,
    }
}

type Shared = AxumState<Arc<State>>;

#[derive(Debug, Deserialize)]
struct FaultRequest {
    #[serde(default)]
    rules: Vec<FaultRule>,
    #[serde(default)]
    expire_tokens: bool,
}

#[derive(Debug, Deserialize)]
struct MutateRequest {
    percent: f64,
}

#[derive(Debug, Deserialize)]
struct ClockRequest {
    advance_seconds: f64,
}

#[derive(Debug, Deserialize)]
struct PermissionsRequest {
    roles: Vec<String>,
}

async fn get_requests(AxumState(state): Shared) -> Json<RequestLogSnapshot> {
    Json(snapshot(&state))
}

async fn delete_requests(AxumState(state): Shared) -> StatusCode {
    reset_log(&state);
    StatusCode::NO_CONTENT
}

async fn get_faults(AxumState(state): Shared) -> Response {
    let faults = state
        .faults
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Json(json!({ "rules": faults.rules })).into_response()
}

async fn post_faults(AxumState(state): Shared, Json(request): Json<FaultRequest>) -> Response {
    let added = request.rules.len();
    state.add_faults(request.rules);
    if request.expire_tokens {
        state.authority.expire_all();
    }
    Json(json!({ "added": added })).into_response()
}

async fn delete_faults(AxumState(state): Shared) -> StatusCode {
    state.clear_faults();
    StatusCode::NO_CONTENT
}

async fn post_mutate(AxumState(state): Shared, Json(request): Json<MutateRequest>) -> Response {
    if !(0.0..=100.0).contains(&request.percent) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "percent must be between 0 and 100"})),
        )
            .into_response();
    }
    Json(json!({ "changed": state.mutate(request.percent) })).into_response()
}

async fn get_lower_bound(AxumState(state): Shared) -> Json<LowerBound> {
    Json(lower_bound(&state))
}

async fn get_tenant(AxumState(state): Shared) -> Json<serde_json::Value> {
    let counts = state.tenant().counts();
    Json(json!({
        "tenant_id": state.tenant_id,
        "client_id": state.backup.app_id,
        "graph_url": state.graph_url,
        "authority_url": state.authority_url,
        "counts": counts,
    }))
}

fn clock_body(state: &State) -> serde_json::Value {
    let now = state.clock.now();
    json!({ "now": now.timestamp(), "date": crate::okta::simulator::clock::http_date(now) })
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
            .advance(crate::okta::simulator::clock::seconds_f64(
                request.advance_seconds,
            ));
    }
    Json(clock_body(&state))
}

async fn post_permissions(
    AxumState(state): Shared,
    Json(request): Json<PermissionsRequest>,
) -> StatusCode {
    state.set_permissions(request.roles.into_iter().collect());
    StatusCode::NO_CONTENT
}

async fn post_expire(AxumState(state): Shared) -> StatusCode {
    state.authority.expire_all();
    StatusCode::NO_CONTENT
}

pub(crate) fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/_sim/requests", get(get_requests).delete(delete_requests))
        .route(
            "/_sim/faults",
            get(get_faults).post(post_faults).delete(delete_faults),
        )
        .route("/_sim/mutate", post(post_mutate))
        .route("/_sim/lower-bound", get(get_lower_bound))
        .route("/_sim/tenant", get(get_tenant))
        .route("/_sim/clock", get(get_clock).post(post_clock))
        .route("/_sim/permissions", post(post_permissions))
        .route("/_sim/expire-tokens", post(post_expire))
}
