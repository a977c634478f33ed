//! Restores, syncs and undos on the server (`butterfly restores ...`): the server's
//! counterpart of the local `butterfly restore` and `butterfly sync`, writing through a
//! stored connection.
//!
//! ```text
//! butterfly restores plan okta-prod --snapshot 3f2a --kind group   # zero writes
//! butterfly restores run okta-prod --plan-fingerprint 9c1e...      # exactly that plan
//! butterfly restores sync okta-prod --snapshot 3f2a --vars prod.env --dry-run
//! butterfly restores list
//! butterfly restores undo 7d0e
//! ```

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::Output;
use crate::client::{ApiClient, CliError};
use crate::output::{Column, print_records};
use crate::server_mode::connection_id;

const RESTORE_COLUMNS: &[Column] = &[
    Column::new("ID", "/id"),
    Column::new("KIND", "/kind"),
    Column::new("CONNECTION", "/connection_id"),
    Column::new("STATUS", "/status"),
    Column::new("DRY RUN", "/dry_run"),
    Column::new("CREATE", "/counts/create"),
    Column::new("UPDATE", "/counts/update"),
    Column::new("DELETE", "/counts/delete"),
    Column::new("SKIP", "/counts/skip"),
    Column::new("ERROR", "/error"),
];

const PLAN_COLUMNS: &[Column] = &[
    Column::new("ACTION", "/action"),
    Column::new("KIND", "/kind"),
    Column::new("ID", "/id"),
    Column::new("NAME", "/name"),
    Column::new("REASON", "/reason"),
];

/// What to restore: the flags `restores plan` and `restores run` share.
#[derive(Debug, Default, clap::Args)]
pub struct Selection {
    /// The snapshot: an id or a unique prefix (at least 4 characters).
    #[arg(long)]
    pub snapshot: Option<String>,
    /// Only this kind (repeat for several).
    #[arg(long = "kind")]
    pub kinds: Vec<String>,
    /// Only the resource with this snapshot id (repeat for several).
    #[arg(long = "id")]
    pub ids: Vec<String>,
    /// Update resources that exist but differ (skipped otherwise).
    #[arg(long)]
    pub overwrite: bool,
    /// Delete resources the org has and the snapshot does not (never users).
    #[arg(long)]
    pub delete_extra: bool,
}

impl Selection {
    /// The body fields the server's `RestorePlanRequestBody` and `RestoreRequestBody`
    /// share; empty lists and `false` are left out so the server's defaults apply.
    fn body(&self) -> Value {
        let mut body = json!({});
        if let Some(snapshot) = &self.snapshot {
            body["snapshot"] = json!(snapshot);
        }
        if !self.kinds.is_empty() {
            body["kinds"] = json!(self.kinds);
        }
        if !self.ids.is_empty() {
            body["ids"] = json!(self.ids);
        }
        if self.overwrite {
            body["overwrite"] = json!(true);
        }
        if self.delete_extra {
            body["delete_extra"] = json!(true);
        }
        body
    }

    fn is_empty(&self) -> bool {
        self.snapshot.is_none()
            && self.kinds.is_empty()
            && self.ids.is_empty()
            && !self.overwrite
            && !self.delete_extra
    }
}

/// `restores list`.
pub async fn list(client: &ApiClient, out: Output) -> Result<(), CliError> {
    print_records(out, &client.get("restores").await?, RESTORE_COLUMNS);
    Ok(())
}

/// `restores show ID`: the job with its plan (JSON shows all of it; the table, its
/// summary and follow-ups).
pub async fn show(client: &ApiClient, out: Output, id: &str) -> Result<(), CliError> {
    let job = client.get(&format!("restores/{id}")).await?;
    print_job(out, &job);
    Ok(())
}

/// `restores plan CONNECTION --snapshot S ...`: zero writes; prints the counts and the
/// fingerprint to hand to `restores run --plan-fingerprint`.
pub async fn plan(
    client: &ApiClient,
    out: Output,
    connection: &str,
    selection: &Selection,
) -> Result<(), CliError> {
    if selection.snapshot.is_none() {
        return Err(CliError::Failed(
            "restores plan needs --snapshot".to_owned(),
        ));
    }
    let id = connection_id(client, connection).await?;
    let planned = client
        .post(
            &format!("connections/{id}/restore-plans"),
            &selection.body(),
        )
        .await?;
    print_plan(out, &planned);
    Ok(())
}

/// `restores run CONNECTION (--snapshot S ... | --plan-fingerprint F) [--dry-run]`:
/// queues the job and prints it.
pub async fn run(
    client: &ApiClient,
    out: Output,
    connection: &str,
    selection: &Selection,
    plan_fingerprint: Option<String>,
    dry_run: bool,
) -> Result<(), CliError> {
    let mut body = match plan_fingerprint {
        // The reviewed plan says what to do; the server refuses the other flags with it.
        Some(fingerprint) if selection.is_empty() => json!({"plan_fingerprint": fingerprint}),
        Some(_) => {
            return Err(CliError::Failed(
                "--plan-fingerprint runs the reviewed plan as it is: leave out --snapshot, --kind, --id, --overwrite and --delete-extra".to_owned(),
            ));
        }
        None if selection.snapshot.is_none() => {
            return Err(CliError::Failed(
                "restores run needs --snapshot or --plan-fingerprint".to_owned(),
            ));
        }
        None => selection.body(),
    };
    if dry_run {
        body["dry_run"] = json!(true);
    }
    let id = connection_id(client, connection).await?;
    let job = client
        .post(&format!("connections/{id}/restores"), &body)
        .await?;
    print_job(out, &job);
    Ok(())
}

/// Flags of `restores sync`.
#[derive(Debug)]
pub struct SyncArgs {
    /// The target connection (id or name).
    pub target: String,
    /// The source org's snapshot.
    pub snapshot: String,
    /// The variables file, sent as its text (the server parses it as the CLI does).
    pub vars: Option<PathBuf>,
    /// Only these kinds.
    pub kinds: Vec<String>,
    /// Delete what the source does not have (never users).
    pub delete_extra: bool,
    /// Plan only.
    pub dry_run: bool,
}

/// `restores sync TARGET --snapshot S [--vars FILE] [--kind K] [--dry-run]`.
pub async fn sync(client: &ApiClient, out: Output, args: SyncArgs) -> Result<(), CliError> {
    let mut body = json!({"snapshot": args.snapshot});
    if let Some(path) = args.vars {
        let text =
            std::fs::read_to_string(&path).map_err(|source| CliError::ReadFile { path, source })?;
        body["vars"] = json!(text);
    }
    if !args.kinds.is_empty() {
        body["kinds"] = json!(args.kinds);
    }
    if args.delete_extra {
        body["delete_extra"] = json!(true);
    }
    if args.dry_run {
        body["dry_run"] = json!(true);
    }
    let id = connection_id(client, &args.target).await?;
    let job = client
        .post(&format!("connections/{id}/syncs"), &body)
        .await?;
    print_job(out, &job);
    Ok(())
}

/// `restores undo ID`: a job that takes a finished run back.
pub async fn undo(
    client: &ApiClient,
    out: Output,
    id: &str,
    dry_run: bool,
) -> Result<(), CliError> {
    let body = if dry_run {
        json!({"dry_run": true})
    } else {
        json!({})
    };
    let job = client.post(&format!("restores/{id}/undo"), &body).await?;
    print_job(out, &job);
    Ok(())
}

/// One job: JSON as the server sends it; for people, its row, then what must be done by
/// hand.
fn print_job(out: Output, job: &Value) {
    match out {
        Output::Json => crate::output::print_json(job),
        Output::Table | Output::Markdown => {
            crate::output::print_record(out, job, RESTORE_COLUMNS);
            if let Some(fingerprint) = job["counts"]["plan_fingerprint"].as_str() {
                println!("plan fingerprint: {fingerprint}");
            }
            for follow_up in job["follow_ups"].as_array().into_iter().flatten() {
                print_follow_up(follow_up);
            }
        }
    }
}

/// A plan (a serialized `RestorePlan`): JSON as it is; for people, one row per step and
/// skip, then the counts and the fingerprint to run it with.
fn print_plan(out: Output, plan: &Value) {
    if out == Output::Json {
        crate::output::print_json(plan);
        return;
    }
    let mut rows = Vec::new();
    for action in ["create", "update", "delete", "skip"] {
        for entry in plan[action].as_array().into_iter().flatten() {
            let mut row = entry.clone();
            row["action"] = json!(action);
            rows.push(row);
        }
    }
    print_records(out, &Value::Array(rows), PLAN_COLUMNS);
    let count = |action: &str| plan[action].as_array().map_or(0, Vec::len);
    println!(
        "snapshot {}: {} to create, {} to update, {} to delete, {} skipped",
        plan["snapshot_id"].as_str().unwrap_or_default(),
        count("create"),
        count("update"),
        count("delete"),
        count("skip"),
    );
    for follow_up in plan["follow_ups"].as_array().into_iter().flatten() {
        print_follow_up(follow_up);
    }
    if let Some(fingerprint) = plan["fingerprint"].as_str() {
        println!("plan fingerprint: {fingerprint}");
    }
}

fn print_follow_up(follow_up: &Value) {
    println!(
        "follow-up: {} ({} resources)",
        follow_up["what"].as_str().unwrap_or_default(),
        follow_up["count"].as_u64().unwrap_or(0)
    );
}
