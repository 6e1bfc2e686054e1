//! Writes, inside the one transaction of a service call. Constraint violations are mapped by
//! the service where they can happen: a unique violation on `identity_staff.email` is
//! `email_taken`, a foreign key violation on `identity_audit_log.staff_id` is
//! `staff_not_found`. Customer registration never raises one: it inserts with `ON CONFLICT
//! DO NOTHING`, so an existing email is not an error anyone could observe.

use kassa_db::{row, DbError, Tx};
use kassa_kernel::ids::{RefreshTokenId, SessionId, StaffId};
use kassa_kernel::Timestamp;
use sqlx::Row;

use super::{account_table, email_key, staff_from_row, subject_from_row, STAFF_COLUMNS};
use crate::model::{AuditEntry, Customer, RevokeReason, StaffMember, Subject};
use crate::password::HashedPassword;
use crate::permissions::Role;
use crate::token::TokenHash;

/// One write transaction. Dropping it without [`IdentityTx::commit`] rolls everything back.
pub struct IdentityTx {
    pub(super) tx: Tx,
}

/// A refresh token with what rotating it needs to know about its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RefreshTokenRow {
    pub id: RefreshTokenId,
    pub session: SessionId,
    pub subject: Subject,
    pub expires_at: Timestamp,
    pub used: bool,
    pub session_revoked: bool,
}

impl IdentityTx {
    pub(super) fn new(tx: Tx) -> Self {
        IdentityTx { tx }
    }

    pub async fn commit(self) -> Result<(), DbError> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Inserts the customer unless its email is taken; true if it was inserted. The statement
    /// is the same either way, so it costs the same.
    pub(crate) async fn insert_customer(
        &mut self,
        customer: &Customer,
        hash: &HashedPassword,
    ) -> Result<bool, DbError> {
        let row = kassa_db::query(
            "INSERT INTO identity_customers \
             (id, email, password_hash, created_at_ms, password_changed_at_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (email) DO NOTHING RETURNING id",
        )
        .bind(customer.id.to_string())
        .bind(email_key(&customer.email))
        .bind(hash.as_str().to_owned())
        .bind(customer.created_at.millis())
        .bind(customer.password_changed_at.millis())
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(row.is_some())
    }

    /// Fails with a unique violation if the email is taken.
    pub(crate) async fn insert_staff(
        &mut self,
        staff: &StaffMember,
        hash: &HashedPassword,
    ) -> Result<(), DbError> {
        kassa_db::query(
            "INSERT INTO identity_staff \
             (id, email, password_hash, role, created_at_ms, password_changed_at_ms, \
             disabled_at_ms) VALUES ($1, $2, $3, $4, $5, $6, NULL)",
        )
        .bind(staff.id.to_string())
        .bind(email_key(&staff.email))
        .bind(hash.as_str().to_owned())
        .bind(staff.role.as_str())
        .bind(staff.created_at.millis())
        .bind(staff.password_changed_at.millis())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub(crate) async fn insert_session(
        &mut self,
        id: SessionId,
        subject: Subject,
        now: Timestamp,
    ) -> Result<(), DbError> {
        kassa_db::query(
            "INSERT INTO identity_sessions \
             (id, subject_kind, subject_id, created_at_ms, revoked_at_ms, revoked_reason) \
             VALUES ($1, $2, $3, $4, NULL, NULL)",
        )
        .bind(id.to_string())
        .bind(subject.kind().as_str())
        .bind(subject.id_string())
        .bind(now.millis())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub(crate) async fn insert_refresh_token(
        &mut self,
        session: SessionId,
        hash: &TokenHash,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<RefreshTokenId, DbError> {
        let id = RefreshTokenId::new();
        kassa_db::query(
            "INSERT INTO identity_refresh_tokens \
             (id, session_id, token_hash, created_at_ms, expires_at_ms, used_at_ms) \
             VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(id.to_string())
        .bind(session.to_string())
        .bind(hash.as_str().to_owned())
        .bind(now.millis())
        .bind(expires_at.millis())
        .execute(&mut *self.tx)
        .await?;
        Ok(id)
    }

    pub(crate) async fn refresh_token(
        &mut self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshTokenRow>, DbError> {
        let row = kassa_db::query(
            "SELECT t.id, t.session_id, t.expires_at_ms, t.used_at_ms, \
             s.subject_kind, s.subject_id, s.revoked_at_ms \
             FROM identity_refresh_tokens t \
             JOIN identity_sessions s ON s.id = t.session_id \
             WHERE t.token_hash = $1",
        )
        .bind(hash.as_str().to_owned())
        .fetch_optional(&mut *self.tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let used_at: Option<i64> = row.try_get("used_at_ms")?;
        let revoked_at: Option<i64> = row.try_get("revoked_at_ms")?;
        Ok(Some(RefreshTokenRow {
            id: row::parse(&row, "id")?,
            session: row::parse(&row, "session_id")?,
            subject: subject_from_row(&row)?,
            expires_at: Timestamp::from_millis(row::int(&row, "expires_at_ms")?),
            used: used_at.is_some(),
            session_revoked: revoked_at.is_some(),
        }))
    }

    /// Marks the token used if nobody has yet; false if a concurrent call got there first.
    /// On PostgreSQL the second of two racing updates waits for the first to commit, then
    /// finds `used_at_ms` set and updates nothing; SQLite runs them one after the other.
    pub(crate) async fn mark_refresh_token_used(
        &mut self,
        id: RefreshTokenId,
        now: Timestamp,
    ) -> Result<bool, DbError> {
        let done = kassa_db::query(
            "UPDATE identity_refresh_tokens SET used_at_ms = $1 \
             WHERE id = $2 AND used_at_ms IS NULL",
        )
        .bind(now.millis())
        .bind(id.to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends a live session; true if it was live. An ended session keeps its first reason.
    pub(crate) async fn revoke_session(
        &mut self,
        id: SessionId,
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<bool, DbError> {
        let done = kassa_db::query(
            "UPDATE identity_sessions SET revoked_at_ms = $1, revoked_reason = $2 \
             WHERE id = $3 AND revoked_at_ms IS NULL",
        )
        .bind(now.millis())
        .bind(reason.as_str())
        .bind(id.to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends every live session of `subject`; returns how many.
    pub(crate) async fn revoke_sessions_of(
        &mut self,
        subject: Subject,
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<u64, DbError> {
        let done = kassa_db::query(
            "UPDATE identity_sessions SET revoked_at_ms = $1, revoked_reason = $2 \
             WHERE subject_kind = $3 AND subject_id = $4 AND revoked_at_ms IS NULL",
        )
        .bind(now.millis())
        .bind(reason.as_str())
        .bind(subject.kind().as_str())
        .bind(subject.id_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected())
    }

    /// Replaces an account's password hash; false if there is no such account.
    pub(crate) async fn set_password(
        &mut self,
        subject: Subject,
        hash: &HashedPassword,
        now: Timestamp,
    ) -> Result<bool, DbError> {
        let sql = format!(
            "UPDATE {} SET password_hash = $1, password_changed_at_ms = $2 WHERE id = $3",
            account_table(subject.kind())
        );
        let done = kassa_db::query(&sql)
            .bind(hash.as_str().to_owned())
            .bind(now.millis())
            .bind(subject.id_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Locks the rows of every active owner and returns their ids: the first statement of a
    /// role change or a disabling, so two of them cannot each see another owner and together
    /// leave none. A no-op update takes the row locks on PostgreSQL (a concurrent one waits,
    /// then re-reads the rows and no longer sees an owner the first demoted); SQLite has one
    /// writer anyway.
    pub(crate) async fn lock_active_owners(&mut self) -> Result<Vec<StaffId>, DbError> {
        let rows = kassa_db::query(
            "UPDATE identity_staff SET role = role \
             WHERE role = 'owner' AND disabled_at_ms IS NULL RETURNING id",
        )
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(|row| row::parse(row, "id")).collect()
    }

    pub(crate) async fn staff(&mut self, id: StaffId) -> Result<Option<StaffMember>, DbError> {
        let sql = format!("SELECT {STAFF_COLUMNS} FROM identity_staff WHERE id = $1");
        let row = kassa_db::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(staff_from_row).transpose()
    }

    pub(crate) async fn set_staff_role(
        &mut self,
        id: StaffId,
        role: Role,
    ) -> Result<Option<StaffMember>, DbError> {
        let sql =
            format!("UPDATE identity_staff SET role = $1 WHERE id = $2 RETURNING {STAFF_COLUMNS}");
        let row = kassa_db::query(&sql)
            .bind(role.as_str())
            .bind(id.to_string())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(staff_from_row).transpose()
    }

    /// Disables an active member; a disabled one keeps its first `disabled_at`.
    pub(crate) async fn disable_staff(
        &mut self,
        id: StaffId,
        now: Timestamp,
    ) -> Result<Option<StaffMember>, DbError> {
        let sql = format!(
            "UPDATE identity_staff SET disabled_at_ms = $1 \
             WHERE id = $2 AND disabled_at_ms IS NULL RETURNING {STAFF_COLUMNS}"
        );
        let row = kassa_db::query(&sql)
            .bind(now.millis())
            .bind(id.to_string())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(staff_from_row).transpose()
    }

    /// Fails with a foreign key violation if the staff member does not exist.
    pub(crate) async fn insert_audit(&mut self, entry: &AuditEntry) -> Result<(), DbError> {
        kassa_db::query(
            "INSERT INTO identity_audit_log \
             (id, staff_id, action, resource, at_ms, client_addr, request_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(entry.id.to_string())
        .bind(entry.staff.to_string())
        .bind(entry.action.clone())
        .bind(entry.resource.clone())
        .bind(entry.at.millis())
        .bind(entry.client_addr.map(|addr| addr.to_string()))
        .bind(entry.request_id.clone())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
