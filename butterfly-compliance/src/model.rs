//! The result and report types users script against. Each derives `JsonSchema`, so
//! `schemars::schema_for!(Report)` describes the JSON report.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Framework};

/// How bad a failing check is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Hygiene: fix when convenient.
    Low,
    /// Weakens a control; fix in the normal cycle.
    Medium,
    /// A control is missing; fix soon.
    High,
    /// An open door (no MFA for admins, ...); fix now.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The identifier used in reports and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str() == lower)
            .ok_or_else(|| Error::UnknownSeverity(s.to_owned()))
    }
}

/// The outcome of one check under one framework.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The configuration meets the control.
    Pass,
    /// The configuration does not meet the control; see the evidence.
    Fail,
    /// The snapshot holds nothing the check applies to (see the reason).
    NotApplicable,
}

impl Status {
    /// The identifier used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::NotApplicable => "not_applicable",
        }
    }
}

/// Which way a threshold bounds a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// The value must be at least the threshold.
    AtLeast,
    /// The value must be at most the threshold.
    AtMost,
}

/// The threshold a framework applies to a check (password length 12 for PCI DSS, 15 for
/// the STIG...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AppliedThreshold {
    /// Which way the value is bounded.
    pub comparison: Comparison,
    /// The bound.
    pub value: i64,
    /// What the value counts (`characters`, `minutes`, ...).
    pub unit: String,
}

impl fmt::Display for AppliedThreshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.comparison {
            Comparison::AtLeast => ">=",
            Comparison::AtMost => "<=",
        };
        write!(f, "{op} {} {}", self.value, self.unit)
    }
}

/// One resource a check looked at, with the values that decided the outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Evidence {
    /// The snapshot kind (`policy.PASSWORD`).
    pub kind: String,
    /// The resource's id in the snapshot.
    pub id: String,
    /// Its display name, when it has one.
    pub name: Option<String>,
    /// The values seen, by field path (`settings.password.complexity.minLength`). A
    /// missing field is `null`.
    pub observed: BTreeMap<String, Value>,
}

/// One check evaluated under one framework's control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CheckResult {
    /// The framework.
    pub framework: Framework,
    /// The framework's control id (`8.3.6`, `IA-5(1)`, `V-273195`).
    pub control: String,
    /// The check's id in the catalogue (`password.min_length`).
    pub check_id: String,
    /// The check's title.
    pub title: String,
    /// Its severity.
    pub severity: Severity,
    /// The outcome.
    pub status: Status,
    /// The threshold this framework applies, for checks that have one.
    pub threshold: Option<AppliedThreshold>,
    /// What was found, in one sentence; for `not_applicable`, why.
    pub message: String,
    /// The resources that decided the outcome: the offending ones when it fails.
    pub evidence: Vec<Evidence>,
    /// How many more resources were offending than `evidence` lists (it is capped).
    pub evidence_omitted: u64,
    /// What to do about a failure, step by step.
    pub remediation: Vec<String>,
}

/// The snapshot a report was computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SnapshotInfo {
    /// Snapshot id.
    pub id: String,
    /// The provider (`okta`).
    pub provider: String,
    /// The org's URL or tenant name.
    pub org: String,
    /// When the backup started (RFC 3339); inactivity is measured up to this time.
    pub taken_at: String,
}

/// Counts for one framework.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FrameworkSummary {
    /// The framework.
    pub framework: Framework,
    /// Its title.
    pub title: String,
    /// Checks evaluated.
    pub total: u32,
    /// Checks that passed.
    pub passed: u32,
    /// Checks that failed.
    pub failed: u32,
    /// Checks that did not apply.
    pub not_applicable: u32,
    /// Failed checks by severity (every severity present, zero included).
    pub failed_by_severity: BTreeMap<Severity, u32>,
    /// Passed as a percentage of the checks that applied (100 when none applied).
    pub score_percent: u32,
}

impl FrameworkSummary {
    /// The highest severity among the failed checks, `None` when nothing failed.
    pub fn highest_failing(&self) -> Option<Severity> {
        self.failed_by_severity
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(s, _)| *s)
            .max()
    }
}

/// A compliance report: every result for the frameworks asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// The tool's name (`butterfly-compliance`).
    pub tool: String,
    /// The tool's version.
    pub tool_version: String,
    /// When the report was generated (RFC 3339, as given by the caller, so the same
    /// input gives the same bytes).
    pub generated_at: String,
    /// The snapshot evaluated.
    pub snapshot: SnapshotInfo,
    /// One summary per framework, in [`Framework::ALL`] order.
    pub summaries: Vec<FrameworkSummary>,
    /// Every result, by framework then check id.
    pub results: Vec<CheckResult>,
}

impl Report {
    /// The title of `framework` as this report names it: its summary's title, which
    /// depends on the snapshot's provider ([`Framework::title_for`]).
    pub fn framework_title(&self, framework: Framework) -> &str {
        self.summaries
            .iter()
            .find(|s| s.framework == framework)
            .map_or_else(|| framework.title(), |s| s.title.as_str())
    }

    /// The results that failed, at or above `severity`.
    pub fn failures_at_or_above(&self, severity: Severity) -> impl Iterator<Item = &CheckResult> {
        self.results
            .iter()
            .filter(move |r| r.status == Status::Fail && r.severity >= severity)
    }
}

/// One (framework, check) whose status changed between two reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TrendItem {
    /// The framework.
    pub framework: Framework,
    /// The control.
    pub control: String,
    /// The check.
    pub check_id: String,
    /// Its severity.
    pub severity: Severity,
    /// Status in the older report (`None`: the check was not evaluated then).
    pub before: Option<Status>,
    /// Status in the newer report (`None`: no longer evaluated).
    pub after: Option<Status>,
}

/// What changed between two reports of the same org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Trend {
    /// The older snapshot.
    pub before: SnapshotInfo,
    /// The newer snapshot.
    pub after: SnapshotInfo,
    /// Checks that fail now and did not before.
    pub newly_failing: Vec<TrendItem>,
    /// Checks that failed before and do not now.
    pub fixed: Vec<TrendItem>,
    /// How many checks fail in both.
    pub still_failing: u32,
}
