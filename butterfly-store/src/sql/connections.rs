//! Backup connections: a team's access to an identity provider org.

use butterfly_core::TeamId;
use butterfly_core::store::{BackupConnection, ConnectionStore, StoreError};
use serde_json::Value;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::rows;
use super::{SqlStore, backend_error, write_error};

const COLUMNS: &str = "id, team_id, name, provider, org_url, client_id, key_id, \
                       private_key_sealed, scopes, rate_limit_percent, created_at, last_test";

fn connection(row: &AnyRow) -> Result<BackupConnection, StoreError> {
    let sealed = rows::text(row, "private_key_sealed")?;
    let scopes = rows::opt_json(row, "scopes")?
        .map(serde_json::from_value::<Vec<String>>)
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("column scopes: {e}")))?;
    let percent: i64 = rows::get(row, "rate_limit_percent")?;
    Ok(BackupConnection {
        id: rows::uuid(row, "id")?,
        team_id: rows::team_id(row, "team_id")?,
        name: rows::text(row, "name")?,
        provider: rows::text(row, "provider")?,
        org_url: rows::text(row, "org_url")?,
        client_id: rows::text(row, "client_id")?,
        key_id: rows::opt_text(row, "key_id")?,
        private_key_sealed: hex::decode(&sealed)
            .map_err(|_| StoreError::Corrupt("sealed private key is not hex".into()))?,
        scopes,
        rate_limit_percent: u8::try_from(percent)
            .map_err(|e| StoreError::Corrupt(format!("column rate_limit_percent: {e}")))?,
        created_at: rows::time(row, "created_at")?,
        last_test: rows::opt_json(row, "last_test")?,
    })
}

impl ConnectionStore for SqlStore {
    async fn create_connection(
        &self,
        connection: BackupConnection,
    ) -> Result<BackupConnection, StoreError> {
        let mut connection = connection;
        connection.created_at = rows::truncate_millis(self.clock.now())?;
        let scopes = connection
            .scopes
            .as_ref()
            .map(|s| Value::from(s.clone()).to_string());
        sqlx::query(
            "INSERT INTO backup_connections (id, team_id, name, provider, org_url, client_id, \
             key_id, private_key_sealed, scopes, rate_limit_percent, created_at, last_test) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(connection.id.to_string())
        .bind(connection.team_id.to_string())
        .bind(&connection.name)
        .bind(&connection.provider)
        .bind(&connection.org_url)
        .bind(&connection.client_id)
        .bind(connection.key_id.as_deref())
        .bind(hex::encode(&connection.private_key_sealed))
        .bind(scopes)
        .bind(i64::from(connection.rate_limit_percent))
        .bind(rows::to_millis(connection.created_at))
        .bind(connection.last_test.as_ref().map(Value::to_string))
        .execute(&self.pool)
        .await
        .map_err(write_error("connection", "team"))?;
        Ok(connection)
    }

    async fn list_connections(&self, team: TeamId) -> Result<Vec<BackupConnection>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM backup_connections WHERE team_id = $1 ORDER BY name, id"
        );
        sqlx::query(&sql)
            .bind(team.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(backend_error)?
            .iter()
            .map(connection)
            .collect()
    }

    async fn connection(
        &self,
        team: TeamId,
        id: Uuid,
    ) -> Result<Option<BackupConnection>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM backup_connections WHERE team_id = $1 AND id = $2");
        sqlx::query(&sql)
            .bind(team.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?
            .as_ref()
            .map(connection)
            .transpose()
    }

    async fn delete_connection(&self, team: TeamId, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM backup_connections WHERE team_id = $1 AND id = $2")
            .bind(team.to_string())
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn record_connection_test(
        &self,
        team: TeamId,
        id: Uuid,
        outcome: Value,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE backup_connections SET last_test = $3 WHERE team_id = $1 AND id = $2",
        )
        .bind(team.to_string())
        .bind(id.to_string())
        .bind(outcome.to_string())
        .execute(&self.pool)
        .await
        .map_err(backend_error)?;
        Ok(done.rows_affected() > 0)
    }
}
