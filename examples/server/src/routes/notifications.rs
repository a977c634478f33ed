//! `/api/v1/notifications`: the team's notification channels (see [`crate::notify`]),
//! under `manage integrations`. Secrets (a webhook's signing secret, an SMTP password)
//! are sealed under the team's key on the way in and never returned; a webhook created
//! without a secret gets a generated one, shown once.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use butterfly_core::store::AuditOutcome;
use butterfly_core::token::RawToken;
use butterfly_store::sql::NotificationChannel;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{audit, label, no_content_or_not_found, parse_id};
use crate::app::AppState;
use crate::error::ApiError;
use crate::notify::{CHANNEL_SECRET_PURPOSE, Delivery, Event, deliver, validate};
use crate::rbac::Caller;
use crate::secret::SecretText;

/// Prefix of generated webhook secrets.
pub const WEBHOOK_SECRET_PREFIX: &str = "bfw_";

/// `POST /notifications` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateChannel {
    /// A name unique in the team.
    pub name: String,
    /// `webhook` or `email`.
    pub kind: String,
    /// Where to send (see [`crate::notify::WebhookConfig`], [`crate::notify::EmailConfig`]).
    pub config: Value,
    /// The webhook's signing secret or the SMTP password.
    #[serde(default)]
    pub secret: Option<SecretText>,
    /// The events it receives; every event when absent.
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

fn describe(channel: &NotificationChannel) -> Value {
    json!({
        "id": channel.id,
        "name": channel.name,
        "kind": channel.kind,
        "config": channel.config,
        "secret_set": channel.secret_sealed.is_some(),
        "events": channel.events,
        "created_at": butterfly_core::rfc3339::format(&channel.created_at).unwrap_or_default(),
    })
}

/// Add a channel.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateChannel>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    let name = label(&body.name)?.to_owned();
    let config = validate(&body.kind, &body.config, state.allow_private_org_urls)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let events = match body.events {
        None => Event::NAMES.iter().map(|e| (*e).to_owned()).collect(),
        Some(events) => {
            if events.is_empty() {
                return Err(ApiError::BadRequest("events names no event".into()));
            }
            for e in &events {
                if !Event::NAMES.contains(&e.as_str()) {
                    return Err(ApiError::BadRequest(format!(
                        "unknown event `{e}`; expected one of {}",
                        Event::NAMES.join(", ")
                    )));
                }
            }
            events
        }
    };
    // A webhook is always signed: without a secret given, one is made and shown once.
    let (secret, generated) = match (body.secret, body.kind.as_str()) {
        (Some(s), _) if s.secret().is_empty() => {
            return Err(ApiError::BadRequest("secret is empty".into()));
        }
        (Some(s), _) => (Some(s.secret().to_owned()), None),
        (None, "webhook") => {
            let raw = RawToken::generate(WEBHOOK_SECRET_PREFIX);
            (Some(raw.secret().to_owned()), Some(raw))
        }
        (None, _) => (None, None),
    };
    let sealed = secret
        .map(|s| {
            state
                .objects
                .seal_secret(caller.team_id, CHANNEL_SECRET_PURPOSE, s.as_bytes())
        })
        .transpose()
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    let channel = state
        .store
        .create_channel(NotificationChannel::new(
            caller.team_id,
            name,
            body.kind,
            config,
            sealed,
            events,
        ))
        .await?;
    let mut shown = describe(&channel);
    if let (Some(raw), Value::Object(fields)) = (generated, &mut shown) {
        fields.insert("secret".into(), json!(raw.secret()));
    }
    audit::record(
        &state,
        Some(caller.team_id),
        "notification_channel.created",
        Some(format!("notification_channel:{}", channel.id)),
        AuditOutcome::Success,
        json!({"name": channel.name, "kind": channel.kind, "events": channel.events}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(shown)))
}

/// The team's channels.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Value>>, ApiError> {
    let channels = state.store.list_channels(caller.team_id).await?;
    Ok(Json(channels.iter().map(describe).collect()))
}

/// Remove a channel.
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let found = state.store.delete_channel(caller.team_id, id).await?;
    if found {
        audit::record(
            &state,
            Some(caller.team_id),
            "notification_channel.deleted",
            Some(format!("notification_channel:{id}")),
            AuditOutcome::Success,
            json!({}),
        )
        .await;
    }
    no_content_or_not_found(found, "notification channel")
}

/// Send a sample `backup_failed` event to one channel and say how it went.
pub async fn test(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Delivery>, ApiError> {
    let id = parse_id(&id)?;
    let channel = state
        .store
        .list_channels(caller.team_id)
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or(ApiError::NotFound("notification channel"))?;
    let trouble = crate::status::diagnose("invalid_client");
    let event = Event::BackupFailed {
        connection_id: Uuid::nil(),
        connection_name: "test".into(),
        job_id: Uuid::nil(),
        error: "a test notification from Butterfly; nothing failed".into(),
        code: trouble.code,
        fixes: trouble.fixes,
    };
    Ok(Json(deliver(&state, &channel, &event).await))
}
