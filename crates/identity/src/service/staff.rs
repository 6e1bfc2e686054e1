//! Staff accounts and the audit log. Every role change and disabling starts by locking the
//! active owners' rows ([`crate::store::IdentityTx`]'s `lock_active_owners`), so two at once
//! cannot together leave the shop without an owner.

use kassa_kernel::ids::{AuditEntryId, StaffId};
use kassa_kernel::Email;

use super::accounts::normalised;
use super::Identity;
use crate::error::PasswordField;
use crate::model::{
    truncate_chars, AuditEntry, AuditPage, AuditQuery, AuditRecord, RevokeReason, StaffMember,
    Subject, AUDIT_ACTION_LEN_MAX, AUDIT_PAGE_MAX, AUDIT_REQUEST_ID_LEN_MAX,
    AUDIT_RESOURCE_LEN_MAX,
};
use crate::password::Password;
use crate::permissions::Role;
use crate::IdentityError;

pub(super) async fn create_staff(
    identity: &Identity,
    email: Email,
    password: Password,
    role: Role,
) -> Result<StaffMember, IdentityError> {
    password
        .check_email(&email)
        .map_err(|reason| reason.for_field(PasswordField::Password))?;
    let hash = identity.passwords.hash(&password).await?;
    let now = identity.clock.now();
    let staff = StaffMember {
        id: StaffId::new(),
        email: normalised(&email),
        role,
        created_at: now,
        password_changed_at: now,
        disabled_at: None,
    };
    let mut tx = identity.store.begin().await?;
    match tx.insert_staff(&staff, &hash).await {
        Err(err) if err.is_unique_violation() => return Err(IdentityError::EmailTaken),
        other => other?,
    }
    tx.commit().await?;
    tracing::info!(staff_id = %staff.id, role = %role, "staff member created");
    Ok(staff)
}

pub(super) async fn set_staff_role(
    identity: &Identity,
    id: StaffId,
    role: Role,
) -> Result<StaffMember, IdentityError> {
    let mut tx = identity.store.begin().await?;
    let owners = tx.lock_active_owners().await?;
    let member = tx
        .staff(id)
        .await?
        .ok_or(IdentityError::StaffNotFound(id))?;
    if member.role == role {
        return Ok(member);
    }
    if is_last_owner(&member, &owners) {
        return Err(IdentityError::LastOwner);
    }
    let updated = tx
        .set_staff_role(id, role)
        .await?
        .ok_or(IdentityError::StaffNotFound(id))?;
    tx.commit().await?;
    tracing::info!(staff_id = %id, from = %member.role, to = %role, "staff role changed");
    Ok(updated)
}

pub(super) async fn disable_staff(
    identity: &Identity,
    id: StaffId,
) -> Result<StaffMember, IdentityError> {
    let now = identity.clock.now();
    let mut tx = identity.store.begin().await?;
    let owners = tx.lock_active_owners().await?;
    let member = tx
        .staff(id)
        .await?
        .ok_or(IdentityError::StaffNotFound(id))?;
    if !member.is_active() {
        return Ok(member);
    }
    if is_last_owner(&member, &owners) {
        return Err(IdentityError::LastOwner);
    }
    let disabled = tx
        .disable_staff(id, now)
        .await?
        .ok_or(IdentityError::StaffNotFound(id))?;
    let ended = tx
        .revoke_sessions_of(Subject::Staff(id), RevokeReason::StaffDisabled, now)
        .await?;
    tx.commit().await?;
    tracing::info!(staff_id = %id, sessions = ended, "staff member disabled");
    Ok(disabled)
}

/// Whether `member` is the only one among the active owners (locked by the caller).
fn is_last_owner(member: &StaffMember, active_owners: &[StaffId]) -> bool {
    member.role == Role::Owner
        && member.is_active()
        && active_owners.iter().all(|owner| *owner == member.id)
}

pub(super) async fn record_audit(
    identity: &Identity,
    record: AuditRecord,
) -> Result<AuditEntry, IdentityError> {
    let entry = AuditEntry {
        id: AuditEntryId::new(),
        staff: record.staff,
        action: truncate_chars(&record.action, AUDIT_ACTION_LEN_MAX),
        resource: truncate_chars(&record.resource, AUDIT_RESOURCE_LEN_MAX),
        at: identity.clock.now(),
        client_addr: record.client_addr,
        request_id: record
            .request_id
            .map(|id| truncate_chars(&id, AUDIT_REQUEST_ID_LEN_MAX)),
    };
    let mut tx = identity.store.begin().await?;
    match tx.insert_audit(&entry).await {
        Err(err) if err.is_foreign_key_violation() => {
            return Err(IdentityError::StaffNotFound(record.staff))
        }
        other => other?,
    }
    tx.commit().await?;
    Ok(entry)
}

/// One page, newest first; one more entry than asked for is read to know whether another
/// page follows.
pub(super) async fn audit_log(
    identity: &Identity,
    query: AuditQuery,
) -> Result<AuditPage, IdentityError> {
    let limit = query.limit.clamp(1, AUDIT_PAGE_MAX);
    let mut items = identity.store.audit_page(query.after, limit + 1).await?;
    let page_len = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = items.len() > page_len;
    items.truncate(page_len);
    let next_cursor = if more {
        items.last().map(|entry| entry.id)
    } else {
        None
    };
    Ok(AuditPage { items, next_cursor })
}
