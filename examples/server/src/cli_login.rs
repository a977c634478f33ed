//! `butterfly login`: the OAuth 2.0 device authorization grant (RFC 8628), and the
//! small server-rendered page where a member approves it.
//!
//! - `POST /oauth/device_authorization` (RFC 8628 section 3.1): a device code for the
//!   CLI, a user code and the verification URL for the person.
//! - `GET /device` and `POST /device`: the approval page. The member signs in with their
//!   SSO session (the page offers the SSO sign-in and comes back) or pastes one of their
//!   own API keys, checks the code, and approves or denies. The form carries a
//!   per-browser CSRF token (a `SameSite=Strict` cookie echoed in a hidden field), and a
//!   cross-origin `Origin` is refused.
//! - `POST /oauth/token` (RFC 8628 section 3.4, RFC 6749 section 6): the device code
//!   grant (`authorization_pending`, `slow_down`, `access_denied`, `expired_token`), and
//!   the refresh token grant, which rotates the refresh token.
//! - `POST /oauth/revoke` (RFC 7009): `butterfly logout`; either token revokes both.
//!
//! The access token lasts an hour and is accepted by `/api/v1` like an API key of the
//! approving member (their role, their team, checked on every request, so a suspension
//! takes effect at once). Tokens are stored as hashes (see butterfly-store's
//! `cli_login` module).

use std::num::NonZeroU32;
use std::time::Duration;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ORIGIN, SET_COOKIE};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use butterfly_core::Member;
use butterfly_core::store::{ApiKeyStore, MemberStore, SessionStore, TeamStore};
use butterfly_core::token::RawToken;
use butterfly_store::sql::{
    CLI_ACCESS_TOKEN_PREFIX, DeviceApproval, DevicePoll, IssuedTokens, RefreshOutcome,
    TokenLifetimes, display_user_code, normalize_user_code,
};
use chrono::{TimeDelta, Utc};
use serde::Deserialize;
use serde_json::json;

use crate::app::AppState;
use crate::error::ApiError;
use crate::limits::{ClientQuota, client_of, too_many};
use crate::sso::{SESSION_COOKIE, cookie_value};

/// The one client this server knows: the first-party CLI (a public client, RFC 6749
/// section 2.1, so no client secret).
pub const CLI_CLIENT_ID: &str = "butterfly-cli";
/// How long an access token lasts: an hour (the product promise).
pub const ACCESS_TOKEN_LIFETIME: TimeDelta = TimeDelta::hours(1);
/// How long a refresh token lasts unused. Each refresh rotates it, so a CLI used at
/// least once a month stays signed in.
pub const REFRESH_TOKEN_LIFETIME: TimeDelta = TimeDelta::days(30);
/// How long the person has to approve: the codes expire after this.
pub const DEVICE_CODE_LIFETIME: TimeDelta = TimeDelta::minutes(15);
/// The polling interval the CLI is told by default (RFC 8628's default); see
/// [`Config::cli_login_poll_secs`](crate::config::Config::cli_login_poll_secs).
pub const POLL_INTERVAL_SECS: u64 = 5;
/// Device authorizations started plus approval forms posted that one client address may
/// send in a burst, and how fast the allowance comes back: 10, then one every 6 s. A
/// person signs in with one of each; a script guessing user codes or API keys through
/// the form, or filling the database with device codes, gets 429s.
pub const SIGN_IN_QUOTA: ClientQuota = ClientQuota {
    burst: match NonZeroU32::new(10) {
        Some(n) => n,
        None => NonZeroU32::MIN,
    },
    refill: Duration::from_secs(6),
};
/// The CSRF cookie of the approval page.
const CSRF_COOKIE: &str = "bf_device_csrf";
/// Its prefix; only the value's equality matters.
const CSRF_PREFIX: &str = "bfs_csrf_";

const LIFETIMES: TokenLifetimes = TokenLifetimes {
    access: ACCESS_TOKEN_LIFETIME,
    refresh: REFRESH_TOKEN_LIFETIME,
};

/// Whether a bearer value is a CLI access token rather than an API key.
pub fn is_cli_access_token(bearer: &str) -> bool {
    bearer.starts_with(CLI_ACCESS_TOKEN_PREFIX)
}

/// An OAuth error answer (RFC 6749 section 5.2): `{"error", "error_description"}`.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    no_store(&mut response);
    response
}

/// Token answers must not be cached (RFC 6749 section 5.1).
fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn internal(e: impl Into<ApiError>) -> Response {
    e.into().into_response()
}

/// `POST /oauth/device_authorization` form.
#[derive(Debug, Deserialize)]
pub struct DeviceAuthorizationForm {
    /// Must be [`CLI_CLIENT_ID`].
    pub client_id: String,
    /// Ignored: a CLI sign-in carries the member's own role.
    pub scope: Option<String>,
}

/// `POST /oauth/device_authorization` (RFC 8628 section 3.1).
pub async fn device_authorization(
    State(state): State<AppState>,
    extensions: Extensions,
    Form(form): Form<DeviceAuthorizationForm>,
) -> Response {
    if let Err(wait) = state.cli_sign_ins.check(client_of(&extensions)) {
        return too_many(
            oauth_error(
                StatusCode::TOO_MANY_REQUESTS,
                "slow_down",
                "too many sign-ins from this address; try again in a few seconds",
            ),
            wait,
        );
    }
    if form.client_id != CLI_CLIENT_ID {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client_id",
        );
    }
    let (authorization, device_code) = match state
        .store
        .create_device_authorization(
            &form.client_id,
            state.cli_login_poll_secs,
            DEVICE_CODE_LIFETIME,
        )
        .await
    {
        Ok(created) => created,
        Err(e) => return internal(e),
    };
    let user_code = display_user_code(&authorization.user_code);
    let verification = format!("{}device", base(&state));
    let mut response = axum::Json(json!({
        "device_code": device_code.secret(),
        "user_code": user_code,
        "verification_uri": verification,
        "verification_uri_complete": format!("{verification}?user_code={user_code}"),
        "expires_in": DEVICE_CODE_LIFETIME.num_seconds(),
        "interval": authorization.interval_secs,
    }))
    .into_response();
    no_store(&mut response);
    response
}

/// The public URL with exactly one trailing slash.
fn base(state: &AppState) -> String {
    format!("{}/", state.public_url.as_str().trim_end_matches('/'))
}

/// `POST /oauth/token` form: the device code grant or the refresh token grant.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    /// `urn:ietf:params:oauth:grant-type:device_code` or `refresh_token`.
    pub grant_type: String,
    /// The client.
    pub client_id: Option<String>,
    /// For the device code grant.
    pub device_code: Option<String>,
    /// For the refresh token grant.
    pub refresh_token: Option<String>,
}

const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// `POST /oauth/token`.
pub async fn token(State(state): State<AppState>, Form(form): Form<TokenForm>) -> Response {
    let client_id = form.client_id.as_deref().unwrap_or_default();
    if client_id != CLI_CLIENT_ID {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client_id",
        );
    }
    let bad = |error, description| oauth_error(StatusCode::BAD_REQUEST, error, description);
    let now = Utc::now();
    match form.grant_type.as_str() {
        DEVICE_CODE_GRANT => {
            let Some(code) = form.device_code.filter(|c| !c.is_empty()) else {
                return bad("invalid_request", "missing device_code");
            };
            let poll = state
                .store
                .poll_device_authorization(
                    &RawToken::from_presented(code),
                    client_id,
                    now,
                    LIFETIMES,
                )
                .await;
            match poll {
                Ok(DevicePoll::Approved(tokens)) => token_answer(&tokens),
                Ok(DevicePoll::Pending) => bad(
                    "authorization_pending",
                    "the sign-in has not been approved yet",
                ),
                Ok(DevicePoll::SlowDown { .. }) => {
                    bad("slow_down", "polling too often: wait 5 more seconds")
                }
                Ok(DevicePoll::Denied) => bad("access_denied", "the sign-in was denied"),
                Ok(DevicePoll::Expired) => bad(
                    "expired_token",
                    "the code expired before it was approved: run `butterfly login` again",
                ),
                Ok(_) => bad("invalid_grant", "unknown or already used device code"),
                Err(e) => internal(e),
            }
        }
        "refresh_token" => {
            let Some(refresh) = form.refresh_token.filter(|c| !c.is_empty()) else {
                return bad("invalid_request", "missing refresh_token");
            };
            match state
                .store
                .refresh_cli_tokens(
                    &RawToken::from_presented(refresh),
                    client_id,
                    now,
                    LIFETIMES,
                )
                .await
            {
                Ok(RefreshOutcome::Rotated(tokens)) => token_answer(&tokens),
                Ok(RefreshOutcome::Reused) => bad(
                    "invalid_grant",
                    "this refresh token was already used, so the sign-in was revoked: run `butterfly login` again",
                ),
                Ok(_) => bad(
                    "invalid_grant",
                    "the sign-in expired or was revoked: run `butterfly login` again",
                ),
                Err(e) => internal(e),
            }
        }
        _ => bad(
            "unsupported_grant_type",
            "grant_type must be urn:ietf:params:oauth:grant-type:device_code or refresh_token",
        ),
    }
}

fn token_answer(tokens: &IssuedTokens) -> Response {
    let mut response = axum::Json(json!({
        "access_token": tokens.access_token.secret(),
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_LIFETIME.num_seconds(),
        "refresh_token": tokens.refresh_token.secret(),
    }))
    .into_response();
    no_store(&mut response);
    response
}

/// `POST /oauth/revoke` form (RFC 7009 section 2.1).
#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    /// The access or refresh token.
    pub token: String,
    /// A hint only; either kind revokes the whole sign-in.
    pub token_type_hint: Option<String>,
    /// The client.
    pub client_id: Option<String>,
}

/// `POST /oauth/revoke`: 200 whether or not the token was known (RFC 7009 section 2.2).
pub async fn revoke(State(state): State<AppState>, Form(form): Form<RevokeForm>) -> Response {
    match state
        .store
        .revoke_cli_token(&RawToken::from_presented(form.token))
        .await
    {
        Ok(revoked) => {
            tracing::info!(revoked, "CLI sign-in revocation");
            StatusCode::OK.into_response()
        }
        Err(e) => internal(e),
    }
}

/// `GET /device` query.
#[derive(Debug, Deserialize)]
pub struct DevicePageQuery {
    /// The user code, when the person followed `verification_uri_complete`.
    pub user_code: Option<String>,
}

/// `POST /device` form.
#[derive(Debug, Deserialize)]
pub struct DeviceDecisionForm {
    /// The page's CSRF token.
    pub csrf: String,
    /// The user code the person checked.
    pub user_code: String,
    /// `approve` or `deny`.
    pub decision: String,
    /// Without an SSO session: one of the member's own API keys.
    pub api_key: Option<String>,
}

/// The member signed in to this browser by SSO, with the session's provider ids.
async fn session_member(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(Member, DeviceApproval)>, ApiError> {
    let Some(raw) = cookie_value(headers, SESSION_COOKIE).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let Some(session) = state
        .store
        .session_by_token(&RawToken::from_presented(raw), Utc::now())
        .await?
    else {
        return Ok(None);
    };
    let member = state
        .store
        .member(session.team_id, session.member_id)
        .await?
        .filter(|m| m.active);
    Ok(member.map(|m| {
        let approval =
            DeviceApproval::new(m.team_id, m.id).from_sso(session.idp_sid, session.idp_sub);
        (m, approval)
    }))
}

/// `GET /device`: the approval page.
pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<DevicePageQuery>,
) -> Response {
    let signed_in = match session_member(&state, &headers).await {
        Ok(found) => found.map(|(m, _)| m),
        Err(e) => return e.into_response(),
    };
    let team = match &signed_in {
        Some(m) => state
            .store
            .team(m.team_id)
            .await
            .ok()
            .flatten()
            .map(|t| t.name),
        None => None,
    };
    // A fresh CSRF token per page view; the cookie is this browser's only.
    let csrf = RawToken::generate(CSRF_PREFIX);
    let code = query
        .user_code
        .as_deref()
        .and_then(normalize_user_code)
        .map(|c| display_user_code(&c))
        .unwrap_or_default();
    let body = approval_page(
        &state,
        signed_in.as_ref(),
        team.as_deref(),
        &code,
        csrf.secret(),
    );
    let mut response = Html(body).into_response();
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "{CSRF_COOKIE}={}; Path=/device; Max-Age=900; HttpOnly; SameSite=Strict{secure}",
        csrf.secret()
    )) {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    no_store(&mut response);
    response
}

/// `POST /device`: approve or deny.
pub async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: Extensions,
    Form(form): Form<DeviceDecisionForm>,
) -> Response {
    // Before anything is checked: the form must not become a way to guess user codes
    // or API keys at speed.
    if let Err(wait) = state.cli_sign_ins.check(client_of(&extensions)) {
        return too_many(
            result_page(
                StatusCode::TOO_MANY_REQUESTS,
                "Not approved",
                &format!(
                    "too many attempts from this address; try again in {} seconds",
                    wait.seconds()
                ),
            ),
            wait,
        );
    }
    match decide_inner(&state, &headers, form).await {
        Ok(message) => result_page(StatusCode::OK, "Done", &message),
        Err((status, message)) => result_page(status, "Not approved", &message),
    }
}

async fn decide_inner(
    state: &AppState,
    headers: &HeaderMap,
    form: DeviceDecisionForm,
) -> Result<String, (StatusCode, String)> {
    let forbidden = |m: &str| (StatusCode::FORBIDDEN, m.to_owned());
    // CSRF: the hidden field must echo this browser's SameSite=Strict cookie, and a
    // browser that says where the form came from must say it came from here.
    let cookie = cookie_value(headers, CSRF_COOKIE).unwrap_or_default();
    if cookie.is_empty()
        || !RawToken::from_presented(cookie)
            .hash()
            .verify(&RawToken::from_presented(form.csrf.as_str()))
    {
        return Err(forbidden(
            "this form expired or came from another site: open the sign-in link again",
        ));
    }
    if let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok())
        && origin != "null"
        && origin.trim_end_matches('/') != state.public_url.origin().ascii_serialization()
    {
        return Err(forbidden("cross-origin form submissions are refused"));
    }
    let code = normalize_user_code(&form.user_code).ok_or((
        StatusCode::BAD_REQUEST,
        "that is not a sign-in code: it is eight letters, like WDJB-MJHT".to_owned(),
    ))?;
    let internal = |e: ApiError| {
        tracing::error!(error = %e, "device approval failed");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error".to_owned(),
        )
    };
    let approval = match form
        .api_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        Some(key) => {
            let key = state
                .store
                .authenticate_api_key(&RawToken::from_presented(key))
                .await
                .map_err(|e| internal(e.into()))?
                .ok_or((
                    StatusCode::UNAUTHORIZED,
                    "that API key is not valid (revoked, or mistyped)".to_owned(),
                ))?;
            let member = key.member_id.ok_or(forbidden(
                "a service key acts for no person: sign in with SSO or one of your own API keys",
            ))?;
            DeviceApproval::new(key.team_id, member)
        }
        None => {
            session_member(state, headers)
                .await
                .map_err(internal)?
                .ok_or((
                    StatusCode::UNAUTHORIZED,
                    "sign in first: with your organisation's SSO, or with one of your API keys"
                        .to_owned(),
                ))?
                .1
        }
    };
    let now = Utc::now();
    let decided = if form.decision == "approve" {
        state
            .store
            .approve_device_authorization(&code, &approval, now)
            .await
    } else {
        state.store.deny_device_authorization(&code, now).await
    }
    .map_err(|e| internal(e.into()))?;
    if !decided {
        return Err((
            StatusCode::NOT_FOUND,
            "no sign-in is waiting for that code (expired, already used, or mistyped): run `butterfly login` again"
                .to_owned(),
        ));
    }
    tracing::info!(team = %approval.team_id, member = %approval.member_id, decision = %form.decision, "CLI sign-in decided");
    Ok(if form.decision == "approve" {
        "Signed in. You can close this page and go back to the terminal.".to_owned()
    } else {
        "Sign-in denied. The terminal that asked will say so.".to_owned()
    })
}

/// Escape text for HTML element content and double-quoted attributes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}\
input{font-size:1.1rem;padding:.4rem;width:100%;box-sizing:border-box;margin:.2rem 0 .8rem}\
button{font-size:1rem;padding:.5rem 1.2rem;margin-right:.5rem}\
fieldset{border:1px solid #ccc;margin:1rem 0}.code{font-family:monospace;letter-spacing:.1em}";

fn shell(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>{title} · Butterfly</title><style>{STYLE}</style></head>\
         <body><h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    )
}

fn approval_page(
    state: &AppState,
    signed_in: Option<&Member>,
    team: Option<&str>,
    code: &str,
    csrf: &str,
) -> String {
    let code_html = escape(code);
    let who = if let Some(m) = signed_in {
        format!(
            "<p id=\"signed-in\">Signed in as <strong>{}</strong>{}.</p>",
            escape(&m.email),
            team.map(|t| format!(" in team <strong>{}</strong>", escape(t)))
                .unwrap_or_default()
        )
    } else {
        let return_to = format!("/device?user_code={}", escape(code));
        format!(
            "<fieldset><legend>Sign in with SSO</legend>\
                 <form method=\"post\" action=\"{base}auth/sso/login\">\
                 <label>Work email<input name=\"email\" type=\"email\" autocomplete=\"email\"></label>\
                 <input type=\"hidden\" name=\"return_to\" value=\"{return_to}\">\
                 <button type=\"submit\">Continue with SSO</button></form></fieldset>\
                 <p>Or approve with one of your own API keys below.</p>",
            base = escape(&base(state)),
        )
    };
    let key_field = if signed_in.is_none() {
        "<label>Your API key<input name=\"api_key\" type=\"password\" autocomplete=\"off\" \
         placeholder=\"bfs_api_...\"></label>"
    } else {
        ""
    };
    shell(
        "Sign in the Butterfly CLI",
        &format!(
            "<p>A terminal running <code>butterfly login</code> is asking to act as you. \
             Approve only if you started it, and the code below matches the one it shows.</p>\
             {who}\
             <form method=\"post\" action=\"{base}device\" id=\"decision\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <label>Code shown in the terminal<input name=\"user_code\" class=\"code\" \
             value=\"{code_html}\" autocomplete=\"off\" required></label>\
             {key_field}\
             <button type=\"submit\" name=\"decision\" value=\"approve\" id=\"approve\">Approve</button>\
             <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button>\
             </form>",
            base = escape(&base(state)),
            csrf = escape(csrf),
        ),
    )
}

fn result_page(status: StatusCode, title: &str, message: &str) -> Response {
    let title = if status.is_success() { "Done" } else { title };
    let mut response = (
        status,
        Html(shell(
            title,
            &format!("<p id=\"result\">{}</p>", escape(message)),
        )),
    )
        .into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    no_store(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_element_and_attribute_contexts() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn cli_access_tokens_are_told_from_api_keys_by_prefix() {
        assert!(is_cli_access_token("bfs_cli_abc"));
        assert!(!is_cli_access_token("bfs_api_abc"));
        assert!(!is_cli_access_token("bfs_clr_abc"));
    }
}
