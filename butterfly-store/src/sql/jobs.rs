//! Background jobs, claimed so that each runs once across server replicas.

use butterfly_core::TeamId;
use butterfly_core::store::{Job, JobStatus, JobStore, StoreError};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::rows::{self, JOB_COLUMNS};
use super::{SqlStore, backend_error, write_error};

fn json_text(value: &Value) -> String {
    // Canonical form, so equal payloads are equal text in the database too.
    String::from_utf8_lossy(&butterfly_core::canonical_json(value)).into_owned()
}

impl JobStore for SqlStore {
    async fn enqueue_job(
        &self,
        team: TeamId,
        kind: &str,
        payload: Value,
        run_at: DateTime<Utc>,
    ) -> Result<Job, StoreError> {
        let job = Job {
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
        };
        sqlx::query(
            "INSERT INTO jobs (id, team_id, kind, payload, status, run_at, attempts, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7)",
        )
        .bind(job.id.to_string())
        .bind(team.to_string())
        .bind(&job.kind)
        .bind(json_text(&job.payload))
        .bind(JobStatus::Queued.as_str())
        .bind(rows::to_millis(job.run_at))
        .bind(rows::to_millis(job.created_at))
        .execute(&self.pool)
        .await
        .map_err(write_error("job", "team"))?;
        Ok(job)
    }

    async fn claim_next_job(
        &self,
        worker: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError> {
        sqlx::query(self.backend.claim_job_sql())
            .bind(worker)
            .bind(rows::to_millis(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?
            .map(|row| rows::job(&row))
            .transpose()
    }

    async fn finish_job(
        &self,
        id: Uuid,
        succeeded: bool,
        outcome: Value,
    ) -> Result<(), StoreError> {
        let status = if succeeded {
            JobStatus::Succeeded
        } else {
            JobStatus::Failed
        };
        // Only a running job can finish: a second report for the same job (a worker
        // that lost track) must not overwrite the first outcome.
        let done = sqlx::query(
            "UPDATE jobs SET status = $2, outcome = $3, finished_at = $4 \
             WHERE id = $1 AND status = 'running'",
        )
        .bind(id.to_string())
        .bind(status.as_str())
        .bind(json_text(&outcome))
        .bind(rows::to_millis(self.clock.now()))
        .execute(&self.pool)
        .await
        .map_err(backend_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("running job"));
        }
        Ok(())
    }

    async fn list_jobs(
        &self,
        team: TeamId,
        kind: &str,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE team_id = $1 AND kind = $2 \
             ORDER BY created_at DESC, seq DESC LIMIT $3"
        );
        sqlx::query(&sql)
            .bind(team.to_string())
            .bind(kind)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(backend_error)?
            .iter()
            .map(rows::job)
            .collect()
    }

    async fn set_job_progress(&self, id: Uuid, progress: Value) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET progress = $2, heartbeat_at = $3 WHERE id = $1 AND status = 'running'",
        )
        .bind(id.to_string())
        .bind(json_text(&progress))
        .bind(rows::to_millis(self.clock.now()))
        .execute(&self.pool)
        .await
        .map_err(backend_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("running job"));
        }
        Ok(())
    }

    async fn release_job(&self, id: Uuid, worker: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET status = 'queued', claimed_by = NULL, attempts = attempts - 1 \
             WHERE id = $1 AND status = 'running' AND claimed_by = $2",
        )
        .bind(id.to_string())
        .bind(worker)
        .execute(&self.pool)
        .await
        .map_err(backend_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn requeue_abandoned_jobs(
        &self,
        silent_since: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<u64, StoreError> {
        let silent = rows::to_millis(silent_since);
        // Failed for good once it has used its attempts: a job that kills its worker
        // every time must not loop forever.
        let given_up = json_text(&serde_json::json!({
            "error": "the worker stopped responding too many times",
        }));
        let mut tx = self.pool.begin().await.map_err(backend_error)?;
        let failed = sqlx::query(
            "UPDATE jobs SET status = 'failed', outcome = $3, finished_at = $4 \
             WHERE status = 'running' AND heartbeat_at < $1 AND attempts >= $2",
        )
        .bind(silent)
        .bind(i64::from(max_attempts))
        .bind(&given_up)
        .bind(rows::to_millis(self.clock.now()))
        .execute(&mut *tx)
        .await
        .map_err(backend_error)?;
        let requeued = sqlx::query(
            "UPDATE jobs SET status = 'queued', claimed_by = NULL \
             WHERE status = 'running' AND heartbeat_at < $1 AND attempts < $2",
        )
        .bind(silent)
        .bind(i64::from(max_attempts))
        .execute(&mut *tx)
        .await
        .map_err(backend_error)?;
        tx.commit().await.map_err(backend_error)?;
        Ok(failed.rows_affected() + requeued.rows_affected())
    }

    async fn job(&self, team: TeamId, id: Uuid) -> Result<Option<Job>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE team_id = $1 AND id = $2");
        sqlx::query(&sql)
            .bind(team.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_error)?
            .map(|row| rows::job(&row))
            .transpose()
    }
}
