//! Apps, their assignments, features, grants and group push, and API service integrations.
//!
//! `GET /api/v1/apps`, `/api/v1/apps/{appId}/users`, `/groups`, `/features`
//! (`okta.apps.read`), `/api/v1/apps/{appId}/grants` (`okta.appGrants.read`),
//! `/api/v1/apps/{appId}/group-push/mappings` (`okta.apps.read` and `okta.groups.read`),
//! `GET /integrations/api/v1/api-services` (`okta.oauthIntegrations.read`).
//!
//! Everything under an app spends the `/api/v1/apps` bucket, the smallest of the big ones
//! (100 a minute), so assignments usually bound a backup's duration. OAuth client secrets,
//! shared SWA passwords and Org2Org API tokens are stripped.

use super::{BASE, Family, IdRule, KindSpec, Pagination, link_pages, parent};
use crate::okta::rate_limit::RateLimitBucket;

pub(super) const FAMILY: Family = Family {
    name: "Apps",
    kinds: &[
        KindSpec {
            name: "app",
            summary: "Apps of every sign-on mode (SAML, OIDC, SWA, bookmark, service...)",
            list_path: "/api/v1/apps",
            read_scopes: &["okta.apps.read"],
            manage_scope: Some("okta.apps.manage"),
            bucket: RateLimitBucket::AppsList,
            pagination: link_pages(200),
            secrets: &[
                "/credentials/oauthClient/client_secret",
                "/credentials/password/value",
                "/credentials/password/hash",
                "/settings/app/token",
            ],
            restore_rank: 50,
            depends_on: &["user_type", "inline_hook"],
            ..BASE
        },
        KindSpec {
            name: "app_feature",
            summary: "Provisioning features of an app (push, import)",
            list_path: "/api/v1/apps/{appId}/features",
            parent: Some(parent("app", "appId")),
            read_scopes: &["okta.apps.read"],
            manage_scope: Some("okta.apps.manage"),
            bucket: RateLimitBucket::AppsList,
            id: IdRule::ScopedField("/name"),
            restore_rank: 52,
            // Apps without provisioning answer 404.
            absent_ok: true,
            ..BASE
        },
        KindSpec {
            name: "app_user_assignment",
            summary: "Users assigned to an app, with their app profile",
            list_path: "/api/v1/apps/{appId}/users",
            parent: Some(parent("app", "appId")),
            read_scopes: &["okta.apps.read"],
            manage_scope: Some("okta.apps.manage"),
            bucket: RateLimitBucket::AppsList,
            pagination: link_pages(500),
            id: IdRule::ScopedField("/id"),
            secrets: &["/credentials/password/value"],
            restore_rank: 55,
            depends_on: &["user", "app_user_schema"],
            ..BASE
        },
        KindSpec {
            name: "app_group_assignment",
            summary: "Groups assigned to an app, with priority and profile",
            list_path: "/api/v1/apps/{appId}/groups",
            parent: Some(parent("app", "appId")),
            read_scopes: &["okta.apps.read"],
            manage_scope: Some("okta.apps.manage"),
            bucket: RateLimitBucket::AppsList,
            pagination: link_pages(200),
            id: IdRule::ScopedField("/id"),
            restore_rank: 55,
            depends_on: &["group", "app_user_schema"],
            ..BASE
        },
        KindSpec {
            name: "app_group_push_mapping",
            summary: "Group push mappings from Okta groups to app groups",
            list_path: "/api/v1/apps/{appId}/group-push/mappings",
            parent: Some(parent("app", "appId")),
            id: IdRule::ScopedField("/id"),
            read_scopes: &["okta.apps.read", "okta.groups.read"],
            manage_scope: Some("okta.apps.manage"),
            bucket: RateLimitBucket::AppsList,
            pagination: link_pages(1000),
            restore_rank: 56,
            depends_on: &["group", "app_feature"],
            absent_ok: true,
            ..BASE
        },
        KindSpec {
            name: "app_grant",
            summary: "Okta API scopes granted to an app",
            list_path: "/api/v1/apps/{appId}/grants",
            parent: Some(parent("app", "appId")),
            id: IdRule::ScopedField("/id"),
            read_scopes: &["okta.appGrants.read"],
            manage_scope: Some("okta.appGrants.manage"),
            bucket: RateLimitBucket::AppsList,
            restore_rank: 57,
            ..BASE
        },
        KindSpec {
            name: "api_service_integration",
            summary: "API service integrations installed from the OIN",
            list_path: "/integrations/api/v1/api-services",
            read_scopes: &["okta.oauthIntegrations.read"],
            manage_scope: Some("okta.oauthIntegrations.manage"),
            pagination: Pagination::LinkHeader {
                max_limit: 20,
                accepts_limit: false,
            },
            restore_rank: 58,
            ..BASE
        },
    ],
};
