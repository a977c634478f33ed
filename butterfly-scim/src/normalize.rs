//! Normalising incoming resources to the schemas (RFC 7643 sections 2.1 to 2.5 and 3).
//!
//! Clients spell attribute names and schema URNs in any case (RFC 7643 section 2.1 makes
//! them case-insensitive) and send values in dialects (Entra ID's `"True"` for a boolean,
//! a bare id for the enterprise `manager`). The store should see one spelling only, so a
//! SQL store can use fixed JSON paths; this module produces it:
//!
//! - attribute and sub-attribute names take the schema's canonical spelling; the names
//!   of unknown attributes inside a *declared* extension keep the client's spelling and
//!   their values round-trip untouched;
//! - unknown attributes of the core schema, and unknown sub-attributes, are ignored, as
//!   RFC 7644 section 3.3 allows: provisioning clients routinely send more than a service
//!   stores. A URN the resource type does not declare is refused with 400 `invalidValue`
//!   instead, because a URN is a deliberate claim about a schema and dropping a whole
//!   extension silently would hide a mapping mistake;
//! - `readOnly` attributes (`id`, `meta`, `groups`, `manager.displayName`) are ignored
//!   (RFC 7643 section 7) and `password` is dropped: this service never stores passwords;
//! - `null`, `[]` and `{}` mean "unassigned" (RFC 7643 section 2.5) and are removed;
//! - booleans written as strings (`"True"`, `"false"`) become booleans, numbers sent for
//!   string attributes become strings, and a single value sent for a multi-valued
//!   attribute becomes a one-element array;
//! - a multi-valued attribute keeps at most one `primary: true` value, the last one given
//!   (RFC 7643 section 2.4), and no exact duplicates;
//! - values of the wrong type are refused with 400 `invalidValue`, and so is a missing
//!   required attribute;
//! - `schemas` is recomputed: the core schema plus each extension that has a value.

use serde_json::{Map, Value};
use unicode_normalization::{UnicodeNormalization as _, is_nfc};

use crate::filter::{AttrPath, AttributeType};
use crate::schema::{Attribute, Mutability, ResourceSchema, Schema};
use crate::{ScimError, ScimType};

pub(crate) fn invalid_value(detail: impl Into<String>) -> ScimError {
    ScimError::new(400, detail).with_type(ScimType::InvalidValue)
}

pub(crate) fn invalid_syntax(detail: impl Into<String>) -> ScimError {
    ScimError::new(400, detail).with_type(ScimType::InvalidSyntax)
}

/// A member of an object by name: exact spelling first, then ignoring ASCII case.
pub(crate) fn get_ci<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The key under which an object holds `key`, ignoring ASCII case.
pub(crate) fn key_ci(object: &Map<String, Value>, key: &str) -> Option<String> {
    if object.contains_key(key) {
        return Some(key.to_owned());
    }
    object.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

/// Check the `schemas` a client sent for a resource of this type.
pub(crate) fn check_schemas(
    rs: &ResourceSchema,
    object: &Map<String, Value>,
) -> Result<(), ScimError> {
    let Some(list) = get_ci(object, "schemas") else {
        return Err(invalid_syntax(format!(
            "the request must list `schemas`, including {}",
            rs.core.id
        )));
    };
    let Some(list) = list.as_array() else {
        return Err(invalid_syntax("`schemas` must be an array of schema URNs"));
    };
    let mut has_core = false;
    for urn in list {
        let Some(urn) = urn.as_str() else {
            return Err(invalid_syntax("`schemas` must be an array of schema URNs"));
        };
        if rs.is_core(urn) {
            has_core = true;
        } else if rs.extension(urn).is_none() {
            return Err(invalid_value(format!(
                "schema `{urn}` is not supported for {} resources",
                rs.resource_type.as_str()
            )));
        }
    }
    if has_core {
        Ok(())
    } else {
        Err(invalid_syntax(format!(
            "`schemas` must include {}",
            rs.core.id
        )))
    }
}

/// Normalise a resource body (see the module docs). With `check_client_schemas`, the
/// `schemas` the client sent are validated first (POST, PUT); PATCH results skip it.
pub(crate) fn normalize_resource(
    rs: &ResourceSchema,
    input: &Value,
    check_client_schemas: bool,
) -> Result<Map<String, Value>, ScimError> {
    let Some(object) = input.as_object() else {
        return Err(invalid_syntax("the resource must be a JSON object"));
    };
    if check_client_schemas {
        check_schemas(rs, object)?;
    }
    let mut out = Map::new();
    let mut extensions: Vec<(&'static Schema, Map<String, Value>)> = Vec::new();
    let mut extension = |schema: &'static Schema| -> usize {
        if let Some(i) = extensions.iter().position(|(s, _)| s.id == schema.id) {
            i
        } else {
            extensions.push((schema, Map::new()));
            extensions.len() - 1
        }
    };
    let mut ext_values: Vec<(usize, String, Value)> = Vec::new();
    for (key, value) in object {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(schema) = rs.extension(key) {
            let Some(members) = value.as_object() else {
                if value.is_null() {
                    continue;
                }
                return Err(invalid_value(format!("`{}` must be an object", schema.id)));
            };
            let i = extension(schema);
            for (k, v) in members {
                ext_values.push((i, k.clone(), v.clone()));
            }
            continue;
        }
        if key.contains(':') {
            // A URN-qualified attribute name (`urn:...:User:employeeNumber`).
            let path = AttrPath::parse(key).map_err(|_| {
                invalid_value(format!("`{key}` is not an attribute of a supported schema"))
            })?;
            match path.urn.as_deref() {
                Some(urn) if rs.is_core(urn) && path.sub.is_none() => {
                    set_core(rs, &mut out, &path.name, value)?;
                }
                Some(urn) if path.sub.is_none() && rs.extension(urn).is_some() => {
                    if let Some(schema) = rs.extension(urn) {
                        let i = extension(schema);
                        ext_values.push((i, path.name.clone(), value.clone()));
                    }
                }
                _ => {
                    return Err(invalid_value(format!(
                        "`{key}` is not an attribute of a supported schema"
                    )));
                }
            }
            continue;
        }
        set_core(rs, &mut out, key, value)?;
    }
    let mut ext_maps: Vec<(&'static Schema, Map<String, Value>)> = extensions;
    for (i, key, value) in ext_values {
        if let Some((schema, map)) = ext_maps.get_mut(i) {
            set_extension(schema, map, &key, &value)?;
        }
    }
    for attribute in rs.core.attributes {
        if attribute.required && !out.contains_key(attribute.name) {
            return Err(invalid_value(format!(
                "`{}` is required for {} resources",
                attribute.name,
                rs.resource_type.as_str()
            )));
        }
    }
    let mut schema_list = vec![Value::String(rs.core.id.to_owned())];
    // Declared order, so the output does not depend on the client's key order.
    for declared in rs.extensions {
        if let Some((_, map)) = ext_maps.iter().find(|(s, _)| s.id == declared.id)
            && !map.is_empty()
        {
            schema_list.push(Value::String(declared.id.to_owned()));
            out.insert(declared.id.to_owned(), Value::Object(map.clone()));
        }
    }
    out.insert("schemas".into(), Value::Array(schema_list));
    Ok(out)
}

fn set_core(
    rs: &ResourceSchema,
    out: &mut Map<String, Value>,
    key: &str,
    value: &Value,
) -> Result<(), ScimError> {
    let Some(attribute) = rs.core_attribute(key) else {
        return Ok(());
    };
    if matches!(
        attribute.mutability,
        Mutability::ReadOnly | Mutability::WriteOnly
    ) {
        return Ok(());
    }
    match normalize_value(attribute, value)? {
        Some(v) => out.insert(attribute.name.to_owned(), v),
        None => out.remove(attribute.name),
    };
    Ok(())
}

fn set_extension(
    schema: &Schema,
    map: &mut Map<String, Value>,
    key: &str,
    value: &Value,
) -> Result<(), ScimError> {
    let Some(attribute) = schema.attribute(key) else {
        // Unknown attributes of a declared extension round-trip as sent.
        if key.contains('\0') {
            return Err(invalid_value(
                "attribute names must not contain NUL characters",
            ));
        }
        check_no_nul(key, value)?;
        if is_unassigned(value) {
            map.remove(key);
        } else {
            map.insert(key.to_owned(), value.clone());
        }
        return Ok(());
    };
    if attribute.mutability == Mutability::ReadOnly {
        return Ok(());
    }
    match normalize_value(attribute, value)? {
        Some(v) => map.insert(attribute.name.to_owned(), v),
        None => map.remove(attribute.name),
    };
    Ok(())
}

/// `null`, `[]` and `{}`: no value (RFC 7643 section 2.5).
pub(crate) fn is_unassigned(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Normalise a value of `attribute`; `None` when it amounts to no value.
pub(crate) fn normalize_value(
    attribute: &Attribute,
    value: &Value,
) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if !attribute.multi_valued {
        return normalize_single(attribute, value);
    }
    let items = match value {
        Value::Array(items) => items.as_slice(),
        single => std::slice::from_ref(single),
    };
    let mut out: Vec<Value> = Vec::new();
    for item in items {
        if let Some(v) = normalize_single(attribute, item)?
            && !out.contains(&v)
        {
            out.push(v);
        }
    }
    fix_primary(&mut out);
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

/// Keep only the last `primary: true`.
pub(crate) fn fix_primary(items: &mut [Value]) {
    let last = items
        .iter()
        .rposition(|v| v.get("primary") == Some(&Value::Bool(true)));
    if let Some(last) = last {
        for (i, item) in items.iter_mut().enumerate() {
            if i != last
                && item.get("primary") == Some(&Value::Bool(true))
                && let Some(object) = item.as_object_mut()
            {
                object.insert("primary".into(), Value::Bool(false));
            }
        }
    }
}

/// Normalise one value (one element of a multi-valued attribute).
pub(crate) fn normalize_single(
    attribute: &Attribute,
    value: &Value,
) -> Result<Option<Value>, ScimError> {
    let name = attribute.name;
    if value.is_null() {
        return Ok(None);
    }
    match attribute.ty {
        AttributeType::Complex => {
            let object = match value {
                Value::Object(object) => object.clone(),
                // Entra ID sends the enterprise `manager` as a bare id; a scalar for a
                // complex attribute with a `value` sub-attribute means that value.
                Value::String(_) | Value::Number(_) | Value::Bool(_)
                    if attribute.sub_attribute("value").is_some() =>
                {
                    let mut object = Map::new();
                    object.insert("value".into(), value.clone());
                    object
                }
                _ => return Err(invalid_value(format!("`{name}` must be an object"))),
            };
            let mut out = Map::new();
            for (key, v) in &object {
                let Some(sub) = attribute.sub_attribute(key) else {
                    continue;
                };
                // `readOnly` sub-attributes are the service's to fill (`manager.displayName`,
                // the parts of `groups`).
                if sub.mutability == Mutability::ReadOnly {
                    continue;
                }
                if let Some(v) = normalize_single(sub, v)? {
                    out.insert(sub.name.to_owned(), v);
                }
            }
            Ok((!out.is_empty()).then_some(Value::Object(out)))
        }
        AttributeType::Boolean => match value {
            Value::Bool(_) => Ok(Some(value.clone())),
            // Entra ID writes booleans as "True" and "False".
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(Value::Bool(true))),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(Value::Bool(false))),
            _ => Err(invalid_value(format!("`{name}` must be a boolean"))),
        },
        AttributeType::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Some(value.clone())),
            _ => Err(invalid_value(format!("`{name}` must be an integer"))),
        },
        AttributeType::Decimal => match value {
            Value::Number(_) => Ok(Some(value.clone())),
            _ => Err(invalid_value(format!("`{name}` must be a number"))),
        },
        AttributeType::DateTime => match value {
            Value::String(s) if butterfly_core::rfc3339::parse(s).is_ok() => {
                Ok(Some(value.clone()))
            }
            _ => Err(invalid_value(format!(
                "`{name}` must be an xsd:dateTime such as 2011-05-13T04:42:34Z"
            ))),
        },
        _ => {
            let text = match value {
                Value::String(s) => checked_text(attribute, s)?,
                // `userName` identifies the user: a number there is a mapping mistake.
                Value::Number(n) if name != "userName" => n.to_string(),
                _ => return Err(invalid_value(format!("`{name}` must be a string"))),
            };
            if attribute.strict_values {
                return match attribute
                    .canonical_values
                    .iter()
                    .find(|c| c.eq_ignore_ascii_case(&text))
                {
                    Some(canonical) => Ok(Some(Value::String((*canonical).to_owned()))),
                    None => Err(invalid_value(format!(
                        "`{name}` must be one of {}",
                        attribute.canonical_values.join(", ")
                    ))),
                };
            }
            Ok(Some(Value::String(text)))
        }
    }
}

/// The most characters `userName` may have.
pub(crate) const MAX_USER_NAME_CHARS: usize = 256;
/// The most characters a display name or a part of a person's name may have.
pub(crate) const MAX_NAME_CHARS: usize = 1024;

/// The length limit of a string attribute, if it has one: `userName`, and the names
/// people and groups are shown by (`displayName`, `nickName`, the parts of `name`).
fn max_chars(attribute: &Attribute) -> Option<usize> {
    match attribute.name {
        "userName" => Some(MAX_USER_NAME_CHARS),
        "displayName" | "nickName" | "formatted" | "familyName" | "givenName" | "middleName"
        | "honorificPrefix" | "honorificSuffix" => Some(MAX_NAME_CHARS),
        _ => None,
    }
}

/// A string value as it will be stored, or why it is refused:
///
/// - control characters (NUL, ESC, DEL, the C1 range...) are refused everywhere, except
///   tab and line breaks in a `formatted` value (an address on several lines);
/// - text compared without regard to case (`caseExact: false`: names, `userName`,
///   emails) is put in Unicode NFC, so `é` written precomposed or as `e` + U+0301 is the
///   same `userName` for the uniqueness rule and for filters; `caseExact` values (ids,
///   `externalId`) are opaque and kept byte for byte;
/// - a required string (`userName`, a Group's `displayName`) must not be blank;
/// - names have a length limit ([`MAX_USER_NAME_CHARS`], [`MAX_NAME_CHARS`]).
fn checked_text(attribute: &Attribute, text: &str) -> Result<String, ScimError> {
    let name = attribute.name;
    let line_breaks_allowed = name == "formatted";
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && !(line_breaks_allowed && matches!(c, '\t' | '\n' | '\r')))
    {
        return Err(invalid_value(format!(
            "`{name}` must not contain control characters (found U+{:04X})",
            u32::from(c)
        )));
    }
    let text = if attribute.case_exact || is_nfc(text) {
        text.to_owned()
    } else {
        text.nfc().collect()
    };
    if attribute.required && text.trim().is_empty() {
        return Err(invalid_value(format!("`{name}` must not be empty")));
    }
    if let Some(limit) = max_chars(attribute) {
        let len = text.chars().count();
        if len > limit {
            return Err(invalid_value(format!(
                "`{name}` is {len} characters long; the limit is {limit}"
            )));
        }
    }
    Ok(text)
}

/// Refuse NUL anywhere in a value kept as the client sent it (an attribute of a declared
/// extension this service does not know): no database text type can hold it.
fn check_no_nul(key: &str, value: &Value) -> Result<(), ScimError> {
    let refused = || invalid_value(format!("`{key}` must not contain NUL characters"));
    match value {
        Value::String(s) if s.contains('\0') => Err(refused()),
        Value::Array(items) => items.iter().try_for_each(|v| check_no_nul(key, v)),
        Value::Object(members) => members.iter().try_for_each(|(k, v)| {
            if k.contains('\0') {
                Err(refused())
            } else {
                check_no_nul(key, v)
            }
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schemas;
    use crate::store::ResourceType;

    fn user(body: &Value) -> Result<Value, ScimError> {
        normalize_resource(ResourceSchema::of(ResourceType::User), body, true).map(Value::Object)
    }

    #[test]
    fn names_take_canonical_spelling_and_extensions_round_trip() {
        let out = user(&json!({
            "SCHEMAS": ["URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER", schemas::ENTERPRISE_USER],
            "USERNAME": "bjensen",
            "Name": {"GivenName": "Barbara", "unknownPart": "x"},
            "Active": "False",
            "emails": {"Value": "b@example.com", "TYPE": "work", "Primary": "true"},
            "password": "secret",
            "id": "client-chosen",
            "groups": [{"value": "g"}],
            "shoeSize": 40,
            "urn:ietf:params:scim:schemas:extension:ENTERPRISE:2.0:User": {
                "EMPLOYEENUMBER": 701_984,
                "manager": "26118915",
                "customThing": {"Keep": "Me"}
            },
            "urn:ietf:params:scim:schemas:extension:butterfly:2.0:User:butterflyRole": "Admin"
        }))
        .unwrap();
        assert_eq!(
            out,
            json!({
                "schemas": [schemas::USER, schemas::ENTERPRISE_USER, schemas::BUTTERFLY_USER],
                "userName": "bjensen",
                "name": {"givenName": "Barbara"},
                "active": false,
                "emails": [{"value": "b@example.com", "type": "work", "primary": true}],
                schemas::ENTERPRISE_USER: {
                    "employeeNumber": "701984",
                    "manager": {"value": "26118915"},
                    "customThing": {"Keep": "Me"}
                },
                schemas::BUTTERFLY_USER: {"butterflyRole": "admin"}
            })
        );
    }

    #[test]
    fn bad_input_is_refused_with_the_right_type() {
        let cases = [
            (json!([1]), ScimType::InvalidSyntax),
            (json!({"userName": "a"}), ScimType::InvalidSyntax),
            (
                json!({"schemas": schemas::USER, "userName": "a"}),
                ScimType::InvalidSyntax,
            ),
            (
                json!({"schemas": [schemas::GROUP], "userName": "a"}),
                ScimType::InvalidValue,
            ),
            (
                json!({"schemas": [schemas::ENTERPRISE_USER], "userName": "a"}),
                ScimType::InvalidSyntax,
            ),
            (
                json!({"schemas": [schemas::USER, "urn:example:nope:2.0:User"], "userName": "a"}),
                ScimType::InvalidValue,
            ),
            (json!({"schemas": [schemas::USER]}), ScimType::InvalidValue),
            (
                json!({"schemas": [schemas::USER], "userName": "a", "active": "yes"}),
                ScimType::InvalidValue,
            ),
            (
                json!({"schemas": [schemas::USER], "userName": true}),
                ScimType::InvalidValue,
            ),
            (
                json!({"schemas": [schemas::USER], "userName": "a", schemas::BUTTERFLY_USER: {"butterflyRole": "god"}}),
                ScimType::InvalidValue,
            ),
            (
                json!({"schemas": [schemas::USER], "userName": "a", "urn:example:x:2.0:User:foo": 1}),
                ScimType::InvalidValue,
            ),
        ];
        for (body, expected) in cases {
            let err = user(&body).unwrap_err();
            assert_eq!(err.scim_type(), Some(expected), "{body}: {err}");
            assert_eq!(err.status(), 400);
        }
    }

    #[test]
    fn one_primary_and_no_duplicates() {
        let out = user(&json!({
            "schemas": [schemas::USER],
            "userName": "a",
            "emails": [
                {"value": "a@x", "primary": true},
                {"value": "b@x", "primary": true},
                {"value": "b@x", "primary": true},
                null
            ]
        }))
        .unwrap();
        assert_eq!(
            out["emails"],
            json!([{"value": "a@x", "primary": false}, {"value": "b@x", "primary": true}])
        );
    }
}
