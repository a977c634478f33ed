//! The simulator's clock: an injected [`Timer`], and jumps on request.
//!
//! Rate-limit windows and access-token lifetimes run on the timer the simulator was given
//! ([`SimulatorConfig::timer`](super::SimulatorConfig::timer)). A test hands the same
//! [`VirtualTimer`](crate::clock::VirtualTimer) to the simulator and to the fetcher, so a
//! window the server closes is the window the client waits out, at no cost in real time.
//! [`ScaledTimer`] runs faster than the wall clock, for demos of the standalone binary.
//!
//! Client assertions are checked against the wall clock instead: the client signs them
//! with its own, real clock, and a simulated clock would call fresh assertions stale.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use crate::clock::Timer;

/// Simulated time: the injected timer, plus any jump asked for at `/__sim/clock`.
#[derive(Debug)]
pub struct SimClock {
    timer: Arc<dyn Timer>,
    offset: Mutex<TimeDelta>,
}

impl SimClock {
    /// Simulated time read from `timer`.
    pub fn new(timer: Arc<dyn Timer>) -> Self {
        SimClock {
            timer,
            offset: Mutex::new(TimeDelta::zero()),
        }
    }

    /// Simulated now.
    pub fn now(&self) -> DateTime<Utc> {
        self.timer.now() + self.offset()
    }

    /// Real now, for checks against the client's clock.
    pub fn wall_now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// Jump simulated time forward (or back, with a negative duration). Only the
    /// simulator sees the jump; with a shared virtual timer, advance the timer instead.
    pub fn advance(&self, by: TimeDelta) {
        let mut offset = self
            .offset
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *offset += by;
    }

    fn offset(&self) -> TimeDelta {
        *self
            .offset
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl butterfly_core::Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        SimClock::now(self)
    }
}

/// Wall time sped up: starts at the wall clock and runs `scale` times faster, waits
/// included. For the standalone simulator (`butterfly-okta-sim --time-scale`), so tokens
/// expire and windows reset sooner in a demo; a client on real time still waits for a
/// reset in real seconds, so it only runs slower than it could, never over a limit.
#[derive(Debug)]
pub struct ScaledTimer {
    origin: DateTime<Utc>,
    started: Instant,
    scale: f64,
}

impl ScaledTimer {
    /// A timer that starts now and runs `scale` times faster than the wall clock; a
    /// scale that is not a positive number runs at real time.
    pub fn new(scale: f64) -> Self {
        ScaledTimer {
            origin: Utc::now(),
            started: Instant::now(),
            scale: if scale.is_finite() && scale > 0.0 {
                scale
            } else {
                1.0
            },
        }
    }

    /// How much faster than the wall clock it runs.
    pub fn scale(&self) -> f64 {
        self.scale
    }
}

impl butterfly_core::Clock for ScaledTimer {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.started.elapsed().as_secs_f64() * self.scale;
        self.origin + seconds_f64(elapsed)
    }
}

#[async_trait]
impl Timer for ScaledTimer {
    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        let left = (deadline - butterfly_core::Clock::now(self)).as_seconds_f64() / self.scale;
        if left > 0.0 {
            tokio::time::sleep(std::time::Duration::from_secs_f64(left)).await;
        }
    }
}

/// `Date` header format (RFC 9110 IMF-fixdate): `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn http_date(at: DateTime<Utc>) -> String {
    // chrono's %a and %b are the English abbreviations HTTP wants, whatever the locale.
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// `seconds` as a [`TimeDelta`], saturating instead of overflowing (NaN is zero).
pub(crate) fn seconds_f64(seconds: f64) -> TimeDelta {
    let magnitude = std::time::Duration::try_from_secs_f64(seconds.abs())
        .ok()
        .and_then(|d| TimeDelta::from_std(d).ok())
        .unwrap_or(if seconds.is_nan() {
            TimeDelta::zero()
        } else {
            TimeDelta::MAX
        });
    if seconds < 0.0 { -magnitude } else { magnitude }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_timer_and_jumps_on_its_own() {
        let timer = Arc::new(crate::clock::VirtualTimer::new(
            DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        ));
        let clock = SimClock::new(timer.clone());
        timer.advance(TimeDelta::minutes(5));
        assert_eq!(clock.now().timestamp(), 1_700_000_300);
        clock.advance(TimeDelta::hours(1));
        assert_eq!(clock.now().timestamp(), 1_700_003_900);
        assert_eq!(timer.now().timestamp(), 1_700_000_300);
    }

    #[test]
    fn formats_http_dates() {
        let at = DateTime::from_timestamp(784_111_777, 0).unwrap();
        assert_eq!(http_date(at), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
