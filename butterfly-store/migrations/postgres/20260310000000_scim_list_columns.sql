-- Columns and an index for the list filters provisioning clients send most, such as
-- `name.familyName sw "Sm" and active eq true`: before, each such filter walked the JSON
-- body of every User of the team.
--   * family_name_ci: a User's `name.familyName` lowercased (Unicode, in Rust), when
--     `name` is an object whose `familyName` is a string; NULL otherwise and for Groups;
--     in the "C" collation, like the other compared text, so a prefix is an index range;
--   * active: a User's top-level `active` boolean as 1 or 0; NULL otherwise.
-- As for the other copies, rows whose body has the member in a shape the column cannot
-- stand for (`NAME`, an array...) are flagged `irregular`, and filters consult their body.

ALTER TABLE scim_resources ADD COLUMN family_name_ci TEXT COLLATE "C";
ALTER TABLE scim_resources ADD COLUMN active SMALLINT CHECK (active IN (0, 1));

-- Fill the copies for existing Users. lower() under "C" folds ASCII only, so a family
-- name with other characters (more bytes than characters) is left NULL, and its row
-- flagged below, until its next write fills the column from Rust.
UPDATE scim_resources SET
    family_name_ci = CASE
        WHEN jsonb_typeof(body -> 'name') = 'object'
            AND jsonb_typeof(body -> 'name' -> 'familyName') = 'string'
            AND octet_length(body -> 'name' ->> 'familyName')
                = char_length(body -> 'name' ->> 'familyName')
        THEN lower((body -> 'name' ->> 'familyName') COLLATE "C")
    END,
    active = CASE
        WHEN body -> 'active' = 'true'::jsonb THEN 1
        WHEN body -> 'active' = 'false'::jsonb THEN 0
    END
WHERE resource_type = 'User';

-- Flag what the copies cannot stand for (see IndexedAttribute::needs_body). Flagging too
-- many rows only costs speed; flagging too few would give wrong answers.
UPDATE scim_resources SET irregular = 1
WHERE resource_type = 'User' AND (
    (family_name_ci IS NULL AND (
        (jsonb_typeof(body -> 'name') IS DISTINCT FROM 'object' AND EXISTS (
            SELECT 1 FROM jsonb_each(scim_resources.body) AS k
            WHERE lower(k.key COLLATE "C") = 'name'))
        OR (jsonb_typeof(body -> 'name') = 'object' AND EXISTS (
            SELECT 1 FROM jsonb_each(scim_resources.body -> 'name') AS k
            WHERE lower(k.key COLLATE "C") = 'familyname'))))
    OR (active IS NULL AND EXISTS (
        SELECT 1 FROM jsonb_each(scim_resources.body) AS k
        WHERE lower(k.key COLLATE "C") = 'active')));

-- Leads with team and type like the other per-attribute indexes; `active` rides along so
-- `name.familyName sw ... and active eq ...` is counted from the index alone.
CREATE INDEX scim_resources_family_name
    ON scim_resources (team_id, resource_type, family_name_ci, active);
