//! Shipping options as staff configure them: a flat amount or weight tiers, per country set
//! and currency.

use kassa_cart::error::INVALID_SHIPPING_OPTION;
use kassa_cart::{
    CartError, NewShippingOption, ShippingOption, ShippingOptionError, ShippingRate, WeightTier,
};
use kassa_kernel::ids::ShippingOptionId;
use kassa_kernel::{CountryCode, Currency, DomainError, Money};
use serde::{Deserialize, Serialize};

use crate::problem::{ApiError, FieldError};

/// One band of a weight-tiered rate, in requests and responses alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WeightTier)]
pub struct WeightTierDto {
    /// Inclusive upper bound of the band, in grams.
    #[schema(example = 2000)]
    pub max_weight_grams: u32,
    /// In the option's currency, not negative.
    #[schema(example = 490)]
    pub amount_minor: i64,
}

/// A way to ship: exactly one of `flat_amount_minor` and `weight_tiers` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = ShippingOption)]
pub struct ShippingOptionDto {
    #[schema(value_type = String, example = "ship_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub id: ShippingOptionId,
    #[schema(example = "DHL Paket")]
    pub name: String,
    /// Sorted, without duplicates.
    #[schema(value_type = Vec<String>, example = json!(["AT", "DE"]))]
    pub countries: Vec<CountryCode>,
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
    #[schema(required = true, example = 490)]
    pub flat_amount_minor: Option<i64>,
    /// Strictly increasing `max_weight_grams`.
    #[schema(required = true)]
    pub weight_tiers: Option<Vec<WeightTierDto>>,
}

impl From<ShippingOption> for ShippingOptionDto {
    fn from(option: ShippingOption) -> ShippingOptionDto {
        let (flat_amount_minor, weight_tiers) = match option.rate() {
            ShippingRate::Flat { amount } => (Some(amount.amount_minor()), None),
            ShippingRate::WeightTiers(tiers) => {
                let tiers = tiers
                    .iter()
                    .map(|tier| WeightTierDto {
                        max_weight_grams: tier.max_weight_grams,
                        amount_minor: tier.amount.amount_minor(),
                    })
                    .collect();
                (None, Some(tiers))
            }
        };
        ShippingOptionDto {
            id: option.id(),
            name: option.name().to_owned(),
            countries: option.countries().to_vec(),
            currency: option.currency(),
            flat_amount_minor,
            weight_tiers,
        }
    }
}

/// Every shipping option, in creation order, in one page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ShippingOptionList {
    pub items: Vec<ShippingOptionDto>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// `POST /v1/admin/shipping-options`: exactly one of `flat_amount_minor` and `weight_tiers`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewShippingOption)]
pub struct NewShippingOptionDto {
    #[schema(example = "DHL Paket")]
    pub name: String,
    /// At least one ISO 3166-1 alpha-2 code.
    #[schema(value_type = Vec<String>, example = json!(["DE", "AT"]))]
    pub countries: Vec<CountryCode>,
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
    #[schema(example = 490)]
    pub flat_amount_minor: Option<i64>,
    /// 1 to 20 tiers with strictly increasing `max_weight_grams`.
    pub weight_tiers: Option<Vec<WeightTierDto>>,
}

impl NewShippingOptionDto {
    /// Both or neither of the two rates is a 422 `validation_failed`; what
    /// [`NewShippingOption::parse`] refuses is a 422 `invalid_shipping_option` pointing at the
    /// field of this body.
    pub fn into_input(self) -> Result<NewShippingOption, ApiError> {
        let currency = self.currency;
        let rate = match (self.flat_amount_minor, self.weight_tiers) {
            (Some(amount_minor), None) => ShippingRate::Flat {
                amount: Money::new(amount_minor, currency),
            },
            (None, Some(tiers)) => ShippingRate::WeightTiers(
                tiers
                    .iter()
                    .map(|tier| WeightTier {
                        max_weight_grams: tier.max_weight_grams,
                        amount: Money::new(tier.amount_minor, currency),
                    })
                    .collect(),
            ),
            (Some(_), Some(_)) => {
                return Err(one_rate_required(
                    "/weight_tiers",
                    "give either flat_amount_minor or weight_tiers, not both",
                ))
            }
            (None, None) => {
                return Err(one_rate_required(
                    "",
                    "a shipping option needs flat_amount_minor or weight_tiers",
                ))
            }
        };
        NewShippingOption::parse(&self.name, self.countries, currency, rate.clone())
            .map_err(|error| shipping_option_error(error, &rate))
    }
}

fn one_rate_required(pointer: &str, message: &str) -> ApiError {
    ApiError::validation(vec![FieldError {
        pointer: pointer.to_owned(),
        message: message.to_owned(),
    }])
}

/// The cart's own pointer for a rate problem is `/rate`, which is not a field of this body:
/// point at `flat_amount_minor` or the offending tier instead.
fn shipping_option_error(error: ShippingOptionError, rate: &ShippingRate) -> ApiError {
    let pointer = match (&error, rate) {
        (ShippingOptionError::NoTiers | ShippingOptionError::TooManyTiers { .. }, _) => {
            "/weight_tiers".to_owned()
        }
        (ShippingOptionError::TiersNotIncreasing { index, .. }, _) => {
            format!("/weight_tiers/{index}/max_weight_grams")
        }
        (ShippingOptionError::NegativeAmount, ShippingRate::WeightTiers(tiers)) => tiers
            .iter()
            .position(|tier| tier.amount.is_negative())
            .map_or_else(
                || "/weight_tiers".to_owned(),
                |index| format!("/weight_tiers/{index}/amount_minor"),
            ),
        (_, ShippingRate::Flat { .. }) if error.pointer() == "/rate" => {
            "/flat_amount_minor".to_owned()
        }
        // `/name` and `/countries` are this body's names too.
        _ => error.pointer().to_owned(),
    };
    let message = error.to_string();
    let error = CartError::from(error);
    ApiError::new(&INVALID_SHIPPING_OPTION, error.detail())
        .with_field_error(pointer, message)
        .with_source(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::parse_json;
    use serde_json::{json, Value};

    fn input(body: Value) -> Result<NewShippingOption, ApiError> {
        parse_json::<NewShippingOptionDto>(body.to_string().as_bytes())?.into_input()
    }

    fn refusal(body: Value) -> (&'static str, String) {
        match input(body) {
            Ok(option) => panic!("accepted {option:?}"),
            Err(error) => (
                error.problem().code,
                error.field_errors()[0].pointer.clone(),
            ),
        }
    }

    fn tiers(bands: &[(u32, i64)]) -> Value {
        bands
            .iter()
            .map(|(grams, amount)| json!({"max_weight_grams": grams, "amount_minor": amount}))
            .collect()
    }

    #[test]
    fn an_option_answers_exactly_one_of_its_two_rates() {
        let flat = input(
            json!({"name": "DHL", "countries": ["DE"], "currency": "EUR",
            "flat_amount_minor": 490}),
        );
        let flat = flat.unwrap_or_else(|e| panic!("{e:?}"));
        let dto = ShippingOptionDto::from(ShippingOption::new(ShippingOptionId::new(), flat));
        assert_eq!((dto.flat_amount_minor, dto.weight_tiers), (Some(490), None));

        let banded = input(
            json!({"name": "DHL", "countries": ["DE"], "currency": "EUR",
            "weight_tiers": tiers(&[(1000, 490), (5000, 990)])}),
        );
        let banded = banded.unwrap_or_else(|e| panic!("{e:?}"));
        let dto = ShippingOptionDto::from(ShippingOption::new(ShippingOptionId::new(), banded));
        assert_eq!(dto.flat_amount_minor, None);
        let json = serde_json::to_value(dto).unwrap_or_default();
        assert_eq!(json["weight_tiers"], tiers(&[(1000, 490), (5000, 990)]));
        assert_eq!(json["flat_amount_minor"], Value::Null);
    }

    #[test]
    fn a_refused_option_points_at_the_field_of_this_body() {
        let base = |rate: (&str, Value)| {
            let mut body = json!({"name": "DHL", "countries": ["DE"], "currency": "EUR"});
            body[rate.0] = rate.1;
            body
        };
        let cases = [
            (base(("flat_amount_minor", json!(-1))), "/flat_amount_minor"),
            (
                base(("weight_tiers", tiers(&[(1, 0), (2, -5)]))),
                "/weight_tiers/1/amount_minor",
            ),
            (base(("weight_tiers", tiers(&[]))), "/weight_tiers"),
            (
                base(("weight_tiers", tiers(&[(5, 1), (5, 2)]))),
                "/weight_tiers/1/max_weight_grams",
            ),
        ];
        for (body, pointer) in cases {
            assert_eq!(
                refusal(body),
                ("invalid_shipping_option", pointer.to_owned())
            );
        }
        let mut unnamed = base(("flat_amount_minor", json!(0)));
        unnamed["name"] = json!(" ");
        assert_eq!(
            refusal(unnamed),
            ("invalid_shipping_option", "/name".to_owned())
        );
        let mut nowhere = base(("flat_amount_minor", json!(0)));
        nowhere["countries"] = json!([]);
        assert_eq!(
            refusal(nowhere),
            ("invalid_shipping_option", "/countries".to_owned())
        );
    }

    #[test]
    fn both_or_neither_rate_is_a_validation_failure() {
        let neither = json!({"name": "DHL", "countries": ["DE"], "currency": "EUR"});
        assert_eq!(refusal(neither), ("validation_failed", String::new()));
        let both = json!({"name": "DHL", "countries": ["DE"], "currency": "EUR",
            "flat_amount_minor": 1, "weight_tiers": tiers(&[(1, 1)])});
        assert_eq!(
            refusal(both),
            ("validation_failed", "/weight_tiers".to_owned())
        );
        let bad_country = json!({"name": "DHL", "countries": ["de", "EU"], "currency": "EUR",
            "flat_amount_minor": 1});
        assert_eq!(
            refusal(bad_country),
            ("validation_failed", "/countries/1".to_owned())
        );
    }
}
