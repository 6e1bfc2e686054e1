//! Rounding: the one place where an amount is scaled by a rate or split into parts.
//!
//! Everything here is exact integer arithmetic in `i128`; there are no floats. The caller always
//! names the [`RoundingMode`], because tax authorities and gateways disagree on it. [`allocate`]
//! splits an amount so the parts always add up to exactly the whole.

use std::cmp::Reverse;
use std::fmt;

use crate::error::{DomainError, ErrorCategory, ProblemType};
use crate::money::{Money, MoneyError};

pub const INVALID_RATE: ProblemType =
    ProblemType::new("invalid_rate", "Invalid rate", ErrorCategory::Invalid);

/// How much of a refused rate string is echoed back in an error.
const ECHO_LEN_MAX: usize = 32;

/// Why a rate, or the weights of an allocation, were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// Holds at most the first 32 characters of what was given.
    #[error(
        "rate '{0}' is not a percentage from 0 to 100 with at most 4 decimal places, such as 19.5"
    )]
    InvalidPercent(String),
    #[error("rate of {ppm} parts per million is above the maximum of 1000000 (100%)")]
    AboveMaximum { ppm: u32 },
    #[error("an amount cannot be split over weights that are empty or all zero")]
    NoWeights,
}

impl DomainError for RateError {
    fn problem_type(&self) -> &'static ProblemType {
        &INVALID_RATE
    }
}

/// How to round an exact result that falls between two minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoundingMode {
    /// To the nearest unit; halves away from zero (2.5 → 3, -2.5 → -3).
    HalfUp,
    /// To the nearest unit; halves to the even neighbour (2.5 → 2, 3.5 → 4). Also called
    /// banker's rounding.
    HalfEven,
    /// Drop the fraction (2.9 → 2, -2.9 → -2).
    TowardZero,
}

/// Parts per million in one whole: a rate of 1_000_000 ppm is 100%.
const PPM_PER_WHOLE: u32 = 1_000_000;
/// Parts per million in one percentage point; also the scale of 4 decimal places of a percent.
const PPM_PER_PERCENT: u32 = 10_000;
/// Decimal places of a percent that a ppm value can hold exactly.
const PERCENT_DECIMALS_MAX: usize = 4;

/// A rate from 0% to 100% inclusive, held exactly as parts per million (19.5% = 195_000 ppm).
/// Serialised as the shortest exact percent string, e.g. `"19.5"`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Rate(u32);

impl Rate {
    pub const ZERO: Rate = Rate(0);
    pub const FULL: Rate = Rate(PPM_PER_WHOLE);

    /// Refuses anything above 1_000_000 ppm (100%).
    pub fn from_ppm(ppm: u32) -> Result<Rate, RateError> {
        if ppm > PPM_PER_WHOLE {
            return Err(RateError::AboveMaximum { ppm });
        }
        Ok(Rate(ppm))
    }

    /// Parses a plain decimal percent: digits, optionally `.` and 1 to 4 more digits, from 0 to
    /// 100 (`"19"`, `"19.5"`, `"8.875"`, `"0.0001"`). No sign, exponent, spaces or `%`.
    pub fn parse_percent(s: &str) -> Result<Rate, RateError> {
        let invalid = || RateError::InvalidPercent(s.chars().take(ECHO_LEN_MAX).collect());
        let (whole, fraction) = match s.split_once('.') {
            Some((whole, fraction)) if (1..=PERCENT_DECIMALS_MAX).contains(&fraction.len()) => {
                (whole, fraction)
            }
            Some(_) => return Err(invalid()),
            None => (s, ""),
        };
        // Three integer digits are enough for 100; the limit also keeps the arithmetic small.
        if whole.is_empty() || whole.len() > 3 {
            return Err(invalid());
        }
        let whole = decimal_digits(whole).ok_or_else(invalid)?;
        // Right-padding to 4 places turns the fraction into ppm: ".5" is 5000 ppm.
        let fraction_ppm = decimal_digits(&format!("{fraction:0<4}")).ok_or_else(invalid)?;
        Rate::from_ppm(whole * PPM_PER_PERCENT + fraction_ppm).map_err(|_| invalid())
    }

    pub fn ppm(&self) -> u32 {
        self.0
    }

    /// The shortest exact percent: `"19"`, `"19.5"`, `"8.875"`, `"0.0001"`.
    pub fn to_percent_string(&self) -> String {
        let (whole, fraction) = (self.0 / PPM_PER_PERCENT, self.0 % PPM_PER_PERCENT);
        if fraction == 0 {
            return whole.to_string();
        }
        let digits = format!("{fraction:04}");
        format!("{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// The value of a string of ASCII digits (`Some(0)` for the empty string), or `None` if it has
/// anything else or does not fit a `u32`.
fn decimal_digits(s: &str) -> Option<u32> {
    s.bytes().try_fold(0_u32, |value, b| {
        let digit = b.is_ascii_digit().then(|| u32::from(b - b'0'))?;
        value.checked_mul(10)?.checked_add(digit)
    })
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.to_percent_string())
    }
}

impl TryFrom<String> for Rate {
    type Error = RateError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Rate::parse_percent(&s)
    }
}

impl From<Rate> for String {
    fn from(rate: Rate) -> Self {
        rate.to_percent_string()
    }
}

/// `amount × rate`, rounded to the minor unit with `mode`. The result is never larger in
/// magnitude than `amount`, since a rate is at most 100%.
pub fn apply_rate(amount: Money, rate: Rate, mode: RoundingMode) -> Result<Money, MoneyError> {
    let exact_numerator = i128::from(amount.amount_minor()) * i128::from(rate.ppm());
    let rounded = divide_rounded(exact_numerator, i128::from(PPM_PER_WHOLE), mode);
    let amount_minor = i64::try_from(rounded).map_err(|_| MoneyError::Overflow)?;
    Ok(Money::new(amount_minor, amount.currency()))
}

/// `numerator / denominator` rounded with `mode`; `denominator` must be positive.
fn divide_rounded(numerator: i128, denominator: i128, mode: RoundingMode) -> i128 {
    let (quotient, remainder) = (numerator / denominator, numerator % denominator);
    let away_from_zero = quotient + numerator.signum();
    let twice_remainder = remainder.abs() * 2;
    match mode {
        RoundingMode::TowardZero => quotient,
        _ if twice_remainder < denominator => quotient,
        _ if twice_remainder > denominator => away_from_zero,
        RoundingMode::HalfUp => away_from_zero,
        RoundingMode::HalfEven if quotient % 2 == 0 => quotient,
        RoundingMode::HalfEven => away_from_zero,
    }
}

/// Splits `total` in proportion to `weights` so the parts add up to exactly `total`.
///
/// Each part first gets its exact share rounded toward zero; the minor units left over go one
/// each to the parts with the largest remainders, ties to the earlier index (the largest
/// remainder method). A negative total splits exactly like its positive mirror, negated. A zero
/// weight always gets zero. Errors with [`RateError::NoWeights`] if `weights` is empty or all zero.
pub fn allocate(total: Money, weights: &[u64]) -> Result<Vec<Money>, MoneyError> {
    let weight_sum = weights
        .iter()
        .try_fold(0_u128, |sum, &w| sum.checked_add(u128::from(w)))
        .ok_or(MoneyError::Overflow)?;
    if weight_sum == 0 {
        return Err(RateError::NoWeights.into());
    }
    let magnitudes = allocate_magnitude(total.amount_minor().unsigned_abs(), weights, weight_sum);
    magnitudes
        .into_iter()
        .map(|magnitude| signed_part(magnitude, total))
        .collect()
}

/// Largest-remainder split of a non-negative amount; `weight_sum` is the non-zero sum of weights.
fn allocate_magnitude(magnitude: u64, weights: &[u64], weight_sum: u128) -> Vec<u128> {
    // |i64| < 2^64 and each weight < 2^64, so every product fits in a u128.
    let products: Vec<u128> = weights
        .iter()
        .map(|&w| u128::from(magnitude) * u128::from(w))
        .collect();
    let mut parts: Vec<u128> = products.iter().map(|p| p / weight_sum).collect();
    let mut leftover = u128::from(magnitude) - parts.iter().sum::<u128>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    // A stable sort keeps equal remainders in index order, so ties go to the earlier index.
    order.sort_by_key(|&i| Reverse(products[i] % weight_sum));
    for i in order {
        if leftover == 0 {
            break;
        }
        parts[i] += 1;
        leftover -= 1;
    }
    parts
}

fn signed_part(magnitude: u128, total: Money) -> Result<Money, MoneyError> {
    let magnitude = i128::try_from(magnitude).map_err(|_| MoneyError::Overflow)?;
    let signed = if total.is_negative() {
        -magnitude
    } else {
        magnitude
    };
    let amount_minor = i64::try_from(signed).map_err(|_| MoneyError::Overflow)?;
    Ok(Money::new(amount_minor, total.currency()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use proptest::prelude::*;

    const MODES: [RoundingMode; 3] = [
        RoundingMode::HalfUp,
        RoundingMode::HalfEven,
        RoundingMode::TowardZero,
    ];

    fn eur(amount_minor: i64) -> Money {
        Money::new(amount_minor, Currency::Eur)
    }

    fn percent(s: &str) -> Rate {
        Rate::parse_percent(s).unwrap()
    }

    fn amounts(parts: &[Money]) -> Vec<i64> {
        parts.iter().map(Money::amount_minor).collect()
    }

    #[test]
    fn ppm_is_accepted_up_to_one_million_and_refused_one_past() {
        assert_eq!(Rate::from_ppm(0).map(|r| r.ppm()), Ok(0));
        assert_eq!(Rate::from_ppm(1_000_000).map(|r| r.ppm()), Ok(1_000_000));
        assert_eq!(
            Rate::from_ppm(1_000_001),
            Err(RateError::AboveMaximum { ppm: 1_000_001 })
        );
    }

    #[test]
    fn percent_strings_parse_exactly_into_ppm() {
        let cases = [
            ("19", 190_000),
            ("19.5", 195_000),
            ("8.875", 88_750),
            ("0.0001", 1),
            ("0", 0),
            ("100", 1_000_000),
            ("100.0000", 1_000_000),
            ("07", 70_000),
            ("12.3400", 123_400),
        ];
        for (text, ppm) in cases {
            assert_eq!(
                Rate::parse_percent(text).map(|r| r.ppm()),
                Ok(ppm),
                "{text}"
            );
        }
    }

    #[test]
    fn malformed_or_out_of_range_percent_strings_are_refused() {
        let bad = [
            "", "-1", "+1", "1e3", "19.12345", "101", "100.0001", " 5", "5 ", "5%", "19.", ".5",
            "1.2.3", "1,5", "0x10", "1000", "٣",
        ];
        for text in bad {
            assert!(Rate::parse_percent(text).is_err(), "{text:?} parsed");
        }
        assert_eq!(
            Rate::parse_percent("101").unwrap_err().to_string(),
            "rate '101' is not a percentage from 0 to 100 with at most 4 decimal places, \
             such as 19.5"
        );
    }

    #[test]
    fn percent_string_is_the_shortest_exact_form() {
        assert_eq!(percent("19").to_percent_string(), "19");
        assert_eq!(percent("19.50").to_percent_string(), "19.5");
        assert_eq!(percent("8.875").to_percent_string(), "8.875");
        assert_eq!(percent("0.0001").to_percent_string(), "0.0001");
        assert_eq!(percent("0").to_percent_string(), "0");
        assert_eq!(percent("100").to_percent_string(), "100");
        assert_eq!(percent("8.875").to_string(), "8.875%");
    }

    #[test]
    fn rate_serde_is_the_percent_string_and_revalidates() {
        assert_eq!(serde_json::to_string(&percent("19.5")).unwrap(), "\"19.5\"");
        assert_eq!(
            serde_json::from_str::<Rate>("\"8.875\"").unwrap(),
            percent("8.875")
        );
        assert!(serde_json::from_str::<Rate>("\"101\"").is_err());
        assert!(serde_json::from_str::<Rate>("19.5").is_err());
    }

    #[test]
    fn exact_half_cases_round_per_mode() {
        let ten = percent("10");
        let cases = [
            (1005, RoundingMode::HalfUp, 101),
            (1005, RoundingMode::HalfEven, 100),
            (1005, RoundingMode::TowardZero, 100),
            (1015, RoundingMode::HalfEven, 102),
            (-1005, RoundingMode::HalfUp, -101),
            (-1005, RoundingMode::HalfEven, -100),
            (-1005, RoundingMode::TowardZero, -100),
            (-1015, RoundingMode::HalfEven, -102),
        ];
        for (amount, mode, expected) in cases {
            assert_eq!(
                apply_rate(eur(amount), ten, mode),
                Ok(eur(expected)),
                "{amount} {mode:?}"
            );
        }
    }

    #[test]
    fn just_below_and_above_half_round_to_the_nearest() {
        let ten = percent("10");
        for mode in [RoundingMode::HalfUp, RoundingMode::HalfEven] {
            assert_eq!(apply_rate(eur(1004), ten, mode), Ok(eur(100)));
            assert_eq!(apply_rate(eur(1006), ten, mode), Ok(eur(101)));
            assert_eq!(apply_rate(eur(-1006), ten, mode), Ok(eur(-101)));
        }
        assert_eq!(
            apply_rate(eur(1009), ten, RoundingMode::TowardZero),
            Ok(eur(100))
        );
    }

    #[test]
    fn zero_and_full_rates_give_zero_and_the_amount_at_the_extremes() {
        for mode in MODES {
            for amount in [i64::MIN, -1, 0, 1, i64::MAX] {
                assert_eq!(apply_rate(eur(amount), Rate::ZERO, mode), Ok(eur(0)));
                assert_eq!(apply_rate(eur(amount), Rate::FULL, mode), Ok(eur(amount)));
            }
        }
    }

    #[test]
    fn apply_rate_keeps_the_currency() {
        let yen = Money::new(1999, Currency::Jpy);
        let tax = apply_rate(yen, percent("8"), RoundingMode::HalfUp).unwrap();
        assert_eq!(tax, Money::new(160, Currency::Jpy));
    }

    #[test]
    fn allocate_splits_evenly_with_remainders_to_the_earliest() {
        assert_eq!(
            amounts(&allocate(eur(100), &[1, 1, 1]).unwrap()),
            [34, 33, 33]
        );
        assert_eq!(
            amounts(&allocate(eur(-100), &[1, 1, 1]).unwrap()),
            [-34, -33, -33]
        );
        assert_eq!(amounts(&allocate(eur(5), &[1, 1]).unwrap()), [3, 2]);
    }

    #[test]
    fn allocate_gives_leftovers_to_the_largest_remainder() {
        // Exact shares 1.43, 2.86, 5.71: the largest remainder (0.86) gets the leftover cent.
        assert_eq!(amounts(&allocate(eur(10), &[1, 2, 4]).unwrap()), [1, 3, 6]);
        assert_eq!(
            amounts(&allocate(eur(-10), &[1, 2, 4]).unwrap()),
            [-1, -3, -6]
        );
    }

    #[test]
    fn allocate_gives_zero_weights_nothing() {
        assert_eq!(amounts(&allocate(eur(7), &[0, 1, 0]).unwrap()), [0, 7, 0]);
        assert_eq!(amounts(&allocate(eur(0), &[3, 1]).unwrap()), [0, 0]);
    }

    #[test]
    fn allocate_handles_the_extremes_of_amount_and_weight() {
        let parts = allocate(eur(i64::MIN), &[u64::MAX, u64::MAX]).unwrap();
        assert_eq!(amounts(&parts), [i64::MIN / 2, i64::MIN / 2]);
        let parts = allocate(eur(i64::MIN), &[1]).unwrap();
        assert_eq!(amounts(&parts), [i64::MIN]);
        let parts = allocate(eur(i64::MAX), &[1, u64::MAX]).unwrap();
        assert_eq!(Money::sum(Currency::Eur, parts), Ok(eur(i64::MAX)));
    }

    #[test]
    fn allocate_refuses_empty_and_all_zero_weights() {
        let no_weights = Err(MoneyError::Rate(RateError::NoWeights));
        assert_eq!(allocate(eur(100), &[]), no_weights);
        assert_eq!(allocate(eur(100), &[0, 0]), no_weights);
        assert!(allocate(eur(100), &[0, 1]).is_ok());
    }

    #[test]
    fn rate_errors_are_invalid_rate_problems() {
        let errors = [
            RateError::InvalidPercent("x".into()),
            RateError::AboveMaximum { ppm: 2_000_000 },
            RateError::NoWeights,
        ];
        for err in errors {
            assert_eq!(err.problem_type(), &INVALID_RATE);
        }
    }

    /// An independent reference: floor division, then a comparison of the remainder.
    fn reference(amount: i64, ppm: u32, mode: RoundingMode) -> i64 {
        let n = i128::from(amount) * i128::from(ppm);
        let d = 1_000_000_i128;
        let (floor, rem) = (n.div_euclid(d), n.rem_euclid(d));
        let rounded = match mode {
            RoundingMode::TowardZero => n / d,
            _ if 2 * rem < d => floor,
            _ if 2 * rem > d => floor + 1,
            RoundingMode::HalfUp if n < 0 => floor,
            RoundingMode::HalfUp => floor + 1,
            RoundingMode::HalfEven => floor + floor.rem_euclid(2),
        };
        i64::try_from(rounded).unwrap()
    }

    fn any_mode() -> impl Strategy<Value = RoundingMode> {
        proptest::sample::select(MODES.to_vec())
    }

    fn any_amount() -> impl Strategy<Value = i64> {
        prop_oneof![any::<i64>(), -100_000_i64..100_000]
    }

    proptest! {
        #[test]
        fn apply_rate_matches_the_reference(
            amount in any_amount(),
            ppm in 0..=1_000_000_u32,
            mode in any_mode(),
        ) {
            let rate = Rate::from_ppm(ppm).unwrap();
            let result = apply_rate(eur(amount), rate, mode).unwrap();
            prop_assert_eq!(result.amount_minor(), reference(amount, ppm, mode));
        }

        #[test]
        fn apply_rate_on_a_negative_amount_mirrors_the_positive(
            amount in 0..=i64::MAX,
            ppm in 0..=1_000_000_u32,
            mode in any_mode(),
        ) {
            let rate = Rate::from_ppm(ppm).unwrap();
            let positive = apply_rate(eur(amount), rate, mode).unwrap().amount_minor();
            let negative = apply_rate(eur(-amount), rate, mode).unwrap().amount_minor();
            prop_assert_eq!(negative, -positive);
        }

        #[test]
        fn percent_string_round_trips(ppm in 0..=1_000_000_u32) {
            let rate = Rate::from_ppm(ppm).unwrap();
            prop_assert_eq!(Rate::parse_percent(&rate.to_percent_string()), Ok(rate));
            let json = serde_json::to_string(&rate).unwrap();
            prop_assert_eq!(serde_json::from_str::<Rate>(&json).unwrap(), rate);
        }

        #[test]
        fn allocation_sums_to_the_total_and_parts_are_within_one_unit_of_their_share(
            total in any_amount(),
            weights in proptest::collection::vec(prop_oneof![0..1_000_u64, any::<u64>()], 1..20),
        ) {
            prop_assume!(weights.iter().any(|&w| w > 0));
            let parts = allocate(eur(total), &weights).unwrap();
            prop_assert_eq!(parts.len(), weights.len());
            prop_assert_eq!(Money::sum(Currency::Eur, parts.iter().copied()), Ok(eur(total)));
            let weight_sum: i128 = weights.iter().map(|&w| i128::from(w)).sum();
            for (part, &w) in parts.iter().zip(&weights) {
                // |part - total × w / sum| < 1, scaled by sum to stay in integers.
                let scaled_part = i128::from(part.amount_minor()) * weight_sum;
                let exact = i128::from(total) * i128::from(w);
                prop_assert!((scaled_part - exact).abs() < weight_sum);
            }
        }

        #[test]
        fn allocation_of_a_negative_total_mirrors_the_positive(
            total in 0..=i64::MAX,
            weights in proptest::collection::vec(0..1_000_u64, 1..20),
        ) {
            prop_assume!(weights.iter().any(|&w| w > 0));
            let positive = amounts(&allocate(eur(total), &weights).unwrap());
            let negative = amounts(&allocate(eur(-total), &weights).unwrap());
            let mirrored: Vec<i64> = positive.iter().map(|a| -a).collect();
            prop_assert_eq!(negative, mirrored);
        }
    }
}
