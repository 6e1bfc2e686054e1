//! Recording: every request's duration is kept (8 bytes a sample, so a few million cost tens
//! of MiB), because exact percentiles need the samples themselves — a histogram would round
//! them, and a p99 rounded to a bucket is not a figure worth publishing.
//!
//! Each worker records into its own [`Recorder`] (no lock on the hot path) and the recorders
//! are merged once the run ends; the live progress line reads shared atomic counters instead.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A step of a scenario; the report has one row per step that ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    CreateCart,
    AddLine,
    SetEmail,
    SetAddress,
    ListShippingOptions,
    ChooseShipping,
    Checkout,
    /// A whole checkout journey, from creating the cart to the checkout's answer. Not a
    /// request of its own: it does not count towards the request totals.
    CheckoutFlow,
    ListProducts,
    GetProduct,
    Search,
}

impl Step {
    /// Every step, in the order the report lists them.
    pub const ALL: [Step; 11] = [
        Step::CreateCart,
        Step::AddLine,
        Step::SetEmail,
        Step::SetAddress,
        Step::ListShippingOptions,
        Step::ChooseShipping,
        Step::Checkout,
        Step::CheckoutFlow,
        Step::ListProducts,
        Step::GetProduct,
        Step::Search,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::CreateCart => "create_cart",
            Step::AddLine => "add_line",
            Step::SetEmail => "set_email",
            Step::SetAddress => "set_address",
            Step::ListShippingOptions => "list_shipping_options",
            Step::ChooseShipping => "choose_shipping",
            Step::Checkout => "checkout",
            Step::CheckoutFlow => "whole_checkout",
            Step::ListProducts => "list_products",
            Step::GetProduct => "get_product",
            Step::Search => "search",
        }
    }

    /// Whether the step is one HTTP request (the whole-checkout journey is not).
    pub fn is_request(self) -> bool {
        self != Step::CheckoutFlow
    }
}

/// One finished request (or journey).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub step: Step,
    /// When it finished, in milliseconds since the timed part of the run began: places the
    /// sample in its second of the timeline.
    pub at_ms: u32,
    /// How long it took, in microseconds (u32: up to 71 minutes, far above any timeout).
    pub micros: u32,
    /// False when it counted as an error.
    pub ok: bool,
}

/// Counters the progress line reads while the workers run.
#[derive(Debug, Default)]
pub struct Progress {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    /// Finished journeys: confirmed checkouts, checkout decisions or browse rounds.
    pub flows: AtomicU64,
}

impl Progress {
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
            self.flows.load(Ordering::Relaxed),
        )
    }
}

/// One worker's samples and error counts.
#[derive(Debug)]
pub struct Recorder {
    /// The instant the timed part began; sample times are measured from it.
    origin: Instant,
    pub samples: Vec<Sample>,
    /// When each journey finished (ms since the origin): the throughput chart's second line.
    pub flows_at_ms: Vec<u32>,
    /// Errors by problem `code`, `http_<status>`, `unexpected_<status>` or `transport_<kind>`.
    pub errors: BTreeMap<String, u64>,
}

impl Recorder {
    pub fn new(origin: Instant) -> Recorder {
        Recorder {
            origin,
            samples: Vec::new(),
            flows_at_ms: Vec::new(),
            errors: BTreeMap::new(),
        }
    }

    /// Records a sample that started at `started` and ends now.
    pub fn record(&mut self, step: Step, started: Instant, ok: bool) {
        let now = Instant::now();
        self.samples.push(Sample {
            step,
            at_ms: millis_u32(now.saturating_duration_since(self.origin)),
            micros: micros_u32(now.saturating_duration_since(started)),
            ok,
        });
    }

    /// Notes that a journey (a confirmed checkout, a checkout decision, a browse round) finished
    /// now.
    pub fn flow_done(&mut self, progress: &Progress) {
        let at_ms = millis_u32(Instant::now().saturating_duration_since(self.origin));
        self.flows_at_ms.push(at_ms);
        progress.flows.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_error(&mut self, kind: &str) {
        *self.errors.entry(kind.to_owned()).or_default() += 1;
    }

    /// Adds another worker's recording to this one.
    pub fn merge(&mut self, other: Recorder) {
        self.samples.extend(other.samples);
        self.flows_at_ms.extend(other.flows_at_ms);
        for (kind, count) in other.errors {
            *self.errors.entry(kind).or_default() += count;
        }
    }
}

fn millis_u32(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

fn micros_u32(duration: Duration) -> u32 {
    u32::try_from(duration.as_micros()).unwrap_or(u32::MAX)
}

/// The `p`th percentile (0 < p ≤ 100) of ascending `sorted` samples by the nearest-rank
/// method: the smallest sample with at least p % of the samples at or below it. Always an
/// observed value, never an interpolation; `None` without samples.
pub fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    // ceil(p/100 · n) as a 1-based rank, clamped into 1..=n.
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

/// Latency figures of a set of samples, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub p50: u32,
    pub p95: u32,
    pub p99: u32,
    pub max: u32,
    pub mean: f64,
}

impl Latency {
    /// Sorts `micros` in place and summarises it; `None` when it is empty.
    pub fn of(micros: &mut [u32]) -> Option<Latency> {
        micros.sort_unstable();
        let count = micros.len() as u64;
        let sum: u64 = micros.iter().map(|&m| u64::from(m)).sum();
        Some(Latency {
            count,
            p50: percentile(micros, 50.0)?,
            p95: percentile(micros, 95.0)?,
            p99: percentile(micros, 99.0)?,
            max: *micros.last()?,
            mean: sum as f64 / count as f64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let sorted: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 50.0), Some(50));
        assert_eq!(percentile(&sorted, 95.0), Some(95));
        assert_eq!(percentile(&sorted, 99.0), Some(99));
        assert_eq!(percentile(&sorted, 100.0), Some(100));
        assert_eq!(percentile(&sorted, 0.5), Some(1));

        // Ten samples: p50 is the 5th, p95 and p99 round up to the 10th.
        let sorted = [10, 20, 30, 40, 50, 60, 70, 80, 90, 1000];
        assert_eq!(percentile(&sorted, 50.0), Some(50));
        assert_eq!(percentile(&sorted, 90.0), Some(90));
        assert_eq!(percentile(&sorted, 95.0), Some(1000));
        assert_eq!(percentile(&sorted, 99.0), Some(1000));

        assert_eq!(percentile(&[7], 50.0), Some(7));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn latency_summary_is_exact() {
        // 1..=1000 shuffled: the summary must not depend on the order samples arrived in.
        let mut micros: Vec<u32> = (1..=1000).map(|i| (i * 7919) % 1000 + 1).collect();
        let latency = Latency::of(&mut micros).expect("samples");
        assert_eq!(latency.count, 1000);
        assert_eq!(latency.p50, 500);
        assert_eq!(latency.p95, 950);
        assert_eq!(latency.p99, 990);
        assert_eq!(latency.max, 1000);
        assert!((latency.mean - 500.5).abs() < 1e-9);
        assert_eq!(Latency::of(&mut []), None);
    }

    #[test]
    fn recorders_merge_samples_and_errors() {
        let origin = Instant::now();
        let mut a = Recorder::new(origin);
        a.record(Step::Checkout, origin, true);
        a.count_error("insufficient_stock");
        let mut b = Recorder::new(origin);
        b.record(Step::AddLine, origin, false);
        b.count_error("insufficient_stock");
        b.count_error("transport_timeout");
        a.merge(b);
        assert_eq!(a.samples.len(), 2);
        assert_eq!(a.errors.get("insufficient_stock"), Some(&2));
        assert_eq!(a.errors.get("transport_timeout"), Some(&1));
    }
}
