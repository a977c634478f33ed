//! Custom authorization servers: scopes, claims, access policies and their rules.
//!
//! `GET /api/v1/authorizationServers` and everything under
//! `/api/v1/authorizationServers/{authServerId}` (`okta.authorizationServers.read`). These
//! share the "most other API actions" bucket. Claims name scopes, and policy rules name
//! scopes, groups and clients, so they restore after those.

use super::{BASE, Family, IdRule, KindSpec, link_pages, parent};

pub(super) const FAMILY: Family = Family {
    name: "Authorization servers",
    kinds: &[
        KindSpec {
            name: "authorization_server",
            summary: "Custom authorization servers: issuer, audiences, signing",
            list_path: "/api/v1/authorizationServers",
            read_scopes: &["okta.authorizationServers.read"],
            manage_scope: Some("okta.authorizationServers.manage"),
            pagination: link_pages(200),
            restore_rank: 70,
            ..BASE
        },
        KindSpec {
            name: "auth_server_scope",
            summary: "Scopes an authorization server grants",
            list_path: "/api/v1/authorizationServers/{authServerId}/scopes",
            parent: Some(parent("authorization_server", "authServerId")),
            id: IdRule::ScopedField("/id"),
            read_scopes: &["okta.authorizationServers.read"],
            manage_scope: Some("okta.authorizationServers.manage"),
            pagination: link_pages(200),
            restore_rank: 71,
            ..BASE
        },
        KindSpec {
            name: "auth_server_claim",
            summary: "Custom token claims",
            list_path: "/api/v1/authorizationServers/{authServerId}/claims",
            parent: Some(parent("authorization_server", "authServerId")),
            id: IdRule::ScopedField("/id"),
            read_scopes: &["okta.authorizationServers.read"],
            manage_scope: Some("okta.authorizationServers.manage"),
            restore_rank: 72,
            depends_on: &["auth_server_scope", "group"],
            ..BASE
        },
        KindSpec {
            name: "auth_server_policy",
            summary: "Access policies of an authorization server",
            list_path: "/api/v1/authorizationServers/{authServerId}/policies",
            parent: Some(parent("authorization_server", "authServerId")),
            id: IdRule::ScopedField("/id"),
            read_scopes: &["okta.authorizationServers.read"],
            manage_scope: Some("okta.authorizationServers.manage"),
            restore_rank: 73,
            depends_on: &["app"],
            ..BASE
        },
        KindSpec {
            name: "auth_server_policy_rule",
            summary: "Rules of an access policy: grant types, scopes, token lifetimes",
            list_path: "/api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules",
            parent: Some(parent("auth_server_policy", "policyId")),
            id: IdRule::ScopedField("/id"),
            read_scopes: &["okta.authorizationServers.read"],
            manage_scope: Some("okta.authorizationServers.manage"),
            restore_rank: 74,
            depends_on: &["auth_server_scope", "group", "user", "inline_hook"],
            ..BASE
        },
    ],
};
