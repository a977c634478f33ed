//! The whole flow against a real OpenID provider (panva/oidc-provider, started from
//! tests-support/oidc-provider), over loopback HTTP, without a browser:
//! discovery -> authorize -> login -> consent -> callback -> code exchange -> verified
//! claims; then RP-initiated logout at the provider -> back-channel logout POST to our
//! axum route -> validated logout request naming the session.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use butterfly_oidc::{
    AuthorizeOptions, Callback, ClientId, ClientSecret, EndSessionsError, Issuer, LogoutHandler,
    LogoutRequest, LogoutTokenValidator, OidcClient, RelyingPartyConfig,
};
use butterfly_test_oidc_provider::{
    ClientRegistration, TestProvider, USER_EMAIL, USER_PASSWORD, html_attribute, interaction_uid,
    location,
};
use reqwest::StatusCode;
use tokio::sync::mpsc;
use url::Url;

const CLIENT: &str = "butterfly-test";
const SECRET: &str = "butterfly-test-secret-0123456789abcdef";

/// Ends sessions by sending the request to the test.
struct Sessions {
    validator: Arc<LogoutTokenValidator>,
    ended: mpsc::UnboundedSender<LogoutRequest>,
}

impl LogoutHandler for Sessions {
    async fn validator_for(&self, issuer: &str) -> Option<Arc<LogoutTokenValidator>> {
        (self.validator.issuer().as_str() == issuer).then(|| Arc::clone(&self.validator))
    }

    async fn end_sessions(&self, request: LogoutRequest) -> Result<(), EndSessionsError> {
        self.ended.send(request)?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_and_back_channel_logout_against_a_real_provider() {
    tokio::time::timeout(Duration::from_secs(90), flow())
        .await
        .expect("the flow took more than 90 s");
}

async fn flow() {
    // Our side: a listener for the back-channel logout route, on a port known before the
    // provider starts (the provider needs the URIs at start).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rp = format!("http://{}", listener.local_addr().unwrap());
    let redirect_uri = format!("{rp}/callback");
    let backchannel_uri = format!("{rp}/logout/backchannel");
    let post_logout_uri = format!("{rp}/signed-out");
    let provider = TestProvider::start(ClientRegistration {
        client_id: CLIENT,
        client_secret: SECRET,
        redirect_uri: &redirect_uri,
        backchannel_logout_uri: &backchannel_uri,
        post_logout_redirect_uri: &post_logout_uri,
    });

    let config = RelyingPartyConfig::new(
        Issuer::new(provider.issuer.clone()).unwrap(),
        ClientId::new(CLIENT).unwrap(),
        Some(ClientSecret::new(SECRET)),
        redirect_uri.parse().unwrap(),
    );
    let oidc = OidcClient::discover(config, OidcClient::http_client().unwrap())
        .await
        .unwrap();
    assert!(oidc.backchannel_logout_supported());
    assert_eq!(oidc.signing_algorithms(), ["RS256"]);

    let (ended_tx, mut ended_rx) = mpsc::unbounded_channel();
    let sessions = Arc::new(Sessions {
        validator: Arc::new(oidc.logout_validator()),
        ended: ended_tx,
    });
    let app: Router = Router::new().route(
        "/logout/backchannel",
        butterfly_oidc::axum::backchannel_logout(sessions),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // The browser: cookies, no automatic redirects.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // 1. Authorization request, with PKCE, state and nonce.
    let return_to: Url = format!("{rp}/backups").parse().unwrap();
    let (authorize, pending) = oidc.authorize_url(
        AuthorizeOptions::new()
            .login_hint("jane@example.com")
            .return_to(return_to.clone()),
    );
    let query: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param("state").as_deref(), Some(pending.state()));
    assert!(param("nonce").is_some());
    assert_eq!(param("scope").as_deref(), Some("openid email"));

    // 2. Login interaction.
    let login_url = location(browser.get(authorize).send().await.unwrap()).await;
    let uid = interaction_uid(&login_url).expect("a login interaction");
    let details: serde_json::Value = browser
        .get(login_url.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(details["prompt"], "login");
    assert_eq!(details["login_hint"], "jane@example.com");
    let wrong = browser
        .post(format!("{}/interaction/{uid}/login", provider.issuer))
        .form(&[("email", "jane@example.com"), ("password", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let resume = location(
        browser
            .post(format!("{}/interaction/{uid}/login", provider.issuer))
            .form(&[("email", USER_EMAIL), ("password", USER_PASSWORD)])
            .send()
            .await
            .unwrap(),
    )
    .await;

    // 3. Consent interaction.
    let consent_url = location(browser.get(resume).send().await.unwrap()).await;
    let uid = interaction_uid(&consent_url).expect("a consent interaction");
    let details: serde_json::Value = browser
        .get(consent_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(details["prompt"], "consent");
    let resume = location(
        browser
            .post(format!("{}/interaction/{uid}/confirm", provider.issuer))
            .send()
            .await
            .unwrap(),
    )
    .await;

    // 4. Back to us with the code.
    let callback_url = location(browser.get(resume).send().await.unwrap()).await;
    assert!(
        callback_url.as_str().starts_with(&redirect_uri),
        "{callback_url}"
    );
    let callback = Callback::from_query(callback_url.query().unwrap()).unwrap();
    assert_eq!(callback.state, pending.state());
    assert_eq!(callback.iss.as_deref(), Some(provider.issuer.as_str()));

    // 5. Code exchange and ID token validation.
    let login = oidc.complete_login(&callback, &pending).await.unwrap();
    assert_eq!(login.issuer.as_str(), provider.issuer);
    assert_eq!(login.subject, "user-jane");
    assert_eq!(login.email.as_deref(), Some("jane@example.com"));
    assert!(login.email_verified);
    let sid = login.sid.clone().expect("the provider sends sid");
    assert_eq!(pending.return_to(), Some(&return_to));
    // The code is single use.
    assert!(oidc.complete_login(&callback, &pending).await.is_err());

    // 6. RP-initiated logout at the provider, confirmed like a user would.
    let end_session = oidc
        .end_session_url(
            Some(&login.id_token),
            Some(&post_logout_uri.parse().unwrap()),
            Some("bye"),
        )
        .expect("the provider has an end-session endpoint");
    let page = browser.get(end_session).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let form = page.text().await.unwrap();
    let action = Url::parse(&provider.issuer)
        .unwrap()
        .join(&html_attribute(&form, "action"))
        .unwrap();
    let xsrf = html_attribute(&form, "value");
    let signed_out = location(
        browser
            .post(action)
            .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        signed_out.as_str().starts_with(&post_logout_uri),
        "{signed_out}"
    );

    // 7. The provider POSTed a logout token to our route before redirecting, and the
    // validator accepted it.
    let request = tokio::time::timeout(Duration::from_secs(10), ended_rx.recv())
        .await
        .expect("no back-channel logout within 10 s")
        .unwrap();
    assert_eq!(request.issuer.as_str(), provider.issuer);
    assert_eq!(request.sid.as_deref(), Some(sid.as_str()));
    assert_eq!(request.subject.as_deref(), Some("user-jane"));
    assert!(!request.jti.is_empty());
}
