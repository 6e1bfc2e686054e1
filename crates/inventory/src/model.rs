//! Inventory types. Stock levels and locations are in [`stock`], reservations in
//! [`reservation`]; both are re-exported here, with the ids and the configuration.
//!
//! Inputs are validated when they are built ([`LocationName::parse`],
//! [`ReservationRequest::new`], [`AdjustmentReason::parse`]), so the store never sees an empty
//! reservation or a blank reason; the store re-checks what it loads (`0 <= reserved <=
//! on_hand`) and reports anything else as corrupt data.

pub mod reservation;
pub mod stock;

use std::time::Duration;

pub use reservation::*;
pub use stock::*;

kassa_kernel::typed_id!(
    /// A place stock is held.
    LocationId, "loc"
);
kassa_kernel::typed_id!(
    /// Units held for one order until it is committed, released or expires.
    ReservationId, "res"
);
kassa_kernel::typed_id!(
    /// One staff adjustment of a stock level.
    AdjustmentId, "adj"
);

impl LocationId {
    /// The location the migration creates, `loc_00000000000000000000000000000000`: where stock
    /// is reserved unless [`InventoryConfig::reservation_location`] names another. A fixed id
    /// (the nil UUID) so that every node and every database agree on it without configuration.
    pub const DEFAULT: LocationId = LocationId(uuid::Uuid::nil());
}

/// Default for [`InventoryConfig::reservation_ttl`]: DESIGN §5's 10 minutes, long enough for a
/// 3-D Secure challenge, short enough that an abandoned checkout frees its units soon.
pub const RESERVATION_TTL_DEFAULT: Duration = Duration::from_secs(10 * 60);

/// Settings of the inventory district, built by `server` from its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryConfig {
    /// How long a reservation holds its units when `reserve` is given no TTL of its own. Must
    /// lie within [`RESERVATION_TTL_MIN`] and [`RESERVATION_TTL_MAX`].
    pub reservation_ttl: Duration,
    /// Where reservations take their units. One location per deployment for now: splitting an
    /// order across locations is not built.
    pub reservation_location: LocationId,
}

impl Default for InventoryConfig {
    fn default() -> Self {
        InventoryConfig {
            reservation_ttl: RESERVATION_TTL_DEFAULT,
            reservation_location: LocationId::DEFAULT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_location_id_is_the_one_the_migration_creates() {
        assert_eq!(
            LocationId::DEFAULT.to_string(),
            "loc_00000000000000000000000000000000"
        );
        let sql = include_str!("../migrations/sqlite/2026112205_create_inventory.sql");
        assert!(sql.contains(&format!("'{}'", LocationId::DEFAULT)));
        assert_eq!(
            "loc_00000000000000000000000000000000".parse(),
            Ok(LocationId::DEFAULT)
        );
    }
}
