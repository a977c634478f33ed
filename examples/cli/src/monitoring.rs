//! Server mode: `butterfly status` (connection health and storage on one screen) and
//! `butterfly notifications` (the team's webhook and e-mail channels).
//!
//! ```text
//! butterfly status                       # every connection, storage, jobs in progress
//! butterfly status okta-prod             # one connection
//! butterfly notifications add-webhook --name ops --url https://hooks.example.com/bf
//! butterfly notifications add-email --name oncall --smtp-host smtp.example.com \
//!     --from butterfly@example.com --to oncall@example.com --username bf
//! butterfly notifications test ops
//! ```

use serde_json::{Value, json};

use crate::Output;
use crate::client::{ApiClient, CliError};
use crate::output::{Column, print_json, print_records};

const HEALTH_COLUMNS: &[Column] = &[
    Column::new("CONNECTION", "/name"),
    Column::new("STATE", "/state"),
    Column::new("LAST SUCCESS", "/last_success_at"),
    Column::new("FRESHNESS", "/freshness"),
    Column::new("FAILURES", "/consecutive_failures"),
    Column::new("RUNNING", "/backup_in_progress"),
    Column::new("ERROR CODE", "/last_error/trouble/code"),
    Column::new("FIX", "/last_error/trouble/fixes/0"),
];

const CHANNEL_COLUMNS: &[Column] = &[
    Column::new("ID", "/id"),
    Column::new("NAME", "/name"),
    Column::new("KIND", "/kind"),
    Column::new("EVENTS", "/events"),
    Column::new("SECRET SET", "/secret_set"),
];

/// Bytes as a person reads them.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `butterfly status [CONNECTION]`.
pub async fn status(
    client: &ApiClient,
    out: Output,
    connection: Option<&str>,
) -> Result<(), CliError> {
    let mut status = client.get("status").await?;
    if let Some(reference) = connection {
        let connections = status["connections"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let one = connections
            .into_iter()
            .find(|c| c["name"] == reference || c["connection_id"] == reference)
            .ok_or_else(|| CliError::NotFound(format!("no connection named `{reference}`")))?;
        status["connections"] = json!([one]);
    }
    if out == Output::Json {
        print_json(&status);
        return Ok(());
    }
    let storage = match (
        status.pointer("/storage/bytes").and_then(Value::as_u64),
        status.pointer("/storage/snapshots").and_then(Value::as_u64),
    ) {
        (Some(bytes), Some(snapshots)) => {
            format!("{} in {snapshots} snapshot(s)", human_bytes(bytes))
        }
        _ => "unknown (the repository could not be read)".to_owned(),
    };
    println!(
        "Team {}: storage {storage}; backup jobs in progress: {}",
        status["team"].as_str().unwrap_or_default(),
        status["jobs_in_progress"]
    );
    print_records(out, &status["connections"], HEALTH_COLUMNS);
    // Each failing connection: its error and every fix the troubleshooting table gives.
    for c in status["connections"].as_array().into_iter().flatten() {
        let error = &c["last_error"];
        if error.is_null() {
            continue;
        }
        println!();
        println!(
            "{} — {} ({}): {}",
            c["name"].as_str().unwrap_or_default(),
            error["trouble"]["title"].as_str().unwrap_or_default(),
            error["trouble"]["code"].as_str().unwrap_or_default(),
            error["message"].as_str().unwrap_or_default()
        );
        for fix in error["trouble"]["fixes"].as_array().into_iter().flatten() {
            println!("  → {}", fix.as_str().unwrap_or_default());
        }
    }
    Ok(())
}

async fn channel_id(client: &ApiClient, reference: &str) -> Result<String, CliError> {
    if uuid::Uuid::parse_str(reference).is_ok() {
        return Ok(reference.to_owned());
    }
    client
        .get("notifications")
        .await?
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == reference)
        .and_then(|c| c["id"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| CliError::NotFound(format!("no notification channel named `{reference}`")))
}

/// `notifications list`.
pub async fn list_channels(client: &ApiClient, out: Output) -> Result<(), CliError> {
    print_records(out, &client.get("notifications").await?, CHANNEL_COLUMNS);
    Ok(())
}

/// `notifications add-webhook` / `add-email`: create, print the channel (and a
/// generated webhook secret, once).
pub async fn add_channel(client: &ApiClient, out: Output, body: &Value) -> Result<(), CliError> {
    let created = client.post("notifications", body).await?;
    crate::print_object(out, &created);
    if out != Output::Json && created.get("secret").is_some() {
        eprintln!(
            "The webhook secret is shown only now; give it to the receiver to check signatures."
        );
    }
    Ok(())
}

/// `notifications remove`.
pub async fn remove_channel(client: &ApiClient, reference: &str) -> Result<(), CliError> {
    let id = channel_id(client, reference).await?;
    client.delete(&format!("notifications/{id}")).await?;
    Ok(())
}

/// `notifications test`: send a sample event now.
pub async fn test_channel(
    client: &ApiClient,
    out: Output,
    reference: &str,
) -> Result<(), CliError> {
    let id = channel_id(client, reference).await?;
    let delivery = client
        .post(&format!("notifications/{id}/test"), &json!({}))
        .await?;
    crate::print_object(out, &delivery);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_as_people_expect() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
    }
}
