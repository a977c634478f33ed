//! What the server-mode CLI tests share: the Okta simulator on one loopback port, a
//! server with its job worker on another (its bootstrap key in hand), and the binary run
//! against it.

// Each test binary uses part of this module.
#![allow(dead_code)]

use std::process::{Command, Output};

use butterfly_providers::okta::RateLimitBucket;
use butterfly_providers::okta::simulator::{
    OrgConfig, RunningSimulator, Simulator, SimulatorConfig, generate_client_key,
};
use butterfly_server::app::{bootstrap, build_router, open_state};
use butterfly_server::backups::spawn_worker;
use butterfly_server::config::Config;
use rsa::pkcs8::{EncodePublicKey, LineEnding};

/// A running server and the simulated org it backs up.
pub struct Running {
    /// The server's base URL.
    pub url: String,
    /// The bootstrap super_admin key.
    pub key: String,
    /// The Okta simulator; it trusts the client key in `dir/key.pem`.
    pub sim: RunningSimulator,
    /// Holds `key.pem` (the client's private key) and the server's data (`server/`).
    pub dir: tempfile::TempDir,
}

/// Start the Okta simulator with `org`, and a server (SQLite in a temporary directory)
/// with its job worker, bootstrapped, on a free loopback port.
pub async fn start_server_with_simulator(org: OrgConfig) -> Running {
    let (private_pem, public) = generate_client_key().unwrap();
    let sim = Simulator::bind(
        SimulatorConfig {
            org,
            // The server's fetcher runs on real time: limits far above what it spends.
            rate_limits: RateLimitBucket::ALL.iter().map(|b| (*b, 60_000)).collect(),
            client_public_key_pem: Some(public.to_public_key_pem(LineEnding::LF).unwrap()),
            ..SimulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key.pem"), private_pem).unwrap();
    let mut config = Config::for_data_dir(dir.path().join("server"));
    // The simulator listens on loopback.
    config.allow_private_org_urls = true;
    let state = open_state(&config).await.unwrap();
    let (_, key) = bootstrap(&state).await.unwrap().unwrap();
    let _detached = spawn_worker(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, build_router(state)).await });
    Running {
        url,
        key: key.secret().to_owned(),
        sim,
        dir,
    }
}

/// Run the binary against the server with its bootstrap key.
pub async fn butterfly(server: &Running, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_butterfly"));
    cmd.env("BUTTERFLY_API_KEY", &server.key)
        .env_remove("BUTTERFLY_WEBHOOK_SECRET")
        // Local-mode commands make a repository: under a password, as a user would.
        .env("BUTTERFLY_REPO_PASSWORD", "server-mode-tests")
        // Local backups read the simulator, on loopback.
        .env("BUTTERFLY_ALLOW_PRIVATE_ORG_URLS", "true")
        .args(["--server", &server.url])
        .args(args);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// The command's stdout, as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// The command's stderr, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// `connections create` onto the simulator with `client_id` and the test's client key;
/// it must succeed. Its output, for what the test wants to check of it.
pub async fn connection(s: &Running, name: &str, client_id: &str) -> Output {
    let key_path = s.dir.path().join("key.pem");
    let created = butterfly(
        s,
        &[
            "connections",
            "create",
            "--name",
            name,
            "--org-url",
            s.sim.org_url(),
            "--client-id",
            client_id,
            "--private-key",
            key_path.to_str().unwrap(),
            "--rate-limit-share",
            "1",
        ],
    )
    .await;
    assert!(created.status.success(), "{}", stderr(&created));
    created
}
