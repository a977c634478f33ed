//! `butterfly backup entra` against the Graph simulator on a loopback port, with a client
//! secret and with a certificate; then `snapshots ls` and `diff` read what it wrote.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Command, Output};

use butterfly_core::SnapshotId;
use butterfly_providers::entra::simulator::{EntraSimConfig, EntraSimulator, TenantConfig};
use serde_json::Value;

const REPO_PASSWORD: &str = "entra-backup-tests";

struct Setup {
    sim: EntraSimulator,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn start() -> Setup {
        let sim = EntraSimulator::start(EntraSimConfig {
            tenant: TenantConfig {
                seed: 11,
                users: 40,
                groups: 5,
                apps: 4,
                secret_canary: true,
            },
            // Far above what these tests spend: they check the CLI's wiring on real time;
            // throttling is tested in butterfly-providers on a virtual clock.
            resource_units_per_10s: Some(1_000_000),
            ..EntraSimConfig::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("secret.txt"),
            format!("{}\n", sim.client_secret()),
        )
        .unwrap();
        std::fs::write(dir.path().join("app.crt"), sim.certificate_pem()).unwrap();
        std::fs::write(dir.path().join("app.key"), sim.private_key_pem()).unwrap();
        Setup { sim, dir }
    }

    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    fn butterfly() -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_butterfly"));
        cmd.env("BUTTERFLY_REPO_PASSWORD", REPO_PASSWORD);
        cmd
    }

    /// Run a backup; returns the JSON summary and the snapshot id (the last line).
    async fn backup(&self, credential: &[&str], extra: &[&str]) -> (Value, SnapshotId) {
        let mut cmd = Self::butterfly();
        cmd.args([
            "--output",
            "json",
            "backup",
            "entra",
            "--allow-private-org-urls",
        ])
        .args(["--tenant-id", self.sim.tenant_id()])
        .args(["--client-id", self.sim.client_id()])
        .args(["--graph-url", self.sim.graph_url()])
        .args(["--authority-url", self.sim.authority_url()])
        .arg("--repo")
        .arg(self.repo());
        for arg in credential {
            match *arg {
                "secret.txt" | "app.crt" | "app.key" => cmd.arg(self.dir.path().join(arg)),
                flag => cmd.arg(flag),
            };
        }
        cmd.args(extra);
        let out = run(cmd).await;
        assert!(out.status.success(), "backup failed: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        let id: SnapshotId = lines.last().unwrap().parse().unwrap();
        (serde_json::from_str(lines[0]).unwrap(), id)
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
async fn backup_entra_with_a_secret_and_a_certificate_then_ls_and_diff() {
    let s = Setup::start().await;
    let (summary, first) = s.backup(&["--client-secret-file", "secret.txt"], &[]).await;
    assert_eq!(summary["snapshot"]["status"], "complete", "{summary}");
    assert_eq!(summary["snapshot"]["provider"], "entra_id", "{summary}");
    assert_eq!(summary["snapshot"]["org"], s.sim.tenant_id());
    let users = s.sim.tenant().objects_of("user").count() as u64;
    assert_eq!(summary["snapshot"]["counts"]["user"], users, "{summary}");

    s.sim.mutate(10.0);
    let (summary, second) = s
        .backup(
            &["--certificate", "app.crt", "--private-key", "app.key"],
            &[],
        )
        .await;
    assert_eq!(summary["snapshot"]["status"], "complete", "{summary}");
    // The second read only what changed, through the first one's delta links.
    let warnings = summary["snapshot"]["warnings"].to_string();
    assert!(
        warnings.contains("incremental backup on top of snapshot"),
        "{warnings}"
    );

    // `snapshots ls` lists what the backup wrote.
    let mut cmd = Setup::butterfly();
    cmd.args([
        "--output",
        "json",
        "snapshots",
        "ls",
        &second.to_string(),
        "--kind",
        "user",
    ])
    .arg("--repo")
    .arg(s.repo());
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    let listed_users = listed
        .matches("\"user\"")
        .count()
        .max(listed.lines().count());
    assert!(listed_users as u64 >= users, "{listed}");

    // `diff` names what the mutation changed.
    let mut cmd = Setup::butterfly();
    cmd.args([
        "--output",
        "json",
        "diff",
        &first.to_string(),
        &second.to_string(),
    ])
    .arg("--repo")
    .arg(s.repo());
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let diff: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(diff["summary"]["changed"].as_u64().unwrap() > 0, "{diff}");
    let changed = diff["changed"].to_string();
    assert!(changed.contains("\"user\""), "{changed}");

    // The canary secret planted in the tenant reached no file of the repository.
    let mut pending = vec![s.repo()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                let canary = butterfly_providers::entra::simulator::SECRET_CANARY.as_bytes();
                assert!(
                    !bytes.windows(canary.len()).any(|w| w == canary),
                    "{}",
                    path.display()
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_graph_url_needs_the_allow_flag() {
    let s = Setup::start().await;
    let mut cmd = Setup::butterfly();
    cmd.args(["backup", "entra"])
        .args(["--tenant-id", s.sim.tenant_id()])
        .args(["--client-id", s.sim.client_id()])
        .args(["--graph-url", s.sim.graph_url()])
        .args(["--authority-url", s.sim.authority_url()])
        .arg("--client-secret-file")
        .arg(s.dir.path().join("secret.txt"))
        .arg("--repo")
        .arg(s.repo());
    let out = run(cmd).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--graph-url"),
        "{}",
        text(&out.stderr)
    );
    // Refused before anything was written.
    assert!(!s.repo().exists());
}
