//! Writes, inside the one transaction of a saga step or a staff call.
//!
//! A saga step's writes are one [`OrderTx::apply`] guarded by the step's lease
//! ([`Guard::Lease`]); staff calls that do not drive the saga lock the order's row first
//! ([`OrderTx::lock`]) and guard their status change on the status they read under that lock.
//! Amounts copied from payments only ever grow (`CASE WHEN … < $n`), so two calls recording
//! them in either order leave the larger.

use kassa_db::{DbError, Sql, Tx};
use kassa_events::NewEvent;
use kassa_kernel::ids::OrderId;
use kassa_kernel::{Money, Quantity, Sku, Timestamp};
use kassa_payments::{PaymentId, PaymentMethodToken};

use super::{address_to_json, hydrate, OrderRecord, SagaLease, ORDER_COLUMNS};
use crate::events::OUTBOX_TABLE;
use crate::model::{CloseReason, Fulfilment, Order, OrderStatus, SagaStep};

/// One write transaction. Dropping it without [`OrderTx::commit`] rolls everything back.
pub(crate) struct OrderTx {
    /// Reached by the flag writes in `store/flags.rs` too.
    pub(super) tx: Tx,
}

/// What an [`OrderTx::apply`] requires of the order besides its status.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Guard<'a> {
    /// The saga lease with this id is still the order's.
    Lease(&'a str),
    /// Nothing: the caller locked the row with [`OrderTx::lock`] in this transaction.
    Locked,
}

/// The columns one step or call changes; `None`/`false` leaves a column as it is.
#[derive(Debug, Clone, Default)]
pub(crate) struct OrderChange {
    /// `(from, to)`: applied only while the order is `from`.
    pub status: Option<(OrderStatus, OrderStatus)>,
    pub step: Option<SagaStep>,
    pub close_reason: Option<CloseReason>,
    pub payment_id: Option<PaymentId>,
    pub reservation_expires_at: Option<Timestamp>,
    pub confirmed_at: Option<Timestamp>,
    /// Raised to this amount if it is below (never lowered).
    pub captured: Option<Money>,
    /// Raised to this amount if it is below (never lowered).
    pub refunded: Option<Money>,
    /// The saga no longer needs the shopper's payment method.
    pub clear_payment_method: bool,
    /// The order gives up its cart's open checkout (`open_cart_id` becomes NULL).
    pub release_cart: bool,
    /// The saga is over: the lease is dropped in the same statement.
    pub release_lease: bool,
}

impl OrderTx {
    pub(super) fn new(tx: Tx) -> Self {
        OrderTx { tx }
    }

    pub async fn commit(self) -> Result<(), DbError> {
        self.tx.commit().await?;
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), DbError> {
        self.tx.rollback().await?;
        Ok(())
    }

    /// Records `events` in the orders' outbox, to commit with this transaction's changes.
    pub async fn append(&mut self, events: &[NewEvent]) -> Result<(), DbError> {
        kassa_events::append(&mut self.tx, OUTBOX_TABLE, events).await
    }

    /// Inserts a new order, holding its cart's open checkout and `lease`, with its lines.
    /// False, with nothing written, if another order holds the cart's open checkout (on
    /// PostgreSQL a concurrent insert for the same cart makes this wait for its outcome).
    pub async fn insert_order(
        &mut self,
        order: &Order,
        token_hash: &str,
        payment_method: &PaymentMethodToken,
        lease: &SagaLease,
    ) -> Result<bool, DbError> {
        let inserted = kassa_db::query(
            "INSERT INTO orders (id, cart_id, open_cart_id, customer_id, email, currency, status, \
             saga_step, shipping_address, shipping_option_id, shipping_name, tax_rate_ppm, \
             subtotal_minor, shipping_minor, tax_minor, total_minor, payment_method, token_hash, \
             saga_lease_id, saga_lease_until_ms, created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             $17, $18, $19, $20, $20) \
             ON CONFLICT (open_cart_id) DO NOTHING RETURNING id",
        )
        .bind(order.id.to_string())
        .bind(order.cart_id.to_string())
        .bind(order.customer_id.map(|c| c.to_string()))
        .bind(order.email.as_str().to_owned())
        .bind(order.currency.code())
        .bind(order.status.as_str())
        .bind(order.saga_step.as_str())
        .bind(address_to_json(&order.shipping_address))
        .bind(order.shipping.option_id.to_string())
        .bind(order.shipping.name.clone())
        .bind(order.tax_rate.map(|rate| i64::from(rate.ppm())))
        .bind(order.totals.subtotal.amount_minor())
        .bind(order.totals.shipping.amount_minor())
        .bind(order.totals.tax.amount_minor())
        .bind(order.totals.total.amount_minor())
        .bind(payment_method.expose().to_owned())
        .bind(token_hash.to_owned())
        .bind(lease.id.clone())
        .bind(lease.until.millis())
        .bind(order.created_at.millis())
        .fetch_optional(&mut *self.tx)
        .await?;
        if inserted.is_none() {
            return Ok(false);
        }
        for (i, line) in order.lines.iter().enumerate() {
            kassa_db::query(
                "INSERT INTO order_lines (order_id, line_no, sku, product_id, product_title, \
                 variant_title, quantity, unit_price_minor, line_total_minor) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(order.id.to_string())
            .bind(i64::try_from(i).unwrap_or(i64::MAX))
            .bind(line.sku.as_str().to_owned())
            .bind(line.product_id.to_string())
            .bind(line.product_title.clone())
            .bind(line.variant_title.clone())
            .bind(i64::from(line.quantity.get()))
            .bind(line.unit_price.amount_minor())
            .bind(line.line_total.amount_minor())
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(true)
    }

    /// Takes the saga lease of `id` if nobody holds a live one at `now`, and returns the order
    /// as it is; `None` (nothing changed) if another driver holds it or there is no such order.
    pub async fn claim(
        &mut self,
        id: OrderId,
        lease: &SagaLease,
        now: Timestamp,
    ) -> Result<Option<OrderRecord>, DbError> {
        let sql = format!(
            "UPDATE orders SET saga_lease_id = $1, saga_lease_until_ms = $2 WHERE id = $3 \
             AND (saga_lease_until_ms IS NULL OR saga_lease_until_ms < $4) \
             RETURNING {ORDER_COLUMNS}"
        );
        let rows = kassa_db::query(&sql)
            .bind(lease.id.clone())
            .bind(lease.until.millis())
            .bind(id.to_string())
            .bind(now.millis())
            .fetch_all(&mut *self.tx)
            .await?;
        Ok(hydrate(&mut self.tx, &rows).await?.pop())
    }

    /// Drops the lease if it is still `lease_id`'s.
    pub async fn release(&mut self, id: OrderId, lease_id: &str) -> Result<(), DbError> {
        kassa_db::query(
            "UPDATE orders SET saga_lease_id = NULL, saga_lease_until_ms = NULL \
             WHERE id = $1 AND saga_lease_id = $2",
        )
        .bind(id.to_string())
        .bind(lease_id.to_owned())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The order as it is now, its row locked until the transaction ends (the no-op update
    /// takes the row lock on PostgreSQL; SQLite has one writer anyway).
    pub async fn lock(&mut self, id: OrderId) -> Result<Option<OrderRecord>, DbError> {
        let sql = format!(
            "UPDATE orders SET updated_at_ms = updated_at_ms WHERE id = $1 RETURNING {ORDER_COLUMNS}"
        );
        let rows = kassa_db::query(&sql)
            .bind(id.to_string())
            .fetch_all(&mut *self.tx)
            .await?;
        Ok(hydrate(&mut self.tx, &rows).await?.pop())
    }

    /// Applies `change` if `guard` and the status it leaves allow, and returns the order after
    /// it; `None`, with nothing changed, if they do not.
    pub async fn apply(
        &mut self,
        id: OrderId,
        guard: Guard<'_>,
        change: &OrderChange,
        now: Timestamp,
    ) -> Result<Option<OrderRecord>, DbError> {
        let mut sql = Sql::new("UPDATE orders SET updated_at_ms = ");
        sql.bind(now.millis());
        if let Some((_, to)) = change.status {
            sql.push(", status = ").bind(to.as_str());
        }
        if let Some(step) = change.step {
            sql.push(", saga_step = ").bind(step.as_str());
        }
        if let Some(reason) = change.close_reason {
            sql.push(", close_reason = ").bind(reason.as_str());
        }
        if let Some(payment) = change.payment_id {
            sql.push(", payment_id = ").bind(payment.to_string());
        }
        if let Some(at) = change.reservation_expires_at {
            sql.push(", reservation_expires_at_ms = ").bind(at.millis());
        }
        if let Some(at) = change.confirmed_at {
            sql.push(", confirmed_at_ms = ").bind(at.millis());
        }
        for (column, amount) in [
            ("captured_minor", change.captured),
            ("refunded_minor", change.refunded),
        ] {
            if let Some(amount) = amount {
                let minor = amount.amount_minor();
                sql.push(&format!(", {column} = CASE WHEN {column} < "))
                    .bind(minor)
                    .push(" THEN ")
                    .bind(minor)
                    .push(&format!(" ELSE {column} END"));
            }
        }
        if change.clear_payment_method {
            sql.push(", payment_method = NULL");
        }
        if change.release_cart {
            sql.push(", open_cart_id = NULL");
        }
        if change.release_lease {
            sql.push(", saga_lease_id = NULL, saga_lease_until_ms = NULL");
        }
        sql.push(" WHERE id = ").bind(id.to_string());
        if let Guard::Lease(lease_id) = guard {
            sql.push(" AND saga_lease_id = ").bind(lease_id.to_owned());
        }
        if let Some((from, _)) = change.status {
            sql.push(" AND status = ").bind(from.as_str());
        }
        sql.push(&format!(" RETURNING {ORDER_COLUMNS}"));
        let rows = sql.build()?.fetch_all(&mut *self.tx).await?;
        Ok(hydrate(&mut self.tx, &rows).await?.pop())
    }

    pub async fn insert_fulfilment(
        &mut self,
        order: OrderId,
        fulfilment: &Fulfilment,
    ) -> Result<(), DbError> {
        kassa_db::query(
            "INSERT INTO order_fulfilments (id, order_id, carrier, tracking_number, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(fulfilment.id.to_string())
        .bind(order.to_string())
        .bind(fulfilment.carrier.clone())
        .bind(fulfilment.tracking_number.clone())
        .bind(fulfilment.created_at.millis())
        .execute(&mut *self.tx)
        .await?;
        for (sku, quantity) in &fulfilment.lines {
            kassa_db::query(
                "INSERT INTO order_fulfilment_lines (fulfilment_id, sku, quantity) \
                 VALUES ($1, $2, $3)",
            )
            .bind(fulfilment.id.to_string())
            .bind(sku.as_str().to_owned())
            .bind(i64::from(quantity.get()))
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }

    /// Counts `quantity` more units of the line shipped, if that many are left; false (nothing
    /// changed) if they are not.
    pub async fn ship_units(
        &mut self,
        order: OrderId,
        sku: &Sku,
        quantity: Quantity,
    ) -> Result<bool, DbError> {
        let result = kassa_db::query(
            "UPDATE order_lines SET fulfilled_quantity = fulfilled_quantity + $1 \
             WHERE order_id = $2 AND sku = $3 AND fulfilled_quantity + $1 <= quantity",
        )
        .bind(i64::from(quantity.get()))
        .bind(order.to_string())
        .bind(sku.as_str().to_owned())
        .execute(&mut *self.tx)
        .await?;
        Ok(result.rows_affected() == 1)
    }
}
