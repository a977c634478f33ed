//! The Graph client a backup reads a tenant with.
//!
//! [`EntraFetcher::run`] signs in with client credentials ([`auth`](self#auth)), then walks
//! the [catalogue](super::kinds): every top-level kind at once (up to
//! [`EntraFetchOptions::concurrency`] listings in flight), and each nested kind under every
//! parent as soon as the parent kind is listed. Resources go out as
//! [`FetchEvent`]s, one page at a time; this module stores nothing.
//!
//! - **Permissions.** The token's `roles` claim says which application permissions the
//!   app holds; a kind whose permission (or a higher one, such as `Directory.Read.All`
//!   for directory objects) is missing is skipped without a request. A `403`
//!   (`Authorization_RequestDenied`) or `404` skips a kind too. Skips are
//!   [`FetchEvent::KindSkipped`], never failures.
//! - **Paging.** `@odata.nextLink` is followed (only on the Graph origin, so the bearer
//!   token never leaves it), with `$top` at the kind's largest page; users are read with a
//!   `$select` of every property a list may return ([`select`]), relation kinds with
//!   `$select=id`, which also lowers their cost.
//! - **Throttling.** One resource-unit budget for the app in the tenant: each request's
//!   cost ([`request_cost`]) is paced at [`EntraFetchOptions::rate_limit_share`] of
//!   [`EntraFetchOptions::tenant_units`] per 10 s; a `429` or `503` pauses every request
//!   for its `Retry-After`.
//! - **Faults.** `5xx`, timeouts and unreadable pages are retried with exponential backoff;
//!   the token is renewed before it expires and after a `401`.
//! - **Delta.** Kinds with a delta query are read through it, so the last page carries an
//!   `@odata.deltaLink`; given the links of a previous backup
//!   ([`EntraFetchOptions::delta_links`]), only what changed since is read, and the
//!   children of the parents that changed. [`DeltaOutcome`] says what the caller must
//!   merge with the previous snapshot.
//! - **Time.** Every wait is on [`EntraFetchOptions::timer`].

mod auth;
mod budget;
mod check;
pub mod select;
pub mod session;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBuilder};
use butterfly_core::Resource;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::{FutureExt as _, StreamExt as _};
use reqwest::header::{ACCEPT, HeaderMap};
use serde_json::{Map, Value};
use tokio::sync::{RwLock, mpsc};

pub use auth::{
    ClientCertificate, ClientCredential, ClientSecret, DEFAULT_AUTHORITY_URL, DEFAULT_GRAPH_URL,
    EndpointUrl, EntraCredentialError, EntraCredentials, TenantId, certificate_thumbprint,
};
use auth::{GraphToken, TokenOutcome, request_token};
use budget::UnitBudget;
pub use budget::WINDOW;
pub use check::EntraConnectionCheck;
pub use session::{GraphSession, SendError};

use super::kinds::{self, EntraKind, IdRule, Shape, request_cost};
use crate::clock::{SystemTimer, Timer};
use crate::okta::fetcher::{CONNECT_TIMEOUT, FetchError, FetchEvent, FetchReport};

/// Token renewals one request may trigger before its `401` counts as final.
const MAX_REAUTHENTICATIONS: u32 = 3;
/// `429`s one request sits out before the kind fails.
const MAX_THROTTLED: u32 = 100;
/// The bucket name in [`FetchReport::requests_per_bucket`].
const BUCKET: &str = "graph";

/// How to fetch.
#[derive(Debug, Clone)]
pub struct EntraFetchOptions {
    /// The share of the tenant's resource units the backup may use, in `(0, 1]`; the rest
    /// is left to the tenant's other apps' traffic... and this app's. Default `0.5`.
    pub rate_limit_share: f64,
    /// The tenant's identity-and-access budget, in resource units per 10 s. Graph gives
    /// 8,000 to tenants over 500 users, 5,000 from 50 to 500, 3,500 below. Default 8,000:
    /// in a smaller tenant the odd `429` is waited out.
    pub tenant_units: u32,
    /// Listings in flight at once (parents of one nested kind, and top-level kinds).
    /// Default `16`.
    pub concurrency: usize,
    /// Per-request timeout. Default 30 seconds.
    pub request_timeout: Duration,
    /// Retries of one request after `5xx`, timeouts and broken responses. Default `6`.
    pub max_retries: usize,
    /// The shortest backoff between retries. Default 200 ms.
    pub min_backoff: Duration,
    /// The clock every wait reads. Default [`SystemTimer`].
    pub timer: Arc<dyn Timer>,
    /// Let the Graph and authority URLs reach loopback and other non-public addresses
    /// (simulators and tests only).
    pub insecure_allow_private_addresses: bool,
    /// Per delta kind (`user`, `group`...), the `@odata.deltaLink` a previous backup
    /// ended with: that kind is read as what changed since. The runner sets it.
    pub delta_links: BTreeMap<String, String>,
    /// Read only these kinds (and the parents they are listed under); empty: every
    /// kind. A restore reads the tenant's restorable kinds only.
    pub only_kinds: BTreeSet<String>,
}

impl Default for EntraFetchOptions {
    fn default() -> Self {
        EntraFetchOptions {
            rate_limit_share: 0.5,
            tenant_units: 8000,
            concurrency: 16,
            request_timeout: Duration::from_secs(30),
            max_retries: 6,
            min_backoff: Duration::from_millis(200),
            timer: Arc::new(SystemTimer),
            insecure_allow_private_addresses: false,
            delta_links: BTreeMap::new(),
            only_kinds: BTreeSet::new(),
        }
    }
}

/// What a fetch read through delta queries, for the caller to merge with the previous
/// snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeltaOutcome {
    /// Per delta kind, the `@odata.deltaLink` to start the next backup from.
    pub links: BTreeMap<String, String>,
    /// Delta kinds read as changes only (through a stored link): their unchanged
    /// resources are in the previous snapshot, not in this fetch.
    pub changes_only: BTreeSet<String>,
    /// Per delta kind read as changes, the ids Graph reported deleted.
    pub removed: BTreeMap<String, BTreeSet<String>>,
    /// Per nested kind whose parent was read as changes, the parents listed again (the
    /// children of every other parent are unchanged).
    pub relisted: BTreeMap<String, BTreeSet<String>>,
}

/// Reads one tenant through Graph. See the [module docs](self).
#[derive(Debug)]
pub struct EntraFetcher {
    credentials: EntraCredentials,
    options: EntraFetchOptions,
    http: reqwest::Client,
}

impl EntraFetcher {
    /// A fetcher for the tenant in `credentials`.
    pub fn new(
        credentials: EntraCredentials,
        options: EntraFetchOptions,
    ) -> Result<Self, FetchError> {
        let share = options.rate_limit_share;
        if !(share > 0.0 && share <= 1.0) {
            return Err(FetchError::InvalidOptions(format!(
                "rate-limit share must be in (0, 1], not {share}"
            )));
        }
        if options.concurrency == 0 || options.tenant_units == 0 {
            return Err(FetchError::InvalidOptions(
                "concurrency and tenant units must be at least 1".into(),
            ));
        }
        let mut http = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(options.request_timeout))
            // A redirect elsewhere would carry the bearer token with it.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("butterfly/", env!("CARGO_PKG_VERSION")));
        if !options.insecure_allow_private_addresses {
            credentials.check_public().map_err(FetchError::OrgAddress)?;
            http = http
                .dns_resolver(Arc::new(crate::okta::fetcher::PublicOnlyResolver))
                .no_proxy();
        }
        let http = http.build().map_err(FetchError::Client)?;
        Ok(EntraFetcher {
            credentials,
            options,
            http,
        })
    }

    /// The same fetcher, reading only `kinds` (and their parents).
    #[must_use]
    pub fn with_only_kinds(&self, kinds: BTreeSet<String>) -> EntraFetcher {
        EntraFetcher {
            credentials: self.credentials.clone(),
            options: EntraFetchOptions {
                only_kinds: kinds,
                ..self.options.clone()
            },
            http: self.http.clone(),
        }
    }

    /// The tenant id (snapshots name the org by it).
    pub fn tenant_id(&self) -> &str {
        self.credentials.tenant_id.as_str()
    }

    /// The delta kinds this fetch reads as changes (those with a stored delta link).
    pub fn delta_kinds(&self) -> BTreeSet<String> {
        self.options.delta_links.keys().cloned().collect()
    }

    /// Fetch every kind the app may read; returns the counters.
    pub async fn run(&self, events: mpsc::Sender<FetchEvent>) -> Result<FetchReport, FetchError> {
        Ok(self.run_with_delta(events).await?.0)
    }

    /// Fetch every kind, reading delta kinds from [`EntraFetchOptions::delta_links`] where
    /// given; returns the counters and what the delta queries said.
    pub async fn run_with_delta(
        &self,
        events: mpsc::Sender<FetchEvent>,
    ) -> Result<(FetchReport, DeltaOutcome), FetchError> {
        let timer = self.options.timer.clone();
        let token = self.sign_in().await?;
        let shared = Shared {
            fetcher: self,
            events,
            roles: token.roles.clone(),
            token: TokenKeeper::new(token, timer.now()),
            budget: UnitBudget::new(
                self.options.tenant_units,
                self.options.rate_limit_share,
                timer,
            ),
            stats: Mutex::new(FetchReport::default()),
            delta: Mutex::new(DeltaOutcome::default()),
        };
        {
            let mut stats = shared.lock_stats();
            stats.requests += 1;
            stats.granted_scopes = shared.roles.clone().unwrap_or_default();
        }
        let shared = &shared;
        // Built first, so the stream holds plain futures (no closure the compiler must
        // prove general over lifetimes).
        let roots: Vec<BoxFuture<'_, Result<(), FetchError>>> = kinds::all()
            .filter(|k| k.parent.is_none() && self.wanted(k))
            .map(|kind| shared.fetch_tree(kind, None))
            .collect();
        futures::stream::iter(roots)
            .buffer_unordered(self.options.concurrency)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<Vec<()>, FetchError>>()?;
        let report = shared.lock_stats().clone();
        let delta = shared
            .delta
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Ok((report, delta))
    }

    /// Whether `kind` is read: in [`EntraFetchOptions::only_kinds`] (or it is empty), or
    /// a parent of a kind that is.
    fn wanted(&self, kind: &EntraKind) -> bool {
        let only = &self.options.only_kinds;
        only.is_empty()
            || only.contains(kind.name)
            || kinds::all().any(|child| {
                child.parent.is_some_and(|p| p.kind == kind.name) && self.wanted(child)
            })
    }

    /// One token, retrying what is worth retrying.
    async fn sign_in(&self) -> Result<GraphToken, FetchError> {
        let mut backoff = self.backoff();
        loop {
            match request_token(&self.http, &self.credentials).await? {
                TokenOutcome::Token(token) => return Ok(token),
                TokenOutcome::Transient(why, retry_after) => match backoff.next() {
                    Some(wait) => {
                        let wait = retry_after.map_or(wait, Duration::from_secs);
                        self.options.timer.sleep(wait).await;
                    }
                    None => return Err(FetchError::Authentication(why)),
                },
            }
        }
    }

    fn backoff(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_min_delay(self.options.min_backoff)
            .with_max_delay(Duration::from_secs(30))
            .with_max_times(self.options.max_retries)
            .with_jitter()
            .build()
    }
}

/// `Retry-After` in seconds (Graph sends seconds, never a date).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| s.min(300))
}

/// The permissions that let an app read `kind`: its own, the read-write one, and for
/// directory objects the directory-wide ones.
pub fn accepted_permissions(kind: &EntraKind) -> BTreeSet<String> {
    let own = kind.read_permission;
    let mut accepted: BTreeSet<String> = [own.to_owned(), own.replace(".Read.", ".ReadWrite.")]
        .into_iter()
        .collect();
    let directory_wide = matches!(
        own,
        "User.Read.All"
            | "Group.Read.All"
            | "GroupMember.Read.All"
            | "Application.Read.All"
            | "AdministrativeUnit.Read.All"
            | "Organization.Read.All"
            | "Domain.Read.All"
            | "DelegatedPermissionGrant.Read.All"
            | "RoleManagement.Read.Directory"
    );
    if directory_wide {
        accepted.insert("Directory.Read.All".into());
        accepted.insert("Directory.ReadWrite.All".into());
    }
    match own {
        "GroupMember.Read.All" => {
            accepted.insert("Group.Read.All".into());
            accepted.insert("Group.ReadWrite.All".into());
        }
        "RoleManagement.Read.Directory" => {
            accepted.insert("RoleManagement.Read.All".into());
        }
        "Policy.Read.PermissionGrant" => {
            accepted.insert("Policy.Read.All".into());
        }
        _ => {}
    }
    accepted
}

/// Remove the value at each pointer (`*` matches every element of an array or object).
pub fn strip_secrets(value: &mut Value, pointers: &[&str]) {
    fn strip(value: &mut Value, segments: &[&str]) {
        let Some((first, rest)) = segments.split_first() else {
            return;
        };
        if rest.is_empty() {
            match value {
                Value::Object(map) => {
                    map.remove(*first);
                }
                Value::Array(items) if *first == "*" => items.clear(),
                _ => {}
            }
            return;
        }
        match (value, *first) {
            (Value::Array(items), "*") => items.iter_mut().for_each(|v| strip(v, rest)),
            (Value::Object(map), "*") => map.values_mut().for_each(|v| strip(v, rest)),
            (Value::Object(map), key) => {
                if let Some(inner) = map.get_mut(key) {
                    strip(inner, rest);
                }
            }
            _ => {}
        }
    }
    for pointer in pointers {
        let segments: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
        strip(value, &segments);
    }
}

#[derive(Debug)]
struct TokenState {
    token: GraphToken,
    generation: u64,
    /// Renew before this (a few minutes before it expires).
    renew_at: DateTime<Utc>,
}

impl TokenState {
    fn new(token: GraphToken, generation: u64, now: DateTime<Utc>) -> Self {
        // Five minutes early, or halfway for short-lived tokens.
        let lifetime = token.expires_in.max(1);
        let margin = (lifetime / 2).min(300);
        TokenState {
            renew_at: now + chrono::TimeDelta::seconds(lifetime - margin),
            token,
            generation,
        }
    }
}

/// The token every request of one fetch (or one write session) shares, renewed once
/// however many requests find it stale.
#[derive(Debug)]
pub(crate) struct TokenKeeper {
    state: RwLock<TokenState>,
}

impl TokenKeeper {
    fn new(token: GraphToken, now: DateTime<Utc>) -> Self {
        TokenKeeper {
            state: RwLock::new(TokenState::new(token, 1, now)),
        }
    }

    /// The current token and its generation, renewed first when it is about to expire;
    /// `true` when this call signed in again.
    async fn current(&self, fetcher: &EntraFetcher) -> Result<(String, u64, bool), String> {
        let (value, generation, renew_at) = {
            let state = self.state.read().await;
            (state.token.value.clone(), state.generation, state.renew_at)
        };
        if fetcher.options.timer.now() < renew_at {
            return Ok((value, generation, false));
        }
        let renewed = self.renew(fetcher, generation).await?;
        let state = self.state.read().await;
        Ok((state.token.value.clone(), state.generation, renewed))
    }

    /// Sign in again, unless another request already did since `generation`; `true`
    /// when this call signed in.
    async fn renew(&self, fetcher: &EntraFetcher, generation: u64) -> Result<bool, String> {
        let mut state = self.state.write().await;
        if state.generation != generation {
            return Ok(false);
        }
        let token = fetcher.sign_in().await.map_err(|e| e.to_string())?;
        *state = TokenState::new(token, generation + 1, fetcher.options.timer.now());
        Ok(true)
    }
}

/// Why a kind stopped.
#[derive(Debug)]
enum KindStop {
    Fatal(FetchError),
    Skip(String),
    Fail(String),
}

/// Why a GET gave no page.
#[derive(Debug)]
enum GetError {
    /// `403`/`404`: the kind (or this parent) is not readable.
    Refused {
        status: u16,
        code: Option<String>,
    },
    /// `410`: a delta link expired; read the kind afresh.
    Gone,
    Failed(String),
}

struct Shared<'a> {
    fetcher: &'a EntraFetcher,
    events: mpsc::Sender<FetchEvent>,
    token: TokenKeeper,
    roles: Option<BTreeSet<String>>,
    budget: UnitBudget,
    stats: Mutex<FetchReport>,
    delta: Mutex<DeltaOutcome>,
}

/// One listing's result: how many resources, and the ids children are listed under.
struct Listed {
    count: u64,
    parents: Vec<String>,
}

impl Shared<'_> {
    fn options(&self) -> &EntraFetchOptions {
        &self.fetcher.options
    }

    fn lock_stats(&self) -> std::sync::MutexGuard<'_, FetchReport> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_delta(&self) -> std::sync::MutexGuard<'_, DeltaOutcome> {
        self.delta.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn send(&self, event: FetchEvent) -> Result<(), FetchError> {
        self.events
            .send(event)
            .await
            .map_err(|_| FetchError::ReceiverClosed)
    }

    fn graph_root(&self) -> String {
        format!("{}/v1.0", self.fetcher.credentials.graph_url)
    }

    /// The current token, renewed first when it is about to expire.
    async fn current_token(&self) -> Result<(String, u64), String> {
        let (value, generation, renewed) = self.token.current(self.fetcher).await?;
        if renewed {
            self.lock_stats().requests += 1;
        }
        Ok((value, generation))
    }

    /// Sign in again, unless another request already did since `generation`.
    async fn renew(&self, generation: u64) -> Result<(), String> {
        if self.token.renew(self.fetcher, generation).await? {
            self.lock_stats().requests += 1;
        }
        Ok(())
    }

    /// GET one page within the budget, retrying what is worth retrying.
    async fn get(&self, url: &str, delta: bool) -> Result<Value, GetError> {
        let cost = match reqwest::Url::parse(url) {
            Ok(parsed) => {
                let path = parsed.path().trim_start_matches("/v1.0");
                request_cost("GET", path, parsed.query().unwrap_or(""))
            }
            Err(e) => return Err(GetError::Failed(format!("bad URL: {e}"))),
        };
        let mut backoff = self.fetcher.backoff();
        let mut reauthentications = 0u32;
        let mut throttled = 0u32;
        loop {
            let (token, generation) = self.current_token().await.map_err(GetError::Failed)?;
            self.budget.acquire(cost).await;
            {
                let mut stats = self.lock_stats();
                stats.requests += 1;
                *stats
                    .requests_per_bucket
                    .entry(BUCKET.to_owned())
                    .or_default() += 1;
            }
            let mut request = self
                .fetcher
                .http
                .get(url)
                .bearer_auth(&token)
                .header(ACCEPT, "application/json");
            if delta {
                request = request.header("Prefer", "odata.maxpagesize=999");
            }
            let failure = match request.send().await {
                Err(e) => format!("request failed: {e}"),
                Ok(response) => {
                    let status = response.status().as_u16();
                    match status {
                        200..=299 => match response.bytes().await {
                            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                                Ok(body) => return Ok(body),
                                Err(e) => format!("unreadable page: {e}"),
                            },
                            Err(e) => format!("response broke off: {e}"),
                        },
                        429 | 503 if status == 429 || retry_after(response.headers()).is_some() => {
                            throttled += 1;
                            self.lock_stats().rate_limited += 1;
                            if throttled > MAX_THROTTLED {
                                return Err(GetError::Failed(format!(
                                    "still throttled after {MAX_THROTTLED} waits"
                                )));
                            }
                            let wait = retry_after(response.headers())
                                .map_or(Duration::from_secs(10), Duration::from_secs);
                            self.budget.pause(wait);
                            tracing::debug!(url, ?wait, "throttled: waiting for Retry-After");
                            continue;
                        }
                        401 => {
                            if reauthentications >= MAX_REAUTHENTICATIONS {
                                return Err(GetError::Failed(
                                    "401 Unauthorized even with fresh tokens".into(),
                                ));
                            }
                            self.lock_stats().reauthentications += 1;
                            self.renew(generation).await.map_err(GetError::Failed)?;
                            reauthentications += 1;
                            continue;
                        }
                        403 | 404 => {
                            // Only Graph's error code is kept, never its message.
                            let code = response
                                .bytes()
                                .await
                                .ok()
                                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                                .and_then(|v| {
                                    v.pointer("/error/code")
                                        .and_then(Value::as_str)
                                        .filter(|c| {
                                            c.len() <= 64
                                                && c.chars()
                                                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
                                        })
                                        .map(str::to_owned)
                                });
                            return Err(GetError::Refused { status, code });
                        }
                        410 => return Err(GetError::Gone),
                        500..=599 => format!("server error {status}"),
                        _ => return Err(GetError::Failed(format!("unexpected status {status}"))),
                    }
                }
            };
            match backoff.next() {
                Some(wait) => {
                    self.lock_stats().retries += 1;
                    tracing::debug!(url, %failure, ?wait, "retrying");
                    self.options().timer.sleep(wait).await;
                }
                None => return Err(GetError::Failed(failure)),
            }
        }
    }

    /// Whether the token grants what `kind` needs (`None`: the token did not say).
    fn missing_permission(&self, kind: &EntraKind) -> Option<String> {
        let roles = self.roles.as_ref()?;
        let accepted = accepted_permissions(kind);
        if roles.iter().any(|r| accepted.contains(r)) {
            None
        } else {
            Some(format!(
                "application permission `{}` not granted",
                kind.read_permission
            ))
        }
    }

    /// Fetch `kind` under each parent (or once), then its children.
    fn fetch_tree<'s>(
        &'s self,
        kind: &'static EntraKind,
        parents: Option<Vec<String>>,
    ) -> BoxFuture<'s, Result<(), FetchError>> {
        async move {
            match self.fetch_kind(kind, parents).await {
                Ok(listed) => {
                    self.lock_stats().counts.insert(kind.kind(), listed.count);
                    self.send(FetchEvent::KindFinished {
                        kind: kind.kind(),
                        count: listed.count,
                    })
                    .await?;
                    let children: Vec<&'static EntraKind> = kinds::all()
                        .filter(|k| {
                            k.parent.is_some_and(|p| p.kind == kind.name) && self.fetcher.wanted(k)
                        })
                        .collect();
                    let parents = listed.parents;
                    if self.lock_delta().changes_only.contains(kind.name) {
                        let mut delta = self.lock_delta();
                        for child in &children {
                            delta
                                .relisted
                                .insert(child.name.to_owned(), parents.iter().cloned().collect());
                        }
                    }
                    futures::future::try_join_all(
                        children
                            .into_iter()
                            .map(|child| self.fetch_tree(child, Some(parents.clone()))),
                    )
                    .await?;
                    Ok(())
                }
                Err(KindStop::Fatal(e)) => Err(e),
                Err(KindStop::Skip(reason)) => {
                    tracing::warn!(kind = kind.name, %reason, "kind skipped");
                    self.skip_tree(kind, reason, false).await
                }
                Err(KindStop::Fail(reason)) => {
                    tracing::warn!(kind = kind.name, %reason, "kind failed");
                    self.skip_tree(kind, reason, true).await
                }
            }
        }
        .boxed()
    }

    async fn skip_tree(
        &self,
        kind: &'static EntraKind,
        reason: String,
        failed: bool,
    ) -> Result<(), FetchError> {
        {
            let mut stats = self.lock_stats();
            if failed {
                stats.failed.insert(kind.kind(), reason.clone());
            } else {
                stats.skipped.insert(kind.kind(), reason.clone());
            }
        }
        let (k, r) = (kind.kind(), reason);
        self.send(if failed {
            FetchEvent::KindFailed { kind: k, reason: r }
        } else {
            FetchEvent::KindSkipped { kind: k, reason: r }
        })
        .await?;
        let mut pending = vec![kind];
        while let Some(parent) = pending.pop() {
            for child in kinds::all().filter(|k| k.parent.is_some_and(|p| p.kind == parent.name)) {
                let reason = format!("its parent kind `{}` was not fetched", parent.name);
                self.lock_stats()
                    .skipped
                    .insert(child.kind(), reason.clone());
                self.send(FetchEvent::KindSkipped {
                    kind: child.kind(),
                    reason,
                })
                .await?;
                pending.push(child);
            }
        }
        Ok(())
    }

    async fn fetch_kind(
        &self,
        kind: &'static EntraKind,
        parents: Option<Vec<String>>,
    ) -> Result<Listed, KindStop> {
        if let Some(why) = self.missing_permission(kind) {
            return Err(KindStop::Skip(why));
        }
        let contexts: Vec<Option<String>> = match parents {
            None => vec![None],
            Some(parents) => parents.into_iter().map(Some).collect(),
        };
        self.send(FetchEvent::KindStarted {
            kind: kind.kind(),
            listings: contexts.len(),
        })
        .await
        .map_err(KindStop::Fatal)?;
        let top_level = contexts.len() == 1 && contexts[0].is_none();
        let listings: Vec<BoxFuture<'_, Result<Listed, KindStop>>> = contexts
            .into_iter()
            .map(|parent| async move { self.list(kind, parent.as_deref()).await }.boxed())
            .collect();
        let results: Vec<Result<Listed, KindStop>> = futures::stream::iter(listings)
            .buffer_unordered(self.options().concurrency)
            .collect()
            .await;
        let mut listed = Listed {
            count: 0,
            parents: Vec::new(),
        };
        for result in results {
            match result {
                Ok(one) => {
                    listed.count += one.count;
                    listed.parents.extend(one.parents);
                }
                // A parent deleted between its listing and its children's: nothing to
                // list under it. The kind as a whole is skipped only at the top.
                Err(KindStop::Skip(_)) if !top_level => {}
                Err(stop) => return Err(stop),
            }
        }
        Ok(listed)
    }

    /// The first URL of `kind` under `parent` (the stored delta link when `use_link` and
    /// there is one), and whether it is a delta query.
    fn first_url(&self, kind: &EntraKind, parent: Option<&str>, use_link: bool) -> (String, bool) {
        if use_link && let Some(link) = self.options().delta_links.get(kind.name) {
            return (link.clone(), true);
        }
        let root = self.graph_root();
        let mut query: Vec<String> = Vec::new();
        if let (Shape::Collection { max_top: Some(top) }, None) = (kind.shape, kind.delta_path) {
            query.push(format!("$top={top}"));
        }
        if kind.name == "user" {
            query.push(format!("$select={}", select::user_select()));
        }
        if kind.id == IdRule::Member {
            query.push("$select=id".into());
        }
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        };
        match kind.delta_path {
            Some(delta_path) => (format!("{root}{delta_path}{query}"), true),
            None => (format!("{root}{}{query}", kind.path_for(parent)), false),
        }
    }

    /// List `kind` once (under `parent`): every page, sent as events.
    async fn list(
        &self,
        kind: &'static EntraKind,
        parent: Option<&str>,
    ) -> Result<Listed, KindStop> {
        let (first, delta) = self.first_url(kind, parent, true);
        let changes_only = delta && self.options().delta_links.contains_key(kind.name);
        match self
            .list_from(kind, parent, first, delta, changes_only)
            .await
        {
            Err(KindStop::Skip(why)) if why == GONE => {
                // The delta link expired: read the kind afresh through its delta query.
                let (first, delta) = self.first_url(kind, parent, false);
                self.list_from(kind, parent, first, delta, false).await
            }
            other => other,
        }
    }

    async fn list_from(
        &self,
        kind: &'static EntraKind,
        parent: Option<&str>,
        first: String,
        delta: bool,
        changes_only: bool,
    ) -> Result<Listed, KindStop> {
        // With the slash: `http://127.0.0.1:80` must not match `http://127.0.0.1:8080`.
        let graph = format!("{}/", self.fetcher.credentials.graph_url);
        let wants_children = kinds::all().any(|k| k.parent.is_some_and(|p| p.kind == kind.name));
        let mut listed = Listed {
            count: 0,
            parents: Vec::new(),
        };
        let mut removed = BTreeSet::new();
        let mut url = Some(first);
        while let Some(current) = url.take() {
            if !current.starts_with(&graph) {
                return Err(KindStop::Fail(
                    "a next or delta link leaves the Graph URL".into(),
                ));
            }
            let body = match self.get(&current, delta).await {
                Ok(body) => body,
                Err(GetError::Refused { status, code }) => {
                    return Err(KindStop::Skip(match code {
                        Some(code) => format!("Graph answered {status} {code}"),
                        None => format!("Graph answered {status}"),
                    }));
                }
                Err(GetError::Gone) if changes_only => return Err(KindStop::Skip(GONE.into())),
                Err(GetError::Gone) => return Err(KindStop::Fail("Graph answered 410".into())),
                Err(GetError::Failed(why)) => return Err(KindStop::Fail(why)),
            };
            let items: Vec<Value> = match kind.shape {
                Shape::Singleton => {
                    let mut body = body;
                    if let Value::Object(map) = &mut body {
                        map.retain(|k, _| !k.starts_with("@odata.") || k == "@odata.type");
                    }
                    vec![body]
                }
                Shape::Collection { .. } => {
                    if delta
                        && let Some(next) = body.get("@odata.deltaLink").and_then(Value::as_str)
                    {
                        self.lock_delta()
                            .links
                            .insert(kind.name.to_owned(), next.to_owned());
                    }
                    url = body
                        .get("@odata.nextLink")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    match body {
                        Value::Object(mut map) => match map.remove("value") {
                            Some(Value::Array(items)) => items,
                            _ => {
                                return Err(KindStop::Fail(
                                    "the list answer has no `value` array".into(),
                                ));
                            }
                        },
                        _ => return Err(KindStop::Fail("the list answer is not an object".into())),
                    }
                }
            };
            let mut resources = Vec::with_capacity(items.len());
            for mut item in items {
                if changes_only
                    && item.get("@removed").is_some()
                    && let Some(id) = item.get("id").and_then(Value::as_str)
                {
                    removed.insert(id.to_owned());
                    continue;
                }
                if let Value::Object(map) = &mut item {
                    // Delta annotations are about the query, not the object.
                    map.retain(|k, _| !k.ends_with("@delta") && k != "@removed");
                }
                let (id, attributes) = resource_of(kind, parent, item)?;
                if wants_children {
                    listed.parents.push(id.clone());
                }
                resources.push(Resource::new(kind.kind(), id, attributes));
            }
            listed.count += resources.len() as u64;
            if !resources.is_empty() {
                self.send(FetchEvent::Resources {
                    kind: kind.kind(),
                    resources,
                })
                .await
                .map_err(KindStop::Fatal)?;
            }
        }
        if changes_only {
            let mut delta = self.lock_delta();
            delta.changes_only.insert(kind.name.to_owned());
            delta.removed.insert(kind.name.to_owned(), removed);
        }
        Ok(listed)
    }
}

/// The skip reason that means "the delta link expired".
const GONE: &str = "\u{0}delta link expired";

/// A listed item as a snapshot keeps it: its id by the kind's rule, secrets stripped.
fn resource_of(
    kind: &EntraKind,
    parent: Option<&str>,
    mut item: Value,
) -> Result<(String, Value), KindStop> {
    let missing = || KindStop::Fail(format!("a `{}` item has no id", kind.name));
    let id = match kind.id {
        IdRule::Field(pointer) => item
            .pointer(pointer)
            .and_then(Value::as_str)
            .ok_or_else(missing)?
            .to_owned(),
        IdRule::Singleton(name) => match parent {
            Some(parent) => format!("{parent}/{name}"),
            None => name.to_owned(),
        },
        IdRule::Member => {
            let member = item
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(missing)?
                .to_owned();
            let parent = parent.ok_or_else(missing)?;
            let mut pair = Map::new();
            pair.insert("parentId".into(), Value::String(parent.to_owned()));
            pair.insert("id".into(), Value::String(member.clone()));
            if let Some(t) = item.get("@odata.type") {
                pair.insert("@odata.type".into(), t.clone());
            }
            return Ok((format!("{parent}/{member}"), Value::Object(pair)));
        }
    };
    strip_secrets(&mut item, kind.secrets);
    Ok((id, item))
}

/// The kind `id` of `kind` is listed under, for nested kinds: the part before `/` for
/// relations and singletons, the `resourceId` of an app role assignment.
pub fn parent_of(kind: &EntraKind, id: &str, attributes: &Value) -> Option<String> {
    kind.parent?;
    match kind.id {
        IdRule::Member | IdRule::Singleton(_) => id.split_once('/').map(|(p, _)| p.to_owned()),
        _ => match kind.name {
            "app_role_assignment" => attributes
                .get("resourceId")
                .and_then(Value::as_str)
                .map(str::to_owned),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_stripped_through_wildcards() {
        let mut app = json!({
            "id": "a",
            "passwordCredentials": [{"keyId": "k", "secretText": "s", "hint": "s3"}],
            "keyCredentials": [{"keyId": "c", "key": "AAAA", "type": "AsymmetricX509Cert"}],
        });
        strip_secrets(&mut app, kinds::by_name("application").unwrap().secrets);
        assert_eq!(
            app,
            json!({
                "id": "a",
                "passwordCredentials": [{"keyId": "k"}],
                "keyCredentials": [{"keyId": "c", "type": "AsymmetricX509Cert"}],
            })
        );
    }

    #[test]
    fn relations_keep_only_the_pair() {
        let kind = kinds::by_name("group_member").unwrap();
        let (id, kept) = resource_of(
            kind,
            Some("g1"),
            json!({"@odata.type": "#microsoft.graph.user", "id": "u1", "displayName": "x"}),
        )
        .unwrap();
        assert_eq!(id, "g1/u1");
        assert_eq!(
            kept,
            json!({"parentId": "g1", "id": "u1", "@odata.type": "#microsoft.graph.user"})
        );
        assert_eq!(parent_of(kind, &id, &kept).as_deref(), Some("g1"));
    }

    #[test]
    fn directory_wide_permissions_cover_directory_kinds_only() {
        let user = accepted_permissions(kinds::by_name("user").unwrap());
        assert!(user.contains("Directory.Read.All") && user.contains("User.ReadWrite.All"));
        let ca = accepted_permissions(kinds::by_name("conditional_access_policy").unwrap());
        assert!(!ca.contains("Directory.Read.All"));
    }
}
