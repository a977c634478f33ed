//! A framework-agnostic SCIM 2.0 service provider (RFC 7643, RFC 7644).
//!
//! This crate will hold the whole provider side of SCIM: the User and Group resources
//! and their schemas, the filter grammar (parsed, evaluated and pushed down to SQL),
//! PATCH with the dialects of Okta and Entra ID, list/query, bulk, ETags, and a
//! `ScimService` over a `ScimStore` trait, with an axum router behind the `axum`
//! feature. Today it holds the error model every response is built on.
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
#![deny(missing_docs)]

mod error;
pub mod schemas;

pub use error::{ScimError, ScimType};
