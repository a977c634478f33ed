//! Per-bucket rate limits on fixed one-minute windows of simulated time.
//!
//! Okta counts each bucket's requests per minute and reports the window with
//! `X-Rate-Limit-Limit`, `X-Rate-Limit-Remaining` and `X-Rate-Limit-Reset` (the UTC epoch
//! second the window ends). Windows here are aligned to the simulated clock's minutes.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::okta::RateLimitBucket;

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Epoch second the window resets (simulated time).
    pub reset: i64,
}

#[derive(Debug)]
pub(crate) struct RateLimiter {
    limits: BTreeMap<RateLimitBucket, u32>,
    windows: Mutex<BTreeMap<RateLimitBucket, (i64, u32)>>,
}

impl RateLimiter {
    /// Okta's defaults, with `overrides` per bucket.
    pub fn new(overrides: &BTreeMap<RateLimitBucket, u32>) -> Self {
        let limits = RateLimitBucket::ALL
            .iter()
            .map(|b| {
                (
                    *b,
                    overrides
                        .get(b)
                        .copied()
                        .unwrap_or(b.default_limit_per_minute()),
                )
            })
            .collect();
        RateLimiter {
            limits,
            windows: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn limit(&self, bucket: RateLimitBucket) -> u32 {
        self.limits
            .get(&bucket)
            .copied()
            .unwrap_or(bucket.default_limit_per_minute())
    }

    /// Count a request in `bucket` at `now`; it is allowed if the window has room.
    pub fn check(&self, bucket: RateLimitBucket, now: DateTime<Utc>) -> Decision {
        let limit = self.limit(bucket);
        let window = now.timestamp().div_euclid(60) * 60;
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = windows.entry(bucket).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        let allowed = entry.1 < limit;
        if allowed {
            entry.1 += 1;
        }
        Decision {
            allowed,
            limit,
            remaining: limit.saturating_sub(entry.1),
            reset: window + 60,
        }
    }

    /// The current window's headers without counting a request (for a 429 storm).
    pub fn exhausted(&self, bucket: RateLimitBucket, now: DateTime<Utc>) -> Decision {
        let window = now.timestamp().div_euclid(60) * 60;
        Decision {
            allowed: false,
            limit: self.limit(bucket),
            remaining: 0,
            reset: window + 60,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_and_refills_with_the_next_window() {
        let limiter = RateLimiter::new(&BTreeMap::from([(RateLimitBucket::UsersList, 2)]));
        let t0 = DateTime::from_timestamp(1_700_000_040, 0).unwrap();
        let a = limiter.check(RateLimitBucket::UsersList, t0);
        let b = limiter.check(RateLimitBucket::UsersList, t0);
        let c = limiter.check(RateLimitBucket::UsersList, t0);
        assert!(a.allowed && b.allowed && !c.allowed);
        assert_eq!((a.remaining, b.remaining, c.remaining), (1, 0, 0));
        assert_eq!(c.reset, 1_700_000_040 / 60 * 60 + 60);
        // Other buckets are untouched.
        assert!(limiter.check(RateLimitBucket::GroupsList, t0).allowed);
        let later = DateTime::from_timestamp(c.reset, 0).unwrap();
        assert!(limiter.check(RateLimitBucket::UsersList, later).allowed);
    }
}
