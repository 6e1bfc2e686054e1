//! Every SQL statement of the catalog: reads here, page assembly in `store/load.rs`, writes in
//! [`write`] through a [`CatalogTx`].
//!
//! The SQL is the common dialect of SQLite and PostgreSQL (`$n` markers, `ON CONFLICT`, no server
//! clock); nothing here branches on the dialect. Values cross the boundary as TEXT (ids, SKUs,
//! currencies, statuses) and BIGINT (amounts, grams, milliseconds); the row functions below turn
//! them back into model types and report anything that does not parse as corrupt data.

mod load;
mod write;

use std::collections::HashMap;

use kassa_db::{row, Db, DbError, Sql};
use kassa_kernel::ids::ProductId;
use kassa_kernel::{Currency, Money, Sku, Timestamp};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::migrations::MIGRATIONS;
use crate::model::{Category, Handle, Offer, Product, ProductFilter, ProductPage, Status};

pub use write::{CatalogTx, VariantHead};

/// The catalog's tables, reached through its own district [`Db`].
#[derive(Clone)]
pub struct CatalogStore {
    db: Db,
}

/// The product columns every product query selects, from `catalog_products p`.
const PRODUCT_SELECT: &str = "SELECT p.id, p.handle, p.title, p.description, p.status, \
     p.created_at_ms, p.updated_at_ms FROM catalog_products p";

impl CatalogStore {
    pub fn new(db: Db) -> Self {
        CatalogStore { db }
    }

    /// The catalog's recorded events after `after`, in recording order, at most `limit`.
    pub async fn events(
        &self,
        after: Option<kassa_events::EventId>,
        limit: u32,
    ) -> Result<Vec<kassa_events::Event>, DbError> {
        kassa_events::list(&self.db, crate::events::OUTBOX_TABLE, after, limit).await
    }

    /// Applies the catalog's migrations that have not run yet.
    pub async fn migrate(&self) -> Result<(), DbError> {
        self.db.migrate(MIGRATIONS).await
    }

    /// Starts the write transaction of one service call.
    pub async fn begin(&self) -> Result<CatalogTx, DbError> {
        Ok(CatalogTx::new(self.db.begin().await?))
    }

    /// Every category, ordered by handle.
    pub async fn categories(&self) -> Result<Vec<Category>, DbError> {
        let rows =
            kassa_db::query("SELECT id, handle, name FROM catalog_categories ORDER BY handle")
                .fetch_all(self.db.reader())
                .await?;
        rows.iter().map(category_from_row).collect()
    }

    /// One product, or `None` if it does not exist or is archived and `include_archived` is
    /// false. Without `include_archived`, archived variants are left out as well.
    pub async fn product(
        &self,
        id: ProductId,
        include_archived: bool,
    ) -> Result<Option<Product>, DbError> {
        let mut sql = Sql::new(PRODUCT_SELECT);
        sql.push(" WHERE p.id = ").bind(id.to_string());
        self.one_product(sql, include_archived).await
    }

    /// Like [`CatalogStore::product`], by handle.
    pub async fn product_by_handle(
        &self,
        handle: &Handle,
        include_archived: bool,
    ) -> Result<Option<Product>, DbError> {
        let mut sql = Sql::new(PRODUCT_SELECT);
        sql.push(" WHERE p.handle = ")
            .bind(handle.as_str().to_owned());
        self.one_product(sql, include_archived).await
    }

    async fn one_product(
        &self,
        mut sql: Sql<'_>,
        include_archived: bool,
    ) -> Result<Option<Product>, DbError> {
        if !include_archived {
            sql.push(" AND p.status = 'active'");
        }
        let mut conn = self.db.reader().acquire().await?;
        let rows = sql.build()?.fetch_all(&mut conn).await?;
        let products = load::products(&mut conn, &rows, include_archived).await?;
        Ok(products.into_iter().next())
    }

    /// One page of products in id (creation) order. The filter is already validated; its
    /// `limit` is at least 1.
    pub async fn list_products(&self, filter: &ProductFilter) -> Result<ProductPage, DbError> {
        let mut sql = Sql::new(PRODUCT_SELECT);
        push_filter(&mut sql, filter);
        // One row more than the page tells whether another page follows.
        sql.push(" ORDER BY p.id LIMIT ")
            .bind(i64::from(filter.limit) + 1);
        let mut conn = self.db.reader().acquire().await?;
        let mut rows = sql.build()?.fetch_all(&mut conn).await?;
        let limit = usize::try_from(filter.limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let items = load::products(&mut conn, &rows, filter.include_archived).await?;
        let next_cursor = if more {
            items.last().map(|product| product.id)
        } else {
            None
        };
        Ok(ProductPage { items, next_cursor })
    }

    /// The offers for the SKUs that exist, in the order first asked for; unknown SKUs are left
    /// out. One query for all SKUs. The caller bounds how many SKUs it passes.
    pub async fn offers(&self, skus: &[Sku], currency: Currency) -> Result<Vec<Offer>, DbError> {
        if skus.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Sql::new(
            "SELECT v.id AS variant_id, v.sku, v.title AS variant_title, v.weight_grams, \
             v.status AS variant_status, p.id AS product_id, p.title AS product_title, \
             p.status AS product_status, pr.amount_minor \
             FROM catalog_variants v \
             JOIN catalog_products p ON p.id = v.product_id \
             LEFT JOIN catalog_prices pr ON pr.variant_id = v.id AND pr.currency = ",
        );
        sql.bind(currency.code()).push(" WHERE v.sku IN ");
        push_list(&mut sql, skus.iter().map(|sku| sku.as_str().to_owned()));
        let rows = sql.build()?.fetch_all(self.db.reader()).await?;
        let mut found = HashMap::with_capacity(rows.len());
        for r in &rows {
            let offer = offer_from_row(r, currency)?;
            found.insert(offer.sku.clone(), offer);
        }
        // Removing as we go also drops SKUs asked for twice.
        Ok(skus.iter().filter_map(|sku| found.remove(sku)).collect())
    }
}

/// Appends the listing's WHERE clause.
fn push_filter(sql: &mut Sql<'_>, filter: &ProductFilter) {
    sql.push(" WHERE 1 = 1");
    if !filter.include_archived {
        sql.push(" AND p.status = 'active'");
    }
    if let Some(category) = filter.category {
        sql.push(
            " AND EXISTS (SELECT 1 FROM catalog_product_categories pc \
             WHERE pc.product_id = p.id AND pc.category_id = ",
        )
        .bind(category.to_string())
        .push(")");
    }
    if let Some(text) = &filter.title_contains {
        sql.push(" AND p.title_search LIKE ")
            .bind(contains_pattern(text))
            .push(" ESCAPE '\\'");
    }
    if let Some(range) = filter.price {
        sql.push(
            " AND EXISTS (SELECT 1 FROM catalog_variants v \
             JOIN catalog_prices pr ON pr.variant_id = v.id \
             WHERE v.product_id = p.id",
        );
        if !filter.include_archived {
            sql.push(" AND v.status = 'active'");
        }
        sql.push(" AND pr.currency = ").bind(range.currency.code());
        if let Some(min) = range.min_minor {
            sql.push(" AND pr.amount_minor >= ").bind(min);
        }
        if let Some(max) = range.max_minor {
            sql.push(" AND pr.amount_minor <= ").bind(max);
        }
        sql.push(")");
    }
    if let Some(after) = filter.after {
        sql.push(" AND p.id > ").bind(after.to_string());
    }
}

/// Appends `(v1, v2, …)` with one bound marker per value. The caller ensures at least one value:
/// `IN ()` is a syntax error on PostgreSQL.
fn push_list(sql: &mut Sql<'_>, values: impl IntoIterator<Item = String>) {
    sql.push("(");
    for (i, value) in values.into_iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(value);
    }
    sql.push(")");
}

/// What `title_search` holds for a title: the title lower-cased, so a lower-cased search text
/// matches case-insensitively on both backends (SQLite's `LIKE` folds only ASCII, PostgreSQL's
/// not at all).
pub(crate) fn search_text(title: &str) -> String {
    title.to_lowercase()
}

/// A `LIKE … ESCAPE '\'` pattern matching titles that contain `text`, case-insensitively, with
/// the wildcards `%` and `_` (and the escape character itself) in `text` taken literally.
pub(crate) fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in search_text(text.trim()).chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

fn status(row: &AnyRow, column: &str) -> Result<Status, DbError> {
    row::parse(row, column)
}

fn timestamp(row: &AnyRow, column: &str) -> Result<Timestamp, DbError> {
    Ok(Timestamp::from_millis(row::int(row, column)?))
}

fn weight_grams(row: &AnyRow) -> Result<u32, DbError> {
    let grams = row::int(row, "weight_grams")?;
    u32::try_from(grams)
        .map_err(|_| DbError::Corrupt(format!("column weight_grams: {grams} is out of range")))
}

fn category_from_row(row: &AnyRow) -> Result<Category, DbError> {
    Ok(Category {
        id: row::parse(row, "id")?,
        handle: row::parse(row, "handle")?,
        name: row::text(row, "name")?,
    })
}

/// A product without its variants and categories, which [`load`] adds.
fn product_from_row(row: &AnyRow) -> Result<Product, DbError> {
    Ok(Product {
        id: row::parse(row, "id")?,
        handle: row::parse(row, "handle")?,
        title: row::text(row, "title")?,
        description: row::text(row, "description")?,
        status: status(row, "status")?,
        category_ids: Vec::new(),
        variants: Vec::new(),
        created_at: timestamp(row, "created_at_ms")?,
        updated_at: timestamp(row, "updated_at_ms")?,
    })
}

fn offer_from_row(row: &AnyRow, currency: Currency) -> Result<Offer, DbError> {
    let amount_minor: Option<i64> = row.try_get("amount_minor")?;
    let purchasable = status(row, "product_status")? == Status::Active
        && status(row, "variant_status")? == Status::Active;
    Ok(Offer {
        sku: row::parse(row, "sku")?,
        product_id: row::parse(row, "product_id")?,
        variant_id: row::parse(row, "variant_id")?,
        product_title: row::text(row, "product_title")?,
        variant_title: row::text(row, "variant_title")?,
        weight_grams: weight_grams(row)?,
        unit_price: amount_minor.map(|amount| Money::new(amount, currency)),
        purchasable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contains_pattern_is_lower_cased_trimmed_and_wrapped_in_wildcards() {
        assert_eq!(contains_pattern("  Blue MUG "), "%blue mug%");
        assert_eq!(contains_pattern(""), "%%");
    }

    #[test]
    fn like_wildcards_and_the_escape_character_in_the_text_are_escaped() {
        assert_eq!(contains_pattern("50%"), "%50\\%%");
        assert_eq!(contains_pattern("a_b"), "%a\\_b%");
        assert_eq!(contains_pattern("c:\\x"), "%c:\\\\x%");
    }

    #[test]
    fn search_text_folds_unicode_case() {
        assert_eq!(search_text("ÄPFEL Straße"), "äpfel straße");
    }
}
