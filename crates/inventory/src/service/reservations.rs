//! Reserving, committing, releasing and expiring: the calls checkout's saga and the sweeper
//! make. Each is one transaction (the sweeper: one per reservation; reserving: one per batch of
//! calls, see `reserve_batch.rs`) that changes the reservation's status first and its stock rows
//! after, in SKU order (see `store/reservations.rs` for why that order).

use std::time::Duration;

use kassa_kernel::{Quantity, Sku, Timestamp};
use tracing::instrument;

use super::{Inventory, EXPIRE_BATCH_MAX};
use crate::events;
use crate::model::{
    check_order_ref, ttl_millis, Reservation, ReservationId, ReservationLine, ReservationRequest,
    ReservationStatus,
};
use crate::store::{Deadline, InventoryTx, ReservationKey};
use crate::InventoryError;

impl Inventory {
    #[instrument(skip_all, fields(order_ref = %order_ref, lines = lines.len()))]
    pub(super) async fn reserve_lines(
        &self,
        order_ref: String,
        lines: &[(Sku, Quantity)],
        ttl: Option<Duration>,
    ) -> Result<Reservation, InventoryError> {
        let request = ReservationRequest::new(order_ref, lines)?;
        let ttl_ms = ttl_millis(ttl.unwrap_or(self.config.reservation_ttl))?;
        let now = self.clock.now();
        let location = self.config.reservation_location;
        let reservation = Reservation {
            id: ReservationId::new(),
            order_ref: request.order_ref().to_owned(),
            status: ReservationStatus::Active,
            lines: request
                .lines()
                .iter()
                .map(|(sku, quantity)| ReservationLine {
                    sku: sku.clone(),
                    location_id: location,
                    quantity: *quantity,
                })
                .collect(),
            expires_at: now.plus_millis(ttl_ms),
            created_at: now,
            updated_at: now,
        };

        self.batcher.reserve(reservation).await
    }

    #[instrument(skip_all, fields(order_ref = %order_ref))]
    pub(super) async fn commit_reservation(
        &self,
        order_ref: &str,
    ) -> Result<Reservation, InventoryError> {
        check_order_ref(order_ref)?;
        let now = self.clock.now();
        let key = ReservationKey::OrderRef(order_ref);
        let mut tx = self.store.begin().await?;
        let deadline = Deadline::NotPassedAt(now);
        if let Some(reservation) = tx
            .finish(key, ReservationStatus::Committed, deadline, now)
            .await?
        {
            for line in &reservation.lines {
                if !tx.take_units(line, now).await? {
                    return Err(units_missing(&reservation, line));
                }
            }
            tx.append(&[events::reservation_changed(&reservation)])
                .await?;
            tx.commit().await?;
            tracing::info!(reservation_id = %reservation.id, "reservation committed");
            return Ok(reservation);
        }

        let current = tx
            .reservation(key)
            .await?
            .ok_or_else(|| not_found(order_ref))?;
        if current.status != ReservationStatus::Active {
            tx.rollback().await?;
            return commit_outcome(current);
        }
        // Active but its TTL has passed and the sweeper has not run yet: expire it now, so a
        // commit after the deadline fails the same way whenever the sweeper runs.
        let expiring = Deadline::PassedAt(now);
        let key = ReservationKey::Id(current.id);
        match tx
            .finish(key, ReservationStatus::Expired, expiring, now)
            .await?
        {
            Some(expired) => {
                give_back(&mut tx, &expired).await?;
                tx.commit().await?;
                tracing::info!(reservation_id = %expired.id, "commit after the TTL; expired it");
                commit_outcome(expired)
            }
            None => {
                // Another transaction finished it between our two statements.
                let current = tx
                    .reservation(key)
                    .await?
                    .ok_or_else(|| not_found(order_ref))?;
                tx.rollback().await?;
                commit_outcome(current)
            }
        }
    }

    #[instrument(skip_all, fields(order_ref = %order_ref))]
    pub(super) async fn release_reservation(
        &self,
        order_ref: &str,
    ) -> Result<Reservation, InventoryError> {
        check_order_ref(order_ref)?;
        let now = self.clock.now();
        let key = ReservationKey::OrderRef(order_ref);
        let mut tx = self.store.begin().await?;
        if let Some(released) = tx
            .finish(key, ReservationStatus::Released, Deadline::Any, now)
            .await?
        {
            give_back(&mut tx, &released).await?;
            tx.commit().await?;
            tracing::info!(reservation_id = %released.id, "reservation released");
            return Ok(released);
        }
        let current = tx
            .reservation(key)
            .await?
            .ok_or_else(|| not_found(order_ref))?;
        tx.rollback().await?;
        match current.status {
            ReservationStatus::Released | ReservationStatus::Expired => Ok(current),
            ReservationStatus::Committed => Err(InventoryError::ReservationCommitted {
                order_ref: current.order_ref,
            }),
            ReservationStatus::Active => Err(InventoryError::Invariant(format!(
                "reservation {} is active but could not be released",
                current.id
            ))),
        }
    }

    #[instrument(skip_all, fields(order_ref = %order_ref))]
    pub(super) async fn restock_reservation(
        &self,
        order_ref: &str,
    ) -> Result<Reservation, InventoryError> {
        check_order_ref(order_ref)?;
        let now = self.clock.now();
        let key = ReservationKey::OrderRef(order_ref);
        let mut tx = self.store.begin().await?;
        let reservation = tx
            .reservation(key)
            .await?
            .ok_or_else(|| not_found(order_ref))?;
        // A committed reservation never changes status again, so this check cannot be
        // overtaken; the restock row below is what makes the increments happen once.
        if reservation.status != ReservationStatus::Committed {
            tx.rollback().await?;
            return Err(InventoryError::ReservationNotCommitted {
                order_ref: reservation.order_ref,
                status: reservation.status,
            });
        }
        if !tx.claim_restock(&reservation, now).await? {
            tx.rollback().await?;
            tracing::info!(reservation_id = %reservation.id, "already restocked");
            return Ok(reservation);
        }
        for line in &reservation.lines {
            if !tx.restock_units(line, now).await? {
                return Err(InventoryError::Invariant(format!(
                    "restocking {} of {} at {} for reservation {} would pass the maximum on \
                     hand or finds no stock row",
                    line.quantity, line.sku, line.location_id, reservation.id
                )));
            }
        }
        tx.append(&[events::restocked(&reservation, now)]).await?;
        tx.commit().await?;
        tracing::info!(reservation_id = %reservation.id, "committed units restocked");
        Ok(reservation)
    }

    #[instrument(skip_all, fields(now = %now, batch_max = batch_max))]
    pub(super) async fn expire_due_reservations(
        &self,
        now: Timestamp,
        batch_max: u32,
    ) -> Result<u32, InventoryError> {
        let limit = batch_max.min(EXPIRE_BATCH_MAX);
        if limit == 0 {
            return Ok(0);
        }
        let due = self.store.due_reservations(now, limit).await?;
        let mut expired_count = 0;
        for id in due {
            let mut tx = self.store.begin().await?;
            let key = ReservationKey::Id(id);
            let deadline = Deadline::PassedAt(now);
            match tx
                .finish(key, ReservationStatus::Expired, deadline, now)
                .await?
            {
                Some(expired) => {
                    give_back(&mut tx, &expired).await?;
                    tx.commit().await?;
                    expired_count += 1;
                    tracing::info!(
                        reservation_id = %expired.id,
                        order_ref = %expired.order_ref,
                        "reservation expired"
                    );
                }
                // Committed or released since it was listed: nothing to give back.
                None => tx.rollback().await?,
            }
        }
        Ok(expired_count)
    }
}

/// A released or expired reservation's units become available again, and its event is
/// recorded, in the transaction that changed its status.
async fn give_back(tx: &mut InventoryTx, reservation: &Reservation) -> Result<(), InventoryError> {
    for line in &reservation.lines {
        if !tx.return_units(line, reservation.updated_at).await? {
            return Err(units_missing(reservation, line));
        }
    }
    tx.append(&[events::reservation_changed(reservation)])
        .await?;
    Ok(())
}

/// What `commit` answers for a reservation that is no longer active.
fn commit_outcome(reservation: Reservation) -> Result<Reservation, InventoryError> {
    match reservation.status {
        ReservationStatus::Committed => Ok(reservation),
        ReservationStatus::Released => Err(InventoryError::ReservationReleased {
            order_ref: reservation.order_ref,
        }),
        ReservationStatus::Expired => Err(InventoryError::ReservationExpired {
            order_ref: reservation.order_ref,
            expires_at: reservation.expires_at,
        }),
        ReservationStatus::Active => Err(InventoryError::Invariant(format!(
            "reservation {} is active but could be neither committed nor expired",
            reservation.id
        ))),
    }
}

fn not_found(order_ref: &str) -> InventoryError {
    InventoryError::ReservationNotFound {
        order_ref: order_ref.to_owned(),
    }
}

/// A reservation holds units that its stock row does not count as reserved: our own
/// bookkeeping is broken. The transaction rolls back when it is dropped.
fn units_missing(reservation: &Reservation, line: &ReservationLine) -> InventoryError {
    InventoryError::Invariant(format!(
        "reservation {} holds {} of {} at {} but fewer are reserved there",
        reservation.id, line.quantity, line.sku, line.location_id
    ))
}
