//! Service routes and the conventions every route shares: health, readiness, metrics, request
//! ids, the problem registry, the OpenAPI document and the route table.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{fill_path, items_of, TestApp};

/// The API guide, the contract the suite checks the server against.
const API_GUIDE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/API.md"));

/// This suite's sources, scanned for the problem codes its tests expect.
const SUITE_SOURCES: &[&str] = &[
    include_str!("service.rs"),
    include_str!("catalog.rs"),
    include_str!("carts.rs"),
    include_str!("bad_input.rs"),
    include_str!("totals.rs"),
];

const HTTP_METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

#[tokio::test]
async fn healthz_answers_200_ok() {
    // Arrange
    let app = TestApp::spawn().await;

    // Act
    let res = app.get("/healthz").await;

    // Assert
    assert_eq!(res.assert_status(200), &json!({"status": "ok"}));
    assert_eq!(res.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn readyz_answers_200_ready_when_the_databases_answer() {
    // Arrange
    let app = TestApp::spawn().await;

    // Act
    let res = app.get("/readyz").await;

    // Assert
    assert_eq!(res.assert_status(200), &json!({"status": "ready"}));
}

#[tokio::test]
async fn metrics_count_requests_by_method_route_template_and_status() {
    // Arrange
    let app = TestApp::spawn().await;
    app.get("/v1/products/no-such-handle")
        .await
        .assert_problem(404, "product_not_found");
    app.get("/v1/products/no-such-handle").await;

    // Act
    let res = app.get("/metrics").await;

    // Assert
    res.assert_status(200);
    assert!(res
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/plain")));
    let text = res.body.as_str().expect("metrics are text");
    assert!(
        text.contains("# TYPE kassa_http_requests_total counter"),
        "{text}"
    );
    // The route label is the template, never the raw path, and both requests are counted.
    assert!(
        text.contains(
            "kassa_http_requests_total{method=\"GET\",route=\"/v1/products/{product}\",status=\"404\"} 2"
        ),
        "{text}"
    );
    assert!(!text.contains("no-such-handle"), "{text}");
    assert!(
        text.contains("kassa_http_request_duration_seconds_bucket{"),
        "{text}"
    );
}

/// A UUID in its hyphenated form, version 7 (what the server makes when it picks the id).
fn is_uuid_v7(id: &str) -> bool {
    let bytes = id.as_bytes();
    id.len() == 36
        && [8, 13, 18, 23].iter().all(|&i| bytes[i] == b'-')
        && bytes[14] == b'7'
        && id
            .bytes()
            .enumerate()
            .all(|(i, b)| [8, 13, 18, 23].contains(&i) || b.is_ascii_hexdigit())
}

#[tokio::test]
async fn every_response_carries_a_request_id_whatever_its_status() {
    // Arrange
    let app = TestApp::spawn().await;

    // Act
    let ok = app.get("/healthz").await;
    let not_found = app.get("/v1/no-such-route").await;
    let invalid = app.get("/v1/products?limit=101").await;
    let not_allowed = app.send(Method::DELETE, "/healthz", None, &[]).await;

    // Assert
    ok.assert_status(200);
    not_found.assert_problem(404, "route_not_found");
    invalid.assert_problem(422, "validation_failed");
    not_allowed.assert_problem(405, "method_not_allowed");
    assert!(not_allowed
        .header("allow")
        .is_some_and(|allow| allow.contains("GET")));
    for res in [&ok, &not_found, &invalid, &not_allowed] {
        let id = res.header("x-request-id").unwrap_or_default();
        assert!(
            is_uuid_v7(id),
            "{} has request id {id:?}",
            res.status.as_u16()
        );
    }
    for problem in [&not_found, &invalid, &not_allowed] {
        let id = problem.header("x-request-id").unwrap_or_default();
        assert_eq!(problem.body["instance"], format!("urn:request:{id}"));
    }
    let ids: BTreeSet<&str> = [&ok, &not_found, &invalid, &not_allowed]
        .iter()
        .filter_map(|res| res.header("x-request-id"))
        .collect();
    assert_eq!(ids.len(), 4, "request ids repeat: {ids:?}");
}

#[tokio::test]
async fn an_incoming_request_id_is_echoed_and_used_as_the_problem_instance() {
    // Arrange
    let app = TestApp::spawn().await;
    let id = "client-req_0191b7c2~42";

    // Act
    let ok = app
        .send(Method::GET, "/healthz", None, &[("x-request-id", id)])
        .await;
    let problem = app
        .send(Method::GET, "/v1/nowhere", None, &[("x-request-id", id)])
        .await;

    // Assert
    assert_eq!(ok.header("x-request-id"), Some(id));
    problem.assert_problem(404, "route_not_found");
    assert_eq!(problem.header("x-request-id"), Some(id));
    assert_eq!(problem.body["instance"], format!("urn:request:{id}"));
}

#[tokio::test]
async fn an_unusable_incoming_request_id_is_replaced_by_a_new_one() {
    // Arrange
    let app = TestApp::spawn().await;
    let too_long = "a".repeat(65);

    // Act
    let spaced = app
        .send(
            Method::GET,
            "/healthz",
            None,
            &[("x-request-id", "two words")],
        )
        .await;
    let long = app
        .send(
            Method::GET,
            "/healthz",
            None,
            &[("x-request-id", &too_long)],
        )
        .await;

    // Assert
    for res in [spaced, long] {
        let echoed = res.header("x-request-id").unwrap_or_default();
        assert!(is_uuid_v7(echoed), "kept an unusable id: {echoed:?}");
    }
}

/// Every code this suite passes to `assert_problem`, read from its own sources, so the list
/// cannot fall behind the tests.
fn codes_used_in_the_suite() -> BTreeSet<String> {
    let mut codes = BTreeSet::new();
    for source in SUITE_SOURCES {
        for (start, _) in source.match_indices("assert_problem(") {
            let rest = &source[start + "assert_problem(".len()..];
            // Only calls: a status literal, a comma, then the code literal.
            let Some(quote) = rest.find('"') else {
                continue;
            };
            let before = &rest[..quote];
            if before.is_empty()
                || !before
                    .chars()
                    .all(|c| c.is_ascii_digit() || c.is_whitespace() || c == ',')
            {
                continue;
            }
            let code: String = rest[quote + 1..]
                .chars()
                .take_while(|c| *c != '"')
                .collect();
            codes.insert(code);
        }
    }
    codes
}

#[tokio::test]
async fn the_problem_registry_lists_every_code_the_tests_expect_and_serves_each_entry() {
    // Arrange
    let app = TestApp::spawn().await;
    let used = codes_used_in_the_suite();
    assert!(
        used.len() >= 20,
        "the source scan found too few codes: {used:?}"
    );

    // Act
    let res = app.get("/problems").await;

    // Assert
    let body = res.assert_status(200);
    assert_eq!(body["next_cursor"], Value::Null);
    let listed: BTreeSet<String> = items_of(body)
        .iter()
        .filter_map(|p| p["code"].as_str().map(str::to_owned))
        .collect();
    let missing: Vec<&String> = used.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "codes used but not registered: {missing:?}"
    );
    for entry in items_of(body) {
        let code = entry["code"].as_str().expect("code");
        let slug = code.replace('_', "-");
        assert_eq!(entry["type"], format!("/problems/{slug}"));
        let one = app.get(&format!("/problems/{slug}")).await;
        assert_eq!(one.assert_status(200), entry, "{code}");
    }
    app.get("/problems/no-such-problem")
        .await
        .assert_problem(404, "route_not_found");
}

#[tokio::test]
async fn every_registered_problem_code_is_documented_in_the_api_guide() {
    // Arrange
    let app = TestApp::spawn().await;

    // Act
    let res = app.get("/problems").await;

    // Assert
    let undocumented: Vec<String> = items_of(res.assert_status(200))
        .iter()
        .filter_map(|p| p["code"].as_str())
        .filter(|code| !API_GUIDE.contains(&format!("`{code}`")))
        .map(str::to_owned)
        .collect();
    assert!(
        undocumented.is_empty(),
        "registered codes missing from docs/API.md: {undocumented:?}"
    );
}

#[tokio::test]
async fn the_openapi_document_is_valid_and_lists_exactly_the_routes_the_router_serves() {
    // Arrange
    let app = TestApp::spawn().await;

    // Act
    let res = app.get("/v1/openapi.json").await;

    // Assert
    let doc = res.assert_status(200);
    assert_eq!(kassa_api::openapi::check_openapi(doc), Vec::<String>::new());
    let documented = kassa_api::openapi::operations(doc);
    let served = app.route_table.entries();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not in OpenAPI: {undocumented:?}; in OpenAPI but not served: {unserved:?}"
    );
}

#[tokio::test]
async fn every_documented_operation_is_answered_by_its_route_on_the_live_server() {
    // Arrange
    let app = TestApp::spawn().await;
    let doc = app.get("/v1/openapi.json").await.assert_status(200).clone();
    let operations = kassa_api::openapi::operations(&doc);
    assert!(operations.len() >= 30, "too few operations: {operations:?}");
    let auth = format!("Bearer {}", app.owner_token().await);
    let cart_token = "not-a-real-cart-token";

    for (method, template) in &operations {
        // Act
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        let path = fill_path(template);
        let body = matches!(method, Method::POST | Method::PUT | Method::PATCH).then(|| json!({}));
        let res = app
            .send(
                method.clone(),
                &path,
                body.as_ref(),
                &[("authorization", &auth), ("cart-token", cart_token)],
            )
            .await;

        // Assert
        let code = res.body["code"].as_str().unwrap_or_default();
        assert!(
            code != "route_not_found" && res.status.as_u16() != 405,
            "{method} {path} (documented as {template}) is not routed: {:#}",
            res.body
        );
        assert!(
            res.status.as_u16() < 500,
            "{method} {path} failed: {:#}",
            res.body
        );
    }
}

/// Every `METHOD /path` written in backticks in the guide.
fn routes_in_the_guide() -> BTreeSet<(String, String)> {
    API_GUIDE
        .split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|span| {
            let (method, path) = span.split_once(' ')?;
            (HTTP_METHODS.contains(&method) && path.starts_with('/') && !path.contains(' '))
                .then(|| (method.to_owned(), path.to_owned()))
        })
        .collect()
}

#[tokio::test]
async fn the_router_serves_exactly_the_routes_the_api_guide_documents() {
    // Arrange
    let app = TestApp::spawn().await;

    // Act
    let documented = routes_in_the_guide();

    // Assert
    let served = app.route_table.entries();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not in docs/API.md: {undocumented:?}; in docs/API.md but not served: {unserved:?}"
    );
}
