//! Entra ID backups against the Graph simulator, on a virtual clock shared by both sides:
//! every kind, secrets stripped, missing permissions skipped, throttling honoured, and a
//! delta backup equal to a full one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use butterfly_core::source::{InMemorySnapshotSource, SnapshotSource as _};
use butterfly_core::{FixedClock, ResourceKind, Snapshot, SnapshotStatus};
use butterfly_providers::backup::{BackupMode, BackupOutcome, INCREMENTAL_NOTE};
use butterfly_providers::clock::VirtualTimer;
use butterfly_providers::entra::backup::{DELTA_LINK_KIND, run_entra_backup};
use butterfly_providers::entra::fetcher::{
    ClientCertificate, ClientCredential, ClientSecret, EndpointUrl, EntraCredentials,
    EntraFetchOptions, TenantId,
};
use butterfly_providers::entra::kinds;
use butterfly_providers::entra::simulator::{
    EntraSimConfig, EntraSimulator, SECRET_CANARY, TenantConfig, default_permissions,
};
use butterfly_providers::okta::fetcher::{ClientId, FetchEvent};
use butterfly_providers::okta::simulator::{FaultKind, FaultRule};
use chrono::{DateTime, Utc};

const T0: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH;

fn timer() -> Arc<VirtualTimer> {
    Arc::new(VirtualTimer::new(
        "2026-06-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap(),
    ))
}

async fn simulator(timer: &Arc<VirtualTimer>, canary: bool) -> EntraSimulator {
    EntraSimulator::start(EntraSimConfig {
        tenant: TenantConfig {
            seed: 7,
            users: 120,
            groups: 12,
            apps: 6,
            secret_canary: canary,
        },
        timer: timer.clone(),
        ..EntraSimConfig::default()
    })
    .await
    .unwrap()
}

fn credentials(sim: &EntraSimulator, certificate: bool) -> EntraCredentials {
    EntraCredentials {
        tenant_id: TenantId::new(sim.tenant_id()).unwrap(),
        client_id: ClientId::new(sim.client_id()).unwrap(),
        credential: if certificate {
            ClientCredential::Certificate(
                ClientCertificate::from_pem(sim.certificate_pem(), sim.private_key_pem()).unwrap(),
            )
        } else {
            ClientCredential::Secret(ClientSecret::new(sim.client_secret()).unwrap())
        },
        graph_url: EndpointUrl::parse(sim.graph_url()).unwrap(),
        authority_url: EndpointUrl::parse(sim.authority_url()).unwrap(),
    }
}

fn options(timer: &Arc<VirtualTimer>) -> EntraFetchOptions {
    EntraFetchOptions {
        rate_limit_share: 1.0,
        timer: timer.clone(),
        insecure_allow_private_addresses: true,
        ..EntraFetchOptions::default()
    }
}

async fn backup(
    sim: &EntraSimulator,
    timer: &Arc<VirtualTimer>,
    repo: &InMemorySnapshotSource,
    mode: BackupMode,
) -> BackupOutcome {
    run_entra_backup(
        credentials(sim, false),
        options(timer),
        mode,
        repo,
        &FixedClock::new(T0),
        |_: &FetchEvent| {},
    )
    .await
    .unwrap()
}

/// What the simulator holds per catalogue kind (zero counts left out).
fn tenant_counts(sim: &EntraSimulator) -> BTreeMap<String, u64> {
    sim.tenant()
        .counts()
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(kind, n)| (kind.to_owned(), n as u64))
        .collect()
}

fn snapshot_counts(outcome: &BackupOutcome) -> BTreeMap<String, u64> {
    outcome
        .snapshot
        .counts
        .iter()
        .filter(|(kind, n)| kind.as_str() != DELTA_LINK_KIND && **n > 0)
        .map(|(kind, n)| (kind.as_str().to_owned(), *n))
        .collect()
}

/// Every (kind, id, digest) but the delta links.
fn entries(snapshot: &Snapshot) -> BTreeSet<(String, String, String)> {
    snapshot
        .kinds
        .iter()
        .filter(|(kind, _)| kind.as_str() != DELTA_LINK_KIND)
        .flat_map(|(kind, entries)| {
            entries
                .iter()
                .map(|e| (kind.as_str().to_owned(), e.id.clone(), e.digest.to_string()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_backup_reads_every_kind_the_tenant_holds() {
    let timer = timer();
    let sim = simulator(&timer, false).await;
    let repo = InMemorySnapshotSource::new();
    let outcome = backup(&sim, &timer, &repo, BackupMode::Full).await;
    assert_eq!(
        outcome.status(),
        SnapshotStatus::Complete,
        "{:?}",
        outcome.warnings()
    );
    assert!(outcome.warnings().is_empty(), "{:?}", outcome.warnings());
    let counts = snapshot_counts(&outcome);
    assert_eq!(counts, tenant_counts(&sim));
    // At least 30 kinds hold something: the simulator fills the whole catalogue.
    assert!(counts.len() >= 30, "{} kinds: {counts:?}", counts.len());
    for kind in kinds::all() {
        assert!(
            counts.contains_key(kind.name),
            "no `{}` backed up",
            kind.name
        );
    }
    // Every delta kind ended with a delta link.
    assert_eq!(
        outcome
            .snapshot
            .counts
            .get(&ResourceKind::new(DELTA_LINK_KIND)),
        Some(&4)
    );
    assert_eq!(outcome.snapshot.org, sim.tenant_id());
    assert!(outcome.fetch.failed.is_empty() && outcome.fetch.rate_limited == 0);
    // Users were read with every listable property, not Graph's default set.
    let manifest = repo.manifest(outcome.snapshot_id()).await.unwrap();
    let user = &manifest.kinds[&ResourceKind::new("user")][0];
    let user = repo.object(&user.digest).await.unwrap();
    for property in [
        "accountEnabled",
        "createdDateTime",
        "userType",
        "onPremisesSyncEnabled",
    ] {
        assert!(
            user.get(property).is_some(),
            "user lacks {property}: {user}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_signs_in_as_well_as_a_secret() {
    let timer = timer();
    let sim = simulator(&timer, false).await;
    let repo = InMemorySnapshotSource::new();
    let outcome = run_entra_backup(
        credentials(&sim, true),
        options(&timer),
        BackupMode::Full,
        &repo,
        &FixedClock::new(T0),
        |_: &FetchEvent| {},
    )
    .await
    .unwrap();
    assert_eq!(
        outcome.status(),
        SnapshotStatus::Complete,
        "{:?}",
        outcome.warnings()
    );
    assert_eq!(snapshot_counts(&outcome), tenant_counts(&sim));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_stored_byte_holds_the_canary_secret() {
    let timer = timer();
    let sim = simulator(&timer, true).await;
    let repo = InMemorySnapshotSource::new();
    let outcome = backup(&sim, &timer, &repo, BackupMode::Full).await;
    assert_eq!(
        outcome.status(),
        SnapshotStatus::Complete,
        "{:?}",
        outcome.warnings()
    );
    let manifest = repo.manifest(outcome.snapshot_id()).await.unwrap();
    let mut objects = 0;
    for entries in manifest.kinds.values() {
        for entry in entries {
            let object = repo.object(&entry.digest).await.unwrap();
            let text = serde_json::to_string(&object).unwrap();
            assert!(!text.contains(SECRET_CANARY), "{text}");
            objects += 1;
        }
    }
    assert!(objects > 100);
    // The credentials' metadata stays: a restore and a diff need it.
    let apps = &manifest.kinds[&ResourceKind::new("application")];
    let mut with_credentials = 0;
    for entry in apps {
        let app = repo.object(&entry.digest).await.unwrap();
        if let Some(list) = app["passwordCredentials"].as_array()
            && !list.is_empty()
        {
            assert!(
                list.iter()
                    .all(|c| c.get("keyId").is_some() && c.get("secretText").is_none())
            );
            with_credentials += 1;
        }
    }
    assert!(with_credentials > 0, "the canary was planted nowhere");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_without_its_permission_is_skipped_with_a_warning() {
    let timer = timer();
    let sim = simulator(&timer, false).await;
    sim.set_permissions(default_permissions().into_iter().filter(|p| {
        !p.starts_with("IdentityProvider.") && !p.starts_with("EntitlementManagement.")
    }));
    let repo = InMemorySnapshotSource::new();
    let outcome = backup(&sim, &timer, &repo, BackupMode::Full).await;
    assert_eq!(outcome.status(), SnapshotStatus::Partial);
    for kind in [
        "identity_provider",
        "access_package_catalog",
        "access_package",
    ] {
        assert!(
            outcome.fetch.skipped.contains_key(&ResourceKind::new(kind)),
            "{kind} not skipped: {:?}",
            outcome.fetch.skipped
        );
        assert!(
            outcome
                .warnings()
                .iter()
                .any(|w| w.starts_with(&format!("kind `{kind}` skipped: application permission"))),
            "{:?}",
            outcome.warnings()
        );
    }
    // Skipped ahead, from the token's roles: Graph was never asked for them.
    let log = sim.request_log();
    let asked: Vec<_> = log
        .by_route
        .keys()
        .filter(|route| {
            route.contains("identityProviders") || route.contains("entitlementManagement")
        })
        .collect();
    assert!(asked.is_empty(), "{asked:?}");
    // Everything else is there.
    let mut expected = tenant_counts(&sim);
    for kind in [
        "identity_provider",
        "access_package_catalog",
        "access_package",
    ] {
        expected.remove(kind);
    }
    assert_eq!(snapshot_counts(&outcome), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_is_waited_out() {
    let timer = timer();
    let sim = simulator(&timer, false).await;
    let mut storm = FaultRule::new(FaultKind::RateLimitStorm);
    storm.count = Some(25);
    storm.path_prefix = Some("/v1.0/".into());
    sim.add_faults([storm]);
    let started = timer.now();
    let repo = InMemorySnapshotSource::new();
    let outcome = backup(&sim, &timer, &repo, BackupMode::Full).await;
    assert_eq!(
        outcome.status(),
        SnapshotStatus::Complete,
        "{:?}",
        outcome.warnings()
    );
    assert_eq!(outcome.fetch.rate_limited, 25);
    assert_eq!(snapshot_counts(&outcome), tenant_counts(&sim));
    // Each 429 was waited out on the shared clock, for its Retry-After.
    assert!(timer.now() - started >= chrono::TimeDelta::seconds(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_backup_equals_a_full_backup_of_the_same_state() {
    let timer = timer();
    let sim = simulator(&timer, false).await;
    let repo = InMemorySnapshotSource::new();
    let mode = BackupMode::Incremental { full_every: 24 };
    let first = backup(&sim, &timer, &repo, mode).await;
    assert_eq!(
        first.status(),
        SnapshotStatus::Complete,
        "{:?}",
        first.warnings()
    );
    assert!(
        !first
            .warnings()
            .iter()
            .any(|w| w.starts_with(INCREMENTAL_NOTE))
    );

    let changed = sim.mutate(5.0);
    assert!(changed > 0);
    sim.reset_request_log();
    let delta = backup(&sim, &timer, &repo, mode).await;
    let delta_log = sim.request_log();
    assert_eq!(
        delta.status(),
        SnapshotStatus::Complete,
        "{:?}",
        delta.warnings()
    );
    assert!(
        delta
            .warnings()
            .iter()
            .any(|w| w.starts_with(INCREMENTAL_NOTE)),
        "{:?}",
        delta.warnings()
    );
    let full = backup(&sim, &timer, &repo, BackupMode::Full).await;
    assert_eq!(full.status(), SnapshotStatus::Complete);

    let delta_manifest = repo.manifest(delta.snapshot_id()).await.unwrap();
    let full_manifest = repo.manifest(full.snapshot_id()).await.unwrap();
    let first_manifest = repo.manifest(first.snapshot_id()).await.unwrap();
    assert_ne!(
        entries(&first_manifest),
        entries(&full_manifest),
        "nothing changed"
    );
    let (d, f) = (entries(&delta_manifest), entries(&full_manifest));
    assert_eq!(
        d.difference(&f).collect::<Vec<_>>(),
        Vec::<&(String, String, String)>::new(),
        "in the delta backup only"
    );
    assert_eq!(
        f.difference(&d).collect::<Vec<_>>(),
        Vec::<&(String, String, String)>::new(),
        "in the full backup only"
    );
    assert_eq!(snapshot_counts(&delta), snapshot_counts(&full));
    // The delta listed members only of the groups it named, not of every group.
    let groups = sim.tenant().objects_of("group").count() as u64;
    let member_listings = delta_log
        .by_route
        .get("GET /groups/{groupId}/members")
        .copied()
        .unwrap_or(0);
    assert!(
        member_listings < groups / 2,
        "{member_listings} member listings for {groups} groups"
    );
    assert!(delta.fetch.requests < full.fetch.requests);
}

/// The delta-link warnings of a backup.
fn ignored_links(outcome: &BackupOutcome) -> Vec<&String> {
    outcome
        .warnings()
        .iter()
        .filter(|w| w.starts_with("delta link for"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_links_from_another_graph_url_are_ignored_and_the_kinds_read_in_full() {
    let timer = timer();
    // Two Graphs serving the same tenant id: say, a fake one and the real one.
    let (other, ours) = (
        simulator(&timer, false).await,
        simulator(&timer, false).await,
    );
    assert_eq!(other.tenant_id(), ours.tenant_id());
    assert_ne!(other.graph_url(), ours.graph_url());
    let repo = InMemorySnapshotSource::new();
    let mode = BackupMode::Incremental { full_every: 24 };
    let seeded = backup(&other, &timer, &repo, mode).await;
    assert_eq!(seeded.status(), SnapshotStatus::Complete);
    // Each stored link records the Graph URL it came from.
    let manifest = repo.manifest(seeded.snapshot_id()).await.unwrap();
    let links = &manifest.kinds[&ResourceKind::new(DELTA_LINK_KIND)];
    assert!(!links.is_empty());
    for entry in links {
        let stored = repo.object(&entry.digest).await.unwrap();
        assert_eq!(stored["graphUrl"], other.graph_url(), "{stored}");
    }

    ours.mutate(5.0);
    other.reset_request_log();
    let run = backup(&ours, &timer, &repo, mode).await;
    assert_eq!(other.request_log().total, 0, "the other Graph was asked");
    assert_eq!(
        run.status(),
        SnapshotStatus::Complete,
        "{:?}",
        run.warnings()
    );
    assert!(
        !run.warnings()
            .iter()
            .any(|w| w.starts_with(INCREMENTAL_NOTE)),
        "{:?}",
        run.warnings()
    );
    let ignored = ignored_links(&run);
    assert_eq!(ignored.len(), links.len(), "{ignored:?}");
    assert!(
        ignored
            .iter()
            .all(|w| w.contains(other.graph_url()) && w.contains("the kind is read in full")),
        "{ignored:?}"
    );
    // Read in full: what a full backup of our tenant gives.
    let full = backup(&ours, &timer, &repo, BackupMode::Full).await;
    let run_manifest = repo.manifest(run.snapshot_id()).await.unwrap();
    let full_manifest = repo.manifest(full.snapshot_id()).await.unwrap();
    assert_eq!(entries(&run_manifest), entries(&full_manifest));

    // The next run builds on our own links.
    let next = backup(&ours, &timer, &repo, mode).await;
    assert!(ignored_links(&next).is_empty(), "{:?}", next.warnings());
    assert!(
        next.warnings()
            .iter()
            .any(|w| w.starts_with(INCREMENTAL_NOTE)),
        "{:?}",
        next.warnings()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_links_pointing_off_the_graph_url_are_never_followed() {
    let timer = timer();
    let (elsewhere, ours) = (
        simulator(&timer, false).await,
        simulator(&timer, false).await,
    );
    let mut repo = InMemorySnapshotSource::new();
    // A snapshot of our tenant whose links claim our Graph URL, or none, but point at
    // another host (as a fake Graph could answer them).
    let link = |path: &str| {
        format!(
            "{}/v1.0/{path}/delta?$deltatoken=planted",
            elsewhere.graph_url()
        )
    };
    repo.insert(
        butterfly_core::ProviderKind::EntraId,
        ours.tenant_id(),
        T0,
        SnapshotStatus::Complete,
        [
            butterfly_core::Resource::new(
                ResourceKind::new(DELTA_LINK_KIND),
                "user",
                serde_json::json!({"kind": "user", "deltaLink": link("users"), "graphUrl": ours.graph_url()}),
            ),
            butterfly_core::Resource::new(
                ResourceKind::new(DELTA_LINK_KIND),
                "group",
                serde_json::json!({"kind": "group", "deltaLink": link("groups")}),
            ),
        ],
    );
    elsewhere.reset_request_log();
    let run = backup(
        &ours,
        &timer,
        &repo,
        BackupMode::Incremental { full_every: 24 },
    )
    .await;
    assert_eq!(
        elsewhere.request_log().total,
        0,
        "a planted link was followed"
    );
    assert_eq!(
        run.status(),
        SnapshotStatus::Complete,
        "{:?}",
        run.warnings()
    );
    let ignored = ignored_links(&run);
    assert_eq!(ignored.len(), 2, "{ignored:?}");
    assert!(
        ignored
            .iter()
            .any(|w| w.contains("`user`") && w.contains("points outside"))
    );
    assert!(
        ignored
            .iter()
            .any(|w| w.contains("`group`") && w.contains("not recorded"))
    );
    assert_eq!(
        run.snapshot.counts[&ResourceKind::new("user")],
        ours.tenant().objects_of("user").count() as u64
    );
}

/// The README lists every Entra kind with its Graph path and application permission, and
/// `ENTRA_KINDS.md` holds the same table; regenerate it with `BUTTERFLY_BLESS=1 cargo test`.
#[test]
fn the_readme_lists_every_entra_kind() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/ENTRA_KINDS.md");
    let table = kinds::markdown_table();
    let expected = format!(
        "# Entra ID resource kinds\n\nGenerated from `butterfly_providers::entra::kinds` by \
         `BUTTERFLY_BLESS=1 cargo test -p butterfly-providers --test it`.\n\n{table}"
    );
    if std::env::var_os("BUTTERFLY_BLESS").is_some() {
        std::fs::write(path, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        actual == expected,
        "{path} is stale: run `BUTTERFLY_BLESS=1 cargo test -p butterfly-providers --test it`"
    );
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    assert!(
        readme.contains(&table),
        "README.md lacks the Entra kinds table"
    );
}
