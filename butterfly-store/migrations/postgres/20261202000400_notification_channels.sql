-- Notification channels: where a team hears about failed backups, paused schedules and
-- critical drift. `config` is JSON (a webhook's URL; an SMTP relay, sender and
-- recipients); the webhook's signing secret or the SMTP password arrives sealed
-- (AES-256-GCM under the team's key), is kept as hex and is never returned. `events` is
-- a JSON array of event names. Names are unique per team.
CREATE TABLE notification_channels (
    id             TEXT    NOT NULL PRIMARY KEY,
    team_id        TEXT    NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    config         TEXT    NOT NULL,
    secret_sealed  TEXT,
    events         TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    UNIQUE (team_id, name)
);
