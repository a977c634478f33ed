//! Compliance reports, their downloads and trend, and the Terraform export as a zip,
//! through the JSON API over a real SQLite store, on snapshots written by hand into the
//! team's repository (the backup job that writes them is tested in `backups.rs`).

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{Cursor, Read as _};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use butterfly_compliance::report::{Format, render};
use butterfly_compliance::{Framework, evaluate, trend};
use butterfly_core::source::SnapshotSource;
use butterfly_core::store::{ApiKeyStore, TeamStore};
use butterfly_core::{
    ProviderKind, Resource, ResourceKind, Role, Snapshot, SnapshotStatus, TeamId,
};
use butterfly_server::app::{AppState, bootstrap, build_router, open_state};
use butterfly_server::config::Config;
use butterfly_server::rbac::Access;
use butterfly_tf::{ExportOptions, export};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

mod support;

struct Setup {
    state: AppState,
    router: Router,
    key: String,
    team: TeamId,
    /// A password policy of 8 characters (PCI DSS asks for 12).
    weak: Snapshot,
    /// The same org with 16 characters.
    strong: Snapshot,
    _dir: tempfile::TempDir,
}

fn org(min_length: i64) -> Vec<Resource> {
    vec![
        Resource::new(
            ResourceKind::new("policy.PASSWORD"),
            "00p1",
            json!({"id": "00p1", "name": "Default Policy", "status": "ACTIVE", "type": "PASSWORD",
                "settings": {"password": {"complexity": {"minLength": min_length}}}}),
        ),
        Resource::new(
            ResourceKind::new("group"),
            "00g1",
            json!({"id": "00g1", "type": "OKTA_GROUP",
                "profile": {"name": "Engineering", "description": "Builds \"things\""}}),
        ),
        Resource::new(
            ResourceKind::new("user"),
            "00u1",
            json!({"id": "00u1", "status": "ACTIVE", "created": "2026-01-01T00:00:00.000Z",
                "lastLogin": "2026-11-30T00:00:00.000Z",
                "profile": {"login": "zoe@example.com", "email": "zoe@example.com",
                    "firstName": "Zoë", "lastName": "Example"}}),
        ),
    ]
}

async fn write_snapshot(
    state: &AppState,
    team: TeamId,
    at: &str,
    resources: &[Resource],
) -> Snapshot {
    let repo = state.backups.repository(team).await.unwrap();
    let at = butterfly_core::rfc3339::parse(at).unwrap();
    let mut writer = repo.begin(ProviderKind::Okta, "https://acme.okta.com", at);
    for r in resources {
        writer.add(r).await.unwrap();
    }
    writer.finish(at, SnapshotStatus::Complete).await.unwrap()
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let state = open_state(&Config::for_data_dir(dir.path())).await.unwrap();
    let (team, key) = bootstrap(&state).await.unwrap().unwrap();
    let weak = write_snapshot(&state, team.id, "2026-11-01T00:00:00Z", &org(8)).await;
    let strong = write_snapshot(&state, team.id, "2026-12-01T00:00:00Z", &org(16)).await;
    Setup {
        router: build_router(state.clone()),
        state,
        key: key.secret().to_owned(),
        team: team.id,
        weak,
        strong,
        _dir: dir,
    }
}

impl Setup {
    async fn key_with_role(&self, team: TeamId, role: Role) -> String {
        let (_, raw) = self
            .state
            .store
            .create_api_key(team, "test", role, None)
            .await
            .unwrap();
        raw.secret().to_owned()
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        support::call(&self.router, Method::GET, path, Some(&self.key), None).await
    }

    /// A GET whose answer is kept as bytes, with its headers.
    async fn download(&self, key: &str, path: &str) -> (StatusCode, HeaderMap, Bytes) {
        let req = Request::get(path)
            .header("authorization", format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        (
            parts.status,
            parts.headers,
            body.collect().await.unwrap().to_bytes(),
        )
    }

    async fn expected_report(
        &self,
        snapshot: &Snapshot,
        frameworks: &[Framework],
    ) -> butterfly_compliance::Report {
        let repo = self.state.backups.repository(self.team).await.unwrap();
        let at = butterfly_core::rfc3339::format(&snapshot.started_at).unwrap();
        evaluate(repo.as_ref(), snapshot, frameworks, &at)
            .await
            .unwrap()
    }
}

fn prefix(snapshot: &Snapshot) -> String {
    snapshot.id.to_string()[..8].to_owned()
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers.get(name).map_or("", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn a_snapshot_s_compliance_report_is_served_as_json() {
    let s = setup().await;
    let (status, body) = s
        .get(&format!(
            "/api/v1/snapshots/{}/compliance?framework=pci-dss",
            prefix(&s.weak)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Exactly what the library says of the same snapshot, stamped with its own time.
    let expected = s.expected_report(&s.weak, &[Framework::PciDss]).await;
    assert_eq!(body, serde_json::to_value(&expected).unwrap());
    assert_eq!(body["generated_at"], "2026-11-01T00:00:00Z");
    let length = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["check_id"] == "password.min_length")
        .unwrap();
    assert_eq!(length["status"], "fail", "{length}");
    assert_eq!(length["control"], "8.3.6");
    assert_eq!(length["threshold"]["value"], 12);

    // Every framework by default.
    let (_, all) = s
        .get(&format!("/api/v1/snapshots/{}/compliance", s.weak.id))
        .await;
    assert_eq!(
        all["summaries"].as_array().unwrap().len(),
        Framework::ALL.len()
    );
}

#[tokio::test]
async fn reports_download_in_every_format_with_their_media_type() {
    let s = setup().await;
    let expected = s.expected_report(&s.weak, &[Framework::Stig]).await;
    let cases = [
        (Format::Sarif, "application/sarif+json", "sarif"),
        (Format::Oscal, "application/json", "oscal.json"),
        (Format::Junit, "application/xml", "junit.xml"),
        (Format::Html, "text/html; charset=utf-8", "html"),
        (Format::Markdown, "text/markdown; charset=utf-8", "md"),
        (Format::Csv, "text/csv; charset=utf-8", "csv"),
        (Format::Json, "application/json", "json"),
    ];
    for (format, media, extension) in cases {
        let (status, headers, body) = s
            .download(
                &s.key,
                &format!(
                    "/api/v1/snapshots/{}/compliance/report?framework=stig&format={format}",
                    prefix(&s.weak)
                ),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{format}");
        assert_eq!(header(&headers, "content-type"), media, "{format}");
        assert_eq!(
            header(&headers, "content-disposition"),
            format!(
                "attachment; filename=\"compliance-{}-stig.{extension}\"",
                s.weak.id
            ),
            "{format}"
        );
        assert_eq!(
            body,
            render(&expected, format).unwrap().into_bytes(),
            "{format}"
        );
    }
    // JSON when no format is named.
    let (_, headers, _) = s
        .download(
            &s.key,
            &format!("/api/v1/snapshots/{}/compliance/report", s.weak.id),
        )
        .await;
    assert_eq!(header(&headers, "content-type"), "application/json");
}

#[tokio::test]
async fn unknown_frameworks_formats_and_snapshots_get_json_errors() {
    let s = setup().await;
    let id = s.weak.id;
    for (path, status, needle) in [
        (
            format!("/api/v1/snapshots/{id}/compliance?framework=myspace"),
            StatusCode::BAD_REQUEST,
            "myspace",
        ),
        (
            format!("/api/v1/snapshots/{id}/compliance/report?format=pdf"),
            StatusCode::BAD_REQUEST,
            "pdf",
        ),
        (
            format!("/api/v1/snapshots/{id}/compliance/report?framework=soc2,nope&format=sarif"),
            StatusCode::BAD_REQUEST,
            "nope",
        ),
        (
            format!("/api/v1/compliance/trend?from={id}&to={id}&framework=myspace"),
            StatusCode::BAD_REQUEST,
            "myspace",
        ),
        (
            format!("/api/v1/compliance/trend?from={id}"),
            StatusCode::BAD_REQUEST,
            "`to`",
        ),
        (
            format!("/api/v1/snapshots/{id}/terraform?kind=printer"),
            StatusCode::BAD_REQUEST,
            "printer",
        ),
        (
            "/api/v1/snapshots/ffffffff/compliance".to_owned(),
            StatusCode::NOT_FOUND,
            "snapshot",
        ),
        (
            "/api/v1/snapshots/ffffffff/terraform".to_owned(),
            StatusCode::NOT_FOUND,
            "snapshot",
        ),
        (
            format!("/api/v1/compliance/trend?from={id}&to=../x"),
            StatusCode::BAD_REQUEST,
            "../x",
        ),
    ] {
        let (got, body) = s.get(&path).await;
        assert_eq!(got, status, "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{path}: {body}");
        assert!(body["error"]["code"].is_string(), "{path}: {body}");
    }
}

#[tokio::test]
async fn the_trend_names_what_was_fixed_and_what_newly_fails() {
    let s = setup().await;
    let (weak, strong) = (prefix(&s.weak), prefix(&s.strong));
    let (status, better) = s
        .get(&format!(
            "/api/v1/compliance/trend?from={weak}&to={strong}&framework=pci-dss"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{better}");
    let ids = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|i| i["check_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&better["fixed"]), ["password.min_length"], "{better}");
    assert!(ids(&better["newly_failing"]).is_empty(), "{better}");
    assert_eq!(better["before"]["id"], s.weak.id.to_string());
    // The library's trend of the same two reports.
    let expected = trend(
        &s.expected_report(&s.weak, &[Framework::PciDss]).await,
        &s.expected_report(&s.strong, &[Framework::PciDss]).await,
    );
    assert_eq!(better, serde_json::to_value(&expected).unwrap());

    // The other way round, and over every framework: the STIG asks for 15, so it was
    // fixed there too.
    let (_, worse) = s
        .get(&format!("/api/v1/compliance/trend?from={strong}&to={weak}"))
        .await;
    let newly: Vec<(String, String)> = worse["newly_failing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["framework"].as_str().unwrap().to_owned(),
                i["check_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        newly.contains(&("stig".to_owned(), "password.min_length".to_owned())),
        "{worse}"
    );
    assert!(ids(&worse["fixed"]).is_empty(), "{worse}");
}

fn unzip(bytes: &[u8]) -> BTreeMap<String, String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut files = BTreeMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        files.insert(file.name().unwrap().into_owned(), text);
    }
    files
}

#[tokio::test]
async fn the_terraform_zip_holds_exactly_the_export_s_files() {
    let s = setup().await;
    let repo = s.state.backups.repository(s.team).await.unwrap();
    let url = format!("/api/v1/snapshots/{}/terraform", prefix(&s.weak));
    let (status, headers, zip) = s.download(&s.key, &url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "content-type"), "application/zip");
    assert_eq!(
        header(&headers, "content-disposition"),
        format!("attachment; filename=\"terraform-{}.zip\"", s.weak.id)
    );
    let expected = export(repo.as_ref(), s.weak.id, &ExportOptions::new())
        .await
        .unwrap();
    let files = unzip(&zip);
    assert_eq!(files, expected.files);
    assert!(files.contains_key("users.tf"), "{:?}", files.keys());
    assert!(files["groups.tf"].contains("okta_group"));
    // Byte-stable: the same snapshot gives the same archive.
    assert_eq!(s.download(&s.key, &url).await.2, zip);

    // Filters are the export's own.
    let (status, _, slim) = s.download(&s.key, &format!("{url}?skip_users=true")).await;
    assert_eq!(status, StatusCode::OK);
    let expected = export(
        repo.as_ref(),
        s.weak.id,
        &ExportOptions::new().skip_users(true),
    )
    .await
    .unwrap();
    let slim = unzip(&slim);
    assert_eq!(slim, expected.files);
    assert!(!slim.contains_key("users.tf"));
    let (_, _, groups) = s.download(&s.key, &format!("{url}?kind=group")).await;
    let expected = export(
        repo.as_ref(),
        s.weak.id,
        &ExportOptions::new().kind("group"),
    )
    .await
    .unwrap();
    assert_eq!(unzip(&groups), expected.files);
}

#[tokio::test]
async fn roles_are_held_to_their_permissions() {
    let s = setup().await;
    let id = s.weak.id;
    let compliance = format!("/api/v1/snapshots/{id}/compliance");
    let report = format!("/api/v1/snapshots/{id}/compliance/report?format=sarif");
    let trend = format!("/api/v1/compliance/trend?from={id}&to={}", s.strong.id);
    let terraform = format!("/api/v1/snapshots/{id}/terraform");
    let cases = [
        // An auditor reads and downloads reports, but does not manage integrations.
        (Role::Auditor, &compliance, None),
        (Role::Auditor, &report, None),
        (Role::Auditor, &trend, None),
        (Role::Auditor, &terraform, Some("manage_integrations")),
        // A backup operator sees reports but may not export them.
        (Role::BackupOperator, &compliance, None),
        (Role::BackupOperator, &report, Some("export_reports")),
        // Read-only sees no report at all.
        (Role::ReadOnly, &compliance, Some("view_compliance_reports")),
        (Role::ReadOnly, &trend, Some("view_compliance_reports")),
        (Role::Admin, &terraform, None),
    ];
    for (role, path, refused) in cases {
        let key = s.key_with_role(s.team, role).await;
        let (status, _, body) = s.download(&key, path).await;
        match refused {
            None => assert_eq!(status, StatusCode::OK, "{role} {path}"),
            Some(permission) => {
                assert_eq!(status, StatusCode::FORBIDDEN, "{role} {path}");
                let body: Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(body["error"]["permission"], permission, "{role} {path}");
            }
        }
    }
    // The routes are in the RBAC table with these permissions (the route x role matrix
    // test in api.rs calls every declared route with every role).
    let declared = butterfly_server::routes::api(s.state.clone())
        .declared()
        .to_vec();
    for (path, permission) in [
        (
            "/snapshots/{id}/compliance",
            butterfly_core::Permission::ViewComplianceReports,
        ),
        (
            "/snapshots/{id}/compliance/report",
            butterfly_core::Permission::ExportReports,
        ),
        (
            "/compliance/trend",
            butterfly_core::Permission::ViewComplianceReports,
        ),
        (
            "/snapshots/{id}/terraform",
            butterfly_core::Permission::ManageIntegrations,
        ),
    ] {
        assert!(
            declared
                .iter()
                .any(|(_, p, access)| *p == path && *access == Access::Requires(permission)),
            "{path}"
        );
    }
}

#[tokio::test]
async fn another_team_sees_none_of_it() {
    let s = setup().await;
    let other = s.state.store.create_team("other").await.unwrap();
    // The other team has a snapshot of its own, so its repository exists and answers.
    let theirs = write_snapshot(&s.state, other.id, "2026-10-01T00:00:00Z", &org(20)).await;
    let key = s.key_with_role(other.id, Role::SuperAdmin).await;
    let id = s.weak.id;
    for path in [
        format!("/api/v1/snapshots/{id}/compliance"),
        format!("/api/v1/snapshots/{}/compliance", prefix(&s.weak)),
        format!("/api/v1/snapshots/{id}/compliance/report?format=html"),
        format!("/api/v1/snapshots/{id}/terraform"),
        format!("/api/v1/compliance/trend?from={}&to={id}", theirs.id),
    ] {
        let (status, _, body) = s.download(&key, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
    // Its own snapshot is served to it, and not to the first team.
    let (status, _, _) = s
        .download(&key, &format!("/api/v1/snapshots/{}/compliance", theirs.id))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s
        .get(&format!("/api/v1/snapshots/{}/terraform", theirs.id))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The repository the routes read is the team's: what a source lists there is what the
/// API resolves.
#[tokio::test]
async fn prefixes_resolve_in_the_team_s_repository() {
    let s = setup().await;
    let repo = s.state.backups.repository(s.team).await.unwrap();
    let listed = repo.summaries().await.unwrap();
    assert_eq!(listed.len(), 2);
    let (status, body) = s
        .get(&format!(
            "/api/v1/snapshots/{}/compliance",
            prefix(&s.strong)
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["snapshot"]["id"], s.strong.id.to_string());
    assert_eq!(body["snapshot"]["taken_at"], "2026-12-01T00:00:00Z");
}
