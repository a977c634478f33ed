//! A framework-agnostic SCIM 2.0 service provider (RFC 7643, RFC 7644) that Okta and
//! Microsoft Entra ID can provision into.
//!
//! Give a [`ScimService`] a [`ScimStore`], hand it `http::Request`s with the team the
//! caller authenticated as, and send back the `http::Response` it returns. It implements:
//!
//! - `/Users` and `/Groups`: create, read, replace, PATCH, delete, with weak ETags,
//!   `If-Match` (412) and `If-None-Match` (304) (RFC 7644 sections 3.3 to 3.6, 3.14);
//! - list and search with the full filter grammar, sorting, paging and
//!   `attributes`/`excludedAttributes` (sections 3.4.2, 3.4.3), `/.search` included;
//! - PATCH in the dialects real clients speak ([`patch`]): Entra ID's capitalised ops,
//!   `"True"`/`"False"`, dotted and URN-qualified keys, members removed by value, and
//!   Okta's path-less replace, all atomic;
//! - `/Bulk` with `bulkId` references, `failOnErrors` and enforced limits (section 3.7);
//! - discovery: `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas` (section 4), for
//!   the core User and Group schemas, the enterprise User extension and Butterfly's User
//!   extension with `butterflyRole` ([`schema`]);
//! - input checked before it is stored: `userName` a non-empty string of at most 256
//!   characters, display names and the parts of `name` at most 1024, no control
//!   characters in strings, names put in Unicode NFC so canonically equal spellings
//!   collide under the uniqueness rule, one `bulkId` per operation in a `/Bulk` request,
//!   and 415 for a body whose `Content-Type` is not JSON;
//! - errors as SCIM error bodies with the right `status` and `scimType` ([`ScimError`]):
//!   client mistakes are 4xx, never 500, and nothing panics.
//!
//! Attribute names and schema URNs are case-insensitive on input and stored in the
//! schemas' canonical spelling, so a store can read them at fixed JSON paths. The store
//! is a trait: [`MemoryStore`] keeps everything in memory; a SQL store lives in
//! `butterfly-store`. With the `axum` feature, `axum::router` wraps the service in a
//! router with bearer-token authentication.
//!
//! Passwords are accepted (Okta sends one) and discarded, never stored or returned:
//! sign-in goes through the identity provider. `/Me` answers 501.
//!
//! # Example
//!
//! Provision a user the way Okta does, find it by `userName`, deactivate it:
//!
//! ```
//! use butterfly_core::TeamId;
//! use butterfly_scim::{MemoryStore, ScimService};
//! use bytes::Bytes;
//! use futures::executor::block_on;
//! use serde_json::{Value, json};
//!
//! let service = ScimService::new(MemoryStore::new());
//! let team = TeamId::new_random();
//! let base = "https://example.com/scim/v2";
//! let send = |method: &str, uri: &str, body: Option<Value>| {
//!     let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
//!     let request = http::Request::builder().method(method).uri(uri).body(body)?;
//!     let response = block_on(service.handle(team, base, request));
//!     let json = if response.body().is_empty() {
//!         Value::Null
//!     } else {
//!         serde_json::from_slice(response.body())?
//!     };
//!     Ok::<_, Box<dyn std::error::Error>>((response.status().as_u16(), json))
//! };
//!
//! let (status, user) = send("POST", "/Users", Some(json!({
//!     "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
//!     "userName": "bjensen@example.com",
//!     "name": {"givenName": "Barbara", "familyName": "Jensen"},
//!     "emails": [{"primary": true, "value": "bjensen@example.com", "type": "work"}],
//!     "active": true
//! })))?;
//! assert_eq!(status, 201);
//! let id = user["id"].as_str().unwrap_or_default();
//! assert_eq!(user["meta"]["location"], format!("{base}/Users/{id}"));
//!
//! let (_, found) = send("GET", "/Users?filter=userName%20eq%20%22BJENSEN@example.com%22", None)?;
//! assert_eq!(found["totalResults"], 1);
//!
//! let (status, user) = send("PATCH", &format!("/Users/{id}"), Some(json!({
//!     "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
//!     "Operations": [{"op": "Replace", "path": "active", "value": "False"}]
//! })))?;
//! assert_eq!((status, &user["active"]), (200, &json!(false)));
//!
//! let (status, error) = send("GET", "/Users?filter=userName%20eqq%20%22x%22", None)?;
//! assert_eq!((status, &error["scimType"]), (400, &json!("invalidFilter")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Filtering a resource directly, and turning a bad filter into the response a client
//! should see:
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
//!
//! Embedding the router in an axum application (feature `axum`): the `axum` module's
//! documentation carries a complete, compile-checked example.
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
    ListQuery, QueryPage, ResolvedMember, ResourceType, ScimStore, ScimStoreError, StoredMeta,
    StoredResource,
};
