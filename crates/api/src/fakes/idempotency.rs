//! [`UnusedIdempotency`]: the idempotency service of the fakes' states, whose routes do not opt
//! in. The idempotency middleware is tested against the real service on a real database in
//! `idempotency_tests.rs`, which replaces this one in its state.

use async_trait::async_trait;
use kassa_idempotency::{
    Begin, Fingerprint, IdempotencyError, IdempotencyKey, IdempotencyService, Lease, Scope,
    StoredResponse,
};
use kassa_kernel::Timestamp;

/// Refuses every call as an internal error (500, with the reason in the log), so a test that
/// reaches an opted-in route through a plain fake state fails instead of passing by accident.
pub struct UnusedIdempotency;

fn unused() -> IdempotencyError {
    IdempotencyError::Invariant(
        "the fake state has no idempotency store; use idempotency_tests' state".to_owned(),
    )
}

#[async_trait]
impl IdempotencyService for UnusedIdempotency {
    async fn begin(
        &self,
        _: &Scope,
        _: &IdempotencyKey,
        _: &Fingerprint,
    ) -> Result<Begin, IdempotencyError> {
        Err(unused())
    }

    async fn complete(&self, _: &Lease, _: &StoredResponse) -> Result<(), IdempotencyError> {
        Err(unused())
    }

    async fn release(&self, _: &Lease) -> Result<(), IdempotencyError> {
        Err(unused())
    }

    async fn purge(&self, _: Timestamp, _: u32) -> Result<u64, IdempotencyError> {
        Err(unused())
    }
}
