//! Storage: one [`Db`] handle over SQLite (embedded default) or PostgreSQL, chosen by
//! configuration, plus the migrator every district uses and a few row helpers.
//!
//! Each district (catalog, cart, …) gets its own `Db`. On SQLite that is its own database file
//! under the data directory, so no transaction can span two districts even by accident; on
//! PostgreSQL the districts share one database and keep to their own tables (prefixed by the
//! district's name), which the code review and the store tests enforce.
//!
//! SQLite has one writer per database, so a `Db` over SQLite holds a single writer connection
//! (every write transaction goes through [`Db::begin`]) and a small read-only pool
//! ([`Db::reader`]). That keeps writers from fighting over the lock (`SQLITE_BUSY`), and lets
//! the writer *group-commit*: transactions that arrive together run one after another as
//! savepoints inside one outer transaction, which commits once — one fsync for the batch — and
//! each [`Tx::commit`] returns only after that commit. SQLite statements run on the calling
//! thread (`lite.rs`), never handed to a connection thread and back. On PostgreSQL reads and
//! writes share one pool and each transaction commits on its own, through sqlx. Stores see none
//! of this: they run [`query`]s on a [`Conn`] ([`Tx`] dereferences to one) and read sqlx
//! `AnyRow`s alike on both backends.
//!
//! Read first: [`Db`], [`Tx`], [`query`], [`Conn`], [`Backend`], [`Migration`], [`Sql`],
//! [`DbError`]; group commit is explained in `writer.rs`.

mod builder;
mod error;
mod exclusive;
mod exec;
mod lite;
mod migrate;
mod pool;
pub mod row;
mod tx;
mod writer;

pub use builder::Sql;
pub use error::DbError;
pub use exclusive::Exclusive;
pub use exec::{query, query_scalar, Conn, Query, QueryScalar, Reader, Target};
pub use migrate::Migration;
pub use pool::{Backend, Db, Dialect, PoolSettings};
pub use tx::{Tx, WriteStats};
