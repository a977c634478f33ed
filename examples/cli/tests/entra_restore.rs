//! The Entra ID restore scenario from the CLI, against the Graph simulator:
//! `butterfly backup entra`, mutate the tenant, `butterfly restore --dry-run`, `butterfly
//! restore`, back up again and compare the two snapshots, then `--undo`. Plus the error
//! paths: a missing write permission, a 429 storm, and a write refused midway.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Output};

use butterfly_core::{Resource, SnapshotId};
use butterfly_providers::entra::fetcher::{
    ClientCredential, ClientSecret, EndpointUrl, EntraCredentials, EntraFetchOptions, EntraFetcher,
    TenantId,
};
use butterfly_providers::entra::simulator::{
    EntraSimConfig, EntraSimulator, TenantConfig, default_permissions,
};
use butterfly_providers::okta::fetcher::ClientId;
use butterfly_providers::okta::simulator::{FaultKind, FaultRule};
use serde_json::{Value, json};

const REPO_PASSWORD: &str = "entra-restore-tests";

/// Fields that differ between a snapshot and one taken after a restore without anything
/// being wrong, and why. Defined once; [`normalize`] drops them everywhere.
const VOLATILE: &[(&str, &str)] = &[
    (
        "id",
        "Graph gives a re-created object a new object id (references are compared by natural key instead)",
    ),
    (
        "createdDateTime",
        "a re-created object is created at restore time",
    ),
    ("modifiedDateTime", "every write moves it"),
    ("lastModifiedDateTime", "every write moves it"),
    (
        "renewedDateTime",
        "a re-created group is renewed at creation",
    ),
    ("deletedDateTime", "set by Graph on soft delete only"),
    (
        "securityIdentifier",
        "Graph derives a group's SID from its new object id",
    ),
    (
        "passwordCredentials",
        "apps and service principals come back without credentials: secrets are never in a snapshot (documented)",
    ),
    (
        "keyCredentials",
        "apps and service principals come back without credentials (documented)",
    ),
    ("signInActivity", "sign-ins happen between the backups"),
    (
        "proxyAddresses",
        "Graph derives proxy addresses from mail and mailNickname; a restore cannot write them",
    ),
    (
        "deltaLink",
        "each backup ends with a new delta token (the `delta_link` bookmark kind)",
    ),
];

/// Whether a value counts as absent: Graph returns `null` or `[]` for what it has not
/// set, and a re-created object may leave such a property out entirely.
fn absent(value: &Value) -> bool {
    value.is_null() || value.as_array().is_some_and(Vec::is_empty)
}

struct Setup {
    sim: EntraSimulator,
    dir: tempfile::TempDir,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

impl Setup {
    async fn start() -> Setup {
        let sim = EntraSimulator::start(EntraSimConfig {
            tenant: TenantConfig {
                seed: 5,
                users: 30,
                groups: 6,
                apps: 4,
                secret_canary: false,
            },
            // Far above what these tests spend, except where a test adds throttling.
            resource_units_per_10s: Some(1_000_000),
            ..EntraSimConfig::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret.txt"), sim.client_secret()).unwrap();
        Setup { sim, dir }
    }

    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// The binary with the tenant's connection flags after `args`.
    fn butterfly(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_butterfly"));
        cmd.env("BUTTERFLY_REPO_PASSWORD", REPO_PASSWORD)
            .args(args)
            .arg("--allow-private-org-urls")
            .args(["--tenant-id", self.sim.tenant_id()])
            .args(["--client-id", self.sim.client_id()])
            .args(["--graph-url", self.sim.graph_url()])
            .args(["--authority-url", self.sim.authority_url()])
            .arg("--client-secret-file")
            .arg(self.dir.path().join("secret.txt"))
            .arg("--repo")
            .arg(self.repo());
        cmd
    }

    async fn backup(&self) -> SnapshotId {
        let out = run(self.butterfly(&["backup", "entra", "--full"])).await;
        assert!(out.status.success(), "backup: {}", text(&out.stderr));
        text(&out.stdout).lines().last().unwrap().parse().unwrap()
    }

    async fn restore(&self, extra: &[&str]) -> Output {
        let mut args = vec!["restore"];
        args.extend_from_slice(extra);
        run(self.butterfly(&args)).await
    }

    /// Every resource of a snapshot, through `snapshots download --format jsonl`.
    async fn resources(&self, id: SnapshotId) -> Vec<Resource> {
        let file = self.dir.path().join(format!("{id}.jsonl"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_butterfly"));
        cmd.env("BUTTERFLY_REPO_PASSWORD", REPO_PASSWORD)
            .args([
                "snapshots",
                "download",
                &id.to_string(),
                "--format",
                "jsonl",
            ])
            .arg("--repo")
            .arg(self.repo())
            .arg("--out")
            .arg(&file);
        let out = run(cmd).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn fetcher(&self) -> EntraFetcher {
        let credentials = EntraCredentials {
            tenant_id: TenantId::new(self.sim.tenant_id()).unwrap(),
            client_id: ClientId::new(self.sim.client_id()).unwrap(),
            credential: ClientCredential::Secret(
                ClientSecret::new(self.sim.client_secret()).unwrap(),
            ),
            graph_url: EndpointUrl::parse(self.sim.graph_url()).unwrap(),
            authority_url: EndpointUrl::parse(self.sim.authority_url()).unwrap(),
        };
        EntraFetcher::new(
            credentials,
            EntraFetchOptions {
                insecure_allow_private_addresses: true,
                ..EntraFetchOptions::default()
            },
        )
        .unwrap()
    }

    /// Send Graph writes as an attacker or a mistaken admin would.
    async fn graph(&self, writes: &[(&str, String, Option<Value>)]) {
        let fetcher = self.fetcher();
        let session = fetcher.session().await.unwrap();
        for (method, path, body) in writes {
            session
                .send(method, path, body.as_ref())
                .await
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        }
    }

    fn first(&self, kind: &str, pick: impl Fn(&Value) -> bool) -> (String, Value) {
        let tenant = self.sim.tenant();
        let (id, body) = tenant
            .objects_of(kind)
            .find(|(_, b)| pick(b))
            .unwrap_or_else(|| panic!("no {kind} to pick"));
        (id.clone(), body.clone())
    }

    fn count(&self, kind: &str) -> usize {
        self.sim.tenant().objects_of(kind).count()
    }
}

fn field<'a>(body: &'a Value, name: &str) -> &'a str {
    body.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// The natural key of a restorable object, by which both snapshots are matched.
fn natural_key(kind: &str, body: &Value) -> Option<String> {
    match kind {
        "user" => Some(field(body, "userPrincipalName").to_lowercase()),
        "group"
        | "application"
        | "service_principal"
        | "named_location"
        | "conditional_access_policy" => Some(format!("{kind}:{}", field(body, "displayName"))),
        _ => None,
    }
}

/// A snapshot as compared: keyed by kind and natural key, with object ids (and
/// application ids) wherever they appear replaced by the natural key of the object they
/// name, and the [`VOLATILE`] fields dropped.
fn normalize(
    resources: &[Resource],
    names: &BTreeMap<String, String>,
) -> BTreeMap<(String, String), Value> {
    fn walk(value: &mut Value, names: &BTreeMap<String, String>) {
        match value {
            Value::String(s) => {
                if let Some(name) = names.get(s.as_str()) {
                    *s = name.clone();
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, names)),
            Value::Object(map) => {
                for (field, _) in VOLATILE {
                    map.remove(*field);
                }
                map.retain(|_, v| !absent(v));
                map.values_mut().for_each(|v| walk(v, names));
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    for r in resources {
        let key =
            r.id.split('/')
                .map(|part| names.get(part).cloned().unwrap_or_else(|| part.to_owned()))
                .collect::<Vec<_>>()
                .join("/");
        let mut body = r.attributes.clone();
        walk(&mut body, names);
        out.insert((r.kind.as_str().to_owned(), key), body);
    }
    out
}

/// Object ids and application ids of both snapshots, each to the natural key of the
/// object it names: an object re-created under a new id has one name for both ids.
fn names_of(snapshots: &[&[Resource]]) -> BTreeMap<String, String> {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for r in snapshots.iter().flat_map(|s| s.iter()) {
        if let Some(key) = natural_key(r.kind.as_str(), &r.attributes) {
            names.insert(r.id.clone(), key.clone());
            if r.kind.as_str() == "application" {
                names.insert(field(&r.attributes, "appId").to_owned(), key);
            }
        }
    }
    names
}

/// The differences between two normalized snapshots, as `kind key: what`.
fn differences(
    before: &BTreeMap<(String, String), Value>,
    after: &BTreeMap<(String, String), Value>,
) -> Vec<String> {
    let keys: BTreeSet<&(String, String)> = before.keys().chain(after.keys()).collect();
    let mut out = Vec::new();
    for key in keys {
        match (before.get(key), after.get(key)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => {
                let (a, b) = (a.as_object().unwrap(), b.as_object().unwrap());
                let fields: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                for f in fields {
                    if a.get(f) != b.get(f) {
                        out.push(format!(
                            "{} {}: {f}: {:?} -> {:?}",
                            key.0,
                            key.1,
                            a.get(f),
                            b.get(f)
                        ));
                    }
                }
            }
            (Some(_), None) => out.push(format!("{} {}: missing after", key.0, key.1)),
            (None, _) => out.push(format!("{} {}: extra after", key.0, key.1)),
        }
    }
    out
}

/// The run id a restore printed (`run RUN_ID: ...`).
fn run_id(out: &Output) -> String {
    let stdout = text(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("run ")?.split(':').next().map(str::to_owned))
        .unwrap_or_else(|| panic!("no run id in {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_restore_scenario_back_up_mutate_restore_back_up_compare_and_undo() {
    let s = Setup::start().await;
    let first = s.backup().await;

    // Mutate: delete a user, a group, a named location, an application (and so its
    // service principal); take a member out of another group; disable an enforced
    // Conditional Access policy.
    let (user, user_body) = s.first("user", |u| u["accountEnabled"] == json!(true));
    let (group, group_body) = s.first("group", |_| true);
    let (location, location_body) = s.first("named_location", |_| true);
    let (app, app_body) = s.first("application", |_| true);
    let (other_group, _) = s.first("group", |g| g["id"] != json!(group));
    let member = s.sim.tenant().members_of("group_member", &other_group)[0].clone();
    let (policy, policy_body) = s.first("conditional_access_policy", |p| {
        p["state"] == json!("enabled")
    });
    let users = s.count("user");
    s.graph(&[
        ("DELETE", format!("/users/{user}"), None),
        ("DELETE", format!("/groups/{group}"), None),
        (
            "DELETE",
            format!("/identity/conditionalAccess/namedLocations/{location}"),
            None,
        ),
        ("DELETE", format!("/applications/{app}"), None),
        (
            "DELETE",
            format!("/groups/{other_group}/members/{member}/$ref"),
            None,
        ),
        (
            "PATCH",
            format!("/identity/conditionalAccess/policies/{policy}"),
            Some(json!({"state": "disabled"})),
        ),
    ])
    .await;
    assert_eq!(s.count("user"), users - 1);

    // The dry run shows the plan and writes nothing.
    let writes_before = s.sim.request_log().writes;
    let snapshot = first.to_string();
    let out = s.restore(&[&snapshot, "--overwrite", "--dry-run"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    for needle in [
        "users come back disabled, without their passwords",
        "without credentials",
        "report-only (enabledForReportingButNotEnforced)",
        "dry run: nothing was written",
        field(&user_body, "userPrincipalName"),
        field(&group_body, "displayName"),
        field(&location_body, "displayName"),
        field(&app_body, "displayName"),
        field(&policy_body, "displayName"),
    ] {
        assert!(plan.contains(needle), "{needle:?} not in:\n{plan}");
    }
    assert!(plan.contains("created disabled"), "{plan}");
    assert_eq!(s.sim.request_log().writes, writes_before, "a dry run wrote");

    // The restore.
    let out = s.restore(&[&snapshot, "--overwrite"]).await;
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let restore_run = run_id(&out);
    assert!(
        s.repo()
            .join("restores")
            .join(&restore_run)
            .join("journal.jsonl")
            .is_file()
    );
    // Its journal holds ids and actions, never bodies or passwords.
    let journal = std::fs::read_to_string(
        s.repo()
            .join("restores")
            .join(&restore_run)
            .join("journal.jsonl"),
    )
    .unwrap();
    assert!(
        !journal.contains("passwordProfile") && !journal.contains("!Aa1"),
        "{journal}"
    );

    // Back up again: equal to the first snapshot apart from ids and volatile fields,
    // and the documented differences of a restore.
    let second = s.backup().await;
    let (first_resources, second_resources) = (s.resources(first).await, s.resources(second).await);
    let names = names_of(&[&first_resources, &second_resources]);
    let before = normalize(&first_resources, &names);
    let after = normalize(&second_resources, &names);
    let upn = field(&user_body, "userPrincipalName").to_lowercase();
    let policy_key = format!(
        "conditional_access_policy:{}",
        field(&policy_body, "displayName")
    );
    let documented = |d: &String| {
        // The re-created user comes back disabled.
        d.starts_with(&format!("user {upn}: accountEnabled"))
            // The disabled policy comes back report-only, not enforced.
            || d.starts_with(&format!("conditional_access_policy {policy_key}: state: Some(String(\"enabled\")) -> Some(String(\"{}\"))", "enabledForReportingButNotEnforced"))
    };
    let unexpected: Vec<String> = differences(&before, &after)
        .into_iter()
        .filter(|d| !documented(d))
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    let restored_user = s.first("user", |u| {
        field(u, "userPrincipalName").eq_ignore_ascii_case(&upn)
    });
    assert_eq!(restored_user.1["accountEnabled"], json!(false));
    assert_ne!(restored_user.0, user, "a re-created user has a new id");
    assert_eq!(
        s.sim
            .tenant()
            .object("conditional_access_policy", &policy)
            .unwrap()["state"],
        json!("enabledForReportingButNotEnforced")
    );

    // Undo, from a later process: the tenant is as it was before the restore.
    let out = s.restore(&["--undo", &restore_run]).await;
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(s.count("user"), users - 1);
    assert!(
        !s.sim
            .tenant()
            .objects_of("user")
            .any(|(_, u)| field(u, "userPrincipalName").eq_ignore_ascii_case(&upn))
    );
    assert!(
        !s.sim
            .tenant()
            .objects_of("named_location")
            .any(|(_, l)| field(l, "displayName") == field(&location_body, "displayName"))
    );
    assert_eq!(
        s.sim
            .tenant()
            .object("conditional_access_policy", &policy)
            .unwrap()["state"],
        json!("disabled")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_write_permission_is_named_and_nothing_is_written() {
    let s = Setup::start().await;
    let first = s.backup().await;
    let (group, _) = s.first("group", |_| true);
    s.graph(&[("DELETE", format!("/groups/{group}"), None)])
        .await;
    let mut roles = default_permissions();
    for write in ["Group.ReadWrite.All", "Directory.ReadWrite.All"] {
        roles.remove(write);
    }
    s.sim.set_permissions(roles);
    let writes = s.sim.request_log().writes;
    let out = s.restore(&[&first.to_string()]).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("Group.ReadWrite.All")
            && stderr.contains("Authorization_RequestDenied")
            && stderr.contains("nothing was written"),
        "{stderr}"
    );
    assert_eq!(s.sim.request_log().writes, writes);
    // No journal claims a step.
    for entry in std::fs::read_dir(s.repo().join("restores"))
        .into_iter()
        .flatten()
    {
        let journal = entry.unwrap().path().join("journal.jsonl");
        let text = std::fs::read_to_string(journal).unwrap_or_default();
        assert!(!text.contains("\"outcome\":\"done\""), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_is_ridden_out() {
    let s = Setup::start().await;
    let first = s.backup().await;
    let (user, _) = s.first("user", |_| true);
    let (location, _) = s.first("named_location", |_| true);
    s.graph(&[
        ("DELETE", format!("/users/{user}"), None),
        (
            "DELETE",
            format!("/identity/conditionalAccess/namedLocations/{location}"),
            None,
        ),
    ])
    .await;
    let users = s.count("user");
    // Every Graph request may be throttled (Retry-After: 1), a few times over.
    let mut storm = FaultRule::new(FaultKind::RateLimitStorm);
    storm.count = Some(4);
    storm.path_prefix = Some("/v1.0/".into());
    s.sim.add_faults([storm]);
    let out = s.restore(&[&first.to_string()]).await;
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(s.count("user"), users + 1);
    assert!(
        s.sim
            .request_log()
            .by_status
            .get(&429)
            .copied()
            .unwrap_or(0)
            >= 4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_refused_midway_is_journaled_and_undone() {
    let s = Setup::start().await;
    let first = s.backup().await;
    // A guest deleted (the restore creates it first); a member renamed, and a new user
    // given the member's old name, so putting the name back is refused (409).
    let (guest, guest_body) = s.first("user", |u| u["userType"] == json!("Guest"));
    let (member, member_body) = s.first("user", |u| u["userType"] == json!("Member"));
    let upn = field(&member_body, "userPrincipalName").to_owned();
    let (local, domain) = upn.split_once('@').unwrap();
    s.graph(&[
        ("DELETE", format!("/users/{guest}"), None),
        (
            "PATCH",
            format!("/users/{member}"),
            Some(json!({"userPrincipalName": format!("moved.{local}@{domain}")})),
        ),
        (
            "POST",
            "/users".to_owned(),
            Some(json!({"accountEnabled": false, "displayName": "Squatter",
                "mailNickname": "squatter", "userPrincipalName": upn,
                "passwordProfile": {"forceChangePasswordNextSignIn": true, "password": "Sq-4tter!Sq-4tter!"}})),
        ),
    ])
    .await;
    let users = s.count("user");
    let out = s.restore(&[&first.to_string(), "--overwrite"]).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("step #")
            && stderr.contains("update user")
            && stderr.contains(&format!("PATCH /users/{member}"))
            && stderr.contains("409 Request_MultipleObjectsWithSameKeyValue"),
        "{stderr}"
    );
    // The guest was created before; the journal says so, and which step failed.
    assert_eq!(s.count("user"), users + 1);
    let run = stderr
        .split("run ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_owned();
    let journal =
        std::fs::read_to_string(s.repo().join("restores").join(&run).join("journal.jsonl"))
            .unwrap();
    assert!(journal.contains("\"outcome\":\"done\""), "{journal}");
    assert!(journal.contains("\"outcome\":\"failed\""), "{journal}");
    // Undo, from a later process, takes the created guest back.
    let out = s.restore(&["--undo", &run]).await;
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(s.count("user"), users);
    assert!(
        !s.sim
            .tenant()
            .objects_of("user")
            .any(|(_, u)| u["userPrincipalName"] == guest_body["userPrincipalName"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_restore_continues_in_its_run_and_undoes_whole() {
    let s = Setup::start().await;
    let first = s.backup().await;
    let (user, _) = s.first("user", |u| u["userType"] == json!("Member"));
    let (location, location_body) = s.first("named_location", |_| true);
    s.graph(&[
        ("DELETE", format!("/users/{user}"), None),
        (
            "DELETE",
            format!("/identity/conditionalAccess/namedLocations/{location}"),
            None,
        ),
    ])
    .await;
    let users = s.count("user");
    let locations = s.count("named_location");
    // Killed after its first step (the user).
    let out = s.restore(&[&first.to_string(), "--stop-after", "1"]).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("stopped before the end"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        (s.count("user"), s.count("named_location")),
        (users + 1, locations)
    );
    // Run again: the same run goes on, and the user is not created twice.
    let out = s.restore(&[&first.to_string()]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        (s.count("user"), s.count("named_location")),
        (users + 1, locations + 1)
    );
    let runs: Vec<_> = std::fs::read_dir(s.repo().join("restores"))
        .unwrap()
        .collect();
    assert_eq!(runs.len(), 1);
    let run = run_id(&out);
    // Undo takes back both attempts.
    let out = s.restore(&["--undo", &run]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        (s.count("user"), s.count("named_location")),
        (users, locations)
    );
    assert!(
        !s.sim
            .tenant()
            .objects_of("named_location")
            .any(|(_, l)| l["displayName"] == location_body["displayName"])
    );
}

/// An Entra restore names the credential it lacks, before anything is read.
#[test]
fn an_entra_restore_without_a_credential_is_refused_by_its_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_butterfly"))
        .args([
            "restore",
            "3f2a",
            "--repo",
            "/nonexistent",
            "--tenant-id",
            "contoso.onmicrosoft.com",
            "--client-id",
            "c1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--client-secret-file"), "{stderr}");
    assert!(!stderr.contains("client secret is empty"), "{stderr}");
}
