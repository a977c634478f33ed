-- Filters answered from an indexed column consult the JSON body only for rows flagged
-- `irregular` (a column NULL while the body still has a member of that name, in some
-- case or shape), which a small partial index finds, instead of every row where the
-- column is NULL. The per-attribute indexes also lead with the type, so the fallback
-- never wanders into the other type's rows.

ALTER TABLE scim_resources ADD COLUMN irregular INTEGER NOT NULL DEFAULT 0 CHECK (irregular IN (0, 1));

DROP INDEX scim_resources_external_id;
DROP INDEX scim_resources_created;
DROP INDEX scim_resources_modified;
CREATE INDEX scim_resources_external_id ON scim_resources (team_id, resource_type, external_id);
CREATE INDEX scim_resources_created ON scim_resources (team_id, resource_type, created_ms);
CREATE INDEX scim_resources_modified ON scim_resources (team_id, resource_type, modified_ms);

-- Representative statistics, so the planner uses these indexes from the first query:
-- without any, SQLite prefers the (team, type) listing index to an OR of two index
-- lookups, and scans a team's every resource for `userName eq "..."`. ANALYZE (or
-- PRAGMA optimize) replaces them with measured ones; format: rows, then rows per
-- distinct value of each leading column prefix. ANALYZE on the still empty table only
-- makes sure sqlite_stat1 exists.
ANALYZE scim_resources;
DELETE FROM sqlite_stat1 WHERE tbl IN ('scim_resources', 'scim_group_members');
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('scim_resources', 'sqlite_autoindex_scim_resources_1', '100000 10000 1'),
    ('scim_resources', 'scim_resources_list', '100000 10000 5000 1'),
    ('scim_resources', 'scim_resources_user_name', '100000 10000 1'),
    ('scim_resources', 'scim_resources_group_name', '100000 10000 1'),
    ('scim_resources', 'scim_resources_external_id', '100000 10000 5000 1'),
    ('scim_resources', 'scim_resources_created', '100000 10000 5000 2'),
    ('scim_resources', 'scim_resources_modified', '100000 10000 5000 2'),
    ('scim_resources', 'scim_resources_irregular', '10 5 2'),
    ('scim_group_members', 'sqlite_autoindex_scim_group_members_1', '1000000 100000 1000 1'),
    ('scim_group_members', 'scim_group_members_member', '1000000 100000 10');

-- Created last: changing the schema makes every connection reload it, statistics
-- included.
CREATE INDEX scim_resources_irregular ON scim_resources (team_id, resource_type) WHERE irregular = 1;
