//! The wire shape of [`kassa_kernel::Money`]: `{"amount_minor": 1999, "currency": "EUR"}`.
//!
//! DTOs hold a [`MoneyDto`] (documented in OpenAPI as `Money`) and convert with `From` both ways.
//! Deserialising checks the currency against the kernel's supported list, so an unknown code is
//! a 422 pointing at `/…/currency`.

use kassa_kernel::{Currency, Money};
use serde::{Deserialize, Serialize};

/// An amount in the currency's minor unit (cents for EUR, yen for JPY): never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Money)]
pub struct MoneyDto {
    #[schema(example = 1999)]
    pub amount_minor: i64,
    /// ISO 4217 code, upper case.
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
}

impl From<Money> for MoneyDto {
    fn from(money: Money) -> MoneyDto {
        MoneyDto {
            amount_minor: money.amount_minor(),
            currency: money.currency(),
        }
    }
}

impl From<MoneyDto> for Money {
    fn from(dto: MoneyDto) -> Money {
        Money::new(dto.amount_minor, dto.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::parse_json;

    #[test]
    fn money_round_trips_through_its_wire_shape() {
        let money = Money::new(1999, Currency::Eur);
        let json = serde_json::to_value(MoneyDto::from(money)).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"amount_minor": 1999, "currency": "EUR"})
        );
        let back: MoneyDto = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Money::from(back), money);
    }

    #[test]
    fn an_unknown_currency_is_a_validation_error_at_its_pointer() {
        let error = parse_json::<MoneyDto>(br#"{"amount_minor": 1, "currency": "XXX"}"#).err();
        let pointer = error.map(|e| e.field_errors()[0].pointer.clone());
        assert_eq!(pointer.as_deref(), Some("/currency"));
    }
}
