//! The sandbox gateway's 3-D Secure challenge page, answered by kassa itself: a checkout paid
//! with `pm_sandbox_3ds` answers 202 with `next_action.redirect_url` pointing here, and
//! posting the shopper's outcome completes the challenge in the sandbox and continues the
//! order's checkout (docs/API.md, "3-D Secure").
//!
//! Served only while the sandbox is the configured gateway (`state.sandbox`); with a real
//! gateway the challenge is the gateway's page and this route answers 404 `route_not_found`.

use axum::extract::State;
use http::StatusCode;
use kassa_kernel::ids::OrderId;
use serde::Deserialize;
use utoipa::OpenApi;

use crate::extract::{Json, Path, Query};
use crate::problem::{ApiError, Problem, ROUTE_NOT_FOUND};
use crate::route_table::Routes;
use crate::routes::orders::continue_checkout;
use crate::routes::orders::dto::OrderEnvelope;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new().post("/v1/sandbox/challenges/{gateway_ref}", complete_challenge)
}

/// The sandbox's part of the OpenAPI document, merged by `openapi::openapi()`.
#[derive(OpenApi)]
#[openapi(
    paths(complete_challenge),
    components(schemas(ChallengeOutcome)),
    tags(
        (name = "sandbox", description = "The sandbox gateway's 3-D Secure challenge, for \
            storefront development and tests."),
    ),
)]
pub struct SandboxApi;

/// How the shopper's challenge ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeOutcome {
    Succeed,
    Fail,
}

/// The query of the challenge route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChallengeQuery {
    /// `succeed` (authorized) or `fail` (declined, `authentication_failed`).
    pub outcome: ChallengeOutcome,
}

/// Completes the sandbox payment's 3-D Secure challenge, then continues its order's checkout.
/// Completing it the same way twice answers the same; the other way is a 409.
#[utoipa::path(
    post, path = "/v1/sandbox/challenges/{gateway_ref}", tag = "sandbox",
    params(
        ("gateway_ref" = String, Path, description = "The sandbox's payment reference, from \
            the checkout's `next_action.redirect_url`."),
        ChallengeQuery,
    ),
    responses(
        (status = 200, description = "The order, confirmed.", body = OrderEnvelope),
        (status = 202, description = "The order's payment outcome is not known yet; poll it.",
            body = OrderEnvelope),
        (status = 402, description = "`payment_declined` with `decline_code` \
            (`authentication_failed`) and `order_id`; the stock was released.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`sandbox_payment_not_found`, or `route_not_found` when \
            the sandbox is not the configured gateway.",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`sandbox_challenge_closed`: completed the other way \
            already.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: no or an unknown `outcome`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn complete_challenge(
    State(state): State<AppState>,
    Path(gateway_ref): Path<String>,
    Query(query): Query<ChallengeQuery>,
) -> Result<(StatusCode, Json<OrderEnvelope>), ApiError> {
    let Some(sandbox) = state.sandbox.as_ref() else {
        return Err(ApiError::new(
            &ROUTE_NOT_FOUND,
            "The sandbox gateway is not configured on this server.",
        ));
    };
    let succeed = query.outcome == ChallengeOutcome::Succeed;
    let payment = sandbox.complete_challenge(&gateway_ref, succeed)?;
    // The sandbox only ever holds payments made by our payments district, whose order_ref is
    // the order id: anything else is a wiring mistake, not the shopper's.
    let order_id: OrderId = payment.order_ref.parse().map_err(|_| {
        ApiError::internal(format!(
            "sandbox payment {gateway_ref} has order_ref {:?}, which is not an order id",
            payment.order_ref
        ))
    })?;
    continue_checkout(&state, order_id).await
}
