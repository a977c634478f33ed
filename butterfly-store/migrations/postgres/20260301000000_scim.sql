-- SCIM resources (Users and Groups) served to provisioning clients, per team.
--
-- `body` is the full representation `get` returns (with `id` and `meta`), as JSONB, so
-- filters walk it without parsing text. The columns beside it are copies the store keeps
-- in step on every write, for indexes:
--   * user_name_ci: a User's `userName` lowercased (Unicode, in Rust), NULL for Groups;
--     unique per team, so two Users cannot share a userName whatever its case;
--   * display_name_ci: a Group's `displayName` likewise, unique per team; display_name
--     keeps it as written, for the `groups` attribute of Users;
--   * external_id, created_ms, modified_ms: served to filters (see butterfly_store::scim).
-- Text compared by filters is in the "C" collation: byte order, as the evaluator
-- compares, and what lets a range (`userName sw "ab"`) use the index.
-- `version` counts writes; the ETag is W/"<version>". `seq` orders by creation.

CREATE TABLE scim_resources (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id         TEXT   NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    resource_type   TEXT   NOT NULL CHECK (resource_type IN ('User', 'Group')),
    id              TEXT   COLLATE "C" NOT NULL,
    version         BIGINT NOT NULL,
    created_ms      BIGINT NOT NULL,
    modified_ms     BIGINT NOT NULL,
    user_name_ci    TEXT   COLLATE "C",
    display_name_ci TEXT   COLLATE "C",
    display_name    TEXT,
    external_id     TEXT   COLLATE "C",
    body            JSONB  NOT NULL,
    UNIQUE (team_id, id)
);
-- Not partial (WHERE resource_type = ...): the type is a bound parameter in queries, so
-- a partial index could not be proven usable. NULLs (the other type) never collide.
CREATE UNIQUE INDEX scim_resources_user_name ON scim_resources (team_id, user_name_ci);
CREATE UNIQUE INDEX scim_resources_group_name ON scim_resources (team_id, display_name_ci);
CREATE INDEX scim_resources_list ON scim_resources (team_id, resource_type, seq);
CREATE INDEX scim_resources_external_id ON scim_resources (team_id, external_id);
CREATE INDEX scim_resources_created ON scim_resources (team_id, created_ms);
CREATE INDEX scim_resources_modified ON scim_resources (team_id, modified_ms);

-- Who is in which Group, kept in step with each Group's `members`, so that the Groups of
-- a User are an index lookup and changing one member of a large Group writes one row.
CREATE TABLE scim_group_members (
    team_id   TEXT NOT NULL,
    group_id  TEXT COLLATE "C" NOT NULL,
    member_id TEXT NOT NULL,
    PRIMARY KEY (team_id, group_id, member_id),
    FOREIGN KEY (team_id, group_id) REFERENCES scim_resources (team_id, id) ON DELETE CASCADE
);
CREATE INDEX scim_group_members_member ON scim_group_members (team_id, member_id);
