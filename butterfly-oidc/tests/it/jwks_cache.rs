//! The key set cache against a real (loopback) key set endpoint: rotation, staleness,
//! and the rate limit on refetches for unknown kids.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get;
use butterfly_oidc::{
    ClientId, Issuer, JwksCache, JwksError, LogoutTokenError, LogoutTokenValidator,
};
use chrono::TimeDelta;

use crate::support::{
    CLIENT_ID, ISSUER, NOW, clock_at, idp_key, jwks, logout_claims, other_key, sign_with,
};

struct KeyServer {
    url: url::Url,
    body: Arc<Mutex<Vec<u8>>>,
    hits: Arc<AtomicUsize>,
}

impl KeyServer {
    async fn start(initial: Vec<u8>) -> Self {
        let body = Arc::new(Mutex::new(initial));
        let hits = Arc::new(AtomicUsize::new(0));
        let (b, h) = (Arc::clone(&body), Arc::clone(&hits));
        let app = Router::new().route(
            "/jwks",
            get(move || {
                h.fetch_add(1, Ordering::SeqCst);
                let bytes = b.lock().unwrap().clone();
                async move { ([("content-type", "application/json")], bytes) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        KeyServer {
            url: format!("http://{addr}/jwks").parse().unwrap(),
            body,
            hits,
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn serve(&self, body: Vec<u8>) {
        *self.body.lock().unwrap() = body;
    }
}

fn token(key: &crate::support::TestKey, kid: &str, jti: &str) -> String {
    sign_with(key, Some(kid), None, &logout_claims(ISSUER, jti))
}

#[tokio::test]
async fn unknown_kids_refetch_at_most_once_per_interval() {
    let server = KeyServer::start(jwks(&[idp_key()])).await;
    let clock = clock_at(NOW);
    let cache = Arc::new(
        JwksCache::new(server.url.clone(), reqwest::Client::new())
            .with_clock(clock.clone())
            .with_min_refresh_interval(TimeDelta::seconds(30)),
    );
    let validator = Arc::new(
        LogoutTokenValidator::new(
            Issuer::new(ISSUER).unwrap(),
            ClientId::new(CLIENT_ID).unwrap(),
            Arc::clone(&cache),
        )
        .with_clock(clock.clone())
        // The clock moves by hours below; the tokens must stay fresh for the key tests.
        .with_max_age(TimeDelta::days(1)),
    );

    // First use fetches.
    let kid = idp_key().kid.as_str();
    validator
        .validate(&token(idp_key(), kid, "j-1"))
        .await
        .unwrap();
    assert_eq!((server.hits(), cache.fetch_count(), cache.len()), (1, 1, 1));

    // A flood of made-up kids right after costs the provider nothing.
    for i in 0..50 {
        let result = validator
            .validate(&token(
                other_key(),
                &format!("forged-{i}"),
                &format!("f-{i}"),
            ))
            .await;
        assert!(
            matches!(
                result,
                Err(LogoutTokenError::Keys(JwksError::UnknownKey { .. }))
            ),
            "{result:?}"
        );
    }
    assert_eq!(server.hits(), 1);

    // After the interval, concurrent misses share one fetch.
    clock.advance(TimeDelta::seconds(31));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let v = Arc::clone(&validator);
        tasks.push(tokio::spawn(async move {
            v.validate(&token(
                other_key(),
                &format!("burst-{i}"),
                &format!("b-{i}"),
            ))
            .await
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().is_err());
    }
    assert_eq!(server.hits(), 2);

    // Rotation: the provider now signs with a new key. Within the interval the new kid
    // is still unknown; after it, one refetch finds it.
    server.serve(jwks(&[other_key()]));
    let rotated = token(other_key(), &other_key().kid, "j-rotated");
    assert!(validator.validate(&rotated).await.is_err());
    assert_eq!(server.hits(), 2);
    clock.advance(TimeDelta::seconds(31));
    validator.validate(&rotated).await.unwrap();
    assert_eq!(server.hits(), 3);
    // The old key is gone with the old set.
    assert!(
        validator
            .validate(&token(idp_key(), kid, "j-old-key"))
            .await
            .is_err()
    );
    assert_eq!(server.hits(), 3);

    // A set older than its max age is refetched on use; if that fetch fails, the keys
    // in hand still work.
    server.serve(b"not json".to_vec());
    clock.advance(TimeDelta::hours(2));
    validator
        .validate(&token(other_key(), &other_key().kid, "j-stale"))
        .await
        .unwrap();
    assert_eq!(server.hits(), 4);
}

#[tokio::test]
async fn fetch_failures_surface_when_no_key_is_known() {
    let server = KeyServer::start(b"{\"nope\": 1}".to_vec()).await;
    let clock = clock_at(NOW);
    let cache = Arc::new(
        JwksCache::new(server.url.clone(), reqwest::Client::new()).with_clock(clock.clone()),
    );
    let validator = LogoutTokenValidator::new(
        Issuer::new(ISSUER).unwrap(),
        ClientId::new(CLIENT_ID).unwrap(),
        cache,
    )
    .with_clock(clock);
    let result = validator
        .validate(&token(idp_key(), &idp_key().kid, "j-x"))
        .await;
    assert!(
        matches!(result, Err(LogoutTokenError::Keys(JwksError::Invalid(_)))),
        "{result:?}"
    );
}

#[test]
fn unusable_keys_are_skipped_and_symmetric_keys_never_used() {
    let mut set: serde_json::Value = serde_json::from_slice(&jwks(&[idp_key()])).unwrap();
    let keys = set["keys"].as_array_mut().unwrap();
    keys.push(serde_json::json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}));
    keys.push(
        serde_json::json!({"kty": "RSA", "use": "enc", "kid": "enc", "n": "AQAB", "e": "AQAB"}),
    );
    keys.push(serde_json::json!({"kty": "weird"}));
    let cache = JwksCache::from_json(&serde_json::to_vec(&set).unwrap()).unwrap();
    assert_eq!(cache.len(), 1);
}
