-- Every member write (a SCIM User created or changed becomes a member change) checks the
-- team's active super_admins, so the last one is never removed or demoted. Without an
-- index that lookup read every member of the team: about 5 ms per write at 6,000 SCIM
-- Users on SQLite, with writes serialised, and linear in the team's size.
CREATE INDEX members_by_role ON members (team_id, role, active);
