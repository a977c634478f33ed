//! Groups, group rules, memberships and owners.
//!
//! `GET /api/v1/groups`, `/api/v1/groups/rules`, `/api/v1/groups/{groupId}/users`,
//! `/api/v1/groups/{groupId}/owners` (`okta.groups.read`). All four share the
//! `/api/v1/groups` bucket (everything under groups except a group by id). A membership is
//! kept as the (group, user) pair only: the user itself is backed up as a `user`.

use super::{BASE, Family, IdRule, KindSpec, link_pages, parent};
use crate::okta::rate_limit::RateLimitBucket;

pub(super) const FAMILY: Family = Family {
    name: "Groups",
    kinds: &[
        KindSpec {
            name: "group",
            summary: "Okta, app and built-in groups",
            list_path: "/api/v1/groups",
            read_scopes: &["okta.groups.read"],
            manage_scope: Some("okta.groups.manage"),
            bucket: RateLimitBucket::GroupsList,
            pagination: link_pages(10_000),
            restore_rank: 35,
            depends_on: &["group_schema"],
            ..BASE
        },
        KindSpec {
            name: "group_rule",
            summary: "Rules that assign users to groups by expression",
            list_path: "/api/v1/groups/rules",
            read_scopes: &["okta.groups.read"],
            manage_scope: Some("okta.groups.manage"),
            bucket: RateLimitBucket::GroupsList,
            pagination: link_pages(200),
            restore_rank: 40,
            depends_on: &["group", "user_schema"],
            ..BASE
        },
        KindSpec {
            name: "group_membership",
            summary: "Which users are in which group",
            list_path: "/api/v1/groups/{groupId}/users",
            parent: Some(parent("group", "groupId")),
            read_scopes: &["okta.groups.read"],
            manage_scope: Some("okta.groups.manage"),
            bucket: RateLimitBucket::GroupsList,
            pagination: link_pages(1000),
            id: IdRule::Member {
                pointer: "/id",
                key: "userId",
            },
            restore_rank: 45,
            depends_on: &["user", "group_rule"],
            ..BASE
        },
        KindSpec {
            name: "group_owner",
            summary: "Users and groups that own a group",
            list_path: "/api/v1/groups/{groupId}/owners",
            parent: Some(parent("group", "groupId")),
            read_scopes: &["okta.groups.read"],
            manage_scope: Some("okta.groups.manage"),
            bucket: RateLimitBucket::GroupsList,
            pagination: link_pages(1000),
            id: IdRule::ScopedField("/id"),
            restore_rank: 46,
            depends_on: &["user"],
            ..BASE
        },
    ],
};
