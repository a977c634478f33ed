//! `butterfly restore` and `butterfly sync` against the Okta simulator on a loopback
//! port: dry runs print the plan and write nothing, saved plans are checked, runs keep
//! ids and actions only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use butterfly_providers::okta::RateLimitBucket;
use butterfly_providers::okta::simulator::{
    OrgConfig, RunningSimulator, Simulator, SimulatorConfig, generate_client_key,
};
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::Value;

struct TestKey {
    private_pem: String,
    public_pem: String,
}

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

fn config(seed: u64) -> SimulatorConfig {
    SimulatorConfig {
        org: OrgConfig {
            seed,
            users: 25,
            groups: 6,
            apps: 5,
        },
        // Real time: limits far above what these tests spend.
        rate_limits: RateLimitBucket::ALL
            .iter()
            .map(|b| (*b, 60_000))
            .collect::<BTreeMap<_, _>>(),
        client_public_key_pem: Some(client_key().public_pem.clone()),
        ..SimulatorConfig::default()
    }
}

struct Setup {
    sim: RunningSimulator,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn start(seed: u64) -> Setup {
        let sim = Simulator::bind(config(seed), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key.pem"), &client_key().private_pem).unwrap();
        Setup { sim, dir }
    }

    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    fn command(&self, sim: &RunningSimulator, args: &[&str]) -> Command {
        let credentials = sim.simulator().client_credentials();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_butterfly"));
        cmd.env("BUTTERFLY_REPO_PASSWORD", "restore-tests")
            // The simulator listens on loopback.
            .env("BUTTERFLY_ALLOW_PRIVATE_ORG_URLS", "true");
        cmd.args(args)
            .args(["--org-url", sim.org_url()])
            .args(["--client-id", &credentials.client_id])
            .arg("--private-key")
            .arg(self.dir.path().join("key.pem"))
            .arg("--repo")
            .arg(self.repo());
        cmd
    }

    async fn backup(&self) -> String {
        let mut cmd = self.command(&self.sim, &["backup", "okta"]);
        cmd.args(["--output", "json"]);
        let out = run(cmd).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).lines().last().unwrap().to_owned()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_prints_the_plan_and_writes_nothing() {
    let s = Setup::start(21).await;
    let snapshot = s.backup().await;
    let before = s.sim.simulator().request_log();

    let plan_file = s.dir.path().join("plan.json");
    let mut cmd = s.command(
        &s.sim,
        &[
            "restore",
            &snapshot[..8],
            "--overwrite",
            "--delete-extra",
            "--dry-run",
            "--output",
            "json",
        ],
    );
    cmd.arg("--save-plan").arg(&plan_file);
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    for array in ["create", "update", "delete", "skip"] {
        assert!(plan[array].is_array(), "{array}: {plan}");
    }
    // A fresh backup of the same org: nothing to write.
    assert_eq!(
        plan["create"].as_array().unwrap().len(),
        0,
        "{}",
        plan["create"]
    );
    assert_eq!(
        plan["update"].as_array().unwrap().len(),
        0,
        "{}",
        plan["update"]
    );
    assert_eq!(
        plan["delete"].as_array().unwrap().len(),
        0,
        "{}",
        plan["delete"]
    );
    let first = &plan["skip"][0];
    for field in ["kind", "id", "name", "reason", "order"] {
        assert!(!first[field].is_null(), "{field}: {first}");
    }
    assert_eq!(plan["mode"], "restore");
    assert_eq!(
        s.sim.simulator().request_log().writes,
        before.writes,
        "the dry run wrote"
    );
    assert!(
        !s.repo().join("restores").exists(),
        "a dry run keeps no run"
    );

    // The saved plan is the printed one, and is accepted while the org is unchanged.
    let saved: Value = serde_json::from_slice(&std::fs::read(&plan_file).unwrap()).unwrap();
    assert_eq!(saved["fingerprint"], plan["fingerprint"]);
    let mut cmd = s.command(&s.sim, &["restore", "--dry-run"]);
    cmd.arg("--plan").arg(&plan_file);
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("dry run: nothing was written"));

    // An edited plan is refused.
    let mut edited = saved.clone();
    edited["options"]["overwrite"] = Value::Bool(false);
    std::fs::write(&plan_file, serde_json::to_vec(&edited).unwrap()).unwrap();
    let mut cmd = s.command(&s.sim, &["restore", "--dry-run"]);
    cmd.arg("--plan").arg(&plan_file);
    let out = run(cmd).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("fingerprint"),
        "{}",
        text(&out.stderr)
    );

    // Unknown kinds are refused before anything is read.
    let out = run(s.command(
        &s.sim,
        &["restore", &snapshot, "--kind", "nope", "--dry-run"],
    ))
    .await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("unknown kind `nope`"));
    assert_eq!(s.sim.simulator().request_log().writes, before.writes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_previews_another_org_by_name_and_writes_nothing() {
    let s = Setup::start(22).await;
    let snapshot = s.backup().await;
    // Another org: other ids (another seed), same key.
    let other = Simulator::bind(config(23), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let vars = s.dir.path().join("prod.env");
    std::fs::write(&vars, "# production\nDOMAIN=prod.example.org\n").unwrap();
    let mut cmd = s.command(
        &other,
        &[
            "sync",
            "--from",
            &snapshot,
            "--kind",
            "group",
            "--kind",
            "network_zone",
            "--dry-run",
            "--output",
            "json",
        ],
    );
    cmd.arg("--vars").arg(&vars);
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["mode"], "sync");
    let kinds: Vec<&str> = ["create", "update", "skip"]
        .iter()
        .flat_map(|a| plan[*a].as_array().unwrap())
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(!kinds.is_empty());
    assert!(
        kinds.iter().all(|k| *k == "group" || *k == "network_zone"),
        "{kinds:?}"
    );
    // Matched by name: the org's Everyone group is the snapshot's, under another id.
    let everyone = plan["skip"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "Everyone")
        .unwrap();
    assert_ne!(everyone["id"], everyone["live_id"]);
    assert_eq!(other.simulator().request_log().writes, 0);
}

/// Every read and manage scope.
fn admin_scopes() -> std::collections::BTreeSet<String> {
    use butterfly_providers::okta::kinds;
    kinds::backup_scopes()
        .into_iter()
        .chain(kinds::all().filter_map(|k| k.manage_scope))
        .map(str::to_owned)
        .collect()
}

fn fetcher(sim: &RunningSimulator) -> butterfly_providers::okta::fetcher::OktaFetcher {
    use butterfly_providers::okta::fetcher::{
        ClientId, FetchOptions, OktaCredentials, OktaFetcher, OrgUrl, PrivateKey,
    };
    let given = sim.simulator().client_credentials();
    OktaFetcher::new(
        OktaCredentials {
            org_url: OrgUrl::parse(&given.org_url).unwrap(),
            client_id: ClientId::new(given.client_id).unwrap(),
            key_id: Some(given.key_id),
            private_key: PrivateKey::from_pem(&client_key().private_pem).unwrap(),
        },
        FetchOptions {
            // The simulator listens on loopback.
            insecure_allow_private_addresses: true,
            ..FetchOptions::default()
        },
    )
    .unwrap()
}

/// The run directories under the repository's `restores/`, oldest first.
fn run_ids(s: &Setup) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(s.repo().join("restores"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_resumes_after_a_stop_undoes_and_refuses_a_stale_plan() {
    let s = Setup::start(24).await;
    let snapshot = s.backup().await;
    let fetcher = fetcher(&s.sim);
    let session = fetcher.sign_in(admin_scopes()).await.unwrap();
    // Delete two groups (with their memberships) and rename a zone.
    let repo_groups: Vec<String> = {
        let live = butterfly_providers::okta::restore::read_live(
            &fetcher,
            &["group".to_owned()].into_iter().collect(),
        )
        .await
        .unwrap();
        live.resources
            .kind("group")
            .filter(|(_, g)| g["type"] == "OKTA_GROUP")
            .map(|(id, _)| id.clone())
            .take(2)
            .collect()
    };
    for group in &repo_groups {
        let answer = session
            .send("DELETE", &format!("/api/v1/groups/{group}"), None, true)
            .await
            .unwrap();
        assert!(answer.is_success(), "{answer:?}");
    }

    // Stopped after one step, as if killed.
    let mut cmd = s.command(&s.sim, &["restore", &snapshot, "--stop-after", "1"]);
    cmd.args(["--output", "json"]);
    let out = run(cmd).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("stopped before the end"),
        "{}",
        text(&out.stderr)
    );
    let runs = run_ids(&s);
    assert_eq!(runs.len(), 1);
    let journal = s
        .repo()
        .join("restores")
        .join(&runs[0])
        .join("journal.jsonl");
    assert!(
        !std::fs::read_to_string(&journal)
            .unwrap()
            .contains("\"finished\"")
    );

    // The same command again continues that run and finishes it.
    let out = run(s.command(&s.sim, &["restore", &snapshot, "--output", "json"])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        result["run"]["run_id"],
        runs[0].as_str(),
        "a new run was started"
    );
    assert_eq!(result["run"]["failed"], 0, "{}", result["run"]);
    assert_eq!(run_ids(&s), runs);
    let journal_text = std::fs::read_to_string(&journal).unwrap();
    assert!(journal_text.trim_end().ends_with('}') && journal_text.contains("\"finished\""));
    // Ids and actions only: no names, logins or bodies.
    let plan_text =
        std::fs::read_to_string(s.repo().join("restores").join(&runs[0]).join("plan.json"))
            .unwrap();
    for file in [&journal_text, &plan_text] {
        assert!(
            !file.contains("@example.com") && !file.contains("profile"),
            "{file}"
        );
    }
    // Both groups exist once each; a second restore plans nothing.
    let out = run(s.command(
        &s.sim,
        &["restore", &snapshot, "--dry-run", "--output", "json"],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        again["create"].as_array().unwrap().len(),
        0,
        "{}",
        again["create"]
    );

    // Undo: the groups are gone again.
    let out = run(s.command(&s.sim, &["restore", "--undo", &runs[0], "--output", "json"])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let undo: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(undo["mode"], "undo");
    assert!(!undo["delete"].as_array().unwrap().is_empty());
    let out = run(s.command(
        &s.sim,
        &["restore", &snapshot, "--dry-run", "--output", "json"],
    ))
    .await;
    let after_undo: Value = serde_json::from_slice(&out.stdout).unwrap();
    let groups = after_undo["create"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "group")
        .count();
    assert_eq!(groups, 2);

    // A plan saved now, then the org changes: executing it is refused.
    let plan_file = s.dir.path().join("reviewed.json");
    let mut cmd = s.command(&s.sim, &["restore", &snapshot, "--dry-run"]);
    cmd.arg("--save-plan").arg(&plan_file);
    assert!(run(cmd).await.status.success());
    let zone = {
        let live = butterfly_providers::okta::restore::read_live(
            &fetcher,
            &["network_zone".to_owned()].into_iter().collect(),
        )
        .await
        .unwrap();
        live.resources
            .kind("network_zone")
            .find(|(_, z)| z["system"] == false)
            .map(|(id, z)| (id.clone(), z.clone()))
            .unwrap()
    };
    let mut renamed = zone.1.clone();
    renamed["name"] = Value::String("Renamed meanwhile".into());
    let answer = session
        .send(
            "PUT",
            &format!("/api/v1/zones/{}", zone.0),
            Some(&renamed),
            true,
        )
        .await
        .unwrap();
    assert!(answer.is_success(), "{answer:?}");
    let before = s.sim.simulator().request_log();
    let mut cmd = s.command(&s.sim, &["restore"]);
    cmd.arg("--plan").arg(&plan_file);
    let out = run(cmd).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("changed since the plan"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(s.sim.simulator().request_log().writes, before.writes);
}
