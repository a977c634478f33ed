//! Identity provider connectors for Butterfly backups.
//!
//! This crate will hold the `Provider` trait and its implementations: Okta first
//! (OAuth 2.0 service apps with `private_key_jwt`, Link-header pagination, per-bucket
//! rate limiting, every resource kind, restore writers), then Entra ID, Auth0,
//! PingOne, 1Password and Okta Workflows; and, behind the `simulator` feature, an
//! Okta-compatible org simulator for tests, demos and benchmarks.
//!
//! Today it names the providers Butterfly knows and holds the Okta groundwork in
//! [`okta`]: the catalogue of resource kinds a backup covers ([`okta::kinds`]), Okta's
//! rate-limit buckets, Link-header pagination, secret stripping and error bodies. With
//! the `simulator` feature, `simulator` serves a generated org over HTTP the way Okta
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
//! # Ok::<(), butterfly_providers::Error>(())
//! ```
#![deny(missing_docs)]

pub mod okta;
#[cfg(feature = "simulator")]
pub mod simulator;

use std::fmt;
use std::str::FromStr;

/// Errors from provider connectors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The provider name is not one Butterfly knows.
    #[error(
        "unknown provider `{0}`: expected one of okta, entra_id, auth0, pingone, onepassword, okta_workflows"
    )]
    UnknownProvider(String),
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
}

/// The identity providers Butterfly backs up.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProviderKind {
    /// Okta Identity Engine / Classic.
    Okta,
    /// Microsoft Entra ID.
    EntraId,
    /// Auth0.
    Auth0,
    /// Ping Identity PingOne.
    #[serde(rename = "pingone")]
    PingOne,
    /// 1Password.
    #[serde(rename = "onepassword")]
    OnePassword,
    /// Okta Workflows.
    OktaWorkflows,
}

impl ProviderKind {
    /// Every provider.
    pub const ALL: [ProviderKind; 6] = [
        ProviderKind::Okta,
        ProviderKind::EntraId,
        ProviderKind::Auth0,
        ProviderKind::PingOne,
        ProviderKind::OnePassword,
        ProviderKind::OktaWorkflows,
    ];

    /// The wire name, as stored in snapshot manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Okta => "okta",
            ProviderKind::EntraId => "entra_id",
            ProviderKind::Auth0 => "auth0",
            ProviderKind::PingOne => "pingone",
            ProviderKind::OnePassword => "onepassword",
            ProviderKind::OktaWorkflows => "okta_workflows",
        }
    }

    /// The vendor's own name for the product.
    pub fn display_name(self) -> &'static str {
        match self {
            ProviderKind::Okta => "Okta",
            ProviderKind::EntraId => "Microsoft Entra ID",
            ProviderKind::Auth0 => "Auth0",
            ProviderKind::PingOne => "PingOne",
            ProviderKind::OnePassword => "1Password",
            ProviderKind::OktaWorkflows => "Okta Workflows",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProviderKind::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| Error::UnknownProvider(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_text_and_json() {
        for p in ProviderKind::ALL {
            assert_eq!(p.as_str().parse::<ProviderKind>().unwrap(), p);
            assert_eq!(
                serde_json::to_value(p).unwrap(),
                serde_json::json!(p.as_str())
            );
        }
    }
}
