//! One snapshot, one commit.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use butterfly_core::diff::{DiffOptions, DiffRules, Severity, SnapshotDiff, diff_snapshots};
use butterfly_core::source::{SnapshotSource, SourceError};
use butterfly_core::{ResourceKind, Snapshot, SnapshotId, canonical_json};
use futures::TryStreamExt as _;
use git2::{ObjectType, Oid, Repository, Signature, Tree};
use serde_json::Value;

use crate::naming;

/// File mode of a regular, non-executable file in a Git tree.
const BLOB_MODE: i32 = 0o100_644;
/// File mode of a directory in a Git tree.
const TREE_MODE: i32 = 0o040_000;
/// Trailer naming the snapshot a commit holds.
pub const SNAPSHOT_TRAILER: &str = "Butterfly-Snapshot";
/// Trailer naming the provider of the snapshot a commit holds.
pub const PROVIDER_TRAILER: &str = "Butterfly-Provider";
/// Trailer naming the org of the snapshot a commit holds.
pub const ORG_TRAILER: &str = "Butterfly-Org";
/// How many resources of one kind the commit body lists by name before summarising.
const BODY_LIST_MAX: usize = 50;
/// How far back the previous export of an org is looked for, in first-parent commits.
const HISTORY_MAX: usize = 100_000;

/// Why a snapshot could not be exported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The snapshot could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The Git repository could not be opened, read or written.
    #[error("git: cannot {what}: {source}")]
    Git {
        /// What was being done.
        what: &'static str,
        /// Why it failed.
        #[source]
        source: git2::Error,
    },
    /// The branch already holds a newer snapshot of the same org: exporting an older
    /// one on top would read as the org going back in time.
    #[error(
        "snapshot {snapshot} was taken before snapshot {last}, which the branch already holds for this org; export snapshots oldest first"
    )]
    OutOfOrder {
        /// The snapshot asked for.
        snapshot: SnapshotId,
        /// The newer snapshot at the tip.
        last: SnapshotId,
    },
    /// The branch name is not a valid Git reference name.
    #[error("`{0}` is not a valid branch name")]
    InvalidBranch(String),
}

fn git(what: &'static str) -> impl FnOnce(git2::Error) -> ExportError {
    move |source| ExportError::Git { what, source }
}

/// Who commits, and where.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ExportOptions {
    /// The branch to commit to (created if missing). Default `main`.
    pub branch: String,
    /// The author and committer name. Default `Butterfly`.
    pub author_name: String,
    /// The author and committer email. Default `backup@butterfly.invalid`.
    pub author_email: String,
    /// Keep volatile fields (`lastLogin`, `lastUpdated`...). Off by default: they change
    /// on every backup without meaning anything, and would make every commit touch
    /// every user.
    pub include_volatile: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            branch: "main".to_owned(),
            author_name: "Butterfly".to_owned(),
            author_email: "backup@butterfly.invalid".to_owned(),
            include_volatile: false,
        }
    }
}

impl ExportOptions {
    /// The defaults: branch `main`, author `Butterfly`, volatile fields left out.
    pub fn new() -> Self {
        Self::default()
    }

    /// Commit to `branch` instead of `main`.
    #[must_use]
    pub fn with_branch(mut self, branch: impl Into<String>) -> Self {
        self.branch = branch.into();
        self
    }

    /// Author and commit as `name <email>`.
    #[must_use]
    pub fn with_author(mut self, name: impl Into<String>, email: impl Into<String>) -> Self {
        self.author_name = name.into();
        self.author_email = email.into();
        self
    }

    /// Keep volatile fields in the exported files.
    #[must_use]
    pub fn with_volatile(mut self, include: bool) -> Self {
        self.include_volatile = include;
        self
    }
}

/// What an export did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportReport {
    /// The snapshot exported.
    pub snapshot: SnapshotId,
    /// The commit made (hex), or `None` when there was nothing to commit: the org's
    /// files were already exactly these (an unchanged org), or the tip already holds
    /// this snapshot.
    pub commit: Option<String>,
    /// The tip of the branch after the export (hex).
    pub tip: Option<String>,
    /// The snapshot the previous export of this org held, which the commit message
    /// was diffed against.
    pub previous: Option<SnapshotId>,
    /// The commit message's first line (or why nothing was committed).
    pub subject: String,
    /// Resource files in the org's directory.
    pub resources: u64,
    /// Resources whose file was renamed (their display name changed).
    pub renamed: u64,
}

/// Export snapshot `id` from `source` as one commit on `options.branch` of the Git
/// repository at `git_dir` (created bare, with `HEAD` on the branch, when the path does
/// not exist).
///
/// The org's directory `<provider>/<org>/` is replaced whole by the snapshot's files;
/// other orgs' directories in the same repository are left as they are. Files whose
/// content did not change keep their blob, so Git records no change for them; when
/// nothing changed at all, no commit is made.
pub async fn export_snapshot(
    source: &dyn SnapshotSource,
    id: SnapshotId,
    git_dir: &Path,
    options: &ExportOptions,
) -> Result<ExportReport, ExportError> {
    let manifest = source.manifest(id).await?;
    let repo = open_or_init(git_dir, &options.branch)?;
    let refname = branch_ref(&options.branch)?;
    let tip = tip_commit(&repo, &refname)?;
    let previous = match tip {
        Some(tip) => previous_export(&repo, tip, &manifest)?,
        None => None,
    };
    if let Some((prev_id, commit)) = previous
        && prev_id == manifest.id
    {
        return Ok(ExportReport {
            snapshot: manifest.id,
            commit: None,
            tip: Some(commit.to_string()),
            previous: Some(prev_id),
            subject: format!("snapshot {prev_id} is already exported in commit {commit}"),
            resources: manifest.total(),
            renamed: 0,
        });
    }
    let previous_manifest = match previous {
        Some((prev_id, _)) => match source.manifest(prev_id).await {
            Ok(m) => Some(m),
            // Pruned since: the message falls back to counts, the export goes on.
            Err(SourceError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    if let Some(prev) = &previous_manifest
        && manifest.started_at < prev.started_at
    {
        return Err(ExportError::OutOfOrder {
            snapshot: manifest.id,
            last: prev.id,
        });
    }

    let rules = DiffRules::for_provider(manifest.provider);
    let org_path = naming::org_segments(manifest.provider, &manifest.org);

    // Blobs are written as resources stream in, so memory holds one resource at a time
    // plus one (name, blob id) pair per resource.
    let mut kinds: BTreeMap<String, BTreeMap<String, Oid>> = BTreeMap::new();
    let mut resources = 0u64;
    for kind in manifest.kinds.keys() {
        let dir = naming::kind_segment(kind);
        let mut stream = source.kind_resources(&manifest, kind);
        while let Some(resource) = stream.try_next().await? {
            let name = rules.name_of(kind, &resource.attributes);
            let file = naming::file_name(name.as_deref(), &resource.id);
            let bytes = resource_file(&rules, kind, resource.attributes, options);
            let blob = repo.blob(&bytes).map_err(git("write a blob"))?;
            kinds.entry(dir.clone()).or_default().insert(file, blob);
            resources += 1;
        }
    }
    let readme = org_readme(&manifest);
    let readme = repo.blob(readme.as_bytes()).map_err(git("write a blob"))?;

    // Git objects borrow the repository and are not `Send`: they live in this block
    // only, so the future stays `Send` across the diff below (a server spawns it).
    let (base_tree, new_tree, renames) = {
        let base_tree = match tip {
            Some(tip) => Some(
                repo.find_commit(tip)
                    .and_then(|c| c.tree())
                    .map_err(git("read the branch tip"))?,
            ),
            None => None,
        };
        let renames = renames(&repo, base_tree.as_ref(), &org_path, &kinds)?;
        let org_tree = write_org_tree(&repo, readme, &kinds)?;
        let new_tree = replace_subtree(&repo, base_tree.as_ref(), &org_path, org_tree)
            .map_err(git("write a tree"))?;
        (base_tree.as_ref().map(Tree::id), new_tree, renames)
    };
    if base_tree == Some(new_tree) {
        return Ok(ExportReport {
            snapshot: manifest.id,
            commit: None,
            tip: tip.map(|t| t.to_string()),
            previous: previous.map(|p| p.0),
            subject: "no change since the previous export".to_owned(),
            resources,
            renamed: 0,
        });
    }

    let diff = match &previous_manifest {
        Some(prev) => {
            let diff_options = DiffOptions::default().with_volatile(options.include_volatile);
            Some(diff_snapshots(source, prev, &manifest, &rules, &diff_options).await?)
        }
        None => None,
    };
    let (subject, message) = commit_message(&manifest, diff.as_ref(), &renames, resources);
    let when = manifest.finished_at.unwrap_or(manifest.started_at);
    let time = git2::Time::new(when.timestamp(), 0);
    let signature = Signature::new(&options.author_name, &options.author_email, &time)
        .map_err(git("make a signature"))?;
    let commit = {
        let tree = repo.find_tree(new_tree).map_err(git("read a tree"))?;
        let parent = match tip {
            Some(tip) => Some(repo.find_commit(tip).map_err(git("read the branch tip"))?),
            None => None,
        };
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        repo.commit(
            Some(&refname),
            &signature,
            &signature,
            &message,
            &tree,
            &parents,
        )
        .map_err(git("commit"))?
    };
    refresh_work_tree(&repo, &refname)?;
    Ok(ExportReport {
        snapshot: manifest.id,
        commit: Some(commit.to_string()),
        tip: Some(commit.to_string()),
        previous: previous.map(|p| p.0),
        subject,
        resources,
        renamed: renames.len() as u64,
    })
}

/// Open the repository at `git_dir`, or create it bare with `HEAD` on `branch`.
pub(crate) fn open_or_init(git_dir: &Path, branch: &str) -> Result<Repository, ExportError> {
    if git_dir.exists() {
        return Repository::open(git_dir).map_err(git("open the repository"));
    }
    let mut init = git2::RepositoryInitOptions::new();
    init.bare(true).initial_head(branch).mkpath(true);
    Repository::init_opts(git_dir, &init).map_err(git("create the repository"))
}

pub(crate) fn branch_ref(branch: &str) -> Result<String, ExportError> {
    let refname = format!("refs/heads/{branch}");
    if git2::Reference::is_valid_name(&refname) {
        Ok(refname)
    } else {
        Err(ExportError::InvalidBranch(branch.to_owned()))
    }
}

fn tip_commit(repo: &Repository, refname: &str) -> Result<Option<Oid>, ExportError> {
    match repo.refname_to_id(refname) {
        Ok(oid) => Ok(Some(oid)),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(ExportError::Git {
            what: "read the branch",
            source: e,
        }),
    }
}

/// The snapshot and commit of the last export of the same provider and org, following
/// first parents from `tip`.
fn previous_export(
    repo: &Repository,
    tip: Oid,
    manifest: &Snapshot,
) -> Result<Option<(SnapshotId, Oid)>, ExportError> {
    let mut walk = repo.revwalk().map_err(git("walk the history"))?;
    walk.push(tip).map_err(git("walk the history"))?;
    walk.simplify_first_parent()
        .map_err(git("walk the history"))?;
    for oid in walk.take(HISTORY_MAX) {
        let oid = oid.map_err(git("walk the history"))?;
        let commit = repo.find_commit(oid).map_err(git("read a commit"))?;
        let trailers = Trailers::parse(commit.message().unwrap_or_default());
        if trailers.provider.as_deref() == Some(manifest.provider.as_str())
            && trailers.org.as_deref() == Some(manifest.org.as_str())
            && let Some(id) = trailers.snapshot
        {
            return Ok(Some((id, oid)));
        }
    }
    Ok(None)
}

/// The Butterfly trailers of a commit message.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Trailers {
    pub(crate) snapshot: Option<SnapshotId>,
    pub(crate) provider: Option<String>,
    pub(crate) org: Option<String>,
}

impl Trailers {
    pub(crate) fn parse(message: &str) -> Self {
        let mut out = Trailers::default();
        for line in message.lines() {
            let Some((key, value)) = line.split_once(": ") else {
                continue;
            };
            match key {
                SNAPSHOT_TRAILER => out.snapshot = value.trim().parse().ok(),
                PROVIDER_TRAILER => out.provider = Some(value.trim().to_owned()),
                ORG_TRAILER => out.org = Some(value.trim().to_owned()),
                _ => {}
            }
        }
        out
    }
}

/// A resource as its file: volatile fields out (unless asked), sets in a fixed order,
/// keys sorted, pretty-printed, ending in a newline.
fn resource_file(
    rules: &DiffRules,
    kind: &ResourceKind,
    mut attributes: Value,
    options: &ExportOptions,
) -> Vec<u8> {
    let mut pointer = String::new();
    normalise(
        rules,
        kind,
        &mut attributes,
        &mut pointer,
        options.include_volatile,
    );
    pretty_canonical(&attributes)
}

/// Canonical JSON (sorted keys, one spelling per number), pretty-printed.
pub(crate) fn pretty_canonical(value: &Value) -> Vec<u8> {
    // Re-reading the canonical bytes gives a value whose maps iterate in canonical
    // order whether or not another crate switched on serde_json's `preserve_order`.
    let canonical = canonical_json(value);
    let mut out = match serde_json::from_slice::<Value>(&canonical) {
        Ok(sorted) => serde_json::to_vec_pretty(&sorted).unwrap_or(canonical),
        // Cannot happen (canonical JSON is JSON); the compact form is still correct.
        Err(_) => canonical,
    };
    out.push(b'\n');
    out
}

fn normalise(
    rules: &DiffRules,
    kind: &ResourceKind,
    value: &mut Value,
    pointer: &mut String,
    include_volatile: bool,
) {
    let len = pointer.len();
    match value {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                push_token(pointer, &key);
                if !include_volatile && rules.is_volatile(kind, pointer) {
                    map.remove(&key);
                } else if let Some(child) = map.get_mut(&key) {
                    normalise(rules, kind, child, pointer, include_volatile);
                }
                pointer.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                push_token(pointer, &i.to_string());
                normalise(rules, kind, item, pointer, include_volatile);
                pointer.truncate(len);
            }
            // The diff compares sets as sets; the file must not change on a reorder.
            if !pointer.is_empty() && rules.is_set(kind, pointer) {
                items.sort_by_cached_key(canonical_json);
            }
        }
        _ => {}
    }
}

fn push_token(pointer: &mut String, token: &str) {
    pointer.push('/');
    for c in token.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

fn org_readme(manifest: &Snapshot) -> String {
    // Nothing that changes from one backup to the next (the snapshot, its time, its
    // counts): the README must not turn an unchanged org, or one user added, into a
    // change of its own.
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# {} org `{}`\n",
        manifest.provider.display_name(),
        manifest.org
    );
    out.push_str(
        "Exported by Butterfly: each backup of this org is one commit, whose author date \
         is the backup's and whose message summarises what changed.\n\n\
         ## Layout\n\n\
         One file per resource, `<kind>/<name>.<id>.json`: canonical JSON (keys sorted), \
         pretty-printed. `<name>` is the display name (a user's login, a group's name, \
         an app's label) as a lowercase slug, `<id>` the provider's id (or `_` and a \
         hash of it when it is not filesystem safe), so a renamed resource is a renamed \
         file. Fields that change without meaning anything (`lastLogin`, `lastUpdated`, \
         `_links`...) are left out, and arrays that are sets are sorted, so an \
         unchanged resource is an unchanged file.\n\n\
         Secrets (client secrets, private keys, hook credentials, password hashes) are \
         never in a backup, so they are not here either.\n",
    );
    out
}

fn write_org_tree(
    repo: &Repository,
    readme: Oid,
    kinds: &BTreeMap<String, BTreeMap<String, Oid>>,
) -> Result<Oid, ExportError> {
    let mut org = repo.treebuilder(None).map_err(git("write a tree"))?;
    org.insert("README.md", readme, BLOB_MODE)
        .map_err(git("write a tree"))?;
    for (dir, files) in kinds {
        let mut builder = repo.treebuilder(None).map_err(git("write a tree"))?;
        for (name, blob) in files {
            builder
                .insert(name, *blob, BLOB_MODE)
                .map_err(git("write a tree"))?;
        }
        let tree = builder.write().map_err(git("write a tree"))?;
        org.insert(dir, tree, TREE_MODE)
            .map_err(git("write a tree"))?;
    }
    org.write().map_err(git("write a tree"))
}

/// `base` with the tree at `path` replaced by `new` (directories created as needed).
fn replace_subtree(
    repo: &Repository,
    base: Option<&Tree<'_>>,
    path: &[String],
    new: Oid,
) -> Result<Oid, git2::Error> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(new);
    };
    let child = match base.and_then(|t| t.get_name(first)) {
        Some(entry) if entry.kind() == Some(ObjectType::Tree) => Some(repo.find_tree(entry.id())?),
        _ => None,
    };
    let child = replace_subtree(repo, child.as_ref(), rest, new)?;
    let mut builder = repo.treebuilder(base)?;
    builder.insert(first, child, TREE_MODE)?;
    builder.write()
}

/// A resource file renamed since the tip: (kind directory, old name, new name).
type Rename = (String, String, String);

fn renames(
    repo: &Repository,
    base: Option<&Tree<'_>>,
    org_path: &[String],
    kinds: &BTreeMap<String, BTreeMap<String, Oid>>,
) -> Result<Vec<Rename>, ExportError> {
    let Some(base) = base else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (dir, files) in kinds {
        let path: std::path::PathBuf = org_path.iter().chain(std::iter::once(dir)).collect();
        let Ok(entry) = base.get_path(&path) else {
            continue;
        };
        let old = repo.find_tree(entry.id()).map_err(git("read a tree"))?;
        let old_names: BTreeMap<String, String> = old
            .iter()
            .filter_map(|e| {
                let name = e.name()?;
                Some((naming::id_part_of_file(name)?.to_owned(), name.to_owned()))
            })
            .collect();
        for name in files.keys() {
            if let Some(id) = naming::id_part_of_file(name)
                && let Some(old_name) = old_names.get(id)
                && old_name != name
            {
                out.push((dir.clone(), old_name.clone(), name.clone()));
            }
        }
    }
    Ok(out)
}

/// The commit subject and whole message.
pub(crate) fn commit_message(
    manifest: &Snapshot,
    diff: Option<&SnapshotDiff>,
    renames: &[Rename],
    resources: u64,
) -> (String, String) {
    let subject = match diff {
        Some(diff) => subject_from_diff(diff),
        None => format!(
            "Backup: {resources} {} ({} {})",
            plural(resources, "resource"),
            manifest.provider,
            naming::org_segment(&manifest.org)
        ),
    };
    let mut body = String::new();
    let when = manifest.finished_at.unwrap_or(manifest.started_at);
    let status = serde_json::to_value(manifest.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let _ = writeln!(
        body,
        "Snapshot {} of {} {}, taken {} ({status}).",
        manifest.id,
        manifest.provider.display_name(),
        manifest.org,
        butterfly_core::rfc3339::format(&when).unwrap_or_else(|_| when.to_rfc3339()),
    );
    if let Some(diff) = diff {
        write_diff_body(&mut body, diff);
    }
    if !renames.is_empty() {
        body.push_str("\nRenamed:\n");
        for (dir, old, new) in renames {
            let _ = writeln!(body, "  {dir}/{old} -> {dir}/{new}");
        }
    }
    if !manifest.warnings.is_empty() {
        body.push_str("\nBackup warnings:\n");
        for warning in &manifest.warnings {
            let _ = writeln!(body, "  {warning}");
        }
    }
    let message = format!(
        "{subject}\n\n{body}\n{SNAPSHOT_TRAILER}: {}\n{PROVIDER_TRAILER}: {}\n{ORG_TRAILER}: {}\n",
        manifest.id, manifest.provider, manifest.org
    );
    (subject, message)
}

/// "Backup: 3 users added, 1 policy changed (critical)".
pub(crate) fn subject_from_diff(diff: &SnapshotDiff) -> String {
    // (noun, verb) -> (count, highest severity); nouns merge the sub-kinds of a kind
    // (`policy.OKTA_SIGN_ON` and `policy.PASSWORD` are both policies).
    let mut clauses: BTreeMap<(u8, String), (u64, Severity)> = BTreeMap::new();
    let mut add = |verb: u8, kind: &ResourceKind, severity: Severity| {
        let entry = clauses
            .entry((verb, noun(kind)))
            .or_insert((0, Severity::Info));
        entry.0 += 1;
        entry.1 = entry.1.max(severity);
    };
    for r in &diff.added {
        add(0, &r.kind, r.severity);
    }
    for r in &diff.changed {
        add(1, &r.kind, r.severity);
    }
    for r in &diff.removed {
        add(2, &r.kind, r.severity);
    }
    if clauses.is_empty() {
        return "Backup: no resource changes".to_owned();
    }
    let parts: Vec<String> = clauses
        .iter()
        .map(|((verb, noun), (count, severity))| {
            let verb = ["added", "changed", "removed"][usize::from(*verb)];
            let mut part = format!("{count} {} {verb}", plural_noun(*count, noun));
            if *severity >= Severity::High {
                let _ = write!(part, " ({severity})");
            }
            part
        })
        .collect();
    // Keep the subject to one screen line; the body has everything.
    let mut subject = String::from("Backup: ");
    for (i, part) in parts.iter().enumerate() {
        let rest = parts.len() - i;
        if i > 0 && subject.len() + part.len() > 90 && rest > 1 {
            let _ = write!(subject, ", and {rest} more kinds of change");
            break;
        }
        if i > 0 {
            subject.push_str(", ");
        }
        subject.push_str(part);
    }
    subject
}

fn write_diff_body(body: &mut String, diff: &SnapshotDiff) {
    let mut kinds: BTreeSet<&ResourceKind> = BTreeSet::new();
    kinds.extend(diff.added.iter().map(|r| &r.kind));
    kinds.extend(diff.changed.iter().map(|r| &r.kind));
    kinds.extend(diff.removed.iter().map(|r| &r.kind));
    for kind in kinds {
        let counts = diff.summary.by_kind.get(kind).copied().unwrap_or_default();
        let _ = writeln!(
            body,
            "\n{kind}: {} added, {} changed, {} removed",
            counts.added, counts.changed, counts.removed
        );
        let lines = diff
            .added
            .iter()
            .filter(|r| &r.kind == kind)
            .map(|r| format!("  + {} ({}) [{}]", r.name, r.id, r.severity))
            .chain(diff.changed.iter().filter(|r| &r.kind == kind).map(|r| {
                let fields: Vec<&str> = r
                    .changes
                    .iter()
                    .map(|c| c.change.pointer.as_str())
                    .collect();
                format!(
                    "  ~ {} ({}) [{}]: {}",
                    r.name,
                    r.id,
                    r.severity,
                    fields.join(", ")
                )
            }))
            .chain(
                diff.removed
                    .iter()
                    .filter(|r| &r.kind == kind)
                    .map(|r| format!("  - {} ({}) [{}]", r.name, r.id, r.severity)),
            );
        let mut shown = 0usize;
        let mut hidden = 0usize;
        for line in lines {
            if shown < BODY_LIST_MAX {
                body.push_str(&line);
                body.push('\n');
                shown += 1;
            } else {
                hidden += 1;
            }
        }
        if hidden > 0 {
            let _ = writeln!(body, "  ... and {hidden} more");
        }
    }
}

/// A kind as a noun: `policy_rule.OKTA_SIGN_ON` -> "policy rule".
fn noun(kind: &ResourceKind) -> String {
    let base = kind.as_str().split('.').next().unwrap_or_default();
    base.replace('_', " ")
}

fn plural_noun(count: u64, noun: &str) -> String {
    if count == 1 {
        return noun.to_owned();
    }
    if let Some(stem) = noun.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        return format!("{stem}ies");
    }
    if noun.ends_with(['s', 'x']) || noun.ends_with("sh") || noun.ends_with("ch") {
        return format!("{noun}es");
    }
    format!("{noun}s")
}

fn plural(count: u64, noun: &str) -> String {
    plural_noun(count, noun)
}

/// A non-bare repository whose `HEAD` is the branch gets its work tree updated, so
/// `git status` there is clean after an export.
fn refresh_work_tree(repo: &Repository, refname: &str) -> Result<(), ExportError> {
    if repo.is_bare() {
        return Ok(());
    }
    let on_branch = repo
        .find_reference("HEAD")
        .ok()
        .and_then(|head| head.symbolic_target().map(|t| t == refname))
        .unwrap_or(false);
    if on_branch {
        let mut checkout = git2::build::CheckoutBuilder::new();
        checkout.safe().recreate_missing(true);
        repo.checkout_head(Some(&mut checkout))
            .map_err(git("update the work tree"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_future_is_send() {
        // A server spawns exports on its runtime: the future must be `Send`.
        fn assert_send<T: Send>(_: &T) {}
        let source = butterfly_core::source::InMemorySnapshotSource::new();
        let options = ExportOptions::new();
        let future = export_snapshot(
            &source,
            SnapshotId::new_random(),
            Path::new("unused"),
            &options,
        );
        assert_send(&future);
    }

    #[test]
    fn nouns_are_plural_when_they_should_be() {
        assert_eq!(plural_noun(1, "policy"), "policy");
        assert_eq!(plural_noun(2, "policy"), "policies");
        assert_eq!(plural_noun(3, "user"), "users");
        assert_eq!(plural_noun(2, "key"), "keys");
        assert_eq!(plural_noun(2, "address"), "addresses");
        assert_eq!(
            noun(&ResourceKind::new("policy_rule.OKTA_SIGN_ON")),
            "policy rule"
        );
    }

    #[test]
    fn trailers_round_trip() {
        let id = SnapshotId::new_random();
        let message = format!(
            "Backup: x\n\nbody\n\n{SNAPSHOT_TRAILER}: {id}\n{PROVIDER_TRAILER}: okta\n{ORG_TRAILER}: https://a.okta.com\n"
        );
        let t = Trailers::parse(&message);
        assert_eq!(t.snapshot, Some(id));
        assert_eq!(t.provider.as_deref(), Some("okta"));
        assert_eq!(t.org.as_deref(), Some("https://a.okta.com"));
    }

    #[test]
    fn files_are_sorted_pretty_and_drop_volatile_fields() {
        let rules = DiffRules::for_provider(butterfly_core::ProviderKind::Okta);
        let kind = ResourceKind::new("group_rule");
        let value = serde_json::json!({
            "z": 1.0, "a": {"y": [3, 1], "b": "x"}, "lastUpdated": "now",
            "actions": {"assignUserToGroups": {"groupIds": ["g2", "g1"]}}
        });
        let text = String::from_utf8(resource_file(
            &rules,
            &kind,
            value.clone(),
            &ExportOptions::new(),
        ))
        .unwrap();
        assert_eq!(
            text,
            "{\n  \"a\": {\n    \"b\": \"x\",\n    \"y\": [\n      3,\n      1\n    ]\n  },\n  \"actions\": {\n    \"assignUserToGroups\": {\n      \"groupIds\": [\n        \"g1\",\n        \"g2\"\n      ]\n    }\n  },\n  \"z\": 1\n}\n"
        );
        let kept = String::from_utf8(resource_file(
            &rules,
            &kind,
            value,
            &ExportOptions::new().with_volatile(true),
        ))
        .unwrap();
        assert!(kept.contains("lastUpdated"));
    }
}
