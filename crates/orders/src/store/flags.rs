//! The SQL of order flags (`order_flags`) and of the orders' inbox (`orders_inbox`): reads on
//! [`OrderStore`], writes on [`OrderTx`].
//!
//! A flag's details live in its `detail` column as a JSON object (`reason`, `amount`, `status`,
//! `payment_id`): they are shown, never queried. UNIQUE (kind, source_ref) makes raising the
//! same flag twice a no-op, whichever event carried it.

use kassa_db::{row, DbError};
use kassa_events::EventId;
use kassa_kernel::ids::{OrderId, StaffId};
use kassa_kernel::{Money, Timestamp};
use serde_json::{json, Value};
use sqlx::any::AnyRow;

use super::{corrupt, timestamp, timestamp_opt, OrderStore, OrderTx};
use crate::consumer::INBOX_TABLE;
use crate::model::{FlagKind, OrderFlag, OrderFlagId};

/// The flag columns, as [`flag_from_row`] reads them by name.
const FLAG_COLUMNS: &str =
    "id, order_id, kind, source_ref, detail, raised_at_ms, resolved_at_ms, resolved_by";

impl OrderStore {
    /// The flags of order `id`, oldest first, at most `limit`; `None` if there is no such
    /// order.
    pub(crate) async fn flags(
        &self,
        id: OrderId,
        limit: u32,
    ) -> Result<Option<Vec<OrderFlag>>, DbError> {
        let exists = kassa_db::query("SELECT id FROM orders WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.db.reader())
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {FLAG_COLUMNS} FROM order_flags WHERE order_id = $1 \
             ORDER BY raised_at_ms, id LIMIT $2"
        );
        let rows = kassa_db::query(&sql)
            .bind(id.to_string())
            .bind(i64::from(limit))
            .fetch_all(self.db.reader())
            .await?;
        rows.iter()
            .map(flag_from_row)
            .collect::<Result<_, _>>()
            .map(Some)
    }
}

impl OrderTx {
    /// Records `event` in the orders' inbox; `false` when it was there already (apply nothing).
    pub async fn first_time(&mut self, event: EventId, now: Timestamp) -> Result<bool, DbError> {
        kassa_events::inbox::first_time(&mut self.tx, INBOX_TABLE, event, now).await
    }

    /// Whether order `id` exists.
    pub async fn order_exists(&mut self, id: OrderId) -> Result<bool, DbError> {
        let row = kassa_db::query("SELECT id FROM orders WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.is_some())
    }

    /// Inserts `flag`; `false`, with nothing written, when a flag of the same kind and source
    /// exists already (the same dispute reported again).
    pub async fn insert_flag(&mut self, flag: &OrderFlag) -> Result<bool, DbError> {
        let inserted = kassa_db::query(
            "INSERT INTO order_flags (id, order_id, kind, source_ref, detail, raised_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (kind, source_ref) DO NOTHING RETURNING id",
        )
        .bind(flag.id.to_string())
        .bind(flag.order_id.to_string())
        .bind(flag.kind.as_str())
        .bind(flag.source_ref.clone())
        .bind(detail_to_json(flag))
        .bind(flag.raised_at.millis())
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(inserted.is_some())
    }

    /// The flag `flag` of order `order`, if it has one by that id.
    pub async fn flag(
        &mut self,
        order: OrderId,
        flag: OrderFlagId,
    ) -> Result<Option<OrderFlag>, DbError> {
        let sql = format!("SELECT {FLAG_COLUMNS} FROM order_flags WHERE id = $1 AND order_id = $2");
        let row = kassa_db::query(&sql)
            .bind(flag.to_string())
            .bind(order.to_string())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(flag_from_row).transpose()
    }

    /// Marks the open flag `flag` of order `order` resolved by `staff` at `now` and returns it;
    /// `None`, with nothing changed, if the order has no such flag or it is resolved already.
    pub async fn resolve_flag(
        &mut self,
        order: OrderId,
        flag: OrderFlagId,
        staff: StaffId,
        now: Timestamp,
    ) -> Result<Option<OrderFlag>, DbError> {
        let sql = format!(
            "UPDATE order_flags SET resolved_at_ms = $1, resolved_by = $2 \
             WHERE id = $3 AND order_id = $4 AND resolved_at_ms IS NULL \
             RETURNING {FLAG_COLUMNS}"
        );
        let row = kassa_db::query(&sql)
            .bind(now.millis())
            .bind(staff.to_string())
            .bind(flag.to_string())
            .bind(order.to_string())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(flag_from_row).transpose()
    }
}

/// The stored form of a flag's details.
fn detail_to_json(flag: &OrderFlag) -> String {
    json!({
        "reason": flag.reason,
        "amount": {
            "amount_minor": flag.amount.amount_minor(),
            "currency": flag.amount.currency().code(),
        },
        "status": flag.status,
        "payment_id": flag.payment_id,
    })
    .to_string()
}

fn flag_from_row(row: &AnyRow) -> Result<OrderFlag, DbError> {
    let kind = row::text(row, "kind")?;
    let kind = FlagKind::from_stored(&kind).ok_or_else(|| corrupt("kind", &kind))?;
    let detail: Value =
        serde_json::from_str(&row::text(row, "detail")?).map_err(|err| corrupt("detail", err))?;
    let text = |name: &str| -> Result<String, DbError> {
        detail
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| corrupt("detail", format!("no text member {name}")))
    };
    let amount = detail
        .get("amount")
        .cloned()
        .ok_or_else(|| corrupt("detail", "no member amount"))
        .and_then(|v| serde_json::from_value::<Money>(v).map_err(|err| corrupt("detail", err)))?;
    let resolved_at = timestamp_opt(row, "resolved_at_ms")?;
    let resolved_by: Option<StaffId> = row::parse_opt(row, "resolved_by")?;
    if resolved_at.is_some() != resolved_by.is_some() {
        return Err(corrupt(
            "resolved_by",
            "set without resolved_at_ms or the other way",
        ));
    }
    Ok(OrderFlag {
        id: row::parse(row, "id")?,
        order_id: row::parse(row, "order_id")?,
        kind,
        source_ref: row::text(row, "source_ref")?,
        reason: text("reason")?,
        amount,
        status: text("status")?,
        payment_id: text("payment_id")?,
        raised_at: timestamp(row, "raised_at_ms")?,
        resolved_at,
        resolved_by,
    })
}
