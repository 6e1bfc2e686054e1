//! Variants (staff only): change, archive, and set or remove a price. Every route answers the
//! whole product the variant belongs to, as committed.

use axum::extract::State;
use kassa_kernel::ids::VariantId;
use kassa_kernel::{Currency, Money};

use super::dto::{PriceInputDto, ProductDto, VariantPatchDto};
use crate::auth::{CatalogWrite, Staff};
use crate::extract::{Json, Path};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Changes the fields the body sets; `status` archives or restores the variant.
#[utoipa::path(
    patch, path = "/v1/admin/variants/{variant_id}", tag = "catalog (staff)",
    params(("variant_id" = String, Path, description = "A `var_…` id.")),
    request_body = VariantPatchDto,
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The variant's product as changed.", body = ProductDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the catalog write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`variant_not_found` or `invalid_path_parameter`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_title`, `catalog_validation_failed` or \
            `validation_failed`.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn update_variant(
    _staff: Staff<CatalogWrite>,
    State(state): State<AppState>,
    Path(variant_id): Path<VariantId>,
    Json(body): Json<VariantPatchDto>,
) -> Result<Json<ProductDto>, ApiError> {
    let product = state
        .catalog
        .update_variant(variant_id, body.into_input()?)
        .await?;
    Ok(Json(ProductDto::from(product)))
}

/// Archives the variant; archiving an archived variant changes nothing.
#[utoipa::path(
    post, path = "/v1/admin/variants/{variant_id}/archive", tag = "catalog (staff)",
    params(("variant_id" = String, Path, description = "A `var_…` id.")),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The variant's product.", body = ProductDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the catalog write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`variant_not_found` or `invalid_path_parameter`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn archive_variant(
    _staff: Staff<CatalogWrite>,
    State(state): State<AppState>,
    Path(variant_id): Path<VariantId>,
) -> Result<Json<ProductDto>, ApiError> {
    let product = state.catalog.archive_variant(variant_id).await?;
    Ok(Json(ProductDto::from(product)))
}

/// Sets (inserts or replaces) the variant's price in `{currency}`.
#[utoipa::path(
    put, path = "/v1/admin/variants/{variant_id}/prices/{currency}", tag = "catalog (staff)",
    params(
        ("variant_id" = String, Path, description = "A `var_…` id."),
        ("currency" = String, Path, description = "A supported ISO 4217 code.", example = "EUR"),
    ),
    request_body = PriceInputDto,
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The variant's product with the new price.",
            body = ProductDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the catalog write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`variant_not_found` or `invalid_path_parameter`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unknown_currency` (the path's currency), \
            `catalog_validation_failed` (at `/amount_minor`) or `validation_failed`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn set_price(
    _staff: Staff<CatalogWrite>,
    State(state): State<AppState>,
    Path((variant_id, currency)): Path<(VariantId, String)>,
    Json(body): Json<PriceInputDto>,
) -> Result<Json<ProductDto>, ApiError> {
    let currency: Currency = currency.parse()?;
    let price = Money::new(body.amount_minor, currency);
    let product = state.catalog.set_price(variant_id, price).await?;
    Ok(Json(ProductDto::from(product)))
}

/// Removes the variant's price in `{currency}`; removing a missing price changes nothing.
#[utoipa::path(
    delete, path = "/v1/admin/variants/{variant_id}/prices/{currency}", tag = "catalog (staff)",
    params(
        ("variant_id" = String, Path, description = "A `var_…` id."),
        ("currency" = String, Path, description = "A supported ISO 4217 code.", example = "EUR"),
    ),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The variant's product without the price.",
            body = ProductDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the catalog write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`variant_not_found` or `invalid_path_parameter`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unknown_currency`: the path's currency is not supported.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn remove_price(
    _staff: Staff<CatalogWrite>,
    State(state): State<AppState>,
    Path((variant_id, currency)): Path<(VariantId, String)>,
) -> Result<Json<ProductDto>, ApiError> {
    let currency: Currency = currency.parse()?;
    let product = state.catalog.remove_price(variant_id, currency).await?;
    Ok(Json(ProductDto::from(product)))
}
