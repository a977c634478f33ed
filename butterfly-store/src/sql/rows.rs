//! Reading rows back into domain types, and the column encodings both databases share.
//!
//! A value that does not decode is [`StoreError::Corrupt`]: the schema allows only what
//! this module writes, so a bad value means someone edited the database by hand.

use butterfly_core::store::{ApiKey, Job, JobStatus, ScimToken, Session, StoreError};
use butterfly_core::{Member, MemberId, Role, Team, TeamId};
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{Decode, Row as _, Type};
use uuid::Uuid;

/// Unix milliseconds, the stored form of every time.
///
/// Sub-millisecond precision is dropped so that a value read back equals the one
/// returned when it was written (see [`truncate_millis`]).
pub(crate) fn to_millis(t: DateTime<Utc>) -> i64 {
    // Rounds toward the past (the seconds floor, the subsecond part is non-negative);
    // chrono's range, about ±262,000 years, is well within i64 milliseconds.
    t.timestamp_millis()
}

/// `t` rounded down to the millisecond, as it will read back from the database.
pub(crate) fn truncate_millis(t: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError> {
    from_millis(to_millis(t))
}

pub(crate) fn from_millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("time {ms} ms out of range")))
}

/// The stored form of a boolean: `SMALLINT` on PostgreSQL, `INTEGER` on SQLite, 0 or 1.
pub(crate) fn flag(b: bool) -> i16 {
    i16::from(b)
}

pub(crate) fn get<'r, T>(row: &'r AnyRow, col: &str) -> Result<T, StoreError>
where
    T: Decode<'r, sqlx::Any> + Type<sqlx::Any>,
{
    row.try_get(col)
        .map_err(|e| StoreError::Corrupt(format!("column {col}: {e}")))
}

pub(crate) fn text(row: &AnyRow, col: &str) -> Result<String, StoreError> {
    get(row, col)
}

pub(crate) fn opt_text(row: &AnyRow, col: &str) -> Result<Option<String>, StoreError> {
    get(row, col)
}

pub(crate) fn time(row: &AnyRow, col: &str) -> Result<DateTime<Utc>, StoreError> {
    from_millis(get(row, col)?)
}

pub(crate) fn opt_time(row: &AnyRow, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    get::<Option<i64>>(row, col)?.map(from_millis).transpose()
}

pub(crate) fn boolean(row: &AnyRow, col: &str) -> Result<bool, StoreError> {
    match get::<i64>(row, col)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(StoreError::Corrupt(format!(
            "column {col}: {other} is not 0 or 1"
        ))),
    }
}

pub(crate) fn uuid(row: &AnyRow, col: &str) -> Result<Uuid, StoreError> {
    parse_uuid(col, &text(row, col)?)
}

fn parse_uuid(col: &str, s: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(|e| StoreError::Corrupt(format!("column {col}: {e}")))
}

pub(crate) fn team_id(row: &AnyRow, col: &str) -> Result<TeamId, StoreError> {
    uuid(row, col).map(TeamId::from_uuid)
}

pub(crate) fn member_id(row: &AnyRow, col: &str) -> Result<MemberId, StoreError> {
    uuid(row, col).map(MemberId::from_uuid)
}

fn opt_member_id(row: &AnyRow, col: &str) -> Result<Option<MemberId>, StoreError> {
    opt_text(row, col)?
        .map(|s| parse_uuid(col, &s).map(MemberId::from_uuid))
        .transpose()
}

fn role(row: &AnyRow, col: &str) -> Result<Role, StoreError> {
    text(row, col)?
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("column {col}: {e}")))
}

pub(crate) fn json(row: &AnyRow, col: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(&text(row, col)?)
        .map_err(|e| StoreError::Corrupt(format!("column {col}: {e}")))
}

pub(crate) const TEAM_COLUMNS: &str = "id, name, created_at";

pub(crate) fn team(row: &AnyRow) -> Result<Team, StoreError> {
    Ok(Team {
        id: team_id(row, "id")?,
        name: text(row, "name")?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) const MEMBER_COLUMNS: &str =
    "id, team_id, email, display_name, role, active, external_id, created_at, updated_at";

pub(crate) fn member(row: &AnyRow) -> Result<Member, StoreError> {
    Ok(Member {
        id: member_id(row, "id")?,
        team_id: team_id(row, "team_id")?,
        email: text(row, "email")?,
        display_name: opt_text(row, "display_name")?,
        role: role(row, "role")?,
        active: boolean(row, "active")?,
        external_id: opt_text(row, "external_id")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

/// API key columns, qualified with `k.` because authentication joins `members`.
pub(crate) const API_KEY_COLUMNS: &str = "k.id AS id, k.team_id AS team_id, \
     k.member_id AS member_id, k.service AS service, k.created_by AS created_by, \
     k.name AS name, k.role AS role, k.hint AS hint, \
     k.token_hash AS token_hash, k.created_at AS created_at, k.revoked_at AS revoked_at";

pub(crate) fn api_key(row: &AnyRow) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: uuid(row, "id")?,
        team_id: team_id(row, "team_id")?,
        member_id: opt_member_id(row, "member_id")?,
        service: opt_text(row, "service")?,
        created_by: opt_member_id(row, "created_by")?,
        name: text(row, "name")?,
        role: role(row, "role")?,
        hint: text(row, "hint")?,
        created_at: time(row, "created_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

pub(crate) const SCIM_TOKEN_COLUMNS: &str =
    "id, team_id, name, hint, token_hash, created_at, revoked_at";

pub(crate) fn scim_token(row: &AnyRow) -> Result<ScimToken, StoreError> {
    Ok(ScimToken {
        id: uuid(row, "id")?,
        team_id: team_id(row, "team_id")?,
        name: text(row, "name")?,
        hint: text(row, "hint")?,
        created_at: time(row, "created_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

/// Session columns, qualified with `s.` because lookups join `members`.
pub(crate) const SESSION_COLUMNS: &str = "s.id AS id, s.team_id AS team_id, \
     s.member_id AS member_id, s.idp_sid AS idp_sid, s.idp_sub AS idp_sub, \
     s.token_hash AS token_hash, s.created_at AS created_at, s.expires_at AS expires_at";

pub(crate) fn session(row: &AnyRow) -> Result<Session, StoreError> {
    Ok(Session {
        id: uuid(row, "id")?,
        team_id: team_id(row, "team_id")?,
        member_id: member_id(row, "member_id")?,
        idp_sid: opt_text(row, "idp_sid")?,
        idp_sub: opt_text(row, "idp_sub")?,
        created_at: time(row, "created_at")?,
        expires_at: time(row, "expires_at")?,
    })
}

pub(crate) const JOB_COLUMNS: &str = "id, team_id, kind, payload, status, run_at, attempts, \
     claimed_by, outcome, progress, created_at, finished_at";

pub(crate) fn job(row: &AnyRow) -> Result<Job, StoreError> {
    let status = text(row, "status")?;
    let attempts: i64 = get(row, "attempts")?;
    Ok(Job {
        id: uuid(row, "id")?,
        team_id: team_id(row, "team_id")?,
        kind: text(row, "kind")?,
        payload: json(row, "payload")?,
        status: JobStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("column status: unknown `{status}`")))?,
        run_at: time(row, "run_at")?,
        attempts: u32::try_from(attempts)
            .map_err(|e| StoreError::Corrupt(format!("column attempts: {e}")))?,
        claimed_by: opt_text(row, "claimed_by")?,
        outcome: opt_json(row, "outcome")?,
        progress: opt_json(row, "progress")?,
        created_at: time(row, "created_at")?,
        finished_at: opt_time(row, "finished_at")?,
    })
}

/// A nullable JSON text column.
pub(crate) fn opt_json(row: &AnyRow, col: &str) -> Result<Option<serde_json::Value>, StoreError> {
    opt_text(row, col)?
        .map(|s| {
            serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("column {col}: {e}")))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_round_trip_and_truncate() {
        let t = DateTime::from_timestamp_nanos(1_700_000_000_123_456_789);
        assert_eq!(to_millis(t), 1_700_000_000_123);
        let back = truncate_millis(t).unwrap();
        assert_eq!(
            back.timestamp_nanos_opt().unwrap(),
            1_700_000_000_123_000_000
        );
        assert_eq!(truncate_millis(back).unwrap(), back);
        // Before the epoch rounds down, not towards zero.
        let before = DateTime::from_timestamp_nanos(-1);
        assert_eq!(to_millis(before), -1);
    }
}
