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
use butterfly_core::store::ApiKeyStore;
use butterfly_core::token::RawToken;
use butterfly_core::{MemberId, Permission, Role, TeamId};
use uuid::Uuid;

use crate::app::AppState;
use crate::error::ApiError;

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
    /// The API key used.
    pub api_key_id: Uuid,
    /// The member the key acts for, if any.
    pub member_id: Option<MemberId>,
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
    // Read the header before awaiting: a `&Request` held across an await would make
    // this future non-Send (the body is not Sync).
    let presented = bearer_token(&req);
    match authorize(&state, access, presented).await {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

async fn authorize(
    state: &AppState,
    access: Access,
    presented: Result<RawToken, ApiError>,
) -> Result<Principal, ApiError> {
    let presented = presented?;
    let key = state
        .store
        .authenticate_api_key(&presented)
        .await?
        .ok_or(ApiError::Unauthorized("invalid or revoked API key"))?;
    if let Access::Requires(permission) = access
        && !key.role.allows(permission)
    {
        return Err(ApiError::Forbidden {
            permission,
            role: key.role,
        });
    }
    Ok(Principal {
        team_id: key.team_id,
        role: key.role,
        api_key_id: key.id,
        member_id: key.member_id,
    })
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
