//! Flags: something about an order that staff must look at, raised by what another district
//! reports (today only a payment dispute, from payments' `payment.disputed` event, applied by
//! [`crate::consumer::PaymentsConsumer`]). A flag is open until a staff member resolves it.

use kassa_kernel::ids::{OrderId, StaffId};
use kassa_kernel::{Money, Timestamp};

kassa_kernel::typed_id!(
    /// One flag on an order.
    OrderFlagId, "ofl"
);

/// What raised a flag. Stored as TEXT with a CHECK, in the `as_str` form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlagKind {
    /// The shopper's bank disputes the order's payment (a chargeback): staff must answer the
    /// dispute at the gateway, usually before a deadline, and may hold the shipment.
    Dispute,
}

impl FlagKind {
    pub const ALL: [FlagKind; 1] = [FlagKind::Dispute];

    pub fn as_str(self) -> &'static str {
        match self {
            FlagKind::Dispute => "dispute",
        }
    }

    pub fn from_stored(text: &str) -> Option<FlagKind> {
        FlagKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl std::fmt::Display for FlagKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A flag on an order. The dispute's details are copied from the event that raised it and not
/// updated afterwards: they say what the gateway reported when the dispute was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFlag {
    pub id: OrderFlagId,
    pub order_id: OrderId,
    pub kind: FlagKind,
    /// What raised it, unique per kind: for a dispute, the gateway's dispute id (`dp_…`).
    pub source_ref: String,
    /// The gateway's reason, e.g. `fraudulent`, `product_not_received`.
    pub reason: String,
    /// The disputed amount.
    pub amount: Money,
    /// The dispute's status at the gateway when it was reported, e.g. `needs_response`.
    pub status: String,
    /// The disputed payment (payments' `pay_…` id), as the event named it.
    pub payment_id: String,
    pub raised_at: Timestamp,
    /// When a staff member marked it handled; `None` while it is open.
    pub resolved_at: Option<Timestamp>,
    /// Who resolved it; set exactly when `resolved_at` is.
    pub resolved_by: Option<StaffId>,
}

impl OrderFlag {
    /// Not resolved yet.
    pub fn is_open(&self) -> bool {
        self.resolved_at.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_kinds_round_trip_through_their_stored_form() {
        for kind in FlagKind::ALL {
            assert_eq!(FlagKind::from_stored(kind.as_str()), Some(kind));
        }
        assert_eq!(FlagKind::from_stored("Dispute"), None);
        assert_eq!(FlagKind::from_stored(""), None);
    }

    #[test]
    fn flag_ids_carry_their_prefix() {
        let id = OrderFlagId::new();
        assert!(id.to_string().starts_with("ofl_"));
        assert_eq!(id.to_string().parse::<OrderFlagId>(), Ok(id));
        assert!(OrderId::new().to_string().parse::<OrderFlagId>().is_err());
    }
}
