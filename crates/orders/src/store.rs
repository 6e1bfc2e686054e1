//! Every SQL statement of the orders district: reads on [`OrderStore`] here, writes on an
//! [`OrderTx`] in `store/write.rs`, and both for order flags and the inbox in `store/flags.rs`.
//!
//! The SQL is the common dialect of SQLite and PostgreSQL (`$n` markers, `ON CONFLICT`,
//! `RETURNING`, `CASE`, no server clock). Every write that the checkout saga makes is
//! conditional on the saga lease it holds (`… AND saga_lease_id = $n`), and every status
//! change on the status it leaves (`… AND status = $n`), so a driver that lost its lease, or a
//! racing staff call, changes nothing instead of overwriting a newer state. Values cross the
//! boundary as TEXT (ids, SKUs, statuses, the address as JSON) and BIGINT (minor units,
//! quantities, milliseconds); the row functions at the end turn them back into model types,
//! re-validating them, and report anything that does not parse as corrupt data.

mod flags;
mod write;

use std::collections::HashMap;
use std::time::Duration;

use kassa_cart::{Address, AddressInput};
use kassa_db::Conn;
use kassa_db::{row, Db, DbError, Dialect, Sql};
use kassa_events::{Event, EventId};
use kassa_kernel::ids::{CartId, OrderId};
use kassa_kernel::rounding::Rate;
use kassa_kernel::{Currency, Money, Quantity, Timestamp};
use kassa_payments::PaymentMethodToken;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::events::OUTBOX_TABLE;
use crate::migrations::MIGRATIONS;
use crate::model::{
    CloseReason, Fulfilment, Order, OrderFilter, OrderLine, OrderShipping, OrderStatus,
    OrderTotals, SagaStep,
};
pub(crate) use write::{Guard, OrderChange, OrderTx};

/// The orders' tables, reached through its own district [`Db`].
#[derive(Clone)]
pub struct OrderStore {
    db: Db,
}

/// The order columns, as [`base_from_row`] reads them by name.
const ORDER_COLUMNS: &str = "id, cart_id, open_cart_id, customer_id, email, currency, status, \
     close_reason, saga_step, shipping_address, shipping_option_id, shipping_name, tax_rate_ppm, \
     subtotal_minor, shipping_minor, tax_minor, total_minor, captured_minor, refunded_minor, \
     payment_id, payment_method, token_hash, reservation_expires_at_ms, saga_lease_until_ms, \
     created_at_ms, updated_at_ms, confirmed_at_ms";

/// A saga driver's claim on an order: a random id, so only the holder's writes apply, and the
/// instant after which another driver may take the order over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SagaLease {
    pub id: String,
    pub until: Timestamp,
}

impl SagaLease {
    pub fn new(now: Timestamp, length: Duration) -> Result<SagaLease, getrandom::Error> {
        let mut bytes = [0_u8; 16];
        getrandom::fill(&mut bytes)?;
        let id = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let millis = i64::try_from(length.as_millis()).unwrap_or(i64::MAX);
        Ok(SagaLease {
            id,
            until: now.plus_millis(millis),
        })
    }
}

/// An order with what only the district itself sees: the secrets and the saga's bookkeeping.
#[derive(Debug, Clone)]
pub(crate) struct OrderRecord {
    pub order: Order,
    /// SHA-256 of the guest's order token.
    pub token_hash: Option<String>,
    /// Kept while the saga may still authorize with it.
    pub payment_method: Option<PaymentMethodToken>,
    /// Whether the order holds its cart's one open checkout (`open_cart_id` is set).
    pub holds_cart: bool,
    /// When the current driver's lease lapses; `None` when nobody drives the saga.
    pub lease_until: Option<Timestamp>,
}

impl OrderRecord {
    /// Nobody drives the saga at `now`: no lease, or one that lapsed.
    pub fn lease_free(&self, now: Timestamp) -> bool {
        self.lease_until.is_none_or(|until| until < now)
    }
}

impl OrderStore {
    pub fn new(db: Db) -> Self {
        OrderStore { db }
    }

    /// Applies the orders' migrations that have not run yet.
    pub async fn migrate(&self) -> Result<(), DbError> {
        self.db.migrate(MIGRATIONS).await
    }

    /// Starts the write transaction of one step or call.
    pub(crate) async fn begin(&self) -> Result<OrderTx, DbError> {
        Ok(OrderTx::new(self.db.begin().await?))
    }

    /// The order with its lines and fulfilments, read in one snapshot (SQLite's read
    /// transactions are snapshots; PostgreSQL needs REPEATABLE READ for it).
    pub(crate) async fn order(&self, id: OrderId) -> Result<Option<OrderRecord>, DbError> {
        let mut tx = self.db.reader().begin().await?;
        self.snapshot_isolation(&mut tx).await?;
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1");
        let rows = kassa_db::query(&sql)
            .bind(id.to_string())
            .fetch_all(&mut *tx)
            .await?;
        let mut records = hydrate(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok(records.pop())
    }

    async fn snapshot_isolation(&self, conn: &mut Conn) -> Result<(), DbError> {
        if self.db.dialect() == Dialect::Postgres {
            kassa_db::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(conn)
                .await?;
        }
        Ok(())
    }

    /// The order holding the cart's open checkout, if any.
    pub(crate) async fn holder_of_cart(&self, cart: CartId) -> Result<Option<OrderId>, DbError> {
        let row = kassa_db::query("SELECT id FROM orders WHERE open_cart_id = $1")
            .bind(cart.to_string())
            .fetch_optional(self.db.reader())
            .await?;
        row.as_ref().map(|r| row::parse(r, "id")).transpose()
    }

    /// Orders matching `filter` (and having an open flag when `open_flags_only`), newest first
    /// (ids are time-ordered), after the order `after` of a previous page, at most `limit`.
    pub(crate) async fn list(
        &self,
        filter: &OrderFilter,
        open_flags_only: bool,
        after: Option<OrderId>,
        limit: u32,
    ) -> Result<Vec<Order>, DbError> {
        let mut sql = Sql::new(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE 1 = 1"));
        if open_flags_only {
            // Open flags are few: their partial index yields the orders to look up.
            sql.push(" AND id IN (SELECT order_id FROM order_flags WHERE resolved_at_ms IS NULL)");
        }
        if let Some(status) = filter.status {
            sql.push(" AND status = ").bind(status.as_str());
        }
        if let Some(customer) = filter.customer_id {
            sql.push(" AND customer_id = ").bind(customer.to_string());
        }
        if let Some(email) = &filter.email {
            sql.push(" AND email = ").bind(email.as_str().to_owned());
        }
        if let Some(after) = after {
            sql.push(" AND id < ").bind(after.to_string());
        }
        sql.push(" ORDER BY id DESC LIMIT ").bind(i64::from(limit));
        let mut tx = self.db.reader().begin().await?;
        self.snapshot_isolation(&mut tx).await?;
        let rows = sql.build()?.fetch_all(&mut *tx).await?;
        let records = hydrate(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok(records.into_iter().map(|r| r.order).collect())
    }

    /// Up to `limit` orders whose saga is not done and whose lease is free at `now`, oldest
    /// first: what the recovery worker resumes.
    pub(crate) async fn recoverable(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<OrderId>, DbError> {
        let rows = kassa_db::query(
            "SELECT id FROM orders WHERE saga_step <> 'done' \
             AND (saga_lease_until_ms IS NULL OR saga_lease_until_ms < $1) \
             ORDER BY id LIMIT $2",
        )
        .bind(now.millis())
        .bind(i64::from(limit))
        .fetch_all(self.db.reader())
        .await?;
        rows.iter().map(|r| row::parse(r, "id")).collect()
    }

    /// Up to `limit` open checkouts whose reservation lapsed at `now` and whose lease is free,
    /// those due first: what the TTL sweeper cancels.
    pub(crate) async fn expiring(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<OrderId>, DbError> {
        let rows = kassa_db::query(
            "SELECT id FROM orders WHERE status IN ('pending', 'awaiting_payment') \
             AND reservation_expires_at_ms <= $1 \
             AND (saga_lease_until_ms IS NULL OR saga_lease_until_ms < $1) \
             ORDER BY reservation_expires_at_ms, id LIMIT $2",
        )
        .bind(now.millis())
        .bind(i64::from(limit))
        .fetch_all(self.db.reader())
        .await?;
        rows.iter().map(|r| row::parse(r, "id")).collect()
    }

    /// Recorded events, oldest first, after `after`, at most `limit`.
    pub(crate) async fn events(
        &self,
        after: Option<EventId>,
        limit: u32,
    ) -> Result<Vec<Event>, DbError> {
        kassa_events::list(&self.db, OUTBOX_TABLE, after, limit).await
    }
}

/// Orders from their rows, with their lines and fulfilments read by one statement each for
/// all of them (not one per order), in the order of `rows`.
pub(crate) async fn hydrate(conn: &mut Conn, rows: &[AnyRow]) -> Result<Vec<OrderRecord>, DbError> {
    let mut records = rows
        .iter()
        .map(base_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    if records.is_empty() {
        return Ok(records);
    }
    let ids: Vec<String> = records.iter().map(|r| r.order.id.to_string()).collect();

    let mut lines: HashMap<String, Vec<OrderLine>> = HashMap::new();
    let mut sql = in_list(
        "SELECT order_id, sku, product_id, product_title, variant_title, quantity, \
         unit_price_minor, line_total_minor, fulfilled_quantity FROM order_lines \
         WHERE order_id IN (",
        &ids,
    );
    sql.push(") ORDER BY order_id, line_no");
    for row in sql.build()?.fetch_all(&mut *conn).await? {
        let order_id = row::text(&row, "order_id")?;
        let currency = records
            .iter()
            .find(|r| r.order.id.to_string() == order_id)
            .map(|r| r.order.currency)
            .ok_or_else(|| DbError::Corrupt(format!("line of unknown order {order_id}")))?;
        lines
            .entry(order_id)
            .or_default()
            .push(line_from_row(&row, currency)?);
    }

    let mut fulfilments: HashMap<String, Vec<Fulfilment>> = HashMap::new();
    let mut sql = in_list(
        "SELECT id, order_id, carrier, tracking_number, created_at_ms FROM order_fulfilments \
         WHERE order_id IN (",
        &ids,
    );
    sql.push(") ORDER BY order_id, id");
    for row in sql.build()?.fetch_all(&mut *conn).await? {
        fulfilments
            .entry(row::text(&row, "order_id")?)
            .or_default()
            .push(Fulfilment {
                id: row::parse(&row, "id")?,
                lines: Vec::new(),
                carrier: row::text(&row, "carrier")?,
                tracking_number: row::text(&row, "tracking_number")?,
                created_at: timestamp(&row, "created_at_ms")?,
            });
    }
    if !fulfilments.is_empty() {
        let mut sql = in_list(
            "SELECT fl.fulfilment_id, fl.sku, fl.quantity FROM order_fulfilment_lines fl \
             JOIN order_fulfilments f ON f.id = fl.fulfilment_id WHERE f.order_id IN (",
            &ids,
        );
        sql.push(") ORDER BY fl.fulfilment_id, fl.sku");
        let mut by_fulfilment: HashMap<String, Vec<_>> = HashMap::new();
        for row in sql.build()?.fetch_all(&mut *conn).await? {
            by_fulfilment
                .entry(row::text(&row, "fulfilment_id")?)
                .or_default()
                .push((row::parse(&row, "sku")?, quantity(&row, "quantity")?));
        }
        for fulfilment in fulfilments.values_mut().flatten() {
            fulfilment.lines = by_fulfilment
                .remove(&fulfilment.id.to_string())
                .unwrap_or_default();
        }
    }

    for record in &mut records {
        let id = record.order.id.to_string();
        record.order.lines = lines.remove(&id).unwrap_or_default();
        record.order.fulfilments = fulfilments.remove(&id).unwrap_or_default();
        if record.order.lines.is_empty() {
            return Err(DbError::Corrupt(format!("order {id} has no lines")));
        }
    }
    Ok(records)
}

/// `prefix` followed by one bound marker per id, comma-separated; the caller closes the list.
fn in_list<'q>(prefix: &str, ids: &[String]) -> Sql<'q> {
    let mut sql = Sql::new(prefix);
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(id.clone());
    }
    sql
}

fn timestamp(row: &AnyRow, column: &str) -> Result<Timestamp, DbError> {
    Ok(Timestamp::from_millis(row::int(row, column)?))
}

fn timestamp_opt(row: &AnyRow, column: &str) -> Result<Option<Timestamp>, DbError> {
    Ok(row
        .try_get::<Option<i64>, _>(column)?
        .map(Timestamp::from_millis))
}

fn quantity(row: &AnyRow, column: &str) -> Result<Quantity, DbError> {
    Quantity::try_from_i64(row::int(row, column)?)
        .map_err(|err| DbError::Corrupt(format!("column {column}: {err}")))
}

fn corrupt(column: &str, what: impl std::fmt::Display) -> DbError {
    DbError::Corrupt(format!("column {column}: {what}"))
}

/// The order's own row; its lines and fulfilments are read separately and start empty here.
fn base_from_row(row: &AnyRow) -> Result<OrderRecord, DbError> {
    let currency: Currency = row::parse(row, "currency")?;
    let money = |column: &str| -> Result<Money, DbError> {
        Ok(Money::new(row::int(row, column)?, currency))
    };
    let status = row::text(row, "status")?;
    let status = OrderStatus::from_stored(&status).ok_or_else(|| corrupt("status", &status))?;
    let step = row::text(row, "saga_step")?;
    let saga_step = SagaStep::from_stored(&step).ok_or_else(|| corrupt("saga_step", &step))?;
    let close_reason = row::text_opt(row, "close_reason")?
        .map(|text| CloseReason::from_stored(&text).ok_or_else(|| corrupt("close_reason", &text)))
        .transpose()?;
    let tax_rate = row
        .try_get::<Option<i64>, _>("tax_rate_ppm")?
        .map(|ppm| {
            u32::try_from(ppm)
                .ok()
                .and_then(|ppm| Rate::from_ppm(ppm).ok())
                .ok_or_else(|| corrupt("tax_rate_ppm", ppm))
        })
        .transpose()?;
    let payment_method = row::text_opt(row, "payment_method")?
        .map(|text| PaymentMethodToken::parse(text).map_err(|err| corrupt("payment_method", err)))
        .transpose()?;
    let totals = OrderTotals {
        subtotal: money("subtotal_minor")?,
        shipping: money("shipping_minor")?,
        tax: money("tax_minor")?,
        total: money("total_minor")?,
    };
    let sum = Money::sum(currency, [totals.subtotal, totals.shipping, totals.tax])
        .map_err(|err| corrupt("total_minor", err))?;
    if sum != totals.total {
        return Err(corrupt("total_minor", "not the sum of its parts"));
    }
    let order = Order {
        id: row::parse(row, "id")?,
        cart_id: row::parse(row, "cart_id")?,
        customer_id: row::parse_opt(row, "customer_id")?,
        email: row::parse(row, "email")?,
        currency,
        status,
        close_reason,
        saga_step,
        lines: Vec::new(),
        shipping_address: address_from_json(&row::text(row, "shipping_address")?)?,
        shipping: OrderShipping {
            option_id: row::parse(row, "shipping_option_id")?,
            name: row::text(row, "shipping_name")?,
            amount: totals.shipping,
        },
        tax_rate,
        totals,
        payment_id: row::parse_opt(row, "payment_id")?,
        captured: money("captured_minor")?,
        refunded: money("refunded_minor")?,
        reservation_expires_at: timestamp_opt(row, "reservation_expires_at_ms")?,
        fulfilments: Vec::new(),
        created_at: timestamp(row, "created_at_ms")?,
        updated_at: timestamp(row, "updated_at_ms")?,
        confirmed_at: timestamp_opt(row, "confirmed_at_ms")?,
    };
    Ok(OrderRecord {
        order,
        token_hash: row::text_opt(row, "token_hash")?,
        payment_method,
        holds_cart: row::text_opt(row, "open_cart_id")?.is_some(),
        lease_until: timestamp_opt(row, "saga_lease_until_ms")?,
    })
}

fn line_from_row(row: &AnyRow, currency: Currency) -> Result<OrderLine, DbError> {
    let quantity = quantity(row, "quantity")?;
    let fulfilled = u32::try_from(row::int(row, "fulfilled_quantity")?)
        .ok()
        .filter(|f| *f <= quantity.get())
        .ok_or_else(|| corrupt("fulfilled_quantity", "out of range"))?;
    Ok(OrderLine {
        sku: row::parse(row, "sku")?,
        product_id: row::parse(row, "product_id")?,
        product_title: row::text(row, "product_title")?,
        variant_title: row::text(row, "variant_title")?,
        quantity,
        unit_price: Money::new(row::int(row, "unit_price_minor")?, currency),
        line_total: Money::new(row::int(row, "line_total_minor")?, currency),
        fulfilled_quantity: fulfilled,
    })
}

/// The stored form of an address: a JSON object of its fields, as the cart's input has them.
pub(crate) fn address_to_json(address: &Address) -> String {
    let input = address.to_input();
    serde_json::json!({
        "name": input.name,
        "line1": input.line1,
        "line2": input.line2,
        "city": input.city,
        "postal_code": input.postal_code,
        "region": input.region,
        "country": input.country,
        "phone": input.phone,
    })
    .to_string()
}

/// Parses a stored address and validates it again, as the cart would.
fn address_from_json(text: &str) -> Result<Address, DbError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|err| corrupt("shipping_address", err))?;
    let field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let input = AddressInput {
        name: field("name").unwrap_or_default(),
        line1: field("line1").unwrap_or_default(),
        line2: field("line2"),
        city: field("city").unwrap_or_default(),
        postal_code: field("postal_code").unwrap_or_default(),
        region: field("region"),
        country: field("country").unwrap_or_default(),
        phone: field("phone"),
    };
    Address::parse(input).map_err(|err| corrupt("shipping_address", err))
}
