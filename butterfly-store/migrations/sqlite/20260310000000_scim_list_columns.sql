-- Columns and an index for the list filters provisioning clients send most, such as
-- `name.familyName sw "Sm" and active eq true`: before, each such filter walked the JSON
-- body of every User of the team (a quarter of a second per request at 10K Users, half
-- a minute at 100K).
--   * family_name_ci: a User's `name.familyName` lowercased (Unicode, in Rust), when
--     `name` is an object whose `familyName` is a string; NULL otherwise and for Groups;
--   * active: a User's top-level `active` boolean as 1 or 0; NULL otherwise.
-- As for the other copies, rows whose body has the member in a shape the column cannot
-- stand for (`NAME`, an array...) are flagged `irregular`, and filters consult their body.

ALTER TABLE scim_resources ADD COLUMN family_name_ci TEXT;
ALTER TABLE scim_resources ADD COLUMN active INTEGER CHECK (active IN (0, 1));

-- Fill the copies for existing Users. SQLite's lower() folds ASCII only, so a family
-- name with other characters (more bytes than characters) is left NULL, and its row
-- flagged below, until its next write fills the column from Rust.
UPDATE scim_resources SET
    family_name_ci = CASE
        WHEN json_type(body, '$.name') = 'object'
            AND json_type(body, '$.name.familyName') = 'text'
            AND length(CAST(json_extract(body, '$.name.familyName') AS BLOB))
                = length(json_extract(body, '$.name.familyName'))
        THEN lower(json_extract(body, '$.name.familyName'))
    END,
    active = CASE json_type(body, '$.active') WHEN 'true' THEN 1 WHEN 'false' THEN 0 END
WHERE resource_type = 'User';

-- Flag what the copies cannot stand for (see IndexedAttribute::needs_body). Flagging too
-- many rows only costs speed; flagging too few would give wrong answers.
UPDATE scim_resources SET irregular = 1
WHERE resource_type = 'User' AND (
    (family_name_ci IS NULL AND (
        (json_type(body, '$.name') IS NOT 'object' AND EXISTS (
            SELECT 1 FROM json_each(scim_resources.body) AS k WHERE lower(k.key) = 'name'))
        OR (json_type(body, '$.name') = 'object' AND EXISTS (
            SELECT 1 FROM json_each(scim_resources.body, '$.name') AS k
            WHERE lower(k.key) = 'familyname'))))
    OR (active IS NULL AND EXISTS (
        SELECT 1 FROM json_each(scim_resources.body) AS k WHERE lower(k.key) = 'active')));

-- Statistics for the new index (rows, then rows per distinct value of each leading
-- prefix: team, type, family name, active), as the earlier SCIM migration seeds them,
-- so the planner picks it from the first query. Inserted before the index is created,
-- since creating it makes every connection reload the schema, statistics included.
DELETE FROM sqlite_stat1 WHERE tbl = 'scim_resources' AND idx = 'scim_resources_family_name';
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('scim_resources', 'scim_resources_family_name', '100000 10000 5000 50 25');

-- Leads with team and type like the other per-attribute indexes; `active` rides along so
-- `name.familyName sw ... and active eq ...` is counted from the index alone.
CREATE INDEX scim_resources_family_name
    ON scim_resources (team_id, resource_type, family_name_ci, active);
