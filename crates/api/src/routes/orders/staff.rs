//! The staff side of orders: list and read them, and move them on — fulfil, capture, cancel,
//! mark delivered, refund — and resolve the flags raised on them (payment disputes). Each write
//! is one orders service call; what a status allows is the orders district's state machine,
//! answered 409 `illegal_order_transition` otherwise.

use axum::extract::State;
use http::StatusCode;
use kassa_identity::{RefundCap, Role};
use kassa_kernel::ids::{CustomerId, OrderId};
use kassa_kernel::{Email, Money};
use kassa_orders::{NewFulfilment, OrderAccess, OrderFilter, OrderFlagId, OrderStatus};
use serde::Deserialize;

use super::dto::{
    AdminOrderDto, NewFulfilmentDto, NewRefundDto, OrderDto, OrderEnvelope, OrderFlagDto,
    OrderFlagEnvelope, OrderList, PaymentDto, RefundDto, RefundResultDto,
};
use super::order_cursor;
use crate::auth::{OrdersRead, OrdersWrite, RefundsIssue, Staff};
use crate::extract::{Json, Path, Query};
use crate::idempotency::IdempotencyKeyHeader;
use crate::page::PageQuery;
use crate::problem::{ApiError, FieldError, Problem, REFUND_CAP_EXCEEDED};
use crate::state::AppState;

/// The query of `GET /v1/admin/orders`: the page, and filters that each narrow it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminOrderQuery {
    /// Only orders in this status (`confirmed`, `awaiting_payment`, …).
    pub status: Option<String>,
    /// Only this customer's orders (a `cus_…` id).
    pub customer_id: Option<String>,
    /// Only orders placed with this email.
    pub email: Option<String>,
    /// `true`: only orders with an open (unresolved) flag, such as a payment dispute. `false`
    /// or absent: flags do not narrow the list.
    pub flagged: Option<String>,
    /// `next_cursor` of the previous page; absent for the first page.
    pub cursor: Option<String>,
    /// Items per page, 1 to the server's maximum (100 by default); 20 when absent.
    #[param(minimum = 1)]
    pub limit: Option<u32>,
}

/// What `GET /v1/admin/orders` asks the orders service for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AdminOrderFilter {
    filter: OrderFilter,
    /// Only orders with an open flag.
    flagged: bool,
}

impl AdminOrderQuery {
    /// The filter, with every unparseable value reported at once at its parameter.
    fn filter(&self) -> Result<AdminOrderFilter, ApiError> {
        let mut errors = Vec::new();
        let mut invalid = |pointer: &str, message: String| {
            errors.push(FieldError {
                pointer: pointer.to_owned(),
                message,
            })
        };
        let status = self.status.as_deref().and_then(|text| {
            let status = OrderStatus::from_stored(text);
            if status.is_none() {
                invalid("/status", format!("'{text}' is not an order status"));
            }
            status
        });
        let customer_id = self.customer_id.as_deref().and_then(|text| {
            text.parse::<CustomerId>()
                .map_err(|_| invalid("/customer_id", "not a customer id".to_owned()))
                .ok()
        });
        let email = self.email.as_deref().and_then(|text| {
            Email::parse(text)
                .map_err(|err| invalid("/email", err.to_string()))
                .ok()
        });
        let flagged = match self.flagged.as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(text) => {
                invalid("/flagged", format!("'{text}' is neither true nor false"));
                false
            }
        };
        if errors.is_empty() {
            Ok(AdminOrderFilter {
                filter: OrderFilter {
                    status,
                    customer_id,
                    email,
                },
                flagged,
            })
        } else {
            Err(ApiError::validation(errors))
        }
    }
}

/// Every order, newest first, filtered; with `flagged=true`, only those with an open flag.
#[utoipa::path(
    get, path = "/v1/admin/orders", tag = "orders (staff)",
    params(AdminOrderQuery),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "One page of orders, newest first.", body = OrderList),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the orders read permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a filter that does not parse, a \
            `limit` out of range or a `cursor` this list did not issue.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn admin_list_orders(
    _staff: Staff<OrdersRead>,
    State(state): State<AppState>,
    Query(query): Query<AdminOrderQuery>,
) -> Result<Json<OrderList>, ApiError> {
    let AdminOrderFilter { filter, flagged } = query.filter()?;
    let page = PageQuery {
        cursor: query.cursor,
        limit: query.limit,
    }
    .check(state.config.page_size_max)?;
    let after = order_cursor(&page)?;
    let orders = if flagged {
        state
            .orders
            .flagged_orders(filter, after, page.limit)
            .await?
    } else {
        state.orders.orders(filter, after, page.limit).await?
    };
    Ok(Json(OrderList {
        items: orders.items.into_iter().map(OrderDto::from).collect(),
        next_cursor: orders.next_cursor.map(|id| id.to_string()),
    }))
}

/// One order with its payment, refunds and flags.
#[utoipa::path(
    get, path = "/v1/admin/orders/{order_id}", tag = "orders (staff)",
    params(("order_id" = String, Path, description = "An `ord_…` id.")),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The order, its payment (null before one started), its \
            refunds and its flags.", body = AdminOrderDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the orders read permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`order_not_found` or `invalid_path_parameter`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn admin_get_order(
    _staff: Staff<OrdersRead>,
    State(state): State<AppState>,
    Path(order_id): Path<OrderId>,
) -> Result<Json<AdminOrderDto>, ApiError> {
    let order = state.orders.order(order_id, &OrderAccess::Staff).await?;
    let flags = state.orders.flags(order_id).await?;
    let (payment, refunds) = match order.payment_id {
        Some(payment_id) => {
            let payment = state.payments.payment(payment_id).await?;
            let refunds = state.payments.refunds(payment_id).await?;
            (Some(PaymentDto::from(&payment)), refunds)
        }
        None => (None, Vec::new()),
    };
    Ok(Json(AdminOrderDto {
        order: OrderDto::from(order),
        payment,
        refunds: refunds.iter().map(RefundDto::from).collect(),
        flags: flags.iter().map(OrderFlagDto::from).collect(),
    }))
}

/// Records a shipment (all units not shipped yet when `lines` is absent). Captures first when
/// the shop captures at fulfilment.
#[utoipa::path(
    post, path = "/v1/admin/orders/{order_id}/fulfilments", tag = "orders (staff)",
    params(
        ("order_id" = String, Path, description = "An `ord_…` id."),
        IdempotencyKeyHeader,
    ),
    security(("staff_token" = [])),
    request_body = NewFulfilmentDto,
    responses(
        (status = 201, description = "The order with the shipment.", body = OrderEnvelope),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the orders write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`order_not_found`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`illegal_order_transition`: the order is not confirmed \
            or partially fulfilled.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_fulfilment` (more units than are left, a SKU \
            not in the order, a blank carrier or tracking number) or `validation_failed`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn fulfil_order(
    _staff: Staff<OrdersWrite>,
    State(state): State<AppState>,
    Path(order_id): Path<OrderId>,
    Json(body): Json<NewFulfilmentDto>,
) -> Result<(StatusCode, Json<OrderEnvelope>), ApiError> {
    let fulfilment = NewFulfilment {
        lines: body.lines.map(|lines| {
            lines
                .into_iter()
                .map(|line| (line.sku, line.quantity))
                .collect()
        }),
        carrier: body.carrier,
        tracking_number: body.tracking_number,
    };
    let order = state.orders.fulfil(order_id, fulfilment).await?;
    Ok((StatusCode::CREATED, Json(OrderEnvelope::from(order))))
}

/// Captures the payment of a confirmed order (when the shop captures at fulfilment, or by
/// hand). Capturing a captured order answers it unchanged.
#[utoipa::path(
    post, path = "/v1/admin/orders/{order_id}/capture", tag = "orders (staff)",
    params(
        ("order_id" = String, Path, description = "An `ord_…` id."),
        IdempotencyKeyHeader,
    ),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The order, captured.", body = OrderEnvelope),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the orders write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`order_not_found`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`illegal_order_transition` or \
            `illegal_payment_transition`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`gateway_unavailable` or `payment_outcome_unknown`: \
            retry with the same Idempotency-Key.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn capture_order(
    _staff: Staff<OrdersWrite>,
    State(state): State<AppState>,
    Path(order_id): Path<OrderId>,
) -> Result<Json<OrderEnvelope>, ApiError> {
    let order = state.orders.capture(order_id).await?;
    Ok(Json(OrderEnvelope::from(order)))
}

/// Cancels an order with nothing shipped: releases or returns its stock and voids or refunds
/// its payment. Cancelling a cancelled order answers it unchanged.
#[utoipa::path(
    post, path = "/v1/admin/orders/{order_id}/cancel", tag = "orders (staff)",
    params(
        ("order_id" = String, Path, description = "An `ord_…` id."),
        IdempotencyKeyHeader,
    ),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The order, cancelled.", body = OrderEnvelope),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the orders write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`order_not_found`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`illegal_order_transition`: something was shipped, or \
            the order is closed.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`gateway_unavailable` or `payment_outcome_unknown`: \
            retry with the same Idempotency-Key.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn cancel_order(
    _staff: Staff<OrdersWrite>,
    State(state): State<AppState>,
    Path(order_id): Path<OrderId>,
) -> Result<Json<OrderEnvelope>, ApiError> {
    let order = state.orders.cancel(order_id).await?;
    Ok(Json(OrderEnvelope::from(order)))
}

/// Records that the carrier delivered a fulfilled order.
#[utoipa::path(
    post, path = "/v1/admin/orders/{order_id}/delivery", tag = "orders (staff)",
    params(("order_id" = String, Path, description = "An `ord_…` id.")),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The order, delivered.", body = OrderEnvelope),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the orders write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`order_not_found`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`illegal_order_transition`: the order is not fulfilled.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn mark_order_delivered(
    _staff: Staff<OrdersWrite>,
    State(state): State<AppState>,
    Path(order_id): Path<OrderId>,
) -> Result<Json<OrderEnvelope>, ApiError> {
    let order = state.orders.mark_delivered(order_id).await?;
    Ok(Json(OrderEnvelope::from(order)))
}

/// Refunds part or all of what was captured. Each call is a new refund; send an
/// Idempotency-Key to make a retry safe. Support members are capped per currency
/// (`identity.support_refund_cap`).
#[utoipa::path(
    post, path = "/v1/admin/orders/{order_id}/refunds", tag = "orders (staff)",
    params(
        ("order_id" = String, Path, description = "An `ord_…` id."),
        IdempotencyKeyHeader,
    ),
    security(("staff_token" = [])),
    request_body = NewRefundDto,
    responses(
        (status = 201, description = "The refund and the order after it.",
            body = RefundResultDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`, or `refund_cap_exceeded`: a support member \
            refunding more than their cap in that currency.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`order_not_found`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`refund_exceeds_captured` (more than is left to refund) \
            or `illegal_order_transition`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_refund_amount`, `currency_mismatch`, \
            `refund_failed` or `validation_failed`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`gateway_unavailable` or `payment_outcome_unknown`: \
            retry with the same Idempotency-Key.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn refund_order(
    staff: Staff<RefundsIssue>,
    State(state): State<AppState>,
    Path(order_id): Path<OrderId>,
    Json(body): Json<NewRefundDto>,
) -> Result<(StatusCode, Json<RefundResultDto>), ApiError> {
    let amount = Money::from(body.amount);
    check_refund_cap(&state.config.refund_cap, staff.role, amount)?;
    let refunded = state.orders.refund(order_id, amount).await?;
    let result = RefundResultDto {
        order: OrderDto::from(refunded.order),
        refund: RefundDto::from(&refunded.refund),
    };
    Ok((StatusCode::CREATED, Json(result)))
}

/// Marks a flag of the order handled (the dispute was answered at the gateway, say). Resolving a
/// resolved flag answers it unchanged: who resolved it first, and when.
#[utoipa::path(
    post, path = "/v1/admin/orders/{order_id}/flags/{flag_id}/resolve", tag = "orders (staff)",
    params(
        ("order_id" = String, Path, description = "An `ord_…` id."),
        ("flag_id" = String, Path, description = "An `ofl_…` id."),
    ),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The flag, resolved.", body = OrderFlagEnvelope),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the orders write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`order_not_found`, `order_flag_not_found` or \
            `invalid_path_parameter`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn resolve_order_flag(
    staff: Staff<OrdersWrite>,
    State(state): State<AppState>,
    Path((order_id, flag_id)): Path<(OrderId, OrderFlagId)>,
) -> Result<Json<OrderFlagEnvelope>, ApiError> {
    let flag = state
        .orders
        .resolve_flag(order_id, flag_id, staff.id)
        .await?;
    Ok(Json(OrderFlagEnvelope {
        flag: OrderFlagDto::from(&flag),
    }))
}

/// Refuses a refund above the caller's cap. Amounts of zero or less are not the cap's to
/// judge: the orders service refuses them with `invalid_refund_amount`, for every role alike.
fn check_refund_cap(cap: &RefundCap, role: Role, amount: Money) -> Result<(), ApiError> {
    if amount.amount_minor() <= 0 || cap.allows(role, amount) {
        return Ok(());
    }
    let detail = match cap.support_max(amount.currency()) {
        Some(max) => format!(
            "A {role} member may refund at most {max} at once; {amount} needs a manager or an \
             owner."
        ),
        None => format!(
            "A {role} member may not refund in {}: no cap is configured for that currency.",
            amount.currency()
        ),
    };
    Err(ApiError::new(&REFUND_CAP_EXCEEDED, detail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kassa_kernel::Currency;

    #[test]
    fn support_is_capped_per_currency_and_others_are_not() {
        let cap = RefundCap::new([Money::new(5000, Currency::Usd)]);
        let usd = |minor| Money::new(minor, Currency::Usd);
        assert!(check_refund_cap(&cap, Role::Support, usd(5000)).is_ok());
        let over = check_refund_cap(&cap, Role::Support, usd(5001)).err();
        assert_eq!(over.map(|e| e.problem().code), Some("refund_cap_exceeded"));
        let other_currency = Money::new(1, Currency::Eur);
        assert!(check_refund_cap(&cap, Role::Support, other_currency).is_err());
        assert!(check_refund_cap(&cap, Role::Manager, usd(1_000_000)).is_ok());
        assert!(check_refund_cap(&cap, Role::Owner, other_currency).is_ok());
        // Not the cap's to refuse: the service answers invalid_refund_amount.
        assert!(check_refund_cap(&cap, Role::Support, usd(0)).is_ok());
    }
}
