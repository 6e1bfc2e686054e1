//! Fakes of the inventory, payments and orders services: they know no stock, payments or
//! orders, so every lookup is "not found", and a few answers can be scripted to drive a route
//! through its error mapping (a checkout refused for stock, say). How these districts behave is
//! tested against real databases in their crates and, through HTTP, in `server/tests/api`.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use kassa_events::{Event, EventId};
use kassa_inventory::{
    Adjustment, InventoryError, InventoryService, Location, LocationId, LocationName, Reservation,
    StockLevel, StockSummary,
};
use kassa_kernel::ids::{CustomerId, OrderId, StaffId};
use kassa_kernel::{Money, Quantity, Sku, Timestamp};
use kassa_orders::{
    Checkout, CheckoutRequest, NewFulfilment, Order, OrderAccess, OrderError, OrderFilter,
    OrderFlag, OrderFlagId, OrderPage, OrderRefund, OrderService, RecoveryReport,
};
use kassa_payments::{
    OrderRef, Payment, PaymentAttempt, PaymentError, PaymentId, PaymentMethodToken, PaymentService,
    Refund,
};

use super::now;

/// No location but the default, no stock: every SKU reads as never stocked, a set succeeds
/// (and is forgotten), an adjustment finds no stock.
#[derive(Default)]
pub struct FakeInventory;

#[async_trait]
impl InventoryService for FakeInventory {
    async fn locations(&self) -> Result<Vec<Location>, InventoryError> {
        Ok(Vec::new())
    }

    async fn create_location(&self, name: LocationName) -> Result<Location, InventoryError> {
        Ok(Location {
            id: LocationId::new(),
            name,
            created_at: now(),
        })
    }

    async fn set_stock(
        &self,
        sku: Sku,
        location: LocationId,
        on_hand: u32,
    ) -> Result<StockLevel, InventoryError> {
        Ok(StockLevel {
            sku,
            location_id: location,
            on_hand,
            reserved: 0,
            updated_at: now(),
        })
    }

    async fn adjust_stock(
        &self,
        sku: Sku,
        location: LocationId,
        _: i64,
        _: String,
    ) -> Result<Adjustment, InventoryError> {
        Err(InventoryError::StockNotFound {
            sku,
            location_id: location,
        })
    }

    async fn stock(&self, sku: Sku) -> Result<StockSummary, InventoryError> {
        Ok(StockSummary::new(sku, Vec::new()))
    }

    async fn stock_many(&self, skus: &[Sku]) -> Result<Vec<StockSummary>, InventoryError> {
        Ok(skus
            .iter()
            .map(|sku| StockSummary::new(sku.clone(), Vec::new()))
            .collect())
    }

    async fn reserve(
        &self,
        order_ref: String,
        _: &[(Sku, Quantity)],
        _: Option<Duration>,
    ) -> Result<Reservation, InventoryError> {
        Err(InventoryError::ReservationNotFound { order_ref })
    }

    async fn commit(&self, order_ref: &str) -> Result<Reservation, InventoryError> {
        Err(InventoryError::ReservationNotFound {
            order_ref: order_ref.to_owned(),
        })
    }

    async fn release(&self, order_ref: &str) -> Result<Reservation, InventoryError> {
        Err(InventoryError::ReservationNotFound {
            order_ref: order_ref.to_owned(),
        })
    }

    async fn restock(&self, order_ref: &str) -> Result<Reservation, InventoryError> {
        Err(InventoryError::ReservationNotFound {
            order_ref: order_ref.to_owned(),
        })
    }

    async fn expire_due(&self, _: Timestamp, _: u32) -> Result<u32, InventoryError> {
        Ok(0)
    }

    async fn reservation(&self, order_ref: &str) -> Result<Reservation, InventoryError> {
        Err(InventoryError::ReservationNotFound {
            order_ref: order_ref.to_owned(),
        })
    }

    async fn events(&self, _: Option<EventId>, _: u32) -> Result<Vec<Event>, InventoryError> {
        Ok(Vec::new())
    }
}

/// Knows no payments.
#[derive(Default)]
pub struct FakePayments;

#[async_trait]
impl PaymentService for FakePayments {
    async fn authorize(
        &self,
        _: OrderRef,
        _: Money,
        _: PaymentMethodToken,
    ) -> Result<Payment, PaymentError> {
        Err(PaymentError::Internal {
            message: "the fake cannot authorize".to_owned(),
        })
    }

    async fn complete_action(&self, id: PaymentId) -> Result<Payment, PaymentError> {
        Err(PaymentError::PaymentNotFound(id))
    }

    async fn capture(&self, id: PaymentId, _: Option<Money>) -> Result<Payment, PaymentError> {
        Err(PaymentError::PaymentNotFound(id))
    }

    async fn void(&self, id: PaymentId) -> Result<Payment, PaymentError> {
        Err(PaymentError::PaymentNotFound(id))
    }

    async fn refund(&self, id: PaymentId, _: Money) -> Result<Refund, PaymentError> {
        Err(PaymentError::PaymentNotFound(id))
    }

    async fn resolve(&self, id: PaymentId) -> Result<Payment, PaymentError> {
        Err(PaymentError::PaymentNotFound(id))
    }

    async fn payment(&self, id: PaymentId) -> Result<Payment, PaymentError> {
        Err(PaymentError::PaymentNotFound(id))
    }

    async fn payment_for_order(&self, _: &OrderRef) -> Result<Option<Payment>, PaymentError> {
        Ok(None)
    }

    async fn refunds(&self, id: PaymentId) -> Result<Vec<Refund>, PaymentError> {
        Err(PaymentError::PaymentNotFound(id))
    }

    async fn attempts(&self, id: PaymentId) -> Result<Vec<PaymentAttempt>, PaymentError> {
        Err(PaymentError::PaymentNotFound(id))
    }

    async fn events(&self, _: Option<EventId>, _: u32) -> Result<Vec<Event>, PaymentError> {
        Ok(Vec::new())
    }

    fn check_available(&self) -> Result<(), PaymentError> {
        Ok(())
    }

    async fn apply_gateway_event(
        &self,
        event: kassa_payments::gateway::GatewayEvent,
    ) -> Result<kassa_payments::GatewayEventRecord, PaymentError> {
        Ok(kassa_payments::GatewayEventRecord {
            gateway: event.gateway.to_owned(),
            event_id: event.id,
            event_type: event.event_type,
            created_at: event.created_at,
            received_at: event.created_at,
            payment_id: None,
            outcome: kassa_payments::NoticeOutcome::UnknownPayment,
            detail: None,
            duplicate: false,
        })
    }

    async fn gateway_events(
        &self,
        id: PaymentId,
    ) -> Result<Vec<kassa_payments::GatewayEventRecord>, PaymentError> {
        Err(PaymentError::PaymentNotFound(id))
    }

    async fn unsettled(&self) -> Result<kassa_payments::service::Unsettled, PaymentError> {
        Ok(kassa_payments::service::Unsettled::default())
    }

    async fn reconcile_pending(
        &self,
        _: u32,
    ) -> Result<kassa_payments::service::ReconcilePass, PaymentError> {
        Ok(kassa_payments::service::ReconcilePass::default())
    }

    async fn reconciliation(
        &self,
        from: kassa_kernel::Timestamp,
        to: kassa_kernel::Timestamp,
        _: Option<(kassa_kernel::Timestamp, PaymentId)>,
        _: u32,
    ) -> Result<kassa_payments::service::ReconciliationReport, PaymentError> {
        Ok(kassa_payments::service::ReconciliationReport {
            from,
            to,
            examined: 0,
            not_at_gateway: 0,
            mismatches: Vec::new(),
            next: None,
        })
    }
}

/// Knows no orders. `checkout` answers the error scripted with [`FakeOrders::refuse_checkout`]
/// (else `cart_not_ready` for an empty cart), and records the request it was given. The one
/// flag given to [`FakeOrders::with_flag`] can be resolved; lists record whether they were
/// asked for flagged orders only.
#[derive(Default)]
pub struct FakeOrders {
    checkout_error: Mutex<Option<OrderError>>,
    last_checkout: Mutex<Option<CheckoutRequest>>,
    flag: Mutex<Option<OrderFlag>>,
    /// `true` for each `flagged_orders` call, `false` for each `orders` call, in order.
    lists: Mutex<Vec<bool>>,
}

impl FakeOrders {
    /// The next checkout fails with `error`.
    pub fn refuse_checkout(&self, error: OrderError) {
        *self
            .checkout_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(error);
    }

    pub fn last_checkout(&self) -> Option<CheckoutRequest> {
        self.last_checkout
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A fake whose only known order has `flag`: resolving it works, another flag id of that
    /// order is `order_flag_not_found`, any other order `order_not_found`.
    pub fn with_flag(flag: OrderFlag) -> FakeOrders {
        let fake = FakeOrders::default();
        *fake.flag.lock().unwrap_or_else(PoisonError::into_inner) = Some(flag);
        fake
    }

    /// For each staff list call so far, whether it asked for flagged orders only.
    pub fn lists(&self) -> Vec<bool> {
        self.lists
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn listed(&self, flagged: bool) -> OrderPage {
        self.lists
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(flagged);
        OrderPage {
            items: Vec::new(),
            next_cursor: None,
        }
    }
}

#[async_trait]
impl OrderService for FakeOrders {
    async fn checkout(&self, request: CheckoutRequest) -> Result<Checkout, OrderError> {
        *self
            .last_checkout
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(request);
        let scripted = self
            .checkout_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        Err(scripted.unwrap_or(OrderError::CartNotReady(vec![
            kassa_orders::error::CartProblem::Empty,
        ])))
    }

    async fn continue_checkout(&self, id: OrderId) -> Result<Checkout, OrderError> {
        Err(OrderError::OrderNotFound(id))
    }

    async fn order(&self, id: OrderId, _: &OrderAccess) -> Result<Order, OrderError> {
        Err(OrderError::OrderNotFound(id))
    }

    async fn orders(
        &self,
        _: OrderFilter,
        _: Option<OrderId>,
        _: u32,
    ) -> Result<OrderPage, OrderError> {
        Ok(self.listed(false))
    }

    async fn flagged_orders(
        &self,
        _: OrderFilter,
        _: Option<OrderId>,
        _: u32,
    ) -> Result<OrderPage, OrderError> {
        Ok(self.listed(true))
    }

    async fn flags(&self, id: OrderId) -> Result<Vec<OrderFlag>, OrderError> {
        Err(OrderError::OrderNotFound(id))
    }

    async fn resolve_flag(
        &self,
        id: OrderId,
        flag_id: OrderFlagId,
        staff: StaffId,
    ) -> Result<OrderFlag, OrderError> {
        let mut scripted = self.flag.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(flag) = scripted.as_mut().filter(|flag| flag.order_id == id) else {
            return Err(OrderError::OrderNotFound(id));
        };
        if flag.id != flag_id {
            return Err(OrderError::OrderFlagNotFound {
                order_id: id,
                flag_id,
            });
        }
        if flag.is_open() {
            flag.resolved_at = Some(now());
            flag.resolved_by = Some(staff);
        }
        Ok(flag.clone())
    }

    async fn customer_orders(
        &self,
        _: CustomerId,
        _: Option<OrderId>,
        _: u32,
    ) -> Result<OrderPage, OrderError> {
        Ok(OrderPage {
            items: Vec::new(),
            next_cursor: None,
        })
    }

    async fn fulfil(&self, id: OrderId, _: NewFulfilment) -> Result<Order, OrderError> {
        Err(OrderError::OrderNotFound(id))
    }

    async fn capture(&self, id: OrderId) -> Result<Order, OrderError> {
        Err(OrderError::OrderNotFound(id))
    }

    async fn cancel(&self, id: OrderId) -> Result<Order, OrderError> {
        Err(OrderError::OrderNotFound(id))
    }

    async fn refund(&self, id: OrderId, _: Money) -> Result<OrderRefund, OrderError> {
        Err(OrderError::OrderNotFound(id))
    }

    async fn mark_delivered(&self, id: OrderId) -> Result<Order, OrderError> {
        Err(OrderError::OrderNotFound(id))
    }

    async fn recover(&self, _: Timestamp) -> Result<RecoveryReport, OrderError> {
        Ok(RecoveryReport::default())
    }

    async fn expire_due(&self, _: Timestamp, _: u32) -> Result<u32, OrderError> {
        Ok(0)
    }

    async fn events(&self, _: Option<EventId>, _: u32) -> Result<Vec<Event>, OrderError> {
        Ok(Vec::new())
    }
}
