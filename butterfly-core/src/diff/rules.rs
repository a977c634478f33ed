//! Diff rules per provider, kept as data: volatile fields, set-like arrays, where a
//! resource's name is, and the severity of each kind of change.
//!
//! The tables are JSON files beside this module (`okta-rules.json`, `entra-rules.json`),
//! readable and reviewable on their own; this module only parses and matches them.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{ChangeKind, Severity};
use crate::{Error, ProviderKind, ResourceKind};

const OKTA_RULES: &str = include_str!("okta-rules.json");
const ENTRA_RULES: &str = include_str!("entra-rules.json");

/// One severity rule.
#[derive(Debug, Clone, Deserialize)]
struct SeverityRule {
    /// An exact kind, a prefix pattern ending in `*` (`policy_rule.*`), or `*`.
    kind: String,
    /// What happened to the resource.
    #[serde(default = "changed")]
    on: ChangeKind,
    /// For `changed`: the field (a JSON pointer; `*` matches one token). A change at or
    /// under it matches.
    #[serde(default)]
    path: Option<String>,
    /// For numbers: only when the value moved this way; for arrays, `grew` when the
    /// new value holds a member the old one did not.
    #[serde(default)]
    when: Option<Direction>,
    /// Only when the new value is one of these (a state switched to `disabled`).
    #[serde(default)]
    to: Option<Vec<Value>>,
    /// Only when the resource (the newer side; the older one for a removal) holds these
    /// values at these JSON pointers (a role assignment of one role definition).
    #[serde(default, rename = "match")]
    matches: BTreeMap<String, Value>,
    severity: Severity,
    /// Why this change matters, shown beside it.
    why: String,
}

fn changed() -> ChangeKind {
    ChangeKind::Changed
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Direction {
    Decreased,
    Increased,
    /// An array gained a member (or appeared non-empty).
    Grew,
}

#[derive(Debug, Clone, Deserialize)]
struct RuleFile {
    #[serde(default)]
    volatile: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    sets: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    names: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    severity: Vec<SeverityRule>,
}

/// The diff rules of one provider: volatile fields, sets, names and severities, parsed
/// from a JSON table (`okta-rules.json` for Okta).
#[derive(Debug, Clone)]
pub struct DiffRules {
    file: RuleFile,
}

/// The severity a rule gave a change, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rated {
    /// How much the change matters.
    pub severity: Severity,
    /// The rule's reason; `None` when no rule named the change.
    pub why: Option<String>,
}

impl DiffRules {
    /// The rules for `provider`. A provider without a table of its own gets rules that
    /// only ignore hypermedia links and rate every change `low`.
    pub fn for_provider(provider: ProviderKind) -> Self {
        let parsed = match provider {
            ProviderKind::Okta => Self::from_json(OKTA_RULES).ok(),
            ProviderKind::EntraId => Self::from_json(ENTRA_RULES).ok(),
            _ => None,
        };
        parsed.unwrap_or_else(|| DiffRules {
            file: RuleFile {
                volatile: BTreeMap::from([("*".to_owned(), vec!["/_links".to_owned()])]),
                sets: BTreeMap::new(),
                names: BTreeMap::new(),
                severity: Vec::new(),
            },
        })
    }

    /// Rules from a JSON document in the shape of `okta-rules.json`.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let file: RuleFile =
            serde_json::from_str(text).map_err(|e| Error::InvalidRules(e.to_string()))?;
        Ok(DiffRules { file })
    }

    /// Whether `pointer` of a `kind` resource is volatile.
    pub fn is_volatile(&self, kind: &ResourceKind, pointer: &str) -> bool {
        paths_for(&self.file.volatile, kind).any(|p| under(pointer, p))
    }

    /// Whether the array at `pointer` of a `kind` resource is a set.
    pub fn is_set(&self, kind: &ResourceKind, pointer: &str) -> bool {
        paths_for(&self.file.sets, kind).any(|p| matches_path(pointer, p))
    }

    /// The resource's display name: the first name field its kind's rules list that
    /// holds a string or number.
    pub fn name_of(&self, kind: &ResourceKind, attributes: &Value) -> Option<String> {
        paths_for(&self.file.names, kind).find_map(|p| match attributes.pointer(p) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
    }

    /// The severity of a whole resource added or removed, by the rules that need no
    /// look at its content (rules with a `match` are left out; see
    /// [`rate_resource_body`](Self::rate_resource_body)).
    pub fn rate_resource(&self, kind: &ResourceKind, on: ChangeKind) -> Rated {
        self.best(kind, on, None, None, None, None)
    }

    /// The severity of a whole resource added or removed, given its content, so rules
    /// that `match` fields (a Global Administrator role assignment) apply.
    pub fn rate_resource_body(&self, kind: &ResourceKind, on: ChangeKind, body: &Value) -> Rated {
        self.best(kind, on, None, None, None, Some(body))
    }

    /// Whether some rule for `kind` and `on` looks at the resource's content, so rating
    /// it needs the body read.
    pub fn needs_body(&self, kind: &ResourceKind, on: ChangeKind) -> bool {
        self.file.severity.iter().any(|rule| {
            rule.on == on
                && !rule.matches.is_empty()
                && kind_specificity(&rule.kind, kind.as_str()).is_some()
        })
    }

    /// The severity of a change to the field at `pointer`.
    pub fn rate_field(
        &self,
        kind: &ResourceKind,
        pointer: &str,
        old: Option<&Value>,
        new: Option<&Value>,
    ) -> Rated {
        self.best(kind, ChangeKind::Changed, Some(pointer), old, new, None)
    }

    /// The severity of a change to the field at `pointer` of `body` (the newer version
    /// of the resource), so rules that `match` fields apply too.
    pub fn rate_field_in(
        &self,
        kind: &ResourceKind,
        pointer: &str,
        old: Option<&Value>,
        new: Option<&Value>,
        body: &Value,
    ) -> Rated {
        self.best(
            kind,
            ChangeKind::Changed,
            Some(pointer),
            old,
            new,
            Some(body),
        )
    }

    fn best(
        &self,
        kind: &ResourceKind,
        on: ChangeKind,
        pointer: Option<&str>,
        old: Option<&Value>,
        new: Option<&Value>,
        body: Option<&Value>,
    ) -> Rated {
        let mut best: Option<((usize, usize, usize), &SeverityRule)> = None;
        for rule in &self.file.severity {
            if rule.on != on {
                continue;
            }
            let Some(kind_score) = kind_specificity(&rule.kind, kind.as_str()) else {
                continue;
            };
            let path_score = match (&rule.path, pointer) {
                (None, _) => 0,
                (Some(path), Some(pointer)) if under(pointer, path) => 1 + path.len(),
                _ => continue,
            };
            if let Some(direction) = rule.when
                && !moved(direction, old, new)
            {
                continue;
            }
            if let Some(values) = &rule.to
                && !new.is_some_and(|n| values.contains(n))
            {
                continue;
            }
            if !rule.matches.is_empty() {
                let Some(body) = body else { continue };
                if !rule
                    .matches
                    .iter()
                    .all(|(p, v)| body.pointer(p).is_some_and(|b| equal_ci(b, v)))
                {
                    continue;
                }
            }
            // A rule that states more conditions is more specific.
            let conditions = usize::from(rule.when.is_some())
                + usize::from(rule.to.is_some())
                + rule.matches.len();
            let score = (path_score, kind_score, conditions);
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, rule));
            }
        }
        match best {
            Some((_, rule)) => Rated {
                severity: rule.severity,
                why: Some(rule.why.clone()),
            },
            None => Rated {
                severity: Severity::Low,
                why: None,
            },
        }
    }
}

/// How closely a rule's kind pattern names `kind`: exact beats a longer prefix beats `*`.
fn kind_specificity(pattern: &str, kind: &str) -> Option<usize> {
    if pattern == kind {
        Some(usize::MAX)
    } else if let Some(prefix) = pattern.strip_suffix('*') {
        kind.starts_with(prefix).then_some(prefix.len())
    } else {
        None
    }
}

/// Every path listed for `kind`: under `*`, under a matching pattern, under the kind.
fn paths_for<'a>(
    table: &'a BTreeMap<String, Vec<String>>,
    kind: &'a ResourceKind,
) -> impl Iterator<Item = &'a str> + 'a {
    // Specific kinds first, so a kind's own name fields come before the generic ones.
    let mut keys: Vec<(&String, usize)> = table
        .keys()
        .filter_map(|k| kind_specificity(k, kind.as_str()).map(|s| (k, s)))
        .collect();
    keys.sort_by_key(|(_, s)| std::cmp::Reverse(*s));
    keys.into_iter()
        .flat_map(move |(k, _)| table[k].iter().map(String::as_str))
}

/// Whether `pointer` is `path` (`*` matching any one token) or under it.
fn under(pointer: &str, path: &str) -> bool {
    let mut tokens = pointer.split('/');
    path.split('/').all(|p| match tokens.next() {
        Some(t) => p == "*" || p == t,
        None => false,
    })
}

/// Whether `pointer` is exactly `path` (`*` matching any one token).
fn matches_path(pointer: &str, path: &str) -> bool {
    pointer.split('/').count() == path.split('/').count() && under(pointer, path)
}

/// Equal, with strings compared without case: Graph ids are GUIDs, which it writes in
/// either case.
fn equal_ci(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
        _ => a == b,
    }
}

fn moved(direction: Direction, old: Option<&Value>, new: Option<&Value>) -> bool {
    if let Direction::Grew = direction {
        let members = |v: Option<&Value>| -> Vec<Value> {
            match v {
                Some(Value::Array(a)) => a.clone(),
                _ => Vec::new(),
            }
        };
        let before = members(old);
        return members(new).iter().any(|m| !before.contains(m));
    }
    let (Some(old), Some(new)) = (old.and_then(Value::as_f64), new.and_then(Value::as_f64)) else {
        return false;
    };
    match direction {
        Direction::Decreased => new < old,
        Direction::Increased => new > old,
        Direction::Grew => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn okta() -> DiffRules {
        DiffRules::from_json(OKTA_RULES).unwrap()
    }

    #[test]
    fn the_okta_table_parses() {
        assert!(!okta().file.severity.is_empty());
    }

    #[test]
    fn the_most_specific_rule_wins() {
        let rules = okta();
        let sign_on = ResourceKind::new("policy_rule.OKTA_SIGN_ON");
        let rated = rules.rate_field(
            &sign_on,
            "/actions/signon/session/maxSessionIdleMinutes",
            None,
            None,
        );
        assert_eq!(rated.severity, Severity::Critical);
        // A path rule beats a kind-wide one: a description is info anywhere.
        let rated = rules.rate_field(&sign_on, "/description", None, None);
        assert_eq!(rated.severity, Severity::Info);
        let password_rule = ResourceKind::new("policy_rule.PASSWORD");
        assert_eq!(
            rules
                .rate_field(&password_rule, "/priority", None, None)
                .severity,
            Severity::High
        );
        assert_eq!(
            rules
                .rate_field(&password_rule, "/name", None, None)
                .severity,
            Severity::Medium
        );
        let unknown = ResourceKind::new("brand");
        let rated = rules.rate_field(&unknown, "/name", None, None);
        assert_eq!(
            rated,
            Rated {
                severity: Severity::Low,
                why: None
            }
        );
    }

    #[test]
    fn direction_rules_apply_only_one_way() {
        let rules = okta();
        let policy = ResourceKind::new("policy.PASSWORD");
        let path = "/settings/password/complexity/minLength";
        let lowered = rules.rate_field(&policy, path, Some(&json!(12)), Some(&json!(8)));
        assert_eq!(lowered.severity, Severity::High);
        let raised = rules.rate_field(&policy, path, Some(&json!(8)), Some(&json!(12)));
        assert_eq!(raised.severity, Severity::Medium);
    }

    #[test]
    fn added_and_removed_have_their_own_rules() {
        let rules = okta();
        let grant = ResourceKind::new("user_role_assignment");
        assert_eq!(
            rules.rate_resource(&grant, ChangeKind::Added).severity,
            Severity::Critical
        );
        assert_eq!(
            rules.rate_resource(&grant, ChangeKind::Removed).severity,
            Severity::Medium
        );
        let zone = ResourceKind::new("network_zone");
        assert_eq!(
            rules.rate_resource(&zone, ChangeKind::Removed).severity,
            Severity::High
        );
    }

    #[test]
    fn names_volatile_fields_and_sets() {
        let rules = okta();
        let user = ResourceKind::new("user");
        let body = json!({"id": "00u1", "profile": {"login": "ada@example.com", "name": "x"}});
        assert_eq!(
            rules.name_of(&user, &body).as_deref(),
            Some("ada@example.com")
        );
        assert!(rules.is_volatile(&user, "/lastLogin"));
        assert!(rules.is_volatile(&user, "/_links/self/href"));
        assert!(!rules.is_volatile(&user, "/profile/login"));
        let rule = ResourceKind::new("policy_rule.OKTA_SIGN_ON");
        assert!(rules.is_set(&rule, "/conditions/people/groups/include"));
        assert!(!rules.is_set(&rule, "/conditions/people/groups"));
    }

    #[test]
    fn the_entra_table_parses_and_is_chosen_for_entra() {
        let entra = DiffRules::from_json(ENTRA_RULES).unwrap();
        assert!(entra.file.severity.len() > 50);
        let chosen = DiffRules::for_provider(ProviderKind::EntraId);
        assert_eq!(chosen.file.severity.len(), entra.file.severity.len());
        let unknown = DiffRules::for_provider(ProviderKind::Auth0);
        assert!(unknown.file.severity.is_empty());
    }

    #[test]
    fn bad_rule_files_are_errors() {
        assert!(DiffRules::from_json("{\"severity\": [{\"kind\": \"x\"}]}").is_err());
        assert!(DiffRules::from_json("not json").is_err());
    }
}
