//! Events the catalog records, each in the same transaction as the change it describes
//! (version 1 of each). Category events are about the category (`aggregate_id` is its `cat_…`
//! id); every other event is about a product (`aggregate_id` is its `prod_…` id), also when a
//! variant or a price changed. A write that changes nothing records nothing.
//!
//! | type | when | data |
//! |---|---|---|
//! | `catalog.category_created` | a category was added | `category_id`, `handle` |
//! | `catalog.product_created` | a product was added | `product_id`, `handle` |
//! | `catalog.product_updated` | title, description, handle, categories or status changed | `product_id`, `status` |
//! | `catalog.product_archived` | the product was archived | `product_id` |
//! | `catalog.variant_added` | a variant was added | `product_id`, `variant_id`, `sku` |
//! | `catalog.variant_updated` | a variant's title, options, weight or status changed | `product_id`, `variant_id`, `sku` |
//! | `catalog.variant_archived` | a variant was archived | `product_id`, `variant_id`, `sku` |
//! | `catalog.price_set` | a variant's price in a currency was set | `product_id`, `variant_id`, `sku`, `currency`, `amount_minor` |
//! | `catalog.price_removed` | a variant's price in a currency was removed | `product_id`, `variant_id`, `sku`, `currency` |
//!
//! Every node reads them back to keep its read cache fresh (`cache.rs`, [`crate::CacheWatcher`]).

use kassa_events::NewEvent;
use kassa_kernel::ids::VariantId;
use kassa_kernel::{Currency, Money, Timestamp};
use serde_json::json;

use crate::model::{Category, Product};

/// The catalog's outbox table, created by its migration from
/// [`kassa_events::outbox_table_sql`].
pub const OUTBOX_TABLE: &str = "catalog_outbox";

pub const CATEGORY_CREATED: &str = "catalog.category_created";
pub const PRODUCT_CREATED: &str = "catalog.product_created";
pub const PRODUCT_UPDATED: &str = "catalog.product_updated";
pub const PRODUCT_ARCHIVED: &str = "catalog.product_archived";
pub const VARIANT_ADDED: &str = "catalog.variant_added";
pub const VARIANT_UPDATED: &str = "catalog.variant_updated";
pub const VARIANT_ARCHIVED: &str = "catalog.variant_archived";
pub const PRICE_SET: &str = "catalog.price_set";
pub const PRICE_REMOVED: &str = "catalog.price_removed";

/// Every event type above, for consumers that let users choose among them (webhook
/// subscriptions validate against it). Add a new type here too.
pub const ALL: &[&str] = &[
    CATEGORY_CREATED,
    PRODUCT_CREATED,
    PRODUCT_UPDATED,
    PRODUCT_ARCHIVED,
    VARIANT_ADDED,
    VARIANT_UPDATED,
    VARIANT_ARCHIVED,
    PRICE_SET,
    PRICE_REMOVED,
];

pub(crate) fn category_created(category: &Category, at: Timestamp) -> NewEvent {
    NewEvent::v1(
        CATEGORY_CREATED,
        category.id.to_string(),
        at,
        json!({ "category_id": category.id.to_string(), "handle": category.handle.as_str() }),
    )
}

/// A product-level event (`created`, `updated`, `archived`) from the product as committed.
pub(crate) fn product(event_type: &'static str, product: &Product, at: Timestamp) -> NewEvent {
    let data = match event_type {
        PRODUCT_CREATED => {
            json!({ "product_id": product.id.to_string(), "handle": product.handle.as_str() })
        }
        PRODUCT_UPDATED => {
            json!({ "product_id": product.id.to_string(), "status": product.status.as_str() })
        }
        _ => json!({ "product_id": product.id.to_string() }),
    };
    NewEvent::v1(event_type, product.id.to_string(), at, data)
}

/// A variant-level event (`added`, `updated`, `archived`), found in the committed product.
pub(crate) fn variant(
    event_type: &'static str,
    product: &Product,
    variant: VariantId,
    at: Timestamp,
) -> NewEvent {
    NewEvent::v1(
        event_type,
        product.id.to_string(),
        at,
        json!({
            "product_id": product.id.to_string(),
            "variant_id": variant.to_string(),
            "sku": sku_of(product, variant),
        }),
    )
}

pub(crate) fn price_set(
    product: &Product,
    variant: VariantId,
    price: Money,
    at: Timestamp,
) -> NewEvent {
    NewEvent::v1(
        PRICE_SET,
        product.id.to_string(),
        at,
        json!({
            "product_id": product.id.to_string(),
            "variant_id": variant.to_string(),
            "sku": sku_of(product, variant),
            "currency": price.currency().code(),
            "amount_minor": price.amount_minor(),
        }),
    )
}

pub(crate) fn price_removed(
    product: &Product,
    variant: VariantId,
    currency: Currency,
    at: Timestamp,
) -> NewEvent {
    NewEvent::v1(
        PRICE_REMOVED,
        product.id.to_string(),
        at,
        json!({
            "product_id": product.id.to_string(),
            "variant_id": variant.to_string(),
            "sku": sku_of(product, variant),
            "currency": currency.code(),
        }),
    )
}

fn sku_of(product: &Product, variant: VariantId) -> Option<String> {
    product
        .variants
        .iter()
        .find(|v| v.id == variant)
        .map(|v| v.sku.to_string())
}
