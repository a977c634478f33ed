//! API keys and SCIM bearer tokens: stored as hashes, shown once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

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

/// How long a verified SCIM token is trusted without asking the database again.
///
/// Every SCIM request presents its bearer token; checking it in the database costs more
/// than many SCIM requests themselves. A revocation through the same [`SqlStore`] (the
/// server's `DELETE /api/v1/scim-tokens/{id}`) empties the cache of that token at once;
/// a revocation made by another process on the same database (another replica, the
/// CLI) is seen here within this long.
pub const SCIM_TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);

/// Verified tokens kept at most: a deployment has a handful of SCIM tokens, so this only
/// bounds memory; past it the cache drops what expired, then everything.
const SCIM_TOKEN_CACHE_CAPACITY: usize = 1024;

/// SCIM tokens that authenticated recently, by the hex SHA-256 of their secret.
///
/// Only successes are kept: a wrong token always asks the database (and is audited by
/// the caller), so guessing fills nothing. Times come from the store's [`Clock`], so
/// tests move the TTL along without sleeping.
///
/// [`Clock`]: butterfly_core::Clock
#[derive(Debug)]
pub(crate) struct ScimTokenCache {
    ttl: chrono::Duration,
    state: Mutex<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    /// Bumped by every revocation, so a lookup that read the database before the
    /// revocation committed cannot put the revoked token back afterwards.
    generation: u64,
    entries: HashMap<String, (ScimToken, DateTime<Utc>)>,
}

impl ScimTokenCache {
    /// A cache keeping verified tokens for `ttl` (zero: keep nothing).
    pub(crate) fn new(ttl: Duration) -> ScimTokenCache {
        ScimTokenCache {
            ttl: chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX),
            state: Mutex::new(CacheState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        // The state is a plain map: a panic elsewhere cannot leave it half-changed in a
        // way that matters (at worst a token is checked in the database again).
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The token verified under `hash` if it was verified less than the TTL ago, and
    /// the generation to hand back to [`insert`](Self::insert) after a database check.
    fn get(&self, hash: &str, now: DateTime<Utc>) -> (Option<ScimToken>, u64) {
        let state = self.lock();
        let hit = state
            .entries
            .get(hash)
            .filter(|(_, verified)| now >= *verified && now - *verified < self.ttl)
            .map(|(token, _)| token.clone());
        (hit, state.generation)
    }

    /// Remember `token` as verified at `now`, unless a revocation happened since the
    /// lookup that read `generation`.
    fn insert(&self, hash: String, token: ScimToken, now: DateTime<Utc>, generation: u64) {
        if self.ttl <= chrono::Duration::zero() {
            return;
        }
        let mut state = self.lock();
        if state.generation != generation {
            return;
        }
        if state.entries.len() >= SCIM_TOKEN_CACHE_CAPACITY && !state.entries.contains_key(&hash) {
            let ttl = self.ttl;
            state
                .entries
                .retain(|_, (_, verified)| now >= *verified && now - *verified < ttl);
            if state.entries.len() >= SCIM_TOKEN_CACHE_CAPACITY {
                state.entries.clear();
            }
        }
        state.entries.insert(hash, (token, now));
    }

    /// Forget token `id` of `team`: called after its revocation was written.
    fn revoke(&self, team: TeamId, id: Uuid) {
        let mut state = self.lock();
        state.generation = state.generation.wrapping_add(1);
        state
            .entries
            .retain(|_, (token, _)| !(token.id == id && token.team_id == team));
    }
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
        let revoked = self.revoke_secret(SecretTable::ScimTokens, team, id).await;
        // Also when the UPDATE failed: it may have committed before the error came back,
        // and forgetting a valid token only costs one database check.
        self.scim_tokens.revoke(team, id);
        revoked
    }

    async fn authenticate_scim_token(
        &self,
        presented: &RawToken,
    ) -> Result<Option<ScimToken>, StoreError> {
        let hash = presented.hash().to_hex();
        let now = self.clock.now();
        let (hit, generation) = self.scim_tokens.get(&hash, now);
        if let Some(token) = hit {
            return Ok(Some(token));
        }
        let sql = format!(
            "SELECT {SCIM_TOKEN_COLUMNS} FROM scim_tokens \
             WHERE token_hash = $1 AND revoked_at IS NULL"
        );
        let Some(row) = sqlx::query(&sql)
            .bind(&hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?
        else {
            return Ok(None);
        };
        if !stored_hash_matches(&row, presented)? {
            return Ok(None);
        }
        let token = rows::scim_token(&row)?;
        self.scim_tokens
            .insert(hash, token.clone(), now, generation);
        Ok(Some(token))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn token(team: TeamId) -> ScimToken {
        ScimToken {
            id: Uuid::new_v4(),
            team_id: team,
            name: "okta".into(),
            hint: "bfs_scim_ab".into(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            revoked_at: None,
        }
    }

    const NOW: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH;

    #[test]
    fn a_lookup_that_raced_a_revocation_does_not_cache_the_token() {
        let cache = ScimTokenCache::new(Duration::from_secs(5));
        let team = TeamId::new_random();
        let t = token(team);
        // The lookup misses and reads the database (token still live there)...
        let (hit, generation) = cache.get("h", NOW);
        assert_eq!(hit, None);
        // ... the revocation commits and tells the cache ...
        cache.revoke(team, t.id);
        // ... and the lookup's late answer is not kept.
        cache.insert("h".into(), t.clone(), NOW, generation);
        assert_eq!(cache.get("h", NOW).0, None);

        let (_, generation) = cache.get("h", NOW);
        cache.insert("h".into(), t.clone(), NOW, generation);
        assert_eq!(cache.get("h", NOW).0, Some(t.clone()));
        // Revoking another team's token of the same id leaves this one.
        cache.revoke(TeamId::new_random(), t.id);
        assert_eq!(cache.get("h", NOW).0, Some(t.clone()));
        cache.revoke(team, t.id);
        assert_eq!(cache.get("h", NOW).0, None);
    }

    #[test]
    fn entries_expire_after_the_ttl_and_a_clock_going_back_misses() {
        let cache = ScimTokenCache::new(Duration::from_secs(5));
        let t = token(TeamId::new_random());
        let (_, generation) = cache.get("h", NOW);
        cache.insert("h".into(), t.clone(), NOW, generation);
        let later = |ms| NOW + chrono::Duration::milliseconds(ms);
        assert_eq!(cache.get("h", later(4_999)).0, Some(t));
        assert_eq!(cache.get("h", later(5_000)).0, None);
        assert_eq!(cache.get("h", later(-1)).0, None);
    }

    #[test]
    fn a_zero_ttl_keeps_nothing_and_the_size_stays_bounded() {
        let off = ScimTokenCache::new(Duration::ZERO);
        let t = token(TeamId::new_random());
        off.insert("h".into(), t.clone(), NOW, 0);
        assert_eq!(off.get("h", NOW).0, None);

        let cache = ScimTokenCache::new(Duration::from_secs(5));
        for i in 0..=SCIM_TOKEN_CACHE_CAPACITY {
            cache.insert(format!("h{i}"), t.clone(), NOW, 0);
        }
        assert!(cache.lock().entries.len() <= SCIM_TOKEN_CACHE_CAPACITY);
        let newest = format!("h{SCIM_TOKEN_CACHE_CAPACITY}");
        assert_eq!(cache.get(&newest, NOW).0, Some(t));
    }
}
