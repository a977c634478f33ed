//! The Entra ID checks over two Graph-shaped fixture tenants: one that meets every
//! check, one that fails every check. Each check is also flipped on its own, from the
//! compliant tenant, to prove the field it reads decides it.

use butterfly_compliance::catalogue::ENTRA_CHECKS;
use butterfly_compliance::{Framework, Report, Status, evaluate, report};
use butterfly_core::source::InMemorySnapshotSource;
use butterfly_core::{ProviderKind, Resource, ResourceKind, SnapshotStatus};
use futures::executor::block_on;
use serde_json::{Value, json};

use crate::support::GENERATED_AT;

const GA: &str = "62e90394-69f5-4237-9190-012177145e10";
const USER_ADMIN: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";
const EXCHANGE_ADMIN: &str = "29232cdf-9323-42fd-ade2-1d097af3e4de";
const PRIVILEGED: [&str; 8] = [
    GA,
    "e8611ab8-c189-46e8-94e1-60213ab1f814",
    USER_ADMIN,
    "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
    EXCHANGE_ADMIN,
    "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2",
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    "158c047a-c907-4556-b7ef-446551a6b5f7",
];

// Values in, as the fixtures read best; json! only borrows them.
#[allow(clippy::needless_pass_by_value)]
fn ca(id: &str, name: &str, conditions: Value, grant: Value, session: Value) -> (String, Value) {
    (
        id.to_owned(),
        json!({
            "id": id, "displayName": name, "state": "enabled",
            "createdDateTime": "2026-01-01T00:00:00Z", "modifiedDateTime": null, "templateId": null,
            "conditions": conditions, "grantControls": grant, "sessionControls": session
        }),
    )
}

fn users_all(extra: Value) -> Value {
    let mut c = json!({
        "users": {"includeUsers": ["All"], "excludeUsers": ["bg000001-0000-4000-8000-000000000001"],
                  "includeGroups": [], "excludeGroups": [], "includeRoles": [], "excludeRoles": []},
        "applications": {"includeApplications": ["All"], "excludeApplications": [], "includeUserActions": []},
        "clientAppTypes": ["all"], "signInRiskLevels": [], "userRiskLevels": [], "servicePrincipalRiskLevels": []
    });
    merge(&mut c, extra);
    c
}

fn admins(extra: Value) -> Value {
    let mut c = json!({
        "users": {"includeUsers": [], "excludeUsers": [], "includeGroups": [], "excludeGroups": [],
                  "includeRoles": PRIVILEGED, "excludeRoles": []},
        "applications": {"includeApplications": ["All"], "excludeApplications": [], "includeUserActions": []},
        "clientAppTypes": ["all"], "signInRiskLevels": [], "userRiskLevels": []
    });
    merge(&mut c, extra);
    c
}

fn merge(into: &mut Value, extra: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, extra) {
        for (k, v) in b {
            match a.get_mut(&k) {
                Some(slot @ Value::Object(_)) if v.is_object() => merge(slot, v),
                _ => {
                    a.insert(k, v);
                }
            }
        }
    }
}

fn grant(controls: &[&str]) -> Value {
    json!({"operator": "OR", "builtInControls": controls, "customAuthenticationFactors": [], "termsOfUse": []})
}

fn strength(id: &str) -> Value {
    json!({"operator": "OR", "builtInControls": [], "customAuthenticationFactors": [], "termsOfUse": [],
           "authenticationStrength": {"id": id, "displayName": "strength"}})
}

fn method(id: &str, state: &str) -> Value {
    json!({"@odata.type": "#microsoft.graph.x", "id": id, "state": state, "excludeTargets": []})
}

/// A tenant meeting every Entra check.
fn compliant() -> Vec<(String, String, Value)> {
    let mut out: Vec<(String, String, Value)> = Vec::new();
    let mut push = |kind: &str, (id, body): (String, Value)| out.push((kind.to_owned(), id, body));
    let phishing = "00000000-0000-0000-0000-000000000004";
    push(
        "conditional_access_policy",
        ca(
            "ca-legacy",
            "Block legacy authentication",
            users_all(json!({"clientAppTypes": ["exchangeActiveSync", "other"]})),
            grant(&["block"]),
            Value::Null,
        ),
    );
    push(
        "conditional_access_policy",
        ca(
            "ca-user-risk",
            "Block high-risk users",
            users_all(json!({"userRiskLevels": ["high"]})),
            grant(&["block"]),
            Value::Null,
        ),
    );
    push(
        "conditional_access_policy",
        ca(
            "ca-sign-in-risk",
            "Block high-risk sign-ins",
            users_all(json!({"signInRiskLevels": ["high"]})),
            grant(&["block"]),
            Value::Null,
        ),
    );
    push(
        "conditional_access_policy",
        ca(
            "ca-mfa-all",
            "Phishing-resistant MFA for everyone",
            users_all(json!({})),
            strength(phishing),
            Value::Null,
        ),
    );
    push(
        "conditional_access_policy",
        ca(
            "ca-admins",
            "Phishing-resistant MFA for admins, 4 h sessions",
            admins(json!({})),
            strength(phishing),
            json!({"signInFrequency": {"isEnabled": true, "type": "hours", "value": 4, "frequencyInterval": "timeBased", "authenticationType": "primaryAndSecondaryAuthentication"}}),
        ),
    );
    push(
        "conditional_access_policy",
        ca(
            "ca-device",
            "Managed devices",
            users_all(json!({})),
            grant(&["compliantDevice", "domainJoinedDevice"]),
            Value::Null,
        ),
    );
    push(
        "conditional_access_policy",
        ca(
            "ca-register",
            "Register from managed devices",
            users_all(
                json!({"applications": {"includeApplications": [], "includeUserActions": ["urn:user:registersecurityinfo"]}}),
            ),
            grant(&["compliantDevice", "domainJoinedDevice"]),
            Value::Null,
        ),
    );
    push(
        "conditional_access_policy",
        ca(
            "ca-device-code",
            "Block device code flow",
            users_all(json!({"authenticationFlows": {"transferMethods": "deviceCodeFlow"}})),
            grant(&["block"]),
            Value::Null,
        ),
    );
    push(
        "security_defaults",
        (
            "identitySecurityDefaultsEnforcementPolicy".to_owned(),
            json!({"id": "00000000-0000-0000-0000-000000000005", "displayName": "Security Defaults", "isEnabled": false}),
        ),
    );
    push(
        "authorization_policy",
        (
            "authorizationPolicy".to_owned(),
            json!({
        "id": "authorizationPolicy", "displayName": "Authorization Policy",
        "allowInvitesFrom": "adminsAndGuestInviters", "allowUserConsentForRiskyApps": false,
        "allowedToUseSSPR": true, "blockMsolPowerShell": true,
        "guestUserRoleId": "2af84b1e-32c8-42b7-82bc-daa82404023b",
        "defaultUserRolePermissions": {"allowedToCreateApps": false, "allowedToCreateSecurityGroups": false,
            "allowedToReadOtherUsers": true, "permissionGrantPoliciesAssigned": ["ManagePermissionGrantsForOwnedResource.microsoft-dynamically-managed-permissions-for-team"]}}),
        ),
    );
    push(
        "admin_consent_request_policy",
        (
            "adminConsentRequestPolicy".to_owned(),
            json!({
        "id": "adminConsentRequestPolicy", "isEnabled": true, "notifyReviewers": true, "remindersEnabled": true,
        "requestDurationInDays": 30, "version": 1,
        "reviewers": [{"query": "/groups/g-reviewers/transitiveMembers/microsoft.graph.user", "queryType": "MicrosoftGraph", "queryRoot": null}]}),
        ),
    );
    push(
        "authentication_methods_policy",
        (
            "authenticationMethodsPolicy".to_owned(),
            json!({
            "id": "authenticationMethodsPolicy", "displayName": "Authentication Methods Policy",
            "policyMigrationState": "migrationComplete", "policyVersion": "1.5", "reconfirmationInDays": 0,
            "authenticationMethodConfigurations": [
                method("Fido2", "enabled"), method("Sms", "disabled"), method("Voice", "disabled"), method("Email", "disabled"),
                {"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethodConfiguration",
                 "id": "MicrosoftAuthenticator", "state": "enabled", "isSoftwareOathEnabled": false, "excludeTargets": [],
                 "featureSettings": {
                    "displayAppInformationRequiredState": {"state": "enabled", "includeTarget": {"targetType": "group", "id": "all_users"}},
                    "displayLocationInformationRequiredState": {"state": "enabled", "includeTarget": {"targetType": "group", "id": "all_users"}}}}
            ]}),
        ),
    );
    push(
        "domain",
        (
            "contoso.com".to_owned(),
            json!({"id": "contoso.com", "authenticationType": "Managed",
        "isVerified": true, "isDefault": true, "passwordValidityPeriodInDays": 2_147_483_647, "supportedServices": ["Email"]}),
        ),
    );
    push(
        "domain",
        (
            "fed.contoso.com".to_owned(),
            json!({"id": "fed.contoso.com", "authenticationType": "Federated",
        "isVerified": true, "passwordValidityPeriodInDays": 90}),
        ),
    );
    // Two Global Administrators: one break-glass account permanently active, one
    // eligible through PIM; two other privileged admins; all cloud-only.
    for (id, upn) in [
        ("u-bg", "breakglass@contoso.onmicrosoft.com"),
        ("u-ga", "ga@contoso.onmicrosoft.com"),
        ("u-ua", "ua@contoso.onmicrosoft.com"),
        ("u-ex", "ex@contoso.onmicrosoft.com"),
        ("u-plain", "someone@contoso.com"),
    ] {
        push(
            "user",
            (
                id.to_owned(),
                json!({"id": id, "userPrincipalName": upn, "displayName": upn,
            "accountEnabled": true, "userType": "Member", "onPremisesSyncEnabled": null, "onPremisesImmutableId": null}),
            ),
        );
    }
    let assignment = |id: &str, principal: &str, role: &str| {
        (
            id.to_owned(),
            json!({"id": id, "principalId": principal, "roleDefinitionId": role, "directoryScopeId": "/"}),
        )
    };
    push("role_assignment", assignment("ra-bg", "u-bg", GA));
    push("role_assignment", assignment("ra-ua", "u-ua", USER_ADMIN));
    push(
        "role_assignment",
        assignment("ra-ex", "u-ex", EXCHANGE_ADMIN),
    );
    push(
        "role_eligibility_schedule",
        (
            "re-ga".to_owned(),
            json!({"id": "re-ga", "principalId": "u-ga", "roleDefinitionId": GA, "directoryScopeId": "/",
               "memberType": "Direct", "status": "Provisioned", "createdUsing": "re-ga",
               "scheduleInfo": {"startDateTime": "2026-01-01T00:00:00Z", "expiration": {"type": "afterDateTime", "endDateTime": "2027-01-01T00:00:00Z"}}}),
        ),
    );
    let schedule = |id: &str, principal: &str, role: &str, expiration: &str, kind: &str| {
        (
            id.to_owned(),
            json!({
        "id": id, "principalId": principal, "roleDefinitionId": role, "directoryScopeId": "/",
        "assignmentType": kind, "memberType": "Direct", "status": "Provisioned",
        "scheduleInfo": {"startDateTime": "2026-01-01T00:00:00Z", "expiration": {"type": expiration}}}),
        )
    };
    push(
        "role_assignment_schedule",
        schedule("rs-bg", "u-bg", GA, "noExpiration", "Assigned"),
    );
    push(
        "role_assignment_schedule",
        schedule("rs-ua", "u-ua", USER_ADMIN, "afterDuration", "Assigned"),
    );
    push(
        "role_assignment_schedule",
        schedule("rs-ex", "u-ex", EXCHANGE_ADMIN, "noExpiration", "Activated"),
    );
    out
}

/// The same tenant with every check broken.
fn misconfigured() -> Vec<(String, String, Value)> {
    let mut out = compliant();
    for (kind, id, body) in &mut out {
        match (kind.as_str(), id.as_str()) {
            // Report-only enforces nothing.
            ("conditional_access_policy", _) => {
                body["state"] = json!("enabledForReportingButNotEnforced");
            }
            ("authorization_policy", _) => {
                body["allowInvitesFrom"] = json!("everyone");
                body["allowUserConsentForRiskyApps"] = json!(true);
                body["guestUserRoleId"] = json!("a0b1b346-4d3e-4e8b-98f8-753987be4970");
                body["defaultUserRolePermissions"]["allowedToCreateApps"] = json!(true);
                body["defaultUserRolePermissions"]["permissionGrantPoliciesAssigned"] =
                    json!(["ManagePermissionGrantsForSelf.microsoft-user-default-legacy"]);
            }
            ("admin_consent_request_policy", _) => body["isEnabled"] = json!(false),
            ("authentication_methods_policy", _) => {
                body["policyMigrationState"] = json!("preMigration");
                let methods = body["authenticationMethodConfigurations"]
                    .as_array_mut()
                    .unwrap();
                for m in methods.iter_mut() {
                    if m["id"] == "Sms" {
                        m["state"] = json!("enabled");
                    }
                    if m["id"] == "MicrosoftAuthenticator" {
                        m["featureSettings"]["displayLocationInformationRequiredState"]["state"] =
                            json!("default");
                    }
                }
            }
            ("domain", "contoso.com") => body["passwordValidityPeriodInDays"] = json!(90),
            ("user", "u-ua") => {
                body["onPremisesSyncEnabled"] = json!(true);
                body["onPremisesImmutableId"] = json!("aW1tdXRhYmxl");
            }
            // Made outside PIM, permanent: no schedule left.
            ("role_assignment_schedule", "rs-ua" | "rs-ex") => {
                body["principalId"] = json!("someone-else");
            }
            _ => {}
        }
    }
    // Nine Global Administrators, active and permanent.
    for i in 0..9 {
        let id = format!("ra-ga{i}");
        out.push(("role_assignment".to_owned(), id.clone(),
            json!({"id": id, "principalId": format!("u-ga{i}"), "roleDefinitionId": GA, "directoryScopeId": "/"})));
    }
    out
}

fn evaluate_tenant(resources: Vec<(String, String, Value)>) -> Report {
    let mut source = InMemorySnapshotSource::new();
    let snapshot = source.insert(
        ProviderKind::EntraId,
        "contoso.onmicrosoft.com",
        butterfly_core::rfc3339::parse("2026-11-30T00:00:00Z").unwrap(),
        SnapshotStatus::Complete,
        resources
            .into_iter()
            .map(|(kind, id, body)| Resource::new(ResourceKind::new(kind), id, body)),
    );
    block_on(evaluate(&source, &snapshot, &Framework::ALL, GENERATED_AT)).unwrap()
}

fn statuses(report: &Report) -> std::collections::BTreeMap<String, Status> {
    let mut out = std::collections::BTreeMap::new();
    for r in &report.results {
        let previous = out.insert(r.check_id.clone(), r.status);
        assert!(
            previous.is_none_or(|p| p == r.status),
            "{} differs across frameworks",
            r.check_id
        );
    }
    out
}

#[test]
fn every_entra_check_passes_on_the_compliant_tenant() {
    let report = evaluate_tenant(compliant());
    let statuses = statuses(&report);
    assert_eq!(
        statuses.len(),
        ENTRA_CHECKS.len(),
        "every Entra check maps to some framework"
    );
    for (id, status) in &statuses {
        let r = report.results.iter().find(|r| &r.check_id == id).unwrap();
        assert_eq!(*status, Status::Pass, "{id}: {}", r.message);
    }
    // Only Entra checks: none of Okta's ran on an Entra snapshot.
    assert!(
        report
            .results
            .iter()
            .all(|r| r.check_id.starts_with("entra."))
    );
    assert_eq!(report.snapshot.provider, "entra_id");
}

#[test]
fn every_entra_check_fails_on_the_misconfigured_tenant() {
    let report = evaluate_tenant(misconfigured());
    for (id, status) in statuses(&report) {
        let r = report.results.iter().find(|r| r.check_id == id).unwrap();
        assert_eq!(status, Status::Fail, "{id}: {}", r.message);
        assert!(!r.message.is_empty());
    }
    let count = report
        .results
        .iter()
        .find(|r| r.check_id == "entra.admins.global_admin_count")
        .unwrap();
    assert!(
        count.message.starts_with("11 principals"),
        "{}",
        count.message
    );
    assert_eq!(count.threshold.as_ref().unwrap().value, 8);
    let cloud = report
        .results
        .iter()
        .find(|r| r.check_id == "entra.admins.privileged_cloud_only")
        .unwrap();
    assert_eq!(cloud.evidence.len(), 1);
    assert_eq!(cloud.evidence[0].id, "u-ua");
    assert_eq!(
        cloud.evidence[0].name.as_deref(),
        Some("ua@contoso.onmicrosoft.com")
    );
}

#[test]
fn security_defaults_satisfy_the_mfa_and_legacy_checks_without_conditional_access() {
    let mut tenant: Vec<_> = compliant()
        .into_iter()
        .filter(|(kind, _, _)| kind != "conditional_access_policy")
        .collect();
    for (kind, _, body) in &mut tenant {
        if kind == "security_defaults" {
            body["isEnabled"] = json!(true);
        }
    }
    let with_defaults = statuses(&evaluate_tenant(tenant.clone()));
    for id in [
        "entra.mfa.all_users",
        "entra.mfa.admins",
        "entra.ca.legacy_auth_blocked",
        "entra.ca.defaults_or_conditional_access",
    ] {
        assert_eq!(with_defaults[id], Status::Pass, "{id}");
    }
    // Nothing else stands in for a risk policy.
    assert_eq!(
        with_defaults["entra.ca.high_risk_users_blocked"],
        Status::Fail
    );
    for (kind, _, body) in &mut tenant {
        if kind == "security_defaults" {
            body["isEnabled"] = json!(false);
        }
    }
    let statuses = statuses(&evaluate_tenant(tenant));
    assert_eq!(
        statuses["entra.ca.defaults_or_conditional_access"],
        Status::Fail
    );
    assert_eq!(statuses["entra.mfa.all_users"], Status::Fail);
}

#[test]
fn a_snapshot_without_role_data_is_not_applicable_not_passing() {
    let tenant: Vec<_> = compliant()
        .into_iter()
        .filter(|(kind, _, _)| !kind.starts_with("role_"))
        .collect();
    let statuses = statuses(&evaluate_tenant(tenant));
    assert_eq!(
        statuses["entra.admins.global_admin_count"],
        Status::NotApplicable
    );
    assert_eq!(
        statuses["entra.admins.privileged_cloud_only"],
        Status::NotApplicable
    );
}

#[test]
fn an_okta_snapshot_runs_only_okta_checks() {
    let (source, snapshot) = crate::support::load("misconfigured-org.json").unwrap();
    let report = block_on(evaluate(&source, &snapshot, &Framework::ALL, GENERATED_AT)).unwrap();
    assert!(!report.results.is_empty());
    assert!(
        report
            .results
            .iter()
            .all(|r| !r.check_id.starts_with("entra."))
    );
}

#[test]
fn entra_reports_render_in_every_format() {
    let report = evaluate_tenant(misconfigured());
    for format in [
        report::Format::Json,
        report::Format::Csv,
        report::Format::Markdown,
        report::Format::Html,
        report::Format::Sarif,
        report::Format::Oscal,
        report::Format::Junit,
    ] {
        let text = report::render(&report, format).unwrap();
        assert!(
            text.contains("entra.mfa.all_users") || text.contains("entra_mfa_all_users"),
            "{format:?}"
        );
    }
    let sarif: Value =
        serde_json::from_str(&report::render(&report, report::Format::Sarif).unwrap()).unwrap();
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    assert_eq!(rules.len(), ENTRA_CHECKS.len());
    let legacy = rules
        .iter()
        .find(|r| r["id"] == "entra.ca.legacy_auth_blocked")
        .unwrap();
    assert!(
        legacy["properties"]["references"][0]
            .as_str()
            .unwrap()
            .contains("MS.AAD.1.1v1")
    );
    // Every failing result points at a rule of the run.
    for result in sarif["runs"][0]["results"].as_array().unwrap() {
        let index = usize::try_from(result["ruleIndex"].as_u64().unwrap()).unwrap();
        assert_eq!(rules[index]["id"], result["ruleId"]);
    }
}

#[test]
fn the_stig_column_names_the_application_srg_for_entra_and_the_okta_stig_for_okta() {
    // The Entra checks cite SRG-APP requirements, not Okta IDaaS STIG rules: no report
    // on an Entra tenant may call its STIG column the Okta STIG.
    const OKTA_STIG: &str = "DISA Okta IDaaS STIG";
    const SRG: &str = "DISA Application Security Requirements Guide";
    let entra = evaluate_tenant(misconfigured());
    assert_eq!(entra.framework_title(Framework::Stig), SRG);
    let stig = entra
        .summaries
        .iter()
        .find(|s| s.framework == Framework::Stig)
        .unwrap();
    assert_eq!(stig.title, SRG);
    for format in [
        report::Format::Markdown,
        report::Format::Sarif,
        report::Format::Oscal,
    ] {
        let text = report::render(&entra, format).unwrap();
        assert!(!text.contains(OKTA_STIG), "{format:?}");
        assert!(text.contains(SRG), "{format:?}");
    }

    let (source, snapshot) = crate::support::load("misconfigured-org.json").unwrap();
    let okta = block_on(evaluate(&source, &snapshot, &Framework::ALL, GENERATED_AT)).unwrap();
    assert_eq!(okta.framework_title(Framework::Stig), OKTA_STIG);
    for format in [report::Format::Sarif, report::Format::Oscal] {
        let text = report::render(&okta, format).unwrap();
        assert!(text.contains(OKTA_STIG), "{format:?}");
        assert!(!text.contains(SRG), "{format:?}");
    }
}
