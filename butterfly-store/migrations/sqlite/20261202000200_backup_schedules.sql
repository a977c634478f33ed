-- Backup schedules: at most one per connection. `spec` is the checked ScheduleSpec as
-- JSON (frequency, at, day, cron, time_zone). `next_run_at` is the slot the scheduler
-- fires next; replicas fire a slot by moving it forward with a compare-and-set, so only
-- one of them queues its job. `paused` is a pause asked for by a person;
-- `paused_until` the 24-hour pause after three consecutive failed scheduled runs.
CREATE TABLE backup_schedules (
    connection_id         TEXT     NOT NULL PRIMARY KEY
                                   REFERENCES backup_connections (id) ON DELETE CASCADE,
    team_id               TEXT     NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    spec                  TEXT     NOT NULL,
    paused                INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    paused_until          BIGINT,
    consecutive_failures  BIGINT   NOT NULL DEFAULT 0,
    next_run_at           BIGINT,
    last_run_at           BIGINT,
    last_job_id           TEXT,
    updated_at            BIGINT   NOT NULL
);
CREATE INDEX backup_schedules_due ON backup_schedules (next_run_at) WHERE paused = 0;
CREATE INDEX backup_schedules_team ON backup_schedules (team_id);

-- The connection a job backs up, and for a scheduled run the slot it fills. One queued
-- or running job per connection (a second backup would share the org's rate limit),
-- and one job per (connection, slot), so a slot never runs twice whatever the replicas
-- do. Older rows have neither and are left out of both indexes.
ALTER TABLE jobs ADD COLUMN connection_id TEXT;
ALTER TABLE jobs ADD COLUMN scheduled_for BIGINT;
CREATE UNIQUE INDEX jobs_one_active_per_connection ON jobs (connection_id)
    WHERE connection_id IS NOT NULL AND status IN ('queued', 'running');
CREATE UNIQUE INDEX jobs_one_per_slot ON jobs (connection_id, scheduled_for)
    WHERE scheduled_for IS NOT NULL;
