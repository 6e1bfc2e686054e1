//! The signed-in account itself: who am I, my password, my cart.

use axum::extract::State;
use http::StatusCode;
use kassa_cart::error::CART_NOT_FOUND;
use kassa_identity::{Password, PasswordField};

use super::dto::{CurrentCustomerDto, PasswordChangeDto};
use super::identity_problem;
use crate::auth::{Customer, SignedIn};
use crate::extract::Json;
use crate::problem::{ApiError, Problem};
use crate::routes::carts::dto::CartDto;
use crate::state::AppState;

/// The signed-in customer's account.
#[utoipa::path(
    get, path = "/v1/me", tag = "accounts",
    security(("customer_token" = [])),
    responses(
        (status = 200, description = "The account.", body = CurrentCustomerDto),
        (status = 401, description = "`unauthorized`, or `invalid_token` (also for a staff \
            token).", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn me(
    customer: Customer,
    State(state): State<AppState>,
) -> Result<Json<CurrentCustomerDto>, ApiError> {
    let account = state
        .identity
        .customer(customer.id)
        .await
        .map_err(identity_problem)?;
    Ok(Json(CurrentCustomerDto::from(account)))
}

/// Changes the password of the signed-in account (customer or staff). Every session of the
/// account ends, this one included: sign in again with the new password.
#[utoipa::path(
    put, path = "/v1/me/password", tag = "accounts",
    request_body = PasswordChangeDto,
    security(("customer_token" = []), ("staff_token" = [])),
    responses(
        (status = 204, description = "Changed; every session of the account has ended."),
        (status = 401, description = "`invalid_credentials` (the current password is wrong), \
            `unauthorized` or `invalid_token`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`weak_password` (at `/new_password`) or \
            `validation_failed`.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`throttled`: too many wrong current passwords; \
            `Retry-After` says when to try again.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn change_password(
    SignedIn(principal): SignedIn,
    State(state): State<AppState>,
    Json(body): Json<PasswordChangeDto>,
) -> Result<StatusCode, ApiError> {
    let new = Password::parse(body.new_password)
        .map_err(|reason| identity_problem(reason.for_field(PasswordField::NewPassword)))?;
    state
        .identity
        .change_password(principal.subject(), &body.current_password, new)
        .await
        .map_err(identity_problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in customer's open cart.
#[utoipa::path(
    get, path = "/v1/me/cart", tag = "accounts",
    security(("customer_token" = [])),
    responses(
        (status = 200, description = "The customer's open cart.", body = CartDto),
        (status = 401, description = "`unauthorized`, or `invalid_token` (also for a staff \
            token).", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`cart_not_found`: the customer has no open cart.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn my_cart(
    customer: Customer,
    State(state): State<AppState>,
) -> Result<Json<CartDto>, ApiError> {
    let cart = state
        .cart
        .customer_cart(customer.id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                &CART_NOT_FOUND,
                "You have no open cart; create one with POST /v1/carts.",
            )
        })?;
    Ok(Json(CartDto::from(cart)))
}
