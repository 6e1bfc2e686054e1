//! A SKU's stock: read it, set it, adjust it by a delta with a reason.

use axum::extract::State;
use http::StatusCode;
use kassa_inventory::LocationId;

use super::dto::{AdjustmentDto, AdjustmentResultDto, NewAdjustmentDto, StockDto, StockInputDto};
use super::parse_sku;
use crate::auth::{CatalogRead, Staff, StockWrite};
use crate::extract::{Json, Path};
use crate::idempotency::IdempotencyKeyHeader;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// The SKU's stock over every location, with totals.
#[utoipa::path(
    get, path = "/v1/admin/inventory/{sku}", tag = "inventory (staff)",
    params(("sku" = String, Path, description = "A SKU, e.g. `TEE-AURORA-M`.")),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The stock; zeros and no levels for a SKU never stocked.",
            body = StockDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the catalog read permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_sku`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn get_stock(
    _staff: Staff<CatalogRead>,
    State(state): State<AppState>,
    Path(sku): Path<String>,
) -> Result<Json<StockDto>, ApiError> {
    let sku = parse_sku(&sku)?;
    let summary = state.inventory.stock(sku).await?;
    Ok(Json(StockDto::from(summary)))
}

/// Sets the units on hand at a location (a stock count), creating the SKU's stock there on
/// first set.
#[utoipa::path(
    put, path = "/v1/admin/inventory/{sku}", tag = "inventory (staff)",
    params(("sku" = String, Path, description = "A SKU, e.g. `TEE-AURORA-M`.")),
    security(("staff_token" = [])),
    request_body = StockInputDto,
    responses(
        (status = 200, description = "The SKU's stock after the change.", body = StockDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the stock write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`location_not_found`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`stock_below_reserved`: checkouts hold more units than \
            `on_hand`.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_sku`, `invalid_stock_level` (above the maximum) \
            or `validation_failed`.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn set_stock(
    _staff: Staff<StockWrite>,
    State(state): State<AppState>,
    Path(sku): Path<String>,
    Json(body): Json<StockInputDto>,
) -> Result<Json<StockDto>, ApiError> {
    let sku = parse_sku(&sku)?;
    let location = body.location_id.unwrap_or(LocationId::DEFAULT);
    state
        .inventory
        .set_stock(sku.clone(), location, body.on_hand)
        .await?;
    // The answer shows every location, as GET does; the write returned only the one it set.
    let summary = state.inventory.stock(sku).await?;
    Ok(Json(StockDto::from(summary)))
}

/// Adds or removes units at a location, recording why (damaged, found, returned to supplier).
#[utoipa::path(
    post, path = "/v1/admin/inventory/{sku}/adjustments", tag = "inventory (staff)",
    params(
        ("sku" = String, Path, description = "A SKU, e.g. `TEE-AURORA-M`."),
        IdempotencyKeyHeader,
    ),
    security(("staff_token" = [])),
    request_body = NewAdjustmentDto,
    responses(
        (status = 201, description = "The adjustment and the SKU's stock after it.",
            body = AdjustmentResultDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the stock write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`stock_not_found`: the SKU has no stock at the location \
            (set it first).", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`stock_below_reserved`: the result would be below what \
            checkouts hold.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_stock_adjustment` (a zero or oversized delta, a \
            blank or overlong reason, a result below zero or above the maximum), \
            `invalid_sku` or `validation_failed`.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn adjust_stock(
    _staff: Staff<StockWrite>,
    State(state): State<AppState>,
    Path(sku): Path<String>,
    Json(body): Json<NewAdjustmentDto>,
) -> Result<(StatusCode, Json<AdjustmentResultDto>), ApiError> {
    let sku = parse_sku(&sku)?;
    let location = body.location_id.unwrap_or(LocationId::DEFAULT);
    let adjustment = state
        .inventory
        .adjust_stock(sku.clone(), location, body.delta, body.reason)
        .await?;
    let summary = state.inventory.stock(sku).await?;
    let result = AdjustmentResultDto {
        adjustment: AdjustmentDto::from(&adjustment),
        stock: StockDto::from(summary),
    };
    Ok((StatusCode::CREATED, Json(result)))
}
