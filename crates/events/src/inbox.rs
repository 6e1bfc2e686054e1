//! A consumer's inbox: the ids of the events it has applied, so a redelivered event is skipped.
//!
//! The consumer's district owns the table (created by its migration from [`inbox_table_sql`])
//! and calls [`first_time`] inside the transaction that applies the event: the id and the
//! effects commit together, so an event is applied exactly once however often it arrives.

use kassa_db::{DbError, Tx};
use kassa_kernel::Timestamp;

use crate::EventId;

/// The inbox table's DDL for `table` (the same on SQLite and PostgreSQL).
pub fn inbox_table_sql(table: &str) -> String {
    format!(
        "CREATE TABLE {table} (
    event_id TEXT PRIMARY KEY,
    processed_at_ms BIGINT NOT NULL
);"
    )
}

/// Records `event` in `table` within `tx`; `true` the first time, `false` when it was already
/// there (apply nothing then).
pub async fn first_time(
    tx: &mut Tx,
    table: &'static str,
    event: EventId,
    now: Timestamp,
) -> Result<bool, DbError> {
    let sql = format!(
        "INSERT INTO {table} (event_id, processed_at_ms) VALUES ($1, $2) \
         ON CONFLICT (event_id) DO NOTHING"
    );
    let done = kassa_db::query(&sql)
        .bind(event.to_string())
        .bind(now.millis())
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}
