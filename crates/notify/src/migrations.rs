//! The notifications schema, written once per dialect with the same versions and names.

use kassa_db::Migration;

/// Every migration of the notifications district, in version order.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 2026120206,
    name: "create notifications",
    sqlite: include_str!("../migrations/sqlite/2026120206_create_notifications.sql"),
    postgres: include_str!("../migrations/postgres/2026120206_create_notifications.sql"),
}];

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;
    use crate::consumer::INBOX_TABLE;

    #[test]
    fn both_dialects_create_the_standard_inbox() {
        let inbox = kassa_events::inbox::inbox_table_sql(INBOX_TABLE);
        assert!(MIGRATIONS[0].sqlite.contains(&inbox));
        assert!(MIGRATIONS[0].postgres.contains(&inbox));
    }
}
