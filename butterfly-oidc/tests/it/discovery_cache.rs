//! A provider that is down is asked once per failure TTL, however many logins arrive.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use butterfly_core::FixedClock;
use butterfly_oidc::{
    ClientId, DiscoveryCache, DiscoveryError, Issuer, OidcClient, RelyingPartyConfig,
};
use chrono::{DateTime, TimeDelta};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

/// A local "provider" that answers every request 503 and counts the connections made
/// to it.
async fn failing_provider() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (issuer, connections)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_discovery_is_remembered_for_its_ttl() {
    let (issuer, connections) = failing_provider().await;
    let config = RelyingPartyConfig::new(
        Issuer::new(&issuer).unwrap(),
        ClientId::new("butterfly-app").unwrap(),
        None,
        Url::parse("http://127.0.0.1:8080/auth/sso/callback").unwrap(),
    );
    let clock = Arc::new(FixedClock::new(
        DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
    ));
    let cache = Arc::new(DiscoveryCache::new(clock.clone()));
    let http = OidcClient::http_client().unwrap();

    // Twenty logins at once: one discovery goes out, the others wait for it and share
    // its failure.
    let logins: Vec<_> = (0..20)
        .map(|_| {
            let (cache, config, http) = (Arc::clone(&cache), config.clone(), http.clone());
            tokio::spawn(async move { cache.discover(config, http).await })
        })
        .collect();
    let mut fetched = 0;
    let mut remembered = 0;
    for login in logins {
        match login.await.unwrap() {
            Err(DiscoveryError::Discovery { .. }) => fetched += 1,
            Err(DiscoveryError::RecentlyFailed {
                issuer: i,
                retry_in,
                cause,
            }) => {
                assert_eq!(i, Issuer::new(&issuer).unwrap().to_string());
                assert_eq!(retry_in, TimeDelta::seconds(30));
                assert!(cause.contains("discovery failed"), "{cause}");
                remembered += 1;
            }
            other => panic!("unexpected: {other:?}"),
        }
    }
    assert_eq!((fetched, remembered), (1, 19));
    assert_eq!(connections.load(Ordering::SeqCst), 1);

    // Still inside the window: no traffic.
    clock.advance(TimeDelta::seconds(29));
    match cache.discover(config.clone(), http.clone()).await {
        Err(DiscoveryError::RecentlyFailed { retry_in, .. }) => {
            assert_eq!(retry_in, TimeDelta::seconds(1));
        }
        other => panic!("unexpected: {other:?}"),
    }
    assert_eq!(connections.load(Ordering::SeqCst), 1);

    // Once it has passed, the provider is asked again.
    clock.advance(TimeDelta::seconds(1));
    assert!(matches!(
        cache.discover(config.clone(), http.clone()).await,
        Err(DiscoveryError::Discovery { .. })
    ));
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}
