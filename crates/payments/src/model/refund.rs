//! Refunds of a captured payment. Several per payment, each with its own id and therefore its
//! own idempotency key; their sum never exceeds what was captured.

use std::fmt;
use std::str::FromStr;

use kassa_kernel::{Money, Timestamp};

use super::{Decline, PaymentId, RefundId};

/// Where a refund is. `pending` holds its amount reserved on the payment (so concurrent refunds
/// cannot pass the captured amount) until the gateway's answer is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundStatus {
    /// Reserved; the gateway call is in flight, timed out, or was interrupted.
    Pending,
    Succeeded,
    /// The gateway refused or did not perform it; its amount was given back.
    Failed,
}

impl RefundStatus {
    pub const ALL: &[RefundStatus] = &[Self::Pending, Self::Succeeded, Self::Failed];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for RefundStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RefundStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown refund status '{s}'"))
    }
}

/// One refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: RefundId,
    pub payment_id: PaymentId,
    /// Above zero, in the payment's currency.
    pub amount: Money,
    pub status: RefundStatus,
    /// The gateway's id of the refund, once it succeeded.
    pub gateway_ref: Option<String>,
    /// Why it failed, when it did.
    pub failure: Option<Decline>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
