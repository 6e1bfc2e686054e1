//! Writes, inside the one transaction of a service call. Unique violations are turned into
//! domain errors at the statement that can raise them: a product's or category's handle
//! ([`CatalogError::HandleTaken`]) and a variant's SKU ([`CatalogError::SkuTaken`]). Every other
//! unique key is a fresh id or is checked by the service first, so a violation there is a bug
//! and stays a storage error.

use std::collections::HashSet;

use kassa_db::{row, DbError, Sql, Tx};
use kassa_kernel::ids::{CategoryId, ProductId, VariantId};
use kassa_kernel::{Currency, Money, Timestamp};

use super::{load, push_list, search_text, status, PRODUCT_SELECT};
use crate::model::{
    Category, NewProduct, NewVariant, OptionValue, Product, ProductPatch, Status, VariantPatch,
};
use crate::CatalogError;

/// One write transaction. Dropping it without [`CatalogTx::commit`] rolls everything back, so
/// an error returned half-way through a service call leaves nothing behind.
pub struct CatalogTx {
    tx: Tx,
}

/// What an existing variant's write needs to know about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VariantHead {
    pub product_id: ProductId,
    pub status: Status,
}

/// Turns a unique violation into the domain conflict; anything else stays a storage error.
fn unique_as(err: sqlx::Error, conflict: impl FnOnce() -> CatalogError) -> CatalogError {
    let err = DbError::from(err);
    if err.is_unique_violation() {
        conflict()
    } else {
        CatalogError::Storage(err)
    }
}

impl CatalogTx {
    pub(super) fn new(tx: Tx) -> Self {
        CatalogTx { tx }
    }

    pub async fn commit(self) -> Result<(), DbError> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Records `events` in the catalog's outbox, to commit with this transaction's changes.
    pub async fn record(&mut self, events: &[kassa_events::NewEvent]) -> Result<(), DbError> {
        kassa_events::append(&mut self.tx, crate::events::OUTBOX_TABLE, events).await
    }

    pub async fn insert_category(
        &mut self,
        category: &Category,
        now: Timestamp,
    ) -> Result<(), CatalogError> {
        kassa_db::query(
            "INSERT INTO catalog_categories (id, handle, name, created_at_ms) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(category.id.to_string())
        .bind(category.handle.as_str())
        .bind(category.name.as_str())
        .bind(now.millis())
        .execute(&mut *self.tx)
        .await
        .map_err(|err| {
            unique_as(err, || {
                CatalogError::HandleTaken(category.handle.to_string())
            })
        })?;
        Ok(())
    }

    /// The first of `ids` that names no category, if any.
    pub async fn first_missing_category(
        &mut self,
        ids: &[CategoryId],
    ) -> Result<Option<CategoryId>, DbError> {
        if ids.is_empty() {
            return Ok(None);
        }
        let mut sql = Sql::new("SELECT id FROM catalog_categories WHERE id IN ");
        push_list(&mut sql, ids.iter().map(ToString::to_string));
        let rows = sql.build()?.fetch_all(&mut *self.tx).await?;
        let found = rows
            .iter()
            .map(|r| row::parse(r, "id"))
            .collect::<Result<HashSet<CategoryId>, _>>()?;
        Ok(ids.iter().copied().find(|id| !found.contains(id)))
    }

    /// Inserts an active product with its categories and variants (positions 0, 1, …).
    pub async fn insert_product(
        &mut self,
        id: ProductId,
        input: &NewProduct,
        now: Timestamp,
    ) -> Result<(), CatalogError> {
        kassa_db::query(
            "INSERT INTO catalog_products \
             (id, handle, title, title_search, description, status, created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(id.to_string())
        .bind(input.handle.as_str())
        .bind(input.title.as_str())
        .bind(search_text(input.title.as_str()))
        .bind(input.description.as_str())
        .bind(Status::Active.as_str())
        .bind(now.millis())
        .execute(&mut *self.tx)
        .await
        .map_err(|err| unique_as(err, || CatalogError::HandleTaken(input.handle.to_string())))?;
        self.insert_categories(id, &input.category_ids).await?;
        for (position, variant) in (0_i64..).zip(&input.variants) {
            self.insert_variant(id, position, variant, now).await?;
        }
        Ok(())
    }

    /// Replaces the product's categories with `ids` (already checked to exist, no duplicates).
    pub async fn replace_categories(
        &mut self,
        product: ProductId,
        ids: &[CategoryId],
    ) -> Result<(), DbError> {
        kassa_db::query("DELETE FROM catalog_product_categories WHERE product_id = $1")
            .bind(product.to_string())
            .execute(&mut *self.tx)
            .await?;
        self.insert_categories(product, ids).await
    }

    async fn insert_categories(
        &mut self,
        product: ProductId,
        ids: &[CategoryId],
    ) -> Result<(), DbError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut sql =
            Sql::new("INSERT INTO catalog_product_categories (product_id, category_id) VALUES ");
        for (i, category) in ids.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" })
                .bind(product.to_string())
                .push(", ")
                .bind(category.to_string())
                .push(")");
        }
        sql.build()?.execute(&mut *self.tx).await?;
        Ok(())
    }

    /// The product's status, or `None` if there is no such product.
    pub async fn product_status(&mut self, id: ProductId) -> Result<Option<Status>, DbError> {
        let found = kassa_db::query("SELECT status FROM catalog_products WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *self.tx)
            .await?;
        found.map(|r| status(&r, "status")).transpose()
    }

    /// How many variants the product has (archived ones included) and the position the next
    /// one takes.
    pub async fn variant_slots(&mut self, product: ProductId) -> Result<(usize, i64), DbError> {
        let found = kassa_db::query(
            "SELECT COUNT(*) AS variant_count, COALESCE(MAX(position) + 1, 0) AS next_position \
             FROM catalog_variants WHERE product_id = $1",
        )
        .bind(product.to_string())
        .fetch_one(&mut *self.tx)
        .await?;
        let count = row::int(&found, "variant_count")?;
        let count = usize::try_from(count)
            .map_err(|_| DbError::Corrupt(format!("variant count {count} is out of range")))?;
        Ok((count, row::int(&found, "next_position")?))
    }

    /// Updates the fields the patch sets and bumps `updated_at`. Categories are replaced
    /// separately with [`CatalogTx::replace_categories`].
    pub async fn update_product(
        &mut self,
        id: ProductId,
        patch: &ProductPatch,
        now: Timestamp,
    ) -> Result<(), CatalogError> {
        let mut sql = Sql::new("UPDATE catalog_products SET updated_at_ms = ");
        sql.bind(now.millis());
        if let Some(handle) = &patch.handle {
            sql.push(", handle = ").bind(handle.as_str().to_owned());
        }
        if let Some(title) = &patch.title {
            sql.push(", title = ")
                .bind(title.as_str().to_owned())
                .push(", title_search = ")
                .bind(search_text(title.as_str()));
        }
        if let Some(description) = &patch.description {
            sql.push(", description = ").bind(description.clone());
        }
        if let Some(status) = patch.status {
            sql.push(", status = ").bind(status.as_str());
        }
        sql.push(" WHERE id = ").bind(id.to_string());
        let result = sql.build()?.execute(&mut *self.tx).await;
        // Only the handle is unique among the columns set here.
        result.map_err(|err| match &patch.handle {
            Some(handle) => unique_as(err, || CatalogError::HandleTaken(handle.to_string())),
            None => CatalogError::Storage(err.into()),
        })?;
        Ok(())
    }

    /// Bumps the product's `updated_at` after a change to one of its variants.
    pub async fn touch_product(&mut self, id: ProductId, now: Timestamp) -> Result<(), DbError> {
        kassa_db::query("UPDATE catalog_products SET updated_at_ms = $1 WHERE id = $2")
            .bind(now.millis())
            .bind(id.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Inserts an active variant with its options and prices; returns its new id.
    pub async fn insert_variant(
        &mut self,
        product: ProductId,
        position: i64,
        input: &NewVariant,
        now: Timestamp,
    ) -> Result<VariantId, CatalogError> {
        let id = VariantId::new();
        kassa_db::query(
            "INSERT INTO catalog_variants (id, product_id, sku, title, weight_grams, status, \
             position, created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(id.to_string())
        .bind(product.to_string())
        .bind(input.sku.as_str())
        .bind(input.title.as_str())
        .bind(i64::from(input.weight_grams))
        .bind(Status::Active.as_str())
        .bind(position)
        .bind(now.millis())
        .execute(&mut *self.tx)
        .await
        .map_err(|err| unique_as(err, || CatalogError::SkuTaken(input.sku.clone())))?;
        self.insert_options(id, &input.options).await?;
        if !input.prices.is_empty() {
            let mut sql =
                Sql::new("INSERT INTO catalog_prices (variant_id, currency, amount_minor) VALUES ");
            for (i, price) in input.prices.iter().enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" })
                    .bind(id.to_string())
                    .push(", ")
                    .bind(price.currency().code())
                    .push(", ")
                    .bind(price.amount_minor())
                    .push(")");
            }
            sql.build()?
                .execute(&mut *self.tx)
                .await
                .map_err(DbError::from)?;
        }
        Ok(id)
    }

    async fn insert_options(
        &mut self,
        variant: VariantId,
        options: &[OptionValue],
    ) -> Result<(), DbError> {
        if options.is_empty() {
            return Ok(());
        }
        let mut sql = Sql::new(
            "INSERT INTO catalog_variant_options (variant_id, position, name, value) VALUES ",
        );
        for (position, option) in (0_i64..).zip(options) {
            sql.push(if position == 0 { "(" } else { ", (" })
                .bind(variant.to_string())
                .push(", ")
                .bind(position)
                .push(", ")
                .bind(option.name.clone())
                .push(", ")
                .bind(option.value.clone())
                .push(")");
        }
        sql.build()?.execute(&mut *self.tx).await?;
        Ok(())
    }

    /// The variant's product and status, or `None` if there is no such variant.
    pub async fn variant_head(&mut self, id: VariantId) -> Result<Option<VariantHead>, DbError> {
        let found =
            kassa_db::query("SELECT product_id, status FROM catalog_variants WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *self.tx)
                .await?;
        found
            .map(|r| {
                Ok(VariantHead {
                    product_id: row::parse(&r, "product_id")?,
                    status: status(&r, "status")?,
                })
            })
            .transpose()
    }

    /// Updates the fields the patch sets (replacing all options if it sets them) and bumps the
    /// variant's `updated_at`.
    pub async fn update_variant(
        &mut self,
        id: VariantId,
        patch: &VariantPatch,
        now: Timestamp,
    ) -> Result<(), DbError> {
        let mut sql = Sql::new("UPDATE catalog_variants SET updated_at_ms = ");
        sql.bind(now.millis());
        if let Some(title) = &patch.title {
            sql.push(", title = ").bind(title.as_str().to_owned());
        }
        if let Some(grams) = patch.weight_grams {
            sql.push(", weight_grams = ").bind(i64::from(grams));
        }
        if let Some(status) = patch.status {
            sql.push(", status = ").bind(status.as_str());
        }
        sql.push(" WHERE id = ").bind(id.to_string());
        sql.build()?.execute(&mut *self.tx).await?;
        if let Some(options) = &patch.options {
            kassa_db::query("DELETE FROM catalog_variant_options WHERE variant_id = $1")
                .bind(id.to_string())
                .execute(&mut *self.tx)
                .await?;
            self.insert_options(id, options).await?;
        }
        Ok(())
    }

    /// Sets the variant's price in the price's currency, replacing any earlier one, and bumps
    /// the variant's `updated_at`.
    pub async fn upsert_price(
        &mut self,
        variant: VariantId,
        price: Money,
        now: Timestamp,
    ) -> Result<(), DbError> {
        kassa_db::query(
            "INSERT INTO catalog_prices (variant_id, currency, amount_minor) VALUES ($1, $2, $3) \
             ON CONFLICT (variant_id, currency) DO UPDATE SET amount_minor = excluded.amount_minor",
        )
        .bind(variant.to_string())
        .bind(price.currency().code())
        .bind(price.amount_minor())
        .execute(&mut *self.tx)
        .await?;
        self.touch_variant(variant, now).await
    }

    /// Removes the variant's price in `currency`; returns whether there was one. Bumps the
    /// variant's `updated_at` only if so.
    pub async fn delete_price(
        &mut self,
        variant: VariantId,
        currency: Currency,
        now: Timestamp,
    ) -> Result<bool, DbError> {
        let deleted =
            kassa_db::query("DELETE FROM catalog_prices WHERE variant_id = $1 AND currency = $2")
                .bind(variant.to_string())
                .bind(currency.code())
                .execute(&mut *self.tx)
                .await?
                .rows_affected();
        if deleted == 0 {
            return Ok(false);
        }
        self.touch_variant(variant, now).await?;
        Ok(true)
    }

    async fn touch_variant(&mut self, id: VariantId, now: Timestamp) -> Result<(), DbError> {
        kassa_db::query("UPDATE catalog_variants SET updated_at_ms = $1 WHERE id = $2")
            .bind(now.millis())
            .bind(id.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// The whole product as this transaction sees it, archived variants included.
    pub async fn product(&mut self, id: ProductId) -> Result<Option<Product>, DbError> {
        let mut sql = Sql::new(PRODUCT_SELECT);
        sql.push(" WHERE p.id = ").bind(id.to_string());
        let rows = sql.build()?.fetch_all(&mut *self.tx).await?;
        let products = load::products(&mut self.tx, &rows, true).await?;
        Ok(products.into_iter().next())
    }
}
