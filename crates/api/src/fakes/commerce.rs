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
use kassa_kernel::ids::{CustomerId, OrderId};
use kassa_kernel::{Money, Quantity, Sku, Timestamp};
use kassa_orders::{
    Checkout, CheckoutRequest, NewFulfilment, Order, OrderAccess, OrderError, OrderFilter,
    OrderPage, OrderRefund, OrderService, RecoveryReport,
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
}

/// Knows no orders. `checkout` answers the error scripted with [`FakeOrders::refuse_checkout`]
/// (else `cart_not_ready` for an empty cart), and records the request it was given.
#[derive(Default)]
pub struct FakeOrders {
    checkout_error: Mutex<Option<OrderError>>,
    last_checkout: Mutex<Option<CheckoutRequest>>,
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
        Ok(OrderPage {
            items: Vec::new(),
            next_cursor: None,
        })
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
