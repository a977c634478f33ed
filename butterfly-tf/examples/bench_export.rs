//! How long the Terraform export takes, and how much it writes, for a large org.
//!
//! ```sh
//! cargo run --release -p butterfly-tf --example bench_export -- [USERS]
//! ```
//!
//! Builds a synthetic org in an `InMemorySnapshotSource` (default 50,000 users, one
//! group per 50 users with each user in three groups, 100 apps of the five covered
//! sign-on modes, each user assigned to one app, each group to one app) and prints the
//! export's time and output size. Timing here is a measurement printed for people, not
//! an assertion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Sizes printed for people: a rounding error in the tenth of a KiB does not matter.
#![allow(clippy::cast_precision_loss)]

use std::time::Instant;

use butterfly_core::source::InMemorySnapshotSource;
use butterfly_core::{ProviderKind, Resource, ResourceKind, SnapshotStatus};
use butterfly_tf::{ExportOptions, export};
use serde_json::json;

fn org(users: usize) -> Vec<Resource> {
    let groups = (users / 50).max(1);
    let apps = 100;
    let mut out = Vec::with_capacity(users * 5);
    let kind = ResourceKind::new;
    for u in 0..users {
        let id = format!("00u{u:017}");
        out.push(Resource::new(
            kind("user"),
            &id,
            json!({"id": id, "status": "ACTIVE", "type": {"id": "oty1"},
                   "profile": {"login": format!("user{u}@example.com"), "email": format!("user{u}@example.com"),
                               "firstName": "Ada", "lastName": format!("Lovelace {u}"),
                               "department": "Engineering", "title": "Engineer", "costCenter": "R&D",
                               "employeeNumber": u.to_string(), "badge": u}}),
        ));
        for k in 0..3 {
            let g = format!("00g{:017}", (u + k * 7) % groups);
            out.push(Resource::new(
                kind("group_membership"),
                format!("{g}/{id}"),
                json!({"groupId": g, "userId": id}),
            ));
        }
        let a = format!("0oa{:017}", u % apps);
        out.push(Resource::new(
            kind("app_user_assignment"),
            format!("{a}/{id}"),
            json!({"id": id, "scope": "USER", "credentials": {"userName": format!("user{u}@example.com")}}),
        ));
    }
    for g in 0..groups {
        let id = format!("00g{g:017}");
        out.push(Resource::new(
            kind("group"),
            &id,
            json!({"id": id, "type": "OKTA_GROUP", "profile": {"name": format!("Team {g}"), "description": "A team"}}),
        ));
        let a = format!("0oa{:017}", g % apps);
        out.push(Resource::new(
            kind("app_group_assignment"),
            format!("{a}/{id}"),
            json!({"id": id, "priority": 0}),
        ));
    }
    for a in 0..apps {
        let id = format!("0oa{a:017}");
        let body = match a % 5 {
            0 => json!({"signOnMode": "OPENID_CONNECT",
                        "credentials": {"oauthClient": {"client_id": id, "token_endpoint_auth_method": "client_secret_basic"}},
                        "settings": {"oauthClient": {"application_type": "web", "redirect_uris": ["https://app.example.com/cb"]}}}),
            1 => {
                json!({"signOnMode": "SAML_2_0", "name": "app_saml", "settings": {"signOn": {"ssoAcsUrl": "https://app.example.com/acs", "audience": "https://app.example.com"}}})
            }
            2 => {
                json!({"signOnMode": "BOOKMARK", "settings": {"app": {"url": "https://app.example.com"}}})
            }
            3 => {
                json!({"signOnMode": "BASIC_AUTH", "settings": {"app": {"url": "https://app.example.com", "authURL": "https://app.example.com/login"}}})
            }
            _ => {
                json!({"signOnMode": "BROWSER_PLUGIN", "name": "template_swa", "settings": {"app": {"url": "https://app.example.com/login"}}})
            }
        };
        let mut body = body;
        body["id"] = json!(id);
        body["label"] = json!(format!("App {a}"));
        body["status"] = json!("ACTIVE");
        out.push(Resource::new(kind("app"), &id, body));
    }
    out
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let users: usize = std::env::args()
        .nth(1)
        .map_or(50_000, |n| n.parse().expect("USERS is a number"));
    let started = Instant::now();
    let resources = org(users);
    let count = resources.len();
    let mut source = InMemorySnapshotSource::new();
    let snapshot = source.insert(
        ProviderKind::Okta,
        "https://bench.okta.com",
        chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        SnapshotStatus::Complete,
        resources,
    );
    println!(
        "snapshot: {users} users, {count} resources, built in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    for (label, options) in [
        ("full", ExportOptions::new()),
        ("skip_users", ExportOptions::new().skip_users(true)),
    ] {
        let started = Instant::now();
        let out = export(&source, snapshot.id, &options).await.unwrap();
        let elapsed = started.elapsed().as_secs_f64();
        let bytes: usize = out.files.values().map(String::len).sum();
        let resources: usize = out.report.resources.values().sum();
        println!(
            "export {label}: {elapsed:.2} s, {resources} resources, {} files, {:.1} MiB",
            out.files.len(),
            bytes as f64 / (1024.0 * 1024.0)
        );
        for (name, text) in &out.files {
            println!("  {name}: {:.1} KiB", text.len() as f64 / 1024.0);
        }
    }
}
