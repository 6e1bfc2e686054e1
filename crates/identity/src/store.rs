//! Every SQL statement of identity: reads on [`IdentityStore`] here, writes inside one service
//! call's transaction on an [`IdentityTx`] (`store/write.rs`), and the throttle counters, each
//! hit its own short transaction (`store/throttle.rs`).
//!
//! The SQL is the common dialect of SQLite and PostgreSQL (`$n` markers, `ON CONFLICT`,
//! `RETURNING`, no server clock): ids, emails, roles and kinds are TEXT, times BIGINT
//! milliseconds. Emails are stored with ASCII letters lower-cased (`email_key`), and the
//! UNIQUE constraint on that column is what makes one account per email. The row functions at
//! the end turn rows back into model types, re-validating them; anything that does not parse
//! is corrupt data.

mod throttle;
mod write;

use std::net::IpAddr;

use kassa_db::{row, Db, DbError, Sql};
use kassa_kernel::ids::{AuditEntryId, CustomerId, SessionId, StaffId};
use kassa_kernel::{Email, Timestamp};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::migrations::MIGRATIONS;
use crate::model::{AuditEntry, Customer, StaffMember, Subject, SubjectKind};
use crate::password::HashedPassword;
use crate::permissions::Role;

pub use write::IdentityTx;

/// Identity's tables, reached through its own district [`Db`].
#[derive(Clone)]
pub struct IdentityStore {
    db: Db,
}

/// What authenticating a session needs to know about it, read in one statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionState {
    pub subject: Subject,
    pub revoked: bool,
    /// For a staff session: the member's current role and whether it is disabled.
    pub staff: Option<(Role, bool)>,
}

const CUSTOMER_COLUMNS: &str = "id, email, created_at_ms, password_changed_at_ms";
const STAFF_COLUMNS: &str =
    "id, email, role, created_at_ms, password_changed_at_ms, disabled_at_ms";
const AUDIT_COLUMNS: &str = "id, staff_id, action, resource, at_ms, client_addr, request_id";

impl IdentityStore {
    pub fn new(db: Db) -> Self {
        IdentityStore { db }
    }

    /// Applies identity's migrations that have not run yet.
    pub async fn migrate(&self) -> Result<(), DbError> {
        self.db.migrate(MIGRATIONS).await
    }

    /// Starts the write transaction of one service call.
    pub async fn begin(&self) -> Result<IdentityTx, DbError> {
        Ok(IdentityTx::new(self.db.begin().await?))
    }

    pub(crate) async fn customer(&self, id: CustomerId) -> Result<Option<Customer>, DbError> {
        let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM identity_customers WHERE id = $1");
        let row = kassa_db::query(&sql)
            .bind(id.to_string())
            .fetch_optional(self.db.reader())
            .await?;
        row.as_ref().map(customer_from_row).transpose()
    }

    /// The customer with this email (compared ignoring ASCII case) and its password hash.
    pub(crate) async fn customer_credentials(
        &self,
        email: &Email,
    ) -> Result<Option<(Customer, HashedPassword)>, DbError> {
        let sql = format!(
            "SELECT {CUSTOMER_COLUMNS}, password_hash FROM identity_customers WHERE email = $1"
        );
        let row = kassa_db::query(&sql)
            .bind(email_key(email))
            .fetch_optional(self.db.reader())
            .await?;
        row.as_ref()
            .map(|row| Ok((customer_from_row(row)?, password_hash(row)?)))
            .transpose()
    }

    pub(crate) async fn staff(&self, id: StaffId) -> Result<Option<StaffMember>, DbError> {
        let sql = format!("SELECT {STAFF_COLUMNS} FROM identity_staff WHERE id = $1");
        let row = kassa_db::query(&sql)
            .bind(id.to_string())
            .fetch_optional(self.db.reader())
            .await?;
        row.as_ref().map(staff_from_row).transpose()
    }

    /// The staff member with this email (compared ignoring ASCII case) and its password hash.
    pub(crate) async fn staff_credentials(
        &self,
        email: &Email,
    ) -> Result<Option<(StaffMember, HashedPassword)>, DbError> {
        let sql =
            format!("SELECT {STAFF_COLUMNS}, password_hash FROM identity_staff WHERE email = $1");
        let row = kassa_db::query(&sql)
            .bind(email_key(email))
            .fetch_optional(self.db.reader())
            .await?;
        row.as_ref()
            .map(|row| Ok((staff_from_row(row)?, password_hash(row)?)))
            .transpose()
    }

    /// The email and password hash of an account, for a password change.
    pub(crate) async fn credentials_of(
        &self,
        subject: Subject,
    ) -> Result<Option<(Email, HashedPassword)>, DbError> {
        let sql = format!(
            "SELECT email, password_hash FROM {} WHERE id = $1",
            account_table(subject.kind())
        );
        let row = kassa_db::query(&sql)
            .bind(subject.id_string())
            .fetch_optional(self.db.reader())
            .await?;
        row.as_ref()
            .map(|row| Ok((row::parse(row, "email")?, password_hash(row)?)))
            .transpose()
    }

    /// Every staff member, oldest first.
    pub(crate) async fn staff_list(&self) -> Result<Vec<StaffMember>, DbError> {
        let sql = format!("SELECT {STAFF_COLUMNS} FROM identity_staff ORDER BY created_at_ms, id");
        let rows = kassa_db::query(&sql).fetch_all(self.db.reader()).await?;
        rows.iter().map(staff_from_row).collect()
    }

    /// The session with, for staff, the member's current role and status: one statement on
    /// every authenticated request.
    pub(crate) async fn session_state(
        &self,
        id: SessionId,
    ) -> Result<Option<SessionState>, DbError> {
        let row = kassa_db::query(
            "SELECT s.subject_kind, s.subject_id, s.revoked_at_ms, st.role, st.disabled_at_ms \
             FROM identity_sessions s \
             LEFT JOIN identity_staff st ON s.subject_kind = 'staff' AND st.id = s.subject_id \
             WHERE s.id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(self.db.reader())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let subject = subject_from_row(&row)?;
        let revoked: Option<i64> = row.try_get("revoked_at_ms")?;
        let role: Option<Role> = row::parse_opt(&row, "role")?;
        let disabled_at: Option<i64> = row.try_get("disabled_at_ms")?;
        Ok(Some(SessionState {
            subject,
            revoked: revoked.is_some(),
            staff: role.map(|role| (role, disabled_at.is_some())),
        }))
    }

    /// Up to `limit` entries, newest first (by `at_ms`, then id), older than the entry `after`
    /// when given. An unknown `after` gives an empty page.
    pub(crate) async fn audit_page(
        &self,
        after: Option<AuditEntryId>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, DbError> {
        let mut conn = self.db.reader().acquire().await?;
        let mut sql = Sql::new(&format!("SELECT {AUDIT_COLUMNS} FROM identity_audit_log"));
        if let Some(after) = after {
            let cursor = kassa_db::query("SELECT at_ms FROM identity_audit_log WHERE id = $1")
                .bind(after.to_string())
                .fetch_optional(&mut conn)
                .await?;
            let Some(cursor) = cursor else {
                return Ok(Vec::new());
            };
            let at_ms = row::int(&cursor, "at_ms")?;
            sql.push(" WHERE at_ms < ")
                .bind(at_ms)
                .push(" OR (at_ms = ")
                .bind(at_ms)
                .push(" AND id < ")
                .bind(after.to_string())
                .push(")");
        }
        sql.push(" ORDER BY at_ms DESC, id DESC LIMIT ")
            .bind(i64::from(limit));
        let rows = sql.build()?.fetch_all(&mut conn).await?;
        rows.iter().map(audit_from_row).collect()
    }
}

/// How an email is stored and compared: ASCII letters lower-cased. The domain is lower-cased
/// already; lower-casing the local part too means `Jane@` and `jane@` are one account, as
/// every mail provider in practice treats them. Non-ASCII letters are kept as given, so the
/// stored form is always as long as the parsed one and re-parses.
pub(crate) fn email_key(email: &Email) -> String {
    email.as_str().to_ascii_lowercase()
}

pub(crate) fn account_table(kind: SubjectKind) -> &'static str {
    match kind {
        SubjectKind::Customer => "identity_customers",
        SubjectKind::Staff => "identity_staff",
    }
}

fn timestamp(row: &AnyRow, column: &str) -> Result<Timestamp, DbError> {
    Ok(Timestamp::from_millis(row::int(row, column)?))
}

fn timestamp_opt(row: &AnyRow, column: &str) -> Result<Option<Timestamp>, DbError> {
    let millis: Option<i64> = row.try_get(column)?;
    Ok(millis.map(Timestamp::from_millis))
}

fn password_hash(row: &AnyRow) -> Result<HashedPassword, DbError> {
    HashedPassword::from_stored(row::text(row, "password_hash")?).ok_or_else(|| {
        DbError::Corrupt("column password_hash: not a PHC password hash string".to_owned())
    })
}

fn subject_from_row(row: &AnyRow) -> Result<Subject, DbError> {
    let kind: SubjectKind = row::parse(row, "subject_kind")?;
    Ok(match kind {
        SubjectKind::Customer => Subject::Customer(row::parse(row, "subject_id")?),
        SubjectKind::Staff => Subject::Staff(row::parse(row, "subject_id")?),
    })
}

fn customer_from_row(row: &AnyRow) -> Result<Customer, DbError> {
    Ok(Customer {
        id: row::parse(row, "id")?,
        email: row::parse(row, "email")?,
        created_at: timestamp(row, "created_at_ms")?,
        password_changed_at: timestamp(row, "password_changed_at_ms")?,
    })
}

fn staff_from_row(row: &AnyRow) -> Result<StaffMember, DbError> {
    Ok(StaffMember {
        id: row::parse(row, "id")?,
        email: row::parse(row, "email")?,
        role: row::parse(row, "role")?,
        created_at: timestamp(row, "created_at_ms")?,
        password_changed_at: timestamp(row, "password_changed_at_ms")?,
        disabled_at: timestamp_opt(row, "disabled_at_ms")?,
    })
}

fn audit_from_row(row: &AnyRow) -> Result<AuditEntry, DbError> {
    Ok(AuditEntry {
        id: row::parse(row, "id")?,
        staff: row::parse(row, "staff_id")?,
        action: row::text(row, "action")?,
        resource: row::text(row, "resource")?,
        at: timestamp(row, "at_ms")?,
        client_addr: row::parse_opt::<IpAddr>(row, "client_addr")?,
        request_id: row::text_opt(row, "request_id")?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn email_keys_lower_case_ascii_letters_only() {
        let email = Email::parse("Jane.DOE@Example.com").unwrap();
        assert_eq!(email_key(&email), "jane.doe@example.com");
        let accented = Email::parse("ÉLODIE@example.com").unwrap();
        assert_eq!(email_key(&accented), "Élodie@example.com");
    }
}
