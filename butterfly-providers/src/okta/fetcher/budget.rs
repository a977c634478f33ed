//! One rate-limit budget per bucket.
//!
//! Two mechanisms, because each covers what the other cannot see:
//!
//! - **Pacing** (governor, GCRA): requests leave at most `limit × share` per minute, evenly
//!   spaced, so a backup never bursts through a bucket that production traffic shares.
//! - **Headroom** from the `X-Rate-Limit-*` headers: when a response says the window has
//!   no more than `limit × (1 − share)` requests left (others may be spending the same
//!   bucket), the bucket pauses until `X-Rate-Limit-Reset`. A `429` pauses it the same way.
//!
//! Waits are computed on the server's clock (`reset − Date`), never on ours, so clock skew
//! does not matter; with a simulator running faster than real time, the wait is divided
//! by its time scale.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

/// What a response said about its bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LimitHeaders {
    /// `X-Rate-Limit-Limit`.
    pub limit: u32,
    /// `X-Rate-Limit-Remaining`.
    pub remaining: u32,
    /// Seconds from the response's `Date` to `X-Rate-Limit-Reset`, on the server's clock.
    pub reset_in_seconds: i64,
}

#[derive(Debug)]
struct State {
    /// The limit the pacer was built for.
    limit: u32,
    pacer: Arc<DefaultDirectRateLimiter>,
    /// No request leaves before this.
    paused_until: Option<Instant>,
}

/// The budget of one bucket.
#[derive(Debug)]
pub(crate) struct Budget {
    share: f64,
    time_scale: f64,
    state: Mutex<State>,
}

impl Budget {
    /// A budget for a bucket believed to allow `limit` requests a minute.
    pub fn new(limit: u32, share: f64, time_scale: f64) -> Self {
        Budget {
            share,
            time_scale,
            state: Mutex::new(State {
                limit,
                pacer: Arc::new(pacer(limit, share, time_scale)),
                paused_until: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wait until a request may leave.
    pub async fn acquire(&self) {
        loop {
            let paused = self.lock().paused_until;
            match paused {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => break,
            }
        }
        let pacer = Arc::clone(&self.lock().pacer);
        pacer.until_ready().await;
    }

    /// Learn from a response's headers; returns how long the bucket now pauses, if it does.
    pub fn observe(&self, headers: LimitHeaders) -> Option<Duration> {
        let mut state = self.lock();
        if headers.limit > 0 && headers.limit != state.limit {
            state.limit = headers.limit;
            state.pacer = Arc::new(pacer(headers.limit, self.share, self.time_scale));
        }
        // What others may use of this window: we stop when only that is left.
        let reserve = (f64::from(headers.limit) * (1.0 - self.share)).floor();
        if f64::from(headers.remaining) <= reserve {
            Some(self.pause_locked(&mut state, headers.reset_in_seconds))
        } else {
            None
        }
    }

    /// Pause until the window resets (after a `429`); returns the wait.
    pub fn pause_until_reset(&self, reset_in_seconds: i64) -> Duration {
        let mut state = self.lock();
        self.pause_locked(&mut state, reset_in_seconds)
    }

    fn pause_locked(&self, state: &mut State, reset_in_seconds: i64) -> Duration {
        let wait = self.real_wait(reset_in_seconds);
        let until = Instant::now() + wait;
        if state.paused_until.is_none_or(|p| p < until) {
            state.paused_until = Some(until);
        }
        wait
    }

    /// Real time for `seconds` of server time, plus a little: `Date` is truncated to the
    /// second, so the window may end a fraction later than it says.
    fn real_wait(&self, seconds: i64) -> Duration {
        // At least a second (server time), at most a window and a bit: a reset in the
        // past or far future is a skewed header, not a reason to stall or spin.
        // Clamped first, so the conversion is exact.
        let clamped = i32::try_from(seconds.clamp(0, 61)).unwrap_or(61);
        let server_seconds = f64::from(clamped) + 0.25;
        Duration::from_secs_f64(server_seconds / self.time_scale)
    }
}

/// A pacer spacing requests evenly at `limit × share` a minute of server time.
///
/// It allows a small burst (a twentieth of the minute's share, three seconds' worth):
/// requests that were late (a slow response, a busy client) may catch up instead of
/// losing their slot for good. The headroom check on the response headers still stops
/// the bucket before the window is spent.
fn pacer(limit: u32, share: f64, time_scale: f64) -> DefaultDirectRateLimiter {
    let per_minute = (f64::from(limit) * share).max(1.0);
    let period =
        Duration::from_secs_f64(60.0 / per_minute / time_scale).max(Duration::from_nanos(1));
    // Bounded to 1..=1000 before the conversion, so it is exact.
    let burst = (per_minute / 20.0).clamp(1.0, 1000.0).floor();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let burst = NonZeroU32::new(burst as u32).unwrap_or(NonZeroU32::MIN);
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst);
    RateLimiter::direct(quota)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_unshared_part_of_the_window() {
        let budget = Budget::new(600, 0.5, 1.0);
        let headers = |remaining| LimitHeaders {
            limit: 600,
            remaining,
            reset_in_seconds: 30,
        };
        assert_eq!(budget.observe(headers(301)), None);
        let wait = budget.observe(headers(300)).unwrap();
        assert!(wait >= Duration::from_secs(30) && wait < Duration::from_secs(31));
    }

    #[test]
    fn full_share_pauses_only_when_the_window_is_spent() {
        let budget = Budget::new(100, 1.0, 60.0);
        let headers = |remaining| LimitHeaders {
            limit: 100,
            remaining,
            reset_in_seconds: 60,
        };
        assert_eq!(budget.observe(headers(1)), None);
        let wait = budget.observe(headers(0)).unwrap();
        // 60 server seconds at 60x are about one real second.
        assert!(wait > Duration::from_millis(900) && wait < Duration::from_millis(1100));
    }
}
