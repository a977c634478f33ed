//! Ids that change on re-creation, replaced wherever they are referenced.
//!
//! A group deleted and created again comes back with a new id; a sync writes into an org
//! where every object has its own ids. The [`IdMap`] maps an object's id in the snapshot
//! to its id in the org, and is applied to every string in a later body that equals an
//! old id, and to every parent segment of a path. Okta ids are long random strings, so a
//! string equal to one is a reference to it: group rules' `groupIds`, policy conditions'
//! people and zones, assignments and memberships are all covered without a table of
//! where references live.

use std::collections::BTreeMap;

use serde_json::Value;

/// Old (snapshot) id to new (org) id, for objects' own ids (not `{parent}/{own}` paths).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdMap {
    map: BTreeMap<String, String>,
}

impl IdMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record that `old` is now `new` (nothing when they are equal).
    pub fn insert(&mut self, old: &str, new: &str) {
        if old != new && !old.is_empty() && !new.is_empty() {
            self.map.insert(old.to_owned(), new.to_owned());
        }
    }

    /// Record every segment pair of two `{parent}/{own}` ids of the same shape.
    pub fn insert_path(&mut self, old: &str, new: &str) {
        let (a, b): (Vec<&str>, Vec<&str>) = (old.split('/').collect(), new.split('/').collect());
        if a.len() == b.len() {
            for (o, n) in a.into_iter().zip(b) {
                self.insert(o, n);
            }
        }
    }

    /// The new id of `old`, or `old` itself.
    pub fn get<'a>(&'a self, old: &'a str) -> &'a str {
        self.map.get(old).map_or(old, String::as_str)
    }

    /// Whether `old` was remapped.
    pub fn contains(&self, old: &str) -> bool {
        self.map.contains_key(old)
    }

    /// How many ids are remapped.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no id is remapped.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// A `{parent}/{own}` id with every segment remapped.
    pub fn path(&self, id: &str) -> String {
        id.split('/')
            .map(|s| self.get(s))
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Replace every string in `value` that equals an old id.
    pub fn apply(&self, value: &mut Value) {
        if self.map.is_empty() {
            return;
        }
        match value {
            Value::String(s) => {
                if let Some(new) = self.map.get(s.as_str()) {
                    new.clone_into(s);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.apply(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.apply(v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replaces_references_and_path_segments() {
        let mut map = IdMap::new();
        map.insert("00gOLD", "00gNEW");
        map.insert("same", "same");
        assert_eq!(map.len(), 1);
        let mut rule = json!({
            "name": "Engineering",
            "actions": {"assignUserToGroups": {"groupIds": ["00gOLD", "00gKEEP"]}},
            "conditions": {"expression": {"value": "user.dept==\"00gOLD\""}},
        });
        map.apply(&mut rule);
        assert_eq!(
            rule["actions"]["assignUserToGroups"]["groupIds"],
            json!(["00gNEW", "00gKEEP"])
        );
        // Only whole strings are ids: text that mentions one is not rewritten.
        assert_eq!(
            rule["conditions"]["expression"]["value"],
            "user.dept==\"00gOLD\""
        );
        assert_eq!(map.path("00gOLD/00u1"), "00gNEW/00u1");

        let mut paths = IdMap::new();
        paths.insert_path("aus1/00p1/0pr1", "aus9/00p9/0pr9");
        assert_eq!(paths.get("00p1"), "00p9");
        assert_eq!(paths.len(), 3);
    }
}
