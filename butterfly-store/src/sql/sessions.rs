//! Browser sessions, keyed by a hashed cookie value.

use butterfly_core::store::{NewSession, Session, SessionStore, StoreError};
use butterfly_core::token::{RawToken, SESSION_PREFIX};
use butterfly_core::{MemberId, TeamId};
use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use uuid::Uuid;

use super::rows::{self, SESSION_COLUMNS};
use super::tokens::stored_hash_matches;
use super::{SqlStore, backend_error, write_error};

impl SqlStore {
    /// Revoke the live sessions of `team` whose `column` equals `value`.
    ///
    /// `column` is one of this module's literals, never caller input.
    async fn revoke_sessions_where(
        &self,
        team: TeamId,
        column: &'static str,
        value: &str,
    ) -> Result<u64, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend_error)?;
        revoke_where(&mut conn, self.clock.now(), team, column, value).await
    }
}

/// Revoke the live sessions of `team` whose `column` (a literal of this module) equals
/// `value`, on `conn`.
async fn revoke_where(
    conn: &mut AnyConnection,
    now: DateTime<Utc>,
    team: TeamId,
    column: &'static str,
    value: &str,
) -> Result<u64, StoreError> {
    let sql = format!(
        "UPDATE sessions SET revoked_at = $3 \
         WHERE team_id = $1 AND {column} = $2 AND revoked_at IS NULL"
    );
    let done = sqlx::query(&sql)
        .bind(team.to_string())
        .bind(value)
        .bind(rows::to_millis(now))
        .execute(conn)
        .await
        .map_err(backend_error)?;
    Ok(done.rows_affected())
}

/// Revoke a member's live sessions on `conn` (a [`ScimWrite`](super::ScimWrite)'s
/// transaction, so a suspension and its revocations commit together).
pub(crate) async fn revoke_sessions_of_member_on(
    conn: &mut AnyConnection,
    now: DateTime<Utc>,
    team: TeamId,
    member: MemberId,
) -> Result<u64, StoreError> {
    revoke_where(conn, now, team, "member_id", &member.to_string()).await
}

impl SessionStore for SqlStore {
    async fn create_session(&self, new: NewSession) -> Result<(Session, RawToken), StoreError> {
        let cookie = RawToken::generate(SESSION_PREFIX);
        let session = Session {
            id: Uuid::new_v4(),
            team_id: new.team_id,
            member_id: new.member_id,
            idp_sid: new.idp_sid,
            idp_sub: new.idp_sub,
            created_at: rows::truncate_millis(self.clock.now())?,
            expires_at: rows::truncate_millis(new.expires_at)?,
        };
        // The foreign key is (team_id, member_id): a session cannot name a member of
        // another team.
        sqlx::query(
            "INSERT INTO sessions (id, team_id, member_id, idp_sid, idp_sub, token_hash, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(session.id.to_string())
        .bind(session.team_id.to_string())
        .bind(session.member_id.to_string())
        .bind(session.idp_sid.clone())
        .bind(session.idp_sub.clone())
        .bind(cookie.hash().to_hex())
        .bind(rows::to_millis(session.created_at))
        .bind(rows::to_millis(session.expires_at))
        .execute(&self.pool)
        .await
        .map_err(write_error("session", "member"))?;
        Ok((session, cookie))
    }

    async fn session_by_token(
        &self,
        presented: &RawToken,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        // A session is over at its expiry instant, and at once when its member is
        // suspended, whether or not anyone revoked it yet.
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s \
             JOIN members m ON m.team_id = s.team_id AND m.id = s.member_id \
             WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 \
             AND m.active = 1"
        );
        let Some(row) = sqlx::query(&sql)
            .bind(presented.hash().to_hex())
            .bind(rows::to_millis(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?
        else {
            return Ok(None);
        };
        if !stored_hash_matches(&row, presented)? {
            return Ok(None);
        }
        rows::session(&row).map(Some)
    }

    async fn revoke_session(&self, id: Uuid) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id.to_string())
                .bind(rows::to_millis(self.clock.now()))
                .execute(&self.pool)
                .await
                .map_err(backend_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn revoke_sessions_by_sid(&self, team: TeamId, sid: &str) -> Result<u64, StoreError> {
        self.revoke_sessions_where(team, "idp_sid", sid).await
    }

    async fn revoke_sessions_by_sub(&self, team: TeamId, sub: &str) -> Result<u64, StoreError> {
        self.revoke_sessions_where(team, "idp_sub", sub).await
    }

    async fn revoke_sessions_of_member(
        &self,
        team: TeamId,
        member: MemberId,
    ) -> Result<u64, StoreError> {
        self.revoke_sessions_where(team, "member_id", &member.to_string())
            .await
    }
}
