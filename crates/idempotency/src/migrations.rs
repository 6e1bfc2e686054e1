//! The idempotency district's schema, written once per dialect with the same versions and names.
//! The two files differ only in the body column's type (BLOB on SQLite, BYTEA on PostgreSQL).

use kassa_db::Migration;

/// Every migration of the idempotency district, in version order.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 2026120201,
    name: "create idempotency keys",
    sqlite: include_str!("../migrations/sqlite/2026120201_create_idempotency_keys.sql"),
    postgres: include_str!("../migrations/postgres/2026120201_create_idempotency_keys.sql"),
}];

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    #[test]
    fn the_dialects_differ_only_in_the_body_column_type() {
        for migration in MIGRATIONS {
            assert_eq!(
                migration
                    .sqlite
                    .replace("response_body BLOB", "response_body BYTEA"),
                migration.postgres,
                "{}",
                migration.version
            );
        }
    }
}
