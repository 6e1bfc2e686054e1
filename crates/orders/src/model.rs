//! Order types: the [`Order`] made from a cart snapshot, its [`OrderStatus`] state machine, the
//! [`SagaStep`]s the checkout saga persists, and the [`OrderFlag`]s raised for staff.
//!
//! Order states (DESIGN §5):
//!
//! ```text
//! pending ──reserved──▶ awaiting_payment ──authorized+committed──▶ confirmed
//!    │                        │   │                                   │
//!    │ insufficient stock /   │   └─declined / gateway refused──▶ payment_failed
//!    │ expired / staff        │ expired / staff                       │
//!    ▼                        ▼                                       ▼
//! cancelled ◀─────────────────┘◀───────── staff cancel (nothing fulfilled) ──┤
//!                                                                            │
//! confirmed ──fulfil some──▶ partially_fulfilled ──fulfil rest──▶ fulfilled ──▶ delivered
//! confirmed | partially_fulfilled | fulfilled | delivered ──refunds reach captured──▶ refunded
//! ```
//!
//! `cancelled`, `payment_failed` and `refunded` are final. Any other move is
//! [`crate::OrderError::IllegalTransition`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use kassa_cart::Address;
use kassa_kernel::ids::{CartId, CustomerId, FulfilmentId, OrderId, ProductId, ShippingOptionId};
use kassa_kernel::rounding::Rate;
use kassa_kernel::{Currency, Email, Money, Quantity, Sku, Timestamp};
use kassa_payments::{NextAction, PaymentId, PaymentMethodToken};

mod flag;

pub use flag::{FlagKind, OrderFlag, OrderFlagId};

/// Where an order is in its life. Stored as TEXT with a CHECK, in the `as_str` form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Made from the cart; stock not reserved yet.
    Pending,
    /// Stock reserved; the payment is being authorized or waits for 3-D Secure.
    AwaitingPayment,
    /// Paid (authorized, maybe captured) and stock committed: the shop owes the goods.
    Confirmed,
    PartiallyFulfilled,
    Fulfilled,
    Delivered,
    /// Final. Before confirmation: stock was short, the reservation expired, or staff cancelled;
    /// after: staff cancelled (voided or refunded, stock returned).
    Cancelled,
    /// Final. The payment was declined or the gateway refused it; stock released.
    PaymentFailed,
    /// Final. Everything captured was refunded.
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 9] = [
        OrderStatus::Pending,
        OrderStatus::AwaitingPayment,
        OrderStatus::Confirmed,
        OrderStatus::PartiallyFulfilled,
        OrderStatus::Fulfilled,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::PaymentFailed,
        OrderStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::AwaitingPayment => "awaiting_payment",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::PartiallyFulfilled => "partially_fulfilled",
            OrderStatus::Fulfilled => "fulfilled",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::PaymentFailed => "payment_failed",
            OrderStatus::Refunded => "refunded",
        }
    }

    pub fn from_stored(text: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// No transition leaves it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OrderStatus::Cancelled | OrderStatus::PaymentFailed | OrderStatus::Refunded
        )
    }

    /// The checkout has not ended yet (the saga still owns the order).
    pub fn is_checkout_open(self) -> bool {
        matches!(self, OrderStatus::Pending | OrderStatus::AwaitingPayment)
    }

    /// Whether the state machine allows `self → to`. The one table every status change checks.
    pub fn can_become(self, to: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, to),
            (Pending, AwaitingPayment | Cancelled)
                | (AwaitingPayment, Confirmed | PaymentFailed | Cancelled)
                | (
                    Confirmed,
                    PartiallyFulfilled | Fulfilled | Cancelled | Refunded
                )
                | (PartiallyFulfilled, Fulfilled | Refunded)
                | (Fulfilled, Delivered | Refunded)
                | (Delivered, Refunded)
        )
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an order was cancelled or failed. Stored as TEXT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// Stock was short at reservation (the checkout answered 409 `insufficient_stock`).
    InsufficientStock,
    /// The gateway declined the payment (402 `payment_declined`).
    PaymentDeclined,
    /// The gateway refused or could not take the authorization (503/502).
    GatewayUnavailable,
    /// The reservation's TTL passed before the payment completed.
    ReservationExpired,
    /// Staff cancelled it.
    Staff,
}

impl CloseReason {
    pub const ALL: [CloseReason; 5] = [
        CloseReason::InsufficientStock,
        CloseReason::PaymentDeclined,
        CloseReason::GatewayUnavailable,
        CloseReason::ReservationExpired,
        CloseReason::Staff,
    ];

    pub fn from_stored(text: &str) -> Option<CloseReason> {
        CloseReason::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// The status a checkout closed for this reason ends in: the payment's own failures are
    /// `payment_failed`, everything else `cancelled`.
    pub fn closed_status(self) -> OrderStatus {
        match self {
            CloseReason::PaymentDeclined | CloseReason::GatewayUnavailable => {
                OrderStatus::PaymentFailed
            }
            CloseReason::InsufficientStock
            | CloseReason::ReservationExpired
            | CloseReason::Staff => OrderStatus::Cancelled,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::InsufficientStock => "insufficient_stock",
            CloseReason::PaymentDeclined => "payment_declined",
            CloseReason::GatewayUnavailable => "gateway_unavailable",
            CloseReason::ReservationExpired => "reservation_expired",
            CloseReason::Staff => "staff",
        }
    }
}

/// The step of the checkout saga an order is at, persisted after each step so a restarted
/// server resumes exactly there. Every step is idempotent, keyed by the order id, so running a
/// step again after a crash is harmless. Stored as TEXT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SagaStep {
    /// Next: reserve every line (inventory, idempotent by order id).
    Reserve,
    /// Next: authorize the total (payments, idempotent by order id and its key).
    Authorize,
    /// Waiting for the shopper's 3-D Secure challenge; the TTL sweeper ends it if it never comes.
    AwaitAction,
    /// Next: commit the reservation, then confirm the order (`order.placed`).
    Commit,
    /// Next: capture the payment (only when capture happens at confirmation).
    Capture,
    /// Next: close the cart so it cannot be checked out again.
    CloseCart,
    /// Compensating: release the reservation and void the payment, then close the order with
    /// its stored [`CloseReason`].
    Compensate,
    /// Nothing left to do.
    Done,
}

impl SagaStep {
    pub const ALL: [SagaStep; 8] = [
        SagaStep::Reserve,
        SagaStep::Authorize,
        SagaStep::AwaitAction,
        SagaStep::Commit,
        SagaStep::Capture,
        SagaStep::CloseCart,
        SagaStep::Compensate,
        SagaStep::Done,
    ];

    pub fn from_stored(text: &str) -> Option<SagaStep> {
        SagaStep::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SagaStep::Reserve => "reserve",
            SagaStep::Authorize => "authorize",
            SagaStep::AwaitAction => "await_action",
            SagaStep::Commit => "commit",
            SagaStep::Capture => "capture",
            SagaStep::CloseCart => "close_cart",
            SagaStep::Compensate => "compensate",
            SagaStep::Done => "done",
        }
    }
}

/// When the payment is captured. Configured by `orders.capture` in the server settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaptureMode {
    /// Right after the order is confirmed (the saga's `Capture` step).
    #[default]
    OnConfirmation,
    /// When the order's first fulfilment is recorded.
    OnFulfilment,
}

/// A test hook: asked after each saga step completes and is persisted; answering `true` stops
/// the saga right there as if the process had died (the caller gets `OrderError::Interrupted`,
/// nothing else runs, the saga's lease is left to expire). The crash-recovery tests use it.
pub trait SagaFaults: Send + Sync {
    fn crash_after(&self, order: OrderId, step: SagaStep) -> bool;
}

/// Settings of the orders district, built by `server` from its configuration.
#[derive(Clone)]
pub struct OrdersConfig {
    pub capture: CaptureMode,
    /// How long one saga driver owns an order before another (a recovery worker, another
    /// node) may take over. Longer than a gateway call's timeout.
    pub saga_lease: Duration,
    /// How long a follow-up checkout of the same cart waits for the first one's outcome
    /// before answering with the order as it stands.
    pub follow_wait: Duration,
    pub faults: Option<Arc<dyn SagaFaults>>,
}

impl Default for OrdersConfig {
    fn default() -> Self {
        OrdersConfig {
            capture: CaptureMode::OnConfirmation,
            saga_lease: Duration::from_secs(60),
            follow_wait: Duration::from_secs(10),
            faults: None,
        }
    }
}

impl fmt::Debug for OrdersConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrdersConfig")
            .field("capture", &self.capture)
            .field("saga_lease", &self.saga_lease)
            .field("follow_wait", &self.follow_wait)
            .field("faults", &self.faults.is_some())
            .finish()
    }
}

/// One line of an order: the cart line as it was priced at checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    pub sku: Sku,
    pub product_id: ProductId,
    pub product_title: String,
    pub variant_title: String,
    pub quantity: Quantity,
    pub unit_price: Money,
    /// `unit_price × quantity`.
    pub line_total: Money,
    /// Units shipped so far (0 ..= quantity).
    pub fulfilled_quantity: u32,
}

/// The shipping choice as it was priced at checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderShipping {
    pub option_id: ShippingOptionId,
    pub name: String,
    pub amount: Money,
}

/// All in the order's currency; `total = subtotal + shipping + tax`, copied from the cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderTotals {
    pub subtotal: Money,
    pub shipping: Money,
    pub tax: Money,
    pub total: Money,
}

/// One shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fulfilment {
    pub id: FulfilmentId,
    pub lines: Vec<(Sku, Quantity)>,
    pub carrier: String,
    pub tracking_number: String,
    pub created_at: Timestamp,
}

/// An order with everything a shopper or staff member sees of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub cart_id: CartId,
    /// Set when a signed-in customer checked out.
    pub customer_id: Option<CustomerId>,
    pub email: Email,
    pub currency: Currency,
    pub status: OrderStatus,
    /// Set when the order is `cancelled` or `payment_failed`.
    pub close_reason: Option<CloseReason>,
    pub saga_step: SagaStep,
    pub lines: Vec<OrderLine>,
    pub shipping_address: Address,
    pub shipping: OrderShipping,
    pub tax_rate: Option<Rate>,
    pub totals: OrderTotals,
    /// Set once authorization started.
    pub payment_id: Option<PaymentId>,
    /// Amounts as payments last reported them.
    pub captured: Money,
    pub refunded: Money,
    /// When the stock reservation lapses if the order is not confirmed by then.
    pub reservation_expires_at: Option<Timestamp>,
    pub fulfilments: Vec<Fulfilment>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub confirmed_at: Option<Timestamp>,
}

/// What [`crate::OrderService::checkout`] needs.
#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    pub cart_id: CartId,
    /// How the caller proved access to the cart (token or signed-in customer).
    pub access: kassa_cart::CartAccess,
    /// The signed-in customer, whose order it becomes; `None` for a guest.
    pub customer: Option<CustomerId>,
    pub payment_method: PaymentMethodToken,
}

/// What a checkout (or its continuation after 3-D Secure) answers when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    pub order: Order,
    /// The guest's secret for reading the order (`Order-Token` header). Present only in the
    /// answer of the call that created the order: only its hash is stored.
    pub order_token: Option<String>,
    /// `Some` while the shopper must pass 3-D Secure (the order is `awaiting_payment`).
    pub next_action: Option<NextAction>,
}

/// How a caller proves it may read an order; every mismatch is `order_not_found`.
#[derive(Clone, PartialEq, Eq)]
pub enum OrderAccess {
    /// The token answered at checkout. Opens that order only.
    Token(String),
    /// A signed-in customer: opens the orders attached to them.
    Customer(CustomerId),
    /// Staff (the HTTP layer checked the permission).
    Staff,
}

impl fmt::Debug for OrderAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrderAccess::Token(_) => f.write_str("Token(<redacted>)"),
            OrderAccess::Customer(id) => write!(f, "Customer({id})"),
            OrderAccess::Staff => f.write_str("Staff"),
        }
    }
}

/// Staff's order list filter; every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub customer_id: Option<CustomerId>,
    pub email: Option<Email>,
}

/// One page of orders, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPage {
    pub items: Vec<Order>,
    /// Pass back as `after` for the next page; `None` on the last page.
    pub next_cursor: Option<OrderId>,
}

/// Staff's fulfilment request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFulfilment {
    /// The units shipped; `None` ships everything not shipped yet.
    pub lines: Option<Vec<(Sku, Quantity)>>,
    /// 1–100 characters.
    pub carrier: String,
    /// 1–100 characters.
    pub tracking_number: String,
}

/// A refund as the order reports it (the payment's refund, with its order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRefund {
    pub order: Order,
    pub refund: kassa_payments::Refund,
}

/// What one recovery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Checkouts driven to `confirmed`.
    pub completed: u32,
    /// Checkouts compensated (cancelled or failed, stock released, payment voided).
    pub compensated: u32,
    /// Still open (a gateway outcome still unknown, or waiting for 3-D Secure).
    pub open: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_machine_allows_exactly_the_documented_moves() {
        use OrderStatus::*;
        let allowed = [
            (Pending, AwaitingPayment),
            (Pending, Cancelled),
            (AwaitingPayment, Confirmed),
            (AwaitingPayment, PaymentFailed),
            (AwaitingPayment, Cancelled),
            (Confirmed, PartiallyFulfilled),
            (Confirmed, Fulfilled),
            (Confirmed, Cancelled),
            (Confirmed, Refunded),
            (PartiallyFulfilled, Fulfilled),
            (PartiallyFulfilled, Refunded),
            (Fulfilled, Delivered),
            (Fulfilled, Refunded),
            (Delivered, Refunded),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} → {to}"
                );
            }
            if from.is_final() {
                assert!(OrderStatus::ALL.iter().all(|to| !from.can_become(*to)));
            }
        }
    }

    #[test]
    fn stored_forms_round_trip() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::from_stored(status.as_str()), Some(status));
        }
        for step in SagaStep::ALL {
            assert_eq!(SagaStep::from_stored(step.as_str()), Some(step));
        }
        for reason in CloseReason::ALL {
            assert_eq!(CloseReason::from_stored(reason.as_str()), Some(reason));
        }
        assert_eq!(OrderStatus::from_stored("Confirmed"), None);
        assert_eq!(SagaStep::from_stored(""), None);
    }

    #[test]
    fn closed_checkouts_end_in_the_status_their_reason_implies() {
        assert_eq!(
            CloseReason::PaymentDeclined.closed_status(),
            OrderStatus::PaymentFailed
        );
        assert_eq!(
            CloseReason::GatewayUnavailable.closed_status(),
            OrderStatus::PaymentFailed
        );
        for reason in [
            CloseReason::InsufficientStock,
            CloseReason::ReservationExpired,
            CloseReason::Staff,
        ] {
            assert_eq!(reason.closed_status(), OrderStatus::Cancelled);
        }
    }
}
