//! `attributes` and `excludedAttributes` (RFC 7644 section 3.4.2.5), with the `returned`
//! characteristic of RFC 7643 section 7.
//!
//! - With `attributes`, a resource carries the named attributes (a named sub-attribute
//!   keeps only that part of its parent), plus those returned `always`: `id` and, as the
//!   message's own structure, `schemas`. `meta` is returned by default, so it is left out
//!   unless named.
//! - With `excludedAttributes`, the named attributes are removed, except `always` ones.
//! - When both are given, `attributes` wins, as RFC 7644 section 3.9 lets a provider
//!   choose.
//! - Names are case-insensitive and may be URN-qualified; a whole extension is named by
//!   its URN.

use serde_json::{Map, Value};

use crate::ScimError;
use crate::filter::AttrPath;
use crate::normalize::{invalid_value, key_ci};
use crate::schema::{ResourceSchema, Returned};

/// Which attributes a response carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Projection {
    attributes: Vec<AttrPath>,
    excluded: Vec<AttrPath>,
}

fn parse_list(text: &str) -> Result<Vec<AttrPath>, ScimError> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            AttrPath::parse(s)
                .map_err(|e| invalid_value(format!("invalid attribute name `{s}`: {e}")))
        })
        .collect()
}

fn parse_json_list(value: Option<&Value>, name: &str) -> Result<Vec<AttrPath>, ScimError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => parse_list(s),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for item in items {
                let Some(s) = item.as_str() else {
                    return Err(invalid_value(format!("`{name}` must list attribute names")));
                };
                out.extend(parse_list(s)?);
            }
            Ok(out)
        }
        Some(_) => Err(invalid_value(format!("`{name}` must list attribute names"))),
    }
}

impl Projection {
    /// From the `attributes` and `excludedAttributes` query parameters.
    pub(crate) fn from_query(query: Option<&str>) -> Result<Projection, ScimError> {
        let mut projection = Projection::default();
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            if key.eq_ignore_ascii_case("attributes") {
                projection.attributes.extend(parse_list(&value)?);
            } else if key.eq_ignore_ascii_case("excludedAttributes") {
                projection.excluded.extend(parse_list(&value)?);
            }
        }
        Ok(projection)
    }

    /// From the members of a `.search` body.
    pub(crate) fn from_json(
        attributes: Option<&Value>,
        excluded: Option<&Value>,
    ) -> Result<Projection, ScimError> {
        Ok(Projection {
            attributes: parse_json_list(attributes, "attributes")?,
            excluded: parse_json_list(excluded, "excludedAttributes")?,
        })
    }

    /// Whether neither list was given.
    pub(crate) fn is_empty(&self) -> bool {
        self.attributes.is_empty() && self.excluded.is_empty()
    }

    /// Whether a response will carry the top-level core attribute `name` (so the service
    /// can skip computing `groups` when nobody will see it).
    pub(crate) fn wants(&self, rs: &ResourceSchema, name: &str) -> bool {
        let names = |p: &AttrPath| {
            p.name.eq_ignore_ascii_case(name) && p.urn.as_deref().is_none_or(|u| rs.is_core(u))
        };
        if !self.attributes.is_empty() {
            return self.attributes.iter().any(names);
        }
        !self.excluded.iter().any(|p| names(p) && p.sub.is_none())
    }

    /// Apply the projection to a rendered resource.
    pub(crate) fn apply(&self, rs: &ResourceSchema, resource: &mut Value) {
        let Some(object) = resource.as_object_mut() else {
            return;
        };
        if !self.attributes.is_empty() {
            let mut kept = Map::new();
            for (key, value) in std::mem::take(object) {
                if let Some(value) = self.keep(rs, &key, value) {
                    kept.insert(key, value);
                }
            }
            *object = kept;
            return;
        }
        for path in &self.excluded {
            exclude(rs, object, path);
        }
    }

    /// What of the top-level member `key` survives `attributes`.
    fn keep(&self, rs: &ResourceSchema, key: &str, value: Value) -> Option<Value> {
        if key == "schemas" || key == "id" {
            return Some(value);
        }
        if let Some(extension) = rs.extension(key) {
            let whole = self.attributes.iter().any(|p| {
                p.sub.is_none()
                    && p.urn.as_deref().is_some_and(|u| {
                        format!("{u}:{}", p.name).eq_ignore_ascii_case(extension.id)
                    })
            });
            if whole {
                return Some(value);
            }
            let paths: Vec<&AttrPath> = self
                .attributes
                .iter()
                .filter(|p| {
                    p.urn
                        .as_deref()
                        .is_some_and(|u| u.eq_ignore_ascii_case(extension.id))
                })
                .collect();
            let Value::Object(members) = value else {
                return None;
            };
            let mut kept = Map::new();
            for (name, value) in members {
                if let Some(value) = select(&paths, &name, value) {
                    kept.insert(name, value);
                }
            }
            return (!kept.is_empty()).then_some(Value::Object(kept));
        }
        if rs
            .core_attribute(key)
            .is_some_and(|a| a.returned == Returned::Always)
        {
            return Some(value);
        }
        let paths: Vec<&AttrPath> = self
            .attributes
            .iter()
            .filter(|p| p.urn.as_deref().is_none_or(|u| rs.is_core(u)))
            .collect();
        select(&paths, key, value)
    }
}

/// Keep `value` of attribute `name` if a path names it; a path with a sub-attribute keeps
/// only the named sub-attributes (of each value, for a multi-valued attribute).
fn select(paths: &[&AttrPath], name: &str, value: Value) -> Option<Value> {
    let matching: Vec<&&AttrPath> = paths
        .iter()
        .filter(|p| p.name.eq_ignore_ascii_case(name))
        .collect();
    if matching.is_empty() {
        return None;
    }
    if matching.iter().any(|p| p.sub.is_none()) {
        return Some(value);
    }
    let subs: Vec<&str> = matching.iter().filter_map(|p| p.sub.as_deref()).collect();
    let narrow = |v: Value| -> Value {
        match v {
            Value::Object(members) => Value::Object(
                members
                    .into_iter()
                    .filter(|(k, _)| subs.iter().any(|s| s.eq_ignore_ascii_case(k)))
                    .collect(),
            ),
            other => other,
        }
    };
    Some(match value {
        Value::Array(items) => Value::Array(items.into_iter().map(narrow).collect()),
        other => narrow(other),
    })
}

fn exclude(rs: &ResourceSchema, object: &mut Map<String, Value>, path: &AttrPath) {
    // A whole extension.
    if let Some(urn) = &path.urn
        && path.sub.is_none()
        && let Some(extension) = rs.extension(&format!("{urn}:{}", path.name))
    {
        if let Some(key) = key_ci(object, extension.id) {
            object.remove(&key);
        }
        return;
    }
    let container = match path.urn.as_deref() {
        None => Some(&mut *object),
        Some(urn) if rs.is_core(urn) => Some(&mut *object),
        Some(urn) => match key_ci(object, urn) {
            Some(key) => object.get_mut(&key).and_then(Value::as_object_mut),
            None => None,
        },
    };
    let Some(container) = container else {
        return;
    };
    if path.urn.is_none() || path.urn.as_deref().is_some_and(|u| rs.is_core(u)) {
        if path.name.eq_ignore_ascii_case("schemas") {
            return;
        }
        if rs
            .core_attribute(&path.name)
            .is_some_and(|a| a.returned == Returned::Always)
        {
            return;
        }
    }
    let Some(key) = key_ci(container, &path.name) else {
        return;
    };
    match &path.sub {
        None => {
            container.remove(&key);
        }
        Some(sub) => {
            let strip = |v: &mut Value| {
                if let Some(members) = v.as_object_mut()
                    && let Some(k) = key_ci(members, sub)
                {
                    members.remove(&k);
                }
            };
            match container.get_mut(&key) {
                Some(Value::Array(items)) => items.iter_mut().for_each(strip),
                Some(v) => strip(v),
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schemas;
    use crate::store::ResourceType;

    fn user() -> Value {
        json!({
            "schemas": [schemas::USER, schemas::ENTERPRISE_USER],
            "id": "1",
            "userName": "bjensen",
            "name": {"givenName": "B", "familyName": "J"},
            "emails": [{"value": "a@x", "type": "work"}],
            "meta": {"resourceType": "User"},
            schemas::ENTERPRISE_USER: {"employeeNumber": "7", "department": "Tours"}
        })
    }

    fn project(query: &str) -> Value {
        let mut v = user();
        Projection::from_query(Some(query))
            .unwrap()
            .apply(ResourceSchema::of(ResourceType::User), &mut v);
        v
    }

    #[test]
    fn attributes_keep_only_what_is_named_plus_always() {
        assert_eq!(
            project("attributes=USERNAME,emails.value"),
            json!({
                "schemas": [schemas::USER, schemas::ENTERPRISE_USER],
                "id": "1",
                "userName": "bjensen",
                "emails": [{"value": "a@x"}]
            })
        );
        let ext = project(&format!(
            "attributes={}:employeeNumber",
            schemas::ENTERPRISE_USER
        ));
        assert_eq!(
            ext[schemas::ENTERPRISE_USER],
            json!({"employeeNumber": "7"})
        );
        let whole = project(&format!("attributes={},meta", schemas::ENTERPRISE_USER));
        assert_eq!(whole[schemas::ENTERPRISE_USER]["department"], "Tours");
        assert_eq!(whole["meta"]["resourceType"], "User");
    }

    #[test]
    fn excluded_attributes_never_remove_id() {
        let v = project("excludedAttributes=id,emails,name.givenName,schemas");
        assert_eq!(v["id"], "1");
        assert!(v.get("emails").is_none());
        assert_eq!(v["name"], json!({"familyName": "J"}));
        assert!(v.get("schemas").is_some());
        let v = project(&format!("excludedAttributes={}", schemas::ENTERPRISE_USER));
        assert!(v.get(schemas::ENTERPRISE_USER).is_none());
    }
}
