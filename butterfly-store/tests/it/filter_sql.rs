//! Hand-written filter cases, each construct on both databases: every case states the
//! resources it selects, and SQL (with and without indexed columns, and negated) must
//! agree with that and with the in-memory evaluator.

use std::collections::BTreeSet;

use butterfly_scim::filter::{AttrPath, AttributeRules, AttributeType, DefaultRules, Filter};
use butterfly_scim::schemas;
use butterfly_store::SqlStore;
use butterfly_store::scim::{BoundQuery, FilterSqlError, MAX_NESTING, push_filter};
use serde_json::{Value, json};

use crate::probe::{Probe, assert_agrees, body_columns, evaluated, indexed_columns};

/// Labelled resources; a case names the labels it selects.
fn fixtures() -> Vec<(&'static str, Value)> {
    vec![
        (
            "bjensen",
            json!({
                "schemas": [schemas::USER, schemas::ENTERPRISE_USER],
                "id": "2819c223-7f76-453a-919d-413861904646",
                "externalId": "701984",
                "userName": "bjensen@example.com",
                "name": {"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Barbara", "middleName": ""},
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
                "groups": [{"value": "e9e30dba", "$ref": "https://example.com/v2/Groups/e9e30dba", "display": "Tour Guides"}],
                "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAw"}],
                "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z", "lastModified": "2011-05-13T04:42:34Z", "version": "W/\"3694e05e9dff591\""},
                schemas::ENTERPRISE_USER: {
                    "employeeNumber": "701984",
                    "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
                }
            }),
        ),
        (
            "shouty",
            json!({"UserName": "BJensen2", "Emails": [{"Value": "X@Y.COM", "TYPE": "work"}], "TITLE": "intern", "ID": "Shouty"}),
        ),
        (
            "both",
            json!({"schemas": [schemas::GROUP], "userName": "exact", "username": "other", "title": "x"}),
        ),
        (
            "empties",
            json!({"userName": "e", "n": null, "s": "", "a": [], "o": {}, "oo": {"value": null, "x": ""}, "z": 0, "f": false, "nickName": "", "name": {"middleName": ""}}),
        ),
        (
            "nested",
            json!({"userName": "nest", "tags": [["deep", "x"], "flat"], "emails": {"value": "single@obj.com", "type": "work"}, "loginCount": 7, "score": 2.0, "active": false}),
        ),
        (
            "dates",
            json!({"userName": "dates", "meta": {"created": "2010-01-23T06:56:22.5+02:00", "lastModified": "1999-12-31T23:59:60Z"}}),
        ),
        (
            "weird-dates",
            json!({"userName": "weird", "meta": {"created": "2010-02-30T00:00:00Z", "lastModified": "2010"}}),
        ),
        (
            "group",
            json!({"schemas": [schemas::GROUP], "id": "e9e30dba", "displayName": "Tour Guides", "members": [{"value": "2819c223", "display": "Babs"}, {"value": "902c246b", "display": "Mandy"}]}),
        ),
        (
            "odd-types",
            json!({"userName": ["arr1", "ARR2"], "active": "true", "title": 5, "externalId": 701_984, "loginCount": "42"}),
        ),
        (
            "ext-case",
            json!({"schemas": [schemas::USER], "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER": {"employeeNumber": "55", "manager": "boss"}}),
        ),
        (
            "not-an-object",
            json!({"userName": "flat", "name": "just text", "emails": "plain@string.com", schemas::ENTERPRISE_USER: "text"}),
        ),
        (
            "offsets",
            json!({"userName": "Zed", "meta": {"created": "0000-01-01T00:59:60+01:00", "lastModified": "2016-12-31t23:59:59.9999999999z"}}),
        ),
    ]
}

/// (filter, labels it selects).
fn cases() -> Vec<(String, Vec<&'static str>)> {
    let ent = schemas::ENTERPRISE_USER;
    let core_user = schemas::USER;
    let core_group = schemas::GROUP;
    vec![
        // eq on strings: case-insensitive for userName, exact spelling of the name first.
        (
            r#"userName eq "BJENSEN@example.com""#.into(),
            vec!["bjensen"],
        ),
        (r#"USERNAME eq "bjensen2""#.into(), vec!["shouty"]),
        (r#"userName eq "exact""#.into(), vec!["both"]),
        (r#"userName eq "other""#.into(), vec![]),
        (r#"userName eq "ARR2""#.into(), vec!["odd-types"]),
        (r#"userName sw "b""#.into(), vec!["bjensen", "shouty"]),
        (
            r#"userName gt "e""#.into(),
            vec!["both", "nested", "weird-dates", "not-an-object", "offsets"],
        ),
        // case-exact attributes
        (
            r#"id eq "2819C223-7F76-453A-919D-413861904646""#.into(),
            vec![],
        ),
        (
            r#"id eq "2819c223-7f76-453a-919d-413861904646""#.into(),
            vec!["bjensen"],
        ),
        (r#"id eq "Shouty""#.into(), vec!["shouty"]),
        (r#"id sw "e9e""#.into(), vec!["group"]),
        (r#"externalId eq "701984""#.into(), vec!["bjensen"]),
        ("externalId eq 701984".into(), vec!["odd-types"]),
        (r#"meta.version eq "W/\"3694E05E9DFF591\"""#.into(), vec![]),
        (
            r#"groups.$ref ew "/Groups/e9e30dba""#.into(),
            vec!["bjensen"],
        ),
        (r#"groups.$ref ew "/groups/e9e30dba""#.into(), vec![]),
        // string operators
        (r#"title co "our G""#.into(), vec!["bjensen"]),
        (r#"title sw "tour""#.into(), vec!["bjensen"]),
        (r#"title ew "GUIDE""#.into(), vec!["bjensen"]),
        (r#"title ew "Tour""#.into(), vec![]),
        (r#"title co """#.into(), vec!["bjensen", "shouty", "both"]),
        (r#"title gt "Tour""#.into(), vec!["bjensen", "both"]),
        (r#"title lt "tour guidf""#.into(), vec!["bjensen", "shouty"]),
        (r#"title le "INTERN""#.into(), vec!["shouty"]),
        (r#"title ge "x""#.into(), vec!["both"]),
        ("title eq 5".into(), vec!["odd-types"]),
        // multi-valued and complex values
        (
            r#"emails.type eq "work""#.into(),
            vec!["bjensen", "shouty", "nested"],
        ),
        (r#"emails co "jensen.org""#.into(), vec!["bjensen"]),
        (
            r#"emails eq "plain@string.com""#.into(),
            vec!["not-an-object"],
        ),
        (r#"emails ew "@obj.com""#.into(), vec!["nested"]),
        (r#"emails lt "zzz""#.into(), vec![]),
        ("emails.primary eq true".into(), vec!["bjensen"]),
        ("emails.primary gt false".into(), vec![]),
        (r#"tags eq "GREEN""#.into(), vec!["bjensen"]),
        (r#"tags eq "deep""#.into(), vec!["nested"]),
        (r#"tags sw "fl""#.into(), vec!["nested"]),
        (r#"name eq "just text""#.into(), vec!["not-an-object"]),
        (r#"name gt "A""#.into(), vec![]),
        (r#"name.givenName eq "barbara""#.into(), vec!["bjensen"]),
        (r#"members.value eq "902c246b""#.into(), vec!["group"]),
        // numbers and booleans
        ("loginCount eq 42".into(), vec!["bjensen"]),
        ("loginCount eq 42.0".into(), vec!["bjensen"]),
        ("loginCount gt 41.5".into(), vec!["bjensen"]),
        ("loginCount le 7".into(), vec!["nested"]),
        ("loginCount co 4".into(), vec![]),
        ("score ge 1.5".into(), vec!["bjensen", "nested"]),
        ("score lt 2".into(), vec!["bjensen"]),
        ("score eq 2".into(), vec!["nested"]),
        ("z eq 0".into(), vec!["empties"]),
        (
            "loginCount gt -18446744073709551615".into(),
            vec!["bjensen", "nested"],
        ),
        ("active eq true".into(), vec!["bjensen"]),
        ("active eq false".into(), vec!["nested"]),
        (r#"active eq "true""#.into(), vec!["odd-types"]),
        ("active gt false".into(), vec![]),
        ("f eq false".into(), vec!["empties"]),
        // presence, null and ne
        (
            "title pr".into(),
            vec!["bjensen", "shouty", "both", "odd-types"],
        ),
        ("nickName pr".into(), vec![]),
        ("name pr".into(), vec!["bjensen", "not-an-object"]),
        ("name.middleName pr".into(), vec![]),
        ("n pr or s pr or a pr or o pr or oo pr".into(), vec![]),
        ("z pr and f pr".into(), vec!["empties"]),
        ("tags pr".into(), vec!["bjensen", "nested"]),
        (
            "title eq null".into(),
            vec![
                "empties",
                "nested",
                "dates",
                "weird-dates",
                "group",
                "ext-case",
                "not-an-object",
                "offsets",
            ],
        ),
        ("nickName ne null".into(), vec![]),
        ("title gt null".into(), vec![]),
        (
            r#"title ne "Tour Guide""#.into(),
            vec![
                "shouty",
                "both",
                "empties",
                "nested",
                "dates",
                "weird-dates",
                "group",
                "odd-types",
                "ext-case",
                "not-an-object",
                "offsets",
            ],
        ),
        (
            r#"emails.type ne "work""#.into(),
            vec![
                "both",
                "empties",
                "dates",
                "weird-dates",
                "group",
                "odd-types",
                "ext-case",
                "not-an-object",
                "offsets",
            ],
        ),
        // value paths
        (
            r#"emails[type eq "work" and value co "@example.com"]"#.into(),
            vec!["bjensen"],
        ),
        (
            r#"emails[type eq "work" and value co "@y.com"]"#.into(),
            vec!["shouty"],
        ),
        (
            r#"emails[type eq "home" and value co "@example.com"]"#.into(),
            vec![],
        ),
        (r#"emails[not (type eq "work")]"#.into(), vec!["bjensen"]),
        (
            "emails[value pr]".into(),
            vec!["bjensen", "shouty", "nested"],
        ),
        (
            r#"name[givenName eq "barbara" and familyName pr]"#.into(),
            vec!["bjensen"],
        ),
        (
            "name[middleName eq null]".into(),
            vec!["bjensen", "empties"],
        ),
        (
            format!(r#"{ent}:manager[displayName sw "john"]"#),
            vec!["bjensen"],
        ),
        (
            format!(r#"{ent}:manager[{ent}:displayName sw "John"]"#),
            vec!["bjensen"],
        ),
        (format!(r#"emails[{ent}:type eq "work"]"#), vec![]),
        ("phoneNumbers[type pr]".into(), vec![]),
        ("userName[value pr]".into(), vec![]),
        (
            r#"members[value eq "2819c223"] and displayName eq "tour guides""#.into(),
            vec!["group"],
        ),
        // extensions and schema URNs
        (
            format!(r#"{ent}:employeeNumber eq "701984""#),
            vec!["bjensen"],
        ),
        (format!(r#"{ent}:employeeNumber eq "55""#), vec!["ext-case"]),
        (
            format!(r#"{ent}:manager eq "26118915-6090-4610-87e4-49d8ca9f808d""#),
            vec!["bjensen"],
        ),
        (format!(r#"{ent}:manager eq "BOSS""#), vec!["ext-case"]),
        (format!("{ent}:department pr"), vec![]),
        (format!("{ent} pr"), vec![]),
        (r#"employeeNumber eq "701984""#.into(), vec![]),
        (
            format!("{core_user}:title pr"),
            vec!["bjensen", "shouty", "odd-types"],
        ),
        (
            format!("{core_group}:title pr"),
            vec!["both", "shouty", "odd-types"],
        ),
        (format!("{core_group}:displayName pr"), vec!["group"]),
        (
            format!("{}:userName eq \"exact\"", core_user.to_uppercase()),
            vec![],
        ),
        ("urn:example:unknown:2.0:User:title pr".into(), vec![]),
        // date-times: chronological where both parse, else text
        (
            r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#.into(),
            vec!["bjensen"],
        ),
        (
            r#"meta.lastModified eq "2011-05-13T04:42:34.000Z""#.into(),
            vec!["bjensen"],
        ),
        (
            r#"meta.lastModified gt "2011-05-13T05:00:00+01:00""#.into(),
            vec!["bjensen", "offsets"],
        ),
        (
            r#"meta.created lt "2010-01-23T04:56:22.5Z""#.into(),
            vec!["bjensen", "offsets"],
        ),
        (
            r#"meta.created eq "2010-01-23T04:56:22.5Z""#.into(),
            vec!["dates"],
        ),
        (
            r#"meta.created eq "2010-01-23T04:56:22.500000001Z""#.into(),
            vec![],
        ),
        (
            r#"meta.created gt "2010-01-23T04:56:22.499999999Z""#.into(),
            vec!["dates", "weird-dates"],
        ),
        (
            r#"meta.created ge "2010-01-01T00:00:00Z" and meta.created lt "2011-01-01T00:00:00Z""#
                .into(),
            vec!["bjensen", "dates", "weird-dates"],
        ),
        (
            r#"meta.created sw "2010-01""#.into(),
            vec!["bjensen", "dates"],
        ),
        (
            r#"meta.created gt "2010""#.into(),
            vec!["bjensen", "dates", "weird-dates"],
        ),
        (
            r#"meta.created eq "2010-02-30T00:00:00Z""#.into(),
            vec!["weird-dates"],
        ),
        (
            r#"meta.lastModified eq "1999-12-31T23:59:59.999999999Z""#.into(),
            vec!["dates"],
        ),
        (
            r#"meta.lastModified lt "2000-01-01T00:00:00Z""#.into(),
            vec!["dates"],
        ),
        (
            r#"meta.lastModified gt "2016-12-31T23:59:59.999999999Z""#.into(),
            vec![],
        ),
        (
            r#"meta.lastModified eq "2016-12-31T23:59:59.999999999Z""#.into(),
            vec!["offsets"],
        ),
        (
            r#"meta.created lt "0000-01-01T00:00:00Z""#.into(),
            vec!["offsets"],
        ),
        (
            r#"meta.lastModified lt "2011""#.into(),
            vec!["dates", "weird-dates"],
        ),
        // logic
        (
            r#"title pr and not (title eq "intern") and userName sw "b""#.into(),
            vec!["bjensen"],
        ),
        (
            r#"userName eq "e" or userName eq "nest" or userName eq "dates""#.into(),
            vec!["empties", "nested", "dates"],
        ),
        (
            r#"(userName eq "e" or active eq false) and loginCount pr"#.into(),
            vec!["nested"],
        ),
    ]
}

fn labels_of(fixtures: &[(&'static str, Value)], rows: &BTreeSet<usize>) -> Vec<&'static str> {
    rows.iter().map(|&n| fixtures[n].0).collect()
}

pub async fn every_construct_matches_the_evaluator(s: &SqlStore) {
    let probe = Probe::create(s).await;
    let fixtures = fixtures();
    let resources: Vec<Value> = fixtures.iter().map(|(_, r)| r.clone()).collect();
    probe.load(&resources).await;
    let mut failures = Vec::new();
    for (text, labels) in cases() {
        let filter = Filter::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let wanted: BTreeSet<&str> = labels.iter().copied().collect();
        let evaluated = labels_of(&fixtures, &evaluated(&resources, &filter, &DefaultRules));
        if evaluated.iter().copied().collect::<BTreeSet<_>>() != wanted {
            failures.push(format!(
                "the case is wrong: `{text}`: evaluator selects {evaluated:?}, the case says {labels:?}"
            ));
            continue;
        }
        if let Err(e) = assert_agrees(&probe, &resources, &filter, &DefaultRules).await {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Rules with a dateTime attribute of our own, and every string case-exact.
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

pub async fn custom_rules_are_honoured(s: &SqlStore) {
    let probe = Probe::create(s).await;
    let resources = vec![
        json!({"userName": "bjensen", "hired": "2020-01-01T10:00:00+05:00", "displayName": "Ann"}),
        json!({"userName": "BJENSEN", "hired": "2020-01-01T04:00:00Z", "displayName": "ann"}),
    ];
    probe.load(&resources).await;
    for text in [
        r#"userName eq "BJENSEN""#,
        r#"userName eq "bjensen""#,
        r#"userName sw "bj""#,
        r#"displayName gt "B""#,
        r#"hired lt "2020-01-01T06:00:00Z""#,
        r#"hired eq "2020-01-01T05:00:00Z""#,
    ] {
        let filter = Filter::parse(text).unwrap();
        assert_agrees(&probe, &resources, &filter, &Strict)
            .await
            .unwrap();
        // The indexed userName column is lowercased: with case-exact rules it must not
        // be used, or `eq "BJENSEN"` would select both.
        assert_eq!(
            probe
                .select(&filter, &Strict, &indexed_columns())
                .await
                .unwrap(),
            evaluated(&resources, &filter, &Strict),
            "{text}"
        );
    }
}

/// The longest chains and deepest nesting a parsed filter can have compile and run.
pub async fn deep_and_long_filters_run(s: &SqlStore) {
    let probe = Probe::create(s).await;
    let resources: Vec<Value> = (0..5)
        .map(|i| json!({"userName": format!("u{i}"), "title": format!("t{i}")}))
        .collect();
    probe.load(&resources).await;

    // About 1000 terms, just under the parser's 8 KiB input limit, left-leaning. (Longer
    // hand-built chains are covered by the compiler's unit tests.)
    let chain = (0..1000).map(|_| "a pr").collect::<Vec<_>>().join(" or ");
    let chain = format!("{chain} or userName eq \"u3\"");
    assert!(chain.len() < 8 * 1024);
    let filter = Filter::parse(&chain).unwrap();
    assert_agrees(&probe, &resources, &filter, &DefaultRules)
        .await
        .unwrap();
    let chain = (0..600)
        .map(|_| "title pr")
        .collect::<Vec<_>>()
        .join(" and ");
    assert!(chain.len() < 8 * 1024);
    let filter = Filter::parse(&chain).unwrap();
    assert_agrees(&probe, &resources, &filter, &DefaultRules)
        .await
        .unwrap();

    // As deep as the parser allows (64 levels of brackets): `not (` over `and`, and
    // parenthesised `or` over `and`.
    let mut deep = r#"userName eq "u1""#.to_owned();
    for i in 0..63 {
        deep = format!("not (title eq \"t{i}\" and {deep})");
    }
    let filter = Filter::parse(&deep).unwrap();
    assert_agrees(&probe, &resources, &filter, &DefaultRules)
        .await
        .unwrap();
    let mut deep = r#"userName eq "u1""#.to_owned();
    for i in 0..31 {
        deep = format!("(title eq \"t{i}\" or (userName pr and {deep}))");
    }
    let filter = Filter::parse(&deep).unwrap();
    assert_agrees(&probe, &resources, &filter, &DefaultRules)
        .await
        .unwrap();

    // A hand-built tree at the compiler's own limit still runs (`assert_agrees` adds the
    // last `not`); one more level is refused.
    let mut nots = Filter::Present(AttrPath::new("title"));
    for _ in 1..MAX_NESTING {
        nots = Filter::Not(Box::new(nots));
    }
    assert_agrees(&probe, &resources, &nots, &DefaultRules)
        .await
        .unwrap();
    let too_deep = Filter::Not(Box::new(Filter::Not(Box::new(nots))));
    let mut q = BoundQuery::new("");
    assert_eq!(
        push_filter(
            &mut q,
            s.backend(),
            &body_columns(),
            &too_deep,
            &DefaultRules
        ),
        Err(FilterSqlError::TooDeep { limit: MAX_NESTING })
    );
}

/// Values that could not be stored on PostgreSQL, and text that looks like SQL or JSON.
pub async fn awkward_values_are_bound_safely(s: &SqlStore) {
    let probe = Probe::create(s).await;
    let resources = vec![
        json!({"userName": "a'b", "title": "x\"); DROP TABLE filter_probe; --"}),
        json!({"userName": "a", "title": "[1,2]", "tags": ["{\"value\":\"x\"}"]}),
        json!({"userName": "a\u{7f}", "title": "é"}),
    ];
    probe.load(&resources).await;
    for text in [
        r#"userName eq "a'b""#,
        r#"title co "DROP TABLE""#,
        r#"title eq "[1,2]""#,
        r#"tags.value eq "x""#,
        r#"tags co "value""#,
        r#"userName gt "a\u0000""#,
        r#"userName ge "a\u0000b""#,
        r#"userName lt "a\u0000""#,
        r#"userName le "a\u0000""#,
        r#"userName eq "a\u0000""#,
        r#"title co "\u0000""#,
        r#"title sw "é""#,
        r#"meta.created eq "2020-01-01\u000010:00:00Z""#,
    ] {
        let filter = Filter::parse(text).unwrap();
        assert_agrees(&probe, &resources, &filter, &DefaultRules)
            .await
            .unwrap();
    }
    // The table is still there.
    assert_eq!(
        probe
            .select(
                &Filter::parse("userName pr").unwrap(),
                &DefaultRules,
                &body_columns()
            )
            .await
            .unwrap()
            .len(),
        3
    );
}
