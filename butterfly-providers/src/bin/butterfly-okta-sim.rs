//! `butterfly-okta-sim`: serve a simulated Okta org.
//!
//! ```sh
//! cargo run -p butterfly-providers --features simulator --bin butterfly-okta-sim -- \
//!     --listen 127.0.0.1:8080 --seed 7 --users 50000 --groups 5000 --apps 500 \
//!     --write-credentials /tmp/okta-sim.json
//! ```
//!
//! `--time-scale N` runs the org's clock N times faster (tokens expire and rate-limit
//! windows reset sooner, for demos); a client on real time, such as `butterfly backup
//! okta`, then waits longer than it needs to, never over a limit. Tests and benchmarks
//! that want simulated time run the simulator in process on a shared virtual clock.
//!
//! `--write-credentials FILE` writes `{org_url, client_id, private_key_path, ...}` to FILE
//! and the service app's private key (PKCS#8 PEM, mode 0600) next to it, with the
//! extension `.pem`: everything `butterfly backup okta` needs to sign in.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use butterfly_providers::okta::RateLimitBucket;
use butterfly_providers::okta::simulator::{
    FaultRule, OrgConfig, ScaledTimer, Simulator, SimulatorConfig, SimulatorError,
};
use clap::Parser;

/// Serve an Okta-compatible simulated org.
#[derive(Debug, Parser)]
#[command(name = "butterfly-okta-sim", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Seed for the generated org: the same seed and sizes give the same org.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of users.
    #[arg(long, default_value_t = 1000)]
    users: usize,
    /// Number of groups besides Everyone.
    #[arg(long, default_value_t = 100)]
    groups: usize,
    /// Number of apps besides the service app.
    #[arg(long, default_value_t = 20)]
    apps: usize,
    /// Write the client credentials (JSON) here and the private key next to it.
    #[arg(long, value_name = "FILE")]
    write_credentials: Option<PathBuf>,
    /// Run the simulated clock this many times faster than real time (a demo knob:
    /// clients wait in real time).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Access-token lifetime in simulated seconds.
    #[arg(long, default_value_t = 3600)]
    token_ttl: u64,
    /// The URL clients use, if not http://LISTEN (behind a proxy, say).
    #[arg(long)]
    org_url: Option<String>,
    /// Use this RSA private key (PEM) for the service app instead of generating one.
    #[arg(long, value_name = "FILE")]
    private_key: Option<PathBuf>,
    /// Override a bucket's per-minute limit: BUCKET=N, BUCKET as in X-Rate-Limit
    /// dashboards (`/api/v1/users`) or snake case (`users_list`). Repeatable.
    #[arg(long = "rate-limit", value_name = "BUCKET=N")]
    rate_limits: Vec<String>,
    /// Grant only these scopes (comma-separated) to the service app.
    #[arg(long, value_delimiter = ',')]
    grant_scopes: Option<Vec<String>>,
    /// Inject a fault: KIND[:key=value,...], e.g. `server_error:probability=0.05,status=503`.
    /// Kinds: rate_limit_storm, server_error, slow, drop_connection, truncate_page. Repeatable.
    #[arg(long = "fault", value_name = "SPEC")]
    faults: Vec<String>,
}

fn parse_rate_limit(spec: &str) -> Result<(RateLimitBucket, u32), String> {
    let (name, n) = spec
        .split_once('=')
        .ok_or_else(|| format!("`{spec}` is not BUCKET=N"))?;
    let bucket = RateLimitBucket::ALL
        .into_iter()
        .find(|b| {
            b.as_str() == name
                || serde_json::to_value(b)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .as_deref()
                    == Some(name)
        })
        .ok_or_else(|| format!("unknown bucket `{name}`"))?;
    let n = n.parse().map_err(|_| format!("`{n}` is not a number"))?;
    Ok((bucket, n))
}

/// Write the credentials JSON and the key beside it; returns the key's path.
fn write_credentials(path: &Path, simulator: &Simulator, pem: &str) -> std::io::Result<PathBuf> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut key_path = path.with_extension("pem");
    if key_path == path {
        key_path = path.with_extension("key.pem");
    }
    write_private(&key_path, pem.as_bytes())?;
    let credentials = simulator.client_credentials();
    let body = serde_json::json!({
        "org_url": credentials.org_url,
        "client_id": credentials.client_id,
        "private_key_path": key_path,
        "key_id": credentials.key_id,
        "token_url": credentials.token_url,
        "scopes": credentials.scopes,
    });
    std::fs::write(
        path,
        serde_json::to_vec_pretty(&body).map_err(std::io::Error::other)?,
    )?;
    Ok(key_path)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // `mode` only applies to new files; an existing one is narrowed too.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();

    let rate_limits: BTreeMap<RateLimitBucket, u32> = args
        .rate_limits
        .iter()
        .map(|s| parse_rate_limit(s))
        .collect::<Result<_, _>>()?;
    let faults = args
        .faults
        .iter()
        .map(|s| FaultRule::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let (private_pem, public_pem) = match &args.private_key {
        Some(path) => {
            let pem = std::fs::read_to_string(path)?;
            let public = public_pem_of(&pem)?;
            (Some(pem), Some(public))
        }
        None => (None, None),
    };
    let config = SimulatorConfig {
        org: OrgConfig {
            seed: args.seed,
            users: args.users,
            groups: args.groups,
            apps: args.apps,
        },
        timer: Arc::new(ScaledTimer::new(args.time_scale)),
        token_ttl_seconds: args.token_ttl,
        rate_limits,
        faults,
        granted_scopes: args
            .grant_scopes
            .map(|s| s.into_iter().collect::<BTreeSet<_>>()),
        org_url: args.org_url,
        client_public_key_pem: public_pem,
    };

    let running = Simulator::bind(config, args.listen).await?;
    let simulator = running.simulator().clone();
    let credentials = simulator.client_credentials();
    if let Some(path) = &args.write_credentials {
        let pem = private_pem
            .or(credentials.private_key_pem.clone())
            .ok_or_else(|| SimulatorError::Key("no private key to write".into()))?;
        let key_path = write_credentials(path, &simulator, &pem)?;
        tracing::info!(path = %path.display(), "wrote client credentials");
        // A command that works as printed, so a first backup needs no copying of ids.
        println!("Back this org up with (the repository's password is yours to choose):");
        println!("  export BUTTERFLY_REPO_PASSWORD='choose-a-password'");
        println!(
            "  butterfly backup okta --org-url {} --client-id {} --private-key {} --repo ./okta-backups",
            credentials.org_url,
            credentials.client_id,
            std::path::absolute(&key_path).unwrap_or(key_path).display(),
        );
    }
    let bound = simulator.lower_bound();
    tracing::info!(
        org_url = %credentials.org_url,
        client_id = %credentials.client_id,
        users = args.users,
        groups = args.groups,
        apps = args.apps,
        lower_bound_seconds = bound.bound_seconds,
        time_scale = args.time_scale,
        bound_bucket = %bound.bound_bucket,
        "Okta simulator listening"
    );

    tokio::select! {
        result = running.wait() => result?,
        _ = tokio::signal::ctrl_c() => tracing::info!("shutting down"),
    }
    Ok(())
}

fn public_pem_of(private_pem: &str) -> Result<String, SimulatorError> {
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    use rsa::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _, LineEnding};
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(private_pem)
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(private_pem))
        .map_err(|e| SimulatorError::Key(e.to_string()))?;
    key.to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| SimulatorError::Key(e.to_string()))
}
