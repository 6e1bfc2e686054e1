//! [`FakeIdentity`]: three fixed access tokens (an owner, a support member, a customer), and a
//! record of the audit entries the audit layer writes. Sign-ins, registration and password
//! changes are refused: they are tested against a real database in `server/tests/api`.

use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use kassa_identity::{
    AuditEntry, AuditPage, AuditQuery, AuditRecord, ClientInfo, Customer, IdentityError,
    IdentityService, Password, Principal, RefreshRefusal, RegisterOutcome, Role, StaffMember,
    Subject, TokenPair, TokenRefusal,
};
use kassa_kernel::ids::{AuditEntryId, CustomerId, SessionId, StaffId};
use kassa_kernel::Email;

use super::now;

/// Authenticates as the owner.
pub const OWNER_TOKEN: &str = "owner-token";
/// Authenticates as a support member.
pub const SUPPORT_TOKEN: &str = "support-token";
/// Authenticates as a customer.
pub const CUSTOMER_TOKEN: &str = "customer-token";

pub struct FakeIdentity {
    pub owner: StaffId,
    pub support: StaffId,
    pub customer: CustomerId,
    /// Every entry `record_audit` was given, in order.
    audits: Mutex<Vec<AuditRecord>>,
}

impl Default for FakeIdentity {
    fn default() -> Self {
        FakeIdentity {
            owner: StaffId::new(),
            support: StaffId::new(),
            customer: CustomerId::new(),
            audits: Mutex::default(),
        }
    }
}

impl FakeIdentity {
    pub fn audits(&self) -> Vec<AuditRecord> {
        self.audits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl IdentityService for FakeIdentity {
    async fn register(
        &self,
        _: Email,
        _: Password,
        _: &ClientInfo,
    ) -> Result<RegisterOutcome, IdentityError> {
        Err(IdentityError::Throttled {
            retry_after_secs: 60,
        })
    }

    async fn sign_in_customer(
        &self,
        _: &Email,
        _: &str,
        _: &ClientInfo,
    ) -> Result<(CustomerId, TokenPair), IdentityError> {
        Err(IdentityError::InvalidCredentials)
    }

    async fn sign_in_staff(
        &self,
        _: &Email,
        _: &str,
        _: &ClientInfo,
    ) -> Result<(StaffMember, TokenPair), IdentityError> {
        Err(IdentityError::InvalidCredentials)
    }

    async fn refresh(&self, _: &str) -> Result<TokenPair, IdentityError> {
        Err(IdentityError::InvalidRefreshToken(RefreshRefusal::Unknown))
    }

    async fn authenticate(&self, access_token: &str) -> Result<Principal, IdentityError> {
        let session = SessionId::new();
        match access_token {
            OWNER_TOKEN => Ok(Principal::Staff {
                id: self.owner,
                role: Role::Owner,
                session,
            }),
            SUPPORT_TOKEN => Ok(Principal::Staff {
                id: self.support,
                role: Role::Support,
                session,
            }),
            CUSTOMER_TOKEN => Ok(Principal::Customer {
                id: self.customer,
                session,
            }),
            _ => Err(IdentityError::InvalidToken(TokenRefusal::Malformed)),
        }
    }

    async fn sign_out(&self, _: SessionId) -> Result<(), IdentityError> {
        Ok(())
    }

    async fn sign_out_everywhere(&self, _: Subject) -> Result<u64, IdentityError> {
        Ok(1)
    }

    async fn change_password(&self, _: Subject, _: &str, _: Password) -> Result<(), IdentityError> {
        Err(IdentityError::InvalidCredentials)
    }

    async fn customer(&self, id: CustomerId) -> Result<Customer, IdentityError> {
        Err(IdentityError::CustomerNotFound(id))
    }

    async fn create_staff(
        &self,
        _: Email,
        _: Password,
        _: Role,
    ) -> Result<StaffMember, IdentityError> {
        Err(IdentityError::EmailTaken)
    }

    async fn staff_member(&self, id: StaffId) -> Result<StaffMember, IdentityError> {
        Err(IdentityError::StaffNotFound(id))
    }

    async fn staff_list(&self) -> Result<Vec<StaffMember>, IdentityError> {
        Ok(Vec::new())
    }

    async fn set_staff_role(&self, id: StaffId, _: Role) -> Result<StaffMember, IdentityError> {
        Err(IdentityError::StaffNotFound(id))
    }

    async fn disable_staff(&self, id: StaffId) -> Result<StaffMember, IdentityError> {
        Err(IdentityError::StaffNotFound(id))
    }

    async fn record_audit(&self, record: AuditRecord) -> Result<AuditEntry, IdentityError> {
        let entry = AuditEntry {
            id: AuditEntryId::new(),
            staff: record.staff,
            action: record.action.clone(),
            resource: record.resource.clone(),
            at: now(),
            client_addr: record.client_addr,
            request_id: record.request_id.clone(),
        };
        self.audits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record);
        Ok(entry)
    }

    async fn audit_log(&self, _: AuditQuery) -> Result<AuditPage, IdentityError> {
        Ok(AuditPage {
            items: Vec::new(),
            next_cursor: None,
        })
    }

    async fn purge_expired_throttle_windows(&self) -> Result<u64, IdentityError> {
        Ok(0)
    }
}
