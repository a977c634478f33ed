//! Two replicas on one database validate SSO tokens as one: a back-channel logout token
//! accepted by one is refused by the other (a replay), and a flood of tokens naming
//! unknown keys, spread over both, makes the provider's key set be fetched once per
//! interval, not once per replica. On SQLite (one file, two pools) and on PostgreSQL
//! (`BUTTERFLY_TEST_DATABASE_URL`, a fresh database).
//!
//! Each replica is what the server builds per provider: its own `SqlStore` pool, its own
//! `JwksCache` and `LogoutTokenValidator`, with the store as their shared state (see
//! `sso.rs`). The provider's key set is served over HTTP by a counting endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use butterfly_core::FixedClock;
use butterfly_oidc::{ClientId, Issuer, JwksCache, LogoutTokenError, LogoutTokenValidator};
use butterfly_store::SqlStore;
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{Value, json};
use sqlx::postgres::PgConnection;
use sqlx::{Connection as _, Executor as _};

const ISSUER: &str = "https://idp.replicas.test";

struct Provider {
    jwks_uri: url::Url,
    fetches: Arc<AtomicU64>,
    key: jsonwebtoken::EncodingKey,
}

/// A key set endpoint on loopback that counts its requests.
async fn provider() -> Provider {
    let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let public = private.to_public_key();
    let jwks = json!({"keys": [{
        "kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
    }]});
    let fetches = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&fetches);
    let app = Router::new().route(
        "/jwks",
        get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let body = jwks.to_string();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let der = private.to_pkcs1_der().unwrap();
    Provider {
        jwks_uri: format!("http://{addr}/jwks").parse().unwrap(),
        fetches,
        key: jsonwebtoken::EncodingKey::from_rsa_der(der.as_bytes()),
    }
}

impl Provider {
    fn logout_token(&self, kid: &str, jti: &str) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        header.typ = Some("logout+jwt".to_owned());
        let claims: Value = json!({
            "iss": ISSUER, "aud": "client", "iat": now, "exp": now + 120, "jti": jti,
            "sub": "user-1",
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        });
        jsonwebtoken::encode(&header, &claims, &self.key).unwrap()
    }

    /// One replica: its own key set cache and validator, sharing `store`; the key
    /// set's refetch limit runs on `clock`.
    async fn replica(
        &self,
        store: SqlStore,
        clock: Arc<FixedClock>,
    ) -> (Arc<JwksCache>, LogoutTokenValidator) {
        let shared: Arc<dyn butterfly_core::store::ReplicaCoordination> = Arc::new(store);
        let jwks = Arc::new(
            JwksCache::new(self.jwks_uri.clone(), reqwest::Client::new())
                .with_clock(clock)
                .with_replica_coordination(Arc::clone(&shared)),
        );
        jwks.ensure_loaded().await.unwrap();
        let validator = LogoutTokenValidator::new(
            Issuer::new(ISSUER).unwrap(),
            ClientId::new("client").unwrap(),
            Arc::clone(&jwks),
        )
        .with_replica_coordination(shared);
        (jwks, validator)
    }
}

async fn two_replicas_act_as_one(url: &str) {
    let idp = provider().await;
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let (_, a) = idp
        .replica(SqlStore::connect(url).await.unwrap(), Arc::clone(&clock))
        .await;
    let (_, b) = idp
        .replica(SqlStore::connect(url).await.unwrap(), Arc::clone(&clock))
        .await;
    // Each replica loads the key set once for itself.
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 2);

    // A token accepted by one replica is a replay on the other.
    let token = idp.logout_token("k1", "jti-1");
    a.validate(&token).await.unwrap();
    assert!(matches!(
        b.validate(&token).await,
        Err(LogoutTokenError::Replayed)
    ));
    assert!(matches!(
        a.validate(&token).await,
        Err(LogoutTokenError::Replayed)
    ));
    // Another token is fine on either.
    b.validate(&idp.logout_token("k1", "jti-2")).await.unwrap();

    // Tokens naming an unknown key, once each replica's own limit (30 s since its
    // first load) has passed: the first replica to miss refetches, the other one, within
    // the interval of that refetch, does not. Per process, it would fetch too.
    clock.advance(chrono::TimeDelta::seconds(31));
    let unknown = idp.logout_token("k-unknown", "jti-3");
    assert!(a.validate(&unknown).await.is_err());
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 3);
    for _ in 0..5 {
        assert!(b.validate(&unknown).await.is_err());
        assert!(a.validate(&unknown).await.is_err());
    }
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn replicas_share_replay_and_refetch_state_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("shared.db").display()
    );
    // Migrate once before the replicas race to open it.
    SqlStore::connect(&url).await.unwrap().close().await;
    two_replicas_act_as_one(&url).await;
}

#[tokio::test]
async fn replicas_share_replay_and_refetch_state_on_postgres() {
    let Ok(admin_url) = std::env::var("BUTTERFLY_TEST_DATABASE_URL") else {
        panic!(
            "set BUTTERFLY_TEST_DATABASE_URL (a PostgreSQL server the tests may create databases on)"
        );
    };
    let name = format!("bf_replicas_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&admin_url).await.unwrap();
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let (prefix, _) = admin_url
        .rsplit_once('/')
        .expect("a URL that names a database");
    let url = format!("{prefix}/{name}");
    SqlStore::connect(&url).await.unwrap().close().await;
    let outcome = tokio::spawn(async move { two_replicas_act_as_one(&url).await }).await;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}
