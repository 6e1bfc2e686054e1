//! Merging an anonymous cart into a customer's cart at sign-in
//! ([`crate::CartService::merge_on_sign_in`], whose documentation states the rules).
//!
//! One write transaction, which first takes the customer's lock
//! ([`crate::store::CartTx::lock_customer`]) and then the anonymous cart's row, so two sign-ins
//! racing with the same anonymous cart run one after the other and the second finds it already
//! merged or owned. Nothing here asks the catalog: lines move as they are, and the merged cart
//! is priced after the commit like any read.

use std::collections::HashMap;

use kassa_kernel::ids::{CartId, CartLineId, CustomerId};
use kassa_kernel::quantity::QUANTITY_MAX;
use kassa_kernel::{Quantity, Sku, Timestamp};

use super::Carts;
use crate::model::{Cart, CartAccess, CartLine, CartStatus, CartUse, PricedCart};
use crate::store::CartTx;
use crate::CartError;

/// What a same-currency merge did, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
struct MergeCount {
    /// Anonymous lines whose SKU was already in the customer's cart.
    lines_summed: u32,
    /// Anonymous lines added as new lines.
    lines_added: u32,
    /// Anonymous lines left out because the customer's cart reached `lines_max`.
    lines_left_out: u32,
    /// Units dropped because a summed line reached `QUANTITY_MAX`.
    units_dropped: u32,
}

impl Carts {
    pub(super) async fn merge(
        &self,
        customer: CustomerId,
        anonymous: Option<(CartId, String)>,
    ) -> Result<Option<PricedCart>, CartError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        tx.lock_customer(customer).await?;
        let anonymous = match anonymous {
            Some((id, token)) => usable_anonymous(&mut tx, id, token).await?,
            None => None,
        };
        let Some(anonymous) = anonymous else {
            // Nothing to merge: the transaction changed nothing and is rolled back on drop.
            drop(tx);
            return self.open_cart(customer).await;
        };
        let open = match tx.lock_open_cart(customer, now).await? {
            None => {
                tx.set_ownership(anonymous.id, customer, CartStatus::Open, now)
                    .await?;
                tracing::info!(
                    cart_id = %anonymous.id,
                    "anonymous cart taken over by the customer"
                );
                anonymous.id
            }
            Some((own, _)) if own.currency == anonymous.currency => {
                let count = self.merge_lines(&mut tx, &anonymous, &own, now).await?;
                fill_in_contact(&mut tx, &anonymous, &own).await?;
                tx.set_ownership(anonymous.id, customer, CartStatus::Merged, now)
                    .await?;
                tracing::info!(
                    cart_id = %own.id,
                    merged_cart_id = %anonymous.id,
                    lines_summed = count.lines_summed,
                    lines_added = count.lines_added,
                    lines_left_out = count.lines_left_out,
                    units_dropped = count.units_dropped,
                    "anonymous cart merged into the customer's cart"
                );
                own.id
            }
            Some((own, _)) => {
                // The unique index allows one open cart: set the old one aside first.
                tx.set_aside_open_cart(customer, now).await?;
                tx.set_ownership(anonymous.id, customer, CartStatus::Open, now)
                    .await?;
                tracing::info!(
                    cart_id = %anonymous.id,
                    set_aside_cart_id = %own.id,
                    "anonymous cart in another currency replaced the customer's cart"
                );
                anonymous.id
            }
        };
        tx.commit().await?;
        self.read(open, &CartAccess::Customer(customer))
            .await
            .map(Some)
    }

    /// Adds the anonymous cart's lines to `own` (same currency), by the rules of
    /// [`crate::CartService::merge_on_sign_in`]: summed and capped by SKU, new SKUs while there
    /// is room, in the order they were added to the anonymous cart.
    async fn merge_lines(
        &self,
        tx: &mut CartTx,
        anonymous: &Cart,
        own: &Cart,
        now: Timestamp,
    ) -> Result<MergeCount, CartError> {
        let mut in_cart: HashMap<Sku, CartLine> = tx
            .lines(own.id)
            .await?
            .into_iter()
            .map(|line| (line.sku.clone(), line))
            .collect();
        let lines_max = usize::try_from(self.limits.lines_max).unwrap_or(usize::MAX);
        let mut count = MergeCount::default();
        for line in tx.lines(anonymous.id).await? {
            if let Some(existing) = in_cart.get(&line.sku) {
                let (quantity, dropped) = capped_sum(existing.quantity, line.quantity);
                tx.set_line_quantity(own.id, existing.id, quantity).await?;
                count.lines_summed += 1;
                count.units_dropped += dropped;
            } else if in_cart.len() < lines_max {
                let added = CartLine {
                    id: CartLineId::new(),
                    sku: line.sku.clone(),
                    quantity: line.quantity,
                    created_at: now,
                };
                tx.insert_line(own.id, &added).await?;
                in_cart.insert(line.sku, added);
                count.lines_added += 1;
            } else {
                count.lines_left_out += 1;
            }
        }
        Ok(count)
    }
}

/// The anonymous cart if `token` opens it for writing, locked for the rest of the transaction.
/// Anything else (unknown, wrong token, owned, merged) is `None`: sign-in ignores a stale cart
/// rather than failing, and leaves it untouched.
async fn usable_anonymous(
    tx: &mut CartTx,
    id: CartId,
    token: String,
) -> Result<Option<Cart>, CartError> {
    let access = CartAccess::Token(token);
    match tx.lock_cart_unchanged(id).await? {
        Some((cart, ownership)) if access.admits(&ownership, CartUse::Write) => Ok(Some(cart)),
        _ => {
            tracing::info!(
                cart_id = %id,
                "anonymous cart ignored at sign-in: it does not open with its token"
            );
            Ok(None)
        }
    }
}

/// The customer's cart keeps its own email and address; it takes the anonymous cart's only
/// where its own are empty. Its shipping choice stays as it is.
async fn fill_in_contact(tx: &mut CartTx, anonymous: &Cart, own: &Cart) -> Result<(), CartError> {
    if let (None, Some(email)) = (&own.email, &anonymous.email) {
        tx.set_email(own.id, email).await?;
    }
    if let (None, Some(address)) = (&own.shipping_address, &anonymous.shipping_address) {
        tx.set_address(own.id, address).await?;
    }
    Ok(())
}

/// `a + b` capped at [`QUANTITY_MAX`], and how many units the cap dropped.
fn capped_sum(a: Quantity, b: Quantity) -> (Quantity, u32) {
    // Each is at most QUANTITY_MAX, so the sum cannot overflow.
    let sum = a.get() + b.get();
    let kept = sum.min(QUANTITY_MAX);
    // `kept` is from 2 to QUANTITY_MAX, always a quantity: the fallback is never taken.
    (Quantity::new(kept).unwrap_or(a), sum - kept)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn q(n: u32) -> Quantity {
        Quantity::new(n).unwrap()
    }

    #[test]
    fn summed_quantities_are_capped_at_the_maximum_and_report_what_was_dropped() {
        assert_eq!(capped_sum(q(2), q(3)), (q(5), 0));
        assert_eq!(capped_sum(q(998), q(1)), (q(999), 0));
        assert_eq!(capped_sum(q(998), q(2)), (q(999), 1));
        assert_eq!(capped_sum(q(999), q(999)), (q(999), 999));
    }
}
