//! `butterfly restore SNAPSHOT --repo DIR ...` and `butterfly sync --from SNAPSHOT ...`:
//! plan, review, execute, undo.
//!
//! The planning and writing are `butterfly_providers::okta::restore`; this module reads
//! the repository and the live org, prints plans, and keeps each run's data under the
//! repository: `DIR/restores/<run-id>/plan.json` (ids and actions) and `journal.jsonl`
//! (each step's outcome). Neither holds resource bodies: the repository is encrypted,
//! these files are not. The live versions a run replaces are kept, encrypted, as a
//! normal snapshot in the repository (its id is in the journal), which `--undo RUN_ID`
//! puts back.
//!
//! Re-running a restore whose run was interrupted continues that run: the journal says
//! what it created, so nothing is created twice.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use butterfly_core::restore::{
    PlanAction, PlanError, RestoreMode, RestoreOptions, RestorePlan, Variables,
};
use butterfly_core::source::{SnapshotSource, SourceError};
use butterfly_core::{Clock as _, ResourceKind, SnapshotId, SystemClock};
use butterfly_providers::okta::fetcher::{FetchError, FetchOptions, OktaFetcher};
use butterfly_providers::okta::kinds;
use butterfly_providers::okta::restore::execute::ExecutionReport;
use butterfly_providers::okta::restore::journal::JournalError;
use butterfly_providers::okta::restore::plan::{ResourceSet, read_kinds};
use butterfly_providers::okta::restore::{
    ExecuteError, ExecuteOptions, IdMap, Journal, JournalRecord, PlanInput, execute, plan,
    read_live, undo_plan,
};
use butterfly_store::snapshots::SnapshotRepository;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use serde_json::{Value, json};

use crate::Output;
use crate::local::{LocalError, okta_credentials};
use crate::output::print_json;

/// Flags of `butterfly restore` and `butterfly sync` (the booleans are the command
/// line's switches).
#[derive(Debug, Default)]
#[allow(clippy::struct_excessive_bools)]
pub struct RestoreArgs {
    /// The snapshot (id or prefix); not needed with `--plan` or `--undo`.
    pub snapshot: Option<String>,
    /// `--allow-private-org-urls`: the org may be on loopback or a private network.
    pub allow_private_org_urls: bool,
    pub repo: PathBuf,
    pub org_url: String,
    pub client_id: String,
    pub key_id: Option<String>,
    pub private_key: PathBuf,
    pub kinds: Vec<String>,
    pub ids: Vec<String>,
    pub overwrite: bool,
    pub delete_extra: bool,
    pub dry_run: bool,
    pub plan: Option<PathBuf>,
    pub save_plan: Option<PathBuf>,
    pub undo: Option<String>,
    /// `sync`: match by name, apply `vars`.
    pub sync: bool,
    pub vars: Option<PathBuf>,
    /// Stop after this many steps, as if killed (tests of resuming).
    pub stop_after: Option<usize>,
}

/// Why a restore did not run or did not finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The repository could not be opened.
    #[error(transparent)]
    Local(#[from] LocalError),
    /// A snapshot could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The org could not be read or signed in to.
    #[error("cannot read the org: {0}")]
    Fetch(#[from] FetchError),
    /// The plan is refused: edited, stale, or it would write a placeholder.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The run stopped.
    #[error(transparent)]
    Execute(#[from] ExecuteError),
    /// The journal could not be read or written.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A kind is not in the catalogue.
    #[error("unknown kind `{0}` (see `cargo run -p butterfly-providers --example okta_kinds`)")]
    UnknownKind(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A plan file does not parse.
    #[error("{}: not a restore plan: {source}", path.display())]
    PlanFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The plan was made for another org.
    #[error("the plan is for {planned}, not {given}")]
    OtherOrg {
        /// The plan's org.
        planned: String,
        /// The org given.
        given: String,
    },
    /// No run has this id.
    #[error("no restore run `{0}` in this repository")]
    NoRun(String),
    /// Steps failed.
    #[error(
        "{failed} step(s) failed (run {run_id}; see its journal); running the same command again retries them"
    )]
    StepsFailed {
        /// How many.
        failed: u64,
        /// The run.
        run_id: String,
    },
    /// The run stopped early (`--stop-after`).
    #[error("run {0} stopped before the end; running the same command again continues it")]
    Interrupted(String),
    /// An Entra ID restore did not plan or did not start.
    #[error(transparent)]
    Entra(#[from] butterfly_providers::entra::restore::runner::RunError),
    /// An Entra ID restore stopped at a step Graph refused.
    #[error(
        "{source}; run {run_id} stopped there (its journal records what was done): `butterfly restore --undo {run_id}` takes it back, running the same command again continues it"
    )]
    EntraStep {
        /// The run.
        run_id: String,
        /// The step and Graph's error.
        source: butterfly_providers::entra::restore::ExecuteError,
    },
    /// Neither a snapshot nor `--plan` nor `--undo`.
    #[error("name a snapshot, or give --plan FILE or --undo RUN_ID")]
    NothingToRestore,
}

pub(crate) fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> RestoreError + '_ {
    move |source| RestoreError::File {
        path: path.to_owned(),
        source,
    }
}

/// `butterfly restore` and `butterfly sync`.
pub async fn restore(out: Output, args: RestoreArgs) -> Result<(), RestoreError> {
    let credentials = okta_credentials(
        &args.org_url,
        args.client_id.clone(),
        args.key_id.clone(),
        &args.private_key,
        args.allow_private_org_urls,
    )?;
    let own_client_id = args.client_id.clone();
    let repo = crate::repository::open(&args.repo)
        .await
        .map_err(LocalError::from)?;
    let fetcher = OktaFetcher::new(
        credentials,
        FetchOptions {
            insecure_allow_private_addresses: args.allow_private_org_urls,
            ..FetchOptions::default()
        },
    )?;
    if let Some(run_id) = &args.undo {
        return undo(out, &args, &repo, &fetcher, run_id).await;
    }
    for kind in &args.kinds {
        if kinds::by_name(kind).is_none() {
            return Err(RestoreError::UnknownKind(kind.clone()));
        }
    }
    let source: &dyn SnapshotSource = &repo;
    let variables = match &args.vars {
        Some(path) => Some(Variables::parse(
            &std::fs::read_to_string(path).map_err(file_error(path))?,
        )?),
        None => None,
    };

    // A reviewed plan, executed exactly, or a fresh one.
    let (plan, live, run) = if let Some(path) = &args.plan {
        let text = std::fs::read_to_string(path).map_err(file_error(path))?;
        let plan: RestorePlan =
            serde_json::from_str(&text).map_err(|source| RestoreError::PlanFile {
                path: path.clone(),
                source,
            })?;
        plan.verify()?;
        if plan.org != fetcher.org_url() {
            return Err(RestoreError::OtherOrg {
                planned: plan.org.clone(),
                given: fetcher.org_url().to_owned(),
            });
        }
        let live = read_live(&fetcher, &read_kinds(&plan.options)).await?;
        plan.check_live(live.fingerprint())?;
        (plan, live, None)
    } else {
        let Some(snapshot) = &args.snapshot else {
            return Err(RestoreError::NothingToRestore);
        };
        let manifest = source.manifest(source.resolve(snapshot).await?).await?;
        let mode = if args.sync {
            RestoreMode::Sync
        } else {
            RestoreMode::Restore
        };
        let options = RestoreOptions::default()
            .with_kinds(args.kinds.iter().map(ResourceKind::new))
            .with_ids(args.ids.iter().cloned())
            .with_overwrite(args.overwrite || args.sync)
            .with_delete_extra(args.delete_extra);
        // An interrupted run of the same restore is continued, not started over.
        let run = if args.dry_run {
            None
        } else {
            unfinished_run(&args.repo, manifest.id, fetcher.org_url(), mode)?
        };
        let known = match &run {
            Some((_, journal)) => journal.created_ids(),
            None => IdMap::new(),
        };
        let read = read_kinds(&options);
        let ours = ResourceSet::from_snapshot(source, &manifest, &read).await?;
        let live = read_live(&fetcher, &read).await?;
        for (kind, why) in &live.unreadable {
            eprintln!("warning: the org's `{kind}` could not be read: {why}");
        }
        let plan = plan(&PlanInput {
            snapshot: &manifest,
            snapshot_resources: &ours,
            live: &live,
            mode,
            options: &options,
            variables: variables.as_ref(),
            known: &known,
            own_client_id: Some(&own_client_id),
            now: SystemClock.now(),
        })?;
        (plan, live, run)
    };
    if let Some(path) = &args.save_plan {
        let text = serde_json::to_string_pretty(&plan).unwrap_or_default();
        std::fs::write(path, text + "\n").map_err(file_error(path))?;
    }
    if args.dry_run || plan.write_count() == 0 {
        print_plan(out, &plan, None);
        return Ok(());
    }

    let (run_id, mut journal) = if let Some(resumed) = run {
        resumed
    } else {
        let run_id = new_run_id();
        let journal = Journal::open(&run_dir(&args.repo, &run_id)?.join("journal.jsonl"))?;
        (run_id, journal)
    };
    write_run_plan(&args.repo, &run_id, &plan)?;
    let session = fetcher.sign_in(write_scopes(&plan)).await?;
    let report = execute(
        &plan,
        source,
        &live,
        &session,
        &mut journal,
        &repo,
        &ExecuteOptions::new(run_id.clone())
            .with_variables(variables)
            .with_stop_after(args.stop_after),
        SystemClock.now(),
    )
    .await?;
    print_plan(out, &plan, Some(&report));
    finish(report)
}

pub(crate) fn finish(report: ExecutionReport) -> Result<(), RestoreError> {
    if report.interrupted {
        Err(RestoreError::Interrupted(report.run_id))
    } else if report.failed > 0 {
        Err(RestoreError::StepsFailed {
            failed: report.failed,
            run_id: report.run_id,
        })
    } else {
        Ok(())
    }
}

/// `butterfly restore --undo RUN_ID`.
async fn undo(
    out: Output,
    args: &RestoreArgs,
    repo: &SnapshotRepository,
    fetcher: &OktaFetcher,
    run_id: &str,
) -> Result<(), RestoreError> {
    let journal = open_run_journal(&args.repo, run_id)?;
    let mut touched: BTreeSet<String> = journal
        .done_steps()
        .map(|(_, _, _, kind, _, _)| kind.as_str().to_owned())
        .collect();
    let options = RestoreOptions::default().with_kinds(touched.iter().map(ResourceKind::new));
    touched.extend(read_kinds(&options));
    let live = read_live(fetcher, &touched).await?;
    let before = match journal.undo_snapshot() {
        Some(id) => {
            let manifest = repo.manifest(id).await.map_err(SourceError::from)?;
            let all = manifest
                .kinds
                .keys()
                .map(|k| k.as_str().to_owned())
                .collect();
            Some((id, ResourceSet::from_snapshot(repo, &manifest, &all).await?))
        }
        None => None,
    };
    let plan = undo_plan(
        &journal,
        before.as_ref().map(|(id, set)| (*id, set)),
        &live,
        SystemClock.now(),
    );
    if args.dry_run || plan.write_count() == 0 {
        print_plan(out, &plan, None);
        return Ok(());
    }
    let undo_run = format!("{}-undo-{run_id}", new_run_id());
    let mut undo_journal = Journal::open(&run_dir(&args.repo, &undo_run)?.join("journal.jsonl"))?;
    write_run_plan(&args.repo, &undo_run, &plan)?;
    let session = fetcher.sign_in(write_scopes(&plan)).await?;
    let report = execute(
        &plan,
        repo,
        &live,
        &session,
        &mut undo_journal,
        repo,
        &ExecuteOptions::new(undo_run),
        SystemClock.now(),
    )
    .await?;
    print_plan(out, &plan, Some(&report));
    finish(report)
}

/// Read and manage scopes of every kind the plan touches (and what it reads).
fn write_scopes(plan: &RestorePlan) -> BTreeSet<String> {
    let mut scopes = BTreeSet::new();
    let touched: BTreeSet<&str> = plan
        .steps()
        .into_iter()
        .map(|(_, e)| e.kind.as_str())
        .collect();
    for spec in kinds::all() {
        if touched.contains(spec.name) {
            scopes.extend(spec.manage_scope.map(str::to_owned));
        }
        if touched.contains(spec.name) || spec.parent.is_none() {
            scopes.extend(spec.read_scopes.iter().map(|s| (*s).to_owned()));
        }
    }
    scopes
}

pub(crate) fn new_run_id() -> String {
    let now = SystemClock.now();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", now.format("%Y%m%dT%H%M%SZ"), &suffix[..8])
}

pub(crate) fn run_dir(repo: &Path, run_id: &str) -> Result<PathBuf, RestoreError> {
    let dir = repo.join("restores").join(run_id);
    std::fs::create_dir_all(&dir).map_err(file_error(&dir))?;
    Ok(dir)
}

/// `plan.json` of a run: ids and actions only.
pub(crate) fn write_run_plan(
    repo: &Path,
    run_id: &str,
    plan: &RestorePlan,
) -> Result<(), RestoreError> {
    let steps: Vec<Value> = plan
        .steps()
        .into_iter()
        .map(|(action, e)| {
            json!({"order": e.order, "action": action, "kind": e.kind, "id": e.id, "live_id": e.live_id})
        })
        .collect();
    let record = json!({
        "run_id": run_id,
        "mode": plan.mode,
        "snapshot_id": plan.snapshot_id,
        "org": plan.org,
        "plan_fingerprint": plan.fingerprint,
        "live_fingerprint": plan.live_fingerprint,
        "steps": steps,
    });
    let path = run_dir(repo, run_id)?.join("plan.json");
    let text = serde_json::to_string_pretty(&record).unwrap_or_default();
    std::fs::write(&path, text + "\n").map_err(file_error(&path))
}

/// The newest run of the same snapshot, org and mode whose journal did not finish.
pub(crate) fn unfinished_run(
    repo: &Path,
    snapshot: SnapshotId,
    org: &str,
    mode: RestoreMode,
) -> Result<Option<(String, Journal)>, RestoreError> {
    let dir = repo.join("restores");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(None);
    };
    let mut runs: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    runs.sort();
    for run_id in runs.into_iter().rev() {
        let path = dir.join(&run_id).join("journal.jsonl");
        if !path.is_file() {
            continue;
        }
        let journal = Journal::open(&path)?;
        let same = journal.records().iter().any(|r| {
            matches!(r, JournalRecord::Run { snapshot_id, org: o, mode: m, .. }
                if *snapshot_id == snapshot && o == org && *m == mode)
        });
        if same && !journal.is_finished() {
            return Ok(Some((run_id, journal)));
        }
    }
    Ok(None)
}

/// Print a plan (and what a run did) as JSON or tables.
pub(crate) fn print_plan(out: Output, plan: &RestorePlan, report: Option<&ExecutionReport>) {
    if out == Output::Json {
        let mut value = serde_json::to_value(plan).unwrap_or(Value::Null);
        if let (Value::Object(map), Some(report)) = (&mut value, report) {
            map.insert(
                "run".into(),
                serde_json::to_value(report).unwrap_or(Value::Null),
            );
        }
        print_json(&value);
        return;
    }
    let mut summary = table(["KIND", "CREATE", "UPDATE", "DELETE", "SKIP"]);
    for (kind, counts) in plan.counts() {
        let n = |a| counts.get(&a).copied().unwrap_or(0).to_string();
        summary.add_row([
            kind.to_string(),
            n(PlanAction::Create),
            n(PlanAction::Update),
            n(PlanAction::Delete),
            n(PlanAction::Skip),
        ]);
    }
    println!(
        "{} plan for {} from snapshot {} (fingerprint {})",
        plan.mode, plan.org, plan.snapshot_id, plan.fingerprint
    );
    println!("{summary}");
    println!(
        "{} to create, {} to update, {} to delete, {} skipped",
        plan.create.len(),
        plan.update.len(),
        plan.delete.len(),
        plan.skip.len()
    );
    let mut rows = table(["#", "ACTION", "KIND", "NAME", "ID", "REASON"]);
    let mut any = false;
    for (action, entry) in plan.steps() {
        any = true;
        rows.add_row([
            entry.order.to_string(),
            action.to_string(),
            entry.kind.to_string(),
            entry.name.clone(),
            entry.id.clone(),
            entry.reason.clone(),
        ]);
    }
    for entry in plan.skip.iter().filter(|e| e.reason != "equal") {
        any = true;
        rows.add_row([
            String::new(),
            "skip".into(),
            entry.kind.to_string(),
            entry.name.clone(),
            entry.id.clone(),
            entry.reason.clone(),
        ]);
    }
    if any {
        println!("{rows}");
    }
    for follow in &plan.follow_ups {
        println!("follow-up ({}): {}", follow.count, follow.what);
    }
    match report {
        None => println!("dry run: nothing was written"),
        Some(report) => println!(
            "run {}: {} done, {} failed, {} done before; undo snapshot {}; undo with `butterfly restore --undo {}`",
            report.run_id,
            report.done,
            report.failed,
            report.already_done,
            report
                .undo_snapshot
                .map_or_else(|| "none".to_owned(), |id| id.to_string()),
            report.run_id
        ),
    }
    if let Some(report) = report {
        for failure in &report.failures {
            println!(
                "failed: #{} {} {} {}: {}",
                failure.order, failure.action, failure.kind, failure.id, failure.error
            );
        }
    }
}

fn table<const N: usize>(header: [&str; N]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    table
}

/// The journal of restore run `run_id` in the repository at `repo`: `NoRun` for an id
/// that is not a run there, or that would lead out of `restores/` (a path separator, a
/// leading dot). Okta's and Entra ID's `--undo` both read runs this way.
pub(crate) fn open_run_journal(repo: &Path, run_id: &str) -> Result<Journal, RestoreError> {
    let path = repo.join("restores").join(run_id).join("journal.jsonl");
    if !path.is_file() || run_id.contains(['/', '\\']) || run_id.starts_with('.') {
        return Err(RestoreError::NoRun(run_id.to_owned()));
    }
    Ok(Journal::open(&path)?)
}
