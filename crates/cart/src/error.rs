//! `CartError` and the cart's entries in the problem registry.
//!
//! Messages are shown to clients as the problem `detail`, so they name what the shopper can act
//! on and never include internals; storage, catalog and randomness failures keep their source
//! for the log and show only a generic text.

use kassa_catalog::CatalogError;
use kassa_db::DbError;
use kassa_kernel::ids::{CartId, CartLineId, ShippingOptionId};
use kassa_kernel::money::AMOUNT_OVERFLOW;
use kassa_kernel::{
    CountryCode, Currency, DomainError, ErrorCategory, MoneyError, ProblemType, Sku,
};

use crate::model::{AddressError, ShippingOptionError};

pub const CART_NOT_FOUND: ProblemType =
    ProblemType::new("cart_not_found", "Cart not found", ErrorCategory::NotFound);
pub const LINE_NOT_FOUND: ProblemType = ProblemType::new(
    "line_not_found",
    "Cart line not found",
    ErrorCategory::NotFound,
);
pub const SHIPPING_OPTION_NOT_FOUND: ProblemType = ProblemType::new(
    "shipping_option_not_found",
    "Shipping option not found",
    ErrorCategory::NotFound,
);
pub const TAX_RATE_NOT_FOUND: ProblemType = ProblemType::new(
    "tax_rate_not_found",
    "Tax rate not found",
    ErrorCategory::NotFound,
);
pub const UNKNOWN_SKU: ProblemType =
    ProblemType::new("unknown_sku", "Unknown SKU", ErrorCategory::Invalid);
pub const SKU_UNAVAILABLE: ProblemType =
    ProblemType::new("sku_unavailable", "SKU unavailable", ErrorCategory::Invalid);
pub const PRICE_UNAVAILABLE: ProblemType = ProblemType::new(
    "price_unavailable",
    "Price unavailable",
    ErrorCategory::Invalid,
);
pub const QUANTITY_TOO_LARGE: ProblemType = ProblemType::new(
    "quantity_too_large",
    "Quantity too large",
    ErrorCategory::Invalid,
);
pub const TOO_MANY_LINES: ProblemType = ProblemType::new(
    "too_many_lines",
    "Too many cart lines",
    ErrorCategory::Invalid,
);
pub const INVALID_ADDRESS: ProblemType =
    ProblemType::new("invalid_address", "Invalid address", ErrorCategory::Invalid);
pub const ADDRESS_REQUIRED: ProblemType = ProblemType::new(
    "address_required",
    "Shipping address required",
    ErrorCategory::Invalid,
);
pub const SHIPPING_OPTION_NOT_APPLICABLE: ProblemType = ProblemType::new(
    "shipping_option_not_applicable",
    "Shipping option not applicable",
    ErrorCategory::Invalid,
);
pub const INVALID_SHIPPING_OPTION: ProblemType = ProblemType::new(
    "invalid_shipping_option",
    "Invalid shipping option",
    ErrorCategory::Invalid,
);
pub const CART_STORAGE_UNAVAILABLE: ProblemType = ProblemType::new(
    "cart_storage_unavailable",
    "Cart storage unavailable",
    ErrorCategory::Unavailable,
);
pub const CART_STORAGE_ERROR: ProblemType = ProblemType::new(
    "cart_storage_error",
    "Cart storage error",
    ErrorCategory::Internal,
);
pub const CART_CATALOG_UNAVAILABLE: ProblemType = ProblemType::new(
    "cart_catalog_unavailable",
    "Catalog unavailable for the cart",
    ErrorCategory::Unavailable,
);
pub const CART_CATALOG_ERROR: ProblemType = ProblemType::new(
    "cart_catalog_error",
    "Catalog error in the cart",
    ErrorCategory::Internal,
);
pub const CART_INTERNAL_ERROR: ProblemType = ProblemType::new(
    "cart_internal_error",
    "Cart internal error",
    ErrorCategory::Internal,
);

/// Every problem type the cart owns. A cart total too large for an `i64` is the kernel's
/// `amount_overflow`, which the kernel registers.
pub const PROBLEM_TYPES: &[&ProblemType] = &[
    &CART_NOT_FOUND,
    &LINE_NOT_FOUND,
    &SHIPPING_OPTION_NOT_FOUND,
    &TAX_RATE_NOT_FOUND,
    &UNKNOWN_SKU,
    &SKU_UNAVAILABLE,
    &PRICE_UNAVAILABLE,
    &QUANTITY_TOO_LARGE,
    &TOO_MANY_LINES,
    &INVALID_ADDRESS,
    &ADDRESS_REQUIRED,
    &SHIPPING_OPTION_NOT_APPLICABLE,
    &INVALID_SHIPPING_OPTION,
    &CART_STORAGE_UNAVAILABLE,
    &CART_STORAGE_ERROR,
    &CART_CATALOG_UNAVAILABLE,
    &CART_CATALOG_ERROR,
    &CART_INTERNAL_ERROR,
];

#[derive(Debug, thiserror::Error)]
pub enum CartError {
    /// Also what a wrong token gives, so a caller cannot tell which carts exist.
    #[error("Cart {0} was not found.")]
    CartNotFound(CartId),
    #[error("Line {0} is not in this cart.")]
    LineNotFound(CartLineId),
    #[error("There is no shipping option {0}.")]
    ShippingOptionNotFound(ShippingOptionId),
    #[error("No tax rate is set for {0}.")]
    TaxRateNotFound(CountryCode),
    #[error("No product is sold under SKU {0}.")]
    UnknownSku(Sku),
    #[error("{0} is no longer for sale.")]
    SkuUnavailable(Sku),
    #[error("{sku} has no price in {currency}, the currency of this cart.")]
    PriceUnavailable { sku: Sku, currency: Currency },
    #[error(
        "Adding {added} units of {sku} to the {in_cart} already in the cart would exceed the \
         maximum of {max} per line."
    )]
    QuantityTooLarge {
        sku: Sku,
        in_cart: u32,
        added: u32,
        max: u32,
    },
    #[error(
        "The cart already holds {max} lines, the most allowed; remove a line or add more of a \
         SKU already in the cart."
    )]
    TooManyLines { max: u32 },
    #[error(transparent)]
    InvalidAddress(#[from] AddressError),
    #[error("The cart needs a shipping address first.")]
    AddressRequired,
    #[error(
        "Shipping option {0} does not apply to this cart: it does not deliver to the address's \
         country, is in another currency, or does not take the cart's weight."
    )]
    ShippingOptionNotApplicable(ShippingOptionId),
    #[error(transparent)]
    InvalidShippingOption(#[from] ShippingOptionError),
    /// A total left the `i64` range (`amount_overflow`), or, as a bug, amounts in two
    /// currencies met (`cart_internal_error`).
    #[error("The cart's amounts cannot be computed: {0}.")]
    Money(#[source] MoneyError),
    #[error("The cart's storage is unavailable; try again shortly.")]
    StorageUnavailable(#[source] DbError),
    #[error("The cart's storage failed.")]
    Storage(#[source] DbError),
    #[error("The catalog is unavailable; try again shortly.")]
    CatalogUnavailable(#[source] CatalogError),
    #[error("The catalog failed while pricing the cart.")]
    Catalog(#[source] CatalogError),
    #[error("No random cart token could be generated.")]
    TokenGeneration(#[source] getrandom::Error),
}

impl From<DbError> for CartError {
    fn from(err: DbError) -> Self {
        if err.is_unavailable() {
            CartError::StorageUnavailable(err)
        } else {
            CartError::Storage(err)
        }
    }
}

impl From<CatalogError> for CartError {
    /// Only errors of the `offers` call reach here; for the cart they are infrastructure, never
    /// the shopper's fault.
    fn from(err: CatalogError) -> Self {
        if err.problem_type().category == ErrorCategory::Unavailable {
            CartError::CatalogUnavailable(err)
        } else {
            CartError::Catalog(err)
        }
    }
}

impl From<MoneyError> for CartError {
    fn from(err: MoneyError) -> Self {
        CartError::Money(err)
    }
}

impl DomainError for CartError {
    fn problem_type(&self) -> &'static ProblemType {
        match self {
            CartError::CartNotFound(_) => &CART_NOT_FOUND,
            CartError::LineNotFound(_) => &LINE_NOT_FOUND,
            CartError::ShippingOptionNotFound(_) => &SHIPPING_OPTION_NOT_FOUND,
            CartError::TaxRateNotFound(_) => &TAX_RATE_NOT_FOUND,
            CartError::UnknownSku(_) => &UNKNOWN_SKU,
            CartError::SkuUnavailable(_) => &SKU_UNAVAILABLE,
            CartError::PriceUnavailable { .. } => &PRICE_UNAVAILABLE,
            CartError::QuantityTooLarge { .. } => &QUANTITY_TOO_LARGE,
            CartError::TooManyLines { .. } => &TOO_MANY_LINES,
            CartError::InvalidAddress(_) => &INVALID_ADDRESS,
            CartError::AddressRequired => &ADDRESS_REQUIRED,
            CartError::ShippingOptionNotApplicable(_) => &SHIPPING_OPTION_NOT_APPLICABLE,
            CartError::InvalidShippingOption(_) => &INVALID_SHIPPING_OPTION,
            CartError::Money(MoneyError::Overflow) => &AMOUNT_OVERFLOW,
            CartError::Money(_) => &CART_INTERNAL_ERROR,
            CartError::StorageUnavailable(_) => &CART_STORAGE_UNAVAILABLE,
            CartError::Storage(_) => &CART_STORAGE_ERROR,
            CartError::CatalogUnavailable(_) => &CART_CATALOG_UNAVAILABLE,
            CartError::Catalog(_) => &CART_CATALOG_ERROR,
            CartError::TokenGeneration(_) => &CART_INTERNAL_ERROR,
        }
    }

    fn field_errors(&self) -> Vec<(String, String)> {
        match self {
            CartError::InvalidAddress(err) => err
                .errors()
                .iter()
                .map(|e| (e.field.pointer(), format!("{e}.")))
                .collect(),
            CartError::InvalidShippingOption(err) => {
                vec![(err.pointer().to_owned(), err.to_string())]
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::{Address, AddressInput};

    #[test]
    fn problem_codes_are_unique_snake_case_and_titled() {
        // Checked together with the kernel's codes: a district never re-registers one of them.
        let all = [PROBLEM_TYPES, kassa_kernel::PROBLEM_TYPES].concat();
        assert_eq!(
            kassa_kernel::error::check_problem_types(&all),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_error_maps_to_a_registered_problem_or_the_kernel_overflow() {
        let sku = Sku::parse("TSHIRT-RED-M").unwrap();
        let errors = [
            CartError::CartNotFound(CartId::new()),
            CartError::UnknownSku(sku.clone()),
            CartError::QuantityTooLarge {
                sku,
                in_cart: 998,
                added: 2,
                max: 999,
            },
            CartError::AddressRequired,
            CartError::Money(MoneyError::CurrencyMismatch {
                left: Currency::Eur,
                right: Currency::Usd,
            }),
        ];
        for err in errors {
            assert!(PROBLEM_TYPES.contains(&err.problem_type()), "{err:?}");
        }
        assert_eq!(
            CartError::Money(MoneyError::Overflow).problem_type().code,
            "amount_overflow"
        );
    }

    #[test]
    fn a_quantity_refusal_names_the_units_and_the_sku() {
        let err = CartError::QuantityTooLarge {
            sku: Sku::parse("TSHIRT-RED-M").unwrap(),
            in_cart: 998,
            added: 2,
            max: 999,
        };
        assert_eq!(
            err.detail(),
            "Adding 2 units of TSHIRT-RED-M to the 998 already in the cart would exceed the \
             maximum of 999 per line."
        );
    }

    #[test]
    fn an_invalid_address_lists_each_field_with_its_pointer() {
        let err: CartError = Address::parse(AddressInput {
            name: "Ada".into(),
            line1: "1 Main St".into(),
            city: "Springfield".into(),
            postal_code: "1".repeat(21),
            country: "XX".into(),
            ..AddressInput::default()
        })
        .unwrap_err()
        .into();
        assert_eq!(err.problem_type().code, "invalid_address");
        assert_eq!(
            err.field_errors(),
            [
                (
                    "/postal_code".to_owned(),
                    "postal_code must be at most 20 characters.".to_owned()
                ),
                (
                    "/country".to_owned(),
                    "country 'XX' is not an ISO 3166-1 alpha-2 country code such as US or DE."
                        .to_owned()
                ),
            ]
        );
        assert!(err
            .detail()
            .starts_with("The shipping address is invalid: postal_code must"));
    }

    #[test]
    fn internal_errors_show_a_generic_detail() {
        let err = CartError::Storage(DbError::Corrupt("column currency: bad".into()));
        assert_eq!(err.problem_type(), &CART_STORAGE_ERROR);
        assert!(!err.detail().contains("currency"));
    }
}
