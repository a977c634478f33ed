//! SARIF 2.1.0: one rule per check, one result per failing (framework, check), located
//! at the offending resources as logical locations.

use serde_json::{Value, json};

use crate::catalogue;
use crate::model::{Report, Severity, Status};

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// The score GitHub code scanning reads to rank security results.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
    }
}

pub(super) fn sarif(report: &Report) -> Value {
    // The rules of the report's provider; an unknown provider name falls back to Okta's,
    // the catalogue reports were written with before providers had their own.
    let checks = catalogue::for_provider(
        report
            .snapshot
            .provider
            .parse()
            .unwrap_or(butterfly_core::ProviderKind::Okta),
    );
    let rules: Vec<Value> = checks
        .iter()
        .map(|c| {
            let tags: Vec<String> = std::iter::once("security".to_owned())
                .chain(
                    c.mappings
                        .iter()
                        .map(|m| format!("{}:{}", m.framework, m.control)),
                )
                .collect();
            let mut rule = json!({
                "id": c.id,
                "name": c.id.replace('.', "_"),
                "shortDescription": { "text": c.title },
                "fullDescription": { "text": c.rationale },
                "help": { "text": c.remediation.join("\n") },
                "defaultConfiguration": { "level": level(c.severity) },
                "properties": {
                    "tags": tags,
                    "severity": c.severity,
                    "security-severity": security_severity(c.severity),
                },
            });
            // Baseline references (SCuBA policy ids for Entra ID); Okta's checks have none
            // and their rules stay as they were.
            if !c.references.is_empty() {
                rule["properties"]["references"] = json!(c.references);
            }
            rule
        })
        .collect();
    let results: Vec<Value> = report
        .results
        .iter()
        .filter(|r| r.status == Status::Fail)
        .map(|r| {
            let rule_index = checks.iter().position(|c| c.id == r.check_id);
            let threshold = r
                .threshold
                .as_ref()
                .map(|t| format!(" (threshold {t})"))
                .unwrap_or_default();
            let locations: Vec<Value> = r
                .evidence
                .iter()
                .map(|e| {
                    json!({
                        "logicalLocations": [{
                            "name": e.name.clone().unwrap_or_else(|| e.id.clone()),
                            "fullyQualifiedName": format!("{}/{}", e.kind, e.id),
                            "kind": "resource",
                        }],
                        "properties": { "observed": e.observed },
                    })
                })
                .collect();
            let mut result = json!({
                "ruleId": r.check_id,
                "level": level(r.severity),
                "message": { "text": format!("[{} {}] {}: {}{threshold}", report.framework_title(r.framework), r.control, r.title, r.message) },
                "locations": locations,
                "partialFingerprints": { "butterflyCheck/v1": format!("{}/{}/{}", report.snapshot.org, r.framework, r.check_id) },
                "properties": {
                    "framework": r.framework,
                    "control": r.control,
                    "severity": r.severity,
                    "threshold": r.threshold,
                    "evidenceOmitted": r.evidence_omitted,
                },
            });
            if let (Some(index), Some(map)) = (rule_index, result.as_object_mut()) {
                map.insert("ruleIndex".to_owned(), json!(index));
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": report.tool,
                "version": report.tool_version,
                "informationUri": "https://github.com/butterfly-identity/butterfly",
                "rules": rules,
            } },
            "automationDetails": { "id": format!("butterfly-compliance/{}/", report.snapshot.id) },
            "results": results,
            "properties": {
                "snapshot": report.snapshot,
                "generatedAt": report.generated_at,
                "summaries": report.summaries,
            },
        }],
    })
}
