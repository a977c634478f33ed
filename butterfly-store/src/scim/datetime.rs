//! RFC 3339 timestamps compared chronologically in SQL, to the nanosecond, exactly as the
//! evaluator compares them after `butterfly_core::rfc3339::parse(_)`.
//!
//! Neither database's own timestamp parser reads the same language as `butterfly_core::rfc3339`
//! (SQLite's keeps milliseconds and rejects leap seconds; PostgreSQL's rejects offsets
//! beyond ±15:59 and year 0, and raises an error on bad input rather than answering
//! "no"). So the text is checked and converted with integer arithmetic that both
//! databases evaluate alike:
//!
//! - **valid**: the shape (a dialect pattern), then month, day of month (leap years
//!   included), hour, minute, second, offset hour (at most 23) and minute, and a second
//!   of 60 only where the parser accepts one (23:59:60 UTC on a month's last day);
//! - **key**: seconds since `0000-01-01T00:00:00+23:59` (so never negative), zero-padded
//!   to 13 digits, followed by the nanoseconds as 9 digits (the first 9 fraction digits,
//!   or 999999999 for a leap second, as the parser reads it). Two valid timestamps compare as
//!   their keys do, as text.
//!
//! Every cast runs behind `CASE WHEN <shape>`, so no text can make the query fail.

use chrono::{DateTime, Utc};

use super::dialect::JsonDialect;

/// Shifts Unix seconds so the earliest RFC 3339 instant is not negative: 719 529 days,
/// from 0000-01-01 to 1970-01-01 plus one day for the largest offset.
const EPOCH_SHIFT_SECONDS: i64 = 719_529 * 86_400;

/// The sortable key of an instant, as [`key_sql`] computes it for a stored timestamp.
pub(crate) fn key(t: DateTime<Utc>) -> String {
    format!(
        "{:013}{:09}",
        t.timestamp() + EPOCH_SHIFT_SECONDS,
        chrono::Timelike::nanosecond(&t)
    )
}

/// Nanoseconds since the Unix epoch, exactly (chrono's own `timestamp_nanos_opt` gives
/// up outside about 1677–2262).
pub(crate) fn unix_nanos(t: DateTime<Utc>) -> i128 {
    i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos())
}

fn int(expr: &str) -> String {
    format!("CAST({expr} AS BIGINT)")
}

/// The pieces of a timestamp text `s`, as SQL integer expressions. Only meaningful once
/// the shape is checked.
struct Parts {
    year: String,
    month: String,
    day: String,
    hour: String,
    minute: String,
    second: String,
    zulu: String,
    offset_hour: String,
    offset_minute: String,
    /// The offset in minutes, signed.
    offset: String,
    /// Days in the month.
    month_days: String,
}

impl Parts {
    fn of(s: &str) -> Parts {
        let year = int(&format!("substr({s}, 1, 4)"));
        let month = int(&format!("substr({s}, 6, 2)"));
        let zulu = format!("(substr({s}, length({s}), 1) IN ('Z', 'z'))");
        let offset_hour = int(&format!("substr({s}, length({s}) - 4, 2)"));
        let offset_minute = int(&format!("substr({s}, length({s}) - 1, 2)"));
        let offset = format!(
            "(CASE WHEN {zulu} THEN 0 WHEN substr({s}, length({s}) - 5, 1) = '-' \
             THEN -({offset_hour} * 60 + {offset_minute}) ELSE {offset_hour} * 60 + {offset_minute} END)"
        );
        let month_days = format!(
            "(CASE {month} WHEN 2 THEN (CASE WHEN {year} % 4 = 0 AND ({year} % 100 <> 0 OR {year} % 400 = 0) \
             THEN 29 ELSE 28 END) WHEN 4 THEN 30 WHEN 6 THEN 30 WHEN 9 THEN 30 WHEN 11 THEN 30 ELSE 31 END)"
        );
        Parts {
            day: int(&format!("substr({s}, 9, 2)")),
            hour: int(&format!("substr({s}, 12, 2)")),
            minute: int(&format!("substr({s}, 15, 2)")),
            second: int(&format!("substr({s}, 18, 2)")),
            year,
            month,
            zulu,
            offset_hour,
            offset_minute,
            offset,
            month_days,
        }
    }
}

/// Whether the text `s` is a timestamp `butterfly_core::rfc3339::parse` accepts.
/// Two-valued.
pub(crate) fn valid_sql(dialect: &dyn JsonDialect, s: &str) -> String {
    let Parts {
        month,
        day,
        hour,
        minute,
        second,
        zulu,
        offset_hour,
        offset_minute,
        offset,
        month_days,
        ..
    } = Parts::of(s);
    let shape = dialect.timestamp_shape(s);
    // A leap second must fall on 23:59 UTC of a month's last day. An offset moves the
    // UTC minute by less than a day, so that is 23:59 local-minus-offset on the last day,
    // or -00:01 (23:59 the day before) on the first.
    let utc_minute = format!("({hour} * 60 + {minute} - {offset})");
    format!(
        "(CASE WHEN {shape} THEN ({month} BETWEEN 1 AND 12 AND {day} BETWEEN 1 AND {month_days} \
         AND {hour} <= 23 AND {minute} <= 59 AND ({zulu} OR ({offset_hour} <= 23 AND {offset_minute} <= 59)) \
         AND ({second} <= 59 OR ({second} = 60 AND (({utc_minute} = 1439 AND {day} = {month_days}) \
         OR ({utc_minute} = -1 AND {day} = 1))))) ELSE 1 = 0 END)"
    )
}

/// The sortable key of a valid timestamp text `s` (see the module docs).
pub(crate) fn key_sql(dialect: &dyn JsonDialect, s: &str) -> String {
    let Parts {
        year,
        month,
        day,
        hour,
        minute,
        second,
        zulu,
        offset,
        ..
    } = Parts::of(s);
    // Days from the civil date (H. Hinnant's algorithm), on years shifted by 400 so every
    // division is of non-negative numbers, where truncation is floor on both databases.
    let y = format!("({year} + 400 - (CASE WHEN {month} <= 2 THEN 1 ELSE 0 END))");
    let era = format!("({y} / 400)");
    let year_of_era = format!("({y} % 400)");
    let month_from_march = format!("(({month} + 9) % 12)");
    let day_of_year = format!("((153 * {month_from_march} + 2) / 5 + {day} - 1)");
    let day_of_era =
        format!("({year_of_era} * 365 + {year_of_era} / 4 - {year_of_era} / 100 + {day_of_year})");
    // era * 146097 + day_of_era is days since 0000-03-01 of year -400; 146036 moves that
    // to days since 1969-12-31 shifted by EPOCH_SHIFT_SECONDS.
    let days = format!("({era} * 146097 + {day_of_era} - 146036)");
    let seconds = format!(
        "({days} * 86400 + {hour} * 3600 + {minute} * 60 + (CASE WHEN {second} = 60 THEN 59 ELSE {second} END) - {offset} * 60)"
    );
    let fraction = format!(
        "(CASE WHEN {second} = 60 THEN '999999999' WHEN substr({s}, 20, 1) = '.' THEN \
         substr(substr({s}, 21, length({s}) - 20 - (CASE WHEN {zulu} THEN 1 ELSE 6 END)) || '000000000', 1, 9) \
         ELSE '000000000' END)"
    );
    format!("({} || {fraction})", dialect.zero_pad13(&seconds))
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn keys_order_like_instants() {
        let parse = |s: &str| butterfly_core::rfc3339::parse(s).unwrap();
        let earliest = parse("0000-01-01T00:00:00+23:59");
        assert_eq!(key(earliest), "0000000000060000000000");
        assert_eq!(
            key(parse("1970-01-01T00:00:00Z")),
            format!("{EPOCH_SHIFT_SECONDS:013}000000000")
        );
        let latest = parse("9999-12-31T23:59:59.999999999-23:59");
        assert_eq!(key(latest).len(), 22);
        let mut samples = [
            "2011-05-13T04:42:34Z",
            "2011-05-13T06:42:34.000000001+02:00",
            "2011-05-13T04:42:33.999999999Z",
            "1999-12-31T23:59:60Z",
            "2000-01-01T00:00:00Z",
        ]
        .map(parse);
        samples.sort();
        let keys: Vec<String> = samples.iter().map(|t| key(*t)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }
}
