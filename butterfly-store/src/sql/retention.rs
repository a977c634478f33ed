//! Retention policies per team and per backup connection (the connection's overrides
//! the team's). Legal holds are kept in the snapshot repository, not here.

use butterfly_core::TeamId;
use butterfly_core::retention::RetentionPolicy;
use butterfly_core::store::StoreError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::rows;
use super::{SqlStore, backend_error, write_error};

/// A stored retention policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredRetention {
    /// The connection it applies to; `None`: the team's default.
    pub connection: Option<Uuid>,
    /// The policy.
    pub policy: RetentionPolicy,
    /// When it was last set.
    #[serde(with = "butterfly_core::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

fn connection_key(connection: Option<Uuid>) -> String {
    connection.map(|c| c.to_string()).unwrap_or_default()
}

impl SqlStore {
    /// Set (with `Some`) or remove (with `None`) the retention policy of `team`, or of
    /// one of its connections.
    pub async fn set_retention(
        &self,
        team: TeamId,
        connection: Option<Uuid>,
        policy: Option<&RetentionPolicy>,
    ) -> Result<(), StoreError> {
        let Some(policy) = policy else {
            sqlx::query("DELETE FROM retention_policies WHERE team_id = $1 AND connection_id = $2")
                .bind(team.to_string())
                .bind(connection_key(connection))
                .execute(&self.pool)
                .await
                .map_err(backend_error)?;
            return Ok(());
        };
        let json = serde_json::to_string(policy)
            .map_err(|e| StoreError::Corrupt(format!("retention policy: {e}")))?;
        sqlx::query(
            "INSERT INTO retention_policies (team_id, connection_id, policy, updated_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (team_id, connection_id) \
             DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at",
        )
        .bind(team.to_string())
        .bind(connection_key(connection))
        .bind(json)
        .bind(rows::to_millis(self.clock.now()))
        .execute(&self.pool)
        .await
        .map_err(write_error("retention policy", "team"))?;
        Ok(())
    }

    /// Every retention policy of `team`: the team's first, then per connection.
    pub async fn list_retention(&self, team: TeamId) -> Result<Vec<StoredRetention>, StoreError> {
        let found = sqlx::query(
            "SELECT connection_id, policy, updated_at FROM retention_policies \
             WHERE team_id = $1 ORDER BY connection_id",
        )
        .bind(team.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(backend_error)?;
        found
            .iter()
            .map(|row| {
                let connection = rows::text(row, "connection_id")?;
                let connection =
                    if connection.is_empty() {
                        None
                    } else {
                        Some(connection.parse::<Uuid>().map_err(|e| {
                            StoreError::Corrupt(format!("column connection_id: {e}"))
                        })?)
                    };
                let policy = serde_json::from_str(&rows::text(row, "policy")?)
                    .map_err(|e| StoreError::Corrupt(format!("column policy: {e}")))?;
                Ok(StoredRetention {
                    connection,
                    policy,
                    updated_at: rows::time(row, "updated_at")?,
                })
            })
            .collect()
    }

    /// The policy that applies to `connection`'s snapshots (or, with `None`, the team's):
    /// the connection's own, else the team's, else none (keep everything).
    pub async fn effective_retention(
        &self,
        team: TeamId,
        connection: Option<Uuid>,
    ) -> Result<Option<StoredRetention>, StoreError> {
        let all = self.list_retention(team).await?;
        let own = connection.and_then(|c| all.iter().find(|r| r.connection == Some(c)));
        Ok(own
            .or_else(|| all.iter().find(|r| r.connection.is_none()))
            .cloned())
    }
}
