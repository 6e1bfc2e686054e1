//! `IdempotencyError` and the idempotency district's entries in the problem registry.
//!
//! The four `idempotency_key_*` codes are what clients act on (the IETF draft's 400, 422 and
//! 409): a missing or malformed key is fixed by sending one, a reused key by choosing a new
//! key, a key in progress by waiting and retrying with the same key. Storage failures keep
//! their source for the log and show only a generic text.

use kassa_db::DbError;
use kassa_kernel::{DomainError, ErrorCategory, ProblemType};

use crate::model::IdempotencyKeyError;

/// How long a client should wait before retrying a request whose key is in progress. The first
/// request is usually a fraction of a second from completing, and the retry then gets the
/// replay; the draft leaves the value to the server.
pub const IN_PROGRESS_RETRY_AFTER_SECS: u32 = 1;

/// Raised by the HTTP layer, which reads the header; registered here with the other key codes.
pub const IDEMPOTENCY_KEY_MISSING: ProblemType = ProblemType::new(
    "idempotency_key_missing",
    "Idempotency-Key missing",
    ErrorCategory::Malformed,
);
pub const IDEMPOTENCY_KEY_INVALID: ProblemType = ProblemType::new(
    "idempotency_key_invalid",
    "Invalid Idempotency-Key",
    ErrorCategory::Malformed,
);
pub const IDEMPOTENCY_KEY_REUSED: ProblemType = ProblemType::new(
    "idempotency_key_reused",
    "Idempotency-Key reused",
    ErrorCategory::Invalid,
);
pub const IDEMPOTENCY_KEY_IN_PROGRESS: ProblemType = ProblemType::new(
    "idempotency_key_in_progress",
    "Idempotency-Key in progress",
    ErrorCategory::Conflict,
);
pub const IDEMPOTENCY_STORAGE_UNAVAILABLE: ProblemType = ProblemType::new(
    "idempotency_storage_unavailable",
    "Idempotency storage unavailable",
    ErrorCategory::Unavailable,
);
pub const IDEMPOTENCY_STORAGE_ERROR: ProblemType = ProblemType::new(
    "idempotency_storage_error",
    "Idempotency storage error",
    ErrorCategory::Internal,
);
pub const IDEMPOTENCY_INTERNAL_ERROR: ProblemType = ProblemType::new(
    "idempotency_internal_error",
    "Idempotency internal error",
    ErrorCategory::Internal,
);

/// Every problem type the idempotency district owns.
pub const PROBLEM_TYPES: &[&ProblemType] = &[
    &IDEMPOTENCY_KEY_MISSING,
    &IDEMPOTENCY_KEY_INVALID,
    &IDEMPOTENCY_KEY_REUSED,
    &IDEMPOTENCY_KEY_IN_PROGRESS,
    &IDEMPOTENCY_STORAGE_UNAVAILABLE,
    &IDEMPOTENCY_STORAGE_ERROR,
    &IDEMPOTENCY_INTERNAL_ERROR,
];

impl DomainError for IdempotencyKeyError {
    fn problem_type(&self) -> &'static ProblemType {
        &IDEMPOTENCY_KEY_INVALID
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// The key is known in this scope for a request with another fingerprint, running or
    /// completed. Nothing was run.
    #[error(
        "This Idempotency-Key was already used for a different request (method, path, query or \
         body); send a new key for a new request."
    )]
    KeyReused,
    /// The key's first request, with the same fingerprint, is still running and its lease is
    /// live. Nothing was run; retry after [`IN_PROGRESS_RETRY_AFTER_SECS`] with the same key.
    #[error("A request with this Idempotency-Key is still being processed; retry shortly.")]
    InProgress,
    /// The running record of this lease is gone or belongs to another claim (the lease expired
    /// and another request took the key over, or it was purged). The response was not stored.
    #[error("The idempotency record of this request was taken over before it completed.")]
    LeaseLost,
    /// A response the store refuses (a 5xx, an oversized body): a bug in the caller.
    #[error("The response cannot be stored: {0}")]
    ResponseNotStorable(#[from] crate::model::StoredResponseError),
    #[error("The idempotency storage is unavailable; try again shortly.")]
    StorageUnavailable(#[source] DbError),
    #[error("The idempotency storage failed.")]
    Storage(#[source] DbError),
    /// One of our own invariants did not hold; logged, never shown.
    #[error("An idempotency invariant did not hold: {0}")]
    Invariant(String),
}

impl IdempotencyError {
    /// The `Retry-After` the HTTP layer should send with this error, if any.
    pub fn retry_after_secs(&self) -> Option<u32> {
        match self {
            IdempotencyError::InProgress => Some(IN_PROGRESS_RETRY_AFTER_SECS),
            _ => None,
        }
    }
}

impl From<DbError> for IdempotencyError {
    fn from(err: DbError) -> Self {
        if err.is_unavailable() {
            IdempotencyError::StorageUnavailable(err)
        } else {
            IdempotencyError::Storage(err)
        }
    }
}

impl DomainError for IdempotencyError {
    fn problem_type(&self) -> &'static ProblemType {
        match self {
            IdempotencyError::KeyReused => &IDEMPOTENCY_KEY_REUSED,
            IdempotencyError::InProgress => &IDEMPOTENCY_KEY_IN_PROGRESS,
            IdempotencyError::StorageUnavailable(_) => &IDEMPOTENCY_STORAGE_UNAVAILABLE,
            IdempotencyError::Storage(_) => &IDEMPOTENCY_STORAGE_ERROR,
            IdempotencyError::LeaseLost
            | IdempotencyError::ResponseNotStorable(_)
            | IdempotencyError::Invariant(_) => &IDEMPOTENCY_INTERNAL_ERROR,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StoredResponseError;

    #[test]
    fn problem_codes_are_unique_snake_case_and_titled() {
        let all = [PROBLEM_TYPES, kassa_kernel::PROBLEM_TYPES].concat();
        assert_eq!(
            kassa_kernel::error::check_problem_types(&all),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_error_maps_to_a_registered_problem_with_the_drafts_status_category() {
        let cases = [
            (IdempotencyError::KeyReused, ErrorCategory::Invalid),
            (IdempotencyError::InProgress, ErrorCategory::Conflict),
            (IdempotencyError::LeaseLost, ErrorCategory::Internal),
            (
                IdempotencyError::ResponseNotStorable(StoredResponseError::Status(500)),
                ErrorCategory::Internal,
            ),
            (
                IdempotencyError::StorageUnavailable(DbError::Setup("x".into())),
                ErrorCategory::Unavailable,
            ),
            (
                IdempotencyError::Storage(DbError::Corrupt("x".into())),
                ErrorCategory::Internal,
            ),
            (
                IdempotencyError::Invariant("x".into()),
                ErrorCategory::Internal,
            ),
        ];
        for (err, category) in cases {
            assert!(PROBLEM_TYPES.contains(&err.problem_type()), "{err:?}");
            assert_eq!(err.problem_type().category, category, "{err:?}");
        }
        let key = IdempotencyKeyError::Empty;
        assert_eq!(key.problem_type().code, "idempotency_key_invalid");
        assert_eq!(key.problem_type().category, ErrorCategory::Malformed);
        assert_eq!(IDEMPOTENCY_KEY_MISSING.category, ErrorCategory::Malformed);
    }

    #[test]
    fn only_in_progress_asks_for_a_retry_after() {
        assert_eq!(IdempotencyError::InProgress.retry_after_secs(), Some(1));
        assert_eq!(IdempotencyError::KeyReused.retry_after_secs(), None);
    }

    #[test]
    fn internal_errors_show_a_generic_detail() {
        let err = IdempotencyError::Invariant("claim found no row".into());
        assert!(!err.detail().contains("row"));
        let err = IdempotencyError::Storage(DbError::Corrupt("column fingerprint".into()));
        assert!(!err.detail().contains("fingerprint"));
    }
}
