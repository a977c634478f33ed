//! The server's tables on SQLite or PostgreSQL, through one code path.
//!
//! [`SqlStore`] implements every trait in [`butterfly_core::store`]. It talks to the
//! database through sqlx's `Any` driver, so each query is written once, with `$1`-style
//! placeholders that both SQLite and PostgreSQL accept. That choice fixes the column
//! types to what `Any` can decode on both databases: ids are UUIDs in `TEXT`, times are
//! `BIGINT` unix milliseconds, booleans are small integers and JSON is `TEXT`. The one
//! query that must differ between the databases, claiming a job, lives in
//! [`Backend::claim_job_sql`].
//!
//! Secrets (API keys, SCIM tokens, session cookies) are stored only as the hex SHA-256
//! of their text, under a unique index. A presented secret is looked up by its hash and
//! then compared again in constant time with [`TokenHash::verify`], so the check does not
//! rest on the database's string comparison.
//!
//! [`TokenHash::verify`]: butterfly_core::token::TokenHash::verify

mod audit;
mod cli_login;
mod connections;
mod git_exports;
mod group_commit;
mod group_roles;
mod jobs;
mod members;
mod notifications;
mod replicas;
mod restore_jobs;
pub mod retention;
mod rows;
mod schedules;
mod scim;
mod scim_members;
mod sessions;
mod sso;
mod teams;
mod tokens;

pub use audit::{AuditContext, audit_entry};
pub use cli_login::{
    CLI_ACCESS_TOKEN_PREFIX, CLI_REFRESH_TOKEN_PREFIX, CliSignIn, DEVICE_CODE_PREFIX,
    DeviceApproval, DeviceAuthorization, DevicePoll, IssuedTokens, RefreshOutcome, TokenLifetimes,
    display_user_code, normalize_user_code,
};
pub use group_commit::GroupCommitStats;
pub use notifications::NotificationChannel;
pub use restore_jobs::{NewRestoreJob, RestoreFinish, RestoreJob, RestoreJobStatus, RestoreStart};
pub use scim::ScimWrite;
pub use scim_members::MemberLinkedStore;
pub use tokens::SCIM_TOKEN_CACHE_TTL;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use butterfly_core::store::StoreError;
use butterfly_core::{Clock, SystemClock};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{AnyPool, ConnectOptions as _, Connection as _, Executor as _};
use thiserror::Error;

/// Migrations for SQLite, embedded in the binary.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
/// Migrations for PostgreSQL, embedded in the binary.
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a SQLite connection waits for another writer before giving up. Writers
/// queue on one lock; five seconds rides out a burst of job claims and token writes.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections per pool on a SQLite file: readers run in parallel under WAL, writers
/// queue anyway, and the machine this targets has few cores.
const SQLITE_POOL_SIZE: u32 = 4;
/// Connections that write SCIM requests on a SQLite file: one. SQLite admits one writer
/// at a time, and a writer that finds the lock taken polls for it with growing sleeps
/// (1 ms, 2 ms, 5 ms, ... up to 100 ms); with one writing connection, writers queue on
/// the pool instead, in order, and each starts the moment the last one commits.
const SQLITE_WRITERS: u32 = 1;
/// The team a fresh server creates at first start, and the one tools (the SCIM seeder,
/// `butterfly-server`'s admin commands) use when none is named.
pub const DEFAULT_TEAM: &str = "default";
/// Connections per pool on PostgreSQL.
const POSTGRES_POOL_SIZE: u32 = 10;

/// Errors from opening a database (beyond the ones every store call may return).
///
/// [`SqlStore::connect`] returns them inside [`StoreError::Backend`]; downcast the source
/// to tell them apart.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SqlError {
    /// The URL names no database this crate supports. Only the scheme is kept, so a
    /// password in the URL never reaches a log.
    #[error("unsupported database URL scheme `{scheme}`: expected sqlite:... or postgres://...")]
    UnsupportedUrl {
        /// The scheme of the rejected URL.
        scheme: String,
    },
    /// The database could not be opened.
    #[error("cannot open the database")]
    Connect(#[source] sqlx::Error),
    /// A request this version of the store does not know how to carry out (a newer
    /// kind of member change).
    #[error("unsupported {0}")]
    Unsupported(&'static str),
    /// The embedded migrations could not be applied.
    #[error("cannot apply the database migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// The transaction a SCIM write shared with others (group commit, on SQLite) did not
    /// commit: nothing of the write was stored.
    #[error("the shared write transaction did not commit")]
    SharedCommit(#[source] Arc<sqlx::Error>),
    /// A SCIM write began another SCIM write while holding its turn on the SQLite writer
    /// (group commit): the second would wait for the first, which waits for it. Begin
    /// the nested write after the first commits, or run its statements on the first.
    #[error(
        "a SCIM write began another SCIM write while holding its turn on the writer; \
         it would wait for itself"
    )]
    NestedScimWrite,
}

/// Which database a [`SqlStore`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// SQLite: a file (or memory) on this machine; the default.
    Sqlite,
    /// PostgreSQL: shared by several server replicas.
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    fn of_url(url: &str) -> Result<Backend, SqlError> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => Err(SqlError::UnsupportedUrl {
                scheme: scheme.to_owned(),
            }),
        }
    }

    fn migrations(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    /// How SCIM filters walk JSON on this database.
    pub(crate) fn json_dialect(self) -> &'static dyn crate::scim::dialect::JsonDialect {
        match self {
            Backend::Sqlite => &crate::scim::dialect::Sqlite,
            Backend::Postgres => &crate::scim::dialect::Postgres,
        }
    }

    /// The statement that claims the oldest due job: the one place where the two
    /// dialects must differ.
    ///
    /// Parameters: `$1` worker name, `$2` now (unix ms). Returns the claimed row.
    ///
    /// - PostgreSQL: the inner `SELECT ... FOR UPDATE SKIP LOCKED` locks one queued row
    ///   that no other transaction holds, so concurrent claimers on several replicas
    ///   each take a different job without waiting on each other; if a row was claimed
    ///   and committed meanwhile, PostgreSQL re-checks `status = 'queued'` on the new
    ///   version and moves on to the next row.
    /// - SQLite: one `UPDATE` is one write transaction, and SQLite admits one writer at
    ///   a time, so the sub-select and the update see the same state and no other
    ///   claimer can slip between them.
    pub fn claim_job_sql(self) -> &'static str {
        match self {
            Backend::Postgres => concat!(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, ",
                "claimed_by = $1, claimed_at = $2, heartbeat_at = $2, progress = NULL ",
                "WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND run_at <= $2 ",
                "ORDER BY run_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED) ",
                "RETURNING id, team_id, kind, payload, status, run_at, attempts, claimed_by, outcome, ",
                "progress, created_at, finished_at",
            ),
            Backend::Sqlite => concat!(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, ",
                "claimed_by = $1, claimed_at = $2, heartbeat_at = $2, progress = NULL ",
                "WHERE status = 'queued' AND id = (SELECT id FROM jobs ",
                "WHERE status = 'queued' AND run_at <= $2 ORDER BY run_at, seq LIMIT 1) ",
                "RETURNING id, team_id, kind, payload, status, run_at, attempts, claimed_by, outcome, ",
                "progress, created_at, finished_at",
            ),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// Teams, members, API keys, SCIM tokens, sessions and jobs in SQLite or PostgreSQL.
///
/// Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    /// Where SCIM write transactions run: on a SQLite file a pool of
    /// [`SQLITE_WRITERS`] connection; otherwise `pool` itself.
    writer: AnyPool,
    /// On SQLite, the task that batches concurrent SCIM writes into one transaction on
    /// `writer` (see [`group_commit`]); `None` on PostgreSQL.
    group_commit: Option<group_commit::GroupCommit>,
    backend: Backend,
    clock: Arc<dyn Clock>,
    /// Verified SCIM bearer tokens, shared by every clone (see [`tokens::ScimTokenCache`]).
    scim_tokens: Arc<tokens::ScimTokenCache>,
}

impl SqlStore {
    /// Open the database at `url` and bring its schema up to date.
    ///
    /// Accepted URLs:
    ///
    /// - `sqlite://PATH` or `sqlite:PATH` (with or without `?mode=rwc`): the file is
    ///   created if missing and switched to WAL mode; every connection enforces foreign
    ///   keys and waits up to five seconds for a busy database.
    /// - `sqlite::memory:`: a private in-memory database, for tests and demos. It lives
    ///   as long as the store, on a single connection.
    /// - `postgres://...` or `postgresql://...`.
    ///
    /// Errors come back as [`StoreError::Backend`] around a [`SqlError`].
    pub async fn connect(url: &str) -> Result<SqlStore, StoreError> {
        install_default_drivers();
        let backend = Backend::of_url(url).map_err(boxed)?;
        let (options, own_writer) = match backend {
            Backend::Sqlite => {
                let in_memory = prepare_sqlite(url).await?;
                let options = sqlite_pool_options();
                if in_memory {
                    // Each connection to `:memory:` is a separate database: keep exactly
                    // one, forever (and write on it too).
                    let options = options
                        .max_connections(1)
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None);
                    (options, false)
                } else {
                    (options.max_connections(SQLITE_POOL_SIZE), true)
                }
            }
            Backend::Postgres => (
                AnyPoolOptions::new()
                    .max_connections(POSTGRES_POOL_SIZE)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            // A compiled SCIM filter is one large expression (an `or` of a
                            // thousand terms is a thousand sub-plans); the JIT compiler spends
                            // seconds on it to save microseconds on the small queries this
                            // store runs. Off, for every statement on these connections.
                            conn.execute("SET jit = off").await?;
                            Ok(())
                        })
                    }),
                false,
            ),
        };
        let pool = options
            .connect(url)
            .await
            .map_err(|e| boxed(SqlError::Connect(e)))?;
        backend
            .migrations()
            .run(&pool)
            .await
            .map_err(|e| boxed(SqlError::Migrate(e)))?;
        let writer = if own_writer {
            sqlite_pool_options()
                .max_connections(SQLITE_WRITERS)
                .connect(url)
                .await
                .map_err(|e| boxed(SqlError::Connect(e)))?
        } else {
            pool.clone()
        };
        // SQLite runs one writer at a time anyway: concurrent SCIM writes share its
        // transactions (group commit). PostgreSQL's writers run side by side.
        let group_commit =
            (backend == Backend::Sqlite).then(|| group_commit::GroupCommit::start(writer.clone()));
        tracing::debug!(%backend, "database ready");
        Ok(SqlStore {
            pool,
            writer,
            group_commit,
            backend,
            clock: Arc::new(SystemClock),
            scim_tokens: Arc::new(tokens::ScimTokenCache::new(SCIM_TOKEN_CACHE_TTL)),
        })
    }

    /// Use `clock` for the times this store stamps (creation, revocation, update).
    ///
    /// Times that decide something (session expiry, job due time) are passed to each
    /// call instead, so tests control them directly.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How long a verified SCIM bearer token is trusted without asking the database
    /// again (default [`SCIM_TOKEN_CACHE_TTL`]); zero
    /// turns the cache off. A revocation through this store (or any clone of it) takes
    /// effect at once; one made by another process (another replica, the CLI on the
    /// same database) takes effect here within `ttl`.
    #[must_use]
    pub fn with_scim_token_cache_ttl(mut self, ttl: Duration) -> Self {
        self.scim_tokens = Arc::new(tokens::ScimTokenCache::new(ttl));
        self
    }

    /// Check that the database answers (for a readiness probe).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend_error)?;
        conn.ping().await.map_err(backend_error)
    }

    /// Refresh the query planner's statistics, so filters keep using the indexes as
    /// tables grow: cheap, and meant to run now and then (hourly, or at shutdown).
    ///
    /// On SQLite, `PRAGMA optimize` re-analyses the tables whose size changed a lot since
    /// they were last measured (the migrations seed representative statistics for the
    /// SCIM tables, so plans are right from the first query). On PostgreSQL, autovacuum
    /// does this by itself; this runs `ANALYZE` on the SCIM tables at once.
    pub async fn optimize(&self) -> Result<(), StoreError> {
        let sql = match self.backend {
            Backend::Sqlite => "PRAGMA optimize=0x10002",
            Backend::Postgres => "ANALYZE scim_resources, scim_group_members",
        };
        sqlx::query(sql)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(backend_error)
    }

    /// What group commit did so far: how many SCIM writes shared how many commits, how
    /// many were rolled back alone, how many wait now. `None` on PostgreSQL, where each
    /// write has its own transaction.
    ///
    /// On SQLite, concurrent SCIM writes ([`begin_scim_write`](SqlStore::begin_scim_write)
    /// and the [`ScimStore`](butterfly_scim::ScimStore) writes) queue for one writer task,
    /// which runs each in a savepoint of one shared transaction and commits once for all
    /// that queued up: a write that fails is rolled back alone, and each is answered only
    /// after the commit that holds it.
    pub fn group_commit_stats(&self) -> Option<GroupCommitStats> {
        self.group_commit
            .as_ref()
            .map(group_commit::GroupCommit::stats)
    }

    /// Which database this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool, for queries this crate does not provide (reports, admin
    /// tools, tests). Write `$1`-style placeholders and keep to the column conventions
    /// described in the [module docs](self).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Close every connection; later calls fail. Waits for checked-out connections.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

/// How every connection to a SQLite file is set up.
fn sqlite_pool_options() -> AnyPoolOptions {
    // No ping before each checkout: a SQLite connection is a file handle in this process,
    // so a ping (a hand-off to sqlx's worker thread for the connection, and back) finds
    // nothing a statement would not, and it cost every SCIM lookup a hand-off (sqlx
    // still pings once when a connection goes back to the pool).
    AnyPoolOptions::new()
        .test_before_acquire(false)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // sqlx already defaults to both; stated here so the guarantees do not hang on
                // a library default.
                conn.execute("PRAGMA foreign_keys = ON").await?;
                conn.execute("PRAGMA busy_timeout = 5000").await?;
                // In WAL mode NORMAL syncs the log at checkpoints, not at every commit: a
                // commit survives the process crashing or being killed (it is in the OS's
                // page cache) and the file never corrupts, but a power loss or OS crash may
                // undo the last commits before the next checkpoint, although they were
                // acknowledged. Chosen for write throughput (FULL costs an fsync per commit,
                // several per SCIM write): provisioning clients reconcile on their next
                // sync, and a token or key created in that window must be made again.
                conn.execute("PRAGMA synchronous = NORMAL").await?;
                Ok(())
            })
        })
}

/// Create the SQLite file if needed and switch it to WAL; returns whether the URL names
/// an in-memory database.
///
/// The `Any` driver only takes a URL, which cannot say `journal_mode`. WAL is a property
/// of the file, so one direct connection sets it for every later connection, and lets
/// readers go on while a writer commits.
async fn prepare_sqlite(url: &str) -> Result<bool, StoreError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| boxed(SqlError::Connect(e)))?
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(SQLITE_BUSY_TIMEOUT);
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Ok(true);
    }
    create_private(options.get_filename())?;
    let conn = options
        .journal_mode(SqliteJournalMode::Wal)
        .connect()
        .await
        .map_err(|e| boxed(SqlError::Connect(e)))?;
    conn.close()
        .await
        .map_err(|e| boxed(SqlError::Connect(e)))?;
    Ok(false)
}

/// Create the database file readable by its owner only, if it does not exist yet: it
/// holds hashes of every token, sessions and sealed secrets. SQLite gives its `-wal` and
/// `-shm` files the database file's mode, so they are private too.
fn create_private(path: &std::path::Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(boxed(SqlError::Connect(sqlx::Error::Io(e)))),
    }
}

fn boxed(e: SqlError) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// Any other database failure.
pub(crate) fn backend_error(e: sqlx::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// Map a failed write: a unique violation means `conflict` already exists, a foreign
/// key violation means the `parent` it points at does not (in this team).
pub(crate) fn write_error(
    conflict: &'static str,
    parent: &'static str,
) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(conflict),
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound(parent),
        _ => backend_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_their_backend() {
        assert_eq!(Backend::of_url("sqlite::memory:").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::of_url("sqlite:///var/lib/butterfly/db.sqlite?mode=rwc").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(
            Backend::of_url("postgresql://u:p@db/butterfly").unwrap(),
            Backend::Postgres
        );
        let err = Backend::of_url("mysql://user:hunter2@db/x").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }

    #[tokio::test]
    async fn in_memory_store_connects_and_pings() {
        let store = SqlStore::connect("sqlite::memory:").await.unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
        store.ping().await.unwrap();
    }

    #[tokio::test]
    async fn sqlite_file_is_created_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.db");
        let url = format!("sqlite://{}", path.display());
        let store = SqlStore::connect(&url).await.unwrap();
        assert!(path.exists());
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(mode.to_ascii_lowercase(), "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(fk, 1);
        store.close().await;
        // Opening again runs no migration twice.
        SqlStore::connect(&url).await.unwrap().close().await;
        // The other spellings: no slashes, and an explicit create mode.
        let other = dir.path().join("c.db");
        let store = SqlStore::connect(&format!("sqlite:{}?mode=rwc", other.display()))
            .await
            .unwrap();
        store.ping().await.unwrap();
        assert!(other.exists());
    }
}
