//! `butterfly backup okta` and `butterfly snapshots ...` against the Okta simulator on a
//! loopback port: counts, round trips, dedup, secrets, scopes, kill -9, damage.

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use butterfly_core::{ProviderKind, ResourceKind, SnapshotId, SnapshotStatus};
use butterfly_providers::okta::fetcher::{
    ClientId, FetchEvent, FetchOptions, OktaCredentials, OktaFetcher, OrgUrl, PrivateKey,
};
use butterfly_providers::okta::simulator::{
    FaultKind, FaultRule, OrgConfig, RunningSimulator, SECRET_MARKER, Simulator, SimulatorConfig,
    generate_client_key,
};
use butterfly_providers::okta::{RateLimitBucket, kinds};
use butterfly_store::format::keyring::Password;
use butterfly_store::format::pack;
use butterfly_store::snapshots::SnapshotRepository;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{Value, json};

/// Every repository these tests make is protected by this password, as a user's would be.
const REPO_PASSWORD: &str = "okta-backup-tests";

/// Limits far above what these tests spend: they check the CLI's wiring and the
/// repository, on real time. The fetcher's rate limiting, retries, re-authentication
/// and scope handling are tested in butterfly-providers, on a virtual clock.
fn generous_limits() -> BTreeMap<RateLimitBucket, u32> {
    RateLimitBucket::ALL.iter().map(|b| (*b, 60_000)).collect()
}

struct TestKey {
    private_pem: String,
    public_pem: String,
}

/// One key pair per test binary: RSA generation is the slow part of a test.
fn client_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let (private_pem, public) = generate_client_key().unwrap();
        TestKey {
            private_pem,
            public_pem: public.to_public_key_pem(LineEnding::LF).unwrap(),
        }
    })
}

fn config(users: usize) -> SimulatorConfig {
    SimulatorConfig {
        org: OrgConfig {
            seed: 7,
            users,
            groups: 6,
            apps: 8,
        },
        rate_limits: generous_limits(),
        client_public_key_pem: Some(client_key().public_pem.clone()),
        ..SimulatorConfig::default()
    }
}

struct Setup {
    sim: RunningSimulator,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn start(config: SimulatorConfig) -> Setup {
        let sim = Simulator::bind(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key.pem"), &client_key().private_pem).unwrap();
        Setup { sim, dir }
    }

    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    fn backup_command(&self, extra: &[&str]) -> Command {
        let credentials = self.sim.simulator().client_credentials();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_butterfly"));
        cmd.env("BUTTERFLY_REPO_PASSWORD", REPO_PASSWORD);
        // The simulator listens on loopback.
        cmd.args(["backup", "okta", "--allow-private-org-urls"])
            .args(["--org-url", self.sim.org_url()])
            .args(["--client-id", &credentials.client_id])
            .arg("--private-key")
            .arg(self.dir.path().join("key.pem"))
            .arg("--repo")
            .arg(self.repo())
            .args(extra);
        cmd
    }

    /// Run a backup; returns the JSON summary and the snapshot id (the last line).
    async fn backup(&self, extra: &[&str]) -> (Value, SnapshotId) {
        let mut cmd = self.backup_command(extra);
        cmd.args(["--output", "json"]);
        let out = run(cmd).await;
        assert!(out.status.success(), "backup failed: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        let id: SnapshotId = lines.last().unwrap().parse().unwrap();
        let summary: Value = serde_json::from_str(lines[0]).unwrap();
        (summary, id)
    }

    async fn snapshots(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_butterfly"));
        cmd.env("BUTTERFLY_REPO_PASSWORD", REPO_PASSWORD);
        cmd.arg("snapshots")
            .args(args)
            .arg("--repo")
            .arg(self.repo());
        run(cmd).await
    }

    async fn open_repo(&self) -> SnapshotRepository {
        SnapshotRepository::open_with_password(&self.repo(), Some(&Password::new(REPO_PASSWORD)))
            .await
            .unwrap()
    }
}

async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every kind the org has, with its count (kinds with no resources leave no entries).
fn org_counts(sim: &RunningSimulator) -> BTreeMap<String, u64> {
    sim.simulator()
        .org()
        .counts()
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_owned(), n as u64))
        .collect()
}

async fn snapshot_counts(repo: &SnapshotRepository, id: SnapshotId) -> BTreeMap<String, u64> {
    repo.manifest(id)
        .await
        .unwrap()
        .counts
        .into_iter()
        .map(|(k, n)| (k.as_str().to_owned(), n))
        .collect()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_backup_matches_the_org_and_every_resource_round_trips() {
    let s = Setup::start(config(40)).await;
    let (summary, id) = s.backup(&[]).await;
    assert_eq!(summary["snapshot"]["status"], "complete", "{summary}");

    let repo = s.open_repo().await;
    let snapshot = repo.manifest(id).await.unwrap();
    snapshot.check_consistency().unwrap();
    assert_eq!(snapshot.status, SnapshotStatus::Complete);
    assert!(snapshot.warnings.is_empty(), "{:?}", snapshot.warnings);
    assert_eq!(snapshot_counts(&repo, id).await, org_counts(&s.sim));
    assert!(
        snapshot.counts.len() >= 45,
        "only {} kinds",
        snapshot.counts.len()
    );

    // Fetch again in-process and compare every resource with what the repository holds.
    let credentials = s.sim.simulator().client_credentials();
    let fetcher = OktaFetcher::new(
        OktaCredentials {
            org_url: OrgUrl::parse(&credentials.org_url).unwrap(),
            client_id: ClientId::new(credentials.client_id).unwrap(),
            key_id: Some(credentials.key_id),
            private_key: PrivateKey::from_pem(&client_key().private_pem).unwrap(),
        },
        FetchOptions {
            insecure_allow_private_addresses: true,
            ..FetchOptions::default()
        },
    )
    .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let fetch = tokio::spawn(async move { fetcher.run(tx).await });
    let mut checked = 0;
    while let Some(event) = rx.recv().await {
        if let FetchEvent::Resources { kind, resources } = event {
            let entries = &snapshot.kinds[&kind];
            for resource in resources {
                let entry = entries.iter().find(|e| e.id == resource.id).unwrap();
                assert_eq!(entry.digest, resource.digest(), "{kind}/{}", resource.id);
                assert_eq!(
                    repo.get_json(&entry.digest).await.unwrap(),
                    resource.attributes
                );
                assert!(!contains(
                    resource.attributes.to_string().as_bytes(),
                    b"\"_links\""
                ));
                checked += 1;
            }
        }
    }
    let report = fetch.await.unwrap().unwrap();
    assert_eq!(checked, snapshot.total());
    assert!(report.skipped.is_empty() && report.failed.is_empty());

    // show and list agree, in both output formats.
    let shown = s
        .snapshots(&["show", &id.to_string(), "--output", "json"])
        .await;
    assert!(shown.status.success());
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["resources"], snapshot.total());
    let listed = s.snapshots(&["list", "--output", "json"]).await;
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["id"], id.to_string());
    let table = s.snapshots(&["list"]).await;
    assert!(text(&table.stdout).contains(&id.to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_backup_of_an_unchanged_org_writes_almost_nothing() {
    let s = Setup::start(config(300)).await;
    let (first, first_id) = s.backup(&[]).await;
    let repo_bytes = s.open_repo().await.stored_bytes().await.unwrap();
    let (second, second_id) = s.backup(&[]).await;
    assert_ne!(first_id, second_id);
    assert_eq!(second["write"]["new_objects"], 0, "{second}");
    let new_bytes = second["write"]["new_bytes"].as_u64().unwrap();
    assert!(
        new_bytes * 100 < repo_bytes,
        "second backup wrote {new_bytes} bytes, the repository held {repo_bytes} (first: {first})"
    );
    let repo = s.open_repo().await;
    assert_eq!(
        repo.manifest(first_id).await.unwrap().root_digest,
        repo.manifest(second_id).await.unwrap().root_digest
    );
    let verify = s.snapshots(&["verify"]).await;
    assert!(verify.status.success(), "{}", text(&verify.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_never_reach_the_repository() {
    let s = Setup::start(config(20)).await;
    // The simulator does plant secrets, in what it serves.
    let marker = SECRET_MARKER.as_bytes();
    let (_, id) = s.backup(&[]).await;

    for file in files_under(&s.repo()) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !contains(&bytes, marker),
            "{} holds a secret",
            file.display()
        );
    }
    // Files are encrypted, so also look inside: every stored object, decrypted.
    let repo = s.open_repo().await;
    let snapshot = repo.manifest(id).await.unwrap();
    let mut planted_kinds = BTreeSet::new();
    for (kind, entries) in &snapshot.kinds {
        let spec = kinds::by_name(kind.as_str()).unwrap();
        if !spec.secrets.is_empty() {
            planted_kinds.insert(kind.clone());
        }
        for entry in entries {
            let plain = repo.get(&entry.digest).await.unwrap();
            assert!(
                !contains(&plain, marker),
                "{kind}/{} holds a secret",
                entry.id
            );
        }
    }
    assert!(
        !planted_kinds.is_empty(),
        "no kind with secrets was backed up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_scope_skips_its_kinds_with_a_warning() {
    let granted: BTreeSet<String> = kinds::backup_scopes()
        .into_iter()
        .filter(|s| *s != "okta.logStreams.read" && *s != "okta.roles.read")
        .map(str::to_owned)
        .collect();
    let s = Setup::start(SimulatorConfig {
        granted_scopes: Some(granted),
        ..config(20)
    })
    .await;
    let (summary, id) = s.backup(&[]).await;
    assert_eq!(summary["snapshot"]["status"], "partial", "{summary}");
    let snapshot = s.open_repo().await.manifest(id).await.unwrap();
    assert_eq!(snapshot.status, SnapshotStatus::Partial);
    let warnings = snapshot.warnings.join("\n");
    assert!(warnings.contains("`log_stream` skipped"), "{warnings}");
    assert!(warnings.contains("okta.logStreams.read"), "{warnings}");
    assert!(warnings.contains("`custom_role` skipped"), "{warnings}");
    let roles: Vec<&str> = kinds::all()
        .filter(|k| k.read_scopes.contains(&"okta.roles.read"))
        .map(|k| k.name)
        .collect();
    let mut expected = org_counts(&s.sim);
    expected.retain(|k, _| k != "log_stream" && !roles.contains(&k.as_str()));
    assert_eq!(
        snapshot_counts(&s.open_repo().await, id).await,
        expected,
        "other kinds are whole"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_any_moment_leaves_a_valid_repository() {
    let s = Setup::start(config(1500)).await;
    // A first, complete snapshot, which every interrupted run must leave intact.
    let (_, first) = s.backup(&["--pack-target-bytes", "4096"]).await;
    // Every answer now takes 200 ms, so an interrupted run lasts well past the last kill
    // however fast the machine is (the users listing alone is several pages in a row).
    s.sim.simulator().add_faults([FaultRule {
        delay_ms: Some(200),
        ..FaultRule::new(FaultKind::Slow)
    }]);
    // Kill runs at different moments: before, during and after pack writes.
    for delay_ms in [150, 400, 700, 1000] {
        let mut child = s
            .backup_command(&["--pack-target-bytes", "4096"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backup ended before the kill at {delay_ms} ms: make the org bigger"
        );
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let verify = s.snapshots(&["verify"]).await;
        assert!(
            verify.status.success(),
            "after kill at {delay_ms} ms: {}{}",
            text(&verify.stdout),
            text(&verify.stderr)
        );
    }
    s.sim.simulator().clear_faults();
    let (summary, last) = s.backup(&["--pack-target-bytes", "4096"]).await;
    assert_eq!(summary["snapshot"]["status"], "complete");
    let repo = s.open_repo().await;
    assert_eq!(
        repo.manifest(first).await.unwrap().root_digest,
        repo.manifest(last).await.unwrap().root_digest
    );
    let verify = s.snapshots(&["verify", &last.to_string()]).await;
    assert!(verify.status.success(), "{}", text(&verify.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_a_flipped_byte_in_a_pack() {
    let s = Setup::start(config(20)).await;
    let (_, id) = s.backup(&[]).await;
    let ok = s.snapshots(&["verify", &id.to_string()]).await;
    assert!(ok.status.success());

    // Damage one resource object whose content no other entry shares (a user), in the
    // middle of its sealed bytes. A byte flipped at random could land in an entry list
    // (the manifest then does not open) or in an object no snapshot names.
    let repo = s.open_repo().await;
    let manifest = repo.manifest(id).await.unwrap();
    let user = &manifest.kinds[&ResourceKind::new("user")][0];
    let at = repo.location(&user.digest).unwrap().unwrap();
    drop(repo);
    let pack = s.repo().join(pack::pack_name(at.pack));
    let mut bytes = std::fs::read(&pack).unwrap();
    let target = usize::try_from(at.offset).unwrap() + at.length as usize / 2;
    bytes[target] ^= 0x01;
    std::fs::write(&pack, &bytes).unwrap();

    let damaged = s.snapshots(&["verify", "--output", "json"]).await;
    assert!(!damaged.status.success());
    let report: Value = serde_json::from_slice(&damaged.stdout).unwrap();
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{report}");
    // The problem names the object, its pack and offset, and the entry that needs it.
    let message = problems[0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(" in pack {}", at.pack))
            && message.contains(&format!(" at offset {}", at.offset)),
        "{message}"
    );
    assert_eq!(
        problems[0]["location"].as_str().unwrap(),
        format!("snapshot {id} user/{}", user.id),
        "{report}"
    );
    assert!(text(&damaged.stderr).contains("1 problem"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_flag_narrows_the_backup() {
    let s = Setup::start(config(20)).await;
    let (summary, id) = s
        .backup(&["--scopes", "okta.users.read,okta.groups.read"])
        .await;
    assert_eq!(summary["snapshot"]["status"], "partial", "{summary}");
    let counts = snapshot_counts(&s.open_repo().await, id).await;
    let expected: BTreeMap<String, u64> = org_counts(&s.sim)
        .into_iter()
        .filter(|(k, _)| {
            kinds::by_name(k)
                .unwrap()
                .read_scopes
                .iter()
                .all(|scope| ["okta.users.read", "okta.groups.read"].contains(scope))
        })
        .collect();
    assert!(expected.contains_key("user") && expected.contains_key("group_membership"));
    assert_eq!(counts, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_org_url_or_client_id_is_a_clear_error_and_writes_nothing() {
    let s = Setup::start(config(5)).await;
    for (flag, value, expected) in [
        ("--org-url", "https://example.okta.com/#admin", "fragment"),
        ("--org-url", "https://example.okta.com/api/v1", "path"),
        ("--org-url", "http://example.okta.com", "https"),
        ("--client-id", "0oa 1", "whitespace"),
    ] {
        let credentials = s.sim.simulator().client_credentials();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_butterfly"));
        cmd.env("BUTTERFLY_REPO_PASSWORD", REPO_PASSWORD);
        let mut flags = vec![
            ("--org-url", s.sim.org_url().to_owned()),
            ("--client-id", credentials.client_id.clone()),
        ];
        for (name, set) in &mut flags {
            if *name == flag {
                value.clone_into(set);
            }
        }
        cmd.args(["backup", "okta", "--allow-private-org-urls"]);
        for (name, set) in &flags {
            cmd.args([*name, set.as_str()]);
        }
        cmd.arg("--private-key")
            .arg(s.dir.path().join("key.pem"))
            .arg("--repo")
            .arg(s.repo());
        let out = run(cmd).await;
        assert!(!out.status.success(), "{flag} {value}");
        let error = text(&out.stderr);
        assert!(
            error.contains(flag) && error.contains(expected),
            "{flag} {value}: {error}"
        );
        assert!(!s.repo().exists(), "{flag} {value} created the repository");
    }
}

/// Without `--allow-private-org-urls`, an org URL on loopback (however it is spelled) is
/// refused before anything is sent or written; the simulator is never reached.
#[tokio::test]
async fn a_private_org_url_is_refused_without_the_flag() {
    let s = Setup::start(config(5)).await;
    let port = s.sim.org_url().rsplit(':').next().unwrap().to_owned();
    let credentials = s.sim.simulator().client_credentials();
    for org in [
        s.sim.org_url().to_owned(),
        format!("http://2130706433:{port}"),
        format!("http://0x7f.1:{port}"),
        format!("http://localhost:{port}"),
        "https://169.254.169.254".to_owned(),
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_butterfly"));
        cmd.env_remove("BUTTERFLY_ALLOW_PRIVATE_ORG_URLS")
            .args(["backup", "okta", "--org-url", &org])
            .args(["--client-id", &credentials.client_id])
            .arg("--private-key")
            .arg(s.dir.path().join("key.pem"))
            .arg("--repo")
            .arg(s.repo());
        let out = run(cmd).await;
        assert!(!out.status.success(), "{org}");
        let error = text(&out.stderr);
        assert!(
            error.contains("--org-url") && error.contains("public internet"),
            "{org}: {error}"
        );
        assert!(!s.repo().exists(), "{org} created the repository");
    }
    assert_eq!(s.sim.simulator().request_log().total, 0);
}

/// `butterfly diff`: two snapshots of one org, the second without network zones (their
/// scope withheld), and the first against the live org.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_names_what_changed_with_severities() {
    let s = Setup::start(config(20)).await;
    let (_, full) = s.backup(&[]).await;
    let without_zones: Vec<&str> = kinds::backup_scopes()
        .into_iter()
        .filter(|s| *s != "okta.networkZones.read")
        .collect();
    let (_, partial) = s.backup(&["--scopes", &without_zones.join(",")]).await;
    let zones = org_counts(&s.sim)["network_zone"];

    let diff = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_butterfly"));
        cmd.env("BUTTERFLY_REPO_PASSWORD", REPO_PASSWORD);
        cmd.arg("diff").args(args).arg("--repo").arg(s.repo());
        run(cmd)
    };
    // Prefixes name the snapshots, as everywhere else.
    let (a, b) = (full.to_string(), partial.to_string());
    let out = diff(&[&a[..8], &b[..8], "--output", "json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["summary"]["removed"], zones, "{json}");
    assert_eq!(json["summary"]["added"], 0);
    assert_eq!(json["summary"]["changed"], 0, "{json}");
    let removed = json["removed"].as_array().unwrap();
    assert!(removed.iter().all(|r| {
        r["kind"] == "network_zone"
            && r["severity"] == "high"
            && r["name"]
                .as_str()
                .is_some_and(|n| !n.is_empty() && !n.starts_with("nzo"))
    }));

    // Below the threshold, nothing is listed.
    let out = diff(&[&a, &b, "--min-severity", "critical", "--output", "json"]).await;
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["summary"]["removed"], 0, "{json}");

    // Markdown, for a pull request or a ticket.
    let out = diff(&[&a, &b, "--output", "markdown"]).await;
    let markdown = text(&out.stdout);
    assert!(markdown.contains("| network_zone"), "{markdown}");
    assert!(markdown.contains("| high"), "{markdown}");

    // The live org still has its zones: against the full snapshot nothing changed, and
    // nothing is written to the repository.
    let before = s.open_repo().await.list().await.unwrap().len();
    let credentials = s.sim.simulator().client_credentials();
    let key = s.dir.path().join("key.pem");
    let out = diff(&[
        &a,
        "live",
        "--allow-private-org-urls",
        "--output",
        "json",
        "--org-url",
        s.sim.org_url(),
        "--client-id",
        &credentials.client_id,
        "--private-key",
        key.to_str().unwrap(),
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["to"], "live");
    let summary = &json["summary"];
    assert_eq!(
        (&summary["added"], &summary["removed"], &summary["changed"]),
        (&json!(0), &json!(0), &json!(0)),
        "{json}"
    );
    assert_eq!(s.open_repo().await.list().await.unwrap().len(), before);

    // `live` without credentials, or first, is a clear error.
    let out = diff(&[&a, "live"]).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--org-url"),
        "{}",
        text(&out.stderr)
    );
    let out = diff(&["live", &a]).await;
    assert!(
        text(&out.stderr).contains("second"),
        "{}",
        text(&out.stderr)
    );
}

/// `butterfly compliance` and `butterfly export terraform` on a snapshot made by
/// `butterfly backup okta`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_is_checked_for_compliance_and_exported_as_terraform() {
    let s = Setup::start(config(20)).await;
    let (_, id) = s.backup(&[]).await;
    let id = id.to_string();
    let cli = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_butterfly"));
        cmd.env("BUTTERFLY_REPO_PASSWORD", REPO_PASSWORD);
        cmd.args(args).arg("--repo").arg(s.repo());
        run(cmd)
    };

    // Every framework, as JSON: each result names its framework and status.
    let out = cli(&[
        "compliance",
        &id[..8],
        "--framework",
        "all",
        "--format",
        "json",
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = report["results"].as_array().unwrap();
    let frameworks: BTreeSet<&str> = results
        .iter()
        .map(|r| r["framework"].as_str().unwrap())
        .collect();
    assert_eq!(frameworks.len(), 7, "{frameworks:?}");
    let failing_high = results
        .iter()
        .filter(|r| {
            r["status"] == "fail" && (r["severity"] == "high" || r["severity"] == "critical")
        })
        .count();

    // --fail-on decides the exit status from the same results; the file is still written.
    let sarif = s.dir.path().join("okta.sarif");
    let out = cli(&[
        "compliance",
        &id,
        "--format",
        "sarif",
        "--out",
        sarif.to_str().unwrap(),
        "--fail-on",
        "high",
    ])
    .await;
    assert_eq!(
        out.status.success(),
        failing_high == 0,
        "{}",
        text(&out.stderr)
    );
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    assert_eq!(written["version"], "2.1.0");
    let out = cli(&["compliance", &id, "--framework", "myspace"]).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("myspace"),
        "{}",
        text(&out.stderr)
    );

    // Terraform: provider file, users apart, and --skip-users leaves them out.
    let tf = s.dir.path().join("tf");
    let out = cli(&["export", "terraform", &id, "--out", tf.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(tf.join("providers.tf").is_file());
    assert!(tf.join("users.tf").is_file());
    let groups = std::fs::read_to_string(tf.join("groups.tf")).unwrap();
    assert!(groups.contains("resource \"okta_group\""), "{groups}");
    assert!(groups.contains("import {"), "{groups}");
    let slim = s.dir.path().join("tf-slim");
    let out = cli(&[
        "export",
        "terraform",
        &id,
        "--out",
        slim.to_str().unwrap(),
        "--skip-users",
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!slim.join("users.tf").exists());
}

/// `butterfly export git` on two backups of the simulated org: two commits, the second
/// showing exactly the network zones the second backup lost, no secret in any exported
/// byte, and the branch pushed to a bare repository over the file transport.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_are_exported_to_git_and_pushed() {
    let s = Setup::start(config(20)).await;
    let (_, full) = s.backup(&[]).await;
    let without_zones: Vec<&str> = kinds::backup_scopes()
        .into_iter()
        .filter(|s| *s != "okta.networkZones.read")
        .collect();
    let (_, partial) = s.backup(&["--scopes", &without_zones.join(",")]).await;
    let zones = org_counts(&s.sim)["network_zone"];
    let git_dir = s.dir.path().join("identity.git");
    let remote = s.dir.path().join("remote.git");
    let git = |dir: &Path, args: &[&str]| {
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).trim_end().to_owned()
    };
    git(
        s.dir.path(),
        &["init", "--bare", "--quiet", remote.to_str().unwrap()],
    );
    let export = |snapshot: String, extra: Vec<String>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_butterfly"));
        cmd.env("BUTTERFLY_REPO_PASSWORD", REPO_PASSWORD);
        cmd.args(["export", "git", &snapshot, "--output", "json", "--repo"])
            .arg(s.repo())
            .arg("--git-dir")
            .arg(&git_dir)
            .args(extra);
        run(cmd)
    };

    let out = export(full.to_string()[..8].to_owned(), vec![]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first: Value = serde_json::from_slice(&out.stdout).unwrap();
    let c1 = first["exports"][0]["commit"].as_str().unwrap().to_owned();

    // `all` skips what the branch holds and exports the rest, then pushes.
    let out = export(
        "all".to_owned(),
        vec!["--push".into(), format!("file://{}", remote.display())],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let second: Value = serde_json::from_slice(&out.stdout).unwrap();
    let exports = second["exports"].as_array().unwrap();
    assert_eq!(exports.len(), 2, "{second}");
    assert_eq!(
        exports[0]["commit"],
        Value::Null,
        "already exported: {second}"
    );
    assert_eq!(exports[1]["snapshot"], partial.to_string());
    let c2 = exports[1]["commit"].as_str().unwrap().to_owned();
    let noun = if zones == 1 {
        "network zone"
    } else {
        "network zones"
    };
    assert!(
        exports[1]["subject"]
            .as_str()
            .unwrap()
            .starts_with(&format!("Backup: {zones} {noun} removed")),
        "{second}"
    );
    let changes = git(&git_dir, &["diff", "--name-status", "-M", &c1, &c2]);
    let lines: Vec<&str> = changes.lines().collect();
    assert_eq!(lines.len() as u64, zones, "{changes}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("D\t") && l.contains("/network_zone/")),
        "{changes}"
    );
    assert_eq!(git(&remote, &["rev-parse", "main"]), c2);

    // No planted secret in any exported file, in any commit.
    let everything = git(&git_dir, &["log", "-p", "--all"]);
    assert!(
        everything.contains("\"profile\""),
        "the export is not empty"
    );
    assert!(!everything.contains(SECRET_MARKER));

    // A token without --push is a usage error, before anything is written.
    let out = export("all".to_owned(), vec!["--token".into(), "t".into()]).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--push"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_backup_is_incremental_unless_full_is_asked_for() {
    let s = Setup::start(config(40)).await;
    let (first, first_id) = s.backup(&[]).await;
    assert!(first["fetch"].get("incremental").is_none(), "{first}");
    let (second, second_id) = s.backup(&[]).await;
    let warnings = second["snapshot"]["warnings"].to_string();
    assert!(
        warnings.contains(&format!("incremental backup on top of snapshot {first_id}")),
        "{second}"
    );
    assert_eq!(
        second["fetch"]["incremental"]["fallback"],
        Value::Null,
        "{second}"
    );
    assert!(second["fetch"]["requests"].as_u64() < first["fetch"]["requests"].as_u64());
    let (full, full_id) = s.backup(&["--full"]).await;
    assert!(full["fetch"].get("incremental").is_none(), "{full}");
    assert_eq!(
        full["snapshot"]["warnings"],
        serde_json::json!([]),
        "{full}"
    );
    let repo = s.open_repo().await;
    let digest = |id| {
        let repo = &repo;
        async move { repo.manifest(id).await.unwrap().root_digest }
    };
    assert_eq!(digest(second_id).await, digest(full_id).await);
    // --full-every 1: after one incremental, the next backup is full and says why.
    let (_, _) = s.backup(&[]).await;
    let (safety, _) = s.backup(&["--full-every", "1"]).await;
    let warnings = safety["snapshot"]["warnings"].to_string();
    assert!(
        warnings.contains("full backup instead of incremental"),
        "{safety}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_backup_resumes_without_fetching_finished_kinds_again() {
    let s = Setup::start(config(1500)).await;
    // The reference: an uninterrupted full backup, and what it cost the org.
    let before = s.sim.simulator().request_log().total;
    let (reference, reference_id) = s.backup(&["--full", "--pack-target-bytes", "4096"]).await;
    let full_requests = s.sim.simulator().request_log().total - before;
    let org = reference["snapshot"]["org"].as_str().unwrap().to_owned();
    let reference_root = s
        .open_repo()
        .await
        .manifest(reference_id)
        .await
        .unwrap()
        .root_digest;
    std::fs::remove_dir_all(s.repo()).unwrap();

    // Users now answer slowly, so the run is still listing them when the small kinds are
    // done and checkpointed.
    s.sim.simulator().add_faults([FaultRule {
        delay_ms: Some(300),
        path_prefix: Some("/api/v1/users".into()),
        ..FaultRule::new(FaultKind::Slow)
    }]);
    let mut child = s
        .backup_command(&["--pack-target-bytes", "4096"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the repository, then for a checkpoint naming some kinds: polled, since the
    // child is another process.
    let repo = loop {
        if let Ok(repo) =
            SnapshotRepository::open_with_password(&s.repo(), Some(&Password::new(REPO_PASSWORD)))
                .await
        {
            break repo;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backup ended early"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let checkpoint = loop {
        if let Ok(Some(checkpoint)) = repo.checkpoint(ProviderKind::Okta, &org).await
            && checkpoint.kinds.len() >= 5
        {
            break checkpoint;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backup ended early"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        child.try_wait().unwrap().is_none(),
        "the backup ended before the kill: slow the users down more"
    );
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    // What the checkpoint names now (it may have grown between the read and the kill).
    let checkpoint = repo
        .checkpoint(ProviderKind::Okta, &org)
        .await
        .unwrap()
        .unwrap_or(checkpoint);
    assert!(
        !checkpoint.kinds.contains_key(&ResourceKind::new("user")),
        "{checkpoint:?}"
    );
    let verify = s.snapshots(&["verify"]).await;
    assert!(verify.status.success(), "{}", text(&verify.stdout));

    // Run again: the checkpointed kinds are not fetched again.
    s.sim.simulator().clear_faults();
    let log_before = s.sim.simulator().request_log();
    let (resumed, resumed_id) = s.backup(&["--pack-target-bytes", "4096"]).await;
    let log_after = s.sim.simulator().request_log();
    let resumed_requests = log_after.total - log_before.total;
    assert_eq!(resumed["snapshot"]["status"], "complete", "{resumed}");
    assert_ne!(
        Some(resumed_id),
        checkpoint.snapshot_id,
        "a resumed run seals under its own id"
    );
    assert!(
        resumed["snapshot"]["warnings"]
            .to_string()
            .contains("resumed the backup interrupted after"),
        "{resumed}"
    );
    eprintln!(
        "killed after {} kind(s) were checkpointed; requests: full run {full_requests}, \
         resumed run {resumed_requests}",
        checkpoint.kinds.len()
    );
    assert!(
        resumed_requests < full_requests,
        "resumed run: {resumed_requests} requests, full run: {full_requests}"
    );
    // A checkpointed top-level kind with nothing below it was not listed at all.
    let mut unlisted = 0;
    for kind in checkpoint.kinds.keys() {
        let spec = kinds::by_name(kind.as_str()).unwrap();
        let has_children = kinds::all().any(|k| k.parent.is_some_and(|p| p.kind == spec.name));
        if spec.parent.is_some() || has_children || spec.list_path.contains('{') {
            continue;
        }
        let route = format!("GET {}", spec.list_path);
        assert_eq!(
            log_after.by_route.get(&route),
            log_before.by_route.get(&route),
            "{route} was listed again"
        );
        unlisted += 1;
    }
    assert!(unlisted > 0, "{checkpoint:?}");
    // The result is the uninterrupted backup's, and sound; the checkpoint is gone.
    let repo = s.open_repo().await;
    assert_eq!(
        repo.manifest(resumed_id).await.unwrap().root_digest,
        reference_root
    );
    assert_eq!(snapshot_counts(&repo, resumed_id).await, org_counts(&s.sim));
    assert!(
        repo.checkpoint(ProviderKind::Okta, &org)
            .await
            .unwrap()
            .is_none()
    );
    let verify = s.snapshots(&["verify", &resumed_id.to_string()]).await;
    assert!(verify.status.success(), "{}", text(&verify.stdout));
}
