//! Fresh databases for each test, and a raw view of the tables for at-rest checks.

use std::future::Future;
use std::panic::{AssertUnwindSafe, resume_unwind};

use butterfly_store::SqlStore;
use futures::FutureExt as _;
use sqlx::postgres::PgConnection;
use sqlx::{Connection as _, Executor as _, Row as _};

/// The variable naming a PostgreSQL server the tests may create databases on.
pub const DATABASE_URL_VAR: &str = "BUTTERFLY_TEST_DATABASE_URL";

/// Run `test` on a store over a new SQLite file in a temporary directory.
pub async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(SqlStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let store = SqlStore::connect(&url).await.expect("open SQLite");
    test(store.clone()).await;
    store.close().await;
}

/// Run `test` on a store over a new SQLite file, with the file's URL (to open it again).
pub async fn on_sqlite_file<F, Fut>(test: F)
where
    F: FnOnce(SqlStore, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let store = SqlStore::connect(&url).await.expect("open SQLite");
    test(store.clone(), url).await;
    store.close().await;
}

/// Run `test` on a store over a new PostgreSQL database, dropped afterwards (also when
/// the test fails).
///
/// Fails, rather than skips, without `BUTTERFLY_TEST_DATABASE_URL`: a suite that passes
/// by running nothing would hide a broken PostgreSQL path.
pub async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(SqlStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let Ok(admin_url) = std::env::var(DATABASE_URL_VAR) else {
        panic!(
            "the PostgreSQL store tests need a server: set {DATABASE_URL_VAR} \
             (e.g. postgres://postgres@127.0.0.1:54329/postgres) or run scripts/test"
        );
    };
    let name = format!("bf_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach {DATABASE_URL_VAR}: {e}"));
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create a test database");
    let url = with_database(&admin_url, &name);
    let store = SqlStore::connect(&url).await.expect("open PostgreSQL");

    let outcome = AssertUnwindSafe(test(store.clone())).catch_unwind().await;

    store.close().await;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .expect("drop the test database");
    admin.close().await.ok();
    if let Err(panic) = outcome {
        resume_unwind(panic);
    }
}

/// `url` with its database name replaced by `name`, keeping user, host and parameters.
fn with_database(url: &str, name: &str) -> String {
    let authority_at = url.find("://").map_or(0, |i| i + 3);
    let (scheme_and_authority, path_and_query) = match url[authority_at..].find('/') {
        Some(i) => url.split_at(authority_at + i),
        None => (url, ""),
    };
    let query = path_and_query
        .find('?')
        .map_or("", |i| &path_and_query[i..]);
    format!("{scheme_and_authority}/{name}{query}")
}

/// What a test may look at beyond the storage traits: every stored cell, as text.
pub trait RawTables {
    /// Every non-null cell of `table`, as text.
    fn cells(&self, table: &str) -> impl Future<Output = Vec<String>> + Send;
    /// Run one statement; the error's text when the database refuses it.
    fn execute(&self, sql: &str) -> impl Future<Output = Result<u64, String>> + Send;
}

impl RawTables for SqlStore {
    async fn execute(&self, sql: &str) -> Result<u64, String> {
        sqlx::query(sql)
            .execute(self.pool())
            .await
            .map(|done| done.rows_affected())
            .map_err(|e| e.to_string())
    }

    async fn cells(&self, table: &str) -> Vec<String> {
        // `table` is a literal from the test suite.
        let rows = sqlx::query(&format!("SELECT * FROM {table}"))
            .fetch_all(self.pool())
            .await
            .expect("read the table");
        let mut cells = Vec::new();
        for row in &rows {
            for i in 0..row.len() {
                if let Ok(Some(text)) = row.try_get::<Option<String>, _>(i) {
                    cells.push(text);
                } else if let Ok(Some(n)) = row.try_get::<Option<i64>, _>(i) {
                    cells.push(n.to_string());
                }
            }
        }
        cells
    }
}

/// Two teams, created in `store`, for the SCIM store suite.
pub async fn two_teams(store: &SqlStore) -> [butterfly_core::TeamId; 2] {
    use butterfly_core::store::TeamStore as _;
    let a = store.create_team("team-a").await.expect("create team a");
    let b = store.create_team("team-b").await.expect("create team b");
    [a.id, b.id]
}
