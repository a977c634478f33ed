//! Field-level differences between two JSON values, and applying them.
//!
//! Pure functions over `serde_json::Value`: the snapshot diff calls them only for
//! resources whose digests differ. Paths are JSON pointers (RFC 6901).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::FieldChange;
use crate::canonical_json;

/// What the walk needs to know about paths: which to skip and which arrays are sets.
pub(crate) trait PathRules {
    /// Whether the field at `pointer` is volatile (changes without meaning anything).
    fn is_volatile(&self, pointer: &str) -> bool;
    /// Whether the array at `pointer` is a set: order carries no meaning.
    fn is_set(&self, pointer: &str) -> bool;
}

/// No volatile fields, no sets: every difference counts.
#[cfg(test)]
pub(crate) struct StrictRules;

#[cfg(test)]
impl PathRules for StrictRules {
    fn is_volatile(&self, _: &str) -> bool {
        false
    }
    fn is_set(&self, _: &str) -> bool {
        false
    }
}

/// Append the changes that turn `old` into `new` to `out`, under `pointer`.
pub(crate) fn diff_json(
    old: &Value,
    new: &Value,
    pointer: &mut String,
    rules: &dyn PathRules,
    out: &mut Vec<FieldChange>,
) {
    if old == new {
        return;
    }
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => diff_objects(a, b, pointer, rules, out),
        (Value::Array(a), Value::Array(b)) if rules.is_set(pointer) => {
            let (added, removed) = set_difference(a, b);
            if !added.is_empty() || !removed.is_empty() {
                out.push(FieldChange {
                    pointer: pointer.clone(),
                    old: Some(old.clone()),
                    new: Some(new.clone()),
                    added,
                    removed,
                });
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&index.to_string());
                diff_json(x, y, pointer, rules, out);
                pointer.truncate(len);
            }
        }
        _ => out.push(FieldChange::replaced(pointer.clone(), old, new)),
    }
}

fn diff_objects(
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    pointer: &mut String,
    rules: &dyn PathRules,
    out: &mut Vec<FieldChange>,
) {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for key in keys {
        let len = pointer.len();
        pointer.push('/');
        push_escaped(pointer, key);
        if !rules.is_volatile(pointer) {
            match (a.get(key), b.get(key)) {
                (Some(x), Some(y)) => diff_json(x, y, pointer, rules, out),
                (Some(x), None) => out.push(FieldChange {
                    pointer: pointer.clone(),
                    old: Some(x.clone()),
                    new: None,
                    added: Vec::new(),
                    removed: Vec::new(),
                }),
                (None, Some(y)) => out.push(FieldChange {
                    pointer: pointer.clone(),
                    old: None,
                    new: Some(y.clone()),
                    added: Vec::new(),
                    removed: Vec::new(),
                }),
                (None, None) => {}
            }
        }
        pointer.truncate(len);
    }
}

/// Elements of `b` not in `a`, and of `a` not in `b`, compared by canonical JSON (so
/// key order inside elements does not matter), each in canonical order.
fn set_difference(a: &[Value], b: &[Value]) -> (Vec<Value>, Vec<Value>) {
    let canon = |values: &[Value]| -> BTreeSet<(Vec<u8>, usize)> {
        // Duplicates count: [x, x] and [x] differ. The index tells copies apart.
        let mut seen = std::collections::BTreeMap::<Vec<u8>, usize>::new();
        values
            .iter()
            .map(|v| {
                let bytes = canonical_json(v);
                let n = seen.entry(bytes.clone()).or_insert(0);
                *n += 1;
                (bytes, *n)
            })
            .collect()
    };
    let (sa, sb) = (canon(a), canon(b));
    let parse = |bytes: &Vec<u8>| serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let added = sb.difference(&sa).map(|(bytes, _)| parse(bytes)).collect();
    let removed = sa.difference(&sb).map(|(bytes, _)| parse(bytes)).collect();
    (added, removed)
}

/// RFC 6901 escaping of one reference token.
fn push_escaped(pointer: &mut String, token: &str) {
    for c in token.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

/// The reference tokens of a JSON pointer, unescaped.
pub(crate) fn tokens(pointer: &str) -> impl Iterator<Item = String> + '_ {
    pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
}

/// Apply `changes` to `value`: each sets (or, when `new` is absent, removes) the value at
/// its pointer. Applying the diff of `a` and `b` to `a` gives `b`, up to the volatile
/// fields and set orders the diff was told to ignore.
pub fn apply(value: &mut Value, changes: &[FieldChange]) {
    for change in changes {
        if change.pointer.is_empty() {
            if let Some(new) = &change.new {
                *value = new.clone();
            }
            continue;
        }
        let all: Vec<String> = tokens(&change.pointer).collect();
        set_at(value, &all, change.new.as_ref());
    }
}

/// Set (or remove, when `new` is `None`) the value under `path`, making objects on the
/// way where there are none.
fn set_at(target: &mut Value, path: &[String], new: Option<&Value>) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if !matches!(target, Value::Object(_) | Value::Array(_)) {
        *target = Value::Object(Map::new());
    }
    if rest.is_empty() {
        match (target, new) {
            (Value::Object(map), Some(new)) => {
                map.insert(first.clone(), new.clone());
            }
            (Value::Object(map), None) => {
                map.remove(first);
            }
            (Value::Array(items), Some(new)) => {
                if let Some(slot) = first.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                    *slot = new.clone();
                }
            }
            (_, _) => {}
        }
        return;
    }
    let child = match target {
        Value::Object(map) => Some(
            map.entry(first.clone())
                .or_insert_with(|| Value::Object(Map::new())),
        ),
        Value::Array(items) => first.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
        _ => None,
    };
    if let Some(child) = child {
        set_at(child, rest, new);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn diff(a: &Value, b: &Value) -> Vec<FieldChange> {
        let mut out = Vec::new();
        diff_json(a, b, &mut String::new(), &StrictRules, &mut out);
        out
    }

    #[test]
    fn names_each_changed_field_by_pointer() {
        let a = json!({"profile": {"name": "Ops", "a/b": 1}, "status": "ACTIVE"});
        let b = json!({"profile": {"name": "Ops team", "a/b": 2}, "type": "OKTA_GROUP"});
        let changes = diff(&a, &b);
        let pointers: Vec<&str> = changes.iter().map(|c| c.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            ["/profile/a~1b", "/profile/name", "/status", "/type"]
        );
        assert_eq!(changes[1].old, Some(json!("Ops")));
        assert_eq!(changes[1].new, Some(json!("Ops team")));
        assert_eq!(changes[2].new, None);
        assert_eq!(changes[3].old, None);
    }

    #[test]
    fn applying_a_diff_gives_the_new_value() {
        let a = json!({"x": [1, {"y": 2}], "z": {"w": true}, "gone": 1});
        let b = json!({"x": [1, {"y": 3}], "z": "flat", "new": {"k": [1, 2]}});
        let mut patched = a.clone();
        apply(&mut patched, &diff(&a, &b));
        assert_eq!(patched, b);
    }

    #[test]
    fn sets_ignore_order_and_report_members() {
        struct Members;
        impl PathRules for Members {
            fn is_volatile(&self, p: &str) -> bool {
                p == "/lastUpdated"
            }
            fn is_set(&self, p: &str) -> bool {
                p == "/include"
            }
        }
        let a = json!({"include": ["g1", "g2"], "lastUpdated": "a"});
        let b = json!({"include": ["g2", "g1"], "lastUpdated": "b"});
        let mut out = Vec::new();
        diff_json(&a, &b, &mut String::new(), &Members, &mut out);
        assert!(out.is_empty(), "{out:?}");

        let c = json!({"include": ["g3", "g2"]});
        let mut out = Vec::new();
        diff_json(&a, &c, &mut String::new(), &Members, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].added, vec![json!("g3")]);
        assert_eq!(out[0].removed, vec![json!("g1")]);
    }
}
