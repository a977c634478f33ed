//! Retention: which snapshots a policy keeps, and why.
//!
//! A [`RetentionPolicy`] combines the rules restic users know from `restic forget`:
//!
//! - `keep_last`: the newest N snapshots;
//! - `keep_within`: every snapshot taken within a duration of the newest one (measured
//!   back from the newest snapshot, not from the clock, so a repository whose backups
//!   stopped is never emptied by age alone);
//! - `keep_hourly`, `keep_daily`, `keep_weekly`, `keep_monthly`, `keep_yearly`
//!   (grandfather-father-son): for the N newest hours, days, ISO weeks, months or years
//!   that have snapshots, the newest snapshot of each.
//!
//! A snapshot is kept when any rule keeps it, and forgotten otherwise; a snapshot under
//! legal hold is kept whatever the rules say. A policy with no rule keeps everything
//! (forgetting every snapshot is never what an empty policy means). Buckets are in UTC.
//!
//! [`select`] is a pure function: snapshots, policy and the current time in, one
//! [`RetentionDecision`] per snapshot out, newest first, each with its reasons.
//!
//! ```
//! use butterfly_core::retention::{RetentionCandidate, RetentionPolicy, select};
//! use butterfly_core::SnapshotId;
//! use chrono::{Duration, TimeZone, Utc};
//!
//! let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
//! // One snapshot a day for ten days.
//! let snapshots: Vec<RetentionCandidate> = (0..10)
//!     .map(|d| RetentionCandidate::new(SnapshotId::new_random(), now - Duration::days(d)))
//!     .collect();
//! let policy = RetentionPolicy { keep_last: Some(3), ..RetentionPolicy::default() };
//! let decisions = select(&snapshots, &policy, now);
//! assert_eq!(decisions.iter().filter(|d| d.keep).count(), 3);
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike as _, Duration, Timelike as _, Utc};
use serde::{Deserialize, Serialize};

use crate::SnapshotId;

/// A duration for `keep_within`, written as restic writes it: numbers with units, such as
/// `30d`, `12h`, `2w`, `1y6m` (`y` is 365 days, `m` 30 days, `w` 7 days, `d` a day, `h`
/// an hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RetentionAge {
    hours: u64,
}

impl RetentionAge {
    /// An age of `days` days.
    pub fn days(days: u32) -> Self {
        RetentionAge {
            hours: u64::from(days) * 24,
        }
    }

    /// An age of `hours` hours.
    pub fn hours(hours: u32) -> Self {
        RetentionAge {
            hours: u64::from(hours),
        }
    }

    /// The age as a duration.
    pub fn as_duration(self) -> Duration {
        // At most u32::MAX * 24 * 400 hours, far inside chrono's range (see FromStr).
        Duration::hours(i64::try_from(self.hours).unwrap_or(i64::MAX / 3_600_000))
    }
}

/// Why a retention age or policy did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RetentionError {
    /// The text is not a duration such as `30d` or `1y6m`.
    #[error("`{text}` is not a duration: {reason} (write it like 30d, 12h, 2w or 1y6m)")]
    BadAge {
        /// The text given.
        text: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// No preset has this name.
    #[error("no retention preset `{0}` (presets: small, medium, large, enterprise)")]
    UnknownPreset(String),
}

impl FromStr for RetentionAge {
    type Err = RetentionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |reason| RetentionError::BadAge {
            text: text.to_owned(),
            reason,
        };
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        let mut hours: u64 = 0;
        let mut number: Option<u64> = None;
        for c in text.chars() {
            if let Some(digit) = c.to_digit(10) {
                let n = number.unwrap_or(0);
                number = Some(
                    n.checked_mul(10)
                        .and_then(|n| n.checked_add(u64::from(digit)))
                        .filter(|n| *n <= 1_000_000)
                        .ok_or_else(|| bad("a number is too large"))?,
                );
                continue;
            }
            let per_unit = match c {
                'y' => 365 * 24,
                'm' => 30 * 24,
                'w' => 7 * 24,
                'd' => 24,
                'h' => 1,
                _ => return Err(bad("units are y, m, w, d and h")),
            };
            let n = number.take().ok_or_else(|| bad("a unit has no number"))?;
            hours = hours.saturating_add(n * per_unit);
        }
        if number.is_some() {
            return Err(bad("the last number has no unit"));
        }
        Ok(RetentionAge { hours })
    }
}

impl fmt::Display for RetentionAge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.hours.is_multiple_of(24) {
            write!(f, "{}d", self.hours / 24)
        } else {
            write!(f, "{}h", self.hours)
        }
    }
}

impl Serialize for RetentionAge {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RetentionAge {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Which snapshots to keep. Every rule is optional; see the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Keep the newest N snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    /// Keep every snapshot within this age of the newest one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_within: Option<RetentionAge>,
    /// Keep the newest snapshot of each of the N newest hours that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_hourly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest days that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the N newest ISO weeks that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest months that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest years that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_yearly: Option<u32>,
}

/// The product's retention recommendations by org size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RetentionPreset {
    /// Under 1K users: daily backups, 30 days.
    Small,
    /// 1K to 10K users: daily backups, 60 days.
    Medium,
    /// 10K to 50K users: backups every 6 hours, 90 days.
    Large,
    /// Over 50K users: 90 days of every backup, then one a month for a year
    /// (the "90+ days" the product advises for compliance).
    Enterprise,
}

impl RetentionPreset {
    /// Every preset, smallest first.
    pub const ALL: [RetentionPreset; 4] = [
        RetentionPreset::Small,
        RetentionPreset::Medium,
        RetentionPreset::Large,
        RetentionPreset::Enterprise,
    ];

    /// The preset's name, as written on the command line and in the API.
    pub fn name(self) -> &'static str {
        match self {
            RetentionPreset::Small => "small",
            RetentionPreset::Medium => "medium",
            RetentionPreset::Large => "large",
            RetentionPreset::Enterprise => "enterprise",
        }
    }

    /// The policy the preset stands for.
    pub fn policy(self) -> RetentionPolicy {
        let within = |days| RetentionPolicy {
            keep_within: Some(RetentionAge::days(days)),
            ..RetentionPolicy::default()
        };
        match self {
            RetentionPreset::Small => within(30),
            RetentionPreset::Medium => within(60),
            RetentionPreset::Large => within(90),
            RetentionPreset::Enterprise => RetentionPolicy {
                keep_monthly: Some(12),
                ..within(90)
            },
        }
    }
}

impl FromStr for RetentionPreset {
    type Err = RetentionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        RetentionPreset::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(text))
            .ok_or_else(|| RetentionError::UnknownPreset(text.to_owned()))
    }
}

impl RetentionPolicy {
    /// Whether no rule is set (such a policy keeps everything).
    pub fn is_empty(&self) -> bool {
        *self == RetentionPolicy::default()
    }
}

impl fmt::Display for RetentionPolicy {
    /// The policy as `forget` flags, e.g. `--keep-last 3 --keep-daily 7`, or `keep
    /// everything`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("keep everything");
        }
        let mut parts = Vec::new();
        let counts = [
            ("--keep-last", self.keep_last),
            ("--keep-hourly", self.keep_hourly),
            ("--keep-daily", self.keep_daily),
            ("--keep-weekly", self.keep_weekly),
            ("--keep-monthly", self.keep_monthly),
            ("--keep-yearly", self.keep_yearly),
        ];
        for (flag, n) in counts {
            if let Some(n) = n {
                parts.push(format!("{flag} {n}"));
            }
        }
        if let Some(age) = self.keep_within {
            parts.push(format!("--keep-within {age}"));
        }
        f.write_str(&parts.join(" "))
    }
}

/// One snapshot as retention sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionCandidate {
    /// The snapshot.
    pub id: SnapshotId,
    /// When it was taken (its backup's start).
    pub time: DateTime<Utc>,
    /// Whether it is under legal hold.
    pub held: bool,
}

impl RetentionCandidate {
    /// A snapshot not under hold.
    pub fn new(id: SnapshotId, time: DateTime<Utc>) -> Self {
        RetentionCandidate {
            id,
            time,
            held: false,
        }
    }
}

/// Why a snapshot is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum KeepReason {
    /// Under legal hold.
    Held,
    /// The policy has no rule.
    NoPolicy,
    /// Dated after the current time (a skewed clock): never aged out by it.
    Future,
    /// One of the newest N.
    Last,
    /// Within `keep_within` of the newest snapshot.
    Within,
    /// The newest of its hour.
    Hourly,
    /// The newest of its day.
    Daily,
    /// The newest of its ISO week.
    Weekly,
    /// The newest of its month.
    Monthly,
    /// The newest of its year.
    Yearly,
}

impl KeepReason {
    /// A short name: `held`, `last`, `daily`...
    pub fn name(self) -> &'static str {
        match self {
            KeepReason::Held => "held",
            KeepReason::NoPolicy => "no policy",
            KeepReason::Future => "future",
            KeepReason::Last => "last",
            KeepReason::Within => "within",
            KeepReason::Hourly => "hourly",
            KeepReason::Daily => "daily",
            KeepReason::Weekly => "weekly",
            KeepReason::Monthly => "monthly",
            KeepReason::Yearly => "yearly",
        }
    }
}

/// What the policy decided for one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionDecision {
    /// The snapshot.
    pub id: SnapshotId,
    /// When it was taken.
    #[serde(with = "crate::rfc3339")]
    pub time: DateTime<Utc>,
    /// Whether it is kept.
    pub keep: bool,
    /// Why it is kept (empty when forgotten), in a fixed order.
    pub reasons: Vec<KeepReason>,
}

/// The bucket a snapshot falls in for a grandfather-father-son rule.
fn bucket(reason: KeepReason, time: DateTime<Utc>) -> (i32, u32, u32, u32) {
    match reason {
        KeepReason::Hourly => (time.year(), time.ordinal(), time.hour(), 0),
        KeepReason::Daily => (time.year(), time.ordinal(), 0, 0),
        KeepReason::Weekly => {
            let week = time.iso_week();
            (week.year(), week.week(), 0, 0)
        }
        KeepReason::Monthly => (time.year(), time.month(), 0, 0),
        _ => (time.year(), 0, 0, 0),
    }
}

/// Decide, for each snapshot, whether `policy` keeps it at `now`. The result is newest
/// first (ties by id), one decision per snapshot, reasons in [`KeepReason`] order.
/// Pure and idempotent: applying it to the snapshots it keeps keeps them all.
pub fn select(
    snapshots: &[RetentionCandidate],
    policy: &RetentionPolicy,
    now: DateTime<Utc>,
) -> Vec<RetentionDecision> {
    let mut sorted: Vec<RetentionCandidate> = snapshots.to_vec();
    sorted.sort_by(|a, b| b.time.cmp(&a.time).then(b.id.cmp(&a.id)));
    let mut reasons: Vec<BTreeSet<KeepReason>> = vec![BTreeSet::new(); sorted.len()];
    for (i, s) in sorted.iter().enumerate() {
        if s.held {
            reasons[i].insert(KeepReason::Held);
        }
        if policy.is_empty() {
            reasons[i].insert(KeepReason::NoPolicy);
        }
        if s.time > now {
            reasons[i].insert(KeepReason::Future);
        }
    }
    if let Some(n) = policy.keep_last {
        for r in reasons.iter_mut().take(n as usize) {
            r.insert(KeepReason::Last);
        }
    }
    if let Some(age) = policy.keep_within {
        // Measured from the newest snapshot not in the future.
        if let Some(newest) = sorted.iter().map(|s| s.time).find(|t| *t <= now) {
            let oldest_kept = newest - age.as_duration();
            for (i, s) in sorted.iter().enumerate() {
                if s.time >= oldest_kept && s.time <= now {
                    reasons[i].insert(KeepReason::Within);
                }
            }
        }
    }
    let rules = [
        (KeepReason::Hourly, policy.keep_hourly),
        (KeepReason::Daily, policy.keep_daily),
        (KeepReason::Weekly, policy.keep_weekly),
        (KeepReason::Monthly, policy.keep_monthly),
        (KeepReason::Yearly, policy.keep_yearly),
    ];
    for (reason, count) in rules {
        let Some(mut left) = count else { continue };
        let mut last_bucket = None;
        for (i, s) in sorted.iter().enumerate() {
            if left == 0 {
                break;
            }
            let b = bucket(reason, s.time);
            if last_bucket != Some(b) {
                last_bucket = Some(b);
                reasons[i].insert(reason);
                left -= 1;
            }
        }
    }
    sorted
        .into_iter()
        .zip(reasons)
        .map(|(s, reasons)| RetentionDecision {
            id: s.id,
            time: s.time,
            keep: !reasons.is_empty(),
            reasons: reasons.into_iter().collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;
    use proptest::prelude::*;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    fn kept(decisions: &[RetentionDecision]) -> Vec<DateTime<Utc>> {
        decisions
            .iter()
            .filter(|d| d.keep)
            .map(|d| d.time)
            .collect()
    }

    fn every_6h_for(days: i64, end: DateTime<Utc>) -> Vec<RetentionCandidate> {
        (0..days * 4)
            .map(|i| {
                RetentionCandidate::new(SnapshotId::new_random(), end - Duration::hours(6 * i))
            })
            .collect()
    }

    #[test]
    fn keep_last_keeps_the_newest() {
        let end = at(2026, 3, 1, 0);
        let snaps = every_6h_for(3, end);
        let policy = RetentionPolicy {
            keep_last: Some(2),
            ..Default::default()
        };
        let d = select(&snaps, &policy, end);
        assert_eq!(kept(&d), vec![end, end - Duration::hours(6)]);
        assert_eq!(d[0].reasons, vec![KeepReason::Last]);
        assert!(d[2].reasons.is_empty());
    }

    #[test]
    fn daily_weekly_monthly_follow_restic() {
        // Every 6 hours from 2026-01-01 00:00 to 2026-03-01 00:00.
        let end = at(2026, 3, 1, 0);
        let snaps = every_6h_for(59, end);
        let policy = RetentionPolicy {
            keep_daily: Some(3),
            keep_weekly: Some(2),
            keep_monthly: Some(3),
            ..Default::default()
        };
        let d = select(&snaps, &policy, end);
        // Daily: the newest of 1 March, 28 Feb, 27 Feb. Weekly: the newest of ISO week
        // 9 (23 Feb - 1 Mar, already the daily one) and week 8 (ends Sunday 22 Feb,
        // 18:00). Monthly: March, February (28 Feb 18:00), January (31 Jan 18:00).
        let expected = vec![
            at(2026, 3, 1, 0),
            at(2026, 2, 28, 18),
            at(2026, 2, 27, 18),
            at(2026, 2, 22, 18),
            at(2026, 1, 31, 18),
        ];
        assert_eq!(kept(&d), expected);
        let reasons_of = |t| d.iter().find(|x| x.time == t).unwrap().reasons.clone();
        assert_eq!(
            reasons_of(at(2026, 3, 1, 0)),
            vec![KeepReason::Daily, KeepReason::Weekly, KeepReason::Monthly]
        );
        assert_eq!(
            reasons_of(at(2026, 2, 28, 18)),
            vec![KeepReason::Daily, KeepReason::Monthly]
        );
        assert_eq!(reasons_of(at(2026, 2, 22, 18)), vec![KeepReason::Weekly]);
    }

    #[test]
    fn within_is_measured_from_the_newest_snapshot() {
        // Backups stopped 100 days ago: a 30-day rule still keeps the last 30 days of
        // backups, not none.
        let end = at(2026, 1, 1, 0);
        let now = end + Duration::days(100);
        let snaps = every_6h_for(60, end);
        let d = select(&snaps, &RetentionPreset::Small.policy(), now);
        let k = kept(&d);
        assert_eq!(k.len(), 30 * 4 + 1);
        assert_eq!(k.last().copied(), Some(end - Duration::days(30)));
    }

    #[test]
    fn holds_empty_policies_and_future_snapshots_are_kept() {
        let now = at(2026, 1, 10, 0);
        let mut snaps = every_6h_for(2, now);
        snaps[7].held = true;
        snaps.push(RetentionCandidate::new(
            SnapshotId::new_random(),
            now + Duration::days(1),
        ));
        let all = select(&snaps, &RetentionPolicy::default(), now);
        assert!(all.iter().all(|d| d.keep));
        let policy = RetentionPolicy {
            keep_last: Some(1),
            ..Default::default()
        };
        let d = select(&snaps, &policy, now);
        let kept_reasons: Vec<Vec<KeepReason>> = d
            .iter()
            .filter(|d| d.keep)
            .map(|d| d.reasons.clone())
            .collect();
        // The future one counts as the newest (keep-last), is also marked future; the
        // held one stays.
        assert_eq!(
            kept_reasons,
            vec![
                vec![KeepReason::Future, KeepReason::Last],
                vec![KeepReason::Held]
            ]
        );
    }

    #[test]
    fn presets_follow_the_product_table() {
        assert_eq!(
            RetentionPreset::Medium.policy().keep_within,
            Some(RetentionAge::days(60))
        );
        assert_eq!(
            RetentionPreset::Enterprise.policy().to_string(),
            "--keep-monthly 12 --keep-within 90d"
        );
        assert_eq!("LARGE".parse(), Ok(RetentionPreset::Large));
        assert!("huge".parse::<RetentionPreset>().is_err());
    }

    #[test]
    fn ages_parse_like_restic() {
        assert_eq!("30d".parse(), Ok(RetentionAge::days(30)));
        assert_eq!("1w2d".parse(), Ok(RetentionAge::days(9)));
        assert_eq!("1y6m".parse(), Ok(RetentionAge::days(365 + 180)));
        assert_eq!("36h".parse(), Ok(RetentionAge::hours(36)));
        assert_eq!(RetentionAge::hours(36).to_string(), "36h");
        for bad in ["", "30", "d", "3x", "99999999d"] {
            assert!(bad.parse::<RetentionAge>().is_err(), "{bad}");
        }
        let policy: RetentionPolicy =
            serde_json::from_str(r#"{"keep_within":"60d","keep_daily":7}"#).unwrap();
        assert_eq!(policy.keep_within, Some(RetentionAge::days(60)));
        assert_eq!(
            serde_json::to_string(&policy).unwrap(),
            r#"{"keep_within":"60d","keep_daily":7}"#
        );
        assert!(serde_json::from_str::<RetentionPolicy>(r#"{"keep_everything":1}"#).is_err());
    }

    fn arb_policy() -> impl Strategy<Value = RetentionPolicy> {
        let n = || proptest::option::of(0u32..6);
        (
            n(),
            proptest::option::of(0u32..200),
            n(),
            n(),
            n(),
            n(),
            n(),
        )
            .prop_map(|(last, within, hourly, daily, weekly, monthly, yearly)| {
                RetentionPolicy {
                    keep_last: last,
                    keep_within: within.map(RetentionAge::hours),
                    keep_hourly: hourly,
                    keep_daily: daily,
                    keep_weekly: weekly,
                    keep_monthly: monthly,
                    keep_yearly: yearly,
                }
            })
    }

    fn arb_snapshots() -> impl Strategy<Value = Vec<RetentionCandidate>> {
        proptest::collection::vec((0i64..24 * 400, any::<bool>(), any::<u128>()), 0..40).prop_map(
            |raw| {
                raw.into_iter()
                    .map(|(hours_ago, held, id)| RetentionCandidate {
                        id: uuid::Uuid::from_u128(id).to_string().parse().unwrap(),
                        time: at(2027, 1, 1, 0) - Duration::hours(hours_ago),
                        held,
                    })
                    .collect()
            },
        )
    }

    proptest! {
        #[test]
        fn never_forgets_a_held_snapshot(snaps in arb_snapshots(), policy in arb_policy()) {
            let d = select(&snaps, &policy, at(2027, 1, 1, 0));
            prop_assert_eq!(d.len(), snaps.len());
            for s in snaps.iter().filter(|s| s.held) {
                let decision = d.iter().find(|d| d.id == s.id).unwrap();
                prop_assert!(decision.keep);
                prop_assert!(decision.reasons.contains(&KeepReason::Held));
            }
        }

        #[test]
        fn keep_last_alone_keeps_exactly_the_newest_n(snaps in arb_snapshots(), n in 0u32..50) {
            let unheld: Vec<RetentionCandidate> =
                snaps.into_iter().map(|s| RetentionCandidate { held: false, ..s }).collect();
            let policy = RetentionPolicy { keep_last: Some(n), ..Default::default() };
            let d = select(&unheld, &policy, at(2027, 1, 1, 0));
            let kept: Vec<_> = d.iter().filter(|d| d.keep).map(|d| d.id).collect();
            let mut newest = unheld.clone();
            newest.sort_by(|a, b| b.time.cmp(&a.time).then(b.id.cmp(&a.id)));
            let expected: Vec<_> = newest.iter().take(n as usize).map(|s| s.id).collect();
            prop_assert_eq!(kept, expected);
        }

        #[test]
        fn selection_is_idempotent(snaps in arb_snapshots(), policy in arb_policy()) {
            let now = at(2027, 1, 1, 0);
            let first = select(&snaps, &policy, now);
            let survivors: Vec<RetentionCandidate> = snaps
                .iter()
                .filter(|s| first.iter().any(|d| d.keep && d.id == s.id))
                .copied()
                .collect();
            let second = select(&survivors, &policy, now);
            prop_assert!(second.iter().all(|d| d.keep));
        }
    }
}
