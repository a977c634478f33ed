//! Backup schedules: when a connection is backed up on its own.
//!
//! A [`ScheduleSpec`] is what a user writes (and what the server stores): a preset
//! ([`Frequency::Hourly`] on the hour, [`Frequency::Every6Hours`], [`Frequency::Daily`]
//! at a time, [`Frequency::Weekly`] on a day at a time) or a five-field cron expression,
//! each in an IANA time zone. [`Schedule::new`] checks it and compiles it to one cron
//! pattern; [`Schedule::next_after`] gives the next run as a UTC instant.
//!
//! Daylight saving time follows the Open Cron Pattern Specification, as implemented by
//! `croner`: a run at a fixed wall-clock time that falls in a spring-forward gap happens
//! once, at the first instant after the gap; one that falls in a fall-back overlap
//! happens once, at its first occurrence. So a daily 02:30 in `Europe/Berlin` runs
//! exactly once on both transition days (at 03:00 CEST in March, at 02:30 CEST in
//! October). Hourly schedules follow real time: every hour on the hour, including both
//! passes of a repeated hour.
//!
//! ```
//! use butterfly_core::schedule::{Frequency, Schedule, ScheduleSpec};
//! use chrono::{TimeZone, Utc};
//!
//! let spec = ScheduleSpec::daily("02:30", "Europe/Berlin");
//! let schedule = Schedule::new(&spec)?;
//! assert_eq!(schedule.describe(), "daily at 02:30 (Europe/Berlin)");
//! // 29 March 2026: clocks jump from 02:00 to 03:00; the run happens at 03:00 CEST.
//! let before = Utc.with_ymd_and_hms(2026, 3, 28, 12, 0, 0).unwrap();
//! let next = schedule.next_after(before)?;
//! assert_eq!(next, Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap());
//! # Ok::<(), butterfly_core::schedule::ScheduleError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc, Weekday};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a schedule is refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScheduleError {
    /// A field the frequency needs is missing.
    #[error("a {frequency} schedule needs `{field}`")]
    Missing {
        /// The frequency.
        frequency: Frequency,
        /// The missing field.
        field: &'static str,
    },
    /// A field the frequency does not take was given.
    #[error("a {frequency} schedule takes no `{field}`")]
    Unexpected {
        /// The frequency.
        frequency: Frequency,
        /// The extra field.
        field: &'static str,
    },
    /// `at` is not a time of day.
    #[error("`{0}` is not a time of day: expected HH:MM, 00:00 to 23:59")]
    Time(String),
    /// `day` is not a day of the week.
    #[error("`{0}` is not a day of the week: expected monday to sunday (or mon to sun)")]
    Day(String),
    /// `time_zone` is not an IANA time zone name.
    #[error("`{0}` is not an IANA time zone (for example UTC, Europe/Berlin, America/New_York)")]
    TimeZone(String),
    /// The cron expression does not parse.
    #[error("cron expression `{expression}` is invalid: {reason}")]
    Cron {
        /// The expression.
        expression: String,
        /// Why.
        reason: String,
    },
    /// The cron expression would run more than once an hour.
    #[error(
        "cron expression `{0}` runs more than once an hour; backups share the org's rate \
         limit, so the minute field must be one number (e.g. `15 */2 * * *`)"
    )]
    TooFrequent(String),
    /// The cron expression never matches a date (30 February).
    #[error("cron expression `{0}` never runs")]
    NeverRuns(String),
}

/// How often a schedule runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Frequency {
    /// Every hour on the hour.
    Hourly,
    /// At 00:00, 06:00, 12:00 and 18:00.
    #[serde(rename = "every_6_hours")]
    Every6Hours,
    /// Once a day at `at`.
    Daily,
    /// Once a week on `day` at `at`.
    Weekly,
    /// When the five-field cron expression `cron` matches.
    Cron,
}

impl Frequency {
    /// The name used on the wire and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Hourly => "hourly",
            Frequency::Every6Hours => "every_6_hours",
            Frequency::Daily => "daily",
            Frequency::Weekly => "weekly",
            Frequency::Cron => "cron",
        }
    }
}

impl fmt::Display for Frequency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A schedule as written by a user and stored by the server. Check it with
/// [`Schedule::new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ScheduleSpec {
    /// How often.
    pub frequency: Frequency,
    /// Daily and weekly: the local time of day, `HH:MM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Weekly: the day, `monday` to `sunday`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    /// Cron: five fields, minute hour day-of-month month day-of-week.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// The IANA time zone the times are in; default `UTC`.
    #[serde(default = "utc")]
    pub time_zone: String,
}

fn utc() -> String {
    "UTC".to_owned()
}

impl ScheduleSpec {
    /// A preset or cron schedule with nothing filled in but its frequency and zone.
    pub fn new(frequency: Frequency, time_zone: impl Into<String>) -> Self {
        ScheduleSpec {
            frequency,
            at: None,
            day: None,
            cron: None,
            time_zone: time_zone.into(),
        }
    }

    /// Every day at `at` (`HH:MM`) in `time_zone`.
    pub fn daily(at: impl Into<String>, time_zone: impl Into<String>) -> Self {
        ScheduleSpec {
            at: Some(at.into()),
            ..ScheduleSpec::new(Frequency::Daily, time_zone)
        }
    }

    /// Every week on `day` at `at` in `time_zone`.
    pub fn weekly(
        day: impl Into<String>,
        at: impl Into<String>,
        time_zone: impl Into<String>,
    ) -> Self {
        ScheduleSpec {
            at: Some(at.into()),
            day: Some(day.into()),
            ..ScheduleSpec::new(Frequency::Weekly, time_zone)
        }
    }

    /// When `expression` matches, in `time_zone`.
    pub fn cron(expression: impl Into<String>, time_zone: impl Into<String>) -> Self {
        ScheduleSpec {
            cron: Some(expression.into()),
            ..ScheduleSpec::new(Frequency::Cron, time_zone)
        }
    }
}

/// A checked schedule: a cron pattern in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    spec: ScheduleSpec,
    zone: Tz,
    expression: String,
    cron: Cron,
}

impl Schedule {
    /// Check `spec` and compile it. The stored spec is normalised: the day written as a
    /// full lower-case name, the time as `HH:MM`, the zone as its canonical spelling.
    pub fn new(spec: &ScheduleSpec) -> Result<Schedule, ScheduleError> {
        let zone = parse_zone(&spec.time_zone)?;
        let frequency = spec.frequency;
        let refuse = |field: &'static str, given: bool| {
            if given {
                Err(ScheduleError::Unexpected { frequency, field })
            } else {
                Ok(())
            }
        };
        let need = |field: &'static str, value: &Option<String>| {
            value
                .clone()
                .ok_or(ScheduleError::Missing { frequency, field })
        };
        let mut normal = ScheduleSpec::new(frequency, zone.name());
        let expression = match frequency {
            Frequency::Hourly | Frequency::Every6Hours => {
                refuse("at", spec.at.is_some())?;
                refuse("day", spec.day.is_some())?;
                refuse("cron", spec.cron.is_some())?;
                if frequency == Frequency::Hourly {
                    "0 * * * *".to_owned()
                } else {
                    "0 */6 * * *".to_owned()
                }
            }
            Frequency::Daily => {
                refuse("day", spec.day.is_some())?;
                refuse("cron", spec.cron.is_some())?;
                let (hour, minute) = parse_time(&need("at", &spec.at)?)?;
                normal.at = Some(format!("{hour:02}:{minute:02}"));
                format!("{minute} {hour} * * *")
            }
            Frequency::Weekly => {
                refuse("cron", spec.cron.is_some())?;
                let (hour, minute) = parse_time(&need("at", &spec.at)?)?;
                let day = parse_day(&need("day", &spec.day)?)?;
                normal.at = Some(format!("{hour:02}:{minute:02}"));
                normal.day = Some(day_name(day).to_owned());
                format!("{minute} {hour} * * {}", day.num_days_from_sunday())
            }
            Frequency::Cron => {
                refuse("at", spec.at.is_some())?;
                refuse("day", spec.day.is_some())?;
                let expression = need("cron", &spec.cron)?.trim().to_owned();
                check_cron_shape(&expression)?;
                normal.cron = Some(expression.clone());
                expression
            }
        };
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(&expression)
            .map_err(|e| ScheduleError::Cron {
                expression: expression.clone(),
                reason: e.to_string(),
            })?;
        let schedule = Schedule {
            spec: normal,
            zone,
            expression,
            cron,
        };
        // A pattern that matches no date (30 February) is refused now rather than
        // failing at every tick.
        if schedule.next_after(DateTime::<Utc>::UNIX_EPOCH).is_err() {
            return Err(ScheduleError::NeverRuns(schedule.expression));
        }
        Ok(schedule)
    }

    /// The checked, normalised spec (what to store and show).
    pub fn spec(&self) -> &ScheduleSpec {
        &self.spec
    }

    /// The time zone.
    pub fn time_zone(&self) -> Tz {
        self.zone
    }

    /// The five-field cron pattern the schedule runs on, in its time zone.
    pub fn cron_expression(&self) -> &str {
        &self.expression
    }

    /// The first run strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Result<DateTime<Utc>, ScheduleError> {
        let local = after.with_timezone(&self.zone);
        self.cron
            .find_next_occurrence(&local, false)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| ScheduleError::NeverRuns(self.expression.clone()))
    }

    /// The first run at or after `at` (where a paused schedule picks up again).
    pub fn next_at_or_after(&self, at: DateTime<Utc>) -> Result<DateTime<Utc>, ScheduleError> {
        self.next_after(at - TimeDelta::milliseconds(1))
    }

    /// For people: `daily at 02:30 (Europe/Berlin)`.
    pub fn describe(&self) -> String {
        let zone = self.zone.name();
        let at = self.spec.at.as_deref().unwrap_or_default();
        match self.spec.frequency {
            Frequency::Hourly => format!("hourly, on the hour ({zone})"),
            Frequency::Every6Hours => {
                format!("every 6 hours, at 00:00, 06:00, 12:00 and 18:00 ({zone})")
            }
            Frequency::Daily => format!("daily at {at} ({zone})"),
            Frequency::Weekly => {
                let day = self.spec.day.as_deref().unwrap_or_default();
                format!("weekly on {day} at {at} ({zone})")
            }
            Frequency::Cron => format!("cron `{}` ({zone})", self.expression),
        }
    }
}

fn parse_zone(text: &str) -> Result<Tz, ScheduleError> {
    let trimmed = text.trim();
    Tz::from_str(trimmed)
        .or_else(|_| {
            // `utc`, `europe/berlin`: accepted, stored in the canonical spelling.
            chrono_tz::TZ_VARIANTS
                .iter()
                .find(|z| z.name().eq_ignore_ascii_case(trimmed))
                .copied()
                .ok_or(())
        })
        .map_err(|()| ScheduleError::TimeZone(text.to_owned()))
}

/// `HH:MM` (or `H:MM`) to (hour, minute).
fn parse_time(text: &str) -> Result<(u32, u32), ScheduleError> {
    let bad = || ScheduleError::Time(text.to_owned());
    let (hour, minute) = text.trim().split_once(':').ok_or_else(bad)?;
    let number = |s: &str, max: u32, digits: std::ops::RangeInclusive<usize>| {
        if !digits.contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<u32>().ok().filter(|n| *n <= max).ok_or_else(bad)
    };
    Ok((number(hour, 23, 1..=2)?, number(minute, 59, 2..=2)?))
}

fn parse_day(text: &str) -> Result<Weekday, ScheduleError> {
    let lower = text.trim().to_ascii_lowercase();
    [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ]
    .into_iter()
    .find(|d| lower == day_name(*d) || lower == day_name(*d)[..3])
    .ok_or_else(|| ScheduleError::Day(text.to_owned()))
}

fn day_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
        Weekday::Sun => "sunday",
    }
}

/// Five fields, and a minute field that is one number: a backup at most once an hour
/// (the org's rate limit is shared with everything else that calls it).
fn check_cron_shape(expression: &str) -> Result<(), ScheduleError> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(ScheduleError::Cron {
            expression: expression.to_owned(),
            reason: format!(
                "expected five fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            ),
        });
    }
    let minute = fields[0];
    if minute.is_empty() || !minute.bytes().all(|b| b.is_ascii_digit()) || minute.len() > 2 {
        return Err(ScheduleError::TooFrequent(expression.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone, Timelike as _};
    use proptest::prelude::*;

    use super::*;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    /// Every run in [from, to).
    fn runs(schedule: &Schedule, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut t = schedule.next_at_or_after(from).unwrap();
        while t < to {
            out.push(t);
            t = schedule.next_after(t).unwrap();
        }
        out
    }

    fn local_dates(schedule: &Schedule, runs: &[DateTime<Utc>]) -> Vec<NaiveDate> {
        runs.iter()
            .map(|t| t.with_timezone(&schedule.time_zone()).date_naive())
            .collect()
    }

    #[test]
    fn daily_0230_runs_exactly_once_on_both_transition_days_in_berlin() {
        let schedule = Schedule::new(&ScheduleSpec::daily("02:30", "Europe/Berlin")).unwrap();
        // Spring forward, 29 March 2026: 02:00 CET becomes 03:00 CEST; 02:30 does not
        // exist, so the run is at the first instant after the gap, 03:00 CEST (01:00 UTC).
        let spring = runs(&schedule, utc(2026, 3, 28, 0, 0), utc(2026, 3, 31, 0, 0));
        assert_eq!(
            spring,
            [
                utc(2026, 3, 28, 1, 30), // 02:30 CET
                utc(2026, 3, 29, 1, 0),  // 03:00 CEST, once
                utc(2026, 3, 30, 0, 30), // 02:30 CEST
            ]
        );
        // Fall back, 25 October 2026: 03:00 CEST becomes 02:00 CET; 02:30 happens twice,
        // the run happens at the first one only.
        let autumn = runs(&schedule, utc(2026, 10, 24, 0, 0), utc(2026, 10, 27, 0, 0));
        assert_eq!(
            autumn,
            [
                utc(2026, 10, 24, 0, 30), // 02:30 CEST
                utc(2026, 10, 25, 0, 30), // 02:30 CEST, the first pass only
                utc(2026, 10, 26, 1, 30), // 02:30 CET
            ]
        );
    }

    #[test]
    fn new_york_gap_and_overlap_run_once() {
        // 8 March 2026 02:00 EST -> 03:00 EDT: a daily 02:30 runs at 03:00 EDT (07:00 UTC).
        let at_0230 = Schedule::new(&ScheduleSpec::daily("02:30", "America/New_York")).unwrap();
        let spring = runs(&at_0230, utc(2026, 3, 7, 12, 0), utc(2026, 3, 9, 12, 0));
        assert_eq!(spring, [utc(2026, 3, 8, 7, 0), utc(2026, 3, 9, 6, 30)]);
        // 1 November 2026 02:00 EDT -> 01:00 EST: 01:30 happens twice, the run once.
        let at_0130 = Schedule::new(&ScheduleSpec::daily("01:30", "America/New_York")).unwrap();
        let autumn = runs(&at_0130, utc(2026, 10, 31, 12, 0), utc(2026, 11, 2, 12, 0));
        assert_eq!(autumn, [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]);
    }

    #[test]
    fn hourly_follows_real_hours_through_both_transitions() {
        let schedule =
            Schedule::new(&ScheduleSpec::new(Frequency::Hourly, "Europe/Berlin")).unwrap();
        // The spring day has 23 hours, the autumn day 25: one run per real hour.
        let spring = runs(&schedule, utc(2026, 3, 28, 23, 0), utc(2026, 3, 29, 22, 0));
        assert_eq!(spring.len(), 23);
        let autumn = runs(
            &schedule,
            utc(2026, 10, 24, 22, 0),
            utc(2026, 10, 25, 23, 0),
        );
        assert_eq!(autumn.len(), 25);
        for pair in autumn.windows(2) {
            assert_eq!(pair[1] - pair[0], TimeDelta::hours(1));
        }
    }

    #[test]
    fn presets_compile_to_their_patterns_and_describe_themselves() {
        let cases = [
            (
                ScheduleSpec::new(Frequency::Hourly, "UTC"),
                "0 * * * *",
                "hourly, on the hour (UTC)",
            ),
            (
                ScheduleSpec::new(Frequency::Every6Hours, "utc"),
                "0 */6 * * *",
                "every 6 hours, at 00:00, 06:00, 12:00 and 18:00 (UTC)",
            ),
            (
                ScheduleSpec::daily("2:05", "europe/berlin"),
                "5 2 * * *",
                "daily at 02:05 (Europe/Berlin)",
            ),
            (
                ScheduleSpec::weekly("Mon", "23:59", "America/New_York"),
                "59 23 * * 1",
                "weekly on monday at 23:59 (America/New_York)",
            ),
            (
                ScheduleSpec::cron(" 15 */2 * * 1-5 ", "Asia/Tokyo"),
                "15 */2 * * 1-5",
                "cron `15 */2 * * 1-5` (Asia/Tokyo)",
            ),
        ];
        for (spec, pattern, description) in cases {
            let schedule = Schedule::new(&spec).unwrap();
            assert_eq!(schedule.cron_expression(), pattern);
            assert_eq!(schedule.describe(), description);
        }
        let weekly = Schedule::new(&ScheduleSpec::weekly("sunday", "00:00", "UTC")).unwrap();
        // Saturday 5 December 2026 noon -> Sunday 6 December 00:00.
        assert_eq!(
            weekly.next_after(utc(2026, 12, 5, 12, 0)).unwrap(),
            utc(2026, 12, 6, 0, 0)
        );
        assert_eq!(weekly.spec().day.as_deref(), Some("sunday"));
    }

    #[test]
    fn bad_schedules_are_refused_with_the_reason() {
        let cases = [
            (ScheduleSpec::daily("24:00", "UTC"), "not a time of day"),
            (ScheduleSpec::daily("2:5", "UTC"), "not a time of day"),
            (
                ScheduleSpec::daily("02:30", "Mars/Olympus"),
                "not an IANA time zone",
            ),
            (ScheduleSpec::new(Frequency::Daily, "UTC"), "needs `at`"),
            (
                ScheduleSpec::weekly("someday", "02:00", "UTC"),
                "not a day of the week",
            ),
            (
                ScheduleSpec::cron("* * * * *", "UTC"),
                "more than once an hour",
            ),
            (
                ScheduleSpec::cron("*/5 * * * *", "UTC"),
                "more than once an hour",
            ),
            (ScheduleSpec::cron("0 0 * *", "UTC"), "expected five fields"),
            (
                ScheduleSpec::cron("0 0 0 0 0 0", "UTC"),
                "expected five fields",
            ),
            (ScheduleSpec::cron("0 25 * * *", "UTC"), "is invalid"),
            (ScheduleSpec::cron("0 0 30 2 *", "UTC"), "never runs"),
            (
                ScheduleSpec {
                    at: Some("01:00".into()),
                    ..ScheduleSpec::new(Frequency::Hourly, "UTC")
                },
                "takes no `at`",
            ),
        ];
        for (spec, expected) in cases {
            let error = Schedule::new(&spec).unwrap_err().to_string();
            assert!(error.contains(expected), "{spec:?}: {error}");
        }
    }

    #[test]
    fn the_wire_form_is_stable() {
        let spec: ScheduleSpec = serde_json::from_str(
            r#"{"frequency": "weekly", "day": "fri", "at": "18:00", "time_zone": "UTC"}"#,
        )
        .unwrap();
        let normal = Schedule::new(&spec).unwrap().spec().clone();
        assert_eq!(
            serde_json::to_string(&normal).unwrap(),
            r#"{"frequency":"weekly","at":"18:00","day":"friday","time_zone":"UTC"}"#
        );
        let every: ScheduleSpec =
            serde_json::from_str(r#"{"frequency": "every_6_hours"}"#).unwrap();
        assert_eq!(every.time_zone, "UTC");
        assert!(
            serde_json::from_str::<ScheduleSpec>(r#"{"frequency": "daily", "hour": 2}"#).is_err()
        );
    }

    const ZONES: &[&str] = &[
        "UTC",
        "Europe/Berlin",
        "Europe/London",
        "America/New_York",
        "America/Sao_Paulo",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
        "Pacific/Chatham",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// A daily schedule runs exactly once on every local calendar day, whatever the
        /// zone, the time of day and the DST transitions in between (Lord Howe shifts by
        /// half an hour, Chatham sits at +12:45).
        #[test]
        fn daily_runs_once_per_local_day(
            zone in prop::sample::select(ZONES),
            hour in 0u32..24,
            minute in 0u32..60,
            start_day in 0i64..365,
        ) {
            let at = format!("{hour:02}:{minute:02}");
            let schedule = Schedule::new(&ScheduleSpec::daily(at, zone)).unwrap();
            let from = utc(2026, 1, 1, 0, 0) + TimeDelta::days(start_day);
            let found = runs(&schedule, from, from + TimeDelta::days(120));
            let dates = local_dates(&schedule, &found);
            prop_assert!(found.len() >= 119 && found.len() <= 121, "{}", found.len());
            for pair in dates.windows(2) {
                prop_assert_eq!(pair[1] - pair[0], TimeDelta::days(1), "{:?}", dates);
            }
            for run in &found {
                let local = run.with_timezone(&schedule.time_zone());
                // At the time asked for, or (in a gap) within the hour after it.
                let asked = i64::from(hour * 60 + minute);
                let got = i64::from(local.hour() * 60 + local.minute());
                prop_assert!(got >= asked && got - asked <= 60, "{local}");
            }
        }

        /// Next runs always move forward, and the text the parser accepts round-trips.
        #[test]
        fn next_after_is_strictly_later(
            minute in 0u32..60,
            hour in prop::sample::select(&["*", "*/2", "3", "1-5", "0,12"][..]),
            dow in prop::sample::select(&["*", "1-5", "0", "sat,sun"][..]),
            zone in prop::sample::select(ZONES),
            offset in 0i64..(366 * 24 * 60),
        ) {
            let expression = format!("{minute} {hour} * * {dow}");
            let schedule = Schedule::new(&ScheduleSpec::cron(&expression, zone)).unwrap();
            let from = utc(2026, 1, 1, 0, 0) + TimeDelta::minutes(offset);
            let next = schedule.next_after(from).unwrap();
            prop_assert!(next > from);
            prop_assert!(schedule.next_after(next).unwrap() > next);
            prop_assert_eq!(schedule.next_at_or_after(next).unwrap(), next);
            let again = Schedule::new(schedule.spec()).unwrap();
            prop_assert_eq!(again.cron_expression(), expression.as_str());
        }

        /// Whatever text arrives, the parser answers with a schedule or an error, never
        /// a panic.
        #[test]
        fn any_text_is_refused_or_accepted_without_panicking(
            at in ".{0,8}",
            cron in "[0-9*/,\\- a-zA-Z#?LW]{0,24}",
            zone in ".{0,20}",
        ) {
            let _ = Schedule::new(&ScheduleSpec::daily(at, zone.clone()));
            let _ = Schedule::new(&ScheduleSpec::cron(cron, zone));
        }
    }
}
