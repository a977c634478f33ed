//! An OpenID Connect relying party for Rust services.
//!
//! This crate will hold discovery, the authorization code flow with PKCE, ID token
//! validation with a JWKS cache, third-party initiated login (OIDC Core section 4),
//! just-in-time provisioning hooks and back-channel logout token validation, with
//! ready routes behind the `axum` feature. Today it holds email-domain routing: how a
//! sign-in email chooses the SSO connection to send the user to.
//!
//! # Example
//!
//! ```
//! use butterfly_oidc::{DomainRouter, EmailDomain};
//!
//! let mut router = DomainRouter::new();
//! router.insert(EmailDomain::parse("example.com")?, "team-a");
//! router.insert(EmailDomain::parse("example.org")?, "team-a");
//!
//! assert_eq!(router.route_email("Jane.Doe@EXAMPLE.com")?, Some(&"team-a"));
//! assert_eq!(router.route_email("x@elsewhere.net")?, None);
//! assert!(router.route_email("not an email").is_err());
//! # Ok::<(), butterfly_oidc::Error>(())
//! ```
#![deny(missing_docs)]

mod domain;

pub use domain::{DomainRouter, EmailDomain};

/// Errors from the relying party.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not an email address with a valid domain.
    #[error("`{0}` is not a valid email address")]
    InvalidEmail(String),
    /// The text is not a valid DNS domain name.
    #[error("`{0}` is not a valid domain name")]
    InvalidDomain(String),
}
