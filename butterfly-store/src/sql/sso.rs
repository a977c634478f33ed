//! SSO connections: one per team, with the email domains routed to it.

use std::str::FromStr;

use butterfly_core::store::{SsoConnection, SsoStore, StoreError};
use butterfly_core::{Role, TeamId};
use sqlx::any::AnyRow;

use super::rows;
use super::{SqlStore, backend_error, write_error};

const COLUMNS: &str = "team_id, issuer, client_id, client_secret_sealed, default_role, updated_at";

impl SqlStore {
    async fn connection_from_row(&self, row: &AnyRow) -> Result<SsoConnection, StoreError> {
        let team_id = rows::team_id(row, "team_id")?;
        let sealed = rows::text(row, "client_secret_sealed")?;
        let role_text = rows::text(row, "default_role")?;
        let domains =
            sqlx::query("SELECT domain FROM sso_domains WHERE team_id = $1 ORDER BY domain")
                .bind(team_id.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(backend_error)?
                .iter()
                .map(|r| rows::text(r, "domain"))
                .collect::<Result<Vec<_>, _>>()?;
        Ok(SsoConnection {
            team_id,
            issuer: rows::text(row, "issuer")?,
            client_id: rows::text(row, "client_id")?,
            client_secret_sealed: hex::decode(&sealed)
                .map_err(|_| StoreError::Corrupt("sealed client secret is not hex".into()))?,
            domains,
            default_role: Role::from_str(&role_text)
                .map_err(|_| StoreError::Corrupt(format!("unknown role `{role_text}`")))?,
            updated_at: rows::time(row, "updated_at")?,
        })
    }
}

impl SsoStore for SqlStore {
    async fn put_sso_connection(
        &self,
        connection: SsoConnection,
    ) -> Result<SsoConnection, StoreError> {
        let mut connection = connection;
        connection.updated_at = rows::truncate_millis(self.clock.now())?;
        for domain in &mut connection.domains {
            *domain = domain.trim().to_ascii_lowercase();
        }
        connection.domains.sort();
        connection.domains.dedup();
        let team = connection.team_id.to_string();
        // One transaction: the connection and its domains change together or not at all.
        let mut tx = self.pool.begin().await.map_err(backend_error)?;
        sqlx::query("DELETE FROM sso_domains WHERE team_id = $1")
            .bind(&team)
            .execute(&mut *tx)
            .await
            .map_err(backend_error)?;
        sqlx::query("DELETE FROM sso_connections WHERE team_id = $1")
            .bind(&team)
            .execute(&mut *tx)
            .await
            .map_err(backend_error)?;
        sqlx::query(
            "INSERT INTO sso_connections (team_id, issuer, client_id, client_secret_sealed, default_role, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&team)
        .bind(&connection.issuer)
        .bind(&connection.client_id)
        .bind(hex::encode(&connection.client_secret_sealed))
        .bind(connection.default_role.as_str())
        .bind(rows::to_millis(connection.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(write_error("sso connection", "team"))?;
        for domain in &connection.domains {
            sqlx::query("INSERT INTO sso_domains (domain, team_id) VALUES ($1, $2)")
                .bind(domain)
                .bind(&team)
                .execute(&mut *tx)
                .await
                .map_err(write_error("sso domain", "team"))?;
        }
        tx.commit().await.map_err(backend_error)?;
        Ok(connection)
    }

    async fn sso_connection(&self, team: TeamId) -> Result<Option<SsoConnection>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM sso_connections WHERE team_id = $1");
        let row = sqlx::query(&sql)
            .bind(team.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?;
        match row {
            Some(row) => Ok(Some(self.connection_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    async fn sso_connection_for_domain(
        &self,
        domain: &str,
    ) -> Result<Option<SsoConnection>, StoreError> {
        let team = sqlx::query("SELECT team_id FROM sso_domains WHERE domain = $1")
            .bind(domain.trim().to_ascii_lowercase())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?;
        match team {
            Some(row) => self.sso_connection(rows::team_id(&row, "team_id")?).await,
            None => Ok(None),
        }
    }

    async fn sso_connections_for_issuer(
        &self,
        issuer: &str,
    ) -> Result<Vec<SsoConnection>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM sso_connections WHERE issuer = $1 ORDER BY team_id");
        let found = sqlx::query(&sql)
            .bind(issuer)
            .fetch_all(&self.pool)
            .await
            .map_err(backend_error)?;
        let mut out = Vec::with_capacity(found.len());
        for row in &found {
            out.push(self.connection_from_row(row).await?);
        }
        Ok(out)
    }

    async fn delete_sso_connection(&self, team: TeamId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sso_connections WHERE team_id = $1")
            .bind(team.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend_error)?;
        Ok(done.rows_affected() > 0)
    }
}
