//! The cart's service trait, the only way other crates use carts, and [`Carts`], which
//! implements it.
//!
//! Every shopper call names a cart and proves access with a [`CartAccess`], checked by
//! `CartAccess::admits` and nowhere else; a missing cart, a wrong token and another customer's
//! cart are the same [`CartError::CartNotFound`]. Every shopper call returns the cart priced anew
//! from the catalog (see [`crate::pricing`]). Writes run in one short transaction that never
//! waits on the catalog: what a write needs from the catalog is asked before the transaction
//! starts. Merging an anonymous cart at sign-in is in `service/merge.rs`.

mod merge;

use std::sync::Arc;

use async_trait::async_trait;
use kassa_catalog::CatalogService;
use kassa_kernel::ids::{CartId, CartLineId, CustomerId, ShippingOptionId};
use kassa_kernel::quantity::QUANTITY_MAX;
use kassa_kernel::rounding::Rate;
use kassa_kernel::{Clock, CountryCode, Currency, Email, Quantity, Sku};
use tracing::instrument;

use crate::model::{
    Address, Cart, CartAccess, CartLimits, CartLine, CartOwnership, CartStatus, CartToken, CartUse,
    NewShippingOption, PricedCart, ShippingOption, ShippingQuote, TaxRate,
};
use crate::pricing;
use crate::store::{CartSnapshot, CartStore, CartTx};
use crate::CartError;

#[async_trait]
pub trait CartService: Send + Sync {
    /// A new empty cart priced in `currency`, and the token that unlocks it. The token is shown
    /// only here; the cart keeps only its hash.
    ///
    /// With an `owner`, the cart is that customer's and becomes their open cart: their previous
    /// open cart, if any, is set aside in the same transaction (still readable by them, no
    /// longer writable). An owned cart is opened with [`CartAccess::Customer`]; its token opens
    /// nothing.
    async fn create_cart(
        &self,
        currency: Currency,
        owner: Option<CustomerId>,
    ) -> Result<(PricedCart, CartToken), CartError>;

    /// The cart, priced from the catalog's current prices. A customer can also read their
    /// set-aside carts; every other call that names a cart needs an open one.
    async fn cart(&self, id: CartId, access: &CartAccess) -> Result<PricedCart, CartError>;

    /// The customer's open cart, priced, if they have one.
    async fn customer_cart(&self, customer: CustomerId) -> Result<Option<PricedCart>, CartError>;

    /// At sign-in: merges the shopper's anonymous cart, given as its id and token, into the
    /// customer's open cart, in one transaction, and returns the customer's open cart after it
    /// (`None` if they have none). The rules, in order:
    ///
    /// 1. No anonymous cart, or one that does not open with its token (unknown, wrong token,
    ///    already owned, merged): it is ignored, not an error, so sign-in never fails because
    ///    of a stale cart. The customer's open cart, or `None`, is returned unchanged.
    /// 2. The customer has no open cart: the anonymous cart becomes theirs.
    /// 3. Same currency: each anonymous line, in the order it was added, goes into the
    ///    customer's cart. A SKU already there has the quantities added, capped at
    ///    [`QUANTITY_MAX`]; a new SKU is added while the cart has fewer than
    ///    [`CartLimits::lines_max`] lines, and the rest are left out (logged with their count).
    ///    The customer's cart keeps its email, address and shipping choice, taking the
    ///    anonymous cart's email and address only where its own are empty. The anonymous cart
    ///    becomes `merged` (owned by the customer, opened by nobody).
    /// 4. Another currency: the anonymous cart wins. It becomes the customer's open cart and
    ///    their previous open cart is set aside.
    ///
    /// Merging the same anonymous cart twice (two sign-ins racing) merges it once: the second
    /// finds it merged or owned and falls under rule 1.
    async fn merge_on_sign_in(
        &self,
        customer: CustomerId,
        anonymous: Option<(CartId, String)>,
    ) -> Result<Option<PricedCart>, CartError>;

    /// Adds `quantity` units of `sku`; a SKU already in the cart adds to its line. Refused with
    /// `UnknownSku`, `SkuUnavailable`, `PriceUnavailable`, `QuantityTooLarge` (the line would
    /// pass the quantity maximum) or `TooManyLines` (a new line in a full cart).
    async fn add_line(
        &self,
        id: CartId,
        access: &CartAccess,
        sku: Sku,
        quantity: Quantity,
    ) -> Result<PricedCart, CartError>;

    /// Sets a line's quantity.
    async fn update_line(
        &self,
        id: CartId,
        access: &CartAccess,
        line: CartLineId,
        quantity: Quantity,
    ) -> Result<PricedCart, CartError>;

    async fn remove_line(
        &self,
        id: CartId,
        access: &CartAccess,
        line: CartLineId,
    ) -> Result<PricedCart, CartError>;

    async fn set_email(
        &self,
        id: CartId,
        access: &CartAccess,
        email: Email,
    ) -> Result<PricedCart, CartError>;

    /// Sets (replaces) the shipping address. A chosen shipping option that does not deliver to
    /// the new country is dropped.
    async fn set_shipping_address(
        &self,
        id: CartId,
        access: &CartAccess,
        address: Address,
    ) -> Result<PricedCart, CartError>;

    /// The options that apply to the cart now, cheapest first. Needs a shipping address.
    async fn shipping_options(
        &self,
        id: CartId,
        access: &CartAccess,
    ) -> Result<Vec<ShippingQuote>, CartError>;

    /// Chooses one of the options [`CartService::shipping_options`] would list.
    async fn choose_shipping_option(
        &self,
        id: CartId,
        access: &CartAccess,
        option: ShippingOptionId,
    ) -> Result<PricedCart, CartError>;

    /// The orders district: the cart's checkout ended with a confirmed order (`order_ref`, the
    /// order's id, opaque here). An `open` cart is set aside, so it takes no more writes and
    /// its owner can start a new open cart; it stays readable by its owner (a customer, or the
    /// anonymous shopper with its token) so the storefront can still show what was bought. The
    /// checkout is recorded in `cart_checkouts`. Idempotent: completing a completed cart
    /// changes nothing (a different `order_ref` the second time is logged and ignored: the
    /// first order closed the cart). `CartNotFound` if there is no such cart. No
    /// [`CartAccess`]: only the checkout saga, which proved access when it began, calls it.
    async fn complete_checkout(&self, id: CartId, order_ref: &str) -> Result<(), CartError>;

    /// Staff: adds a shipping option.
    async fn create_shipping_option(
        &self,
        option: NewShippingOption,
    ) -> Result<ShippingOption, CartError>;

    /// Staff: every shipping option, in creation order.
    async fn shipping_options_all(&self) -> Result<Vec<ShippingOption>, CartError>;

    /// Staff: deletes an option; carts that chose it are left without a choice.
    async fn delete_shipping_option(&self, id: ShippingOptionId) -> Result<(), CartError>;

    /// Staff: sets (inserts or replaces) the tax rate of a country.
    async fn set_tax_rate(&self, country: CountryCode, rate: Rate) -> Result<TaxRate, CartError>;

    /// Staff: every tax rate, by country code.
    async fn tax_rates(&self) -> Result<Vec<TaxRate>, CartError>;

    /// Staff: removes a country's tax rate; carts shipping there are no longer taxed.
    async fn delete_tax_rate(&self, country: CountryCode) -> Result<(), CartError>;
}

/// The cart service over its store and the catalog.
pub struct Carts {
    store: CartStore,
    /// Prices every line; the cart never reads catalog tables.
    catalog: Arc<dyn CatalogService>,
    clock: Arc<dyn Clock>,
    limits: CartLimits,
}

impl Carts {
    pub fn new(
        store: CartStore,
        catalog: Arc<dyn CatalogService>,
        clock: Arc<dyn Clock>,
        limits: CartLimits,
    ) -> Self {
        Carts {
            store,
            catalog,
            clock,
            limits,
        }
    }

    /// The cart priced now, after checking access for reading.
    async fn read(&self, id: CartId, access: &CartAccess) -> Result<PricedCart, CartError> {
        let snapshot = self
            .store
            .cart_snapshot(id)
            .await?
            .ok_or(CartError::CartNotFound(id))?;
        admit(id, access, &snapshot.ownership, CartUse::Read)?;
        self.price(snapshot).await
    }

    /// The customer's open cart priced now, if they have one. Selected by owner, and still
    /// checked by `CartAccess::admits` like every other read.
    async fn open_cart(&self, customer: CustomerId) -> Result<Option<PricedCart>, CartError> {
        let access = CartAccess::Customer(customer);
        let snapshot = self
            .store
            .open_cart_snapshot(customer)
            .await?
            .filter(|snapshot| access.admits(&snapshot.ownership, CartUse::Read));
        match snapshot {
            Some(snapshot) => Ok(Some(self.price(snapshot).await?)),
            None => Ok(None),
        }
    }

    /// One `offers` call for all the cart's SKUs (none for an empty cart), then pure pricing.
    async fn price(&self, snapshot: CartSnapshot) -> Result<PricedCart, CartError> {
        let CartSnapshot {
            cart,
            lines,
            shipping_option,
            tax_rate,
            ..
        } = snapshot;
        let skus: Vec<Sku> = lines.iter().map(|line| line.sku.clone()).collect();
        let offers = if skus.is_empty() {
            Vec::new()
        } else {
            self.catalog.offers(&skus, cart.currency).await?
        };
        Ok(pricing::price_cart(
            cart,
            lines,
            offers,
            shipping_option.as_ref(),
            tax_rate,
        )?)
    }

    /// The cart's row, after checking access for writing, without a transaction: for what a
    /// write must know before it starts (the cart's currency).
    async fn cart_row(&self, id: CartId, access: &CartAccess) -> Result<Cart, CartError> {
        let (cart, ownership) = self
            .store
            .cart(id)
            .await?
            .ok_or(CartError::CartNotFound(id))?;
        admit(id, access, &ownership, CartUse::Write)?;
        Ok(cart)
    }

    /// Starts a write on an existing cart: locks it (the first statement of the transaction)
    /// and checks access. On any error the transaction is dropped, which rolls it back.
    async fn begin_write(
        &self,
        id: CartId,
        access: &CartAccess,
    ) -> Result<(CartTx, Cart), CartError> {
        let mut tx = self.store.begin().await?;
        let (cart, ownership) = tx
            .lock_cart(id, self.clock.now())
            .await?
            .ok_or(CartError::CartNotFound(id))?;
        admit(id, access, &ownership, CartUse::Write)?;
        Ok((tx, cart))
    }

    /// Refuses a SKU the cart cannot sell in `currency`.
    async fn check_sellable(&self, sku: &Sku, currency: Currency) -> Result<(), CartError> {
        let offers = self
            .catalog
            .offers(std::slice::from_ref(sku), currency)
            .await?;
        let offer = offers
            .into_iter()
            .find(|offer| offer.sku == *sku)
            .ok_or_else(|| CartError::UnknownSku(sku.clone()))?;
        if !offer.purchasable {
            return Err(CartError::SkuUnavailable(sku.clone()));
        }
        if offer.unit_price.is_none() {
            return Err(CartError::PriceUnavailable {
                sku: sku.clone(),
                currency,
            });
        }
        Ok(())
    }

    /// Adds to the SKU's line, or adds a line if the cart has room.
    async fn merge_line(
        &self,
        tx: &mut CartTx,
        cart: CartId,
        sku: Sku,
        quantity: Quantity,
    ) -> Result<(), CartError> {
        if let Some(line) = tx.line_by_sku(cart, &sku).await? {
            let in_cart = line.quantity.get();
            let merged = Quantity::new(in_cart + quantity.get()).map_err(|_| {
                CartError::QuantityTooLarge {
                    sku,
                    in_cart,
                    added: quantity.get(),
                    max: QUANTITY_MAX,
                }
            })?;
            tx.set_line_quantity(cart, line.id, merged).await?;
            return Ok(());
        }
        if tx.count_lines(cart).await? >= u64::from(self.limits.lines_max) {
            return Err(CartError::TooManyLines {
                max: self.limits.lines_max,
            });
        }
        let line = CartLine {
            id: CartLineId::new(),
            sku,
            quantity,
            created_at: self.clock.now(),
        };
        tx.insert_line(cart, &line).await?;
        Ok(())
    }
}

/// [`CartAccess::admits`] as a result: a refusal is the same `CartNotFound` as a missing cart.
fn admit(
    id: CartId,
    access: &CartAccess,
    ownership: &CartOwnership,
    cart_use: CartUse,
) -> Result<(), CartError> {
    if access.admits(ownership, cart_use) {
        Ok(())
    } else {
        Err(CartError::CartNotFound(id))
    }
}

#[async_trait]
impl CartService for Carts {
    #[instrument(skip_all, fields(
        currency = %currency,
        customer_id = owner.map(tracing::field::display),
    ))]
    async fn create_cart(
        &self,
        currency: Currency,
        owner: Option<CustomerId>,
    ) -> Result<(PricedCart, CartToken), CartError> {
        let token = CartToken::generate().map_err(CartError::TokenGeneration)?;
        let now = self.clock.now();
        let cart = Cart {
            id: CartId::new(),
            currency,
            email: None,
            shipping_address: None,
            shipping_option_id: None,
            created_at: now,
            updated_at: now,
        };
        let ownership = CartOwnership {
            owner,
            status: CartStatus::Open,
            token_hash: token.hash(),
        };
        let mut tx = self.store.begin().await?;
        if let Some(customer) = owner {
            tx.lock_customer(customer).await?;
            if let Some(previous) = tx.set_aside_open_cart(customer, now).await? {
                tracing::info!(cart_id = %previous, "cart set aside: its owner started a new cart");
            }
        }
        tx.insert_cart(&cart, &ownership).await?;
        tx.commit().await?;
        tracing::info!(cart_id = %cart.id, "cart created");
        let priced = pricing::price_cart(cart, Vec::new(), Vec::new(), None, None)?;
        Ok((priced, token))
    }

    #[instrument(skip_all, fields(cart_id = %id))]
    async fn cart(&self, id: CartId, access: &CartAccess) -> Result<PricedCart, CartError> {
        self.read(id, access).await
    }

    #[instrument(skip_all, fields(customer_id = %customer))]
    async fn customer_cart(&self, customer: CustomerId) -> Result<Option<PricedCart>, CartError> {
        self.open_cart(customer).await
    }

    #[instrument(skip_all, fields(
        customer_id = %customer,
        anonymous_cart_id = anonymous.as_ref().map(|(id, _)| tracing::field::display(id)),
    ))]
    async fn merge_on_sign_in(
        &self,
        customer: CustomerId,
        anonymous: Option<(CartId, String)>,
    ) -> Result<Option<PricedCart>, CartError> {
        self.merge(customer, anonymous).await
    }

    #[instrument(skip_all, fields(cart_id = %id, sku = %sku, quantity = %quantity))]
    async fn add_line(
        &self,
        id: CartId,
        access: &CartAccess,
        sku: Sku,
        quantity: Quantity,
    ) -> Result<PricedCart, CartError> {
        // The currency never changes, so the catalog can be asked before the transaction.
        let cart = self.cart_row(id, access).await?;
        self.check_sellable(&sku, cart.currency).await?;
        let (mut tx, _) = self.begin_write(id, access).await?;
        self.merge_line(&mut tx, id, sku, quantity).await?;
        tx.commit().await?;
        self.read(id, access).await
    }

    #[instrument(skip_all, fields(cart_id = %id, line_id = %line, quantity = %quantity))]
    async fn update_line(
        &self,
        id: CartId,
        access: &CartAccess,
        line: CartLineId,
        quantity: Quantity,
    ) -> Result<PricedCart, CartError> {
        let (mut tx, _) = self.begin_write(id, access).await?;
        if !tx.set_line_quantity(id, line, quantity).await? {
            return Err(CartError::LineNotFound(line));
        }
        tx.commit().await?;
        self.read(id, access).await
    }

    #[instrument(skip_all, fields(cart_id = %id, line_id = %line))]
    async fn remove_line(
        &self,
        id: CartId,
        access: &CartAccess,
        line: CartLineId,
    ) -> Result<PricedCart, CartError> {
        let (mut tx, _) = self.begin_write(id, access).await?;
        if !tx.delete_line(id, line).await? {
            return Err(CartError::LineNotFound(line));
        }
        tx.commit().await?;
        self.read(id, access).await
    }

    #[instrument(skip_all, fields(cart_id = %id))]
    async fn set_email(
        &self,
        id: CartId,
        access: &CartAccess,
        email: Email,
    ) -> Result<PricedCart, CartError> {
        let (mut tx, _) = self.begin_write(id, access).await?;
        tx.set_email(id, &email).await?;
        tx.commit().await?;
        self.read(id, access).await
    }

    #[instrument(skip_all, fields(cart_id = %id, country = %address.country()))]
    async fn set_shipping_address(
        &self,
        id: CartId,
        access: &CartAccess,
        address: Address,
    ) -> Result<PricedCart, CartError> {
        let (mut tx, cart) = self.begin_write(id, access).await?;
        tx.set_address(id, &address).await?;
        if let Some(option) = cart.shipping_option_id {
            if !tx.option_delivers_to(option, address.country()).await? {
                tx.set_shipping_option(id, None).await?;
                tracing::info!(shipping_option_id = %option, "shipping option dropped: it does not deliver to the new country");
            }
        }
        tx.commit().await?;
        self.read(id, access).await
    }

    #[instrument(skip_all, fields(cart_id = %id))]
    async fn shipping_options(
        &self,
        id: CartId,
        access: &CartAccess,
    ) -> Result<Vec<ShippingQuote>, CartError> {
        let priced = self.read(id, access).await?;
        let country = priced
            .cart
            .shipping_address
            .as_ref()
            .map(Address::country)
            .ok_or(CartError::AddressRequired)?;
        let currency = priced.cart.currency;
        let options = self.store.shipping_options_to(country, currency).await?;
        let weight = pricing::weight_grams(&priced.lines);
        Ok(pricing::quotes(&options, country, currency, weight))
    }

    #[instrument(skip_all, fields(cart_id = %id, shipping_option_id = %option_id))]
    async fn choose_shipping_option(
        &self,
        id: CartId,
        access: &CartAccess,
        option_id: ShippingOptionId,
    ) -> Result<PricedCart, CartError> {
        let priced = self.read(id, access).await?;
        let country = priced
            .cart
            .shipping_address
            .as_ref()
            .map(Address::country)
            .ok_or(CartError::AddressRequired)?;
        let option = self
            .store
            .shipping_option(option_id)
            .await?
            .ok_or(CartError::ShippingOptionNotFound(option_id))?;
        let weight = pricing::weight_grams(&priced.lines);
        if pricing::quote(&option, country, priced.cart.currency, weight).is_none() {
            return Err(CartError::ShippingOptionNotApplicable(option_id));
        }
        let (mut tx, cart) = self.begin_write(id, access).await?;
        // The address may have changed since the read; the option must still deliver there.
        match cart.shipping_address.as_ref().map(Address::country) {
            None => return Err(CartError::AddressRequired),
            Some(now) if !tx.option_delivers_to(option_id, now).await? => {
                return Err(CartError::ShippingOptionNotApplicable(option_id))
            }
            Some(_) => {}
        }
        tx.set_shipping_option(id, Some(option_id))
            .await
            .map_err(|err| {
                if err.is_foreign_key_violation() {
                    CartError::ShippingOptionNotFound(option_id)
                } else {
                    err.into()
                }
            })?;
        tx.commit().await?;
        self.read(id, access).await
    }

    #[instrument(skip_all, fields(cart_id = %id, order_ref = %order_ref))]
    async fn complete_checkout(&self, id: CartId, order_ref: &str) -> Result<(), CartError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        // Locks the cart first, like every write to an existing cart.
        if tx.lock_cart_unchanged(id).await?.is_none() {
            return Err(CartError::CartNotFound(id));
        }
        if let Some(recorded) = tx.record_checkout(id, order_ref, now).await? {
            if recorded != order_ref {
                tracing::warn!(recorded_order_ref = %recorded, "cart was checked out by another order; ignored");
            }
            return Ok(());
        }
        let set_aside = tx.set_aside_cart(id, now).await?;
        tx.commit().await?;
        tracing::info!(set_aside, "cart checkout completed");
        Ok(())
    }

    #[instrument(skip_all, fields(name = %option.name()))]
    async fn create_shipping_option(
        &self,
        option: NewShippingOption,
    ) -> Result<ShippingOption, CartError> {
        let option = ShippingOption::new(ShippingOptionId::new(), option);
        let mut tx = self.store.begin().await?;
        tx.insert_shipping_option(&option, self.clock.now()).await?;
        tx.commit().await?;
        tracing::info!(shipping_option_id = %option.id(), "shipping option created");
        Ok(option)
    }

    async fn shipping_options_all(&self) -> Result<Vec<ShippingOption>, CartError> {
        Ok(self.store.shipping_options_all().await?)
    }

    #[instrument(skip_all, fields(shipping_option_id = %id))]
    async fn delete_shipping_option(&self, id: ShippingOptionId) -> Result<(), CartError> {
        let mut tx = self.store.begin().await?;
        if !tx.delete_shipping_option(id).await? {
            return Err(CartError::ShippingOptionNotFound(id));
        }
        tx.commit().await?;
        tracing::info!("shipping option deleted");
        Ok(())
    }

    #[instrument(skip_all, fields(country = %country, rate = %rate))]
    async fn set_tax_rate(&self, country: CountryCode, rate: Rate) -> Result<TaxRate, CartError> {
        let tax_rate = TaxRate {
            country,
            rate,
            updated_at: self.clock.now(),
        };
        let mut tx = self.store.begin().await?;
        tx.upsert_tax_rate(&tax_rate).await?;
        tx.commit().await?;
        tracing::info!("tax rate set");
        Ok(tax_rate)
    }

    async fn tax_rates(&self) -> Result<Vec<TaxRate>, CartError> {
        Ok(self.store.tax_rates().await?)
    }

    #[instrument(skip_all, fields(country = %country))]
    async fn delete_tax_rate(&self, country: CountryCode) -> Result<(), CartError> {
        let mut tx = self.store.begin().await?;
        if !tx.delete_tax_rate(country).await? {
            return Err(CartError::TaxRateNotFound(country));
        }
        tx.commit().await?;
        tracing::info!("tax rate deleted");
        Ok(())
    }
}
