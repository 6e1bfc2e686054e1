//! The [`PaymentGateway`] trait: only what kassa uses of a payment gateway, in our own types.
//! One implementation per gateway lives under `connectors/`.
//!
//! The contract every connector keeps:
//!
//! - Every call that can move money carries the [`IdempotencyKey`] it is given, and a repeated
//!   key with the same request returns the first result instead of acting again.
//! - A decline is an outcome ([`AuthorizeOutcome::Declined`], [`RefundOutcome::Failed`]), not
//!   an error.
//! - A [`GatewayError`] says whether the request may have been performed:
//!   [`GatewayErrorKind::Timeout`] means it may have (no usable answer arrived), so the caller
//!   must ask again with the same key before doing anything else;
//!   [`GatewayErrorKind::Unavailable`] and [`GatewayErrorKind::Invalid`] mean the gateway
//!   answered that it did not perform it. A connector that cannot tell (a 500 after the request
//!   was accepted, a reply it cannot parse) reports `Timeout`: treating "maybe" as "no" is how
//!   payments get taken twice.
//! - Every call has a timeout of its own; the service adds a backstop around each call.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use kassa_kernel::Money;

use crate::keys::IdempotencyKey;
use crate::model::{Decline, NextAction, OrderRef, PaymentMethodToken};
use kassa_kernel::Timestamp;

/// What [`PaymentGateway::authorize`] sends: hold `amount` on the payment method, to be
/// captured later (manual capture).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    pub amount: Money,
    /// `Debug` redacts it.
    pub payment_method: PaymentMethodToken,
    pub idempotency_key: IdempotencyKey,
    /// Passed to the gateway as metadata, so its dashboard and webhooks name the order.
    pub order_ref: OrderRef,
    /// Where a gateway that redirects the shopper for 3-D Secure sends them back. The service
    /// sends none yet (the sandbox needs none); the Stripe connector's issue adds it.
    pub return_url: Option<String>,
}

/// The answer to an authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeOutcome {
    /// Funds are held under `gateway_ref`.
    Authorized { gateway_ref: String },
    /// The shopper must pass 3-D Secure first.
    RequiresAction {
        gateway_ref: String,
        next_action: NextAction,
    },
    /// The issuer (or the gateway's risk checks) refused.
    Declined(Decline),
}

/// The answer to a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    Succeeded {
        refund_ref: String,
    },
    /// The gateway refused the refund, with its reason.
    Failed(Decline),
}

/// Where a gateway payment stands, as [`PaymentGateway::retrieve`] reports it; used to learn
/// how 3-D Secure ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayPaymentStatus {
    RequiresAction { next_action: NextAction },
    Authorized,
    Declined(Decline),
    Captured { amount: Money },
    Canceled,
}

/// A payment as the gateway's books show it, for the reconciliation report: its status in the
/// gateway's own words and the amounts the gateway holds, took and gave back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayPaymentView {
    pub gateway_ref: String,
    /// The gateway's status name as it is (`requires_capture`, `succeeded`, …).
    pub status: String,
    /// The same status in kassa's terms, when it has one (`processing` has none: undecided).
    pub mapped: Option<crate::model::PaymentStatus>,
    pub amount: Money,
    pub captured: Money,
    /// Refunds the gateway accepted (succeeded or on their way), in all.
    pub refunded: Money,
}

/// What a gateway's webhook said, in kassa's terms. Made by a [`WebhookVerifier`] once the
/// delivery's signature holds; applied once by [`crate::PaymentService::apply_gateway_event`],
/// deduplicated by `(gateway, id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayEvent {
    pub gateway: &'static str,
    /// The gateway's event id (`evt_…`), the inbox key.
    pub id: String,
    /// The gateway's event type (`payment_intent.succeeded`), kept for the inbox and the log.
    pub event_type: String,
    /// When the gateway made the event.
    pub created_at: Timestamp,
    pub notice: GatewayNotice,
}

/// The part of a gateway event kassa acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayNotice {
    /// Where the payment stood when the gateway made the event. Applied only forwards: a late
    /// or repeated event never moves a payment back.
    Payment {
        gateway_ref: String,
        /// From the gateway's metadata, to find a payment whose authorization answer never
        /// arrived (so its gateway reference is not recorded yet).
        order_ref: Option<OrderRef>,
        status: GatewayPaymentStatus,
    },
    /// The gateway's total of refunds on the payment.
    Refunded { gateway_ref: String, total: Money },
    /// The shopper disputed the payment with their bank (a chargeback).
    Disputed {
        gateway_ref: String,
        dispute_ref: String,
        amount: Money,
        reason: String,
        status: String,
    },
    /// An event kassa does not act on; recorded and acknowledged.
    Ignored,
}

/// Why a webhook delivery was refused: its signature, or a body that is not an event. Holds no
/// secret and no body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRejection {
    #[error("the webhook signature is not valid: {0}")]
    Signature(String),
    #[error("the webhook body is not an event: {0}")]
    Payload(String),
}

/// Checks a gateway's webhook deliveries. `signature` is the gateway's signature header as
/// received and `raw_body` the body's exact bytes.
pub trait WebhookVerifier: Send + Sync {
    fn gateway(&self) -> &'static str;

    fn verify(&self, signature: &str, raw_body: &[u8]) -> Result<GatewayEvent, WebhookRejection>;
}

/// Why a gateway call gave no outcome. See the module documentation for what each kind
/// promises about whether the request was performed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct GatewayError {
    pub kind: GatewayErrorKind,
    /// Whether sending the same request again (same key) may succeed.
    pub retryable: bool,
    /// For the log; never shown to clients, never holds a token or a secret.
    pub message: String,
    /// How long the gateway (or a connector's circuit breaker) says to wait before trying
    /// again, when it said: Stripe's `Retry-After` on a 429, the time until an open breaker
    /// lets a call through. The HTTP layer can pass it on as `Retry-After` with its 503.
    pub retry_after: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayErrorKind {
    /// No usable answer in time: the request may have been performed.
    Timeout,
    /// The gateway answered that it is unavailable (a 5xx before executing, connection refused):
    /// not performed.
    Unavailable,
    /// The gateway refused the request as invalid (unknown payment, wrong state, a key reused
    /// with other parameters): not performed, and sending it again will not help.
    Invalid,
}

impl fmt::Display for GatewayErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Timeout => "timeout",
            Self::Unavailable => "unavailable",
            Self::Invalid => "invalid request",
        })
    }
}

impl GatewayError {
    pub fn timeout(message: impl Into<String>) -> GatewayError {
        GatewayError {
            kind: GatewayErrorKind::Timeout,
            retryable: true,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn unavailable(message: impl Into<String>) -> GatewayError {
        GatewayError {
            kind: GatewayErrorKind::Unavailable,
            retryable: true,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> GatewayError {
        GatewayError {
            kind: GatewayErrorKind::Invalid,
            retryable: false,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The same error, saying how long to wait before trying again.
    pub fn with_retry_after(mut self, retry_after: Duration) -> GatewayError {
        self.retry_after = Some(retry_after);
        self
    }

    /// True when the request may have been performed, so its outcome is unknown.
    pub fn outcome_unknown(&self) -> bool {
        self.kind == GatewayErrorKind::Timeout
    }
}

/// A payment gateway. Object-safe: the service holds an `Arc<dyn PaymentGateway>`.
#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// A short stable name stored with each payment (`sandbox`, `stripe`).
    fn name(&self) -> &'static str;

    /// Holds the amount on the payment method (manual capture).
    async fn authorize(&self, request: &AuthorizeRequest)
        -> Result<AuthorizeOutcome, GatewayError>;

    /// Captures `amount` (at most what was authorized) of an authorized payment; the rest of
    /// the hold is released. One capture per payment.
    async fn capture(
        &self,
        gateway_ref: &str,
        amount: Money,
        idempotency_key: &IdempotencyKey,
    ) -> Result<(), GatewayError>;

    /// Releases the hold of a payment that is authorized or awaiting 3-D Secure.
    async fn void(
        &self,
        gateway_ref: &str,
        idempotency_key: &IdempotencyKey,
    ) -> Result<(), GatewayError>;

    /// Returns `amount` of a captured payment to the shopper.
    async fn refund(
        &self,
        gateway_ref: &str,
        amount: Money,
        idempotency_key: &IdempotencyKey,
    ) -> Result<RefundOutcome, GatewayError>;

    /// Where a payment stands now. A read: no key, no effect.
    async fn retrieve(&self, gateway_ref: &str) -> Result<GatewayPaymentStatus, GatewayError>;

    /// The payment as the gateway's books show it, amounts included. A read.
    async fn inspect(&self, gateway_ref: &str) -> Result<GatewayPaymentView, GatewayError>;

    /// `Some(wait)` while the connector refuses calls without sending them (an open circuit
    /// breaker): checkout answers 503 with `Retry-After` before reserving anything.
    fn unavailable_for(&self) -> Option<Duration> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PaymentId;
    use kassa_kernel::Currency;

    #[test]
    fn only_timeouts_leave_the_outcome_unknown() {
        assert!(GatewayError::timeout("t").outcome_unknown());
        assert!(!GatewayError::unavailable("u").outcome_unknown());
        assert!(!GatewayError::invalid("i").outcome_unknown());
        assert!(GatewayError::unavailable("u").retryable);
        assert!(!GatewayError::invalid("i").retryable);
    }

    #[test]
    fn a_request_debug_never_shows_the_token() {
        let request = AuthorizeRequest {
            amount: Money::new(100, Currency::Eur),
            payment_method: PaymentMethodToken::parse("pm_secret_looking").unwrap(),
            idempotency_key: IdempotencyKey::authorize(PaymentId::new()),
            order_ref: OrderRef::parse("ord_1").unwrap(),
            return_url: None,
        };
        assert!(!format!("{request:?}").contains("pm_secret_looking"));
    }

    #[test]
    fn the_trait_is_object_safe() {
        fn takes(_: Option<std::sync::Arc<dyn PaymentGateway>>) {}
        takes(None);
    }
}
