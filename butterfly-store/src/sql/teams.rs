//! Teams and their members.

// The key that makes emails unique per team regardless of case is the member rules' own,
// folded in Rust rather than with SQL `lower()` (which only folds ASCII on SQLite but
// follows the collation on PostgreSQL): both databases must agree on what a duplicate is.
use butterfly_core::members::email_key;
use butterfly_core::store::{MemberStore, MemberUpdate, NewMember, StoreError, TeamStore};
use butterfly_core::{Member, MemberId, Team, TeamId};
use sqlx::any::AnyArguments;
use sqlx::query::Query;

use super::rows::{self, MEMBER_COLUMNS, TEAM_COLUMNS};
use super::{SqlStore, backend_error, write_error};

impl TeamStore for SqlStore {
    async fn create_team(&self, name: &str) -> Result<Team, StoreError> {
        let team = Team {
            id: TeamId::new_random(),
            name: name.to_owned(),
            created_at: rows::truncate_millis(self.clock.now())?,
        };
        sqlx::query("INSERT INTO teams (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(team.id.to_string())
            .bind(&team.name)
            .bind(rows::to_millis(team.created_at))
            .execute(&self.pool)
            .await
            .map_err(write_error("team", "team"))?;
        Ok(team)
    }

    async fn team(&self, id: TeamId) -> Result<Option<Team>, StoreError> {
        let sql = format!("SELECT {TEAM_COLUMNS} FROM teams WHERE id = $1");
        sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?
            .map(|row| rows::team(&row))
            .transpose()
    }

    async fn team_by_name(&self, name: &str) -> Result<Option<Team>, StoreError> {
        let sql = format!("SELECT {TEAM_COLUMNS} FROM teams WHERE name = $1");
        sqlx::query(&sql)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?
            .map(|row| rows::team(&row))
            .transpose()
    }

    async fn list_teams(&self) -> Result<Vec<Team>, StoreError> {
        let sql = format!("SELECT {TEAM_COLUMNS} FROM teams ORDER BY name, id");
        sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(backend_error)?
            .iter()
            .map(rows::team)
            .collect()
    }
}

/// One value of a dynamically assembled statement. Column names come only from this
/// module's literals; values are always bound, never spliced into the text.
enum Bound {
    Text(Option<String>),
    Int(i64),
    Small(i16),
}

fn bind_all<'q>(
    mut query: Query<'q, sqlx::Any, AnyArguments<'q>>,
    values: impl IntoIterator<Item = Bound>,
) -> Query<'q, sqlx::Any, AnyArguments<'q>> {
    for value in values {
        query = match value {
            Bound::Text(v) => query.bind(v),
            Bound::Int(v) => query.bind(v),
            Bound::Small(v) => query.bind(v),
        };
    }
    query
}

/// The member statements, on any connection: the pool's for [`MemberStore`], or a
/// [`ScimWrite`](super::ScimWrite)'s transaction, so a SCIM write and the member it
/// stands for commit together.
pub(crate) mod on {
    use butterfly_core::store::{MemberUpdate, NewMember, StoreError};
    use butterfly_core::{Member, MemberId, TeamId};
    use chrono::{DateTime, Utc};
    use sqlx::AnyConnection;

    use super::super::rows::{self, MEMBER_COLUMNS};
    use super::super::{backend_error, write_error};
    use super::{Bound, bind_all, email_key};

    pub(crate) async fn create_member(
        conn: &mut AnyConnection,
        now: DateTime<Utc>,
        team: TeamId,
        new: NewMember,
    ) -> Result<Member, StoreError> {
        let now = rows::truncate_millis(now)?;
        let member = Member {
            id: MemberId::new_random(),
            team_id: team,
            email: new.email,
            display_name: new.display_name,
            role: new.role,
            active: new.active,
            external_id: new.external_id,
            created_at: now,
            updated_at: now,
        };
        sqlx::query(
            "INSERT INTO members (id, team_id, email, email_norm, display_name, role, active, \
             external_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(member.id.to_string())
        .bind(team.to_string())
        .bind(&member.email)
        .bind(email_key(&member.email))
        .bind(member.display_name.clone())
        .bind(member.role.as_str())
        .bind(rows::flag(member.active))
        .bind(member.external_id.clone())
        .bind(rows::to_millis(now))
        .bind(rows::to_millis(now))
        .execute(conn)
        .await
        .map_err(write_error("member", "team"))?;
        Ok(member)
    }

    pub(crate) async fn member_by_email(
        conn: &mut AnyConnection,
        team: TeamId,
        email: &str,
    ) -> Result<Option<Member>, StoreError> {
        let sql =
            format!("SELECT {MEMBER_COLUMNS} FROM members WHERE team_id = $1 AND email_norm = $2");
        sqlx::query(&sql)
            .bind(team.to_string())
            .bind(email_key(email))
            .fetch_optional(conn)
            .await
            .map_err(backend_error)?
            .map(|row| rows::member(&row))
            .transpose()
    }

    pub(crate) async fn list_members(
        conn: &mut AnyConnection,
        team: TeamId,
    ) -> Result<Vec<Member>, StoreError> {
        let sql = format!(
            "SELECT {MEMBER_COLUMNS} FROM members WHERE team_id = $1 ORDER BY email_norm, id"
        );
        sqlx::query(&sql)
            .bind(team.to_string())
            .fetch_all(conn)
            .await
            .map_err(backend_error)?
            .iter()
            .map(rows::member)
            .collect()
    }

    pub(crate) async fn update_member(
        conn: &mut AnyConnection,
        now: DateTime<Utc>,
        team: TeamId,
        id: MemberId,
        update: MemberUpdate,
    ) -> Result<Member, StoreError> {
        // One UPDATE that sets only the fields the caller named: two concurrent updates
        // of different fields both land, which a read-modify-write would not ensure
        // without row locks that SQLite lacks.
        let mut sets: Vec<(&'static str, Bound)> =
            vec![("updated_at", Bound::Int(rows::to_millis(now)))];
        if let Some(email) = update.email {
            sets.push(("email_norm", Bound::Text(Some(email_key(&email)))));
            sets.push(("email", Bound::Text(Some(email))));
        }
        if let Some(display_name) = update.display_name {
            sets.push(("display_name", Bound::Text(display_name)));
        }
        if let Some(role) = update.role {
            sets.push(("role", Bound::Text(Some(role.as_str().to_owned()))));
        }
        if let Some(active) = update.active {
            sets.push(("active", Bound::Small(rows::flag(active))));
        }
        if let Some(external_id) = update.external_id {
            sets.push(("external_id", Bound::Text(external_id)));
        }
        // $1 and $2 are the team and member ids.
        let assignments: Vec<String> = sets
            .iter()
            .enumerate()
            .map(|(i, (col, _))| format!("{col} = ${}", i + 3))
            .collect();
        let values: Vec<Bound> = sets.into_iter().map(|(_, value)| value).collect();
        let sql = format!(
            "UPDATE members SET {} WHERE team_id = $1 AND id = $2 RETURNING {MEMBER_COLUMNS}",
            assignments.join(", ")
        );
        let query = sqlx::query(&sql)
            .bind(team.to_string())
            .bind(id.to_string());
        bind_all(query, values)
            .fetch_optional(conn)
            .await
            .map_err(write_error("member", "member"))?
            .map(|row| rows::member(&row))
            .transpose()?
            .ok_or(StoreError::NotFound("member"))
    }

    pub(crate) async fn delete_member(
        conn: &mut AnyConnection,
        team: TeamId,
        id: MemberId,
    ) -> Result<bool, StoreError> {
        // The member's API keys and sessions go with it (ON DELETE CASCADE): a key that
        // outlived its member would act for nobody.
        let done = sqlx::query("DELETE FROM members WHERE team_id = $1 AND id = $2")
            .bind(team.to_string())
            .bind(id.to_string())
            .execute(conn)
            .await
            .map_err(backend_error)?;
        Ok(done.rows_affected() > 0)
    }
}

impl MemberStore for SqlStore {
    async fn create_member(&self, team: TeamId, new: NewMember) -> Result<Member, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend_error)?;
        on::create_member(&mut conn, self.clock.now(), team, new).await
    }

    async fn member(&self, team: TeamId, id: MemberId) -> Result<Option<Member>, StoreError> {
        let sql = format!("SELECT {MEMBER_COLUMNS} FROM members WHERE team_id = $1 AND id = $2");
        sqlx::query(&sql)
            .bind(team.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?
            .map(|row| rows::member(&row))
            .transpose()
    }

    async fn member_by_email(
        &self,
        team: TeamId,
        email: &str,
    ) -> Result<Option<Member>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend_error)?;
        on::member_by_email(&mut conn, team, email).await
    }

    async fn list_members(&self, team: TeamId) -> Result<Vec<Member>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend_error)?;
        on::list_members(&mut conn, team).await
    }

    async fn update_member(
        &self,
        team: TeamId,
        id: MemberId,
        update: MemberUpdate,
    ) -> Result<Member, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend_error)?;
        on::update_member(&mut conn, self.clock.now(), team, id, update).await
    }

    async fn delete_member(&self, team: TeamId, id: MemberId) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend_error)?;
        on::delete_member(&mut conn, team, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_key_folds_case_and_trims() {
        assert_eq!(email_key(" Ada@Example.COM"), "ada@example.com");
        assert_eq!(email_key("ÉLODIE@example.com"), "élodie@example.com");
    }
}
