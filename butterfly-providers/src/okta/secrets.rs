//! Removing secrets and hypermedia links before a resource is stored.
//!
//! A backup keeps what Okta returned, except two things: secrets (client secrets, hook
//! auth values, IdP credentials, password hashes...) never enter a snapshot, and `_links`
//! are dropped because they describe the live org's URLs rather than the configuration.
//! Secrets are named per kind as JSON pointers (RFC 6901) in the catalogue, where a `*`
//! segment means "every element of this array or every member of this object".

use serde_json::Value;

/// Remove every `_links` member, at any depth.
pub fn strip_links(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("_links");
            map.values_mut().for_each(strip_links);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_links),
        _ => {}
    }
}

/// Remove the member that `pointer` names (with `*` wildcards); returns how many were
/// removed. A pointer that names nothing removes nothing.
pub fn strip_pointer(value: &mut Value, pointer: &str) -> usize {
    let segments: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    strip_segments(value, &segments)
}

fn strip_segments(value: &mut Value, segments: &[String]) -> usize {
    let Some((first, rest)) = segments.split_first() else {
        return 0;
    };
    if rest.is_empty() {
        return match value {
            Value::Object(map) if first == "*" => {
                let n = map.len();
                map.clear();
                n
            }
            Value::Object(map) => usize::from(map.remove(first.as_str()).is_some()),
            Value::Array(items) if first == "*" => {
                let n = items.len();
                items.clear();
                n
            }
            _ => 0,
        };
    }
    match value {
        Value::Object(map) if first == "*" => {
            map.values_mut().map(|v| strip_segments(v, rest)).sum()
        }
        Value::Object(map) => map
            .get_mut(first.as_str())
            .map_or(0, |v| strip_segments(v, rest)),
        Value::Array(items) if first == "*" => {
            items.iter_mut().map(|v| strip_segments(v, rest)).sum()
        }
        Value::Array(items) => first
            .parse::<usize>()
            .ok()
            .and_then(|i| items.get_mut(i))
            .map_or(0, |v| strip_segments(v, rest)),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strips_links_everywhere() {
        let mut v = json!({"id": 1, "_links": {"self": {}}, "a": [{"_links": 1, "b": 2}]});
        strip_links(&mut v);
        assert_eq!(v, json!({"id": 1, "a": [{"b": 2}]}));
    }

    #[test]
    fn strips_pointers_with_wildcards() {
        let mut v = json!({
            "channel": {"config": {
                "authScheme": {"key": "Authorization", "value": "s3cret"},
                "headers": [{"key": "X-A", "value": "k1"}, {"key": "X-B", "value": "k2"}]
            }}
        });
        assert_eq!(strip_pointer(&mut v, "/channel/config/authScheme/value"), 1);
        assert_eq!(strip_pointer(&mut v, "/channel/config/headers/*/value"), 2);
        assert_eq!(strip_pointer(&mut v, "/channel/config/missing/value"), 0);
        assert_eq!(
            v,
            json!({"channel": {"config": {
                "authScheme": {"key": "Authorization"},
                "headers": [{"key": "X-A"}, {"key": "X-B"}]
            }}})
        );
    }

    #[test]
    fn escaped_segments_and_indices() {
        let mut v = json!({"a/b": {"c~d": 1}, "list": [{"x": 1}, {"x": 2}]});
        assert_eq!(strip_pointer(&mut v, "/a~1b/c~0d"), 1);
        assert_eq!(strip_pointer(&mut v, "/list/1/x"), 1);
        assert_eq!(v, json!({"a/b": {}, "list": [{"x": 1}, {}]}));
    }
}
