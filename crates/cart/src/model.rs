//! Cart types. Inputs are validated when they are built ([`Address::parse`],
//! [`NewShippingOption::parse`]), so the service and the store never see an invalid address or
//! shipping option; the store re-validates what it loads.
//!
//! Addresses are in [`address`], access tokens in [`token`], who may open which cart (anonymous
//! shoppers by token, signed-in customers by id) in [`access`], shipping options in
//! [`shipping`]; all their types are re-exported here.

pub mod access;
pub mod address;
pub mod shipping;
pub mod token;

use kassa_catalog::Offer;
use kassa_kernel::ids::{CartId, CartLineId, ShippingOptionId};
use kassa_kernel::rounding::Rate;
use kassa_kernel::{CountryCode, Currency, Email, Money, Quantity, Sku, Timestamp};

pub use access::*;
pub use address::*;
pub use shipping::*;
pub use token::*;

/// Default for [`CartLimits::lines_max`]. A shopper's cart rarely holds more than a few dozen
/// different SKUs; 100 leaves room for large orders while bounding what every read costs (one
/// catalog lookup of at most 100 SKUs, the pricing loop, the response size) and what checkout
/// must reserve. Bulk buyers who need more are better served by a quote than by a cart.
pub const CART_LINES_MAX_DEFAULT: u32 = 100;

/// Limits the cart enforces; passed to [`crate::Carts::new`] by the server's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CartLimits {
    /// Most lines (distinct SKUs) one cart may hold; adding a new SKU to a full cart is refused
    /// with [`crate::CartError::TooManyLines`]. Adding more of a SKU already in the cart is
    /// always allowed up to the quantity maximum. Every read prices all lines in one catalog
    /// `offers` call, so this must stay within the catalog's
    /// [`kassa_catalog::OFFER_SKUS_MAX`] (500).
    pub lines_max: u32,
}

impl Default for CartLimits {
    fn default() -> Self {
        CartLimits {
            lines_max: CART_LINES_MAX_DEFAULT,
        }
    }
}

/// A cart's own fields; its lines come with prices in [`PricedCart::lines`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cart {
    pub id: CartId,
    /// Fixed at creation: every price, shipping amount and total of the cart is in it.
    pub currency: Currency,
    pub email: Option<Email>,
    pub shipping_address: Option<Address>,
    /// The shopper's choice; it counts only while it still applies (see [`crate::pricing`]).
    pub shipping_option_id: Option<ShippingOptionId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One SKU in a cart. A cart holds each SKU at most once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartLine {
    pub id: CartLineId,
    pub sku: Sku,
    pub quantity: Quantity,
    pub created_at: Timestamp,
}

/// A cart priced from the catalog's current prices: what every cart call returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedCart {
    pub cart: Cart,
    /// In the order they were added.
    pub lines: Vec<PricedLine>,
    /// The chosen shipping option's quote, if one is chosen and still applies.
    pub shipping: Option<ShippingQuote>,
    /// The tax rate of the shipping address's country, if there is an address and a rate.
    pub tax_rate: Option<Rate>,
    pub totals: Totals,
}

/// A cart line with its current price. `unit_price` and `line_total` are present exactly when
/// `available` is true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLine {
    pub line: CartLine,
    /// What the catalog says about the SKU now; `None` if the catalog no longer knows it.
    pub offer: Option<Offer>,
    pub unit_price: Option<Money>,
    /// `unit_price × quantity`.
    pub line_total: Option<Money>,
    /// False when the SKU is unknown, archived or has no price in the cart's currency. Such a
    /// line stays in the cart, counts nothing, and checkout will refuse it.
    pub available: bool,
}

/// All in the cart's currency; `total = subtotal + shipping + tax`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub subtotal: Money,
    pub shipping: Money,
    pub tax: Money,
    pub total: Money,
}

/// What one shipping option costs for one cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippingQuote {
    pub option_id: ShippingOptionId,
    pub name: String,
    pub amount: Money,
}

/// A country's tax rate, applied to carts shipping there. Prices are tax-exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaxRate {
    pub country: CountryCode,
    pub rate: Rate,
    pub updated_at: Timestamp,
}
