//! Git export settings: "export to Git after every backup", per backup connection.

use butterfly_core::TeamId;
use butterfly_core::store::{GitExportSetting, GitExportStore, StoreError};
use serde_json::Value;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::rows;
use super::{SqlStore, backend_error, write_error};

const COLUMNS: &str = "connection_id, team_id, enabled, remote_url, branch, credential_kind, \
                       token_username, credential_sealed, ssh_host_key, updated_at, last_outcome";

fn setting(row: &AnyRow) -> Result<GitExportSetting, StoreError> {
    let sealed = rows::text(row, "credential_sealed")?;
    Ok(GitExportSetting {
        connection_id: rows::uuid(row, "connection_id")?,
        team_id: rows::team_id(row, "team_id")?,
        enabled: rows::boolean(row, "enabled")?,
        remote_url: rows::text(row, "remote_url")?,
        branch: rows::text(row, "branch")?,
        credential_kind: rows::text(row, "credential_kind")?,
        token_username: rows::opt_text(row, "token_username")?,
        credential_sealed: hex::decode(&sealed)
            .map_err(|_| StoreError::Corrupt("sealed Git credential is not hex".into()))?,
        ssh_host_key: rows::opt_text(row, "ssh_host_key")?,
        updated_at: rows::time(row, "updated_at")?,
        last_outcome: rows::opt_json(row, "last_outcome")?,
    })
}

impl GitExportStore for SqlStore {
    async fn put_git_export(
        &self,
        setting: GitExportSetting,
    ) -> Result<GitExportSetting, StoreError> {
        let mut setting = setting;
        setting.updated_at = rows::truncate_millis(self.clock.now())?;
        // The connection must be the team's: the foreign key alone would accept another
        // team's connection id.
        let owned: Option<String> =
            sqlx::query_scalar("SELECT id FROM backup_connections WHERE team_id = $1 AND id = $2")
                .bind(setting.team_id.to_string())
                .bind(setting.connection_id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend_error)?;
        if owned.is_none() {
            return Err(StoreError::NotFound("connection"));
        }
        sqlx::query(
            "INSERT INTO git_exports (connection_id, team_id, enabled, remote_url, branch, \
             credential_kind, token_username, credential_sealed, ssh_host_key, updated_at, \
             last_outcome) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL) \
             ON CONFLICT (connection_id) DO UPDATE SET enabled = excluded.enabled, \
             remote_url = excluded.remote_url, branch = excluded.branch, \
             credential_kind = excluded.credential_kind, \
             token_username = excluded.token_username, \
             credential_sealed = excluded.credential_sealed, \
             ssh_host_key = excluded.ssh_host_key, updated_at = excluded.updated_at",
        )
        .bind(setting.connection_id.to_string())
        .bind(setting.team_id.to_string())
        .bind(rows::flag(setting.enabled))
        .bind(&setting.remote_url)
        .bind(&setting.branch)
        .bind(&setting.credential_kind)
        .bind(setting.token_username.as_deref())
        .bind(hex::encode(&setting.credential_sealed))
        .bind(setting.ssh_host_key.as_deref())
        .bind(rows::to_millis(setting.updated_at))
        .execute(&self.pool)
        .await
        .map_err(write_error("git export", "connection"))?;
        self.git_export(setting.team_id, setting.connection_id)
            .await?
            .ok_or(StoreError::NotFound("connection"))
    }

    async fn git_export(
        &self,
        team: TeamId,
        connection: Uuid,
    ) -> Result<Option<GitExportSetting>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM git_exports WHERE team_id = $1 AND connection_id = $2");
        sqlx::query(&sql)
            .bind(team.to_string())
            .bind(connection.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?
            .as_ref()
            .map(setting)
            .transpose()
    }

    async fn delete_git_export(&self, team: TeamId, connection: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM git_exports WHERE team_id = $1 AND connection_id = $2")
            .bind(team.to_string())
            .bind(connection.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn record_git_export_outcome(
        &self,
        team: TeamId,
        connection: Uuid,
        outcome: Value,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE git_exports SET last_outcome = $3 WHERE team_id = $1 AND connection_id = $2",
        )
        .bind(team.to_string())
        .bind(connection.to_string())
        .bind(outcome.to_string())
        .execute(&self.pool)
        .await
        .map_err(backend_error)?;
        Ok(done.rows_affected() > 0)
    }
}
