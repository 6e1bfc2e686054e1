//! The payments district's schema, written once per dialect with the same versions and names.
//! Both dialects happen to need the same text today; they stay separate files so a later
//! migration can differ.

use kassa_db::Migration;

/// Every migration of the payments district, in version order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 2026112210,
        name: "create payments",
        sqlite: include_str!("../migrations/sqlite/2026112210_create_payments.sql"),
        postgres: include_str!("../migrations/postgres/2026112210_create_payments.sql"),
    },
    Migration {
        version: 2026120301,
        name: "gateway events and reconciliation",
        sqlite: include_str!("../migrations/sqlite/2026120301_gateway_events.sql"),
        postgres: include_str!("../migrations/postgres/2026120301_gateway_events.sql"),
    },
    Migration {
        version: 2026120302,
        name: "next action client secret",
        sqlite: include_str!("../migrations/sqlite/2026120302_next_action_client_secret.sql"),
        postgres: include_str!("../migrations/postgres/2026120302_next_action_client_secret.sql"),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migration_creates_the_outbox_exactly_as_the_events_crate_defines_it() {
        let ddl = kassa_events::outbox_table_sql(crate::events::OUTBOX);
        for migration in MIGRATIONS.iter().take(1) {
            assert!(migration.sqlite.contains(&ddl));
            assert!(migration.postgres.contains(&ddl));
        }
    }
}
