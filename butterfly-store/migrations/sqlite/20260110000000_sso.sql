-- OpenID Connect SSO connections: one per team; each email domain routes to one team.
-- The client secret arrives sealed (AES-256-GCM under the team's key) and is kept as hex.
CREATE TABLE sso_connections (
    team_id              TEXT    NOT NULL PRIMARY KEY REFERENCES teams (id) ON DELETE CASCADE,
    issuer               TEXT    NOT NULL,
    client_id            TEXT    NOT NULL,
    client_secret_sealed TEXT    NOT NULL,
    default_role         TEXT    NOT NULL,
    updated_at           BIGINT  NOT NULL
);
CREATE INDEX sso_connections_issuer ON sso_connections (issuer);

CREATE TABLE sso_domains (
    domain   TEXT NOT NULL PRIMARY KEY,
    team_id  TEXT NOT NULL REFERENCES sso_connections (team_id) ON DELETE CASCADE
);
CREATE INDEX sso_domains_team ON sso_domains (team_id);
