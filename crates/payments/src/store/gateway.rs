//! The statements behind gateway webhooks and reconciliation: the inbox of gateway events,
//! finding a payment by the gateway's reference, refunds made outside kassa, and the reads of
//! the reconciliation job and report.

use kassa_db::{row, DbError};
use kassa_kernel::Timestamp;
use sqlx::any::AnyRow;

use super::{payment_from_row, PaymentStore, PaymentTx, PAYMENT_COLUMNS};
use crate::model::{GatewayEventRecord, OrderRef, Payment, PaymentId, Refund, RefundStatus};

const EVENT_COLUMNS: &str = "gateway, event_id, event_type, created_at_ms, received_at_ms, \
     payment_id, outcome, detail";

fn event_from_row(r: &AnyRow) -> Result<GatewayEventRecord, DbError> {
    Ok(GatewayEventRecord {
        gateway: row::text(r, "gateway")?,
        event_id: row::text(r, "event_id")?,
        event_type: row::text(r, "event_type")?,
        created_at: Timestamp::from_millis(row::int(r, "created_at_ms")?),
        received_at: Timestamp::from_millis(row::int(r, "received_at_ms")?),
        payment_id: row::parse_opt(r, "payment_id")?,
        outcome: row::parse(r, "outcome")?,
        detail: row::text_opt(r, "detail")?,
        duplicate: false,
    })
}

impl PaymentStore {
    /// Payments whose pending operation, or one of whose pending refunds, nobody is settling:
    /// no lease (its call ended without an answer) or a lapsed one. At most `limit` of each
    /// kind, least recently touched first.
    pub async fn payments_to_reconcile(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<PaymentId>, DbError> {
        let mut ids: Vec<PaymentId> = Vec::new();
        let rows = kassa_db::query(
            "SELECT id FROM payments WHERE pending_operation IS NOT NULL \
             AND (lease_until_ms IS NULL OR lease_until_ms < $1) \
             ORDER BY updated_at_ms, id LIMIT $2",
        )
        .bind(now.millis())
        .bind(i64::from(limit))
        .fetch_all(self.db.reader())
        .await?;
        for r in &rows {
            ids.push(row::parse(r, "id")?);
        }
        let rows = kassa_db::query(
            "SELECT payment_id FROM payment_refunds WHERE status = $1 \
             AND (lease_until_ms IS NULL OR lease_until_ms < $2) \
             ORDER BY updated_at_ms, id LIMIT $3",
        )
        .bind(RefundStatus::Pending.as_str())
        .bind(now.millis())
        .bind(i64::from(limit))
        .fetch_all(self.db.reader())
        .await?;
        for r in &rows {
            let id: PaymentId = row::parse(r, "payment_id")?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// How many payments have an operation whose outcome is not recorded, and how many refunds
    /// are pending: money in flight or in doubt, for `/metrics`.
    pub async fn unsettled_counts(&self) -> Result<(u64, u64), DbError> {
        let count = |r: &AnyRow| -> Result<u64, DbError> {
            Ok(u64::try_from(row::int(r, "n")?).unwrap_or(0))
        };
        let operations = kassa_db::query(
            "SELECT COUNT(*) AS n FROM payments WHERE pending_operation IS NOT NULL",
        )
        .fetch_one(self.db.reader())
        .await?;
        let refunds =
            kassa_db::query("SELECT COUNT(*) AS n FROM payment_refunds WHERE status = $1")
                .bind(RefundStatus::Pending.as_str())
                .fetch_one(self.db.reader())
                .await?;
        Ok((count(&operations)?, count(&refunds)?))
    }

    /// Payments made in `[from, to)`, oldest first, after `after` (the last id of the previous
    /// page, same creation time order), at most `limit`.
    pub async fn payments_created_between(
        &self,
        from: Timestamp,
        to: Timestamp,
        after: Option<(Timestamp, PaymentId)>,
        limit: u32,
    ) -> Result<Vec<Payment>, DbError> {
        let (after_ms, after_id) = match after {
            Some((at, id)) => (at.millis(), id.to_string()),
            None => (i64::MIN, String::new()),
        };
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE created_at_ms >= $1 \
             AND created_at_ms < $2 AND (created_at_ms > $3 OR (created_at_ms = $3 AND id > $4)) \
             ORDER BY created_at_ms, id LIMIT $5"
        );
        let rows = kassa_db::query(&sql)
            .bind(from.millis())
            .bind(to.millis())
            .bind(after_ms)
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(self.db.reader())
            .await?;
        rows.iter().map(payment_from_row).collect()
    }

    /// The gateway events received about a payment, in the order they arrived.
    pub async fn gateway_events(
        &self,
        payment: PaymentId,
    ) -> Result<Vec<GatewayEventRecord>, DbError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM payment_gateway_events WHERE payment_id = $1 \
             ORDER BY received_at_ms, event_id"
        );
        let rows = kassa_db::query(&sql)
            .bind(payment.to_string())
            .fetch_all(self.db.reader())
            .await?;
        rows.iter().map(event_from_row).collect()
    }
}

impl PaymentTx {
    /// Puts a gateway event in the inbox. `false` when it is already there: a redelivery, or
    /// a concurrent delivery of the same event (PostgreSQL makes this insert wait for the
    /// other transaction, then skip) — the caller applies nothing.
    pub async fn insert_gateway_event(
        &mut self,
        record: &GatewayEventRecord,
    ) -> Result<bool, DbError> {
        let sql = format!(
            "INSERT INTO payment_gateway_events ({EVENT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (gateway, event_id) DO NOTHING"
        );
        let result = kassa_db::query(&sql)
            .bind(record.gateway.clone())
            .bind(record.event_id.clone())
            .bind(record.event_type.clone())
            .bind(record.created_at.millis())
            .bind(record.received_at.millis())
            .bind(record.payment_id.map(|id| id.to_string()))
            .bind(record.outcome.as_str())
            .bind(record.detail.clone())
            .execute(&mut *self.tx)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Writes what applying an inbox event did.
    pub async fn set_gateway_event_outcome(
        &mut self,
        record: &GatewayEventRecord,
    ) -> Result<(), DbError> {
        kassa_db::query(
            "UPDATE payment_gateway_events SET payment_id = $1, outcome = $2, detail = $3 \
             WHERE gateway = $4 AND event_id = $5",
        )
        .bind(record.payment_id.map(|id| id.to_string()))
        .bind(record.outcome.as_str())
        .bind(record.detail.clone())
        .bind(record.gateway.clone())
        .bind(record.event_id.clone())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// An inbox event as stored.
    pub async fn gateway_event(
        &mut self,
        gateway: &str,
        event_id: &str,
    ) -> Result<Option<GatewayEventRecord>, DbError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM payment_gateway_events WHERE gateway = $1 \
             AND event_id = $2"
        );
        let row = kassa_db::query(&sql)
            .bind(gateway.to_owned())
            .bind(event_id.to_owned())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(event_from_row).transpose()
    }

    /// The payment the gateway knows as `gateway_ref`, or else the payment of `order`.
    pub async fn find_payment(
        &mut self,
        gateway: &str,
        gateway_ref: &str,
        order: Option<&OrderRef>,
    ) -> Result<Option<PaymentId>, DbError> {
        let row =
            kassa_db::query("SELECT id FROM payments WHERE gateway = $1 AND gateway_ref = $2")
                .bind(gateway.to_owned())
                .bind(gateway_ref.to_owned())
                .fetch_optional(&mut *self.tx)
                .await?;
        if let Some(r) = row {
            return Ok(Some(row::parse(&r, "id")?));
        }
        let Some(order) = order else {
            return Ok(None);
        };
        let row = kassa_db::query("SELECT id FROM payments WHERE gateway = $1 AND order_ref = $2")
            .bind(gateway.to_owned())
            .bind(order.as_str().to_owned())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(|r| row::parse(r, "id")).transpose()
    }

    /// Records a refund made outside kassa (the gateway's dashboard), already succeeded. Its
    /// amount must have been reserved with [`PaymentTx::reserve_refund`] in this transaction.
    pub async fn insert_settled_refund(&mut self, refund: &Refund) -> Result<(), DbError> {
        debug_assert_eq!(refund.status, RefundStatus::Succeeded);
        kassa_db::query(
            "INSERT INTO payment_refunds (id, payment_id, currency, amount_minor, status, \
             gateway_ref, created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(refund.id.to_string())
        .bind(refund.payment_id.to_string())
        .bind(refund.amount.currency().code())
        .bind(refund.amount.amount_minor())
        .bind(refund.status.as_str())
        .bind(refund.gateway_ref.clone())
        .bind(refund.created_at.millis())
        .bind(refund.updated_at.millis())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
