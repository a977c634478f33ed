//! Compliance checks over identity provider snapshots.
//!
//! A [`catalogue`] of checks (MFA, passwords, sessions, admin roles, network
//! zones, account lifecycle, logging, app integrations), each mapped to the controls of
//! SOC 2, HIPAA, PCI DSS 4.0, NIST SP 800-53 r5, ISO/IEC 27001:2022, CIS Controls v8 and
//! the DISA Okta IDaaS STIG, with the threshold each framework applies. [`evaluate`]
//! reads a snapshot through [`SnapshotSource`](butterfly_core::source::SnapshotSource)
//! (never a live API) and returns a [`Report`]; [`report`] writes it as JSON, CSV,
//! Markdown, HTML, SARIF 2.1.0, OSCAL assessment results or JUnit XML, byte for byte the
//! same for the same input; [`trend`] compares two reports.
//!
//! # Example
//!
//! ```
//! use butterfly_compliance::{evaluate, report, Framework, Status};
//! use butterfly_core::source::InMemorySnapshotSource;
//! use butterfly_core::{ProviderKind, Resource, ResourceKind, SnapshotStatus};
//! use serde_json::json;
//!
//! # futures::executor::block_on(async {
//! let mut source = InMemorySnapshotSource::new();
//! let policy = json!({"id": "00p1", "name": "Default Policy", "status": "ACTIVE",
//!     "settings": {"password": {"complexity": {"minLength": 8}}}});
//! let snapshot = source.insert(
//!     ProviderKind::Okta,
//!     "https://example.okta.com",
//!     chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
//!     SnapshotStatus::Complete,
//!     [Resource::new(ResourceKind::new("policy.PASSWORD"), "00p1", policy)],
//! );
//!
//! let report = evaluate(&source, &snapshot, &[Framework::PciDss], "2026-01-01T00:00:00Z").await?;
//! let length = report.results.iter().find(|r| r.check_id == "password.min_length").unwrap();
//! assert_eq!(length.status, Status::Fail);
//! assert_eq!(length.control, "8.3.6");
//! assert_eq!(length.threshold.as_ref().unwrap().value, 12);
//! assert_eq!(length.evidence[0].observed["settings.password.complexity.minLength"], 8);
//!
//! let sarif = report::render(&report, report::Format::Sarif)?;
//! assert!(sarif.contains("\"version\": \"2.1.0\""));
//! # Ok::<(), butterfly_compliance::Error>(())
//! # }).unwrap();
//! ```
#![deny(missing_docs)]

pub mod catalogue;
mod evaluate;
mod framework;
mod model;
pub mod report;
mod rules;

pub use catalogue::{CHECKS, Check};
pub use evaluate::{EVIDENCE_LIMIT, evaluate, trend};
pub use framework::Framework;
pub use model::{
    AppliedThreshold, CheckResult, Comparison, Evidence, FrameworkSummary, Report, Severity,
    SnapshotInfo, Status, Trend, TrendItem,
};

/// Errors from the compliance engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The framework name is not one the catalogue maps.
    #[error(
        "unknown framework `{0}`: expected one of soc2, hipaa, pci-dss, nist-800-53, iso-27001, cis, stig"
    )]
    UnknownFramework(String),
    /// The severity name is not one of low, medium, high, critical.
    #[error("unknown severity `{0}`: expected one of low, medium, high, critical")]
    UnknownSeverity(String),
    /// The report format name is not one the writers know.
    #[error(
        "unknown report format `{0}`: expected one of json, csv, markdown, html, sarif, oscal, junit"
    )]
    UnknownFormat(String),
    /// A time given to the engine is not RFC 3339.
    #[error("`{0}` is not an RFC 3339 time")]
    InvalidTime(String),
    /// The snapshot could not be read.
    #[error("cannot read the snapshot")]
    Source(
        #[from]
        #[source]
        butterfly_core::source::SourceError,
    ),
    /// A report could not be serialised.
    #[error("cannot write the report")]
    Serialize(#[source] serde_json::Error),
}
