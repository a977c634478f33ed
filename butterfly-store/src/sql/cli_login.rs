//! CLI sign-in: the OAuth 2.0 device authorization grant (RFC 8628) and the tokens it
//! issues.
//!
//! A [`DeviceAuthorization`] is one pending `butterfly login`. The CLI keeps the device
//! code (stored here only as its SHA-256); the member approves the user code in a
//! browser. The first poll after the approval turns it into a *grant*: one sign-in of
//! one member on one machine, holding a short-lived access token and a refresh token,
//! both stored as hashes. A refresh token is good for one exchange: the exchange
//! rotates it, and presenting a used one again is taken as theft (OAuth 2.0 Security
//! BCP, section 4.14) and revokes the whole grant. Revoking a grant (logout, a
//! back-channel logout of the SSO session it was approved from, the member's suspension
//! or deletion) ends every token it issued.
//!
//! Times that decide something (expiry, the polling interval) are passed in as `now`,
//! like [`session_by_token`](butterfly_core::store::SessionStore::session_by_token).

use butterfly_core::store::StoreError;
use butterfly_core::token::RawToken;
use butterfly_core::{MemberId, TeamId};
use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng as _;
use rand::rngs::OsRng;
use sqlx::AnyConnection;
use uuid::Uuid;

use super::rows;
use super::tokens::stored_hash_matches;
use super::{SqlStore, backend_error, write_error};

/// The prefix of a device code.
pub const DEVICE_CODE_PREFIX: &str = "bfs_dev_";
/// The prefix of a CLI access token: the API tells it from an API key by this.
pub const CLI_ACCESS_TOKEN_PREFIX: &str = "bfs_cli_";
/// The prefix of a CLI refresh token.
pub const CLI_REFRESH_TOKEN_PREFIX: &str = "bfs_clr_";

/// The user code alphabet: consonants only, no vowels (no words), no look-alikes
/// (RFC 8628 section 6.1 suggests exactly this set). Eight of them carry 34.5 bits.
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LEN: usize = 8;
/// RFC 8628 section 3.5: each `slow_down` adds five seconds to the interval.
const SLOW_DOWN_STEP_SECS: i64 = 5;

/// A user code in its canonical form (eight letters, upper case, no dash), or `None` if
/// `typed` cannot be one. Dashes, spaces and case are forgiven: people type these.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)))
        .then_some(code)
}

/// A user code as shown to people: `WDJB-MJHT`.
pub fn display_user_code(code: &str) -> String {
    match code.split_at_checked(USER_CODE_LEN / 2) {
        Some((a, b)) => format!("{a}-{b}"),
        None => code.to_owned(),
    }
}

fn generate_user_code() -> String {
    let mut rng = OsRng;
    (0..USER_CODE_LEN)
        .map(|_| char::from(USER_CODE_ALPHABET[rng.gen_range(0..USER_CODE_ALPHABET.len())]))
        .collect()
}

/// A pending (or decided) `butterfly login`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceAuthorization {
    /// Its id.
    pub id: Uuid,
    /// The user code, canonical (see [`display_user_code`] to show it).
    pub user_code: String,
    /// The OAuth client that asked (the CLI's `client_id`).
    pub client_id: String,
    /// The minimum number of seconds between two polls.
    pub interval_secs: i64,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When the codes stop working.
    pub expires_at: DateTime<Utc>,
}

/// Who approves a device authorization, and from which SSO session if any.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceApproval {
    /// The approving member's team.
    pub team_id: TeamId,
    /// The approving member: the tokens act for them.
    pub member_id: MemberId,
    /// The identity provider's session id (`sid`) of the SSO session approved from.
    pub idp_sid: Option<String>,
    /// The identity provider's subject of the SSO session approved from.
    pub idp_sub: Option<String>,
}

impl DeviceApproval {
    /// An approval by `member` of `team`, with no SSO session behind it (signed in with
    /// an API key).
    pub fn new(team_id: TeamId, member_id: MemberId) -> Self {
        DeviceApproval {
            team_id,
            member_id,
            idp_sid: None,
            idp_sub: None,
        }
    }

    /// The SSO session the member approved from: a back-channel logout of it revokes
    /// the grant.
    #[must_use]
    pub fn from_sso(mut self, idp_sid: Option<String>, idp_sub: Option<String>) -> Self {
        self.idp_sid = idp_sid;
        self.idp_sub = idp_sub;
        self
    }
}

/// How long issued tokens live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLifetimes {
    /// The access token's lifetime.
    pub access: TimeDelta,
    /// The refresh token's lifetime.
    pub refresh: TimeDelta,
}

/// A freshly issued pair of tokens. The secrets exist only here; the store keeps hashes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IssuedTokens {
    /// The grant they belong to.
    pub grant_id: Uuid,
    /// The access token (`bfs_cli_...`).
    pub access_token: RawToken,
    /// When the access token expires.
    pub access_expires_at: DateTime<Utc>,
    /// The refresh token (`bfs_clr_...`).
    pub refresh_token: RawToken,
}

/// What a poll of the token endpoint with a device code finds (RFC 8628 section 3.5).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DevicePoll {
    /// Not decided yet: `authorization_pending`.
    Pending,
    /// Polled faster than the interval: `slow_down`; the interval is now this.
    SlowDown {
        /// The new interval, in seconds.
        interval_secs: i64,
    },
    /// The member approved: here are the tokens (issued once; the code is spent).
    Approved(IssuedTokens),
    /// The member refused: `access_denied`.
    Denied,
    /// The codes expired before a decision: `expired_token`.
    Expired,
    /// Unknown, or already exchanged: `invalid_grant`.
    Invalid,
}

/// What presenting a refresh token finds.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RefreshOutcome {
    /// Rotated: a new access token and a new refresh token; the old refresh token is spent.
    Rotated(IssuedTokens),
    /// A refresh token that was already exchanged: the grant is now revoked.
    Reused,
    /// Unknown, expired, revoked, or its member is suspended.
    Invalid,
}

/// The member a valid CLI access token acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CliSignIn {
    /// The grant (one `butterfly login`).
    pub grant_id: Uuid,
    /// The member's team.
    pub team_id: TeamId,
    /// The member.
    pub member_id: MemberId,
}

fn parse_uuid(s: &str, what: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(|_| StoreError::Corrupt(format!("column {what}: not a UUID")))
}

fn device_from_row(row: &sqlx::any::AnyRow) -> Result<DeviceAuthorization, StoreError> {
    Ok(DeviceAuthorization {
        id: parse_uuid(&rows::text(row, "id")?, "id")?,
        user_code: rows::text(row, "user_code")?,
        client_id: rows::text(row, "client_id")?,
        interval_secs: rows::get(row, "interval_secs")?,
        created_at: rows::time(row, "created_at")?,
        expires_at: rows::time(row, "expires_at")?,
    })
}

const DEVICE_COLUMNS: &str = "id, user_code, client_id, interval_secs, created_at, expires_at";

/// Insert one token of `grant` on `conn`.
async fn insert_token(
    conn: &mut AnyConnection,
    grant: Uuid,
    kind: &'static str,
    secret: &RawToken,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO cli_tokens (id, grant_id, kind, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(grant.to_string())
    .bind(kind)
    .bind(secret.hash().to_hex())
    .bind(rows::to_millis(now))
    .bind(rows::to_millis(expires_at))
    .execute(conn)
    .await
    .map_err(write_error("cli token", "grant"))?;
    Ok(())
}

/// A new access and refresh token for `grant`, on `conn`.
async fn issue_pair(
    conn: &mut AnyConnection,
    grant: Uuid,
    now: DateTime<Utc>,
    lifetimes: TokenLifetimes,
) -> Result<IssuedTokens, StoreError> {
    let access = RawToken::generate(CLI_ACCESS_TOKEN_PREFIX);
    let refresh = RawToken::generate(CLI_REFRESH_TOKEN_PREFIX);
    let access_expires_at = rows::truncate_millis(now + lifetimes.access)?;
    insert_token(conn, grant, "access", &access, now, access_expires_at).await?;
    insert_token(
        conn,
        grant,
        "refresh",
        &refresh,
        now,
        now + lifetimes.refresh,
    )
    .await?;
    Ok(IssuedTokens {
        grant_id: grant,
        access_token: access,
        access_expires_at,
        refresh_token: refresh,
    })
}

/// Revoke `grant` on `conn`; false if it was already revoked.
async fn revoke_grant_on(
    conn: &mut AnyConnection,
    grant: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done =
        sqlx::query("UPDATE cli_grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(grant)
            .bind(rows::to_millis(now))
            .execute(conn)
            .await
            .map_err(backend_error)?;
    Ok(done.rows_affected() > 0)
}

/// Revoke the live grants of `team` whose `column` (a literal of this module, never
/// input) equals `value`.
async fn revoke_grants_where(
    conn: &mut AnyConnection,
    now: DateTime<Utc>,
    team: TeamId,
    column: &'static str,
    value: &str,
) -> Result<u64, StoreError> {
    let sql = format!(
        "UPDATE cli_grants SET revoked_at = $3 \
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

/// Revoke a member's CLI sign-ins on `conn` (the member write's transaction, so a
/// suspension and its revocations commit together).
pub(crate) async fn revoke_cli_grants_of_member_on(
    conn: &mut AnyConnection,
    now: DateTime<Utc>,
    team: TeamId,
    member: MemberId,
) -> Result<u64, StoreError> {
    revoke_grants_where(conn, now, team, "member_id", &member.to_string()).await
}

impl SqlStore {
    /// Start a device authorization for `client_id`: returns it with the device code
    /// (the CLI's secret; only its hash is kept). Polls closer than `interval_secs`
    /// apart get `slow_down`; the codes expire after `lifetime`.
    pub async fn create_device_authorization(
        &self,
        client_id: &str,
        interval_secs: i64,
        lifetime: TimeDelta,
    ) -> Result<(DeviceAuthorization, RawToken), StoreError> {
        let now = rows::truncate_millis(self.clock.now())?;
        let device_code = RawToken::generate(DEVICE_CODE_PREFIX);
        let authorization = DeviceAuthorization {
            id: Uuid::new_v4(),
            user_code: generate_user_code(),
            client_id: client_id.to_owned(),
            interval_secs,
            created_at: now,
            expires_at: rows::truncate_millis(now + lifetime)?,
        };
        // Authorizations expired a day ago have no further use (a CLI still polling has
        // long been told `expired_token`); clearing them here keeps the table and the
        // user-code space small without a sweeper.
        sqlx::query("DELETE FROM device_authorizations WHERE expires_at <= $1")
            .bind(rows::to_millis(now - TimeDelta::days(1)))
            .execute(&self.pool)
            .await
            .map_err(backend_error)?;
        sqlx::query(
            "INSERT INTO device_authorizations (id, device_code_hash, user_code, client_id, \
             status, interval_secs, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7)",
        )
        .bind(authorization.id.to_string())
        .bind(device_code.hash().to_hex())
        .bind(&authorization.user_code)
        .bind(&authorization.client_id)
        .bind(interval_secs)
        .bind(rows::to_millis(authorization.created_at))
        .bind(rows::to_millis(authorization.expires_at))
        .execute(&self.pool)
        .await
        .map_err(write_error("device authorization", "team"))?;
        Ok((authorization, device_code))
    }

    /// The undecided, unexpired device authorization with this user code (canonical
    /// form, see [`normalize_user_code`]).
    pub async fn pending_device_authorization(
        &self,
        user_code: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DeviceAuthorization>, StoreError> {
        let sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM device_authorizations \
             WHERE user_code = $1 AND status = 'pending' AND expires_at > $2"
        );
        sqlx::query(&sql)
            .bind(user_code)
            .bind(rows::to_millis(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?
            .as_ref()
            .map(device_from_row)
            .transpose()
    }

    /// Approve the pending device authorization with this user code; false if there is
    /// none (unknown, expired, or already decided).
    pub async fn approve_device_authorization(
        &self,
        user_code: &str,
        approval: &DeviceApproval,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE device_authorizations SET status = 'approved', team_id = $2, \
             member_id = $3, idp_sid = $4, idp_sub = $5 \
             WHERE user_code = $1 AND status = 'pending' AND expires_at > $6",
        )
        .bind(user_code)
        .bind(approval.team_id.to_string())
        .bind(approval.member_id.to_string())
        .bind(approval.idp_sid.clone())
        .bind(approval.idp_sub.clone())
        .bind(rows::to_millis(now))
        .execute(&self.pool)
        .await
        .map_err(write_error("device approval", "member"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Deny the pending device authorization with this user code; false if there is none.
    pub async fn deny_device_authorization(
        &self,
        user_code: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE device_authorizations SET status = 'denied' \
             WHERE user_code = $1 AND status = 'pending' AND expires_at > $2",
        )
        .bind(user_code)
        .bind(rows::to_millis(now))
        .execute(&self.pool)
        .await
        .map_err(backend_error)?;
        Ok(done.rows_affected() > 0)
    }

    /// One poll of the token endpoint with `device_code` by `client_id` (RFC 8628
    /// section 3.4): pending, too fast, denied, expired, or (once) the tokens.
    pub async fn poll_device_authorization(
        &self,
        device_code: &RawToken,
        client_id: &str,
        now: DateTime<Utc>,
        lifetimes: TokenLifetimes,
    ) -> Result<DevicePoll, StoreError> {
        let mut tx = self.begin_write().await.map_err(backend_error)?;
        let row = sqlx::query(
            "SELECT id, client_id, status, team_id, member_id, idp_sid, idp_sub, \
             interval_secs, last_polled_at, expires_at, device_code_hash AS token_hash \
             FROM device_authorizations WHERE device_code_hash = $1",
        )
        .bind(device_code.hash().to_hex())
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend_error)?;
        let Some(row) = row else {
            return Ok(DevicePoll::Invalid);
        };
        // A device code is bound to the client it was issued to (RFC 8628 section 3.4).
        if !stored_hash_matches(&row, device_code)? || rows::text(&row, "client_id")? != client_id {
            return Ok(DevicePoll::Invalid);
        }
        let id = rows::text(&row, "id")?;
        let status = rows::text(&row, "status")?;
        if rows::time(&row, "expires_at")? <= now && status != "consumed" {
            return Ok(DevicePoll::Expired);
        }
        let interval: i64 = rows::get(&row, "interval_secs")?;
        let too_soon = rows::opt_time(&row, "last_polled_at")?
            .is_some_and(|last| now < last + TimeDelta::seconds(interval));
        let poll = match status.as_str() {
            "pending" if too_soon => {
                let interval_secs = interval + SLOW_DOWN_STEP_SECS;
                sqlx::query(
                    "UPDATE device_authorizations SET interval_secs = $2, last_polled_at = $3 \
                     WHERE id = $1",
                )
                .bind(&id)
                .bind(interval_secs)
                .bind(rows::to_millis(now))
                .execute(&mut *tx)
                .await
                .map_err(backend_error)?;
                DevicePoll::SlowDown { interval_secs }
            }
            "pending" => {
                sqlx::query("UPDATE device_authorizations SET last_polled_at = $2 WHERE id = $1")
                    .bind(&id)
                    .bind(rows::to_millis(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(backend_error)?;
                DevicePoll::Pending
            }
            "denied" => DevicePoll::Denied,
            "approved" => {
                let team = rows::text(&row, "team_id")?;
                let member = rows::text(&row, "member_id")?;
                let grant = Uuid::new_v4();
                sqlx::query(
                    "INSERT INTO cli_grants (id, team_id, member_id, client_id, idp_sid, \
                     idp_sub, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(grant.to_string())
                .bind(&team)
                .bind(&member)
                .bind(client_id)
                .bind(rows::opt_text(&row, "idp_sid")?)
                .bind(rows::opt_text(&row, "idp_sub")?)
                .bind(rows::to_millis(now))
                .execute(&mut *tx)
                .await
                .map_err(write_error("cli grant", "member"))?;
                sqlx::query(
                    "UPDATE device_authorizations SET status = 'consumed', last_polled_at = $2 \
                     WHERE id = $1",
                )
                .bind(&id)
                .bind(rows::to_millis(now))
                .execute(&mut *tx)
                .await
                .map_err(backend_error)?;
                DevicePoll::Approved(issue_pair(&mut tx, grant, now, lifetimes).await?)
            }
            _ => DevicePoll::Invalid,
        };
        tx.commit().await.map_err(backend_error)?;
        Ok(poll)
    }

    /// Exchange a refresh token for a new pair (rotation). A refresh token already
    /// exchanged revokes its grant: whoever holds a copy is shut out with the owner,
    /// who signs in again.
    pub async fn refresh_cli_tokens(
        &self,
        refresh_token: &RawToken,
        client_id: &str,
        now: DateTime<Utc>,
        lifetimes: TokenLifetimes,
    ) -> Result<RefreshOutcome, StoreError> {
        let mut tx = self.begin_write().await.map_err(backend_error)?;
        let row = sqlx::query(
            "SELECT t.id, t.grant_id, t.token_hash, t.expires_at, t.used_at, g.client_id, \
             g.revoked_at, m.active FROM cli_tokens t \
             JOIN cli_grants g ON g.id = t.grant_id \
             JOIN members m ON m.team_id = g.team_id AND m.id = g.member_id \
             WHERE t.token_hash = $1 AND t.kind = 'refresh'",
        )
        .bind(refresh_token.hash().to_hex())
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend_error)?;
        let Some(row) = row else {
            return Ok(RefreshOutcome::Invalid);
        };
        if !stored_hash_matches(&row, refresh_token)? || rows::text(&row, "client_id")? != client_id
        {
            return Ok(RefreshOutcome::Invalid);
        }
        let grant = rows::text(&row, "grant_id")?;
        if rows::opt_time(&row, "revoked_at")?.is_some() {
            return Ok(RefreshOutcome::Invalid);
        }
        if rows::opt_time(&row, "used_at")?.is_some() {
            revoke_grant_on(&mut tx, &grant, now).await?;
            tx.commit().await.map_err(backend_error)?;
            tracing::warn!(grant = %grant, "refresh token reused: CLI sign-in revoked");
            return Ok(RefreshOutcome::Reused);
        }
        if rows::time(&row, "expires_at")? <= now || !rows::boolean(&row, "active")? {
            return Ok(RefreshOutcome::Invalid);
        }
        sqlx::query("UPDATE cli_tokens SET used_at = $2 WHERE id = $1")
            .bind(rows::text(&row, "id")?)
            .bind(rows::to_millis(now))
            .execute(&mut *tx)
            .await
            .map_err(backend_error)?;
        let grant = parse_uuid(&grant, "grant_id")?;
        let issued = issue_pair(&mut tx, grant, now, lifetimes).await?;
        tx.commit().await.map_err(backend_error)?;
        Ok(RefreshOutcome::Rotated(issued))
    }

    /// The member a CLI access token acts for: `None` if unknown, expired, its grant
    /// revoked, or its member suspended (at once, whether or not anyone revoked it).
    pub async fn authenticate_cli_access_token(
        &self,
        presented: &RawToken,
        now: DateTime<Utc>,
    ) -> Result<Option<CliSignIn>, StoreError> {
        let row = sqlx::query(
            "SELECT t.token_hash, g.id, g.team_id, g.member_id FROM cli_tokens t \
             JOIN cli_grants g ON g.id = t.grant_id \
             JOIN members m ON m.team_id = g.team_id AND m.id = g.member_id \
             WHERE t.token_hash = $1 AND t.kind = 'access' AND t.expires_at > $2 \
             AND g.revoked_at IS NULL AND m.active = 1",
        )
        .bind(presented.hash().to_hex())
        .bind(rows::to_millis(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(backend_error)?;
        let Some(row) = row else {
            return Ok(None);
        };
        if !stored_hash_matches(&row, presented)? {
            return Ok(None);
        }
        Ok(Some(CliSignIn {
            grant_id: parse_uuid(&rows::text(&row, "id")?, "id")?,
            team_id: rows::text(&row, "team_id")?
                .parse()
                .map_err(|_| StoreError::Corrupt("column team_id: not a team id".into()))?,
            member_id: rows::text(&row, "member_id")?
                .parse()
                .map_err(|_| StoreError::Corrupt("column member_id: not a member id".into()))?,
        }))
    }

    /// Revoke the grant of a CLI access or refresh token (RFC 7009: either revokes the
    /// sign-in, so both tokens stop working); false if the token is unknown or its
    /// grant already revoked.
    pub async fn revoke_cli_token(&self, presented: &RawToken) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT grant_id, token_hash FROM cli_tokens WHERE token_hash = $1")
            .bind(presented.hash().to_hex())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?;
        let Some(row) = row else {
            return Ok(false);
        };
        if !stored_hash_matches(&row, presented)? {
            return Ok(false);
        }
        let mut conn = self.pool.acquire().await.map_err(backend_error)?;
        revoke_grant_on(&mut conn, &rows::text(&row, "grant_id")?, self.clock.now()).await
    }

    /// Revoke the CLI sign-ins of `team` approved from the SSO session `sid`
    /// (back-channel logout).
    pub async fn revoke_cli_grants_by_sid(
        &self,
        team: TeamId,
        sid: &str,
    ) -> Result<u64, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend_error)?;
        revoke_grants_where(&mut conn, self.clock.now(), team, "idp_sid", sid).await
    }

    /// Revoke the CLI sign-ins of `team` approved from an SSO session of subject `sub`
    /// (back-channel logout without `sid`).
    pub async fn revoke_cli_grants_by_sub(
        &self,
        team: TeamId,
        sub: &str,
    ) -> Result<u64, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend_error)?;
        revoke_grants_where(&mut conn, self.clock.now(), team, "idp_sub", sub).await
    }

    /// Revoke every CLI sign-in of a member.
    pub async fn revoke_cli_grants_of_member(
        &self,
        team: TeamId,
        member: MemberId,
    ) -> Result<u64, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend_error)?;
        revoke_cli_grants_of_member_on(&mut conn, self.clock.now(), team, member).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_typed_forgivingly_and_checked_strictly() {
        assert_eq!(
            normalize_user_code("wdjb-mjht").as_deref(),
            Some("WDJBMJHT")
        );
        assert_eq!(
            normalize_user_code(" WDJB MJHT").as_deref(),
            Some("WDJBMJHT")
        );
        // Vowels and digits are never issued, so they are never a code.
        assert_eq!(normalize_user_code("WDJB-MJHA"), None);
        assert_eq!(normalize_user_code("WDJB-MJH1"), None);
        assert_eq!(normalize_user_code("WDJB-MJH"), None);
        assert_eq!(normalize_user_code("WDJB-MJHTT"), None);
        assert_eq!(display_user_code("WDJBMJHT"), "WDJB-MJHT");
        for _ in 0..100 {
            let code = generate_user_code();
            assert_eq!(normalize_user_code(&display_user_code(&code)), Some(code));
        }
    }
}
