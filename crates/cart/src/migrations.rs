//! The cart's schema, written once per dialect with the same versions and names.

use kassa_db::Migration;

/// Every migration of the cart district, in version order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 2026112202,
        name: "create carts",
        sqlite: include_str!("../migrations/sqlite/2026112202_create_carts.sql"),
        postgres: include_str!("../migrations/postgres/2026112202_create_carts.sql"),
    },
    Migration {
        version: 2026112204,
        name: "add cart owners",
        sqlite: include_str!("../migrations/sqlite/2026112204_add_cart_owners.sql"),
        postgres: include_str!("../migrations/postgres/2026112204_add_cart_owners.sql"),
    },
    Migration {
        version: 2026120203,
        name: "add cart checkouts",
        sqlite: include_str!("../migrations/sqlite/2026120203_add_cart_checkouts.sql"),
        postgres: include_str!("../migrations/postgres/2026120203_add_cart_checkouts.sql"),
    },
];
