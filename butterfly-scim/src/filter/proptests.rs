//! Property tests: printing and parsing are inverse, messy spellings parse to the same
//! tree as canonical ones, and no input makes the parser panic.

use std::fmt::Write as _;

use proptest::prelude::*;
use serde_json::Number;

use super::{AttrPath, CompValue, CompareOp, Filter, PatchPath};
use crate::schemas;

fn attr_name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-zA-Z][a-zA-Z0-9_-]{0,8}",
        // Names that are also keywords must survive in attribute position.
        1 => prop::sample::select(vec!["not", "and", "or", "pr", "eq", "NOT", "true", "null"])
            .prop_map(str::to_owned),
        1 => Just("$ref".to_owned()),
    ]
}

fn urn() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        6 => Just(None),
        1 => Just(Some(schemas::USER.to_owned())),
        1 => Just(Some(schemas::ENTERPRISE_USER.to_owned())),
        1 => "urn:[a-z]{1,6}:params:[a-zA-Z0-9.-]{1,8}:2\\.0:[A-Z][a-z]{0,6}".prop_map(Some),
    ]
}

fn attr_path() -> impl Strategy<Value = AttrPath> {
    (urn(), attr_name(), prop::option::weighted(0.3, attr_name()))
        .prop_map(|(urn, name, sub)| AttrPath { urn, name, sub })
}

fn comp_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        any::<i64>().prop_map(|n| CompValue::Number(Number::from(n))),
        any::<u64>().prop_map(|n| CompValue::Number(Number::from(n))),
        any::<f64>()
            .prop_filter_map("finite", Number::from_f64)
            .prop_map(CompValue::Number),
        any::<String>().prop_map(CompValue::String),
        "[a-zA-Z@. \"\\\\]{0,12}".prop_map(CompValue::String),
    ]
}

fn compare_op() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(CompareOp::ALL.to_vec())
}

fn leaf() -> impl Strategy<Value = Filter> {
    prop_oneof![
        3 => (attr_path(), compare_op(), comp_value())
            .prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
        1 => attr_path().prop_map(Filter::Present),
    ]
}

fn combine(inner: impl Strategy<Value = Filter> + Clone) -> impl Strategy<Value = Filter> {
    prop_oneof![
        (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
        (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
        inner.prop_map(|a| Filter::Not(Box::new(a))),
    ]
}

/// A filter with no value paths: what may appear inside brackets.
fn value_filter() -> impl Strategy<Value = Filter> {
    leaf().prop_recursive(4, 24, 2, combine)
}

fn filter() -> impl Strategy<Value = Filter> {
    let atom = prop_oneof![
        3 => leaf(),
        1 => (attr_path(), value_filter()).prop_map(|(path, filter)| Filter::ValuePath {
            path,
            filter: Box::new(filter),
        }),
    ];
    atom.prop_recursive(5, 48, 2, combine)
}

fn patch_path() -> impl Strategy<Value = PatchPath> {
    prop_oneof![
        attr_path().prop_map(PatchPath::Attr),
        (attr_path(), value_filter(), prop::option::of(attr_name())).prop_map(
            |(path, filter, sub)| PatchPath::ValuePath {
                path,
                filter: Box::new(filter),
                sub,
            }
        ),
    ]
}

/// A tiny deterministic generator, so one proptest seed drives every spelling choice.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn chance(&mut self, in_n: u64) -> bool {
        self.next().is_multiple_of(in_n)
    }

    fn space(&mut self) -> &'static str {
        [" ", " ", " ", "  ", "\t", "\n", " \r\n "][usize::try_from(self.next() % 7).unwrap_or(0)]
    }

    fn case(&mut self, word: &str) -> String {
        word.chars()
            .map(|c| {
                if self.chance(2) {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect()
    }

    /// The same filter, spelled as a sloppy client might: keywords in random case,
    /// random whitespace, redundant parentheses, `\u` escapes.
    fn spell(&mut self, f: &Filter, out: &mut String) {
        let extra_parens = self.chance(8);
        if extra_parens {
            out.push('(');
            out.push_str(self.space());
        }
        match f {
            Filter::Compare { path, op, value } => {
                out.push_str(&path.to_string());
                out.push_str(self.space());
                out.push_str(&self.case(op.as_str()));
                out.push_str(self.space());
                self.spell_value(value, out);
            }
            Filter::Present(path) => {
                out.push_str(&path.to_string());
                out.push_str(self.space());
                out.push_str(&self.case("pr"));
            }
            Filter::And(a, b) => self.spell_binary(a, "and", b, out),
            Filter::Or(a, b) => self.spell_binary(a, "or", b, out),
            Filter::Not(inner) => {
                out.push_str(&self.case("not"));
                if self.chance(2) {
                    out.push_str(self.space());
                }
                out.push('(');
                self.spell(inner, out);
                out.push(')');
            }
            Filter::ValuePath { path, filter } => {
                out.push_str(&path.to_string());
                out.push('[');
                self.spell(filter, out);
                out.push(']');
            }
        }
        if extra_parens {
            out.push_str(self.space());
            out.push(')');
        }
    }

    fn spell_binary(&mut self, a: &Filter, keyword: &str, b: &Filter, out: &mut String) {
        let is_same = |child: &Filter| match child {
            Filter::And(..) => keyword == "and",
            Filter::Or(..) => keyword == "or",
            _ => false,
        };
        let is_compound = |child: &Filter| matches!(child, Filter::And(..) | Filter::Or(..));
        // Same rule as the printer: group a compound operand unless it is the left
        // operand of its own kind.
        let wrap_a = is_compound(a) && !is_same(a);
        let wrap_b = is_compound(b);
        self.spell_wrapped(a, wrap_a, out);
        out.push_str(self.space());
        out.push_str(&self.case(keyword));
        out.push_str(self.space());
        self.spell_wrapped(b, wrap_b, out);
    }

    fn spell_wrapped(&mut self, f: &Filter, wrap: bool, out: &mut String) {
        if wrap {
            out.push('(');
        }
        self.spell(f, out);
        if wrap {
            out.push(')');
        }
    }

    fn spell_value(&mut self, value: &CompValue, out: &mut String) {
        match value {
            CompValue::String(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str(if self.chance(2) { "\\\\" } else { "\\u005C" }),
                        c if c < ' ' || self.chance(6) => {
                            let mut units = [0u16; 2];
                            for unit in c.encode_utf16(&mut units) {
                                let _ = write!(out, "\\u{unit:04X}");
                            }
                        }
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            CompValue::Bool(_) | CompValue::Null => out.push_str(&self.case(&value.to_string())),
            CompValue::Number(_) => out.push_str(&value.to_string()),
        }
    }
}

fn reparse(f: &Filter) -> Filter {
    match Filter::parse(&f.to_string()) {
        Ok(g) => g,
        Err(e) => panic!("canonical text {:?} did not parse: {e}", f.to_string()),
    }
}

proptest! {
    #[test]
    fn printed_filters_parse_back_to_the_same_tree(f in filter()) {
        prop_assert_eq!(reparse(&f), f);
    }

    #[test]
    fn sloppy_spellings_parse_to_the_same_tree(f in filter(), seed in 1..u64::MAX) {
        let mut text = String::new();
        Noise(seed).spell(&f, &mut text);
        let parsed = Filter::parse(&text);
        prop_assert_eq!(parsed.as_ref(), Ok(&f), "{}", text);
        // And the canonical form is a fixed point.
        let canonical = f.to_string();
        prop_assert_eq!(reparse(&f).to_string(), canonical);
    }

    #[test]
    fn printed_patch_paths_parse_back(p in patch_path()) {
        prop_assert_eq!(PatchPath::parse(&p.to_string()), Ok(p));
    }

    #[test]
    fn printed_attr_paths_parse_back(p in attr_path()) {
        prop_assert_eq!(AttrPath::parse(&p.to_string()), Ok(p));
    }

    #[test]
    fn arbitrary_text_parses_stably_or_fails_within_the_input(s in any::<String>()) {
        // Whatever the text, each parser either yields a value whose canonical text
        // parses back to it, or an error pointing inside the input (or just past it).
        match Filter::parse(&s) {
            Ok(f) => prop_assert_eq!(reparse(&f), f),
            Err(e) => prop_assert!(e.offset().is_none_or(|o| o <= s.len()), "{e:?}"),
        }
        match PatchPath::parse(&s) {
            Ok(p) => prop_assert_eq!(PatchPath::parse(&p.to_string()), Ok(p)),
            Err(e) => prop_assert!(e.offset().is_none_or(|o| o <= s.len()), "{e:?}"),
        }
        match AttrPath::parse(&s) {
            Ok(p) => prop_assert_eq!(AttrPath::parse(&p.to_string()), Ok(p)),
            Err(e) => prop_assert!(e.offset().is_none_or(|o| o <= s.len()), "{e:?}"),
        }
    }

    #[test]
    fn filter_like_text_never_panics_and_parses_stably(
        tokens in prop::collection::vec(
            prop::sample::select(vec![
                "userName", "emails", "name.familyName", "emails.value", "$ref",
                "urn:ietf:params:scim:schemas:core:2.0:User:userName",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
                "eq", "NE", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "and", "OR", "not",
                "(", ")", "[", "]", "\"x\"", "\"a\\\"b\"", "\"\\u00e9\"", "\"", "\\", "1", "-2.5e3",
                "true", "null", " ", " ", " ", ".", ".value", ":", "é", "\t",
            ]),
            0..24,
        )
    ) {
        let text: String = tokens.concat();
        if let Ok(f) = Filter::parse(&text) {
            let g = reparse(&f);
            prop_assert_eq!(&g, &f);
            prop_assert_eq!(g.to_string(), f.to_string());
        }
        if let Ok(p) = PatchPath::parse(&text) {
            prop_assert_eq!(PatchPath::parse(&p.to_string()), Ok(p));
        }
        match AttrPath::parse(&text) {
            Ok(p) => prop_assert_eq!(AttrPath::parse(&p.to_string()), Ok(p)),
            Err(e) => prop_assert!(e.offset().is_none_or(|o| o <= text.len()), "{e:?}"),
        }
    }

    #[test]
    fn evaluation_is_total_and_not_negates(f in filter(), resource in json_value()) {
        // Evaluation answers for any resource shape, and consistently: `not` is the exact
        // complement, `f and f` and `f or f` agree with `f`.
        let rules = super::DefaultRules;
        let matched = f.matches(&resource, &rules);
        prop_assert_eq!(Filter::Not(Box::new(f.clone())).matches(&resource, &rules), !matched);
        prop_assert_eq!(Filter::And(Box::new(f.clone()), Box::new(f.clone())).matches(&resource, &rules), matched);
        prop_assert_eq!(Filter::Or(Box::new(f.clone()), Box::new(f)).matches(&resource, &rules), matched);
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        "[a-zA-Z0-9@:. -]{0,12}".prop_map(Value::String),
        Just(Value::String("2011-05-13T04:42:34Z".into())),
    ];
    scalar.prop_recursive(3, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    attr_name(),
                    Just("value".to_owned()),
                    Just(schemas::ENTERPRISE_USER.to_owned())
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
