//! The JSON bodies of the first-party server's `/api/v1` that scripts read or write: a
//! backup connection, a backup job, the error body, and the restore requests and jobs.
//! The server answers with (and reads) these types and `butterfly schemas` writes their
//! JSON Schemas (`connection`, `backup-job`, `api-error`, `restore-plan-request`,
//! `restore-request`, `sync-request`, `restore-job` in `schemas/`), so a client can
//! validate what it reads and sends.
//!
//! Plain serde types, with no HTTP in them, so a client embeds them without the server.
//! Fields are declared in alphabetical order: the server built these bodies as
//! `serde_json` maps before, which serialize their keys sorted, and the bytes on the wire
//! stay the same.
//!
//! ```
//! use butterfly_core::api::{ApiErrorBody, ApiErrorDetail};
//!
//! let body = ApiErrorBody::new(ApiErrorDetail::new("not_found", "snapshot not found"));
//! assert_eq!(
//!     serde_json::to_string(&body)?,
//!     r#"{"error":{"code":"not_found","message":"snapshot not found"}}"#
//! );
//! # Ok::<(), serde_json::Error>(())
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::restore::{FollowUp, RestorePlan};
use crate::store::JobStatus;
use crate::{Permission, Role};

/// Every error answer of `/api/v1`: `{"error": {...}}`, with the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct ApiErrorBody {
    /// What went wrong.
    pub error: ApiErrorDetail,
}

impl ApiErrorBody {
    /// The body around `error`.
    pub fn new(error: ApiErrorDetail) -> Self {
        ApiErrorBody { error }
    }
}

/// What went wrong, in an [`ApiErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct ApiErrorDetail {
    /// A stable, machine-readable code: `unauthorized`, `forbidden`, `sign_in_failed`,
    /// `upstream`, `not_found`, `conflict`, `bad_request`, `method_not_allowed`,
    /// `payload_too_large`, `uri_too_long`, `unsupported_media_type`,
    /// `headers_too_large` or `internal`.
    pub code: String,
    /// A sentence for people; never internal details.
    pub message: String,
    /// On a `forbidden` for a missing permission: the permission the route needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<Permission>,
    /// On a `forbidden` for a missing permission: the caller's role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

impl ApiErrorDetail {
    /// An error with a code and a message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiErrorDetail {
            code: code.into(),
            message: message.into(),
            permission: None,
            role: None,
        }
    }

    /// The permission a route needs and the role that lacks it.
    #[must_use]
    pub fn with_permission(mut self, permission: Permission, role: Role) -> Self {
        self.permission = Some(permission);
        self.role = Some(role);
        self
    }
}

/// A backup connection as the API shows it (`GET /connections/{id}`): an org and the
/// service app that reads it. Never its key: only whether one is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct ConnectionBody {
    /// The service app's client id.
    pub client_id: String,
    /// When it was created, in seconds since the Unix epoch.
    pub created_at: i64,
    /// Identifier.
    pub id: Uuid,
    /// The key id registered with the app, if it has several.
    pub key_id: Option<String>,
    /// The last `POST /connections/{id}/test`: `ok`, then the granted and missing scopes,
    /// the kinds without a scope and whether users are readable, or the `error`; and
    /// `tested_at` (seconds since the Unix epoch). `null` until tested.
    pub last_test: Option<Value>,
    /// A name unique in the team.
    pub name: String,
    /// When its schedule runs it next, in seconds since the Unix epoch; `null` when it
    /// has no schedule or the schedule is paused.
    pub next_run_at: Option<i64>,
    /// The org's URL.
    pub org_url: String,
    /// Whether a private key is stored (sealed; it is never shown).
    pub private_key_set: bool,
    /// The provider (`okta`).
    pub provider: String,
    /// The share of each rate-limit bucket backups may use, in (0, 1].
    pub rate_limit_share: f64,
    /// Its schedule for people (`daily at 02:30 (Europe/Berlin)`), or `manual`.
    pub schedule: String,
    /// Scopes requested instead of every scope a backup reads; `null` for all.
    pub scopes: Option<Vec<String>>,
}

impl ConnectionBody {
    /// A connection's body with its identity; set the other fields after.
    pub fn new(id: Uuid, name: impl Into<String>, provider: impl Into<String>) -> Self {
        ConnectionBody {
            client_id: String::new(),
            created_at: 0,
            id,
            key_id: None,
            last_test: None,
            name: name.into(),
            next_run_at: None,
            org_url: String::new(),
            private_key_set: false,
            provider: provider.into(),
            rate_limit_share: 1.0,
            schedule: "manual".to_owned(),
            scopes: None,
        }
    }
}

/// A backup job as the API shows it (`GET /backups/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct BackupJobBody {
    /// How many times a worker claimed it.
    pub attempts: u32,
    /// The connection it backs up.
    pub connection_id: Option<Uuid>,
    /// When it was queued, in seconds since the Unix epoch.
    pub created_at: i64,
    /// When it finished, in seconds since the Unix epoch.
    pub finished_at: Option<i64>,
    /// Identifier.
    pub id: Uuid,
    /// What the job does (`okta_backup`).
    pub kind: String,
    /// Once finished: the backup's outcome (see `backup-outcome.schema.json`), or
    /// `{"error": "..."}` when it could not run.
    pub outcome: Option<Value>,
    /// While running: resources and kinds so far.
    pub progress: Option<Value>,
    /// Where it is.
    pub status: JobStatus,
}

impl BackupJobBody {
    /// A job's body with its identity and status; set the other fields after.
    pub fn new(id: Uuid, kind: impl Into<String>, status: JobStatus) -> Self {
        BackupJobBody {
            attempts: 0,
            connection_id: None,
            created_at: 0,
            finished_at: None,
            id,
            kind: kind.into(),
            outcome: None,
            progress: None,
            status,
        }
    }
}

/// A connection's backup schedule as the API shows it (`GET /connections/{id}/schedule`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ScheduleBody {
    /// The connection it backs up.
    pub connection_id: Uuid,
    /// The connection's name.
    pub connection_name: String,
    /// Scheduled runs that failed in a row (a success or a re-save clears it).
    pub consecutive_failures: u32,
    /// The five-field cron pattern it runs on, in `spec.time_zone`.
    pub cron: String,
    /// For people: `daily at 02:30 (Europe/Berlin)`.
    pub description: String,
    /// The job of the last run it queued.
    pub last_job_id: Option<Uuid>,
    /// The last slot it fired, in seconds since the Unix epoch.
    pub last_run_at: Option<i64>,
    /// Its next run, in seconds since the Unix epoch; `null` while paused by a person.
    pub next_run_at: Option<i64>,
    /// Paused after repeated failures until then, in seconds since the Unix epoch.
    pub paused_until: Option<i64>,
    /// The schedule as saved.
    pub spec: crate::schedule::ScheduleSpec,
    /// `active`, `paused` (by a person) or `paused_after_failures`.
    pub state: String,
    /// What needs attention (failures so far, a pause), or `null`.
    pub warning: Option<String>,
}

/// `POST /api/v1/connections/{id}/restore-plans`: what to plan (nothing is written).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RestorePlanRequestBody {
    /// Delete what the org has and the snapshot does not (never users).
    #[serde(default)]
    pub delete_extra: bool,
    /// Only these resources (their ids in the snapshot).
    #[serde(default)]
    pub ids: Vec<String>,
    /// Only these kinds (catalogue names, such as `group` or `policy.OKTA_SIGN_ON`).
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Update resources that exist but differ (by default they are skipped).
    #[serde(default)]
    pub overwrite: bool,
    /// The snapshot: an id, or an unambiguous prefix of one (at least 4 characters).
    pub snapshot: String,
}

/// `POST /api/v1/connections/{id}/restores`: a restore job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RestoreRequestBody {
    /// Delete what the org has and the snapshot does not (never users).
    #[serde(default)]
    pub delete_extra: bool,
    /// Plan only: zero writes; the job's plan is the preview.
    #[serde(default)]
    pub dry_run: bool,
    /// Only these resources (their ids in the snapshot).
    #[serde(default)]
    pub ids: Vec<String>,
    /// Only these kinds.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Update resources that exist but differ.
    #[serde(default)]
    pub overwrite: bool,
    /// Execute exactly the reviewed plan with this fingerprint (from `restore-plans`);
    /// the job fails with `plan_stale`, writing nothing, when the org changed since.
    /// Leave out `snapshot`, `kinds`, `ids`, `overwrite` and `delete_extra` with it.
    #[serde(default)]
    pub plan_fingerprint: Option<String>,
    /// The snapshot (id or prefix); not needed with `plan_fingerprint`.
    #[serde(default)]
    pub snapshot: Option<String>,
}

/// `POST /api/v1/connections/{target}/syncs`: a sync job from a snapshot of another org.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SyncRequestBody {
    /// Delete what the source does not have (never users).
    #[serde(default)]
    pub delete_extra: bool,
    /// Plan only: zero writes.
    #[serde(default)]
    pub dry_run: bool,
    /// Only these kinds.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// The snapshot of the source org (id or prefix).
    pub snapshot: String,
    /// The variables: the CLI's variables file as text (`NAME=value` lines, or its JSON),
    /// or that JSON as an object (`{"variables": {...}, "replace": {...}}`).
    #[serde(default)]
    pub vars: Option<Value>,
}

/// A restore, sync or undo job as the API shows it (`GET /api/v1/restores/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct RestoreJobBody {
    /// The connection written to.
    pub connection_id: Uuid,
    /// Once planned: how many creates, updates, deletes and skips, and the plan's
    /// fingerprint (`plan_fingerprint`).
    pub counts: Option<Value>,
    /// When it was asked for, in seconds since the Unix epoch.
    pub created_at: i64,
    /// Whether it only plans.
    pub dry_run: bool,
    /// Why it failed: a code (`plan_stale`, `plan_refused`, `org_unreachable`,
    /// `steps_failed`...), a colon, and what happened.
    pub error: Option<String>,
    /// When it ended, in seconds since the Unix epoch.
    pub finished_at: Option<i64>,
    /// What must be done by hand afterwards (users without passwords, secrets...).
    pub follow_ups: Vec<FollowUp>,
    /// Identifier.
    pub id: Uuid,
    /// `restore`, `sync` or `undo`.
    pub kind: String,
    /// The org written to.
    pub org: String,
    /// The plan itself (see `restore-plan.schema.json`); only on `GET /restores/{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<RestorePlan>,
    /// What execution did: steps done and failed, the failures, the undo snapshot.
    pub report: Option<Value>,
    /// The request as made (variables by name only).
    pub request: Value,
    /// Who asked (`api_key:<id>`, `member:<id>`).
    pub requested_by: String,
    /// `running`, `succeeded` or `failed`.
    pub status: String,
    /// For an undo, the run it takes back.
    pub undo_of: Option<Uuid>,
}

impl RestoreJobBody {
    /// A job's body with its identity; set the other fields after.
    pub fn new(id: Uuid, kind: impl Into<String>, status: impl Into<String>) -> Self {
        RestoreJobBody {
            connection_id: Uuid::nil(),
            counts: None,
            created_at: 0,
            dry_run: false,
            error: None,
            finished_at: None,
            follow_ups: Vec::new(),
            id,
            kind: kind.into(),
            org: String::new(),
            plan: None,
            report: None,
            request: Value::Null,
            requested_by: String::new(),
            status: status.into(),
            undo_of: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The bodies serialize exactly as the `serde_json` maps the server built before
    /// them (sorted keys), so clients see no change.
    #[test]
    fn bodies_serialize_as_the_maps_they_replace() {
        let error = ApiErrorBody::new(
            ApiErrorDetail::new(
                "forbidden",
                "role `read_only` lacks permission `run_backups`",
            )
            .with_permission(Permission::RunBackups, Role::ReadOnly),
        );
        let map = json!({"error": {
            "code": "forbidden",
            "message": "role `read_only` lacks permission `run_backups`",
            "permission": "run_backups",
            "role": "read_only",
        }});
        assert_eq!(
            serde_json::to_string(&error).unwrap(),
            serde_json::to_string(&map).unwrap()
        );

        let id = Uuid::nil();
        let mut job = BackupJobBody::new(id, "okta_backup", JobStatus::Succeeded);
        job.connection_id = Some(id);
        job.created_at = 1_700_000_000;
        job.finished_at = Some(1_700_000_060);
        job.attempts = 1;
        job.outcome = Some(json!({"seconds": 1.5}));
        let map = json!({
            "id": id, "kind": "okta_backup", "connection_id": id, "status": "succeeded",
            "attempts": 1, "created_at": 1_700_000_000, "finished_at": 1_700_000_060,
            "progress": null, "outcome": {"seconds": 1.5},
        });
        assert_eq!(
            serde_json::to_string(&job).unwrap(),
            serde_json::to_string(&map).unwrap()
        );

        let mut connection = ConnectionBody::new(id, "prod", "okta");
        connection.org_url = "https://example.okta.com".into();
        connection.client_id = "0oa1".into();
        connection.private_key_set = true;
        connection.rate_limit_share = 0.5;
        connection.created_at = 1_700_000_000;
        let map = json!({
            "id": id, "name": "prod", "provider": "okta", "org_url": "https://example.okta.com",
            "client_id": "0oa1", "key_id": null, "private_key_set": true, "scopes": null,
            "rate_limit_share": 0.5, "created_at": 1_700_000_000, "last_test": null,
            "next_run_at": null, "schedule": "manual",
        });
        assert_eq!(
            serde_json::to_string(&connection).unwrap(),
            serde_json::to_string(&map).unwrap()
        );
    }
}
