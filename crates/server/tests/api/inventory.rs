//! The staff stock routes (docs/API.md, "Inventory (staff)") on the live server: setting,
//! reading and adjusting stock, what is refused and why, and who may do it.

use kassa_identity::Role;
use kassa_kernel::{Quantity, Sku};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{items_of, TestApp, TestResponse};

/// The location the migration creates, where stock is set unless a request names another.
const DEFAULT_LOCATION: &str = "loc_00000000000000000000000000000000";

fn stock_path(sku: &str) -> String {
    format!("/v1/admin/inventory/{sku}")
}

fn adjustments_path(sku: &str) -> String {
    format!("/v1/admin/inventory/{sku}/adjustments")
}

/// `POST …/adjustments` as the owner with its own `Idempotency-Key`.
async fn adjust(app: &TestApp, sku: &str, body: &Value, key: &str) -> TestResponse {
    let token = app.owner_token().await;
    let auth = format!("Bearer {token}");
    app.send(
        Method::POST,
        &adjustments_path(sku),
        Some(body),
        &[("authorization", &auth), ("idempotency-key", key)],
    )
    .await
}

/// Holds `quantity` units of `sku` for an order, through the inventory service (as the
/// checkout saga does), so the routes can be tested against reserved stock on their own.
async fn reserve(app: &TestApp, order_ref: &str, sku: &str, quantity: u32) {
    let line = (
        Sku::parse(sku).expect("a SKU"),
        Quantity::new(quantity).expect("a quantity"),
    );
    app.districts
        .inventory
        .reserve(order_ref.to_owned(), &[line], None)
        .await
        .expect("reserve stock");
}

#[tokio::test]
async fn set_stock_is_answered_with_the_levels_and_totals_and_read_back_the_same() {
    // Arrange
    let app = TestApp::spawn().await;

    // Act
    let set = app.set_stock("TEE-AURORA-M", 50).await;
    let read = app
        .admin(Method::GET, &stock_path("TEE-AURORA-M"), None)
        .await;

    // Assert
    let expected = json!({
        "sku": "TEE-AURORA-M",
        "on_hand": 50,
        "reserved": 0,
        "available": 50,
        "levels": [{
            "location_id": DEFAULT_LOCATION,
            "on_hand": 50,
            "reserved": 0,
            "available": 50,
        }],
    });
    assert_eq!(set, expected);
    assert_eq!(read.assert_status(200), &expected);
    assert_eq!(app.stock("TEE-AURORA-M").await, (50, 0));
}

#[tokio::test]
async fn a_sku_never_stocked_reads_as_zero_and_a_lower_case_sku_is_the_same_sku() {
    // Arrange
    let app = TestApp::spawn().await;
    app.set_stock("MUG", 3).await;

    // Act
    let never = app
        .admin(Method::GET, &stock_path("NEVER-STOCKED"), None)
        .await;
    let lower = app.admin(Method::GET, &stock_path("mug"), None).await;

    // Assert
    assert_eq!(
        never.assert_status(200),
        &json!({"sku": "NEVER-STOCKED", "on_hand": 0, "reserved": 0, "available": 0, "levels": []})
    );
    let lower = lower.assert_status(200);
    assert_eq!(lower["sku"], "MUG");
    assert_eq!(lower["on_hand"], 3);
}

#[tokio::test]
async fn an_adjustment_with_a_reason_changes_on_hand_and_answers_it_with_the_stock() {
    // Arrange
    let app = TestApp::spawn().await;
    app.set_stock("TEE-AURORA-M", 50).await;

    // Act
    let res = adjust(
        &app,
        "TEE-AURORA-M",
        &json!({"delta": -3, "reason": "  damaged in transit "}),
        "adjust-1",
    )
    .await;

    // Assert
    let body = res.assert_status(201);
    let adjustment = &body["adjustment"];
    assert!(adjustment["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("adj_")));
    assert_eq!(adjustment["delta"], -3);
    assert_eq!(adjustment["reason"], "damaged in transit");
    assert_eq!(adjustment["location_id"], DEFAULT_LOCATION);
    assert_eq!(adjustment["on_hand"], 47);
    assert_eq!(body["stock"]["on_hand"], 47);
    assert_eq!(body["stock"]["available"], 47);
    assert_eq!(app.stock("TEE-AURORA-M").await, (47, 0));
}

#[tokio::test]
async fn an_adjustment_retried_with_its_key_is_applied_once_and_replayed() {
    // Arrange
    let app = TestApp::spawn().await;
    app.set_stock("MUG", 10).await;
    let body = json!({"delta": 5, "reason": "found in the back room"});

    // Act
    let first = adjust(&app, "MUG", &body, "recount-42").await;
    let retry = adjust(&app, "MUG", &body, "recount-42").await;

    // Assert
    first.assert_status(201);
    retry.assert_status(201);
    assert_eq!(retry.body, first.body);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(app.stock("MUG").await, (15, 0));
}

#[tokio::test]
async fn stock_held_for_orders_cannot_be_set_or_adjusted_away() {
    // Arrange: 10 on hand, 4 held by an open checkout.
    let app = TestApp::spawn().await;
    app.set_stock("MUG", 10).await;
    reserve(&app, "ord_test_reserved", "MUG", 4).await;

    // Act
    let set_below = app
        .admin(
            Method::PUT,
            &stock_path("MUG"),
            Some(&json!({"on_hand": 3})),
        )
        .await;
    let adjust_below = adjust(&app, "MUG", &json!({"delta": -7, "reason": "lost"}), "k1").await;
    let adjust_to_reserved =
        adjust(&app, "MUG", &json!({"delta": -6, "reason": "lost"}), "k2").await;

    // Assert
    set_below.assert_problem(409, "stock_below_reserved");
    adjust_below.assert_problem(409, "stock_below_reserved");
    let body = adjust_to_reserved.assert_status(201);
    assert_eq!(body["stock"]["on_hand"], 4);
    assert_eq!(body["stock"]["reserved"], 4);
    assert_eq!(body["stock"]["available"], 0);
    assert_eq!(app.stock("MUG").await, (4, 4));
}

#[tokio::test]
async fn removing_more_than_is_on_hand_is_an_invalid_adjustment_and_changes_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    app.set_stock("MUG", 2).await;

    // Act
    let res = adjust(&app, "MUG", &json!({"delta": -3, "reason": "lost"}), "k").await;

    // Assert
    res.assert_problem(422, "invalid_stock_adjustment");
    assert_eq!(app.stock("MUG").await, (2, 0));
}

#[tokio::test]
async fn malformed_stock_requests_are_422s_that_name_the_field() {
    // Arrange
    let app = TestApp::spawn().await;
    app.set_stock("MUG", 5).await;
    let put = |body: Value| {
        let app = &app;
        async move {
            app.admin(Method::PUT, &stock_path("MUG"), Some(&body))
                .await
        }
    };

    // Act + Assert: the body's shape.
    put(json!({"on_hand": -1}))
        .await
        .assert_invalid_field("/on_hand", &["validation_failed"]);
    put(json!({}))
        .await
        .assert_invalid_field("/on_hand", &["validation_failed"]);
    put(json!({"on_hand": 1, "extra": true}))
        .await
        .assert_problem(422, "validation_failed");
    put(json!({"on_hand": 1, "location_id": "warehouse"}))
        .await
        .assert_invalid_field("/location_id", &["validation_failed"]);
    // The domain's limits.
    put(json!({"on_hand": 1_000_000_001}))
        .await
        .assert_problem(422, "invalid_stock_level");
    adjust(&app, "MUG", &json!({"delta": 0, "reason": "nothing"}), "z")
        .await
        .assert_problem(422, "invalid_stock_adjustment");
    adjust(&app, "MUG", &json!({"delta": 1, "reason": "   "}), "blank")
        .await
        .assert_problem(422, "invalid_stock_adjustment");
    adjust(&app, "MUG", &json!({"delta": 1}), "no-reason")
        .await
        .assert_invalid_field("/reason", &["validation_failed"]);
    // A SKU is a value here, not an id: a malformed one is invalid, not missing.
    app.admin(Method::GET, &stock_path("NOT%20A%20SKU"), None)
        .await
        .assert_problem(422, "invalid_sku");
    // Nothing changed.
    assert_eq!(app.stock("MUG").await, (5, 0));
}

#[tokio::test]
async fn stock_that_was_never_set_or_a_location_that_does_not_exist_is_not_found() {
    // Arrange
    let app = TestApp::spawn().await;

    // Act
    let adjust_unset = adjust(&app, "MUG", &json!({"delta": 1, "reason": "found"}), "k").await;
    let unknown_location = app
        .admin(
            Method::PUT,
            &stock_path("MUG"),
            Some(&json!({"on_hand": 1, "location_id": "loc_0191b7c26d4e7cc28a113f2b4c5d6e7f"})),
        )
        .await;

    // Assert
    adjust_unset.assert_problem(404, "stock_not_found");
    unknown_location.assert_problem(404, "location_not_found");
}

#[tokio::test]
async fn stock_can_be_held_at_a_new_location_and_totals_add_up_every_location() {
    // Arrange
    let app = TestApp::spawn().await;
    app.set_stock("MUG", 5).await;

    // Act
    let created = app
        .admin(
            Method::POST,
            "/v1/admin/inventory-locations",
            Some(&json!({"name": " Berlin store "})),
        )
        .await;
    let location = created.assert_status(201).clone();
    let location_id = location["id"].as_str().expect("a location id");
    let set = app
        .admin(
            Method::PUT,
            &stock_path("MUG"),
            Some(&json!({"on_hand": 7, "location_id": location_id})),
        )
        .await;
    let listed = app
        .admin(Method::GET, "/v1/admin/inventory-locations", None)
        .await;
    let blank = app
        .admin(
            Method::POST,
            "/v1/admin/inventory-locations",
            Some(&json!({"name": "  "})),
        )
        .await;

    // Assert
    assert_eq!(location["name"], "Berlin store");
    let body = set.assert_status(200);
    assert_eq!(body["on_hand"], 12);
    assert_eq!(body["available"], 12);
    assert_eq!(body["levels"].as_array().map(Vec::len), Some(2));
    let ids: Vec<&str> = items_of(listed.assert_status(200))
        .iter()
        .filter_map(|l| l["id"].as_str())
        .collect();
    assert_eq!(ids, [DEFAULT_LOCATION, location_id]);
    blank.assert_invalid_field("/name", &["invalid_location_name"]);
}

#[tokio::test]
async fn support_may_read_stock_but_not_change_it() {
    // Arrange
    let app = TestApp::spawn().await;
    app.set_stock("MUG", 5).await;
    let support = app.staff_token(Role::Support).await;
    let auth = format!("Bearer {support}");
    let as_support = |method: Method, path: String, body: Option<Value>| {
        let app = &app;
        let auth = auth.clone();
        async move {
            app.send(
                method,
                &path,
                body.as_ref(),
                &[("authorization", &auth), ("idempotency-key", "support-1")],
            )
            .await
        }
    };

    // Act
    let read = as_support(Method::GET, stock_path("MUG"), None).await;
    let set = as_support(Method::PUT, stock_path("MUG"), Some(json!({"on_hand": 0}))).await;
    let adjusted = as_support(
        Method::POST,
        adjustments_path("MUG"),
        Some(json!({"delta": -5, "reason": "gone"})),
    )
    .await;
    let location = as_support(
        Method::POST,
        "/v1/admin/inventory-locations".to_owned(),
        Some(json!({"name": "Mine"})),
    )
    .await;

    // Assert
    assert_eq!(read.assert_status(200)["on_hand"], 5);
    set.assert_problem(403, "forbidden");
    adjusted.assert_problem(403, "forbidden");
    location.assert_problem(403, "forbidden");
    assert_eq!(app.stock("MUG").await, (5, 0));
}
