//! Every SQL statement of the notifications district.
//!
//! The SQL is the common dialect of SQLite and PostgreSQL (`$n` markers, `ON CONFLICT`,
//! `RETURNING`, no server clock). A sender owns a message only through its lease: claiming is a
//! conditional `UPDATE … RETURNING` whose `WHERE` repeats the "queued and due" condition of its
//! subquery, so of two senders racing for one row only one updates it (on PostgreSQL the loser
//! re-checks the row after the winner's commit and finds it no longer due); every later write
//! names the lease (`AND lease_id = $n`), so a sender whose lease lapsed and was taken over
//! changes nothing.

use kassa_db::{row, Db, DbError, Sql};
use kassa_events::inbox::first_time;
use kassa_events::EventId;
use kassa_kernel::ids::OrderId;
use kassa_kernel::{Email, Timestamp};
use sqlx::any::AnyRow;

use crate::consumer::INBOX_TABLE;
use crate::migrations::MIGRATIONS;
use crate::model::{Message, MessageId, MessageKind, MessageStatus, StatusCounts};

/// The columns every message read selects, as [`message_from_row`] reads them.
const MESSAGE_COLUMNS: &str = "id, event_id, order_id, kind, to_address, subject, text_body, \
     html_body, status, transport, attempts, next_attempt_at_ms, last_error, created_at_ms, \
     sent_at_ms";

/// The longest `last_error` kept: enough for an SMTP reply line or two, and a relay that answers
/// with pages of text cannot bloat the table.
pub const LAST_ERROR_LEN_MAX: usize = 500;

/// A rendered email about to be queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub id: MessageId,
    pub event_id: EventId,
    pub order_id: OrderId,
    pub kind: MessageKind,
    pub to: Email,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
}

/// The notifications tables, reached through the district's own [`Db`].
#[derive(Clone)]
pub struct NotifyStore {
    db: Db,
}

impl NotifyStore {
    pub fn new(db: Db) -> Self {
        NotifyStore { db }
    }

    /// Applies the district's migrations that have not run yet.
    pub async fn migrate(&self) -> Result<(), DbError> {
        self.db.migrate(MIGRATIONS).await
    }

    /// Records `event` in the inbox and queues `message`, due at `now`, in one transaction.
    /// `false` (nothing written) when the event was applied before.
    pub async fn queue(
        &self,
        event: EventId,
        now: Timestamp,
        message: &NewMessage,
    ) -> Result<bool, DbError> {
        let mut tx = self.db.begin().await?;
        if !first_time(&mut tx, INBOX_TABLE, event, now).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        // The UNIQUE (event_id, kind) backs the inbox: should an event id ever be forgotten by
        // the inbox, it still queues one message of each kind.
        let done = kassa_db::query(
            "INSERT INTO notification_messages (id, event_id, order_id, kind, to_address, \
             subject, text_body, html_body, status, attempts, next_attempt_at_ms, \
             created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', 0, $9, $10) \
             ON CONFLICT (event_id, kind) DO NOTHING",
        )
        .bind(message.id.to_string())
        .bind(message.event_id.to_string())
        .bind(message.order_id.to_string())
        .bind(message.kind.as_str())
        .bind(message.to.as_str().to_owned())
        .bind(message.subject.clone())
        .bind(message.text_body.clone())
        .bind(message.html_body.clone())
        .bind(now.millis())
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Takes the queued message due longest ago at `now` (oldest first among equals) for the
    /// lease `lease_id` until `lease_until`, counting the attempt it starts. `None` when no
    /// message is due, or a racing sender took the one this statement chose.
    pub async fn claim_due(
        &self,
        now: Timestamp,
        lease_id: &str,
        lease_until: Timestamp,
    ) -> Result<Option<Message>, DbError> {
        let sql = format!(
            "UPDATE notification_messages \
             SET lease_id = $1, next_attempt_at_ms = $2, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM notification_messages \
                 WHERE status = 'queued' AND next_attempt_at_ms <= $3 \
                 ORDER BY next_attempt_at_ms, id LIMIT 1) \
             AND status = 'queued' AND next_attempt_at_ms <= $4 \
             RETURNING {MESSAGE_COLUMNS}"
        );
        let mut tx = self.db.begin().await?;
        let row = kassa_db::query(&sql)
            .bind(lease_id.to_owned())
            .bind(lease_until.millis())
            .bind(now.millis())
            .bind(now.millis())
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        row.as_ref().map(message_from_row).transpose()
    }

    /// The holder of `lease_id` delivered `id` through `transport` at `at`. `false` if the
    /// lease was lost (another sender took the message over).
    pub async fn mark_sent(
        &self,
        id: MessageId,
        lease_id: &str,
        transport: &str,
        at: Timestamp,
    ) -> Result<bool, DbError> {
        let mut sql = Sql::new("UPDATE notification_messages SET status = 'sent', transport = ");
        sql.bind(transport.to_owned())
            .push(", sent_at_ms = ")
            .bind(at.millis())
            .push(", next_attempt_at_ms = NULL, lease_id = NULL");
        self.finish(sql, id, lease_id).await
    }

    /// The holder of `lease_id` failed to deliver `id`; it is due again at `at`.
    pub async fn schedule_retry(
        &self,
        id: MessageId,
        lease_id: &str,
        at: Timestamp,
        error: &str,
    ) -> Result<bool, DbError> {
        let mut sql = Sql::new("UPDATE notification_messages SET next_attempt_at_ms = ");
        sql.bind(at.millis())
            .push(", last_error = ")
            .bind(bounded(error))
            .push(", lease_id = NULL");
        self.finish(sql, id, lease_id).await
    }

    /// The holder of `lease_id` gives `id` up for good.
    pub async fn mark_failed(
        &self,
        id: MessageId,
        lease_id: &str,
        error: &str,
    ) -> Result<bool, DbError> {
        let mut sql = Sql::new("UPDATE notification_messages SET status = 'failed', last_error = ");
        sql.bind(bounded(error))
            .push(", next_attempt_at_ms = NULL, lease_id = NULL");
        self.finish(sql, id, lease_id).await
    }

    /// Runs `sql` (an `UPDATE … SET …`) on `id` if `lease_id` still holds it.
    async fn finish(
        &self,
        mut sql: Sql<'_>,
        id: MessageId,
        lease_id: &str,
    ) -> Result<bool, DbError> {
        sql.push(" WHERE id = ")
            .bind(id.to_string())
            .push(" AND status = 'queued' AND lease_id = ")
            .bind(lease_id.to_owned());
        let mut tx = self.db.begin().await?;
        let done = sql.build()?.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Messages newest first, those older than `after` when given, at most `limit`.
    pub async fn messages(
        &self,
        after: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<Message>, DbError> {
        let mut sql = Sql::new(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM notification_messages"
        ));
        if let Some(after) = after {
            sql.push(" WHERE id < ").bind(after.to_string());
        }
        sql.push(" ORDER BY id DESC LIMIT ").bind(i64::from(limit));
        let rows = sql.build()?.fetch_all(self.db.reader()).await?;
        rows.iter().map(message_from_row).collect()
    }

    pub async fn message(&self, id: MessageId) -> Result<Option<Message>, DbError> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM notification_messages WHERE id = $1");
        let row = kassa_db::query(&sql)
            .bind(id.to_string())
            .fetch_optional(self.db.reader())
            .await?;
        row.as_ref().map(message_from_row).transpose()
    }

    pub async fn counts(&self) -> Result<StatusCounts, DbError> {
        let rows = kassa_db::query(
            "SELECT status, COUNT(*) AS n FROM notification_messages GROUP BY status",
        )
        .fetch_all(self.db.reader())
        .await?;
        let mut counts = StatusCounts::default();
        for r in &rows {
            let status: MessageStatus = row::parse(r, "status")?;
            let n = u64::try_from(row::int(r, "n")?)
                .map_err(|_| DbError::Corrupt("negative message count".into()))?;
            match status {
                MessageStatus::Queued => counts.queued = n,
                MessageStatus::Sent => counts.sent = n,
                MessageStatus::Failed => counts.failed = n,
            }
        }
        Ok(counts)
    }
}

/// `error` cut to [`LAST_ERROR_LEN_MAX`] characters.
fn bounded(error: &str) -> String {
    error.chars().take(LAST_ERROR_LEN_MAX).collect()
}

fn timestamp_opt(r: &AnyRow, column: &str) -> Result<Option<Timestamp>, DbError> {
    Ok(sqlx::Row::try_get::<Option<i64>, _>(r, column)?.map(Timestamp::from_millis))
}

fn message_from_row(r: &AnyRow) -> Result<Message, DbError> {
    let to = row::text(r, "to_address")?;
    let attempts = row::int(r, "attempts")?;
    Ok(Message {
        id: row::parse(r, "id")?,
        event_id: row::parse(r, "event_id")?,
        order_id: row::parse(r, "order_id")?,
        kind: row::parse(r, "kind")?,
        to: Email::parse(&to)
            .map_err(|err| DbError::Corrupt(format!("column to_address: {err}")))?,
        subject: row::text(r, "subject")?,
        text_body: row::text(r, "text_body")?,
        html_body: row::text(r, "html_body")?,
        status: row::parse(r, "status")?,
        transport: row::text_opt(r, "transport")?,
        attempts: u32::try_from(attempts)
            .map_err(|_| DbError::Corrupt(format!("column attempts: {attempts}")))?,
        next_attempt_at: timestamp_opt(r, "next_attempt_at_ms")?,
        last_error: row::text_opt(r, "last_error")?,
        created_at: Timestamp::from_millis(row::int(r, "created_at_ms")?),
        sent_at: timestamp_opt(r, "sent_at_ms")?,
    })
}
