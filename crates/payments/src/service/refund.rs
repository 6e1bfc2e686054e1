//! Refunds. The amount is reserved on the payment with one conditional UPDATE before the
//! gateway is called (`refunded = refunded + a WHERE captured - refunded >= a`), in the same
//! transaction that inserts the refund `pending`; a refund the gateway did not perform gives its
//! amount back with another conditional UPDATE. So the sum of succeeded and pending refunds
//! never passes the captured amount, whatever runs concurrently on however many nodes.

use kassa_kernel::Money;

use super::outcome::RefundCallOutcome;
use super::settle::gateway_ref;
use super::{interrupted, Call, Payments};
use crate::events;
use crate::gateway::RefundOutcome;
use crate::keys::IdempotencyKey;
use crate::model::{Operation, PaymentAttempt, PaymentId, Refund, RefundId, RefundStatus};
use crate::store::Lease;
use crate::PaymentError;

impl Payments {
    pub(super) async fn refund_payment(
        &self,
        id: PaymentId,
        amount: Money,
    ) -> Result<Refund, PaymentError> {
        let payment = self.load(id).await?;
        // Precise refusals (currency, amount, status, what is left) from the payment as read;
        // the conditional update below is what holds under concurrency.
        payment.check_refund(amount)?;
        let gateway_ref = gateway_ref(&payment)?.to_owned();
        let now = self.now();
        let refund = Refund {
            id: RefundId::new(),
            payment_id: id,
            amount,
            status: RefundStatus::Pending,
            gateway_ref: None,
            failure: None,
            created_at: now,
            updated_at: now,
        };
        let lease = self.new_lease(now);
        let mut tx = self.store.begin().await?;
        if tx.reserve_refund(id, amount, now).await?.is_none() {
            let current = tx
                .payment(id)
                .await?
                .ok_or(PaymentError::PaymentNotFound(id))?;
            current.check_refund(amount)?;
            return Err(PaymentError::RefundExceedsCaptured {
                payment_id: id,
                requested: amount,
                refundable: current.refundable()?,
            });
        }
        tx.insert_refund(&refund, &lease).await?;
        tx.commit().await?;
        self.send_refund(&gateway_ref, refund, lease).await
    }

    /// Sends a pending refund again with its key, if nobody else is sending it now.
    pub(super) async fn resolve_refund(&self, refund_id: RefundId) -> Result<Refund, PaymentError> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let (refund, held) =
            tx.lock_refund(refund_id)
                .await?
                .ok_or_else(|| PaymentError::Internal {
                    message: format!("refund {refund_id} vanished"),
                })?;
        if refund.status != RefundStatus::Pending {
            return Ok(refund);
        }
        let busy = PaymentError::OutcomeUnknown {
            payment_id: refund.payment_id,
            refund_id: Some(refund_id),
        };
        if let Some(held) = held {
            if held.is_live(now) {
                return Err(busy);
            }
            tx.insert_attempt(&interrupted(
                refund.payment_id,
                Some(refund_id),
                &refund_call(&refund),
                now,
            ))
            .await?;
        }
        let lease = self.new_lease(now);
        tx.update_refund(&refund, Some(&lease)).await?;
        tx.commit().await?;
        let payment = self.load(refund.payment_id).await?;
        self.send_refund(gateway_ref(&payment)?, refund, lease)
            .await
    }

    async fn send_refund(
        &self,
        gateway_ref: &str,
        refund: Refund,
        lease: Lease,
    ) -> Result<Refund, PaymentError> {
        let call = refund_call(&refund);
        let outcome = match self
            .bounded(self.gateway.refund(gateway_ref, refund.amount, &call.key))
            .await
        {
            Ok(RefundOutcome::Succeeded { refund_ref }) => {
                RefundCallOutcome::Succeeded { refund_ref }
            }
            Ok(RefundOutcome::Failed(reason)) => RefundCallOutcome::Refused(reason),
            Err(err) => err.into(),
        };
        let (refund, applied) = self
            .record_refund_call(refund, lease, call, &outcome)
            .await?;
        let (payment_id, refund_id) = (refund.payment_id, refund.id);
        let unknown = PaymentError::OutcomeUnknown {
            payment_id,
            refund_id: Some(refund_id),
        };
        if !applied {
            return Err(unknown);
        }
        match outcome {
            RefundCallOutcome::Succeeded { .. } => Ok(refund),
            RefundCallOutcome::Refused(reason) => {
                tracing::info!(%payment_id, %refund_id, code = %reason.code, "refund refused");
                Err(PaymentError::RefundFailed {
                    payment_id,
                    refund_id,
                    reason,
                })
            }
            RefundCallOutcome::Unknown(err) => {
                tracing::warn!(%payment_id, %refund_id, error = %err, "refund outcome unknown");
                Err(unknown)
            }
            RefundCallOutcome::NotPerformed(err) => {
                tracing::warn!(%payment_id, %refund_id, error = %err, "gateway did not refund");
                Err(PaymentError::from_gateway(payment_id, err))
            }
        }
    }

    /// Records a refund's answer with its attempt and events in one transaction, if `lease` is
    /// still the refund's. Success marks it succeeded; a refusal, or "not performed" when no
    /// earlier call with its key was unknown, marks it failed and gives its amount back; an
    /// unknown outcome leaves it pending and reserved.
    async fn record_refund_call(
        &self,
        refund: Refund,
        lease: Lease,
        call: Call,
        outcome: &RefundCallOutcome,
    ) -> Result<(Refund, bool), PaymentError> {
        let now = self.now();
        let payment_id = refund.payment_id;
        let mut tx = self.store.begin().await?;
        let (mut current, held) =
            tx.lock_refund(refund.id)
                .await?
                .ok_or_else(|| PaymentError::Internal {
                    message: format!("refund {} vanished", refund.id),
                })?;
        let ours = held.map(|h| h.id) == Some(lease.id);
        let mut recorded_events = Vec::new();
        if ours {
            let failure = match outcome {
                RefundCallOutcome::Succeeded { .. } | RefundCallOutcome::Unknown(_) => None,
                RefundCallOutcome::Refused(reason) => Some(reason.clone()),
                RefundCallOutcome::NotPerformed(err) => {
                    if tx.had_unknown_outcome(&call.key).await? {
                        None
                    } else {
                        Some(crate::model::Decline {
                            code: "not_performed".to_owned(),
                            message: format!(
                                "The gateway did not perform the refund ({}).",
                                err.kind
                            ),
                        })
                    }
                }
            };
            current.updated_at = now;
            if let RefundCallOutcome::Succeeded { refund_ref } = outcome {
                current.status = RefundStatus::Succeeded;
                current.gateway_ref = Some(refund_ref.clone());
                let payment = tx
                    .payment(payment_id)
                    .await?
                    .ok_or(PaymentError::PaymentNotFound(payment_id))?;
                recorded_events.push(events::refunded(
                    &payment,
                    &current,
                    payment.refunded(),
                    now,
                ));
            } else if let Some(failure) = failure {
                current.status = RefundStatus::Failed;
                let payment = tx
                    .release_refund(payment_id, current.amount, now)
                    .await?
                    .ok_or_else(|| PaymentError::Internal {
                        message: format!("refund {}: its reservation is missing", current.id),
                    })?;
                recorded_events.push(events::failed(
                    &payment,
                    Operation::Refund,
                    Some(&current),
                    &failure.code,
                    now,
                ));
                current.failure = Some(failure);
            }
            tx.update_refund(&current, None).await?;
        }
        let (result, detail) = outcome.attempt();
        tx.insert_attempt(&PaymentAttempt {
            id: lease.id,
            payment_id,
            refund_id: Some(current.id),
            operation: Operation::Refund,
            idempotency_key: call.key,
            amount: call.amount,
            outcome: result,
            detail,
            at: now,
        })
        .await?;
        tx.append_events(&recorded_events).await?;
        tx.commit().await?;
        Ok((current, ours))
    }
}

fn refund_call(refund: &Refund) -> Call {
    Call {
        operation: Operation::Refund,
        key: IdempotencyKey::refund(refund.id),
        amount: Some(refund.amount),
    }
}
