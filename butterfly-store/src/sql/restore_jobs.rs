//! Restore, sync and undo runs started through the server, and the plans reviewed before
//! them (tables `restore_jobs` and `restore_plans`).
//!
//! One writing run per org at a time, whichever replica started it: a run that writes
//! holds the org in `active_org`, under a unique index, until it finishes. A second
//! [`SqlStore::start_restore_job`] for the same org inserts nothing and is told which run
//! holds it ([`RestoreStart::Busy`]). A run whose server died stops beating; the next
//! start for its org fails it (as abandoned) and takes the org, so a crash never locks an
//! org for good. Dry runs write nothing and hold nothing.
//!
//! Plans are stored sealed (the caller seals them under the team's key): they carry
//! resource names and field values, which belong with the encrypted snapshots, not in
//! the database in clear.

use butterfly_core::TeamId;
use butterfly_core::store::StoreError;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::{SqlStore, backend_error, rows};

/// How a run ended, or that it is still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestoreJobStatus {
    /// Planning or writing.
    Running,
    /// Every step done (or, for a dry run, the plan made).
    Succeeded,
    /// Refused, stopped, or some steps failed.
    Failed,
}

impl RestoreJobStatus {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreJobStatus::Running => "running",
            RestoreJobStatus::Succeeded => "succeeded",
            RestoreJobStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "running" => Ok(RestoreJobStatus::Running),
            "succeeded" => Ok(RestoreJobStatus::Succeeded),
            "failed" => Ok(RestoreJobStatus::Failed),
            other => Err(StoreError::Corrupt(format!(
                "column status: unknown restore status `{other}`"
            ))),
        }
    }
}

/// What it takes to start a run.
#[derive(Debug, Clone)]
pub struct NewRestoreJob {
    /// The team.
    pub team_id: TeamId,
    /// The connection written to.
    pub connection_id: Uuid,
    /// The org written to (its URL): one writing run per org.
    pub org: String,
    /// `restore`, `sync` or `undo`.
    pub kind: String,
    /// Whether the run only plans.
    pub dry_run: bool,
    /// The request as made (snapshot, kinds, ids, options; never variables' values).
    pub request: Value,
    /// Who asked (`member:<id>`, `api_key:<id>`).
    pub requested_by: String,
    /// For an undo, the run it takes back.
    pub undo_of: Option<Uuid>,
}

/// A run as stored.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RestoreJob {
    /// Its id.
    pub id: Uuid,
    /// The team.
    pub team_id: TeamId,
    /// The connection written to.
    pub connection_id: Uuid,
    /// The org written to.
    pub org: String,
    /// `restore`, `sync` or `undo`.
    pub kind: String,
    /// Where it stands.
    pub status: RestoreJobStatus,
    /// Whether it only plans.
    pub dry_run: bool,
    /// The request as made.
    pub request: Value,
    /// Who asked.
    pub requested_by: String,
    /// For an undo, the run it takes back.
    pub undo_of: Option<Uuid>,
    /// The plan, sealed, once made.
    pub plan_sealed: Option<Vec<u8>>,
    /// What the run did (counts, failures, undo snapshot), once finished.
    pub report: Option<Value>,
    /// The run's journal records (ids and actions only), once finished.
    pub journal: Option<Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When its server last showed it alive.
    pub heartbeat_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
}

/// The outcome of [`SqlStore::start_restore_job`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RestoreStart {
    /// The run is recorded (and holds its org, unless a dry run).
    Started(Box<RestoreJob>),
    /// Another run writes to the org.
    Busy {
        /// That run.
        job_id: Uuid,
        /// Its team (another team may have a connection to the same org).
        team_id: TeamId,
        /// When it started.
        since: DateTime<Utc>,
    },
}

/// The end of a run, for [`SqlStore::finish_restore_job`].
#[derive(Debug, Clone)]
pub struct RestoreFinish {
    /// Whether it succeeded.
    pub succeeded: bool,
    /// What it did.
    pub report: Option<Value>,
    /// Its journal.
    pub journal: Option<Value>,
    /// Why it failed.
    pub error: Option<String>,
}

const COLUMNS: &str = "id, team_id, connection_id, org, kind, status, dry_run, request, \
     requested_by, undo_of, plan_sealed, report, journal, error, created_at, heartbeat_at, \
     finished_at";

fn read(row: &AnyRow) -> Result<RestoreJob, StoreError> {
    let request = rows::text(row, "request")?;
    Ok(RestoreJob {
        id: rows::uuid(row, "id")?,
        team_id: rows::team_id(row, "team_id")?,
        connection_id: rows::uuid(row, "connection_id")?,
        org: rows::text(row, "org")?,
        kind: rows::text(row, "kind")?,
        status: RestoreJobStatus::parse(&rows::text(row, "status")?)?,
        dry_run: rows::boolean(row, "dry_run")?,
        request: serde_json::from_str(&request)
            .map_err(|e| StoreError::Corrupt(format!("column request: {e}")))?,
        requested_by: rows::text(row, "requested_by")?,
        undo_of: rows::opt_text(row, "undo_of")?
            .map(|t| Uuid::parse_str(&t))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("column undo_of: {e}")))?,
        plan_sealed: rows::opt_text(row, "plan_sealed")?
            .map(hex::decode)
            .transpose()
            .map_err(|_| StoreError::Corrupt("column plan_sealed: not hex".into()))?,
        report: rows::opt_json(row, "report")?,
        journal: rows::opt_json(row, "journal")?,
        error: rows::opt_text(row, "error")?,
        created_at: rows::time(row, "created_at")?,
        heartbeat_at: rows::time(row, "heartbeat_at")?,
        finished_at: rows::opt_time(row, "finished_at")?,
    })
}

impl SqlStore {
    /// Record a new run and, unless it is a dry run, take its org. A writing run of the
    /// org whose heartbeat is older than `stale_before` is failed as abandoned first.
    pub async fn start_restore_job(
        &self,
        new: NewRestoreJob,
        stale_before: DateTime<Utc>,
    ) -> Result<RestoreStart, StoreError> {
        let now = rows::truncate_millis(self.clock.now())?;
        if !new.dry_run {
            sqlx::query(
                "UPDATE restore_jobs SET status = 'failed', active_org = NULL, finished_at = $2, \
                 error = 'abandoned: the server running it stopped before it finished' \
                 WHERE active_org = $1 AND heartbeat_at < $3",
            )
            .bind(&new.org)
            .bind(rows::to_millis(now))
            .bind(rows::to_millis(stale_before))
            .execute(&self.pool)
            .await
            .map_err(backend_error)?;
        }
        let job = RestoreJob {
            id: Uuid::new_v4(),
            team_id: new.team_id,
            connection_id: new.connection_id,
            org: new.org,
            kind: new.kind,
            status: RestoreJobStatus::Running,
            dry_run: new.dry_run,
            request: new.request,
            requested_by: new.requested_by,
            undo_of: new.undo_of,
            plan_sealed: None,
            report: None,
            journal: None,
            error: None,
            created_at: now,
            heartbeat_at: now,
            finished_at: None,
        };
        // One statement decides: of two replicas starting a run of one org at once, the
        // unique index on `active_org` lets exactly one row in.
        let inserted = sqlx::query(
            "INSERT INTO restore_jobs (id, team_id, connection_id, org, kind, status, dry_run, \
             request, requested_by, undo_of, active_org, created_at, heartbeat_at) \
             VALUES ($1, $2, $3, $4, $5, 'running', $6, $7, $8, $9, $10, $11, $11)",
        )
        .bind(job.id.to_string())
        .bind(job.team_id.to_string())
        .bind(job.connection_id.to_string())
        .bind(&job.org)
        .bind(&job.kind)
        .bind(rows::flag(job.dry_run))
        .bind(job.request.to_string())
        .bind(&job.requested_by)
        .bind(job.undo_of.map(|u| u.to_string()))
        .bind((!job.dry_run).then(|| job.org.clone()))
        .bind(rows::to_millis(now))
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(RestoreStart::Started(Box::new(job))),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                let holder = sqlx::query(
                    "SELECT id, team_id, created_at FROM restore_jobs WHERE active_org = $1",
                )
                .bind(&job.org)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend_error)?;
                match holder {
                    Some(row) => Ok(RestoreStart::Busy {
                        job_id: rows::uuid(&row, "id")?,
                        team_id: rows::team_id(&row, "team_id")?,
                        since: rows::time(&row, "created_at")?,
                    }),
                    // It finished in between: the caller may simply ask again.
                    None => Err(StoreError::Conflict("running restore of this org")),
                }
            }
            Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
                Err(StoreError::NotFound("team"))
            }
            Err(e) => Err(backend_error(e)),
        }
    }

    /// Show the run alive (see [`SqlStore::start_restore_job`]).
    pub async fn restore_job_heartbeat(&self, id: Uuid) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE restore_jobs SET heartbeat_at = $2 WHERE id = $1 AND status = 'running'",
        )
        .bind(id.to_string())
        .bind(rows::to_millis(self.clock.now()))
        .execute(&self.pool)
        .await
        .map_err(backend_error)?;
        Ok(())
    }

    /// Keep the run's plan (sealed) once it is made.
    pub async fn set_restore_job_plan(&self, id: Uuid, sealed: &[u8]) -> Result<(), StoreError> {
        sqlx::query("UPDATE restore_jobs SET plan_sealed = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(hex::encode(sealed))
            .execute(&self.pool)
            .await
            .map_err(backend_error)?;
        Ok(())
    }

    /// End a running run and free its org. `NotFound` when it is not running (an
    /// abandoned run failed meanwhile by another start keeps that verdict).
    pub async fn finish_restore_job(
        &self,
        id: Uuid,
        finish: RestoreFinish,
    ) -> Result<(), StoreError> {
        let status = if finish.succeeded {
            RestoreJobStatus::Succeeded
        } else {
            RestoreJobStatus::Failed
        };
        let done = sqlx::query(
            "UPDATE restore_jobs SET status = $2, report = $3, journal = $4, error = $5, \
             finished_at = $6, active_org = NULL WHERE id = $1 AND status = 'running'",
        )
        .bind(id.to_string())
        .bind(status.as_str())
        .bind(finish.report.map(|v| v.to_string()))
        .bind(finish.journal.map(|v| v.to_string()))
        .bind(finish.error)
        .bind(rows::to_millis(self.clock.now()))
        .execute(&self.pool)
        .await
        .map_err(backend_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("running restore"));
        }
        Ok(())
    }

    /// One run of the team.
    pub async fn restore_job(
        &self,
        team: TeamId,
        id: Uuid,
    ) -> Result<Option<RestoreJob>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM restore_jobs WHERE team_id = $1 AND id = $2");
        sqlx::query(&sql)
            .bind(team.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?
            .as_ref()
            .map(read)
            .transpose()
    }

    /// The team's runs, newest first.
    pub async fn list_restore_jobs(
        &self,
        team: TeamId,
        limit: u32,
    ) -> Result<Vec<RestoreJob>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM restore_jobs WHERE team_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        sqlx::query(&sql)
            .bind(team.to_string())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(backend_error)?
            .iter()
            .map(read)
            .collect()
    }

    /// Keep a reviewed plan (sealed), keyed by its fingerprint in the team. Saving the
    /// same plan again keeps the first copy.
    pub async fn save_restore_plan(
        &self,
        team: TeamId,
        fingerprint: &str,
        connection: Uuid,
        sealed: &[u8],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO restore_plans (team_id, fingerprint, connection_id, plan_sealed, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (team_id, fingerprint) DO NOTHING",
        )
        .bind(team.to_string())
        .bind(fingerprint)
        .bind(connection.to_string())
        .bind(hex::encode(sealed))
        .bind(rows::to_millis(self.clock.now()))
        .execute(&self.pool)
        .await
        .map_err(backend_error)?;
        Ok(())
    }

    /// A reviewed plan of the team: its connection and the sealed plan.
    pub async fn restore_plan(
        &self,
        team: TeamId,
        fingerprint: &str,
    ) -> Result<Option<(Uuid, Vec<u8>)>, StoreError> {
        let row = sqlx::query(
            "SELECT connection_id, plan_sealed FROM restore_plans \
             WHERE team_id = $1 AND fingerprint = $2",
        )
        .bind(team.to_string())
        .bind(fingerprint)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend_error)?;
        row.map(|row| {
            let sealed = hex::decode(rows::text(&row, "plan_sealed")?)
                .map_err(|_| StoreError::Corrupt("column plan_sealed: not hex".into()))?;
            Ok((rows::uuid(&row, "connection_id")?, sealed))
        })
        .transpose()
    }
}
