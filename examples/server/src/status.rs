//! Connection health: the last success, the last error with its Okta error code and the
//! fix the product's troubleshooting table gives, how fresh the last backup is against
//! the interval backups are expected at, and the storage each team uses.
//!
//! Health is computed from the backup jobs the server already records (their outcomes
//! hold the snapshot or the error), so it needs no table of its own and every replica
//! sees the same. [`connection_health`] is a pure function of those jobs, the expected
//! interval and the time, so it is tested without a server.

use std::time::Duration;

use butterfly_core::store::{BackupConnection, Job, JobStatus};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// One row of the product's troubleshooting table: a symptom, its likely causes and the
/// fixes, in the product's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Trouble {
    /// The error code or symptom as the table names it (`invalid_client`, `403`).
    pub code: &'static str,
    /// The table's title for it.
    pub title: &'static str,
    /// Possible causes.
    pub causes: &'static [&'static str],
    /// What to do.
    pub fixes: &'static [&'static str],
}

/// The troubleshooting table of the product documentation (connection, authentication
/// and backup issues), as data. Order matters: [`diagnose`] takes the first row whose
/// code the error names, so the precise OAuth codes come before the broad symptoms.
pub const TROUBLESHOOTING: &[Trouble] = &[
    Trouble {
        code: "invalid_client",
        title: "Invalid OAuth Client",
        causes: &[
            "Client ID is incorrect or doesn't exist",
            "The OAuth app was deleted or disabled",
            "Public key doesn't match the private key you're using",
        ],
        fixes: &[
            "Verify the Client ID matches exactly (copy/paste from Okta)",
            "Check that the OAuth app is active in Okta Admin Console",
            "Regenerate a new key pair and update both Okta and Butterfly",
        ],
    },
    Trouble {
        code: "invalid_grant",
        title: "Invalid Grant / Key Mismatch",
        causes: &[
            "Private key doesn't match the public key in Okta",
            "Key ID (kid) is specified but doesn't match",
            "Clock skew between your server and Okta",
        ],
        fixes: &[
            "Regenerate a new key pair in Okta and download the private key again",
            "If you have multiple keys, specify the correct Key ID (kid)",
            "Ensure your server's clock is synchronized (NTP)",
        ],
    },
    Trouble {
        code: "invalid_scope",
        title: "No Scopes Granted",
        causes: &[
            "No API scopes have been granted to the OAuth app",
            "The requested scopes don't match what's granted",
        ],
        fixes: &[
            "Go to your OAuth app in Okta → Okta API Scopes tab",
            "Grant at least the basic read scopes (okta.users.read, okta.groups.read, etc.)",
            "See the API Scopes section for the complete list",
        ],
    },
    Trouble {
        code: "403",
        title: "Access Denied",
        causes: &[
            "OAuth app doesn't have an admin role assigned",
            "The admin role doesn't have access to the requested resource",
            "Resource requires a feature that isn't enabled",
        ],
        fixes: &[
            "Go to your OAuth app → Admin roles tab → Assign Super Admin or Org Admin",
            "For specific resources, ensure the admin role has the necessary permissions",
            "Some resources (Realms, Device Assurance) require specific Okta features to be enabled",
        ],
    },
    Trouble {
        code: "rate_limit",
        title: "API Rate Limiting",
        causes: &[
            "Backup running simultaneously with other API activity",
            "Rate limit capacity set too low",
            "Multiple backup jobs running at once",
        ],
        fixes: &[
            "Wait and retry—rate limits reset every minute",
            "Increase Application Rate Limits to 100%",
            "Avoid running multiple backups of the same org simultaneously",
        ],
    },
    Trouble {
        code: "timeout",
        title: "Network/Timeout Issues",
        causes: &[
            "Network connectivity issues",
            "Okta org URL is incorrect",
            "Firewall blocking outbound connections",
        ],
        fixes: &[
            "Verify the Okta org URL is correct and accessible",
            "Check if you're using the correct domain (oktapreview.com for preview orgs)",
            "Ensure your firewall allows HTTPS connections to Okta",
        ],
    },
    Trouble {
        code: "backup_failed",
        title: "Generic Backup Failure",
        causes: &[
            "OAuth token expired mid-backup",
            "Okta service interruption",
            "Network connectivity issues",
        ],
        fixes: &[
            "Check Okta status page (status.okta.com) for any ongoing incidents",
            "Retry the backup after a few minutes",
            "If persistent, check the error message for specific details",
        ],
    },
];

/// The troubleshooting row for an error message: the OAuth error code it names
/// (`invalid_client`, `invalid_grant`, `invalid_scope`), a `403`, a rate limit (`429`),
/// a timeout or unreachable org, and otherwise the generic backup failure.
pub fn diagnose(error: &str) -> &'static Trouble {
    let lower = error.to_ascii_lowercase();
    let code = if lower.contains("invalid_client") {
        "invalid_client"
    } else if lower.contains("invalid_grant") {
        "invalid_grant"
    } else if lower.contains("invalid_scope") || lower.contains("scopes were refused") {
        "invalid_scope"
    } else if lower.contains("403") || lower.contains("forbidden") {
        "403"
    } else if lower.contains("429") || lower.contains("rate limit") {
        "rate_limit"
    } else if lower.contains("timed out")
        || lower.contains("timeout")
        || lower.contains("connection refused")
        || lower.contains("error sending request")
        || lower.contains("dns")
    {
        "timeout"
    } else {
        "backup_failed"
    };
    TROUBLESHOOTING
        .iter()
        .find(|t| t.code == code)
        .unwrap_or(&TROUBLESHOOTING[TROUBLESHOOTING.len() - 1])
}

/// How fresh a connection's backups are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Freshness {
    /// The last success is within the expected interval (with a grace of one tenth).
    Fresh,
    /// The last success is older than the expected interval allows.
    Stale,
    /// Backups are expected, and none ever succeeded.
    Never,
    /// No interval is expected (no schedule), so freshness cannot be judged.
    Unknown,
}

/// The last failed backup of a connection.
#[derive(Debug, Clone, Serialize)]
pub struct LastError {
    /// When it ended.
    #[serde(with = "butterfly_core::rfc3339")]
    pub at: DateTime<Utc>,
    /// The job.
    pub job_id: Uuid,
    /// The error as the job recorded it.
    pub message: String,
    /// The troubleshooting row it matches: `code`, `title`, `causes`, `fixes`.
    pub trouble: &'static Trouble,
}

/// One connection's health.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionHealth {
    /// The connection.
    pub connection_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its org.
    pub org_url: String,
    /// When its last successful backup ended.
    #[serde(with = "butterfly_core::rfc3339::option")]
    pub last_success_at: Option<DateTime<Utc>>,
    /// That backup's snapshot.
    pub last_snapshot_id: Option<String>,
    /// The last failure, when it is newer than the last success.
    pub last_error: Option<LastError>,
    /// Failed backups since the last success.
    pub consecutive_failures: u32,
    /// Whether a backup of it is queued or running now.
    pub backup_in_progress: bool,
    /// The interval backups are expected at, in seconds (from its schedule); `null`
    /// when none.
    pub expected_interval_seconds: Option<u64>,
    /// The last success judged against that interval.
    pub freshness: Freshness,
    /// Seconds since the last success.
    pub age_seconds: Option<u64>,
    /// `healthy`, `failing`, `stale` or `unknown`: one word for a dashboard.
    pub state: &'static str,
}

fn connection_of(job: &Job) -> Option<Uuid> {
    job.payload
        .get("connection_id")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
}

/// The error a failed job recorded.
pub fn job_error(job: &Job) -> String {
    let outcome = job.outcome.as_ref();
    if let Some(error) = outcome.and_then(|o| o.get("error")).and_then(Value::as_str) {
        return error.to_owned();
    }
    // A backup that ran but whose kinds failed: its snapshot's warnings say why.
    let warnings: Vec<&str> = outcome
        .and_then(|o| o.pointer("/snapshot/warnings"))
        .and_then(Value::as_array)
        .map(|w| w.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if warnings.is_empty() {
        "the backup failed".to_owned()
    } else {
        warnings.join("; ")
    }
}

/// The health of `connection` from its team's backup jobs (any order, any
/// connection's: others are ignored), judged at `now` against `expected_interval`.
pub fn connection_health(
    connection: &BackupConnection,
    jobs: &[Job],
    expected_interval: Option<Duration>,
    now: DateTime<Utc>,
) -> ConnectionHealth {
    let mut mine: Vec<&Job> = jobs
        .iter()
        .filter(|j| connection_of(j) == Some(connection.id))
        .collect();
    // Newest first by end (or creation, for unfinished jobs).
    mine.sort_by_key(|j| std::cmp::Reverse(j.finished_at.unwrap_or(j.created_at)));
    let backup_in_progress = mine
        .iter()
        .any(|j| matches!(j.status, JobStatus::Queued | JobStatus::Running));
    let last_success = mine
        .iter()
        .find(|j| j.status == JobStatus::Succeeded)
        .copied();
    let last_success_at = last_success.and_then(|j| j.finished_at);
    let last_snapshot_id = last_success
        .and_then(|j| j.outcome.as_ref())
        .and_then(|o| o.pointer("/snapshot/id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let failures_since: Vec<&&Job> = mine
        .iter()
        .filter(|j| j.status == JobStatus::Failed)
        .filter(|j| match (j.finished_at, last_success_at) {
            (Some(f), Some(s)) => f > s,
            (_, None) => true,
            (None, Some(_)) => false,
        })
        .collect();
    let last_error = failures_since.first().map(|j| {
        let message = job_error(j);
        LastError {
            at: j.finished_at.unwrap_or(j.created_at),
            job_id: j.id,
            trouble: diagnose(&message),
            message,
        }
    });
    let age = last_success_at.map(|at| (now - at).to_std().unwrap_or(Duration::ZERO));
    let freshness = match (expected_interval, age) {
        (None, _) => Freshness::Unknown,
        (Some(_), None) => Freshness::Never,
        // A tenth of grace: a run that starts on time still takes a while to finish.
        (Some(interval), Some(age)) if age <= interval + interval / 10 => Freshness::Fresh,
        (Some(_), Some(_)) => Freshness::Stale,
    };
    let state = if last_error.is_some() {
        "failing"
    } else if matches!(freshness, Freshness::Stale | Freshness::Never) {
        "stale"
    } else if last_success_at.is_some() {
        "healthy"
    } else {
        "unknown"
    };
    ConnectionHealth {
        connection_id: connection.id,
        name: connection.name.clone(),
        org_url: connection.org_url.clone(),
        last_success_at,
        last_snapshot_id,
        consecutive_failures: u32::try_from(failures_since.len()).unwrap_or(u32::MAX),
        last_error,
        backup_in_progress,
        expected_interval_seconds: expected_interval.map(|d| d.as_secs()),
        freshness,
        age_seconds: age.map(|a| a.as_secs()),
        state,
    }
}

/// Storage a team's snapshot repository uses.
#[derive(Debug, Clone, Serialize)]
pub struct Storage {
    /// Bytes in its packs, indexes and manifests.
    pub bytes: u64,
    /// Snapshots it holds.
    pub snapshots: usize,
}

/// `GET /api/v1/status`: the team's connections' health and its storage.
#[derive(Debug, Clone, Serialize)]
pub struct TeamStatus {
    /// The team's name.
    pub team: String,
    /// When this was computed.
    #[serde(with = "butterfly_core::rfc3339")]
    pub at: DateTime<Utc>,
    /// Each connection, by name.
    pub connections: Vec<ConnectionHealth>,
    /// Its repository's size; `null` when it could not be read (see the log).
    pub storage: Option<Storage>,
    /// Backup jobs queued or running.
    pub jobs_in_progress: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use butterfly_core::TeamId;
    use chrono::TimeZone;
    use serde_json::json;

    fn connection() -> BackupConnection {
        BackupConnection {
            id: Uuid::from_u128(7),
            team_id: TeamId::from_uuid(Uuid::from_u128(1)),
            name: "okta-prod".into(),
            provider: "okta".into(),
            org_url: "https://acme.okta.com".into(),
            client_id: "0oa1".into(),
            key_id: None,
            private_key_sealed: Vec::new(),
            scopes: None,
            rate_limit_percent: 50,
            created_at: Utc.timestamp_opt(0, 0).unwrap(),
            last_test: None,
        }
    }

    fn job(n: u128, connection: Uuid, status: JobStatus, hour: u32, outcome: Value) -> Job {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, hour, 0, 0).unwrap();
        Job {
            id: Uuid::from_u128(n),
            team_id: TeamId::from_uuid(Uuid::from_u128(1)),
            kind: "backup.okta".into(),
            payload: json!({"connection_id": connection.to_string()}),
            status,
            run_at: at,
            attempts: 1,
            claimed_by: None,
            outcome: Some(outcome),
            progress: None,
            created_at: at,
            finished_at: Some(at),
        }
    }

    #[test]
    fn the_table_names_the_okta_code_and_the_fix() {
        let t = diagnose(
            "backup failed: authentication failed: the token endpoint answered 401 Unauthorized invalid_client: the client id or private key is wrong",
        );
        assert_eq!(t.code, "invalid_client");
        assert!(t.fixes[0].contains("Client ID"));
        assert_eq!(diagnose("answered 400 invalid_grant").code, "invalid_grant");
        assert_eq!(
            diagnose("signed in, but listing users answered 403 Forbidden").code,
            "403"
        );
        assert_eq!(diagnose("operation timed out").code, "timeout");
        assert_eq!(diagnose("disk full").code, "backup_failed");
        // Every row is reachable and documented.
        for row in TROUBLESHOOTING {
            assert!(!row.causes.is_empty() && !row.fixes.is_empty(), "{row:?}");
        }
    }

    #[test]
    fn health_follows_the_jobs_of_its_connection() {
        let c = connection();
        let other = Uuid::from_u128(99);
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let jobs = vec![
            job(
                1,
                c.id,
                JobStatus::Succeeded,
                8,
                json!({"snapshot": {"id": "s1"}}),
            ),
            job(
                2,
                c.id,
                JobStatus::Failed,
                9,
                json!({"error": "answered 401 invalid_client: x"}),
            ),
            job(
                3,
                c.id,
                JobStatus::Failed,
                10,
                json!({"error": "operation timed out"}),
            ),
            job(
                4,
                other,
                JobStatus::Succeeded,
                11,
                json!({"snapshot": {"id": "s9"}}),
            ),
        ];
        let h = connection_health(&c, &jobs, Some(Duration::from_secs(3600)), now);
        assert_eq!(h.last_snapshot_id.as_deref(), Some("s1"));
        assert_eq!(h.consecutive_failures, 2);
        let error = h.last_error.as_ref().unwrap();
        assert_eq!(error.job_id, Uuid::from_u128(3));
        assert_eq!(error.trouble.code, "timeout");
        assert_eq!(h.freshness, Freshness::Stale);
        assert_eq!(h.age_seconds, Some(4 * 3600));
        assert_eq!(h.state, "failing");

        // A newer success clears the error; within the interval it is fresh.
        let mut jobs = jobs;
        jobs.push(job(
            5,
            c.id,
            JobStatus::Succeeded,
            11,
            json!({"snapshot": {"id": "s2"}}),
        ));
        let h = connection_health(&c, &jobs, Some(Duration::from_secs(3600)), now);
        assert!(h.last_error.is_none());
        assert_eq!(h.consecutive_failures, 0);
        assert_eq!(h.freshness, Freshness::Fresh);
        assert_eq!(h.state, "healthy");
        // With no expected interval, freshness is not judged.
        let h = connection_health(&c, &jobs, None, now);
        assert_eq!(h.freshness, Freshness::Unknown);
        // Expected but never succeeded.
        let h = connection_health(&c, &[], Some(Duration::from_secs(60)), now);
        assert_eq!((h.freshness, h.state), (Freshness::Never, "stale"));
    }
}
