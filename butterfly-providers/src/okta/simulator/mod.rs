//! An Okta-compatible org simulator: a real HTTP server for tests, demos and benchmarks.
//!
//! It generates an org from a seed (every kind in [`crate::okta::kinds`], shaped like the
//! OpenAPI spec's schemas, `_links` and planted secrets included) and serves it the way
//! Okta does:
//!
//! - `POST /oauth2/v1/token`: client credentials for one service app with a
//!   `private_key_jwt` client assertion, checked as Okta checks it (see [`oauth`](self)).
//! - Every catalogue list endpoint, with Okta's scopes enforced (`403` and `E0000006` for a
//!   missing scope, `401` and `E0000011` for a missing or expired token), Link-header
//!   pagination with `limit` capped at each endpoint's maximum, and objects by id.
//! - Per-bucket rate limits with `X-Rate-Limit-*` headers and `429 E0000047`, on an
//!   injected clock ([`SimulatorConfig::timer`]): real, sped up, or virtual and shared
//!   with the fetcher.
//! - Faults on demand: 429 storms, 5xx, slow responses, dropped connections, truncated
//!   pages, and expiring every token mid-run.
//!
//! - Writes, for restore tests (below), counted in the request log and spending the same
//!   rate-limit buckets Okta charges them to.
//!
//! # Writes
//!
//! The simulator writes the way the restore writer expects Okta to (one contract, shared
//! by both; where Okta's OpenAPI description is more precise, the simulator follows the
//! OpenAPI and the difference is noted). `LIST` is a
//! kind's catalogue `list_path` with its placeholders filled in.
//!
//! Generic kinds: `group`, `group_rule`, `app`, `network_zone`, `trusted_origin`,
//! `event_hook`, `inline_hook`, `policy.*` (`LIST` is `/api/v1/policies`, the body's `type`
//! picks the kind), `policy_rule.*`, `authorization_server`, `auth_server_scope`,
//! `auth_server_claim`, `auth_server_policy`, `auth_server_policy_rule`, `user_type`:
//!
//! - create: `POST LIST` with the object. Server-assigned fields (`id`, `created`,
//!   `lastUpdated`, `_links`, `status`) are ignored if sent. Answers `200` with the created
//!   object (`201` for the authorization server family, as the OpenAPI says) and a new id
//!   with Okta's prefix: `00u` user, `00g` group, `0pr` group rule and policy rule, `0oa`
//!   app, `nzo` zone, `00p` policy, `aus` authorization server, `scp` scope, `ocl` claim,
//!   `who` event hook, `cal` inline hook, `tos` trusted origin, `oty` user type. Ids are
//!   `{prefix}w` and a counter, so the same writes give the same ids. `created` and
//!   `lastUpdated` come from the simulated clock. Group rules start `INACTIVE`; apps, zones,
//!   policies (unless `?activate=false`), rules, hooks, trusted origins, authorization
//!   servers and their policies and rules start `ACTIVE`. A new parent gets its empty child
//!   listings (a group its members, owners and roles; an app its user and group
//!   assignments and grants, and client roles for an OIDC app; a policy its rules; an
//!   authorization server its scopes, claims and policies; a user type its schema).
//! - replace: `PUT LIST/{id}` with the whole object: `200` with the stored object (server
//!   fields kept). Inline hooks and user types also take `POST LIST/{id}` as a partial
//!   update.
//! - lifecycle: `POST LIST/{id}/lifecycle/activate` and `.../deactivate`: `204` for group
//!   rules, policies, policy rules and the authorization server family; `200` for the rest
//!   (`{}` for apps, the object for zones, hooks and trusted origins).
//! - delete: `DELETE LIST/{id}`: `204` (`202` for group rules, as the OpenAPI says), and the
//!   object's children go with it; a deleted group also leaves every app's group
//!   assignments (group rules that name it are left dangling, as Okta leaves them). Okta
//!   refuses to delete an `ACTIVE` app, group rule, zone or hook: `403` (`E0000056` for an
//!   app, `E0000006` otherwise), with a cause saying to deactivate it first.
//!
//! Users:
//!
//! - create: `POST /api/v1/users?activate=false` with `{"profile": {...}, "type"?: {"id"}}`:
//!   `200`, status `STAGED` (with `activate` true or absent: `ACTIVE` with a password,
//!   `PROVISIONED` without). Every new user joins the built-in Everyone group. A duplicate
//!   `profile.login` (case-insensitive) is `400 E0000001` with an `errorCauses` entry.
//! - update: `PUT /api/v1/users/{id}` replaces the profile, `POST /api/v1/users/{id}` merges
//!   into it.
//! - lifecycle: `POST /api/v1/users/{id}/lifecycle/activate?sendEmail=false` (from `STAGED`
//!   or `DEPROVISIONED`; answers an activation token), `/deactivate` (to `DEPROVISIONED`),
//!   `/suspend` (`ACTIVE` only), `/unsuspend` (`SUSPENDED` only), `/reactivate`
//!   (`PROVISIONED` only). Refused transitions: `403 E0000038` for activate and reactivate,
//!   `400 E0000001` for suspend and unsuspend.
//! - delete: `DELETE /api/v1/users/{id}` removes a `DEPROVISIONED` user (with its group
//!   memberships, group ownerships and app assignments); on any other user it deactivates instead, as the
//!   OpenAPI says, and a second delete removes it. Either way `204`.
//!
//! Relations, which have no object of their own:
//!
//! - `group_membership`: `PUT` or `DELETE /api/v1/groups/{groupId}/users/{userId}`: `204`;
//!   unknown group or user: `404`.
//! - `app_group_assignment`: `PUT /api/v1/apps/{appId}/groups/{groupId}` with
//!   `{"priority"?, "profile"?}`: `200` with the assignment; `DELETE` the same: `204`.
//! - `app_user_assignment`: `POST /api/v1/apps/{appId}/users` with `{"id": userId, "scope":
//!   "USER", "profile"?}`: `200`; `POST /api/v1/apps/{appId}/users/{userId}` updates;
//!   `DELETE` it: `204`.
//!
//! Errors: every error body is Okta's error object. Validation failures are
//! `400 E0000001` (`Api validation failed: <field>`, the field also in `errorCauses`):
//! users need `profile.login`, `email`, `firstName` and `lastName`; groups `profile.name`;
//! apps `label`, `signOnMode` and `name`; zones `name` and `type`; policies `name` and
//! `type`; rules `name`; authorization servers `name` and `audiences`; scopes `name`;
//! claims `name`, `claimType`, `valueType` and `value`; event hooks `name`, `events` and
//! `channel` (inline hooks `name`, `type` and `channel`); trusted origins `name` and
//! `origin`; user types `name` and `displayName`. A body that is not a JSON object is
//! `400 E0000003`. Unknown ids are `404 E0000007`. A token without the kind's
//! `manage_scope` gets `403 E0000006` with a `WWW-Authenticate` header
//! (`error="insufficient_scope"`, `scope="<manage scope>"`); the service app may ask for
//! every manage scope in the catalogue. Writes to kinds outside this list answer
//! `405 E0000022`.
//!
//! Writes spend Okta's rate-limit buckets ([`RateLimitBucket::for_request`]) and are
//! recorded in the request log (method, route label, status), so a test can prove a dry
//! run wrote nothing ([`RequestLogSnapshot::writes`],
//! [`RequestLogSnapshot::writes_by_route`]). The org sits behind a read-write lock: pages
//! are built under the shared lock, and a write holds the lock alone for the few map
//! updates it makes, so a backup after writes sees them in both the listings and the
//! objects by id.
//!
//! Test harness endpoints live under `/__sim` and need no token (bind the simulator to
//! loopback): `GET|POST|DELETE /__sim/faults`, `GET|DELETE /__sim/requests`,
//! `GET /__sim/lower-bound`, `GET|POST /__sim/clock`, `GET /__sim/org`.
//!
//! ```no_run
//! use butterfly_providers::okta::simulator::{Simulator, SimulatorConfig};
//!
//! # async fn run() -> Result<(), butterfly_providers::okta::simulator::SimulatorError> {
//! let running = Simulator::bind(SimulatorConfig::default(), "127.0.0.1:0".parse().unwrap()).await?;
//! let credentials = running.simulator().client_credentials();
//! println!("{} as {}", credentials.org_url, credentials.client_id);
//! running.shutdown().await?;
//! # Ok(())
//! # }
//! ```

mod admin;
mod api;
pub(crate) mod clock;
pub(crate) mod faults;
mod generate;
#[cfg(feature = "fetcher")]
mod in_memory;
mod limits;
mod oauth;
mod org;
pub mod syslog;
mod write;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use axum::Router;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::{DecodePublicKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use admin::{BucketBound, LowerBound, RequestLogSnapshot};
pub use clock::{ScaledTimer, SimClock};
pub use faults::{FaultKind, FaultRule};
pub use generate::OrgConfig;
#[cfg(feature = "fetcher")]
pub use in_memory::{SimulatedBackupError, back_up_in_memory};
pub use oauth::JWT_BEARER_ASSERTION;
pub use org::{Org, SECRET_MARKER};

use crate::clock::{SystemTimer, Timer};
use crate::okta::RateLimitBucket;
use crate::okta::kinds;

/// Errors starting the simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimulatorError {
    /// Binding or serving failed.
    #[error("simulator I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The client key could not be generated, read or encoded.
    #[error("client key: {0}")]
    Key(String),
    /// The configuration is not usable.
    #[error("invalid simulator configuration: {0}")]
    Config(String),
}

/// How to run a simulator.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// The org to generate.
    pub org: OrgConfig,
    /// The clock rate-limit windows and token lifetimes run on. Default: real time
    /// ([`SystemTimer`]). Give the simulator and the fetcher
    /// the same [`VirtualTimer`](crate::clock::VirtualTimer) to run a backup in
    /// simulated time.
    pub timer: Arc<dyn Timer>,
    /// Access-token lifetime in simulated seconds (Okta's default is one hour).
    pub token_ttl_seconds: u64,
    /// Per-minute limits per bucket; buckets not named keep Okta's defaults.
    pub rate_limits: BTreeMap<RateLimitBucket, u32>,
    /// Faults active from the start.
    pub faults: Vec<FaultRule>,
    /// Scopes granted to the service app; `None` grants every scope a backup needs.
    pub granted_scopes: Option<BTreeSet<String>>,
    /// The base URL clients reach the server at; `None` means `http://{bound address}`.
    /// Assertions must name `{org_url}/oauth2/v1/token` as their audience.
    pub org_url: Option<String>,
    /// The service app's public key (PEM, PKCS#1 or SPKI); `None` generates a key pair,
    /// whose private half [`Simulator::client_credentials`] returns.
    pub client_public_key_pem: Option<String>,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            org: OrgConfig::default(),
            timer: Arc::new(SystemTimer),
            token_ttl_seconds: 3600,
            rate_limits: BTreeMap::new(),
            faults: Vec::new(),
            granted_scopes: None,
            org_url: None,
            client_public_key_pem: None,
        }
    }
}

/// What a client needs to sign in as the simulator's service app.
#[derive(Debug, Clone, Serialize)]
pub struct ClientCredentials {
    /// The org's base URL.
    pub org_url: String,
    /// The service app's client id (the assertion's `iss` and `sub`).
    pub client_id: String,
    /// The key id registered for the client (the assertion header's optional `kid`).
    pub key_id: String,
    /// The token endpoint (the assertion's `aud`).
    pub token_url: String,
    /// Scopes granted to the client.
    pub scopes: Vec<String>,
    /// The private key (PKCS#8 PEM), when the simulator generated it.
    #[serde(skip)]
    pub private_key_pem: Option<String>,
}

/// Generate an RSA key pair for a service app: `(private PKCS#8 PEM, public key)`.
pub fn generate_client_key() -> Result<(String, RsaPublicKey), SimulatorError> {
    let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
        .map_err(|e| SimulatorError::Key(e.to_string()))?;
    let pem = private
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| SimulatorError::Key(e.to_string()))?;
    Ok((pem.to_string(), private.to_public_key()))
}

fn parse_public_key(pem: &str) -> Result<RsaPublicKey, SimulatorError> {
    RsaPublicKey::from_public_key_pem(pem)
        .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem))
        .map_err(|e| SimulatorError::Key(format!("not an RSA public key PEM: {e}")))
}

/// Shared server state.
#[derive(Debug)]
pub(crate) struct State {
    /// Reads share the lock; each write holds it alone, briefly.
    pub org: RwLock<Org>,
    /// The org's base URL (also in the org, but readable without the lock).
    pub org_url: String,
    pub clock: SimClock,
    pub auth: oauth::AuthServer,
    pub limiter: limits::RateLimiter,
    pub faults: Mutex<faults::Faults>,
    pub log: Mutex<admin::RequestLog>,
    pub routes: api::Routes,
    pub private_key_pem: Option<String>,
    pub request_counter: std::sync::atomic::AtomicU64,
}

impl State {
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/v1/token", self.org_url)
    }
}

/// A simulator: the org and everything the server needs, shareable across handlers.
#[derive(Debug, Clone)]
pub struct Simulator {
    state: Arc<State>,
}

impl Simulator {
    /// Generate the org and set up the server state for `org_url`.
    pub fn new(config: &SimulatorConfig, org_url: &str) -> Result<Self, SimulatorError> {
        if config.token_ttl_seconds == 0 {
            return Err(SimulatorError::Config(
                "token_ttl_seconds must be positive".into(),
            ));
        }
        let (private_key_pem, public) = if let Some(pem) = &config.client_public_key_pem {
            (None, parse_public_key(pem)?)
        } else {
            let (private, public) = generate_client_key()?;
            (Some(private), public)
        };
        let org = generate::generate(&config.org, org_url);
        // By default the service app may ask for every scope a backup reads with and every
        // manage scope a restore writes with; a token carries only the scopes asked for.
        let granted = config.granted_scopes.clone().unwrap_or_else(|| {
            kinds::backup_scopes()
                .into_iter()
                .chain(kinds::all().filter_map(|k| k.manage_scope))
                .chain(["okta.logs.read"])
                .map(str::to_owned)
                .collect()
        });
        let key = jsonwebtoken::DecodingKey::from_rsa_raw_components(
            &public.n().to_bytes_be(),
            &public.e().to_bytes_be(),
        );
        let client = oauth::Client {
            id: org.service_app.client_id.clone(),
            key_id: org.service_app.key_id.clone(),
            key,
            granted,
        };
        let ttl = i64::try_from(config.token_ttl_seconds)
            .map_err(|_| SimulatorError::Config("token_ttl_seconds is too large".into()))?;
        let state = State {
            auth: oauth::AuthServer::new(client, chrono::TimeDelta::seconds(ttl)),
            clock: SimClock::new(Arc::clone(&config.timer)),
            limiter: limits::RateLimiter::new(&config.rate_limits),
            faults: Mutex::new(faults::Faults::new(config.org.seed, config.faults.clone())),
            log: Mutex::new(admin::RequestLog::default()),
            routes: api::Routes::new(),
            private_key_pem,
            request_counter: std::sync::atomic::AtomicU64::new(0),
            org_url: org.org_url().to_owned(),
            org: RwLock::new(org),
        };
        Ok(Simulator {
            state: Arc::new(state),
        })
    }

    /// Bind `addr`, generate the org for the bound address, and serve in the background.
    pub async fn bind(
        config: SimulatorConfig,
        addr: SocketAddr,
    ) -> Result<RunningSimulator, SimulatorError> {
        let listener = TcpListener::bind(addr).await?;
        Simulator::serve(config, listener).await
    }

    /// Serve on an already bound listener, in the background.
    pub async fn serve(
        config: SimulatorConfig,
        listener: TcpListener,
    ) -> Result<RunningSimulator, SimulatorError> {
        let addr = listener.local_addr()?;
        let org_url = config
            .org_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        // Key generation and a large org take a while: keep them off the async workers.
        let simulator = tokio::task::spawn_blocking(move || Simulator::new(&config, &org_url))
            .await
            .map_err(|e| SimulatorError::Config(format!("org generation failed: {e}")))??;
        let router = simulator.router();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
        });
        Ok(RunningSimulator {
            simulator,
            addr,
            shutdown: Some(tx),
            task,
        })
    }

    /// The axum router serving the org and the `/__sim` endpoints.
    pub fn router(&self) -> Router {
        admin::router()
            .fallback(api::handle)
            .with_state(Arc::clone(&self.state))
    }

    /// The org as it stands (generated, then changed by writes), under a shared lock:
    /// writes wait while the guard lives, so drop it before making requests that write.
    pub fn org(&self) -> RwLockReadGuard<'_, Org> {
        self.state
            .org
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The org's base URL.
    pub fn org_url(&self) -> &str {
        &self.state.org_url
    }

    /// The simulated clock.
    pub fn clock(&self) -> &SimClock {
        &self.state.clock
    }

    /// What a client needs to sign in as the service app.
    pub fn client_credentials(&self) -> ClientCredentials {
        let client = &self.state.auth.client;
        ClientCredentials {
            org_url: self.state.org_url.clone(),
            client_id: client.id.clone(),
            key_id: client.key_id.clone(),
            token_url: self.state.token_url(),
            scopes: client.granted.iter().cloned().collect(),
            private_key_pem: self.state.private_key_pem.clone(),
        }
    }

    /// Requests served so far.
    pub fn request_log(&self) -> RequestLogSnapshot {
        admin::snapshot(&self.state)
    }

    /// Add fault rules.
    pub fn add_faults(&self, rules: impl IntoIterator<Item = FaultRule>) {
        admin::add_faults(&self.state, rules);
    }

    /// Remove every fault rule.
    pub fn clear_faults(&self) {
        admin::clear_faults(&self.state);
    }

    /// Expire every access token issued so far; returns how many.
    pub fn expire_tokens(&self) -> usize {
        self.state.auth.expire_all()
    }

    /// The least time a full backup of this org can take under its rate limits.
    pub fn lower_bound(&self) -> LowerBound {
        admin::lower_bound(&self.state)
    }

    /// Append an event to the System Log now, as the org's service app, for tests of what
    /// reads the log: an event type Okta may add later, say. `targets` are `(type, id)`
    /// pairs such as `("UserGroup", "00g1")`; nothing in the org changes.
    pub fn log_event(&self, event_type: &str, targets: &[(&'static str, &str)]) {
        let now = self.state.clock.now();
        let mut org = self
            .state
            .org
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let actor = org.service_app.client_id.clone();
        let targets: Vec<syslog::Target> = targets
            .iter()
            .map(|(kind, id)| (*kind, (*id).to_owned(), String::new()))
            .collect();
        org.system_log
            .append(now, event_type, event_type, &actor, &targets);
    }
}

/// A simulator serving in the background.
#[derive(Debug)]
pub struct RunningSimulator {
    simulator: Simulator,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningSimulator {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The simulator.
    pub fn simulator(&self) -> &Simulator {
        &self.simulator
    }

    /// The org's base URL.
    pub fn org_url(&self) -> &str {
        self.simulator.org_url()
    }

    /// Stop serving and wait for open connections to finish.
    pub async fn shutdown(mut self) -> Result<(), SimulatorError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match (&mut self.task).await {
            Ok(result) => Ok(result?),
            Err(e) => Err(SimulatorError::Io(std::io::Error::other(e))),
        }
    }

    /// Serve until the task ends (for the binary).
    pub async fn wait(mut self) -> Result<(), SimulatorError> {
        match (&mut self.task).await {
            Ok(result) => Ok(result?),
            Err(e) => Err(SimulatorError::Io(std::io::Error::other(e))),
        }
    }
}
