//! API keys and SCIM bearer tokens: stored as hashes, shown once.

use butterfly_core::store::{ApiKey, ApiKeyStore, ScimToken, ScimTokenStore, StoreError};
use butterfly_core::token::{API_KEY_PREFIX, RawToken, SCIM_TOKEN_PREFIX, TokenHash};
use butterfly_core::{MemberId, Role, TeamId};
use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::rows::{self, API_KEY_COLUMNS, SCIM_TOKEN_COLUMNS};
use super::{SqlStore, backend_error, write_error};

/// Whether the row's stored hash matches `presented`, compared in constant time.
///
/// The row was found by its hash, so this only fails if the database compared strings
/// loosely (a collation) or was edited; checking again costs nothing and keeps the
/// decision out of the database's hands.
pub(crate) fn stored_hash_matches(row: &AnyRow, presented: &RawToken) -> Result<bool, StoreError> {
    let stored = rows::text(row, "token_hash")?;
    let hash = TokenHash::from_hex(&stored)
        .ok_or_else(|| StoreError::Corrupt("column token_hash: not a SHA-256 hex".into()))?;
    Ok(hash.verify(presented))
}

/// The tables holding hashed bearer secrets that share the revocation rule.
#[derive(Debug, Clone, Copy)]
enum SecretTable {
    ApiKeys,
    ScimTokens,
}

impl SqlStore {
    /// Mark one live secret of `team` revoked; false if absent or already revoked. The
    /// table name comes from the enum, never from input.
    async fn revoke_secret(
        &self,
        table: SecretTable,
        team: TeamId,
        id: Uuid,
    ) -> Result<bool, StoreError> {
        let sql = match table {
            SecretTable::ApiKeys => {
                "UPDATE api_keys SET revoked_at = $3 WHERE team_id = $1 AND id = $2 AND revoked_at IS NULL"
            }
            SecretTable::ScimTokens => {
                "UPDATE scim_tokens SET revoked_at = $3 WHERE team_id = $1 AND id = $2 AND revoked_at IS NULL"
            }
        };
        let done = sqlx::query(sql)
            .bind(team.to_string())
            .bind(id.to_string())
            .bind(rows::to_millis(self.clock.now()))
            .execute(&self.pool)
            .await
            .map_err(backend_error)?;
        Ok(done.rows_affected() > 0)
    }
}

impl SqlStore {
    async fn insert_api_key(
        &self,
        team: TeamId,
        name: &str,
        role: Role,
        member: Option<MemberId>,
        service: Option<&str>,
        created_by: Option<MemberId>,
    ) -> Result<(ApiKey, RawToken), StoreError> {
        let secret = RawToken::generate(API_KEY_PREFIX);
        let key = ApiKey {
            id: Uuid::new_v4(),
            team_id: team,
            member_id: member,
            service: service.map(str::to_owned),
            created_by,
            name: name.to_owned(),
            role,
            hint: secret.hint(),
            created_at: rows::truncate_millis(self.clock.now())?,
            revoked_at: None,
        };
        // The foreign key is (team_id, member_id): a member of another team is "not
        // found" here, exactly like a member that does not exist. `created_by` is a
        // record, not a reference: it stays when that member is deleted.
        sqlx::query(
            "INSERT INTO api_keys (id, team_id, member_id, service, created_by, name, role, \
             hint, token_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(key.id.to_string())
        .bind(team.to_string())
        .bind(member.map(|m| m.to_string()))
        .bind(key.service.clone())
        .bind(created_by.map(|m| m.to_string()))
        .bind(&key.name)
        .bind(role.as_str())
        .bind(&key.hint)
        .bind(secret.hash().to_hex())
        .bind(rows::to_millis(key.created_at))
        .execute(&self.pool)
        .await
        .map_err(write_error(
            "api key",
            if member.is_some() { "member" } else { "team" },
        ))?;
        Ok((key, secret))
    }
}

impl ApiKeyStore for SqlStore {
    async fn create_api_key(
        &self,
        team: TeamId,
        name: &str,
        role: Role,
        member: Option<MemberId>,
    ) -> Result<(ApiKey, RawToken), StoreError> {
        self.insert_api_key(team, name, role, member, None, member)
            .await
    }

    async fn create_service_api_key(
        &self,
        team: TeamId,
        name: &str,
        role: Role,
        service: &str,
        created_by: Option<MemberId>,
    ) -> Result<(ApiKey, RawToken), StoreError> {
        self.insert_api_key(team, name, role, None, Some(service), created_by)
            .await
    }

    async fn list_api_keys(&self, team: TeamId) -> Result<Vec<ApiKey>, StoreError> {
        let sql = format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys k WHERE k.team_id = $1 \
             ORDER BY k.created_at DESC, k.seq DESC"
        );
        sqlx::query(&sql)
            .bind(team.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(backend_error)?
            .iter()
            .map(rows::api_key)
            .collect()
    }

    async fn revoke_api_key(&self, team: TeamId, id: Uuid) -> Result<bool, StoreError> {
        self.revoke_secret(SecretTable::ApiKeys, team, id).await
    }

    async fn revoke_api_keys_of_member(
        &self,
        team: TeamId,
        member: MemberId,
    ) -> Result<u64, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend_error)?;
        revoke_api_keys_of_member_on(&mut conn, self.clock.now(), team, member).await
    }

    async fn authenticate_api_key(
        &self,
        presented: &RawToken,
    ) -> Result<Option<ApiKey>, StoreError> {
        // A key acting for a suspended member does not authenticate even if nobody
        // revoked it yet: suspension must take effect at once.
        let sql = format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys k \
             LEFT JOIN members m ON m.team_id = k.team_id AND m.id = k.member_id \
             WHERE k.token_hash = $1 AND k.revoked_at IS NULL \
             AND (k.member_id IS NULL OR m.active = 1)"
        );
        let Some(row) = sqlx::query(&sql)
            .bind(presented.hash().to_hex())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?
        else {
            return Ok(None);
        };
        if !stored_hash_matches(&row, presented)? {
            return Ok(None);
        }
        rows::api_key(&row).map(Some)
    }
}

impl ScimTokenStore for SqlStore {
    async fn create_scim_token(
        &self,
        team: TeamId,
        name: &str,
    ) -> Result<(ScimToken, RawToken), StoreError> {
        let secret = RawToken::generate(SCIM_TOKEN_PREFIX);
        let token = ScimToken {
            id: Uuid::new_v4(),
            team_id: team,
            name: name.to_owned(),
            hint: secret.hint(),
            created_at: rows::truncate_millis(self.clock.now())?,
            revoked_at: None,
        };
        sqlx::query(
            "INSERT INTO scim_tokens (id, team_id, name, hint, token_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token.id.to_string())
        .bind(team.to_string())
        .bind(&token.name)
        .bind(&token.hint)
        .bind(secret.hash().to_hex())
        .bind(rows::to_millis(token.created_at))
        .execute(&self.pool)
        .await
        .map_err(write_error("scim token", "team"))?;
        Ok((token, secret))
    }

    async fn list_scim_tokens(&self, team: TeamId) -> Result<Vec<ScimToken>, StoreError> {
        let sql = format!(
            "SELECT {SCIM_TOKEN_COLUMNS} FROM scim_tokens WHERE team_id = $1 \
             ORDER BY created_at DESC, seq DESC"
        );
        sqlx::query(&sql)
            .bind(team.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(backend_error)?
            .iter()
            .map(rows::scim_token)
            .collect()
    }

    async fn revoke_scim_token(&self, team: TeamId, id: Uuid) -> Result<bool, StoreError> {
        self.revoke_secret(SecretTable::ScimTokens, team, id).await
    }

    async fn authenticate_scim_token(
        &self,
        presented: &RawToken,
    ) -> Result<Option<ScimToken>, StoreError> {
        let sql = format!(
            "SELECT {SCIM_TOKEN_COLUMNS} FROM scim_tokens \
             WHERE token_hash = $1 AND revoked_at IS NULL"
        );
        let Some(row) = sqlx::query(&sql)
            .bind(presented.hash().to_hex())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?
        else {
            return Ok(None);
        };
        if !stored_hash_matches(&row, presented)? {
            return Ok(None);
        }
        rows::scim_token(&row).map(Some)
    }
}

/// Revoke a member's live API keys on `conn` (a [`ScimWrite`](super::ScimWrite)'s
/// transaction, so a suspension and its revocations commit together).
pub(crate) async fn revoke_api_keys_of_member_on(
    conn: &mut AnyConnection,
    now: DateTime<Utc>,
    team: TeamId,
    member: MemberId,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = $3 \
         WHERE team_id = $1 AND member_id = $2 AND revoked_at IS NULL",
    )
    .bind(team.to_string())
    .bind(member.to_string())
    .bind(rows::to_millis(now))
    .execute(conn)
    .await
    .map_err(backend_error)?;
    Ok(done.rows_affected())
}
