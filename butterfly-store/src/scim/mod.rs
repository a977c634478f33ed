//! SCIM resources in SQL: filters compiled to SQL, and (with [`SqlStore`]) a
//! [`ScimStore`](butterfly_scim::ScimStore).
//!
//! - [`push_filter`] compiles a [`Filter`](butterfly_scim::filter::Filter) into a WHERE
//!   fragment with the semantics of the in-memory evaluator
//!   ([`Filter::matches`](butterfly_scim::filter::Filter::matches)), for SQLite or
//!   PostgreSQL, every value bound. The differences between the two databases live in
//!   one trait, one implementation per database.
//! - [`BoundQuery`] is the SQL under construction: text with `$N` placeholders and the
//!   values bound to them.
//!
//! [`SqlStore`]: crate::SqlStore

mod bound;
mod datetime;
pub(crate) mod dialect;
pub mod filter_sql;
pub(crate) mod sort_sql;

pub use bound::{BoundQuery, SqlValue};
pub use filter_sql::{FilterSqlError, IndexedAttribute, MAX_NESTING, ResourceColumns, push_filter};
