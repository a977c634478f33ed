-- SSO members are linked to the provider's (issuer, subject) at their first sign-in, and
-- found by it afterwards: a member's email changed at the provider then neither locks
-- them out nor lets another subject with that email take over their account.
CREATE TABLE member_sso_links (
    team_id     TEXT   NOT NULL,
    member_id   TEXT   NOT NULL,
    issuer      TEXT   NOT NULL,
    subject     TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (team_id, issuer, subject),
    UNIQUE (team_id, member_id, issuer),
    FOREIGN KEY (team_id, member_id) REFERENCES members (team_id, id) ON DELETE CASCADE
);
