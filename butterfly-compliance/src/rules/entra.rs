//! The logic of the Entra ID checks, over resources kept as Microsoft Graph v1.0
//! returned them (`conditional_access_policy`, `authorization_policy`, `role_assignment`...).
//!
//! Modelled on CISA's SCuBA baseline for Microsoft Entra ID (the `MS.AAD.*` policies):
//! a Conditional Access requirement is met by an *enabled* policy (report-only does not
//! enforce) that covers all users (or the highly privileged roles) and all resources.

use std::collections::{BTreeMap, BTreeSet};

use butterfly_core::Resource;
use serde_json::Value;

use super::{OrgView, Outcome, any, at, capped, each, flag, int, text, threshold};
use crate::model::Evidence;

/// Global Administrator's role template id (the `roleDefinitionId` of its assignments).
pub(crate) const GLOBAL_ADMIN: &str = "62e90394-69f5-4237-9190-012177145e10";

/// The roles SCuBA calls highly privileged, by role template id.
pub(crate) const PRIVILEGED_ROLES: &[&str] = &[
    GLOBAL_ADMIN,
    "e8611ab8-c189-46e8-94e1-60213ab1f814", // Privileged Role Administrator
    "fe930be7-5e62-47db-91af-98c3a49a38b1", // User Administrator
    "f28a1f50-f6e7-4571-818b-6a12f2af6b6c", // SharePoint Administrator
    "29232cdf-9323-42fd-ade2-1d097af3e4de", // Exchange Administrator
    "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2", // Hybrid Identity Administrator
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", // Application Administrator
    "158c047a-c907-4556-b7ef-446551a6b5f7", // Cloud Application Administrator
];

/// The built-in "Phishing-resistant MFA" authentication strength.
const PHISHING_RESISTANT_STRENGTH: &str = "00000000-0000-0000-0000-000000000004";

/// The kinds the Entra rules read whole (users are cut down to privileged ones).
pub(crate) const KINDS_READ: &[&str] = &[
    "admin_consent_request_policy",
    "authentication_methods_policy",
    "authorization_policy",
    "conditional_access_policy",
    "domain",
    "role_assignment",
    "role_assignment_schedule",
    "role_eligibility_schedule",
    "security_defaults",
    "user",
];

const CA: &str = "conditional_access_policy";
const CA_FIELDS: &[&str] = &[
    "displayName",
    "state",
    "conditions.users.includeUsers",
    "conditions.users.includeRoles",
    "conditions.applications.includeApplications",
    "grantControls.builtInControls",
];

fn same_id(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn strings<'r>(r: &'r Resource, dotted: &str) -> Vec<&'r str> {
    at(&r.attributes, dotted)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn contains(r: &Resource, dotted: &str, wanted: &str) -> bool {
    strings(r, dotted).iter().any(|s| same_id(s, wanted))
}

/// Enforced: `enabled`, not `enabledForReportingButNotEnforced` nor `disabled`.
fn enforced(r: &Resource) -> bool {
    text(r, "state") == Some("enabled")
}

fn all_users(r: &Resource) -> bool {
    contains(r, "conditions.users.includeUsers", "All")
}

fn all_apps(r: &Resource) -> bool {
    contains(r, "conditions.applications.includeApplications", "All")
}

/// Covers every highly privileged role: all users, or each role included by id.
fn all_privileged_roles(r: &Resource) -> bool {
    all_users(r)
        || PRIVILEGED_ROLES
            .iter()
            .all(|role| contains(r, "conditions.users.includeRoles", role))
}

fn blocks(r: &Resource) -> bool {
    contains(r, "grantControls.builtInControls", "block")
}

fn strength(r: &Resource) -> Option<&str> {
    text(r, "grantControls.authenticationStrength.id")
}

fn requires_mfa(r: &Resource) -> bool {
    contains(r, "grantControls.builtInControls", "mfa") || strength(r).is_some()
}

fn requires_phishing_resistant(r: &Resource) -> bool {
    strength(r).is_some_and(|s| same_id(s, PHISHING_RESISTANT_STRENGTH))
}

fn security_defaults_on(view: &OrgView<'_>) -> bool {
    view.of("security_defaults")
        .iter()
        .any(|r| flag(r, "isEnabled") == Some(true))
}

/// At least one enforced Conditional Access policy must satisfy `good`.
fn ca_requirement(view: &OrgView<'_>, what: &str, good: impl Fn(&Resource) -> bool) -> Outcome {
    any(view, CA, what, CA_FIELDS, |r| enforced(r) && good(r))
}

/// As [`ca_requirement`], but security defaults (which enforce it) also pass.
fn ca_or_defaults(view: &OrgView<'_>, what: &str, good: impl Fn(&Resource) -> bool) -> Outcome {
    if security_defaults_on(view) {
        let (evidence, omitted) = capped(view.of("security_defaults"), &["isEnabled"]);
        return Outcome::Pass {
            message: format!("security defaults are enabled and enforce {what}"),
            evidence,
            omitted,
        };
    }
    ca_requirement(view, what, good)
}

// --- Conditional Access ---------------------------------------------------------------

/// MS.AAD.1.1v1.
pub(crate) fn legacy_auth_blocked(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    ca_or_defaults(
        view,
        "a policy blocking legacy authentication for all users",
        |r| {
            all_users(r)
                && all_apps(r)
                && blocks(r)
                && contains(r, "conditions.clientAppTypes", "exchangeActiveSync")
                && contains(r, "conditions.clientAppTypes", "other")
        },
    )
}

/// MS.AAD.2.1v1.
pub(crate) fn high_risk_users_blocked(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    ca_requirement(view, "a policy blocking high-risk users", |r| {
        all_users(r) && all_apps(r) && blocks(r) && contains(r, "conditions.userRiskLevels", "high")
    })
}

/// MS.AAD.2.3v1.
pub(crate) fn high_risk_sign_ins_blocked(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    ca_requirement(view, "a policy blocking high-risk sign-ins", |r| {
        all_users(r)
            && all_apps(r)
            && blocks(r)
            && contains(r, "conditions.signInRiskLevels", "high")
    })
}

/// MS.AAD.3.2v1 (MFA of any kind for all users).
pub(crate) fn mfa_all_users(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    ca_or_defaults(view, "MFA for all users", |r| {
        all_users(r) && all_apps(r) && requires_mfa(r)
    })
}

/// MS.AAD.3.1v1.
pub(crate) fn phishing_resistant_all_users(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    ca_requirement(
        view,
        "a policy requiring phishing-resistant MFA for all users",
        |r| all_users(r) && all_apps(r) && requires_phishing_resistant(r),
    )
}

/// MS.AAD.3.6v1 relaxed to any MFA: the "MFA for admins".
pub(crate) fn mfa_admins(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    ca_or_defaults(view, "MFA for every highly privileged role", |r| {
        all_privileged_roles(r) && all_apps(r) && requires_mfa(r)
    })
}

/// MS.AAD.3.6v1.
pub(crate) fn phishing_resistant_admins(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    ca_requirement(
        view,
        "a policy requiring phishing-resistant MFA for every highly privileged role",
        |r| all_privileged_roles(r) && all_apps(r) && requires_phishing_resistant(r),
    )
}

fn managed_device(r: &Resource) -> bool {
    contains(r, "grantControls.builtInControls", "compliantDevice")
        || contains(r, "grantControls.builtInControls", "domainJoinedDevice")
}

/// MS.AAD.3.7v1.
pub(crate) fn managed_device_required(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    ca_requirement(view, "a policy requiring a managed device", |r| {
        all_users(r) && all_apps(r) && managed_device(r)
    })
}

/// MS.AAD.3.8v1.
pub(crate) fn managed_device_registration(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    ca_requirement(
        view,
        "a policy requiring a managed device to register security information",
        |r| {
            all_users(r)
                && contains(
                    r,
                    "conditions.applications.includeUserActions",
                    "urn:user:registersecurityinfo",
                )
                && managed_device(r)
        },
    )
}

/// MS.AAD.3.9v1.
pub(crate) fn device_code_blocked(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    ca_requirement(view, "a policy blocking the device code flow", |r| {
        all_users(r)
            && all_apps(r)
            && blocks(r)
            && text(r, "conditions.authenticationFlows.transferMethods")
                .is_some_and(|m| m.split(',').any(|m| m.trim() == "deviceCodeFlow"))
    })
}

/// Security defaults or Conditional Access: something must enforce sign-in security.
pub(crate) fn defaults_or_ca(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    ca_or_defaults(view, "an enabled Conditional Access policy", |_| true)
}

fn frequency_hours(r: &Resource) -> Option<i64> {
    if flag(r, "sessionControls.signInFrequency.isEnabled") != Some(true) {
        return None;
    }
    let value = int(r, "sessionControls.signInFrequency.value")?;
    match text(r, "sessionControls.signInFrequency.type") {
        Some("hours") => Some(value),
        Some("days") => Some(value.saturating_mul(24)),
        _ => None,
    }
}

/// Admin sessions re-authenticate at least every `t` hours.
pub(crate) fn admin_sign_in_frequency(view: &OrgView<'_>, t: Option<i64>) -> Outcome {
    let t = threshold(t);
    ca_requirement(
        view,
        "a policy limiting the sign-in frequency of highly privileged roles",
        |r| {
            all_privileged_roles(r)
                && all_apps(r)
                && frequency_hours(r).is_some_and(|h| (1..=t).contains(&h))
        },
    )
}

// --- authentication methods -------------------------------------------------------

const METHODS: &str = "authentication_methods_policy";

fn method<'r>(r: &'r Resource, id: &str) -> Option<&'r Value> {
    at(&r.attributes, "authenticationMethodConfigurations")
        .and_then(Value::as_array)?
        .iter()
        .find(|m| {
            m.get("id")
                .and_then(Value::as_str)
                .is_some_and(|m| same_id(m, id))
        })
}

/// MS.AAD.3.5v1.
pub(crate) fn weak_methods_disabled(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    let weak = ["Sms", "Voice", "Email"];
    let outcome = each(
        view,
        METHODS,
        "authentication methods policies",
        |_| true,
        &["policyMigrationState"],
        |r| {
            weak.iter().all(|id| {
                method(r, id)
                    .is_none_or(|m| m.get("state").and_then(Value::as_str) != Some("enabled"))
            })
        },
    );
    with_methods(outcome, view, &weak)
}

/// Show which of the methods are on, in each piece of evidence.
fn with_methods(outcome: Outcome, view: &OrgView<'_>, ids: &[&str]) -> Outcome {
    let annotate = |evidence: Vec<Evidence>| -> Vec<Evidence> {
        evidence
            .into_iter()
            .map(|mut e| {
                if let Some(r) = view.of(METHODS).iter().find(|r| r.id == e.id) {
                    for id in ids {
                        let state = method(r, id)
                            .and_then(|m| m.get("state"))
                            .cloned()
                            .unwrap_or(Value::Null);
                        e.observed.insert(
                            format!("authenticationMethodConfigurations[{id}].state"),
                            state,
                        );
                    }
                }
                e
            })
            .collect()
    };
    match outcome {
        Outcome::Pass {
            message,
            evidence,
            omitted,
        } => Outcome::Pass {
            message,
            evidence: annotate(evidence),
            omitted,
        },
        Outcome::Fail {
            message,
            evidence,
            omitted,
        } => Outcome::Fail {
            message,
            evidence: annotate(evidence),
            omitted,
        },
        other @ Outcome::NotApplicable { .. } => other,
    }
}

/// MS.AAD.3.4v1.
pub(crate) fn methods_migration_complete(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    let field = "policyMigrationState";
    each(
        view,
        METHODS,
        "authentication methods policies",
        |_| true,
        &[field],
        |r| text(r, field) == Some("migrationComplete"),
    )
}

/// MS.AAD.3.3v2: Microsoft Authenticator, when enabled, shows the app and the location.
pub(crate) fn authenticator_context(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    let outcome = each(
        view,
        METHODS,
        "authentication methods policies",
        |_| true,
        &["policyMigrationState"],
        |r| {
            let Some(m) = method(r, "MicrosoftAuthenticator") else {
                return true;
            };
            if m.get("state").and_then(Value::as_str) != Some("enabled") {
                return true;
            }
            let on = |setting: &str| {
                m.pointer(&format!("/featureSettings/{setting}/state"))
                    .and_then(Value::as_str)
                    == Some("enabled")
            };
            on("displayAppInformationRequiredState")
                && on("displayLocationInformationRequiredState")
        },
    );
    with_methods(outcome, view, &["MicrosoftAuthenticator"])
}

// --- applications and consent ------------------------------------------------------

const AUTHZ: &str = "authorization_policy";
const AUTHZ_WHAT: &str = "authorization policies";

/// MS.AAD.5.1v1.
pub(crate) fn user_app_registration_off(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    let field = "defaultUserRolePermissions.allowedToCreateApps";
    each(
        view,
        AUTHZ,
        AUTHZ_WHAT,
        |_| true,
        &[field],
        |r| flag(r, field) == Some(false),
    )
}

/// MS.AAD.5.2v1: no self-consent permission grant policy is assigned to users.
pub(crate) fn user_consent_off(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    let field = "defaultUserRolePermissions.permissionGrantPoliciesAssigned";
    each(
        view,
        AUTHZ,
        AUTHZ_WHAT,
        |_| true,
        &[field],
        |r| {
            !strings(r, field)
                .iter()
                .any(|p| p.starts_with("ManagePermissionGrantsForSelf."))
        },
    )
}

/// Users may not consent to apps Microsoft flags as risky.
pub(crate) fn risky_app_consent_off(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    let field = "allowUserConsentForRiskyApps";
    each(
        view,
        AUTHZ,
        AUTHZ_WHAT,
        |_| true,
        &[field],
        |r| flag(r, field) != Some(true),
    )
}

/// MS.AAD.5.3v1.
pub(crate) fn admin_consent_workflow(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    each(
        view,
        "admin_consent_request_policy",
        "admin consent request policies",
        |_| true,
        &["isEnabled", "reviewers"],
        |r| {
            flag(r, "isEnabled") == Some(true)
                && at(&r.attributes, "reviewers")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty())
        },
    )
}

// --- guests ------------------------------------------------------------------------

/// MS.AAD.8.2v1.
pub(crate) fn guest_invites_restricted(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    let field = "allowInvitesFrom";
    each(
        view,
        AUTHZ,
        AUTHZ_WHAT,
        |_| true,
        &[field],
        |r| matches!(text(r, field), Some("adminsAndGuestInviters" | "none")),
    )
}

/// MS.AAD.8.1v1: guests get the limited or the restricted guest role.
pub(crate) fn guest_access_restricted(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    let field = "guestUserRoleId";
    each(
        view,
        AUTHZ,
        AUTHZ_WHAT,
        |_| true,
        &[field],
        |r| {
            text(r, field).is_some_and(|id| {
                same_id(id, "10dae51f-b6af-4d8d-a5c2-8d4b5df7db6a")
                    || same_id(id, "2af84b1e-32c8-42b7-82bc-daa82404023b")
            })
        },
    )
}

// --- passwords ---------------------------------------------------------------------

/// Graph's "never expires": `passwordValidityPeriodInDays` at `Int32::MAX`.
const NEVER_EXPIRES: i64 = 2_147_483_647;

/// MS.AAD.6.1v1: verified managed domains set passwords to never expire.
pub(crate) fn passwords_never_expire(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    let field = "passwordValidityPeriodInDays";
    each(
        view,
        "domain",
        "verified managed domains",
        |r| {
            flag(r, "isVerified") == Some(true)
                && text(r, "authenticationType") != Some("Federated")
        },
        &["id", field],
        // Graph leaves the field out (null) when it has never been set: the default is
        // 90 days, which is expiry.
        |r| int(r, field) == Some(NEVER_EXPIRES),
    )
}

// --- privileged roles --------------------------------------------------------------

fn privileged(r: &Resource) -> bool {
    text(r, "roleDefinitionId").is_some_and(|id| PRIVILEGED_ROLES.iter().any(|p| same_id(p, id)))
}

fn is_global_admin(r: &Resource) -> bool {
    text(r, "roleDefinitionId").is_some_and(|id| same_id(id, GLOBAL_ADMIN))
}

/// Active assignments and PIM eligibilities, which both make someone an admin.
fn role_grants<'v>(view: &'v OrgView<'_>) -> impl Iterator<Item = &'v Resource> {
    view.of("role_assignment")
        .iter()
        .chain(view.of("role_eligibility_schedule"))
}

fn no_roles(view: &OrgView<'_>) -> Option<Outcome> {
    (view.of("role_assignment").is_empty() && view.of("role_eligibility_schedule").is_empty()).then(
        || Outcome::NotApplicable {
            reason: view.none_reason("role_assignment", "directory role assignments"),
        },
    )
}

/// MS.AAD.7.1v1: between two and `t` (eight) Global Administrators.
pub(crate) fn global_admin_count(view: &OrgView<'_>, t: Option<i64>) -> Outcome {
    if let Some(na) = no_roles(view) {
        return na;
    }
    let t = threshold(t);
    let grants: Vec<&Resource> = role_grants(view).filter(|r| is_global_admin(r)).collect();
    let principals: BTreeSet<String> = grants
        .iter()
        .filter_map(|r| text(r, "principalId"))
        .map(str::to_ascii_lowercase)
        .collect();
    let n = i64::try_from(principals.len()).unwrap_or(i64::MAX);
    let (evidence, omitted) = capped(grants.iter().copied(), &["principalId", "roleDefinitionId"]);
    let message =
        format!("{n} principals hold Global Administrator (active or eligible); 2 to {t} expected");
    Outcome::judged((2..=t).contains(&n), message, evidence, omitted)
}

/// MS.AAD.7.2v1: no more Global Administrators than holders of other privileged roles.
pub(crate) fn fine_grained_roles(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    if let Some(na) = no_roles(view) {
        return na;
    }
    let principals = |ga: bool| -> BTreeSet<String> {
        role_grants(view)
            .filter(|r| privileged(r) && is_global_admin(r) == ga)
            .filter_map(|r| text(r, "principalId"))
            .map(str::to_ascii_lowercase)
            .collect()
    };
    let global = principals(true);
    let others: BTreeSet<String> = principals(false).difference(&global).cloned().collect();
    let grants: Vec<&Resource> = role_grants(view).filter(|r| is_global_admin(r)).collect();
    let (evidence, omitted) = capped(grants.iter().copied(), &["principalId", "roleDefinitionId"]);
    let message = format!(
        "{} Global Administrators, {} holders of other highly privileged roles only",
        global.len(),
        others.len()
    );
    Outcome::judged(global.len() <= others.len(), message, evidence, omitted)
}

/// MS.AAD.7.3v1: users holding highly privileged roles are cloud-only.
pub(crate) fn privileged_cloud_only(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    if let Some(na) = no_roles(view) {
        return na;
    }
    let holders: BTreeSet<String> = role_grants(view)
        .filter(|r| privileged(r))
        .filter_map(|r| text(r, "principalId"))
        .map(str::to_ascii_lowercase)
        .collect();
    let users: Vec<&Resource> = view
        .of("user")
        .iter()
        .filter(|u| holders.contains(&u.id.to_ascii_lowercase()))
        .collect();
    super::judge(
        view,
        "user",
        "users holding highly privileged roles",
        &users,
        &[
            "userPrincipalName",
            "onPremisesSyncEnabled",
            "onPremisesImmutableId",
        ],
        |u| {
            flag(u, "onPremisesSyncEnabled") != Some(true)
                && text(u, "onPremisesImmutableId").is_none()
        },
    )
}

/// The PIM schedule behind an active assignment, matched by principal and role.
fn schedules<'v>(view: &'v OrgView<'_>) -> BTreeMap<(String, String), Vec<&'v Resource>> {
    let mut out: BTreeMap<(String, String), Vec<&Resource>> = BTreeMap::new();
    for s in view.of("role_assignment_schedule") {
        if let (Some(p), Some(d)) = (text(s, "principalId"), text(s, "roleDefinitionId")) {
            out.entry((p.to_ascii_lowercase(), d.to_ascii_lowercase()))
                .or_default()
                .push(s);
        }
    }
    out
}

fn key(r: &Resource) -> (String, String) {
    (
        text(r, "principalId")
            .unwrap_or_default()
            .to_ascii_lowercase(),
        text(r, "roleDefinitionId")
            .unwrap_or_default()
            .to_ascii_lowercase(),
    )
}

/// MS.AAD.7.4v1: at most `t` permanent active assignments to highly privileged roles
/// (the emergency access accounts SCuBA allows).
pub(crate) fn no_permanent_privileged(view: &OrgView<'_>, t: Option<i64>) -> Outcome {
    let t = threshold(t);
    let schedules = schedules(view);
    let active: Vec<&Resource> = view
        .of("role_assignment")
        .iter()
        .filter(|r| privileged(r))
        .collect();
    if active.is_empty() {
        return no_roles(view).unwrap_or_else(|| Outcome::Pass {
            message: "no active assignments to highly privileged roles".to_owned(),
            evidence: Vec::new(),
            omitted: 0,
        });
    }
    // Permanent: no schedule with an end, and not an activation of an eligibility.
    let permanent: Vec<&Resource> = active
        .iter()
        .copied()
        .filter(|r| {
            !schedules.get(&key(r)).is_some_and(|list| {
                list.iter().any(|s| {
                    text(s, "assignmentType") == Some("Activated")
                        || text(s, "scheduleInfo.expiration.type")
                            .is_some_and(|t| t != "noExpiration")
                })
            })
        })
        .collect();
    let n = i64::try_from(permanent.len()).unwrap_or(i64::MAX);
    let (evidence, omitted) = capped(
        permanent.iter().copied(),
        &["principalId", "roleDefinitionId"],
    );
    let message =
        format!("{n} permanent active assignments to highly privileged roles; at most {t} allowed");
    Outcome::judged(n <= t, message, evidence, omitted)
}

/// MS.AAD.7.5v1: active privileged assignments were made through PIM (their schedule
/// has a start time).
pub(crate) fn privileged_through_pim(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    let schedules = schedules(view);
    let active: Vec<&Resource> = view
        .of("role_assignment")
        .iter()
        .filter(|r| privileged(r))
        .collect();
    super::judge(
        view,
        "role_assignment",
        "active assignments to highly privileged roles",
        &active,
        &["principalId", "roleDefinitionId"],
        |r| {
            schedules.get(&key(r)).is_some_and(|list| {
                list.iter()
                    .any(|s| text(s, "scheduleInfo.startDateTime").is_some())
            })
        },
    )
}
