//! The storage trait suite, written once over the traits of `butterfly_core::store`.
//!
//! Each function takes any store that implements the traits (plus [`RawTables`] where a
//! test must look at what is at rest) and is run on every backend by `main.rs`.

use std::collections::BTreeSet;
use std::sync::Arc;

use butterfly_core::members::MemberChange;
use butterfly_core::store::{
    ApiKeyStore, AuditOutcome, AuditStore, BackupConnection, ConnectionStore, GitExportSetting,
    GitExportStore, JobStatus, JobStore, MemberStore, MemberUpdate, MemberWriteStore,
    NewAuditEntry, NewMember, NewSession, ScimTokenStore, SessionStore, StoreError, TeamStore,
};
use butterfly_core::token::{API_KEY_PREFIX, RawToken, SCIM_TOKEN_PREFIX, SESSION_PREFIX};
use butterfly_core::{FixedClock, Member, MemberId, Role, Team, TeamId};
use butterfly_store::SqlStore;
use butterfly_store::sql::SCIM_TOKEN_CACHE_TTL;
use chrono::{DateTime, TimeDelta, Utc};
use futures::future::join_all;
use serde_json::json;
use uuid::Uuid;

use crate::harness::RawTables;

/// Every storage trait at once.
pub trait Stores:
    TeamStore
    + MemberStore
    + ApiKeyStore
    + ScimTokenStore
    + SessionStore
    + JobStore
    + ConnectionStore
    + GitExportStore
    + AuditStore
    + MemberWriteStore
    + RawTables
{
}

impl<S> Stores for S where
    S: TeamStore
        + MemberStore
        + ApiKeyStore
        + ScimTokenStore
        + SessionStore
        + JobStore
        + ConnectionStore
        + GitExportStore
        + AuditStore
        + MemberWriteStore
        + RawTables
{
}

/// A fixed "now", so expiry and due times do not depend on the test machine's clock.
const NOW: DateTime<Utc> = match DateTime::from_timestamp(1_893_499_200, 0) {
    Some(now) => now, // 2030-01-01T12:00:00Z
    None => panic!("in range"),
};

fn new_member(email: &str, role: Role) -> NewMember {
    NewMember {
        email: email.to_owned(),
        display_name: Some(format!("Member {email}")),
        role,
        active: true,
        external_id: None,
    }
}

async fn team_with_member<S: Stores>(s: &S, name: &str) -> (Team, Member) {
    let team = s.create_team(name).await.unwrap();
    let member = s
        .create_member(
            team.id,
            new_member(&format!("owner@{name}.example"), Role::Admin),
        )
        .await
        .unwrap();
    (team, member)
}

fn session_for(member: &Member, expires_at: DateTime<Utc>) -> NewSession {
    NewSession {
        team_id: member.team_id,
        member_id: member.id,
        idp_sid: Some("sid-1".into()),
        idp_sub: Some("sub-1".into()),
        expires_at,
    }
}

/// The presented secret with its last character changed.
fn altered(secret: &RawToken) -> RawToken {
    let mut text = secret.secret().to_owned();
    let last = text.pop().unwrap();
    text.push(if last == 'a' { 'b' } else { 'a' });
    RawToken::from_presented(text)
}

pub async fn teams_are_unique_and_found_by_id_and_name<S: Stores>(s: &S) {
    let acme = s.create_team("acme").await.unwrap();
    let beta = s.create_team("beta").await.unwrap();
    assert!(matches!(
        s.create_team("acme").await,
        Err(StoreError::Conflict("team"))
    ));

    assert_eq!(s.team(acme.id).await.unwrap(), Some(acme.clone()));
    assert_eq!(s.team_by_name("beta").await.unwrap(), Some(beta.clone()));
    assert_eq!(s.team(TeamId::new_random()).await.unwrap(), None);
    assert_eq!(s.team_by_name("gamma").await.unwrap(), None);
    assert_eq!(s.list_teams().await.unwrap(), vec![acme, beta]);
}

pub async fn members_are_created_updated_and_deleted<S: Stores>(s: &S) {
    let team = s.create_team("acme").await.unwrap();
    let ada = s
        .create_member(
            team.id,
            NewMember {
                external_id: Some("00u1".into()),
                ..new_member("Ada@Example.com", Role::Auditor)
            },
        )
        .await
        .unwrap();
    assert_eq!(ada.email, "Ada@Example.com", "the email is kept as given");
    let bob = s
        .create_member(team.id, new_member("bob@example.com", Role::ReadOnly))
        .await
        .unwrap();

    assert_eq!(s.member(team.id, ada.id).await.unwrap(), Some(ada.clone()));
    assert_eq!(
        s.member_by_email(team.id, "ADA@example.COM").await.unwrap(),
        Some(ada.clone())
    );
    assert_eq!(
        s.list_members(team.id).await.unwrap(),
        vec![ada.clone(), bob.clone()]
    );

    // Only the named fields change; `Some(None)` clears.
    let mut update = MemberUpdate::default();
    update.role = Some(Role::Admin);
    update.active = Some(false);
    update.external_id = Some(None);
    let changed = s.update_member(team.id, ada.id, update).await.unwrap();
    assert_eq!(changed.role, Role::Admin);
    assert!(!changed.active);
    assert_eq!(changed.external_id, None);
    assert_eq!(changed.email, ada.email);
    assert_eq!(changed.display_name, ada.display_name);
    assert_eq!(changed.created_at, ada.created_at);
    assert!(changed.updated_at >= ada.updated_at);
    assert_eq!(s.member(team.id, ada.id).await.unwrap(), Some(changed));

    let mut update = MemberUpdate::default();
    update.email = Some("ada.lovelace@example.com".into());
    update.display_name = Some(None);
    let renamed = s.update_member(team.id, ada.id, update).await.unwrap();
    assert_eq!(renamed.email, "ada.lovelace@example.com");
    assert_eq!(renamed.display_name, None);
    assert_eq!(
        s.member_by_email(team.id, "ada@example.com").await.unwrap(),
        None
    );
    assert!(
        s.member_by_email(team.id, "Ada.Lovelace@example.com")
            .await
            .unwrap()
            .is_some()
    );

    assert!(matches!(
        s.update_member(team.id, MemberId::new_random(), MemberUpdate::default())
            .await,
        Err(StoreError::NotFound("member"))
    ));

    assert!(s.delete_member(team.id, bob.id).await.unwrap());
    assert!(!s.delete_member(team.id, bob.id).await.unwrap());
    assert_eq!(s.member(team.id, bob.id).await.unwrap(), None);
    assert_eq!(s.list_members(team.id).await.unwrap().len(), 1);

    assert!(matches!(
        s.create_member(
            TeamId::new_random(),
            new_member("x@example.com", Role::Admin)
        )
        .await,
        Err(StoreError::NotFound("team"))
    ));
}

pub async fn member_emails_are_unique_per_team_ignoring_case<S: Stores>(s: &S) {
    let a = s.create_team("a").await.unwrap();
    let b = s.create_team("b").await.unwrap();
    let ada = s
        .create_member(a.id, new_member("ada@example.com", Role::Admin))
        .await
        .unwrap();
    assert!(matches!(
        s.create_member(a.id, new_member("ADA@Example.COM", Role::Auditor))
            .await,
        Err(StoreError::Conflict("member"))
    ));
    // Another team may have the same address.
    s.create_member(b.id, new_member("Ada@example.com", Role::Admin))
        .await
        .unwrap();

    // Renaming onto a taken address conflicts too, whatever its case.
    let bob = s
        .create_member(a.id, new_member("bob@example.com", Role::Admin))
        .await
        .unwrap();
    let mut update = MemberUpdate::default();
    update.email = Some("Ada@EXAMPLE.com".into());
    assert!(matches!(
        s.update_member(a.id, bob.id, update).await,
        Err(StoreError::Conflict("member"))
    ));
    assert_eq!(
        s.member(a.id, bob.id).await.unwrap().unwrap().email,
        "bob@example.com"
    );
    // A member may change the case of its own address.
    let mut update = MemberUpdate::default();
    update.email = Some("ADA@example.com".into());
    let recased = s.update_member(a.id, ada.id, update).await.unwrap();
    assert_eq!(recased.email, "ADA@example.com");
}

pub async fn teams_cannot_touch_each_others_rows<S: Stores>(s: &S) {
    let (a, ada) = team_with_member(s, "a").await;
    let (b, bea) = team_with_member(s, "b").await;

    // Members.
    assert_eq!(s.member(b.id, ada.id).await.unwrap(), None);
    assert_eq!(s.member_by_email(b.id, &ada.email).await.unwrap(), None);
    assert_eq!(s.list_members(b.id).await.unwrap(), vec![bea.clone()]);
    let mut update = MemberUpdate::default();
    update.role = Some(Role::ReadOnly);
    assert!(matches!(
        s.update_member(b.id, ada.id, update).await,
        Err(StoreError::NotFound("member"))
    ));
    assert!(!s.delete_member(b.id, ada.id).await.unwrap());
    assert_eq!(s.member(a.id, ada.id).await.unwrap(), Some(ada.clone()));

    // API keys: team B can neither list nor revoke A's key, nor bind a key to A's member.
    let (key, key_secret) = s
        .create_api_key(a.id, "ci", Role::Admin, Some(ada.id))
        .await
        .unwrap();
    assert!(s.list_api_keys(b.id).await.unwrap().is_empty());
    assert!(!s.revoke_api_key(b.id, key.id).await.unwrap());
    assert_eq!(s.revoke_api_keys_of_member(b.id, ada.id).await.unwrap(), 0);
    assert!(matches!(
        s.create_api_key(b.id, "steal", Role::SuperAdmin, Some(ada.id))
            .await,
        Err(StoreError::NotFound("member"))
    ));
    let authenticated = s.authenticate_api_key(&key_secret).await.unwrap().unwrap();
    assert_eq!(authenticated.team_id, a.id);

    // SCIM tokens.
    let (token, token_secret) = s.create_scim_token(a.id, "okta").await.unwrap();
    assert!(s.list_scim_tokens(b.id).await.unwrap().is_empty());
    assert!(!s.revoke_scim_token(b.id, token.id).await.unwrap());
    assert_eq!(
        s.authenticate_scim_token(&token_secret)
            .await
            .unwrap()
            .unwrap()
            .team_id,
        a.id
    );

    // Sessions: B's logout by sid, sub or member ends none of A's sessions, and a session
    // cannot pair team B with A's member.
    let (_, cookie) = s
        .create_session(session_for(&ada, NOW + TimeDelta::hours(1)))
        .await
        .unwrap();
    assert!(matches!(
        s.create_session(NewSession {
            team_id: b.id,
            ..session_for(&ada, NOW + TimeDelta::hours(1))
        })
        .await,
        Err(StoreError::NotFound("member"))
    ));
    assert_eq!(s.revoke_sessions_by_sid(b.id, "sid-1").await.unwrap(), 0);
    assert_eq!(s.revoke_sessions_by_sub(b.id, "sub-1").await.unwrap(), 0);
    assert_eq!(s.revoke_sessions_of_member(b.id, ada.id).await.unwrap(), 0);
    assert!(s.session_by_token(&cookie, NOW).await.unwrap().is_some());

    // Jobs.
    let job = s
        .enqueue_job(a.id, "backup", json!({"connection": "okta"}), NOW)
        .await
        .unwrap();
    assert_eq!(s.job(b.id, job.id).await.unwrap(), None);
    assert_eq!(s.job(a.id, job.id).await.unwrap(), Some(job));
}

pub async fn api_keys_authenticate_until_revoked<S: Stores>(s: &S) {
    let (team, ada) = team_with_member(s, "acme").await;
    let (key, secret) = s
        .create_api_key(team.id, "deploy", Role::BackupOperator, Some(ada.id))
        .await
        .unwrap();
    assert!(secret.secret().starts_with(API_KEY_PREFIX));
    assert_eq!(key.hint, secret.hint());
    assert_eq!(key.member_id, Some(ada.id));
    assert_eq!(key.revoked_at, None);

    // The raw secret, re-presented as a client would, authenticates.
    let presented = RawToken::from_presented(secret.secret());
    assert_eq!(
        s.authenticate_api_key(&presented).await.unwrap(),
        Some(key.clone())
    );
    // Anything else does not.
    for wrong in [
        altered(&secret),
        RawToken::from_presented(format!("{}x", secret.secret())),
        RawToken::from_presented(""),
        RawToken::from_presented(secret.hash().to_hex()),
        RawToken::generate(API_KEY_PREFIX),
    ] {
        assert_eq!(s.authenticate_api_key(&wrong).await.unwrap(), None);
    }
    // An API key is not a SCIM token.
    assert_eq!(s.authenticate_scim_token(&presented).await.unwrap(), None);

    // Team-wide key (no member), listed newest first.
    let (team_key, team_secret) = s
        .create_api_key(team.id, "terraform", Role::Auditor, None)
        .await
        .unwrap();
    assert_eq!(
        s.authenticate_api_key(&team_secret).await.unwrap(),
        Some(team_key.clone())
    );
    let listed: Vec<Uuid> = s
        .list_api_keys(team.id)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(listed, vec![team_key.id, key.id]);

    assert!(s.revoke_api_key(team.id, key.id).await.unwrap());
    assert!(!s.revoke_api_key(team.id, key.id).await.unwrap());
    assert_eq!(s.authenticate_api_key(&presented).await.unwrap(), None);
    let listed = s.list_api_keys(team.id).await.unwrap();
    assert!(
        listed
            .iter()
            .any(|k| k.id == key.id && k.revoked_at.is_some())
    );
    assert!(
        s.authenticate_api_key(&team_secret)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        !s.revoke_api_key(team.id, Uuid::new_v4()).await.unwrap(),
        "unknown key"
    );

    // Revoking a member's keys leaves other keys alone.
    let (_, s1) = s
        .create_api_key(team.id, "k1", Role::Admin, Some(ada.id))
        .await
        .unwrap();
    let (_, s2) = s
        .create_api_key(team.id, "k2", Role::Admin, Some(ada.id))
        .await
        .unwrap();
    assert_eq!(
        s.revoke_api_keys_of_member(team.id, ada.id).await.unwrap(),
        2
    );
    assert_eq!(s.authenticate_api_key(&s1).await.unwrap(), None);
    assert_eq!(s.authenticate_api_key(&s2).await.unwrap(), None);
    assert!(
        s.authenticate_api_key(&team_secret)
            .await
            .unwrap()
            .is_some()
    );

    // Deleting the member deletes its keys.
    let (_, s3) = s
        .create_api_key(team.id, "k3", Role::Admin, Some(ada.id))
        .await
        .unwrap();
    assert!(s.delete_member(team.id, ada.id).await.unwrap());
    assert_eq!(s.authenticate_api_key(&s3).await.unwrap(), None);
}

pub async fn api_keys_of_suspended_members_do_not_authenticate<S: Stores>(s: &S) {
    let (team, ada) = team_with_member(s, "acme").await;
    let (_, secret) = s
        .create_api_key(team.id, "laptop", Role::Admin, Some(ada.id))
        .await
        .unwrap();
    let mut suspend = MemberUpdate::default();
    suspend.active = Some(false);
    s.update_member(team.id, ada.id, suspend).await.unwrap();
    assert_eq!(s.authenticate_api_key(&secret).await.unwrap(), None);
}

/// Issue 11, finding 6: a member's key records its owner and goes with them; a service
/// key names its service, records who created it, and outlives that member.
pub async fn api_keys_have_owners_and_service_keys_outlive_them<S: Stores>(s: &S) {
    let (team, ada) = team_with_member(s, "acme").await;
    let (own, own_secret) = s
        .create_api_key(team.id, "laptop", Role::Admin, Some(ada.id))
        .await
        .unwrap();
    assert_eq!(
        (own.member_id, own.created_by, own.service.as_deref()),
        (Some(ada.id), Some(ada.id), None)
    );
    let (ci, ci_secret) = s
        .create_service_api_key(
            team.id,
            "ci",
            Role::BackupOperator,
            "github-actions",
            Some(ada.id),
        )
        .await
        .unwrap();
    assert_eq!(
        (ci.member_id, ci.created_by, ci.service.as_deref()),
        (None, Some(ada.id), Some("github-actions"))
    );
    // Stored as created.
    let listed = s.list_api_keys(team.id).await.unwrap();
    assert_eq!(listed, vec![ci.clone(), own.clone()]);
    assert_eq!(
        s.authenticate_api_key(&ci_secret).await.unwrap(),
        Some(ci.clone())
    );

    // Ada is suspended: her key goes, the service key stays.
    let mut suspend = MemberUpdate::default();
    suspend.active = Some(false);
    s.update_member(team.id, ada.id, suspend).await.unwrap();
    assert_eq!(s.authenticate_api_key(&own_secret).await.unwrap(), None);
    assert_eq!(
        s.authenticate_api_key(&ci_secret).await.unwrap(),
        Some(ci.clone())
    );
    // Deleted: the service key still names her as its creator.
    assert!(s.delete_member(team.id, ada.id).await.unwrap());
    assert_eq!(s.authenticate_api_key(&ci_secret).await.unwrap(), Some(ci));
}

/// The audit trail: member writes record their changes in their own transaction
/// (nothing for a refused or no-op change), entries are per team, `since` filters, and
/// the table refuses updates and deletes.
pub async fn the_audit_trail_records_member_changes_and_is_append_only<S: Stores>(s: &S) {
    let (team, ada) = team_with_member(s, "acme").await;
    let other = s.create_team("other").await.unwrap();
    let before = s.list_audit(Some(team.id), None).await.unwrap().len();
    let mut update = MemberUpdate::default();
    update.role = Some(Role::Auditor);
    update.active = Some(false);
    s.write_members(team.id, vec![MemberChange::update(ada.id, update.clone())])
        .await
        .unwrap();
    // The same change again changes nothing, and records nothing.
    s.write_members(team.id, vec![MemberChange::update(ada.id, update)])
        .await
        .unwrap();
    let lines = s.list_audit(Some(team.id), None).await.unwrap();
    let actions: Vec<&str> = lines[before..].iter().map(|l| l.action.as_str()).collect();
    assert_eq!(actions, ["member.role_changed", "member.suspended"]);
    let changed = &lines[before];
    assert_eq!(changed.actor, "system");
    assert_eq!(changed.target, Some(format!("member:{}", ada.id)));
    assert_eq!(changed.detail["to"], "auditor");
    assert_eq!(changed.outcome, AuditOutcome::Success);

    s.record_audit(NewAuditEntry {
        team_id: None,
        actor: "anonymous".into(),
        action: "auth.failed".into(),
        target: None,
        request_id: Some("r-1".into()),
        outcome: AuditOutcome::Denied,
        detail: json!({"via": "api"}),
    })
    .await
    .unwrap();
    let teamless = s.list_audit(None, None).await.unwrap();
    assert_eq!(teamless.len(), 1);
    assert_eq!(teamless[0].request_id.as_deref(), Some("r-1"));
    assert!(s.list_audit(Some(other.id), None).await.unwrap().is_empty());
    let later = lines.last().unwrap().at + TimeDelta::milliseconds(1);
    assert!(
        s.list_audit(Some(team.id), Some(later))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.list_audit(Some(team.id), Some(lines[0].at))
            .await
            .unwrap()
            .len(),
        lines.len()
    );

    for statement in [
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
    ] {
        let refused = s.execute(statement).await.unwrap_err();
        assert!(refused.contains("append-only"), "{statement}: {refused}");
    }
    assert_eq!(s.list_audit(Some(team.id), None).await.unwrap(), lines);
}

pub async fn scim_tokens_authenticate_until_revoked<S: Stores>(s: &S) {
    let team = s.create_team("acme").await.unwrap();
    let (first, first_secret) = s.create_scim_token(team.id, "okta").await.unwrap();
    let (second, second_secret) = s.create_scim_token(team.id, "entra").await.unwrap();
    assert!(first_secret.secret().starts_with(SCIM_TOKEN_PREFIX));
    assert_eq!(first.hint, first_secret.hint());

    let presented = RawToken::from_presented(first_secret.secret());
    assert_eq!(
        s.authenticate_scim_token(&presented).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        s.authenticate_scim_token(&altered(&first_secret))
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.authenticate_api_key(&presented).await.unwrap(), None);

    let listed: Vec<Uuid> = s
        .list_scim_tokens(team.id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(listed, vec![second.id, first.id]);

    assert!(s.revoke_scim_token(team.id, first.id).await.unwrap());
    assert!(!s.revoke_scim_token(team.id, first.id).await.unwrap());
    assert_eq!(s.authenticate_scim_token(&presented).await.unwrap(), None);
    assert_eq!(
        s.authenticate_scim_token(&second_secret)
            .await
            .unwrap()
            .map(|t| t.id),
        Some(second.id)
    );
    let revoked = s.list_scim_tokens(team.id).await.unwrap();
    assert!(
        revoked
            .iter()
            .any(|t| t.id == first.id && t.revoked_at.is_some())
    );
}

/// Verified SCIM tokens are cached: a revocation through any clone of the store stops
/// the token at once, even right after it was verified; one made behind the store's back
/// (another replica or the CLI on the same database) stops it once the TTL has passed,
/// never later.
pub async fn scim_token_cache_forgets_revoked_tokens(s: &SqlStore) {
    let clock = Arc::new(FixedClock::new(NOW));
    let s = s.clone().with_clock(clock.clone());
    let elsewhere_in_process = s.clone();
    let team = s.create_team("acme").await.unwrap();
    let (okta, okta_secret) = s.create_scim_token(team.id, "okta").await.unwrap();
    let (entra, entra_secret) = s.create_scim_token(team.id, "entra").await.unwrap();

    for _ in 0..2 {
        assert_eq!(
            s.authenticate_scim_token(&okta_secret).await.unwrap(),
            Some(okta.clone())
        );
    }
    assert!(
        elsewhere_in_process
            .revoke_scim_token(team.id, okta.id)
            .await
            .unwrap()
    );
    assert_eq!(s.authenticate_scim_token(&okta_secret).await.unwrap(), None);

    assert_eq!(
        s.authenticate_scim_token(&entra_secret).await.unwrap(),
        Some(entra.clone())
    );
    let revoked_elsewhere = format!(
        "UPDATE scim_tokens SET revoked_at = 0 WHERE id = '{}'",
        entra.id
    );
    assert_eq!(s.execute(&revoked_elsewhere).await, Ok(1));
    // Within the TTL this process still trusts what it verified: the staleness the
    // documentation admits, and the proof that the cache answered.
    clock.advance(TimeDelta::from_std(SCIM_TOKEN_CACHE_TTL).unwrap() - TimeDelta::milliseconds(1));
    assert_eq!(
        s.authenticate_scim_token(&entra_secret).await.unwrap(),
        Some(entra.clone())
    );
    clock.advance(TimeDelta::milliseconds(1));
    assert_eq!(
        s.authenticate_scim_token(&entra_secret).await.unwrap(),
        None
    );

    // With the cache off every check asks the database.
    let (live, live_secret) = s.create_scim_token(team.id, "live").await.unwrap();
    let uncached = s
        .clone()
        .with_scim_token_cache_ttl(std::time::Duration::ZERO);
    assert_eq!(
        uncached
            .authenticate_scim_token(&live_secret)
            .await
            .unwrap(),
        Some(live.clone())
    );
    let revoked_live = format!(
        "UPDATE scim_tokens SET revoked_at = 0 WHERE id = '{}'",
        live.id
    );
    assert_eq!(s.execute(&revoked_live).await, Ok(1));
    assert_eq!(
        uncached
            .authenticate_scim_token(&live_secret)
            .await
            .unwrap(),
        None
    );
}

pub async fn raw_secrets_never_reach_the_database<S: Stores>(s: &S) {
    let (team, ada) = team_with_member(s, "acme").await;
    let (_, api) = s
        .create_api_key(team.id, "k", Role::Admin, Some(ada.id))
        .await
        .unwrap();
    let (_, scim) = s.create_scim_token(team.id, "t").await.unwrap();
    let (_, cookie) = s
        .create_session(session_for(&ada, NOW + TimeDelta::hours(8)))
        .await
        .unwrap();

    for (table, secret, prefix) in [
        ("api_keys", &api, API_KEY_PREFIX),
        ("scim_tokens", &scim, SCIM_TOKEN_PREFIX),
        ("sessions", &cookie, SESSION_PREFIX),
    ] {
        let cells = s.cells(table).await;
        assert!(!cells.is_empty(), "{table} has rows");
        // Neither the secret nor its random part (which carries all of its entropy)
        // is in any column; the hash is.
        let random_part = &secret.secret()[prefix.len()..];
        for cell in &cells {
            assert!(
                !cell.contains(random_part),
                "{table} stores a secret: {cell}"
            );
        }
        assert!(
            cells.contains(&secret.hash().to_hex()),
            "{table} stores the hash"
        );
    }
    // And no other table holds them either.
    for table in ["teams", "members", "jobs"] {
        for cell in s.cells(table).await {
            for secret in [&api, &scim, &cookie] {
                assert!(!cell.contains(secret.secret()));
            }
        }
    }
}

pub async fn sessions_expire_and_are_revoked_by_id_sid_sub_and_member<S: Stores>(s: &S) {
    let (team, ada) = team_with_member(s, "acme").await;
    let expires_at = NOW + TimeDelta::hours(1);
    let (session, cookie) = s
        .create_session(session_for(&ada, expires_at))
        .await
        .unwrap();
    assert!(cookie.secret().starts_with(SESSION_PREFIX));
    assert_eq!(session.expires_at, expires_at);
    assert_eq!(session.idp_sid.as_deref(), Some("sid-1"));

    // Live strictly before its expiry, over at it.
    let presented = RawToken::from_presented(cookie.secret());
    assert_eq!(
        s.session_by_token(&presented, NOW).await.unwrap(),
        Some(session.clone())
    );
    assert!(
        s.session_by_token(&presented, expires_at - TimeDelta::milliseconds(1))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        s.session_by_token(&presented, expires_at).await.unwrap(),
        None
    );
    assert_eq!(
        s.session_by_token(&altered(&cookie), NOW).await.unwrap(),
        None
    );

    // By id.
    assert!(s.revoke_session(session.id).await.unwrap());
    assert!(!s.revoke_session(session.id).await.unwrap());
    assert_eq!(s.session_by_token(&presented, NOW).await.unwrap(), None);
    assert!(!s.revoke_session(Uuid::new_v4()).await.unwrap());

    // By the IdP's sid (back-channel logout of one IdP session).
    let bob = s
        .create_member(team.id, new_member("bob@acme.example", Role::Auditor))
        .await
        .unwrap();
    let (_, ada_1) = s
        .create_session(session_for(&ada, expires_at))
        .await
        .unwrap();
    let (_, ada_2) = s
        .create_session(NewSession {
            idp_sid: Some("sid-2".into()),
            ..session_for(&ada, expires_at)
        })
        .await
        .unwrap();
    let (_, bob_1) = s
        .create_session(NewSession {
            idp_sid: Some("sid-3".into()),
            idp_sub: Some("sub-bob".into()),
            ..session_for(&bob, expires_at)
        })
        .await
        .unwrap();
    assert_eq!(s.revoke_sessions_by_sid(team.id, "sid-1").await.unwrap(), 1);
    assert_eq!(s.session_by_token(&ada_1, NOW).await.unwrap(), None);
    assert!(s.session_by_token(&ada_2, NOW).await.unwrap().is_some());

    // By the IdP's sub (logout of every session of that user).
    assert_eq!(s.revoke_sessions_by_sub(team.id, "sub-1").await.unwrap(), 1);
    assert_eq!(s.session_by_token(&ada_2, NOW).await.unwrap(), None);
    assert!(s.session_by_token(&bob_1, NOW).await.unwrap().is_some());
    assert_eq!(s.revoke_sessions_by_sub(team.id, "sub-1").await.unwrap(), 0);

    // By member.
    let (_, bob_2) = s
        .create_session(session_for(&bob, expires_at))
        .await
        .unwrap();
    assert_eq!(
        s.revoke_sessions_of_member(team.id, bob.id).await.unwrap(),
        2
    );
    assert_eq!(s.session_by_token(&bob_1, NOW).await.unwrap(), None);
    assert_eq!(s.session_by_token(&bob_2, NOW).await.unwrap(), None);

    // A suspended member's session ends at once.
    let (_, ada_3) = s
        .create_session(session_for(&ada, expires_at))
        .await
        .unwrap();
    let mut suspend = MemberUpdate::default();
    suspend.active = Some(false);
    s.update_member(team.id, ada.id, suspend).await.unwrap();
    assert_eq!(s.session_by_token(&ada_3, NOW).await.unwrap(), None);

    // A session for a member that does not exist is refused.
    assert!(matches!(
        s.create_session(NewSession {
            member_id: MemberId::new_random(),
            ..session_for(&ada, expires_at)
        })
        .await,
        Err(StoreError::NotFound("member"))
    ));
}

pub async fn jobs_are_claimed_only_when_due_and_finished_once<S: Stores>(s: &S) {
    let team = s.create_team("acme").await.unwrap();
    let later = s
        .enqueue_job(
            team.id,
            "export",
            json!({"n": 2}),
            NOW + TimeDelta::hours(1),
        )
        .await
        .unwrap();
    let second = s
        .enqueue_job(
            team.id,
            "backup",
            json!({"n": 1}),
            NOW - TimeDelta::seconds(1),
        )
        .await
        .unwrap();
    let first = s
        .enqueue_job(
            team.id,
            "backup",
            json!({"n": 0}),
            NOW - TimeDelta::minutes(5),
        )
        .await
        .unwrap();
    assert_eq!(first.status, JobStatus::Queued);
    assert_eq!(first.attempts, 0);
    assert_eq!(s.job(team.id, first.id).await.unwrap(), Some(first.clone()));

    // Oldest due first; a job due later is not handed out early.
    let claimed = s.claim_next_job("worker-1", NOW).await.unwrap().unwrap();
    assert_eq!(claimed.id, first.id);
    assert_eq!(claimed.status, JobStatus::Running);
    assert_eq!(claimed.attempts, 1);
    assert_eq!(claimed.claimed_by.as_deref(), Some("worker-1"));
    assert_eq!(claimed.payload, json!({"n": 0}));
    assert_eq!(
        s.claim_next_job("worker-2", NOW).await.unwrap().unwrap().id,
        second.id
    );
    assert_eq!(s.claim_next_job("worker-2", NOW).await.unwrap(), None);
    let due_later = s
        .claim_next_job("worker-2", NOW + TimeDelta::hours(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(due_later.id, later.id);

    s.finish_job(first.id, true, json!({"snapshot": "s1"}))
        .await
        .unwrap();
    s.finish_job(second.id, false, json!({"error": "timeout"}))
        .await
        .unwrap();
    let done = s.job(team.id, first.id).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.outcome, Some(json!({"snapshot": "s1"})));
    let failed = s.job(team.id, second.id).await.unwrap().unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.outcome, Some(json!({"error": "timeout"})));

    // A finished job stays finished: a second report does not overwrite the first.
    assert!(matches!(
        s.finish_job(first.id, false, json!({})).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        s.job(team.id, first.id).await.unwrap().unwrap().status,
        JobStatus::Succeeded
    );
    assert!(matches!(
        s.finish_job(Uuid::new_v4(), true, json!({})).await,
        Err(StoreError::NotFound(_))
    ));
    // Finished jobs are never claimed again.
    assert_eq!(
        s.claim_next_job("worker-3", NOW + TimeDelta::days(1))
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        s.enqueue_job(TeamId::new_random(), "backup", json!({}), NOW)
            .await,
        Err(StoreError::NotFound("team"))
    ));
}

pub async fn concurrent_claimers_never_share_a_job<S: Stores>(s: &S) {
    const JOBS: usize = 24;
    const CLAIMERS: usize = 40;
    let a = s.create_team("a").await.unwrap();
    let b = s.create_team("b").await.unwrap();
    let mut queued = BTreeSet::new();
    for i in 0..JOBS {
        let team = if i % 2 == 0 { a.id } else { b.id };
        let job = s
            .enqueue_job(team, "backup", json!({"i": i}), NOW - TimeDelta::seconds(1))
            .await
            .unwrap();
        queued.insert(job.id);
    }

    // All claims in flight at once, over as many connections as the pool gives.
    let claims = join_all((0..CLAIMERS).map(|i| {
        let worker = format!("worker-{i}");
        async move { s.claim_next_job(&worker, NOW).await }
    }))
    .await;
    let mut claimed = Vec::new();
    for claim in claims {
        if let Some(job) = claim.unwrap() {
            assert_eq!(job.attempts, 1, "claimed once");
            claimed.push(job.id);
        }
    }
    // Whatever a busy claimer missed is still there for a later claim.
    while let Some(job) = s.claim_next_job("sweeper", NOW).await.unwrap() {
        claimed.push(job.id);
    }
    let distinct: BTreeSet<Uuid> = claimed.iter().copied().collect();
    assert_eq!(distinct.len(), claimed.len(), "a job was handed out twice");
    assert_eq!(distinct, queued, "every job was handed out");
}

pub async fn fresh_database_has_every_table_empty<S: Stores>(s: &S) {
    // Every table the migrations create is there, and empty.
    for table in [
        "teams",
        "members",
        "api_keys",
        "scim_tokens",
        "sessions",
        "jobs",
        "scim_resources",
        "scim_group_members",
        "backup_connections",
        "git_exports",
        "audit_log",
        "restore_jobs",
        "restore_plans",
        "notification_channels",
    ] {
        assert!(s.cells(table).await.is_empty(), "{table}");
    }
}

/// Backend-specific checks that have no trait to go through.
#[tokio::test]
async fn sqlite_store_pings_and_reports_its_backend() {
    crate::harness::on_sqlite(|s: SqlStore| async move {
        s.ping().await.unwrap();
        assert_eq!(s.backend(), butterfly_store::Backend::Sqlite);
    })
    .await;
}

#[tokio::test]
async fn postgres_store_pings_and_reports_its_backend() {
    crate::harness::on_postgres(|s: SqlStore| async move {
        s.ping().await.unwrap();
        assert_eq!(s.backend(), butterfly_store::Backend::Postgres);
    })
    .await;
}

/// A replica in the middle of claiming a job (its transaction holds the row) must not
/// make another replica wait for it, nor hand the other the same job: the second
/// claimer takes the next job at once. Deterministic: the first claim runs in a
/// transaction this test keeps open, and a watcher on `pg_stat_activity` fails the test
/// as soon as any session of the database waits on a lock (a claim without `SKIP
/// LOCKED` would queue behind the open transaction, then take nothing or the same job).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_claimer_skips_a_job_another_claimer_is_holding() {
    use sqlx::Row as _;
    crate::harness::on_postgres(|s: SqlStore| async move {
        let team = s.create_team("a").await.unwrap();
        let first = s
            .enqueue_job(team.id, "backup", json!({"n": 1}), NOW - TimeDelta::seconds(2))
            .await
            .unwrap();
        let second = s
            .enqueue_job(team.id, "backup", json!({"n": 2}), NOW - TimeDelta::seconds(1))
            .await
            .unwrap();
        let now_ms = NOW.timestamp_millis();

        let mut holder = s.pool().begin().await.unwrap();
        let held = sqlx::query(s.backend().claim_job_sql())
            .bind("holder")
            .bind(now_ms)
            .fetch_one(&mut *holder)
            .await
            .unwrap();
        assert_eq!(held.get::<String, _>("id"), first.id.to_string());

        let claim = s.claim_next_job("other", NOW);
        let watch_for_lock_waits = async {
            let mut watcher = s.pool().acquire().await.unwrap();
            loop {
                let waiting: i64 = sqlx::query(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                )
                .fetch_one(&mut *watcher)
                .await
                .unwrap()
                .get(0);
                if waiting > 0 {
                    return;
                }
                tokio::task::yield_now().await;
            }
        };
        let claimed = tokio::select! {
            claimed = claim => claimed.unwrap(),
            () = watch_for_lock_waits => panic!("the claim waited on the row another claimer holds"),
        };
        let claimed = claimed.expect("the next job is free to claim");
        assert_eq!(claimed.id, second.id);
        assert_eq!(claimed.claimed_by.as_deref(), Some("other"));

        holder.commit().await.unwrap();
        let first_now = s.job(team.id, first.id).await.unwrap().unwrap();
        assert_eq!(first_now.claimed_by.as_deref(), Some("holder"));
        assert_eq!(first_now.attempts, 1);
        assert_eq!(s.claim_next_job("late", NOW).await.unwrap(), None);
    })
    .await;
}

fn sso_connection(
    team: TeamId,
    issuer: &str,
    domains: &[&str],
) -> butterfly_core::store::SsoConnection {
    butterfly_core::store::SsoConnection {
        team_id: team,
        issuer: issuer.to_owned(),
        client_id: "client-1".to_owned(),
        client_secret_sealed: vec![1, 2, 3, 255],
        domains: domains.iter().map(|d| (*d).to_owned()).collect(),
        default_role: Role::ReadOnly,
        updated_at: NOW,
    }
}

pub async fn sso_connections_route_domains_to_one_team<
    S: TeamStore + butterfly_core::store::SsoStore,
>(
    s: &S,
) {
    let a = s.create_team("a").await.unwrap();
    let b = s.create_team("b").await.unwrap();
    let saved = s
        .put_sso_connection(sso_connection(
            a.id,
            "https://idp.example",
            &["Example.COM", "example.org"],
        ))
        .await
        .unwrap();
    assert_eq!(saved.domains, vec!["example.com", "example.org"]);

    let found = s
        .sso_connection_for_domain("EXAMPLE.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.team_id, a.id);
    assert_eq!(found.client_secret_sealed, vec![1, 2, 3, 255]);
    assert!(
        s.sso_connection_for_domain("other.example")
            .await
            .unwrap()
            .is_none()
    );

    // A domain belongs to one team: team b cannot claim it, and the failed write
    // leaves nothing of b's connection behind.
    let err = s
        .put_sso_connection(sso_connection(
            b.id,
            "https://idp.example",
            &["b.example", "example.org"],
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict("sso domain")), "{err:?}");
    assert!(s.sso_connection(b.id).await.unwrap().is_none());
    assert!(
        s.sso_connection_for_domain("b.example")
            .await
            .unwrap()
            .is_none()
    );

    // Replacing a connection replaces its domains.
    s.put_sso_connection(sso_connection(
        a.id,
        "https://idp2.example",
        &["example.net"],
    ))
    .await
    .unwrap();
    assert!(
        s.sso_connection_for_domain("example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.sso_connection(a.id).await.unwrap().unwrap().issuer,
        "https://idp2.example"
    );

    // Several teams may share an issuer.
    s.put_sso_connection(sso_connection(b.id, "https://idp2.example", &["b.example"]))
        .await
        .unwrap();
    let shared = s
        .sso_connections_for_issuer("https://idp2.example")
        .await
        .unwrap();
    assert_eq!(shared.len(), 2);

    assert!(s.delete_sso_connection(a.id).await.unwrap());
    assert!(!s.delete_sso_connection(a.id).await.unwrap());
    assert!(
        s.sso_connection_for_domain("example.net")
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn group_roles_are_replaced_whole_per_team<
    S: TeamStore + butterfly_core::store::GroupRoleStore,
>(
    s: &S,
) {
    use std::collections::BTreeMap;
    let a = s.create_team("a").await.unwrap();
    let b = s.create_team("b").await.unwrap();
    let mapping = BTreeMap::from([
        ("Butterfly Admins".to_owned(), Role::Admin),
        ("Auditors".to_owned(), Role::Auditor),
    ]);
    s.set_group_roles(a.id, mapping.clone()).await.unwrap();
    assert_eq!(s.group_roles(a.id).await.unwrap(), mapping);
    assert!(s.group_roles(b.id).await.unwrap().is_empty());
    // Two spellings of one group are one group.
    let clash = BTreeMap::from([
        ("Ops".to_owned(), Role::Admin),
        ("OPS".to_owned(), Role::ReadOnly),
    ]);
    assert!(matches!(
        s.set_group_roles(a.id, clash).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.group_roles(a.id).await.unwrap(),
        mapping,
        "a failed replace changes nothing"
    );
    s.set_group_roles(a.id, BTreeMap::new()).await.unwrap();
    assert!(s.group_roles(a.id).await.unwrap().is_empty());
}

pub async fn job_progress_is_a_heartbeat_and_silent_jobs_are_given_back<S: Stores>(s: &S) {
    let team = s.create_team("acme").await.unwrap();
    let now = Utc::now();
    let job = s
        .enqueue_job(
            team.id,
            "backup.okta",
            json!({"c": 1}),
            now - TimeDelta::seconds(1),
        )
        .await
        .unwrap();
    // Progress only for a running job.
    assert!(matches!(
        s.set_job_progress(job.id, json!({"resources": 1})).await,
        Err(StoreError::NotFound(_))
    ));
    let claimed = s.claim_next_job("w1", now).await.unwrap().unwrap();
    assert_eq!(claimed.progress, None);
    s.set_job_progress(job.id, json!({"resources": 10}))
        .await
        .unwrap();
    let seen = s.job(team.id, job.id).await.unwrap().unwrap();
    assert_eq!(seen.progress, Some(json!({"resources": 10})));
    assert_eq!(seen.created_at, job.created_at);
    assert_eq!(seen.finished_at, None);

    // Heard from recently: kept.
    assert_eq!(
        s.requeue_abandoned_jobs(now - TimeDelta::minutes(1), 2)
            .await
            .unwrap(),
        0
    );
    // Silent (its worker died): queued again, and claimable with a fresh start.
    assert_eq!(
        s.requeue_abandoned_jobs(now + TimeDelta::minutes(1), 2)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.job(team.id, job.id).await.unwrap().unwrap().status,
        JobStatus::Queued
    );
    let again = s.claim_next_job("w2", now).await.unwrap().unwrap();
    assert_eq!((again.id, again.attempts), (job.id, 2));
    assert_eq!(again.progress, None);
    // Out of attempts: failed for good, with a reason, never claimed again.
    assert_eq!(
        s.requeue_abandoned_jobs(now + TimeDelta::minutes(1), 2)
            .await
            .unwrap(),
        1
    );
    let failed = s.job(team.id, job.id).await.unwrap().unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    assert!(failed.outcome.unwrap()["error"].is_string());
    assert!(failed.finished_at.is_some());
    assert_eq!(s.claim_next_job("w3", now).await.unwrap(), None);

    // A worker stopping cleanly hands its job back at once, without spending an attempt;
    // only the holder can.
    let handed = s
        .enqueue_job(team.id, "backup.okta", json!({"c": 3}), now)
        .await
        .unwrap();
    let held = s.claim_next_job("w4", now).await.unwrap().unwrap();
    assert_eq!((held.id, held.attempts), (handed.id, 1));
    assert!(!s.release_job(handed.id, "someone-else").await.unwrap());
    assert!(s.release_job(handed.id, "w4").await.unwrap());
    assert!(!s.release_job(handed.id, "w4").await.unwrap());
    let again = s.claim_next_job("w5", now).await.unwrap().unwrap();
    assert_eq!((again.id, again.attempts), (handed.id, 1));
    s.finish_job(handed.id, true, json!({})).await.unwrap();

    // Listing: the team's jobs of one kind, newest first, bounded.
    let other = s
        .enqueue_job(team.id, "backup.okta", json!({"c": 2}), now)
        .await
        .unwrap();
    s.enqueue_job(team.id, "export", json!({}), now)
        .await
        .unwrap();
    let stranger = s.create_team("beta").await.unwrap();
    s.enqueue_job(stranger.id, "backup.okta", json!({}), now)
        .await
        .unwrap();
    let listed: Vec<Uuid> = s
        .list_jobs(team.id, "backup.okta", 10)
        .await
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(listed, vec![other.id, handed.id, job.id]);
    assert_eq!(
        s.list_jobs(team.id, "backup.okta", 1).await.unwrap().len(),
        1
    );
}

fn okta_connection(team: TeamId, name: &str) -> BackupConnection {
    BackupConnection {
        id: Uuid::new_v4(),
        team_id: team,
        name: name.to_owned(),
        provider: "okta".into(),
        org_url: "https://acme.okta.com".into(),
        client_id: "0oa1".into(),
        key_id: Some("kid-1".into()),
        private_key_sealed: vec![1, 2, 3, 255],
        scopes: Some(vec!["okta.users.read".into()]),
        rate_limit_percent: 50,
        created_at: NOW,
        last_test: None,
    }
}

pub async fn backup_connections_are_named_once_per_team_and_isolated<S: Stores>(s: &S) {
    let acme = s.create_team("acme").await.unwrap();
    let beta = s.create_team("beta").await.unwrap();
    let prod = s
        .create_connection(okta_connection(acme.id, "prod"))
        .await
        .unwrap();
    let mut preview = okta_connection(acme.id, "preview");
    preview.scopes = None;
    preview.key_id = None;
    let preview = s.create_connection(preview).await.unwrap();
    assert_eq!(
        s.connection(acme.id, prod.id).await.unwrap(),
        Some(prod.clone())
    );
    // Sorted by name; the sealed key round-trips byte for byte.
    let listed = s.list_connections(acme.id).await.unwrap();
    assert_eq!(listed, vec![preview.clone(), prod.clone()]);
    assert_eq!(listed[1].private_key_sealed, vec![1, 2, 3, 255]);
    assert!(matches!(
        s.create_connection(okta_connection(acme.id, "prod")).await,
        Err(StoreError::Conflict(_))
    ));
    // Another team may use the name, and sees none of acme's.
    s.create_connection(okta_connection(beta.id, "prod"))
        .await
        .unwrap();
    assert_eq!(s.connection(beta.id, prod.id).await.unwrap(), None);
    assert!(!s.delete_connection(beta.id, prod.id).await.unwrap());
    assert!(
        !s.record_connection_test(beta.id, prod.id, json!({"ok": true}))
            .await
            .unwrap()
    );
    assert!(
        s.record_connection_test(acme.id, prod.id, json!({"ok": false, "error": "401"}))
            .await
            .unwrap()
    );
    assert_eq!(
        s.connection(acme.id, prod.id)
            .await
            .unwrap()
            .unwrap()
            .last_test,
        Some(json!({"ok": false, "error": "401"}))
    );
    assert!(s.delete_connection(acme.id, prod.id).await.unwrap());
    assert_eq!(s.connection(acme.id, prod.id).await.unwrap(), None);
    assert_eq!(s.list_connections(beta.id).await.unwrap().len(), 1);
    assert!(matches!(
        s.create_connection(okta_connection(TeamId::new_random(), "x"))
            .await,
        Err(StoreError::NotFound("team"))
    ));
}

pub async fn git_export_settings_are_per_connection_and_isolated<S: Stores>(s: &S) {
    let acme = s.create_team("acme").await.unwrap();
    let beta = s.create_team("beta").await.unwrap();
    let prod = s
        .create_connection(okta_connection(acme.id, "prod"))
        .await
        .unwrap();
    let setting = |team: TeamId, connection: Uuid| GitExportSetting {
        connection_id: connection,
        team_id: team,
        enabled: true,
        remote_url: "git@github.com:acme/okta.git".into(),
        branch: "main".into(),
        credential_kind: "deploy_key".into(),
        token_username: None,
        credential_sealed: vec![9, 8, 0, 255],
        ssh_host_key: Some("ssh-ed25519 AAAA".into()),
        updated_at: NOW,
        last_outcome: None,
    };
    assert_eq!(s.git_export(acme.id, prod.id).await.unwrap(), None);
    // Another team cannot attach a setting to acme's connection.
    assert!(matches!(
        s.put_git_export(setting(beta.id, prod.id)).await,
        Err(StoreError::NotFound("connection"))
    ));
    let stored = s.put_git_export(setting(acme.id, prod.id)).await.unwrap();
    assert_eq!(stored.credential_sealed, vec![9, 8, 0, 255]);
    assert!(stored.enabled);
    assert_eq!(s.git_export(beta.id, prod.id).await.unwrap(), None);
    assert!(
        !s.record_git_export_outcome(beta.id, prod.id, json!({"ok": true}))
            .await
            .unwrap()
    );
    let failed = json!({"ok": false, "error": "push refused", "pending_push": true});
    assert!(
        s.record_git_export_outcome(acme.id, prod.id, failed.clone())
            .await
            .unwrap()
    );
    // Replacing the setting keeps the last outcome.
    let mut off = setting(acme.id, prod.id);
    off.enabled = false;
    off.credential_kind = "token".into();
    off.token_username = Some("oauth2".into());
    let replaced = s.put_git_export(off).await.unwrap();
    assert!(!replaced.enabled);
    assert_eq!(replaced.token_username.as_deref(), Some("oauth2"));
    assert_eq!(replaced.last_outcome, Some(failed));
    assert!(!s.delete_git_export(beta.id, prod.id).await.unwrap());
    // Deleting the connection deletes its setting.
    assert!(s.delete_connection(acme.id, prod.id).await.unwrap());
    assert_eq!(s.git_export(acme.id, prod.id).await.unwrap(), None);
    assert!(s.cells("git_exports").await.is_empty());
}

/// The SQLite file holds token hashes, sessions and sealed secrets: it is created
/// readable by its owner only, and so are SQLite's WAL files beside it.
#[cfg(unix)]
#[tokio::test]
async fn a_new_sqlite_database_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private.db");
    let store = SqlStore::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    store.ping().await.unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", entry.path().display());
    }
    store.close().await;
}

/// Notification channels (inherent to `SqlStore`, no core trait): named once per team,
/// listed by name, the sealed secret kept byte for byte, removed per team only.
async fn notification_channels_are_named_once_per_team(s: SqlStore) {
    use butterfly_store::sql::NotificationChannel;
    let a = s.create_team("channels-a").await.unwrap();
    let b = s.create_team("channels-b").await.unwrap();
    let hook = |team, name: &str| {
        NotificationChannel::new(
            team,
            name,
            "webhook",
            json!({"url": "https://hooks.example.com/x"}),
            Some(vec![0, 1, 2, 255]),
            vec!["backup_failed".to_owned()],
        )
    };
    let ops = s.create_channel(hook(a.id, "ops")).await.unwrap();
    s.create_channel(hook(a.id, "another")).await.unwrap();
    assert!(matches!(
        s.create_channel(hook(a.id, "ops")).await,
        Err(StoreError::Conflict(_))
    ));
    s.create_channel(hook(b.id, "ops")).await.unwrap();
    let listed = s.list_channels(a.id).await.unwrap();
    let names: Vec<&str> = listed.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["another", "ops"]);
    let stored = &listed[1];
    assert_eq!(stored.secret_sealed.as_deref(), Some(&[0u8, 1, 2, 255][..]));
    assert_eq!(stored.events, ["backup_failed"]);
    assert_eq!(stored.config["url"], "https://hooks.example.com/x");
    assert_eq!(stored.created_at, ops.created_at);
    // Team b cannot remove team a's channel.
    assert!(!s.delete_channel(b.id, ops.id).await.unwrap());
    assert!(s.delete_channel(a.id, ops.id).await.unwrap());
    assert_eq!(s.list_channels(a.id).await.unwrap().len(), 1);
    assert_eq!(s.list_channels(b.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn sqlite_notification_channels_are_named_once_per_team() {
    crate::harness::on_sqlite(notification_channels_are_named_once_per_team).await;
}

#[tokio::test]
async fn postgres_notification_channels_are_named_once_per_team() {
    crate::harness::on_postgres(notification_channels_are_named_once_per_team).await;
}
