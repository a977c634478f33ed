//! The hand-written fixture org, exported.

use std::collections::{BTreeMap, BTreeSet};

use butterfly_tf::ExportOptions;
use hcl::Expression;
use serde_json::Value;

use crate::common::{
    attr, export_fixture, fixture_resources, parse_resources, source_of, traversal_text,
};

#[test]
fn every_file_matches_its_snapshot() {
    let out = export_fixture(&ExportOptions::new());
    let names: Vec<&str> = out.files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "apps.tf",
            "authorization_servers.tf",
            "branding.tf",
            "groups.tf",
            "hooks.tf",
            "identity_providers.tf",
            "network.tf",
            "policies.tf",
            "providers.tf",
            "terraform.tfvars.example",
            "user_schema.tf",
            "users.tf",
            "variables.tf",
        ]
    );
    for (name, text) in &out.files {
        insta::assert_snapshot!(name.replace('.', "_"), text);
    }
    insta::assert_debug_snapshot!("report", out.report);
}

#[test]
fn exporting_twice_or_in_another_order_gives_the_same_files() {
    let first = export_fixture(&ExportOptions::new());
    let (org, mut resources) = fixture_resources();
    resources.reverse();
    let (source, snapshot) = source_of(&org, resources);
    let second = futures::executor::block_on(butterfly_tf::export(
        &source,
        snapshot.id,
        &ExportOptions::new(),
    ))
    .unwrap();
    assert_eq!(first.files, second.files);
}

/// String leaves of a JSON document.
fn leaves(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::String(s) => {
            out.insert(s.clone());
        }
        Value::Number(n) => {
            out.insert(n.to_string());
        }
        Value::Array(a) => a.iter().for_each(|x| leaves(x, out)),
        Value::Object(o) => o.values().for_each(|x| leaves(x, out)),
        _ => {}
    }
}

fn strings_in(expr: &Expression, out: &mut Vec<String>) {
    match expr {
        Expression::String(s) => out.push(s.clone()),
        Expression::Number(n) => out.push(n.to_string()),
        Expression::Array(a) => a.iter().for_each(|x| strings_in(x, out)),
        Expression::Object(o) => o.values().for_each(|x| strings_in(x, out)),
        _ => {}
    }
}

#[test]
fn parsed_back_values_are_the_snapshots_values() {
    let out = export_fixture(&ExportOptions::new());
    let (resources, imports) = parse_resources(&out.files);
    let (_, snapshot) = fixture_resources();

    // Values that need escaping come back exactly.
    let find = |ty: &str, name: &str| {
        resources
            .iter()
            .find(|r| r.ty == ty && r.name == name)
            .unwrap_or_else(|| panic!("{ty}.{name} not exported"))
    };
    let s = |ty: &str, name: &str, key: &str| match attr(&find(ty, name).body, key) {
        Some(Expression::String(s)) => s.clone(),
        other => panic!("{ty}.{name}.{key} is {other:?}"),
    };
    assert_eq!(
        s("okta_user", "ada_acme_example", "title"),
        "Chief \"Analyst\""
    );
    assert_eq!(s("okta_user", "zoe_acme_example", "first_name"), "Zoë");
    assert_eq!(
        s("okta_user", "zoe_acme_example", "display_name"),
        "Zoë Ødegård 🦋"
    );
    assert_eq!(
        s("okta_user", "zoe_acme_example", "nick_name"),
        "line one\nline two"
    );
    assert_eq!(
        s("okta_user", "grace_acme_example", "employee_number"),
        "${var.leak}"
    );
    assert_eq!(
        s(
            "okta_user",
            "linus_partner_example",
            "custom_profile_attributes"
        ),
        r#"{"agency":"%{ if true }x%{ endif }"}"#
    );
    assert_eq!(
        s("okta_group", "zoes_group", "description"),
        "Ünïcödé \\ backslash"
    );
    assert_eq!(
        s("okta_group", "engineering_2", "description"),
        "Second group with a colliding name: 100%${x}, $%{y}, $$${z}"
    );
    assert_eq!(
        s("okta_app_bookmark", "handbook", "url"),
        "https://handbook.acme.example/?a=1&b=${x}"
    );
    assert_eq!(
        s("okta_app_saml", "wiki_saml", "idp_issuer"),
        "http://www.okta.com/${org.externalKey}"
    );

    // Every string and number written for a resource is one of its snapshot values.
    let checked = assert_values_come_from(&snapshot, &resources, &imports);
    assert!(checked > 30, "only {checked} resources checked");
}

/// Every string and number written for a resource is one of its snapshot values (or a
/// status the provider spells differently, or a JSON document of them), and every
/// resource has an import id. Returns how many resources were checked.
pub fn assert_values_come_from(
    snapshot: &[butterfly_core::Resource],
    resources: &[crate::common::Parsed],
    imports: &BTreeMap<String, String>,
) -> usize {
    // Kinds can share ids (a user and its role_assignee_user entry): keep them all.
    let mut by_id: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for r in snapshot {
        by_id.entry(r.id.as_str()).or_default().push(&r.attributes);
    }
    let mut checked = 0;
    for r in resources {
        let address = format!("{}.{}", r.ty, r.name);
        let import_id = imports
            .get(&address)
            .unwrap_or_else(|| panic!("{address} has no import block"));
        // Memberships and admin roles gather many snapshot resources into one.
        if ["okta_group_memberships", "okta_user_admin_roles"].contains(&r.ty.as_str()) {
            continue;
        }
        let Some(sources) = by_id.get(import_id.as_str()) else {
            continue; // schema properties: one per attribute of a schema
        };
        let mut known = BTreeSet::new();
        for source in sources {
            leaves(source, &mut known);
        }
        // Parents outside the export are named by the ids in the import id.
        known.extend(import_id.split('/').map(str::to_owned));
        for a in r.body.attributes() {
            let mut values = Vec::new();
            strings_in(a.expr(), &mut values);
            for v in values {
                let json_doc = serde_json::from_str::<Value>(&v).is_ok_and(|j| j.is_object());
                assert!(
                    known.contains(&v) || json_doc || ["ACTIVE", "INACTIVE"].contains(&v.as_str()),
                    "{address}.{} = {v:?} is not in the snapshot",
                    a.key()
                );
            }
        }
        checked += 1;
    }
    checked
}

#[test]
fn markers_are_escaped_in_the_text() {
    let out = export_fixture(&ExportOptions::new());
    let users = &out.files["users.tf"];
    assert!(
        users.contains(r#"employee_number = "$${var.leak}""#),
        "{users}"
    );
    assert!(users.contains("%%{ if true }x%%{ endif }"));
    assert!(!users.contains("\"${"));
}

#[test]
fn references_are_addresses_not_okta_ids() {
    let out = export_fixture(&ExportOptions::new());
    let (resources, imports) = parse_resources(&out.files);
    let exported_ids: BTreeSet<&str> = imports.values().map(String::as_str).collect();
    for r in &resources {
        for a in r.body.attributes() {
            let mut values = Vec::new();
            strings_in(a.expr(), &mut values);
            for v in values {
                assert!(
                    // An OAuth app's own client id, and a schema property's own index.
                    !exported_ids.contains(v.as_str()) || ["client_id", "index"].contains(&a.key()),
                    "{}.{}.{} names {v} literally",
                    r.ty,
                    r.name,
                    a.key()
                );
            }
        }
    }
    let rule = resources
        .iter()
        .find(|r| r.ty == "okta_group_rule" && r.name == "engineers_by_department")
        .unwrap();
    let Some(Expression::Array(groups)) = attr(&rule.body, "group_assignments") else {
        panic!("no group_assignments");
    };
    let Expression::Traversal(t) = &groups[0] else {
        panic!("{groups:?}")
    };
    assert_eq!(traversal_text(t), "okta_group.engineering.id");
    // Colliding display names get distinct, stable addresses.
    assert!(imports.contains_key("okta_group.engineering"));
    assert_eq!(imports["okta_group.engineering_2"], "00g2eng");
    // The built-in group is not exported, so a reference to it stays an id.
    assert_eq!(out.report.unresolved_references, 0);
}

#[test]
fn secrets_become_sensitive_variables() {
    let out = export_fixture(&ExportOptions::new());
    assert_eq!(
        out.report.secret_variables,
        [
            "client_secret_customer_portal",
            "hook_auth_audit_sink",
            "hook_auth_token_enrichment",
            "idp_client_secret_google",
            "idp_client_secret_partner_oidc",
        ]
    );
    let vars = hcl::parse(&out.files["variables.tf"]).unwrap();
    for name in &out.report.secret_variables {
        let block = vars
            .blocks()
            .find(|b| b.identifier() == "variable" && b.labels()[0].as_str() == name)
            .unwrap_or_else(|| panic!("{name} not declared"));
        assert_eq!(
            attr(block.body(), "sensitive"),
            Some(&Expression::Bool(true))
        );
    }
    assert!(
        out.files["apps.tf"].contains("client_basic_secret = var.client_secret_customer_portal")
    );
    let example = hcl::parse(&out.files["terraform.tfvars.example"]).unwrap();
    assert_eq!(
        attr(&example, "okta_org_name"),
        Some(&Expression::String("acme".into()))
    );
}

#[test]
fn skip_users_leaves_users_and_their_relations_out() {
    let out = export_fixture(&ExportOptions::new().skip_users(true));
    assert!(!out.files.contains_key("users.tf"));
    for text in out.files.values() {
        assert!(!text.contains("okta_user."), "{text}");
    }
    // Group rules and policy rules still name excluded users, by Okta id.
    assert!(out.files["groups.tf"].contains(r#""00u3grace""#));
    assert_eq!(out.report.unresolved_references, 2);
}

#[test]
fn a_kind_filter_exports_only_that_kind() {
    let out = export_fixture(&ExportOptions::new().kind("group"));
    assert_eq!(
        out.report.resources.keys().collect::<Vec<_>>(),
        ["okta_group"]
    );
    let (org, resources) = fixture_resources();
    let (source, snapshot) = source_of(&org, resources);
    let err = futures::executor::block_on(butterfly_tf::export(
        &source,
        snapshot.id,
        &ExportOptions::new().kind("nonsense"),
    ))
    .unwrap_err();
    assert!(matches!(err, butterfly_tf::ExportError::UnknownKind(k) if k == "nonsense"));
}

#[test]
fn write_to_creates_the_files() {
    let out = export_fixture(&ExportOptions::new());
    let dir = tempfile::tempdir().unwrap();
    out.write_to(&dir.path().join("tf")).unwrap();
    for (name, text) in &out.files {
        assert_eq!(
            &std::fs::read_to_string(dir.path().join("tf").join(name)).unwrap(),
            text
        );
    }
}
