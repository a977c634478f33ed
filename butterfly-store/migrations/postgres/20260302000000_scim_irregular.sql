-- Filters answered from an indexed column consult the JSON body only for rows flagged
-- `irregular` (a column NULL while the body still has a member of that name, in some
-- case or shape), which a small partial index finds, instead of every row where the
-- column is NULL. The per-attribute indexes also lead with the type, so the fallback
-- never wanders into the other type's rows.

ALTER TABLE scim_resources ADD COLUMN irregular SMALLINT NOT NULL DEFAULT 0 CHECK (irregular IN (0, 1));

DROP INDEX scim_resources_external_id;
DROP INDEX scim_resources_created;
DROP INDEX scim_resources_modified;
CREATE INDEX scim_resources_external_id ON scim_resources (team_id, resource_type, external_id);
CREATE INDEX scim_resources_created ON scim_resources (team_id, resource_type, created_ms);
CREATE INDEX scim_resources_modified ON scim_resources (team_id, resource_type, modified_ms);
CREATE INDEX scim_resources_irregular ON scim_resources (team_id, resource_type) WHERE irregular = 1;
