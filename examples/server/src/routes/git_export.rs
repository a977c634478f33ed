//! `/api/v1/connections/{id}/git-export` (permission `manage integrations`): the
//! connection's "export to Git after every backup" setting. A token or deploy key is
//! sealed under the team's key on the way in and never returned; the last export's
//! outcome (commit, push error, `pending_push`) is shown.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use butterfly_core::store::{AuditOutcome, GitExportSetting, GitExportStore};
use butterfly_git::HostKey;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{audit, connections, no_content_or_not_found};
use crate::app::AppState;
use crate::error::ApiError;
use crate::git_export::GIT_CREDENTIAL_PURPOSE;
use crate::rbac::Caller;
use crate::secret::SecretText;

/// `PUT /connections/{id}/git-export` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutGitExport {
    /// Export after every successful backup.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The remote: `https://...`, `ssh://...` or `git@host:path`.
    pub remote_url: String,
    /// The branch; default `main`.
    #[serde(default)]
    pub branch: Option<String>,
    /// An HTTPS access token. `Debug` is redacted.
    #[serde(default)]
    pub token: Option<SecretText>,
    /// The user name sent with the token (default `x-access-token`).
    #[serde(default)]
    pub token_username: Option<String>,
    /// An SSH deploy key (private key text, unencrypted). `Debug` is redacted.
    #[serde(default)]
    pub deploy_key: Option<SecretText>,
    /// The SSH host key to accept (`ssh-ed25519 AAAA...` or `SHA256:...`).
    #[serde(default)]
    pub ssh_host_key: Option<String>,
}

fn yes() -> bool {
    true
}

fn describe(setting: &GitExportSetting) -> Value {
    json!({
        "connection_id": setting.connection_id,
        "enabled": setting.enabled,
        "remote_url": setting.remote_url,
        "branch": setting.branch,
        "credential": setting.credential_kind,
        "token_username": setting.token_username,
        "ssh_host_key": setting.ssh_host_key,
        "updated_at": setting.updated_at.timestamp(),
        "last_outcome": setting.last_outcome,
    })
}

/// Create or replace the setting.
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<PutGitExport>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let connection = connections::find(&state, &caller, &id).await?;
    let remote_url = body.remote_url.trim();
    if remote_url.is_empty() || remote_url.len() > 2000 || remote_url.contains(char::is_control) {
        return Err(ApiError::BadRequest(
            "remote_url must be 1 to 2000 characters".into(),
        ));
    }
    // A token belongs in the credential, where it is sealed, not in a URL that is shown.
    if let Ok(url) = url::Url::parse(remote_url)
        && url.password().is_some()
    {
        return Err(ApiError::BadRequest(
            "remote_url must not hold a password; give it as `token`".into(),
        ));
    }
    let branch = body.branch.unwrap_or_else(|| "main".to_owned());
    if !butterfly_git::is_valid_branch(&branch) {
        return Err(ApiError::BadRequest(format!(
            "branch `{branch}` is not a valid branch name"
        )));
    }
    if let Some(key) = &body.ssh_host_key {
        HostKey::parse(key).map_err(|e| ApiError::BadRequest(format!("ssh_host_key: {e}")))?;
    }
    let (kind, secret) = match (&body.token, &body.deploy_key) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give a token (HTTPS) or a deploy_key (SSH), not both".into(),
            ));
        }
        (Some(token), None) => ("token", Some(token.secret().trim())),
        (None, Some(key)) => {
            if !key.secret().contains("PRIVATE KEY-----") {
                return Err(ApiError::BadRequest(
                    "deploy_key must be a private key (OpenSSH or PEM)".into(),
                ));
            }
            ("deploy_key", Some(key.secret()))
        }
        (None, None) => ("none", None),
    };
    let sealed = match secret {
        Some(secret) => state
            .objects
            .seal_secret(caller.team_id, GIT_CREDENTIAL_PURPOSE, secret.as_bytes())
            .map_err(|e| ApiError::Internal(Box::new(e)))?,
        None => Vec::new(),
    };
    let stored = state
        .store
        .put_git_export(GitExportSetting {
            connection_id: connection.id,
            team_id: caller.team_id,
            enabled: body.enabled,
            remote_url: remote_url.to_owned(),
            branch,
            credential_kind: kind.to_owned(),
            token_username: body.token_username.filter(|u| !u.trim().is_empty()),
            credential_sealed: sealed,
            ssh_host_key: body.ssh_host_key,
            updated_at: Utc::now(),
            last_outcome: None,
        })
        .await?;
    audit::record(
        &state,
        Some(caller.team_id),
        "connection.git_export.updated",
        Some(format!("connection:{}", connection.id)),
        AuditOutcome::Success,
        json!({"enabled": stored.enabled, "remote_url": stored.remote_url, "credential": kind}),
    )
    .await;
    Ok(Json(describe(&stored)))
}

/// The setting and its last outcome; never the credential.
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let connection = connections::find(&state, &caller, &id).await?;
    let setting = state
        .store
        .git_export(caller.team_id, connection.id)
        .await?
        .ok_or(ApiError::NotFound("git export setting"))?;
    Ok(Json(describe(&setting)))
}

/// Remove the setting (the local export repository stays).
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let connection = connections::find(&state, &caller, &id).await?;
    let found = state
        .store
        .delete_git_export(caller.team_id, connection.id)
        .await?;
    no_content_or_not_found(found, "git export setting")
}
