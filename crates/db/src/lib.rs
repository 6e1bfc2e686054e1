//! Storage: one [`Db`] handle over SQLite (embedded default) or PostgreSQL, chosen by
//! configuration, plus the migrator every district uses and a few row helpers.
//!
//! Each district (catalog, cart, …) gets its own `Db`. On SQLite that is its own database file
//! under the data directory, so no transaction can span two districts even by accident; on
//! PostgreSQL the districts share one database and keep to their own tables (prefixed by the
//! district's name), which the code review and the store tests enforce.
//!
//! SQLite has one writer per database, so a `Db` over SQLite holds two pools: a single-connection
//! writer (every write transaction goes through [`Db::begin`]) and a small read-only pool
//! ([`Db::reader`]). That keeps writers from fighting over the lock (`SQLITE_BUSY`) and is the
//! seam where group commit will batch writes later. On PostgreSQL both are the same pool.
//!
//! Read first: [`Db`], [`Backend`], [`Migration`], [`Sql`], [`DbError`].

mod builder;
mod error;
mod migrate;
mod pool;
pub mod row;

pub use builder::Sql;
pub use error::DbError;
pub use migrate::Migration;
pub use pool::{Backend, Db, Dialect, PoolSettings};

/// The SQL transaction type every store uses for writes.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;
