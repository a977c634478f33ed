//! Every generated resource obeys the provider's schema: its type exists, every
//! attribute and nested block it writes is one the provider accepts (never a read-only
//! one), every required attribute is present, and every import targets an importable
//! type.

use std::collections::BTreeMap;

use butterfly_tf::ExportOptions;
use serde_json::Value;

use crate::common::{export_fixture, parse_resources};

fn provider_schema() -> Value {
    serde_json::from_str(include_str!(
        "../fixtures/okta-terraform-provider-schema.json"
    ))
    .unwrap()
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// Check one body against a schema node (`required`, `optional`, `read_only`, `blocks`);
/// `blocks` are the resource's nested block schemas, keyed by dotted path.
fn check_body(
    what: &str,
    body: &hcl::Body,
    node: &Value,
    blocks: &Value,
    path: &str,
    errors: &mut Vec<String>,
) {
    let required = keys(&node["required"]);
    let optional = keys(&node["optional"]);
    let read_only = keys(&node["read_only"]);
    let mut written: Vec<&str> = Vec::new();
    for attr in body.attributes() {
        let key = attr.key();
        written.push(key);
        if read_only.contains(&key) && !required.contains(&key) && !optional.contains(&key) {
            errors.push(format!("{what}: writes read-only `{key}`"));
        } else if !required.contains(&key) && !optional.contains(&key) {
            errors.push(format!("{what}: unknown attribute `{key}`"));
        }
    }
    for block in body.blocks() {
        let key = block.identifier();
        written.push(key);
        let nested_path = if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        };
        match blocks.get(&nested_path) {
            Some(nested) => check_body(
                &format!("{what}.{key}"),
                block.body(),
                nested,
                blocks,
                &nested_path,
                errors,
            ),
            None => errors.push(format!("{what}: unknown block `{key}`")),
        }
    }
    for key in required {
        if !written.contains(&key) {
            errors.push(format!("{what}: required `{key}` missing"));
        }
    }
}

/// Every problem with `files` against the provider schema; empty when all is well.
pub fn schema_errors(files: &BTreeMap<String, String>) -> Vec<String> {
    let schema = provider_schema();
    let resources_schema = &schema["resources"];
    let (resources, imports) = parse_resources(files);
    let mut errors = Vec::new();
    for r in &resources {
        let what = format!("{}.{}", r.ty, r.name);
        let Some(node) = resources_schema.get(&r.ty) else {
            errors.push(format!("{what}: resource type does not exist"));
            continue;
        };
        check_body(&what, &r.body, node, &node["blocks"], "", &mut errors);
        if !imports.contains_key(&what) {
            errors.push(format!("{what}: no import block"));
        }
    }
    for to in imports.keys() {
        let ty = to.split('.').next().unwrap_or_default();
        if resources_schema[ty]["importable"] != Value::Bool(true) {
            errors.push(format!("{to}: imported but not importable"));
        }
        if !resources
            .iter()
            .any(|r| format!("{}.{}", r.ty, r.name) == *to)
        {
            errors.push(format!("{to}: import of a resource that is not declared"));
        }
    }
    errors
}

#[test]
fn the_fixture_export_obeys_the_provider_schema() {
    for options in [ExportOptions::new(), ExportOptions::new().skip_users(true)] {
        let out = export_fixture(&options);
        let errors = schema_errors(&out.files);
        assert!(errors.is_empty(), "{}", errors.join("\n"));
    }
}

#[test]
fn the_checker_catches_what_it_should() {
    let files = BTreeMap::from([(
        "bad.tf".to_owned(),
        r#"
import {
  to = okta_group.a
  id = "00g1"
}
resource "okta_group" "a" {
  id = "00g1"
  colour = "blue"
}
resource "okta_nonsense" "b" {}
resource "okta_app_saml" "c" {
  label = "x"
  keys {
    kid = "k"
  }
  attribute_statements {
    namespace = "n"
  }
}
"#
        .to_owned(),
    )]);
    let errors = schema_errors(&files);
    for expected in [
        "okta_group.a: writes read-only `id`",
        "okta_group.a: unknown attribute `colour`",
        "okta_group.a: required `name` missing",
        "okta_nonsense.b: resource type does not exist",
        "okta_app_saml.c.keys: writes read-only `kid`",
        "okta_app_saml.c.attribute_statements: required `name` missing",
        "okta_app_saml.c: no import block",
    ] {
        assert!(
            errors.iter().any(|e| e == expected),
            "missing {expected:?} in {errors:#?}"
        );
    }
}
