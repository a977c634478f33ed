use std::collections::BTreeMap;

use butterfly_core::source::InMemorySnapshotSource;
use butterfly_core::{ProviderKind, Resource, Snapshot, SnapshotStatus};
use butterfly_tf::{Export, ExportOptions, export};
use serde_json::Value;

pub fn fixture_resources() -> (String, Vec<Resource>) {
    let text = include_str!("../fixtures/acme-org.json");
    let doc: Value = serde_json::from_str(text).unwrap();
    let resources: Vec<Resource> = serde_json::from_value(doc["resources"].clone()).unwrap();
    (doc["org"].as_str().unwrap().to_owned(), resources)
}

pub fn source_of(org: &str, resources: Vec<Resource>) -> (InMemorySnapshotSource, Snapshot) {
    let mut source = InMemorySnapshotSource::new();
    let snapshot = source.insert(
        ProviderKind::Okta,
        org,
        chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        SnapshotStatus::Complete,
        resources,
    );
    (source, snapshot)
}

pub fn export_fixture(options: &ExportOptions) -> Export {
    let (org, resources) = fixture_resources();
    let (source, snapshot) = source_of(&org, resources);
    futures::executor::block_on(export(&source, snapshot.id, options)).unwrap()
}

/// One parsed `resource` block.
#[derive(Debug)]
pub struct Parsed {
    pub ty: String,
    pub name: String,
    pub body: hcl::Body,
}

/// Every resource block of every `.tf` file, and import id by address.
pub fn parse_resources(
    files: &BTreeMap<String, String>,
) -> (Vec<Parsed>, BTreeMap<String, String>) {
    let mut resources = Vec::new();
    let mut imports = BTreeMap::new();
    for (name, text) in files.iter().filter(|(n, _)| {
        std::path::Path::new(n)
            .extension()
            .is_some_and(|e| e == "tf")
    }) {
        let body = hcl::parse(text).unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
        for block in body.blocks() {
            match block.identifier() {
                "resource" => {
                    let labels = block.labels();
                    resources.push(Parsed {
                        ty: labels[0].as_str().to_owned(),
                        name: labels[1].as_str().to_owned(),
                        body: block.body().clone(),
                    });
                }
                "import" => {
                    let mut to = None;
                    let mut id = None;
                    for attr in block.body().attributes() {
                        match (attr.key(), attr.expr()) {
                            ("to", hcl::Expression::Traversal(t)) => to = Some(traversal_text(t)),
                            ("id", hcl::Expression::String(s)) => id = Some(s.clone()),
                            other => panic!("unexpected import attribute {other:?}"),
                        }
                    }
                    imports.insert(to.unwrap(), id.unwrap());
                }
                _ => {}
            }
        }
    }
    (resources, imports)
}

pub fn traversal_text(t: &hcl::expr::Traversal) -> String {
    let mut out = match &t.expr {
        hcl::Expression::Variable(v) => v.as_str().to_owned(),
        other => panic!("unexpected traversal root {other:?}"),
    };
    for op in &t.operators {
        match op {
            hcl::expr::TraversalOperator::GetAttr(a) => {
                out.push('.');
                out.push_str(a.as_str());
            }
            other => panic!("unexpected traversal operator {other:?}"),
        }
    }
    out
}

pub fn attr<'a>(body: &'a hcl::Body, key: &str) -> Option<&'a hcl::Expression> {
    body.attributes()
        .find(|a| a.key() == key)
        .map(hcl::Attribute::expr)
}
