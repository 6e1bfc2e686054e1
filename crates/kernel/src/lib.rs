//! The kernel: value types every kassa district shares, with no I/O.
//!
//! Start with [`Money`] and [`Currency`] (amounts in minor units, checked arithmetic), then the
//! typed ids in [`ids`], the validated inputs ([`Sku`], [`Quantity`], [`CountryCode`],
//! [`Email`]), time ([`Timestamp`], [`Clock`]) and the error contract ([`ProblemType`],
//! [`ErrorCategory`], [`DomainError`]) that lets the HTTP layer turn any district's error into a
//! problem document without the district knowing about HTTP.
//!
//! Nothing here talks to a database, the network or the clock on the wall, except
//! [`SystemClock`], which reads it on purpose.

pub mod clock;
pub mod country;
pub mod email;
pub mod error;
pub mod ids;
pub mod money;
pub mod quantity;
pub mod rounding;
pub mod sku;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp, TimestampError};
pub use country::{CountryCode, CountryError};
pub use email::{Email, EmailError};
pub use error::{DomainError, ErrorCategory, ProblemType};
pub use money::{Currency, Money, MoneyError};
pub use quantity::{Quantity, QuantityError, QUANTITY_MAX};
pub use rounding::{allocate, apply_rate, Rate, RateError, RoundingMode};
pub use sku::{Sku, SkuError, SKU_LEN_MAX};

/// Every problem type the kernel's errors can name, for the workspace-wide registry.
pub const PROBLEM_TYPES: &[&ProblemType] = &[
    &money::UNKNOWN_CURRENCY,
    &money::CURRENCY_MISMATCH,
    &money::AMOUNT_OVERFLOW,
    &rounding::INVALID_RATE,
    &sku::INVALID_SKU,
    &quantity::INVALID_QUANTITY,
    &country::INVALID_COUNTRY,
    &email::INVALID_EMAIL,
    &clock::INVALID_TIMESTAMP,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_codes_are_unique_snake_case_and_titled() {
        assert_eq!(
            error::check_problem_types(PROBLEM_TYPES),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_error_names_a_registered_problem_type() {
        let errors: Vec<Box<dyn DomainError>> = vec![
            Box::new(MoneyError::UnknownCurrency("XYZ".into())),
            Box::new(MoneyError::CurrencyMismatch {
                left: Currency::Eur,
                right: Currency::Usd,
            }),
            Box::new(MoneyError::Overflow),
            Box::new(RateError::NoWeights),
            Box::new(SkuError::Empty),
            Box::new(QuantityError::Zero),
            Box::new(CountryError::Unknown("XX".into())),
            Box::new(EmailError::AtSign),
            Box::new(TimestampError::Malformed("x".into())),
        ];
        for err in &errors {
            assert!(PROBLEM_TYPES.contains(&err.problem_type()), "{err}");
            assert_eq!(err.problem_type().category, ErrorCategory::Invalid);
            assert_eq!(err.detail(), err.to_string());
        }
    }
}
