//! Writes, inside the one transaction of a service call. The first statement of every write to an
//! existing cart is [`CartTx::lock_cart`]; writes that change which cart is a customer's (creating
//! a customer's cart, merging at sign-in) start with [`CartTx::lock_customer`] and lock their carts
//! with the statements of `store/ownership.rs`. Constraint violations are mapped where they can
//! happen: a foreign key violation when choosing a shipping option means it was deleted meanwhile,
//! which the service turns into `shipping_option_not_found`. Every other key is a fresh id or is
//! checked first under the cart's lock, so a violation there is a bug and stays a storage error.

use kassa_db::{DbError, Sql, Tx};
use kassa_kernel::ids::{CartId, CartLineId, ShippingOptionId};
use kassa_kernel::{CountryCode, Email, Quantity, Sku, Timestamp};
use sqlx::Row;

use super::{cart_from_row, line_from_row, CART_COLUMNS};
use crate::model::{Address, Cart, CartLine, CartOwnership, ShippingOption, ShippingRate, TaxRate};

/// One write transaction. Dropping it without [`CartTx::commit`] rolls everything back, so a
/// refused call leaves the cart as it was.
pub struct CartTx {
    pub(super) tx: Tx,
}

impl CartTx {
    pub(super) fn new(tx: Tx) -> Self {
        CartTx { tx }
    }

    pub async fn commit(self) -> Result<(), DbError> {
        self.tx.commit().await?;
        Ok(())
    }

    /// A unique violation here means the owner already has an open cart, which the caller
    /// set aside first under [`CartTx::lock_customer`]; it stays a storage error.
    pub(crate) async fn insert_cart(
        &mut self,
        cart: &Cart,
        ownership: &CartOwnership,
    ) -> Result<(), DbError> {
        kassa_db::query(
            "INSERT INTO carts (id, token_hash, customer_id, status, currency, created_at_ms, \
             updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(cart.id.to_string())
        .bind(ownership.token_hash.as_str().to_owned())
        .bind(ownership.owner.map(|customer| customer.to_string()))
        .bind(ownership.status.as_str())
        .bind(cart.currency.code())
        .bind(cart.created_at.millis())
        .bind(cart.updated_at.millis())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The first statement of every write to an existing cart. Updating the cart's row takes
    /// its row lock on PostgreSQL (SQLite has one writer anyway), so the writes of concurrent
    /// calls on one cart run one after the other and each sees the lines the previous one
    /// left. Returns the cart as it is now, with its ownership for the caller to check.
    pub(crate) async fn lock_cart(
        &mut self,
        id: CartId,
        now: Timestamp,
    ) -> Result<Option<(Cart, CartOwnership)>, DbError> {
        let sql =
            format!("UPDATE carts SET updated_at_ms = $1 WHERE id = $2 RETURNING {CART_COLUMNS}");
        let row = kassa_db::query(&sql)
            .bind(now.millis())
            .bind(id.to_string())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(cart_from_row).transpose()
    }

    pub async fn line_by_sku(
        &mut self,
        cart: CartId,
        sku: &Sku,
    ) -> Result<Option<CartLine>, DbError> {
        let row = kassa_db::query(
            "SELECT id, sku, quantity, created_at_ms FROM cart_lines \
             WHERE cart_id = $1 AND sku = $2",
        )
        .bind(cart.to_string())
        .bind(sku.as_str().to_owned())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(line_from_row).transpose()
    }

    pub async fn count_lines(&mut self, cart: CartId) -> Result<u64, DbError> {
        let count: i64 = kassa_db::query("SELECT COUNT(*) AS n FROM cart_lines WHERE cart_id = $1")
            .bind(cart.to_string())
            .fetch_one(&mut *self.tx)
            .await?
            .try_get("n")?;
        u64::try_from(count).map_err(|_| DbError::Corrupt(format!("negative line count {count}")))
    }

    /// A unique violation here (the same SKU twice in one cart) cannot happen: the cart row is
    /// locked and the caller looked for the SKU first. It stays a storage error.
    pub async fn insert_line(&mut self, cart: CartId, line: &CartLine) -> Result<(), DbError> {
        kassa_db::query(
            "INSERT INTO cart_lines (id, cart_id, sku, quantity, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(line.id.to_string())
        .bind(cart.to_string())
        .bind(line.sku.as_str().to_owned())
        .bind(i64::from(line.quantity.get()))
        .bind(line.created_at.millis())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// False if the cart has no such line.
    pub async fn set_line_quantity(
        &mut self,
        cart: CartId,
        line: CartLineId,
        quantity: Quantity,
    ) -> Result<bool, DbError> {
        let result =
            kassa_db::query("UPDATE cart_lines SET quantity = $1 WHERE id = $2 AND cart_id = $3")
                .bind(i64::from(quantity.get()))
                .bind(line.to_string())
                .bind(cart.to_string())
                .execute(&mut *self.tx)
                .await?;
        Ok(result.rows_affected() == 1)
    }

    /// False if the cart has no such line.
    pub async fn delete_line(&mut self, cart: CartId, line: CartLineId) -> Result<bool, DbError> {
        let result = kassa_db::query("DELETE FROM cart_lines WHERE id = $1 AND cart_id = $2")
            .bind(line.to_string())
            .bind(cart.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    pub async fn set_email(&mut self, cart: CartId, email: &Email) -> Result<(), DbError> {
        kassa_db::query("UPDATE carts SET email = $1 WHERE id = $2")
            .bind(email.as_str().to_owned())
            .bind(cart.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn set_address(&mut self, cart: CartId, address: &Address) -> Result<(), DbError> {
        kassa_db::query(
            "UPDATE carts SET ship_name = $1, ship_line1 = $2, ship_line2 = $3, ship_city = $4, \
             ship_postal_code = $5, ship_region = $6, ship_country = $7, ship_phone = $8 \
             WHERE id = $9",
        )
        .bind(address.name().to_owned())
        .bind(address.line1().to_owned())
        .bind(address.line2().map(str::to_owned))
        .bind(address.city().to_owned())
        .bind(address.postal_code().to_owned())
        .bind(address.region().map(str::to_owned))
        .bind(address.country().as_str())
        .bind(address.phone().map(str::to_owned))
        .bind(cart.to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Chooses or clears the cart's shipping option. A foreign key violation means the option
    /// was deleted meanwhile; the caller maps it.
    pub async fn set_shipping_option(
        &mut self,
        cart: CartId,
        option: Option<ShippingOptionId>,
    ) -> Result<(), DbError> {
        kassa_db::query("UPDATE carts SET shipping_option_id = $1 WHERE id = $2")
            .bind(option.map(|id| id.to_string()))
            .bind(cart.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Whether `option` exists and delivers to `country`.
    pub async fn option_delivers_to(
        &mut self,
        option: ShippingOptionId,
        country: CountryCode,
    ) -> Result<bool, DbError> {
        let row = kassa_db::query(
            "SELECT 1 AS found FROM cart_shipping_option_countries \
             WHERE option_id = $1 AND country = $2",
        )
        .bind(option.to_string())
        .bind(country.as_str())
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(row.is_some())
    }

    pub async fn insert_shipping_option(
        &mut self,
        option: &ShippingOption,
        now: Timestamp,
    ) -> Result<(), DbError> {
        let (kind, flat_amount_minor) = match option.rate() {
            ShippingRate::Flat { amount } => ("flat", Some(amount.amount_minor())),
            ShippingRate::WeightTiers(_) => ("weight_tiers", None),
        };
        kassa_db::query(
            "INSERT INTO cart_shipping_options (id, name, currency, kind, flat_amount_minor, \
             created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(option.id().to_string())
        .bind(option.name().to_owned())
        .bind(option.currency().code())
        .bind(kind)
        .bind(flat_amount_minor)
        .bind(now.millis())
        .execute(&mut *self.tx)
        .await?;
        let id = option.id().to_string();
        // A validated option has at least one country, so the VALUES list is never empty.
        let mut sql =
            Sql::new("INSERT INTO cart_shipping_option_countries (option_id, country) VALUES ");
        for (i, country) in option.countries().iter().enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" })
                .bind(id.clone())
                .push(", ")
                .bind(country.as_str())
                .push(")");
        }
        sql.build()?.execute(&mut *self.tx).await?;
        if let ShippingRate::WeightTiers(tiers) = option.rate() {
            // A validated tiered rate has at least one tier.
            let mut sql = Sql::new(
                "INSERT INTO cart_shipping_tiers (option_id, max_weight_grams, amount_minor) VALUES ",
            );
            for (i, tier) in tiers.iter().enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" })
                    .bind(id.clone())
                    .push(", ")
                    .bind(i64::from(tier.max_weight_grams))
                    .push(", ")
                    .bind(tier.amount.amount_minor())
                    .push(")");
            }
            sql.build()?.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// False if there is no such option. Its countries and tiers go with it; carts that chose
    /// it are left without a choice (`ON DELETE SET NULL`).
    pub async fn delete_shipping_option(&mut self, id: ShippingOptionId) -> Result<bool, DbError> {
        let result = kassa_db::query("DELETE FROM cart_shipping_options WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Inserts or replaces the country's rate.
    pub async fn upsert_tax_rate(&mut self, rate: &TaxRate) -> Result<(), DbError> {
        kassa_db::query(
            "INSERT INTO cart_tax_rates (country, rate_ppm, updated_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (country) DO UPDATE \
             SET rate_ppm = excluded.rate_ppm, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(rate.country.as_str())
        .bind(i64::from(rate.rate.ppm()))
        .bind(rate.updated_at.millis())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// False if the country has no rate.
    pub async fn delete_tax_rate(&mut self, country: CountryCode) -> Result<bool, DbError> {
        let result = kassa_db::query("DELETE FROM cart_tax_rates WHERE country = $1")
            .bind(country.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(result.rows_affected() == 1)
    }
}
