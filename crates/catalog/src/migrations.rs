//! The catalog's schema, embedded for both dialects with the same versions and names.

use kassa_db::Migration;

/// In version order; the server's `migrate` runs them after the districts the catalog uses.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 2026112201,
        name: "create catalog",
        sqlite: include_str!("../migrations/sqlite/2026112201_create_catalog.sql"),
        postgres: include_str!("../migrations/postgres/2026112201_create_catalog.sql"),
    },
    Migration {
        version: 2026120205,
        name: "add catalog outbox",
        sqlite: include_str!("../migrations/sqlite/2026120205_add_catalog_outbox.sql"),
        postgres: include_str!("../migrations/postgres/2026120205_add_catalog_outbox.sql"),
    },
];

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;
    use crate::events::OUTBOX_TABLE;

    #[test]
    fn both_dialects_create_the_standard_outbox() {
        let outbox = kassa_events::outbox_table_sql(OUTBOX_TABLE);
        let migration = &MIGRATIONS[1];
        assert!(migration.sqlite.contains(&outbox));
        assert!(migration.postgres.contains(&outbox));
    }
}
