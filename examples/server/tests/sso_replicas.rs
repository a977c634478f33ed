//! Two `butterfly-server` processes on one database act as one for SSO: on a shared
//! SQLite file, and on PostgreSQL (`BUTTERFLY_TEST_DATABASE_URL`, a fresh database).
//! Both have the same public URL (as behind a load balancer; the test plays the
//! balancer and picks the server of each request), and the real OpenID provider (npm
//! `oidc-provider`) is configured through server A.
//!
//! - A sign-in completed on A cannot be completed again on B (nor on A) with the same
//!   callback, pending-login cookie, state and nonce: the server refuses it itself,
//!   before the code reaches the provider again. Of two copies of one callback sent
//!   to A and B at once, exactly one signs in.
//! - A session opened on A works on B; a CLI sign-in started on A and approved on B
//!   polls to tokens on A; a refresh on B rotates the refresh token for A too.
//! - A back-channel logout the provider sends to B ends the browser session and the
//!   CLI sign-in on A.
//! - A refresh token used on A and then again on B is refused, and ends its sign-in on
//!   both.

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use butterfly_test_oidc_provider::{
    ClientRegistration, TestProvider, USER_EMAIL, end_session, location, sign_in,
};
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use sqlx::postgres::PgConnection;
use sqlx::{Connection as _, Executor as _};
use url::Url;

const CLIENT: &str = "butterfly-replicas-test";
const SECRET: &str = "butterfly-replicas-test-secret-0123456789";
const MASTER_KEY: &str = "0b1c0e4a9b7d3c2e8f6a1b0d4c7e9f2a3b5d8c1e0f7a6b9d2c4e8f1a3b5c7d91";
/// What both servers call themselves. Nothing listens there: the test sends each
/// request to server A or B itself, as a load balancer would.
const PUBLIC_URL: &str = "http://localhost";

/// A server process, killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start a server; the first one on the empty database also returns the bootstrap key.
fn start_server(database_url: &str, dir: &Path) -> (Server, Option<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_butterfly-server"))
        .args(["--listen", "127.0.0.1:0", "--public-url", PUBLIC_URL])
        .arg("--insecure-cookies")
        .arg("--data-dir")
        .arg(dir)
        .env("BUTTERFLY_DATABASE_URL", database_url)
        .env("BUTTERFLY_MASTER_KEY", MASTER_KEY)
        .env("BUTTERFLY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut key = None;
    let base = loop {
        let line = lines.next().expect("the server stopped").unwrap();
        if let Some(address) = line.strip_prefix("listening on ") {
            break format!("http://{address}");
        }
        if let Some(secret) = line.trim().strip_prefix("bfs_") {
            key = Some(format!("bfs_{secret}"));
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Server { child, base }, key)
}

/// `url` (on the public URL) sent to `server` instead.
fn on(server: &Server, url: &Url) -> String {
    let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
    format!("{}{}{query}", server.base, url.path())
}

/// Start a sign-in on `server`: the provider's authorize URL, and the pending-login
/// cookie as the browser got it (`name=value`).
async fn start_sign_in(browser: &reqwest::Client, server: &Server) -> (Url, String) {
    let start = browser
        .post(format!("{}/auth/sso/login", server.base))
        .form(&[("email", USER_EMAIL)])
        .send()
        .await
        .unwrap();
    let pending = start
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap())
        .find(|c| c.starts_with("bf_sso_pending="))
        .expect("a pending-login cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (location(start).await, pending)
}

/// The callback sent by a client that has only the pending-login cookie: an attacker who
/// copied the browser's request, or the browser's own request sent twice.
async fn replay(server: &Server, callback: &Url, pending: &str) -> (StatusCode, String) {
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let answer = client
        .get(on(server, callback))
        .header("cookie", pending)
        .send()
        .await
        .unwrap();
    (answer.status(), answer.text().await.unwrap())
}

async fn token(
    http: &reqwest::Client,
    server: &Server,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let answer = http
        .post(format!("{}/oauth/token", server.base))
        .form(form)
        .send()
        .await
        .unwrap();
    (answer.status(), answer.json().await.unwrap())
}

fn refresh_grant(refresh: &str) -> [(&str, &str); 3] {
    [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("client_id", "butterfly-cli"),
    ]
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

fn pair(tokens: &Value) -> (String, String) {
    (
        tokens["access_token"].as_str().unwrap().to_owned(),
        tokens["refresh_token"].as_str().unwrap().to_owned(),
    )
}

/// A CLI sign-in started on the first server, approved on the second (with the
/// browser's SSO session, or `api_key`), and polled on the first: (access, refresh).
async fn cli_sign_in(
    api: &reqwest::Client,
    browser: &reqwest::Client,
    (start, approve): (&Server, &Server),
    api_key: Option<&str>,
) -> (String, String) {
    let device: Value = api
        .post(format!("{}/oauth/device_authorization", start.base))
        .form(&[("client_id", "butterfly-cli")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_code = device["user_code"].as_str().unwrap().to_owned();
    let page = browser
        .get(format!("{}/device?user_code={user_code}", approve.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    if api_key.is_none() {
        assert!(
            page.contains("Signed in as <strong>jane@example.com</strong>"),
            "{page}"
        );
    }
    let csrf = field_value(&page, "csrf");
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("user_code", user_code.as_str()),
        ("decision", "approve"),
    ];
    if let Some(key) = api_key {
        form.push(("api_key", key));
    }
    let approved = browser
        .post(format!("{}/device", approve.base))
        .header("origin", PUBLIC_URL)
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = approved.status();
    assert_eq!(status, StatusCode::OK, "{}", approved.text().await.unwrap());
    let (status, tokens) = token(
        api,
        start,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device["device_code"].as_str().unwrap()),
            ("client_id", "butterfly-cli"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    pair(&tokens)
}

async fn me(http: &reqwest::Client, server: &Server, bearer: Option<&str>) -> StatusCode {
    let mut request = http.get(format!("{}/api/v1/me", server.base));
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    request.send().await.unwrap().status()
}

async fn two_servers_share_sso_state(database_url: &str) {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    // A migrates the database and bootstraps the team before B opens it.
    let (a, key) = start_server(database_url, dir_a.path());
    let key = key.expect("the first server prints the bootstrap key");
    let (b, second_key) = start_server(database_url, dir_b.path());
    assert_eq!(
        second_key, None,
        "B joins A's team, it does not make another"
    );

    let provider = TestProvider::start(ClientRegistration {
        client_id: CLIENT,
        client_secret: SECRET,
        redirect_uri: &format!("{PUBLIC_URL}/auth/sso/callback"),
        // The provider's logout tokens go to B.
        backchannel_logout_uri: &format!("{}/auth/sso/backchannel-logout", b.base),
        post_logout_redirect_uri: &format!("{PUBLIC_URL}/"),
    });
    let issuer = provider.issuer.clone();
    let api = reqwest::Client::new();
    let put = api
        .put(format!("{}/api/v1/sso", a.base))
        .bearer_auth(&key)
        .json(&json!({"issuer": issuer, "client_id": CLIENT, "client_secret": SECRET, "domains": ["example.com"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);

    // Both servers are on 127.0.0.1, so the browser's cookies go to both (cookies do not
    // tell ports apart), as they would through one public name.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap();

    // 1. A sign-in started and completed on A.
    let (authorize, pending) = start_sign_in(&browser, &a).await;
    let callback = sign_in(&browser, &issuer, authorize, PUBLIC_URL).await;
    assert_eq!(callback.path(), "/auth/sso/callback");
    let done = browser.get(on(&a, &callback)).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::FOUND, "{:?}", done.text().await);
    assert_eq!(
        me(&browser, &b, None).await,
        StatusCode::OK,
        "A's session works on B"
    );

    // Replayed on B, then on A: refused by the server itself (not by the provider
    // refusing a used code, which would say `invalid_grant`).
    for server in [&b, &a] {
        let (status, body) = replay(server, &callback, &pending).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(body.contains("already completed"), "{body}");
    }

    // 2. One callback sent to A and B at once: exactly one signs in.
    let (authorize, pending) = start_sign_in(&browser, &a).await;
    let callback = sign_in(&browser, &issuer, authorize, PUBLIC_URL).await;
    let (on_a, on_b) = tokio::join!(
        replay(&a, &callback, &pending),
        replay(&b, &callback, &pending)
    );
    let mut statuses = [on_a.0, on_b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::FOUND, StatusCode::UNAUTHORIZED],
        "{on_a:?} {on_b:?}"
    );
    let refused = if on_a.0 == StatusCode::UNAUTHORIZED {
        &on_a.1
    } else {
        &on_b.1
    };
    assert!(refused.contains("already completed"), "{refused}");

    // 3. A CLI sign-in: started on A, approved on B with the browser's SSO session,
    // tokens polled on A.
    let tokens = cli_sign_in(&api, &browser, (&a, &b), None).await;
    // Refreshed on B, the new pair works on A, and is refreshed there again.
    let (status, rotated) = token(&api, &b, &refresh_grant(&tokens.1)).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let (access, refresh) = pair(&rotated);
    assert_eq!(me(&api, &a, Some(&access)).await, StatusCode::OK);
    let (status, rotated) = token(&api, &a, &refresh_grant(&refresh)).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let (access, refresh) = pair(&rotated);

    // 4. Logout at the provider: its logout token goes to B; on A the browser session and
    // the CLI sign-in approved from it are over.
    assert_eq!(me(&browser, &a, None).await, StatusCode::OK);
    end_session(&browser, &issuer).await;
    assert_eq!(me(&browser, &a, None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&api, &a, Some(&access)).await, StatusCode::UNAUTHORIZED);
    let (status, refused) = token(&api, &a, &refresh_grant(&refresh)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"], "invalid_grant", "{refused}");

    // 5. A refresh token used twice, once on each server, is a stolen one: refused, and
    // the sign-in it belongs to ends on both (approved with an API key this time, on A).
    let tokens = cli_sign_in(&api, &browser, (&b, &a), Some(&key)).await;
    let (status, rotated) = token(&api, &a, &refresh_grant(&tokens.1)).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let (access, _) = pair(&rotated);
    let (status, refused) = token(&api, &b, &refresh_grant(&tokens.1)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"], "invalid_grant", "{refused}");
    assert_eq!(me(&api, &a, Some(&access)).await, StatusCode::UNAUTHORIZED);
    drop(provider);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_share_sso_state_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("shared.db").display()
    );
    two_servers_share_sso_state(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_share_sso_state_on_postgres() {
    let Ok(admin_url) = std::env::var("BUTTERFLY_TEST_DATABASE_URL") else {
        panic!(
            "set BUTTERFLY_TEST_DATABASE_URL (a PostgreSQL server the tests may create databases on)"
        );
    };
    let name = format!("bf_sso_replicas_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&admin_url).await.unwrap();
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let (prefix, _) = admin_url
        .rsplit_once('/')
        .expect("a URL that names a database");
    let url = format!("{prefix}/{name}");
    let outcome = tokio::spawn(async move { two_servers_share_sso_state(&url).await }).await;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}
