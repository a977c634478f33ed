//! SSO through the server against a real OpenID provider (npm `oidc-provider`, started
//! from tests-support/oidc-provider): SP-initiated login by email domain, JIT creation,
//! the session cookie, back-channel logout ending the session on the next request,
//! IdP-initiated login without open redirects, and local logout.

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

const CLIENT: &str = "butterfly-server-test";
const SECRET: &str = "butterfly-server-test-secret-0123456789";
fn start_provider(server: &str) -> TestProvider {
    TestProvider::start(ClientRegistration {
        client_id: CLIENT,
        client_secret: SECRET,
        redirect_uri: &format!("{server}/auth/sso/callback"),
        backchannel_logout_uri: &format!("{server}/auth/sso/backchannel-logout"),
        post_logout_redirect_uri: &format!("{server}/"),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sso_login_jit_backchannel_logout_and_idp_initiated_login() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = format!("http://{}", listener.local_addr().unwrap());
    let mut config = Config::for_data_dir(dir.path());
    config.public_url = server.clone();
    config.insecure_cookies = true;
    let state = open_state(&config).await.unwrap();
    let (_, key) = bootstrap(&state).await.unwrap().unwrap();
    tokio::spawn(async move { axum::serve(listener, build_router(state)).await });
    let provider = start_provider(&server);
    let issuer = provider.issuer.clone();

    let api = reqwest::Client::new();
    let admin = |method: reqwest::Method, path: &str| {
        api.request(method, format!("{server}/api/v1{path}"))
            .bearer_auth(key.secret())
    };

    // Configure SSO: the secret goes in, never comes out.
    let put = admin(reqwest::Method::PUT, "/sso")
        .json(&json!({"issuer": issuer, "client_id": CLIENT, "client_secret": SECRET, "domains": ["Example.com"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    let shown: Value = admin(reqwest::Method::GET, "/sso")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["domains"], json!(["example.com"]));
    assert_eq!(shown["client_secret_set"], true);
    assert!(!shown.to_string().contains(SECRET));
    let tested: Value = admin(reqwest::Method::POST, "/sso/test")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tested["ok"], true, "{tested}");
    assert!(tested["signing_keys"].as_u64().unwrap() >= 1);
    assert_eq!(tested["backchannel_logout_supported"], true);

    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap();

    // An unknown domain is a clear error that reveals nothing else.
    let unknown = browser
        .post(format!("{server}/auth/sso/login"))
        .form(&[("email", "someone@unknown.example")])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    assert!(unknown.text().await.unwrap().contains("not configured"));

    // 1. SP-initiated login, routed by the email's domain.
    let start = browser
        .post(format!("{server}/auth/sso/login"))
        .form(&[("email", "jane@example.com")])
        .send()
        .await
        .unwrap();
    assert!(
        start
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("bf_sso_pending="))
    );
    let authorize = location(start).await;
    assert!(authorize.as_str().starts_with(&issuer), "{authorize}");
    let params: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    assert!(params.contains(&("code_challenge_method".into(), "S256".into())));
    assert!(params.contains(&("login_hint".into(), "jane@example.com".into())));

    let callback = sign_in(&browser, &issuer, authorize, &server).await;
    assert_eq!(callback.path(), "/auth/sso/callback");
    // A callback replayed without this browser's pending-login cookie is refused.
    let stranger = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    assert_eq!(
        stranger
            .get(callback.clone())
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST
    );

    let done = browser.get(callback).send().await.unwrap();
    let cookies: Vec<String> = done
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .collect();
    let session_cookie = cookies
        .iter()
        .find(|c| c.starts_with("bf_session="))
        .expect("a session cookie");
    assert!(
        session_cookie.contains("HttpOnly") && session_cookie.contains("SameSite=Lax"),
        "{session_cookie}"
    );
    assert_eq!(location(done).await.path(), "/");

    // 2. The session works, and the member was created just in time as read_only.
    let me: Value = browser
        .get(format!("{server}/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["member"]["email"], "jane@example.com", "{me}");
    assert_eq!(me["role"], "read_only");
    let members: Value = admin(reqwest::Method::GET, "/members")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Jane, created at sign-in, beside the bootstrap member (owner of the first key).
    let emails: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails.len(), 2, "{members}");
    assert!(emails.contains(&"jane@example.com"), "{members}");
    // The just-in-time creation is in the audit trail, as the provider's doing.
    let trail: Value = admin(reqwest::Method::GET, "/audit")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created: Vec<&Value> = trail
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["action"] == "member.created" && l["detail"]["email"] == "jane@example.com")
        .collect();
    assert_eq!(created.len(), 1, "{trail:#}");
    assert_eq!(created[0]["actor"], format!("sso:{issuer}"), "{trail:#}");
    assert!(created[0]["request_id"].is_string(), "{trail:#}");

    // 3. Logout at the provider: it POSTs a logout token to us, and the session is
    // gone on the very next request.
    end_session(&browser, &issuer).await;
    let after = browser
        .get(format!("{server}/api/v1/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);

    // 4. IdP-initiated login: only a configured issuer, only targets on this server.
    for bad in [
        format!("iss={}", urlencode("https://evil.example")),
        format!(
            "iss={}&target_link_uri={}",
            urlencode(&issuer),
            urlencode("https://evil.example/")
        ),
        format!(
            "iss={}&target_link_uri={}",
            urlencode(&issuer),
            urlencode("//evil.example/x")
        ),
    ] {
        let refused = browser
            .get(format!("{server}/auth/sso/initiate?{bad}"))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let target = format!("{server}/welcome");
    let initiated = browser
        .get(format!(
            "{server}/auth/sso/initiate?iss={}&login_hint={}&target_link_uri={}",
            urlencode(&issuer),
            urlencode("jane@example.com"),
            urlencode(&target)
        ))
        .send()
        .await
        .unwrap();
    let authorize = location(initiated).await;
    assert!(authorize.as_str().starts_with(&issuer));
    let callback = sign_in(&browser, &issuer, authorize, &server).await;
    let done = browser.get(callback).send().await.unwrap();
    assert_eq!(location(done).await.as_str(), target);
    let me: Value = browser
        .get(format!("{server}/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["member"]["email"], "jane@example.com");
    // Signing in again matched the existing member: no duplicate (Jane and the
    // bootstrap member).
    let members: Value = admin(reqwest::Method::GET, "/members")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(members.as_array().unwrap().len(), 2, "{members}");

    // 5. Local logout ends the session.
    let out = browser
        .post(format!("{server}/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        browser
            .get(format!("{server}/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
