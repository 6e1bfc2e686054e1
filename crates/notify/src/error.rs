//! The notifications district's errors: [`NotifyError`] for its service and sender,
//! [`LookupError`] for reading an order, [`SendError`] for a transport's answer.

use kassa_db::DbError;
use kassa_kernel::{DomainError, ErrorCategory, ProblemType};

pub const NOTIFICATIONS_STORAGE_UNAVAILABLE: ProblemType = ProblemType::new(
    "notifications_storage_unavailable",
    "Notifications storage unavailable",
    ErrorCategory::Unavailable,
);
pub const NOTIFICATIONS_STORAGE_ERROR: ProblemType = ProblemType::new(
    "notifications_storage_error",
    "Notifications storage error",
    ErrorCategory::Internal,
);
/// No message with the asked id (the staff mailbox).
pub const MAIL_MESSAGE_NOT_FOUND: ProblemType = ProblemType::new(
    "mail_message_not_found",
    "Message not found",
    ErrorCategory::NotFound,
);
pub const NOTIFICATIONS_CONFIG_INVALID: ProblemType = ProblemType::new(
    "notifications_config_invalid",
    "Notifications configuration invalid",
    ErrorCategory::Internal,
);

/// Every problem type the notifications district owns.
pub const PROBLEM_TYPES: &[&ProblemType] = &[
    &NOTIFICATIONS_STORAGE_UNAVAILABLE,
    &NOTIFICATIONS_STORAGE_ERROR,
    &NOTIFICATIONS_CONFIG_INVALID,
    &MAIL_MESSAGE_NOT_FOUND,
];

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("The notifications database is unavailable; try again shortly.")]
    StorageUnavailable(#[source] DbError),
    #[error("The notifications database failed.")]
    Storage(#[source] DbError),
    /// Found when the sender or a transport is built, at start-up: the server reports it and
    /// does not start.
    #[error("The notifications configuration is invalid: {0}")]
    InvalidConfig(String),
}

impl From<DbError> for NotifyError {
    fn from(err: DbError) -> Self {
        if err.is_unavailable() {
            NotifyError::StorageUnavailable(err)
        } else {
            NotifyError::Storage(err)
        }
    }
}

impl From<sqlx::Error> for NotifyError {
    fn from(err: sqlx::Error) -> Self {
        NotifyError::from(DbError::from(err))
    }
}

impl DomainError for NotifyError {
    fn problem_type(&self) -> &'static ProblemType {
        match self {
            NotifyError::StorageUnavailable(_) => &NOTIFICATIONS_STORAGE_UNAVAILABLE,
            NotifyError::Storage(_) => &NOTIFICATIONS_STORAGE_ERROR,
            NotifyError::InvalidConfig(_) => &NOTIFICATIONS_CONFIG_INVALID,
        }
    }
}

/// The order could not be read right now (its district is unavailable or failed). The consumer
/// answers the bus with an error, so the event is delivered again later.
#[derive(Debug, thiserror::Error)]
#[error("the order could not be looked up")]
pub struct LookupError {
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl LookupError {
    pub fn new(source: impl std::error::Error + Send + Sync + 'static) -> LookupError {
        LookupError {
            source: Box::new(source),
        }
    }
}

/// A transport did not take a message. Whether trying again later can help decides between a
/// retry and `failed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth another attempt: SMTP 4xx, a connection, TLS or timeout failure.
    #[error("{0}")]
    Transient(String),
    /// Will fail again the same way: SMTP 5xx, an address the relay or we cannot use.
    #[error("{0}")]
    Permanent(String),
}

impl SendError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_codes_are_unique_snake_case_and_titled() {
        let all = [PROBLEM_TYPES, kassa_kernel::PROBLEM_TYPES].concat();
        assert_eq!(
            kassa_kernel::error::check_problem_types(&all),
            Vec::<String>::new()
        );
    }

    #[test]
    fn storage_errors_are_unavailable_only_when_a_retry_may_help() {
        let busy = NotifyError::from(DbError::Overloaded);
        assert_eq!(busy.problem_type().category, ErrorCategory::Unavailable);
        let corrupt = NotifyError::from(DbError::Corrupt("status".into()));
        assert_eq!(corrupt.problem_type(), &NOTIFICATIONS_STORAGE_ERROR);
        assert!(!corrupt.detail().contains("status"));
    }

    #[test]
    fn only_transient_send_errors_are_retryable() {
        assert!(SendError::Transient("451".into()).is_retryable());
        assert!(!SendError::Permanent("550".into()).is_retryable());
    }
}
