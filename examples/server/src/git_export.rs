//! "Export to Git after every backup": after a successful backup of a connection whose
//! setting is on, the snapshot becomes a commit in the connection's own repository under
//! `<data dir>/git/<connection id>.git`, and the branch is pushed to the remote.
//!
//! It never fails the backup: it runs in its own task once the backup is recorded, and
//! its outcome (commit, subject, push error) is kept on the setting and shown on the
//! connection. A failed push is retried a few times with backoff; if it still fails,
//! the outcome says `pending_push: true` and the next backup's push sends every commit
//! made since (pushes send the whole branch), so nothing is lost.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use butterfly_core::store::{GitExportSetting, GitExportStore};
use butterfly_core::{SnapshotId, TeamId};
use butterfly_git::{
    ExportOptions, GitCredentials, GitSecret, HostKey, PushTarget, export_snapshot, push,
};
use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::app::AppState;

/// The purpose a Git credential is sealed under (a key derived for it alone).
pub const GIT_CREDENTIAL_PURPOSE: &str = "git-export-credential";

/// One export at a time per connection: two backups finishing together must not both
/// commit on the same tip (the second would be refused by the branch update).
static RUNNING: LazyLock<Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Mutex::default);

fn connection_lock(connection: Uuid) -> Arc<tokio::sync::Mutex<()>> {
    let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(running.entry(connection).or_default())
}

/// Start exporting `snapshot` of `connection` if its setting says so. Returns at once;
/// the export runs in its own task and only ever records its outcome.
pub fn after_backup(state: &AppState, team: TeamId, connection: Uuid, snapshot: SnapshotId) {
    let state = state.clone();
    tokio::spawn(async move {
        let lock = connection_lock(connection);
        let _one_at_a_time = lock.lock().await;
        if let Err(e) = export_and_push(&state, team, connection, snapshot).await {
            tracing::warn!(%connection, %snapshot, error = %e, "git export failed; the backup is kept");
        }
    });
}

/// Export and push now, recording the outcome on the setting; the error is also
/// returned (for the log). `Ok(None)` when the connection has no enabled setting.
pub async fn export_and_push(
    state: &AppState,
    team: TeamId,
    connection: Uuid,
    snapshot: SnapshotId,
) -> Result<Option<Value>, String> {
    let setting = match state.store.git_export(team, connection).await {
        Ok(Some(setting)) if setting.enabled => setting,
        Ok(_) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let outcome = run(state, &setting, snapshot).await;
    let recorded = match &outcome {
        Ok(v) | Err(v) => v.clone(),
    };
    if let Err(e) = state
        .store
        .record_git_export_outcome(team, connection, recorded)
        .await
    {
        return Err(e.to_string());
    }
    match outcome {
        Ok(v) => Ok(Some(v)),
        Err(v) => Err(v["error"]
            .as_str()
            .unwrap_or("git export failed")
            .to_owned()),
    }
}

async fn run(
    state: &AppState,
    setting: &GitExportSetting,
    snapshot: SnapshotId,
) -> Result<Value, Value> {
    let failed = |stage: &str, error: String, pending_push: bool| {
        json!({
            "ok": false, "snapshot": snapshot.to_string(), "stage": stage,
            "error": error, "pending_push": pending_push, "at": Utc::now().timestamp(),
        })
    };
    let git_dir = state
        .git_exports_dir
        .join(format!("{}.git", setting.connection_id));
    let repo = state
        .backups
        .repository(setting.team_id)
        .await
        .map_err(|e| failed("export", e.to_string(), false))?;
    let options = ExportOptions::new().with_branch(setting.branch.clone());
    let report = export_snapshot(repo.as_ref(), snapshot, &git_dir, &options)
        .await
        .map_err(|e| failed("export", e.to_string(), false))?;
    let target = target(state, setting).map_err(|e| failed("push", e, true))?;
    let mut attempts = 0;
    let mut last_error = String::new();
    // A first push, then a retry after each of the configured pauses.
    for pause in std::iter::once(None).chain(state.git_push_pauses.iter().copied().map(Some)) {
        if let Some(pause) = pause {
            tokio::time::sleep(pause).await;
        }
        attempts += 1;
        let (dir, target) = (git_dir.clone(), target.clone());
        match tokio::task::spawn_blocking(move || push(&dir, &target)).await {
            Ok(Ok(())) => {
                return Ok(json!({
                    "ok": true, "snapshot": snapshot.to_string(), "commit": report.commit,
                    "tip": report.tip, "subject": report.subject, "pushed_to": setting.remote_url,
                    "push_attempts": attempts, "pending_push": false, "at": Utc::now().timestamp(),
                }));
            }
            Ok(Err(e)) => last_error = e.to_string(),
            Err(e) => last_error = e.to_string(),
        }
    }
    let mut outcome = failed("push", last_error, true);
    outcome["commit"] = json!(report.commit);
    outcome["subject"] = json!(report.subject);
    outcome["push_attempts"] = json!(attempts);
    Err(outcome)
}

fn target(state: &AppState, setting: &GitExportSetting) -> Result<PushTarget, String> {
    let secret = || -> Result<GitSecret, String> {
        let clear = state
            .objects
            .open_secret(
                setting.team_id,
                GIT_CREDENTIAL_PURPOSE,
                &setting.credential_sealed,
            )
            .map_err(|e| format!("cannot open the stored credential: {e}"))?;
        String::from_utf8(clear)
            .map(GitSecret::new)
            .map_err(|_| "the stored credential is not text".to_owned())
    };
    let credentials = match setting.credential_kind.as_str() {
        "token" => GitCredentials::Token {
            username: setting
                .token_username
                .clone()
                .unwrap_or_else(|| "x-access-token".to_owned()),
            token: secret()?,
        },
        "deploy_key" => GitCredentials::SshKey {
            username: "git".to_owned(),
            private_key: secret()?,
            passphrase: None,
        },
        _ => GitCredentials::None,
    };
    let mut target = PushTarget::new(setting.remote_url.clone())
        .with_branch(setting.branch.clone())
        .with_credentials(credentials);
    if let Some(key) = &setting.ssh_host_key {
        target = target.with_host_key(HostKey::parse(key).map_err(|e| e.to_string())?);
    }
    Ok(target)
}
