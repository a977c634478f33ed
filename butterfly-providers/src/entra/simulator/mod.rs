//! A Microsoft Graph simulator for Entra ID: a real HTTP server for tests, demos and
//! benchmarks (feature `simulator`, binary `butterfly-entra-sim`).
//!
//! It generates a tenant from a seed and sizes ([`TenantConfig`]): every kind in
//! [`crate::entra::kinds`], shaped as Graph's v1.0 CSDL says, and serves it as Graph
//! does where a backup notices:
//!
//! - `POST {authority_url}/{tenant}/oauth2/v2.0/token`: client credentials with the
//!   app's secret or a certificate client assertion (`x5t` or `x5t#S256`); Entra's errors
//!   (`AADSTS` codes). The access token carries the app's application permissions in
//!   `roles`.
//! - `{graph_url}/v1.0/...`: every catalogue path, objects by id, `@odata.nextLink`
//!   paging with `$top` (up to each kind's maximum, 100 by default), `$select`, `$filter`
//!   (`eq`, `ne`, `startswith`, joined by `and`), `@odata.context`. Without `$select`,
//!   users come with Graph's default property set only ([`USER_DEFAULT_PROPERTIES`]).
//!   `403 Authorization_RequestDenied` without the kind's permission (or a higher one),
//!   `401 InvalidAuthenticationToken` for a missing, bad or expired token.
//! - Delta queries for users, groups (with `members@delta`), applications and service
//!   principals: pages, then an `@odata.deltaLink`; the link later returns only what
//!   changed, removed objects as `{"id", "@removed": {"reason"}}`.
//! - Throttling: resource units per 10 s per app and tenant (3,500 / 5,000 / 8,000 by
//!   tenant size), each request charged [`crate::entra::kinds::request_cost`],
//!   `429 TooManyRequests` with `Retry-After`, `x-ms-throttle-scope` and
//!   `x-ms-throttle-information`, `x-ms-resource-unit` on every Graph response and
//!   `x-ms-throttle-limit-percentage` once a window is over 80% used; writes also spend
//!   3,000 per 150 s. Time is an injected clock.
//! - Writes (see [`write`](self)), faults, a request log, and the `/_sim` admin API.
//!
//! ```no_run
//! use butterfly_providers::entra::simulator::{EntraSimulator, TenantConfig};
//!
//! # async fn run() -> Result<(), butterfly_providers::entra::simulator::EntraSimError> {
//! let sim = EntraSimulator::start(TenantConfig { users: 100, ..TenantConfig::default() }).await?;
//! println!("{} {} {}", sim.graph_url(), sim.tenant_id(), sim.client_id());
//! sim.shutdown().await?;
//! # Ok(())
//! # }
//! ```

mod admin;
mod api;
mod cert;
mod generate;
mod limits;
mod oauth;
mod tenant;
mod write;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::Router;
use rand::Rng as _;
use rand::seq::SliceRandom as _;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding};
use rsa::traits::PublicKeyParts as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use admin::{KindBound, LowerBound, RequestLogSnapshot};
pub use api::USER_DEFAULT_PROPERTIES;
pub use generate::{
    BUILT_IN_ROLES, GLOBAL_ADMINISTRATOR, GRAPH_APP_ID, SECRET_CANARY, TenantConfig,
    graph_permissions, permission_id,
};
pub use limits::resource_unit_budget;
pub use oauth::{GRAPH_RESOURCE, JWT_BEARER_ASSERTION};
pub use tenant::Tenant;

use crate::clock::{SystemTimer, Timer};
use crate::entra::kinds;
use crate::okta::simulator::faults::{ActiveRule, Faults};
use crate::okta::simulator::{FaultRule, SimClock};

/// Errors starting the simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EntraSimError {
    /// Binding or serving failed.
    #[error("simulator I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The app's key or certificate could not be generated or read.
    #[error("client key or certificate: {0}")]
    Key(String),
    /// The configuration is not usable.
    #[error("invalid simulator configuration: {0}")]
    Config(String),
}

/// How to run a simulator.
#[derive(Debug, Clone)]
pub struct EntraSimConfig {
    /// The tenant to generate.
    pub tenant: TenantConfig,
    /// The clock throttling windows and token lifetimes run on (default: real time).
    /// Give the simulator and the client the same
    /// [`VirtualTimer`](crate::clock::VirtualTimer) to run in simulated time.
    pub timer: Arc<dyn Timer>,
    /// The backup app's application permissions; `None`: every read permission in the
    /// catalogue and every write permission a restore uses.
    pub permissions: Option<BTreeSet<String>>,
    /// Resource units per 10 s; `None`: Graph's tier for the tenant's size.
    pub resource_units_per_10s: Option<u32>,
    /// Writes per 150 s (Graph: 3,000).
    pub writes_per_150s: u32,
    /// Access-token lifetime in simulated seconds (Entra: 3,599).
    pub token_ttl_seconds: u64,
    /// Faults active from the start.
    pub faults: Vec<FaultRule>,
    /// The Graph base URL clients use; `None`: `http://{bound address}`.
    pub graph_url: Option<String>,
    /// The authority URL clients use; `None`: `http://{bound address}/login`. It must be
    /// served by this server, under a path of its own.
    pub authority_url: Option<String>,
    /// The app's private key (PKCS#8 or PKCS#1 PEM); `None` generates one (RSA 2048).
    pub private_key_pem: Option<String>,
}

impl Default for EntraSimConfig {
    fn default() -> Self {
        EntraSimConfig {
            tenant: TenantConfig::default(),
            timer: Arc::new(SystemTimer),
            permissions: None,
            resource_units_per_10s: None,
            writes_per_150s: 3_000,
            token_ttl_seconds: 3_599,
            faults: Vec::new(),
            graph_url: None,
            authority_url: None,
            private_key_pem: None,
        }
    }
}

impl From<TenantConfig> for EntraSimConfig {
    fn from(tenant: TenantConfig) -> Self {
        EntraSimConfig {
            tenant,
            ..EntraSimConfig::default()
        }
    }
}

/// The default application permissions: every read permission of the catalogue and every
/// write permission a restore uses.
pub fn default_permissions() -> BTreeSet<String> {
    kinds::backup_permissions()
        .into_iter()
        .chain(kinds::restore_permissions())
        .map(str::to_owned)
        .collect()
}

/// Shared server state.
#[derive(Debug)]
pub(crate) struct State {
    pub tenant: RwLock<Tenant>,
    pub tenant_id: String,
    pub graph_url: String,
    pub authority_url: String,
    /// The authority URL's path on this server (`/login`).
    pub authority_path: String,
    pub clock: SimClock,
    pub authority: oauth::Authority,
    pub granted: RwLock<BTreeSet<String>>,
    pub limiter: limits::Limiter,
    pub faults: Mutex<Faults>,
    pub log: Mutex<admin::RequestLog>,
    pub request_counter: AtomicU64,
    pub backup: generate::BackupApp,
    pub ids: Mutex<generate::Ids>,
    pub client_secret: String,
    pub certificate_pem: String,
    pub private_key_pem: String,
}

impl State {
    pub fn tenant(&self) -> RwLockReadGuard<'_, Tenant> {
        self.tenant
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn tenant_mut(&self) -> RwLockWriteGuard<'_, Tenant> {
        self.tenant
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority_url, self.tenant_id
        )
    }

    pub fn granted(&self) -> BTreeSet<String> {
        self.granted
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn record(&self, method: &str, route: &str, status: u16) {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .record(method, route, status);
    }

    pub fn add_faults(&self, rules: impl IntoIterator<Item = FaultRule>) {
        self.faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .rules
            .extend(rules.into_iter().map(|rule| ActiveRule { rule, fired: 0 }));
    }

    pub fn clear_faults(&self) {
        self.faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .rules
            .clear();
    }

    pub fn lock_ids(&self) -> std::sync::MutexGuard<'_, generate::Ids> {
        self.ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn set_permissions(&self, roles: BTreeSet<String>) {
        let at = self.clock.now();
        {
            let mut tenant = self.tenant_mut();
            let mut ids = self.lock_ids();
            generate::set_graph_grants(&mut tenant, &mut ids, &self.backup, &roles, at);
        }
        *self
            .granted
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = roles;
    }

    /// Change `percent` of users, groups, applications and service principals; returns
    /// how many objects changed.
    pub fn mutate(&self, percent: f64) -> usize {
        let mut tenant = self.tenant_mut();
        let mut ids = self.lock_ids();
        let stamp = generate::ts(self.clock.now());
        let protected = [
            self.backup.application_id.as_str(),
            self.backup.service_principal_id.as_str(),
            self.backup.graph_sp_id.as_str(),
        ];
        let users: Vec<String> = tenant
            .objects_of("user")
            .map(|(id, _)| id.clone())
            .collect();
        let mut changed = 0;
        for (kind, field) in [
            ("user", "jobTitle"),
            ("group", "description"),
            ("application", "notes"),
            ("service_principal", "notes"),
        ] {
            let all: Vec<String> = tenant
                .objects_of(kind)
                .map(|(id, _)| id.clone())
                .filter(|id| !protected.contains(&id.as_str()))
                .collect();
            // Object counts stay far below 2^52.
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )]
            let n = ((all.len() as f64) * percent / 100.0).ceil() as usize;
            let chosen: Vec<String> = all
                .choose_multiple(ids.rng(), n.min(all.len()))
                .cloned()
                .collect();
            for (i, id) in chosen.iter().enumerate() {
                let Some(mut object) = tenant.object(kind, id).cloned() else {
                    continue;
                };
                object[field] = serde_json::json!(format!("Changed at {stamp} ({i})"));
                tenant.put(kind, id, object);
                changed += 1;
                if kind == "group" && i % 2 == 0 && !users.is_empty() {
                    let user = &users[ids.rng().gen_range(0..users.len())];
                    if !tenant.remove_member("group_member", id, user) {
                        tenant.add_member("group_member", id, user);
                    }
                }
            }
        }
        changed
    }
}

/// A running simulator. Dropping it stops the server without waiting.
#[derive(Debug)]
pub struct EntraSimulator {
    state: Arc<State>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    generation: std::time::Duration,
}

impl Drop for EntraSimulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn build_state(config: &EntraSimConfig, base_url: &str) -> Result<State, EntraSimError> {
    let graph_url = config
        .graph_url
        .clone()
        .unwrap_or_else(|| base_url.to_owned())
        .trim_end_matches('/')
        .to_owned();
    let authority_url = config
        .authority_url
        .clone()
        .unwrap_or_else(|| format!("{base_url}/login"))
        .trim_end_matches('/')
        .to_owned();
    let authority_path = url::Url::parse(&authority_url)
        .map_err(|e| EntraSimError::Config(format!("authority_url: {e}")))?
        .path()
        .trim_end_matches('/')
        .to_owned();
    if authority_path.is_empty()
        || authority_path.starts_with("/v1.0")
        || authority_path.starts_with("/_sim")
    {
        return Err(EntraSimError::Config(
            "authority_url needs a path of its own on the simulator (such as /login)".into(),
        ));
    }
    if config.token_ttl_seconds == 0 {
        return Err(EntraSimError::Config(
            "token_ttl_seconds must be positive".into(),
        ));
    }
    let key = match &config.private_key_pem {
        Some(pem) => rsa::RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|e| EntraSimError::Key(format!("not an RSA private key PEM: {e}")))?,
        None => rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
            .map_err(|e| EntraSimError::Key(e.to_string()))?,
    };
    let private_key_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| EntraSimError::Key(e.to_string()))?
        .to_string();
    let not_before = chrono::DateTime::from_timestamp(1_704_067_200, 0).unwrap_or_default();
    let certificate = cert::self_signed(
        &key,
        "butterfly-entra-sim",
        config.tenant.seed,
        not_before,
        not_before + chrono::TimeDelta::days(3650),
    )
    .map_err(EntraSimError::Key)?;
    let granted = config
        .permissions
        .clone()
        .unwrap_or_else(default_permissions);
    let thumbprint_b64 = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        <sha1::Sha1 as sha1::Digest>::digest(&certificate.der),
    );
    let (tenant, backup) = generate::generate(&config.tenant, &granted, &thumbprint_b64);
    let users = tenant
        .objects
        .get("user")
        .map_or(0, std::collections::BTreeMap::len);
    let mut ids = generate::Ids::new(config.tenant.seed ^ 0x5772_6974_6573);
    // An Entra-looking secret: 40 characters with the `~` Entra puts fourth.
    let secret: String = {
        const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.";
        let mut rng = rand::rngs::OsRng;
        let body: String = (0..39)
            .map(|_| char::from(CHARS[rng.gen_range(0..CHARS.len())]))
            .collect();
        format!("{}~{}", &body[..3], &body[3..])
    };
    let public = key.to_public_key();
    let client = oauth::Client {
        app_id: backup.app_id.clone(),
        object_id: backup.service_principal_id.clone(),
        secret: secret.clone(),
        certificate_key: jsonwebtoken::DecodingKey::from_rsa_raw_components(
            &public.n().to_bytes_be(),
            &public.e().to_bytes_be(),
        ),
        x5t: certificate.x5t.clone(),
        x5t_s256: certificate.x5t_s256.clone(),
    };
    let mut signing = [0u8; 32];
    rand::rngs::OsRng.fill(&mut signing);
    let ttl = i64::try_from(config.token_ttl_seconds)
        .map_err(|_| EntraSimError::Config("token_ttl_seconds is too large".into()))?;
    let _ = ids.uuid();
    Ok(State {
        tenant_id: tenant.tenant_id.clone(),
        authority: oauth::Authority::new(
            client,
            tenant.tenant_id.clone(),
            chrono::TimeDelta::seconds(ttl),
            &signing,
        ),
        tenant: RwLock::new(tenant),
        graph_url,
        authority_url,
        authority_path,
        clock: SimClock::new(Arc::clone(&config.timer)),
        granted: RwLock::new(granted),
        limiter: limits::Limiter::new(
            config
                .resource_units_per_10s
                .unwrap_or_else(|| resource_unit_budget(users)),
            config.writes_per_150s,
        ),
        faults: Mutex::new(Faults::new(config.tenant.seed, config.faults.clone())),
        log: Mutex::new(admin::RequestLog::default()),
        request_counter: AtomicU64::new(0),
        backup,
        ids: Mutex::new(ids),
        client_secret: secret,
        certificate_pem: certificate.pem,
        private_key_pem,
    })
}

impl EntraSimulator {
    /// Generate the tenant and serve it on a free loopback port, in the background.
    pub async fn start(config: impl Into<EntraSimConfig>) -> Result<Self, EntraSimError> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        Self::serve(config.into(), listener).await
    }

    /// Bind `addr` and serve there.
    pub async fn bind(
        config: impl Into<EntraSimConfig>,
        addr: SocketAddr,
    ) -> Result<Self, EntraSimError> {
        let listener = TcpListener::bind(addr).await?;
        Self::serve(config.into(), listener).await
    }

    /// Serve on a bound listener, in the background.
    pub async fn serve(
        config: EntraSimConfig,
        listener: TcpListener,
    ) -> Result<Self, EntraSimError> {
        let addr = listener.local_addr()?;
        let base = format!("http://{addr}");
        let started = std::time::Instant::now();
        // Key generation and a large tenant take a while: keep them off the async workers.
        let state = tokio::task::spawn_blocking(move || build_state(&config, &base))
            .await
            .map_err(|e| EntraSimError::Config(format!("tenant generation failed: {e}")))??;
        let generation = started.elapsed();
        let state = Arc::new(state);
        let router: Router = admin::router()
            .fallback(api::handle)
            .with_state(Arc::clone(&state));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
        });
        Ok(EntraSimulator {
            state,
            addr,
            shutdown: Some(tx),
            task,
            generation,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Graph's base URL (requests go to `{graph_url}/v1.0/...`).
    pub fn graph_url(&self) -> &str {
        &self.state.graph_url
    }

    /// The authority URL (tokens at `{authority_url}/{tenant_id}/oauth2/v2.0/token`).
    pub fn authority_url(&self) -> &str {
        &self.state.authority_url
    }

    /// The token endpoint (a client assertion's `aud`).
    pub fn token_url(&self) -> String {
        self.state.token_url()
    }

    /// The tenant id.
    pub fn tenant_id(&self) -> &str {
        &self.state.tenant_id
    }

    /// The backup app's client (application) id.
    pub fn client_id(&self) -> &str {
        &self.state.backup.app_id
    }

    /// The backup app's client secret.
    pub fn client_secret(&self) -> &str {
        &self.state.client_secret
    }

    /// The backup app's certificate (PEM), registered by its thumbprint.
    pub fn certificate_pem(&self) -> &str {
        &self.state.certificate_pem
    }

    /// The certificate's private key (PKCS#8 PEM).
    pub fn private_key_pem(&self) -> &str {
        &self.state.private_key_pem
    }

    /// The simulated clock.
    pub fn clock(&self) -> &SimClock {
        &self.state.clock
    }

    /// How long generating the tenant (and the key) took.
    pub fn generation_time(&self) -> std::time::Duration {
        self.generation
    }

    /// The tenant as it stands, under a shared lock: drop the guard before writing.
    pub fn tenant(&self) -> RwLockReadGuard<'_, Tenant> {
        self.state.tenant()
    }

    /// Requests served so far (the token endpoint included).
    pub fn request_count(&self) -> u64 {
        admin::snapshot(&self.state).total
    }

    /// The request log.
    pub fn request_log(&self) -> RequestLogSnapshot {
        admin::snapshot(&self.state)
    }

    /// Forget the request log and resource-unit totals.
    pub fn reset_request_log(&self) {
        admin::reset_log(&self.state);
    }

    /// Resource units charged so far.
    pub fn resource_units_spent(&self) -> u64 {
        self.state.limiter.totals().0
    }

    /// The resource-unit budget per 10 s.
    pub fn resource_unit_budget(&self) -> u32 {
        self.state.limiter.units_per_window
    }

    /// The least time a full backup of the tenant takes under the budget.
    pub fn lower_bound(&self) -> LowerBound {
        admin::lower_bound(&self.state)
    }

    /// Change `percent` (0 to 100) of users, groups, applications and service principals,
    /// as delta queries will report; returns how many objects changed.
    pub fn mutate(&self, percent: f64) -> usize {
        self.state.mutate(percent.clamp(0.0, 100.0))
    }

    /// Set the backup app's application permissions; tokens issued from now on carry them.
    pub fn set_permissions<I, S>(&self, roles: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.state
            .set_permissions(roles.into_iter().map(Into::into).collect());
    }

    /// The backup app's application permissions.
    pub fn permissions(&self) -> BTreeSet<String> {
        self.state.granted()
    }

    /// Expire every access token issued so far.
    pub fn expire_tokens(&self) {
        self.state.authority.expire_all();
    }

    /// Add fault rules.
    pub fn add_faults(&self, rules: impl IntoIterator<Item = FaultRule>) {
        self.state.add_faults(rules);
    }

    /// Remove every fault rule.
    pub fn clear_faults(&self) {
        self.state.clear_faults();
    }

    /// Stop serving and wait for open connections to finish.
    pub async fn shutdown(mut self) -> Result<(), EntraSimError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match (&mut self.task).await {
            Ok(result) => Ok(result?),
            Err(e) => Err(EntraSimError::Io(std::io::Error::other(e))),
        }
    }

    /// Serve until the server stops (for the binary).
    pub async fn wait(mut self) -> Result<(), EntraSimError> {
        match (&mut self.task).await {
            Ok(result) => Ok(result?),
            Err(e) => Err(EntraSimError::Io(std::io::Error::other(e))),
        }
    }
}
