//! Canonical JSON and content addresses.
//!
//! Two providers' answers that mean the same thing must hash the same, whatever the key
//! order or number spelling, or every backup would look changed. The canonical form:
//!
//! - object keys sorted by their UTF-8 bytes (which is Unicode code point order);
//! - no insignificant whitespace;
//! - strings escaped as `serde_json` escapes them (`"`, `\`, control characters);
//! - one spelling per number: integers in plain decimal, a float with an integral value
//!   within ±2^53 as that integer (`1.0` and `1e0` are `1`), other floats in the
//!   shortest form that round-trips.
//!
//! Sorting is done here, not left to `serde_json`'s map type: another crate in the
//! build can switch on `preserve_order` and silently change the iteration order.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::Error;

/// Write `value` in canonical form.
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_value(item, out);
            }
            out.push(b'}');
        }
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    // serde_json's string escaping is deterministic; writing into a Vec cannot fail.
    if serde_json::to_writer(&mut *out, s).is_err() {
        unreachable!("serializing a str into a Vec<u8> is infallible");
    }
}

/// Largest integer a double holds exactly (2^53).
const MAX_EXACT_INT: f64 = 9_007_199_254_740_992.0;

fn write_number(n: &serde_json::Number, out: &mut Vec<u8>) {
    if let Some(i) = n.as_i64() {
        out.extend_from_slice(i.to_string().as_bytes());
    } else if let Some(u) = n.as_u64() {
        out.extend_from_slice(u.to_string().as_bytes());
    } else if let Some(f) = n.as_f64() {
        if f.fract() == 0.0 && f.abs() <= MAX_EXACT_INT {
            // Exact: |f| <= 2^53 and integral, so the cast loses nothing.
            #[allow(clippy::cast_possible_truncation)]
            let i = f as i64;
            out.extend_from_slice(i.to_string().as_bytes());
        } else {
            // serde_json prints finite floats in their shortest round-trip form.
            out.extend_from_slice(
                serde_json::Number::from_f64(f)
                    .map_or_else(|| "null".to_owned(), |n| n.to_string())
                    .as_bytes(),
            );
        }
    }
}

/// A SHA-256 content address, shown as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of raw bytes.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Digest(Sha256::digest(bytes).into())
    }

    /// The digest of a JSON value's canonical form.
    pub fn of_json(value: &Value) -> Self {
        Digest::of_bytes(&canonical_json(value))
    }

    /// Wrap 32 raw bytes.
    pub fn from_array(bytes: [u8; 32]) -> Self {
        Digest(bytes)
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl schemars::JsonSchema for Digest {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Digest".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A SHA-256 digest: 64 lowercase hex characters.",
            "type": "string",
            "pattern": "^[0-9a-f]{64}$"
        })
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || Error::InvalidDigest(s.to_owned());
        if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(invalid());
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| invalid())?;
        Ok(Digest(bytes))
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_and_drops_whitespace() {
        let v: Value =
            serde_json::from_str(r#"{ "b": [1, {"z": null, "a": true}], "a": "x\ny" }"#).unwrap();
        assert_eq!(
            String::from_utf8(canonical_json(&v)).unwrap(),
            r#"{"a":"x\ny","b":[1,{"a":true,"z":null}]}"#
        );
    }

    #[test]
    fn one_spelling_per_number() {
        for (text, canonical) in [
            ("1.0", "1"),
            ("1e3", "1000"),
            ("-0.0", "0"),
            ("0.5", "0.5"),
            ("18446744073709551615", "18446744073709551615"),
            ("-9223372036854775808", "-9223372036854775808"),
            ("1.5e300", "1.5e+300"),
        ] {
            let v: Value = serde_json::from_str(text).unwrap();
            assert_eq!(
                String::from_utf8(canonical_json(&v)).unwrap(),
                canonical,
                "{text}"
            );
        }
    }

    #[test]
    fn digest_hex_round_trips_and_rejects_junk() {
        let d = Digest::of_json(&json!({"a": 1}));
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        assert_eq!(
            serde_json::from_value::<Digest>(serde_json::to_value(d).unwrap()).unwrap(),
            d
        );
        for bad in ["", "abc", &"g".repeat(64), &d.to_string().to_uppercase()] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
        // The well-known SHA-256 of the empty string.
        assert_eq!(
            Digest::of_bytes(b"").to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            any::<u64>().prop_map(|u| json!(u)),
            (-1e15f64..1e15).prop_map(|f| json!(f)),
            "\\PC{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("\\PC{0,8}", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// Rebuild every object with its keys inserted in reverse order.
    fn reorder(v: &Value) -> Value {
        match v {
            Value::Array(items) => Value::Array(items.iter().map(reorder).collect()),
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.reverse();
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), reorder(v)))
                        .collect(),
                )
            }
            other => other.clone(),
        }
    }

    proptest! {
        #[test]
        fn canonical_form_is_stable_under_reordering(v in arb_json()) {
            prop_assert_eq!(canonical_json(&v), canonical_json(&reorder(&v)));
        }

        #[test]
        fn canonical_form_is_a_fixed_point_of_reserialisation(v in arb_json()) {
            let once = canonical_json(&v);
            // Pretty printing and parsing again must not change the canonical form.
            let pretty = serde_json::to_string_pretty(&v).unwrap();
            let reparsed: Value = serde_json::from_str(&pretty).unwrap();
            prop_assert_eq!(&canonical_json(&reparsed), &once);
            // The canonical bytes are themselves valid JSON that canonicalises to itself.
            let again: Value = serde_json::from_slice(&once).unwrap();
            prop_assert_eq!(canonical_json(&again), once);
        }
    }
}
