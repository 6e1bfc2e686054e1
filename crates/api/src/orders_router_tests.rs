//! The checkout, order, inventory, events and sandbox routes through the assembled router, over
//! the fakes: how their refusals render (extension members included) and which access rule each
//! applies. What the districts do is tested against real databases in `server/tests/api`.
//!
//! The checkout handler is also mounted at a test path without the `Idempotency-Key` middleware
//! (which needs a real store; see `idempotency_tests`), so its error mapping is tested alone.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::Router;
use http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt;
use kassa_cart::CartAccess;
use kassa_inventory::{InventoryError, Shortage};
use kassa_kernel::ids::OrderId;
use kassa_kernel::{Currency, Money, Sku, Timestamp};
use kassa_orders::{FlagKind, OrderError, OrderFlag, OrderFlagId};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::assemble;
use crate::fakes::{
    self, AlwaysReady, FakeCatalog, FakeIdentity, FakeOrders, CUSTOMER_TOKEN, OWNER_TOKEN,
    SUPPORT_TOKEN,
};
use crate::problem::PROBLEM_JSON;
use crate::route_table::Routes;
use crate::routes::orders::shopper;
use crate::state::ApiConfig;

const CART_ID: &str = "cart_0191b7c26d4e7cc28a113f2b4c5d6e7f";
const ORDER_ID: &str = "ord_0191b7c26d4e7cc28a113f2b4c5d6e7f";

struct App {
    router: Router,
    orders: Arc<FakeOrders>,
}

fn spawn() -> App {
    spawn_with(FakeOrders::default())
}

fn spawn_with(orders: FakeOrders) -> App {
    let orders = Arc::new(orders);
    let state = fakes::state_with_orders(
        ApiConfig::default(),
        Arc::new(AlwaysReady),
        Arc::new(FakeIdentity::default()),
        Arc::new(FakeCatalog::default()),
        orders.clone(),
    );
    let test_routes = Routes::new().post("/test/carts/{cart_id}/checkout", shopper::checkout);
    let (router, _) = assemble(crate::routes::all().merge(test_routes), state);
    let router = router.layer(MockConnectInfo(SocketAddr::from(([192, 0, 2, 9], 1))));
    App { router, orders }
}

impl App {
    async fn call(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let body = match body {
            Some(json) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        let request = builder
            .body(body)
            .unwrap_or_else(|e| panic!("bad test request: {e}"));
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|never| match never {});
        let status = response.status();
        let is_problem = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v == PROBLEM_JSON);
        let bytes = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_else(|e| panic!("body failed: {e}"));
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_client_error() || status.is_server_error() {
            assert!(is_problem, "{status} is not a problem: {json}");
        }
        (status, json)
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn a_checkout_short_of_stock_is_a_409_listing_every_short_sku() {
    // Arrange
    let app = spawn();
    let shortage = |sku: &str, requested, available| Shortage {
        sku: Sku::parse(sku).unwrap_or_else(|e| panic!("{e}")),
        requested,
        available,
    };
    app.orders
        .refuse_checkout(OrderError::Inventory(InventoryError::InsufficientStock {
            lines: vec![shortage("MUG", 2, 1), shortage("TEE-M", 1, 0)],
        }));

    // Act
    let (status, problem) = app
        .call(
            Method::POST,
            &format!("/test/carts/{CART_ID}/checkout"),
            &[("cart-token", "token-1")],
            Some(json!({"payment_method": "pm_sandbox_success"})),
        )
        .await;

    // Assert
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "insufficient_stock");
    assert_eq!(
        problem["skus"],
        json!([
            {"sku": "MUG", "requested": 2, "available": 1},
            {"sku": "TEE-M", "requested": 1, "available": 0},
        ])
    );
    let request = app.orders.last_checkout();
    assert_eq!(request.map(|r| r.customer), Some(None));
}

#[tokio::test]
async fn a_signed_in_customer_s_checkout_is_theirs_and_a_cart_not_ready_names_the_fields() {
    // Arrange
    let app = spawn();

    // Act: the fake answers cart_not_ready for an empty cart.
    let (status, problem) = app
        .call(
            Method::POST,
            &format!("/test/carts/{CART_ID}/checkout"),
            &[("authorization", &bearer(CUSTOMER_TOKEN))],
            Some(json!({"payment_method": "pm_sandbox_success"})),
        )
        .await;

    // Assert
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "cart_not_ready");
    assert_eq!(problem["errors"][0]["pointer"], "/lines");
    let request = app.orders.last_checkout();
    let customer = request.as_ref().and_then(|r| r.customer);
    assert!(customer.is_some());
    assert!(matches!(
        request.map(|r| r.access),
        Some(CartAccess::Customer(id)) if Some(id) == customer
    ));
}

#[tokio::test]
async fn a_checkout_without_a_usable_payment_method_is_refused_before_the_saga() {
    // Arrange
    let app = spawn();

    // Act
    let (status, problem) = app
        .call(
            Method::POST,
            &format!("/test/carts/{CART_ID}/checkout"),
            &[("cart-token", "token-1")],
            Some(json!({"payment_method": ""})),
        )
        .await;

    // Assert
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], "/payment_method");
    assert!(app.orders.last_checkout().is_none());
}

#[tokio::test]
async fn an_order_opens_only_with_a_token_or_a_customer_and_else_is_order_not_found() {
    // Arrange
    let app = spawn();
    let path = format!("/v1/orders/{ORDER_ID}");

    // Act + Assert: nothing to open it with, a malformed id, a token the service refuses.
    for (uri, headers) in [
        (path.as_str(), vec![]),
        ("/v1/orders/not-an-order", vec![("order-token", "t")]),
        (path.as_str(), vec![("order-token", "wrong")]),
    ] {
        let (status, problem) = app.call(Method::GET, uri, &headers, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {problem}");
        assert_eq!(problem["code"], "order_not_found");
    }
    // A bearer token that is not a customer's is a 401, never read as "no one".
    let owner = bearer(OWNER_TOKEN);
    let (status, problem) = app
        .call(Method::GET, &path, &[("authorization", &owner)], None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    // The customer's list needs a customer.
    let (status, _) = app.call(Method::GET, "/v1/orders", &[], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let customer = bearer(CUSTOMER_TOKEN);
    let (status, page) = app
        .call(
            Method::GET,
            "/v1/orders",
            &[("authorization", &customer)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page, json!({"items": [], "next_cursor": null}));
}

#[tokio::test]
async fn staff_order_filters_are_checked_and_named() {
    // Arrange
    let app = spawn();
    let owner = bearer(OWNER_TOKEN);

    // Act
    let (status, problem) = app
        .call(
            Method::GET,
            "/v1/admin/orders?status=lost&customer_id=x&email=nope",
            &[("authorization", &owner)],
            None,
        )
        .await;

    // Assert
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let pointers: Vec<&str> = problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["pointer"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(pointers, ["/status", "/customer_id", "/email"]);
    let (status, _) = app
        .call(
            Method::GET,
            "/v1/admin/orders?status=confirmed",
            &[("authorization", &owner)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn stock_routes_check_the_sku_and_the_permission() {
    // Arrange
    let app = spawn();
    let owner = bearer(OWNER_TOKEN);
    let support = bearer(SUPPORT_TOKEN);

    // Act
    let (bad_sku, problem) = app
        .call(
            Method::GET,
            "/v1/admin/inventory/not%20a%20sku",
            &[("authorization", &owner)],
            None,
        )
        .await;
    let (read, stock) = app
        .call(
            Method::GET,
            "/v1/admin/inventory/mug",
            &[("authorization", &support)],
            None,
        )
        .await;
    let (write, refused) = app
        .call(
            Method::PUT,
            "/v1/admin/inventory/MUG",
            &[("authorization", &support)],
            Some(json!({"on_hand": 1})),
        )
        .await;

    // Assert
    assert_eq!(bad_sku, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "invalid_sku");
    assert_eq!(read, StatusCode::OK);
    assert_eq!(
        stock,
        json!({"sku": "MUG", "on_hand": 0, "reserved": 0, "available": 0, "levels": []})
    );
    assert_eq!(write, StatusCode::FORBIDDEN);
    assert_eq!(refused["code"], "forbidden");
}

#[tokio::test]
async fn events_need_a_known_source_and_the_audit_permission() {
    // Arrange
    let app = spawn();
    let owner = bearer(OWNER_TOKEN);
    let support = bearer(SUPPORT_TOKEN);

    // Act + Assert
    for (uri, pointer) in [
        ("/v1/admin/events", "/source"),
        ("/v1/admin/events?source=shipping", "/source"),
        ("/v1/admin/events?source=orders&after=x", "/after"),
        ("/v1/admin/events?source=orders&limit=0", "/limit"),
        ("/v1/admin/events?source=orders&limit=101", "/limit"),
    ] {
        let (status, problem) = app
            .call(Method::GET, uri, &[("authorization", &owner)], None)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{uri}: {problem}");
        assert_eq!(problem["errors"][0]["pointer"], pointer, "{uri}");
    }
    let (status, page) = app
        .call(
            Method::GET,
            "/v1/admin/events?source=inventory",
            &[("authorization", &owner)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page, json!({"items": [], "next_cursor": null}));
    let (status, _) = app
        .call(
            Method::GET,
            "/v1/admin/events?source=orders",
            &[("authorization", &support)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_challenge_route_is_not_found_without_the_sandbox_gateway() {
    // Arrange
    let app = spawn();

    // Act
    let (status, problem) = app
        .call(
            Method::POST,
            "/v1/sandbox/challenges/sbx_1?outcome=succeed",
            &[],
            None,
        )
        .await;

    // Assert
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    assert_eq!(problem["code"], "route_not_found");
}

/// An open dispute flag on the order [`ORDER_ID`].
fn dispute_flag() -> OrderFlag {
    OrderFlag {
        id: OrderFlagId::new(),
        order_id: ORDER_ID.parse().unwrap_or_else(|e| panic!("{e}")),
        kind: FlagKind::Dispute,
        source_ref: "dp_1".to_owned(),
        reason: "fraudulent".to_owned(),
        amount: Money::new(2500, Currency::Eur),
        status: "needs_response".to_owned(),
        payment_id: "pay_0191b7c26d4e7cc28a113f2b4c5d6e7f".to_owned(),
        raised_at: Timestamp::from_millis(1_795_000_000_000),
        resolved_at: None,
        resolved_by: None,
    }
}

#[tokio::test]
async fn flagged_true_lists_only_orders_with_open_flags_and_other_values_are_named() {
    // Arrange
    let app = spawn();
    let support = bearer(SUPPORT_TOKEN);

    // Act
    let (flagged, page) = app
        .call(
            Method::GET,
            "/v1/admin/orders?flagged=true&limit=5",
            &[("authorization", &support)],
            None,
        )
        .await;
    let (unflagged, _) = app
        .call(
            Method::GET,
            "/v1/admin/orders?flagged=false",
            &[("authorization", &support)],
            None,
        )
        .await;
    let (bad, problem) = app
        .call(
            Method::GET,
            "/v1/admin/orders?flagged=yes&status=lost",
            &[("authorization", &support)],
            None,
        )
        .await;

    // Assert
    assert_eq!(flagged, StatusCode::OK, "{page}");
    assert_eq!(page, json!({"items": [], "next_cursor": null}));
    assert_eq!(unflagged, StatusCode::OK);
    assert_eq!(app.orders.lists(), [true, false]);
    assert_eq!(bad, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], "/status");
    assert_eq!(problem["errors"][1]["pointer"], "/flagged");
}

#[tokio::test]
async fn resolving_a_flag_answers_it_resolved_by_the_caller_and_again_unchanged() {
    // Arrange
    let flag = dispute_flag();
    let app = spawn_with(FakeOrders::with_flag(flag.clone()));
    let owner = bearer(OWNER_TOKEN);
    let path = format!("/v1/admin/orders/{ORDER_ID}/flags/{}/resolve", flag.id);

    // Act
    let (first, resolved) = app
        .call(Method::POST, &path, &[("authorization", &owner)], None)
        .await;
    let (again, same) = app
        .call(Method::POST, &path, &[("authorization", &owner)], None)
        .await;

    // Assert
    assert_eq!(first, StatusCode::OK, "{resolved}");
    let resolved_by = resolved["flag"]["resolved_by"].clone();
    assert!(
        resolved_by
            .as_str()
            .is_some_and(|id| id.starts_with("staff_")),
        "{resolved}"
    );
    assert_eq!(
        resolved,
        json!({"flag": {
            "id": flag.id.to_string(),
            "kind": "dispute",
            "dispute_ref": "dp_1",
            "reason": "fraudulent",
            "amount": {"amount_minor": 2500, "currency": "EUR"},
            "status": "needs_response",
            "raised_at": "2026-11-18T11:06:40.000Z",
            "resolved_at": fakes::now().to_rfc3339(),
            "resolved_by": resolved_by,
        }})
    );
    assert_eq!(again, StatusCode::OK);
    assert_eq!(same, resolved);
}

#[tokio::test]
async fn resolving_needs_the_orders_write_permission_and_names_what_is_missing() {
    // Arrange
    let flag = dispute_flag();
    let app = spawn_with(FakeOrders::with_flag(flag.clone()));
    let owner = bearer(OWNER_TOKEN);
    let support = bearer(SUPPORT_TOKEN);
    let resolve =
        |order: &str, flag: &str| format!("/v1/admin/orders/{order}/flags/{flag}/resolve");
    let other_order = OrderId::new().to_string();
    let other_flag = OrderFlagId::new().to_string();

    // Act + Assert
    let (status, problem) = app
        .call(
            Method::POST,
            &resolve(ORDER_ID, &flag.id.to_string()),
            &[("authorization", &support)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(problem["code"], "forbidden");
    for (uri, code) in [
        (resolve(ORDER_ID, &other_flag), "order_flag_not_found"),
        (
            resolve(&other_order, &flag.id.to_string()),
            "order_not_found",
        ),
        (resolve(ORDER_ID, "ofl_1"), "invalid_path_parameter"),
        (resolve(ORDER_ID, ORDER_ID), "invalid_path_parameter"),
    ] {
        let (status, problem) = app
            .call(Method::POST, &uri, &[("authorization", &owner)], None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {problem}");
        assert_eq!(problem["code"], code, "{uri}");
    }
    let (status, _) = app
        .call(
            Method::GET,
            &resolve(ORDER_ID, &flag.id.to_string()),
            &[("authorization", &owner)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}
