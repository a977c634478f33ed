//! How many SQL statements each hot SCIM request costs, through the stack a server runs
//! (`ScimService` over `MemberLinkedStore` over `SqlStore`), on SQLite and PostgreSQL.
//!
//! On SQLite every statement is a hand-off to sqlx's worker thread and back, which a
//! profile of `userName eq` lookups showed to be most of their cost (39% of the CPU in
//! thread switches, SQLite itself 1.2%), so these counts are the lookups' budget. They
//! are read off sqlx's own statement log (`sqlx::query` events), counted by a tracing
//! layer: a separate test binary, because the layer is process-wide, and the tests here
//! take turns on a lock so that one test's statements never land in another's count.
//! The set-up of a connection the pool opens meanwhile (`PRAGMA`s) is not counted.
//!
//! `cargo test -p butterfly-store --test round_trips -- --nocapture` prints each count.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use butterfly_core::TeamId;
use butterfly_core::store::{ScimTokenStore as _, TeamStore as _};
use butterfly_core::token::RawToken;
use butterfly_scim::ScimService;
use butterfly_store::SqlStore;
use butterfly_store::sql::MemberLinkedStore;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::{Layer, Registry};

#[path = "it/harness.rs"]
#[allow(dead_code)]
mod harness;

const BASE: &str = "https://example.com/scim/v2";

/// Statements logged by sqlx so far, in this process.
static STATEMENTS: AtomicU64 = AtomicU64::new(0);

/// One test at a time: the count is process-wide.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct CountStatements;

/// Whether a logged statement is a connection's set-up (`PRAGMA ...` on SQLite), which
/// the pool runs when it opens a connection, not for a request.
#[derive(Default)]
struct SetUp(bool);

impl tracing::field::Visit for SetUp {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" || field.name() == "db.statement" {
            self.0 |= format!("{value:?}")
                .to_ascii_uppercase()
                .contains("PRAGMA ");
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "summary" || field.name() == "db.statement" {
            self.0 |= value.to_ascii_uppercase().contains("PRAGMA ");
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for CountStatements {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            let mut set_up = SetUp::default();
            event.record(&mut set_up);
            if !set_up.0 {
                STATEMENTS.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

fn install_counter() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        tracing::subscriber::set_global_default(Registry::default().with(CountStatements))
            .expect("no other subscriber in this binary");
    });
}

type Service = ScimService<MemberLinkedStore<SqlStore>>;

async fn call(service: &Service, team: TeamId, method: Method, path: &str, body: Value) -> Value {
    let mut request = Request::builder().method(method).uri(path);
    let bytes = if body.is_null() {
        Bytes::new()
    } else {
        request = request.header("content-type", "application/scim+json");
        Bytes::from(body.to_string())
    };
    let response = service
        .handle(team, BASE, request.body(bytes).unwrap())
        .await;
    let status = response.status();
    let body: Value = if response.body().is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(response.body()).unwrap()
    };
    assert!(
        status == StatusCode::OK || status == StatusCode::CREATED,
        "{path}: {status} {body}"
    );
    body
}

/// Statements `f` ran.
async fn count<T>(f: impl Future<Output = T>) -> (u64, T) {
    let before = STATEMENTS.load(Ordering::SeqCst);
    let out = f.await;
    (STATEMENTS.load(Ordering::SeqCst) - before, out)
}

/// The statements of each hot request, as `(request, statements)`.
async fn measure(store: SqlStore) -> Vec<(&'static str, u64)> {
    let team = store.create_team("acme").await.unwrap();
    let (_, secret) = store.create_scim_token(team.id, "okta").await.unwrap();
    let service: Service = ScimService::new(MemberLinkedStore::new(
        store.clone(),
        Arc::new(store.clone()),
    ));
    let team = team.id;
    let mut ids = Vec::new();
    for i in 0..20 {
        let user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": format!("user{i}@example.com"),
            "name": {"givenName": "User", "familyName": format!("Number {i}")},
            "emails": [{"value": format!("user{i}@example.com"), "primary": true}],
            "active": true,
        });
        let created = call(&service, team, Method::POST, "/Users", user).await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Engineering",
        "members": [{"value": ids[7]}, {"value": ids[8]}],
    });
    call(&service, team, Method::POST, "/Groups", group).await;

    let mut counts = Vec::new();
    let presented = RawToken::from_presented(secret.secret());
    store.authenticate_scim_token(&presented).await.unwrap();
    let (n, found) = count(store.authenticate_scim_token(&presented)).await;
    assert!(found.unwrap().is_some());
    counts.push(("bearer token check (cached)", n));

    // Each request runs twice and the second is counted: the first may open a pooled
    // connection, whose set-up statements are no part of the request.
    let lookup = "/Users?filter=userName%20eq%20%22User7@example.com%22";
    call(&service, team, Method::GET, lookup, Value::Null).await;
    let (n, found) = count(call(&service, team, Method::GET, lookup, Value::Null)).await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["groups"][0]["display"], "Engineering");
    counts.push(("userName eq lookup (a User in one Group)", n));

    let missing = "/Users?filter=userName%20eq%20%22nobody@example.com%22";
    call(&service, team, Method::GET, missing, Value::Null).await;
    let (n, found) = count(call(&service, team, Method::GET, missing, Value::Null)).await;
    assert_eq!(found["totalResults"], 0);
    counts.push(("userName eq lookup (no match)", n));

    let page = "/Users?startIndex=1&count=10";
    call(&service, team, Method::GET, page, Value::Null).await;
    let (n, found) = count(call(&service, team, Method::GET, page, Value::Null)).await;
    assert_eq!(found["itemsPerPage"], 10);
    assert_eq!(found["totalResults"], 20);
    assert_eq!(found["Resources"][7]["groups"][0]["display"], "Engineering");
    counts.push(("list page of 10 of 20 Users, with their Groups", n));

    let one = format!("/Users/{}", ids[8]);
    call(&service, team, Method::GET, &one, Value::Null).await;
    let (n, user) = count(call(&service, team, Method::GET, &one, Value::Null)).await;
    assert_eq!(user["groups"][0]["display"], "Engineering");
    counts.push(("GET /Users/{id}", n));

    let patch = |name: &str| {
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "displayName", "value": name}],
        })
    };
    let seven = format!("/Users/{}", ids[7]);
    call(&service, team, Method::PATCH, &seven, patch("Seven")).await;
    let (n, patched) = count(call(&service, team, Method::PATCH, &seven, patch("Sieben"))).await;
    assert_eq!(patched["displayName"], "Sieben");
    assert_eq!(patched["groups"][0]["display"], "Engineering");
    counts.push(("PATCH /Users/{id} (replace displayName)", n));

    let new_user = |name: &str| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": name,
            "emails": [{"value": name, "primary": true}],
        })
    };
    call(
        &service,
        team,
        Method::POST,
        "/Users",
        new_user("new1@example.com"),
    )
    .await;
    let (n, _) = count(call(
        &service,
        team,
        Method::POST,
        "/Users",
        new_user("new2@example.com"),
    ))
    .await;
    counts.push(("POST /Users", n));
    counts
}

/// Print the counts, and hold each request to its budget: reads are one statement
/// (a page that does not tell its total adds the count), writes no more than now.
fn report(backend: &str, counts: &[(&str, u64)], patch: u64, post: u64) {
    for (request, n) in counts {
        eprintln!("{backend}: {request}: {n} statements");
    }
    let budget = [
        ("bearer token check (cached)", 0),
        ("userName eq lookup (a User in one Group)", 1),
        ("userName eq lookup (no match)", 1),
        ("list page of 10 of 20 Users, with their Groups", 2),
        ("GET /Users/{id}", 1),
        ("PATCH /Users/{id} (replace displayName)", patch),
        ("POST /Users", post),
    ];
    for (request, most) in budget {
        let n = counts
            .iter()
            .find(|(r, _)| *r == request)
            .map(|(_, n)| *n)
            .unwrap();
        assert!(
            n <= most,
            "{backend}: {request} took {n} statements, budget {most}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_requests_on_sqlite() {
    install_counter();
    let _turn = TURN.lock().await;
    let mut counts = Vec::new();
    harness::on_sqlite(|s| async {
        counts = measure(s).await;
    })
    .await;
    report("sqlite", &counts, 9, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_requests_on_postgres() {
    install_counter();
    let _turn = TURN.lock().await;
    let mut counts = Vec::new();
    harness::on_postgres(|s| async {
        counts = measure(s).await;
    })
    .await;
    report("postgres", &counts, 10, 8);
}
