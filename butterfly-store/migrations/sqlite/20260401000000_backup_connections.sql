-- Backup connections: a team's access to an identity provider org (an Okta service app
-- with private_key_jwt). The private key arrives sealed (AES-256-GCM under the team's
-- key) and is kept as hex; it is never returned. Names are unique per team.
CREATE TABLE backup_connections (
    id                  TEXT    NOT NULL PRIMARY KEY,
    team_id             TEXT    NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name                TEXT    NOT NULL,
    provider            TEXT    NOT NULL,
    org_url             TEXT    NOT NULL,
    client_id           TEXT    NOT NULL,
    key_id              TEXT,
    private_key_sealed  TEXT    NOT NULL,
    -- JSON array of scope names, or NULL for every scope a backup reads.
    scopes              TEXT,
    rate_limit_percent  INTEGER NOT NULL CHECK (rate_limit_percent BETWEEN 1 AND 100),
    created_at          BIGINT  NOT NULL,
    -- JSON: the outcome of the last "test connection".
    last_test           TEXT,
    UNIQUE (team_id, name)
);

-- Jobs report progress while they run; each report is also the worker's heartbeat, so a
-- job whose worker died (kill -9, lost node) is noticed and given back to the queue.
ALTER TABLE jobs ADD COLUMN progress TEXT;
ALTER TABLE jobs ADD COLUMN heartbeat_at BIGINT;
CREATE INDEX jobs_team_kind ON jobs (team_id, kind, created_at);
