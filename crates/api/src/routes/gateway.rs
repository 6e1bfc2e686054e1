//! The payment gateway's routes (docs/API.md, "Payment gateway"):
//!
//! - `POST /v1/webhooks/stripe`: Stripe's signed webhooks. The body is read as raw bytes and
//!   checked against `Stripe-Signature` before anything is parsed; a verified event is applied
//!   once by payments (inbox keyed by Stripe's event id) and answered 200 whatever it did, so
//!   Stripe stops redelivering it. Answers 404 `gateway_not_configured` when Stripe is not the
//!   configured gateway.
//! - `POST /v1/orders/{order_id}/payment/continue`: the shopper is back from the gateway's 3-D
//!   Secure page; kassa asks the gateway how it ended and continues the checkout. The webhook
//!   may have applied the outcome first: either way it is applied once.
//! - `GET /v1/admin/payments/reconciliation`: the staff report comparing kassa's payments
//!   with the gateway's books for a time window.

use axum::extract::State;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, StatusCode};
use kassa_kernel::Timestamp;
use kassa_payments::gateway::{GatewayPaymentView, WebhookRejection};
use kassa_payments::service::{Mismatch, ReconciliationReport, REPORT_LIMIT_MAX};
use kassa_payments::{Payment, PaymentId};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;

use crate::auth::{MaybeCustomer, OrdersRead, Staff};
use crate::extract::{Json, Path, Query};
use crate::money::MoneyDto;
use crate::problem::{
    ApiError, FieldError, Problem, GATEWAY_NOT_CONFIGURED, WEBHOOK_SIGNATURE_INVALID,
};
use crate::route_table::Routes;
use crate::routes::orders::continue_checkout;
use crate::routes::orders::dto::OrderEnvelope;
use crate::routes::orders::shopper::shopper_access;
use crate::state::AppState;

/// Stripe's signature header.
pub static STRIPE_SIGNATURE: HeaderName = HeaderName::from_static("stripe-signature");
/// The longest window one reconciliation report covers.
pub const REPORT_WINDOW_DAYS_MAX: i64 = 31;

pub fn routes() -> Routes {
    Routes::new()
        .post("/v1/webhooks/stripe", stripe_webhook)
        .post("/v1/orders/{order_id}/payment/continue", continue_payment)
        .get("/v1/admin/payments/reconciliation", reconciliation)
}

/// The gateway's part of the OpenAPI document, merged by `openapi::openapi()`.
#[derive(OpenApi)]
#[openapi(
    paths(stripe_webhook, continue_payment, reconciliation),
    components(schemas(WebhookReceipt, ReconciliationDto, MismatchDto, PaymentSideDto)),
    tags(
        (name = "payment gateway", description = "Stripe's webhooks, the shopper's return \
            from 3-D Secure, and the staff reconciliation report."),
    ),
)]
pub struct GatewayApi;

/// What kassa did with a webhook event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookReceipt {
    /// The gateway's event id.
    pub event_id: String,
    /// `applied`, `unchanged`, `deferred`, `unknown_payment` or `ignored`.
    pub outcome: String,
    /// True when the event had been received before: nothing was applied this time.
    pub duplicate: bool,
}

/// Receives one of Stripe's webhook events.
#[utoipa::path(
    post, path = "/v1/webhooks/stripe", tag = "payment gateway",
    params(("Stripe-Signature" = String, Header, description = "Stripe's signature: `t=…,v1=…`.")),
    request_body(content = String, description = "The event, exactly as Stripe sent it.",
        content_type = "application/json"),
    responses(
        (status = 200, description = "Received (applied now, or before for a repeat).",
            body = WebhookReceipt),
        (status = 400, description = "`webhook_signature_invalid`: no valid signature for the \
            body within the tolerance, or a body that is not an event. Nothing was applied.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`gateway_not_configured`: Stripe is not the configured \
            gateway.",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`storage_unavailable`: Stripe redelivers later.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookReceipt>, ApiError> {
    let verifier = state
        .gateway_webhooks
        .as_ref()
        .filter(|v| v.gateway() == "stripe")
        .ok_or_else(|| {
            ApiError::new(
                &GATEWAY_NOT_CONFIGURED,
                "Stripe is not the configured payment gateway.",
            )
        })?;
    let signature = headers
        .get(&STRIPE_SIGNATURE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let event = verifier.verify(signature, &body).map_err(|err| {
        tracing::warn!(error = %err, "stripe webhook refused");
        let detail = match err {
            WebhookRejection::Signature(_) => {
                "The Stripe-Signature header does not sign this body with a configured secret \
                 within the tolerance window."
            }
            WebhookRejection::Payload(_) => "The body is not a Stripe event.",
        };
        ApiError::new(&WEBHOOK_SIGNATURE_INVALID, detail)
    })?;
    let record = state.payments.apply_gateway_event(event).await?;
    Ok(Json(WebhookReceipt {
        event_id: record.event_id,
        outcome: record.outcome.as_str().to_owned(),
        duplicate: record.duplicate,
    }))
}

/// The shopper is back from the gateway's 3-D Secure page: asks the gateway how it ended and
/// continues the checkout. Safe to call more than once.
#[utoipa::path(
    post, path = "/v1/orders/{order_id}/payment/continue", tag = "payment gateway",
    params(
        ("order_id" = String, Path, description = "An `ord_…` id."),
        ("Order-Token" = Option<String>, Header, description = "The `order_token` the \
            checkout answered."),
    ),
    security((), ("customer_token" = [])),
    responses(
        (status = 200, description = "The order, confirmed (or already further on).",
            body = OrderEnvelope),
        (status = 202, description = "Still waiting: the challenge is not finished, or the \
            gateway's answer is not known yet; poll the order.", body = OrderEnvelope),
        (status = 402, description = "`payment_declined`: 3-D Secure failed; the stock was \
            released.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`order_not_found`: no such order, or neither the token \
            nor the customer opens it.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`gateway_unavailable`, with `Retry-After`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn continue_payment(
    MaybeCustomer(customer): MaybeCustomer,
    State(state): State<AppState>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<OrderEnvelope>), ApiError> {
    let (order_id, access) = shopper_access(&order_id, customer, &headers)?;
    // Opens the order first: only its shopper may drive its checkout.
    state.orders.order(order_id, &access).await?;
    continue_checkout(&state, order_id).await
}

/// The query of the reconciliation report.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReconciliationQuery {
    /// Payments made at or after this time (RFC 3339).
    pub from: String,
    /// Payments made before this time (RFC 3339); at most 31 days after `from`.
    pub to: String,
    /// The previous page's `next_cursor`.
    pub after: Option<String>,
    /// Payments per page, 1 to 200 (default 50).
    pub limit: Option<u32>,
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentSideDto {
    pub status: String,
    pub amount: MoneyDto,
    pub captured: MoneyDto,
    pub refunded: MoneyDto,
}

/// A payment that does not match the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MismatchDto {
    pub payment_id: String,
    pub order_id: String,
    pub gateway_ref: Option<String>,
    /// `status`, `amount`, `captured`, `refunded`, `missing_at_gateway`, `outcome_unknown`,
    /// `gateway_unreachable`.
    pub differences: Vec<String>,
    pub kassa: PaymentSideDto,
    /// The gateway's view; null when it could not be read.
    pub gateway: Option<PaymentSideDto>,
}

/// The reconciliation report of a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReconciliationDto {
    pub from: String,
    pub to: String,
    /// Payments compared in this page.
    pub examined: usize,
    /// Of those, payments that never reached the gateway (nothing to compare).
    pub not_at_gateway: usize,
    pub mismatches: Vec<MismatchDto>,
    /// Pass as `after` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

fn side_of_payment(payment: &Payment) -> PaymentSideDto {
    PaymentSideDto {
        status: payment.status().as_str().to_owned(),
        amount: payment.amount().into(),
        captured: payment.captured().into(),
        refunded: payment.refunded().into(),
    }
}

fn side_of_view(view: &GatewayPaymentView) -> PaymentSideDto {
    PaymentSideDto {
        status: view.status.clone(),
        amount: view.amount.into(),
        captured: view.captured.into(),
        refunded: view.refunded.into(),
    }
}

fn mismatch_dto(mismatch: &Mismatch) -> MismatchDto {
    MismatchDto {
        payment_id: mismatch.payment.id().to_string(),
        order_id: mismatch.payment.order_ref().as_str().to_owned(),
        gateway_ref: mismatch.payment.gateway_ref().map(str::to_owned),
        differences: mismatch
            .differences
            .iter()
            .map(|d| d.as_str().to_owned())
            .collect(),
        kassa: side_of_payment(&mismatch.payment),
        gateway: mismatch.gateway.as_ref().map(side_of_view),
    }
}

fn report_dto(report: &ReconciliationReport) -> ReconciliationDto {
    ReconciliationDto {
        from: report.from.to_rfc3339(),
        to: report.to.to_rfc3339(),
        examined: report.examined,
        not_at_gateway: report.not_at_gateway,
        mismatches: report.mismatches.iter().map(mismatch_dto).collect(),
        next_cursor: report.next.map(|(at, id)| format!("{}.{id}", at.millis())),
    }
}

/// Parses `after`: `<created ms>.<payment id>`.
fn parse_cursor(cursor: &str) -> Option<(Timestamp, PaymentId)> {
    let (ms, id) = cursor.split_once('.')?;
    Some((Timestamp::from_millis(ms.parse().ok()?), id.parse().ok()?))
}

/// Compares kassa's payments made in `[from, to)` with the gateway's books (status, amount,
/// captured, refunded) and lists every one that differs. Asks the gateway about each payment
/// of the page, several at once.
#[utoipa::path(
    get, path = "/v1/admin/payments/reconciliation", tag = "payment gateway",
    params(ReconciliationQuery),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The report for this page.", body = ReconciliationDto),
        (status = 401, description = "`unauthorized`.", body = Problem,
            content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs orders read.", body = Problem,
            content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `from`/`to` missing, not RFC 3339, \
            out of order or more than 31 days apart; a bad `after` or `limit`.", body = Problem,
            content_type = "application/problem+json"),
    ),
)]
pub async fn reconciliation(
    _staff: Staff<OrdersRead>,
    State(state): State<AppState>,
    Query(query): Query<ReconciliationQuery>,
) -> Result<Json<ReconciliationDto>, ApiError> {
    let mut errors = Vec::new();
    let mut time = |name: &str, value: &str| match Timestamp::parse_rfc3339(value) {
        Ok(at) => Some(at),
        Err(_) => {
            errors.push(FieldError {
                pointer: format!("/{name}"),
                message: format!("{name} must be an RFC 3339 time"),
            });
            None
        }
    };
    let from = time("from", &query.from);
    let to = time("to", &query.to);
    if let (Some(from), Some(to)) = (from, to) {
        let span = to.millis() - from.millis();
        if span <= 0 || span > REPORT_WINDOW_DAYS_MAX * 86_400_000 {
            errors.push(FieldError {
                pointer: "/to".to_owned(),
                message: format!(
                    "to must be after from, at most {REPORT_WINDOW_DAYS_MAX} days later"
                ),
            });
        }
    }
    let after = match query.after.as_deref() {
        None => None,
        Some(cursor) => {
            let parsed = parse_cursor(cursor);
            if parsed.is_none() {
                errors.push(FieldError {
                    pointer: "/after".to_owned(),
                    message: "after must be a next_cursor of this report".to_owned(),
                });
            }
            parsed
        }
    };
    let limit = query.limit.unwrap_or(50);
    if limit == 0 || limit > REPORT_LIMIT_MAX {
        errors.push(FieldError {
            pointer: "/limit".to_owned(),
            message: format!("limit must be between 1 and {REPORT_LIMIT_MAX}"),
        });
    }
    let (Some(from), Some(to), true) = (from, to, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let report = state
        .payments
        .reconciliation(from, to, after, limit)
        .await?;
    Ok(Json(report_dto(&report)))
}
