//! Tables for people, JSON for scripts.

use comfy_table::presets::{ASCII_MARKDOWN, UTF8_FULL_CONDENSED};
use comfy_table::{ContentArrangement, Table};
use serde_json::{Map, Value, json};

use crate::Output;

/// One table column: a header and a JSON pointer into each record.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    header: &'static str,
    pointer: &'static str,
}

impl Column {
    /// A column.
    pub const fn new(header: &'static str, pointer: &'static str) -> Self {
        Column { header, pointer }
    }
}

/// Print a JSON array of records as a table or as JSON.
pub fn print_records(out: Output, records: &Value, columns: &[Column]) {
    match out {
        Output::Json => print_json(records),
        Output::Table | Output::Markdown => {
            let mut table = Table::new();
            table
                .load_preset(if out == Output::Markdown {
                    ASCII_MARKDOWN
                } else {
                    UTF8_FULL_CONDENSED
                })
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_header(columns.iter().map(|c| c.header));
            for record in records.as_array().into_iter().flatten() {
                table.add_row(columns.iter().map(|c| cell(record.pointer(c.pointer))));
            }
            println!("{table}");
        }
    }
}

/// Print one record: as it is for scripts, a one-row table for people.
pub fn print_record(out: Output, record: &Value, columns: &[Column]) {
    match out {
        Output::Json => print_json(record),
        Output::Table | Output::Markdown => {
            print_records(out, &Value::Array(vec![record.clone()]), columns);
        }
    }
}

/// Pretty JSON on stdout.
pub fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The columns of a snapshot list, local or on the server: both describe a snapshot
/// with the same JSON (a serialized `SnapshotSummary`); `KINDS` and `WARNINGS` are
/// counted from its `counts` and `warnings` for the table.
const SNAPSHOT_COLUMNS: &[Column] = &[
    Column::new("ID", "/id"),
    Column::new("PROVIDER", "/provider"),
    Column::new("ORG", "/org"),
    Column::new("STARTED", "/started_at"),
    Column::new("STATUS", "/status"),
    Column::new("RESOURCES", "/resources"),
    Column::new("KINDS", "/kinds"),
    Column::new("WARNINGS", "/warnings"),
];

/// A list of snapshot summaries (`snapshots list`), local or on the server: as they
/// are for scripts, a table for people.
pub fn print_snapshots(out: Output, summaries: &Value) {
    match out {
        Output::Json => print_json(summaries),
        Output::Table | Output::Markdown => {
            let rows: Vec<Value> = summaries
                .as_array()
                .into_iter()
                .flatten()
                .map(|summary| {
                    let mut row = summary.clone();
                    row["kinds"] = json!(summary["counts"].as_object().map_or(0, Map::len));
                    row["warnings"] = json!(summary["warnings"].as_array().map_or(0, Vec::len));
                    row
                })
                .collect();
            print_records(out, &Value::Array(rows), SNAPSHOT_COLUMNS);
        }
    }
}

/// One snapshot (`snapshots show`), local or on the server: a serialized
/// `SnapshotSummary`, with `counts` (an object of kind to count) and `warnings` (an
/// array of strings). For people: the
/// summary lines, a table of counts, then the warnings.
pub fn print_snapshot(out: Output, record: &Value) {
    match out {
        Output::Json => print_json(record),
        Output::Table | Output::Markdown => {
            for key in [
                "id",
                "provider",
                "org",
                "started_at",
                "finished_at",
                "status",
                "resources",
                "root_digest",
            ] {
                println!("{key}: {}", cell(record.get(key)));
            }
            let counts: Vec<Value> = record["counts"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(kind, n)| json!({"kind": kind, "count": n}))
                .collect();
            print_records(
                out,
                &Value::Array(counts),
                &[Column::new("KIND", "/kind"), Column::new("COUNT", "/count")],
            );
            for warning in record["warnings"].as_array().into_iter().flatten() {
                println!("warning: {}", cell(Some(warning)));
            }
        }
    }
}

/// A finished backup (a serialized `BackupOutcome`, local or from a server job): one
/// line of JSON for scripts; for people, a summary line and the warnings. Both go to
/// stderr for people and stdout for scripts, so the snapshot id printed after stays the
/// last line on stdout.
pub fn print_backup_outcome(out: Output, outcome: &Value) {
    match out {
        Output::Json => println!("{outcome}"),
        Output::Table | Output::Markdown => {
            let snapshot = &outcome["snapshot"];
            let write = &outcome["write"];
            let fetch = &outcome["fetch"];
            let number = |v: &Value| v.as_u64().unwrap_or(0);
            let warnings = snapshot["warnings"]
                .as_array()
                .map_or(&[][..], Vec::as_slice);
            eprintln!(
                "snapshot {} {}: {} resources in {} kinds, {} warning(s); {} new objects, {} new bytes; {} requests, {} retries, {} rate-limited, {} re-authentications; {:.1}s",
                cell(Some(&snapshot["id"])),
                cell(Some(&snapshot["status"])),
                number(&snapshot["resources"]),
                snapshot["counts"].as_object().map_or(0, Map::len),
                warnings.len(),
                number(&write["new_objects"]),
                number(&write["new_bytes"]) + number(&write["manifest_bytes"]),
                number(&fetch["requests"]),
                number(&fetch["retries"]),
                number(&fetch["rate_limited"]),
                number(&fetch["reauthentications"]),
                outcome["seconds"].as_f64().unwrap_or_default(),
            );
            // A server job's outcome also sums up the snapshot's compliance.
            if let Some(frameworks) = outcome["compliance"]["frameworks"].as_object() {
                let each: Vec<String> = frameworks
                    .iter()
                    .map(|(name, s)| {
                        let worst = s["highest_failing_severity"]
                            .as_str()
                            .map_or(String::new(), |w| format!(", worst {w}"));
                        format!("{name} {} failed{worst}", number(&s["failed"]))
                    })
                    .collect();
                eprintln!("compliance: {}", each.join("; "));
            }
            if let Some(error) = outcome["compliance_error"].as_str() {
                eprintln!("warning: no compliance summary: {error}");
            }
            for warning in warnings {
                eprintln!("warning: {}", cell(Some(warning)));
            }
        }
    }
}
