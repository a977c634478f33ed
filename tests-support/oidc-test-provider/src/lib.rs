//! Test support for the OpenID Connect tests: start the real provider (npm
//! `oidc-provider`, from `tests-support/oidc-provider`) on a loopback port, and small
//! helpers to drive it over HTTP without a browser.
//!
//! Used by `butterfly-oidc`'s and the server's integration tests, so the way the provider
//! is started and its pages are read lives in one place.

// Test support: a failed set-up is a failed test, so panicking with a clear message is
// the right error handling here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use url::Url;

/// The provider's test user.
pub const USER_EMAIL: &str = "jane@example.com";
/// The test user's password.
pub const USER_PASSWORD: &str = "correct horse battery staple";
/// The test user's subject.
pub const USER_SUBJECT: &str = "user-jane";

const HOW_TO_INSTALL: &str = "run scripts/test, or npm ci in tests-support/oidc-provider";

/// How the provider's one client is registered.
#[derive(Debug, Clone, Copy)]
pub struct ClientRegistration<'a> {
    /// Client id.
    pub client_id: &'a str,
    /// Client secret (`client_secret_basic`).
    pub client_secret: &'a str,
    /// The redirect URI.
    pub redirect_uri: &'a str,
    /// Where the provider POSTs logout tokens.
    pub backchannel_logout_uri: &'a str,
    /// Where RP-initiated logout may return to.
    pub post_logout_redirect_uri: &'a str,
}

/// A running provider, stopped when dropped.
#[derive(Debug)]
pub struct TestProvider {
    child: Child,
    /// Its issuer URL (`http://127.0.0.1:PORT`).
    pub issuer: String,
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the npm provider is. Found at run time, from the test's working directory (its
/// crate) upwards: a path baked in at compile time goes stale when a target directory
/// is shared between clones of the workspace at different paths, as `.ci/run` does.
fn provider_dir() -> PathBuf {
    let start = std::env::current_dir().unwrap_or_default();
    start
        .ancestors()
        .map(|a| a.join("tests-support/oidc-provider"))
        .find(|d| d.join("provider.mjs").is_file())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../oidc-provider"))
}

impl TestProvider {
    /// Start the provider with one client and wait until it prints its issuer.
    pub fn start(client: ClientRegistration<'_>) -> TestProvider {
        let dir = provider_dir();
        assert!(
            Command::new("node")
                .arg("--version")
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
            "node is not installed: {HOW_TO_INSTALL}"
        );
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "{} has no node_modules/oidc-provider: {HOW_TO_INSTALL}",
            dir.display()
        );
        let mut child = Command::new("node")
            .current_dir(&dir)
            .args(["provider.mjs", "--port", "0"])
            .args([
                "--client-id",
                client.client_id,
                "--client-secret",
                client.client_secret,
            ])
            .args(["--redirect-uri", client.redirect_uri])
            .args(["--backchannel-logout-uri", client.backchannel_logout_uri])
            .args([
                "--post-logout-redirect-uri",
                client.post_logout_redirect_uri,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node provider.mjs did not start");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(issuer) = line.strip_prefix("issuer=") {
                    let _ = tx.send(issuer.to_owned());
                }
            }
        });
        let mut provider = TestProvider {
            child,
            issuer: String::new(),
        };
        provider.issuer = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the provider did not print its issuer within 30 s (see its stderr above)");
        provider
    }
}

/// The resolved `Location` of a redirect response; panics on anything else.
pub async fn location(response: reqwest::Response) -> Url {
    let status = response.status();
    let base = response.url().clone();
    let Some(location) = response.headers().get("location").cloned() else {
        let body = response.text().await.unwrap_or_default();
        panic!("expected a redirect from {base}, got {status}: {body}");
    };
    assert!(status.is_redirection(), "{status} from {base}");
    base.join(location.to_str().unwrap()).unwrap()
}

/// From the provider's authorize URL to the relying party's callback: log in as the test
/// user ([`USER_EMAIL`]) and consent when asked (the provider skips consent once granted).
/// Returns the first redirect that starts with `back_to` (the callback, not yet
/// followed). `browser` must keep cookies and must not follow redirects.
pub async fn sign_in(
    browser: &reqwest::Client,
    issuer: &str,
    authorize: Url,
    back_to: &str,
) -> Url {
    let mut next = location(browser.get(authorize).send().await.unwrap()).await;
    for _ in 0..6 {
        if next.as_str().starts_with(back_to) {
            return next;
        }
        let Some(uid) = interaction_uid(&next) else {
            next = location(browser.get(next).send().await.unwrap()).await;
            continue;
        };
        let details: serde_json::Value = browser
            .get(next.clone())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let resume = match details["prompt"].as_str() {
            Some("login") => browser
                .post(format!("{issuer}/interaction/{uid}/login"))
                .form(&[("email", USER_EMAIL), ("password", USER_PASSWORD)]),
            Some("consent") => browser.post(format!("{issuer}/interaction/{uid}/confirm")),
            other => panic!("unexpected prompt {other:?}: {details}"),
        };
        let resume = location(resume.send().await.unwrap()).await;
        next = location(browser.get(resume).send().await.unwrap()).await;
    }
    panic!("the provider never sent us back to {back_to}");
}

/// Log out at the provider as the signed-in `browser`: its end-session page, then its
/// confirmation form. The provider then sends a back-channel logout token to each
/// relying party the session signed in to.
pub async fn end_session(browser: &reqwest::Client, issuer: &str) {
    let page = browser
        .get(format!("{issuer}/session/end"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    let form = page.text().await.unwrap();
    let action = Url::parse(issuer)
        .unwrap()
        .join(&html_attribute(&form, "action"))
        .unwrap();
    let xsrf = html_attribute(&form, "value");
    let ended = browser
        .post(action)
        .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")])
        .send()
        .await
        .unwrap();
    assert!(
        ended.status().is_redirection() || ended.status().is_success(),
        "{}",
        ended.status()
    );
}

/// The interaction id of a provider interaction URL (`/interaction/{uid}`), if it is one.
pub fn interaction_uid(url: &Url) -> Option<String> {
    url.path().strip_prefix("/interaction/").map(str::to_owned)
}

/// The value of `name="..."` in an HTML snippet (the provider's logout form).
pub fn html_attribute(html: &str, name: &str) -> String {
    let needle = format!("{name}=\"");
    let start = html
        .find(&needle)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + needle.len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end].to_owned()
}
