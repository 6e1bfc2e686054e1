//! The problem registry: the api crate's own problem types, the list of every district's, and
//! the mapping from a type to its HTTP status and `type` URI.
//!
//! Codes are unique across the workspace and never change meaning; the test below checks the
//! whole registry, so a district that reuses a code fails it.

use http::StatusCode;
use kassa_kernel::{ErrorCategory, ProblemType};

pub const VALIDATION_FAILED: ProblemType = ProblemType::new(
    "validation_failed",
    "Validation failed",
    ErrorCategory::Invalid,
);
pub const MALFORMED_REQUEST: ProblemType = ProblemType::new(
    "malformed_request",
    "Malformed request",
    ErrorCategory::Malformed,
);
/// Answered with 415 through `STATUS_OVERRIDES`; its category says how to treat it otherwise.
pub const UNSUPPORTED_MEDIA_TYPE: ProblemType = ProblemType::new(
    "unsupported_media_type",
    "Unsupported media type",
    ErrorCategory::Malformed,
);
pub const PAYLOAD_TOO_LARGE: ProblemType = ProblemType::new(
    "payload_too_large",
    "Payload too large",
    ErrorCategory::TooLarge,
);
pub const ROUTE_NOT_FOUND: ProblemType = ProblemType::new(
    "route_not_found",
    "Route not found",
    ErrorCategory::NotFound,
);
/// A path segment that does not parse as the id it stands for. Same title and status as a
/// missing resource, so probing ids learns nothing about their format.
pub const INVALID_PATH_PARAMETER: ProblemType = ProblemType::new(
    "invalid_path_parameter",
    "Resource not found",
    ErrorCategory::NotFound,
);
/// Answered with 405 through `STATUS_OVERRIDES`.
pub const METHOD_NOT_ALLOWED: ProblemType = ProblemType::new(
    "method_not_allowed",
    "Method not allowed",
    ErrorCategory::Malformed,
);
pub const UNAUTHORIZED: ProblemType = ProblemType::new(
    "unauthorized",
    "Authentication required",
    ErrorCategory::Unauthorized,
);
pub const REQUEST_TIMEOUT: ProblemType = ProblemType::new(
    "request_timeout",
    "Request timed out",
    ErrorCategory::Unavailable,
);
pub const NOT_READY: ProblemType =
    ProblemType::new("not_ready", "Service not ready", ErrorCategory::Unavailable);
pub const INTERNAL_ERROR: ProblemType =
    ProblemType::new("internal_error", "Internal error", ErrorCategory::Internal);
/// A support member's refund above their role's per-currency cap
/// (`kassa_identity::RefundCap`). The refund route checks the cap, so the code is the HTTP
/// layer's; identity only holds the rule.
pub const REFUND_CAP_EXCEEDED: ProblemType = ProblemType::new(
    "refund_cap_exceeded",
    "Refund above your cap",
    ErrorCategory::Forbidden,
);
/// A gateway webhook whose signature does not hold (wrong secret, altered body, outside the
/// tolerance window) or whose body is not an event. 400, so the gateway's dashboard shows the
/// delivery as failed.
pub const WEBHOOK_SIGNATURE_INVALID: ProblemType = ProblemType::new(
    "webhook_signature_invalid",
    "Webhook signature invalid",
    ErrorCategory::Malformed,
);

/// A gateway's webhook route while another gateway is configured (Stripe's route with the
/// sandbox): nothing to receive.
pub const GATEWAY_NOT_CONFIGURED: ProblemType = ProblemType::new(
    "gateway_not_configured",
    "Gateway not configured",
    ErrorCategory::NotFound,
);

/// The api crate's own problem types, in the order `GET /problems` lists them.
pub const PROBLEM_TYPES: &[&ProblemType] = &[
    &VALIDATION_FAILED,
    &MALFORMED_REQUEST,
    &UNSUPPORTED_MEDIA_TYPE,
    &PAYLOAD_TOO_LARGE,
    &ROUTE_NOT_FOUND,
    &INVALID_PATH_PARAMETER,
    &METHOD_NOT_ALLOWED,
    &UNAUTHORIZED,
    &REQUEST_TIMEOUT,
    &NOT_READY,
    &INTERNAL_ERROR,
    &REFUND_CAP_EXCEEDED,
    &WEBHOOK_SIGNATURE_INVALID,
    &GATEWAY_NOT_CONFIGURED,
];

/// The two HTTP statuses no category carries. Kept to exactly these: a district that wants a new
/// status needs a new category, agreed in the kernel, not an entry here.
const STATUS_OVERRIDES: &[(&ProblemType, StatusCode)] = &[
    (&UNSUPPORTED_MEDIA_TYPE, StatusCode::UNSUPPORTED_MEDIA_TYPE),
    (&METHOD_NOT_ALLOWED, StatusCode::METHOD_NOT_ALLOWED),
];

/// Every problem type the server can answer with: the kernel's, the api's, and each district's.
pub fn registry() -> Vec<&'static ProblemType> {
    let mut all: Vec<&'static ProblemType> = Vec::new();
    all.extend(kassa_kernel::PROBLEM_TYPES.iter().copied());
    all.extend(PROBLEM_TYPES.iter().copied());
    all.extend(kassa_identity::PROBLEM_TYPES.iter().copied());
    all.extend(kassa_catalog::PROBLEM_TYPES.iter().copied());
    all.extend(kassa_cart::PROBLEM_TYPES.iter().copied());
    all.extend(kassa_idempotency::PROBLEM_TYPES.iter().copied());
    all.extend(kassa_inventory::PROBLEM_TYPES.iter().copied());
    all.extend(kassa_payments::PROBLEM_TYPES.iter().copied());
    all.extend(kassa_orders::PROBLEM_TYPES.iter().copied());
    all.extend(kassa_webhooks::PROBLEM_TYPES.iter().copied());
    all.extend(kassa_notify::PROBLEM_TYPES.iter().copied());
    all
}

/// The registered problem type whose `type` URI ends in `slug`.
pub fn find_by_slug(slug: &str) -> Option<&'static ProblemType> {
    registry().into_iter().find(|p| p.slug() == slug)
}

/// The HTTP status a problem type is answered with.
pub fn status_of(problem: &ProblemType) -> StatusCode {
    if let Some((_, status)) = STATUS_OVERRIDES.iter().find(|(p, _)| *p == problem) {
        return *status;
    }
    match problem.category {
        ErrorCategory::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCategory::Malformed => StatusCode::BAD_REQUEST,
        ErrorCategory::NotFound => StatusCode::NOT_FOUND,
        ErrorCategory::Conflict => StatusCode::CONFLICT,
        ErrorCategory::PaymentRequired => StatusCode::PAYMENT_REQUIRED,
        ErrorCategory::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCategory::Forbidden => StatusCode::FORBIDDEN,
        ErrorCategory::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        ErrorCategory::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCategory::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCategory::Upstream => StatusCode::BAD_GATEWAY,
        ErrorCategory::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The problem's `type` member: a URI reference the server resolves at `GET /problems/{slug}`.
pub fn type_uri(problem: &ProblemType) -> String {
    format!("/problems/{}", problem.slug())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lower-case ASCII words of letters and digits joined by single underscores, starting
    /// with a letter.
    #[test]
    fn every_registered_code_is_unique_snake_case_and_its_slug_round_trips() {
        let registry = registry();
        assert_eq!(
            kassa_kernel::error::check_problem_types(&registry),
            Vec::<String>::new()
        );
        for problem in &registry {
            let slug = problem.slug();
            assert_eq!(slug.replace('-', "_"), problem.code);
            assert_eq!(find_by_slug(&slug).map(|p| p.code), Some(problem.code));
        }
        assert!(registry.iter().any(|p| p.code == "validation_failed"));
    }

    #[test]
    fn categories_map_to_their_statuses_and_overrides_win() {
        let cases = [
            (&VALIDATION_FAILED, 422),
            (&MALFORMED_REQUEST, 400),
            (&UNSUPPORTED_MEDIA_TYPE, 415),
            (&PAYLOAD_TOO_LARGE, 413),
            (&ROUTE_NOT_FOUND, 404),
            (&INVALID_PATH_PARAMETER, 404),
            (&METHOD_NOT_ALLOWED, 405),
            (&UNAUTHORIZED, 401),
            (&REQUEST_TIMEOUT, 503),
            (&INTERNAL_ERROR, 500),
        ];
        for (problem, status) in cases {
            assert_eq!(status_of(problem).as_u16(), status, "{}", problem.code);
        }
        let others = [
            (ErrorCategory::Conflict, 409),
            (ErrorCategory::PaymentRequired, 402),
            (ErrorCategory::Forbidden, 403),
            (ErrorCategory::TooManyRequests, 429),
            (ErrorCategory::Upstream, 502),
        ];
        for (category, status) in others {
            let problem = ProblemType::new("x", "X", category);
            assert_eq!(status_of(&problem).as_u16(), status);
        }
    }
}
