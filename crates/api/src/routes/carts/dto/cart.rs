//! The cart as answered to the shopper, and the bodies of the shopper's routes.

use kassa_cart::{Address, AddressInput, CartError, PricedCart, PricedLine, ShippingQuote, Totals};
use kassa_kernel::ids::{CartId, CartLineId, ProductId, ShippingOptionId, VariantId};
use kassa_kernel::{CountryCode, Currency, Email, Quantity, Sku};
use serde::{Deserialize, Serialize};

use crate::money::MoneyDto;
use crate::problem::ApiError;

/// A cart, priced from the catalog's current prices (docs/API.md, "A cart").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = Cart)]
pub struct CartDto {
    #[schema(value_type = String, example = "cart_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub id: CartId,
    /// Fixed at creation; every amount of the cart is in it.
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
    #[schema(value_type = Option<String>, required = true, example = "ada@example.com")]
    pub email: Option<Email>,
    #[schema(required = true)]
    pub shipping_address: Option<AddressDto>,
    /// The chosen option while it still applies to the cart, else `null`.
    #[schema(required = true)]
    pub shipping_option: Option<ShippingQuoteDto>,
    /// In the order they were added.
    pub lines: Vec<CartLineDto>,
    /// Percent of the shipping address's country, e.g. `"19"`; `null` without an address or
    /// a rate for its country.
    #[schema(required = true, example = "19")]
    pub tax_rate: Option<String>,
    pub totals: TotalsDto,
    #[schema(example = "2026-11-22T04:39:36.123Z")]
    pub created_at: String,
    #[schema(example = "2026-11-22T04:39:36.123Z")]
    pub updated_at: String,
}

impl From<PricedCart> for CartDto {
    fn from(priced: PricedCart) -> CartDto {
        let cart = priced.cart;
        CartDto {
            id: cart.id,
            currency: cart.currency,
            email: cart.email,
            shipping_address: cart.shipping_address.as_ref().map(AddressDto::from),
            shipping_option: priced.shipping.map(ShippingQuoteDto::from),
            lines: priced.lines.into_iter().map(CartLineDto::from).collect(),
            tax_rate: priced.tax_rate.map(|rate| rate.to_percent_string()),
            totals: TotalsDto::from(priced.totals),
            created_at: cart.created_at.to_rfc3339(),
            updated_at: cart.updated_at.to_rfc3339(),
        }
    }
}

/// The answer to `POST /v1/carts`: the cart and, this once, its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = CreatedCart)]
pub struct CreatedCartDto {
    #[serde(flatten)]
    pub cart: CartDto,
    /// Send it as `Cart-Token` on every later call on this cart. It is not shown again. A cart
    /// created with a customer's bearer token is opened by their session, not by its token.
    pub token: String,
}

/// One SKU in a cart. `unit_price` and `line_total` are `null` when `available` is false;
/// `product_id`, `variant_id` and `title` are `null` when the catalog no longer knows the SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = CartLine)]
pub struct CartLineDto {
    #[schema(value_type = String, example = "line_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub id: CartLineId,
    #[schema(value_type = String, example = "TEE-AURORA-M")]
    pub sku: Sku,
    #[schema(example = 2)]
    pub quantity: u32,
    /// False when the SKU is unknown, archived or has no price in the cart's currency; such a
    /// line counts toward nothing.
    pub available: bool,
    #[schema(value_type = Option<String>, required = true)]
    pub product_id: Option<ProductId>,
    #[schema(value_type = Option<String>, required = true)]
    pub variant_id: Option<VariantId>,
    /// The variant's title.
    #[schema(required = true, example = "Aurora T-shirt / M")]
    pub title: Option<String>,
    #[schema(required = true)]
    pub unit_price: Option<MoneyDto>,
    /// `unit_price` × `quantity`.
    #[schema(required = true)]
    pub line_total: Option<MoneyDto>,
}

impl From<PricedLine> for CartLineDto {
    fn from(priced: PricedLine) -> CartLineDto {
        let offer = priced.offer;
        CartLineDto {
            id: priced.line.id,
            sku: priced.line.sku,
            quantity: priced.line.quantity.get(),
            available: priced.available,
            product_id: offer.as_ref().map(|o| o.product_id),
            variant_id: offer.as_ref().map(|o| o.variant_id),
            title: offer.map(|o| o.variant_title),
            unit_price: priced.unit_price.map(MoneyDto::from),
            line_total: priced.line_total.map(MoneyDto::from),
        }
    }
}

/// All in the cart's currency; `total = subtotal + shipping + tax`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = CartTotals)]
pub struct TotalsDto {
    pub subtotal: MoneyDto,
    pub shipping: MoneyDto,
    pub tax: MoneyDto,
    pub total: MoneyDto,
}

impl From<Totals> for TotalsDto {
    fn from(totals: Totals) -> TotalsDto {
        TotalsDto {
            subtotal: totals.subtotal.into(),
            shipping: totals.shipping.into(),
            tax: totals.tax.into(),
            total: totals.total.into(),
        }
    }
}

/// A shipping address as stored: trimmed, optional fields left blank are `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = Address)]
pub struct AddressDto {
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    #[schema(example = "Unter den Linden 1")]
    pub line1: String,
    #[schema(required = true)]
    pub line2: Option<String>,
    #[schema(example = "Berlin")]
    pub city: String,
    #[schema(example = "10117")]
    pub postal_code: String,
    #[schema(required = true)]
    pub region: Option<String>,
    #[schema(value_type = String, example = "DE")]
    pub country: CountryCode,
    #[schema(required = true)]
    pub phone: Option<String>,
}

impl From<&Address> for AddressDto {
    fn from(address: &Address) -> AddressDto {
        AddressDto {
            name: address.name().to_owned(),
            line1: address.line1().to_owned(),
            line2: address.line2().map(str::to_owned),
            city: address.city().to_owned(),
            postal_code: address.postal_code().to_owned(),
            region: address.region().map(str::to_owned),
            country: address.country(),
            phone: address.phone().map(str::to_owned),
        }
    }
}

/// What one shipping option costs for one cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = ShippingQuote)]
pub struct ShippingQuoteDto {
    #[schema(value_type = String, example = "ship_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub id: ShippingOptionId,
    #[schema(example = "DHL Paket")]
    pub name: String,
    pub amount: MoneyDto,
}

impl From<ShippingQuote> for ShippingQuoteDto {
    fn from(quote: ShippingQuote) -> ShippingQuoteDto {
        ShippingQuoteDto {
            id: quote.option_id,
            name: quote.name,
            amount: quote.amount.into(),
        }
    }
}

/// The options that apply to a cart now, cheapest first, in one page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ShippingQuoteList {
    pub items: Vec<ShippingQuoteDto>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// `POST /v1/carts`.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewCart)]
pub struct NewCartDto {
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
}

/// `POST /v1/carts/{cart_id}/lines`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewCartLine)]
pub struct NewCartLineDto {
    #[schema(value_type = String, example = "TEE-AURORA-M")]
    pub sku: Sku,
    /// 1 to 999; added to the line if the SKU is already in the cart.
    #[schema(value_type = u32, minimum = 1, maximum = 999, example = 2)]
    pub quantity: Quantity,
}

/// `PATCH /v1/carts/{cart_id}/lines/{line_id}`.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CartLinePatch)]
pub struct CartLinePatchDto {
    #[schema(value_type = u32, minimum = 1, maximum = 999, example = 3)]
    pub quantity: Quantity,
}

/// `PUT /v1/carts/{cart_id}/email`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CartEmail)]
pub struct CartEmailDto {
    #[schema(value_type = String, example = "ada@example.com")]
    pub email: Email,
}

/// `PUT /v1/carts/{cart_id}/shipping-address`. Fields are trimmed; blank optional fields are
/// stored as `null`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AddressInput)]
pub struct AddressInputDto {
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    #[schema(example = "Unter den Linden 1")]
    pub line1: String,
    pub line2: Option<String>,
    #[schema(example = "Berlin")]
    pub city: String,
    #[schema(example = "10117")]
    pub postal_code: String,
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2, either case.
    #[schema(example = "DE")]
    pub country: String,
    pub phone: Option<String>,
}

impl From<AddressInputDto> for AddressInput {
    fn from(dto: AddressInputDto) -> AddressInput {
        AddressInput {
            name: dto.name,
            line1: dto.line1,
            line2: dto.line2,
            city: dto.city,
            postal_code: dto.postal_code,
            region: dto.region,
            country: dto.country,
            phone: dto.phone,
        }
    }
}

impl AddressInputDto {
    /// A 422 `invalid_address` naming every bad field (`/postal_code`, …) when it does not
    /// parse.
    pub fn into_address(self) -> Result<Address, ApiError> {
        Address::parse(self.into()).map_err(|error| ApiError::from(CartError::from(error)))
    }
}

/// `PUT /v1/carts/{cart_id}/shipping-option`.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ShippingOptionChoice)]
pub struct ShippingOptionChoiceDto {
    #[schema(value_type = String, example = "ship_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub shipping_option_id: ShippingOptionId,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::parse_json;
    use kassa_cart::{
        pricing, Cart, CartLine, NewShippingOption, ShippingOption, ShippingRate, TaxRate,
    };
    use kassa_catalog::Offer;
    use kassa_kernel::rounding::Rate;
    use kassa_kernel::{Money, Timestamp};
    use serde_json::json;

    fn ok<T, E: std::fmt::Debug>(result: Result<T, E>) -> T {
        result.unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn eur(amount_minor: i64) -> Money {
        Money::new(amount_minor, Currency::Eur)
    }

    fn line(sku: &str, quantity: u32) -> CartLine {
        CartLine {
            id: CartLineId::new(),
            sku: ok(Sku::parse(sku)),
            quantity: ok(Quantity::new(quantity)),
            created_at: Timestamp::from_millis(0),
        }
    }

    fn offer(sku: &str, price: i64, purchasable: bool) -> Offer {
        Offer {
            sku: ok(Sku::parse(sku)),
            product_id: ProductId::new(),
            variant_id: VariantId::new(),
            product_title: "Aurora T-shirt".to_owned(),
            variant_title: "Aurora T-shirt / M".to_owned(),
            weight_grams: 200,
            unit_price: Some(eur(price)),
            purchasable,
        }
    }

    fn address() -> Address {
        ok(Address::parse(AddressInput {
            name: "Ada Lovelace".to_owned(),
            line1: "Unter den Linden 1".to_owned(),
            city: "Berlin".to_owned(),
            postal_code: "10117".to_owned(),
            country: "DE".to_owned(),
            ..AddressInput::default()
        }))
    }

    /// The example cart of docs/API.md, plus an archived and an unknown SKU.
    #[test]
    fn a_priced_cart_serialises_in_the_documented_shape() {
        let de = ok(CountryCode::parse("DE"));
        let option = ShippingOption::new(
            ShippingOptionId::new(),
            ok(NewShippingOption::parse(
                "DHL Paket",
                vec![de],
                Currency::Eur,
                ShippingRate::Flat { amount: eur(490) },
            )),
        );
        let cart = Cart {
            id: CartId::new(),
            currency: Currency::Eur,
            email: Some(ok(Email::parse("ada@example.com"))),
            shipping_address: Some(address()),
            shipping_option_id: Some(option.id()),
            created_at: Timestamp::from_millis(1_795_322_376_123),
            updated_at: Timestamp::from_millis(1_795_322_376_124),
        };
        let lines = vec![line("TEE-AURORA-M", 2), line("TEE-OLD", 1), line("GONE", 3)];
        let sold = offer("TEE-AURORA-M", 2500, true);
        let archived = offer("TEE-OLD", 900, false);
        let tax_rate = TaxRate {
            country: de,
            rate: ok(Rate::parse_percent("19")),
            updated_at: Timestamp::from_millis(0),
        };
        let priced = ok(pricing::price_cart(
            cart.clone(),
            lines.clone(),
            vec![sold.clone(), archived.clone()],
            Some(&option),
            Some(tax_rate),
        ));

        let json = ok(serde_json::to_value(CartDto::from(priced)));
        let money = |amount: i64| json!({"amount_minor": amount, "currency": "EUR"});
        assert_eq!(
            json,
            json!({
                "id": cart.id.to_string(), "currency": "EUR", "email": "ada@example.com",
                "shipping_address": {"name": "Ada Lovelace", "line1": "Unter den Linden 1",
                    "line2": null, "city": "Berlin", "postal_code": "10117", "region": null,
                    "country": "DE", "phone": null},
                "shipping_option": {"id": option.id().to_string(), "name": "DHL Paket",
                    "amount": money(490)},
                "lines": [
                    {"id": lines[0].id.to_string(), "sku": "TEE-AURORA-M", "quantity": 2,
                     "available": true, "product_id": sold.product_id.to_string(),
                     "variant_id": sold.variant_id.to_string(), "title": "Aurora T-shirt / M",
                     "unit_price": money(2500), "line_total": money(5000)},
                    {"id": lines[1].id.to_string(), "sku": "TEE-OLD", "quantity": 1,
                     "available": false, "product_id": archived.product_id.to_string(),
                     "variant_id": archived.variant_id.to_string(), "title": "Aurora T-shirt / M",
                     "unit_price": null, "line_total": null},
                    {"id": lines[2].id.to_string(), "sku": "GONE", "quantity": 3,
                     "available": false, "product_id": null, "variant_id": null, "title": null,
                     "unit_price": null, "line_total": null}
                ],
                "tax_rate": "19",
                "totals": {"subtotal": money(5000), "shipping": money(490), "tax": money(1043),
                    "total": money(6533)},
                "created_at": "2026-11-22T04:39:36.123Z", "updated_at": "2026-11-22T04:39:36.124Z"
            })
        );
    }

    #[test]
    fn an_empty_cart_has_every_member_and_a_created_cart_adds_its_token() {
        let cart = Cart {
            id: CartId::new(),
            currency: Currency::Jpy,
            email: None,
            shipping_address: None,
            shipping_option_id: None,
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
        };
        let priced = ok(pricing::price_cart(
            cart,
            Vec::new(),
            Vec::new(),
            None,
            None,
        ));
        let created = CreatedCartDto {
            cart: CartDto::from(priced),
            token: "t0ken".to_owned(),
        };
        let json = ok(serde_json::to_value(created));
        assert_eq!(json["token"], "t0ken");
        assert_eq!(
            json["totals"]["total"],
            json!({"amount_minor": 0, "currency": "JPY"})
        );
        for member in ["email", "shipping_address", "shipping_option", "tax_rate"] {
            assert_eq!(json[member], serde_json::Value::Null, "{member}");
            assert!(json.get(member).is_some(), "{member} is left out");
        }
    }

    #[test]
    fn every_bad_address_field_is_one_invalid_address_error_at_its_pointer() {
        let body = json!({"name": "Ada", "line1": "Unter den Linden 1", "city": "Berlin",
            "postal_code": " ", "country": "XX", "phone": "   "});
        let dto: AddressInputDto = ok(parse_json(body.to_string().as_bytes()));
        let error = match dto.into_address() {
            Ok(address) => panic!("accepted {address:?}"),
            Err(error) => error,
        };
        assert_eq!(error.problem().code, "invalid_address");
        let pointers: Vec<&str> = error
            .field_errors()
            .iter()
            .map(|e| e.pointer.as_str())
            .collect();
        assert_eq!(pointers, ["/postal_code", "/country"]);

        let missing = parse_json::<AddressInputDto>(br#"{"name": "Ada"}"#).err();
        let pointer = missing.map(|e| e.field_errors()[0].pointer.clone());
        assert_eq!(pointer.as_deref(), Some("/line1"));
    }
}
