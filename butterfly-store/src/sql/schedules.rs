//! Backup schedules, fired once per slot across replicas.
//!
//! A schedule's `next_run_at` is the slot it fires next. Every replica's scheduler may
//! see it due at the same moment; firing moves `next_run_at` on with a compare-and-set
//! (`WHERE next_run_at = <the slot it saw>`) in the transaction that queues the job, so
//! exactly one of them queues it. PostgreSQL makes the second writer wait on the row
//! lock and then re-check the condition, which no longer holds; SQLite admits one
//! writer at a time. The unique index on `jobs (connection_id, scheduled_for)` stands
//! behind it: a slot can never have two jobs.

use butterfly_core::TeamId;
use butterfly_core::schedule::ScheduleSpec;
use butterfly_core::store::{
    BackupSchedule, ConnectionJobStore, Job, JobStatus, ScheduleFiring, ScheduleStore, StoreError,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::rows::{self, JOB_COLUMNS};
use super::{SqlStore, backend_error, write_error};

const COLUMNS: &str = "connection_id, team_id, spec, paused, paused_until, \
     consecutive_failures, next_run_at, last_run_at, last_job_id, updated_at";

fn schedule(row: &AnyRow) -> Result<BackupSchedule, StoreError> {
    let spec: ScheduleSpec = serde_json::from_value(rows::json(row, "spec")?)
        .map_err(|e| StoreError::Corrupt(format!("column spec: {e}")))?;
    let paused: i64 = rows::get(row, "paused")?;
    let failures: i64 = rows::get(row, "consecutive_failures")?;
    Ok(BackupSchedule {
        connection_id: rows::uuid(row, "connection_id")?,
        team_id: rows::team_id(row, "team_id")?,
        spec,
        paused: paused != 0,
        paused_until: rows::opt_time(row, "paused_until")?,
        consecutive_failures: u32::try_from(failures)
            .map_err(|e| StoreError::Corrupt(format!("column consecutive_failures: {e}")))?,
        next_run_at: rows::opt_time(row, "next_run_at")?,
        last_run_at: rows::opt_time(row, "last_run_at")?,
        last_job_id: rows::opt_text(row, "last_job_id")?
            .map(|id| {
                Uuid::parse_str(&id)
                    .map_err(|e| StoreError::Corrupt(format!("column last_job_id: {e}")))
            })
            .transpose()?,
        updated_at: rows::time(row, "updated_at")?,
    })
}

fn json_text(value: &Value) -> String {
    String::from_utf8_lossy(&butterfly_core::canonical_json(value)).into_owned()
}

/// Whether a failed write broke a uniqueness rule (the one-job-per-connection or the
/// one-job-per-slot index).
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl SqlStore {
    async fn schedule_row(
        &self,
        team: TeamId,
        connection: Uuid,
    ) -> Result<Option<BackupSchedule>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM backup_schedules WHERE team_id = $1 AND connection_id = $2"
        );
        sqlx::query(&sql)
            .bind(team.to_string())
            .bind(connection.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?
            .as_ref()
            .map(schedule)
            .transpose()
    }

    /// The job row to insert for `connection`, with its slot when scheduled.
    fn connection_job(
        &self,
        team: TeamId,
        kind: &str,
        payload: Value,
        run_at: DateTime<Utc>,
    ) -> Result<Job, StoreError> {
        Ok(Job {
            id: Uuid::new_v4(),
            team_id: team,
            kind: kind.to_owned(),
            payload,
            status: JobStatus::Queued,
            run_at: rows::truncate_millis(run_at)?,
            attempts: 0,
            claimed_by: None,
            outcome: None,
            progress: None,
            created_at: rows::truncate_millis(self.clock.now())?,
            finished_at: None,
        })
    }
}

const INSERT_CONNECTION_JOB: &str = "INSERT INTO jobs (id, team_id, kind, payload, status, \
     run_at, attempts, created_at, connection_id, scheduled_for) \
     VALUES ($1, $2, $3, $4, 'queued', $5, 0, $6, $7, $8)";

impl ConnectionJobStore for SqlStore {
    async fn enqueue_connection_job(
        &self,
        team: TeamId,
        connection: Uuid,
        kind: &str,
        payload: Value,
        run_at: DateTime<Utc>,
    ) -> Result<Job, StoreError> {
        let job = self.connection_job(team, kind, payload, run_at)?;
        sqlx::query(INSERT_CONNECTION_JOB)
            .bind(job.id.to_string())
            .bind(team.to_string())
            .bind(&job.kind)
            .bind(json_text(&job.payload))
            .bind(rows::to_millis(job.run_at))
            .bind(rows::to_millis(job.created_at))
            .bind(connection.to_string())
            .bind(None::<i64>)
            .execute(&self.pool)
            .await
            .map_err(write_error("backup of this connection", "team"))?;
        Ok(job)
    }

    async fn active_connection_job(
        &self,
        team: TeamId,
        connection: Uuid,
    ) -> Result<Option<Job>, StoreError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE team_id = $1 AND connection_id = $2 \
             AND status IN ('queued', 'running')"
        );
        sqlx::query(&sql)
            .bind(team.to_string())
            .bind(connection.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?
            .map(|row| rows::job(&row))
            .transpose()
    }
}

impl ScheduleStore for SqlStore {
    async fn put_schedule(
        &self,
        team: TeamId,
        connection: Uuid,
        spec: ScheduleSpec,
        next_run_at: DateTime<Utc>,
    ) -> Result<BackupSchedule, StoreError> {
        let spec_json = serde_json::to_value(&spec)
            .map_err(|e| StoreError::Corrupt(format!("schedule spec: {e}")))?;
        let now = rows::to_millis(self.clock.now());
        // The connection must be the team's: checked in the same statement, so a
        // schedule can never point at another team's connection.
        let done = sqlx::query(
            "INSERT INTO backup_schedules (connection_id, team_id, spec, paused, paused_until, \
             consecutive_failures, next_run_at, updated_at) \
             SELECT id, team_id, $3, 0, NULL, 0, $4, $5 FROM backup_connections \
             WHERE team_id = $1 AND id = $2 \
             ON CONFLICT (connection_id) DO UPDATE SET spec = excluded.spec, paused = 0, \
             paused_until = NULL, consecutive_failures = 0, \
             next_run_at = excluded.next_run_at, updated_at = excluded.updated_at",
        )
        .bind(team.to_string())
        .bind(connection.to_string())
        .bind(json_text(&spec_json))
        .bind(rows::to_millis(next_run_at))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(backend_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("connection"));
        }
        self.schedule_row(team, connection)
            .await?
            .ok_or(StoreError::NotFound("schedule"))
    }

    async fn schedule(
        &self,
        team: TeamId,
        connection: Uuid,
    ) -> Result<Option<BackupSchedule>, StoreError> {
        self.schedule_row(team, connection).await
    }

    async fn list_schedules(&self, team: TeamId) -> Result<Vec<BackupSchedule>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM backup_schedules WHERE team_id = $1 ORDER BY connection_id"
        );
        sqlx::query(&sql)
            .bind(team.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(backend_error)?
            .iter()
            .map(schedule)
            .collect()
    }

    async fn delete_schedule(&self, team: TeamId, connection: Uuid) -> Result<bool, StoreError> {
        let done =
            sqlx::query("DELETE FROM backup_schedules WHERE team_id = $1 AND connection_id = $2")
                .bind(team.to_string())
                .bind(connection.to_string())
                .execute(&self.pool)
                .await
                .map_err(backend_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_schedule_paused(
        &self,
        team: TeamId,
        connection: Uuid,
        paused: bool,
        next_run_at: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let sql = if paused {
            "UPDATE backup_schedules SET paused = 1, next_run_at = $3, updated_at = $4 \
             WHERE team_id = $1 AND connection_id = $2"
        } else {
            "UPDATE backup_schedules SET paused = 0, next_run_at = $3, updated_at = $4, \
             paused_until = NULL, consecutive_failures = 0 \
             WHERE team_id = $1 AND connection_id = $2"
        };
        let done = sqlx::query(sql)
            .bind(team.to_string())
            .bind(connection.to_string())
            .bind(next_run_at.map(rows::to_millis))
            .bind(rows::to_millis(self.clock.now()))
            .execute(&self.pool)
            .await
            .map_err(backend_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<BackupSchedule>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM backup_schedules WHERE paused = 0 \
             AND next_run_at IS NOT NULL AND next_run_at <= $1 \
             ORDER BY next_run_at, connection_id LIMIT $2"
        );
        sqlx::query(&sql)
            .bind(rows::to_millis(now))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(backend_error)?
            .iter()
            .map(schedule)
            .collect()
    }

    async fn fire_schedule(
        &self,
        fired: &BackupSchedule,
        next_run_at: DateTime<Utc>,
        kind: &str,
        payload: Value,
        now: DateTime<Utc>,
    ) -> Result<ScheduleFiring, StoreError> {
        let Some(slot) = fired.next_run_at else {
            return Ok(ScheduleFiring::AlreadyFired);
        };
        let job = self.connection_job(fired.team_id, kind, payload, now)?;
        let mut tx = self.pool.begin().await.map_err(backend_error)?;
        // The compare-and-set: only the scheduler that saw this slot moves it on.
        let moved = sqlx::query(
            "UPDATE backup_schedules SET next_run_at = $3, last_run_at = $4 \
             WHERE team_id = $1 AND connection_id = $2 AND paused = 0 AND next_run_at = $4",
        )
        .bind(fired.team_id.to_string())
        .bind(fired.connection_id.to_string())
        .bind(rows::to_millis(next_run_at))
        .bind(rows::to_millis(slot))
        .execute(&mut *tx)
        .await
        .map_err(backend_error)?;
        if moved.rows_affected() == 0 {
            tx.rollback().await.map_err(backend_error)?;
            return Ok(ScheduleFiring::AlreadyFired);
        }
        // A backup of the connection already queued or running (a manual one) takes
        // this slot's place: the slot is used up either way. On PostgreSQL a failed
        // statement aborts the transaction, so the insert is conditional instead of
        // relying on the unique index to refuse it.
        let inserted = sqlx::query(
            "INSERT INTO jobs (id, team_id, kind, payload, status, run_at, attempts, \
             created_at, connection_id, scheduled_for) \
             SELECT $1, $2, $3, $4, 'queued', $5, 0, $6, $7, $8 \
             WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE connection_id = $7 \
             AND (status IN ('queued', 'running') OR scheduled_for = $8))",
        )
        .bind(job.id.to_string())
        .bind(fired.team_id.to_string())
        .bind(&job.kind)
        .bind(json_text(&job.payload))
        .bind(rows::to_millis(job.run_at))
        .bind(rows::to_millis(job.created_at))
        .bind(fired.connection_id.to_string())
        .bind(rows::to_millis(slot))
        .execute(&mut *tx)
        .await;
        let inserted = match inserted {
            Ok(done) => done.rows_affected() > 0,
            // A manual backup queued between the check and the insert.
            Err(e) if is_unique_violation(&e) => {
                tx.rollback().await.map_err(backend_error)?;
                return Ok(ScheduleFiring::Busy);
            }
            Err(e) => return Err(backend_error(e)),
        };
        if inserted {
            sqlx::query(
                "UPDATE backup_schedules SET last_job_id = $3 \
                 WHERE team_id = $1 AND connection_id = $2",
            )
            .bind(fired.team_id.to_string())
            .bind(fired.connection_id.to_string())
            .bind(job.id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(backend_error)?;
        }
        tx.commit().await.map_err(backend_error)?;
        Ok(if inserted {
            ScheduleFiring::Queued(Box::new(job))
        } else {
            ScheduleFiring::Busy
        })
    }

    async fn record_schedule_outcome(
        &self,
        team: TeamId,
        connection: Uuid,
        succeeded: bool,
        scheduled: bool,
    ) -> Result<Option<BackupSchedule>, StoreError> {
        let sql = match (succeeded, scheduled) {
            (true, _) => {
                "UPDATE backup_schedules SET consecutive_failures = 0, paused_until = NULL \
                 WHERE team_id = $1 AND connection_id = $2"
            }
            (false, true) => {
                "UPDATE backup_schedules SET consecutive_failures = consecutive_failures + 1 \
                 WHERE team_id = $1 AND connection_id = $2"
            }
            // A failed manual run leaves the scheduled runs' count alone.
            (false, false) => return self.schedule_row(team, connection).await,
        };
        sqlx::query(sql)
            .bind(team.to_string())
            .bind(connection.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend_error)?;
        self.schedule_row(team, connection).await
    }

    async fn pause_schedule_until(
        &self,
        team: TeamId,
        connection: Uuid,
        until: DateTime<Utc>,
        next_run_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE backup_schedules SET paused_until = $3, next_run_at = $4 \
             WHERE team_id = $1 AND connection_id = $2",
        )
        .bind(team.to_string())
        .bind(connection.to_string())
        .bind(rows::to_millis(until))
        .bind(rows::to_millis(next_run_at))
        .execute(&self.pool)
        .await
        .map_err(backend_error)?;
        Ok(done.rows_affected() > 0)
    }
}
