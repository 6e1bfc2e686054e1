//! Reservation writes, inside the one transaction of a service call.
//!
//! Lock order, the same in every transaction that touches stock, so two of them never wait on
//! each other in a cycle on PostgreSQL: the reservation row first (its insert, or its status
//! change), then the stock rows of its lines in SKU order. A batch of reservations (see
//! `service/reserve_batch.rs`) keeps the same order for many: every reservation row it inserts,
//! in `order_ref` order, then every stock row it touches, in SKU order, and after that only
//! rows it already holds (removing the claims of refused requests, correcting units). Every
//! change of units is a conditional `UPDATE` of one stock row; every status change is a
//! conditional `UPDATE … WHERE status = 'active'` of the reservation row, so of two racing
//! transitions exactly one applies.

use kassa_db::{DbError, Sql};
use kassa_kernel::{Sku, Timestamp};

use super::RESERVATION_COLUMNS;
use super::{reservation, reservation_from_row, reservation_lines, InventoryTx, ReservationKey};
use crate::model::{LocationId, Reservation, ReservationLine, ReservationStatus};

/// What a status change requires of the reservation's TTL besides being active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deadline {
    /// Any TTL (release).
    Any,
    /// Not yet expired at this instant (commit).
    NotPassedAt(Timestamp),
    /// Expired at this instant (the sweeper).
    PassedAt(Timestamp),
}

impl InventoryTx {
    /// Inserts the reservation's own row, active, unless one exists for its `order_ref`: then
    /// nothing is written and the result is false. On PostgreSQL a concurrent insert of the same
    /// `order_ref` makes this wait for that transaction: if it commits, this one sees a conflict;
    /// if it rolls back, this insert goes ahead. Either way one reservation per order.
    pub(crate) async fn claim_order_ref(
        &mut self,
        reservation: &Reservation,
    ) -> Result<bool, DbError> {
        let row = kassa_db::query(
            "INSERT INTO inventory_reservations \
             (id, order_ref, status, expires_at_ms, created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (order_ref) DO NOTHING RETURNING id",
        )
        .bind(reservation.id.to_string())
        .bind(reservation.order_ref.clone())
        .bind(ReservationStatus::Active.as_str())
        .bind(reservation.expires_at.millis())
        .bind(reservation.created_at.millis())
        .bind(reservation.updated_at.millis())
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(row.is_some())
    }

    /// Removes a claim made by [`InventoryTx::claim_order_ref`] in this same transaction, for a
    /// request that turned out short: the order then has no reservation once this transaction
    /// commits, as if the claim had been rolled back, and may try again. Only an active
    /// reservation without lines matches, so a reservation that really holds units can never
    /// be removed by mistake. False if nothing matched.
    pub(crate) async fn remove_claim(
        &mut self,
        reservation: &Reservation,
    ) -> Result<bool, DbError> {
        let result = kassa_db::query(
            "DELETE FROM inventory_reservations WHERE id = $1 AND status = $2 \
             AND NOT EXISTS (SELECT 1 FROM inventory_reservation_lines \
             WHERE reservation_id = $1)",
        )
        .bind(reservation.id.to_string())
        .bind(ReservationStatus::Active.as_str())
        .execute(&mut *self.tx)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// The reservation as this transaction sees it.
    pub(crate) async fn reservation(
        &mut self,
        key: ReservationKey<'_>,
    ) -> Result<Option<Reservation>, DbError> {
        reservation(&mut self.tx, key).await
    }

    /// Takes `quantity` units of `sku` at `location` if that many are available, in one
    /// conditional statement: no read before it, so no other transaction can slip between a
    /// check and the write. False if they are not (or the SKU has no stock there).
    pub(crate) async fn reserve_units(
        &mut self,
        sku: &Sku,
        location: LocationId,
        quantity: u32,
        now: Timestamp,
    ) -> Result<bool, DbError> {
        let result = kassa_db::query(
            "UPDATE inventory_stock SET reserved = reserved + $1, updated_at_ms = $2 \
             WHERE sku = $3 AND location_id = $4 AND on_hand - reserved >= $1",
        )
        .bind(i64::from(quantity))
        .bind(now.millis())
        .bind(sku.as_str().to_owned())
        .bind(location.to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    pub(crate) async fn insert_lines(&mut self, reservation: &Reservation) -> Result<(), DbError> {
        for line in &reservation.lines {
            kassa_db::query(
                "INSERT INTO inventory_reservation_lines \
                 (reservation_id, sku, location_id, quantity) VALUES ($1, $2, $3, $4)",
            )
            .bind(reservation.id.to_string())
            .bind(line.sku.as_str().to_owned())
            .bind(line.location_id.to_string())
            .bind(i64::from(line.quantity))
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }

    /// Moves an active reservation to `to` if `deadline` allows, and returns it with its lines;
    /// `None` if it is not active (or the deadline does not allow it, or it does not exist),
    /// with nothing changed. This is the only statement that changes a status.
    pub(crate) async fn finish(
        &mut self,
        key: ReservationKey<'_>,
        to: ReservationStatus,
        deadline: Deadline,
        now: Timestamp,
    ) -> Result<Option<Reservation>, DbError> {
        let mut sql = Sql::new("UPDATE inventory_reservations SET status = ");
        sql.bind(to.as_str())
            .push(", updated_at_ms = ")
            .bind(now.millis())
            .push(" WHERE ");
        key.push_condition(&mut sql);
        sql.push(" AND status = ")
            .bind(ReservationStatus::Active.as_str());
        match deadline {
            Deadline::Any => {}
            Deadline::NotPassedAt(at) => {
                sql.push(" AND expires_at_ms > ").bind(at.millis());
            }
            Deadline::PassedAt(at) => {
                sql.push(" AND expires_at_ms <= ").bind(at.millis());
            }
        }
        sql.push(&format!(" RETURNING {RESERVATION_COLUMNS}"));
        let row = sql.build()?.fetch_optional(&mut *self.tx).await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut reservation = reservation_from_row(&row)?;
        reservation.lines = reservation_lines(&mut self.tx, reservation.id).await?;
        Ok(Some(reservation))
    }

    /// A committed line's units leave stock for good: `on_hand` and `reserved` both go down.
    /// False if fewer than `quantity` are reserved, which would break our own bookkeeping.
    pub(crate) async fn take_units(
        &mut self,
        line: &ReservationLine,
        now: Timestamp,
    ) -> Result<bool, DbError> {
        self.change_units(
            "UPDATE inventory_stock SET on_hand = on_hand - $1, reserved = reserved - $1, \
             updated_at_ms = $2 WHERE sku = $3 AND location_id = $4 AND reserved >= $1",
            line,
            now,
        )
        .await
    }

    /// A released or expired line's units are available again: `reserved` goes down. False if
    /// fewer than `quantity` are reserved, which would break our own bookkeeping.
    pub(crate) async fn return_units(
        &mut self,
        line: &ReservationLine,
        now: Timestamp,
    ) -> Result<bool, DbError> {
        self.change_units(
            "UPDATE inventory_stock SET reserved = reserved - $1, updated_at_ms = $2 \
             WHERE sku = $3 AND location_id = $4 AND reserved >= $1",
            line,
            now,
        )
        .await
    }

    async fn change_units(
        &mut self,
        sql: &'static str,
        line: &ReservationLine,
        now: Timestamp,
    ) -> Result<bool, DbError> {
        let result = kassa_db::query(sql)
            .bind(i64::from(line.quantity))
            .bind(now.millis())
            .bind(line.sku.as_str().to_owned())
            .bind(line.location_id.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Records that the committed reservation of `reservation` is restocked, unless it was
    /// before: then nothing is written and the result is false. Inserted before the stock rows
    /// change, so a second restock of the same order (even a concurrent one, which waits on
    /// this row's key on PostgreSQL) changes nothing.
    pub(crate) async fn claim_restock(
        &mut self,
        reservation: &Reservation,
        now: Timestamp,
    ) -> Result<bool, DbError> {
        let row = kassa_db::query(
            "INSERT INTO inventory_restocks (order_ref, reservation_id, restocked_at_ms) \
             VALUES ($1, $2, $3) ON CONFLICT (order_ref) DO NOTHING RETURNING order_ref",
        )
        .bind(reservation.order_ref.clone())
        .bind(reservation.id.to_string())
        .bind(now.millis())
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(row.is_some())
    }

    /// A restocked line's units are on hand again: `on_hand` goes up, within the maximum.
    /// False if that would pass [`crate::model::STOCK_ON_HAND_MAX`] (or the row is gone).
    pub(crate) async fn restock_units(
        &mut self,
        line: &ReservationLine,
        now: Timestamp,
    ) -> Result<bool, DbError> {
        let result = kassa_db::query(
            "UPDATE inventory_stock SET on_hand = on_hand + $1, updated_at_ms = $2 \
             WHERE sku = $3 AND location_id = $4 AND on_hand + $1 <= $5",
        )
        .bind(i64::from(line.quantity))
        .bind(now.millis())
        .bind(line.sku.as_str().to_owned())
        .bind(line.location_id.to_string())
        .bind(i64::from(crate::model::STOCK_ON_HAND_MAX))
        .execute(&mut *self.tx)
        .await?;
        Ok(result.rows_affected() == 1)
    }
}
