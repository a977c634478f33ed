//! The member rules, in one place: what a change to a team's members may do and what
//! it must bring with it.
//!
//! Every path that changes members (the REST API, SCIM provisioning, SSO just-in-time
//! sign-in) asks these pure functions, over plain values, before writing; the store runs
//! them inside the transaction that writes (see `butterfly-store`), so two concurrent
//! changes cannot both pass a check that only one of them may pass.
//!
//! - **The last active super_admin stays**: a change that would leave a team that has
//!   an active super_admin without one is refused ([`plan_member_changes`]), whether it
//!   demotes, suspends or deletes, and however many members it touches at once.
//! - **A suspension ends access at once**: the plan lists the members whose sessions and
//!   API keys must be revoked in the same write ([`MemberPlan::revoke`]).
//! - **A role is the highest of a member's own and their groups'** ([`effective_role`]).
//! - **Just-in-time sign-in** matches a verified login to a member ([`match_sign_in`]).
//!
//! # Example
//!
//! ```
//! use butterfly_core::members::{MemberChange, MemberRuleError, plan_member_changes};
//! use butterfly_core::store::MemberUpdate;
//! use butterfly_core::{Member, MemberId, Role, TeamId};
//! use chrono::{DateTime, Utc};
//!
//! let root = Member {
//!     id: MemberId::new_random(),
//!     team_id: TeamId::new_random(),
//!     email: "root@example.com".into(),
//!     display_name: None,
//!     role: Role::SuperAdmin,
//!     active: true,
//!     external_id: None,
//!     created_at: DateTime::<Utc>::UNIX_EPOCH,
//!     updated_at: DateTime::<Utc>::UNIX_EPOCH,
//! };
//! let suspend = MemberChange::update(root.id, MemberUpdate::suspend());
//! assert_eq!(
//!     plan_member_changes(&[root], &[suspend]).unwrap_err(),
//!     MemberRuleError::LastSuperAdmin
//! );
//! ```

use std::collections::BTreeMap;

use thiserror::Error;

use crate::store::{MemberUpdate, NewMember};
use crate::{Member, MemberId, Role};

/// Why the member rules refuse a change or a sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MemberRuleError {
    /// The change would leave the team without an active super_admin.
    #[error("the team's last active super_admin cannot be demoted, suspended or deleted")]
    LastSuperAdmin,
    /// The change names a member the team does not have.
    #[error("member {0} not found")]
    UnknownMember(MemberId),
    /// The sign-in matched a suspended member.
    #[error("this member is suspended")]
    Suspended,
    /// The identity provider did not assert a verified email, so nothing can be matched.
    #[error("the identity provider did not assert a verified email")]
    UnverifiedEmail,
    /// The member with this email already signs in as another subject at this provider:
    /// an email that changed at the provider does not hand over someone else's account.
    #[error("this member is linked to another identity at this provider")]
    LinkedToAnotherIdentity,
}

/// One requested change to a team's members.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemberChange {
    /// Add a member.
    Create(NewMember),
    /// Change the fields `update` names.
    Update {
        /// The member.
        id: MemberId,
        /// What changes.
        update: MemberUpdate,
    },
    /// Remove a member.
    Delete(MemberId),
}

impl MemberChange {
    /// Change the fields `update` names of member `id`.
    pub fn update(id: MemberId, update: MemberUpdate) -> Self {
        MemberChange::Update { id, update }
    }
}

impl MemberUpdate {
    /// An update that changes nothing yet (the struct is non-exhaustive, so callers
    /// outside this crate start from here and set fields).
    pub fn new() -> Self {
        MemberUpdate::default()
    }

    /// An update that suspends the member.
    #[must_use]
    pub fn suspend() -> Self {
        MemberUpdate {
            active: Some(false),
            ..MemberUpdate::default()
        }
    }

    /// An update that sets the role.
    #[must_use]
    pub fn role(role: Role) -> Self {
        MemberUpdate {
            role: Some(role),
            ..MemberUpdate::default()
        }
    }
}

/// What a set of changes must do besides writing the members, once the rules allow it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemberPlan {
    /// Members whose live sessions and API keys must be revoked in the same write: each
    /// member an update suspends, and each member a delete removes (their rows may go
    /// with the member, but a store that keeps them must not leave them live).
    pub revoke: Vec<MemberId>,
}

/// What a member write did, once committed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemberWriteOutcome {
    /// One entry per requested change, in order: the member as written, `None` for a
    /// delete.
    pub members: Vec<Option<Member>>,
    /// Sessions revoked because of suspensions and deletions.
    pub revoked_sessions: u64,
    /// API keys revoked because of suspensions and deletions.
    pub revoked_api_keys: u64,
    /// CLI sign-ins (`butterfly login` grants: access and refresh tokens) revoked
    /// because of suspensions and deletions.
    pub revoked_cli_logins: u64,
}

/// The role, activity and existence of one member before and after the changes.
#[derive(Debug, Clone, Copy)]
struct Standing {
    role: Role,
    active: bool,
}

impl Standing {
    fn holds_super_admin(self) -> bool {
        self.active && self.role == Role::SuperAdmin
    }
}

/// Check `changes` against the team's members and say what they must bring with them.
///
/// `members` must hold every member the changes name and every active super_admin of
/// the team (the whole team will do; a store may read just those). The changes apply in
/// order, as one write: a batch that demotes one super_admin while promoting another
/// passes.
///
/// Refused with [`MemberRuleError::LastSuperAdmin`] if the team has an active
/// super_admin before and none after; [`MemberRuleError::UnknownMember`] if an update or
/// delete names a member not in `members` (or deleted earlier in the batch).
pub fn plan_member_changes(
    members: &[Member],
    changes: &[MemberChange],
) -> Result<MemberPlan, MemberRuleError> {
    let before: BTreeMap<MemberId, Standing> = members
        .iter()
        .map(|m| {
            (
                m.id,
                Standing {
                    role: m.role,
                    active: m.active,
                },
            )
        })
        .collect();
    let mut after: BTreeMap<MemberId, Option<Standing>> =
        before.iter().map(|(id, s)| (*id, Some(*s))).collect();
    // New members have no id yet; only whether they hold super_admin matters.
    let mut created_super_admins = 0_usize;
    let mut plan = MemberPlan::default();
    for change in changes {
        match change {
            MemberChange::Create(new) => {
                if new.active && new.role == Role::SuperAdmin {
                    created_super_admins += 1;
                }
            }
            MemberChange::Update { id, update } => {
                let standing = after
                    .get_mut(id)
                    .and_then(Option::as_mut)
                    .ok_or(MemberRuleError::UnknownMember(*id))?;
                let was_active = standing.active;
                if let Some(role) = update.role {
                    standing.role = role;
                }
                if let Some(active) = update.active {
                    standing.active = active;
                }
                if was_active && !standing.active && !plan.revoke.contains(id) {
                    plan.revoke.push(*id);
                }
            }
            MemberChange::Delete(id) => {
                let slot = after
                    .get_mut(id)
                    .filter(|s| s.is_some())
                    .ok_or(MemberRuleError::UnknownMember(*id))?;
                *slot = None;
                if !plan.revoke.contains(id) {
                    plan.revoke.push(*id);
                }
            }
        }
    }
    let had_one = before.values().any(|s| s.holds_super_admin());
    let has_one =
        created_super_admins > 0 || after.values().flatten().any(|s| s.holds_super_admin());
    if had_one && !has_one {
        return Err(MemberRuleError::LastSuperAdmin);
    }
    Ok(plan)
}

/// The role in effect for a member: the highest of their own role and the roles their
/// groups are mapped to (group push), `read_only` when none says anything.
///
/// `Role`'s order puts the most privileged first, so the highest role is the least.
pub fn effective_role(own: Option<Role>, group_roles: impl IntoIterator<Item = Role>) -> Role {
    own.into_iter()
        .chain(group_roles)
        .min()
        .unwrap_or(Role::ReadOnly)
}

/// The roles a team's group-push mapping gives membership of `groups` (display names).
/// Group names compare case-insensitively; `mapping`'s keys may be spelled any way.
pub fn group_roles<'a>(
    mapping: &'a BTreeMap<String, Role>,
    groups: impl IntoIterator<Item = &'a str> + 'a,
) -> impl Iterator<Item = Role> + 'a {
    groups.into_iter().filter_map(move |name| {
        mapping
            .iter()
            .find(|(key, _)| key.to_lowercase() == name.to_lowercase())
            .map(|(_, role)| *role)
    })
}

/// The key that makes emails equal regardless of case and surrounding spaces: the one
/// comparison of member emails (stores index it; sign-in and SCIM match on it).
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Who a verified sign-in says the person is.
///
/// The issuer and subject are carried now so that linking members by `(issuer, sub)`
/// can be added beside email matching without changing callers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignInIdentity {
    /// The identity provider's issuer.
    pub issuer: String,
    /// The subject (`sub`) at that issuer.
    pub subject: String,
    /// The email the provider asserted, if any.
    pub email: Option<String>,
    /// Whether the provider says it verified that email.
    pub email_verified: bool,
    /// The person's name, for a member created at sign-in.
    pub name: Option<String>,
}

impl SignInIdentity {
    /// An identity from a verified login.
    pub fn new(
        issuer: impl Into<String>,
        subject: impl Into<String>,
        email: Option<String>,
        email_verified: bool,
    ) -> Self {
        SignInIdentity {
            issuer: issuer.into(),
            subject: subject.into(),
            email,
            email_verified,
            name: None,
        }
    }

    /// With the person's name.
    #[must_use]
    pub fn with_name(mut self, name: Option<String>) -> Self {
        self.name = name;
        self
    }

    /// The email, if the provider verified it: the only email a sign-in may be matched by.
    pub fn verified_email(&self) -> Option<&str> {
        self.email.as_deref().filter(|_| self.email_verified)
    }
}

/// How a sign-in found its member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignInMatch {
    /// By the provider's (issuer, subject), linked at an earlier sign-in.
    Subject,
    /// By verified email, case-insensitively (the first sign-in; the store then links
    /// the member to the identity's issuer and subject).
    VerifiedEmail,
}

/// A member whose email matches a sign-in, with the subject it is already linked to at
/// the signing-in issuer, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInCandidate {
    /// The member.
    pub member: Member,
    /// The subject this member signs in as at the same issuer, if it has signed in there.
    pub linked_subject: Option<String>,
}

/// What a just-in-time sign-in does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignInDecision {
    /// Sign in as this existing member.
    Existing {
        /// The member.
        id: MemberId,
        /// How it was found.
        matched: SignInMatch,
    },
    /// Create this member, then sign in as it.
    Create(NewMember),
}

/// Match a verified sign-in to a member, or say which member to create.
///
/// `linked` is the member already linked to the identity's (issuer, subject), if any:
/// after the first sign-in that link decides, whatever email the provider asserts now.
/// Otherwise `candidates` are the team's members whose email equals the verified email,
/// ignoring case, each with the subject it is linked to at this issuer; one linked to
/// another subject is refused ([`MemberRuleError::LinkedToAnotherIdentity`]), so a
/// changed email at the provider cannot take over another member. A suspended match is
/// refused, never re-created; a new member gets `default_role`, active, with the verified
/// email and the provider's name.
pub fn match_sign_in(
    linked: Option<&Member>,
    candidates: &[SignInCandidate],
    identity: &SignInIdentity,
    default_role: Role,
) -> Result<SignInDecision, MemberRuleError> {
    if let Some(member) = linked {
        if !member.active {
            return Err(MemberRuleError::Suspended);
        }
        return Ok(SignInDecision::Existing {
            id: member.id,
            matched: SignInMatch::Subject,
        });
    }
    let email = identity
        .verified_email()
        .ok_or(MemberRuleError::UnverifiedEmail)?;
    let key = email_key(email);
    if let Some(candidate) = candidates
        .iter()
        .find(|c| email_key(&c.member.email) == key)
    {
        if candidate
            .linked_subject
            .as_deref()
            .is_some_and(|s| s != identity.subject)
        {
            return Err(MemberRuleError::LinkedToAnotherIdentity);
        }
        if !candidate.member.active {
            return Err(MemberRuleError::Suspended);
        }
        return Ok(SignInDecision::Existing {
            id: candidate.member.id,
            matched: SignInMatch::VerifiedEmail,
        });
    }
    Ok(SignInDecision::Create(NewMember {
        email: email.trim().to_owned(),
        display_name: identity.name.clone(),
        role: default_role,
        active: true,
        external_id: None,
    }))
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::TeamId;

    fn member(email: &str, role: Role, active: bool) -> Member {
        Member {
            id: MemberId::new_random(),
            team_id: TeamId::from_uuid(uuid::Uuid::nil()),
            email: email.into(),
            display_name: None,
            role,
            active,
            external_id: None,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    fn new_member(email: &str, role: Role, active: bool) -> NewMember {
        NewMember {
            email: email.into(),
            display_name: None,
            role,
            active,
            external_id: None,
        }
    }

    #[test]
    fn the_last_active_super_admin_cannot_be_demoted_suspended_or_deleted() {
        let root = member("root@example.com", Role::SuperAdmin, true);
        let other = member("ada@example.com", Role::Admin, true);
        let team = [root.clone(), other.clone()];
        for change in [
            MemberChange::update(root.id, MemberUpdate::role(Role::Admin)),
            MemberChange::update(root.id, MemberUpdate::suspend()),
            MemberChange::Delete(root.id),
        ] {
            assert_eq!(
                plan_member_changes(&team, std::slice::from_ref(&change)),
                Err(MemberRuleError::LastSuperAdmin),
                "{change:?}"
            );
        }
        // Changing someone else, or the root's name, is fine.
        let mut rename = MemberUpdate::new();
        rename.display_name = Some(Some("Root".into()));
        assert!(plan_member_changes(&team, &[MemberChange::update(root.id, rename)]).is_ok());
        assert!(plan_member_changes(&team, &[MemberChange::Delete(other.id)]).is_ok());
    }

    #[test]
    fn an_inactive_or_second_super_admin_decides_as_it_should() {
        let root = member("root@example.com", Role::SuperAdmin, true);
        let dormant = member("old@example.com", Role::SuperAdmin, false);
        // A suspended super_admin does not count as the one that stays.
        assert_eq!(
            plan_member_changes(
                &[root.clone(), dormant.clone()],
                &[MemberChange::update(root.id, MemberUpdate::suspend())]
            ),
            Err(MemberRuleError::LastSuperAdmin)
        );
        // Reactivating it in the same batch lets the first go.
        let mut wake = MemberUpdate::new();
        wake.active = Some(true);
        assert!(
            plan_member_changes(
                &[root.clone(), dormant.clone()],
                &[
                    MemberChange::update(dormant.id, wake),
                    MemberChange::update(root.id, MemberUpdate::suspend()),
                ]
            )
            .is_ok()
        );
        // Two super_admins demoted in one batch: refused; one of them: fine.
        let second = member("two@example.com", Role::SuperAdmin, true);
        let team = [root.clone(), second.clone()];
        assert_eq!(
            plan_member_changes(
                &team,
                &[
                    MemberChange::update(root.id, MemberUpdate::role(Role::ReadOnly)),
                    MemberChange::update(second.id, MemberUpdate::role(Role::ReadOnly)),
                ]
            ),
            Err(MemberRuleError::LastSuperAdmin)
        );
        assert!(
            plan_member_changes(
                &team,
                &[MemberChange::update(
                    root.id,
                    MemberUpdate::role(Role::ReadOnly)
                )]
            )
            .is_ok()
        );
        // A batch that creates an active super_admin may demote the old one.
        assert!(
            plan_member_changes(
                std::slice::from_ref(&root),
                &[
                    MemberChange::Create(new_member("new@example.com", Role::SuperAdmin, true)),
                    MemberChange::Delete(root.id),
                ]
            )
            .is_ok()
        );
        // A team that never had an active super_admin is not held to one.
        let admin = member("ada@example.com", Role::Admin, true);
        assert!(
            plan_member_changes(
                std::slice::from_ref(&admin),
                &[MemberChange::Delete(admin.id)]
            )
            .is_ok()
        );
    }

    #[test]
    fn suspension_and_deletion_revoke_sessions_and_keys() {
        let root = member("root@example.com", Role::SuperAdmin, true);
        let ada = member("ada@example.com", Role::Admin, true);
        let bob = member("bob@example.com", Role::Auditor, false);
        let carol = member("carol@example.com", Role::ReadOnly, true);
        let team = [root, ada.clone(), bob.clone(), carol.clone()];
        let mut wake = MemberUpdate::new();
        wake.active = Some(true);
        let plan = plan_member_changes(
            &team,
            &[
                MemberChange::update(ada.id, MemberUpdate::suspend()),
                // Already suspended: nothing new to revoke; reactivated: nothing either.
                MemberChange::update(bob.id, MemberUpdate::suspend()),
                MemberChange::update(bob.id, wake),
                MemberChange::update(carol.id, MemberUpdate::role(Role::Admin)),
            ],
        )
        .unwrap();
        assert_eq!(plan.revoke, vec![ada.id]);
        let plan = plan_member_changes(&team, &[MemberChange::Delete(carol.id)]).unwrap();
        assert_eq!(plan.revoke, vec![carol.id]);
    }

    #[test]
    fn unknown_and_already_deleted_members_are_refused() {
        let ada = member("ada@example.com", Role::Admin, true);
        let ghost = MemberId::new_random();
        assert_eq!(
            plan_member_changes(std::slice::from_ref(&ada), &[MemberChange::Delete(ghost)]),
            Err(MemberRuleError::UnknownMember(ghost))
        );
        assert_eq!(
            plan_member_changes(
                std::slice::from_ref(&ada),
                &[
                    MemberChange::Delete(ada.id),
                    MemberChange::update(ada.id, MemberUpdate::suspend())
                ]
            ),
            Err(MemberRuleError::UnknownMember(ada.id))
        );
    }

    #[test]
    fn a_role_is_the_highest_of_own_and_groups() {
        let mapping: BTreeMap<String, Role> = [
            ("Butterfly Admins".to_owned(), Role::Admin),
            ("auditors".to_owned(), Role::Auditor),
        ]
        .into();
        let roles = |groups: &[&'static str]| -> Vec<Role> {
            group_roles(&mapping, groups.iter().copied()).collect()
        };
        assert_eq!(effective_role(None, roles(&[])), Role::ReadOnly);
        assert_eq!(effective_role(None, roles(&["AUDITORS"])), Role::Auditor);
        assert_eq!(
            effective_role(Some(Role::Auditor), roles(&["butterfly admins", "other"])),
            Role::Admin
        );
        assert_eq!(
            effective_role(Some(Role::SuperAdmin), roles(&["auditors"])),
            Role::SuperAdmin
        );
        assert_eq!(
            effective_role(Some(Role::BackupOperator), roles(&["unmapped"])),
            Role::BackupOperator
        );
    }

    fn unlinked(m: &Member) -> SignInCandidate {
        SignInCandidate {
            member: m.clone(),
            linked_subject: None,
        }
    }

    #[test]
    fn a_linked_subject_decides_and_guards_its_member() {
        let ada = member("ada@example.com", Role::Admin, true);
        // Linked: the provider's (issuer, sub) finds her whatever email it asserts now,
        // verified or not.
        let renamed = SignInIdentity::new("https://idp", "sub-ada", Some("x@y.z".into()), false);
        assert_eq!(
            match_sign_in(Some(&ada), &[], &renamed, Role::ReadOnly),
            Ok(SignInDecision::Existing {
                id: ada.id,
                matched: SignInMatch::Subject
            })
        );
        // Another subject whose (changed) email is now Ada's does not take her over.
        let mallory = SignInIdentity::new(
            "https://idp",
            "sub-mallory",
            Some("ada@example.com".into()),
            true,
        );
        let linked = SignInCandidate {
            member: ada.clone(),
            linked_subject: Some("sub-ada".into()),
        };
        assert_eq!(
            match_sign_in(None, &[linked], &mallory, Role::ReadOnly),
            Err(MemberRuleError::LinkedToAnotherIdentity)
        );
        // A suspended linked member stays out.
        let suspended = member("eve@example.com", Role::Admin, false);
        assert_eq!(
            match_sign_in(Some(&suspended), &[], &renamed, Role::ReadOnly),
            Err(MemberRuleError::Suspended)
        );
    }

    #[test]
    fn sign_in_matches_by_verified_email_only() {
        let ada = member("Ada@Example.com", Role::Admin, true);
        let identity = |email: &str, verified| {
            SignInIdentity::new("https://idp", "sub-1", Some(email.to_owned()), verified)
                .with_name(Some("Ada".into()))
        };
        assert_eq!(
            match_sign_in(
                None,
                &[unlinked(&ada)],
                &identity("ada@example.COM", true),
                Role::ReadOnly
            ),
            Ok(SignInDecision::Existing {
                id: ada.id,
                matched: SignInMatch::VerifiedEmail
            })
        );
        assert_eq!(
            match_sign_in(
                None,
                &[unlinked(&ada)],
                &identity("ada@example.com", false),
                Role::ReadOnly
            ),
            Err(MemberRuleError::UnverifiedEmail)
        );
        // A candidate with another email is not this person.
        assert_eq!(
            match_sign_in(
                None,
                &[unlinked(&ada)],
                &identity("bob@example.com", true),
                Role::Auditor
            ),
            Ok(SignInDecision::Create(NewMember {
                email: "bob@example.com".into(),
                display_name: Some("Ada".into()),
                role: Role::Auditor,
                active: true,
                external_id: None,
            }))
        );
        let suspended = member("eve@example.com", Role::Admin, false);
        assert_eq!(
            match_sign_in(
                None,
                &[unlinked(&suspended)],
                &identity("eve@example.com", true),
                Role::ReadOnly
            ),
            Err(MemberRuleError::Suspended)
        );
    }
}
