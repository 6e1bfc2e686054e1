//! The request id: one string per request that ties a client's report, our logs and the problem
//! document's `instance` together.
//!
//! The outermost middleware ([`assign`]) accepts a caller's `x-request-id` when it is sane, or
//! makes a UUIDv7 one, and then (a) puts a [`RequestId`] in the request extensions, for the trace
//! span and for handlers, (b) runs the rest of the request inside a task-local scope, so
//! [`crate::ApiError`]'s `IntoResponse` can read it without threading it through every call, and
//! (c) echoes it in the `x-request-id` response header of every response.
//!
//! The task-local covers the request's own task only: work spawned onto another task does not
//! see it and reads [`current`] as `"unknown"`; pass the [`RequestId`] along explicitly there.

use std::fmt;
use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderName, HeaderValue};

/// The request and response header carrying the id.
pub static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest incoming id we accept. Enough for a UUID with a prefix or a trace id, short enough
/// that a caller cannot bloat every log line of the request.
pub const REQUEST_ID_LEN_MAX: usize = 64;

/// What [`current`] answers outside a request's task.
const UNKNOWN: &str = "unknown";

tokio::task_local! {
    static CURRENT: RequestId;
}

/// One request's id: 1 to [`REQUEST_ID_LEN_MAX`] visible ASCII characters. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// A fresh time-ordered id (UUIDv7, hyphenated).
    pub fn generate() -> RequestId {
        RequestId(Arc::from(uuid::Uuid::now_v7().to_string()))
    }

    /// Accepts a caller's id when it is 1 to [`REQUEST_ID_LEN_MAX`] visible ASCII characters
    /// (`!` to `~`); anything else — empty, too long, spaces, control or non-ASCII bytes — is
    /// refused so it cannot forge log lines or headers.
    pub fn parse(value: &[u8]) -> Option<RequestId> {
        let visible = value.iter().all(|b| (b'!'..=b'~').contains(b));
        if value.is_empty() || value.len() > REQUEST_ID_LEN_MAX || !visible {
            return None;
        }
        std::str::from_utf8(value)
            .ok()
            .map(|s| RequestId(Arc::from(s)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of the request this task is serving, or `"unknown"` outside one.
pub fn current() -> String {
    CURRENT
        .try_with(|id| id.as_str().to_owned())
        .unwrap_or_else(|_| UNKNOWN.to_owned())
}

/// Runs `future` with `id` as the current request id. The middleware uses it; tests and spawned
/// tasks that want their problems to carry an id may too.
pub async fn scope<F: std::future::Future>(id: RequestId, future: F) -> F::Output {
    CURRENT.scope(id, future).await
}

/// Middleware: choose the id, expose it to the rest of the request, echo it in the response.
pub async fn assign(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| RequestId::parse(value.as_bytes()))
        .unwrap_or_else(RequestId::generate);
    request.extensions_mut().insert(id.clone());

    let mut response = scope(id.clone(), next.run(request)).await;

    // Only visible ASCII gets this far, so the conversion cannot fail; stay total anyway.
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response
            .headers_mut()
            .insert(REQUEST_ID_HEADER.clone(), value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_visible_ascii_up_to_the_maximum_are_accepted() {
        let longest = "a".repeat(REQUEST_ID_LEN_MAX);
        assert!(RequestId::parse(b"x").is_some());
        assert!(RequestId::parse(longest.as_bytes()).is_some());
        assert!(RequestId::parse(b"req-0191b7c2_~!").is_some());
    }

    #[test]
    fn empty_long_spaced_or_non_ascii_ids_are_refused() {
        let too_long = "a".repeat(REQUEST_ID_LEN_MAX + 1);
        assert!(RequestId::parse(b"").is_none());
        assert!(RequestId::parse(too_long.as_bytes()).is_none());
        assert!(RequestId::parse(b"a b").is_none());
        assert!(RequestId::parse(b"a\nb").is_none());
        assert!(RequestId::parse("é".as_bytes()).is_none());
    }

    #[test]
    fn generated_ids_are_uuids_that_parse_back() {
        let id = RequestId::generate();
        assert!(uuid::Uuid::parse_str(id.as_str()).is_ok());
        assert_eq!(RequestId::parse(id.as_str().as_bytes()), Some(id));
    }

    #[tokio::test]
    async fn current_is_unknown_outside_a_request_and_the_id_inside_one() {
        assert_eq!(current(), "unknown");
        let inside = scope(RequestId(Arc::from("abc")), async { current() }).await;
        assert_eq!(inside, "abc");
    }
}
