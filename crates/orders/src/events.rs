//! Events the orders district records in `orders_outbox`, each in the same transaction as the
//! change it describes (version 1 of each; `aggregate_id` is the order's id).
//!
//! | type | when | data |
//! |---|---|---|
//! | `order.placed` | the checkout confirmed the order | `order_id`, `cart_id`, `customer_id`, `email`, `lines` (`sku`, `quantity`, `unit_price`), `total` |
//! | `order.cancelled` | cancelled (short stock, expired reservation, staff) | `order_id`, `reason`, `confirmed` (whether it had been), `refunded` |
//! | `order.payment_failed` | the payment was declined or the gateway refused it | `order_id`, `reason` |
//! | `order.captured` | the payment was captured | `order_id`, `payment_id`, `amount` |
//! | `order.partially_fulfilled` / `order.fulfilled` | a shipment was recorded; the type says whether units are left | `order_id`, `fulfilment_id`, `lines` (`sku`, `quantity`), `carrier`, `tracking_number` |
//! | `order.delivered` | the carrier delivered it | `order_id` |
//! | `order.refunded` | a refund succeeded | `order_id`, `refund_id`, `amount`, `refunded` (the total so far), `fully_refunded` |
//! | `order.flagged` | a flag was raised for staff (payments reported a dispute) | `order_id`, `flag_id`, `kind` (`dispute`), `reason`, `amount` (disputed), `dispute_ref` |
//!
//! Money is `{"amount_minor", "currency"}` as on the wire.

use kassa_events::NewEvent;
use kassa_kernel::{Money, Timestamp};
use kassa_payments::Refund;
use serde_json::{json, Value};

use crate::model::{Fulfilment, Order, OrderFlag, OrderStatus};

/// The orders' outbox table, created by its migration from [`kassa_events::outbox_table_sql`].
pub const OUTBOX_TABLE: &str = "orders_outbox";

pub const PLACED: &str = "order.placed";
pub const CANCELLED: &str = "order.cancelled";
pub const PAYMENT_FAILED: &str = "order.payment_failed";
pub const CAPTURED: &str = "order.captured";
pub const PARTIALLY_FULFILLED: &str = "order.partially_fulfilled";
pub const FULFILLED: &str = "order.fulfilled";
pub const DELIVERED: &str = "order.delivered";
pub const REFUNDED: &str = "order.refunded";
pub const FLAGGED: &str = "order.flagged";

/// Every event type above, for consumers that let users choose among them (webhook
/// subscriptions validate against it). Add a new type here too.
pub const ALL: &[&str] = &[
    PLACED,
    CANCELLED,
    PAYMENT_FAILED,
    CAPTURED,
    PARTIALLY_FULFILLED,
    FULFILLED,
    DELIVERED,
    REFUNDED,
    FLAGGED,
];

fn event(event_type: &'static str, order: &Order, at: Timestamp, data: Value) -> NewEvent {
    NewEvent::v1(event_type, order.id.to_string(), at, data)
}

fn money(amount: Money) -> Value {
    json!({"amount_minor": amount.amount_minor(), "currency": amount.currency().code()})
}

pub(crate) fn placed(order: &Order, at: Timestamp) -> NewEvent {
    let lines: Vec<Value> = order
        .lines
        .iter()
        .map(|line| {
            json!({
                "sku": line.sku.as_str(),
                "quantity": line.quantity.get(),
                "unit_price": money(line.unit_price),
            })
        })
        .collect();
    event(
        PLACED,
        order,
        at,
        json!({
            "order_id": order.id.to_string(),
            "cart_id": order.cart_id.to_string(),
            "customer_id": order.customer_id.map(|c| c.to_string()),
            "email": order.email.as_str(),
            "lines": lines,
            "total": money(order.totals.total),
        }),
    )
}

/// `order.cancelled` or `order.payment_failed`, by the status `order` is closed with.
pub(crate) fn closed(order: &Order, was_confirmed: bool, at: Timestamp) -> NewEvent {
    let reason = order.close_reason.map(|r| r.as_str());
    if order.status == OrderStatus::PaymentFailed {
        return event(
            PAYMENT_FAILED,
            order,
            at,
            json!({"order_id": order.id.to_string(), "reason": reason}),
        );
    }
    event(
        CANCELLED,
        order,
        at,
        json!({
            "order_id": order.id.to_string(),
            "reason": reason,
            "confirmed": was_confirmed,
            "refunded": money(order.refunded),
        }),
    )
}

pub(crate) fn captured(order: &Order, amount: Money, at: Timestamp) -> NewEvent {
    event(
        CAPTURED,
        order,
        at,
        json!({
            "order_id": order.id.to_string(),
            "payment_id": order.payment_id.map(|p| p.to_string()),
            "amount": money(amount),
        }),
    )
}

/// `order.fulfilled` when `status` is `fulfilled`, else `order.partially_fulfilled`.
pub(crate) fn fulfilled(order: &Order, status: OrderStatus, fulfilment: &Fulfilment) -> NewEvent {
    let event_type = if status == OrderStatus::Fulfilled {
        FULFILLED
    } else {
        PARTIALLY_FULFILLED
    };
    let lines: Vec<Value> = fulfilment
        .lines
        .iter()
        .map(|(sku, quantity)| json!({"sku": sku.as_str(), "quantity": quantity.get()}))
        .collect();
    event(
        event_type,
        order,
        fulfilment.created_at,
        json!({
            "order_id": order.id.to_string(),
            "fulfilment_id": fulfilment.id.to_string(),
            "lines": lines,
            "carrier": fulfilment.carrier,
            "tracking_number": fulfilment.tracking_number,
        }),
    )
}

pub(crate) fn delivered(order: &Order, at: Timestamp) -> NewEvent {
    event(
        DELIVERED,
        order,
        at,
        json!({"order_id": order.id.to_string()}),
    )
}

pub(crate) fn refunded(
    order: &Order,
    refund: &Refund,
    refunded_total: Money,
    fully: bool,
    at: Timestamp,
) -> NewEvent {
    event(
        REFUNDED,
        order,
        at,
        json!({
            "order_id": order.id.to_string(),
            "refund_id": refund.id.to_string(),
            "amount": money(refund.amount),
            "refunded": money(refunded_total),
            "fully_refunded": fully,
        }),
    )
}

/// `order.flagged`: `flag` was raised on its order at `at`. `dispute_ref` is the flag's source
/// (the gateway's dispute id), the only kind of flag there is.
pub(crate) fn flagged(flag: &OrderFlag, at: Timestamp) -> NewEvent {
    NewEvent::v1(
        FLAGGED,
        flag.order_id.to_string(),
        at,
        json!({
            "order_id": flag.order_id.to_string(),
            "flag_id": flag.id.to_string(),
            "kind": flag.kind.as_str(),
            "reason": flag.reason,
            "amount": money(flag.amount),
            "dispute_ref": flag.source_ref,
        }),
    )
}
