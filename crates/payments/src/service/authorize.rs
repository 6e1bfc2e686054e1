//! Authorization: one payment per order, one authorization key per payment, and 3-D Secure.

use kassa_kernel::Money;

use super::outcome::{followed_event, CallOutcome};
use super::{declined, Call, Claim, Payments, ROUNDS_MAX};
use crate::gateway::AuthorizeRequest;
use crate::keys::IdempotencyKey;
use crate::model::{
    Operation, OrderRef, Payment, PaymentAction, PaymentId, PaymentMethodToken, PaymentStatus,
};
use crate::store::Lease;
use crate::PaymentError;

impl Payments {
    pub(super) async fn authorize_order(
        &self,
        order_ref: OrderRef,
        amount: Money,
        payment_method: PaymentMethodToken,
    ) -> Result<Payment, PaymentError> {
        if amount.amount_minor() <= 0 {
            return Err(PaymentError::InvalidPaymentAmount { amount });
        }
        if let Some(existing) = self.store.payment_for_order(&order_ref).await? {
            return self.continue_authorization(existing, amount).await;
        }
        let now = self.now();
        let mut payment = Payment::new(
            PaymentId::new(),
            order_ref.clone(),
            amount,
            self.gateway.name(),
            now,
        )?;
        payment.begin_authorization(now)?;
        let lease = self.new_lease(now);
        let mut tx = self.store.begin().await?;
        if tx.insert_payment(&payment, &payment_method, &lease).await? {
            tx.commit().await?;
            tracing::info!(payment_id = %payment.id(), "payment created");
            return self.send_authorize(&payment, lease).await;
        }
        // Another call for the same order inserted its payment first: continue that one.
        drop(tx);
        let existing = self
            .store
            .payment_for_order(&order_ref)
            .await?
            .ok_or_else(|| PaymentError::Internal {
                message: format!("order {order_ref}: payment refused as a duplicate, then absent"),
            })?;
        self.continue_authorization(existing, amount).await
    }

    /// Continues the existing payment of an order: settles an authorization in flight, sends
    /// one that was not performed again, or reports where the payment already is.
    async fn continue_authorization(
        &self,
        mut payment: Payment,
        amount: Money,
    ) -> Result<Payment, PaymentError> {
        self.check_gateway(&payment)?;
        if payment.amount() != amount {
            return Err(PaymentError::AmountMismatch {
                order_ref: payment.order_ref().clone(),
                payment_id: payment.id(),
                existing: payment.amount(),
                requested: amount,
            });
        }
        let id = payment.id();
        for _ in 0..ROUNDS_MAX {
            match payment.status() {
                PaymentStatus::Processing => match self.claim_pending(id).await? {
                    Claim::Busy => break,
                    Claim::Settled(now) => payment = now,
                    Claim::Claimed(claimed, lease) => {
                        return self.send_authorize(&claimed, lease).await
                    }
                },
                PaymentStatus::RequiresPaymentMethod => match self.claim_authorization(id).await? {
                    Ok((claimed, lease)) => return self.send_authorize(&claimed, lease).await,
                    Err(now) => payment = now,
                },
                PaymentStatus::Failed => return Err(declined(&payment)),
                PaymentStatus::Canceled => {
                    return Err(PaymentError::IllegalTransition {
                        payment_id: id,
                        status: payment.status(),
                        action: PaymentAction::Authorize,
                    })
                }
                PaymentStatus::RequiresAction
                | PaymentStatus::RequiresCapture
                | PaymentStatus::Succeeded => return Ok(payment),
            }
        }
        Err(PaymentError::OutcomeUnknown {
            payment_id: id,
            refund_id: None,
        })
    }

    /// `requires_payment_method → processing` under the row lock, with a lease. `Err(payment)`
    /// when the payment is no longer waiting for an authorization.
    async fn claim_authorization(
        &self,
        id: PaymentId,
    ) -> Result<Result<(Payment, Lease), Payment>, PaymentError> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let (mut payment, _) = tx
            .lock_payment(id)
            .await?
            .ok_or(PaymentError::PaymentNotFound(id))?;
        if payment.status() != PaymentStatus::RequiresPaymentMethod {
            return Ok(Err(payment));
        }
        payment.begin_authorization(now)?;
        let lease = self.new_lease(now);
        tx.update_payment(&payment, Some(&lease)).await?;
        tx.commit().await?;
        Ok(Ok((payment, lease)))
    }

    /// Sends the payment's authorization with its one key and the payment method it was
    /// created with, then records the answer.
    pub(super) async fn send_authorize(
        &self,
        payment: &Payment,
        lease: Lease,
    ) -> Result<Payment, PaymentError> {
        let id = payment.id();
        let payment_method =
            self.store
                .payment_method_token(id)
                .await?
                .ok_or_else(|| PaymentError::Internal {
                    message: format!(
                        "payment {id} is {} but keeps no payment method",
                        payment.status()
                    ),
                })?;
        let request = AuthorizeRequest {
            amount: payment.amount(),
            payment_method,
            idempotency_key: IdempotencyKey::authorize(id),
            order_ref: payment.order_ref().clone(),
            return_url: self
                .return_url
                .as_ref()
                .map(|url| url.replace("{order_id}", payment.order_ref().as_str())),
        };
        let outcome: CallOutcome = match self.bounded(self.gateway.authorize(&request)).await {
            Ok(answer) => answer.into(),
            Err(err) => err.into(),
        };
        if let CallOutcome::Declined(decline) = &outcome {
            tracing::info!(payment_id = %id, code = %decline.code, "authorization declined");
        }
        let call = Call {
            operation: Operation::Authorize,
            key: request.idempotency_key,
            amount: Some(request.amount),
        };
        let recorded = self.record_call(id, lease, call, &outcome).await?;
        Self::call_result(id, outcome, recorded)
    }

    /// Asks the gateway how the 3-D Secure challenge of a `requires_action` payment ended and
    /// records it. A read at the gateway, so no attempt is recorded; the event is.
    pub(super) async fn check_action(&self, payment: Payment) -> Result<Payment, PaymentError> {
        let id = payment.id();
        let gateway_ref = payment
            .gateway_ref()
            .ok_or_else(|| PaymentError::Internal {
                message: format!("payment {id} requires action without a gateway reference"),
            })?
            .to_owned();
        let status = self
            .bounded(self.gateway.retrieve(&gateway_ref))
            .await
            .map_err(|err| {
                if err.outcome_unknown() {
                    PaymentError::OutcomeUnknown {
                        payment_id: id,
                        refund_id: None,
                    }
                } else {
                    PaymentError::from_gateway(id, err)
                }
            })?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let (mut payment, _) = tx
            .lock_payment(id)
            .await?
            .ok_or(PaymentError::PaymentNotFound(id))?;
        if payment.status() != PaymentStatus::RequiresAction || payment.pending().is_some() {
            // Recorded meanwhile by another caller, or a void is on its way.
            return match payment.status() {
                PaymentStatus::Failed => Err(declined(&payment)),
                _ => Ok(payment),
            };
        }
        // The same forwards-only rules as the gateway's webhooks: passed, failed, or (rarely)
        // captured or canceled at the gateway meanwhile; still waiting changes nothing.
        let followed = payment.follow_gateway(&gateway_ref, &status, now)?;
        let Some(event) = followed_event(&payment, followed, now)? else {
            return Ok(payment);
        };
        tx.update_payment(&payment, None).await?;
        tx.append_events(&[event]).await?;
        tx.commit().await?;
        match payment.status() {
            PaymentStatus::Failed => Err(declined(&payment)),
            _ => Ok(payment),
        }
    }
}
