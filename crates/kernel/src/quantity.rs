//! Quantity: how many units of one variant a cart or order line holds.
//!
//! A [`Quantity`] is at least 1 (a line with nothing on it is removed, not kept at zero) and at
//! most [`QUANTITY_MAX`]. JSON carries it as a plain integer.

use std::fmt;

use crate::error::{DomainError, ErrorCategory, ProblemType};

pub const INVALID_QUANTITY: ProblemType = ProblemType::new(
    "invalid_quantity",
    "Invalid quantity",
    ErrorCategory::Invalid,
);

/// Most units on one line. A line above this is almost certainly a typo or abuse (a shopper
/// meant 9, or a script is hoarding stock), and the cap keeps a line total — unit price times
/// quantity — far from `i64` overflow for any sane price.
pub const QUANTITY_MAX: u32 = 999;

/// Why a number is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("quantity must be at least 1")]
    Zero,
    #[error("quantity must not be negative")]
    Negative,
    /// `value` is what was asked for, so the message can name it.
    #[error("quantity {value} is above the maximum of {max}")]
    TooLarge { value: u64, max: u32 },
}

impl DomainError for QuantityError {
    fn problem_type(&self) -> &'static ProblemType {
        &INVALID_QUANTITY
    }
}

/// A number of units from 1 to [`QUANTITY_MAX`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "i64", into = "u32")]
pub struct Quantity(u32);

impl Quantity {
    pub fn new(value: u32) -> Result<Quantity, QuantityError> {
        match value {
            0 => Err(QuantityError::Zero),
            1..=QUANTITY_MAX => Ok(Quantity(value)),
            _ => Err(QuantityError::TooLarge {
                value: u64::from(value),
                max: QUANTITY_MAX,
            }),
        }
    }

    /// For input that may be negative or beyond `u32`, such as a JSON number.
    pub fn try_from_i64(value: i64) -> Result<Quantity, QuantityError> {
        let non_negative = u64::try_from(value).map_err(|_| QuantityError::Negative)?;
        let too_large = QuantityError::TooLarge {
            value: non_negative,
            max: QUANTITY_MAX,
        };
        let small = u32::try_from(non_negative).map_err(|_| too_large)?;
        Quantity::new(small)
    }

    pub fn get(&self) -> u32 {
        self.0
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl TryFrom<i64> for Quantity {
    type Error = QuantityError;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Quantity::try_from_i64(value)
    }
}

impl From<Quantity> for u32 {
    fn from(quantity: Quantity) -> Self {
        quantity.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn zero_is_refused_and_one_is_accepted() {
        assert_eq!(Quantity::new(0), Err(QuantityError::Zero));
        assert_eq!(Quantity::new(1).map(|q| q.get()), Ok(1));
        assert_eq!(Quantity::try_from_i64(0), Err(QuantityError::Zero));
        assert_eq!(Quantity::try_from_i64(1).map(|q| q.get()), Ok(1));
    }

    #[test]
    fn the_maximum_is_accepted_and_one_past_it_is_refused() {
        assert_eq!(Quantity::new(999).map(|q| q.get()), Ok(999));
        let too_large = QuantityError::TooLarge {
            value: 1000,
            max: 999,
        };
        assert_eq!(Quantity::new(1000), Err(too_large.clone()));
        assert_eq!(Quantity::try_from_i64(1000), Err(too_large));
    }

    #[test]
    fn negative_numbers_are_refused() {
        assert_eq!(Quantity::try_from_i64(-1), Err(QuantityError::Negative));
        assert_eq!(
            Quantity::try_from_i64(i64::MIN),
            Err(QuantityError::Negative)
        );
    }

    #[test]
    fn numbers_beyond_u32_are_too_large_and_named() {
        let err = Quantity::try_from_i64(i64::MAX).unwrap_err();
        assert_eq!(
            err.to_string(),
            "quantity 9223372036854775807 is above the maximum of 999"
        );
        assert!(Quantity::new(u32::MAX).is_err());
    }

    #[test]
    fn error_messages_are_client_safe_sentences() {
        let message = |n: i64| Quantity::try_from_i64(n).unwrap_err().to_string();
        assert_eq!(message(0), "quantity must be at least 1");
        assert_eq!(message(-1), "quantity must not be negative");
        assert_eq!(message(1000), "quantity 1000 is above the maximum of 999");
    }

    #[test]
    fn serde_is_a_json_integer() {
        let quantity = Quantity::new(3).unwrap();
        assert_eq!(serde_json::to_string(&quantity).unwrap(), "3");
        assert_eq!(serde_json::from_str::<Quantity>("3").unwrap(), quantity);
        assert_eq!(serde_json::from_str::<Quantity>("999").unwrap().get(), 999);
    }

    #[test]
    fn deserialising_gives_the_matching_error_message() {
        let message = |json: &str| {
            serde_json::from_str::<Quantity>(json)
                .unwrap_err()
                .to_string()
        };
        assert!(message("-1").contains("quantity must not be negative"));
        assert!(message("0").contains("quantity must be at least 1"));
        assert!(message("1000").contains("quantity 1000 is above the maximum of 999"));
        assert!(serde_json::from_str::<Quantity>("1.5").is_err());
        assert!(serde_json::from_str::<Quantity>("\"3\"").is_err());
    }

    #[test]
    fn quantity_errors_are_invalid_quantity_problems() {
        assert_eq!(QuantityError::Zero.problem_type().code, "invalid_quantity");
        assert_eq!(
            QuantityError::Negative.problem_type().title,
            "Invalid quantity"
        );
    }

    proptest! {
        #[test]
        fn every_i64_is_a_quantity_exactly_when_in_range(n: i64) {
            let parsed = Quantity::try_from_i64(n);
            prop_assert_eq!(parsed.is_ok(), (1..=999).contains(&n));
            if let Ok(quantity) = parsed {
                let json = serde_json::to_string(&quantity).unwrap();
                prop_assert_eq!(serde_json::from_str::<Quantity>(&json).unwrap(), quantity);
            }
        }
    }
}
