//! A full Okta backup at scale against the simulator: simulated time against the
//! rate-limit lower bound, then 1% of users and groups changed (profile edits, new and
//! deleted users, lifecycle changes, membership moves, an app assignment, a policy
//! change) and an incremental backup, side by side with a full backup of the changed
//! org (time, requests, bytes added), a check that both list the same entries and
//! digests, and memory.
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

use butterfly_providers::backup::{BackupMode, run_okta_backup_with};
use butterfly_providers::clock::VirtualTimer;
use butterfly_providers::okta::fetcher::FetchEvent;
use butterfly_providers::okta::fetcher::{
    FetchOptions, FetchReport, OktaCredentials, OktaFetcher, PrivateKey,
};
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
    snapshot: butterfly_core::SnapshotId,
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

fn okta_credentials(credentials: &ClientCredentials) -> Result<OktaCredentials, String> {
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
    Ok(credentials)
}

async fn backup(
    credentials: &ClientCredentials,
    timer: &Arc<VirtualTimer>,
    repo: &Path,
    args: &Args,
    mode: BackupMode,
) -> Result<Run, String> {
    let credentials = okta_credentials(credentials)?;
    let options = FetchOptions {
        rate_limit_share: args.share,
        timer: timer.clone(),
        // The simulator listens on loopback.
        insecure_allow_private_addresses: true,
        ..FetchOptions::default()
    };
    let repo = SnapshotRepository::open_or_create(repo)
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let simulated_start = timer.now();
    // The same runner the CLI and the server use, on the simulator's virtual clock.
    let outcome = run_okta_backup_with(
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
        simulated_seconds: (timer.now() - simulated_start).as_seconds_f64(),
        real_seconds: started.elapsed().as_secs_f64(),
        resources: outcome.snapshot.resources,
        kinds: outcome.snapshot.counts.len(),
        new_objects: outcome.write.new_objects,
        report: outcome.fetch,
        snapshot: outcome.snapshot.id,
    })
}

/// Change 1% of users and groups through the API, as an admin would: profile edits, new
/// and deleted users, suspensions, membership moves, one app assignment, one policy
/// change. Returns the writes sent.
async fn change_one_percent(
    credentials: &ClientCredentials,
    timer: &Arc<VirtualTimer>,
    sim: &Simulator,
    args: &Args,
) -> Result<u64, String> {
    let options = FetchOptions {
        rate_limit_share: 1.0,
        timer: timer.clone(),
        insecure_allow_private_addresses: true,
        ..FetchOptions::default()
    };
    let fetcher =
        OktaFetcher::new(okta_credentials(credentials)?, options).map_err(|e| e.to_string())?;
    let scopes = [
        "okta.users.manage",
        "okta.groups.manage",
        "okta.apps.manage",
        "okta.policies.manage",
        "okta.policies.read",
        "okta.groups.read",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    let session = fetcher.sign_in(scopes).await.map_err(|e| e.to_string())?;
    let ids = |kind: &str| -> Vec<String> {
        let org = sim.org();
        let path = match kind {
            "user" => "/api/v1/users",
            "group" => "/api/v1/groups",
            _ => "/api/v1/apps",
        };
        org.listing_ids(path, kind)
    };
    let (users, groups, apps) = (ids("user"), ids("group"), ids("app"));
    let changed_users = (args.users / 100).max(4);
    let changed_groups = (args.groups / 100).max(1);
    let mut writes = 0u64;
    let mut send = async |method: &str, path: String, body: Option<serde_json::Value>| {
        writes += 1;
        match session.send(method, &path, body.as_ref(), false).await {
            Ok(r) if r.is_success() => Ok(()),
            Ok(r) => Err(format!("{method} {path}: {} {}", r.status, r.body)),
            Err(e) => Err(format!("{method} {path}: {e}")),
        }
    };
    // Half of the changed users get a profile edit, a quarter are new, an eighth are
    // deleted (deactivated, then deleted), an eighth are suspended or deactivated.
    let stride = users.len() / changed_users;
    for (i, user) in users
        .iter()
        .step_by(stride.max(1))
        .take(changed_users)
        .enumerate()
    {
        match i % 8 {
            0..=3 => {
                send(
                    "POST",
                    format!("/api/v1/users/{user}"),
                    Some(serde_json::json!({ "profile": { "nickName": format!("edited {i}") } })),
                )
                .await?;
            }
            4 | 5 => {
                let login = format!("bench-new-{i}@example.com");
                send("POST", "/api/v1/users?activate=false".into(), Some(serde_json::json!({ "profile": {
                    "login": login, "email": login, "firstName": "New", "lastName": format!("User {i}") } }))).await?;
            }
            6 => {
                send("DELETE", format!("/api/v1/users/{user}"), None).await?;
                // A user generated deprovisioned is gone after the first delete.
                send("DELETE", format!("/api/v1/users/{user}"), None)
                    .await
                    .ok();
            }
            _ => {
                send("DELETE", format!("/api/v1/users/{user}"), None).await?;
            }
        }
    }
    // Membership moves: a user of one group into another.
    let gstride = groups.len() / changed_groups;
    for (i, group) in groups
        .iter()
        .step_by(gstride.max(1))
        .take(changed_groups)
        .enumerate()
    {
        let user = &users[(i * 7919 + 13) % users.len()];
        send(
            "PUT",
            format!("/api/v1/groups/{group}/users/{user}"),
            Some(serde_json::json!({})),
        )
        .await?;
        let other = &groups[(i * 31 + 1) % groups.len()];
        send(
            "DELETE",
            format!("/api/v1/groups/{other}/users/{user}"),
            None,
        )
        .await
        .ok();
    }
    if let (Some(app), Some(user)) = (apps.first(), users.last()) {
        send(
            "POST",
            format!("/api/v1/apps/{app}/users"),
            Some(serde_json::json!({ "id": user, "scope": "USER" })),
        )
        .await?;
    }
    let policy = session
        .send("GET", "/api/v1/policies?type=PASSWORD", None, true)
        .await
        .map_err(|e| e.to_string())?
        .body
        .get(0)
        .cloned()
        .ok_or("no password policy")?;
    if let Some(id) = policy.get("id").and_then(serde_json::Value::as_str) {
        let mut changed = policy.clone();
        changed["description"] = serde_json::json!("changed by the benchmark");
        send("PUT", format!("/api/v1/policies/{id}"), Some(changed)).await?;
    }
    Ok(writes)
}

/// Whether two snapshots list the same entries and digests, and where they differ: per
/// kind, entries only in the first, only in the second, and with other digests (the
/// first of each named).
async fn same_entries(
    repo: &Path,
    a: butterfly_core::SnapshotId,
    b: butterfly_core::SnapshotId,
) -> Result<(bool, Vec<String>), String> {
    let repo = SnapshotRepository::open_or_create(repo)
        .await
        .map_err(|e| e.to_string())?;
    let a = repo.manifest(a).await.map_err(|e| e.to_string())?;
    let b = repo.manifest(b).await.map_err(|e| e.to_string())?;
    let mut differences = Vec::new();
    let kinds: std::collections::BTreeSet<_> = a.kinds.keys().chain(b.kinds.keys()).collect();
    for kind in kinds {
        let entries = |s: &butterfly_core::Snapshot| -> std::collections::BTreeMap<String, _> {
            s.kinds
                .get(kind)
                .into_iter()
                .flatten()
                .map(|e| (e.id.clone(), e.digest))
                .collect()
        };
        let (ea, eb) = (entries(&a), entries(&b));
        let only_a: Vec<_> = ea.keys().filter(|id| !eb.contains_key(*id)).collect();
        let only_b: Vec<_> = eb.keys().filter(|id| !ea.contains_key(*id)).collect();
        let changed: Vec<_> = ea
            .iter()
            .filter(|(id, d)| eb.get(*id).is_some_and(|other| other != *d))
            .map(|(id, _)| id)
            .collect();
        if !(only_a.is_empty() && only_b.is_empty() && changed.is_empty()) {
            differences.push(format!(
                "{kind}: {} only in the incremental (first {:?}), {} only in the full (first {:?}), {} with other digests (first {:?})",
                only_a.len(),
                only_a.first(),
                only_b.len(),
                only_b.first(),
                changed.len(),
                changed.first(),
            ));
        }
    }
    Ok((
        a.kinds == b.kinds && a.root_digest == b.root_digest,
        differences,
    ))
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

    let first = backup(&credentials, &timer, &repo, &args, BackupMode::Full).await?;
    let first_kib = vm_hwm_kib();
    let after_first = dir_bytes(&repo);
    let unchanged = backup(&credentials, &timer, &repo, &args, BackupMode::default()).await?;
    let after_unchanged = dir_bytes(&repo);
    timer.advance(chrono::TimeDelta::minutes(10));
    let writes = change_one_percent(&credentials, &timer, sim.simulator(), &args).await?;
    timer.advance(chrono::TimeDelta::minutes(10));
    let before_incremental = dir_bytes(&repo);
    let incremental = backup(&credentials, &timer, &repo, &args, BackupMode::default()).await?;
    let incremental_kib = vm_hwm_kib();
    let after_incremental = dir_bytes(&repo);
    let full = backup(&credentials, &timer, &repo, &args, BackupMode::Full).await?;
    let peak_kib = vm_hwm_kib();
    let (equal, differences) = same_entries(&repo, incremental.snapshot, full.snapshot).await?;

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
        "memory: peak {:.1} MiB after the full backup, {:.1} MiB after the incremental one, {:.1} MiB at the end (process, simulator included; {:.1} MiB before the backups)",
        first_kib as f64 / 1024.0,
        incremental_kib as f64 / 1024.0,
        peak_kib as f64 / 1024.0,
        before_kib as f64 / 1024.0,
    );
    println!(
        "repository after the first backup: {:.1} MiB; an incremental backup of the unchanged org ({:.0} s simulated, {} requests) added {} bytes",
        after_first as f64 / 1_048_576.0,
        unchanged.simulated_seconds,
        unchanged.report.requests,
        after_unchanged.saturating_sub(after_first),
    );
    println!("changed 1% of users and groups with {writes} writes, then:");
    println!("| backup | simulated s | real s | requests | resources read | new objects |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, run) in [("incremental", &incremental), ("full", &full)] {
        println!(
            "| {name} | {:.0} | {:.1} | {} | {} | {} |",
            run.simulated_seconds,
            run.real_seconds,
            run.report.requests,
            run.report.counts.values().sum::<u64>(),
            run.new_objects,
        );
    }
    for (name, run) in [("incremental", &incremental), ("full", &full)] {
        println!(
            "{name} requests per bucket: {:?}",
            run.report.requests_per_bucket
        );
    }
    if let Some(report) = &incremental.report.incremental {
        let relisted: Vec<String> = report
            .relisted
            .iter()
            .map(|(kind, parents)| format!("{kind} {}", parents.len()))
            .collect();
        println!(
            "incremental: {} System Log events, {} deleted users, parents listed again: {}",
            report.log_events,
            report.deleted_users.len(),
            relisted.join(", ")
        );
    }
    println!(
        "the incremental backup added {} bytes; same entries and digests as the full backup: {}",
        after_incremental.saturating_sub(before_incremental),
        if equal { "yes" } else { "NO" }
    );
    for difference in &differences {
        println!("  {difference}");
    }
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
