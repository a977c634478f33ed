//! Time a full evaluation (every framework) over a 50K-user snapshot held in memory, and
//! the rendering of every report format.
//!
//! Run with: `cargo run --release -p butterfly-compliance --example bench [USERS] [--repo]`
//!
//! With `--repo`, the snapshot is also written to an encrypted repository in a temporary
//! directory and read back from it: users object by object, users a pack at a time
//! (`visit_kind`), and the whole evaluation.

#[path = "../tests/it/support.rs"]
mod support;

use std::time::Instant;

use butterfly_compliance::report::{Format, render};
use butterfly_compliance::{Framework, evaluate};
use butterfly_core::source::SnapshotSource as _;

/// Nanoseconds this thread has spent on a CPU (Linux `/proc/thread-self/schedstat`), so
/// the figure means something on a machine shared with other builds; `None` elsewhere.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn ms(ns: u64) -> f64 {
    // Precision is not at stake for a figure printed to 0.1 ms.
    #[allow(clippy::cast_precision_loss)]
    let ns = ns as f64;
    ns / 1e6
}

fn main() -> support::Fallible<()> {
    let users: usize = match std::env::args().nth(1).filter(|a| a != "--repo") {
        Some(n) => n.parse()?,
        None => 50_000,
    };
    let on_disk = std::env::args().any(|a| a == "--repo");
    let (source, snapshot) = support::large_org(users)?;
    println!(
        "snapshot: {} resources ({users} generated users)",
        snapshot.total()
    );
    // Reading alone: what any consumer of the source pays for the user kind.
    let users_kind = butterfly_core::ResourceKind::new("user");
    let (started, cpu) = (Instant::now(), cpu_ns());
    let read: Vec<_> = futures::executor::block_on(futures::TryStreamExt::try_collect::<Vec<_>>(
        source.kind_resources(&snapshot, &users_kind),
    ))?;
    let read_cpu = cpu.zip(cpu_ns()).map_or(0, |(a, b)| b - a);
    println!(
        "read {} users through the source: {:.1} ms wall, {:.1} ms on CPU",
        read.len(),
        started.elapsed().as_secs_f64() * 1000.0,
        ms(read_cpu)
    );
    drop(read);
    // What evaluation pays instead: each body lent by the source, not cloned.
    let (started, cpu) = (Instant::now(), cpu_ns());
    let mut visited = 0usize;
    futures::executor::block_on(source.visit_kind(&snapshot, &users_kind, &mut |_, _| {
        visited += 1;
    }))?;
    let visit_cpu = cpu.zip(cpu_ns()).map_or(0, |(a, b)| b - a);
    println!(
        "visit {visited} users through the source (lent, not cloned): {:.1} ms wall, {:.1} ms on CPU",
        started.elapsed().as_secs_f64() * 1000.0,
        ms(visit_cpu)
    );
    let mut best = f64::MAX;
    let mut best_cpu = u64::MAX;
    let mut report = None;
    for _ in 0..5 {
        let (started, cpu) = (Instant::now(), cpu_ns());
        let r = futures::executor::block_on(evaluate(
            &source,
            &snapshot,
            &Framework::ALL,
            support::GENERATED_AT,
        ))?;
        best = best.min(started.elapsed().as_secs_f64() * 1000.0);
        if let (Some(before), Some(after)) = (cpu, cpu_ns()) {
            best_cpu = best_cpu.min(after - before);
        }
        report = Some(r);
    }
    let report = report.ok_or("no run")?;
    println!(
        "evaluate, all {} frameworks, {} results: best of 5 {best:.1} ms wall, {:.1} ms on CPU",
        Framework::ALL.len(),
        report.results.len(),
        ms(best_cpu)
    );
    if on_disk {
        on_repository(&source, &snapshot)?;
    }
    for format in Format::ALL {
        let started = Instant::now();
        let bytes = render(&report, format)?.len();
        println!(
            "render {format}: {:.1} ms ({bytes} bytes)",
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    Ok(())
}

/// Write the snapshot to an encrypted repository on disk and time reading it back.
fn on_repository(
    source: &butterfly_core::source::InMemorySnapshotSource,
    snapshot: &butterfly_core::Snapshot,
) -> support::Fallible<()> {
    use butterfly_store::snapshots::SnapshotRepository;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    runtime.block_on(async {
        let repo = SnapshotRepository::open_or_create(dir.path()).await?;
        let mut writer = repo.begin(snapshot.provider, &snapshot.org, snapshot.started_at);
        for (kind, entries) in &snapshot.kinds {
            for entry in entries {
                let attributes = source.object(&entry.digest).await?;
                let resource =
                    butterfly_core::Resource::new(kind.clone(), entry.id.clone(), attributes);
                writer.add(&resource).await?;
            }
        }
        let stored = writer.finish(snapshot.started_at, snapshot.status).await?;
        let repo = SnapshotRepository::open(dir.path()).await?;
        let users_kind = butterfly_core::ResourceKind::new("user");
        let entries = stored.kinds.get(&users_kind).cloned().unwrap_or_default();
        let started = Instant::now();
        for entry in &entries {
            repo.get_json(&entry.digest).await?;
        }
        println!(
            "repository: read {} users object by object: {:.1} ms",
            entries.len(),
            started.elapsed().as_secs_f64() * 1000.0
        );
        let started = Instant::now();
        let mut visited = 0usize;
        repo.visit_kind(&stored, &users_kind, &mut |_, _| visited += 1)
            .await?;
        println!(
            "repository: visit {visited} users a pack at a time: {:.1} ms",
            started.elapsed().as_secs_f64() * 1000.0
        );
        let started = Instant::now();
        evaluate(&repo, &stored, &Framework::ALL, support::GENERATED_AT).await?;
        println!(
            "repository: evaluate, all frameworks: {:.1} ms",
            started.elapsed().as_secs_f64() * 1000.0
        );
        support::Fallible::Ok(())
    })
}
