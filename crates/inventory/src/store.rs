//! Every SQL statement of the inventory: reads on [`InventoryStore`] here, writes on an
//! [`InventoryTx`] — stock and locations in `store/write.rs`, reservations in
//! `store/reservations.rs`.
//!
//! The SQL is the common dialect of SQLite and PostgreSQL (`$n` markers, `ON CONFLICT`,
//! `RETURNING`, no server clock). Stock only ever changes by a conditional `UPDATE` whose
//! `WHERE` states the condition the change needs (`on_hand - reserved >= $n` to reserve), backed
//! by the table's CHECKs (`0 <= reserved <= on_hand`), so correctness never rests on a value read
//! earlier or on a lock held in this process. Values cross the boundary as TEXT (ids, SKUs,
//! statuses) and BIGINT (units, milliseconds); the row functions at the end turn them back into
//! model types and report anything that does not parse, or breaks the stock invariant, as
//! corrupt data.

mod reservations;
mod write;

use kassa_db::Conn;
use kassa_db::{row, Db, DbError, Sql};
use kassa_events::{Event, EventId};
use kassa_kernel::{Sku, Timestamp};
use sqlx::any::AnyRow;

use crate::events::OUTBOX_TABLE;
use crate::migrations::MIGRATIONS;
use crate::model::{
    Location, LocationName, Reservation, ReservationId, ReservationLine, StockLevel,
    STOCK_ON_HAND_MAX,
};
pub(crate) use reservations::Deadline;
pub use write::InventoryTx;

/// The inventory's tables, reached through its own district [`Db`].
#[derive(Clone)]
pub struct InventoryStore {
    db: Db,
}

/// The stock columns, as [`level_from_row`] reads them.
const STOCK_COLUMNS: &str = "sku, location_id, on_hand, reserved, updated_at_ms";

/// The reservation columns, as [`reservation_from_row`] reads them.
const RESERVATION_COLUMNS: &str =
    "id, order_ref, status, expires_at_ms, created_at_ms, updated_at_ms";

/// Which reservation a statement names.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ReservationKey<'a> {
    OrderRef(&'a str),
    Id(ReservationId),
}

impl ReservationKey<'_> {
    /// Appends `<column> = $n` to `sql`.
    fn push_condition(&self, sql: &mut Sql<'_>) {
        match *self {
            ReservationKey::OrderRef(order_ref) => {
                sql.push("order_ref = ").bind(order_ref.to_owned());
            }
            ReservationKey::Id(id) => {
                sql.push("id = ").bind(id.to_string());
            }
        }
    }
}

impl InventoryStore {
    pub fn new(db: Db) -> Self {
        InventoryStore { db }
    }

    /// Applies the inventory's migrations that have not run yet.
    pub async fn migrate(&self) -> Result<(), DbError> {
        self.db.migrate(MIGRATIONS).await
    }

    /// Starts the write transaction of one service call.
    pub async fn begin(&self) -> Result<InventoryTx, DbError> {
        Ok(InventoryTx::new(self.db.begin().await?))
    }

    /// Every location, oldest first.
    pub async fn locations(&self) -> Result<Vec<Location>, DbError> {
        let rows = kassa_db::query(
            "SELECT id, name, created_at_ms FROM inventory_locations ORDER BY created_at_ms, id",
        )
        .fetch_all(self.db.reader())
        .await?;
        rows.iter().map(location_from_row).collect()
    }

    /// The levels of `skus` at every location, by SKU then location, read by one statement so
    /// they are one consistent snapshot. `skus` must not be empty.
    pub async fn stock(&self, skus: &[Sku]) -> Result<Vec<StockLevel>, DbError> {
        let mut sql = Sql::new(&format!(
            "SELECT {STOCK_COLUMNS} FROM inventory_stock WHERE sku IN ("
        ));
        for (i, sku) in skus.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(sku.as_str().to_owned());
        }
        sql.push(") ORDER BY sku, location_id");
        let rows = sql.build()?.fetch_all(self.db.reader()).await?;
        rows.iter().map(level_from_row).collect()
    }

    pub async fn reservation(&self, order_ref: &str) -> Result<Option<Reservation>, DbError> {
        let mut conn = self.db.reader().acquire().await?;
        reservation(&mut conn, ReservationKey::OrderRef(order_ref)).await
    }

    /// Up to `limit` active reservations whose TTL has passed at `now`, those due first.
    pub async fn due_reservations(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<ReservationId>, DbError> {
        let rows = kassa_db::query(
            "SELECT id FROM inventory_reservations \
             WHERE status = 'active' AND expires_at_ms <= $1 \
             ORDER BY expires_at_ms, id LIMIT $2",
        )
        .bind(now.millis())
        .bind(i64::from(limit))
        .fetch_all(self.db.reader())
        .await?;
        rows.iter().map(|r| row::parse(r, "id")).collect()
    }

    /// Recorded events, oldest first, after `after`, at most `limit`.
    pub async fn events(&self, after: Option<EventId>, limit: u32) -> Result<Vec<Event>, DbError> {
        kassa_events::list(&self.db, OUTBOX_TABLE, after, limit).await
    }
}

/// A reservation with its lines. Lines never change after the reservation is created, so
/// reading them in a second statement cannot mix two versions of it.
pub(crate) async fn reservation(
    conn: &mut Conn,
    key: ReservationKey<'_>,
) -> Result<Option<Reservation>, DbError> {
    let mut sql = Sql::new(&format!(
        "SELECT {RESERVATION_COLUMNS} FROM inventory_reservations WHERE "
    ));
    key.push_condition(&mut sql);
    let row = sql.build()?.fetch_optional(&mut *conn).await?;
    match row {
        Some(row) => {
            let mut reservation = reservation_from_row(&row)?;
            reservation.lines = reservation_lines(conn, reservation.id).await?;
            Ok(Some(reservation))
        }
        None => Ok(None),
    }
}

/// A reservation's lines in SKU order: the order in which their stock rows are locked.
pub(crate) async fn reservation_lines(
    conn: &mut Conn,
    id: ReservationId,
) -> Result<Vec<ReservationLine>, DbError> {
    let rows = kassa_db::query(
        "SELECT sku, location_id, quantity FROM inventory_reservation_lines \
         WHERE reservation_id = $1 ORDER BY sku, location_id",
    )
    .bind(id.to_string())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(line_from_row).collect()
}

/// A stored count of units as a `u32`, which every count up to [`STOCK_ON_HAND_MAX`] fits.
fn units(row: &AnyRow, column: &str) -> Result<u32, DbError> {
    let value = row::int(row, column)?;
    u32::try_from(value)
        .map_err(|_| DbError::Corrupt(format!("column {column}: {value} is not a unit count")))
}

fn timestamp(row: &AnyRow, column: &str) -> Result<Timestamp, DbError> {
    Ok(Timestamp::from_millis(row::int(row, column)?))
}

/// Checks the stock invariant again on the way out (STYLE §13: once when built, once when
/// loaded); the CHECKs make a failure here a sign of a schema that lost them.
pub(crate) fn level_from_row(row: &AnyRow) -> Result<StockLevel, DbError> {
    let level = StockLevel {
        sku: row::parse(row, "sku")?,
        location_id: row::parse(row, "location_id")?,
        on_hand: units(row, "on_hand")?,
        reserved: units(row, "reserved")?,
        updated_at: timestamp(row, "updated_at_ms")?,
    };
    if level.reserved > level.on_hand || level.on_hand > STOCK_ON_HAND_MAX {
        return Err(DbError::Corrupt(format!(
            "stock of {} at {}: {} reserved of {} on hand",
            level.sku, level.location_id, level.reserved, level.on_hand
        )));
    }
    Ok(level)
}

fn location_from_row(row: &AnyRow) -> Result<Location, DbError> {
    let name = row::text(row, "name")?;
    Ok(Location {
        id: row::parse(row, "id")?,
        name: LocationName::parse(&name)
            .map_err(|err| DbError::Corrupt(format!("column name: {err}")))?,
        created_at: timestamp(row, "created_at_ms")?,
    })
}

/// The reservation's own row; its lines are read separately and start empty here.
fn reservation_from_row(row: &AnyRow) -> Result<Reservation, DbError> {
    Ok(Reservation {
        id: row::parse(row, "id")?,
        order_ref: row::text(row, "order_ref")?,
        status: row::parse(row, "status")?,
        lines: Vec::new(),
        expires_at: timestamp(row, "expires_at_ms")?,
        created_at: timestamp(row, "created_at_ms")?,
        updated_at: timestamp(row, "updated_at_ms")?,
    })
}

fn line_from_row(row: &AnyRow) -> Result<ReservationLine, DbError> {
    let quantity = units(row, "quantity")?;
    if quantity == 0 {
        return Err(DbError::Corrupt("reservation line of 0 units".to_owned()));
    }
    Ok(ReservationLine {
        sku: row::parse(row, "sku")?,
        location_id: row::parse(row, "location_id")?,
        quantity,
    })
}
