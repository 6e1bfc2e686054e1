//! Who may read an order (/work/checkout-contract.md, "Shopper"): a customer opens their own
//! orders only, a guest's order token opens exactly that order, and every other attempt is the
//! same 404 `order_not_found` as an order that does not exist. A signed-in customer's checkout
//! attaches the order to them.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::checkout_helpers::{
    checkout, checkout_as_customer, confirmed_order, open_shop, order_by_token, ready_cart,
    ready_customer_cart, shopper_order, text, Shop,
};
use crate::helpers::{items_of, TestApp, TestResponse};
use crate::identity_helpers::{me, new_customer, with_bearer, Tokens};

/// A well-formed order id that names no order.
const NO_SUCH_ORDER: &str = "ord_0191b7c2000070008000000000000000";

async fn shop(app: &TestApp) -> Shop {
    open_shop(app, &[("TEE-M", 2500, 20)]).await
}

/// A signed-in customer with one confirmed order: (tokens, customer id, order).
async fn customer_with_order(app: &TestApp, shop: &Shop, email: &str) -> (Tokens, String, Value) {
    let tokens = new_customer(app, email).await;
    let customer_id = text(me(app, &tokens.access).await.assert_status(200), "id");
    let cart = ready_customer_cart(app, shop, &tokens.access, email, &[("TEE-M", 1)]).await;
    let res = checkout_as_customer(app, &tokens.access, &cart, "pm_sandbox_success").await;
    let order = confirmed_order(&res);
    (tokens, customer_id, order)
}

async fn my_orders(app: &TestApp, access: &str) -> TestResponse {
    with_bearer(app, Method::GET, "/v1/orders", access, None).await
}

async fn my_order(app: &TestApp, access: &str, order_id: &str) -> TestResponse {
    with_bearer(
        app,
        Method::GET,
        &format!("/v1/orders/{order_id}"),
        access,
        None,
    )
    .await
}

/// The ids of a list body's items, in order.
fn ids(body: &Value) -> Vec<String> {
    items_of(body).iter().map(|o| text(o, "id")).collect()
}

#[tokio::test]
async fn a_signed_in_customers_checkout_attaches_the_order_which_they_list_newest_first() {
    // Arrange
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let tokens = new_customer(&app, "ada@example.com").await;
    let customer_id = text(me(&app, &tokens.access).await.assert_status(200), "id");
    assert!(customer_id.starts_with("cus_"), "{customer_id}");

    // Act: two checkouts with the bearer token, a second apart
    let first_cart = ready_customer_cart(
        &app,
        &shop,
        &tokens.access,
        "ada@example.com",
        &[("TEE-M", 1)],
    )
    .await;
    let first = checkout_as_customer(&app, &tokens.access, &first_cart, "pm_sandbox_success").await;
    app.clock.advance(Duration::from_secs(1));
    let second_cart = ready_customer_cart(
        &app,
        &shop,
        &tokens.access,
        "ada@example.com",
        &[("TEE-M", 2)],
    )
    .await;
    let second =
        checkout_as_customer(&app, &tokens.access, &second_cart, "pm_sandbox_success").await;

    // Assert
    let first = confirmed_order(&first);
    let second = confirmed_order(&second);
    assert_eq!(first["customer_id"], customer_id.as_str(), "{first:#}");
    assert_eq!(second["customer_id"], customer_id.as_str(), "{second:#}");
    assert_eq!(first["cart_id"], first_cart.as_str());
    let listed = my_orders(&app, &tokens.access).await;
    let body = listed.assert_status(200);
    assert_eq!(
        ids(body),
        [text(&second, "id"), text(&first, "id")],
        "newest first: {body:#}"
    );
    assert_eq!(body["next_cursor"], Value::Null);
    assert_eq!(
        items_of(body)[0],
        second,
        "the list shows the orders as checked out"
    );
    let read = my_order(&app, &tokens.access, &text(&first, "id")).await;
    assert_eq!(shopper_order(read.assert_status(200)), &first);
    // Staff find them by customer.
    let staff = app
        .admin(
            Method::GET,
            &format!("/v1/admin/orders?customer_id={customer_id}"),
            None,
        )
        .await;
    assert_eq!(
        ids(staff.assert_status(200)),
        [text(&second, "id"), text(&first, "id")]
    );
}

#[tokio::test]
async fn a_customer_gets_404_for_another_customers_order_on_every_order_route() {
    // Arrange
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let (_, _, ada_order) = customer_with_order(&app, &shop, "ada@example.com").await;
    let (bob, _, bob_order) = customer_with_order(&app, &shop, "bob@example.com").await;
    let ada_order_id = text(&ada_order, "id");

    // Act
    let read = my_order(&app, &bob.access, &ada_order_id).await;
    let listed = my_orders(&app, &bob.access).await;

    // Assert: exactly like an order that does not exist
    read.assert_problem(404, "order_not_found");
    my_order(&app, &bob.access, NO_SUCH_ORDER)
        .await
        .assert_problem(404, "order_not_found");
    my_order(&app, &bob.access, "not-an-order-id")
        .await
        .assert_problem(404, "order_not_found");
    assert_eq!(ids(listed.assert_status(200)), [text(&bob_order, "id")]);
    // Bob's bearer does not become a way around it with a token header either.
    let with_both = app
        .send(
            Method::GET,
            &format!("/v1/orders/{ada_order_id}"),
            None,
            &[
                ("authorization", &format!("Bearer {}", bob.access)),
                ("order-token", "ordtok_guess"),
            ],
        )
        .await;
    with_both.assert_problem(404, "order_not_found");
}

#[tokio::test]
async fn a_guests_order_token_opens_that_order_and_no_other() {
    // Arrange: two guest orders
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let first_cart = ready_cart(&app, &shop, &[("TEE-M", 1)]).await;
    let first = checkout(&app, &first_cart, "pm_sandbox_success").await;
    let first_order = confirmed_order(&first);
    let first_token = text(&first.body, "order_token");
    let second_cart = ready_cart(&app, &shop, &[("TEE-M", 2)]).await;
    let second = checkout(&app, &second_cart, "pm_sandbox_success").await;
    let second_order = confirmed_order(&second);
    let second_token = text(&second.body, "order_token");
    let (first_id, second_id) = (text(&first_order, "id"), text(&second_order, "id"));
    assert_ne!(first_token, second_token);

    // Act + Assert: its own order opens
    let own = order_by_token(&app, &first_id, &first_token).await;
    assert_eq!(shopper_order(own.assert_status(200)), &first_order);

    // Another order does not, nor a wrong, truncated or missing token
    order_by_token(&app, &second_id, &first_token)
        .await
        .assert_problem(404, "order_not_found");
    order_by_token(&app, &first_id, &second_token)
        .await
        .assert_problem(404, "order_not_found");
    order_by_token(&app, &first_id, "ordtok_wrong")
        .await
        .assert_problem(404, "order_not_found");
    let truncated = &first_token[..first_token.len() - 1];
    order_by_token(&app, &first_id, truncated)
        .await
        .assert_problem(404, "order_not_found");
    app.get(&format!("/v1/orders/{first_id}"))
        .await
        .assert_problem(404, "order_not_found");
    order_by_token(&app, NO_SUCH_ORDER, &first_token)
        .await
        .assert_problem(404, "order_not_found");
    order_by_token(&app, "not-an-order-id", &first_token)
        .await
        .assert_problem(404, "order_not_found");
    // The cart token is not an order token.
    app.send(
        Method::GET,
        &format!("/v1/orders/{first_id}"),
        None,
        &[("cart-token", &first_cart.token)],
    )
    .await
    .assert_problem(404, "order_not_found");
    // A signed-in customer does not open a guest's order.
    let eve = new_customer(&app, "eve@example.com").await;
    my_order(&app, &eve.access, &first_id)
        .await
        .assert_problem(404, "order_not_found");
    assert!(items_of(my_orders(&app, &eve.access).await.assert_status(200)).is_empty());
}
