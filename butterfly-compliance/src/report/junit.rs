//! JUnit XML: a test suite per framework, a test case per check; failures carry the
//! finding and evidence, not-applicable checks are skipped with their reason.

use std::fmt::Write as _;

use super::text::escape_xml as esc;
use crate::model::{Report, Status};

pub(super) fn junit(report: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let (tests, failures, skipped) = report.summaries.iter().fold((0, 0, 0), |acc, s| {
        (acc.0 + s.total, acc.1 + s.failed, acc.2 + s.not_applicable)
    });
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" timestamp=\"{}\">",
        esc(&format!("{} {}", report.tool, report.snapshot.org)),
        esc(&report.generated_at)
    );
    for s in &report.summaries {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">",
            esc(s.framework.as_str()),
            s.total,
            s.failed,
            s.not_applicable
        );
        for r in report.results.iter().filter(|r| r.framework == s.framework) {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\"",
                esc(&format!("{}.{}", r.framework, r.control)),
                esc(&format!("{}: {}", r.check_id, r.title))
            );
            match r.status {
                Status::Pass => out.push_str("/>\n"),
                Status::NotApplicable => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        esc(&r.message)
                    );
                }
                Status::Fail => {
                    let mut body = String::new();
                    if let Some(t) = &r.threshold {
                        let _ = writeln!(body, "threshold: {t}");
                    }
                    for e in &r.evidence {
                        let observed = serde_json::to_string(&e.observed).unwrap_or_default();
                        let _ = writeln!(
                            body,
                            "{}/{} {}: {observed}",
                            e.kind,
                            e.id,
                            e.name.as_deref().unwrap_or("")
                        );
                    }
                    if r.evidence_omitted > 0 {
                        let _ = writeln!(body, "and {} more", r.evidence_omitted);
                    }
                    for (i, step) in r.remediation.iter().enumerate() {
                        let _ = writeln!(body, "{}. {step}", i + 1);
                    }
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                        esc(&r.message),
                        r.severity,
                        esc(&body)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
