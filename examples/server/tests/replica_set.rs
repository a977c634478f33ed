//! Three `butterfly-server` processes on one PostgreSQL database
//! (`BUTTERFLY_TEST_DATABASE_URL`, a fresh database) and one S3-compatible bucket (the
//! PyPI `moto` server, which `scripts/test` installs into `~/.cache/butterfly-moto-venv`;
//! `BUTTERFLY_MOTO_SERVER` names another `moto_server`). 50 connections to a loopback
//! Okta simulator are scheduled and made due at once; every replica's scheduler is
//! awake. One server is killed (SIGKILL) while it runs a backup. Then: every slot ran
//! exactly once (one job per connection, all succeeded, the killed server's job taken
//! over by another replica after its lease ran out), the repository holds exactly 50
//! snapshots, and it verifies (every object read back and hashed).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use butterfly_core::TeamId;
use butterfly_providers::okta::RateLimitBucket;
use butterfly_providers::okta::simulator::{
    OrgConfig, Simulator, SimulatorConfig, generate_client_key,
};
use butterfly_store::{MasterKey, RepositoryStore};
use object_store::aws::AmazonS3Builder;
use reqwest::Method;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{Value, json};
use sqlx::postgres::PgConnection;
use sqlx::{Connection as _, Executor as _};

const RUNS: usize = 50;
const BUCKET: &str = "butterfly-replicas";
const MASTER_KEY: &str = "5f1c0e4a9b7d3c2e8f6a1b0d4c7e9f2a3b5d8c1e0f7a6b9d2c4e8f1a3b5c7d90";

fn moto_server() -> PathBuf {
    if let Ok(path) = std::env::var("BUTTERFLY_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let home = std::env::var("HOME").unwrap();
    let path = PathBuf::from(home).join(".cache/butterfly-moto-venv/bin/moto_server");
    assert!(
        path.exists(),
        "{} is missing: run scripts/test (it installs PyPI moto[server] there) or set \
         BUTTERFLY_MOTO_SERVER",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when the test ends, however it ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_moto() -> (Process, String) {
    let port = free_port();
    let child = Process(
        Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if http.get(&endpoint).send().await.is_ok() {
            // moto checks no signatures: an unsigned PUT makes the bucket.
            let made = http
                .put(format!("{endpoint}/{BUCKET}"))
                .send()
                .await
                .unwrap();
            assert!(made.status().is_success(), "{}", made.status());
            return (child, endpoint);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("moto did not start");
}

struct Server {
    process: Process,
    address: SocketAddr,
    pid: u32,
}

/// Start a replica; the first one on the empty database also returns the bootstrap key.
fn start_server(
    database_url: &str,
    endpoint: &str,
    dir: &std::path::Path,
) -> (Server, Option<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_butterfly-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--allow-private-org-urls",
        ])
        .arg("--data-dir")
        .arg(dir)
        .env("BUTTERFLY_DATABASE_URL", database_url)
        .env("BUTTERFLY_OBJECT_STORE_URL", format!("s3://{BUCKET}/prod"))
        .env("BUTTERFLY_MASTER_KEY", MASTER_KEY)
        .env("BUTTERFLY_POLL_SECS", "1")
        .env("BUTTERFLY_JOB_ABANDONED_AFTER", "10")
        .env("BUTTERFLY_RETRY_BACKOFF_MS", "100")
        .env("AWS_ENDPOINT", endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("BUTTERFLY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut key = None;
    let address = loop {
        let line = lines.next().expect("the server stopped").unwrap();
        if let Some(address) = line.strip_prefix("listening on ") {
            break address.parse().unwrap();
        }
        if let Some(secret) = line.trim().strip_prefix("bfs_") {
            key = Some(format!("bfs_{secret}"));
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (
        Server {
            process: Process(child),
            address,
            pid,
        },
        key,
    )
}

async fn api(
    http: &reqwest::Client,
    server: &Server,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = http
        .request(method, format!("http://{}/api/v1/{path}", server.address))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {value}");
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_run_every_scheduled_backup_exactly_once_through_a_crash() {
    let Ok(admin_url) = std::env::var("BUTTERFLY_TEST_DATABASE_URL") else {
        panic!(
            "set BUTTERFLY_TEST_DATABASE_URL (a PostgreSQL server the tests may create databases on)"
        );
    };
    let name = format!("bf_replica_set_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&admin_url).await.unwrap();
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let (prefix, _) = admin_url.rsplit_once('/').unwrap();
    let url = format!("{prefix}/{name}");
    let outcome = tokio::spawn(async move { replica_set(&url).await }).await;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn replica_set(database_url: &str) {
    let (_moto, endpoint) = start_moto().await;
    let (private_pem, public) = generate_client_key().unwrap();
    let sim = Simulator::bind(
        SimulatorConfig {
            org: OrgConfig {
                seed: 50,
                users: 150,
                groups: 10,
                apps: 5,
            },
            rate_limits: RateLimitBucket::ALL.iter().map(|b| (*b, 600_000)).collect(),
            client_public_key_pem: Some(public.to_public_key_pem(LineEnding::LF).unwrap()),
            ..SimulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let client_id = sim.simulator().client_credentials().client_id;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (first, key) = start_server(database_url, &endpoint, dirs[0].path());
    let key = key.expect("the first server prints the bootstrap key");
    let mut servers = vec![first];
    for dir in &dirs[1..] {
        servers.push(start_server(database_url, &endpoint, dir.path()).0);
    }
    let http = reqwest::Client::new();
    for i in 0..RUNS {
        // Spread over the replicas: any of them serves the API.
        let server = &servers[i % 3];
        let created = api(
            &http,
            server,
            &key,
            Method::POST,
            "connections",
            Some(json!({
                "name": format!("org-{i:02}"),
                "org_url": sim.org_url(),
                "client_id": client_id,
                "private_key": private_pem,
                "rate_limit_share": 1.0,
            })),
        )
        .await;
        let id = created["id"].as_str().unwrap();
        api(
            &http,
            server,
            &key,
            Method::PUT,
            &format!("connections/{id}/schedule"),
            Some(json!({"frequency": "daily", "at": "03:00", "time_zone": "Europe/Berlin"})),
        )
        .await;
    }
    // All 50 due at once, with every scheduler awake.
    let pool = sqlx::PgPool::connect(database_url).await.unwrap();
    sqlx::query("UPDATE backup_schedules SET next_run_at = $1")
        .bind(chrono::Utc::now().timestamp_millis() - 1000)
        .execute(&pool)
        .await
        .unwrap();

    // Kill the third server while it runs a backup.
    let victim = format!("worker-{}-", servers[2].pid);
    let mut killed_job = None;
    for _ in 0..2000 {
        let running: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM jobs WHERE status = 'running' AND claimed_by LIKE $1 LIMIT 1",
        )
        .bind(format!("{victim}%"))
        .fetch_optional(&pool)
        .await
        .unwrap();
        if let Some((id,)) = running {
            let mut process = servers.remove(2).process;
            process.0.kill().unwrap();
            process.0.wait().unwrap();
            killed_job = Some(id);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let killed_job = killed_job.expect("the third server never ran a backup");

    // Wait (bounded by polls) until every scheduled job finished. The bound only ends a
    // run that would never finish (10 minutes; the 50 backups take 2-4 here). They once
    // took twice as long, which this test showed: each incremental backup read the
    // previous manifest whole once per kind and every carried-over object singly, about
    // 1,700 ranged S3 reads per backup of this org.
    let mut finished = 0;
    for _ in 0..6000 {
        let (done,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM jobs WHERE scheduled_for IS NOT NULL \
             AND status IN ('succeeded', 'failed')",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        finished = done;
        if usize::try_from(done).unwrap() >= RUNS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        usize::try_from(finished).unwrap(),
        RUNS,
        "not every scheduled backup finished"
    );

    let jobs: Vec<(String, String, String, i64, Option<String>)> = sqlx::query_as(
        "SELECT id, connection_id, status, attempts, claimed_by FROM jobs \
         WHERE scheduled_for IS NOT NULL",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(jobs.len(), RUNS, "one job per slot, no more");
    let mut per_connection: BTreeMap<&str, u32> = BTreeMap::new();
    for (id, connection, status, attempts, claimed_by) in &jobs {
        *per_connection.entry(connection).or_default() += 1;
        assert_eq!(status, "succeeded", "job {id}");
        if *id == killed_job {
            // Taken over by a surviving replica once its lease ran out.
            assert_eq!(*attempts, 2, "job {id}");
            assert!(!claimed_by.as_deref().unwrap().starts_with(&victim));
        }
    }
    assert_eq!(per_connection.len(), RUNS);
    let (others,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE scheduled_for IS NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(others, 0);

    // The repository: exactly 50 snapshots (the killed run left no manifest), and every
    // object reads back with its digest.
    let team: (String,) = sqlx::query_as("SELECT id FROM teams LIMIT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    let team: TeamId = team.0.parse().unwrap();
    let s3 = AmazonS3Builder::new()
        .with_bucket_name(BUCKET)
        .with_endpoint(&endpoint)
        .with_allow_http(true)
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .with_region("us-east-1")
        .build()
        .unwrap();
    let prefixed = object_store::prefix::PrefixStore::new(s3, "prod");
    let objects =
        RepositoryStore::new(Arc::new(prefixed), MasterKey::from_hex(MASTER_KEY).unwrap());
    let repo = objects.repository(team).await.unwrap();
    let snapshots = repo.list().await.unwrap();
    assert_eq!(snapshots.len(), RUNS);
    let report = repo.verify(None).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(usize::try_from(report.snapshots).unwrap(), RUNS);
    drop(servers);
    pool.close().await;
}
