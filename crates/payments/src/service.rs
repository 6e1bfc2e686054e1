//! The payments service trait, the only way other districts use payments, and [`Payments`],
//! which implements it over the store and one [`PaymentGateway`].
//!
//! Every money-moving call has the same three steps, so no transaction is ever held across a
//! gateway call (STYLE §5: SQLite has one writer):
//!
//! 1. **Claim**, in one transaction: decide the transition on the locked row, mark the
//!    operation pending and take a [`Lease`] on it (refunds: reserve the amount with a
//!    conditional update and insert the refund `pending`). Commit.
//! 2. **Call** the gateway, outside any transaction, with the operation's deterministic key
//!    ([`IdempotencyKey`]), bounded by the call timeout.
//! 3. **Record**, in one transaction: apply the answer (if the lease is still ours), insert the
//!    attempt, append the events. Commit.
//!
//! A crash or timeout between 1 and 3 leaves the operation pending. [`PaymentService::resolve`]
//! (and any later call on the payment) sends the same request with the same key again, and the
//! gateway answers with the first result instead of moving money twice. The lease means at
//! most one caller, on any node, talks to the gateway about one pending operation at a time; a
//! caller that finds a live lease gets `payment_outcome_unknown` and retries later.
//!
//! Authorization is in `service/authorize.rs`, capture and void in `service/settle.rs`,
//! refunds in `service/refund.rs`, and how an answer changes a payment in
//! `service/outcome.rs`.

mod authorize;
mod outcome;
mod reconcile;
mod refund;
mod settle;
mod webhook;

pub use reconcile::{
    differences, Difference, Mismatch, ReconcilePass, ReconciliationReport, Unsettled,
    REPORT_LIMIT_MAX,
};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kassa_events::{Event, EventId};
use kassa_kernel::{Clock, Money, Timestamp};
use tracing::instrument;

use crate::gateway::{GatewayError, GatewayEvent, PaymentGateway};
use crate::keys::IdempotencyKey;
use crate::model::{
    AttemptOutcome, GatewayEventRecord, Operation, OrderRef, Payment, PaymentAttempt,
    PaymentAttemptId, PaymentId, PaymentMethodToken, PaymentStatus, Pending, Refund, RefundId,
};
use crate::store::{Lease, PaymentStore};
use crate::PaymentError;
use outcome::CallOutcome;

/// Default bound on one gateway call when the server configures none. Stripe's own clients
/// default to 80 s; checkout should not hold a shopper that long, and an unanswered call is not
/// lost (it is resolved later with the same key), so 30 s.
pub const GATEWAY_CALL_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);

/// Most events one [`PaymentService::events`] call returns; larger requests get this many.
/// Bounds the response of the staff endpoint that lists them.
pub const EVENTS_LIMIT_MAX: u32 = 500;

/// How many claim-and-call rounds one service call makes before answering
/// `payment_outcome_unknown`: settling another caller's pending operation first, then its own.
const ROUNDS_MAX: usize = 3;

#[async_trait]
pub trait PaymentService: Send + Sync {
    /// Authorizes `amount` for `order_ref` with the shopper's payment method (manual capture).
    ///
    /// Idempotent by order: the first call creates the payment; every later call for the same
    /// order continues that payment with its first payment method and the same gateway key, so
    /// an order is never authorized twice. A different `amount` for an existing payment is
    /// `payment_amount_mismatch`.
    ///
    /// Returns the payment in `requires_capture` (funds held) or `requires_action` (3-D
    /// Secure, see [`Payment::next_action`]). Errors: `payment_declined` (recorded; the
    /// payment is `failed`, also on every later call), `payment_outcome_unknown` (the gateway
    /// did not answer: the payment stays `processing` until [`PaymentService::resolve`] or
    /// another call learns the outcome), `gateway_unavailable` / `gateway_error` (the gateway
    /// did not perform it: the payment is back in `requires_payment_method` and may be
    /// authorized again or voided).
    async fn authorize(
        &self,
        order_ref: OrderRef,
        amount: Money,
        payment_method: PaymentMethodToken,
    ) -> Result<Payment, PaymentError>;

    /// Learns from the gateway how the shopper's 3-D Secure challenge ended and records it:
    /// `requires_capture` when passed, `payment_declined` when failed; a payment still waiting
    /// comes back unchanged in `requires_action`. Asking again after it ended returns the same
    /// answer.
    async fn complete_action(&self, id: PaymentId) -> Result<Payment, PaymentError>;

    /// Captures `amount` (the whole authorization when `None`) of a `requires_capture` payment;
    /// the rest of the hold is released. One capture per payment: asking again for the same
    /// amount after it succeeded returns the payment, anything else is
    /// `illegal_payment_transition`.
    async fn capture(&self, id: PaymentId, amount: Option<Money>) -> Result<Payment, PaymentError>;

    /// Releases the hold of a payment that is not captured (`requires_capture`,
    /// `requires_action`, or `requires_payment_method` where nothing is held). Voiding a
    /// canceled payment again returns it; a captured or failed one is
    /// `illegal_payment_transition`.
    async fn void(&self, id: PaymentId) -> Result<Payment, PaymentError>;

    /// Refunds `amount` of a `succeeded` payment. Every call is a new refund (its own id and
    /// gateway key): callers that retry deduplicate with their own idempotency key. The amount
    /// is reserved in the database before the gateway is called, so refunds, even concurrent
    /// ones, never exceed what was captured (`refund_exceeds_captured` names what is left).
    /// A refund the gateway refuses gives its amount back (`refund_failed`); one whose outcome
    /// is unknown stays `pending`, reserved, until [`PaymentService::resolve`].
    async fn refund(&self, id: PaymentId, amount: Money) -> Result<Refund, PaymentError>;

    /// Brings a payment up to date with the gateway: sends every pending operation (an
    /// authorization, capture or void, and pending refunds) again with its key, and asks how a
    /// 3-D Secure challenge ended. Returns the payment whatever its definite state, a declined
    /// one included; `payment_outcome_unknown` or a gateway error when something is still
    /// open. What a recovery worker calls.
    async fn resolve(&self, id: PaymentId) -> Result<Payment, PaymentError>;

    async fn payment(&self, id: PaymentId) -> Result<Payment, PaymentError>;

    async fn payment_for_order(
        &self,
        order_ref: &OrderRef,
    ) -> Result<Option<Payment>, PaymentError>;

    /// The payment's refunds, oldest first.
    async fn refunds(&self, id: PaymentId) -> Result<Vec<Refund>, PaymentError>;

    /// Every gateway call made for the payment, oldest first.
    async fn attempts(&self, id: PaymentId) -> Result<Vec<PaymentAttempt>, PaymentError>;

    /// Recorded events after `after`, at most `limit` (capped at [`EVENTS_LIMIT_MAX`]).
    async fn events(&self, after: Option<EventId>, limit: u32) -> Result<Vec<Event>, PaymentError>;

    /// `gateway_unavailable` (with how long to wait) while the gateway's connector refuses
    /// calls without sending them (an open circuit breaker), so checkout can answer 503 before
    /// it reserves anything. A read of the connector's state: no call, no database.
    fn check_available(&self) -> Result<(), PaymentError>;

    /// Applies a verified gateway webhook event once (the inbox is keyed by the gateway's event
    /// id) and forwards only; see `service/webhook.rs`. Returns the inbox record: what it did,
    /// or, for a repeated delivery, what the first one did (`duplicate`).
    async fn apply_gateway_event(
        &self,
        event: GatewayEvent,
    ) -> Result<GatewayEventRecord, PaymentError>;

    /// The gateway events received about a payment, in arrival order.
    async fn gateway_events(&self, id: PaymentId) -> Result<Vec<GatewayEventRecord>, PaymentError>;

    /// Gateway operations whose outcome is not recorded yet (in flight, or unknown and waiting
    /// for the reconciliation job) and pending refunds, for `/metrics`.
    async fn unsettled(&self) -> Result<Unsettled, PaymentError>;

    /// One pass of the reconciliation job: resolves at most `limit` payments with an operation
    /// or refund pending that nobody is settling.
    async fn reconcile_pending(&self, limit: u32) -> Result<ReconcilePass, PaymentError>;

    /// The staff reconciliation report for payments made in `[from, to)`, a page of at most
    /// `limit` (capped at [`REPORT_LIMIT_MAX`]) after `after`.
    async fn reconciliation(
        &self,
        from: Timestamp,
        to: Timestamp,
        after: Option<(Timestamp, PaymentId)>,
        limit: u32,
    ) -> Result<ReconciliationReport, PaymentError>;
}

/// The payments service over its store and one gateway.
pub struct Payments {
    store: PaymentStore,
    /// Every payment this service makes goes through it; payments of another gateway are
    /// refused as an internal error rather than sent to the wrong gateway.
    gateway: Arc<dyn PaymentGateway>,
    clock: Arc<dyn Clock>,
    /// Bounds each gateway call; past it the outcome is unknown. Leases last twice as long, so
    /// a caller's lease outlives its call.
    call_timeout: Duration,
    /// Where a redirecting gateway sends the shopper back after 3-D Secure; `{order_id}` in it
    /// is replaced by the order's reference.
    return_url: Option<String>,
}

/// What a claim on a payment's pending operation found.
enum Claim {
    /// The lease is ours: send the pending operation.
    Claimed(Payment, Lease),
    /// Another caller holds a live lease and is talking to the gateway now.
    Busy,
    /// Nothing is pending any more.
    Settled(Payment),
}

/// A gateway call as its attempt records it.
struct Call {
    operation: Operation,
    key: IdempotencyKey,
    amount: Option<Money>,
}

impl Payments {
    pub fn new(
        store: PaymentStore,
        gateway: Arc<dyn PaymentGateway>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Payments {
            store,
            gateway,
            clock,
            call_timeout: GATEWAY_CALL_TIMEOUT_DEFAULT,
            return_url: None,
        }
    }

    /// Sets the URL a redirecting gateway sends the shopper back to after 3-D Secure (from the
    /// server's configuration); `{order_id}` in it becomes the order's reference.
    pub fn with_return_url(mut self, return_url: Option<String>) -> Self {
        self.return_url = return_url;
        self
    }

    /// Sets the bound on each gateway call (from the server's configuration).
    pub fn with_call_timeout(mut self, call_timeout: Duration) -> Self {
        self.call_timeout = call_timeout;
        self
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn new_lease(&self, now: Timestamp) -> Lease {
        let call_ms = i64::try_from(self.call_timeout.as_millis()).unwrap_or(i64::MAX);
        Lease::new(now, call_ms.saturating_mul(2))
    }

    async fn load(&self, id: PaymentId) -> Result<Payment, PaymentError> {
        let payment = self
            .store
            .payment(id)
            .await?
            .ok_or(PaymentError::PaymentNotFound(id))?;
        self.check_gateway(&payment)?;
        Ok(payment)
    }

    fn check_gateway(&self, payment: &Payment) -> Result<(), PaymentError> {
        if payment.gateway() == self.gateway.name() {
            Ok(())
        } else {
            Err(PaymentError::Internal {
                message: format!(
                    "payment {} was made with gateway '{}', this service uses '{}'",
                    payment.id(),
                    payment.gateway(),
                    self.gateway.name()
                ),
            })
        }
    }

    /// Runs one gateway call within the call timeout; past it the outcome is unknown.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, GatewayError>>,
    ) -> Result<T, GatewayError> {
        match tokio::time::timeout(self.call_timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(GatewayError::timeout(format!(
                "no answer within {} ms",
                self.call_timeout.as_millis()
            ))),
        }
    }

    /// Takes the lease on the payment's pending operation, if nobody holds a live one. A lease
    /// that expired belongs to a caller that never recorded its call (it crashed, or its call
    /// outlived every bound): that call is recorded as an attempt with an unknown outcome.
    async fn claim_pending(&self, id: PaymentId) -> Result<Claim, PaymentError> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let (payment, held) = tx
            .lock_payment(id)
            .await?
            .ok_or(PaymentError::PaymentNotFound(id))?;
        let Some(pending) = payment.pending() else {
            return Ok(Claim::Settled(payment));
        };
        if let Some(held) = held {
            if held.is_live(now) {
                return Ok(Claim::Busy);
            }
            let call = pending_call(&payment, pending);
            tx.insert_attempt(&interrupted(id, None, &call, now))
                .await?;
            tracing::warn!(payment_id = %id, operation = %call.operation, "taking over an expired gateway call");
        }
        let lease = self.new_lease(now);
        tx.update_payment(&payment, Some(&lease)).await?;
        tx.commit().await?;
        Ok(Claim::Claimed(payment, lease))
    }

    /// Sends the payment's pending operation, holding `lease`.
    async fn call_pending(&self, payment: &Payment, lease: Lease) -> Result<Payment, PaymentError> {
        match payment.pending() {
            Some(Pending::Authorize) => self.send_authorize(payment, lease).await,
            Some(Pending::Capture { amount }) => self.send_capture(payment, amount, lease).await,
            Some(Pending::Void) => self.send_void(payment, lease).await,
            None => Ok(payment.clone()),
        }
    }

    /// Settles whatever operation of the payment is pending (sending it again with its key)
    /// and returns the payment after it. A declined authorization is a settled state here, not
    /// an error.
    async fn settle_pending(&self, id: PaymentId) -> Result<Payment, PaymentError> {
        for _ in 0..ROUNDS_MAX {
            let payment = self.load(id).await?;
            if payment.pending().is_none() {
                return Ok(payment);
            }
            match self.claim_pending(id).await? {
                Claim::Busy => break,
                Claim::Settled(_) => continue,
                Claim::Claimed(payment, lease) => match self.call_pending(&payment, lease).await {
                    Ok(_) | Err(PaymentError::Declined { .. }) => continue,
                    Err(err) => return Err(err),
                },
            }
        }
        let payment = self.load(id).await?;
        match payment.pending() {
            None => Ok(payment),
            Some(_) => Err(PaymentError::OutcomeUnknown {
                payment_id: id,
                refund_id: None,
            }),
        }
    }

    /// Records the answer to a call about the payment's pending operation, in one transaction
    /// with its attempt and events. The answer changes the payment only while `lease` is still
    /// the payment's (it always is unless the call outlived the lease and another caller took
    /// over, who will get the same answer for the same key). Returns the payment and whether
    /// the answer was applied.
    async fn record_call(
        &self,
        id: PaymentId,
        lease: Lease,
        call: Call,
        outcome: &CallOutcome,
    ) -> Result<(Payment, bool), PaymentError> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let (mut payment, held) = tx
            .lock_payment(id)
            .await?
            .ok_or(PaymentError::PaymentNotFound(id))?;
        let ours = held.map(|h| h.id) == Some(lease.id);
        let mut events = Vec::new();
        if ours {
            let had_unknown = match outcome {
                CallOutcome::NotPerformed(_) => tx.had_unknown_outcome(&call.key).await?,
                _ => false,
            };
            events = outcome::apply(&mut payment, outcome, had_unknown, now).map_err(|err| {
                PaymentError::Internal {
                    message: format!("recording a gateway answer: {err}"),
                }
            })?;
            tx.update_payment(&payment, None).await?;
        }
        let (result, detail) = outcome.attempt();
        tx.insert_attempt(&PaymentAttempt {
            id: lease.id,
            payment_id: id,
            refund_id: None,
            operation: call.operation,
            idempotency_key: call.key,
            amount: call.amount,
            outcome: result,
            detail,
            at: now,
        })
        .await?;
        tx.append_events(&events).await?;
        tx.commit().await?;
        Ok((payment, ours))
    }

    /// What the caller of an operation gets once its answer is recorded.
    fn call_result(
        id: PaymentId,
        outcome: CallOutcome,
        recorded: (Payment, bool),
    ) -> Result<Payment, PaymentError> {
        let (payment, applied) = recorded;
        let unknown = PaymentError::OutcomeUnknown {
            payment_id: id,
            refund_id: None,
        };
        if !applied {
            return Err(unknown);
        }
        match outcome {
            CallOutcome::Declined(decline) => Err(PaymentError::Declined {
                payment_id: id,
                decline,
            }),
            CallOutcome::Unknown(err) => {
                tracing::warn!(payment_id = %id, error = %err, "gateway outcome unknown");
                Err(unknown)
            }
            CallOutcome::NotPerformed(err) => {
                if payment.pending().is_some() {
                    tracing::error!(
                        payment_id = %id, error = %err,
                        "gateway refused a call whose earlier outcome is unknown; still pending"
                    );
                } else {
                    tracing::warn!(payment_id = %id, error = %err, "gateway did not perform the call");
                }
                Err(PaymentError::from_gateway(id, err))
            }
            _ => Ok(payment),
        }
    }
}

/// The call a pending operation of `payment` stands for.
fn pending_call(payment: &Payment, pending: Pending) -> Call {
    let id = payment.id();
    match pending {
        Pending::Authorize => Call {
            operation: Operation::Authorize,
            key: IdempotencyKey::authorize(id),
            amount: Some(payment.amount()),
        },
        Pending::Capture { amount } => Call {
            operation: Operation::Capture,
            key: IdempotencyKey::capture(id),
            amount: Some(amount),
        },
        Pending::Void => Call {
            operation: Operation::Void,
            key: IdempotencyKey::void(id),
            amount: None,
        },
    }
}

/// The attempt of a caller whose lease expired before it recorded anything: its call may have
/// reached the gateway, so its outcome is unknown.
fn interrupted(
    payment: PaymentId,
    refund: Option<RefundId>,
    call: &Call,
    now: Timestamp,
) -> PaymentAttempt {
    PaymentAttempt {
        id: PaymentAttemptId::new(),
        payment_id: payment,
        refund_id: refund,
        operation: call.operation,
        idempotency_key: call.key.clone(),
        amount: call.amount,
        outcome: AttemptOutcome::Unknown,
        detail: Some("interrupted: the caller never recorded an answer".to_owned()),
        at: now,
    }
}

#[async_trait]
impl PaymentService for Payments {
    #[instrument(skip_all, fields(order_ref = %order_ref))]
    async fn authorize(
        &self,
        order_ref: OrderRef,
        amount: Money,
        payment_method: PaymentMethodToken,
    ) -> Result<Payment, PaymentError> {
        self.authorize_order(order_ref, amount, payment_method)
            .await
    }

    #[instrument(skip_all, fields(payment_id = %id))]
    async fn complete_action(&self, id: PaymentId) -> Result<Payment, PaymentError> {
        let payment = self.settle_pending(id).await?;
        match payment.status() {
            PaymentStatus::RequiresAction => self.check_action(payment).await,
            PaymentStatus::Failed => Err(declined(&payment)),
            PaymentStatus::RequiresCapture | PaymentStatus::Succeeded => Ok(payment),
            _ => Err(PaymentError::IllegalTransition {
                payment_id: id,
                status: payment.status(),
                action: crate::model::PaymentAction::CompleteAction,
            }),
        }
    }

    #[instrument(skip_all, fields(payment_id = %id))]
    async fn capture(&self, id: PaymentId, amount: Option<Money>) -> Result<Payment, PaymentError> {
        self.capture_payment(id, amount).await
    }

    #[instrument(skip_all, fields(payment_id = %id))]
    async fn void(&self, id: PaymentId) -> Result<Payment, PaymentError> {
        self.void_payment(id).await
    }

    #[instrument(skip_all, fields(payment_id = %id))]
    async fn refund(&self, id: PaymentId, amount: Money) -> Result<Refund, PaymentError> {
        self.refund_payment(id, amount).await
    }

    #[instrument(skip_all, fields(payment_id = %id))]
    async fn resolve(&self, id: PaymentId) -> Result<Payment, PaymentError> {
        let payment = self.settle_pending(id).await?;
        if payment.status() == PaymentStatus::RequiresAction && payment.pending().is_none() {
            match self.check_action(payment).await {
                Ok(_) | Err(PaymentError::Declined { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        for refund in self.store.pending_refunds(id).await? {
            match self.resolve_refund(refund.id).await {
                Ok(_) | Err(PaymentError::RefundFailed { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        self.load(id).await
    }

    async fn payment(&self, id: PaymentId) -> Result<Payment, PaymentError> {
        self.store
            .payment(id)
            .await?
            .ok_or(PaymentError::PaymentNotFound(id))
    }

    async fn payment_for_order(
        &self,
        order_ref: &OrderRef,
    ) -> Result<Option<Payment>, PaymentError> {
        Ok(self.store.payment_for_order(order_ref).await?)
    }

    async fn refunds(&self, id: PaymentId) -> Result<Vec<Refund>, PaymentError> {
        self.payment(id).await?;
        Ok(self.store.refunds(id).await?)
    }

    async fn attempts(&self, id: PaymentId) -> Result<Vec<PaymentAttempt>, PaymentError> {
        self.payment(id).await?;
        Ok(self.store.attempts(id).await?)
    }

    async fn events(&self, after: Option<EventId>, limit: u32) -> Result<Vec<Event>, PaymentError> {
        Ok(self
            .store
            .events(after, limit.min(EVENTS_LIMIT_MAX))
            .await?)
    }

    fn check_available(&self) -> Result<(), PaymentError> {
        match self.gateway.unavailable_for() {
            None => Ok(()),
            Some(retry_after) => Err(PaymentError::GatewayRefusing {
                gateway: self.gateway.name(),
                retry_after,
            }),
        }
    }

    #[instrument(skip_all, fields(event_id = %event.id))]
    async fn apply_gateway_event(
        &self,
        event: GatewayEvent,
    ) -> Result<GatewayEventRecord, PaymentError> {
        self.apply_event(event).await
    }

    async fn gateway_events(&self, id: PaymentId) -> Result<Vec<GatewayEventRecord>, PaymentError> {
        self.payment(id).await?;
        Ok(self.store.gateway_events(id).await?)
    }

    async fn reconcile_pending(&self, limit: u32) -> Result<ReconcilePass, PaymentError> {
        self.reconcile_pass(limit).await
    }

    async fn unsettled(&self) -> Result<Unsettled, PaymentError> {
        let (operations, refunds) = self.store.unsettled_counts().await?;
        Ok(Unsettled {
            operations,
            refunds,
        })
    }

    async fn reconciliation(
        &self,
        from: Timestamp,
        to: Timestamp,
        after: Option<(Timestamp, PaymentId)>,
        limit: u32,
    ) -> Result<ReconciliationReport, PaymentError> {
        self.report(from, to, after, limit).await
    }
}

/// The error of a payment that is `failed`.
fn declined(payment: &Payment) -> PaymentError {
    match payment.decline() {
        Some(decline) => PaymentError::Declined {
            payment_id: payment.id(),
            decline: decline.clone(),
        },
        None => PaymentError::Internal {
            message: format!("failed payment {} has no decline", payment.id()),
        },
    }
}
