-- "Export to Git after every backup", one setting per backup connection. The token or
-- deploy key arrives sealed (AES-256-GCM under the team's key) and is kept as hex; it
-- is never returned. last_outcome (JSON) is the last export and push, shown on the
-- connection; a failed push stays there until a later export pushes.
CREATE TABLE git_exports (
    connection_id     TEXT    NOT NULL PRIMARY KEY REFERENCES backup_connections (id) ON DELETE CASCADE,
    team_id           TEXT    NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    enabled           INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    remote_url        TEXT    NOT NULL,
    branch            TEXT    NOT NULL,
    credential_kind   TEXT    NOT NULL CHECK (credential_kind IN ('none', 'token', 'deploy_key')),
    token_username    TEXT,
    credential_sealed TEXT    NOT NULL,
    ssh_host_key      TEXT,
    updated_at        BIGINT  NOT NULL,
    last_outcome      TEXT
);
