//! The sandbox's books: what it answered per idempotency key, and the state of every payment it
//! holds. Plain synchronous code behind one mutex in `mod.rs`, so every call is atomic against
//! every other.

use std::collections::HashMap;

use kassa_kernel::Money;

use super::{SandboxError, SandboxFault, SandboxPayment, SandboxStatus, TOKENS};
use crate::gateway::{
    AuthorizeOutcome, GatewayError, GatewayPaymentStatus, GatewayPaymentView, RefundOutcome,
};
use crate::model::{Decline, NextAction, Operation, PaymentMethodToken, PaymentStatus};

/// Path of the challenge page of a payment awaiting 3-D Secure; the HTTP route serving it is
/// the api crate's.
pub const CHALLENGE_PATH: &str = "/v1/sandbox/challenges/";

/// A request as the idempotency layer compares it: the same key with a different request is
/// refused, as Stripe refuses it (`idempotency_error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Request {
    Authorize {
        amount: Money,
        /// Redacted by `Debug`.
        payment_method: PaymentMethodToken,
        order_ref: String,
    },
    Capture {
        gateway_ref: String,
        amount: Money,
    },
    Void {
        gateway_ref: String,
    },
    Refund {
        gateway_ref: String,
        amount: Money,
    },
}

impl Request {
    fn operation(&self) -> Operation {
        match self {
            Request::Authorize { .. } => Operation::Authorize,
            Request::Capture { .. } => Operation::Capture,
            Request::Void { .. } => Operation::Void,
            Request::Refund { .. } => Operation::Refund,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reply {
    Authorize(AuthorizeOutcome),
    Capture,
    Void,
    Refund(RefundOutcome),
}

/// The first answer to a key. Only answers are kept: a request that failed with an error
/// (unavailable, invalid) left nothing behind and may be sent again with the same key.
#[derive(Debug)]
struct Answer {
    request: Request,
    reply: Reply,
}

#[derive(Debug, Default)]
pub(super) struct Ledger {
    answers: HashMap<String, Answer>,
    payments: HashMap<String, SandboxPayment>,
    /// One-shot faults for tests: an outage hits the next call of its operation; a timeout or a
    /// refusal the next new request (a repeated key gets its first answer).
    faults: Vec<(Operation, SandboxFault)>,
    /// Calls received per operation, replays included.
    calls: HashMap<Operation, usize>,
    next_payment: u64,
    next_refund: u64,
}

impl Ledger {
    /// Answers `request` sent with `key`: the first answer again for a repeated key, otherwise
    /// performs it (unless a fault or token says otherwise) and records the answer.
    pub(super) fn call(&mut self, key: &str, request: Request) -> Result<Reply, GatewayError> {
        let operation = request.operation();
        *self.calls.entry(operation).or_default() += 1;
        // An outage answers before the idempotency layer is reached, repeated key or not.
        if self.take_fault_if(operation, SandboxFault::Unavailable) {
            return Err(GatewayError::unavailable(
                "sandbox: 503 (injected), nothing recorded",
            ));
        }
        if let Some(answer) = self.answers.get(key) {
            return if answer.request == request {
                Ok(answer.reply.clone())
            } else {
                Err(GatewayError::invalid(format!(
                    "sandbox: idempotency key {key} was used before with other parameters"
                )))
            };
        }
        let fault = self.take_fault(operation);
        let times_out = match (&fault, &request) {
            (Some(SandboxFault::Timeout), _) => true,
            (
                None,
                Request::Authorize {
                    payment_method: token,
                    ..
                },
            ) => token.expose() == TOKENS.timeout,
            _ => false,
        };
        let reply = match fault {
            Some(SandboxFault::Refuse) => self.refuse(&request)?,
            Some(SandboxFault::Timeout | SandboxFault::Unavailable) | None => {
                self.perform(&request)?
            }
        };
        self.answers.insert(
            key.to_owned(),
            Answer {
                request,
                reply: reply.clone(),
            },
        );
        if times_out {
            return Err(GatewayError::timeout(
                "sandbox: the request was performed but no answer is sent",
            ));
        }
        Ok(reply)
    }

    /// The next injected timeout or refusal of `operation` (outages are taken earlier).
    fn take_fault(&mut self, operation: Operation) -> Option<SandboxFault> {
        let index = self
            .faults
            .iter()
            .position(|(op, fault)| *op == operation && *fault != SandboxFault::Unavailable)?;
        Some(self.faults.remove(index).1)
    }

    fn take_fault_if(&mut self, operation: Operation, fault: SandboxFault) -> bool {
        match self.faults.iter().position(|f| *f == (operation, fault)) {
            Some(index) => {
                self.faults.remove(index);
                true
            }
            None => false,
        }
    }

    pub(super) fn inject(&mut self, operation: Operation, fault: SandboxFault) {
        self.faults.push((operation, fault));
    }

    pub(super) fn calls(&self, operation: Operation) -> usize {
        self.calls.get(&operation).copied().unwrap_or(0)
    }

    /// A refusal: a refund refused by the gateway is an outcome (recorded); any other
    /// operation refused is an invalid request (not recorded).
    fn refuse(&mut self, request: &Request) -> Result<Reply, GatewayError> {
        match request {
            Request::Refund { .. } => Ok(Reply::Refund(RefundOutcome::Failed(Decline {
                code: "refund_refused".into(),
                message: "The sandbox refused this refund.".into(),
            }))),
            _ => Err(GatewayError::invalid("sandbox: request refused (injected)")),
        }
    }

    fn perform(&mut self, request: &Request) -> Result<Reply, GatewayError> {
        match request {
            Request::Authorize {
                amount,
                payment_method,
                order_ref,
            } => self.authorize(*amount, payment_method, order_ref),
            Request::Capture {
                gateway_ref,
                amount,
            } => self.capture(gateway_ref, *amount),
            Request::Void { gateway_ref } => self.void(gateway_ref),
            Request::Refund {
                gateway_ref,
                amount,
            } => self.refund(gateway_ref, *amount),
        }
    }

    fn authorize(
        &mut self,
        amount: Money,
        token: &PaymentMethodToken,
        order_ref: &str,
    ) -> Result<Reply, GatewayError> {
        if amount.amount_minor() <= 0 {
            return Err(GatewayError::invalid("sandbox: amount must be above zero"));
        }
        let token = token.expose();
        let outcome = if token == TOKENS.success || token == TOKENS.timeout {
            let gateway_ref = self.open(order_ref, amount, SandboxStatus::Authorized);
            AuthorizeOutcome::Authorized { gateway_ref }
        } else if token == TOKENS.three_d_secure {
            let gateway_ref = self.open(order_ref, amount, SandboxStatus::RequiresAction);
            AuthorizeOutcome::RequiresAction {
                next_action: challenge(&gateway_ref),
                gateway_ref,
            }
        } else if token == TOKENS.unavailable {
            return Err(GatewayError::unavailable(
                "sandbox: 503 for pm_sandbox_5xx, nothing recorded",
            ));
        } else if token == TOKENS.decline {
            AuthorizeOutcome::Declined(decline("generic_decline", "The card was declined."))
        } else if token == TOKENS.insufficient_funds {
            AuthorizeOutcome::Declined(decline(
                "insufficient_funds",
                "The card has insufficient funds.",
            ))
        } else {
            AuthorizeOutcome::Declined(decline(
                "unknown_payment_method",
                "Not a sandbox payment method token; use one of the pm_sandbox_… tokens.",
            ))
        };
        Ok(Reply::Authorize(outcome))
    }

    fn open(&mut self, order_ref: &str, amount: Money, status: SandboxStatus) -> String {
        self.next_payment += 1;
        let gateway_ref = format!("sbx_pi_{:06}", self.next_payment);
        let zero = Money::zero(amount.currency());
        self.payments.insert(
            gateway_ref.clone(),
            SandboxPayment {
                gateway_ref: gateway_ref.clone(),
                order_ref: order_ref.to_owned(),
                amount,
                status,
                captured: zero,
                refunded: zero,
                ever_authorized: status == SandboxStatus::Authorized,
                decline: None,
            },
        );
        gateway_ref
    }

    fn payment_mut(&mut self, gateway_ref: &str) -> Result<&mut SandboxPayment, GatewayError> {
        self.payments
            .get_mut(gateway_ref)
            .ok_or_else(|| GatewayError::invalid(format!("sandbox: no payment {gateway_ref}")))
    }

    fn capture(&mut self, gateway_ref: &str, amount: Money) -> Result<Reply, GatewayError> {
        let payment = self.payment_mut(gateway_ref)?;
        if payment.status != SandboxStatus::Authorized {
            return Err(unexpected_state(payment, "captured"));
        }
        let fits = amount.currency() == payment.amount.currency()
            && amount.amount_minor() > 0
            && amount.amount_minor() <= payment.amount.amount_minor();
        if !fits {
            return Err(GatewayError::invalid(format!(
                "sandbox: cannot capture {amount} of an authorization of {}",
                payment.amount
            )));
        }
        payment.status = SandboxStatus::Captured;
        payment.captured = amount;
        Ok(Reply::Capture)
    }

    fn void(&mut self, gateway_ref: &str) -> Result<Reply, GatewayError> {
        let payment = self.payment_mut(gateway_ref)?;
        if !matches!(
            payment.status,
            SandboxStatus::Authorized | SandboxStatus::RequiresAction
        ) {
            return Err(unexpected_state(payment, "voided"));
        }
        payment.status = SandboxStatus::Voided;
        Ok(Reply::Void)
    }

    fn refund(&mut self, gateway_ref: &str, amount: Money) -> Result<Reply, GatewayError> {
        let payment = self.payment_mut(gateway_ref)?;
        if payment.status != SandboxStatus::Captured {
            return Err(unexpected_state(payment, "refunded"));
        }
        let left = payment.captured.amount_minor() - payment.refunded.amount_minor();
        let fits = amount.currency() == payment.amount.currency()
            && amount.amount_minor() > 0
            && amount.amount_minor() <= left;
        if !fits {
            return Err(GatewayError::invalid(format!(
                "sandbox: cannot refund {amount}; {left} minor units are left to refund"
            )));
        }
        payment.refunded = Money::new(
            payment.refunded.amount_minor() + amount.amount_minor(),
            amount.currency(),
        );
        self.next_refund += 1;
        Ok(Reply::Refund(RefundOutcome::Succeeded {
            refund_ref: format!("sbx_re_{:06}", self.next_refund),
        }))
    }

    pub(super) fn retrieve(&self, gateway_ref: &str) -> Result<GatewayPaymentStatus, GatewayError> {
        let payment = self
            .payments
            .get(gateway_ref)
            .ok_or_else(|| GatewayError::invalid(format!("sandbox: no payment {gateway_ref}")))?;
        Ok(match payment.status {
            SandboxStatus::RequiresAction => GatewayPaymentStatus::RequiresAction {
                next_action: challenge(gateway_ref),
            },
            SandboxStatus::Authorized => GatewayPaymentStatus::Authorized,
            SandboxStatus::Declined => GatewayPaymentStatus::Declined(
                payment
                    .decline
                    .clone()
                    .unwrap_or_else(|| decline("generic_decline", "The card was declined.")),
            ),
            SandboxStatus::Captured => GatewayPaymentStatus::Captured {
                amount: payment.captured,
            },
            SandboxStatus::Voided => GatewayPaymentStatus::Canceled,
        })
    }

    /// The payment as the sandbox's books show it, with Stripe's status names.
    pub(super) fn inspect(&self, gateway_ref: &str) -> Result<GatewayPaymentView, GatewayError> {
        let payment = self
            .payments
            .get(gateway_ref)
            .ok_or_else(|| GatewayError::invalid(format!("sandbox: no payment {gateway_ref}")))?;
        let (status, mapped) = match payment.status {
            SandboxStatus::RequiresAction => ("requires_action", PaymentStatus::RequiresAction),
            SandboxStatus::Authorized => ("requires_capture", PaymentStatus::RequiresCapture),
            SandboxStatus::Declined => ("requires_payment_method", PaymentStatus::Failed),
            SandboxStatus::Captured => ("succeeded", PaymentStatus::Succeeded),
            SandboxStatus::Voided => ("canceled", PaymentStatus::Canceled),
        };
        Ok(GatewayPaymentView {
            gateway_ref: gateway_ref.to_owned(),
            status: status.to_owned(),
            mapped: Some(mapped),
            amount: payment.amount,
            captured: payment.captured,
            refunded: payment.refunded,
        })
    }

    pub(super) fn complete_challenge(
        &mut self,
        gateway_ref: &str,
        succeed: bool,
    ) -> Result<SandboxPayment, SandboxError> {
        let payment = self
            .payments
            .get_mut(gateway_ref)
            .ok_or_else(|| SandboxError::UnknownPayment(gateway_ref.to_owned()))?;
        match (payment.status, succeed) {
            (SandboxStatus::RequiresAction, true) => {
                payment.status = SandboxStatus::Authorized;
                payment.ever_authorized = true;
            }
            (SandboxStatus::RequiresAction, false) => {
                payment.status = SandboxStatus::Declined;
                payment.decline = Some(decline(
                    "authentication_failed",
                    "The shopper did not pass 3-D Secure.",
                ));
            }
            // Completing the same way twice (a double click on the challenge page) is harmless.
            (SandboxStatus::Authorized | SandboxStatus::Captured, true)
            | (SandboxStatus::Declined, false) => {}
            _ => return Err(SandboxError::ChallengeClosed(gateway_ref.to_owned())),
        }
        Ok(payment.clone())
    }

    pub(super) fn payment(&self, gateway_ref: &str) -> Option<SandboxPayment> {
        self.payments.get(gateway_ref).cloned()
    }

    /// The payments of `order_ref`, in the order they were opened.
    pub(super) fn payments_for(&self, order_ref: &str) -> Vec<SandboxPayment> {
        let mut found: Vec<SandboxPayment> = self
            .payments
            .values()
            .filter(|p| p.order_ref == order_ref)
            .cloned()
            .collect();
        found.sort_by(|a, b| a.gateway_ref.cmp(&b.gateway_ref));
        found
    }
}

fn challenge(gateway_ref: &str) -> NextAction {
    NextAction::redirect(format!("{CHALLENGE_PATH}{gateway_ref}"))
}

fn decline(code: &str, message: &str) -> Decline {
    Decline {
        code: code.to_owned(),
        message: message.to_owned(),
    }
}

fn unexpected_state(payment: &SandboxPayment, verb: &str) -> GatewayError {
    GatewayError::invalid(format!(
        "sandbox: payment {} is {:?} and cannot be {verb}",
        payment.gateway_ref, payment.status
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kassa_kernel::Currency;

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::Eur)
    }

    fn authorize(token: &str) -> Request {
        Request::Authorize {
            amount: eur(1000),
            payment_method: PaymentMethodToken::parse(token).unwrap(),
            order_ref: "ord_1".into(),
        }
    }

    fn authorized_ref(reply: Reply) -> String {
        match reply {
            Reply::Authorize(AuthorizeOutcome::Authorized { gateway_ref }) => gateway_ref,
            other => panic!("not authorized: {other:?}"),
        }
    }

    #[test]
    fn a_repeated_key_gets_the_first_answer_and_authorizes_once() {
        let mut ledger = Ledger::default();
        let first = ledger.call("k1", authorize(TOKENS.success)).unwrap();
        let again = ledger.call("k1", authorize(TOKENS.success)).unwrap();
        assert_eq!(first, again);
        assert_eq!(ledger.payments_for("ord_1").len(), 1);
        assert_eq!(ledger.calls(Operation::Authorize), 2);
    }

    #[test]
    fn a_key_reused_with_other_parameters_is_refused() {
        let mut ledger = Ledger::default();
        ledger.call("k1", authorize(TOKENS.success)).unwrap();
        let err = ledger.call("k1", authorize(TOKENS.decline)).unwrap_err();
        assert!(!err.retryable);
        assert_eq!(ledger.payments_for("ord_1").len(), 1);
    }

    #[test]
    fn the_timeout_token_records_the_authorization_and_a_retry_finds_it() {
        let mut ledger = Ledger::default();
        let err = ledger.call("k1", authorize(TOKENS.timeout)).unwrap_err();
        assert!(err.outcome_unknown());
        let gateway_ref = authorized_ref(ledger.call("k1", authorize(TOKENS.timeout)).unwrap());
        assert_eq!(ledger.payments_for("ord_1").len(), 1);
        assert!(ledger.payment(&gateway_ref).unwrap().ever_authorized);
    }

    #[test]
    fn the_5xx_token_records_nothing() {
        let mut ledger = Ledger::default();
        let err = ledger
            .call("k1", authorize(TOKENS.unavailable))
            .unwrap_err();
        assert!(err.retryable && !err.outcome_unknown());
        assert!(ledger.payments_for("ord_1").is_empty());
        assert!(ledger.call("k1", authorize(TOKENS.unavailable)).is_err());
    }

    #[test]
    fn refunds_never_pass_what_was_captured() {
        let mut ledger = Ledger::default();
        let gateway_ref = authorized_ref(ledger.call("a", authorize(TOKENS.success)).unwrap());
        let capture = Request::Capture {
            gateway_ref: gateway_ref.clone(),
            amount: eur(600),
        };
        ledger.call("c", capture).unwrap();
        let refund = |amount| Request::Refund {
            gateway_ref: gateway_ref.clone(),
            amount: eur(amount),
        };
        ledger.call("r1", refund(400)).unwrap();
        assert!(ledger.call("r2", refund(201)).is_err());
        ledger.call("r3", refund(200)).unwrap();
        let state = ledger.payment(&gateway_ref).unwrap();
        assert_eq!((state.captured, state.refunded), (eur(600), eur(600)));
    }

    #[test]
    fn a_challenge_completes_once_either_way() {
        let mut ledger = Ledger::default();
        let reply = ledger.call("a", authorize(TOKENS.three_d_secure)).unwrap();
        let Reply::Authorize(AuthorizeOutcome::RequiresAction {
            gateway_ref,
            next_action,
        }) = reply
        else {
            panic!("no action required");
        };
        assert_eq!(
            next_action.redirect_url,
            Some(format!("/v1/sandbox/challenges/{gateway_ref}"))
        );
        assert!(!ledger.payment(&gateway_ref).unwrap().ever_authorized);
        ledger.complete_challenge(&gateway_ref, true).unwrap();
        ledger.complete_challenge(&gateway_ref, true).unwrap();
        assert!(matches!(
            ledger.complete_challenge(&gateway_ref, false),
            Err(SandboxError::ChallengeClosed(_))
        ));
        assert_eq!(
            ledger.retrieve(&gateway_ref).unwrap(),
            GatewayPaymentStatus::Authorized
        );
        assert!(matches!(
            ledger.complete_challenge("sbx_pi_none", true),
            Err(SandboxError::UnknownPayment(_))
        ));
    }

    #[test]
    fn an_injected_outage_hits_a_repeated_key_too() {
        let mut ledger = Ledger::default();
        ledger.call("a", authorize(TOKENS.success)).unwrap();
        ledger.inject(Operation::Authorize, SandboxFault::Unavailable);
        assert!(ledger.call("a", authorize(TOKENS.success)).is_err());
        assert!(ledger.call("a", authorize(TOKENS.success)).is_ok());
        assert_eq!(ledger.payments_for("ord_1").len(), 1);
    }

    #[test]
    fn an_injected_fault_applies_once_to_its_operation() {
        let mut ledger = Ledger::default();
        ledger.inject(Operation::Authorize, SandboxFault::Unavailable);
        assert!(ledger.call("a", authorize(TOKENS.success)).is_err());
        assert!(ledger.call("a", authorize(TOKENS.success)).is_ok());
    }
}
