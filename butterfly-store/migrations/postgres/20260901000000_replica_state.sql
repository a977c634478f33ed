-- What server replicas share to validate SSO tokens as one (see ReplicaCoordination).
-- One-time token ids already used (back-channel logout tokens' jti), per issuer, until
-- they could no longer pass the time checks anyway.
CREATE TABLE used_token_ids (
    scope       TEXT   NOT NULL,
    token_id    TEXT   NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (scope, token_id)
);
CREATE INDEX used_token_ids_expiry ON used_token_ids (expires_at);

-- When each provider key set (JWKS URI) was last refetched by any replica.
CREATE TABLE refresh_claims (
    resource    TEXT   NOT NULL PRIMARY KEY,
    claimed_at  BIGINT NOT NULL
);
