//! Accounts: customer registration, both sign-ins, starting a session, password changes, and
//! the throttle counters that guard them.

use kassa_db::DbError;
use kassa_kernel::ids::{CustomerId, SessionId};
use kassa_kernel::{Email, Timestamp};

use super::Identity;
use crate::error::PasswordField;
use crate::model::{
    ClientInfo, Customer, RegisterOutcome, RevokeReason, StaffMember, Subject, SubjectKind,
    TokenPair,
};
use crate::password::{HashedPassword, Password};
use crate::store::email_key;
use crate::throttle::{count_attempt, window_ended_by_ms, ThrottleKey, ThrottleLimit, WindowCount};
use crate::token::{self, AccessClaims, RefreshToken};
use crate::IdentityError;

pub(super) async fn register(
    identity: &Identity,
    email: Email,
    password: Password,
    client: &ClientInfo,
) -> Result<RegisterOutcome, IdentityError> {
    let now = identity.clock.now();
    let key = ThrottleKey::register_address(client.addr);
    let limit = &identity.config.throttle.register_address;
    count_attempt(&identity.store, &key, limit, now).await?;
    password
        .check_email(&email)
        .map_err(|reason| reason.for_field(PasswordField::Password))?;
    // Hashing and the insert happen whether or not the email is taken, so both cost the same.
    let hash = identity.passwords.hash(&password).await?;
    let customer = Customer {
        id: CustomerId::new(),
        email: normalised(&email),
        created_at: now,
        password_changed_at: now,
    };
    let mut tx = identity.store.begin().await?;
    let created = tx.insert_customer(&customer, &hash).await?;
    tx.commit().await?;
    if created {
        tracing::info!(customer_id = %customer.id, "customer registered");
    } else {
        tracing::info!("registration for an email already registered; nothing created");
    }
    Ok(RegisterOutcome {})
}

pub(super) async fn sign_in_customer(
    identity: &Identity,
    email: &Email,
    password: &str,
    client: &ClientInfo,
) -> Result<(CustomerId, TokenPair), IdentityError> {
    let lookup = identity.store.customer_credentials(email);
    let usable = |customer: &Customer| Some(Subject::Customer(customer.id));
    let (customer, pair) = sign_in(
        identity,
        SubjectKind::Customer,
        (email, password, client),
        lookup,
        usable,
    )
    .await?;
    Ok((customer.id, pair))
}

pub(super) async fn sign_in_staff(
    identity: &Identity,
    email: &Email,
    password: &str,
    client: &ClientInfo,
) -> Result<(StaffMember, TokenPair), IdentityError> {
    let lookup = identity.store.staff_credentials(email);
    // A disabled member's right password is refused like a wrong one, after the same work.
    let usable = |staff: &StaffMember| staff.is_active().then_some(Subject::Staff(staff.id));
    sign_in(
        identity,
        SubjectKind::Staff,
        (email, password, client),
        lookup,
        usable,
    )
    .await
}

/// The shared path of both sign-ins: throttle, look up with `lookup`, verify, then start a
/// session for the account if `usable` gives its subject.
async fn sign_in<A>(
    identity: &Identity,
    kind: SubjectKind,
    (email, password, client): (&Email, &str, &ClientInfo),
    lookup: impl std::future::Future<Output = Result<Option<(A, HashedPassword)>, DbError>>,
    usable: impl Fn(&A) -> Option<Subject>,
) -> Result<(A, TokenPair), IdentityError> {
    let now = identity.clock.now();
    let limits = &identity.config.throttle;
    let address = ThrottleKey::sign_in_address(client.addr);
    count_attempt(&identity.store, &address, &limits.sign_in_address, now).await?;
    let account = ThrottleKey::sign_in_account(kind, email);
    let counted = count_attempt(&identity.store, &account, &limits.sign_in_account, now).await?;

    let found = lookup.await?;
    let verified = identity
        .passwords
        .verify(found.as_ref().map(|(_, hash)| hash), password)
        .await?;
    let found = found.filter(|_| verified).and_then(|(account, _)| {
        let subject = usable(&account)?;
        Some((account, subject))
    });
    let Some((found, subject)) = found else {
        tracing::info!(kind = kind.as_str(), "sign-in refused");
        return Err(IdentityError::InvalidCredentials);
    };
    let pair = start_session(identity, subject, (&account, counted), now).await?;
    tracing::info!(subject = %subject, session_id = %pair.session_id, "signed in");
    Ok((found, pair))
}

/// Starts a session for `subject` with its first refresh token, and gives back the throttle
/// slot the successful sign-in reserved, in one transaction.
async fn start_session(
    identity: &Identity,
    subject: Subject,
    (key, counted): (&ThrottleKey, WindowCount),
    now: Timestamp,
) -> Result<TokenPair, IdentityError> {
    let session = SessionId::new();
    let refresh = RefreshToken::generate().map_err(IdentityError::Randomness)?;
    let refresh_ttl_secs = i64::from(identity.config.refresh_token_ttl_secs);
    let refresh_expires_at = now.plus_secs(refresh_ttl_secs);
    let mut tx = identity.store.begin().await?;
    tx.throttle_refund(key, counted).await?;
    tx.insert_session(session, subject, now).await?;
    tx.insert_refresh_token(session, &refresh.hash(), now, refresh_expires_at)
        .await?;
    tx.commit().await?;
    token_pair(
        identity,
        subject,
        session,
        (refresh, refresh_expires_at),
        now,
    )
}

/// Signs an access token issued `now` (to the second) and pairs it with `refresh`.
pub(super) fn token_pair(
    identity: &Identity,
    subject: Subject,
    session: SessionId,
    (refresh, refresh_expires_at): (RefreshToken, Timestamp),
    now: Timestamp,
) -> Result<TokenPair, IdentityError> {
    let issued_at_secs = now.millis().div_euclid(1_000);
    let ttl_secs = i64::from(identity.config.access_token_ttl_secs);
    let expires_at_secs = issued_at_secs.saturating_add(ttl_secs);
    let claims = AccessClaims {
        subject,
        session,
        issued_at_secs,
        expires_at_secs,
    };
    let access_token =
        token::encode(&identity.config.jwt_secret, &claims).map_err(IdentityError::TokenSigning)?;
    Ok(TokenPair {
        access_token,
        access_expires_at: Timestamp::from_millis(expires_at_secs.saturating_mul(1_000)),
        refresh_token: refresh,
        refresh_expires_at,
        session_id: session,
    })
}

pub(super) async fn change_password(
    identity: &Identity,
    subject: Subject,
    current: &str,
    new: Password,
) -> Result<(), IdentityError> {
    let (email, stored) = identity
        .store
        .credentials_of(subject)
        .await?
        .ok_or_else(|| subject_not_found(subject))?;
    new.check_email(&email)
        .map_err(|reason| reason.for_field(PasswordField::NewPassword))?;
    let now = identity.clock.now();
    // Checking the current password is a sign-in in disguise: the same per-account counter
    // keeps a stolen access token from being used to guess it.
    let key = ThrottleKey::sign_in_account(subject.kind(), &email);
    let limit = &identity.config.throttle.sign_in_account;
    let counted = count_attempt(&identity.store, &key, limit, now).await?;
    if !identity.passwords.verify(Some(&stored), current).await? {
        tracing::info!(subject = %subject, "password change refused: wrong current password");
        return Err(IdentityError::InvalidCredentials);
    }
    let hash = identity.passwords.hash(&new).await?;
    let mut tx = identity.store.begin().await?;
    tx.throttle_refund(&key, counted).await?;
    if !tx.set_password(subject, &hash, now).await? {
        return Err(subject_not_found(subject));
    }
    let ended = tx
        .revoke_sessions_of(subject, RevokeReason::PasswordChanged, now)
        .await?;
    tx.commit().await?;
    tracing::info!(subject = %subject, sessions = ended, "password changed; sessions ended");
    Ok(())
}

/// Deletes counters whose window has ended under every limit: a counter's purpose is in its
/// key but not its limit, so the longest window decides.
pub(super) async fn purge_expired_throttle_windows(
    identity: &Identity,
) -> Result<u64, IdentityError> {
    let limits = &identity.config.throttle;
    let longest = ThrottleLimit {
        attempts_max: 0,
        window_secs: limits
            .sign_in_account
            .window_secs
            .max(limits.sign_in_address.window_secs)
            .max(limits.register_address.window_secs),
    };
    let ended_by_ms = window_ended_by_ms(&longest, identity.clock.now());
    Ok(identity.store.purge_throttle(ended_by_ms).await?)
}

pub(super) fn subject_not_found(subject: Subject) -> IdentityError {
    match subject {
        Subject::Customer(id) => IdentityError::CustomerNotFound(id),
        Subject::Staff(id) => IdentityError::StaffNotFound(id),
    }
}

/// The email as stored: ASCII letters lower-cased. That keeps an address valid, so the
/// fallback to the email as given is never taken.
pub(super) fn normalised(email: &Email) -> Email {
    Email::parse(&email_key(email)).unwrap_or_else(|_| email.clone())
}
