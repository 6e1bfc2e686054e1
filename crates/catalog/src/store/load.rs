//! Turning product rows into whole products. A page of products costs one query per table
//! (categories, variants, options, prices), each with an `IN (…)` list of the page's product
//! ids — never a query per product.

use std::collections::HashMap;

use kassa_db::Conn;
use kassa_db::{row, DbError, Sql};
use kassa_kernel::ids::{CategoryId, ProductId, VariantId};
use kassa_kernel::Money;
use sqlx::any::AnyRow;

use super::{product_from_row, push_list, status, weight_grams};
use crate::model::{OptionValue, Product, Variant};

/// The products of `rows` (selected with the store's product columns), in the same order,
/// with their categories and variants. Without `include_archived`, archived variants are left
/// out.
pub(super) async fn products(
    conn: &mut Conn,
    rows: &[AnyRow],
    include_archived: bool,
) -> Result<Vec<Product>, DbError> {
    let mut products = rows
        .iter()
        .map(product_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    if products.is_empty() {
        return Ok(products);
    }
    let ids: Vec<String> = products.iter().map(|p| p.id.to_string()).collect();
    let mut categories = categories(conn, &ids).await?;
    let mut variants = variants(conn, &ids, include_archived).await?;
    for product in &mut products {
        product.category_ids = categories.remove(&product.id).unwrap_or_default();
        product.category_ids.sort_unstable();
        product.variants = variants.remove(&product.id).unwrap_or_default();
        // Every product is created with a variant and variants are never deleted.
        if include_archived && product.variants.is_empty() {
            return Err(DbError::Corrupt(format!(
                "product {} has no variants",
                product.id
            )));
        }
    }
    Ok(products)
}

async fn categories(
    conn: &mut Conn,
    product_ids: &[String],
) -> Result<HashMap<ProductId, Vec<CategoryId>>, DbError> {
    let mut sql = Sql::new(
        "SELECT product_id, category_id FROM catalog_product_categories WHERE product_id IN ",
    );
    push_list(&mut sql, product_ids.iter().cloned());
    let rows = sql.build()?.fetch_all(&mut *conn).await?;
    let mut by_product: HashMap<ProductId, Vec<CategoryId>> = HashMap::new();
    for r in &rows {
        by_product
            .entry(row::parse(r, "product_id")?)
            .or_default()
            .push(row::parse(r, "category_id")?);
    }
    Ok(by_product)
}

/// The variants of the products, by product, in position order, with options and prices.
async fn variants(
    conn: &mut Conn,
    product_ids: &[String],
    include_archived: bool,
) -> Result<HashMap<ProductId, Vec<Variant>>, DbError> {
    let only_active = if include_archived {
        ""
    } else {
        " AND v.status = 'active'"
    };
    let mut sql = Sql::new(
        "SELECT v.id, v.product_id, v.sku, v.title, v.weight_grams, v.status \
         FROM catalog_variants v WHERE v.product_id IN ",
    );
    push_list(&mut sql, product_ids.iter().cloned());
    sql.push(only_active)
        .push(" ORDER BY v.product_id, v.position, v.id");
    let rows = sql.build()?.fetch_all(&mut *conn).await?;
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let mut options = options(conn, product_ids, only_active).await?;
    let mut prices = prices(conn, product_ids, only_active).await?;
    let mut by_product: HashMap<ProductId, Vec<Variant>> = HashMap::new();
    for r in &rows {
        let id: VariantId = row::parse(r, "id")?;
        let product_id: ProductId = row::parse(r, "product_id")?;
        let mut variant_prices = prices.remove(&id).unwrap_or_default();
        variant_prices.sort_unstable_by_key(|price| price.currency().code());
        by_product.entry(product_id).or_default().push(Variant {
            id,
            product_id,
            sku: row::parse(r, "sku")?,
            title: row::text(r, "title")?,
            options: options.remove(&id).unwrap_or_default(),
            weight_grams: weight_grams(r)?,
            prices: variant_prices,
            status: status(r, "status")?,
        });
    }
    Ok(by_product)
}

async fn options(
    conn: &mut Conn,
    product_ids: &[String],
    only_active: &str,
) -> Result<HashMap<VariantId, Vec<OptionValue>>, DbError> {
    let mut sql = Sql::new(
        "SELECT o.variant_id, o.name, o.value FROM catalog_variant_options o \
         JOIN catalog_variants v ON v.id = o.variant_id WHERE v.product_id IN ",
    );
    push_list(&mut sql, product_ids.iter().cloned());
    sql.push(only_active)
        .push(" ORDER BY o.variant_id, o.position");
    let rows = sql.build()?.fetch_all(&mut *conn).await?;
    let mut by_variant: HashMap<VariantId, Vec<OptionValue>> = HashMap::new();
    for r in &rows {
        by_variant
            .entry(row::parse(r, "variant_id")?)
            .or_default()
            .push(OptionValue {
                name: row::text(r, "name")?,
                value: row::text(r, "value")?,
            });
    }
    Ok(by_variant)
}

async fn prices(
    conn: &mut Conn,
    product_ids: &[String],
    only_active: &str,
) -> Result<HashMap<VariantId, Vec<Money>>, DbError> {
    let mut sql = Sql::new(
        "SELECT pr.variant_id, pr.currency, pr.amount_minor FROM catalog_prices pr \
         JOIN catalog_variants v ON v.id = pr.variant_id WHERE v.product_id IN ",
    );
    push_list(&mut sql, product_ids.iter().cloned());
    sql.push(only_active);
    let rows = sql.build()?.fetch_all(&mut *conn).await?;
    let mut by_variant: HashMap<VariantId, Vec<Money>> = HashMap::new();
    for r in &rows {
        let amount_minor = row::int(r, "amount_minor")?;
        // The table's CHECK keeps prices positive; a price that is not is corrupt data.
        if amount_minor <= 0 {
            return Err(DbError::Corrupt(format!(
                "column amount_minor: {amount_minor} is not positive"
            )));
        }
        by_variant
            .entry(row::parse(r, "variant_id")?)
            .or_default()
            .push(Money::new(amount_minor, row::parse(r, "currency")?));
    }
    Ok(by_variant)
}
