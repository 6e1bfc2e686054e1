//! The inventory's schema, written once per dialect with the same versions and names.

use kassa_db::Migration;

/// Every migration of the inventory district, in version order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 2026112205,
        name: "create inventory",
        sqlite: include_str!("../migrations/sqlite/2026112205_create_inventory.sql"),
        postgres: include_str!("../migrations/postgres/2026112205_create_inventory.sql"),
    },
    Migration {
        version: 2026120204,
        name: "add inventory restocks",
        sqlite: include_str!("../migrations/sqlite/2026120204_add_inventory_restocks.sql"),
        postgres: include_str!("../migrations/postgres/2026120204_add_inventory_restocks.sql"),
    },
];

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;
    use crate::events::OUTBOX_TABLE;

    #[test]
    fn both_dialects_create_the_standard_outbox() {
        let outbox = kassa_events::outbox_table_sql(OUTBOX_TABLE);
        // The outbox is created by the first migration; later ones only add to the schema.
        for migration in &MIGRATIONS[..1] {
            assert!(
                migration.sqlite.contains(&outbox),
                "sqlite {}",
                migration.version
            );
            assert!(
                migration.postgres.contains(&outbox),
                "postgres {}",
                migration.version
            );
        }
    }
}
