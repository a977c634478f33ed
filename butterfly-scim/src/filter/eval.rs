//! Evaluating a filter against a resource held as JSON (RFC 7644 section 3.4.2.2).
//!
//! The rules, and the choices where the RFC leaves room:
//!
//! - Attribute names and schema URNs are looked up without regard to ASCII case
//!   (RFC 7643 section 2.1); an exact spelling wins when both exist.
//! - A URN-qualified path looks inside the extension object keyed by that URN. A core
//!   schema URN (`urn:ietf:params:scim:schemas:core:2.0:…`) names the top level, provided
//!   the resource lists it in `schemas` (or has no `schemas` at all), so a Group URN does
//!   not find User attributes.
//! - A multi-valued attribute matches if any of its values does.
//! - Comparing a complex value with no sub-attribute named compares its `value`
//!   sub-attribute, so `emails co "example.com"` (an RFC 7644 example) means
//!   `emails.value co "example.com"`.
//! - `pr` is false for a missing attribute, `null`, `""`, `[]` and `{}`, and for complex
//!   values all of whose members are such.
//! - `ne` is exactly `not eq`: a resource without the attribute matches `title ne "x"`.
//!   `eq null` is `not pr` and `ne null` is `pr`.
//! - Strings compare per the attribute's `caseExact`; case-insensitive comparison
//!   lowercases both sides (Unicode lowercase). Ordering is by code point.
//! - `dateTime` attributes compare chronologically when both sides are RFC 3339
//!   timestamps, and as strings otherwise.
//! - Numbers compare numerically, booleans only with `eq`/`ne`.
//! - `gt`, `ge`, `lt` and `le` on boolean, binary or complex attributes never match. RFC
//!   7644 wants a 400 `invalidFilter` for those; that is the service's call to make, as it
//!   knows the schema, so here they simply select nothing.
//! - A value of the wrong JSON type for the comparison never matches.

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

use super::ast::{AttrPath, CompValue, CompareOp, Filter};
use crate::schemas;

/// The data type of an attribute (RFC 7643 section 2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttributeType {
    /// `string`.
    String,
    /// `boolean`.
    Boolean,
    /// `decimal`.
    Decimal,
    /// `integer`.
    Integer,
    /// `dateTime`: an `xsd:dateTime`, compared chronologically.
    DateTime,
    /// `binary`: base64 text.
    Binary,
    /// `reference`: a URI.
    Reference,
    /// `complex`: an object of sub-attributes.
    Complex,
}

/// What the evaluator needs to know about an attribute's schema.
///
/// The path handed in is always the full path from the resource: inside
/// `emails[type eq "work"]`, `type` is asked about as `emails.type`. Unqualified paths
/// belong to the resource's core schema.
///
/// The defaults are RFC 7643 section 2.2's: a string that is not case-exact.
pub trait AttributeRules {
    /// The attribute's type.
    fn attribute_type(&self, path: &AttrPath) -> AttributeType {
        let _ = path;
        AttributeType::String
    }

    /// Whether string comparisons on the attribute are case-sensitive.
    fn case_exact(&self, path: &AttrPath) -> bool {
        let _ = path;
        false
    }
}

/// The attribute rules of RFC 7643: the core User and Group schemas (section 4, the
/// common attributes of section 3.1) and the enterprise User extension (section 4.3).
///
/// `id`, `externalId`, `meta.resourceType`, `meta.version` and references (RFC 7643
/// section 2.3.7: "A reference is case exact") are case-exact; `userName` and most other
/// strings are not. Attributes it does not know are case-insensitive strings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultRules;

/// (type, caseExact)
type Characteristics = (AttributeType, bool);

const PLAIN_STRING: Characteristics = (AttributeType::String, false);
const EXACT_STRING: Characteristics = (AttributeType::String, true);
const REFERENCE: Characteristics = (AttributeType::Reference, true);
const COMPLEX: Characteristics = (AttributeType::Complex, false);
const BOOLEAN: Characteristics = (AttributeType::Boolean, false);
const DATE_TIME: Characteristics = (AttributeType::DateTime, false);

impl DefaultRules {
    fn lookup(path: &AttrPath) -> Option<Characteristics> {
        let name = path.name.to_ascii_lowercase();
        let sub = path.sub.as_deref().map(str::to_ascii_lowercase);
        match path.urn.as_deref() {
            None => core_attribute(&name, sub.as_deref()),
            Some(urn)
                if urn.eq_ignore_ascii_case(schemas::USER)
                    || urn.eq_ignore_ascii_case(schemas::GROUP) =>
            {
                core_attribute(&name, sub.as_deref())
            }
            Some(urn) if urn.eq_ignore_ascii_case(schemas::ENTERPRISE_USER) => {
                enterprise_attribute(&name, sub.as_deref())
            }
            Some(_) => None,
        }
    }
}

impl AttributeRules for DefaultRules {
    fn attribute_type(&self, path: &AttrPath) -> AttributeType {
        DefaultRules::lookup(path).map_or(AttributeType::String, |(ty, _)| ty)
    }

    fn case_exact(&self, path: &AttrPath) -> bool {
        DefaultRules::lookup(path).is_some_and(|(_, exact)| exact)
    }
}

/// RFC 7643 sections 3.1, 4.1 and 4.2, names lowercased.
fn core_attribute(name: &str, sub: Option<&str>) -> Option<Characteristics> {
    Some(match (name, sub) {
        ("id" | "externalid", None) | ("meta", Some("resourcetype" | "version")) => EXACT_STRING,
        // `schemas` holds URIs, but the service treats schema URNs case-insensitively
        // everywhere else (extension lookup), so filtering on them does too.
        (
            "schemas" | "username" | "displayname" | "nickname" | "title" | "usertype"
            | "preferredlanguage" | "locale" | "timezone" | "password",
            None,
        )
        | (
            "name",
            Some(
                "formatted" | "familyname" | "givenname" | "middlename" | "honorificprefix"
                | "honorificsuffix",
            ),
        ) => PLAIN_STRING,
        ("meta", Some("created" | "lastmodified")) => DATE_TIME,
        ("meta", Some("location"))
        | ("profileurl", None)
        | ("photos", Some("value"))
        | (_, Some("$ref")) => REFERENCE,
        ("active", None) => BOOLEAN,
        ("x509certificates", Some("value")) => (AttributeType::Binary, true),
        ("meta" | "name", None) => COMPLEX,
        (multi, None) if is_multi_valued(multi) => COMPLEX,
        (multi, Some("primary")) if is_multi_valued(multi) => BOOLEAN,
        // `value`, `display`, `type` and the address parts. `groups.value` and
        // `members.value` hold ids, yet RFC 7643 section 8.7 declares them not case-exact.
        (multi, Some(_)) if is_multi_valued(multi) => PLAIN_STRING,
        _ => return None,
    })
}

/// The multi-valued complex attributes of the core User and Group schemas.
fn is_multi_valued(name: &str) -> bool {
    matches!(
        name,
        "emails"
            | "phonenumbers"
            | "ims"
            | "photos"
            | "addresses"
            | "groups"
            | "entitlements"
            | "roles"
            | "x509certificates"
            | "members"
    )
}

/// RFC 7643 section 4.3, names lowercased.
fn enterprise_attribute(name: &str, sub: Option<&str>) -> Option<Characteristics> {
    Some(match (name, sub) {
        ("employeenumber" | "costcenter" | "organization" | "division" | "department", None)
        | ("manager", Some("value" | "displayname")) => PLAIN_STRING,
        ("manager", None) => COMPLEX,
        ("manager", Some("$ref")) => REFERENCE,
        _ => return None,
    })
}

/// Where paths are resolved from.
enum Scope<'a> {
    /// The whole resource.
    Resource(&'a Value),
    /// One value of a multi-valued attribute, inside `parent[...]`.
    Element {
        element: &'a Value,
        parent: &'a AttrPath,
    },
}

impl Filter {
    /// Whether `resource` (a SCIM resource as JSON) matches this filter.
    ///
    /// ```
    /// use butterfly_scim::filter::{DefaultRules, Filter};
    /// use serde_json::json;
    ///
    /// let user = json!({
    ///     "userName": "bjensen",
    ///     "meta": {"lastModified": "2011-05-13T04:42:34Z"},
    ///     "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "701984"}
    /// });
    /// let f = Filter::parse(r#"USERNAME eq "BJensen" and meta.lastModified gt "2011-05-13T06:00:00+02:00""#)?;
    /// assert!(f.matches(&user, &DefaultRules));
    /// let f = Filter::parse(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber sw "70""#)?;
    /// assert!(f.matches(&user, &DefaultRules));
    /// # Ok::<(), butterfly_scim::filter::FilterError>(())
    /// ```
    pub fn matches(&self, resource: &Value, rules: &dyn AttributeRules) -> bool {
        evaluate(self, &Scope::Resource(resource), rules)
    }
}

fn evaluate(filter: &Filter, scope: &Scope<'_>, rules: &dyn AttributeRules) -> bool {
    match filter {
        Filter::And(left, right) => evaluate(left, scope, rules) && evaluate(right, scope, rules),
        Filter::Or(left, right) => evaluate(left, scope, rules) || evaluate(right, scope, rules),
        Filter::Not(inner) => !evaluate(inner, scope, rules),
        Filter::Present(path) => is_present_at(scope, path),
        Filter::Compare { path, op, value } => compare(scope, path, *op, value, rules),
        Filter::ValuePath { path, filter } => match scope {
            Scope::Resource(_) => {
                let (values, full) = resolve(scope, path);
                values.into_iter().any(|element| {
                    element.is_object()
                        && evaluate(
                            filter,
                            &Scope::Element {
                                element,
                                parent: &full,
                            },
                            rules,
                        )
                })
            }
            // The parser never builds this; a hand-built one selects nothing rather than
            // guessing what a sub-attribute of a sub-attribute would mean.
            Scope::Element { .. } => false,
        },
    }
}

fn is_present_at(scope: &Scope<'_>, path: &AttrPath) -> bool {
    resolve(scope, path).0.into_iter().any(is_present)
}

fn compare(
    scope: &Scope<'_>,
    path: &AttrPath,
    op: CompareOp,
    value: &CompValue,
    rules: &dyn AttributeRules,
) -> bool {
    match (op, value) {
        (CompareOp::Eq, CompValue::Null) => return !is_present_at(scope, path),
        (CompareOp::Ne, CompValue::Null) => return is_present_at(scope, path),
        (CompareOp::Ne, _) => return !compare(scope, path, CompareOp::Eq, value, rules),
        (_, CompValue::Null) => return false,
        _ => {}
    }
    let (values, full) = resolve(scope, path);
    values.into_iter().any(|found| match found {
        // Ordering a complex value is meaningless, even through its `value`.
        Value::Object(_) if op.is_ordering() => false,
        Value::Object(object) if full.sub.is_none() => get_ignore_case(object, "value")
            .is_some_and(|inner| {
                let value_path = full.clone().with_sub("value");
                compare_one(inner, op, value, rules, &value_path)
            }),
        _ => compare_one(found, op, value, rules, &full),
    })
}

/// Compare one attribute value with the operator value.
fn compare_one(
    found: &Value,
    op: CompareOp,
    value: &CompValue,
    rules: &dyn AttributeRules,
    path: &AttrPath,
) -> bool {
    let ty = rules.attribute_type(path);
    if op.is_ordering()
        && matches!(
            ty,
            AttributeType::Boolean | AttributeType::Binary | AttributeType::Complex
        )
    {
        return false;
    }
    match (found, value) {
        (Value::Bool(a), CompValue::Bool(b)) => op == CompareOp::Eq && a == b,
        (Value::Number(a), CompValue::Number(b)) => {
            compare_numbers(a, b).is_some_and(|ordering| ordering_matches(op, ordering))
        }
        (Value::String(a), CompValue::String(b)) => {
            if ty == AttributeType::DateTime
                && !matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
                && let (Ok(a), Ok(b)) = (
                    butterfly_core::rfc3339::parse(a),
                    butterfly_core::rfc3339::parse(b),
                )
            {
                return ordering_matches(op, a.cmp(&b));
            }
            compare_strings(a, b, op, rules.case_exact(path))
        }
        _ => false,
    }
}

fn compare_strings(found: &str, wanted: &str, op: CompareOp, case_exact: bool) -> bool {
    let (found, wanted) = if case_exact {
        (found.into(), wanted.into())
    } else {
        (found.to_lowercase(), wanted.to_lowercase())
    };
    match op {
        CompareOp::Co => found.contains(wanted.as_str()),
        CompareOp::Sw => found.starts_with(wanted.as_str()),
        CompareOp::Ew => found.ends_with(wanted.as_str()),
        _ => ordering_matches(op, found.cmp(&wanted)),
    }
}

/// Integers exactly, anything else as `f64`.
fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    fn integer(n: &Number) -> Option<i128> {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    }
    match (integer(a), integer(b)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// Whether an ordering satisfies `op`. `co`, `sw`, `ew` (and `ne`, handled earlier) are
/// not orderings, so never.
fn ordering_matches(op: CompareOp, ordering: Ordering) -> bool {
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        _ => false,
    }
}

/// RFC 7644 `pr`: a non-empty, non-null value, or a complex value with such a member.
fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(is_present),
        Value::Object(members) => members.values().any(is_present),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// The values `path` names in `scope`, arrays flattened, with the full path from the
/// resource for asking the rules about them.
fn resolve<'a>(scope: &Scope<'a>, path: &AttrPath) -> (Vec<&'a Value>, AttrPath) {
    let mut out = Vec::new();
    match scope {
        Scope::Resource(root) => {
            if let Some(attribute) = container(root, path.urn.as_deref())
                .and_then(|c| get_ignore_case_value(c, &path.name))
            {
                collect(attribute, path.sub.as_deref(), &mut out);
            }
            (out, path.clone())
        }
        Scope::Element { element, parent } => {
            // Inside `emails[...]` a path names a sub-attribute of `emails`; a URN there
            // can only repeat the parent's.
            let urn_fits = match (&path.urn, &parent.urn) {
                (None, _) => true,
                (Some(own), Some(parents)) => own.eq_ignore_ascii_case(parents),
                (Some(_), None) => false,
            };
            if urn_fits && let Some(attribute) = get_ignore_case_value(element, &path.name) {
                collect(attribute, path.sub.as_deref(), &mut out);
            }
            let full = AttrPath {
                urn: parent.urn.clone(),
                name: parent.name.clone(),
                sub: Some(path.name.clone()),
            };
            (out, full)
        }
    }
}

/// The prefix of the core schema URNs, whose attributes sit at the top level.
const CORE_PREFIX: &str = "urn:ietf:params:scim:schemas:core:2.0:";

/// The object an attribute with this URN lives in.
fn container<'a>(root: &'a Value, urn: Option<&str>) -> Option<&'a Value> {
    let Some(urn) = urn else {
        return Some(root);
    };
    if let Some(extension) = get_ignore_case_value(root, urn) {
        return Some(extension);
    }
    let is_core = urn
        .get(..CORE_PREFIX.len())
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(CORE_PREFIX));
    let declared = match root.get("schemas").and_then(Value::as_array) {
        Some(list) => list
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn))),
        None => true,
    };
    (is_core && declared).then_some(root)
}

/// Push the values at `attribute` (and `sub`, if given) into `out`, flattening arrays.
fn collect<'a>(attribute: &'a Value, sub: Option<&str>, out: &mut Vec<&'a Value>) {
    let items = match attribute {
        Value::Array(items) => items.as_slice(),
        single => std::slice::from_ref(single),
    };
    for item in items {
        let leaf = match sub {
            None => Some(item),
            Some(sub) => get_ignore_case_value(item, sub),
        };
        match leaf {
            Some(Value::Array(values)) => out.extend(values),
            Some(value) => out.push(value),
            None => {}
        }
    }
}

fn get_ignore_case_value<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value
        .as_object()
        .and_then(|object| get_ignore_case(object, key))
}

/// A member by name, exact spelling first, then ignoring ASCII case.
fn get_ignore_case<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::ast::{AttrPath, Filter};
    use super::{AttributeRules, AttributeType, DefaultRules};
    use crate::schemas;

    /// The full User of RFC 7643 section 8.2, trimmed, plus the enterprise extension.
    fn bjensen() -> Value {
        json!({
            "schemas": [schemas::USER, schemas::ENTERPRISE_USER],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "701984",
            "userName": "bjensen@example.com",
            "name": {
                "formatted": "Ms. Barbara J Jensen, III",
                "familyName": "Jensen",
                "givenName": "Barbara",
                "middleName": ""
            },
            "displayName": "Babs Jensen",
            "nickName": "",
            "title": "Tour Guide",
            "userType": "Employee",
            "active": true,
            "loginCount": 42,
            "score": 1.5,
            "tags": ["blue", "Green"],
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "ims": [{"value": "someaimhandle", "type": "aim"}],
            "phoneNumbers": [],
            "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAw"}],
            "groups": [
                {"value": "e9e30dba", "$ref": "https://example.com/v2/Groups/e9e30dba", "display": "Tour Guides"}
            ],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "701984",
                "costCenter": "4130",
                "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
            },
            "meta": {
                "resourceType": "User",
                "created": "2010-01-23T04:56:22Z",
                "lastModified": "2011-05-13T04:42:34Z",
                "version": "W/\"3694e05e9dff591\"",
                "location": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"
            }
        })
    }

    #[track_caller]
    fn check(resource: &Value, filter: &str, expected: bool) {
        let parsed = match Filter::parse(filter) {
            Ok(f) => f,
            Err(e) => panic!("{filter:?}: {e}"),
        };
        assert_eq!(
            parsed.matches(resource, &DefaultRules),
            expected,
            "{filter}"
        );
        // The canonical form means the same thing.
        let reparsed = match Filter::parse(&parsed.to_string()) {
            Ok(f) => f,
            Err(e) => panic!("{parsed}: {e}"),
        };
        assert_eq!(
            reparsed.matches(resource, &DefaultRules),
            expected,
            "{parsed}"
        );
    }

    #[test]
    fn rfc_examples_against_bjensen() {
        let user = bjensen();
        for (filter, expected) in [
            (r#"userName eq "bjensen@example.com""#, true),
            (r#"name.familyName co "ens""#, true),
            (r#"name.familyName co "O'Malley""#, false),
            (r#"userName sw "B""#, true),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "b""#,
                true,
            ),
            ("title pr", true),
            (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, false),
            (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, true),
            (r#"meta.lastModified lt "2011-05-13T04:42:35Z""#, true),
            (r#"meta.lastModified le "2011-05-13T04:42:33Z""#, false),
            (r#"title pr and userType eq "Employee""#, true),
            (r#"title pr or userType eq "Intern""#, true),
            (
                r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
                true,
            ),
            (
                r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
                true,
            ),
            (
                r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
                false,
            ),
            (
                r#"userType eq "Employee" and (emails.type eq "work")"#,
                true,
            ),
            (
                r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
                true,
            ),
            (
                r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
                true,
            ),
        ] {
            check(&user, filter, expected);
        }
    }

    #[test]
    fn attribute_names_and_urns_ignore_case() {
        let user = bjensen();
        check(&user, r#"USERNAME eq "bjensen@example.com""#, true);
        check(&user, r#"Name.FAMILYNAME eq "jensen""#, true);
        check(
            &user,
            r#"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:EMPLOYEENUMBER eq "701984""#,
            true,
        );
        let shouty =
            json!({"UserName": "bjensen", "Emails": [{"Value": "X@Y.COM", "TYPE": "work"}]});
        check(&shouty, r#"userName eq "BJENSEN""#, true);
        check(
            &shouty,
            r#"emails[type eq "work" and value eq "x@y.com"]"#,
            true,
        );
        // The exact spelling wins when a resource carries both.
        let both = json!({"userName": "exact", "username": "other"});
        check(&both, r#"userName eq "exact""#, true);
        check(&both, r#"userName eq "other""#, false);
    }

    #[test]
    fn case_exactness_follows_rfc_7643() {
        let user = bjensen();
        // userName is not case-exact; id, externalId, meta.version and references are.
        check(&user, r#"userName eq "BJensen@Example.COM""#, true);
        check(
            &user,
            r#"id eq "2819C223-7F76-453A-919D-413861904646""#,
            false,
        );
        check(
            &user,
            r#"id eq "2819c223-7f76-453a-919d-413861904646""#,
            true,
        );
        check(&user, r#"externalId sw "7019""#, true);
        check(&user, r#"meta.version eq "W/\"3694E05E9DFF591\"""#, false);
        check(&user, r#"meta.version eq "W/\"3694e05e9dff591\"""#, true);
        check(&user, r#"meta.resourceType eq "user""#, false);
        check(&user, r#"groups.$ref ew "/groups/e9e30dba""#, false);
        check(&user, r#"groups.$ref ew "/Groups/e9e30dba""#, true);
        check(&user, r#"groups.display eq "tour guides""#, true);
        check(&user, r#"tags eq "green""#, true);
    }

    #[test]
    fn string_operators() {
        let user = bjensen();
        check(&user, r#"title co "our G""#, true);
        check(&user, r#"title sw "tour""#, true);
        check(&user, r#"title ew "GUIDE""#, true);
        check(&user, r#"title ew "Tour""#, false);
        check(&user, r#"title sw "Tour Guide""#, true);
        check(&user, r#"title gt "Tour""#, true);
        check(&user, r#"title lt "tour guidf""#, true);
        check(&user, r#"title le "TOUR GUIDE""#, true);
        check(&user, r#"title ge "tour guidea""#, false);
        check(&user, r"title eq 1", false);
    }

    #[test]
    fn multi_valued_attributes_match_if_any_value_does() {
        let user = bjensen();
        check(&user, r#"emails.type eq "home""#, true);
        check(&user, r#"emails.type eq "other""#, false);
        check(&user, r#"emails co "jensen.org""#, true);
        check(&user, r"emails.primary eq true", true);
        check(&user, r#"tags eq "blue""#, true);
        check(&user, r#"tags sw "gr""#, true);
    }

    #[test]
    fn value_paths_test_one_value_at_a_time() {
        let mixed = json!({
            "emails": [
                {"type": "work", "value": "a@other.org"},
                {"type": "home", "value": "b@example.com"}
            ]
        });
        check(
            &mixed,
            r#"emails[type eq "work" and value co "@example.com"]"#,
            false,
        );
        check(
            &mixed,
            r#"emails.type eq "work" and emails.value co "@example.com""#,
            true,
        );
        check(
            &mixed,
            r#"emails[type eq "home" and value co "@example.com"]"#,
            true,
        );
        check(&mixed, r#"emails[not (type eq "work")]"#, true);
        check(&mixed, r#"emails[type eq "work" or type eq "other"]"#, true);
        // A single-valued complex attribute works the same way.
        let user = bjensen();
        check(
            &user,
            r#"name[givenName eq "barbara" and familyName pr]"#,
            true,
        );
        check(
            &user,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[displayName sw "john"]"#,
            true,
        );
        check(&user, r"phoneNumbers[type pr]", false);
        check(&user, r"userName[value pr]", false);
    }

    #[test]
    fn presence() {
        let user = bjensen();
        check(&user, "title pr", true);
        check(&user, "emails pr", true);
        check(&user, "name pr", true);
        check(&user, "active pr", true);
        check(&user, "nickName pr", false);
        check(&user, "name.middleName pr", false);
        check(&user, "phoneNumbers pr", false);
        check(&user, "missing pr", false);
        check(&user, "not (missing pr)", true);
        let empties = json!({"n": null, "s": "", "a": [], "o": {}, "oo": {"value": null, "x": ""}, "z": 0, "f": false});
        for (attribute, present) in [
            ("n", false),
            ("s", false),
            ("a", false),
            ("o", false),
            ("oo", false),
            ("z", true),
            ("f", true),
        ] {
            check(&empties, &format!("{attribute} pr"), present);
        }
    }

    #[test]
    fn ne_is_not_eq_and_null_means_absent() {
        let user = bjensen();
        check(&user, r#"title ne "Tour Guide""#, false);
        check(&user, r#"title ne "Intern""#, true);
        check(&user, r#"missing ne "x""#, true);
        check(&user, r#"emails.type ne "work""#, false);
        check(&user, "title eq null", false);
        check(&user, "missing eq null", true);
        check(&user, "nickName eq null", true);
        check(&user, "title ne null", true);
        check(&user, "missing ne null", false);
        check(&user, "title gt null", false);
    }

    #[test]
    fn extensions_and_schema_urns() {
        let user = bjensen();
        let ent = schemas::ENTERPRISE_USER;
        check(&user, &format!(r#"{ent}:employeeNumber eq "701984""#), true);
        check(
            &user,
            &format!(r#"{ent}:manager.value sw "26118915""#),
            true,
        );
        check(
            &user,
            &format!(r#"{ent}:manager eq "26118915-6090-4610-87e4-49d8ca9f808d""#),
            true,
        );
        check(&user, &format!("{ent}:department pr"), false);
        // Unqualified names do not reach into extensions.
        check(&user, r#"employeeNumber eq "701984""#, false);
        // The resource's own core schema URN names the top level; another core schema's
        // does not.
        check(
            &user,
            r"urn:ietf:params:scim:schemas:core:2.0:User:title pr",
            true,
        );
        check(
            &user,
            r"urn:ietf:params:scim:schemas:core:2.0:Group:title pr",
            false,
        );
        check(&user, r"urn:example:unknown:2.0:User:title pr", false);
        // Without `schemas`, any core schema URN names the top level.
        check(
            &json!({"title": "x"}),
            r"urn:ietf:params:scim:schemas:core:2.0:User:title pr",
            true,
        );
        // Inside brackets, a URN may only repeat the parent's.
        check(
            &user,
            &format!(r#"{ent}:manager[{ent}:displayName sw "John"]"#),
            true,
        );
        check(&user, &format!(r#"emails[{ent}:type eq "work"]"#), false);
    }

    #[test]
    fn date_times_compare_chronologically() {
        let user = bjensen();
        // The same instant in another offset and with fractional seconds.
        check(
            &user,
            r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#,
            true,
        );
        check(
            &user,
            r#"meta.lastModified eq "2011-05-13T04:42:34.000Z""#,
            true,
        );
        // Lexically "2011-05-13T05..." > "2011-05-13T04...", chronologically it is earlier.
        check(
            &user,
            r#"meta.lastModified gt "2011-05-13T05:00:00+01:00""#,
            true,
        );
        check(&user, r#"meta.created lt "2010-01-23T04:56:22.5Z""#, true);
        check(
            &user,
            r#"meta.created ge "2010-01-01T00:00:00Z" and meta.created lt "2011-01-01T00:00:00Z""#,
            true,
        );
        // Not a timestamp: falls back to comparing text.
        check(&user, r#"meta.created sw "2010-01""#, true);
        check(&user, r#"meta.created gt "2010""#, true);
    }

    #[test]
    fn numbers_and_booleans() {
        let user = bjensen();
        check(&user, "loginCount eq 42", true);
        check(&user, "loginCount eq 42.0", true);
        check(&user, "loginCount gt 41.5", true);
        check(&user, "loginCount le -1", false);
        check(&user, "loginCount co 4", false);
        check(&user, "score ge 1.5", true);
        check(&user, "score lt 2", true);
        check(&user, r#"loginCount eq "42""#, false);
        check(
            &json!({"big": 18_446_744_073_709_551_615_u64}),
            "big gt -1",
            true,
        );
        check(&user, "active eq true", true);
        check(&user, "active eq false", false);
        check(&user, "active ne false", true);
        check(&user, r#"active eq "true""#, false);
    }

    #[test]
    fn ordering_on_booleans_binaries_and_complex_values_never_matches() {
        let user = bjensen();
        for filter in [
            "active gt false",
            "active ge true",
            "active le true",
            r#"x509Certificates.value gt "A""#,
            r#"x509Certificates gt "A""#,
            r#"name gt "A""#,
            r#"emails lt "zzz""#,
            r#"meta ge "A""#,
        ] {
            check(&user, filter, false);
        }
        // `eq` on a binary attribute is fine, and case-exact.
        check(
            &user,
            r#"x509Certificates.value eq "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAw""#,
            true,
        );
        check(
            &user,
            r#"x509Certificates.value eq "miidqzccaqygawibagiceaawdqyjkozihvcnaqefbqaw""#,
            false,
        );
    }

    #[test]
    fn groups() {
        let group = json!({
            "schemas": [schemas::GROUP],
            "id": "e9e30dba",
            "displayName": "Tour Guides",
            "members": [
                {"value": "2819c223", "$ref": "https://example.com/v2/Users/2819c223", "display": "Babs Jensen"},
                {"value": "902c246b", "$ref": "https://example.com/v2/Users/902c246b", "display": "Mandy Pepperidge"}
            ]
        });
        check(&group, r#"displayName eq "tour guides""#, true);
        check(&group, r#"members[value eq "902c246b"]"#, true);
        check(&group, r#"members.value eq "00000000""#, false);
        check(
            &group,
            r"urn:ietf:params:scim:schemas:core:2.0:Group:displayName pr",
            true,
        );
        check(
            &group,
            r"urn:ietf:params:scim:schemas:core:2.0:User:displayName pr",
            false,
        );
    }

    #[test]
    fn non_object_resources_match_nothing_but_negations() {
        for resource in [json!(null), json!("text"), json!([1, 2]), json!(7)] {
            check(&resource, "a pr", false);
            check(&resource, r#"a eq "x""#, false);
            check(&resource, r"a[b pr]", false);
            check(&resource, r#"a ne "x""#, true);
        }
    }

    #[test]
    fn default_rules_know_the_core_schemas() {
        let rules = DefaultRules;
        let ent = schemas::ENTERPRISE_USER;
        let path = |s: &str| match AttrPath::parse(s) {
            Ok(p) => p,
            Err(e) => panic!("{s}: {e}"),
        };
        let qualified_user_name = format!("{}:userName", schemas::USER);
        let employee_number = format!("{ent}:employeeNumber");
        let manager = format!("{ent}:manager");
        let manager_ref = format!("{ent}:manager.$ref");
        for (p, ty, exact) in [
            ("id", AttributeType::String, true),
            ("ID", AttributeType::String, true),
            ("externalId", AttributeType::String, true),
            ("userName", AttributeType::String, false),
            (qualified_user_name.as_str(), AttributeType::String, false),
            ("meta", AttributeType::Complex, false),
            ("meta.version", AttributeType::String, true),
            ("meta.lastModified", AttributeType::DateTime, false),
            ("meta.created", AttributeType::DateTime, false),
            ("meta.location", AttributeType::Reference, true),
            ("active", AttributeType::Boolean, false),
            ("emails", AttributeType::Complex, false),
            ("emails.value", AttributeType::String, false),
            ("emails.primary", AttributeType::Boolean, false),
            ("photos.value", AttributeType::Reference, true),
            ("x509Certificates.value", AttributeType::Binary, true),
            ("members.$ref", AttributeType::Reference, true),
            ("profileUrl", AttributeType::Reference, true),
            ("name.givenName", AttributeType::String, false),
            (employee_number.as_str(), AttributeType::String, false),
            (manager.as_str(), AttributeType::Complex, false),
            (manager_ref.as_str(), AttributeType::Reference, true),
            ("somethingElse", AttributeType::String, false),
            ("urn:example:x:2.0:Thing:id", AttributeType::String, false),
        ] {
            let path = path(p);
            assert_eq!(rules.attribute_type(&path), ty, "{p}");
            assert_eq!(rules.case_exact(&path), exact, "{p}");
        }
    }

    #[test]
    fn custom_rules_are_honoured() {
        struct Strict;
        impl AttributeRules for Strict {
            fn case_exact(&self, _: &AttrPath) -> bool {
                true
            }
            fn attribute_type(&self, path: &AttrPath) -> AttributeType {
                if path.name.eq_ignore_ascii_case("hired") {
                    AttributeType::DateTime
                } else {
                    AttributeType::String
                }
            }
        }
        let resource = json!({"userName": "bjensen", "hired": "2020-01-01T10:00:00+05:00"});
        let matches = |f: &str| Filter::parse(f).is_ok_and(|f| f.matches(&resource, &Strict));
        assert!(!matches(r#"userName eq "BJENSEN""#));
        assert!(matches(r#"userName eq "bjensen""#));
        assert!(matches(r#"hired lt "2020-01-01T06:00:00Z""#));
        // With the defaults, `hired` is an ordinary string.
        assert!(
            !Filter::parse(r#"hired lt "2020-01-01T06:00:00Z""#)
                .is_ok_and(|f| f.matches(&resource, &DefaultRules))
        );
    }
}
