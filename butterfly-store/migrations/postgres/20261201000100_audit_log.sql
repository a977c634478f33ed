-- The audit trail (issue 11): who did what to what, when, in which request, and whether
-- it happened. Append-only: a trigger refuses every UPDATE and DELETE. No foreign key to
-- teams, so the trail outlives what it names.
CREATE TABLE audit_log (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT   NOT NULL UNIQUE,
    team_id     TEXT,
    at          BIGINT NOT NULL,
    actor       TEXT   NOT NULL,
    action      TEXT   NOT NULL,
    target      TEXT,
    request_id  TEXT,
    outcome     TEXT   NOT NULL,
    detail      TEXT   NOT NULL
);
CREATE INDEX audit_log_team_at ON audit_log (team_id, at);

CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
