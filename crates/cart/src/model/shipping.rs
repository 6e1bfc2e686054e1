//! Shipping options: where staff ship to, in which currency, and at what rate.

use kassa_kernel::ids::ShippingOptionId;
use kassa_kernel::{CountryCode, Currency, Money};

/// Longest shipping option name shown to shoppers ("Express, next working day").
pub const SHIPPING_OPTION_NAME_LEN_MAX: usize = 100;
/// Most weight tiers per option: real rate cards have a handful of bands; 20 is plenty and
/// keeps each quote a short scan.
pub const SHIPPING_TIERS_MAX: usize = 20;

/// How a shipping option's price is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShippingRate {
    /// The same amount for any cart.
    Flat { amount: Money },
    /// The amount of the first tier whose maximum weight is at least the cart's weight; a cart
    /// heavier than the last tier cannot use the option. Tiers are sorted by strictly
    /// increasing `max_weight_grams`.
    WeightTiers(Vec<WeightTier>),
}

/// One band of a weight-tiered rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightTier {
    /// Inclusive upper bound of the band, in grams.
    pub max_weight_grams: u32,
    pub amount: Money,
}

/// Why a shipping option was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShippingOptionError {
    #[error(
        "The name must be 1 to {SHIPPING_OPTION_NAME_LEN_MAX} characters without control \
         characters."
    )]
    InvalidName,
    #[error("A shipping option needs at least one country.")]
    NoCountries,
    #[error("A weight-tiered rate needs at least one tier.")]
    NoTiers,
    #[error("A weight-tiered rate has {count} tiers; the maximum is {max}.")]
    TooManyTiers { count: usize, max: usize },
    #[error(
        "Tier weights must strictly increase, but tier {index} ({max_weight_grams} g) is not \
         above the one before it."
    )]
    TiersNotIncreasing { index: usize, max_weight_grams: u32 },
    #[error("Shipping amounts must not be negative.")]
    NegativeAmount,
    #[error("Shipping amounts must be in the option's currency {expected}, not {found}.")]
    CurrencyMismatch { expected: Currency, found: Currency },
}

impl ShippingOptionError {
    /// A JSON pointer to the offending part of a shipping option object.
    pub fn pointer(&self) -> &'static str {
        match self {
            ShippingOptionError::InvalidName => "/name",
            ShippingOptionError::NoCountries => "/countries",
            _ => "/rate",
        }
    }
}

/// A validated shipping option that has no id yet: what staff create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewShippingOption {
    name: String,
    countries: Vec<CountryCode>,
    currency: Currency,
    rate: ShippingRate,
}

impl NewShippingOption {
    /// Trims the name; sorts and de-duplicates the countries (so at most the 249 ISO codes);
    /// checks the rate: amounts not negative and in `currency`, tiers 1 to
    /// [`SHIPPING_TIERS_MAX`] with strictly increasing weights.
    pub fn parse(
        name: &str,
        mut countries: Vec<CountryCode>,
        currency: Currency,
        rate: ShippingRate,
    ) -> Result<NewShippingOption, ShippingOptionError> {
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > SHIPPING_OPTION_NAME_LEN_MAX
            || name.chars().any(char::is_control)
        {
            return Err(ShippingOptionError::InvalidName);
        }
        countries.sort_unstable();
        countries.dedup();
        if countries.is_empty() {
            return Err(ShippingOptionError::NoCountries);
        }
        check_rate(&rate, currency)?;
        Ok(NewShippingOption {
            name: name.to_owned(),
            countries,
            currency,
            rate,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn countries(&self) -> &[CountryCode] {
        &self.countries
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn rate(&self) -> &ShippingRate {
        &self.rate
    }
}

fn check_rate(rate: &ShippingRate, currency: Currency) -> Result<(), ShippingOptionError> {
    match rate {
        ShippingRate::Flat { amount } => check_amount(*amount, currency),
        ShippingRate::WeightTiers(tiers) => {
            if tiers.is_empty() {
                return Err(ShippingOptionError::NoTiers);
            }
            if tiers.len() > SHIPPING_TIERS_MAX {
                return Err(ShippingOptionError::TooManyTiers {
                    count: tiers.len(),
                    max: SHIPPING_TIERS_MAX,
                });
            }
            for (index, pair) in tiers.windows(2).enumerate() {
                if pair[1].max_weight_grams <= pair[0].max_weight_grams {
                    return Err(ShippingOptionError::TiersNotIncreasing {
                        index: index + 1,
                        max_weight_grams: pair[1].max_weight_grams,
                    });
                }
            }
            tiers
                .iter()
                .try_for_each(|tier| check_amount(tier.amount, currency))
        }
    }
}

fn check_amount(amount: Money, currency: Currency) -> Result<(), ShippingOptionError> {
    if amount.currency() != currency {
        return Err(ShippingOptionError::CurrencyMismatch {
            expected: currency,
            found: amount.currency(),
        });
    }
    if amount.is_negative() {
        return Err(ShippingOptionError::NegativeAmount);
    }
    Ok(())
}

/// A way to ship a cart, configured by staff: where it delivers, in which currency, and what it
/// costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippingOption {
    id: ShippingOptionId,
    option: NewShippingOption,
}

impl ShippingOption {
    pub fn new(id: ShippingOptionId, option: NewShippingOption) -> ShippingOption {
        ShippingOption { id, option }
    }

    pub fn id(&self) -> ShippingOptionId {
        self.id
    }

    pub fn name(&self) -> &str {
        self.option.name()
    }

    /// Sorted, without duplicates.
    pub fn countries(&self) -> &[CountryCode] {
        self.option.countries()
    }

    pub fn currency(&self) -> Currency {
        self.option.currency()
    }

    pub fn rate(&self) -> &ShippingRate {
        self.option.rate()
    }

    pub fn delivers_to(&self, country: CountryCode) -> bool {
        self.countries().binary_search(&country).is_ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn usd(amount: i64) -> Money {
        Money::new(amount, Currency::Usd)
    }

    fn us() -> Vec<CountryCode> {
        vec![CountryCode::parse("US").unwrap()]
    }

    fn tiers(bands: &[(u32, i64)]) -> ShippingRate {
        ShippingRate::WeightTiers(
            bands
                .iter()
                .map(|&(max_weight_grams, amount)| WeightTier {
                    max_weight_grams,
                    amount: usd(amount),
                })
                .collect(),
        )
    }

    fn parse(
        name: &str,
        countries: Vec<CountryCode>,
        rate: ShippingRate,
    ) -> Result<NewShippingOption, ShippingOptionError> {
        NewShippingOption::parse(name, countries, Currency::Usd, rate)
    }

    #[test]
    fn a_shipping_option_sorts_and_dedupes_its_countries() {
        let countries = ["US", "CA", "us"]
            .map(|c| CountryCode::parse(c).unwrap())
            .to_vec();
        let option = parse(" Ground ", countries, ShippingRate::Flat { amount: usd(0) }).unwrap();
        assert_eq!(option.name(), "Ground");
        let codes: Vec<&str> = option.countries().iter().map(CountryCode::as_str).collect();
        assert_eq!(codes, ["CA", "US"]);
    }

    #[test]
    fn a_shipping_option_needs_a_name_and_a_country() {
        let flat = ShippingRate::Flat { amount: usd(500) };
        assert_eq!(
            parse(" ", us(), flat.clone()),
            Err(ShippingOptionError::InvalidName)
        );
        let long = "x".repeat(SHIPPING_OPTION_NAME_LEN_MAX);
        assert!(parse(&long, us(), flat.clone()).is_ok());
        let too_long = "x".repeat(SHIPPING_OPTION_NAME_LEN_MAX + 1);
        assert_eq!(
            parse(&too_long, us(), flat.clone()),
            Err(ShippingOptionError::InvalidName)
        );
        assert_eq!(
            parse("Ground", Vec::new(), flat),
            Err(ShippingOptionError::NoCountries)
        );
    }

    #[test]
    fn shipping_amounts_must_be_non_negative_and_in_the_options_currency() {
        let negative = ShippingRate::Flat { amount: usd(-1) };
        assert_eq!(
            parse("x", us(), negative),
            Err(ShippingOptionError::NegativeAmount)
        );
        assert!(parse("x", us(), tiers(&[(100, 0)])).is_ok());
        assert_eq!(
            parse("x", us(), tiers(&[(100, 0), (200, -5)])),
            Err(ShippingOptionError::NegativeAmount)
        );
        let euros = ShippingRate::Flat {
            amount: Money::new(500, Currency::Eur),
        };
        assert_eq!(
            parse("x", us(), euros),
            Err(ShippingOptionError::CurrencyMismatch {
                expected: Currency::Usd,
                found: Currency::Eur
            })
        );
    }

    #[test]
    fn weight_tiers_must_strictly_increase_and_number_from_one_to_the_maximum() {
        assert_eq!(
            parse("x", us(), tiers(&[])),
            Err(ShippingOptionError::NoTiers)
        );
        assert_eq!(
            parse("x", us(), tiers(&[(100, 1), (100, 2)])),
            Err(ShippingOptionError::TiersNotIncreasing {
                index: 1,
                max_weight_grams: 100
            })
        );
        assert!(parse("x", us(), tiers(&[(100, 1), (50, 2)])).is_err());
        let bands = |n: u32| (1..=n).map(|i| (i * 100, 500)).collect::<Vec<_>>();
        let max = u32::try_from(SHIPPING_TIERS_MAX).unwrap();
        assert!(parse("x", us(), tiers(&bands(max))).is_ok());
        assert_eq!(
            parse("x", us(), tiers(&bands(max + 1))),
            Err(ShippingOptionError::TooManyTiers { count: 21, max: 20 })
        );
    }
}
