//! [`NotificationConsumer`]: turns the orders district's events into queued emails.
//!
//! | event | email |
//! |---|---|
//! | `order.placed` | `order_confirmed` |
//! | `order.fulfilled`, `order.partially_fulfilled` | `order_shipped`, with carrier, tracking number and the shipment's lines |
//! | `order.cancelled` with `confirmed: true` | `order_cancelled`, with the refunded amount when not zero |
//! | `order.cancelled` with `confirmed: false` | none: the shopper never got a confirmation |
//! | `order.refunded` | `order_refunded`, with the amount and the total refunded so far |
//!
//! Every other event is skipped without being recorded.

use std::sync::Arc;

use async_trait::async_trait;
use kassa_events::{BusError, Consumer, Event};
use kassa_kernel::ids::OrderId;
use kassa_kernel::{Clock, Money};
use kassa_orders::events as order_events;
use serde::Deserialize;

use crate::lookup::OrderLookup;
use crate::model::{MessageId, NotifyConfig};
use crate::store::{NewMessage, NotifyStore};
use crate::templates::{render, Details};

/// The consumer's stable name, for the bus's logs.
pub const CONSUMER_NAME: &str = "notifications";

/// The consumer's inbox table, created by the district's migration.
pub const INBOX_TABLE: &str = "notification_inbox";

/// Queues an email for each orders event a shopper should hear about.
pub struct NotificationConsumer {
    store: NotifyStore,
    /// Where the order behind an event is read: its lines, totals and the shopper's address.
    orders: Arc<dyn OrderLookup>,
    clock: Arc<dyn Clock>,
    shop_name: String,
}

/// What the consumer decided about one event before touching the database.
enum Plan {
    /// Not an event that reaches the shopper.
    Skip,
    Notify(OrderId, Details),
}

impl NotificationConsumer {
    pub fn new(
        store: NotifyStore,
        orders: Arc<dyn OrderLookup>,
        clock: Arc<dyn Clock>,
        config: &NotifyConfig,
    ) -> Self {
        NotificationConsumer {
            store,
            orders,
            clock,
            shop_name: config.shop_name.clone(),
        }
    }
}

#[async_trait]
impl Consumer for NotificationConsumer {
    fn name(&self) -> &str {
        CONSUMER_NAME
    }

    /// Errors only when trying again later can help: the order could not be read, or the
    /// database failed. An event that can never become an email (malformed data, an order that
    /// does not exist) is logged and skipped: the outbox only holds committed events, so either
    /// is a bug, and retrying it forever would block the events behind it.
    async fn handle(&self, source: &str, event: &Event) -> Result<(), BusError> {
        let (order_id, details) = match plan(event) {
            Ok(Plan::Skip) => return Ok(()),
            Ok(Plan::Notify(order_id, details)) => (order_id, details),
            Err(problem) => {
                tracing::error!(
                    event_id = %event.id,
                    event_type = %event.event_type,
                    source,
                    problem,
                    "an orders event cannot be turned into an email; skipped"
                );
                return Ok(());
            }
        };
        let order = self
            .orders
            .order(order_id)
            .await
            .map_err(|err| BusError(format!("looking up order {order_id}: {err}")))?;
        let Some(order) = order else {
            tracing::error!(
                event_id = %event.id,
                event_type = %event.event_type,
                %order_id,
                "the order of a published event does not exist; no email queued"
            );
            return Ok(());
        };
        let rendered = render(&self.shop_name, &order, &details);
        let message = NewMessage {
            id: MessageId::new(),
            event_id: event.id,
            order_id,
            kind: details.kind(),
            to: order.email.clone(),
            subject: rendered.subject,
            text_body: rendered.text,
            html_body: rendered.html,
        };
        let queued = self
            .store
            .queue(event.id, self.clock.now(), &message)
            .await
            .map_err(|err| BusError(format!("queueing the email for {}: {err}", event.id)))?;
        if queued {
            tracing::info!(
                message_id = %message.id,
                event_id = %event.id,
                %order_id,
                kind = %message.kind,
                "email queued"
            );
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct ShippedData {
    carrier: String,
    tracking_number: String,
    lines: Vec<ShippedLine>,
}

#[derive(Deserialize)]
struct ShippedLine {
    sku: String,
    quantity: u32,
}

#[derive(Deserialize)]
struct CancelledData {
    confirmed: bool,
    refunded: Money,
}

#[derive(Deserialize)]
struct RefundedData {
    amount: Money,
    refunded: Money,
}

/// Which email `event` asks for, from its type and data alone; `Err` says why it cannot be one.
fn plan(event: &Event) -> Result<Plan, String> {
    let details = match event.event_type.as_str() {
        order_events::PLACED => Details::Confirmed,
        order_events::FULFILLED | order_events::PARTIALLY_FULFILLED => {
            let data: ShippedData = data(event)?;
            Details::Shipped {
                partial: event.event_type == order_events::PARTIALLY_FULFILLED,
                carrier: data.carrier,
                tracking_number: data.tracking_number,
                lines: data
                    .lines
                    .into_iter()
                    .map(|line| (line.sku, line.quantity))
                    .collect(),
            }
        }
        order_events::CANCELLED => {
            let data: CancelledData = data(event)?;
            if !data.confirmed {
                return Ok(Plan::Skip);
            }
            Details::Cancelled {
                refunded: data.refunded,
            }
        }
        order_events::REFUNDED => {
            let data: RefundedData = data(event)?;
            Details::Refunded {
                amount: data.amount,
                refunded_total: data.refunded,
            }
        }
        _ => return Ok(Plan::Skip),
    };
    let order_id = event
        .aggregate_id
        .parse::<OrderId>()
        .map_err(|err| format!("aggregate id: {err}"))?;
    Ok(Plan::Notify(order_id, details))
}

fn data<T: for<'de> Deserialize<'de>>(event: &Event) -> Result<T, String> {
    T::deserialize(&event.data).map_err(|err| format!("data: {err}"))
}
