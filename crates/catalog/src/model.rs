//! Catalog types. Inputs are validated when built, so the service and store never see an invalid
//! product.

use kassa_kernel::ids::{CategoryId, ProductId, VariantId};
use kassa_kernel::{Currency, Money, Sku, Timestamp};

use crate::CatalogError;

/// Longest handle accepted: long enough for any readable URL slug.
pub const HANDLE_LEN_MAX: usize = 100;
/// Longest product, variant or category title: fits any storefront layout, bounds row size.
pub const TITLE_LEN_MAX: usize = 200;
/// Longest description: generous for rich product copy, bounded so one row stays small.
pub const DESCRIPTION_LEN_MAX: usize = 10_000;
/// Most variants per product: a 10×10 size/colour matrix fits with room to spare.
pub const VARIANTS_PER_PRODUCT_MAX: usize = 100;
/// Most option values per variant (size, colour, material, …).
pub const OPTIONS_PER_VARIANT_MAX: usize = 5;
/// Most categories per product.
pub const CATEGORIES_PER_PRODUCT_MAX: usize = 20;
/// Heaviest variant: 1,000 kg in grams; anything heavier is freight, not parcel shipping.
pub const WEIGHT_GRAMS_MAX: u32 = 1_000_000;
/// Largest unit price in minor units; keeps line totals (× quantity ≤ 999) far from overflow.
pub const PRICE_MINOR_MAX: i64 = 1_000_000_000_000;
/// Longest option name (`size`, `colour`): a label, not prose.
pub const OPTION_NAME_LEN_MAX: usize = 50;
/// Longest option value (`XL`, `Midnight blue`): room for descriptive colour names.
pub const OPTION_VALUE_LEN_MAX: usize = 100;
/// Largest page of products: a full storefront grid; each product brings up to
/// [`VARIANTS_PER_PRODUCT_MAX`] variants, so larger pages make responses too big.
pub const PRODUCT_PAGE_LIMIT_MAX: u32 = 100;
/// Most SKUs priced in one [`Offer`] lookup: well above any cart's line count, and far below the
/// bound-parameter limits of SQLite (32,766) and PostgreSQL (65,535).
pub const OFFER_SKUS_MAX: usize = 500;

/// A URL slug: lowercase ASCII letters, digits and single hyphens, 1..=100 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Handle(String);

impl Handle {
    pub fn parse(input: &str) -> Result<Handle, CatalogError> {
        let s = input.trim();
        let valid = !s.is_empty()
            && s.len() <= HANDLE_LEN_MAX
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
            && !s.contains("--");
        if valid {
            Ok(Handle(s.to_owned()))
        } else {
            Err(CatalogError::InvalidHandle(
                input.chars().take(120).collect(),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Handle {
    type Err = CatalogError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Handle::parse(s)
    }
}

/// A non-empty trimmed title of at most [`TITLE_LEN_MAX`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub fn parse(input: &str) -> Result<Title, CatalogError> {
        let s = input.trim();
        if s.is_empty() || s.chars().count() > TITLE_LEN_MAX || s.chars().any(char::is_control) {
            return Err(CatalogError::InvalidTitle);
        }
        Ok(Title(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Archived,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Archived => "archived",
        }
    }
}

impl std::str::FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(Status::Active),
            "archived" => Ok(Status::Archived),
            other => Err(format!("unknown status '{other}'")),
        }
    }
}

/// One option value of a variant, e.g. `size = M`. The service trims both parts and refuses
/// empty ones, text over [`OPTION_NAME_LEN_MAX`]/[`OPTION_VALUE_LEN_MAX`] characters, control
/// characters, and a name used twice in a variant (ignoring case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionValue {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub id: CategoryId,
    pub handle: Handle,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub id: VariantId,
    pub product_id: ProductId,
    pub sku: Sku,
    pub title: String,
    pub options: Vec<OptionValue>,
    pub weight_grams: u32,
    /// At most one price per currency, ordered by currency code.
    pub prices: Vec<Money>,
    pub status: Status,
}

impl Variant {
    pub fn price_in(&self, currency: Currency) -> Option<Money> {
        self.prices
            .iter()
            .copied()
            .find(|p| p.currency() == currency)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: ProductId,
    pub handle: Handle,
    pub title: String,
    pub description: String,
    pub status: Status,
    /// Ordered by id, which is creation order.
    pub category_ids: Vec<CategoryId>,
    /// In creation order. Public reads (without `include_archived`) leave archived variants
    /// out; staff reads and every write return them all.
    pub variants: Vec<Variant>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewCategory {
    pub handle: Handle,
    pub name: Title,
}

#[derive(Debug, Clone)]
pub struct NewVariant {
    pub sku: Sku,
    pub title: Title,
    pub options: Vec<OptionValue>,
    pub weight_grams: u32,
    pub prices: Vec<Money>,
}

#[derive(Debug, Clone)]
pub struct NewProduct {
    pub handle: Handle,
    pub title: Title,
    pub description: String,
    pub category_ids: Vec<CategoryId>,
    pub variants: Vec<NewVariant>,
}

/// Fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProductPatch {
    pub handle: Option<Handle>,
    pub title: Option<Title>,
    pub description: Option<String>,
    pub category_ids: Option<Vec<CategoryId>>,
    pub status: Option<Status>,
}

#[derive(Debug, Clone, Default)]
pub struct VariantPatch {
    pub title: Option<Title>,
    pub options: Option<Vec<OptionValue>>,
    pub weight_grams: Option<u32>,
    pub status: Option<Status>,
}

/// Only products with at least one variant priced in `currency` within [min, max] (inclusive,
/// minor units) match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PriceRange {
    pub currency: Currency,
    pub min_minor: Option<i64>,
    pub max_minor: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ProductFilter {
    pub category: Option<CategoryId>,
    /// Case-insensitive substring of the title.
    pub title_contains: Option<String>,
    pub price: Option<PriceRange>,
    /// Staff listings include archived products; the public listing never does.
    pub include_archived: bool,
    /// Cursor: products with ids after this one.
    pub after: Option<ProductId>,
    /// Page size, already bounded by the caller's maximum.
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub struct ProductPage {
    pub items: Vec<Product>,
    /// Present when more products may follow.
    pub next_cursor: Option<ProductId>,
}

/// What another district needs to sell one SKU in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub sku: Sku,
    pub product_id: ProductId,
    pub variant_id: VariantId,
    pub product_title: String,
    pub variant_title: String,
    pub weight_grams: u32,
    /// The current price in the requested currency, if the variant has one.
    pub unit_price: Option<Money>,
    /// Both the product and the variant are active.
    pub purchasable: bool,
}
