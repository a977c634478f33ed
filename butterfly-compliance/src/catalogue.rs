//! The check catalogue, kept as data: one struct literal per check, with what it reads,
//! why it matters, how to fix it and the control it satisfies in each framework.
//!
//! Thresholds are per framework: a check states its unit and a default, and each
//! [`Mapping`] may set its own value (password length 12 for PCI DSS 8.3.6, 15 for the
//! STIG and NIST IA-5(1), 14 for CIS 5.2). The logic of each check lives in `rules.rs`;
//! nothing here runs.

use butterfly_core::ProviderKind;
use serde::Serialize;

use crate::Framework;
use crate::Framework::{Cis, Hipaa, Iso27001, Nist80053, PciDss, Soc2, Stig};
use crate::model::{Comparison, Severity};
use crate::rules::{self, Rule};

/// The area of identity configuration a check covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Area {
    /// Multi-factor authentication.
    Mfa,
    /// Password policies.
    Passwords,
    /// Global session settings.
    Sessions,
    /// Administrator roles.
    Admins,
    /// Network zones and IP restrictions.
    Network,
    /// Account lifecycle.
    Lifecycle,
    /// Audit logging.
    Logging,
    /// Application integrations.
    Apps,
    /// Conditional Access policies (Entra ID).
    ConditionalAccess,
    /// Guest (B2B) users.
    Guests,
}

/// A kind a check reads, and the fields it looks at.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Read {
    /// The snapshot kind.
    pub kind: &'static str,
    /// Field paths in the resource body (dotted).
    pub fields: &'static [&'static str],
}

/// A check's threshold: which way it bounds, in what unit, and the default value.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ThresholdSpec {
    /// Which way the observed value is bounded.
    pub comparison: Comparison,
    /// What the value counts.
    pub unit: &'static str,
    /// The value when a mapping sets none.
    pub default: i64,
}

/// Where a check sits in a framework.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Mapping {
    /// The framework.
    pub framework: Framework,
    /// The control id in that framework.
    pub control: &'static str,
    /// The framework's own threshold, when it differs from the check's default.
    pub threshold: Option<i64>,
}

/// One check of the catalogue.
#[derive(Debug, Clone, Copy, Serialize)]
#[non_exhaustive]
pub struct Check {
    /// Stable identifier (`password.min_length`).
    pub id: &'static str,
    /// One line.
    pub title: &'static str,
    /// The area it covers.
    pub area: Area,
    /// How bad a failure is.
    pub severity: Severity,
    /// Why it matters.
    pub rationale: &'static str,
    /// The kinds and fields it reads.
    pub reads: &'static [Read],
    /// What to do when it fails, step by step.
    pub remediation: &'static [&'static str],
    /// Its threshold, for checks that compare a number.
    pub threshold: Option<ThresholdSpec>,
    /// The controls it satisfies.
    pub mappings: &'static [Mapping],
    /// Where the requirement comes from (a baseline policy id and its address), when
    /// the check follows a published baseline.
    pub references: &'static [&'static str],
    #[serde(skip)]
    pub(crate) rule: Rule,
}

impl Check {
    /// The mapping of this check into `framework`, if it has one.
    pub fn mapping(&self, framework: Framework) -> Option<&Mapping> {
        self.mappings.iter().find(|m| m.framework == framework)
    }
}

const fn map(framework: Framework, control: &'static str) -> Mapping {
    Mapping {
        framework,
        control,
        threshold: None,
    }
}

const fn at(framework: Framework, control: &'static str, threshold: i64) -> Mapping {
    Mapping {
        framework,
        control,
        threshold: Some(threshold),
    }
}

const fn at_least(unit: &'static str, default: i64) -> ThresholdSpec {
    ThresholdSpec {
        comparison: Comparison::AtLeast,
        unit,
        default,
    }
}

const fn at_most(unit: &'static str, default: i64) -> ThresholdSpec {
    ThresholdSpec {
        comparison: Comparison::AtMost,
        unit,
        default,
    }
}

const PASSWORD_POLICY: &str = "policy.PASSWORD";
const SIGN_ON_RULE: &str = "policy_rule.OKTA_SIGN_ON";
const EDIT_PASSWORD: &str =
    "In the Admin Console open Security > Authenticators, then Actions > Edit on the Password row.";
const EDIT_SESSION: &str = "In the Admin Console open Security > Global Session Policy and edit each active rule that allows access.";

/// Every check, in id order.
pub static CHECKS: &[Check] = &[
    Check {
        id: "admin.service_app_super_admin",
        title: "No service app holds the Super Administrator role",
        area: Area::Admins,
        severity: Severity::High,
        rationale: "An API service app with Super Administrator can change anything in the org with a key that no person signs in with; a leaked key is a full takeover.",
        reads: &[Read {
            kind: "client_role_assignment",
            fields: &["type", "status"],
        }],
        remediation: &[
            "In the Admin Console open Applications, then the service app, then Admin roles.",
            "Replace Super Administrator with a custom role that grants only the permissions the integration uses.",
            "Prefer OAuth scopes on the service app over admin roles where the API allows it.",
        ],
        threshold: None,
        mappings: &[map(Soc2, "CC6.3"), map(PciDss, "7.2.5"), map(Cis, "5.4")],
        references: &[],
        rule: rules::service_app_super_admin,
    },
    Check {
        id: "admin.super_admin_count",
        title: "Few users hold the Super Administrator role",
        area: Area::Admins,
        severity: Severity::High,
        rationale: "Every Super Administrator can disable every other control; keeping the role to a handful of named accounts (two or more, for break-glass) limits the blast radius of one compromised admin.",
        reads: &[Read {
            kind: "user_role_assignment",
            fields: &["type", "status", "assignmentType"],
        }],
        remediation: &[
            "In the Admin Console open Security > Administrators and filter by Super Administrator.",
            "Move day-to-day admins to narrower standard or custom roles.",
            "Keep Super Administrator for a few named accounts, with phishing-resistant MFA.",
        ],
        threshold: Some(at_most("users", 4)),
        mappings: &[
            map(Soc2, "CC6.3"),
            map(Hipaa, "164.308(a)(4)(ii)(B)"),
            map(PciDss, "7.2.2"),
            map(Nist80053, "AC-6(5)"),
            map(Iso27001, "A.8.2"),
            map(Cis, "5.4"),
        ],
        references: &[],
        rule: rules::super_admin_count,
    },
    Check {
        id: "admin.super_admin_via_group",
        title: "Super Administrator is not granted through a group",
        area: Area::Admins,
        severity: Severity::Medium,
        rationale: "A group role assignment makes every member a Super Administrator, so a group rule or a membership change silently grants full control.",
        reads: &[Read {
            kind: "group_role_assignment",
            fields: &["type", "status"],
        }],
        remediation: &[
            "In the Admin Console open Security > Administrators > Groups.",
            "Remove Super Administrator from groups; assign it to named users only, or use a group with no group rules and an owner who reviews it.",
        ],
        threshold: None,
        mappings: &[map(Nist80053, "AC-6(7)"), map(Cis, "6.8")],
        references: &[],
        rule: rules::super_admin_via_group,
    },
    Check {
        id: "apps.implicit_grant",
        title: "No OIDC app allows the implicit grant",
        area: Area::Apps,
        severity: Severity::High,
        rationale: "The implicit grant returns tokens in the browser URL, where history, referrers and extensions can read them; OAuth 2.0 Security BCP deprecates it in favour of the code flow with PKCE.",
        reads: &[Read {
            kind: "app",
            fields: &["signOnMode", "status", "settings.oauthClient.grant_types"],
        }],
        remediation: &[
            "In the Admin Console open the app's General tab and edit Client Credentials / Grant type.",
            "Untick Implicit (hybrid) and use Authorization Code with PKCE.",
        ],
        threshold: None,
        mappings: &[map(Soc2, "CC6.1"), map(Cis, "16.1")],
        references: &[],
        rule: rules::implicit_grant,
    },
    Check {
        id: "apps.saml_signed_assertions",
        title: "SAML apps sign their assertions",
        area: Area::Apps,
        severity: Severity::High,
        rationale: "An unsigned assertion can be altered in transit or forged by anyone who can reach the service provider's ACS endpoint.",
        reads: &[Read {
            kind: "app",
            fields: &[
                "signOnMode",
                "status",
                "settings.signOn.assertionSigned",
                "settings.signOn.responseSigned",
            ],
        }],
        remediation: &[
            "In the Admin Console open the app's Sign On tab and edit the SAML settings.",
            "Set Assertion Signature to Signed (RSA-SHA256), then update the service provider if it pins the certificate.",
        ],
        threshold: None,
        mappings: &[map(Nist80053, "IA-8"), map(Iso27001, "A.8.26")],
        references: &[],
        rule: rules::saml_signed_assertions,
    },
    Check {
        id: "apps.unassigned",
        title: "Every active app is assigned to someone",
        area: Area::Lifecycle,
        severity: Severity::Low,
        rationale: "An active app nobody is assigned to is forgotten attack surface: its credentials and trust settings stay live with no owner watching them.",
        reads: &[
            Read {
                kind: "app",
                fields: &["status", "name"],
            },
            Read {
                kind: "app_user_assignment",
                fields: &["(ids only)"],
            },
            Read {
                kind: "app_group_assignment",
                fields: &["(ids only)"],
            },
        ],
        remediation: &[
            "Confirm with the app's owner whether it is still used.",
            "Deactivate apps no one needs; assign the ones in use to the groups that need them.",
        ],
        threshold: None,
        mappings: &[map(Soc2, "CC6.2"), map(Cis, "2.3")],
        references: &[],
        rule: rules::unassigned_apps,
    },
    Check {
        id: "apps.wildcard_redirect",
        title: "No OIDC app accepts wildcard redirect URIs",
        area: Area::Apps,
        severity: Severity::High,
        rationale: "A wildcard redirect lets an attacker who controls any matching host receive authorization codes or tokens.",
        reads: &[Read {
            kind: "app",
            fields: &[
                "signOnMode",
                "status",
                "settings.oauthClient.redirect_uris",
                "settings.oauthClient.wildcard_redirect",
            ],
        }],
        remediation: &[
            "In the Admin Console open the app's General tab.",
            "Turn off Allow wildcard * in sign-in URI redirect and list each redirect URI exactly.",
        ],
        threshold: None,
        mappings: &[map(Cis, "16.10")],
        references: &[],
        rule: rules::wildcard_redirect,
    },
    Check {
        id: "lifecycle.inactive_users",
        title: "No active user has been inactive beyond the limit",
        area: Area::Lifecycle,
        severity: Severity::Medium,
        rationale: "Dormant accounts keep working credentials that nobody watches; they are a favourite foothold for attackers and a sign that leavers are not deprovisioned.",
        reads: &[Read {
            kind: "user",
            fields: &["status", "lastLogin", "created", "profile.login"],
        }],
        remediation: &[
            "Review active users who have not signed in within the limit (Reports > Okta Password Health, or a users search on lastLogin).",
            "Suspend or deactivate the ones no longer needed.",
            "Add an Okta Workflows or Automations rule that suspends users after the inactivity limit.",
        ],
        threshold: Some(at_most("days", 90)),
        mappings: &[
            at(Soc2, "CC6.2", 90),
            at(Hipaa, "164.308(a)(3)(ii)(C)", 90),
            at(PciDss, "8.2.6", 90),
            at(Nist80053, "AC-2(3)", 90),
            at(Iso27001, "A.5.18", 90),
            at(Cis, "5.3", 45),
            at(Stig, "V-273188", 35),
        ],
        references: &[],
        rule: rules::inactive_users,
    },
    Check {
        id: "lifecycle.pending_accounts",
        title: "No account has waited for activation beyond the limit",
        area: Area::Lifecycle,
        severity: Severity::Low,
        rationale: "Staged or provisioned accounts that were never activated hold live activation paths for people who never started or already left.",
        reads: &[Read {
            kind: "user",
            fields: &["status", "created", "profile.login"],
        }],
        remediation: &[
            "List users in Staged or Pending user action status created more than the limit ago.",
            "Deactivate the ones that are no longer expected to start.",
        ],
        threshold: Some(at_most("days", 30)),
        mappings: &[map(Iso27001, "A.5.16")],
        references: &[],
        rule: rules::pending_accounts,
    },
    Check {
        id: "logging.event_hooks_https",
        title: "Event hooks deliver over HTTPS to verified endpoints",
        area: Area::Logging,
        severity: Severity::Medium,
        rationale: "Event hooks carry user and security events; over plain HTTP or to an unverified endpoint they leak identities or feed events to the wrong receiver.",
        reads: &[Read {
            kind: "event_hook",
            fields: &["status", "verificationStatus", "channel.config.uri"],
        }],
        remediation: &[
            "In the Admin Console open Workflow > Event Hooks.",
            "Point each hook at an https:// endpoint and run Verify.",
        ],
        threshold: None,
        mappings: &[
            map(Hipaa, "164.312(e)(1)"),
            map(PciDss, "4.2.1"),
            map(Cis, "3.10"),
        ],
        references: &[],
        rule: rules::event_hooks_https,
    },
    Check {
        id: "logging.log_streaming",
        title: "System Log events stream to an external log service",
        area: Area::Logging,
        severity: Severity::High,
        rationale: "Okta keeps the System Log for 90 days and admins can act on it; streaming to a SIEM keeps an independent copy for detection and investigation.",
        reads: &[Read {
            kind: "log_stream",
            fields: &["status", "type", "name"],
        }],
        remediation: &[
            "In the Admin Console open Reports > Log Streaming.",
            "Add a stream to your SIEM (AWS EventBridge or Splunk Cloud) and activate it.",
        ],
        threshold: None,
        mappings: &[
            map(Soc2, "CC7.2"),
            map(Hipaa, "164.312(b)"),
            map(PciDss, "10.3.3"),
            map(Nist80053, "AU-4(1)"),
            map(Iso27001, "A.8.15"),
            map(Cis, "8.9"),
            map(Stig, "V-273202"),
        ],
        references: &[],
        rule: rules::log_streaming,
    },
    Check {
        id: "mfa.admin_console",
        title: "The Okta Admin Console requires multi-factor authentication",
        area: Area::Mfa,
        severity: Severity::Critical,
        rationale: "Administrators can change every other control; a password alone is not enough to reach the console.",
        reads: &[
            Read {
                kind: "app",
                fields: &["name (saasure)"],
            },
            Read {
                kind: "policy.ACCESS_POLICY",
                fields: &["name"],
            },
            Read {
                kind: "policy_rule.ACCESS_POLICY",
                fields: &[
                    "status",
                    "actions.appSignOn.access",
                    "actions.appSignOn.verificationMethod.factorMode",
                ],
            },
        ],
        remediation: &[
            "In the Admin Console open Security > Authentication Policies > Okta Admin Console.",
            "Edit every rule that allows access: set User must authenticate with to Password / IdP + Another factor (or Any 2 factor types).",
        ],
        threshold: None,
        mappings: &[
            map(Soc2, "CC6.1"),
            map(PciDss, "8.4.1"),
            map(Nist80053, "IA-2(1)"),
            map(Cis, "6.5"),
            map(Stig, "V-273193"),
        ],
        references: &[],
        rule: rules::admin_console_mfa,
    },
    Check {
        id: "mfa.admin_console_phishing_resistant",
        title: "The Okta Admin Console accepts only phishing-resistant authenticators",
        area: Area::Mfa,
        severity: Severity::High,
        rationale: "Push, OTP and SMS can be relayed by a phishing proxy; FIDO2/WebAuthn, smart cards and Okta FastPass bind the sign-in to the real origin.",
        reads: &[Read {
            kind: "policy_rule.ACCESS_POLICY",
            fields: &[
                "actions.appSignOn.verificationMethod.constraints[].possession.phishingResistant",
            ],
        }],
        remediation: &[
            "In the Admin Console open Security > Authentication Policies > Okta Admin Console.",
            "In every rule that allows access, set Possession factor constraints to Phishing resistant.",
        ],
        threshold: None,
        mappings: &[map(Nist80053, "IA-2(8)"), map(Stig, "V-273191")],
        references: &[],
        rule: rules::admin_console_phishing_resistant,
    },
    Check {
        id: "mfa.dashboard",
        title: "The Okta Dashboard requires multi-factor authentication",
        area: Area::Mfa,
        severity: Severity::High,
        rationale: "The end-user dashboard is the door to every assigned app; with a password alone, one phished password opens them all.",
        reads: &[
            Read {
                kind: "app",
                fields: &["name (okta_enduser)"],
            },
            Read {
                kind: "policy.ACCESS_POLICY",
                fields: &["name"],
            },
            Read {
                kind: "policy_rule.ACCESS_POLICY",
                fields: &["status", "actions.appSignOn.verificationMethod.factorMode"],
            },
        ],
        remediation: &[
            "In the Admin Console open Security > Authentication Policies > Okta Dashboard.",
            "Edit every rule that allows access so it requires two factor types.",
        ],
        threshold: None,
        mappings: &[map(Stig, "V-273194")],
        references: &[],
        rule: rules::dashboard_mfa,
    },
    Check {
        id: "mfa.dashboard_phishing_resistant",
        title: "The Okta Dashboard accepts only phishing-resistant authenticators",
        area: Area::Mfa,
        severity: Severity::Medium,
        rationale: "Phishing-resistant authenticators stop real-time relay attacks against the dashboard session that unlocks every app.",
        reads: &[Read {
            kind: "policy_rule.ACCESS_POLICY",
            fields: &[
                "actions.appSignOn.verificationMethod.constraints[].possession.phishingResistant",
            ],
        }],
        remediation: &[
            "In the Admin Console open Security > Authentication Policies > Okta Dashboard.",
            "In every rule that allows access, set Possession factor constraints to Phishing resistant.",
        ],
        threshold: None,
        mappings: &[map(Stig, "V-273190")],
        references: &[],
        rule: rules::dashboard_phishing_resistant,
    },
    Check {
        id: "mfa.enrollment_required",
        title: "Authenticator enrollment policies require a second factor",
        area: Area::Mfa,
        severity: Severity::High,
        rationale: "Users who are never made to enrol a second factor cannot be asked for one, whatever the sign-on policies say.",
        reads: &[Read {
            kind: "policy.MFA_ENROLL",
            fields: &[
                "status",
                "settings.authenticators[].key",
                "settings.authenticators[].enroll.self",
                "settings.factors",
            ],
        }],
        remediation: &[
            "In the Admin Console open Security > Authenticators > Enrollment.",
            "In each active policy set at least one authenticator other than Password to Required.",
        ],
        threshold: None,
        mappings: &[
            map(Soc2, "CC6.1"),
            map(Hipaa, "164.312(d)"),
            map(PciDss, "8.4.2"),
            map(Nist80053, "IA-2(2)"),
            map(Iso27001, "A.8.5"),
            map(Cis, "6.3"),
        ],
        references: &[],
        rule: rules::enrollment_required,
    },
    Check {
        id: "mfa.sign_on_requires_factor",
        title: "No global session rule lets users in with a password only",
        area: Area::Mfa,
        severity: Severity::Critical,
        rationale: "A global session rule that allows access without a second factor makes MFA optional for every app behind it.",
        reads: &[Read {
            kind: SIGN_ON_RULE,
            fields: &[
                "status",
                "actions.signon.access",
                "actions.signon.requireFactor",
            ],
        }],
        remediation: &[
            EDIT_SESSION,
            "Set Multifactor authentication (MFA) is to Required in every rule that allows access.",
        ],
        threshold: None,
        mappings: &[
            map(Soc2, "CC6.1"),
            map(Hipaa, "164.312(d)"),
            map(PciDss, "8.4.2"),
            map(Nist80053, "IA-2(1)"),
            map(Iso27001, "A.8.5"),
            map(Cis, "6.4"),
        ],
        references: &[],
        rule: rules::sign_on_requires_factor,
    },
    Check {
        id: "mfa.smart_card",
        title: "A smart card (PIV/CAC) authenticator is active",
        area: Area::Mfa,
        severity: Severity::Medium,
        rationale: "PIV and CAC credentials are the phishing-resistant authenticators federal systems are required to accept.",
        reads: &[Read {
            kind: "authenticator",
            fields: &["key", "status"],
        }],
        remediation: &[
            "Add a Smart Card identity provider under Security > Identity Providers.",
            "In Security > Authenticators add the Smart Card Authenticator for it and activate it.",
        ],
        threshold: None,
        mappings: &[map(Nist80053, "IA-2(12)"), map(Stig, "V-273204")],
        references: &[],
        rule: rules::smart_card,
    },
    Check {
        id: "mfa.strong_authenticator",
        title: "A phishing-resistant authenticator is available",
        area: Area::Mfa,
        severity: Severity::High,
        rationale: "Policies can only demand phishing resistance when an authenticator that provides it (FIDO2/WebAuthn, smart card, Okta Verify with FastPass) is active.",
        reads: &[Read {
            kind: "authenticator",
            fields: &["key", "status"],
        }],
        remediation: &[
            "In the Admin Console open Security > Authenticators > Setup.",
            "Add and activate FIDO2 (WebAuthn), a Smart Card Authenticator, or Okta Verify.",
        ],
        threshold: None,
        mappings: &[map(Iso27001, "A.8.5"), map(Cis, "6.5")],
        references: &[],
        rule: rules::strong_authenticator,
    },
    Check {
        id: "mfa.weak_factors_disabled",
        title: "Weak authenticators (SMS, voice, security question) are off",
        area: Area::Mfa,
        severity: Severity::Medium,
        rationale: "SMS and voice codes fall to SIM swaps and interception, and security questions to public records; NIST SP 800-63B restricts them.",
        reads: &[Read {
            kind: "authenticator",
            fields: &["key", "status", "methods"],
        }],
        remediation: &[
            "In the Admin Console open Security > Authenticators.",
            "Move users to Okta Verify or FIDO2, then deactivate Phone and Security Question.",
        ],
        threshold: None,
        mappings: &[map(Nist80053, "IA-5")],
        references: &[],
        rule: rules::weak_factors_disabled,
    },
    Check {
        id: "network.admin_console_ip_restricted",
        title: "The Admin Console is reachable only from known network zones",
        area: Area::Network,
        severity: Severity::Medium,
        rationale: "Restricting admin access to corporate or VPN zones means a stolen admin session or credential is useless from anywhere else.",
        reads: &[Read {
            kind: "policy_rule.ACCESS_POLICY",
            fields: &[
                "status",
                "actions.appSignOn.access",
                "conditions.network.connection",
                "conditions.network.include",
            ],
        }],
        remediation: &[
            "Define the admin networks as an IP zone under Security > Networks.",
            "In Security > Authentication Policies > Okta Admin Console, limit every allow rule to that zone and add a catch-all deny rule.",
        ],
        threshold: None,
        mappings: &[
            map(Soc2, "CC6.6"),
            map(Nist80053, "AC-17"),
            map(Cis, "12.7"),
        ],
        references: &[],
        rule: rules::admin_console_ip_restricted,
    },
    Check {
        id: "network.blocklist_zone",
        title: "A blocklist network zone is active",
        area: Area::Network,
        severity: Severity::Low,
        rationale: "A blocklist zone (known-bad IPs, anonymisers, countries you do not operate in) stops password spraying before it reaches authentication.",
        reads: &[Read {
            kind: "network_zone",
            fields: &["status", "usage", "type"],
        }],
        remediation: &[
            "In the Admin Console open Security > Networks.",
            "Add an IP or dynamic zone with usage Blocklist (anonymising proxies, Tor) and activate it.",
        ],
        threshold: None,
        mappings: &[map(Nist80053, "SC-7(5)"), map(Cis, "13.10")],
        references: &[],
        rule: rules::blocklist_zone,
    },
    Check {
        id: "network.threat_insight_blocks",
        title: "ThreatInsight blocks suspicious IPs",
        area: Area::Network,
        severity: Severity::Low,
        rationale: "In audit mode ThreatInsight only logs credential-stuffing sources; in block mode it stops them.",
        reads: &[Read {
            kind: "threat_insight_setting",
            fields: &["action"],
        }],
        remediation: &[
            "In the Admin Console open Security > General > Okta ThreatInsight settings.",
            "Select Log and enforce security based on threat level.",
        ],
        threshold: None,
        mappings: &[map(Nist80053, "SI-4")],
        references: &[],
        rule: rules::threat_insight_blocks,
    },
    Check {
        id: "network.zones_defined",
        title: "Network zones for trusted locations are defined",
        area: Area::Network,
        severity: Severity::Medium,
        rationale: "Policies can only tell corporate from unknown networks when the corporate ranges are defined as a zone.",
        reads: &[Read {
            kind: "network_zone",
            fields: &["status", "usage", "type", "gateways"],
        }],
        remediation: &[
            "In the Admin Console open Security > Networks.",
            "Add an IP zone with the gateway ranges of your offices and VPN, usage Policy, and activate it.",
        ],
        threshold: None,
        mappings: &[
            map(Nist80053, "SC-7"),
            map(Iso27001, "A.8.20"),
            map(Cis, "12.2"),
        ],
        references: &[],
        rule: rules::zones_defined,
    },
    Check {
        id: "password.common_passwords",
        title: "Passwords are checked against a list of common passwords",
        area: Area::Passwords,
        severity: Severity::Medium,
        rationale: "Length and character rules still allow Password123!; a common-password list rejects the first guesses of every spraying attack.",
        reads: &[Read {
            kind: PASSWORD_POLICY,
            fields: &["settings.password.complexity.dictionary.common.exclude"],
        }],
        remediation: &[
            EDIT_PASSWORD,
            "In each policy tick Restrict use of common passwords.",
        ],
        threshold: None,
        mappings: &[
            map(Soc2, "CC6.1"),
            map(Nist80053, "IA-5(1)"),
            map(Iso27001, "A.5.17"),
            map(Cis, "5.2"),
        ],
        references: &[],
        rule: rules::common_passwords,
    },
    Check {
        id: "password.history",
        title: "Password history prevents reuse",
        area: Area::Passwords,
        severity: Severity::Medium,
        rationale: "Without history, a forced change can be undone by setting the old password again.",
        reads: &[Read {
            kind: PASSWORD_POLICY,
            fields: &["settings.password.age.historyCount"],
        }],
        remediation: &[
            EDIT_PASSWORD,
            "In each policy set Enforce password history for last N passwords to at least the threshold.",
        ],
        threshold: Some(at_least("passwords", 5)),
        mappings: &[
            map(Hipaa, "164.308(a)(5)(ii)(D)"),
            at(PciDss, "8.3.7", 4),
            map(Nist80053, "IA-5(1)"),
            map(Iso27001, "A.5.17"),
            map(Cis, "5.2"),
        ],
        references: &[],
        rule: rules::password_history,
    },
    Check {
        id: "password.lockout",
        title: "Accounts lock after a few failed sign-ins",
        area: Area::Passwords,
        severity: Severity::High,
        rationale: "Without a lockout, an attacker can guess a password indefinitely.",
        reads: &[Read {
            kind: PASSWORD_POLICY,
            fields: &["settings.password.lockout.maxAttempts"],
        }],
        remediation: &[
            EDIT_PASSWORD,
            "In each policy set Lock out user after N unsuccessful attempts to at most the threshold.",
        ],
        threshold: Some(at_most("attempts", 10)),
        mappings: &[
            at(Soc2, "CC6.1", 10),
            at(Hipaa, "164.308(a)(5)(ii)(C)", 6),
            at(PciDss, "8.3.4", 10),
            at(Nist80053, "AC-7", 3),
            at(Iso27001, "A.8.5", 10),
            at(Cis, "4.10", 10),
            at(Stig, "V-273189", 3),
        ],
        references: &[],
        rule: rules::lockout,
    },
    Check {
        id: "password.lockout_duration",
        title: "Locked accounts stay locked long enough",
        area: Area::Passwords,
        severity: Severity::Medium,
        rationale: "An automatic unlock after a few minutes turns the lockout into a rate limit an attacker can live with.",
        reads: &[Read {
            kind: PASSWORD_POLICY,
            fields: &["settings.password.lockout.autoUnlockMinutes"],
        }],
        remediation: &[
            EDIT_PASSWORD,
            "In each policy set Account will automatically unlock after N minutes to at least the threshold, or leave unlocking to an admin or self-service with verification.",
        ],
        threshold: Some(at_least("minutes", 30)),
        mappings: &[map(PciDss, "8.3.4")],
        references: &[],
        rule: rules::lockout_duration,
    },
    Check {
        id: "password.lowercase",
        title: "Passwords must contain a lowercase letter",
        area: Area::Passwords,
        severity: Severity::Medium,
        rationale: "Character-class rules widen the space an attacker must search.",
        reads: &[Read {
            kind: PASSWORD_POLICY,
            fields: &["settings.password.complexity.minLowerCase"],
        }],
        remediation: &[EDIT_PASSWORD, "In each policy tick Lower case letter."],
        threshold: None,
        mappings: &[map(Stig, "V-273197")],
        references: &[],
        rule: rules::lowercase,
    },
    Check {
        id: "password.max_age",
        title: "Passwords expire",
        area: Area::Passwords,
        severity: Severity::Low,
        rationale: "Where a password is the only factor, PCI DSS and the STIG still require periodic change so a leaked password stops working.",
        reads: &[Read {
            kind: PASSWORD_POLICY,
            fields: &["settings.password.age.maxAgeDays"],
        }],
        remediation: &[
            EDIT_PASSWORD,
            "In each policy set Password expires after N days to at most the threshold.",
        ],
        threshold: Some(at_most("days", 90)),
        mappings: &[at(PciDss, "8.3.9", 90), at(Stig, "V-273201", 60)],
        references: &[],
        rule: rules::max_age,
    },
    Check {
        id: "password.min_age",
        title: "Passwords have a minimum age",
        area: Area::Passwords,
        severity: Severity::Low,
        rationale: "Without a minimum age a user can cycle through the history in minutes and return to the old password.",
        reads: &[Read {
            kind: PASSWORD_POLICY,
            fields: &["settings.password.age.minAgeMinutes"],
        }],
        remediation: &[
            EDIT_PASSWORD,
            "In each policy set Minimum password age to at least 24 hours.",
        ],
        threshold: Some(at_least("minutes", 1440)),
        mappings: &[map(Stig, "V-273200")],
        references: &[],
        rule: rules::min_age,
    },
    Check {
        id: "password.min_length",
        title: "Passwords have a minimum length",
        area: Area::Passwords,
        severity: Severity::High,
        rationale: "Length is the single biggest factor in how long a password resists guessing and cracking.",
        reads: &[Read {
            kind: PASSWORD_POLICY,
            fields: &["settings.password.complexity.minLength"],
        }],
        remediation: &[
            EDIT_PASSWORD,
            "In each policy set Minimum length to at least the threshold.",
        ],
        threshold: Some(at_least("characters", 12)),
        mappings: &[
            at(Soc2, "CC6.1", 12),
            at(Hipaa, "164.308(a)(5)(ii)(D)", 12),
            at(PciDss, "8.3.6", 12),
            at(Nist80053, "IA-5(1)", 15),
            at(Iso27001, "A.5.17", 12),
            at(Cis, "5.2", 14),
            at(Stig, "V-273195", 15),
        ],
        references: &[],
        rule: rules::min_length,
    },
    Check {
        id: "password.number",
        title: "Passwords must contain a number",
        area: Area::Passwords,
        severity: Severity::Medium,
        rationale: "PCI DSS asks for numeric and alphabetic characters; the STIG for each class.",
        reads: &[Read {
            kind: PASSWORD_POLICY,
            fields: &["settings.password.complexity.minNumber"],
        }],
        remediation: &[EDIT_PASSWORD, "In each policy tick Number (0-9)."],
        threshold: None,
        mappings: &[map(PciDss, "8.3.6"), map(Stig, "V-273198")],
        references: &[],
        rule: rules::number,
    },
    Check {
        id: "password.symbol",
        title: "Passwords must contain a symbol",
        area: Area::Passwords,
        severity: Severity::Medium,
        rationale: "Character-class rules widen the space an attacker must search.",
        reads: &[Read {
            kind: PASSWORD_POLICY,
            fields: &["settings.password.complexity.minSymbol"],
        }],
        remediation: &[
            EDIT_PASSWORD,
            "In each policy tick Symbol (e.g., !@#$%^&*).",
        ],
        threshold: None,
        mappings: &[map(Stig, "V-273199")],
        references: &[],
        rule: rules::symbol,
    },
    Check {
        id: "password.uppercase",
        title: "Passwords must contain an uppercase letter",
        area: Area::Passwords,
        severity: Severity::Medium,
        rationale: "Character-class rules widen the space an attacker must search.",
        reads: &[Read {
            kind: PASSWORD_POLICY,
            fields: &["settings.password.complexity.minUpperCase"],
        }],
        remediation: &[EDIT_PASSWORD, "In each policy tick Upper case letter."],
        threshold: None,
        mappings: &[map(Stig, "V-273196")],
        references: &[],
        rule: rules::uppercase,
    },
    Check {
        id: "session.idle_timeout",
        title: "Idle sessions time out",
        area: Area::Sessions,
        severity: Severity::Medium,
        rationale: "An unattended signed-in browser is an open session for whoever sits down next; a short idle timeout closes it.",
        reads: &[Read {
            kind: SIGN_ON_RULE,
            fields: &[
                "status",
                "actions.signon.access",
                "actions.signon.session.maxSessionIdleMinutes",
            ],
        }],
        remediation: &[
            EDIT_SESSION,
            "Set Maximum Okta global session idle time to at most the threshold.",
        ],
        threshold: Some(at_most("minutes", 30)),
        mappings: &[
            at(Soc2, "CC6.1", 30),
            at(Hipaa, "164.312(a)(2)(iii)", 30),
            at(PciDss, "8.2.8", 15),
            at(Nist80053, "AC-11", 15),
            at(Iso27001, "A.8.5", 30),
            at(Cis, "4.3", 15),
            at(Stig, "V-273186", 15),
        ],
        references: &[],
        rule: rules::idle_timeout,
    },
    Check {
        id: "session.max_lifetime",
        title: "Sessions have a maximum lifetime",
        area: Area::Sessions,
        severity: Severity::Medium,
        rationale: "A session without a lifetime limit survives password changes and role removals until the user signs out.",
        reads: &[Read {
            kind: SIGN_ON_RULE,
            fields: &[
                "status",
                "actions.signon.access",
                "actions.signon.session.maxSessionLifetimeMinutes",
            ],
        }],
        remediation: &[
            EDIT_SESSION,
            "Set Maximum Okta global session lifetime to at most the threshold (0 means unlimited).",
        ],
        threshold: Some(at_most("minutes", 1440)),
        mappings: &[at(Nist80053, "AC-12", 1080), at(Iso27001, "A.8.5", 1440)],
        references: &[],
        rule: rules::max_lifetime,
    },
    Check {
        id: "session.persistent_cookie",
        title: "Global session cookies do not persist across browser restarts",
        area: Area::Sessions,
        severity: Severity::Medium,
        rationale: "A persistent session cookie keeps users signed in after the browser closes, on shared and lost devices alike.",
        reads: &[Read {
            kind: SIGN_ON_RULE,
            fields: &[
                "status",
                "actions.signon.access",
                "actions.signon.session.usePersistentCookie",
            ],
        }],
        remediation: &[
            EDIT_SESSION,
            "Set Okta global session cookies persist across browser sessions to Disabled.",
        ],
        threshold: None,
        mappings: &[map(Nist80053, "SC-23"), map(Stig, "V-273206")],
        references: &[],
        rule: rules::persistent_cookie,
    },
];

mod entra;

pub use entra::ENTRA_CHECKS;

/// The catalogue for snapshots of `provider`: Okta's [`CHECKS`], Entra ID's
/// [`ENTRA_CHECKS`], nothing yet for the others.
pub fn for_provider(provider: ProviderKind) -> &'static [Check] {
    match provider {
        ProviderKind::Okta => CHECKS,
        ProviderKind::EntraId => ENTRA_CHECKS,
        _ => &[],
    }
}

/// The check with this id, in any provider's catalogue.
pub fn check(id: &str) -> Option<&'static Check> {
    CHECKS.iter().chain(ENTRA_CHECKS).find(|c| c.id == id)
}

/// The Okta checks mapped to `framework`, in id order.
pub fn checks_for(framework: Framework) -> impl Iterator<Item = &'static Check> {
    CHECKS
        .iter()
        .filter(move |c| c.mapping(framework).is_some())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn ids_are_unique_sorted_and_dotted_by_area() {
        let ids: Vec<&str> = CHECKS.iter().map(|c| c.id).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(ids, sorted, "checks must be listed once each, in id order");
        for c in CHECKS {
            assert!(c.id.contains('.'), "{}", c.id);
            assert!(!c.remediation.is_empty(), "{} has no remediation", c.id);
            assert!(!c.reads.is_empty(), "{} reads nothing", c.id);
            assert!(!c.mappings.is_empty(), "{} maps to no framework", c.id);
        }
    }

    #[test]
    fn each_framework_covers_at_least_the_product_counts() {
        // The counts the product documentation promises per framework.
        for (framework, promised) in [
            (Soc2, 12),
            (Hipaa, 10),
            (PciDss, 14),
            (Nist80053, 16),
            (Iso27001, 11),
            (Cis, 15),
            (Stig, 17),
        ] {
            let n = checks_for(framework).count();
            assert!(
                n >= promised,
                "{framework}: {n} checks, fewer than {promised}"
            );
        }
    }

    #[test]
    fn a_check_maps_once_per_framework_and_thresholds_only_where_it_has_one() {
        for c in CHECKS {
            let frameworks: BTreeSet<Framework> = c.mappings.iter().map(|m| m.framework).collect();
            assert_eq!(frameworks.len(), c.mappings.len(), "{}", c.id);
            for m in c.mappings {
                assert!(
                    m.threshold.is_none() || c.threshold.is_some(),
                    "{} sets a threshold for {} but has none",
                    c.id,
                    m.framework
                );
            }
        }
    }

    #[test]
    fn the_entra_catalogue_is_well_formed_and_cites_scuba() {
        let ids: Vec<&str> = ENTRA_CHECKS.iter().map(|c| c.id).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            ids, sorted,
            "Entra checks must be listed once each, in id order"
        );
        assert!(
            ENTRA_CHECKS.len() >= 20,
            "{} Entra checks",
            ENTRA_CHECKS.len()
        );
        for c in ENTRA_CHECKS {
            assert!(c.id.starts_with("entra."), "{}", c.id);
            assert!(
                !CHECKS.iter().any(|o| o.id == c.id),
                "{} is also an Okta id",
                c.id
            );
            assert!(
                !c.remediation.is_empty() && !c.reads.is_empty() && !c.mappings.is_empty(),
                "{}",
                c.id
            );
            assert!(
                c.references.iter().any(|r| r.contains("MS.AAD.")),
                "{} cites no SCuBA policy",
                c.id
            );
            let frameworks: BTreeSet<Framework> = c.mappings.iter().map(|m| m.framework).collect();
            assert_eq!(frameworks.len(), c.mappings.len(), "{}", c.id);
        }
        for framework in Framework::ALL {
            assert!(
                ENTRA_CHECKS.iter().any(|c| c.mapping(framework).is_some()),
                "no Entra check maps to {framework}"
            );
        }
        assert_eq!(
            for_provider(ProviderKind::EntraId).len(),
            ENTRA_CHECKS.len()
        );
        assert_eq!(for_provider(ProviderKind::Okta).len(), CHECKS.len());
        assert!(for_provider(ProviderKind::Auth0).is_empty());
    }

    #[test]
    fn frameworks_apply_their_own_password_length() {
        let c = check("password.min_length").unwrap();
        assert_eq!(c.mapping(PciDss).unwrap().threshold, Some(12));
        assert_eq!(c.mapping(Stig).unwrap().threshold, Some(15));
        assert_eq!(c.mapping(Stig).unwrap().control, "V-273195");
    }
}
