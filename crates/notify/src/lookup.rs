//! [`OrderLookup`]: the one thing notifications need from the orders district — the order an
//! event is about — as a narrow trait, so the consumer can be tested with a fake and does not
//! depend on the whole orders service.

use std::sync::Arc;

use async_trait::async_trait;
use kassa_kernel::ids::OrderId;
use kassa_orders::{Order, OrderAccess, OrderError, OrderService};

use crate::LookupError;

#[async_trait]
pub trait OrderLookup: Send + Sync {
    /// The order as it is now; `None` if there is no such order. An error means the order could
    /// not be read right now and asking again later may work.
    async fn order(&self, id: OrderId) -> Result<Option<Order>, LookupError>;
}

/// Reads through the orders service with staff access: the consumer acts for the shop, not for a
/// shopper holding a token.
#[async_trait]
impl OrderLookup for Arc<dyn OrderService> {
    async fn order(&self, id: OrderId) -> Result<Option<Order>, LookupError> {
        match OrderService::order(self.as_ref(), id, &OrderAccess::Staff).await {
            Ok(order) => Ok(Some(order)),
            Err(OrderError::OrderNotFound(_)) => Ok(None),
            Err(err) => Err(LookupError::new(err)),
        }
    }
}
