use std::collections::BTreeMap;

use butterfly_compliance::{Error, Framework, Report, Status, evaluate, trend};
use butterfly_core::Resource;
use butterfly_core::source::InMemorySnapshotSource;
use futures::executor::block_on;
use serde_json::json;

use crate::support::{self, GENERATED_AT};

fn report(name: &str) -> Report {
    let (source, snapshot) = support::load(name).unwrap();
    block_on(evaluate(&source, &snapshot, &Framework::ALL, GENERATED_AT)).unwrap()
}

fn ids_with(report: &Report, framework: Framework, status: Status) -> Vec<&str> {
    report
        .results
        .iter()
        .filter(|r| r.framework == framework && r.status == status)
        .map(|r| r.check_id.as_str())
        .collect()
}

fn result<'r>(
    report: &'r Report,
    framework: Framework,
    check: &str,
) -> &'r butterfly_compliance::CheckResult {
    report
        .results
        .iter()
        .find(|r| r.framework == framework && r.check_id == check)
        .unwrap_or_else(|| panic!("{check} not evaluated for {framework}"))
}

#[test]
fn the_misconfigured_org_fails_exactly_the_planted_checks_per_framework() {
    let report = report("misconfigured-org.json");
    // Derived by hand from the fixture (see each resource's misconfiguration), not from
    // the engine's output.
    let expected: BTreeMap<Framework, Vec<&str>> = BTreeMap::from([
        (
            Framework::Soc2,
            vec![
                "admin.service_app_super_admin",
                "admin.super_admin_count",
                "apps.implicit_grant",
                "apps.unassigned",
                "lifecycle.inactive_users",
                "logging.log_streaming",
                "mfa.admin_console",
                "mfa.enrollment_required",
                "mfa.sign_on_requires_factor",
                "network.admin_console_ip_restricted",
                "password.common_passwords",
            ],
        ),
        (
            Framework::Hipaa,
            vec![
                "admin.super_admin_count",
                "lifecycle.inactive_users",
                "logging.event_hooks_https",
                "logging.log_streaming",
                "mfa.enrollment_required",
                "mfa.sign_on_requires_factor",
                "password.history",
            ],
        ),
        (
            Framework::PciDss,
            vec![
                "admin.service_app_super_admin",
                "admin.super_admin_count",
                "lifecycle.inactive_users",
                "logging.event_hooks_https",
                "logging.log_streaming",
                "mfa.admin_console",
                "mfa.enrollment_required",
                "mfa.sign_on_requires_factor",
                "password.lockout_duration",
                "session.idle_timeout",
            ],
        ),
        (
            Framework::Nist80053,
            vec![
                "admin.super_admin_count",
                "admin.super_admin_via_group",
                "apps.saml_signed_assertions",
                "lifecycle.inactive_users",
                "logging.log_streaming",
                "mfa.admin_console",
                "mfa.admin_console_phishing_resistant",
                "mfa.enrollment_required",
                "mfa.sign_on_requires_factor",
                "mfa.smart_card",
                "mfa.weak_factors_disabled",
                "network.admin_console_ip_restricted",
                "network.blocklist_zone",
                "network.threat_insight_blocks",
                "network.zones_defined",
                "password.common_passwords",
                "password.history",
                "password.lockout",
                "password.min_length",
                "session.idle_timeout",
                "session.max_lifetime",
                "session.persistent_cookie",
            ],
        ),
        (
            Framework::Iso27001,
            vec![
                "admin.super_admin_count",
                "apps.saml_signed_assertions",
                "lifecycle.inactive_users",
                "lifecycle.pending_accounts",
                "logging.log_streaming",
                "mfa.enrollment_required",
                "mfa.sign_on_requires_factor",
                "network.zones_defined",
                "password.common_passwords",
                "password.history",
                "session.max_lifetime",
            ],
        ),
        (
            Framework::Cis,
            vec![
                "admin.service_app_super_admin",
                "admin.super_admin_count",
                "admin.super_admin_via_group",
                "apps.implicit_grant",
                "apps.unassigned",
                "apps.wildcard_redirect",
                "lifecycle.inactive_users",
                "logging.event_hooks_https",
                "logging.log_streaming",
                "mfa.admin_console",
                "mfa.enrollment_required",
                "mfa.sign_on_requires_factor",
                "network.admin_console_ip_restricted",
                "network.blocklist_zone",
                "network.zones_defined",
                "password.common_passwords",
                "password.history",
                "password.min_length",
                "session.idle_timeout",
            ],
        ),
        (
            Framework::Stig,
            vec![
                "lifecycle.inactive_users",
                "logging.log_streaming",
                "mfa.admin_console",
                "mfa.admin_console_phishing_resistant",
                "mfa.dashboard_phishing_resistant",
                "mfa.smart_card",
                "password.lockout",
                "password.max_age",
                "password.min_age",
                "password.min_length",
                "password.symbol",
                "session.idle_timeout",
                "session.persistent_cookie",
            ],
        ),
    ]);
    for (framework, failing) in &expected {
        assert_eq!(
            ids_with(&report, *framework, Status::Fail),
            *failing,
            "failures under {framework}"
        );
        assert_eq!(
            ids_with(&report, *framework, Status::NotApplicable),
            Vec::<&str>::new(),
            "every check applies to the misconfigured org under {framework}"
        );
    }
    let summary = |f: Framework| report.summaries.iter().find(|s| s.framework == f).unwrap();
    assert_eq!(summary(Framework::PciDss).failed, 10);
    assert_eq!(summary(Framework::PciDss).passed, 5);
    assert_eq!(summary(Framework::Nist80053).score_percent, 0);
}

#[test]
fn each_framework_applies_and_names_its_own_threshold() {
    let report = report("misconfigured-org.json");
    // minLength 13: enough for PCI DSS (12), not for CIS (14) or the STIG (15).
    let pci = result(&report, Framework::PciDss, "password.min_length");
    assert_eq!((pci.status, pci.control.as_str()), (Status::Pass, "8.3.6"));
    assert_eq!(
        pci.threshold.as_ref().unwrap().to_string(),
        ">= 12 characters"
    );
    let cis = result(&report, Framework::Cis, "password.min_length");
    assert_eq!(cis.threshold.as_ref().unwrap().value, 14);
    let stig = result(&report, Framework::Stig, "password.min_length");
    assert_eq!(
        (stig.status, stig.control.as_str()),
        (Status::Fail, "V-273195")
    );
    assert_eq!(stig.threshold.as_ref().unwrap().value, 15);
    let evidence = &stig.evidence[0];
    assert_eq!(
        (evidence.kind.as_str(), evidence.id.as_str()),
        ("policy.PASSWORD", "00pDefault")
    );
    assert_eq!(evidence.name.as_deref(), Some("Default Policy"));
    assert_eq!(
        evidence.observed["settings.password.complexity.minLength"],
        13
    );
    // The inactive policy with minLength 4 is not held against the org.
    assert_eq!(stig.evidence.len(), 1);

    // Lockout after 5 attempts: within PCI DSS's 10 and HIPAA's 6, not NIST's 3.
    assert_eq!(
        result(&report, Framework::PciDss, "password.lockout").status,
        Status::Pass
    );
    assert_eq!(
        result(&report, Framework::Hipaa, "password.lockout").status,
        Status::Pass
    );
    let nist = result(&report, Framework::Nist80053, "password.lockout");
    assert_eq!((nist.status, nist.control.as_str()), (Status::Fail, "AC-7"));
}

#[test]
fn inactivity_is_measured_from_the_snapshot_with_each_frameworks_limit() {
    let report = report("misconfigured-org.json");
    let offenders = |f: Framework| -> Vec<String> {
        result(&report, f, "lifecycle.inactive_users")
            .evidence
            .iter()
            .map(|e| e.name.clone().unwrap())
            .collect()
    };
    // Bob last signed in 41 days before the snapshot, Carol 60, Dan never (created 213).
    assert_eq!(offenders(Framework::PciDss), ["dan@misconfigured.example"]);
    assert_eq!(
        offenders(Framework::Cis),
        ["carol@misconfigured.example", "dan@misconfigured.example"]
    );
    assert_eq!(
        offenders(Framework::Stig),
        [
            "bob@misconfigured.example",
            "carol@misconfigured.example",
            "dan@misconfigured.example"
        ]
    );
}

#[test]
fn the_clean_org_fails_nothing_and_every_check_applies() {
    let report = report("clean-org.json");
    for framework in Framework::ALL {
        assert_eq!(
            ids_with(&report, framework, Status::Fail),
            Vec::<&str>::new(),
            "{framework}"
        );
        assert_eq!(
            ids_with(&report, framework, Status::NotApplicable),
            Vec::<&str>::new(),
            "{framework}"
        );
    }
    assert!(report.summaries.iter().all(|s| s.score_percent == 100));
}

#[test]
fn missing_data_is_not_applicable_with_the_reason_not_a_pass_or_a_fail() {
    let (mut resources, mut meta) = support::resources("clean-org.json").unwrap();
    // What the Okta backup stores today: rules without links, and a skipped kind.
    resources.retain(|r| r.kind.as_str() != "log_stream");
    for r in &mut resources {
        if let Some(map) = r.attributes.as_object_mut() {
            map.remove("_links");
        }
    }
    meta.warnings =
        vec!["kind `log_stream` skipped: scope okta.logStreams.read not granted".into()];
    let (source, snapshot) = support::build(resources, &meta).unwrap();
    let report = block_on(evaluate(
        &source,
        &snapshot,
        &[Framework::Stig],
        GENERATED_AT,
    ))
    .unwrap();
    let log = result(&report, Framework::Stig, "logging.log_streaming");
    assert_eq!(log.status, Status::NotApplicable);
    assert!(
        log.message.contains("okta.logStreams.read not granted"),
        "{}",
        log.message
    );
    let admin = result(&report, Framework::Stig, "mfa.admin_console");
    assert_eq!(admin.status, Status::NotApplicable);
    assert!(
        admin.message.contains("do not record which policy"),
        "{}",
        admin.message
    );
    // Without a skip warning, no log stream is a failure.
    meta.warnings.clear();
    let (resources, _) = support::resources("clean-org.json").unwrap();
    let without: Vec<Resource> = resources
        .into_iter()
        .filter(|r| r.kind.as_str() != "log_stream")
        .collect();
    let (source, snapshot) = support::build(without, &meta).unwrap();
    let report = block_on(evaluate(
        &source,
        &snapshot,
        &[Framework::Stig],
        GENERATED_AT,
    ))
    .unwrap();
    assert_eq!(
        result(&report, Framework::Stig, "logging.log_streaming").status,
        Status::Fail
    );
}

#[test]
fn trend_reports_what_newly_fails_and_what_was_fixed() {
    let before = report("clean-org.json");
    let (mut resources, meta) = support::resources("clean-org.json").unwrap();
    for r in &mut resources {
        if r.kind.as_str() == "policy.PASSWORD" {
            r.attributes["settings"]["password"]["complexity"]["minLength"] = json!(8);
        }
    }
    let (source, snapshot) = support::build(resources, &meta).unwrap();
    let after = block_on(evaluate(&source, &snapshot, &Framework::ALL, GENERATED_AT)).unwrap();

    let worse = trend(&before, &after);
    let newly: Vec<(Framework, &str)> = worse
        .newly_failing
        .iter()
        .map(|i| (i.framework, i.check_id.as_str()))
        .collect();
    let expected: Vec<(Framework, &str)> = Framework::ALL
        .iter()
        .map(|&f| (f, "password.min_length"))
        .collect();
    assert_eq!(newly, expected);
    assert!(worse.fixed.is_empty());
    assert_eq!(worse.newly_failing[0].before, Some(Status::Pass));

    let better = trend(&after, &before);
    assert_eq!(better.fixed.len(), 7);
    assert!(better.newly_failing.is_empty());
    assert_eq!(better.still_failing, 0);
}

#[test]
fn a_damaged_snapshot_is_an_error_not_a_partial_report() {
    let (resources, meta) = support::resources("clean-org.json").unwrap();
    let policy = resources
        .iter()
        .find(|r| r.kind.as_str() == "policy.PASSWORD")
        .unwrap()
        .digest();
    let (mut source, snapshot): (InMemorySnapshotSource, _) =
        support::build(resources, &meta).unwrap();
    assert!(source.remove_object(&policy));
    let err = block_on(evaluate(
        &source,
        &snapshot,
        &[Framework::Soc2],
        GENERATED_AT,
    ))
    .unwrap_err();
    assert!(matches!(err, Error::Source(_)), "{err}");

    let (source, snapshot) = support::load("clean-org.json").unwrap();
    let err = block_on(evaluate(
        &source,
        &snapshot,
        &[Framework::Soc2],
        "yesterday",
    ))
    .unwrap_err();
    assert!(matches!(err, Error::InvalidTime(_)));
}

#[test]
fn only_the_frameworks_asked_for_are_reported() {
    let (source, snapshot) = support::load("misconfigured-org.json").unwrap();
    let report = block_on(evaluate(
        &source,
        &snapshot,
        &[Framework::Stig, Framework::Hipaa, Framework::Stig],
        GENERATED_AT,
    ))
    .unwrap();
    let frameworks: Vec<Framework> = report.summaries.iter().map(|s| s.framework).collect();
    assert_eq!(frameworks, [Framework::Hipaa, Framework::Stig]);
    assert!(
        report
            .results
            .iter()
            .all(|r| frameworks.contains(&r.framework))
    );
    // Password-only sign-on (HIPAA) and the Admin Console without MFA (STIG).
    assert_eq!(
        report
            .failures_at_or_above(butterfly_compliance::Severity::Critical)
            .count(),
        2
    );
}

#[test]
fn evidence_is_capped_and_the_rest_counted() {
    // 1000 generated users: every tenth dormant, every fiftieth deprovisioned, so 80
    // enabled dormant users (plus the fixture's own active user, who is not dormant).
    let (source, snapshot) = support::large_org(1000).unwrap();
    let report = block_on(evaluate(
        &source,
        &snapshot,
        &[Framework::Soc2],
        GENERATED_AT,
    ))
    .unwrap();
    let dormant = result(&report, Framework::Soc2, "lifecycle.inactive_users");
    assert_eq!(dormant.status, Status::Fail);
    assert_eq!(dormant.message, "80 of 981 enabled users do not comply");
    assert_eq!(dormant.evidence.len(), butterfly_compliance::EVIDENCE_LIMIT);
    assert_eq!(dormant.evidence_omitted, 55);
    assert_eq!(dormant.evidence[0].id, "00u00000010");
}
