//! Server mode for backups: connections, backup jobs and snapshots through a
//! `butterfly-server`'s API.
//!
//! ```text
//! butterfly connections create --name okta-prod --org-url https://example.okta.com \
//!     --client-id 0oa... --private-key key.pem
//! butterfly connections test okta-prod
//! butterfly backup okta --connection okta-prod      # queue, wait, print the snapshot id
//! butterfly backups run okta-prod                   # queue, print the job id
//! butterfly backups show <job-id>
//! butterfly snapshots list
//! butterfly schedules set okta-prod daily --at 02:30 --time-zone Europe/Berlin
//! butterfly schedules list
//! butterfly schedules pause okta-prod
//! butterfly schedules resume okta-prod
//! ```
//!
//! Connections are named by id or by name.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::Output;
use crate::client::{ApiClient, CliError};
use crate::output::{
    Column, print_backup_outcome, print_json, print_records, print_snapshot, print_snapshots,
};

/// How often `--wait` asks for the job's state.
const POLL_EVERY: Duration = Duration::from_millis(500);

const CONNECTION_COLUMNS: &[Column] = &[
    Column::new("ID", "/id"),
    Column::new("NAME", "/name"),
    Column::new("PROVIDER", "/provider"),
    Column::new("ORG", "/org_url"),
    Column::new("CLIENT ID", "/client_id"),
    Column::new("SHARE", "/rate_limit_share"),
    Column::new("LAST TEST OK", "/last_test/ok"),
    Column::new("SCHEDULE", "/schedule"),
    Column::new("NEXT RUN", "/next_run_at"),
];

const SCHEDULE_COLUMNS: &[Column] = &[
    Column::new("CONNECTION", "/connection_name"),
    Column::new("SCHEDULE", "/description"),
    Column::new("STATE", "/state"),
    Column::new("NEXT RUN", "/next_run_at"),
    Column::new("FAILURES", "/consecutive_failures"),
    Column::new("PAUSED UNTIL", "/paused_until"),
    Column::new("WARNING", "/warning"),
];

/// How often a schedule runs, as `schedules set` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FrequencyArg {
    /// Every hour on the hour.
    Hourly,
    /// At 00:00, 06:00, 12:00 and 18:00.
    #[value(name = "every-6-hours", alias = "every-6h")]
    Every6Hours,
    /// Every day at `--at`.
    Daily,
    /// Every week on `--day` at `--at`.
    Weekly,
    /// When `--cron` matches.
    Cron,
}

/// The body of `PUT /connections/{id}/schedule`; the server checks it and says what is
/// wrong.
pub fn schedule_body(
    frequency: FrequencyArg,
    at: Option<String>,
    day: Option<String>,
    cron: Option<String>,
    time_zone: &str,
) -> Value {
    let frequency = match frequency {
        FrequencyArg::Hourly => "hourly",
        FrequencyArg::Every6Hours => "every_6_hours",
        FrequencyArg::Daily => "daily",
        FrequencyArg::Weekly => "weekly",
        FrequencyArg::Cron => "cron",
    };
    let mut body = json!({"frequency": frequency, "time_zone": time_zone});
    for (key, value) in [("at", at), ("day", day), ("cron", cron)] {
        if let Some(value) = value {
            body[key] = json!(value);
        }
    }
    body
}

/// `schedules list`.
pub async fn list_schedules(client: &ApiClient, out: Output) -> Result<(), CliError> {
    print_records(out, &client.get("schedules").await?, SCHEDULE_COLUMNS);
    Ok(())
}

/// `schedules set`.
pub async fn set_schedule(
    client: &ApiClient,
    out: Output,
    reference: &str,
    spec: &Value,
) -> Result<(), CliError> {
    let id = connection_id(client, reference).await?;
    let saved = client
        .put(&format!("connections/{id}/schedule"), spec)
        .await?;
    print_records(out, &Value::Array(vec![saved]), SCHEDULE_COLUMNS);
    Ok(())
}

/// `schedules pause` and `schedules resume`.
pub async fn pause_schedule(
    client: &ApiClient,
    out: Output,
    reference: &str,
    pause: bool,
) -> Result<(), CliError> {
    let id = connection_id(client, reference).await?;
    let action = if pause { "pause" } else { "resume" };
    let schedule = client
        .post(&format!("connections/{id}/schedule/{action}"), &json!({}))
        .await?;
    print_records(out, &Value::Array(vec![schedule]), SCHEDULE_COLUMNS);
    Ok(())
}

const JOB_COLUMNS: &[Column] = &[
    Column::new("ID", "/id"),
    Column::new("CONNECTION", "/connection_id"),
    Column::new("STATUS", "/status"),
    Column::new("ATTEMPTS", "/attempts"),
    Column::new("RESOURCES", "/progress/resources"),
    Column::new("SNAPSHOT", "/outcome/snapshot/id"),
    Column::new("ERROR", "/outcome/error"),
];

/// Flags of `butterfly connections create`.
#[derive(Debug)]
pub struct NewConnection {
    pub name: String,
    pub org_url: String,
    pub client_id: String,
    pub private_key: PathBuf,
    pub key_id: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub rate_limit_share: Option<f64>,
}

/// The id of the connection `reference` names: an id as is, otherwise a name looked up.
pub(crate) async fn connection_id(client: &ApiClient, reference: &str) -> Result<String, CliError> {
    if uuid::Uuid::parse_str(reference).is_ok() {
        return Ok(reference.to_owned());
    }
    let listed = client.get("connections").await?;
    listed
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == reference)
        .and_then(|c| c["id"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| CliError::NotFound(format!("no connection named `{reference}`")))
}

/// `connections create`.
pub async fn create_connection(
    client: &ApiClient,
    out: Output,
    args: NewConnection,
) -> Result<(), CliError> {
    let pem = std::fs::read_to_string(&args.private_key).map_err(|source| CliError::ReadFile {
        path: args.private_key.clone(),
        source,
    })?;
    let mut body = json!({
        "name": args.name,
        "provider": butterfly_core::ProviderKind::Okta,
        "org_url": args.org_url,
        "client_id": args.client_id,
        "private_key": pem,
    });
    if let Some(key_id) = args.key_id {
        body["key_id"] = json!(key_id);
    }
    if let Some(scopes) = args.scopes {
        body["scopes"] = json!(scopes);
    }
    if let Some(share) = args.rate_limit_share {
        body["rate_limit_share"] = json!(share);
    }
    let created = client.post("connections", &body).await?;
    print_records(out, &Value::Array(vec![created]), CONNECTION_COLUMNS);
    Ok(())
}

/// `connections list`.
pub async fn list_connections(client: &ApiClient, out: Output) -> Result<(), CliError> {
    print_records(out, &client.get("connections").await?, CONNECTION_COLUMNS);
    Ok(())
}

/// `connections show`.
pub async fn show_connection(
    client: &ApiClient,
    out: Output,
    reference: &str,
) -> Result<(), CliError> {
    let id = connection_id(client, reference).await?;
    crate::print_object(out, &client.get(&format!("connections/{id}")).await?);
    Ok(())
}

/// `connections test`: exit status 1 when the test fails.
pub async fn test_connection(
    client: &ApiClient,
    out: Output,
    reference: &str,
) -> Result<(), CliError> {
    let id = connection_id(client, reference).await?;
    let outcome = client
        .post(&format!("connections/{id}/test"), &json!({}))
        .await?;
    crate::print_object(out, &outcome);
    if outcome["ok"] == true {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "connection test failed: {}",
            outcome["error"].as_str().unwrap_or("unknown reason")
        )))
    }
}

/// `connections delete`.
pub async fn delete_connection(
    client: &ApiClient,
    out: Output,
    reference: &str,
) -> Result<(), CliError> {
    let id = connection_id(client, reference).await?;
    client.delete(&format!("connections/{id}")).await?;
    crate::print_done(out, &format!("deleted connection {id}"));
    Ok(())
}

/// `backups run` (and `backup okta --connection`): queue a backup; with `wait`, follow
/// it to the end and print the snapshot id last, as local mode does; without, print
/// the job id last.
pub async fn run_backup(
    client: &ApiClient,
    out: Output,
    reference: &str,
    wait: bool,
) -> Result<(), CliError> {
    let id = connection_id(client, reference).await?;
    let job = client
        .post("backups", &json!({"connection_id": id}))
        .await?;
    let job_id = job["id"].as_str().unwrap_or_default().to_owned();
    if !wait {
        match out {
            Output::Json => print_json(&job),
            Output::Table | Output::Markdown => eprintln!("queued backup job {job_id}"),
        }
        println!("{job_id}");
        return Ok(());
    }
    let job = follow(client, &job_id).await?;
    let outcome = &job["outcome"];
    match out {
        Output::Json => println!("{job}"),
        Output::Table | Output::Markdown => match outcome["error"].as_str() {
            Some(error) => eprintln!("backup job {job_id} failed: {error}"),
            // The job's outcome is the same `BackupOutcome` local mode prints.
            None => print_backup_outcome(out, outcome),
        },
    }
    if let Some(snapshot) = outcome["snapshot"]["id"].as_str() {
        println!("{snapshot}");
    }
    if job["status"] == "succeeded" {
        Ok(())
    } else {
        Err(CliError::Failed(format!("backup job {job_id} failed")))
    }
}

/// Poll a job until it finishes, showing its progress on stderr.
async fn follow(client: &ApiClient, job_id: &str) -> Result<Value, CliError> {
    let started = Instant::now();
    let spinner = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let mut last_line = String::new();
    loop {
        let job = client.get(&format!("backups/{job_id}")).await?;
        let status = job["status"].as_str().unwrap_or_default();
        let progress = &job["progress"];
        let line = format!(
            "{status}: {} resources, {} kinds done, {} skipped, {} failed",
            progress["resources"].as_u64().unwrap_or(0),
            progress["kinds_done"].as_u64().unwrap_or(0),
            progress["kinds_skipped"].as_u64().unwrap_or(0),
            progress["kinds_failed"].as_u64().unwrap_or(0),
        );
        match &spinner {
            Some(bar) => bar.set_message(line.clone()),
            None if line != last_line => {
                eprintln!("[{:>7.1}s] {line}", started.elapsed().as_secs_f64());
            }
            None => {}
        }
        last_line = line;
        if status == "succeeded" || status == "failed" {
            if let Some(bar) = spinner {
                bar.finish_and_clear();
            }
            return Ok(job);
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// `backups list`.
pub async fn list_backups(client: &ApiClient, out: Output) -> Result<(), CliError> {
    print_records(out, &client.get("backups").await?, JOB_COLUMNS);
    Ok(())
}

/// `backups show`.
pub async fn show_backup(client: &ApiClient, out: Output, id: &str) -> Result<(), CliError> {
    crate::print_object(out, &client.get(&format!("backups/{id}")).await?);
    Ok(())
}

/// `snapshots list` without `--repo`.
pub async fn list_snapshots(client: &ApiClient, out: Output) -> Result<(), CliError> {
    print_snapshots(out, &client.get("snapshots").await?);
    Ok(())
}

/// `snapshots show ID` (or an unambiguous prefix of it) without `--repo`.
pub async fn show_snapshot(client: &ApiClient, out: Output, id: &str) -> Result<(), CliError> {
    print_snapshot(out, &client.get(&format!("snapshots/{id}")).await?);
    Ok(())
}
