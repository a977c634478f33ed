//! Export identity snapshots as Terraform HCL for the `okta/okta` provider.
//!
//! [`export`] reads one Okta snapshot through a
//! [`SnapshotSource`](butterfly_core::source::SnapshotSource) and returns `.tf` files,
//! one per area (`users.tf`, `groups.tf`, `apps.tf`, `authorization_servers.tf`,
//! `policies.tf`, `network.tf`, `identity_providers.tf`, `hooks.tf`, `branding.tf`,
//! `user_schema.tf`), plus `providers.tf`, `variables.tf` and `terraform.tfvars.example`.
//!
//! - HCL is built as a syntax tree and formatted by `hcl-rs`, never by string
//!   templates: a value from the org containing `${` or `%{` is escaped, so Terraform
//!   never interpolates it, and quotes, newlines and Unicode round-trip.
//! - Every resource gets an `import {}` block (Terraform 1.5+), so `terraform plan`
//!   adopts the org instead of re-creating it.
//! - References are addresses (`okta_group.engineering.id`), not Okta ids; names come
//!   from display names (see [`terraform_identifier`]) and are unique and stable.
//! - Secrets, which backups never hold, become `sensitive` input variables.
//!
//! # Example
//!
//! ```
//! use butterfly_core::source::InMemorySnapshotSource;
//! use butterfly_core::{ProviderKind, Resource, ResourceKind, SnapshotStatus};
//! use butterfly_tf::{ExportOptions, export};
//! use serde_json::json;
//!
//! # futures::executor::block_on(async {
//! let mut source = InMemorySnapshotSource::new();
//! let snapshot = source.insert(
//!     ProviderKind::Okta,
//!     "https://acme.okta.com",
//!     chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
//!     SnapshotStatus::Complete,
//!     [Resource::new(
//!         ResourceKind::new("group"),
//!         "00g1",
//!         json!({"id": "00g1", "type": "OKTA_GROUP",
//!                "profile": {"name": "Engineering", "description": "Builds ${things}"}}),
//!     )],
//! );
//! let out = export(&source, snapshot.id, &ExportOptions::new()).await?;
//! let groups = &out.files["groups.tf"];
//! assert!(groups.contains(r#"resource "okta_group" "engineering""#));
//! assert!(groups.contains(r#"description = "Builds $${things}""#));
//! assert!(groups.contains("to = okta_group.engineering"));
//! # Ok::<(), butterfly_tf::ExportError>(())
//! # }).unwrap();
//! ```
#![deny(missing_docs)]

mod export;
mod model;
mod naming;
mod okta;

pub use export::{COVERED_KINDS, Export, ExportError, ExportOptions, ExportReport, export};
pub use naming::{is_valid_identifier, terraform_identifier, unique_identifiers};
