//! A framework-agnostic SCIM 2.0 service provider (RFC 7643, RFC 7644).
//!
//! This crate will hold the whole provider side of SCIM: the User and Group resources
//! and their schemas, the filter grammar (parsed, evaluated and pushed down to SQL),
//! PATCH with the dialects of Okta and Entra ID, list/query, bulk, ETags, and a
//! `ScimService` over a `ScimStore` trait, with an axum router behind the `axum`
//! feature. Today it holds:
//!
//! - the error model every response is built on: [`ScimError`] and [`ScimType`];
//! - the schema and message URNs, in [`schemas`];
//! - the filter grammar, in [`filter`]: [`filter::Filter`] parses `filter=` text into a
//!   tree, prints it back canonically and evaluates it against a resource held as JSON;
//!   [`filter::PatchPath`] parses a PATCH operation's `path`. Syntax errors convert into
//!   the 400 `invalidFilter` / `invalidPath` responses RFC 7644 asks for.
//!
//! # Example
//!
//! ```
//! use butterfly_scim::{ScimError, ScimType};
//!
//! let err = ScimError::new(400, "unknown operator `eqq`").with_type(ScimType::InvalidFilter);
//! assert_eq!(err.status(), 400);
//! let body = err.to_json();
//! assert_eq!(body["scimType"], "invalidFilter");
//! assert_eq!(body["status"], "400");
//! assert_eq!(body["schemas"][0], butterfly_scim::schemas::ERROR);
//! ```
//!
//! Filtering a resource, and turning a bad filter into the response a client should see:
//!
//! ```
//! use butterfly_scim::ScimError;
//! use butterfly_scim::filter::{DefaultRules, Filter};
//! use serde_json::json;
//!
//! let user = json!({
//!     "userName": "bjensen",
//!     "title": "Tour Guide",
//!     "emails": [{"type": "work", "value": "bjensen@example.com"}]
//! });
//!
//! let filter = Filter::parse(r#"title pr and emails[type eq "work" and value ew "@EXAMPLE.COM"]"#)?;
//! assert!(filter.matches(&user, &DefaultRules));
//! // Printing gives canonical text that parses back to the same tree.
//! assert_eq!(Filter::parse(&filter.to_string())?, filter);
//!
//! let response: ScimError = match Filter::parse("userName eq") {
//!     Ok(_) => unreachable!(),
//!     Err(e) => e.into(),
//! };
//! assert_eq!(response.to_json()["scimType"], "invalidFilter");
//! # Ok::<(), butterfly_scim::filter::FilterError>(())
//! ```
#![deny(missing_docs)]

#[cfg(feature = "axum")]
pub mod axum;
mod error;
pub mod filter;
mod memory;
mod normalize;
pub mod patch;
pub mod schema;
pub mod schemas;
mod service;
pub mod store;

pub use error::{ScimError, ScimType};
pub use memory::MemoryStore;
pub use service::{SCIM_CONTENT_TYPE, ScimConfig, ScimService, error_response};
pub use store::{
    ListQuery, ResolvedMember, ResourceType, ScimStore, ScimStoreError, StoredMeta, StoredResource,
};
