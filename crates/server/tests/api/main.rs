//! API tests: one integration binary with a module per resource (it saves link time). Every test
//! spawns the real application on a random port over a fresh database: SQLite, or PostgreSQL
//! when TEST_DATABASE_URL is set.

mod helpers;
mod identity_helpers;

mod bad_input;
mod carts;
mod catalog;
mod identity;
mod inventory;
mod ownership;
mod permissions;
mod service;
mod totals;

mod checkout;
mod checkout_concurrency;
mod checkout_helpers;
mod checkout_recovery;
mod events;
mod idempotency;
mod localstripe;
mod notifications;
mod orders;
mod stripe_gateway;
mod webhooks;
