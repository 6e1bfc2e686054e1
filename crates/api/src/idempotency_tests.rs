//! The `Idempotency-Key` middleware through the real stack (`assemble`), on test-only routes
//! that opted in with `Routes::post_idempotent`, over the real idempotency service on a fresh
//! database (SQLite, or PostgreSQL when TEST_DATABASE_URL is set) and a manual clock. Every
//! handler counts its runs in a [`Probe`], so "the handler did not run again" is asserted, not
//! assumed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::{Extension, Router};
use http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;
use kassa_idempotency::store::IdempotencyStore;
use kassa_idempotency::{Idempotency, IdempotencyConfig, IdempotencyService};
use kassa_kernel::{Clock, ErrorCategory, ManualClock, ProblemType};
use kassa_testkit::TestDb;
use serde_json::Value;
use tokio::sync::Notify;
use tower::ServiceExt;

use crate::assemble;
use crate::extract::Json;
use crate::fakes::{self, CUSTOMER_TOKEN, OWNER_TOKEN};
use crate::problem::{ApiError, PROBLEM_JSON};
use crate::route_table::Routes;
use crate::state::ApiConfig;

const TTL: Duration = Duration::from_secs(24 * 60 * 60);
const LEASE: Duration = Duration::from_secs(60);
const BODY_LIMIT_BYTES: usize = 1024;
const CLIENT_ADDR: ([u8; 4], u16) = ([192, 0, 2, 7], 40_000);

/// Answered by `/test/idempotent/refuse`: a 409 like a domain conflict.
const TEST_CONFLICT: ProblemType =
    ProblemType::new("test_conflict", "Test conflict", ErrorCategory::Conflict);

/// What the test handlers share with the test: how often they ran, and the gate the slow one
/// waits at.
#[derive(Default)]
struct Probe {
    calls: AtomicU32,
    gate: Notify,
}

impl Probe {
    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    fn ran(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

/// 201 with a `location`, echoing the JSON body.
async fn echo(
    Extension(probe): Extension<Arc<Probe>>,
    Json(value): Json<Value>,
) -> (
    StatusCode,
    [(header::HeaderName, &'static str); 1],
    Json<Value>,
) {
    probe.ran();
    (
        StatusCode::CREATED,
        [(header::LOCATION, "/test/things/1")],
        Json(value),
    )
}

async fn fail(Extension(probe): Extension<Arc<Probe>>) -> ApiError {
    probe.ran();
    ApiError::internal("the test handler failed")
}

async fn refuse(Extension(probe): Extension<Arc<Probe>>) -> ApiError {
    probe.ran();
    ApiError::new(&TEST_CONFLICT, "The thing is in a state that refuses this.")
}

/// Runs until the test opens the gate.
async fn gated(Extension(probe): Extension<Arc<Probe>>) -> (StatusCode, &'static str) {
    probe.ran();
    probe.gate.notified().await;
    (StatusCode::CREATED, "done")
}

/// Not opted in: the header means nothing here.
async fn plain(Extension(probe): Extension<Arc<Probe>>) -> StatusCode {
    probe.ran();
    StatusCode::CREATED
}

fn test_routes() -> Routes {
    Routes::new()
        .post_idempotent("/test/idempotent", echo)
        .put_idempotent("/test/idempotent", echo)
        .post_idempotent("/test/idempotent/fail", fail)
        .post_idempotent("/test/idempotent/refuse", refuse)
        .post_idempotent("/test/idempotent/gated", gated)
        .post("/test/plain", plain)
}

struct App {
    router: Router,
    probe: Arc<Probe>,
    clock: ManualClock,
    idempotency: Arc<dyn IdempotencyService>,
    _db: TestDb,
}

async fn spawn_app() -> App {
    spawn_with(ApiConfig {
        body_limit_bytes: BODY_LIMIT_BYTES,
        ..ApiConfig::default()
    })
    .await
}

async fn spawn_with(config: ApiConfig) -> App {
    let db = TestDb::new().await;
    let store = IdempotencyStore::new(db.district("idempotency").await);
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrate: {e}"));
    let clock = ManualClock::new(fakes::now());
    let config_idempotency = IdempotencyConfig {
        ttl: TTL,
        lease: LEASE,
    };
    let idempotency: Arc<dyn IdempotencyService> = Arc::new(Idempotency::new(
        store,
        Arc::new(clock.clone()),
        config_idempotency,
    ));
    let state = fakes::plain_state_with_idempotency(config, idempotency.clone());
    let probe = Arc::new(Probe::default());
    let (router, _) = assemble(test_routes(), state);
    let router = router
        .layer(Extension(probe.clone()))
        .layer(MockConnectInfo(SocketAddr::from(CLIENT_ADDR)));
    App {
        router,
        probe,
        clock,
        idempotency,
        _db: db,
    }
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn is_replay(&self) -> bool {
        self.header("idempotent-replayed") == Some("true")
    }

    /// Asserts a problem document of `code` with `status`, and returns it.
    #[track_caller]
    fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        assert_eq!(self.header("content-type"), Some(PROBLEM_JSON));
        let problem: Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()));
        assert_eq!(problem["code"], code, "{problem}");
        assert_eq!(problem["status"], status);
        problem
    }
}

/// A POST to `path` with a JSON body and the given headers.
fn request(method: Method, path: &str, headers: &[(&str, &str)], body: &str) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Body::from(body.to_owned()))
        .unwrap_or_else(|e| panic!("bad test request: {e}"))
}

async fn reply_of(response: axum::response::Response) -> Reply {
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_else(|e| panic!("body failed: {e}"));
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

impl App {
    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|never| match never {});
        reply_of(response).await
    }

    async fn post(&self, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        self.send(request(Method::POST, path, headers, body)).await
    }

    /// A POST with `Idempotency-Key: key` and no credentials.
    async fn post_keyed(&self, path: &str, key: &str, body: &str) -> Reply {
        self.post(path, &[("idempotency-key", key)], body).await
    }

    /// The request, sent from a task of its own so the test can go on while it runs.
    fn spawn_post(
        &self,
        path: &str,
        key: &str,
        body: &str,
    ) -> tokio::task::JoinHandle<axum::response::Response> {
        let router = self.router.clone();
        let request = request(Method::POST, path, &[("idempotency-key", key)], body);
        tokio::spawn(async move {
            router
                .oneshot(request)
                .await
                .unwrap_or_else(|never| match never {})
        })
    }

    /// Waits until the handlers have run `calls` times in all.
    async fn wait_for_calls(&self, calls: u32) {
        for _ in 0..400 {
            if self.probe.calls() >= calls {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the handlers ran {} times, not {calls}", self.probe.calls());
    }
}

#[tokio::test]
async fn an_opted_in_route_without_a_key_answers_400_and_runs_nothing() {
    let app = spawn_app().await;

    let reply = app.post("/test/idempotent", &[], "{}").await;

    let problem = reply.problem(400, "idempotency_key_missing");
    assert!(problem["detail"]
        .as_str()
        .is_some_and(|d| d.contains("Idempotency-Key")));
    assert_eq!(app.probe.calls(), 0);
}

#[tokio::test]
async fn a_malformed_key_answers_400_idempotency_key_invalid_and_runs_nothing() {
    let app = spawn_app().await;
    let too_long = "k".repeat(256);
    for key in [
        "",
        "\"\"",
        "\"abc",
        "a\"bc",
        "\"a\\b\"",
        "a\tb",
        too_long.as_str(),
    ] {
        let reply = app.post_keyed("/test/idempotent", key, "{}").await;
        reply.problem(400, "idempotency_key_invalid");
    }
    let mut not_ascii = request(Method::POST, "/test/idempotent", &[], "{}");
    not_ascii.headers_mut().insert(
        "idempotency-key",
        HeaderValue::from_bytes(b"cl\xe9").unwrap_or_else(|e| panic!("{e}")),
    );
    app.send(not_ascii)
        .await
        .problem(400, "idempotency_key_invalid");
    assert_eq!(app.probe.calls(), 0);
}

#[tokio::test]
async fn the_first_request_runs_the_handler_and_a_retry_gets_its_answer_replayed() {
    // Arrange
    let app = spawn_app().await;
    let body = r#"{"amount_minor":1999,"currency":"EUR"}"#;

    // Act
    let first = app.post_keyed("/test/idempotent", "key-1", body).await;
    let retry = app.post_keyed("/test/idempotent", "key-1", body).await;

    // Assert
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    assert!(!first.is_replay());
    assert_eq!(first.header("location"), Some("/test/things/1"));
    assert_eq!(first.header("content-type"), Some("application/json"));
    assert_eq!(retry.status, first.status);
    assert_eq!(retry.body, first.body);
    assert_eq!(retry.header("location"), first.header("location"));
    assert_eq!(retry.header("content-type"), first.header("content-type"));
    assert!(retry.is_replay());
    assert_ne!(retry.header("x-request-id"), first.header("x-request-id"));
    assert_eq!(app.probe.calls(), 1);
}

#[tokio::test]
async fn the_quoted_and_the_bare_form_of_a_key_are_the_same_key() {
    let app = spawn_app().await;

    let quoted = app.post_keyed("/test/idempotent", "\"key-2\"", "{}").await;
    let bare = app.post_keyed("/test/idempotent", "key-2", "{}").await;

    assert_eq!(quoted.status, StatusCode::CREATED);
    assert!(bare.is_replay());
    assert_eq!(app.probe.calls(), 1);
}

#[tokio::test]
async fn the_same_key_for_another_body_query_or_method_answers_422_idempotency_key_reused() {
    // Arrange
    let app = spawn_app().await;
    app.post_keyed("/test/idempotent", "key-3", r#"{"a":1}"#)
        .await;

    // Act
    let other_body = app
        .post_keyed("/test/idempotent", "key-3", r#"{"a":2}"#)
        .await;
    let other_query = app
        .post_keyed("/test/idempotent?x=1", "key-3", r#"{"a":1}"#)
        .await;
    let other_method = app
        .send(request(
            Method::PUT,
            "/test/idempotent",
            &[("idempotency-key", "key-3")],
            r#"{"a":1}"#,
        ))
        .await;

    // Assert
    for reply in [other_body, other_query, other_method] {
        reply.problem(422, "idempotency_key_reused");
        assert!(!reply.is_replay());
    }
    assert_eq!(app.probe.calls(), 1);
}

#[tokio::test]
async fn a_retry_while_the_first_request_runs_answers_409_with_retry_after() {
    // Arrange: the first request is inside its handler
    let app = spawn_app().await;
    let first = app.spawn_post("/test/idempotent/gated", "key-4", "{}");
    app.wait_for_calls(1).await;

    // Act
    let during = app
        .post_keyed("/test/idempotent/gated", "key-4", "{}")
        .await;
    let other_body = app
        .post_keyed("/test/idempotent/gated", "key-4", r#"{"x":1}"#)
        .await;
    app.probe.gate.notify_one();
    let first = reply_of(first.await.unwrap_or_else(|e| panic!("{e}"))).await;
    let after = app
        .post_keyed("/test/idempotent/gated", "key-4", "{}")
        .await;

    // Assert
    during.problem(409, "idempotency_key_in_progress");
    assert_eq!(during.header("retry-after"), Some("1"));
    other_body.problem(422, "idempotency_key_reused");
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(after.status, StatusCode::CREATED);
    assert!(after.is_replay());
    assert_eq!(after.body, b"done");
    assert_eq!(app.probe.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_identical_requests_at_once_run_the_handler_exactly_once() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let requests: Vec<_> = (0..20)
        .map(|_| app.spawn_post("/test/idempotent", "key-5", r#"{"n":5}"#))
        .collect();
    let mut replies = Vec::new();
    for request in requests {
        replies.push(reply_of(request.await.unwrap_or_else(|e| panic!("{e}"))).await);
    }

    // Assert
    assert_eq!(app.probe.calls(), 1);
    let ran = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED && !r.is_replay())
        .count();
    assert_eq!(ran, 1);
    for reply in &replies {
        match reply.status {
            StatusCode::CREATED => assert_eq!(reply.body, br#"{"n":5}"#),
            _ => {
                reply.problem(409, "idempotency_key_in_progress");
            }
        }
    }
}

#[tokio::test]
async fn two_callers_with_the_same_key_are_independent() {
    // Arrange
    let app = spawn_app().await;
    let owner = format!("Bearer {OWNER_TOKEN}");
    let customer = format!("Bearer {CUSTOMER_TOKEN}");
    let callers: [&[(&str, &str)]; 5] = [
        &[("authorization", &owner)],
        &[("authorization", &customer)],
        &[("cart-token", "t0ken-a")],
        &[("cart-token", "t0ken-b")],
        &[],
    ];

    // Act: every caller sends the same key with a body of its own, twice
    let mut firsts = Vec::new();
    let mut retries = Vec::new();
    for (i, caller) in callers.iter().enumerate() {
        let headers = [*caller, &[("idempotency-key", "shared")][..]].concat();
        let body = format!(r#"{{"caller":{i}}}"#);
        firsts.push(app.post("/test/idempotent", &headers, &body).await);
        retries.push(app.post("/test/idempotent", &headers, &body).await);
    }

    // Assert
    for (first, retry) in firsts.iter().zip(&retries) {
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
        assert!(!first.is_replay());
        assert!(retry.is_replay());
        assert_eq!(retry.body, first.body);
    }
    assert_eq!(app.probe.calls(), 5);
}

#[tokio::test]
async fn an_invalid_bearer_token_answers_the_same_401_as_the_auth_extractors() {
    let app = spawn_app().await;
    for authorization in ["Bearer expired", "Basic abc"] {
        let reply = app
            .post(
                "/test/idempotent",
                &[("authorization", authorization), ("idempotency-key", "k")],
                "{}",
            )
            .await;
        reply.problem(401, "invalid_token");
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    }
    assert_eq!(app.probe.calls(), 0);
}

#[tokio::test]
async fn a_server_error_is_not_stored_and_a_retry_runs_the_handler_again() {
    let app = spawn_app().await;

    let first = app.post_keyed("/test/idempotent/fail", "key-6", "{}").await;
    let retry = app.post_keyed("/test/idempotent/fail", "key-6", "{}").await;

    first.problem(500, "internal_error");
    retry.problem(500, "internal_error");
    assert!(!retry.is_replay());
    assert_eq!(app.probe.calls(), 2);
}

#[tokio::test]
async fn a_client_error_answer_is_stored_and_replayed() {
    let app = spawn_app().await;

    let first = app
        .post_keyed("/test/idempotent/refuse", "key-7", "{}")
        .await;
    let retry = app
        .post_keyed("/test/idempotent/refuse", "key-7", "{}")
        .await;

    first.problem(409, "test_conflict");
    retry.problem(409, "test_conflict");
    assert!(retry.is_replay());
    // Replayed exactly: even the first request's `instance`.
    assert_eq!(retry.body, first.body);
    assert_eq!(app.probe.calls(), 1);
}

#[tokio::test]
async fn a_body_over_the_limit_answers_413_and_claims_nothing() {
    let app = spawn_app().await;
    let over = format!("\"{}\"", "x".repeat(BODY_LIMIT_BYTES - 1));

    let refused = app.post_keyed("/test/idempotent", "key-8", &over).await;
    let small = app.post_keyed("/test/idempotent", "key-8", "{}").await;

    refused.problem(413, "payload_too_large");
    assert_eq!(small.status, StatusCode::CREATED, "{}", small.text());
    assert!(!small.is_replay());
    assert_eq!(app.probe.calls(), 1);
}

#[tokio::test]
async fn records_past_their_ttl_are_purged_and_the_key_runs_again() {
    // Arrange
    let app = spawn_app().await;
    app.post_keyed("/test/idempotent", "key-9", r#"{"v":1}"#)
        .await;
    let just_before = app.clock.now().plus_millis(-1).plus_secs(86_400);
    assert_eq!(app.idempotency.purge(just_before, 100).await.ok(), Some(0));

    // Act
    app.clock.advance(TTL);
    let purged = app.idempotency.purge(app.clock.now(), 100).await.ok();
    let later = app
        .post_keyed("/test/idempotent", "key-9", r#"{"v":2}"#)
        .await;

    // Assert
    assert_eq!(purged, Some(1));
    assert_eq!(later.status, StatusCode::CREATED, "{}", later.text());
    assert!(!later.is_replay());
    assert_eq!(later.body, br#"{"v":2}"#);
    assert_eq!(app.probe.calls(), 2);
}

#[tokio::test]
async fn a_request_abandoned_by_the_timeout_releases_its_key() {
    // Arrange: the gated handler never finishes within the 200 ms timeout
    let app = spawn_with(ApiConfig {
        request_timeout_ms: 200,
        ..ApiConfig::default()
    })
    .await;
    app.post_keyed("/test/idempotent/gated", "key-10", "{}")
        .await
        .problem(503, "request_timeout");

    // Act: the release runs in the background; until it lands a retry is in progress
    let mut retry = app
        .post_keyed("/test/idempotent/gated", "key-10", "{}")
        .await;
    for _ in 0..50 {
        if retry.status != StatusCode::CONFLICT {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        retry = app
            .post_keyed("/test/idempotent/gated", "key-10", "{}")
            .await;
    }

    // Assert: the retry ran the handler again (and timed out again)
    retry.problem(503, "request_timeout");
    assert_eq!(app.probe.calls(), 2);
}

#[tokio::test]
async fn a_route_that_did_not_opt_in_ignores_the_header() {
    let app = spawn_app().await;

    let first = app.post_keyed("/test/plain", "key-11", "{}").await;
    let second = app.post_keyed("/test/plain", "key-11", "{}").await;

    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(second.status, StatusCode::CREATED);
    assert!(!second.is_replay());
    assert_eq!(app.probe.calls(), 2);
}
