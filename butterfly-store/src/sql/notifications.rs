//! Notification channels: where a team is told about failed backups, paused schedules
//! and critical drift (a signed webhook, an e-mail over SMTP).

use butterfly_core::TeamId;
use butterfly_core::store::StoreError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::rows;
use super::{SqlStore, backend_error, write_error};

/// One of a team's notification channels.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct NotificationChannel {
    /// Identifier.
    pub id: Uuid,
    /// The team that owns it.
    pub team_id: TeamId,
    /// A name unique in the team.
    pub name: String,
    /// `webhook` or `email`.
    pub kind: String,
    /// Where to send, by kind (a URL; an SMTP relay, sender and recipients). Holds no
    /// secret.
    pub config: Value,
    /// The webhook's signing secret or the SMTP password, sealed by the caller; never
    /// serialized.
    #[serde(skip_serializing)]
    pub secret_sealed: Option<Vec<u8>>,
    /// The events it receives (`backup_failed`, `schedule_paused`, `critical_drift`).
    pub events: Vec<String>,
    /// When it was created.
    #[serde(with = "butterfly_core::rfc3339")]
    pub created_at: DateTime<Utc>,
}

impl NotificationChannel {
    /// A channel to store; its creation time is set by [`SqlStore::create_channel`].
    pub fn new(
        team_id: TeamId,
        name: impl Into<String>,
        kind: impl Into<String>,
        config: Value,
        secret_sealed: Option<Vec<u8>>,
        events: Vec<String>,
    ) -> Self {
        NotificationChannel {
            id: Uuid::new_v4(),
            team_id,
            name: name.into(),
            kind: kind.into(),
            config,
            secret_sealed,
            events,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }
}

const COLUMNS: &str = "id, team_id, name, kind, config, secret_sealed, events, created_at";

fn channel(row: &AnyRow) -> Result<NotificationChannel, StoreError> {
    let corrupt =
        |col: &str, e: &dyn std::fmt::Display| StoreError::Corrupt(format!("column {col}: {e}"));
    let config: Value =
        serde_json::from_str(&rows::text(row, "config")?).map_err(|e| corrupt("config", &e))?;
    let events: Vec<String> =
        serde_json::from_str(&rows::text(row, "events")?).map_err(|e| corrupt("events", &e))?;
    let secret_sealed = rows::opt_text(row, "secret_sealed")?
        .map(|h| hex::decode(h).map_err(|e| corrupt("secret_sealed", &e)))
        .transpose()?;
    Ok(NotificationChannel {
        id: rows::uuid(row, "id")?,
        team_id: rows::team_id(row, "team_id")?,
        name: rows::text(row, "name")?,
        kind: rows::text(row, "kind")?,
        config,
        secret_sealed,
        events,
        created_at: rows::time(row, "created_at")?,
    })
}

impl SqlStore {
    /// Add a channel; [`StoreError::Conflict`] if the team has one of that name.
    pub async fn create_channel(
        &self,
        channel: NotificationChannel,
    ) -> Result<NotificationChannel, StoreError> {
        let mut channel = channel;
        channel.created_at = rows::truncate_millis(self.clock.now())?;
        let sql = format!(
            "INSERT INTO notification_channels ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        sqlx::query(&sql)
            .bind(channel.id.to_string())
            .bind(channel.team_id.to_string())
            .bind(&channel.name)
            .bind(&channel.kind)
            .bind(channel.config.to_string())
            .bind(channel.secret_sealed.as_ref().map(hex::encode))
            .bind(Value::from(channel.events.clone()).to_string())
            .bind(rows::to_millis(channel.created_at))
            .execute(&self.pool)
            .await
            .map_err(write_error("notification channel", "team"))?;
        Ok(channel)
    }

    /// The team's channels, by name.
    pub async fn list_channels(
        &self,
        team: TeamId,
    ) -> Result<Vec<NotificationChannel>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM notification_channels WHERE team_id = $1 ORDER BY name, id"
        );
        sqlx::query(&sql)
            .bind(team.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(backend_error)?
            .iter()
            .map(channel)
            .collect()
    }

    /// Remove a channel; false if the team has no such channel.
    pub async fn delete_channel(&self, team: TeamId, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM notification_channels WHERE team_id = $1 AND id = $2")
            .bind(team.to_string())
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend_error)?;
        Ok(done.rows_affected() > 0)
    }
}
