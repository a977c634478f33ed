-- CLI sign-in (issue 18): the OAuth 2.0 device authorization grant (RFC 8628).
--
-- A device authorization is one pending `butterfly login`: the CLI holds the device
-- code (stored here as its SHA-256), the member types or follows the user code. Once a
-- member approves it, the next poll turns it into a grant: one sign-in of one member on
-- one machine, with a short-lived access token and a rotating refresh token (both stored
-- as hashes). Revoking the grant (logout, back-channel logout, suspension, deletion)
-- ends every token it issued. idp_sid and idp_sub are the SSO session's the member
-- approved from, so a back-channel logout for that session or subject reaches the grant.
CREATE TABLE device_authorizations (
    id               TEXT    NOT NULL PRIMARY KEY,
    device_code_hash TEXT    NOT NULL UNIQUE,
    user_code        TEXT    NOT NULL UNIQUE,
    client_id        TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'consumed')),
    team_id          TEXT,
    member_id        TEXT,
    idp_sid          TEXT,
    idp_sub          TEXT,
    interval_secs    BIGINT NOT NULL,
    last_polled_at   BIGINT,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    FOREIGN KEY (team_id, member_id) REFERENCES members (team_id, id) ON DELETE CASCADE
);

CREATE TABLE cli_grants (
    id          TEXT    NOT NULL PRIMARY KEY,
    team_id     TEXT    NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    member_id   TEXT    NOT NULL,
    client_id   TEXT    NOT NULL,
    idp_sid     TEXT,
    idp_sub     TEXT,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    FOREIGN KEY (team_id, member_id) REFERENCES members (team_id, id) ON DELETE CASCADE
);
CREATE INDEX cli_grants_member ON cli_grants (team_id, member_id);
CREATE INDEX cli_grants_sid ON cli_grants (team_id, idp_sid);
CREATE INDEX cli_grants_sub ON cli_grants (team_id, idp_sub);

-- kind: 'access' or 'refresh'. used_at: when a refresh token was exchanged; presenting
-- it again is reuse (RFC 6819 5.2.2.3, OAuth 2.0 Security BCP 4.14) and revokes the grant.
CREATE TABLE cli_tokens (
    id          TEXT    NOT NULL PRIMARY KEY,
    grant_id    TEXT    NOT NULL REFERENCES cli_grants (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL CHECK (kind IN ('access', 'refresh')),
    token_hash  TEXT    NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX cli_tokens_grant ON cli_tokens (grant_id);
