//! The places stock is held. The migration creates the default location
//! (`loc_00000000000000000000000000000000`), where checkouts reserve.

use axum::extract::State;
use http::StatusCode;
use kassa_inventory::LocationName;

use super::dto::{InventoryLocationList, LocationDto, NewLocationDto};
use crate::auth::{CatalogRead, Staff, StockWrite};
use crate::extract::Json;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Every location, oldest first (one page: a shop has a handful).
#[utoipa::path(
    get, path = "/v1/admin/inventory-locations", tag = "inventory (staff)",
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "Every location.", body = InventoryLocationList),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the catalog read permission.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list_locations(
    _staff: Staff<CatalogRead>,
    State(state): State<AppState>,
) -> Result<Json<InventoryLocationList>, ApiError> {
    let locations = state.inventory.locations().await?;
    Ok(Json(InventoryLocationList {
        items: locations.iter().map(LocationDto::from).collect(),
        next_cursor: None,
    }))
}

/// Adds a location.
#[utoipa::path(
    post, path = "/v1/admin/inventory-locations", tag = "inventory (staff)",
    security(("staff_token" = [])),
    request_body = NewLocationDto,
    responses(
        (status = 201, description = "The new location.", body = LocationDto),
        (status = 401, description = "No valid staff token.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the role lacks the stock write permission.",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_location_name` (blank or over 100 characters) \
            or `validation_failed`.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn create_location(
    _staff: Staff<StockWrite>,
    State(state): State<AppState>,
    Json(body): Json<NewLocationDto>,
) -> Result<(StatusCode, Json<LocationDto>), ApiError> {
    let name = LocationName::parse(&body.name).map_err(|err| {
        let message = err.to_string();
        ApiError::from(err).with_field_error("/name", message)
    })?;
    let location = state.inventory.create_location(name).await?;
    Ok((StatusCode::CREATED, Json(LocationDto::from(&location))))
}
