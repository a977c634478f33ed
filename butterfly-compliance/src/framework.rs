//! The frameworks checks are mapped to.

use std::fmt;
use std::str::FromStr;

use butterfly_core::ProviderKind;

use crate::Error;

/// A compliance framework (or benchmark) the catalogue maps checks to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Framework {
    /// AICPA SOC 2 (2017 Trust Services Criteria).
    Soc2,
    /// HIPAA Security Rule (45 CFR Part 164, Subpart C).
    Hipaa,
    /// PCI DSS v4.0.
    PciDss,
    /// NIST SP 800-53 rev. 5.
    #[serde(rename = "nist_800_53")]
    Nist80053,
    /// ISO/IEC 27001:2022 (Annex A).
    #[serde(rename = "iso_27001")]
    Iso27001,
    /// CIS Critical Security Controls v8.
    Cis,
    /// DISA Okta Identity as a Service (IDaaS) STIG, version 1.
    Stig,
}

impl Framework {
    /// Every framework, in report order.
    pub const ALL: [Framework; 7] = [
        Framework::Soc2,
        Framework::Hipaa,
        Framework::PciDss,
        Framework::Nist80053,
        Framework::Iso27001,
        Framework::Cis,
        Framework::Stig,
    ];

    /// The identifier used in reports (`pci_dss`); the command line also takes the
    /// hyphenated form (`pci-dss`).
    pub fn as_str(self) -> &'static str {
        match self {
            Framework::Soc2 => "soc2",
            Framework::Hipaa => "hipaa",
            Framework::PciDss => "pci_dss",
            Framework::Nist80053 => "nist_800_53",
            Framework::Iso27001 => "iso_27001",
            Framework::Cis => "cis",
            Framework::Stig => "stig",
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
            Framework::Stig => "DISA Okta IDaaS STIG",
        }
    }

    /// The framework's title in a report on `provider`'s snapshot.
    ///
    /// Only the STIG column differs: DISA publishes an Okta IDaaS STIG, whose rules the
    /// Okta checks cite (`V-273188`...), but no STIG for Microsoft Entra ID, so the Entra
    /// checks cite the DISA Application Security Requirements Guide's requirements
    /// (`SRG-APP-*`) instead, and the report must not call those Okta rules.
    pub fn title_for(self, provider: ProviderKind) -> &'static str {
        match (self, provider) {
            (Framework::Stig, ProviderKind::Okta) => self.title(),
            (Framework::Stig, _) => "DISA Application Security Requirements Guide",
            _ => self.title(),
        }
    }

    /// The edition the control ids refer to in a report on `provider`'s snapshot (see
    /// [`Framework::title_for`]).
    pub fn edition_for(self, provider: ProviderKind) -> &'static str {
        match (self, provider) {
            (Framework::Stig, ProviderKind::Okta) => self.edition(),
            (Framework::Stig, _) => "SRG-APP requirements",
            _ => self.edition(),
        }
    }

    /// The edition the control ids refer to.
    pub fn edition(self) -> &'static str {
        match self {
            Framework::Soc2 => "2017 Trust Services Criteria (2022 points of focus)",
            Framework::Hipaa => "45 CFR 164 Subpart C",
            Framework::PciDss => "4.0",
            Framework::Nist80053 => "Revision 5",
            Framework::Iso27001 => "2022",
            Framework::Cis => "Controls v8",
            Framework::Stig => "Version 1",
        }
    }
}

impl fmt::Display for Framework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Framework {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let normalised = s.trim().to_ascii_lowercase().replace('-', "_");
        Framework::ALL
            .into_iter()
            .find(|f| f.as_str() == normalised)
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
            assert_eq!(f.to_string(), f.as_str());
            assert_eq!(
                serde_json::to_value(f).unwrap(),
                serde_json::json!(f.as_str())
            );
        }
        assert!("gdpr".parse::<Framework>().is_err());
    }

    #[test]
    fn the_command_line_spelling_is_accepted() {
        assert_eq!("pci-dss".parse::<Framework>().unwrap(), Framework::PciDss);
        assert_eq!(
            "NIST-800-53".parse::<Framework>().unwrap(),
            Framework::Nist80053
        );
        assert_eq!(
            "iso-27001".parse::<Framework>().unwrap(),
            Framework::Iso27001
        );
    }
}
