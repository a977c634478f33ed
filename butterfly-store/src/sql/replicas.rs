//! What replicas share to validate SSO tokens as one: used token ids and JWKS refetch
//! claims (see [`ReplicaCoordination`]).

use butterfly_core::store::{ReplicaCoordination, StoreError};
use chrono::{DateTime, TimeDelta, Utc};

use super::{SqlStore, backend_error, rows};

#[async_trait::async_trait]
impl ReplicaCoordination for SqlStore {
    async fn first_use(
        &self,
        scope: &str,
        token_id: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = rows::to_millis(now);
        // Forget expired ids first, so an id whose record expired can be used again
        // (the validator's time checks refuse such a token anyway).
        sqlx::query("DELETE FROM used_token_ids WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(backend_error)?;
        // One statement decides: of two replicas inserting the same id at once, the
        // primary key lets exactly one row in.
        let done = sqlx::query(
            "INSERT INTO used_token_ids (scope, token_id, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (scope, token_id) DO NOTHING",
        )
        .bind(scope)
        .bind(token_id)
        .bind(rows::to_millis(expires_at))
        .execute(&self.pool)
        .await
        .map_err(backend_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn claim_refresh(
        &self,
        resource: &str,
        now: DateTime<Utc>,
        interval: TimeDelta,
    ) -> Result<bool, StoreError> {
        let now_ms = rows::to_millis(now);
        let cutoff = rows::to_millis(now - interval);
        // Insert, or take over a claim older than the interval; a fresher claim makes the
        // update's condition false and no row changes.
        let done = sqlx::query(
            "INSERT INTO refresh_claims (resource, claimed_at) VALUES ($1, $2) \
             ON CONFLICT (resource) DO UPDATE SET claimed_at = excluded.claimed_at \
             WHERE refresh_claims.claimed_at <= $3",
        )
        .bind(resource)
        .bind(now_ms)
        .bind(cutoff)
        .execute(&self.pool)
        .await
        .map_err(backend_error)?;
        Ok(done.rows_affected() == 1)
    }
}
