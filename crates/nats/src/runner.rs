//! Consuming: one durable pull consumer per [`kassa_events::Consumer`], and the task that feeds
//! it events one at a time (see the crate docs for the ordering this buys).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::{AckKind, Message};
use futures_util::StreamExt;
use kassa_events::Consumer;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::bus::{error_chain, JetStreamBus};
use crate::config::NatsError;
use crate::envelope::Envelope;

/// How long the server waits for a delivered event's ack before delivering it again. A handler
/// that runs longer keeps its event by reporting progress every 10 s (`PROGRESS_EVERY`).
pub const ACK_WAIT: Duration = Duration::from_secs(30);
/// A third of [`ACK_WAIT`]: two progress reports may be lost before the server redelivers.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// The delay before the first redelivery of an event whose `handle` failed: short, since most
/// failures are a busy database that recovers at once.
const NAK_DELAY_FIRST: Duration = Duration::from_millis(100);
/// The longest delay between two attempts at one event: the consumer is blocked on it, so it is
/// retried often enough to resume within seconds of the cause going away.
const NAK_DELAY_MAX: Duration = Duration::from_secs(10);
/// How long one pull request waits on the server for an event before the client renews it;
/// the server sends a heartbeat every [`PULL_HEARTBEAT`] meanwhile, so a dead connection is
/// noticed within seconds. Short, so that a stopped runner's last request lapses quickly.
const PULL_EXPIRES: Duration = Duration::from_secs(5);
const PULL_HEARTBEAT: Duration = Duration::from_secs(2);
/// The wait before opening the message stream again after it failed or ended.
const REOPEN_DELAY: Duration = Duration::from_secs(1);
/// Consumer names become part of JetStream API subjects and of file names on the server;
/// kassa's consumer names are short, so this is only a guard.
const CONSUMER_NAME_LEN_MAX: usize = 64;

/// The durable consumer name for a kassa consumer named `name`: ASCII letters, digits, `-` and
/// `_` kept, every other character replaced by `_`, cut at 64 characters. Two names differing
/// only in replaced characters (`mail.sender`, `mail_sender`) share one durable consumer, so
/// kassa's consumer names stick to the kept characters.
pub fn consumer_durable_name(name: &str) -> Result<String, NatsError> {
    let durable: String = name
        .chars()
        .take(CONSUMER_NAME_LEN_MAX)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if durable.is_empty() {
        return Err(NatsError::InvalidConsumerName(name.to_string()));
    }
    Ok(durable)
}

/// The redelivery delay after a failed attempt, by how many times the server delivered the event
/// (1 on the first delivery): 100 ms, doubling each time, at most 10 s. Counted by the server,
/// so a restarted runner keeps backing off where the previous one was.
pub fn nak_delay(delivered: i64) -> Duration {
    let doublings = u32::try_from(delivered.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    NAK_DELAY_FIRST
        .saturating_mul(1_u32 << doublings)
        .min(NAK_DELAY_MAX)
}

impl JetStreamBus {
    /// Creates, if missing, the durable pull consumer for `consumer` (named by
    /// [`consumer_durable_name`]: every event of the stream from the first, explicit acks, one
    /// unacknowledged event at a time) and spawns the task that hands it its events in stream
    /// order. The task ends when `shutdown` becomes `true` or its sender is dropped, after
    /// finishing the event in hand; aborting the handle stops it at once (the event in hand is
    /// then redelivered after [`ACK_WAIT`]). Errors here are the consumer's creation; later
    /// errors are logged and retried by the task.
    pub async fn spawn_consumer(
        &self,
        consumer: Arc<dyn Consumer>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<JoinHandle<()>, NatsError> {
        let durable = consumer_durable_name(consumer.name())?;
        let pull = self.durable_consumer(&durable).await?;
        let runner = Runner {
            consumer,
            pull,
            durable,
        };
        Ok(tokio::spawn(runner.run(shutdown)))
    }

    /// Events of the stream that the consumer named `name` has not acknowledged yet: those not
    /// delivered plus the one in hand. For ops metrics: a number that keeps growing means the
    /// consumer is stuck on an event or too slow.
    pub async fn consumer_pending(&self, name: &str) -> Result<u64, NatsError> {
        let durable = consumer_durable_name(name)?;
        let stream = self
            .jetstream
            .get_stream_no_info(&self.config.stream)
            .await
            .map_err(|err| self.stream_error(err))?;
        let info = stream
            .consumer_info(&durable)
            .await
            .map_err(|err| self.consumer_error(&durable, err))?;
        let in_hand = u64::try_from(info.num_ack_pending).unwrap_or(u64::MAX);
        Ok(info.num_pending.saturating_add(in_hand))
    }

    async fn durable_consumer(&self, durable: &str) -> Result<PullConsumer, NatsError> {
        let stream = self
            .jetstream
            .get_stream_no_info(&self.config.stream)
            .await
            .map_err(|err| self.stream_error(err))?;
        let config = pull::Config {
            durable_name: Some(durable.to_string()),
            description: Some("kassa event consumer".into()),
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::Explicit,
            ack_wait: ACK_WAIT,
            filter_subject: self.config.subject_filter(),
            // The ordering promise: nothing is delivered while an event is unacknowledged.
            max_ack_pending: 1,
            ..pull::Config::default()
        };
        let pull = stream
            .get_or_create_consumer(durable, config)
            .await
            .map_err(|err| self.consumer_error(durable, err))?;
        let existing = &pull.cached_info().config;
        if existing.max_ack_pending != 1 || existing.filter_subject != self.config.subject_filter()
        {
            // Someone changed it on the server; we leave it, but its events may arrive out of
            // order or not at all.
            tracing::warn!(
                consumer = durable,
                max_ack_pending = existing.max_ack_pending,
                filter_subject = %existing.filter_subject,
                "the durable consumer's configuration differs from kassa's"
            );
        }
        Ok(pull)
    }

    fn consumer_error(
        &self,
        durable: &str,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> NatsError {
        NatsError::Consumer {
            stream: self.config.stream.clone(),
            consumer: durable.to_string(),
            source: Box::new(err),
        }
    }
}

/// One consumer's delivery loop.
struct Runner {
    consumer: Arc<dyn Consumer>,
    pull: PullConsumer,
    /// The durable consumer's name, for logs.
    durable: String,
}

impl Runner {
    async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(consumer = %self.durable, "NATS consumer started");
        loop {
            if *shutdown.borrow_and_update() {
                break;
            }
            let opened = self
                .pull
                .stream()
                .max_messages_per_batch(1)
                .expires(PULL_EXPIRES)
                .heartbeat(PULL_HEARTBEAT)
                .messages()
                .await;
            let mut messages = match opened {
                Ok(messages) => messages,
                Err(err) => {
                    tracing::warn!(
                        consumer = %self.durable,
                        error = %error_chain(&err),
                        "could not pull from NATS; retrying"
                    );
                    if wait_or_stop(&mut shutdown, REOPEN_DELAY).await {
                        break;
                    }
                    continue;
                }
            };
            loop {
                let next = tokio::select! {
                    biased;
                    _ = stopped(&mut shutdown) => {
                        tracing::info!(consumer = %self.durable, "NATS consumer stopped");
                        return;
                    }
                    next = messages.next() => next,
                };
                match next {
                    Some(Ok(message)) => self.deliver(message).await,
                    Some(Err(err)) => {
                        // Missed heartbeats and failed pulls: the stream renews its pull
                        // requests itself, and async-nats reconnects underneath.
                        tracing::warn!(
                            consumer = %self.durable,
                            error = %error_chain(&err),
                            "pulling from NATS failed"
                        );
                    }
                    None => break,
                }
            }
            if wait_or_stop(&mut shutdown, REOPEN_DELAY).await {
                break;
            }
        }
        tracing::info!(consumer = %self.durable, "NATS consumer stopped");
    }

    /// Hands one message to the consumer and settles it with the server: ack on success, a
    /// delayed nak on failure (it comes back before anything later), term if it is not an event.
    async fn deliver(&self, message: Message) {
        let (delivered, sequence) = match message.info() {
            Ok(info) => (info.delivered, info.stream_sequence),
            Err(err) => {
                tracing::error!(
                    consumer = %self.durable,
                    subject = %message.subject,
                    error = %err,
                    "a message without JetStream metadata; terminating it"
                );
                self.settle(&message, AckKind::Term).await;
                return;
            }
        };
        let (source, event) = match Envelope::from_json(&message.payload) {
            Ok(envelope) => envelope.into_event(),
            Err(err) => {
                tracing::error!(
                    consumer = %self.durable,
                    subject = %message.subject,
                    stream_sequence = sequence,
                    error = %err,
                    "a message that is not a kassa event envelope; terminating it"
                );
                self.settle(&message, AckKind::Term).await;
                return;
            }
        };
        match self.handle_with_progress(&message, &source, &event).await {
            Ok(()) => {
                // Confirmed by the server, so a stopped runner's successor does not get the
                // event again (were the ack lost, the event would come back; the consumer's
                // inbox would absorb it).
                if let Err(err) = message.double_ack().await {
                    tracing::warn!(
                        consumer = %self.durable,
                        event_id = %event.id,
                        error = %error_chain(&*err),
                        "the ack of a handled event was not confirmed; it may be delivered again"
                    );
                }
            }
            Err(err) => {
                let delay = nak_delay(delivered);
                tracing::warn!(
                    consumer = %self.durable,
                    event_id = %event.id,
                    event_type = %event.event_type,
                    source = %source,
                    attempt = delivered,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    error = %err,
                    "handling an event failed; it will be delivered again"
                );
                self.settle(&message, AckKind::Nak(Some(delay))).await;
            }
        }
    }

    /// Runs `handle`, telling the server every [`PROGRESS_EVERY`] that the event is still being
    /// worked on, so a slow handler is not overtaken by a redelivery of its own event.
    async fn handle_with_progress(
        &self,
        message: &Message,
        source: &str,
        event: &kassa_events::Event,
    ) -> Result<(), kassa_events::BusError> {
        let handling = self.consumer.handle(source, event);
        tokio::pin!(handling);
        let mut progress =
            tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
        loop {
            tokio::select! {
                result = &mut handling => return result,
                _ = progress.tick() => self.settle(message, AckKind::Progress).await,
            }
        }
    }

    /// Sends an ack of `kind` without waiting for its confirmation; a lost one only means a
    /// redelivery (a lost nak or term: after [`ACK_WAIT`]).
    async fn settle(&self, message: &Message, kind: AckKind) {
        let label = match kind {
            AckKind::Nak(_) => "nak",
            AckKind::Term => "term",
            AckKind::Progress => "progress",
            _ => "ack",
        };
        if let Err(err) = message.ack_with(kind).await {
            tracing::warn!(
                consumer = %self.durable,
                kind = label,
                error = %error_chain(&*err),
                "could not send an ack to NATS"
            );
        }
    }
}

/// Resolves when `shutdown` is `true` or can no longer change (its sender is gone: nobody could
/// stop the runner any more, so it stops now).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Waits `delay` unless stopped first; returns whether to stop.
async fn wait_or_stop(shutdown: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    tokio::select! {
        _ = stopped(shutdown) => true,
        _ = tokio::time::sleep(delay) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_names_keep_plain_characters_and_replace_the_rest() {
        assert_eq!(
            consumer_durable_name("search-index_2").unwrap(),
            "search-index_2"
        );
        assert_eq!(
            consumer_durable_name("mail.sender *>/\\ é").unwrap(),
            "mail_sender_______"
        );
        assert_eq!(consumer_durable_name(&"x".repeat(100)).unwrap().len(), 64);
        assert!(consumer_durable_name("").is_err());
        assert!(crate::config::is_valid_name(
            &consumer_durable_name("a.b c*d>e").unwrap()
        ));
    }

    #[test]
    fn redelivery_delays_double_from_100_ms_up_to_10_s() {
        let delays: Vec<u128> = (0..=9).map(|n| nak_delay(n).as_millis()).collect();
        assert_eq!(
            delays,
            [100, 100, 200, 400, 800, 1_600, 3_200, 6_400, 10_000, 10_000]
        );
        assert_eq!(nak_delay(i64::MAX), Duration::from_secs(10));
        assert_eq!(nak_delay(i64::MIN), Duration::from_millis(100));
    }
}
