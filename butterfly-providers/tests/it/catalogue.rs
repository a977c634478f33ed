//! The Okta catalogue against Okta's own OpenAPI spec (vendored, unmodified, as
//! `tests/fixtures/okta-management-api.yaml`): every list path, scope, pagination parameter and policy type must be
//! in the spec, so a typo or a renamed endpoint fails here rather than in a customer's org.
//!
//! The spec is 3.4 MB of YAML; rather than pull a YAML parser into the build for one test,
//! a line scanner reads the few things checked, relying on the spec's regular layout
//! (two-space indentation, one key per line).

use std::collections::{BTreeMap, BTreeSet};

use butterfly_providers::okta::kinds::{self, POLICY_TYPES};

const SPEC_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/okta-management-api.yaml"
);

/// What the test needs from one `get` operation.
#[derive(Debug, Default)]
struct GetOperation {
    /// Scopes of its `oauth2` security requirement.
    scopes: BTreeSet<String>,
    /// Names of its parameters (path-level and operation-level, refs resolved).
    parameters: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct Spec {
    gets: BTreeMap<String, GetOperation>,
    scopes: BTreeSet<String>,
    policy_types: BTreeSet<String>,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// `  key:` at exactly `level` spaces, returning `key`.
fn key_at(line: &str, level: usize) -> Option<&str> {
    if indent(line) != level {
        return None;
    }
    let t = line.trim();
    let key = t.strip_suffix(':')?;
    (!key.starts_with('-') && !key.contains(": ")).then_some(key.trim_matches('\''))
}

fn load_spec() -> Spec {
    let text = std::fs::read_to_string(SPEC_PATH).unwrap_or_else(|e| {
        panic!(
            "the Okta OpenAPI spec is missing at {SPEC_PATH} ({e}); it is committed with the tests"
        )
    });
    let lines: Vec<&str> = text.lines().collect();

    // components.parameters: ref name -> parameter name.
    let mut param_names = BTreeMap::new();
    let mut section = "";
    let mut sub = "";
    let mut current_param: Option<&str> = None;
    let mut spec = Spec::default();
    for line in &lines {
        if let Some(top) = key_at(line, 0) {
            section = top;
            sub = "";
            continue;
        }
        if section != "components" {
            continue;
        }
        if let Some(k) = key_at(line, 2) {
            sub = k;
            continue;
        }
        match sub {
            "parameters" => {
                if let Some(k) = key_at(line, 4) {
                    current_param = Some(k);
                } else if indent(line) == 6
                    && let (Some(p), Some(name)) =
                        (current_param, line.trim().strip_prefix("name: "))
                {
                    param_names.insert(p.to_owned(), name.trim().to_owned());
                }
            }
            "securitySchemes" => {
                // flows.authorizationCode.scopes: `okta.x.read: description` lines.
                let t = line.trim();
                if indent(line) >= 12
                    && let Some((scope, _)) = t.split_once(": ")
                    && scope.contains('.')
                    && !scope.contains(' ')
                {
                    spec.scopes.insert(scope.to_owned());
                }
            }
            _ => {}
        }
    }

    // components.schemas.PolicyType.enum
    if let Some(start) = lines.iter().position(|l| *l == "    PolicyType:") {
        let mut in_enum = false;
        for line in &lines[start + 1..] {
            if indent(line) <= 4 && !line.trim().is_empty() {
                break;
            }
            if line.trim() == "enum:" {
                in_enum = true;
            } else if in_enum {
                match line.trim().strip_prefix("- ") {
                    Some(v) => {
                        spec.policy_types.insert(v.to_owned());
                    }
                    None => in_enum = false,
                }
            }
        }
    }

    // paths: per path, the get operation's security scopes and parameters.
    let resolve = |item: &str| -> Option<String> {
        let item = item.trim();
        if let Some(r) = item.strip_prefix("- $ref: ") {
            let name = r.trim_matches('\'').rsplit('/').next()?;
            param_names.get(name).cloned()
        } else {
            item.strip_prefix("- name: ").map(|n| n.trim().to_owned())
        }
    };
    // Per path: its path-level parameters and its get operation, merged at the end.
    let mut paths: BTreeMap<String, (BTreeSet<String>, Option<GetOperation>)> = BTreeMap::new();
    let mut in_paths = false;
    let mut path = String::new();
    let mut block = "";
    let mut in_security = false;
    let mut in_oauth2 = false;
    for line in &lines {
        if let Some(top) = key_at(line, 0) {
            in_paths = top == "paths";
            continue;
        }
        if !in_paths || line.trim().is_empty() {
            continue;
        }
        if let Some(p) = key_at(line, 2) {
            p.clone_into(&mut path);
            paths.entry(path.clone()).or_default();
            block = "";
            continue;
        }
        if let Some(b) = key_at(line, 4) {
            block = b;
            in_security = false;
            if block == "get" {
                paths.entry(path.clone()).or_default().1 = Some(GetOperation::default());
            }
            continue;
        }
        let entry = paths.entry(path.clone()).or_default();
        match block {
            "parameters" if indent(line) == 6 => {
                if let Some(name) = resolve(line) {
                    entry.0.insert(name);
                }
            }
            "get" => {
                let Some(op) = entry.1.as_mut() else { continue };
                if indent(line) == 6 {
                    in_security = line.trim() == "security:";
                    in_oauth2 = false;
                } else if in_security {
                    let t = line.trim();
                    if indent(line) == 8 {
                        in_oauth2 = t == "- oauth2:";
                    } else if in_oauth2 && let Some(scope) = t.strip_prefix("- ") {
                        op.scopes.insert(scope.to_owned());
                    }
                } else if indent(line) == 8
                    && let Some(name) = resolve(line)
                {
                    op.parameters.insert(name);
                }
            }
            _ => {}
        }
    }
    for (path, (path_params, get)) in paths {
        if let Some(mut op) = get {
            op.parameters.extend(path_params);
            spec.gets.insert(path, op);
        }
    }
    spec
}

#[test]
fn the_scanner_reads_the_spec() {
    let spec = load_spec();
    assert!(spec.gets.len() > 250, "{} get operations", spec.gets.len());
    assert!(spec.scopes.contains("okta.users.read"));
    assert!(spec.policy_types.contains("OKTA_SIGN_ON"));
    let members = &spec.gets["/api/v1/groups/{groupId}/users"];
    assert_eq!(
        members.scopes,
        BTreeSet::from(["okta.groups.read".to_owned()])
    );
    assert!(
        members.parameters.contains("after"),
        "{:?}",
        members.parameters
    );
    assert!(
        members.parameters.contains("groupId"),
        "{:?}",
        members.parameters
    );
}

#[test]
fn every_list_path_and_scope_is_in_the_spec() {
    let spec = load_spec();
    for k in kinds::all() {
        let op = spec
            .gets
            .get(k.list_path)
            .unwrap_or_else(|| panic!("{}: GET {} is not in the spec", k.name, k.list_path));
        let ours: BTreeSet<String> = k.read_scopes.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(
            ours, op.scopes,
            "{}: scopes differ from the spec's `security`",
            k.name
        );
        for scope in k.read_scopes.iter().chain(k.manage_scope.iter()) {
            assert!(
                spec.scopes.contains(*scope),
                "{}: unknown scope {scope}",
                k.name
            );
        }
        for placeholder in k.placeholders() {
            assert!(
                op.parameters.contains(placeholder),
                "{}: {{{placeholder}}} is not a parameter of {}",
                k.name,
                k.list_path
            );
        }
        if let Some(detail) = k.detail_path {
            assert!(
                spec.gets.contains_key(detail),
                "{}: GET {detail} is not in the spec",
                k.name
            );
        }
    }
}

#[test]
fn pagination_matches_the_spec_parameters() {
    let spec = load_spec();
    for k in kinds::all() {
        let params = &spec.gets[k.list_path].parameters;
        if k.pagination.paginates() {
            assert!(
                params.contains("after"),
                "{}: pages but takes no `after`",
                k.name
            );
            assert_eq!(
                k.pagination.accepts_limit(),
                params.contains("limit"),
                "{}: `limit` parameter",
                k.name
            );
        } else {
            assert!(
                !params.contains("after"),
                "{}: the spec pages this list",
                k.name
            );
        }
    }
}

#[test]
fn policy_kinds_name_real_policy_types() {
    let spec = load_spec();
    for t in POLICY_TYPES {
        assert!(spec.policy_types.contains(t), "{t} is not a PolicyType");
        assert!(kinds::by_name(&format!("policy.{t}")).is_some());
    }
}

/// The README includes `OKTA_KINDS.md`; regenerate it with `BUTTERFLY_BLESS=1 cargo test`.
#[test]
fn the_kinds_table_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/OKTA_KINDS.md");
    let expected = format!(
        "# Okta resource kinds\n\nGenerated from `butterfly_providers::okta::kinds` by \
         `BUTTERFLY_BLESS=1 cargo test -p butterfly-providers --test it`.\n\n{}",
        kinds::markdown_table()
    );
    if std::env::var_os("BUTTERFLY_BLESS").is_some() {
        std::fs::write(path, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        actual == expected,
        "{path} is stale: run `BUTTERFLY_BLESS=1 cargo test -p butterfly-providers --test it`"
    );
}
