//! SCIM provisioning for teams: `butterfly-scim`'s service mounted at `/scim/v2`, with
//! team members kept in step with SCIM Users by
//! [`MemberLinkedStore`] (in `butterfly-store`,
//! so importers and the SCIM seeder write exactly what this server writes), and SCIM
//! bearer tokens authenticating as their team.

use std::sync::Arc;

use butterfly_core::TeamId;
use butterfly_core::store::{AuditOutcome, AuditStore, ScimTokenStore};
use butterfly_core::token::RawToken;
use butterfly_scim::axum::TokenAuthenticator;
use butterfly_store::SqlStore;
pub use butterfly_store::sql::MemberLinkedStore;
use butterfly_store::sql::{AuditContext, audit_entry};
use serde_json::json;

/// SCIM bearer tokens (`bfs_scim_...`) authenticate as their team.
#[derive(Debug, Clone)]
pub struct ScimTokens(pub Arc<SqlStore>);

impl TokenAuthenticator for ScimTokens {
    async fn authenticate(&self, token: &str) -> Option<TeamId> {
        match self
            .0
            .authenticate_scim_token(&RawToken::from_presented(token))
            .await
        {
            Ok(Some(found)) => {
                // SCIM member writes below name this token as their actor.
                AuditContext::set_actor(format!("scim_token:{}", found.id));
                Some(found.team_id)
            }
            Ok(None) => {
                let entry = audit_entry(
                    None,
                    "auth.failed",
                    None,
                    AuditOutcome::Denied,
                    json!({"via": "scim"}),
                );
                if let Err(e) = self.0.record_audit(entry).await {
                    tracing::error!(error = %e, "cannot write the audit trail");
                }
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "SCIM token lookup failed");
                None
            }
        }
    }
}
