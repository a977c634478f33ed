//! The Entra ID checks, modelled on CISA's SCuBA Secure Configuration Baseline for
//! Microsoft Entra ID (`MS.AAD.*`, cited in each check's references). Each reads the
//! Microsoft Graph v1.0 fields named in its `reads`; the logic is in `rules/entra.rs`.
//!
//! The STIG column holds the DISA Application Security Requirements Guide requirement
//! (`SRG-APP-*`) each check meets: the STIG mapping of the Okta checks names the Okta
//! IDaaS STIG's own rules.

use super::{Area, Check, Read, at_most, map};
use crate::Framework::{Cis, Hipaa, Iso27001, Nist80053, PciDss, Soc2, Stig};
use crate::model::Severity;
use crate::rules::entra as rules;

/// Every Entra ID check, in id order.
pub static ENTRA_CHECKS: &[Check] = &[
    Check {
        id: "entra.admins.fine_grained_roles",
        title: "Privileged users hold finer-grained roles rather than Global Administrator",
        area: Area::Admins,
        severity: Severity::Medium,
        rationale: "Most administrators do not need unfettered access; giving them a narrower highly privileged role limits what a compromised admin account can do.",
        reads: &[
            Read {
                kind: "role_assignment",
                fields: &["roleDefinitionId", "principalId"],
            },
            Read {
                kind: "role_eligibility_schedule",
                fields: &["roleDefinitionId", "principalId"],
            },
        ],
        remediation: &[
            "In the Microsoft Entra admin center open Roles and admins > Global Administrator.",
            "Move each admin who does not need the whole tenant to the narrowest role that covers their work (User, Exchange, Application Administrator...).",
        ],
        threshold: None,
        mappings: &[
            map(Soc2, "CC6.3"),
            map(PciDss, "7.2.2"),
            map(Nist80053, "AC-5"),
            map(Iso27001, "A.8.2"),
            map(Cis, "5.4"),
        ],
        references: &[
            "CISA SCuBA MS.AAD.7.2v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad72v1",
        ],
        rule: rules::fine_grained_roles,
    },
    Check {
        id: "entra.admins.global_admin_count",
        title: "Two to eight principals hold Global Administrator",
        area: Area::Admins,
        severity: Severity::High,
        rationale: "Global Administrator can change everything in the tenant. Fewer holders make a takeover harder; at least two keep an emergency path when one account is locked out.",
        reads: &[
            Read {
                kind: "role_assignment",
                fields: &["roleDefinitionId", "principalId"],
            },
            Read {
                kind: "role_eligibility_schedule",
                fields: &["roleDefinitionId", "principalId"],
            },
        ],
        remediation: &[
            "In the Microsoft Entra admin center open Roles and admins > Global Administrator, Active and Eligible assignments.",
            "Keep between two (including an emergency access account) and eight holders; move the others to narrower roles.",
        ],
        threshold: Some(at_most("principals", 8)),
        mappings: &[
            map(Soc2, "CC6.3"),
            map(Hipaa, "164.308(a)(4)(ii)(B)"),
            map(PciDss, "7.2.2"),
            map(Nist80053, "AC-6(5)"),
            map(Iso27001, "A.8.2"),
            map(Cis, "5.4"),
            map(Stig, "SRG-APP-000340"),
        ],
        references: &[
            "CISA SCuBA MS.AAD.7.1v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad71v1",
        ],
        rule: rules::global_admin_count,
    },
    Check {
        id: "entra.admins.no_permanent_assignment",
        title: "Highly privileged roles are not permanently active",
        area: Area::Admins,
        severity: Severity::High,
        rationale: "A permanent active assignment keeps admin rights live around the clock; PIM eligibility grants them just in time, for a bounded period, with an audit trail.",
        reads: &[
            Read {
                kind: "role_assignment",
                fields: &["roleDefinitionId", "principalId"],
            },
            Read {
                kind: "role_assignment_schedule",
                fields: &["assignmentType", "scheduleInfo.expiration.type"],
            },
        ],
        remediation: &[
            "In Privileged Identity Management open Microsoft Entra roles > Roles, then each highly privileged role.",
            "Convert permanent active assignments to eligible ones (or give them an end date); keep permanent only for the emergency access accounts.",
        ],
        threshold: Some(at_most("assignments", 2)),
        mappings: &[
            map(Soc2, "CC6.3"),
            map(PciDss, "7.2.4"),
            map(Nist80053, "AC-2"),
            map(Iso27001, "A.8.2"),
            map(Cis, "6.8"),
            map(Stig, "SRG-APP-000033"),
        ],
        references: &[
            "CISA SCuBA MS.AAD.7.4v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad74v1",
        ],
        rule: rules::no_permanent_privileged,
    },
    Check {
        id: "entra.admins.privileged_cloud_only",
        title: "Users holding highly privileged roles are cloud-only",
        area: Area::Admins,
        severity: Severity::High,
        rationale: "A privileged account synchronised from on-premises Active Directory lets an attacker who owns the on-premises domain pivot to the cloud tenant.",
        reads: &[
            Read {
                kind: "role_assignment",
                fields: &["roleDefinitionId", "principalId"],
            },
            Read {
                kind: "user",
                fields: &["onPremisesSyncEnabled", "onPremisesImmutableId"],
            },
        ],
        remediation: &[
            "Create a cloud-only account (…@tenant.onmicrosoft.com) for each privileged administrator.",
            "Move the role assignments to it and remove them from the synchronised account.",
        ],
        threshold: None,
        mappings: &[
            map(Soc2, "CC6.1"),
            map(Nist80053, "AC-6(5)"),
            map(Iso27001, "A.8.2"),
            map(Cis, "5.4"),
        ],
        references: &[
            "CISA SCuBA MS.AAD.7.3v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad73v1",
        ],
        rule: rules::privileged_cloud_only,
    },
    Check {
        id: "entra.admins.privileged_through_pim",
        title: "Highly privileged roles are assigned through PIM",
        area: Area::Admins,
        severity: Severity::Medium,
        rationale: "Assignments made outside Privileged Identity Management skip its approval, justification, notification and expiry controls.",
        reads: &[
            Read {
                kind: "role_assignment",
                fields: &["roleDefinitionId", "principalId"],
            },
            Read {
                kind: "role_assignment_schedule",
                fields: &["scheduleInfo.startDateTime"],
            },
        ],
        remediation: &[
            "In Privileged Identity Management review the active assignments of each highly privileged role.",
            "Delete assignments whose start time is empty (made outside PIM) and recreate them in PIM.",
        ],
        threshold: None,
        mappings: &[
            map(Soc2, "CC6.2"),
            map(Nist80053, "AC-2"),
            map(Iso27001, "A.5.18"),
            map(Cis, "6.1"),
        ],
        references: &[
            "CISA SCuBA MS.AAD.7.5v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad75v1",
        ],
        rule: rules::privileged_through_pim,
    },
    Check {
        id: "entra.apps.admin_consent_workflow",
        title: "An admin consent workflow is configured",
        area: Area::Apps,
        severity: Severity::Medium,
        rationale: "With user consent off, the workflow gives users a reviewed path to request an app instead of a workaround.",
        reads: &[Read {
            kind: "admin_consent_request_policy",
            fields: &["isEnabled", "reviewers"],
        }],
        remediation: &[
            "In Enterprise applications > Consent and permissions > Admin consent settings, set Users can request admin consent to Yes.",
            "Name a group of reviewers.",
        ],
        threshold: None,
        mappings: &[
            map(Soc2, "CC8.1"),
            map(Nist80053, "CM-4"),
            map(Iso27001, "A.8.19"),
            map(Cis, "2.5"),
        ],
        references: &[
            "CISA SCuBA MS.AAD.5.3v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad53v1",
        ],
        rule: rules::admin_consent_workflow,
    },
    Check {
        id: "entra.apps.risky_app_consent_off",
        title: "Users cannot consent to apps flagged as risky",
        area: Area::Apps,
        severity: Severity::Medium,
        rationale: "Consent-phishing apps are flagged risky by Microsoft; letting users consent to them anyway hands their data to the attacker.",
        reads: &[Read {
            kind: "authorization_policy",
            fields: &["allowUserConsentForRiskyApps"],
        }],
        remediation: &[
            "Set allowUserConsentForRiskyApps to false on the authorization policy (PATCH /policies/authorizationPolicy).",
        ],
        threshold: None,
        mappings: &[map(Soc2, "CC6.8"), map(Nist80053, "CM-5"), map(Cis, "2.5")],
        references: &[
            "CISA SCuBA MS.AAD.5.2v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad52v1",
        ],
        rule: rules::risky_app_consent_off,
    },
    Check {
        id: "entra.apps.user_app_registration_off",
        title: "Only administrators can register applications",
        area: Area::Apps,
        severity: Severity::High,
        rationale: "Apps are not bound by users' MFA; letting any user register one opens a path for malicious or forgotten apps with their own credentials.",
        reads: &[Read {
            kind: "authorization_policy",
            fields: &["defaultUserRolePermissions.allowedToCreateApps"],
        }],
        remediation: &[
            "In the Microsoft Entra admin center open Users > User settings.",
            "Set Users can register applications to No.",
        ],
        threshold: None,
        mappings: &[
            map(Soc2, "CC6.8"),
            map(PciDss, "7.2.1"),
            map(Nist80053, "AC-6(10)"),
            map(Iso27001, "A.8.19"),
            map(Cis, "2.7"),
            map(Stig, "SRG-APP-000340"),
        ],
        references: &[
            "CISA SCuBA MS.AAD.5.1v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad51v1",
        ],
        rule: rules::user_app_registration_off,
    },
    Check {
        id: "entra.apps.user_consent_off",
        title: "Only administrators can consent to applications",
        area: Area::Apps,
        severity: Severity::High,
        rationale: "User consent is how consent-grant phishing works: one click gives an attacker's app standing access to the user's mail and files.",
        reads: &[Read {
            kind: "authorization_policy",
            fields: &["defaultUserRolePermissions.permissionGrantPoliciesAssigned"],
        }],
        remediation: &[
            "In Enterprise applications > Consent and permissions > User consent settings, select Do not allow user consent.",
        ],
        threshold: None,
        mappings: &[
            map(Soc2, "CC6.8"),
            map(Hipaa, "164.308(a)(4)(ii)(B)"),
            map(PciDss, "7.2.1"),
            map(Nist80053, "AC-6(10)"),
            map(Iso27001, "A.8.19"),
            map(Cis, "2.5"),
            map(Stig, "SRG-APP-000340"),
        ],
        references: &[
            "CISA SCuBA MS.AAD.5.2v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad52v1",
        ],
        rule: rules::user_consent_off,
    },
    Check {
        id: "entra.ca.defaults_or_conditional_access",
        title: "Security defaults or Conditional Access protect sign-in",
        area: Area::ConditionalAccess,
        severity: Severity::Critical,
        rationale: "Without security defaults or an enforced Conditional Access policy, nothing in the tenant demands MFA or blocks legacy protocols.",
        reads: &[
            Read {
                kind: "security_defaults",
                fields: &["isEnabled"],
            },
            Read {
                kind: "conditional_access_policy",
                fields: &["state"],
            },
        ],
        remediation: &[
            "Either turn on security defaults (Overview > Properties > Manage security defaults),",
            "or create and enforce Conditional Access policies (then security defaults must stay off).",
        ],
        threshold: None,
        mappings: &[
            map(Soc2, "CC6.1"),
            map(Hipaa, "164.312(d)"),
            map(PciDss, "8.4.2"),
            map(Nist80053, "IA-2"),
            map(Iso27001, "A.8.5"),
            map(Cis, "6.3"),
            map(Stig, "SRG-APP-000150"),
        ],
        references: &[
            "CISA SCuBA MS.AAD.3.2v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad32v1",
        ],
        rule: rules::defaults_or_ca,
    },
    Check {
        id: "entra.ca.device_code_blocked",
        title: "The device code flow is blocked",
        area: Area::ConditionalAccess,
        severity: Severity::Medium,
        rationale: "Device code phishing tricks users into signing an attacker's session in; few organisations need the flow at all.",
        reads: &[Read {
            kind: "conditional_access_policy",
            fields: &[
                "state",
                "conditions.authenticationFlows.transferMethods",
                "grantControls.builtInControls",
            ],
        }],
        remediation: &[
            "Create a Conditional Access policy: all users, all resources, Conditions > Authentication flows > Device code flow, Grant > Block.",
        ],
        threshold: None,
        mappings: &[
            map(Nist80053, "CM-7"),
            map(Cis, "4.8"),
            map(Stig, "SRG-APP-000141"),
        ],
        references: &[
            "CISA SCuBA MS.AAD.3.9v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad39v1",
        ],
        rule: rules::device_code_blocked,
    },
    Check {
        id: "entra.ca.high_risk_sign_ins_blocked",
        title: "High-risk sign-ins are blocked",
        area: Area::ConditionalAccess,
        severity: Severity::High,
        rationale: "A sign-in Identity Protection rates high risk (anonymous IP, token replay, password spray) is probably not the user.",
        reads: &[Read {
            kind: "conditional_access_policy",
            fields: &[
                "state",
                "conditions.signInRiskLevels",
                "grantControls.builtInControls",
            ],
        }],
        remediation: &[
            "Create a Conditional Access policy: all users, all resources, Conditions > Sign-in risk > High, Grant > Block (needs Entra ID P2).",
        ],
        threshold: None,
        mappings: &[
            map(Soc2, "CC6.6"),
            map(Hipaa, "164.308(a)(1)(ii)(D)"),
            map(Nist80053, "AC-2(12)"),
            map(Iso27001, "A.8.16"),
            map(Cis, "13.3"),
        ],
        references: &[
            "CISA SCuBA MS.AAD.2.3v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad23v1",
        ],
        rule: rules::high_risk_sign_ins_blocked,
    },
    Check {
        id: "entra.ca.high_risk_users_blocked",
        title: "High-risk users are blocked",
        area: Area::ConditionalAccess,
        severity: Severity::High,
        rationale: "A user Identity Protection rates high risk (leaked credentials, confirmed compromise) should not reach anything until an admin remediates the account.",
        reads: &[Read {
            kind: "conditional_access_policy",
            fields: &[
                "state",
                "conditions.userRiskLevels",
                "grantControls.builtInControls",
            ],
        }],
        remediation: &[
            "Create a Conditional Access policy: all users, all resources, Conditions > User risk > High, Grant > Block (needs Entra ID P2).",
        ],
        threshold: None,
        mappings: &[
            map(Soc2, "CC6.6"),
            map(Hipaa, "164.308(a)(1)(ii)(D)"),
            map(Nist80053, "AC-2(13)"),
            map(Iso27001, "A.8.16"),
            map(Cis, "13.3"),
        ],
        references: &[
            "CISA SCuBA MS.AAD.2.1v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad21v1",
        ],
        rule: rules::high_risk_users_blocked,
    },
    Check {
        id: "entra.ca.legacy_auth_blocked",
        title: "Legacy authentication is blocked",
        area: Area::ConditionalAccess,
        severity: Severity::Critical,
        rationale: "Legacy protocols (IMAP, POP, SMTP AUTH, Exchange ActiveSync basic auth) cannot do MFA; password spraying goes through them.",
        reads: &[
            Read {
                kind: "conditional_access_policy",
                fields: &[
                    "state",
                    "conditions.clientAppTypes",
                    "grantControls.builtInControls",
                ],
            },
            Read {
                kind: "security_defaults",
                fields: &["isEnabled"],
            },
        ],
        remediation: &[
            "Create a Conditional Access policy: all users, all resources, Conditions > Client apps > Exchange ActiveSync clients and Other clients, Grant > Block.",
            "Or turn on security defaults, which block legacy authentication.",
        ],
        threshold: None,
        mappings: &[
            map(Soc2, "CC6.1"),
            map(Hipaa, "164.312(d)"),
            map(PciDss, "2.2.4"),
            map(Nist80053, "CM-7"),
            map(Iso27001, "A.8.5"),
            map(Cis, "4.8"),
            map(Stig, "SRG-APP-000141"),
        ],
        references: &[
            "CISA SCuBA MS.AAD.1.1v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad11v1",
        ],
        rule: rules::legacy_auth_blocked,
    },
    Check {
        id: "entra.ca.managed_device_registration",
        title: "Registering security information needs a managed device",
        area: Area::ConditionalAccess,
        severity: Severity::Low,
        rationale: "An attacker holding a password registers their own MFA method first; demanding a managed device for registration stops that.",
        reads: &[Read {
            kind: "conditional_access_policy",
            fields: &[
                "state",
                "conditions.applications.includeUserActions",
                "grantControls.builtInControls",
            ],
        }],
        remediation: &[
            "Create a Conditional Access policy: all users, User actions > Register security information, Grant > Require compliant or hybrid joined device.",
        ],
        threshold: None,
        mappings: &[map(Nist80053, "IA-3"), map(Iso27001, "A.8.1")],
        references: &[
            "CISA SCuBA MS.AAD.3.8v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad38v1",
        ],
        rule: rules::managed_device_registration,
    },
    Check {
        id: "entra.ca.managed_device_required",
        title: "Sign-in requires a managed device",
        area: Area::ConditionalAccess,
        severity: Severity::Medium,
        rationale: "Requiring a compliant or hybrid joined device adds a device signal, so stolen credentials alone do not work from an attacker's machine.",
        reads: &[Read {
            kind: "conditional_access_policy",
            fields: &["state", "grantControls.builtInControls"],
        }],
        remediation: &[
            "Create a Conditional Access policy: all users, all resources, Grant > Require device to be marked as compliant or Require Microsoft Entra hybrid joined device.",
        ],
        threshold: None,
        mappings: &[
            map(Soc2, "CC6.6"),
            map(Nist80053, "AC-20"),
            map(Iso27001, "A.8.1"),
            map(Cis, "6.7"),
            map(Stig, "SRG-APP-000158"),
        ],
        references: &[
            "CISA SCuBA MS.AAD.3.7v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad37v1",
        ],
        rule: rules::managed_device_required,
    },
    Check {
        id: "entra.guests.access_restricted",
        title: "Guests have limited or restricted directory access",
        area: Area::Guests,
        severity: Severity::Medium,
        rationale: "With the default guest role a guest can enumerate users, groups and apps; the limited or restricted guest role keeps them to what they were invited for.",
        reads: &[Read {
            kind: "authorization_policy",
            fields: &["guestUserRoleId"],
        }],
        remediation: &[
            "In External Identities > External collaboration settings, set Guest user access to limited or most restrictive.",
        ],
        threshold: None,
        mappings: &[
            map(Soc2, "CC6.3"),
            map(Hipaa, "164.308(a)(4)(ii)(B)"),
            map(Nist80053, "AC-6"),
            map(Iso27001, "A.5.15"),
            map(Cis, "6.8"),
        ],
        references: &[
            "CISA SCuBA MS.AAD.8.1v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad81v1",
        ],
        rule: rules::guest_access_restricted,
    },
    Check {
        id: "entra.guests.invite_restricted",
        title: "Only admins and Guest Inviters can invite guests",
        area: Area::Guests,
        severity: Severity::Medium,
        rationale: "When any member (or guest) can invite, outsiders enter the tenant with no owner reviewing them.",
        reads: &[Read {
            kind: "authorization_policy",
            fields: &["allowInvitesFrom"],
        }],
        remediation: &[
            "In External Identities > External collaboration settings, set Guest invite settings to Only users assigned to specific admin roles can invite guest users.",
        ],
        threshold: None,
        mappings: &[
            map(Soc2, "CC6.2"),
            map(Hipaa, "164.308(a)(4)(ii)(C)"),
            map(PciDss, "8.2.4"),
            map(Nist80053, "AC-2"),
            map(Iso27001, "A.5.16"),
            map(Cis, "6.1"),
            map(Stig, "SRG-APP-000023"),
        ],
        references: &[
            "CISA SCuBA MS.AAD.8.2v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad82v1",
        ],
        rule: rules::guest_invites_restricted,
    },
    Check {
        id: "entra.methods.authenticator_context",
        title: "Microsoft Authenticator shows the app and location",
        area: Area::Mfa,
        severity: Severity::Medium,
        rationale: "Showing which app and where a push comes from lets users spot an MFA fatigue attack instead of approving it.",
        reads: &[Read {
            kind: "authentication_methods_policy",
            fields: &["authenticationMethodConfigurations[MicrosoftAuthenticator].featureSettings"],
        }],
        remediation: &[
            "In Authentication methods > Microsoft Authenticator > Configure, enable Show application name and Show geographic location for all users.",
        ],
        threshold: None,
        mappings: &[map(Nist80053, "IA-2(8)"), map(Iso27001, "A.8.5")],
        references: &[
            "CISA SCuBA MS.AAD.3.3v2: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad33v2",
        ],
        rule: rules::authenticator_context,
    },
    Check {
        id: "entra.methods.migration_complete",
        title: "Authentication methods are managed in one policy (migration complete)",
        area: Area::Mfa,
        severity: Severity::Low,
        rationale: "Until the migration is complete, the legacy MFA and SSPR settings still apply beside the authentication methods policy, so disabling a method in one place does not disable it.",
        reads: &[Read {
            kind: "authentication_methods_policy",
            fields: &["policyMigrationState"],
        }],
        remediation: &[
            "In Authentication methods > Policies, finish the migration and set Manage migration to Migration Complete.",
        ],
        threshold: None,
        mappings: &[map(Nist80053, "CM-7"), map(Cis, "4.1")],
        references: &[
            "CISA SCuBA MS.AAD.3.4v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad34v1",
        ],
        rule: rules::methods_migration_complete,
    },
    Check {
        id: "entra.methods.weak_methods_disabled",
        title: "SMS, voice call and email one-time codes are disabled",
        area: Area::Mfa,
        severity: Severity::Medium,
        rationale: "SMS and voice codes fall to SIM swapping and interception, email codes to mailbox compromise; they are the weakest second factors.",
        reads: &[Read {
            kind: "authentication_methods_policy",
            fields: &["authenticationMethodConfigurations[Sms|Voice|Email].state"],
        }],
        remediation: &[
            "In Authentication methods > Policies, set SMS, Voice call and Email OTP to Enabled: No.",
        ],
        threshold: None,
        mappings: &[
            map(PciDss, "8.3.1"),
            map(Nist80053, "IA-5"),
            map(Iso27001, "A.5.17"),
            map(Stig, "SRG-APP-000156"),
        ],
        references: &[
            "CISA SCuBA MS.AAD.3.5v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad35v1",
        ],
        rule: rules::weak_methods_disabled,
    },
    Check {
        id: "entra.mfa.admins",
        title: "MFA is required for every highly privileged role",
        area: Area::Mfa,
        severity: Severity::Critical,
        rationale: "An administrator signing in with a password alone is one phished or sprayed password away from a tenant takeover.",
        reads: &[
            Read {
                kind: "conditional_access_policy",
                fields: &[
                    "state",
                    "conditions.users.includeRoles",
                    "grantControls.builtInControls",
                ],
            },
            Read {
                kind: "security_defaults",
                fields: &["isEnabled"],
            },
        ],
        remediation: &[
            "Create a Conditional Access policy: Users > Directory roles > each highly privileged role, all resources, Grant > Require multifactor authentication (or an authentication strength).",
            "Or turn on security defaults.",
        ],
        threshold: None,
        mappings: &[
            map(Soc2, "CC6.1"),
            map(Hipaa, "164.312(d)"),
            map(PciDss, "8.4.1"),
            map(Nist80053, "IA-2(1)"),
            map(Iso27001, "A.8.5"),
            map(Cis, "6.5"),
            map(Stig, "SRG-APP-000149"),
        ],
        references: &[
            "CISA SCuBA MS.AAD.3.6v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad36v1",
        ],
        rule: rules::mfa_admins,
    },
    Check {
        id: "entra.mfa.all_users",
        title: "MFA is required for all users",
        area: Area::Mfa,
        severity: Severity::Critical,
        rationale: "Passwords alone fall to phishing, reuse and spraying; MFA for every user stops nearly all automated account takeover.",
        reads: &[
            Read {
                kind: "conditional_access_policy",
                fields: &[
                    "state",
                    "conditions.users.includeUsers",
                    "grantControls.builtInControls",
                ],
            },
            Read {
                kind: "security_defaults",
                fields: &["isEnabled"],
            },
        ],
        remediation: &[
            "Create a Conditional Access policy: all users, all resources, Grant > Require multifactor authentication.",
            "Or turn on security defaults.",
        ],
        threshold: None,
        mappings: &[
            map(Soc2, "CC6.1"),
            map(Hipaa, "164.312(d)"),
            map(PciDss, "8.4.2"),
            map(Nist80053, "IA-2(2)"),
            map(Iso27001, "A.8.5"),
            map(Cis, "6.3"),
            map(Stig, "SRG-APP-000150"),
        ],
        references: &[
            "CISA SCuBA MS.AAD.3.2v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad32v1",
        ],
        rule: rules::mfa_all_users,
    },
    Check {
        id: "entra.mfa.phishing_resistant_admins",
        title: "Phishing-resistant MFA is required for highly privileged roles",
        area: Area::Mfa,
        severity: Severity::High,
        rationale: "Push and code factors can be relayed by adversary-in-the-middle phishing kits; FIDO2, Windows Hello and certificate authentication cannot.",
        reads: &[Read {
            kind: "conditional_access_policy",
            fields: &[
                "state",
                "conditions.users.includeRoles",
                "grantControls.authenticationStrength.id",
            ],
        }],
        remediation: &[
            "Create a Conditional Access policy: Users > Directory roles > each highly privileged role, all resources, Grant > Require authentication strength > Phishing-resistant MFA.",
        ],
        threshold: None,
        mappings: &[
            map(PciDss, "8.5.1"),
            map(Nist80053, "IA-2(8)"),
            map(Iso27001, "A.8.5"),
            map(Cis, "6.5"),
            map(Stig, "SRG-APP-000156"),
        ],
        references: &[
            "CISA SCuBA MS.AAD.3.6v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad36v1",
        ],
        rule: rules::phishing_resistant_admins,
    },
    Check {
        id: "entra.mfa.phishing_resistant_all_users",
        title: "Phishing-resistant MFA is required for all users",
        area: Area::Mfa,
        severity: Severity::Medium,
        rationale: "OMB M-22-09 and SCuBA ask for phishing-resistant MFA for everyone, not only administrators.",
        reads: &[Read {
            kind: "conditional_access_policy",
            fields: &[
                "state",
                "conditions.users.includeUsers",
                "grantControls.authenticationStrength.id",
            ],
        }],
        remediation: &[
            "Create a Conditional Access policy: all users, all resources, Grant > Require authentication strength > Phishing-resistant MFA; start in report-only.",
        ],
        threshold: None,
        mappings: &[map(Nist80053, "IA-2(6)"), map(Iso27001, "A.8.5")],
        references: &[
            "CISA SCuBA MS.AAD.3.1v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad31v1",
        ],
        rule: rules::phishing_resistant_all_users,
    },
    Check {
        id: "entra.passwords.never_expire",
        title: "Passwords do not expire (verified managed domains)",
        area: Area::Passwords,
        severity: Severity::Low,
        rationale: "NIST SP 800-63B, OMB M-22-09 and Microsoft advise against periodic rotation, which pushes users to predictable passwords; MFA is the control.",
        reads: &[Read {
            kind: "domain",
            fields: &[
                "isVerified",
                "authenticationType",
                "passwordValidityPeriodInDays",
            ],
        }],
        remediation: &[
            "In the Microsoft 365 admin center open Settings > Org settings > Security & privacy > Password expiration policy.",
            "Select Set passwords to never expire (with MFA enforced for all users).",
        ],
        threshold: None,
        mappings: &[
            map(Nist80053, "IA-5(1)"),
            map(Iso27001, "A.5.17"),
            map(Cis, "5.2"),
        ],
        references: &[
            "CISA SCuBA MS.AAD.6.1v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad61v1",
        ],
        rule: rules::passwords_never_expire,
    },
    Check {
        id: "entra.sessions.admin_sign_in_frequency",
        title: "Admin sessions re-authenticate within a bounded time",
        area: Area::Sessions,
        severity: Severity::Medium,
        rationale: "A stolen admin session token stays useful until the session ends; a sign-in frequency for privileged roles bounds that window.",
        reads: &[Read {
            kind: "conditional_access_policy",
            fields: &[
                "state",
                "conditions.users.includeRoles",
                "sessionControls.signInFrequency",
            ],
        }],
        remediation: &[
            "Create a Conditional Access policy: Users > Directory roles > each highly privileged role, all resources, Session > Sign-in frequency (for example 4 hours).",
        ],
        threshold: Some(at_most("hours", 12)),
        mappings: &[
            map(Soc2, "CC6.1"),
            map(Hipaa, "164.312(a)(2)(iii)"),
            map(PciDss, "8.2.8"),
            map(Nist80053, "AC-12"),
            map(Iso27001, "A.8.5"),
            map(Cis, "4.3"),
            map(Stig, "SRG-APP-000295"),
        ],
        references: &[
            "Microsoft Learn, sign-in frequency: https://learn.microsoft.com/entra/identity/conditional-access/concept-session-lifetime",
            "CISA SCuBA MS.AAD.3.6v1: https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md#msaad36v1",
        ],
        rule: rules::admin_sign_in_frequency,
    },
];
