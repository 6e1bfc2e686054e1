//! Payment types and the payment state machine, which mirrors Stripe's PaymentIntent with
//! manual capture (reference/payments-facts.md §3):
//!
//! | from | method | to |
//! |---|---|---|
//! | (new) | [`Payment::new`] | `requires_payment_method` |
//! | `requires_payment_method` | [`Payment::begin_authorization`] | `processing` |
//! | `processing` | [`Payment::record_authorized`] | `requires_capture` |
//! | `processing` | [`Payment::record_action_required`] | `requires_action` |
//! | `processing` | [`Payment::record_declined`] | `failed` |
//! | `processing` | [`Payment::record_authorization_not_performed`] | `requires_payment_method` |
//! | `requires_action` | [`Payment::record_authorized`] (3-D Secure passed) | `requires_capture` |
//! | `requires_action` | [`Payment::record_declined`] (3-D Secure failed) | `failed` |
//! | `requires_capture` | [`Payment::begin_capture`], then [`Payment::record_captured`] | `succeeded` |
//! | `requires_payment_method` | [`Payment::begin_void`] | `canceled` (no gateway call) |
//! | `requires_action`, `requires_capture` | [`Payment::begin_void`], then [`Payment::record_voided`] | `canceled` |
//! | capture or void pending | [`Payment::record_not_performed`] | unchanged, nothing pending |
//! | `succeeded` | refunds, checked by [`Payment::check_refund`] | `succeeded` |
//!
//! Everything else is refused.
//!
//! - `requires_payment_method`: no authorization exists at the gateway. A new payment passes
//!   through it on its way to `processing`, and returns to it when the gateway answered that it
//!   did not perform the authorization (unavailable, invalid request), so it can be tried again
//!   with the same idempotency key or cancelled without a gateway call.
//! - `processing`: an authorization has been (or is about to be) sent and its outcome is not
//!   recorded yet — in flight, timed out, or interrupted by a crash. Resolved by sending the
//!   same request with the same key again.
//! - `requires_action`: the shopper must pass 3-D Secure ([`NextAction`]).
//! - `requires_capture`: funds are held. Capture takes all or part of them (the rest is
//!   released); void releases them all.
//! - `succeeded`: captured. Refunds happen here, up to the captured amount; the status stays.
//! - `canceled` and `failed` are final. A decline is final too: the one authorization key of a
//!   payment is spent, so another card means another order (DESIGN §5 step 3).
//!
//! A capture or void in flight is [`Pending`] on a payment whose status is unchanged until the
//! gateway's answer is recorded, so two nodes can never send two different captures, and a
//! crash between the call and the record leaves a marker that `resolve` finishes.
//!
//! Transitions are methods returning `Result`; an illegal one is
//! [`PaymentError::IllegalTransition`]. They change only this value: the service writes the
//! result under the payment's row lock. Refunds are not transitions: their amounts are reserved
//! and given back by conditional updates in the database, which is what holds under
//! concurrency; [`Payment::check_refund`] gives the precise refusal.

pub mod attempt;
pub mod follow;
pub mod gateway_event;
pub mod inputs;
pub mod refund;

use std::fmt;
use std::str::FromStr;

use kassa_kernel::{Currency, Money, Timestamp};

pub use attempt::{AttemptOutcome, Operation, PaymentAttempt};
pub use follow::Followed;
pub use gateway_event::{GatewayEventRecord, NoticeOutcome};
pub use inputs::{
    OrderRef, OrderRefError, PaymentMethodToken, PaymentMethodTokenError, ORDER_REF_LEN_MAX,
    PAYMENT_METHOD_TOKEN_LEN_MAX,
};
pub use refund::{Refund, RefundStatus};

use crate::error::PaymentError;

kassa_kernel::typed_id!(
    /// A payment: the one attempt to take money for one order.
    PaymentId, "pay"
);
kassa_kernel::typed_id!(
    /// One recorded gateway call of a payment.
    PaymentAttemptId, "att"
);
kassa_kernel::typed_id!(
    /// One refund of a captured payment.
    RefundId, "re"
);

/// Where a payment is in its life; see the module documentation for the diagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentStatus {
    RequiresPaymentMethod,
    Processing,
    RequiresAction,
    RequiresCapture,
    Succeeded,
    Canceled,
    Failed,
}

impl PaymentStatus {
    pub const ALL: &[PaymentStatus] = &[
        Self::RequiresPaymentMethod,
        Self::Processing,
        Self::RequiresAction,
        Self::RequiresCapture,
        Self::Succeeded,
        Self::Canceled,
        Self::Failed,
    ];

    /// The stored and wire name, as Stripe spells it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::RequiresPaymentMethod => "requires_payment_method",
            Self::Processing => "processing",
            Self::RequiresAction => "requires_action",
            Self::RequiresCapture => "requires_capture",
            Self::Succeeded => "succeeded",
            Self::Canceled => "canceled",
            Self::Failed => "failed",
        }
    }

    /// No transition leaves a final status (refunds of a succeeded payment are not
    /// transitions).
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Succeeded | Self::Canceled | Self::Failed)
    }

    /// Whether the payment-method token is still needed: only while no authorization outcome
    /// is recorded, so it can be re-sent with the same key. Afterwards it is erased.
    pub fn keeps_payment_method(&self) -> bool {
        matches!(self, Self::RequiresPaymentMethod | Self::Processing)
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PaymentStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown payment status '{s}'"))
    }
}

/// What a caller asked of a payment, for the message of an illegal transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentAction {
    Authorize,
    CompleteAction,
    Capture,
    Void,
    Refund,
    /// Recording a gateway outcome that no longer fits the payment: a bug, never a caller's.
    RecordOutcome,
}

impl PaymentAction {
    /// Completes "it cannot be …".
    pub fn verb(&self) -> &'static str {
        match self {
            Self::Authorize => "authorized",
            Self::CompleteAction => "completed with 3-D Secure",
            Self::Capture => "captured",
            Self::Void => "voided",
            Self::Refund => "refunded",
            Self::RecordOutcome => "given this gateway outcome",
        }
    }
}

/// What the shopper must do before the authorization can finish (3-D Secure): follow a
/// redirect, or let the gateway's own script (Stripe.js `handleNextAction`) run the challenge
/// with the client secret. At least one of the two is set.
#[derive(Clone, PartialEq, Eq)]
pub struct NextAction {
    /// Where to send the shopper. The sandbox gives a path on kassa itself
    /// (`/v1/sandbox/challenges/{gateway_ref}`); Stripe gives its own page when checkout sent a
    /// `return_url`.
    pub redirect_url: Option<String>,
    /// The gateway's client secret for the payment (Stripe's PaymentIntent `client_secret`),
    /// which the storefront passes to the gateway's script. Meant for the shopper's browser,
    /// but never logged (`Debug` hides it) nor put in events.
    pub client_secret: Option<String>,
}

impl NextAction {
    /// A redirect-only action (the sandbox's challenge page).
    pub fn redirect(url: impl Into<String>) -> NextAction {
        NextAction {
            redirect_url: Some(url.into()),
            client_secret: None,
        }
    }
}

impl fmt::Debug for NextAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NextAction")
            .field("redirect_url", &self.redirect_url)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// A gateway's reason for refusing: the issuer's decline code (`insufficient_funds`) and a
/// message meant for the shopper. Also used for a refund the gateway refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decline {
    pub code: String,
    pub message: String,
}

/// A gateway call whose outcome is not recorded yet. At most one per payment; refunds are
/// tracked on their own rows instead, so several can be in flight at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// Exactly when the status is `processing`.
    Authorize,
    /// A capture of `amount`, on a `requires_capture` payment.
    Capture { amount: Money },
    /// A void, on a `requires_capture` or `requires_action` payment.
    Void,
}

impl Pending {
    pub fn operation(&self) -> Operation {
        match self {
            Pending::Authorize => Operation::Authorize,
            Pending::Capture { .. } => Operation::Capture,
            Pending::Void => Operation::Void,
        }
    }
}

/// What [`Payment::begin_void`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoidStep {
    /// Nothing is held at the gateway: the payment is canceled already.
    Canceled,
    /// An authorization exists: the gateway must void it (the payment is now pending a void).
    CallGateway,
    /// It was canceled before: nothing to do.
    AlreadyCanceled,
}

/// One payment for one order. Amounts are all in the payment's currency and obey
/// `0 <= refunded <= captured <= amount`; `captured` is zero until the payment succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    id: PaymentId,
    order_ref: OrderRef,
    amount: Money,
    status: PaymentStatus,
    captured: Money,
    refunded: Money,
    gateway: String,
    gateway_ref: Option<String>,
    next_action: Option<NextAction>,
    decline: Option<Decline>,
    pending: Option<Pending>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

/// Every field of a payment, for the store to rebuild one; [`Payment::from_parts`] checks the
/// invariants again on load.
#[derive(Debug, Clone)]
pub struct PaymentParts {
    pub id: PaymentId,
    pub order_ref: OrderRef,
    pub amount: Money,
    pub status: PaymentStatus,
    pub captured: Money,
    pub refunded: Money,
    pub gateway: String,
    pub gateway_ref: Option<String>,
    pub next_action: Option<NextAction>,
    pub decline: Option<Decline>,
    pub pending: Option<Pending>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Payment {
    /// A new payment, not yet sent to `gateway`. Refused unless `amount` is above zero.
    pub fn new(
        id: PaymentId,
        order_ref: OrderRef,
        amount: Money,
        gateway: &str,
        now: Timestamp,
    ) -> Result<Payment, PaymentError> {
        if amount.amount_minor() <= 0 {
            return Err(PaymentError::InvalidPaymentAmount { amount });
        }
        let zero = Money::zero(amount.currency());
        Ok(Payment {
            id,
            order_ref,
            amount,
            status: PaymentStatus::RequiresPaymentMethod,
            captured: zero,
            refunded: zero,
            gateway: gateway.to_owned(),
            gateway_ref: None,
            next_action: None,
            decline: None,
            pending: None,
            created_at: now,
            updated_at: now,
        })
    }

    /// Rebuilds a stored payment, refusing one that breaks an invariant (message says which).
    pub fn from_parts(parts: PaymentParts) -> Result<Payment, String> {
        let payment = Payment {
            id: parts.id,
            order_ref: parts.order_ref,
            amount: parts.amount,
            status: parts.status,
            captured: parts.captured,
            refunded: parts.refunded,
            gateway: parts.gateway,
            gateway_ref: parts.gateway_ref,
            next_action: parts.next_action,
            decline: parts.decline,
            pending: parts.pending,
            created_at: parts.created_at,
            updated_at: parts.updated_at,
        };
        payment.check_invariants()?;
        Ok(payment)
    }

    /// The invariants every stored payment keeps; checked when loaded and in the tests of every
    /// transition.
    pub fn check_invariants(&self) -> Result<(), String> {
        let id = self.id;
        let currency = self.amount.currency();
        let same_currency = [self.captured, self.refunded]
            .iter()
            .chain(match &self.pending {
                Some(Pending::Capture { amount }) => Some(amount),
                _ => None,
            })
            .all(|m| m.currency() == currency);
        if !same_currency {
            return Err(format!("payment {id}: amounts in more than one currency"));
        }
        let (amount, captured, refunded) = (
            self.amount.amount_minor(),
            self.captured.amount_minor(),
            self.refunded.amount_minor(),
        );
        if amount <= 0 || refunded < 0 || refunded > captured || captured > amount {
            return Err(format!(
                "payment {id}: amounts out of order (amount {amount}, captured {captured}, \
                 refunded {refunded})"
            ));
        }
        if (self.status == PaymentStatus::Succeeded) != (captured > 0) {
            return Err(format!(
                "payment {id}: {} with captured {captured}",
                self.status
            ));
        }
        if (self.status == PaymentStatus::Processing) != (self.pending == Some(Pending::Authorize))
        {
            return Err(format!(
                "payment {id}: {} pending {:?}",
                self.status, self.pending
            ));
        }
        let pending_fits = match self.pending {
            None | Some(Pending::Authorize) => true,
            Some(Pending::Capture { amount }) => {
                self.status == PaymentStatus::RequiresCapture
                    && amount.amount_minor() > 0
                    && amount.amount_minor() <= self.amount.amount_minor()
            }
            Some(Pending::Void) => matches!(
                self.status,
                PaymentStatus::RequiresCapture | PaymentStatus::RequiresAction
            ),
        };
        if !pending_fits {
            return Err(format!(
                "payment {id}: {} pending {:?}",
                self.status, self.pending
            ));
        }
        if (self.status == PaymentStatus::RequiresAction) != self.next_action.is_some() {
            return Err(format!(
                "payment {id}: next action does not match {}",
                self.status
            ));
        }
        let needs_ref = matches!(
            self.status,
            PaymentStatus::RequiresAction
                | PaymentStatus::RequiresCapture
                | PaymentStatus::Succeeded
        );
        if needs_ref && self.gateway_ref.is_none() {
            return Err(format!(
                "payment {id}: {} without a gateway reference",
                self.status
            ));
        }
        if self.decline.is_some() && self.status != PaymentStatus::Failed {
            return Err(format!(
                "payment {id}: a decline on a {} payment",
                self.status
            ));
        }
        Ok(())
    }

    pub fn id(&self) -> PaymentId {
        self.id
    }

    pub fn order_ref(&self) -> &OrderRef {
        &self.order_ref
    }

    /// What the order asked for; what may be captured at most.
    pub fn amount(&self) -> Money {
        self.amount
    }

    pub fn currency(&self) -> Currency {
        self.amount.currency()
    }

    pub fn status(&self) -> PaymentStatus {
        self.status
    }

    /// Zero until the capture is recorded.
    pub fn captured(&self) -> Money {
        self.captured
    }

    /// Refunds succeeded plus refunds still pending: a pending refund's amount is reserved
    /// before the gateway is called, so concurrent refunds can never pass `captured`.
    pub fn refunded(&self) -> Money {
        self.refunded
    }

    /// What can still be refunded: `captured - refunded`.
    pub fn refundable(&self) -> Result<Money, PaymentError> {
        self.captured
            .checked_sub(self.refunded)
            .map_err(PaymentError::Money)
    }

    /// The name of the gateway this payment was made with (`sandbox`, `stripe`).
    pub fn gateway(&self) -> &str {
        &self.gateway
    }

    /// The gateway's id of the payment, once it has one.
    pub fn gateway_ref(&self) -> Option<&str> {
        self.gateway_ref.as_deref()
    }

    /// Set exactly while `requires_action`.
    pub fn next_action(&self) -> Option<&NextAction> {
        self.next_action.as_ref()
    }

    /// Why the payment failed; set only on `failed`.
    pub fn decline(&self) -> Option<&Decline> {
        self.decline.as_ref()
    }

    /// The capture, void or authorization whose outcome is not recorded yet.
    pub fn pending(&self) -> Option<Pending> {
        self.pending
    }

    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }

    pub fn updated_at(&self) -> Timestamp {
        self.updated_at
    }

    fn illegal(&self, action: PaymentAction) -> PaymentError {
        PaymentError::IllegalTransition {
            payment_id: self.id,
            status: self.status,
            action,
        }
    }

    /// Another operation's outcome is still open: the caller must resolve it first.
    fn ensure_nothing_pending(&self) -> Result<(), PaymentError> {
        match self.pending {
            None => Ok(()),
            Some(_) => Err(PaymentError::OutcomeUnknown {
                payment_id: self.id,
                refund_id: None,
            }),
        }
    }

    fn check_currency(&self, given: Money) -> Result<(), PaymentError> {
        if given.currency() == self.currency() {
            Ok(())
        } else {
            Err(PaymentError::CurrencyMismatch {
                payment_id: self.id,
                expected: self.currency(),
                given: given.currency(),
            })
        }
    }

    /// `requires_payment_method → processing`: the authorization is about to be sent.
    pub fn begin_authorization(&mut self, now: Timestamp) -> Result<(), PaymentError> {
        if self.status != PaymentStatus::RequiresPaymentMethod {
            return Err(self.illegal(PaymentAction::Authorize));
        }
        self.status = PaymentStatus::Processing;
        self.pending = Some(Pending::Authorize);
        self.updated_at = now;
        Ok(())
    }

    /// `processing | requires_action → requires_capture`: funds are held.
    pub fn record_authorized(
        &mut self,
        gateway_ref: String,
        now: Timestamp,
    ) -> Result<(), PaymentError> {
        if !matches!(
            self.status,
            PaymentStatus::Processing | PaymentStatus::RequiresAction
        ) || matches!(self.pending, Some(Pending::Void))
        {
            return Err(self.illegal(PaymentAction::RecordOutcome));
        }
        self.status = PaymentStatus::RequiresCapture;
        self.pending = None;
        self.gateway_ref = Some(gateway_ref);
        self.next_action = None;
        self.updated_at = now;
        Ok(())
    }

    /// `processing → requires_action`: the shopper must pass 3-D Secure.
    pub fn record_action_required(
        &mut self,
        gateway_ref: String,
        next_action: NextAction,
        now: Timestamp,
    ) -> Result<(), PaymentError> {
        if self.status != PaymentStatus::Processing {
            return Err(self.illegal(PaymentAction::RecordOutcome));
        }
        self.status = PaymentStatus::RequiresAction;
        self.pending = None;
        self.gateway_ref = Some(gateway_ref);
        self.next_action = Some(next_action);
        self.updated_at = now;
        Ok(())
    }

    /// `processing | requires_action → failed`: declined by the issuer or by 3-D Secure.
    pub fn record_declined(
        &mut self,
        decline: Decline,
        now: Timestamp,
    ) -> Result<(), PaymentError> {
        if !matches!(
            self.status,
            PaymentStatus::Processing | PaymentStatus::RequiresAction
        ) || matches!(self.pending, Some(Pending::Void))
        {
            return Err(self.illegal(PaymentAction::RecordOutcome));
        }
        self.status = PaymentStatus::Failed;
        self.pending = None;
        self.next_action = None;
        self.decline = Some(decline);
        self.updated_at = now;
        Ok(())
    }

    /// `processing → requires_payment_method`: the gateway answered that it did not perform the
    /// authorization, so nothing is held and it may be sent again.
    pub fn record_authorization_not_performed(
        &mut self,
        now: Timestamp,
    ) -> Result<(), PaymentError> {
        if self.status != PaymentStatus::Processing {
            return Err(self.illegal(PaymentAction::RecordOutcome));
        }
        self.status = PaymentStatus::RequiresPaymentMethod;
        self.pending = None;
        self.updated_at = now;
        Ok(())
    }

    /// The amount a capture of `requested` (the whole authorization when `None`) would take,
    /// checked against this payment; no change.
    pub fn capture_amount(&self, requested: Option<Money>) -> Result<Money, PaymentError> {
        let amount = requested.unwrap_or(self.amount);
        self.check_currency(amount)?;
        if amount.amount_minor() <= 0 || amount.amount_minor() > self.amount.amount_minor() {
            return Err(PaymentError::InvalidCaptureAmount {
                requested: amount,
                authorized: self.amount,
            });
        }
        Ok(amount)
    }

    /// `requires_capture`, nothing pending → a capture of `requested` (the whole authorization
    /// when `None`) is pending. Returns the amount to capture.
    pub fn begin_capture(
        &mut self,
        requested: Option<Money>,
        now: Timestamp,
    ) -> Result<Money, PaymentError> {
        if self.status != PaymentStatus::RequiresCapture {
            return Err(self.illegal(PaymentAction::Capture));
        }
        self.ensure_nothing_pending()?;
        let amount = self.capture_amount(requested)?;
        self.pending = Some(Pending::Capture { amount });
        self.updated_at = now;
        Ok(amount)
    }

    /// Pending capture → `succeeded` with that amount captured; the rest of the authorization
    /// is released by the gateway.
    pub fn record_captured(&mut self, now: Timestamp) -> Result<(), PaymentError> {
        let Some(Pending::Capture { amount }) = self.pending else {
            return Err(self.illegal(PaymentAction::RecordOutcome));
        };
        self.status = PaymentStatus::Succeeded;
        self.captured = amount;
        self.pending = None;
        self.updated_at = now;
        Ok(())
    }

    /// `requires_payment_method` → `canceled` at once; `requires_capture | requires_action`
    /// (nothing pending) → a void is pending; `canceled` stays as it is.
    pub fn begin_void(&mut self, now: Timestamp) -> Result<VoidStep, PaymentError> {
        match self.status {
            PaymentStatus::Canceled => Ok(VoidStep::AlreadyCanceled),
            PaymentStatus::RequiresPaymentMethod => {
                self.status = PaymentStatus::Canceled;
                self.updated_at = now;
                Ok(VoidStep::Canceled)
            }
            PaymentStatus::RequiresCapture | PaymentStatus::RequiresAction => {
                self.ensure_nothing_pending()?;
                self.pending = Some(Pending::Void);
                self.updated_at = now;
                Ok(VoidStep::CallGateway)
            }
            PaymentStatus::Processing => Err(PaymentError::OutcomeUnknown {
                payment_id: self.id,
                refund_id: None,
            }),
            PaymentStatus::Succeeded | PaymentStatus::Failed => {
                Err(self.illegal(PaymentAction::Void))
            }
        }
    }

    /// Pending void → `canceled`: the authorization is released.
    pub fn record_voided(&mut self, now: Timestamp) -> Result<(), PaymentError> {
        if self.pending != Some(Pending::Void) {
            return Err(self.illegal(PaymentAction::RecordOutcome));
        }
        self.status = PaymentStatus::Canceled;
        self.pending = None;
        self.next_action = None;
        self.updated_at = now;
        Ok(())
    }

    /// A pending capture or void that the gateway answered it did not perform: the payment is
    /// as it was before, and the operation may be asked again.
    pub fn record_not_performed(&mut self, now: Timestamp) -> Result<(), PaymentError> {
        match self.pending {
            Some(Pending::Capture { .. }) | Some(Pending::Void) => {
                self.pending = None;
                self.updated_at = now;
                Ok(())
            }
            Some(Pending::Authorize) => self.record_authorization_not_performed(now),
            None => Err(self.illegal(PaymentAction::RecordOutcome)),
        }
    }

    /// Whether a refund of `amount` fits this payment as it is now; no change. The service
    /// repeats the check in the database with a conditional update, which is what holds under
    /// concurrency.
    pub fn check_refund(&self, amount: Money) -> Result<(), PaymentError> {
        self.check_currency(amount)?;
        if amount.amount_minor() <= 0 {
            return Err(PaymentError::InvalidRefundAmount { requested: amount });
        }
        if self.status != PaymentStatus::Succeeded {
            return Err(self.illegal(PaymentAction::Refund));
        }
        let refundable = self.refundable()?;
        if amount.amount_minor() > refundable.amount_minor() {
            return Err(PaymentError::RefundExceedsCaptured {
                payment_id: self.id,
                requested: amount,
                refundable,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
