//! Identity's service trait, the only way other crates use accounts and sessions, and
//! [`Identity`], which implements it: customer registration, sign-in and password changes in
//! `service/accounts.rs`, refresh, authentication and sign-out in `service/sessions.rs`, staff
//! and the audit log in `service/staff.rs`.
//!
//! Sign-in is: count the attempt per client address, then per account (both may answer
//! `throttled` before the password is looked at), look the account up, verify the password
//! (against a dummy hash when there is no account, so both take as long), then start a session
//! and hand out a [`TokenPair`]. Every authenticated request then goes through
//! [`IdentityService::authenticate`], which checks the token's signature and the session in the
//! store, so ending a session takes effect on the next request.
//!
//! One service call is one transaction, with one exception: each throttle counter is bumped in
//! its own short transaction first, because a refused attempt must stay counted.

mod accounts;
mod sessions;
mod staff;

use std::sync::Arc;

use async_trait::async_trait;
use kassa_kernel::ids::{CustomerId, SessionId, StaffId};
use kassa_kernel::{Clock, Email};

use crate::model::{
    AuditEntry, AuditPage, AuditQuery, AuditRecord, ClientInfo, Customer, Principal,
    RegisterOutcome, StaffMember, Subject, TokenPair,
};
use crate::password::{Password, PasswordParams, Passwords, HASHES_IN_FLIGHT_MAX_DEFAULT};
use crate::permissions::Role;
use crate::store::IdentityStore;
use crate::throttle::ThrottleLimits;
use crate::token::{JwtSecret, ACCESS_TOKEN_TTL_SECS_DEFAULT, REFRESH_TOKEN_TTL_SECS_DEFAULT};
use crate::IdentityError;

#[async_trait]
pub trait IdentityService: Send + Sync {
    /// Registers a customer. A new email creates the account; an email already registered
    /// creates nothing but costs the same work and gives the same outcome, so the caller
    /// cannot tell them apart. Refused with `Throttled` (per client address) or `WeakPassword`
    /// (the password contains the email's local part; the other rules are
    /// [`Password::parse`]'s).
    async fn register(
        &self,
        email: Email,
        password: Password,
        client: &ClientInfo,
    ) -> Result<RegisterOutcome, IdentityError>;

    /// Signs a customer in and starts a session. A wrong password and an unknown email are the
    /// same `InvalidCredentials`; `Throttled` comes before the password is checked.
    async fn sign_in_customer(
        &self,
        email: &Email,
        password: &str,
        client: &ClientInfo,
    ) -> Result<(CustomerId, TokenPair), IdentityError>;

    /// Signs a staff member in, like [`IdentityService::sign_in_customer`]; a disabled member
    /// gets `InvalidCredentials` too.
    async fn sign_in_staff(
        &self,
        email: &Email,
        password: &str,
        client: &ClientInfo,
    ) -> Result<(StaffMember, TokenPair), IdentityError>;

    /// Rotates a refresh token: the presented one is used up and a new pair is returned.
    /// Presenting a token that was already used (or that a concurrent call used first) revokes
    /// its whole session, and that is committed before `InvalidRefreshToken` is returned.
    async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, IdentityError>;

    /// Who an access token belongs to: its signature, algorithm, issuer, audience and expiry
    /// are checked, then its session in the store (not revoked; for staff, the current role
    /// and that the member is not disabled). Any failure is `InvalidToken`.
    async fn authenticate(&self, access_token: &str) -> Result<Principal, IdentityError>;

    /// Ends one session (sign-out). Ending an ended session is not an error.
    async fn sign_out(&self, session: SessionId) -> Result<(), IdentityError>;

    /// Ends every session of the account; returns how many were live.
    async fn sign_out_everywhere(&self, subject: Subject) -> Result<u64, IdentityError>;

    /// Changes a password after checking the current one (`InvalidCredentials` if wrong,
    /// throttled like a sign-in of that account), then ends every session of the account,
    /// the caller's included: the client signs in again with the new password.
    async fn change_password(
        &self,
        subject: Subject,
        current: &str,
        new: Password,
    ) -> Result<(), IdentityError>;

    async fn customer(&self, id: CustomerId) -> Result<Customer, IdentityError>;

    /// Creates a staff account: from `kassa staff create` (the first owner) or by an owner.
    /// Refused with `EmailTaken` or `WeakPassword`.
    async fn create_staff(
        &self,
        email: Email,
        password: Password,
        role: Role,
    ) -> Result<StaffMember, IdentityError>;

    async fn staff_member(&self, id: StaffId) -> Result<StaffMember, IdentityError>;

    /// Every staff member, disabled ones included, oldest first.
    async fn staff_list(&self) -> Result<Vec<StaffMember>, IdentityError>;

    /// Changes a role; effective on the member's next request. Refused with `LastOwner` when
    /// it would leave no active owner.
    async fn set_staff_role(&self, id: StaffId, role: Role) -> Result<StaffMember, IdentityError>;

    /// Disables a member and ends its sessions; disabling a disabled member changes nothing.
    /// Refused with `LastOwner` for the last active owner.
    async fn disable_staff(&self, id: StaffId) -> Result<StaffMember, IdentityError>;

    /// Records a staff action. Over-long fields are cut to their documented maximum rather
    /// than refused. `StaffNotFound` if the staff member does not exist.
    async fn record_audit(&self, record: AuditRecord) -> Result<AuditEntry, IdentityError>;

    /// One page of the audit log, newest first.
    async fn audit_log(&self, query: AuditQuery) -> Result<AuditPage, IdentityError>;

    /// Deletes throttle counters whose window has ended; for a periodic job. Returns how many.
    async fn purge_expired_throttle_windows(&self) -> Result<u64, IdentityError>;
}

/// Everything identity is configured with. Built by `server` from settings, by tests in code.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// argon2id cost for new hashes; OWASP's recommendation by default.
    pub password: PasswordParams,
    /// Password hashes computed at once; more callers wait. Bounds hashing memory to this
    /// many times `password.memory_kib()`.
    pub hashes_in_flight_max: usize,
    /// Access token lifetime; [`ACCESS_TOKEN_TTL_SECS_DEFAULT`] (15 minutes) by default.
    pub access_token_ttl_secs: u32,
    /// Refresh token lifetime; [`REFRESH_TOKEN_TTL_SECS_DEFAULT`] (30 days) by default.
    pub refresh_token_ttl_secs: u32,
    /// Signs new access tokens and verifies them.
    pub jwt_secret: JwtSecret,
    /// During a key rotation, the secret before `jwt_secret`: still accepted for
    /// verification, never used to sign. Drop it once one access token lifetime has passed.
    pub jwt_previous_secret: Option<JwtSecret>,
    pub throttle: ThrottleLimits,
}

impl IdentityConfig {
    /// The documented defaults with this signing secret.
    pub fn new(jwt_secret: JwtSecret) -> IdentityConfig {
        IdentityConfig {
            password: PasswordParams::default(),
            hashes_in_flight_max: HASHES_IN_FLIGHT_MAX_DEFAULT,
            access_token_ttl_secs: ACCESS_TOKEN_TTL_SECS_DEFAULT,
            refresh_token_ttl_secs: REFRESH_TOKEN_TTL_SECS_DEFAULT,
            jwt_secret,
            jwt_previous_secret: None,
            throttle: ThrottleLimits::default(),
        }
    }
}

/// The identity service over its store.
pub struct Identity {
    store: IdentityStore,
    clock: Arc<dyn Clock>,
    config: IdentityConfig,
    passwords: Passwords,
}

impl Identity {
    pub fn new(store: IdentityStore, clock: Arc<dyn Clock>, config: IdentityConfig) -> Self {
        let passwords = Passwords::new(config.password, config.hashes_in_flight_max);
        Identity {
            store,
            clock,
            config,
            passwords,
        }
    }
}

#[async_trait]
impl IdentityService for Identity {
    async fn register(
        &self,
        email: Email,
        password: Password,
        client: &ClientInfo,
    ) -> Result<RegisterOutcome, IdentityError> {
        accounts::register(self, email, password, client).await
    }

    async fn sign_in_customer(
        &self,
        email: &Email,
        password: &str,
        client: &ClientInfo,
    ) -> Result<(CustomerId, TokenPair), IdentityError> {
        accounts::sign_in_customer(self, email, password, client).await
    }

    async fn sign_in_staff(
        &self,
        email: &Email,
        password: &str,
        client: &ClientInfo,
    ) -> Result<(StaffMember, TokenPair), IdentityError> {
        accounts::sign_in_staff(self, email, password, client).await
    }

    async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, IdentityError> {
        sessions::refresh(self, refresh_token).await
    }

    async fn authenticate(&self, access_token: &str) -> Result<Principal, IdentityError> {
        sessions::authenticate(self, access_token).await
    }

    async fn sign_out(&self, session: SessionId) -> Result<(), IdentityError> {
        sessions::sign_out(self, session).await
    }

    async fn sign_out_everywhere(&self, subject: Subject) -> Result<u64, IdentityError> {
        sessions::sign_out_everywhere(self, subject).await
    }

    async fn change_password(
        &self,
        subject: Subject,
        current: &str,
        new: Password,
    ) -> Result<(), IdentityError> {
        accounts::change_password(self, subject, current, new).await
    }

    async fn customer(&self, id: CustomerId) -> Result<Customer, IdentityError> {
        self.store
            .customer(id)
            .await?
            .ok_or(IdentityError::CustomerNotFound(id))
    }

    async fn create_staff(
        &self,
        email: Email,
        password: Password,
        role: Role,
    ) -> Result<StaffMember, IdentityError> {
        staff::create_staff(self, email, password, role).await
    }

    async fn staff_member(&self, id: StaffId) -> Result<StaffMember, IdentityError> {
        self.store
            .staff(id)
            .await?
            .ok_or(IdentityError::StaffNotFound(id))
    }

    async fn staff_list(&self) -> Result<Vec<StaffMember>, IdentityError> {
        Ok(self.store.staff_list().await?)
    }

    async fn set_staff_role(&self, id: StaffId, role: Role) -> Result<StaffMember, IdentityError> {
        staff::set_staff_role(self, id, role).await
    }

    async fn disable_staff(&self, id: StaffId) -> Result<StaffMember, IdentityError> {
        staff::disable_staff(self, id).await
    }

    async fn record_audit(&self, record: AuditRecord) -> Result<AuditEntry, IdentityError> {
        staff::record_audit(self, record).await
    }

    async fn audit_log(&self, query: AuditQuery) -> Result<AuditPage, IdentityError> {
        staff::audit_log(self, query).await
    }

    async fn purge_expired_throttle_windows(&self) -> Result<u64, IdentityError> {
        accounts::purge_expired_throttle_windows(self).await
    }
}
