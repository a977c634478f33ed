//! `$select` lists: what a list request asks Graph for.
//!
//! Real Graph answers `GET /users` with a default subset of a user's properties (about a
//! dozen); the rest come only when named in `$select`. A backup that did not name them
//! would miss most of what a restore needs, so user listings name every property of
//! `microsoft.graph.user` in Graph's v1.0 CSDL (`tests/fixtures/msgraph-v1.0-metadata.xml`)
//! except those [`USER_NOT_LISTED`] gives a reason for. Keeping the list as a constant
//! (rather than generating it at build time) keeps the build free of an XML parser; a unit
//! test checks it against the CSDL, so a property Graph adds is noticed.

/// Every user property a backup reads, in CSDL order.
pub const USER_SELECT: &[&str] = &[
    "id",
    "deletedDateTime",
    "accountEnabled",
    "ageGroup",
    "assignedLicenses",
    "assignedPlans",
    "authorizationInfo",
    "businessPhones",
    "city",
    "companyName",
    "consentProvidedForMinor",
    "country",
    "createdDateTime",
    "creationType",
    "department",
    "displayName",
    "employeeHireDate",
    "employeeId",
    "employeeOrgData",
    "employeeType",
    "externalUserState",
    "externalUserStateChangeDateTime",
    "faxNumber",
    "givenName",
    "identities",
    "identityParentId",
    "imAddresses",
    "isManagementRestricted",
    "isResourceAccount",
    "jobTitle",
    "lastPasswordChangeDateTime",
    "legalAgeGroupClassification",
    "licenseAssignmentStates",
    "mail",
    "mailNickname",
    "mobilePhone",
    "officeLocation",
    "onPremisesDistinguishedName",
    "onPremisesDomainName",
    "onPremisesExtensionAttributes",
    "onPremisesImmutableId",
    "onPremisesLastSyncDateTime",
    "onPremisesProvisioningErrors",
    "onPremisesSamAccountName",
    "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled",
    "onPremisesUserPrincipalName",
    "otherMails",
    "passwordPolicies",
    "postalCode",
    "preferredDataLocation",
    "preferredLanguage",
    "provisionedPlans",
    "proxyAddresses",
    "securityIdentifier",
    "serviceProvisioningErrors",
    "showInAddressList",
    "signInSessionsValidFromDateTime",
    "state",
    "streetAddress",
    "surname",
    "usageLocation",
    "userPrincipalName",
    "userType",
];

/// User properties of the CSDL a listing does not ask for, and why.
pub const USER_NOT_LISTED: &[(&str, &str)] = &[
    // Graph documents these as returned only for a single user (`GET /users/{id}`),
    // and refuses them on a list.
    ("aboutMe", "single user only"),
    ("birthday", "single user only"),
    ("hireDate", "single user only"),
    ("interests", "single user only"),
    ("mySite", "single user only"),
    ("pastProjects", "single user only"),
    ("preferredName", "single user only"),
    ("responsibilities", "single user only"),
    ("schools", "single user only"),
    ("skills", "single user only"),
    (
        "mailboxSettings",
        "single user only, and needs MailboxSettings.Read",
    ),
    ("deviceEnrollmentLimit", "single user only (Intune)"),
    ("print", "single user only"),
    // These need a permission beyond User.Read.All: asking for them without it fails
    // the whole listing.
    ("signInActivity", "needs AuditLog.Read.All; volatile"),
    ("employeeLeaveDateTime", "needs User-LifeCycleInfo.Read.All"),
    (
        "customSecurityAttributes",
        "needs CustomSecAttributeAssignment.Read.All",
    ),
    // A secret: never read, never stored.
    ("passwordProfile", "a secret"),
];

/// The `$select` value for a user listing.
pub fn user_select() -> String {
    USER_SELECT.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The structural properties of an entity type and its base types, from the CSDL.
    fn csdl_properties(metadata: &str, name: &str) -> Vec<String> {
        let open = format!("<EntityType Name=\"{name}\"");
        let start = metadata.find(&open).unwrap();
        let end = start + metadata[start..].find("</EntityType>").unwrap();
        let body = &metadata[start..end];
        let head = &body[..body.find('>').unwrap()];
        let mut out = match head.split("BaseType=\"graph.").nth(1) {
            Some(rest) => csdl_properties(metadata, &rest[..rest.find('"').unwrap()]),
            None => Vec::new(),
        };
        for piece in body.split("<Property Name=\"").skip(1) {
            out.push(piece[..piece.find('"').unwrap()].to_owned());
        }
        out
    }

    #[test]
    fn every_user_property_is_listed_or_excluded_with_a_reason() {
        let metadata = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/msgraph-v1.0-metadata.xml"
        ))
        .unwrap();
        let csdl: BTreeSet<String> = csdl_properties(&metadata, "user").into_iter().collect();
        let listed: BTreeSet<String> = USER_SELECT.iter().map(|s| (*s).to_owned()).collect();
        let excluded: BTreeSet<String> = USER_NOT_LISTED
            .iter()
            .map(|(s, _)| (*s).to_owned())
            .collect();
        assert!(listed.is_disjoint(&excluded));
        let covered: BTreeSet<String> = listed.union(&excluded).cloned().collect();
        assert_eq!(covered, csdl, "USER_SELECT + USER_NOT_LISTED vs the CSDL");
    }
}
