//! The wire shapes of the staff inventory routes.

use kassa_inventory::{Adjustment, Location, LocationId, StockLevel, StockSummary};
use kassa_kernel::Sku;
use serde::{Deserialize, Serialize};

/// One SKU's stock over every location (docs/API.md, "Inventory (staff)").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = Stock)]
pub struct StockDto {
    #[schema(value_type = String, example = "TEE-AURORA-M")]
    pub sku: Sku,
    /// Units physically held, over every location.
    #[schema(example = 50)]
    pub on_hand: u64,
    /// Units held for checkouts that have not confirmed yet.
    #[schema(example = 2)]
    pub reserved: u64,
    /// `on_hand - reserved`: what checkouts can still reserve.
    #[schema(example = 48)]
    pub available: u64,
    /// By location; empty for a SKU that was never stocked (its totals are 0).
    pub levels: Vec<StockLevelDto>,
}

impl From<StockSummary> for StockDto {
    fn from(summary: StockSummary) -> StockDto {
        StockDto {
            sku: summary.sku,
            on_hand: summary.on_hand,
            reserved: summary.reserved,
            available: summary.available,
            levels: summary.levels.iter().map(StockLevelDto::from).collect(),
        }
    }
}

/// One SKU's stock at one location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = StockLevel)]
pub struct StockLevelDto {
    #[schema(value_type = String, example = "loc_00000000000000000000000000000000")]
    pub location_id: LocationId,
    pub on_hand: u32,
    pub reserved: u32,
    pub available: u32,
}

impl From<&StockLevel> for StockLevelDto {
    fn from(level: &StockLevel) -> StockLevelDto {
        StockLevelDto {
            location_id: level.location_id,
            on_hand: level.on_hand,
            reserved: level.reserved,
            available: level.available(),
        }
    }
}

/// `PUT /v1/admin/inventory/{sku}`: the units now on hand.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = StockInput)]
pub struct StockInputDto {
    /// 0 to 1,000,000,000; not below what is reserved at the location.
    #[schema(example = 50)]
    pub on_hand: u32,
    /// The default location (`loc_000…`) when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub location_id: Option<LocationId>,
}

/// `POST /v1/admin/inventory/{sku}/adjustments`: a change by a delta, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewAdjustment)]
pub struct NewAdjustmentDto {
    /// Units added (positive) or removed (negative); never 0.
    #[schema(example = -3)]
    pub delta: i64,
    /// Why, for the record: 1 to 200 characters.
    #[schema(example = "damaged")]
    pub reason: String,
    /// The default location when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub location_id: Option<LocationId>,
}

/// A recorded adjustment and the level it left at its location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = Adjustment)]
pub struct AdjustmentDto {
    #[schema(value_type = String, example = "adj_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub id: kassa_inventory::AdjustmentId,
    #[schema(value_type = String)]
    pub location_id: LocationId,
    #[schema(example = -3)]
    pub delta: i64,
    #[schema(example = "damaged")]
    pub reason: String,
    /// The level at the location right after the adjustment.
    pub on_hand: u32,
    pub reserved: u32,
    #[schema(example = "2026-11-22T04:39:36.123Z")]
    pub created_at: String,
}

impl From<&Adjustment> for AdjustmentDto {
    fn from(adjustment: &Adjustment) -> AdjustmentDto {
        AdjustmentDto {
            id: adjustment.id,
            location_id: adjustment.level.location_id,
            delta: adjustment.delta,
            reason: adjustment.reason.as_str().to_owned(),
            on_hand: adjustment.level.on_hand,
            reserved: adjustment.level.reserved,
            created_at: adjustment.at.to_rfc3339(),
        }
    }
}

/// The answer to an adjustment: what was recorded, and the SKU's stock after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = AdjustmentResult)]
pub struct AdjustmentResultDto {
    pub adjustment: AdjustmentDto,
    pub stock: StockDto,
}

/// A place stock is held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = InventoryLocation)]
pub struct LocationDto {
    #[schema(value_type = String, example = "loc_00000000000000000000000000000000")]
    pub id: LocationId,
    #[schema(example = "Main warehouse")]
    pub name: String,
    #[schema(example = "2026-11-22T04:39:36.123Z")]
    pub created_at: String,
}

impl From<&Location> for LocationDto {
    fn from(location: &Location) -> LocationDto {
        LocationDto {
            id: location.id,
            name: location.name.as_str().to_owned(),
            created_at: location.created_at.to_rfc3339(),
        }
    }
}

/// Every location, oldest first, in one page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct InventoryLocationList {
    pub items: Vec<LocationDto>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// `POST /v1/admin/inventory-locations`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewInventoryLocation)]
pub struct NewLocationDto {
    /// 1 to 100 characters.
    #[schema(example = "Berlin store")]
    pub name: String,
}
