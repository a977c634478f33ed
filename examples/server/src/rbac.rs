//! Authentication and the permission matrix, enforced on every API route.
//!
//! Routes are declared with [`ApiRoutes::route`], which takes the [`Access`] the route
//! needs alongside its handler: a route cannot be added without saying who may call
//! it. The guard authenticates the bearer API key, checks the role against the
//! permission, and hands the handler a [`Principal`] scoped to the key's team.

use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use axum::{Extension, Router};
use butterfly_core::store::{ApiKeyStore, MemberStore, SessionStore};
use butterfly_core::token::RawToken;
use butterfly_core::{MemberId, Permission, Role, TeamId};
use uuid::Uuid;

use crate::app::AppState;
use crate::error::ApiError;
use crate::routes::audit;
use crate::sso::{SESSION_COOKIE, cookie_value};
use butterfly_core::store::AuditOutcome;
use butterfly_store::sql::AuditContext;
use chrono::Utc;
use serde_json::json;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Any valid API key of the team.
    Authenticated,
    /// A key whose role holds this permission.
    Requires(Permission),
}

/// The authenticated caller, scoped to one team.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The caller's team: every handler reads and writes this team only.
    pub team_id: TeamId,
    /// The caller's role.
    pub role: Role,
    /// The API key used, when not signed in with a session.
    pub api_key_id: Option<Uuid>,
    /// The member the key acts for, if any.
    pub member_id: Option<MemberId>,
    /// The member who answers for this caller: the member itself, or the creator of the
    /// service key used. Recorded as the owner of what the caller creates.
    pub answerable: Option<MemberId>,
}

/// The handler-side extractor for the caller.
pub type Caller = Extension<Principal>;

/// A router under construction whose every route carries an [`Access`].
#[derive(Debug)]
pub struct ApiRoutes {
    state: AppState,
    router: Router<AppState>,
    declared: Vec<(MethodFilter, &'static str, Access)>,
}

impl ApiRoutes {
    /// Start with no routes.
    pub fn new(state: AppState) -> Self {
        ApiRoutes {
            state,
            router: Router::new(),
            declared: Vec::new(),
        }
    }

    /// Add `handler` for `method` at `path`, callable with `access`.
    #[must_use]
    pub fn route<H, T>(
        mut self,
        method: MethodFilter,
        path: &'static str,
        access: Access,
        handler: H,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let guarded = on(method, handler).route_layer(middleware::from_fn_with_state(
            (self.state.clone(), access),
            enforce,
        ));
        self.router = self.router.route(path, guarded);
        self.declared.push((method, path, access));
        self
    }

    /// Every declared (method, path, access), for documentation and tests.
    pub fn declared(&self) -> &[(MethodFilter, &'static str, Access)] {
        &self.declared
    }

    /// The finished router.
    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}

async fn enforce(
    State((state, access)): State<(AppState, Access)>,
    mut req: Request,
    next: Next,
) -> Response {
    // Read the credentials before awaiting: a `&Request` held across an await would
    // make this future non-Send (the body is not Sync).
    let credential = credential(&req);
    match authorize(&state, access, credential).await {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(refused) => {
            audit_refusal(&state, &refused).await;
            refused.into_response()
        }
    }
}

/// What the caller presented: an API key in `Authorization: Bearer`, or else a
/// session cookie from an SSO sign-in.
enum Credential {
    ApiKey(RawToken),
    Session(RawToken),
    /// An access token from `butterfly login` (RFC 8628), acting for its member.
    CliToken(RawToken),
}

fn credential(req: &Request) -> Result<Credential, ApiError> {
    if req.headers().contains_key(AUTHORIZATION) {
        return bearer_token(req).map(|token| {
            if crate::cli_login::is_cli_access_token(token.secret()) {
                Credential::CliToken(token)
            } else {
                Credential::ApiKey(token)
            }
        });
    }
    cookie_value(req.headers(), SESSION_COOKIE)
        .filter(|v| !v.is_empty())
        .map(|v| Credential::Session(RawToken::from_presented(v)))
        .ok_or(ApiError::Unauthorized(
            "missing `Authorization: Bearer <API key>` header or session cookie",
        ))
}

/// Why a request was refused before its handler.
enum Refusal {
    /// No valid credential.
    Unauthenticated(ApiError),
    /// A valid caller of `team` without the permission.
    Forbidden { team: TeamId, error: ApiError },
    /// The store failed.
    Other(ApiError),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Unauthenticated(e)
            | Refusal::Forbidden { error: e, .. }
            | Refusal::Other(e) => e.into_response(),
        }
    }
}

async fn authorize(
    state: &AppState,
    access: Access,
    credential: Result<Credential, ApiError>,
) -> Result<Principal, Refusal> {
    let (principal, actor) = match credential.map_err(Refusal::Unauthenticated)? {
        Credential::ApiKey(presented) => {
            let key = state
                .store
                .authenticate_api_key(&presented)
                .await
                .map_err(|e| Refusal::Other(e.into()))?
                .ok_or(Refusal::Unauthenticated(ApiError::Unauthorized(
                    "invalid or revoked API key",
                )))?;
            (
                Principal {
                    team_id: key.team_id,
                    role: key.role,
                    api_key_id: Some(key.id),
                    member_id: key.member_id,
                    answerable: key.member_id.or(key.created_by),
                },
                format!("api_key:{}", key.id),
            )
        }
        Credential::CliToken(presented) => {
            // Checked on every request like a session: a token of a revoked sign-in
            // (logout, back-channel logout) or of a suspended member fails at once.
            let ended = || {
                Refusal::Unauthenticated(ApiError::Unauthorized(
                    "CLI sign-in expired or revoked: run `butterfly login` again",
                ))
            };
            let signed_in = state
                .store
                .authenticate_cli_access_token(&presented, Utc::now())
                .await
                .map_err(|e| Refusal::Other(e.into()))?
                .ok_or_else(ended)?;
            let member = state
                .store
                .member(signed_in.team_id, signed_in.member_id)
                .await
                .map_err(|e| Refusal::Other(e.into()))?
                .filter(|m| m.active)
                .ok_or_else(ended)?;
            (
                Principal {
                    team_id: member.team_id,
                    role: member.role,
                    api_key_id: None,
                    member_id: Some(member.id),
                    answerable: Some(member.id),
                },
                format!("member:{}", member.id),
            )
        }
        Credential::Session(presented) => {
            // Looked up on every request, so a session ended by logout, suspension or
            // back-channel logout fails on the very next one.
            let ended = || {
                Refusal::Unauthenticated(ApiError::Unauthorized(
                    "session expired or ended: sign in again",
                ))
            };
            let session = state
                .store
                .session_by_token(&presented, Utc::now())
                .await
                .map_err(|e| Refusal::Other(e.into()))?
                .ok_or_else(ended)?;
            let member = state
                .store
                .member(session.team_id, session.member_id)
                .await
                .map_err(|e| Refusal::Other(e.into()))?
                .filter(|m| m.active)
                .ok_or_else(ended)?;
            (
                Principal {
                    team_id: member.team_id,
                    role: member.role,
                    api_key_id: None,
                    member_id: Some(member.id),
                    answerable: Some(member.id),
                },
                format!("member:{}", member.id),
            )
        }
    };
    // Every audit line this request writes from here on names the caller.
    AuditContext::set_actor(actor);
    if let Access::Requires(permission) = access
        && !principal.role.allows(permission)
    {
        return Err(Refusal::Forbidden {
            team: principal.team_id,
            error: ApiError::Forbidden {
                permission,
                role: principal.role,
            },
        });
    }
    Ok(principal)
}

/// One audit line per refused request: `auth.failed` (no valid credential; no team is
/// known) or `auth.forbidden` (a valid caller without the permission). The presented
/// credential is never recorded.
async fn audit_refusal(state: &AppState, refused: &Refusal) {
    match refused {
        Refusal::Unauthenticated(_) => {
            audit::record(
                state,
                None,
                "auth.failed",
                None,
                AuditOutcome::Denied,
                json!({"via": "api"}),
            )
            .await;
        }
        Refusal::Forbidden { team, error } => {
            let detail = match error {
                ApiError::Forbidden { permission, role } => {
                    json!({"permission": permission, "role": role})
                }
                _ => json!({}),
            };
            audit::record(
                state,
                Some(*team),
                "auth.forbidden",
                None,
                AuditOutcome::Denied,
                detail,
            )
            .await;
        }
        Refusal::Other(_) => {}
    }
}

fn bearer_token(req: &Request) -> Result<RawToken, ApiError> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .ok_or(ApiError::Unauthorized(
            "missing `Authorization: Bearer <API key>` header",
        ))?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::Unauthorized("malformed Authorization header"))?;
    let (scheme, token) = value.split_once(' ').ok_or(ApiError::Unauthorized(
        "expected `Authorization: Bearer <API key>`",
    ))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthorized(
            "expected `Authorization: Bearer <API key>`",
        ));
    }
    Ok(RawToken::from_presented(token.trim()))
}
