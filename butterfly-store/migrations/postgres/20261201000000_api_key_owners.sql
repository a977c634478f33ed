-- Every API key has an owner (issue 11, finding 6). A member's key has member_id (and is
-- revoked with the member); a service key has service (the name of what uses it) and no
-- member_id, so it outlives the person who made it. created_by records who created a
-- key either way; it is a record, not a reference, so it survives that member's deletion.
ALTER TABLE api_keys ADD COLUMN service TEXT;
ALTER TABLE api_keys ADD COLUMN created_by TEXT;
