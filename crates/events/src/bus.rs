//! [`Bus`]: where a [`crate::Relay`] publishes, and [`InProcessBus`], the embedded default that
//! hands each event to the process's own [`Consumer`]s.

use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;

use crate::Event;

/// A publish or a delivery that did not go through; the relay tries the event again later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BusError(pub String);

/// Accepts published events.
#[async_trait]
pub trait Bus: Send + Sync {
    /// Publishes `event`, recorded by `source` (the district: `orders`, `catalog`, …). Returns
    /// once the bus has accepted it — durably, for a broker — so the relay may mark it
    /// published. The same event may be published again after a crash; consumers see its id.
    async fn publish(&self, source: &str, event: &Event) -> Result<(), BusError>;
}

/// Reacts to events. Deliveries are at least once: a consumer applies an event once by
/// recording its id with [`crate::inbox::first_time`] in the transaction that applies it.
#[async_trait]
pub trait Consumer: Send + Sync {
    /// A stable name, for logs and for the consumer's inbox.
    fn name(&self) -> &str;

    /// Handles one event. An error makes the relay publish the event again later (to every
    /// consumer: the others skip it by its id).
    async fn handle(&self, source: &str, event: &Event) -> Result<(), BusError>;
}

/// The in-process bus: a publish hands the event to every subscribed consumer in turn and
/// succeeds when all of them did.
#[derive(Default)]
pub struct InProcessBus {
    consumers: RwLock<Vec<Arc<dyn Consumer>>>,
}

impl InProcessBus {
    pub fn new() -> InProcessBus {
        InProcessBus::default()
    }

    /// Adds a consumer; it receives every event published from now on.
    pub fn subscribe(&self, consumer: Arc<dyn Consumer>) {
        self.consumers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(consumer);
    }
}

#[async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, source: &str, event: &Event) -> Result<(), BusError> {
        let consumers = self
            .consumers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for consumer in consumers {
            consumer
                .handle(source, event)
                .await
                .map_err(|err| BusError(format!("consumer {} failed: {err}", consumer.name())))?;
        }
        Ok(())
    }
}
