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
//! # Example
//!
//! ```
//! use butterfly_core::store::TeamStore;
//! use butterfly_scim::filter::{AttrPath, Filter};
//! use butterfly_scim::{ListQuery, ResourceType, ScimStore};
//! use butterfly_store::SqlStore;
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = SqlStore::connect("sqlite::memory:").await?;
//! let team = store.create_team("acme").await?.id;
//! for name in ["bjensen", "Ada", "jsmith"] {
//!     let user = json!({"userName": name, "emails": [{"value": format!("{name}@example.com"), "type": "work"}]});
//!     store.create(team, ResourceType::User, user).await?;
//! }
//! let query = ListQuery {
//!     filter: Some(Filter::parse(r#"userName sw "J" or emails[value ew "@EXAMPLE.com" and type eq "home"]"#)?),
//!     sort_by: Some(AttrPath::parse("userName")?),
//!     descending: false,
//!     start_index: 1,
//!     count: 10,
//! };
//! let (total, page) = store.query(team, ResourceType::User, &query).await?;
//! assert_eq!(total, 1);
//! assert_eq!(page[0].resource["userName"], "jsmith");
//! # Ok(())
//! # }
//! ```
//!
//! [`SqlStore`]: crate::SqlStore

mod bound;
mod datetime;
pub(crate) mod dialect;
pub mod filter_sql;
pub(crate) mod sort_sql;

pub use bound::{BoundQuery, SqlValue};
pub use filter_sql::{FilterSqlError, IndexedAttribute, MAX_NESTING, ResourceColumns, push_filter};
