//! The inventory's schema, written once per dialect with the same versions and names.

use kassa_db::Migration;

/// Every migration of the inventory district, in version order.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 2026112205,
    name: "create inventory",
    sqlite: include_str!("../migrations/sqlite/2026112205_create_inventory.sql"),
    postgres: include_str!("../migrations/postgres/2026112205_create_inventory.sql"),
}];

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;
    use crate::events::OUTBOX_TABLE;

    #[test]
    fn both_dialects_create_the_standard_outbox() {
        let outbox = kassa_events::outbox_table_sql(OUTBOX_TABLE);
        for migration in MIGRATIONS {
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
