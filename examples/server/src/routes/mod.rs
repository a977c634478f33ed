//! Thin HTTP handlers. Each module is one resource of `/api/v1`.

pub mod api_keys;
pub mod audit;
pub mod backups;
pub mod connections;
pub mod contents;
pub mod git_export;
pub mod health;
pub mod members;
pub mod notifications;
pub mod reports;
pub mod restores;
pub mod retention;
pub mod schedules;
pub mod scim_config;
pub mod scim_tokens;
pub mod sso_config;
pub mod status;
pub mod team;

use axum::http::StatusCode;
use axum::routing::MethodFilter;
use butterfly_core::Permission as P;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::ApiError;
use crate::rbac::{Access, ApiRoutes};

/// Every `/api/v1` route with the access it needs. This table is the RBAC policy.
pub fn api(state: AppState) -> ApiRoutes {
    use Access::{Authenticated, Requires};
    const GET: MethodFilter = MethodFilter::GET;
    const POST: MethodFilter = MethodFilter::POST;
    const PATCH: MethodFilter = MethodFilter::PATCH;
    const DELETE: MethodFilter = MethodFilter::DELETE;
    const PUT: MethodFilter = MethodFilter::PUT;
    ApiRoutes::new(state)
        .route(GET, "/me", Authenticated, team::me)
        .route(GET, "/team", Authenticated, team::show)
        .route(GET, "/members", Requires(P::ViewTeamMembers), members::list)
        .route(
            POST,
            "/members",
            Requires(P::ManageTeamSettings),
            members::create,
        )
        .route(
            GET,
            "/members/{id}",
            Requires(P::ViewTeamMembers),
            members::show,
        )
        .route(
            PATCH,
            "/members/{id}",
            Requires(P::ManageTeamSettings),
            members::update,
        )
        .route(
            DELETE,
            "/members/{id}",
            Requires(P::ManageTeamSettings),
            members::remove,
        )
        .route(GET, "/audit", Requires(P::ManageTeamSettings), audit::list)
        .route(
            GET,
            "/api-keys",
            Requires(P::ManageTeamSettings),
            api_keys::list,
        )
        .route(
            POST,
            "/api-keys",
            Requires(P::ManageTeamSettings),
            api_keys::create,
        )
        .route(
            DELETE,
            "/api-keys/{id}",
            Requires(P::ManageTeamSettings),
            api_keys::revoke,
        )
        .route(
            GET,
            "/scim-tokens",
            Requires(P::ConfigureSsoScim),
            scim_tokens::list,
        )
        .route(
            POST,
            "/scim-tokens",
            Requires(P::ConfigureSsoScim),
            scim_tokens::create,
        )
        .route(
            GET,
            "/scim/group-roles",
            Requires(P::ConfigureSsoScim),
            scim_config::show,
        )
        .route(
            PUT,
            "/scim/group-roles",
            Requires(P::ConfigureSsoScim),
            scim_config::put,
        )
        .route(GET, "/sso", Requires(P::ConfigureSsoScim), sso_config::show)
        .route(PUT, "/sso", Requires(P::ConfigureSsoScim), sso_config::put)
        .route(
            DELETE,
            "/sso",
            Requires(P::ConfigureSsoScim),
            sso_config::remove,
        )
        .route(
            POST,
            "/sso/test",
            Requires(P::ConfigureSsoScim),
            sso_config::test,
        )
        .route(
            DELETE,
            "/scim-tokens/{id}",
            Requires(P::ConfigureSsoScim),
            scim_tokens::revoke,
        )
        .route(
            GET,
            "/connections",
            Requires(P::ViewConnections),
            connections::list,
        )
        .route(
            POST,
            "/connections",
            Requires(P::ManageConnections),
            connections::create,
        )
        .route(
            GET,
            "/connections/{id}",
            Requires(P::ViewConnections),
            connections::show,
        )
        .route(
            DELETE,
            "/connections/{id}",
            Requires(P::ManageConnections),
            connections::remove,
        )
        .route(
            POST,
            "/connections/{id}/test",
            Requires(P::TestConnections),
            connections::test,
        )
        .route(GET, "/status", Requires(P::ViewBackupList), status::team)
        .route(
            GET,
            "/notifications",
            Requires(P::ManageIntegrations),
            notifications::list,
        )
        .route(
            POST,
            "/notifications",
            Requires(P::ManageIntegrations),
            notifications::create,
        )
        .route(
            DELETE,
            "/notifications/{id}",
            Requires(P::ManageIntegrations),
            notifications::remove,
        )
        .route(
            POST,
            "/notifications/{id}/test",
            Requires(P::ManageIntegrations),
            notifications::test,
        )
        .route(
            GET,
            "/connections/{id}/status",
            Requires(P::ViewBackupList),
            status::connection,
        )
        .route(
            GET,
            "/schedules",
            Requires(P::ViewConnections),
            schedules::list,
        )
        .route(
            GET,
            "/connections/{id}/schedule",
            Requires(P::ViewConnections),
            schedules::show,
        )
        .route(
            PUT,
            "/connections/{id}/schedule",
            Requires(P::EditBackupSchedules),
            schedules::put,
        )
        .route(
            DELETE,
            "/connections/{id}/schedule",
            Requires(P::EditBackupSchedules),
            schedules::remove,
        )
        .route(
            POST,
            "/connections/{id}/schedule/pause",
            Requires(P::EditBackupSchedules),
            schedules::pause,
        )
        .route(
            POST,
            "/connections/{id}/schedule/resume",
            Requires(P::EditBackupSchedules),
            schedules::resume,
        )
        .route(GET, "/backups", Requires(P::ViewBackupList), backups::list)
        .route(POST, "/backups", Requires(P::RunBackups), backups::start)
        .route(
            GET,
            "/backups/{id}",
            Requires(P::ViewBackupList),
            backups::show,
        )
        .route(
            GET,
            "/snapshots",
            Requires(P::ViewBackupList),
            backups::snapshots,
        )
        .route(
            GET,
            "/snapshots/{id}",
            Requires(P::ViewBackupList),
            backups::snapshot,
        )
        .route(
            DELETE,
            "/snapshots/{id}",
            Requires(P::DeleteBackups),
            retention::delete_snapshot,
        )
        .route(
            PUT,
            "/snapshots/{id}/hold",
            Requires(P::DeleteBackups),
            retention::hold,
        )
        .route(
            DELETE,
            "/snapshots/{id}/hold",
            Requires(P::DeleteBackups),
            retention::release,
        )
        .route(POST, "/prune", Requires(P::DeleteBackups), retention::prune)
        .route(
            GET,
            "/retention",
            Requires(P::ViewBackupList),
            retention::show,
        )
        .route(
            PUT,
            "/retention",
            Requires(P::EditBackupSchedules),
            retention::set,
        )
        .route(
            GET,
            "/snapshots/{a}/diff/{b}",
            Requires(P::ViewBackupContents),
            backups::diff,
        )
        .route(
            GET,
            "/snapshots/{id}/resources",
            Requires(P::ViewBackupContents),
            contents::list,
        )
        .route(
            GET,
            "/snapshots/{id}/resources/{kind}/{*resource_id}",
            Requires(P::ViewBackupContents),
            contents::show,
        )
        .route(
            GET,
            "/snapshots/{id}/download",
            Requires(P::DownloadBackups),
            contents::download,
        )
        .route(
            GET,
            "/snapshots/{id}/compliance",
            Requires(P::ViewComplianceReports),
            reports::compliance,
        )
        .route(
            GET,
            "/snapshots/{id}/compliance/report",
            Requires(P::ExportReports),
            reports::compliance_report,
        )
        .route(
            GET,
            "/compliance/trend",
            Requires(P::ViewComplianceReports),
            reports::compliance_trend,
        )
        .route(
            POST,
            "/connections/{id}/restore-plans",
            Requires(P::RestoreFromBackup),
            restores::plan,
        )
        .route(
            POST,
            "/connections/{id}/restores",
            Requires(P::RestoreFromBackup),
            restores::restore,
        )
        .route(
            POST,
            "/connections/{id}/syncs",
            Requires(P::RestoreFromBackup),
            restores::sync,
        )
        .route(
            GET,
            "/restores",
            Requires(P::RestoreFromBackup),
            restores::list,
        )
        .route(
            GET,
            "/restores/{id}",
            Requires(P::RestoreFromBackup),
            restores::show,
        )
        .route(
            POST,
            "/restores/{id}/undo",
            Requires(P::RestoreFromBackup),
            restores::undo,
        )
        .route(
            GET,
            "/snapshots/{id}/terraform",
            Requires(P::ManageIntegrations),
            reports::terraform,
        )
        .route(
            PUT,
            "/connections/{id}/git-export",
            Requires(P::ManageIntegrations),
            git_export::put,
        )
        .route(
            GET,
            "/connections/{id}/git-export",
            Requires(P::ManageIntegrations),
            git_export::show,
        )
        .route(
            DELETE,
            "/connections/{id}/git-export",
            Requires(P::ManageIntegrations),
            git_export::remove,
        )
}

/// A human label for a key or token: trimmed, 1 to 200 characters.
pub(crate) fn label(raw: &str) -> Result<&str, ApiError> {
    let name = raw.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::BadRequest(
            "name must be 1 to 200 characters".into(),
        ));
    }
    Ok(name)
}

/// 204 when a delete or revoke found its target, 404 naming `what` when it did not.
pub(crate) fn no_content_or_not_found(
    found: bool,
    what: &'static str,
) -> Result<StatusCode, ApiError> {
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(what))
    }
}

/// Parse an id from the path, with a JSON error rather than axum's plain-text one.
pub(crate) fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::BadRequest(format!("`{raw}` is not a valid id")))
}
