//! [`ScimStore`] on SQLite or PostgreSQL: SCIM Users and Groups of every team.
//!
//! Each resource is one row of `scim_resources`: the full representation as JSON, and
//! beside it the columns its indexes need (see the migration). Group membership is also
//! kept in `scim_group_members`, one row per (group, member), so the Groups of a User
//! are an index lookup and a PATCH that adds one member to a Group of thousands writes one
//! membership row (plus the Group's JSON, which the trait hands over whole).
//!
//! - **Queries** compile the filter to SQL ([`push_filter`]) with the schemas' rules,
//!   answer `userName`, `displayName`, `id`, `externalId` and `meta` times from indexed
//!   columns where the semantics allow (reading the JSON only of rows flagged
//!   `irregular`, whose copies cannot stand for the body). A page is picked as `seq`
//!   values first (from an index where the filter allows) and only its rows' bodies are
//!   read; the total is counted apart, and only when the page does not tell it. `sortBy`
//!   `userName`, `displayName` or a `meta` time orders by its indexed column the same way
//!   (unless a row of the team is irregular); any other `sortBy` is pushed down
//!   ([`sort_sql`]) with keys computed from every matching body and a window count. Results equal [`MemoryStore`](butterfly_scim::MemoryStore)'s but for the
//!   limits listed in [`filter_sql`](crate::scim::filter_sql) (ASCII case folding of
//!   values outside the indexed columns, numbers beyond 2^53).
//! - **Uniqueness** of a User's `userName` and a Group's `displayName` (ignoring case,
//!   lowercased in Rust as the in-memory store does) is a unique index, so it holds under
//!   concurrent writers; a violation becomes [`ScimStoreError::Uniqueness`].
//! - **Versions** count writes per resource. `replace` is a compare-and-swap: the UPDATE
//!   names the version it read, so a concurrent write makes it change nothing.
//! - **Tenancy**: every statement names the team.
//!
//! [`sort_sql`]: crate::scim::sort_sql

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Deref, DerefMut};

use butterfly_core::TeamId;
use butterfly_core::members::{MemberChange, MemberWriteOutcome};
use butterfly_core::store::StoreError;
use butterfly_core::store::{MemberUpdate, NewMember};
use butterfly_core::{Member, MemberId};
use butterfly_scim::filter::{AttrPath, Filter};
use butterfly_scim::schema::SchemaRules;
use butterfly_scim::{
    ListQuery, QueryPage, ResolvedMember, ResourceType, ScimStore, ScimStoreError, ScimType,
    StoredMeta, StoredResource,
};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Connection as _, Row as _, Transaction};
use uuid::Uuid;

use super::group_commit::BatchedWrite;
use super::{Backend, SqlError, SqlStore, backend_error, members, rows, sessions, teams, tokens};
use crate::scim::dialect::JsonDialect;
use crate::scim::{
    BoundQuery, FilterSqlError, IndexedAttribute, ResourceColumns, SqlValue, push_filter, sort_sql,
};

/// Rows per statement when writing or reading many members at once: far below SQLite's
/// 32 766 and PostgreSQL's 65 535 parameters.
const CHUNK: usize = 500;

/// How often `replace` without an expected version re-reads and retries after losing a
/// race with another writer, before giving up with a version mismatch.
const REPLACE_ATTEMPTS: usize = 8;

/// The columns `get` and `query` read.
const RESOURCE_COLUMNS: &str = "id, version, created_ms, modified_ms";

fn backend(e: sqlx::Error) -> ScimStoreError {
    ScimStoreError::Backend(Box::new(e))
}

fn corrupt(e: StoreError) -> ScimStoreError {
    ScimStoreError::Backend(Box::new(e))
}

/// The attribute that is unique per team, for each type.
fn unique_attribute(resource_type: ResourceType) -> &'static str {
    match resource_type {
        ResourceType::User => "userName",
        ResourceType::Group => "displayName",
    }
}

/// A failed write: a unique violation is the type's uniqueness rule (the only unique
/// index a write can break, ids being fresh UUIDs).
fn write_error(
    resource_type: ResourceType,
    resource: &Value,
) -> impl FnOnce(sqlx::Error) -> ScimStoreError {
    let attribute = unique_attribute(resource_type);
    let wanted = resource
        .get(attribute)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => ScimStoreError::Uniqueness(
            format!("{attribute} `{wanted}` is already taken in this team"),
        ),
        _ => backend(e),
    }
}

/// Where filters find things in `scim_resources AS r`, per type.
fn filter_columns(resource_type: ResourceType) -> ResourceColumns {
    let columns = ResourceColumns::new("r.body")
        .with_irregular_flag("r.irregular")
        .with(IndexedAttribute::Id, "r.id")
        .with(IndexedAttribute::ExternalId, "r.external_id")
        .with(IndexedAttribute::CreatedMillis, "r.created_ms")
        .with(IndexedAttribute::LastModifiedMillis, "r.modified_ms");
    match resource_type {
        ResourceType::User => columns
            .with(IndexedAttribute::UserNameLower, "r.user_name_ci")
            .with(IndexedAttribute::FamilyNameLower, "r.family_name_ci")
            .with(IndexedAttribute::Active, "r.active"),
        ResourceType::Group => {
            columns.with(IndexedAttribute::DisplayNameLower, "r.display_name_ci")
        }
    }
}

/// The column whose order is `sortBy` `path`'s order for every regular row with a
/// value there (see [`SqlStore::column_sorts_all`]): the lowercased `userName` of Users and
/// `displayName` of Groups (neither is case-exact, and both are strings; lowercased as the
/// in-memory store lowercases sort keys, so non-ASCII names order as it orders them), and
/// the `meta` times in milliseconds (a time not on a whole millisecond makes its row
/// irregular). Only unqualified paths: a URN-qualified one may name an extension. The
/// text columns' names end in `_ci`.
fn sort_column(resource_type: ResourceType, path: &AttrPath) -> Option<&'static str> {
    if path.urn.is_some() {
        return None;
    }
    let name = path.name.as_str();
    match (path.sub.as_deref(), resource_type) {
        (None, ResourceType::User) if name.eq_ignore_ascii_case("userName") => Some("user_name_ci"),
        (None, ResourceType::Group) if name.eq_ignore_ascii_case("displayName") => {
            Some("display_name_ci")
        }
        (Some(sub), _) if name.eq_ignore_ascii_case("meta") => {
            if sub.eq_ignore_ascii_case("created") {
                Some("created_ms")
            } else if sub.eq_ignore_ascii_case("lastModified") {
                Some("modified_ms")
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The indexed copies of a resource's attributes, as the migration describes them.
struct IndexedCopies {
    user_name_ci: Option<String>,
    display_name_ci: Option<String>,
    display_name: Option<String>,
    external_id: Option<String>,
    user: UserCopies,
    irregular: bool,
}

/// The copies only Users have.
struct UserCopies {
    family_name_ci: Option<String>,
    active: Option<i64>,
}

impl UserCopies {
    /// Append `family_name_ci` and `active`, each preceded by `, ` (and `name = ` when
    /// `assign`, for an UPDATE).
    fn push(self, q: &mut BoundQuery, assign: bool) {
        q.push(if assign { ", family_name_ci = " } else { ", " })
            .push_bind(self.family_name_ci);
        q.push(if assign { ", active = " } else { ", " });
        // A literal NULL: a bound one is typed as text, which PostgreSQL will not store in
        // an integer column.
        match self.active {
            Some(active) => q.push_bind(active),
            None => q.push("NULL"),
        };
    }
}

impl IndexedCopies {
    fn of(resource_type: ResourceType, resource: &Value) -> IndexedCopies {
        let text = |attribute: IndexedAttribute| match attribute.value_of(resource) {
            Some(SqlValue::Text(s)) => Some(s),
            _ => None,
        };
        let is_group = resource_type == ResourceType::Group;
        IndexedCopies {
            user_name_ci: (!is_group)
                .then(|| text(IndexedAttribute::UserNameLower))
                .flatten(),
            display_name_ci: is_group
                .then(|| text(IndexedAttribute::DisplayNameLower))
                .flatten(),
            display_name: is_group
                .then(|| resource.get("displayName").and_then(Value::as_str))
                .flatten()
                .map(str::to_owned),
            external_id: text(IndexedAttribute::ExternalId),
            user: UserCopies {
                family_name_ci: (!is_group)
                    .then(|| text(IndexedAttribute::FamilyNameLower))
                    .flatten(),
                active: match IndexedAttribute::Active.value_of(resource) {
                    Some(SqlValue::Integer(n)) if !is_group => Some(n),
                    _ => None,
                },
            },
            irregular: filter_columns(resource_type).irregular(resource),
        }
    }
}

/// The member ids a Group lists, as the in-memory store reads them.
fn member_ids(group: &Value) -> BTreeSet<String> {
    group
        .get("members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("value").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// A resource read back: its columns and JSON.
fn stored(row: &AnyRow) -> Result<StoredResource, ScimStoreError> {
    let version: i64 = row.try_get("version").map_err(backend)?;
    let meta = StoredMeta {
        id: rows::text(row, "id").map_err(corrupt)?,
        created: rows::time(row, "created_ms").map_err(corrupt)?,
        last_modified: rows::time(row, "modified_ms").map_err(corrupt)?,
        version: version.to_string(),
    };
    let body = rows::text(row, "body").map_err(corrupt)?;
    let resource = serde_json::from_str(&body)
        .map_err(|e| corrupt(StoreError::Corrupt(format!("column body: {e}"))))?;
    Ok(StoredResource { meta, resource })
}

/// The Groups of a User read back with it: the `groups` column (see
/// [`SqlStore::groups_column`]), a JSON array of `[id, displayName]` pairs; NULL is none.
fn groups_of_row(row: &AnyRow) -> Result<Vec<(String, String)>, ScimStoreError> {
    let Some(text) = rows::opt_text(row, "groups").map_err(corrupt)? else {
        return Ok(Vec::new());
    };
    let pairs: Vec<(String, Option<String>)> = serde_json::from_str(&text)
        .map_err(|e| corrupt(StoreError::Corrupt(format!("column groups: {e}"))))?;
    Ok(pairs
        .into_iter()
        .map(|(id, name)| (id, name.unwrap_or_default()))
        .collect())
}

fn rejected_filter(e: &FilterSqlError) -> ScimStoreError {
    ScimStoreError::Rejected {
        status: 400,
        scim_type: Some(ScimType::InvalidFilter),
        detail: e.to_string(),
    }
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl SqlStore {
    fn dialect(&self) -> &'static dyn JsonDialect {
        self.backend.json_dialect()
    }

    /// A `groups` column for the User row aliased `alias`: the Groups that list it, as
    /// [`ScimStore::groups_of_user`] gives them, so a page or a User is read with its
    /// Groups in one statement (each a probe of the membership index).
    fn groups_column(&self, alias: &str) -> String {
        let from_where = format!(
            "FROM scim_group_members AS gm \
             JOIN scim_resources AS g ON g.team_id = gm.team_id AND g.id = gm.group_id \
             WHERE gm.team_id = {alias}.team_id AND gm.member_id = {alias}.id \
             AND g.resource_type = 'Group'"
        );
        format!(
            "{} AS groups",
            self.dialect()
                .pairs_array("g.id", "g.display_name", &from_where, "g.seq")
        )
    }

    /// Add the membership rows of `group_id` for `ids`.
    async fn insert_members(
        conn: &mut AnyConnection,
        team: &str,
        group_id: &str,
        ids: &[&String],
    ) -> Result<(), ScimStoreError> {
        for chunk in ids.chunks(CHUNK) {
            let mut q = BoundQuery::new(
                "INSERT INTO scim_group_members (team_id, group_id, member_id) VALUES ",
            );
            for (i, id) in chunk.iter().enumerate() {
                if i > 0 {
                    q.push(", ");
                }
                q.push("(")
                    .push_bind(team)
                    .push(", ")
                    .push_bind(group_id)
                    .push(", ")
                    .push_bind(id.as_str())
                    .push(")");
            }
            q.query().execute(&mut *conn).await.map_err(backend)?;
        }
        Ok(())
    }

    /// Make the membership rows of `group_id` those of `members`, writing only changes.
    async fn sync_members(
        conn: &mut AnyConnection,
        team: &str,
        group_id: &str,
        members: &BTreeSet<String>,
    ) -> Result<(), ScimStoreError> {
        let current: BTreeSet<String> = sqlx::query_scalar(
            "SELECT member_id FROM scim_group_members WHERE team_id = $1 AND group_id = $2",
        )
        .bind(team)
        .bind(group_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?
        .into_iter()
        .collect();
        let removed: Vec<&String> = current.difference(members).collect();
        for chunk in removed.chunks(CHUNK) {
            let mut q = BoundQuery::new("DELETE FROM scim_group_members WHERE team_id = ");
            q.push_bind(team)
                .push(" AND group_id = ")
                .push_bind(group_id)
                .push(" AND member_id IN (");
            for (i, id) in chunk.iter().enumerate() {
                if i > 0 {
                    q.push(", ");
                }
                q.push_bind(id.as_str());
            }
            q.push(")");
            q.query().execute(&mut *conn).await.map_err(backend)?;
        }
        let added: Vec<&String> = members.difference(&current).collect();
        SqlStore::insert_members(conn, team, group_id, &added).await
    }

    /// Write a new version of a resource on `conn` (inside a transaction) if its stored
    /// version is still `current`. Returns whether it did.
    async fn update_resource(
        &self,
        conn: &mut AnyConnection,
        team: TeamId,
        resource_type: ResourceType,
        stored: &StoredResource,
        current: i64,
    ) -> Result<bool, ScimStoreError> {
        let team_text = team.to_string();
        let copies = IndexedCopies::of(resource_type, &stored.resource);
        let body = stored.resource.to_string();
        let new_version: i64 = stored.meta.version.parse().unwrap_or(current + 1);
        let mut q = BoundQuery::new("UPDATE scim_resources SET version = ");
        q.push_bind(new_version)
            .push(", modified_ms = ")
            .push_bind(rows::to_millis(stored.meta.last_modified))
            .push(", user_name_ci = ")
            .push_bind(copies.user_name_ci)
            .push(", display_name_ci = ")
            .push_bind(copies.display_name_ci)
            .push(", display_name = ")
            .push_bind(copies.display_name)
            .push(", external_id = ")
            .push_bind(copies.external_id)
            .push(", irregular = ")
            .push_bind(i64::from(copies.irregular));
        copies.user.push(&mut q, true);
        q.push(", body = ");
        self.dialect().push_json(&mut q, body);
        q.push(" WHERE team_id = ")
            .push_bind(team_text.as_str())
            .push(" AND resource_type = ")
            .push_bind(resource_type.as_str())
            .push(" AND id = ")
            .push_bind(stored.meta.id.as_str())
            .push(" AND version = ")
            .push_bind(current);
        let updated = q
            .query()
            .execute(&mut *conn)
            .await
            .map_err(write_error(resource_type, &stored.resource))?
            .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        if resource_type == ResourceType::Group {
            SqlStore::sync_members(
                conn,
                &team_text,
                &stored.meta.id,
                &member_ids(&stored.resource),
            )
            .await?;
        }
        Ok(true)
    }

    /// The stored version and creation time of a resource.
    async fn current_version(
        conn: &mut AnyConnection,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
    ) -> Result<(i64, i64), ScimStoreError> {
        let row = sqlx::query(
            "SELECT version, created_ms FROM scim_resources \
             WHERE team_id = $1 AND resource_type = $2 AND id = $3",
        )
        .bind(team.to_string())
        .bind(resource_type.as_str())
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(backend)?
        .ok_or(ScimStoreError::NotFound)?;
        Ok((
            row.try_get("version").map_err(backend)?,
            row.try_get("created_ms").map_err(backend)?,
        ))
    }

    /// A page of a query and, when `with_groups` (Users), the Groups of its Users: in one
    /// statement when the page is picked from indexed columns (unsorted, or sorted by
    /// `userName`, `displayName` or a `meta` time), the total counted apart only when the
    /// page does not tell it.
    async fn query_page(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        query: &ListQuery,
        with_groups: bool,
    ) -> Result<QueryPage, ScimStoreError> {
        let with_groups = with_groups && resource_type == ResourceType::User;
        let team_text = team.to_string();
        let filter = query.filter.as_ref();
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        if query.count == 0 {
            let total = self
                .count(&mut conn, &team_text, resource_type, filter)
                .await?;
            return Ok(QueryPage {
                total,
                ..QueryPage::default()
            });
        }
        let Some(path) = &query.sort_by else {
            // The page's rows are picked by `seq` alone (from an index, where the filter
            // allows), and only those rows' bodies are read: a window count over the
            // matches would carry every matching body through the sort.
            return self
                .page_by_columns(
                    &mut conn,
                    &team_text,
                    resource_type,
                    query,
                    None,
                    with_groups,
                )
                .await;
        };
        // `userName`, `displayName` and the `meta` times sort by their indexed columns,
        // like unsorted pages, unless some row's column cannot stand for its body. The
        // check and the page read one snapshot, so a row written in between cannot slip
        // into an order it does not fit.
        if let Some(column) = sort_column(resource_type, path) {
            let begin = match self.backend {
                Backend::Sqlite => "BEGIN",
                Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
            };
            let mut tx = AnyConnection::begin_with(&mut *conn, begin)
                .await
                .map_err(backend)?;
            if SqlStore::column_sorts_all(&mut tx, &team_text, resource_type, column).await? {
                let page = self
                    .page_by_columns(
                        &mut tx,
                        &team_text,
                        resource_type,
                        query,
                        Some(column),
                        with_groups,
                    )
                    .await?;
                tx.commit().await.map_err(backend)?;
                return Ok(page);
            }
            tx.rollback().await.map_err(backend)?;
        }
        // Any other attribute: sort keys computed from every matching body, counted with
        // a window over the matches.
        let dialect = self.dialect();
        let mut q = BoundQuery::default();
        let columns = format!(
            "s.id AS id, s.version AS version, s.created_ms AS created_ms, \
             s.modified_ms AS modified_ms, {} AS body, COUNT(*) OVER () AS total",
            dialect.body_text("s.body")
        );
        let rules = SchemaRules::new(resource_type);
        sort_sql::push_sorted(
            &mut q,
            dialect,
            &columns,
            &mut |q| {
                self.push_matches(
                    q,
                    "SELECT r.seq AS seq, r.id AS id, r.version AS version, \
                     r.created_ms AS created_ms, r.modified_ms AS modified_ms, r.body AS body",
                    &team_text,
                    resource_type,
                    filter,
                )
            },
            path,
            query.descending,
            &rules,
        )
        .map_err(|e| rejected_filter(&e))?;
        q.push(" LIMIT ")
            .push_bind(to_i64(query.count))
            .push(" OFFSET ")
            .push_bind(to_i64(query.start_index.saturating_sub(1)));
        let rows = q.query().fetch_all(&mut *conn).await.map_err(backend)?;
        let Some(first) = rows.first() else {
            // Past the last match: the page is empty, and the total needs its own count.
            let total = self
                .count(&mut conn, &team_text, resource_type, filter)
                .await?;
            return Ok(QueryPage {
                total,
                ..QueryPage::default()
            });
        };
        let total: i64 = first.try_get("total").map_err(backend)?;
        let resources = rows.iter().map(stored).collect::<Result<Vec<_>, _>>()?;
        // The sort keys already read every matching body: the Groups come apart.
        drop(conn);
        let groups = if with_groups {
            let ids: Vec<String> = resources.iter().map(|r| r.meta.id.clone()).collect();
            self.groups_of_users(team, &ids).await?
        } else {
            BTreeMap::new()
        };
        Ok(QueryPage {
            total: usize::try_from(total).unwrap_or(0),
            resources,
            groups,
        })
    }

    /// `SELECT ... FROM scim_resources AS r WHERE <team, type and filter>`.
    fn push_matches(
        &self,
        q: &mut BoundQuery,
        select: &str,
        team: &str,
        resource_type: ResourceType,
        filter: Option<&Filter>,
    ) -> Result<(), FilterSqlError> {
        q.push(select)
            .push(" FROM scim_resources AS r WHERE r.team_id = ")
            .push_bind(team)
            .push(" AND r.resource_type = ")
            .push_bind(resource_type.as_str());
        if let Some(filter) = filter {
            q.push(" AND ");
            push_filter(
                q,
                self.backend,
                &filter_columns(resource_type),
                filter,
                &SchemaRules::new(resource_type),
            )?;
        }
        Ok(())
    }

    /// The statement [`page_by_columns`](SqlStore::page_by_columns) runs: the page's
    /// `seq` values picked by the filter and order (from an index where they allow),
    /// then those rows' bodies and, `with_groups`, their Groups.
    fn page_query(
        &self,
        team: &str,
        resource_type: ResourceType,
        query: &ListQuery,
        column: Option<&'static str>,
        with_groups: bool,
    ) -> Result<BoundQuery, ScimStoreError> {
        let dialect = self.dialect();
        let direction = if query.descending { " DESC" } else { "" };
        let order = |table: &str| match column {
            // Text in byte order (PostgreSQL's collation might not be), as sort keys are.
            Some(column) if column.ends_with("_ci") => format!(
                "{}{direction}, {table}.seq{direction}",
                dialect.byte_order(&format!("{table}.{column}"))
            ),
            Some(column) => format!("{table}.{column}{direction}, {table}.seq{direction}"),
            None => format!("{table}.seq"),
        };
        let groups = if with_groups {
            format!(", {}", self.groups_column("p"))
        } else {
            String::new()
        };
        let mut page = BoundQuery::new(format!(
            "SELECT p.id AS id, p.version AS version, p.created_ms AS created_ms, \
             p.modified_ms AS modified_ms, {} AS body{groups} FROM scim_resources AS p \
             WHERE p.seq IN (",
            dialect.body_text("p.body")
        ));
        self.push_matches(
            &mut page,
            "SELECT r.seq",
            team,
            resource_type,
            query.filter.as_ref(),
        )
        .map_err(|e| rejected_filter(&e))?;
        page.push(&format!(" ORDER BY {} LIMIT ", order("r")))
            .push_bind(to_i64(query.count))
            .push(" OFFSET ")
            .push_bind(to_i64(query.start_index.saturating_sub(1)))
            .push(&format!(") ORDER BY {}", order("p")));
        Ok(page)
    }

    /// A page of matches ordered by an indexed `column` (then `seq`), or by `seq` alone:
    /// the page's `seq` values are picked from the index where the filter allows, and only
    /// those rows' bodies are read. The total is counted apart, and only when the page does
    /// not tell it.
    async fn page_by_columns(
        &self,
        conn: &mut AnyConnection,
        team: &str,
        resource_type: ResourceType,
        query: &ListQuery,
        column: Option<&'static str>,
        with_groups: bool,
    ) -> Result<QueryPage, ScimStoreError> {
        let filter = query.filter.as_ref();
        let page = self.page_query(team, resource_type, query, column, with_groups)?;
        let rows = page.query().fetch_all(&mut *conn).await.map_err(backend)?;
        let resources = rows.iter().map(stored).collect::<Result<Vec<_>, _>>()?;
        let mut groups = BTreeMap::new();
        if with_groups {
            for (row, resource) in rows.iter().zip(&resources) {
                groups.insert(resource.meta.id.clone(), groups_of_row(row)?);
            }
        }
        let total =
            if resources.len() < query.count && (!resources.is_empty() || query.start_index <= 1) {
                // A short page is the last one: everything before it, and itself.
                query.start_index.saturating_sub(1) + resources.len()
            } else {
                self.count(conn, team, resource_type, filter).await?
            };
        Ok(QueryPage {
            total,
            resources,
            groups,
        })
    }

    /// Whether ordering the team's resources of `resource_type` by `column` (then `seq`)
    /// gives exactly the order `sortBy` asks for: true unless a row is `irregular` (its
    /// columns cannot stand for its body) or has no value in `column` (such rows sort
    /// last, ascending, where the column's NULLs would not). Two index probes.
    async fn column_sorts_all(
        conn: &mut AnyConnection,
        team: &str,
        resource_type: ResourceType,
        column: &'static str,
    ) -> Result<bool, ScimStoreError> {
        for condition in ["r.irregular = 1".to_owned(), format!("r.{column} IS NULL")] {
            let sql = format!(
                "SELECT r.seq FROM scim_resources AS r \
                 WHERE r.team_id = $1 AND r.resource_type = $2 AND {condition} LIMIT 1"
            );
            let found = sqlx::query(&sql)
                .bind(team)
                .bind(resource_type.as_str())
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend)?;
            if found.is_some() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn count(
        &self,
        conn: &mut AnyConnection,
        team: &str,
        resource_type: ResourceType,
        filter: Option<&Filter>,
    ) -> Result<usize, ScimStoreError> {
        let mut q = BoundQuery::default();
        self.push_matches(&mut q, "SELECT COUNT(*)", team, resource_type, filter)
            .map_err(|e| rejected_filter(&e))?;
        let total: i64 = q
            .query()
            .fetch_one(conn)
            .await
            .map_err(backend)?
            .try_get(0)
            .map_err(backend)?;
        Ok(usize::try_from(total).unwrap_or(0))
    }
}

/// Resource writes on a connection inside a transaction: the [`ScimStore`] methods and
/// [`ScimWrite`] run the same statements.
impl SqlStore {
    /// Insert a new resource with `id`, and a Group's membership rows.
    async fn insert_resource(
        &self,
        conn: &mut AnyConnection,
        team: TeamId,
        resource_type: ResourceType,
        id: String,
        attributes: Value,
    ) -> Result<StoredResource, ScimStoreError> {
        let now = rows::truncate_millis(self.clock.now()).map_err(corrupt)?;
        let meta = StoredMeta {
            id,
            created: now,
            last_modified: now,
            version: "1".to_owned(),
        };
        let stored = StoredResource::new(resource_type, meta, attributes);
        let team_text = team.to_string();
        let copies = IndexedCopies::of(resource_type, &stored.resource);
        let mut q = BoundQuery::new(
            "INSERT INTO scim_resources (team_id, resource_type, id, version, created_ms, \
             modified_ms, user_name_ci, display_name_ci, display_name, external_id, irregular, \
             family_name_ci, active, body) VALUES (",
        );
        q.push_bind(team_text.as_str())
            .push(", ")
            .push_bind(resource_type.as_str())
            .push(", ")
            .push_bind(stored.meta.id.as_str())
            .push(", ")
            .push_bind(1_i64)
            .push(", ")
            .push_bind(rows::to_millis(now))
            .push(", ")
            .push_bind(rows::to_millis(now))
            .push(", ")
            .push_bind(copies.user_name_ci)
            .push(", ")
            .push_bind(copies.display_name_ci)
            .push(", ")
            .push_bind(copies.display_name)
            .push(", ")
            .push_bind(copies.external_id)
            .push(", ")
            .push_bind(i64::from(copies.irregular));
        copies.user.push(&mut q, false);
        q.push(", ");
        self.dialect()
            .push_json(&mut q, stored.resource.to_string());
        q.push(")");
        q.query()
            .execute(&mut *conn)
            .await
            .map_err(write_error(resource_type, &stored.resource))?;
        if resource_type == ResourceType::Group {
            let members = member_ids(&stored.resource);
            let members: Vec<&String> = members.iter().collect();
            SqlStore::insert_members(conn, &team_text, &stored.meta.id, &members).await?;
        }
        Ok(stored)
    }

    /// The stored resource, read on `conn`.
    async fn get_on(
        &self,
        conn: &mut AnyConnection,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
    ) -> Result<StoredResource, ScimStoreError> {
        self.get_with_groups_on(conn, team, resource_type, id, false)
            .await
            .map(|(stored, _)| stored)
    }

    /// The stored resource and, when `with_groups` (a User), the Groups that list it, in
    /// one statement on `conn`.
    async fn get_with_groups_on(
        &self,
        conn: &mut AnyConnection,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
        with_groups: bool,
    ) -> Result<(StoredResource, Vec<(String, String)>), ScimStoreError> {
        let with_groups = with_groups && resource_type == ResourceType::User;
        let groups = if with_groups {
            format!(", {}", self.groups_column("r"))
        } else {
            String::new()
        };
        let sql = format!(
            "SELECT {RESOURCE_COLUMNS}, {} AS body{groups} FROM scim_resources AS r \
             WHERE r.team_id = $1 AND r.resource_type = $2 AND r.id = $3",
            self.dialect().body_text("r.body")
        );
        let row = sqlx::query(&sql)
            .bind(team.to_string())
            .bind(resource_type.as_str())
            .bind(id)
            .fetch_optional(conn)
            .await
            .map_err(backend)?
            .ok_or(ScimStoreError::NotFound)?;
        let groups = if with_groups {
            groups_of_row(&row)?
        } else {
            Vec::new()
        };
        Ok((stored(&row)?, groups))
    }

    /// Replace `current`, read before this write, if it is still at its version: the
    /// compare-and-swap of [`replace_on`](SqlStore::replace_on) without reading the
    /// version again first (the UPDATE names it). Only when nothing was updated does it
    /// look again, to tell a deleted resource (`NotFound`) from a changed one.
    async fn replace_current_on(
        &self,
        conn: &mut AnyConnection,
        team: TeamId,
        resource_type: ResourceType,
        current: &StoredResource,
        attributes: Value,
    ) -> Result<StoredResource, ScimStoreError> {
        let version: i64 = current
            .meta
            .version
            .parse()
            .map_err(|_| ScimStoreError::VersionMismatch)?;
        let meta = StoredMeta {
            id: current.meta.id.clone(),
            created: current.meta.created,
            last_modified: rows::truncate_millis(self.clock.now()).map_err(corrupt)?,
            version: (version + 1).to_string(),
        };
        let stored = StoredResource::new(resource_type, meta, attributes);
        if self
            .update_resource(conn, team, resource_type, &stored, version)
            .await?
        {
            return Ok(stored);
        }
        SqlStore::current_version(conn, team, resource_type, &current.meta.id).await?;
        Err(ScimStoreError::VersionMismatch)
    }

    /// One attempt at a replace on `conn`: `Ok(None)` when another writer changed the
    /// resource between reading its version and writing (the caller retries).
    async fn replace_on(
        &self,
        conn: &mut AnyConnection,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
        attributes: Value,
        expected_version: Option<&str>,
    ) -> Result<Option<StoredResource>, ScimStoreError> {
        let (current, created_ms) =
            SqlStore::current_version(&mut *conn, team, resource_type, id).await?;
        if expected_version.is_some_and(|v| v != current.to_string()) {
            return Err(ScimStoreError::VersionMismatch);
        }
        let meta = StoredMeta {
            id: id.to_owned(),
            created: rows::from_millis(created_ms).map_err(corrupt)?,
            last_modified: rows::truncate_millis(self.clock.now()).map_err(corrupt)?,
            version: (current + 1).to_string(),
        };
        let stored = StoredResource::new(resource_type, meta, attributes);
        if self
            .update_resource(conn, team, resource_type, &stored, current)
            .await?
        {
            return Ok(Some(stored));
        }
        // Another writer got there first (or deleted it). With an expected version that
        // is a mismatch (or not found, if it is gone); without one, the caller tries again.
        if expected_version.is_some() {
            SqlStore::current_version(conn, team, resource_type, id).await?;
            return Err(ScimStoreError::VersionMismatch);
        }
        Ok(None)
    }

    /// Delete a resource on `conn`; every Group that listed it loses it.
    async fn delete_on(
        &self,
        conn: &mut AnyConnection,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
    ) -> Result<(), ScimStoreError> {
        let team_text = team.to_string();
        let now = rows::truncate_millis(self.clock.now()).map_err(corrupt)?;
        let deleted = sqlx::query(
            "DELETE FROM scim_resources WHERE team_id = $1 AND resource_type = $2 AND id = $3",
        )
        .bind(team_text.as_str())
        .bind(resource_type.as_str())
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(backend)?
        .rows_affected();
        if deleted == 0 {
            return Err(ScimStoreError::NotFound);
        }
        // Every Group that listed it loses it, and gets a new version. On PostgreSQL the
        // Groups are locked first, so a concurrent replace cannot slip in between the read
        // and the write (its compare-and-swap fails instead).
        let sql = format!(
            "SELECT {RESOURCE_COLUMNS}, {} AS body FROM scim_resources AS r \
             WHERE r.team_id = $1 AND r.resource_type = 'Group' AND r.id IN \
             (SELECT m.group_id FROM scim_group_members AS m WHERE m.team_id = $1 AND m.member_id = $2) \
             ORDER BY r.seq{}",
            self.dialect().body_text("r.body"),
            self.dialect().lock_rows("r"),
        );
        let groups = sqlx::query(&sql)
            .bind(team_text.as_str())
            .bind(id)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
        for row in &groups {
            let group = stored(row)?;
            let mut attributes = group.attributes();
            if let Some(members) = attributes.get_mut("members").and_then(Value::as_array_mut) {
                members.retain(|m| m.get("value").and_then(Value::as_str) != Some(id));
                if members.is_empty()
                    && let Some(object) = attributes.as_object_mut()
                {
                    object.remove("members");
                }
            }
            let version: i64 = group.meta.version.parse().unwrap_or_default();
            let meta = StoredMeta {
                last_modified: now,
                version: (version + 1).to_string(),
                ..group.meta.clone()
            };
            let updated = StoredResource::new(ResourceType::Group, meta, attributes);
            let copies = IndexedCopies::of(ResourceType::Group, &updated.resource);
            let mut q = BoundQuery::new("UPDATE scim_resources SET version = ");
            q.push_bind(version + 1)
                .push(", modified_ms = ")
                .push_bind(rows::to_millis(now))
                .push(", irregular = ")
                .push_bind(i64::from(copies.irregular))
                .push(", body = ");
            self.dialect()
                .push_json(&mut q, updated.resource.to_string());
            q.push(" WHERE team_id = ")
                .push_bind(team_text.as_str())
                .push(" AND id = ")
                .push_bind(updated.meta.id.as_str());
            q.query().execute(&mut *conn).await.map_err(backend)?;
        }
        sqlx::query("DELETE FROM scim_group_members WHERE team_id = $1 AND member_id = $2")
            .bind(team_text.as_str())
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Begin a transaction in which SCIM resources and team members are written
    /// together, committed by [`ScimWrite::commit`] (dropped, or given up with
    /// [`ScimWrite::rollback`], none of it is stored).
    ///
    /// On SQLite it waits for its turn on the store's one writer (group commit): the
    /// writes queued at the same time share one `BEGIN IMMEDIATE` transaction, each in a
    /// savepoint of its own, committed once for all of them. The write lock is held from
    /// the start of the turn, so what the write reads stays true until it commits and it
    /// never fails half-way because another writer got in; a write that fails is rolled
    /// back to its savepoint without touching the others; [`ScimWrite::commit`] returns
    /// once the shared transaction committed. On PostgreSQL it is a transaction of its
    /// own, a plain `BEGIN`; a replace is still a compare-and-swap on the version.
    pub async fn begin_scim_write(&self) -> Result<ScimWrite, StoreError> {
        let tx = match &self.group_commit {
            Some(group) => WriteTx::Shared(group.begin().await?),
            None => WriteTx::Own(self.begin_write().await.map_err(backend_error)?),
        };
        Ok(ScimWrite {
            tx,
            store: self.clone(),
        })
    }

    /// A transaction that will write, on the writer pool (on a SQLite file, its one
    /// connection: SCIM writes queue there instead of polling for the lock): `BEGIN
    /// IMMEDIATE` on SQLite (see [`begin_scim_write`](SqlStore::begin_scim_write)),
    /// `BEGIN` on PostgreSQL.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        self.writer.begin_with(begin).await
    }
}

/// A transaction over SCIM resources and team members: what a SCIM write changes, as
/// one commit (see [`SqlStore::begin_scim_write`]).
///
/// A server that links SCIM Users to team members writes the User, its member and, on
/// a suspension, the revocation of the member's sessions and API keys here, so a
/// failure leaves none of them half done and a request costs one commit. The resource
/// methods behave as the [`ScimStore`] methods of the same name; nothing is visible to
/// other connections before [`commit`](ScimWrite::commit).
#[derive(Debug)]
pub struct ScimWrite {
    tx: WriteTx,
    store: SqlStore,
}

/// Where a [`ScimWrite`]'s statements run.
#[derive(Debug)]
enum WriteTx {
    /// A transaction of its own (PostgreSQL).
    Own(Transaction<'static, Any>),
    /// Its turn in a transaction shared with the writes queued beside it (SQLite).
    Shared(BatchedWrite),
}

impl Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            WriteTx::Own(tx) => tx,
            WriteTx::Shared(write) => write,
        }
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            WriteTx::Own(tx) => tx,
            WriteTx::Shared(write) => write,
        }
    }
}

impl ScimWrite {
    /// Create a resource (as [`ScimStore::create`]).
    pub async fn create(
        &mut self,
        team: TeamId,
        resource_type: ResourceType,
        attributes: Value,
    ) -> Result<StoredResource, ScimStoreError> {
        self.create_with_id(team, resource_type, Uuid::new_v4().to_string(), attributes)
            .await
    }

    /// Create a resource whose id was decided elsewhere: an import of resources that
    /// already have ids (another provider's, or a benchmark's generated ones). The id must
    /// be new in the team, or the insert fails as a backend error.
    pub async fn create_with_id(
        &mut self,
        team: TeamId,
        resource_type: ResourceType,
        id: String,
        attributes: Value,
    ) -> Result<StoredResource, ScimStoreError> {
        self.store
            .insert_resource(&mut self.tx, team, resource_type, id, attributes)
            .await
    }

    /// A resource as this transaction sees it (as [`ScimStore::get`]).
    pub async fn get(
        &mut self,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
    ) -> Result<StoredResource, ScimStoreError> {
        self.store
            .get_on(&mut self.tx, team, resource_type, id)
            .await
    }

    /// Replace a resource (as [`ScimStore::replace`]), comparing versions: if another
    /// writer changed it since this transaction read it, the answer is
    /// [`ScimStoreError::VersionMismatch`] and the caller starts over in a new transaction.
    pub async fn replace(
        &mut self,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
        attributes: Value,
        expected_version: Option<&str>,
    ) -> Result<StoredResource, ScimStoreError> {
        self.store
            .replace_on(
                &mut self.tx,
                team,
                resource_type,
                id,
                attributes,
                expected_version,
            )
            .await?
            .ok_or(ScimStoreError::VersionMismatch)
    }

    /// Replace `current`, as read before this transaction (as
    /// [`ScimStore::replace_current`]): [`ScimStoreError::VersionMismatch`] if it changed
    /// since, and the caller starts over in a new transaction. One statement when it has
    /// not: the version is compared by the UPDATE itself, not read again first.
    pub async fn replace_current(
        &mut self,
        team: TeamId,
        resource_type: ResourceType,
        current: &StoredResource,
        attributes: Value,
    ) -> Result<StoredResource, ScimStoreError> {
        self.store
            .replace_current_on(&mut self.tx, team, resource_type, current, attributes)
            .await
    }

    /// Delete a resource (as [`ScimStore::delete`]).
    pub async fn delete(
        &mut self,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
    ) -> Result<(), ScimStoreError> {
        self.store
            .delete_on(&mut self.tx, team, resource_type, id)
            .await
    }

    /// The team member with this email, ignoring case (as
    /// [`MemberStore::member_by_email`](butterfly_core::store::MemberStore::member_by_email)).
    pub async fn member_by_email(
        &mut self,
        team: TeamId,
        email: &str,
    ) -> Result<Option<Member>, StoreError> {
        teams::on::member_by_email(&mut self.tx, team, email).await
    }

    /// Every member of the team.
    pub async fn list_members(&mut self, team: TeamId) -> Result<Vec<Member>, StoreError> {
        teams::on::list_members(&mut self.tx, team).await
    }

    /// Add a member.
    pub async fn create_member(
        &mut self,
        team: TeamId,
        new: NewMember,
    ) -> Result<Member, StoreError> {
        teams::on::create_member(&mut self.tx, self.store.clock.now(), team, new).await
    }

    /// Change the fields of a member that `update` names.
    pub async fn update_member(
        &mut self,
        team: TeamId,
        id: MemberId,
        update: MemberUpdate,
    ) -> Result<Member, StoreError> {
        teams::on::update_member(&mut self.tx, self.store.clock.now(), team, id, update).await
    }

    /// Remove a member (its sessions and API keys go with it).
    pub async fn delete_member(&mut self, team: TeamId, id: MemberId) -> Result<bool, StoreError> {
        teams::on::delete_member(&mut self.tx, team, id).await
    }

    /// End every live session of a member; returns how many.
    pub async fn revoke_sessions_of_member(
        &mut self,
        team: TeamId,
        member: MemberId,
    ) -> Result<u64, StoreError> {
        sessions::revoke_sessions_of_member_on(&mut self.tx, self.store.clock.now(), team, member)
            .await
    }

    /// Revoke every live API key of a member; returns how many.
    pub async fn revoke_api_keys_of_member(
        &mut self,
        team: TeamId,
        member: MemberId,
    ) -> Result<u64, StoreError> {
        tokens::revoke_api_keys_of_member_on(&mut self.tx, self.store.clock.now(), team, member)
            .await
    }

    /// Make this transaction the team's only member writer until it commits (see
    /// [`MemberWriteStore`](butterfly_core::store::MemberWriteStore)): on PostgreSQL it
    /// locks the team's row, on SQLite the transaction already holds the write lock.
    /// Take it before reading members or writing resources, so what is read stays true
    /// and two SCIM writes never wait on each other's rows in opposite orders.
    pub async fn lock_team_members(&mut self, team: TeamId) -> Result<(), StoreError> {
        members::lock_team(&mut self.tx, self.store.backend, team).await
    }

    /// Apply member changes through the member rules, in this transaction (as
    /// [`MemberWriteStore::write_members`](butterfly_core::store::MemberWriteStore::write_members)):
    /// [`StoreError::Refused`] if the rules refuse them; the caller then drops this
    /// write, so the resource changes that asked for them go too.
    pub async fn write_members(
        &mut self,
        team: TeamId,
        changes: Vec<MemberChange>,
    ) -> Result<MemberWriteOutcome, StoreError> {
        members::write_members_on(
            &mut self.tx,
            self.store.backend,
            self.store.clock.now(),
            team,
            changes,
        )
        .await
    }

    /// Make every write of this transaction visible at once; returns once they are
    /// committed (on SQLite, with the writes that shared the transaction).
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.tx {
            WriteTx::Own(tx) => tx.commit().await.map_err(backend_error),
            WriteTx::Shared(write) => write
                .commit()
                .await
                .map_err(|e| StoreError::Backend(Box::new(SqlError::SharedCommit(e)))),
        }
    }

    /// Undo every write of this transaction, as dropping it does, and return once the
    /// writes that shared it (on SQLite) are committed: a caller that lost a
    /// compare-and-swap ([`ScimStoreError::VersionMismatch`]) and reads again then sees
    /// the write that beat it.
    pub async fn rollback(self) -> Result<(), StoreError> {
        match self.tx {
            WriteTx::Own(tx) => tx.rollback().await.map_err(backend_error),
            WriteTx::Shared(write) => {
                write.rollback().await;
                Ok(())
            }
        }
    }

    /// Commit on `Ok`, roll back on `Err` (waiting as [`rollback`](Self::rollback)
    /// does); the outcome of the write.
    pub(crate) async fn finish<T>(
        self,
        outcome: Result<T, ScimStoreError>,
    ) -> Result<T, ScimStoreError> {
        match outcome {
            Ok(value) => {
                self.commit().await.map_err(corrupt)?;
                Ok(value)
            }
            Err(e) => {
                // The write's own error says more than a failed rollback would (which
                // closes the connection anyway).
                if let Err(undo) = self.rollback().await {
                    tracing::warn!(error = %undo, "rolling back a failed SCIM write failed");
                }
                Err(e)
            }
        }
    }
}

impl ScimStore for SqlStore {
    async fn create(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        attributes: Value,
    ) -> Result<StoredResource, ScimStoreError> {
        let mut write = self.begin_scim_write().await.map_err(corrupt)?;
        let created = write.create(team, resource_type, attributes).await;
        write.finish(created).await
    }

    async fn get(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
    ) -> Result<StoredResource, ScimStoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        self.get_on(&mut conn, team, resource_type, id).await
    }

    async fn replace(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
        attributes: Value,
        expected_version: Option<&str>,
    ) -> Result<StoredResource, ScimStoreError> {
        for _ in 0..REPLACE_ATTEMPTS {
            let mut write = self.begin_scim_write().await.map_err(corrupt)?;
            let done = self
                .replace_on(
                    &mut write.tx,
                    team,
                    resource_type,
                    id,
                    attributes.clone(),
                    expected_version,
                )
                .await;
            match done {
                Ok(Some(stored)) => return write.finish(Ok(stored)).await,
                // Lost a race: try again once the winner is visible.
                Ok(None) => write.rollback().await.map_err(corrupt)?,
                Err(e) => return write.finish(Err(e)).await,
            }
        }
        Err(ScimStoreError::VersionMismatch)
    }

    async fn replace_current(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        current: &StoredResource,
        attributes: Value,
    ) -> Result<StoredResource, ScimStoreError> {
        let mut write = self.begin_scim_write().await.map_err(corrupt)?;
        let replaced = write
            .replace_current(team, resource_type, current, attributes)
            .await;
        write.finish(replaced).await
    }

    async fn delete(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
    ) -> Result<(), ScimStoreError> {
        let mut write = self.begin_scim_write().await.map_err(corrupt)?;
        let deleted = write.delete(team, resource_type, id).await;
        write.finish(deleted).await
    }

    async fn query(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        query: &ListQuery,
    ) -> Result<(usize, Vec<StoredResource>), ScimStoreError> {
        let page = self.query_page(team, resource_type, query, false).await?;
        Ok((page.total, page.resources))
    }

    async fn query_with_groups(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        query: &ListQuery,
        with_groups: bool,
    ) -> Result<QueryPage, ScimStoreError> {
        self.query_page(team, resource_type, query, with_groups)
            .await
    }

    async fn get_with_groups(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
        with_groups: bool,
    ) -> Result<(StoredResource, Vec<(String, String)>), ScimStoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        self.get_with_groups_on(&mut conn, team, resource_type, id, with_groups)
            .await
    }

    async fn groups_of_user(
        &self,
        team: TeamId,
        user_id: &str,
    ) -> Result<Vec<(String, String)>, ScimStoreError> {
        let rows = sqlx::query(
            "SELECT r.id AS id, r.display_name AS display_name FROM scim_group_members AS m \
             JOIN scim_resources AS r ON r.team_id = m.team_id AND r.id = m.group_id \
             WHERE m.team_id = $1 AND m.member_id = $2 AND r.resource_type = 'Group' \
             ORDER BY r.seq",
        )
        .bind(team.to_string())
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok((
                    rows::text(row, "id").map_err(corrupt)?,
                    rows::opt_text(row, "display_name")
                        .map_err(corrupt)?
                        .unwrap_or_default(),
                ))
            })
            .collect()
    }

    async fn groups_of_users(
        &self,
        team: TeamId,
        user_ids: &[String],
    ) -> Result<BTreeMap<String, Vec<(String, String)>>, ScimStoreError> {
        let team_text = team.to_string();
        let mut groups: BTreeMap<String, Vec<(String, String)>> =
            user_ids.iter().map(|id| (id.clone(), Vec::new())).collect();
        let wanted: Vec<&String> = groups.keys().collect();
        let mut found = Vec::new();
        for chunk in wanted.chunks(CHUNK) {
            let mut q = BoundQuery::new(
                "SELECT m.member_id AS member_id, r.id AS id, r.display_name AS display_name \
                 FROM scim_group_members AS m \
                 JOIN scim_resources AS r ON r.team_id = m.team_id AND r.id = m.group_id \
                 WHERE m.team_id = ",
            );
            q.push_bind(team_text.as_str())
                .push(" AND r.resource_type = 'Group' AND m.member_id IN (");
            for (i, id) in chunk.iter().enumerate() {
                if i > 0 {
                    q.push(", ");
                }
                q.push_bind(id.as_str());
            }
            // The order `groups_of_user` gives, per User.
            q.push(") ORDER BY r.seq");
            for row in q.query().fetch_all(&self.pool).await.map_err(backend)? {
                found.push((
                    rows::text(&row, "member_id").map_err(corrupt)?,
                    rows::text(&row, "id").map_err(corrupt)?,
                    rows::opt_text(&row, "display_name")
                        .map_err(corrupt)?
                        .unwrap_or_default(),
                ));
            }
        }
        for (member, id, name) in found {
            if let Some(list) = groups.get_mut(&member) {
                list.push((id, name));
            }
        }
        Ok(groups)
    }

    async fn resolve_members(
        &self,
        team: TeamId,
        ids: &[String],
    ) -> Result<Vec<ResolvedMember>, ScimStoreError> {
        let team_text = team.to_string();
        let wanted: BTreeSet<&String> = ids.iter().collect();
        let wanted: Vec<&String> = wanted.into_iter().collect();
        let mut found: BTreeMap<String, ResolvedMember> = BTreeMap::new();
        for chunk in wanted.chunks(CHUNK) {
            let mut q = BoundQuery::new(format!(
                "SELECT r.id AS id, r.resource_type AS resource_type, {} AS body \
                 FROM scim_resources AS r WHERE r.team_id = ",
                self.dialect().body_text("r.body")
            ));
            q.push_bind(team_text.as_str()).push(" AND r.id IN (");
            for (i, id) in chunk.iter().enumerate() {
                if i > 0 {
                    q.push(", ");
                }
                q.push_bind(id.as_str());
            }
            q.push(")");
            for row in q.query().fetch_all(&self.pool).await.map_err(backend)? {
                let id = rows::text(&row, "id").map_err(corrupt)?;
                let type_name = rows::text(&row, "resource_type").map_err(corrupt)?;
                let resource_type = ResourceType::from_name(&type_name).ok_or_else(|| {
                    corrupt(StoreError::Corrupt(format!(
                        "column resource_type: unknown `{type_name}`"
                    )))
                })?;
                let body: Value = serde_json::from_str(&rows::text(&row, "body").map_err(corrupt)?)
                    .map_err(|e| corrupt(StoreError::Corrupt(format!("column body: {e}"))))?;
                // As the in-memory store: `displayName` if the member is there, else
                // `userName`.
                let display = body
                    .get("displayName")
                    .or_else(|| body.get("userName"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                found.insert(
                    id.clone(),
                    ResolvedMember {
                        id,
                        resource_type,
                        display,
                    },
                );
            }
        }
        Ok(ids.iter().filter_map(|id| found.get(id).cloned()).collect())
    }
}

#[cfg(test)]
mod tests {
    use butterfly_core::store::TeamStore as _;
    use butterfly_scim::filter::Filter;

    use super::*;
    use crate::scim::SqlValue;

    /// SQLite's plan for `sql` with `values` bound: one line per step.
    async fn plan(store: &SqlStore, sql: &str, values: &[SqlValue]) -> Vec<String> {
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let mut q = sqlx::query(&explain);
        for value in values {
            q = match value {
                SqlValue::Text(s) => q.bind(s.clone()),
                SqlValue::Integer(n) => q.bind(*n),
                SqlValue::Real(x) => q.bind(*x),
                _ => q.bind(None::<String>),
            };
        }
        q.fetch_all(store.pool())
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get::<String, _>("detail").unwrap())
            .collect()
    }

    /// No step of a `userName eq` lookup or of a page deep into the list (each with its
    /// Users' Groups) scans a stored table, and the page takes its order from the list
    /// index rather than sorting.
    async fn assert_plans_indexed(store: &SqlStore, team: &str, stats: &str) {
        let lookup = ListQuery {
            filter: Some(Filter::parse("userName eq \"ada@example.com\"").unwrap()),
            sort_by: None,
            descending: false,
            start_index: 1,
            count: 100,
        };
        let page = ListQuery {
            filter: None,
            start_index: 500_001,
            ..lookup.clone()
        };
        for (what, query) in [("userName eq lookup", &lookup), ("page", &page)] {
            let q = store
                .page_query(team, ResourceType::User, query, None, true)
                .unwrap();
            let steps = plan(store, q.sql(), q.values()).await;
            let text = steps.join("\n");
            for step in &steps {
                // `json_each` over the bodies of irregular rows (found through their
                // own index) are virtual tables, not scans of a stored table.
                let scans_whole_table = step.starts_with("SCAN")
                    && !step.contains("VIRTUAL TABLE")
                    && !step.contains("USING INDEX")
                    && !step.contains("USING COVERING INDEX");
                assert!(
                    !scans_whole_table,
                    "{what} ({stats}) scans a table:\n{text}"
                );
            }
            assert!(
                text.contains("scim_group_members_member"),
                "{what}'s ({stats}) Groups come from the membership index:\n{text}"
            );
            if query.filter.is_some() {
                assert!(
                    text.contains("scim_resources_user_name"),
                    "{what} ({stats}) is a search of the userName index:\n{text}"
                );
            } else {
                assert!(
                    text.contains("COVERING INDEX scim_resources_list")
                        && !text.contains("TEMP B-TREE FOR ORDER BY"),
                    "{what} ({stats}) is read in the list index's order:\n{text}"
                );
            }
            eprintln!("{what} ({stats}):\n{text}");
        }
    }

    /// A `userName eq` lookup and a page deep into the list, with their Users' Groups,
    /// stay index searches with 1M Users in one team: the planner is given the
    /// statistics (`sqlite_stat1`) of such a table, which it plans by whatever the file
    /// holds, so an empty file shows the plan of a full one. No step may scan
    /// `scim_resources` or `scim_group_members` whole.
    #[tokio::test]
    async fn lookups_and_pages_stay_indexed_at_a_million_users() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("plan.db").display());
        let store = SqlStore::connect(&url).await.unwrap();
        let team = store.create_team("plans").await.unwrap().id.to_string();
        assert_plans_indexed(&store, &team, "the migrations' statistics").await;
        // One team of 1M Users (the team column selects them all) and 1M memberships,
        // ten per User; stat lines are "rows, then rows per distinct prefix". Every
        // index of the table is given, so none looks smaller than it would be.
        for (idx, stat) in [
            ("sqlite_autoindex_scim_resources_1", "1000000 1000000 1"),
            ("scim_resources_list", "1000000 1000000 1000000 1"),
            ("scim_resources_user_name", "1000000 1000000 1"),
            ("scim_resources_group_name", "1000000 1000000 1"),
            (
                "scim_resources_family_name",
                "1000000 1000000 1000000 2000 1000",
            ),
            ("scim_resources_external_id", "1000000 1000000 1000000 1"),
            ("scim_resources_created", "1000000 1000000 1000000 2"),
            ("scim_resources_modified", "1000000 1000000 1000000 2"),
            (
                "sqlite_autoindex_scim_group_members_1",
                "1000000 1000000 1000 1",
            ),
            ("scim_group_members_member", "1000000 1000000 10"),
        ] {
            let updated = sqlx::query("UPDATE sqlite_stat1 SET stat = $1 WHERE idx = $2")
                .bind(stat)
                .bind(idx)
                .execute(store.pool())
                .await
                .unwrap()
                .rows_affected();
            assert_eq!(updated, 1, "{idx} has statistics");
        }
        // Connections read the statistics when they open.
        store.close().await;
        let store = SqlStore::connect(&url).await.unwrap();

        assert_plans_indexed(&store, &team, "1M Users").await;
        store.close().await;
    }
}
