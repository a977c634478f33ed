//! The catalogue of Entra ID resource kinds a backup covers.
//!
//! Paths are Microsoft Graph v1.0 paths (relative to `https://graph.microsoft.com/v1.0`),
//! with `{placeholders}` for a parent's id. Entity types are the names in Graph's CSDL
//! (`../shared/reference/msgraph-v1.0-metadata.xml`), so a test can check both the paths'
//! types and every property the simulator emits against it.
//!
//! Permissions are Graph *application* permissions (app roles of the Microsoft Graph
//! service principal), the least privileged one Graph documents for the list call. A
//! backup whose token lacks one skips the kind with a warning.
//!
//! Request costs follow Graph's identity and access throttling rules: each request costs
//! its path's base resource units (`GET users` 2, `GET groups/{id}/members` 3, anything not
//! listed 1), less one with `$select`, less one with a `$top` under 20, plus one with
//! `$expand`, never below 1; see [`request_cost`].
//!
//! ```
//! use butterfly_providers::entra::kinds;
//!
//! let members = kinds::by_name("group_member").unwrap();
//! assert_eq!(members.path, "/groups/{groupId}/members");
//! assert_eq!(members.parent.unwrap().kind, "group");
//! assert!(kinds::all().count() >= 30);
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::LazyLock;

use butterfly_core::ResourceKind;

/// How a kind is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Shape {
    /// A collection: `{"value": [...], "@odata.nextLink": ...}`, paged with `$top` up to
    /// this many items per page (`None`: the endpoint takes no `$top` and pages at its will).
    Collection {
        /// The largest `$top` Graph honours for the path.
        max_top: Option<u32>,
    },
    /// One object (a policy singleton, the tenant's default cross-tenant settings).
    Singleton,
}

/// The parent of a nested kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parent {
    /// The parent kind's name.
    pub kind: &'static str,
    /// The placeholder in the child's path, without braces; filled with the parent's id.
    pub param: &'static str,
}

/// How a resource is named in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdRule {
    /// The string at this JSON pointer, unique in the tenant (`/id`, or `/tenantId` for
    /// cross-tenant partners).
    Field(&'static str),
    /// One object per tenant, or per parent: the id is this name, or `{parent id}/{name}`.
    Singleton(&'static str),
    /// A relation between the parent and a directory object the endpoint lists (a group's
    /// members): the id is `{parent id}/{member id}` and only the pair (plus the member's
    /// `@odata.type`) is kept, since the member is backed up under its own kind.
    Member,
}

/// One Entra ID resource kind.
#[derive(Debug)]
#[non_exhaustive]
pub struct EntraKind {
    /// The kind's name in snapshots: `user`, `conditional_access_policy`...
    pub name: &'static str,
    /// What it is, in a few words.
    pub summary: &'static str,
    /// The Graph v1.0 list (or singleton) path, with `{placeholders}` for the parent.
    pub path: &'static str,
    /// The CSDL entity type of the items (the base type when the set is polymorphic; each
    /// item then names its own in `@odata.type`).
    pub entity_type: &'static str,
    /// The parent, for nested kinds.
    pub parent: Option<Parent>,
    /// The application permission the read needs (any higher one, such as
    /// `Directory.Read.All` for directory objects, also works in Graph; the backup asks
    /// for this one).
    pub read_permission: &'static str,
    /// The application permission a restore needs to write the kind, when it restores it.
    pub write_permission: Option<&'static str>,
    /// How it pages.
    pub shape: Shape,
    /// How each resource is named.
    pub id: IdRule,
    /// The delta query path, for kinds Graph tracks changes of.
    pub delta_path: Option<&'static str>,
    /// JSON pointers (with `*` wildcards over arrays) of secrets stripped before storage.
    pub secrets: &'static [&'static str],
    /// Restore order: lower ranks are restored first; `None`: not restored.
    pub restore_rank: Option<u16>,
}

const BASE: EntraKind = EntraKind {
    name: "",
    summary: "",
    path: "",
    entity_type: "",
    parent: None,
    read_permission: "",
    write_permission: None,
    shape: Shape::Collection { max_top: None },
    id: IdRule::Field("/id"),
    delta_path: None,
    secrets: &[],
    restore_rank: None,
};

const fn pages(max_top: u32) -> Shape {
    Shape::Collection {
        max_top: Some(max_top),
    }
}

// Reads as `parent: under("group", "groupId")` in the table below.
#[allow(clippy::unnecessary_wraps)]
const fn under(kind: &'static str, param: &'static str) -> Option<Parent> {
    Some(Parent { kind, param })
}

/// Credentials of apps and service principals: Graph never returns `secretText` on a
/// read, and `key` only on request, but a backup must not keep either if it ever does.
const CREDENTIAL_SECRETS: &[&str] = &[
    "/passwordCredentials/*/secretText",
    "/keyCredentials/*/key",
    "/passwordCredentials/*/hint",
];

/// The catalogue, parents before children.
static KINDS: &[EntraKind] = &[
    // --- Directory objects -------------------------------------------------------------
    EntraKind {
        name: "user",
        summary: "Member and guest users",
        path: "/users",
        entity_type: "microsoft.graph.user",
        read_permission: "User.Read.All",
        write_permission: Some("User.ReadWrite.All"),
        shape: pages(999),
        delta_path: Some("/users/delta"),
        secrets: &["/passwordProfile"],
        restore_rank: Some(10),
        ..BASE
    },
    EntraKind {
        name: "group",
        summary: "Security and Microsoft 365 groups",
        path: "/groups",
        entity_type: "microsoft.graph.group",
        read_permission: "Group.Read.All",
        write_permission: Some("Group.ReadWrite.All"),
        shape: pages(999),
        delta_path: Some("/groups/delta"),
        restore_rank: Some(20),
        ..BASE
    },
    EntraKind {
        name: "group_member",
        summary: "Which users, groups and service principals are in which group",
        path: "/groups/{groupId}/members",
        entity_type: "microsoft.graph.directoryObject",
        parent: under("group", "groupId"),
        read_permission: "GroupMember.Read.All",
        write_permission: Some("GroupMember.ReadWrite.All"),
        shape: pages(999),
        id: IdRule::Member,
        restore_rank: Some(60),
        ..BASE
    },
    EntraKind {
        name: "group_owner",
        summary: "Owners of each group",
        path: "/groups/{groupId}/owners",
        entity_type: "microsoft.graph.directoryObject",
        parent: under("group", "groupId"),
        read_permission: "GroupMember.Read.All",
        write_permission: Some("GroupMember.ReadWrite.All"),
        shape: pages(999),
        id: IdRule::Member,
        restore_rank: Some(61),
        ..BASE
    },
    EntraKind {
        name: "group_lifecycle_policy",
        summary: "Expiration policy for Microsoft 365 groups",
        path: "/groupLifecyclePolicies",
        entity_type: "microsoft.graph.groupLifecyclePolicy",
        read_permission: "Directory.Read.All",
        ..BASE
    },
    EntraKind {
        name: "directory_setting",
        summary: "Tenant-wide directory settings (group creation, guest access, password protection)",
        path: "/settings",
        entity_type: "microsoft.graph.groupSetting",
        read_permission: "Directory.Read.All",
        ..BASE
    },
    EntraKind {
        name: "administrative_unit",
        summary: "Administrative units that scope role assignments",
        path: "/directory/administrativeUnits",
        entity_type: "microsoft.graph.administrativeUnit",
        read_permission: "AdministrativeUnit.Read.All",
        shape: pages(999),
        ..BASE
    },
    EntraKind {
        name: "administrative_unit_member",
        summary: "Members of each administrative unit",
        path: "/directory/administrativeUnits/{administrativeUnitId}/members",
        entity_type: "microsoft.graph.directoryObject",
        parent: under("administrative_unit", "administrativeUnitId"),
        read_permission: "AdministrativeUnit.Read.All",
        shape: pages(999),
        id: IdRule::Member,
        ..BASE
    },
    // --- Applications --------------------------------------------------------------------
    EntraKind {
        name: "application",
        summary: "App registrations (credentials kept as metadata only)",
        path: "/applications",
        entity_type: "microsoft.graph.application",
        read_permission: "Application.Read.All",
        write_permission: Some("Application.ReadWrite.All"),
        shape: pages(999),
        delta_path: Some("/applications/delta"),
        secrets: CREDENTIAL_SECRETS,
        restore_rank: Some(30),
        ..BASE
    },
    EntraKind {
        name: "application_owner",
        summary: "Owners of each app registration",
        path: "/applications/{applicationId}/owners",
        entity_type: "microsoft.graph.directoryObject",
        parent: under("application", "applicationId"),
        read_permission: "Application.Read.All",
        write_permission: Some("Application.ReadWrite.All"),
        shape: pages(999),
        id: IdRule::Member,
        restore_rank: Some(62),
        ..BASE
    },
    EntraKind {
        name: "service_principal",
        summary: "Enterprise apps: the tenant's instances of applications",
        path: "/servicePrincipals",
        entity_type: "microsoft.graph.servicePrincipal",
        read_permission: "Application.Read.All",
        write_permission: Some("Application.ReadWrite.All"),
        shape: pages(999),
        delta_path: Some("/servicePrincipals/delta"),
        secrets: CREDENTIAL_SECRETS,
        restore_rank: Some(40),
        ..BASE
    },
    EntraKind {
        name: "app_role_assignment",
        summary: "Users, groups and apps granted an app role of each service principal (application permissions included)",
        path: "/servicePrincipals/{servicePrincipalId}/appRoleAssignedTo",
        entity_type: "microsoft.graph.appRoleAssignment",
        parent: under("service_principal", "servicePrincipalId"),
        read_permission: "Application.Read.All",
        write_permission: Some("AppRoleAssignment.ReadWrite.All"),
        shape: pages(999),
        restore_rank: Some(70),
        ..BASE
    },
    EntraKind {
        name: "oauth2_permission_grant",
        summary: "Delegated permissions consented for apps",
        path: "/oauth2PermissionGrants",
        entity_type: "microsoft.graph.oAuth2PermissionGrant",
        read_permission: "DelegatedPermissionGrant.Read.All",
        shape: pages(999),
        ..BASE
    },
    // --- Conditional Access and authentication policies --------------------------------
    EntraKind {
        name: "named_location",
        summary: "IP ranges and countries Conditional Access refers to",
        path: "/identity/conditionalAccess/namedLocations",
        entity_type: "microsoft.graph.namedLocation",
        read_permission: "Policy.Read.All",
        write_permission: Some("Policy.ReadWrite.ConditionalAccess"),
        restore_rank: Some(50),
        ..BASE
    },
    EntraKind {
        name: "conditional_access_policy",
        summary: "Conditional Access policies",
        path: "/identity/conditionalAccess/policies",
        entity_type: "microsoft.graph.conditionalAccessPolicy",
        read_permission: "Policy.Read.All",
        write_permission: Some("Policy.ReadWrite.ConditionalAccess"),
        restore_rank: Some(80),
        ..BASE
    },
    EntraKind {
        name: "authentication_strength_policy",
        summary: "Combinations of methods Conditional Access can require",
        path: "/policies/authenticationStrengthPolicies",
        entity_type: "microsoft.graph.authenticationStrengthPolicy",
        read_permission: "Policy.Read.All",
        ..BASE
    },
    EntraKind {
        name: "authentication_methods_policy",
        summary: "Which authentication methods users may register and use",
        path: "/policies/authenticationMethodsPolicy",
        entity_type: "microsoft.graph.authenticationMethodsPolicy",
        read_permission: "Policy.Read.All",
        shape: Shape::Singleton,
        id: IdRule::Singleton("authenticationMethodsPolicy"),
        ..BASE
    },
    EntraKind {
        name: "authorization_policy",
        summary: "Guest invitations, user consent and default user permissions",
        path: "/policies/authorizationPolicy",
        entity_type: "microsoft.graph.authorizationPolicy",
        read_permission: "Policy.Read.All",
        shape: Shape::Singleton,
        id: IdRule::Singleton("authorizationPolicy"),
        ..BASE
    },
    EntraKind {
        name: "security_defaults",
        summary: "Whether security defaults are enforced",
        path: "/policies/identitySecurityDefaultsEnforcementPolicy",
        entity_type: "microsoft.graph.identitySecurityDefaultsEnforcementPolicy",
        read_permission: "Policy.Read.All",
        shape: Shape::Singleton,
        id: IdRule::Singleton("identitySecurityDefaultsEnforcementPolicy"),
        ..BASE
    },
    EntraKind {
        name: "admin_consent_request_policy",
        summary: "Whether users may request admin consent, and who reviews",
        path: "/policies/adminConsentRequestPolicy",
        entity_type: "microsoft.graph.adminConsentRequestPolicy",
        read_permission: "Policy.Read.All",
        shape: Shape::Singleton,
        id: IdRule::Singleton("adminConsentRequestPolicy"),
        ..BASE
    },
    EntraKind {
        name: "permission_grant_policy",
        summary: "Conditions under which apps may be consented to",
        path: "/policies/permissionGrantPolicies",
        entity_type: "microsoft.graph.permissionGrantPolicy",
        read_permission: "Policy.Read.PermissionGrant",
        ..BASE
    },
    EntraKind {
        name: "token_lifetime_policy",
        summary: "Token lifetimes assigned to apps",
        path: "/policies/tokenLifetimePolicies",
        entity_type: "microsoft.graph.tokenLifetimePolicy",
        read_permission: "Policy.Read.All",
        ..BASE
    },
    EntraKind {
        name: "token_issuance_policy",
        summary: "SAML token issuance settings assigned to apps",
        path: "/policies/tokenIssuancePolicies",
        entity_type: "microsoft.graph.tokenIssuancePolicy",
        read_permission: "Policy.Read.All",
        ..BASE
    },
    EntraKind {
        name: "claims_mapping_policy",
        summary: "Claims emitted in tokens for apps",
        path: "/policies/claimsMappingPolicies",
        entity_type: "microsoft.graph.claimsMappingPolicy",
        read_permission: "Policy.Read.All",
        ..BASE
    },
    EntraKind {
        name: "home_realm_discovery_policy",
        summary: "Sign-in routing to federated identity providers",
        path: "/policies/homeRealmDiscoveryPolicies",
        entity_type: "microsoft.graph.homeRealmDiscoveryPolicy",
        read_permission: "Policy.Read.All",
        ..BASE
    },
    EntraKind {
        name: "activity_based_timeout_policy",
        summary: "Idle session timeouts for web apps",
        path: "/policies/activityBasedTimeoutPolicies",
        entity_type: "microsoft.graph.activityBasedTimeoutPolicy",
        read_permission: "Policy.Read.All",
        ..BASE
    },
    // --- Cross-tenant access and federation ----------------------------------------------
    EntraKind {
        name: "cross_tenant_access_policy",
        summary: "The tenant's cross-tenant access policy",
        path: "/policies/crossTenantAccessPolicy",
        entity_type: "microsoft.graph.crossTenantAccessPolicy",
        read_permission: "Policy.Read.All",
        shape: Shape::Singleton,
        id: IdRule::Singleton("crossTenantAccessPolicy"),
        ..BASE
    },
    EntraKind {
        name: "cross_tenant_access_default",
        summary: "Default B2B collaboration and direct connect settings",
        path: "/policies/crossTenantAccessPolicy/default",
        entity_type: "microsoft.graph.crossTenantAccessPolicyConfigurationDefault",
        read_permission: "Policy.Read.All",
        shape: Shape::Singleton,
        id: IdRule::Singleton("crossTenantAccessPolicyDefault"),
        ..BASE
    },
    EntraKind {
        name: "cross_tenant_access_partner",
        summary: "Per-partner-tenant B2B settings",
        path: "/policies/crossTenantAccessPolicy/partners",
        entity_type: "microsoft.graph.crossTenantAccessPolicyConfigurationPartner",
        read_permission: "Policy.Read.All",
        id: IdRule::Field("/tenantId"),
        ..BASE
    },
    EntraKind {
        name: "identity_provider",
        summary: "External identity providers for B2B and self-service sign-up",
        path: "/identity/identityProviders",
        entity_type: "microsoft.graph.identityProviderBase",
        read_permission: "IdentityProvider.Read.All",
        secrets: &["/clientSecret"],
        ..BASE
    },
    // --- Roles -----------------------------------------------------------------------------
    EntraKind {
        name: "role_definition",
        summary: "Built-in and custom directory roles",
        path: "/roleManagement/directory/roleDefinitions",
        entity_type: "microsoft.graph.unifiedRoleDefinition",
        read_permission: "RoleManagement.Read.Directory",
        ..BASE
    },
    EntraKind {
        name: "role_assignment",
        summary: "Active directory role assignments (Global Administrator included)",
        path: "/roleManagement/directory/roleAssignments",
        entity_type: "microsoft.graph.unifiedRoleAssignment",
        read_permission: "RoleManagement.Read.Directory",
        ..BASE
    },
    EntraKind {
        name: "role_eligibility_schedule",
        summary: "PIM: who may activate which role, and when",
        path: "/roleManagement/directory/roleEligibilitySchedules",
        entity_type: "microsoft.graph.unifiedRoleEligibilitySchedule",
        read_permission: "RoleEligibilitySchedule.Read.Directory",
        ..BASE
    },
    EntraKind {
        name: "role_assignment_schedule",
        summary: "PIM: time-bound active role assignments",
        path: "/roleManagement/directory/roleAssignmentSchedules",
        entity_type: "microsoft.graph.unifiedRoleAssignmentSchedule",
        read_permission: "RoleAssignmentSchedule.Read.Directory",
        ..BASE
    },
    // --- Tenant ----------------------------------------------------------------------------
    EntraKind {
        name: "organization",
        summary: "The tenant's profile",
        path: "/organization",
        entity_type: "microsoft.graph.organization",
        read_permission: "Organization.Read.All",
        ..BASE
    },
    EntraKind {
        name: "branding",
        summary: "The sign-in page branding",
        path: "/organization/{organizationId}/branding",
        entity_type: "microsoft.graph.organizationalBranding",
        parent: under("organization", "organizationId"),
        read_permission: "OrganizationalBranding.Read.All",
        shape: Shape::Singleton,
        id: IdRule::Singleton("branding"),
        ..BASE
    },
    EntraKind {
        name: "domain",
        summary: "Verified and federated domains",
        path: "/domains",
        entity_type: "microsoft.graph.domain",
        read_permission: "Domain.Read.All",
        ..BASE
    },
    // --- Entitlement management ----------------------------------------------------------
    EntraKind {
        name: "access_package_catalog",
        summary: "Entitlement management catalogues",
        path: "/identityGovernance/entitlementManagement/catalogs",
        entity_type: "microsoft.graph.accessPackageCatalog",
        read_permission: "EntitlementManagement.Read.All",
        ..BASE
    },
    EntraKind {
        name: "access_package",
        summary: "Entitlement management access packages",
        path: "/identityGovernance/entitlementManagement/accessPackages",
        entity_type: "microsoft.graph.accessPackage",
        read_permission: "EntitlementManagement.Read.All",
        ..BASE
    },
];

static BY_NAME: LazyLock<BTreeMap<&'static str, &'static EntraKind>> =
    LazyLock::new(|| all().map(|k| (k.name, k)).collect());

/// Every kind, in catalogue order (parents before children).
pub fn all() -> impl Iterator<Item = &'static EntraKind> + Clone {
    KINDS.iter()
}

/// The kind of this name.
pub fn by_name(name: &str) -> Option<&'static EntraKind> {
    BY_NAME.get(name).copied()
}

/// The kinds a restore writes, in restore order.
pub fn restore_order() -> Vec<&'static EntraKind> {
    let mut kinds: Vec<_> = all().filter(|k| k.restore_rank.is_some()).collect();
    kinds.sort_by_key(|k| (k.restore_rank, k.name));
    kinds
}

/// Every application permission a full backup needs.
pub fn backup_permissions() -> BTreeSet<&'static str> {
    all().map(|k| k.read_permission).collect()
}

/// Every application permission a restore of every restorable kind needs.
pub fn restore_permissions() -> BTreeSet<&'static str> {
    all().filter_map(|k| k.write_permission).collect()
}

impl EntraKind {
    /// The kind as `butterfly-core` names it.
    pub fn kind(&self) -> ResourceKind {
        ResourceKind::new(self.name)
    }

    /// The parent kind, for nested kinds.
    pub fn parent_kind(&self) -> Option<&'static EntraKind> {
        self.parent.and_then(|p| by_name(p.kind))
    }

    /// The path for the children of the parent with this id (the id is percent-encoded),
    /// or the path itself for a top-level kind.
    pub fn path_for(&self, parent_id: Option<&str>) -> String {
        match (self.parent, parent_id) {
            (Some(p), Some(id)) => self.path.replace(
                &format!("{{{}}}", p.param),
                &crate::okta::kinds::encode_segment(id),
            ),
            _ => self.path.to_owned(),
        }
    }
}

/// What a Graph request costs in identity-and-access resource units.
///
/// `path` is relative to the version root (`/users`, `/groups/abc/members`), `query` the
/// raw query string without `?`. Writes cost 1 (they also count against the separate
/// write quota).
pub fn request_cost(method: &str, path: &str, query: &str) -> u32 {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let base: u32 = if method.eq_ignore_ascii_case("GET") {
        match segments.as_slice() {
            ["users" | "applications" | "oauth2PermissionGrants"]
            | ["oauth2PermissionGrants", _]
            | ["applications", _, "extensionProperties"]
            | ["servicePrincipals", _, "appRoleAssignments"] => 2,
            ["groups", _, "members"] | ["subscribedSkus" | "contracts"] => 3,
            ["groups", _, "transitiveMembers"] => 5,
            _ => 1,
        }
    } else {
        1
    };
    let mut cost = i64::from(base);
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        // `$` may come percent-encoded.
        let key = key.replace("%24", "$");
        match key.as_str() {
            "$select" => cost -= 1,
            "$expand" => cost += 1,
            "$top" if value.parse::<u32>().is_ok_and(|top| top < 20) => cost -= 1,
            _ => {}
        }
    }
    u32::try_from(cost.max(1)).unwrap_or(1)
}

/// A Markdown table of the catalogue (kind, Graph path, application permission), for the
/// README.
pub fn markdown_table() -> String {
    let mut out =
        String::from("| Kind | Graph path | Application permission |\n| --- | --- | --- |\n");
    for kind in all() {
        // Writing into a String cannot fail.
        let _ = writeln!(
            out,
            "| `{}` | `GET {}` | `{}` |",
            kind.name, kind.path, kind.read_permission
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parents_come_first() {
        let mut seen = BTreeSet::new();
        for kind in all() {
            if let Some(parent) = kind.parent {
                assert!(
                    seen.contains(parent.kind),
                    "{} before its parent",
                    kind.name
                );
                assert!(
                    kind.path.contains(&format!("{{{}}}", parent.param)),
                    "{} has no {{{}}}",
                    kind.name,
                    parent.param
                );
            }
            assert!(seen.insert(kind.name), "{} twice", kind.name);
        }
        assert!(seen.len() >= 30, "{} kinds", seen.len());
    }

    #[test]
    fn every_entity_type_is_in_graphs_metadata() {
        let metadata = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/msgraph-v1.0-metadata.xml"
        ))
        .unwrap();
        for kind in all() {
            let name = kind.entity_type.trim_start_matches("microsoft.graph.");
            assert!(
                metadata.contains(&format!("<EntityType Name=\"{name}\"")),
                "{}: no entity type {name}",
                kind.name
            );
        }
    }

    #[test]
    fn request_costs_follow_graphs_table() {
        assert_eq!(request_cost("GET", "/users", ""), 2);
        assert_eq!(request_cost("GET", "/users", "$top=999&$select=id"), 1);
        assert_eq!(request_cost("GET", "/groups/g1/members", "$top=999"), 3);
        assert_eq!(
            request_cost("GET", "/groups/g1/members", "$top=5&$select=id"),
            1
        );
        assert_eq!(request_cost("GET", "/domains", "$top=5"), 1);
        assert_eq!(request_cost("GET", "/users", "$expand=manager"), 3);
        assert_eq!(request_cost("POST", "/users", ""), 1);
    }

    #[test]
    fn paths_fill_in_the_parent_id() {
        let members = by_name("group_member").unwrap();
        assert_eq!(members.path_for(Some("a b")), "/groups/a%20b/members");
        assert_eq!(by_name("user").unwrap().path_for(None), "/users");
    }
}
