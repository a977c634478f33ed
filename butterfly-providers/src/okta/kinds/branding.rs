//! Brands, themes, pages, email and SMS templates, domains and email servers.
//!
//! `GET /api/v1/brands` and its themes and sign-in page (`okta.brands.read`),
//! `/api/v1/brands/{brandId}/templates/email` and customizations, `/api/v1/templates/sms`
//! (`okta.templates.read`), `/api/v1/domains` (`okta.domains.read`), `/api/v1/email-domains`
//! (`okta.emailDomains.read`), `/api/v1/email-servers` (`okta.emailServers.read`).
//! A brand names its email domain and a custom domain names its brand, so email domains,
//! brands and domains restore in that order. SMTP credentials are stripped.

use super::{BASE, Family, IdRule, KindSpec, ListShape, link_pages, parent};

pub(super) const FAMILY: Family = Family {
    name: "Branding and communication",
    kinds: &[
        KindSpec {
            name: "email_server",
            summary: "Custom SMTP servers",
            list_path: "/api/v1/email-servers",
            read_scopes: &["okta.emailServers.read"],
            manage_scope: Some("okta.emailServers.manage"),
            shape: ListShape::Envelope("email-servers"),
            secrets: &["/password", "/clientSecret", "/privateKey"],
            restore_rank: 15,
            ..BASE
        },
        KindSpec {
            name: "email_domain",
            summary: "Email sending domains",
            list_path: "/api/v1/email-domains",
            read_scopes: &["okta.emailDomains.read"],
            manage_scope: Some("okta.emailDomains.manage"),
            restore_rank: 16,
            ..BASE
        },
        KindSpec {
            name: "brand",
            summary: "Brands",
            list_path: "/api/v1/brands",
            read_scopes: &["okta.brands.read"],
            manage_scope: Some("okta.brands.manage"),
            pagination: link_pages(200),
            restore_rank: 17,
            depends_on: &["email_domain"],
            ..BASE
        },
        KindSpec {
            name: "theme",
            summary: "Each brand's theme: colours, logo, favicon, variants",
            list_path: "/api/v1/brands/{brandId}/themes",
            parent: Some(parent("brand", "brandId")),
            read_scopes: &["okta.brands.read"],
            manage_scope: Some("okta.brands.manage"),
            restore_rank: 18,
            ..BASE
        },
        KindSpec {
            name: "domain",
            summary: "Custom domains",
            list_path: "/api/v1/domains",
            read_scopes: &["okta.domains.read"],
            manage_scope: Some("okta.domains.manage"),
            shape: ListShape::Envelope("domains"),
            restore_rank: 18,
            depends_on: &["brand"],
            ..BASE
        },
        KindSpec {
            name: "sign_in_page",
            summary: "Each brand's customized sign-in page",
            list_path: "/api/v1/brands/{brandId}/pages/sign-in/customized",
            parent: Some(parent("brand", "brandId")),
            read_scopes: &["okta.brands.read"],
            manage_scope: Some("okta.brands.manage"),
            shape: ListShape::Object,
            id: IdRule::Singleton("sign-in"),
            restore_rank: 19,
            // 404 until the page is customized.
            absent_ok: true,
            ..BASE
        },
        KindSpec {
            name: "email_template",
            summary: "Each brand's email templates and their settings",
            list_path: "/api/v1/brands/{brandId}/templates/email",
            parent: Some(parent("brand", "brandId")),
            read_scopes: &["okta.templates.read"],
            manage_scope: Some("okta.templates.manage"),
            pagination: link_pages(200),
            id: IdRule::ScopedField("/name"),
            restore_rank: 19,
            ..BASE
        },
        KindSpec {
            name: "email_customization",
            summary: "Per-language customizations of an email template",
            list_path: "/api/v1/brands/{brandId}/templates/email/{templateName}/customizations",
            parent: Some(parent("email_template", "templateName")),
            read_scopes: &["okta.templates.read"],
            manage_scope: Some("okta.templates.manage"),
            pagination: link_pages(200),
            restore_rank: 20,
            ..BASE
        },
        KindSpec {
            name: "sms_template",
            summary: "SMS templates and their translations",
            list_path: "/api/v1/templates/sms",
            read_scopes: &["okta.templates.read"],
            manage_scope: Some("okta.templates.manage"),
            restore_rank: 20,
            ..BASE
        },
    ],
};
