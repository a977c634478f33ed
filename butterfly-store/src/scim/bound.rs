//! SQL text with `$N` placeholders and the values bound to them.
//!
//! sqlx's `QueryBuilder<Any>` writes `?` placeholders, which SQLite accepts and
//! PostgreSQL does not, so the SQL that must run on both through the `Any` driver is
//! assembled here instead: the same `push` / `push_bind` discipline (values only ever
//! travel as bound parameters, never inside the text), with `$N` placeholders that both
//! databases understand.

use std::fmt::Write as _;

use sqlx::any::AnyArguments;
use sqlx::query::Query;

/// One bound value. The three kinds the `Any` driver carries on both databases.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SqlValue {
    /// `TEXT`.
    Text(String),
    /// `BIGINT` / `INTEGER`.
    Integer(i64),
    /// `DOUBLE PRECISION` / `REAL`.
    Real(f64),
    /// SQL NULL, typed as text.
    Null,
}

impl From<Option<String>> for SqlValue {
    fn from(value: Option<String>) -> Self {
        value.map_or(SqlValue::Null, SqlValue::Text)
    }
}

impl From<String> for SqlValue {
    fn from(value: String) -> Self {
        SqlValue::Text(value)
    }
}

impl From<&str> for SqlValue {
    fn from(value: &str) -> Self {
        SqlValue::Text(value.to_owned())
    }
}

impl From<i64> for SqlValue {
    fn from(value: i64) -> Self {
        SqlValue::Integer(value)
    }
}

impl From<f64> for SqlValue {
    fn from(value: f64) -> Self {
        SqlValue::Real(value)
    }
}

/// A statement under construction: SQL text with `$1`, `$2`, ... placeholders, and the
/// values for them in order.
///
/// [`push`](BoundQuery::push) appends SQL written by the program (keywords, column
/// names, aliases); [`push_bind`](BoundQuery::push_bind) appends a placeholder and
/// records the value. Data from a request must only ever go through `push_bind`.
///
/// ```
/// use butterfly_store::scim::{BoundQuery, SqlValue};
///
/// let mut q = BoundQuery::new("SELECT id FROM scim_resources WHERE team_id = ");
/// q.push_bind("acme").push(" AND external_id = ").push_bind("7019");
/// assert_eq!(q.sql(), "SELECT id FROM scim_resources WHERE team_id = $1 AND external_id = $2");
/// assert_eq!(q.values(), &[SqlValue::Text("acme".into()), SqlValue::Text("7019".into())]);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoundQuery {
    sql: String,
    values: Vec<SqlValue>,
}

impl BoundQuery {
    /// A statement starting with `init` (SQL text, no values).
    pub fn new(init: impl Into<String>) -> Self {
        BoundQuery {
            sql: init.into(),
            values: Vec::new(),
        }
    }

    /// Append SQL text written by the program.
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Append a placeholder for `value`.
    pub fn push_bind(&mut self, value: impl Into<SqlValue>) -> &mut Self {
        self.values.push(value.into());
        // Writing into a String cannot fail.
        let _ = write!(self.sql, "${}", self.values.len());
        self
    }

    /// The SQL text so far.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The bound values so far, in placeholder order.
    pub fn values(&self) -> &[SqlValue] {
        &self.values
    }

    /// The statement, ready to run on an `AnyPool`.
    pub fn query(&self) -> Query<'_, sqlx::Any, AnyArguments<'_>> {
        let mut query = sqlx::query(&self.sql);
        for value in &self.values {
            query = match value {
                SqlValue::Text(text) => query.bind(text.as_str()),
                SqlValue::Integer(n) => query.bind(*n),
                SqlValue::Real(x) => query.bind(*x),
                SqlValue::Null => query.bind(None::<String>),
            };
        }
        query
    }
}
