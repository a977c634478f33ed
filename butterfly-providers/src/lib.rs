//! Identity provider connectors for Butterfly backups.
//!
//! This crate holds the [`Provider`](provider::Provider) trait (feature `fetcher`, on by
//! default) and its implementations: Okta first
//! (OAuth 2.0 service apps with `private_key_jwt`, Link-header pagination, per-bucket
//! rate limiting, every resource kind, restore writers), then Entra ID, Auth0,
//! PingOne, 1Password and Okta Workflows; and, behind the `simulator` feature, an
//! Okta-compatible org simulator for tests, demos and benchmarks.
//!
//! Today it names the providers Butterfly knows and holds the Okta groundwork in
//! [`okta`]: the catalogue of resource kinds a backup covers ([`okta::kinds`]), Okta's
//! rate-limit buckets, Link-header pagination, secret stripping and error bodies. With
//! the `simulator` feature, `okta::simulator` serves a generated org over HTTP the way Okta
//! does (token endpoint, scopes, pagination, rate limits, faults), and the
//! `butterfly-okta-sim` binary runs it from the command line.
//!
//! # Example
//!
//! ```
//! use butterfly_providers::ProviderKind;
//!
//! let kind: ProviderKind = "okta".parse()?;
//! assert_eq!(kind, ProviderKind::Okta);
//! assert_eq!(kind.display_name(), "Okta");
//! assert!("myspace".parse::<ProviderKind>().is_err());
//! # Ok::<(), butterfly_core::Error>(())
//! ```
#![deny(missing_docs)]

#[cfg(feature = "fetcher")]
pub mod backup;
#[cfg(any(feature = "fetcher", feature = "simulator"))]
pub mod clock;
pub mod entra;
pub mod okta;
#[cfg(feature = "fetcher")]
pub mod provider;

pub use butterfly_core::ProviderKind;

/// Errors from provider connectors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A listed item has no value where its kind's id rule looks.
    #[error("a `{kind}` item has no id")]
    MissingId {
        /// The kind.
        kind: String,
    },
    /// A list response does not have the shape its kind expects.
    #[error("the `{kind}` list response is not {expected}")]
    UnexpectedShape {
        /// The kind.
        kind: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A list response that is JSON but could not be read as the kind's items.
    #[error("the `{kind}` list response cannot be read: {reason}")]
    Unreadable {
        /// The kind.
        kind: String,
        /// What the JSON parser said.
        reason: String,
    },
}
