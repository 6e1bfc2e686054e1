//! The route table, read top to bottom: one module per resource, each exposing `routes()`.
//!
//! A handler is added to its module's `routes()` *and* to its module's OpenAPI document
//! (`IdentityApi`, `CatalogApi`, `CartApi`, `OrdersApi`, `InventoryApi`, `EventsApi`,
//! `SandboxApi`, `WebhooksApi`, `GatewayApi`, or `openapi::ApiDoc` for the service routes); the tests in
//! `openapi` fail when the route table and the merged document disagree.

pub mod carts;
pub mod catalog;
pub mod events;
pub mod gateway;
pub mod identity;
pub mod inventory;
pub mod mailbox;
pub mod orders;
pub mod sandbox;
pub mod service;
pub mod webhooks;

use crate::route_table::Routes;

/// Every route the server serves, before the fallback and the middleware are added.
pub fn all() -> Routes {
    service::routes()
        .merge(identity::routes())
        .merge(catalog::routes())
        .merge(carts::routes())
        .merge(orders::routes())
        .merge(inventory::routes())
        .merge(events::routes())
        .merge(mailbox::routes())
        .merge(sandbox::routes())
        .merge(webhooks::routes())
        .merge(gateway::routes())
}
