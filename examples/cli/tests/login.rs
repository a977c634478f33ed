//! `butterfly login` / `logout` end to end: the binary against a real server on a
//! loopback port. The approval is driven over HTTP as a browser would (the page, its
//! CSRF token, the form); the API accepts the token; the refresh rotates it and a reused
//! refresh token revokes the sign-in; logout revokes both tokens; a SCIM suspension
//! (`active: false`) revokes them too. Errors say what to do next.

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use butterfly_core::Role;
use butterfly_core::store::{ApiKeyStore, MemberStore, ScimTokenStore, TeamStore};
use butterfly_server::AppState;
use butterfly_server::app::{bootstrap, build_router, open_state};
use butterfly_server::config::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Running {
    url: String,
    key: String,
    state: AppState,
    config_home: tempfile::TempDir,
    _dir: tempfile::TempDir,
}

/// A server whose sign-ins poll every second (the test configuration's interval), so a
/// `butterfly login` waits one second for its approval, not five.
async fn start() -> Running {
    start_with(|_| {}).await
}

async fn start_with(configure: impl FnOnce(&mut Config)) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut config = Config::for_data_dir(dir.path().join("server"));
    configure(&mut config);
    config.public_url = url.clone();
    config.insecure_cookies = true;
    let state = open_state(&config).await.unwrap();
    let (_, key) = bootstrap(&state).await.unwrap().unwrap();
    let router = build_router(state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Running {
        url,
        key: key.secret().to_owned(),
        state,
        config_home: tempfile::tempdir().unwrap(),
        _dir: dir,
    }
}

/// The CLI as a signed-in person runs it: no API key in the environment.
fn cli(server: &Running) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_butterfly"));
    cmd.env_remove("BUTTERFLY_API_KEY")
        .env_remove("BUTTERFLY_SERVER")
        .env("XDG_CONFIG_HOME", server.config_home.path())
        .env("HOME", server.config_home.path());
    cmd
}

async fn run(server: &Running, args: &[&str]) -> Output {
    let mut cmd = cli(server);
    cmd.args(["--server", &server.url]).args(args);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn credentials_file(server: &Running) -> PathBuf {
    server
        .config_home
        .path()
        .join("butterfly")
        .join("credentials.json")
}

fn stored(server: &Running) -> Value {
    let all: Value =
        serde_json::from_slice(&std::fs::read(credentials_file(server)).unwrap()).unwrap();
    all[server.url.as_str()].clone()
}

/// The value of `name="<field>" value="..."` in a page.
fn field_value(page: &str, field: &str) -> String {
    let marker = format!("name=\"{field}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {field}: {page}"))
        + marker.len();
    page[start..][..page[start..].find('"').unwrap()].to_owned()
}

/// Approve `user_code` on the approval page as a browser would, signed in with
/// `api_key`; returns the status and page of the answer.
async fn approve(server: &Running, user_code: &str, api_key: &str) -> (StatusCode, String) {
    // A browser, by hand: the page's cookie goes back with the form.
    let browser = reqwest::Client::new();
    let page = browser
        .get(format!("{}/device?user_code={user_code}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let set_cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let page = page.text().await.unwrap();
    assert!(page.contains(user_code), "{page}");
    let csrf = field_value(&page, "csrf");
    let done = browser
        .post(format!("{}/device", server.url))
        .header("origin", &server.url)
        .header("cookie", cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("user_code", user_code),
            ("decision", "approve"),
            ("api_key", api_key),
        ])
        .send()
        .await
        .unwrap();
    (done.status(), done.text().await.unwrap())
}

/// `butterfly login`, approved in the "browser" with `api_key` once it shows its code.
async fn login(server: &Running, api_key: &str) -> Output {
    let mut cmd = cli(server);
    cmd.args(["login", "--server", &server.url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (code, rest) = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            seen.push(line.clone());
            if let Some(code) = line.strip_prefix("user_code: ") {
                return (code.to_owned(), lines);
            }
        }
        panic!("login never showed a code: {seen:?}");
    })
    .await
    .unwrap();
    let (status, page) = approve(server, &code, api_key).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Signed in"), "{page}");
    let mut output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let rest: Vec<String> = rest.map_while(Result::ok).collect();
    output.stderr = rest.join("\n").into_bytes();
    output
}

async fn token_request(server: &Running, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/oauth/token", server.url))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn me(server: &Running, token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{}/api/v1/me", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_api_refresh_reuse_and_logout() {
    let server = start().await;

    // Not signed in: the error says how to sign in.
    let before = run(&server, &["members", "list"]).await;
    assert!(!before.status.success());
    let said = text(&before.stderr);
    assert!(
        said.contains("not signed in to") && said.contains("butterfly login --server"),
        "{said}"
    );

    // 1. Login: code shown, approved in the browser with the member's own key.
    let out = login(&server, &server.key).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains("Signed in to") && said.contains("bootstrap@butterfly.invalid"),
        "{said}"
    );
    assert!(said.contains("(super_admin)"), "{said}");
    let first = stored(&server);
    let access = first["access_token"].as_str().unwrap().to_owned();
    let refresh = first["refresh_token"].as_str().unwrap().to_owned();
    assert!(access.starts_with("bfs_cli_") && refresh.starts_with("bfs_clr_"));
    // An hour, as promised (the file says when; the server decides).
    let expires: chrono::DateTime<chrono::Utc> =
        first["expires_at"].as_str().unwrap().parse().unwrap();
    let left = expires - chrono::Utc::now();
    assert!(left > chrono::TimeDelta::minutes(55) && left <= chrono::TimeDelta::hours(1));
    #[cfg(unix)]
    assert_eq!(mode(&credentials_file(&server)), 0o600);

    // 2. The API accepts the token as the member: their role, their team.
    let listed = run(&server, &["--output", "json", "members", "list"]).await;
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    assert!(text(&listed.stdout).contains("bootstrap@butterfly.invalid"));

    // 3. Refresh: with the access token about to expire, the next command renews it.
    let mut all: Value =
        serde_json::from_slice(&std::fs::read(credentials_file(&server)).unwrap()).unwrap();
    all[server.url.as_str()]["expires_at"] = json!("2000-01-01T00:00:00Z");
    std::fs::write(credentials_file(&server), serde_json::to_vec(&all).unwrap()).unwrap();
    let renewed = run(&server, &["members", "list"]).await;
    assert!(renewed.status.success(), "{}", text(&renewed.stderr));
    let second = stored(&server);
    let access2 = second["access_token"].as_str().unwrap().to_owned();
    let refresh2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(access2, access);
    assert_ne!(refresh2, refresh, "the refresh token rotates");
    assert_eq!(me(&server, &access2).await, StatusCode::OK);

    // 4. The spent refresh token, presented again (a stolen copy), revokes the sign-in.
    let (status, body) = token_request(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", "butterfly-cli"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert_eq!(me(&server, &access2).await, StatusCode::UNAUTHORIZED);
    let (_, body) = token_request(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh2),
            ("client_id", "butterfly-cli"),
        ],
    )
    .await;
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let revoked = run(&server, &["members", "list"]).await;
    assert!(!revoked.status.success());
    let said = text(&revoked.stderr);
    assert!(
        said.contains("expired or was revoked") && said.contains("butterfly login"),
        "{said}"
    );

    // 5. Log in again, then log out: both tokens are revoked on the server.
    let out = login(&server, &server.key).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let third = stored(&server);
    let access3 = third["access_token"].as_str().unwrap().to_owned();
    let refresh3 = third["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(me(&server, &access3).await, StatusCode::OK);
    let out = run(&server, &["logout"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("both tokens are revoked"));
    assert_eq!(me(&server, &access3).await, StatusCode::UNAUTHORIZED);
    let (_, body) = token_request(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh3),
            ("client_id", "butterfly-cli"),
        ],
    )
    .await;
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert!(stored(&server).is_null(), "logout forgets the tokens here");

    // API keys keep working for automation.
    let mut cmd = cli(&server);
    cmd.env("BUTTERFLY_API_KEY", &server.key)
        .args(["--server", &server.url, "members", "list"]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// The device flow over HTTP alone (no CLI): a member provisioned over SCIM signs in,
/// then SCIM suspends them (`active: false`): both tokens stop working at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_suspension_revokes_cli_tokens() {
    // The production interval: two polls back to back must be closer than it, even on a
    // busy machine, for the `slow_down` below. Nothing here waits it out.
    let server = start_with(|config| config.cli_login_poll_secs = 5).await;
    let team = server.state.store.list_teams().await.unwrap()[0].id;
    let (_, scim) = server
        .state
        .store
        .create_scim_token(team, "okta")
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{}/scim/v2/Users", server.url))
        .bearer_auth(scim.secret())
        .header("content-type", "application/scim+json")
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "alice@example.com",
            "emails": [{"value": "alice@example.com", "primary": true}],
            "active": true,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_id = created["id"].as_str().unwrap().to_owned();
    let alice = server
        .state
        .store
        .member_by_email(team, "alice@example.com")
        .await
        .unwrap()
        .unwrap();
    let (_, alice_key) = server
        .state
        .store
        .create_api_key(team, "alice laptop", Role::ReadOnly, Some(alice.id))
        .await
        .unwrap();

    let (status, device) = {
        let r = http
            .post(format!("{}/oauth/device_authorization", server.url))
            .form(&[("client_id", "butterfly-cli")])
            .send()
            .await
            .unwrap();
        (r.status(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(status, StatusCode::OK, "{device}");
    let user_code = device["user_code"].as_str().unwrap();
    assert_eq!(
        device["verification_uri_complete"],
        format!("{}/device?user_code={user_code}", server.url)
    );
    let grant = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", device["device_code"].as_str().unwrap()),
        ("client_id", "butterfly-cli"),
    ];
    let (_, body) = token_request(&server, &grant).await;
    assert_eq!(body["error"], "authorization_pending", "{body}");
    // Polled again at once: faster than the interval.
    let (_, body) = token_request(&server, &grant).await;
    assert_eq!(body["error"], "slow_down", "{body}");

    // A forged form (no CSRF cookie) changes nothing.
    let forged = http
        .post(format!("{}/device", server.url))
        .form(&[
            ("csrf", "bfs_csrf_guess"),
            ("user_code", user_code),
            ("decision", "approve"),
            ("api_key", alice_key.secret()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let (status, page) = approve(&server, user_code, alice_key.secret()).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // The interval has not passed since the last poll; the server issues once approved
    // whatever the pace, since a decided authorization has nothing left to protect.
    let (status, tokens) = token_request(&server, &grant).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    // The code is spent.
    let (_, body) = token_request(&server, &grant).await;
    assert_eq!(body["error"], "invalid_grant", "{body}");

    let whoami: Value = http
        .get(format!("{}/api/v1/me", server.url))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(whoami["member"]["email"], "alice@example.com", "{whoami}");
    assert_eq!(whoami["role"], "read_only");

    let suspended = http
        .patch(format!("{}/scim/v2/Users/{user_id}", server.url))
        .bearer_auth(scim.secret())
        .header("content-type", "application/scim+json")
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": false}}],
        }))
        .send()
        .await
        .unwrap();
    assert!(suspended.status().is_success(), "{}", suspended.status());
    assert_eq!(me(&server, access).await, StatusCode::UNAUTHORIZED);
    let (_, body) = token_request(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "butterfly-cli"),
        ],
    )
    .await;
    assert_eq!(body["error"], "invalid_grant", "{body}");
    // Revoked, not merely refused while suspended: re-activating does not bring them back.
    let reactivated = http
        .patch(format!("{}/scim/v2/Users/{user_id}", server.url))
        .bearer_auth(scim.secret())
        .header("content-type", "application/scim+json")
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": true}}],
        }))
        .send()
        .await
        .unwrap();
    assert!(
        reactivated.status().is_success(),
        "{}",
        reactivated.status()
    );
    assert_eq!(me(&server, access).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_say_what_to_do_next() {
    let server = start().await;
    // A server that is not there.
    let mut cmd = cli(&server);
    cmd.args(["--server", "http://127.0.0.1:9", "login"]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(!out.status.success());
    let said = text(&out.stderr);
    assert!(
        said.contains("cannot reach") && said.contains("--server"),
        "{said}"
    );
    // Something that answers, but is not a Butterfly server.
    let wrong = format!("{}/nowhere", server.url);
    let mut cmd = cli(&server);
    cmd.args(["--server", &wrong, "login"]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(!out.status.success());
    let said = text(&out.stderr);
    assert!(
        said.contains("does not look like a Butterfly server") && said.contains("--server"),
        "{said}"
    );
    // Logging out when not signed in is not an error.
    let out = run(&server, &["logout"]).await;
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("Not signed in"));
}

#[test]
fn completions_and_man_page() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef butterfly"),
        ("fish", "complete -c butterfly"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_butterfly"))
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        let script = text(&out.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        // Commands from every corner of the tree are there.
        assert!(
            script.contains("login") && script.contains("snapshots"),
            "{shell}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_butterfly"))
        .arg("man")
        .output()
        .unwrap();
    assert!(out.status.success());
    let page = text(&out.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH butterfly"),
        "{page}"
    );
    assert!(page.contains("login"), "{page}");
}
