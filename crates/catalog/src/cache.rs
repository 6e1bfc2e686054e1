//! A bounded, short-lived read cache in front of a [`CatalogService`].
//!
//! [`CachedCatalog`] serves the public catalog reads — [`CatalogService::product`] and
//! [`CatalogService::product_by_handle`] without archived products, and
//! [`CatalogService::list_products`] without archived products — from memory for at most
//! [`CacheConfig::ttl`], keeping at most [`CacheConfig::max_entries`] answers.
//!
//! Staleness: every write through this decorator clears the whole cache once the inner write
//! has finished (or was abandoned), so a node sees its own writes at once; writes made on other
//! nodes become visible within `ttl`. [`CatalogService::offers`] is never cached: carts and
//! checkout price lines from the store, so a checkout can never use a stale price. Staff reads
//! (`include_archived = true`) and errors are never cached either.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use kassa_kernel::ids::{ProductId, VariantId};
use kassa_kernel::{Clock, Currency, Money, Sku, Timestamp};

use crate::model::*;
use crate::service::CatalogService;
use crate::CatalogError;

/// How long and how many answers [`CachedCatalog`] keeps. A zero `ttl` or `max_entries`
/// disables the cache: every read goes to the inner service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// The longest a cached answer is served; the staleness bound for writes on other nodes.
    pub ttl: Duration,
    /// The most answers held at once; when full, the cache is emptied before the next insert.
    pub max_entries: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            ttl: Duration::from_millis(1_000),
            max_entries: 10_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Product(ProductId),
    Handle(Handle),
    List(ProductFilter),
}

#[derive(Debug, Clone)]
enum Value {
    Product(Product),
    Page(ProductPage),
}

#[derive(Debug)]
struct Entry {
    value: Value,
    expires_at: Timestamp,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<Key, Entry>,
    /// Bumped by every write. A read only stores its answer if no write finished while it ran,
    /// so an answer read before a write can never be cached after that write cleared the cache.
    generation: u64,
}

/// Caches public catalog reads of an inner [`CatalogService`]; see the [module docs](self).
pub struct CachedCatalog {
    inner: Arc<dyn CatalogService>,
    clock: Arc<dyn Clock>,
    config: CacheConfig,
    state: Mutex<State>,
}

/// Clears the cache when dropped: after the inner write finished, or when the write's future
/// was dropped (a request timeout) and the write may or may not have committed.
struct ClearOnDrop<'a>(&'a CachedCatalog);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        self.0.invalidate();
    }
}

impl CachedCatalog {
    pub fn new(
        inner: Arc<dyn CatalogService>,
        clock: Arc<dyn Clock>,
        config: CacheConfig,
    ) -> CachedCatalog {
        CachedCatalog {
            inner,
            clock,
            config,
            state: Mutex::new(State::default()),
        }
    }

    /// How many answers are held right now, expired ones included.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every cached answer.
    pub fn invalidate(&self) {
        let mut state = self.lock();
        state.generation = state.generation.wrapping_add(1);
        state.entries.clear();
    }

    fn enabled(&self) -> bool {
        !self.config.ttl.is_zero() && self.config.max_entries > 0
    }

    /// The cache holds only plain data, so a panic while it was locked leaves nothing broken.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fresh cached answer for `key`, or the generation to pass to [`Self::store`].
    fn lookup<T>(&self, key: &Key, pick: impl Fn(&Value) -> Option<T>) -> Result<T, u64> {
        let now = self.clock.now();
        let mut state = self.lock();
        let hit = state
            .entries
            .get(key)
            .filter(|entry| now < entry.expires_at)
            .and_then(|entry| pick(&entry.value));
        match hit {
            Some(value) => Ok(value),
            None => {
                state.entries.remove(key);
                Err(state.generation)
            }
        }
    }

    fn store(&self, key: Key, value: Value, generation: u64) {
        let ttl_ms = i64::try_from(self.config.ttl.as_millis()).unwrap_or(i64::MAX);
        let expires_at = self.clock.now().plus_millis(ttl_ms);
        let mut state = self.lock();
        if state.generation != generation {
            return;
        }
        if state.entries.len() >= self.config.max_entries && !state.entries.contains_key(&key) {
            // Simple and bounded: every answer lives at most `ttl` anyway.
            state.entries.clear();
        }
        state.entries.insert(key, Entry { value, expires_at });
    }

    async fn cached_product(
        &self,
        key: Key,
        read: impl std::future::Future<Output = Result<Product, CatalogError>>,
    ) -> Result<Product, CatalogError> {
        let generation = match self.lookup(&key, |value| match value {
            Value::Product(product) => Some(product.clone()),
            Value::Page(_) => None,
        }) {
            Ok(product) => return Ok(product),
            Err(generation) => generation,
        };
        let product = read.await?;
        self.store(key, Value::Product(product.clone()), generation);
        Ok(product)
    }
}

#[async_trait]
impl CatalogService for CachedCatalog {
    async fn create_category(&self, input: NewCategory) -> Result<Category, CatalogError> {
        let _clear = ClearOnDrop(self);
        self.inner.create_category(input).await
    }

    async fn categories(&self) -> Result<Vec<Category>, CatalogError> {
        self.inner.categories().await
    }

    async fn create_product(&self, input: NewProduct) -> Result<Product, CatalogError> {
        let _clear = ClearOnDrop(self);
        self.inner.create_product(input).await
    }

    async fn update_product(
        &self,
        id: ProductId,
        patch: ProductPatch,
    ) -> Result<Product, CatalogError> {
        let _clear = ClearOnDrop(self);
        self.inner.update_product(id, patch).await
    }

    async fn archive_product(&self, id: ProductId) -> Result<Product, CatalogError> {
        let _clear = ClearOnDrop(self);
        self.inner.archive_product(id).await
    }

    async fn add_variant(
        &self,
        product: ProductId,
        input: NewVariant,
    ) -> Result<Product, CatalogError> {
        let _clear = ClearOnDrop(self);
        self.inner.add_variant(product, input).await
    }

    async fn update_variant(
        &self,
        id: VariantId,
        patch: VariantPatch,
    ) -> Result<Product, CatalogError> {
        let _clear = ClearOnDrop(self);
        self.inner.update_variant(id, patch).await
    }

    async fn archive_variant(&self, id: VariantId) -> Result<Product, CatalogError> {
        let _clear = ClearOnDrop(self);
        self.inner.archive_variant(id).await
    }

    async fn set_price(&self, variant: VariantId, price: Money) -> Result<Product, CatalogError> {
        let _clear = ClearOnDrop(self);
        self.inner.set_price(variant, price).await
    }

    async fn remove_price(
        &self,
        variant: VariantId,
        currency: Currency,
    ) -> Result<Product, CatalogError> {
        let _clear = ClearOnDrop(self);
        self.inner.remove_price(variant, currency).await
    }

    async fn product(
        &self,
        id: ProductId,
        include_archived: bool,
    ) -> Result<Product, CatalogError> {
        if include_archived || !self.enabled() {
            return self.inner.product(id, include_archived).await;
        }
        self.cached_product(Key::Product(id), self.inner.product(id, false))
            .await
    }

    async fn product_by_handle(
        &self,
        handle: &Handle,
        include_archived: bool,
    ) -> Result<Product, CatalogError> {
        if include_archived || !self.enabled() {
            return self.inner.product_by_handle(handle, include_archived).await;
        }
        let key = Key::Handle(handle.clone());
        self.cached_product(key, self.inner.product_by_handle(handle, false))
            .await
    }

    async fn list_products(&self, filter: ProductFilter) -> Result<ProductPage, CatalogError> {
        if filter.include_archived || !self.enabled() {
            return self.inner.list_products(filter).await;
        }
        let key = Key::List(filter.clone());
        let generation = match self.lookup(&key, |value| match value {
            Value::Page(page) => Some(page.clone()),
            Value::Product(_) => None,
        }) {
            Ok(page) => return Ok(page),
            Err(generation) => generation,
        };
        let page = self.inner.list_products(filter).await?;
        self.store(key, Value::Page(page.clone()), generation);
        Ok(page)
    }

    /// Never cached: carts and checkout price from the store, so a checkout can never use a
    /// stale price.
    async fn offers(&self, skus: &[Sku], currency: Currency) -> Result<Vec<Offer>, CatalogError> {
        self.inner.offers(skus, currency).await
    }
}
