//! The differential test: random SCIM-ish resources and random filters, and SQL must
//! select exactly the rows `Filter::matches` (with `DefaultRules`) says, on both layouts
//! (indexed columns and JSON only), and the negation exactly the others.
//!
//! Strings come from a tiny alphabet in both cases, so equal, prefixed and case-folded
//! values collide often; timestamps are drawn from a few instants written in several
//! offsets and precisions, plus near-misses (Feb 30, hour 24, leap seconds, lowercase
//! `t`/`z`, other separators) that `butterfly_core::rfc3339::parse` refuses or accepts.
//!
//! Cases: `PROPTEST_CASES` (default 256), each one set of up to 10 resources and up to 8
//! filters.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

use butterfly_scim::filter::{AttrPath, CompValue, CompareOp, DefaultRules, Filter};
use butterfly_scim::schemas;
use butterfly_store::SqlStore;
use chrono::{Datelike, Timelike};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Number, Value, json};

use crate::probe::{Probe, assert_agrees};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[abAB]{0,3}",
        1 => Just("a@x.com".to_owned()),
        1 => Just("A@X.COM".to_owned()),
        1 => Just(String::new()),
    ]
}

fn any_case(name: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just(name.to_owned()),
        1 => Just(name.to_uppercase()),
        1 => Just(name.to_lowercase()),
    ]
}

/// Timestamps: a few instants in several offsets and precisions, and near-misses.
fn datetime() -> impl Strategy<Value = String> {
    let instants = [
        "2010-01-23T04:56:22Z",
        "2010-01-23T04:56:22.5Z",
        "2011-05-13T04:42:34Z",
        "1999-12-31T23:59:59.999999999Z",
        "2000-01-01T00:00:00Z",
    ];
    let rendered = (
        prop::sample::select(instants.to_vec()),
        prop::sample::select(vec![0_i8, 1, -1, 2, -23, 23, 5]),
        prop::sample::select(vec![0_u8, 1, 3, 9, 12]),
        any::<bool>(),
    )
        .prop_map(|(instant, hours, digits, lower)| {
            let t = butterfly_core::rfc3339::parse(instant).unwrap();
            let offset_seconds = i32::from(hours) * 3600 + if hours == 5 { 1800 } else { 0 };
            let local = t.with_timezone(&chrono::FixedOffset::east_opt(offset_seconds).unwrap());
            let mut s = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                local.year(),
                local.month(),
                local.day(),
                local.hour(),
                local.minute(),
                local.second()
            );
            if digits > 0 {
                let nanos = format!("{:09}", local.nanosecond());
                let mut fraction: String = nanos.chars().take(usize::from(digits)).collect();
                while fraction.len() < usize::from(digits) {
                    fraction.push('0');
                }
                s.push('.');
                s.push_str(&fraction);
            }
            if hours == 0 {
                s.push('Z');
            } else {
                let (sign, h) = if hours < 0 {
                    ('-', -hours)
                } else {
                    ('+', hours)
                };
                let m = if hours == 5 { 30 } else { 0 };
                write!(s, "{sign}{h:02}:{m:02}").unwrap();
            }
            if lower { s.to_lowercase() } else { s }
        });
    let near_misses = prop::sample::select(vec![
        "2010-02-30T00:00:00Z",
        "2012-02-29T12:00:00+02:00",
        "2011-02-29T12:00:00Z",
        "2010-01-23T24:00:00Z",
        "2010-01-23T04:60:00Z",
        "2010-01-23T04:56:22+24:00",
        "2010-01-23T04:56:22+01:60",
        "2010-01-23 04:56:22Z",
        "2010-01-23x04:56:22Z",
        "2010-01-23é04:56:22Z",
        "2010-01-23T04:56:22",
        "2010-01-23T04:56:22.Z",
        "2010-01-23T04:56:22.5a+01:00",
        "2016-12-31T23:59:60Z",
        "2017-01-01T00:59:60+01:00",
        "2016-12-30T23:59:60Z",
        "2016-12-31T22:59:60-01:00",
        "0000-01-01T00:00:00+23:59",
        "9999-12-31T23:59:59-23:59",
        "2010",
        "2010-01-23",
        "2011-05-13T04:42:34Z ",
    ])
    .prop_map(str::to_owned);
    prop_oneof![3 => rendered, 2 => near_misses]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-3_i64..50).prop_map(Value::from),
        prop::sample::select(vec![0.5_f64, 1.5, 2.0, -0.5, 41.5, 42.0]).prop_map(Value::from),
    ]
}

/// `value` three times in four, else absent.
fn maybe<T: Strategy<Value = Value>>(value: T) -> impl Strategy<Value = Option<Value>> {
    prop::option::weighted(0.75, value)
}

fn email() -> impl Strategy<Value = Value> {
    (
        maybe(text().prop_map(Value::from)),
        maybe(prop::sample::select(vec!["work", "home", "WORK"]).prop_map(Value::from)),
        maybe(prop_oneof![
            any::<bool>().prop_map(Value::from),
            Just(json!("true"))
        ]),
        any_case("value"),
    )
        .prop_map(|(value, ty, primary, value_key)| {
            let mut m = Map::new();
            if let Some(v) = value {
                m.insert(value_key, v);
            }
            if let Some(v) = ty {
                m.insert("type".into(), v);
            }
            if let Some(v) = primary {
                m.insert("primary".into(), v);
            }
            Value::Object(m)
        })
}

fn emails() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => prop::collection::vec(email(), 0..3).prop_map(Value::from),
        1 => email(),
        1 => text().prop_map(|s| json!([s])),
        1 => (email(), text()).prop_map(|(e, s)| json!([[e, s]])),
    ]
}

fn scalar_or_odd(value: BoxedStrategy<Value>) -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => value.clone(),
        1 => Just(Value::Null),
        1 => prop::collection::vec(value, 0..3).prop_map(Value::from),
        1 => number(),
    ]
}

pub fn resource() -> impl Strategy<Value = Value> {
    let schemas_value = prop::sample::select(vec![
        json!([schemas::USER]),
        json!([schemas::USER, schemas::ENTERPRISE_USER]),
        json!([schemas::GROUP]),
        json!([schemas::USER.to_uppercase()]),
        json!("not a list"),
    ]);
    let name = prop_oneof![
        4 => (maybe(text().prop_map(Value::from)), maybe(text().prop_map(Value::from)), maybe(text().prop_map(Value::from)))
            .prop_map(|(given, family, value)| {
                let mut m = Map::new();
                if let Some(v) = given { m.insert("givenName".into(), v); }
                if let Some(v) = family { m.insert("familyName".into(), v); }
                if let Some(v) = value { m.insert("value".into(), v); }
                Value::Object(m)
            }),
        1 => text().prop_map(Value::from),
        // Shapes the family-name column cannot stand for: another spelling, an array.
        1 => text().prop_map(|t| json!({"FamilyName": t})),
        1 => text().prop_map(|t| json!([{"familyName": t}])),
    ];
    let meta = (
        maybe(datetime().prop_map(Value::from)),
        maybe(datetime().prop_map(Value::from)),
        any_case("created"),
    )
        .prop_map(|(created, modified, created_key)| {
            let mut m = Map::new();
            if let Some(v) = created {
                m.insert(created_key, v);
            }
            if let Some(v) = modified {
                m.insert("lastModified".into(), v);
            }
            Value::Object(m)
        });
    let manager = prop_oneof![
        3 => (maybe(text().prop_map(Value::from)), maybe(text().prop_map(Value::from))).prop_map(|(value, display)| {
            let mut m = Map::new();
            if let Some(v) = value { m.insert("value".into(), v); }
            if let Some(v) = display { m.insert("displayName".into(), v); }
            Value::Object(m)
        }),
        1 => text().prop_map(Value::from),
    ];
    let enterprise = (
        maybe(text().prop_map(Value::from)),
        maybe(manager),
        prop_oneof![
            4 => Just(schemas::ENTERPRISE_USER.to_owned()),
            1 => Just(schemas::ENTERPRISE_USER.to_uppercase()),
        ],
    )
        .prop_map(|(number, manager, key)| {
            let mut m = Map::new();
            if let Some(v) = number {
                m.insert("employeeNumber".into(), v);
            }
            if let Some(v) = manager {
                m.insert("manager".into(), v);
            }
            (key, Value::Object(m))
        });
    let strings = text().prop_map(Value::from).boxed();
    (
        (
            maybe(schemas_value),
            any_case("userName"),
            maybe(scalar_or_odd(strings.clone())),
            maybe(name),
            maybe(emails()),
            maybe(prop_oneof![
                4 => any::<bool>().prop_map(Value::from),
                1 => Just(json!("true")),
                // Where the active column is NULL but the evaluator still finds a boolean.
                1 => Just(json!([true])),
                1 => Just(json!({"value": false})),
            ]),
            maybe(scalar_or_odd(strings.clone())),
        ),
        (
            maybe(number()),
            maybe(meta),
            prop::option::weighted(0.5, enterprise),
            maybe(strings.clone()),
            maybe(prop_oneof![3 => strings.clone(), 1 => number()]),
            maybe(prop::collection::vec(prop_oneof![3 => strings.clone(), 1 => prop::collection::vec(strings.clone(), 0..2).prop_map(Value::from)], 0..3).prop_map(Value::from)),
            maybe(strings.clone()),
        ),
        // A second spelling of an attribute already there: the exact spelling must win.
        prop::option::weighted(
            0.3,
            (
                prop::sample::select(vec!["USERNAME", "username", "Title", "EMAILS", "Meta", "NAME", "Active"]),
                prop_oneof![3 => strings, 1 => emails(), 1 => Just(json!({"created": "2011-05-13T04:42:34Z"}))],
            ),
        ),
    )
        .prop_map(
            |(
                (schemas_value, user_name_key, user_name, name, emails, active, title),
                (login_count, meta, enterprise, id, external_id, tags, display_name),
                shadow,
            )| {
                let mut m = Map::new();
                let mut put = |k: &str, v: Option<Value>| {
                    if let Some(v) = v {
                        m.insert(k.to_owned(), v);
                    }
                };
                put("schemas", schemas_value);
                put(&user_name_key, user_name);
                put("name", name);
                put("emails", emails);
                put("active", active);
                put("title", title);
                put("loginCount", login_count);
                put("meta", meta);
                put("id", id);
                put("externalId", external_id);
                put("tags", tags);
                put("displayName", display_name);
                if let Some((key, ext)) = enterprise {
                    m.insert(key, ext);
                }
                if let Some((key, value)) = shadow {
                    m.entry(key.to_owned()).or_insert(value);
                }
                Value::Object(m)
            },
        )
}

fn path() -> impl Strategy<Value = AttrPath> {
    let ent = schemas::ENTERPRISE_USER;
    let paths = vec![
        AttrPath::new("userName"),
        AttrPath::new("USERNAME"),
        AttrPath::new("name"),
        AttrPath::new("name").with_sub("givenName"),
        AttrPath::new("name").with_sub("FAMILYNAME"),
        AttrPath::new("name").with_sub("familyName"),
        AttrPath::new("name").with_sub("value"),
        AttrPath::new("emails"),
        AttrPath::new("emails").with_sub("value"),
        AttrPath::new("emails").with_sub("type"),
        AttrPath::new("emails").with_sub("primary"),
        AttrPath::new("Emails").with_sub("Value"),
        AttrPath::new("active"),
        AttrPath::new("title"),
        AttrPath::new("loginCount"),
        AttrPath::new("meta"),
        AttrPath::new("meta").with_sub("created"),
        AttrPath::new("meta").with_sub("lastModified"),
        AttrPath::new("META").with_sub("CREATED"),
        AttrPath::new("id"),
        AttrPath::new("externalId"),
        AttrPath::new("tags"),
        AttrPath::new("displayName"),
        AttrPath::new("employeeNumber").with_urn(ent),
        AttrPath::new("manager").with_urn(ent),
        AttrPath::new("manager").with_urn(ent).with_sub("value"),
        AttrPath::new("manager")
            .with_urn(ent.to_uppercase())
            .with_sub("displayName"),
        AttrPath::new("userName").with_urn(schemas::USER),
        AttrPath::new("emails")
            .with_urn(schemas::USER)
            .with_sub("value"),
        AttrPath::new("title").with_urn(schemas::GROUP),
        AttrPath::new("missing"),
    ];
    prop::sample::select(paths)
}

fn comp_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        5 => text().prop_map(CompValue::String),
        3 => datetime().prop_map(CompValue::String),
        2 => number().prop_map(|n| match n {
            Value::Number(n) => CompValue::Number(n),
            _ => CompValue::Number(Number::from(0)),
        }),
        1 => any::<bool>().prop_map(CompValue::Bool),
        1 => Just(CompValue::Null),
    ]
}

fn op() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(CompareOp::ALL.to_vec())
}

/// Filters inside brackets: paths name sub-attributes of the parent.
fn inner_filter() -> impl Strategy<Value = Filter> {
    let sub = prop::sample::select(vec![
        AttrPath::new("value"),
        AttrPath::new("VALUE"),
        AttrPath::new("type"),
        AttrPath::new("primary"),
        AttrPath::new("givenName"),
        AttrPath::new("displayName"),
        AttrPath::new("created"),
        AttrPath::new("displayName").with_urn(schemas::ENTERPRISE_USER),
        AttrPath::new("value").with_sub("x"),
        AttrPath::new("missing"),
    ]);
    let leaf = prop_oneof![
        3 => (sub.clone(), op(), comp_value()).prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
        1 => sub.prop_map(Filter::Present),
    ];
    leaf.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
}

pub fn filter() -> impl Strategy<Value = Filter> {
    let parent = prop::sample::select(vec![
        AttrPath::new("emails"),
        AttrPath::new("name"),
        AttrPath::new("meta"),
        AttrPath::new("tags"),
        AttrPath::new("manager").with_urn(schemas::ENTERPRISE_USER),
    ]);
    let timestamp_path = prop::sample::select(vec![
        AttrPath::new("meta").with_sub("created"),
        AttrPath::new("meta").with_sub("lastModified"),
    ]);
    let leaf = prop_oneof![
        6 => (path(), op(), comp_value()).prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
        3 => (timestamp_path, op(), datetime()).prop_map(|(path, op, value)| Filter::Compare { path, op, value: CompValue::String(value) }),
        2 => path().prop_map(Filter::Present),
        2 => (parent, inner_filter()).prop_map(|(path, filter)| Filter::ValuePath { path, filter: Box::new(filter) }),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
}

pub async fn random_filters_match_the_evaluator(s: &SqlStore) {
    let probe = Probe::create(s).await;
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = (
        prop::collection::vec(resource(), 1..10),
        prop::collection::vec(filter(), 1..8),
    );
    let handle = tokio::runtime::Handle::current();
    let checked = AtomicUsize::new(0);
    let discriminating = AtomicUsize::new(0);
    let result = tokio::task::block_in_place(|| {
        runner.run(&strategy, |(resources, filters)| {
            handle.block_on(async {
                probe.load(&resources).await;
                for filter in &filters {
                    assert_agrees(&probe, &resources, filter, &DefaultRules)
                        .await
                        .map_err(|e| {
                            TestCaseError::fail(format!(
                                "{e}\nresources: {}",
                                Value::from(resources.clone())
                            ))
                        })?;
                    checked.fetch_add(1, Ordering::Relaxed);
                    let selected = crate::probe::evaluated(&resources, filter, &DefaultRules).len();
                    if selected > 0 && selected < resources.len() {
                        discriminating.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(())
            })
        })
    });
    eprintln!(
        "{}: {cases} proptest cases, {} filters checked (each 6 queries: three column layouts, and negated), {} of them \
         selecting some but not all resources",
        s.backend(),
        checked.load(Ordering::Relaxed),
        discriminating.load(Ordering::Relaxed),
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}
