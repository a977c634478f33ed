//! The transactional member write: the member rules decide inside the transaction that
//! writes, suspensions revoke access in the same commit, and concurrent writers of one
//! team cannot both pass the last-super_admin check.

use std::sync::Arc;

use butterfly_core::members::{MemberChange, MemberRuleError, SignInIdentity};
use butterfly_core::store::{
    ApiKeyStore, MemberStore, MemberUpdate, MemberWriteStore, NewMember, NewSession, SessionStore,
    StoreError, TeamStore,
};
use butterfly_core::{Member, Role, TeamId};
use butterfly_store::SqlStore;
use chrono::{TimeDelta, Utc};
use tokio::sync::Barrier;

async fn add(s: &SqlStore, team: TeamId, email: &str, role: Role) -> Member {
    s.create_member(
        team,
        NewMember {
            email: email.to_owned(),
            display_name: None,
            role,
            active: true,
            external_id: None,
        },
    )
    .await
    .unwrap()
}

fn refused_as_last_super_admin(result: &Result<impl std::fmt::Debug, StoreError>) {
    assert!(
        matches!(
            result,
            Err(StoreError::Refused(MemberRuleError::LastSuperAdmin))
        ),
        "{result:?}"
    );
}

pub async fn the_last_super_admin_stays_and_a_refusal_writes_nothing(s: &SqlStore) {
    let team = s.create_team("acme").await.unwrap().id;
    let root = add(s, team, "root@example.com", Role::SuperAdmin).await;
    let ada = add(s, team, "ada@example.com", Role::Admin).await;
    for change in [
        MemberChange::update(root.id, MemberUpdate::role(Role::ReadOnly)),
        MemberChange::update(root.id, MemberUpdate::suspend()),
        MemberChange::Delete(root.id),
    ] {
        // The batch's first change (ada's suspension) is allowed, but goes with the
        // refusal of the second.
        refused_as_last_super_admin(
            &s.write_members(
                team,
                vec![
                    MemberChange::update(ada.id, MemberUpdate::suspend()),
                    change,
                ],
            )
            .await,
        );
    }
    assert_eq!(s.member(team, root.id).await.unwrap(), Some(root.clone()));
    assert_eq!(s.member(team, ada.id).await.unwrap(), Some(ada.clone()));

    // Promote ada in the same write, and root may go.
    let outcome = s
        .write_members(
            team,
            vec![
                MemberChange::update(ada.id, MemberUpdate::role(Role::SuperAdmin)),
                MemberChange::Delete(root.id),
            ],
        )
        .await
        .unwrap();
    assert_eq!(outcome.members[0].as_ref().unwrap().role, Role::SuperAdmin);
    assert_eq!(outcome.members[1], None);
    assert_eq!(s.member(team, root.id).await.unwrap(), None);
    assert!(matches!(
        s.write_members(team, vec![MemberChange::Delete(root.id)])
            .await,
        Err(StoreError::Refused(MemberRuleError::UnknownMember(id))) if id == root.id
    ));
}

pub async fn a_suspension_revokes_sessions_and_keys_in_the_same_write(s: &SqlStore) {
    let team = s.create_team("acme").await.unwrap().id;
    add(s, team, "root@example.com", Role::SuperAdmin).await;
    let carol = add(s, team, "carol@example.com", Role::BackupOperator).await;
    let (_, key) = s
        .create_api_key(team, "carol's", Role::BackupOperator, Some(carol.id))
        .await
        .unwrap();
    let (_, session) = s
        .create_session(NewSession {
            team_id: team,
            member_id: carol.id,
            idp_sid: None,
            idp_sub: None,
            expires_at: Utc::now() + TimeDelta::hours(1),
        })
        .await
        .unwrap();
    let outcome = s
        .write_members(
            team,
            vec![MemberChange::update(carol.id, MemberUpdate::suspend())],
        )
        .await
        .unwrap();
    assert_eq!((outcome.revoked_sessions, outcome.revoked_api_keys), (1, 1));
    // Reactivated, the old credentials stay revoked.
    let mut wake = MemberUpdate::new();
    wake.active = Some(true);
    s.write_members(team, vec![MemberChange::update(carol.id, wake)])
        .await
        .unwrap();
    assert_eq!(s.authenticate_api_key(&key).await.unwrap(), None);
    assert_eq!(
        s.session_by_token(&session, Utc::now()).await.unwrap(),
        None
    );
}

/// Two super_admins demoted at the same moment, over and over: exactly one demotion
/// wins each time and a super_admin remains.
pub async fn concurrent_demotions_cannot_both_pass(s: &SqlStore) {
    let s = Arc::new(s.clone());
    for trial in 0..20 {
        let team = s.create_team(&format!("race-{trial}")).await.unwrap().id;
        let a = add(&s, team, "a@example.com", Role::SuperAdmin).await;
        let b = add(&s, team, "b@example.com", Role::SuperAdmin).await;
        let barrier = Arc::new(Barrier::new(2));
        let demote = |id| {
            let (s, barrier) = (Arc::clone(&s), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                s.write_members(
                    team,
                    vec![MemberChange::update(id, MemberUpdate::role(Role::ReadOnly))],
                )
                .await
            })
        };
        let (first, second) = (demote(a.id), demote(b.id));
        let results = [first.await.unwrap(), second.await.unwrap()];
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "trial {trial}: {results:?}");
        for result in results.into_iter().filter(Result::is_err) {
            refused_as_last_super_admin(&result);
        }
        let left = s
            .list_members(team)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.active && m.role == Role::SuperAdmin)
            .count();
        assert_eq!(left, 1, "trial {trial}");
    }
}

pub async fn sign_in_matches_by_verified_email_and_creates_once(s: &SqlStore) {
    let team = s.create_team("acme").await.unwrap().id;
    let ada = add(s, team, "Ada@Example.com", Role::Admin).await;
    let login = |subject: &str, email: &str, verified| {
        SignInIdentity::new(
            "https://idp.example.com",
            subject,
            Some(email.into()),
            verified,
        )
    };
    // An unverified email matches nobody.
    assert!(matches!(
        s.sign_in_member(
            team,
            &login("sub-ada", "ada@example.com", false),
            Role::ReadOnly
        )
        .await,
        Err(StoreError::Refused(MemberRuleError::UnverifiedEmail))
    ));
    // The first sign-in matches by verified email and links (issuer, sub)...
    assert_eq!(
        s.sign_in_member(
            team,
            &login("sub-ada", "ada@example.COM", true),
            Role::ReadOnly
        )
        .await
        .unwrap()
        .id,
        ada.id
    );
    // ...which then finds her whatever email the provider asserts.
    assert_eq!(
        s.sign_in_member(
            team,
            &login("sub-ada", "ada.l@new.example", false),
            Role::ReadOnly
        )
        .await
        .unwrap()
        .id,
        ada.id
    );
    // Another subject asserting Ada's email cannot take her account over.
    assert!(matches!(
        s.sign_in_member(
            team,
            &login("sub-mallory", "ada@example.com", true),
            Role::ReadOnly
        )
        .await,
        Err(StoreError::Refused(
            MemberRuleError::LinkedToAnotherIdentity
        ))
    ));
    // Eight first sign-ins of one new person at once make one member, linked once.
    let s2 = Arc::new(s.clone());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = Arc::clone(&s2);
            let identity = login("sub-bob", "bob@example.com", true);
            tokio::spawn(async move { s.sign_in_member(team, &identity, Role::Auditor).await })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        let member = task.await.unwrap().unwrap();
        assert_eq!((member.role, member.active), (Role::Auditor, true));
        ids.push(member.id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1);
    // Suspended: refused, not re-created, whether found by link or by email.
    s.write_members(
        team,
        vec![MemberChange::update(ids[0], MemberUpdate::suspend())],
    )
    .await
    .unwrap();
    assert!(matches!(
        s.sign_in_member(
            team,
            &login("sub-bob", "bob@example.com", true),
            Role::Auditor
        )
        .await,
        Err(StoreError::Refused(MemberRuleError::Suspended))
    ));
    assert_eq!(s.list_members(team).await.unwrap().len(), 2);
}
