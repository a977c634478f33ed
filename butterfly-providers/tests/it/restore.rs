//! Restore and sync: plans against the simulator (reads only), and the executor against
//! an in-memory Okta that follows the write contract, for the whole scenario: mutate,
//! plan, restore, re-plan to nothing, undo, resume after a kill, refuse a stale plan,
//! sync into an org with other ids and domains.

// The fake Okta is test scaffolding: plain over clever.
#![allow(
    clippy::unused_self,
    clippy::nonminimal_bool,
    clippy::cast_possible_truncation,
    clippy::type_complexity
)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use butterfly_core::restore::{
    PlanAction, PlanError, RestoreMode, RestoreOptions, RestorePlan, Variables,
};
use butterfly_core::source::{InMemorySnapshotSource, SnapshotSource};
use butterfly_core::{Resource, ResourceKind, Snapshot, SnapshotStatus};
use butterfly_providers::backup::run_okta_backup;
use butterfly_providers::clock::VirtualTimer;
use butterfly_providers::okta::fetcher::{
    ApiResponse, ClientId, FetchEvent, FetchOptions, OktaCredentials, OktaFetcher, OrgUrl,
    PrivateKey, SendError,
};
use butterfly_providers::okta::kinds::{self, KindSpec};
use butterfly_providers::okta::restore::plan::{ResourceSet, read_kinds};
use butterfly_providers::okta::restore::{
    ExecuteOptions, IdMap, Journal, LiveState, PlanInput, WriteRequest, WriteTransport, execute,
    plan, read_live, undo_plan,
};
use butterfly_providers::okta::simulator::{
    OrgConfig, RunningSimulator, Simulator, SimulatorConfig, back_up_in_memory,
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

fn org(seed: u64) -> OrgConfig {
    OrgConfig {
        seed,
        users: 30,
        groups: 12,
        apps: 6,
    }
}

// ---------------------------------------------------------------------------------------
// Against the simulator: planning reads, and writes nothing.

struct Sim {
    running: RunningSimulator,
    timer: Arc<VirtualTimer>,
}

impl Sim {
    async fn start(config: OrgConfig) -> Sim {
        let timer = Arc::new(VirtualTimer::new(at()));
        let running = Simulator::bind(
            SimulatorConfig {
                org: config,
                timer: timer.clone(),
                client_public_key_pem: Some(super::simulator::client_key().public_pem.clone()),
                ..SimulatorConfig::default()
            },
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        Sim { running, timer }
    }

    fn credentials(&self) -> OktaCredentials {
        let given = self.running.simulator().client_credentials();
        OktaCredentials {
            org_url: OrgUrl::parse(&given.org_url).unwrap(),
            client_id: ClientId::new(given.client_id.clone()).unwrap(),
            key_id: Some(given.key_id),
            private_key: PrivateKey::from_pem(&super::simulator::client_key().private_pem).unwrap(),
        }
    }

    fn options(&self) -> FetchOptions {
        FetchOptions {
            rate_limit_share: 1.0,
            timer: self.timer.clone(),
            // The simulator listens on loopback.
            insecure_allow_private_addresses: true,
            ..FetchOptions::default()
        }
    }

    fn fetcher(&self) -> OktaFetcher {
        OktaFetcher::new(self.credentials(), self.options()).unwrap()
    }

    async fn back_up(&self, into: &InMemorySnapshotSource) -> Snapshot {
        let outcome = run_okta_backup(
            self.credentials(),
            self.options(),
            into,
            self.timer.as_ref(),
            |_: &FetchEvent| {},
        )
        .await
        .unwrap();
        into.manifest(outcome.snapshot_id()).await.unwrap()
    }
}

async fn snapshot_set(
    source: &InMemorySnapshotSource,
    manifest: &Snapshot,
    options: &RestoreOptions,
) -> ResourceSet {
    ResourceSet::from_snapshot(source, manifest, &read_kinds(options))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_fresh_backup_plans_no_writes_and_planning_writes_nothing() {
    let sim = Sim::start(org(11)).await;
    let source = InMemorySnapshotSource::new();
    let manifest = sim.back_up(&source).await;
    let options = RestoreOptions::default()
        .with_overwrite(true)
        .with_delete_extra(true);
    let ours = snapshot_set(&source, &manifest, &options).await;
    let before = sim.running.simulator().request_log();

    let live = read_live(&sim.fetcher(), &read_kinds(&options))
        .await
        .unwrap();
    assert!(live.unreadable.is_empty(), "{:?}", live.unreadable);
    let known = IdMap::new();
    let client_id = sim.running.simulator().client_credentials().client_id;
    let plan = plan(&PlanInput {
        snapshot: &manifest,
        snapshot_resources: &ours,
        live: &live,
        mode: RestoreMode::Restore,
        options: &options,
        variables: None,
        known: &known,
        own_client_id: Some(&client_id),
        now: at(),
    })
    .unwrap();
    let after = sim.running.simulator().request_log();
    assert_eq!(after.writes, before.writes, "planning wrote to the org");
    assert!(after.total > before.total, "planning read nothing");

    let detail: Vec<String> = plan
        .update
        .iter()
        .map(|e| format!("{} {}: {:?}", e.kind, e.id, e.changes))
        .chain(
            plan.create
                .iter()
                .map(|e| format!("create {} {}", e.kind, e.id)),
        )
        .chain(
            plan.delete
                .iter()
                .map(|e| format!("delete {} {}", e.kind, e.id)),
        )
        .collect();
    assert_eq!(plan.write_count(), 0, "{detail:#?}");
    assert!(plan.skip.iter().any(|e| e.reason == "equal"));
    // Kinds that do not restore are skipped and named as follow-ups.
    assert!(
        plan.skip
            .iter()
            .any(|e| e.reason == "not restorable yet" && e.kind.as_str() == "brand")
    );
    assert!(plan.follow_ups.iter().any(|f| f.what.contains("`brand`")));

    // The same org read again gives the same fingerprint: a saved plan stays valid.
    let again = read_live(&sim.fetcher(), &read_kinds(&options))
        .await
        .unwrap();
    plan.check_live(again.fingerprint()).unwrap();
    plan.verify().unwrap();
}

// ---------------------------------------------------------------------------------------
// An in-memory Okta that follows the write contract (/tmp/writes-contract.md), so the
// executor's requests are checked end to end without a network.

#[derive(Debug, Default)]
struct FakeOkta {
    state: Mutex<ResourceSet>,
    next: Mutex<u64>,
    requests: Mutex<Vec<String>>,
}

/// A request path matched against the catalogue.
struct Route {
    spec: &'static KindSpec,
    parents: Vec<String>,
    own: Option<String>,
    operation: Option<String>,
}

impl FakeOkta {
    fn new(resources: Vec<Resource>) -> Self {
        let mut set = ResourceSet::new();
        for r in resources {
            set.insert(r);
        }
        FakeOkta {
            state: Mutex::new(set),
            ..FakeOkta::default()
        }
    }

    fn live(&self) -> LiveState {
        LiveState {
            org: "https://fake.okta.com".into(),
            resources: self.state.lock().unwrap().clone(),
            kinds: kinds::all().map(|k| k.name.to_owned()).collect(),
            unreadable: BTreeMap::new(),
            ..LiveState::default()
        }
    }

    fn writes(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    fn with<R>(&self, f: impl FnOnce(&mut ResourceSet) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    fn route(&self, path: &str) -> Option<Route> {
        let segments: Vec<&str> = path.split('/').collect();
        let mut best: Option<(usize, Route)> = None;
        for spec in kinds::all() {
            let template: Vec<&str> = spec.list_path.split('/').collect();
            if segments.len() < template.len() {
                continue;
            }
            let mut parents = Vec::new();
            let mut literal = 0;
            let fits = template.iter().zip(&segments).all(|(t, s)| {
                if t.starts_with('{') {
                    parents.push((*s).to_owned());
                    true
                } else {
                    literal += 1;
                    t == s
                }
            });
            let rest = &segments[template.len()..];
            let (own, operation) = match rest {
                [] => (None, None),
                [own] => (Some((*own).to_owned()), None),
                [own, "lifecycle", op] => (Some((*own).to_owned()), Some((*op).to_owned())),
                _ => continue,
            };
            // Prefer literal matches: /api/v1/groups/rules is rules, not group "rules".
            let score = literal * 4 - rest.len();
            if fits && best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((
                    score,
                    Route {
                        spec,
                        parents,
                        own,
                        operation,
                    },
                ));
            }
        }
        best.map(|(_, r)| r)
    }

    /// Which of the kinds sharing a path holds `id` (policies share one path).
    fn kind_holding(
        &self,
        set: &ResourceSet,
        route: &Route,
        id: &str,
        body: Option<&Value>,
    ) -> &'static KindSpec {
        let siblings: Vec<&'static KindSpec> = kinds::all()
            .filter(|k| k.list_path == route.spec.list_path)
            .collect();
        if siblings.len() == 1 {
            return route.spec;
        }
        if let Some(found) = siblings.iter().find(|k| set.get(k.name, id).is_some()) {
            return found;
        }
        if let Some(t) = body.and_then(|b| b.get("type")).and_then(Value::as_str)
            && let Some(k) = siblings.iter().find(|k| k.name == format!("policy.{t}"))
        {
            return k;
        }
        // A rule: the kind whose parent holds the parent id.
        let parent = route.parents.join("/");
        siblings
            .iter()
            .find(|k| k.parent.is_some_and(|p| set.get(p.kind, &parent).is_some()))
            .copied()
            .unwrap_or(route.spec)
    }

    fn answer(&self, request: &WriteRequest) -> ApiResponse {
        let ok = |body: Value| ApiResponse { status: 200, body };
        let error = |status: u16, code: &str, summary: &str| ApiResponse {
            status,
            body: json!({"errorCode": code, "errorSummary": summary, "errorCauses": []}),
        };
        let path = request.path.split('?').next().unwrap();
        let Some(route) = self.route(path) else {
            return error(404, "E0000022", "no such endpoint");
        };
        let mut set = self.state.lock().unwrap();
        let prefix = if route.parents.is_empty() {
            String::new()
        } else {
            format!("{}/", route.parents.join("/"))
        };
        match (
            request.method,
            route.own.as_deref(),
            route.operation.as_deref(),
        ) {
            ("POST", None, None) => {
                let mut body = request.body.clone().unwrap_or(json!({}));
                let spec = self.kind_holding(&set, &route, "", Some(&body));
                let own = if spec.name == "app_user_assignment" {
                    body["id"].as_str().unwrap_or_default().to_owned()
                } else {
                    let mut next = self.next.lock().unwrap();
                    *next += 1;
                    format!("{}FAKE{:04}", &spec.name[..3], *next)
                };
                if spec.name == "user" {
                    let login = body["profile"]["login"].clone();
                    if set
                        .kind("user")
                        .any(|(_, u)| u["profile"]["login"] == login)
                    {
                        return error(400, "E0000001", "Api validation failed: login");
                    }
                }
                body["id"] = json!(own);
                body["created"] = json!("2026-01-01T00:00:00.000Z");
                let status = match spec.name {
                    "user" => Some("STAGED"),
                    "group_rule" => Some("INACTIVE"),
                    "group" | "app_user_assignment" => None,
                    _ => Some("ACTIVE"),
                };
                if let Some(status) = status {
                    body["status"] = json!(status);
                }
                set.insert(Resource::new(
                    spec.kind(),
                    format!("{prefix}{own}"),
                    body.clone(),
                ));
                ok(body)
            }
            ("PUT", Some(own), None) => {
                let spec = self.kind_holding(
                    &set,
                    &route,
                    &format!("{prefix}{own}"),
                    request.body.as_ref(),
                );
                let id = format!("{prefix}{own}");
                match spec.name {
                    "group_membership" => {
                        if set.get("group", &route.parents[0]).is_none()
                            || set.get("user", own).is_none()
                        {
                            return error(404, "E0000007", "Not found");
                        }
                        set.insert(Resource::new(
                            spec.kind(),
                            id,
                            json!({"groupId": route.parents[0], "userId": own}),
                        ));
                        ApiResponse {
                            status: 204,
                            body: Value::Null,
                        }
                    }
                    "app_group_assignment" => {
                        let mut body = request.body.clone().unwrap_or(json!({}));
                        body["id"] = json!(own);
                        set.insert(Resource::new(spec.kind(), id, body.clone()));
                        ok(body)
                    }
                    _ => {
                        let Some(old) = set.get(spec.name, &id).cloned() else {
                            return error(404, "E0000007", "Not found");
                        };
                        let mut body = request.body.clone().unwrap_or(json!({}));
                        for keep in [
                            "id",
                            "created",
                            "lastUpdated",
                            "status",
                            "credentials",
                            "_links",
                        ] {
                            if let Some(v) = old.get(keep)
                                && body.get(keep).is_none()
                            {
                                body[keep] = v.clone();
                            }
                        }
                        set.insert(Resource::new(spec.kind(), id, body.clone()));
                        ok(body)
                    }
                }
            }
            ("POST", Some(own), None) => {
                let id = format!("{prefix}{own}");
                let spec = self.kind_holding(&set, &route, &id, None);
                let Some(mut old) = set.get(spec.name, &id).cloned() else {
                    return error(404, "E0000007", "Not found");
                };
                if let (Value::Object(old), Some(Value::Object(new))) = (&mut old, &request.body) {
                    for (k, v) in new {
                        old.insert(k.clone(), v.clone());
                    }
                }
                set.insert(Resource::new(spec.kind(), id, old.clone()));
                ok(old)
            }
            ("POST", Some(own), Some(op)) => {
                let id = format!("{prefix}{own}");
                let spec = self.kind_holding(&set, &route, &id, None);
                let Some(mut old) = set.get(spec.name, &id).cloned() else {
                    return error(404, "E0000007", "Not found");
                };
                old["status"] = json!(match (spec.name, op) {
                    ("user", "deactivate") => "DEPROVISIONED",
                    (_, "deactivate") => "INACTIVE",
                    (_, "suspend") => "SUSPENDED",
                    _ => "ACTIVE",
                });
                set.insert(Resource::new(spec.kind(), id, old));
                ApiResponse {
                    status: 200,
                    body: json!({}),
                }
            }
            ("DELETE", Some(own), None) => {
                let id = format!("{prefix}{own}");
                let spec = self.kind_holding(&set, &route, &id, None);
                let Some(old) = set.get(spec.name, &id).cloned() else {
                    return error(404, "E0000007", "Not found");
                };
                let status = old.get("status").and_then(Value::as_str);
                let refuses_active = matches!(
                    spec.name,
                    "app" | "group_rule" | "network_zone" | "event_hook" | "inline_hook"
                );
                if (refuses_active && status == Some("ACTIVE"))
                    || (spec.name == "user" && status != Some("DEPROVISIONED"))
                {
                    return error(403, "E0000056", "Delete is not allowed in this status");
                }
                let mut kept = ResourceSet::new();
                for r in std::mem::take(&mut *set).into_resources() {
                    let child = r.id.starts_with(&format!("{id}/"));
                    let member = spec.name == "user"
                        && r.kind.as_str() == "group_membership"
                        && r.attributes["userId"] == own;
                    let gone = (r.kind == spec.kind() && r.id == id) || child || member;
                    if !gone {
                        kept.insert(r);
                    }
                }
                *set = kept;
                ApiResponse {
                    status: 204,
                    body: Value::Null,
                }
            }
            _ => error(405, "E0000022", "method not allowed"),
        }
    }
}

#[async_trait]
impl WriteTransport for FakeOkta {
    async fn send(&self, request: &WriteRequest) -> Result<ApiResponse, SendError> {
        self.requests
            .lock()
            .unwrap()
            .push(format!("{} {}", request.method, request.path));
        Ok(self.answer(request))
    }
}

// ---------------------------------------------------------------------------------------
// The scenario.

struct Fixture {
    source: InMemorySnapshotSource,
    manifest: Snapshot,
    okta: FakeOkta,
}

async fn fixture(seed: u64) -> Fixture {
    let (mut source, outcome) = back_up_in_memory(org(seed)).await.unwrap();
    let backup = source.manifest(outcome.snapshot_id()).await.unwrap();
    let mut resources = source.all_resources(backup.id).unwrap();
    // The scenario needs a group with members, a rule and an app assignment: make sure
    // the rule's group has them whatever the seed drew.
    let rule = resources
        .iter()
        .find(|r| r.kind.as_str() == "group_rule")
        .unwrap();
    let group = rule.attributes["actions"]["assignUserToGroups"]["groupIds"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let app = resources
        .iter()
        .find(|r| r.kind.as_str() == "app" && r.attributes["status"] == "ACTIVE")
        .unwrap()
        .id
        .clone();
    let user = resources
        .iter()
        .find(|r| r.kind.as_str() == "user")
        .unwrap()
        .id
        .clone();
    resources.push(Resource::new(
        ResourceKind::new("app_group_assignment"),
        format!("{app}/{group}"),
        json!({"id": group, "priority": 0}),
    ));
    resources.push(Resource::new(
        ResourceKind::new("group_membership"),
        format!("{group}/{user}"),
        json!({"groupId": group, "userId": user}),
    ));
    let manifest = source.insert(
        butterfly_core::ProviderKind::Okta,
        backup.org.clone(),
        at(),
        SnapshotStatus::Complete,
        resources,
    );
    let okta = FakeOkta::new(source.all_resources(manifest.id).unwrap());
    Fixture {
        source,
        manifest,
        okta,
    }
}

impl Fixture {
    async fn plan(
        &self,
        mode: RestoreMode,
        options: &RestoreOptions,
        known: &IdMap,
        variables: Option<&Variables>,
    ) -> Result<RestorePlan, PlanError> {
        let ours = snapshot_set(&self.source, &self.manifest, options).await;
        let live = self.okta.live();
        plan(&PlanInput {
            snapshot: &self.manifest,
            snapshot_resources: &ours,
            live: &live,
            mode,
            options,
            variables,
            known,
            own_client_id: None,
            now: at(),
        })
    }

    async fn run(
        &self,
        plan: &RestorePlan,
        journal: &mut Journal,
        stop_after: Option<usize>,
    ) -> butterfly_providers::okta::restore::ExecutionReport {
        let live = self.okta.live();
        execute(
            plan,
            &self.source,
            &live,
            &self.okta,
            journal,
            &self.source,
            &ExecuteOptions::new("run-1").with_stop_after(stop_after),
            at(),
        )
        .await
        .unwrap()
    }
}

/// What the scenario changed, to find it again.
struct Mutations {
    group: String,
    group_name: String,
    rules: Vec<String>,
    members: usize,
    app_group: String,
    unassigned: String,
    deactivated: Vec<String>,
    zone: String,
    loosened: (String, String),
}

/// Delete a group with members, a rule and an app assignment; loosen a sign-on rule;
/// unassign a user from an app; deactivate users; rename a zone.
fn mutate(okta: &FakeOkta) -> Mutations {
    okta.with(|set| {
        let rules: Vec<(String, Value)> = set
            .kind("group_rule")
            .map(|(i, b)| (i.clone(), b.clone()))
            .collect();
        let app_groups: Vec<String> = set
            .kind("app_group_assignment")
            .map(|(i, _)| i.clone())
            .collect();
        let (group, group_body) = set
            .kind("group")
            .find(|(id, body)| {
                body["type"] == "OKTA_GROUP"
                    && rules
                        .iter()
                        .any(|(_, r)| r["actions"]["assignUserToGroups"]["groupIds"][0] == **id)
                    && app_groups.iter().any(|a| a.ends_with(&format!("/{id}")))
            })
            .map(|(i, b)| (i.clone(), b.clone()))
            .expect("a group with a rule and an app assignment");
        let rules: Vec<String> = rules
            .iter()
            .filter(|(_, r)| r["actions"]["assignUserToGroups"]["groupIds"][0] == group.as_str())
            .map(|(i, _)| i.clone())
            .collect();
        let app_group = app_groups
            .iter()
            .find(|a| a.ends_with(&format!("/{group}")))
            .unwrap()
            .clone();
        let members = set
            .kind("group_membership")
            .filter(|(i, _)| i.starts_with(&format!("{group}/")))
            .count();
        assert!(members > 0, "the group has members");
        let unassigned = set
            .kind("app_user_assignment")
            .map(|(i, _)| i.clone())
            .next()
            .unwrap();
        let deactivated: Vec<String> = set
            .kind("user")
            .filter(|(_, u)| u["status"] == "ACTIVE")
            .map(|(i, _)| i.clone())
            .take(2)
            .collect();
        let zone = set
            .kind("network_zone")
            .find(|(_, z)| z["system"] == false)
            .map(|(i, _)| i.clone())
            .unwrap();
        let (rule_kind, rule) = [
            "policy_rule.OKTA_SIGN_ON",
            "policy_rule.ACCESS_POLICY",
            "policy_rule.PASSWORD",
        ]
        .iter()
        .find_map(|k| {
            set.kind(k)
                .next()
                .map(|(i, _)| ((*k).to_owned(), i.clone()))
        })
        .unwrap();

        let mut all = std::mem::take(set).into_resources();
        all.retain(|r| {
            !(r.id == group && r.kind.as_str() == "group")
                && !r.id.starts_with(&format!("{group}/"))
                && !r.id.ends_with(&format!("/{group}"))
                && !rules.contains(&r.id)
                && r.id != unassigned
        });
        for r in &mut all {
            if r.kind.as_str() == "user" && deactivated.contains(&r.id) {
                r.attributes["status"] = json!("DEPROVISIONED");
            }
            if r.id == zone {
                r.attributes["name"] = json!("Renamed zone");
            }
            if r.id == rule {
                r.attributes["conditions"]["network"] = json!({"connection": "ANYWHERE"});
                r.attributes["priority"] = json!(99);
            }
        }
        for r in all {
            set.insert(r);
        }
        Mutations {
            group_name: group_body["profile"]["name"].as_str().unwrap().to_owned(),
            group,
            rules,
            members,
            app_group,
            unassigned,
            deactivated,
            zone,
            loosened: (rule_kind, rule),
        }
    })
}

fn ids(entries: &[butterfly_core::restore::PlanEntry], kind: &str) -> BTreeSet<String> {
    entries
        .iter()
        .filter(|e| e.kind.as_str() == kind)
        .map(|e| e.id.clone())
        .collect()
}

/// Bodies without what Okta sets, for comparing org states.
fn state_of(okta: &FakeOkta) -> BTreeMap<(String, String), Value> {
    let set = okta.with(|s| s.clone());
    set.into_resources()
        .into_iter()
        .map(|r| {
            let mut body = r.attributes;
            if let Value::Object(m) = &mut body {
                for f in [
                    "created",
                    "lastUpdated",
                    "_links",
                    "statusChanged",
                    "lastLogin",
                    "credentials",
                    "activated",
                    "passwordChanged",
                    "lastMembershipUpdated",
                    "allGroupsValid",
                ] {
                    m.remove(f);
                }
            }
            ((r.kind.as_str().to_owned(), r.id), body)
        })
        .collect()
}

#[tokio::test]
async fn restore_brings_back_every_mutation_and_undo_takes_it_back() {
    let fx = fixture(5).await;
    let m = mutate(&fx.okta);
    let mutated = state_of(&fx.okta);
    let options = RestoreOptions::default().with_overwrite(true);
    let plan = fx
        .plan(RestoreMode::Restore, &options, &IdMap::new(), None)
        .await
        .unwrap();

    assert_eq!(
        ids(&plan.create, "group"),
        BTreeSet::from([m.group.clone()])
    );
    assert_eq!(
        ids(&plan.create, "group_rule"),
        m.rules.iter().cloned().collect()
    );
    assert_eq!(
        plan.create
            .iter()
            .filter(|e| e.kind.as_str() == "group_membership")
            .count(),
        m.members
    );
    assert!(ids(&plan.create, "app_group_assignment").contains(&m.app_group));
    assert!(ids(&plan.create, "app_user_assignment").contains(&m.unassigned));
    for user in &m.deactivated {
        assert!(ids(&plan.update, "user").contains(user), "{user}");
    }
    assert!(ids(&plan.update, "network_zone").contains(&m.zone));
    assert!(ids(&plan.update, &m.loosened.0).contains(&m.loosened.1));
    // The group comes before its rule and memberships; the plan orders by dependency.
    let order = |kind: &str| {
        plan.create
            .iter()
            .find(|e| e.kind.as_str() == kind)
            .unwrap()
            .order
    };
    assert!(order("group") < order("group_rule"));
    assert!(order("group_rule") < order("group_membership"));
    assert!(plan.delete.is_empty(), "no deletes without --delete-extra");

    let mut journal = Journal::in_memory();
    let report = fx.run(&plan, &mut journal, None).await;
    assert_eq!(report.failed, 0, "{:#?}", report.failures);
    assert_eq!(report.done as usize, plan.write_count());
    let undo_id = report.undo_snapshot.expect("an undo snapshot");

    // The group is back under a new id; its rule, memberships and app assignment point
    // at the new id.
    let new_group = fx.okta.with(|s| {
        s.kind("group")
            .find(|(_, g)| g["profile"]["name"] == m.group_name.as_str())
            .map(|(i, _)| i.clone())
            .unwrap()
    });
    assert_ne!(new_group, m.group);
    fx.okta.with(|s| {
        let rule = s
            .kind("group_rule")
            .find(|(_, r)| r["actions"]["assignUserToGroups"]["groupIds"][0] == new_group.as_str());
        assert!(rule.is_some(), "the rule targets the new group");
        let members = s
            .kind("group_membership")
            .filter(|(i, _)| i.starts_with(&format!("{new_group}/")))
            .count();
        assert_eq!(members, m.members);
        let app = m.app_group.split('/').next().unwrap();
        assert!(
            s.get("app_group_assignment", &format!("{app}/{new_group}"))
                .is_some()
        );
        for user in &m.deactivated {
            assert_eq!(s.get("user", user).unwrap()["status"], "ACTIVE");
        }
    });

    // A second run plans nothing: equal apart from remapped ids and volatile fields.
    let again = fx
        .plan(RestoreMode::Restore, &options, &IdMap::new(), None)
        .await
        .unwrap();
    assert_eq!(
        again.write_count(),
        0,
        "{:#?}",
        (&again.create, &again.update)
    );

    // Undo: back to the mutated state.
    let manifest = fx.source.manifest(undo_id).await.unwrap();
    let all: BTreeSet<String> = manifest
        .kinds
        .keys()
        .map(|k| k.as_str().to_owned())
        .collect();
    let before = ResourceSet::from_snapshot(&fx.source, &manifest, &all)
        .await
        .unwrap();
    let live = fx.okta.live();
    let undo = undo_plan(&journal, Some((undo_id, &before)), &live, at());
    assert_eq!(undo.mode, RestoreMode::Undo);
    assert!(!undo.delete.is_empty() && !undo.update.is_empty());
    let mut undo_journal = Journal::in_memory();
    let report = fx.run(&undo, &mut undo_journal, None).await;
    assert_eq!(report.failed, 0, "{:#?}", report.failures);
    let now = state_of(&fx.okta);
    let differ: Vec<_> = now
        .iter()
        .filter(|(k, v)| mutated.get(*k) != Some(*v))
        .map(|(k, v)| (k, v, mutated.get(k)))
        .collect();
    let missing: Vec<_> = mutated.keys().filter(|k| !now.contains_key(*k)).collect();
    assert!(
        differ.is_empty() && missing.is_empty(),
        "{differ:#?}\nmissing: {missing:#?}"
    );
}

#[tokio::test]
async fn a_killed_run_resumes_without_duplicates() {
    let fx = fixture(6).await;
    let m = mutate(&fx.okta);
    let options = RestoreOptions::default().with_overwrite(true);
    let plan = fx
        .plan(RestoreMode::Restore, &options, &IdMap::new(), None)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");

    // Killed two steps after the group was created.
    let group_step = plan
        .create
        .iter()
        .find(|e| e.kind.as_str() == "group")
        .unwrap()
        .order;
    let stop = usize::try_from(group_step).unwrap() + 2;
    let mut journal = Journal::open(&path).unwrap();
    let first = fx.run(&plan, &mut journal, Some(stop)).await;
    assert!(first.interrupted);
    assert_eq!(first.done as usize, stop);
    drop(journal);

    // Re-run: re-plan with what the journal says was created, continue the journal.
    let mut journal = Journal::open(&path).unwrap();
    assert!(!journal.is_finished());
    let resumed = fx
        .plan(RestoreMode::Restore, &options, &journal.created_ids(), None)
        .await
        .unwrap();
    assert!(resumed.write_count() < plan.write_count());
    assert!(
        !ids(&resumed.create, "group").contains(&m.group),
        "the group was created already"
    );
    let second = fx.run(&resumed, &mut journal, None).await;
    assert_eq!(second.failed, 0, "{:#?}", second.failures);
    assert!(Journal::open(&path).unwrap().is_finished());

    let copies = fx.okta.with(|s| {
        s.kind("group")
            .filter(|(_, g)| g["profile"]["name"] == m.group_name.as_str())
            .count()
    });
    assert_eq!(copies, 1, "no duplicate creates");
    let last = fx
        .plan(RestoreMode::Restore, &options, &IdMap::new(), None)
        .await
        .unwrap();
    assert_eq!(last.write_count(), 0);
    // The journal holds ids and actions only.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains("profile") && !text.contains("@example.com"),
        "{text}"
    );
}

#[tokio::test]
async fn a_plan_is_refused_once_the_org_changed() {
    let fx = fixture(7).await;
    mutate(&fx.okta);
    let options = RestoreOptions::default();
    let plan = fx
        .plan(RestoreMode::Restore, &options, &IdMap::new(), None)
        .await
        .unwrap();
    plan.check_live(fx.okta.live().fingerprint()).unwrap();
    // A sign-in changes nothing that matters.
    fx.okta.with(|s| {
        let (id, mut user) = s
            .kind("user")
            .map(|(i, u)| (i.clone(), u.clone()))
            .next()
            .unwrap();
        user["lastLogin"] = json!("2030-01-01T00:00:00.000Z");
        s.insert(Resource::new(ResourceKind::new("user"), id, user));
    });
    plan.check_live(fx.okta.live().fingerprint()).unwrap();
    // A rename does.
    fx.okta.with(|s| {
        let (id, mut group) = s
            .kind("group")
            .map(|(i, g)| (i.clone(), g.clone()))
            .last()
            .unwrap();
        group["profile"]["name"] = json!("Someone else's change");
        s.insert(Resource::new(ResourceKind::new("group"), id, group));
    });
    assert!(matches!(
        plan.check_live(fx.okta.live().fingerprint()),
        Err(PlanError::LiveChanged { .. })
    ));
}

#[tokio::test]
async fn dry_runs_and_skips_write_nothing_and_delete_extra_spares_users() {
    let fx = fixture(8).await;
    let m = mutate(&fx.okta);
    // A group and a user the snapshot does not have.
    fx.okta.with(|s| {
        s.insert(Resource::new(ResourceKind::new("group"), "00gEXTRA", json!({"id": "00gEXTRA", "type": "OKTA_GROUP", "profile": {"name": "Extra"}})));
        s.insert(Resource::new(ResourceKind::new("user"), "00uEXTRA", json!({"id": "00uEXTRA", "status": "ACTIVE", "profile": {"login": "extra@example.com"}})));
    });
    let options = RestoreOptions::default().with_delete_extra(true);
    let plan = fx
        .plan(RestoreMode::Restore, &options, &IdMap::new(), None)
        .await
        .unwrap();
    assert_eq!(fx.okta.writes(), 0, "planning wrote");
    assert!(ids(&plan.delete, "group").contains("00gEXTRA"));
    assert!(plan.delete.iter().all(|e| e.kind.as_str() != "user"));
    // Without --overwrite, differences are skipped with their changes.
    let zone = plan.skip.iter().find(|e| e.id == m.zone).unwrap();
    assert!(zone.reason.contains("--overwrite"));
    assert_eq!(zone.changes[0].change.pointer, "/name");
    // Deletes run last, children before parents.
    let last = plan.steps().last().map(|(a, _)| *a);
    assert_eq!(last, Some(PlanAction::Delete));
    // Selective: only groups.
    let only = RestoreOptions::default().with_kinds([ResourceKind::new("group")]);
    let plan = fx
        .plan(RestoreMode::Restore, &only, &IdMap::new(), None)
        .await
        .unwrap();
    assert!(
        plan.create
            .iter()
            .chain(&plan.skip)
            .all(|e| e.kind.as_str() == "group")
    );
    assert_eq!(ids(&plan.create, "group"), BTreeSet::from([m.group]));
}

#[tokio::test]
async fn sync_matches_by_name_into_an_org_with_other_ids_and_domains() {
    let fx = fixture(9).await;
    // The target org: the same configuration under other ids and another domain, with
    // one group and its memberships missing.
    let rename = |s: &str| {
        s.replace("00g", "00G")
            .replace("00u", "00U")
            .replace("0oa", "0OA")
    };
    let mut target = Vec::new();
    let mut missing = None;
    let all = fx.source.all_resources(fx.manifest.id).unwrap();
    let with_members: BTreeSet<String> = all
        .iter()
        .filter(|r| r.kind.as_str() == "group_membership")
        .map(|r| r.attributes["groupId"].as_str().unwrap().to_owned())
        .collect();
    for r in all {
        let text = serde_json::to_string(&r.attributes).unwrap();
        let text = rename(&text).replace("example.com", "prod.example.org");
        let body: Value = serde_json::from_str(&text).unwrap();
        if r.kind.as_str() == "group"
            && body["type"] == "OKTA_GROUP"
            && with_members.contains(&r.id)
            && missing.is_none()
        {
            missing = Some((
                r.id.clone(),
                body["profile"]["name"].as_str().unwrap().to_owned(),
            ));
            continue;
        }
        if let Some((gone, _)) = &missing
            && (r.id.starts_with(&format!("{gone}/")) || r.id.ends_with(&format!("/{gone}")))
        {
            continue;
        }
        target.push(Resource::new(r.kind.clone(), rename(&r.id), body));
    }
    let (missing_id, missing_name) = missing.unwrap();
    let fx = Fixture {
        okta: FakeOkta::new(target),
        ..fx
    };
    let vars = Variables::parse(r#"{"replace": {"example.com": "prod.example.org"}}"#).unwrap();
    let options = RestoreOptions::default().with_overwrite(true);
    let plan = fx
        .plan(RestoreMode::Sync, &options, &IdMap::new(), Some(&vars))
        .await
        .unwrap();
    assert_eq!(
        ids(&plan.create, "group"),
        BTreeSet::from([missing_id.clone()])
    );
    assert!(
        plan.create
            .iter()
            .all(|e| !matches!(e.kind.as_str(), "user" | "app")),
        "matched by name"
    );
    let detail: Vec<_> = plan
        .update
        .iter()
        .map(|e| (&e.kind, &e.id, &e.changes))
        .collect();
    // Only the rule that pointed at the missing group differs: it is updated to point at
    // the group once the group is created.
    assert!(
        plan.update.iter().all(|e| e.kind.as_str() == "group_rule"),
        "{detail:#?}"
    );

    let mut journal = Journal::in_memory();
    let live = fx.okta.live();
    let report = execute(
        &plan,
        &fx.source,
        &live,
        &fx.okta,
        &mut journal,
        &fx.source,
        &ExecuteOptions::new("sync-1").with_variables(Some(vars.clone())),
        at(),
    )
    .await
    .unwrap();
    assert_eq!(report.failed, 0, "{:#?}", report.failures);
    // Memberships were written with the target's user ids.
    let new_group = fx.okta.with(|s| {
        s.kind("group")
            .find(|(_, g)| g["profile"]["name"] == missing_name.as_str())
            .map(|(i, _)| i.clone())
            .unwrap()
    });
    fx.okta.with(|s| {
        let members: Vec<&Value> = s
            .kind("group_membership")
            .filter(|(i, _)| i.starts_with(&format!("{new_group}/")))
            .map(|(_, b)| b)
            .collect();
        assert!(!members.is_empty());
        assert!(
            members
                .iter()
                .all(|b| b["userId"].as_str().unwrap().starts_with("00U"))
        );
    });
    let again = fx
        .plan(RestoreMode::Sync, &options, &IdMap::new(), Some(&vars))
        .await
        .unwrap();
    assert_eq!(again.write_count(), 0);
}

#[tokio::test]
async fn sync_refuses_an_unresolved_placeholder() {
    let fx = fixture(10).await;
    // The staging snapshot names its domain as a placeholder.
    let mut resources = fx.source.all_resources(fx.manifest.id).unwrap();
    resources.push(Resource::new(
        ResourceKind::new("trusted_origin"),
        "tosNEW",
        json!({"id": "tosNEW", "name": "Portal", "origin": "https://${PORTAL_DOMAIN}", "status": "ACTIVE", "scopes": [{"type": "CORS"}]}),
    ));
    let mut source = InMemorySnapshotSource::new();
    let manifest = source.insert(
        butterfly_core::ProviderKind::Okta,
        "https://staging",
        at(),
        SnapshotStatus::Complete,
        resources,
    );
    let fx = Fixture {
        source,
        manifest,
        ..fx
    };
    let options = RestoreOptions::default();
    match fx
        .plan(
            RestoreMode::Sync,
            &options,
            &IdMap::new(),
            Some(&Variables::new()),
        )
        .await
    {
        Err(PlanError::UnresolvedPlaceholder { name, id, .. }) => {
            assert_eq!(name, "PORTAL_DOMAIN");
            assert_eq!(id, "tosNEW");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let vars = Variables::parse("PORTAL_DOMAIN=portal.example.org\n").unwrap();
    let plan = fx
        .plan(RestoreMode::Sync, &options, &IdMap::new(), Some(&vars))
        .await
        .unwrap();
    assert!(ids(&plan.create, "trusted_origin").contains("tosNEW"));
}

// ---------------------------------------------------------------------------------------
// The scenario over HTTP, against the simulator's writes.

use butterfly_core::diff::{DiffOptions, DiffRules, Severity, diff_snapshots};
use butterfly_providers::okta::fetcher::OktaSession;

/// Every read and manage scope.
fn admin_scopes() -> BTreeSet<String> {
    kinds::backup_scopes()
        .into_iter()
        .chain(kinds::all().filter_map(|k| k.manage_scope))
        .map(str::to_owned)
        .collect()
}

async fn call(session: &OktaSession<'_>, method: &str, path: &str, body: Option<Value>) -> Value {
    let answer = session
        .send(method, path, body.as_ref(), true)
        .await
        .unwrap();
    assert!(
        answer.is_success(),
        "{method} {path}: {} {}",
        answer.status,
        answer.body
    );
    answer.body
}

async fn http_plan(
    sim: &Sim,
    source: &InMemorySnapshotSource,
    manifest: &Snapshot,
    mode: RestoreMode,
    options: &RestoreOptions,
    known: &IdMap,
) -> (RestorePlan, LiveState) {
    let ours = snapshot_set(source, manifest, options).await;
    let live = read_live(&sim.fetcher(), &read_kinds(options))
        .await
        .unwrap();
    assert!(live.unreadable.is_empty(), "{:?}", live.unreadable);
    let client_id = sim.running.simulator().client_credentials().client_id;
    let plan = plan(&PlanInput {
        snapshot: manifest,
        snapshot_resources: &ours,
        live: &live,
        mode,
        options,
        variables: None,
        known,
        own_client_id: Some(&client_id),
        now: at(),
    })
    .unwrap();
    (plan, live)
}

/// Resources removed and added, by kind and name: what a restore that re-creates
/// objects under new ids leaves in a diff.
fn renamed_pairs(
    diff: &butterfly_core::diff::SnapshotDiff,
) -> (BTreeSet<(String, String)>, BTreeSet<(String, String)>) {
    let key =
        |e: &butterfly_core::diff::ResourceEntry| (e.kind.as_str().to_owned(), e.name.clone());
    (
        diff.removed.iter().map(key).collect(),
        diff.added.iter().map(key).collect(),
    )
}

#[tokio::test]
async fn the_scenario_over_http_restores_and_undoes() {
    let sim = Sim::start(org(12)).await;
    let fetcher = sim.fetcher();
    let session = fetcher.sign_in(admin_scopes()).await.unwrap();
    let source = InMemorySnapshotSource::new();

    // The group a rule targets gets a member and an app assignment, so deleting it
    // takes all three.
    let first = sim.back_up(&source).await;
    let all = source.all_resources(first.id).unwrap();
    let rule = all
        .iter()
        .find(|r| r.kind.as_str() == "group_rule")
        .unwrap()
        .clone();
    let group = rule.attributes["actions"]["assignUserToGroups"]["groupIds"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let app = all
        .iter()
        .find(|r| {
            r.kind.as_str() == "app"
                && r.attributes["status"] == "ACTIVE"
                && r.attributes["name"] != "oidc_client"
        })
        .unwrap()
        .id
        .clone();
    let users: Vec<String> = all
        .iter()
        .filter(|r| r.kind.as_str() == "user" && r.attributes["status"] == "ACTIVE")
        .map(|r| r.id.clone())
        .take(3)
        .collect();
    call(
        &session,
        "PUT",
        &format!("/api/v1/groups/{group}/users/{}", users[0]),
        None,
    )
    .await;
    call(
        &session,
        "PUT",
        &format!("/api/v1/apps/{app}/groups/{group}"),
        Some(json!({"priority": 0})),
    )
    .await;
    call(
        &session,
        "POST",
        &format!("/api/v1/apps/{app}/users"),
        Some(json!({"id": users[1], "scope": "USER"})),
    )
    .await;

    // 1. Back up.
    let backup = sim.back_up(&source).await;
    let resources = source.all_resources(backup.id).unwrap();
    let find = |kind: &str, pred: &dyn Fn(&Resource) -> bool| {
        resources
            .iter()
            .find(|r| r.kind.as_str() == kind && pred(r))
            .unwrap()
            .clone()
    };
    let zone = find("network_zone", &|r| r.attributes["system"] == false);
    let (policy_rule_kind, loosened) = ["policy_rule.OKTA_SIGN_ON", "policy_rule.ACCESS_POLICY"]
        .iter()
        .find_map(|k| {
            resources
                .iter()
                .find(|r| r.kind.as_str() == *k && r.attributes["system"] != true)
                .map(|r| ((*k).to_owned(), r.clone()))
        })
        .unwrap();

    // 2. Mutate the org over HTTP.
    call(
        &session,
        "POST",
        &format!("/api/v1/groups/rules/{}/lifecycle/deactivate", rule.id),
        None,
    )
    .await;
    call(
        &session,
        "DELETE",
        &format!("/api/v1/groups/rules/{}", rule.id),
        None,
    )
    .await;
    call(&session, "DELETE", &format!("/api/v1/groups/{group}"), None).await;
    let mut looser = loosened.attributes.clone();
    looser["conditions"]["network"] = json!({"connection": "ANYWHERE"});
    let (policy_id, rule_id) = loosened.id.split_once('/').unwrap();
    call(
        &session,
        "PUT",
        &format!("/api/v1/policies/{policy_id}/rules/{rule_id}"),
        Some(looser),
    )
    .await;
    call(
        &session,
        "DELETE",
        &format!("/api/v1/apps/{app}/users/{}", users[1]),
        None,
    )
    .await;
    for user in &users[..2] {
        call(
            &session,
            "POST",
            &format!("/api/v1/users/{user}/lifecycle/deactivate"),
            None,
        )
        .await;
    }
    let mut renamed = zone.attributes.clone();
    renamed["name"] = json!("Renamed by someone");
    call(
        &session,
        "PUT",
        &format!("/api/v1/zones/{}", zone.id),
        Some(renamed),
    )
    .await;

    // 3. The diff of the live org against the backup finds every mutation.
    let mutated = sim.back_up(&source).await;
    let rules = DiffRules::for_provider(butterfly_core::ProviderKind::Okta);
    let diff = diff_snapshots(&source, &backup, &mutated, &rules, &DiffOptions::default())
        .await
        .unwrap();
    let removed = |kind: &str, id: &str| {
        diff.removed
            .iter()
            .find(|e| e.kind.as_str() == kind && e.id == id)
            .map(|e| e.severity)
    };
    let changed = |kind: &str, id: &str| {
        diff.changed
            .iter()
            .find(|e| e.kind.as_str() == kind && e.id == id)
            .map(|e| e.severity)
    };
    assert_eq!(removed("group", &group), Some(Severity::Medium));
    assert_eq!(removed("group_rule", &rule.id), Some(Severity::Medium));
    assert_eq!(
        removed("group_membership", &format!("{group}/{}", users[0])),
        Some(Severity::Low)
    );
    assert_eq!(
        removed("app_group_assignment", &format!("{app}/{group}")),
        Some(Severity::Low)
    );
    assert_eq!(
        removed("app_user_assignment", &format!("{app}/{}", users[1])),
        Some(Severity::Low)
    );
    assert_eq!(
        changed(&policy_rule_kind, &loosened.id),
        Some(Severity::Critical)
    );
    assert_eq!(changed("network_zone", &zone.id), Some(Severity::Medium));
    for user in &users[..2] {
        assert_eq!(changed("user", user), Some(Severity::Medium));
    }

    // 4. Restore, then back up again: equal to the first apart from remapped ids.
    let options = RestoreOptions::default().with_overwrite(true);
    let (plan, live) = http_plan(
        &sim,
        &source,
        &backup,
        RestoreMode::Restore,
        &options,
        &IdMap::new(),
    )
    .await;
    assert!(plan.write_count() >= 8, "{:#?}", plan.steps());
    let before = sim.running.simulator().request_log();
    let mut journal = Journal::in_memory();
    let report = execute(
        &plan,
        &source,
        &live,
        &session,
        &mut journal,
        &source,
        &ExecuteOptions::new("http-1"),
        at(),
    )
    .await
    .unwrap();
    assert_eq!(report.failed, 0, "{:#?}", report.failures);
    assert!(sim.running.simulator().request_log().writes > before.writes);
    let restored = sim.back_up(&source).await;
    let diff = diff_snapshots(&source, &backup, &restored, &rules, &DiffOptions::default())
        .await
        .unwrap();
    // A relation re-created under the same id (an app assignment is keyed by its user)
    // has a new creation time, and nothing else differs.
    let detail: Vec<_> = diff
        .changed
        .iter()
        .flat_map(|c| c.changes.iter().map(move |f| (&c.kind, &c.id, f)))
        .filter(|(_, _, f)| f.change.pointer != "/created")
        .collect();
    assert!(detail.is_empty(), "{detail:#?}");
    // Re-created under new ids: as many of each kind removed as added, except group
    // owners, which do not restore yet (a follow-up says so).
    let by_kind = |entries: &[butterfly_core::diff::ResourceEntry]| {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for e in entries.iter().filter(|e| e.kind.as_str() != "group_owner") {
            *counts.entry(e.kind.as_str().to_owned()).or_default() += 1;
        }
        counts
    };
    assert_eq!(by_kind(&diff.removed), by_kind(&diff.added));
    let (gone, back) = renamed_pairs(&diff);
    for named in gone
        .iter()
        .filter(|(k, _)| k == "group" || k == "group_rule")
    {
        assert!(back.contains(named), "{named:?} did not come back");
    }
    assert!(
        plan.follow_ups
            .iter()
            .any(|f| f.what.contains("`group_owner`"))
    );
    let (again, _) = http_plan(
        &sim,
        &source,
        &backup,
        RestoreMode::Restore,
        &options,
        &IdMap::new(),
    )
    .await;
    assert_eq!(again.write_count(), 0, "{:#?}", again.steps());

    // 5. Undo: back to the mutated state.
    let undo_id = report.undo_snapshot.unwrap();
    let manifest = source.manifest(undo_id).await.unwrap();
    let kinds_held: BTreeSet<String> = manifest
        .kinds
        .keys()
        .map(|k| k.as_str().to_owned())
        .collect();
    let before_run = ResourceSet::from_snapshot(&source, &manifest, &kinds_held)
        .await
        .unwrap();
    let live = read_live(&fetcher, &read_kinds(&RestoreOptions::default()))
        .await
        .unwrap();
    let undo = undo_plan(&journal, Some((undo_id, &before_run)), &live, at());
    let mut undo_journal = Journal::in_memory();
    let report = execute(
        &undo,
        &source,
        &live,
        &session,
        &mut undo_journal,
        &source,
        &ExecuteOptions::new("http-undo"),
        at(),
    )
    .await
    .unwrap();
    assert_eq!(report.failed, 0, "{:#?}", report.failures);
    let undone = sim.back_up(&source).await;
    let diff = diff_snapshots(&source, &mutated, &undone, &rules, &DiffOptions::default())
        .await
        .unwrap();
    let detail: Vec<_> = diff
        .changed
        .iter()
        .map(|c| (&c.kind, &c.id, &c.changes))
        .collect();
    assert!(
        diff.changed.is_empty() && diff.added.is_empty() && diff.removed.is_empty(),
        "{detail:#?} {:?} {:?}",
        diff.added,
        diff.removed
    );
}

#[tokio::test]
async fn over_http_a_dry_run_writes_nothing_and_a_stale_plan_is_refused() {
    let sim = Sim::start(org(13)).await;
    let source = InMemorySnapshotSource::new();
    let backup = sim.back_up(&source).await;
    let session = sim.fetcher();
    let session = session.sign_in(admin_scopes()).await.unwrap();
    let group = source
        .all_resources(backup.id)
        .unwrap()
        .into_iter()
        .find(|r| r.kind.as_str() == "group" && r.attributes["type"] == "OKTA_GROUP")
        .unwrap();
    call(
        &session,
        "DELETE",
        &format!("/api/v1/groups/{}", group.id),
        None,
    )
    .await;

    let before = sim.running.simulator().request_log();
    let options = RestoreOptions::default();
    let (plan, _) = http_plan(
        &sim,
        &source,
        &backup,
        RestoreMode::Restore,
        &options,
        &IdMap::new(),
    )
    .await;
    assert!(ids(&plan.create, "group").contains(&group.id));
    assert_eq!(
        sim.running.simulator().request_log().writes,
        before.writes,
        "planning wrote"
    );

    // Someone renames another group: the reviewed plan no longer holds.
    let other = source
        .all_resources(backup.id)
        .unwrap()
        .into_iter()
        .find(|r| {
            r.kind.as_str() == "group" && r.attributes["type"] == "OKTA_GROUP" && r.id != group.id
        })
        .unwrap();
    let mut renamed = other.attributes.clone();
    renamed["profile"]["name"] = json!("Renamed meanwhile");
    call(
        &session,
        "PUT",
        &format!("/api/v1/groups/{}", other.id),
        Some(json!({"profile": renamed["profile"]})),
    )
    .await;
    let live = read_live(&sim.fetcher(), &read_kinds(&plan.options))
        .await
        .unwrap();
    assert!(matches!(
        plan.check_live(live.fingerprint()),
        Err(PlanError::LiveChanged { .. })
    ));
}

#[tokio::test]
async fn over_http_a_killed_run_resumes_and_sync_crosses_orgs() {
    let staging = Sim::start(org(14)).await;
    let source = InMemorySnapshotSource::new();
    let backup = staging.back_up(&source).await;
    // Production: another org (other ids), where one group of staging is missing.
    let prod = Sim::start(org(15)).await;
    let session_fetcher = prod.fetcher();
    let session = session_fetcher.sign_in(admin_scopes()).await.unwrap();
    let options = RestoreOptions::default().with_kinds(
        [
            "group",
            "group_membership",
            "network_zone",
            "trusted_origin",
        ]
        .map(ResourceKind::new),
    );
    let (plan, live) = http_plan(
        &prod,
        &source,
        &backup,
        RestoreMode::Sync,
        &options,
        &IdMap::new(),
    )
    .await;
    assert!(plan.write_count() > 2, "{:#?}", plan.steps());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let mut journal = Journal::open(&path).unwrap();
    let first = execute(
        &plan,
        &source,
        &live,
        &session,
        &mut journal,
        &source,
        &ExecuteOptions::new("sync-1").with_stop_after(Some(2)),
        at(),
    )
    .await
    .unwrap();
    assert!(first.interrupted);
    drop(journal);
    let mut journal = Journal::open(&path).unwrap();
    let (resumed, live) = http_plan(
        &prod,
        &source,
        &backup,
        RestoreMode::Sync,
        &options,
        &journal.created_ids(),
    )
    .await;
    assert_eq!(resumed.write_count(), plan.write_count() - 2);
    let second = execute(
        &resumed,
        &source,
        &live,
        &session,
        &mut journal,
        &source,
        &ExecuteOptions::new("sync-1"),
        at(),
    )
    .await
    .unwrap();
    assert_eq!(second.failed, 0, "{:#?}", second.failures);
    let (last, _) = http_plan(
        &prod,
        &source,
        &backup,
        RestoreMode::Sync,
        &options,
        &IdMap::new(),
    )
    .await;
    assert_eq!(last.write_count(), 0, "{:#?}", last.steps());
}

#[tokio::test]
async fn a_sync_run_without_its_variables_writes_no_placeholder() {
    let fx = fixture(16).await;
    let mut resources = fx.source.all_resources(fx.manifest.id).unwrap();
    resources.push(Resource::new(
        ResourceKind::new("trusted_origin"),
        "tosNEW",
        json!({"id": "tosNEW", "name": "Portal", "origin": "https://${PORTAL_DOMAIN}", "status": "ACTIVE", "scopes": [{"type": "CORS"}]}),
    ));
    let mut source = InMemorySnapshotSource::new();
    let manifest = source.insert(
        butterfly_core::ProviderKind::Okta,
        "https://staging",
        at(),
        SnapshotStatus::Complete,
        resources,
    );
    let fx = Fixture {
        source,
        manifest,
        ..fx
    };
    let vars = Variables::parse("PORTAL_DOMAIN=portal.example.org\n").unwrap();
    let options = RestoreOptions::default().with_kinds([ResourceKind::new("trusted_origin")]);
    let plan = fx
        .plan(RestoreMode::Sync, &options, &IdMap::new(), Some(&vars))
        .await
        .unwrap();
    // Executed without the variables (a saved plan run on its own): refused, unwritten.
    let live = fx.okta.live();
    let result = execute(
        &plan,
        &fx.source,
        &live,
        &fx.okta,
        &mut Journal::in_memory(),
        &fx.source,
        &ExecuteOptions::new("sync-2"),
        at(),
    )
    .await;
    assert!(matches!(
        result,
        Err(butterfly_providers::okta::restore::ExecuteError::Plan(
            PlanError::UnresolvedPlaceholder { .. }
        ))
    ));
    assert!(
        fx.okta
            .with(|s| s.get("trusted_origin", "tosNEW").is_none())
    );
    assert!(
        fx.okta
            .with(|s| !s.kind("trusted_origin").any(|(_, t)| t["name"] == "Portal"))
    );
}
