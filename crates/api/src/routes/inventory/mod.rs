//! Inventory routes (staff): a SKU's stock, setting and adjusting it, and the locations stock is
//! held at, under `/v1/admin` (docs/API.md, "Inventory (staff)").
//!
//! A `{sku}` in a path is a value, not an id: a malformed one is 422 `invalid_sku`, and a SKU
//! that was never stocked reads as zero everywhere rather than 404 (inventory does not know
//! the catalog, so it cannot tell an unknown SKU from one not stocked yet).
//!
//! Handlers are in [`stock`] and [`locations`]; wire shapes in [`dto`].

pub mod dto;
pub mod locations;
pub mod stock;

use kassa_kernel::Sku;
use utoipa::OpenApi;

use crate::problem::ApiError;
use crate::route_table::Routes;

pub fn routes() -> Routes {
    Routes::new()
        .get("/v1/admin/inventory/{sku}", stock::get_stock)
        .put("/v1/admin/inventory/{sku}", stock::set_stock)
        // An adjustment adds a delta: a retry must not add it twice.
        .post_idempotent("/v1/admin/inventory/{sku}/adjustments", stock::adjust_stock)
        .get("/v1/admin/inventory-locations", locations::list_locations)
        .post("/v1/admin/inventory-locations", locations::create_location)
}

/// The inventory's part of the OpenAPI document, merged by `openapi::openapi()`.
#[derive(OpenApi)]
#[openapi(
    paths(
        stock::get_stock,
        stock::set_stock,
        stock::adjust_stock,
        locations::list_locations,
        locations::create_location,
    ),
    components(schemas(
        dto::StockDto,
        dto::StockLevelDto,
        dto::StockInputDto,
        dto::NewAdjustmentDto,
        dto::AdjustmentDto,
        dto::AdjustmentResultDto,
        dto::LocationDto,
        dto::InventoryLocationList,
        dto::NewLocationDto,
    )),
    tags(
        (name = "inventory (staff)", description = "Stock levels per SKU and location, \
            adjustments with a reason, and locations; needs a staff token."),
    ),
)]
pub struct InventoryApi;

/// The `{sku}` of a path, checked as the kernel checks every SKU (trimmed, upper-cased).
fn parse_sku(raw: &str) -> Result<Sku, ApiError> {
    Ok(Sku::parse(raw)?)
}
