//! Catalog: what a shop sells.
//!
//! Owns the tables `catalog_products`, `catalog_variants`, `catalog_variant_options`,
//! `catalog_prices`, `catalog_categories`, `catalog_product_categories` and `catalog_outbox`
//! (every change records an event, [`events`]). A product has one or
//! more variants; each variant is one SKU with option values (size, colour), a weight and a price
//! per currency. Products and variants are active or archived; archived ones cannot be bought.
//!
//! Read [`model`] first, then the [`CatalogService`] trait. [`Catalog`] implements it over
//! [`store::CatalogStore`], which holds every SQL statement of the crate. Other districts (the
//! cart) price lines through [`CatalogService::offers`] and never read these tables.
//! [`CachedCatalog`] decorates a service with a short-lived cache of the public reads (never of
//! offers); see [`cache`].

pub mod cache;
pub mod error;
pub mod events;
pub mod migrations;
pub mod model;
pub mod service;
pub mod store;
mod validate;

pub use cache::{CacheConfig, CacheWatcher, CachedCatalog};
pub use error::{CatalogError, PROBLEM_TYPES};
pub use model::*;
pub use service::{Catalog, CatalogService, EVENTS_PAGE_MAX};
