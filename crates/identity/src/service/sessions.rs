//! Sessions: refresh token rotation with reuse detection, authenticating access tokens, and
//! ending sessions.

use kassa_kernel::ids::SessionId;
use kassa_kernel::Timestamp;

use super::accounts::token_pair;
use super::Identity;
use crate::error::{RefreshRefusal, TokenRefusal};
use crate::model::{Principal, RevokeReason, Subject, TokenPair};
use crate::store::IdentityTx;
use crate::token::{self, JwtSecret, RefreshToken, TokenHash, REFRESH_TOKEN_LEN};
use crate::IdentityError;

/// Uses up `presented` and issues its successor, in one transaction. Checked in this order:
/// the token exists, its session is live, it has not expired, it has not been used — and then
/// the conditional update that marks it used must win, or a concurrent call used it first.
/// Either kind of reuse revokes the session.
pub(super) async fn refresh(
    identity: &Identity,
    presented: &str,
) -> Result<TokenPair, IdentityError> {
    if presented.len() != REFRESH_TOKEN_LEN {
        return Err(refuse_refresh(RefreshRefusal::Malformed));
    }
    let now = identity.clock.now();
    let mut tx = identity.store.begin().await?;
    let row = tx
        .refresh_token(&TokenHash::of(presented))
        .await?
        .ok_or_else(|| refuse_refresh(RefreshRefusal::Unknown))?;
    if row.session_revoked {
        return Err(refuse_refresh(RefreshRefusal::SessionRevoked));
    }
    if row.expires_at <= now {
        return Err(refuse_refresh(RefreshRefusal::Expired));
    }
    if row.used || !tx.mark_refresh_token_used(row.id, now).await? {
        return refuse_reuse(tx, row.session, now).await;
    }
    let successor = RefreshToken::generate().map_err(IdentityError::Randomness)?;
    let expires_at = now.plus_secs(i64::from(identity.config.refresh_token_ttl_secs));
    tx.insert_refresh_token(row.session, &successor.hash(), now, expires_at)
        .await?;
    tx.commit().await?;
    tracing::debug!(session_id = %row.session, "refresh token rotated");
    token_pair(
        identity,
        row.subject,
        row.session,
        (successor, expires_at),
        now,
    )
}

/// Revokes the session of a reused refresh token and commits that before refusing, so the
/// revocation stands whatever the caller does next.
async fn refuse_reuse(
    mut tx: IdentityTx,
    session: SessionId,
    now: Timestamp,
) -> Result<TokenPair, IdentityError> {
    tx.revoke_session(session, RevokeReason::RefreshTokenReused, now)
        .await?;
    tx.commit().await?;
    tracing::warn!(
        session_id = %session,
        "a used refresh token was presented again; its session was revoked"
    );
    Err(IdentityError::InvalidRefreshToken(RefreshRefusal::Reused))
}

pub(super) async fn authenticate(
    identity: &Identity,
    access_token: &str,
) -> Result<Principal, IdentityError> {
    let now = identity.clock.now();
    let claims =
        token::decode(access_token, &verification_secrets(identity), now).map_err(refuse_token)?;
    let state = identity
        .store
        .session_state(claims.session)
        .await?
        .filter(|state| state.subject == claims.subject)
        .ok_or_else(|| refuse_token(TokenRefusal::UnknownSession))?;
    if state.revoked {
        return Err(refuse_token(TokenRefusal::SessionRevoked));
    }
    match (claims.subject, state.staff) {
        (Subject::Customer(id), _) => Ok(Principal::Customer {
            id,
            session: claims.session,
        }),
        (Subject::Staff(id), Some((role, false))) => Ok(Principal::Staff {
            id,
            role,
            session: claims.session,
        }),
        (Subject::Staff(_), Some((_, true))) => Err(refuse_token(TokenRefusal::StaffDisabled)),
        (Subject::Staff(_), None) => Err(refuse_token(TokenRefusal::UnknownSession)),
    }
}

pub(super) async fn sign_out(identity: &Identity, session: SessionId) -> Result<(), IdentityError> {
    let mut tx = identity.store.begin().await?;
    let now = identity.clock.now();
    let ended = tx
        .revoke_session(session, RevokeReason::SignedOut, now)
        .await?;
    tx.commit().await?;
    if ended {
        tracing::info!(session_id = %session, "signed out");
    }
    Ok(())
}

pub(super) async fn sign_out_everywhere(
    identity: &Identity,
    subject: Subject,
) -> Result<u64, IdentityError> {
    let mut tx = identity.store.begin().await?;
    let now = identity.clock.now();
    let ended = tx
        .revoke_sessions_of(subject, RevokeReason::SignedOutEverywhere, now)
        .await?;
    tx.commit().await?;
    tracing::info!(subject = %subject, sessions = ended, "signed out everywhere");
    Ok(ended)
}

/// The current secret, then the previous one during a rotation.
fn verification_secrets(identity: &Identity) -> Vec<&JwtSecret> {
    std::iter::once(&identity.config.jwt_secret)
        .chain(identity.config.jwt_previous_secret.as_ref())
        .collect()
}

fn refuse_token(reason: TokenRefusal) -> IdentityError {
    tracing::debug!(?reason, "access token refused");
    IdentityError::InvalidToken(reason)
}

fn refuse_refresh(reason: RefreshRefusal) -> IdentityError {
    tracing::debug!(?reason, "refresh token refused");
    IdentityError::InvalidRefreshToken(reason)
}
