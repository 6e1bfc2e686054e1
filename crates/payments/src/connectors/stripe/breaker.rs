//! The circuit breaker in front of Stripe, one per [`super::StripeGateway`] (DESIGN §9: every
//! outbound call has one).
//!
//! - **Closed**: every request goes out. A failure that says Stripe is in trouble (a timeout, a
//!   connection error, a 5xx, a 429) counts; any answer Stripe gave on purpose, a decline or an
//!   invalid request included, resets the count. `failure_threshold` consecutive failures, each
//!   within `failure_window` of the first, open the breaker.
//! - **Open** until `cool_down` has passed: requests fail at once, without reaching Stripe,
//!   with a retryable `unavailable` error that says how long is left.
//! - **Half-open**: the first request after the cool-down is let through as a probe, the rest
//!   still fail fast. The probe's success closes the breaker; its failure (or its caller giving
//!   up on it) opens it for another cool-down.
//!
//! Time comes from the injected [`Clock`], so tests move through the states with a
//! `ManualClock`. The state is per process: nodes do not share it, which is fine for a breaker,
//! whose only job is to stop this process from piling requests on a sick upstream.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kassa_kernel::{Clock, Timestamp};

use super::config::BreakerConfig;

/// What a caller is told to wait while a probe is in flight: the probe answers within one
/// request timeout at most, and usually much sooner.
const HALF_OPEN_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Where the breaker stands; for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    /// Failing fast until `until`.
    Open {
        until: Timestamp,
    },
    /// The cool-down is over; the next request is (or is being) the probe.
    HalfOpen,
}

#[derive(Debug)]
enum State {
    Closed {
        failures: u32,
        first_failure: Timestamp,
    },
    Open {
        until: Timestamp,
    },
    HalfOpen {
        probing: bool,
    },
}

/// Shared by every call of one gateway; clones share one state.
#[derive(Debug, Clone)]
pub(crate) struct Breaker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: BreakerConfig,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

/// Leave to send one request. Report how it went with [`Permit::succeeded`] or
/// [`Permit::failed`]; a probe dropped without a report (its caller gave up) counts as failed.
#[derive(Debug)]
pub(crate) struct Permit {
    breaker: Breaker,
    probe: bool,
    reported: bool,
}

impl Breaker {
    pub(crate) fn new(config: BreakerConfig, clock: Arc<dyn Clock>) -> Breaker {
        Breaker {
            inner: Arc::new(Inner {
                config,
                clock,
                state: Mutex::new(State::Closed {
                    failures: 0,
                    first_failure: Timestamp::UNIX_EPOCH,
                }),
            }),
        }
    }

    pub(crate) fn state(&self) -> BreakerState {
        match *self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } => BreakerState::Open { until },
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Leave to send a request, or how long to wait before asking again.
    /// How long the breaker will still refuse calls without sending them: the rest of an open
    /// cool-down, or a moment while a half-open probe is out. `None` when a call would go out.
    pub(crate) fn refusing_for(&self) -> Option<Duration> {
        let now = self.inner.clock.now();
        match *self.lock() {
            State::Open { until } if now < until => {
                let left = until.millis().saturating_sub(now.millis());
                Some(Duration::from_millis(u64::try_from(left).unwrap_or(0)))
            }
            State::HalfOpen { probing: true } => Some(HALF_OPEN_RETRY_AFTER),
            _ => None,
        }
    }

    pub(crate) fn permit(&self) -> Result<Permit, Duration> {
        let now = self.inner.clock.now();
        let mut state = self.lock();
        let probe = match *state {
            State::Closed { .. } => false,
            State::Open { until } if now < until => {
                let left = until.millis().saturating_sub(now.millis());
                return Err(Duration::from_millis(u64::try_from(left).unwrap_or(0)));
            }
            State::Open { .. } | State::HalfOpen { probing: false } => {
                *state = State::HalfOpen { probing: true };
                tracing::info!("stripe circuit breaker half-open: sending one probe");
                true
            }
            State::HalfOpen { probing: true } => return Err(HALF_OPEN_RETRY_AFTER),
        };
        drop(state);
        Ok(Permit {
            breaker: self.clone(),
            probe,
            reported: false,
        })
    }

    fn on_success(&self, probe: bool) {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => {
                *state = State::Closed {
                    failures: 0,
                    first_failure: Timestamp::UNIX_EPOCH,
                }
            }
            State::HalfOpen { .. } if probe => {
                tracing::info!("stripe circuit breaker closed: the probe succeeded");
                *state = State::Closed {
                    failures: 0,
                    first_failure: Timestamp::UNIX_EPOCH,
                };
            }
            // A request let through before the breaker opened says nothing about now.
            State::HalfOpen { .. } | State::Open { .. } => {}
        }
    }

    fn on_failure(&self, probe: bool) {
        let now = self.inner.clock.now();
        let config = self.inner.config;
        let mut state = self.lock();
        match *state {
            State::Closed {
                failures,
                first_failure,
            } => {
                let window_ms = millis(config.failure_window);
                let (failures, first_failure) = if failures == 0
                    || now.millis().saturating_sub(first_failure.millis()) > window_ms
                {
                    (1, now)
                } else {
                    (failures.saturating_add(1), first_failure)
                };
                *state = if failures >= config.failure_threshold {
                    tracing::warn!(failures, "stripe circuit breaker open");
                    State::Open {
                        until: now.plus_millis(millis(config.cool_down)),
                    }
                } else {
                    State::Closed {
                        failures,
                        first_failure,
                    }
                };
            }
            State::HalfOpen { .. } if probe => {
                tracing::warn!("stripe circuit breaker open again: the probe failed");
                *state = State::Open {
                    until: now.plus_millis(millis(config.cool_down)),
                };
            }
            State::HalfOpen { .. } | State::Open { .. } => {}
        }
    }

    /// Every change is one assignment after the checks, so a poisoned lock holds a consistent
    /// state and is taken over.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Permit {
    pub(crate) fn succeeded(mut self) {
        self.reported = true;
        self.breaker.on_success(self.probe);
    }

    pub(crate) fn failed(mut self) {
        self.reported = true;
        self.breaker.on_failure(self.probe);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        // Without this a cancelled probe would leave the breaker half-open and probing forever.
        if !self.reported && self.probe {
            self.breaker.on_failure(true);
        }
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kassa_kernel::ManualClock;

    const START_MS: i64 = 1_700_000_000_000;

    fn breaker() -> (Breaker, ManualClock) {
        let clock = ManualClock::new(Timestamp::from_millis(START_MS));
        let config = BreakerConfig {
            failure_threshold: 3,
            failure_window: Duration::from_secs(10),
            cool_down: Duration::from_secs(30),
        };
        (Breaker::new(config, Arc::new(clock.clone())), clock)
    }

    fn fail(breaker: &Breaker) {
        breaker.permit().unwrap().failed();
    }

    #[test]
    fn it_opens_after_the_threshold_of_consecutive_failures() {
        let (breaker, _) = breaker();
        fail(&breaker);
        fail(&breaker);
        assert_eq!(breaker.state(), BreakerState::Closed);
        fail(&breaker);
        assert_eq!(
            breaker.state(),
            BreakerState::Open {
                until: Timestamp::from_millis(START_MS + 30_000)
            }
        );
        assert_eq!(breaker.permit().unwrap_err(), Duration::from_secs(30));
    }

    #[test]
    fn a_success_resets_the_count() {
        let (breaker, _) = breaker();
        fail(&breaker);
        fail(&breaker);
        breaker.permit().unwrap().succeeded();
        fail(&breaker);
        fail(&breaker);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn failures_further_apart_than_the_window_do_not_add_up() {
        let (breaker, clock) = breaker();
        fail(&breaker);
        fail(&breaker);
        clock.advance(Duration::from_millis(10_001));
        fail(&breaker);
        assert_eq!(breaker.state(), BreakerState::Closed);
        fail(&breaker);
        fail(&breaker);
        assert!(matches!(breaker.state(), BreakerState::Open { .. }));
    }

    #[test]
    fn after_the_cool_down_one_probe_goes_through_and_its_success_closes() {
        let (breaker, clock) = breaker();
        for _ in 0..3 {
            fail(&breaker);
        }
        clock.advance(Duration::from_millis(29_999));
        assert_eq!(breaker.permit().unwrap_err(), Duration::from_millis(1));
        clock.advance(Duration::from_millis(1));
        let probe = breaker.permit().unwrap();
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert_eq!(breaker.permit().unwrap_err(), HALF_OPEN_RETRY_AFTER);
        probe.succeeded();
        assert_eq!(breaker.state(), BreakerState::Closed);
        breaker.permit().unwrap().succeeded();
    }

    #[test]
    fn a_failed_or_abandoned_probe_opens_it_again() {
        let (breaker, clock) = breaker();
        for _ in 0..3 {
            fail(&breaker);
        }
        clock.advance(Duration::from_secs(30));
        breaker.permit().unwrap().failed();
        assert_eq!(
            breaker.state(),
            BreakerState::Open {
                until: Timestamp::from_millis(START_MS + 60_000)
            }
        );
        clock.advance(Duration::from_secs(30));
        drop(breaker.permit().unwrap());
        assert!(matches!(breaker.state(), BreakerState::Open { .. }));
    }

    #[test]
    fn a_late_success_from_before_the_opening_does_not_close_it() {
        let (breaker, _) = breaker();
        let straggler = breaker.permit().unwrap();
        for _ in 0..3 {
            fail(&breaker);
        }
        straggler.succeeded();
        assert!(matches!(breaker.state(), BreakerState::Open { .. }));
    }
}
