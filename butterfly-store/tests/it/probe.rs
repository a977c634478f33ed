//! A scratch table of SCIM resources for testing the filter compiler against the
//! in-memory evaluator: rows numbered 0.., the resource as JSON (TEXT on SQLite, JSONB on
//! PostgreSQL) and every indexed column, filled as `IndexedAttribute::value_of` says.

use std::collections::BTreeSet;

use butterfly_scim::filter::{AttributeRules, Filter};
use butterfly_store::scim::{
    BoundQuery, FilterSqlError, IndexedAttribute, ResourceColumns, push_filter,
};
use butterfly_store::{Backend, SqlStore};
use serde_json::Value;
use sqlx::Row as _;

/// The columns of the probe table, with every indexed column and the irregular flag.
pub fn indexed_columns() -> ResourceColumns {
    indexed_columns_without_flag().with_irregular_flag("r.irregular")
}

/// The columns of the probe table, with every indexed column but no irregular flag.
pub fn indexed_columns_without_flag() -> ResourceColumns {
    ResourceColumns::new("r.body")
        .with(IndexedAttribute::Id, "r.id")
        .with(IndexedAttribute::ExternalId, "r.external_id")
        .with(IndexedAttribute::UserNameLower, "r.user_name_ci")
        .with(IndexedAttribute::DisplayNameLower, "r.display_name_ci")
        .with(IndexedAttribute::CreatedMillis, "r.created_ms")
        .with(IndexedAttribute::LastModifiedMillis, "r.modified_ms")
        .with(IndexedAttribute::FamilyNameLower, "r.family_name_ci")
        .with(IndexedAttribute::Active, "r.active")
}

/// The columns of the probe table, JSON body only.
pub fn body_columns() -> ResourceColumns {
    ResourceColumns::new("r.body")
}

const COLUMNS: [(IndexedAttribute, &str); 8] = [
    (IndexedAttribute::Id, "id"),
    (IndexedAttribute::ExternalId, "external_id"),
    (IndexedAttribute::UserNameLower, "user_name_ci"),
    (IndexedAttribute::DisplayNameLower, "display_name_ci"),
    (IndexedAttribute::CreatedMillis, "created_ms"),
    (IndexedAttribute::LastModifiedMillis, "modified_ms"),
    (IndexedAttribute::FamilyNameLower, "family_name_ci"),
    (IndexedAttribute::Active, "active"),
];

pub struct Probe<'s> {
    store: &'s SqlStore,
}

impl<'s> Probe<'s> {
    pub async fn create(store: &'s SqlStore) -> Probe<'s> {
        let ddl = match store.backend() {
            Backend::Sqlite => {
                "CREATE TABLE filter_probe (n INTEGER PRIMARY KEY, body TEXT NOT NULL, \
                 id TEXT, external_id TEXT, user_name_ci TEXT, display_name_ci TEXT, \
                 created_ms INTEGER, modified_ms INTEGER, family_name_ci TEXT, active INTEGER, \
                 irregular INTEGER NOT NULL)"
            }
            _ => {
                "CREATE TABLE filter_probe (n BIGINT PRIMARY KEY, body JSONB NOT NULL, \
                 id TEXT COLLATE \"C\", external_id TEXT COLLATE \"C\", \
                 user_name_ci TEXT COLLATE \"C\", display_name_ci TEXT COLLATE \"C\", \
                 created_ms BIGINT, modified_ms BIGINT, family_name_ci TEXT COLLATE \"C\", \
                 active SMALLINT, irregular SMALLINT NOT NULL)"
            }
        };
        sqlx::query(ddl).execute(store.pool()).await.unwrap();
        Probe { store }
    }

    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// Replace the table's rows with `resources`, row `n` holding `resources[n]`.
    pub async fn load(&self, resources: &[Value]) {
        sqlx::query("DELETE FROM filter_probe")
            .execute(self.store.pool())
            .await
            .unwrap();
        if resources.is_empty() {
            return;
        }
        let mut q = BoundQuery::new("INSERT INTO filter_probe (n, body");
        for (_, column) in COLUMNS {
            q.push(", ").push(column);
        }
        q.push(", irregular) VALUES ");
        let flagged = indexed_columns();
        for (n, resource) in resources.iter().enumerate() {
            if n > 0 {
                q.push(", ");
            }
            q.push("(").push_bind(i64::try_from(n).unwrap()).push(", ");
            match self.backend() {
                Backend::Sqlite => q.push_bind(resource.to_string()),
                _ => q
                    .push("CAST(")
                    .push_bind(resource.to_string())
                    .push(" AS jsonb)"),
            };
            for (attribute, _) in COLUMNS {
                q.push(", ");
                match attribute.value_of(resource) {
                    Some(value) => q.push_bind(value),
                    // A typed NULL, so PostgreSQL need not guess the parameter's type.
                    None => q.push("NULL"),
                };
            }
            q.push(", ")
                .push_bind(i64::from(flagged.irregular(resource)))
                .push(")");
        }
        q.query().execute(self.store.pool()).await.unwrap();
    }

    /// The rows `filter` selects, compiled for `columns`.
    pub async fn select(
        &self,
        filter: &Filter,
        rules: &dyn AttributeRules,
        columns: &ResourceColumns,
    ) -> Result<BTreeSet<usize>, String> {
        let mut q = BoundQuery::new("SELECT n FROM filter_probe AS r WHERE ");
        push_filter(&mut q, self.backend(), columns, filter, rules)
            .map_err(|e: FilterSqlError| e.to_string())?;
        let rows = q
            .query()
            .fetch_all(self.store.pool())
            .await
            .map_err(|e| format!("{e}\nSQL: {}\nvalues: {:?}", q.sql(), q.values()))?;
        Ok(rows
            .iter()
            .map(|row| usize::try_from(row.get::<i64, _>(0)).unwrap())
            .collect())
    }
}

/// The rows the evaluator says `filter` matches.
pub fn evaluated(
    resources: &[Value],
    filter: &Filter,
    rules: &dyn AttributeRules,
) -> BTreeSet<usize> {
    resources
        .iter()
        .enumerate()
        .filter(|(_, r)| filter.matches(r, rules))
        .map(|(n, _)| n)
        .collect()
}

/// Check that SQL (both column layouts, and the negation) agrees with the evaluator.
pub async fn assert_agrees(
    probe: &Probe<'_>,
    resources: &[Value],
    filter: &Filter,
    rules: &dyn AttributeRules,
) -> Result<(), String> {
    let expected = evaluated(resources, filter, rules);
    let negated = Filter::Not(Box::new(filter.clone()));
    let all: BTreeSet<usize> = (0..resources.len()).collect();
    for (layout, columns) in [
        ("indexed", indexed_columns()),
        ("indexed, no flag", indexed_columns_without_flag()),
        ("body", body_columns()),
    ] {
        let got = probe.select(filter, rules, &columns).await?;
        if got != expected {
            return Err(format!(
                "{}: `{filter}` ({layout} columns) selected {got:?}, the evaluator {expected:?}",
                probe.backend()
            ));
        }
        let got_not = probe.select(&negated, rules, &columns).await?;
        let complement: BTreeSet<usize> = all.difference(&expected).copied().collect();
        if got_not != complement {
            return Err(format!(
                "{}: `not ({filter})` ({layout} columns) selected {got_not:?}, expected {complement:?}",
                probe.backend()
            ));
        }
    }
    Ok(())
}
