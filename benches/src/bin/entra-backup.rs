//! A full Entra ID backup at scale against the Graph simulator, then 1 % of objects
//! changed and a delta backup, side by side with a full backup of the changed tenant.
//!
//! ```sh
//! cargo build --release -p butterfly-benches
//! target/release/entra-backup [--users 50000] [--groups 5000] [--apps 2000] [--share 1.0]
//! ```
//!
//! The simulator (at Graph's identity-and-access budget for the tenant's size) and the
//! backup (the runner the CLI and server use, writing a snapshot repository in a temporary
//! directory) run in this process on one virtual clock: every throttling wait moves
//! simulated time and returns at once, so the figures against the simulator's lower bound
//! (its resource units over the budget) are simulated seconds, exact whatever the
//! machine's speed. Memory is this process's peak (VmHWM), simulator included.

// Figures for humans: f64 precision is ample for seconds and counts here.
#![allow(clippy::cast_precision_loss)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use butterfly_providers::backup::{BackupMode, BackupOutcome};
use butterfly_providers::clock::VirtualTimer;
use butterfly_providers::entra::backup::{DELTA_LINK_KIND, run_entra_backup};
use butterfly_providers::entra::fetcher::{
    ClientCredential, ClientSecret, EndpointUrl, EntraCredentials, EntraFetchOptions, TenantId,
};
use butterfly_providers::entra::simulator::{EntraSimConfig, EntraSimulator, TenantConfig};
use butterfly_providers::okta::fetcher::{ClientId, FetchEvent};
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
        apps: 2_000,
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

struct Run {
    outcome: BackupOutcome,
    simulated_seconds: f64,
    real_seconds: f64,
}

async fn backup(
    sim: &EntraSimulator,
    timer: &Arc<VirtualTimer>,
    repo: &Path,
    share: f64,
    mode: BackupMode,
) -> Result<Run, String> {
    let error = |e: &dyn std::fmt::Display| e.to_string();
    let credentials = EntraCredentials {
        tenant_id: TenantId::new(sim.tenant_id()).map_err(|e| error(&e))?,
        client_id: ClientId::new(sim.client_id()).map_err(|e| error(&e))?,
        credential: ClientCredential::Secret(
            ClientSecret::new(sim.client_secret()).map_err(|e| error(&e))?,
        ),
        graph_url: EndpointUrl::parse(sim.graph_url()).map_err(|e| error(&e))?,
        authority_url: EndpointUrl::parse(sim.authority_url()).map_err(|e| error(&e))?,
    };
    let options = EntraFetchOptions {
        rate_limit_share: share,
        tenant_units: sim.resource_unit_budget(),
        timer: timer.clone(),
        insecure_allow_private_addresses: true,
        ..EntraFetchOptions::default()
    };
    let repo = SnapshotRepository::open_or_create(repo)
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let simulated_start = timer.now();
    let outcome = run_entra_backup(
        credentials,
        options,
        mode,
        &repo,
        timer.as_ref(),
        |_: &FetchEvent| {},
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(Run {
        outcome,
        simulated_seconds: (timer.now() - simulated_start).as_seconds_f64(),
        real_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Every (kind, id, digest) of a snapshot but its delta links.
async fn entries(
    repo: &Path,
    id: butterfly_core::SnapshotId,
) -> Result<BTreeSet<(String, String, String)>, String> {
    let repo = SnapshotRepository::open_or_create(repo)
        .await
        .map_err(|e| e.to_string())?;
    let manifest = repo.manifest(id).await.map_err(|e| e.to_string())?;
    Ok(manifest
        .kinds
        .iter()
        .filter(|(kind, _)| kind.as_str() != DELTA_LINK_KIND)
        .flat_map(|(kind, entries)| {
            entries
                .iter()
                .map(|e| (kind.as_str().to_owned(), e.id.clone(), e.digest.to_string()))
        })
        .collect())
}

fn line(label: &str, run: &Run) {
    let fetch = &run.outcome.fetch;
    println!(
        "{label}: {:.1} s simulated ({:.1} s real), {} requests, {} throttled, {} resources, status {:?}",
        run.simulated_seconds,
        run.real_seconds,
        fetch.requests,
        fetch.rate_limited,
        run.outcome.snapshot.resources,
        run.outcome.status(),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    let args = parse_args()?;
    let timer = Arc::new(VirtualTimer::starting_now());
    let generating = Instant::now();
    let sim = EntraSimulator::start(EntraSimConfig {
        tenant: TenantConfig {
            seed: 1,
            users: args.users,
            groups: args.groups,
            apps: args.apps,
            secret_canary: false,
        },
        timer: timer.clone(),
        ..EntraSimConfig::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let bound = sim.lower_bound();
    println!(
        "tenant: {} users, {} groups, {} apps, generated in {:.1} s; budget {} resource units per 10 s",
        args.users,
        args.groups,
        args.apps,
        generating.elapsed().as_secs_f64(),
        bound.budget_per_10s
    );
    println!(
        "lower bound: {} requests, {} resource units, {:.1} s at full share",
        bound.requests, bound.resource_units, bound.seconds
    );
    let before_kib = vm_hwm_kib();
    let dir = std::env::temp_dir().join(format!("entra-backup-bench-{}", std::process::id()));
    let mode = BackupMode::Incremental { full_every: 24 };
    let full = backup(&sim, &timer, &dir, args.share, mode).await?;
    line("full backup", &full);
    let bound_at_share = bound.seconds / args.share;
    println!(
        "full backup vs bound: {:.2}x (goal at most 1.25x; bound {:.1} s at share {})",
        full.simulated_seconds / bound_at_share,
        bound_at_share,
        args.share
    );
    let after_full_kib = vm_hwm_kib();

    let changed = sim.mutate(1.0);
    let delta = backup(&sim, &timer, &dir, args.share, mode).await?;
    line(
        &format!("delta backup after {changed} objects changed (1 %)"),
        &delta,
    );
    println!(
        "delta vs full: {:.2} % of the full backup's simulated time (goal under 5 %)",
        100.0 * delta.simulated_seconds / full.simulated_seconds.max(f64::EPSILON)
    );
    let after_delta_kib = vm_hwm_kib();
    let check = backup(&sim, &timer, &dir, args.share, BackupMode::Full).await?;
    line("full backup of the changed tenant", &check);
    let same = entries(&dir, delta.outcome.snapshot_id()).await?
        == entries(&dir, check.outcome.snapshot_id()).await?;
    println!("delta snapshot equals the full one (entries and digests): {same}");
    println!(
        "memory: peak {:.1} MiB after the full backup, {:.1} MiB after the delta one ({:.1} MiB before the backups; process, simulator included)",
        after_full_kib as f64 / 1024.0,
        after_delta_kib as f64 / 1024.0,
        before_kib as f64 / 1024.0
    );
    let _ = std::fs::remove_dir_all(&dir);
    if same {
        Ok(())
    } else {
        Err("the delta snapshot differs from the full one".into())
    }
}
