//! SCIM provisioning for teams: `butterfly-scim`'s service mounted at `/scim/v2`, with
//! team members kept in step with SCIM Users by
//! [`MemberLinkedStore`] (in `butterfly-store`,
//! so importers and the SCIM seeder write exactly what this server writes), and SCIM
//! bearer tokens authenticating as their team.

use std::sync::Arc;

use butterfly_core::TeamId;
use butterfly_core::store::ScimTokenStore;
use butterfly_core::token::RawToken;
use butterfly_scim::axum::TokenAuthenticator;
use butterfly_store::SqlStore;
pub use butterfly_store::sql::MemberLinkedStore;

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
            Ok(found) => found.map(|t| t.team_id),
            Err(e) => {
                tracing::error!(error = %e, "SCIM token lookup failed");
                None
            }
        }
    }
}
