//! A self-contained HTML page: inline CSS, no scripts, nothing fetched.

use std::fmt::Write as _;

use super::text::escape_xml as esc;
use crate::model::{Report, Severity, Status};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1f23}\
table{border-collapse:collapse;margin:1rem 0;width:100%}\
th,td{border:1px solid #d0d7de;padding:.35rem .6rem;text-align:left;vertical-align:top}\
th{background:#f6f8fa}td.n{text-align:right}\
.fail{color:#b42318;font-weight:600}.pass{color:#067647}.not_applicable{color:#667085}\
.critical{background:#fee4e2}.high{background:#fef0c7}\
details{margin:.2rem 0}code{font-size:.9em}";

pub(super) fn html(report: &Report) -> String {
    let mut out = String::new();
    let s = &report.snapshot;
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>Compliance report: {org}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>Compliance report: {org}</h1>\n\
         <p>Snapshot <code>{id}</code> ({provider}, taken {taken}), generated {generated} by {tool} {version}.</p>\n",
        org = esc(&s.org),
        id = esc(&s.id),
        provider = esc(&s.provider),
        taken = esc(&s.taken_at),
        generated = esc(&report.generated_at),
        tool = esc(&report.tool),
        version = esc(&report.tool_version),
    );
    out.push_str("<section id=\"summary\">\n<h2>Summary</h2>\n<table>\n<thead><tr><th>Framework</th><th>Checks</th><th>Passed</th><th>Failed</th><th>Not applicable</th><th>Critical</th><th>High</th><th>Medium</th><th>Low</th><th>Score</th></tr></thead>\n<tbody>\n");
    for f in &report.summaries {
        let by = |sev| f.failed_by_severity.get(&sev).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "<tr data-framework=\"{}\"><td><a href=\"#{}\">{}</a></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}%</td></tr>",
            f.framework,
            f.framework,
            esc(&f.title),
            f.total,
            f.passed,
            f.failed,
            f.not_applicable,
            by(Severity::Critical),
            by(Severity::High),
            by(Severity::Medium),
            by(Severity::Low),
            f.score_percent
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
    for f in &report.summaries {
        let _ = write!(
            out,
            "<section id=\"{}\">\n<h2>{}</h2>\n<table>\n<thead><tr><th>Control</th><th>Check</th><th>Severity</th><th>Status</th><th>Threshold</th><th>Finding</th></tr></thead>\n<tbody>\n",
            f.framework,
            esc(&f.title)
        );
        for r in report.results.iter().filter(|r| r.framework == f.framework) {
            let threshold = r
                .threshold
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            let row_class = if r.status == Status::Fail {
                r.severity.as_str()
            } else {
                ""
            };
            let _ = write!(
                out,
                "<tr class=\"{row_class}\"><td>{}</td><td><code>{}</code><br>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}",
                esc(&r.control),
                esc(&r.check_id),
                esc(&r.title),
                r.severity,
                r.status.as_str(),
                r.status.as_str(),
                esc(&threshold),
                esc(&r.message)
            );
            if r.status == Status::Fail {
                out.push_str("<details><summary>Evidence and remediation</summary><ul>");
                for e in &r.evidence {
                    let observed = serde_json::to_string(&e.observed).unwrap_or_default();
                    let _ = write!(
                        out,
                        "<li><code>{}</code> <code>{}</code> {}: <code>{}</code></li>",
                        esc(&e.kind),
                        esc(&e.id),
                        esc(e.name.as_deref().unwrap_or("")),
                        esc(&observed)
                    );
                }
                if r.evidence_omitted > 0 {
                    let _ = write!(out, "<li>and {} more</li>", r.evidence_omitted);
                }
                out.push_str("</ul><ol>");
                for step in &r.remediation {
                    let _ = write!(out, "<li>{}</li>", esc(step));
                }
                out.push_str("</ol></details>");
            }
            out.push_str("</td></tr>\n");
        }
        out.push_str("</tbody>\n</table>\n</section>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}
