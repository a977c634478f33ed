//! Okta's OpenAPI description as a response validator: the spec (the vendored
//! `tests/fixtures/okta-management-api.yaml`, the file the catalogue test scans), its GET
//! operations matched to concrete request paths, and a validator for the subset of
//! OpenAPI 3.0's Schema Object the spec uses.
//!
//! Why not a JSON Schema crate: OpenAPI 3.0 schemas are not JSON Schema. `nullable`,
//! `discriminator` (on a `oneOf`, or on a parent whose children `allOf` it back, which a
//! JSON Schema validator would follow in a loop) and `writeOnly` fields in `required`
//! would each need a translation pass over 2,000 schemas before a crate could validate
//! them, and the crates that validate drafts 4 to 2020-12 bring regex engines, URL
//! resolution and number libraries for keywords (`pattern`, `format`, remote `$ref`) this
//! test does not check. The keywords checked here are the ones whose violation breaks a
//! client: `type`, `nullable`, `enum`, `required`, `properties`, `additionalProperties`,
//! `items`, `allOf`, `oneOf`, `anyOf`, `discriminator` and local `$ref`s.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde_json::Value;

const SPEC_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/okta-management-api.yaml"
);

/// The spec as JSON, parsed once per test binary (YAML anchors resolved).
pub(crate) fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text = std::fs::read_to_string(SPEC_PATH).unwrap_or_else(|e| {
            panic!("the Okta OpenAPI spec is missing at {SPEC_PATH} ({e}); it is committed with the tests")
        });
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{SPEC_PATH}: {e}"))
    })
}

/// The spec's GET operations, matched to concrete paths by their templates.
pub(crate) struct Operations {
    /// `(template, its segments: Some(literal) or None for a `{parameter}`)`.
    templates: Vec<(String, Vec<Option<String>>)>,
}

impl Operations {
    pub(crate) fn new(spec: &Value) -> Self {
        let templates = spec["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, item)| item.get("get").is_some())
            .map(|(template, _)| {
                let segments = template
                    .split('/')
                    .skip(1)
                    .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                    .collect();
                (template.clone(), segments)
            })
            .collect();
        Operations { templates }
    }

    /// The template of the GET operation serving `path` (no query): of the templates that
    /// match, the one with the most literal segments, earliest literal first (so
    /// `/api/v1/meta/schemas/user/default` is not `/api/v1/meta/schemas/user/{schemaId}`).
    pub(crate) fn template_for(&self, path: &str) -> Option<&str> {
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        self.templates
            .iter()
            .filter(|(_, t)| {
                t.len() == segments.len()
                    && t.iter().zip(&segments).all(|(t, s)| match t {
                        Some(literal) => literal == s,
                        None => !s.is_empty(),
                    })
            })
            .max_by_key(|(_, t)| t.iter().map(Option::is_some).collect::<Vec<_>>())
            .map(|(template, _)| template.as_str())
    }
}

/// The schema of a GET operation's `200` JSON answer.
pub(crate) fn response_schema<'a>(spec: &'a Value, template: &str) -> Option<&'a Value> {
    let mut response = &spec["paths"][template]["get"]["responses"]["200"];
    if let Some(r) = response.get("$ref").and_then(Value::as_str) {
        response = resolve(spec, r)?;
    }
    response["content"]["application/json"].get("schema")
}

/// A local `$ref` (`#/components/...`).
fn resolve<'a>(spec: &'a Value, reference: &str) -> Option<&'a Value> {
    spec.pointer(reference.strip_prefix('#')?)
}

/// One place where a body breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Violation {
    /// JSON pointer into the body.
    pub(crate) at: String,
    /// The nearest named schema (`#/components/schemas/X` -> `X`).
    pub(crate) schema: String,
    /// What is wrong.
    pub(crate) message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.at, self.schema, self.message)
    }
}

/// A validator over one spec.
pub(crate) struct Validator<'a> {
    spec: &'a Value,
    /// Discriminator dispatches in progress, `(instance pointer, target $ref)`: a child
    /// schema that `allOf`s its parent meets the parent's discriminator again, and must
    /// not dispatch to itself.
    dispatching: Vec<(String, String)>,
    out: BTreeSet<Violation>,
}

/// Nesting deeper than this is a reference cycle, not a body.
const MAX_DEPTH: usize = 64;

impl<'a> Validator<'a> {
    pub(crate) fn new(spec: &'a Value) -> Self {
        Validator {
            spec,
            dispatching: Vec::new(),
            out: BTreeSet::new(),
        }
    }

    /// Every violation of `schema` by `value`.
    pub(crate) fn validate(mut self, schema: &Value, value: &Value) -> Vec<Violation> {
        self.check(schema, value, "", "(response)", 0);
        self.out.into_iter().collect()
    }

    /// The violations `value` would have against `schema`, without recording them.
    fn probe(
        &mut self,
        schema: &Value,
        value: &Value,
        at: &str,
        name: &str,
        depth: usize,
    ) -> Vec<Violation> {
        let saved = std::mem::take(&mut self.out);
        self.check(schema, value, at, name, depth);
        std::mem::replace(&mut self.out, saved)
            .into_iter()
            .collect()
    }

    fn report(&mut self, at: &str, schema: &str, message: String) {
        self.out.insert(Violation {
            at: if at.is_empty() {
                "/".to_owned()
            } else {
                at.to_owned()
            },
            schema: schema.to_owned(),
            message,
        });
    }

    fn check(&mut self, schema: &Value, value: &Value, at: &str, name: &str, depth: usize) {
        if depth > MAX_DEPTH {
            self.report(at, name, "schema nesting too deep (a $ref cycle?)".into());
            return;
        }
        let Some(schema) = schema.as_object() else {
            // `true`/`{}`-like schemas accept anything.
            return;
        };
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            // OpenAPI 3.0: a `$ref`'s siblings are ignored.
            match resolve(self.spec, reference) {
                Some(target) => {
                    let target_name = reference.rsplit('/').next().unwrap_or(reference);
                    self.check(target, value, at, target_name, depth + 1);
                }
                None => self.report(at, name, format!("unresolvable $ref {reference}")),
            }
            return;
        }
        let nullable = schema.get("nullable").and_then(Value::as_bool) == Some(true);
        if value.is_null() {
            if nullable || enum_allows(schema, value) {
                return;
            }
            if schema.contains_key("type") {
                self.report(at, name, "null where the schema is not nullable".into());
                return;
            }
            // No type of its own: null is judged by the composed schemas, if any.
        }
        if let Some(ty) = schema.get("type").and_then(Value::as_str)
            && !value.is_null()
            && !type_matches(ty, value)
        {
            self.report(at, name, format!("expected {ty}, got {}", type_of(value)));
            return;
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array)
            && !value.is_null()
            && !values.contains(value)
        {
            self.report(
                at,
                name,
                format!(
                    "{value} is not one of the enum {}",
                    Value::Array(values.clone())
                ),
            );
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for part in all {
                self.check(part, value, at, name, depth + 1);
            }
        }
        if let Some(any) = schema.get("anyOf").and_then(Value::as_array)
            && !any.is_empty()
        {
            let results: Vec<_> = any
                .iter()
                .map(|s| self.probe(s, value, at, name, depth + 1))
                .collect();
            if results.iter().all(|r| !r.is_empty()) {
                let best = results.into_iter().min_by_key(Vec::len).unwrap_or_default();
                self.report(
                    at,
                    name,
                    format!("matches none of anyOf ({} alternatives)", any.len()),
                );
                self.out.extend(best);
            }
        }
        let discriminator = schema.get("discriminator");
        if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
            if let Some(d) = discriminator {
                self.dispatch(d, Some(one), value, at, name, depth);
            } else {
                let results: Vec<_> = one
                    .iter()
                    .map(|s| self.probe(s, value, at, name, depth + 1))
                    .collect();
                let passing = results.iter().filter(|r| r.is_empty()).count();
                if passing == 0 {
                    let best = results.into_iter().min_by_key(Vec::len).unwrap_or_default();
                    self.report(
                        at,
                        name,
                        format!("matches none of oneOf ({} alternatives)", one.len()),
                    );
                    self.out.extend(best);
                } else if passing > 1 {
                    self.report(
                        at,
                        name,
                        format!("matches {passing} of oneOf, not exactly one"),
                    );
                }
            }
        } else if let Some(d) = discriminator {
            // A parent's discriminator: the child it names applies too.
            self.dispatch(d, None, value, at, name, depth);
        }
        if value.is_null() {
            return;
        }
        if let Some(object) = value.as_object() {
            let properties = schema.get("properties").and_then(Value::as_object);
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for field in required.iter().filter_map(Value::as_str) {
                    let write_only = properties
                        .and_then(|p| p.get(field))
                        .is_some_and(|p| self.flag(p, "writeOnly"));
                    // OpenAPI 3.0: a required writeOnly property is required in requests only.
                    if !write_only && !object.contains_key(field) {
                        self.report(at, name, format!("required property {field:?} is missing"));
                    }
                }
            }
            for (key, item) in object {
                let child = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                if let Some(property) = properties.and_then(|p| p.get(key)) {
                    self.check(property, item, &child, name, depth + 1);
                } else {
                    match schema.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            self.report(
                                at,
                                name,
                                format!(
                                    "property {key:?} is not allowed (additionalProperties: false)"
                                ),
                            );
                        }
                        Some(extra @ Value::Object(_)) => {
                            self.check(extra, item, &child, name, depth + 1);
                        }
                        _ => {}
                    }
                }
            }
        }
        if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
            for (i, item) in array.iter().enumerate() {
                self.check(items, item, &format!("{at}/{i}"), name, depth + 1);
            }
        }
    }

    /// Whether a property schema (through its `$ref`) sets a boolean flag.
    fn flag(&self, schema: &Value, flag: &str) -> bool {
        if schema.get(flag).and_then(Value::as_bool) == Some(true) {
            return true;
        }
        schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| resolve(self.spec, r))
            .is_some_and(|t| t.get(flag).and_then(Value::as_bool) == Some(true))
    }

    /// Validate against the schema a discriminator names: the `mapping` entry for the
    /// value of `propertyName`, or (implicit mapping) the schema of that name.
    fn dispatch(
        &mut self,
        discriminator: &Value,
        one_of: Option<&Vec<Value>>,
        value: &Value,
        at: &str,
        name: &str,
        depth: usize,
    ) {
        if !value.is_object() {
            if one_of.is_some() && !value.is_null() {
                self.report(
                    at,
                    name,
                    format!(
                        "expected an object with a discriminator, got {}",
                        type_of(value)
                    ),
                );
            }
            return;
        }
        let Some(property) = discriminator.get("propertyName").and_then(Value::as_str) else {
            return;
        };
        let Some(tag) = value.get(property).and_then(Value::as_str) else {
            self.report(
                at,
                name,
                format!("discriminator property {property:?} is missing"),
            );
            return;
        };
        let target = discriminator
            .get("mapping")
            .and_then(|m| m.get(tag))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                let implicit = format!("#/components/schemas/{tag}");
                resolve(self.spec, &implicit).map(|_| implicit)
            });
        let Some(target) = target else {
            if one_of.is_some() {
                self.report(
                    at,
                    name,
                    format!("discriminator {property}={tag:?} names no schema of the oneOf"),
                );
            }
            // A parent's discriminator with an unmapped value: the parent's own schema
            // (and its enum on the property, if any) still applies.
            return;
        };
        let key = (at.to_owned(), target.clone());
        if self.dispatching.contains(&key) {
            return;
        }
        if let Some(one) = one_of
            && !one
                .iter()
                .any(|s| s.get("$ref").and_then(Value::as_str) == Some(target.as_str()))
        {
            self.report(
                at,
                name,
                format!("discriminator {property}={tag:?} maps to {target}, not one of the oneOf"),
            );
        }
        self.dispatching.push(key);
        self.check(
            &serde_json::json!({ "$ref": target }),
            value,
            at,
            name,
            depth + 1,
        );
        self.dispatching.pop();
    }
}

fn enum_allows(schema: &serde_json::Map<String, Value>, value: &Value) -> bool {
    schema
        .get("enum")
        .and_then(Value::as_array)
        .is_some_and(|e| e.contains(value))
}

fn type_matches(ty: &str, value: &Value) -> bool {
    match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        // An unknown type name in the spec constrains nothing we can check.
        _ => true,
    }
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Validate `body` against the `200` schema of `template`'s GET operation.
pub(crate) fn validate_response(
    spec: &Value,
    template: &str,
    body: &Value,
) -> Result<Vec<Violation>, String> {
    let schema = response_schema(spec, template)
        .ok_or_else(|| format!("GET {template} has no 200 application/json schema in the spec"))?;
    Ok(Validator::new(spec).validate(schema, body))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A small spec exercising every keyword the validator checks.
    fn toy() -> Value {
        json!({ "components": { "schemas": {
            "Zone": {
                "type": "object",
                "required": ["name", "type"],
                "properties": {
                    "name": { "type": "string" },
                    "type": { "type": "string", "enum": ["IP", "DYNAMIC"] },
                    "proxyType": { "type": "string", "enum": ["Any", "Tor"], "nullable": true },
                    "secret": { "type": "string", "writeOnly": true },
                    "count": { "type": "integer" }
                },
                "discriminator": { "propertyName": "type", "mapping": {
                    "IP": "#/components/schemas/IpZone", "DYNAMIC": "#/components/schemas/DynamicZone" } }
            },
            "IpZone": { "allOf": [ { "$ref": "#/components/schemas/Zone" }, { "type": "object",
                "properties": { "gateways": { "type": "array", "items": { "$ref": "#/components/schemas/Address" } } } } ] },
            "DynamicZone": { "allOf": [ { "$ref": "#/components/schemas/Zone" }, { "type": "object",
                "required": ["locations"],
                "properties": { "locations": { "type": "array", "items": { "type": "string" } } } } ] },
            "Address": { "type": "object", "additionalProperties": false, "required": ["value"],
                "properties": { "value": { "type": "string" }, "type": { "type": "string" } } },
            "Cat": { "type": "object", "required": ["kind", "meow"], "properties": { "kind": { "type": "string" }, "meow": { "type": "boolean" } } },
            "Dog": { "type": "object", "required": ["kind", "bark"], "properties": { "kind": { "type": "string" }, "bark": { "type": "boolean" } } },
            "Pet": { "oneOf": [ { "$ref": "#/components/schemas/Cat" }, { "$ref": "#/components/schemas/Dog" } ],
                "discriminator": { "propertyName": "kind", "mapping": { "cat": "#/components/schemas/Cat", "dog": "#/components/schemas/Dog" } } },
            "Labels": { "type": "object", "additionalProperties": { "type": "integer" } },
            "Either": { "anyOf": [ { "type": "string" }, { "type": "integer" } ] },
            "Exactly": { "oneOf": [ { "type": "string" }, { "type": "integer" } ] }
        } } })
    }

    fn errors(schema: &str, value: &Value) -> Vec<String> {
        let spec = toy();
        Validator::new(&spec)
            .validate(
                &json!({ "$ref": format!("#/components/schemas/{schema}") }),
                value,
            )
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_valid_body_passes() {
        let zone = json!({ "name": "z", "type": "IP", "proxyType": null, "count": 3,
            "gateways": [{ "value": "10.0.0.0/8", "type": "CIDR" }], "unknown": true });
        assert_eq!(errors("IpZone", &zone), Vec::<String>::new());
        assert_eq!(errors("Zone", &zone), Vec::<String>::new());
    }

    #[test]
    fn the_probe_catches_a_wrong_type() {
        let zone = json!({ "name": 7, "type": "IP" });
        assert_eq!(
            errors("Zone", &zone),
            ["/name (Zone): expected string, got number"]
        );
        assert_eq!(
            errors("Zone", &json!({ "name": "z", "type": "IP", "count": 1.5 })),
            ["/count (Zone): expected integer, got number"]
        );
        assert_eq!(
            errors("Zone", &json!([])),
            ["/ (Zone): expected object, got array"]
        );
    }

    #[test]
    fn the_probe_catches_a_missing_required_field() {
        assert_eq!(
            errors("Zone", &json!({ "type": "IP" })),
            ["/ (Zone): required property \"name\" is missing"]
        );
        // Required writeOnly properties are required in requests only.
        let spec = json!({ "components": { "schemas": {} } });
        let schema = json!({ "type": "object", "required": ["password"],
            "properties": { "password": { "type": "string", "writeOnly": true } } });
        assert!(
            Validator::new(&spec)
                .validate(&schema, &json!({}))
                .is_empty()
        );
    }

    #[test]
    fn the_probe_catches_a_bad_enum() {
        assert_eq!(
            errors(
                "Zone",
                &json!({ "name": "z", "type": "IP", "proxyType": "TorAnonymizer" })
            ),
            ["/proxyType (Zone): \"TorAnonymizer\" is not one of the enum [\"Any\",\"Tor\"]"]
        );
    }

    #[test]
    fn the_probe_catches_a_null_where_not_nullable() {
        assert_eq!(
            errors("Zone", &json!({ "name": null, "type": "IP" })),
            ["/name (Zone): null where the schema is not nullable"]
        );
        assert_eq!(
            errors(
                "Zone",
                &json!({ "name": "z", "type": "IP", "proxyType": null })
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_parent_discriminator_applies_the_child_schema() {
        // DYNAMIC requires locations; the parent schema alone does not.
        assert_eq!(
            errors("Zone", &json!({ "name": "z", "type": "DYNAMIC" })),
            ["/ (DynamicZone): required property \"locations\" is missing"]
        );
        assert_eq!(
            errors(
                "Zone",
                &json!({ "name": "z", "type": "DYNAMIC", "locations": [1] })
            ),
            ["/locations/0 (DynamicZone): expected string, got number"]
        );
    }

    #[test]
    fn a_one_of_discriminator_picks_one_branch() {
        assert!(errors("Pet", &json!({ "kind": "cat", "meow": true })).is_empty());
        assert_eq!(
            errors("Pet", &json!({ "kind": "dog", "meow": true })),
            ["/ (Dog): required property \"bark\" is missing"]
        );
        assert_eq!(
            errors("Pet", &json!({ "kind": "bird" })),
            ["/ (Pet): discriminator kind=\"bird\" names no schema of the oneOf"]
        );
        assert_eq!(
            errors("Pet", &json!({ "meow": true })),
            ["/ (Pet): discriminator property \"kind\" is missing"]
        );
    }

    #[test]
    fn items_and_additional_properties_are_checked() {
        assert_eq!(
            errors(
                "IpZone",
                &json!({ "name": "z", "type": "IP", "gateways": [{ "value": "v", "port": 1 }] })
            ),
            [
                "/gateways/0 (Address): property \"port\" is not allowed (additionalProperties: false)"
            ]
        );
        assert_eq!(
            errors("Labels", &json!({ "a": 1, "b": "two" })),
            ["/b (Labels): expected integer, got string"]
        );
    }

    #[test]
    fn any_of_and_one_of_without_a_discriminator() {
        assert!(errors("Either", &json!("x")).is_empty());
        assert!(errors("Either", &json!(3)).is_empty());
        assert!(
            errors("Either", &json!(true))
                .contains(&"/ (Either): matches none of anyOf (2 alternatives)".to_owned())
        );
        assert!(errors("Exactly", &json!(3)).is_empty());
        assert!(
            errors("Exactly", &json!(false))
                .contains(&"/ (Exactly): matches none of oneOf (2 alternatives)".to_owned())
        );
    }

    #[test]
    fn the_spec_parses_and_paths_map_to_operations() {
        let spec = spec();
        let ops = Operations::new(spec);
        assert_eq!(
            ops.template_for("/api/v1/meta/schemas/user/default"),
            Some("/api/v1/meta/schemas/user/{schemaId}")
        );
        assert_eq!(
            ops.template_for("/api/v1/groups/00g1/users"),
            Some("/api/v1/groups/{groupId}/users")
        );
        assert_eq!(
            ops.template_for("/api/v1/meta/schemas/user/linkedObjects"),
            Some("/api/v1/meta/schemas/user/linkedObjects")
        );
        assert_eq!(ops.template_for("/api/v1/nothing/here"), None);
        assert!(response_schema(spec, "/api/v1/apps").is_some());
        // A real Okta app checked against the spec's Application family.
        let app = json!({ "id": "0oa1", "name": "bookmark", "label": "B", "signOnMode": "BOOKMARK", "status": "ACTIVE",
            "settings": { "app": { "url": 7 } } });
        let violations = validate_response(spec, "/api/v1/apps", &json!([app])).unwrap();
        assert!(
            violations
                .iter()
                .any(|v| v.at == "/0/settings/app/url" && v.message.contains("expected string")),
            "{violations:?}"
        );
    }
}
