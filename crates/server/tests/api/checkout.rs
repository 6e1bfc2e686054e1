//! Checkout on the live server (DESIGN §5, /work/checkout-contract.md): the happy path from
//! cart to refund, declines, 3-D Secure both ways, and the reservation TTL. Every test asserts
//! the HTTP answer and then reads the state back (stock through the staff inventory route, the
//! order and its payment through the staff order route, the sandbox gateway's books).

use std::time::Duration;

use kassa_kernel::Clock;
use kassa_payments::connectors::sandbox::SandboxStatus;
use reqwest::Method;
use serde_json::{json, Value};

use crate::checkout_helpers::{
    admin_order, admin_order_action, admin_order_when, all_admin_orders, checkout, confirmed_order,
    minor, open_shop, order_by_token, ready_cart, sandbox, shopper_order, stock, text, total_of,
    Stock, COUNTRY, CURRENCY, PM_3DS, PM_DECLINE, PM_INSUFFICIENT_FUNDS, PM_SUCCESS,
    SHIPPING_MINOR, SHOPPER_EMAIL,
};
use crate::helpers::{money, TestApp, CLOCK_START_RFC3339};

/// The line of `sku` in an order.
#[track_caller]
fn line<'a>(order: &'a Value, sku: &str) -> &'a Value {
    order["lines"]
        .as_array()
        .and_then(|lines| lines.iter().find(|l| l["sku"] == sku))
        .unwrap_or_else(|| panic!("no line for {sku}: {order:#}"))
}

/// (SKU, quantity) of a fulfilment's lines, sorted.
fn shipped(fulfilment: &Value) -> Vec<(String, i64)> {
    let mut lines: Vec<(String, i64)> = fulfilment["lines"]
        .as_array()
        .unwrap_or_else(|| panic!("a fulfilment without lines: {fulfilment:#}"))
        .iter()
        .map(|l| (text(l, "sku"), l["quantity"].as_i64().expect("a quantity")))
        .collect();
    lines.sort();
    lines
}

/// `POST` a sandbox challenge's redirect URL with `?outcome=…`.
async fn complete_challenge(
    app: &TestApp,
    redirect_url: &str,
    outcome: &str,
) -> crate::helpers::TestResponse {
    app.send(
        Method::POST,
        &format!("{redirect_url}?outcome={outcome}"),
        None,
        &[],
    )
    .await
}

/// A 202 checkout's redirect URL; asserts the 202 shape of the contract.
#[track_caller]
fn redirect_url_of(body: &Value) -> String {
    assert_eq!(body["order"]["status"], "awaiting_payment", "{body:#}");
    assert_eq!(body["next_action"]["type"], "redirect", "{body:#}");
    let url = text(&body["next_action"], "redirect_url");
    assert!(
        url.starts_with("/v1/sandbox/challenges/"),
        "not a sandbox challenge: {url}"
    );
    url
}

// ---- the happy path --------------------------------------------------------------------------

#[tokio::test]
async fn a_guest_checkout_confirms_then_staff_fulfil_in_two_shipments_and_refund_part() {
    // Arrange
    let app = TestApp::spawn().await;
    let shop = open_shop(&app, &[("TEE-M", 2500, 10), ("MUG-1", 1600, 5)]).await;
    let cart = ready_cart(&app, &shop, &[("TEE-M", 2), ("MUG-1", 1)]).await;
    let cart_body = app.cart_body(&cart.id, &cart.token).await;

    // Act: checkout
    let res = checkout(&app, &cart, PM_SUCCESS).await;

    // Assert: the 201 and the order it describes
    let order = confirmed_order(&res);
    let order_id = text(&order, "id");
    assert!(order_id.starts_with("ord_"), "{order_id}");
    let order_token = text(&res.body, "order_token");
    assert!(order_token.starts_with("ordtok_"), "{order_token}");
    assert_eq!(order["close_reason"], Value::Null);
    assert_eq!(order["cart_id"], cart.id.as_str());
    assert_eq!(order["customer_id"], Value::Null);
    assert_eq!(order["email"], SHOPPER_EMAIL);
    assert_eq!(order["currency"], CURRENCY);
    let tee = line(&order, "TEE-M");
    assert_eq!(tee["quantity"], 2);
    assert_eq!(tee["unit_price"], money(2500, CURRENCY));
    assert_eq!(tee["line_total"], money(5000, CURRENCY));
    assert_eq!(tee["fulfilled_quantity"], 0);
    assert!(
        tee["product_id"]
            .as_str()
            .is_some_and(|p| p.starts_with("prod_")),
        "{tee:#}"
    );
    assert_eq!(tee["product_title"], "Product TEE-M");
    let mug = line(&order, "MUG-1");
    assert_eq!(mug["quantity"], 1);
    assert_eq!(mug["line_total"], money(1600, CURRENCY));
    assert_eq!(order["lines"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        order["totals"], cart_body["totals"],
        "the order's totals are the cart's"
    );
    assert_eq!(order["shipping_address"], cart_body["shipping_address"]);
    assert_eq!(order["shipping_address"]["country"], COUNTRY);
    assert_eq!(
        order["shipping"]["option_id"],
        shop.shipping_option.as_str()
    );
    assert_eq!(order["shipping"]["amount"], money(SHIPPING_MINOR, CURRENCY));
    let total = total_of(&order);
    assert_eq!(total, 8437, "(5000 + 1600 + 490) × 1.19 = 8437.1, rounded");
    assert!(text(&order, "payment_id").starts_with("pay_"), "{order:#}");
    assert_eq!(minor(&order["captured"]), total, "captured at confirmation");
    assert_eq!(minor(&order["refunded"]), 0);
    assert_eq!(order["fulfilments"], json!([]));
    assert_eq!(order["created_at"], CLOCK_START_RFC3339);
    assert_eq!(order["confirmed_at"], CLOCK_START_RFC3339);

    // Assert: stock left for good, nothing held
    assert_eq!(stock(&app, "TEE-M").await, Stock::new(8, 0));
    assert_eq!(stock(&app, "MUG-1").await, Stock::new(4, 0));
    // Assert: the payment, as staff and the gateway see it
    let detail = admin_order(&app, &order_id).await;
    assert_eq!(
        detail["order"], order,
        "staff see the order the shopper was given"
    );
    let payment = &detail["payment"];
    assert_eq!(payment["id"], order["payment_id"]);
    assert_eq!(payment["status"], "succeeded", "{payment:#}");
    assert_eq!(minor(&payment["amount"]), total);
    assert_eq!(minor(&payment["captured"]), total);
    assert_eq!(minor(&payment["refunded"]), 0);
    assert_eq!(detail["refunds"], json!([]));
    let gateway = sandbox(&app);
    assert_eq!(gateway.authorizations_for(&order_id), 1);
    let books = gateway.payments_for(&order_id);
    assert_eq!(books.len(), 1, "{books:?}");
    assert_eq!(books[0].status, SandboxStatus::Captured);
    assert_eq!(books[0].captured.amount_minor(), total);
    // Assert: the guest reads the order with its token
    let read = order_by_token(&app, &order_id, &order_token).await;
    assert_eq!(shopper_order(read.assert_status(200)), &order);

    // Act: the first shipment, one tee
    let first = admin_order_action(
        &app,
        &order_id,
        "fulfilments",
        Some(&json!({
            "lines": [{"sku": "TEE-M", "quantity": 1}],
            "carrier": "DHL",
            "tracking_number": "00340434161094042557",
        })),
    )
    .await;

    // Assert
    let after_first = first.assert_status(201)["order"].clone();
    assert_eq!(
        after_first["status"], "partially_fulfilled",
        "{after_first:#}"
    );
    assert_eq!(line(&after_first, "TEE-M")["fulfilled_quantity"], 1);
    assert_eq!(line(&after_first, "MUG-1")["fulfilled_quantity"], 0);
    let fulfilments = after_first["fulfilments"].as_array().expect("fulfilments");
    assert_eq!(fulfilments.len(), 1, "{after_first:#}");
    assert!(text(&fulfilments[0], "id").starts_with("ful_"));
    assert_eq!(fulfilments[0]["carrier"], "DHL");
    assert_eq!(fulfilments[0]["tracking_number"], "00340434161094042557");
    assert_eq!(shipped(&fulfilments[0]), [("TEE-M".to_owned(), 1)]);
    assert_eq!(minor(&after_first["captured"]), total);

    // Act: the second shipment, everything left (no lines)
    let second = admin_order_action(
        &app,
        &order_id,
        "fulfilments",
        Some(&json!({"carrier": "UPS", "tracking_number": "1Z999AA10123456784"})),
    )
    .await;

    // Assert
    let after_second = second.assert_status(201)["order"].clone();
    assert_eq!(after_second["status"], "fulfilled", "{after_second:#}");
    assert_eq!(line(&after_second, "TEE-M")["fulfilled_quantity"], 2);
    assert_eq!(line(&after_second, "MUG-1")["fulfilled_quantity"], 1);
    let fulfilments = after_second["fulfilments"].as_array().expect("fulfilments");
    assert_eq!(fulfilments.len(), 2, "{after_second:#}");
    assert_eq!(fulfilments[1]["carrier"], "UPS");
    assert_eq!(fulfilments[1]["tracking_number"], "1Z999AA10123456784");
    assert_eq!(
        shipped(&fulfilments[1]),
        [("MUG-1".to_owned(), 1), ("TEE-M".to_owned(), 1)]
    );
    // Shipping does not move stock again: it left at confirmation.
    assert_eq!(stock(&app, "TEE-M").await, Stock::new(8, 0));

    // Act: a partial refund
    let refund = admin_order_action(
        &app,
        &order_id,
        "refunds",
        Some(&json!({"amount": money(1000, CURRENCY)})),
    )
    .await;

    // Assert
    let body = refund.assert_status(201);
    let refunded_order = &body["order"];
    assert_eq!(
        refunded_order["status"], "fulfilled",
        "a partial refund keeps the status"
    );
    assert_eq!(minor(&refunded_order["refunded"]), 1000);
    assert_eq!(minor(&refunded_order["captured"]), total);
    assert!(text(&body["refund"], "id").starts_with("re_"), "{body:#}");
    assert_eq!(body["refund"]["amount"], money(1000, CURRENCY));
    assert_eq!(body["refund"]["status"], "succeeded");
    let detail = admin_order(&app, &order_id).await;
    assert_eq!(minor(&detail["payment"]["refunded"]), 1000);
    assert_eq!(minor(&detail["payment"]["captured"]), total);
    assert_eq!(
        detail["refunds"].as_array().map(Vec::len),
        Some(1),
        "{detail:#}"
    );
    assert_eq!(detail["refunds"][0]["amount"], money(1000, CURRENCY));
    let books = gateway.payments_for(&order_id);
    assert_eq!(books[0].refunded.amount_minor(), 1000);
    assert_eq!(books[0].captured.amount_minor(), total);
    // The guest sees the shipments and the refund.
    let read = order_by_token(&app, &order_id, &order_token).await;
    let seen = shopper_order(read.assert_status(200));
    assert_eq!(seen["status"], "fulfilled");
    assert_eq!(seen["fulfilments"].as_array().map(Vec::len), Some(2));
    assert_eq!(minor(&seen["refunded"]), 1000);
}

// ---- declines --------------------------------------------------------------------------------

/// A declined checkout: 402 with the decline code, the reservation released, no confirmed
/// order, no funds held; then the same cart pays with a good card.
async fn a_declined_checkout_releases_the_stock_and_the_cart_can_pay_again(
    payment_method: &str,
    decline_code: &str,
) {
    // Arrange
    let app = TestApp::spawn().await;
    let shop = open_shop(&app, &[("TEE-M", 2500, 5)]).await;
    let cart = ready_cart(&app, &shop, &[("TEE-M", 2)]).await;
    let before = stock(&app, "TEE-M").await;

    // Act
    let res = checkout(&app, &cart, payment_method).await;

    // Assert
    let problem = res.assert_problem(402, "payment_declined");
    assert_eq!(problem["decline_code"], decline_code, "{problem:#}");
    let declined_id = text(problem, "order_id");
    assert!(declined_id.starts_with("ord_"), "{declined_id}");
    assert_eq!(before, Stock::new(5, 0));
    assert_eq!(
        stock(&app, "TEE-M").await,
        before,
        "the reservation was released"
    );
    let declined = admin_order(&app, &declined_id).await;
    assert_eq!(
        declined["order"]["status"], "payment_failed",
        "{declined:#}"
    );
    assert_eq!(declined["order"]["close_reason"], "payment_declined");
    assert_eq!(minor(&declined["order"]["captured"]), 0);
    assert!(all_admin_orders(&app, "status=confirmed").await.is_empty());
    assert_eq!(sandbox(&app).authorizations_for(&declined_id), 0);

    // Act: the same cart, a card that works
    let retry = checkout(&app, &cart, PM_SUCCESS).await;

    // Assert
    let order = confirmed_order(&retry);
    assert_ne!(
        text(&order, "id"),
        declined_id,
        "a new order for the new attempt"
    );
    assert_eq!(stock(&app, "TEE-M").await, Stock::new(3, 0));
    assert_eq!(all_admin_orders(&app, "status=confirmed").await.len(), 1);
    assert_eq!(sandbox(&app).authorizations_for(&text(&order, "id")), 1);
}

#[tokio::test]
async fn a_generic_decline_answers_402_and_releases_the_stock() {
    a_declined_checkout_releases_the_stock_and_the_cart_can_pay_again(
        PM_DECLINE,
        "generic_decline",
    )
    .await;
}

#[tokio::test]
async fn insufficient_funds_answers_402_and_releases_the_stock() {
    a_declined_checkout_releases_the_stock_and_the_cart_can_pay_again(
        PM_INSUFFICIENT_FUNDS,
        "insufficient_funds",
    )
    .await;
}

#[tokio::test]
async fn too_little_stock_answers_409_naming_the_sku_and_reserves_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    let shop = open_shop(&app, &[("TEE-M", 2500, 3), ("MUG-1", 1600, 5)]).await;
    let cart = ready_cart(&app, &shop, &[("TEE-M", 4), ("MUG-1", 1)]).await;

    // Act
    let res = checkout(&app, &cart, PM_SUCCESS).await;

    // Assert
    let problem = res.assert_problem(409, "insufficient_stock");
    assert_eq!(
        problem["skus"],
        json!([{"sku": "TEE-M", "requested": 4, "available": 3}]),
        "{problem:#}"
    );
    assert_eq!(stock(&app, "TEE-M").await, Stock::new(3, 0));
    assert_eq!(
        stock(&app, "MUG-1").await,
        Stock::new(5, 0),
        "all or nothing"
    );
    assert!(all_admin_orders(&app, "status=confirmed").await.is_empty());
    assert_eq!(
        sandbox(&app).calls(kassa_payments::Operation::Authorize),
        0,
        "no payment without stock"
    );
}

// ---- 3-D Secure -------------------------------------------------------------------------------

#[tokio::test]
async fn a_3ds_checkout_answers_202_holds_the_stock_and_a_passed_challenge_confirms_it() {
    // Arrange
    let app = TestApp::spawn().await;
    let shop = open_shop(&app, &[("TEE-M", 2500, 5)]).await;
    let cart = ready_cart(&app, &shop, &[("TEE-M", 2)]).await;

    // Act
    let res = checkout(&app, &cart, PM_3DS).await;

    // Assert: waiting for the shopper, stock held until the TTL
    let body = res.assert_status(202).clone();
    let redirect_url = redirect_url_of(&body);
    let order_id = text(&body["order"], "id");
    let order_token = text(&body, "order_token");
    assert_eq!(
        body["order"]["reservation_expires_at"], "2026-11-18T11:16:40.000Z",
        "the default TTL is 10 minutes"
    );
    assert_eq!(stock(&app, "TEE-M").await, Stock::new(5, 2));
    assert_eq!(sandbox(&app).authorizations_for(&order_id), 0);

    // Act: the shopper passes the challenge
    let passed = complete_challenge(&app, &redirect_url, "succeed").await;

    // Assert
    let confirmed = passed.assert_status(200)["order"].clone();
    assert_eq!(confirmed["id"], order_id.as_str());
    assert_eq!(confirmed["status"], "confirmed", "{confirmed:#}");
    assert_eq!(minor(&confirmed["captured"]), total_of(&confirmed));
    assert_eq!(stock(&app, "TEE-M").await, Stock::new(3, 0));
    assert_eq!(sandbox(&app).authorizations_for(&order_id), 1);
    let detail = admin_order(&app, &order_id).await;
    assert_eq!(detail["order"]["status"], "confirmed");
    assert_eq!(minor(&detail["payment"]["captured"]), total_of(&confirmed));
    let read = order_by_token(&app, &order_id, &order_token).await;
    assert_eq!(
        shopper_order(read.assert_status(200))["status"],
        "confirmed"
    );
}

#[tokio::test]
async fn a_failed_3ds_challenge_answers_402_and_releases_the_stock() {
    // Arrange
    let app = TestApp::spawn().await;
    let shop = open_shop(&app, &[("TEE-M", 2500, 5)]).await;
    let cart = ready_cart(&app, &shop, &[("TEE-M", 2)]).await;
    let body = checkout(&app, &cart, PM_3DS)
        .await
        .assert_status(202)
        .clone();
    let redirect_url = redirect_url_of(&body);
    let order_id = text(&body["order"], "id");
    assert_eq!(stock(&app, "TEE-M").await, Stock::new(5, 2));

    // Act
    let failed = complete_challenge(&app, &redirect_url, "fail").await;

    // Assert
    let problem = failed.assert_problem(402, "payment_declined");
    assert_eq!(
        problem["decline_code"], "authentication_failed",
        "{problem:#}"
    );
    assert_eq!(stock(&app, "TEE-M").await, Stock::new(5, 0));
    let detail = admin_order(&app, &order_id).await;
    assert_eq!(detail["order"]["status"], "payment_failed", "{detail:#}");
    assert_eq!(detail["order"]["close_reason"], "payment_declined");
    assert_eq!(sandbox(&app).authorizations_for(&order_id), 0);

    // Act: passing the closed challenge afterwards
    let late = complete_challenge(&app, &redirect_url, "succeed").await;

    // Assert: refused, and nothing moved
    late.assert_problem(409, "sandbox_challenge_closed");
    assert_eq!(stock(&app, "TEE-M").await, Stock::new(5, 0));
    assert_eq!(
        admin_order(&app, &order_id).await["order"]["status"],
        "payment_failed"
    );
    assert_eq!(sandbox(&app).authorizations_for(&order_id), 0);
}

#[tokio::test]
async fn an_unknown_sandbox_challenge_answers_404() {
    let app = TestApp::spawn().await;

    let res = complete_challenge(&app, "/v1/sandbox/challenges/sbx_nothing", "succeed").await;

    res.assert_problem(404, "sandbox_payment_not_found");
}

// ---- the reservation TTL ----------------------------------------------------------------------

/// An app whose reservations last 30 seconds.
async fn short_ttl_app() -> TestApp {
    TestApp::spawn_with(|settings| settings.inventory.reservation_ttl_secs = 30).await
}

#[tokio::test]
async fn a_3ds_checkout_left_waiting_past_the_ttl_is_cancelled_and_its_stock_released() {
    // Arrange
    let app = short_ttl_app().await;
    let shop = open_shop(&app, &[("TEE-M", 2500, 5)]).await;
    let cart = ready_cart(&app, &shop, &[("TEE-M", 2)]).await;
    let body = checkout(&app, &cart, PM_3DS)
        .await
        .assert_status(202)
        .clone();
    let order_id = text(&body["order"], "id");
    let order_token = text(&body, "order_token");
    assert_eq!(
        body["order"]["reservation_expires_at"],
        "2026-11-18T11:07:10.000Z"
    );
    assert_eq!(stock(&app, "TEE-M").await, Stock::new(5, 2));

    // Act
    app.clock.advance(Duration::from_secs(31));
    app.districts.sweep(app.clock.now()).await;

    // Assert (the background sweeper may be the one that got there, a moment later)
    let detail = admin_order_when(&app, &order_id, |o| o["status"] == "cancelled").await;
    assert_eq!(detail["order"]["close_reason"], "reservation_expired");
    assert_eq!(stock(&app, "TEE-M").await, Stock::new(5, 0));
    let read = order_by_token(&app, &order_id, &order_token).await;
    assert_eq!(
        shopper_order(read.assert_status(200))["status"],
        "cancelled"
    );
    assert!(
        sandbox(&app)
            .payments_for(&order_id)
            .iter()
            .all(|p| !p.is_authorized() && p.captured.amount_minor() == 0),
        "funds held for an expired checkout: {:?}",
        sandbox(&app).payments_for(&order_id)
    );
}

#[tokio::test]
async fn a_challenge_passed_after_the_ttl_neither_confirms_the_order_nor_leaves_funds_held() {
    // Arrange: a 3-D Secure checkout that expired
    let app = short_ttl_app().await;
    let shop = open_shop(&app, &[("TEE-M", 2500, 5)]).await;
    let cart = ready_cart(&app, &shop, &[("TEE-M", 2)]).await;
    let body = checkout(&app, &cart, PM_3DS)
        .await
        .assert_status(202)
        .clone();
    let redirect_url = redirect_url_of(&body);
    let order_id = text(&body["order"], "id");
    app.clock.advance(Duration::from_secs(31));
    app.districts.sweep(app.clock.now()).await;
    admin_order_when(&app, &order_id, |o| o["status"] == "cancelled").await;

    // Act: the shopper comes back and passes the challenge
    let late = complete_challenge(&app, &redirect_url, "succeed").await;

    // Assert: whatever the answer, it is not a confirmation, and nothing is held
    assert!(
        !(late.status.as_u16() == 200 && late.body["order"]["status"] == "confirmed"),
        "an expired checkout was confirmed: {:#}",
        late.body
    );
    let detail = admin_order(&app, &order_id).await;
    assert_eq!(detail["order"]["status"], "cancelled", "{detail:#}");
    assert_eq!(stock(&app, "TEE-M").await, Stock::new(5, 0));
    let books = sandbox(&app).payments_for(&order_id);
    assert!(
        books
            .iter()
            .all(|p| !p.is_authorized() && p.captured.amount_minor() == 0),
        "funds held or taken for a cancelled order: {books:?}"
    );
}

// ---- refusals before any money moves ----------------------------------------------------------

#[tokio::test]
async fn an_unavailable_gateway_answers_gateway_unavailable_and_releases_the_stock() {
    // Arrange
    let app = TestApp::spawn().await;
    let shop = open_shop(&app, &[("TEE-M", 2500, 5)]).await;
    let cart = ready_cart(&app, &shop, &[("TEE-M", 2)]).await;

    // Act
    let res = checkout(&app, &cart, "pm_sandbox_5xx").await;

    // Assert: an upstream failure, 502, as docs/API.md says
    res.assert_problem(502, "gateway_unavailable");
    assert_eq!(stock(&app, "TEE-M").await, Stock::new(5, 0));
    let orders = all_admin_orders(&app, "").await;
    assert_eq!(orders.len(), 1, "{orders:#?}");
    assert_eq!(orders[0]["status"], "payment_failed");
    assert_eq!(orders[0]["close_reason"], "gateway_unavailable");
    assert_eq!(sandbox(&app).authorizations_for(&text(&orders[0], "id")), 0);
    // Checking out again works.
    confirmed_order(&checkout(&app, &cart, PM_SUCCESS).await);
    assert_eq!(stock(&app, "TEE-M").await, Stock::new(3, 0));
}

#[tokio::test]
async fn an_unready_cart_answers_422_naming_what_is_missing_and_makes_no_order() {
    // Arrange: a cart with nothing in it and nothing set
    let app = TestApp::spawn().await;
    open_shop(&app, &[("TEE-M", 2500, 5)]).await;
    let (id, token) = app.create_cart(CURRENCY).await;
    let cart = crate::checkout_helpers::Cart { id, token };

    // Act
    let res = checkout(&app, &cart, PM_SUCCESS).await;

    // Assert
    assert_eq!(res.status.as_u16(), 422, "{:#}", res.body);
    assert_eq!(res.body["code"], "cart_not_ready", "{:#}", res.body);
    let mut pointers = res.pointers();
    pointers.sort();
    assert_eq!(
        pointers,
        ["/email", "/lines", "/shipping_address", "/shipping_option"],
        "{:#}",
        res.body
    );
    assert!(all_admin_orders(&app, "").await.is_empty());
    assert_eq!(stock(&app, "TEE-M").await, Stock::new(5, 0));
}

#[tokio::test]
async fn a_checkout_with_another_carts_token_answers_404_and_makes_no_order() {
    // Arrange
    let app = TestApp::spawn().await;
    let shop = open_shop(&app, &[("TEE-M", 2500, 5)]).await;
    let mine = ready_cart(&app, &shop, &[("TEE-M", 1)]).await;
    let theirs = ready_cart(&app, &shop, &[("TEE-M", 2)]).await;
    let wrong = crate::checkout_helpers::Cart {
        id: theirs.id.clone(),
        token: mine.token.clone(),
    };

    // Act
    let res = checkout(&app, &wrong, PM_SUCCESS).await;

    // Assert
    res.assert_problem(404, "cart_not_found");
    assert!(all_admin_orders(&app, "").await.is_empty());
    assert_eq!(stock(&app, "TEE-M").await, Stock::new(5, 0));
}
