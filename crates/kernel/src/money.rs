//! Money: an `i64` amount in minor units (cents, öre, yen) plus the [`Currency`] it is in.
//!
//! Arithmetic is checked and currency-aware: adding euros to dollars or leaving the `i64` range
//! returns a [`MoneyError`], never a wrapped or rounded value. Anything that needs rounding (tax,
//! discounts, splitting an amount) goes through [`crate::rounding`], the one place it happens.

use std::fmt;
use std::str::FromStr;

use crate::error::{DomainError, ErrorCategory, ProblemType};
use crate::rounding::RateError;

pub const UNKNOWN_CURRENCY: ProblemType = ProblemType::new(
    "unknown_currency",
    "Unknown currency",
    ErrorCategory::Invalid,
);
pub const CURRENCY_MISMATCH: ProblemType = ProblemType::new(
    "currency_mismatch",
    "Currency mismatch",
    ErrorCategory::Invalid,
);
pub const AMOUNT_OVERFLOW: ProblemType = ProblemType::new(
    "amount_overflow",
    "Amount out of range",
    ErrorCategory::Invalid,
);

/// How much of an unrecognised currency code is echoed back in an error, so a huge input does
/// not become a huge error message.
const ECHO_LEN_MAX: usize = 16;

/// Why an amount or currency was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Holds at most the first 16 characters of what was given.
    #[error("unknown currency '{0}'")]
    UnknownCurrency(String),
    #[error("cannot combine an amount in {left} with an amount in {right}")]
    CurrencyMismatch { left: Currency, right: Currency },
    #[error("the amount is too large to be represented")]
    Overflow,
    /// A rate or set of weights given to [`crate::rounding`] was unusable.
    #[error(transparent)]
    Rate(#[from] RateError),
}

impl DomainError for MoneyError {
    fn problem_type(&self) -> &'static ProblemType {
        match self {
            Self::UnknownCurrency(_) => &UNKNOWN_CURRENCY,
            Self::CurrencyMismatch { .. } => &CURRENCY_MISMATCH,
            Self::Overflow => &AMOUNT_OVERFLOW,
            Self::Rate(inner) => inner.problem_type(),
        }
    }
}

/// A supported ISO 4217 currency. Serialised as its upper-case code, e.g. `"EUR"`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "&'static str")]
pub enum Currency {
    Usd,
    Eur,
    Gbp,
    Jpy,
    Chf,
    Cad,
    Aud,
    Sek,
    Dkk,
    Nok,
    Pln,
    Czk,
    Huf,
    Krw,
    Kwd,
    Bhd,
}

impl Currency {
    pub const ALL: &[Currency] = &[
        Self::Usd,
        Self::Eur,
        Self::Gbp,
        Self::Jpy,
        Self::Chf,
        Self::Cad,
        Self::Aud,
        Self::Sek,
        Self::Dkk,
        Self::Nok,
        Self::Pln,
        Self::Czk,
        Self::Huf,
        Self::Krw,
        Self::Kwd,
        Self::Bhd,
    ];

    pub fn code(&self) -> &'static str {
        match self {
            Self::Usd => "USD",
            Self::Eur => "EUR",
            Self::Gbp => "GBP",
            Self::Jpy => "JPY",
            Self::Chf => "CHF",
            Self::Cad => "CAD",
            Self::Aud => "AUD",
            Self::Sek => "SEK",
            Self::Dkk => "DKK",
            Self::Nok => "NOK",
            Self::Pln => "PLN",
            Self::Czk => "CZK",
            Self::Huf => "HUF",
            Self::Krw => "KRW",
            Self::Kwd => "KWD",
            Self::Bhd => "BHD",
        }
    }

    /// Digits after the decimal point in the minor unit, per ISO 4217: 1 JPY is 1 minor unit,
    /// 1 EUR is 100, 1 KWD is 1000. HUF keeps the ISO exponent 2 even though fillér coins are
    /// gone; gateways that want whole forints convert in their own module.
    pub fn exponent(&self) -> u8 {
        match self {
            Self::Jpy | Self::Krw => 0,
            Self::Kwd | Self::Bhd => 3,
            _ => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    /// Accepts only the exact upper-case code: `"eur"` and `" EUR"` are refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|currency| currency.code() == s)
            .ok_or_else(|| MoneyError::UnknownCurrency(s.chars().take(ECHO_LEN_MAX).collect()))
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Currency> for &'static str {
    fn from(currency: Currency) -> Self {
        currency.code()
    }
}

/// An amount of one currency in its minor unit. Serialised as
/// `{"amount_minor": 1999, "currency": "EUR"}`.
///
/// There is deliberately no `PartialOrd`: amounts in different currencies do not compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Money {
    amount_minor: i64,
    currency: Currency,
}

impl Money {
    pub fn new(amount_minor: i64, currency: Currency) -> Money {
        Money {
            amount_minor,
            currency,
        }
    }

    pub fn zero(currency: Currency) -> Money {
        Money::new(0, currency)
    }

    pub fn amount_minor(&self) -> i64 {
        self.amount_minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn is_negative(&self) -> bool {
        self.amount_minor < 0
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        let currency = self.same_currency(other)?;
        let amount = self.amount_minor.checked_add(other.amount_minor);
        amount
            .map(|amount| Money::new(amount, currency))
            .ok_or(MoneyError::Overflow)
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        let currency = self.same_currency(other)?;
        let amount = self.amount_minor.checked_sub(other.amount_minor);
        amount
            .map(|amount| Money::new(amount, currency))
            .ok_or(MoneyError::Overflow)
    }

    /// Multiplies by a whole factor, typically a quantity.
    pub fn checked_mul(self, factor: u32) -> Result<Money, MoneyError> {
        let amount = self.amount_minor.checked_mul(i64::from(factor));
        amount
            .map(|amount| Money::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// Adds up amounts that must all be in `currency`; an empty iterator gives zero.
    pub fn sum<I: IntoIterator<Item = Money>>(
        currency: Currency,
        amounts: I,
    ) -> Result<Money, MoneyError> {
        amounts
            .into_iter()
            .try_fold(Money::zero(currency), Money::checked_add)
    }

    fn same_currency(&self, other: Money) -> Result<Currency, MoneyError> {
        if self.currency == other.currency {
            Ok(self.currency)
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }
}

impl fmt::Display for Money {
    /// The major-unit amount with exactly as many decimals as the currency has, then the code:
    /// `19.99 EUR`, `-0.05 USD`, `1500 JPY`, `1.234 KWD`. No thousands separators.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.is_negative() { "-" } else { "" };
        let magnitude = self.amount_minor.unsigned_abs();
        let exponent = self.currency.exponent();
        if exponent == 0 {
            return write!(f, "{sign}{magnitude} {}", self.currency);
        }
        let divisor = 10_u64.pow(u32::from(exponent));
        let (major, minor) = (magnitude / divisor, magnitude % divisor);
        let width = usize::from(exponent);
        write!(f, "{sign}{major}.{minor:0width$} {}", self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EUR: Currency = Currency::Eur;
    const USD: Currency = Currency::Usd;

    fn eur(amount_minor: i64) -> Money {
        Money::new(amount_minor, EUR)
    }

    #[test]
    fn every_currency_parses_from_its_own_code() {
        for &currency in Currency::ALL {
            assert_eq!(currency.code().parse::<Currency>(), Ok(currency));
            assert_eq!(currency.to_string(), currency.code());
        }
    }

    #[test]
    fn currency_codes_are_unique_and_three_upper_case_letters() {
        let mut codes: Vec<_> = Currency::ALL.iter().map(Currency::code).collect();
        assert!(codes
            .iter()
            .all(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase())));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Currency::ALL.len());
        assert!(Currency::ALL.len() >= 16);
    }

    #[test]
    fn exponents_follow_iso_4217() {
        let expected = [
            (Currency::Jpy, 0),
            (Currency::Krw, 0),
            (Currency::Huf, 2),
            (Currency::Eur, 2),
            (Currency::Usd, 2),
            (Currency::Kwd, 3),
            (Currency::Bhd, 3),
        ];
        for (currency, exponent) in expected {
            assert_eq!(currency.exponent(), exponent, "{currency}");
        }
    }

    #[test]
    fn currency_parsing_accepts_only_the_exact_upper_case_code() {
        for bad in ["eur", "Eur", " EUR", "EUR ", "EURO", "", "XYZ", "€"] {
            assert!(bad.parse::<Currency>().is_err(), "{bad:?} parsed");
        }
        assert_eq!(
            "XYZ".parse::<Currency>().unwrap_err().to_string(),
            "unknown currency 'XYZ'"
        );
    }

    #[test]
    fn an_unknown_currency_error_echoes_at_most_sixteen_characters() {
        let long = "A".repeat(1000);
        let err = long.parse::<Currency>().unwrap_err();
        assert_eq!(err, MoneyError::UnknownCurrency("A".repeat(16)));
    }

    #[test]
    fn currency_serde_is_the_code_and_revalidates() {
        assert_eq!(serde_json::to_string(&Currency::Chf).unwrap(), "\"CHF\"");
        let parsed: Currency = serde_json::from_str("\"KWD\"").unwrap();
        assert_eq!(parsed, Currency::Kwd);
        assert!(serde_json::from_str::<Currency>("\"usd\"").is_err());
        assert!(serde_json::from_str::<Currency>("\"XXX\"").is_err());
        assert!(serde_json::from_str::<Currency>("1").is_err());
    }

    #[test]
    fn money_displays_with_the_currency_exponent() {
        assert_eq!(eur(1999).to_string(), "19.99 EUR");
        assert_eq!(Money::new(-5, USD).to_string(), "-0.05 USD");
        assert_eq!(Money::new(1500, Currency::Jpy).to_string(), "1500 JPY");
        assert_eq!(Money::new(-1500, Currency::Krw).to_string(), "-1500 KRW");
        assert_eq!(Money::new(1234, Currency::Kwd).to_string(), "1.234 KWD");
        assert_eq!(Money::new(-1, Currency::Bhd).to_string(), "-0.001 BHD");
        assert_eq!(eur(0).to_string(), "0.00 EUR");
        assert_eq!(eur(100).to_string(), "1.00 EUR");
    }

    #[test]
    fn money_displays_the_extremes_of_i64() {
        assert_eq!(eur(i64::MAX).to_string(), "92233720368547758.07 EUR");
        assert_eq!(eur(i64::MIN).to_string(), "-92233720368547758.08 EUR");
    }

    #[test]
    fn money_serde_uses_amount_minor_and_currency_code() {
        let json = serde_json::to_string(&eur(1999)).unwrap();
        assert_eq!(json, r#"{"amount_minor":1999,"currency":"EUR"}"#);
        let back: Money = serde_json::from_str(&json).unwrap();
        assert_eq!(back, eur(1999));
    }

    #[test]
    fn money_deserialising_refuses_bad_currency_missing_and_unknown_fields() {
        for bad in [
            r#"{"amount_minor":1,"currency":"eur"}"#,
            r#"{"amount_minor":1}"#,
            r#"{"amount_minor":1.5,"currency":"EUR"}"#,
            r#"{"amount_minor":9223372036854775808,"currency":"EUR"}"#,
            r#"{"amount_minor":1,"currency":"EUR","extra":true}"#,
        ] {
            assert!(serde_json::from_str::<Money>(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn zero_is_not_negative_and_minus_one_is() {
        assert!(!Money::zero(EUR).is_negative());
        assert!(eur(-1).is_negative());
        assert!(!eur(1).is_negative());
    }

    #[test]
    fn addition_at_the_top_of_the_range_succeeds_and_one_past_overflows() {
        assert_eq!(eur(i64::MAX - 1).checked_add(eur(1)), Ok(eur(i64::MAX)));
        assert_eq!(eur(i64::MAX).checked_add(eur(1)), Err(MoneyError::Overflow));
        assert_eq!(
            eur(i64::MIN).checked_add(eur(-1)),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn subtraction_at_the_bottom_of_the_range_succeeds_and_one_past_overflows() {
        assert_eq!(eur(i64::MIN + 1).checked_sub(eur(1)), Ok(eur(i64::MIN)));
        assert_eq!(eur(i64::MIN).checked_sub(eur(1)), Err(MoneyError::Overflow));
        assert_eq!(eur(0).checked_sub(eur(i64::MIN)), Err(MoneyError::Overflow));
    }

    #[test]
    fn multiplication_checks_overflow_on_both_sides() {
        assert_eq!(eur(1999).checked_mul(3), Ok(eur(5997)));
        assert_eq!(eur(-7).checked_mul(0), Ok(eur(0)));
        assert_eq!(eur(i64::MAX).checked_mul(1), Ok(eur(i64::MAX)));
        assert_eq!(eur(i64::MAX).checked_mul(2), Err(MoneyError::Overflow));
        assert_eq!(eur(i64::MIN).checked_mul(2), Err(MoneyError::Overflow));
    }

    #[test]
    fn mixing_currencies_is_refused_naming_both() {
        let err = eur(1).checked_add(Money::new(1, USD)).unwrap_err();
        assert_eq!(
            err,
            MoneyError::CurrencyMismatch {
                left: EUR,
                right: USD
            }
        );
        assert_eq!(
            err.to_string(),
            "cannot combine an amount in EUR with an amount in USD"
        );
        assert!(eur(1).checked_sub(Money::new(1, USD)).is_err());
    }

    #[test]
    fn sum_of_nothing_is_zero_in_the_given_currency() {
        assert_eq!(
            Money::sum(Currency::Sek, []),
            Ok(Money::zero(Currency::Sek))
        );
    }

    #[test]
    fn sum_adds_amounts_and_refuses_a_foreign_one() {
        assert_eq!(Money::sum(EUR, [eur(1), eur(2), eur(-4)]), Ok(eur(-1)));
        assert_eq!(
            Money::sum(EUR, [eur(1), Money::new(2, USD)]),
            Err(MoneyError::CurrencyMismatch {
                left: EUR,
                right: USD
            })
        );
        assert_eq!(
            Money::sum(USD, [eur(1)]),
            Err(MoneyError::CurrencyMismatch {
                left: USD,
                right: EUR
            })
        );
        assert_eq!(
            Money::sum(EUR, [eur(i64::MAX), eur(1)]),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn errors_name_their_problem_types() {
        let unknown = MoneyError::UnknownCurrency("X".into());
        assert_eq!(unknown.problem_type().code, "unknown_currency");
        let mismatch = MoneyError::CurrencyMismatch {
            left: EUR,
            right: USD,
        };
        assert_eq!(mismatch.problem_type().code, "currency_mismatch");
        assert_eq!(MoneyError::Overflow.problem_type().code, "amount_overflow");
        assert_eq!(
            MoneyError::Overflow.problem_type().title,
            "Amount out of range"
        );
        let rate = MoneyError::from(RateError::NoWeights);
        assert_eq!(rate.problem_type().code, "invalid_rate");
        assert_eq!(rate.to_string(), RateError::NoWeights.to_string());
    }

    fn any_currency() -> impl Strategy<Value = Currency> {
        proptest::sample::select(Currency::ALL)
    }

    /// Two different currencies: an offset of 1..n from the first index never lands on it.
    fn two_currencies() -> impl Strategy<Value = (Currency, Currency)> {
        let n = Currency::ALL.len();
        (0..n, 1..n)
            .prop_map(move |(i, offset)| (Currency::ALL[i], Currency::ALL[(i + offset) % n]))
    }

    fn expected(result: i128, currency: Currency) -> Result<Money, MoneyError> {
        i64::try_from(result)
            .map(|amount| Money::new(amount, currency))
            .map_err(|_| MoneyError::Overflow)
    }

    proptest! {
        #[test]
        fn addition_is_commutative(a: i64, b: i64, currency in any_currency()) {
            let (a, b) = (Money::new(a, currency), Money::new(b, currency));
            prop_assert_eq!(a.checked_add(b), b.checked_add(a));
        }

        #[test]
        fn addition_matches_i128_or_overflows(a: i64, b: i64, currency in any_currency()) {
            let sum = Money::new(a, currency).checked_add(Money::new(b, currency));
            prop_assert_eq!(sum, expected(i128::from(a) + i128::from(b), currency));
        }

        #[test]
        fn subtraction_matches_i128_or_overflows(a: i64, b: i64, currency in any_currency()) {
            let difference = Money::new(a, currency).checked_sub(Money::new(b, currency));
            prop_assert_eq!(difference, expected(i128::from(a) - i128::from(b), currency));
        }

        #[test]
        fn multiplication_matches_i128_or_overflows(a: i64, k: u32, currency in any_currency()) {
            let product = Money::new(a, currency).checked_mul(k);
            prop_assert_eq!(product, expected(i128::from(a) * i128::from(k), currency));
        }

        #[test]
        fn mismatched_currencies_always_err(a: i64, b: i64, (left, right) in two_currencies()) {
            let mismatch = MoneyError::CurrencyMismatch { left, right };
            let (a, b) = (Money::new(a, left), Money::new(b, right));
            prop_assert_eq!(a.checked_add(b), Err(mismatch.clone()));
            prop_assert_eq!(a.checked_sub(b), Err(mismatch.clone()));
            prop_assert_eq!(Money::sum(left, [a, b]), Err(mismatch));
        }

        #[test]
        fn money_round_trips_through_serde(a: i64, currency in any_currency()) {
            let money = Money::new(a, currency);
            let json = serde_json::to_string(&money).unwrap();
            prop_assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), money);
        }
    }
}
