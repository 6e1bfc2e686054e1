//! The events the payments district records in `payments_outbox`, each in the same transaction
//! as the change it describes. All are version 1; the aggregate is the payment id. Every event
//! carries `payment_id` and `order_ref`; amounts are `{"amount_minor", "currency"}`.
//!
//! | type | when | more data |
//! |---|---|---|
//! | `payment.authorized` | funds are held (`requires_capture`), directly or after 3-D Secure | `amount` |
//! | `payment.requires_action` | the shopper must pass 3-D Secure | `redirect_url` (null when the action runs in the gateway's script) |
//! | `payment.declined` | the authorization was declined (`failed`) | `code`, `message` |
//! | `payment.captured` | the capture is recorded (`succeeded`) | `amount` (captured) |
//! | `payment.voided` | the payment is `canceled` | — |
//! | `payment.refunded` | a refund succeeded | `refund_id`, `amount`, `refunded` (total so far) |
//! | `payment.failed` | the gateway did not perform an authorization, capture, void or refund | `operation`, `refund_id`, `reason` |
//! | `payment.disputed` | the shopper disputed the payment with their bank (gateway webhook) | `gateway`, `dispute_ref`, `amount`, `reason`, `status` |
//!
//! The gateway's webhooks can also cause `authorized`, `requires_action`, `declined`,
//! `captured` (a capture made in the gateway's dashboard), `voided` (canceled or expired at the
//! gateway) and `refunded` (a refund made at the gateway; its `refund_id` is kassa's record of
//! it).
//!
//! A call whose outcome is unknown (timeout) changes nothing and records no event; its attempt
//! is recorded.

use kassa_events::NewEvent;
use kassa_kernel::{Money, Timestamp};
use serde_json::{json, Value};

use crate::model::{Decline, Operation, Payment, Refund};

/// The payments district's outbox table.
pub const OUTBOX: &str = "payments_outbox";

pub const PAYMENT_AUTHORIZED: &str = "payment.authorized";
pub const PAYMENT_REQUIRES_ACTION: &str = "payment.requires_action";
pub const PAYMENT_DECLINED: &str = "payment.declined";
pub const PAYMENT_CAPTURED: &str = "payment.captured";
pub const PAYMENT_VOIDED: &str = "payment.voided";
pub const PAYMENT_REFUNDED: &str = "payment.refunded";
pub const PAYMENT_FAILED: &str = "payment.failed";
pub const PAYMENT_DISPUTED: &str = "payment.disputed";

/// Every event type above, for consumers that let users choose among them (webhook
/// subscriptions validate against it). Add a new type here too.
pub const ALL: &[&str] = &[
    PAYMENT_AUTHORIZED,
    PAYMENT_REQUIRES_ACTION,
    PAYMENT_DECLINED,
    PAYMENT_CAPTURED,
    PAYMENT_VOIDED,
    PAYMENT_REFUNDED,
    PAYMENT_FAILED,
    PAYMENT_DISPUTED,
];

fn money(amount: Money) -> Value {
    json!({"amount_minor": amount.amount_minor(), "currency": amount.currency().code()})
}

fn event(event_type: &'static str, payment: &Payment, now: Timestamp, more: Value) -> NewEvent {
    let mut data = json!({
        "payment_id": payment.id().to_string(),
        "order_ref": payment.order_ref().as_str(),
    });
    if let (Some(data), Value::Object(more)) = (data.as_object_mut(), more) {
        data.extend(more);
    }
    NewEvent::v1(event_type, payment.id().to_string(), now, data)
}

pub fn authorized(payment: &Payment, now: Timestamp) -> NewEvent {
    event(
        PAYMENT_AUTHORIZED,
        payment,
        now,
        json!({"amount": money(payment.amount())}),
    )
}

pub fn requires_action(payment: &Payment, now: Timestamp) -> NewEvent {
    // The redirect only: the client secret is for the shopper's browser, not for subscribers.
    let url = payment
        .next_action()
        .and_then(|a| a.redirect_url.as_deref());
    event(
        PAYMENT_REQUIRES_ACTION,
        payment,
        now,
        json!({"redirect_url": url}),
    )
}

pub fn declined(payment: &Payment, decline: &Decline, now: Timestamp) -> NewEvent {
    event(
        PAYMENT_DECLINED,
        payment,
        now,
        json!({"code": decline.code, "message": decline.message}),
    )
}

pub fn captured(payment: &Payment, now: Timestamp) -> NewEvent {
    event(
        PAYMENT_CAPTURED,
        payment,
        now,
        json!({"amount": money(payment.captured())}),
    )
}

pub fn voided(payment: &Payment, now: Timestamp) -> NewEvent {
    event(PAYMENT_VOIDED, payment, now, json!({}))
}

/// `refunded_total` is the payment's `refunded` after this refund (pending ones included).
pub fn refunded(
    payment: &Payment,
    refund: &Refund,
    refunded_total: Money,
    now: Timestamp,
) -> NewEvent {
    event(
        PAYMENT_REFUNDED,
        payment,
        now,
        json!({
            "refund_id": refund.id.to_string(),
            "amount": money(refund.amount),
            "refunded": money(refunded_total),
        }),
    )
}

/// `reason` is for operators: a decline code or the kind of gateway error, never a token.
pub fn failed(
    payment: &Payment,
    operation: Operation,
    refund: Option<&Refund>,
    reason: &str,
    now: Timestamp,
) -> NewEvent {
    event(
        PAYMENT_FAILED,
        payment,
        now,
        json!({
            "operation": operation.as_str(),
            "refund_id": refund.map(|r| r.id.to_string()),
            "reason": reason,
        }),
    )
}

/// The shopper disputed the payment with their bank (a chargeback). The orders district flags
/// the order for staff.
pub fn disputed(
    payment: &Payment,
    gateway: &str,
    dispute_ref: &str,
    amount: Money,
    reason: &str,
    status: &str,
    now: Timestamp,
) -> NewEvent {
    event(
        PAYMENT_DISPUTED,
        payment,
        now,
        json!({
            "gateway": gateway,
            "dispute_ref": dispute_ref,
            "amount": money(amount),
            "reason": reason,
            "status": status,
        }),
    )
}
