//! `butterfly login` through SSO against a real OpenID provider (npm `oidc-provider`,
//! from tests-support/oidc-provider): the approval page sends the member to SSO and back,
//! the member approves, the device code turns into tokens that act as them, and a
//! back-channel logout from the provider revokes both tokens.

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use butterfly_server::app::{bootstrap, build_router, open_state};
use butterfly_server::config::Config;
use butterfly_test_oidc_provider::{
    ClientRegistration, TestProvider, end_session, location, sign_in,
};
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

const CLIENT: &str = "butterfly-cli-login-test";
const SECRET: &str = "butterfly-cli-login-test-secret-0123456789";

/// The value of `name="<field>" value="..."` in a page.
fn field_value(page: &str, field: &str) -> String {
    let marker = format!("name=\"{field}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {field}: {page}"))
        + marker.len();
    page[start..][..page[start..].find('"').unwrap()].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_login_through_sso_is_revoked_by_backchannel_logout() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = format!("http://{}", listener.local_addr().unwrap());
    let mut config = Config::for_data_dir(dir.path());
    config.public_url = server.clone();
    config.insecure_cookies = true;
    let state = open_state(&config).await.unwrap();
    let (_, key) = bootstrap(&state).await.unwrap().unwrap();
    tokio::spawn(async move { axum::serve(listener, build_router(state)).await });
    let provider = TestProvider::start(ClientRegistration {
        client_id: CLIENT,
        client_secret: SECRET,
        redirect_uri: &format!("{server}/auth/sso/callback"),
        backchannel_logout_uri: &format!("{server}/auth/sso/backchannel-logout"),
        post_logout_redirect_uri: &format!("{server}/"),
    });
    let issuer = provider.issuer.clone();
    let api = reqwest::Client::new();
    let put = api
        .put(format!("{server}/api/v1/sso"))
        .bearer_auth(key.secret())
        .json(&json!({"issuer": issuer, "client_id": CLIENT, "client_secret": SECRET, "domains": ["example.com"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);

    // The CLI's side: a device code, and a code and URL for the person.
    let device: Value = api
        .post(format!("{server}/oauth/device_authorization"))
        .form(&[("client_id", "butterfly-cli")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_code = device["user_code"].as_str().unwrap().to_owned();
    let complete = device["verification_uri_complete"].as_str().unwrap();
    let grant = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", device["device_code"].as_str().unwrap()),
        ("client_id", "butterfly-cli"),
    ];

    // The person's side: the page offers SSO, which comes back to the page.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap();
    let page = browser
        .get(complete)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("Signed in as"), "{page}");
    let return_to = field_value(&page, "return_to");
    assert_eq!(return_to, format!("/device?user_code={user_code}"));
    let start = browser
        .post(format!("{server}/auth/sso/login"))
        .form(&[
            ("email", "jane@example.com"),
            ("return_to", return_to.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let authorize = location(start).await;
    assert!(authorize.as_str().starts_with(&issuer), "{authorize}");
    let callback = sign_in(&browser, &issuer, authorize, &server).await;
    let done = browser.get(callback).send().await.unwrap();
    let back = location(done).await;
    assert_eq!(
        back.as_str(),
        complete,
        "SSO brings the person back to the page"
    );

    let page = browser
        .get(back)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Signed in as <strong>jane@example.com</strong>"),
        "{page}"
    );
    let csrf = field_value(&page, "csrf");
    // A form posted from another site is refused even with the right token.
    let cross = browser
        .post(format!("{server}/device"))
        .header("origin", "https://evil.example")
        .form(&[
            ("csrf", csrf.as_str()),
            ("user_code", user_code.as_str()),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    let (_, pending) = poll(&api, &server, &grant).await;
    assert_eq!(pending["error"], "authorization_pending", "{pending}");
    let approved = browser
        .post(format!("{server}/device"))
        .header("origin", &server)
        .form(&[
            ("csrf", csrf.as_str()),
            ("user_code", user_code.as_str()),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), StatusCode::OK);
    assert!(approved.text().await.unwrap().contains("Signed in."));

    let (status, tokens) = poll(&api, &server, &grant).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let me: Value = api
        .get(format!("{server}/api/v1/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["member"]["email"], "jane@example.com", "{me}");
    assert_eq!(me["role"], "read_only");

    // Logout at the provider: it POSTs a logout token to us, and the CLI's tokens are
    // revoked with the browser session they were approved from.
    end_session(&browser, &issuer).await;
    let after = api
        .get(format!("{server}/api/v1/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    let said: Value = after.json().await.unwrap();
    assert!(
        said["error"]["message"]
            .as_str()
            .unwrap()
            .contains("butterfly login"),
        "{said}"
    );
    let (status, refused) = poll(
        &api,
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", "butterfly-cli"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refused["error"], "invalid_grant", "{refused}");
}

async fn poll(api: &reqwest::Client, server: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = api
        .post(format!("{server}/oauth/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}
