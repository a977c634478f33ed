//! The simulator's clock: wall time, sped up.
//!
//! Rate-limit windows and access-token lifetimes run on simulated time, which starts at the
//! wall clock and advances `time_scale` times faster (and jumps forward on request), so a
//! test can exhaust a bucket and see it reset without waiting a minute. Client assertions
//! are checked against the wall clock instead: the client signs them with its own, real
//! clock, and a sped-up server clock would call every fresh assertion stale.

use std::sync::Mutex;
use std::time::Instant;

use time::{Duration, OffsetDateTime};

/// Simulated time.
#[derive(Debug)]
pub struct SimClock {
    origin: OffsetDateTime,
    started: Instant,
    scale: f64,
    offset: Mutex<Duration>,
}

impl SimClock {
    /// A clock that starts now and runs `scale` times faster than the wall clock.
    pub fn new(scale: f64) -> Self {
        SimClock {
            origin: OffsetDateTime::now_utc(),
            started: Instant::now(),
            scale: if scale.is_finite() && scale > 0.0 {
                scale
            } else {
                1.0
            },
            offset: Mutex::new(Duration::ZERO),
        }
    }

    /// How much faster than the wall clock it runs.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Simulated now.
    pub fn now(&self) -> OffsetDateTime {
        let elapsed = self.started.elapsed().as_secs_f64() * self.scale;
        self.origin + Duration::seconds_f64(elapsed) + self.offset()
    }

    /// Real now, for checks against the client's clock.
    pub fn wall_now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    /// Jump simulated time forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut offset = self
            .offset
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *offset += by;
    }

    /// Simulated seconds as real seconds.
    pub fn to_real_seconds(&self, simulated: f64) -> f64 {
        simulated / self.scale
    }

    fn offset(&self) -> Duration {
        *self
            .offset
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl butterfly_core::Clock for SimClock {
    fn now(&self) -> OffsetDateTime {
        SimClock::now(self)
    }
}

/// `Date` header format (RFC 9110 IMF-fixdate): `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn http_date(at: OffsetDateTime) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[usize::from(at.weekday().number_days_from_monday())],
        at.day(),
        MONTHS[usize::from(u8::from(at.month()) - 1)],
        at.year(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_fast_and_jumps() {
        let clock = SimClock::new(1000.0);
        let a = clock.now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = clock.now();
        assert!(b - a >= Duration::seconds(15), "{}", b - a);
        clock.advance(Duration::hours(1));
        assert!(clock.now() - b >= Duration::hours(1));
        assert!((clock.wall_now() - a).abs() < Duration::seconds(5));
    }

    #[test]
    fn formats_http_dates() {
        let at = OffsetDateTime::from_unix_timestamp(784_111_777).unwrap();
        assert_eq!(http_date(at), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
