//! Bad input is refused with a clear problem document and changes nothing: every test reads
//! the cart or the catalog back after the refusal and compares it with what it was before.
//!
//! The clock is moved forward before each refused request, so a write that slipped through
//! would show at least in `updated_at`.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{address, id_of, line_of, money, variant_body, variant_of, TestApp};

/// A EUR cart holding one line of `TEE-M` (2 units), plus the catalog it comes from.
struct CartFixture {
    app: TestApp,
    cart: String,
    token: String,
    line: String,
    before: Value,
}

impl CartFixture {
    async fn new() -> CartFixture {
        let app = TestApp::spawn().await;
        app.create_product("tee", "Tee", &[("TEE-M", &[(2500, "EUR")], 180)])
            .await;
        app.create_product(
            "euro-mug",
            "Euro mug",
            &[("MUG-EUR", &[(1600, "EUR")], 400)],
        )
        .await;
        let (cart, token) = app.create_cart("EUR").await;
        let added = app.add_line(&cart, &token, "TEE-M", 2).await;
        let line = id_of(line_of(added.assert_status(201), "TEE-M"));
        let before = app.cart_body(&cart, &token).await;
        app.clock.advance(Duration::from_secs(30));
        CartFixture {
            app,
            cart,
            token,
            line,
            before,
        }
    }

    fn lines_path(&self) -> String {
        format!("/v1/carts/{}/lines", self.cart)
    }

    /// Sends a raw body to a cart route with the cart's token.
    async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> crate::helpers::TestResponse {
        self.app
            .send_raw(
                method,
                path,
                content_type,
                body.to_owned(),
                &[("cart-token", &self.token)],
            )
            .await
    }

    async fn assert_unchanged(&self) {
        let after = self.app.cart_body(&self.cart, &self.token).await;
        assert_eq!(after, self.before, "the refused request changed the cart");
    }
}

#[tokio::test]
async fn malformed_json_is_refused_with_400_and_changes_nothing() {
    // Arrange
    let f = CartFixture::new().await;

    for body in [
        r#"{"sku": "MUG-EUR", "quantity": 1"#,
        "{sku: MUG-EUR}",
        "",
        r#"{"sku":"MUG-EUR","quantity":1} trailing"#,
    ] {
        // Act
        let res = f
            .raw(Method::POST, &f.lines_path(), "application/json", body)
            .await;

        // Assert
        let problem = res.assert_problem(400, "malformed_request");
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{body:?}"
        );
        assert!(problem.get("errors").is_none(), "{problem:#}");
    }
    f.assert_unchanged().await;
}

#[tokio::test]
async fn an_unknown_field_is_refused_with_a_pointer_to_it_and_changes_nothing() {
    // Arrange
    let f = CartFixture::new().await;

    // Act
    let res = f
        .app
        .cart_call(
            Method::POST,
            &f.lines_path(),
            &f.token,
            Some(&json!({"sku": "MUG-EUR", "quantity": 1, "colour": "red"})),
        )
        .await;

    // Assert
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.pointers(), ["/colour"]);
    f.assert_unchanged().await;
}

#[tokio::test]
async fn an_unknown_field_deep_in_a_product_is_refused_with_its_pointer_and_creates_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    let mut variant = variant_body("MUG-1", &[(1000, "EUR")], 300);
    variant["colour"] = json!("blue");

    // Act
    let res = app
        .admin(
            Method::POST,
            "/v1/admin/products",
            Some(&json!({"handle": "mug", "title": "Mug", "variants": [variant_body("MUG-0", &[(1, "EUR")], 1), variant]})),
        )
        .await;

    // Assert
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.pointers(), ["/variants/1/colour"]);
    assert!(app.all_products_admin().await.is_empty());
}

#[tokio::test]
async fn an_unknown_currency_is_refused_with_a_pointer_to_currency_and_creates_no_cart() {
    // Arrange
    let app = TestApp::spawn().await;
    let carts_before = app.count_carts().await;

    for currency in [json!("XYZ"), json!("eur"), json!(""), json!(978)] {
        // Act
        let res = app.post("/v1/carts", &json!({"currency": currency})).await;

        // Assert
        res.assert_invalid_field("/currency", &["validation_failed", "unknown_currency"]);
    }
    let missing = app.post("/v1/carts", &json!({})).await;
    missing.assert_problem(422, "validation_failed");
    assert_eq!(missing.pointers(), ["/currency"]);
    assert_eq!(app.count_carts().await, carts_before);
}

#[tokio::test]
async fn a_quantity_of_0_or_minus_1_or_1000_is_refused_with_a_pointer_and_changes_nothing() {
    // Arrange
    let f = CartFixture::new().await;

    for quantity in [0, -1, 1000] {
        // Act
        let add = f.app.add_line(&f.cart, &f.token, "MUG-EUR", quantity).await;
        let patch = f.app.patch_line(&f.cart, &f.token, &f.line, quantity).await;

        // Assert
        add.assert_invalid_field("/quantity", &["validation_failed", "invalid_quantity"]);
        patch.assert_invalid_field("/quantity", &["validation_failed", "invalid_quantity"]);
    }
    f.assert_unchanged().await;
}

#[tokio::test]
async fn a_quantity_of_999_is_accepted_and_one_more_unit_is_refused_as_too_large() {
    // Arrange
    let f = CartFixture::new().await;

    // Act
    let at_max = f.app.patch_line(&f.cart, &f.token, &f.line, 999).await;
    let before = f.app.cart_body(&f.cart, &f.token).await;
    let past_max = f.app.add_line(&f.cart, &f.token, "TEE-M", 1).await;

    // Assert
    assert_eq!(line_of(at_max.assert_status(200), "TEE-M")["quantity"], 999);
    past_max.assert_problem(422, "quantity_too_large");
    assert_eq!(f.app.cart_body(&f.cart, &f.token).await, before);
}

#[tokio::test]
async fn an_unknown_sku_is_refused_and_changes_nothing() {
    // Arrange
    let f = CartFixture::new().await;

    // Act
    let res = f.app.add_line(&f.cart, &f.token, "NO-SUCH-SKU", 1).await;

    // Assert
    let problem = res.assert_problem(422, "unknown_sku");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("NO-SUCH-SKU")),
        "{problem:#}"
    );
    f.assert_unchanged().await;
}

#[tokio::test]
async fn a_malformed_sku_is_refused_with_a_pointer_and_changes_nothing() {
    // Arrange
    let f = CartFixture::new().await;
    let too_long = "A".repeat(65);

    for sku in ["", "TEE M", "TEE_M", too_long.as_str()] {
        // Act
        let res = f.app.add_line(&f.cart, &f.token, sku, 1).await;

        // Assert
        res.assert_invalid_field("/sku", &["validation_failed", "invalid_sku"]);
    }
    f.assert_unchanged().await;
}

#[tokio::test]
async fn the_sku_of_an_archived_product_or_variant_is_refused_as_unavailable_and_changes_nothing() {
    // Arrange
    let f = CartFixture::new().await;
    let old = f
        .app
        .create_product("old", "Old", &[("OLD-1", &[(1000, "EUR")], 100)])
        .await;
    f.app.archive_product(&id_of(&old)).await.assert_status(200);
    let two = f
        .app
        .create_product(
            "two",
            "Two",
            &[
                ("TWO-S", &[(1000, "EUR")], 100),
                ("TWO-L", &[(1200, "EUR")], 120),
            ],
        )
        .await;
    f.app
        .archive_variant(&id_of(variant_of(&two, "TWO-L")))
        .await
        .assert_status(200);

    // Act
    let archived_product = f.app.add_line(&f.cart, &f.token, "OLD-1", 1).await;
    let archived_variant = f.app.add_line(&f.cart, &f.token, "TWO-L", 1).await;

    // Assert
    archived_product.assert_problem(422, "sku_unavailable");
    archived_variant.assert_problem(422, "sku_unavailable");
    f.assert_unchanged().await;
}

#[tokio::test]
async fn a_usd_cart_refuses_a_product_priced_only_in_eur_and_changes_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    app.create_product(
        "euro-mug",
        "Euro mug",
        &[("MUG-EUR", &[(1600, "EUR")], 400)],
    )
    .await;
    app.create_product(
        "tee",
        "Tee",
        &[("TEE-M", &[(2500, "EUR"), (2700, "USD")], 180)],
    )
    .await;
    let (cart, token) = app.create_cart("USD").await;
    app.add_line(&cart, &token, "TEE-M", 1)
        .await
        .assert_status(201);
    let before = app.cart_body(&cart, &token).await;
    app.clock.advance(Duration::from_secs(30));

    // Act
    let res = app.add_line(&cart, &token, "MUG-EUR", 1).await;

    // Assert
    let problem = res.assert_problem(422, "price_unavailable");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("MUG-EUR") && detail.contains("USD"),
        "{detail}"
    );
    assert_eq!(app.cart_body(&cart, &token).await, before);
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413_and_changes_nothing() {
    // Arrange: ~70 KiB of valid JSON, past the default 64 KiB limit.
    let f = CartFixture::new().await;
    let padding = "x".repeat(70 * 1024);
    let line = json!({"sku": "MUG-EUR", "quantity": 1, "note": padding});
    let product = json!({
        "handle": "big", "title": "Big", "description": padding,
        "variants": [variant_body("BIG-1", &[(100, "EUR")], 1)],
    });
    let products_before = f.app.all_products_admin().await;

    // Act
    let on_cart = f
        .app
        .cart_call(Method::POST, &f.lines_path(), &f.token, Some(&line))
        .await;
    let on_catalog = f
        .app
        .admin(Method::POST, "/v1/admin/products", Some(&product))
        .await;

    // Assert
    on_cart.assert_problem(413, "payload_too_large");
    on_catalog.assert_problem(413, "payload_too_large");
    f.assert_unchanged().await;
    assert_eq!(f.app.all_products_admin().await, products_before);
}

#[tokio::test]
async fn a_wrong_missing_or_foreign_cart_token_is_cart_not_found_and_changes_nothing() {
    // Arrange
    let f = CartFixture::new().await;
    let (_, other_token) = f.app.create_cart("EUR").await;
    let path = format!("/v1/carts/{}", f.cart);
    let add = json!({"sku": "MUG-EUR", "quantity": 1});

    for headers in [
        vec![],
        vec![("cart-token", "wrong-token")],
        vec![("cart-token", other_token.as_str())],
        vec![("cart-token", "")],
    ] {
        // Act
        let read = f.app.send(Method::GET, &path, None, &headers).await;
        let write = f
            .app
            .send(Method::POST, &f.lines_path(), Some(&add), &headers)
            .await;
        let email = f
            .app
            .send(
                Method::PUT,
                &format!("{path}/email"),
                Some(&json!({"email": "eve@example.com"})),
                &headers,
            )
            .await;
        let delete = f
            .app
            .send(
                Method::DELETE,
                &format!("{path}/lines/{}", f.line),
                None,
                &headers,
            )
            .await;

        // Assert
        for res in [read, write, email, delete] {
            let problem = res.assert_problem(404, "cart_not_found");
            assert!(problem.get("token").is_none());
        }
    }
    f.assert_unchanged().await;
}

#[tokio::test]
async fn a_malformed_or_unknown_cart_id_is_the_same_cart_not_found() {
    // Arrange
    let f = CartFixture::new().await;
    let unknown = kassa_kernel::ids::CartId::new().to_string();
    let product_id = kassa_kernel::ids::ProductId::new().to_string();

    for id in [unknown.as_str(), "not-a-cart", product_id.as_str()] {
        // Act
        let res = f.app.cart(id, &f.token).await;

        // Assert
        res.assert_problem(404, "cart_not_found");
    }
    f.assert_unchanged().await;
}

#[tokio::test]
async fn invalid_address_fields_are_refused_with_a_pointer_each_and_change_nothing() {
    // Arrange
    let f = CartFixture::new().await;
    f.app.set_address(&f.cart, &f.token, "DE").await;
    let before = f.app.cart_body(&f.cart, &f.token).await;
    f.app.clock.advance(Duration::from_secs(30));
    let mut bad = address("XX");
    bad["name"] = json!("   ");
    bad["postal_code"] = json!("1".repeat(21));
    bad["city"] = json!("Ber\u{7}lin");

    // Act
    let invalid = f.app.set_address_to(&f.cart, &f.token, &bad).await;
    let mut no_city = address("DE");
    no_city.as_object_mut().expect("an object").remove("city");
    let missing = f.app.set_address_to(&f.cart, &f.token, &no_city).await;

    // Assert
    invalid.assert_problem(422, "invalid_address");
    let mut pointers = invalid.pointers();
    pointers.sort();
    assert_eq!(pointers, ["/city", "/country", "/name", "/postal_code"]);
    missing.assert_problem(422, "validation_failed");
    assert_eq!(missing.pointers(), ["/city"]);
    assert_eq!(f.app.cart_body(&f.cart, &f.token).await, before);
}

#[tokio::test]
async fn a_body_not_sent_as_json_is_refused_with_415_and_changes_nothing() {
    // Arrange
    let f = CartFixture::new().await;
    let body = r#"{"sku": "MUG-EUR", "quantity": 1}"#;

    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonx",
    ] {
        // Act
        let res = f
            .raw(Method::POST, &f.lines_path(), content_type, body)
            .await;

        // Assert
        res.assert_problem(415, "unsupported_media_type");
    }
    let without_type = f
        .app
        .client
        .post(f.app.url(&f.lines_path()))
        .header("cart-token", &f.token)
        .body(body)
        .send()
        .await
        .expect("request reaches the server");
    assert_eq!(without_type.status().as_u16(), 415);
    f.assert_unchanged().await;
}

#[tokio::test]
async fn a_product_whose_price_is_not_money_is_refused_with_a_pointer_and_creates_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    let mut variant = variant_body("MUG-1", &[(1000, "EUR")], 300);
    variant["prices"] = json!([money(1000, "EUR"), {"amount_minor": "ten", "currency": "USD"}]);

    // Act
    let res = app
        .admin(
            Method::POST,
            "/v1/admin/products",
            Some(&json!({"handle": "mug", "title": "Mug", "variants": [variant]})),
        )
        .await;

    // Assert
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.pointers(), ["/variants/0/prices/1/amount_minor"]);
    assert!(app.all_products_admin().await.is_empty());
}

#[tokio::test]
async fn a_body_of_exactly_64_kib_is_accepted_and_one_byte_more_is_refused() {
    // Arrange: a valid line padded with JSON whitespace to the limit and one byte past it.
    let f = CartFixture::new().await;
    let limit = 64 * 1024;
    let line = r#"{"sku": "MUG-EUR", "quantity": 1}"#;
    let at_limit = format!("{line}{}", " ".repeat(limit - line.len()));
    let past_limit = format!("{at_limit} ");
    assert_eq!(at_limit.len(), limit);

    // Act
    let refused = f
        .raw(
            Method::POST,
            &f.lines_path(),
            "application/json",
            &past_limit,
        )
        .await;
    let unchanged = f.app.cart_body(&f.cart, &f.token).await;
    let accepted = f
        .raw(Method::POST, &f.lines_path(), "application/json", &at_limit)
        .await;

    // Assert
    refused.assert_problem(413, "payload_too_large");
    assert_eq!(unchanged, f.before);
    assert_eq!(
        line_of(accepted.assert_status(201), "MUG-EUR")["quantity"],
        1
    );
}

#[tokio::test]
async fn a_new_line_past_the_cart_line_limit_is_refused_and_changes_nothing() {
    // Arrange: a limit of 2 lines, reached.
    let app = TestApp::spawn_with(|settings| settings.cart.lines_max = 2).await;
    for (handle, sku) in [("a", "A-1"), ("b", "B-1"), ("c", "C-1")] {
        app.create_product(handle, handle, &[(sku, &[(100, "EUR")], 10)])
            .await;
    }
    let (cart, token) = app.create_cart("EUR").await;
    app.add_line(&cart, &token, "A-1", 1)
        .await
        .assert_status(201);
    let at_limit = app.add_line(&cart, &token, "B-1", 1).await;
    let before = at_limit.assert_status(201).clone();
    app.clock.advance(Duration::from_secs(30));

    // Act
    let past_limit = app.add_line(&cart, &token, "C-1", 1).await;
    let unchanged = app.cart_body(&cart, &token).await;
    let more_of_a_line = app.add_line(&cart, &token, "A-1", 1).await;

    // Assert
    past_limit.assert_problem(422, "too_many_lines");
    assert_eq!(unchanged, before);
    assert_eq!(
        line_of(more_of_a_line.assert_status(201), "A-1")["quantity"],
        2
    );
}
