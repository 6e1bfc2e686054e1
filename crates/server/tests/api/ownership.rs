//! Carts of signed-in customers, against docs/API.md "Carts of signed-in customers" and the
//! merge rules of `CartService::merge_on_sign_in`: another customer's cart answers exactly like
//! no cart on every route that takes a cart id, an owned cart no longer opens with its
//! anonymous token, and the anonymous cart is merged at sign-in case by case.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{address, fill_path, id_of, line_of, money, TestApp, TestResponse};
use crate::identity_helpers::{new_customer, sign_in_with_cart, with_bearer, Tokens};

/// A shop: a tee priced in EUR and USD, a mug and a cap priced in EUR.
async fn shop(app: &TestApp) {
    app.create_product(
        "tee",
        "Tee",
        &[("TEE-M", &[(2500, "EUR"), (2700, "USD")], 180)],
    )
    .await;
    app.create_product("mug", "Mug", &[("MUG-1", &[(1600, "EUR")], 400)])
        .await;
    app.create_product("cap", "Cap", &[("CAP-1", &[(900, "EUR")], 100)])
        .await;
}

/// `POST /v1/carts` with a customer's bearer token; returns the 201 body.
async fn customer_cart(app: &TestApp, access: &str, currency: &str) -> Value {
    with_bearer(
        app,
        Method::POST,
        "/v1/carts",
        access,
        Some(&json!({"currency": currency})),
    )
    .await
    .assert_status(201)
    .clone()
}

/// Adds a line to a customer's cart with their bearer token.
async fn add_as(app: &TestApp, access: &str, cart: &str, sku: &str, quantity: i64) -> TestResponse {
    with_bearer(
        app,
        Method::POST,
        &format!("/v1/carts/{cart}/lines"),
        access,
        Some(&json!({"sku": sku, "quantity": quantity})),
    )
    .await
}

/// An anonymous cart with these lines; returns (id, token).
async fn anonymous_cart(app: &TestApp, currency: &str, lines: &[(&str, i64)]) -> (String, String) {
    let (cart, token) = app.create_cart(currency).await;
    for (sku, quantity) in lines {
        app.add_line(&cart, &token, sku, *quantity)
            .await
            .assert_status(201);
    }
    (cart, token)
}

/// `GET /v1/me/cart`.
async fn my_cart(app: &TestApp, access: &str) -> TestResponse {
    with_bearer(app, Method::GET, "/v1/me/cart", access, None).await
}

/// (SKU, quantity) of every line of a cart body, by SKU.
fn quantities(cart: &Value) -> Vec<(String, i64)> {
    let mut lines: Vec<(String, i64)> = cart["lines"]
        .as_array()
        .unwrap_or_else(|| panic!("not a cart: {cart:#}"))
        .iter()
        .map(|line| {
            (
                line["sku"].as_str().expect("a sku").to_owned(),
                line["quantity"].as_i64().expect("a quantity"),
            )
        })
        .collect();
    lines.sort();
    lines
}

fn lines(expected: &[(&str, i64)]) -> Vec<(String, i64)> {
    expected
        .iter()
        .map(|(s, q)| ((*s).to_owned(), *q))
        .collect()
}

// ---- ownership -----------------------------------------------------------------------------

/// Every route that takes a cart id, from the router itself, so a new one cannot be missed.
fn cart_id_routes(app: &TestApp) -> Vec<(Method, String)> {
    let routes: Vec<(Method, String)> = app
        .route_table
        .entries()
        .iter()
        .filter(|(_, path)| path.starts_with("/v1/carts/{cart_id}"))
        .map(|(method, path)| {
            (
                Method::from_bytes(method.as_bytes()).expect("a method"),
                path.clone(),
            )
        })
        .collect();
    assert!(routes.len() >= 8, "too few cart routes: {routes:?}");
    routes
}

/// A cart route's path for this cart and line.
fn cart_path(template: &str, cart: &str, line: &str) -> String {
    let path = template
        .replace("{cart_id}", cart)
        .replace("{line_id}", line);
    fill_path(&path)
}

/// A body each cart route accepts for a cart with an address in DE. A new cart route that takes
/// a body needs its own entry here.
fn cart_route_body(method: &Method, template: &str, shipping_option: &str) -> Option<Value> {
    let body = match (method.as_str(), template) {
        ("GET" | "DELETE", _) => return None,
        ("POST", "/v1/carts/{cart_id}/lines") => json!({"sku": "MUG-1", "quantity": 1}),
        ("PATCH", "/v1/carts/{cart_id}/lines/{line_id}") => json!({"quantity": 2}),
        ("PUT", "/v1/carts/{cart_id}/email") => json!({"email": "someone@example.com"}),
        ("PUT", "/v1/carts/{cart_id}/shipping-address") => address("DE"),
        ("PUT", "/v1/carts/{cart_id}/shipping-option") => {
            json!({"shipping_option_id": shipping_option})
        }
        ("POST", "/v1/carts/{cart_id}/checkout") => json!({"payment_method": "pm_sandbox_success"}),
        _ => json!({}),
    };
    Some(body)
}

#[tokio::test]
async fn another_customer_s_token_answers_cart_not_found_on_every_route_that_takes_a_cart_id() {
    // Arrange
    let app = TestApp::spawn().await;
    shop(&app).await;
    let option = app
        .create_flat_shipping_option("DHL", &["DE"], "EUR", 490)
        .await;
    let ada = new_customer(&app, "ada@example.com").await;
    let bob = new_customer(&app, "bob@example.com").await;
    let cart = id_of(&customer_cart(&app, &ada.access, "EUR").await);
    let added = add_as(&app, &ada.access, &cart, "TEE-M", 1).await;
    let line = id_of(line_of(added.assert_status(201), "TEE-M"));
    let cart_path_of_ada = format!("/v1/carts/{cart}");
    let before = with_bearer(&app, Method::GET, &cart_path_of_ada, &ada.access, None)
        .await
        .assert_status(200)
        .clone();
    let routes = cart_id_routes(&app);
    let mut failures = Vec::new();

    for (method, template) in &routes {
        let path = cart_path(template, &cart, &line);
        let body = cart_route_body(method, template, &option);

        // Act: with an `Idempotency-Key`, which checkout requires before anything else.
        let auth = format!("Bearer {}", bob.access);
        let headers = [
            ("authorization", auth.as_str()),
            ("idempotency-key", "bob-1"),
        ];
        let res = app
            .send(method.clone(), &path, body.as_ref(), &headers)
            .await;

        // Assert
        if res.status.as_u16() != 404
            || res.body["code"] != "cart_not_found"
            || res.header("content-type") != Some("application/problem+json")
        {
            failures.push(format!(
                "{method} {path} with another customer's token: expected 404 cart_not_found, got {} {}",
                res.status, res.body
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let after = with_bearer(&app, Method::GET, &cart_path_of_ada, &ada.access, None).await;
    assert_eq!(
        after.assert_status(200),
        &before,
        "another customer changed the cart"
    );

    // The owner's token works on every one of them: the address first (shipping needs it),
    // the line's deletion last.
    let mut in_order = routes.clone();
    in_order.sort_by_key(
        |(method, template)| match (method.as_str(), template.as_str()) {
            ("PUT", "/v1/carts/{cart_id}/shipping-address") => 0,
            ("DELETE", _) => 2,
            _ => 1,
        },
    );
    for (method, template) in &in_order {
        // Checking out closes the cart, and needs stock and a ready cart: the checkout tests
        // cover the owner's side of it.
        if (method.as_str(), template.as_str()) == ("POST", "/v1/carts/{cart_id}/checkout") {
            continue;
        }
        let path = cart_path(template, &cart, &line);
        let body = cart_route_body(method, template, &option);
        let res = with_bearer(&app, method.clone(), &path, &ada.access, body.as_ref()).await;
        assert!(
            res.status.is_success(),
            "{method} {path} with the owner's token: {} {:#}",
            res.status,
            res.body
        );
    }
}

#[tokio::test]
async fn a_cart_created_with_a_customer_s_token_is_theirs_and_opens_with_no_cart_token() {
    // Arrange
    let app = TestApp::spawn().await;
    let ada = new_customer(&app, "ada@example.com").await;
    let bob = new_customer(&app, "bob@example.com").await;

    // Act
    let created = customer_cart(&app, &ada.access, "EUR").await;

    // Assert
    let id = id_of(&created);
    let mine = my_cart(&app, &ada.access).await;
    assert_eq!(id_of(mine.assert_status(200)), id);
    assert_eq!(mine.body["lines"], json!([]));
    my_cart(&app, &bob.access)
        .await
        .assert_problem(404, "cart_not_found");
    app.get(&format!("/v1/carts/{id}"))
        .await
        .assert_problem(404, "cart_not_found");
    // `POST /v1/carts` always answers a token; this one opens nothing, the cart has an owner.
    let token = created["token"].as_str().expect("a token");
    app.cart(&id, token)
        .await
        .assert_problem(404, "cart_not_found");
}

#[tokio::test]
async fn an_anonymous_cart_still_opens_with_its_token_and_not_with_a_customer_s() {
    // Arrange
    let app = TestApp::spawn().await;
    shop(&app).await;
    let bob = new_customer(&app, "bob@example.com").await;
    let (cart, token) = anonymous_cart(&app, "EUR", &[("TEE-M", 1)]).await;

    // Act
    let by_token = app.cart(&cart, &token).await;
    let by_bob = with_bearer(
        &app,
        Method::GET,
        &format!("/v1/carts/{cart}"),
        &bob.access,
        None,
    )
    .await;
    let bob_adds = add_as(&app, &bob.access, &cart, "MUG-1", 1).await;

    // Assert
    assert_eq!(
        quantities(by_token.assert_status(200)),
        lines(&[("TEE-M", 1)])
    );
    by_bob.assert_problem(404, "cart_not_found");
    bob_adds.assert_problem(404, "cart_not_found");
    app.add_line(&cart, &token, "MUG-1", 2)
        .await
        .assert_status(201);
}

#[tokio::test]
async fn an_invalid_or_expired_bearer_token_is_401_and_never_falls_back_to_the_cart_token() {
    // Arrange
    let app = TestApp::spawn().await;
    let ada = new_customer(&app, "ada@example.com").await;
    let (cart, token) = app.create_cart("EUR").await;
    let path = format!("/v1/carts/{cart}");

    // Act
    let garbage = app
        .send(
            Method::GET,
            &path,
            None,
            &[
                ("cart-token", &token),
                ("authorization", "Bearer not.a.token"),
            ],
        )
        .await;
    app.clock.advance(Duration::from_secs(901));
    let expired_auth = format!("Bearer {}", ada.access);
    let expired = app
        .send(
            Method::GET,
            &path,
            None,
            &[("cart-token", &token), ("authorization", &expired_auth)],
        )
        .await;

    // Assert
    garbage.assert_problem(401, "invalid_token");
    expired.assert_problem(401, "invalid_token");
    app.cart(&cart, &token).await.assert_status(200);
}

// ---- merging at sign-in --------------------------------------------------------------------

#[tokio::test]
async fn signing_in_without_an_anonymous_cart_answers_the_customer_s_open_cart_or_null() {
    // Arrange
    let app = TestApp::spawn().await;
    shop(&app).await;

    // Act / Assert: no cart yet.
    let first = new_customer(&app, "ada@example.com").await;
    assert_eq!(first.body["cart"], Value::Null);

    // Act / Assert: a cart of their own.
    let cart = id_of(&customer_cart(&app, &first.access, "EUR").await);
    add_as(&app, &first.access, &cart, "TEE-M", 2)
        .await
        .assert_status(201);
    let again = crate::identity_helpers::signed_in(&app, "ada@example.com").await;
    assert_eq!(id_of(&again.body["cart"]), cart);
    assert_eq!(quantities(&again.body["cart"]), lines(&[("TEE-M", 2)]));
    let mine = my_cart(&app, &again.access).await;
    assert_eq!(mine.assert_status(200), &again.body["cart"]);
}

#[tokio::test]
async fn signing_in_with_an_anonymous_cart_and_none_of_one_s_own_makes_it_the_customer_s() {
    // Arrange
    let app = TestApp::spawn().await;
    shop(&app).await;
    crate::identity_helpers::register_customer(&app, "ada@example.com").await;
    let (cart, token) = anonymous_cart(&app, "EUR", &[("TEE-M", 2), ("MUG-1", 1)]).await;

    // Act
    let res = sign_in_with_cart(&app, "ada@example.com", &cart, &token).await;

    // Assert
    let ada = Tokens::from_response(&res);
    let merged = &ada.body["cart"];
    assert_eq!(id_of(merged), cart);
    assert_eq!(quantities(merged), lines(&[("MUG-1", 1), ("TEE-M", 2)]));
    assert_eq!(my_cart(&app, &ada.access).await.assert_status(200), merged);
    // It is the customer's now: their token opens it, its anonymous token no longer does.
    add_as(&app, &ada.access, &cart, "CAP-1", 1)
        .await
        .assert_status(201);
    app.cart(&cart, &token)
        .await
        .assert_problem(404, "cart_not_found");
    app.add_line(&cart, &token, "CAP-1", 1)
        .await
        .assert_problem(404, "cart_not_found");
}

#[tokio::test]
async fn signing_in_with_an_anonymous_cart_in_the_same_currency_adds_its_lines_capped_at_999() {
    // Arrange
    let app = TestApp::spawn().await;
    shop(&app).await;
    let before = new_customer(&app, "ada@example.com").await;
    let own = id_of(&customer_cart(&app, &before.access, "EUR").await);
    for (sku, quantity) in [("TEE-M", 998), ("MUG-1", 1)] {
        add_as(&app, &before.access, &own, sku, quantity)
            .await
            .assert_status(201);
    }
    let (cart, token) =
        anonymous_cart(&app, "EUR", &[("TEE-M", 5), ("MUG-1", 2), ("CAP-1", 3)]).await;

    // Act
    let res = sign_in_with_cart(&app, "ada@example.com", &cart, &token).await;

    // Assert
    let ada = Tokens::from_response(&res);
    let merged = &ada.body["cart"];
    assert_eq!(id_of(merged), own, "the customer's cart is kept");
    assert_eq!(
        quantities(merged),
        lines(&[("CAP-1", 3), ("MUG-1", 3), ("TEE-M", 999)])
    );
    assert_eq!(
        line_of(merged, "TEE-M")["line_total"],
        money(999 * 2500, "EUR")
    );
    assert_eq!(my_cart(&app, &ada.access).await.assert_status(200), merged);
    // The anonymous cart was used up: its token opens nothing.
    app.cart(&cart, &token)
        .await
        .assert_problem(404, "cart_not_found");
}

#[tokio::test]
async fn signing_in_with_an_anonymous_cart_in_another_currency_makes_it_the_customer_s_open_cart() {
    // Arrange
    let app = TestApp::spawn().await;
    shop(&app).await;
    let before = new_customer(&app, "ada@example.com").await;
    let own = id_of(&customer_cart(&app, &before.access, "EUR").await);
    add_as(&app, &before.access, &own, "MUG-1", 1)
        .await
        .assert_status(201);
    let (cart, token) = anonymous_cart(&app, "USD", &[("TEE-M", 2)]).await;

    // Act
    let res = sign_in_with_cart(&app, "ada@example.com", &cart, &token).await;

    // Assert
    let ada = Tokens::from_response(&res);
    let winner = &ada.body["cart"];
    assert_eq!(id_of(winner), cart, "the anonymous cart wins");
    assert_eq!(winner["currency"], "USD");
    assert_eq!(quantities(winner), lines(&[("TEE-M", 2)]));
    assert_eq!(
        line_of(winner, "TEE-M")["line_total"],
        money(2 * 2700, "USD")
    );
    assert_eq!(my_cart(&app, &ada.access).await.assert_status(200), winner);
    add_as(&app, &ada.access, &cart, "TEE-M", 1)
        .await
        .assert_status(201);
}

#[tokio::test]
async fn signing_in_with_a_wrong_cart_token_succeeds_and_merges_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    shop(&app).await;
    crate::identity_helpers::register_customer(&app, "ada@example.com").await;
    let bob_before = new_customer(&app, "bob@example.com").await;
    let bobs = id_of(&customer_cart(&app, &bob_before.access, "EUR").await);
    add_as(&app, &bob_before.access, &bobs, "MUG-1", 1)
        .await
        .assert_status(201);
    let (cart, token) = anonymous_cart(&app, "EUR", &[("TEE-M", 2)]).await;
    let (_, other_token) = app.create_cart("EUR").await;
    let anonymous_before = app.cart_body(&cart, &token).await;

    // Act
    let ada_res = sign_in_with_cart(&app, "ada@example.com", &cart, &other_token).await;
    let bob_res = sign_in_with_cart(&app, "bob@example.com", &cart, &other_token).await;

    // Assert: signed in, with their own cart (or none) as it was.
    let ada = Tokens::from_response(&ada_res);
    assert_eq!(ada.body["cart"], Value::Null);
    my_cart(&app, &ada.access)
        .await
        .assert_problem(404, "cart_not_found");
    let bob = Tokens::from_response(&bob_res);
    assert_eq!(id_of(&bob.body["cart"]), bobs);
    assert_eq!(quantities(&bob.body["cart"]), lines(&[("MUG-1", 1)]));
    // The anonymous cart is untouched and still opens with its own token.
    assert_eq!(app.cart_body(&cart, &token).await, anonymous_before);
}
