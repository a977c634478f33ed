//! Graph's identity-and-access throttling budget: resource units per 10 seconds, per app
//! and tenant.
//!
//! Graph does not say how much of the window is left (no `X-Rate-Limit-Remaining`), so the
//! budget paces on its own: a request costing `c` units leaves `c / rate` seconds after
//! the one before it, where `rate` is the tenant's units per second times the share the
//! backup may use, with a burst of one second's worth to catch up after a slow response.
//! A `429` or `503` pauses every request until its `Retry-After`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::Timer;

/// The window Graph counts resource units over.
pub const WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct State {
    /// When the next unit is due at the even pace.
    next_due: Option<DateTime<Utc>>,
    /// No request leaves before this.
    paused_until: Option<DateTime<Utc>>,
}

/// The budget of one app in one tenant.
#[derive(Debug)]
pub(crate) struct UnitBudget {
    /// Seconds per resource unit.
    per_unit: f64,
    /// How far ahead of the pace a request may leave.
    tolerance: Duration,
    timer: Arc<dyn Timer>,
    state: Mutex<State>,
    /// One request waits for its slot at a time (see the Okta budget: a virtual clock
    /// then sees one wait instead of a queue).
    turn: tokio::sync::Mutex<()>,
}

impl UnitBudget {
    /// A budget of `share` of `units_per_window` every [`WINDOW`].
    pub fn new(units_per_window: u32, share: f64, timer: Arc<dyn Timer>) -> Self {
        let per_second = (f64::from(units_per_window) * share / WINDOW.as_secs_f64()).max(0.1);
        UnitBudget {
            per_unit: 1.0 / per_second,
            tolerance: Duration::from_secs(1),
            timer,
            state: Mutex::new(State {
                next_due: None,
                paused_until: None,
            }),
            turn: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wait until a request costing `units` may leave.
    pub async fn acquire(&self, units: u32) {
        let _turn = self.turn.lock().await;
        loop {
            let paused = self.lock().paused_until;
            match paused {
                Some(until) if until > self.timer.now() => self.timer.sleep_until(until).await,
                _ => break,
            }
        }
        let leaves = {
            let now = self.timer.now();
            let mut state = self.lock();
            let due = state.next_due.unwrap_or(now);
            let leaves = now.max(due - self.tolerance);
            let cost = Duration::from_secs_f64(self.per_unit * f64::from(units.max(1)));
            state.next_due = Some(due.max(leaves) + cost);
            leaves
        };
        self.timer.sleep_until(leaves).await;
    }

    /// Pause every request for `wait` (a `Retry-After`).
    pub fn pause(&self, wait: Duration) {
        let until = self.timer.now() + wait;
        let mut state = self.lock();
        if state.paused_until.is_none_or(|p| p < until) {
            state.paused_until = Some(until);
        }
        // After the pause, the pace starts afresh rather than bursting to catch up.
        state.next_due = Some(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::VirtualTimer;

    const START: DateTime<Utc> = DateTime::from_timestamp_nanos(1_767_225_600_000_000_000);

    #[tokio::test]
    async fn units_are_spent_at_the_shared_rate() {
        let timer = Arc::new(VirtualTimer::new(START));
        // 8,000 units per 10 s at half share: 400 units a second.
        let budget = UnitBudget::new(8000, 0.5, timer.clone());
        // A second's worth leaves at once (the burst), then 400 units a second.
        for _ in 0..200 {
            budget.acquire(2).await;
        }
        assert_eq!(timer.now(), START);
        for _ in 0..400 {
            budget.acquire(2).await;
        }
        let elapsed = (timer.now() - START).as_seconds_f64();
        assert!((elapsed - 2.0).abs() < 0.01, "{elapsed}");
    }

    #[tokio::test]
    async fn retry_after_pauses_everyone() {
        let timer = Arc::new(VirtualTimer::new(START));
        let budget = UnitBudget::new(8000, 1.0, timer.clone());
        budget.pause(Duration::from_secs(7));
        budget.acquire(1).await;
        assert_eq!(timer.now(), START + Duration::from_secs(7));
    }
}
