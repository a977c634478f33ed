//! The backup fetcher: every catalogue kind of an org, over HTTP, within its rate limits.
//!
//! [`OktaFetcher::run`] signs in as a service app (`private_key_jwt`), then walks the
//! [catalogue](super::kinds): every top-level kind at once, and each nested kind as soon
//! as its parent is listed, with up to [`FetchOptions::concurrency`] parents listed at
//! once. It emits what it finds as [`FetchEvent`]s on a channel and stores nothing itself:
//! the caller decides where resources go (`butterfly-store` writes snapshots), so this
//! crate depends on no storage.
//!
//! Behaviour an operator can rely on:
//!
//! - **Dynamic detection.** Scopes the app was not granted are dropped from the token
//!   request (Okta names them in `invalid_scope`), and kinds that need them are skipped;
//!   a list answering `403` (no permission) or `404` (feature off) skips its kind. A
//!   skipped kind is a [`FetchEvent::KindSkipped`] with the reason, never a failure.
//! - **Rate limits.** One budget per bucket: requests are paced at
//!   [`FetchOptions::rate_limit_share`] of the bucket's limit, a bucket pauses when the
//!   `X-Rate-Limit-Remaining` header says only the other share is left, and a `429` pauses
//!   it until `X-Rate-Limit-Reset`. Buckets are independent, so they are spent in parallel.
//! - **Faults.** `5xx`, timeouts, dropped connections and unreadable pages are retried
//!   with exponential backoff; a `401` signs in again (once per expiry), then retries.
//! - **Time.** Every wait (pacing, pauses, backoff) is on [`FetchOptions::timer`]: real
//!   time in production, a [virtual clock](crate::clock::VirtualTimer) shared with the
//!   simulator in tests and benchmarks.
//! - **What is kept.** Each item as Okta returned it, less `_links` and the kind's secrets
//!   ([`KindSpec::sanitize`](super::kinds::KindSpec::sanitize)).
//!
//! ```no_run
//! use butterfly_providers::okta::fetcher::{
//!     ClientId, FetchEvent, FetchOptions, OktaCredentials, OktaFetcher, OrgUrl, PrivateKey,
//! };
//!
//! # async fn run(pem: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let credentials = OktaCredentials {
//!     org_url: OrgUrl::parse("https://example.okta.com")?,
//!     client_id: ClientId::new("0oa1")?,
//!     key_id: None,
//!     private_key: PrivateKey::from_pem(pem)?,
//! };
//! let fetcher = OktaFetcher::new(credentials, FetchOptions::default())?;
//! let (tx, mut rx) = tokio::sync::mpsc::channel(64);
//! let fetch = tokio::spawn(async move { fetcher.run(tx).await });
//! while let Some(event) = rx.recv().await {
//!     if let FetchEvent::Resources { kind, resources } = event {
//!         println!("{kind}: {} more", resources.len());
//!     }
//! }
//! let report = fetch.await.expect("fetch task")?;
//! println!("{} requests", report.requests);
//! # Ok(())
//! # }
//! ```

mod address;
mod auth;
mod budget;
mod incremental;
mod session;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBuilder};
use butterfly_core::{Resource, ResourceKind};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::{FutureExt as _, StreamExt as _, TryStreamExt as _};
use reqwest::header::{ACCEPT, HeaderMap, LINK};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{RwLock, Semaphore, SemaphorePermit, mpsc};

pub(crate) use address::PublicOnlyResolver;
use auth::{AccessToken, TokenOutcome, request_token};
pub use auth::{
    ClientId, CredentialError, OktaCredentials, OrgUrl, PrivateKey, TokenEndpointError,
};
use budget::{Budget, LimitHeaders};
pub use incremental::{
    IncrementalReport, IncrementalWindow, LOG_RETENTION, LOG_SCOPE, MAX_CLOCK_SKEW, USER_DELETED,
    partial_child,
};
pub use session::{ApiResponse, OktaSession, SendError};

use super::RateLimitBucket;
use super::error::{OktaErrorBody, codes};
use super::kinds::{self, KindSpec, Pagination, ParentIds};
use super::pagination::{next_body_link, next_link};
use crate::clock::{SystemTimer, Timer};

/// How long the client waits for a TCP (and TLS) connection to the org. Short, so a
/// filtered port costs an operator seconds, not the request timeout, and a probe cannot
/// tell a slow closed port from an open one by minutes of waiting.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Token renewals one request may trigger before its `401` counts as final.
const MAX_REAUTHENTICATIONS: u32 = 3;

/// Errors that stop a whole fetch. Problems with one kind do not: they are reported as
/// [`FetchEvent::KindSkipped`] or [`FetchEvent::KindFailed`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The private key could not be read.
    #[error("invalid private key: not an RSA private key in {format} form: {source}")]
    InvalidKey {
        /// The form it was read as (`PKCS#8`, `PKCS#1`).
        format: &'static str,
        /// Why it did not read.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The client assertion could not be signed with the key.
    #[error("cannot sign the client assertion: {0}")]
    Signing(#[source] jsonwebtoken::errors::Error),
    /// The token endpoint refused the client (wrong client id or key, no scope granted).
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// The token endpoint gave no usable answer, retries included.
    #[error("authentication failed: {0}")]
    TokenEndpoint(#[source] TokenEndpointError),
    /// The org URL's host is not on the public internet, and
    /// [`FetchOptions::insecure_allow_private_addresses`] is off.
    #[error(transparent)]
    OrgAddress(CredentialError),
    /// An option is out of range.
    #[error("invalid fetch options: {0}")]
    InvalidOptions(String),
    /// A request URL could not be built on the org URL.
    #[error("cannot build a request URL: {0}")]
    RequestUrl(#[source] url::ParseError),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The receiver of [`FetchEvent`]s went away.
    #[error("the resource receiver closed")]
    ReceiverClosed,
}

/// How to fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// The share of each bucket's per-minute limit the backup may use, in `(0, 1]`;
    /// the rest is left to production traffic. Default `0.5`.
    pub rate_limit_share: f64,
    /// The scopes to request instead of every scope the catalogue needs.
    pub scopes: Option<BTreeSet<String>>,
    /// Parents of one nested kind listed at once, and pages read and not yet handed on
    /// across every kind (a bound on the fetch's memory). Default `16`.
    pub concurrency: usize,
    /// KiB of response bodies read and not yet handed on, across every kind: with
    /// `concurrency`, the bound on the pages a fetch holds (a parsed page is ten times its
    /// body or more). A body larger than the bound takes all of it. Default `1024`.
    pub page_memory_kib: u32,
    /// Per-request timeout. Default 30 seconds.
    pub request_timeout: Duration,
    /// Retries of one request after `5xx`, timeouts and broken responses. Default `6`.
    pub max_retries: usize,
    /// The shortest backoff between retries. Default 200 ms.
    pub min_backoff: Duration,
    /// The clock every wait reads: pacing, the pause until a window resets, retry
    /// backoff. Default [`SystemTimer`]; tests and benchmarks share a
    /// [`VirtualTimer`](crate::clock::VirtualTimer) with the simulator, so waits cost no
    /// real time.
    pub timer: Arc<dyn Timer>,
    /// Let the org URL reach loopback, private, link-local and other non-public
    /// addresses. Off by default: the org URL is typed in by people, and the fetcher
    /// sends signed assertions to it and reads the answers (see
    /// [`OrgUrl::check_public`]). Only for simulators and tests on loopback.
    pub insecure_allow_private_addresses: bool,
    /// Fetch only what changed since a previous snapshot (see [`IncrementalWindow`]);
    /// `None` (the default) fetches everything. The runner sets it.
    pub incremental: Option<IncrementalWindow>,
    /// Kinds a resumed backup holds already, from the checkpoint of an interrupted run:
    /// not fetched again. A kind listed here whose child kinds are not is listed again
    /// for its children's sake, without sending its resources. Empty by default; the
    /// runner sets it.
    pub resumed: BTreeSet<ResourceKind>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            rate_limit_share: 0.5,
            scopes: None,
            concurrency: 16,
            page_memory_kib: PAGE_KIB_IN_FLIGHT,
            request_timeout: Duration::from_secs(30),
            max_retries: 6,
            min_backoff: Duration::from_millis(200),
            timer: Arc::new(SystemTimer),
            insecure_allow_private_addresses: false,
            incremental: None,
            resumed: BTreeSet::new(),
        }
    }
}

/// What the fetcher reports while it runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum FetchEvent {
    /// A kind's listing begins.
    KindStarted {
        /// The kind.
        kind: ResourceKind,
        /// How many listings it takes (one per parent for nested kinds).
        listings: usize,
    },
    /// Resources of a kind, sanitized, one page at a time.
    Resources {
        /// The kind.
        kind: ResourceKind,
        /// The resources.
        resources: Vec<Resource>,
    },
    /// A kind is complete.
    KindFinished {
        /// The kind.
        kind: ResourceKind,
        /// How many resources it holds.
        count: u64,
    },
    /// A kind was not fetched, and why: a scope not granted, `403`, `404`, or a skipped parent.
    KindSkipped {
        /// The kind.
        kind: ResourceKind,
        /// Why.
        reason: String,
    },
    /// A kind could not be fetched in full despite retries; what it sent is incomplete.
    KindFailed {
        /// The kind.
        kind: ResourceKind,
        /// Why.
        reason: String,
    },
}

/// Counters of one fetch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct FetchReport {
    /// HTTP requests sent to the API (token requests included).
    pub requests: u64,
    /// Requests per rate-limit bucket.
    pub requests_per_bucket: BTreeMap<String, u64>,
    /// Requests retried after a `5xx`, a timeout or a broken response.
    pub retries: u64,
    /// `429` answers (each was waited out).
    pub rate_limited: u64,
    /// Times a bucket paused to leave headroom.
    pub headroom_pauses: u64,
    /// Times the token was renewed after a `401`.
    pub reauthentications: u64,
    /// The scopes the token was granted.
    pub granted_scopes: BTreeSet<String>,
    /// Kinds skipped, with the reason.
    pub skipped: BTreeMap<ResourceKind, String>,
    /// Kinds that failed, with the reason.
    pub failed: BTreeMap<ResourceKind, String>,
    /// Resources per kind.
    pub counts: BTreeMap<ResourceKind, u64>,
    /// For an incremental fetch, what it read of the System Log and listed again, or why
    /// it fetched everything instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental: Option<IncrementalReport>,
}

/// Fetches every kind of one org. See the [module docs](self).
#[derive(Debug)]
pub struct OktaFetcher {
    credentials: OktaCredentials,
    options: FetchOptions,
    http: reqwest::Client,
}

impl OktaFetcher {
    /// A fetcher for the org in `credentials`.
    pub fn new(credentials: OktaCredentials, options: FetchOptions) -> Result<Self, FetchError> {
        let share = options.rate_limit_share;
        if !(share > 0.0 && share <= 1.0) {
            return Err(FetchError::InvalidOptions(format!(
                "rate-limit share must be in (0, 1], not {share}"
            )));
        }
        if options.concurrency == 0 {
            return Err(FetchError::InvalidOptions(
                "concurrency must be at least 1".into(),
            ));
        }
        if options.page_memory_kib == 0 {
            return Err(FetchError::InvalidOptions(
                "page memory must be at least 1 KiB".into(),
            ));
        }
        let mut http = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(options.request_timeout))
            // The org is the only host this client talks to; a redirect elsewhere would
            // carry the bearer token with it.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("butterfly/", env!("CARGO_PKG_VERSION")));
        if !options.insecure_allow_private_addresses {
            // IP literals and `localhost` never reach a resolver: refuse them here.
            credentials
                .org_url
                .check_public()
                .map_err(FetchError::OrgAddress)?;
            // Names resolve to public addresses only, and the connection goes to one of
            // those very addresses. A proxy would resolve the name itself, unchecked.
            http = http.dns_resolver(Arc::new(PublicOnlyResolver)).no_proxy();
        }
        let http = http.build().map_err(FetchError::Client)?;
        Ok(OktaFetcher {
            credentials,
            options,
            http,
        })
    }

    /// The options, to change before [`OktaFetcher::run`]: what the backup runner
    /// decides once the fetcher is known to be valid (what to resume, what changed).
    pub(crate) fn options_mut(&mut self) -> &mut FetchOptions {
        &mut self.options
    }

    /// The org's base URL, without a trailing slash.
    pub fn org_url(&self) -> &str {
        self.credentials.org_url.as_str()
    }

    /// Fetch every kind, sending what is found to `events`; returns the counters once
    /// every kind is finished, skipped or failed.
    pub async fn run(&self, events: mpsc::Sender<FetchEvent>) -> Result<FetchReport, FetchError> {
        self.run_filtered(events, None).await
    }

    /// Fetch only `only` (kind names) and the kinds above them, which their listings
    /// need: what a restore plan reads of the live org. Unknown names are ignored.
    pub async fn run_kinds(
        &self,
        events: mpsc::Sender<FetchEvent>,
        only: &BTreeSet<String>,
    ) -> Result<FetchReport, FetchError> {
        let mut needed = BTreeSet::new();
        for name in only {
            let mut current = kinds::by_name(name);
            while let Some(spec) = current {
                needed.insert(spec.name);
                current = spec.parent_spec();
            }
        }
        self.run_filtered(events, Some(needed)).await
    }

    async fn run_filtered(
        &self,
        events: mpsc::Sender<FetchEvent>,
        only: Option<BTreeSet<&'static str>>,
    ) -> Result<FetchReport, FetchError> {
        let mut wanted: BTreeSet<String> =
            self.options.scopes.clone().unwrap_or_else(|| match &only {
                None => kinds::backup_scopes()
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                Some(only) => only
                    .iter()
                    .filter_map(|name| kinds::by_name(name))
                    .flat_map(|k| k.read_scopes.iter().map(|s| (*s).to_owned()))
                    .collect(),
            });
        if self.options.incremental.is_some() {
            wanted.insert(LOG_SCOPE.to_owned());
        }
        let mut shared = self.shared(events);
        shared.only = only;
        let (token, granted) = shared.authenticate(wanted).await?;
        shared.token = RwLock::new((token, 1));
        shared.granted = granted;
        shared
            .lock_stats()
            .granted_scopes
            .clone_from(&shared.granted);
        if let Some(window) = &self.options.incremental {
            let report = match shared.read_log(window).await {
                Ok((touched, events)) => {
                    let memberships = touched.memberships();
                    let report = IncrementalReport {
                        log_events: events,
                        deleted_users: touched.deleted_users.clone(),
                        memberships_applied: memberships.values().map(|m| m.len() as u64).sum(),
                        memberships,
                        ..IncrementalReport::default()
                    };
                    shared.touched = Some((window.clone(), touched));
                    report
                }
                Err(why) => IncrementalReport {
                    fallback: Some(why),
                    ..IncrementalReport::default()
                },
            };
            shared.lock_stats().incremental = Some(report);
        }

        let shared = &shared;
        let roots = kinds::all().filter(|k| k.parent.is_none() && shared.wants(k));
        futures::future::try_join_all(roots.map(|kind| shared.fetch_tree(kind, None))).await?;
        let report = shared.lock_stats().clone();
        Ok(report)
    }

    /// Check that the org answers and the app can sign in, without backing anything up:
    /// one token request (scopes the app lacks are dropped, as a backup would) and one
    /// page of one user. What "Test connection" shows an operator.
    pub async fn check_connection(&self) -> Result<ConnectionCheck, FetchError> {
        let wanted: BTreeSet<String> = self.options.scopes.clone().unwrap_or_else(|| {
            kinds::backup_scopes()
                .into_iter()
                .map(str::to_owned)
                .collect()
        });
        let (events, _) = mpsc::channel(1);
        let mut shared = self.shared(events);
        let (token, granted) = shared.authenticate(wanted.clone()).await?;
        shared.token = RwLock::new((token, 1));
        let users_readable = if granted.contains("okta.users.read") {
            let url = format!("{}/api/v1/users?limit=1", self.credentials.org_url);
            match shared
                .get(&url, RateLimitBucket::for_request("GET", "/api/v1/users"))
                .await
            {
                Ok(_) => true,
                Err(GetError::Refused { status, hint }) => {
                    return Err(FetchError::Authentication(match hint {
                        Some((code, hint)) => {
                            format!("signed in, but listing users answered {status} {code}: {hint}")
                        }
                        None => format!("signed in, but listing users answered {status}"),
                    }));
                }
                Err(GetError::Failed(why)) => return Err(FetchError::Authentication(why)),
            }
        } else {
            false
        };
        let kinds_without_scope = kinds::all()
            .filter(|k| k.read_scopes.iter().any(|s| !granted.contains(*s)))
            .map(KindSpec::kind)
            .collect();
        Ok(ConnectionCheck {
            missing_scopes: wanted.difference(&granted).cloned().collect(),
            granted_scopes: granted,
            kinds_without_scope,
            users_readable,
            requests: shared.lock_stats().requests,
        })
    }

    fn shared(&self, events: mpsc::Sender<FetchEvent>) -> Shared<'_> {
        let budgets = RateLimitBucket::ALL
            .iter()
            .map(|b| {
                (
                    *b,
                    Budget::new(
                        b.default_limit_per_minute(),
                        self.options.rate_limit_share,
                        Arc::clone(&self.options.timer),
                    ),
                )
            })
            .collect();
        Shared {
            fetcher: self,
            budgets,
            token: RwLock::new((AccessToken(String::new()), 0)),
            granted: BTreeSet::new(),
            stats: Mutex::new(FetchReport::default()),
            events,
            only: None,
            touched: None,
            built_in_groups: Mutex::new(BTreeSet::new()),
            pages: Semaphore::new(self.options.concurrency),
            page_kib: Semaphore::new(self.options.page_memory_kib as usize),
        }
    }
}

/// What [`OktaFetcher::check_connection`] found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionCheck {
    /// The scopes the token was granted.
    pub granted_scopes: BTreeSet<String>,
    /// Scopes a full backup reads that the app was not granted.
    pub missing_scopes: BTreeSet<String>,
    /// Kinds a backup would skip for want of a scope.
    pub kinds_without_scope: Vec<ResourceKind>,
    /// Whether a page of users was read (`false` when `okta.users.read` is not granted).
    pub users_readable: bool,
    /// HTTP requests the check sent.
    pub requests: u64,
}

/// One parent's place, as its children see it.
///
/// A backup holds one for every parent of every child kind until that kind is listed
/// (20K groups x 3 child kinds at 200K users), so it is kept small: the placeholder
/// names are the kinds' static strings, in a vector of one or two, where a `BTreeMap`
/// of owned strings cost about 500 bytes each.
#[derive(Debug, Clone)]
struct ParentContext {
    /// The parent's snapshot id.
    resource_id: String,
    /// Every placeholder value from the root down to this parent.
    params: Vec<(&'static str, String)>,
}

impl ParentContext {
    /// The placeholder values, as a path is filled from them.
    fn param_map(&self) -> BTreeMap<String, String> {
        self.params
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect()
    }

    fn param(&self, name: &str) -> Option<&String> {
        self.params
            .iter()
            .find_map(|(n, value)| (*n == name).then_some(value))
    }
}

/// Why a kind stopped.
enum KindStop {
    Skip(String),
    Fail(String),
    Fatal(FetchError),
}

/// Why one request did not produce a page.
enum GetError {
    /// `403` or `404`, with the Okta error code and our hint when the code is known.
    Refused {
        status: u16,
        hint: Option<(&'static str, &'static str)>,
    },
    /// Retries ran out, or the server answered something unusable.
    Failed(String),
}

/// A known Okta error code and what it means for a backup; `None` for anything else.
fn okta_error_hint(code: &str) -> Option<(&'static str, &'static str)> {
    Some(match code {
        codes::ACCESS_DENIED => (
            codes::ACCESS_DENIED,
            "access denied; grant the app the scope and an admin role that can read this",
        ),
        codes::NOT_FOUND => (
            codes::NOT_FOUND,
            "not found; the feature may be off in this org",
        ),
        codes::INVALID_TOKEN => (
            codes::INVALID_TOKEN,
            "the access token was refused; the app may have been deactivated",
        ),
        _ => return None,
    })
}

/// Where a lister puts what one page's items give ([`Shared::take_item`]).
struct Listed<'a> {
    kind: &'static KindSpec,
    parent: Option<&'a ParentContext>,
    parent_ids: Option<&'a ParentIds>,
    found: &'a mut Vec<(&'static str, Vec<ParentContext>)>,
    resources: &'a mut Vec<Resource>,
}

struct Page<'s> {
    /// The body, checked to be JSON: a lister reads its items one at a time
    /// ([`KindSpec::for_each_item`]), other callers parse it whole ([`Page::json`]).
    body: Vec<u8>,
    next: Option<String>,
    /// The org's clock, from the `Date` header (seconds since the epoch).
    date: Option<i64>,
    /// Its share of [`Shared::pages`] and [`Shared::page_kib`], held while the page is in
    /// memory: dropped with it, or by the lister once its resources are sent.
    permit: PagePermit<'s>,
}

impl Page<'_> {
    /// The body as one JSON tree.
    fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("unreadable page: {e}"))
    }
}

/// A 2xx body as [`Shared::read_body`] read it.
enum Body<'s> {
    /// Read whole and checked to be JSON, with its share of the page memory bound.
    Read(Vec<u8>, SemaphorePermit<'s>),
    /// Broken off or not JSON: worth asking again.
    Broken(String),
}

/// A page's hold on the fetch's memory bounds (dropped, it gives both back).
struct PagePermit<'s> {
    _page: SemaphorePermit<'s>,
    _kib: SemaphorePermit<'s>,
}

/// The default of [`FetchOptions::page_memory_kib`]: response bodies in memory at once,
/// across every kind, in KiB ([`Shared::page_kib`]).
/// Parsed, a page is ten times its body or more (every small object of an item, such as
/// each `_links` entry, is a B-tree node of about 600 bytes): counting pages alone let
/// 60 MiB of parsed pages be held at once in a 200K-user org. A MiB of bodies is still
/// several pages at once, more than Okta's rate limits let a backup use.
const PAGE_KIB_IN_FLIGHT: u32 = 1024;

struct Shared<'a> {
    fetcher: &'a OktaFetcher,
    budgets: BTreeMap<RateLimitBucket, Budget>,
    /// The bearer token and its generation, so concurrent `401`s renew it once.
    token: RwLock<(AccessToken, u64)>,
    granted: BTreeSet<String>,
    stats: Mutex<FetchReport>,
    events: mpsc::Sender<FetchEvent>,
    /// The kinds to fetch, when not every kind ([`OktaFetcher::run_kinds`]).
    only: Option<BTreeSet<&'static str>>,
    /// For an incremental fetch that could read the log: its window and what it names.
    touched: Option<(IncrementalWindow, incremental::Touched)>,
    /// For an incremental fetch, the ids of the `BUILT_IN` groups listed (Everyone), whose
    /// members change without a membership event.
    built_in_groups: Mutex<BTreeSet<String>>,
    /// Pages read and not yet handed on, across every kind: [`FetchOptions::concurrency`]
    /// of them. Each kind lists up to that many parents at once and every kind with its
    /// parent listed runs at the same time, so without a shared bound a large org had
    /// about a hundred pages (each a response body and its parsed JSON, about a MiB for
    /// 200 users) in memory at once. Taken after the bucket's pacing, so a bucket that
    /// waits holds none and the others keep their pace.
    pages: Semaphore,
    /// The KiB of response bodies read and not yet handed on:
    /// [`FetchOptions::page_memory_kib`].
    /// Taken before the body is read when `Content-Length` gives its size, else once it
    /// is read, always after the page's permit of `pages`; a body larger than the whole
    /// bound takes all of it. Never waited for while holding another page's share, so
    /// it cannot deadlock.
    page_kib: Semaphore,
}

impl Shared<'_> {
    fn options(&self) -> &FetchOptions {
        &self.fetcher.options
    }

    fn wants(&self, kind: &KindSpec) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.contains(kind.name))
    }

    fn lock_stats(&self) -> std::sync::MutexGuard<'_, FetchReport> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn budget(&self, bucket: RateLimitBucket) -> &Budget {
        // Every bucket has a budget (built from `RateLimitBucket::ALL`); `Other` is a
        // fallback that cannot be missing either.
        self.budgets
            .get(&bucket)
            .or_else(|| self.budgets.values().next())
            .unwrap_or_else(|| unreachable!("budgets are built for every bucket"))
    }

    fn backoff(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_min_delay(self.options().min_backoff)
            .with_max_delay(Duration::from_secs(10))
            .with_max_times(self.options().max_retries)
            .with_jitter()
            .build()
    }

    async fn send(&self, event: FetchEvent) -> Result<(), FetchError> {
        self.events
            .send(event)
            .await
            .map_err(|_| FetchError::ReceiverClosed)
    }

    /// A token for as many of `wanted` as the app was granted.
    async fn authenticate(
        &self,
        mut wanted: BTreeSet<String>,
    ) -> Result<(AccessToken, BTreeSet<String>), FetchError> {
        let bucket = RateLimitBucket::OrgAuthorizationServer;
        let mut backoff = self.backoff();
        loop {
            if wanted.is_empty() {
                return Err(FetchError::Authentication(
                    "the app was granted none of the scopes a backup reads".into(),
                ));
            }
            self.budget(bucket).acquire().await;
            self.count_request(bucket);
            let outcome =
                request_token(&self.fetcher.http, &self.fetcher.credentials, &wanted).await?;
            match outcome {
                TokenOutcome::Token(token) => return Ok((token, wanted)),
                TokenOutcome::ScopesRefused(Some(refused)) => {
                    let before = wanted.len();
                    wanted.retain(|s| !refused.contains(s));
                    if wanted.len() == before {
                        return Err(FetchError::Authentication(format!(
                            "scopes refused: {}",
                            refused.into_iter().collect::<Vec<_>>().join(", ")
                        )));
                    }
                    tracing::warn!(
                        ?refused,
                        "scopes not granted to the app; their kinds are skipped"
                    );
                }
                TokenOutcome::ScopesRefused(None) => {
                    wanted = self.probe_scopes(&wanted).await?;
                }
                TokenOutcome::RateLimited(seconds) => {
                    let wait = self.budget(bucket).pause_until_reset(seconds);
                    self.lock_stats().rate_limited += 1;
                    tracing::debug!(?wait, "token endpoint rate limited");
                }
                TokenOutcome::Transient(why) => match backoff.next() {
                    Some(wait) => {
                        self.lock_stats().retries += 1;
                        self.options().timer.sleep(wait).await;
                    }
                    None => return Err(FetchError::TokenEndpoint(why)),
                },
            }
        }
    }

    /// When the server refuses scopes without naming them, ask for each alone.
    async fn probe_scopes(
        &self,
        wanted: &BTreeSet<String>,
    ) -> Result<BTreeSet<String>, FetchError> {
        let mut granted = BTreeSet::new();
        for scope in wanted {
            let one = BTreeSet::from([scope.clone()]);
            self.budget(RateLimitBucket::OrgAuthorizationServer)
                .acquire()
                .await;
            self.count_request(RateLimitBucket::OrgAuthorizationServer);
            if let TokenOutcome::Token(_) =
                request_token(&self.fetcher.http, &self.fetcher.credentials, &one).await?
            {
                granted.insert(scope.clone());
            }
        }
        if granted.len() == wanted.len() {
            return Err(FetchError::Authentication(
                "the token endpoint refuses the scopes together but grants each alone".into(),
            ));
        }
        Ok(granted)
    }

    /// Renew the token after a `401` on a request made with token `generation`, unless
    /// another request already renewed it.
    async fn reauthenticate(&self, generation: u64) -> Result<(), String> {
        let mut token = self.token.write().await;
        if token.1 != generation {
            return Ok(());
        }
        let (fresh, _) = self
            .authenticate(self.granted.clone())
            .await
            .map_err(|e| e.to_string())?;
        *token = (fresh, generation + 1);
        self.lock_stats().reauthentications += 1;
        tracing::info!("access token expired; signed in again");
        Ok(())
    }

    /// A 2xx response's body, checked to be JSON, with its share of [`Shared::page_kib`]:
    /// taken before the body is read when its length is known (the body, and then its
    /// parsed JSON, is what is large), else once it is read.
    async fn read_body(&self, response: reqwest::Response) -> Result<Body<'_>, GetError> {
        let early = match response.content_length() {
            Some(length) => Some(self.page_memory(length).await?),
            None => None,
        };
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => return Ok(Body::Broken(format!("response broke off: {e}"))),
        };
        let kib = match early {
            Some(kib) => kib,
            None => self.page_memory(bytes.len() as u64).await?,
        };
        // Checked without building a tree (that is the lister's, an item at a time): a
        // page broken off mid-item is asked for again before any of it is used.
        let body: Vec<u8> = bytes.into();
        Ok(
            match serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
                Ok(_) => Body::Read(body, kib),
                // A truncated page: valid HTTP, broken JSON. Ask again.
                Err(e) => Body::Broken(format!("unreadable page: {e}")),
            },
        )
    }

    /// A body's share of [`Shared::page_kib`]: its KiB, at least one, at most all.
    async fn page_memory(&self, bytes: u64) -> Result<SemaphorePermit<'_>, GetError> {
        let kib = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.options().page_memory_kib);
        self.page_kib
            .acquire_many(kib)
            .await
            .map_err(|_| GetError::Failed("the fetch was stopped".into()))
    }

    fn count_request(&self, bucket: RateLimitBucket) {
        let mut stats = self.lock_stats();
        stats.requests += 1;
        *stats
            .requests_per_bucket
            .entry(bucket.as_str().to_owned())
            .or_default() += 1;
    }

    /// GET one page, within the bucket's budget, retrying what is worth retrying.
    async fn get(&self, url: &str, bucket: RateLimitBucket) -> Result<Page<'_>, GetError> {
        let budget = self.budget(bucket);
        let mut backoff = self.backoff();
        let mut reauthentications = 0u32;
        let mut rate_limited = 0u32;
        loop {
            budget.acquire().await;
            let permit = self
                .pages
                .acquire()
                .await
                .map_err(|_| GetError::Failed("the fetch was stopped".into()))?;
            let (token, generation) = {
                let guard = self.token.read().await;
                (guard.0.clone(), guard.1)
            };
            self.count_request(bucket);
            let sent = self
                .fetcher
                .http
                .get(url)
                .bearer_auth(&token.0)
                .header(ACCEPT, "application/json")
                .send()
                .await;
            let failure = match sent {
                Err(e) => format!("request failed: {e}"),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let response_date = response
                        .headers()
                        .get(reqwest::header::DATE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_http_date);
                    let limits = limit_headers(response.headers());
                    if let Some(limits) = limits
                        && budget.observe(limits).is_some()
                        && status != 429
                    {
                        self.lock_stats().headroom_pauses += 1;
                    }
                    let next = next_link(
                        response
                            .headers()
                            .get_all(LINK)
                            .iter()
                            .filter_map(|v| v.to_str().ok()),
                    );
                    match status {
                        200..=299 => match self.read_body(response).await? {
                            Body::Read(body, kib) => {
                                return Ok(Page {
                                    body,
                                    next,
                                    date: response_date,
                                    permit: PagePermit {
                                        _page: permit,
                                        _kib: kib,
                                    },
                                });
                            }
                            Body::Broken(why) => why,
                        },
                        429 => {
                            rate_limited += 1;
                            self.lock_stats().rate_limited += 1;
                            // A storm that never ends is an outage, not a limit.
                            if rate_limited > 100 {
                                return Err(GetError::Failed(
                                    "still rate limited after 100 waits".into(),
                                ));
                            }
                            let seconds = limits.map_or(60, |l| l.reset_in_seconds);
                            let wait = budget.pause_until_reset(seconds);
                            tracing::debug!(url, ?wait, "429: waiting for the window to reset");
                            continue;
                        }
                        401 => {
                            // Sign in again, then retry. A token can expire again while
                            // a request waits for its bucket, so a few renewals are
                            // allowed; a 401 that survives them is a revoked client.
                            if reauthentications >= MAX_REAUTHENTICATIONS {
                                return Err(GetError::Failed(
                                    "401 Unauthorized even with fresh tokens".into(),
                                ));
                            }
                            self.reauthenticate(generation)
                                .await
                                .map_err(GetError::Failed)?;
                            reauthentications += 1;
                            continue;
                        }
                        403 | 404 => {
                            // Only a known code is kept, never the body's own words.
                            let hint = response
                                .bytes()
                                .await
                                .ok()
                                .and_then(|b| serde_json::from_slice::<OktaErrorBody>(&b).ok())
                                .and_then(|body| okta_error_hint(&body.error_code));
                            return Err(GetError::Refused { status, hint });
                        }
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

    /// Read the System Log over `window`: what its events name, and how many there were.
    /// An error says why the log cannot prove what changed (the fetch is then full).
    async fn read_log(
        &self,
        window: &IncrementalWindow,
    ) -> Result<(incremental::Touched, u64), String> {
        if !self.granted.contains(LOG_SCOPE) {
            return Err(format!("scope `{LOG_SCOPE}` not granted"));
        }
        if window.until - window.since > LOG_RETENTION {
            return Err(format!(
                "the previous snapshot is older than the System Log's retention ({} days)",
                LOG_RETENTION.num_days()
            ));
        }
        let time = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let base = format!("{}/api/v1/logs", self.fetcher.credentials.org_url);
        let mut first = reqwest::Url::parse(&base).map_err(|e| e.to_string())?;
        first
            .query_pairs_mut()
            .append_pair("since", &time(window.since))
            .append_pair("until", &time(window.until))
            .append_pair("limit", "1000");
        let mut url = Some(String::from(first));
        let mut touched = incremental::Touched::default();
        let mut events = 0u64;
        let mut checked_clock = false;
        while let Some(current) = url.take() {
            let page = match self.get(&current, RateLimitBucket::Logs).await {
                Ok(page) => page,
                Err(GetError::Refused { status, .. }) => {
                    return Err(format!("the System Log answered {status}"));
                }
                Err(GetError::Failed(why)) => {
                    return Err(format!("the System Log could not be read: {why}"));
                }
            };
            if !checked_clock {
                checked_clock = true;
                // The window is on the runner's clock; the log is on the org's. Too far
                // apart, and changes could fall outside the window.
                let org_now = page
                    .date
                    .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
                    .ok_or("the System Log's answer has no Date header")?;
                if (org_now - window.until).abs() > MAX_CLOCK_SKEW {
                    return Err(format!(
                        "the org's clock ({org_now}) and this one ({}) are more than {} minutes apart",
                        window.until,
                        MAX_CLOCK_SKEW.num_minutes()
                    ));
                }
            }
            let Ok(Value::Array(items)) = page.json() else {
                return Err("the System Log's answer is not a list of events".into());
            };
            for event in &items {
                touched.add(event);
            }
            events += items.len() as u64;
            if let Some(next) = page.next {
                let org = self.fetcher.credentials.org_url.as_str();
                if !next.starts_with(org) {
                    return Err(format!(
                        "the System Log's next link leaves the org ({next})"
                    ));
                }
                // A bounded query ends; an endless one would mean the window is not bounded.
                if items.is_empty() {
                    break;
                }
                url = Some(next);
            }
        }
        touched.finish();
        Ok((touched, events))
    }

    /// Fetch `kind`, then its children, then theirs.
    fn fetch_tree<'s>(
        &'s self,
        kind: &'static KindSpec,
        parents: Option<Vec<ParentContext>>,
    ) -> BoxFuture<'s, Result<(), FetchError>> {
        async move {
            if self.resumed_tree(kind) {
                return Ok(());
            }
            let children: Vec<&'static KindSpec> = kinds::all()
                .filter(|k| k.parent.is_some_and(|p| p.kind == kind.name) && self.wants(k))
                .collect();
            match self.fetch_kind(kind, parents, &children).await {
                Ok((count, mut child_parents)) => {
                    self.lock_stats().counts.insert(kind.kind(), count);
                    self.send(FetchEvent::KindFinished {
                        kind: kind.kind(),
                        count,
                    })
                    .await?;
                    let subtrees = children.iter().map(|child| {
                        let parents = child_parents.remove(child.name).unwrap_or_default();
                        self.fetch_tree(child, Some(parents))
                    });
                    futures::future::try_join_all(subtrees).await?;
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

    /// Whether a resumed backup holds `kind` and every kind below it already: nothing of
    /// the tree needs a request.
    fn resumed_tree(&self, kind: &'static KindSpec) -> bool {
        let resumed = &self.options().resumed;
        let mut pending = vec![kind];
        while let Some(spec) = pending.pop() {
            if !resumed.contains(&spec.kind()) {
                return false;
            }
            pending.extend(
                kinds::all()
                    .filter(|k| k.parent.is_some_and(|p| p.kind == spec.name) && self.wants(k)),
            );
        }
        true
    }

    /// Report `kind` skipped (or failed) and its descendants skipped.
    async fn skip_tree(
        &self,
        kind: &'static KindSpec,
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
        let event = if failed {
            FetchEvent::KindFailed {
                kind: kind.kind(),
                reason,
            }
        } else {
            FetchEvent::KindSkipped {
                kind: kind.kind(),
                reason,
            }
        };
        self.send(event).await?;
        let mut pending: Vec<&'static KindSpec> = vec![kind];
        while let Some(parent) = pending.pop() {
            for child in kinds::all()
                .filter(|k| k.parent.is_some_and(|p| p.kind == parent.name) && self.wants(k))
            {
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

    /// Fetch one kind under every parent; returns its count and its children's parents.
    async fn fetch_kind(
        &self,
        kind: &'static KindSpec,
        parents: Option<Vec<ParentContext>>,
        children: &[&'static KindSpec],
    ) -> Result<(u64, BTreeMap<&'static str, Vec<ParentContext>>), KindStop> {
        if let Some(missing) = kind
            .read_scopes
            .iter()
            .find(|s| !self.granted.contains(**s))
        {
            return Err(KindStop::Skip(format!("scope `{missing}` not granted")));
        }
        let contexts: Vec<Option<ParentContext>> = match parents {
            None => vec![None],
            Some(mut parents) => {
                if let (Some((window, touched)), Some(parent)) = (&self.touched, kind.parent)
                    && partial_child(kind)
                {
                    let built_in = self
                        .built_in_groups
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone();
                    parents.retain(|p| {
                        let is_built_in =
                            parent.kind == "group" && built_in.contains(&p.resource_id);
                        touched.relist(window, kind.name, parent.kind, &p.resource_id, is_built_in)
                    });
                    let mut stats = self.lock_stats();
                    if let Some(report) = stats.incremental.as_mut() {
                        report.relisted.insert(
                            kind.name.to_owned(),
                            parents.iter().map(|p| p.resource_id.clone()).collect(),
                        );
                    }
                }
                parents.into_iter().map(Some).collect()
            }
        };
        self.send(FetchEvent::KindStarted {
            kind: kind.kind(),
            listings: contexts.len(),
        })
        .await
        .map_err(KindStop::Fatal)?;
        let mut child_parents: BTreeMap<&'static str, Vec<ParentContext>> = BTreeMap::new();
        let mut count = 0u64;
        let mut listings = futures::stream::iter(contexts)
            .map(|context| self.list_under(kind, context, children))
            .buffer_unordered(self.options().concurrency);
        while let Some((listed, found)) = listings.try_next().await? {
            count += listed;
            for (child, mut contexts) in found {
                child_parents
                    .entry(child)
                    .or_default()
                    .append(&mut contexts);
            }
        }
        Ok((count, child_parents))
    }

    /// List `kind` under one parent (or at the top), every query and every page.
    async fn list_under(
        &self,
        kind: &'static KindSpec,
        parent: Option<ParentContext>,
        children: &[&'static KindSpec],
    ) -> Result<(u64, Vec<(&'static str, Vec<ParentContext>)>), KindStop> {
        let params = parent
            .as_ref()
            .map(ParentContext::param_map)
            .unwrap_or_default();
        let Some(path) = kind.path_for(&params) else {
            return Err(KindStop::Fail(format!(
                "no value for a placeholder of {}",
                kind.list_path
            )));
        };
        let parent_ids = parent
            .as_ref()
            .zip(kind.parent)
            .map(|(p, parent_ref)| ParentIds {
                resource_id: p.resource_id.clone(),
                param_value: p.param(parent_ref.param).cloned().unwrap_or_default(),
            });
        let changed_users = match &self.touched {
            Some((window, _)) if kind.name == "user" => {
                Some([incremental::user_query(window.since)])
            }
            _ => None,
        };
        let queries: Vec<&str> = match &changed_users {
            Some(query) => query.iter().map(String::as_str).collect(),
            None if kind.list_queries.is_empty() => vec![""],
            None => kind.list_queries.to_vec(),
        };
        let mut count = 0u64;
        let mut found: Vec<(&'static str, Vec<ParentContext>)> =
            children.iter().map(|c| (c.name, Vec::new())).collect();
        for query in queries {
            let mut url = Some(self.list_url(kind, &path, query)?);
            while let Some(current) = url.take() {
                let page = match self.get(&current, kind.bucket).await {
                    Ok(page) => page,
                    Err(GetError::Refused { status: 404, .. }) if parent.is_some() => {
                        // An optional sub-resource (`absent_ok`), or a parent deleted while
                        // the backup ran: nothing to keep under this parent.
                        if !kind.absent_ok {
                            tracing::debug!(kind = kind.name, path, "404 under a parent");
                        }
                        break;
                    }
                    Err(GetError::Refused { status: 403, .. }) => {
                        return Err(KindStop::Skip(
                            "403 Forbidden: the app's admin role may not read it".into(),
                        ));
                    }
                    Err(GetError::Refused { status, .. }) => {
                        return Err(KindStop::Skip(format!(
                            "{status}: not available in this org (feature not enabled?)"
                        )));
                    }
                    Err(GetError::Failed(why)) => return Err(KindStop::Fail(why)),
                };
                // Read whole only where the next link is in the body or each item is
                // read again: a page of items otherwise goes an item at a time.
                let whole = match (kind.pagination, kind.detail_path) {
                    (Pagination::BodyLink { .. }, _) | (_, Some(_)) => {
                        Some(page.json().map_err(KindStop::Fail)?)
                    }
                    _ => None,
                };
                let Page {
                    body, next, permit, ..
                } = page;
                let next = match kind.pagination {
                    Pagination::LinkHeader { .. } => next,
                    Pagination::BodyLink { .. } => whole.as_ref().and_then(next_body_link),
                    _ => None,
                };
                if let Some(next) = next {
                    url = Some(self.checked_next(kind, next)?);
                }
                // Held until this page's resources are sent; but a kind read item by item
                // asks for a page per item while it holds this one, and listers holding
                // every permit while waiting for another would wait forever.
                let permit = kind.detail_path.is_none().then_some(permit);
                let mut resources = Vec::new();
                let mut listed = Listed {
                    kind,
                    parent: parent.as_ref(),
                    parent_ids: parent_ids.as_ref(),
                    found: &mut found,
                    resources: &mut resources,
                };
                match whole {
                    None => {
                        let taken =
                            kind.for_each_item(&body, |item| self.take_item(&mut listed, item));
                        // The resources are what is sent; the body need not wait with them.
                        drop(body);
                        taken.map_err(|e| match e {
                            kinds::ItemError::Page(e) => KindStop::Fail(e.to_string()),
                            kinds::ItemError::Item(stop) => stop,
                        })?;
                    }
                    Some(whole) => {
                        drop(body);
                        let items = kind
                            .items(whole)
                            .map_err(|e| KindStop::Fail(e.to_string()))?;
                        for item in items {
                            let item = match kind.detail_path {
                                Some(detail) => self.detail(kind, detail, &params, &item).await?,
                                None => item,
                            };
                            self.take_item(&mut listed, item)?;
                        }
                    }
                }
                count += resources.len() as u64;
                // A resumed kind listed again only for its children: the snapshot has
                // its resources already.
                if !resources.is_empty() && !self.options().resumed.contains(&kind.kind()) {
                    self.send(FetchEvent::Resources {
                        kind: kind.kind(),
                        resources,
                    })
                    .await
                    .map_err(KindStop::Fatal)?;
                }
                drop(permit);
            }
        }
        Ok((count, found))
    }

    /// One listed item: noted if it is a built-in group, its children's parent contexts
    /// found, and turned into a resource.
    fn take_item(&self, listed: &mut Listed<'_>, item: Value) -> Result<(), KindStop> {
        let kind = listed.kind;
        if kind.name == "group"
            && self.touched.is_some()
            && item.get("type").and_then(Value::as_str) == Some("BUILT_IN")
            && let Some(id) = kind.own_id(&item)
        {
            self.built_in_groups
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id);
        }
        for (child, contexts) in listed.found.iter_mut() {
            let Some(spec) = kinds::by_name(child) else {
                continue;
            };
            if let Some(context) = child_context(kind, spec, listed.parent, &item) {
                contexts.push(context);
            }
        }
        let resource = kind
            .to_resource(listed.parent_ids, item)
            .map_err(|e| KindStop::Fail(e.to_string()))?;
        listed.resources.push(resource);
        Ok(())
    }

    /// The whole object behind a list summary.
    async fn detail(
        &self,
        kind: &'static KindSpec,
        detail: &'static str,
        params: &BTreeMap<String, String>,
        item: &Value,
    ) -> Result<Value, KindStop> {
        let own = kind
            .own_id(item)
            .ok_or_else(|| KindStop::Fail(format!("a `{}` item has no id", kind.name)))?;
        let mut params = params.clone();
        if let Some(last) = detail
            .rsplit('/')
            .next()
            .and_then(|s| s.strip_prefix('{'))
            .and_then(|s| s.strip_suffix('}'))
        {
            params.insert(last.to_owned(), own);
        }
        let path = kinds::fill_path(detail, &params)
            .ok_or_else(|| KindStop::Fail(format!("cannot fill {detail}")))?;
        let url = format!("{}{path}", self.fetcher.credentials.org_url);
        match self
            .get(&url, RateLimitBucket::for_request("GET", &path))
            .await
        {
            Ok(page) => page.json().map_err(KindStop::Fail),
            Err(GetError::Refused { status, .. }) => Err(KindStop::Fail(format!(
                "{status} on {path} after it was listed"
            ))),
            Err(GetError::Failed(why)) => Err(KindStop::Fail(why)),
        }
    }

    fn list_url(&self, kind: &KindSpec, path: &str, query: &str) -> Result<String, KindStop> {
        let base = format!("{}{path}", self.fetcher.credentials.org_url);
        let mut url =
            reqwest::Url::parse(&base).map_err(|e| KindStop::Fatal(FetchError::RequestUrl(e)))?;
        {
            let mut pairs = url.query_pairs_mut();
            for part in query.split('&').filter(|p| !p.is_empty()) {
                let (name, value) = part.split_once('=').unwrap_or((part, ""));
                pairs.append_pair(name, value);
            }
            if kind.pagination.accepts_limit()
                && let Some(max) = kind.pagination.max_limit()
            {
                pairs.append_pair("limit", &max.to_string());
            }
        }
        let mut url = String::from(url);
        // `query_pairs_mut` leaves a bare `?` when nothing was appended.
        if url.ends_with('?') {
            url.pop();
        }
        Ok(url)
    }

    /// A `next` link, only if it stays on the org: the bearer token goes with it.
    fn checked_next(&self, kind: &KindSpec, next: String) -> Result<String, KindStop> {
        let org = self.fetcher.credentials.org_url.as_str();
        if next.starts_with(org) && next[org.len()..].starts_with('/') {
            Ok(next)
        } else {
            Err(KindStop::Fail(format!(
                "`{}`: the next page link leaves the org ({next})",
                kind.name
            )))
        }
    }
}

/// The context children of `child` get from one `parent_kind` item.
fn child_context(
    parent_kind: &KindSpec,
    child: &KindSpec,
    grandparent: Option<&ParentContext>,
    item: &Value,
) -> Option<ParentContext> {
    let parent_ref = child.parent?;
    let value = parent_ref.value_from(parent_kind, item)?;
    let resource_id = parent_kind.resource_id(grandparent.map(|g| g.resource_id.as_str()), item)?;
    let mut params = grandparent.map(|g| g.params.clone()).unwrap_or_default();
    params.retain(|(name, _)| *name != parent_ref.param);
    params.push((parent_ref.param, value));
    Some(ParentContext {
        resource_id,
        params,
    })
}

/// The rate-limit headers of a response, with the reset as seconds on the server's clock.
fn limit_headers(headers: &HeaderMap) -> Option<LimitHeaders> {
    let number =
        |name: &str| -> Option<i64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
    let limit = u32::try_from(number("x-rate-limit-limit")?).ok()?;
    let remaining = u32::try_from(number("x-rate-limit-remaining")?.max(0)).ok()?;
    Some(LimitHeaders {
        limit,
        remaining,
        reset_in_seconds: reset_in_seconds(headers)?,
    })
}

/// `X-Rate-Limit-Reset − Date`: seconds until the window resets, on the server's clock.
pub(crate) fn reset_in_seconds(headers: &HeaderMap) -> Option<i64> {
    let reset: i64 = headers
        .get("x-rate-limit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let now = headers
        .get(reqwest::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date)
        .unwrap_or_else(|| Utc::now().timestamp());
    Some(reset - now)
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) as epoch seconds.
fn parse_http_date(value: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(value.trim(), "%a, %d %b %Y %H:%M:%S GMT")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_http_dates() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn reset_is_measured_on_the_server_clock() {
        let mut headers = HeaderMap::new();
        headers.insert("x-rate-limit-limit", "600".parse().unwrap());
        headers.insert("x-rate-limit-remaining", "0".parse().unwrap());
        headers.insert("x-rate-limit-reset", "784111800".parse().unwrap());
        headers.insert(
            reqwest::header::DATE,
            "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap(),
        );
        let limits = limit_headers(&headers).unwrap();
        assert_eq!(limits.reset_in_seconds, 23);
        assert_eq!(limits.remaining, 0);
    }
}
