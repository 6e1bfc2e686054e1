//! Writes, inside the one transaction of a step of a service call. Payment transitions start
//! with [`PaymentTx::lock_payment`] (refund outcomes with [`PaymentTx::lock_refund`]), whose
//! UPDATE takes the row lock on PostgreSQL (SQLite has one writer anyway), so the transition is
//! decided on the latest committed state, with its [`Lease`], and nobody changes the row before
//! the transaction ends. Refund amounts never go through a read: they are
//! reserved and given back with conditional updates ([`PaymentTx::reserve_refund`],
//! [`PaymentTx::release_refund`]), backed by `CHECK (refunded_minor <= captured_minor)`.
//!
//! The only constraint a caller can trip is `payments.order_ref` UNIQUE (two first
//! authorizations of one order racing); [`PaymentTx::insert_payment`] reports it as
//! `Ok(false)`. Every other violation is a bug and stays a storage error.

use kassa_db::{DbError, Tx};
use kassa_events::NewEvent;
use kassa_kernel::{Money, Timestamp};

use super::{
    lease_from_row, payment_from_row, refund_from_row, Lease, PAYMENT_COLUMNS, REFUND_COLUMNS,
};
use crate::events::OUTBOX;
use crate::keys::IdempotencyKey;
use crate::model::{
    AttemptOutcome, Payment, PaymentAttempt, PaymentId, PaymentMethodToken, PaymentStatus, Pending,
    Refund, RefundId,
};

/// One write transaction. Dropping it without [`PaymentTx::commit`] rolls everything back.
pub struct PaymentTx {
    pub(super) tx: Tx,
}

fn pending_columns(pending: Option<Pending>) -> (Option<&'static str>, Option<i64>) {
    match pending {
        None => (None, None),
        Some(Pending::Authorize) => (Some("authorize"), None),
        Some(Pending::Capture { amount }) => (Some("capture"), Some(amount.amount_minor())),
        Some(Pending::Void) => (Some("void"), None),
    }
}

impl PaymentTx {
    pub(super) fn new(tx: Tx) -> Self {
        PaymentTx { tx }
    }

    pub async fn commit(self) -> Result<(), DbError> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Inserts a new payment with the token its authorization will be sent with. `Ok(false)`
    /// when the order already has a payment (the UNIQUE `order_ref`): the caller continues
    /// that one instead.
    pub async fn insert_payment(
        &mut self,
        payment: &Payment,
        token: &PaymentMethodToken,
        lease: &Lease,
    ) -> Result<bool, DbError> {
        let (pending, pending_amount) = pending_columns(payment.pending());
        let result = kassa_db::query(
            "INSERT INTO payments (id, order_ref, currency, amount_minor, status, captured_minor, \
             refunded_minor, gateway, payment_method_token, pending_operation, \
             pending_amount_minor, lease_id, lease_until_ms, created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(payment.id().to_string())
        .bind(payment.order_ref().as_str().to_owned())
        .bind(payment.currency().code())
        .bind(payment.amount().amount_minor())
        .bind(payment.status().as_str())
        .bind(payment.captured().amount_minor())
        .bind(payment.refunded().amount_minor())
        .bind(payment.gateway().to_owned())
        .bind(token.expose().to_owned())
        .bind(pending)
        .bind(pending_amount)
        .bind(lease.id.to_string())
        .bind(lease.until.millis())
        .bind(payment.created_at().millis())
        .bind(payment.updated_at().millis())
        .execute(&mut *self.tx)
        .await;
        match result.map_err(DbError::from) {
            Ok(_) => Ok(true),
            Err(err) if err.is_unique_violation() => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// The first statement of every payment transition: locks the row and returns it as it is
    /// now, with the lease of whoever is calling the gateway about its pending operation.
    pub async fn lock_payment(
        &mut self,
        id: PaymentId,
    ) -> Result<Option<(Payment, Option<Lease>)>, DbError> {
        let sql = format!(
            "UPDATE payments SET updated_at_ms = updated_at_ms WHERE id = $1 \
             RETURNING {PAYMENT_COLUMNS}, lease_id, lease_until_ms"
        );
        let row = kassa_db::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref()
            .map(|r| Ok((payment_from_row(r)?, lease_from_row(r)?)))
            .transpose()
    }

    /// The payment as this transaction sees it, without locking it.
    pub async fn payment(&mut self, id: PaymentId) -> Result<Option<Payment>, DbError> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = $1");
        let row = kassa_db::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(payment_from_row).transpose()
    }

    /// Writes a transition decided under [`PaymentTx::lock_payment`], with the lease the
    /// payment holds afterwards (`None` releases it). `refunded_minor` is not written: only the
    /// conditional refund updates change it. The payment-method token is erased once the status
    /// no longer needs it.
    pub async fn update_payment(
        &mut self,
        payment: &Payment,
        lease: Option<&Lease>,
    ) -> Result<(), DbError> {
        let (pending, pending_amount) = pending_columns(payment.pending());
        let decline = payment.decline();
        let erase_token = !payment.status().keeps_payment_method();
        let sql = if erase_token {
            "UPDATE payments SET status = $1, captured_minor = $2, gateway_ref = $3, \
             next_action_url = $4, decline_code = $5, decline_message = $6, \
             pending_operation = $7, pending_amount_minor = $8, updated_at_ms = $9, \
             lease_id = $10, lease_until_ms = $11, next_action_client_secret = $13, \
             payment_method_token = NULL WHERE id = $12"
        } else {
            "UPDATE payments SET status = $1, captured_minor = $2, gateway_ref = $3, \
             next_action_url = $4, decline_code = $5, decline_message = $6, \
             pending_operation = $7, pending_amount_minor = $8, updated_at_ms = $9, \
             lease_id = $10, lease_until_ms = $11, next_action_client_secret = $13 \
             WHERE id = $12"
        };
        let result = kassa_db::query(sql)
            .bind(payment.status().as_str())
            .bind(payment.captured().amount_minor())
            .bind(payment.gateway_ref().map(str::to_owned))
            // Empty when the action has no redirect: the column is set exactly while the
            // payment requires action.
            .bind(
                payment
                    .next_action()
                    .map(|a| a.redirect_url.clone().unwrap_or_default()),
            )
            .bind(decline.map(|d| d.code.clone()))
            .bind(decline.map(|d| d.message.clone()))
            .bind(pending)
            .bind(pending_amount)
            .bind(payment.updated_at().millis())
            .bind(lease.map(|l| l.id.to_string()))
            .bind(lease.map(|l| l.until.millis()))
            .bind(payment.id().to_string())
            .bind(payment.next_action().and_then(|a| a.client_secret.clone()))
            .execute(&mut *self.tx)
            .await?;
        if result.rows_affected() != 1 {
            return Err(DbError::Corrupt(format!(
                "payment {} vanished while locked",
                payment.id()
            )));
        }
        Ok(())
    }

    /// Reserves `amount` for a refund: `refunded += amount` only if the payment succeeded, is
    /// in that currency and has at least `amount` left to refund — one conditional UPDATE, so
    /// concurrent refunds on any number of nodes can never pass the captured amount. Returns the
    /// payment after the reservation, or `None` if the condition did not hold (the caller reads
    /// the payment to say why).
    pub async fn reserve_refund(
        &mut self,
        payment: PaymentId,
        amount: Money,
        now: Timestamp,
    ) -> Result<Option<Payment>, DbError> {
        let sql = format!(
            "UPDATE payments SET refunded_minor = refunded_minor + $1, updated_at_ms = $2 \
             WHERE id = $3 AND status = $4 AND currency = $5 \
             AND captured_minor - refunded_minor >= $6 \
             RETURNING {PAYMENT_COLUMNS}"
        );
        let row = kassa_db::query(&sql)
            .bind(amount.amount_minor())
            .bind(now.millis())
            .bind(payment.to_string())
            .bind(PaymentStatus::Succeeded.as_str())
            .bind(amount.currency().code())
            .bind(amount.amount_minor())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(payment_from_row).transpose()
    }

    /// Gives back the reservation of a refund that failed: `refunded -= amount`, conditional on
    /// the reservation being there. `None` would mean it was not, which is a bug.
    pub async fn release_refund(
        &mut self,
        payment: PaymentId,
        amount: Money,
        now: Timestamp,
    ) -> Result<Option<Payment>, DbError> {
        let sql = format!(
            "UPDATE payments SET refunded_minor = refunded_minor - $1, updated_at_ms = $2 \
             WHERE id = $3 AND currency = $4 AND refunded_minor >= $5 \
             RETURNING {PAYMENT_COLUMNS}"
        );
        let row = kassa_db::query(&sql)
            .bind(amount.amount_minor())
            .bind(now.millis())
            .bind(payment.to_string())
            .bind(amount.currency().code())
            .bind(amount.amount_minor())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(payment_from_row).transpose()
    }

    /// Inserts a new pending refund held by `lease`, in the transaction that reserved it.
    pub async fn insert_refund(&mut self, refund: &Refund, lease: &Lease) -> Result<(), DbError> {
        kassa_db::query(
            "INSERT INTO payment_refunds (id, payment_id, currency, amount_minor, status, \
             lease_id, lease_until_ms, created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(refund.id.to_string())
        .bind(refund.payment_id.to_string())
        .bind(refund.amount.currency().code())
        .bind(refund.amount.amount_minor())
        .bind(refund.status.as_str())
        .bind(lease.id.to_string())
        .bind(lease.until.millis())
        .bind(refund.created_at.millis())
        .bind(refund.updated_at.millis())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Locks a refund's row, as [`PaymentTx::lock_payment`] does a payment's.
    pub async fn lock_refund(
        &mut self,
        id: RefundId,
    ) -> Result<Option<(Refund, Option<Lease>)>, DbError> {
        let sql = format!(
            "UPDATE payment_refunds SET updated_at_ms = updated_at_ms WHERE id = $1 \
             RETURNING {REFUND_COLUMNS}, lease_id, lease_until_ms"
        );
        let row = kassa_db::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref()
            .map(|r| Ok((refund_from_row(r)?, lease_from_row(r)?)))
            .transpose()
    }

    /// Writes a refund's outcome decided under [`PaymentTx::lock_refund`], with the lease it
    /// holds afterwards (`None` releases it).
    pub async fn update_refund(
        &mut self,
        refund: &Refund,
        lease: Option<&Lease>,
    ) -> Result<(), DbError> {
        let failure = refund.failure.as_ref();
        kassa_db::query(
            "UPDATE payment_refunds SET status = $1, gateway_ref = $2, failure_code = $3, \
             failure_message = $4, lease_id = $5, lease_until_ms = $6, updated_at_ms = $7 \
             WHERE id = $8",
        )
        .bind(refund.status.as_str())
        .bind(refund.gateway_ref.clone())
        .bind(failure.map(|f| f.code.clone()))
        .bind(failure.map(|f| f.message.clone()))
        .bind(lease.map(|l| l.id.to_string()))
        .bind(lease.map(|l| l.until.millis()))
        .bind(refund.updated_at.millis())
        .bind(refund.id.to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Whether any call with `key` ended without an answer (timed out or interrupted). After
    /// that, a "not performed" answer to a later call says nothing about the first one, so it
    /// must not settle the operation.
    pub async fn had_unknown_outcome(&mut self, key: &IdempotencyKey) -> Result<bool, DbError> {
        let row = kassa_db::query(
            "SELECT 1 FROM payment_attempts WHERE idempotency_key = $1 AND outcome = $2 LIMIT 1",
        )
        .bind(key.as_str().to_owned())
        .bind(AttemptOutcome::Unknown.as_str())
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(row.is_some())
    }

    pub async fn insert_attempt(&mut self, attempt: &PaymentAttempt) -> Result<(), DbError> {
        kassa_db::query(
            "INSERT INTO payment_attempts (id, payment_id, refund_id, operation, \
             idempotency_key, amount_minor, outcome, detail, at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(attempt.id.to_string())
        .bind(attempt.payment_id.to_string())
        .bind(attempt.refund_id.map(|id| id.to_string()))
        .bind(attempt.operation.as_str())
        .bind(attempt.idempotency_key.as_str().to_owned())
        .bind(attempt.amount.map(|m| m.amount_minor()))
        .bind(attempt.outcome.as_str())
        .bind(attempt.detail.clone())
        .bind(attempt.at.millis())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Records events in this transaction, so they exist exactly when the change commits.
    pub async fn append_events(&mut self, events: &[NewEvent]) -> Result<(), DbError> {
        kassa_events::append(&mut self.tx, OUTBOX, events).await
    }
}
