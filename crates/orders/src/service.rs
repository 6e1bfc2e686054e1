//! The orders service trait, the only way other crates and the HTTP layer use orders, and
//! [`Orders`], which implements it: the checkout saga, recovery and the TTL sweeper in
//! `service/checkout.rs`, staff operations (flags included) in `service/staff.rs`, reads here.
//!
//! The saga never holds an orders transaction across a call to another district. Each step
//! calls the other district first (every such call is idempotent, keyed by the order id), and
//! only after it returned records the step's progress and its events in one short orders
//! transaction guarded by the saga lease. A crash anywhere therefore leaves the order at a step
//! that is safe to run again.

mod checkout;
mod staff;

use std::sync::Arc;
use std::time::Duration;

use kassa_cart::CartService;
use kassa_events::{Event, EventId, NewEvent};
use kassa_inventory::InventoryService;
use kassa_kernel::ids::{CustomerId, OrderId, StaffId};
use kassa_kernel::{Clock, Money, Timestamp};
use kassa_payments::{OrderRef, PaymentService};
use tracing::instrument;

use crate::model::{
    Checkout, CheckoutRequest, NewFulfilment, Order, OrderAccess, OrderFilter, OrderFlag,
    OrderFlagId, OrderPage, OrderRefund, OrdersConfig, RecoveryReport,
};
use crate::store::{Guard, OrderChange, OrderRecord, OrderStore, SagaLease};
use crate::{token, OrderError};

/// Most orders one list call returns.
pub const ORDERS_PAGE_MAX: u32 = 100;

/// Most flags [`OrderService::flags`] returns for one order. A flag is raised per dispute of
/// the order's one payment, so real orders have one or two; the bound only keeps a broken
/// producer from making the staff view unbounded.
pub const FLAGS_PER_ORDER_MAX: u32 = 100;

/// Most events one [`OrderService::events`] call returns: a page for a staff listing.
pub const EVENTS_PAGE_MAX: u32 = 100;

/// Most checkouts one [`OrderService::recover`] pass looks at. Each is driven in turn (gateway
/// calls included), so the bound keeps one pass finite; the worker runs again periodically.
pub const RECOVERY_BATCH_MAX: u32 = 1_000;

/// Most checkouts one [`OrderService::expire_due`] call cancels, whatever the caller asks: each
/// releases stock and may void a payment, so one sweep stays short; the sweeper calls again.
pub const EXPIRE_BATCH_MAX: u32 = 1_000;

/// How often a call waiting on an order another driver owns looks at it again: short enough
/// that a follower answers soon after the first checkout ends, long enough that a few hundred
/// waiting requests cost the database little.
const FOLLOW_POLL: Duration = Duration::from_millis(25);

#[async_trait::async_trait]
pub trait OrderService: Send + Sync {
    /// Checks out a cart (DESIGN §5): makes the order from the cart's snapshot, reserves its
    /// stock, authorizes the payment, commits the stock, confirms the order, captures (when
    /// configured at confirmation) and closes the cart — each step persisted before the next.
    ///
    /// One open order per cart: if the cart already has an order that is not closed as
    /// `cancelled`/`payment_failed`, no new order is made; this call follows that order (waiting
    /// up to `follow_wait` for its outcome) and answers as the first call did.
    ///
    /// `Ok` with the order `confirmed`, or `awaiting_payment` with `next_action` (3-D Secure) or
    /// without (the gateway's outcome is unknown; a recovery worker resolves it). Errors:
    /// `CartNotReady` (empty, unavailable lines, no email, address or shipping option),
    /// `CartNotFound`, inventory's `insufficient_stock` (order cancelled, nothing reserved),
    /// payments' `payment_declined` (order `payment_failed`, stock released), gateway
    /// unavailable (order `payment_failed`, stock released), `Interrupted` (fault hook).
    async fn checkout(&self, request: CheckoutRequest) -> Result<Checkout, OrderError>;

    /// Continues a checkout that waited for 3-D Secure (the shopper finished the challenge):
    /// asks payments how it ended, then confirms or fails the order as `checkout` would.
    /// Harmless to call again; on an order whose checkout ended it answers that end.
    async fn continue_checkout(&self, id: OrderId) -> Result<Checkout, OrderError>;

    /// The order if `access` opens it; `OrderNotFound` otherwise.
    async fn order(&self, id: OrderId, access: &OrderAccess) -> Result<Order, OrderError>;

    /// Staff: orders newest first, filtered; `limit` capped at [`ORDERS_PAGE_MAX`].
    async fn orders(
        &self,
        filter: OrderFilter,
        after: Option<OrderId>,
        limit: u32,
    ) -> Result<OrderPage, OrderError>;

    /// Staff: orders with at least one open (unresolved) flag, newest first, narrowed by
    /// `filter` as [`OrderService::orders`] is; `limit` capped at [`ORDERS_PAGE_MAX`].
    async fn flagged_orders(
        &self,
        filter: OrderFilter,
        after: Option<OrderId>,
        limit: u32,
    ) -> Result<OrderPage, OrderError>;

    /// Staff: the flags raised on the order, open and resolved, oldest first (at most
    /// [`FLAGS_PER_ORDER_MAX`]). `OrderNotFound` if there is no such order.
    async fn flags(&self, id: OrderId) -> Result<Vec<OrderFlag>, OrderError>;

    /// Staff: `staff` marks the order's flag handled. Resolving a resolved flag returns it
    /// unchanged (who resolved it first, and when). `OrderNotFound` if there is no such order,
    /// `OrderFlagNotFound` if it has no such flag.
    async fn resolve_flag(
        &self,
        id: OrderId,
        flag: OrderFlagId,
        staff: StaffId,
    ) -> Result<OrderFlag, OrderError>;

    /// A customer's own orders, newest first.
    async fn customer_orders(
        &self,
        customer: CustomerId,
        after: Option<OrderId>,
        limit: u32,
    ) -> Result<OrderPage, OrderError>;

    /// Staff: records a shipment (`order.fulfilled` / `order.partially_fulfilled`). Captures
    /// first when capture happens at fulfilment. `InvalidFulfilment` for more units than are
    /// left, unknown SKUs, blank carrier or tracking number; `IllegalTransition` unless the
    /// order is `confirmed` or `partially_fulfilled`.
    async fn fulfil(&self, id: OrderId, fulfilment: NewFulfilment) -> Result<Order, OrderError>;

    /// Staff: captures the payment of a confirmed order (capture at fulfilment, or by hand).
    /// Capturing a captured order returns it.
    async fn capture(&self, id: OrderId) -> Result<Order, OrderError>;

    /// Staff: cancels an order with nothing fulfilled (`order.cancelled`): before confirmation
    /// releases the reservation and voids; after, returns the committed stock (restock) and
    /// voids the hold or refunds what was captured. Cancelling a cancelled order returns it.
    async fn cancel(&self, id: OrderId) -> Result<Order, OrderError>;

    /// Staff: refunds `amount` of what was captured (`order.refunded`); the order becomes
    /// `refunded` when refunds reach the captured amount. Each call is a new refund: the HTTP
    /// layer's Idempotency-Key makes retries safe.
    async fn refund(&self, id: OrderId, amount: Money) -> Result<OrderRefund, OrderError>;

    /// Staff: the carrier delivered a fulfilled order.
    async fn mark_delivered(&self, id: OrderId) -> Result<Order, OrderError>;

    /// The recovery worker (at start-up and periodically): every checkout still open whose
    /// saga lease expired at `now` is resumed from its persisted step, or compensated when it
    /// can no longer complete (reservation expired, payment declined or never started).
    async fn recover(&self, now: Timestamp) -> Result<RecoveryReport, OrderError>;

    /// The TTL sweeper: cancels up to `batch_max` checkouts whose reservation lapsed at `now`
    /// (releasing the stock if inventory's own sweeper has not, voiding any hold), reason
    /// `reservation_expired`. Returns how many.
    async fn expire_due(&self, now: Timestamp, batch_max: u32) -> Result<u32, OrderError>;

    /// Recorded events (`orders_outbox`), oldest first, after `after`.
    async fn events(&self, after: Option<EventId>, limit: u32) -> Result<Vec<Event>, OrderError>;
}

/// The orders service over its store and the three districts the saga calls.
pub struct Orders {
    store: OrderStore,
    /// The snapshot an order is made from, and closing the cart after checkout.
    carts: Arc<dyn CartService>,
    /// Reserve, commit, release and restock, all keyed by the order id.
    inventory: Arc<dyn InventoryService>,
    /// Authorize, capture, void and refund, idempotent by order (refunds by the caller).
    payments: Arc<dyn PaymentService>,
    clock: Arc<dyn Clock>,
    config: OrdersConfig,
}

impl Orders {
    /// A page of the staff order list, only orders with open flags when `flagged`.
    async fn list_page(
        &self,
        filter: &OrderFilter,
        flagged: bool,
        after: Option<OrderId>,
        limit: u32,
    ) -> Result<OrderPage, OrderError> {
        let limit = limit.clamp(1, ORDERS_PAGE_MAX);
        let items = self.store.list(filter, flagged, after, limit + 1).await?;
        Ok(page(items, limit))
    }

    pub fn new(
        store: OrderStore,
        carts: Arc<dyn CartService>,
        inventory: Arc<dyn InventoryService>,
        payments: Arc<dyn PaymentService>,
        clock: Arc<dyn Clock>,
        config: OrdersConfig,
    ) -> Self {
        Orders {
            store,
            carts,
            inventory,
            payments,
            clock,
            config,
        }
    }

    async fn load(&self, id: OrderId) -> Result<OrderRecord, OrderError> {
        self.store
            .order(id)
            .await?
            .ok_or(OrderError::OrderNotFound(id))
    }

    fn new_lease(&self, now: Timestamp) -> Result<SagaLease, OrderError> {
        SagaLease::new(now, self.config.saga_lease).map_err(randomness_failed)
    }

    /// Takes the order's saga lease if nobody holds a live one at `now` (lasting
    /// `config.saga_lease` from `now`); `None` if someone does or there is no such order.
    async fn claim(
        &self,
        id: OrderId,
        now: Timestamp,
    ) -> Result<Option<(OrderRecord, SagaLease)>, OrderError> {
        let lease = self.new_lease(now)?;
        let mut tx = self.store.begin().await?;
        let claimed = tx.claim(id, &lease, now).await?;
        tx.commit().await?;
        Ok(claimed.map(|record| (record, lease)))
    }

    async fn release(&self, id: OrderId, lease: &SagaLease) -> Result<(), OrderError> {
        let mut tx = self.store.begin().await?;
        tx.release(id, &lease.id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Applies `change` under `guard` with the events `events` makes from the changed order,
    /// in one transaction; `None` (nothing written) if the guard or the status refused it.
    async fn apply(
        &self,
        id: OrderId,
        guard: Guard<'_>,
        change: OrderChange,
        events: impl FnOnce(&Order) -> Vec<NewEvent> + Send,
    ) -> Result<Option<OrderRecord>, OrderError> {
        let mut tx = self.store.begin().await?;
        let Some(record) = tx.apply(id, guard, &change, self.clock.now()).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        tx.append(&events(&record.order)).await?;
        tx.commit().await?;
        Ok(Some(record))
    }
}

/// The order's reference in payments: its id as text.
fn payment_ref(id: OrderId) -> Result<OrderRef, OrderError> {
    OrderRef::parse(id.to_string()).map_err(|err| OrderError::Payment(err.into()))
}

fn randomness_failed(err: getrandom::Error) -> OrderError {
    OrderError::Invariant(format!(
        "the operating system's random source failed: {err}"
    ))
}

fn no_events(_: &Order) -> Vec<NewEvent> {
    Vec::new()
}

/// Whether `access` opens `record`: staff always, a customer their own orders, a token only
/// the order it was issued for (compared by hash, in constant time).
fn admits(access: &OrderAccess, record: &OrderRecord) -> bool {
    match access {
        OrderAccess::Staff => true,
        OrderAccess::Customer(customer) => record.order.customer_id == Some(*customer),
        OrderAccess::Token(given) => record
            .token_hash
            .as_deref()
            .is_some_and(|stored| token::matches(stored, given)),
    }
}

/// A page from up to `limit + 1` orders: the extra one only says there is a next page.
fn page(mut items: Vec<Order>, limit: u32) -> OrderPage {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|order| order.id)
    } else {
        None
    };
    OrderPage { items, next_cursor }
}

#[async_trait::async_trait]
impl OrderService for Orders {
    #[instrument(skip_all, fields(cart_id = %request.cart_id))]
    async fn checkout(&self, request: CheckoutRequest) -> Result<Checkout, OrderError> {
        self.checkout_cart(request).await
    }

    #[instrument(skip_all, fields(order_id = %id))]
    async fn continue_checkout(&self, id: OrderId) -> Result<Checkout, OrderError> {
        self.continue_after_action(id).await
    }

    async fn order(&self, id: OrderId, access: &OrderAccess) -> Result<Order, OrderError> {
        match self.store.order(id).await? {
            Some(record) if admits(access, &record) => Ok(record.order),
            _ => Err(OrderError::OrderNotFound(id)),
        }
    }

    async fn orders(
        &self,
        filter: OrderFilter,
        after: Option<OrderId>,
        limit: u32,
    ) -> Result<OrderPage, OrderError> {
        self.list_page(&filter, false, after, limit).await
    }

    async fn flagged_orders(
        &self,
        filter: OrderFilter,
        after: Option<OrderId>,
        limit: u32,
    ) -> Result<OrderPage, OrderError> {
        self.list_page(&filter, true, after, limit).await
    }

    async fn flags(&self, id: OrderId) -> Result<Vec<OrderFlag>, OrderError> {
        self.store
            .flags(id, FLAGS_PER_ORDER_MAX)
            .await?
            .ok_or(OrderError::OrderNotFound(id))
    }

    #[instrument(skip_all, fields(order_id = %id, flag_id = %flag))]
    async fn resolve_flag(
        &self,
        id: OrderId,
        flag: OrderFlagId,
        staff: StaffId,
    ) -> Result<OrderFlag, OrderError> {
        self.resolve_order_flag(id, flag, staff).await
    }

    async fn customer_orders(
        &self,
        customer: CustomerId,
        after: Option<OrderId>,
        limit: u32,
    ) -> Result<OrderPage, OrderError> {
        let filter = OrderFilter {
            customer_id: Some(customer),
            ..OrderFilter::default()
        };
        self.orders(filter, after, limit).await
    }

    #[instrument(skip_all, fields(order_id = %id))]
    async fn fulfil(&self, id: OrderId, fulfilment: NewFulfilment) -> Result<Order, OrderError> {
        self.fulfil_order(id, fulfilment).await
    }

    #[instrument(skip_all, fields(order_id = %id))]
    async fn capture(&self, id: OrderId) -> Result<Order, OrderError> {
        self.capture_order(id).await
    }

    #[instrument(skip_all, fields(order_id = %id))]
    async fn cancel(&self, id: OrderId) -> Result<Order, OrderError> {
        self.cancel_order(id).await
    }

    #[instrument(skip_all, fields(order_id = %id, amount = %amount))]
    async fn refund(&self, id: OrderId, amount: Money) -> Result<OrderRefund, OrderError> {
        self.refund_order(id, amount).await
    }

    #[instrument(skip_all, fields(order_id = %id))]
    async fn mark_delivered(&self, id: OrderId) -> Result<Order, OrderError> {
        self.deliver_order(id).await
    }

    #[instrument(skip_all, fields(now = %now))]
    async fn recover(&self, now: Timestamp) -> Result<RecoveryReport, OrderError> {
        self.recover_checkouts(now).await
    }

    #[instrument(skip_all, fields(now = %now, batch_max = batch_max))]
    async fn expire_due(&self, now: Timestamp, batch_max: u32) -> Result<u32, OrderError> {
        self.expire_checkouts(now, batch_max).await
    }

    async fn events(&self, after: Option<EventId>, limit: u32) -> Result<Vec<Event>, OrderError> {
        Ok(self
            .store
            .events(after, limit.clamp(1, EVENTS_PAGE_MAX))
            .await?)
    }
}
