//! Org policies of every type, and their rules.
//!
//! `GET /api/v1/policies?type={type}` and `GET /api/v1/policies/{policyId}/rules`
//! (`okta.policies.read`, bucket `/api/v1`). Okta lists policies one type at a time, so each
//! type is a kind of its own: `policy.OKTA_SIGN_ON` (global session), `policy.PASSWORD`,
//! `policy.MFA_ENROLL` (authenticator enrollment), `policy.ACCESS_POLICY` (app sign-in),
//! `policy.PROFILE_ENROLLMENT` (user profile), `policy.IDP_DISCOVERY` (routing rules),
//! `policy.POST_AUTH_SESSION` (session protection) and `policy.ENTITY_RISK`, each with
//! its `policy_rule.{type}`. Conditions name groups, zones, authenticators, device
//! assurances, IdPs, hooks and apps, so policies restore after all of those.

use super::{BASE, Family, IdRule, KindSpec, link_pages, parent};

/// What a policy's conditions can point at.
const POLICY_DEPENDENCIES: &[&str] = &["group", "app", "network_zone"];

/// What a rule's conditions and actions can point at.
const RULE_DEPENDENCIES: &[&str] = &[
    "group",
    "user",
    "user_type",
    "network_zone",
    "authenticator",
    "device_assurance",
    "behavior",
    "idp",
    "inline_hook",
    "ui_schema",
    "app",
];

const fn policy(
    name: &'static str,
    query: &'static [&'static str],
    summary: &'static str,
) -> KindSpec {
    KindSpec {
        name,
        summary,
        list_path: "/api/v1/policies",
        list_queries: query,
        read_scopes: &["okta.policies.read"],
        manage_scope: Some("okta.policies.manage"),
        pagination: link_pages(200),
        restore_rank: 80,
        depends_on: POLICY_DEPENDENCIES,
        ..BASE
    }
}

const fn rules(name: &'static str, policy_kind: &'static str, summary: &'static str) -> KindSpec {
    KindSpec {
        name,
        summary,
        list_path: "/api/v1/policies/{policyId}/rules",
        parent: Some(parent(policy_kind, "policyId")),
        id: IdRule::ScopedField("/id"),
        read_scopes: &["okta.policies.read"],
        manage_scope: Some("okta.policies.manage"),
        restore_rank: 81,
        depends_on: RULE_DEPENDENCIES,
        ..BASE
    }
}

/// The policy types Butterfly backs up, as Okta's `PolicyType` spells them.
pub const POLICY_TYPES: [&str; 8] = [
    "OKTA_SIGN_ON",
    "PASSWORD",
    "MFA_ENROLL",
    "ACCESS_POLICY",
    "PROFILE_ENROLLMENT",
    "IDP_DISCOVERY",
    "POST_AUTH_SESSION",
    "ENTITY_RISK",
];

pub(super) const FAMILY: Family = Family {
    name: "Policies",
    kinds: &[
        policy(
            "policy.OKTA_SIGN_ON",
            &["type=OKTA_SIGN_ON"],
            "Global session policies",
        ),
        rules(
            "policy_rule.OKTA_SIGN_ON",
            "policy.OKTA_SIGN_ON",
            "Global session policy rules",
        ),
        policy("policy.PASSWORD", &["type=PASSWORD"], "Password policies"),
        rules(
            "policy_rule.PASSWORD",
            "policy.PASSWORD",
            "Password policy rules",
        ),
        policy(
            "policy.MFA_ENROLL",
            &["type=MFA_ENROLL"],
            "Authenticator enrollment policies",
        ),
        rules(
            "policy_rule.MFA_ENROLL",
            "policy.MFA_ENROLL",
            "Authenticator enrollment policy rules",
        ),
        policy(
            "policy.ACCESS_POLICY",
            &["type=ACCESS_POLICY"],
            "App sign-in (authentication) policies",
        ),
        rules(
            "policy_rule.ACCESS_POLICY",
            "policy.ACCESS_POLICY",
            "App sign-in policy rules",
        ),
        policy(
            "policy.PROFILE_ENROLLMENT",
            &["type=PROFILE_ENROLLMENT"],
            "User profile (self-service registration) policies",
        ),
        rules(
            "policy_rule.PROFILE_ENROLLMENT",
            "policy.PROFILE_ENROLLMENT",
            "User profile policy rules",
        ),
        policy(
            "policy.IDP_DISCOVERY",
            &["type=IDP_DISCOVERY"],
            "IdP discovery (routing) policy",
        ),
        rules(
            "policy_rule.IDP_DISCOVERY",
            "policy.IDP_DISCOVERY",
            "IdP routing rules",
        ),
        policy(
            "policy.POST_AUTH_SESSION",
            &["type=POST_AUTH_SESSION"],
            "Session protection policy",
        ),
        rules(
            "policy_rule.POST_AUTH_SESSION",
            "policy.POST_AUTH_SESSION",
            "Session protection rules",
        ),
        policy(
            "policy.ENTITY_RISK",
            &["type=ENTITY_RISK"],
            "Entity risk policy",
        ),
        rules(
            "policy_rule.ENTITY_RISK",
            "policy.ENTITY_RISK",
            "Entity risk rules",
        ),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_policy_and_one_rule_kind_per_type() {
        for t in POLICY_TYPES {
            let p = FAMILY
                .kinds
                .iter()
                .find(|k| k.name == format!("policy.{t}"))
                .unwrap();
            assert_eq!(p.list_queries, [format!("type={t}")]);
            let r = FAMILY
                .kinds
                .iter()
                .find(|k| k.name == format!("policy_rule.{t}"))
                .unwrap();
            assert_eq!(r.parent.unwrap().kind, p.name);
        }
        assert_eq!(FAMILY.kinds.len(), 2 * POLICY_TYPES.len());
    }
}
