//! Restore at scale against the simulator: planning against a large org, and restoring
//! deleted users and groups, in simulated time against the rate-limit bounds.
//!
//! ```sh
//! cargo build --release -p butterfly-benches
//! target/release/okta-restore [--users 50000] [--groups 5000] [--apps 500] \
//!     [--delete-users 1000] [--delete-groups 100]
//! ```
//!
//! The simulator (Okta's default limits) and the restore run in this process on one
//! virtual clock, as in the backup benchmark: every rate-limit wait moves simulated time
//! and returns at once. The bound for a set of requests is the busiest bucket's requests
//! divided by its per-minute limit (buckets are independent); the executor writes one
//! step at a time, so its floor is the sum over buckets, printed too.

// Figures for humans: f64 precision is ample for counts and seconds here.
#![allow(clippy::cast_precision_loss)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use butterfly_core::restore::{RestoreMode, RestoreOptions};
use butterfly_core::source::InMemorySnapshotSource;
use butterfly_core::source::SnapshotSource as _;
use butterfly_providers::backup::run_okta_backup;
use butterfly_providers::clock::VirtualTimer;
use butterfly_providers::okta::RateLimitBucket;
use butterfly_providers::okta::fetcher::{
    FetchEvent, FetchOptions, FetchReport, OktaCredentials, OktaFetcher, PrivateKey,
};
use butterfly_providers::okta::kinds;
use butterfly_providers::okta::restore::plan::{ResourceSet, read_kinds};
use butterfly_providers::okta::restore::{
    ExecuteOptions, IdMap, Journal, PlanInput, execute, plan, read_live,
};
use butterfly_providers::okta::simulator::{OrgConfig, Simulator, SimulatorConfig};

#[derive(Debug, Clone, Copy)]
struct Args {
    users: usize,
    groups: usize,
    apps: usize,
    delete_users: usize,
    delete_groups: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        users: 50_000,
        groups: 5_000,
        apps: 500,
        delete_users: 1_000,
        delete_groups: 100,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|_| format!("bad value for {flag}: {value}"))
        };
        match flag.as_str() {
            "--users" => args.users = number()?,
            "--groups" => args.groups = number()?,
            "--apps" => args.apps = number()?,
            "--delete-users" => args.delete_users = number()?,
            "--delete-groups" => args.delete_groups = number()?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(args)
}

/// `(busiest bucket's seconds, the bucket, sum over buckets)` for the requests counted in
/// `report`, at Okta's default limits.
fn bounds(report: &FetchReport) -> (f64, String, f64) {
    let mut busiest = (0.0, String::new());
    let mut sum = 0.0;
    for (name, requests) in &report.requests_per_bucket {
        let limit = RateLimitBucket::ALL
            .iter()
            .find(|b| b.as_str() == name)
            .map_or(600, |b| b.default_limit_per_minute());
        let seconds = *requests as f64 * 60.0 / f64::from(limit);
        sum += seconds;
        if seconds > busiest.0 {
            busiest = (seconds, name.clone());
        }
    }
    (busiest.0, busiest.1, sum)
}

async fn run(args: Args) -> Result<(), String> {
    let timer = Arc::new(VirtualTimer::starting_now());
    let config = SimulatorConfig {
        org: OrgConfig {
            seed: 1,
            users: args.users,
            groups: args.groups,
            apps: args.apps,
        },
        timer: timer.clone(),
        ..SimulatorConfig::default()
    };
    let generating = Instant::now();
    let sim = Simulator::bind(config, ([127, 0, 0, 1], 0).into())
        .await
        .map_err(|e| e.to_string())?;
    eprintln!(
        "simulator: {} users, {} groups, {} apps generated in {:.1}s",
        args.users,
        args.groups,
        args.apps,
        generating.elapsed().as_secs_f64()
    );
    let given = sim.simulator().client_credentials();
    let credentials = OktaCredentials {
        org_url: given.org_url.parse().map_err(|e| format!("{e}"))?,
        client_id: given.client_id.parse().map_err(|e| format!("{e}"))?,
        key_id: Some(given.key_id.clone()),
        private_key: PrivateKey::from_pem(given.private_key_pem.as_deref().ok_or("no key")?)
            .map_err(|e| e.to_string())?,
    };
    let options = FetchOptions {
        rate_limit_share: 1.0,
        timer: timer.clone(),
        // The simulator listens on loopback.
        insecure_allow_private_addresses: true,
        ..FetchOptions::default()
    };
    let source = InMemorySnapshotSource::new();
    let outcome = run_okta_backup(
        credentials.clone(),
        options.clone(),
        &source,
        timer.as_ref(),
        |_: &FetchEvent| {},
    )
    .await
    .map_err(|e| e.to_string())?;
    let manifest = source
        .manifest(outcome.snapshot_id())
        .await
        .map_err(|e| e.to_string())?;
    let fetcher = OktaFetcher::new(credentials, options).map_err(|e| e.to_string())?;
    let restore_options = RestoreOptions::default();
    let read = read_kinds(&restore_options);
    let ours = ResourceSet::from_snapshot(&source, &manifest, &read)
        .await
        .map_err(|e| e.to_string())?;

    // 1. Planning against the whole org (nothing to do: the backup is fresh).
    let (simulated, real) = (timer.now(), Instant::now());
    let live = read_live(&fetcher, &read)
        .await
        .map_err(|e| e.to_string())?;
    let made = plan(&PlanInput {
        snapshot: &manifest,
        snapshot_resources: &ours,
        live: &live,
        mode: RestoreMode::Restore,
        options: &restore_options,
        variables: None,
        known: &IdMap::new(),
        own_client_id: Some(&given.client_id),
        now: timer.now(),
    })
    .map_err(|e| e.to_string())?;
    let planning = (timer.now() - simulated).as_seconds_f64();
    let (bound, bucket, _) = bounds(&live.report);
    println!(
        "planning against {} users, {} groups, {} apps: {} resources read, {} requests, {planning:.0} s simulated = {:.2}x the read bound ({bound:.0} s, bucket {bucket}), {:.1} s real; {} writes planned",
        args.users,
        args.groups,
        args.apps,
        live.resources.len(),
        live.report.requests,
        planning / bound.max(f64::MIN_POSITIVE),
        real.elapsed().as_secs_f64(),
        made.write_count()
    );

    // 2. Delete users and groups over HTTP, then restore them.
    let admin: BTreeSet<String> = kinds::backup_scopes()
        .into_iter()
        .chain(kinds::all().filter_map(|k| k.manage_scope))
        .map(str::to_owned)
        .collect();
    let session = fetcher.sign_in(admin).await.map_err(|e| e.to_string())?;
    let users: Vec<String> = ours
        .kind("user")
        .filter(|(_, u)| u["status"] == "ACTIVE")
        .map(|(id, _)| id.clone())
        .take(args.delete_users)
        .collect();
    let groups: Vec<String> = ours
        .kind("group")
        .filter(|(_, g)| g["type"] == "OKTA_GROUP")
        .map(|(id, _)| id.clone())
        .take(args.delete_groups)
        .collect();
    for user in &users {
        for method in ["POST", "DELETE"] {
            let path = if method == "POST" {
                format!("/api/v1/users/{user}/lifecycle/deactivate")
            } else {
                format!("/api/v1/users/{user}")
            };
            let answer = session
                .send(method, &path, None, true)
                .await
                .map_err(|e| e.to_string())?;
            if !answer.is_success() {
                return Err(format!("{method} {path}: {}", answer.status));
            }
        }
    }
    for group in &groups {
        let answer = session
            .send("DELETE", &format!("/api/v1/groups/{group}"), None, true)
            .await
            .map_err(|e| e.to_string())?;
        if !answer.is_success() {
            return Err(format!("DELETE group {group}: {}", answer.status));
        }
    }
    let live = read_live(&fetcher, &read)
        .await
        .map_err(|e| e.to_string())?;
    let made = plan(&PlanInput {
        snapshot: &manifest,
        snapshot_resources: &ours,
        live: &live,
        mode: RestoreMode::Restore,
        options: &restore_options,
        variables: None,
        known: &IdMap::new(),
        own_client_id: Some(&given.client_id),
        now: timer.now(),
    })
    .map_err(|e| e.to_string())?;
    let mut per_kind: BTreeMap<String, usize> = BTreeMap::new();
    for entry in &made.create {
        *per_kind.entry(entry.kind.to_string()).or_default() += 1;
    }
    let writer = fetcher
        .sign_in(
            kinds::all()
                .filter_map(|k| k.manage_scope)
                .chain(kinds::backup_scopes())
                .map(str::to_owned)
                .collect(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let (simulated, real) = (timer.now(), Instant::now());
    let mut journal = Journal::in_memory();
    let report = execute(
        &made,
        &source,
        &live,
        &writer,
        &mut journal,
        &source,
        &ExecuteOptions::new("bench"),
        timer.now(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let restoring = (timer.now() - simulated).as_seconds_f64();
    let (bound, bucket, sum) = bounds(&writer.report());
    println!(
        "restoring {} deleted users and {} groups: {} steps ({per_kind:?}), {} requests, {} failed, {restoring:.0} s simulated = {:.2}x the write bound ({bound:.0} s, bucket {bucket}; {sum:.0} s summed over buckets, the floor of a one-step-at-a-time run), {:.1} s real",
        users.len(),
        groups.len(),
        made.write_count(),
        report.requests,
        report.failed,
        restoring / bound.max(f64::MIN_POSITIVE),
        real.elapsed().as_secs_f64()
    );
    sim.shutdown().await.map_err(|e| e.to_string())
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
