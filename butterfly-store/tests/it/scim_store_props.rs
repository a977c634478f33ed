//! `SqlStore` against `MemoryStore`, the reference: the same random resources created in
//! both (on one clock), then random queries (filter, sortBy, order, page), and both must
//! answer the same total and the same page, resource for resource. Also checks that
//! both stores accept and refuse the same creates (userName uniqueness).
//!
//! Cases: `PROPTEST_CASES` (default 256), each up to 12 resources and 6 queries.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use butterfly_core::store::TeamStore as _;
use butterfly_core::{FixedClock, TeamId};
use butterfly_scim::filter::{AttrPath, Filter};
use butterfly_scim::{ListQuery, MemoryStore, ResourceType, ScimStore, schemas};
use butterfly_store::SqlStore;
use chrono::TimeDelta;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;

use crate::filter_props::{filter, resource};

fn sort_path() -> impl Strategy<Value = Option<AttrPath>> {
    let ent = schemas::ENTERPRISE_USER;
    prop::option::weighted(
        0.8,
        prop::sample::select(vec![
            AttrPath::new("userName"),
            AttrPath::new("USERNAME"),
            AttrPath::new("name"),
            AttrPath::new("name").with_sub("givenName"),
            AttrPath::new("emails"),
            AttrPath::new("emails").with_sub("value"),
            AttrPath::new("emails").with_sub("primary"),
            AttrPath::new("active"),
            AttrPath::new("title"),
            AttrPath::new("loginCount"),
            AttrPath::new("meta").with_sub("created"),
            AttrPath::new("meta").with_sub("lastModified"),
            AttrPath::new("externalId"),
            AttrPath::new("tags"),
            AttrPath::new("displayName"),
            AttrPath::new("employeeNumber").with_urn(ent),
            AttrPath::new("manager").with_urn(ent).with_sub("value"),
            AttrPath::new("manager").with_urn(ent),
            AttrPath::new("userName").with_urn(schemas::USER),
            AttrPath::new("missing"),
        ]),
    )
}

/// `filter` with paths to `id` aimed at `externalId` instead: ids are random UUIDs, so
/// `id ge "B"` would select differently in two stores.
fn without_ids(filter: Filter) -> Filter {
    let retarget = |path: AttrPath| {
        if path.name.eq_ignore_ascii_case("id") {
            AttrPath {
                name: "externalId".into(),
                ..path
            }
        } else {
            path
        }
    };
    match filter {
        Filter::Compare { path, op, value } => Filter::Compare {
            path: retarget(path),
            op,
            value,
        },
        Filter::Present(path) => Filter::Present(retarget(path)),
        Filter::And(a, b) => Filter::And(Box::new(without_ids(*a)), Box::new(without_ids(*b))),
        Filter::Or(a, b) => Filter::Or(Box::new(without_ids(*a)), Box::new(without_ids(*b))),
        Filter::Not(inner) => Filter::Not(Box::new(without_ids(*inner))),
        other => other,
    }
}

fn list_query() -> impl Strategy<Value = ListQuery> {
    (
        prop::option::weighted(0.8, filter().prop_map(without_ids)),
        sort_path(),
        any::<bool>(),
        1_usize..14,
        prop_oneof![1 => Just(0_usize), 6 => 1_usize..14],
    )
        .prop_map(
            |(filter, sort_by, descending, start_index, count)| ListQuery {
                filter,
                sort_by,
                descending,
                start_index,
                count,
            },
        )
}

/// The marker each resource carries, to compare pages across stores.
fn markers(page: &[butterfly_scim::StoredResource]) -> Vec<String> {
    page.iter()
        .map(|r| r.resource["nickName"].as_str().unwrap_or("?").to_owned())
        .collect()
}

pub async fn queries_match_the_memory_store(s: &SqlStore) {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        prop::collection::vec(resource(), 1..12),
        prop::collection::vec(list_query(), 1..6),
    );
    let handle = tokio::runtime::Handle::current();
    let case_number = AtomicUsize::new(0);
    let queries = AtomicUsize::new(0);
    let result = tokio::task::block_in_place(|| {
        runner.run(&strategy, |(resources, lists)| {
            handle.block_on(async {
                let n = case_number.fetch_add(1, Ordering::Relaxed);
                let clock = Arc::new(FixedClock::new(
                    "2024-05-01T10:00:00Z"
                        .parse::<chrono::DateTime<chrono::Utc>>()
                        .unwrap(),
                ));
                let sql = s.clone().with_clock(clock.clone());
                let memory = MemoryStore::with_clock(clock.clone());
                let sql_team = sql.create_team(&format!("case-{n}")).await.unwrap().id;
                let memory_team = TeamId::new_random();
                for (i, attributes) in resources.iter().enumerate() {
                    let mut attributes = attributes.clone();
                    attributes["nickName"] = Value::from(format!("r{i}"));
                    let in_sql = sql
                        .create(sql_team, ResourceType::User, attributes.clone())
                        .await;
                    let in_memory = memory
                        .create(memory_team, ResourceType::User, attributes.clone())
                        .await;
                    prop_assert_eq!(
                        in_sql.is_ok(),
                        in_memory.is_ok(),
                        "create {}: sql {:?}, memory {:?}",
                        attributes,
                        in_sql.err(),
                        in_memory.err()
                    );
                    // Some resources share a millisecond, some do not.
                    clock.advance(TimeDelta::milliseconds(i64::try_from(i % 3).unwrap()));
                }
                for list in &lists {
                    let (sql_total, sql_page) = sql
                        .query(sql_team, ResourceType::User, list)
                        .await
                        .map_err(|e| TestCaseError::fail(format!("{list:?}: {e:?}")))?;
                    let (memory_total, memory_page) = memory
                        .query(memory_team, ResourceType::User, list)
                        .await
                        .unwrap();
                    prop_assert_eq!(
                        (sql_total, markers(&sql_page)),
                        (memory_total, markers(&memory_page)),
                        "filter `{}`, sortBy {:?} {}, start {}, count {}",
                        list.filter
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default(),
                        list.sort_by.as_ref().map(ToString::to_string),
                        if list.descending {
                            "descending"
                        } else {
                            "ascending"
                        },
                        list.start_index,
                        list.count
                    );
                    // What a page holds is what `get` returns.
                    for stored in &sql_page {
                        let got = sql
                            .get(sql_team, ResourceType::User, &stored.meta.id)
                            .await
                            .unwrap();
                        prop_assert_eq!(&got, stored);
                    }
                    queries.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
    });
    eprintln!(
        "{}: {cases} proptest cases, {} queries compared with MemoryStore",
        s.backend(),
        queries.load(Ordering::Relaxed)
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}
