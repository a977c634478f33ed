//! Retention in a local repository, as restic users expect it:
//!
//! ```text
//! butterfly forget --repo ./backups --keep-last 3 --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --dry-run
//! butterfly forget --repo ./backups --keep-within 30d --prune
//! butterfly prune --repo ./backups [--dry-run]
//! butterfly snapshots delete ID --repo ./backups
//! butterfly snapshots hold ID --repo ./backups --reason "litigation 2026-17"
//! butterfly snapshots release ID --repo ./backups
//! ```
//!
//! `forget` deletes manifests only; `prune` (or `forget --prune`) then removes the objects
//! no snapshot references. A snapshot under legal hold is never forgotten or deleted.

use std::path::Path;

use butterfly_core::retention::{RetentionPolicy, RetentionPreset};
use butterfly_store::snapshots::{PruneOptions, PruneReport, SnapshotError};
use chrono::Utc;
use serde_json::{Value, json};

use crate::Output;
use crate::output::{Column, print_json, print_records};

/// The `--keep-*` flags of `forget`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KeepFlags {
    /// Keep the newest N snapshots.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the newest N hours.
    #[arg(long, value_name = "N")]
    pub keep_hourly: Option<u32>,
    /// Keep the newest snapshot of each of the newest N days.
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the newest N ISO weeks.
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the newest N months.
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// Keep the newest snapshot of each of the newest N years.
    #[arg(long, value_name = "N")]
    pub keep_yearly: Option<u32>,
    /// Keep every snapshot within this age of the newest one: 30d, 12h, 2w, 1y6m.
    #[arg(long, value_name = "AGE")]
    pub keep_within: Option<String>,
    /// A recommended policy by org size: small (30 days), medium (60 days), large
    /// (90 days), enterprise (90 days, then monthly for a year). Other flags add to it.
    #[arg(long)]
    pub preset: Option<String>,
}

impl KeepFlags {
    /// The policy the flags spell.
    pub fn policy(&self) -> Result<RetentionPolicy, String> {
        let mut policy = match &self.preset {
            Some(name) => name
                .parse::<RetentionPreset>()
                .map_err(|e| e.to_string())?
                .policy(),
            None => RetentionPolicy::default(),
        };
        let or = |flag: Option<u32>, preset: Option<u32>| flag.or(preset);
        policy.keep_last = or(self.keep_last, policy.keep_last);
        policy.keep_hourly = or(self.keep_hourly, policy.keep_hourly);
        policy.keep_daily = or(self.keep_daily, policy.keep_daily);
        policy.keep_weekly = or(self.keep_weekly, policy.keep_weekly);
        policy.keep_monthly = or(self.keep_monthly, policy.keep_monthly);
        policy.keep_yearly = or(self.keep_yearly, policy.keep_yearly);
        if let Some(age) = &self.keep_within {
            policy.keep_within = Some(
                age.parse()
                    .map_err(|e: butterfly_core::retention::RetentionError| e.to_string())?,
            );
        }
        Ok(policy)
    }
}

const DECISION_COLUMNS: &[Column] = &[
    Column::new("ID", "/id"),
    Column::new("TIME", "/time"),
    Column::new("ACTION", "/action"),
    Column::new("REASONS", "/reasons"),
];

/// `butterfly forget --repo DIR --keep-...`: the decisions per snapshot, then (with
/// `--prune`) the prune.
pub async fn forget(
    out: Output,
    repo: &Path,
    keep: &KeepFlags,
    prune: bool,
    dry_run: bool,
) -> Result<(), String> {
    let policy = keep.policy()?;
    if policy.is_empty() {
        // restic refuses too: forgetting with no rule is a typo, not a policy.
        return Err("no policy: give at least one --keep-* flag or --preset".into());
    }
    let repo = crate::repository::open(repo)
        .await
        .map_err(|e| e.to_string())?;
    let report = repo
        .forget(&policy, Utc::now(), dry_run)
        .await
        .map_err(|e| e.to_string())?;
    let rows: Vec<Value> = report
        .decisions
        .iter()
        .map(|d| {
            let reasons: Vec<&str> = d.reasons.iter().map(|r| r.name()).collect();
            json!({
                "id": d.id.to_string(),
                "time": butterfly_core::rfc3339::format(&d.time).unwrap_or_default(),
                "action": match (d.keep, dry_run) {
                    (true, _) => "keep",
                    (false, true) => "would remove",
                    (false, false) => "remove",
                },
                "reasons": reasons.join(", "),
            })
        })
        .collect();
    let forgotten = report.decisions.iter().filter(|d| !d.keep).count();
    let pruned = if prune {
        Some(
            // What a dry run would have deleted counts as gone.
            repo.prune(
                PruneOptions::dry_run(dry_run)
                    .as_if_deleted(report.decisions.iter().filter(|d| !d.keep).map(|d| d.id)),
            )
            .await
            .map_err(|e| e.to_string())?,
        )
    } else {
        None
    };
    match out {
        Output::Json => print_json(&json!({
            "policy": policy,
            "dry_run": dry_run,
            "decisions": rows,
            "prune": pruned,
        })),
        Output::Table | Output::Markdown => {
            println!("Policy: {policy}");
            print_records(out, &Value::Array(rows), DECISION_COLUMNS);
            let kept = report.decisions.len() - forgotten;
            if dry_run {
                println!(
                    "Would keep {kept} snapshots and remove {forgotten} (dry run: nothing changed)."
                );
            } else {
                println!("Kept {kept} snapshots, removed {forgotten}.");
            }
            if let Some(pruned) = &pruned {
                print_prune_summary(pruned);
            } else if forgotten > 0 && !dry_run {
                println!("Their data stays until `butterfly prune`.");
            }
        }
    }
    Ok(())
}

/// `butterfly prune --repo DIR [--dry-run]`.
pub async fn prune(out: Output, repo: &Path, dry_run: bool) -> Result<(), String> {
    let repo = crate::repository::open(repo)
        .await
        .map_err(|e| e.to_string())?;
    let report = repo
        .prune(PruneOptions::dry_run(dry_run))
        .await
        .map_err(|e| e.to_string())?;
    match out {
        Output::Json => print_json(&json!(report)),
        Output::Table | Output::Markdown => print_prune_summary(&report),
    }
    Ok(())
}

/// Bytes as people read them: `1.5 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    // For display to one decimal: 52 bits of precision are plenty.
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn print_prune_summary(report: &PruneReport) {
    let verb = if report.dry_run { "would" } else { "did" };
    println!(
        "{} snapshots reference {} objects in {} packs ({} stored).",
        report.snapshots,
        report.objects_live,
        report.packs,
        human_bytes(report.bytes_before)
    );
    println!(
        "Prune {verb} remove {} unreferenced objects: delete {} packs, rewrite {} packs, \
         delete {} packs no index names; {} packs keep a little garbage.",
        report.objects_removed,
        report.packs_deleted,
        report.packs_rewritten,
        report.unindexed_packs_deleted,
        report.packs_with_garbage_kept,
    );
    if report.dry_run {
        println!(
            "It would free about {} (dry run: nothing changed).",
            human_bytes(report.bytes_freed)
        );
    } else {
        println!("Freed {}.", human_bytes(report.bytes_freed));
    }
    if report.damaged_packs_skipped > 0 {
        println!(
            "{} damaged packs were left alone: run `butterfly check`.",
            report.damaged_packs_skipped
        );
    }
}

/// `butterfly snapshots delete ID --repo DIR`.
pub async fn delete(out: Output, repo: &Path, id: &str) -> Result<(), String> {
    let repo = crate::repository::open(repo)
        .await
        .map_err(|e| e.to_string())?;
    let id = repo.resolve(id).await.map_err(|e| e.to_string())?;
    repo.delete_snapshot(id).await.map_err(|e| e.to_string())?;
    crate::print_done(
        out,
        &format!("Deleted snapshot {id}; its data stays until `butterfly prune`."),
    );
    Ok(())
}

/// `butterfly snapshots hold ID --repo DIR [--reason TEXT]`.
pub async fn hold(out: Output, repo: &Path, id: &str, reason: &str) -> Result<(), String> {
    let repo = crate::repository::open(repo)
        .await
        .map_err(|e| e.to_string())?;
    let id = repo.resolve(id).await.map_err(|e| e.to_string())?;
    repo.hold(id, reason).await.map_err(|e| e.to_string())?;
    crate::print_done(out, &format!("Snapshot {id} is under legal hold."));
    Ok(())
}

/// `butterfly snapshots release ID --repo DIR`.
pub async fn release(out: Output, repo: &Path, id: &str) -> Result<(), String> {
    let repo = crate::repository::open(repo)
        .await
        .map_err(|e| e.to_string())?;
    let id = repo.resolve(id).await.map_err(|e| e.to_string())?;
    let was_held = repo
        .release(id)
        .await
        .map_err(|e: SnapshotError| e.to_string())?;
    let message = if was_held {
        format!("Released the legal hold on snapshot {id}.")
    } else {
        format!("Snapshot {id} was not under legal hold.")
    };
    crate::print_done(out, &message);
    Ok(())
}

/// Server mode: `butterfly retention show`.
pub async fn server_show(
    client: &crate::client::ApiClient,
    out: Output,
) -> Result<(), crate::client::CliError> {
    let shown = client.get("retention").await?;
    match out {
        Output::Json => print_json(&shown),
        Output::Table | Output::Markdown => {
            let describe = |policy: &Value| -> String {
                serde_json::from_value::<RetentionPolicy>(policy.clone())
                    .map_or_else(|_| policy.to_string(), |p| p.to_string())
            };
            match shown.pointer("/team/policy") {
                Some(policy) => println!("team: {}", describe(policy)),
                None => println!("team: keep everything (no policy)"),
            }
            for c in shown["connections"].as_array().into_iter().flatten() {
                println!(
                    "connection {}: {}",
                    c["connection"].as_str().unwrap_or_default(),
                    describe(&c["policy"])
                );
            }
        }
    }
    Ok(())
}

/// Server mode: `butterfly retention set [--connection C] --keep-... | --preset P | --clear`.
pub async fn server_set(
    client: &crate::client::ApiClient,
    out: Output,
    connection: Option<&str>,
    keep: &KeepFlags,
    clear: bool,
) -> Result<(), crate::client::CliError> {
    let connection = match connection {
        Some(reference) => Some(crate::server_mode::connection_id(client, reference).await?),
        None => None,
    };
    let body = if clear {
        json!({"connection": connection, "clear": true})
    } else {
        let policy = keep.policy().map_err(crate::client::CliError::Failed)?;
        json!({"connection": connection, "policy": policy})
    };
    let set = client.put("retention", &body).await?;
    crate::print_object(out, &set);
    Ok(())
}

/// Server mode: `butterfly snapshots delete|hold|release ID`, `butterfly prune`.
pub async fn server_snapshot_action(
    client: &crate::client::ApiClient,
    out: Output,
    action: &str,
    id: &str,
    reason: &str,
) -> Result<(), crate::client::CliError> {
    match action {
        "delete" => {
            client.delete(&format!("snapshots/{id}")).await?;
            crate::print_done(
                out,
                &format!("Deleted snapshot {id}; its data stays until `butterfly prune`."),
            );
        }
        "hold" => {
            client
                .put(&format!("snapshots/{id}/hold"), &json!({"reason": reason}))
                .await?;
            crate::print_done(out, &format!("Snapshot {id} is under legal hold."));
        }
        _ => {
            client.delete(&format!("snapshots/{id}/hold")).await?;
            crate::print_done(out, &format!("Released the legal hold on snapshot {id}."));
        }
    }
    Ok(())
}

/// Server mode: `butterfly prune [--dry-run]`.
pub async fn server_prune(
    client: &crate::client::ApiClient,
    out: Output,
    dry_run: bool,
) -> Result<(), crate::client::CliError> {
    let path = if dry_run {
        "prune?dry_run=true"
    } else {
        "prune"
    };
    let report = client.post(path, &json!({})).await?;
    match serde_json::from_value::<PruneReport>(report.clone()) {
        Ok(report) if out != Output::Json => print_prune_summary(&report),
        _ => print_json(&report),
    }
    Ok(())
}
