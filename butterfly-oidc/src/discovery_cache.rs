//! [`DiscoveryCache`]: discovery that a flood of logins cannot turn into a flood of
//! outbound connections.
//!
//! A login for a team whose provider is down (or misconfigured) needs discovery, and
//! discovery fails; without memory, every unauthenticated login attempt opens a new
//! connection to the provider, so anyone can make the server hammer a third party (or
//! wait out its timeouts). The cache runs one discovery per issuer at a time, and
//! remembers a failure for a short while ([`DiscoveryCache::DEFAULT_FAILURE_TTL`]):
//! callers in that window get [`DiscoveryError::RecentlyFailed`] at once. Successes are
//! not kept here; keep the [`OidcClient`] you get, as before.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use butterfly_core::Clock;
use chrono::{DateTime, TimeDelta, Utc};

use crate::client::{DiscoveryError, OidcClient};
use crate::config::RelyingPartyConfig;

/// The last failure for one issuer: when it happened and what it was.
#[derive(Debug, Clone)]
struct Failure {
    at: DateTime<Utc>,
    cause: String,
}

/// One issuer's slot: held across a discovery so concurrent callers wait for it.
type Slot = Arc<tokio::sync::Mutex<Option<Failure>>>;

/// Runs discovery one at a time per issuer and remembers failures briefly (see the
/// module docs). Share one per process, for instance in an `Arc`.
///
/// ```no_run
/// use std::sync::Arc;
/// use butterfly_core::SystemClock;
/// use butterfly_oidc::{DiscoveryCache, OidcClient, RelyingPartyConfig};
///
/// # async fn login(config: RelyingPartyConfig) -> Result<(), Box<dyn std::error::Error>> {
/// let discovery = DiscoveryCache::new(Arc::new(SystemClock));
/// let client = discovery.discover(config, OidcClient::http_client()?).await?;
/// # let _ = client;
/// # Ok(())
/// # }
/// ```
pub struct DiscoveryCache {
    clock: Arc<dyn Clock>,
    failure_ttl: TimeDelta,
    slots: Mutex<BTreeMap<String, Slot>>,
}

impl std::fmt::Debug for DiscoveryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscoveryCache")
            .field("failure_ttl", &self.failure_ttl)
            .finish_non_exhaustive()
    }
}

impl DiscoveryCache {
    /// How long a failure is remembered unless told otherwise: 30 seconds, long enough
    /// to absorb a burst of logins, short enough that a provider back up is soon used.
    pub const DEFAULT_FAILURE_TTL: TimeDelta = TimeDelta::seconds(30);

    /// A cache reading the time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        DiscoveryCache {
            clock,
            failure_ttl: Self::DEFAULT_FAILURE_TTL,
            slots: Mutex::new(BTreeMap::new()),
        }
    }

    /// Remember failures for `ttl` instead.
    #[must_use]
    pub fn with_failure_ttl(mut self, ttl: TimeDelta) -> Self {
        self.failure_ttl = ttl;
        self
    }

    /// [`OidcClient::discover`], unless discovery for `config`'s issuer failed less than
    /// the failure TTL ago: then [`DiscoveryError::RecentlyFailed`] without any network
    /// traffic. Concurrent calls for one issuer wait for the discovery in flight and
    /// share its failure.
    pub async fn discover(
        &self,
        config: RelyingPartyConfig,
        http: reqwest::Client,
    ) -> Result<OidcClient, DiscoveryError> {
        let issuer = config.issuer.to_string();
        let slot = {
            // The map lock is held only to find the slot, never across an await.
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(slots.entry(issuer.clone()).or_default())
        };
        let mut last_failure = slot.lock().await;
        if let Some(failure) = last_failure.as_ref() {
            let age = self.clock.now() - failure.at;
            if age < self.failure_ttl {
                return Err(DiscoveryError::RecentlyFailed {
                    issuer,
                    retry_in: self.failure_ttl - age,
                    cause: failure.cause.clone(),
                });
            }
        }
        match OidcClient::discover(config, http).await {
            Ok(client) => {
                *last_failure = None;
                Ok(client)
            }
            Err(error) => {
                *last_failure = Some(Failure {
                    at: self.clock.now(),
                    cause: error_chain(&error),
                });
                Err(error)
            }
        }
    }
}

/// An error and its sources, `: `-separated, to repeat to later callers.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
