//! The identity providers Butterfly backs up.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// The identity providers Butterfly backs up, as named in snapshot manifests.
///
/// `Snapshot::provider` is typed by it, so code that handles "an Okta snapshot" matches
/// on a variant instead of comparing strings.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
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
    fn wire_names_round_trip_through_text_and_json() {
        for kind in ProviderKind::ALL {
            assert_eq!(kind.as_str().parse::<ProviderKind>().unwrap(), kind);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<ProviderKind>(&json).unwrap(), kind);
        }
    }

    #[test]
    fn unknown_names_are_refused() {
        let err = "myspace".parse::<ProviderKind>().unwrap_err();
        assert!(matches!(err, Error::UnknownProvider(ref name) if name == "myspace"));
        assert!("Okta".parse::<ProviderKind>().is_err());
    }
}
