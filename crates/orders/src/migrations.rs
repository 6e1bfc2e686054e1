//! The orders' schema, written once per dialect with the same versions and names.

use kassa_db::Migration;

/// Every migration of the orders district, in version order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 2026120202,
        name: "create orders",
        sqlite: include_str!("../migrations/sqlite/2026120202_create_orders.sql"),
        postgres: include_str!("../migrations/postgres/2026120202_create_orders.sql"),
    },
    Migration {
        version: 2026120301,
        name: "create order flags",
        sqlite: include_str!("../migrations/sqlite/2026120301_create_order_flags.sql"),
        postgres: include_str!("../migrations/postgres/2026120301_create_order_flags.sql"),
    },
];

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;
    use crate::consumer::INBOX_TABLE;
    use crate::events::OUTBOX_TABLE;

    #[test]
    fn both_dialects_create_the_standard_outbox() {
        let outbox = kassa_events::outbox_table_sql(OUTBOX_TABLE);
        assert!(MIGRATIONS[0].sqlite.contains(&outbox));
        assert!(MIGRATIONS[0].postgres.contains(&outbox));
    }

    #[test]
    fn both_dialects_create_the_standard_inbox_with_the_flags() {
        let flags = MIGRATIONS
            .iter()
            .find(|m| m.version == 2026120301)
            .unwrap_or_else(|| panic!("the order flags migration is listed"));
        let inbox = kassa_events::inbox::inbox_table_sql(INBOX_TABLE);
        assert!(flags.sqlite.contains(&inbox), "{}", flags.sqlite);
        assert!(flags.postgres.contains(&inbox), "{}", flags.postgres);
    }
}
