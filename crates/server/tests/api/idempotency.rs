//! `Idempotency-Key` on the routes that create an order or move money (DESIGN promise 3,
//! /work/checkout-contract.md "Idempotency"): each of the four outcomes — key missing, replay,
//! key reused with another body, key still in progress — for a checkout and for a staff refund,
//! each with the state read back to show that only the first request did anything.

use std::sync::Arc;
use std::time::Duration;

use crate::checkout_helpers::{
    admin_order, all_admin_orders, assert_in_progress, checkout, checkout_with, confirmed_order,
    is_replay, minor, new_key, open_shop, ready_cart, refund_with, sandbox, stock, text, Cart,
    Stock, PM_DECLINE, PM_SUCCESS,
};
use crate::helpers::TestApp;
use kassa_payments::Operation;

/// A shop with 10 tees and a ready cart of 2.
async fn shop_and_cart(app: &TestApp) -> Cart {
    let shop = open_shop(app, &[("TEE-M", 2500, 10)]).await;
    ready_cart(app, &shop, &[("TEE-M", 2)]).await
}

/// An app whose sandbox gateway takes 300 ms per call, so a request can be caught running.
async fn slow_gateway_app() -> TestApp {
    TestApp::spawn_with(|settings| settings.payments.sandbox_latency_ms = 300).await
}

/// A confirmed order (captured at confirmation); returns its id and total.
async fn confirmed(app: &TestApp) -> (String, i64) {
    let cart = shop_and_cart(app).await;
    let order = confirmed_order(&checkout(app, &cart, PM_SUCCESS).await);
    let total = minor(&order["totals"]["total"]);
    assert_eq!(minor(&order["captured"]), total);
    (text(&order, "id"), total)
}

/// The refunded amount of an order as staff, the payment and the gateway see it; asserts the
/// three agree and returns it with the number of refunds staff see.
async fn refunded(app: &TestApp, order_id: &str) -> (i64, usize) {
    let detail = admin_order(app, order_id).await;
    let on_order = minor(&detail["order"]["refunded"]);
    let on_payment = minor(&detail["payment"]["refunded"]);
    let books = sandbox(app).payments_for(order_id);
    let at_gateway: i64 = books.iter().map(|p| p.refunded.amount_minor()).sum();
    assert_eq!(on_order, on_payment, "{detail:#}");
    assert_eq!(on_order, at_gateway, "the gateway disagrees: {books:?}");
    let refunds = detail["refunds"].as_array().map_or(0, Vec::len);
    (on_order, refunds)
}

// ---- checkout ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_checkout_without_an_idempotency_key_is_refused_and_changes_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    let cart = shop_and_cart(&app).await;

    // Act
    let res = checkout_with(&app, &cart, PM_SUCCESS, None).await;

    // Assert
    res.assert_problem(400, "idempotency_key_missing");
    assert_eq!(stock(&app, "TEE-M").await, Stock::new(10, 0));
    assert!(
        all_admin_orders(&app, "").await.is_empty(),
        "an order was made"
    );
    assert_eq!(sandbox(&app).calls(Operation::Authorize), 0);
    // The cart is untouched: with a key it checks out.
    confirmed_order(&checkout(&app, &cart, PM_SUCCESS).await);
}

#[tokio::test]
async fn a_checkout_repeated_with_its_key_replays_the_first_answer() {
    // Arrange
    let app = TestApp::spawn().await;
    let cart = shop_and_cart(&app).await;
    let key = new_key();
    let first = checkout_with(&app, &cart, PM_SUCCESS, Some(&key)).await;
    let order = confirmed_order(&first);
    assert!(!is_replay(&first), "the first answer is not a replay");

    // Act
    let again = checkout_with(&app, &cart, PM_SUCCESS, Some(&key)).await;

    // Assert: the stored status and body, marked as a replay, and nothing done twice
    assert_eq!(again.status, first.status);
    assert_eq!(again.body, first.body, "the body is replayed as it was");
    assert!(
        is_replay(&again),
        "no Idempotent-Replayed: true: {:?}",
        again.headers
    );
    assert_eq!(stock(&app, "TEE-M").await, Stock::new(8, 0));
    assert_eq!(all_admin_orders(&app, "").await.len(), 1);
    assert_eq!(sandbox(&app).authorizations_for(&text(&order, "id")), 1);
    assert_eq!(sandbox(&app).calls(Operation::Authorize), 1);
}

#[tokio::test]
async fn a_checkout_key_reused_with_another_body_answers_422() {
    // Arrange
    let app = TestApp::spawn().await;
    let cart = shop_and_cart(&app).await;
    let key = new_key();
    let first = checkout_with(&app, &cart, PM_SUCCESS, Some(&key)).await;
    let order = confirmed_order(&first);

    // Act
    let reused = checkout_with(&app, &cart, PM_DECLINE, Some(&key)).await;

    // Assert
    reused.assert_problem(422, "idempotency_key_reused");
    assert!(!is_replay(&reused));
    assert_eq!(stock(&app, "TEE-M").await, Stock::new(8, 0));
    let orders = all_admin_orders(&app, "").await;
    assert_eq!(orders.len(), 1, "{orders:#?}");
    assert_eq!(orders[0]["status"], "confirmed");
    assert_eq!(sandbox(&app).authorizations_for(&text(&order, "id")), 1);
    assert_eq!(sandbox(&app).calls(Operation::Authorize), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_retried_while_the_first_still_runs_answers_409_with_retry_after() {
    // Arrange
    let app = Arc::new(slow_gateway_app().await);
    let cart = shop_and_cart(&app).await;
    let key = new_key();
    let first = {
        let (app, cart, key) = (app.clone(), cart.clone(), key.clone());
        tokio::spawn(async move { checkout_with(&app, &cart, PM_SUCCESS, Some(&key)).await })
    };
    // The first is in the gateway (at least 300 ms) by now.
    tokio::time::sleep(Duration::from_millis(120)).await;

    // Act
    let concurrent = checkout_with(&app, &cart, PM_SUCCESS, Some(&key)).await;

    // Assert
    assert_in_progress(&concurrent);
    let first = first.await.expect("the first checkout");
    let order = confirmed_order(&first);
    let after = checkout_with(&app, &cart, PM_SUCCESS, Some(&key)).await;
    assert_eq!(after.status, first.status);
    assert_eq!(after.body, first.body);
    assert!(is_replay(&after));
    assert_eq!(stock(&app, "TEE-M").await, Stock::new(8, 0));
    assert_eq!(all_admin_orders(&app, "").await.len(), 1);
    assert_eq!(sandbox(&app).authorizations_for(&text(&order, "id")), 1);
}

// ---- a staff refund ---------------------------------------------------------------------------

#[tokio::test]
async fn a_refund_without_an_idempotency_key_is_refused_and_refunds_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    let (order_id, _) = confirmed(&app).await;

    // Act
    let res = refund_with(&app, &order_id, 500, None).await;

    // Assert
    res.assert_problem(400, "idempotency_key_missing");
    assert_eq!(refunded(&app, &order_id).await, (0, 0));
    assert_eq!(sandbox(&app).calls(Operation::Refund), 0);
}

#[tokio::test]
async fn a_refund_repeated_with_its_key_replays_the_first_answer_and_refunds_once() {
    // Arrange
    let app = TestApp::spawn().await;
    let (order_id, _) = confirmed(&app).await;
    let key = new_key();
    let first = refund_with(&app, &order_id, 500, Some(&key)).await;
    first.assert_status(201);
    assert!(!is_replay(&first));

    // Act
    let again = refund_with(&app, &order_id, 500, Some(&key)).await;

    // Assert
    assert_eq!(again.status, first.status);
    assert_eq!(again.body, first.body);
    assert!(
        is_replay(&again),
        "no Idempotent-Replayed: true: {:?}",
        again.headers
    );
    assert_eq!(refunded(&app, &order_id).await, (500, 1));
    assert_eq!(sandbox(&app).calls(Operation::Refund), 1);
}

#[tokio::test]
async fn a_refund_key_reused_with_another_amount_answers_422_and_refunds_nothing_more() {
    // Arrange
    let app = TestApp::spawn().await;
    let (order_id, _) = confirmed(&app).await;
    let key = new_key();
    refund_with(&app, &order_id, 500, Some(&key))
        .await
        .assert_status(201);

    // Act
    let reused = refund_with(&app, &order_id, 600, Some(&key)).await;

    // Assert
    reused.assert_problem(422, "idempotency_key_reused");
    assert_eq!(refunded(&app, &order_id).await, (500, 1));
    assert_eq!(sandbox(&app).calls(Operation::Refund), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_retried_while_the_first_still_runs_answers_409_with_retry_after() {
    // Arrange
    let app = Arc::new(slow_gateway_app().await);
    let (order_id, _) = confirmed(&app).await;
    let key = new_key();
    let first = {
        let (app, order_id, key) = (app.clone(), order_id.clone(), key.clone());
        tokio::spawn(async move { refund_with(&app, &order_id, 700, Some(&key)).await })
    };
    tokio::time::sleep(Duration::from_millis(120)).await;

    // Act
    let concurrent = refund_with(&app, &order_id, 700, Some(&key)).await;

    // Assert
    assert_in_progress(&concurrent);
    let first = first.await.expect("the first refund");
    first.assert_status(201);
    let after = refund_with(&app, &order_id, 700, Some(&key)).await;
    assert_eq!(after.status, first.status);
    assert_eq!(after.body, first.body);
    assert!(is_replay(&after));
    assert_eq!(refunded(&app, &order_id).await, (700, 1));
    assert_eq!(sandbox(&app).calls(Operation::Refund), 1);
}

/// Keys belong to whoever sent them: the same key from another cart is another request.
#[tokio::test]
async fn the_same_key_on_two_carts_makes_two_orders() {
    // Arrange
    let app = TestApp::spawn().await;
    let shop = open_shop(&app, &[("TEE-M", 2500, 10)]).await;
    let one = ready_cart(&app, &shop, &[("TEE-M", 1)]).await;
    let other = ready_cart(&app, &shop, &[("TEE-M", 2)]).await;
    let key = new_key();

    // Act
    let first = checkout_with(&app, &one, PM_SUCCESS, Some(&key)).await;
    let second = checkout_with(&app, &other, PM_SUCCESS, Some(&key)).await;

    // Assert
    let (a, b) = (confirmed_order(&first), confirmed_order(&second));
    assert!(!is_replay(&second));
    assert_ne!(a["id"], b["id"]);
    assert_eq!(stock(&app, "TEE-M").await, Stock::new(7, 0));
}
