//! A cache of a provider's signing keys (its JSON Web Key Set, RFC 7517).
//!
//! Providers rotate keys: a token signed with a key we have not seen yet names a `kid`
//! missing from the cache, and the cache then fetches the set again. Anyone can send us
//! a token with a made-up `kid` (the back-channel logout endpoint is public), so those
//! refetches are rate limited: at most one per [`JwksCache::with_min_refresh_interval`]
//! (30 seconds by default) per cache, that is per issuer. A flood of unknown kids costs
//! the provider one request per interval, not one per token. The set is also refetched
//! when older than [`JwksCache::with_max_age`] (one hour by default), so a key the
//! provider withdraws stops being trusted.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use butterfly_core::store::ReplicaCoordination;
use butterfly_core::{Clock, SystemClock};
use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use url::Url;

/// The largest key set we accept, so a hostile or broken endpoint cannot make us buffer
/// without bound. Real sets are a few kilobytes.
const MAX_JWKS_BYTES: usize = 512 * 1024;

/// Why a signing key could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// The key set could not be fetched.
    #[error("could not fetch the key set from {uri}")]
    Fetch {
        /// The `jwks_uri`.
        uri: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The key set endpoint answered with a status other than 200.
    #[error("the key set endpoint {uri} answered {status}")]
    Status {
        /// The `jwks_uri`.
        uri: String,
        /// The HTTP status.
        status: u16,
    },
    /// The key set is larger than we accept.
    #[error("the key set is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    /// The key set is not a JSON object with a `keys` array.
    #[error("the key set is not valid JSON Web Key Set JSON")]
    Invalid(#[source] serde_json::Error),
    /// No key in the set has this `kid` (after a refetch, if one was allowed).
    #[error("no signing key with kid {kid:?}")]
    UnknownKey {
        /// The `kid` the token named, if any.
        kid: Option<String>,
    },
    /// The token names no `kid` and several keys could verify it.
    #[error("the token names no kid and the key set has several candidate keys")]
    AmbiguousKey,
}

/// One usable verification key.
#[derive(Clone)]
struct CachedKey {
    kid: Option<String>,
    /// The `alg` the key is restricted to, if the set says.
    alg: Option<String>,
    family: AlgorithmFamily,
    key: DecodingKey,
}

impl CachedKey {
    fn fits(&self, alg: Algorithm) -> bool {
        self.family == alg.family() && self.alg.as_deref().is_none_or(|a| a == alg_name(alg))
    }
}

#[derive(Default)]
struct KeySet {
    keys: Vec<CachedKey>,
    fetched_at: Option<DateTime<Utc>>,
    /// Bumped on every replacement, so a waiter can tell that someone else refreshed.
    generation: u64,
}

enum Source {
    Remote { uri: Url, http: reqwest::Client },
    Static,
}

/// A provider's verification keys, refetched on rotation with a rate limit.
///
/// Share one per issuer (behind an [`Arc`]) between the ID token validator and the
/// logout token validator; [`OidcClient`](crate::OidcClient) does that for you.
pub struct JwksCache {
    source: Source,
    clock: Arc<dyn Clock>,
    min_refresh_interval: TimeDelta,
    max_age: TimeDelta,
    keys: RwLock<Arc<KeySet>>,
    /// Held while fetching, so concurrent misses wait for one fetch instead of each
    /// starting their own; holds the time of the last fetch attempt (successful or not).
    refresh: tokio::sync::Mutex<Option<DateTime<Utc>>>,
    fetches: AtomicU64,
    /// Shared with the other replicas, when there are any: the refetch rate limit then
    /// holds across all of them, not per process.
    replicas: Option<Arc<dyn ReplicaCoordination>>,
}

impl fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let uri = match &self.source {
            Source::Remote { uri, .. } => Some(uri.as_str()),
            Source::Static => None,
        };
        f.debug_struct("JwksCache")
            .field("jwks_uri", &uri)
            .field("keys", &self.snapshot().keys.len())
            .field("min_refresh_interval", &self.min_refresh_interval)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    /// A cache that fetches `jwks_uri` with `http` on first use and when needed.
    ///
    /// Give it a client that does not follow redirects (see
    /// [`OidcClient::http_client`](crate::OidcClient::http_client)).
    pub fn new(jwks_uri: Url, http: reqwest::Client) -> Self {
        Self::with_source(Source::Remote {
            uri: jwks_uri,
            http,
        })
    }

    /// A fixed key set that is never fetched: for providers configured with static keys,
    /// and for tests.
    pub fn from_json(jwks: &[u8]) -> Result<Self, JwksError> {
        let cache = Self::with_source(Source::Static);
        cache.replace(parse_jwks(jwks)?, None);
        Ok(cache)
    }

    fn with_source(source: Source) -> Self {
        JwksCache {
            source,
            clock: Arc::new(SystemClock),
            min_refresh_interval: TimeDelta::seconds(30),
            max_age: TimeDelta::hours(1),
            keys: RwLock::new(Arc::new(KeySet::default())),
            refresh: tokio::sync::Mutex::new(None),
            fetches: AtomicU64::new(0),
            replicas: None,
        }
    }

    /// Apply the refetch rate limit across every replica sharing `replicas` (the
    /// server's database): a flood of tokens naming unknown keys, spread over replicas,
    /// still costs the provider one fetch per interval. A replica that holds no key set
    /// yet always fetches its first one.
    #[must_use]
    pub fn with_replica_coordination(mut self, replicas: Arc<dyn ReplicaCoordination>) -> Self {
        self.replicas = Some(replicas);
        self
    }

    /// Use this clock for the rate limit and the key set's age.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The least time between two fetches of the key set. Default: 30 seconds.
    #[must_use]
    pub fn with_min_refresh_interval(mut self, interval: TimeDelta) -> Self {
        self.min_refresh_interval = interval;
        self
    }

    /// How long a fetched key set is trusted before it is fetched again. Default: 1 hour.
    #[must_use]
    pub fn with_max_age(mut self, max_age: TimeDelta) -> Self {
        self.max_age = max_age;
        self
    }

    /// Start from a key set already in hand (the one discovery fetched), as if it had
    /// just been fetched.
    pub fn seed(self, jwks: &[u8]) -> Result<Self, JwksError> {
        let now = self.clock.now();
        self.replace(parse_jwks(jwks)?, Some(now));
        Ok(self)
    }

    /// The number of usable verification keys held now.
    pub fn len(&self) -> usize {
        self.snapshot().keys.len()
    }

    /// Whether no usable key is held now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Make sure the key set is loaded, fetching it if it never was, within the same
    /// rate limit as a miss; returns how many usable keys are held. For health checks
    /// such as "is the provider's JWKS reachable".
    pub async fn ensure_loaded(&self) -> Result<usize, JwksError> {
        let snapshot = self.snapshot();
        if snapshot.fetched_at.is_none() {
            self.refresh_if_allowed(snapshot.generation).await?;
        }
        Ok(self.len())
    }

    /// How many times the key set was fetched from the provider (for metrics and tests).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    fn snapshot(&self) -> Arc<KeySet> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn replace(&self, keys: Vec<CachedKey>, fetched_at: Option<DateTime<Utc>>) {
        let mut slot = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        let generation = slot.generation + 1;
        *slot = Arc::new(KeySet {
            keys,
            fetched_at,
            generation,
        });
    }

    /// The key to verify a token signed with `alg` that names `kid`.
    pub(crate) async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, JwksError> {
        let snapshot = self.snapshot();
        let stale = match (&self.source, snapshot.fetched_at) {
            (Source::Static, _) => false,
            (Source::Remote { .. }, None) => true,
            (Source::Remote { .. }, Some(at)) => self.clock.now() - at >= self.max_age,
        };
        if !stale && let Some(found) = pick(&snapshot, kid, alg)? {
            return Ok(found);
        }
        let refreshed = self.refresh_if_allowed(snapshot.generation).await;
        if let Some(found) = pick(&self.snapshot(), kid, alg)? {
            return Ok(found);
        }
        // The fetch error explains the miss better than "unknown key" does.
        refreshed?;
        Err(JwksError::UnknownKey {
            kid: kid.map(str::to_owned),
        })
    }

    /// Fetch the set again unless someone did since `seen_generation` or the last attempt
    /// is more recent than the rate limit allows. A failed fetch keeps the old keys (the
    /// caller still uses them): a provider outage should not also break tokens signed
    /// with keys we already know.
    async fn refresh_if_allowed(&self, seen_generation: u64) -> Result<(), JwksError> {
        let Source::Remote { uri, http } = &self.source else {
            return Ok(());
        };
        let mut last_attempt = self.refresh.lock().await;
        if self.snapshot().generation != seen_generation {
            return Ok(());
        }
        let now = self.clock.now();
        if last_attempt.is_some_and(|at| now - at < self.min_refresh_interval) {
            return Ok(());
        }
        if let Some(replicas) = &self.replicas
            && self.snapshot().fetched_at.is_some()
        {
            match replicas
                .claim_refresh(uri.as_str(), now, self.min_refresh_interval)
                .await
            {
                Ok(true) => {}
                // Another replica refetched within the interval: its keys are not ours,
                // but the provider has been asked recently enough.
                Ok(false) => return Ok(()),
                // Without the shared record, the local limit above still holds.
                Err(e) => tracing::warn!(error = %e, "shared JWKS refetch record unavailable"),
            }
        }
        *last_attempt = Some(now);
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let keys = fetch(uri, http).await?;
        self.replace(keys, Some(now));
        Ok(())
    }
}

/// The one key for (`kid`, `alg`), `None` if there is none, an error if ambiguous.
fn pick(set: &KeySet, kid: Option<&str>, alg: Algorithm) -> Result<Option<DecodingKey>, JwksError> {
    let mut candidates = set
        .keys
        .iter()
        .filter(|k| k.fits(alg))
        .filter(|k| kid.is_none() || k.kid.as_deref() == kid);
    let first = candidates.next();
    // Several keys may share a kid only across families, which `fits` already split; a
    // token without a kid must match exactly one key (OIDC Core section 10.1).
    if first.is_some() && candidates.next().is_some() {
        return Err(JwksError::AmbiguousKey);
    }
    Ok(first.map(|k| k.key.clone()))
}

async fn fetch(uri: &Url, http: &reqwest::Client) -> Result<Vec<CachedKey>, JwksError> {
    let fetch_error = |source| JwksError::Fetch {
        uri: uri.to_string(),
        source,
    };
    let mut response = http
        .get(uri.clone())
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(fetch_error)?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(JwksError::Status {
            uri: uri.to_string(),
            status: response.status().as_u16(),
        });
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
    {
        return Err(JwksError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(fetch_error)? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(JwksError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    parse_jwks(&body)
}

/// The usable verification keys of a set. Keys we cannot use are skipped rather than
/// failing the set: providers publish encryption keys and key types we do not support
/// next to their signing keys. Symmetric (`oct`) keys are never used: a verification
/// key must be public.
fn parse_jwks(bytes: &[u8]) -> Result<Vec<CachedKey>, JwksError> {
    #[derive(serde::Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let raw: RawSet = serde_json::from_slice(bytes).map_err(JwksError::Invalid)?;
    Ok(raw
        .keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter_map(|jwk| usable_key(&jwk))
        .collect())
}

fn usable_key(jwk: &Jwk) -> Option<CachedKey> {
    let common = &jwk.common;
    if matches!(
        common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    if common
        .key_operations
        .as_ref()
        .is_some_and(|ops| !ops.iter().any(|op| matches!(op, KeyOperations::Verify)))
    {
        return None;
    }
    let family = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => AlgorithmFamily::Rsa,
        AlgorithmParameters::EllipticCurve(_) => AlgorithmFamily::Ec,
        AlgorithmParameters::OctetKeyPair(_) => AlgorithmFamily::Ed,
        AlgorithmParameters::OctetKey(_) => return None,
    };
    let alg = match common.key_algorithm {
        None => None,
        // The key's `alg` as JSON text ("RS256"), compared with the token's header.
        Some(a) => Some(serde_json::to_value(a).ok()?.as_str()?.to_owned()),
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(CachedKey {
        kid: common.key_id.clone(),
        alg,
        family,
        key,
    })
}

/// The JOSE name of an algorithm.
pub(crate) fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
    }
}
