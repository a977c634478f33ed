//! The logic of each check: a function from the org's resources and the threshold a
//! framework applies to an [`Outcome`]. The catalogue (`catalogue.rs`) names these.
//!
//! Resources are Okta's JSON as the backup stored it. Okta leaves fields out when they
//! hold defaults, so a missing field is read as Okta's default where that is documented
//! (a missing `usePersistentCookie` is `false`) and as non-compliant where the default
//! is the weak setting (a missing `minLength` fails).

use std::collections::{BTreeMap, BTreeSet};

use butterfly_core::{Resource, Snapshot};
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::evaluate::EVIDENCE_LIMIT;

pub(crate) mod entra;
use crate::model::Evidence;

/// A check's logic. The threshold is the framework's (or the check's default).
pub(crate) type Rule = fn(&OrgView<'_>, Option<i64>) -> Outcome;

/// What one rule found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Pass {
        message: String,
        evidence: Vec<Evidence>,
        omitted: u64,
    },
    Fail {
        message: String,
        evidence: Vec<Evidence>,
        omitted: u64,
    },
    NotApplicable {
        reason: String,
    },
}

impl Outcome {
    /// `Pass` when `passed`, else `Fail`, with the same message and evidence either way.
    pub(crate) fn judged(
        passed: bool,
        message: String,
        evidence: Vec<Evidence>,
        omitted: u64,
    ) -> Outcome {
        if passed {
            Outcome::Pass {
                message,
                evidence,
                omitted,
            }
        } else {
            Outcome::Fail {
                message,
                evidence,
                omitted,
            }
        }
    }
}

/// The resources of the kinds the catalogue reads, loaded once per evaluation.
#[derive(Debug)]
pub(crate) struct OrgView<'a> {
    pub(crate) snapshot: &'a Snapshot,
    /// Every kind read but `user`, whole.
    pub(crate) resources: BTreeMap<String, Vec<Resource>>,
    /// Users, as the few fields the rules read (see [`UserFacts`]).
    pub(crate) users: Vec<UserFacts>,
    pub(crate) taken_at: DateTime<Utc>,
}

/// The kinds whose bodies the rules read. Assignment kinds are read from the manifest
/// (ids only), so they are not listed; users are read into [`UserFacts`].
pub(crate) const KINDS_READ: &[&str] = &[
    "app",
    "authenticator",
    "client_role_assignment",
    "event_hook",
    "group_role_assignment",
    "log_stream",
    "network_zone",
    "policy.ACCESS_POLICY",
    "policy.MFA_ENROLL",
    "policy.PASSWORD",
    "policy_rule.ACCESS_POLICY",
    "policy_rule.OKTA_SIGN_ON",
    "threat_insight_setting",
    "user",
    "user_role_assignment",
];

impl OrgView<'_> {
    fn of(&self, kind: &str) -> &[Resource] {
        self.resources
            .get(kind)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Why the snapshot has nothing of `kind` when the backup says it skipped it.
    fn skipped(&self, kind: &str) -> Option<String> {
        let marker = format!("kind `{kind}` ");
        self.snapshot
            .warnings
            .iter()
            .find(|w| w.contains(&marker))
            .map(|w| format!("the backup did not capture {kind} ({w})"))
    }

    fn none_reason(&self, kind: &str, what: &str) -> String {
        self.skipped(kind)
            .unwrap_or_else(|| format!("the snapshot holds no {what} ({kind})"))
    }

    /// Resource ids of `kind` from the manifest, without reading their bodies.
    fn manifest_ids(&self, kind: &str) -> impl Iterator<Item = &str> {
        self.snapshot
            .kinds
            .iter()
            .filter(move |(k, _)| k.as_str() == kind)
            .flat_map(|(_, entries)| entries.iter().map(|e| e.id.as_str()))
    }
}

// --- reading JSON -----------------------------------------------------------------

fn at<'v>(value: &'v Value, dotted: &str) -> Option<&'v Value> {
    dotted
        .split('.')
        .try_fold(value, |v, key| v.get(key))
        .filter(|v| !v.is_null())
}

fn int(r: &Resource, dotted: &str) -> Option<i64> {
    at(&r.attributes, dotted).and_then(Value::as_i64)
}

fn text<'r>(r: &'r Resource, dotted: &str) -> Option<&'r str> {
    at(&r.attributes, dotted).and_then(Value::as_str)
}

fn flag(r: &Resource, dotted: &str) -> Option<bool> {
    at(&r.attributes, dotted).and_then(Value::as_bool)
}

/// Okta lists inactive objects too; a missing status counts as active.
fn active(r: &Resource) -> bool {
    text(r, "status").is_none_or(|s| s == "ACTIVE")
}

fn display_name(r: &Resource) -> Option<String> {
    [
        "label",
        "name",
        "profile.login",
        "profile.email",
        "key",
        // Graph's names (Entra ID).
        "userPrincipalName",
        "displayName",
        "principalDisplayName",
    ]
    .iter()
    .find_map(|f| text(r, f))
    .map(str::to_owned)
}

/// Something a rule judges and shows as evidence: a whole resource, or a user's facts.
trait Judged {
    fn evidence(&self, fields: &[&str]) -> Evidence;
}

impl Judged for Resource {
    fn evidence(&self, fields: &[&str]) -> Evidence {
        evidence(self, fields)
    }
}

fn evidence(r: &Resource, fields: &[&str]) -> Evidence {
    Evidence {
        kind: r.kind.as_str().to_owned(),
        id: r.id.clone(),
        name: display_name(r),
        observed: fields
            .iter()
            .map(|f| {
                (
                    (*f).to_owned(),
                    at(&r.attributes, f).cloned().unwrap_or(Value::Null),
                )
            })
            .collect(),
    }
}

/// Evidence for the first [`EVIDENCE_LIMIT`] resources, and how many more there were:
/// a 50K-user org must not build 50K evidence entries to show 25.
fn capped<'r, T: Judged + 'r>(
    resources: impl IntoIterator<Item = &'r T>,
    fields: &[&str],
) -> (Vec<Evidence>, u64) {
    let mut shown = Vec::new();
    let mut omitted = 0u64;
    for r in resources {
        if shown.len() < EVIDENCE_LIMIT {
            shown.push(r.evidence(fields));
        } else {
            omitted += 1;
        }
    }
    (shown, omitted)
}

fn threshold(t: Option<i64>) -> i64 {
    // The catalogue gives every thresholded check a default; 0 never satisfies.
    t.unwrap_or(0)
}

/// Every selected resource of `kind` must satisfy `ok`.
fn each(
    view: &OrgView<'_>,
    kind: &str,
    what: &str,
    select: impl Fn(&Resource) -> bool,
    fields: &[&str],
    ok: impl Fn(&Resource) -> bool,
) -> Outcome {
    let selected: Vec<&Resource> = view.of(kind).iter().filter(|r| select(r)).collect();
    judge(view, kind, what, &selected, fields, ok)
}

fn judge<T: Judged>(
    view: &OrgView<'_>,
    kind: &str,
    what: &str,
    selected: &[&T],
    fields: &[&str],
    ok: impl Fn(&T) -> bool,
) -> Outcome {
    if selected.is_empty() {
        return Outcome::NotApplicable {
            reason: view.none_reason(kind, what),
        };
    }
    let failing: Vec<&T> = selected.iter().copied().filter(|r| !ok(r)).collect();
    if failing.is_empty() {
        let (evidence, omitted) = capped(selected.iter().copied(), fields);
        Outcome::Pass {
            message: format!("all {} {what} comply", selected.len()),
            evidence,
            omitted,
        }
    } else {
        let (evidence, omitted) = capped(failing.iter().copied(), fields);
        Outcome::Fail {
            message: format!(
                "{} of {} {what} do not comply",
                failing.len(),
                selected.len()
            ),
            evidence,
            omitted,
        }
    }
}

/// At least one resource of `kind` must satisfy `good`.
fn any(
    view: &OrgView<'_>,
    kind: &str,
    what: &str,
    fields: &[&str],
    good: impl Fn(&Resource) -> bool,
) -> Outcome {
    if view.of(kind).is_empty()
        && let Some(reason) = view.skipped(kind)
    {
        return Outcome::NotApplicable { reason };
    }
    let found: Vec<&Resource> = view.of(kind).iter().filter(|r| good(r)).collect();
    if found.is_empty() {
        let (evidence, omitted) = capped(view.of(kind), fields);
        Outcome::Fail {
            message: format!("no {what} found among {} {kind}", view.of(kind).len()),
            evidence,
            omitted,
        }
    } else {
        let (evidence, omitted) = capped(found.iter().copied(), fields);
        Outcome::Pass {
            message: format!("{} {what} found", found.len()),
            evidence,
            omitted,
        }
    }
}

/// No resource of `kind` may match `bad`; an empty kind passes unless it was skipped.
fn none(
    view: &OrgView<'_>,
    kind: &str,
    what: &str,
    fields: &[&str],
    bad: impl Fn(&Resource) -> bool,
) -> Outcome {
    if view.of(kind).is_empty()
        && let Some(reason) = view.skipped(kind)
    {
        return Outcome::NotApplicable { reason };
    }
    let found: Vec<&Resource> = view.of(kind).iter().filter(|r| bad(r)).collect();
    if found.is_empty() {
        Outcome::Pass {
            message: format!("no {what} among {} {kind}", view.of(kind).len()),
            evidence: Vec::new(),
            omitted: 0,
        }
    } else {
        let (evidence, omitted) = capped(found.iter().copied(), fields);
        Outcome::Fail {
            message: format!("{} {what} found", found.len()),
            evidence,
            omitted,
        }
    }
}

// --- passwords --------------------------------------------------------------------

const PASSWORD: &str = "policy.PASSWORD";
const PASSWORD_POLICIES: &str = "active password policies";

fn password_rule(view: &OrgView<'_>, field: &str, ok: impl Fn(Option<i64>) -> bool) -> Outcome {
    each(view, PASSWORD, PASSWORD_POLICIES, active, &[field], |r| {
        ok(int(r, field))
    })
}

pub(crate) fn min_length(view: &OrgView<'_>, t: Option<i64>) -> Outcome {
    let t = threshold(t);
    password_rule(view, "settings.password.complexity.minLength", |n| {
        n.is_some_and(|n| n >= t)
    })
}

pub(crate) fn uppercase(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    password_rule(view, "settings.password.complexity.minUpperCase", |n| {
        n.is_some_and(|n| n >= 1)
    })
}

pub(crate) fn lowercase(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    password_rule(view, "settings.password.complexity.minLowerCase", |n| {
        n.is_some_and(|n| n >= 1)
    })
}

pub(crate) fn number(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    password_rule(view, "settings.password.complexity.minNumber", |n| {
        n.is_some_and(|n| n >= 1)
    })
}

pub(crate) fn symbol(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    password_rule(view, "settings.password.complexity.minSymbol", |n| {
        n.is_some_and(|n| n >= 1)
    })
}

pub(crate) fn password_history(view: &OrgView<'_>, t: Option<i64>) -> Outcome {
    let t = threshold(t);
    password_rule(view, "settings.password.age.historyCount", |n| {
        n.is_some_and(|n| n >= t)
    })
}

pub(crate) fn max_age(view: &OrgView<'_>, t: Option<i64>) -> Outcome {
    let t = threshold(t);
    // 0 means passwords never expire.
    password_rule(view, "settings.password.age.maxAgeDays", |n| {
        n.is_some_and(|n| (1..=t).contains(&n))
    })
}

pub(crate) fn min_age(view: &OrgView<'_>, t: Option<i64>) -> Outcome {
    let t = threshold(t);
    password_rule(view, "settings.password.age.minAgeMinutes", |n| {
        n.is_some_and(|n| n >= t)
    })
}

pub(crate) fn lockout(view: &OrgView<'_>, t: Option<i64>) -> Outcome {
    let t = threshold(t);
    // 0 (or no value) means no lockout at all.
    password_rule(view, "settings.password.lockout.maxAttempts", |n| {
        n.is_some_and(|n| (1..=t).contains(&n))
    })
}

pub(crate) fn lockout_duration(view: &OrgView<'_>, t: Option<i64>) -> Outcome {
    let t = threshold(t);
    // 0 or no value: the account stays locked until an admin or a verified self-service
    // unlock releases it, which is stronger than any timed unlock.
    password_rule(view, "settings.password.lockout.autoUnlockMinutes", |n| {
        n.is_none_or(|n| n == 0 || n >= t)
    })
}

pub(crate) fn common_passwords(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    let field = "settings.password.complexity.dictionary.common.exclude";
    each(view, PASSWORD, PASSWORD_POLICIES, active, &[field], |r| {
        flag(r, field) == Some(true)
    })
}

// --- global sessions --------------------------------------------------------------

const SIGN_ON_RULE: &str = "policy_rule.OKTA_SIGN_ON";
const SIGN_ON_RULES: &str = "active global session rules that allow access";

fn allows_sign_on(r: &Resource) -> bool {
    active(r) && text(r, "actions.signon.access").is_none_or(|a| a == "ALLOW")
}

fn session_rule(view: &OrgView<'_>, field: &str, ok: impl Fn(&Resource) -> bool) -> Outcome {
    each(
        view,
        SIGN_ON_RULE,
        SIGN_ON_RULES,
        allows_sign_on,
        &["name", field],
        ok,
    )
}

pub(crate) fn sign_on_requires_factor(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    let field = "actions.signon.requireFactor";
    session_rule(view, field, |r| flag(r, field) == Some(true))
}

pub(crate) fn idle_timeout(view: &OrgView<'_>, t: Option<i64>) -> Outcome {
    let t = threshold(t);
    let field = "actions.signon.session.maxSessionIdleMinutes";
    session_rule(view, field, |r| {
        int(r, field).is_some_and(|n| (1..=t).contains(&n))
    })
}

pub(crate) fn max_lifetime(view: &OrgView<'_>, t: Option<i64>) -> Outcome {
    let t = threshold(t);
    // 0 means the session never expires.
    let field = "actions.signon.session.maxSessionLifetimeMinutes";
    session_rule(view, field, |r| {
        int(r, field).is_some_and(|n| (1..=t).contains(&n))
    })
}

pub(crate) fn persistent_cookie(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    let field = "actions.signon.session.usePersistentCookie";
    session_rule(view, field, |r| flag(r, field) != Some(true))
}

// --- MFA --------------------------------------------------------------------------

pub(crate) fn enrollment_required(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    each(
        view,
        "policy.MFA_ENROLL",
        "active authenticator enrollment policies",
        active,
        &["name", "settings.authenticators", "settings.factors"],
        |r| {
            let required =
                |v: &Value| at(v, "enroll.self").and_then(Value::as_str) == Some("REQUIRED");
            let authenticators = at(&r.attributes, "settings.authenticators")
                .and_then(Value::as_array)
                .is_some_and(|list| {
                    list.iter().any(|a| {
                        at(a, "key").and_then(Value::as_str) != Some("okta_password") && required(a)
                    })
                });
            // Classic Engine orgs list factors by name instead.
            let factors = at(&r.attributes, "settings.factors")
                .and_then(Value::as_object)
                .is_some_and(|map| {
                    map.iter()
                        .any(|(name, f)| name != "okta_password" && required(f))
                });
            authenticators || factors
        },
    )
}

const ACCESS_POLICY: &str = "policy.ACCESS_POLICY";
const ACCESS_RULE: &str = "policy_rule.ACCESS_POLICY";

/// The policy id a rule belongs to, when the stored rule still says so: a `policyId`
/// field, or Okta's `_links.self.href` (`.../policies/{id}/rules/{ruleId}`).
fn rule_policy_id(r: &Resource) -> Option<&str> {
    text(r, "policyId").or_else(|| {
        let href = at(&r.attributes, "_links")
            .and_then(|l| at(l, "self.href"))
            .and_then(Value::as_str)?;
        let (_, rest) = href.split_once("/policies/")?;
        rest.split('/').next()
    })
}

/// The allow rules of the authentication policy of a first-party app (`saasure` is the
/// Admin Console, `okta_enduser` the Dashboard), or why they cannot be found.
fn first_party_rules<'v>(
    view: &'v OrgView<'_>,
    app_name: &str,
    policy_name: &str,
) -> Result<Vec<&'v Resource>, String> {
    let linked = view
        .of("app")
        .iter()
        .find(|a| text(a, "name") == Some(app_name))
        .and_then(|a| {
            at(&a.attributes, "_links")
                .and_then(|l| at(l, "accessPolicy.href"))
                .and_then(Value::as_str)
                .and_then(|href| href.rsplit('/').next())
                .map(str::to_owned)
        });
    let policy = view.of(ACCESS_POLICY).iter().find(|p| match &linked {
        Some(id) => &p.id == id,
        None => text(p, "name").is_some_and(|n| n.eq_ignore_ascii_case(policy_name)),
    });
    let Some(policy) = policy else {
        return Err(view.skipped(ACCESS_POLICY).unwrap_or_else(|| {
            format!("the snapshot holds no authentication policy for the {policy_name} app")
        }));
    };
    let all_rules = view.of(ACCESS_RULE);
    let rules: Vec<&Resource> = all_rules
        .iter()
        .filter(|r| rule_policy_id(r) == Some(policy.id.as_str()))
        .collect();
    if rules.is_empty() {
        return Err(if all_rules.iter().any(|r| rule_policy_id(r).is_some()) {
            format!("the {policy_name} policy ({}) has no rules", policy.id)
        } else {
            format!(
                "the snapshot's {ACCESS_RULE} resources do not record which policy they belong to, so the rules of the {policy_name} policy ({}) cannot be told apart",
                policy.id
            )
        });
    }
    Ok(rules
        .into_iter()
        .filter(|r| active(r) && text(r, "actions.appSignOn.access").is_none_or(|a| a == "ALLOW"))
        .collect())
}

fn first_party_check(
    view: &OrgView<'_>,
    app_name: &str,
    policy_name: &str,
    fields: &[&str],
    ok: impl Fn(&Resource) -> bool,
) -> Outcome {
    match first_party_rules(view, app_name, policy_name) {
        Err(reason) => Outcome::NotApplicable { reason },
        Ok(rules) => judge(
            view,
            ACCESS_RULE,
            &format!("active {policy_name} rules that allow access"),
            &rules,
            fields,
            ok,
        ),
    }
}

const FACTOR_MODE: &str = "actions.appSignOn.verificationMethod.factorMode";
const CONSTRAINTS: &str = "actions.appSignOn.verificationMethod.constraints";

fn requires_two_factors(r: &Resource) -> bool {
    text(r, FACTOR_MODE) == Some("2FA")
}

fn phishing_resistant(r: &Resource) -> bool {
    // Each constraint is an alternative way to satisfy the rule: all must demand it.
    at(&r.attributes, CONSTRAINTS)
        .and_then(Value::as_array)
        .is_some_and(|list| {
            !list.is_empty()
                && list.iter().all(|c| {
                    at(c, "possession.phishingResistant").and_then(Value::as_str)
                        == Some("REQUIRED")
                })
        })
}

pub(crate) fn admin_console_mfa(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    first_party_check(
        view,
        "saasure",
        "Okta Admin Console",
        &["name", FACTOR_MODE],
        requires_two_factors,
    )
}

pub(crate) fn admin_console_phishing_resistant(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    first_party_check(
        view,
        "saasure",
        "Okta Admin Console",
        &["name", CONSTRAINTS],
        phishing_resistant,
    )
}

pub(crate) fn dashboard_mfa(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    first_party_check(
        view,
        "okta_enduser",
        "Okta Dashboard",
        &["name", FACTOR_MODE],
        requires_two_factors,
    )
}

pub(crate) fn dashboard_phishing_resistant(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    first_party_check(
        view,
        "okta_enduser",
        "Okta Dashboard",
        &["name", CONSTRAINTS],
        phishing_resistant,
    )
}

pub(crate) fn admin_console_ip_restricted(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    first_party_check(
        view,
        "saasure",
        "Okta Admin Console",
        &[
            "name",
            "conditions.network.connection",
            "conditions.network.include",
        ],
        |r| {
            text(r, "conditions.network.connection") == Some("ZONE")
                && at(&r.attributes, "conditions.network.include")
                    .and_then(Value::as_array)
                    .is_some_and(|zones| !zones.is_empty())
        },
    )
}

const AUTHENTICATOR: &str = "authenticator";

fn authenticator_is(r: &Resource, keys: &[&str]) -> bool {
    active(r) && text(r, "key").is_some_and(|k| keys.contains(&k))
}

pub(crate) fn strong_authenticator(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    if view.of(AUTHENTICATOR).is_empty() {
        return Outcome::NotApplicable {
            reason: view.none_reason(AUTHENTICATOR, "authenticators"),
        };
    }
    any(
        view,
        AUTHENTICATOR,
        "active phishing-resistant authenticator (webauthn, smart_card_idp, okta_verify)",
        &["key", "status"],
        |r| authenticator_is(r, &["webauthn", "smart_card_idp", "okta_verify"]),
    )
}

pub(crate) fn smart_card(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    if view.of(AUTHENTICATOR).is_empty() {
        return Outcome::NotApplicable {
            reason: view.none_reason(AUTHENTICATOR, "authenticators"),
        };
    }
    any(
        view,
        AUTHENTICATOR,
        "active smart card authenticator",
        &["key", "status"],
        |r| authenticator_is(r, &["smart_card_idp"]),
    )
}

pub(crate) fn weak_factors_disabled(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    if view.of(AUTHENTICATOR).is_empty() {
        return Outcome::NotApplicable {
            reason: view.none_reason(AUTHENTICATOR, "authenticators"),
        };
    }
    none(
        view,
        AUTHENTICATOR,
        "active weak authenticators (phone_number, security_question)",
        &["key", "status"],
        |r| authenticator_is(r, &["phone_number", "security_question"]),
    )
}

// --- admins -----------------------------------------------------------------------

fn super_admin(r: &Resource) -> bool {
    active(r) && text(r, "type") == Some("SUPER_ADMIN")
}

pub(crate) fn super_admin_count(view: &OrgView<'_>, t: Option<i64>) -> Outcome {
    let kind = "user_role_assignment";
    let t = threshold(t);
    let held: Vec<&Resource> = view
        .of(kind)
        .iter()
        // A user's role list repeats roles held through groups; count direct grants.
        .filter(|r| super_admin(r) && text(r, "assignmentType") != Some("GROUP"))
        .collect();
    if held.is_empty() {
        return Outcome::NotApplicable {
            reason: view.none_reason(kind, "direct Super Administrator role assignments"),
        };
    }
    let fields = ["label", "type", "assignmentType"];
    let count = i64::try_from(held.len()).unwrap_or(i64::MAX);
    let (evidence, omitted) = capped(held.iter().copied(), &fields);
    let message = format!("{count} users hold Super Administrator directly");
    Outcome::judged(count <= t, message, evidence, omitted)
}

pub(crate) fn super_admin_via_group(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    none(
        view,
        "group_role_assignment",
        "Super Administrator grants to groups",
        &["label", "type"],
        super_admin,
    )
}

pub(crate) fn service_app_super_admin(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    none(
        view,
        "client_role_assignment",
        "Super Administrator grants to service apps",
        &["label", "type", "assignmentType"],
        super_admin,
    )
}

// --- network ----------------------------------------------------------------------

const ZONE: &str = "network_zone";

pub(crate) fn zones_defined(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    any(
        view,
        ZONE,
        "active IP policy zone with gateways",
        &["name", "type", "usage", "status"],
        |r| {
            active(r)
                && text(r, "type") == Some("IP")
                && text(r, "usage").is_none_or(|u| u == "POLICY")
                && at(&r.attributes, "gateways")
                    .and_then(Value::as_array)
                    .is_some_and(|g| !g.is_empty())
        },
    )
}

pub(crate) fn blocklist_zone(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    any(
        view,
        ZONE,
        "active blocklist zone",
        &["name", "type", "usage", "status"],
        |r| active(r) && text(r, "usage") == Some("BLOCKLIST"),
    )
}

pub(crate) fn threat_insight_blocks(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    each(
        view,
        "threat_insight_setting",
        "ThreatInsight settings",
        |_| true,
        &["action"],
        |r| text(r, "action") == Some("block"),
    )
}

// --- lifecycle --------------------------------------------------------------------

const USER: &str = "user";

/// A point in time to compare Okta timestamps with, also spelled the way Okta writes
/// them (`2026-11-30T00:00:00.000Z`, rounded up to the millisecond): equal-shaped UTC
/// strings compare like the times they name, so the tens of thousands of user
/// timestamps of a large org need no parsing. Other shapes are parsed.
struct Cutoff {
    time: DateTime<Utc>,
    text: Option<String>,
}

impl Cutoff {
    fn days_before(view: &OrgView<'_>, days: i64) -> Self {
        let time = view.taken_at - chrono::TimeDelta::days(days);
        let below_ms = time.nanosecond() % 1_000_000;
        let up = if below_ms == 0 {
            0
        } else {
            1_000_000 - below_ms
        };
        let rounded = time + chrono::TimeDelta::nanoseconds(i64::from(up));
        let text = (0..=9999).contains(&rounded.year()).then(|| {
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                rounded.year(),
                rounded.month(),
                rounded.day(),
                rounded.hour(),
                rounded.minute(),
                rounded.second(),
                rounded.timestamp_subsec_millis()
            )
        });
        Cutoff { time, text }
    }

    /// Whether `stamp` is at or after the cutoff; `None` when it is not a time.
    fn reached_by(&self, stamp: &str) -> Option<bool> {
        match &self.text {
            Some(text) if okta_utc_shape(stamp) => Some(stamp >= text.as_str()),
            _ => butterfly_core::rfc3339::parse(stamp)
                .ok()
                .map(|t| t >= self.time),
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.sssZ`, the shape Okta writes every timestamp in.
fn okta_utc_shape(stamp: &str) -> bool {
    let b = stamp.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// What the rules know of one user: the fields they read, and nothing else. Users are the
/// one kind that grows with the org (tens of thousands of bodies), so evaluation reads
/// each body once, borrowed from the source where it can be
/// ([`SnapshotSource::visit_kind`](butterfly_core::source::SnapshotSource::visit_kind)),
/// and keeps these few values instead of the whole body: about five small allocations a
/// user instead of a copy of every profile field. A rule that reads another user field
/// must add it here.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UserFacts {
    id: String,
    /// What [`display_name`] gives for the body (`profile.login` for Okta users).
    name: Option<String>,
    status: Option<Value>,
    created: Option<Value>,
    last_login: Option<Value>,
}

/// The user fields the rules read, borrowed from the stored body: deserializing this
/// walks the body's keys once and copies nothing but the strings kept, where looking
/// each field up would search the map once per field. Every other field is skipped.
#[derive(Deserialize)]
struct UserBody<'a> {
    #[serde(borrow)]
    status: Option<&'a str>,
    #[serde(borrow)]
    created: Option<&'a str>,
    #[serde(borrow, rename = "lastLogin")]
    last_login: Option<&'a str>,
    // What display_name reads, in its order of preference.
    #[serde(borrow)]
    label: Option<&'a str>,
    #[serde(borrow)]
    name: Option<&'a str>,
    #[serde(borrow)]
    profile: Option<UserProfile<'a>>,
    #[serde(borrow)]
    key: Option<&'a str>,
}

#[derive(Deserialize)]
struct UserProfile<'a> {
    #[serde(borrow)]
    login: Option<&'a str>,
    #[serde(borrow)]
    email: Option<&'a str>,
}

impl UserFacts {
    /// The facts of the user with `id` and body `body`. Values are kept as JSON, so
    /// evidence shows what was stored, as for any other kind.
    pub(crate) fn of(id: &str, body: &Value) -> Self {
        let text = |s: Option<&str>| s.map(|s| Value::String(s.to_owned()));
        if let Ok(user) = UserBody::deserialize(body) {
            let profile = user.profile.as_ref();
            UserFacts {
                id: id.to_owned(),
                name: user
                    .label
                    .or(user.name)
                    .or_else(|| profile.and_then(|p| p.login))
                    .or_else(|| profile.and_then(|p| p.email))
                    .or(user.key)
                    .map(str::to_owned),
                status: text(user.status),
                created: text(user.created),
                last_login: text(user.last_login),
            }
        } else {
            // A field of an unexpected type (a number for a status...): read field by
            // field, keeping whatever was stored.
            let field = |name: &str| body.get(name).filter(|v| !v.is_null()).cloned();
            UserFacts {
                id: id.to_owned(),
                name: ["label", "name", "profile.login", "profile.email", "key"]
                    .iter()
                    .find_map(|f| at(body, f).and_then(Value::as_str))
                    .map(str::to_owned),
                status: field("status"),
                created: field("created"),
                last_login: field("lastLogin"),
            }
        }
    }

    fn status(&self) -> Option<&str> {
        self.status.as_ref().and_then(Value::as_str)
    }

    fn created(&self) -> Option<&str> {
        self.created.as_ref().and_then(Value::as_str)
    }

    fn last_login(&self) -> Option<&str> {
        self.last_login.as_ref().and_then(Value::as_str)
    }
}

impl Judged for UserFacts {
    fn evidence(&self, fields: &[&str]) -> Evidence {
        Evidence {
            kind: USER.to_owned(),
            id: self.id.clone(),
            name: self.name.clone(),
            observed: fields
                .iter()
                .map(|&f| {
                    let value = match f {
                        "status" => self.status.as_ref(),
                        "created" => self.created.as_ref(),
                        "lastLogin" => self.last_login.as_ref(),
                        _ => None,
                    };
                    (f.to_owned(), value.cloned().unwrap_or(Value::Null))
                })
                .collect(),
        }
    }
}

/// [`each`] over users.
fn each_user(
    view: &OrgView<'_>,
    what: &str,
    select: impl Fn(&UserFacts) -> bool,
    fields: &[&str],
    ok: impl Fn(&UserFacts) -> bool,
) -> Outcome {
    let selected: Vec<&UserFacts> = view.users.iter().filter(|u| select(u)).collect();
    judge(view, USER, what, &selected, fields, ok)
}

fn enabled(u: &UserFacts) -> bool {
    u.status()
        .is_some_and(|s| matches!(s, "ACTIVE" | "PASSWORD_EXPIRED" | "LOCKED_OUT" | "RECOVERY"))
}

pub(crate) fn inactive_users(view: &OrgView<'_>, t: Option<i64>) -> Outcome {
    let cutoff = Cutoff::days_before(view, threshold(t));
    each_user(
        view,
        "enabled users",
        enabled,
        &["status", "lastLogin", "created"],
        // Never signed in: the account's age counts instead. No time at all: not held
        // against the user.
        |u| {
            u.last_login()
                .or_else(|| u.created())
                .and_then(|stamp| cutoff.reached_by(stamp))
                .unwrap_or(true)
        },
    )
}

pub(crate) fn pending_accounts(view: &OrgView<'_>, t: Option<i64>) -> Outcome {
    let cutoff = Cutoff::days_before(view, threshold(t));
    if view.users.is_empty() {
        return Outcome::NotApplicable {
            reason: view.none_reason(USER, "users"),
        };
    }
    let pending = |u: &UserFacts| matches!(u.status(), Some("STAGED" | "PROVISIONED"));
    match each_user(
        view,
        "users waiting for activation",
        pending,
        &["status", "created"],
        |u| {
            u.created()
                .and_then(|stamp| cutoff.reached_by(stamp))
                .unwrap_or(true)
        },
    ) {
        // No one waiting is a pass, not a gap in the snapshot.
        Outcome::NotApplicable { .. } => Outcome::Pass {
            message: "no users waiting for activation".to_owned(),
            evidence: Vec::new(),
            omitted: 0,
        },
        outcome => outcome,
    }
}

/// Okta's own apps, which every org has and nobody is assigned to directly.
const FIRST_PARTY_APPS: &[&str] = &[
    "saasure",
    "okta_enduser",
    "okta_browser_plugin",
    "okta_flow_sso",
    "flow",
];

pub(crate) fn unassigned_apps(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    let kinds = ["app_user_assignment", "app_group_assignment"];
    if let Some(reason) = kinds.iter().find_map(|k| view.skipped(k)) {
        return Outcome::NotApplicable { reason };
    }
    let assigned: BTreeSet<&str> = kinds
        .iter()
        .flat_map(|k| view.manifest_ids(k))
        .filter_map(|id| id.split('/').next())
        .collect();
    each(
        view,
        "app",
        "active apps",
        |r| active(r) && !text(r, "name").is_some_and(|n| FIRST_PARTY_APPS.contains(&n)),
        &["label", "signOnMode"],
        |r| assigned.contains(r.id.as_str()),
    )
}

// --- logging ----------------------------------------------------------------------

pub(crate) fn log_streaming(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    any(
        view,
        "log_stream",
        "active log stream",
        &["name", "type", "status"],
        active,
    )
}

pub(crate) fn event_hooks_https(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    let uri = "channel.config.uri";
    each(
        view,
        "event_hook",
        "active event hooks",
        active,
        &["name", uri, "verificationStatus"],
        |r| {
            text(r, uri).is_some_and(|u| u.starts_with("https://"))
                && text(r, "verificationStatus") == Some("VERIFIED")
        },
    )
}

// --- apps -------------------------------------------------------------------------

fn oidc(r: &Resource) -> bool {
    active(r) && text(r, "signOnMode") == Some("OPENID_CONNECT")
}

pub(crate) fn implicit_grant(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    let field = "settings.oauthClient.grant_types";
    each(
        view,
        "app",
        "active OIDC apps",
        oidc,
        &["label", field],
        |r| {
            !at(&r.attributes, field)
                .and_then(Value::as_array)
                .is_some_and(|g| g.iter().any(|v| v.as_str() == Some("implicit")))
        },
    )
}

pub(crate) fn wildcard_redirect(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    let uris = "settings.oauthClient.redirect_uris";
    let wildcard = "settings.oauthClient.wildcard_redirect";
    each(
        view,
        "app",
        "active OIDC apps",
        oidc,
        &["label", uris, wildcard],
        |r| {
            text(r, wildcard).is_none_or(|w| w == "DISABLED")
                && !at(&r.attributes, uris)
                    .and_then(Value::as_array)
                    .is_some_and(|u| {
                        u.iter()
                            .any(|v| v.as_str().is_some_and(|s| s.contains('*')))
                    })
        },
    )
}

pub(crate) fn saml_signed_assertions(view: &OrgView<'_>, _: Option<i64>) -> Outcome {
    let field = "settings.signOn.assertionSigned";
    each(
        view,
        "app",
        "active SAML apps",
        |r| active(r) && text(r, "signOnMode") == Some("SAML_2_0"),
        &["label", field, "settings.signOn.responseSigned"],
        // Catalogue (OIN) apps do not expose the setting and always sign.
        |r| flag(r, field) != Some(false),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn okta_timestamps_compare_as_text_exactly_like_parsed_times() {
        let base = butterfly_core::rfc3339::parse("2026-11-30T00:00:00.000400Z").unwrap();
        let parsed_only = Cutoff {
            time: base,
            text: None,
        };
        let snapshot = Snapshot::begin(butterfly_core::ProviderKind::Okta, "o", base);
        let view = OrgView {
            snapshot: &snapshot,
            resources: BTreeMap::new(),
            users: Vec::new(),
            taken_at: base + chrono::TimeDelta::days(1),
        };
        let fast = Cutoff::days_before(&view, 1);
        // Rounded up to the millisecond: a stamp 0.4 ms before the cutoff stays before.
        assert_eq!(fast.text.as_deref(), Some("2026-11-30T00:00:00.001Z"));
        for stamp in [
            "2026-11-29T23:59:59.999Z",
            "2026-11-30T00:00:00.000Z",
            "2026-11-30T00:00:00.001Z",
            "2026-12-01T00:00:00.000Z",
            "2026-11-30T01:00:00+01:00",
            "2026-11-30T00:00:01Z",
        ] {
            assert_eq!(
                fast.reached_by(stamp),
                parsed_only.reached_by(stamp),
                "{stamp}"
            );
        }
        assert!(okta_utc_shape("2026-11-30T00:00:00.000Z"));
        assert!(!okta_utc_shape("2026-11-30T00:00:00Z"));
        assert!(!okta_utc_shape("2026-11-30T00:00:00.000+01:00"));
        assert_eq!(fast.reached_by("yesterday"), None);
    }

    #[test]
    fn user_facts_show_the_same_evidence_as_the_whole_body() {
        let body = serde_json::json!({"id": "00u1", "status": "ACTIVE", "lastLogin": null,
            "created": "2026-01-01T00:00:00.000Z", "credentials": {"provider": {"type": "OKTA"}},
            "profile": {"login": "a@example.com", "email": "b@example.com", "mobilePhone": "555"}});
        let user = Resource::new(
            butterfly_core::ResourceKind::new("user"),
            "00u1",
            body.clone(),
        );
        let facts = UserFacts::of("00u1", &body);
        for fields in [
            &["status", "lastLogin", "created"][..],
            &["status", "created"][..],
        ] {
            assert_eq!(facts.evidence(fields), evidence(&user, fields));
        }
        assert_eq!(facts.name.as_deref(), Some("a@example.com"));
        assert_eq!(facts.last_login(), None);
        assert!(enabled(&facts));
        // Fields Okta leaves out, or that are not strings, read as missing, and evidence
        // shows what was stored, exactly as for a whole body.
        for odd in [
            serde_json::json!({"status": 3, "profile": {}, "created": null}),
            serde_json::json!({"status": "STAGED", "profile": {"login": 7, "email": "e@x"}}),
            serde_json::json!({"name": "svc", "profile": "flat", "lastLogin": ["x"]}),
            serde_json::json!("not an object"),
        ] {
            let facts = UserFacts::of("00u2", &odd);
            let whole = Resource::new(
                butterfly_core::ResourceKind::new("user"),
                "00u2",
                odd.clone(),
            );
            let fields = ["status", "lastLogin", "created"];
            assert_eq!(facts.evidence(&fields), evidence(&whole, &fields), "{odd}");
            assert_eq!(facts.status(), text(&whole, "status"), "{odd}");
        }
    }
}
