//! Every SQL statement of the webhooks district, over its own [`Db`].
//!
//! Tables: `webhook_endpoints`, `webhook_deliveries` (one per endpoint and event, unique on the
//! pair), `webhook_attempts` (one per HTTP attempt) and the consumer inbox `webhooks_inbox`. The
//! SQL is the common dialect of SQLite and PostgreSQL. Sending is guarded by a lease taken with
//! one conditional `UPDATE … RETURNING` whose condition (due, not leased) is repeated outside
//! the sub-select that picks the rows, so of two nodes claiming at once only one gets a given
//! delivery, and an attempt's outcome is written only by the holder of its lease.

use std::collections::HashMap;

use kassa_db::{row, Conn, Db, DbError, Sql};
use kassa_events::{inbox, Event};
use kassa_kernel::Timestamp;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::migrations::MIGRATIONS;
use crate::model::{
    Attempt, Delivery, DeliveryCounts, DeliveryDetail, DeliveryId, DeliveryStatus, Description,
    Endpoint, EventTypes, SigningSecret, WebhookId, WebhookUrl,
};

/// The consumer's inbox: the events it has fanned out.
pub const INBOX_TABLE: &str = "webhooks_inbox";

/// The most attempts [`WebhookStore::delivery`] returns: the newest ones. A schedule has at most
/// `max_attempts` (10 by default); only many replays of one delivery come near this.
pub const ATTEMPTS_SHOWN_MAX: u32 = 100;

const ENDPOINT_COLUMNS: &str = "id, url, event_types, description, enabled, \
     previous_secret_expires_at_ms, created_at_ms, updated_at_ms";

const DELIVERY_COLUMNS: &str = "id, endpoint_id, event_id, event_type, body, status, \
     attempt_count, schedule_attempts, next_attempt_at_ms, created_at_ms, updated_at_ms";

/// Where and with what a claimed delivery is sent: its endpoint's url and signing secrets.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: WebhookUrl,
    pub secret: SigningSecret,
    /// The rotated-out secret and when it stops signing.
    pub previous: Option<(SigningSecret, Timestamp)>,
}

/// A delivery this node holds the lease of.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery: Delivery,
    /// Attempts since the last replay: the retry schedule's position.
    pub schedule_attempts: u32,
}

/// What one attempt changes: its row, and the delivery's state after it.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    /// `number` is ignored: the store numbers attempts.
    pub attempt: Attempt,
    pub status: DeliveryStatus,
    pub schedule_attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
}

/// The deliveries of one endpoint to list: newest first, optionally of one status, after a
/// cursor (older than that delivery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub after: Option<DeliveryId>,
    pub limit: u32,
}

/// A new endpoint's row.
#[derive(Debug, Clone)]
pub struct NewEndpointRow<'a> {
    pub id: WebhookId,
    pub url: &'a WebhookUrl,
    pub event_types: &'a EventTypes,
    pub description: &'a Description,
    pub secret: &'a SigningSecret,
    pub now: Timestamp,
}

/// The fields a change sets; `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct EndpointChanges<'a> {
    pub url: Option<&'a WebhookUrl>,
    pub event_types: Option<&'a EventTypes>,
    pub description: Option<&'a Description>,
    pub enabled: Option<bool>,
}

/// The webhooks district's tables.
#[derive(Clone)]
pub struct WebhookStore {
    db: Db,
}

impl WebhookStore {
    pub fn new(db: Db) -> WebhookStore {
        WebhookStore { db }
    }

    /// Applies the district's migrations that have not run yet.
    pub async fn migrate(&self) -> Result<(), DbError> {
        self.db.migrate(MIGRATIONS).await
    }

    // ---- endpoints ------------------------------------------------------------------------

    /// Inserts the endpoint unless `max` endpoints exist already (`false` then). Counted in the
    /// inserting transaction; two registrations racing on PostgreSQL may both see `max - 1`,
    /// which is harmless for a limit that only bounds fan-out work.
    pub async fn insert_endpoint(
        &self,
        new: &NewEndpointRow<'_>,
        max: usize,
    ) -> Result<bool, DbError> {
        let mut tx = self.db.begin().await?;
        let count: i64 = kassa_db::query_scalar("SELECT COUNT(*) FROM webhook_endpoints")
            .fetch_one(&mut *tx)
            .await?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= max {
            return Ok(false);
        }
        kassa_db::query(
            "INSERT INTO webhook_endpoints (id, url, event_types, description, enabled, secret, \
             created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, 1, $5, $6, $6)",
        )
        .bind(new.id.to_string())
        .bind(new.url.as_str().to_owned())
        .bind(event_types_json(new.event_types))
        .bind(new.description.as_str().to_owned())
        .bind(new.secret.expose().to_owned())
        .bind(new.now.millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Every endpoint, oldest first.
    pub async fn endpoints(&self) -> Result<Vec<Endpoint>, DbError> {
        let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY id");
        let rows = kassa_db::query(&sql).fetch_all(self.db.reader()).await?;
        rows.iter().map(endpoint_from_row).collect()
    }

    pub async fn endpoint(&self, id: WebhookId) -> Result<Option<Endpoint>, DbError> {
        let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1");
        let row = kassa_db::query(&sql)
            .bind(id.to_string())
            .fetch_optional(self.db.reader())
            .await?;
        row.as_ref().map(endpoint_from_row).transpose()
    }

    /// Applies `changes`; `None` when there is no such endpoint.
    pub async fn update_endpoint(
        &self,
        id: WebhookId,
        changes: &EndpointChanges<'_>,
        now: Timestamp,
    ) -> Result<Option<Endpoint>, DbError> {
        let mut sql = Sql::new("UPDATE webhook_endpoints SET updated_at_ms = ");
        sql.bind(now.millis());
        if let Some(url) = changes.url {
            sql.push(", url = ").bind(url.as_str().to_owned());
        }
        if let Some(event_types) = changes.event_types {
            sql.push(", event_types = ")
                .bind(event_types_json(event_types));
        }
        if let Some(description) = changes.description {
            sql.push(", description = ")
                .bind(description.as_str().to_owned());
        }
        if let Some(enabled) = changes.enabled {
            sql.push(", enabled = ").bind(i64::from(enabled));
        }
        sql.push(" WHERE id = ").bind(id.to_string());
        sql.push(&format!(" RETURNING {ENDPOINT_COLUMNS}"));
        let mut tx = self.db.begin().await?;
        let row = sql.build()?.fetch_optional(&mut *tx).await?;
        let endpoint = row.as_ref().map(endpoint_from_row).transpose()?;
        tx.commit().await?;
        Ok(endpoint)
    }

    /// Deletes the endpoint with its deliveries and their attempts; `false` when there was
    /// none.
    pub async fn delete_endpoint(&self, id: WebhookId) -> Result<bool, DbError> {
        let mut tx = self.db.begin().await?;
        let done = kassa_db::query("DELETE FROM webhook_endpoints WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Makes `secret` the endpoint's secret. The one it replaces keeps signing until
    /// `previous_until`, unless that is not after `now` (then it is dropped at once). A secret
    /// rotated out earlier and still valid is dropped: only the latest rotated-out one signs.
    pub async fn rotate_secret(
        &self,
        id: WebhookId,
        secret: &SigningSecret,
        previous_until: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Endpoint>, DbError> {
        let mut sql = Sql::new("UPDATE webhook_endpoints SET ");
        if previous_until > now {
            sql.push("previous_secret = secret, previous_secret_expires_at_ms = ")
                .bind(previous_until.millis());
        } else {
            sql.push("previous_secret = NULL, previous_secret_expires_at_ms = NULL");
        }
        sql.push(", secret = ").bind(secret.expose().to_owned());
        sql.push(", updated_at_ms = ").bind(now.millis());
        sql.push(" WHERE id = ").bind(id.to_string());
        sql.push(&format!(" RETURNING {ENDPOINT_COLUMNS}"));
        let mut tx = self.db.begin().await?;
        let row = sql.build()?.fetch_optional(&mut *tx).await?;
        let endpoint = row.as_ref().map(endpoint_from_row).transpose()?;
        tx.commit().await?;
        Ok(endpoint)
    }

    /// The url and secrets of each endpoint in `ids` that still exists.
    pub async fn targets(&self, ids: &[WebhookId]) -> Result<HashMap<WebhookId, Target>, DbError> {
        let mut targets = HashMap::new();
        if ids.is_empty() {
            return Ok(targets);
        }
        let mut sql = Sql::new(
            "SELECT id, url, secret, previous_secret, previous_secret_expires_at_ms \
             FROM webhook_endpoints WHERE id IN (",
        );
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(id.to_string());
        }
        sql.push(")");
        let rows = sql.build()?.fetch_all(self.db.reader()).await?;
        for r in &rows {
            let previous = match (
                row::text_opt(r, "previous_secret")?,
                r.try_get::<Option<i64>, _>("previous_secret_expires_at_ms")?,
            ) {
                (Some(secret), Some(until)) => Some((
                    SigningSecret::from_stored(secret),
                    Timestamp::from_millis(until),
                )),
                _ => None,
            };
            targets.insert(
                row::parse(r, "id")?,
                Target {
                    url: url_from_row(r)?,
                    secret: SigningSecret::from_stored(row::text(r, "secret")?),
                    previous,
                },
            );
        }
        Ok(targets)
    }

    // ---- fan-out --------------------------------------------------------------------------

    /// Whether any enabled endpoint subscribes to `event_type`: read before the fan-out's
    /// write, so the many events nobody subscribes to cost one read and no write.
    pub async fn any_subscriber(&self, event_type: &str) -> Result<bool, DbError> {
        let rows = kassa_db::query("SELECT event_types FROM webhook_endpoints WHERE enabled = 1")
            .fetch_all(self.db.reader())
            .await?;
        for r in &rows {
            if event_types_from_row(r)?.matches(event_type) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// In one transaction: records `event` in the inbox and, the first time only, one pending
    /// delivery due at `now` with `body` for every enabled endpoint subscribed to it. Returns
    /// how many deliveries it added.
    pub async fn fan_out(
        &self,
        event: &Event,
        body: &str,
        now: Timestamp,
    ) -> Result<usize, DbError> {
        let mut tx = self.db.begin().await?;
        if !inbox::first_time(&mut tx, INBOX_TABLE, event.id, now).await? {
            return Ok(0);
        }
        let rows = kassa_db::query(
            "SELECT id, event_types FROM webhook_endpoints WHERE enabled = 1 ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut added = 0;
        for r in &rows {
            if !event_types_from_row(r)?.matches(&event.event_type) {
                continue;
            }
            let endpoint: WebhookId = row::parse(r, "id")?;
            let done = kassa_db::query(
                "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, body, \
                 status, attempt_count, schedule_attempts, next_attempt_at_ms, created_at_ms, \
                 updated_at_ms) VALUES ($1, $2, $3, $4, $5, 'pending', 0, 0, $6, $6, $6) \
                 ON CONFLICT (endpoint_id, event_id) DO NOTHING",
            )
            .bind(DeliveryId::new().to_string())
            .bind(endpoint.to_string())
            .bind(event.id.to_string())
            .bind(event.event_type.clone())
            .bind(body.to_owned())
            .bind(now.millis())
            .execute(&mut *tx)
            .await?;
            added += usize::try_from(done.rows_affected()).unwrap_or(0);
        }
        tx.commit().await?;
        Ok(added)
    }

    // ---- sending --------------------------------------------------------------------------

    /// Whether some delivery of an enabled endpoint is due at `now` and not leased: read
    /// before claiming, so an idle dispatcher does not write.
    pub async fn due_exists(&self, now: Timestamp) -> Result<bool, DbError> {
        let row = kassa_db::query(
            "SELECT d.id FROM webhook_deliveries d \
             JOIN webhook_endpoints e ON e.id = d.endpoint_id \
             WHERE d.status IN ('pending', 'retrying') AND d.next_attempt_at_ms <= $1 \
             AND (d.lease_until_ms IS NULL OR d.lease_until_ms <= $1) AND e.enabled = 1 \
             LIMIT 1",
        )
        .bind(now.millis())
        .fetch_optional(self.db.reader())
        .await?;
        Ok(row.is_some())
    }

    /// Leases up to `limit` deliveries due at `now` (oldest due first) to `lease_id` until
    /// `lease_until`. The due-and-free condition is repeated in the outer `WHERE`: a racing
    /// claimer that picked the same rows updates none of them.
    pub async fn claim_due(
        &self,
        now: Timestamp,
        lease_id: &str,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Claimed>, DbError> {
        let sql = format!(
            "UPDATE webhook_deliveries SET lease_id = $1, lease_until_ms = $2 \
             WHERE id IN (SELECT d.id FROM webhook_deliveries d \
                 JOIN webhook_endpoints e ON e.id = d.endpoint_id \
                 WHERE d.status IN ('pending', 'retrying') AND d.next_attempt_at_ms <= $3 \
                 AND (d.lease_until_ms IS NULL OR d.lease_until_ms <= $3) AND e.enabled = 1 \
                 ORDER BY d.next_attempt_at_ms, d.id LIMIT $4) \
             AND status IN ('pending', 'retrying') AND next_attempt_at_ms <= $3 \
             AND (lease_until_ms IS NULL OR lease_until_ms <= $3) \
             RETURNING {DELIVERY_COLUMNS}"
        );
        let mut tx = self.db.begin().await?;
        let rows = kassa_db::query(&sql)
            .bind(lease_id.to_owned())
            .bind(lease_until.millis())
            .bind(now.millis())
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        let claimed = rows
            .iter()
            .map(|r| {
                Ok(Claimed {
                    delivery: delivery_from_row(r)?,
                    schedule_attempts: count(r, "schedule_attempts")?,
                })
            })
            .collect::<Result<Vec<_>, DbError>>()?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records one attempt of `delivery` and its new state, and gives up the lease — if
    /// `lease_id` still holds it (else nothing is written and `None` is returned). Returns the
    /// attempt's number.
    pub async fn record_attempt(
        &self,
        delivery: DeliveryId,
        lease_id: &str,
        record: &AttemptRecord,
    ) -> Result<Option<u32>, DbError> {
        let mut tx = self.db.begin().await?;
        let number: Option<i64> = kassa_db::query_scalar(
            "UPDATE webhook_deliveries SET status = $1, attempt_count = attempt_count + 1, \
             schedule_attempts = $2, next_attempt_at_ms = $3, lease_id = NULL, \
             lease_until_ms = NULL, updated_at_ms = $4 \
             WHERE id = $5 AND lease_id = $6 RETURNING attempt_count",
        )
        .bind(record.status.as_str())
        .bind(i64::from(record.schedule_attempts))
        .bind(record.next_attempt_at.map(|t| t.millis()))
        .bind(record.attempt.attempted_at.millis())
        .bind(delivery.to_string())
        .bind(lease_id.to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(number) = number else {
            return Ok(None);
        };
        let attempt = &record.attempt;
        kassa_db::query(
            "INSERT INTO webhook_attempts (delivery_id, number, attempted_at_ms, duration_ms, \
             status_code, error, response_body, response_body_truncated) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(delivery.to_string())
        .bind(number)
        .bind(attempt.attempted_at.millis())
        .bind(i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX))
        .bind(attempt.status_code.map(i64::from))
        .bind(attempt.error.clone())
        .bind(attempt.response_body.clone())
        .bind(i64::from(attempt.response_body_truncated))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(u32::try_from(number).unwrap_or(u32::MAX)))
    }

    // ---- reading and replaying ------------------------------------------------------------

    /// One page of `endpoint`'s deliveries, newest first.
    pub async fn deliveries(
        &self,
        endpoint: WebhookId,
        filter: DeliveryFilter,
    ) -> Result<Vec<Delivery>, DbError> {
        let mut sql = Sql::new(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = "
        ));
        sql.bind(endpoint.to_string());
        if let Some(status) = filter.status {
            sql.push(" AND status = ").bind(status.as_str());
        }
        if let Some(after) = filter.after {
            sql.push(" AND id < ").bind(after.to_string());
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .bind(i64::from(filter.limit));
        let rows = sql.build()?.fetch_all(self.db.reader()).await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// A delivery with its newest [`ATTEMPTS_SHOWN_MAX`] attempts, oldest first.
    pub async fn delivery(&self, id: DeliveryId) -> Result<Option<DeliveryDetail>, DbError> {
        let mut conn = self.db.reader().acquire().await?;
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1");
        let Some(row) = kassa_db::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&mut conn)
            .await?
        else {
            return Ok(None);
        };
        let delivery = delivery_from_row(&row)?;
        let attempts = attempts(&mut conn, id).await?;
        Ok(Some(DeliveryDetail { delivery, attempts }))
    }

    /// Makes the delivery pending and due at `now` with a fresh schedule; its attempts stay.
    pub async fn replay(
        &self,
        id: DeliveryId,
        now: Timestamp,
    ) -> Result<Option<Delivery>, DbError> {
        let sql = format!(
            "UPDATE webhook_deliveries SET status = 'pending', schedule_attempts = 0, \
             next_attempt_at_ms = $1, updated_at_ms = $1 WHERE id = $2 \
             RETURNING {DELIVERY_COLUMNS}"
        );
        let mut tx = self.db.begin().await?;
        let row = kassa_db::query(&sql)
            .bind(now.millis())
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let delivery = row.as_ref().map(delivery_from_row).transpose()?;
        tx.commit().await?;
        Ok(delivery)
    }

    /// Deliveries per status, over every endpoint.
    pub async fn counts(&self) -> Result<DeliveryCounts, DbError> {
        let rows =
            kassa_db::query("SELECT status, COUNT(*) AS n FROM webhook_deliveries GROUP BY status")
                .fetch_all(self.db.reader())
                .await?;
        let mut counts = DeliveryCounts::default();
        for r in &rows {
            let n = u64::try_from(row::int(r, "n")?).unwrap_or(0);
            match row::parse::<DeliveryStatus>(r, "status")? {
                DeliveryStatus::Pending => counts.pending = n,
                DeliveryStatus::Retrying => counts.retrying = n,
                DeliveryStatus::Succeeded => counts.succeeded = n,
                DeliveryStatus::Dead => counts.dead = n,
            }
        }
        Ok(counts)
    }
}

async fn attempts(conn: &mut Conn, id: DeliveryId) -> Result<Vec<Attempt>, DbError> {
    let rows = kassa_db::query(
        "SELECT number, attempted_at_ms, duration_ms, status_code, error, response_body, \
         response_body_truncated FROM webhook_attempts WHERE delivery_id = $1 \
         ORDER BY number DESC LIMIT $2",
    )
    .bind(id.to_string())
    .bind(i64::from(ATTEMPTS_SHOWN_MAX))
    .fetch_all(&mut *conn)
    .await?;
    let mut attempts = rows
        .iter()
        .map(attempt_from_row)
        .collect::<Result<Vec<_>, DbError>>()?;
    attempts.reverse();
    Ok(attempts)
}

fn event_types_json(event_types: &EventTypes) -> String {
    serde_json::Value::from(event_types.to_strings()).to_string()
}

fn event_types_from_row(r: &AnyRow) -> Result<EventTypes, DbError> {
    let text = row::text(r, "event_types")?;
    let list: Vec<String> = serde_json::from_str(&text)
        .map_err(|err| DbError::Corrupt(format!("column event_types: {err}")))?;
    Ok(EventTypes::from_stored(&list))
}

fn url_from_row(r: &AnyRow) -> Result<WebhookUrl, DbError> {
    WebhookUrl::parse(&row::text(r, "url")?)
        .map_err(|err| DbError::Corrupt(format!("column url: {err}")))
}

fn timestamp(r: &AnyRow, column: &str) -> Result<Timestamp, DbError> {
    Ok(Timestamp::from_millis(row::int(r, column)?))
}

fn timestamp_opt(r: &AnyRow, column: &str) -> Result<Option<Timestamp>, DbError> {
    Ok(r.try_get::<Option<i64>, _>(column)?
        .map(Timestamp::from_millis))
}

fn count(r: &AnyRow, column: &str) -> Result<u32, DbError> {
    let value = row::int(r, column)?;
    u32::try_from(value).map_err(|_| DbError::Corrupt(format!("column {column}: {value}")))
}

fn flag(r: &AnyRow, column: &str) -> Result<bool, DbError> {
    match row::int(r, column)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(DbError::Corrupt(format!("column {column}: {other}"))),
    }
}

fn endpoint_from_row(r: &AnyRow) -> Result<Endpoint, DbError> {
    Ok(Endpoint {
        id: row::parse(r, "id")?,
        url: url_from_row(r)?,
        event_types: event_types_from_row(r)?,
        description: Description::from_stored(row::text(r, "description")?),
        enabled: flag(r, "enabled")?,
        previous_secret_expires_at: timestamp_opt(r, "previous_secret_expires_at_ms")?,
        created_at: timestamp(r, "created_at_ms")?,
        updated_at: timestamp(r, "updated_at_ms")?,
    })
}

/// Checks the status and due time agree on the way out, as the table's CHECK does on the way
/// in.
fn delivery_from_row(r: &AnyRow) -> Result<Delivery, DbError> {
    let delivery = Delivery {
        id: row::parse(r, "id")?,
        endpoint_id: row::parse(r, "endpoint_id")?,
        event_id: row::parse(r, "event_id")?,
        event_type: row::text(r, "event_type")?,
        body: row::text(r, "body")?,
        status: row::parse(r, "status")?,
        attempt_count: count(r, "attempt_count")?,
        next_attempt_at: timestamp_opt(r, "next_attempt_at_ms")?,
        created_at: timestamp(r, "created_at_ms")?,
        updated_at: timestamp(r, "updated_at_ms")?,
    };
    if delivery.status.is_open() != delivery.next_attempt_at.is_some() {
        return Err(DbError::Corrupt(format!(
            "delivery {} is {} with next attempt {:?}",
            delivery.id, delivery.status, delivery.next_attempt_at
        )));
    }
    Ok(delivery)
}

fn attempt_from_row(r: &AnyRow) -> Result<Attempt, DbError> {
    let status_code = r
        .try_get::<Option<i64>, _>("status_code")?
        .map(|code| {
            u16::try_from(code).map_err(|_| DbError::Corrupt(format!("column status_code: {code}")))
        })
        .transpose()?;
    Ok(Attempt {
        number: count(r, "number")?,
        attempted_at: timestamp(r, "attempted_at_ms")?,
        duration_ms: u64::try_from(row::int(r, "duration_ms")?).unwrap_or(0),
        status_code,
        error: row::text_opt(r, "error")?,
        response_body: row::text(r, "response_body")?,
        response_body_truncated: flag(r, "response_body_truncated")?,
    })
}
