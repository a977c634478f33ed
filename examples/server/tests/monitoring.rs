//! Monitoring against real peers: `/metrics` scraped after real SCIM and SSO requests and
//! real backup jobs against the Okta simulator; connection health in `/api/v1/status`;
//! notifications to a local webhook receiver (signature checked, a first `500`
//! retried) and to a local SMTP sink (PyPI `aiosmtpd`, started here on a free port).

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Samples are counts and byte totals, integers that f64 holds exactly: compared as such.
#![allow(clippy::float_cmp)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use butterfly_core::store::{ApiKeyStore, ScimTokenStore};
use butterfly_core::{Role, TeamId};
use butterfly_providers::okta::simulator::{OrgConfig, RunningSimulator};
use butterfly_server::app::{AppState, bootstrap, build_router, open_state};
use butterfly_server::backups::{Worker, spawn_worker};
use butterfly_server::config::Config;
use butterfly_server::notify::{Notifier, NotifySettings};
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sha2::Sha256;
use tower::ServiceExt;

mod support;

const METRICS_TOKEN: &str = "metrics-token-for-tests";

struct Setup {
    sim: RunningSimulator,
    state: AppState,
    _worker: Worker,
    router: Router,
    key: String,
    team: TeamId,
    _dir: tempfile::TempDir,
}

impl Setup {
    async fn start() -> Setup {
        let sim = support::okta_simulator(OrgConfig {
            seed: 5,
            users: 12,
            groups: 3,
            apps: 2,
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_data_dir(dir.path());
        // The simulator, the webhook receiver and the SMTP sink are all on loopback.
        config.allow_private_org_urls = true;
        config.metrics_token = Some(METRICS_TOKEN.to_owned());
        let mut state = open_state(&config).await.unwrap();
        // Retries a few milliseconds apart: the backoff's doubling is the same.
        state.notifier = Arc::new(Notifier::new(NotifySettings {
            webhook_attempts: 3,
            webhook_backoff: Duration::from_millis(20),
            timeout: Duration::from_secs(10),
        }));
        let (team, key) = bootstrap(&state).await.unwrap().unwrap();
        Setup {
            _worker: spawn_worker(state.clone()),
            router: build_router(state.clone()),
            sim,
            state,
            key: key.secret().to_owned(),
            team: team.id,
            _dir: dir,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        support::call(&self.router, method, path, Some(&self.key), body).await
    }

    async fn create_connection(&self, name: &str, client_id: Option<&str>) -> String {
        let credentials = self.sim.simulator().client_credentials();
        let client_id = client_id.unwrap_or(&credentials.client_id);
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/connections",
                Some(support::connection_body(
                    name,
                    self.sim.org_url(),
                    client_id,
                )),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Queue a backup and poll it until it finishes (bounded by polls, not by time).
    async fn backup(&self, connection_id: &str) -> Value {
        let (status, job) = self
            .call(
                Method::POST,
                "/api/v1/backups",
                Some(json!({"connection_id": connection_id})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{job}");
        support::wait_for_backup(&self.router, &self.key, job["id"].as_str().unwrap()).await
    }

    async fn scrape(&self, token: Option<&str>) -> (StatusCode, HeaderMap, String) {
        let mut req = Request::builder().uri("/metrics");
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let res = self
            .router
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
    }
}

/// One sample: the metric name and its labels.
type Series = (String, BTreeMap<String, String>);

/// Parse the OpenMetrics text format strictly enough to catch a broken exposition:
/// every sample belongs to a family announced by `# TYPE`, label values are quoted, the
/// value is a number, and the text ends with `# EOF`.
fn parse_exposition(text: &str) -> BTreeMap<Series, f64> {
    let mut families: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "no EOF marker:\n{text}");
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(
                [
                    "counter",
                    "gauge",
                    "histogram",
                    "summary",
                    "info",
                    "unknown"
                ]
                .contains(&kind),
                "{line}"
            );
            families.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment: {line}");
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap();
                let labels = body
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (k, v) = pair.split_once('=').unwrap();
                        let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
                        (
                            k.to_owned(),
                            v.unwrap_or_else(|| panic!("{line}")).to_owned(),
                        )
                    })
                    .collect();
                (name.to_owned(), labels)
            }
        };
        let family = families
            .keys()
            .filter(|f| name.starts_with(f.as_str()))
            .max_by_key(|f| f.len())
            .unwrap_or_else(|| panic!("sample without a # TYPE: {line}"));
        let suffix = &name[family.len()..];
        assert!(
            [
                "", "_total", "_bucket", "_sum", "_count", "_created", "_info"
            ]
            .contains(&suffix),
            "{line}"
        );
        samples.insert((name, labels), value);
    }
    samples
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn sum_where(
    samples: &BTreeMap<Series, f64>,
    name: &str,
    pred: impl Fn(&BTreeMap<String, String>) -> bool,
) -> f64 {
    samples
        .iter()
        .filter(|((n, l), _)| n == name && pred(l))
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_scraped_after_real_requests_and_backups() {
    let s = Setup::start().await;

    // Off without the token, refused with a wrong one.
    assert_eq!(s.scrape(None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(s.scrape(Some("wrong")).await.0, StatusCode::UNAUTHORIZED);

    // SCIM: a token and two requests, one answered 200 and one 401.
    let (_, scim_token) = s
        .state
        .store
        .create_scim_token(s.team, "okta")
        .await
        .unwrap();
    for token in [scim_token.secret(), "bfs_scim_not_a_token"] {
        let req = Request::builder()
            .uri("/scim/v2/Users")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        s.router.clone().oneshot(req).await.unwrap();
    }
    // SSO: a callback with no state is refused; it still counts.
    let req = Request::builder()
        .uri("/auth/sso/callback")
        .body(Body::empty())
        .unwrap();
    let sso_status = s.router.clone().oneshot(req).await.unwrap().status();

    // Two backups: one that succeeds, one refused by the org (unknown client id).
    let good = s.create_connection("okta-prod", None).await;
    let job = s.backup(&good).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let bad = s
        .create_connection("okta-broken", Some("0oa_unknown"))
        .await;
    let job = s.backup(&bad).await;
    assert_eq!(job["status"], "failed", "{job}");

    let (status, headers, text) = s.scrape(Some(METRICS_TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{headers:?}"
    );
    let samples = parse_exposition(&text);
    let jobs = |outcome: &str| {
        samples
            .get(&(
                "butterfly_jobs_total".to_owned(),
                labels(&[("kind", "backup.okta"), ("outcome", outcome)]),
            ))
            .copied()
    };
    assert_eq!(jobs("succeeded"), Some(1.0), "{text}");
    assert_eq!(jobs("failed"), Some(1.0), "{text}");
    assert_eq!(
        samples[&(
            "butterfly_job_duration_seconds_count".to_owned(),
            labels(&[("kind", "backup.okta")])
        )],
        2.0
    );
    let stored = samples[&(
        "butterfly_backup_bytes_stored_total".to_owned(),
        BTreeMap::new(),
    )];
    let written = job_bytes(&s, &good).await;
    assert_eq!(stored, written, "the counter is what the backup wrote");
    assert!(stored > 0.0);
    // Rate-limit waits are counted by reason (none at these limits).
    for reason in ["429", "headroom"] {
        assert!(samples.contains_key(&(
            "butterfly_rate_limit_waits_total".to_owned(),
            labels(&[("reason", reason)])
        )));
    }
    let requests = "butterfly_http_requests_total";
    assert_eq!(
        sum_where(&samples, requests, |l| l["surface"] == "scim"
            && l["status"] == "200"),
        1.0,
        "{text}"
    );
    assert_eq!(
        sum_where(&samples, requests, |l| l["surface"] == "scim"
            && l["status"] == "401"),
        1.0,
        "{text}"
    );
    assert_eq!(
        sum_where(&samples, requests, |l| l["surface"] == "sso"
            && l["status"] == sso_status.as_str()),
        1.0,
        "{text}"
    );
    // API calls are not a counted surface.
    assert_eq!(
        sum_where(&samples, requests, |l| !["scim", "sso"]
            .contains(&l["surface"].as_str())),
        0.0
    );
    // No tenant in the exposition: no team, connection or org.
    for secret in [
        "default",
        "okta-prod",
        "okta-broken",
        s.sim.org_url(),
        &s.team.to_string(),
    ] {
        assert!(!text.contains(secret), "`{secret}` leaked:\n{text}");
    }
}

async fn job_bytes(s: &Setup, connection: &str) -> f64 {
    let (_, jobs) = s.call(Method::GET, "/api/v1/backups", None).await;
    jobs.as_array()
        .unwrap()
        .iter()
        .filter(|j| j["status"] == "succeeded" && j["connection_id"] == connection)
        .map(|j| {
            j["outcome"]["write"]["new_bytes"].as_f64().unwrap()
                + j["outcome"]["write"]["manifest_bytes"].as_f64().unwrap()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_last_success_last_error_with_its_fix_and_storage() {
    let s = Setup::start().await;
    let good = s.create_connection("okta-prod", None).await;
    let bad = s
        .create_connection("okta-broken", Some("0oa_unknown"))
        .await;
    assert_eq!(s.backup(&good).await["status"], "succeeded");
    assert_eq!(s.backup(&bad).await["status"], "failed");

    let (status, body) = s.call(Method::GET, "/api/v1/status", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["jobs_in_progress"], 0);
    assert_eq!(body["storage"]["snapshots"], 1, "{body}");
    assert!(body["storage"]["bytes"].as_u64().unwrap() > 0);
    let by_name: BTreeMap<&str, &Value> = body["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c))
        .collect();
    let prod = by_name["okta-prod"];
    assert_eq!(prod["state"], "healthy", "{prod}");
    assert!(prod["last_success_at"].is_string());
    assert!(prod["last_error"].is_null());
    // No schedule yet: freshness is not judged.
    assert_eq!(prod["freshness"], "unknown");
    let broken = by_name["okta-broken"];
    assert_eq!(broken["state"], "failing", "{broken}");
    assert!(broken["last_success_at"].is_null());
    assert_eq!(broken["consecutive_failures"], 1);
    let error = &broken["last_error"];
    assert_eq!(error["trouble"]["code"], "invalid_client", "{error}");
    assert_eq!(error["trouble"]["title"], "Invalid OAuth Client");
    assert!(
        error["trouble"]["fixes"][0]
            .as_str()
            .unwrap()
            .contains("Client ID")
    );

    // One connection alone says the same.
    let (status, one) = s
        .call(
            Method::GET,
            &format!("/api/v1/connections/{bad}/status"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["last_error"]["trouble"]["code"], "invalid_client");

    // Managing notification channels takes `manage integrations`.
    let (_, viewer) = s
        .state
        .store
        .create_api_key(s.team, "reader", Role::ReadOnly, None)
        .await
        .unwrap();
    let (status, _) = support::call(
        &s.router,
        Method::GET,
        "/api/v1/notifications",
        Some(viewer.secret()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// A webhook receiver on a free loopback port: answers `500` to the first delivery and
/// `200` after, keeping each request's headers and body.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<(HeaderMap, String)>>>,
}

async fn receiver() -> Receiver {
    let got: Arc<Mutex<Vec<(HeaderMap, String)>>> = Arc::default();
    let seen = Arc::clone(&got);
    let app = Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let seen = Arc::clone(&seen);
            async move {
                let mut seen = seen.lock().unwrap();
                seen.push((headers, body));
                if seen.len() == 1 {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url, got }
}

/// What a receiver does: HMAC-SHA256 over `<timestamp>.<body>`, compared in constant
/// time (`verify_slice`).
fn signature_holds(secret: &str, headers: &HeaderMap, body: &str) -> bool {
    let timestamp = headers["x-butterfly-timestamp"].to_str().unwrap();
    let signature = headers["x-butterfly-signature"].to_str().unwrap();
    let Some(hex_mac) = signature.strip_prefix("v1=") else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    mac.verify_slice(&hex::decode(hex_mac).unwrap()).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_backup_reaches_a_signed_webhook_which_is_retried_after_a_500() {
    let s = Setup::start().await;
    let hook = receiver().await;
    let secret = "whsec_test_secret";
    let (status, channel) = s
        .call(
            Method::POST,
            "/api/v1/notifications",
            Some(json!({
                "name": "ops-hook",
                "kind": "webhook",
                "config": {"url": hook.url},
                "secret": secret,
                "events": ["backup_failed", "critical_drift"],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    assert_eq!(channel["secret_set"], true);
    assert!(!channel.to_string().contains(secret));
    let (_, listed) = s.call(Method::GET, "/api/v1/notifications", None).await;
    assert!(!listed.to_string().contains(secret));

    // A healthy connection backed up twice with no change sends nothing.
    let good = s.create_connection("okta-prod", None).await;
    assert_eq!(s.backup(&good).await["status"], "succeeded");
    assert_eq!(s.backup(&good).await["status"], "succeeded");
    let bad = s
        .create_connection("okta-broken", Some("0oa_unknown"))
        .await;
    let job = s.backup(&bad).await;
    assert_eq!(job["status"], "failed");

    // The delivery runs after the job's end: poll, boundedly.
    let mut deliveries = Vec::new();
    for _ in 0..200 {
        deliveries = hook.got.lock().unwrap().clone();
        if deliveries.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(deliveries.len(), 2, "a 500, then the retry: {deliveries:?}");
    let (first, second) = (&deliveries[0], &deliveries[1]);
    assert_eq!(
        first.0["x-butterfly-delivery"], second.0["x-butterfly-delivery"],
        "a retry is the same delivery"
    );
    for (headers, body) in &deliveries {
        assert_eq!(headers["x-butterfly-event"], "backup_failed");
        assert!(signature_holds(secret, headers, body));
        assert!(!signature_holds("another-secret", headers, body));
        // A tampered body no longer matches.
        assert!(!signature_holds(
            secret,
            headers,
            &body.replace("okta", "OKTA")
        ));
    }
    let event: Value = serde_json::from_str(&second.1).unwrap();
    assert_eq!(event["event"], "backup_failed");
    assert_eq!(event["connection_name"], "okta-broken");
    assert_eq!(event["job_id"], job["id"]);
    assert_eq!(event["code"], "invalid_client");
    assert!(event["fixes"][0].as_str().unwrap().contains("Client ID"));
    assert_eq!(event["team_id"], json!(s.team));
}

/// A backup after an org change of critical severity (a network zone moved between the
/// blocklist and policy use, behind the server's back) reaches the webhook as
/// `critical_drift`, naming both snapshots and the change; the backup before it, with
/// nothing changed, sent nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_after_a_critical_change_reaches_the_webhook_as_critical_drift() {
    let s = Setup::start().await;
    let hook = receiver().await;
    let (status, channel) = s
        .call(
            Method::POST,
            "/api/v1/notifications",
            Some(json!({
                "name": "drift-hook",
                "kind": "webhook",
                "config": {"url": hook.url},
                "secret": "whsec_drift",
                "events": ["critical_drift"],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    let connection = s.create_connection("okta-prod", None).await;
    let first = s.backup(&connection).await;
    assert_eq!(first["status"], "succeeded", "{first}");
    let unchanged = s.backup(&connection).await;
    assert_eq!(unchanged["status"], "succeeded", "{unchanged}");

    support::edit_own_zone(&s.sim, |zone| {
        let moved = if zone["usage"] == "BLOCKLIST" {
            "POLICY"
        } else {
            "BLOCKLIST"
        };
        zone["usage"] = json!(moved);
    })
    .await;
    let drifted = s.backup(&connection).await;
    assert_eq!(drifted["status"], "succeeded", "{drifted}");

    // The delivery runs after the job's end (a 500 first, then the retry): poll,
    // boundedly.
    let mut deliveries = Vec::new();
    for _ in 0..200 {
        deliveries = hook.got.lock().unwrap().clone();
        if deliveries.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(deliveries.len(), 2, "a 500, then the retry: {deliveries:?}");
    let (headers, body) = &deliveries[1];
    assert_eq!(headers["x-butterfly-event"], "critical_drift");
    assert!(signature_holds("whsec_drift", headers, body));
    let event: Value = serde_json::from_str(body).unwrap();
    assert_eq!(event["event"], "critical_drift", "{event}");
    assert_eq!(event["connection_name"], "okta-prod");
    assert_eq!(
        event["from_snapshot"], unchanged["outcome"]["snapshot"]["id"],
        "{event}"
    );
    assert_eq!(
        event["to_snapshot"], drifted["outcome"]["snapshot"]["id"],
        "{event}"
    );
    assert_eq!(event["critical_changes"], 1, "{event}");
    let example = event["examples"][0].as_str().unwrap();
    assert!(
        example.starts_with("changed network_zone/") && example.ends_with(": /usage"),
        "{event}"
    );
}

/// `python -m aiosmtpd` from the venv scripts/test makes, on a free port, writing each
/// message to a Maildir.
struct SmtpSink {
    child: std::process::Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn smtp_sink() -> SmtpSink {
    let python = std::env::var("BUTTERFLY_TEST_AIOSMTPD").unwrap_or_else(|_| {
        format!(
            "{}/.cache/butterfly-aiosmtpd-venv/bin/python",
            std::env::var("HOME").unwrap()
        )
    });
    assert!(
        std::path::Path::new(&python).exists(),
        "{python} is missing: run scripts/test (it installs aiosmtpd), or point BUTTERFLY_TEST_AIOSMTPD at a python with aiosmtpd"
    );
    let maildir = tempfile::tempdir().unwrap();
    // A free port: bound, read and released just before the sink takes it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(&python)
        .args(["-m", "aiosmtpd", "-n", "-l"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(maildir.path().join("mail"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let sink = SmtpSink {
        child,
        port,
        maildir,
    };
    // Ready when it accepts a connection (bounded polling).
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return sink;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("aiosmtpd did not start on port {port}");
}

fn mails(dir: &std::path::Path) -> Vec<String> {
    let new = dir.join("mail").join("new");
    let Ok(entries) = std::fs::read_dir(new) else {
        return Vec::new();
    };
    entries
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_backup_is_mailed_through_smtp() {
    let s = Setup::start().await;
    let sink = smtp_sink().await;
    let (status, channel) = s
        .call(
            Method::POST,
            "/api/v1/notifications",
            Some(json!({
                "name": "ops-mail",
                "kind": "email",
                "config": {
                    "smtp_host": "127.0.0.1",
                    "smtp_port": sink.port,
                    "tls": "none",
                    "from": "Butterfly <butterfly@example.com>",
                    "to": ["oncall@example.com", "backup-team@example.com"],
                },
                "events": ["backup_failed"],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    assert_eq!(channel["secret_set"], false);

    // The channel's test endpoint delivers at once and says so.
    let (status, delivery) = s
        .call(
            Method::POST,
            &format!(
                "/api/v1/notifications/{}/test",
                channel["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{delivery}");
    assert_eq!(delivery["delivered"], true, "{delivery}");
    assert_eq!(mails(sink.maildir.path()).len(), 1);

    let bad = s
        .create_connection("okta-broken", Some("0oa_unknown"))
        .await;
    assert_eq!(s.backup(&bad).await["status"], "failed");
    let mut got = Vec::new();
    for _ in 0..200 {
        got = mails(sink.maildir.path());
        if got.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(got.len(), 2, "{got:?}");
    let mail = got
        .iter()
        .find(|m| m.contains("okta-broken"))
        .unwrap_or_else(|| panic!("{got:?}"));
    assert!(
        mail.contains("Subject: Butterfly: backup of okta-broken failed"),
        "{mail}"
    );
    assert!(
        mail.contains("From: Butterfly <butterfly@example.com>"),
        "{mail}"
    );
    let recipients: BTreeSet<&str> = ["oncall@example.com", "backup-team@example.com"].into();
    for to in recipients {
        assert!(mail.contains(to), "{mail}");
    }
    assert!(mail.contains("invalid_client"), "{mail}");
    assert!(mail.contains("Verify the Client ID"), "{mail}");
}
