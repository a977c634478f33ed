//! Security configuration: zones, origins, authenticators, behaviours, device assurance.
//!
//! `GET /api/v1/zones` (`okta.networkZones.read`), `/api/v1/trustedOrigins`
//! (`okta.trustedOrigins.read`), `/api/v1/behaviors` (`okta.behaviors.read`),
//! `/api/v1/device-assurances` (`okta.deviceAssurance.read`), `/api/v1/threats/configuration`
//! (`okta.threatInsights.read`), `/attack-protection/api/v1/user-lockout-settings`
//! (`okta.orgs.read`), `/api/v1/captchas` (`okta.captchas.read`), `/api/v1/push-providers`
//! (`okta.pushProviders.read`), `/api/v1/security-events-providers`
//! (`okta.securityEventsProviders.read`), `/api/v1/authenticators` (`okta.authenticators.read`).
//! Policies point at zones, device assurances and authenticators, so these restore early.

use super::{BASE, Family, IdRule, KindSpec, ListShape, link_pages};

pub(super) const FAMILY: Family = Family {
    name: "Security",
    kinds: &[
        KindSpec {
            name: "network_zone",
            summary: "IP, dynamic and enhanced dynamic network zones",
            list_path: "/api/v1/zones",
            read_scopes: &["okta.networkZones.read"],
            manage_scope: Some("okta.networkZones.manage"),
            pagination: link_pages(200),
            restore_rank: 5,
            ..BASE
        },
        KindSpec {
            name: "trusted_origin",
            summary: "CORS and redirect trusted origins",
            list_path: "/api/v1/trustedOrigins",
            read_scopes: &["okta.trustedOrigins.read"],
            manage_scope: Some("okta.trustedOrigins.manage"),
            pagination: link_pages(200),
            restore_rank: 5,
            ..BASE
        },
        KindSpec {
            name: "behavior",
            summary: "Behavior detection rules (new device, new location, velocity...)",
            list_path: "/api/v1/behaviors",
            read_scopes: &["okta.behaviors.read"],
            manage_scope: Some("okta.behaviors.manage"),
            restore_rank: 6,
            ..BASE
        },
        KindSpec {
            name: "device_assurance",
            summary: "Device assurance policies (OS versions, disk encryption...)",
            list_path: "/api/v1/device-assurances",
            read_scopes: &["okta.deviceAssurance.read"],
            manage_scope: Some("okta.deviceAssurance.manage"),
            restore_rank: 7,
            ..BASE
        },
        KindSpec {
            name: "threat_insight_setting",
            summary: "ThreatInsight action and exempt zones",
            list_path: "/api/v1/threats/configuration",
            read_scopes: &["okta.threatInsights.read"],
            manage_scope: Some("okta.threatInsights.manage"),
            shape: ListShape::Object,
            id: IdRule::Singleton("threat_insight"),
            restore_rank: 7,
            depends_on: &["network_zone"],
            ..BASE
        },
        KindSpec {
            name: "user_lockout_setting",
            summary: "Attack protection: lockout behaviour for unknown devices",
            list_path: "/attack-protection/api/v1/user-lockout-settings",
            read_scopes: &["okta.orgs.read"],
            manage_scope: Some("okta.orgs.manage"),
            shape: ListShape::Object,
            id: IdRule::Singleton("user_lockout"),
            restore_rank: 7,
            ..BASE
        },
        KindSpec {
            name: "captcha",
            summary: "CAPTCHA integrations (hCaptcha, reCAPTCHA)",
            list_path: "/api/v1/captchas",
            read_scopes: &["okta.captchas.read"],
            manage_scope: Some("okta.captchas.manage"),
            secrets: &["/secretKey"],
            restore_rank: 7,
            ..BASE
        },
        KindSpec {
            name: "push_provider",
            summary: "APNs and FCM push providers for custom authenticators",
            list_path: "/api/v1/push-providers",
            read_scopes: &["okta.pushProviders.read"],
            manage_scope: Some("okta.pushProviders.manage"),
            secrets: &[
                "/configuration/tokenSigningKey",
                "/configuration/serviceAccountJson",
            ],
            restore_rank: 8,
            ..BASE
        },
        KindSpec {
            name: "security_events_provider",
            summary: "Shared Signals security event providers",
            list_path: "/api/v1/security-events-providers",
            read_scopes: &["okta.securityEventsProviders.read"],
            manage_scope: Some("okta.securityEventsProviders.manage"),
            restore_rank: 8,
            ..BASE
        },
        KindSpec {
            name: "authenticator",
            summary: "Authenticators (password, Okta Verify, WebAuthn, Duo...) and their settings",
            list_path: "/api/v1/authenticators",
            read_scopes: &["okta.authenticators.read"],
            manage_scope: Some("okta.authenticators.manage"),
            secrets: &["/provider/configuration/secretKey"],
            restore_rank: 9,
            depends_on: &["push_provider"],
            ..BASE
        },
    ],
};
