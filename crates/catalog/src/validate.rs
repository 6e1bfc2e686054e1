//! Checks of service inputs against the limits in [`crate::model`], before any SQL runs. Each
//! refusal is a [`CatalogError::Invalid`] whose JSON pointer names the field, relative to the
//! request body the input came from (`at` is the pointer of the value being checked). Handles,
//! titles and SKUs are already valid by type; what remains are counts, sizes and duplicates.
//!
//! Leaf functions: no I/O, no clock. Option names and values are trimmed here, so what is
//! checked is what is stored.

use std::collections::HashSet;

use kassa_kernel::ids::CategoryId;
use kassa_kernel::{Money, Sku};

use crate::model::*;
use crate::CatalogError;

type Checked<T> = Result<T, CatalogError>;

fn invalid<T>(pointer: impl Into<String>, message: impl Into<String>) -> Checked<T> {
    Err(CatalogError::invalid(pointer, message))
}

/// A new product: description, categories, and 1 to [`VARIANTS_PER_PRODUCT_MAX`] variants
/// with distinct SKUs.
pub(crate) fn new_product(mut input: NewProduct) -> Checked<NewProduct> {
    description(&input.description, "/description")?;
    category_ids(&input.category_ids, "/category_ids")?;
    let count = input.variants.len();
    if count == 0 {
        return invalid("/variants", "A product needs at least one variant.");
    }
    if count > VARIANTS_PER_PRODUCT_MAX {
        return invalid(
            "/variants",
            format!(
                "A product can have at most {VARIANTS_PER_PRODUCT_MAX} variants; {count} were \
                 given."
            ),
        );
    }
    let mut skus: HashSet<Sku> = HashSet::with_capacity(count);
    let mut variants = Vec::with_capacity(count);
    for (i, variant) in input.variants.into_iter().enumerate() {
        let at = format!("/variants/{i}");
        if !skus.insert(variant.sku.clone()) {
            return invalid(
                format!("{at}/sku"),
                format!("The SKU {} is given to more than one variant.", variant.sku),
            );
        }
        variants.push(new_variant(variant, &at)?);
    }
    input.variants = variants;
    Ok(input)
}

/// A new variant at `at` (`""` when it is the whole request).
pub(crate) fn new_variant(mut input: NewVariant, at: &str) -> Checked<NewVariant> {
    input.options = options(input.options, &format!("{at}/options"))?;
    weight_grams(input.weight_grams, &format!("{at}/weight_grams"))?;
    prices(&input.prices, &format!("{at}/prices"))?;
    Ok(input)
}

pub(crate) fn product_patch(patch: ProductPatch) -> Checked<ProductPatch> {
    if let Some(text) = &patch.description {
        description(text, "/description")?;
    }
    if let Some(ids) = &patch.category_ids {
        category_ids(ids, "/category_ids")?;
    }
    Ok(patch)
}

pub(crate) fn variant_patch(mut patch: VariantPatch) -> Checked<VariantPatch> {
    if let Some(given) = patch.options.take() {
        patch.options = Some(options(given, "/options")?);
    }
    if let Some(grams) = patch.weight_grams {
        weight_grams(grams, "/weight_grams")?;
    }
    Ok(patch)
}

pub(crate) fn price(price: Money, at: &str) -> Checked<()> {
    let amount = price.amount_minor();
    if amount <= 0 {
        return invalid(at, format!("A price must be positive; {amount} was given."));
    }
    if amount > PRICE_MINOR_MAX {
        return invalid(
            at,
            format!("A price can be at most {PRICE_MINOR_MAX} minor units; {amount} was given."),
        );
    }
    Ok(())
}

pub(crate) fn filter(filter: &ProductFilter) -> Checked<()> {
    if filter.limit == 0 || filter.limit > PRODUCT_PAGE_LIMIT_MAX {
        return invalid(
            "/limit",
            format!(
                "The page size must be between 1 and {PRODUCT_PAGE_LIMIT_MAX}; {} was given.",
                filter.limit
            ),
        );
    }
    if let Some(text) = &filter.title_contains {
        if text.chars().count() > TITLE_LEN_MAX {
            return invalid(
                "/title_contains",
                format!("The title search can be at most {TITLE_LEN_MAX} characters long."),
            );
        }
    }
    if let Some(PriceRange {
        min_minor: Some(min),
        max_minor: Some(max),
        ..
    }) = filter.price
    {
        if min > max {
            return invalid(
                "/price/max_minor",
                format!("The highest price ({max}) is below the lowest price ({min})."),
            );
        }
    }
    Ok(())
}

pub(crate) fn offer_skus(skus: &[Sku]) -> Checked<()> {
    if skus.len() > OFFER_SKUS_MAX {
        return invalid(
            "/skus",
            format!(
                "At most {OFFER_SKUS_MAX} SKUs can be looked up at once; {} were given.",
                skus.len()
            ),
        );
    }
    Ok(())
}

fn description(text: &str, at: &str) -> Checked<()> {
    let len = text.chars().count();
    if len > DESCRIPTION_LEN_MAX {
        return invalid(
            at,
            format!(
                "A description can be at most {DESCRIPTION_LEN_MAX} characters long; it has \
                 {len}."
            ),
        );
    }
    Ok(())
}

fn category_ids(ids: &[CategoryId], at: &str) -> Checked<()> {
    if ids.len() > CATEGORIES_PER_PRODUCT_MAX {
        return invalid(
            at,
            format!(
                "A product can be in at most {CATEGORIES_PER_PRODUCT_MAX} categories; {} were \
                 given.",
                ids.len()
            ),
        );
    }
    let mut seen = HashSet::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        if !seen.insert(id) {
            return invalid(
                format!("{at}/{i}"),
                format!("The category {id} is listed twice."),
            );
        }
    }
    Ok(())
}

fn weight_grams(grams: u32, at: &str) -> Checked<()> {
    if grams > WEIGHT_GRAMS_MAX {
        return invalid(
            at,
            format!("A variant can weigh at most {WEIGHT_GRAMS_MAX} grams; {grams} was given."),
        );
    }
    Ok(())
}

/// At most one price per currency, each within (0, [`PRICE_MINOR_MAX`]]. Since currencies
/// cannot repeat, the count is bounded by the number of currencies.
fn prices(prices: &[Money], at: &str) -> Checked<()> {
    let mut currencies = HashSet::with_capacity(prices.len());
    for (i, given) in prices.iter().enumerate() {
        if !currencies.insert(given.currency()) {
            return invalid(
                format!("{at}/{i}/currency"),
                format!(
                    "The variant has more than one price in {}.",
                    given.currency()
                ),
            );
        }
        price(*given, &format!("{at}/{i}/amount_minor"))?;
    }
    Ok(())
}

fn options(options: Vec<OptionValue>, at: &str) -> Checked<Vec<OptionValue>> {
    if options.len() > OPTIONS_PER_VARIANT_MAX {
        return invalid(
            at,
            format!(
                "A variant can have at most {OPTIONS_PER_VARIANT_MAX} options; {} were given.",
                options.len()
            ),
        );
    }
    let mut names = HashSet::with_capacity(options.len());
    let mut trimmed = Vec::with_capacity(options.len());
    for (i, option) in options.into_iter().enumerate() {
        let name = option_text(
            "An option name",
            &option.name,
            OPTION_NAME_LEN_MAX,
            &format!("{at}/{i}/name"),
        )?;
        let value = option_text(
            "An option value",
            &option.value,
            OPTION_VALUE_LEN_MAX,
            &format!("{at}/{i}/value"),
        )?;
        if !names.insert(name.to_lowercase()) {
            return invalid(
                format!("{at}/{i}/name"),
                format!("The option '{name}' is given more than once."),
            );
        }
        trimmed.push(OptionValue { name, value });
    }
    Ok(trimmed)
}

/// `what` starts the message: "An option name".
fn option_text(what: &str, text: &str, len_max: usize, at: &str) -> Checked<String> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > len_max || text.chars().any(char::is_control) {
        return invalid(
            at,
            format!(
                "{what} must have 1 to {len_max} characters (surrounding spaces aside) and no \
                 control characters."
            ),
        );
    }
    Ok(text.to_owned())
}
