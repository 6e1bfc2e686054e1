//! Time: UTC instants with millisecond precision, and the [`Clock`] that districts are given.
//!
//! Nothing reads the wall clock directly: code that needs "now" takes a `Clock`, so tests can
//! use a [`ManualClock`] and move time forward on purpose (to expire a reservation, say).
//! [`Timestamp`] travels as an RFC 3339 string in UTC, e.g. `2026-11-22T04:39:36.123Z`; the
//! calendar arithmetic is done here with the proleptic Gregorian calendar, without dependencies.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{DomainError, ErrorCategory, ProblemType};

pub const INVALID_TIMESTAMP: ProblemType = ProblemType::new(
    "invalid_timestamp",
    "Invalid timestamp",
    ErrorCategory::Invalid,
);

const MILLIS_PER_SECOND: i64 = 1_000;
const MILLIS_PER_MINUTE: i64 = 60 * MILLIS_PER_SECOND;
const MILLIS_PER_HOUR: i64 = 60 * MILLIS_PER_MINUTE;
const MILLIS_PER_DAY: i64 = 24 * MILLIS_PER_HOUR;

/// First and last instants RFC 3339 can write: its years have exactly four digits.
const RFC3339_MILLIS_MIN: i64 = days_from_civil(0, 1, 1) * MILLIS_PER_DAY;
const RFC3339_MILLIS_MAX: i64 = days_from_civil(10_000, 1, 1) * MILLIS_PER_DAY - 1;

/// Longest accepted input: `YYYY-MM-DDTHH:MM:SS` (19), `.` and 9 digits (10), `+hh:mm` (6).
const RFC3339_LEN_MAX: usize = 35;
/// How much of a refused input is echoed back in an error.
const ECHO_LEN_MAX: usize = 40;

/// Why a string is not a timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// Holds at most the first 40 characters of what was given, as do the other variants.
    #[error("'{0}' is not an RFC 3339 timestamp such as 2026-11-22T04:39:36.123Z")]
    Malformed(String),
    #[error("'{0}' names a date, time or offset that does not exist")]
    OutOfRange(String),
}

impl DomainError for TimestampError {
    fn problem_type(&self) -> &'static ProblemType {
        &INVALID_TIMESTAMP
    }
}

/// An instant in UTC: milliseconds since 1970-01-01T00:00:00Z, negative before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);

    pub fn from_millis(millis: i64) -> Timestamp {
        Timestamp(millis)
    }

    pub fn millis(&self) -> i64 {
        self.0
    }

    /// Saturates at the ends of the `i64` range (about 292 million years away) instead of
    /// wrapping.
    pub fn plus_millis(self, millis: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(millis))
    }

    /// Saturates like [`Timestamp::plus_millis`].
    pub fn plus_secs(self, secs: i64) -> Timestamp {
        self.plus_millis(secs.saturating_mul(MILLIS_PER_SECOND))
    }

    /// Always UTC with millisecond precision and `Z`: `2026-11-22T04:39:36.123Z`. A year outside
    /// 0000–9999 cannot be written in RFC 3339; it is written in the ISO 8601 expanded form
    /// (`+10000-01-01T…`, `-0001-…`), which [`Timestamp::parse_rfc3339`] refuses.
    pub fn to_rfc3339(&self) -> String {
        let (year, month, day) = civil_from_days(self.0.div_euclid(MILLIS_PER_DAY));
        let in_day = self.0.rem_euclid(MILLIS_PER_DAY);
        let hour = in_day / MILLIS_PER_HOUR;
        let minute = in_day % MILLIS_PER_HOUR / MILLIS_PER_MINUTE;
        let second = in_day % MILLIS_PER_MINUTE / MILLIS_PER_SECOND;
        let milli = in_day % MILLIS_PER_SECOND;
        let year = if (0..=9999).contains(&year) {
            format!("{year:04}")
        } else {
            format!("{year:+05}")
        };
        format!("{year}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z")
    }

    /// Accepts `YYYY-MM-DDTHH:MM:SS`, then an optional `.` with 1 to 9 digits, then `Z` or an
    /// offset `±hh:mm`. `T` and `Z` may be lower case, as RFC 3339 allows. Digits beyond
    /// milliseconds are truncated. Leap seconds (`:60`) are refused.
    pub fn parse_rfc3339(s: &str) -> Result<Timestamp, TimestampError> {
        let echo = || s.chars().take(ECHO_LEN_MAX).collect::<String>();
        let fields = Fields::scan(s.as_bytes()).ok_or_else(|| TimestampError::Malformed(echo()))?;
        fields
            .to_millis()
            .map(Timestamp)
            .ok_or_else(|| TimestampError::OutOfRange(echo()))
    }
}

/// The parts of an RFC 3339 timestamp as written, not yet checked against the calendar.
struct Fields {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    milli: i64,
    offset: Offset,
}

/// A UTC offset as written: `Z` is `+00:00`.
struct Offset {
    /// 1 east of UTC, -1 west of it.
    sign: i64,
    hours: i64,
    minutes: i64,
}

impl Fields {
    fn scan(b: &[u8]) -> Option<Fields> {
        if b.len() > RFC3339_LEN_MAX {
            return None;
        }
        let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
        if !separators.iter().all(|&(i, sep)| b.get(i) == Some(&sep))
            || !matches!(b.get(10), Some(b'T' | b't'))
        {
            return None;
        }
        let (milli, zone) = scan_fraction(b.get(19..)?)?;
        Some(Fields {
            year: digits(b.get(0..4)?)?,
            month: digits(b.get(5..7)?)?,
            day: digits(b.get(8..10)?)?,
            hour: digits(b.get(11..13)?)?,
            minute: digits(b.get(14..16)?)?,
            second: digits(b.get(17..19)?)?,
            milli,
            offset: scan_offset(zone)?,
        })
    }

    /// `None` if any field is outside its calendar or clock range.
    fn to_millis(&self) -> Option<i64> {
        let date_ok = (1..=12).contains(&self.month)
            && (1..=days_in_month(self.year, self.month)).contains(&self.day);
        let time_ok = self.hour <= 23 && self.minute <= 59 && self.second <= 59;
        let offset_ok = self.offset.hours <= 23 && self.offset.minutes <= 59;
        if !date_ok || !time_ok || !offset_ok {
            return None;
        }
        let day_millis = days_from_civil(self.year, self.month, self.day) * MILLIS_PER_DAY;
        let time_millis = self.hour * MILLIS_PER_HOUR
            + self.minute * MILLIS_PER_MINUTE
            + self.second * MILLIS_PER_SECOND
            + self.milli;
        let offset_millis = self.offset.sign
            * (self.offset.hours * MILLIS_PER_HOUR + self.offset.minutes * MILLIS_PER_MINUTE);
        Some(day_millis + time_millis - offset_millis)
    }
}

/// Splits an optional `.digits` off the front; returns milliseconds and the rest.
fn scan_fraction(b: &[u8]) -> Option<(i64, &[u8])> {
    let Some(after_dot) = b.strip_prefix(b".") else {
        return Some((0, b));
    };
    let len = after_dot.iter().take_while(|d| d.is_ascii_digit()).count();
    if !(1..=9).contains(&len) {
        return None;
    }
    let (fraction, rest) = after_dot.split_at(len);
    let milli = fraction
        .iter()
        .chain(b"000")
        .take(3)
        .try_fold(0, |acc, &d| Some(acc * 10 + digit(d)?))?;
    Some((milli, rest))
}

/// `Z` or `±hh:mm`; the ranges of hours and minutes are checked later.
fn scan_offset(b: &[u8]) -> Option<Offset> {
    match b {
        b"Z" | b"z" => Some(Offset {
            sign: 1,
            hours: 0,
            minutes: 0,
        }),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => Some(Offset {
            sign: if *sign == b'-' { -1 } else { 1 },
            hours: digits(&[*h1, *h2])?,
            minutes: digits(&[*m1, *m2])?,
        }),
        _ => None,
    }
}

fn digit(b: u8) -> Option<i64> {
    b.is_ascii_digit().then(|| i64::from(b - b'0'))
}

/// The value of a short, non-empty run of ASCII digits.
fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() {
        return None;
    }
    b.iter().try_fold(0, |acc, &d| Some(acc * 10 + digit(d)?))
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date. Works in 400-year eras (146_097 days
/// each) of years that start on 1 March, so the leap day is the last day of its year and the
/// month lengths from March on follow the fixed pattern `(153 × m + 2) / 5`.
const fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719_468 days separate 0000-03-01, the start of era 0, from 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month 1–12, day 1–31).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let since_era_zero = days + 719_468;
    let era = since_era_zero.div_euclid(146_097);
    let day_of_era = since_era_zero.rem_euclid(146_097);
    // Remove the leap days before this day (one per 4 years, less one per 100, plus the 400th
    // year's, which is the era's last day) so that every year is 365 days long.
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = (month_from_march + 2) % 12 + 1;
    let year = era * 400 + year_of_era + i64::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timestamp::parse_rfc3339(s)
    }
}

impl serde::Serialize for Timestamp {
    /// Fails for years outside 0000–9999 rather than write text that cannot be read back.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !(RFC3339_MILLIS_MIN..=RFC3339_MILLIS_MAX).contains(&self.0) {
            let message = "timestamp is outside the years 0000 to 9999";
            return Err(serde::ser::Error::custom(message));
        }
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

/// Where "now" comes from. Districts take one instead of reading the wall clock.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The real wall clock of this machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let millis = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since) => saturating_millis(since),
            Err(before) => saturating_millis(before.duration()).saturating_neg(),
        };
        Timestamp(millis)
    }
}

fn saturating_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A clock that moves only when told to. Clones share one time, so a test can keep a clone and
/// move the time seen by the application it handed another clone to.
#[derive(Debug, Clone)]
pub struct ManualClock {
    millis: Arc<AtomicI64>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            millis: Arc::new(AtomicI64::new(start.millis())),
        }
    }

    pub fn set(&self, to: Timestamp) {
        self.millis.store(to.millis(), Ordering::SeqCst);
    }

    /// Moves time forward, saturating like [`Timestamp::plus_millis`].
    pub fn advance(&self, by: Duration) {
        let by = saturating_millis(by);
        // The closure always returns `Some`, so the update cannot fail.
        let _ = self
            .millis
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |millis| {
                Some(millis.saturating_add(by))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.millis.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// (millis, RFC 3339 text) pairs checked against an independent implementation.
    const VECTORS: [(i64, &str); 10] = [
        (0, "1970-01-01T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (1_795_322_376_123, "2026-11-22T04:39:36.123Z"),
        (1_709_164_800_000, "2024-02-29T00:00:00.000Z"),
        (951_827_696_789, "2000-02-29T12:34:56.789Z"),
        (946_684_799_999, "1999-12-31T23:59:59.999Z"),
        (4_107_542_400_000, "2100-03-01T00:00:00.000Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
        (-62_167_219_200_000, "0000-01-01T00:00:00.000Z"),
        (-86_400_000, "1969-12-31T00:00:00.000Z"),
    ];

    fn parse(s: &str) -> Result<i64, TimestampError> {
        Timestamp::parse_rfc3339(s).map(|t| t.millis())
    }

    #[test]
    fn fixed_vectors_format_and_parse() {
        for (millis, text) in VECTORS {
            assert_eq!(Timestamp::from_millis(millis).to_rfc3339(), text);
            assert_eq!(parse(text), Ok(millis), "{text}");
        }
    }

    #[test]
    fn the_rfc3339_range_constants_are_the_first_and_last_writable_instants() {
        assert_eq!(RFC3339_MILLIS_MIN, -62_167_219_200_000);
        assert_eq!(RFC3339_MILLIS_MAX, 253_402_300_799_999);
    }

    #[test]
    fn years_outside_four_digits_use_the_expanded_form() {
        let after = Timestamp::from_millis(RFC3339_MILLIS_MAX + 1);
        assert_eq!(after.to_rfc3339(), "+10000-01-01T00:00:00.000Z");
        let before = Timestamp::from_millis(RFC3339_MILLIS_MIN - 1);
        assert_eq!(before.to_rfc3339(), "-0001-12-31T23:59:59.999Z");
        assert!(parse(&after.to_rfc3339()).is_err());
        // The extremes of i64 format without panicking.
        let _ = Timestamp::from_millis(i64::MIN).to_rfc3339();
        let _ = Timestamp::from_millis(i64::MAX).to_rfc3339();
    }

    #[test]
    fn offsets_are_converted_to_utc() {
        assert_eq!(
            parse("2024-02-29T02:00:00+02:00"),
            parse("2024-02-29T00:00:00Z")
        );
        assert_eq!(
            parse("2024-02-28T18:30:00-05:30"),
            parse("2024-02-29T00:00:00Z")
        );
        assert_eq!(
            parse("2024-02-29T00:00:00-00:00"),
            parse("2024-02-29T00:00:00Z")
        );
        assert_eq!(parse("1970-01-01T00:00:00+23:59"), Ok(-1_439 * 60_000));
    }

    #[test]
    fn zero_to_nine_fraction_digits_are_accepted_and_truncated_to_millis() {
        assert_eq!(parse("1970-01-01T00:00:01Z"), Ok(1_000));
        assert_eq!(parse("1970-01-01T00:00:01.5Z"), Ok(1_500));
        assert_eq!(parse("1970-01-01T00:00:01.12Z"), Ok(1_120));
        assert_eq!(parse("1970-01-01T00:00:01.123999999Z"), Ok(1_123));
        assert!(parse("1970-01-01T00:00:01.1234567890Z").is_err());
        assert!(parse("1970-01-01T00:00:01.Z").is_err());
    }

    #[test]
    fn lower_case_t_and_z_are_accepted() {
        assert_eq!(parse("2024-02-29t00:00:00z"), Ok(1_709_164_800_000));
    }

    #[test]
    fn malformed_text_is_refused_as_malformed() {
        let bad = [
            "",
            "2024-02-29",
            "2024-02-29T00:00:00",
            "2024-02-29 00:00:00Z",
            "2024-2-29T00:00:00Z",
            "2024-02-29T00:00:00+0200",
            "2024-02-29T00:00:00+02",
            "2024-02-29T00:00:00UTC",
            "2024-02-29T00:00:00Z ",
            " 2024-02-29T00:00:00Z",
            "+2024-02-29T00:00:00Z",
            "2024-02-29T00:00:00.-1Z",
            "２０２４-02-29T00:00:00Z",
            "2024-02-29T00:00:00.123456789+02:00x",
        ];
        for text in bad {
            let err = Timestamp::parse_rfc3339(text).unwrap_err();
            assert!(
                matches!(err, TimestampError::Malformed(_)),
                "{text:?}: {err:?}"
            );
        }
    }

    #[test]
    fn impossible_dates_and_times_are_refused_as_out_of_range() {
        let bad = [
            "2023-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-00-01T00:00:00Z",
            "2024-01-00T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:60:00Z",
            "2024-01-01T00:00:60Z",
            "2024-01-01T00:00:00+24:00",
            "2024-01-01T00:00:00+00:60",
        ];
        for text in bad {
            let err = Timestamp::parse_rfc3339(text).unwrap_err();
            assert!(
                matches!(err, TimestampError::OutOfRange(_)),
                "{text:?}: {err:?}"
            );
        }
        assert_eq!(parse("2024-12-31T23:59:59.999+23:59").map(|_| ()), Ok(()));
    }

    #[test]
    fn error_messages_echo_a_bounded_prefix() {
        let err = Timestamp::parse_rfc3339("yesterday").unwrap_err();
        assert_eq!(
            err.to_string(),
            "'yesterday' is not an RFC 3339 timestamp such as 2026-11-22T04:39:36.123Z"
        );
        let err = Timestamp::parse_rfc3339(&"9".repeat(10_000)).unwrap_err();
        assert_eq!(err, TimestampError::Malformed("9".repeat(40)));
        assert_eq!(err.problem_type().code, "invalid_timestamp");
    }

    #[test]
    fn arithmetic_moves_in_millis_and_seconds_and_saturates() {
        let t = Timestamp::from_millis(1_000);
        assert_eq!(t.plus_millis(-1_500).millis(), -500);
        assert_eq!(t.plus_secs(60).millis(), 61_000);
        assert_eq!(
            Timestamp::from_millis(i64::MAX).plus_millis(1).millis(),
            i64::MAX
        );
        assert_eq!(Timestamp::UNIX_EPOCH.plus_secs(i64::MIN).millis(), i64::MIN);
    }

    #[test]
    fn timestamps_order_by_time() {
        assert!(Timestamp::from_millis(-1) < Timestamp::UNIX_EPOCH);
        assert!(Timestamp::UNIX_EPOCH < Timestamp::from_millis(1));
    }

    #[test]
    fn serde_is_the_rfc3339_string_and_revalidates() {
        let t = Timestamp::from_millis(1_795_322_376_123);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2026-11-22T04:39:36.123Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        let offset = "\"2026-11-22T05:39:36.123+01:00\"";
        assert_eq!(serde_json::from_str::<Timestamp>(offset).unwrap(), t);
        assert!(serde_json::from_str::<Timestamp>("\"2026-02-29T00:00:00Z\"").is_err());
        assert!(serde_json::from_str::<Timestamp>("1795322376123").is_err());
    }

    #[test]
    fn serialising_a_year_rfc3339_cannot_write_fails() {
        let last = Timestamp::from_millis(RFC3339_MILLIS_MAX);
        assert!(serde_json::to_string(&last).is_ok());
        assert!(serde_json::to_string(&last.plus_millis(1)).is_err());
        let first = Timestamp::from_millis(RFC3339_MILLIS_MIN);
        assert!(serde_json::to_string(&first).is_ok());
        assert!(serde_json::to_string(&first.plus_millis(-1)).is_err());
    }

    #[test]
    fn the_manual_clock_moves_only_when_told_and_clones_share_it() {
        let clock = ManualClock::new(Timestamp::from_millis(5_000));
        let handed_out: Arc<dyn Clock> = Arc::new(clock.clone());
        assert_eq!(handed_out.now().millis(), 5_000);
        clock.advance(Duration::from_millis(1_500));
        assert_eq!(handed_out.now().millis(), 6_500);
        clock.set(Timestamp::UNIX_EPOCH);
        assert_eq!(handed_out.now(), Timestamp::UNIX_EPOCH);
        clock.set(Timestamp::from_millis(i64::MAX - 1));
        clock.advance(Duration::MAX);
        assert_eq!(clock.now().millis(), i64::MAX);
    }

    #[test]
    fn the_system_clock_is_after_2024() {
        assert!(SystemClock.now() > Timestamp::from_millis(1_704_067_200_000));
    }

    proptest! {
        #[test]
        fn rfc3339_round_trips_for_years_1970_to_9999(millis in 0..=RFC3339_MILLIS_MAX) {
            let t = Timestamp::from_millis(millis);
            prop_assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Ok(t));
        }

        #[test]
        fn rfc3339_round_trips_for_every_writable_year(
            millis in RFC3339_MILLIS_MIN..=RFC3339_MILLIS_MAX,
        ) {
            let t = Timestamp::from_millis(millis);
            let json = serde_json::to_string(&t).unwrap();
            prop_assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        }

        #[test]
        fn days_and_civil_dates_convert_both_ways(days in -1_000_000_000_i64..1_000_000_000) {
            let (year, month, day) = civil_from_days(days);
            prop_assert!((1..=12).contains(&month));
            prop_assert!((1..=days_in_month(year, month)).contains(&day));
            prop_assert_eq!(days_from_civil(year, month, day), days);
        }

        #[test]
        fn parsing_never_panics(text in "[0-9T:.+Zz-]{0,40}|.{0,40}") {
            let _ = Timestamp::parse_rfc3339(&text);
        }
    }
}
