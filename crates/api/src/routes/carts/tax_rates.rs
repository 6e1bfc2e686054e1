//! Tax rates (staff): one rate per country, applied to carts shipping there.
//!
//! The `{country}` segment is a value being configured, not an id being looked up: a code that
//! is not a country is a 422 `invalid_country`, not a 404.

use axum::extract::State;
use http::StatusCode;
use kassa_kernel::rounding::Rate;
use kassa_kernel::CountryCode;

use super::dto::{TaxRateDto, TaxRateInputDto, TaxRateList};
use crate::auth::{CatalogRead, SettingsWrite, Staff};
use crate::extract::{Json, Path};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Every tax rate, by country code.
#[utoipa::path(
    get, path = "/v1/admin/tax-rates", tag = "carts (staff)",
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "Every rate, in one page.", body = TaxRateList),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list_tax_rates(
    _staff: Staff<CatalogRead>,
    State(state): State<AppState>,
) -> Result<Json<TaxRateList>, ApiError> {
    let rates = state.cart.tax_rates().await?;
    Ok(Json(TaxRateList {
        items: rates.into_iter().map(TaxRateDto::from).collect(),
        next_cursor: None,
    }))
}

/// Sets (inserts or replaces) a country's tax rate.
#[utoipa::path(
    put, path = "/v1/admin/tax-rates/{country}", tag = "carts (staff)",
    params(("country" = String, Path, description = "ISO 3166-1 alpha-2, either case.",
        example = "DE")),
    request_body = TaxRateInputDto,
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The rate as set.", body = TaxRateDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the settings write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_country` (the path), `invalid_rate` (at \
            `/rate`) or `validation_failed`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn set_tax_rate(
    _staff: Staff<SettingsWrite>,
    State(state): State<AppState>,
    Path(country): Path<String>,
    Json(body): Json<TaxRateInputDto>,
) -> Result<Json<TaxRateDto>, ApiError> {
    let country = CountryCode::parse(&country)?;
    let rate = Rate::parse_percent(&body.rate).map_err(|error| {
        let message = error.to_string();
        ApiError::from(error).with_field_error("/rate", message)
    })?;
    let tax_rate = state.cart.set_tax_rate(country, rate).await?;
    Ok(Json(TaxRateDto::from(tax_rate)))
}

/// Removes a country's tax rate; carts shipping there are no longer taxed.
#[utoipa::path(
    delete, path = "/v1/admin/tax-rates/{country}", tag = "carts (staff)",
    params(("country" = String, Path, description = "ISO 3166-1 alpha-2, either case.",
        example = "DE")),
    security(("staff_token" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the settings write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`tax_rate_not_found`: the country has no rate.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_country`: the path is not a country code.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn delete_tax_rate(
    _staff: Staff<SettingsWrite>,
    State(state): State<AppState>,
    Path(country): Path<String>,
) -> Result<StatusCode, ApiError> {
    let country = CountryCode::parse(&country)?;
    state.cart.delete_tax_rate(country).await?;
    Ok(StatusCode::NO_CONTENT)
}
