//! Idempotency: remembering which requests with an `Idempotency-Key` already ran, and what they
//! answered, so a client can retry a POST that moves money or creates an order without doing it
//! twice (the IETF httpapi draft "The Idempotency-Key HTTP Header Field").
//!
//! Owns one table, `idempotency_keys`: a row per (caller [`Scope`], [`IdempotencyKey`]) with
//! the request's [`Fingerprint`], a state (`running` under a lease, or `completed` with the
//! [`StoredResponse`] to replay), and an expiry. It knows nothing of routes, handlers or
//! headers: the `api` crate's `idempotency` middleware reads the header, computes the scope
//! and fingerprint, and drives the service around the handler.
//!
//! Read [`model`] first, then the [`IdempotencyService`] trait, whose documentation states each
//! outcome; [`Idempotency`] implements it over [`store::IdempotencyStore`], whose module
//! documentation explains the one conditional upsert that decides, with the database and never
//! a lock in this process, which of several racing requests runs. Purging expired records is
//! [`IdempotencyService::purge`]; scheduling it is the server's job.

pub mod error;
pub mod migrations;
pub mod model;
pub mod service;
pub mod store;

pub use error::{
    IdempotencyError, IDEMPOTENCY_KEY_INVALID, IDEMPOTENCY_KEY_MISSING,
    IN_PROGRESS_RETRY_AFTER_SECS, PROBLEM_TYPES,
};
pub use model::{
    Begin, Fingerprint, IdempotencyConfig, IdempotencyKey, IdempotencyKeyError, Lease, Scope,
    StoredResponse, StoredResponseError, IDEMPOTENCY_KEY_LEN_MAX, LEASE_DEFAULT,
    RESPONSE_BODY_BYTES_MAX, RESPONSE_HEADERS_MAX, TTL_DEFAULT,
};
pub use service::{Idempotency, IdempotencyService, PURGE_BATCH_MAX};
