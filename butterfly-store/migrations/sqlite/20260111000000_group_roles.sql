-- Group push: the role that membership of a provisioned group grants, per team.
-- group_name_norm is the display name lower-cased in Rust, so both databases agree on
-- what counts as the same group.
CREATE TABLE scim_group_roles (
    team_id          TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    group_name_norm  TEXT NOT NULL,
    group_name       TEXT NOT NULL,
    role             TEXT NOT NULL,
    PRIMARY KEY (team_id, group_name_norm)
);
