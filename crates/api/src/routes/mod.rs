//! The route table, read top to bottom: one module per resource, each exposing `routes()`.
//!
//! A handler is added here *and* listed in `openapi::ApiDoc`; the tests in `openapi` fail when
//! the two disagree.

pub mod service;

use crate::route_table::Routes;

/// Every route the server serves, before the fallback and the middleware are added.
pub fn all() -> Routes {
    service::routes()
    // domain routers are merged here, e.g.
    // .merge(catalog::routes())
    // .merge(carts::routes())
}
