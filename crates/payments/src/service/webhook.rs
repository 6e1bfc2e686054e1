//! Applying a gateway's webhook events: each once, forwards only.
//!
//! One transaction per event: the event goes into the inbox (`payment_gateway_events`, keyed by
//! the gateway's event id) first, so a redelivery — or the same event delivered to two nodes at
//! once, which PostgreSQL serialises on the key — finds it there and applies nothing; then the
//! payment is locked and moved by [`Payment::follow_gateway`], which never goes backwards; the
//! outcome, the payment and the events commit together.
//!
//! A payment with an operation of kassa's in flight (a live lease, or a capture or void whose
//! answer is not recorded) is not touched: the caller, or the reconciliation job asking the
//! gateway with the same key, records the answer, and the event is kept as `deferred`.

use kassa_kernel::Money;

use super::outcome::followed_event;
use super::Payments;
use crate::events;
use crate::gateway::{GatewayEvent, GatewayNotice, GatewayPaymentStatus};
use crate::model::{
    GatewayEventRecord, NoticeOutcome, Payment, PaymentStatus, Pending, Refund, RefundId,
    RefundStatus,
};
use crate::store::{Lease, PaymentTx};
use crate::PaymentError;
use kassa_events::NewEvent;
use kassa_kernel::Timestamp;

/// What one notice did to the payment it is about.
struct Applied {
    outcome: NoticeOutcome,
    detail: Option<String>,
    events: Vec<NewEvent>,
}

impl Applied {
    fn no(outcome: NoticeOutcome, detail: impl Into<String>) -> Applied {
        Applied {
            outcome,
            detail: Some(detail.into()),
            events: Vec::new(),
        }
    }
}

impl Payments {
    pub(super) async fn apply_event(
        &self,
        event: GatewayEvent,
    ) -> Result<GatewayEventRecord, PaymentError> {
        if event.gateway != self.gateway.name() {
            return Err(PaymentError::Internal {
                message: format!(
                    "an event of gateway '{}' reached the service of gateway '{}'",
                    event.gateway,
                    self.gateway.name()
                ),
            });
        }
        let now = self.now();
        let mut record = GatewayEventRecord {
            gateway: event.gateway.to_owned(),
            event_id: event.id.clone(),
            event_type: event.event_type.clone(),
            created_at: event.created_at,
            received_at: now,
            payment_id: None,
            outcome: NoticeOutcome::Ignored,
            detail: None,
            duplicate: false,
        };
        let mut tx = self.store.begin().await?;
        if !tx.insert_gateway_event(&record).await? {
            let first = tx
                .gateway_event(&record.gateway, &record.event_id)
                .await?
                .ok_or_else(|| PaymentError::Internal {
                    message: format!("gateway event {} vanished", record.event_id),
                })?;
            return Ok(GatewayEventRecord {
                duplicate: true,
                ..first
            });
        }
        let (gateway_ref, order_ref) = match &event.notice {
            GatewayNotice::Payment {
                gateway_ref,
                order_ref,
                ..
            } => (gateway_ref, order_ref.as_ref()),
            GatewayNotice::Refunded { gateway_ref, .. }
            | GatewayNotice::Disputed { gateway_ref, .. } => (gateway_ref, None),
            GatewayNotice::Ignored => {
                tx.commit().await?;
                return Ok(record);
            }
        };
        let found = tx
            .find_payment(self.gateway.name(), gateway_ref, order_ref)
            .await?;
        let Some(id) = found else {
            record.outcome = NoticeOutcome::UnknownPayment;
            record.detail = Some(format!("no payment has gateway reference {gateway_ref}"));
            tx.set_gateway_event_outcome(&record).await?;
            tx.commit().await?;
            return Ok(record);
        };
        record.payment_id = Some(id);
        let (mut payment, held) = tx
            .lock_payment(id)
            .await?
            .ok_or(PaymentError::PaymentNotFound(id))?;
        let applied = match &event.notice {
            GatewayNotice::Payment { status, .. } => {
                self.follow(&mut tx, &mut payment, held, gateway_ref, status, now)
                    .await?
            }
            GatewayNotice::Refunded { total, .. } => {
                self.refunded_at_gateway(&mut tx, &payment, *total, now)
                    .await?
            }
            GatewayNotice::Disputed {
                dispute_ref,
                amount,
                reason,
                status,
                ..
            } => Applied {
                outcome: NoticeOutcome::Applied,
                detail: Some(format!("dispute {dispute_ref}: {reason}")),
                events: vec![events::disputed(
                    &payment,
                    self.gateway.name(),
                    dispute_ref,
                    *amount,
                    reason,
                    status,
                    now,
                )],
            },
            GatewayNotice::Ignored => Applied::no(NoticeOutcome::Ignored, "not acted on"),
        };
        record.outcome = applied.outcome;
        record.detail = applied.detail;
        tx.set_gateway_event_outcome(&record).await?;
        tx.append_events(&applied.events).await?;
        tx.commit().await?;
        tracing::info!(
            payment_id = %id, event_id = %record.event_id, event_type = %record.event_type,
            outcome = %record.outcome, "gateway event applied"
        );
        Ok(record)
    }

    /// A status notice: followed forwards unless an operation of ours is in flight.
    async fn follow(
        &self,
        tx: &mut PaymentTx,
        payment: &mut Payment,
        held: Option<Lease>,
        gateway_ref: &str,
        status: &GatewayPaymentStatus,
        now: Timestamp,
    ) -> Result<Applied, PaymentError> {
        if held.is_some_and(|lease| lease.is_live(now)) {
            return Ok(Applied::no(
                NoticeOutcome::Deferred,
                "a gateway call about the payment is in flight; its caller records the answer",
            ));
        }
        if matches!(
            payment.pending(),
            Some(Pending::Capture { .. }) | Some(Pending::Void)
        ) {
            return Ok(Applied::no(
                NoticeOutcome::Deferred,
                "a capture or void is pending; the reconciliation job settles it",
            ));
        }
        let from = payment.status();
        // An event that cannot apply (a capture above the authorization, in another currency)
        // is kept as unchanged and logged, not refused: refusing would have Stripe redeliver it
        // for days, and the reconciliation report shows the difference to staff. The payment
        // is not written, so what the failed move changed in memory is dropped.
        let followed = match payment.follow_gateway(gateway_ref, status, now) {
            Ok(followed) => followed,
            Err(err) => {
                tracing::error!(payment_id = %payment.id(), error = %err, "a gateway event that does not fit the payment");
                return Ok(Applied::no(
                    NoticeOutcome::Unchanged,
                    format!("not applied: {err}"),
                ));
            }
        };
        let Some(event) = followed_event(payment, followed, now)? else {
            return Ok(Applied::no(
                NoticeOutcome::Unchanged,
                format!("the payment is {from}: already there or further on"),
            ));
        };
        tx.update_payment(payment, None).await?;
        Ok(Applied {
            outcome: NoticeOutcome::Applied,
            detail: Some(format!("{from} -> {}", payment.status())),
            events: vec![event],
        })
    }

    /// The gateway's refund total: more than kassa knows of (refunds succeeded or still
    /// pending) means a refund was made outside kassa, which is recorded so the books agree.
    async fn refunded_at_gateway(
        &self,
        tx: &mut PaymentTx,
        payment: &Payment,
        total: Money,
        now: Timestamp,
    ) -> Result<Applied, PaymentError> {
        if payment.status() != PaymentStatus::Succeeded || total.currency() != payment.currency() {
            return Ok(Applied::no(
                NoticeOutcome::Unchanged,
                format!("a refund total for a {} payment", payment.status()),
            ));
        }
        let known = payment.refunded().amount_minor();
        let extra = total.amount_minor() - known;
        if extra <= 0 {
            return Ok(Applied::no(
                NoticeOutcome::Unchanged,
                format!(
                    "the gateway's refund total {} is covered by kassa's refunds ({known})",
                    total.amount_minor()
                ),
            ));
        }
        let amount = Money::new(extra, payment.currency());
        let Some(after) = tx.reserve_refund(payment.id(), amount, now).await? else {
            return Ok(Applied::no(
                NoticeOutcome::Unchanged,
                format!(
                    "the gateway's refund total {} passes what kassa captured; reported, not recorded",
                    total.amount_minor()
                ),
            ));
        };
        let refund = Refund {
            id: RefundId::new(),
            payment_id: payment.id(),
            amount,
            status: RefundStatus::Succeeded,
            gateway_ref: None,
            failure: None,
            created_at: now,
            updated_at: now,
        };
        tx.insert_settled_refund(&refund).await?;
        Ok(Applied {
            outcome: NoticeOutcome::Applied,
            detail: Some(format!("a refund of {extra} made at the gateway recorded")),
            events: vec![events::refunded(&after, &refund, after.refunded(), now)],
        })
    }
}
