//! The middleware stack, built in one place: [`layers`].
//!
//! The layers go on with `Router::layer`, which wraps every route, the 405 answer of each route
//! and the fallback, so each request passes through all of them exactly once and
//! `MatchedPath` is already known to the trace span and to the metrics.

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self as axum_middleware, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::{header, HeaderValue, StatusCode};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::audit;
use crate::metrics::{Metrics, UNMATCHED_ROUTE};
use crate::problem::{
    ApiError, INTERNAL_ERROR, MALFORMED_REQUEST, METHOD_NOT_ALLOWED, PAYLOAD_TOO_LARGE,
    PROBLEM_JSON, REQUEST_TIMEOUT, ROUTE_NOT_FOUND, UNAUTHORIZED, UNSUPPORTED_MEDIA_TYPE,
    VALIDATION_FAILED,
};
use crate::request_id::{self, RequestId};
use crate::state::AppState;

/// Wraps `router` in the stack, outermost first:
///
/// 1. request id — chosen before anything can fail, so every response, even a panic's or a
///    timeout's, carries `x-request-id` and the problem's `instance` matches it;
/// 2. trace span — one span per request with method, route and request id, so every log line
///    of the request carries them; finishing requests log at INFO (errors are logged by
///    `ApiError`, so tower-http's failure log is off);
/// 3. metrics — outside the timeout and the panic catcher, so 503s and 500s are counted too;
/// 4. audit — records successful staff changes ([`crate::audit`]); outside the timeout, so a
///    change the handler committed is never reported as a 503 because its audit write was slow;
/// 5. timeout — abandons the request after `request_timeout_ms` with a 503 `request_timeout`;
/// 6. panic catcher — a panicking handler becomes a logged 500 `internal_error`, not a dropped
///    connection;
/// 7. body limit — sets the limit our `Json` extractor reads up to (it answers 413 beyond);
/// 8. problem fallback — turns the few plain error responses produced outside our handlers
///    (axum's 404 and 405, a layer's 413) into problem documents.
///
/// CORS and compression (STYLE §8) join this list when a storefront origin is configured and
/// tower-http's `cors`/`compression` features are enabled; neither is needed yet.
pub fn layers(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let timeout = Duration::from_millis(state.config.request_timeout_ms);
    let stack = ServiceBuilder::new()
        .layer(axum_middleware::from_fn(request_id::assign))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(Level::INFO))
                .on_failure(()),
        )
        .layer(axum_middleware::from_fn_with_state(
            Arc::clone(&state.metrics),
            record_metrics,
        ))
        .layer(axum_middleware::from_fn_with_state(
            state.clone(),
            audit::record_staff_changes,
        ))
        .layer(axum_middleware::from_fn_with_state(
            timeout,
            enforce_timeout,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(DefaultBodyLimit::max(state.config.body_limit_bytes))
        .layer(axum_middleware::map_response(problem_fallback));
    router.layer(stack)
}

/// The route template a request matched, or `unmatched`.
fn route_of(request: &Request) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
        .to_owned()
}

fn request_span(request: &Request) -> tracing::Span {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(RequestId::to_string)
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        route = %route_of(request),
        request_id = %request_id,
    )
}

async fn record_metrics(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let route = route_of(&request);
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.record(&method, &route, response.status(), started.elapsed());
    response
}

async fn enforce_timeout(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                timeout_ms = timeout.as_millis(),
                "request abandoned after its timeout"
            );
            ApiError::new(
                &REQUEST_TIMEOUT,
                format!(
                    "The request did not finish within {} ms.",
                    timeout.as_millis()
                ),
            )
            .into_response()
        }
    }
}

/// Renders a caught panic as a 500 problem; the panic message goes to the log only.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    ApiError::internal(format!("handler panicked: {message}")).into_response()
}

/// Longest plain error body whose text is kept as the problem's `detail`. axum's own rejection
/// texts are a line; anything longer is not meant for clients.
const PLAIN_DETAIL_LEN_MAX: usize = 512;

/// Replaces an error response that is not already a problem document (axum's 404 fallback and
/// 405, a layer's 413, a stray rejection of an axum extractor) with the matching problem.
/// Headers such as `Allow` are kept; statuses not listed stay as they are.
async fn problem_fallback(response: Response) -> Response {
    let status = response.status();
    let is_error = status.is_client_error() || status.is_server_error();
    if !is_error || is_problem(&response) {
        return response;
    }
    let Some((problem, default_detail)) = problem_for_status(status) else {
        return response;
    };

    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, PLAIN_DETAIL_LEN_MAX)
        .await
        .ok()
        .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty());
    let error = match text {
        Some(text) if status.is_client_error() => ApiError::new(problem, text),
        Some(text) => ApiError::new(problem, default_detail).with_source(text),
        None => ApiError::new(problem, default_detail),
    };

    let mut replacement = error.into_response();
    // Keep the original's other headers (all values of each), unless the problem set its own.
    let ours: Vec<_> = replacement.headers().keys().cloned().collect();
    for (name, value) in &parts.headers {
        let describes_old_body = name == header::CONTENT_TYPE || name == header::CONTENT_LENGTH;
        if !describes_old_body && !ours.contains(name) {
            replacement
                .headers_mut()
                .append(name.clone(), value.clone());
        }
    }
    replacement
}

fn is_problem(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value == HeaderValue::from_static(PROBLEM_JSON))
}

fn problem_for_status(
    status: StatusCode,
) -> Option<(&'static kassa_kernel::ProblemType, &'static str)> {
    let mapped = match status {
        StatusCode::BAD_REQUEST => (&MALFORMED_REQUEST, "The request could not be understood."),
        StatusCode::UNAUTHORIZED => (&UNAUTHORIZED, "Authentication is required."),
        StatusCode::NOT_FOUND => (&ROUTE_NOT_FOUND, "No route matches this path."),
        StatusCode::METHOD_NOT_ALLOWED => (
            &METHOD_NOT_ALLOWED,
            "This path does not accept this method; see the `Allow` header.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            &PAYLOAD_TOO_LARGE,
            "The request body is larger than allowed.",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            &UNSUPPORTED_MEDIA_TYPE,
            "The request body's media type is not accepted.",
        ),
        StatusCode::UNPROCESSABLE_ENTITY => {
            (&VALIDATION_FAILED, "The request content is not valid.")
        }
        StatusCode::INTERNAL_SERVER_ERROR => (&INTERNAL_ERROR, "An internal error occurred."),
        _ => return None,
    };
    Some(mapped)
}

/// The handler for paths no route matches.
pub async fn route_not_found() -> ApiError {
    ApiError::new(&ROUTE_NOT_FOUND, "No route matches this path.")
}
