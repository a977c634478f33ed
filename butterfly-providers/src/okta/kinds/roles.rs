//! Admin roles: custom roles, permissions, resource sets, bindings and role assignments.
//!
//! `GET /api/v1/iam/roles`, `/api/v1/iam/roles/{roleIdOrLabel}/permissions`,
//! `/api/v1/iam/resource-sets` with its `/resources` and `/bindings`,
//! `/api/v1/iam/assignees/users`, `/api/v1/users/{userId}/roles`,
//! `/api/v1/groups/{groupId}/roles` and `/oauth2/v1/clients/{clientId}/roles`
//! (`okta.roles.read`). Assignments are read per assignee: users through the list of users
//! that hold a role (one request per admin, not per user), groups one by one, and service
//! apps through their OAuth client id. Roles restore last but one: they grant power over
//! everything restored before them.

use super::{
    BASE, Family, IdRule, KindSpec, ListShape, Pagination, ParamSource, ParentRef, parent,
};
use crate::okta::rate_limit::RateLimitBucket;

pub(super) const FAMILY: Family = Family {
    name: "Admin roles",
    kinds: &[
        KindSpec {
            name: "custom_role",
            summary: "Custom admin roles",
            list_path: "/api/v1/iam/roles",
            read_scopes: &["okta.roles.read"],
            manage_scope: Some("okta.roles.manage"),
            pagination: Pagination::BodyLink {
                max_limit: 100,
                accepts_limit: false,
            },
            shape: ListShape::Envelope("roles"),
            restore_rank: 85,
            ..BASE
        },
        KindSpec {
            name: "role_permission",
            summary: "Permissions of a custom role",
            list_path: "/api/v1/iam/roles/{roleIdOrLabel}/permissions",
            parent: Some(parent("custom_role", "roleIdOrLabel")),
            read_scopes: &["okta.roles.read"],
            manage_scope: Some("okta.roles.manage"),
            shape: ListShape::Envelope("permissions"),
            id: IdRule::ScopedField("/label"),
            restore_rank: 86,
            ..BASE
        },
        KindSpec {
            name: "resource_set",
            summary: "Resource sets: the resources a role assignment covers",
            list_path: "/api/v1/iam/resource-sets",
            read_scopes: &["okta.roles.read"],
            manage_scope: Some("okta.roles.manage"),
            pagination: Pagination::BodyLink {
                max_limit: 100,
                accepts_limit: false,
            },
            shape: ListShape::Envelope("resource-sets"),
            restore_rank: 87,
            ..BASE
        },
        KindSpec {
            name: "resource_set_resource",
            summary: "Resources in a resource set",
            list_path: "/api/v1/iam/resource-sets/{resourceSetIdOrLabel}/resources",
            parent: Some(parent("resource_set", "resourceSetIdOrLabel")),
            read_scopes: &["okta.roles.read"],
            manage_scope: Some("okta.roles.manage"),
            pagination: Pagination::BodyLink {
                max_limit: 100,
                accepts_limit: true,
            },
            shape: ListShape::Envelope("resources"),
            id: IdRule::ScopedField("/id"),
            restore_rank: 88,
            depends_on: &["group", "app", "user", "authorization_server"],
            ..BASE
        },
        KindSpec {
            name: "resource_set_binding",
            summary: "Role bindings of a resource set",
            list_path: "/api/v1/iam/resource-sets/{resourceSetIdOrLabel}/bindings",
            parent: Some(parent("resource_set", "resourceSetIdOrLabel")),
            read_scopes: &["okta.roles.read"],
            manage_scope: Some("okta.roles.manage"),
            pagination: Pagination::BodyLink {
                max_limit: 100,
                accepts_limit: false,
            },
            shape: ListShape::Envelope("roles"),
            id: IdRule::ScopedField("/id"),
            restore_rank: 89,
            depends_on: &["custom_role"],
            ..BASE
        },
        KindSpec {
            name: "role_assignee_user",
            summary: "Users that hold an admin role (the index for user role assignments)",
            list_path: "/api/v1/iam/assignees/users",
            read_scopes: &["okta.roles.read"],
            manage_scope: Some("okta.roles.manage"),
            pagination: Pagination::BodyLink {
                max_limit: 100,
                accepts_limit: true,
            },
            shape: ListShape::Envelope("value"),
            restore_rank: 90,
            depends_on: &["user"],
            ..BASE
        },
        KindSpec {
            name: "user_role_assignment",
            summary: "Admin roles assigned to a user",
            list_path: "/api/v1/users/{userId}/roles",
            parent: Some(parent("role_assignee_user", "userId")),
            id: IdRule::ScopedField("/id"),
            read_scopes: &["okta.roles.read"],
            manage_scope: Some("okta.roles.manage"),
            restore_rank: 91,
            depends_on: &["user", "custom_role", "resource_set"],
            ..BASE
        },
        KindSpec {
            name: "group_role_assignment",
            summary: "Admin roles assigned to a group",
            list_path: "/api/v1/groups/{groupId}/roles",
            parent: Some(parent("group", "groupId")),
            id: IdRule::ScopedField("/id"),
            read_scopes: &["okta.roles.read"],
            manage_scope: Some("okta.roles.manage"),
            bucket: RateLimitBucket::GroupsList,
            restore_rank: 91,
            depends_on: &["custom_role", "resource_set"],
            ..BASE
        },
        KindSpec {
            name: "client_role_assignment",
            summary: "Admin roles assigned to a service app",
            list_path: "/oauth2/v1/clients/{clientId}/roles",
            // Only apps with an OAuth client can hold roles; the rest are skipped.
            parent: Some(ParentRef {
                kind: "app",
                param: "clientId",
                source: ParamSource::Pointer("/credentials/oauthClient/client_id"),
            }),
            id: IdRule::ScopedField("/id"),
            read_scopes: &["okta.roles.read"],
            manage_scope: Some("okta.roles.manage"),
            bucket: RateLimitBucket::OAuth2Clients,
            restore_rank: 91,
            depends_on: &["custom_role", "resource_set"],
            ..BASE
        },
    ],
};
