//! Hooks and log streams.
//!
//! `GET /api/v1/hook-keys` and `/api/v1/inlineHooks` (`okta.inlineHooks.read`),
//! `GET /api/v1/eventHooks` (`okta.eventHooks.read`), `GET /api/v1/logStreams`
//! (`okta.logStreams.read`). Hook channels carry the credentials Okta presents to the
//! receiver (`authScheme.value`, custom header values, OAuth client secrets): all stripped.
//! Inline hooks restore early because policies and authorization servers call them; event
//! hooks and log streams restore last so a restore does not stream its own changes.

use super::{BASE, Family, KindSpec, link_pages};

/// Credentials a hook channel sends to its receiver.
const HOOK_SECRETS: &[&str] = &[
    "/channel/config/authScheme/value",
    "/channel/config/headers/*/value",
    "/channel/config/clientSecret",
];

pub(super) const FAMILY: Family = Family {
    name: "Hooks and log streams",
    kinds: &[
        KindSpec {
            name: "hook_key",
            summary: "Keys Okta signs hook requests with (public part only)",
            list_path: "/api/v1/hook-keys",
            read_scopes: &["okta.inlineHooks.read"],
            manage_scope: Some("okta.inlineHooks.manage"),
            restore_rank: 10,
            ..BASE
        },
        KindSpec {
            name: "inline_hook",
            summary: "Inline hooks (token, registration, import, SAML, password import)",
            list_path: "/api/v1/inlineHooks",
            read_scopes: &["okta.inlineHooks.read"],
            manage_scope: Some("okta.inlineHooks.manage"),
            secrets: HOOK_SECRETS,
            restore_rank: 11,
            depends_on: &["hook_key"],
            ..BASE
        },
        KindSpec {
            name: "event_hook",
            summary: "Event hooks: outbound webhooks for System Log events",
            list_path: "/api/v1/eventHooks",
            read_scopes: &["okta.eventHooks.read"],
            manage_scope: Some("okta.eventHooks.manage"),
            secrets: HOOK_SECRETS,
            restore_rank: 95,
            ..BASE
        },
        KindSpec {
            name: "log_stream",
            summary: "Log streams to AWS EventBridge or Splunk Cloud",
            list_path: "/api/v1/logStreams",
            read_scopes: &["okta.logStreams.read"],
            manage_scope: Some("okta.logStreams.manage"),
            pagination: link_pages(200),
            secrets: &["/settings/token"],
            restore_rank: 95,
            ..BASE
        },
    ],
};
