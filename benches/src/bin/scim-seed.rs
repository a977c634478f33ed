//! Seed SCIM Users straight into a butterfly-server database, many per transaction,
//! for measuring the server at sizes (1M Users) that would take a quarter of an hour to
//! create over HTTP.
//!
//! ```sh
//! butterfly-server --data-dir /tmp/bf scim-token create --name load   # makes the team
//! cargo run --release -p butterfly-benches --bin scim-seed -- \
//!     --data-dir /tmp/bf --users 1000000 --run-tag s1
//! # then start the server and measure without creating:
//! scim-load run --preseeded 1000000 --users 1000000 --run-tag s1 ...
//! ```
//!
//! The rows are the ones a SCIM POST of the same body makes: each body (the driver's
//! [`SeedUser::create_body`]) goes through the service's own validation
//! (`ScimService::user_attributes_for_create`) and is stored by `butterfly-store`'s
//! `MemberLinkedStore::import_users`, the store the server's SCIM endpoint writes through
//! (the SCIM row with its `meta` and indexed columns,
//! and the linked team member), with only two differences: the id is
//! [`SeedUser::seeded_id`] instead of a fresh random one, so `scim-load --preseeded`
//! knows every User's id without asking, and the commits are per batch, not per User.
//! Run it while the server is stopped (or idle): a batch holds SQLite's write lock.

// Figures for humans: f64 precision is ample for User counts and durations.
#![allow(clippy::cast_precision_loss)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use butterfly_benches::scim_load::SeedUser;
use butterfly_core::store::TeamStore;
use butterfly_scim::ScimService;
use butterfly_store::SqlStore;
use butterfly_store::sql::{DEFAULT_TEAM, MemberLinkedStore};
use clap::Parser;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Progress is printed every this many Users, so a 1M seed shows it is moving.
const REPORT_EVERY: u64 = 100_000;

/// Seed SCIM Users into a butterfly-server database.
#[derive(Debug, Parser)]
#[command(name = "scim-seed", about)]
struct Args {
    /// The server's data directory (its database is `butterfly.db` there).
    #[arg(
        long,
        conflicts_with = "database_url",
        required_unless_present = "database_url"
    )]
    data_dir: Option<PathBuf>,
    /// The database URL instead (sqlite:... or postgres://...).
    #[arg(long)]
    database_url: Option<String>,
    /// The team to seed into (it must exist: creating a SCIM token makes the default one).
    #[arg(long, default_value = DEFAULT_TEAM)]
    team: String,
    /// Seed Users with indices `--from`..`--users`.
    #[arg(long)]
    users: u64,
    /// First index to seed (a database already seeded up to N takes `--from N`).
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// Seed of the generated Users, as given to `scim-load`.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Suffix of every userName, as given to `scim-load --run-tag`.
    #[arg(long)]
    run_tag: String,
    /// Users per transaction.
    #[arg(long, default_value_t = 5000)]
    batch: usize,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match seed(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scim-seed: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn seed(args: Args) -> Result<(), BoxError> {
    let url = match (&args.database_url, &args.data_dir) {
        (Some(url), _) => url.clone(),
        (None, Some(dir)) => format!("sqlite://{}?mode=rwc", dir.join("butterfly.db").display()),
        (None, None) => return Err("give --data-dir or --database-url".into()),
    };
    let store = SqlStore::connect(&url).await?;
    let team = store
        .team_by_name(&args.team)
        .await?
        .ok_or_else(|| format!("no team named `{}`", args.team))?;
    let linked = MemberLinkedStore::new(store.clone(), Arc::new(store.clone()));
    let service = ScimService::new(linked.clone());
    let started = Instant::now();
    let mut from = args.from;
    while from < args.users {
        let to = (from + REPORT_EVERY).min(args.users);
        let (seed, tag) = (args.seed, args.run_tag.as_str());
        let users = (from..to).map(|i| {
            let user = SeedUser::new(i, seed);
            (user.seeded_id(seed, tag), user.create_body(tag))
        });
        linked
            .import_users(&service, team.id, users, args.batch)
            .await
            .map_err(|e| format!("seeding Users {from}..{to}: {e}"))?;
        from = to;
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "scim-seed: {} Users in {secs:.1} s ({:.0}/s)",
            from - args.from,
            (from - args.from) as f64 / secs.max(1e-9)
        );
    }
    store.close().await;
    println!(
        "scim-seed: seeded Users {}..{} (seed {}, tag {}) into team {} in {:.1} s",
        args.from,
        args.users,
        args.seed,
        args.run_tag,
        team.name,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
