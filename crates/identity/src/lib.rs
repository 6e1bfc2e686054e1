//! Identity: customer and staff accounts, passwords, sessions and tokens, staff roles, sign-in
//! throttling and the staff audit log.
//!
//! Owns the tables `identity_customers` and `identity_staff` (accounts with argon2id password
//! hashes; staff have a role and may be disabled, never deleted), `identity_sessions` (one per
//! sign-in, revoked by sign-out, sign-out everywhere, a password change, disabling, or refresh
//! token reuse), `identity_refresh_tokens` (the SHA-256 of every refresh token of a session,
//! each used at most once), `identity_throttle` (fixed-window attempt counters) and
//! `identity_audit_log` (who changed what, when, from where). It publishes no events yet.
//!
//! It does not own HTTP: routes, the `Customer`/`Staff` extractors, the `Retry-After` header
//! and the permission check on each admin route live in `api`, which calls
//! [`IdentityService::authenticate`] and [`permissions::require`]. Carts merged at sign-in
//! belong to `cart`; `kassa staff create` to `server`.
//!
//! Read [`IdentityService`] first, then [`model`] ([`Principal`], [`TokenPair`]),
//! [`permissions`] (roles and the one permission table), [`token`] (the JWT format and every
//! check made on it), [`password`] (policy and hashing parameters) and [`throttle`] (the limits
//! and why). [`Identity`] implements the service over [`store::IdentityStore`], which holds
//! every SQL statement of the crate.
//!
//! Nothing secret reaches `Debug` or a log: passwords ([`Password`]), tokens
//! ([`AccessToken`], [`RefreshToken`]), the signing key ([`JwtSecret`]) and password hashes
//! all print as `<redacted>`, and emails and addresses are not logged.

pub mod error;
pub mod migrations;
pub mod model;
pub mod password;
pub mod permissions;
pub mod service;
pub mod store;
pub mod throttle;
pub mod token;

pub use error::{IdentityError, PasswordField, RefreshRefusal, TokenRefusal, PROBLEM_TYPES};
pub use model::*;
pub use password::{Password, PasswordParams, WeakPassword};
pub use permissions::{allows, require, Permission, RefundCap, Role};
pub use service::{Identity, IdentityConfig, IdentityService};
pub use throttle::{ThrottleLimit, ThrottleLimits};
pub use token::{AccessToken, JwtSecret, RefreshToken};
