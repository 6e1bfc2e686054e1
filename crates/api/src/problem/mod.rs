//! Problem details (RFC 9457): how every error leaves the server.
//!
//! [`ApiError`] is the one error type handlers and extractors return. Any district error converts
//! into it through `From<E: DomainError>`, so a handler writes `service.call().await?`. Rendering
//! maps the [`ErrorCategory`] to a status ([`status_of`]), fills `instance` from the request id,
//! and logs internal errors once, here, with their source chain; the client only ever sees the
//! generic detail of an internal error.
//!
//! The api crate's own problem types are `pub const`s in [the registry module](mod@registry) (re-exported here);
//! [`registry()`] gathers them with every district's, and `GET /problems/{slug}` serves that
//! registry so a problem's `type` can be dereferenced.

use std::error::Error as StdError;
use std::fmt;

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use kassa_kernel::{DomainError, ErrorCategory, ProblemType};
use serde::{Deserialize, Serialize};

use crate::request_id;

pub mod extensions;
pub mod registry;

pub use registry::{
    find_by_slug, registry, status_of, type_uri, GATEWAY_NOT_CONFIGURED, INTERNAL_ERROR,
    INVALID_PATH_PARAMETER, MALFORMED_REQUEST, METHOD_NOT_ALLOWED, NOT_READY, PAYLOAD_TOO_LARGE,
    PROBLEM_TYPES, REFUND_CAP_EXCEEDED, REQUEST_TIMEOUT, ROUTE_NOT_FOUND, UNAUTHORIZED,
    UNSUPPORTED_MEDIA_TYPE, VALIDATION_FAILED, WEBHOOK_SIGNATURE_INVALID,
};

/// The media type of every error response.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// `Retry-After` given with 503 and 429 problems that do not choose their own: long enough for a
/// restart or a shed burst to pass, short enough that an idempotent retry is not a visible stall.
pub const RETRY_AFTER_SECS_DEFAULT: u32 = 1;

/// What a client sees instead of an internal error's real detail.
const INTERNAL_DETAIL: &str =
    "An internal error occurred; it has been logged with the request id given in `instance`.";

/// One invalid input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON pointer (RFC 6901) to the field in the request body, or `/<name>` for a query
    /// parameter; `""` is the whole body.
    #[schema(example = "/lines/0/quantity")]
    pub pointer: String,
    #[schema(example = "quantity must be at least 1")]
    pub message: String,
}

/// The body of every error response (`application/problem+json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// `/problems/<slug>`; dereference it for the type's title, status and code.
    #[serde(rename = "type")]
    #[schema(example = "/problems/insufficient-stock")]
    pub problem_type: String,
    /// Fixed for the type; never varies per occurrence.
    #[schema(example = "Insufficient stock")]
    pub title: String,
    #[schema(example = 409)]
    pub status: u16,
    /// This occurrence, safe to show to the client.
    pub detail: String,
    /// `urn:request:<request id>`, the id also echoed in the `x-request-id` header.
    #[schema(example = "urn:request:0191b7c2-6d4e-7cc2-8a11-3f2b4c5d6e7f")]
    pub instance: String,
    /// The stable snake_case code; the same as the slug with `-` for `_`.
    #[schema(example = "insufficient_stock")]
    pub code: String,
    /// Present only for validation problems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extension members a problem type adds at the top level (RFC 9457 §3.2), e.g. `skus` on
    /// `insufficient_stock` or `decline_code` on `payment_declined`; each type's entry in
    /// docs/API.md lists its members. Never one of the members above.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

/// The members every problem has; an extension of one of these names is dropped, so an
/// extension can never change what a problem's standard members say.
const RESERVED_MEMBERS: [&str; 7] = [
    "type", "title", "status", "detail", "instance", "code", "errors",
];

/// The error every handler and extractor returns; renders as a problem document.
pub struct ApiError {
    problem: &'static ProblemType,
    detail: String,
    errors: Vec<FieldError>,
    /// Rendered as top-level members of the problem document.
    extensions: serde_json::Map<String, serde_json::Value>,
    retry_after_secs: Option<u32>,
    /// For the log line of internal and upstream errors; never shown to the client.
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl ApiError {
    /// `detail` must be safe for the client (internal errors replace it with a generic text
    /// anyway). 503 and 429 problems get `Retry-After: 1` unless [`Self::with_retry_after`]
    /// says otherwise.
    pub fn new(problem: &'static ProblemType, detail: impl Into<String>) -> ApiError {
        let retry_after_secs = match problem.category {
            ErrorCategory::Unavailable | ErrorCategory::TooManyRequests => {
                Some(RETRY_AFTER_SECS_DEFAULT)
            }
            _ => None,
        };
        ApiError {
            problem,
            detail: detail.into(),
            errors: Vec::new(),
            extensions: serde_json::Map::new(),
            retry_after_secs,
            source: None,
        }
    }

    /// An `internal_error` caused by `source`, which is logged with the request id.
    pub fn internal(source: impl Into<Box<dyn StdError + Send + Sync>>) -> ApiError {
        ApiError::new(&INTERNAL_ERROR, INTERNAL_DETAIL).with_source(source)
    }

    /// A `validation_failed` problem for the given fields.
    pub fn validation(errors: Vec<FieldError>) -> ApiError {
        let detail = match errors.as_slice() {
            [one] if one.pointer.is_empty() => one.message.clone(),
            [one] => format!("{}: {}", one.pointer, one.message),
            many => format!("{} fields are invalid; see `errors`.", many.len()),
        };
        ApiError::new(&VALIDATION_FAILED, detail).with_field_errors(errors)
    }

    pub fn with_field_error(
        mut self,
        pointer: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.errors.push(FieldError {
            pointer: pointer.into(),
            message: message.into(),
        });
        self
    }

    pub fn with_field_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors.extend(errors);
        self
    }

    /// Adds the extension member `name` (a later value for the same name replaces the earlier
    /// one). The standard members (`type`, `title`, `status`, `detail`, `instance`, `code`,
    /// `errors`) cannot be replaced this way: such a name is ignored and logged.
    pub fn with_extension(mut self, name: &str, value: impl Into<serde_json::Value>) -> Self {
        if RESERVED_MEMBERS.contains(&name) {
            tracing::warn!(
                member = name,
                code = self.problem.code,
                "a problem extension tried to replace a standard member; ignored"
            );
        } else {
            self.extensions.insert(name.to_owned(), value.into());
        }
        self
    }

    /// The extension member `name`, if set.
    pub fn extension(&self, name: &str) -> Option<&serde_json::Value> {
        self.extensions.get(name)
    }

    pub fn with_retry_after(mut self, secs: u32) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    pub fn with_source(mut self, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        self.source = Some(source.into());
        self
    }

    pub fn problem(&self) -> &'static ProblemType {
        self.problem
    }

    pub fn status(&self) -> StatusCode {
        status_of(self.problem)
    }

    pub fn detail(&self) -> &str {
        &self.detail
    }

    pub fn field_errors(&self) -> &[FieldError] {
        &self.errors
    }

    pub fn retry_after_secs(&self) -> Option<u32> {
        self.retry_after_secs
    }

    /// The document the client receives for this error in request `request_id`.
    pub fn to_problem(&self, request_id: &str) -> Problem {
        let detail = if self.problem.category == ErrorCategory::Internal {
            INTERNAL_DETAIL.to_owned()
        } else {
            self.detail.clone()
        };
        Problem {
            problem_type: type_uri(self.problem),
            title: self.problem.title.to_owned(),
            status: self.status().as_u16(),
            detail,
            instance: format!("urn:request:{request_id}"),
            code: self.problem.code.to_owned(),
            errors: self.errors.clone(),
            extensions: self.extensions.clone(),
        }
    }

    /// Logs internal (error) and upstream (warn) failures with their source chain: the one place
    /// they are logged, so callers just return them.
    fn log(&self, request_id: &str) {
        let chain = self.source.as_deref().map(source_chain).unwrap_or_default();
        match self.problem.category {
            ErrorCategory::Internal => tracing::error!(
                request_id,
                code = self.problem.code,
                detail = %self.detail,
                error = %chain,
                "request failed with an internal error"
            ),
            ErrorCategory::Upstream => tracing::warn!(
                request_id,
                code = self.problem.code,
                detail = %self.detail,
                error = %chain,
                "request failed because an upstream system failed"
            ),
            _ => tracing::debug!(request_id, code = self.problem.code, "request refused"),
        }
    }
}

/// `outer: cause: root cause`.
pub(crate) fn source_chain(error: &(dyn StdError + Send + Sync + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

impl<E: DomainError> From<E> for ApiError {
    fn from(error: E) -> ApiError {
        let problem = error.problem_type();
        let errors = error
            .field_errors()
            .into_iter()
            .map(|(pointer, message)| FieldError { pointer, message })
            .collect();
        let mut api_error = ApiError::new(problem, error.detail()).with_field_errors(errors);
        for (name, value) in extensions::of(&error) {
            api_error = api_error.with_extension(name, value);
        }
        if let Some(secs) = extensions::retry_after_secs(&error) {
            api_error = api_error.with_retry_after(secs);
        }
        api_error.with_source(error)
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("code", &self.problem.code)
            .field("detail", &self.detail)
            .field("errors", &self.errors)
            .field("retry_after_secs", &self.retry_after_secs)
            .field("source", &self.source.as_deref().map(source_chain))
            .finish()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.problem.code, self.detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = request_id::current();
        self.log(&request_id);
        let problem = self.to_problem(&request_id);
        // A struct of strings always serialises; the fallback only keeps this total.
        let body = serde_json::to_vec(&problem).unwrap_or_else(|_| b"{}".to_vec());

        let mut response = (self.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.problem.category == ErrorCategory::Unauthorized {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_CONFLICT: ProblemType =
        ProblemType::new("test_conflict", "Test conflict", ErrorCategory::Conflict);
    const TEST_BROKEN: ProblemType =
        ProblemType::new("test_broken", "Test broken", ErrorCategory::Internal);

    #[derive(Debug)]
    enum TestError {
        Conflict,
        Broken(std::io::Error),
    }

    impl fmt::Display for TestError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TestError::Conflict => f.write_str("2 units requested, 1 available"),
                TestError::Broken(_) => f.write_str("database said no"),
            }
        }
    }

    impl StdError for TestError {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            match self {
                TestError::Broken(e) => Some(e),
                TestError::Conflict => None,
            }
        }
    }

    impl DomainError for TestError {
        fn problem_type(&self) -> &'static ProblemType {
            match self {
                TestError::Conflict => &TEST_CONFLICT,
                TestError::Broken(_) => &TEST_BROKEN,
            }
        }
        fn field_errors(&self) -> Vec<(String, String)> {
            vec![("/sku".into(), "unknown".into())]
        }
    }

    #[test]
    fn a_domain_error_keeps_its_type_detail_and_field_errors() {
        let error = ApiError::from(TestError::Conflict);
        let problem = error.to_problem("r1");
        assert_eq!(problem.status, 409);
        assert_eq!(problem.problem_type, "/problems/test-conflict");
        assert_eq!(problem.title, "Test conflict");
        assert_eq!(problem.detail, "2 units requested, 1 available");
        assert_eq!(problem.instance, "urn:request:r1");
        assert_eq!(problem.code, "test_conflict");
        assert_eq!(problem.errors[0].pointer, "/sku");
    }

    #[test]
    fn an_internal_error_shows_only_the_generic_detail_but_keeps_its_chain() {
        let io = std::io::Error::other("disk on fire");
        let error = ApiError::from(TestError::Broken(io));
        assert_eq!(error.to_problem("r").detail, INTERNAL_DETAIL);
        let debug = format!("{error:?}");
        assert!(debug.contains("database said no: disk on fire"), "{debug}");

        let explicit = ApiError::new(&INTERNAL_ERROR, "secret table name");
        assert_eq!(explicit.to_problem("r").detail, INTERNAL_DETAIL);
    }

    #[test]
    fn the_rendered_json_has_the_rfc_9457_members_and_omits_empty_errors() {
        let json = serde_json::to_value(ApiError::from(TestError::Conflict).to_problem("r")).ok();
        let json = json.unwrap_or_default();
        for member in [
            "type", "title", "status", "detail", "instance", "code", "errors",
        ] {
            assert!(json.get(member).is_some(), "missing {member}");
        }
        let plain = ApiError::new(&ROUTE_NOT_FOUND, "no").to_problem("r");
        let json = serde_json::to_value(plain).unwrap_or_default();
        assert!(json.get("errors").is_none());
    }

    #[test]
    fn unavailable_problems_default_to_a_retry_after_and_others_do_not() {
        assert_eq!(ApiError::new(&NOT_READY, "x").retry_after_secs(), Some(1));
        assert_eq!(
            ApiError::new(&NOT_READY, "x")
                .with_retry_after(30)
                .retry_after_secs(),
            Some(30)
        );
        assert_eq!(
            ApiError::new(&VALIDATION_FAILED, "x").retry_after_secs(),
            None
        );
    }

    #[test]
    fn the_response_carries_media_type_and_auth_and_retry_headers() {
        let response = ApiError::new(&UNAUTHORIZED, "no token").into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");

        let response = ApiError::new(&REQUEST_TIMEOUT, "slow").into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn validation_detail_names_the_field_or_counts_them() {
        let one = ApiError::validation(vec![FieldError {
            pointer: "/a".into(),
            message: "bad".into(),
        }]);
        assert_eq!(one.detail(), "/a: bad");
        let two = ApiError::validation(vec![
            FieldError {
                pointer: "/a".into(),
                message: "bad".into(),
            },
            FieldError {
                pointer: "/b".into(),
                message: "bad".into(),
            },
        ]);
        assert_eq!(two.detail(), "2 fields are invalid; see `errors`.");
    }
}
