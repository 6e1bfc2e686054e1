//! Payments: taking money for orders through a gateway, exactly once (DESIGN promise 2).
//!
//! Owns the tables `payments` (one per order: amount, status, captured and refunded amounts,
//! the gateway's reference, the pending gateway operation and its lease), `payment_refunds`,
//! `payment_attempts` (every gateway call that can move money, with the idempotency key it
//! carried and what came back) and `payments_outbox` (the events of [`events`]). It does not own
//! orders: a payment names its order only by an opaque [`OrderRef`], and the checkout saga in
//! `orders` decides what a decline or an unknown outcome means for the order. It never sees card
//! data: the storefront sends a gateway token ([`PaymentMethodToken`]), kept only while an
//! authorization's outcome is open, and never printed.
//!
//! Read [`model`] first ([`Payment`] and its state machine, which mirrors Stripe's
//! PaymentIntent with manual capture), then [`keys`] (the deterministic idempotency keys), the
//! [`gateway::PaymentGateway`] trait and its contract about unknown outcomes, and the
//! [`PaymentService`] trait. [`Payments`] implements it over [`store::PaymentStore`], which holds
//! every SQL statement of the crate; its module documentation explains the claim, call, record
//! steps every money-moving call takes. [`connectors::sandbox`] is the gateway of `kassa serve`
//! and of the tests, with the payment-method tokens storefront developers use.

pub mod connectors;
pub mod error;
pub mod events;
pub mod gateway;
pub mod keys;
pub mod migrations;
pub mod model;
pub mod service;
pub mod store;

pub use connectors::sandbox::{SandboxConfig, SandboxGateway};
pub use error::{PaymentError, PROBLEM_TYPES};
pub use gateway::PaymentGateway;
pub use keys::IdempotencyKey;
pub use model::*;
pub use service::{PaymentService, Payments};
