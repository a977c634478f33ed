-- Retention policies (issue 15): one per team (connection_id '') and, overriding it, one
-- per backup connection. The policy is the JSON of butterfly_core::retention::RetentionPolicy.
-- Legal holds are not here: they live in each team's snapshot repository, beside the
-- snapshots they pin, so they hold for every process that prunes it.
CREATE TABLE retention_policies (
    team_id       TEXT   NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    connection_id TEXT   NOT NULL DEFAULT '',
    policy        TEXT   NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (team_id, connection_id)
);
