//! Team SSO over OpenID Connect: email-domain routing, SP- and IdP-initiated login,
//! just-in-time members, server-side sessions and back-channel logout.
//!
//! The protocol work is `butterfly-oidc`'s; this module decides which team a login
//! belongs to, keeps the pending login in a sealed cookie (AES-256-GCM under the team's
//! key, so any replica can finish the login and the browser that started it is the only
//! one that can), and turns a verified login into a member and a session.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Form;
use axum::extract::{RawQuery, State};
use axum::http::Extensions;
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use butterfly_core::SystemClock;
use butterfly_core::members::{MemberRuleError, SignInIdentity};
use butterfly_core::store::{
    MemberWriteStore, NewSession, ReplicaCoordination as _, SessionStore, SsoConnection, SsoStore,
};
use butterfly_core::token::RawToken;
use butterfly_core::{Member, TeamId};
use butterfly_oidc::{
    AuthorizeOptions, Callback, ClientId, ClientSecret, DiscoveryCache, EmailDomain,
    EndSessionsError, InitiateLogin, InitiateLoginPolicy, Issuer, LogoutHandler, LogoutRequest,
    LogoutTokenValidator, OidcClient, PendingLogin, RelyingPartyConfig, VerifiedLogin,
};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use tokio::sync::Mutex;
use url::Url;

use crate::app::AppState;
use crate::error::ApiError;
use crate::limits::{ClientLimiter, ClientQuota};

/// The session cookie.
pub const SESSION_COOKIE: &str = "bf_session";
/// The sealed pending-login cookie, scoped to `/auth/sso`.
const PENDING_COOKIE: &str = "bf_sso_pending";
/// Seal purposes: a value sealed for one never opens as the other.
pub const CLIENT_SECRET_PURPOSE: &str = "sso-client-secret";
const PENDING_PURPOSE: &str = "sso-pending-login";
/// How long a signed-in session lasts.
const SESSION_LIFETIME: TimeDelta = TimeDelta::hours(12);
/// How long a user has to finish signing in at the provider.
const PENDING_LIFETIME_SECS: i64 = 600;
/// The scope of used sign-in states in the replicas' shared one-time-id table.
const USED_STATE_SCOPE: &str = "sso-sign-in-state";

/// Sign-in attempts one client (one peer address) may start in a burst, and how fast
/// they come back: 10, then one every 6 s. Generous for a person; a script that loops
/// over `/auth/sso/login` gets 429s instead of server work and outbound discovery.
const LOGIN_BURST: NonZeroU32 = match NonZeroU32::new(10) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};
const LOGIN_REFILL: Duration = Duration::from_secs(6);
/// The sign-in limit per client.
pub const LOGIN_QUOTA: ClientQuota = ClientQuota {
    burst: LOGIN_BURST,
    refill: LOGIN_REFILL,
};

/// Discovered providers, per team, rebuilt when the team's connection changes; failed
/// discoveries remembered briefly; sign-in attempts limited per client.
#[derive(Debug)]
pub struct SsoRuntime {
    clients: Mutex<BTreeMap<TeamId, CachedClient>>,
    /// One discovery per issuer at a time, a failure remembered for 30 s: unauthenticated
    /// logins cannot make the server hammer a provider that is down.
    discovery: DiscoveryCache,
    /// Per peer address (`None`: served without connection info, all one bucket).
    logins: ClientLimiter,
}

impl Default for SsoRuntime {
    fn default() -> Self {
        SsoRuntime {
            clients: Mutex::default(),
            discovery: DiscoveryCache::new(Arc::new(SystemClock)),
            logins: ClientLimiter::new(LOGIN_QUOTA),
        }
    }
}

#[derive(Debug, Clone)]
struct CachedClient {
    updated_at: DateTime<Utc>,
    client: Arc<OidcClient>,
    /// One validator per client, so its replay cache sees every logout token.
    logout: Arc<LogoutTokenValidator>,
}

impl SsoRuntime {
    /// Forget a team's client (its connection changed or was removed).
    pub async fn invalidate(&self, team: TeamId) {
        self.clients.lock().await.remove(&team);
    }
}

/// The OIDC client for a connection: discovered once, reused until the connection changes.
async fn client_for(
    state: &AppState,
    connection: &SsoConnection,
) -> Result<CachedClient, ApiError> {
    if let Some(cached) = state.sso.clients.lock().await.get(&connection.team_id)
        && cached.updated_at == connection.updated_at
    {
        return Ok(cached.clone());
    }
    let client = discover_with(state, connection, Some(&state.sso.discovery)).await?;
    let cached = CachedClient {
        updated_at: connection.updated_at,
        logout: Arc::new(client.logout_validator()),
        client: Arc::new(client),
    };
    state
        .sso
        .clients
        .lock()
        .await
        .insert(connection.team_id, cached.clone());
    Ok(cached)
}

/// Discover the provider of a connection (also used by `POST /api/v1/sso/test`).
pub async fn discover(
    state: &AppState,
    connection: &SsoConnection,
) -> Result<OidcClient, ApiError> {
    discover_with(state, connection, None).await
}

/// Discovery for `connection`, through `cache` when given (sign-ins: a failure is
/// remembered briefly), directly otherwise (an admin's explicit test).
async fn discover_with(
    state: &AppState,
    connection: &SsoConnection,
    cache: Option<&DiscoveryCache>,
) -> Result<OidcClient, ApiError> {
    let secret = state
        .objects
        .open_secret(
            connection.team_id,
            CLIENT_SECRET_PURPOSE,
            &connection.client_secret_sealed,
        )
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    let secret = String::from_utf8(secret).map_err(|e| ApiError::Internal(Box::new(e)))?;
    let issuer =
        Issuer::new(&connection.issuer).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let client_id =
        ClientId::new(&connection.client_id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let redirect = callback_url(&state.public_url)?;
    let mut config =
        RelyingPartyConfig::new(issuer, client_id, Some(ClientSecret::new(secret)), redirect);
    // Replicas share one database: a logout token replayed to another replica is refused,
    // and the provider's keys are refetched at most once per interval across all of them.
    config.replicas = Some(state.store.clone());
    let http = OidcClient::http_client().map_err(|e| ApiError::Internal(Box::new(e)))?;
    match cache {
        Some(cache) => cache.discover(config, http).await,
        None => OidcClient::discover(config, http).await,
    }
    .map_err(|e| ApiError::Upstream(format!("identity provider discovery failed: {e}")))
}

fn callback_url(public: &Url) -> Result<Url, ApiError> {
    public
        .join("/auth/sso/callback")
        .map_err(|e| ApiError::Internal(Box::new(e)))
}

/// `POST /auth/sso/login` form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// The email the user typed.
    pub email: String,
    /// Where to land after signing in: a path on this server (the CLI approval page
    /// sends people back to itself). Anything else is ignored.
    pub return_to: Option<String>,
}

/// `POST /auth/sso/login`: route the email's domain to its team and redirect to the
/// team's provider. An unknown domain says only that: nothing about who exists.
pub async fn login(
    State(state): State<AppState>,
    extensions: Extensions,
    Form(form): Form<LoginForm>,
) -> Result<Response, ApiError> {
    if let Err(wait) = state
        .sso
        .logins
        .check(crate::limits::client_of(&extensions))
    {
        return Ok(crate::limits::too_many(
            ApiError::TooManyRequests(
                "too many sign-in attempts from this address; try again in a few seconds",
            )
            .into_response(),
            wait,
        ));
    }
    let domain =
        EmailDomain::of_email(&form.email).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let connection = state
        .store
        .sso_connection_for_domain(domain.as_str())
        .await?
        .ok_or_else(|| {
            ApiError::BadRequest(format!("SSO is not configured for the domain `{domain}`"))
        })?;
    let mut options = AuthorizeOptions::new().login_hint(form.email.trim());
    if let Some(target) = form
        .return_to
        .as_deref()
        .and_then(|t| local_target(&state, t))
    {
        options = options.return_to(target);
    }
    start_login(&state, &connection, options).await
}

/// `target` as a URL on this server, if it is a plain path (`/device?...`): never
/// another host (`//evil.example`, `https://...`), so the sign-in is no open redirect.
fn local_target(state: &AppState, target: &str) -> Option<Url> {
    if !target.starts_with('/') || target.starts_with("//") || target.contains('\\') {
        return None;
    }
    let url = state.public_url.join(target).ok()?;
    (url.origin() == state.public_url.origin()).then_some(url)
}

/// `GET|POST /auth/sso/initiate`: third-party initiated login (OIDC Core section 4).
/// `iss` must be a configured issuer and `target_link_uri` must be on this server.
pub async fn initiate(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // Providers send the parameters in the query (GET) or a form body (POST).
    let text = if body.is_empty() {
        query.unwrap_or_default()
    } else {
        String::from_utf8(body.to_vec())
            .map_err(|_| ApiError::BadRequest("the form body is not UTF-8".into()))?
    };
    let iss = url::form_urlencoded::parse(text.as_bytes())
        .find(|(k, _)| k == "iss")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| ApiError::BadRequest("missing `iss`".into()))?;
    let connections = state.store.sso_connections_for_issuer(&iss).await?;
    let mut policy = InitiateLoginPolicy::new(state.public_url.clone());
    for c in &connections {
        if let Ok(issuer) = Issuer::new(&c.issuer) {
            policy = policy.allow_issuer(issuer);
        }
    }
    let request = InitiateLogin::from_query(&text, &policy)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    // Several teams may share one provider; the login hint's domain then decides.
    let connection = match connections.as_slice() {
        [only] => only.clone(),
        many => {
            let domain = request
                .login_hint
                .as_deref()
                .and_then(|hint| EmailDomain::of_email(hint).ok())
                .ok_or_else(|| {
                    ApiError::BadRequest(
                        "several teams use this issuer: a `login_hint` email is needed".into(),
                    )
                })?;
            many.iter()
                .find(|c| c.domains.iter().any(|d| d == domain.as_str()))
                .cloned()
                .ok_or_else(|| {
                    ApiError::BadRequest(
                        "no team of this issuer has the login hint's domain".into(),
                    )
                })?
        }
    };
    start_login(&state, &connection, request.authorize_options()).await
}

async fn start_login(
    state: &AppState,
    connection: &SsoConnection,
    options: AuthorizeOptions,
) -> Result<Response, ApiError> {
    let cached = client_for(state, connection).await?;
    let (url, pending) = cached.client.authorize_url(options);
    let json = serde_json::to_vec(&pending).map_err(|e| ApiError::Internal(Box::new(e)))?;
    let sealed = state
        .objects
        .seal_secret(connection.team_id, PENDING_PURPOSE, &json)
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    let value = format!("{}.{}", connection.team_id, URL_SAFE_NO_PAD.encode(sealed));
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    headers.insert(LOCATION, header_value(url.as_str())?);
    headers.append(
        SET_COOKIE,
        header_value(&cookie(
            state,
            PENDING_COOKIE,
            &value,
            "/auth/sso",
            PENDING_LIFETIME_SECS,
        ))?,
    );
    Ok(response)
}

/// `GET /auth/sso/callback`: finish the login, provision the member just in time, open
/// a session.
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let callback = Callback::from_query(query.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let (team, pending) = read_pending(&state, &headers)?;
    let connection = state.store.sso_connection(team).await?.ok_or_else(|| {
        ApiError::BadRequest("the team's SSO connection was removed during sign-in".into())
    })?;
    consume_pending(&state, &callback, &pending).await?;
    let cached = client_for(&state, &connection).await?;
    let login = cached
        .client
        .complete_login(&callback, &pending)
        .await
        .map_err(|e| ApiError::SignInFailed(format!("sign-in failed: {e}")))?;
    let member = provision(&state, &connection, &login).await?;
    let (_, token) = state
        .store
        .create_session(NewSession {
            team_id: team,
            member_id: member.id,
            idp_sid: login.sid.clone(),
            idp_sub: Some(login.subject.clone()),
            expires_at: Utc::now() + SESSION_LIFETIME,
        })
        .await?;
    tracing::info!(team = %team, member = %member.id, "SSO sign-in");
    let target = pending
        .return_to()
        .map_or_else(|| "/".to_owned(), ToString::to_string);
    let mut response = StatusCode::FOUND.into_response();
    let h = response.headers_mut();
    h.insert(LOCATION, header_value(&target)?);
    h.append(
        SET_COOKIE,
        header_value(&cookie(
            &state,
            SESSION_COOKIE,
            token.secret(),
            "/",
            SESSION_LIFETIME.num_seconds(),
        ))?,
    );
    h.append(
        SET_COOKIE,
        header_value(&cookie(&state, PENDING_COOKIE, "", "/auth/sso", 0))?,
    );
    Ok(response)
}

/// A pending login finishes once, on whichever replica the browser reaches: its `state`
/// is recorded as used in the database the replicas share (one insert decides, so of
/// two callbacks racing on two servers exactly one goes on), until the login could no
/// longer pass the relying party's own timeout. A replayed callback, with its sealed
/// cookie, its code, state and nonce, is refused here, before its code is sent to the
/// provider again: the server does not depend on the provider refusing a used code.
async fn consume_pending(
    state: &AppState,
    callback: &Callback,
    pending: &PendingLogin,
) -> Result<(), ApiError> {
    // A callback for another login must not burn this one (the client checks it again).
    if !bool::from(callback.state.as_bytes().ct_eq(pending.state().as_bytes())) {
        return Err(ApiError::SignInFailed(
            "sign-in failed: the state does not match this browser's sign-in".into(),
        ));
    }
    let state_hash = hex::encode(Sha256::digest(pending.state().as_bytes()));
    let kept_until = pending.created_at() + TimeDelta::seconds(2 * PENDING_LIFETIME_SECS);
    let first = state
        .store
        .first_use(USED_STATE_SCOPE, &state_hash, kept_until, Utc::now())
        .await?;
    if !first {
        tracing::warn!("a completed SSO sign-in was replayed; refused");
        return Err(ApiError::SignInFailed(
            "sign-in failed: this sign-in was already completed; start again".into(),
        ));
    }
    Ok(())
}

fn read_pending(state: &AppState, headers: &HeaderMap) -> Result<(TeamId, PendingLogin), ApiError> {
    let missing = || {
        ApiError::BadRequest(
            "no sign-in in progress in this browser (missing or expired cookie)".into(),
        )
    };
    let value = cookie_value(headers, PENDING_COOKIE).ok_or_else(missing)?;
    let (team, sealed) = value.split_once('.').ok_or_else(missing)?;
    let team: TeamId = team.parse().map_err(|_| missing())?;
    let sealed = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| missing())?;
    let json = state
        .objects
        .open_secret(team, PENDING_PURPOSE, &sealed)
        .map_err(|_| missing())?;
    let pending: PendingLogin = serde_json::from_slice(&json).map_err(|_| missing())?;
    Ok((team, pending))
}

/// The member for a verified login, through the member rules
/// ([`match_sign_in`](butterfly_core::members::match_sign_in)): found by the provider's
/// (issuer, sub) once linked, else matched by verified email (so SCIM-provisioned
/// members are never duplicated) and linked, refused if suspended or linked to another
/// subject, or created with the connection's default role in the store's one member
/// write.
async fn provision(
    state: &AppState,
    connection: &SsoConnection,
    login: &VerifiedLogin,
) -> Result<Member, ApiError> {
    let identity = SignInIdentity::new(
        connection.issuer.clone(),
        login.subject.clone(),
        login.email.clone(),
        login.email_verified,
    )
    .with_name(login.name.clone());
    let email = identity
        .verified_email()
        .ok_or_else(|| ApiError::Denied(MemberRuleError::UnverifiedEmail.to_string()))?;
    // The provider may only sign in people of the team's own domains.
    let domain = EmailDomain::of_email(email).map_err(|e| ApiError::Denied(e.to_string()))?;
    if !connection.domains.iter().any(|d| d == domain.as_str()) {
        return Err(ApiError::Denied(format!(
            "`{domain}` is not one of the team's SSO domains"
        )));
    }
    let team = connection.team_id;
    // A member created just in time is audited as the identity provider's doing.
    butterfly_store::sql::AuditContext::set_actor(format!("sso:{}", connection.issuer));
    let member = state
        .store
        .sign_in_member(team, &identity, connection.default_role)
        .await?;
    tracing::debug!(team = %team, member = %member.id, role = %member.role, "SSO member");
    Ok(member)
}

/// `POST /auth/logout`: end the local session.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(raw) = cookie_value(&headers, SESSION_COOKIE)
        && let Some(session) = state
            .store
            .session_by_token(&RawToken::from_presented(raw), Utc::now())
            .await?
    {
        state.store.revoke_session(session.id).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().append(
        SET_COOKIE,
        header_value(&cookie(&state, SESSION_COOKIE, "", "/", 0))?,
    );
    Ok(response)
}

/// Ends sessions named by back-channel logout tokens.
#[derive(Debug, Clone)]
pub struct ServerLogoutHandler {
    /// The server's state.
    pub state: AppState,
}

impl LogoutHandler for ServerLogoutHandler {
    async fn validator_for(&self, issuer: &str) -> Option<Arc<LogoutTokenValidator>> {
        let connections = self
            .state
            .store
            .sso_connections_for_issuer(issuer)
            .await
            .ok()?;
        // Teams sharing an issuer share its keys; any of their validators will do.
        let first = connections.first()?;
        client_for(&self.state, first).await.ok().map(|c| c.logout)
    }

    async fn end_sessions(&self, request: LogoutRequest) -> Result<(), EndSessionsError> {
        let connections = self
            .state
            .store
            .sso_connections_for_issuer(request.issuer.as_str())
            .await?;
        let mut ended = 0;
        let mut cli_logins = 0;
        for connection in connections {
            let team = connection.team_id;
            let store = &self.state.store;
            // The CLI sign-ins approved from the ended session go with it.
            match (&request.sid, &request.subject) {
                (Some(sid), _) => {
                    ended += store.revoke_sessions_by_sid(team, sid).await?;
                    cli_logins += store.revoke_cli_grants_by_sid(team, sid).await?;
                }
                (None, Some(sub)) => {
                    ended += store.revoke_sessions_by_sub(team, sub).await?;
                    cli_logins += store.revoke_cli_grants_by_sub(team, sub).await?;
                }
                (None, None) => {}
            }
        }
        tracing::info!(issuer = %request.issuer, sessions = ended, cli_logins, "back-channel logout");
        Ok(())
    }
}

/// The value of a cookie in the request.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn cookie(state: &AppState, name: &str, value: &str, path: &str, max_age: i64) -> String {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

fn header_value(s: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(s).map_err(|e| ApiError::Internal(Box::new(e)))
}
