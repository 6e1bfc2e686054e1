//! Orders: what a shopper bought, and the checkout saga that turns a cart into a confirmed,
//! paid order without overselling or charging twice (DESIGN §5, promises 1–3).
//!
//! Owns the tables `orders` (the snapshot, status, saga step and lease, and `open_cart_id`, whose
//! UNIQUE constraint is "one open order per cart"), `order_lines`, `order_fulfilments` with
//! `order_fulfilment_lines`, `order_flags` (what staff must look at, such as a payment dispute),
//! the outbox `orders_outbox` (see [`events`]) and the inbox `orders_inbox` of
//! [`PaymentsConsumer`], which flags an order when payments reports a dispute (see
//! [`consumer`]). [`Orders`] implements the service over [`store::OrderStore`], which holds
//! every SQL statement of the crate; `service/checkout.rs` is the saga, recovery and the TTL
//! sweeper.
//!
//! Read [`model`] first ([`Order`], its [`OrderStatus`] state machine, the [`SagaStep`]s), then
//! the [`OrderService`] trait, whose documentation states every refusal. The saga calls three
//! other districts only through their service traits — `kassa_cart::CartService` (the snapshot,
//! and closing the cart), `kassa_inventory::InventoryService` (reserve, commit, release,
//! restock) and `kassa_payments::PaymentService` (authorize, capture, void, refund) — and never
//! holds a transaction across one of those calls.

pub mod consumer;
pub mod error;
pub mod events;
pub mod migrations;
pub mod model;
pub mod service;
pub mod store;
pub mod token;

pub use consumer::PaymentsConsumer;
pub use error::{OrderError, PROBLEM_TYPES};
pub use model::*;
pub use service::{
    OrderService, Orders, EVENTS_PAGE_MAX, EXPIRE_BATCH_MAX, FLAGS_PER_ORDER_MAX, ORDERS_PAGE_MAX,
    RECOVERY_BATCH_MAX,
};
