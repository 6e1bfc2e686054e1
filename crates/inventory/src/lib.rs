//! Inventory: how many units of each SKU are held where, and which of them are held for orders
//! not yet confirmed — the district that keeps DESIGN promise 1, no oversell.
//!
//! Owns the tables `inventory_locations` (places stock is held; the migration creates
//! [`LocationId::DEFAULT`]), `inventory_stock` (`on_hand` and `reserved` per SKU and location,
//! with `0 <= reserved <= on_hand` enforced by the database's CHECKs), `inventory_adjustments`
//! (staff changes by a delta, with a reason), `inventory_reservations` (one per order, keyed by
//! the orders district's id as an opaque `order_ref`, with a TTL and a status) with
//! `inventory_reservation_lines`, `inventory_restocks` (one row per order whose committed units
//! went back on hand after it was cancelled, so a restock happens once), and the outbox
//! `inventory_outbox` (see [`events`]). It does not know products, prices or orders: SKUs are
//! the kernel's [`kassa_kernel::Sku`], and the checkout saga in `orders` decides when to
//! reserve, commit, release and restock.
//!
//! Read [`model`] first ([`StockLevel`], [`Reservation`] and its status transitions), then the
//! [`InventoryService`] trait, whose documentation states every refusal. [`Inventory`]
//! implements it over [`store::InventoryStore`], which holds every SQL statement of the crate;
//! the store's module documentation explains why stock only changes by conditional updates.
//!
//! Reservations take all of an order's lines or none, at the configured
//! [`InventoryConfig::reservation_location`], for a TTL (default
//! [`model::RESERVATION_TTL_DEFAULT`], 10 minutes). Expiring them is
//! [`InventoryService::expire_due`], which a sweeper calls; scheduling that call is not this
//! crate's job. Nothing here holds an in-process lock: every correctness condition is a `WHERE`
//! clause or a constraint, so several nodes sharing one database stay correct.
//!
//! Reservations that arrive together are reserved together (DESIGN §6, hot SKUs): each
//! [`Inventory`] queues its `reserve` calls to one task, which runs them as a batch in one
//! transaction — one conditional update per SKU for the whole batch, and where a SKU is short,
//! its units handed out in arrival order. `service/reserve_batch.rs` explains how, and
//! [`Inventory::reserve_batch_stats`] shows how much it combines.

pub mod error;
pub mod events;
pub mod migrations;
pub mod model;
pub mod service;
pub mod store;

pub use error::{InventoryError, PROBLEM_TYPES};
pub use model::*;
pub use service::{
    Inventory, InventoryService, ReserveBatchStats, EVENTS_PAGE_MAX, EXPIRE_BATCH_MAX,
    RESERVE_BATCH_LINES_MAX, RESERVE_BATCH_MAX, RESERVE_QUEUE_MAX, STOCK_MANY_SKUS_MAX,
};
