//! `butterfly-server`: serve the API, or run a local admin subcommand.

use std::process::ExitCode;

use butterfly_server::app::{bootstrap, build_router, open_state};
use butterfly_server::backups::spawn_worker;
use butterfly_server::config::{Cli, Command, Config};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// mimalloc, not the system's malloc: glibc kept tens of MiB of a large backup's freed
/// page and pack buffers, which mimalloc returns. See README, "Memory of a backup".
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Starts the line that tells where the server accepts connections:
/// `listening on 127.0.0.1:8080`. Kept stable: scripts and tests read it.
const LISTENING_PREFIX: &str = "listening on ";

// Idle blocking threads end soon, so the memory they allocated while a backup opened its
// repository is given back (see `BLOCKING_THREAD_KEEP_ALIVE`).
fn main() -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .thread_keep_alive(butterfly_store::BLOCKING_THREAD_KEEP_ALIVE)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("BUTTERFLY_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match &cli.command {
        None | Some(Command::Serve) => serve(&cli.config).await,
        Some(command) => butterfly_server::admin::run(&cli.config, command)
            .await
            .map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    let state = open_state(config).await?;
    if let Some((team, secret)) = bootstrap(&state).await? {
        println!("Created team `{}` with a super_admin API key.", team.name);
        println!("It is shown only now; store it safely (it is kept only as a hash):");
        println!();
        println!("    {}", secret.secret());
        println!();
    }
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    // Backups queued through the API run here; a job still running at shutdown is
    // handed back to the queue.
    let worker = spawn_worker(state.clone());
    let address = listener.local_addr()?;
    // The bound address on stdout, one line in a fixed form, so a supervisor or a test
    // that asked for port 0 learns the port the system chose.
    println!("{LISTENING_PREFIX}{address}");
    tracing::info!(%address, data_dir = %config.data_dir.display(), "butterfly-server listening");
    // With each connection's peer address, so sign-in attempts are limited per client.
    let app = build_router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    // Request heads hyper would refuse with a bare status get the APIs' error shapes.
    axum::serve(butterfly_server::request_heads::listener(listener), app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    worker.shutdown().await;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C, letting in-flight requests finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
