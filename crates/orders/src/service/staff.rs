//! Staff operations on orders: fulfil, capture, cancel, refund, mark delivered, resolve a flag.
//!
//! Calls to payments and inventory come first, outside any orders transaction; what they did
//! is then recorded in one transaction that locks the order's row and checks its status again
//! under the lock, so two staff calls (or a staff call and the saga) never both apply a move
//! from the same state. Cancelling takes the saga lease as well, because it undoes what the
//! saga does (releases or restocks, voids or refunds) and must not run beside it.

use std::collections::BTreeMap;

use kassa_kernel::ids::{FulfilmentId, OrderId, StaffId};
use kassa_kernel::{Money, Quantity, Sku};
use kassa_payments::{Payment, PaymentError, PaymentId, PaymentStatus};
use tokio::time::Instant;

use super::{Orders, FOLLOW_POLL};
use crate::events;
use crate::model::{
    CaptureMode, CloseReason, Fulfilment, NewFulfilment, Order, OrderFlag, OrderFlagId,
    OrderRefund, OrderStatus, SagaStep,
};
use crate::store::{Guard, OrderChange, OrderRecord, SagaLease};
use crate::OrderError;

/// Longest carrier name or tracking number, in characters (the table's CHECK says the same).
pub const FULFILMENT_TEXT_LEN_MAX: usize = 100;

fn illegal(order: &Order, action: &'static str) -> OrderError {
    OrderError::IllegalTransition {
        order_id: order.id,
        status: order.status,
        action,
    }
}

/// Confirmed and not closed: the states in which the shop owes or has shipped the goods.
fn is_sold(status: OrderStatus) -> bool {
    matches!(
        status,
        OrderStatus::Confirmed
            | OrderStatus::PartiallyFulfilled
            | OrderStatus::Fulfilled
            | OrderStatus::Delivered
    )
}

/// A carrier or tracking number, trimmed, 1 to [`FULFILMENT_TEXT_LEN_MAX`] characters.
fn fulfilment_text(field: &str, value: &str) -> Result<String, OrderError> {
    let trimmed = value.trim();
    let len = trimmed.chars().count();
    if len == 0 || len > FULFILMENT_TEXT_LEN_MAX || trimmed.chars().any(char::is_control) {
        return Err(OrderError::InvalidFulfilment(format!(
            "the {field} must be 1 to {FULFILMENT_TEXT_LEN_MAX} printable characters"
        )));
    }
    Ok(trimmed.to_owned())
}

/// The units to ship: the request's, combined per SKU and checked against what is left of
/// each line, or everything left when it names none.
fn units_to_ship(
    order: &Order,
    requested: Option<&[(Sku, Quantity)]>,
) -> Result<Vec<(Sku, Quantity)>, OrderError> {
    let left = |line: &crate::model::OrderLine| line.quantity.get() - line.fulfilled_quantity;
    let Some(requested) = requested else {
        let all: Vec<(Sku, Quantity)> = order
            .lines
            .iter()
            .filter_map(|line| Some((line.sku.clone(), Quantity::new(left(line)).ok()?)))
            .collect();
        if all.is_empty() {
            return Err(OrderError::InvalidFulfilment(
                "every unit of the order has shipped already".to_owned(),
            ));
        }
        return Ok(all);
    };
    if requested.is_empty() {
        return Err(OrderError::InvalidFulfilment(
            "a fulfilment needs at least one line".to_owned(),
        ));
    }
    let mut combined: BTreeMap<Sku, u32> = BTreeMap::new();
    for (sku, quantity) in requested {
        *combined.entry(sku.clone()).or_default() += quantity.get();
    }
    combined
        .into_iter()
        .map(|(sku, units)| {
            let line = order
                .lines
                .iter()
                .find(|line| line.sku == sku)
                .ok_or_else(|| {
                    OrderError::InvalidFulfilment(format!("the order has no line of {sku}"))
                })?;
            if units > left(line) {
                return Err(OrderError::InvalidFulfilment(format!(
                    "{units} units of {sku} cannot ship: {} are left",
                    left(line)
                )));
            }
            let quantity = Quantity::new(units)
                .map_err(|err| OrderError::InvalidFulfilment(err.to_string()))?;
            Ok((sku, quantity))
        })
        .collect()
}

impl Orders {
    pub(super) async fn fulfil_order(
        &self,
        id: OrderId,
        request: NewFulfilment,
    ) -> Result<Order, OrderError> {
        let carrier = fulfilment_text("carrier", &request.carrier)?;
        let tracking_number = fulfilment_text("tracking number", &request.tracking_number)?;
        let order = self.load(id).await?.order;
        if !matches!(
            order.status,
            OrderStatus::Confirmed | OrderStatus::PartiallyFulfilled
        ) {
            return Err(illegal(&order, "fulfilled"));
        }
        units_to_ship(&order, request.lines.as_deref())?;
        if self.config.capture == CaptureMode::OnFulfilment && order.captured.amount_minor() == 0 {
            self.capture_payment(&order).await?;
        }

        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let order = tx
            .lock(id)
            .await?
            .ok_or(OrderError::OrderNotFound(id))?
            .order;
        if !matches!(
            order.status,
            OrderStatus::Confirmed | OrderStatus::PartiallyFulfilled
        ) {
            return Err(illegal(&order, "fulfilled"));
        }
        let lines = units_to_ship(&order, request.lines.as_deref())?;
        let fulfilment = Fulfilment {
            id: FulfilmentId::new(),
            lines,
            carrier,
            tracking_number,
            created_at: now,
        };
        tx.insert_fulfilment(id, &fulfilment).await?;
        for (sku, quantity) in &fulfilment.lines {
            if !tx.ship_units(id, sku, *quantity).await? {
                return Err(OrderError::Invariant(format!(
                    "order {id}: {quantity} of {sku} checked under the lock but not shippable"
                )));
            }
        }
        let shipped: u32 = fulfilment.lines.iter().map(|(_, q)| q.get()).sum();
        let ordered: u32 = order.lines.iter().map(|l| l.quantity.get()).sum();
        let before: u32 = order.lines.iter().map(|l| l.fulfilled_quantity).sum();
        let status = if before + shipped >= ordered {
            OrderStatus::Fulfilled
        } else {
            OrderStatus::PartiallyFulfilled
        };
        let change = OrderChange {
            status: (status != order.status).then_some((order.status, status)),
            ..OrderChange::default()
        };
        let updated = tx
            .apply(id, Guard::Locked, &change, now)
            .await?
            .ok_or_else(|| OrderError::Invariant(format!("order {id} changed under its lock")))?;
        tx.append(&[events::fulfilled(&updated.order, status, &fulfilment)])
            .await?;
        tx.commit().await?;
        tracing::info!(fulfilment_id = %fulfilment.id, status = %status, "fulfilment recorded");
        Ok(self.load(id).await?.order)
    }

    pub(super) async fn capture_order(&self, id: OrderId) -> Result<Order, OrderError> {
        let order = self.load(id).await?.order;
        if !is_sold(order.status) {
            return Err(illegal(&order, "captured"));
        }
        if order.captured.amount_minor() > 0 {
            return Ok(order);
        }
        self.capture_payment(&order).await?;
        Ok(self.load(id).await?.order)
    }

    /// Captures the whole authorization (payments makes a repeated capture harmless) and
    /// records it on the order, with `order.captured` the first time.
    async fn capture_payment(&self, order: &Order) -> Result<(), OrderError> {
        let payment_id = self.payment_id(order)?;
        let payment = self.payments.capture(payment_id, None).await?;
        self.record_amounts(order.id, &payment, None).await
    }

    fn payment_id(&self, order: &Order) -> Result<PaymentId, OrderError> {
        order.payment_id.ok_or_else(|| {
            OrderError::Invariant(format!(
                "order {} is {} without a payment",
                order.id, order.status
            ))
        })
    }

    /// Copies the payment's captured and refunded amounts onto the order (they only grow), with
    /// `order.captured` when the captured amount grows from zero, and `refund`'s event. The
    /// order becomes `refunded` when refunds reach what was captured.
    async fn record_amounts(
        &self,
        id: OrderId,
        payment: &Payment,
        refund: Option<&kassa_payments::Refund>,
    ) -> Result<(), OrderError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let order = tx
            .lock(id)
            .await?
            .ok_or(OrderError::OrderNotFound(id))?
            .order;
        let captured = payment.captured();
        let refunded = payment.refunded();
        let fully = captured.amount_minor() > 0 && refunded == captured;
        let to_refunded = fully && order.status.can_become(OrderStatus::Refunded);
        let change = OrderChange {
            status: to_refunded.then_some((order.status, OrderStatus::Refunded)),
            captured: Some(captured),
            refunded: Some(refunded),
            ..OrderChange::default()
        };
        let updated = tx
            .apply(id, Guard::Locked, &change, now)
            .await?
            .ok_or_else(|| OrderError::Invariant(format!("order {id} changed under its lock")))?;
        let mut recorded = Vec::new();
        if order.captured.amount_minor() == 0 && captured.amount_minor() > 0 {
            recorded.push(events::captured(&updated.order, captured, now));
        }
        if let Some(refund) = refund {
            recorded.push(events::refunded(
                &updated.order,
                refund,
                updated.order.refunded,
                fully,
                now,
            ));
        }
        tx.append(&recorded).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn refund_order(
        &self,
        id: OrderId,
        amount: Money,
    ) -> Result<OrderRefund, OrderError> {
        let order = self.load(id).await?.order;
        if !is_sold(order.status) && order.status != OrderStatus::Refunded {
            return Err(illegal(&order, "refunded"));
        }
        let payment_id = self.payment_id(&order)?;
        // Payments reserves the amount before calling the gateway, so concurrent refunds never
        // pass what was captured; the order only copies the result.
        let refund = self.payments.refund(payment_id, amount).await?;
        let payment = self.payments.payment(payment_id).await?;
        self.record_amounts(id, &payment, Some(&refund)).await?;
        tracing::info!(refund_id = %refund.id, "refund recorded");
        Ok(OrderRefund {
            order: self.load(id).await?.order,
            refund,
        })
    }

    pub(super) async fn deliver_order(&self, id: OrderId) -> Result<Order, OrderError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let order = tx
            .lock(id)
            .await?
            .ok_or(OrderError::OrderNotFound(id))?
            .order;
        match order.status {
            OrderStatus::Delivered => {
                tx.rollback().await?;
                return Ok(order);
            }
            OrderStatus::Fulfilled => {}
            _ => return Err(illegal(&order, "delivered")),
        }
        let change = OrderChange {
            status: Some((OrderStatus::Fulfilled, OrderStatus::Delivered)),
            ..OrderChange::default()
        };
        let updated = tx
            .apply(id, Guard::Locked, &change, now)
            .await?
            .ok_or_else(|| OrderError::Invariant(format!("order {id} changed under its lock")))?;
        tx.append(&[events::delivered(&updated.order, now)]).await?;
        tx.commit().await?;
        Ok(updated.order)
    }

    pub(super) async fn cancel_order(&self, id: OrderId) -> Result<Order, OrderError> {
        let order = self.load(id).await?.order;
        refuse_cancel(&order)?;
        if order.status == OrderStatus::Cancelled {
            return Ok(order);
        }
        let (record, lease) = self.claim_waiting(id, "cancelled").await?;
        if let Err(err) = refuse_cancel(&record.order) {
            self.release(id, &lease).await?;
            return Err(err);
        }
        match record.order.status {
            OrderStatus::Cancelled => {
                self.release(id, &lease).await?;
                Ok(record.order)
            }
            status if status.is_checkout_open() => {
                let cause = illegal(&record.order, "checked out");
                self.close_checkout(record, lease, CloseReason::Staff, cause)
                    .await?;
                Ok(self.load(id).await?.order)
            }
            _ => {
                let cancelled = self.cancel_confirmed(&record, &lease).await;
                self.release(id, &lease).await?;
                cancelled
            }
        }
    }

    /// Takes the saga lease, waiting up to `config.follow_wait` for a running driver to let go.
    async fn claim_waiting(
        &self,
        id: OrderId,
        action: &'static str,
    ) -> Result<(OrderRecord, SagaLease), OrderError> {
        let deadline = Instant::now() + self.config.follow_wait;
        loop {
            if let Some(claimed) = self.claim(id, self.clock.now()).await? {
                return Ok(claimed);
            }
            let order = self.load(id).await?.order;
            if Instant::now() >= deadline {
                return Err(illegal(&order, action));
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    }

    /// Cancels a confirmed order with nothing shipped: voids the hold or refunds what was
    /// captured, puts the committed units back on hand, then closes the order. Every call is
    /// idempotent (a refund of what is left refunds nothing the second time), so a retry after
    /// a failure part-way finishes the job.
    async fn cancel_confirmed(
        &self,
        record: &OrderRecord,
        lease: &SagaLease,
    ) -> Result<Order, OrderError> {
        let order = &record.order;
        let payment_id = self.payment_id(order)?;
        let payment = self.payments.resolve(payment_id).await?;
        let payment = match payment.status() {
            PaymentStatus::RequiresCapture | PaymentStatus::RequiresAction => {
                self.payments.void(payment_id).await?
            }
            PaymentStatus::Succeeded => self.refund_rest(payment).await?,
            _ => payment,
        };
        self.inventory.restock(&order.id.to_string()).await?;
        let now = self.clock.now();
        let change = OrderChange {
            status: Some((order.status, OrderStatus::Cancelled)),
            step: Some(SagaStep::Done),
            close_reason: Some(CloseReason::Staff),
            captured: Some(payment.captured()),
            refunded: Some(payment.refunded()),
            clear_payment_method: true,
            // The saga had not closed the cart yet: it may be checked out again.
            release_cart: order.saga_step != SagaStep::Done,
            ..OrderChange::default()
        };
        let updated = self
            .apply(order.id, Guard::Lease(&lease.id), change, |order| {
                vec![events::closed(order, true, now)]
            })
            .await?
            .ok_or_else(|| illegal(order, "cancelled"))?;
        tracing::info!(order_id = %order.id, "confirmed order cancelled");
        Ok(updated.order)
    }

    /// Marks the flag resolved by `staff`, or returns it as it is when it was resolved before.
    /// Flags do not touch the order's row, so no lock is taken: the conditional update lets
    /// exactly one of two racing calls resolve it, and the other reads what the first wrote.
    pub(super) async fn resolve_order_flag(
        &self,
        id: OrderId,
        flag_id: OrderFlagId,
        staff: StaffId,
    ) -> Result<OrderFlag, OrderError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        if let Some(flag) = tx.resolve_flag(id, flag_id, staff, now).await? {
            tx.commit().await?;
            tracing::info!(%flag_id, %staff, "order flag resolved");
            return Ok(flag);
        }
        let existing = tx.flag(id, flag_id).await?;
        let order_exists = existing.is_some() || tx.order_exists(id).await?;
        tx.rollback().await?;
        match existing {
            Some(flag) => Ok(flag),
            None if order_exists => Err(OrderError::OrderFlagNotFound {
                order_id: id,
                flag_id,
            }),
            None => Err(OrderError::OrderNotFound(id)),
        }
    }

    /// Refunds whatever of `payment`'s capture is not refunded yet; a concurrent refund that
    /// took part of it first only makes this one smaller.
    async fn refund_rest(&self, mut payment: Payment) -> Result<Payment, OrderError> {
        for _ in 0..2 {
            let rest = payment.refundable()?;
            if rest.amount_minor() <= 0 {
                return Ok(payment);
            }
            match self.payments.refund(payment.id(), rest).await {
                Ok(_) => return Ok(self.payments.payment(payment.id()).await?),
                Err(PaymentError::RefundExceedsCaptured { .. }) => {
                    payment = self.payments.payment(payment.id()).await?;
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(payment)
    }
}

/// Why `order` cannot be cancelled, if it cannot: something shipped, or it closed otherwise.
fn refuse_cancel(order: &Order) -> Result<(), OrderError> {
    let shipped = order.lines.iter().any(|line| line.fulfilled_quantity > 0);
    let cancellable = matches!(
        order.status,
        OrderStatus::Pending
            | OrderStatus::AwaitingPayment
            | OrderStatus::Confirmed
            | OrderStatus::Cancelled
    );
    if shipped || !cancellable {
        return Err(illegal(order, "cancelled"));
    }
    Ok(())
}
