//! The fetcher against the simulator over real HTTP, both on one virtual clock: rate
//! limits, 429 storms, 5xx, broken pages, dropped connections, token expiry, missing
//! scopes. Waits cost no real time, and no test reads the wall clock.
//!
//! Token lifetimes are not tested against the virtual clock's time: concurrent waits
//! overlap on it (see `VirtualTimer`), so a token can look older to the server than it
//! would in real time. Expiry is forced mid-run instead.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use butterfly_core::ResourceKind;
use butterfly_providers::clock::VirtualTimer;
use butterfly_providers::okta::fetcher::{
    FetchError, FetchEvent, FetchOptions, FetchReport, OktaCredentials, OktaFetcher, PrivateKey,
};
use butterfly_providers::okta::kinds;
use butterfly_providers::okta::simulator::{
    FaultKind, FaultRule, OrgConfig, RunningSimulator, Simulator, SimulatorConfig,
};
use chrono::{DateTime, TimeDelta};

use super::simulator::client_key;

/// Ten seconds into a rate-limit window, so the first window's end is known.
const START: i64 = 1_700_000_040 + 10;

struct Harness {
    sim: RunningSimulator,
    timer: Arc<VirtualTimer>,
}

/// What one fetch sent and returned.
struct Fetched {
    report: FetchReport,
    /// Resources received per kind.
    received: BTreeMap<ResourceKind, u64>,
    skipped: BTreeMap<ResourceKind, String>,
}

fn config(users: usize) -> SimulatorConfig {
    SimulatorConfig {
        org: OrgConfig {
            seed: 7,
            users,
            groups: 6,
            apps: 8,
        },
        client_public_key_pem: Some(client_key().public_pem.clone()),
        ..SimulatorConfig::default()
    }
}

impl Harness {
    async fn start(mut config: SimulatorConfig) -> Harness {
        let timer = Arc::new(VirtualTimer::new(
            DateTime::from_timestamp(START, 0).unwrap(),
        ));
        config.timer = timer.clone();
        let sim = Simulator::bind(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        Harness { sim, timer }
    }

    async fn fetch(&self, options: FetchOptions) -> Fetched {
        self.fetch_expiring_tokens_after(options, None).await
    }

    /// Fetch; after `pages` pages of resources (if given), every token issued so far expires.
    async fn fetch_expiring_tokens_after(
        &self,
        options: FetchOptions,
        pages: Option<usize>,
    ) -> Fetched {
        let credentials = self.sim.simulator().client_credentials();
        let fetcher = OktaFetcher::new(
            OktaCredentials {
                org_url: credentials.org_url.parse().unwrap(),
                client_id: credentials.client_id.parse().unwrap(),
                key_id: Some(credentials.key_id),
                private_key: PrivateKey::from_pem(&client_key().private_pem).unwrap(),
            },
            FetchOptions {
                timer: self.timer.clone(),
                // The simulator listens on loopback.
                insecure_allow_private_addresses: true,
                ..options
            },
        )
        .unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let fetch = tokio::spawn(async move { fetcher.run(tx).await });
        let mut received: BTreeMap<ResourceKind, u64> = BTreeMap::new();
        let mut skipped = BTreeMap::new();
        let mut seen_pages = 0;
        while let Some(event) = rx.recv().await {
            match event {
                FetchEvent::Resources { kind, resources } => {
                    *received.entry(kind).or_default() += resources.len() as u64;
                    seen_pages += 1;
                    if pages == Some(seen_pages) {
                        assert!(self.sim.simulator().expire_tokens() >= 1);
                    }
                }
                FetchEvent::KindSkipped { kind, reason } => {
                    skipped.insert(kind, reason);
                }
                _ => {}
            }
        }
        Fetched {
            report: fetch.await.unwrap().unwrap(),
            received,
            skipped,
        }
    }

    /// Every kind the org has resources of, with its count.
    fn org_counts(&self) -> BTreeMap<ResourceKind, u64> {
        self.sim
            .simulator()
            .org()
            .counts()
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (ResourceKind::new(k), n as u64))
            .collect()
    }

    fn elapsed(&self) -> TimeDelta {
        self.timer.now() - DateTime::from_timestamp(START, 0).unwrap()
    }

    fn responses(&self, status: u16) -> u64 {
        let log = self.sim.simulator().request_log();
        log.by_status.get(&status).copied().unwrap_or(0)
    }

    /// Everything fetched, nothing skipped or failed, and what was sent is what the report counts.
    fn assert_whole(&self, fetched: &Fetched) {
        let report = &fetched.report;
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        assert_eq!(fetched.received, self.org_counts());
        let counted: BTreeMap<ResourceKind, u64> = report
            .counts
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (k.clone(), *n))
            .collect();
        assert_eq!(counted, fetched.received);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okta_limits_are_kept_and_paced_on_the_shared_clock() {
    let h = Harness::start(config(300)).await;
    let fetched = h.fetch(FetchOptions::default()).await;
    h.assert_whole(&fetched);
    // Pacing at half of each bucket's limit and pausing at the headroom keeps every
    // window in bounds: the server never had to refuse.
    assert_eq!(h.responses(429), 0);
    assert_eq!(fetched.report.rate_limited, 0);
    // And the pacing waited on the clock the server counts windows by: after a burst of
    // a twentieth of its share, each bucket sends one request per 60 / (limit × ½) s.
    let bound = h.sim.simulator().lower_bound();
    let elapsed = h.elapsed().as_seconds_f64();
    eprintln!(
        "{} requests in {elapsed} simulated seconds; bound {} s ({})",
        fetched.report.requests, bound.bound_seconds, bound.bound_bucket
    );
    let mut paced_at_least = 0.0_f64;
    for (bucket, requests) in &fetched.report.requests_per_bucket {
        let Some(limit) = bound.buckets.get(bucket).map(|b| b.limit_per_minute) else {
            continue;
        };
        let per_minute = f64::from(limit) * 0.5;
        let burst = (per_minute / 20.0).floor().max(1.0);
        // Request counts here are in the hundreds: exact in f64.
        #[allow(clippy::cast_precision_loss)]
        let requests = *requests as f64;
        paced_at_least = paced_at_least.max((requests - burst) * 60.0 / per_minute);
    }
    assert!(paced_at_least > 30.0, "the org is too small to pace");
    assert!(
        elapsed >= paced_at_least - 1e-6,
        "{elapsed} simulated seconds, pacing needs {paced_at_least}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_memory_bound_below_every_body_still_fetches_everything() {
    // Each body is larger than 1 KiB, so each page takes the whole bound: the sixteen
    // listings read one page at a time, and none may wait forever for the bound while
    // another holds it.
    let h = Harness::start(config(300)).await;
    let fetched = h
        .fetch(FetchOptions {
            page_memory_kib: 1,
            ..FetchOptions::default()
        })
        .await;
    h.assert_whole(&fetched);
}

#[test]
fn no_concurrency_or_no_page_memory_is_refused() {
    let credentials = || OktaCredentials {
        org_url: "https://example.okta.com".parse().unwrap(),
        client_id: "0oa1".parse().unwrap(),
        key_id: None,
        private_key: PrivateKey::from_pem(&client_key().private_pem).unwrap(),
    };
    for (options, expected) in [
        (
            FetchOptions {
                concurrency: 0,
                ..FetchOptions::default()
            },
            "concurrency must be at least 1",
        ),
        (
            FetchOptions {
                page_memory_kib: 0,
                ..FetchOptions::default()
            },
            "page memory must be at least 1 KiB",
        ),
    ] {
        match OktaFetcher::new(credentials(), options) {
            Err(FetchError::InvalidOptions(why)) => assert_eq!(why, expected),
            other => panic!("expected InvalidOptions({expected}), got {:?}", other.err()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_is_waited_out_until_the_reset() {
    let h = Harness::start(config(40)).await;
    h.sim.simulator().add_faults([FaultRule {
        count: Some(6),
        path_prefix: Some("/api/v1/users".into()),
        ..FaultRule::new(FaultKind::RateLimitStorm)
    }]);
    let fetched = h.fetch(FetchOptions::default()).await;
    h.assert_whole(&fetched);
    assert!(fetched.report.rate_limited >= 6, "{:?}", fetched.report);
    assert!(h.responses(429) >= 6);
    // The first 429 named the end of the current window, 50 s away: the bucket waited for it.
    assert!(h.elapsed() >= TimeDelta::seconds(50), "{}", h.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_broken_pages_and_dropped_connections_are_retried() {
    let h = Harness::start(config(40)).await;
    h.sim.simulator().add_faults([
        FaultRule {
            count: Some(4),
            status: Some(503),
            ..FaultRule::new(FaultKind::ServerError)
        },
        FaultRule {
            count: Some(2),
            path_prefix: Some("/api/v1/groups".into()),
            ..FaultRule::new(FaultKind::TruncatePage)
        },
        FaultRule {
            count: Some(2),
            path_prefix: Some("/api/v1/apps".into()),
            ..FaultRule::new(FaultKind::DropConnection)
        },
    ]);
    let fetched = h.fetch(FetchOptions::default()).await;
    h.assert_whole(&fetched);
    assert!(fetched.report.retries >= 8, "{:?}", fetched.report);
    assert!(h.responses(503) >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_that_run_out_fail_the_kind_not_the_fetch() {
    let h = Harness::start(config(10)).await;
    h.sim.simulator().add_faults([FaultRule {
        status: Some(500),
        path_prefix: Some("/api/v1/groups/rules".into()),
        ..FaultRule::new(FaultKind::ServerError)
    }]);
    let fetched = h
        .fetch(FetchOptions {
            max_retries: 2,
            ..FetchOptions::default()
        })
        .await;
    let rule = ResourceKind::new("group_rule");
    assert!(
        fetched.report.failed[&rule].contains("server error 500"),
        "{:?}",
        fetched.report.failed
    );
    assert!(!fetched.received.contains_key(&rule));
    assert_eq!(
        fetched.received[&ResourceKind::new("user")],
        h.org_counts()[&ResourceKind::new("user")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_renewed_mid_run() {
    let h = Harness::start(config(200)).await;
    // Every token dies while the fetch is under way (after its tenth page).
    let fetched = h
        .fetch_expiring_tokens_after(FetchOptions::default(), Some(10))
        .await;
    h.assert_whole(&fetched);
    assert!(
        fetched.report.reauthentications >= 1,
        "{:?}",
        fetched.report
    );
    assert!(h.responses(401) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_scope_skips_its_kinds_and_nothing_else() {
    let missing = ["okta.logStreams.read", "okta.roles.read"];
    let granted: BTreeSet<String> = kinds::backup_scopes()
        .into_iter()
        .filter(|s| !missing.contains(s))
        .map(str::to_owned)
        .collect();
    let h = Harness::start(SimulatorConfig {
        granted_scopes: Some(granted.clone()),
        ..config(20)
    })
    .await;
    let fetched = h.fetch(FetchOptions::default()).await;
    let report = &fetched.report;
    assert_eq!(report.granted_scopes, granted);
    assert!(report.failed.is_empty(), "{:?}", report.failed);

    let without_scope: BTreeSet<ResourceKind> = kinds::all()
        .filter(|k| k.read_scopes.iter().any(|s| missing.contains(s)))
        .map(kinds::KindSpec::kind)
        .collect();
    assert!(without_scope.contains(&ResourceKind::new("log_stream")));
    assert!(without_scope.contains(&ResourceKind::new("custom_role")));
    // Each kind without its scope is skipped, for that scope or because its parent was.
    for kind in &without_scope {
        let reason = &report.skipped[kind];
        assert_eq!(&fetched.skipped[kind], reason, "the event says the same");
        let parent_skipped = kinds::by_name(kind.as_str())
            .and_then(|k| k.parent)
            .is_some_and(|p| report.skipped.contains_key(&ResourceKind::new(p.kind)));
        assert!(
            reason.contains("not granted") || (parent_skipped && reason.contains("parent kind")),
            "{kind}: {reason}"
        );
    }
    // And a kind with every scope it needs is skipped only under a skipped parent.
    for (kind, reason) in &report.skipped {
        assert!(
            without_scope.contains(kind) || reason.contains("parent kind"),
            "{kind}: {reason}"
        );
    }
    let mut expected = h.org_counts();
    expected.retain(|k, _| !report.skipped.contains_key(k));
    assert_eq!(fetched.received, expected, "every other kind is whole");
    // Nothing was asked of what the token could not read.
    assert_eq!(h.responses(403), 0);
}
