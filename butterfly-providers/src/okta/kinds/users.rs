//! Users and their realm assignments.
//!
//! `GET /api/v1/users` (`okta.users.read`, bucket `/api/v1/users`), `GET
//! /api/v1/realm-assignments` (`okta.realmAssignments.read`). The default user list leaves
//! out deprovisioned users, so a second listing asks for them by status. Passwords are
//! write-only in Okta, but hashes and recovery answers are stripped all the same.

use super::{BASE, Family, KindSpec, link_pages};
use crate::okta::rate_limit::RateLimitBucket;

pub(super) const FAMILY: Family = Family {
    name: "Users",
    kinds: &[
        KindSpec {
            name: "user",
            summary: "Users: profile, status, credentials provider, type",
            list_path: "/api/v1/users",
            list_queries: &["", "filter=status eq \"DEPROVISIONED\""],
            read_scopes: &["okta.users.read"],
            manage_scope: Some("okta.users.manage"),
            bucket: RateLimitBucket::UsersList,
            pagination: link_pages(200),
            secrets: &[
                "/credentials/password/value",
                "/credentials/password/hash",
                "/credentials/recovery_question/answer",
            ],
            restore_rank: 30,
            depends_on: &["user_type", "user_schema", "idp", "realm"],
            ..BASE
        },
        KindSpec {
            name: "realm_assignment",
            summary: "Rules that place users in realms",
            list_path: "/api/v1/realm-assignments",
            read_scopes: &["okta.realmAssignments.read"],
            manage_scope: Some("okta.realmAssignments.manage"),
            pagination: link_pages(200),
            restore_rank: 31,
            depends_on: &["realm"],
            ..BASE
        },
    ],
};
