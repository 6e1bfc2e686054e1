//! Reservations: units held for one order, all lines or none, until the order is confirmed
//! (commit), gives up (release) or its TTL passes (expire).
//!
//! A reservation's status leaves `active` exactly once and then never changes:
//!
//! ```text
//! active ──commit──▶ committed   (its units leave stock for good)
//!    ├────release──▶ released    (its units are available again)
//!    └────expire───▶ expired     (the sweeper released it after its TTL)
//! ```
//!
//! The transition is made by the store's conditional `UPDATE … WHERE status = 'active'`, not by
//! checking a loaded status in Rust and writing it back: two callers racing (a commit and the
//! sweeper, two commits) then apply it once on every backend, and the loser sees the winner's
//! status.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use kassa_kernel::{Quantity, Sku, Timestamp};

use super::{LocationId, ReservationId};

/// Most lines one reservation takes, before same-SKU lines are combined. A cart's lines are
/// priced in one catalog call of at most 500 SKUs (`kassa_catalog::OFFER_SKUS_MAX`), so any
/// cart the catalog can price can be reserved; the bound keeps the row locks one reservation
/// holds, and so the length of its transaction, finite.
pub const RESERVATION_LINES_MAX: usize = 500;

/// Longest order reference, in characters. The orders district's ids are under 40; 128 leaves
/// room for another id scheme without letting a caller store a document as a key.
pub const ORDER_REF_LEN_MAX: usize = 128;

/// Shortest TTL a reservation may be given: shorter would expire before a payment could be
/// authorized.
pub const RESERVATION_TTL_MIN: Duration = Duration::from_secs(1);

/// Longest TTL: a day covers the slowest payment flow (a bank redirect left open overnight)
/// while an abandoned order can never hold units from every other buyer indefinitely.
pub const RESERVATION_TTL_MAX: Duration = Duration::from_secs(24 * 60 * 60);

/// Where a reservation is in its life; see the module documentation for the transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReservationStatus {
    /// Holding its units (`reserved` counts them).
    Active,
    /// Its units left stock for good (`on_hand` and `reserved` both went down).
    Committed,
    /// Released by the caller; its units are available again.
    Released,
    /// Released by the sweeper after its TTL passed.
    Expired,
}

impl ReservationStatus {
    /// The stored form, one of the values the table's CHECK allows.
    pub fn as_str(&self) -> &'static str {
        match self {
            ReservationStatus::Active => "active",
            ReservationStatus::Committed => "committed",
            ReservationStatus::Released => "released",
            ReservationStatus::Expired => "expired",
        }
    }
}

impl fmt::Display for ReservationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReservationStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(ReservationStatus::Active),
            "committed" => Ok(ReservationStatus::Committed),
            "released" => Ok(ReservationStatus::Released),
            "expired" => Ok(ReservationStatus::Expired),
            other => Err(format!("'{other}' is not a reservation status")),
        }
    }
}

/// Units of one SKU held at one location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationLine {
    pub sku: Sku,
    pub location_id: LocationId,
    /// At least 1. The sum of the request's lines for this SKU, so it may exceed
    /// `kassa_kernel::QUANTITY_MAX`.
    pub quantity: u32,
}

/// The units held for one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub id: ReservationId,
    /// The orders district's id of the order, opaque here; one reservation per order.
    pub order_ref: String,
    pub status: ReservationStatus,
    /// By SKU.
    pub lines: Vec<ReservationLine>,
    /// When the sweeper may expire it if it is still active. A commit at or after this instant
    /// is refused, whether or not the sweeper has run.
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
    /// When the status last changed (or the creation time).
    pub updated_at: Timestamp,
}

/// One SKU a reservation could not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortage {
    pub sku: Sku,
    pub requested: u32,
    /// What could have been reserved at the reservation location when the request was refused.
    pub available: u32,
}

impl fmt::Display for Shortage {
    /// `2 units of TSHIRT-RED-M requested, 1 available.`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = if self.requested == 1 { "unit" } else { "units" };
        write!(
            f,
            "{} {units} of {} requested, {} available.",
            self.requested, self.sku, self.available
        )
    }
}

/// Why a reservation request was refused before any stock was looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReservationRequestError {
    #[error("the order reference must not be blank")]
    BlankOrderRef,
    #[error("the order reference is at most {max} characters; this one has {len}")]
    OrderRefTooLong { len: usize, max: usize },
    #[error("the order reference must not contain control characters")]
    OrderRefControlCharacter,
    #[error("a reservation needs at least one line")]
    NoLines,
    #[error("a reservation takes at most {max} lines; this one has {count}")]
    TooManyLines { count: usize, max: usize },
    #[error("a reservation's TTL is from {min_ms} to {max_ms} ms; {ttl_ms} ms was given")]
    TtlOutOfRange {
        ttl_ms: u128,
        min_ms: u128,
        max_ms: u128,
    },
}

/// A reservation request that can be applied: a usable order reference and at least one line,
/// with the same SKU's lines combined and the lines in SKU order, the order in which their
/// stock rows are locked (so two multi-line reservations never deadlock on PostgreSQL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRequest {
    order_ref: String,
    lines: Vec<(Sku, u32)>,
}

impl ReservationRequest {
    pub fn new(
        order_ref: String,
        lines: &[(Sku, Quantity)],
    ) -> Result<ReservationRequest, ReservationRequestError> {
        check_order_ref(&order_ref)?;
        if lines.is_empty() {
            return Err(ReservationRequestError::NoLines);
        }
        if lines.len() > RESERVATION_LINES_MAX {
            return Err(ReservationRequestError::TooManyLines {
                count: lines.len(),
                max: RESERVATION_LINES_MAX,
            });
        }
        let mut combined: BTreeMap<Sku, u32> = BTreeMap::new();
        for (sku, quantity) in lines {
            // At most 500 lines of at most 999 units: the sum stays far below u32::MAX.
            *combined.entry(sku.clone()).or_default() += quantity.get();
        }
        Ok(ReservationRequest {
            order_ref,
            lines: combined.into_iter().collect(),
        })
    }

    pub fn order_ref(&self) -> &str {
        &self.order_ref
    }

    /// One entry per SKU, in SKU order, each at least 1.
    pub fn lines(&self) -> &[(Sku, u32)] {
        &self.lines
    }
}

/// Checks an order reference as given to `commit`, `release` or `reservation`; the same rule
/// as for [`ReservationRequest::new`], so a reference that could never have been stored is
/// refused as invalid rather than reported as not found.
pub fn check_order_ref(order_ref: &str) -> Result<(), ReservationRequestError> {
    let len = order_ref.chars().count();
    if order_ref.trim().is_empty() {
        return Err(ReservationRequestError::BlankOrderRef);
    }
    if len > ORDER_REF_LEN_MAX {
        return Err(ReservationRequestError::OrderRefTooLong {
            len,
            max: ORDER_REF_LEN_MAX,
        });
    }
    if order_ref.chars().any(char::is_control) {
        return Err(ReservationRequestError::OrderRefControlCharacter);
    }
    Ok(())
}

/// Checks a TTL against [`RESERVATION_TTL_MIN`] and [`RESERVATION_TTL_MAX`] and returns it in
/// milliseconds.
pub fn ttl_millis(ttl: Duration) -> Result<i64, ReservationRequestError> {
    let out_of_range = || ReservationRequestError::TtlOutOfRange {
        ttl_ms: ttl.as_millis(),
        min_ms: RESERVATION_TTL_MIN.as_millis(),
        max_ms: RESERVATION_TTL_MAX.as_millis(),
    };
    if !(RESERVATION_TTL_MIN..=RESERVATION_TTL_MAX).contains(&ttl) {
        return Err(out_of_range());
    }
    i64::try_from(ttl.as_millis()).map_err(|_| out_of_range())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sku(code: &str) -> Sku {
        Sku::parse(code).unwrap()
    }

    fn qty(n: u32) -> Quantity {
        Quantity::new(n).unwrap()
    }

    #[test]
    fn lines_of_the_same_sku_are_combined_and_sorted_by_sku() {
        let request = ReservationRequest::new(
            "ord-1".into(),
            &[
                (sku("ZED"), qty(2)),
                (sku("ALPHA"), qty(1)),
                (sku("ZED"), qty(999)),
            ],
        )
        .unwrap();
        assert_eq!(request.order_ref(), "ord-1");
        assert_eq!(request.lines(), [(sku("ALPHA"), 1), (sku("ZED"), 1001)]);
    }

    #[test]
    fn a_request_needs_lines_and_at_most_the_maximum() {
        assert_eq!(
            ReservationRequest::new("o".into(), &[]),
            Err(ReservationRequestError::NoLines)
        );
        let full = vec![(sku("A"), qty(1)); RESERVATION_LINES_MAX];
        assert!(ReservationRequest::new("o".into(), &full).is_ok());
        let over = vec![(sku("A"), qty(1)); RESERVATION_LINES_MAX + 1];
        assert_eq!(
            ReservationRequest::new("o".into(), &over),
            Err(ReservationRequestError::TooManyLines {
                count: 501,
                max: 500
            })
        );
    }

    #[test]
    fn an_order_ref_is_not_blank_bounded_and_printable() {
        assert_eq!(
            check_order_ref(" "),
            Err(ReservationRequestError::BlankOrderRef)
        );
        assert!(check_order_ref(&"o".repeat(ORDER_REF_LEN_MAX)).is_ok());
        assert_eq!(
            check_order_ref(&"o".repeat(ORDER_REF_LEN_MAX + 1)),
            Err(ReservationRequestError::OrderRefTooLong { len: 129, max: 128 })
        );
        assert_eq!(
            check_order_ref("ord\n1"),
            Err(ReservationRequestError::OrderRefControlCharacter)
        );
    }

    #[test]
    fn a_ttl_is_within_its_bounds() {
        assert_eq!(ttl_millis(RESERVATION_TTL_MIN), Ok(1_000));
        assert_eq!(ttl_millis(RESERVATION_TTL_MAX), Ok(86_400_000));
        assert!(ttl_millis(RESERVATION_TTL_MIN - Duration::from_millis(1)).is_err());
        assert!(ttl_millis(RESERVATION_TTL_MAX + Duration::from_millis(1)).is_err());
    }

    #[test]
    fn statuses_round_trip_through_their_stored_form() {
        for status in [
            ReservationStatus::Active,
            ReservationStatus::Committed,
            ReservationStatus::Released,
            ReservationStatus::Expired,
        ] {
            assert_eq!(status.as_str().parse(), Ok(status));
        }
        assert!("cancelled".parse::<ReservationStatus>().is_err());
    }

    #[test]
    fn a_shortage_reads_as_a_sentence() {
        let shortage = Shortage {
            sku: sku("TSHIRT-RED-M"),
            requested: 2,
            available: 1,
        };
        assert_eq!(
            shortage.to_string(),
            "2 units of TSHIRT-RED-M requested, 1 available."
        );
        let one = Shortage {
            requested: 1,
            available: 0,
            ..shortage
        };
        assert_eq!(
            one.to_string(),
            "1 unit of TSHIRT-RED-M requested, 0 available."
        );
    }
}
