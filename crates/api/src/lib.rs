//! The HTTP layer of kassa: the axum router, our extractors, DTOs, and the mapping of every
//! error to an RFC 9457 problem document.
//!
//! It owns no data and no business rules: handlers extract, convert DTOs into domain inputs,
//! call one district service held in [`AppState`], and convert the result back.
//!
//! Where to start reading:
//! - [`build`] assembles the application: [`routes::all`] (the route table, top to bottom),
//!   the `route_not_found` fallback, and [`middleware::layers`] (the stack, in one function).
//! - [`ApiError`] (in [`problem`]) is the error every handler returns; a district error
//!   converts into it with `?`. [`problem::registry()`] lists every problem code.
//! - [`extract`] has our `Json`, `Path` and `Query`: use them, not axum's, so bad input is a
//!   problem too. [`auth`] has the authentication extractors: [`auth::Staff`] with its
//!   permission (`Staff<CatalogWrite>`) guards every admin route, [`auth::Customer`] and
//!   [`auth::MaybeCustomer`] the customer's; [`audit`] records staff changes, with no code in
//!   handlers.
//! - [`openapi`] generates the OpenAPI 3.1 document and checks it against the [`RouteTable`].
//!
//! Adding a resource (as [`routes::carts`] did):
//! 1. `routes/<resource>/mod.rs` with `pub fn routes() -> Routes { Routes::new().post(...) }`,
//!    merged in [`routes::all`], and handlers annotated `#[utoipa::path(...)]` (document every
//!    response, errors with `body = Problem, content_type = "application/problem+json"`; staff
//!    routes take `Staff<Permission>` and declare `security(("staff_token" = []))`, customer
//!    routes `security(("customer_token" = []))`), one file per sub-resource.
//! 2. DTOs in `routes/<resource>/dto.rs` derive `Serialize`/`Deserialize` (inputs with
//!    `deny_unknown_fields`) and `utoipa::ToSchema`; money is [`MoneyDto`], lists follow
//!    [`page`].
//! 3. A `#[derive(utoipa::OpenApi)] pub struct <Resource>Api` next to `routes()` lists the
//!    handlers and DTOs; add it to the documents [`openapi::openapi`] merges.
//! 4. Add the district's `PROBLEM_TYPES` in [`problem::registry()`]; its error enum implements
//!    `kassa_kernel::DomainError`, which is all `?` needs.
//! 5. Its service goes into [`AppState`] as an `Arc<dyn …Service>`.

pub mod audit;
pub mod auth;
pub mod client;
pub mod extract;
pub mod idempotency;
pub mod metrics;
pub mod middleware;
pub mod money;
pub mod openapi;
pub mod page;
pub mod problem;
pub mod request_id;
pub mod route_table;
pub mod routes;
pub mod state;

#[cfg(test)]
mod fakes;
#[cfg(test)]
mod idempotency_tests;
#[cfg(test)]
mod orders_router_tests;
#[cfg(test)]
mod router_tests;

pub use money::MoneyDto;
pub use problem::{ApiError, FieldError, Problem};
pub use route_table::{RouteTable, Routes};
pub use state::{ApiConfig, AppState, Readiness, Services, SharedState};

use axum::Router;

/// The whole application for `state`, ready to serve, and the table of its routes.
pub fn build(state: AppState) -> (Router, RouteTable) {
    assemble(routes::all(), state)
}

/// Adds the fallback and the middleware to `routes`. Split from [`build`] so tests can add
/// routes of their own and still get the real stack.
pub(crate) fn assemble(routes: Routes, state: AppState) -> (Router, RouteTable) {
    let (router, table) = routes.into_parts();
    let router = router.fallback(middleware::route_not_found);
    let router = middleware::layers(router, &state).with_state(state);
    (router, table)
}
