//! The idempotency service trait, the only way other crates use the table, and
//! [`Idempotency`], which implements it over [`IdempotencyStore`].
//!
//! A request's life: [`IdempotencyService::begin`] claims (scope, key) or says why not; the
//! caller runs the request only on [`Begin::Proceed`], then either
//! [`IdempotencyService::complete`]s the lease with the response (anything but a server error)
//! or [`IdempotencyService::release`]s it (a server error, or the request was abandoned), so a
//! retry with the same key runs again. Each call is one short transaction.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kassa_kernel::{Clock, Timestamp};
use tracing::instrument;

use crate::error::IdempotencyError;
use crate::model::{
    Begin, Fingerprint, IdempotencyConfig, IdempotencyKey, Lease, RecordState, Scope,
    StoredResponse,
};
use crate::store::{Claim, Claimed, IdempotencyStore, Record};

/// Most records one [`IdempotencyService::purge`] call deletes. One statement deletes them, so
/// the bound keeps that transaction short (SQLite has one writer); the purge task calls again
/// while a call comes back full.
pub const PURGE_BATCH_MAX: u32 = 1_000;

#[async_trait]
pub trait IdempotencyService: Send + Sync {
    /// Claims `key` in `scope` for a request with `fingerprint`.
    ///
    /// [`Begin::Proceed`] when no live record exists (none, or one past its TTL, or a running
    /// one with the same fingerprint whose lease ended — its server died mid-request):
    /// the record is now running under the returned lease. [`Begin::Replay`] when the key's
    /// request completed with the same fingerprint. Refused with `KeyReused` when the record
    /// has another fingerprint (running or completed), and `InProgress` when it is running
    /// with a live lease. Of many concurrent calls with one key, in one process or several
    /// sharing the database, exactly one proceeds.
    async fn begin(
        &self,
        scope: &Scope,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
    ) -> Result<Begin, IdempotencyError>;

    /// Stores `response` as the answer of `lease`'s request; later `begin`s with the same key
    /// and fingerprint replay it until the record expires. `LeaseLost` if the lease's record
    /// is gone or was taken over (the response is then not stored).
    async fn complete(
        &self,
        lease: &Lease,
        response: &StoredResponse,
    ) -> Result<(), IdempotencyError>;

    /// Forgets `lease`'s running record, so the key can be used again (the request failed
    /// with a server error or was abandoned). Succeeds if the record is already gone or was
    /// taken over: neither is this lease's to delete.
    async fn release(&self, lease: &Lease) -> Result<(), IdempotencyError>;

    /// Deletes up to `batch_max` (at most [`PURGE_BATCH_MAX`]) records whose TTL passed at
    /// `now`, oldest first. Returns how many; call again while that is `batch_max`. Expired
    /// records are already treated as absent by `begin`, so purging only reclaims space.
    async fn purge(&self, now: Timestamp, batch_max: u32) -> Result<u64, IdempotencyError>;
}

/// The idempotency district's service.
pub struct Idempotency {
    store: IdempotencyStore,
    clock: Arc<dyn Clock>,
    config: IdempotencyConfig,
}

impl Idempotency {
    pub fn new(
        store: IdempotencyStore,
        clock: Arc<dyn Clock>,
        config: IdempotencyConfig,
    ) -> Idempotency {
        Idempotency {
            store,
            clock,
            config,
        }
    }
}

#[async_trait]
impl IdempotencyService for Idempotency {
    #[instrument(skip_all, fields(scope = %scope))]
    async fn begin(
        &self,
        scope: &Scope,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
    ) -> Result<Begin, IdempotencyError> {
        let now = self.clock.now();
        let lease_id = uuid::Uuid::now_v7().simple().to_string();
        let lease_until = now.plus_millis(millis(self.config.lease));
        let claim = Claim {
            scope,
            key,
            fingerprint,
            lease_id: &lease_id,
            now,
            lease_until,
            expires_at: now.plus_millis(millis(self.config.ttl)),
        };
        match self.store.claim(&claim).await? {
            Claimed::Taken => Ok(Begin::Proceed(Lease {
                scope: scope.clone(),
                key: key.clone(),
                lease_id,
                until: lease_until,
            })),
            Claimed::Held(record) => decide(record, fingerprint),
            Claimed::Vanished => Err(IdempotencyError::Invariant(
                "a claim was refused but no record stands in its way".to_owned(),
            )),
        }
    }

    #[instrument(skip_all, fields(scope = %lease.scope, status = response.status()))]
    async fn complete(
        &self,
        lease: &Lease,
        response: &StoredResponse,
    ) -> Result<(), IdempotencyError> {
        if self.store.complete(lease, response).await? {
            Ok(())
        } else {
            Err(IdempotencyError::LeaseLost)
        }
    }

    #[instrument(skip_all, fields(scope = %lease.scope))]
    async fn release(&self, lease: &Lease) -> Result<(), IdempotencyError> {
        if !self.store.release(lease).await? {
            tracing::debug!("idempotency record already gone or taken over at release");
        }
        Ok(())
    }

    async fn purge(&self, now: Timestamp, batch_max: u32) -> Result<u64, IdempotencyError> {
        Ok(self
            .store
            .purge(now, batch_max.min(PURGE_BATCH_MAX))
            .await?)
    }
}

/// What a record that the claim could not replace means for this request. The claim already
/// replaced every expired record and every running record of this fingerprint whose lease
/// ended, so a running record left here is live.
fn decide(record: Record, fingerprint: &Fingerprint) -> Result<Begin, IdempotencyError> {
    if record.fingerprint != *fingerprint {
        return Err(IdempotencyError::KeyReused);
    }
    match (record.state, record.response) {
        (RecordState::Completed, Some(response)) => Ok(Begin::Replay(response)),
        (RecordState::Running, _) => Err(IdempotencyError::InProgress),
        (RecordState::Completed, None) => Err(IdempotencyError::Invariant(
            "a completed record has no response".to_owned(),
        )),
    }
}

/// Saturating: a configured duration beyond `i64` milliseconds (292 million years) is forever.
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint(body: &[u8]) -> Fingerprint {
        Fingerprint::of_request("POST", "/v1/orders", body)
    }

    fn record(state: RecordState, body: &[u8]) -> Record {
        let response = (state == RecordState::Completed).then(|| {
            StoredResponse::new(201, Vec::new(), b"{}".to_vec()).unwrap_or_else(|e| panic!("{e}"))
        });
        Record {
            fingerprint: fingerprint(body),
            state,
            lease_until: Timestamp::from_millis(10),
            response,
            expires_at: Timestamp::from_millis(20),
        }
    }

    #[test]
    fn another_fingerprint_is_a_reused_key_whatever_the_state() {
        for state in [RecordState::Running, RecordState::Completed] {
            let decided = decide(record(state, b"a"), &fingerprint(b"b"));
            assert!(matches!(decided, Err(IdempotencyError::KeyReused)));
        }
    }

    #[test]
    fn the_same_fingerprint_replays_a_completed_record_and_waits_for_a_running_one() {
        let completed = decide(record(RecordState::Completed, b"a"), &fingerprint(b"a"));
        assert!(matches!(completed, Ok(Begin::Replay(r)) if r.status() == 201));
        let running = decide(record(RecordState::Running, b"a"), &fingerprint(b"a"));
        assert!(matches!(running, Err(IdempotencyError::InProgress)));
    }

    #[test]
    fn durations_convert_to_millis_and_saturate() {
        assert_eq!(millis(Duration::from_secs(60)), 60_000);
        assert_eq!(millis(Duration::MAX), i64::MAX);
    }
}
