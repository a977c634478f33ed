//! Compliance checks over identity provider snapshots.
//!
//! This crate will hold a catalogue of checks (MFA enforced for admins, password
//! policy strength, session lifetimes, dormant accounts, ...), their mappings to the
//! controls of each framework, evaluation over a snapshot, and report writers (JSON,
//! CSV, SARIF, Markdown/HTML). Today it names the frameworks.
//!
//! # Example
//!
//! ```
//! use butterfly_compliance::Framework;
//!
//! let f: Framework = "nist_800_53".parse()?;
//! assert_eq!(f.title(), "NIST SP 800-53");
//! assert_eq!(Framework::ALL.len(), 6);
//! # Ok::<(), butterfly_compliance::Error>(())
//! ```
#![deny(missing_docs)]

use std::str::FromStr;

/// Errors from the compliance engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The framework name is not one the catalogue maps.
    #[error(
        "unknown framework `{0}`: expected one of soc2, hipaa, pci_dss, nist_800_53, iso_27001, cis"
    )]
    UnknownFramework(String),
}

/// The compliance frameworks checks are mapped to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Framework {
    /// AICPA SOC 2 (Trust Services Criteria).
    Soc2,
    /// HIPAA Security Rule.
    Hipaa,
    /// PCI DSS v4.
    PciDss,
    /// NIST SP 800-53 rev. 5.
    #[serde(rename = "nist_800_53")]
    Nist80053,
    /// ISO/IEC 27001:2022.
    #[serde(rename = "iso_27001")]
    Iso27001,
    /// CIS Controls v8.
    Cis,
}

impl Framework {
    /// Every framework.
    pub const ALL: [Framework; 6] = [
        Framework::Soc2,
        Framework::Hipaa,
        Framework::PciDss,
        Framework::Nist80053,
        Framework::Iso27001,
        Framework::Cis,
    ];

    /// The identifier used in reports and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Framework::Soc2 => "soc2",
            Framework::Hipaa => "hipaa",
            Framework::PciDss => "pci_dss",
            Framework::Nist80053 => "nist_800_53",
            Framework::Iso27001 => "iso_27001",
            Framework::Cis => "cis",
        }
    }

    /// The framework's published title.
    pub fn title(self) -> &'static str {
        match self {
            Framework::Soc2 => "SOC 2",
            Framework::Hipaa => "HIPAA Security Rule",
            Framework::PciDss => "PCI DSS",
            Framework::Nist80053 => "NIST SP 800-53",
            Framework::Iso27001 => "ISO/IEC 27001",
            Framework::Cis => "CIS Controls",
        }
    }
}

impl FromStr for Framework {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Framework::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| Error::UnknownFramework(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_round_trip_in_text_and_json() {
        for f in Framework::ALL {
            assert_eq!(f.as_str().parse::<Framework>().unwrap(), f);
            assert_eq!(
                serde_json::to_value(f).unwrap(),
                serde_json::json!(f.as_str())
            );
        }
        assert!("gdpr".parse::<Framework>().is_err());
    }
}
