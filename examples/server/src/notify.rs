//! Notifications: a failed backup, a paused schedule, drift of critical severity, sent
//! to each of the team's channels that asked for the event.
//!
//! Channels are configured under `manage integrations` (`/api/v1/notifications`,
//! `butterfly notifications`). Two kinds:
//!
//! - **webhook**: `POST` of the event as JSON, signed with HMAC-SHA256 under the
//!   channel's secret. Headers:
//!   - `X-Butterfly-Event`: the event name (`backup_failed`, ...);
//!   - `X-Butterfly-Delivery`: an id that stays the same across retries (deduplicate on it);
//!   - `X-Butterfly-Timestamp`: Unix seconds when the delivery was signed;
//!   - `X-Butterfly-Signature`: `v1=` and the lowercase hex HMAC-SHA256 of
//!     `<timestamp>.<body>`.
//!
//!   A receiver recomputes the HMAC over the timestamp, a `.` and the raw body, compares
//!   it in constant time, and refuses timestamps more than five minutes old (replays).
//!   A `5xx`, a `429` or no answer is retried with exponential backoff
//!   ([`NotifySettings`]); any other `4xx` is final.
//! - **email**: a plain-text message over SMTP (lettre on tokio), `none`, `starttls` or
//!   `tls` to the relay, with a login when a user name is set.
//!
//! Secrets (the webhook secret, the SMTP password) are sealed under the team's key like
//! connection keys, and never returned or logged. Delivery failures are logged and
//! returned in [`Delivery`], never raised to the job that caused the event: a backup
//! does not fail because a webhook is down.

use std::fmt;
use std::fmt::Write as _;
use std::time::Duration;

use butterfly_core::TeamId;
use butterfly_core::store::ConnectionStore;
use butterfly_store::sql::NotificationChannel;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

use crate::app::AppState;

/// Purpose label under which channel secrets are sealed.
pub const CHANNEL_SECRET_PURPOSE: &str = "notification-channel-secret";

/// Header naming the event.
pub const EVENT_HEADER: &str = "x-butterfly-event";
/// Header with the delivery id (the same on every retry).
pub const DELIVERY_HEADER: &str = "x-butterfly-delivery";
/// Header with the signing time (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-butterfly-timestamp";
/// Header with `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
pub const SIGNATURE_HEADER: &str = "x-butterfly-signature";

/// What happened, for the team to hear about.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A backup job failed.
    BackupFailed {
        /// The connection backed up.
        connection_id: Uuid,
        /// Its name.
        connection_name: String,
        /// The job.
        job_id: Uuid,
        /// The error the job recorded.
        error: String,
        /// The troubleshooting row it matches (`invalid_client`, `403`, ...).
        code: &'static str,
        /// What to do, from the troubleshooting table.
        fixes: &'static [&'static str],
    },
    /// A connection's schedule paused after consecutive failures.
    SchedulePaused {
        /// The connection.
        connection_id: Uuid,
        /// Its name.
        connection_name: String,
        /// Failed runs in a row.
        consecutive_failures: u32,
        /// When the schedule resumes by itself.
        #[serde(with = "butterfly_core::rfc3339")]
        paused_until: DateTime<Utc>,
    },
    /// A backup found changes of critical severity since the connection's previous one.
    CriticalDrift {
        /// The connection.
        connection_id: Uuid,
        /// Its name.
        connection_name: String,
        /// The previous snapshot.
        from_snapshot: String,
        /// The new snapshot.
        to_snapshot: String,
        /// Critical changes (resources added, removed or changed).
        critical_changes: u64,
        /// The first few, as `kind/id` (the full diff is
        /// `GET /api/v1/snapshots/{from}/diff/{to}?min_severity=critical`).
        examples: Vec<String>,
    },
}

impl Event {
    /// The event's wire name, as channels subscribe to it.
    pub fn name(&self) -> &'static str {
        match self {
            Event::BackupFailed { .. } => "backup_failed",
            Event::SchedulePaused { .. } => "schedule_paused",
            Event::CriticalDrift { .. } => "critical_drift",
        }
    }

    /// Every event name.
    pub const NAMES: [&'static str; 3] = ["backup_failed", "schedule_paused", "critical_drift"];

    fn subject(&self) -> String {
        match self {
            Event::BackupFailed {
                connection_name, ..
            } => format!("Butterfly: backup of {connection_name} failed"),
            Event::SchedulePaused {
                connection_name, ..
            } => format!("Butterfly: backups of {connection_name} are paused"),
            Event::CriticalDrift {
                connection_name,
                critical_changes,
                ..
            } => format!("Butterfly: {critical_changes} critical change(s) in {connection_name}"),
        }
    }

    fn text(&self) -> String {
        match self {
            Event::BackupFailed {
                error, code, fixes, ..
            } => {
                let mut text = format!("The backup failed: {error}\n\nTroubleshooting ({code}):\n");
                for fix in *fixes {
                    let _ = writeln!(text, "- {fix}");
                }
                text
            }
            Event::SchedulePaused {
                consecutive_failures,
                paused_until,
                ..
            } => format!(
                "After {consecutive_failures} failed runs in a row, the schedule is paused until {}. A successful manual backup or saving the schedule again resumes it.\n",
                butterfly_core::rfc3339::format(paused_until).unwrap_or_default()
            ),
            Event::CriticalDrift {
                from_snapshot,
                to_snapshot,
                examples,
                ..
            } => {
                let mut text = format!(
                    "Changes of critical severity from snapshot {from_snapshot} to {to_snapshot}:\n"
                );
                for e in examples {
                    let _ = writeln!(text, "- {e}");
                }
                text
            }
        }
    }
}

/// How deliveries are retried.
#[derive(Debug, Clone, Copy)]
pub struct NotifySettings {
    /// Webhook attempts in all (the first included).
    pub webhook_attempts: u32,
    /// Wait before the first retry; doubled each time.
    pub webhook_backoff: Duration,
    /// Per-attempt timeout of a webhook or an SMTP session.
    pub timeout: Duration,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            webhook_attempts: 5,
            webhook_backoff: Duration::from_secs(2),
            timeout: Duration::from_secs(15),
        }
    }
}

/// Sends notifications; one per server.
pub struct Notifier {
    settings: NotifySettings,
    http: reqwest::Client,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// A notifier retrying as `settings` say.
    pub fn new(settings: NotifySettings) -> Self {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            // A redirect could carry a signed event to a host nobody configured.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Notifier { settings, http }
    }
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier::new(NotifySettings::default())
    }
}

/// A webhook channel's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where events are posted (http or https).
    pub url: String,
}

/// How an SMTP session is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// TLS from the first byte (port 465).
    Tls,
    /// STARTTLS, required (port 587).
    Starttls,
    /// None: a relay on this machine or a private network only.
    None,
}

/// An e-mail channel's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The SMTP relay's host.
    pub smtp_host: String,
    /// Its port (default by `tls`: 465, 587, 25).
    #[serde(default)]
    pub smtp_port: Option<u16>,
    /// How the session is secured.
    pub tls: SmtpTls,
    /// The login, when the relay wants one (the password is the channel's secret).
    #[serde(default)]
    pub username: Option<String>,
    /// The sender.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
}

/// Errors configuring or delivering to a channel.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The channel's settings are invalid.
    #[error("invalid channel: {0}")]
    Invalid(String),
    /// The channel's secret does not unseal.
    #[error("the channel's secret cannot be unsealed: {0}")]
    Unseal(#[from] butterfly_store::RepositoryStoreError),
    /// The webhook did not accept the event, retries included.
    #[error("webhook delivery failed after {attempts} attempt(s): {last}")]
    Webhook {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The message could not be built or sent.
    #[error("e-mail delivery failed: {0}")]
    Email(String),
}

/// The outcome of one channel's delivery.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// The channel.
    pub channel_id: Uuid,
    /// Its name.
    pub channel: String,
    /// Whether it was delivered.
    pub delivered: bool,
    /// Attempts made.
    pub attempts: u32,
    /// Why not, when not.
    pub error: Option<String>,
}

/// Check a channel's kind and settings, and that its URL or relay may be reached
/// (non-public addresses only with `allow_private`). Returns the settings, normalized.
pub fn validate(kind: &str, config: &Value, allow_private: bool) -> Result<Value, NotifyError> {
    let invalid = |e: serde_json::Error| NotifyError::Invalid(e.to_string());
    match kind {
        "webhook" => {
            let webhook: WebhookConfig = serde_json::from_value(config.clone()).map_err(invalid)?;
            let url = url::Url::parse(&webhook.url)
                .map_err(|e| NotifyError::Invalid(format!("url: {e}")))?;
            if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
                return Err(NotifyError::Invalid(
                    "url must be an absolute http(s) URL".into(),
                ));
            }
            if !allow_private {
                check_public_host(&url.origin().ascii_serialization())?;
            }
            serde_json::to_value(webhook).map_err(invalid)
        }
        "email" => {
            let email: EmailConfig = serde_json::from_value(config.clone()).map_err(invalid)?;
            if email.smtp_host.trim().is_empty() {
                return Err(NotifyError::Invalid("smtp_host is empty".into()));
            }
            email
                .from
                .parse::<Mailbox>()
                .map_err(|e| NotifyError::Invalid(format!("from: {e}")))?;
            if email.to.is_empty() {
                return Err(NotifyError::Invalid("to names no recipient".into()));
            }
            for to in &email.to {
                to.parse::<Mailbox>()
                    .map_err(|e| NotifyError::Invalid(format!("to `{to}`: {e}")))?;
            }
            if !allow_private {
                check_public_host(&format!("https://{}", email.smtp_host))?;
            }
            serde_json::to_value(email).map_err(invalid)
        }
        other => Err(NotifyError::Invalid(format!(
            "kind must be `webhook` or `email`, not `{other}`"
        ))),
    }
}

/// The same address guard as connections' org URLs: the server sends to what an admin
/// typed in, so loopback, private and link-local hosts are refused unless
/// `--allow-private-org-urls` is set.
fn check_public_host(origin: &str) -> Result<(), NotifyError> {
    use butterfly_providers::okta::fetcher::OrgUrl;
    OrgUrl::parse(origin)
        .and_then(|u| u.check_public())
        .map_err(|e| NotifyError::Invalid(e.to_string()))
}

/// The signature header's value for `body` signed at `timestamp` under `secret`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length; this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The body posted for `event` of `team`: the event's fields, `team_id`, `at` and the
/// delivery id.
fn envelope(team: TeamId, event: &Event, delivery: Uuid, at: DateTime<Utc>) -> Value {
    let mut body = serde_json::to_value(event).unwrap_or_else(|_| json!({}));
    if let Value::Object(fields) = &mut body {
        fields.insert("team_id".into(), json!(team));
        fields.insert("delivery_id".into(), json!(delivery));
        fields.insert(
            "at".into(),
            json!(butterfly_core::rfc3339::format(&at).unwrap_or_default()),
        );
    }
    body
}

/// Send `event` to every channel of `team` that receives it, one after the other, and
/// say how each went. Failures are logged, never raised.
pub async fn dispatch(state: &AppState, team: TeamId, event: &Event) -> Vec<Delivery> {
    let channels = match state.store.list_channels(team).await {
        Ok(channels) => channels,
        Err(e) => {
            tracing::warn!(error = %e, event = event.name(), "cannot read notification channels");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for channel in channels
        .iter()
        .filter(|c| c.events.iter().any(|e| e == event.name()))
    {
        out.push(deliver(state, channel, event).await);
    }
    out
}

/// Send `event` to one channel (what `POST /notifications/{id}/test` does).
pub async fn deliver(state: &AppState, channel: &NotificationChannel, event: &Event) -> Delivery {
    let result = match channel.kind.as_str() {
        "webhook" => send_webhook(state, channel, event).await,
        "email" => send_email(state, channel, event).await.map(|()| 1),
        other => Err(NotifyError::Invalid(format!("unknown kind `{other}`"))),
    };
    match result {
        Ok(attempts) => {
            tracing::info!(channel = %channel.name, event = event.name(), attempts, "notification delivered");
            Delivery {
                channel_id: channel.id,
                channel: channel.name.clone(),
                delivered: true,
                attempts,
                error: None,
            }
        }
        Err(e) => {
            tracing::warn!(channel = %channel.name, event = event.name(), error = %e, "notification not delivered");
            let attempts = match &e {
                NotifyError::Webhook { attempts, .. } => *attempts,
                _ => 1,
            };
            Delivery {
                channel_id: channel.id,
                channel: channel.name.clone(),
                delivered: false,
                attempts,
                error: Some(e.to_string()),
            }
        }
    }
}

fn secret_of(state: &AppState, channel: &NotificationChannel) -> Result<Vec<u8>, NotifyError> {
    match &channel.secret_sealed {
        Some(sealed) => {
            Ok(state
                .objects
                .open_secret(channel.team_id, CHANNEL_SECRET_PURPOSE, sealed)?)
        }
        None => Ok(Vec::new()),
    }
}

async fn send_webhook(
    state: &AppState,
    channel: &NotificationChannel,
    event: &Event,
) -> Result<u32, NotifyError> {
    let config: WebhookConfig = serde_json::from_value(channel.config.clone())
        .map_err(|e| NotifyError::Invalid(e.to_string()))?;
    let secret = secret_of(state, channel)?;
    let delivery = Uuid::new_v4();
    let body = envelope(channel.team_id, event, delivery, Utc::now()).to_string();
    let settings = state.notifier.settings;
    let attempts = settings.webhook_attempts.max(1);
    let mut backoff = settings.webhook_backoff;
    let mut last = String::new();
    for attempt in 1..=attempts {
        // Signed afresh each attempt, so a retry's timestamp is recent.
        let timestamp = Utc::now().timestamp();
        let answer = state
            .notifier
            .http
            .post(&config.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_HEADER, event.name())
            .header(DELIVERY_HEADER, delivery.to_string())
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, sign(&secret, timestamp, body.as_bytes()))
            .body(body.clone())
            .send()
            .await;
        match answer {
            Ok(r) if r.status().is_success() => return Ok(attempt),
            Ok(r) if r.status().is_server_error() || r.status().as_u16() == 429 => {
                last = format!("answered {}", r.status());
            }
            Ok(r) => {
                return Err(NotifyError::Webhook {
                    attempts: attempt,
                    last: format!("answered {}", r.status()),
                });
            }
            // The error names the URL, which is the admin's; never the secret.
            Err(e) => last = e.without_url().to_string(),
        }
        if attempt < attempts {
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
    }
    Err(NotifyError::Webhook { attempts, last })
}

async fn send_email(
    state: &AppState,
    channel: &NotificationChannel,
    event: &Event,
) -> Result<(), NotifyError> {
    let config: EmailConfig = serde_json::from_value(channel.config.clone())
        .map_err(|e| NotifyError::Invalid(e.to_string()))?;
    let email_error = |e: &dyn fmt::Display| NotifyError::Email(e.to_string());
    let mut message = Message::builder()
        .from(
            config
                .from
                .parse::<Mailbox>()
                .map_err(|e| email_error(&e))?,
        )
        .subject(event.subject())
        .header(ContentType::TEXT_PLAIN);
    for to in &config.to {
        message = message.to(to.parse::<Mailbox>().map_err(|e| email_error(&e))?);
    }
    let message = message.body(event.text()).map_err(|e| email_error(&e))?;
    let mut transport = match config.tls {
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.smtp_host)
            .map_err(|e| email_error(&e))?,
        SmtpTls::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.smtp_host)
                .map_err(|e| email_error(&e))?
        }
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.smtp_host),
    }
    .timeout(Some(state.notifier.settings.timeout));
    if let Some(port) = config.smtp_port {
        transport = transport.port(port);
    }
    if let Some(user) = &config.username {
        let password = String::from_utf8(secret_of(state, channel)?)
            .map_err(|_| NotifyError::Invalid("the SMTP password is not UTF-8".into()))?;
        transport = transport.credentials(Credentials::new(user.clone(), password));
    }
    transport
        .build()
        .send(message)
        .await
        .map_err(|e| email_error(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        // Recomputed independently of `sign`, the way a receiver would.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec").unwrap();
        mac.update(b"1700000000.{\"a\":1}");
        let expected = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(sign(b"whsec", 1_700_000_000, b"{\"a\":1}"), expected);
        assert_ne!(sign(b"other", 1_700_000_000, b"{\"a\":1}"), expected);
        assert_ne!(sign(b"whsec", 1_700_000_001, b"{\"a\":1}"), expected);
    }

    #[test]
    fn channels_are_checked_before_they_are_kept() {
        let ok = validate(
            "webhook",
            &json!({"url": "https://hooks.example.com/x"}),
            false,
        );
        assert!(ok.is_ok(), "{ok:?}");
        for (kind, config) in [
            ("webhook", json!({"url": "http://127.0.0.1:9/x"})),
            ("webhook", json!({"url": "ftp://example.com"})),
            ("webhook", json!({"url": "https://a.example", "extra": 1})),
            (
                "email",
                json!({"smtp_host": "smtp.example.com", "tls": "starttls", "from": "not an address", "to": ["a@example.com"]}),
            ),
            (
                "email",
                json!({"smtp_host": "smtp.example.com", "tls": "starttls", "from": "b@example.com", "to": []}),
            ),
            ("pager", json!({})),
        ] {
            assert!(validate(kind, &config, false).is_err(), "{kind} {config}");
        }
        assert!(validate("webhook", &json!({"url": "http://127.0.0.1:9/x"}), true).is_ok());
    }

    #[tokio::test]
    async fn a_loosened_sign_on_rule_is_critical_drift_and_a_new_user_is_not() {
        use butterfly_core::source::InMemorySnapshotSource;
        use butterfly_core::{ProviderKind, Resource, ResourceKind, SnapshotStatus};
        let rule = |factor: &str| {
            Resource::new(
                ResourceKind::new("policy_rule.OKTA_SIGN_ON"),
                "0pr1",
                json!({"id": "0pr1", "name": "Require MFA", "actions": {"signon": {"requireFactor": factor == "yes"}}}),
            )
        };
        let user = |id: &str| {
            Resource::new(
                ResourceKind::new("user"),
                id,
                json!({"id": id, "profile": {"login": format!("{id}@example.com")}}),
            )
        };
        let mut source = InMemorySnapshotSource::new();
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let org = "https://acme.okta.com";
        let s1 = source.insert(
            ProviderKind::Okta,
            org,
            at,
            SnapshotStatus::Complete,
            [rule("yes"), user("00u1")],
        );
        let s2 = source.insert(
            ProviderKind::Okta,
            org,
            at,
            SnapshotStatus::Complete,
            [rule("yes"), user("00u1"), user("00u2")],
        );
        let s3 = source.insert(
            ProviderKind::Okta,
            org,
            at,
            SnapshotStatus::Complete,
            [rule("no"), user("00u1"), user("00u2")],
        );
        assert_eq!(
            critical_changes(&source, &s1, &s2).await.unwrap(),
            Vec::<String>::new()
        );
        let critical = critical_changes(&source, &s2, &s3).await.unwrap();
        assert_eq!(critical.len(), 1, "{critical:?}");
        assert!(
            critical[0].starts_with("changed policy_rule.OKTA_SIGN_ON/0pr1 (Require MFA)"),
            "{critical:?}"
        );
    }

    #[test]
    fn drift_compares_with_the_snapshot_taken_last_before_not_the_job_finished_last() {
        use butterfly_core::source::{InMemorySnapshotSource, SnapshotSource};
        use butterfly_core::{ProviderKind, SnapshotStatus};
        let mut source = InMemorySnapshotSource::new();
        let org = "https://acme.okta.com";
        let at = |minute: i64| DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::minutes(minute);
        let mut take = |minute| {
            source.insert(
                ProviderKind::Okta,
                org,
                at(minute),
                SnapshotStatus::Complete,
                [],
            )
        };
        let (first, second, third, other_connection) = (take(0), take(10), take(20), take(15));
        let summaries = futures::executor::block_on(source.summaries()).unwrap();
        let candidates = [first.id, second.id, third.id];
        // `second` started before `third` but finished after it: its previous is `first`,
        // never the newer `third`.
        assert_eq!(
            snapshot_before(&summaries, &candidates, second.id),
            Some(first.id)
        );
        assert_eq!(
            snapshot_before(&summaries, &candidates, third.id),
            Some(second.id)
        );
        assert_eq!(snapshot_before(&summaries, &candidates, first.id), None);
        // `other_connection` (minute 15) is closer before `third` than `second` is, but
        // only the connection's own snapshots are candidates: the answer above is `second`.
        assert_ne!(
            snapshot_before(&summaries, &candidates, third.id),
            Some(other_connection.id)
        );
    }

    #[test]
    fn events_carry_their_name_and_the_fix() {
        let event = Event::BackupFailed {
            connection_id: Uuid::nil(),
            connection_name: "okta-prod".into(),
            job_id: Uuid::nil(),
            error: "answered 401 invalid_client".into(),
            code: "invalid_client",
            fixes: crate::status::diagnose("invalid_client").fixes,
        };
        let body = envelope(
            TeamId::from_uuid(Uuid::nil()),
            &event,
            Uuid::nil(),
            Utc::now(),
        );
        assert_eq!(body["event"], "backup_failed");
        assert_eq!(body["code"], "invalid_client");
        assert!(event.text().contains("Verify the Client ID"));
        assert!(Event::NAMES.contains(&event.name()));
    }
}

/// Changes listed by name in a drift notification; the rest are counted.
const DRIFT_EXAMPLES: usize = 10;

/// Announce in the background that `connection`'s schedule paused itself after
/// `failures` failed runs in a row, until `until` (called from the backup worker's one
/// pause site, `backups::on_schedule_paused`).
pub fn schedule_paused(
    state: &AppState,
    team: TeamId,
    connection_id: Uuid,
    until: DateTime<Utc>,
    failures: u32,
) -> tokio::task::JoinHandle<Vec<Delivery>> {
    let state = state.clone();
    tokio::spawn(async move {
        let connection_name = match state.store.connection(team, connection_id).await {
            Ok(Some(c)) => c.name,
            Ok(None) => connection_id.to_string(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the connection for a notification");
                connection_id.to_string()
            }
        };
        let event = Event::SchedulePaused {
            connection_id,
            connection_name,
            consecutive_failures: failures,
            paused_until: until,
        };
        dispatch(&state, team, &event).await
    })
}

/// After a backup job's end: on failure, [`Event::BackupFailed`]; on success,
/// [`Event::CriticalDrift`] when the diff from the connection's previous snapshot has
/// changes of critical severity. Runs in the background, so the worker moves on at once;
/// the returned handle is for tests and shutdown, and may be dropped.
pub fn after_backup(
    state: &AppState,
    job: &butterfly_core::store::Job,
    succeeded: bool,
    outcome: &Value,
) -> tokio::task::JoinHandle<Vec<Delivery>> {
    let state = state.clone();
    let job = job.clone();
    let outcome = outcome.clone();
    tokio::spawn(async move {
        let Some(connection_id) = job
            .payload
            .get("connection_id")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
        else {
            return Vec::new();
        };
        let name = match state.store.connection(job.team_id, connection_id).await {
            Ok(Some(c)) => c.name,
            Ok(None) => connection_id.to_string(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the connection for a notification");
                connection_id.to_string()
            }
        };
        let event = if succeeded {
            match critical_drift(&state, &job, connection_id, &name, &outcome).await {
                Ok(Some(event)) => event,
                Ok(None) => return Vec::new(),
                Err(e) => {
                    tracing::warn!(job = %job.id, error = %e, "cannot check the backup for drift");
                    return Vec::new();
                }
            }
        } else {
            let mut failed = job.clone();
            failed.outcome = Some(outcome);
            let error = crate::status::job_error(&failed);
            let trouble = crate::status::diagnose(&error);
            Event::BackupFailed {
                connection_id,
                connection_name: name,
                job_id: job.id,
                error,
                code: trouble.code,
                fixes: trouble.fixes,
            }
        };
        dispatch(&state, job.team_id, &event).await
    })
}

/// The changes of critical severity from `old` to `new`, one line each (`added
/// kind/id (name)`, `removed ...`, `changed kind/id (name): /pointer, ...`).
pub async fn critical_changes(
    source: &dyn butterfly_core::source::SnapshotSource,
    old: &butterfly_core::Snapshot,
    new: &butterfly_core::Snapshot,
) -> Result<Vec<String>, butterfly_core::source::SourceError> {
    use butterfly_core::diff::{DiffOptions, DiffRules, Severity, diff_snapshots};
    let rules = DiffRules::for_provider(old.provider);
    let options = DiffOptions::default().with_min_severity(Severity::Critical);
    let diff = diff_snapshots(source, old, new, &rules, &options).await?;
    Ok(diff
        .added
        .iter()
        .map(|e| format!("added {}/{} ({})", e.kind, e.id, e.name))
        .chain(
            diff.removed
                .iter()
                .map(|e| format!("removed {}/{} ({})", e.kind, e.id, e.name)),
        )
        .chain(diff.changed.iter().map(|c| {
            let fields: Vec<&str> = c
                .changes
                .iter()
                .filter(|f| f.severity == Severity::Critical)
                .map(|f| f.change.pointer.as_str())
                .collect();
            format!(
                "changed {}/{} ({}): {}",
                c.kind,
                c.id,
                c.name,
                fields.join(", ")
            )
        }))
        .collect())
}

/// Errors looking for drift after a backup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriftCheckError {
    /// The job table could not be read.
    #[error(transparent)]
    Store(#[from] butterfly_core::store::StoreError),
    /// The repository could not be opened.
    #[error(transparent)]
    Repository(#[from] crate::backups::BackupJobError),
    /// A snapshot could not be read.
    #[error(transparent)]
    Source(#[from] butterfly_core::source::SourceError),
}

/// Of `candidates` (the snapshots of the connection's other successful backups), the one
/// taken last *before* `new` was: the state the org was in before it. Not the one whose
/// job finished last: two backups of a connection can overlap (a slow scheduled one and a
/// manual one), and the one started first can finish last; comparing it with the newer
/// snapshot would report the drift backwards. `None` when none was taken before.
fn snapshot_before(
    summaries: &[butterfly_core::SnapshotSummary],
    candidates: &[butterfly_core::SnapshotId],
    new: butterfly_core::SnapshotId,
) -> Option<butterfly_core::SnapshotId> {
    let new_started = summaries.iter().find(|s| s.id == new)?.started_at;
    summaries
        .iter()
        .filter(|s| s.id != new && s.started_at < new_started && candidates.contains(&s.id))
        .max_by_key(|s| (s.started_at, s.id))
        .map(|s| s.id)
}

/// [`Event::CriticalDrift`] when the diff from the connection's snapshot taken last
/// before this one ([`snapshot_before`]) has critical changes; `None` when it has none
/// or there is no earlier snapshot.
async fn critical_drift(
    state: &AppState,
    job: &butterfly_core::store::Job,
    connection_id: Uuid,
    name: &str,
    outcome: &Value,
) -> Result<Option<Event>, DriftCheckError> {
    use butterfly_core::source::SnapshotSource;
    use butterfly_core::store::{JobStatus, JobStore};
    let snapshot_of = |outcome: Option<&Value>| {
        outcome
            .and_then(|o| o.pointer("/snapshot/id"))
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<butterfly_core::SnapshotId>().ok())
    };
    let Some(new_id) = snapshot_of(Some(outcome)) else {
        return Ok(None);
    };
    let jobs = state
        .store
        .list_jobs(job.team_id, crate::backups::OKTA_BACKUP_JOB, 500)
        .await?;
    let candidates: Vec<butterfly_core::SnapshotId> = jobs
        .iter()
        .filter(|j| j.id != job.id && j.status == JobStatus::Succeeded)
        .filter(|j| {
            j.payload.get("connection_id").and_then(Value::as_str)
                == Some(connection_id.to_string().as_str())
        })
        .filter_map(|j| snapshot_of(j.outcome.as_ref()))
        .collect();
    let repo = state.backups.repository(job.team_id).await?;
    let source: &dyn SnapshotSource = repo.as_ref();
    let summaries = source.summaries().await?;
    let Some(old_id) = snapshot_before(&summaries, &candidates, new_id) else {
        return Ok(None);
    };
    let old = source.manifest(old_id).await?;
    let new = source.manifest(new_id).await?;
    let critical = critical_changes(source, &old, &new).await?;
    if critical.is_empty() {
        return Ok(None);
    }
    Ok(Some(Event::CriticalDrift {
        connection_id,
        connection_name: name.to_owned(),
        from_snapshot: old_id.to_string(),
        to_snapshot: new_id.to_string(),
        critical_changes: critical.len() as u64,
        examples: critical.into_iter().take(DRIFT_EXAMPLES).collect(),
    }))
}
