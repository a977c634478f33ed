//! SCIM Users as team members: a [`ScimStore`] whose User and Group writes also write the
//! team's members, for a server that mounts `butterfly-scim`'s service (as
//! `butterfly-server` does at `/scim/v2`) and for importers that seed it.
//!
//! [`MemberLinkedStore`] wraps the SCIM resource store. Every User write also writes the
//! team member with the same email, in the same transaction and through the member rules
//! ([`butterfly_core::members`], the store's one member write):
//!
//! - the role is the highest of the User's own `butterflyRole` (Butterfly extension)
//!   and the roles the team's group-push mapping gives the Groups the User is in
//!   (`read_only` when neither says anything); adding a User to a mapped Group promotes
//!   it, removing it demotes it;
//! - `active: false` suspends the member and at once ends their sessions and revokes
//!   their API keys; deleting the User removes the member;
//! - the last active super_admin of a team can be neither demoted, deactivated nor
//!   deleted through SCIM, by any path (POST, PUT, PATCH, DELETE, `/Bulk`, a Group
//!   change, a mapping change): the rules judge the members as stored, whichever User
//!   reaches them, and refuse with 400 `mutability`, storing no part of the request.
//!
//! A User with no email (RFC 7643 requires only `userName`) is kept as a SCIM resource
//! but grants no access until it has one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use butterfly_core::members::{MemberChange, MemberRuleError, effective_role, group_roles};
use butterfly_core::store::{GroupRoleStore, MemberStore, MemberUpdate, NewMember, StoreError};
use butterfly_core::{Role, TeamId};
use butterfly_scim::store::{
    ListQuery, QueryPage, ResolvedMember, ResourceType, ScimStore, ScimStoreError, StoredResource,
};
use butterfly_scim::{ScimError, ScimService, ScimType, schemas};
use serde_json::Value;

use super::{ScimWrite, SqlStore};

/// How often a write without an expected version is tried again after losing a
/// compare-and-swap race with another writer.
const WRITE_ATTEMPTS: usize = 8;

/// Group display name (lower-cased) -> role.
type GroupRoles = BTreeMap<String, Role>;

/// What a SCIM User means for team membership.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Membership {
    email: String,
    display_name: Option<String>,
    /// The User's own `butterflyRole`, if set.
    own_role: Option<Role>,
    /// The role in effect, once groups are taken into account.
    role: Role,
    active: bool,
    external_id: Option<String>,
}

impl Membership {
    /// Read the membership out of a User's (normalised) attributes; `None` for a User
    /// with no email.
    fn of_user(user: &Value) -> Result<Option<Self>, ScimStoreError> {
        let emails = user.get("emails").and_then(Value::as_array);
        let primary = emails.and_then(|list| {
            list.iter()
                .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
                .or_else(|| list.first())
                .and_then(|e| e.get("value"))
                .and_then(Value::as_str)
        });
        let user_name = user.get("userName").and_then(Value::as_str);
        let Some(email) = primary.or(user_name.filter(|u| u.contains('@'))) else {
            return Ok(None);
        };
        let own_role = match user
            .get(schemas::BUTTERFLY_USER)
            .and_then(|ext| ext.get("butterflyRole"))
        {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(name.parse().map_err(|_| {
                rejected(
                    400,
                    ScimType::InvalidValue,
                    &format!("unknown butterflyRole `{name}`"),
                )
            })?),
            Some(_) => {
                return Err(rejected(
                    400,
                    ScimType::InvalidValue,
                    "butterflyRole must be a string",
                ));
            }
        };
        let display_name = user
            .get("displayName")
            .and_then(Value::as_str)
            .or_else(|| user.pointer("/name/formatted").and_then(Value::as_str))
            .map(str::to_owned);
        Ok(Some(Membership {
            email: email.to_owned(),
            display_name,
            own_role,
            role: own_role.unwrap_or(Role::ReadOnly),
            active: user.get("active").and_then(Value::as_bool).unwrap_or(true),
            external_id: user
                .get("externalId")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }))
    }

    /// Set the role in effect for membership of `groups` (id, display name): the
    /// member rules' [`effective_role`].
    #[must_use]
    fn in_groups(mut self, groups: &[(String, String)], mapping: &GroupRoles) -> Self {
        self.role = effective_role(
            self.own_role,
            group_roles(mapping, groups.iter().map(|(_, name)| name.as_str())),
        );
        self
    }
}

/// A member's membership before and after one change.
type Change = (Option<Membership>, Membership);

fn rejected(status: u16, scim_type: ScimType, detail: &str) -> ScimStoreError {
    ScimStoreError::Rejected {
        status,
        scim_type: Some(scim_type),
        detail: detail.to_owned(),
    }
}

fn backend(e: StoreError) -> ScimStoreError {
    match e {
        StoreError::Conflict(what) => ScimStoreError::Uniqueness(format!("{what} already exists")),
        StoreError::Refused(MemberRuleError::LastSuperAdmin) => rejected(
            400,
            ScimType::Mutability,
            "the team's last super_admin cannot be demoted, deactivated or deleted by SCIM",
        ),
        other => ScimStoreError::Backend(Box::new(other)),
    }
}

/// The ids in a Group's `members`.
fn member_ids(group: Option<&Value>) -> BTreeSet<String> {
    group
        .and_then(|g| g.get("members"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("value").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// The member change that makes, in `write`, the member for `now`: the member with the
/// User's previous email (`before`) or its new one, updated, or a new member. Read in
/// the write, after [`ScimWrite::lock_team_members`], so it is still true at commit.
async fn member_change(
    write: &mut ScimWrite,
    team: TeamId,
    before: Option<&Membership>,
    now: &Membership,
) -> Result<MemberChange, ScimStoreError> {
    let mut existing = None;
    for email in before
        .map(|b| b.email.as_str())
        .into_iter()
        .chain([now.email.as_str()])
    {
        existing = write.member_by_email(team, email).await.map_err(backend)?;
        if existing.is_some() {
            break;
        }
    }
    let Some(member) = existing else {
        return Ok(MemberChange::Create(NewMember {
            email: now.email.clone(),
            display_name: now.display_name.clone(),
            role: now.role,
            active: now.active,
            external_id: now.external_id.clone(),
        }));
    };
    let mut update = MemberUpdate::new();
    update.email = Some(now.email.clone());
    update.display_name = Some(now.display_name.clone());
    update.role = Some(now.role);
    update.active = Some(now.active);
    update.external_id = Some(now.external_id.clone());
    Ok(MemberChange::update(member.id, update))
}

/// Write, in `write`, the members for `changes` through the member rules, as one batch:
/// refused (400 `mutability`) if it would leave the team without an active super_admin,
/// judged on the members as stored, whichever User or Group asked. A suspension revokes
/// the member's sessions and API keys in the same transaction, so it takes effect at
/// once, not when tokens expire.
async fn sync_members(
    write: &mut ScimWrite,
    team: TeamId,
    changes: &[Change],
) -> Result<(), ScimStoreError> {
    let mut member_changes = Vec::with_capacity(changes.len());
    for (before, after) in changes {
        member_changes.push(member_change(write, team, before.as_ref(), after).await?);
    }
    if member_changes.is_empty() {
        return Ok(());
    }
    write
        .write_members(team, member_changes)
        .await
        .map(drop)
        .map_err(backend)
}

/// The membership a stored User stands for, in `groups` (the Groups that list it).
fn membership_with(
    stored: &StoredResource,
    groups: &[(String, String)],
    mapping: &GroupRoles,
) -> Option<Membership> {
    // A stored User whose role no longer parses counts as having none, so it can still
    // be fixed or deleted.
    Membership::of_user(&stored.resource)
        .ok()
        .flatten()
        .map(|m| m.in_groups(groups, mapping))
}

/// A SCIM store whose Users are also the team's members.
#[derive(Debug, Clone)]
pub struct MemberLinkedStore<S> {
    inner: S,
    members: Arc<SqlStore>,
}

impl<S: ScimStore> MemberLinkedStore<S> {
    /// Wrap `inner` (where SCIM resources live), linking Users to members in `members`.
    pub fn new(inner: S, members: Arc<SqlStore>) -> Self {
        MemberLinkedStore { inner, members }
    }

    async fn mapping(&self, team: TeamId) -> Result<GroupRoles, ScimStoreError> {
        Ok(self
            .members
            .group_roles(team)
            .await
            .map_err(backend)?
            .into_iter()
            .map(|(name, role)| (name.to_lowercase(), role))
            .collect())
    }

    /// The membership a stored User stands for, with its current groups, and those
    /// groups (id, display name).
    async fn membership_of(
        &self,
        team: TeamId,
        id: &str,
        mapping: &GroupRoles,
    ) -> Result<(Option<Membership>, Vec<(String, String)>), ScimStoreError> {
        let stored = match self.inner.get(team, ResourceType::User, id).await {
            Ok(stored) => stored,
            Err(ScimStoreError::NotFound) => return Ok((None, Vec::new())),
            Err(e) => return Err(e),
        };
        self.membership_in(team, &stored, mapping).await
    }

    /// [`membership_of`](Self::membership_of) for a User already read.
    async fn membership_in(
        &self,
        team: TeamId,
        stored: &StoredResource,
        mapping: &GroupRoles,
    ) -> Result<(Option<Membership>, Vec<(String, String)>), ScimStoreError> {
        let groups = self.inner.groups_of_user(team, &stored.meta.id).await?;
        let membership = membership_with(stored, &groups, mapping);
        Ok((membership, groups))
    }

    /// The role changes a Group write causes: for every User in the Group before or
    /// after, its membership with the Group's old and new state. `group_id` is `None`
    /// for a Group being created, `new` is `None` for one being deleted.
    async fn group_changes(
        &self,
        team: TeamId,
        group_id: Option<&str>,
        new: Option<&Value>,
    ) -> Result<Vec<Change>, ScimStoreError> {
        let mapping = self.mapping(team).await?;
        if mapping.is_empty() {
            return Ok(Vec::new());
        }
        let old = match group_id {
            Some(id) => Some(
                self.inner
                    .get(team, ResourceType::Group, id)
                    .await?
                    .resource,
            ),
            None => None,
        };
        let new_name = new
            .and_then(|g| g.get("displayName"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let new_members = member_ids(new);
        let mut changes = Vec::new();
        for uid in member_ids(old.as_ref()).union(&new_members) {
            let Ok(user) = self.inner.get(team, ResourceType::User, uid).await else {
                continue; // a nested Group, or a member that no longer exists
            };
            let Some(membership) = Membership::of_user(&user.resource).ok().flatten() else {
                continue;
            };
            let mut groups = self.inner.groups_of_user(team, uid).await?;
            let before = membership.clone().in_groups(&groups, &mapping);
            groups.retain(|(gid, _)| Some(gid.as_str()) != group_id);
            if new_members.contains(uid) {
                groups.push((group_id.unwrap_or_default().to_owned(), new_name.to_owned()));
            }
            let after = membership.in_groups(&groups, &mapping);
            if before.role != after.role {
                changes.push((Some(before), after));
            }
        }
        Ok(changes)
    }
}

/// Writes: each SCIM request's resource and member changes commit as one transaction
/// of the SQL store ([`ScimWrite`]), so a failure leaves neither half and a request costs
/// one commit.
impl MemberLinkedStore<SqlStore> {
    /// A write for `team`, holding the team's member lock from its start: the members it
    /// reads stay as read until it commits, and every SCIM write of a team takes its
    /// locks in the same order (team first, then rows), so two never deadlock.
    async fn begin(&self, team: TeamId) -> Result<ScimWrite, ScimStoreError> {
        let mut write = self.inner.begin_scim_write().await.map_err(backend)?;
        write.lock_team_members(team).await.map_err(backend)?;
        Ok(write)
    }

    /// Store Users that already have ids, `batch` per transaction, exactly as POSTs of
    /// `bodies` would (same attributes, `meta`, indexed columns and linked member), but
    /// without a request and a commit per User: for seeding a load benchmark or
    /// importing a directory. Each body goes through the service's own validation
    /// ([`ScimService::user_attributes_for_create`]); Group push does not apply (new Users
    /// are in no Group). Returns how many were stored; stops at the first error (the
    /// batches before it stay).
    pub async fn import_users<I>(
        &self,
        service: &ScimService<Self>,
        team: TeamId,
        users: I,
        batch: usize,
    ) -> Result<usize, ScimError>
    where
        I: IntoIterator<Item = (String, Value)>,
    {
        let store_error = |e: ScimStoreError| ScimError::new(500, e.to_string());
        let mut users = users.into_iter().peekable();
        let mut stored = 0;
        while users.peek().is_some() {
            let mut write = self.begin(team).await.map_err(store_error)?;
            for (id, body) in users.by_ref().take(batch.max(1)) {
                let attributes = service.user_attributes_for_create(&body)?;
                let membership = Membership::of_user(&attributes).map_err(store_error)?;
                write
                    .create_with_id(team, ResourceType::User, id, attributes)
                    .await
                    .map_err(store_error)?;
                if let Some(membership) = membership {
                    sync_members(&mut write, team, &[(None, membership)])
                        .await
                        .map_err(store_error)?;
                }
                stored += 1;
            }
            write.commit().await.map_err(|e| store_error(backend(e)))?;
        }
        Ok(stored)
    }

    /// Bring every member's role in line with the current group-push mapping (after it
    /// changed). Refused, changing nothing, if it would leave no super_admin.
    pub async fn recompute_roles(&self, team: TeamId) -> Result<usize, ScimStoreError> {
        let mapping = self.mapping(team).await?;
        let mut changes = Vec::new();
        let mut start_index = 1;
        loop {
            let query = ListQuery {
                filter: None,
                sort_by: None,
                descending: false,
                start_index,
                count: 500,
            };
            let (total, page) = self.inner.query(team, ResourceType::User, &query).await?;
            for user in &page {
                let Some(membership) = Membership::of_user(&user.resource).ok().flatten() else {
                    continue;
                };
                let Some(member) = self
                    .members
                    .member_by_email(team, &membership.email)
                    .await
                    .map_err(backend)?
                else {
                    continue;
                };
                let groups = self.inner.groups_of_user(team, &user.meta.id).await?;
                let after = membership.in_groups(&groups, &mapping);
                if member.role != after.role {
                    let mut before = after.clone();
                    before.role = member.role;
                    before.active = member.active;
                    changes.push((Some(before), after));
                }
            }
            start_index += page.len();
            if page.is_empty() || start_index > total {
                break;
            }
        }
        let mut write = self.begin(team).await?;
        sync_members(&mut write, team, &changes).await?;
        write.commit().await.map_err(backend)?;
        Ok(changes.len())
    }

    /// Create, replace or delete a Group together with the role changes it causes.
    async fn write_group(
        &self,
        team: TeamId,
        id: Option<&str>,
        new: Option<Value>,
        expected_version: Option<&str>,
    ) -> Result<Option<StoredResource>, ScimStoreError> {
        let changes = self.group_changes(team, id, new.as_ref()).await?;
        for _ in 0..WRITE_ATTEMPTS {
            let mut write = self.begin(team).await?;
            let outcome: Result<_, ScimStoreError> = async {
                let stored = match (id, new.clone()) {
                    (None, Some(attributes)) => {
                        Some(write.create(team, ResourceType::Group, attributes).await?)
                    }
                    (Some(id), Some(attributes)) => Some(
                        write
                            .replace(team, ResourceType::Group, id, attributes, expected_version)
                            .await?,
                    ),
                    (Some(id), None) => {
                        write.delete(team, ResourceType::Group, id).await?;
                        None
                    }
                    (None, None) => None,
                };
                sync_members(&mut write, team, &changes).await?;
                Ok(stored)
            }
            .await;
            match write.finish(outcome).await {
                // Without an expected version, a lost race is tried again (the rollback
                // waited until the winner is visible).
                Err(ScimStoreError::VersionMismatch) if expected_version.is_none() => {}
                done => return done,
            }
        }
        Err(ScimStoreError::VersionMismatch)
    }
}

impl ScimStore for MemberLinkedStore<SqlStore> {
    async fn create(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        attributes: Value,
    ) -> Result<StoredResource, ScimStoreError> {
        if resource_type == ResourceType::Group {
            return self
                .write_group(team, None, Some(attributes), None)
                .await?
                .ok_or(ScimStoreError::NotFound);
        }
        let membership = Membership::of_user(&attributes)?;
        let mut write = self.begin(team).await?;
        let outcome: Result<_, ScimStoreError> = async {
            let created = write.create(team, resource_type, attributes).await?;
            if let Some(membership) = membership {
                sync_members(&mut write, team, &[(None, membership)]).await?;
            }
            Ok(created)
        }
        .await;
        write.finish(outcome).await
    }

    async fn get(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
    ) -> Result<StoredResource, ScimStoreError> {
        self.inner.get(team, resource_type, id).await
    }

    async fn replace(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
        attributes: Value,
        expected_version: Option<&str>,
    ) -> Result<StoredResource, ScimStoreError> {
        if resource_type == ResourceType::Group {
            return self
                .write_group(team, Some(id), Some(attributes), expected_version)
                .await?
                .ok_or(ScimStoreError::NotFound);
        }
        let mapping = self.mapping(team).await?;
        let (before, groups) = self.membership_of(team, id, &mapping).await?;
        let after = Membership::of_user(&attributes)?.map(|m| m.in_groups(&groups, &mapping));
        for _ in 0..WRITE_ATTEMPTS {
            let mut write = self.begin(team).await?;
            let outcome: Result<_, ScimStoreError> = async {
                let replaced = write
                    .replace(
                        team,
                        resource_type,
                        id,
                        attributes.clone(),
                        expected_version,
                    )
                    .await?;
                // A User that lost its email keeps its member, unchanged (`after` is `None`).
                if let Some(after) = &after {
                    sync_members(&mut write, team, &[(before.clone(), after.clone())]).await?;
                }
                Ok(replaced)
            }
            .await;
            match write.finish(outcome).await {
                // Without an expected version, a lost race is tried again (the rollback
                // waited until the winner is visible).
                Err(ScimStoreError::VersionMismatch) if expected_version.is_none() => {}
                done => return done,
            }
        }
        Err(ScimStoreError::VersionMismatch)
    }

    async fn replace_current(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        current: &StoredResource,
        attributes: Value,
    ) -> Result<StoredResource, ScimStoreError> {
        let groups = if resource_type == ResourceType::User {
            self.inner.groups_of_user(team, &current.meta.id).await?
        } else {
            Vec::new()
        };
        self.replace_current_in_groups(team, resource_type, current, &groups, attributes)
            .await
    }

    async fn replace_current_in_groups(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        current: &StoredResource,
        groups: &[(String, String)],
        attributes: Value,
    ) -> Result<StoredResource, ScimStoreError> {
        let id = current.meta.id.as_str();
        if resource_type == ResourceType::Group {
            return self
                .write_group(
                    team,
                    Some(id),
                    Some(attributes),
                    Some(&current.meta.version),
                )
                .await?
                .ok_or(ScimStoreError::NotFound);
        }
        // The User and its Groups as the caller read them stand for "before": the write
        // below names its version, so if it changed since, nothing is written
        // (VersionMismatch) and the caller reads again.
        let mapping = self.mapping(team).await?;
        let before = membership_with(current, groups, &mapping);
        let after = Membership::of_user(&attributes)?.map(|m| m.in_groups(groups, &mapping));
        let mut write = self.begin(team).await?;
        let outcome: Result<_, ScimStoreError> = async {
            let replaced = write
                .replace_current(team, resource_type, current, attributes)
                .await?;
            if let Some(after) = &after {
                sync_members(&mut write, team, &[(before, after.clone())]).await?;
            }
            Ok(replaced)
        }
        .await;
        // On a version mismatch the rollback waits until the write that won is visible,
        // so the caller's next read sees it.
        write.finish(outcome).await
    }

    async fn delete(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
    ) -> Result<(), ScimStoreError> {
        if resource_type == ResourceType::Group {
            return self.write_group(team, Some(id), None, None).await.map(drop);
        }
        let mapping = self.mapping(team).await?;
        let (before, _) = self.membership_of(team, id, &mapping).await?;
        let mut write = self.begin(team).await?;
        let outcome: Result<_, ScimStoreError> = async {
            write.delete(team, resource_type, id).await?;
            if let Some(before) = before
                && let Some(member) = write
                    .member_by_email(team, &before.email)
                    .await
                    .map_err(backend)?
            {
                write
                    .write_members(team, vec![MemberChange::Delete(member.id)])
                    .await
                    .map_err(backend)?;
            }
            Ok(())
        }
        .await;
        write.finish(outcome).await
    }

    async fn query(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        query: &ListQuery,
    ) -> Result<(usize, Vec<StoredResource>), ScimStoreError> {
        self.inner.query(team, resource_type, query).await
    }

    async fn groups_of_user(
        &self,
        team: TeamId,
        user_id: &str,
    ) -> Result<Vec<(String, String)>, ScimStoreError> {
        self.inner.groups_of_user(team, user_id).await
    }

    async fn get_with_groups(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
        with_groups: bool,
    ) -> Result<(StoredResource, Vec<(String, String)>), ScimStoreError> {
        self.inner
            .get_with_groups(team, resource_type, id, with_groups)
            .await
    }

    async fn query_with_groups(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        query: &ListQuery,
        with_groups: bool,
    ) -> Result<QueryPage, ScimStoreError> {
        self.inner
            .query_with_groups(team, resource_type, query, with_groups)
            .await
    }

    async fn groups_of_users(
        &self,
        team: TeamId,
        user_ids: &[String],
    ) -> Result<BTreeMap<String, Vec<(String, String)>>, ScimStoreError> {
        self.inner.groups_of_users(team, user_ids).await
    }

    async fn resolve_members(
        &self,
        team: TeamId,
        ids: &[String],
    ) -> Result<Vec<ResolvedMember>, ScimStoreError> {
        self.inner.resolve_members(team, ids).await
    }
}
