//! `PaymentError` and the payments district's entries in the problem registry.
//!
//! Messages are shown to clients as the problem `detail`: they name what the caller can act on
//! (the decline reason, the refundable amount) and never internals. Gateway errors keep their
//! source for the log; storage and internal errors show a generic text.
//!
//! Gateway failures are `Upstream` (HTTP 502, STYLE §4's "gateway failure"): the gateway
//! answered that it did not perform the request, nothing was charged, and the same call may be
//! made again. A timeout is different — the money may have moved — so it is
//! `payment_outcome_unknown`, `Unavailable` (503 with `Retry-After`): the client retries with
//! its `Idempotency-Key`, and kassa asks the gateway again with the same gateway key.

use kassa_db::DbError;
use kassa_kernel::money::CURRENCY_MISMATCH;
use kassa_kernel::{Currency, DomainError, ErrorCategory, Money, MoneyError, ProblemType};

use crate::connectors::sandbox::{SANDBOX_CHALLENGE_CLOSED, SANDBOX_PAYMENT_NOT_FOUND};
use crate::gateway::GatewayError;
use crate::model::inputs::{INVALID_ORDER_REF, INVALID_PAYMENT_METHOD};
use crate::model::{
    Decline, OrderRef, OrderRefError, PaymentAction, PaymentId, PaymentMethodTokenError,
    PaymentStatus, RefundId,
};

pub const PAYMENT_DECLINED: ProblemType = ProblemType::new(
    "payment_declined",
    "Payment declined",
    ErrorCategory::PaymentRequired,
);
pub const PAYMENT_NOT_FOUND: ProblemType = ProblemType::new(
    "payment_not_found",
    "Payment not found",
    ErrorCategory::NotFound,
);
pub const ILLEGAL_PAYMENT_TRANSITION: ProblemType = ProblemType::new(
    "illegal_payment_transition",
    "Payment cannot do that now",
    ErrorCategory::Conflict,
);
pub const REFUND_EXCEEDS_CAPTURED: ProblemType = ProblemType::new(
    "refund_exceeds_captured",
    "Refund exceeds the captured amount",
    ErrorCategory::Conflict,
);
pub const REFUND_FAILED: ProblemType =
    ProblemType::new("refund_failed", "Refund failed", ErrorCategory::Conflict);
pub const INVALID_REFUND_AMOUNT: ProblemType = ProblemType::new(
    "invalid_refund_amount",
    "Invalid refund amount",
    ErrorCategory::Invalid,
);
pub const INVALID_CAPTURE_AMOUNT: ProblemType = ProblemType::new(
    "invalid_capture_amount",
    "Invalid capture amount",
    ErrorCategory::Invalid,
);
pub const INVALID_PAYMENT_AMOUNT: ProblemType = ProblemType::new(
    "invalid_payment_amount",
    "Invalid payment amount",
    ErrorCategory::Invalid,
);
pub const PAYMENT_AMOUNT_MISMATCH: ProblemType = ProblemType::new(
    "payment_amount_mismatch",
    "Order already has a payment for another amount",
    ErrorCategory::Conflict,
);
pub const GATEWAY_UNAVAILABLE: ProblemType = ProblemType::new(
    "gateway_unavailable",
    "Payment gateway unavailable",
    ErrorCategory::Upstream,
);
/// The connector's circuit breaker is open after repeated gateway failures: checkout is refused
/// at once, before anything is reserved, with `Retry-After` until the breaker tries again.
pub const GATEWAY_PAUSED: ProblemType = ProblemType::new(
    "gateway_paused",
    "Payments paused after gateway failures",
    ErrorCategory::Unavailable,
);
pub const GATEWAY_ERROR: ProblemType = ProblemType::new(
    "gateway_error",
    "Payment gateway refused the request",
    ErrorCategory::Upstream,
);
pub const PAYMENT_OUTCOME_UNKNOWN: ProblemType = ProblemType::new(
    "payment_outcome_unknown",
    "Payment outcome not known yet",
    ErrorCategory::Unavailable,
);
pub const PAYMENTS_STORAGE_UNAVAILABLE: ProblemType = ProblemType::new(
    "payments_storage_unavailable",
    "Payments storage unavailable",
    ErrorCategory::Unavailable,
);
pub const PAYMENTS_STORAGE_ERROR: ProblemType = ProblemType::new(
    "payments_storage_error",
    "Payments storage error",
    ErrorCategory::Internal,
);
pub const PAYMENTS_INTERNAL_ERROR: ProblemType = ProblemType::new(
    "payments_internal_error",
    "Payments internal error",
    ErrorCategory::Internal,
);

/// Every problem type the payments district owns, the sandbox's included. An amount in the
/// wrong currency is the kernel's `currency_mismatch`, which the kernel registers.
pub const PROBLEM_TYPES: &[&ProblemType] = &[
    &PAYMENT_DECLINED,
    &PAYMENT_NOT_FOUND,
    &ILLEGAL_PAYMENT_TRANSITION,
    &REFUND_EXCEEDS_CAPTURED,
    &REFUND_FAILED,
    &INVALID_REFUND_AMOUNT,
    &INVALID_CAPTURE_AMOUNT,
    &INVALID_PAYMENT_AMOUNT,
    &PAYMENT_AMOUNT_MISMATCH,
    &INVALID_ORDER_REF,
    &INVALID_PAYMENT_METHOD,
    &GATEWAY_UNAVAILABLE,
    &GATEWAY_PAUSED,
    &GATEWAY_ERROR,
    &PAYMENT_OUTCOME_UNKNOWN,
    &PAYMENTS_STORAGE_UNAVAILABLE,
    &PAYMENTS_STORAGE_ERROR,
    &PAYMENTS_INTERNAL_ERROR,
    &SANDBOX_PAYMENT_NOT_FOUND,
    &SANDBOX_CHALLENGE_CLOSED,
];

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("Payment {0} was not found.")]
    PaymentNotFound(PaymentId),
    /// The authorization was declined (by the issuer, or 3-D Secure failed). The decline is
    /// recorded on the payment, which is `failed`.
    #[error("Payment {payment_id} was declined: {} ({}).", decline.code, decline.message)]
    Declined {
        payment_id: PaymentId,
        decline: Decline,
    },
    #[error("Payment {payment_id} is {status}; it cannot be {}.", action.verb())]
    IllegalTransition {
        payment_id: PaymentId,
        status: PaymentStatus,
        action: PaymentAction,
    },
    #[error(
        "Cannot refund {requested} of payment {payment_id}: only {refundable} of what was \
         captured is left to refund."
    )]
    RefundExceedsCaptured {
        payment_id: PaymentId,
        requested: Money,
        refundable: Money,
    },
    /// The gateway refused the refund; its reservation was given back.
    #[error(
        "The gateway refused refund {refund_id} of payment {payment_id}: {} ({}).",
        reason.code,
        reason.message
    )]
    RefundFailed {
        payment_id: PaymentId,
        refund_id: RefundId,
        reason: Decline,
    },
    #[error("A refund must be for more than zero; {requested} is not.")]
    InvalidRefundAmount { requested: Money },
    #[error(
        "Cannot capture {requested}: a capture must be for more than zero and at most the \
         authorized {authorized}."
    )]
    InvalidCaptureAmount { requested: Money, authorized: Money },
    #[error("A payment must be for more than zero; {amount} is not.")]
    InvalidPaymentAmount { amount: Money },
    #[error("Payment {payment_id} is in {expected}; an amount in {given} cannot be used with it.")]
    CurrencyMismatch {
        payment_id: PaymentId,
        expected: Currency,
        given: Currency,
    },
    #[error(
        "Order {order_ref} already has payment {payment_id} for {existing}; it cannot also be \
         paid {requested}."
    )]
    AmountMismatch {
        order_ref: OrderRef,
        payment_id: PaymentId,
        existing: Money,
        requested: Money,
    },
    #[error(transparent)]
    InvalidOrderRef(#[from] OrderRefError),
    #[error(transparent)]
    InvalidPaymentMethod(#[from] PaymentMethodTokenError),
    /// The gateway answered that it did not perform the request and that it may work later.
    /// Nothing moved; the payment is as it was before the call.
    #[error("The payment gateway is unavailable; nothing was charged for payment {payment_id}. Try again shortly.")]
    GatewayUnavailable {
        payment_id: PaymentId,
        #[source]
        source: GatewayError,
    },
    /// The gateway's connector refuses calls for now without sending them (its circuit breaker
    /// is open after repeated failures): nothing was tried. `retry_after` is how long is left.
    #[error("The payment gateway is unavailable; nothing was charged. Try again in {} s.", retry_after_secs(*retry_after))]
    GatewayRefusing {
        gateway: &'static str,
        retry_after: std::time::Duration,
    },
    /// The gateway refused the request and repeating it will not help; logged with its source.
    #[error(
        "The payment gateway refused the request for payment {payment_id}; nothing was charged."
    )]
    Gateway {
        payment_id: PaymentId,
        #[source]
        source: GatewayError,
    },
    /// The gateway did not answer in time, so the money may or may not have moved; or another
    /// call on this payment is still waiting for its answer. Asking again (`resolve`, or the
    /// same call with the same `Idempotency-Key`) sends the same gateway key and learns it.
    #[error(
        "The outcome of the last gateway call for payment {payment_id} is not known yet; retry \
         the request later with the same Idempotency-Key."
    )]
    OutcomeUnknown {
        payment_id: PaymentId,
        refund_id: Option<RefundId>,
    },
    #[error("Payments storage is unavailable; try again shortly.")]
    StorageUnavailable(#[source] DbError),
    #[error("Payments storage failed.")]
    Storage(#[source] DbError),
    /// Amount arithmetic failed: an invariant is broken.
    #[error("Payment amounts cannot be computed.")]
    Money(#[source] MoneyError),
    /// A broken invariant or wiring mistake (a payment of another gateway); logged, never shown.
    #[error("Payments internal error: {message}")]
    Internal { message: String },
}

impl From<DbError> for PaymentError {
    fn from(err: DbError) -> Self {
        if err.is_unavailable() {
            PaymentError::StorageUnavailable(err)
        } else {
            PaymentError::Storage(err)
        }
    }
}

/// Whole seconds to wait, rounded up and at least 1 (what `Retry-After` carries).
pub fn retry_after_secs(wait: std::time::Duration) -> u32 {
    let secs = wait.as_millis().div_ceil(1000).max(1);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

impl PaymentError {
    /// How long the client should wait before trying again, when the gateway (a 429's
    /// `Retry-After`) or the connector's circuit breaker said.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            PaymentError::GatewayRefusing { retry_after, .. } => Some(*retry_after),
            PaymentError::GatewayUnavailable { source, .. } => source.retry_after,
            _ => None,
        }
    }

    /// The error for a gateway failure that did not perform the request (not a timeout).
    pub fn from_gateway(payment_id: PaymentId, source: GatewayError) -> PaymentError {
        if source.retryable {
            PaymentError::GatewayUnavailable { payment_id, source }
        } else {
            PaymentError::Gateway { payment_id, source }
        }
    }

    /// True for the errors after which the same request may be made again unchanged.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PaymentError::OutcomeUnknown { .. }
                | PaymentError::GatewayUnavailable { .. }
                | PaymentError::GatewayRefusing { .. }
                | PaymentError::StorageUnavailable(_)
        )
    }
}

impl DomainError for PaymentError {
    fn problem_type(&self) -> &'static ProblemType {
        match self {
            PaymentError::PaymentNotFound(_) => &PAYMENT_NOT_FOUND,
            PaymentError::Declined { .. } => &PAYMENT_DECLINED,
            PaymentError::IllegalTransition { .. } => &ILLEGAL_PAYMENT_TRANSITION,
            PaymentError::RefundExceedsCaptured { .. } => &REFUND_EXCEEDS_CAPTURED,
            PaymentError::RefundFailed { .. } => &REFUND_FAILED,
            PaymentError::InvalidRefundAmount { .. } => &INVALID_REFUND_AMOUNT,
            PaymentError::InvalidCaptureAmount { .. } => &INVALID_CAPTURE_AMOUNT,
            PaymentError::InvalidPaymentAmount { .. } => &INVALID_PAYMENT_AMOUNT,
            PaymentError::CurrencyMismatch { .. } => &CURRENCY_MISMATCH,
            PaymentError::AmountMismatch { .. } => &PAYMENT_AMOUNT_MISMATCH,
            PaymentError::InvalidOrderRef(err) => err.problem_type(),
            PaymentError::InvalidPaymentMethod(err) => err.problem_type(),
            PaymentError::GatewayUnavailable { .. } => &GATEWAY_UNAVAILABLE,
            PaymentError::GatewayRefusing { .. } => &GATEWAY_PAUSED,
            PaymentError::Gateway { .. } => &GATEWAY_ERROR,
            PaymentError::OutcomeUnknown { .. } => &PAYMENT_OUTCOME_UNKNOWN,
            PaymentError::StorageUnavailable(_) => &PAYMENTS_STORAGE_UNAVAILABLE,
            PaymentError::Storage(_) => &PAYMENTS_STORAGE_ERROR,
            PaymentError::Money(_) | PaymentError::Internal { .. } => &PAYMENTS_INTERNAL_ERROR,
        }
    }

    fn field_errors(&self) -> Vec<(String, String)> {
        match self {
            PaymentError::InvalidOrderRef(err) => vec![("/order_ref".to_owned(), err.to_string())],
            PaymentError::InvalidPaymentMethod(err) => {
                vec![("/payment_method".to_owned(), err.to_string())]
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::sandbox::SandboxError;

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::Eur)
    }

    #[test]
    fn problem_codes_are_unique_snake_case_and_titled() {
        // Checked together with the kernel's codes: a district never re-registers one of them.
        let all = [PROBLEM_TYPES, kassa_kernel::PROBLEM_TYPES].concat();
        assert_eq!(
            kassa_kernel::error::check_problem_types(&all),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_error_names_a_registered_problem_or_the_kernel_currency_mismatch() {
        let id = PaymentId::new();
        let gateway = || GatewayError::unavailable("503");
        let errors = vec![
            PaymentError::PaymentNotFound(id),
            PaymentError::Declined {
                payment_id: id,
                decline: Decline {
                    code: "insufficient_funds".into(),
                    message: "Insufficient funds.".into(),
                },
            },
            PaymentError::IllegalTransition {
                payment_id: id,
                status: PaymentStatus::Canceled,
                action: PaymentAction::Capture,
            },
            PaymentError::RefundExceedsCaptured {
                payment_id: id,
                requested: eur(150),
                refundable: eur(100),
            },
            PaymentError::RefundFailed {
                payment_id: id,
                refund_id: RefundId::new(),
                reason: Decline {
                    code: "x".into(),
                    message: "y".into(),
                },
            },
            PaymentError::InvalidRefundAmount { requested: eur(0) },
            PaymentError::InvalidCaptureAmount {
                requested: eur(0),
                authorized: eur(1),
            },
            PaymentError::InvalidPaymentAmount { amount: eur(0) },
            PaymentError::AmountMismatch {
                order_ref: OrderRef::parse("ord_1").unwrap(),
                payment_id: id,
                existing: eur(1),
                requested: eur(2),
            },
            PaymentError::InvalidOrderRef(OrderRefError::Empty),
            PaymentError::InvalidPaymentMethod(PaymentMethodTokenError::Empty),
            PaymentError::from_gateway(id, gateway()),
            PaymentError::from_gateway(id, GatewayError::invalid("bad")),
            PaymentError::OutcomeUnknown {
                payment_id: id,
                refund_id: None,
            },
            PaymentError::StorageUnavailable(DbError::Setup("x".into())),
            PaymentError::Storage(DbError::Corrupt("x".into())),
            PaymentError::Money(MoneyError::Overflow),
            PaymentError::Internal {
                message: "x".into(),
            },
        ];
        for err in &errors {
            assert!(PROBLEM_TYPES.contains(&err.problem_type()), "{err:?}");
        }
        let mismatch = PaymentError::CurrencyMismatch {
            payment_id: id,
            expected: Currency::Eur,
            given: Currency::Usd,
        };
        assert_eq!(mismatch.problem_type(), &CURRENCY_MISMATCH);
        for err in [
            SandboxError::UnknownPayment("x".into()),
            SandboxError::ChallengeClosed("x".into()),
        ] {
            assert!(PROBLEM_TYPES.contains(&err.problem_type()));
        }
    }

    #[test]
    fn a_decline_names_its_code_and_reason() {
        let id: PaymentId = "pay_0191b7c2000070008000000000000001".parse().unwrap();
        let err = PaymentError::Declined {
            payment_id: id,
            decline: Decline {
                code: "insufficient_funds".into(),
                message: "The card has insufficient funds.".into(),
            },
        };
        assert_eq!(err.problem_type().category, ErrorCategory::PaymentRequired);
        assert_eq!(
            err.detail(),
            "Payment pay_0191b7c2000070008000000000000001 was declined: insufficient_funds \
             (The card has insufficient funds.)."
        );
    }

    #[test]
    fn a_refund_refusal_names_the_refundable_amount() {
        let id: PaymentId = "pay_0191b7c2000070008000000000000001".parse().unwrap();
        let err = PaymentError::RefundExceedsCaptured {
            payment_id: id,
            requested: eur(150),
            refundable: eur(100),
        };
        assert_eq!(
            err.detail(),
            "Cannot refund 1.50 EUR of payment pay_0191b7c2000070008000000000000001: only \
             1.00 EUR of what was captured is left to refund."
        );
    }

    #[test]
    fn gateway_errors_are_upstream_and_timeouts_unavailable() {
        let id = PaymentId::new();
        let unavailable = PaymentError::from_gateway(id, GatewayError::unavailable("503"));
        assert_eq!(unavailable.problem_type().category, ErrorCategory::Upstream);
        assert!(unavailable.is_retryable());
        assert!(!unavailable.detail().contains("503"));
        let invalid = PaymentError::from_gateway(id, GatewayError::invalid("bad"));
        assert_eq!(invalid.problem_type(), &GATEWAY_ERROR);
        assert!(!invalid.is_retryable());
        let unknown = PaymentError::OutcomeUnknown {
            payment_id: id,
            refund_id: None,
        };
        assert_eq!(unknown.problem_type().category, ErrorCategory::Unavailable);
    }

    #[test]
    fn internal_errors_show_a_generic_detail() {
        let err = PaymentError::Internal {
            message: "payment pay_x: amounts out of order".into(),
        };
        assert!(!err.detail().contains("amounts"));
        let err = PaymentError::Storage(DbError::Corrupt("column status".into()));
        assert!(!err.detail().contains("status"));
    }
}
