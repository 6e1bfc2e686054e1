//! The inbox record of one gateway webhook event: what it was and what applying it did.

use std::fmt;
use std::str::FromStr;

use kassa_kernel::Timestamp;

use super::PaymentId;

/// What applying a gateway event did (stored in `payment_gateway_events.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeOutcome {
    /// It changed a payment (or recorded a refund or a dispute).
    Applied,
    /// The payment was already there or further on: late, repeated or out of order.
    Unchanged,
    /// An operation of kassa's on the payment was in flight; its caller, or the
    /// reconciliation job, records the gateway's answer instead.
    Deferred,
    /// No payment of ours has that gateway reference or order.
    UnknownPayment,
    /// A kind of event kassa does not act on.
    Ignored,
}

impl NoticeOutcome {
    pub const ALL: &[NoticeOutcome] = &[
        Self::Applied,
        Self::Unchanged,
        Self::Deferred,
        Self::UnknownPayment,
        Self::Ignored,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Unchanged => "unchanged",
            Self::Deferred => "deferred",
            Self::UnknownPayment => "unknown_payment",
            Self::Ignored => "ignored",
        }
    }
}

impl fmt::Display for NoticeOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NoticeOutcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| format!("unknown gateway event outcome '{s}'"))
    }
}

/// One received gateway event, as the inbox keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayEventRecord {
    pub gateway: String,
    pub event_id: String,
    pub event_type: String,
    pub created_at: Timestamp,
    pub received_at: Timestamp,
    pub payment_id: Option<PaymentId>,
    pub outcome: NoticeOutcome,
    /// Why, for the log and staff: never a secret or card data.
    pub detail: Option<String>,
    /// True when this delivery was a repeat of an event already in the inbox: nothing was
    /// applied this time and the record is the first delivery's. Not stored.
    pub duplicate: bool,
}
