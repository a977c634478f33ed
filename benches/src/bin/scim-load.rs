//! SCIM load driver: seeds Users into a SCIM 2.0 server the way Okta provisions them,
//! then measures `userName eq` lookups, filtered lists and PATCHes, checking every
//! response. `benches/scim-load.sh` runs it against butterfly-server and the Python
//! reference server `scim2-server`, then `compare`s the two reports.
//!
//! ```sh
//! SCIM_LOAD_TOKEN=bfs_scim_... cargo run --release -p butterfly-benches --bin scim-load -- \
//!     run --base-url http://127.0.0.1:18181/scim/v2 --users 10000,100000 --concurrency 32
//! cargo run --release -p butterfly-benches --bin scim-load -- compare bf.json py.json
//! ```
//!
//! For each size in `--users` (ascending) it creates Users until it has created that
//! many (seeding is itself the create measurement), then runs `--lookups` lookups of
//! random existing Users, `--lists` list requests with
//! `name.familyName sw "X" and active eq true`, `--sorted-lists` lists sorted by
//! `userName`, and `--patches` PATCHes (each to a
//! different User, flipping `active` and replacing `name.givenName`). A lookup must
//! return exactly the expected User; a list must return only matching Users and, when
//! the driver knows every User on the server, exactly as many as it seeded. Non-2xx
//! answers, transport errors and wrong answers are counted and printed. A phase whose
//! failures pass `--max-error-rate` stops sending; a failed create phase ends the run at
//! once, any other failed phase makes it exit with an error after the remaining phases,
//! so one broken operation does not hide the figures of the others. Only loopback
//! servers are accepted.

// Figures for humans: f64 precision is ample for request counts and durations here.
#![allow(clippy::cast_precision_loss)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use butterfly_benches::scim_load::{
    GIVEN_NAMES, LIST_PREFIXES, SeedUser, SplitMix64, check_list, check_lookup, check_patch,
    check_sorted, list_filter, lookup_filter, matches_list_filter, patch_body, summarize,
};
use clap::{Args, Parser, Subcommand};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Client, Method, RequestBuilder, Url};
use serde_json::{Value, json};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const SCIM_JSON: &str = "application/scim+json";

/// How often a running phase reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// SCIM load driver.
#[derive(Debug, Parser)]
#[command(name = "scim-load", about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Seed Users and measure create, lookup, list and PATCH against one server.
    Run(Box<RunArgs>),
    /// Print per-metric ratios of two `run` reports (their JSON lines).
    Compare {
        /// The report measured (e.g. butterfly-server's).
        subject: PathBuf,
        /// The report compared against (e.g. scim2-server's).
        baseline: PathBuf,
        /// The throughput ratio the subject is meant to reach.
        #[arg(long, default_value_t = 20.0)]
        target: f64,
    },
    /// Print lookup, list and PATCH latency per size across `run` reports (one per
    /// size, e.g. of separately seeded servers), and the largest size over the smallest.
    Flatness {
        /// The reports, any order.
        reports: Vec<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The SCIM base URL, e.g. http://127.0.0.1:18181/scim/v2 (loopback only).
    #[arg(long)]
    base_url: String,
    /// Bearer token. Read from the environment so it stays out of `ps`.
    #[arg(long, env = "SCIM_LOAD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Name of the server in the output.
    #[arg(long, default_value = "server")]
    label: String,
    /// Free text naming the build measured (commit, profile), echoed in the output.
    #[arg(long, default_value = "")]
    build: String,
    /// User counts to measure at, comma separated: the run seeds Users until it has
    /// created this many, then measures (a server that held Users before the run is
    /// measured at its total).
    #[arg(long, value_delimiter = ',', default_value = "10000")]
    users: Vec<u64>,
    /// Requests in flight at once (each on its own keep-alive connection).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// `userName eq` lookups per size.
    #[arg(long, default_value_t = 5000)]
    lookups: u64,
    /// Filtered list requests per size.
    #[arg(long, default_value_t = 200)]
    lists: u64,
    /// `count` of each list request.
    #[arg(long, default_value_t = 100)]
    list_count: usize,
    /// `sortBy=userName` list requests per size (`count` as lists, from a random
    /// `startIndex` among the first 1000).
    #[arg(long, default_value_t = 200)]
    sorted_lists: u64,
    /// PATCHes per size (at most one per User).
    #[arg(long, default_value_t = 5000)]
    patches: u64,
    /// Stop starting new requests in a lookup, list or PATCH phase after this long; the
    /// rates stay valid, the output says the phase was cut short.
    #[arg(long, default_value_t = 120)]
    phase_max_secs: u64,
    /// Give up when seeding one size takes longer than this.
    #[arg(long, default_value_t = 7200)]
    seed_max_secs: u64,
    /// Per-request timeout.
    #[arg(long, default_value_t = 60)]
    request_timeout_secs: u64,
    /// Largest tolerated share of failed requests in a phase (non-2xx, transport
    /// errors and wrong answers together).
    #[arg(long, default_value_t = 0.001)]
    max_error_rate: f64,
    /// Seed of the generated Users and of the random picks.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Suffix of every userName, so runs against one server do not collide; default
    /// from the clock.
    #[arg(long)]
    run_tag: Option<String>,
    /// Also write the JSON report line to this file.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// The server already holds this run's first N Users (indices 0..N of `--seed`,
    /// userNames with `--run-tag`, ids from `SeedUser::seeded_id`), written straight into
    /// its database by `scim-seed`: they are not created over HTTP, and sizes up to N
    /// measure only lookups, lists and PATCHes. Needs `--run-tag`.
    #[arg(long, default_value_t = 0)]
    preseeded: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(*args).await,
        Command::Flatness { reports } => flatness(&reports),
        Command::Compare {
            subject,
            baseline,
            target,
        } => compare(&subject, &baseline, target),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scim-load: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Why one request did not count as a success.
#[derive(Debug)]
enum Failure {
    /// A non-2xx answer (or a 2xx other than the one the operation calls for).
    Status(u16, String),
    /// No answer: connection, timeout or body read error.
    Transport(String),
    /// An answer that is well-formed HTTP but wrong.
    Mismatch(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Status(code, body) => write!(f, "HTTP {code}: {body}"),
            Failure::Transport(e) => write!(f, "transport: {e}"),
            Failure::Mismatch(m) => write!(f, "wrong answer: {m}"),
        }
    }
}

/// The server under test.
#[derive(Debug)]
struct Target {
    client: Client,
    base: String,
    auth: Option<HeaderValue>,
}

impl Target {
    fn new(args: &RunArgs) -> Result<Self, BoxError> {
        let url = Url::parse(&args.base_url)?;
        // A load test aimed at a shared or production server by mistake does real harm.
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        if !loopback || url.scheme() != "http" {
            return Err(format!(
                "--base-url must be http on a loopback address, not `{}`",
                args.base_url
            )
            .into());
        }
        let auth = match &args.token {
            Some(token) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {token}"))?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let client = Client::builder()
            // One idle keep-alive connection per worker, never a proxy for loopback.
            .pool_max_idle_per_host(args.concurrency)
            .http1_only()
            .tcp_nodelay(true)
            .no_proxy()
            .timeout(Duration::from_secs(args.request_timeout_secs))
            .build()?;
        Ok(Target {
            client,
            base: args.base_url.trim_end_matches('/').to_owned(),
            auth,
        })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header(ACCEPT, SCIM_JSON);
        match &self.auth {
            Some(auth) => builder.header(AUTHORIZATION, auth.clone()),
            None => builder,
        }
    }

    /// Send, read the whole body, and insist on `want` (any 2xx when `None`).
    async fn send(
        &self,
        builder: RequestBuilder,
        want: Option<u16>,
    ) -> Result<(u16, Vec<u8>), Failure> {
        let response = builder
            .send()
            .await
            .map_err(|e| Failure::Transport(error_chain(&e)))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| Failure::Transport(error_chain(&e)))?;
        let ok = match want {
            Some(code) => status == code,
            None => (200..300).contains(&status),
        };
        if !ok {
            let text = String::from_utf8_lossy(&body);
            return Err(Failure::Status(status, text.chars().take(300).collect()));
        }
        Ok((status, body.to_vec()))
    }

    async fn get_json(&self, path: &str, query: &[(&str, String)]) -> Result<Value, Failure> {
        let (_, body) = self
            .send(self.request(Method::GET, path).query(query), Some(200))
            .await?;
        parse(&body)
    }

    fn with_body(&self, method: Method, path: &str, body: &Value) -> RequestBuilder {
        self.request(method, path)
            .header(CONTENT_TYPE, SCIM_JSON)
            .body(body.to_string())
    }
}

/// The error and its causes on one line: reqwest's own message alone ("error sending
/// request") hides whether the connection was refused or timed out.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn parse(body: &[u8]) -> Result<Value, Failure> {
    serde_json::from_slice(body).map_err(|e| Failure::Mismatch(format!("invalid JSON body: {e}")))
}

/// One phase's outcome.
#[derive(Debug)]
struct PhaseReport {
    phase: &'static str,
    users: u64,
    planned: u64,
    attempted: u64,
    ok: u64,
    http_errors: u64,
    transport_errors: u64,
    mismatches: u64,
    seconds: f64,
    latency: Option<butterfly_benches::scim_load::LatencySummary>,
    /// Why the phase stopped before `planned`, if it did.
    cut_short: Option<&'static str>,
    /// The first few failures, verbatim.
    failures: Vec<String>,
    /// Whether more requests failed than `--max-error-rate` allows.
    over_error_budget: bool,
}

impl PhaseReport {
    fn failed(&self) -> u64 {
        self.http_errors + self.transport_errors + self.mismatches
    }

    fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.attempted as f64 / self.seconds
        } else {
            0.0
        }
    }

    fn to_json(&self) -> Value {
        let l = self.latency;
        json!({
            "phase": self.phase,
            "users": self.users,
            "planned": self.planned,
            "requests": self.attempted,
            "ok": self.ok,
            "http_errors": self.http_errors,
            "transport_errors": self.transport_errors,
            "mismatches": self.mismatches,
            "seconds": round3(self.seconds),
            "rps": round3(self.rate()),
            "p50_ms": l.map(|l| round3(l.p50_ms)),
            "p90_ms": l.map(|l| round3(l.p90_ms)),
            "p99_ms": l.map(|l| round3(l.p99_ms)),
            "max_ms": l.map(|l| round3(l.max_ms)),
            "mean_ms": l.map(|l| round3(l.mean_ms)),
            "cut_short": self.cut_short,
            "over_error_budget": self.over_error_budget,
        })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Limits of one phase.
#[derive(Debug, Clone, Copy)]
struct PhaseLimits {
    concurrency: usize,
    max_time: Duration,
    max_error_rate: f64,
}

/// Run `job(0..planned)` on `concurrency` workers, timing each request. Workers stop
/// at `planned`, at the time limit, or once failures exceed what `max_error_rate`
/// allows of the whole phase (so a dead server does not cost `planned` timeouts).
/// Returns the report and each successful job's output with its number.
async fn run_phase<T, F, Fut>(
    phase: &'static str,
    users: u64,
    planned: u64,
    limits: PhaseLimits,
    job: F,
) -> Result<(PhaseReport, Vec<(u64, T)>), BoxError>
where
    T: Send + 'static,
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, Failure>> + Send,
{
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let error_budget = (planned as f64 * limits.max_error_rate).floor() as u64;
    let job = Arc::new(job);
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + limits.max_time;
    let mut workers = Vec::with_capacity(limits.concurrency);
    for _ in 0..limits.concurrency.max(1) {
        let (job, next, failed) = (Arc::clone(&job), Arc::clone(&next), Arc::clone(&failed));
        workers.push(tokio::spawn(async move {
            let mut out = WorkerOutput::default();
            loop {
                if Instant::now() >= deadline {
                    out.cut_short = Some("time limit");
                    break;
                }
                if failed.load(Ordering::Relaxed) > error_budget {
                    out.cut_short = Some("error budget exceeded");
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= planned {
                    break;
                }
                let sent = Instant::now();
                let result = job(i).await;
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                out.attempted += 1;
                match result {
                    Ok(value) => {
                        out.latencies.push(micros);
                        out.results.push((i, value));
                    }
                    Err(failure) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        match failure {
                            Failure::Status(..) => out.http_errors += 1,
                            Failure::Transport(_) => out.transport_errors += 1,
                            Failure::Mismatch(_) => out.mismatches += 1,
                        }
                        if out.failures.len() < 5 {
                            out.failures.push(failure.to_string());
                        }
                    }
                }
            }
            out
        }));
    }
    // A long phase (seeding 100K Users) says how far it got, on stderr so the table on
    // stdout stays clean.
    let progress = {
        let next = Arc::clone(&next);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROGRESS_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                let done = next.load(Ordering::Relaxed).min(planned);
                let secs = start.elapsed().as_secs_f64();
                eprintln!(
                    "  .. {phase} at {users} Users: {done}/{planned} sent in {secs:.0} s ({:.1} req/s)",
                    done as f64 / secs
                );
            }
        })
    };
    let mut all = WorkerOutput::default();
    for worker in workers {
        let out = worker.await?;
        all.attempted += out.attempted;
        all.http_errors += out.http_errors;
        all.transport_errors += out.transport_errors;
        all.mismatches += out.mismatches;
        all.latencies.extend(out.latencies);
        all.results.extend(out.results);
        all.cut_short = all.cut_short.or(out.cut_short);
        all.failures
            .extend(out.failures.into_iter().take(5 - all.failures.len().min(5)));
    }
    let seconds = start.elapsed().as_secs_f64();
    progress.abort();
    let report = PhaseReport {
        phase,
        users,
        planned,
        attempted: all.attempted,
        ok: all.results.len() as u64,
        http_errors: all.http_errors,
        transport_errors: all.transport_errors,
        mismatches: all.mismatches,
        seconds,
        latency: summarize(&mut all.latencies),
        cut_short: if all.attempted < planned {
            all.cut_short
        } else {
            None
        },
        failures: all.failures,
        over_error_budget: false,
    };
    Ok((report, all.results))
}

#[derive(Debug)]
struct WorkerOutput<T> {
    attempted: u64,
    http_errors: u64,
    transport_errors: u64,
    mismatches: u64,
    latencies: Vec<u64>,
    results: Vec<(u64, T)>,
    cut_short: Option<&'static str>,
    failures: Vec<String>,
}

// By hand: a derived `Default` would demand `T: Default`.
impl<T> Default for WorkerOutput<T> {
    fn default() -> Self {
        WorkerOutput {
            attempted: 0,
            http_errors: 0,
            transport_errors: 0,
            mismatches: 0,
            latencies: Vec::new(),
            results: Vec::new(),
            cut_short: None,
            failures: Vec::new(),
        }
    }
}

/// A seeded User and the id the server gave it (`None` if its create failed).
#[derive(Debug, Clone)]
struct Seeded {
    user: SeedUser,
    id: Option<Arc<str>>,
}

/// What the driver knows of the server's Users.
#[derive(Debug)]
struct Model {
    seeded: Arc<Vec<Seeded>>,
    /// Whether the driver knows every User on the server and its `active`: false when
    /// the server had Users before the run, or a write failed (it may or may not have
    /// been applied), so exact `totalResults` cannot be expected.
    exact: bool,
}

impl Model {
    /// Indices of Users that exist on the server.
    fn present(&self) -> Vec<u64> {
        self.seeded
            .iter()
            .filter(|s| s.id.is_some())
            .map(|s| s.user.index)
            .collect()
    }

    fn expected_list_totals(&self) -> BTreeMap<&'static str, u64> {
        LIST_PREFIXES
            .iter()
            .map(|&prefix| {
                let n = self
                    .seeded
                    .iter()
                    .filter(|s| s.id.is_some() && matches_list_filter(&s.user, prefix))
                    .count();
                (prefix, n as u64)
            })
            .collect()
    }
}

async fn run(args: RunArgs) -> Result<(), BoxError> {
    let mut sizes = args.users.clone();
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.is_empty() || sizes[0] == 0 {
        return Err("--users needs at least one positive count".into());
    }
    if !(0.0..1.0).contains(&args.max_error_rate) {
        return Err("--max-error-rate must be in [0, 1)".into());
    }
    if args.preseeded > 0 && args.run_tag.is_none() {
        return Err("--preseeded needs the --run-tag the Users were seeded with".into());
    }
    let target = Arc::new(Target::new(&args)?);
    let tag = args.run_tag.clone().unwrap_or_else(|| {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        format!("r{}", secs % 100_000_000)
    });
    let limits = PhaseLimits {
        concurrency: args.concurrency.max(1),
        max_time: Duration::from_secs(args.phase_max_secs),
        max_error_rate: args.max_error_rate,
    };

    println!(
        "scim-load: {} at {} | concurrency {} | seed {} | tag {} | build: {}",
        args.label,
        args.base_url,
        limits.concurrency,
        args.seed,
        tag,
        if args.build.is_empty() {
            "(not given)"
        } else {
            &args.build
        }
    );
    let before = target
        .get_json("/Users", &[("count", "0".to_owned())])
        .await
        .map_err(|e| format!("cannot reach {}/Users: {e}", args.base_url))?;
    let on_server = before
        .get("totalResults")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if on_server < args.preseeded {
        return Err(format!(
            "--preseeded {}: the server holds only {on_server} Users",
            args.preseeded
        )
        .into());
    }
    // Users the driver did not seed (itself or through scim-seed).
    let existing = on_server - args.preseeded;
    let mut model = Model {
        seeded: Arc::new(
            (0..args.preseeded)
                .map(|i| {
                    let user = SeedUser::new(i, args.seed);
                    Seeded {
                        user,
                        id: Some(Arc::from(user.seeded_id(args.seed, &tag))),
                    }
                })
                .collect(),
        ),
        exact: existing == 0,
    };
    if args.preseeded > 0 {
        println!(
            "scim-load: {} Users were seeded into the database (not created over HTTP)",
            args.preseeded
        );
    }
    if existing > 0 {
        println!(
            "scim-load: the server already holds {existing} Users: list totals are not checked exactly"
        );
    }

    print_header();
    let mut reports: Vec<PhaseReport> = Vec::new();
    let outcome = async {
        for &size in &sizes {
            stage(
                &target,
                &args,
                &tag,
                (size, existing),
                limits,
                &mut model,
                &mut reports,
            )
            .await?;
        }
        Ok::<(), BoxError>(())
    }
    .await;

    let outcome = outcome.and_then(|()| {
        let failed: Vec<String> = reports
            .iter()
            .filter(|r| r.over_error_budget)
            .map(|r| format!("{} at {} Users", r.phase, r.users))
            .collect();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(format!("too many failed requests in: {}", failed.join(", ")).into())
        }
    });
    let report = json!({
        "scim_load": 1,
        "label": args.label,
        "base_url": args.base_url,
        "build": args.build,
        "concurrency": limits.concurrency,
        "seed": args.seed,
        "run_tag": tag,
        "complete": outcome.is_ok(),
        "phases": reports.iter().map(PhaseReport::to_json).collect::<Vec<_>>(),
    });
    print_flatness(&reports);
    let line = report.to_string();
    println!("{line}");
    if let Some(path) = &args.json_out {
        std::fs::write(path, format!("{line}\n"))?;
    }
    outcome
}

/// Seed this run's Users up to `size` (on top of the `existing` the server held
/// before the run), then measure lookups, lists and PATCHes at that
/// size. Each phase's report is pushed (and printed) before its error check, so a
/// failing run still shows what it measured.
async fn stage(
    target: &Arc<Target>,
    args: &RunArgs,
    tag: &str,
    (size, existing): (u64, u64),
    limits: PhaseLimits,
    model: &mut Model,
    reports: &mut Vec<PhaseReport>,
) -> Result<(), BoxError> {
    // Reports give the server's whole User count, which is what its latency depends on.
    let users = existing + size;
    // Create: seed from the current count up to `size`.
    let from = model.seeded.len() as u64;
    if size > from {
        let seed = args.seed;
        let (t, tag_owned) = (Arc::clone(target), Arc::<str>::from(tag));
        let seed_limits = PhaseLimits {
            max_time: Duration::from_secs(args.seed_max_secs),
            ..limits
        };
        let (report, created) = run_phase("create", users, size - from, seed_limits, move |i| {
            let (t, tag) = (Arc::clone(&t), Arc::clone(&tag_owned));
            async move {
                let user = SeedUser::new(from + i, seed);
                let body = user.create_body(&tag);
                let (_, bytes) = t
                    .send(t.with_body(Method::POST, "/Users", &body), Some(201))
                    .await?;
                let created = parse(&bytes)?;
                let id = created
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| Failure::Mismatch("created User has no id".to_owned()))?;
                let name = created.get("userName").and_then(Value::as_str);
                if name != body.get("userName").and_then(Value::as_str) {
                    return Err(Failure::Mismatch(format!(
                        "created User {id} has userName {name:?}"
                    )));
                }
                Ok(Arc::<str>::from(id))
            }
        })
        .await?;
        let mut ids: Vec<Option<Arc<str>>> = vec![None; usize::try_from(size - from)?];
        for (i, id) in created {
            if let Some(slot) = ids.get_mut(usize::try_from(i)?) {
                *slot = Some(id);
            }
        }
        let seeded = Arc::make_mut(&mut model.seeded);
        for (i, id) in ids.into_iter().enumerate() {
            seeded.push(Seeded {
                user: SeedUser::new(from + i as u64, seed),
                id,
            });
        }
        if report.failed() > 0 {
            model.exact = false;
        }
        let short = report.cut_short;
        // Every later phase and size stands on the seeded Users: stop here.
        if let Some(error) = finish_phase(report, limits.max_error_rate, reports) {
            return Err(error.into());
        }
        if short.is_some() {
            return Err(format!(
                "seeding {size} Users did not finish (raise --seed-max-secs or lower --users)"
            )
            .into());
        }
    }

    let present = Arc::new(model.present());
    if present.is_empty() {
        return Err("no User was created".into());
    }
    let stage_salt = args.seed ^ size.wrapping_mul(0x2545_F491_4F6C_DD1D);

    // Lookups of random existing Users.
    {
        let (t, seeded, present) = (
            Arc::clone(target),
            Arc::clone(&model.seeded),
            Arc::clone(&present),
        );
        let tag: Arc<str> = Arc::from(tag);
        let (report, _) = run_phase("lookup", users, args.lookups, limits, move |i| {
            let mut rng = SplitMix64::new(stage_salt ^ i.wrapping_mul(0x9E37_79B9));
            let pick = present[usize::try_from(rng.below(present.len() as u64)).unwrap_or(0)];
            let entry = usize::try_from(pick)
                .ok()
                .and_then(|p| seeded.get(p))
                .cloned();
            let (t, tag) = (Arc::clone(&t), Arc::clone(&tag));
            async move {
                let Some(Seeded { user, id: Some(id) }) = entry else {
                    return Err(Failure::Mismatch(format!("no id for User {pick}")));
                };
                let user_name = user.user_name(&tag);
                let query = [
                    ("filter", lookup_filter(&user_name)),
                    ("startIndex", "1".to_owned()),
                    ("count", "100".to_owned()),
                ];
                let body = t.get_json("/Users", &query).await?;
                check_lookup(&body, &id, &user_name).map_err(Failure::Mismatch)
            }
        })
        .await?;
        // A failed read or PATCH phase does not hide the others: the run goes on and
        // fails at the end.
        let _ = finish_phase(report, limits.max_error_rate, reports);
    }

    // Filtered lists, cycling through the prefixes.
    {
        let expected = Arc::new(model.exact.then(|| model.expected_list_totals()));
        let t = Arc::clone(target);
        let count = args.list_count;
        let (report, _) = run_phase("list", users, args.lists, limits, move |i| {
            let prefix = LIST_PREFIXES[usize::try_from(i).unwrap_or(0) % LIST_PREFIXES.len()];
            let want = expected
                .as_ref()
                .as_ref()
                .and_then(|m| m.get(prefix).copied());
            let t = Arc::clone(&t);
            async move {
                let query = [
                    ("filter", list_filter(prefix)),
                    ("startIndex", "1".to_owned()),
                    ("count", count.to_string()),
                ];
                let body = t.get_json("/Users", &query).await?;
                check_list(&body, prefix, count, want).map_err(Failure::Mismatch)
            }
        })
        .await?;
        // A failed read or PATCH phase does not hide the others: the run goes on and
        // fails at the end.
        let _ = finish_phase(report, limits.max_error_rate, reports);
    }

    // Lists sorted by userName, from a random start among the first 1000.
    {
        let expected_total = model.exact.then_some(present.len() as u64 + existing);
        let t = Arc::clone(target);
        let count = args.list_count;
        let (report, _) = run_phase("sorted", users, args.sorted_lists, limits, move |i| {
            let mut rng = SplitMix64::new(stage_salt.rotate_left(7) ^ i.wrapping_mul(0x9E37_79B9));
            let start = 1 + rng.below(1000);
            let t = Arc::clone(&t);
            async move {
                let query = [
                    ("sortBy", "userName".to_owned()),
                    ("sortOrder", "ascending".to_owned()),
                    ("startIndex", start.to_string()),
                    ("count", count.to_string()),
                ];
                let body = t.get_json("/Users", &query).await?;
                check_sorted(&body, start, count, expected_total).map_err(Failure::Mismatch)
            }
        })
        .await?;
        // A failed read or PATCH phase does not hide the others: the run goes on and
        // fails at the end.
        let _ = finish_phase(report, limits.max_error_rate, reports);
    }

    // PATCHes, each to a different User so the driver knows every User's `active`.
    {
        let mut order = (*present).clone();
        let mut rng = SplitMix64::new(stage_salt.rotate_left(17));
        for k in (1..order.len()).rev() {
            let j = usize::try_from(rng.below(k as u64 + 1))?;
            order.swap(k, j);
        }
        let planned = args.patches.min(order.len() as u64);
        let (t, seeded, order) = (
            Arc::clone(target),
            Arc::clone(&model.seeded),
            Arc::new(order),
        );
        let (report, patched) = run_phase("patch", users, planned, limits, move |i| {
            let pick = order[usize::try_from(i).unwrap_or(0)];
            let entry = usize::try_from(pick)
                .ok()
                .and_then(|p| seeded.get(p))
                .cloned();
            let t = Arc::clone(&t);
            async move {
                let Some(Seeded { user, id: Some(id) }) = entry else {
                    return Err(Failure::Mismatch(format!("no id for User {pick}")));
                };
                let active = !user.active;
                let given = GIVEN_NAMES[(usize::from(user.given) + 1) % GIVEN_NAMES.len()];
                let body = patch_body(active, given);
                let (status, bytes) = t
                    .send(
                        t.with_body(Method::PATCH, &format!("/Users/{id}"), &body),
                        None,
                    )
                    .await?;
                let returned = if status == 204 {
                    None
                } else {
                    Some(parse(&bytes)?)
                };
                check_patch(returned.as_ref(), active, given).map_err(Failure::Mismatch)?;
                Ok((pick, active))
            }
        })
        .await?;
        let seeded = Arc::make_mut(&mut model.seeded);
        for (_, (pick, active)) in patched {
            if let Some(s) = usize::try_from(pick).ok().and_then(|p| seeded.get_mut(p)) {
                s.user.active = active;
            }
        }
        if report.failed() > 0 {
            model.exact = false;
        }
        // A failed read or PATCH phase does not hide the others: the run goes on and
        // fails at the end.
        let _ = finish_phase(report, limits.max_error_rate, reports);
    }
    Ok(())
}

/// Print a phase's row and keep its report. Returns the error when too many of its
/// requests failed (the phase itself already stopped sending at that point).
fn finish_phase(
    mut report: PhaseReport,
    max_error_rate: f64,
    reports: &mut Vec<PhaseReport>,
) -> Option<String> {
    print_row(&report);
    for failure in &report.failures {
        println!("    ! {failure}");
    }
    let failed = report.failed();
    report.over_error_budget = failed as f64 > max_error_rate * report.attempted.max(1) as f64;
    let error = report.over_error_budget.then(|| {
        format!(
            "{} at {} Users: {failed} of {} requests failed ({} HTTP, {} transport, {} wrong answers), above --max-error-rate {max_error_rate}",
            report.phase,
            report.users,
            report.attempted,
            report.http_errors,
            report.transport_errors,
            report.mismatches
        )
    });
    reports.push(report);
    error
}

fn print_header() {
    println!(
        "{:>9}  {:<7} {:>8} {:>7} {:>10} {:>9} {:>9} {:>9} {:>9}  note",
        "users", "phase", "requests", "failed", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
}

fn print_row(r: &PhaseReport) {
    let ms = |f: fn(&butterfly_benches::scim_load::LatencySummary) -> f64| {
        r.latency
            .map_or_else(|| "-".to_owned(), |l| format!("{:.2}", f(&l)))
    };
    let note = match r.cut_short {
        Some(why) => format!("cut short ({why}) at {} of {}", r.attempted, r.planned),
        None => String::new(),
    };
    println!(
        "{:>9}  {:<7} {:>8} {:>7} {:>10.1} {:>9} {:>9} {:>9} {:>9}  {note}",
        r.users,
        r.phase,
        r.attempted,
        r.failed(),
        r.rate(),
        ms(|l| l.p50_ms),
        ms(|l| l.p90_ms),
        ms(|l| l.p99_ms),
        ms(|l| l.max_ms),
    );
}

/// Lookup latency at the largest size over the smallest: the "flat from 10K to 1M"
/// target reads this.
fn print_flatness(reports: &[PhaseReport]) {
    let lookups: Vec<_> = reports
        .iter()
        .filter(|r| r.phase == "lookup")
        .filter_map(|r| r.latency.map(|l| (r.users, l)))
        .collect();
    if let (Some((small, a)), Some((large, b))) = (lookups.first(), lookups.last())
        && large > small
    {
        println!(
            "lookup latency at {large} vs {small} Users: p50 {:.2}x, p99 {:.2}x (flat = 1x)",
            b.p50_ms / a.p50_ms,
            b.p99_ms / a.p99_ms
        );
    }
}

/// The JSON report line of a `run`.
fn read_report(path: &std::path::Path) -> Result<Value, BoxError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| format!("{} holds no JSON report line", path.display()))?;
    Ok(serde_json::from_str(line)?)
}

/// `flatness`: per phase and size, p50/p99 and rate, then each read phase's latency at
/// the largest size over the smallest (flat = 1x).
fn flatness(paths: &[PathBuf]) -> Result<(), BoxError> {
    let mut rows: BTreeMap<(String, u64), Value> = BTreeMap::new();
    for path in paths {
        let report = read_report(path)?;
        for phase in report
            .get("phases")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(name), Some(users)) = (
                phase.get("phase").and_then(Value::as_str),
                phase.get("users").and_then(Value::as_u64),
            ) else {
                continue;
            };
            rows.insert((name.to_owned(), users), phase.clone());
        }
    }
    let num = |p: &Value, k: &str| p.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    println!();
    println!(
        "{:<7} {:>9} {:>10} {:>9} {:>9}",
        "phase", "users", "req/s", "p50 ms", "p99 ms"
    );
    for ((phase, users), p) in &rows {
        println!(
            "{phase:<7} {users:>9} {:>10.1} {:>9.2} {:>9.2}",
            num(p, "rps"),
            num(p, "p50_ms"),
            num(p, "p99_ms")
        );
    }
    for phase in ["lookup", "list", "sorted", "patch"] {
        let sized: Vec<(&u64, &Value)> = rows
            .iter()
            .filter(|((name, _), _)| name == phase)
            .map(|((_, users), p)| (users, p))
            .collect();
        if let (Some((small, a)), Some((large, b))) = (sized.first(), sized.last())
            && large > small
            && num(a, "p50_ms") > 0.0
            && num(a, "p99_ms") > 0.0
        {
            println!(
                "{phase} latency at {large} vs {small} Users: p50 {:.2}x, p99 {:.2}x (flat = 1x)",
                num(b, "p50_ms") / num(a, "p50_ms"),
                num(b, "p99_ms") / num(a, "p99_ms")
            );
        }
    }
    Ok(())
}

/// `compare`: per metric, subject over baseline for throughput and baseline over
/// subject for latency, so above 1 means the subject is better either way.
fn compare(
    subject: &std::path::Path,
    baseline: &std::path::Path,
    target: f64,
) -> Result<(), BoxError> {
    let (s, b) = (read_report(subject)?, read_report(baseline)?);
    let label = |v: &Value| {
        v.get("label")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned()
    };
    let (sl, bl) = (label(&s), label(&b));
    let phases = |v: &Value| -> BTreeMap<(u64, String), Value> {
        v.get("phases")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let users = p.get("users")?.as_u64()?;
                let phase = p.get("phase")?.as_str()?.to_owned();
                Some(((users, phase), p.clone()))
            })
            .collect()
    };
    let (sp, bp) = (phases(&s), phases(&b));
    println!();
    println!("{sl} vs {bl}: throughput {sl}/{bl}, latency {bl}/{sl} (above 1 = {sl} better)");
    println!(
        "{:>9}  {:<7} {:>12} {:>12} {:>9} {:>9} {:>9}  target",
        "users", "phase", "req/s", "req/s base", "rps x", "p50 x", "p99 x"
    );
    let num = |p: &Value, k: &str| p.get(k).and_then(Value::as_f64);
    let mut compared = 0;
    for ((users, phase), sv) in &sp {
        let Some(bv) = bp.get(&(*users, phase.clone())) else {
            continue;
        };
        compared += 1;
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        let show = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:.1}"));
        let rps = ratio(num(sv, "rps"), num(bv, "rps"));
        let p50 = ratio(num(bv, "p50_ms"), num(sv, "p50_ms"));
        let p99 = ratio(num(bv, "p99_ms"), num(sv, "p99_ms"));
        let failed = |p: &Value| p.get("over_error_budget").and_then(Value::as_bool) == Some(true);
        let verdict = match rps {
            _ if failed(sv) || failed(bv) => "a run failed this phase: ratio not valid".to_owned(),
            Some(r) if r >= target => format!(">= {target}x: met"),
            Some(_) => format!(">= {target}x: NOT met"),
            None => "-".to_owned(),
        };
        println!(
            "{users:>9}  {phase:<7} {:>12.1} {:>12.1} {:>9} {:>9} {:>9}  {verdict}",
            num(sv, "rps").unwrap_or(0.0),
            num(bv, "rps").unwrap_or(0.0),
            show(rps),
            show(p50),
            show(p99),
        );
    }
    if compared == 0 {
        return Err(format!("{sl} and {bl} share no (users, phase) to compare").into());
    }
    let sizes = |m: &BTreeMap<(u64, String), Value>| {
        let mut v: Vec<u64> = m.keys().map(|(u, _)| *u).collect();
        v.dedup();
        v
    };
    println!(
        "{sl} measured at {:?} Users, {bl} at {:?} Users; ratios only where both were measured.",
        sizes(&sp),
        sizes(&bp)
    );
    Ok(())
}
