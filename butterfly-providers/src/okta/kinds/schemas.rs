//! User types, profile schemas, linked objects, UI schemas and profile mappings.
//!
//! `GET /api/v1/meta/types/user` (`okta.userTypes.read`), `/api/v1/meta/schemas/user/{schemaId}`,
//! `/api/v1/meta/schemas/group/default`, `/api/v1/meta/schemas/apps/{appId}/default`
//! (`okta.schemas.read`), `/api/v1/meta/schemas/user/linkedObjects` (`okta.linkedObjects.read`),
//! `/api/v1/meta/uischemas` (`okta.uischemas.read`), `/api/v1/mappings`
//! (`okta.profileMappings.read`). Custom profile attributes must exist before the users,
//! groups and app assignments that fill them.

use super::{BASE, Family, KindSpec, ParamSource, ParentRef, link_pages, parent};

pub(super) const FAMILY: Family = Family {
    name: "Types, schemas and mappings",
    kinds: &[
        KindSpec {
            name: "user_type",
            summary: "User types",
            list_path: "/api/v1/meta/types/user",
            read_scopes: &["okta.userTypes.read"],
            manage_scope: Some("okta.userTypes.manage"),
            restore_rank: 12,
            ..BASE
        },
        KindSpec {
            name: "user_schema",
            summary: "Each user type's profile schema, with custom attributes",
            list_path: "/api/v1/meta/schemas/user/{schemaId}",
            // A type publishes its schema's id only as a link.
            parent: Some(ParentRef {
                kind: "user_type",
                param: "schemaId",
                source: ParamSource::HrefTail("/_links/schema/href"),
            }),
            read_scopes: &["okta.schemas.read"],
            manage_scope: Some("okta.schemas.manage"),
            shape: super::ListShape::Object,
            restore_rank: 13,
            ..BASE
        },
        KindSpec {
            name: "group_schema",
            summary: "The group profile schema, with custom attributes",
            list_path: "/api/v1/meta/schemas/group/default",
            read_scopes: &["okta.schemas.read"],
            manage_scope: Some("okta.schemas.manage"),
            shape: super::ListShape::Object,
            restore_rank: 13,
            ..BASE
        },
        KindSpec {
            name: "linked_object",
            summary: "Linked object definitions (manager/report...)",
            list_path: "/api/v1/meta/schemas/user/linkedObjects",
            read_scopes: &["okta.linkedObjects.read"],
            manage_scope: Some("okta.linkedObjects.manage"),
            id: super::IdRule::Field("/primary/name"),
            restore_rank: 14,
            depends_on: &["user_schema"],
            ..BASE
        },
        KindSpec {
            name: "ui_schema",
            summary: "Enrollment form layouts",
            list_path: "/api/v1/meta/uischemas",
            read_scopes: &["okta.uischemas.read"],
            manage_scope: Some("okta.uischemas.manage"),
            restore_rank: 14,
            depends_on: &["user_schema"],
            ..BASE
        },
        KindSpec {
            name: "app_user_schema",
            summary: "Each app's user profile schema",
            list_path: "/api/v1/meta/schemas/apps/{appId}/default",
            parent: Some(parent("app", "appId")),
            read_scopes: &["okta.schemas.read"],
            manage_scope: Some("okta.schemas.manage"),
            shape: super::ListShape::Object,
            restore_rank: 51,
            // Apps without a profile (bookmarks) answer 404.
            absent_ok: true,
            ..BASE
        },
        KindSpec {
            name: "profile_mapping",
            summary: "Attribute mappings between user types, apps and IdPs",
            list_path: "/api/v1/mappings",
            read_scopes: &["okta.profileMappings.read"],
            manage_scope: Some("okta.profileMappings.manage"),
            pagination: link_pages(200),
            restore_rank: 60,
            depends_on: &["app", "idp", "user_type", "app_user_schema"],
            // The list returns source and target only; the properties need a GET each.
            detail_path: Some("/api/v1/mappings/{mappingId}"),
            ..BASE
        },
    ],
};
