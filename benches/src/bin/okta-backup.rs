//! A full Okta backup at scale against the simulator: simulated time against the
//! rate-limit lower bound, the bytes an immediate second backup adds, and memory.
//!
//! ```sh
//! cargo build --release -p butterfly-benches
//! target/release/okta-backup [--users 50000] [--groups 5000] [--apps 500] [--share 1.0]
//! ```
//!
//! The simulator (at Okta's default limits) and the backup (the shared runner writing a
//! snapshot repository in a temporary directory) run in this process on one virtual
//! clock: every rate-limit wait moves simulated time and returns at once, so the figure
//! against the bound is simulated seconds, exact whatever the machine's speed, and the
//! real seconds only say how fast the code is. Memory is this process's peak (VmHWM),
//! simulator included, and how much the backups added to it.

// Figures for humans: f64 precision is ample for byte counts and seconds here.
#![allow(clippy::cast_precision_loss)]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use butterfly_providers::backup::run_okta_backup;
use butterfly_providers::clock::VirtualTimer;
use butterfly_providers::okta::fetcher::FetchEvent;
use butterfly_providers::okta::fetcher::{FetchOptions, FetchReport, OktaCredentials, PrivateKey};
use butterfly_providers::okta::simulator::{
    ClientCredentials, OrgConfig, Simulator, SimulatorConfig,
};
use butterfly_store::snapshots::SnapshotRepository;

#[derive(Debug, Clone, Copy)]
struct Args {
    users: usize,
    groups: usize,
    apps: usize,
    share: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        users: 50_000,
        groups: 5_000,
        apps: 500,
        share: 1.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = || format!("bad value for {flag}: {value}");
        match flag.as_str() {
            "--users" => args.users = value.parse().map_err(|_| bad())?,
            "--groups" => args.groups = value.parse().map_err(|_| bad())?,
            "--apps" => args.apps = value.parse().map_err(|_| bad())?,
            "--share" => args.share = value.parse().map_err(|_| bad())?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(args)
}

/// What one backup run measured.
#[derive(Debug)]
struct Run {
    simulated_seconds: f64,
    real_seconds: f64,
    resources: u64,
    kinds: usize,
    new_objects: u64,
    report: FetchReport,
}

/// This process's peak resident memory so far, in KiB.
fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

async fn backup(
    credentials: &ClientCredentials,
    timer: &Arc<VirtualTimer>,
    repo: &Path,
    args: &Args,
) -> Result<Run, String> {
    let private_key = credentials
        .private_key_pem
        .as_deref()
        .ok_or("the simulator generated no key")?;
    let credentials = OktaCredentials {
        org_url: credentials.org_url.parse().map_err(|e| format!("{e}"))?,
        client_id: credentials.client_id.parse().map_err(|e| format!("{e}"))?,
        key_id: Some(credentials.key_id.clone()),
        private_key: PrivateKey::from_pem(private_key).map_err(|e| e.to_string())?,
    };
    let options = FetchOptions {
        rate_limit_share: args.share,
        timer: timer.clone(),
        // The simulator listens on loopback.
        insecure_allow_private_addresses: true,
        ..FetchOptions::default()
    };
    let repo = SnapshotRepository::open(repo)
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let simulated_start = timer.now();
    // The same runner the CLI and the server use, on the simulator's virtual clock.
    let outcome = run_okta_backup(
        credentials,
        options,
        &repo,
        timer.as_ref(),
        |_: &FetchEvent| {},
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(Run {
        simulated_seconds: (timer.now() - simulated_start).as_seconds_f64(),
        real_seconds: started.elapsed().as_secs_f64(),
        resources: outcome.snapshot.resources,
        kinds: outcome.snapshot.counts.len(),
        new_objects: outcome.write.new_objects,
        report: outcome.fetch,
    })
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() {
                dir_bytes(&path)
            } else {
                e.metadata().map_or(0, |m| m.len())
            }
        })
        .sum()
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
    let credentials = sim.simulator().client_credentials();
    let dir = std::env::temp_dir().join(format!("okta-backup-bench-{}", std::process::id()));
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).map_err(|e| e.to_string())?;
    let bound = sim.simulator().lower_bound();
    let before_kib = vm_hwm_kib();

    let first = backup(&credentials, &timer, &repo, &args).await?;
    let after_first = dir_bytes(&repo);
    let second = backup(&credentials, &timer, &repo, &args).await?;
    let after_second = dir_bytes(&repo);
    let peak_kib = vm_hwm_kib();

    println!(
        "org: {} users, {} groups, {} apps -> {} resources in {} kinds",
        args.users, args.groups, args.apps, first.resources, first.kinds
    );
    println!(
        "lower bound: {:.0} s simulated (bucket {}, {} requests)",
        bound.bound_seconds, bound.bound_bucket, bound.total_requests,
    );
    println!(
        "full backup at {:.0}% allotment: {:.0} s simulated = {:.2}x the bound, in {:.1} s real; {} requests, {} rate-limited, {} headroom pauses, {} retries, {} re-authentications",
        args.share * 100.0,
        first.simulated_seconds,
        first.simulated_seconds / bound.bound_seconds.max(f64::MIN_POSITIVE),
        first.real_seconds,
        first.report.requests,
        first.report.rate_limited,
        first.report.headroom_pauses,
        first.report.retries,
        first.report.reauthentications,
    );
    println!(
        "memory: peak {:.1} MiB for the process (simulator included), {:.1} MiB more than before the backups",
        peak_kib as f64 / 1024.0,
        peak_kib.saturating_sub(before_kib) as f64 / 1024.0
    );
    let added = after_second.saturating_sub(after_first);
    println!(
        "repository after the first backup: {:.1} MiB; the second backup ({:.0} s simulated, {:.1} s real) added {added} bytes = {:.3}% ({} new objects)",
        after_first as f64 / 1_048_576.0,
        second.simulated_seconds,
        second.real_seconds,
        added as f64 * 100.0 / after_first.max(1) as f64,
        second.new_objects
    );
    let _ = std::fs::remove_dir_all(&dir);
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
