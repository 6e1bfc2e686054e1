//! When a failed delivery is tried again.
//!
//! Retry `n` (n = 1 .. max_attempts − 1, the attempt after failed attempt `n` of the schedule)
//! is due `min(base × factor^(n−1), cap)`, moved by a jitter of at most ±`jitter_permille`,
//! after failed attempt `n` was made. With the defaults (30 s, ×3, 12 h cap, ±20 %, 10 attempts)
//! the nominal delays are 30 s, 1.5 min, 4.5 min, 13.5 min, 40.5 min, ~2 h, ~6 h, 12 h, 12 h:
//! about 33 hours from the first attempt to the last, after which the delivery is `dead`. A
//! replay starts the schedule again.
//!
//! The jitter spreads retries of deliveries that failed together (an endpoint that was down
//! for a while) so they do not all come back at once. It comes from a [`Jitter`]; the default,
//! [`DerivedJitter`], derives it from the delivery id and attempt number, so it differs between
//! deliveries yet is the same on every node and in every test run.

use std::fmt;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::model::DeliveryId;

/// The delays between attempts; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    /// Nominal delay before the first retry.
    pub base: Duration,
    /// Each retry's nominal delay is this many times the previous one's.
    pub factor: u32,
    /// No nominal delay is longer: past it an endpoint is retried at a steady pace.
    pub cap: Duration,
    /// The most a delay is moved either way, in thousandths of it.
    pub jitter_permille: u32,
}

impl Default for RetrySchedule {
    /// 30 s × 3^(n−1), capped at 12 h, ±20 %: quick enough to ride out a restart of the
    /// receiver, slow enough to stop hammering one that is down for hours.
    fn default() -> RetrySchedule {
        RetrySchedule {
            base: Duration::from_secs(30),
            factor: 3,
            cap: Duration::from_secs(12 * 3_600),
            jitter_permille: 200,
        }
    }
}

impl RetrySchedule {
    /// The delay of retry `retry` (from 1) before jitter.
    pub fn nominal_delay(&self, retry: u32) -> Duration {
        let base_ms = millis(self.base);
        let cap_ms = millis(self.cap);
        let exponent = retry.saturating_sub(1);
        let growth = u64::from(self.factor).saturating_pow(exponent);
        Duration::from_millis(base_ms.saturating_mul(growth).min(cap_ms))
    }

    /// The delay of retry `retry` moved by `jitter_permille` thousandths (clamped to the
    /// schedule's ±[`RetrySchedule::jitter_permille`]).
    pub fn delay(&self, retry: u32, jitter_permille: i32) -> Duration {
        let bound = i64::from(self.jitter_permille);
        let jitter = i64::from(jitter_permille).clamp(-bound, bound);
        let nominal = i128::from(millis(self.nominal_delay(retry)));
        let moved = nominal * i128::from(1_000 + jitter) / 1_000;
        Duration::from_millis(u64::try_from(moved.max(0)).unwrap_or(u64::MAX))
    }

    /// The earliest and latest delay retry `retry` can have.
    pub fn window(&self, retry: u32) -> (Duration, Duration) {
        let bound = i32::try_from(self.jitter_permille).unwrap_or(i32::MAX);
        (self.delay(retry, -bound), self.delay(retry, bound))
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Where the jitter of each retry comes from.
pub trait Jitter: Send + Sync + fmt::Debug {
    /// A value from −`bound` to `bound` (thousandths of the delay) for the retry that follows
    /// attempt `attempt_number` of `delivery`.
    fn permille(&self, delivery: DeliveryId, attempt_number: u32, bound: u32) -> i32;
}

/// Jitter derived from SHA-256 of the delivery id and the attempt number: uniform enough over
/// the range, different for each delivery and attempt, and reproducible.
#[derive(Debug, Clone, Copy, Default)]
pub struct DerivedJitter;

impl Jitter for DerivedJitter {
    fn permille(&self, delivery: DeliveryId, attempt_number: u32, bound: u32) -> i32 {
        let digest = Sha256::new()
            .chain_update(delivery.to_string().as_bytes())
            .chain_update(attempt_number.to_be_bytes())
            .finalize();
        let mut first = [0_u8; 8];
        first.copy_from_slice(&digest[..8]);
        let span = u64::from(bound) * 2 + 1;
        let offset = u64::from_be_bytes(first) % span;
        // offset <= 2 × bound, so both conversions are exact for any u32 bound below 2^30.
        let offset = i64::try_from(offset).unwrap_or(0);
        i32::try_from(offset - i64::from(bound)).unwrap_or(0)
    }
}

/// Always the same jitter: for tests that want to sit on an edge of the window.
#[derive(Debug, Clone, Copy)]
pub struct FixedJitter(pub i32);

impl Jitter for FixedJitter {
    fn permille(&self, _: DeliveryId, _: u32, _: u32) -> i32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nominal_delays_grow_by_the_factor_until_the_cap() {
        let s = RetrySchedule::default();
        let secs: Vec<u64> = (1..=9).map(|n| s.nominal_delay(n).as_secs()).collect();
        assert_eq!(
            secs,
            [30, 90, 270, 810, 2_430, 7_290, 21_870, 43_200, 43_200]
        );
        // Far past the cap nothing overflows.
        assert_eq!(s.nominal_delay(u32::MAX), Duration::from_secs(43_200));
    }

    #[test]
    fn jitter_moves_a_delay_at_most_by_its_bound() {
        let s = RetrySchedule::default();
        assert_eq!(s.delay(1, 0), Duration::from_secs(30));
        assert_eq!(s.delay(1, 200), Duration::from_secs(36));
        assert_eq!(s.delay(1, -200), Duration::from_secs(24));
        assert_eq!(s.delay(1, 5_000), Duration::from_secs(36), "clamped");
        assert_eq!(
            s.window(2),
            (Duration::from_secs(72), Duration::from_secs(108))
        );
    }

    #[test]
    fn derived_jitter_stays_in_bounds_and_varies() {
        let id = DeliveryId::new();
        let values: Vec<i32> = (1..200)
            .map(|n| DerivedJitter.permille(id, n, 200))
            .collect();
        assert!(values.iter().all(|v| (-200..=200).contains(v)));
        assert!(values.iter().any(|v| *v < -100) && values.iter().any(|v| *v > 100));
        assert_eq!(
            DerivedJitter.permille(id, 3, 200),
            DerivedJitter.permille(id, 3, 200)
        );
        assert_eq!(DerivedJitter.permille(id, 3, 0), 0);
    }
}
