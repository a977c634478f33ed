//! Time as the fetcher and the simulator see it: what time it is, and waiting for a time.
//!
//! Every wait of the [fetcher](crate::okta::fetcher) (rate-limit pacing, the pause until
//! `X-Rate-Limit-Reset` after a `429` or when a bucket runs low, retry backoff) goes through
//! a [`Timer`], and the simulator's rate-limit windows and token
//! lifetimes read one. Production uses [`SystemTimer`]. Tests and benchmarks give the
//! fetcher and the simulator one shared [`VirtualTimer`]: waits return at once and move its
//! time forward, so a test can sit out a 429 storm or a benchmark can spend an hour of
//! rate limits in seconds, and both sides agree on when each window resets.
//!
//! [`Timer`] extends [`butterfly_core::Clock`] rather than changing it: the core clock is
//! also read by code that never waits (token validation, sessions).
//!
//! ```
//! use butterfly_providers::clock::{Timer, VirtualTimer};
//! use chrono::{DateTime, TimeDelta, Utc};
//!
//! # tokio_test_block_on(async {
//! let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
//! let timer = VirtualTimer::new(start);
//! timer.sleep(std::time::Duration::from_secs(90)).await; // returns at once
//! assert_eq!(timer.now(), start + TimeDelta::seconds(90));
//! // A deadline already past does not move time back.
//! timer.sleep_until(start + TimeDelta::seconds(60)).await;
//! assert_eq!(timer.now() - start, TimeDelta::seconds(90));
//! # });
//! # fn tokio_test_block_on(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use butterfly_core::Clock;
use chrono::{DateTime, Timelike, Utc};

/// A clock that can also be waited on. See the [module docs](self).
#[async_trait]
pub trait Timer: Clock {
    /// Return once this clock reads `deadline` or later.
    async fn sleep_until(&self, deadline: DateTime<Utc>);

    /// Return once `duration` has passed on this clock.
    async fn sleep(&self, duration: Duration) {
        let deadline = self.now() + duration;
        self.sleep_until(deadline).await;
    }
}

/// Wall-clock time; waits are real (`tokio::time::sleep`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemTimer;

impl Clock for SystemTimer {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

#[async_trait]
impl Timer for SystemTimer {
    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        let left = deadline - Utc::now();
        if let Ok(left) = left.to_std() {
            tokio::time::sleep(left).await;
        }
    }
}

/// Simulated time that only moves when someone waits (or [`advance`](Self::advance)s it).
///
/// A wait moves the clock to its deadline, if that is later than now, and returns at once.
/// Concurrent waits overlap instead of adding up: the clock reads the latest deadline
/// anyone has waited for, as if every waiter had slept side by side. One task's waits are
/// exact, so a test that waits out a window sees exactly that window pass.
///
/// The clock knows nothing of work in flight: a long wait (a bucket paused until its
/// window resets) moves time for everyone at once, while other waiters may still have
/// had earlier slots to use, and a request can reach the server later, on this clock,
/// than it would in real time (so a short token lifetime can look shorter). Simulated
/// time for concurrent work is therefore an upper estimate of what the same waits take
/// in real time, never an underestimate: every waiter waited at least as long as it
/// asked. The fetcher keeps one waiter per rate-limit bucket, which keeps the estimate
/// close (about 1.1x the bound at full share in the benchmark).
#[derive(Debug)]
pub struct VirtualTimer {
    now: Mutex<DateTime<Utc>>,
}

impl VirtualTimer {
    /// A clock reading `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        VirtualTimer {
            now: Mutex::new(start),
        }
    }

    /// A clock reading the wall clock's time now, whole seconds (so windows and `Date`
    /// headers line up with it exactly).
    pub fn starting_now() -> Self {
        let now = Utc::now();
        VirtualTimer::new(now.with_nanosecond(0).unwrap_or(now))
    }

    /// What the clock reads (also [`Clock::now`]).
    pub fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }

    /// Move the clock forward by `by` (back, if `by` is negative).
    pub fn advance(&self, by: chrono::TimeDelta) {
        *self.lock() += by;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for VirtualTimer {
    fn now(&self) -> DateTime<Utc> {
        VirtualTimer::now(self)
    }
}

#[async_trait]
impl Timer for VirtualTimer {
    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        {
            let mut now = self.lock();
            if deadline > *now {
                *now = deadline;
            }
        }
        // Let other tasks run, as a real wait would.
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn virtual_waits_move_time_and_return_at_once() {
        let timer = VirtualTimer::new("2026-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap());
        timer.sleep(Duration::from_secs(3600)).await;
        assert_eq!(
            timer.now(),
            "2026-01-01T01:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        // Side by side: two waits of a minute from the same start take a minute.
        let start = timer.now();
        tokio::join!(
            timer.sleep_until(start + Duration::from_secs(60)),
            timer.sleep_until(start + Duration::from_secs(60)),
        );
        assert_eq!(
            timer.now(),
            "2026-01-01T01:01:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        timer.advance(chrono::TimeDelta::seconds(-30));
        assert_eq!(
            timer.now(),
            "2026-01-01T01:00:30Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[tokio::test]
    async fn a_past_deadline_returns_without_moving_time() {
        let timer = VirtualTimer::new("2026-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap());
        timer
            .sleep_until("2025-12-31T23:00:00Z".parse::<DateTime<Utc>>().unwrap())
            .await;
        assert_eq!(
            timer.now(),
            "2026-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        SystemTimer
            .sleep_until("2000-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap())
            .await;
    }
}
