//! The inventory's service trait, the only way other crates use stock, and [`Inventory`], which
//! implements it. Stock and locations are here; reservations in `service/reservations.rs`.
//!
//! Every write is one short transaction that also records its event (transactional outbox), so
//! an event exists exactly when its change committed, and a refused call records nothing.

mod batcher;
mod reservations;
mod reserve_batch;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kassa_events::{Event, EventId};
use kassa_kernel::{Clock, Quantity, Sku, Timestamp};
use tracing::instrument;

use crate::events;
use crate::model::{
    check_delta, Adjustment, AdjustmentError, AdjustmentId, AdjustmentReason, InventoryConfig,
    Location, LocationId, LocationName, Reservation, StockLevel, StockSummary, STOCK_ON_HAND_MAX,
};
use crate::store::{InventoryStore, InventoryTx};
use crate::InventoryError;
use batcher::ReserveBatcher;
pub use batcher::{
    ReserveBatchStats, RESERVE_BATCH_LINES_MAX, RESERVE_BATCH_MAX, RESERVE_QUEUE_MAX,
};

/// Most SKUs one [`InventoryService::stock_many`] call looks up: the most lines a cart can
/// have priced at once (the catalog's `OFFER_SKUS_MAX`, 500), so a cart's availability is one
/// call, while one statement's `IN` list stays bounded.
pub const STOCK_MANY_SKUS_MAX: usize = 500;

/// Most reservations one [`InventoryService::expire_due`] call expires. Each is its own short
/// transaction; the bound keeps one sweep from running for long, and the sweeper simply calls
/// again while a sweep comes back full.
pub const EXPIRE_BATCH_MAX: u32 = 1_000;

/// Most events one [`InventoryService::events`] call returns: a page for a staff listing.
pub const EVENTS_PAGE_MAX: u32 = 100;

#[async_trait]
pub trait InventoryService: Send + Sync {
    /// Every location, oldest first; the migration creates [`LocationId::DEFAULT`].
    async fn locations(&self) -> Result<Vec<Location>, InventoryError>;

    /// Staff: adds a location (`inventory.location_created`).
    async fn create_location(&self, name: LocationName) -> Result<Location, InventoryError>;

    /// Staff: sets the units on hand of `sku` at `location`, creating its stock on first set
    /// (`inventory.stock_set`). Refused with `StockBelowReserved` if active reservations hold
    /// more than `on_hand`, `InvalidStockLevel` above [`STOCK_ON_HAND_MAX`], and
    /// `LocationNotFound` for an unknown location.
    async fn set_stock(
        &self,
        sku: Sku,
        location: LocationId,
        on_hand: u32,
    ) -> Result<StockLevel, InventoryError>;

    /// Staff: adds `delta` units (negative removes), recording why in the adjustment log
    /// (`inventory.stock_adjusted`). Refused with `StockNotFound` for stock never set,
    /// `InvalidStockAdjustment` for a zero or oversized delta, a blank or overlong `reason`, or a
    /// result below zero or above the maximum, and `StockBelowReserved` for a result below what
    /// active reservations hold.
    async fn adjust_stock(
        &self,
        sku: Sku,
        location: LocationId,
        delta: i64,
        reason: String,
    ) -> Result<Adjustment, InventoryError>;

    /// The stock of `sku` at every location, with totals. A SKU never stocked is not an error:
    /// it has no levels and zero totals.
    async fn stock(&self, sku: Sku) -> Result<StockSummary, InventoryError>;

    /// [`InventoryService::stock`] for several SKUs, read in one snapshot, one summary per
    /// distinct SKU in the order given. At most [`STOCK_MANY_SKUS_MAX`] SKUs (`TooManySkus`).
    async fn stock_many(&self, skus: &[Sku]) -> Result<Vec<StockSummary>, InventoryError>;

    /// Holds the units of every line for the order `order_ref` (the orders district's id,
    /// opaque here) at the reservation location, all or none, for `ttl` (the configured TTL if
    /// `None`) — `inventory.reserved`.
    ///
    /// Lines of the same SKU are combined. If any SKU is short, nothing is reserved and the
    /// error is `InsufficientStock`, naming every SKU found short with what was requested and
    /// what was available. Idempotent by `order_ref`: if the order already has a reservation,
    /// that reservation is returned as it is, whatever its status and whatever `lines` says
    /// now, and nothing is reserved again. `InvalidReservation` for no lines, too many, a blank
    /// or overlong `order_ref`, or a TTL outside its bounds.
    async fn reserve(
        &self,
        order_ref: String,
        lines: &[(Sku, Quantity)],
        ttl: Option<Duration>,
    ) -> Result<Reservation, InventoryError>;

    /// The order is confirmed: its reserved units leave stock for good (`inventory.committed`).
    /// Idempotent: committing a committed reservation returns it. Refused with
    /// `ReservationReleased` or `ReservationExpired`; an active reservation whose TTL has passed
    /// is expired by this call (`inventory.expired`, as the sweeper would) and refused with
    /// `ReservationExpired`, so the TTL is a deadline whether or not the sweeper has run.
    /// `ReservationNotFound` if the order has no reservation.
    async fn commit(&self, order_ref: &str) -> Result<Reservation, InventoryError>;

    /// The order gives up its units; they are available again (`inventory.released`).
    /// Idempotent: releasing a released or expired reservation returns it. Refused with
    /// `ReservationCommitted`; `ReservationNotFound` if the order has no reservation.
    async fn release(&self, order_ref: &str) -> Result<Reservation, InventoryError>;

    /// The order was cancelled after confirmation: the units its committed reservation took
    /// go back on hand at their locations (`inventory.restocked`). Once only: restocking a
    /// restocked order returns its reservation and changes nothing (the table
    /// `inventory_restocks` holds one row per order, inserted with the increments). Refused
    /// with `ReservationNotCommitted` for a reservation that is still active, released or
    /// expired (its units never left stock), `ReservationNotFound` without one.
    async fn restock(&self, order_ref: &str) -> Result<Reservation, InventoryError>;

    /// The sweeper: expires up to `batch_max` (at most [`EXPIRE_BATCH_MAX`]) active
    /// reservations whose TTL passed at `now`, each in its own short transaction, returning
    /// their units (`inventory.expired`). A reservation committed or released meanwhile is
    /// skipped, never released twice. Returns how many it expired; call again while that is
    /// `batch_max`.
    async fn expire_due(&self, now: Timestamp, batch_max: u32) -> Result<u32, InventoryError>;

    /// The order's reservation; `ReservationNotFound` if it has none.
    async fn reservation(&self, order_ref: &str) -> Result<Reservation, InventoryError>;

    /// Recorded events, oldest first, after `after`; at most `limit` (capped at
    /// [`EVENTS_PAGE_MAX`]).
    async fn events(
        &self,
        after: Option<EventId>,
        limit: u32,
    ) -> Result<Vec<Event>, InventoryError>;
}

/// The inventory service over its store.
///
/// `reserve` calls are batched: each `Inventory` queues them to one task of its own, which runs
/// the calls that arrived together in one transaction, so a hot SKU's row is locked (and, on
/// SQLite, a commit flushed) once per batch rather than once per buyer. The contract of
/// [`InventoryService::reserve`] is the same as for a call alone; see `service/batcher.rs` and
/// `service/reserve_batch.rs`. Build one `Inventory` per process and share it (`Arc`): two
/// instances are correct together, as two processes are, but batch separately.
pub struct Inventory {
    store: InventoryStore,
    clock: Arc<dyn Clock>,
    config: InventoryConfig,
    batcher: ReserveBatcher,
}

impl Inventory {
    pub fn new(store: InventoryStore, clock: Arc<dyn Clock>, config: InventoryConfig) -> Self {
        Inventory {
            batcher: ReserveBatcher::new(store.clone(), clock.clone()),
            store,
            clock,
            config,
        }
    }

    /// How many reservation batches have run and how many calls they answered.
    pub fn reserve_batch_stats(&self) -> ReserveBatchStats {
        self.batcher.stats()
    }
}

#[async_trait]
impl InventoryService for Inventory {
    async fn locations(&self) -> Result<Vec<Location>, InventoryError> {
        Ok(self.store.locations().await?)
    }

    #[instrument(skip_all, fields(name = name.as_str()))]
    async fn create_location(&self, name: LocationName) -> Result<Location, InventoryError> {
        let location = Location {
            id: LocationId::new(),
            name,
            created_at: self.clock.now(),
        };
        let mut tx = self.store.begin().await?;
        tx.insert_location(&location).await?;
        tx.append(&[events::location_created(&location)]).await?;
        tx.commit().await?;
        tracing::info!(location_id = %location.id, "location created");
        Ok(location)
    }

    #[instrument(skip_all, fields(sku = %sku, location_id = %location, on_hand = on_hand))]
    async fn set_stock(
        &self,
        sku: Sku,
        location: LocationId,
        on_hand: u32,
    ) -> Result<StockLevel, InventoryError> {
        if on_hand > STOCK_ON_HAND_MAX {
            return Err(InventoryError::InvalidStockLevel {
                on_hand,
                max: STOCK_ON_HAND_MAX,
            });
        }
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let level = match set_or_missing_location(&mut tx, &sku, location, on_hand, now).await? {
            Some(level) => level,
            None => {
                // Refused: learn why under the row's lock, then try once more in case the
                // reservations that were in the way were released in between.
                let current = tx.lock_level(&sku, location).await?;
                let reserved = current.map_or(0, |level| level.reserved);
                if on_hand < reserved {
                    return Err(InventoryError::StockBelowReserved {
                        sku,
                        location_id: location,
                        on_hand: i64::from(on_hand),
                        reserved,
                    });
                }
                set_or_missing_location(&mut tx, &sku, location, on_hand, now)
                    .await?
                    .ok_or_else(|| unexplained("set_stock", &sku))?
            }
        };
        tx.append(&[events::stock_set(&level)]).await?;
        tx.commit().await?;
        tracing::info!(on_hand, reserved = level.reserved, "stock set");
        Ok(level)
    }

    #[instrument(skip_all, fields(sku = %sku, location_id = %location, delta = delta))]
    async fn adjust_stock(
        &self,
        sku: Sku,
        location: LocationId,
        delta: i64,
        reason: String,
    ) -> Result<Adjustment, InventoryError> {
        check_delta(delta)?;
        let reason = AdjustmentReason::parse(&reason)?;
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let level = match tx.adjust_stock(&sku, location, delta, now).await? {
            Some(level) => level,
            None => {
                let current = tx.lock_level(&sku, location).await?.ok_or_else(|| {
                    InventoryError::StockNotFound {
                        sku: sku.clone(),
                        location_id: location,
                    }
                })?;
                refuse_adjustment(&current, delta)?;
                tx.adjust_stock(&sku, location, delta, now)
                    .await?
                    .ok_or_else(|| unexplained("adjust_stock", &sku))?
            }
        };
        let adjustment = Adjustment {
            id: AdjustmentId::new(),
            delta,
            reason,
            at: now,
            level,
        };
        tx.insert_adjustment(&adjustment).await?;
        tx.append(&[events::stock_adjusted(&adjustment)]).await?;
        tx.commit().await?;
        tracing::info!(
            adjustment_id = %adjustment.id,
            on_hand = adjustment.level.on_hand,
            "stock adjusted"
        );
        Ok(adjustment)
    }

    async fn stock(&self, sku: Sku) -> Result<StockSummary, InventoryError> {
        let levels = self.store.stock(std::slice::from_ref(&sku)).await?;
        Ok(StockSummary::new(sku, levels))
    }

    async fn stock_many(&self, skus: &[Sku]) -> Result<Vec<StockSummary>, InventoryError> {
        let mut seen = HashSet::new();
        let distinct: Vec<Sku> = skus.iter().filter(|s| seen.insert(*s)).cloned().collect();
        if distinct.len() > STOCK_MANY_SKUS_MAX {
            return Err(InventoryError::TooManySkus {
                count: distinct.len(),
                max: STOCK_MANY_SKUS_MAX,
            });
        }
        if distinct.is_empty() {
            return Ok(Vec::new());
        }
        let mut by_sku: HashMap<Sku, Vec<StockLevel>> = HashMap::new();
        for level in self.store.stock(&distinct).await? {
            by_sku.entry(level.sku.clone()).or_default().push(level);
        }
        Ok(distinct
            .into_iter()
            .map(|sku| {
                let levels = by_sku.remove(&sku).unwrap_or_default();
                StockSummary::new(sku, levels)
            })
            .collect())
    }

    async fn reserve(
        &self,
        order_ref: String,
        lines: &[(Sku, Quantity)],
        ttl: Option<Duration>,
    ) -> Result<Reservation, InventoryError> {
        self.reserve_lines(order_ref, lines, ttl).await
    }

    async fn commit(&self, order_ref: &str) -> Result<Reservation, InventoryError> {
        self.commit_reservation(order_ref).await
    }

    async fn release(&self, order_ref: &str) -> Result<Reservation, InventoryError> {
        self.release_reservation(order_ref).await
    }

    async fn restock(&self, order_ref: &str) -> Result<Reservation, InventoryError> {
        self.restock_reservation(order_ref).await
    }

    async fn expire_due(&self, now: Timestamp, batch_max: u32) -> Result<u32, InventoryError> {
        self.expire_due_reservations(now, batch_max).await
    }

    async fn reservation(&self, order_ref: &str) -> Result<Reservation, InventoryError> {
        crate::model::check_order_ref(order_ref)?;
        self.store.reservation(order_ref).await?.ok_or_else(|| {
            InventoryError::ReservationNotFound {
                order_ref: order_ref.to_owned(),
            }
        })
    }

    async fn events(
        &self,
        after: Option<EventId>,
        limit: u32,
    ) -> Result<Vec<Event>, InventoryError> {
        Ok(self.store.events(after, limit.min(EVENTS_PAGE_MAX)).await?)
    }
}

/// [`InventoryTx::set_stock`], with a foreign key violation (no such location) as
/// `LocationNotFound`.
async fn set_or_missing_location(
    tx: &mut InventoryTx,
    sku: &Sku,
    location: LocationId,
    on_hand: u32,
    now: Timestamp,
) -> Result<Option<StockLevel>, InventoryError> {
    match tx.set_stock(sku, location, on_hand, now).await {
        Err(err) if err.is_foreign_key_violation() => {
            Err(InventoryError::LocationNotFound(location))
        }
        other => Ok(other?),
    }
}

/// Why `delta` cannot be applied to `current`, which the caller holds locked. `Ok` if it can:
/// the level changed between the conditional update and the lock.
fn refuse_adjustment(current: &StockLevel, delta: i64) -> Result<(), InventoryError> {
    let target = i64::from(current.on_hand) + delta;
    if target < 0 {
        return Err(AdjustmentError::BelowZero {
            sku: current.sku.clone(),
            removed: delta.unsigned_abs(),
            on_hand: current.on_hand,
        }
        .into());
    }
    if target > i64::from(STOCK_ON_HAND_MAX) {
        return Err(AdjustmentError::AboveMax {
            sku: current.sku.clone(),
            added: delta,
            max: STOCK_ON_HAND_MAX,
        }
        .into());
    }
    if target < i64::from(current.reserved) {
        return Err(InventoryError::StockBelowReserved {
            sku: current.sku.clone(),
            location_id: current.location_id,
            on_hand: target,
            reserved: current.reserved,
        });
    }
    Ok(())
}

/// A conditional write refused twice although the locked row allowed it: our own logic is
/// wrong. The transaction rolls back when it is dropped.
fn unexplained(call: &str, sku: &Sku) -> InventoryError {
    InventoryError::Invariant(format!(
        "{call} of {sku} was refused under the row lock although the level allows it"
    ))
}
