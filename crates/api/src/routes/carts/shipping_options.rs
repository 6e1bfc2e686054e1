//! Shipping options (staff): list, create and delete the ways carts can be shipped.

use axum::extract::State;
use http::StatusCode;
use kassa_kernel::ids::ShippingOptionId;

use super::dto::{NewShippingOptionDto, ShippingOptionDto, ShippingOptionList};
use crate::auth::{CatalogRead, SettingsWrite, Staff};
use crate::extract::{Json, Path};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Every shipping option, in creation order.
#[utoipa::path(
    get, path = "/v1/admin/shipping-options", tag = "carts (staff)",
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "Every option, in one page.", body = ShippingOptionList),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list_shipping_options(
    _staff: Staff<CatalogRead>,
    State(state): State<AppState>,
) -> Result<Json<ShippingOptionList>, ApiError> {
    let options = state.cart.shipping_options_all().await?;
    Ok(Json(ShippingOptionList {
        items: options.into_iter().map(ShippingOptionDto::from).collect(),
        next_cursor: None,
    }))
}

/// Adds a shipping option with a flat amount or weight tiers.
#[utoipa::path(
    post, path = "/v1/admin/shipping-options", tag = "carts (staff)",
    request_body = NewShippingOptionDto,
    security(("staff_token" = [])),
    responses(
        (status = 201, description = "The new option.", body = ShippingOptionDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the settings write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (also for both or neither of \
            `flat_amount_minor` and `weight_tiers`) or `invalid_shipping_option`, with the \
            field's pointer.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn create_shipping_option(
    _staff: Staff<SettingsWrite>,
    State(state): State<AppState>,
    Json(body): Json<NewShippingOptionDto>,
) -> Result<(StatusCode, Json<ShippingOptionDto>), ApiError> {
    let option = state
        .cart
        .create_shipping_option(body.into_input()?)
        .await?;
    Ok((StatusCode::CREATED, Json(ShippingOptionDto::from(option))))
}

/// Deletes an option; carts that chose it are left without a choice.
#[utoipa::path(
    delete, path = "/v1/admin/shipping-options/{shipping_option_id}", tag = "carts (staff)",
    params(("shipping_option_id" = String, Path, description = "A `ship_…` id.")),
    security(("staff_token" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the settings write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`shipping_option_not_found`, or \
            `invalid_path_parameter` for a malformed id.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn delete_shipping_option(
    _staff: Staff<SettingsWrite>,
    State(state): State<AppState>,
    Path(shipping_option_id): Path<ShippingOptionId>,
) -> Result<StatusCode, ApiError> {
    state
        .cart
        .delete_shipping_option(shipping_option_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
