//! SKU: the stock-keeping unit code staff give each sellable variant, e.g. `TSHIRT-RED-M`.
//!
//! A [`Sku`] is trimmed and upper-cased on the way in, so `" tshirt-red-m "` and `TSHIRT-RED-M`
//! are the same SKU everywhere: in the catalog, in stock, in carts and in orders.

use std::fmt;
use std::str::FromStr;

use crate::error::{DomainError, ErrorCategory, ProblemType};

pub const INVALID_SKU: ProblemType =
    ProblemType::new("invalid_sku", "Invalid SKU", ErrorCategory::Invalid);

/// Longest SKU, in characters. SKUs are short codes that staff type and print on labels; 64 leaves
/// room for structured codes like `BRAND-MODEL-COLOUR-SIZE-VARIANT` while keeping labels, logs and
/// index keys small, and stops a pasted paragraph from becoming a SKU.
pub const SKU_LEN_MAX: usize = 64;

/// Why a string is not a SKU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkuError {
    #[error("SKU must not be empty")]
    Empty,
    #[error("SKU is {len} characters long; the maximum is {max}")]
    TooLong { len: usize, max: usize },
    #[error("SKU contains {found:?}; only letters A to Z, digits and '-' are allowed")]
    InvalidCharacter { found: char },
}

impl DomainError for SkuError {
    fn problem_type(&self) -> &'static ProblemType {
        &INVALID_SKU
    }
}

/// A stock-keeping unit: 1 to [`SKU_LEN_MAX`] of `A`–`Z`, `0`–`9` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct Sku(String);

impl Sku {
    /// Trims surrounding whitespace and upper-cases ASCII letters, then validates.
    pub fn parse(s: &str) -> Result<Sku, SkuError> {
        let trimmed = s.trim();
        let len = trimmed.chars().count();
        if len == 0 {
            return Err(SkuError::Empty);
        }
        if len > SKU_LEN_MAX {
            return Err(SkuError::TooLong {
                len,
                max: SKU_LEN_MAX,
            });
        }
        if let Some(found) = trimmed
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || c == '-'))
        {
            return Err(SkuError::InvalidCharacter { found });
        }
        Ok(Sku(trimmed.to_ascii_uppercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Sku {
    type Err = SkuError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Sku::parse(s)
    }
}

impl TryFrom<String> for Sku {
    type Error = SkuError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Sku::parse(&s)
    }
}

impl serde::Serialize for Sku {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_sku_is_trimmed_and_upper_cased() {
        assert_eq!(
            Sku::parse("  tshirt-Red-m\t").unwrap().as_str(),
            "TSHIRT-RED-M"
        );
        assert_eq!(Sku::parse("A").unwrap().to_string(), "A");
        assert_eq!(Sku::parse("123").unwrap().as_str(), "123");
    }

    #[test]
    fn an_empty_or_blank_sku_is_refused() {
        assert_eq!(Sku::parse(""), Err(SkuError::Empty));
        assert_eq!(Sku::parse("   "), Err(SkuError::Empty));
        assert_eq!(
            Sku::parse("").unwrap_err().to_string(),
            "SKU must not be empty"
        );
    }

    #[test]
    fn a_sku_of_the_maximum_length_is_accepted_and_one_longer_is_refused() {
        let longest = "A".repeat(SKU_LEN_MAX);
        assert_eq!(Sku::parse(&longest).unwrap().as_str(), longest);
        let padded = format!("  {longest}  ");
        assert_eq!(Sku::parse(&padded).unwrap().as_str(), longest);
        let too_long = "A".repeat(SKU_LEN_MAX + 1);
        let err = Sku::parse(&too_long).unwrap_err();
        assert_eq!(err, SkuError::TooLong { len: 65, max: 64 });
        assert_eq!(
            err.to_string(),
            "SKU is 65 characters long; the maximum is 64"
        );
    }

    #[test]
    fn characters_other_than_letters_digits_and_hyphen_are_refused() {
        for (bad, found) in [
            ("TSHIRT RED", ' '),
            ("TSHIRT_RED", '_'),
            ("ÄPFEL", 'Ä'),
            ("straße", 'ß'),
            ("A/B", '/'),
            ("A\u{0}B", '\u{0}'),
        ] {
            assert_eq!(
                Sku::parse(bad),
                Err(SkuError::InvalidCharacter { found }),
                "{bad:?}"
            );
        }
        assert_eq!(
            Sku::parse("A_B").unwrap_err().to_string(),
            "SKU contains '_'; only letters A to Z, digits and '-' are allowed"
        );
    }

    #[test]
    fn sku_serde_is_the_string_and_revalidates() {
        let sku = Sku::parse("mug-blue").unwrap();
        assert_eq!(serde_json::to_string(&sku).unwrap(), "\"MUG-BLUE\"");
        assert_eq!(serde_json::from_str::<Sku>("\" mug-blue \"").unwrap(), sku);
        assert!(serde_json::from_str::<Sku>("\"\"").is_err());
        assert!(serde_json::from_str::<Sku>("\"MUG BLUE\"").is_err());
        assert!(serde_json::from_str::<Sku>("42").is_err());
    }

    #[test]
    fn sku_errors_are_invalid_sku_problems() {
        assert_eq!(SkuError::Empty.problem_type().code, "invalid_sku");
        assert_eq!(SkuError::Empty.problem_type().title, "Invalid SKU");
    }

    proptest! {
        #[test]
        fn a_valid_sku_round_trips_through_text(text in "[A-Za-z0-9-]{1,64}") {
            let sku = Sku::parse(&text).unwrap();
            prop_assert_eq!(sku.to_string().parse::<Sku>(), Ok(sku.clone()));
            let json = serde_json::to_string(&sku).unwrap();
            prop_assert_eq!(serde_json::from_str::<Sku>(&json).unwrap(), sku);
        }

        #[test]
        fn parsing_never_panics_and_accepts_only_the_allowed_alphabet(text in ".{0,80}") {
            if let Ok(sku) = Sku::parse(&text) {
                prop_assert!((1..=SKU_LEN_MAX).contains(&sku.as_str().len()));
                let allowed = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-';
                prop_assert!(sku.as_str().bytes().all(allowed));
            }
        }
    }
}
