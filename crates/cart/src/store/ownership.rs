//! Writes that change who holds a cart: the per-customer lock, owners and statuses, and what
//! merging an anonymous cart at sign-in reads. They run inside the caller's [`CartTx`], like
//! every other write.

use kassa_db::DbError;
use kassa_kernel::ids::{CartId, CustomerId};
use kassa_kernel::Timestamp;

use super::{cart_from_row, lines, CartTx, CART_COLUMNS};
use crate::model::{Cart, CartLine, CartOwnership, CartStatus};

impl CartTx {
    /// Makes the transactions that change which cart is a customer's open cart (creating a
    /// customer's cart, merging at sign-in) run one after the other for that customer, so two of
    /// them cannot both find "no open cart" and both make one. Released at commit or rollback.
    ///
    /// The lock is the customer's row in `cart_customers`, taken with an upsert: on PostgreSQL a
    /// second transaction for the same customer waits on that row until the first commits; on
    /// SQLite the single writer already runs write transactions one at a time. The same SQL on
    /// both, and no advisory lock (DESIGN §6). Either way the partial unique index
    /// `carts_one_open_per_customer` backs it: a second open cart is refused, never stored.
    pub(crate) async fn lock_customer(&mut self, customer: CustomerId) -> Result<(), DbError> {
        kassa_db::query(
            "INSERT INTO cart_customers (customer_id) VALUES ($1) \
             ON CONFLICT (customer_id) DO UPDATE SET customer_id = excluded.customer_id",
        )
        .bind(customer.to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Locks a cart's row like [`CartTx::lock_cart`] but leaves it as it is, for a cart that
    /// may turn out not to be the caller's: merging at sign-in ignores such a cart and must not
    /// touch it.
    pub(crate) async fn lock_cart_unchanged(
        &mut self,
        id: CartId,
    ) -> Result<Option<(Cart, CartOwnership)>, DbError> {
        let sql = format!(
            "UPDATE carts SET updated_at_ms = updated_at_ms WHERE id = $1 RETURNING {CART_COLUMNS}"
        );
        let row = kassa_db::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(cart_from_row).transpose()
    }

    /// The customer's open cart, locked and touched like [`CartTx::lock_cart`]. Call
    /// [`CartTx::lock_customer`] first, so it cannot change between this and the commit.
    pub(crate) async fn lock_open_cart(
        &mut self,
        customer: CustomerId,
        now: Timestamp,
    ) -> Result<Option<(Cart, CartOwnership)>, DbError> {
        let sql = format!(
            "UPDATE carts SET updated_at_ms = $1 WHERE customer_id = $2 AND status = $3 \
             RETURNING {CART_COLUMNS}"
        );
        let row = kassa_db::query(&sql)
            .bind(now.millis())
            .bind(customer.to_string())
            .bind(CartStatus::Open.as_str())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(cart_from_row).transpose()
    }

    /// Sets the customer's open cart aside, if there is one, and returns its id. Call
    /// [`CartTx::lock_customer`] first.
    pub(crate) async fn set_aside_open_cart(
        &mut self,
        customer: CustomerId,
        now: Timestamp,
    ) -> Result<Option<CartId>, DbError> {
        let row = kassa_db::query(
            "UPDATE carts SET status = $1, updated_at_ms = $2 \
             WHERE customer_id = $3 AND status = $4 RETURNING id",
        )
        .bind(CartStatus::SetAside.as_str())
        .bind(now.millis())
        .bind(customer.to_string())
        .bind(CartStatus::Open.as_str())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref()
            .map(|r| kassa_db::row::parse(r, "id"))
            .transpose()
    }

    /// Gives a cart its owner and status. Making a cart `open` for a customer who already has
    /// an open cart violates `carts_one_open_per_customer`; callers set the other one aside
    /// first, so such a violation is a bug and stays a storage error.
    pub(crate) async fn set_ownership(
        &mut self,
        cart: CartId,
        owner: CustomerId,
        status: CartStatus,
        now: Timestamp,
    ) -> Result<(), DbError> {
        kassa_db::query(
            "UPDATE carts SET customer_id = $1, status = $2, updated_at_ms = $3 WHERE id = $4",
        )
        .bind(owner.to_string())
        .bind(status.as_str())
        .bind(now.millis())
        .bind(cart.to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The cart's lines in the order they were added, as this transaction sees them.
    pub(crate) async fn lines(&mut self, cart: CartId) -> Result<Vec<CartLine>, DbError> {
        lines(&mut self.tx, cart).await
    }

    /// Records that `order_ref` checked the cart out, unless a checkout is recorded already:
    /// then nothing is written and the recorded order is returned instead.
    pub(crate) async fn record_checkout(
        &mut self,
        cart: CartId,
        order_ref: &str,
        now: Timestamp,
    ) -> Result<Option<String>, DbError> {
        let inserted = kassa_db::query(
            "INSERT INTO cart_checkouts (cart_id, order_ref, completed_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (cart_id) DO NOTHING RETURNING cart_id",
        )
        .bind(cart.to_string())
        .bind(order_ref.to_owned())
        .bind(now.millis())
        .fetch_optional(&mut *self.tx)
        .await?;
        if inserted.is_some() {
            return Ok(None);
        }
        let row = kassa_db::query("SELECT order_ref FROM cart_checkouts WHERE cart_id = $1")
            .bind(cart.to_string())
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(Some(kassa_db::row::text(&row, "order_ref")?))
    }

    /// Sets an `open` cart aside (any other status is left alone); true if it was open.
    pub(crate) async fn set_aside_cart(
        &mut self,
        cart: CartId,
        now: Timestamp,
    ) -> Result<bool, DbError> {
        let result = kassa_db::query(
            "UPDATE carts SET status = $1, updated_at_ms = $2 WHERE id = $3 AND status = $4",
        )
        .bind(CartStatus::SetAside.as_str())
        .bind(now.millis())
        .bind(cart.to_string())
        .bind(CartStatus::Open.as_str())
        .execute(&mut *self.tx)
        .await?;
        Ok(result.rows_affected() == 1)
    }
}
