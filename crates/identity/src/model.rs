//! Identity's domain types: accounts ([`Customer`], [`StaffMember`]), who is calling
//! ([`Principal`], [`Subject`]), what a sign-in hands out ([`TokenPair`]) and the staff audit
//! log ([`AuditRecord`], [`AuditEntry`]).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use kassa_kernel::ids::{AuditEntryId, CustomerId, SessionId, StaffId};
use kassa_kernel::{Email, Timestamp};

use crate::permissions::Role;
use crate::token::{AccessToken, RefreshToken};

/// Whose account: stored as `customer` or `staff` in sessions, and sent as the `kind` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubjectKind {
    Customer,
    Staff,
}

impl SubjectKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            SubjectKind::Customer => "customer",
            SubjectKind::Staff => "staff",
        }
    }
}

/// Why a string is not a subject kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a subject kind; expected customer or staff")]
pub struct SubjectKindParseError;

impl FromStr for SubjectKind {
    type Err = SubjectKindParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "customer" => Ok(SubjectKind::Customer),
            "staff" => Ok(SubjectKind::Staff),
            _ => Err(SubjectKindParseError),
        }
    }
}

/// An account that can sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    Customer(CustomerId),
    Staff(StaffId),
}

impl Subject {
    pub fn kind(&self) -> SubjectKind {
        match self {
            Subject::Customer(_) => SubjectKind::Customer,
            Subject::Staff(_) => SubjectKind::Staff,
        }
    }

    /// The prefixed id, as stored and as the `sub` claim.
    pub fn id_string(&self) -> String {
        match self {
            Subject::Customer(id) => id.to_string(),
            Subject::Staff(id) => id.to_string(),
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id_string())
    }
}

/// Who made a request, as [`crate::IdentityService::authenticate`] established it from an
/// access token and the store: the session is live and, for staff, the role is the current
/// one and the account is not disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    Customer {
        id: CustomerId,
        session: SessionId,
    },
    Staff {
        id: StaffId,
        role: Role,
        session: SessionId,
    },
}

impl Principal {
    pub fn subject(&self) -> Subject {
        match self {
            Principal::Customer { id, .. } => Subject::Customer(*id),
            Principal::Staff { id, .. } => Subject::Staff(*id),
        }
    }

    /// The session to end on sign-out.
    pub fn session(&self) -> SessionId {
        match self {
            Principal::Customer { session, .. } | Principal::Staff { session, .. } => *session,
        }
    }
}

/// A customer account. The email is stored and compared with ASCII letters lower-cased, so
/// `Jane@example.com` and `jane@example.com` are one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: CustomerId,
    pub email: Email,
    pub created_at: Timestamp,
    pub password_changed_at: Timestamp,
}

/// A staff account. Staff are never deleted, only disabled, so the audit log can always name
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffMember {
    pub id: StaffId,
    /// Lower-cased like a customer's.
    pub email: Email,
    pub role: Role,
    pub created_at: Timestamp,
    pub password_changed_at: Timestamp,
    /// Set once; a disabled member cannot sign in and its sessions were revoked.
    pub disabled_at: Option<Timestamp>,
}

impl StaffMember {
    pub fn is_active(&self) -> bool {
        self.disabled_at.is_none()
    }
}

/// Where a request came from, as the HTTP layer determined it (peer address or a trusted
/// proxy's header). Used for the per-address throttles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientInfo {
    pub addr: IpAddr,
}

/// What a successful sign-in or refresh hands the client. The access token goes in
/// `Authorization: Bearer` until `access_expires_at`; the refresh token, used once, gets the
/// next pair.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: AccessToken,
    pub access_expires_at: Timestamp,
    pub refresh_token: RefreshToken,
    pub refresh_expires_at: Timestamp,
    pub session_id: SessionId,
}

/// The result of a registration. It deliberately says nothing: a new email and one already
/// registered give the same outcome, so the HTTP layer cannot reveal which it was (it answers
/// 202 either way). A later notification issue can tell the mailbox's owner by email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegisterOutcome {}

/// Why a session ended, stored in `identity_sessions.revoked_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    SignedOut,
    SignedOutEverywhere,
    PasswordChanged,
    /// A used refresh token was presented again: someone else may hold the session.
    RefreshTokenReused,
    StaffDisabled,
}

impl RevokeReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            RevokeReason::SignedOut => "signed_out",
            RevokeReason::SignedOutEverywhere => "signed_out_everywhere",
            RevokeReason::PasswordChanged => "password_changed",
            RevokeReason::RefreshTokenReused => "refresh_token_reused",
            RevokeReason::StaffDisabled => "staff_disabled",
        }
    }
}

/// Longest action name kept, in characters; longer ones are cut (an audit entry is never
/// refused for its length).
pub const AUDIT_ACTION_LEN_MAX: usize = 64;
/// Longest resource kept, in characters: room for a route path with two ids.
pub const AUDIT_RESOURCE_LEN_MAX: usize = 256;
/// Longest request id kept, in characters.
pub const AUDIT_REQUEST_ID_LEN_MAX: usize = 128;
/// Most entries one page of the audit log holds; larger requests get this many.
pub const AUDIT_PAGE_MAX: u32 = 100;

/// A staff action that changed something, to record. The HTTP layer records one for every
/// admin request that changes state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Who: the acting staff member.
    pub staff: StaffId,
    /// What, as a stable dotted name such as `product.update` or `staff.disable`.
    pub action: String,
    /// Which resource, such as `prod_0191…` or the route path.
    pub resource: String,
    /// From where, when known.
    pub client_addr: Option<IpAddr>,
    /// The request id, to find the request's log lines.
    pub request_id: Option<String>,
}

/// A recorded staff action; `at` is when it was recorded, by the injected clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: AuditEntryId,
    pub staff: StaffId,
    pub action: String,
    pub resource: String,
    pub at: Timestamp,
    pub client_addr: Option<IpAddr>,
    pub request_id: Option<String>,
}

/// One page of the audit log, newest first. `after` is the `next_cursor` of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditQuery {
    pub after: Option<AuditEntryId>,
    /// 1 to [`AUDIT_PAGE_MAX`]; 0 counts as 1 and larger values as the maximum.
    pub limit: u32,
}

/// Entries newest first (by time recorded, then id); `next_cursor` is set when older entries
/// remain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    pub next_cursor: Option<AuditEntryId>,
}

/// The first `max` characters of `text`.
pub(crate) fn truncate_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn subject_kinds_round_trip_as_text() {
        for kind in [SubjectKind::Customer, SubjectKind::Staff] {
            assert_eq!(kind.as_str().parse::<SubjectKind>(), Ok(kind));
        }
        assert!("admin".parse::<SubjectKind>().is_err());
    }

    #[test]
    fn a_principal_names_its_subject_and_session() {
        let id = StaffId::new();
        let session = SessionId::new();
        let principal = Principal::Staff {
            id,
            role: Role::Manager,
            session,
        };
        assert_eq!(principal.subject(), Subject::Staff(id));
        assert_eq!(principal.session(), session);
        assert_eq!(principal.subject().id_string(), id.to_string());
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate_chars("ääää", 2), "ää");
        assert_eq!(truncate_chars("ab", 5), "ab");
    }
}
