//! Identity providers and their signing keys.
//!
//! `GET /api/v1/idps` and `/api/v1/idps/credentials/keys` (`okta.idps.read`). Federated
//! users are linked to their IdP, so IdPs restore before users. Client secrets, Apple
//! private keys and identity-verification API keys are stripped.

use super::{BASE, Family, KindSpec, link_pages};

pub(super) const FAMILY: Family = Family {
    name: "Identity providers",
    kinds: &[
        KindSpec {
            name: "idp_key",
            summary: "X.509 certificates IdPs sign with (public keys)",
            list_path: "/api/v1/idps/credentials/keys",
            read_scopes: &["okta.idps.read"],
            manage_scope: Some("okta.idps.manage"),
            pagination: link_pages(200),
            id: super::IdRule::Field("/kid"),
            restore_rank: 21,
            ..BASE
        },
        KindSpec {
            name: "idp",
            summary: "SAML, OIDC and social identity providers",
            list_path: "/api/v1/idps",
            read_scopes: &["okta.idps.read"],
            manage_scope: Some("okta.idps.manage"),
            pagination: link_pages(200),
            secrets: &[
                "/protocol/credentials/client/client_secret",
                "/protocol/credentials/signing/privateKey",
                "/protocol/credentials/bearer/apiKey",
            ],
            restore_rank: 22,
            depends_on: &["idp_key"],
            ..BASE
        },
    ],
};
