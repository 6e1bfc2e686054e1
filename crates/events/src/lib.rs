//! Events: past-tense facts a district records about its own changes (DESIGN §7).
//!
//! Each district owns an outbox table of the same shape (`<district>_outbox`, created by the
//! district's own migration from [`outbox_table_sql`]) and appends its events with [`append`]
//! inside the SAME transaction as the change they describe (transactional outbox), so an event
//! exists exactly when its change committed. They are listed by [`list`], and a [`Relay`]
//! publishes each outbox to a [`Bus`] in recording order, at least once; consumers apply each
//! event once by recording its id in their own [`inbox`] in the transaction that applies it.
//!
//! An event: a UUIDv7 id (`evt_…`), a stable type name (`inventory.reserved`), a version, the
//! aggregate it is about, when it happened (from the district's Clock) and its data as JSON.

pub mod bus;
pub mod inbox;
pub mod relay;

pub use bus::{Bus, BusError, Consumer, InProcessBus};
pub use relay::{Relay, RelayError, RelayFaults, RelayPass};

use kassa_db::{row, Db, DbError, Sql, Tx};
use kassa_kernel::Timestamp;

kassa_kernel::typed_id!(
    /// One recorded event.
    EventId, "evt"
);

/// An event about to be recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Stable, past tense, `<district>.<fact>`: e.g. `inventory.reserved`.
    pub event_type: &'static str,
    /// Bumped only for a breaking change of `data` (which then is a new event in effect).
    pub version: u32,
    /// The id of the aggregate the event is about (a SKU, an order id, …).
    pub aggregate_id: String,
    pub occurred_at: Timestamp,
    pub data: serde_json::Value,
}

impl NewEvent {
    /// Version 1 of `event_type` about `aggregate_id`, at `occurred_at`.
    pub fn v1(
        event_type: &'static str,
        aggregate_id: String,
        occurred_at: Timestamp,
        data: serde_json::Value,
    ) -> NewEvent {
        NewEvent {
            event_type,
            version: 1,
            aggregate_id,
            occurred_at,
            data,
        }
    }
}

/// An event as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: EventId,
    pub event_type: String,
    pub version: u32,
    pub aggregate_id: String,
    pub occurred_at: Timestamp,
    pub data: serde_json::Value,
    /// When a relay published it; `None` until then.
    pub published_at: Option<Timestamp>,
}

/// The outbox table's DDL for `table` (the same on SQLite and PostgreSQL). A district's
/// migration writes this statement out literally; the store tests check it matches.
pub fn outbox_table_sql(table: &str) -> String {
    format!(
        "CREATE TABLE {table} (
    id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    version BIGINT NOT NULL CHECK (version >= 1),
    aggregate_id TEXT NOT NULL,
    occurred_at_ms BIGINT NOT NULL,
    data TEXT NOT NULL,
    published_at_ms BIGINT
);
CREATE INDEX {table}_unpublished ON {table} (published_at_ms, id);"
    )
}

/// Appends `events` to `table` inside the caller's transaction.
pub async fn append(tx: &mut Tx, table: &'static str, events: &[NewEvent]) -> Result<(), DbError> {
    for event in events {
        let sql = format!(
            "INSERT INTO {table} (id, event_type, version, aggregate_id, occurred_at_ms, data) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        );
        kassa_db::query(&sql)
            .bind(EventId::new().to_string())
            .bind(event.event_type)
            .bind(i64::from(event.version))
            .bind(event.aggregate_id.as_str())
            .bind(event.occurred_at.millis())
            .bind(event.data.to_string())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The columns every event read selects, in the order [`event_from_row`] reads them.
const EVENT_COLUMNS: &str =
    "id, event_type, version, aggregate_id, occurred_at_ms, data, published_at_ms";

/// Events of `table` in recording order (ids are time-ordered), after `after`, at most `limit`.
pub async fn list(
    db: &Db,
    table: &'static str,
    after: Option<EventId>,
    limit: u32,
) -> Result<Vec<Event>, DbError> {
    let mut sql = Sql::new(&format!("SELECT {EVENT_COLUMNS} FROM {table}"));
    if let Some(after) = after {
        sql.push(" WHERE id > ").bind(after.to_string());
    }
    sql.push(" ORDER BY id LIMIT ").bind(i64::from(limit));
    let rows = sql.build()?.fetch_all(db.reader()).await?;
    rows.iter().map(event_from_row).collect()
}

/// Events of `table` not published yet, in recording order, at most `limit`.
pub async fn unpublished(db: &Db, table: &'static str, limit: u32) -> Result<Vec<Event>, DbError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM {table} WHERE published_at_ms IS NULL ORDER BY id LIMIT $1"
    );
    let rows = kassa_db::query(&sql)
        .bind(i64::from(limit))
        .fetch_all(db.reader())
        .await?;
    rows.iter().map(event_from_row).collect()
}

/// When the oldest event of `table` not yet published happened; `None` when every event is
/// published. `now` minus this is the outbox's lag, the age of what consumers have not seen.
pub async fn oldest_unpublished_at(
    db: &Db,
    table: &'static str,
) -> Result<Option<Timestamp>, DbError> {
    let sql = format!("SELECT MIN(occurred_at_ms) FROM {table} WHERE published_at_ms IS NULL");
    let oldest: Option<i64> = kassa_db::query_scalar(&sql).fetch_one(db.reader()).await?;
    Ok(oldest.map(Timestamp::from_millis))
}

/// Records that `events` of `table` were published at `at`, in one transaction.
pub async fn mark_published(
    db: &Db,
    table: &'static str,
    events: &[EventId],
    at: Timestamp,
) -> Result<(), DbError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut sql = Sql::new(&format!("UPDATE {table} SET published_at_ms = "));
    sql.bind(at.millis())
        .push(" WHERE published_at_ms IS NULL AND id IN (");
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(event.to_string());
    }
    sql.push(")");
    let mut tx = db.begin().await?;
    sql.build()?.execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes up to `limit` events of `table` published before `before` (the outbox's retention);
/// unpublished events are never deleted. Returns how many went.
pub async fn prune(
    db: &Db,
    table: &'static str,
    before: Timestamp,
    limit: u32,
) -> Result<u64, DbError> {
    let sql = format!(
        "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} \
         WHERE published_at_ms IS NOT NULL AND published_at_ms < $1 ORDER BY id LIMIT $2)"
    );
    let mut tx = db.begin().await?;
    let done = kassa_db::query(&sql)
        .bind(before.millis())
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

fn event_from_row(r: &sqlx::any::AnyRow) -> Result<Event, DbError> {
    let data: String = row::text(r, "data")?;
    let version = u32::try_from(row::int(r, "version")?)
        .map_err(|_| DbError::Corrupt("event version out of range".into()))?;
    Ok(Event {
        id: row::parse(r, "id")?,
        event_type: row::text(r, "event_type")?,
        version,
        aggregate_id: row::text(r, "aggregate_id")?,
        occurred_at: Timestamp::from_millis(row::int(r, "occurred_at_ms")?),
        data: serde_json::from_str(&data)
            .map_err(|err| DbError::Corrupt(format!("event data: {err}")))?,
        published_at: sqlx::Row::try_get::<Option<i64>, _>(r, "published_at_ms")?
            .map(Timestamp::from_millis),
    })
}
