//! How the SQL SCIM store holds up with many Users: run by hand with
//! `cargo test -p butterfly-store --test it scim_scale -- --ignored --nocapture`
//! (the PostgreSQL half needs `BUTTERFLY_TEST_DATABASE_URL`). Prints the median of five
//! runs of each query; asserts only the answers.

use std::time::Instant;

use butterfly_core::TeamId;
use butterfly_scim::filter::{AttrPath, Filter};
use butterfly_scim::{ListQuery, ResourceType, ScimStore};
use butterfly_store::SqlStore;
use serde_json::json;

const USERS: usize = 20_000;

/// (label, filter, sortBy, count, expected total)
type Case = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    usize,
    usize,
);

fn query(filter: Option<&str>, sort: Option<&str>, count: usize) -> ListQuery {
    ListQuery {
        filter: filter.map(|f| Filter::parse(f).unwrap()),
        sort_by: sort.map(|s| AttrPath::parse(s).unwrap()),
        descending: false,
        start_index: 1,
        count,
    }
}

pub async fn twenty_thousand_users(s: &SqlStore) {
    let [team, _]: [TeamId; 2] = crate::harness::two_teams(s).await;
    let started = Instant::now();
    for i in 0..USERS {
        let title = ["Engineer", "Manager", "Intern"][i % 3];
        s.create(
            team,
            ResourceType::User,
            json!({
                "userName": format!("user{i:05}@example.com"),
                "externalId": format!("ext-{i}"),
                "title": title,
                "active": i % 10 != 0,
                "emails": [{"value": format!("user{i:05}@example.com"), "type": "work", "primary": true}],
                "name": {"givenName": format!("Given{}", i % 100), "familyName": format!("Family{}", i % 1000)}
            }),
        )
        .await
        .unwrap();
    }
    eprintln!(
        "{}: {USERS} creates in {:.1} s",
        s.backend(),
        started.elapsed().as_secs_f64()
    );
    let cases: [Case; 9] = [
        (
            "userName eq (indexed)",
            Some(r#"userName eq "USER12345@example.com""#),
            None,
            10,
            1,
        ),
        (
            "userName sw (indexed range)",
            Some(r#"userName sw "user0234""#),
            None,
            100,
            10,
        ),
        (
            "externalId eq (indexed)",
            Some(r#"externalId eq "ext-777""#),
            None,
            10,
            1,
        ),
        (
            "USERNAME eq (JSON, other spelling)",
            Some(r#"USERNAME eq "user12345@example.com""#),
            None,
            10,
            1,
        ),
        (
            "value path (JSON scan)",
            Some(r#"emails[type eq "work" and value co "user19999"]"#),
            None,
            100,
            1,
        ),
        (
            "title and active (JSON scan)",
            Some(r#"title eq "intern" and active eq false"#),
            None,
            100,
            666,
        ),
        ("count only", None, None, 0, USERS),
        (
            "sortBy userName, first page",
            None,
            Some("userName"),
            50,
            USERS,
        ),
        (
            "sortBy name.familyName, first page",
            Some("active eq true"),
            Some("name.familyName"),
            50,
            18_000,
        ),
    ];
    // Once as loaded, once with the statistics a running database would have.
    for pass in ["fresh", "analyzed"] {
        if pass == "analyzed" {
            s.optimize().await.unwrap();
        }
        for (label, filter, sort, count, total) in &cases {
            let q = query(*filter, *sort, *count);
            // The median of five runs: the first also prepares the statement.
            let mut times = Vec::new();
            for _ in 0..5 {
                let started = Instant::now();
                let (got, _) = s.query(team, ResourceType::User, &q).await.unwrap();
                times.push(started.elapsed());
                assert_eq!(got, *total, "{label}");
            }
            times.sort();
            let elapsed = times[2];
            eprintln!(
                "{} ({pass}): {label}: {:.1} ms",
                s.backend(),
                elapsed.as_secs_f64() * 1000.0
            );
        }
    }
}
