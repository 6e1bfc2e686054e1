//! Capture and void: taking held funds, or releasing them.

use kassa_kernel::Money;

use super::outcome::CallOutcome;
use super::{Call, Payments};
use crate::events;
use crate::keys::IdempotencyKey;
use crate::model::{Operation, Payment, PaymentAction, PaymentId, PaymentStatus, VoidStep};
use crate::store::Lease;
use crate::PaymentError;

impl Payments {
    pub(super) async fn capture_payment(
        &self,
        id: PaymentId,
        requested: Option<Money>,
    ) -> Result<Payment, PaymentError> {
        let payment = self.settle_pending(id).await?;
        if payment.status() == PaymentStatus::Succeeded {
            // The same capture asked again (a retried saga step) gets the recorded capture.
            let amount = payment.capture_amount(requested)?;
            if amount == payment.captured() {
                return Ok(payment);
            }
            return Err(PaymentError::IllegalTransition {
                payment_id: id,
                status: payment.status(),
                action: PaymentAction::Capture,
            });
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let (mut payment, _) = tx
            .lock_payment(id)
            .await?
            .ok_or(PaymentError::PaymentNotFound(id))?;
        let amount = payment.begin_capture(requested, now)?;
        let lease = self.new_lease(now);
        tx.update_payment(&payment, Some(&lease)).await?;
        tx.commit().await?;
        self.send_capture(&payment, amount, lease).await
    }

    pub(super) async fn send_capture(
        &self,
        payment: &Payment,
        amount: Money,
        lease: Lease,
    ) -> Result<Payment, PaymentError> {
        let id = payment.id();
        let gateway_ref = gateway_ref(payment)?;
        let key = IdempotencyKey::capture(id);
        let outcome = match self
            .bounded(self.gateway.capture(gateway_ref, amount, &key))
            .await
        {
            Ok(()) => CallOutcome::Captured,
            Err(err) => err.into(),
        };
        let call = Call {
            operation: Operation::Capture,
            key,
            amount: Some(amount),
        };
        let recorded = self.record_call(id, lease, call, &outcome).await?;
        Self::call_result(id, outcome, recorded)
    }

    pub(super) async fn void_payment(&self, id: PaymentId) -> Result<Payment, PaymentError> {
        self.settle_pending(id).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let (mut payment, _) = tx
            .lock_payment(id)
            .await?
            .ok_or(PaymentError::PaymentNotFound(id))?;
        match payment.begin_void(now)? {
            VoidStep::AlreadyCanceled => Ok(payment),
            VoidStep::Canceled => {
                tx.update_payment(&payment, None).await?;
                tx.append_events(&[events::voided(&payment, now)]).await?;
                tx.commit().await?;
                Ok(payment)
            }
            VoidStep::CallGateway => {
                let lease = self.new_lease(now);
                tx.update_payment(&payment, Some(&lease)).await?;
                tx.commit().await?;
                self.send_void(&payment, lease).await
            }
        }
    }

    pub(super) async fn send_void(
        &self,
        payment: &Payment,
        lease: Lease,
    ) -> Result<Payment, PaymentError> {
        let id = payment.id();
        let gateway_ref = gateway_ref(payment)?;
        let key = IdempotencyKey::void(id);
        let outcome = match self.bounded(self.gateway.void(gateway_ref, &key)).await {
            Ok(()) => CallOutcome::Voided,
            Err(err) => err.into(),
        };
        let call = Call {
            operation: Operation::Void,
            key,
            amount: None,
        };
        let recorded = self.record_call(id, lease, call, &outcome).await?;
        Self::call_result(id, outcome, recorded)
    }
}

/// The gateway's id of a payment that must have one (every status from `requires_action` on).
pub(super) fn gateway_ref(payment: &Payment) -> Result<&str, PaymentError> {
    payment.gateway_ref().ok_or_else(|| PaymentError::Internal {
        message: format!(
            "payment {} is {} without a gateway reference",
            payment.id(),
            payment.status()
        ),
    })
}
