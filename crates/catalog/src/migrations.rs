//! The catalog's schema, embedded for both dialects with the same versions and names.

use kassa_db::Migration;

/// In version order; the server's `migrate` runs them after the districts the catalog uses.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 2026112201,
    name: "create catalog",
    sqlite: include_str!("../migrations/sqlite/2026112201_create_catalog.sql"),
    postgres: include_str!("../migrations/postgres/2026112201_create_catalog.sql"),
}];
