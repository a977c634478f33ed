//! Evaluation over a snapshot, and the trend between two reports.

use std::collections::BTreeMap;

use butterfly_core::source::SnapshotSource;
use butterfly_core::{ProviderKind, Resource, ResourceKind, Snapshot};
use futures::TryStreamExt as _;

use crate::catalogue::{self, Check};
use crate::model::{
    AppliedThreshold, CheckResult, FrameworkSummary, Report, Severity, SnapshotInfo, Status, Trend,
    TrendItem,
};
use crate::rules::{KINDS_READ, OrgView, Outcome, UserFacts};
use crate::{Error, Framework};

/// How many evidence entries a result lists before it only counts the rest.
pub const EVIDENCE_LIMIT: usize = 25;

/// Evaluate every check mapped to `frameworks` over one snapshot, with the catalogue of
/// the snapshot's provider ([`catalogue::for_provider`]): Okta's checks for an Okta
/// snapshot, Entra ID's for an Entra ID one.
///
/// Reads only the kinds the catalogue needs, each once, through `source`. Inactivity is
/// measured up to the snapshot's start time, so the same snapshot gives the same result
/// whenever it is evaluated; `generated_at` (RFC 3339) is only written into the report.
pub async fn evaluate(
    source: &dyn SnapshotSource,
    snapshot: &Snapshot,
    frameworks: &[Framework],
    generated_at: &str,
) -> Result<Report, Error> {
    butterfly_core::rfc3339::parse(generated_at)
        .map_err(|_| Error::InvalidTime(generated_at.to_owned()))?;
    if snapshot.provider == ProviderKind::EntraId {
        let view = entra_view(source, snapshot).await?;
        return Ok(evaluate_view(&view, frameworks, generated_at));
    }
    let mut resources = BTreeMap::new();
    let mut users = Vec::new();
    for kind in KINDS_READ {
        let kind = ResourceKind::new(*kind);
        let Some(entries) = snapshot.kinds.get(&kind) else {
            continue;
        };
        if kind.as_str() == "user" {
            // Borrowed where the source can lend, and cut down to what the rules read.
            users.reserve(entries.len());
            source
                .visit_kind(snapshot, &kind, &mut |id, body| {
                    users.push(UserFacts::of(id, body));
                })
                .await?;
        } else {
            let all: Vec<_> = source.kind_resources(snapshot, &kind).try_collect().await?;
            resources.insert(kind.as_str().to_owned(), all);
        }
    }
    let view = OrgView {
        snapshot,
        resources,
        users,
        taken_at: snapshot.started_at,
    };
    Ok(evaluate_view(&view, frameworks, generated_at))
}

/// The Entra ID kinds the rules read; users only as far as they hold a directory role
/// (the rules look at no other user), so a large tenant's users are not all kept.
async fn entra_view<'s>(
    source: &dyn SnapshotSource,
    snapshot: &'s Snapshot,
) -> Result<OrgView<'s>, Error> {
    let mut resources: BTreeMap<String, Vec<Resource>> = BTreeMap::new();
    for kind in crate::rules::entra::KINDS_READ
        .iter()
        .filter(|k| **k != "user")
    {
        let kind = ResourceKind::new(*kind);
        if snapshot.kinds.contains_key(&kind) {
            let all: Vec<_> = source.kind_resources(snapshot, &kind).try_collect().await?;
            resources.insert(kind.as_str().to_owned(), all);
        }
    }
    let holders: std::collections::BTreeSet<String> =
        ["role_assignment", "role_eligibility_schedule"]
            .iter()
            .flat_map(|k| resources.get(*k).into_iter().flatten())
            .filter_map(|r| {
                r.attributes
                    .get("principalId")
                    .and_then(serde_json::Value::as_str)
            })
            .map(str::to_ascii_lowercase)
            .collect();
    let user = ResourceKind::new("user");
    if snapshot.kinds.contains_key(&user) {
        let mut users = Vec::new();
        source
            .visit_kind(snapshot, &user, &mut |id, body| {
                if holders.contains(&id.to_ascii_lowercase()) {
                    users.push(Resource::new(ResourceKind::new("user"), id, body.clone()));
                }
            })
            .await?;
        resources.insert("user".to_owned(), users);
    }
    Ok(OrgView {
        snapshot,
        resources,
        users: Vec::new(),
        taken_at: snapshot.started_at,
    })
}

fn evaluate_view(view: &OrgView<'_>, frameworks: &[Framework], generated_at: &str) -> Report {
    let mut wanted: Vec<Framework> = frameworks.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    // A check runs once per distinct threshold, however many frameworks share it.
    let mut outcomes: BTreeMap<(&str, Option<i64>), Outcome> = BTreeMap::new();
    let mut results = Vec::new();
    for &framework in &wanted {
        for check in catalogue::for_provider(view.snapshot.provider) {
            let Some(mapping) = check.mapping(framework) else {
                continue;
            };
            let threshold = mapping
                .threshold
                .or_else(|| check.threshold.map(|t| t.default));
            let outcome = outcomes
                .entry((check.id, threshold))
                .or_insert_with(|| (check.rule)(view, threshold));
            results.push(result(
                check,
                framework,
                mapping.control,
                threshold,
                outcome,
            ));
        }
    }
    let summaries = wanted
        .iter()
        .map(|&f| {
            summary(
                f,
                view.snapshot.provider,
                results.iter().filter(|r| r.framework == f),
            )
        })
        .collect();
    Report {
        tool: "butterfly-compliance".to_owned(),
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        generated_at: generated_at.to_owned(),
        snapshot: snapshot_info(view.snapshot),
        summaries,
        results,
    }
}

fn snapshot_info(snapshot: &Snapshot) -> SnapshotInfo {
    SnapshotInfo {
        id: snapshot.id.to_string(),
        provider: snapshot.provider.as_str().to_owned(),
        org: snapshot.org.clone(),
        // Formatting a valid DateTime<Utc> as RFC 3339 only fails for years beyond 9999.
        taken_at: butterfly_core::rfc3339::format(&snapshot.started_at)
            .unwrap_or_else(|_| snapshot.started_at.to_string()),
    }
}

fn result(
    check: &Check,
    framework: Framework,
    control: &str,
    threshold: Option<i64>,
    outcome: &Outcome,
) -> CheckResult {
    let (status, message, evidence, omitted) = match outcome {
        Outcome::Pass {
            message,
            evidence,
            omitted,
        } => (Status::Pass, message.clone(), evidence.as_slice(), *omitted),
        Outcome::Fail {
            message,
            evidence,
            omitted,
        } => (Status::Fail, message.clone(), evidence.as_slice(), *omitted),
        Outcome::NotApplicable { reason } => (Status::NotApplicable, reason.clone(), &[][..], 0),
    };
    CheckResult {
        framework,
        control: control.to_owned(),
        check_id: check.id.to_owned(),
        title: check.title.to_owned(),
        severity: check.severity,
        status,
        threshold: check
            .threshold
            .zip(threshold)
            .map(|(spec, value)| AppliedThreshold {
                comparison: spec.comparison,
                value,
                unit: spec.unit.to_owned(),
            }),
        message,
        evidence: evidence.to_vec(),
        evidence_omitted: omitted,
        remediation: check.remediation.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn summary<'a>(
    framework: Framework,
    provider: ProviderKind,
    results: impl Iterator<Item = &'a CheckResult>,
) -> FrameworkSummary {
    let mut s = FrameworkSummary {
        framework,
        title: framework.title_for(provider).to_owned(),
        total: 0,
        passed: 0,
        failed: 0,
        not_applicable: 0,
        failed_by_severity: Severity::ALL.iter().map(|&v| (v, 0)).collect(),
        score_percent: 100,
    };
    for r in results {
        s.total += 1;
        match r.status {
            Status::Pass => s.passed += 1,
            Status::Fail => {
                s.failed += 1;
                *s.failed_by_severity.entry(r.severity).or_default() += 1;
            }
            Status::NotApplicable => s.not_applicable += 1,
        }
    }
    let applicable = s.passed + s.failed;
    if let Some(score) = (s.passed * 100).checked_div(applicable) {
        s.score_percent = score;
    }
    s
}

/// What changed from `before` to `after`: checks newly failing, and checks fixed.
pub fn trend(before: &Report, after: &Report) -> Trend {
    let index = |r: &Report| -> BTreeMap<(Framework, String), CheckResult> {
        r.results
            .iter()
            .map(|c| ((c.framework, c.check_id.clone()), c.clone()))
            .collect()
    };
    let (old, new) = (index(before), index(after));
    let mut newly_failing = Vec::new();
    let mut fixed = Vec::new();
    let mut still_failing = 0;
    let keys: std::collections::BTreeSet<_> = old.keys().chain(new.keys()).cloned().collect();
    for key in keys {
        let (was, is) = (old.get(&key), new.get(&key));
        let failed = |c: Option<&CheckResult>| c.is_some_and(|c| c.status == Status::Fail);
        let Some(sample) = is.or(was) else { continue };
        let item = TrendItem {
            framework: key.0,
            control: sample.control.clone(),
            check_id: key.1.clone(),
            severity: sample.severity,
            before: was.map(|c| c.status),
            after: is.map(|c| c.status),
        };
        match (failed(was), failed(is)) {
            (false, true) => newly_failing.push(item),
            (true, false) => fixed.push(item),
            (true, true) => still_failing += 1,
            (false, false) => {}
        }
    }
    Trend {
        before: before.snapshot.clone(),
        after: after.snapshot.clone(),
        newly_failing,
        fixed,
        still_failing,
    }
}
