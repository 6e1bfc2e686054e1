//! [`PaymentsConsumer`]: applies the payments district's events that concern an order. Orders
//! never reads payments' tables; what it learns of a payment after checkout arrives here.
//!
//! | event | effect |
//! |---|---|
//! | `payment.disputed` | a `dispute` flag on the order named by `order_ref` (one per dispute id), and `order.flagged` |
//!
//! Every other event is skipped without being recorded. An applied event is recorded in the
//! inbox `orders_inbox` in the same transaction as its effects, so a redelivery changes nothing.

use std::sync::Arc;

use async_trait::async_trait;
use kassa_events::{BusError, Consumer, Event};
use kassa_kernel::ids::OrderId;
use kassa_kernel::{Clock, Money, Timestamp};
use serde_json::Value;

use crate::events;
use crate::model::{FlagKind, OrderFlag, OrderFlagId};
use crate::store::OrderStore;

/// The consumer's stable name, for the bus's logs.
pub const CONSUMER_NAME: &str = "orders.payments";

/// The consumer's inbox table, created by the district's migration.
pub const INBOX_TABLE: &str = "orders_inbox";

/// Payments' event for a dispute opened against a payment (version 1; `aggregate_id` is the
/// payment id). Written out here rather than imported, as the orders district reads only the
/// event's documented shape: `payment_id`, `order_ref`, `gateway`, `dispute_ref`, `amount`,
/// `reason`, `status`.
pub const PAYMENT_DISPUTED: &str = "payment.disputed";

/// Longest `dispute_ref`, `reason`, `status` or `payment_id` accepted from an event, in
/// characters: gateway ids and codes are far shorter; a longer value means a broken producer.
pub const DISPUTE_TEXT_LEN_MAX: usize = 255;

/// Subscribed to the bus; flags an order for staff when payments reports a dispute.
pub struct PaymentsConsumer {
    store: OrderStore,
    clock: Arc<dyn Clock>,
}

impl PaymentsConsumer {
    pub fn new(store: OrderStore, clock: Arc<dyn Clock>) -> PaymentsConsumer {
        PaymentsConsumer { store, clock }
    }
}

/// What one dispute event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The flag was raised and `order.flagged` recorded.
    Flagged,
    /// This event was applied before.
    Redelivered,
    /// Another event already raised the flag of this dispute.
    AlreadyFlagged,
    /// No such order; nothing was recorded.
    UnknownOrder,
}

#[async_trait]
impl Consumer for PaymentsConsumer {
    fn name(&self) -> &str {
        CONSUMER_NAME
    }

    /// Errors only when the orders database failed, so the relay publishes the event again. A
    /// dispute that can never become a flag (malformed data, an order that does not exist) is
    /// logged and skipped: the outbox only holds committed events, so either is a bug, and
    /// retrying it forever would block the events behind it.
    async fn handle(&self, source: &str, event: &Event) -> Result<(), BusError> {
        if event.event_type != PAYMENT_DISPUTED {
            return Ok(());
        }
        let now = self.clock.now();
        let flag = match dispute_flag(event, now) {
            Ok(flag) => flag,
            Err(problem) => {
                tracing::error!(
                    event_id = %event.id,
                    event_type = %event.event_type,
                    source,
                    problem,
                    "a dispute event cannot be turned into an order flag; skipped"
                );
                return Ok(());
            }
        };
        let outcome = self.raise(event, &flag, now).await.map_err(|err| {
            BusError(format!(
                "flagging order {} for {}: {err}",
                flag.order_id, event.id
            ))
        })?;
        match outcome {
            Outcome::Flagged => tracing::info!(
                flag_id = %flag.id,
                order_id = %flag.order_id,
                dispute_ref = %flag.source_ref,
                event_id = %event.id,
                "order flagged for a payment dispute"
            ),
            Outcome::Redelivered => {}
            Outcome::AlreadyFlagged => tracing::info!(
                order_id = %flag.order_id,
                dispute_ref = %flag.source_ref,
                event_id = %event.id,
                "the dispute has flagged its order already"
            ),
            Outcome::UnknownOrder => tracing::error!(
                event_id = %event.id,
                event_type = %event.event_type,
                source,
                order_id = %flag.order_id,
                dispute_ref = %flag.source_ref,
                "the order of a disputed payment does not exist; no flag raised"
            ),
        }
        Ok(())
    }
}

impl PaymentsConsumer {
    /// In one orders transaction: records `event` in the inbox, inserts `flag` and appends
    /// `order.flagged`. Commits only the inbox entry when the dispute was flagged before, and
    /// nothing for an unknown order.
    async fn raise(
        &self,
        event: &Event,
        flag: &OrderFlag,
        now: Timestamp,
    ) -> Result<Outcome, kassa_db::DbError> {
        let mut tx = self.store.begin().await?;
        if !tx.first_time(event.id, now).await? {
            tx.rollback().await?;
            return Ok(Outcome::Redelivered);
        }
        if !tx.order_exists(flag.order_id).await? {
            tx.rollback().await?;
            return Ok(Outcome::UnknownOrder);
        }
        if !tx.insert_flag(flag).await? {
            tx.commit().await?;
            return Ok(Outcome::AlreadyFlagged);
        }
        tx.append(&[events::flagged(flag, now)]).await?;
        tx.commit().await?;
        Ok(Outcome::Flagged)
    }
}

/// The flag a `payment.disputed` event asks for, raised at `now`; `Err` says why the event
/// cannot be one.
fn dispute_flag(event: &Event, now: Timestamp) -> Result<OrderFlag, String> {
    if event.version != 1 {
        return Err(format!(
            "version {} is not the known version 1",
            event.version
        ));
    }
    let data = &event.data;
    let text = |name: &str| -> Result<String, String> {
        let value = data
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("data: {name} is missing or not a string"))?;
        let len = value.chars().count();
        if len == 0 || len > DISPUTE_TEXT_LEN_MAX {
            return Err(format!(
                "data: {name} must be 1 to {DISPUTE_TEXT_LEN_MAX} characters, not {len}"
            ));
        }
        Ok(value.to_owned())
    };
    let order_id = text("order_ref")?
        .parse::<OrderId>()
        .map_err(|err| format!("data: order_ref: {err}"))?;
    let amount = data
        .get("amount")
        .ok_or_else(|| "data: amount is missing".to_owned())
        .and_then(|v| {
            serde_json::from_value::<Money>(v.clone()).map_err(|err| format!("data: amount: {err}"))
        })?;
    Ok(OrderFlag {
        id: OrderFlagId::new(),
        order_id,
        kind: FlagKind::Dispute,
        source_ref: text("dispute_ref")?,
        reason: text("reason")?,
        amount,
        status: text("status")?,
        payment_id: text("payment_id")?,
        raised_at: now,
        resolved_at: None,
        resolved_by: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kassa_events::EventId;
    use kassa_kernel::Currency;
    use serde_json::json;

    const NOW_MS: i64 = 1_795_322_376_123;

    fn now() -> Timestamp {
        Timestamp::from_millis(NOW_MS)
    }

    fn disputed(data: Value) -> Event {
        Event {
            id: EventId::new(),
            event_type: PAYMENT_DISPUTED.to_owned(),
            version: 1,
            aggregate_id: "pay_1".to_owned(),
            occurred_at: Timestamp::from_millis(NOW_MS),
            data,
            published_at: None,
        }
    }

    fn data(order_id: OrderId) -> Value {
        json!({
            "payment_id": "pay_0191b7c26d4e7cc28a113f2b4c5d6e7f",
            "order_ref": order_id.to_string(),
            "gateway": "stripe",
            "dispute_ref": "dp_1",
            "amount": {"amount_minor": 2500, "currency": "EUR"},
            "reason": "fraudulent",
            "status": "needs_response",
        })
    }

    #[test]
    fn a_dispute_event_becomes_an_open_dispute_flag_on_its_order() {
        let order_id = OrderId::new();
        let flag = dispute_flag(&disputed(data(order_id)), now()).unwrap();
        assert_eq!(flag.order_id, order_id);
        assert_eq!(flag.kind, FlagKind::Dispute);
        assert_eq!(flag.source_ref, "dp_1");
        assert_eq!(flag.reason, "fraudulent");
        assert_eq!(flag.status, "needs_response");
        assert_eq!(flag.amount, Money::new(2500, Currency::Eur));
        assert_eq!(flag.payment_id, "pay_0191b7c26d4e7cc28a113f2b4c5d6e7f");
        assert_eq!(flag.raised_at, now());
        assert!(flag.is_open());
    }

    #[test]
    fn malformed_dispute_data_is_refused_with_the_member_at_fault() {
        let order_id = OrderId::new();
        let broken = |member: &str, value: Value| {
            let mut data = data(order_id);
            data[member] = value;
            dispute_flag(&disputed(data), now()).unwrap_err()
        };
        assert!(broken("order_ref", json!("pay_1")).contains("order_ref"));
        assert!(broken("order_ref", Value::Null).contains("order_ref"));
        assert!(broken("dispute_ref", json!("")).contains("dispute_ref"));
        let long = "x".repeat(DISPUTE_TEXT_LEN_MAX + 1);
        assert!(broken("reason", json!(long)).contains("reason"));
        let longest = "x".repeat(DISPUTE_TEXT_LEN_MAX);
        assert!(dispute_flag(
            &disputed({
                let mut data = data(order_id);
                data["reason"] = json!(longest);
                data
            }),
            now()
        )
        .is_ok());
        assert!(broken("amount", json!({"amount_minor": 1, "currency": "XXX"})).contains("amount"));
        assert!(broken("amount", json!(2500)).contains("amount"));
        assert!(broken("status", json!(3)).contains("status"));
        let mut v2 = disputed(data(order_id));
        v2.version = 2;
        assert!(dispute_flag(&v2, now()).unwrap_err().contains("version"));
    }
}
