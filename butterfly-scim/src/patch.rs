//! The PATCH engine (RFC 7644 section 3.5.2), with the dialects real clients speak.
//!
//! [`PatchRequest::parse`] reads a `PatchOp` message; [`PatchRequest::apply`] applies its
//! operations, in order, to a copy of a resource and returns the result, or the error of
//! the first operation that fails, leaving the original untouched: a request is applied
//! whole or not at all. The service stores the result with compare-and-swap, so a PATCH
//! is atomic against concurrent writers too.
//!
//! What is accepted, beyond the RFC's examples:
//!
//! - `op` in any case (`"Add"`, `"Replace"`, `"Remove"`: Entra ID);
//! - booleans as strings (`"True"`, `"False"`: Entra ID), for boolean attributes;
//! - operations without `path` whose `value` object has dotted keys (`"name.givenName"`),
//!   URN-qualified keys (`"urn:...:enterprise:2.0:User:employeeNumber"`) or whole
//!   extension objects; `readOnly` keys in such objects (Okta sends the group's own `id`
//!   when renaming it) and unknown core attributes are ignored, as in a POST body;
//! - `remove` of a multi-valued attribute with a `value` array removes just those values
//!   (Entra ID removes group members this way), and removing a value that is not there
//!   is not an error;
//! - `add` or `replace` through a value filter that matches nothing
//!   (`emails[type eq "work"].value` when there is no work email) adds a new value built
//!   from the filter's `eq` comparisons, as Entra ID expects; only when the filter is not
//!   a conjunction of `eq` comparisons is that `noTarget`;
//! - the enterprise `manager` given as a bare id (Entra ID);
//! - `add` of a value a multi-valued attribute already has changes nothing (for `members`,
//!   a member is identified by its `value`).
//!
//! Errors: an unparseable path is `invalidPath`, and so is a path naming an attribute the
//! schemas do not know; a path naming a `readOnly` attribute (`id`, `meta`, `groups`), or
//! a change to an `immutable` value that is already set (a member's `value`), is
//! `mutability`; `remove` without a path, or with a value filter that matches nothing, is
//! `noTarget` (RFC 7644 section 3.5.2.2); a value of the wrong type is `invalidValue`; a
//! malformed message is `invalidSyntax`.

use serde_json::{Map, Value};

use crate::filter::{AttrPath, CompValue, CompareOp, Filter, PatchPath};
use crate::normalize::{
    fix_primary, get_ci, invalid_syntax, invalid_value, is_unassigned, key_ci, normalize_resource,
    normalize_single, normalize_value,
};
use crate::schema::{Attribute, Mutability, ResourceSchema, Schema, SchemaRules};
use crate::store::ResourceType;
use crate::{ScimError, ScimType, schemas};

/// The most operations one request may carry: far more than any client sends, few
/// enough that a request cannot buy unbounded work.
pub const MAX_OPERATIONS: usize = 1000;

/// A PATCH operation's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatchOp {
    /// `add` (RFC 7644 section 3.5.2.1).
    Add,
    /// `remove` (section 3.5.2.2).
    Remove,
    /// `replace` (section 3.5.2.3).
    Replace,
}

impl PatchOp {
    /// The kind an `op` value names, in any case.
    pub fn parse(op: &str) -> Option<PatchOp> {
        [PatchOp::Add, PatchOp::Remove, PatchOp::Replace]
            .into_iter()
            .find(|o| o.as_str().eq_ignore_ascii_case(op))
    }

    /// The canonical spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PatchOp::Add => "add",
            PatchOp::Remove => "remove",
            PatchOp::Replace => "replace",
        }
    }
}

/// One operation of a PATCH request.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    /// What to do.
    pub op: PatchOp,
    /// Where; `None` means the resource itself.
    pub path: Option<PatchPath>,
    /// The value, if the operation has one.
    pub value: Option<Value>,
}

/// A parsed `urn:ietf:params:scim:api:messages:2.0:PatchOp` message.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    /// The operations, in order.
    pub operations: Vec<PatchOperation>,
}

fn syntax(detail: impl Into<String>) -> ScimError {
    invalid_syntax(detail)
}

fn no_target(detail: impl Into<String>) -> ScimError {
    ScimError::new(400, detail).with_type(ScimType::NoTarget)
}

fn invalid_path(detail: impl Into<String>) -> ScimError {
    ScimError::new(400, detail).with_type(ScimType::InvalidPath)
}

fn mutability(detail: impl Into<String>) -> ScimError {
    ScimError::new(400, detail).with_type(ScimType::Mutability)
}

impl PatchRequest {
    /// Read a PATCH request body.
    ///
    /// ```
    /// use butterfly_scim::patch::{PatchOp, PatchRequest};
    /// use serde_json::json;
    ///
    /// let request = PatchRequest::parse(&json!({
    ///     "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    ///     "Operations": [{"op": "Replace", "path": "active", "value": "False"}]
    /// }))?;
    /// assert_eq!(request.operations[0].op, PatchOp::Replace);
    /// # Ok::<(), butterfly_scim::ScimError>(())
    /// ```
    pub fn parse(body: &Value) -> Result<PatchRequest, ScimError> {
        let Some(object) = body.as_object() else {
            return Err(syntax("a PATCH request must be a JSON object"));
        };
        let declared = get_ci(object, "schemas")
            .and_then(Value::as_array)
            .is_some_and(|list| {
                list.iter().any(|s| {
                    s.as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(schemas::PATCH_OP))
                })
            });
        if !declared {
            return Err(syntax(format!(
                "`schemas` must include {}",
                schemas::PATCH_OP
            )));
        }
        let Some(list) = get_ci(object, "Operations").and_then(Value::as_array) else {
            return Err(syntax("`Operations` must be an array of operations"));
        };
        if list.is_empty() {
            return Err(syntax("`Operations` is empty"));
        }
        if list.len() > MAX_OPERATIONS {
            return Err(ScimError::new(
                400,
                format!("a PATCH request may carry at most {MAX_OPERATIONS} operations"),
            )
            .with_type(ScimType::TooMany));
        }
        let mut operations = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let Some(item) = item.as_object() else {
                return Err(syntax(format!("operation {i} is not an object")));
            };
            let op = get_ci(item, "op")
                .and_then(Value::as_str)
                .and_then(PatchOp::parse)
                .ok_or_else(|| {
                    syntax(format!(
                        "operation {i}: `op` must be add, remove or replace"
                    ))
                })?;
            let path = match get_ci(item, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.trim().is_empty() => None,
                Some(Value::String(s)) => {
                    Some(PatchPath::parse(s.trim()).map_err(ScimError::from)?)
                }
                Some(_) => {
                    return Err(invalid_path(format!(
                        "operation {i}: `path` must be a string"
                    )));
                }
            };
            let value = get_ci(item, "value").cloned();
            operations.push(PatchOperation { op, path, value });
        }
        Ok(PatchRequest { operations })
    }

    /// Apply the operations to `resource` (a representation of `resource_type`, with or
    /// without `id` and `meta`, which are left out of the result) and return the
    /// normalised result, ready for the store. On error nothing was changed.
    pub fn apply(&self, resource_type: ResourceType, resource: &Value) -> Result<Value, ScimError> {
        let rs = ResourceSchema::of(resource_type);
        let mut doc = match resource {
            Value::Object(object) => object.clone(),
            _ => return Err(invalid_value("the resource is not a JSON object")),
        };
        doc.remove("id");
        doc.remove("meta");
        for operation in &self.operations {
            apply_operation(rs, &mut doc, operation)?;
        }
        normalize_resource(rs, &Value::Object(doc), false).map(Value::Object)
    }
}

/// Where an attribute lives and what it is.
#[derive(Debug, Clone)]
enum Target {
    /// A whole declared extension object.
    Extension(&'static Schema),
    /// An attribute (and maybe a sub-attribute of it).
    Attribute {
        /// `None` for the core schema.
        extension: Option<&'static Schema>,
        /// `None` for an attribute of a declared extension that the schema does not list.
        attribute: Option<&'static Attribute>,
        /// The canonical name (or, for an unknown one, the name as written).
        name: String,
        /// A sub-attribute: canonical name and definition (`None` when unknown).
        sub: Option<(String, Option<&'static Attribute>)>,
    },
}

/// How a path was given: in `path` (strict) or as a key of a path-less value (lenient,
/// like a POST body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Path,
    ValueKey,
}

/// Resolve an attribute path; `Ok(None)` means "ignore" (only for value keys).
fn resolve(
    rs: &ResourceSchema,
    path: &AttrPath,
    origin: Origin,
) -> Result<Option<Target>, ScimError> {
    if let Some(urn) = &path.urn
        && path.sub.is_none()
        && let Some(schema) = rs.extension(&format!("{urn}:{}", path.name))
    {
        return Ok(Some(Target::Extension(schema)));
    }
    let (extension, attribute) = match path.urn.as_deref() {
        None => (None, rs.core_attribute(&path.name)),
        Some(urn) if rs.is_core(urn) => (None, rs.core_attribute(&path.name)),
        Some(urn) => match rs.extension(urn) {
            Some(schema) => (Some(schema), schema.attribute(&path.name)),
            None => {
                return Err(invalid_path(format!(
                    "`{urn}` is not a schema of {} resources",
                    rs.resource_type.as_str()
                )));
            }
        },
    };
    let Some(attribute) = attribute else {
        return match (extension, origin) {
            // Unknown attributes of a declared extension are kept as the client wrote them.
            (Some(schema), _) => Ok(Some(Target::Attribute {
                extension: Some(schema),
                attribute: None,
                name: path.name.clone(),
                sub: path.sub.clone().map(|s| (s, None)),
            })),
            (None, Origin::ValueKey) => Ok(None),
            (None, Origin::Path) => Err(invalid_path(format!(
                "`{path}` is not an attribute of {} resources",
                rs.resource_type.as_str()
            ))),
        };
    };
    if matches!(
        attribute.mutability,
        Mutability::ReadOnly | Mutability::WriteOnly
    ) {
        return match origin {
            Origin::ValueKey => Ok(None),
            Origin::Path if attribute.mutability == Mutability::WriteOnly => Ok(None),
            Origin::Path => Err(mutability(format!("`{}` is read-only", attribute.name))),
        };
    }
    let sub = match path.sub.as_deref() {
        None => None,
        Some(sub) => {
            let Some(def) = attribute.sub_attribute(sub) else {
                return match origin {
                    Origin::ValueKey => Ok(None),
                    Origin::Path => Err(invalid_path(format!(
                        "`{sub}` is not a sub-attribute of `{}`",
                        attribute.name
                    ))),
                };
            };
            if def.mutability == Mutability::ReadOnly {
                return match origin {
                    Origin::ValueKey => Ok(None),
                    Origin::Path => Err(mutability(format!(
                        "`{}.{}` is read-only",
                        attribute.name, def.name
                    ))),
                };
            }
            Some((def.name.to_owned(), Some(def)))
        }
    };
    Ok(Some(Target::Attribute {
        extension,
        attribute: Some(attribute),
        name: attribute.name.to_owned(),
        sub,
    }))
}

/// The object an attribute lives in: the resource itself, or an extension object
/// (created when `create` is set).
fn container<'d>(
    doc: &'d mut Map<String, Value>,
    extension: Option<&Schema>,
    create: bool,
) -> Option<&'d mut Map<String, Value>> {
    let Some(schema) = extension else {
        return Some(doc);
    };
    let key = key_ci(doc, schema.id).unwrap_or_else(|| schema.id.to_owned());
    if create && !doc.get(&key).is_some_and(Value::is_object) {
        doc.insert(key.clone(), Value::Object(Map::new()));
    }
    doc.get_mut(&key).and_then(Value::as_object_mut)
}

fn apply_operation(
    rs: &ResourceSchema,
    doc: &mut Map<String, Value>,
    operation: &PatchOperation,
) -> Result<(), ScimError> {
    let op = operation.op;
    match &operation.path {
        None => {
            if op == PatchOp::Remove {
                return Err(no_target("a remove operation needs a `path`"));
            }
            let Some(Value::Object(values)) = &operation.value else {
                return Err(invalid_value(format!(
                    "an {} operation without a `path` needs an object `value`",
                    op.as_str()
                )));
            };
            for (key, value) in values {
                if key.eq_ignore_ascii_case("schemas") {
                    continue;
                }
                let target = match rs.extension(key) {
                    Some(schema) => Some(Target::Extension(schema)),
                    None => match AttrPath::parse(key) {
                        Ok(path) => resolve(rs, &path, Origin::ValueKey)?,
                        // Not an attribute name at all: as unknown as unknown gets.
                        Err(_) => None,
                    },
                };
                if let Some(target) = target {
                    set(doc, &target, op, value)?;
                }
            }
            Ok(())
        }
        Some(PatchPath::Attr(path)) => {
            let Some(target) = resolve(rs, path, Origin::Path)? else {
                // A write-only attribute (`password`): accepted and discarded.
                return Ok(());
            };
            match op {
                PatchOp::Remove => remove(doc, &target, operation.value.as_ref()),
                PatchOp::Add | PatchOp::Replace => {
                    let Some(value) = &operation.value else {
                        return Err(invalid_value(format!(
                            "an {} operation needs a `value`",
                            op.as_str()
                        )));
                    };
                    set(doc, &target, op, value)
                }
            }
        }
        Some(PatchPath::ValuePath { path, filter, sub }) => value_path_operation(
            rs,
            doc,
            op,
            path,
            filter,
            sub.as_deref(),
            operation.value.as_ref(),
        ),
    }
}

/// Whether an element of a multi-valued attribute already holds `candidate`: for
/// `members`, the same `value`; otherwise equal.
fn same_value(attribute: &str, existing: &Value, candidate: &Value) -> bool {
    if attribute == "members" {
        return existing.get("value").is_some() && existing.get("value") == candidate.get("value");
    }
    existing == candidate
}

/// Whether `existing` matches a value given to `remove`: every member given is equal
/// (`{"value": "id"}` matches a member with that value, whatever its `display`).
fn covers(existing: &Value, given: &Value) -> bool {
    match (existing, given) {
        (Value::Object(e), Value::Object(g)) => g.iter().all(|(k, v)| e.get(k) == Some(v)),
        _ => existing == given,
    }
}

fn set(
    doc: &mut Map<String, Value>,
    target: &Target,
    op: PatchOp,
    value: &Value,
) -> Result<(), ScimError> {
    match target {
        Target::Extension(schema) => {
            let Value::Object(values) = value else {
                return Err(invalid_value(format!("`{}` must be an object", schema.id)));
            };
            for (key, v) in values {
                let path = AttrPath::new(key.clone()).with_urn(schema.id);
                let attribute = schema.attribute(key);
                if attribute.is_some_and(|a| a.mutability == Mutability::ReadOnly) {
                    continue;
                }
                let inner = Target::Attribute {
                    extension: Some(schema),
                    attribute,
                    name: attribute.map_or(path.name, |a| a.name.to_owned()),
                    sub: None,
                };
                set(doc, &inner, op, v)?;
            }
            Ok(())
        }
        Target::Attribute {
            extension,
            attribute,
            name,
            sub,
        } => {
            let Some(object) = container(doc, *extension, true) else {
                return Ok(());
            };
            let Some(attribute) = attribute else {
                // Unknown attribute of a declared extension: stored as sent.
                let key = key_ci(object, name).unwrap_or_else(|| name.clone());
                match sub {
                    None if is_unassigned(value) => {
                        object.remove(&key);
                    }
                    None => {
                        object.insert(key, value.clone());
                    }
                    Some((sub, _)) => {
                        let parent = object
                            .entry(key)
                            .or_insert_with(|| Value::Object(Map::new()));
                        if !parent.is_object() {
                            *parent = Value::Object(Map::new());
                        }
                        if let Some(parent) = parent.as_object_mut() {
                            parent.insert(sub.clone(), value.clone());
                        }
                    }
                }
                return Ok(());
            };
            match sub {
                None => set_attribute(object, attribute, op, value),
                Some((_, None)) => Ok(()),
                Some((sub_name, Some(sub_def))) => {
                    let new = normalize_single(sub_def, value)?;
                    if attribute.multi_valued {
                        // `emails.value` with no filter: every value's sub-attribute.
                        let items = object.get_mut(attribute.name).and_then(Value::as_array_mut);
                        let Some(items) = items.filter(|items| !items.is_empty()) else {
                            return Err(no_target(format!(
                                "`{}` has no values to set `{sub_name}` on",
                                attribute.name
                            )));
                        };
                        for item in items.iter_mut() {
                            set_member(item, sub_name, new.clone());
                        }
                        return Ok(());
                    }
                    let parent = object
                        .entry(attribute.name)
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !parent.is_object() {
                        *parent = Value::Object(Map::new());
                    }
                    set_member(parent, sub_name, new);
                    if parent.as_object().is_some_and(Map::is_empty) {
                        object.remove(attribute.name);
                    }
                    Ok(())
                }
            }
        }
    }
}

/// Set (or, with `None`, remove) a member of an object.
fn set_member(object: &mut Value, key: &str, value: Option<Value>) {
    if let Some(object) = object.as_object_mut() {
        match value {
            Some(v) => object.insert(key.to_owned(), v),
            None => object.remove(key),
        };
    }
}

fn set_attribute(
    object: &mut Map<String, Value>,
    attribute: &'static Attribute,
    op: PatchOp,
    value: &Value,
) -> Result<(), ScimError> {
    let new = normalize_value(attribute, value)?;
    let name = attribute.name;
    let Some(new) = new else {
        // Setting "no value" unassigns (RFC 7643 section 2.5).
        if op == PatchOp::Replace {
            object.remove(name);
        }
        return Ok(());
    };
    if attribute.multi_valued {
        if op == PatchOp::Replace {
            object.insert(name.to_owned(), new);
            return Ok(());
        }
        let mut items = match object.remove(name) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        for candidate in new.as_array().into_iter().flatten() {
            match items.iter_mut().find(|e| same_value(name, e, candidate)) {
                // Re-adding a member may bring a better `display`; otherwise nothing changes.
                Some(existing) => {
                    if let (Some(e), Some(c)) = (existing.as_object_mut(), candidate.as_object()) {
                        for (k, v) in c {
                            e.insert(k.clone(), v.clone());
                        }
                    }
                }
                None => items.push(candidate.clone()),
            }
        }
        fix_primary(&mut items);
        object.insert(name.to_owned(), Value::Array(items));
        return Ok(());
    }
    if attribute.is_complex() {
        // RFC 7644 sections 3.5.2.1 and 3.5.2.3: the given sub-attributes replace theirs,
        // the others stay.
        let merged = match (object.remove(name), new) {
            (Some(Value::Object(mut old)), Value::Object(given)) => {
                for (k, v) in given {
                    old.insert(k, v);
                }
                Value::Object(old)
            }
            (_, given) => given,
        };
        object.insert(name.to_owned(), merged);
        return Ok(());
    }
    object.insert(name.to_owned(), new);
    Ok(())
}

fn remove(
    doc: &mut Map<String, Value>,
    target: &Target,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    match target {
        Target::Extension(schema) => {
            if let Some(key) = key_ci(doc, schema.id) {
                doc.remove(&key);
            }
            Ok(())
        }
        Target::Attribute {
            extension,
            attribute,
            name,
            sub,
        } => {
            let Some(object) = container(doc, *extension, false) else {
                return Ok(());
            };
            let Some(key) = key_ci(object, name) else {
                return Ok(());
            };
            match (attribute, sub) {
                (Some(attribute), None) if attribute.multi_valued && value.is_some() => {
                    // Remove only the values given (Entra ID: members to drop).
                    let given = value
                        .map(|v| normalize_value(attribute, v))
                        .transpose()?
                        .flatten();
                    let given: Vec<Value> = match given {
                        Some(Value::Array(items)) => items,
                        _ => Vec::new(),
                    };
                    if let Some(items) = object.get_mut(&key).and_then(Value::as_array_mut) {
                        items.retain(|item| !given.iter().any(|g| covers(item, g)));
                        if items.is_empty() {
                            object.remove(&key);
                        }
                    }
                }
                (_, None) => {
                    object.remove(&key);
                }
                (_, Some((sub_name, _))) => {
                    let items: Vec<&mut Value> = match object.get_mut(&key) {
                        Some(Value::Array(items)) => items.iter_mut().collect(),
                        Some(single) => vec![single],
                        None => Vec::new(),
                    };
                    for item in items {
                        if let Some(item) = item.as_object_mut()
                            && let Some(k) = key_ci(item, sub_name)
                        {
                            item.remove(&k);
                        }
                    }
                    prune(object, &key);
                }
            }
            Ok(())
        }
    }
}

/// Drop empty values of an attribute, and the attribute itself if nothing is left.
fn prune(object: &mut Map<String, Value>, key: &str) {
    let empty = match object.get_mut(key) {
        Some(Value::Array(items)) => {
            items.retain(|i| !is_unassigned(i));
            items.is_empty()
        }
        Some(v) => is_unassigned(v),
        None => false,
    };
    if empty {
        object.remove(key);
    }
}

/// The `eq` comparisons of a filter that is nothing but a conjunction of them, as an
/// object: `type eq "work" and primary eq true` gives `{"type": "work", "primary": true}`.
fn equality_template(filter: &Filter, out: &mut Map<String, Value>) -> bool {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.sub.is_none() => {
            let value = match value {
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Number(n) => Value::Number(n.clone()),
                CompValue::String(s) => Value::String(s.clone()),
                _ => return false,
            };
            out.insert(path.name.clone(), value);
            true
        }
        Filter::And(a, b) => equality_template(a, out) && equality_template(b, out),
        _ => false,
    }
}

fn value_path_operation(
    rs: &ResourceSchema,
    doc: &mut Map<String, Value>,
    op: PatchOp,
    path: &AttrPath,
    filter: &Filter,
    sub: Option<&str>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let Some(target) = resolve(rs, path, Origin::Path)? else {
        return Ok(());
    };
    let Target::Attribute {
        extension,
        attribute: Some(attribute),
        ..
    } = target
    else {
        return Err(invalid_path(format!(
            "`{path}` is not a multi-valued attribute a filter can select from"
        )));
    };
    if !(attribute.multi_valued && attribute.is_complex()) {
        return Err(invalid_path(format!(
            "`{}` is not a multi-valued complex attribute",
            attribute.name
        )));
    }
    let sub_def = match sub {
        None => None,
        Some(sub) => {
            let Some(def) = attribute.sub_attribute(sub) else {
                return Err(invalid_path(format!(
                    "`{sub}` is not a sub-attribute of `{}`",
                    attribute.name
                )));
            };
            if def.mutability == Mutability::ReadOnly {
                return Err(mutability(format!(
                    "`{}.{}` is read-only",
                    attribute.name, def.name
                )));
            }
            Some(def)
        }
    };
    let rules = SchemaRules::new(rs.resource_type);
    let core_id = rs.core.id;
    let matcher = Filter::ValuePath {
        path: AttrPath {
            urn: extension.map(|s| s.id.to_owned()),
            name: attribute.name.to_owned(),
            sub: None,
        },
        filter: Box::new(filter.clone()),
    };
    let matches = |element: &Value| -> bool {
        let mut probe = Map::new();
        let list = Value::Array(vec![element.clone()]);
        match extension {
            None => {
                probe.insert(
                    "schemas".into(),
                    Value::Array(vec![Value::String(core_id.to_owned())]),
                );
                probe.insert(attribute.name.to_owned(), list);
            }
            Some(schema) => {
                let mut inner = Map::new();
                inner.insert(attribute.name.to_owned(), list);
                probe.insert(schema.id.to_owned(), Value::Object(inner));
            }
        }
        matcher.matches(&Value::Object(probe), &rules)
    };
    let create = op != PatchOp::Remove;
    let Some(object) = container(doc, extension, create) else {
        return Err(no_target(format!(
            "no value of `{}` matches the filter",
            attribute.name
        )));
    };
    let mut items = match object.remove(attribute.name) {
        Some(Value::Array(items)) => items,
        Some(single) => vec![single],
        None => Vec::new(),
    };
    let hits: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| matches(item))
        .map(|(i, _)| i)
        .collect();
    let result = (|| -> Result<(), ScimError> {
        match op {
            PatchOp::Remove => {
                if hits.is_empty() {
                    return Err(no_target(format!(
                        "no value of `{}` matches `{filter}`",
                        attribute.name
                    )));
                }
                match sub_def {
                    None => {
                        let mut i = 0;
                        items.retain(|_| {
                            let keep = !hits.contains(&i);
                            i += 1;
                            keep
                        });
                    }
                    Some(def) => {
                        for &i in &hits {
                            if let Some(item) = items.get_mut(i) {
                                set_member(item, def.name, None);
                            }
                        }
                        items.retain(|i| !is_unassigned(i));
                    }
                }
                Ok(())
            }
            PatchOp::Add | PatchOp::Replace => {
                let Some(value) = value else {
                    return Err(invalid_value(format!(
                        "an {} operation needs a `value`",
                        op.as_str()
                    )));
                };
                if hits.is_empty() {
                    let mut template = Map::new();
                    if !equality_template(filter, &mut template) {
                        return Err(no_target(format!(
                            "no value of `{}` matches `{filter}`",
                            attribute.name
                        )));
                    }
                    let mut element = Value::Object(template);
                    if let Some(def) = sub_def {
                        set_member(&mut element, def.name, Some(value.clone()));
                    } else {
                        let Value::Object(given) = value else {
                            return Err(invalid_value(format!(
                                "a value of `{}` must be an object",
                                attribute.name
                            )));
                        };
                        for (k, v) in given {
                            set_member(&mut element, k, Some(v.clone()));
                        }
                    }
                    if let Some(element) = normalize_single(attribute, &element)? {
                        items.push(element);
                    }
                    return Ok(());
                }
                if let Some(def) = sub_def {
                    let new = normalize_single(def, value)?;
                    // RFC 7644 section 3.5.2: an immutable value may be set once, never changed.
                    let changes_immutable = def.mutability == Mutability::Immutable
                        && hits.iter().any(|&i| {
                            items
                                .get(i)
                                .and_then(|item| item.get(def.name))
                                .is_some_and(|old| Some(old) != new.as_ref())
                        });
                    if changes_immutable {
                        return Err(mutability(format!(
                            "`{}.{}` is immutable",
                            attribute.name, def.name
                        )));
                    }
                    for &i in &hits {
                        if let Some(item) = items.get_mut(i) {
                            set_member(item, def.name, new.clone());
                        }
                    }
                } else {
                    let new = normalize_single(attribute, value)?;
                    for &i in &hits {
                        if let Some(item) = items.get_mut(i) {
                            match (&new, op) {
                                (Some(Value::Object(given)), PatchOp::Add) => {
                                    for (k, v) in given {
                                        set_member(item, k, Some(v.clone()));
                                    }
                                }
                                (Some(new), _) => *item = new.clone(),
                                (None, _) => *item = Value::Null,
                            }
                        }
                    }
                    items.retain(|i| !is_unassigned(i));
                }
                Ok(())
            }
        }
    })();
    fix_primary(&mut items);
    if !items.is_empty() {
        object.insert(attribute.name.to_owned(), Value::Array(items));
    }
    result
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn patch(
        resource_type: ResourceType,
        resource: &Value,
        ops: &Value,
    ) -> Result<Value, ScimError> {
        let request = PatchRequest::parse(&json!({
            "schemas": [schemas::PATCH_OP],
            "Operations": ops,
        }))?;
        request.apply(resource_type, resource)
    }

    fn user() -> Value {
        json!({
            "schemas": [schemas::USER],
            "userName": "bjensen",
            "active": true,
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "b@home.example", "type": "home"}]
        })
    }

    #[test]
    fn entra_dialect() {
        let out = patch(
            ResourceType::User,
            &user(),
            &json!([
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "b@work.example"},
                {"op": "Add", "value": {
                    "name.familyName": "Jensen-Smith",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "1",
                    "displayName": "Babs"
                }},
                {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m-1"},
                {"op": "Add", "path": "roles", "value": [{"primary": "True", "value": "admin"}]}
            ]),
        )
        .unwrap();
        assert_eq!(out["active"], false);
        assert_eq!(
            out["emails"],
            json!([
                {"value": "b@home.example", "type": "home"},
                {"value": "b@work.example", "type": "work"}
            ])
        );
        assert_eq!(
            out["name"],
            json!({"givenName": "Barbara", "familyName": "Jensen-Smith"})
        );
        assert_eq!(out["displayName"], "Babs");
        assert_eq!(
            out[schemas::ENTERPRISE_USER],
            json!({"employeeNumber": "1", "manager": {"value": "m-1"}})
        );
        assert_eq!(out["roles"], json!([{"primary": true, "value": "admin"}]));
        assert_eq!(
            out["schemas"],
            json!([schemas::USER, schemas::ENTERPRISE_USER])
        );
    }

    #[test]
    fn okta_dialect() {
        let out = patch(
            ResourceType::User,
            &user(),
            &json!([{"op": "replace", "value": {"active": false}}]),
        )
        .unwrap();
        assert_eq!(out["active"], false);
        let group = json!({
            "schemas": [schemas::GROUP],
            "id": "g1",
            "displayName": "Ops",
            "members": [{"value": "u1", "display": "one"}, {"value": "u2"}]
        });
        let renamed = patch(
            ResourceType::Group,
            &group,
            &json!([{"op": "replace", "value": {"id": "g1", "displayName": "Ops 2"}}]),
        )
        .unwrap();
        assert_eq!(renamed["displayName"], "Ops 2");
        assert!(renamed.get("id").is_none());
        let removed = patch(
            ResourceType::Group,
            &group,
            &json!([
                {"op": "remove", "path": "members[value eq \"u1\"]"},
                {"op": "add", "path": "members", "value": [{"value": "u3", "display": "three"}, {"value": "u2"}]}
            ]),
        )
        .unwrap();
        assert_eq!(
            removed["members"],
            json!([{"value": "u2"}, {"value": "u3", "display": "three"}])
        );
    }

    #[test]
    fn remove_with_value_array_removes_only_those() {
        let group = json!({
            "schemas": [schemas::GROUP],
            "displayName": "Ops",
            "members": [{"value": "u1"}, {"value": "u2"}, {"value": "u3"}]
        });
        let out = patch(
            ResourceType::Group,
            &group,
            &json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "u1"}, {"value": "u3"}]}]),
        )
        .unwrap();
        assert_eq!(out["members"], json!([{"value": "u2"}]));
        let err = patch(
            ResourceType::Group,
            &group,
            &json!([{"op": "replace", "path": "members[value eq \"u1\"].value", "value": "u9"}]),
        )
        .unwrap_err();
        assert_eq!(err.scim_type(), Some(ScimType::Mutability));
        let all = patch(
            ResourceType::Group,
            &group,
            &json!([{"op": "remove", "path": "members"}]),
        )
        .unwrap();
        assert!(all.get("members").is_none());
    }

    #[test]
    fn errors_have_the_right_scim_type() {
        let cases = [
            (json!([{"op": "remove"}]), ScimType::NoTarget),
            (
                json!([{"op": "remove", "path": "emails[type eq \"work\"]"}]),
                ScimType::NoTarget,
            ),
            (
                json!([{"op": "replace", "path": "emails[type ne \"home\"].value", "value": "x"}]),
                ScimType::NoTarget,
            ),
            (
                json!([{"op": "replace", "path": "emails[type eq]", "value": "x"}]),
                ScimType::InvalidPath,
            ),
            (
                json!([{"op": "replace", "path": "shoeSize", "value": 1}]),
                ScimType::InvalidPath,
            ),
            (
                json!([{"op": "replace", "path": "name.nope", "value": 1}]),
                ScimType::InvalidPath,
            ),
            (
                json!([{"op": "replace", "path": "urn:example:x:2.0:User:a", "value": 1}]),
                ScimType::InvalidPath,
            ),
            (
                json!([{"op": "replace", "path": "id", "value": "x"}]),
                ScimType::Mutability,
            ),
            (
                json!([{"op": "add", "path": "groups", "value": [{"value": "g"}]}]),
                ScimType::Mutability,
            ),
            (
                json!([{"op": "replace", "path": "meta.created", "value": "x"}]),
                ScimType::Mutability,
            ),
            (
                json!([{"op": "replace", "path": "active", "value": "maybe"}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "remove", "path": "userName"}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "replace", "value": 3}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "move", "path": "a"}]),
                ScimType::InvalidSyntax,
            ),
            (json!([]), ScimType::InvalidSyntax),
        ];
        for (ops, expected) in cases {
            let err = patch(ResourceType::User, &user(), &ops).unwrap_err();
            assert_eq!(err.scim_type(), Some(expected), "{ops}: {err}");
        }
    }

    #[test]
    fn declared_extension_keeps_unknown_keys() {
        let out = patch(
            ResourceType::User,
            &user(),
            &json!([
                {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:butterfly:2.0:User:favouriteColour", "value": "blue"},
                {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:butterfly:2.0:User", "value": {"ButterflyRole": "Auditor"}}
            ]),
        )
        .unwrap();
        assert_eq!(
            out[schemas::BUTTERFLY_USER],
            json!({"favouriteColour": "blue", "butterflyRole": "auditor"})
        );
        let removed = patch(
            ResourceType::User,
            &out,
            &json!([{"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:butterfly:2.0:User"}]),
        )
        .unwrap();
        assert!(removed.get(schemas::BUTTERFLY_USER).is_none());
        assert_eq!(removed["schemas"], json!([schemas::USER]));
    }
}
