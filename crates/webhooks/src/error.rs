//! `WebhookError` and the webhooks district's entries in the problem registry.

use std::net::IpAddr;

use kassa_db::DbError;
use kassa_kernel::{DomainError, ErrorCategory, ProblemType};

use crate::model::{DeliveryId, Issue, WebhookId};

pub const INVALID_WEBHOOK_ENDPOINT: ProblemType = ProblemType::new(
    "invalid_webhook_endpoint",
    "Invalid webhook endpoint",
    ErrorCategory::Invalid,
);
pub const WEBHOOK_TARGET_NOT_ALLOWED: ProblemType = ProblemType::new(
    "webhook_target_not_allowed",
    "Webhook target not allowed",
    ErrorCategory::Invalid,
);
pub const TOO_MANY_WEBHOOKS: ProblemType = ProblemType::new(
    "too_many_webhooks",
    "Too many webhook endpoints",
    ErrorCategory::Invalid,
);
pub const INVALID_SECRET_ROTATION: ProblemType = ProblemType::new(
    "invalid_secret_rotation",
    "Invalid secret rotation",
    ErrorCategory::Invalid,
);
pub const WEBHOOK_NOT_FOUND: ProblemType = ProblemType::new(
    "webhook_not_found",
    "Webhook endpoint not found",
    ErrorCategory::NotFound,
);
pub const WEBHOOK_DELIVERY_NOT_FOUND: ProblemType = ProblemType::new(
    "webhook_delivery_not_found",
    "Webhook delivery not found",
    ErrorCategory::NotFound,
);
pub const WEBHOOKS_STORAGE_UNAVAILABLE: ProblemType = ProblemType::new(
    "webhooks_storage_unavailable",
    "Webhooks storage unavailable",
    ErrorCategory::Unavailable,
);
pub const WEBHOOKS_STORAGE_ERROR: ProblemType = ProblemType::new(
    "webhooks_storage_error",
    "Webhooks storage error",
    ErrorCategory::Internal,
);
pub const WEBHOOKS_INTERNAL_ERROR: ProblemType = ProblemType::new(
    "webhooks_internal_error",
    "Webhooks internal error",
    ErrorCategory::Internal,
);

/// Every problem type the webhooks district owns.
pub const PROBLEM_TYPES: &[&ProblemType] = &[
    &INVALID_WEBHOOK_ENDPOINT,
    &WEBHOOK_TARGET_NOT_ALLOWED,
    &TOO_MANY_WEBHOOKS,
    &INVALID_SECRET_ROTATION,
    &WEBHOOK_NOT_FOUND,
    &WEBHOOK_DELIVERY_NOT_FOUND,
    &WEBHOOKS_STORAGE_UNAVAILABLE,
    &WEBHOOKS_STORAGE_ERROR,
    &WEBHOOKS_INTERNAL_ERROR,
];

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The url, event types or description of a registration or change are invalid; nothing
    /// changed. Each issue points at its field.
    #[error("{}", sentences(.0))]
    InvalidEndpoint(Vec<Issue>),
    /// The url's host is an IP address deliveries may not go to (while private targets are
    /// not allowed).
    #[error(
        "The url's host {ip} is {reason}; webhooks may not target it \
         (webhooks.allow_private_targets is off)."
    )]
    TargetNotAllowed { ip: IpAddr, reason: &'static str },
    #[error("At most {max} webhook endpoints can be registered; delete one first.")]
    TooManyEndpoints { max: usize },
    #[error("previous_secret_expires_in_secs must be from 0 to {max} (7 days), got {secs}.")]
    InvalidRotation { secs: u64, max: u64 },
    #[error("There is no webhook endpoint {0}.")]
    EndpointNotFound(WebhookId),
    #[error("There is no webhook delivery {0}.")]
    DeliveryNotFound(DeliveryId),
    #[error("The webhooks' storage is unavailable; try again shortly.")]
    StorageUnavailable(#[source] DbError),
    #[error("The webhooks' storage failed.")]
    Storage(#[source] DbError),
    /// The operating system gave no randomness for a signing secret.
    #[error("No signing secret could be made.")]
    Randomness(#[source] getrandom::Error),
    /// The HTTP client could not be built (its TLS configuration, at start-up).
    #[error("The webhooks' HTTP client could not be built.")]
    HttpClient(#[source] reqwest::Error),
}

fn sentences(issues: &[Issue]) -> String {
    let messages: Vec<String> = issues
        .iter()
        .map(|issue| format!("{}: {}", issue.pointer, issue.message))
        .collect();
    format!("The webhook endpoint is invalid: {}.", messages.join("; "))
}

impl From<DbError> for WebhookError {
    fn from(err: DbError) -> Self {
        if err.is_unavailable() {
            WebhookError::StorageUnavailable(err)
        } else {
            WebhookError::Storage(err)
        }
    }
}

impl From<sqlx::Error> for WebhookError {
    fn from(err: sqlx::Error) -> Self {
        WebhookError::from(DbError::from(err))
    }
}

impl DomainError for WebhookError {
    fn problem_type(&self) -> &'static ProblemType {
        match self {
            WebhookError::InvalidEndpoint(_) => &INVALID_WEBHOOK_ENDPOINT,
            WebhookError::TargetNotAllowed { .. } => &WEBHOOK_TARGET_NOT_ALLOWED,
            WebhookError::TooManyEndpoints { .. } => &TOO_MANY_WEBHOOKS,
            WebhookError::InvalidRotation { .. } => &INVALID_SECRET_ROTATION,
            WebhookError::EndpointNotFound(_) => &WEBHOOK_NOT_FOUND,
            WebhookError::DeliveryNotFound(_) => &WEBHOOK_DELIVERY_NOT_FOUND,
            WebhookError::StorageUnavailable(_) => &WEBHOOKS_STORAGE_UNAVAILABLE,
            WebhookError::Storage(_) => &WEBHOOKS_STORAGE_ERROR,
            WebhookError::Randomness(_) | WebhookError::HttpClient(_) => &WEBHOOKS_INTERNAL_ERROR,
        }
    }

    fn field_errors(&self) -> Vec<(String, String)> {
        match self {
            WebhookError::InvalidEndpoint(issues) => issues
                .iter()
                .map(|issue| (issue.pointer.clone(), issue.message.clone()))
                .collect(),
            WebhookError::TargetNotAllowed { ip, reason } => {
                vec![("/url".to_owned(), format!("{ip} is {reason}"))]
            }
            WebhookError::InvalidRotation { max, .. } => vec![(
                "/previous_secret_expires_in_secs".to_owned(),
                format!("must be from 0 to {max}"),
            )],
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
        let all = [PROBLEM_TYPES, kassa_kernel::PROBLEM_TYPES].concat();
        assert_eq!(
            kassa_kernel::error::check_problem_types(&all),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_error_maps_to_a_registered_problem_and_validation_points_at_fields() {
        let errors = [
            WebhookError::InvalidEndpoint(vec![Issue::new("/url", "bad")]),
            WebhookError::TargetNotAllowed {
                ip: "10.0.0.1".parse().unwrap(),
                reason: "a private address",
            },
            WebhookError::TooManyEndpoints { max: 50 },
            WebhookError::InvalidRotation { secs: 1, max: 2 },
            WebhookError::EndpointNotFound(WebhookId::new()),
            WebhookError::DeliveryNotFound(DeliveryId::new()),
            WebhookError::Storage(DbError::Corrupt("x".into())),
            WebhookError::StorageUnavailable(DbError::Overloaded),
        ];
        for err in &errors {
            assert!(PROBLEM_TYPES.contains(&err.problem_type()), "{err:?}");
        }
        assert_eq!(errors[0].field_errors()[0].0, "/url");
        assert_eq!(errors[1].field_errors()[0].0, "/url");
        assert_eq!(
            errors[0].detail(),
            "The webhook endpoint is invalid: /url: bad."
        );
        assert!(
            errors[6].detail().contains("internal error"),
            "{}",
            errors[6].detail()
        );
    }
}
