//! Tables for people, JSON for scripts.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use serde_json::{Value, json};

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
        Output::Table => {
            let mut table = Table::new();
            table
                .load_preset(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_header(columns.iter().map(|c| c.header));
            for record in records.as_array().into_iter().flatten() {
                table.add_row(columns.iter().map(|c| cell(record.pointer(c.pointer))));
            }
            println!("{table}");
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

/// The columns of a snapshot list, local or on the server (both describe snapshots with
/// the same keys).
pub const SNAPSHOT_COLUMNS: &[Column] = &[
    Column::new("ID", "/id"),
    Column::new("PROVIDER", "/provider"),
    Column::new("ORG", "/org"),
    Column::new("STARTED", "/started_at"),
    Column::new("STATUS", "/status"),
    Column::new("RESOURCES", "/resources"),
    Column::new("KINDS", "/kinds"),
    Column::new("WARNINGS", "/warnings"),
];

/// One snapshot (`snapshots show`), local or on the server: its summary, `counts` (an
/// object of kind to count) and `warnings` (an array of strings). For people: the
/// summary lines, a table of counts, then the warnings.
pub fn print_snapshot(out: Output, record: &Value) {
    match out {
        Output::Json => print_json(record),
        Output::Table => {
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
