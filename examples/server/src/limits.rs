//! Per-client rate limits on the unauthenticated sign-in endpoints (SSO login, the CLI's
//! device authorization and its approval form): a GCRA bucket per peer address
//! ([`governor`]), which answers how long to wait when it refuses, for `Retry-After`.
//!
//! The clock is injected: [`LimitClock::fake`] lets a test drive a limiter past its
//! burst and then move time on, without sleeping.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::http::header::RETRY_AFTER;
use axum::http::{Extensions, HeaderValue, StatusCode};
use axum::response::Response;
use governor::clock::{Clock, FakeRelativeClock};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

/// Clients a limiter remembers before it forgets those back at a full burst.
const MAX_REMEMBERED_CLIENTS: usize = 10_000;

/// The time a [`ClientLimiter`] reads: the monotonic clock, or a test's fake one.
#[derive(Debug, Clone)]
pub struct LimitClock {
    start: Instant,
    fake: Option<FakeRelativeClock>,
}

impl LimitClock {
    /// The monotonic system clock.
    pub fn system() -> LimitClock {
        LimitClock {
            start: Instant::now(),
            fake: None,
        }
    }

    /// A clock that moves only when the test advances `clock`.
    pub fn fake(clock: FakeRelativeClock) -> LimitClock {
        LimitClock {
            start: Instant::now(),
            fake: Some(clock),
        }
    }
}

impl Clock for LimitClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        match &self.fake {
            Some(fake) => fake.now(),
            None => Nanos::from(self.start.elapsed()),
        }
    }
}

/// Requests one client may make in a burst, and how fast the allowance comes back.
#[derive(Debug, Clone, Copy)]
pub struct ClientQuota {
    /// Requests allowed at once.
    pub burst: NonZeroU32,
    /// One more request is allowed after each such period.
    pub refill: Duration,
}

/// A rate limit per client address (`None`: a request served without connection
/// information; those share one bucket).
#[derive(Debug)]
pub struct ClientLimiter {
    limiter: RateLimiter<
        Option<IpAddr>,
        HashMapStateStore<Option<IpAddr>>,
        LimitClock,
        NoOpMiddleware<Nanos>,
    >,
    clock: LimitClock,
}

/// A refusal: the client may try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds for a `Retry-After` header, rounded up and at least 1.
    pub fn seconds(self) -> u64 {
        let secs = self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0);
        secs.max(1)
    }
}

impl ClientLimiter {
    /// A limiter on the system clock.
    pub fn new(quota: ClientQuota) -> ClientLimiter {
        ClientLimiter::with_clock(quota, LimitClock::system())
    }

    /// A limiter reading `clock`.
    pub fn with_clock(quota: ClientQuota, clock: LimitClock) -> ClientLimiter {
        let gcra = Quota::with_period(quota.refill)
            // A zero refill period would be no limit at all; one a minute instead.
            .unwrap_or_else(|| Quota::per_minute(quota.burst))
            .allow_burst(quota.burst);
        ClientLimiter {
            limiter: RateLimiter::hashmap_with_clock(gcra, clock.clone()),
            clock,
        }
    }

    /// Admit one request from `client`, or say how long it must wait.
    pub fn check(&self, client: Option<IpAddr>) -> Result<(), RetryAfter> {
        if self.limiter.len() > MAX_REMEMBERED_CLIENTS {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&client)
            .map_err(|not_until| RetryAfter(not_until.wait_time_from(self.clock.now())))
    }
}

/// A shareable limiter.
pub type SharedLimiter = Arc<ClientLimiter>;

/// The peer address of a request served with connection information
/// (`into_make_service_with_connect_info::<SocketAddr>`), the key of the limits.
pub fn client_of(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip())
}

/// `refusal` (a 429 in the endpoint's own error format) with `Retry-After`.
pub fn too_many(mut refusal: Response, wait: RetryAfter) -> Response {
    *refusal.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    refusal
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(wait.seconds()));
    refusal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota() -> ClientQuota {
        ClientQuota {
            burst: NonZeroU32::new(3).unwrap_or(NonZeroU32::MIN),
            refill: Duration::from_secs(6),
        }
    }

    #[test]
    fn a_client_past_its_burst_waits_and_others_do_not() {
        let time = FakeRelativeClock::default();
        let limiter = ClientLimiter::with_clock(quota(), LimitClock::fake(time.clone()));
        let a = Some(IpAddr::from([203, 0, 113, 7]));
        let b = Some(IpAddr::from([203, 0, 113, 8]));
        for _ in 0..3 {
            assert_eq!(limiter.check(a), Ok(()));
        }
        let refused = limiter.check(a);
        assert_eq!(refused, Err(RetryAfter(Duration::from_secs(6))));
        assert_eq!(refused.err().map(RetryAfter::seconds), Some(6));
        assert_eq!(limiter.check(b), Ok(()));
        time.advance(Duration::from_secs(5));
        assert_eq!(
            limiter.check(a).err().map(RetryAfter::seconds),
            Some(1),
            "one second short"
        );
        time.advance(Duration::from_secs(1));
        assert_eq!(limiter.check(a), Ok(()));
        assert!(limiter.check(a).is_err(), "one request came back, not more");
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(RetryAfter(Duration::from_millis(1)).seconds(), 1);
        assert_eq!(RetryAfter(Duration::from_millis(5_001)).seconds(), 6);
        assert_eq!(RetryAfter(Duration::ZERO).seconds(), 1);
    }
}
