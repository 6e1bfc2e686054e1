//! The NATS JetStream bus: where a [`kassa_events::Relay`] publishes when kassa runs on several
//! nodes, and where each [`kassa_events::Consumer`] reads from, at its own pace (DESIGN §7).
//!
//! Start with [`JetStreamBus::connect`] (configured by [`NatsConfig`]), then the
//! [`kassa_events::Bus`] implementation on [`JetStreamBus`] and [`JetStreamBus::spawn_consumer`].
//! The crate does not wire itself into the server and reads no settings of its own.
//!
//! # Stream and subjects
//!
//! One stream (`KASSA_EVENTS` by default) holds every district's events under
//! `<prefix>.<source>.<event_type>`, e.g. `kassa.events.orders.order.placed`: the stream listens on
//! `<prefix>.>`, so a new district or event type needs no change on the server. The stream is
//! file-backed with limits retention: messages stay for `max_age` (7 days, the same as the
//! outboxes' retention) whether or not a consumer read them, which is what lets a consumer added
//! later, or one that was down for a day, catch up. [`JetStreamBus::connect`] creates the stream
//! when it is missing and otherwise leaves it exactly as it is — its limits are the operator's
//! once it exists — so every node may start at once; it refuses only a stream whose subjects do
//! not cover the prefix, because nothing published would land in it.
//!
//! # Ids and deduplication
//!
//! Each message carries the event id in the `Nats-Msg-Id` header and a JSON envelope of the event
//! as its body (id, type, version, source, aggregate id, `occurred_at_ms`, data). A publish
//! returns only once the server acknowledged storing it (the PubAck), so the relay marks an event
//! published only when it is durable in the stream.
//!
//! The relay publishes at least once: if it stops between a publish and marking the event
//! published, its next pass publishes the event again. Within the stream's duplicate window
//! (2 minutes by default) the server recognises the id and drops the copy, acknowledging it
//! without storing it, so consumers never see it. A copy published later than that — a relay
//! down for longer than the window — is stored a second time; consumers then skip it by its id
//! in their inbox ([`kassa_events::inbox::first_time`]), as they do under the in-process bus.
//!
//! # Consumers and ordering
//!
//! Each [`kassa_events::Consumer`] gets a durable pull consumer on the server named after
//! [`kassa_events::Consumer::name`], so the server remembers what it acknowledged across restarts
//! and a new runner resumes after the last acknowledged event. The consumer allows one
//! unacknowledged message at a time (`max_ack_pending = 1`): the next event is delivered only
//! after the previous one was handled and acknowledged. That gives every consumer the events in
//! stream order — the order the relays published them, so per aggregate the order the district
//! recorded them — even across failures: a failed `handle` is negatively acknowledged with a
//! growing delay (100 ms doubling to 10 s) and the same event comes back before any later one.
//! Several runners of the same consumer (one per node) share the durable consumer and still see
//! one event at a time between them.
//!
//! The price is throughput: one consumer handles events one after another, each costing a round
//! trip to the server for the delivery and one for the confirmed ack, so a consumer manages about
//! 3,000 events a second against a server on the same machine (measured in a release build),
//! fewer across a network, however many nodes run it. And one event whose `handle` keeps failing
//! holds up that consumer (only that one) until it succeeds; it shows as a growing
//! [`JetStreamBus::consumer_pending`] and a warning per attempt. Consumers that do not need order
//! across aggregates could later be split by subject filter or run with a higher
//! limit; nothing here does that yet.
//!
//! A message whose body is not an envelope this version understands is logged and terminated
//! (never redelivered), so it cannot block the consumer.

mod bus;
mod config;
mod envelope;
mod runner;

pub use bus::JetStreamBus;
pub use config::{
    NatsConfig, NatsError, DEFAULT_DUPLICATE_WINDOW, DEFAULT_MAX_AGE, DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_STREAM, DEFAULT_SUBJECT_PREFIX,
};
pub use envelope::Envelope;
pub use runner::{consumer_durable_name, nak_delay, ACK_WAIT};
