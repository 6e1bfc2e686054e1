//! Writes to stock and locations, inside the one transaction of a service call.
//!
//! `set_stock` and `adjust_stock` are single conditional statements that either make the change
//! and return the new level, or change nothing and return `None`; only then does the service
//! call [`InventoryTx::lock_level`] to learn why, under the row's lock, so its answer cannot be
//! overtaken by a concurrent reservation. A foreign key violation on a stock or adjustment row
//! means the location does not exist, which the service turns into `location_not_found`.

use kassa_db::{DbError, Tx};
use kassa_events::NewEvent;
use kassa_kernel::{Sku, Timestamp};

use super::{level_from_row, STOCK_COLUMNS};
use crate::events::OUTBOX_TABLE;
use crate::model::{Adjustment, Location, LocationId, StockLevel, STOCK_ON_HAND_MAX};

/// One write transaction. Dropping it without [`InventoryTx::commit`] rolls everything back, so
/// a refused call leaves stock, reservations and events as they were.
pub struct InventoryTx {
    pub(super) tx: Tx,
}

impl InventoryTx {
    pub(super) fn new(tx: Tx) -> Self {
        InventoryTx { tx }
    }

    pub async fn commit(self) -> Result<(), DbError> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Ends a refused call's transaction at once, rather than when it is dropped.
    pub async fn rollback(self) -> Result<(), DbError> {
        self.tx.rollback().await?;
        Ok(())
    }

    /// Records `events` in the inventory's outbox, to commit with this transaction's changes.
    pub async fn append(&mut self, events: &[NewEvent]) -> Result<(), DbError> {
        kassa_events::append(&mut self.tx, OUTBOX_TABLE, events).await
    }

    pub(crate) async fn insert_location(&mut self, location: &Location) -> Result<(), DbError> {
        kassa_db::query(
            "INSERT INTO inventory_locations (id, name, created_at_ms) VALUES ($1, $2, $3)",
        )
        .bind(location.id.to_string())
        .bind(location.name.as_str().to_owned())
        .bind(location.created_at.millis())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Sets `on_hand`, creating the row on first set, unless active reservations hold more than
    /// `on_hand`: then nothing changes and the result is `None`. A foreign key violation means
    /// there is no such location.
    pub(crate) async fn set_stock(
        &mut self,
        sku: &Sku,
        location: LocationId,
        on_hand: u32,
        now: Timestamp,
    ) -> Result<Option<StockLevel>, DbError> {
        let sql = format!(
            "INSERT INTO inventory_stock (sku, location_id, on_hand, reserved, updated_at_ms) \
             VALUES ($1, $2, $3, 0, $4) \
             ON CONFLICT (sku, location_id) DO UPDATE \
             SET on_hand = excluded.on_hand, updated_at_ms = excluded.updated_at_ms \
             WHERE inventory_stock.reserved <= excluded.on_hand \
             RETURNING {STOCK_COLUMNS}"
        );
        let row = kassa_db::query(&sql)
            .bind(sku.as_str().to_owned())
            .bind(location.to_string())
            .bind(i64::from(on_hand))
            .bind(now.millis())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(level_from_row).transpose()
    }

    /// Adds `delta` (possibly negative) to `on_hand` if the result stays within `reserved` and
    /// [`STOCK_ON_HAND_MAX`]; otherwise, or if there is no such row, nothing changes and the
    /// result is `None`.
    pub(crate) async fn adjust_stock(
        &mut self,
        sku: &Sku,
        location: LocationId,
        delta: i64,
        now: Timestamp,
    ) -> Result<Option<StockLevel>, DbError> {
        let sql = format!(
            "UPDATE inventory_stock SET on_hand = on_hand + $1, updated_at_ms = $2 \
             WHERE sku = $3 AND location_id = $4 \
             AND on_hand + $1 >= reserved AND on_hand + $1 <= $5 \
             RETURNING {STOCK_COLUMNS}"
        );
        let row = kassa_db::query(&sql)
            .bind(delta)
            .bind(now.millis())
            .bind(sku.as_str().to_owned())
            .bind(location.to_string())
            .bind(i64::from(STOCK_ON_HAND_MAX))
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(level_from_row).transpose()
    }

    /// The level as it is now, locked until the transaction ends: the no-op update takes the
    /// row lock on PostgreSQL (SQLite has one writer anyway), so what it returns cannot change
    /// before this transaction decides. `None` if the SKU has no stock at the location.
    pub(crate) async fn lock_level(
        &mut self,
        sku: &Sku,
        location: LocationId,
    ) -> Result<Option<StockLevel>, DbError> {
        let sql = format!(
            "UPDATE inventory_stock SET on_hand = on_hand \
             WHERE sku = $1 AND location_id = $2 RETURNING {STOCK_COLUMNS}"
        );
        let row = kassa_db::query(&sql)
            .bind(sku.as_str().to_owned())
            .bind(location.to_string())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(level_from_row).transpose()
    }

    pub(crate) async fn insert_adjustment(
        &mut self,
        adjustment: &Adjustment,
    ) -> Result<(), DbError> {
        kassa_db::query(
            "INSERT INTO inventory_adjustments \
             (id, sku, location_id, delta, reason, on_hand_after, at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(adjustment.id.to_string())
        .bind(adjustment.level.sku.as_str().to_owned())
        .bind(adjustment.level.location_id.to_string())
        .bind(adjustment.delta)
        .bind(adjustment.reason.as_str().to_owned())
        .bind(i64::from(adjustment.level.on_hand))
        .bind(adjustment.at.millis())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
