//! Events the inventory records, each in the same transaction as the change it describes
//! (version 1 of each). Stock events are about a SKU (`aggregate_id` is the SKU), reservation
//! events about a reservation (`aggregate_id` is its `res_…` id; `order_ref` is in the data).
//!
//! | type | when | data |
//! |---|---|---|
//! | `inventory.location_created` | a location was added | `location_id`, `name` |
//! | `inventory.stock_set` | staff set `on_hand` | `sku`, `location_id`, `on_hand`, `reserved` |
//! | `inventory.stock_adjusted` | staff changed `on_hand` by a delta | `adjustment_id`, `sku`, `location_id`, `delta`, `reason`, `on_hand`, `reserved` |
//! | `inventory.reserved` | units were held for an order | the reservation (below) |
//! | `inventory.committed` | held units left stock for good | the reservation |
//! | `inventory.released` | held units were given back by the caller | the reservation |
//! | `inventory.expired` | held units were given back by the sweeper | the reservation |
//! | `inventory.restocked` | a committed reservation's units went back on hand (its order was cancelled after confirmation) | the reservation |
//!
//! A reservation's data: `reservation_id`, `order_ref`, `status`, `expires_at` (RFC 3339) and
//! `lines`, each `{sku, location_id, quantity}`. `on_hand` and `reserved` are the levels right
//! after the change.

use kassa_events::NewEvent;
use kassa_kernel::Timestamp;
use serde_json::{json, Value};

use crate::model::{Adjustment, Location, Reservation, StockLevel};

/// The inventory's outbox table, created by its migration from
/// [`kassa_events::outbox_table_sql`].
pub const OUTBOX_TABLE: &str = "inventory_outbox";

pub const LOCATION_CREATED: &str = "inventory.location_created";
pub const STOCK_SET: &str = "inventory.stock_set";
pub const STOCK_ADJUSTED: &str = "inventory.stock_adjusted";
pub const RESERVED: &str = "inventory.reserved";
pub const COMMITTED: &str = "inventory.committed";
pub const RELEASED: &str = "inventory.released";
pub const EXPIRED: &str = "inventory.expired";
pub const RESTOCKED: &str = "inventory.restocked";

/// Every event type above, for consumers that let users choose among them (webhook
/// subscriptions validate against it). Add a new type here too.
pub const ALL: &[&str] = &[
    LOCATION_CREATED,
    STOCK_SET,
    STOCK_ADJUSTED,
    RESERVED,
    COMMITTED,
    RELEASED,
    EXPIRED,
    RESTOCKED,
];

pub(crate) fn location_created(location: &Location) -> NewEvent {
    NewEvent::v1(
        LOCATION_CREATED,
        location.id.to_string(),
        location.created_at,
        json!({"location_id": location.id.to_string(), "name": location.name.as_str()}),
    )
}

pub(crate) fn stock_set(level: &StockLevel) -> NewEvent {
    NewEvent::v1(
        STOCK_SET,
        level.sku.to_string(),
        level.updated_at,
        json!({
            "sku": level.sku.as_str(),
            "location_id": level.location_id.to_string(),
            "on_hand": level.on_hand,
            "reserved": level.reserved,
        }),
    )
}

pub(crate) fn stock_adjusted(adjustment: &Adjustment) -> NewEvent {
    let level = &adjustment.level;
    NewEvent::v1(
        STOCK_ADJUSTED,
        level.sku.to_string(),
        adjustment.at,
        json!({
            "adjustment_id": adjustment.id.to_string(),
            "sku": level.sku.as_str(),
            "location_id": level.location_id.to_string(),
            "delta": adjustment.delta,
            "reason": adjustment.reason.as_str(),
            "on_hand": level.on_hand,
            "reserved": level.reserved,
        }),
    )
}

/// `inventory.reserved`, `.committed`, `.released` or `.expired`, by the reservation's status.
pub(crate) fn reservation_changed(reservation: &Reservation) -> NewEvent {
    use crate::model::ReservationStatus as S;
    let event_type = match reservation.status {
        S::Active => RESERVED,
        S::Committed => COMMITTED,
        S::Released => RELEASED,
        S::Expired => EXPIRED,
    };
    reservation_event(event_type, reservation, reservation.updated_at)
}

/// `inventory.restocked`: the committed reservation whose units went back on hand at `at`.
pub(crate) fn restocked(reservation: &Reservation, at: Timestamp) -> NewEvent {
    reservation_event(RESTOCKED, reservation, at)
}

fn reservation_event(
    event_type: &'static str,
    reservation: &Reservation,
    at: Timestamp,
) -> NewEvent {
    let lines: Vec<Value> = reservation
        .lines
        .iter()
        .map(|line| {
            json!({
                "sku": line.sku.as_str(),
                "location_id": line.location_id.to_string(),
                "quantity": line.quantity,
            })
        })
        .collect();
    NewEvent::v1(
        event_type,
        reservation.id.to_string(),
        at,
        json!({
            "reservation_id": reservation.id.to_string(),
            "order_ref": reservation.order_ref,
            "status": reservation.status.as_str(),
            "expires_at": reservation.expires_at.to_rfc3339(),
            "lines": lines,
        }),
    )
}
