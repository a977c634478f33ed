-- Restore, sync and undo runs started through the server (see sql/restore_jobs.rs).
-- `active_org` holds the org URL while a run that writes is in progress and is NULL
-- otherwise: its unique index lets one writing run per org exist at a time, across
-- every replica sharing the database (NULLs never collide). Plans are sealed under the
-- team's key (they carry names and field values); journals hold ids and actions only.
CREATE TABLE restore_jobs (
    id              TEXT    NOT NULL PRIMARY KEY,
    team_id         TEXT    NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    connection_id   TEXT    NOT NULL,
    org             TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    dry_run         INTEGER NOT NULL CHECK (dry_run IN (0, 1)),
    request         TEXT    NOT NULL,
    requested_by    TEXT    NOT NULL,
    undo_of         TEXT,
    active_org      TEXT,
    plan_sealed     TEXT,
    report          TEXT,
    journal         TEXT,
    error           TEXT,
    created_at      BIGINT  NOT NULL,
    heartbeat_at    BIGINT  NOT NULL,
    finished_at     BIGINT
);
CREATE UNIQUE INDEX restore_jobs_one_per_org ON restore_jobs (active_org);
CREATE INDEX restore_jobs_team ON restore_jobs (team_id, created_at);

-- Plans made by `POST /connections/{id}/restore-plans`, kept so that a restore can
-- execute exactly the plan that was reviewed (by its fingerprint).
CREATE TABLE restore_plans (
    team_id         TEXT    NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    fingerprint     TEXT    NOT NULL,
    connection_id   TEXT    NOT NULL,
    plan_sealed     TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    PRIMARY KEY (team_id, fingerprint)
);
