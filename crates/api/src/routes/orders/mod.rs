//! Checkout and orders: the shopper's checkout under `/v1/carts`, their orders under
//! `/v1/orders`, and the staff order routes under `/v1/admin/orders` (docs/API.md, "Checkout"
//! and "Orders").
//!
//! Checkout lives here rather than with the carts because what it answers, and every way it
//! fails past the cart's own checks, is the orders district's: the saga (reserve, authorize,
//! commit, confirm) is `OrderService::checkout`, and the handler only converts.
//!
//! A shopper reads an order with their bearer token (their own orders) or the `Order-Token`
//! header the checkout answered (exactly that order). Every other way of asking — another
//! customer's order, a wrong token, a malformed id — is the same 404 `order_not_found`, so
//! orders cannot be probed.
//!
//! Handlers are in [`shopper`] and [`staff`]; wire shapes in [`dto`].

pub mod dto;
pub mod shopper;
pub mod staff;

use http::{HeaderName, StatusCode};
use kassa_kernel::ids::OrderId;
use kassa_orders::OrderError;
use kassa_payments::PaymentError;
use utoipa::OpenApi;

use crate::extract::Json;
use crate::page::PageRequest;
use crate::problem::{ApiError, FieldError};
use crate::route_table::Routes;
use crate::state::AppState;

/// The routes that create orders or move money (checkout, fulfilments, capture, cancel,
/// refunds) need an `Idempotency-Key`, so a retried request answers the first answer instead of
/// charging or shipping twice.
pub fn routes() -> Routes {
    Routes::new()
        .post_idempotent("/v1/carts/{cart_id}/checkout", shopper::checkout)
        .get("/v1/orders", shopper::list_my_orders)
        .get("/v1/orders/{order_id}", shopper::get_order)
        .get("/v1/admin/orders", staff::admin_list_orders)
        .get("/v1/admin/orders/{order_id}", staff::admin_get_order)
        .post_idempotent(
            "/v1/admin/orders/{order_id}/fulfilments",
            staff::fulfil_order,
        )
        .post_idempotent("/v1/admin/orders/{order_id}/capture", staff::capture_order)
        .post_idempotent("/v1/admin/orders/{order_id}/cancel", staff::cancel_order)
        .post(
            "/v1/admin/orders/{order_id}/delivery",
            staff::mark_order_delivered,
        )
        .post_idempotent("/v1/admin/orders/{order_id}/refunds", staff::refund_order)
        .post(
            "/v1/admin/orders/{order_id}/flags/{flag_id}/resolve",
            staff::resolve_order_flag,
        )
}

/// The orders' part of the OpenAPI document, merged by `openapi::openapi()`.
#[derive(OpenApi)]
#[openapi(
    paths(
        shopper::checkout,
        shopper::list_my_orders,
        shopper::get_order,
        staff::admin_list_orders,
        staff::admin_get_order,
        staff::fulfil_order,
        staff::capture_order,
        staff::cancel_order,
        staff::mark_order_delivered,
        staff::refund_order,
        staff::resolve_order_flag,
    ),
    components(schemas(
        dto::OrderDto,
        dto::OrderLineDto,
        dto::OrderShippingDto,
        dto::OrderTotalsDto,
        dto::FulfilmentDto,
        dto::FulfilmentLineDto,
        dto::CheckoutInputDto,
        dto::CheckoutDto,
        dto::NextActionDto,
        dto::OrderEnvelope,
        dto::OrderList,
        dto::AdminOrderDto,
        dto::PaymentDto,
        dto::RefundDto,
        dto::NewFulfilmentDto,
        dto::NewRefundDto,
        dto::RefundResultDto,
        dto::OrderFlagDto,
        dto::OrderFlagEnvelope,
    )),
    tags(
        (name = "orders", description = "Checkout, and a shopper's orders: read with the \
            customer's bearer token or the order's `Order-Token`."),
        (name = "orders (staff)", description = "Every order, fulfilments, capture, \
            cancellation, refunds and flags (payment disputes); needs a staff token."),
    ),
)]
pub struct OrdersApi;

/// The request header carrying the order token a guest's checkout answered (`Order-Token`).
pub static ORDER_TOKEN_HEADER: HeaderName = HeaderName::from_static("order-token");

/// The `after` of an order list from the page's cursor: cursors are order ids.
fn order_cursor(page: &PageRequest) -> Result<Option<OrderId>, ApiError> {
    page.cursor
        .as_deref()
        .map(str::parse::<OrderId>)
        .transpose()
        .map_err(|_| {
            ApiError::validation(vec![FieldError {
                pointer: "/cursor".to_owned(),
                message: "cursor is not a next_cursor this list issued".to_owned(),
            }])
        })
}

/// An orders error as a problem. A declined payment also names the order it failed
/// (`order_id`), so the shopper's storefront can show it; the payment knows its order, the
/// error does not, so it is looked up here. If that lookup fails the problem goes out without
/// the member: it is a courtesy, and the decline itself must still be answered.
/// Continues an order's checkout after 3-D Secure (the sandbox's challenge page, or the
/// shopper back from the gateway's): 200 with the order once it is confirmed (or further on),
/// 202 while it still waits, the order's problem otherwise.
pub(crate) async fn continue_checkout(
    state: &AppState,
    order_id: OrderId,
) -> Result<(StatusCode, Json<dto::OrderEnvelope>), ApiError> {
    match state.orders.continue_checkout(order_id).await {
        Ok(checkout) => {
            let status = if checkout.order.status.is_checkout_open() {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            Ok((status, Json(dto::OrderEnvelope::from(checkout.order))))
        }
        Err(err) => Err(order_problem(state, err).await),
    }
}

pub(crate) async fn order_problem(state: &AppState, err: OrderError) -> ApiError {
    let payment_id = match &err {
        OrderError::Payment(PaymentError::Declined { payment_id, .. }) => Some(*payment_id),
        _ => None,
    };
    let problem = ApiError::from(err);
    let Some(payment_id) = payment_id else {
        return problem;
    };
    match state.payments.payment(payment_id).await {
        Ok(payment) => match payment.order_ref().as_str().parse::<OrderId>() {
            Ok(order_id) => problem.with_extension("order_id", order_id.to_string()),
            Err(_) => {
                tracing::warn!(%payment_id, "a declined payment's order_ref is not an order id");
                problem
            }
        },
        Err(lookup) => {
            tracing::warn!(%payment_id, error = %lookup, "the declined payment's order could not be looked up");
            problem
        }
    }
}
