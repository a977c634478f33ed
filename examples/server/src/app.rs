//! Opening the stores and assembling the router.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use butterfly_core::members::MemberChange;
use butterfly_core::store::{
    ApiKeyStore, MemberStore, MemberWriteStore, NewMember, StoreError, TeamStore,
};
use butterfly_core::token::RawToken;
use butterfly_core::{Clock, Member, Role, SystemClock, Team, TeamId};
use butterfly_store::{RepositoryStore, SqlStore};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::backups::Backups;
use crate::cli_login;
use crate::config::Config;
use crate::error::ApiError;
use crate::routes;
use crate::scim::{MemberLinkedStore, ScimTokens};
use crate::sso::{self, ServerLogoutHandler, SsoRuntime};
use butterfly_scim::ScimService;
use url::Url;

/// The team created on first start, and used by admin subcommands without `--team`.
pub const DEFAULT_TEAM: &str = butterfly_store::sql::DEFAULT_TEAM;

/// Largest request body the API accepts.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Teams, members, keys, tokens, sessions, jobs.
    pub store: Arc<SqlStore>,
    /// Encrypted snapshot objects (and sealed small secrets).
    pub objects: Arc<RepositoryStore>,
    /// Discovered SSO providers.
    pub sso: Arc<SsoRuntime>,
    /// Where users reach this server.
    pub public_url: Url,
    /// Whether cookies carry `Secure`.
    pub secure_cookies: bool,
    /// The SCIM service, over resources linked to team members.
    pub scim: Arc<ScimService<MemberLinkedStore<ScimResources>>>,
    /// Snapshot repositories and the backup job worker's settings.
    pub backups: Arc<Backups>,
    /// `--allow-private-org-urls`: connections may reach non-public addresses.
    pub allow_private_org_urls: bool,
    /// Counters served at `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Sends notifications to the teams' channels.
    pub notifier: Arc<crate::notify::Notifier>,
    /// Where each connection's Git export repository lives (`<data dir>/git`).
    pub git_exports_dir: std::path::PathBuf,
    /// The pauses before each retry of a failed Git push (`--git-push-retry-ms`).
    pub git_push_pauses: [Duration; 2],
    /// The polling interval a CLI sign-in is told, in seconds (`--cli-login-poll-secs`).
    pub cli_login_poll_secs: i64,
    /// Calendar time for schedules (which slot is due, when a pause ends); tests put a
    /// `FixedClock` here.
    pub clock: Arc<dyn Clock>,
    /// CLI sign-ins started (`POST /oauth/device_authorization`) and approval forms
    /// posted (`POST /device`), limited per client address; tests put a limiter on a
    /// fake clock here.
    pub cli_sign_ins: Arc<crate::limits::ClientLimiter>,
}

/// Where SCIM resources live: the server's database (SQLite or PostgreSQL), with
/// filters and sorting pushed down to SQL.
pub type ScimResources = SqlStore;

/// Errors opening the server's state.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The database could not be opened or migrated.
    #[error("cannot open database: {0}")]
    Database(#[from] StoreError),
    /// `--public-url` is not an absolute http(s) URL.
    #[error("invalid --public-url `{0}`: expected an absolute http(s) URL")]
    PublicUrl(String),
    /// `--insecure-cookies` with a public URL that is not loopback.
    #[error(
        "--insecure-cookies is only allowed with a loopback --public-url (localhost, 127.0.0.1, [::1]), not `{0}`"
    )]
    InsecureCookies(String),
    /// The object store or master key could not be opened.
    #[error("cannot open object store: {0}")]
    Objects(#[from] butterfly_store::RepositoryStoreError),
    /// The master key could not be read.
    #[error("master key: {0}")]
    MasterKey(#[from] butterfly_store::KeyError),
    /// `BUTTERFLY_MASTER_KEY` is not 64 hex characters.
    #[error("BUTTERFLY_MASTER_KEY is invalid: {0}")]
    MasterKeyValue(&'static str),
}

/// The master key: from `BUTTERFLY_MASTER_KEY`, from `--master-key-file`, or (the
/// embedded default) `master.key` in the data directory, created on first start.
fn master_key(config: &Config) -> Result<butterfly_store::MasterKey, StartupError> {
    use butterfly_store::MasterKey;
    if let Some(hex) = &config.master_key {
        return MasterKey::from_hex(hex).map_err(StartupError::MasterKeyValue);
    }
    if let Some(file) = &config.master_key_file {
        return Ok(MasterKey::load_file(file)?);
    }
    tracing::info!(
        "the master key is kept in the data directory; in production keep it elsewhere \
         (--master-key-file or BUTTERFLY_MASTER_KEY)"
    );
    Ok(MasterKey::load_or_create(&config.data_dir)?)
}

/// Open the database (running migrations) and the object repository.
pub async fn open_state(config: &Config) -> Result<AppState, StartupError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartupError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    let store = SqlStore::connect(&config.database_url())
        .await?
        .with_scim_token_cache_ttl(Duration::from_secs(config.scim_token_cache_secs));
    let objects = Arc::new(RepositoryStore::from_url_with_key(
        &config.object_store_url(),
        master_key(config)?,
    )?);
    // Snapshot repositories live in the same object store, one per team.
    let backups = Backups::new(Arc::clone(&objects), config.job_settings());
    let public_url = Url::parse(&config.public_url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        .ok_or_else(|| StartupError::PublicUrl(config.public_url.clone()))?;
    if config.insecure_cookies && !is_loopback(&public_url) {
        return Err(StartupError::InsecureCookies(config.public_url.clone()));
    }
    let store = Arc::new(store);
    let scim = Arc::new(ScimService::new(MemberLinkedStore::new(
        ScimResources::clone(&store),
        Arc::clone(&store),
    )));
    Ok(AppState {
        scim,
        store,
        objects,
        sso: Arc::new(SsoRuntime::default()),
        public_url,
        secure_cookies: !config.insecure_cookies,
        backups: Arc::new(backups),
        allow_private_org_urls: config.allow_private_org_urls,
        metrics: Arc::new(crate::metrics::Metrics::new(
            config.metrics_token.as_deref(),
        )),
        notifier: Arc::new(crate::notify::Notifier::default()),
        git_exports_dir: config.data_dir.join("git"),
        git_push_pauses: config.git_push_pauses(),
        cli_login_poll_secs: config.cli_login_poll_interval_secs(),
        clock: Arc::new(SystemClock),
        cli_sign_ins: Arc::new(crate::limits::ClientLimiter::new(cli_login::SIGN_IN_QUOTA)),
    })
}

/// Whether `url` names this machine (localhost, 127.0.0.0/8, [::1]).
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The email of a team's bootstrap member. `.invalid` (RFC 2606) never routes, so no
/// identity provider can assert it and no SSO sign-in can become this member.
pub const BOOTSTRAP_EMAIL: &str = "bootstrap@butterfly.invalid";

/// On a fresh database, create the default team, its bootstrap member (a super_admin
/// named `bootstrap`, listed with the other members) and a super_admin API key that
/// belongs to that member, and return the key's secret so it can be shown once. `None`
/// when teams already exist.
///
/// The key has an owner like every other: suspending or deleting the bootstrap member
/// (once a person holds super_admin) revokes it.
pub async fn bootstrap(state: &AppState) -> Result<Option<(Team, RawToken)>, ApiError> {
    if !state.store.list_teams().await?.is_empty() {
        return Ok(None);
    }
    let team = state.store.create_team(DEFAULT_TEAM).await?;
    let member = bootstrap_member(&state.store, team.id).await?;
    let (_, secret) = state
        .store
        .create_api_key(team.id, "bootstrap", Role::SuperAdmin, Some(member.id))
        .await?;
    Ok(Some((team, secret)))
}

/// The team's bootstrap member ([`BOOTSTRAP_EMAIL`]), created (super_admin, active)
/// when the team has none: the owner of keys made with no person at hand (first start,
/// `butterfly-server api-key create`).
pub async fn bootstrap_member(store: &SqlStore, team: TeamId) -> Result<Member, StoreError> {
    if let Some(member) = store.member_by_email(team, BOOTSTRAP_EMAIL).await? {
        return Ok(member);
    }
    let outcome = store
        .write_members(
            team,
            vec![MemberChange::Create(NewMember {
                email: BOOTSTRAP_EMAIL.to_owned(),
                display_name: Some("bootstrap".to_owned()),
                role: Role::SuperAdmin,
                active: true,
                external_id: None,
            })],
        )
        .await?;
    outcome
        .members
        .into_iter()
        .flatten()
        .next()
        .ok_or_else(|| StoreError::Corrupt("the bootstrap member was not written".into()))
}

/// The whole HTTP surface.
pub fn build_router(state: AppState) -> Router {
    let state_metrics = Arc::clone(&state.metrics);
    let scim = butterfly_scim::axum::router(
        Arc::clone(&state.scim),
        ScimTokens(Arc::clone(&state.store)),
    );
    let app = Router::new()
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route("/metrics", get(crate::metrics::scrape))
        .route("/auth/sso/login", post(sso::login))
        .route("/auth/sso/callback", get(sso::callback))
        .route("/auth/sso/initiate", get(sso::initiate).post(sso::initiate))
        .route(
            "/auth/sso/backchannel-logout",
            butterfly_oidc::axum::backchannel_logout(Arc::new(ServerLogoutHandler {
                state: state.clone(),
            })),
        )
        .route("/auth/logout", post(sso::logout))
        .route(
            "/oauth/device_authorization",
            post(cli_login::device_authorization),
        )
        .route("/oauth/token", post(cli_login::token))
        .route("/oauth/revoke", post(cli_login::revoke))
        .route("/device", get(cli_login::page).post(cli_login::decide))
        .nest("/api/v1", routes::api(state.clone()).into_router())
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                axum::Json(
                    serde_json::json!({"error": {"code": "not_found", "message": "no such route"}}),
                ),
            )
                .into_response()
        })
        // The body limit guards the JSON API; SCIM enforces its own limit (advertised in
        // ServiceProviderConfig) and answers with SCIM errors, so it is nested after.
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .nest_service("/scim/v2", scim)
        .with_state(state);
    // Around the whole router, not each route (`Router::layer` would run it inside the
    // method router, before a 405 gets its `Allow`), so that every refusal gets the error
    // shape of the API it was sent to.
    let metrics = Arc::clone(&state_metrics);
    Router::new()
        .fallback_service(app)
        .layer(axum::middleware::from_fn(crate::error::shape_errors))
        .layer(axum::middleware::from_fn(
            routes::audit::with_request_context,
        ))
        // Outermost but for tracing: it counts the answers clients got, refusals included.
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            crate::metrics::count_requests,
        ))
        .layer(TraceLayer::new_for_http())
}
