//! `InventoryError` and the inventory's entries in the problem registry.
//!
//! Messages are shown to clients as the problem `detail`, so they name what the caller can act
//! on (the SKU, the units, the order) and never include internals; storage failures keep their
//! source for the log and show only a generic text.

use std::sync::Arc;

use kassa_db::DbError;
use kassa_kernel::{DomainError, ErrorCategory, ProblemType, Sku, Timestamp};

use crate::model::{
    AdjustmentError, LocationId, ReservationRequestError, ReservationStatus, Shortage,
    INVALID_LOCATION_NAME,
};

pub const INSUFFICIENT_STOCK: ProblemType = ProblemType::new(
    "insufficient_stock",
    "Insufficient stock",
    ErrorCategory::Conflict,
);
pub const RESERVATION_NOT_FOUND: ProblemType = ProblemType::new(
    "reservation_not_found",
    "Reservation not found",
    ErrorCategory::NotFound,
);
pub const RESERVATION_COMMITTED: ProblemType = ProblemType::new(
    "reservation_committed",
    "Reservation already committed",
    ErrorCategory::Conflict,
);
pub const RESERVATION_RELEASED: ProblemType = ProblemType::new(
    "reservation_released",
    "Reservation released",
    ErrorCategory::Conflict,
);
pub const RESERVATION_EXPIRED: ProblemType = ProblemType::new(
    "reservation_expired",
    "Reservation expired",
    ErrorCategory::Conflict,
);
pub const RESERVATION_NOT_COMMITTED: ProblemType = ProblemType::new(
    "reservation_not_committed",
    "Reservation not committed",
    ErrorCategory::Conflict,
);
pub const INVALID_RESERVATION: ProblemType = ProblemType::new(
    "invalid_reservation",
    "Invalid reservation",
    ErrorCategory::Invalid,
);
pub const STOCK_BELOW_RESERVED: ProblemType = ProblemType::new(
    "stock_below_reserved",
    "Stock below reserved units",
    ErrorCategory::Conflict,
);
pub const STOCK_NOT_FOUND: ProblemType = ProblemType::new(
    "stock_not_found",
    "Stock not found",
    ErrorCategory::NotFound,
);
pub const INVALID_STOCK_ADJUSTMENT: ProblemType = ProblemType::new(
    "invalid_stock_adjustment",
    "Invalid stock adjustment",
    ErrorCategory::Invalid,
);
pub const INVALID_STOCK_LEVEL: ProblemType = ProblemType::new(
    "invalid_stock_level",
    "Invalid stock level",
    ErrorCategory::Invalid,
);
pub const TOO_MANY_SKUS: ProblemType =
    ProblemType::new("too_many_skus", "Too many SKUs", ErrorCategory::Invalid);
pub const LOCATION_NOT_FOUND: ProblemType = ProblemType::new(
    "location_not_found",
    "Location not found",
    ErrorCategory::NotFound,
);
pub const INVENTORY_STORAGE_UNAVAILABLE: ProblemType = ProblemType::new(
    "inventory_storage_unavailable",
    "Inventory storage unavailable",
    ErrorCategory::Unavailable,
);
pub const INVENTORY_STORAGE_ERROR: ProblemType = ProblemType::new(
    "inventory_storage_error",
    "Inventory storage error",
    ErrorCategory::Internal,
);
pub const INVENTORY_INTERNAL_ERROR: ProblemType = ProblemType::new(
    "inventory_internal_error",
    "Inventory internal error",
    ErrorCategory::Internal,
);

/// Every problem type the inventory owns, including `invalid_location_name` of
/// [`crate::model::LocationNameError`]. A bad SKU or quantity is the kernel's.
pub const PROBLEM_TYPES: &[&ProblemType] = &[
    &INSUFFICIENT_STOCK,
    &RESERVATION_NOT_FOUND,
    &RESERVATION_COMMITTED,
    &RESERVATION_RELEASED,
    &RESERVATION_EXPIRED,
    &RESERVATION_NOT_COMMITTED,
    &INVALID_RESERVATION,
    &STOCK_BELOW_RESERVED,
    &STOCK_NOT_FOUND,
    &INVALID_STOCK_ADJUSTMENT,
    &INVALID_STOCK_LEVEL,
    &TOO_MANY_SKUS,
    &LOCATION_NOT_FOUND,
    &INVALID_LOCATION_NAME,
    &INVENTORY_STORAGE_UNAVAILABLE,
    &INVENTORY_STORAGE_ERROR,
    &INVENTORY_INTERNAL_ERROR,
];

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// Nothing was reserved. `lines` names every SKU found short, in SKU order, with what was
    /// asked and what was available; the HTTP layer may list them.
    #[error("{}", sentences(lines))]
    InsufficientStock { lines: Vec<Shortage> },
    #[error("No stock is reserved for order {order_ref}.")]
    ReservationNotFound { order_ref: String },
    /// A committed reservation's units have left stock; they cannot be released.
    #[error("The stock reserved for order {order_ref} is committed and cannot be released.")]
    ReservationCommitted { order_ref: String },
    #[error(
        "The stock reserved for order {order_ref} was released and cannot be committed; \
         reserve it again."
    )]
    ReservationReleased { order_ref: String },
    #[error(
        "The stock reserved for order {order_ref} expired at {expires_at} and cannot be \
         committed; reserve it again."
    )]
    ReservationExpired {
        order_ref: String,
        expires_at: Timestamp,
    },
    /// Restocking needs a committed reservation: units that never left stock cannot return.
    #[error(
        "The stock reserved for order {order_ref} is {status}, not committed; there is \
         nothing to restock."
    )]
    ReservationNotCommitted {
        order_ref: String,
        status: ReservationStatus,
    },
    #[error("The reservation is invalid: {0}.")]
    InvalidReservation(#[from] ReservationRequestError),
    /// Setting or adjusting `on_hand` below what active reservations hold.
    #[error(
        "{sku} cannot have {on_hand} on hand at location {location_id}: {reserved} are \
         reserved for orders."
    )]
    StockBelowReserved {
        sku: Sku,
        location_id: LocationId,
        /// The level that was asked for.
        on_hand: i64,
        reserved: u32,
    },
    /// Adjusting a SKU that has no stock row at the location; `set_stock` creates one.
    #[error("{sku} has no stock at location {location_id}; set its stock first.")]
    StockNotFound { sku: Sku, location_id: LocationId },
    #[error("The stock adjustment is invalid: {0}.")]
    InvalidStockAdjustment(#[from] AdjustmentError),
    #[error("{on_hand} units on hand is above the maximum of {max}.")]
    InvalidStockLevel { on_hand: u32, max: u32 },
    #[error("At most {max} SKUs can be looked up at once; {count} were asked for.")]
    TooManySkus { count: usize, max: usize },
    #[error("There is no location {0}.")]
    LocationNotFound(LocationId),
    #[error("The inventory's storage is unavailable; try again shortly.")]
    StorageUnavailable(#[source] DbError),
    #[error("The inventory's storage failed.")]
    Storage(#[source] DbError),
    /// The transaction of a batch of reservations (see [`crate::Inventory`]) failed, so every
    /// `reserve` call in it fails with this one error, shared: its message, code and category
    /// are the inner error's (a storage failure, or an invariant), and nothing of the batch was
    /// reserved. A batch of one returns its error unwrapped.
    #[error(transparent)]
    ReservationBatchFailed(Arc<InventoryError>),
    /// One of our own invariants did not hold (a committed line found fewer units reserved
    /// than it holds). The transaction was rolled back; the text is logged, never shown.
    #[error("An inventory invariant did not hold: {0}")]
    Invariant(String),
}

fn sentences(lines: &[Shortage]) -> String {
    lines
        .iter()
        .map(Shortage::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

impl InventoryError {
    /// The SKUs found short, for an `insufficient_stock` problem; empty for every other error.
    pub fn shortages(&self) -> &[Shortage] {
        match self {
            InventoryError::InsufficientStock { lines } => lines,
            InventoryError::ReservationBatchFailed(inner) => inner.shortages(),
            _ => &[],
        }
    }
}

impl From<DbError> for InventoryError {
    fn from(err: DbError) -> Self {
        if err.is_unavailable() {
            InventoryError::StorageUnavailable(err)
        } else {
            InventoryError::Storage(err)
        }
    }
}

impl DomainError for InventoryError {
    fn problem_type(&self) -> &'static ProblemType {
        match self {
            InventoryError::InsufficientStock { .. } => &INSUFFICIENT_STOCK,
            InventoryError::ReservationNotFound { .. } => &RESERVATION_NOT_FOUND,
            InventoryError::ReservationCommitted { .. } => &RESERVATION_COMMITTED,
            InventoryError::ReservationReleased { .. } => &RESERVATION_RELEASED,
            InventoryError::ReservationExpired { .. } => &RESERVATION_EXPIRED,
            InventoryError::ReservationNotCommitted { .. } => &RESERVATION_NOT_COMMITTED,
            InventoryError::InvalidReservation(_) => &INVALID_RESERVATION,
            InventoryError::StockBelowReserved { .. } => &STOCK_BELOW_RESERVED,
            InventoryError::StockNotFound { .. } => &STOCK_NOT_FOUND,
            InventoryError::InvalidStockAdjustment(_) => &INVALID_STOCK_ADJUSTMENT,
            InventoryError::InvalidStockLevel { .. } => &INVALID_STOCK_LEVEL,
            InventoryError::TooManySkus { .. } => &TOO_MANY_SKUS,
            InventoryError::LocationNotFound(_) => &LOCATION_NOT_FOUND,
            InventoryError::StorageUnavailable(_) => &INVENTORY_STORAGE_UNAVAILABLE,
            InventoryError::Storage(_) => &INVENTORY_STORAGE_ERROR,
            InventoryError::Invariant(_) => &INVENTORY_INTERNAL_ERROR,
            InventoryError::ReservationBatchFailed(inner) => inner.problem_type(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sku(code: &str) -> Sku {
        Sku::parse(code).unwrap()
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
    fn every_error_maps_to_a_registered_problem() {
        let errors = [
            InventoryError::InsufficientStock { lines: Vec::new() },
            InventoryError::ReservationNotFound {
                order_ref: "o".into(),
            },
            InventoryError::ReservationExpired {
                order_ref: "o".into(),
                expires_at: Timestamp::UNIX_EPOCH,
            },
            InventoryError::ReservationNotCommitted {
                order_ref: "o".into(),
                status: ReservationStatus::Active,
            },
            InventoryError::InvalidReservation(ReservationRequestError::NoLines),
            InventoryError::InvalidStockAdjustment(AdjustmentError::ZeroDelta),
            InventoryError::StockNotFound {
                sku: sku("A"),
                location_id: LocationId::DEFAULT,
            },
            InventoryError::LocationNotFound(LocationId::DEFAULT),
            InventoryError::Storage(DbError::Corrupt("x".into())),
            InventoryError::Invariant("x".into()),
            InventoryError::ReservationBatchFailed(Arc::new(InventoryError::Invariant("x".into()))),
        ];
        for err in errors {
            assert!(PROBLEM_TYPES.contains(&err.problem_type()), "{err:?}");
        }
    }

    #[test]
    fn insufficient_stock_names_every_short_sku_and_exposes_them() {
        let err = InventoryError::InsufficientStock {
            lines: vec![
                Shortage {
                    sku: sku("MUG"),
                    requested: 1,
                    available: 0,
                },
                Shortage {
                    sku: sku("TSHIRT-RED-M"),
                    requested: 2,
                    available: 1,
                },
            ],
        };
        assert_eq!(err.problem_type().category, ErrorCategory::Conflict);
        assert_eq!(
            err.detail(),
            "1 unit of MUG requested, 0 available. 2 units of TSHIRT-RED-M requested, 1 available."
        );
        assert_eq!(err.shortages().len(), 2);
        assert!(InventoryError::Invariant("x".into()).shortages().is_empty());
    }

    #[test]
    fn internal_errors_show_a_generic_detail() {
        let err = InventoryError::Invariant("reserved went negative".into());
        assert!(!err.detail().contains("negative"));
        let err = InventoryError::Storage(DbError::Corrupt("column sku".into()));
        assert!(!err.detail().contains("sku"));
    }

    #[test]
    fn a_failed_batch_reports_its_inner_error_to_every_caller() {
        let inner = Arc::new(InventoryError::StorageUnavailable(DbError::Overloaded));
        let err = InventoryError::ReservationBatchFailed(inner.clone());
        assert_eq!(err.problem_type(), inner.problem_type());
        assert_eq!(err.problem_type().category, ErrorCategory::Unavailable);
        assert_eq!(err.detail(), inner.detail());
        let internal = InventoryError::ReservationBatchFailed(Arc::new(InventoryError::Invariant(
            "reserved went negative".into(),
        )));
        assert_eq!(internal.problem_type(), &INVENTORY_INTERNAL_ERROR);
        assert!(!internal.detail().contains("negative"));
    }
}
