//! Cart routes (shoppers) and the staff routes for shipping options and tax rates.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{
    id_of, line_of, money, sorted, sorted_items, totals_minor, variant_of, TestApp,
    CLOCK_START_RFC3339,
};

/// A shop with two EUR-priced products (a tee of 180 g, a mug of 400 g).
async fn shop(app: &TestApp) -> (Value, Value) {
    let tee = app
        .create_product(
            "tee",
            "Tee",
            &[("TEE-M", &[(2500, "EUR"), (2700, "USD")], 180)],
        )
        .await;
    let mug = app
        .create_product("mug", "Mug", &[("MUG-1", &[(1600, "EUR")], 400)])
        .await;
    (tee, mug)
}

#[tokio::test]
async fn creating_a_cart_answers_201_with_its_token_and_an_empty_priced_cart() {
    // Arrange
    let app = TestApp::spawn().await;

    // Act
    let res = app.post("/v1/carts", &json!({"currency": "EUR"})).await;

    // Assert
    let cart = res.assert_status(201);
    let id = id_of(cart);
    assert!(id.starts_with("cart_"), "{id}");
    let token = cart["token"].as_str().expect("a token");
    assert!(token.len() >= 16, "a short token: {token}");
    assert_eq!(
        cart,
        &json!({
            "id": id,
            "token": token,
            "currency": "EUR",
            "email": null,
            "shipping_address": null,
            "shipping_option": null,
            "lines": [],
            "tax_rate": null,
            "totals": {
                "subtotal": money(0, "EUR"),
                "shipping": money(0, "EUR"),
                "tax": money(0, "EUR"),
                "total": money(0, "EUR"),
            },
            "created_at": CLOCK_START_RFC3339,
            "updated_at": CLOCK_START_RFC3339,
        })
    );
}

#[tokio::test]
async fn a_cart_is_read_with_its_token_which_is_never_shown_again() {
    // Arrange
    let app = TestApp::spawn().await;
    let created = app
        .post("/v1/carts", &json!({"currency": "USD"}))
        .await
        .assert_status(201)
        .clone();
    let (id, token) = (id_of(&created), created["token"].as_str().expect("token"));

    // Act
    let res = app.cart(&id, token).await;

    // Assert
    let mut expected = created.clone();
    expected.as_object_mut().expect("an object").remove("token");
    assert_eq!(res.assert_status(200), &expected);
}

#[tokio::test]
async fn two_carts_get_different_ids_and_tokens() {
    // Arrange
    let app = TestApp::spawn().await;

    // Act
    let (first, first_token) = app.create_cart("EUR").await;
    let (second, second_token) = app.create_cart("EUR").await;

    // Assert
    assert_ne!(first, second);
    assert_ne!(first_token, second_token);
}

#[tokio::test]
async fn adding_a_line_answers_201_with_the_line_priced_from_the_catalog() {
    // Arrange
    let app = TestApp::spawn().await;
    let (tee, _) = shop(&app).await;
    let variant = variant_of(&tee, "TEE-M");
    let (cart, token) = app.create_cart("EUR").await;

    // Act
    let res = app.add_line(&cart, &token, "TEE-M", 2).await;

    // Assert
    let body = res.assert_status(201);
    let line = line_of(body, "TEE-M");
    let line_id = id_of(line);
    assert!(line_id.starts_with("line_"), "{line_id}");
    assert_eq!(
        line,
        &json!({
            "id": line_id,
            "sku": "TEE-M",
            "quantity": 2,
            "available": true,
            "product_id": tee["id"],
            "variant_id": variant["id"],
            "title": variant["title"],
            "unit_price": money(2500, "EUR"),
            "line_total": money(5000, "EUR"),
        })
    );
    // 2 × 25.00 = 50.00; no address, so no shipping and no tax.
    assert_eq!(totals_minor(body), [5000, 0, 0, 5000]);
    assert_eq!(&app.cart_body(&cart, &token).await, body);
}

#[tokio::test]
async fn adding_the_same_sku_again_adds_to_its_line_in_any_letter_case() {
    // Arrange
    let app = TestApp::spawn().await;
    shop(&app).await;
    let (cart, token) = app.create_cart("EUR").await;
    let first = app.add_line(&cart, &token, "TEE-M", 2).await;
    let line_id = id_of(line_of(first.assert_status(201), "TEE-M"));

    // Act
    let res = app.add_line(&cart, &token, "tee-m", 3).await;

    // Assert
    let body = res.assert_status(201);
    assert_eq!(body["lines"].as_array().map(Vec::len), Some(1), "{body:#}");
    let line = line_of(body, "TEE-M");
    assert_eq!(id_of(line), line_id);
    assert_eq!(line["quantity"], 5);
    // 5 × 25.00
    assert_eq!(line["line_total"], money(12_500, "EUR"));
}

#[tokio::test]
async fn patching_a_line_sets_its_quantity() {
    // Arrange
    let app = TestApp::spawn().await;
    shop(&app).await;
    let (cart, token) = app.create_cart("EUR").await;
    let added = app.add_line(&cart, &token, "MUG-1", 5).await;
    let line_id = id_of(line_of(added.assert_status(201), "MUG-1"));

    // Act
    let res = app.patch_line(&cart, &token, &line_id, 2).await;

    // Assert
    let body = res.assert_status(200);
    assert_eq!(line_of(body, "MUG-1")["quantity"], 2);
    // 2 × 16.00
    assert_eq!(totals_minor(body), [3200, 0, 0, 3200]);
    assert_eq!(&app.cart_body(&cart, &token).await, body);
}

#[tokio::test]
async fn deleting_a_line_removes_it_and_its_amount() {
    // Arrange
    let app = TestApp::spawn().await;
    shop(&app).await;
    let (cart, token) = app.create_cart("EUR").await;
    app.add_line(&cart, &token, "TEE-M", 1)
        .await
        .assert_status(201);
    let added = app.add_line(&cart, &token, "MUG-1", 1).await;
    let mug_line = id_of(line_of(added.assert_status(201), "MUG-1"));

    // Act
    let res = app
        .cart_call(
            Method::DELETE,
            &format!("/v1/carts/{cart}/lines/{mug_line}"),
            &token,
            None,
        )
        .await;

    // Assert
    let body = res.assert_status(200);
    assert_eq!(body["lines"].as_array().map(Vec::len), Some(1));
    assert_eq!(line_of(body, "TEE-M")["quantity"], 1);
    assert_eq!(totals_minor(body), [2500, 0, 0, 2500]);
}

#[tokio::test]
async fn patching_or_deleting_a_line_that_is_not_in_the_cart_is_line_not_found() {
    // Arrange
    let app = TestApp::spawn().await;
    shop(&app).await;
    let (cart, token) = app.create_cart("EUR").await;
    let (other, other_token) = app.create_cart("EUR").await;
    let added = app.add_line(&other, &other_token, "MUG-1", 1).await;
    let others_line = id_of(line_of(added.assert_status(201), "MUG-1"));
    let unknown = kassa_kernel::ids::CartLineId::new().to_string();

    // Act
    let patch_unknown = app.patch_line(&cart, &token, &unknown, 2).await;
    let patch_foreign = app.patch_line(&cart, &token, &others_line, 2).await;
    let delete_foreign = app
        .cart_call(
            Method::DELETE,
            &format!("/v1/carts/{cart}/lines/{others_line}"),
            &token,
            None,
        )
        .await;

    // Assert
    patch_unknown.assert_problem(404, "line_not_found");
    patch_foreign.assert_problem(404, "line_not_found");
    delete_foreign.assert_problem(404, "line_not_found");
    assert_eq!(
        line_of(&app.cart_body(&other, &other_token).await, "MUG-1")["quantity"],
        1
    );
}

#[tokio::test]
async fn setting_the_email_shows_it_on_the_cart() {
    // Arrange
    let app = TestApp::spawn().await;
    let (cart, token) = app.create_cart("EUR").await;

    // Act
    let res = app.set_email(&cart, &token, "ada@example.com").await;

    // Assert
    assert_eq!(res.assert_status(200)["email"], "ada@example.com");
    assert_eq!(
        app.cart_body(&cart, &token).await["email"],
        "ada@example.com"
    );
}

#[tokio::test]
async fn an_unusable_email_is_refused_and_changes_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    let (cart, token) = app.create_cart("EUR").await;
    app.set_email(&cart, &token, "ada@example.com")
        .await
        .assert_status(200);
    let before = app.cart_body(&cart, &token).await;

    // Act
    let res = app.set_email(&cart, &token, "not an email").await;

    // Assert
    res.assert_invalid_field("/email", &["invalid_email", "validation_failed"]);
    assert_eq!(app.cart_body(&cart, &token).await, before);
}

#[tokio::test]
async fn setting_the_shipping_address_shows_every_field_with_absent_ones_null() {
    // Arrange
    let app = TestApp::spawn().await;
    let (cart, token) = app.create_cart("EUR").await;

    // Act
    let res = app
        .set_address_to(
            &cart,
            &token,
            &json!({
                "name": "  Ada Lovelace ",
                "line1": "Unter den Linden 1",
                "city": "Berlin",
                "postal_code": "10117",
                "country": "de",
                "phone": "+49 30 000000",
            }),
        )
        .await;

    // Assert
    assert_eq!(
        res.assert_status(200)["shipping_address"],
        json!({
            "name": "Ada Lovelace",
            "line1": "Unter den Linden 1",
            "line2": null,
            "city": "Berlin",
            "postal_code": "10117",
            "region": null,
            "country": "DE",
            "phone": "+49 30 000000",
        })
    );
    assert_eq!(app.cart_body(&cart, &token).await, res.body);
}

#[tokio::test]
async fn the_address_country_brings_its_tax_rate_onto_the_cart() {
    // Arrange
    let app = TestApp::spawn().await;
    shop(&app).await;
    app.set_tax_rate("DE", "19").await;
    let (cart, token) = app.create_cart("EUR").await;
    app.add_line(&cart, &token, "TEE-M", 1)
        .await
        .assert_status(201);

    // Act
    let body = app.set_address(&cart, &token, "DE").await;

    // Assert
    assert_eq!(body["tax_rate"], "19");
    // 25.00 × 19 % = 4.75
    assert_eq!(totals_minor(&body), [2500, 0, 475, 2975]);
}

/// Options for the shipping tests: two for DE in EUR (flat 4.90, tiered 3.90 up to 1 kg and 6.90
/// up to 2 kg), one for FR in EUR, one for DE in USD.
async fn shipping_options(app: &TestApp) -> [String; 4] {
    [
        app.create_flat_shipping_option("DHL Paket", &["DE", "AT"], "EUR", 490)
            .await,
        app.create_tiered_shipping_option("Hermes", &["DE"], "EUR", &[(1000, 390), (2000, 690)])
            .await,
        app.create_flat_shipping_option("Colissimo", &["FR"], "EUR", 790)
            .await,
        app.create_flat_shipping_option("DHL Dollar", &["DE"], "USD", 500)
            .await,
    ]
}

#[tokio::test]
async fn shipping_options_list_a_quote_for_each_option_that_applies_to_the_cart() {
    // Arrange
    let app = TestApp::spawn().await;
    shop(&app).await;
    let [dhl, hermes, _, _] = shipping_options(&app).await;
    let (cart, token) = app.create_cart("EUR").await;
    // 2 × 400 g = 800 g: Hermes's first tier.
    app.add_line(&cart, &token, "MUG-1", 2)
        .await
        .assert_status(201);
    app.set_address(&cart, &token, "DE").await;

    // Act
    let res = app.shipping_quotes(&cart, &token).await;

    // Assert: the FR option and the USD option do not apply; the order is not part of the
    // contract.
    let body = res.assert_status(200);
    assert_eq!(body["next_cursor"], Value::Null);
    assert_eq!(
        sorted_items(body, "id"),
        sorted(
            vec![
                json!({"id": hermes, "name": "Hermes", "amount": money(390, "EUR")}),
                json!({"id": dhl, "name": "DHL Paket", "amount": money(490, "EUR")}),
            ],
            "id"
        )
    );
}

#[tokio::test]
async fn a_cart_heavier_than_the_last_tier_gets_no_quote_from_that_option() {
    // Arrange
    let app = TestApp::spawn().await;
    shop(&app).await;
    let [dhl, hermes, _, _] = shipping_options(&app).await;
    let (cart, token) = app.create_cart("EUR").await;
    // 5 × 400 g = 2000 g: exactly Hermes's last tier.
    app.add_line(&cart, &token, "MUG-1", 5)
        .await
        .assert_status(201);
    app.set_address(&cart, &token, "DE").await;
    let at_limit = app.shipping_quotes(&cart, &token).await;

    // Act: 6 × 400 g = 2400 g, past the last tier.
    app.add_line(&cart, &token, "MUG-1", 1)
        .await
        .assert_status(201);
    let past_limit = app.shipping_quotes(&cart, &token).await;

    // Assert
    assert_eq!(
        sorted_items(at_limit.assert_status(200), "id"),
        sorted(
            vec![
                json!({"id": dhl, "name": "DHL Paket", "amount": money(490, "EUR")}),
                json!({"id": hermes, "name": "Hermes", "amount": money(690, "EUR")}),
            ],
            "id"
        )
    );
    assert_eq!(
        past_limit.assert_status(200)["items"],
        json!([{"id": dhl, "name": "DHL Paket", "amount": money(490, "EUR")}])
    );
}

#[tokio::test]
async fn shipping_options_need_a_shipping_address() {
    // Arrange
    let app = TestApp::spawn().await;
    shop(&app).await;
    shipping_options(&app).await;
    let (cart, token) = app.create_cart("EUR").await;
    app.add_line(&cart, &token, "MUG-1", 1)
        .await
        .assert_status(201);

    // Act
    let res = app.shipping_quotes(&cart, &token).await;

    // Assert
    res.assert_problem(422, "address_required");
}

#[tokio::test]
async fn choosing_a_shipping_option_prices_it_into_the_cart() {
    // Arrange
    let app = TestApp::spawn().await;
    shop(&app).await;
    let [dhl, _, _, _] = shipping_options(&app).await;
    let (cart, token) = app.create_cart("EUR").await;
    app.add_line(&cart, &token, "TEE-M", 2)
        .await
        .assert_status(201);
    app.set_address(&cart, &token, "DE").await;

    // Act
    let res = app.choose_shipping_option(&cart, &token, &dhl).await;

    // Assert
    let body = res.assert_status(200);
    assert_eq!(
        body["shipping_option"],
        json!({"id": dhl, "name": "DHL Paket", "amount": money(490, "EUR")})
    );
    // 2 × 25.00 + 4.90 shipping; no DE tax rate set, so no tax.
    assert_eq!(totals_minor(body), [5000, 490, 0, 5490]);
    assert_eq!(&app.cart_body(&cart, &token).await, body);
}

#[tokio::test]
async fn choosing_an_option_that_does_not_apply_or_does_not_exist_is_refused_and_changes_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    shop(&app).await;
    let [dhl, _, colissimo, dollar] = shipping_options(&app).await;
    let (cart, token) = app.create_cart("EUR").await;
    app.add_line(&cart, &token, "TEE-M", 1)
        .await
        .assert_status(201);
    let (no_address, no_address_token) = app.create_cart("EUR").await;
    app.set_address(&cart, &token, "DE").await;
    app.choose_shipping_option(&cart, &token, &dhl)
        .await
        .assert_status(200);
    let before = app.cart_body(&cart, &token).await;
    let unknown = kassa_kernel::ids::ShippingOptionId::new().to_string();

    // Act
    let other_country = app.choose_shipping_option(&cart, &token, &colissimo).await;
    let other_currency = app.choose_shipping_option(&cart, &token, &dollar).await;
    let missing = app.choose_shipping_option(&cart, &token, &unknown).await;
    let without_address = app
        .choose_shipping_option(&no_address, &no_address_token, &dhl)
        .await;

    // Assert
    other_country.assert_problem(422, "shipping_option_not_applicable");
    other_currency.assert_problem(422, "shipping_option_not_applicable");
    missing.assert_problem(404, "shipping_option_not_found");
    without_address.assert_problem(422, "address_required");
    assert_eq!(app.cart_body(&cart, &token).await, before);
}

#[tokio::test]
async fn staff_create_list_and_delete_flat_and_tiered_shipping_options() {
    // Arrange
    let app = TestApp::spawn().await;

    // Act
    let flat = app
        .admin(
            Method::POST,
            "/v1/admin/shipping-options",
            Some(&json!({"name": "DHL Paket", "countries": ["AT", "DE"], "currency": "EUR", "flat_amount_minor": 490})),
        )
        .await;
    let tiered = app
        .admin(
            Method::POST,
            "/v1/admin/shipping-options",
            Some(&json!({
                "name": "USPS Ground", "countries": ["US"], "currency": "USD",
                "weight_tiers": [
                    {"max_weight_grams": 500, "amount_minor": 599},
                    {"max_weight_grams": 2000, "amount_minor": 899},
                ],
            })),
        )
        .await;

    // Assert
    let flat = flat.assert_status(201).clone();
    let flat_id = id_of(&flat);
    assert!(flat_id.starts_with("ship_"), "{flat_id}");
    assert_eq!(
        flat,
        json!({
            "id": flat_id, "name": "DHL Paket", "countries": ["AT", "DE"], "currency": "EUR",
            "flat_amount_minor": 490, "weight_tiers": null,
        })
    );
    let tiered = tiered.assert_status(201).clone();
    assert_eq!(
        tiered,
        json!({
            "id": id_of(&tiered), "name": "USPS Ground", "countries": ["US"], "currency": "USD",
            "flat_amount_minor": null,
            "weight_tiers": [
                {"max_weight_grams": 500, "amount_minor": 599},
                {"max_weight_grams": 2000, "amount_minor": 899},
            ],
        })
    );
    let list = app
        .admin(Method::GET, "/v1/admin/shipping-options", None)
        .await;
    assert_eq!(list.assert_status(200)["next_cursor"], Value::Null);
    assert_eq!(
        sorted_items(&list.body, "id"),
        sorted(vec![flat, tiered.clone()], "id")
    );

    // Act: delete, then delete again.
    let deleted = app
        .admin(
            Method::DELETE,
            &format!("/v1/admin/shipping-options/{flat_id}"),
            None,
        )
        .await;
    let again = app
        .admin(
            Method::DELETE,
            &format!("/v1/admin/shipping-options/{flat_id}"),
            None,
        )
        .await;

    // Assert
    assert_eq!(deleted.status.as_u16(), 204, "{:#}", deleted.body);
    assert_eq!(deleted.body, json!(""));
    again.assert_problem(404, "shipping_option_not_found");
    let list = app
        .admin(Method::GET, "/v1/admin/shipping-options", None)
        .await;
    assert_eq!(
        list.assert_status(200),
        &json!({"items": [tiered], "next_cursor": null})
    );
}

#[tokio::test]
async fn a_shipping_option_with_tiers_that_do_not_increase_is_refused_and_not_created() {
    // Arrange
    let app = TestApp::spawn().await;

    // Act
    let res = app
        .admin(
            Method::POST,
            "/v1/admin/shipping-options",
            Some(&json!({
                "name": "Backwards", "countries": ["DE"], "currency": "EUR",
                "weight_tiers": [
                    {"max_weight_grams": 2000, "amount_minor": 690},
                    {"max_weight_grams": 1000, "amount_minor": 490},
                ],
            })),
        )
        .await;

    // Assert
    res.assert_problem(422, "invalid_shipping_option");
    assert!(
        res.pointers()
            .iter()
            .any(|p| p.starts_with("/weight_tiers")),
        "the pointer should lead into the body: {:#}",
        res.body
    );
    let list = app
        .admin(Method::GET, "/v1/admin/shipping-options", None)
        .await;
    assert_eq!(list.assert_status(200)["items"], json!([]));
}

#[tokio::test]
async fn a_shipping_option_with_both_or_neither_rate_is_refused_with_422() {
    // Arrange
    let app = TestApp::spawn().await;
    let both = json!({
        "name": "Both", "countries": ["DE"], "currency": "EUR", "flat_amount_minor": 490,
        "weight_tiers": [{"max_weight_grams": 1000, "amount_minor": 490}],
    });
    let neither = json!({"name": "Neither", "countries": ["DE"], "currency": "EUR"});

    // Act
    let both = app
        .admin(Method::POST, "/v1/admin/shipping-options", Some(&both))
        .await;
    let neither = app
        .admin(Method::POST, "/v1/admin/shipping-options", Some(&neither))
        .await;

    // Assert
    for res in [both, neither] {
        assert_eq!(res.status.as_u16(), 422, "{:#}", res.body);
        assert_eq!(res.header("content-type"), Some("application/problem+json"));
    }
    let list = app
        .admin(Method::GET, "/v1/admin/shipping-options", None)
        .await;
    assert_eq!(list.assert_status(200)["items"], json!([]));
}

#[tokio::test]
async fn deleting_a_chosen_shipping_option_leaves_the_cart_without_shipping() {
    // Arrange
    let app = TestApp::spawn().await;
    shop(&app).await;
    let [dhl, _, _, _] = shipping_options(&app).await;
    let (cart, token) = app.create_cart("EUR").await;
    app.add_line(&cart, &token, "TEE-M", 1)
        .await
        .assert_status(201);
    app.set_address(&cart, &token, "DE").await;
    app.choose_shipping_option(&cart, &token, &dhl)
        .await
        .assert_status(200);

    // Act
    let deleted = app
        .admin(
            Method::DELETE,
            &format!("/v1/admin/shipping-options/{dhl}"),
            None,
        )
        .await;

    // Assert
    assert_eq!(deleted.status.as_u16(), 204, "{:#}", deleted.body);
    let body = app.cart_body(&cart, &token).await;
    assert_eq!(body["shipping_option"], Value::Null);
    assert_eq!(totals_minor(&body), [2500, 0, 0, 2500]);
}

#[tokio::test]
async fn staff_set_list_replace_and_delete_tax_rates() {
    // Arrange
    let app = TestApp::spawn().await;

    // Act
    let de = app.set_tax_rate("DE", "19").await;
    let us = app.set_tax_rate("us", "8.875").await;
    let list = app.admin(Method::GET, "/v1/admin/tax-rates", None).await;

    // Assert
    assert_eq!(
        de,
        json!({"country": "DE", "rate": "19", "updated_at": CLOCK_START_RFC3339})
    );
    assert_eq!(us["country"], "US");
    assert_eq!(us["rate"], "8.875");
    assert_eq!(list.assert_status(200)["next_cursor"], Value::Null);
    assert_eq!(sorted_items(&list.body, "country"), [de, us]);

    // Act: replace DE, delete US, delete US again.
    let replaced = app.set_tax_rate("DE", "7").await;
    let deleted = app
        .admin(Method::DELETE, "/v1/admin/tax-rates/US", None)
        .await;
    let again = app
        .admin(Method::DELETE, "/v1/admin/tax-rates/US", None)
        .await;

    // Assert
    assert_eq!(replaced["rate"], "7");
    assert_eq!(deleted.status.as_u16(), 204, "{:#}", deleted.body);
    assert_eq!(deleted.body, json!(""));
    again.assert_problem(404, "tax_rate_not_found");
    let list = app.admin(Method::GET, "/v1/admin/tax-rates", None).await;
    assert_eq!(
        list.assert_status(200),
        &json!({"items": [replaced], "next_cursor": null})
    );
}

#[tokio::test]
async fn a_tax_rate_that_is_not_a_percentage_with_at_most_4_decimals_is_refused() {
    // Arrange
    let app = TestApp::spawn().await;
    app.set_tax_rate("DE", "19").await;

    // Act
    let over_100 = app
        .admin(
            Method::PUT,
            "/v1/admin/tax-rates/DE",
            Some(&json!({"rate": "100.0001"})),
        )
        .await;
    let five_decimals = app
        .admin(
            Method::PUT,
            "/v1/admin/tax-rates/DE",
            Some(&json!({"rate": "7.12345"})),
        )
        .await;
    let at_limits = app
        .admin(
            Method::PUT,
            "/v1/admin/tax-rates/FR",
            Some(&json!({"rate": "99.9999"})),
        )
        .await;

    // Assert
    over_100.assert_invalid_field("/rate", &["invalid_rate", "validation_failed"]);
    five_decimals.assert_invalid_field("/rate", &["invalid_rate", "validation_failed"]);
    assert_eq!(at_limits.assert_status(200)["rate"], "99.9999");
    let list = app.admin(Method::GET, "/v1/admin/tax-rates", None).await;
    list.assert_status(200);
    let rates: Vec<(String, String)> = sorted_items(&list.body, "country")
        .iter()
        .map(|r| {
            (
                r["country"].as_str().unwrap_or_default().to_owned(),
                r["rate"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected = [("DE", "19"), ("FR", "99.9999")].map(|(c, r)| (c.to_owned(), r.to_owned()));
    assert_eq!(rates, expected);
}

#[tokio::test]
async fn a_cart_created_in_one_currency_shows_every_amount_in_it() {
    // Arrange
    let app = TestApp::spawn().await;
    shop(&app).await;
    let (cart, token) = app.create_cart("USD").await;

    // Act
    let res = app.add_line(&cart, &token, "TEE-M", 1).await;

    // Assert
    let body = res.assert_status(201);
    assert_eq!(body["currency"], "USD");
    assert_eq!(line_of(body, "TEE-M")["unit_price"], money(2700, "USD"));
    for total in ["subtotal", "shipping", "tax", "total"] {
        assert_eq!(body["totals"][total]["currency"], "USD", "{total}");
    }
}
