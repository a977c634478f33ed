//! CLI sign-in (RFC 8628) in the store: the device code's life (pending, slow_down,
//! denied, expired, approved once), token expiry, refresh rotation with reuse
//! detection, and every way a sign-in is revoked (by token, by SSO sid and sub, by the
//! member's suspension). Deciding times are passed in, so nothing waits.

use butterfly_core::members::MemberChange;
use butterfly_core::store::{MemberUpdate, MemberWriteStore, NewMember, TeamStore};
use butterfly_core::token::RawToken;
use butterfly_core::{Member, Role, TeamId};
use butterfly_store::SqlStore;
use butterfly_store::sql::{
    DeviceApproval, DevicePoll, IssuedTokens, RefreshOutcome, TokenLifetimes, normalize_user_code,
};
use chrono::{DateTime, TimeDelta, Utc};

const CLIENT: &str = "butterfly-cli";
const LIFETIMES: TokenLifetimes = TokenLifetimes {
    access: TimeDelta::hours(1),
    refresh: TimeDelta::days(30),
};

async fn add(s: &SqlStore, team: TeamId, email: &str, role: Role) -> Member {
    let outcome = s
        .write_members(
            team,
            vec![MemberChange::Create(NewMember {
                email: email.into(),
                display_name: None,
                role,
                active: true,
                external_id: None,
            })],
        )
        .await
        .unwrap();
    outcome.members.into_iter().flatten().next().unwrap()
}

/// A device authorization approved by `approval`, exchanged for tokens at `now`.
async fn signed_in(s: &SqlStore, approval: &DeviceApproval, now: DateTime<Utc>) -> IssuedTokens {
    let (auth, code) = s
        .create_device_authorization(CLIENT, 5, TimeDelta::minutes(15))
        .await
        .unwrap();
    assert!(
        s.approve_device_authorization(&auth.user_code, approval, now)
            .await
            .unwrap()
    );
    match s
        .poll_device_authorization(&code, CLIENT, now, LIFETIMES)
        .await
        .unwrap()
    {
        DevicePoll::Approved(tokens) => tokens,
        other => panic!("expected tokens, got {other:?}"),
    }
}

pub async fn the_device_code_lives_by_rfc_8628(s: &SqlStore) {
    let team = s.create_team("acme").await.unwrap().id;
    let ada = add(s, team, "ada@example.com", Role::Auditor).await;
    let (auth, code) = s
        .create_device_authorization(CLIENT, 5, TimeDelta::minutes(15))
        .await
        .unwrap();
    assert_eq!(
        normalize_user_code(&auth.user_code),
        Some(auth.user_code.clone())
    );
    let t0 = auth.created_at;
    let poll = |at: DateTime<Utc>| {
        let code = code.clone();
        async move {
            s.poll_device_authorization(&code, CLIENT, at, LIFETIMES)
                .await
                .unwrap()
        }
    };
    assert!(matches!(poll(t0).await, DevicePoll::Pending));
    // One second later: too fast; the interval grows by five seconds.
    assert!(matches!(
        poll(t0 + TimeDelta::seconds(1)).await,
        DevicePoll::SlowDown { interval_secs: 10 }
    ));
    assert!(matches!(
        poll(t0 + TimeDelta::seconds(6)).await,
        DevicePoll::SlowDown { interval_secs: 15 }
    ));
    assert!(matches!(
        poll(t0 + TimeDelta::seconds(30)).await,
        DevicePoll::Pending
    ));
    // Another client cannot use the code.
    assert!(matches!(
        s.poll_device_authorization(&code, "someone-else", t0, LIFETIMES)
            .await
            .unwrap(),
        DevicePoll::Invalid
    ));
    assert!(matches!(
        s.poll_device_authorization(
            &RawToken::from_presented("bfs_dev_nope"),
            CLIENT,
            t0,
            LIFETIMES
        )
        .await
        .unwrap(),
        DevicePoll::Invalid
    ));
    // Approved: the tokens, once.
    let approval = DeviceApproval::new(team, ada.id);
    let at = t0 + TimeDelta::seconds(40);
    assert!(
        s.pending_device_authorization(&auth.user_code, at)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        s.approve_device_authorization(&auth.user_code, &approval, at)
            .await
            .unwrap()
    );
    assert!(
        !s.approve_device_authorization(&auth.user_code, &approval, at)
            .await
            .unwrap()
    );
    assert!(
        s.pending_device_authorization(&auth.user_code, at)
            .await
            .unwrap()
            .is_none()
    );
    let tokens = match poll(at).await {
        DevicePoll::Approved(tokens) => tokens,
        other => panic!("{other:?}"),
    };
    assert_eq!(tokens.access_expires_at, at + TimeDelta::hours(1));
    assert!(matches!(
        poll(at + TimeDelta::seconds(10)).await,
        DevicePoll::Invalid
    ));

    // Denied.
    let (denied, code) = s
        .create_device_authorization(CLIENT, 5, TimeDelta::minutes(15))
        .await
        .unwrap();
    assert!(
        s.deny_device_authorization(&denied.user_code, denied.created_at)
            .await
            .unwrap()
    );
    assert!(matches!(
        s.poll_device_authorization(&code, CLIENT, denied.created_at, LIFETIMES)
            .await
            .unwrap(),
        DevicePoll::Denied
    ));
    // Expired: neither approvable nor pollable.
    let (late, code) = s
        .create_device_authorization(CLIENT, 5, TimeDelta::minutes(15))
        .await
        .unwrap();
    let after = late.expires_at + TimeDelta::seconds(1);
    assert!(
        !s.approve_device_authorization(&late.user_code, &approval, after)
            .await
            .unwrap()
    );
    assert!(matches!(
        s.poll_device_authorization(&code, CLIENT, after, LIFETIMES)
            .await
            .unwrap(),
        DevicePoll::Expired
    ));
}

pub async fn cli_tokens_expire_rotate_and_detect_reuse(s: &SqlStore) {
    let team = s.create_team("acme").await.unwrap().id;
    let ada = add(s, team, "ada@example.com", Role::Auditor).await;
    let t0 = Utc::now();
    let tokens = signed_in(s, &DeviceApproval::new(team, ada.id), t0).await;
    let who = s
        .authenticate_cli_access_token(&tokens.access_token, t0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (who.team_id, who.member_id, who.grant_id),
        (team, ada.id, tokens.grant_id)
    );
    // An hour, then no more.
    let hour = t0 + TimeDelta::hours(1);
    assert!(
        s.authenticate_cli_access_token(&tokens.access_token, hour - TimeDelta::seconds(1))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        s.authenticate_cli_access_token(&tokens.access_token, hour)
            .await
            .unwrap()
            .is_none()
    );
    // A refresh token is not an access token, nor the other way round.
    assert!(
        s.authenticate_cli_access_token(&tokens.refresh_token, t0)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        s.refresh_cli_tokens(&tokens.access_token, CLIENT, t0, LIFETIMES)
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    ));
    // Rotation.
    let rotated = match s
        .refresh_cli_tokens(&tokens.refresh_token, CLIENT, hour, LIFETIMES)
        .await
        .unwrap()
    {
        RefreshOutcome::Rotated(t) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(rotated.grant_id, tokens.grant_id);
    assert!(
        s.authenticate_cli_access_token(&rotated.access_token, hour)
            .await
            .unwrap()
            .is_some()
    );
    // The old refresh token again: reuse, and the whole sign-in goes.
    assert!(matches!(
        s.refresh_cli_tokens(&tokens.refresh_token, CLIENT, hour, LIFETIMES)
            .await
            .unwrap(),
        RefreshOutcome::Reused
    ));
    assert!(
        s.authenticate_cli_access_token(&rotated.access_token, hour)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        s.refresh_cli_tokens(&rotated.refresh_token, CLIENT, hour, LIFETIMES)
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    ));
    // An unused refresh token expires too.
    let later = signed_in(s, &DeviceApproval::new(team, ada.id), t0).await;
    assert!(matches!(
        s.refresh_cli_tokens(
            &later.refresh_token,
            CLIENT,
            t0 + TimeDelta::days(30),
            LIFETIMES
        )
        .await
        .unwrap(),
        RefreshOutcome::Invalid
    ));
}

pub async fn cli_sign_ins_are_revoked_by_token_sso_and_suspension(s: &SqlStore) {
    let team = s.create_team("acme").await.unwrap().id;
    add(s, team, "root@example.com", Role::SuperAdmin).await;
    let carol = add(s, team, "carol@example.com", Role::BackupOperator).await;
    let now = Utc::now();
    let live = |t: IssuedTokens| async move {
        s.authenticate_cli_access_token(&t.access_token, now)
            .await
            .unwrap()
            .is_some()
    };
    // logout: either token revokes both.
    let a = signed_in(s, &DeviceApproval::new(team, carol.id), now).await;
    assert!(s.revoke_cli_token(&a.refresh_token).await.unwrap());
    assert!(
        !s.revoke_cli_token(&a.access_token).await.unwrap(),
        "already revoked"
    );
    assert!(!live(a.clone()).await);
    assert!(matches!(
        s.refresh_cli_tokens(&a.refresh_token, CLIENT, now, LIFETIMES)
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    ));
    // Back-channel logout, by sid and by sub: only the matching sign-ins.
    let sso = |sid: &str, sub: &str| {
        DeviceApproval::new(team, carol.id).from_sso(Some(sid.into()), Some(sub.into()))
    };
    let by_sid = signed_in(s, &sso("sid-1", "sub-1"), now).await;
    let other = signed_in(s, &sso("sid-2", "sub-2"), now).await;
    assert_eq!(s.revoke_cli_grants_by_sid(team, "sid-1").await.unwrap(), 1);
    assert!(!live(by_sid).await);
    assert!(live(other.clone()).await);
    assert_eq!(s.revoke_cli_grants_by_sub(team, "sub-2").await.unwrap(), 1);
    assert!(!live(other).await);
    // Suspension: revoked in the member write, and they stay revoked on reactivation.
    let kept = signed_in(s, &DeviceApproval::new(team, carol.id), now).await;
    let outcome = s
        .write_members(
            team,
            vec![MemberChange::update(carol.id, MemberUpdate::suspend())],
        )
        .await
        .unwrap();
    assert_eq!(outcome.revoked_cli_logins, 1);
    let mut wake = MemberUpdate::new();
    wake.active = Some(true);
    s.write_members(team, vec![MemberChange::update(carol.id, wake)])
        .await
        .unwrap();
    assert!(!live(kept.clone()).await);
    assert!(matches!(
        s.refresh_cli_tokens(&kept.refresh_token, CLIENT, now, LIFETIMES)
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    ));
}
