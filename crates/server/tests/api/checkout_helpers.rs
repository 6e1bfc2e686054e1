//! Shared by the checkout test modules (`checkout`, `checkout_concurrency`, `checkout_recovery`,
//! `orders`, `idempotency`): a shop with stock, carts ready to check out, checkout calls with
//! an `Idempotency-Key`, and reading stock, orders and the sandbox's books back. Everything goes
//! through the HTTP routes of docs/API.md and /work/checkout-contract.md, so what the tests see
//! is what a storefront sees.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};

use kassa_payments::connectors::sandbox::SandboxPayment;
use kassa_payments::SandboxGateway;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{id_of, TestApp, TestResponse};

pub const CURRENCY: &str = "EUR";
pub const COUNTRY: &str = "DE";
/// The flat shipping rate of every test shop.
pub const SHIPPING_MINOR: i64 = 490;
/// The tax rate of [`COUNTRY`] in every test shop, in percent.
pub const TAX_RATE: &str = "19";
pub const SHOPPER_EMAIL: &str = "shopper@example.com";

/// The sandbox's payment-method tokens (docs/API.md).
pub const PM_SUCCESS: &str = "pm_sandbox_success";
pub const PM_DECLINE: &str = "pm_sandbox_decline";
pub const PM_INSUFFICIENT_FUNDS: &str = "pm_sandbox_insufficient_funds";
pub const PM_3DS: &str = "pm_sandbox_3ds";

/// A unique `Idempotency-Key` (unique within the test binary, which is all a key needs).
pub fn new_key() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "test-key-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// What a test shop is made of.
#[derive(Debug, Clone)]
pub struct Shop {
    pub shipping_option: String,
}

/// Opens a shop: one product per `(sku, EUR price in minor units, units on hand)`, the stock
/// set through the staff inventory route, a flat EUR shipping option to [`COUNTRY`] and its
/// tax rate.
pub async fn open_shop(app: &TestApp, products: &[(&str, i64, u32)]) -> Shop {
    for (sku, price, on_hand) in products {
        let handle = sku.to_lowercase();
        app.create_product(
            &handle,
            &format!("Product {sku}"),
            &[(sku, &[(*price, CURRENCY)], 250)],
        )
        .await;
        set_stock(app, sku, *on_hand).await;
    }
    let shipping_option = app
        .create_flat_shipping_option("Standard", &[COUNTRY], CURRENCY, SHIPPING_MINOR)
        .await;
    app.set_tax_rate(COUNTRY, TAX_RATE).await;
    Shop { shipping_option }
}

// ---- stock ----------------------------------------------------------------------------------

/// A SKU's totals as `GET /v1/admin/inventory/{sku}` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stock {
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
}

impl Stock {
    pub fn new(on_hand: i64, reserved: i64) -> Stock {
        Stock {
            on_hand,
            reserved,
            available: on_hand - reserved,
        }
    }
}

/// `PUT /v1/admin/inventory/{sku}` at the default location; asserts 200.
pub async fn set_stock(app: &TestApp, sku: &str, on_hand: u32) -> Value {
    app.set_stock(sku, on_hand).await
}

/// `GET /v1/admin/inventory/{sku}`; asserts 200 and the invariants every answer must keep
/// (`0 <= reserved <= on_hand`, `available = on_hand - reserved`).
pub async fn stock(app: &TestApp, sku: &str) -> Stock {
    let res = app
        .admin(Method::GET, &format!("/v1/admin/inventory/{sku}"), None)
        .await;
    let body = res.assert_status(200);
    assert_eq!(body["sku"], sku, "{body:#}");
    let number = |name: &str| {
        body[name]
            .as_i64()
            .unwrap_or_else(|| panic!("no {name} in the stock: {body:#}"))
    };
    let stock = Stock {
        on_hand: number("on_hand"),
        reserved: number("reserved"),
        available: number("available"),
    };
    assert!(
        0 <= stock.reserved && stock.reserved <= stock.on_hand,
        "reserved outside 0..=on_hand: {body:#}"
    );
    assert_eq!(
        stock.available,
        stock.on_hand - stock.reserved,
        "available is not on_hand - reserved: {body:#}"
    );
    stock
}

// ---- carts ----------------------------------------------------------------------------------

/// An anonymous cart and its token.
#[derive(Debug, Clone)]
pub struct Cart {
    pub id: String,
    pub token: String,
}

/// An anonymous EUR cart with these lines, an email, a German address and the shop's shipping
/// option: ready to check out.
pub async fn ready_cart(app: &TestApp, shop: &Shop, lines: &[(&str, i64)]) -> Cart {
    let (id, token) = app.create_cart(CURRENCY).await;
    for (sku, quantity) in lines {
        app.add_line(&id, &token, sku, *quantity)
            .await
            .assert_status(201);
    }
    app.set_email(&id, &token, SHOPPER_EMAIL)
        .await
        .assert_status(200);
    app.set_address(&id, &token, COUNTRY).await;
    app.choose_shipping_option(&id, &token, &shop.shipping_option)
        .await
        .assert_status(200);
    Cart { id, token }
}

/// A signed-in customer's EUR cart (made with their bearer token), ready to check out; returns
/// its id.
pub async fn ready_customer_cart(
    app: &TestApp,
    shop: &Shop,
    access: &str,
    email: &str,
    lines: &[(&str, i64)],
) -> String {
    let created = app
        .bearer(
            Method::POST,
            "/v1/carts",
            access,
            Some(&json!({"currency": CURRENCY})),
        )
        .await;
    let cart = id_of(created.assert_status(201));
    for (sku, quantity) in lines {
        app.bearer(
            Method::POST,
            &format!("/v1/carts/{cart}/lines"),
            access,
            Some(&json!({"sku": sku, "quantity": quantity})),
        )
        .await
        .assert_status(201);
    }
    let steps = [
        ("email", json!({"email": email})),
        ("shipping-address", crate::helpers::address(COUNTRY)),
        (
            "shipping-option",
            json!({"shipping_option_id": shop.shipping_option}),
        ),
    ];
    for (step, body) in steps {
        app.bearer(
            Method::PUT,
            &format!("/v1/carts/{cart}/{step}"),
            access,
            Some(&body),
        )
        .await
        .assert_status(200);
    }
    cart
}

// ---- checkout -------------------------------------------------------------------------------

pub fn checkout_path(cart_id: &str) -> String {
    format!("/v1/carts/{cart_id}/checkout")
}

pub fn checkout_body(payment_method: &str) -> Value {
    json!({"payment_method": payment_method})
}

/// `POST /v1/carts/{id}/checkout` with the cart's token and, when given, an `Idempotency-Key`.
pub async fn checkout_with(
    app: &TestApp,
    cart: &Cart,
    payment_method: &str,
    key: Option<&str>,
) -> TestResponse {
    let mut headers = vec![("cart-token", cart.token.as_str())];
    if let Some(key) = key {
        headers.push(("idempotency-key", key));
    }
    app.send(
        Method::POST,
        &checkout_path(&cart.id),
        Some(&checkout_body(payment_method)),
        &headers,
    )
    .await
}

/// A checkout with a fresh `Idempotency-Key`.
pub async fn checkout(app: &TestApp, cart: &Cart, payment_method: &str) -> TestResponse {
    checkout_with(app, cart, payment_method, Some(&new_key())).await
}

/// A signed-in customer's checkout: bearer token instead of a cart token.
pub async fn checkout_as_customer(
    app: &TestApp,
    access: &str,
    cart_id: &str,
    payment_method: &str,
) -> TestResponse {
    let auth = format!("Bearer {access}");
    let key = new_key();
    app.send(
        Method::POST,
        &checkout_path(cart_id),
        Some(&checkout_body(payment_method)),
        &[("authorization", &auth), ("idempotency-key", &key)],
    )
    .await
}

/// A 201 checkout's order; asserts the status, that the order is confirmed and that the
/// checkout answered no next action.
#[track_caller]
pub fn confirmed_order(res: &TestResponse) -> Value {
    let body = res.assert_status(201);
    let order = &body["order"];
    assert_eq!(order["status"], "confirmed", "{body:#}");
    assert!(
        body.get("next_action").is_none_or(Value::is_null),
        "a confirmed checkout with a next action: {body:#}"
    );
    order.clone()
}

// ---- orders ---------------------------------------------------------------------------------

/// `GET /v1/admin/orders/{id}` as the owner; asserts 200 and returns
/// `{"order", "payment", "refunds"}`.
pub async fn admin_order(app: &TestApp, order_id: &str) -> Value {
    app.admin(Method::GET, &format!("/v1/admin/orders/{order_id}"), None)
        .await
        .assert_status(200)
        .clone()
}

/// Every order of the staff listing matching `query` (e.g. `status=confirmed`), following the
/// cursor.
pub async fn all_admin_orders(app: &TestApp, query: &str) -> Vec<Value> {
    let mut orders = Vec::new();
    let separator = if query.is_empty() { "" } else { "&" };
    let mut path = format!("/v1/admin/orders?limit=100{separator}{query}");
    for _ in 0..100 {
        let page = app.admin(Method::GET, &path, None).await;
        let body = page.assert_status(200);
        orders.extend(crate::helpers::items_of(body).iter().cloned());
        match body["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!("/v1/admin/orders?limit=100{separator}{query}&cursor={cursor}")
            }
            None => return orders,
        }
    }
    panic!("more than 100 pages of orders");
}

/// A staff action on an order that takes an `Idempotency-Key` (fulfilments, refunds, capture,
/// cancel), with a fresh key.
pub async fn admin_order_action(
    app: &TestApp,
    order_id: &str,
    action: &str,
    body: Option<&Value>,
) -> TestResponse {
    let token = app.owner_token().await;
    let auth = format!("Bearer {token}");
    let key = new_key();
    app.send(
        Method::POST,
        &format!("/v1/admin/orders/{order_id}/{action}"),
        body,
        &[("authorization", &auth), ("idempotency-key", &key)],
    )
    .await
}

/// `POST /v1/admin/orders/{id}/refunds` with `amount_minor` of `currency`, a given key or none.
pub async fn refund_with(
    app: &TestApp,
    order_id: &str,
    amount_minor: i64,
    key: Option<&str>,
) -> TestResponse {
    let token = app.owner_token().await;
    let auth = format!("Bearer {token}");
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(key) = key {
        headers.push(("idempotency-key", key));
    }
    app.send(
        Method::POST,
        &format!("/v1/admin/orders/{order_id}/refunds"),
        Some(&json!({"amount": crate::helpers::money(amount_minor, CURRENCY)})),
        &headers,
    )
    .await
}

/// `GET /v1/orders/{id}` with an `Order-Token`.
pub async fn order_by_token(app: &TestApp, order_id: &str, token: &str) -> TestResponse {
    app.send(
        Method::GET,
        &format!("/v1/orders/{order_id}"),
        None,
        &[("order-token", token)],
    )
    .await
}

/// The `amount_minor` of a money value, asserting its currency is [`CURRENCY`].
#[track_caller]
pub fn minor(money: &Value) -> i64 {
    assert_eq!(money["currency"], CURRENCY, "not EUR money: {money:#}");
    money["amount_minor"]
        .as_i64()
        .unwrap_or_else(|| panic!("not money: {money:#}"))
}

/// An order's `totals.total` in minor units.
#[track_caller]
pub fn total_of(order: &Value) -> i64 {
    minor(&order["totals"]["total"])
}

/// The string member `name` of a body.
#[track_caller]
pub fn text(body: &Value, name: &str) -> String {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name}: {body:#}"))
        .to_owned()
}

/// (SKU, quantity) of an order's lines.
#[track_caller]
pub fn order_units(order: &Value) -> Vec<(String, i64)> {
    order["lines"]
        .as_array()
        .unwrap_or_else(|| panic!("an order without lines: {order:#}"))
        .iter()
        .map(|line| {
            (
                text(line, "sku"),
                line["quantity"].as_i64().expect("a line quantity"),
            )
        })
        .collect()
}

// ---- the sandbox gateway --------------------------------------------------------------------

/// The sandbox gateway the app pays with (the default gateway).
#[track_caller]
pub fn sandbox(app: &TestApp) -> &SandboxGateway {
    app.districts
        .sandbox
        .as_ref()
        .expect("the test app pays with the sandbox gateway")
}

/// Every sandbox payment of an order.
pub fn sandbox_payments(app: &TestApp, order_id: &str) -> Vec<SandboxPayment> {
    sandbox(app).payments_for(order_id)
}

/// The sandbox's money-amount of a payment, in minor units.
pub fn sandbox_minor(money: &kassa_kernel::Money) -> i64 {
    money.amount_minor()
}

// ---- many requests at once ------------------------------------------------------------------

/// Prepares one ready cart per entry of `specs` (lines as (SKU, quantity)), `parallel` at a
/// time; the carts come back in the order of `specs`.
pub async fn ready_carts(
    app: &std::sync::Arc<TestApp>,
    shop: &Shop,
    specs: &[Vec<(String, i64)>],
    parallel: usize,
) -> Vec<Cart> {
    let parallel = parallel.max(1);
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..parallel {
        let app = app.clone();
        let shop = shop.clone();
        let mine: Vec<(usize, Vec<(String, i64)>)> = specs
            .iter()
            .enumerate()
            .filter(|(i, _)| i % parallel == worker)
            .map(|(i, spec)| (i, spec.clone()))
            .collect();
        workers.spawn(async move {
            let mut carts = Vec::new();
            for (i, spec) in mine {
                let lines: Vec<(&str, i64)> = spec.iter().map(|(s, q)| (s.as_str(), *q)).collect();
                carts.push((i, ready_cart(&app, &shop, &lines).await));
            }
            carts
        });
    }
    let mut carts: Vec<(usize, Cart)> = Vec::new();
    while let Some(done) = workers.join_next().await {
        carts.extend(done.expect("a cart-preparing task"));
    }
    carts.sort_by_key(|(i, _)| *i);
    carts.into_iter().map(|(_, cart)| cart).collect()
}

/// Makes `n` requests with `make(app, i)`, all released at the same moment (a barrier), and
/// returns their answers in the order of `i`.
pub async fn fire_at_once<F, Fut>(
    app: &std::sync::Arc<TestApp>,
    n: usize,
    make: F,
) -> Vec<TestResponse>
where
    F: Fn(std::sync::Arc<TestApp>, usize) -> Fut,
    Fut: std::future::Future<Output = TestResponse> + Send + 'static,
{
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let request = make(app.clone(), i);
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                request.await
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(n);
    for handle in handles {
        answers.push(handle.await.expect("a request task"));
    }
    answers
}

/// Tests that load the machine (hundreds of requests, big pools) take this first, so that two
/// of them never run at once: on two cores and one PostgreSQL server with 100 connections they
/// would slow each other into timeouts. A tokio mutex works across the tests' runtimes.
pub static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Whether a response says it is a replay (`Idempotent-Replayed: true`).
pub fn is_replay(res: &TestResponse) -> bool {
    res.header("idempotent-replayed")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Asserts a 409 `idempotency_key_in_progress` with a `Retry-After` in whole seconds.
#[track_caller]
pub fn assert_in_progress(res: &TestResponse) {
    res.assert_problem(409, "idempotency_key_in_progress");
    let retry_after = res
        .header("retry-after")
        .unwrap_or_else(|| panic!("409 in progress without Retry-After: {:#}", res.body));
    assert!(
        retry_after.trim().parse::<u64>().is_ok(),
        "Retry-After is not a number of seconds: {retry_after:?}"
    );
}

/// The order a shopper's order route answers: the contract does not say whether
/// `GET /v1/orders/{id}` wraps it (`{"order": …}`, like the checkout) or not (like the list
/// items), so both are accepted.
#[track_caller]
pub fn shopper_order(body: &Value) -> &Value {
    if body["order"].is_object() {
        &body["order"]
    } else {
        assert!(body["id"].is_string(), "not an order: {body:#}");
        body
    }
}

/// The staff view of an order once `done` holds for it, polling for up to 10 seconds: for
/// state a background worker (the sweeper, the start-up recovery pass) may be settling at the
/// same moment as the pass the test ran itself.
pub async fn admin_order_when(
    app: &TestApp,
    order_id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        last = admin_order(app, order_id).await;
        if done(&last["order"]) {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("order {order_id} never reached the expected state: {last:#}");
}
