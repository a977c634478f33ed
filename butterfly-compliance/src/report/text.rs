//! CSV and Markdown, and the escaping every text format shares.

use std::fmt::Write as _;

use crate::model::{CheckResult, Report, Status};

/// Escape text for XML 1.0 content and attribute values: the five markup characters
/// become entities and characters XML 1.0 cannot carry at all (controls other than tab,
/// newline and carriage return) are dropped.
pub fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// One CSV field (RFC 4180), with cells a spreadsheet would run as a formula defused:
/// names come from the org, and an app labelled `=HYPERLINK(...)` must stay text.
fn csv_field(value: &str) -> String {
    let defused = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

fn threshold_text(r: &CheckResult) -> String {
    r.threshold
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default()
}

fn evidence_ids(r: &CheckResult) -> String {
    let mut ids: Vec<String> = r
        .evidence
        .iter()
        .map(|e| format!("{}/{}", e.kind, e.id))
        .collect();
    if r.evidence_omitted > 0 {
        ids.push(format!("(+{} more)", r.evidence_omitted));
    }
    ids.join(" ")
}

pub(super) fn csv(report: &Report) -> String {
    let mut out = String::from(
        "framework,control,check_id,title,severity,status,threshold,message,evidence\r\n",
    );
    for r in &report.results {
        let row = [
            r.framework.as_str().to_owned(),
            r.control.clone(),
            r.check_id.clone(),
            r.title.clone(),
            r.severity.as_str().to_owned(),
            r.status.as_str().to_owned(),
            threshold_text(r),
            r.message.clone(),
            evidence_ids(r),
        ];
        let fields: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// Text safe in a Markdown table cell: no pipe, no line break, no raw HTML.
fn md(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

pub(super) fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let s = &report.snapshot;
    let _ = writeln!(out, "# Compliance report: {}\n", md(&s.org));
    let _ = writeln!(
        out,
        "Snapshot `{}` ({}, taken {}), generated {} by {} {}.\n",
        s.id, s.provider, s.taken_at, report.generated_at, report.tool, report.tool_version
    );
    out.push_str("## Summary\n\n");
    out.push_str("| Framework | Checks | Passed | Failed | Not applicable | Critical | High | Medium | Low | Score |\n");
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for f in &report.summaries {
        let by = |sev| f.failed_by_severity.get(&sev).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {}% |",
            md(&f.title),
            f.total,
            f.passed,
            f.failed,
            f.not_applicable,
            by(crate::Severity::Critical),
            by(crate::Severity::High),
            by(crate::Severity::Medium),
            by(crate::Severity::Low),
            f.score_percent
        );
    }
    for f in &report.summaries {
        let _ = writeln!(out, "\n## {}\n", md(&f.title));
        out.push_str("| Control | Check | Severity | Status | Threshold | Finding |\n");
        out.push_str("| --- | --- | --- | --- | --- | --- |\n");
        for r in report.results.iter().filter(|r| r.framework == f.framework) {
            let _ = writeln!(
                out,
                "| {} | `{}` {} | {} | {} | {} | {} |",
                md(&r.control),
                r.check_id,
                md(&r.title),
                r.severity,
                status_mark(r.status),
                md(&threshold_text(r)),
                md(&r.message)
            );
        }
    }
    let mut failing: Vec<&CheckResult> = report
        .results
        .iter()
        .filter(|r| r.status == Status::Fail)
        .collect();
    // One section per failing check, however many frameworks it fails in.
    failing.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.check_id.cmp(&b.check_id))
    });
    failing.dedup_by(|a, b| a.check_id == b.check_id);
    if !failing.is_empty() {
        out.push_str("\n## Findings and remediation\n");
    }
    for r in failing {
        let _ = writeln!(
            out,
            "\n### `{}`: {} ({})\n",
            r.check_id,
            md(&r.title),
            r.severity
        );
        let controls: Vec<String> = report
            .results
            .iter()
            .filter(|o| o.check_id == r.check_id && o.status == Status::Fail)
            .map(|o| format!("{} {}", report.framework_title(o.framework), o.control))
            .collect();
        let _ = writeln!(out, "Fails: {}.\n", md(&controls.join(", ")));
        for e in &r.evidence {
            let observed = serde_json::to_string(&e.observed).unwrap_or_default();
            let _ = writeln!(
                out,
                "- `{}` `{}` {}: {}",
                e.kind,
                md(&e.id),
                md(e.name.as_deref().unwrap_or("")),
                md(&observed)
            );
        }
        if r.evidence_omitted > 0 {
            let _ = writeln!(out, "- and {} more", r.evidence_omitted);
        }
        out.push_str("\nRemediation:\n\n");
        for (i, step) in r.remediation.iter().enumerate() {
            let _ = writeln!(out, "{}. {}", i + 1, md(step));
        }
    }
    out
}

fn status_mark(status: Status) -> &'static str {
    match status {
        Status::Pass => "pass",
        Status::Fail => "**FAIL**",
        Status::NotApplicable => "n/a",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escaping_covers_markup_and_drops_illegal_characters() {
        assert_eq!(
            escape_xml(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &apos;Jerry&apos;&lt;/a&gt;"
        );
        assert_eq!(escape_xml("bell\u{7}\ttab\nline"), "bell\ttab\nline");
        assert_eq!(escape_xml("]]>"), "]]&gt;");
        assert_eq!(escape_xml("Zoë ✓"), "Zoë ✓");
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn markdown_cells_cannot_break_the_table_or_inject_html() {
        assert_eq!(md("a|b\nc <script>"), "a\\|b c &lt;script&gt;");
    }
}
