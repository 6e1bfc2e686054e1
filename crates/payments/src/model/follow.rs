//! Following the gateway: moving a payment to where the gateway says it stands, when kassa
//! learns it from a webhook (`service/webhook.rs`) or a read (the shopper's return from 3-D
//! Secure, `check_action`) rather than from the answer to its own call. Forwards
//! only, so events that arrive late, twice or out of order never move a payment back:
//!
//! | kassa's status | gateway says | becomes |
//! |---|---|---|
//! | `processing`, `requires_action` | authorized | `requires_capture` |
//! | `processing` | requires action | `requires_action` |
//! | `processing`, `requires_action` | declined | `failed` |
//! | `processing`, `requires_action`, `requires_capture` | captured | `succeeded` (captured outside kassa, e.g. in the dashboard) |
//! | `processing`, `requires_action`, `requires_capture` | canceled | `canceled` (canceled outside kassa, or expired) |
//! | anything else | anything | unchanged |
//!
//! The caller only follows a payment that has no operation of kassa's own in flight (the
//! operation's caller, or the reconciliation job, records its answer) — with one exception: an
//! authorization whose outcome is unknown is what a webhook can settle.

use kassa_kernel::{Money, Timestamp};

use super::{Payment, PaymentStatus, Pending};
use crate::gateway::GatewayPaymentStatus;
use crate::PaymentError;

/// What following the gateway changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Followed {
    Unchanged,
    RequiresAction,
    Authorized,
    Declined,
    Captured,
    Canceled,
}

impl Payment {
    /// Applies `status`, which the gateway reported for `gateway_ref`, forwards only (see the
    /// module table). A reference other than the payment's own changes nothing.
    pub fn follow_gateway(
        &mut self,
        gateway_ref: &str,
        status: &GatewayPaymentStatus,
        now: Timestamp,
    ) -> Result<Followed, PaymentError> {
        if self
            .gateway_ref
            .as_deref()
            .is_some_and(|own| own != gateway_ref)
        {
            return Ok(Followed::Unchanged);
        }
        if matches!(
            self.pending,
            Some(Pending::Capture { .. }) | Some(Pending::Void)
        ) {
            return Ok(Followed::Unchanged);
        }
        let open = matches!(
            self.status,
            PaymentStatus::Processing | PaymentStatus::RequiresAction
        );
        let gateway_ref = gateway_ref.to_owned();
        Ok(match status {
            GatewayPaymentStatus::RequiresAction { next_action } => {
                if self.status != PaymentStatus::Processing {
                    return Ok(Followed::Unchanged);
                }
                self.record_action_required(gateway_ref, next_action.clone(), now)?;
                Followed::RequiresAction
            }
            GatewayPaymentStatus::Authorized if open => {
                self.record_authorized(gateway_ref, now)?;
                Followed::Authorized
            }
            GatewayPaymentStatus::Declined(decline) if open => {
                self.record_declined(decline.clone(), now)?;
                Followed::Declined
            }
            GatewayPaymentStatus::Captured { amount } => {
                if open {
                    self.record_authorized(gateway_ref, now)?;
                }
                if self.status != PaymentStatus::RequiresCapture {
                    return Ok(Followed::Unchanged);
                }
                self.record_captured_at_gateway(*amount, now)?;
                Followed::Captured
            }
            GatewayPaymentStatus::Canceled
                if open || self.status == PaymentStatus::RequiresCapture =>
            {
                self.status = PaymentStatus::Canceled;
                self.pending = None;
                self.next_action = None;
                if self.gateway_ref.is_none() {
                    self.gateway_ref = Some(gateway_ref);
                }
                self.updated_at = now;
                Followed::Canceled
            }
            _ => Followed::Unchanged,
        })
    }

    /// A capture made outside kassa: `amount` (at most the authorization) is taken.
    fn record_captured_at_gateway(
        &mut self,
        amount: Money,
        now: Timestamp,
    ) -> Result<(), PaymentError> {
        let amount = self.capture_amount(Some(amount))?;
        self.status = PaymentStatus::Succeeded;
        self.captured = amount;
        self.pending = None;
        self.updated_at = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Decline, NextAction, OrderRef, PaymentId};
    use kassa_kernel::Currency;

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::Eur)
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn processing() -> Payment {
        let mut payment = Payment::new(
            PaymentId::new(),
            OrderRef::parse("ord_1").unwrap(),
            eur(2500),
            "stripe",
            at(1),
        )
        .unwrap();
        payment.begin_authorization(at(2)).unwrap();
        payment
    }

    fn action() -> NextAction {
        NextAction::redirect("https://hooks.stripe.com/3ds")
    }

    fn decline() -> Decline {
        Decline {
            code: "authentication_required".to_owned(),
            message: "3-D Secure failed.".to_owned(),
        }
    }

    fn status_after(steps: &[GatewayPaymentStatus]) -> (PaymentStatus, Vec<Followed>) {
        let mut payment = processing();
        let followed = steps
            .iter()
            .map(|s| payment.follow_gateway("pi_1", s, at(3)).unwrap())
            .collect();
        payment.check_invariants().unwrap();
        (payment.status(), followed)
    }

    #[test]
    fn the_three_d_secure_path_goes_forwards_and_late_events_change_nothing() {
        let requires_action = GatewayPaymentStatus::RequiresAction {
            next_action: action(),
        };
        let (status, followed) = status_after(&[
            requires_action.clone(),
            GatewayPaymentStatus::Authorized,
            requires_action,
            GatewayPaymentStatus::Declined(decline()),
            GatewayPaymentStatus::Authorized,
        ]);
        assert_eq!(status, PaymentStatus::RequiresCapture);
        assert_eq!(
            followed,
            [
                Followed::RequiresAction,
                Followed::Authorized,
                Followed::Unchanged,
                Followed::Unchanged,
                Followed::Unchanged
            ]
        );
    }

    #[test]
    fn a_capture_outside_kassa_is_followed_and_nothing_moves_a_captured_payment_back() {
        let (status, followed) = status_after(&[
            GatewayPaymentStatus::Authorized,
            GatewayPaymentStatus::Captured { amount: eur(1500) },
            GatewayPaymentStatus::Authorized,
            GatewayPaymentStatus::Canceled,
            GatewayPaymentStatus::Captured { amount: eur(2500) },
        ]);
        assert_eq!(status, PaymentStatus::Succeeded);
        assert_eq!(followed[1], Followed::Captured);
        assert!(followed[2..].iter().all(|f| *f == Followed::Unchanged));
    }

    #[test]
    fn a_decline_is_final_and_a_cancel_after_it_changes_nothing() {
        let (status, followed) = status_after(&[
            GatewayPaymentStatus::Declined(decline()),
            GatewayPaymentStatus::Canceled,
            GatewayPaymentStatus::Authorized,
        ]);
        assert_eq!(status, PaymentStatus::Failed);
        assert_eq!(
            followed,
            [Followed::Declined, Followed::Unchanged, Followed::Unchanged]
        );
    }

    #[test]
    fn another_gateway_reference_or_an_operation_in_flight_changes_nothing() {
        let mut payment = processing();
        payment
            .follow_gateway("pi_1", &GatewayPaymentStatus::Authorized, at(3))
            .unwrap();
        let before = payment.clone();
        let captured = GatewayPaymentStatus::Captured { amount: eur(2500) };
        assert_eq!(
            payment.follow_gateway("pi_2", &captured, at(4)).unwrap(),
            Followed::Unchanged
        );
        payment.begin_capture(None, at(5)).unwrap();
        let pending = payment.clone();
        assert_eq!(
            payment.follow_gateway("pi_1", &captured, at(6)).unwrap(),
            Followed::Unchanged
        );
        assert_eq!(payment, pending);
        assert_ne!(before, pending);
    }

    #[test]
    fn an_authorized_payment_canceled_at_the_gateway_is_canceled() {
        let (status, followed) = status_after(&[
            GatewayPaymentStatus::Authorized,
            GatewayPaymentStatus::Canceled,
        ]);
        assert_eq!(status, PaymentStatus::Canceled);
        assert_eq!(followed[1], Followed::Canceled);
    }
}
