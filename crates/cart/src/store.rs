//! Every SQL statement of the cart: reads on [`CartStore`] here, writes on a [`CartTx`] in
//! `store/write.rs`, and the writes that change who holds a cart (owners, statuses, merging) in
//! `store/ownership.rs`.
//!
//! The SQL is the common dialect of SQLite and PostgreSQL (`$n` markers, `ON CONFLICT`,
//! `RETURNING`, no server clock). The one dialect branch is the isolation level of a cart read
//! ([`CartStore::cart_snapshot`]). Values cross
//! the boundary as TEXT (ids, SKUs, codes, kinds) and BIGINT (minor units, quantities, grams, ppm,
//! milliseconds); the row functions at the end turn them back into model types, re-validating them,
//! and report anything that does not parse as corrupt data.

mod ownership;
mod write;

use std::collections::HashMap;

use kassa_db::Conn;
use kassa_db::{row, Db, DbError, Dialect, Sql};
use kassa_kernel::ids::{CartId, CustomerId, ShippingOptionId};
use kassa_kernel::rounding::Rate;
use kassa_kernel::{CountryCode, Currency, Email, Money, Quantity, Sku, Timestamp};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::migrations::MIGRATIONS;

use crate::model::{
    Address, AddressInput, Cart, CartLine, CartOwnership, CartStatus, NewShippingOption,
    ShippingOption, ShippingRate, TaxRate, TokenHash, WeightTier,
};
pub use write::CartTx;

/// The cart's tables, reached through its own district [`Db`].
#[derive(Clone)]
pub struct CartStore {
    db: Db,
}

/// A cart as stored, read in one consistent snapshot.
pub struct CartSnapshot {
    pub cart: Cart,
    /// Who may use the cart; checked with `CartAccess::admits`.
    pub ownership: CartOwnership,
    /// In the order they were added.
    pub lines: Vec<CartLine>,
    /// The chosen option, if the cart names one.
    pub shipping_option: Option<ShippingOption>,
    /// The rate of the address's country, if there is an address and a rate.
    pub tax_rate: Option<TaxRate>,
}

/// The cart columns, in the order [`cart_from_row`] reads them by name.
const CART_COLUMNS: &str = "id, token_hash, customer_id, status, currency, email, ship_name, \
     ship_line1, ship_line2, ship_city, ship_postal_code, ship_region, ship_country, ship_phone, \
     shipping_option_id, created_at_ms, updated_at_ms";

/// Which cart a snapshot reads.
#[derive(Debug, Clone, Copy)]
enum CartKey {
    Id(CartId),
    /// The customer's open cart; the partial unique index `carts_one_open_per_customer`
    /// guarantees there is at most one.
    OpenOf(CustomerId),
}

const OPTION_SELECT: &str =
    "SELECT o.id, o.name, o.currency, o.kind, o.flat_amount_minor FROM cart_shipping_options o";

impl CartStore {
    pub fn new(db: Db) -> Self {
        CartStore { db }
    }

    /// Applies the cart's migrations that have not run yet.
    pub async fn migrate(&self) -> Result<(), DbError> {
        self.db.migrate(MIGRATIONS).await
    }

    /// Starts the write transaction of one service call.
    pub async fn begin(&self) -> Result<CartTx, DbError> {
        Ok(CartTx::new(self.db.begin().await?))
    }

    /// The cart's own row, for checks that need no lines (its currency and who may use it).
    pub(crate) async fn cart(&self, id: CartId) -> Result<Option<(Cart, CartOwnership)>, DbError> {
        let sql = format!("SELECT {CART_COLUMNS} FROM carts WHERE id = $1");
        let row = kassa_db::query(&sql)
            .bind(id.to_string())
            .fetch_optional(self.db.reader())
            .await?;
        row.as_ref().map(cart_from_row).transpose()
    }

    /// The cart with its lines, chosen option and tax rate, read in one snapshot so a
    /// concurrent write is seen whole or not at all: SQLite's read transactions are snapshots
    /// already; PostgreSQL needs REPEATABLE READ for it.
    pub async fn cart_snapshot(&self, id: CartId) -> Result<Option<CartSnapshot>, DbError> {
        self.snapshot(CartKey::Id(id)).await
    }

    /// The customer's open cart, read like [`CartStore::cart_snapshot`].
    pub async fn open_cart_snapshot(
        &self,
        customer: CustomerId,
    ) -> Result<Option<CartSnapshot>, DbError> {
        self.snapshot(CartKey::OpenOf(customer)).await
    }

    async fn snapshot(&self, key: CartKey) -> Result<Option<CartSnapshot>, DbError> {
        let mut tx = self.db.reader().begin().await?;
        if self.db.dialect() == Dialect::Postgres {
            kassa_db::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *tx)
                .await?;
        }
        let row = match key {
            CartKey::Id(id) => {
                let sql = format!("SELECT {CART_COLUMNS} FROM carts WHERE id = $1");
                kassa_db::query(&sql)
                    .bind(id.to_string())
                    .fetch_optional(&mut *tx)
                    .await?
            }
            CartKey::OpenOf(customer) => {
                let sql = format!(
                    "SELECT {CART_COLUMNS} FROM carts WHERE customer_id = $1 AND status = $2"
                );
                kassa_db::query(&sql)
                    .bind(customer.to_string())
                    .bind(CartStatus::Open.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
            }
        };
        let Some(row) = row else {
            return Ok(None);
        };
        let (cart, ownership) = cart_from_row(&row)?;
        let lines = lines(&mut tx, cart.id).await?;
        let shipping_option = match cart.shipping_option_id {
            Some(option) => shipping_option(&mut tx, option).await?,
            None => None,
        };
        let tax_rate = match &cart.shipping_address {
            Some(address) => tax_rate(&mut tx, address.country()).await?,
            None => None,
        };
        tx.commit().await?;
        Ok(Some(CartSnapshot {
            cart,
            ownership,
            lines,
            shipping_option,
            tax_rate,
        }))
    }

    pub async fn shipping_option(
        &self,
        id: ShippingOptionId,
    ) -> Result<Option<ShippingOption>, DbError> {
        let mut conn = self.db.reader().acquire().await?;
        shipping_option(&mut conn, id).await
    }

    /// Options in `currency` that deliver to `country`, in creation order. Whether their
    /// weight tiers take a cart is for [`crate::pricing`] to decide.
    pub async fn shipping_options_to(
        &self,
        country: CountryCode,
        currency: Currency,
    ) -> Result<Vec<ShippingOption>, DbError> {
        let mut sql = Sql::new(OPTION_SELECT);
        sql.push(" WHERE o.currency = ")
            .bind(currency.code())
            .push(
                " AND EXISTS (SELECT 1 FROM cart_shipping_option_countries c \
                 WHERE c.option_id = o.id AND c.country = ",
            )
            .bind(country.as_str())
            .push(") ORDER BY o.id");
        let mut conn = self.db.reader().acquire().await?;
        shipping_options(&mut conn, sql).await
    }

    /// Every option, in creation order.
    pub async fn shipping_options_all(&self) -> Result<Vec<ShippingOption>, DbError> {
        let mut sql = Sql::new(OPTION_SELECT);
        sql.push(" ORDER BY o.id");
        let mut conn = self.db.reader().acquire().await?;
        shipping_options(&mut conn, sql).await
    }

    /// Every tax rate, by country code.
    pub async fn tax_rates(&self) -> Result<Vec<TaxRate>, DbError> {
        let rows = kassa_db::query(
            "SELECT country, rate_ppm, updated_at_ms FROM cart_tax_rates ORDER BY country",
        )
        .fetch_all(self.db.reader())
        .await?;
        rows.iter().map(tax_rate_from_row).collect()
    }
}

async fn lines(conn: &mut Conn, cart: CartId) -> Result<Vec<CartLine>, DbError> {
    let rows = kassa_db::query(
        "SELECT id, sku, quantity, created_at_ms FROM cart_lines WHERE cart_id = $1 \
         ORDER BY created_at_ms, id",
    )
    .bind(cart.to_string())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(line_from_row).collect()
}

async fn tax_rate(conn: &mut Conn, country: CountryCode) -> Result<Option<TaxRate>, DbError> {
    let row = kassa_db::query(
        "SELECT country, rate_ppm, updated_at_ms FROM cart_tax_rates WHERE country = $1",
    )
    .bind(country.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(tax_rate_from_row).transpose()
}

async fn shipping_option(
    conn: &mut Conn,
    id: ShippingOptionId,
) -> Result<Option<ShippingOption>, DbError> {
    let mut sql = Sql::new(OPTION_SELECT);
    sql.push(" WHERE o.id = ").bind(id.to_string());
    Ok(shipping_options(conn, sql).await?.into_iter().next())
}

/// The options `sql` selects (from [`OPTION_SELECT`]), with their countries and tiers: three
/// queries however many options there are.
async fn shipping_options(
    conn: &mut Conn,
    mut sql: Sql<'_>,
) -> Result<Vec<ShippingOption>, DbError> {
    let rows = sql.build()?.fetch_all(&mut *conn).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows
        .iter()
        .map(|r| row::text(r, "id"))
        .collect::<Result<_, _>>()?;

    let mut sql = Sql::new(
        "SELECT option_id, country FROM cart_shipping_option_countries WHERE option_id IN ",
    );
    push_list(&mut sql, &ids);
    sql.push(" ORDER BY option_id, country");
    let mut countries: HashMap<String, Vec<CountryCode>> = HashMap::new();
    for r in sql.build()?.fetch_all(&mut *conn).await? {
        countries
            .entry(row::text(&r, "option_id")?)
            .or_default()
            .push(row::parse(&r, "country")?);
    }

    let mut sql = Sql::new(
        "SELECT option_id, max_weight_grams, amount_minor FROM cart_shipping_tiers WHERE option_id IN ",
    );
    push_list(&mut sql, &ids);
    sql.push(" ORDER BY option_id, max_weight_grams");
    let mut tiers: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
    for r in sql.build()?.fetch_all(&mut *conn).await? {
        tiers.entry(row::text(&r, "option_id")?).or_default().push((
            row::int(&r, "max_weight_grams")?,
            row::int(&r, "amount_minor")?,
        ));
    }

    rows.iter()
        .map(|r| {
            let id = row::text(r, "id")?;
            let countries = countries.remove(&id).unwrap_or_default();
            let tiers = tiers.remove(&id).unwrap_or_default();
            option_from_rows(r, countries, tiers)
        })
        .collect()
}

/// Appends `(v1, v2, …)`; `values` is never empty here (`IN ()` is a syntax error on
/// PostgreSQL).
fn push_list(sql: &mut Sql<'_>, values: &[String]) {
    sql.push("(");
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(value.clone());
    }
    sql.push(")");
}

fn corrupt(column: &str, err: impl std::fmt::Display) -> DbError {
    DbError::Corrupt(format!("column {column}: {err}"))
}

fn timestamp(r: &AnyRow, column: &str) -> Result<Timestamp, DbError> {
    Ok(Timestamp::from_millis(row::int(r, column)?))
}

fn cart_from_row(r: &AnyRow) -> Result<(Cart, CartOwnership), DbError> {
    let token_hash = TokenHash::from_stored(row::text(r, "token_hash")?)
        .ok_or_else(|| corrupt("token_hash", "not a SHA-256 in hex"))?;
    let status = row::text(r, "status")?;
    let ownership = CartOwnership {
        owner: row::parse_opt(r, "customer_id")?,
        status: CartStatus::from_stored(&status)
            .ok_or_else(|| corrupt("status", format!("unknown status '{status}'")))?,
        token_hash,
    };
    let cart = Cart {
        id: row::parse(r, "id")?,
        currency: row::parse(r, "currency")?,
        email: row::parse_opt::<Email>(r, "email")?,
        shipping_address: address_from_row(r)?,
        shipping_option_id: row::parse_opt(r, "shipping_option_id")?,
        created_at: timestamp(r, "created_at_ms")?,
        updated_at: timestamp(r, "updated_at_ms")?,
    };
    Ok((cart, ownership))
}

/// The stored address, parsed again: what was valid when written must still be valid.
fn address_from_row(r: &AnyRow) -> Result<Option<Address>, DbError> {
    let Some(country) = row::text_opt(r, "ship_country")? else {
        return Ok(None);
    };
    let input = AddressInput {
        name: row::text(r, "ship_name")?,
        line1: row::text(r, "ship_line1")?,
        line2: row::text_opt(r, "ship_line2")?,
        city: row::text(r, "ship_city")?,
        postal_code: row::text(r, "ship_postal_code")?,
        region: row::text_opt(r, "ship_region")?,
        country,
        phone: row::text_opt(r, "ship_phone")?,
    };
    Address::parse(input)
        .map(Some)
        .map_err(|err| corrupt("ship_*", err))
}

fn line_from_row(r: &AnyRow) -> Result<CartLine, DbError> {
    let quantity = row::int(r, "quantity")?;
    Ok(CartLine {
        id: row::parse(r, "id")?,
        sku: row::parse::<Sku>(r, "sku")?,
        quantity: Quantity::try_from_i64(quantity).map_err(|err| corrupt("quantity", err))?,
        created_at: timestamp(r, "created_at_ms")?,
    })
}

fn tax_rate_from_row(r: &AnyRow) -> Result<TaxRate, DbError> {
    let ppm = row::int(r, "rate_ppm")?;
    let rate = u32::try_from(ppm)
        .map_err(|err| corrupt("rate_ppm", err))
        .and_then(|ppm| Rate::from_ppm(ppm).map_err(|err| corrupt("rate_ppm", err)))?;
    Ok(TaxRate {
        country: row::parse(r, "country")?,
        rate,
        updated_at: timestamp(r, "updated_at_ms")?,
    })
}

/// An option from its row, its countries and its `(max_weight_grams, amount_minor)` tiers,
/// validated again as when it was created.
fn option_from_rows(
    r: &AnyRow,
    countries: Vec<CountryCode>,
    tiers: Vec<(i64, i64)>,
) -> Result<ShippingOption, DbError> {
    let currency: Currency = row::parse(r, "currency")?;
    let kind = row::text(r, "kind")?;
    let rate = match kind.as_str() {
        "flat" => {
            let amount: Option<i64> = r.try_get("flat_amount_minor")?;
            let amount = amount.ok_or_else(|| corrupt("flat_amount_minor", "missing"))?;
            ShippingRate::Flat {
                amount: Money::new(amount, currency),
            }
        }
        "weight_tiers" => ShippingRate::WeightTiers(
            tiers
                .into_iter()
                .map(|(grams, amount)| {
                    let max_weight_grams =
                        u32::try_from(grams).map_err(|err| corrupt("max_weight_grams", err))?;
                    Ok(WeightTier {
                        max_weight_grams,
                        amount: Money::new(amount, currency),
                    })
                })
                .collect::<Result<_, DbError>>()?,
        ),
        other => return Err(corrupt("kind", format!("unknown kind '{other}'"))),
    };
    let name = row::text(r, "name")?;
    let option = NewShippingOption::parse(&name, countries, currency, rate)
        .map_err(|err| corrupt("cart_shipping_options", err))?;
    Ok(ShippingOption::new(row::parse(r, "id")?, option))
}
