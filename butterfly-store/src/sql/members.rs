//! The one transactional member write: [`MemberWriteStore`] on SQLite and PostgreSQL.
//!
//! A write reads the members it needs (the ones it names and every active super_admin
//! of the team), asks the member rules ([`butterfly_core::members`]) and, if they allow
//! it, writes the members and revokes what the rules say must go, before one commit.
//! What it read must still be true when it commits, so writers of one team are
//! serialized:
//!
//! - on SQLite the transaction is `BEGIN IMMEDIATE` on the writer pool (the same one SCIM
//!   writes use): it holds the database's one write lock from its first statement;
//! - on PostgreSQL it first locks the team's row (`SELECT ... FOR NO KEY UPDATE`), so a
//!   second writer of the same team waits there and then reads what the first
//!   committed. `NO KEY` leaves the row's key free: inserts elsewhere that only check
//!   the foreign key to the team (sessions, keys) do not wait.

use butterfly_core::members::{
    MemberChange, MemberWriteOutcome, SignInCandidate, SignInDecision, SignInIdentity, SignInMatch,
    match_sign_in, plan_member_changes,
};
use butterfly_core::store::{MemberWriteStore, StoreError};
use butterfly_core::{Member, MemberId, Role, TeamId};
use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

use super::audit;
use super::rows::{self, MEMBER_COLUMNS};
use super::{Backend, SqlError, SqlStore, backend_error, cli_login, sessions, teams, tokens};

/// Make this transaction the team's only member writer until it ends (see the module
/// docs). Taking it twice in one transaction is harmless.
pub(crate) async fn lock_team(
    conn: &mut AnyConnection,
    backend: Backend,
    team: TeamId,
) -> Result<(), StoreError> {
    match backend {
        // The transaction already holds the database's write lock.
        Backend::Sqlite => Ok(()),
        Backend::Postgres => sqlx::query("SELECT id FROM teams WHERE id = $1 FOR NO KEY UPDATE")
            .bind(team.to_string())
            .fetch_optional(conn)
            .await
            .map_err(backend_error)?
            .map(drop)
            .ok_or(StoreError::NotFound("team")),
    }
}

/// The members of a team with a role, active or not: a search of the `members_by_role`
/// index (see `tests::the_super_admin_check_is_an_index_search`), since every member
/// write runs it.
const ACTIVE_WITH_ROLE: &str = "WHERE team_id = $1 AND role = $2 AND active = $3";

/// The members the rules need for `changes`: every one they name, and every active
/// super_admin of the team.
async fn members_for(
    conn: &mut AnyConnection,
    team: TeamId,
    changes: &[MemberChange],
) -> Result<Vec<Member>, StoreError> {
    let sql = format!("SELECT {MEMBER_COLUMNS} FROM members {ACTIVE_WITH_ROLE}");
    let mut members: Vec<Member> = sqlx::query(&sql)
        .bind(team.to_string())
        .bind(Role::SuperAdmin.as_str())
        .bind(rows::flag(true))
        .fetch_all(&mut *conn)
        .await
        .map_err(backend_error)?
        .iter()
        .map(rows::member)
        .collect::<Result<_, _>>()?;
    let named = changes.iter().filter_map(|change| match change {
        MemberChange::Update { id, .. } | MemberChange::Delete(id) => Some(*id),
        _ => None,
    });
    let by_id = format!("SELECT {MEMBER_COLUMNS} FROM members WHERE team_id = $1 AND id = $2");
    for id in named.collect::<Vec<MemberId>>() {
        if members.iter().any(|m| m.id == id) {
            continue;
        }
        if let Some(row) = sqlx::query(&by_id)
            .bind(team.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend_error)?
        {
            members.push(rows::member(&row)?);
        }
    }
    Ok(members)
}

/// The members a sign-in may be: today, the one with its verified email.
/// The member linked to the identity's (issuer, subject), if any.
async fn linked_member(
    conn: &mut AnyConnection,
    team: TeamId,
    identity: &SignInIdentity,
) -> Result<Option<Member>, StoreError> {
    let columns = MEMBER_COLUMNS
        .split(", ")
        .map(|c| format!("m.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {columns} FROM members m JOIN member_sso_links l \
         ON l.team_id = m.team_id AND l.member_id = m.id \
         WHERE l.team_id = $1 AND l.issuer = $2 AND l.subject = $3"
    );
    sqlx::query(&sql)
        .bind(team.to_string())
        .bind(&identity.issuer)
        .bind(&identity.subject)
        .fetch_optional(conn)
        .await
        .map_err(backend_error)?
        .map(|row| rows::member(&row))
        .transpose()
}

/// The member with the identity's verified email, with the subject that member is
/// linked to at this issuer.
async fn email_candidates(
    conn: &mut AnyConnection,
    team: TeamId,
    identity: &SignInIdentity,
) -> Result<Vec<SignInCandidate>, StoreError> {
    let mut candidates = Vec::new();
    if let Some(email) = identity.verified_email()
        && let Some(member) = teams::on::member_by_email(&mut *conn, team, email).await?
    {
        let linked_subject: Option<String> = sqlx::query_scalar(
            "SELECT subject FROM member_sso_links \
             WHERE team_id = $1 AND member_id = $2 AND issuer = $3",
        )
        .bind(team.to_string())
        .bind(member.id.to_string())
        .bind(&identity.issuer)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend_error)?;
        candidates.push(SignInCandidate {
            member,
            linked_subject,
        });
    }
    Ok(candidates)
}

/// Link `member` to the identity's (issuer, subject), on the sign-in's transaction.
async fn link_identity(
    conn: &mut AnyConnection,
    now: DateTime<Utc>,
    team: TeamId,
    member: MemberId,
    identity: &SignInIdentity,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO member_sso_links (team_id, member_id, issuer, subject, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(team.to_string())
    .bind(member.to_string())
    .bind(&identity.issuer)
    .bind(&identity.subject)
    .bind(rows::to_millis(now))
    .execute(conn)
    .await
    .map_err(super::write_error("sso link", "member"))?;
    Ok(())
}

fn unsupported(what: &'static str) -> StoreError {
    StoreError::Backend(Box::new(SqlError::Unsupported(what)))
}

/// Apply `changes` on `conn`, inside a transaction the caller commits: lock the team,
/// check the rules, revoke, write. Nothing is written if the rules refuse.
pub(crate) async fn write_members_on(
    conn: &mut AnyConnection,
    backend: Backend,
    now: DateTime<Utc>,
    team: TeamId,
    changes: Vec<MemberChange>,
) -> Result<MemberWriteOutcome, StoreError> {
    lock_team(conn, backend, team).await?;
    let current = members_for(conn, team, &changes).await?;
    let plan = plan_member_changes(&current, &changes).map_err(StoreError::Refused)?;
    let mut outcome = MemberWriteOutcome::default();
    // Before the changes: a deleted member's rows may go with it, and the counts should
    // say what was live.
    for id in &plan.revoke {
        outcome.revoked_sessions +=
            sessions::revoke_sessions_of_member_on(conn, now, team, *id).await?;
        outcome.revoked_api_keys +=
            tokens::revoke_api_keys_of_member_on(conn, now, team, *id).await?;
        outcome.revoked_cli_logins +=
            cli_login::revoke_cli_grants_of_member_on(conn, now, team, *id).await?;
    }
    for change in changes {
        let audited = change.clone();
        let written = match change {
            MemberChange::Create(new) => {
                Some(teams::on::create_member(conn, now, team, new).await?)
            }
            MemberChange::Update { id, update } => {
                Some(teams::on::update_member(conn, now, team, id, update).await?)
            }
            MemberChange::Delete(id) => {
                if !teams::on::delete_member(conn, team, id).await? {
                    return Err(StoreError::NotFound("member"));
                }
                None
            }
            // `MemberChange` is non-exhaustive; a kind this store does not know must not
            // be skipped silently.
            _ => return Err(unsupported("member change")),
        };
        // In this transaction: the lines commit with the change, or neither does.
        for line in audit::member_change_entries(team, &current, &audited, written.as_ref()) {
            audit::insert_on(conn, now, line).await?;
        }
        outcome.members.push(written);
    }
    Ok(outcome)
}

impl MemberWriteStore for SqlStore {
    async fn write_members(
        &self,
        team: TeamId,
        changes: Vec<MemberChange>,
    ) -> Result<MemberWriteOutcome, StoreError> {
        let mut tx = self.begin_write().await.map_err(backend_error)?;
        let outcome =
            write_members_on(&mut tx, self.backend, self.clock.now(), team, changes).await?;
        tx.commit().await.map_err(backend_error)?;
        Ok(outcome)
    }

    async fn sign_in_member(
        &self,
        team: TeamId,
        identity: &SignInIdentity,
        default_role: Role,
    ) -> Result<Member, StoreError> {
        // Most sign-ins find their member by its link: decide on a plain read, and take
        // the write lock only to link or create one.
        let linked = {
            let mut conn = self.pool.acquire().await.map_err(backend_error)?;
            linked_member(&mut conn, team, identity).await?
        };
        if let Some(member) = linked.as_ref() {
            match_sign_in(Some(member), &[], identity, default_role)
                .map_err(StoreError::Refused)?;
            return Ok(member.clone());
        }
        // Decided under the lock: another first sign-in of the same person may have
        // linked or created the member meanwhile.
        let mut tx = self.begin_write().await.map_err(backend_error)?;
        lock_team(&mut tx, self.backend, team).await?;
        let linked = linked_member(&mut tx, team, identity).await?;
        let found = match linked {
            Some(_) => Vec::new(),
            None => email_candidates(&mut tx, team, identity).await?,
        };
        let now = self.clock.now();
        let member = match match_sign_in(linked.as_ref(), &found, identity, default_role)
            .map_err(StoreError::Refused)?
        {
            SignInDecision::Existing {
                matched: SignInMatch::Subject,
                ..
            } => linked.ok_or(StoreError::NotFound("member"))?,
            SignInDecision::Existing { id, .. } => {
                let member = found
                    .into_iter()
                    .map(|c| c.member)
                    .find(|m| m.id == id)
                    .ok_or(StoreError::NotFound("member"))?;
                link_identity(&mut tx, now, team, member.id, identity).await?;
                member
            }
            SignInDecision::Create(new) => {
                let member = write_members_on(
                    &mut tx,
                    self.backend,
                    now,
                    team,
                    vec![MemberChange::Create(new)],
                )
                .await?
                .members
                .into_iter()
                .flatten()
                .next()
                .ok_or(StoreError::NotFound("member"))?;
                link_identity(&mut tx, now, team, member.id, identity).await?;
                member
            }
            _ => return Err(unsupported("sign-in decision")),
        };
        tx.commit().await.map_err(backend_error)?;
        Ok(member)
    }
}

#[cfg(test)]
mod tests {
    use butterfly_core::store::TeamStore as _;
    use sqlx::Row as _;

    use super::*;

    /// The check every member write makes (the team's active super_admins) searches an
    /// index (SQLite's plan; PostgreSQL has the same index) rather than reading every member of the team: with
    /// SCIM Users as members, that read grew with the team and slowed every SCIM write.
    #[tokio::test]
    async fn the_super_admin_check_is_an_index_search() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("plan.db").display());
        let store = SqlStore::connect(&url).await.unwrap();
        let team = store.create_team("plans").await.unwrap().id.to_string();
        let explain =
            format!("EXPLAIN QUERY PLAN SELECT {MEMBER_COLUMNS} FROM members {ACTIVE_WITH_ROLE}");
        let steps: Vec<String> = sqlx::query(&explain)
            .bind(&team)
            .bind(Role::SuperAdmin.as_str())
            .bind(rows::flag(true))
            .fetch_all(store.pool())
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get::<String, _>("detail").unwrap())
            .collect();
        let text = steps.join("\n");
        assert!(
            text.contains("USING INDEX members_by_role (team_id=? AND role=? AND active=?)"),
            "{text}"
        );
        store.close().await;
    }
}
