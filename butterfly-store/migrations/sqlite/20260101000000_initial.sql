-- Butterfly's server tables on SQLite.
--
-- Conventions shared with the PostgreSQL schema, so one query text serves both through
-- sqlx's Any driver:
--   * ids are UUIDs in TEXT (hyphenated, lowercase);
--   * times are INTEGER unix milliseconds;
--   * booleans are INTEGER 0/1 (the Any driver cannot decode SQLite's BOOLEAN);
--   * JSON is TEXT;
--   * secrets are stored only as the hex SHA-256 of the raw value (token_hash);
--   * `seq` orders rows created within the same millisecond (newest first, FIFO jobs).
-- Team-scoped children reference (team_id, member id) together, so the database itself
-- refuses a row that points at another team's member.

CREATE TABLE teams (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE members (
    id           TEXT    NOT NULL PRIMARY KEY,
    team_id      TEXT    NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    email        TEXT    NOT NULL,
    -- Lower-cased in Rust, not with SQL lower(), so both databases fold case alike.
    email_norm   TEXT    NOT NULL,
    display_name TEXT,
    role         TEXT    NOT NULL,
    active       INTEGER NOT NULL CHECK (active IN (0, 1)),
    external_id  TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (team_id, email_norm),
    UNIQUE (team_id, id)
);

CREATE TABLE api_keys (
    seq         INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE,
    team_id     TEXT    NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    member_id   TEXT,
    name        TEXT    NOT NULL,
    role        TEXT    NOT NULL,
    hint        TEXT    NOT NULL,
    token_hash  TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER,
    FOREIGN KEY (team_id, member_id) REFERENCES members (team_id, id) ON DELETE CASCADE
);
CREATE INDEX api_keys_team ON api_keys (team_id, created_at);
CREATE INDEX api_keys_member ON api_keys (team_id, member_id);

CREATE TABLE scim_tokens (
    seq         INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE,
    team_id     TEXT    NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    hint        TEXT    NOT NULL,
    token_hash  TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX scim_tokens_team ON scim_tokens (team_id, created_at);

CREATE TABLE sessions (
    id          TEXT    NOT NULL PRIMARY KEY,
    team_id     TEXT    NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    member_id   TEXT    NOT NULL,
    idp_sid     TEXT,
    idp_sub     TEXT,
    token_hash  TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER,
    FOREIGN KEY (team_id, member_id) REFERENCES members (team_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_sid ON sessions (team_id, idp_sid);
CREATE INDEX sessions_sub ON sessions (team_id, idp_sub);
CREATE INDEX sessions_member ON sessions (team_id, member_id);

CREATE TABLE jobs (
    seq         INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE,
    team_id     TEXT    NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    run_at      INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    claimed_by  TEXT,
    claimed_at  INTEGER,
    finished_at INTEGER,
    outcome     TEXT,
    created_at  INTEGER NOT NULL
);
-- The claim query scans queued jobs in run_at order; the partial index keeps finished
-- jobs out of it.
CREATE INDEX jobs_due ON jobs (run_at, seq) WHERE status = 'queued';
CREATE INDEX jobs_team ON jobs (team_id);
