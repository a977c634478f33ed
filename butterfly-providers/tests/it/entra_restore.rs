//! The Entra restore's Graph write session against the simulator over HTTP: Graph's
//! refusals come back as precise errors, and a user created with the unfilled password
//! placeholder is refused.

use butterfly_core::source::InMemorySnapshotSource;
use butterfly_providers::entra::fetcher::{
    ClientCredential, ClientSecret, EndpointUrl, EntraCredentials, EntraFetchOptions, EntraFetcher,
    SendError, TenantId,
};
use butterfly_providers::entra::restore::runner::{self, RunError, RunRequest};
use butterfly_providers::entra::restore::{
    ExecuteError, GraphWrite, GraphWriter, PASSWORD_PLACEHOLDER, send_write,
};
use butterfly_providers::entra::simulator::{
    EntraSimConfig, EntraSimulator, TenantConfig, default_permissions,
};
use butterfly_providers::okta::fetcher::ClientId;
use butterfly_providers::okta::restore::journal::JournalRecord;
use butterfly_providers::okta::simulator::{FaultKind, FaultRule};
use serde_json::json;

async fn simulator() -> EntraSimulator {
    EntraSimulator::start(EntraSimConfig {
        tenant: TenantConfig {
            seed: 3,
            users: 12,
            groups: 2,
            apps: 1,
            secret_canary: false,
        },
        resource_units_per_10s: Some(1_000_000),
        ..EntraSimConfig::default()
    })
    .await
    .unwrap()
}

fn fetcher(sim: &EntraSimulator) -> EntraFetcher {
    EntraFetcher::new(
        EntraCredentials {
            tenant_id: TenantId::new(sim.tenant_id()).unwrap(),
            client_id: ClientId::new(sim.client_id()).unwrap(),
            credential: ClientCredential::Secret(ClientSecret::new(sim.client_secret()).unwrap()),
            graph_url: EndpointUrl::parse(sim.graph_url()).unwrap(),
            authority_url: EndpointUrl::parse(sim.authority_url()).unwrap(),
        },
        EntraFetchOptions {
            insecure_allow_private_addresses: true,
            ..EntraFetchOptions::default()
        },
    )
    .unwrap()
}

fn new_user(password: &str) -> serde_json::Value {
    json!({"accountEnabled": false, "displayName": "Restored", "mailNickname": "restored",
        "userPrincipalName": "restored@example3.com",
        "passwordProfile": {"forceChangePasswordNextSignIn": true, "password": password}})
}

#[tokio::test]
async fn the_unfilled_placeholder_is_refused_and_send_write_fills_it() {
    let sim = simulator().await;
    let fetcher = fetcher(&sim);
    let session = fetcher.session().await.unwrap();
    // Sent as is (a path that forgot to fill it): Graph-shaped 400.
    let refused = session
        .send("POST", "/users", Some(&new_user(PASSWORD_PLACEHOLDER)))
        .await
        .unwrap_err();
    match refused {
        SendError::Refused { status, code, .. } => {
            assert_eq!((status, code.as_str()), (400, "Request_BadRequest"));
        }
        other => panic!("{other:?}"),
    }
    let users = sim.tenant().objects_of("user").count();
    // Through send_write, the one path restores and undos use: filled, created.
    let created = send_write(
        &session,
        GraphWrite::new("POST", "/users", Some(new_user(PASSWORD_PLACEHOLDER))),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(created["id"].is_string());
    assert_eq!(sim.tenant().objects_of("user").count(), users + 1);
}

#[tokio::test]
async fn a_missing_write_permission_is_graphs_403_with_its_code() {
    let sim = simulator().await;
    let mut roles = default_permissions();
    roles.remove("Group.ReadWrite.All");
    roles.remove("Directory.ReadWrite.All");
    sim.set_permissions(roles);
    let fetcher = fetcher(&sim);
    let session = fetcher.session().await.unwrap();
    let write = GraphWrite::new(
        "POST",
        "/groups",
        Some(json!({"displayName": "Finance", "mailEnabled": false,
            "mailNickname": "finance", "securityEnabled": true})),
    );
    let error = session.write(&write).await.unwrap_err();
    assert_eq!(error.graph_code(), Some("Authorization_RequestDenied"));
    match &error {
        ExecuteError::Graph {
            method,
            path,
            status,
            message,
            ..
        } => {
            assert_eq!((*method, path.as_str(), *status), ("POST", "/groups", 403));
            assert!(!message.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert!(
        error
            .to_string()
            .contains("POST /groups: Graph answered 403 Authorization_RequestDenied"),
        "{error}"
    );
}

/// A `POST` Graph carried out although it answered `500` is never sent again: a second
/// copy would be a duplicate the journal never learns of.
#[tokio::test]
async fn a_create_answered_500_after_it_happened_is_not_sent_again() {
    let sim = simulator().await;
    let mut rule = FaultRule::new(FaultKind::ServerErrorAfterWrite);
    rule.count = Some(1);
    rule.path_prefix = Some("/v1.0/groups".to_owned());
    sim.add_faults([rule]);
    let groups = sim.tenant().objects_of("group").count();
    let fetcher = fetcher(&sim);
    let session = fetcher.session().await.unwrap();
    let write = GraphWrite::new(
        "POST",
        "/groups",
        Some(json!({"displayName": "Finance", "mailEnabled": false,
            "mailNickname": "finance", "securityEnabled": true})),
    );
    let error = session.write(&write).await.unwrap_err();
    assert!(matches!(error, ExecuteError::Uncertain { .. }), "{error:?}");
    assert!(
        error.to_string().contains(
            "server error 500; the write may have happened: check /groups with displayName `Finance`"
        ),
        "{error}"
    );
    // Created once, not twice.
    assert_eq!(sim.tenant().objects_of("group").count(), groups + 1);
    assert_eq!(session.stats().retries, 0);
    // A `PATCH` is the same whether sent once or twice: it is retried.
    let mut rule = FaultRule::new(FaultKind::ServerError);
    rule.count = Some(1);
    rule.path_prefix = Some("/v1.0/groups".to_owned());
    sim.add_faults([rule]);
    let (id, _) = sim
        .tenant()
        .objects_of("group")
        .next()
        .map(|(id, g)| (id.clone(), g.clone()))
        .unwrap();
    session
        .send(
            "PATCH",
            &format!("/groups/{id}"),
            Some(&json!({"description": "x"})),
        )
        .await
        .unwrap();
    assert_eq!(session.stats().retries, 1);
}

/// A journal as a run of `org` leaves it, one group created.
fn journal_of(org: &str, group_id: &str) -> Vec<JournalRecord> {
    use butterfly_core::restore::{PlanAction, RestoreMode};
    use butterfly_core::{Digest, SnapshotId};
    let print = serde_json::to_value(Digest::of_json(&json!(1))).unwrap();
    [
        json!({"type": "run", "run_id": "run-1",
            "mode": serde_json::to_value(RestoreMode::Restore).unwrap(),
            "snapshot_id": serde_json::to_value(SnapshotId::new_random()).unwrap(),
            "org": org, "plan_fingerprint": print}),
        json!({"type": "step", "plan_fingerprint": print, "order": 1,
            "action": serde_json::to_value(PlanAction::Create).unwrap(),
            "kind": "group", "id": "g-snapshot", "live_id": group_id, "outcome": "done"}),
        json!({"type": "finished", "done": 1, "failed": 0}),
    ]
    .into_iter()
    .map(|r| serde_json::from_value(r).unwrap())
    .collect()
}

#[tokio::test]
async fn an_undo_of_another_tenants_run_is_refused() {
    let sim = simulator().await;
    let fetcher = fetcher(&sim);
    let error = runner::prepare(
        &fetcher,
        &InMemorySnapshotSource::new(),
        RunRequest::Undo {
            journal: journal_of("00000000-0000-0000-0000-00000000beef", "g1"),
        },
        chrono::Utc::now(),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, RunError::OtherTenant { .. }), "{error:?}");
    // The same journal with this tenant's id (any case) plans the undo.
    let prepared = runner::prepare(
        &fetcher,
        &InMemorySnapshotSource::new(),
        RunRequest::Undo {
            journal: journal_of(&sim.tenant_id().to_uppercase(), "g1"),
        },
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(prepared.plan.org, sim.tenant_id());
}

#[tokio::test]
async fn an_undo_refuses_when_a_kind_it_took_back_cannot_be_read() {
    let sim = simulator().await;
    let group = sim.tenant().objects_of("group").next().unwrap().0.clone();
    let mut roles = default_permissions();
    for role in [
        "Group.Read.All",
        "Group.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ] {
        roles.remove(role);
    }
    sim.set_permissions(roles);
    let fetcher = fetcher(&sim);
    let error = runner::prepare(
        &fetcher,
        &InMemorySnapshotSource::new(),
        RunRequest::Undo {
            journal: journal_of(sim.tenant_id(), &group),
        },
        chrono::Utc::now(),
    )
    .await
    .unwrap_err();
    match &error {
        RunError::Unreadable { kind, .. } => assert_eq!(kind, "group"),
        other => panic!("{other:?}"),
    }
}
