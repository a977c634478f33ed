//! Graph's identity-and-access throttling: resource units per 10 s per app and tenant, and
//! the write quota, on fixed windows of simulated time.
//!
//! The budget depends on the tenant's size (Graph's documented tiers): 3,500 units per
//! 10 s under 50 users, 5,000 up to 500 users, 8,000 above. Each request costs
//! [`request_cost`](crate::entra::kinds::request_cost) units; a request that does not fit
//! what is left of the window is refused with `429` and `Retry-After` (the seconds until
//! the window ends). Writes also count against 3,000 per 150 s.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// Graph's resource-unit budget per 10 s for a tenant of `users` users.
pub fn resource_unit_budget(users: usize) -> u32 {
    match users {
        0..50 => 3_500,
        50..=500 => 5_000,
        _ => 8_000,
    }
}

/// The window lengths, in seconds.
pub(crate) const UNIT_WINDOW: i64 = 10;
pub(crate) const WRITE_WINDOW: i64 = 150;

/// Whether a request may go on, and when to come back if not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Admitted; the unit window is this many thousandths used, this request included.
    Allowed(u32),
    /// Refused: retry after this many seconds, for this reason (Graph's
    /// `x-ms-throttle-information`).
    Throttled(i64, &'static str),
}

#[derive(Debug, Default)]
struct Windows {
    unit_window: i64,
    units: u64,
    write_window: i64,
    writes: u64,
    /// Units charged over the simulator's life (admitted requests only).
    total_units: u64,
    throttled: u64,
}

#[derive(Debug)]
pub(crate) struct Limiter {
    pub units_per_window: u32,
    pub writes_per_window: u32,
    windows: Mutex<Windows>,
}

impl Limiter {
    pub fn new(units_per_window: u32, writes_per_window: u32) -> Self {
        Limiter {
            units_per_window,
            writes_per_window,
            windows: Mutex::new(Windows::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Windows> {
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Charge a request of `cost` units (a write if `write`) at `now`.
    pub fn admit(&self, cost: u32, write: bool, now: DateTime<Utc>) -> Admission {
        let t = now.timestamp();
        let unit_window = t.div_euclid(UNIT_WINDOW) * UNIT_WINDOW;
        let write_window = t.div_euclid(WRITE_WINDOW) * WRITE_WINDOW;
        let mut w = self.lock();
        if w.unit_window != unit_window {
            w.unit_window = unit_window;
            w.units = 0;
        }
        if w.write_window != write_window {
            w.write_window = write_window;
            w.writes = 0;
        }
        if w.units + u64::from(cost) > u64::from(self.units_per_window) {
            w.throttled += 1;
            return Admission::Throttled(
                (unit_window + UNIT_WINDOW - t).max(1),
                "ResourceUnitLimitExceeded",
            );
        }
        if write && w.writes >= u64::from(self.writes_per_window) {
            w.throttled += 1;
            return Admission::Throttled(
                (write_window + WRITE_WINDOW - t).max(1),
                "WriteLimitExceeded",
            );
        }
        w.units += u64::from(cost);
        w.total_units += u64::from(cost);
        if write {
            w.writes += 1;
        }
        let permille = w.units * 1000 / u64::from(self.units_per_window.max(1));
        Admission::Allowed(u32::try_from(permille).unwrap_or(u32::MAX))
    }

    /// Units charged so far, and requests throttled.
    pub fn totals(&self) -> (u64, u64) {
        let w = self.lock();
        (w.total_units, w.throttled)
    }

    /// Forget the totals (not the windows).
    pub fn reset_totals(&self) {
        let mut w = self.lock();
        w.total_units = 0;
        w.throttled = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_fills_and_the_next_one_is_fresh() {
        let limiter = Limiter::new(10, 2);
        let t0 = DateTime::from_timestamp(1_700_000_003, 0).unwrap();
        assert_eq!(limiter.admit(6, false, t0), Admission::Allowed(600));
        assert_eq!(limiter.admit(4, false, t0), Admission::Allowed(1000));
        assert_eq!(
            limiter.admit(1, false, t0),
            Admission::Throttled(7, "ResourceUnitLimitExceeded")
        );
        let t1 = DateTime::from_timestamp(1_700_000_010, 0).unwrap();
        assert_eq!(limiter.admit(1, true, t1), Admission::Allowed(100));
        assert_eq!(limiter.admit(1, true, t1), Admission::Allowed(200));
        // The write quota runs on 150 s windows.
        assert_eq!(
            limiter.admit(1, true, t1),
            Admission::Throttled(90, "WriteLimitExceeded")
        );
        assert_eq!(limiter.totals(), (12, 2));
        assert_eq!(resource_unit_budget(10), 3_500);
        assert_eq!(resource_unit_budget(500), 5_000);
        assert_eq!(resource_unit_budget(501), 8_000);
    }
}
