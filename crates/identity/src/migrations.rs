//! Identity's schema, written once per dialect with the same versions and names.

use kassa_db::Migration;

/// Every migration of the identity district, in version order.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 2026112203,
    name: "create identity",
    sqlite: include_str!("../migrations/sqlite/2026112203_create_identity.sql"),
    postgres: include_str!("../migrations/postgres/2026112203_create_identity.sql"),
}];
