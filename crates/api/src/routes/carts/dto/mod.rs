//! The cart's wire shapes (docs/API.md, "Carts" and "Shipping options and tax rates") and
//! their conversions to and from the cart's model, one file per resource: [`cart`] (the cart
//! and the shopper's bodies), [`shipping_option`] and [`tax_rate`].
//!
//! SKUs, quantities, emails, currencies and ids use the kernel's serde, so a bad value is a 422
//! `validation_failed` pointing at its field. An address is checked by the cart's
//! `Address::parse`, whose refusal is a 422 `invalid_address` with one pointer per bad field; a
//! shipping option by `NewShippingOption::parse`, see [`NewShippingOptionDto::into_input`].

pub mod cart;
pub mod shipping_option;
pub mod tax_rate;

pub use cart::{
    AddressDto, AddressInputDto, CartDto, CartEmailDto, CartLineDto, CartLinePatchDto,
    CreatedCartDto, NewCartDto, NewCartLineDto, ShippingOptionChoiceDto, ShippingQuoteDto,
    ShippingQuoteList, TotalsDto,
};
pub use shipping_option::{
    NewShippingOptionDto, ShippingOptionDto, ShippingOptionList, WeightTierDto,
};
pub use tax_rate::{TaxRateDto, TaxRateInputDto, TaxRateList};
