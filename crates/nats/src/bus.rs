//! [`JetStreamBus`]: the connection, the stream, and publishing.

use std::time::Duration;

use async_nats::header::NATS_MESSAGE_ID;
use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use async_nats::HeaderMap;
use async_trait::async_trait;
use kassa_events::{Bus, BusError, Event};

use crate::config::{redact_url, NatsConfig, NatsError};
use crate::envelope::{event_subject, Envelope};

/// Attempts at reading or creating the stream when the server fails a create on its side (a
/// JetStream error with a 5xx code, e.g. "error creating store for stream"): nats-server 2.9
/// answers so when two creates of the stream race, or while it removes the account's storage
/// directory as the account's last stream is deleted; the next attempt succeeds.
const STREAM_SETUP_ATTEMPTS: u32 = 3;
/// Grows linearly with the attempt: 100 ms, then 200 ms.
const STREAM_SETUP_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Why reading or creating the stream failed, and whether trying again may help.
enum Setup {
    ServerFailed(NatsError),
    Failed(NatsError),
}

/// A connection to NATS with the event stream in place. Cheap to clone: clones share the
/// connection, which async-nats keeps alive and reconnects on its own.
#[derive(Clone)]
pub struct JetStreamBus {
    pub(crate) config: NatsConfig,
    /// JetStream API handle; every request through it is bounded by `config.request_timeout`.
    pub(crate) jetstream: jetstream::Context,
}

impl std::fmt::Debug for JetStreamBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamBus")
            .field("url", &redact_url(&self.config.url))
            .field("stream", &self.config.stream)
            .field("subject_prefix", &self.config.subject_prefix)
            .finish()
    }
}

impl JetStreamBus {
    /// Connects and makes sure the stream exists: creates it when missing (subjects
    /// `<prefix>.>`, file storage, limits retention, the configured duplicate window and
    /// max age), otherwise leaves it as it is. Safe to call from every node at once. Fails,
    /// rather than waiting, when the server cannot be reached within `request_timeout`.
    pub async fn connect(config: NatsConfig) -> Result<JetStreamBus, NatsError> {
        config.validate()?;
        let url = redact_url(&config.url);
        let connecting = async_nats::ConnectOptions::new()
            .name("kassa")
            .connection_timeout(config.request_timeout)
            .request_timeout(Some(config.request_timeout))
            .connect(config.url.as_str());
        // async-nats bounds each connection attempt; this also bounds the whole call, whatever
        // the client does inside it (resolving several servers, the TLS handshake).
        let client = match tokio::time::timeout(config.request_timeout, connecting).await {
            Ok(Ok(client)) => client,
            Ok(Err(err)) => {
                return Err(NatsError::Connect {
                    url,
                    source: Box::new(err),
                })
            }
            Err(elapsed) => {
                return Err(NatsError::Connect {
                    url,
                    source: Box::new(elapsed),
                })
            }
        };
        let jetstream = jetstream::ContextBuilder::new()
            .timeout(config.request_timeout)
            .build(client);
        let bus = JetStreamBus { config, jetstream };
        bus.ensure_stream().await?;
        tracing::info!(
            url = %url,
            stream = %bus.config.stream,
            subjects = %bus.config.subject_filter(),
            "connected to NATS JetStream"
        );
        Ok(bus)
    }

    /// The configuration this bus was connected with.
    pub fn config(&self) -> &NatsConfig {
        &self.config
    }

    /// Messages in the stream now (every district's events still within `max_age`).
    pub async fn stream_messages(&self) -> Result<u64, NatsError> {
        let stream = self
            .jetstream
            .get_stream(&self.config.stream)
            .await
            .map_err(|err| self.stream_error(err))?;
        Ok(stream.cached_info().state.messages)
    }

    /// Deletes the stream with every message and consumer in it: for tests and for an operator
    /// starting over, never called by kassa itself.
    pub async fn delete_stream(&self) -> Result<(), NatsError> {
        self.jetstream
            .delete_stream(&self.config.stream)
            .await
            .map(|_| ())
            .map_err(|err| self.stream_error(err))
    }

    /// Reads the stream, creating it if it is missing, and checks it listens on our subjects.
    /// Two nodes may both find it missing and both create it: the server accepts a create with
    /// the same configuration as a no-op, and a create that lost to a different configuration
    /// falls back to reading the winner's. A create the server failed on its side is tried
    /// again, a few times (see [`STREAM_SETUP_ATTEMPTS`]).
    async fn ensure_stream(&self) -> Result<(), NatsError> {
        let mut attempt = 1;
        let info = loop {
            match self.read_or_create_stream().await {
                Ok(info) => break info,
                Err(Setup::ServerFailed(err)) if attempt < STREAM_SETUP_ATTEMPTS => {
                    tracing::warn!(
                        stream = %self.config.stream,
                        attempt,
                        error = %error_chain(&err),
                        "NATS failed to create the stream; trying again"
                    );
                    tokio::time::sleep(STREAM_SETUP_RETRY_DELAY * attempt).await;
                    attempt += 1;
                }
                Err(Setup::ServerFailed(err) | Setup::Failed(err)) => return Err(err),
            }
        };
        let wanted = self.config.subject_filter();
        if !info
            .config
            .subjects
            .iter()
            .any(|subject| subject == &wanted || subject == ">")
        {
            return Err(NatsError::StreamSubjects {
                stream: self.config.stream.clone(),
                subjects: info.config.subjects,
                wanted,
            });
        }
        Ok(())
    }

    async fn read_or_create_stream(&self) -> Result<stream::Info, Setup> {
        match self.jetstream.get_stream(&self.config.stream).await {
            Ok(stream) => Ok(stream.cached_info().clone()),
            Err(err) if is_stream_not_found(&err) => self.create_stream().await,
            Err(err) => Err(Setup::Failed(self.stream_error(err))),
        }
    }

    async fn create_stream(&self) -> Result<stream::Info, Setup> {
        let config = stream::Config {
            name: self.config.stream.clone(),
            description: Some(
                "kassa events: every district's outbox, published by its relay".into(),
            ),
            subjects: vec![self.config.subject_filter()],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            discard: stream::DiscardPolicy::Old,
            duplicate_window: self.config.duplicate_window,
            max_age: self.config.max_age,
            ..stream::Config::default()
        };
        match self.jetstream.create_stream(config).await {
            Ok(stream) => {
                tracing::info!(stream = %self.config.stream, "created the JetStream stream");
                Ok(stream.cached_info().clone())
            }
            Err(err) if is_stream_name_taken(&err) => {
                let stream = self
                    .jetstream
                    .get_stream(&self.config.stream)
                    .await
                    .map_err(|err| Setup::Failed(self.stream_error(err)))?;
                Ok(stream.cached_info().clone())
            }
            Err(err) if is_server_failure(&err) => Err(Setup::ServerFailed(self.stream_error(err))),
            Err(err) => Err(Setup::Failed(self.stream_error(err))),
        }
    }

    pub(crate) fn stream_error(
        &self,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> NatsError {
        NatsError::Stream {
            stream: self.config.stream.clone(),
            source: Box::new(err),
        }
    }

    /// Sends the message and waits for the server's PubAck: only then is the event stored (or
    /// recognised as a duplicate). Both waits are bounded by the context's request timeout.
    async fn publish_acked(&self, source: &str, event: &Event) -> Result<bool, BusError> {
        let subject = event_subject(&self.config.subject_prefix, source, &event.event_type)
            .map_err(BusError)?;
        let body = Envelope::new(source, event)
            .to_json()
            .map_err(|err| BusError(format!("event {} cannot be encoded: {err}", event.id)))?;
        let mut headers = HeaderMap::new();
        headers.insert(NATS_MESSAGE_ID, event.id.to_string());
        let pending = self
            .jetstream
            .publish_with_headers(subject, headers, body.into())
            .await
            .map_err(|err| publish_error(event, &err))?;
        let ack = pending.await.map_err(|err| publish_error(event, &err))?;
        if ack.stream != self.config.stream {
            // Another stream also listens on our subjects and answered; ours may not have the
            // event. Refusing makes the relay retry, and the log names the culprit.
            return Err(BusError(format!(
                "event {} was stored by stream {}, not {}",
                event.id, ack.stream, self.config.stream
            )));
        }
        Ok(ack.duplicate)
    }
}

#[async_trait]
impl Bus for JetStreamBus {
    /// Returns once the event is durably in the stream (or the server recognised its id as a
    /// duplicate within the window). Any error or timeout is a `BusError`; the relay then keeps
    /// the event unpublished and tries again on its next pass.
    async fn publish(&self, source: &str, event: &Event) -> Result<(), BusError> {
        // Bounds the whole publish: the send and the PubAck each have the timeout, and a relay
        // pass must not wait for two of them.
        let limit = self.config.request_timeout;
        match tokio::time::timeout(limit, self.publish_acked(source, event)).await {
            Ok(Ok(duplicate)) => {
                tracing::debug!(
                    event_id = %event.id,
                    event_type = %event.event_type,
                    source,
                    duplicate,
                    "event published to NATS"
                );
                Ok(())
            }
            Ok(Err(err)) => {
                tracing::warn!(event_id = %event.id, source, error = %err, "NATS publish failed");
                Err(err)
            }
            Err(_) => {
                let err = BusError(format!(
                    "event {} was not acknowledged by NATS within {}",
                    event.id,
                    humanize(limit)
                ));
                tracing::warn!(event_id = %event.id, source, error = %err, "NATS publish failed");
                Err(err)
            }
        }
    }
}

fn publish_error(event: &Event, err: &jetstream::context::PublishError) -> BusError {
    let detail = match err.kind() {
        PublishErrorKind::StreamNotFound => "no stream listens on its subject".to_string(),
        PublishErrorKind::TimedOut => "timed out waiting for the server".to_string(),
        _ => error_chain(err),
    };
    BusError(format!("publishing event {} failed: {detail}", event.id))
}

/// An error and its sources on one line: `BusError` is a string, so the chain is kept in it.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn humanize(duration: Duration) -> String {
    format!("{} ms", duration.as_millis())
}

fn is_stream_not_found(err: &jetstream::context::GetStreamError) -> bool {
    matches!(
        err.kind(),
        jetstream::context::GetStreamErrorKind::JetStream(js)
            if js.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
    )
}

fn is_server_failure(err: &jetstream::context::CreateStreamError) -> bool {
    matches!(
        err.kind(),
        jetstream::context::CreateStreamErrorKind::JetStream(js) if js.code() >= 500
    )
}

fn is_stream_name_taken(err: &jetstream::context::CreateStreamError) -> bool {
    matches!(
        err.kind(),
        jetstream::context::CreateStreamErrorKind::JetStream(js)
            if js.error_code() == jetstream::ErrorCode::STREAM_NAME_EXIST
    )
}
