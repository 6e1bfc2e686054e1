//! Every SQL statement of the idempotency district, on its one table `idempotency_keys`.
//!
//! The SQL is the common dialect of SQLite and PostgreSQL (`$n` markers, `ON CONFLICT … DO
//! UPDATE … WHERE`, `RETURNING`, no server clock); nothing branches on the dialect. Who gets to
//! run a request is decided by one conditional upsert on the primary key ([`IdempotencyStore::
//! claim`]), never by a lock in this process, so several server processes sharing the database
//! agree. Completing and releasing name the claim's `lease_id`, so a request whose lease was
//! taken over cannot overwrite or delete the new claim.
//!
//! Values cross the boundary as TEXT (scope, key, fingerprint, state, lease id, headers as a
//! JSON array of `[name, value]` pairs), BIGINT (status, milliseconds) and BLOB/BYTEA (the
//! body); the row function at the end turns them back and reports anything that does not
//! parse as corrupt data.

use kassa_db::{row, Db, DbError};
use kassa_kernel::Timestamp;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::migrations::MIGRATIONS;
use crate::model::{Fingerprint, IdempotencyKey, Lease, RecordState, Scope, StoredResponse};

/// The idempotency table, reached through the district's own [`Db`].
#[derive(Clone)]
pub struct IdempotencyStore {
    db: Db,
}

/// A new claim on (scope, key): what [`IdempotencyStore::claim`] writes if it may.
#[derive(Debug)]
pub struct Claim<'a> {
    pub scope: &'a Scope,
    pub key: &'a IdempotencyKey,
    pub fingerprint: &'a Fingerprint,
    pub lease_id: &'a str,
    /// Now, by the district's clock: records that expired by then count as absent, and
    /// running records whose lease ended by then may be taken over.
    pub now: Timestamp,
    pub lease_until: Timestamp,
    pub expires_at: Timestamp,
}

/// What [`IdempotencyStore::claim`] found.
#[derive(Debug)]
pub enum Claimed {
    /// The claim was written: no live record existed, or it was an expired one, or a running
    /// one of the same fingerprint whose lease had ended.
    Taken,
    /// A live record that the claim may not replace.
    Held(Record),
    /// Neither: the upsert wrote nothing, yet no row was there to read. Cannot happen while
    /// the upsert locks the row it refuses to replace; reported rather than assumed.
    Vanished,
}

/// A stored record, as the service needs it to decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub fingerprint: Fingerprint,
    pub state: RecordState,
    pub lease_until: Timestamp,
    /// `Some` exactly when the state is completed (the table's CHECK holds it).
    pub response: Option<StoredResponse>,
    pub expires_at: Timestamp,
}

const RECORD_COLUMNS: &str = "fingerprint, state, lease_until_ms, response_status, \
                              response_headers, response_body, expires_at_ms";

/// The conditional upsert every claim is. The `WHERE` of `DO UPDATE` is the whole rule for
/// replacing an existing row: it has expired (`$6` is now), or it is running, its lease ended
/// and the fingerprint is the same. Otherwise nothing is written and nothing is returned. On
/// PostgreSQL a racing insert of the same key waits for the first to commit and then sees its
/// row; SQLite has one writer. Either way exactly one of many racing claims gets a row back.
const CLAIM: &str = "INSERT INTO idempotency_keys \
     (scope, key, fingerprint, state, lease_id, lease_until_ms, created_at_ms, expires_at_ms) \
     VALUES ($1, $2, $3, 'running', $4, $5, $6, $7) \
     ON CONFLICT (scope, key) DO UPDATE SET \
         fingerprint = excluded.fingerprint, state = 'running', lease_id = excluded.lease_id, \
         lease_until_ms = excluded.lease_until_ms, response_status = NULL, \
         response_headers = NULL, response_body = NULL, \
         created_at_ms = excluded.created_at_ms, expires_at_ms = excluded.expires_at_ms \
     WHERE idempotency_keys.expires_at_ms <= $6 \
        OR (idempotency_keys.state = 'running' AND idempotency_keys.lease_until_ms <= $6 \
            AND idempotency_keys.fingerprint = excluded.fingerprint) \
     RETURNING lease_id";

impl IdempotencyStore {
    pub fn new(db: Db) -> Self {
        IdempotencyStore { db }
    }

    /// Applies the district's migrations that have not run yet.
    pub async fn migrate(&self) -> Result<(), DbError> {
        self.db.migrate(MIGRATIONS).await
    }

    /// Writes `claim` if no live record stands in its way, else reads the record that does.
    /// One short transaction, committed at once: holding it for the whole request would
    /// serialise every writer on SQLite. On PostgreSQL the upsert locks the conflicting row
    /// even when its `WHERE` is false, so the read that follows sees that very row.
    pub async fn claim(&self, claim: &Claim<'_>) -> Result<Claimed, DbError> {
        let mut tx = self.db.begin().await?;
        let taken = kassa_db::query(CLAIM)
            .bind(claim.scope.as_str().to_owned())
            .bind(claim.key.as_str().to_owned())
            .bind(claim.fingerprint.as_str().to_owned())
            .bind(claim.lease_id.to_owned())
            .bind(claim.lease_until.millis())
            .bind(claim.now.millis())
            .bind(claim.expires_at.millis())
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            tx.commit().await?;
            return Ok(Claimed::Taken);
        }
        let row = kassa_db::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM idempotency_keys WHERE scope = $1 AND key = $2"
        ))
        .bind(claim.scope.as_str().to_owned())
        .bind(claim.key.as_str().to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        match row {
            Some(row) => Ok(Claimed::Held(record_from_row(&row)?)),
            None => Ok(Claimed::Vanished),
        }
    }

    /// The record of (scope, key), expired or not; for tests and diagnostics.
    pub async fn record(
        &self,
        scope: &Scope,
        key: &IdempotencyKey,
    ) -> Result<Option<Record>, DbError> {
        let row = kassa_db::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM idempotency_keys WHERE scope = $1 AND key = $2"
        ))
        .bind(scope.as_str().to_owned())
        .bind(key.as_str().to_owned())
        .fetch_optional(self.db.reader())
        .await?;
        row.as_ref().map(record_from_row).transpose()
    }

    /// Stores `response` on the running record of `lease`. False if that record is gone or no
    /// longer this lease's.
    pub async fn complete(
        &self,
        lease: &Lease,
        response: &StoredResponse,
    ) -> Result<bool, DbError> {
        let headers = serde_json::to_string(response.headers())
            .map_err(|err| DbError::Corrupt(format!("response headers: {err}")))?;
        let mut tx = self.db.begin().await?;
        let done = kassa_db::query(
            "UPDATE idempotency_keys SET state = 'completed', response_status = $1, \
             response_headers = $2, response_body = $3 \
             WHERE scope = $4 AND key = $5 AND lease_id = $6 AND state = 'running'",
        )
        .bind(i64::from(response.status()))
        .bind(headers)
        .bind(response.body().to_vec())
        .bind(lease.scope.as_str().to_owned())
        .bind(lease.key.as_str().to_owned())
        .bind(lease.lease_id.clone())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes the running record of `lease`. False if it was already gone or taken over.
    pub async fn release(&self, lease: &Lease) -> Result<bool, DbError> {
        let mut tx = self.db.begin().await?;
        let done = kassa_db::query(
            "DELETE FROM idempotency_keys \
             WHERE scope = $1 AND key = $2 AND lease_id = $3 AND state = 'running'",
        )
        .bind(lease.scope.as_str().to_owned())
        .bind(lease.key.as_str().to_owned())
        .bind(lease.lease_id.clone())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes up to `limit` records expired at `now`, oldest first, in one short statement.
    pub async fn purge(&self, now: Timestamp, limit: u32) -> Result<u64, DbError> {
        let mut tx = self.db.begin().await?;
        let done = kassa_db::query(
            "DELETE FROM idempotency_keys WHERE (scope, key) IN ( \
                 SELECT scope, key FROM idempotency_keys WHERE expires_at_ms <= $1 \
                 ORDER BY expires_at_ms LIMIT $2)",
        )
        .bind(now.millis())
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

fn record_from_row(row: &AnyRow) -> Result<Record, DbError> {
    let fingerprint = row::text(row, "fingerprint")?;
    let fingerprint = Fingerprint::from_hex(&fingerprint)
        .ok_or_else(|| DbError::Corrupt(format!("column fingerprint: '{fingerprint}'")))?;
    let state: RecordState = row::parse(row, "state")?;
    let response = match state {
        RecordState::Running => None,
        RecordState::Completed => Some(response_from_row(row)?),
    };
    Ok(Record {
        fingerprint,
        state,
        lease_until: Timestamp::from_millis(row::int(row, "lease_until_ms")?),
        response,
        expires_at: Timestamp::from_millis(row::int(row, "expires_at_ms")?),
    })
}

/// The stored response of a completed record; its columns are NOT NULL then (the CHECK).
fn response_from_row(row: &AnyRow) -> Result<StoredResponse, DbError> {
    let status = row::int(row, "response_status")?;
    let status = u16::try_from(status)
        .map_err(|_| DbError::Corrupt(format!("column response_status: {status}")))?;
    let headers = row::text(row, "response_headers")?;
    let headers: Vec<(String, String)> = serde_json::from_str(&headers)
        .map_err(|err| DbError::Corrupt(format!("column response_headers: {err}")))?;
    let body: Vec<u8> = row.try_get("response_body")?;
    StoredResponse::new(status, headers, body)
        .map_err(|err| DbError::Corrupt(format!("stored response: {err}")))
}
