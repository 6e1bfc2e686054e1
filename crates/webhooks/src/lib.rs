//! Webhooks: events sent to the shop's other systems as signed HTTP POSTs (DESIGN §7).
//!
//! Owns the tables `webhook_endpoints` (where to send, which event types, the signing secrets),
//! `webhook_deliveries` (one per endpoint and event: the exact body, its status and when it is
//! due), `webhook_attempts` (every HTTP attempt: when, how long, the status or error, the start
//! of the response body) and the consumer inbox `webhooks_inbox`. It reads no other district's
//! tables: events arrive on the bus.
//!
//! The flow: a [`WebhookConsumer`] on the bus records, in one transaction, the event in the
//! inbox and a pending delivery per subscribed enabled endpoint; [`WebhookService::deliver_due`]
//! (run in a loop by the server) claims due deliveries with a lease, POSTs them with a
//! `Kassa-Signature` ([`signature`]) to addresses that pass the target check ([`target`]), and
//! records the attempt: 2xx is `succeeded`, anything else is retried on the [`schedule`] until
//! `max_attempts`, then `dead`. Staff list, inspect and replay deliveries.
//!
//! Read [`model`] first, then the [`WebhookService`] trait; [`Webhooks`] implements it over
//! [`store::WebhookStore`] (every SQL statement) and `dispatch.rs` (the HTTP client).

mod consumer;
mod dispatch;
pub mod error;
pub mod migrations;
pub mod model;
pub mod schedule;
mod service;
pub mod signature;
pub mod store;
pub mod target;

pub use consumer::{body, WebhookConsumer, CONSUMER_NAME};
pub use dispatch::USER_AGENT_VALUE;
pub use error::{WebhookError, PROBLEM_TYPES};
pub use model::*;
pub use schedule::{DerivedJitter, FixedJitter, Jitter, RetrySchedule};
pub use service::{
    DeliverReport, EndpointPatch, NewEndpoint, SecretRotation, WebhookService, Webhooks,
    WebhooksConfig, DELIVERIES_PAGE_MAX, ENDPOINTS_MAX, LEASE_MARGIN, ROTATION_OVERLAP_DEFAULT,
    ROTATION_OVERLAP_MAX,
};
pub use store::DeliveryFilter;
