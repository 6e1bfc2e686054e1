//! [`WebhookConsumer`]: turns each published event into one delivery per subscribed endpoint.

use std::sync::Arc;

use async_trait::async_trait;
use kassa_events::{BusError, Consumer, Event};
use kassa_kernel::Clock;
use serde::Serialize;

use crate::store::WebhookStore;

/// The consumer's name on the bus and in logs.
pub const CONSUMER_NAME: &str = "webhooks";

/// Subscribed to the bus; every event of every district passes through it.
///
/// An event no enabled endpoint subscribes to costs one read. Otherwise one transaction of the
/// webhooks database records the event in the inbox and adds a pending delivery, due at once,
/// for each enabled endpoint whose `event_types` match it, holding the exact body that will be
/// sent. The inbox (and the unique (endpoint, event) pair) make a redelivered event add
/// nothing. A storage failure is returned to the bus, so the relay publishes the event again.
pub struct WebhookConsumer {
    store: WebhookStore,
    clock: Arc<dyn Clock>,
}

impl WebhookConsumer {
    pub fn new(store: WebhookStore, clock: Arc<dyn Clock>) -> WebhookConsumer {
        WebhookConsumer { store, clock }
    }
}

#[async_trait]
impl Consumer for WebhookConsumer {
    fn name(&self) -> &str {
        CONSUMER_NAME
    }

    async fn handle(&self, source: &str, event: &Event) -> Result<(), BusError> {
        let fail = |err: kassa_db::DbError| {
            BusError(format!("webhook fan-out of {} failed: {err}", event.id))
        };
        if !self
            .store
            .any_subscriber(&event.event_type)
            .await
            .map_err(fail)?
        {
            return Ok(());
        }
        let added = self
            .store
            .fan_out(event, &body(source, event), self.clock.now())
            .await
            .map_err(fail)?;
        if added > 0 {
            tracing::debug!(event_id = %event.id, event_type = %event.event_type, added, "webhook deliveries recorded");
        }
        Ok(())
    }
}

/// What receivers get, in this member order.
#[derive(Serialize)]
struct Body<'a> {
    id: String,
    #[serde(rename = "type")]
    event_type: &'a str,
    source: &'a str,
    occurred_at: String,
    data: &'a serde_json::Value,
}

/// The JSON text of a delivery of `event` recorded by `source`:
/// `{"id": "evt_…", "type": …, "source": …, "occurred_at": RFC 3339, "data": …}`.
pub fn body(source: &str, event: &Event) -> String {
    let body = Body {
        id: event.id.to_string(),
        event_type: &event.event_type,
        source,
        occurred_at: event.occurred_at.to_rfc3339(),
        data: &event.data,
    };
    // Serialising strings and a JSON value cannot fail; `{}` would only hide a bug.
    serde_json::to_string(&body).unwrap_or_else(|_| String::from("{}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kassa_events::EventId;
    use kassa_kernel::Timestamp;

    #[test]
    fn the_body_has_its_members_in_the_documented_order() {
        let event = Event {
            id: EventId::new(),
            event_type: "order.placed".to_owned(),
            version: 1,
            aggregate_id: "ord_1".to_owned(),
            occurred_at: Timestamp::from_millis(1_795_322_376_123),
            data: serde_json::json!({"order_id": "ord_1"}),
            published_at: None,
        };
        assert_eq!(
            body("orders", &event),
            format!(
                r#"{{"id":"{}","type":"order.placed","source":"orders","occurred_at":"2026-11-22T04:39:36.123Z","data":{{"order_id":"ord_1"}}}}"#,
                event.id
            )
        );
    }
}
