//! OSCAL 1.1.2 assessment results: one `result` per framework, an observation per check
//! with the evidence, and a finding per check that applied (satisfied or not).
//!
//! OSCAL ids are tokens (a letter or `_` first; letters, digits, `.`, `-`, `_`), so
//! control ids are rewritten: NIST's `IA-5(1)` becomes `ia-5.1` as in NIST's own OSCAL
//! catalogue; others get a framework prefix (`pci_dss_8.3.6`, `hipaa_164.312.d`).
//! UUIDs are derived from the content (SHA-256, shaped as version 5), so output is
//! byte-stable.

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::Framework;
use crate::model::{CheckResult, Report, Status};

/// The OSCAL version the document declares.
const OSCAL_VERSION: &str = "1.1.2";

fn uuid(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"butterfly-compliance/oscal");
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let mut b: [u8; 16] = [0; 16];
    b.copy_from_slice(&hasher.finalize()[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The control id as an OSCAL token.
pub(super) fn control_token(framework: Framework, control: &str) -> String {
    let dotted: String = control
        .replace('(', ".")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    if framework == Framework::Nist80053 {
        dotted.to_ascii_lowercase()
    } else {
        format!("{}_{dotted}", framework.as_str())
    }
}

fn observation(report: &Report, r: &CheckResult) -> Value {
    let evidence: Vec<Value> = r
        .evidence
        .iter()
        .map(|e| {
            let observed = serde_json::to_string(&e.observed).unwrap_or_default();
            let name = e.name.as_deref().unwrap_or(&e.id);
            json!({ "description": format!("{} {} ({name}): {observed}", e.kind, e.id) })
        })
        .collect();
    let mut o = json!({
        "uuid": uuid(&[&report.snapshot.id, r.framework.as_str(), &r.check_id, "observation"]),
        "title": r.title,
        "description": format!("{}: {}", r.check_id, r.message),
        "props": [
            { "name": "check-id", "ns": "https://github.com/butterfly-identity/butterfly", "value": r.check_id },
            { "name": "status", "ns": "https://github.com/butterfly-identity/butterfly", "value": r.status.as_str() },
            { "name": "severity", "ns": "https://github.com/butterfly-identity/butterfly", "value": r.severity.as_str() },
        ],
        "methods": ["TEST"],
        "collected": report.snapshot.taken_at,
    });
    if !evidence.is_empty() {
        o["relevant-evidence"] = Value::Array(evidence);
    }
    o
}

fn finding(report: &Report, r: &CheckResult, observation_uuid: &str) -> Value {
    let threshold = r
        .threshold
        .as_ref()
        .map(|t| format!(" Threshold applied: {t}."))
        .unwrap_or_default();
    json!({
        "uuid": uuid(&[&report.snapshot.id, r.framework.as_str(), &r.check_id, "finding"]),
        "title": format!("{} {}: {}", report.framework_title(r.framework), r.control, r.title),
        "description": format!("{}{threshold}", r.message),
        "target": {
            "type": "objective-id",
            "target-id": control_token(r.framework, &r.control),
            "status": { "state": if r.status == Status::Pass { "satisfied" } else { "not-satisfied" } },
        },
        "related-observations": [{ "observation-uuid": observation_uuid }],
    })
}

pub(super) fn oscal(report: &Report) -> Value {
    // As in SARIF: an unknown provider name is a report written before providers had
    // their own catalogue, which was Okta's.
    let provider = report
        .snapshot
        .provider
        .parse()
        .unwrap_or(butterfly_core::ProviderKind::Okta);
    let results: Vec<Value> = report
        .summaries
        .iter()
        .map(|summary| {
            let framework = summary.framework;
            let mine: Vec<&CheckResult> = report
                .results
                .iter()
                .filter(|r| r.framework == framework)
                .collect();
            let mut controls: Vec<String> = mine
                .iter()
                .map(|r| control_token(framework, &r.control))
                .collect();
            controls.sort();
            controls.dedup();
            let observations: Vec<Value> = mine.iter().map(|r| observation(report, r)).collect();
            let findings: Vec<Value> = mine
                .iter()
                .zip(&observations)
                .filter(|(r, _)| r.status != Status::NotApplicable)
                .map(|(r, o)| finding(report, r, o["uuid"].as_str().unwrap_or_default()))
                .collect();
            let mut result = json!({
                "uuid": uuid(&[&report.snapshot.id, framework.as_str(), "result"]),
                "title": format!("{} ({})", summary.title, framework.edition_for(provider)),
                "description": format!(
                    "{} checks: {} passed, {} failed, {} not applicable.",
                    summary.total, summary.passed, summary.failed, summary.not_applicable
                ),
                "start": report.snapshot.taken_at,
                "end": report.generated_at,
                "reviewed-controls": {
                    "control-selections": [{
                        "include-controls": controls.iter().map(|c| json!({ "control-id": c })).collect::<Vec<_>>(),
                    }],
                },
            });
            if !observations.is_empty() {
                result["observations"] = Value::Array(observations);
            }
            if !findings.is_empty() {
                result["findings"] = Value::Array(findings);
            }
            result
        })
        .collect();
    json!({
        "assessment-results": {
            "uuid": uuid(&[&report.snapshot.id, &report.generated_at, "assessment-results"]),
            "metadata": {
                "title": format!("Compliance assessment of {}", report.snapshot.org),
                "last-modified": report.generated_at,
                "version": report.tool_version,
                "oscal-version": OSCAL_VERSION,
            },
            "import-ap": { "href": "#butterfly-compliance-catalogue" },
            "results": results,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_ids_become_oscal_tokens() {
        assert_eq!(control_token(Framework::Nist80053, "IA-5(1)"), "ia-5.1");
        assert_eq!(control_token(Framework::PciDss, "8.3.6"), "pci_dss_8.3.6");
        assert_eq!(
            control_token(Framework::Hipaa, "164.308(a)(5)(ii)(D)"),
            "hipaa_164.308.a.5.ii.D"
        );
        assert_eq!(control_token(Framework::Stig, "V-273195"), "stig_V-273195");
    }

    #[test]
    fn uuids_are_stable_version_5_shaped_and_distinct() {
        let a = uuid(&["x", "y"]);
        assert_eq!(a, uuid(&["x", "y"]));
        assert_ne!(a, uuid(&["xy", ""]));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "5");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
    }
}
