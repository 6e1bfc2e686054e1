//! Stock levels per SKU and location, locations, and staff adjustments.

use kassa_kernel::{DomainError, ErrorCategory, ProblemType, Sku, Timestamp};

use super::{AdjustmentId, LocationId};

pub const INVALID_LOCATION_NAME: ProblemType = ProblemType::new(
    "invalid_location_name",
    "Invalid location name",
    ErrorCategory::Invalid,
);

/// Most units of one SKU at one location. Far above any real stock, so it never refuses a
/// genuine count, yet small enough that it fits a `u32`, that sums over many locations fit a
/// `u64`, and that a typo of a few extra digits is refused instead of selling stock that does
/// not exist. The migration's CHECK on `inventory_stock.on_hand` repeats this value.
pub const STOCK_ON_HAND_MAX: u32 = 1_000_000_000;

/// Longest adjustment reason, in characters: a sentence for the audit trail, not a document.
/// The migration's CHECK on `inventory_adjustments.reason` repeats this value.
pub const ADJUSTMENT_REASON_LEN_MAX: usize = 200;

/// Longest location name, in characters; repeated by the migration's CHECK.
pub const LOCATION_NAME_LEN_MAX: usize = 100;

/// The stock of one SKU at one location. Loaded values always satisfy
/// `reserved <= on_hand <= STOCK_ON_HAND_MAX`: the database enforces it, and the store checks it
/// again when it reads a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockLevel {
    pub sku: Sku,
    pub location_id: LocationId,
    /// Units physically held.
    pub on_hand: u32,
    /// Units held for orders not yet confirmed (active reservations).
    pub reserved: u32,
    pub updated_at: Timestamp,
}

impl StockLevel {
    /// Units that can still be reserved: `on_hand - reserved`.
    pub fn available(&self) -> u32 {
        self.on_hand.saturating_sub(self.reserved)
    }
}

/// One SKU's stock over every location that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockSummary {
    pub sku: Sku,
    /// By location id. Empty for a SKU that was never stocked; its totals are zero.
    pub levels: Vec<StockLevel>,
    pub on_hand: u64,
    pub reserved: u64,
    /// `on_hand - reserved` over all locations.
    pub available: u64,
}

impl StockSummary {
    pub fn new(sku: Sku, levels: Vec<StockLevel>) -> StockSummary {
        let on_hand = levels.iter().map(|l| u64::from(l.on_hand)).sum();
        let reserved = levels.iter().map(|l| u64::from(l.reserved)).sum();
        let available = levels.iter().map(|l| u64::from(l.available())).sum();
        StockSummary {
            sku,
            levels,
            on_hand,
            reserved,
            available,
        }
    }

    /// The level at `location`, if the SKU is stocked there.
    pub fn at(&self, location: LocationId) -> Option<&StockLevel> {
        self.levels.iter().find(|l| l.location_id == location)
    }
}

/// A place stock is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub id: LocationId,
    pub name: LocationName,
    pub created_at: Timestamp,
}

/// Why a location name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationNameError {
    #[error("a location name must not be blank")]
    Blank,
    #[error("a location name is at most {max} characters; this one has {len}")]
    TooLong { len: usize, max: usize },
}

impl DomainError for LocationNameError {
    fn problem_type(&self) -> &'static ProblemType {
        &INVALID_LOCATION_NAME
    }
}

/// A location's name for staff: trimmed, 1 to [`LOCATION_NAME_LEN_MAX`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationName(String);

impl LocationName {
    pub fn parse(s: &str) -> Result<LocationName, LocationNameError> {
        let trimmed = s.trim();
        let len = trimmed.chars().count();
        if len == 0 {
            return Err(LocationNameError::Blank);
        }
        if len > LOCATION_NAME_LEN_MAX {
            return Err(LocationNameError::TooLong {
                len,
                max: LOCATION_NAME_LEN_MAX,
            });
        }
        Ok(LocationName(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why an adjustment was refused before it reached the database, or because of the level it
/// would produce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdjustmentError {
    #[error("an adjustment must change the stock: the delta is 0")]
    ZeroDelta,
    #[error("an adjustment changes the stock by at most {max} units; {delta} was given")]
    DeltaTooLarge { delta: i64, max: u32 },
    #[error("an adjustment needs a reason")]
    BlankReason,
    #[error("an adjustment reason is at most {max} characters; this one has {len}")]
    ReasonTooLong { len: usize, max: usize },
    /// Taking away more than is on hand: the count is wrong, whatever is reserved.
    #[error("removing {removed} units would leave {sku} below zero: {on_hand} on hand")]
    BelowZero {
        sku: Sku,
        removed: u64,
        on_hand: u32,
    },
    #[error("adding {added} units would take {sku} above the maximum of {max} on hand")]
    AboveMax { sku: Sku, added: i64, max: u32 },
}

/// Checks a delta on its own: not zero, and no larger than any level can be.
pub fn check_delta(delta: i64) -> Result<(), AdjustmentError> {
    if delta == 0 {
        return Err(AdjustmentError::ZeroDelta);
    }
    if delta.unsigned_abs() > u64::from(STOCK_ON_HAND_MAX) {
        return Err(AdjustmentError::DeltaTooLarge {
            delta,
            max: STOCK_ON_HAND_MAX,
        });
    }
    Ok(())
}

/// Why stock was adjusted, for the audit trail: trimmed, 1 to [`ADJUSTMENT_REASON_LEN_MAX`]
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdjustmentReason(String);

impl AdjustmentReason {
    pub fn parse(s: &str) -> Result<AdjustmentReason, AdjustmentError> {
        let trimmed = s.trim();
        let len = trimmed.chars().count();
        if len == 0 {
            return Err(AdjustmentError::BlankReason);
        }
        if len > ADJUSTMENT_REASON_LEN_MAX {
            return Err(AdjustmentError::ReasonTooLong {
                len,
                max: ADJUSTMENT_REASON_LEN_MAX,
            });
        }
        Ok(AdjustmentReason(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A recorded adjustment and the level it produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub id: AdjustmentId,
    /// Units added (positive) or removed (negative); never 0.
    pub delta: i64,
    pub reason: AdjustmentReason,
    pub at: Timestamp,
    /// The stock right after the adjustment.
    pub level: StockLevel,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn level(on_hand: u32, reserved: u32) -> StockLevel {
        StockLevel {
            sku: Sku::parse("MUG").unwrap(),
            location_id: LocationId::DEFAULT,
            on_hand,
            reserved,
            updated_at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_summary_adds_up_its_locations() {
        let mut other = level(STOCK_ON_HAND_MAX, 1);
        other.location_id = LocationId::new();
        let summary = StockSummary::new(Sku::parse("MUG").unwrap(), vec![level(5, 2), other]);
        assert_eq!(summary.on_hand, 1_000_000_005);
        assert_eq!(summary.reserved, 3);
        assert_eq!(summary.available, 1_000_000_002);
        assert_eq!(summary.at(LocationId::DEFAULT), Some(&level(5, 2)));
    }

    #[test]
    fn a_delta_must_be_non_zero_and_at_most_the_maximum_level() {
        assert_eq!(check_delta(0), Err(AdjustmentError::ZeroDelta));
        assert_eq!(check_delta(1), Ok(()));
        assert_eq!(check_delta(-1_000_000_000), Ok(()));
        assert_eq!(
            check_delta(1_000_000_001),
            Err(AdjustmentError::DeltaTooLarge {
                delta: 1_000_000_001,
                max: STOCK_ON_HAND_MAX
            })
        );
        assert!(check_delta(i64::MIN).is_err());
    }

    #[test]
    fn a_reason_is_trimmed_and_bounded() {
        assert_eq!(
            AdjustmentReason::parse("  recount ").unwrap().as_str(),
            "recount"
        );
        assert_eq!(
            AdjustmentReason::parse(" \t"),
            Err(AdjustmentError::BlankReason)
        );
        let longest = "x".repeat(ADJUSTMENT_REASON_LEN_MAX);
        assert!(AdjustmentReason::parse(&longest).is_ok());
        assert_eq!(
            AdjustmentReason::parse(&format!("{longest}x")),
            Err(AdjustmentError::ReasonTooLong { len: 201, max: 200 })
        );
    }

    #[test]
    fn a_location_name_is_trimmed_and_bounded() {
        assert_eq!(LocationName::parse(" Berlin ").unwrap().as_str(), "Berlin");
        assert_eq!(LocationName::parse(""), Err(LocationNameError::Blank));
        assert!(LocationName::parse(&"b".repeat(100)).is_ok());
        assert_eq!(
            LocationName::parse(&"b".repeat(101)),
            Err(LocationNameError::TooLong { len: 101, max: 100 })
        );
    }
}
