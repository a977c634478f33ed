//! One rate-limit budget per bucket.
//!
//! Two mechanisms, because each covers what the other cannot see:
//!
//! - **Pacing** (GCRA): requests leave at most `limit × share` per minute, evenly spaced,
//!   so a backup never bursts through a bucket that production traffic shares.
//! - **Headroom** from the `X-Rate-Limit-*` headers: when a response says the window has
//!   no more than `limit × (1 − share)` requests left (others may be spending the same
//!   bucket), the bucket pauses until `X-Rate-Limit-Reset`. A `429` pauses it the same way.
//!
//! Waits are measured on the server's clock (`reset − Date`), never compared with ours, so
//! clock skew does not matter; they are waited out on the injected [`Timer`], so a test or
//! a benchmark on a virtual clock waits for nothing.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::Timer;

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
    /// The limit the pace was set for.
    limit: u32,
    pace: Pace,
    /// When the next request is due at the even pace (GCRA's theoretical arrival time).
    next_due: Option<DateTime<Utc>>,
    /// No request leaves before this.
    paused_until: Option<DateTime<Utc>>,
}

/// Requests spaced `period` apart, with up to `burst` sent at once to catch up.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pace {
    period: Duration,
    /// How far ahead of the even pace a request may leave: `(burst − 1) × period`.
    tolerance: Duration,
}

/// The budget of one bucket.
#[derive(Debug)]
pub(crate) struct Budget {
    share: f64,
    timer: Arc<dyn Timer>,
    state: Mutex<State>,
    /// One request waits for its slot at a time, first come first served. The slots are
    /// the same as if each reserved its own, but a virtual clock then sees one wait per
    /// bucket instead of a queue of them, which it would run through at once.
    turn: tokio::sync::Mutex<()>,
}

impl Budget {
    /// A budget for a bucket believed to allow `limit` requests a minute.
    pub fn new(limit: u32, share: f64, timer: Arc<dyn Timer>) -> Self {
        Budget {
            share,
            timer,
            state: Mutex::new(State {
                limit,
                pace: pace(limit, share),
                next_due: None,
                paused_until: None,
            }),
            turn: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wait until a request may leave: past any pause, then in its turn at the pace.
    pub async fn acquire(&self) {
        let _turn = self.turn.lock().await;
        loop {
            let paused = self.lock().paused_until;
            match paused {
                Some(until) if until > self.timer.now() => self.timer.sleep_until(until).await,
                _ => break,
            }
        }
        let slot = self.reserve(self.timer.now());
        self.timer.sleep_until(slot).await;
    }

    /// Take the next slot at the pace: when the request may leave.
    fn reserve(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let mut state = self.lock();
        let Pace { period, tolerance } = state.pace;
        let due = state.next_due.unwrap_or(now);
        let leaves = now.max(due - tolerance);
        state.next_due = Some(due.max(leaves) + period);
        leaves
    }

    /// Learn from a response's headers; returns how long the bucket now pauses, if it does.
    pub fn observe(&self, headers: LimitHeaders) -> Option<Duration> {
        let mut state = self.lock();
        if headers.limit > 0 && headers.limit != state.limit {
            state.limit = headers.limit;
            state.pace = pace(headers.limit, self.share);
            // Slots not yet taken follow the new pace from now on (requests already
            // waiting for theirs keep them).
            state.next_due = None;
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
        let wait = wait_for_reset(reset_in_seconds);
        let until = self.timer.now() + wait;
        if state.paused_until.is_none_or(|p| p < until) {
            state.paused_until = Some(until);
        }
        wait
    }
}

/// How long to wait for a window that resets in `seconds`, plus a little: `Date` is
/// truncated to the second, so the window may end a fraction later than it says.
fn wait_for_reset(seconds: i64) -> Duration {
    // At most a window and a bit: a reset in the past or far future is a skewed header,
    // not a reason to stall or spin. Clamped first, so the conversion is exact.
    let clamped = u64::try_from(seconds.clamp(0, 61)).unwrap_or(61);
    Duration::from_secs(clamped) + Duration::from_millis(250)
}

/// Requests evenly spaced at `limit × share` a minute.
///
/// It allows a small burst (a twentieth of the minute's share, three seconds' worth):
/// requests that were late (a slow response, a busy client) may catch up instead of
/// losing their slot for good. The headroom check on the response headers still stops
/// the bucket before the window is spent.
fn pace(limit: u32, share: f64) -> Pace {
    let per_minute = (f64::from(limit) * share).max(1.0);
    let period = Duration::from_secs_f64(60.0 / per_minute).max(Duration::from_nanos(1));
    // Bounded to 1..=1000 before the conversion, so it is exact.
    let burst = (per_minute / 20.0).clamp(1.0, 1000.0).floor();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let burst = burst as u32;
    Pace {
        period,
        tolerance: period * burst.saturating_sub(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::VirtualTimer;

    // 2026-01-01T00:00:00Z
    const START: DateTime<Utc> = DateTime::from_timestamp_nanos(1_767_225_600_000_000_000);

    fn budget(limit: u32, share: f64) -> (Budget, Arc<VirtualTimer>) {
        let timer = Arc::new(VirtualTimer::new(START));
        (Budget::new(limit, share, timer.clone()), timer)
    }

    #[test]
    fn keeps_the_unshared_part_of_the_window() {
        let (budget, _) = budget(600, 0.5);
        let headers = |remaining| LimitHeaders {
            limit: 600,
            remaining,
            reset_in_seconds: 30,
        };
        assert_eq!(budget.observe(headers(301)), None);
        assert_eq!(
            budget.observe(headers(300)),
            Some(Duration::from_millis(30_250))
        );
    }

    #[test]
    fn full_share_pauses_only_when_the_window_is_spent() {
        let (budget, _) = budget(100, 1.0);
        let headers = |remaining| LimitHeaders {
            limit: 100,
            remaining,
            reset_in_seconds: 60,
        };
        assert_eq!(budget.observe(headers(1)), None);
        assert_eq!(
            budget.observe(headers(0)),
            Some(Duration::from_millis(60_250))
        );
    }

    #[tokio::test]
    async fn a_pause_holds_requests_until_the_reset_on_the_timer() {
        let (budget, timer) = budget(600, 0.5);
        budget.pause_until_reset(42);
        budget.acquire().await;
        assert_eq!(timer.now(), START + Duration::from_millis(42_250));
        // A skewed reset far ahead waits a window at most.
        budget.pause_until_reset(3600);
        budget.acquire().await;
        assert_eq!(timer.now(), START + Duration::from_millis(42_250 + 61_250));
    }

    #[tokio::test]
    async fn requests_leave_at_the_shared_pace_after_a_small_burst() {
        // 600 a minute at half share: one every 200 ms, bursts of 15.
        let (budget, timer) = budget(600, 0.5);
        for _ in 0..15 {
            budget.acquire().await;
        }
        assert_eq!(timer.now(), START, "the burst leaves at once");
        for _ in 0..300 {
            budget.acquire().await;
        }
        // Then one every 200 ms: 315 requests in the first minute, the pace plus the burst.
        assert_eq!(timer.now(), START + Duration::from_secs(60));
    }
}
