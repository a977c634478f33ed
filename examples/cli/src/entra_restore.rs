//! `butterfly restore SNAPSHOT --repo DIR --tenant-id T --client-id C ...`: an Entra ID
//! snapshot back into its tenant, with the same plan, `--dry-run`, `--plan`,
//! `--save-plan` and `--undo RUN_ID` as Okta's restore, through
//! `butterfly_providers::entra::restore::runner` (which the server calls too).
//!
//! A run keeps `DIR/restores/<run-id>/plan.json` (ids and actions) and `journal.jsonl`
//! (each step's outcome, synced before the next write), as Okta's do; the live versions
//! a run replaces are an encrypted snapshot in the repository. `--undo RUN_ID` works
//! from any later process, and on a run a refused step stopped midway.

use butterfly_core::restore::{RestoreMode, RestoreOptions, RestorePlan};
use butterfly_core::source::SnapshotSource;
use butterfly_core::{Clock as _, ResourceKind, SystemClock};
use butterfly_providers::entra::fetcher::{EntraFetchOptions, EntraFetcher};
use butterfly_providers::entra::kinds;
use butterfly_providers::entra::restore::runner::{
    PreparedRun, RunError, RunRequest, prepare, run,
};
use butterfly_providers::entra::restore::{ExecuteOptions, ExecutionReport};
use butterfly_providers::okta::restore::Journal;

use crate::Output;
use crate::entra::{EntraBackupArgs, entra_credentials};
use crate::local::LocalError;
use crate::restore::{
    RestoreArgs, RestoreError, file_error, finish, new_run_id, print_plan, run_dir, unfinished_run,
    write_run_plan,
};

/// What an Entra ID restore promises, printed above its plans.
const PROMISE: &str = "Entra ID restore: users come back disabled, without their passwords (a random one-time password, never stored or shown); applications and service principals come back without credentials; Conditional Access policies come back report-only (enabledForReportingButNotEnforced), so a restore cannot lock anyone out.";

/// `butterfly restore` for an Entra ID tenant: `connection` holds the same flags as
/// `butterfly backup entra`, `args` the restore's own.
pub async fn restore_entra(
    out: Output,
    connection: EntraBackupArgs,
    args: RestoreArgs,
) -> Result<(), RestoreError> {
    let credentials = entra_credentials(&connection)?;
    let repo = crate::repository::open(&args.repo)
        .await
        .map_err(LocalError::from)?;
    let fetcher = EntraFetcher::new(
        credentials,
        EntraFetchOptions {
            insecure_allow_private_addresses: connection.allow_private_org_urls,
            rate_limit_share: connection.rate_limit_share,
            ..EntraFetchOptions::default()
        },
    )?;
    let source: &dyn SnapshotSource = &repo;
    let now = SystemClock.now();
    if let Some(run_id) = &args.undo {
        let journal = crate::restore::open_run_journal(&args.repo, run_id)?;
        let prepared = prepare(
            &fetcher,
            source,
            RunRequest::Undo {
                journal: journal.records().to_vec(),
            },
            now,
        )
        .await?;
        if args.dry_run || prepared.plan.write_count() == 0 {
            show(out, &prepared.plan, None);
            return Ok(());
        }
        let undo_run = format!("{}-undo-{run_id}", new_run_id());
        let mut undo_journal =
            Journal::open(&run_dir(&args.repo, &undo_run)?.join("journal.jsonl"))?;
        write_run_plan(&args.repo, &undo_run, &prepared.plan)?;
        let result = run(
            &fetcher,
            source,
            &prepared,
            &mut undo_journal,
            &repo,
            &ExecuteOptions::new(undo_run.clone()),
            now,
        )
        .await;
        return conclude(out, &prepared, undo_run, result);
    }
    for kind in &args.kinds {
        if kinds::by_name(kind).is_none_or(|k| k.restore_rank.is_none()) {
            return Err(RestoreError::UnknownKind(kind.clone()));
        }
    }
    let request = if let Some(path) = &args.plan {
        let text = std::fs::read_to_string(path).map_err(file_error(path))?;
        let plan: RestorePlan =
            serde_json::from_str(&text).map_err(|source| RestoreError::PlanFile {
                path: path.clone(),
                source,
            })?;
        RunRequest::Reviewed(Box::new(plan))
    } else {
        let Some(snapshot) = &args.snapshot else {
            return Err(RestoreError::NothingToRestore);
        };
        RunRequest::Fresh {
            snapshot: source.resolve(snapshot).await?,
            options: RestoreOptions::default()
                .with_kinds(args.kinds.iter().map(ResourceKind::new))
                .with_ids(args.ids.iter().cloned())
                .with_overwrite(args.overwrite)
                .with_delete_extra(args.delete_extra),
        }
    };
    let prepared = prepare(&fetcher, source, request, now).await?;
    for (kind, why) in &prepared.live().unreadable {
        eprintln!("warning: the tenant's `{kind}` could not be read: {why}");
    }
    let plan = &prepared.plan;
    if let Some(path) = &args.save_plan {
        let text = serde_json::to_string_pretty(plan).unwrap_or_default();
        std::fs::write(path, text + "\n").map_err(file_error(path))?;
    }
    if args.dry_run || plan.write_count() == 0 {
        show(out, plan, None);
        return Ok(());
    }
    // An interrupted run of the same snapshot is continued in its journal.
    let resumed = unfinished_run(
        &args.repo,
        plan.snapshot_id,
        fetcher.tenant_id(),
        RestoreMode::Restore,
    )?;
    let (run_id, mut journal) = if let Some(resumed) = resumed {
        resumed
    } else {
        let run_id = new_run_id();
        let journal = Journal::open(&run_dir(&args.repo, &run_id)?.join("journal.jsonl"))?;
        (run_id, journal)
    };
    write_run_plan(&args.repo, &run_id, plan)?;
    let result = run(
        &fetcher,
        source,
        &prepared,
        &mut journal,
        &repo,
        &ExecuteOptions::new(run_id.clone()).with_stop_after(args.stop_after),
        now,
    )
    .await;
    conclude(out, &prepared, run_id, result)
}

fn show(out: Output, plan: &RestorePlan, report: Option<&ExecutionReport>) {
    if out != Output::Json && plan.mode == RestoreMode::Restore {
        println!("{PROMISE}");
    }
    print_plan(out, plan, report);
}

/// Print what a run did and turn its outcome into the command's.
fn conclude(
    out: Output,
    prepared: &PreparedRun,
    run_id: String,
    result: Result<ExecutionReport, RunError>,
) -> Result<(), RestoreError> {
    match result {
        Ok(report) => {
            show(out, &prepared.plan, Some(&report));
            finish(report)
        }
        Err(RunError::Execute(source)) => Err(RestoreError::EntraStep { run_id, source }),
        Err(e) => Err(e.into()),
    }
}
