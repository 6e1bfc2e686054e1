//! The webhooks district's schema, written once per dialect with the same versions and names.

use kassa_db::Migration;

/// Every migration of the webhooks district, in version order.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 2026120207,
    name: "create webhooks",
    sqlite: include_str!("../migrations/sqlite/2026120207_create_webhooks.sql"),
    postgres: include_str!("../migrations/postgres/2026120207_create_webhooks.sql"),
}];

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;
    use crate::store::INBOX_TABLE;

    #[test]
    fn both_dialects_create_the_standard_inbox() {
        let inbox = kassa_events::inbox::inbox_table_sql(INBOX_TABLE);
        assert!(MIGRATIONS[0].sqlite.contains(&inbox));
        assert!(MIGRATIONS[0].postgres.contains(&inbox));
    }
}
