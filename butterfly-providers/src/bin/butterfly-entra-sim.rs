//! `butterfly-entra-sim`: serve a simulated Entra ID tenant through a Microsoft Graph
//! look-alike.
//!
//! ```sh
//! cargo run -p butterfly-providers --features simulator --bin butterfly-entra-sim -- \
//!     --listen 127.0.0.1:8090 --seed 7 --users 50000 --groups 5000 --apps 2000 \
//!     --write-credentials /tmp/entra-sim/credentials.json
//! ```
//!
//! `--write-credentials FILE` writes `{graph_url, authority_url, tenant_id, client_id,
//! client_secret_file, certificate_file, private_key_file}` to FILE, and the secret, the
//! certificate (PEM) and its private key (PKCS#8 PEM, mode 0600) beside it.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use butterfly_providers::entra::simulator::{EntraSimConfig, EntraSimulator, TenantConfig};
use butterfly_providers::okta::simulator::{FaultRule, ScaledTimer};
use clap::Parser;

/// Serve a simulated Entra ID tenant (Microsoft Graph v1.0 and a token endpoint).
#[derive(Debug, Parser)]
#[command(name = "butterfly-entra-sim", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Seed for the generated tenant: the same seed and sizes give the same tenant.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of users.
    #[arg(long, default_value_t = 1000)]
    users: usize,
    /// Number of groups.
    #[arg(long, default_value_t = 100)]
    groups: usize,
    /// Number of app registrations (each with a service principal).
    #[arg(long, default_value_t = 20)]
    apps: usize,
    /// Write the credentials (JSON) here, and the secret, certificate and key beside it.
    #[arg(long, value_name = "FILE")]
    write_credentials: Option<PathBuf>,
    /// Grant only these application permissions (comma-separated) to the backup app.
    #[arg(long, value_delimiter = ',')]
    permissions: Option<Vec<String>>,
    /// Resource units per 10 s (default: Graph's tier for the tenant's size).
    #[arg(long)]
    resource_units: Option<u32>,
    /// Run the simulated clock this many times faster than real time (a demo knob).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Put a canary in secretText and clientSecret, which Graph never returns.
    #[arg(long)]
    secret_canary: bool,
    /// The Graph URL clients use, if not http://LISTEN.
    #[arg(long)]
    graph_url: Option<String>,
    /// Use this RSA private key (PEM) for the app's certificate instead of generating one.
    #[arg(long, value_name = "FILE")]
    private_key: Option<PathBuf>,
    /// Inject a fault: KIND[:key=value,...], e.g. `server_error:probability=0.05,status=503`.
    /// Kinds: rate_limit_storm, server_error, slow, drop_connection, truncate_page. Repeatable.
    #[arg(long = "fault", value_name = "SPEC")]
    faults: Vec<String>,
}

fn write_file(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    #[cfg(unix)]
    if private {
        use std::io::Write as _;
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        return file.write_all(bytes);
    }
    let _ = private;
    std::fs::write(path, bytes)
}

fn write_credentials(path: &Path, sim: &EntraSimulator) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    std::fs::create_dir_all(&dir)?;
    let stem = path.file_stem().map_or_else(
        || "entra-sim".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    );
    let secret = dir.join(format!("{stem}.secret"));
    let certificate = dir.join(format!("{stem}.crt.pem"));
    let key = dir.join(format!("{stem}.key.pem"));
    write_file(&secret, sim.client_secret().as_bytes(), true)?;
    write_file(&certificate, sim.certificate_pem().as_bytes(), false)?;
    write_file(&key, sim.private_key_pem().as_bytes(), true)?;
    let absolute = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
    let body = serde_json::json!({
        "graph_url": sim.graph_url(),
        "authority_url": sim.authority_url(),
        "tenant_id": sim.tenant_id(),
        "client_id": sim.client_id(),
        "client_secret_file": absolute(secret),
        "certificate_file": absolute(certificate),
        "private_key_file": absolute(key),
    });
    std::fs::write(
        path,
        serde_json::to_vec_pretty(&body).map_err(std::io::Error::other)?,
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        // Logs on stderr; stdout carries the lower bound, for scripts.
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let faults = args
        .faults
        .iter()
        .map(|s| FaultRule::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let private_key_pem = match &args.private_key {
        Some(path) => Some(std::fs::read_to_string(path)?),
        None => None,
    };
    let config = EntraSimConfig {
        tenant: TenantConfig {
            seed: args.seed,
            users: args.users,
            groups: args.groups,
            apps: args.apps,
            secret_canary: args.secret_canary,
        },
        timer: Arc::new(ScaledTimer::new(args.time_scale)),
        permissions: args
            .permissions
            .map(|p| p.into_iter().collect::<BTreeSet<_>>()),
        resource_units_per_10s: args.resource_units,
        faults,
        graph_url: args.graph_url,
        private_key_pem,
        ..EntraSimConfig::default()
    };
    let sim = EntraSimulator::bind(config, args.listen).await?;
    if let Some(path) = &args.write_credentials {
        write_credentials(path, &sim)?;
        tracing::info!(path = %path.display(), "wrote credentials");
    }
    let bound = sim.lower_bound();
    tracing::info!(
        graph_url = %sim.graph_url(),
        authority_url = %sim.authority_url(),
        tenant_id = %sim.tenant_id(),
        client_id = %sim.client_id(),
        users = args.users,
        groups = args.groups,
        apps = args.apps,
        generation_ms = sim.generation_time().as_millis(),
        "Entra simulator listening"
    );
    println!(
        "Full-backup lower bound: {} resource units in {} requests at {} units per 10 s = {:.1} s",
        bound.resource_units, bound.requests, bound.budget_per_10s, bound.seconds
    );
    tokio::select! {
        result = sim.wait() => result?,
        _ = tokio::signal::ctrl_c() => tracing::info!("shutting down"),
    }
    Ok(())
}
