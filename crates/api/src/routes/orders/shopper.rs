//! The shopper's side: checking a cart out, and reading their orders.

use axum::extract::State;
use http::{header, HeaderMap, HeaderName, StatusCode};
use kassa_cart::CartAccess;
use kassa_kernel::ids::OrderId;
use kassa_orders::error::ORDER_NOT_FOUND;
use kassa_orders::{CheckoutRequest, OrderAccess};
use kassa_payments::PaymentMethodToken;

use super::dto::{CheckoutDto, CheckoutInputDto, OrderDto, OrderList};
use super::{order_cursor, order_problem, ORDER_TOKEN_HEADER};
use crate::auth::{Customer, MaybeCustomer};
use crate::extract::{Json, Path, Query};
use crate::idempotency::IdempotencyKeyHeader;
use crate::page::PageQuery;
use crate::problem::{ApiError, FieldError, Problem};
use crate::routes::carts::{CartCaller, CartPath};
use crate::state::AppState;

/// Checks the cart out (docs/API.md, "Checkout"): makes the order from the cart, reserves its
/// stock and authorizes the payment. A signed-in customer's order is attached to them.
///
/// The answer carries `Cache-Control: no-store`: it may hold the order token.
#[utoipa::path(
    post, path = "/v1/carts/{cart_id}/checkout", tag = "orders",
    params(
        ("cart_id" = String, Path, description = "A `cart_…` id."),
        ("Cart-Token" = Option<String>, Header, description = "The token `POST /v1/carts` \
            answered; for anonymous carts, without an `Authorization` header."),
        IdempotencyKeyHeader,
    ),
    security((), ("customer_token" = [])),
    request_body = CheckoutInputDto,
    responses(
        (status = 201, description = "The order is confirmed.", body = CheckoutDto),
        (status = 202, description = "The payment waits for 3-D Secure (`next_action`) or for \
            the gateway's outcome (`next_action` null: poll the order).", body = CheckoutDto),
        (status = 401, description = "`invalid_token`: an `Authorization` header that is not \
            a customer's valid access token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 402, description = "`payment_declined`, with `decline_code` and \
            `order_id`; the stock was released.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`cart_not_found`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`insufficient_stock`, with `skus`: every short SKU with \
            what was requested and what is available; nothing was reserved.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`cart_not_ready` (see `errors`: `/lines`, `/email`, \
            `/shipping_address`, `/shipping_option`) or `validation_failed`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`gateway_unavailable`: nothing was charged, the order \
            failed and its stock was released; check out again.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn checkout(
    CartPath(cart_id): CartPath,
    CartCaller(access): CartCaller,
    State(state): State<AppState>,
    Json(body): Json<CheckoutInputDto>,
) -> Result<
    (
        StatusCode,
        [(HeaderName, &'static str); 1],
        Json<CheckoutDto>,
    ),
    ApiError,
> {
    let payment_method = PaymentMethodToken::parse(body.payment_method).map_err(|err| {
        ApiError::validation(vec![FieldError {
            pointer: "/payment_method".to_owned(),
            message: err.to_string(),
        }])
    })?;
    let customer = match &access {
        CartAccess::Customer(id) => Some(*id),
        _ => None,
    };
    let request = CheckoutRequest {
        cart_id,
        access,
        customer,
        payment_method,
    };
    let checkout = match state.orders.checkout(request).await {
        Ok(checkout) => checkout,
        Err(err) => return Err(order_problem(&state, err).await),
    };
    let status = if checkout.order.status.is_checkout_open() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(CheckoutDto::from(checkout)),
    ))
}

/// The signed-in customer's orders, newest first.
#[utoipa::path(
    get, path = "/v1/orders", tag = "orders",
    params(PageQuery),
    security(("customer_token" = [])),
    responses(
        (status = 200, description = "One page of the customer's orders.", body = OrderList),
        (status = 401, description = "No valid customer token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a `limit` out of range or a \
            `cursor` this list did not issue.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list_my_orders(
    customer: Customer,
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
) -> Result<Json<OrderList>, ApiError> {
    let page = query.check(state.config.page_size_max)?;
    let after = order_cursor(&page)?;
    let orders = state
        .orders
        .customer_orders(customer.id, after, page.limit)
        .await?;
    Ok(Json(OrderList {
        items: orders.items.into_iter().map(OrderDto::from).collect(),
        next_cursor: orders.next_cursor.map(|id| id.to_string()),
    }))
}

/// One order: the signed-in customer's own, or the one the `Order-Token` header opens.
#[utoipa::path(
    get, path = "/v1/orders/{order_id}", tag = "orders",
    params(
        ("order_id" = String, Path, description = "An `ord_…` id."),
        ("Order-Token" = Option<String>, Header, description = "The `order_token` the \
            checkout answered: opens exactly that order."),
    ),
    security((), ("customer_token" = [])),
    responses(
        (status = 200, description = "The order.", body = OrderDto),
        (status = 401, description = "`invalid_token`: an `Authorization` header that is not \
            a customer's valid access token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`order_not_found`: no such order, a malformed id, \
            another customer's order, or a missing or wrong token.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn get_order(
    MaybeCustomer(customer): MaybeCustomer,
    State(state): State<AppState>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<OrderDto>, ApiError> {
    let (order_id, access) = shopper_access(&order_id, customer, &headers)?;
    let order = state.orders.order(order_id, &access).await?;
    Ok(Json(OrderDto::from(order)))
}

/// The order a shopper's request names and what opens it: the `Order-Token` header or the
/// signed-in customer. The token names one order, so it decides when both are sent; without
/// either there is nothing to open the order with (`order_not_found`, as for a wrong id).
pub fn shopper_access(
    order_id: &str,
    customer: Option<Customer>,
    headers: &HeaderMap,
) -> Result<(OrderId, OrderAccess), ApiError> {
    let order_id: OrderId = order_id.parse().map_err(|_| order_not_found())?;
    let token = headers
        .get(&ORDER_TOKEN_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|token| !token.is_empty());
    let access = match (token, customer) {
        (Some(token), _) => OrderAccess::Token(token.to_owned()),
        (None, Some(customer)) => OrderAccess::Customer(customer.id),
        (None, None) => return Err(order_not_found()),
    };
    Ok((order_id, access))
}

/// The answer for every way a shopper can fail to reach an order before the service is asked;
/// the service's own refusals have the same code.
fn order_not_found() -> ApiError {
    ApiError::new(
        &ORDER_NOT_FOUND,
        "The order was not found, or neither the bearer token nor the Order-Token header opens it.",
    )
}
