//! The sandbox gateway: the default of `kassa serve`, and what the tests pay with. It keeps its
//! books in memory and behaves like a real gateway where it matters for "money moves exactly
//! once": a repeated idempotency key gets the first answer (never a second authorization), the
//! same key with other parameters is refused, and a timeout can hide an authorization that did
//! happen.
//!
//! Payment-method tokens a storefront developer can use (also in docs/API.md):
//!
//! | token | authorize answers |
//! |---|---|
//! | `pm_sandbox_success` | authorized |
//! | `pm_sandbox_decline` | declined, `generic_decline` |
//! | `pm_sandbox_insufficient_funds` | declined, `insufficient_funds` |
//! | `pm_sandbox_3ds` | requires action: redirect to `/v1/sandbox/challenges/{gateway_ref}`, completed with `?outcome=succeed` (authorized) or `?outcome=fail` (declined, `authentication_failed`) |
//! | `pm_sandbox_timeout` | authorizes, then answers with a timeout: the outcome is unknown until asked again with the same key, which finds it authorized |
//! | `pm_sandbox_5xx` | unavailable (503), nothing recorded, retryable |
//! | any other | declined, `unknown_payment_method` |
//!
//! Tests share one instance with the service (the handle is a cheap clone), inspect its books
//! ([`SandboxGateway::authorizations_for`], [`SandboxGateway::state`]) and script one-shot
//! faults on any operation ([`SandboxGateway::inject_fault`]).

mod ledger;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use kassa_kernel::{DomainError, ErrorCategory, Money, ProblemType};

use crate::gateway::{
    AuthorizeOutcome, AuthorizeRequest, GatewayError, GatewayPaymentStatus, GatewayPaymentView,
    PaymentGateway, RefundOutcome,
};
use crate::keys::IdempotencyKey;
use crate::model::{Decline, Operation};
use ledger::{Ledger, Reply, Request};

pub use ledger::CHALLENGE_PATH;

pub const SANDBOX_PAYMENT_NOT_FOUND: ProblemType = ProblemType::new(
    "sandbox_payment_not_found",
    "Sandbox payment not found",
    ErrorCategory::NotFound,
);
pub const SANDBOX_CHALLENGE_CLOSED: ProblemType = ProblemType::new(
    "sandbox_challenge_closed",
    "Sandbox challenge already completed",
    ErrorCategory::Conflict,
);

/// The payment-method tokens the sandbox knows.
#[derive(Debug)]
pub struct Tokens {
    pub success: &'static str,
    pub decline: &'static str,
    pub insufficient_funds: &'static str,
    pub three_d_secure: &'static str,
    pub timeout: &'static str,
    pub unavailable: &'static str,
}

pub const TOKENS: Tokens = Tokens {
    success: "pm_sandbox_success",
    decline: "pm_sandbox_decline",
    insufficient_funds: "pm_sandbox_insufficient_funds",
    three_d_secure: "pm_sandbox_3ds",
    timeout: "pm_sandbox_timeout",
    unavailable: "pm_sandbox_5xx",
};

/// How the sandbox behaves; built by `server` from configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Simulated network latency added to every call (not to the inspection methods), so local
    /// runs and load tests see a gateway that takes time. 0 for none.
    pub latency_ms: u64,
}

/// Where a sandbox payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxStatus {
    RequiresAction,
    Authorized,
    /// 3-D Secure failed.
    Declined,
    Captured,
    Voided,
}

/// A snapshot of one payment in the sandbox's books.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPayment {
    pub gateway_ref: String,
    pub order_ref: String,
    /// What was authorized (or is awaiting 3-D Secure).
    pub amount: Money,
    pub status: SandboxStatus,
    pub captured: Money,
    pub refunded: Money,
    /// Whether funds were ever held for it, whatever happened later.
    pub ever_authorized: bool,
    /// Set when 3-D Secure failed.
    pub decline: Option<Decline>,
}

impl SandboxPayment {
    /// Funds are held right now (authorized, neither captured nor voided).
    pub fn is_authorized(&self) -> bool {
        self.status == SandboxStatus::Authorized
    }

    pub fn is_voided(&self) -> bool {
        self.status == SandboxStatus::Voided
    }
}

/// A one-shot fault for the next call of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxFault {
    /// Perform and record the next new request, then answer with a timeout: the unknown
    /// outcome. A repeated key gets its first answer as usual.
    Timeout,
    /// Answer the next call 503 without performing anything, repeated key or not (an outage
    /// comes before the idempotency layer).
    Unavailable,
    /// Refuse the next new request: a refund gets `RefundOutcome::Failed` (`refund_refused`);
    /// any other operation an invalid-request error. Nothing is performed.
    Refuse,
}

/// Why a sandbox challenge could not be completed; the challenge route shows it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    #[error("The sandbox has no payment {0}.")]
    UnknownPayment(String),
    #[error("Sandbox payment {0} is not awaiting a 3-D Secure challenge.")]
    ChallengeClosed(String),
}

impl DomainError for SandboxError {
    fn problem_type(&self) -> &'static ProblemType {
        match self {
            SandboxError::UnknownPayment(_) => &SANDBOX_PAYMENT_NOT_FOUND,
            SandboxError::ChallengeClosed(_) => &SANDBOX_CHALLENGE_CLOSED,
        }
    }
}

/// The sandbox gateway. A handle: clones share one set of books, so the server and its tests
/// see the same payments. `Send + Sync`.
#[derive(Clone)]
pub struct SandboxGateway {
    inner: Arc<Inner>,
}

struct Inner {
    config: SandboxConfig,
    /// Every call holds it only while it reads and writes the books, never across an await.
    ledger: Mutex<Ledger>,
}

impl fmt::Debug for SandboxGateway {
    /// The books hold payment-method tokens; they are not shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxGateway")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl SandboxGateway {
    pub fn new(config: SandboxConfig) -> SandboxGateway {
        SandboxGateway {
            inner: Arc::new(Inner {
                config,
                ledger: Mutex::new(Ledger::default()),
            }),
        }
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    /// The shopper's answer to the 3-D Secure challenge of `gateway_ref`: authorized when
    /// `succeed`, declined (`authentication_failed`) otherwise. Completing it the same way twice
    /// is harmless. The order is in the returned snapshot, so the challenge route can tell the
    /// checkout which order to continue.
    pub fn complete_challenge(
        &self,
        gateway_ref: &str,
        succeed: bool,
    ) -> Result<SandboxPayment, SandboxError> {
        self.ledger().complete_challenge(gateway_ref, succeed)
    }

    /// How many payments of `order_ref` ever held funds. Checkout's promise: at most one.
    pub fn authorizations_for(&self, order_ref: &str) -> usize {
        self.ledger()
            .payments_for(order_ref)
            .iter()
            .filter(|p| p.ever_authorized)
            .count()
    }

    /// Every payment of `order_ref`, oldest first.
    pub fn payments_for(&self, order_ref: &str) -> Vec<SandboxPayment> {
        self.ledger().payments_for(order_ref)
    }

    /// One payment's state: authorized, captured and refunded amounts, voided.
    pub fn state(&self, gateway_ref: &str) -> Option<SandboxPayment> {
        self.ledger().payment(gateway_ref)
    }

    /// Calls received for `operation`, repeated keys included.
    pub fn calls(&self, operation: Operation) -> usize {
        self.ledger().calls(operation)
    }

    /// Makes the next new request of `operation` fail with `fault` (tests and demos).
    pub fn inject_fault(&self, operation: Operation, fault: SandboxFault) {
        self.ledger().inject(operation, fault);
    }

    /// The books stay consistent even if a holder panicked: every change is one assignment
    /// after all checks, so a poisoned lock is taken over, not propagated.
    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.inner
            .ledger
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn call(&self, key: &IdempotencyKey, request: Request) -> Result<Reply, GatewayError> {
        let latency = self.inner.config.latency_ms;
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        self.ledger().call(key.as_str(), request)
    }
}

fn unexpected_reply(reply: Reply) -> GatewayError {
    GatewayError::invalid(format!("sandbox: unexpected reply {reply:?}"))
}

#[async_trait]
impl PaymentGateway for SandboxGateway {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn authorize(
        &self,
        request: &AuthorizeRequest,
    ) -> Result<AuthorizeOutcome, GatewayError> {
        let call = Request::Authorize {
            amount: request.amount,
            payment_method: request.payment_method.clone(),
            order_ref: request.order_ref.as_str().to_owned(),
        };
        match self.call(&request.idempotency_key, call).await? {
            Reply::Authorize(outcome) => Ok(outcome),
            other => Err(unexpected_reply(other)),
        }
    }

    async fn capture(
        &self,
        gateway_ref: &str,
        amount: Money,
        idempotency_key: &IdempotencyKey,
    ) -> Result<(), GatewayError> {
        let call = Request::Capture {
            gateway_ref: gateway_ref.to_owned(),
            amount,
        };
        match self.call(idempotency_key, call).await? {
            Reply::Capture => Ok(()),
            other => Err(unexpected_reply(other)),
        }
    }

    async fn void(
        &self,
        gateway_ref: &str,
        idempotency_key: &IdempotencyKey,
    ) -> Result<(), GatewayError> {
        let call = Request::Void {
            gateway_ref: gateway_ref.to_owned(),
        };
        match self.call(idempotency_key, call).await? {
            Reply::Void => Ok(()),
            other => Err(unexpected_reply(other)),
        }
    }

    async fn refund(
        &self,
        gateway_ref: &str,
        amount: Money,
        idempotency_key: &IdempotencyKey,
    ) -> Result<RefundOutcome, GatewayError> {
        let call = Request::Refund {
            gateway_ref: gateway_ref.to_owned(),
            amount,
        };
        match self.call(idempotency_key, call).await? {
            Reply::Refund(outcome) => Ok(outcome),
            other => Err(unexpected_reply(other)),
        }
    }

    async fn retrieve(&self, gateway_ref: &str) -> Result<GatewayPaymentStatus, GatewayError> {
        let latency = self.inner.config.latency_ms;
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        self.ledger().retrieve(gateway_ref)
    }

    async fn inspect(&self, gateway_ref: &str) -> Result<GatewayPaymentView, GatewayError> {
        self.ledger().inspect(gateway_ref)
    }
}
