//! SCIM provisioning for teams: `butterfly-scim`'s service mounted at `/scim/v2`, with
//! team members kept in step with SCIM Users.
//!
//! [`MemberLinkedStore`] wraps the SCIM resource store. Every User write also writes the
//! team member with the same email: the role comes from the Butterfly extension's
//! `butterflyRole` (default `read_only`), `active: false` suspends the member and at
//! once ends their sessions and revokes their API keys, and deleting the User removes
//! the member. The last active super_admin of a team can be neither demoted,
//! deactivated nor deleted through SCIM.

use std::sync::Arc;

use butterfly_core::store::{
    ApiKeyStore, MemberStore, MemberUpdate, NewMember, ScimTokenStore, SessionStore, StoreError,
};
use butterfly_core::token::RawToken;
use butterfly_core::{Member, Role, TeamId};
use butterfly_scim::axum::TokenAuthenticator;
use butterfly_scim::store::{
    ListQuery, ResolvedMember, ResourceType, ScimStore, ScimStoreError, StoredResource,
};
use butterfly_scim::{ScimType, schemas};
use butterfly_store::SqlStore;
use serde_json::Value;

/// What a SCIM User means for team membership.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Membership {
    email: String,
    display_name: Option<String>,
    role: Role,
    active: bool,
    external_id: Option<String>,
}

impl Membership {
    /// Read the membership out of a User's (normalised) attributes: `None` for a User
    /// with no email (RFC 7643 requires only `userName`), which is kept as a SCIM
    /// resource but grants no access until it has one.
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
        let role = match user
            .get(schemas::BUTTERFLY_USER)
            .and_then(|ext| ext.get("butterflyRole"))
        {
            None | Some(Value::Null) => Role::ReadOnly,
            Some(Value::String(name)) => name.parse().map_err(|_| {
                rejected(
                    400,
                    ScimType::InvalidValue,
                    &format!("unknown butterflyRole `{name}`"),
                )
            })?,
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
            role,
            active: user.get("active").and_then(Value::as_bool).unwrap_or(true),
            external_id: user
                .get("externalId")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }))
    }

    fn holds_super_admin(&self) -> bool {
        self.active && self.role == Role::SuperAdmin
    }
}

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
        other => ScimStoreError::Backend(Box::new(other)),
    }
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

    /// Refuse a change that would leave the team without an active super_admin member.
    async fn keep_a_super_admin(
        &self,
        team: TeamId,
        leaving: &Member,
    ) -> Result<(), ScimStoreError> {
        let others = self
            .members
            .list_members(team)
            .await
            .map_err(backend)?
            .into_iter()
            .filter(|m| m.id != leaving.id && m.active && m.role == Role::SuperAdmin)
            .count();
        if others == 0 {
            return Err(rejected(
                400,
                ScimType::Mutability,
                "the team's last super_admin cannot be demoted, deactivated or deleted by SCIM",
            ));
        }
        Ok(())
    }

    /// Create or update the member for `now`; `before` is the membership the User had.
    async fn sync(
        &self,
        team: TeamId,
        before: Option<&Membership>,
        now: &Membership,
    ) -> Result<(), ScimStoreError> {
        let existing = match before {
            Some(b) => self
                .members
                .member_by_email(team, &b.email)
                .await
                .map_err(backend)?,
            None => None,
        };
        let existing = match existing {
            Some(m) => Some(m),
            None => self
                .members
                .member_by_email(team, &now.email)
                .await
                .map_err(backend)?,
        };
        let Some(member) = existing else {
            self.members
                .create_member(
                    team,
                    NewMember {
                        email: now.email.clone(),
                        display_name: now.display_name.clone(),
                        role: now.role,
                        active: now.active,
                        external_id: now.external_id.clone(),
                    },
                )
                .await
                .map_err(backend)?;
            return Ok(());
        };
        let mut update = MemberUpdate::default();
        update.email = Some(now.email.clone());
        update.display_name = Some(now.display_name.clone());
        update.role = Some(now.role);
        update.active = Some(now.active);
        update.external_id = Some(now.external_id.clone());
        self.members
            .update_member(team, member.id, update)
            .await
            .map_err(backend)?;
        if member.active && !now.active {
            // Suspension takes effect at once, not when tokens expire.
            self.members
                .revoke_sessions_of_member(team, member.id)
                .await
                .map_err(backend)?;
            self.members
                .revoke_api_keys_of_member(team, member.id)
                .await
                .map_err(backend)?;
        }
        Ok(())
    }

    /// The membership a stored User stands for (a stored User whose role no longer
    /// parses is treated as having none, so it can still be fixed or deleted).
    async fn membership_of(
        &self,
        team: TeamId,
        id: &str,
    ) -> Result<Option<Membership>, ScimStoreError> {
        let stored = self.inner.get(team, ResourceType::User, id).await?;
        Ok(Membership::of_user(&stored.resource).ok().flatten())
    }

    async fn guard_change(
        &self,
        team: TeamId,
        before: &Membership,
        after: Option<&Membership>,
    ) -> Result<(), ScimStoreError> {
        let loses = before.holds_super_admin() && !after.is_some_and(Membership::holds_super_admin);
        if loses
            && let Some(member) = self
                .members
                .member_by_email(team, &before.email)
                .await
                .map_err(backend)?
            && member.active
            && member.role == Role::SuperAdmin
        {
            self.keep_a_super_admin(team, &member).await?;
        }
        Ok(())
    }
}

impl<S: ScimStore> ScimStore for MemberLinkedStore<S> {
    async fn create(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        attributes: Value,
    ) -> Result<StoredResource, ScimStoreError> {
        if resource_type != ResourceType::User {
            return self.inner.create(team, resource_type, attributes).await;
        }
        let Some(membership) = Membership::of_user(&attributes)? else {
            return self.inner.create(team, resource_type, attributes).await;
        };
        let created = self.inner.create(team, resource_type, attributes).await?;
        if let Err(e) = self.sync(team, None, &membership).await {
            // Keep the two in step: no SCIM User without its member.
            let _ = self
                .inner
                .delete(team, resource_type, &created.meta.id)
                .await;
            return Err(e);
        }
        Ok(created)
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
        if resource_type != ResourceType::User {
            return self
                .inner
                .replace(team, resource_type, id, attributes, expected_version)
                .await;
        }
        let before = self.membership_of(team, id).await?;
        let after = Membership::of_user(&attributes)?;
        if let Some(before) = &before {
            self.guard_change(team, before, after.as_ref()).await?;
        }
        let replaced = self
            .inner
            .replace(team, resource_type, id, attributes, expected_version)
            .await?;
        if let Some(after) = &after {
            self.sync(team, before.as_ref(), after).await?;
        }
        Ok(replaced)
    }

    async fn delete(
        &self,
        team: TeamId,
        resource_type: ResourceType,
        id: &str,
    ) -> Result<(), ScimStoreError> {
        if resource_type != ResourceType::User {
            return self.inner.delete(team, resource_type, id).await;
        }
        let before = self.membership_of(team, id).await?;
        if let Some(before) = &before {
            self.guard_change(team, before, None).await?;
        }
        self.inner.delete(team, resource_type, id).await?;
        if let Some(before) = before
            && let Some(member) = self
                .members
                .member_by_email(team, &before.email)
                .await
                .map_err(backend)?
        {
            self.members
                .revoke_sessions_of_member(team, member.id)
                .await
                .map_err(backend)?;
            self.members
                .delete_member(team, member.id)
                .await
                .map_err(backend)?;
        }
        Ok(())
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

    async fn resolve_members(
        &self,
        team: TeamId,
        ids: &[String],
    ) -> Result<Vec<ResolvedMember>, ScimStoreError> {
        self.inner.resolve_members(team, ids).await
    }
}

/// SCIM bearer tokens (`bfs_scim_...`) authenticate as their team.
#[derive(Debug, Clone)]
pub struct ScimTokens(pub Arc<SqlStore>);

impl TokenAuthenticator for ScimTokens {
    async fn authenticate(&self, token: &str) -> Option<TeamId> {
        match self
            .0
            .authenticate_scim_token(&RawToken::from_presented(token))
            .await
        {
            Ok(found) => found.map(|t| t.team_id),
            Err(e) => {
                tracing::error!(error = %e, "SCIM token lookup failed");
                None
            }
        }
    }
}
