//! The JSON Schemas checked in under `schemas/` are the ones `butterfly schemas` writes
//! from the Rust types: a change to a wire type without regenerating them fails here.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const REGENERATE: &str = "cargo run -p butterfly-cli -- schemas --out schemas";

#[test]
fn checked_in_schemas_match_the_generated_ones() {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_butterfly"))
        .args(["schemas", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let checked_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let names = |dir: &Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let generated = names(out.path());
    assert!(generated.contains("snapshot-summary.schema.json"));
    assert_eq!(
        names(&checked_in),
        generated,
        "schemas/ has other files than `butterfly schemas` writes; regenerate with `{REGENERATE}`"
    );
    for name in generated {
        let want = std::fs::read_to_string(out.path().join(&name)).unwrap();
        let have = std::fs::read_to_string(checked_in.join(&name)).unwrap();
        assert!(
            want == have,
            "schemas/{name} is stale; regenerate with `{REGENERATE}`"
        );
    }
}

#[test]
fn a_snapshot_summary_schema_describes_times_as_rfc3339_strings() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/snapshot-summary.schema.json"),
    )
    .unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    let started = &schema["properties"]["started_at"];
    assert_eq!(started["type"], "string");
    assert_eq!(started["format"], "date-time");
    let required = schema["required"].as_array().unwrap();
    assert!(required.iter().any(|r| r == "root_digest"));
}
