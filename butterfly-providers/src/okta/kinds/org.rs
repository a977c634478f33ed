//! Org settings and features.
//!
//! `GET /api/v1/org`, `/api/v1/org/preferences` (scope `okta.orgs.read`),
//! `GET /api/v1/features` (`okta.features.read`), `GET /api/v1/agentPools`
//! (`okta.agentPools.read`), `GET /api/v1/realms` (`okta.realms.read`).
//! Org-wide switches restore first: everything else is configured inside them.

use super::{BASE, Family, IdRule, KindSpec, ListShape, Pagination, link_pages};

pub(super) const FAMILY: Family = Family {
    name: "Org",
    kinds: &[
        KindSpec {
            name: "org_setting",
            summary: "Org-wide settings: name, address, support contacts",
            list_path: "/api/v1/org",
            read_scopes: &["okta.orgs.read"],
            manage_scope: Some("okta.orgs.manage"),
            shape: ListShape::Object,
            restore_rank: 1,
            ..BASE
        },
        KindSpec {
            name: "org_preferences",
            summary: "End-user dashboard preferences",
            list_path: "/api/v1/org/preferences",
            read_scopes: &["okta.orgs.read"],
            manage_scope: Some("okta.orgs.manage"),
            shape: ListShape::Object,
            id: IdRule::Singleton("preferences"),
            restore_rank: 1,
            ..BASE
        },
        KindSpec {
            name: "feature",
            summary: "Self-service features and their enabled state",
            list_path: "/api/v1/features",
            read_scopes: &["okta.features.read"],
            manage_scope: Some("okta.features.manage"),
            restore_rank: 2,
            ..BASE
        },
        KindSpec {
            name: "agent_pool",
            summary: "AD/LDAP agent pools (read-only: agents register themselves)",
            list_path: "/api/v1/agentPools",
            read_scopes: &["okta.agentPools.read"],
            pagination: Pagination::LinkHeader {
                max_limit: 20,
                accepts_limit: false,
            },
            manage_scope: Some("okta.agentPools.manage"),
            restore_rank: 3,
            ..BASE
        },
        KindSpec {
            name: "realm",
            summary: "Realms that partition users",
            list_path: "/api/v1/realms",
            read_scopes: &["okta.realms.read"],
            manage_scope: Some("okta.realms.manage"),
            pagination: link_pages(200),
            restore_rank: 4,
            ..BASE
        },
    ],
};
