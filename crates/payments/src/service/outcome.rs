//! What one gateway call answered, in the terms the state machine needs, and how it changes a
//! payment. Pure: the service applies it under the payment's row lock and writes the result,
//! the attempt and the events in one transaction.

use kassa_events::NewEvent;
use kassa_kernel::Timestamp;

use crate::events;
use crate::gateway::{AuthorizeOutcome, GatewayError};
use crate::model::{AttemptOutcome, Decline, Followed, NextAction, Payment};
use crate::PaymentError;

/// The answer to a call about a payment's pending operation (authorize, capture, void).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallOutcome {
    Authorized {
        gateway_ref: String,
    },
    RequiresAction {
        gateway_ref: String,
        next_action: NextAction,
    },
    Declined(Decline),
    Captured,
    Voided,
    /// No answer: the operation may have happened.
    Unknown(GatewayError),
    /// The gateway answered that it did not perform this call.
    NotPerformed(GatewayError),
}

/// The answer to a refund call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RefundCallOutcome {
    Succeeded { refund_ref: String },
    Refused(Decline),
    Unknown(GatewayError),
    NotPerformed(GatewayError),
}

impl From<AuthorizeOutcome> for CallOutcome {
    fn from(outcome: AuthorizeOutcome) -> Self {
        match outcome {
            AuthorizeOutcome::Authorized { gateway_ref } => CallOutcome::Authorized { gateway_ref },
            AuthorizeOutcome::RequiresAction {
                gateway_ref,
                next_action,
            } => CallOutcome::RequiresAction {
                gateway_ref,
                next_action,
            },
            AuthorizeOutcome::Declined(decline) => CallOutcome::Declined(decline),
        }
    }
}

impl From<GatewayError> for CallOutcome {
    fn from(err: GatewayError) -> Self {
        if err.outcome_unknown() {
            CallOutcome::Unknown(err)
        } else {
            CallOutcome::NotPerformed(err)
        }
    }
}

impl From<GatewayError> for RefundCallOutcome {
    fn from(err: GatewayError) -> Self {
        if err.outcome_unknown() {
            RefundCallOutcome::Unknown(err)
        } else {
            RefundCallOutcome::NotPerformed(err)
        }
    }
}

impl CallOutcome {
    /// The attempt's outcome and detail (a decline code or the gateway error; never a token).
    pub(crate) fn attempt(&self) -> (AttemptOutcome, Option<String>) {
        match self {
            CallOutcome::Authorized { .. } | CallOutcome::Captured | CallOutcome::Voided => {
                (AttemptOutcome::Succeeded, None)
            }
            CallOutcome::RequiresAction { .. } => (AttemptOutcome::RequiresAction, None),
            CallOutcome::Declined(decline) => {
                (AttemptOutcome::Declined, Some(decline.code.clone()))
            }
            CallOutcome::Unknown(err) => (AttemptOutcome::Unknown, Some(err.to_string())),
            CallOutcome::NotPerformed(err) => (AttemptOutcome::Failed, Some(err.to_string())),
        }
    }
}

impl RefundCallOutcome {
    pub(crate) fn attempt(&self) -> (AttemptOutcome, Option<String>) {
        match self {
            RefundCallOutcome::Succeeded { .. } => (AttemptOutcome::Succeeded, None),
            RefundCallOutcome::Refused(reason) => {
                (AttemptOutcome::Declined, Some(reason.code.clone()))
            }
            RefundCallOutcome::Unknown(err) => (AttemptOutcome::Unknown, Some(err.to_string())),
            RefundCallOutcome::NotPerformed(err) => (AttemptOutcome::Failed, Some(err.to_string())),
        }
    }
}

/// Applies the answer to the payment's pending operation and returns the events of the change.
///
/// An unknown outcome changes nothing: the operation stays pending for `resolve`. A "not
/// performed" answer settles the operation as not done — unless an earlier call with the same
/// key had an unknown outcome (`had_unknown`): that earlier call may have been performed, and
/// this answer is only about the later one, so the operation stays pending until a definite
/// answer comes.
pub(crate) fn apply(
    payment: &mut Payment,
    outcome: &CallOutcome,
    had_unknown: bool,
    now: Timestamp,
) -> Result<Vec<NewEvent>, PaymentError> {
    let operation = payment.pending().map(|p| p.operation());
    Ok(match outcome {
        CallOutcome::Authorized { gateway_ref } => {
            payment.record_authorized(gateway_ref.clone(), now)?;
            vec![events::authorized(payment, now)]
        }
        CallOutcome::RequiresAction {
            gateway_ref,
            next_action,
        } => {
            payment.record_action_required(gateway_ref.clone(), next_action.clone(), now)?;
            vec![events::requires_action(payment, now)]
        }
        CallOutcome::Declined(decline) => {
            payment.record_declined(decline.clone(), now)?;
            vec![events::declined(payment, decline, now)]
        }
        CallOutcome::Captured => {
            payment.record_captured(now)?;
            vec![events::captured(payment, now)]
        }
        CallOutcome::Voided => {
            payment.record_voided(now)?;
            vec![events::voided(payment, now)]
        }
        CallOutcome::Unknown(_) => Vec::new(),
        CallOutcome::NotPerformed(_) if had_unknown => Vec::new(),
        CallOutcome::NotPerformed(err) => {
            payment.record_not_performed(now)?;
            match operation {
                Some(operation) => vec![events::failed(
                    payment,
                    operation,
                    None,
                    &err.kind.to_string(),
                    now,
                )],
                None => Vec::new(),
            }
        }
    })
}

/// The event of a change [`Payment::follow_gateway`] made; `None` when it changed nothing.
pub(crate) fn followed_event(
    payment: &Payment,
    followed: Followed,
    now: Timestamp,
) -> Result<Option<NewEvent>, PaymentError> {
    Ok(Some(match followed {
        Followed::Unchanged => return Ok(None),
        Followed::RequiresAction => events::requires_action(payment, now),
        Followed::Authorized => events::authorized(payment, now),
        Followed::Declined => match payment.decline() {
            Some(decline) => events::declined(payment, decline, now),
            None => {
                return Err(PaymentError::Internal {
                    message: format!("payment {} failed without a decline", payment.id()),
                })
            }
        },
        Followed::Captured => events::captured(payment, now),
        Followed::Canceled => events::voided(payment, now),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{OrderRef, PaymentId, PaymentStatus, Pending};
    use kassa_kernel::{Currency, Money};

    fn processing() -> Payment {
        let now = Timestamp::from_millis(1);
        let mut payment = Payment::new(
            PaymentId::new(),
            OrderRef::parse("ord_1").unwrap(),
            Money::new(1000, Currency::Eur),
            "sandbox",
            now,
        )
        .unwrap();
        payment.begin_authorization(now).unwrap();
        payment
    }

    fn types(events: &[NewEvent]) -> Vec<&'static str> {
        events.iter().map(|e| e.event_type).collect()
    }

    #[test]
    fn an_authorization_moves_to_requires_capture_with_its_event() {
        let mut payment = processing();
        let outcome = CallOutcome::Authorized {
            gateway_ref: "g1".into(),
        };
        let events = apply(&mut payment, &outcome, false, Timestamp::from_millis(2)).unwrap();
        assert_eq!(payment.status(), PaymentStatus::RequiresCapture);
        assert_eq!(types(&events), ["payment.authorized"]);
        assert_eq!(outcome.attempt().0, AttemptOutcome::Succeeded);
    }

    #[test]
    fn an_unknown_outcome_changes_nothing() {
        let mut payment = processing();
        let before = payment.clone();
        let outcome = CallOutcome::from(GatewayError::timeout("t"));
        let events = apply(&mut payment, &outcome, false, Timestamp::from_millis(2)).unwrap();
        assert_eq!(payment, before);
        assert!(events.is_empty());
        assert_eq!(outcome.attempt().0, AttemptOutcome::Unknown);
    }

    #[test]
    fn not_performed_settles_only_when_no_earlier_call_was_unknown() {
        let outcome = CallOutcome::from(GatewayError::unavailable("503"));
        let mut payment = processing();
        let events = apply(&mut payment, &outcome, false, Timestamp::from_millis(2)).unwrap();
        assert_eq!(payment.status(), PaymentStatus::RequiresPaymentMethod);
        assert_eq!(types(&events), ["payment.failed"]);
        assert_eq!(events[0].data["operation"], "authorize");

        let mut payment = processing();
        let events = apply(&mut payment, &outcome, true, Timestamp::from_millis(2)).unwrap();
        assert_eq!(payment.status(), PaymentStatus::Processing);
        assert_eq!(payment.pending(), Some(Pending::Authorize));
        assert!(events.is_empty());
    }

    #[test]
    fn a_decline_records_its_code() {
        let mut payment = processing();
        let decline = Decline {
            code: "insufficient_funds".into(),
            message: "m".into(),
        };
        let outcome = CallOutcome::Declined(decline.clone());
        let events = apply(&mut payment, &outcome, false, Timestamp::from_millis(2)).unwrap();
        assert_eq!(payment.decline(), Some(&decline));
        assert_eq!(types(&events), ["payment.declined"]);
        assert_eq!(
            outcome.attempt(),
            (AttemptOutcome::Declined, Some("insufficient_funds".into()))
        );
    }

    #[test]
    fn an_outcome_that_does_not_fit_is_refused() {
        let mut payment = processing();
        assert!(apply(
            &mut payment,
            &CallOutcome::Captured,
            false,
            Timestamp::from_millis(2)
        )
        .is_err());
    }
}
