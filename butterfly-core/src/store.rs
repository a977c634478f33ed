//! Storage traits for what the server keeps in its database.
//!
//! `butterfly-store` implements them on SQLite and PostgreSQL; embedders may implement
//! them on anything else. Every call that reads or writes a team's data takes the
//! [`TeamId`], so an implementation cannot forget tenant isolation. Secrets (API keys,
//! SCIM tokens, session ids) go in as [`RawToken`]s and only their hashes are kept.
//!
//! These traits use native `async fn`-style methods (`-> impl Future + Send`), not
//! `async-trait`: every user is generic over its store (the server's state, the SCIM
//! service, tests), none holds one as `dyn`, so no boxing per call is needed. The
//! traits that are held as objects (`SnapshotSource`, the providers' `Provider` and
//! `Timer`) use `async-trait`.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;
use uuid::Uuid;

use crate::members::{MemberChange, MemberRuleError, MemberWriteOutcome, SignInIdentity};
use crate::token::RawToken;
use crate::{Member, MemberId, Role, Team, TeamId};

/// Errors from a store.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The thing asked for does not exist (in this team).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness rule was broken (team name, member email, ...).
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The stored data could not be read back (corrupt row, unknown enum value).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The member rules refuse the change (see [`crate::members`]).
    #[error("refused by the member rules")]
    Refused(#[source] MemberRuleError),
    /// The database failed.
    #[error("database error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What it takes to create a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMember {
    /// Sign-in email.
    pub email: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Role.
    pub role: Role,
    /// Active or suspended.
    pub active: bool,
    /// Identifier known to the provisioning client.
    pub external_id: Option<String>,
}

/// A change to a member; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemberUpdate {
    /// New email.
    pub email: Option<String>,
    /// New display name (`Some(None)` clears it).
    pub display_name: Option<Option<String>>,
    /// New role.
    pub role: Option<Role>,
    /// Suspend or reactivate.
    pub active: Option<bool>,
    /// New external id (`Some(None)` clears it).
    pub external_id: Option<Option<String>>,
}

/// An API key's stored record (the secret itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Identifier.
    pub id: Uuid,
    /// Owning team.
    pub team_id: TeamId,
    /// The member it acts for; suspending or deleting the member revokes it. `None`
    /// for a service key (see `service`).
    pub member_id: Option<MemberId>,
    /// For a service key, the service it is for (a CI job, Terraform...): it belongs to
    /// no person, so it outlives the member who created it. `None` for a member's key.
    #[serde(default)]
    pub service: Option<String>,
    /// The member who created it, when known: the owner of a member's key, the one who
    /// answers for a service key.
    #[serde(default)]
    pub created_by: Option<MemberId>,
    /// Human label.
    pub name: String,
    /// The role the key acts with.
    pub role: Role,
    /// Non-secret prefix of the key, to tell keys apart in lists.
    pub hint: String,
    /// Creation time.
    #[serde(with = "crate::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// When it was revoked.
    #[serde(with = "crate::rfc3339::option")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A SCIM bearer token's stored record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimToken {
    /// Identifier.
    pub id: Uuid,
    /// Owning team: SCIM requests with this token act on this team only.
    pub team_id: TeamId,
    /// Human label.
    pub name: String,
    /// Non-secret prefix of the token.
    pub hint: String,
    /// Creation time.
    #[serde(with = "crate::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// When it was revoked.
    #[serde(with = "crate::rfc3339::option")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A signed-in browser session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Identifier (not the cookie value, which is stored hashed).
    pub id: Uuid,
    /// Team.
    pub team_id: TeamId,
    /// Member signed in.
    pub member_id: MemberId,
    /// The identity provider's session id (`sid` claim), for back-channel logout.
    pub idp_sid: Option<String>,
    /// The identity provider's subject (`sub` claim).
    pub idp_sub: Option<String>,
    /// Creation time.
    #[serde(with = "crate::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// Expiry.
    #[serde(with = "crate::rfc3339")]
    pub expires_at: DateTime<Utc>,
}

/// What it takes to open a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// Team.
    pub team_id: TeamId,
    /// Member.
    pub member_id: MemberId,
    /// IdP session id.
    pub idp_sid: Option<String>,
    /// IdP subject.
    pub idp_sub: Option<String>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum JobStatus {
    /// Waiting to be claimed.
    Queued,
    /// Claimed by a worker.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with an error.
    Failed,
}

impl JobStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            JobStatus::Queued,
            JobStatus::Running,
            JobStatus::Succeeded,
            JobStatus::Failed,
        ]
        .into_iter()
        .find(|j| j.as_str() == s)
    }
}

/// A unit of background work (a backup, a scheduled export).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Identifier.
    pub id: Uuid,
    /// Team.
    pub team_id: TeamId,
    /// What to do (`backup`, ...).
    pub kind: String,
    /// Parameters.
    pub payload: Value,
    /// Status.
    pub status: JobStatus,
    /// Not to be started before this time.
    #[serde(with = "crate::rfc3339")]
    pub run_at: DateTime<Utc>,
    /// How many times a worker claimed it.
    pub attempts: u32,
    /// The worker that holds it.
    pub claimed_by: Option<String>,
    /// Result or error, once finished.
    pub outcome: Option<Value>,
    /// What the worker last reported while running (counts so far...).
    pub progress: Option<Value>,
    /// When it was queued.
    #[serde(with = "crate::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// When it finished.
    #[serde(with = "crate::rfc3339::option")]
    pub finished_at: Option<DateTime<Utc>>,
}

/// Teams.
pub trait TeamStore: Send + Sync {
    /// Create a team; [`StoreError::Conflict`] if the name is taken.
    fn create_team(&self, name: &str) -> impl Future<Output = Result<Team, StoreError>> + Send;
    /// A team by id.
    fn team(&self, id: TeamId) -> impl Future<Output = Result<Option<Team>, StoreError>> + Send;
    /// A team by name.
    fn team_by_name(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<Team>, StoreError>> + Send;
    /// All teams, by name.
    fn list_teams(&self) -> impl Future<Output = Result<Vec<Team>, StoreError>> + Send;
}

/// Members of a team: reads, and plain writes that apply no member rule.
///
/// A server writes members through [`MemberWriteStore`], which checks the rules (the last
/// super_admin stays, a suspension revokes access) in the transaction that writes; the
/// plain writes here are for set-up, imports and tests.
pub trait MemberStore: Send + Sync {
    /// Add a member; [`StoreError::Conflict`] if the email is taken in the team.
    fn create_member(
        &self,
        team: TeamId,
        member: NewMember,
    ) -> impl Future<Output = Result<Member, StoreError>> + Send;
    /// A member by id.
    fn member(
        &self,
        team: TeamId,
        id: MemberId,
    ) -> impl Future<Output = Result<Option<Member>, StoreError>> + Send;
    /// A member by email, case-insensitively.
    fn member_by_email(
        &self,
        team: TeamId,
        email: &str,
    ) -> impl Future<Output = Result<Option<Member>, StoreError>> + Send;
    /// All members, by email.
    fn list_members(
        &self,
        team: TeamId,
    ) -> impl Future<Output = Result<Vec<Member>, StoreError>> + Send;
    /// Change a member; [`StoreError::NotFound`] if absent.
    fn update_member(
        &self,
        team: TeamId,
        id: MemberId,
        update: MemberUpdate,
    ) -> impl Future<Output = Result<Member, StoreError>> + Send;
    /// Remove a member; false if absent.
    fn delete_member(
        &self,
        team: TeamId,
        id: MemberId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Member writes that obey the member rules ([`crate::members`]), each as one
/// transaction: the team's current members are read, the rules decide, and the change
/// commits with its consequences (revoked sessions and API keys) or not at all. Two
/// concurrent writes to one team are serialized, so they cannot both pass the
/// last-super_admin check. REST, SCIM and SSO sign-in all write members through it.
pub trait MemberWriteStore: Send + Sync {
    /// Apply `changes` in order as one write; [`StoreError::Refused`] (changing nothing)
    /// if the rules refuse them, [`StoreError::Conflict`] if a created or changed email
    /// is taken.
    fn write_members(
        &self,
        team: TeamId,
        changes: Vec<MemberChange>,
    ) -> impl Future<Output = Result<MemberWriteOutcome, StoreError>> + Send;
    /// The member a verified sign-in is, created at first sign-in with `default_role`
    /// ([`crate::members::match_sign_in`]); [`StoreError::Refused`] for a suspended
    /// member or an unverified email.
    fn sign_in_member(
        &self,
        team: TeamId,
        identity: &SignInIdentity,
        default_role: Role,
    ) -> impl Future<Output = Result<Member, StoreError>> + Send;
}

/// API keys.
pub trait ApiKeyStore: Send + Sync {
    /// Create a key; the raw secret is returned once and only its hash is kept.
    fn create_api_key(
        &self,
        team: TeamId,
        name: &str,
        role: Role,
        member: Option<MemberId>,
    ) -> impl Future<Output = Result<(ApiKey, RawToken), StoreError>> + Send;
    /// Create a service key: it acts for no member (suspending `created_by` leaves it
    /// working) and records who created it.
    fn create_service_api_key(
        &self,
        team: TeamId,
        name: &str,
        role: Role,
        service: &str,
        created_by: Option<MemberId>,
    ) -> impl Future<Output = Result<(ApiKey, RawToken), StoreError>> + Send;
    /// The team's keys, revoked ones included, newest first.
    fn list_api_keys(
        &self,
        team: TeamId,
    ) -> impl Future<Output = Result<Vec<ApiKey>, StoreError>> + Send;
    /// Revoke a key; false if absent or already revoked.
    fn revoke_api_key(
        &self,
        team: TeamId,
        id: Uuid,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Revoke every key acting for a member; returns how many.
    fn revoke_api_keys_of_member(
        &self,
        team: TeamId,
        member: MemberId,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// The live key matching a presented secret.
    fn authenticate_api_key(
        &self,
        presented: &RawToken,
    ) -> impl Future<Output = Result<Option<ApiKey>, StoreError>> + Send;
}

/// SCIM bearer tokens.
pub trait ScimTokenStore: Send + Sync {
    /// Create a token; the raw secret is returned once.
    fn create_scim_token(
        &self,
        team: TeamId,
        name: &str,
    ) -> impl Future<Output = Result<(ScimToken, RawToken), StoreError>> + Send;
    /// The team's tokens, newest first.
    fn list_scim_tokens(
        &self,
        team: TeamId,
    ) -> impl Future<Output = Result<Vec<ScimToken>, StoreError>> + Send;
    /// Revoke a token; false if absent or already revoked.
    fn revoke_scim_token(
        &self,
        team: TeamId,
        id: Uuid,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// The live token matching a presented secret.
    fn authenticate_scim_token(
        &self,
        presented: &RawToken,
    ) -> impl Future<Output = Result<Option<ScimToken>, StoreError>> + Send;
}

/// Browser sessions.
pub trait SessionStore: Send + Sync {
    /// Open a session; returns it and the cookie value.
    fn create_session(
        &self,
        session: NewSession,
    ) -> impl Future<Output = Result<(Session, RawToken), StoreError>> + Send;
    /// The live (unrevoked, unexpired at `now`) session for a cookie value.
    fn session_by_token(
        &self,
        presented: &RawToken,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;
    /// End one session.
    fn revoke_session(&self, id: Uuid) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// End every session with this IdP `sid`; returns how many.
    fn revoke_sessions_by_sid(
        &self,
        team: TeamId,
        sid: &str,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// End every session with this IdP `sub`; returns how many.
    fn revoke_sessions_by_sub(
        &self,
        team: TeamId,
        sub: &str,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// End every session of a member; returns how many.
    fn revoke_sessions_of_member(
        &self,
        team: TeamId,
        member: MemberId,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Background jobs, claimed so that each runs exactly once across server replicas.
pub trait JobStore: Send + Sync {
    /// Queue a job.
    fn enqueue_job(
        &self,
        team: TeamId,
        kind: &str,
        payload: Value,
        run_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Job, StoreError>> + Send;
    /// Claim the oldest due job for `worker`, or `None`.
    fn claim_next_job(
        &self,
        worker: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Job>, StoreError>> + Send;
    /// Record a job's end.
    fn finish_job(
        &self,
        id: Uuid,
        succeeded: bool,
        outcome: Value,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A job by id.
    fn job(
        &self,
        team: TeamId,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<Job>, StoreError>> + Send;
    /// The team's jobs of `kind`, newest first, at most `limit`.
    fn list_jobs(
        &self,
        team: TeamId,
        kind: &str,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Job>, StoreError>> + Send;
    /// Record a running job's progress; it doubles as the worker's heartbeat.
    /// [`StoreError::NotFound`] if the job is not running.
    fn set_job_progress(
        &self,
        id: Uuid,
        progress: Value,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Give a running job back to the queue because its worker is stopping cleanly (a
    /// deploy): it is claimable at once, and the interrupted claim does not count as an
    /// attempt. False if `worker` does not hold it (it finished, or was given back).
    fn release_job(
        &self,
        id: Uuid,
        worker: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Give back running jobs whose worker has not been heard from since `silent_since`
    /// (it crashed or was killed): queued again while they have had fewer than
    /// `max_attempts` claims, failed after that. Returns how many were given back.
    fn requeue_abandoned_jobs(
        &self,
        silent_since: DateTime<Utc>,
        max_attempts: u32,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Backup jobs of one connection: at most one queued or running at a time, since two
/// backups of one org would share its rate limit.
pub trait ConnectionJobStore: Send + Sync {
    /// Queue a job that works on `connection`. [`StoreError::Conflict`] when a job of
    /// that connection is already queued or running (see [`Self::active_connection_job`]
    /// for which), or, for a scheduled run, when the slot `scheduled_for` already has its
    /// job.
    fn enqueue_connection_job(
        &self,
        team: TeamId,
        connection: Uuid,
        kind: &str,
        payload: Value,
        run_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Job, StoreError>> + Send;
    /// The queued or running job of `connection`, if any.
    fn active_connection_job(
        &self,
        team: TeamId,
        connection: Uuid,
    ) -> impl Future<Output = Result<Option<Job>, StoreError>> + Send;
}

/// A connection's backup schedule and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupSchedule {
    /// The connection it backs up (one schedule per connection).
    pub connection_id: Uuid,
    /// The team.
    pub team_id: TeamId,
    /// When it runs.
    pub spec: crate::schedule::ScheduleSpec,
    /// Paused by a person (`schedules pause`) until resumed.
    pub paused: bool,
    /// Paused after repeated failures until this time.
    #[serde(with = "crate::rfc3339::option")]
    pub paused_until: Option<DateTime<Utc>>,
    /// Scheduled runs that failed in a row since the last success or save.
    pub consecutive_failures: u32,
    /// The slot it fires next.
    #[serde(with = "crate::rfc3339::option")]
    pub next_run_at: Option<DateTime<Utc>>,
    /// The last slot it fired.
    #[serde(with = "crate::rfc3339::option")]
    pub last_run_at: Option<DateTime<Utc>>,
    /// The job of the last slot it fired.
    pub last_job_id: Option<Uuid>,
    /// When it was last saved.
    #[serde(with = "crate::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

/// What firing a due schedule did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ScheduleFiring {
    /// Its run was queued as this job.
    Queued(Box<Job>),
    /// The slot was used up, but a backup of the connection was already queued or
    /// running, so no second one was queued.
    Busy,
    /// Another scheduler (a replica) fired this slot first, or the schedule changed.
    AlreadyFired,
}

/// Backup schedules, per connection.
pub trait ScheduleStore: Send + Sync {
    /// Save the schedule of `connection` (replacing any), running next at
    /// `next_run_at`: a save clears the failure count and any pause.
    fn put_schedule(
        &self,
        team: TeamId,
        connection: Uuid,
        spec: crate::schedule::ScheduleSpec,
        next_run_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<BackupSchedule, StoreError>> + Send;
    /// The schedule of `connection`.
    fn schedule(
        &self,
        team: TeamId,
        connection: Uuid,
    ) -> impl Future<Output = Result<Option<BackupSchedule>, StoreError>> + Send;
    /// The team's schedules.
    fn list_schedules(
        &self,
        team: TeamId,
    ) -> impl Future<Output = Result<Vec<BackupSchedule>, StoreError>> + Send;
    /// Remove a schedule (the connection goes back to manual backups).
    fn delete_schedule(
        &self,
        team: TeamId,
        connection: Uuid,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Pause (`next_run_at` = `None`) or resume (from `next_run_at`, failure count and
    /// failure pause cleared) a schedule; false if there is none.
    fn set_schedule_paused(
        &self,
        team: TeamId,
        connection: Uuid,
        paused: bool,
        next_run_at: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Schedules of every team due at `now` (not paused by a person, `next_run_at` at or
    /// before `now`), at most `limit`, the most overdue first.
    fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<BackupSchedule>, StoreError>> + Send;
    /// Fire the slot `schedule.next_run_at`: move the schedule on to `next_run_at` and
    /// queue the run, in one transaction. Only a caller that saw the current slot moves
    /// it, so with every replica's scheduler awake a slot fires once.
    fn fire_schedule(
        &self,
        schedule: &BackupSchedule,
        next_run_at: DateTime<Utc>,
        kind: &str,
        payload: Value,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<ScheduleFiring, StoreError>> + Send;
    /// Count a finished run of `connection`: a success (scheduled or manual) clears the
    /// failure count and a failure pause; a failed scheduled run adds one. Returns the
    /// schedule as it is now, `None` if the connection has none.
    fn record_schedule_outcome(
        &self,
        team: TeamId,
        connection: Uuid,
        succeeded: bool,
        scheduled: bool,
    ) -> impl Future<Output = Result<Option<BackupSchedule>, StoreError>> + Send;
    /// Pause a failing schedule until `until`, picking up at `next_run_at`.
    fn pause_schedule_until(
        &self,
        team: TeamId,
        connection: Uuid,
        until: DateTime<Utc>,
        next_run_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// A team's access to one identity provider org, for backups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupConnection {
    /// Identifier.
    pub id: Uuid,
    /// The team that owns it.
    pub team_id: TeamId,
    /// A name unique in the team (`okta-prod`).
    pub name: String,
    /// The provider (`okta`).
    pub provider: String,
    /// The org's base URL.
    pub org_url: String,
    /// The service app's client id.
    pub client_id: String,
    /// The key id registered with the app, when it has several.
    pub key_id: Option<String>,
    /// The app's private key (PEM), sealed by the caller; never returned.
    #[serde(skip_serializing)]
    pub private_key_sealed: Vec<u8>,
    /// Scopes to request instead of every scope a backup reads.
    pub scopes: Option<Vec<String>>,
    /// The share of each rate-limit bucket backups may use, in percent (1 to 100).
    pub rate_limit_percent: u8,
    /// When it was created.
    #[serde(with = "crate::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// The outcome of the last connection test, if any.
    pub last_test: Option<Value>,
}

/// Backup connections, per team.
pub trait ConnectionStore: Send + Sync {
    /// Add a connection; [`StoreError::Conflict`] if the team has one of that name.
    fn create_connection(
        &self,
        connection: BackupConnection,
    ) -> impl Future<Output = Result<BackupConnection, StoreError>> + Send;
    /// The team's connections, by name.
    fn list_connections(
        &self,
        team: TeamId,
    ) -> impl Future<Output = Result<Vec<BackupConnection>, StoreError>> + Send;
    /// One of the team's connections.
    fn connection(
        &self,
        team: TeamId,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<BackupConnection>, StoreError>> + Send;
    /// Remove a connection; false if the team has no such connection.
    fn delete_connection(
        &self,
        team: TeamId,
        id: Uuid,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Keep the outcome of a connection test; false if there is no such connection.
    fn record_connection_test(
        &self,
        team: TeamId,
        id: Uuid,
        outcome: Value,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// A connection's "export to Git after every backup" setting (permission `manage
/// integrations`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GitExportSetting {
    /// The backup connection it belongs to (one setting per connection).
    pub connection_id: Uuid,
    /// The team that owns the connection.
    pub team_id: TeamId,
    /// Whether each successful backup is exported and pushed.
    pub enabled: bool,
    /// The remote to push to (`https://...`, `ssh://...`, `git@host:path`).
    pub remote_url: String,
    /// The branch committed to and pushed.
    pub branch: String,
    /// `none`, `token` (HTTPS) or `deploy_key` (SSH).
    pub credential_kind: String,
    /// The user name sent with a token.
    pub token_username: Option<String>,
    /// The token or the deploy key's private key, sealed by the caller; never returned.
    #[serde(skip_serializing)]
    pub credential_sealed: Vec<u8>,
    /// The SSH host key to accept (`ssh-ed25519 AAAA...` or `SHA256:...`).
    pub ssh_host_key: Option<String>,
    /// Last change.
    #[serde(with = "crate::rfc3339")]
    pub updated_at: DateTime<Utc>,
    /// The outcome of the last export and push (`ok`, `commit`, `error`, `pending_push`,
    /// `at`), if any ran.
    pub last_outcome: Option<Value>,
}

/// Git export settings, one per backup connection.
pub trait GitExportStore: Send + Sync {
    /// Create or replace a connection's setting (its last outcome is kept);
    /// [`StoreError::NotFound`] if the team has no such connection.
    fn put_git_export(
        &self,
        setting: GitExportSetting,
    ) -> impl Future<Output = Result<GitExportSetting, StoreError>> + Send;
    /// A connection's setting.
    fn git_export(
        &self,
        team: TeamId,
        connection: Uuid,
    ) -> impl Future<Output = Result<Option<GitExportSetting>, StoreError>> + Send;
    /// Remove a connection's setting; false if it had none.
    fn delete_git_export(
        &self,
        team: TeamId,
        connection: Uuid,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Keep the outcome of an export and push; false if there is no setting.
    fn record_git_export_outcome(
        &self,
        team: TeamId,
        connection: Uuid,
        outcome: Value,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// A team's OpenID Connect SSO connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoConnection {
    /// The team it signs in to.
    pub team_id: TeamId,
    /// The provider's issuer URL.
    pub issuer: String,
    /// Our client id at the provider.
    pub client_id: String,
    /// The client secret, sealed by the caller (never stored or returned in clear).
    #[serde(skip_serializing)]
    pub client_secret_sealed: Vec<u8>,
    /// Email domains routed to this connection, lowercased; each belongs to one team.
    pub domains: Vec<String>,
    /// Role given to members created just in time at first sign-in.
    pub default_role: Role,
    /// Last change.
    #[serde(with = "crate::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

/// SSO connections, one per team.
pub trait SsoStore: Send + Sync {
    /// Create or replace the team's connection; [`StoreError::Conflict`] if a domain
    /// already belongs to another team.
    fn put_sso_connection(
        &self,
        connection: SsoConnection,
    ) -> impl Future<Output = Result<SsoConnection, StoreError>> + Send;
    /// The team's connection.
    fn sso_connection(
        &self,
        team: TeamId,
    ) -> impl Future<Output = Result<Option<SsoConnection>, StoreError>> + Send;
    /// The connection an email domain routes to.
    fn sso_connection_for_domain(
        &self,
        domain: &str,
    ) -> impl Future<Output = Result<Option<SsoConnection>, StoreError>> + Send;
    /// Every connection with this issuer (several teams may share one provider).
    fn sso_connections_for_issuer(
        &self,
        issuer: &str,
    ) -> impl Future<Output = Result<Vec<SsoConnection>, StoreError>> + Send;
    /// Remove the team's connection; false if it had none.
    fn delete_sso_connection(
        &self,
        team: TeamId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Group push: which role membership of a provisioned group grants, per team. Group
/// names compare case-insensitively; a member's role is the highest one their groups
/// (and their own `butterflyRole`, if set) grant.
pub trait GroupRoleStore: Send + Sync {
    /// Replace the team's whole mapping (group display name -> role).
    fn set_group_roles(
        &self,
        team: TeamId,
        roles: std::collections::BTreeMap<String, Role>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The team's mapping, keyed by the names as they were set.
    fn group_roles(
        &self,
        team: TeamId,
    ) -> impl Future<Output = Result<std::collections::BTreeMap<String, Role>, StoreError>> + Send;
}

/// What several server replicas must agree on to validate SSO tokens as one: which
/// one-time token ids were used, and when a provider's keys were last refetched. Kept in
/// the shared database, with expiry, so a logout token replayed to another replica is
/// refused and a flood of unknown-key tokens spread over replicas still costs the
/// provider one refetch per interval.
///
/// Held as `Arc<dyn ReplicaCoordination>` by `butterfly-oidc`'s validators, hence
/// `async-trait` (the other store traits are only used generically).
#[async_trait::async_trait]
pub trait ReplicaCoordination: Send + Sync + std::fmt::Debug {
    /// Record `token_id` under `scope` (an issuer) until `expires_at`; `false` if it was
    /// already recorded and has not expired (a replay). Expired records are forgotten.
    async fn first_use(
        &self,
        scope: &str,
        token_id: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Claim the right to refresh `resource` (a JWKS URI) now: `false` if any replica
    /// claimed it less than `interval` ago.
    async fn claim_refresh(
        &self,
        resource: &str,
        now: DateTime<Utc>,
        interval: chrono::TimeDelta,
    ) -> Result<bool, StoreError>;
}

/// Whether an audited action happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditOutcome {
    /// It was done.
    Success,
    /// It was refused (a failed authentication, a denied permission).
    Denied,
}

impl AuditOutcome {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Success => "success",
            AuditOutcome::Denied => "denied",
        }
    }
}

/// One line of the audit trail: who did what to what, when, in which request, and
/// whether it happened. Never holds a secret: keys and tokens are named by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Identifier.
    pub id: Uuid,
    /// The team it concerns; `None` when no team is known (a key nobody has).
    pub team_id: Option<TeamId>,
    /// When.
    #[serde(with = "crate::rfc3339")]
    pub at: DateTime<Utc>,
    /// Who: `member:<id>`, `api_key:<id>`, `scim_token:<id>`, `sso:<issuer>`,
    /// `admin-cli`, `anonymous` or `system`.
    pub actor: String,
    /// What: `api_key.created`, `member.suspended`, `auth.failed`...
    pub action: String,
    /// What it was done to (`member:<id>`, `api_key:<id>`...), if anything.
    pub target: Option<String>,
    /// The request it happened in (the `X-Request-Id` answered), if any.
    pub request_id: Option<String>,
    /// Whether it happened.
    pub outcome: AuditOutcome,
    /// Non-secret details (a role before and after, a name).
    pub detail: Value,
}

/// An audit line to record; the store adds the id and the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// The team it concerns, if known.
    pub team_id: Option<TeamId>,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// To what.
    pub target: Option<String>,
    /// In which request.
    pub request_id: Option<String>,
    /// Whether it happened.
    pub outcome: AuditOutcome,
    /// Non-secret details.
    pub detail: Value,
}

/// The audit trail: append-only (the tables refuse updates and deletes).
pub trait AuditStore: Send + Sync {
    /// Append one entry.
    fn record_audit(
        &self,
        entry: NewAuditEntry,
    ) -> impl Future<Output = Result<AuditEntry, StoreError>> + Send;
    /// The entries of `team` (or, for `None`, those of no team) at or after `since`,
    /// oldest first.
    fn list_audit(
        &self,
        team: Option<TeamId>,
        since: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<Vec<AuditEntry>, StoreError>> + Send;
}
