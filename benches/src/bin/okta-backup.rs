//! A full Okta backup at scale against the simulator: time against the rate-limit lower
//! bound, the bytes an immediate second backup adds, and the backup's peak memory.
//!
//! ```sh
//! cargo build --release -p butterfly-cli -p butterfly-benches
//! target/release/okta-backup [--users 50000] [--groups 5000] [--apps 500] \
//!     [--time-scale 60] [--share 1.0]
//! ```
//!
//! The simulator runs in this process at Okta's default limits on a clock `--time-scale`
//! times faster than real time; each backup is the `butterfly` binary beside this one,
//! run as a child, so its peak memory (VmHWM, polled from /proc) is the backup's alone.

// Figures for humans: f64 precision is ample for byte counts and seconds here.
#![allow(clippy::cast_precision_loss)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use butterfly_providers::okta::simulator::{OrgConfig, Simulator, SimulatorConfig};
use serde_json::Value;

#[derive(Debug, Clone, Copy)]
struct Args {
    users: usize,
    groups: usize,
    apps: usize,
    time_scale: f64,
    share: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        users: 50_000,
        groups: 5_000,
        apps: 500,
        time_scale: 60.0,
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
            "--time-scale" => args.time_scale = value.parse().map_err(|_| bad())?,
            "--share" => args.share = value.parse().map_err(|_| bad())?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(args)
}

/// What one backup run measured.
#[derive(Debug)]
struct Run {
    seconds: f64,
    peak_kib: u64,
    summary: Value,
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn backup(
    cli: &Path,
    org_url: &str,
    client_id: &str,
    key: &Path,
    repo: &Path,
    args: &Args,
) -> Result<Run, String> {
    let started = Instant::now();
    let mut child = Command::new(cli)
        .args([
            "backup",
            "okta",
            "--org-url",
            org_url,
            "--client-id",
            client_id,
        ])
        .arg("--private-key")
        .arg(key)
        .arg("--repo")
        .arg(repo)
        .args(["--rate-limit-share", &args.share.to_string()])
        .args(["--time-scale", &args.time_scale.to_string()])
        .args(["--output", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", cli.display()))?;
    let pid = child.id();
    let mut peak_kib = 0;
    // VmHWM only grows; the last reading before exit is the peak (give or take 20 ms).
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        peak_kib = peak_kib.max(vm_hwm_kib(pid).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(20));
    }
    let seconds = started.elapsed().as_secs_f64();
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!("backup failed: {}", output.status));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout
        .lines()
        .next()
        .and_then(|l| serde_json::from_str(l).ok())
        .ok_or("no JSON summary")?;
    Ok(Run {
        seconds,
        peak_kib,
        summary,
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

fn cli_path() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let cli = me.with_file_name("butterfly");
    if cli.exists() {
        Ok(cli)
    } else {
        Err(format!(
            "{} not found: build it first (cargo build --release -p butterfly-cli)",
            cli.display()
        ))
    }
}

async fn run(args: Args) -> Result<(), String> {
    let cli = cli_path()?;
    let config = SimulatorConfig {
        org: OrgConfig {
            seed: 1,
            users: args.users,
            groups: args.groups,
            apps: args.apps,
        },
        time_scale: args.time_scale,
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
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let key = dir.join("key.pem");
    std::fs::write(&key, credentials.private_key_pem.unwrap_or_default())
        .map_err(|e| e.to_string())?;
    let repo = dir.join("repo");
    let bound = sim.simulator().lower_bound();

    let org_url = sim.org_url().to_owned();
    let client_id = credentials.client_id.clone();
    // The children are waited for with blocking calls; the simulator keeps serving on the
    // runtime's workers meanwhile.
    let (first, second, after_first) = {
        let (key, repo) = (key.clone(), repo.clone());
        tokio::task::spawn_blocking(move || -> Result<(Run, Run, u64), String> {
            let first = backup(&cli, &org_url, &client_id, &key, &repo, &args)?;
            let after_first = dir_bytes(&repo);
            let second = backup(&cli, &org_url, &client_id, &key, &repo, &args)?;
            Ok((first, second, after_first))
        })
        .await
        .map_err(|e| e.to_string())??
    };
    let after_second = dir_bytes(&repo);

    let resources = first.summary["resources"].as_u64().unwrap_or(0);
    println!(
        "org: {} users, {} groups, {} apps -> {resources} resources in {} kinds",
        args.users, args.groups, args.apps, first.summary["kinds"]
    );
    println!(
        "lower bound: {:.1} s real ({:.0} s simulated, bucket {}, {} requests) at time scale {}",
        bound.bound_real_seconds,
        bound.bound_seconds,
        bound.bound_bucket,
        bound.total_requests,
        args.time_scale
    );
    println!(
        "full backup at {:.0}% allotment: {:.1} s = {:.2}x the bound; {} requests, {} rate-limited, {} retries; peak memory {:.1} MiB",
        args.share * 100.0,
        first.seconds,
        first.seconds / bound.bound_real_seconds,
        first.summary["requests"],
        first.summary["rate_limited"],
        first.summary["retries"],
        first.peak_kib as f64 / 1024.0
    );
    let added = after_second.saturating_sub(after_first);
    println!(
        "repository after the first backup: {:.1} MiB; the second backup ({:.1} s) added {added} bytes = {:.3}% ({} new objects)",
        after_first as f64 / 1_048_576.0,
        second.seconds,
        added as f64 * 100.0 / after_first.max(1) as f64,
        second.summary["new_objects"]
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
