//! RFC 3339 timestamps on the wire, for [`chrono::DateTime<Utc>`].
//!
//! Every datetime Butterfly writes (snapshot manifests, API and SCIM bodies) goes through
//! [`format()`], which writes exactly what the `time` crate's `Rfc3339` wrote before we moved
//! to chrono, so stored snapshots and API output stay byte-identical: always UTC with `Z`,
//! whole seconds without a fraction, otherwise the fraction with its trailing zeros trimmed
//! (`…:05.1Z`, `…:05.123456789Z`). chrono's own `to_rfc3339_opts` pads fractions to 3, 6
//! or 9 digits, which would change the bytes.
//!
//! Use it with serde as `#[serde(with = "butterfly_core::rfc3339")]`, or
//! `butterfly_core::rfc3339::option` for an `Option<DateTime<Utc>>`.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// Why a timestamp could not be written or read as RFC 3339.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Rfc3339Error {
    /// RFC 3339 has four-digit years only.
    #[error("year {year} cannot be written in RFC 3339 (years 0 to 9999 only)")]
    YearOutOfRange {
        /// The year that did not fit.
        year: i32,
    },
    /// The text is not an RFC 3339 timestamp.
    #[error("not an RFC 3339 timestamp")]
    Invalid,
}

/// `at` as RFC 3339 in UTC, e.g. `2026-01-01T00:00:05.25Z`.
pub fn format(at: &DateTime<Utc>) -> Result<String, Rfc3339Error> {
    let year = at.year();
    if !(0..10_000).contains(&year) {
        return Err(Rfc3339Error::YearOutOfRange { year });
    }
    // chrono keeps a leap second as nanoseconds past 1e9 in second 59; RFC 3339 spells it 60.
    let (leap, nanos) = (
        at.nanosecond() / 1_000_000_000,
        at.nanosecond() % 1_000_000_000,
    );
    let mut out = String::with_capacity(30);
    // Writing into a String cannot fail.
    let _ = write!(
        out,
        "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second() + leap
    );
    if nanos != 0 {
        let digits = format!("{nanos:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
    Ok(out)
}

/// Reads an RFC 3339 timestamp with any offset, converted to UTC.
///
/// The language is exactly the one the `time` crate's parser read before the move to
/// chrono, because the SQL SCIM store mirrors it in SQL (butterfly-store's
/// `scim::datetime`) and must keep agreeing with the in-memory evaluator:
/// `YYYY-MM-DD`, any one ASCII byte, `hh:mm:ss`, an optional `.` and one or more digits
/// (the first nine count), then `Z`, `z` or `+hh:mm` / `-hh:mm` (hours to 23). A second
/// of 60 is accepted only at 23:59 UTC on a month's last day and reads as
/// 23:59:59.999999999. chrono's `parse_from_rfc3339` reads a slightly different language.
pub fn parse(text: &str) -> Result<DateTime<Utc>, Rfc3339Error> {
    parse_bytes(text.as_bytes()).ok_or(Rfc3339Error::Invalid)
}

fn digits(bytes: &[u8], at: usize, count: usize) -> Option<u32> {
    bytes
        .get(at..at + count)?
        .iter()
        .try_fold(0_u32, |value, &b| {
            b.is_ascii_digit().then(|| value * 10 + u32::from(b - b'0'))
        })
}

fn byte_is(bytes: &[u8], at: usize, expected: u8) -> Option<()> {
    (bytes.get(at) == Some(&expected)).then_some(())
}

fn parse_bytes(b: &[u8]) -> Option<DateTime<Utc>> {
    let year = i32::try_from(digits(b, 0, 4)?).ok()?;
    byte_is(b, 4, b'-')?;
    let month = digits(b, 5, 2)?;
    byte_is(b, 7, b'-')?;
    let day = digits(b, 8, 2)?;
    if !b.get(10)?.is_ascii() {
        return None;
    }
    let hour = digits(b, 11, 2)?;
    byte_is(b, 13, b':')?;
    let minute = digits(b, 14, 2)?;
    byte_is(b, 16, b':')?;
    let mut second = digits(b, 17, 2)?;
    let mut at = 19;
    let mut nanos = 0;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        if at == start {
            return None;
        }
        for place in 0..9 {
            let digit = b.get(start + place).filter(|_| start + place < at);
            nanos = nanos * 10 + digit.map_or(0, |d| u32::from(d - b'0'));
        }
    }
    let offset_minutes: i64 = match b.get(at)? {
        b'Z' | b'z' => {
            at += 1;
            0
        }
        sign @ (b'+' | b'-') => {
            let hours = digits(b, at + 1, 2)?;
            byte_is(b, at + 3, b':')?;
            let minutes = digits(b, at + 4, 2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            at += 6;
            let magnitude = i64::from(hours * 60 + minutes);
            if *sign == b'-' { -magnitude } else { magnitude }
        }
        _ => return None,
    };
    if at != b.len() || hour > 23 || minute > 59 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    if second == 60 {
        let last_day = date.succ_opt().is_none_or(|next| next.month() != month);
        let utc_minute = i64::from(hour * 60 + minute) - offset_minutes;
        if !((utc_minute == 1439 && last_day) || (utc_minute == -1 && day == 1)) {
            return None;
        }
        second = 59;
        nanos = 999_999_999;
    }
    let local = date.and_hms_nano_opt(hour, minute, second, nanos)?;
    local
        .checked_sub_signed(TimeDelta::minutes(offset_minutes))
        .map(|utc| utc.and_utc())
}

/// Serde: writes [`format()`]'s text.
pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let text = format(at).map_err(serde::ser::Error::custom)?;
    serializer.serialize_str(&text)
}

/// Serde: reads what [`parse`] reads.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// The same for `Option<DateTime<Utc>>`: `None` is `null`.
pub mod option {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serde: `null` or [`super::format()`]'s text.
    #[allow(clippy::ref_option)] // serde's `with` passes `&Option<T>`.
    pub fn serialize<S: Serializer>(
        at: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => super::serialize(at, serializer),
            None => serializer.serialize_none(),
        }
    }

    /// Serde: `null` or what [`super::parse`] reads.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        let text = Option::<std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.map(|text| super::parse(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::format_description::well_known::Rfc3339;

    fn old(unix_nanos: i128) -> String {
        time::OffsetDateTime::from_unix_timestamp_nanos(unix_nanos)
            .unwrap()
            .format(&Rfc3339)
            .unwrap()
    }

    fn new(unix_nanos: i128) -> String {
        let secs = i64::try_from(unix_nanos.div_euclid(1_000_000_000)).unwrap();
        let nanos = u32::try_from(unix_nanos.rem_euclid(1_000_000_000)).unwrap();
        format(&DateTime::from_timestamp(secs, nanos).unwrap()).unwrap()
    }

    #[test]
    fn formats_exactly_as_time_did() {
        for unix_nanos in [
            0,                             // the epoch, whole seconds
            1_767_225_605_000_000_000,     // whole seconds
            1_767_225_605_100_000_000,     // one fractional digit
            1_767_225_605_250_000_000,     // milliseconds with a trailing zero
            1_767_225_605_123_000_000,     // milliseconds
            1_767_225_605_123_456_000,     // microseconds
            1_767_225_605_123_456_789,     // nanoseconds
            1_767_225_605_000_000_001,     // one nanosecond
            -1,                            // just before the epoch
            -86_400_000_000_000 * 365 * 5, // the 1960s
            253_402_300_799_999_999_999,   // the last instant of year 9999
        ] {
            assert_eq!(new(unix_nanos), old(unix_nanos), "{unix_nanos}");
        }
    }

    #[test]
    fn parses_what_it_writes_and_other_offsets() {
        let at = DateTime::from_timestamp_nanos(1_767_225_605_123_456_789);
        assert_eq!(parse(&format(&at).unwrap()).unwrap(), at);
        assert_eq!(
            parse("2026-01-01T02:00:05.123456789+02:00").unwrap(),
            parse("2026-01-01T00:00:05.123456789Z").unwrap()
        );
        assert!(matches!(parse("2026-01-01"), Err(Rfc3339Error::Invalid)));
    }

    #[test]
    fn parses_exactly_what_time_parsed() {
        for text in [
            "2026-01-01T00:00:05Z",
            "2026-01-01t00:00:05z",
            "2026-01-01 00:00:05Z",
            "2026-01-01x00:00:05Z",
            "2026-01-01T00:00:05.1234567891234Z",
            "2026-01-01T00:00:05.Z",
            "2026-01-01T00:00:05.5+05:30",
            "2026-01-01T00:00:05-23:59",
            "2026-01-01T00:00:05+24:00",
            "2026-01-01T00:00:05+05:60",
            "2026-01-01T00:00:05",
            "2026-01-01T00:00:05ZZ",
            "2026-02-29T00:00:00Z",
            "2024-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T23:60:00Z",
            "2026-12-31T23:59:60Z",
            "2026-12-31T23:59:60.5Z",
            "2026-06-30T23:59:60Z",
            "2026-06-29T23:59:60Z",
            "2026-12-31T22:59:60Z",
            "2027-01-01T00:59:60+01:00",
            "2026-12-31T22:59:60-01:00",
            "2027-01-01T00:00:60+00:01",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "+2026-01-01T00:00:00Z",
            "26-01-01T00:00:00Z",
            "2026-01-01T00:00:00+0100",
        ] {
            let old = time::OffsetDateTime::parse(text, &Rfc3339)
                .ok()
                .map(time::OffsetDateTime::unix_timestamp_nanos);
            let new = parse(text).ok().map(|t| {
                i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos())
            });
            assert_eq!(new, old, "{text}");
        }
    }

    #[test]
    fn years_past_9999_are_an_error_not_garbage() {
        let at = DateTime::from_timestamp(253_402_300_800, 0).unwrap();
        assert!(matches!(
            format(&at),
            Err(Rfc3339Error::YearOutOfRange { year: 10_000 })
        ));
    }

    #[test]
    fn serde_round_trips_with_and_without_a_value() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Body {
            #[serde(with = "super")]
            at: DateTime<Utc>,
            #[serde(with = "super::option")]
            until: Option<DateTime<Utc>>,
        }
        let body = Body {
            at: DateTime::from_timestamp(1_767_225_605, 500_000_000).unwrap(),
            until: None,
        };
        let json = serde_json::to_string(&body).unwrap();
        assert_eq!(json, r#"{"at":"2026-01-01T00:00:05.5Z","until":null}"#);
        assert_eq!(serde_json::from_str::<Body>(&json).unwrap(), body);
    }
}
