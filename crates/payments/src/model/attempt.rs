//! Attempts: one row per gateway call that can move money, with the idempotency key it carried
//! and what came back. The audit trail of promise 2: a payment's attempts show every retry and
//! that each retry reused its key.

use std::fmt;
use std::str::FromStr;

use kassa_kernel::{Money, Timestamp};

use super::{PaymentAttemptId, PaymentId, RefundId};
use crate::keys::IdempotencyKey;

/// The gateway operation of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Authorize,
    Capture,
    Void,
    Refund,
}

impl Operation {
    pub const ALL: &[Operation] = &[Self::Authorize, Self::Capture, Self::Void, Self::Refund];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Authorize => "authorize",
            Self::Capture => "capture",
            Self::Void => "void",
            Self::Refund => "refund",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Operation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|op| op.as_str() == s)
            .ok_or_else(|| format!("unknown operation '{s}'"))
    }
}

/// What one gateway call answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptOutcome {
    /// The operation happened: authorized, captured, voided or refunded.
    Succeeded,
    /// The authorization needs 3-D Secure.
    RequiresAction,
    /// The gateway refused: an authorization declined, or a refund refused.
    Declined,
    /// The gateway answered that it did not perform the operation (unavailable, invalid).
    Failed,
    /// No answer (timeout): it may or may not have happened. Resolved by sending the same
    /// request with the same key again.
    Unknown,
}

impl AttemptOutcome {
    pub const ALL: &[AttemptOutcome] = &[
        Self::Succeeded,
        Self::RequiresAction,
        Self::Declined,
        Self::Failed,
        Self::Unknown,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::RequiresAction => "requires_action",
            Self::Declined => "declined",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AttemptOutcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|outcome| outcome.as_str() == s)
            .ok_or_else(|| format!("unknown attempt outcome '{s}'"))
    }
}

/// One recorded gateway call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentAttempt {
    pub id: PaymentAttemptId,
    pub payment_id: PaymentId,
    /// Set exactly for refund attempts.
    pub refund_id: Option<RefundId>,
    pub operation: Operation,
    pub idempotency_key: IdempotencyKey,
    /// The amount sent, for authorize, capture and refund.
    pub amount: Option<Money>,
    pub outcome: AttemptOutcome,
    /// The decline code or the gateway error, for the audit trail; never a token.
    pub detail: Option<String>,
    pub at: Timestamp,
}
