//! The System Log: `GET /api/v1/logs` (scope `okta.logs.read`, bucket `/api/v1/logs`).
//!
//! Every write the simulator accepts appends one [`LogEvent`](https://developer.okta.com/docs/api/openapi/okta-management/management/tag/SystemLog/)
//! per effect, with Okta's event types (`user.lifecycle.create`,
//! `group.user_membership.add`, `application.user_membership.remove`...) and targets
//! (`User`, `UserGroup`, `AppInstance`...). Side effects get their own events, as in Okta:
//! deleting a user removes its memberships and assignments; deleting a group removes its
//! app assignments.
//!
//! Queries follow Okta: `since` (default: 7 days before `until`), `until` (a bounded
//! query) or none (a polling query, whose `next` link never ends), `filter` (`eventType eq
//! "..."` and `target.id eq "..."`, joined by `or`), `limit` (default 100, at most 1000),
//! `after` (the cursor of the `next` link) and `sortOrder` (`ASCENDING` only). Events older
//! than 90 days are gone, as Okta keeps them for 90 days.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

/// How long Okta keeps System Log events.
pub const RETENTION_DAYS: i64 = 90;

/// One target of an event: `(type, id, display name)`.
pub(crate) type Target = (&'static str, String, String);

/// One stored event.
#[derive(Debug)]
struct Stored {
    published: DateTime<Utc>,
    event_type: String,
    target_ids: Vec<String>,
    body: String,
}

/// The org's System Log, oldest first.
#[derive(Debug, Default)]
pub(crate) struct SystemLog {
    events: VecDeque<Stored>,
    /// Events ever appended: the sequence number of the next one.
    appended: u64,
}

/// A page of events.
pub(crate) struct LogPage {
    pub body: String,
    /// The `after` cursor of the next page, if there is one.
    pub next_after: Option<String>,
}

/// Why a log query was refused (`400 E0000001`).
#[derive(Debug)]
pub(crate) struct BadQuery(pub String);

impl SystemLog {
    /// Append one event at `now`.
    pub(crate) fn append(
        &mut self,
        now: DateTime<Utc>,
        event_type: &str,
        display: &str,
        actor_id: &str,
        targets: &[Target],
    ) {
        self.expire(now);
        let n = self.appended;
        self.appended += 1;
        let uuid = format!(
            "{:08x}-0000-4000-8000-{:012x}",
            n >> 48,
            n & 0xffff_ffff_ffff
        );
        let target: Vec<Value> = targets
            .iter()
            .map(|(kind, id, name)| {
                json!({ "id": id, "type": kind, "alternateId": name, "displayName": name,
                    "detailEntry": null })
            })
            .collect();
        let published = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let body = json!({
            "uuid": uuid,
            "published": published,
            "eventType": event_type,
            "version": "0",
            "severity": "INFO",
            "legacyEventType": null,
            "displayMessage": display,
            "actor": { "id": actor_id, "type": "PublicClientApp", "alternateId": actor_id,
                "displayName": "Butterfly", "detailEntry": null },
            "client": { "userAgent": { "rawUserAgent": "butterfly", "os": "Unknown",
                "browser": "UNKNOWN" }, "zone": "null", "device": "Unknown", "id": null,
                "ipAddress": "127.0.0.1", "geographicalContext": null },
            "authenticationContext": { "authenticationProvider": null, "credentialProvider": null,
                "credentialType": null, "issuer": null, "externalSessionId": "trs-sim",
                "interface": null, "authenticationStep": 0 },
            "outcome": { "result": "SUCCESS", "reason": null },
            "target": target,
            "transaction": { "type": "WEB", "id": format!("sim-tx-{n}"), "detail": {} },
            "debugContext": { "debugData": {} },
            "securityContext": { "asNumber": null, "asOrg": null, "isp": null, "domain": null,
                "isProxy": null },
            "request": { "ipChain": [] },
        });
        self.events.push_back(Stored {
            published: now,
            event_type: event_type.to_owned(),
            target_ids: targets.iter().map(|(_, id, _)| id.clone()).collect(),
            body: body.to_string(),
        });
    }

    /// Drop what is past retention.
    fn expire(&mut self, now: DateTime<Utc>) {
        let horizon = now - TimeDelta::days(RETENTION_DAYS);
        while self.events.front().is_some_and(|e| e.published < horizon) {
            self.events.pop_front();
        }
    }

    /// How many events are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    /// One page of the events a query selects.
    pub(crate) fn query(
        &mut self,
        now: DateTime<Utc>,
        query: &BTreeMap<String, String>,
    ) -> Result<LogPage, BadQuery> {
        self.expire(now);
        let time = |name: &str| -> Result<Option<DateTime<Utc>>, BadQuery> {
            query
                .get(name)
                .map(|t| {
                    DateTime::parse_from_rfc3339(t)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|_| BadQuery(format!("{name}: not an ISO 8601 time")))
                })
                .transpose()
        };
        let until = time("until")?;
        let since = time("since")?.unwrap_or(until.unwrap_or(now) - TimeDelta::days(7));
        if query.get("sortOrder").is_some_and(|s| s != "ASCENDING") {
            return Err(BadQuery("sortOrder: only ASCENDING is simulated".into()));
        }
        let filter = parse_filter(query.get("filter").map(String::as_str))?;
        let limit = match query.get("limit") {
            None => 100,
            Some(l) => l
                .parse::<usize>()
                .ok()
                .filter(|l| *l > 0)
                .ok_or_else(|| BadQuery("limit: not a positive number".into()))?
                .min(1000),
        };
        // The cursor is the sequence number of the next event to return.
        let first_kept = self.appended - self.events.len() as u64;
        let start = match query.get("after") {
            None => 0,
            Some(a) => {
                let seq: u64 = a
                    .parse()
                    .map_err(|_| BadQuery("after: not a cursor this log gave".into()))?;
                usize::try_from(seq.saturating_sub(first_kept)).unwrap_or(usize::MAX)
            }
        };
        let mut out = Vec::new();
        let mut last = None;
        for (i, event) in self.events.iter().enumerate().skip(start) {
            if until.is_some_and(|u| event.published >= u) {
                break;
            }
            last = Some(i);
            if event.published < since || !filter.matches(event) {
                continue;
            }
            out.push(event.body.as_str());
            if out.len() == limit {
                break;
            }
        }
        let scanned_to = last.map_or(start, |i| i + 1);
        let more = until.is_none()
            || self
                .events
                .iter()
                .skip(scanned_to)
                .any(|e| until.is_some_and(|u| e.published < u));
        let body = format!("[{}]", out.join(","));
        Ok(LogPage {
            body,
            // A polling query (no `until`) always has a next page, as in Okta.
            next_after: more.then(|| (first_kept + scanned_to as u64).to_string()),
        })
    }
}

/// A parsed `filter`: alternatives joined by `or`.
struct Filter(Vec<(String, String)>);

impl Filter {
    fn matches(&self, event: &Stored) -> bool {
        self.0.is_empty()
            || self.0.iter().any(|(field, value)| match field.as_str() {
                "eventType" => &event.event_type == value,
                _ => event.target_ids.iter().any(|id| id == value),
            })
    }
}

fn parse_filter(filter: Option<&str>) -> Result<Filter, BadQuery> {
    let Some(filter) = filter.map(str::trim).filter(|f| !f.is_empty()) else {
        return Ok(Filter(Vec::new()));
    };
    let mut out = Vec::new();
    for clause in filter.split(" or ") {
        let clause = clause.trim().trim_start_matches('(').trim_end_matches(')');
        let (field, value) = clause
            .split_once(" eq ")
            .ok_or_else(|| BadQuery(format!("filter: cannot parse `{clause}`")))?;
        let field = field.trim();
        if !matches!(field, "eventType" | "target.id") {
            return Err(BadQuery(format!("filter: `{field}` is not simulated")));
        }
        let value = value
            .trim()
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or_else(|| BadQuery(format!("filter: `{clause}` needs a quoted value")))?;
        out.push((field.to_owned(), value.to_owned()));
    }
    Ok(Filter(out))
}

/// The event type of a write to `kind` (`op` is `create`, `update`, `delete`, or a
/// lifecycle action), as Okta names it.
pub(crate) fn event_type(kind: &str, op: &str) -> String {
    let family = match kind {
        "user" => "user",
        "group" => "group",
        "group_rule" => "group.rule",
        "app" => "application",
        "network_zone" => "zone",
        "trusted_origin" => "security.trusted_origin",
        "event_hook" => "event_hook",
        "inline_hook" => "inline_hook",
        "user_type" => "user.type",
        "authorization_server" => "oauth2.as",
        "auth_server_scope" => "oauth2.as.scope",
        "auth_server_claim" => "oauth2.as.claim",
        "auth_server_policy" => "oauth2.as.policy",
        "auth_server_policy_rule" => "oauth2.as.policy.rule",
        k if k.starts_with("policy_rule.") => "policy.rule",
        k if k.starts_with("policy.") => "policy",
        other => other,
    };
    match (family, op) {
        ("user", "update") => "user.account.update_profile".into(),
        ("user", "delete") => "user.lifecycle.delete.completed".into(),
        ("group" | "application", "update") => format!("{family}.profile.update"),
        ("zone", op) => format!("zone.{op}"),
        ("policy.rule", "create") => "policy.rule.add".into(),
        (family, op) => format!("{family}.lifecycle.{op}"),
    }
}

/// The target type Okta gives objects of `kind`.
pub(crate) fn target_type(kind: &str) -> &'static str {
    match kind {
        "user" | "group_membership" | "app_user_assignment" => "User",
        "group" | "app_group_assignment" => "UserGroup",
        "group_rule" => "GroupRule",
        "app" => "AppInstance",
        "network_zone" => "NetworkZone",
        "authorization_server" => "AuthorizationServer",
        k if k.starts_with("policy_rule.") || k == "auth_server_policy_rule" => "PolicyRule",
        k if k.starts_with("policy.") || k == "auth_server_policy" => "Policy",
        _ => "Resource",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(1000) + TimeDelta::minutes(minutes)
    }

    fn log_with(n: i64) -> SystemLog {
        let mut log = SystemLog::default();
        for i in 0..n {
            let kind = if i % 2 == 0 { "user" } else { "group" };
            log.append(
                at(i),
                &event_type(kind, "update"),
                "x",
                "0oa1",
                &[(target_type(kind), format!("id{i}"), format!("n{i}"))],
            );
        }
        log
    }

    fn q(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn ids(page: &LogPage) -> Vec<String> {
        let events: Vec<Value> = serde_json::from_str(&page.body).unwrap();
        events
            .iter()
            .map(|e| e["target"][0]["id"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn bounded_queries_page_until_their_end() {
        let mut log = log_with(10);
        let since = at(2).to_rfc3339();
        let until = at(7).to_rfc3339();
        let page = log
            .query(
                at(20),
                &q(&[("since", &since), ("until", &until), ("limit", "3")]),
            )
            .unwrap();
        assert_eq!(ids(&page), ["id2", "id3", "id4"]);
        let after = page.next_after.unwrap();
        let page = log
            .query(
                at(20),
                &q(&[
                    ("since", &since),
                    ("until", &until),
                    ("limit", "3"),
                    ("after", &after),
                ]),
            )
            .unwrap();
        assert_eq!(ids(&page), ["id5", "id6"]);
        assert!(page.next_after.is_none());
    }

    #[test]
    fn polling_queries_always_have_a_next_page() {
        let mut log = log_with(2);
        let page = log
            .query(at(5), &q(&[("since", &at(0).to_rfc3339())]))
            .unwrap();
        assert_eq!(ids(&page).len(), 2);
        assert!(page.next_after.is_some());
    }

    #[test]
    fn filters_by_event_type_and_target() {
        let mut log = log_with(6);
        let since = at(0).to_rfc3339();
        let until = at(10).to_rfc3339();
        let page = log
            .query(
                at(10),
                &q(&[
                    ("since", &since),
                    ("until", &until),
                    (
                        "filter",
                        "eventType eq \"group.profile.update\" or target.id eq \"id0\"",
                    ),
                ]),
            )
            .unwrap();
        assert_eq!(ids(&page), ["id0", "id1", "id3", "id5"]);
        assert!(
            log.query(at(10), &q(&[("filter", "published gt \"x\"")]))
                .is_err()
        );
    }

    #[test]
    fn events_expire_after_90_days() {
        let mut log = log_with(3);
        assert_eq!(log.len(), 3);
        log.expire(at(1) + TimeDelta::days(RETENTION_DAYS));
        assert_eq!(log.len(), 2);
        let page = log
            .query(
                at(1) + TimeDelta::days(RETENTION_DAYS),
                &q(&[
                    ("since", &at(0).to_rfc3339()),
                    ("until", &at(9).to_rfc3339()),
                ]),
            )
            .unwrap();
        assert_eq!(ids(&page), ["id1", "id2"]);
    }

    #[test]
    fn names_events_as_okta_does() {
        assert_eq!(event_type("user", "create"), "user.lifecycle.create");
        assert_eq!(
            event_type("user", "deactivate"),
            "user.lifecycle.deactivate"
        );
        assert_eq!(event_type("group", "update"), "group.profile.update");
        assert_eq!(event_type("app", "delete"), "application.lifecycle.delete");
        assert_eq!(
            event_type("policy.PASSWORD", "update"),
            "policy.lifecycle.update"
        );
        assert_eq!(
            event_type("policy_rule.PASSWORD", "create"),
            "policy.rule.add"
        );
        assert_eq!(event_type("network_zone", "update"), "zone.update");
    }
}
