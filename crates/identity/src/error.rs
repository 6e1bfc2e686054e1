//! `IdentityError` and identity's entries in the problem registry.
//!
//! Messages are shown to clients as the problem `detail`, so they never say more than the
//! client may know: a wrong password and an unknown email are the same `invalid_credentials`,
//! and every reason an access token is refused (expired, tampered, wrong algorithm, wrong key,
//! revoked session) is the same `invalid_token`. The precise reason travels inside the variant
//! ([`TokenRefusal`], [`RefreshRefusal`]) for tests and for debug logs only.

use kassa_db::DbError;
use kassa_kernel::ids::{CustomerId, StaffId};
use kassa_kernel::{DomainError, ErrorCategory, ProblemType};

use crate::password::WeakPassword;
use crate::permissions::Permission;
use crate::token::SigningError;

pub const INVALID_CREDENTIALS: ProblemType = ProblemType::new(
    "invalid_credentials",
    "Invalid credentials",
    ErrorCategory::Unauthorized,
);
pub const INVALID_TOKEN: ProblemType = ProblemType::new(
    "invalid_token",
    "Invalid access token",
    ErrorCategory::Unauthorized,
);
pub const INVALID_REFRESH_TOKEN: ProblemType = ProblemType::new(
    "invalid_refresh_token",
    "Invalid refresh token",
    ErrorCategory::Unauthorized,
);
pub const THROTTLED: ProblemType = ProblemType::new(
    "throttled",
    "Too many attempts",
    ErrorCategory::TooManyRequests,
);
pub const WEAK_PASSWORD: ProblemType =
    ProblemType::new("weak_password", "Weak password", ErrorCategory::Invalid);
pub const EMAIL_TAKEN: ProblemType =
    ProblemType::new("email_taken", "Email taken", ErrorCategory::Conflict);
pub const LAST_OWNER: ProblemType =
    ProblemType::new("last_owner", "Last owner", ErrorCategory::Conflict);
pub const STAFF_NOT_FOUND: ProblemType = ProblemType::new(
    "staff_not_found",
    "Staff member not found",
    ErrorCategory::NotFound,
);
pub const CUSTOMER_NOT_FOUND: ProblemType = ProblemType::new(
    "customer_not_found",
    "Customer not found",
    ErrorCategory::NotFound,
);
pub const FORBIDDEN: ProblemType =
    ProblemType::new("forbidden", "Forbidden", ErrorCategory::Forbidden);
pub const IDENTITY_STORAGE_UNAVAILABLE: ProblemType = ProblemType::new(
    "identity_storage_unavailable",
    "Identity storage unavailable",
    ErrorCategory::Unavailable,
);
pub const IDENTITY_STORAGE_ERROR: ProblemType = ProblemType::new(
    "identity_storage_error",
    "Identity storage error",
    ErrorCategory::Internal,
);
pub const IDENTITY_INTERNAL_ERROR: ProblemType = ProblemType::new(
    "identity_internal_error",
    "Identity internal error",
    ErrorCategory::Internal,
);

/// Every problem type identity owns.
pub const PROBLEM_TYPES: &[&ProblemType] = &[
    &INVALID_CREDENTIALS,
    &INVALID_TOKEN,
    &INVALID_REFRESH_TOKEN,
    &THROTTLED,
    &WEAK_PASSWORD,
    &EMAIL_TAKEN,
    &LAST_OWNER,
    &STAFF_NOT_FOUND,
    &CUSTOMER_NOT_FOUND,
    &FORBIDDEN,
    &IDENTITY_STORAGE_UNAVAILABLE,
    &IDENTITY_STORAGE_ERROR,
    &IDENTITY_INTERNAL_ERROR,
];

/// Why an access token was refused. Never shown to clients (they all see `invalid_token`);
/// logged at debug level and asserted in tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Longer than [`crate::token::ACCESS_TOKEN_LEN_MAX`]: refused before any decoding.
    TooLong,
    /// Not three base64url parts, or a part is not valid base64url or JSON.
    Malformed,
    /// The header names another algorithm than HS256 (`none` included), another type, or
    /// fields we do not understand. Refused before the signature is looked at.
    UnsupportedHeader,
    /// The signature does not match under the current or the previous secret.
    BadSignature,
    /// `exp` has passed.
    Expired,
    /// `iss` or `aud` is not kassa's.
    WrongIssuerOrAudience,
    /// `sub` is not an id of the kind `kind` names.
    BadSubject,
    /// The session named by `sid` does not exist, or belongs to someone else.
    UnknownSession,
    /// The session was signed out, ended by a password change or a refresh token reuse.
    SessionRevoked,
    /// The staff member was disabled.
    StaffDisabled,
}

/// Why a refresh token was refused. Never shown to clients (they all see
/// `invalid_refresh_token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshRefusal {
    /// Not the length of a token we issue.
    Malformed,
    /// No refresh token has this hash.
    Unknown,
    Expired,
    /// Its session had already ended.
    SessionRevoked,
    /// It had been used before (or a concurrent call used it first): its whole session was
    /// revoked just now.
    Reused,
}

/// The request field a password came from, for the JSON pointer of a `weak_password` problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordField {
    /// `/password`: registration, staff creation.
    Password,
    /// `/new_password`: a password change.
    NewPassword,
}

impl PasswordField {
    pub fn pointer(&self) -> &'static str {
        match self {
            PasswordField::Password => "/password",
            PasswordField::NewPassword => "/new_password",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A wrong password and an unknown email are this same error, so a caller cannot learn
    /// which emails are registered. Also a disabled staff member's sign-in.
    #[error("The email or password is wrong.")]
    InvalidCredentials,
    #[error("The access token is missing, invalid or expired.")]
    InvalidToken(TokenRefusal),
    #[error("The refresh token is invalid, expired or already used; sign in again.")]
    InvalidRefreshToken(RefreshRefusal),
    /// The HTTP layer answers 429 with `Retry-After: retry_after_secs`.
    #[error("Too many attempts; try again in {retry_after_secs} seconds.")]
    Throttled { retry_after_secs: u64 },
    #[error("The password is too weak: {reason}.")]
    WeakPassword {
        field: PasswordField,
        reason: WeakPassword,
    },
    /// Only staff creation reports this; customer registration never reveals it.
    #[error("A staff member with this email already exists.")]
    EmailTaken,
    #[error(
        "The shop must keep at least one active owner; make another staff member owner first."
    )]
    LastOwner,
    #[error("Staff member {0} was not found.")]
    StaffNotFound(StaffId),
    #[error("Customer {0} was not found.")]
    CustomerNotFound(CustomerId),
    /// For the HTTP layer's permission check: authenticated, but the role does not allow it.
    #[error("Your role does not allow this ({}).", .permission.as_str())]
    Forbidden { permission: Permission },
    #[error("Identity storage is unavailable; try again shortly.")]
    StorageUnavailable(#[source] DbError),
    #[error("Identity storage failed.")]
    Storage(#[source] DbError),
    #[error("Password hashing failed.")]
    PasswordHashing(#[source] argon2::password_hash::Error),
    /// The blocking task that hashes a password panicked or was cancelled.
    #[error("The password hashing task failed.")]
    HashingTask(#[source] tokio::task::JoinError),
    #[error("No random value could be generated.")]
    Randomness(#[source] getrandom::Error),
    #[error("An access token could not be signed.")]
    TokenSigning(#[source] SigningError),
}

impl IdentityError {
    /// Seconds the client should wait, for the `Retry-After` header of a `throttled` answer.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            IdentityError::Throttled { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

impl WeakPassword {
    /// The error for a password from `field` of the request.
    pub fn for_field(self, field: PasswordField) -> IdentityError {
        IdentityError::WeakPassword {
            field,
            reason: self,
        }
    }
}

impl From<DbError> for IdentityError {
    fn from(err: DbError) -> Self {
        if err.is_unavailable() {
            IdentityError::StorageUnavailable(err)
        } else {
            IdentityError::Storage(err)
        }
    }
}

impl DomainError for IdentityError {
    fn problem_type(&self) -> &'static ProblemType {
        match self {
            IdentityError::InvalidCredentials => &INVALID_CREDENTIALS,
            IdentityError::InvalidToken(_) => &INVALID_TOKEN,
            IdentityError::InvalidRefreshToken(_) => &INVALID_REFRESH_TOKEN,
            IdentityError::Throttled { .. } => &THROTTLED,
            IdentityError::WeakPassword { .. } => &WEAK_PASSWORD,
            IdentityError::EmailTaken => &EMAIL_TAKEN,
            IdentityError::LastOwner => &LAST_OWNER,
            IdentityError::StaffNotFound(_) => &STAFF_NOT_FOUND,
            IdentityError::CustomerNotFound(_) => &CUSTOMER_NOT_FOUND,
            IdentityError::Forbidden { .. } => &FORBIDDEN,
            IdentityError::StorageUnavailable(_) => &IDENTITY_STORAGE_UNAVAILABLE,
            IdentityError::Storage(_) => &IDENTITY_STORAGE_ERROR,
            IdentityError::PasswordHashing(_)
            | IdentityError::HashingTask(_)
            | IdentityError::Randomness(_)
            | IdentityError::TokenSigning(_) => &IDENTITY_INTERNAL_ERROR,
        }
    }

    fn field_errors(&self) -> Vec<(String, String)> {
        match self {
            IdentityError::WeakPassword { field, reason } => {
                vec![(field.pointer().to_owned(), format!("{reason}."))]
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn problem_codes_are_unique_snake_case_and_titled() {
        // Checked together with the kernel's codes: a district never re-registers one of them.
        let all = [PROBLEM_TYPES, kassa_kernel::PROBLEM_TYPES].concat();
        assert_eq!(
            kassa_kernel::error::check_problem_types(&all),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_error_maps_to_a_registered_problem_with_its_category() {
        let cases = [
            (
                IdentityError::InvalidCredentials,
                ErrorCategory::Unauthorized,
            ),
            (
                IdentityError::InvalidToken(TokenRefusal::Expired),
                ErrorCategory::Unauthorized,
            ),
            (
                IdentityError::InvalidRefreshToken(RefreshRefusal::Reused),
                ErrorCategory::Unauthorized,
            ),
            (
                IdentityError::Throttled {
                    retry_after_secs: 3,
                },
                ErrorCategory::TooManyRequests,
            ),
            (
                WeakPassword::Common.for_field(PasswordField::Password),
                ErrorCategory::Invalid,
            ),
            (IdentityError::EmailTaken, ErrorCategory::Conflict),
            (IdentityError::LastOwner, ErrorCategory::Conflict),
            (
                IdentityError::StaffNotFound(StaffId::new()),
                ErrorCategory::NotFound,
            ),
            (
                IdentityError::CustomerNotFound(CustomerId::new()),
                ErrorCategory::NotFound,
            ),
            (
                IdentityError::Forbidden {
                    permission: Permission::StaffManage,
                },
                ErrorCategory::Forbidden,
            ),
            (
                IdentityError::Storage(DbError::Corrupt("x".into())),
                ErrorCategory::Internal,
            ),
        ];
        for (err, category) in cases {
            assert!(PROBLEM_TYPES.contains(&err.problem_type()), "{err:?}");
            assert_eq!(err.problem_type().category, category, "{err:?}");
        }
    }

    #[test]
    fn token_refusals_share_one_detail_that_names_no_reason() {
        let expired = IdentityError::InvalidToken(TokenRefusal::Expired).detail();
        let tampered = IdentityError::InvalidToken(TokenRefusal::BadSignature).detail();
        assert_eq!(expired, tampered);
        assert!(!expired.contains("Expired") && !expired.contains("signature"));
    }

    #[test]
    fn throttled_exposes_retry_after_and_others_do_not() {
        let err = IdentityError::Throttled {
            retry_after_secs: 42,
        };
        assert_eq!(err.retry_after_secs(), Some(42));
        assert_eq!(err.detail(), "Too many attempts; try again in 42 seconds.");
        assert_eq!(IdentityError::InvalidCredentials.retry_after_secs(), None);
    }

    #[test]
    fn a_weak_password_points_at_the_field_it_came_from() {
        let err = WeakPassword::TooShort { min: 10 }.for_field(PasswordField::NewPassword);
        assert_eq!(
            err.field_errors(),
            [(
                "/new_password".to_owned(),
                "the password must be at least 10 characters long.".to_owned()
            )]
        );
        let err = WeakPassword::Common.for_field(PasswordField::Password);
        assert_eq!(err.field_errors()[0].0, "/password");
    }

    #[test]
    fn internal_errors_show_a_generic_detail() {
        let err = IdentityError::Storage(DbError::Corrupt("column password_hash: x".into()));
        assert_eq!(err.problem_type(), &IDENTITY_STORAGE_ERROR);
        assert!(!err.detail().contains("password_hash"));
    }
}
