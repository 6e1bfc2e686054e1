//! Every SQL statement of the payments district: reads on [`PaymentStore`] here, writes on a
//! [`PaymentTx`] in `store/write.rs`.
//!
//! The SQL is the common dialect of SQLite and PostgreSQL (`$n` markers, `RETURNING`, no server
//! clock) and has no dialect branch. Values cross the boundary as TEXT (ids, codes, statuses)
//! and BIGINT (minor units, milliseconds); the row functions at the end turn them back into
//! model types and re-check the payment invariants, reporting anything that does not fit as
//! corrupt data.

mod gateway;
mod write;

use kassa_db::{row, Db, DbError};
use kassa_events::{Event, EventId};
use kassa_kernel::{Currency, Money, Timestamp};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::events::OUTBOX;
use crate::keys::IdempotencyKey;
use crate::migrations::MIGRATIONS;
use crate::model::{
    Decline, NextAction, OrderRef, Payment, PaymentAttempt, PaymentAttemptId, PaymentId,
    PaymentMethodToken, PaymentParts, Pending, Refund, RefundStatus,
};
pub use write::PaymentTx;

/// Who is calling the gateway about a pending operation (a payment's authorize, capture or
/// void, or a pending refund), and until when. Taken under the row lock; another caller takes
/// over only once it has expired, so one pending operation never has two gateway calls in
/// flight. The id is the id the caller's attempt will be recorded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub id: PaymentAttemptId,
    pub until: Timestamp,
}

impl Lease {
    pub fn new(now: Timestamp, duration_ms: i64) -> Lease {
        Lease {
            id: PaymentAttemptId::new(),
            until: now.plus_millis(duration_ms),
        }
    }

    /// Whether its holder may still be calling the gateway at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.until > now
    }
}

/// The payments district's tables, reached through its own [`Db`].
#[derive(Clone, Debug)]
pub struct PaymentStore {
    db: Db,
}

/// The payment columns, read by name in [`payment_from_row`].
const PAYMENT_COLUMNS: &str = "id, order_ref, currency, amount_minor, status, captured_minor, \
     refunded_minor, gateway, gateway_ref, next_action_url, next_action_client_secret, \
     decline_code, decline_message, \
     pending_operation, pending_amount_minor, created_at_ms, updated_at_ms";

/// The refund columns, read by name in [`refund_from_row`].
const REFUND_COLUMNS: &str = "id, payment_id, currency, amount_minor, status, gateway_ref, \
     failure_code, failure_message, created_at_ms, updated_at_ms";

const ATTEMPT_COLUMNS: &str = "a.id, a.payment_id, a.refund_id, a.operation, a.idempotency_key, \
     a.amount_minor, a.outcome, a.detail, a.at_ms, p.currency";

impl PaymentStore {
    pub fn new(db: Db) -> Self {
        PaymentStore { db }
    }

    /// Applies the payments district's migrations that have not run yet.
    pub async fn migrate(&self) -> Result<(), DbError> {
        self.db.migrate(MIGRATIONS).await
    }

    /// Starts the write transaction of one step of a service call.
    pub async fn begin(&self) -> Result<PaymentTx, DbError> {
        Ok(PaymentTx::new(self.db.begin().await?))
    }

    pub async fn payment(&self, id: PaymentId) -> Result<Option<Payment>, DbError> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = $1");
        let row = kassa_db::query(&sql)
            .bind(id.to_string())
            .fetch_optional(self.db.reader())
            .await?;
        row.as_ref().map(payment_from_row).transpose()
    }

    pub async fn payment_for_order(&self, order: &OrderRef) -> Result<Option<Payment>, DbError> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE order_ref = $1");
        let row = kassa_db::query(&sql)
            .bind(order.as_str().to_owned())
            .fetch_optional(self.db.reader())
            .await?;
        row.as_ref().map(payment_from_row).transpose()
    }

    /// The payment-method token, while the payment still keeps one (see
    /// [`crate::model::PaymentStatus::keeps_payment_method`]).
    pub async fn payment_method_token(
        &self,
        id: PaymentId,
    ) -> Result<Option<PaymentMethodToken>, DbError> {
        let row = kassa_db::query("SELECT payment_method_token FROM payments WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.db.reader())
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        row::text_opt(&row, "payment_method_token")?
            .map(|text| {
                PaymentMethodToken::parse(text)
                    .map_err(|err| DbError::Corrupt(format!("column payment_method_token: {err}")))
            })
            .transpose()
    }

    /// The refunds of a payment, oldest first.
    pub async fn refunds(&self, payment: PaymentId) -> Result<Vec<Refund>, DbError> {
        let sql = format!(
            "SELECT {REFUND_COLUMNS} FROM payment_refunds WHERE payment_id = $1 ORDER BY id"
        );
        let rows = kassa_db::query(&sql)
            .bind(payment.to_string())
            .fetch_all(self.db.reader())
            .await?;
        rows.iter().map(refund_from_row).collect()
    }

    /// The refunds of a payment still waiting for the gateway's answer, oldest first.
    pub async fn pending_refunds(&self, payment: PaymentId) -> Result<Vec<Refund>, DbError> {
        let sql = format!(
            "SELECT {REFUND_COLUMNS} FROM payment_refunds WHERE payment_id = $1 AND status = $2 \
             ORDER BY id"
        );
        let rows = kassa_db::query(&sql)
            .bind(payment.to_string())
            .bind(RefundStatus::Pending.as_str())
            .fetch_all(self.db.reader())
            .await?;
        rows.iter().map(refund_from_row).collect()
    }

    /// The gateway calls made for a payment, oldest first.
    pub async fn attempts(&self, payment: PaymentId) -> Result<Vec<PaymentAttempt>, DbError> {
        let sql = format!(
            "SELECT {ATTEMPT_COLUMNS} FROM payment_attempts a JOIN payments p ON p.id = \
             a.payment_id WHERE a.payment_id = $1 ORDER BY a.id"
        );
        let rows = kassa_db::query(&sql)
            .bind(payment.to_string())
            .fetch_all(self.db.reader())
            .await?;
        rows.iter().map(attempt_from_row).collect()
    }

    /// Recorded events after `after`, at most `limit`, in recording order.
    pub async fn events(&self, after: Option<EventId>, limit: u32) -> Result<Vec<Event>, DbError> {
        kassa_events::list(&self.db, OUTBOX, after, limit).await
    }
}

fn corrupt(column: &str, err: impl std::fmt::Display) -> DbError {
    DbError::Corrupt(format!("column {column}: {err}"))
}

fn int_opt(r: &AnyRow, column: &str) -> Result<Option<i64>, DbError> {
    Ok(r.try_get::<Option<i64>, _>(column)?)
}

fn lease_from_row(r: &AnyRow) -> Result<Option<Lease>, DbError> {
    let id: Option<PaymentAttemptId> = row::parse_opt(r, "lease_id")?;
    let until = int_opt(r, "lease_until_ms")?;
    match (id, until) {
        (Some(id), Some(until)) => Ok(Some(Lease {
            id,
            until: Timestamp::from_millis(until),
        })),
        (None, None) => Ok(None),
        _ => Err(corrupt("lease_id", "id and expiry must come together")),
    }
}

fn payment_from_row(r: &AnyRow) -> Result<Payment, DbError> {
    let currency: Currency = row::parse(r, "currency")?;
    let money =
        |column: &str| -> Result<Money, DbError> { Ok(Money::new(row::int(r, column)?, currency)) };
    let order_ref =
        OrderRef::parse(row::text(r, "order_ref")?).map_err(|e| corrupt("order_ref", e))?;
    let pending = match row::text_opt(r, "pending_operation")?.as_deref() {
        None => None,
        Some("authorize") => Some(Pending::Authorize),
        Some("void") => Some(Pending::Void),
        Some("capture") => {
            let amount = int_opt(r, "pending_amount_minor")?
                .ok_or_else(|| corrupt("pending_amount_minor", "missing for a capture"))?;
            Some(Pending::Capture {
                amount: Money::new(amount, currency),
            })
        }
        Some(other) => return Err(corrupt("pending_operation", other)),
    };
    let decline = match (
        row::text_opt(r, "decline_code")?,
        row::text_opt(r, "decline_message")?,
    ) {
        (Some(code), Some(message)) => Some(Decline { code, message }),
        (None, None) => None,
        _ => {
            return Err(corrupt(
                "decline_code",
                "code and message must come together",
            ))
        }
    };
    let parts = PaymentParts {
        id: row::parse(r, "id")?,
        order_ref,
        amount: money("amount_minor")?,
        status: row::parse(r, "status")?,
        captured: money("captured_minor")?,
        refunded: money("refunded_minor")?,
        gateway: row::text(r, "gateway")?,
        gateway_ref: row::text_opt(r, "gateway_ref")?,
        // `next_action_url` is set exactly while the payment requires action (a CHECK); it is
        // empty when the action has no redirect (Stripe.js with the client secret).
        next_action: match row::text_opt(r, "next_action_url")? {
            None => None,
            Some(url) => Some(NextAction {
                redirect_url: Some(url).filter(|url| !url.is_empty()),
                client_secret: row::text_opt(r, "next_action_client_secret")?,
            }),
        },
        decline,
        pending,
        created_at: Timestamp::from_millis(row::int(r, "created_at_ms")?),
        updated_at: Timestamp::from_millis(row::int(r, "updated_at_ms")?),
    };
    Payment::from_parts(parts).map_err(DbError::Corrupt)
}

fn refund_from_row(r: &AnyRow) -> Result<Refund, DbError> {
    let currency: Currency = row::parse(r, "currency")?;
    let amount = Money::new(row::int(r, "amount_minor")?, currency);
    if amount.amount_minor() <= 0 {
        return Err(corrupt("amount_minor", "a refund must be above zero"));
    }
    let failure = match (
        row::text_opt(r, "failure_code")?,
        row::text_opt(r, "failure_message")?,
    ) {
        (Some(code), Some(message)) => Some(Decline { code, message }),
        (None, None) => None,
        _ => {
            return Err(corrupt(
                "failure_code",
                "code and message must come together",
            ))
        }
    };
    Ok(Refund {
        id: row::parse(r, "id")?,
        payment_id: row::parse(r, "payment_id")?,
        amount,
        status: row::parse(r, "status")?,
        gateway_ref: row::text_opt(r, "gateway_ref")?,
        failure,
        created_at: Timestamp::from_millis(row::int(r, "created_at_ms")?),
        updated_at: Timestamp::from_millis(row::int(r, "updated_at_ms")?),
    })
}

fn attempt_from_row(r: &AnyRow) -> Result<PaymentAttempt, DbError> {
    let currency: Currency = row::parse(r, "currency")?;
    let key = row::text(r, "idempotency_key")?;
    Ok(PaymentAttempt {
        id: row::parse(r, "id")?,
        payment_id: row::parse(r, "payment_id")?,
        refund_id: row::parse_opt(r, "refund_id")?,
        operation: row::parse(r, "operation")?,
        idempotency_key: IdempotencyKey::parse(&key).map_err(DbError::Corrupt)?,
        amount: int_opt(r, "amount_minor")?.map(|minor| Money::new(minor, currency)),
        outcome: row::parse(r, "outcome")?,
        detail: row::text_opt(r, "detail")?,
        at: Timestamp::from_millis(row::int(r, "at_ms")?),
    })
}
