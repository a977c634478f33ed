//! The Entra ID rule table (`entra-rules.json`) over Graph-shaped resources.

use chrono::{DateTime, Utc};
use futures::executor::block_on;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::source::InMemorySnapshotSource;
use crate::{ProviderKind, Resource, SnapshotStatus};

const GLOBAL_ADMIN: &str = "62e90394-69f5-4237-9190-012177145e10";
const USER_ADMIN: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";

fn entra() -> DiffRules {
    DiffRules::for_provider(ProviderKind::EntraId)
}

fn kind(name: &str) -> ResourceKind {
    ResourceKind::new(name)
}

/// A Conditional Access policy as `GET /identity/conditionalAccess/policies` returns it.
fn ca_policy() -> Value {
    json!({
        "id": "5c1f0b3e-7d1a-4a7e-9d7e-3f0a6b1c2d3e",
        "displayName": "Require MFA for admins",
        "state": "enabled",
        "createdDateTime": "2026-01-01T00:00:00Z",
        "modifiedDateTime": "2026-02-01T00:00:00Z",
        "templateId": null,
        "conditions": {
            "clientAppTypes": ["all"],
            "signInRiskLevels": [],
            "userRiskLevels": [],
            "applications": {"includeApplications": ["All"], "excludeApplications": [], "includeUserActions": []},
            "users": {
                "includeUsers": [], "excludeUsers": ["b1e6b8a4-0000-4000-8000-000000000001"],
                "includeGroups": [], "excludeGroups": [],
                "includeRoles": [GLOBAL_ADMIN, USER_ADMIN], "excludeRoles": []
            },
            "locations": {"includeLocations": ["All"], "excludeLocations": []},
            "platforms": null
        },
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"], "customAuthenticationFactors": [], "termsOfUse": []},
        "sessionControls": null
    })
}

fn worst(changes: &[RatedChange]) -> Option<Severity> {
    changes.iter().map(|c| c.severity).max()
}

fn changed(name: &str, old: &Value, new: &Value) -> Option<Severity> {
    worst(&diff_resource(&entra(), &kind(name), old, new, false))
}

#[test]
fn a_conditional_access_policy_disabled_or_report_only_is_critical() {
    let old = ca_policy();
    for state in ["disabled", "enabledForReportingButNotEnforced"] {
        let mut new = old.clone();
        new["state"] = json!(state);
        assert_eq!(
            changed("conditional_access_policy", &old, &new),
            Some(Severity::Critical),
            "{state}"
        );
    }
    // Switched on: it matters, but nobody lost protection.
    let mut off = old.clone();
    off["state"] = json!("disabled");
    assert_eq!(
        changed("conditional_access_policy", &off, &old),
        Some(Severity::High)
    );
}

#[test]
fn new_exclusions_on_a_conditional_access_policy_are_critical() {
    let old = ca_policy();
    for pointer in [
        "/conditions/users/excludeUsers",
        "/conditions/users/excludeGroups",
        "/conditions/users/excludeRoles",
        "/conditions/applications/excludeApplications",
        "/conditions/locations/excludeLocations",
    ] {
        let mut new = old.clone();
        let list = new.pointer_mut(pointer).unwrap().as_array_mut().unwrap();
        list.push(json!("d7a1c0de-0000-4000-8000-00000000beef"));
        let changes = diff_resource(
            &entra(),
            &kind("conditional_access_policy"),
            &old,
            &new,
            false,
        );
        assert_eq!(changes.len(), 1, "{pointer}");
        assert_eq!(changes[0].change.pointer, pointer);
        assert_eq!(changes[0].severity, Severity::Critical, "{pointer}");
        assert_eq!(
            changes[0].change.added,
            vec![json!("d7a1c0de-0000-4000-8000-00000000beef")]
        );
    }
    // An exclusion taken away tightens the policy: high, not critical.
    let mut new = old.clone();
    new["conditions"]["users"]["excludeUsers"] = json!([]);
    assert_eq!(
        changed("conditional_access_policy", &old, &new),
        Some(Severity::High)
    );
    // A well-known value (all trusted locations) counts like an id.
    let mut new = old.clone();
    new["conditions"]["locations"]["excludeLocations"] = json!(["AllTrusted"]);
    assert_eq!(
        changed("conditional_access_policy", &old, &new),
        Some(Severity::Critical)
    );
}

#[test]
fn a_conditional_access_policy_removed_is_critical() {
    let rules = entra();
    let ca = kind("conditional_access_policy");
    assert_eq!(
        rules.rate_resource(&ca, ChangeKind::Removed).severity,
        Severity::Critical
    );
    assert_eq!(
        rules.rate_resource(&ca, ChangeKind::Added).severity,
        Severity::High
    );
}

#[test]
fn global_administrator_assignments_are_critical_other_roles_high() {
    let rules = entra();
    for name in ["role_assignment", "role_eligibility_schedule"] {
        let k = kind(name);
        assert!(rules.needs_body(&k, ChangeKind::Added));
        let ga = json!({"id": "x", "principalId": "u1", "roleDefinitionId": GLOBAL_ADMIN, "directoryScopeId": "/"});
        let other = json!({"id": "y", "principalId": "u1", "roleDefinitionId": USER_ADMIN, "directoryScopeId": "/"});
        assert_eq!(
            rules
                .rate_resource_body(&k, ChangeKind::Added, &ga)
                .severity,
            Severity::Critical,
            "{name}"
        );
        assert_eq!(
            rules
                .rate_resource_body(&k, ChangeKind::Added, &other)
                .severity,
            Severity::High,
            "{name}"
        );
        // GUIDs compare without case.
        let upper = json!({"roleDefinitionId": GLOBAL_ADMIN.to_uppercase()});
        assert_eq!(
            rules
                .rate_resource_body(&k, ChangeKind::Added, &upper)
                .severity,
            Severity::Critical
        );
        assert_eq!(
            rules
                .rate_resource_body(&k, ChangeKind::Removed, &ga)
                .severity,
            Severity::Medium
        );
    }
    // Without the body, the match rules cannot apply.
    assert_eq!(
        rules
            .rate_resource(&kind("role_assignment"), ChangeKind::Added)
            .severity,
        Severity::High
    );
    assert!(!rules.needs_body(&kind("user"), ChangeKind::Added));
}

#[test]
fn security_defaults_switched_off_is_critical() {
    let on = json!({"id": "00000000-0000-0000-0000-000000000005", "displayName": "Security Defaults", "isEnabled": true});
    let mut off = on.clone();
    off["isEnabled"] = json!(false);
    assert_eq!(
        changed("security_defaults", &on, &off),
        Some(Severity::Critical)
    );
    assert_eq!(
        changed("security_defaults", &off, &on),
        Some(Severity::Medium)
    );
}

#[test]
fn an_app_granted_an_application_permission_is_high() {
    let rules = entra();
    let k = kind("app_role_assignment");
    let to_app = json!({"id": "a1", "principalType": "ServicePrincipal", "principalId": "sp1",
        "principalDisplayName": "Payroll sync", "resourceId": "graph", "resourceDisplayName": "Microsoft Graph",
        "appRoleId": "df021288-bdef-4463-88db-98f22de89214"});
    let to_user = json!({"id": "a2", "principalType": "User", "principalId": "u1", "resourceId": "sp2",
        "appRoleId": "00000000-0000-0000-0000-000000000000"});
    assert_eq!(
        rules
            .rate_resource_body(&k, ChangeKind::Added, &to_app)
            .severity,
        Severity::High
    );
    assert_eq!(
        rules
            .rate_resource_body(&k, ChangeKind::Added, &to_user)
            .severity,
        Severity::Low
    );
    assert_eq!(rules.name_of(&k, &to_app).as_deref(), Some("Payroll sync"));
}

#[test]
fn new_owners_and_credentials_on_apps_are_high() {
    let rules = entra();
    assert_eq!(
        rules
            .rate_resource(&kind("application_owner"), ChangeKind::Added)
            .severity,
        Severity::High
    );
    let app = json!({"id": "app1", "appId": "c1", "displayName": "Payroll",
        "passwordCredentials": [{"keyId": "k1", "displayName": "old", "endDateTime": "2027-01-01T00:00:00Z", "secretText": null}],
        "keyCredentials": []});
    for (name, field) in [
        ("application", "passwordCredentials"),
        ("application", "keyCredentials"),
        ("service_principal", "passwordCredentials"),
        ("service_principal", "keyCredentials"),
    ] {
        let mut new = app.clone();
        new[field]
            .as_array_mut()
            .unwrap()
            .push(json!({"keyId": "k2", "displayName": "new"}));
        assert_eq!(
            changed(name, &app, &new),
            Some(Severity::High),
            "{name} {field}"
        );
    }
    // A credential removed is worth a look, not an alarm.
    let mut fewer = app.clone();
    fewer["passwordCredentials"] = json!([]);
    assert_eq!(changed("application", &app, &fewer), Some(Severity::Medium));
}

#[test]
fn consent_and_guest_settings_of_the_authorization_policy_are_high() {
    let old = json!({"id": "authorizationPolicy", "allowInvitesFrom": "adminsAndGuestInviters",
        "allowUserConsentForRiskyApps": false, "guestUserRoleId": "2af84b1e-32c8-42b7-82bc-daa82404023b",
        "defaultUserRolePermissions": {"allowedToCreateApps": false,
            "permissionGrantPoliciesAssigned": ["ManagePermissionGrantsForOwnedResource.DeveloperConsent"]}});
    for (pointer, value) in [
        ("/allowInvitesFrom", json!("everyone")),
        (
            "/guestUserRoleId",
            json!("a0b1b346-4d3e-4e8b-98f8-753987be4970"),
        ),
        (
            "/defaultUserRolePermissions/permissionGrantPoliciesAssigned",
            json!(["ManagePermissionGrantsForSelf.microsoft-user-default-legacy"]),
        ),
        ("/allowUserConsentForRiskyApps", json!(true)),
    ] {
        let mut new = old.clone();
        *new.pointer_mut(pointer).unwrap() = value;
        assert_eq!(
            changed("authorization_policy", &old, &new),
            Some(Severity::High),
            "{pointer}"
        );
    }
    let mut new = old.clone();
    new["defaultUserRolePermissions"]["allowedToCreateApps"] = json!(true);
    assert_eq!(
        changed("authorization_policy", &old, &new),
        Some(Severity::Medium)
    );
}

#[test]
fn volatile_graph_fields_are_ignored() {
    let rules = entra();
    let user = kind("user");
    let old = json!({"id": "u1", "userPrincipalName": "ada@contoso.com", "@odata.context": "a",
        "signInActivity": {"lastSignInDateTime": "2026-01-01T00:00:00Z"}, "proxyAddresses": ["SMTP:a", "smtp:b"]});
    let new = json!({"id": "u1", "userPrincipalName": "ada@contoso.com", "@odata.context": "b",
        "signInActivity": {"lastSignInDateTime": "2026-03-01T00:00:00Z"}, "proxyAddresses": ["smtp:b", "SMTP:a"]});
    assert!(diff_resource(&rules, &user, &old, &new, false).is_empty());
    assert_eq!(diff_resource(&rules, &user, &old, &new, true).len(), 2);
    let mut ca = ca_policy();
    let before = ca.clone();
    ca["modifiedDateTime"] = json!("2026-05-05T00:00:00Z");
    assert!(
        diff_resource(
            &rules,
            &kind("conditional_access_policy"),
            &before,
            &ca,
            false
        )
        .is_empty()
    );
    assert_eq!(
        rules.name_of(&user, &old).as_deref(),
        Some("ada@contoso.com")
    );
    assert_eq!(
        rules
            .name_of(&kind("conditional_access_policy"), &before)
            .as_deref(),
        Some("Require MFA for admins")
    );
}

fn snap(
    source: &mut InMemorySnapshotSource,
    provider: ProviderKind,
    resources: Vec<Resource>,
) -> Snapshot {
    source.insert(
        provider,
        "contoso.onmicrosoft.com",
        DateTime::<Utc>::UNIX_EPOCH,
        SnapshotStatus::Complete,
        resources,
    )
}

#[test]
fn an_entra_snapshot_diff_uses_the_entra_rules() {
    let mut source = InMemorySnapshotSource::new();
    let ca = |body: Value| Resource::new(kind("conditional_access_policy"), "5c1f", body);
    let ga = Resource::new(
        kind("role_assignment"),
        "ra1",
        json!({"id": "ra1", "principalId": "u9", "roleDefinitionId": GLOBAL_ADMIN, "directoryScopeId": "/"}),
    );
    let before = vec![ca(ca_policy())];
    let mut weakened = ca_policy();
    weakened["state"] = json!("enabledForReportingButNotEnforced");
    let after = vec![ca(weakened), ga];
    let old = snap(&mut source, ProviderKind::EntraId, before);
    let new = snap(&mut source, ProviderKind::EntraId, after);
    // Callers pick the rules by the manifest's provider.
    let rules = DiffRules::for_provider(new.provider);
    let diff = block_on(diff_snapshots(
        &source,
        &old,
        &new,
        &rules,
        &DiffOptions::default(),
    ))
    .unwrap();
    assert_eq!(diff.changed.len(), 1);
    assert_eq!(diff.changed[0].severity, Severity::Critical);
    assert_eq!(diff.changed[0].name, "Require MFA for admins");
    assert_eq!(diff.added.len(), 1);
    assert_eq!(diff.added[0].severity, Severity::Critical);
    assert_eq!(diff.summary.by_severity.get(&Severity::Critical), Some(&2));
    // A threshold above low keeps the critical assignment: the body was read to rate it.
    let high = block_on(diff_snapshots(
        &source,
        &old,
        &new,
        &rules,
        &DiffOptions::default().with_min_severity(Severity::Critical),
    ))
    .unwrap();
    assert_eq!(high.added.len(), 1);
    // Under Okta's rules the same change is only `low`: the provider matters.
    let okta = block_on(diff_snapshots(
        &source,
        &old,
        &new,
        &DiffRules::for_provider(ProviderKind::Okta),
        &DiffOptions::default(),
    ))
    .unwrap();
    assert_eq!(okta.changed[0].severity, Severity::Low);
}

fn guid() -> impl Strategy<Value = String> {
    "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}"
}

const EXCLUSIONS: [&str; 5] = [
    "/conditions/users/excludeUsers",
    "/conditions/users/excludeGroups",
    "/conditions/users/excludeRoles",
    "/conditions/applications/excludeApplications",
    "/conditions/locations/excludeLocations",
];

proptest! {
    #[test]
    fn any_new_exclusion_is_critical_and_reordering_is_no_change(
        which in 0..EXCLUSIONS.len(),
        existing in prop::collection::vec(guid(), 0..5),
        added in guid(),
    ) {
        let pointer = EXCLUSIONS[which];
        let mut old = ca_policy();
        *old.pointer_mut(pointer).unwrap() = json!(existing);
        let mut reordered = old.clone();
        let mut reversed = existing.clone();
        reversed.reverse();
        *reordered.pointer_mut(pointer).unwrap() = json!(reversed);
        prop_assert_eq!(changed("conditional_access_policy", &old, &reordered), None);
        prop_assume!(!existing.contains(&added));
        let mut new = old.clone();
        let mut grown = existing.clone();
        grown.insert(grown.len() / 2, added);
        *new.pointer_mut(pointer).unwrap() = json!(grown);
        prop_assert_eq!(changed("conditional_access_policy", &old, &new), Some(Severity::Critical));
        // The other way round only tightens the policy.
        prop_assert_eq!(changed("conditional_access_policy", &new, &old), Some(Severity::High));
    }

    #[test]
    fn state_changes_are_critical_exactly_when_enforcement_stops(
        from in prop::sample::select(vec!["enabled", "disabled", "enabledForReportingButNotEnforced"]),
        to in prop::sample::select(vec!["enabled", "disabled", "enabledForReportingButNotEnforced"]),
    ) {
        let mut old = ca_policy();
        old["state"] = json!(from);
        let mut new = old.clone();
        new["state"] = json!(to);
        let expected = if from == to {
            None
        } else if to == "enabled" {
            Some(Severity::High)
        } else {
            Some(Severity::Critical)
        };
        prop_assert_eq!(changed("conditional_access_policy", &old, &new), expected);
    }

    #[test]
    fn volatile_fields_never_count(
        a in "[0-9TZ:-]{0,20}", b in "[0-9TZ:-]{0,20}",
        field in prop::sample::select(vec!["/modifiedDateTime", "/lastModifiedDateTime", "/@odata.context", "/deletedDateTime"]),
    ) {
        let mut old = ca_policy();
        let mut new = old.clone();
        old[&field[1..]] = json!(a);
        new[&field[1..]] = json!(b);
        prop_assert_eq!(changed("conditional_access_policy", &old, &new), None);
    }

    #[test]
    fn role_assignments_added_are_critical_only_for_global_administrator(role in guid(), principal in guid()) {
        let rules = entra();
        let body = json!({"id": "x", "principalId": principal, "roleDefinitionId": role, "directoryScopeId": "/"});
        let rated = rules.rate_resource_body(&kind("role_assignment"), ChangeKind::Added, &body).severity;
        prop_assert_eq!(rated, Severity::High);
        let ga = json!({"id": "x", "principalId": principal, "roleDefinitionId": GLOBAL_ADMIN});
        prop_assert_eq!(rules.rate_resource_body(&kind("role_assignment"), ChangeKind::Added, &ga).severity, Severity::Critical);
    }
}

/// Every Entra backup stores the delta links Graph ended its delta queries with (kind
/// `delta_link`); a new cursor each time is bookkeeping, not a change to the tenant.
#[test]
fn a_new_delta_link_is_no_change() {
    let old = json!({"kind": "user", "deltaLink": "https://graph.example/v1.0/users/delta?$deltatoken=1"});
    let new = json!({"kind": "user", "deltaLink": "https://graph.example/v1.0/users/delta?$deltatoken=2"});
    assert_eq!(changed("delta_link", &old, &new), None);
    let other = json!({"kind": "group", "deltaLink": "https://graph.example/v1.0/users/delta?$deltatoken=2"});
    assert!(changed("delta_link", &old, &other).is_some());
}
