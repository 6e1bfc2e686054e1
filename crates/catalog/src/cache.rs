//! A bounded, short-lived read cache in front of a [`CatalogService`].
//!
//! [`CachedCatalog`] serves the public catalog reads — [`CatalogService::product`] and
//! [`CatalogService::product_by_handle`] without archived products, and
//! [`CatalogService::list_products`] without archived products — from memory for at most
//! [`CacheConfig::ttl`], keeping at most [`CacheConfig::max_entries`] answers.
//!
//! Staleness: every write through this decorator clears the whole cache once the inner write
//! has finished (or was abandoned), so a node sees its own writes at once. Writes made on other
//! nodes are seen through the catalog's events: a [`CacheWatcher`] on every node reads the
//! catalog outbox every `catalog.cache_refresh_ms` (100 ms) and clears the cache when it finds
//! an event it has not seen, so they show within about that interval — and within `ttl` at
//! worst (an event the watcher missed: a write transaction open longer than [`LOOKBACK`], or the
//! outbox unreadable for a while). [`CatalogService::offers`] is never cached: carts and
//! checkout price lines from the store, so a checkout can never use a stale price. Staff reads
//! (`include_archived = true`) and errors are never cached either.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use kassa_db::DbError;
use kassa_events::EventId;
use kassa_kernel::ids::{ProductId, VariantId};
use kassa_kernel::{Clock, Currency, Money, Sku, Timestamp};

use crate::model::*;
use crate::service::CatalogService;
use crate::store::CatalogStore;
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

    async fn events(
        &self,
        after: Option<EventId>,
        limit: u32,
    ) -> Result<Vec<kassa_events::Event>, CatalogError> {
        self.inner.events(after, limit).await
    }
}

/// How far back a [`CacheWatcher`] looks for events it has not seen. Event ids are time-ordered
/// (UUIDv7, taken when the event is appended, before its transaction commits), so an event
/// whose transaction committed up to this long after taking its id is still found.
pub const LOOKBACK: Duration = Duration::from_secs(5);

/// The most events one look reads; a window with more than this clears the cache anyway.
const LOOK_LIMIT: u32 = 1_000;

/// Keeps one node's [`CachedCatalog`] fresh with the catalog's events, whichever node recorded
/// them: each [`CacheWatcher::look`] reads the events of the last [`LOOKBACK`] and clears the
/// cache if one of them is new to it.
pub struct CacheWatcher {
    store: CatalogStore,
    cache: Arc<CachedCatalog>,
    /// The events of the window read last time.
    seen: HashSet<EventId>,
}

impl CacheWatcher {
    pub fn new(store: CatalogStore, cache: Arc<CachedCatalog>) -> CacheWatcher {
        CacheWatcher {
            store,
            cache,
            seen: HashSet::new(),
        }
    }

    /// Reads the recent events; clears the cache when one was not seen before. Returns whether
    /// it cleared.
    pub async fn look(&mut self) -> Result<bool, DbError> {
        let Some(start) = window_start() else {
            self.cache.invalidate();
            return Ok(true);
        };
        let events = self.store.events(Some(start), LOOK_LIMIT).await?;
        let full = events.len() >= LOOK_LIMIT as usize;
        let ids: HashSet<EventId> = events.into_iter().map(|event| event.id).collect();
        let new = full || ids.iter().any(|id| !self.seen.contains(id));
        self.seen = ids;
        if new {
            self.cache.invalidate();
        }
        Ok(new)
    }
}

/// The smallest event id of the window: a UUIDv7 of [`LOOKBACK`] ago with no random bits. Ids
/// come from the wall clock (not the district's `Clock`), so the window does too.
fn window_start() -> Option<EventId> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    window_start_at(now.saturating_sub(LOOKBACK).as_millis())
}

fn window_start_at(unix_ms: u128) -> Option<EventId> {
    // 48 bits of milliseconds, version 7, variant bits, no randomness.
    let ms = unix_ms & 0xffff_ffff_ffff;
    format!("evt_{ms:012x}7000{:016x}", 0x8000_0000_0000_0000_u64)
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_starts_before_every_event_id_of_its_millisecond_and_after_older_ones() {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let id = EventId::new().to_string();
        let start = window_start_at(now_ms.saturating_sub(1)).map(|id| id.to_string());
        let later = window_start_at(now_ms + 60_000).map(|id| id.to_string());
        assert!(start.as_deref().is_some_and(|start| start < id.as_str()));
        assert!(later.as_deref().is_some_and(|later| later > id.as_str()));
    }
}
