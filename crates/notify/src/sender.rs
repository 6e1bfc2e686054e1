//! [`Sender`]: delivers due messages through a [`Mailer`], one claimed message at a time.
//!
//! A pass claims the queued message due longest ago with a lease (the store's conditional
//! `UPDATE`), sends it outside any transaction, and records the outcome under the same lease:
//! `sent`; a retry after an exponential backoff with jitter; or `failed` when the error is
//! permanent or the attempts are used up. Several senders (one per node) may run passes at once:
//! each message is held by one lease at a time, so none is sent twice at once. A sender that
//! dies mid-send leaves its message leased; it is due again when the lease ends and is then
//! sent once more, so delivery is at least once — the `Message-ID` stays the same for a
//! receiver to notice.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use kassa_kernel::{Clock, Email, Timestamp};

use crate::mailer::{mailer_for, Mailer, OutgoingMail};
use crate::model::{Message, MessageId, NotifyConfig, RetryPolicy, MAX_ATTEMPTS_MAX};
use crate::store::NotifyStore;
use crate::{NotifyError, SendError};

kassa_kernel::typed_id!(
    /// One claim of one message by one sender: later writes name it, so a sender whose lease
    /// was taken over cannot overwrite the new holder's outcome.
    SendLeaseId, "lease"
);

/// Most messages one [`Sender::send_due`] pass claims, whatever the caller asks: each send may
/// take seconds against a slow relay, so a pass stays bounded; the worker simply runs again.
pub const SEND_BATCH_MAX: u32 = 100;

/// What one [`Sender::send_due`] pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendPass {
    /// Messages claimed, so attempts made.
    pub claimed: u32,
    pub sent: u32,
    /// Failed with attempts left; queued again for later.
    pub retrying: u32,
    /// Now `failed`: refused for good, or that was the last attempt.
    pub failed: u32,
    /// Outcomes not recorded because another sender had taken the message over (the send ran
    /// past the lease). That sender attempts it again.
    pub lost: u32,
}

/// Where in the jitter band a retry lands, so messages that failed together spread out.
pub trait Jitter: Send + Sync + fmt::Debug {
    /// From -1000 (the full jitter earlier) to 1000 (the full jitter later) for the retry
    /// after `attempt` of `message`; values outside are clamped.
    fn per_mille(&self, message: MessageId, attempt: u32) -> i64;
}

/// The default: derived from the random bits of the message id and the attempt number, so
/// messages spread without a random number source, and one message's schedule is reproducible.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdJitter;

impl Jitter for IdJitter {
    fn per_mille(&self, message: MessageId, attempt: u32) -> i64 {
        let bytes = message.as_uuid().as_bytes();
        let mut tail = [0_u8; 8];
        tail.copy_from_slice(&bytes[8..]);
        let mixed = mix(u64::from_be_bytes(tail) ^ u64::from(attempt).wrapping_mul(GOLDEN));
        // 0 ..= 2000, shifted to -1000 ..= 1000; the remainder fits any integer type.
        i64::try_from(mixed % 2001).unwrap_or(0) - 1000
    }
}

/// No jitter: retries land exactly on the doubling schedule (tests, reproducible runs).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoJitter;

impl Jitter for NoJitter {
    fn per_mille(&self, _: MessageId, _: u32) -> i64 {
        0
    }
}

/// 2^64 divided by the golden ratio: spreads consecutive attempt numbers over all bits.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 finaliser: every input bit affects every output bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1 for the first): `base × 2^(attempt-1)`
    /// capped at `max`, then moved by `per_mille` thousandths of `jitter_percent` of itself.
    pub fn delay_ms(&self, attempt: u32, per_mille: i64) -> i64 {
        let doublings = attempt.saturating_sub(1).min(40);
        let base = millis(self.base).max(0);
        let doubled = base
            .saturating_mul(1_i64 << doublings)
            .min(millis(self.max));
        let spread = doubled.saturating_mul(i64::from(self.jitter_percent)) / 100;
        let shift = spread.saturating_mul(per_mille.clamp(-1000, 1000)) / 1000;
        doubled.saturating_add(shift).max(0)
    }
}

/// Delivers queued messages; see the module documentation.
pub struct Sender {
    store: NotifyStore,
    mailer: Arc<dyn Mailer>,
    /// For the time after a send: when it was sent, or when to retry.
    clock: Arc<dyn Clock>,
    jitter: Arc<dyn Jitter>,
    from: Email,
    shop_name: String,
    max_attempts: u32,
    retry: RetryPolicy,
    lease: Duration,
}

impl Sender {
    /// A sender through `mailer`. `InvalidConfig` for a From address that is not one, attempts
    /// outside 1 ..= [`MAX_ATTEMPTS_MAX`], or a lease under two seconds (a send gets half).
    pub fn new(
        store: NotifyStore,
        mailer: Arc<dyn Mailer>,
        clock: Arc<dyn Clock>,
        config: &NotifyConfig,
    ) -> Result<Sender, NotifyError> {
        let from = Email::parse(&config.from).map_err(|err| {
            NotifyError::InvalidConfig(format!("from address {:?}: {err}", config.from))
        })?;
        if !(1..=MAX_ATTEMPTS_MAX).contains(&config.max_attempts) {
            return Err(NotifyError::InvalidConfig(format!(
                "max_attempts is {}; it must be 1 to {MAX_ATTEMPTS_MAX}",
                config.max_attempts
            )));
        }
        if config.send_lease < Duration::from_secs(2) {
            return Err(NotifyError::InvalidConfig(
                "send_lease must be at least 2 seconds".into(),
            ));
        }
        Ok(Sender {
            store,
            mailer,
            clock,
            jitter: Arc::new(IdJitter),
            from,
            shop_name: config.shop_name.clone(),
            max_attempts: config.max_attempts,
            retry: config.retry,
            lease: config.send_lease,
        })
    }

    /// A sender through the transport `config.transport` names ([`mailer_for`]).
    pub fn from_config(
        store: NotifyStore,
        clock: Arc<dyn Clock>,
        config: &NotifyConfig,
    ) -> Result<Sender, NotifyError> {
        Sender::new(store, mailer_for(config)?, clock, config)
    }

    /// Replaces the jitter source ([`IdJitter`] by default).
    pub fn with_jitter(mut self, jitter: Arc<dyn Jitter>) -> Sender {
        self.jitter = jitter;
        self
    }

    /// The transport's name, as recorded on sent messages.
    pub fn transport(&self) -> &'static str {
        self.mailer.transport()
    }

    /// Sends up to `limit` (at most [`SEND_BATCH_MAX`]) messages due at `now`, oldest due
    /// first, one at a time. A storage error ends the pass; a message it had claimed is due
    /// again when its lease ends.
    pub async fn send_due(&self, now: Timestamp, limit: u32) -> Result<SendPass, NotifyError> {
        let limit = limit.min(SEND_BATCH_MAX);
        let mut pass = SendPass::default();
        while pass.claimed < limit {
            let lease = SendLeaseId::new().to_string();
            let lease_until = now.plus_millis(millis(self.lease));
            let Some(message) = self.store.claim_due(now, &lease, lease_until).await? else {
                break;
            };
            pass.claimed += 1;
            let result = self.attempt(&message).await;
            self.record(&message, &lease, result, &mut pass).await?;
        }
        Ok(pass)
    }

    /// One delivery attempt, given at most half the lease so its outcome is recorded while the
    /// lease still holds.
    async fn attempt(&self, message: &Message) -> Result<(), SendError> {
        let mail = OutgoingMail {
            id: message.id,
            from: self.from.clone(),
            from_name: self.shop_name.clone(),
            to: message.to.clone(),
            subject: message.subject.clone(),
            text_body: message.text_body.clone(),
            html_body: message.html_body.clone(),
            date: self.clock.now(),
        };
        match tokio::time::timeout(self.lease / 2, self.mailer.send(&mail)).await {
            Ok(result) => result,
            Err(_) => Err(SendError::Transient(format!(
                "the {} transport did not answer within {} ms",
                self.mailer.transport(),
                millis(self.lease / 2)
            ))),
        }
    }

    async fn record(
        &self,
        message: &Message,
        lease: &str,
        result: Result<(), SendError>,
        pass: &mut SendPass,
    ) -> Result<(), NotifyError> {
        let now = self.clock.now();
        let transport = self.mailer.transport();
        let recorded = match &result {
            Ok(()) => {
                let recorded = self
                    .store
                    .mark_sent(message.id, lease, transport, now)
                    .await?;
                if recorded {
                    pass.sent += 1;
                    tracing::info!(message_id = %message.id, order_id = %message.order_id,
                        kind = %message.kind, transport, attempts = message.attempts, "email sent");
                }
                recorded
            }
            Err(err) if err.is_retryable() && message.attempts < self.max_attempts => {
                let per_mille = self.jitter.per_mille(message.id, message.attempts);
                let retry_at = now.plus_millis(self.retry.delay_ms(message.attempts, per_mille));
                let recorded = self
                    .store
                    .schedule_retry(message.id, lease, retry_at, &err.to_string())
                    .await?;
                if recorded {
                    pass.retrying += 1;
                    tracing::warn!(message_id = %message.id, attempts = message.attempts,
                        retry_at = %retry_at.to_rfc3339(), error = %err,
                        "email not sent; will retry");
                }
                recorded
            }
            Err(err) => {
                let recorded = self
                    .store
                    .mark_failed(message.id, lease, &err.to_string())
                    .await?;
                if recorded {
                    pass.failed += 1;
                    tracing::error!(message_id = %message.id, order_id = %message.order_id,
                        attempts = message.attempts, retryable = err.is_retryable(), error = %err,
                        "email failed for good");
                }
                recorded
            }
        };
        if !recorded {
            pass.lost += 1;
            tracing::warn!(message_id = %message.id, "the send outlived its lease; another sender has the message");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_the_base_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let waits: Vec<i64> = (1..=9).map(|n| policy.delay_ms(n, 0) / 1000).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(policy.delay_ms(u32::MAX, 0), 3_600_000);
    }

    #[test]
    fn jitter_moves_a_wait_by_at_most_its_percentage() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay_ms(1, 1000), 36_000);
        assert_eq!(policy.delay_ms(1, -1000), 24_000);
        assert_eq!(policy.delay_ms(1, 5000), 36_000);
        assert_eq!(policy.delay_ms(8, 1000), 4_320_000);
    }

    #[test]
    fn id_jitter_stays_in_band_and_spreads_messages() {
        let samples: Vec<i64> = (0..200)
            .map(|_| IdJitter.per_mille(MessageId::new(), 1))
            .collect();
        assert!(samples.iter().all(|p| (-1000..=1000).contains(p)));
        assert!(samples.iter().any(|p| *p < -500) && samples.iter().any(|p| *p > 500));
        let id = MessageId::new();
        assert_eq!(IdJitter.per_mille(id, 3), IdJitter.per_mille(id, 3));
    }
}
