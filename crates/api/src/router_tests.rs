//! The assembled application, driven through `tower::ServiceExt::oneshot`: the middleware stack,
//! the fallback, the extractors' problems and the service routes, as a client sees them.
//! Test-only routes (under `/test`) add a JSON handler, a panic, a slow handler and so on to the
//! real stack through `assemble`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::Router;
use http::{header, HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use kassa_kernel::ids::ProductId;
use kassa_kernel::Quantity;
use serde::Deserialize;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::auth::{CatalogRead, Staff};
use crate::extract::{Json, Path, Query};
use crate::fakes::{self, FakeCatalog, FakeIdentity, OWNER_TOKEN, SUPPORT_TOKEN};
use crate::page::PageQuery;
use crate::problem::PROBLEM_JSON;
use crate::request_id::REQUEST_ID_HEADER;
use crate::route_table::Routes;
use crate::state::{ApiConfig, Readiness};
use crate::{assemble, build, openapi};

/// Small enough that the over-limit test body is small.
const TEST_BODY_LIMIT_BYTES: usize = 1024;
const TEST_TIMEOUT_MS: u64 = 100;
/// The TCP peer every test request seems to come from.
const CLIENT_ADDR: ([u8; 4], u16) = ([192, 0, 2, 7], 40_000);

struct FakeReadiness {
    ready: AtomicBool,
}

#[async_trait::async_trait]
impl Readiness for FakeReadiness {
    async fn check(&self) -> Result<(), String> {
        if self.ready.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err("database unreachable".to_owned())
        }
    }
}

struct TestApp {
    router: Router,
    readiness: Arc<FakeReadiness>,
    /// Knows one product, [`fakes::product`]; the cart fake knows no carts.
    catalog: Arc<FakeCatalog>,
    /// Knows three tokens, and what the audit layer recorded.
    identity: Arc<FakeIdentity>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrder {
    lines: Vec<NewLine>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewLine {
    sku: String,
    quantity: Quantity,
}

async fn create_order(Json(order): Json<NewOrder>) -> (StatusCode, Json<Value>) {
    let lines: Vec<Value> = order
        .lines
        .iter()
        .map(|l| json!({"sku": l.sku, "quantity": l.quantity.get()}))
        .collect();
    (StatusCode::CREATED, Json(json!({ "lines": lines })))
}

async fn echo(Json(value): Json<Value>) -> Json<Value> {
    Json(value)
}

async fn panics() -> &'static str {
    panic!("the secret table is on fire")
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_millis(TEST_TIMEOUT_MS * 20)).await;
    "too late"
}

async fn product(Path(product_id): Path<ProductId>) -> String {
    product_id.to_string()
}

async fn page(Query(query): Query<PageQuery>) -> Result<String, crate::ApiError> {
    let page = query.check(100)?;
    Ok(page.limit.to_string())
}

async fn plain_payload_too_large() -> StatusCode {
    StatusCode::PAYLOAD_TOO_LARGE
}

async fn admin_ping(_staff: Staff<CatalogRead>) -> &'static str {
    "pong"
}

fn test_routes() -> Routes {
    Routes::new()
        .post("/test/orders", create_order)
        .post("/test/echo", echo)
        .get("/test/panic", panics)
        .get("/test/slow", slow)
        .get("/test/products/{product_id}", product)
        .get("/test/page", page)
        .get("/test/plain-413", plain_payload_too_large)
        .get("/v1/admin/ping", admin_ping)
}

fn spawn_app() -> TestApp {
    let readiness = Arc::new(FakeReadiness {
        ready: AtomicBool::new(true),
    });
    let config = ApiConfig {
        body_limit_bytes: TEST_BODY_LIMIT_BYTES,
        request_timeout_ms: TEST_TIMEOUT_MS,
        ..ApiConfig::default()
    };
    let catalog = Arc::new(FakeCatalog::with_product(fakes::product()));
    let identity = Arc::new(FakeIdentity::default());
    let state = fakes::state(config, readiness.clone(), identity.clone(), catalog.clone());
    let (router, _) = assemble(crate::routes::all().merge(test_routes()), state);
    // What `into_make_service_with_connect_info` gives the real server.
    let router = router.layer(MockConnectInfo(SocketAddr::from(CLIENT_ADDR)));
    TestApp {
        router,
        readiness,
        catalog,
        identity,
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the reply is a problem document of `code` with `status`, and returns it.
    fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        assert_eq!(self.header("content-type"), Some(PROBLEM_JSON));
        let problem = self.json();
        assert_eq!(problem["code"], code, "{problem}");
        assert_eq!(problem["status"], status);
        assert_eq!(
            problem["type"],
            format!("/problems/{}", code.replace('_', "-"))
        );
        assert!(problem["title"].as_str().is_some_and(|t| !t.is_empty()));
        let request_id = self
            .header("x-request-id")
            .unwrap_or_else(|| panic!("no x-request-id"));
        assert_eq!(problem["instance"], format!("urn:request:{request_id}"));
        problem
    }
}

impl TestApp {
    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|never| match never {});
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

    async fn get(&self, uri: &str) -> Reply {
        self.send(request(Method::GET, uri, Body::empty())).await
    }

    async fn post_json(&self, uri: &str, body: &str) -> Reply {
        self.call(Method::POST, uri, &[], Some(body)).await
    }

    /// A request with extra headers and, if given, a JSON body.
    async fn call(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        json: Option<&str>,
    ) -> Reply {
        let body = json.map_or_else(Body::empty, |b| Body::from(b.to_owned()));
        let mut builder = Request::builder().method(method).uri(uri);
        if json.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let req = builder
            .body(body)
            .unwrap_or_else(|e| panic!("bad test request: {e}"));
        self.send(req).await
    }

    /// A staff request: [`Self::call`] with the owner's bearer token.
    async fn admin(&self, method: Method, uri: &str, json: Option<&str>) -> Reply {
        let bearer = format!("Bearer {OWNER_TOKEN}");
        self.call(method, uri, &[("authorization", &bearer)], json)
            .await
    }
}

fn request(method: Method, uri: &str, body: Body) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .body(body)
        .unwrap_or_else(|e| panic!("bad test request: {e}"))
}

#[tokio::test]
async fn an_unknown_route_answers_a_404_problem_with_a_request_id() {
    let app = spawn_app();
    let reply = app.get("/no/such/route").await;
    reply.problem(404, "route_not_found");
    assert!(reply
        .header("x-request-id")
        .is_some_and(|id| !id.is_empty()));
}

#[tokio::test]
async fn a_wrong_method_answers_a_405_problem_that_keeps_the_allow_header() {
    let app = spawn_app();
    let reply = app
        .send(request(Method::DELETE, "/healthz", Body::empty()))
        .await;
    reply.problem(405, "method_not_allowed");
    assert!(reply
        .header("allow")
        .is_some_and(|allow| allow.contains("GET")));
}

#[tokio::test]
async fn a_valid_json_body_reaches_the_handler() {
    let app = spawn_app();
    let reply = app
        .post_json(
            "/test/orders",
            r#"{"lines":[{"sku":"TSHIRT-RED-M","quantity":2}]}"#,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.json()["lines"][0]["quantity"], 2);
}

#[tokio::test]
async fn malformed_json_answers_400_malformed_request() {
    let app = spawn_app();
    let reply = app.post_json("/test/orders", r#"{"lines": [}"#).await;
    let problem = reply.problem(400, "malformed_request");
    assert!(problem.get("errors").is_none());
}

#[tokio::test]
async fn an_unknown_field_answers_422_with_its_pointer() {
    let app = spawn_app();
    let reply = app
        .post_json(
            "/test/orders",
            r#"{"lines":[{"sku":"A","quantity":1,"colour":"red"}]}"#,
        )
        .await;
    let problem = reply.problem(422, "validation_failed");
    assert_eq!(problem["errors"][0]["pointer"], "/lines/0/colour");
}

#[tokio::test]
async fn a_zero_quantity_answers_422_pointing_at_the_quantity() {
    let app = spawn_app();
    let reply = app
        .post_json("/test/orders", r#"{"lines":[{"sku":"A","quantity":0}]}"#)
        .await;
    let problem = reply.problem(422, "validation_failed");
    assert_eq!(
        problem["errors"],
        json!([{"pointer": "/lines/0/quantity", "message": "quantity must be at least 1"}])
    );
}

#[tokio::test]
async fn a_body_without_json_content_type_answers_415() {
    let app = spawn_app();
    let mut req = request(Method::POST, "/test/orders", Body::from(r#"{"lines":[]}"#));
    req.headers_mut().insert(
        header::CONTENT_TYPE,
        "text/plain".parse().unwrap_or_else(|_| unreachable!()),
    );
    app.send(req).await.problem(415, "unsupported_media_type");

    let req = request(Method::POST, "/test/orders", Body::from(r#"{"lines":[]}"#));
    app.send(req).await.problem(415, "unsupported_media_type");
}

/// A JSON string document of exactly `len` bytes.
fn json_of_len(len: usize) -> String {
    format!("\"{}\"", "x".repeat(len - 2))
}

#[tokio::test]
async fn a_body_at_the_limit_is_read_and_one_byte_more_answers_413() {
    let app = spawn_app();
    let at_limit = app
        .post_json("/test/echo", &json_of_len(TEST_BODY_LIMIT_BYTES))
        .await;
    assert_eq!(at_limit.status, StatusCode::OK, "{}", at_limit.text());

    let over = app
        .post_json("/test/echo", &json_of_len(TEST_BODY_LIMIT_BYTES + 1))
        .await;
    over.problem(413, "payload_too_large");
}

#[tokio::test]
async fn a_plain_error_response_from_outside_our_handlers_becomes_a_problem() {
    let app = spawn_app();
    app.get("/test/plain-413")
        .await
        .problem(413, "payload_too_large");
}

#[tokio::test]
async fn a_panicking_handler_answers_500_with_the_generic_detail_only() {
    let app = spawn_app();
    let reply = app.get("/test/panic").await;
    let problem = reply.problem(500, "internal_error");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(!detail.contains("secret"), "{detail}");
    assert!(detail.contains("request id"), "{detail}");
}

#[tokio::test]
async fn a_request_past_its_timeout_answers_503_with_retry_after() {
    let app = spawn_app();
    let reply = app.get("/test/slow").await;
    reply.problem(503, "request_timeout");
    assert_eq!(reply.header("retry-after"), Some("1"));
}

#[tokio::test]
async fn an_incoming_request_id_is_echoed_and_becomes_the_instance() {
    let app = spawn_app();
    let mut req = request(Method::GET, "/no/such/route", Body::empty());
    req.headers_mut().insert(
        &REQUEST_ID_HEADER,
        "client-id-42".parse().unwrap_or_else(|_| unreachable!()),
    );
    let reply = app.send(req).await;
    assert_eq!(reply.header("x-request-id"), Some("client-id-42"));
    assert_eq!(
        reply.problem(404, "route_not_found")["instance"],
        "urn:request:client-id-42"
    );

    let ok = app.get("/healthz").await;
    assert!(ok.header("x-request-id").is_some());
}

#[tokio::test]
async fn an_unacceptable_incoming_request_id_is_replaced_by_a_uuid() {
    let app = spawn_app();
    let mut req = request(Method::GET, "/healthz", Body::empty());
    let too_long = "a".repeat(65);
    req.headers_mut().insert(
        &REQUEST_ID_HEADER,
        too_long.parse().unwrap_or_else(|_| unreachable!()),
    );
    let reply = app.send(req).await;
    let id = reply.header("x-request-id").unwrap_or_default();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}

#[tokio::test]
async fn a_path_segment_that_is_not_an_id_answers_404_without_saying_why() {
    let app = spawn_app();
    let id = ProductId::new().to_string();
    let ok = app.get(&format!("/test/products/{id}")).await;
    assert_eq!(ok.text(), id);

    let reply = app.get("/test/products/cart_0191").await;
    let problem = reply.problem(404, "invalid_path_parameter");
    assert_eq!(problem["title"], "Resource not found");
    assert!(!problem["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("prod"));
}

#[tokio::test]
async fn query_parameters_are_checked_and_name_the_parameter() {
    let app = spawn_app();
    assert_eq!(app.get("/test/page?limit=100").await.text(), "100");
    let too_many = app.get("/test/page?limit=101").await;
    assert_eq!(
        too_many.problem(422, "validation_failed")["errors"][0]["pointer"],
        "/limit"
    );
    let not_a_number = app.get("/test/page?limit=ten").await;
    assert_eq!(
        not_a_number.problem(422, "validation_failed")["errors"][0]["pointer"],
        "/limit"
    );
    app.get("/test/page?cursor=%FF")
        .await
        .problem(400, "malformed_request");
}

#[tokio::test]
async fn admin_routes_need_a_staff_bearer_token_whose_role_has_the_permission() {
    let app = spawn_app();
    let reply = app.get("/v1/admin/ping").await;
    reply.problem(401, "unauthorized");
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));

    let garbage = [("authorization", "Bearer garbage")];
    let reply = app
        .call(Method::GET, "/v1/admin/ping", &garbage, None)
        .await;
    reply.problem(401, "invalid_token");
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));

    let support = format!("Bearer {SUPPORT_TOKEN}");
    let support = [("authorization", support.as_str())];
    let read = app
        .call(Method::GET, "/v1/admin/ping", &support, None)
        .await;
    assert_eq!(read.text(), "pong");
    app.call(
        Method::POST,
        "/v1/admin/categories",
        &support,
        Some(r#"{"handle": "mugs", "name": "Mugs"}"#),
    )
    .await
    .problem(403, "forbidden");

    assert_eq!(
        app.admin(Method::GET, "/v1/admin/ping", None).await.text(),
        "pong"
    );
}

#[tokio::test]
async fn a_successful_staff_change_is_audited_with_its_route_template_and_client() {
    let app = spawn_app();
    let reply = app
        .call(
            Method::POST,
            "/v1/admin/categories",
            &[
                ("authorization", &format!("Bearer {OWNER_TOKEN}")),
                ("x-request-id", "req-audit-1"),
            ],
            Some(r#"{"handle": "mugs", "name": "Mugs"}"#),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let set = app
        .admin(
            Method::PUT,
            "/v1/admin/tax-rates/DE",
            Some(r#"{"rate": "19"}"#),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text());

    let audits = app.identity.audits();
    assert_eq!(audits.len(), 2, "{audits:?}");
    assert_eq!(audits[0].staff, app.identity.owner);
    assert_eq!(audits[0].action, "POST /v1/admin/categories");
    assert_eq!(audits[0].resource, "/v1/admin/categories");
    assert_eq!(audits[0].request_id.as_deref(), Some("req-audit-1"));
    let client: std::net::IpAddr = CLIENT_ADDR.0.into();
    assert_eq!(audits[0].client_addr, Some(client));
    assert_eq!(audits[1].action, "PUT /v1/admin/tax-rates/{country}");
    assert_eq!(audits[1].resource, "/v1/admin/tax-rates/DE");
}

#[tokio::test]
async fn reads_refusals_and_failures_are_not_audited() {
    let app = spawn_app();
    app.admin(Method::GET, "/v1/admin/products", None).await;
    // Refused by the catalog (the fake knows no such product): a 404, nothing changed.
    let product = ProductId::new();
    app.admin(
        Method::POST,
        &format!("/v1/admin/products/{product}/archive"),
        None,
    )
    .await
    .problem(404, "product_not_found");
    // Refused by the permission check.
    let support = format!("Bearer {SUPPORT_TOKEN}");
    app.call(
        Method::DELETE,
        "/v1/admin/tax-rates/DE",
        &[("authorization", &support)],
        None,
    )
    .await
    .problem(403, "forbidden");
    // No token at all.
    app.call(Method::DELETE, "/v1/admin/tax-rates/DE", &[], None)
        .await
        .problem(401, "unauthorized");
    assert_eq!(app.identity.audits(), Vec::new());
}

#[tokio::test]
async fn a_throttled_registration_answers_429_with_the_throttles_retry_after() {
    let app = spawn_app();
    let reply = app
        .post_json(
            "/v1/customers",
            r#"{"email": "ada@example.com", "password": "a long enough passphrase"}"#,
        )
        .await;
    reply.problem(429, "throttled");
    assert_eq!(reply.header("retry-after"), Some("60"));

    let weak = app
        .post_json(
            "/v1/customers",
            r#"{"email": "ada@example.com", "password": "short"}"#,
        )
        .await;
    assert_eq!(
        weak.problem(422, "weak_password")["errors"][0]["pointer"],
        "/password"
    );
}

#[tokio::test]
async fn a_bad_bearer_token_on_a_cart_route_is_a_401_not_a_fallback_to_the_cart_token() {
    let app = spawn_app();
    let cart = kassa_kernel::ids::CartId::new();
    let reply = app
        .call(
            Method::GET,
            &format!("/v1/carts/{cart}"),
            &[("authorization", "Bearer expired"), ("cart-token", "t0ken")],
            None,
        )
        .await;
    reply.problem(401, "invalid_token");
    let staff = format!("Bearer {OWNER_TOKEN}");
    app.call(
        Method::GET,
        &format!("/v1/carts/{cart}"),
        &[("authorization", &staff)],
        None,
    )
    .await
    .problem(401, "invalid_token");
}

#[tokio::test]
async fn healthz_is_always_ok() {
    let app = spawn_app();
    app.readiness.ready.store(false, Ordering::SeqCst);
    let reply = app.get("/healthz").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_follows_the_readiness_check() {
    let app = spawn_app();
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.json(), json!({"status": "ready"}));

    app.readiness.ready.store(false, Ordering::SeqCst);
    let not_ready = app.get("/readyz").await;
    let problem = not_ready.problem(503, "not_ready");
    assert_eq!(not_ready.header("retry-after"), Some("1"));
    assert!(!problem["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("database"));
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_unmatched() {
    let app = spawn_app();
    let id = ProductId::new().to_string();
    app.get(&format!("/test/products/{id}")).await;
    app.get(&format!("/test/products/{id}")).await;
    app.get("/no/such/route").await;
    app.send(request(Method::DELETE, "/healthz", Body::empty()))
        .await;

    let reply = app.get("/metrics").await;
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = reply.text();
    for line in [
        r#"kassa_http_requests_total{method="GET",route="/test/products/{product_id}",status="200"} 2"#,
        r#"kassa_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"kassa_http_requests_total{method="DELETE",route="/healthz",status="405"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
    }
    assert!(!text.contains(&id), "raw paths must not become labels");
}

#[tokio::test]
async fn the_problem_registry_is_served_at_the_type_uris() {
    let app = spawn_app();
    let reply = app.get("/problems/validation-failed").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json(),
        json!({"type": "/problems/validation-failed", "title": "Validation failed",
               "status": 422, "code": "validation_failed"})
    );
    let quantity = app.get("/problems/invalid-quantity").await;
    assert_eq!(quantity.json()["status"], 422);

    app.get("/problems/no-such-problem")
        .await
        .problem(404, "route_not_found");

    let list = app.get("/problems").await.json();
    assert_eq!(list["next_cursor"], Value::Null);
    let count = list["items"].as_array().map_or(0, Vec::len);
    assert_eq!(count, crate::problem::registry().len());
}

#[tokio::test]
async fn the_served_openapi_document_is_valid_and_matches_the_route_table() {
    let app = spawn_app();
    let doc = app.get("/v1/openapi.json").await.json();
    assert_eq!(openapi::check_openapi(&doc), Vec::<String>::new());

    let (_, table) = build(fakes::plain_state(ApiConfig::default()));
    assert_eq!(table.entries(), &openapi::operations(&doc));
    assert!(table.contains(&Method::PUT, "/v1/carts/{cart_id}/shipping-address"));
    assert!(table.contains(&Method::GET, "/v1/products/{product}"));
}

// ---- catalog and cart routes: what the api layer itself decides --------------------------

#[tokio::test]
async fn a_product_is_found_by_id_or_handle_and_anything_else_is_product_not_found() {
    let app = spawn_app();
    let known = fakes::product();
    let by_handle = app.get("/v1/products/tee-aurora").await;
    assert_eq!(by_handle.status, StatusCode::OK, "{}", by_handle.text());
    let id = by_handle.json()["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(id.starts_with("prod_"), "{id}");
    assert_eq!(by_handle.json()["handle"], known.handle.as_str());

    let by_id = app.get(&format!("/v1/products/{id}")).await;
    assert_eq!(by_id.json(), by_handle.json());

    for unknown in [
        "Not%20A%20Handle",
        "prod_0191",
        "no-such-product",
        "%20tee-aurora",
        "%FF",
    ] {
        let reply = app.get(&format!("/v1/products/{unknown}")).await;
        reply.problem(404, "product_not_found");
    }
    let unknown_id = ProductId::new();
    app.get(&format!("/v1/products/{unknown_id}"))
        .await
        .problem(404, "product_not_found");
}

#[tokio::test]
async fn the_product_list_query_reaches_the_catalog_as_a_filter() {
    let app = spawn_app();
    let reply = app
        .get("/v1/products?limit=7&currency=EUR&price_max=900")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(reply.json()["next_cursor"], Value::Null);
    let filter = app
        .catalog
        .last_filter()
        .unwrap_or_else(|| panic!("not asked"));
    assert_eq!(filter.limit, 7);
    assert!(!filter.include_archived);
    assert_eq!(filter.price.map(|p| p.max_minor), Some(Some(900)));

    app.admin(Method::GET, "/v1/admin/products", None).await;
    let filter = app
        .catalog
        .last_filter()
        .unwrap_or_else(|| panic!("not asked"));
    assert!(filter.include_archived);
    assert_eq!(filter.limit, 20);

    let reply = app.get("/v1/products?price_min=100").await;
    let problem = reply.problem(422, "validation_failed");
    assert_eq!(problem["errors"][0]["pointer"], "/currency");
    let reply = app.get("/v1/products?cursor=cart_0191").await;
    assert_eq!(
        reply.problem(422, "validation_failed")["errors"][0]["pointer"],
        "/cursor"
    );
}

#[tokio::test]
async fn staff_catalog_writes_answer_201_and_refuse_bad_handles_and_currencies() {
    let app = spawn_app();
    let created = app
        .admin(
            Method::POST,
            "/v1/admin/categories",
            Some(r#"{"handle": "t-shirts", "name": " T-shirts "}"#),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    assert_eq!(created.json()["handle"], "t-shirts");
    assert_eq!(created.json()["name"], "T-shirts");

    let bad = app
        .admin(
            Method::POST,
            "/v1/admin/categories",
            Some(r#"{"handle": "T Shirts", "name": "T-shirts"}"#),
        )
        .await;
    assert_eq!(
        bad.problem(422, "invalid_handle")["errors"][0]["pointer"],
        "/handle"
    );

    let variant = kassa_kernel::ids::VariantId::new();
    app.admin(
        Method::PUT,
        &format!("/v1/admin/variants/{variant}/prices/eur"),
        Some(r#"{"amount_minor": 100}"#),
    )
    .await
    .problem(422, "unknown_currency");
    app.admin(
        Method::DELETE,
        &format!("/v1/admin/variants/{variant}/prices/EUR"),
        None,
    )
    .await
    .problem(404, "variant_not_found");
    app.admin(Method::POST, "/v1/admin/variants/var_1/archive", None)
        .await
        .problem(404, "invalid_path_parameter");
}

#[tokio::test]
async fn a_malformed_cart_or_line_id_and_a_missing_token_answer_like_an_unknown_cart() {
    let app = spawn_app();
    let token = [("cart-token", "t0ken")];
    let cart = kassa_kernel::ids::CartId::new();
    let line = kassa_kernel::ids::CartLineId::new();

    // The fake knows no carts: this is the service's own answer to compare with.
    let unknown = app
        .call(Method::GET, &format!("/v1/carts/{cart}"), &token, None)
        .await;
    unknown.problem(404, "cart_not_found");

    let quantity = Some(r#"{"quantity": 2}"#);
    let cases = [
        (
            Method::GET,
            "/v1/carts/nonsense".to_owned(),
            &token[..],
            None,
        ),
        (Method::GET, "/v1/carts/%FF".to_owned(), &token[..], None),
        (Method::GET, format!("/v1/carts/{line}"), &token[..], None),
        (Method::GET, format!("/v1/carts/{cart}"), &[][..], None),
        (
            Method::PATCH,
            format!("/v1/carts/{cart}/lines/{cart}"),
            &token[..],
            quantity,
        ),
        (
            Method::DELETE,
            format!("/v1/carts/x/lines/{line}"),
            &token[..],
            None,
        ),
        (
            Method::GET,
            format!("/v1/carts/{cart}/shipping-options"),
            &[("cart-token", "")][..],
            None,
        ),
    ];
    for (method, uri, headers, body) in cases {
        let reply = app.call(method.clone(), &uri, headers, body).await;
        reply.problem(404, "cart_not_found");
        assert!(reply.json().get("errors").is_none(), "{method} {uri}");
    }
}

#[tokio::test]
async fn tax_rate_routes_refuse_a_bad_country_with_422_and_a_bad_rate_at_its_pointer() {
    let app = spawn_app();
    let body = Some(r#"{"rate": "19.50"}"#);
    app.admin(Method::PUT, "/v1/admin/tax-rates/XX", body)
        .await
        .problem(422, "invalid_country");
    app.admin(Method::DELETE, "/v1/admin/tax-rates/germany", None)
        .await
        .problem(422, "invalid_country");

    let set = app.admin(Method::PUT, "/v1/admin/tax-rates/de", body).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text());
    assert_eq!(
        set.json(),
        json!({"country": "DE", "rate": "19.5", "updated_at": "2026-11-22T04:39:36.123Z"})
    );

    let bad = app
        .admin(
            Method::PUT,
            "/v1/admin/tax-rates/DE",
            Some(r#"{"rate": "100.5"}"#),
        )
        .await;
    assert_eq!(
        bad.problem(422, "invalid_rate")["errors"][0]["pointer"],
        "/rate"
    );
    app.admin(Method::DELETE, "/v1/admin/tax-rates/DE", None)
        .await
        .problem(404, "tax_rate_not_found");
}

#[tokio::test]
async fn a_shipping_option_needs_exactly_one_rate_and_delete_answers_204_without_a_body() {
    let app = spawn_app();
    let uri = "/v1/admin/shipping-options";
    let both = r#"{"name": "DHL", "countries": ["DE"], "currency": "EUR",
        "flat_amount_minor": 490, "weight_tiers": [{"max_weight_grams": 1000, "amount_minor": 490}]}"#;
    let neither = r#"{"name": "DHL", "countries": ["DE"], "currency": "EUR"}"#;
    for body in [both, neither] {
        app.admin(Method::POST, uri, Some(body))
            .await
            .problem(422, "validation_failed");
    }

    let unordered = r#"{"name": "DHL", "countries": ["DE"], "currency": "EUR", "weight_tiers": [
        {"max_weight_grams": 1000, "amount_minor": 490}, {"max_weight_grams": 500, "amount_minor": 990}]}"#;
    let reply = app.admin(Method::POST, uri, Some(unordered)).await;
    assert_eq!(
        reply.problem(422, "invalid_shipping_option")["errors"][0]["pointer"],
        "/weight_tiers/1/max_weight_grams"
    );
    let bad_country =
        r#"{"name": "DHL", "countries": ["DE", "XX"], "currency": "EUR", "flat_amount_minor": 1}"#;
    let reply = app.admin(Method::POST, uri, Some(bad_country)).await;
    assert_eq!(
        reply.problem(422, "validation_failed")["errors"][0]["pointer"],
        "/countries/1"
    );

    let flat = r#"{"name": " DHL Paket ", "countries": ["de", "AT", "DE"], "currency": "EUR", "flat_amount_minor": 490}"#;
    let created = app.admin(Method::POST, uri, Some(flat)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let option = created.json();
    assert_eq!(option["name"], "DHL Paket");
    assert_eq!(option["countries"], json!(["AT", "DE"]));
    assert_eq!(option["flat_amount_minor"], 490);
    assert_eq!(option["weight_tiers"], Value::Null);

    let id = option["id"].as_str().unwrap_or_default();
    let deleted = app
        .admin(Method::DELETE, &format!("{uri}/{id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.body.is_empty());
    assert_eq!(deleted.header("content-type"), None);
}
