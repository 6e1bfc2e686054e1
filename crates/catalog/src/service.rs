//! The catalog's service trait: the only way other crates use the catalog.

use std::sync::Arc;

use async_trait::async_trait;
use kassa_kernel::ids::{CategoryId, ProductId, VariantId};
use kassa_kernel::{Clock, Currency, Money, Sku};

use tracing::instrument;

use crate::model::*;
use crate::store::{CatalogStore, CatalogTx, VariantHead};
use crate::{events, validate, CatalogError};

/// Every method is one transaction. Writes return the product as committed, archived variants
/// included; they work on archived products too, except [`CatalogService::add_variant`].
/// Inputs are checked against the limits in [`crate::model`]; a refusal is
/// [`CatalogError::Invalid`] with a JSON pointer relative to the input (`/variants/1/sku`).
#[async_trait]
pub trait CatalogService: Send + Sync {
    /// Fails with `HandleTaken` if another category has the handle.
    async fn create_category(&self, input: NewCategory) -> Result<Category, CatalogError>;
    /// Every category, ordered by handle.
    async fn categories(&self) -> Result<Vec<Category>, CatalogError>;

    /// Creates an active product with its variants. Fails with `HandleTaken`, `SkuTaken` (the
    /// SKU belongs to any other variant) or `CategoryNotFound`, writing nothing.
    async fn create_product(&self, input: NewProduct) -> Result<Product, CatalogError>;
    /// Changes the fields the patch sets; an empty patch changes nothing. Setting `status`
    /// archives or restores the product.
    async fn update_product(
        &self,
        id: ProductId,
        patch: ProductPatch,
    ) -> Result<Product, CatalogError>;
    /// Makes the product and all its variants not purchasable; the variants keep their own
    /// status. Archiving an archived product changes nothing.
    async fn archive_product(&self, id: ProductId) -> Result<Product, CatalogError>;

    /// Adds an active variant after the existing ones. Fails with `ProductArchived` on an
    /// archived product, and with `Invalid` (pointer `""`) when the product already has
    /// [`VARIANTS_PER_PRODUCT_MAX`] variants, archived ones included.
    async fn add_variant(
        &self,
        product: ProductId,
        input: NewVariant,
    ) -> Result<Product, CatalogError>;
    async fn update_variant(
        &self,
        id: VariantId,
        patch: VariantPatch,
    ) -> Result<Product, CatalogError>;
    /// Archiving the last active variant is allowed: the product stays, with nothing to buy.
    async fn archive_variant(&self, id: VariantId) -> Result<Product, CatalogError>;
    /// Sets (inserts or replaces) the variant's price in the price's currency.
    async fn set_price(&self, variant: VariantId, price: Money) -> Result<Product, CatalogError>;
    /// Removing a price the variant does not have changes nothing.
    async fn remove_price(
        &self,
        variant: VariantId,
        currency: Currency,
    ) -> Result<Product, CatalogError>;

    /// One product. Archived products are `ProductNotFound` unless `include_archived`; without
    /// it, archived variants are left out too.
    async fn product(&self, id: ProductId, include_archived: bool)
        -> Result<Product, CatalogError>;
    /// Like [`CatalogService::product`]; an unknown handle is `ProductHandleNotFound`.
    async fn product_by_handle(
        &self,
        handle: &Handle,
        include_archived: bool,
    ) -> Result<Product, CatalogError>;
    /// Products in id (creation) order; `filter.limit` must be 1 to
    /// [`PRODUCT_PAGE_LIMIT_MAX`].
    async fn list_products(&self, filter: ProductFilter) -> Result<ProductPage, CatalogError>;

    /// Offers for the SKUs that exist (archived ones included, marked not purchasable), in the
    /// order first asked for; unknown SKUs are simply absent from the result. At most
    /// [`OFFER_SKUS_MAX`] SKUs.
    async fn offers(&self, skus: &[Sku], currency: Currency) -> Result<Vec<Offer>, CatalogError>;

    /// Recorded catalog events ([`crate::events`]), oldest first, after `after`; at most
    /// `limit` (capped at [`EVENTS_PAGE_MAX`]).
    async fn events(
        &self,
        after: Option<kassa_events::EventId>,
        limit: u32,
    ) -> Result<Vec<kassa_events::Event>, CatalogError>;
}

/// The most events one [`CatalogService::events`] call returns.
pub const EVENTS_PAGE_MAX: u32 = 100;

/// The catalog service over its store.
pub struct Catalog {
    store: CatalogStore,
    clock: Arc<dyn Clock>,
}

impl Catalog {
    pub fn new(store: CatalogStore, clock: Arc<dyn Clock>) -> Self {
        Catalog { store, clock }
    }
}

impl Catalog {
    /// Reads the product as the transaction left it, then commits: what is returned is exactly
    /// what was committed.
    ///
    /// `change` makes the event recorded with it from that product, if the call changed
    /// anything.
    async fn finish(
        &self,
        mut tx: CatalogTx,
        id: ProductId,
        change: Option<Change>,
    ) -> Result<Product, CatalogError> {
        let product = tx
            .product(id)
            .await?
            .ok_or(CatalogError::ProductNotFound(id))?;
        if let Some(change) = change {
            let event = change.event(&product, self.clock.now());
            tx.record(&[event]).await?;
        }
        tx.commit().await?;
        Ok(product)
    }
}

/// What a write changed, for the event [`Catalog::finish`] records.
enum Change {
    Product(&'static str),
    Variant(&'static str, VariantId),
    PriceSet(VariantId, Money),
    PriceRemoved(VariantId, Currency),
}

impl Change {
    fn event(self, product: &Product, at: kassa_kernel::Timestamp) -> kassa_events::NewEvent {
        match self {
            Change::Product(kind) => events::product(kind, product, at),
            Change::Variant(kind, variant) => events::variant(kind, product, variant, at),
            Change::PriceSet(variant, price) => events::price_set(product, variant, price, at),
            Change::PriceRemoved(variant, currency) => {
                events::price_removed(product, variant, currency, at)
            }
        }
    }
}

async fn ensure_categories_exist(
    tx: &mut CatalogTx,
    ids: &[CategoryId],
) -> Result<(), CatalogError> {
    match tx.first_missing_category(ids).await? {
        Some(missing) => Err(CatalogError::CategoryNotFound(missing)),
        None => Ok(()),
    }
}

async fn existing_variant(tx: &mut CatalogTx, id: VariantId) -> Result<VariantHead, CatalogError> {
    tx.variant_head(id)
        .await?
        .ok_or(CatalogError::VariantNotFound(id))
}

fn patch_is_empty(patch: &ProductPatch) -> bool {
    patch.handle.is_none()
        && patch.title.is_none()
        && patch.description.is_none()
        && patch.category_ids.is_none()
        && patch.status.is_none()
}

fn variant_patch_is_empty(patch: &VariantPatch) -> bool {
    patch.title.is_none()
        && patch.options.is_none()
        && patch.weight_grams.is_none()
        && patch.status.is_none()
}

#[async_trait]
impl CatalogService for Catalog {
    #[instrument(skip_all, fields(handle = %input.handle))]
    async fn create_category(&self, input: NewCategory) -> Result<Category, CatalogError> {
        let category = Category {
            id: CategoryId::new(),
            handle: input.handle,
            name: input.name.as_str().to_owned(),
        };
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        tx.insert_category(&category, now).await?;
        tx.record(&[events::category_created(&category, now)])
            .await?;
        tx.commit().await?;
        tracing::info!(category_id = %category.id, "created category");
        Ok(category)
    }

    async fn categories(&self) -> Result<Vec<Category>, CatalogError> {
        Ok(self.store.categories().await?)
    }

    #[instrument(skip_all, fields(handle = %input.handle))]
    async fn create_product(&self, input: NewProduct) -> Result<Product, CatalogError> {
        let input = validate::new_product(input)?;
        let id = ProductId::new();
        let mut tx = self.store.begin().await?;
        ensure_categories_exist(&mut tx, &input.category_ids).await?;
        tx.insert_product(id, &input, self.clock.now()).await?;
        let product = self
            .finish(tx, id, Some(Change::Product(events::PRODUCT_CREATED)))
            .await?;
        tracing::info!(product_id = %id, "created product");
        Ok(product)
    }

    #[instrument(skip_all, fields(product_id = %id))]
    async fn update_product(
        &self,
        id: ProductId,
        patch: ProductPatch,
    ) -> Result<Product, CatalogError> {
        let patch = validate::product_patch(patch)?;
        let mut tx = self.store.begin().await?;
        tx.product_status(id)
            .await?
            .ok_or(CatalogError::ProductNotFound(id))?;
        if patch_is_empty(&patch) {
            return self.finish(tx, id, None).await;
        }
        if let Some(ids) = &patch.category_ids {
            ensure_categories_exist(&mut tx, ids).await?;
            tx.replace_categories(id, ids).await?;
        }
        tx.update_product(id, &patch, self.clock.now()).await?;
        self.finish(tx, id, Some(Change::Product(events::PRODUCT_UPDATED)))
            .await
    }

    #[instrument(skip_all, fields(product_id = %id))]
    async fn archive_product(&self, id: ProductId) -> Result<Product, CatalogError> {
        let mut tx = self.store.begin().await?;
        let status = tx
            .product_status(id)
            .await?
            .ok_or(CatalogError::ProductNotFound(id))?;
        let mut change = None;
        if status == Status::Active {
            let patch = ProductPatch {
                status: Some(Status::Archived),
                ..ProductPatch::default()
            };
            tx.update_product(id, &patch, self.clock.now()).await?;
            change = Some(Change::Product(events::PRODUCT_ARCHIVED));
        }
        self.finish(tx, id, change).await
    }

    #[instrument(skip_all, fields(product_id = %product))]
    async fn add_variant(
        &self,
        product: ProductId,
        input: NewVariant,
    ) -> Result<Product, CatalogError> {
        let input = validate::new_variant(input, "")?;
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        // Touching the product first locks its row on PostgreSQL, so concurrent additions to one
        // product wait and count each other's variants. SQLite has a single writer anyway.
        tx.touch_product(product, now).await?;
        let status = tx
            .product_status(product)
            .await?
            .ok_or(CatalogError::ProductNotFound(product))?;
        if status == Status::Archived {
            return Err(CatalogError::ProductArchived(product));
        }
        let (count, next_position) = tx.variant_slots(product).await?;
        if count >= VARIANTS_PER_PRODUCT_MAX {
            return Err(CatalogError::invalid(
                "",
                format!(
                    "The product already has {count} variants; a product can have at most \
                     {VARIANTS_PER_PRODUCT_MAX}."
                ),
            ));
        }
        let variant = tx
            .insert_variant(product, next_position, &input, now)
            .await?;
        self.finish(
            tx,
            product,
            Some(Change::Variant(events::VARIANT_ADDED, variant)),
        )
        .await
    }

    #[instrument(skip_all, fields(variant_id = %id))]
    async fn update_variant(
        &self,
        id: VariantId,
        patch: VariantPatch,
    ) -> Result<Product, CatalogError> {
        let patch = validate::variant_patch(patch)?;
        let mut tx = self.store.begin().await?;
        let head = existing_variant(&mut tx, id).await?;
        let mut change = None;
        if !variant_patch_is_empty(&patch) {
            let now = self.clock.now();
            tx.update_variant(id, &patch, now).await?;
            tx.touch_product(head.product_id, now).await?;
            change = Some(Change::Variant(events::VARIANT_UPDATED, id));
        }
        self.finish(tx, head.product_id, change).await
    }

    #[instrument(skip_all, fields(variant_id = %id))]
    async fn archive_variant(&self, id: VariantId) -> Result<Product, CatalogError> {
        let mut tx = self.store.begin().await?;
        let head = existing_variant(&mut tx, id).await?;
        let mut change = None;
        if head.status == Status::Active {
            let now = self.clock.now();
            let patch = VariantPatch {
                status: Some(Status::Archived),
                ..VariantPatch::default()
            };
            tx.update_variant(id, &patch, now).await?;
            tx.touch_product(head.product_id, now).await?;
            change = Some(Change::Variant(events::VARIANT_ARCHIVED, id));
        }
        self.finish(tx, head.product_id, change).await
    }

    #[instrument(skip_all, fields(variant_id = %variant, currency = %price.currency()))]
    async fn set_price(&self, variant: VariantId, price: Money) -> Result<Product, CatalogError> {
        validate::price(price, "/amount_minor")?;
        let mut tx = self.store.begin().await?;
        let head = existing_variant(&mut tx, variant).await?;
        let now = self.clock.now();
        tx.upsert_price(variant, price, now).await?;
        tx.touch_product(head.product_id, now).await?;
        self.finish(tx, head.product_id, Some(Change::PriceSet(variant, price)))
            .await
    }

    #[instrument(skip_all, fields(variant_id = %variant, currency = %currency))]
    async fn remove_price(
        &self,
        variant: VariantId,
        currency: Currency,
    ) -> Result<Product, CatalogError> {
        let mut tx = self.store.begin().await?;
        let head = existing_variant(&mut tx, variant).await?;
        let now = self.clock.now();
        let mut change = None;
        if tx.delete_price(variant, currency, now).await? {
            tx.touch_product(head.product_id, now).await?;
            change = Some(Change::PriceRemoved(variant, currency));
        }
        self.finish(tx, head.product_id, change).await
    }

    async fn product(
        &self,
        id: ProductId,
        include_archived: bool,
    ) -> Result<Product, CatalogError> {
        self.store
            .product(id, include_archived)
            .await?
            .ok_or(CatalogError::ProductNotFound(id))
    }

    async fn product_by_handle(
        &self,
        handle: &Handle,
        include_archived: bool,
    ) -> Result<Product, CatalogError> {
        self.store
            .product_by_handle(handle, include_archived)
            .await?
            .ok_or_else(|| CatalogError::ProductHandleNotFound(handle.to_string()))
    }

    async fn list_products(&self, filter: ProductFilter) -> Result<ProductPage, CatalogError> {
        validate::filter(&filter)?;
        Ok(self.store.list_products(&filter).await?)
    }

    async fn offers(&self, skus: &[Sku], currency: Currency) -> Result<Vec<Offer>, CatalogError> {
        validate::offer_skus(skus)?;
        Ok(self.store.offers(skus, currency).await?)
    }

    async fn events(
        &self,
        after: Option<kassa_events::EventId>,
        limit: u32,
    ) -> Result<Vec<kassa_events::Event>, CatalogError> {
        Ok(self.store.events(after, limit.min(EVENTS_PAGE_MAX)).await?)
    }
}
