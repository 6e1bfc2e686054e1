//! Cart totals to the minor unit. Every expected number is worked out by hand in a comment
//! from the prices, quantities, weights, shipping rates and tax rates the test sets up, then
//! written as a literal: the test never asks the server's own arithmetic for its answer.
//!
//! The rule (docs/API.md): subtotal = Σ unit price × quantity over available lines; shipping =
//! the chosen option's price if it still applies; tax = (subtotal + shipping) × rate, rounded
//! once, half away from zero; total = subtotal + shipping + tax.

use serde_json::{json, Value};

use crate::helpers::{id_of, line_of, money, totals_minor, variant_of, TestApp};

/// Three products priced in USD and EUR:
/// TEE-M  USD 25.00 / EUR 23.00, 180 g;
/// MUG-1  USD 18.50 / EUR 16.90, 400 g;
/// POSTER USD 13.49 / EUR 11.97, 150 g.
async fn mixed_shop(app: &TestApp) {
    app.create_product(
        "tee",
        "Tee",
        &[("TEE-M", &[(2500, "USD"), (2300, "EUR")], 180)],
    )
    .await;
    app.create_product(
        "mug",
        "Mug",
        &[("MUG-1", &[(1850, "USD"), (1690, "EUR")], 400)],
    )
    .await;
    app.create_product(
        "poster",
        "Poster",
        &[("POSTER", &[(1349, "USD"), (1197, "EUR")], 150)],
    )
    .await;
}

/// A cart in `currency` holding 2 × TEE-M, 3 × MUG-1 and 1 × POSTER, shipping to `country`.
async fn mixed_cart(app: &TestApp, currency: &str, country: &str) -> (String, String) {
    let (cart, token) = app.create_cart(currency).await;
    for (sku, quantity) in [("TEE-M", 2), ("MUG-1", 3), ("POSTER", 1)] {
        app.add_line(&cart, &token, sku, quantity)
            .await
            .assert_status(201);
    }
    app.set_address(&cart, &token, country).await;
    (cart, token)
}

#[track_caller]
fn assert_line(cart: &Value, sku: &str, unit_minor: i64, total_minor: i64, currency: &str) {
    let line = line_of(cart, sku);
    assert_eq!(line["available"], true, "{line:#}");
    assert_eq!(line["unit_price"], money(unit_minor, currency), "{sku}");
    assert_eq!(line["line_total"], money(total_minor, currency), "{sku}");
}

#[tokio::test]
async fn a_mixed_usd_cart_totals_to_the_cent_with_tiered_or_flat_shipping_and_sales_tax() {
    // Arrange
    let app = TestApp::spawn().await;
    mixed_shop(&app).await;
    let ground = app
        .create_tiered_shipping_option(
            "USPS Ground",
            &["US"],
            "USD",
            &[(500, 599), (2000, 899), (10_000, 1499)],
        )
        .await;
    let air = app
        .create_flat_shipping_option("UPS 2nd Day Air", &["US"], "USD", 1999)
        .await;
    app.set_tax_rate("US", "8.875").await;
    let (cart, token) = mixed_cart(&app, "USD", "US").await;

    // Act
    let tiered = app.choose_shipping_option(&cart, &token, &ground).await;

    // Assert
    let body = tiered.assert_status(200);
    assert_line(body, "TEE-M", 2500, 5000, "USD"); // 2 × 25.00
    assert_line(body, "MUG-1", 1850, 5550, "USD"); // 3 × 18.50
    assert_line(body, "POSTER", 1349, 1349, "USD"); // 1 × 13.49
    assert_eq!(body["tax_rate"], "8.875");
    // subtotal = 5000 + 5550 + 1349 = 11899
    // weight   = 2 × 180 + 3 × 400 + 1 × 150 = 1710 g → tier ≤ 2000 g → 8.99
    // tax      = (11899 + 899) × 8.875 % = 12798 × 0.08875 = 1135.8225 → 1136
    // total    = 11899 + 899 + 1136 = 13934
    assert_eq!(totals_minor(body), [11_899, 899, 1136, 13_934]);
    assert_eq!(
        body["shipping_option"],
        json!({"id": ground, "name": "USPS Ground", "amount": money(899, "USD")})
    );

    // Act
    let flat = app.choose_shipping_option(&cart, &token, &air).await;

    // Assert
    // tax   = (11899 + 1999) × 8.875 % = 13898 × 0.08875 = 1233.4475 → 1233
    // total = 11899 + 1999 + 1233 = 15131
    assert_eq!(
        totals_minor(flat.assert_status(200)),
        [11_899, 1999, 1233, 15_131]
    );
    assert_eq!(app.cart_body(&cart, &token).await, flat.body);
}

#[tokio::test]
async fn a_mixed_eur_cart_totals_to_the_cent_with_flat_or_tiered_shipping_and_vat() {
    // Arrange
    let app = TestApp::spawn().await;
    mixed_shop(&app).await;
    let dhl = app
        .create_flat_shipping_option("DHL Paket", &["DE", "AT"], "EUR", 490)
        .await;
    let hermes = app
        .create_tiered_shipping_option(
            "Hermes",
            &["DE"],
            "EUR",
            &[(1000, 490), (5000, 690), (31_500, 1090)],
        )
        .await;
    app.set_tax_rate("DE", "19").await;
    app.set_tax_rate("US", "8.875").await;
    let (cart, token) = mixed_cart(&app, "EUR", "DE").await;

    // Act
    let flat = app.choose_shipping_option(&cart, &token, &dhl).await;

    // Assert
    let body = flat.assert_status(200);
    assert_line(body, "TEE-M", 2300, 4600, "EUR"); // 2 × 23.00
    assert_line(body, "MUG-1", 1690, 5070, "EUR"); // 3 × 16.90
    assert_line(body, "POSTER", 1197, 1197, "EUR"); // 1 × 11.97
    assert_eq!(body["tax_rate"], "19");
    // subtotal = 4600 + 5070 + 1197 = 10867
    // tax      = (10867 + 490) × 19 % = 11357 × 0.19 = 2157.83 → 2158
    // total    = 10867 + 490 + 2158 = 13515
    assert_eq!(totals_minor(body), [10_867, 490, 2158, 13_515]);

    // Act
    let tiered = app.choose_shipping_option(&cart, &token, &hermes).await;

    // Assert
    // weight = 2 × 180 + 3 × 400 + 1 × 150 = 1710 g → tier ≤ 5000 g → 6.90
    // tax    = (10867 + 690) × 19 % = 11557 × 0.19 = 2195.83 → 2196
    // total  = 10867 + 690 + 2196 = 13753
    let body = tiered.assert_status(200);
    assert_eq!(totals_minor(body), [10_867, 690, 2196, 13_753]);
    for total in ["subtotal", "shipping", "tax", "total"] {
        assert_eq!(body["totals"][total]["currency"], "EUR", "{total}");
    }
    assert_eq!(app.cart_body(&cart, &token).await, *body);
}

#[tokio::test]
async fn tax_of_exactly_half_a_cent_rounds_away_from_zero() {
    // Arrange
    let app = TestApp::spawn().await;
    app.create_product("half", "Half", &[("HALF", &[(1005, "EUR")], 100)])
        .await;
    app.create_product("below", "Below", &[("BELOW", &[(1004, "EUR")], 100)])
        .await;
    app.set_tax_rate("IT", "10").await;
    let (half, half_token) = app.create_cart("EUR").await;
    app.add_line(&half, &half_token, "HALF", 1)
        .await
        .assert_status(201);
    let (below, below_token) = app.create_cart("EUR").await;
    app.add_line(&below, &below_token, "BELOW", 1)
        .await
        .assert_status(201);

    // Act
    let half = app.set_address(&half, &half_token, "IT").await;
    let below = app.set_address(&below, &below_token, "IT").await;

    // Assert
    // 10.05 × 10 % = 1.005 → 1.01 (half away from zero); total 10.05 + 1.01 = 11.06
    assert_eq!(totals_minor(&half), [1005, 0, 101, 1106]);
    // 10.04 × 10 % = 1.004 → 1.00; total 10.04 + 1.00 = 11.04
    assert_eq!(totals_minor(&below), [1004, 0, 100, 1104]);
}

#[tokio::test]
async fn tax_is_rounded_once_on_the_whole_taxable_amount_not_per_line_or_on_shipping_alone() {
    // Arrange
    let app = TestApp::spawn().await;
    app.create_product(
        "pair",
        "Pair",
        &[
            ("LEFT", &[(503, "EUR")], 100),
            ("RIGHT", &[(502, "EUR")], 100),
            ("ODD", &[(904, "EUR")], 100),
        ],
    )
    .await;
    app.set_tax_rate("IT", "10").await;
    let courier = app
        .create_flat_shipping_option("Courier", &["IT"], "EUR", 101)
        .await;
    let (lines, lines_token) = app.create_cart("EUR").await;
    app.add_line(&lines, &lines_token, "LEFT", 1)
        .await
        .assert_status(201);
    app.add_line(&lines, &lines_token, "RIGHT", 1)
        .await
        .assert_status(201);
    let (shipped, shipped_token) = app.create_cart("EUR").await;
    app.add_line(&shipped, &shipped_token, "ODD", 1)
        .await
        .assert_status(201);
    app.set_address(&shipped, &shipped_token, "IT").await;

    // Act
    let lines = app.set_address(&lines, &lines_token, "IT").await;
    let shipped = app
        .choose_shipping_option(&shipped, &shipped_token, &courier)
        .await;

    // Assert
    // Once: (5.03 + 5.02) × 10 % = 1.005 → 1.01. Per line it would be 0.50 + 0.50 = 1.00.
    assert_eq!(totals_minor(&lines), [1005, 0, 101, 1106]);
    // Once: (9.04 + 1.01) × 10 % = 1.005 → 1.01. Apart it would be 0.90 + 0.10 = 1.00.
    assert_eq!(
        totals_minor(shipped.assert_status(200)),
        [904, 101, 101, 1106]
    );
}

#[tokio::test]
async fn a_price_change_in_the_catalog_shows_on_the_next_read() {
    // Arrange
    let app = TestApp::spawn().await;
    let tee = app
        .create_product("tee", "Tee", &[("TEE-M", &[(2500, "EUR")], 180)])
        .await;
    app.set_tax_rate("DE", "19").await;
    let (cart, token) = app.create_cart("EUR").await;
    app.add_line(&cart, &token, "TEE-M", 2)
        .await
        .assert_status(201);
    let before = app.set_address(&cart, &token, "DE").await;
    // 2 × 25.00 = 50.00; tax 50.00 × 19 % = 9.50; total 59.50
    assert_eq!(totals_minor(&before), [5000, 0, 950, 5950]);

    // Act
    app.set_price(&id_of(variant_of(&tee, "TEE-M")), "EUR", 2750)
        .await
        .assert_status(200);
    let after = app.cart_body(&cart, &token).await;

    // Assert
    assert_line(&after, "TEE-M", 2750, 5500, "EUR"); // 2 × 27.50
                                                     // tax 55.00 × 19 % = 10.45; total 55.00 + 10.45 = 65.45
    assert_eq!(totals_minor(&after), [5500, 0, 1045, 6545]);
}

/// A EUR cart shipping to DE (19 %) by Hermes (≤ 1000 g: 4.90, ≤ 5000 g: 6.90) with
/// 2 × TEE-M (25.00, 180 g) and 3 × MUG-1 (16.00, 400 g). Returns (cart, token, mug product).
async fn cart_with_a_mug(app: &TestApp) -> (String, String, Value) {
    app.create_product("tee", "Tee", &[("TEE-M", &[(2500, "EUR")], 180)])
        .await;
    let mug = app
        .create_product(
            "mug",
            "Mug",
            &[("MUG-1", &[(1600, "EUR"), (1800, "USD")], 400)],
        )
        .await;
    let hermes = app
        .create_tiered_shipping_option("Hermes", &["DE"], "EUR", &[(1000, 490), (5000, 690)])
        .await;
    app.set_tax_rate("DE", "19").await;
    let (cart, token) = app.create_cart("EUR").await;
    app.add_line(&cart, &token, "TEE-M", 2)
        .await
        .assert_status(201);
    app.add_line(&cart, &token, "MUG-1", 3)
        .await
        .assert_status(201);
    app.set_address(&cart, &token, "DE").await;
    let chosen = app.choose_shipping_option(&cart, &token, &hermes).await;
    // subtotal = 2 × 2500 + 3 × 1600 = 9800; weight = 360 + 1200 = 1560 g → 6.90
    // tax = (9800 + 690) × 19 % = 10490 × 0.19 = 1993.1 → 1993; total = 9800 + 690 + 1993 = 12483
    assert_eq!(
        totals_minor(chosen.assert_status(200)),
        [9800, 690, 1993, 12_483]
    );
    (cart, token, mug)
}

#[track_caller]
fn assert_unavailable(cart: &Value, sku: &str, quantity: i64) {
    let line = line_of(cart, sku);
    assert_eq!(line["available"], false, "{line:#}");
    assert_eq!(line["quantity"], quantity);
    assert_eq!(line["unit_price"], Value::Null);
    assert_eq!(line["line_total"], Value::Null);
}

#[tokio::test]
async fn an_archived_skus_line_stays_unavailable_and_leaves_the_totals_and_the_weight() {
    // Arrange
    let app = TestApp::spawn().await;
    let (cart, token, mug) = cart_with_a_mug(&app).await;

    // Act
    app.archive_product(&id_of(&mug)).await.assert_status(200);
    let after = app.cart_body(&cart, &token).await;

    // Assert
    assert_unavailable(&after, "MUG-1", 3);
    assert_line(&after, "TEE-M", 2500, 5000, "EUR");
    // subtotal = 2 × 2500 = 5000; weight = 2 × 180 = 360 g → 4.90
    // tax = (5000 + 490) × 19 % = 5490 × 0.19 = 1043.1 → 1043; total = 5000 + 490 + 1043 = 6533
    assert_eq!(totals_minor(&after), [5000, 490, 1043, 6533]);
    assert_eq!(after["shipping_option"]["amount"], money(490, "EUR"));
}

#[tokio::test]
async fn an_archived_variants_line_stays_unavailable_and_counts_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    let (cart, token, mug) = cart_with_a_mug(&app).await;

    // Act
    app.archive_variant(&id_of(variant_of(&mug, "MUG-1")))
        .await
        .assert_status(200);
    let after = app.cart_body(&cart, &token).await;

    // Assert: the same numbers as for an archived product.
    assert_unavailable(&after, "MUG-1", 3);
    assert_eq!(totals_minor(&after), [5000, 490, 1043, 6533]);
}

#[tokio::test]
async fn a_sku_that_loses_its_price_in_the_carts_currency_becomes_unavailable() {
    // Arrange
    let app = TestApp::spawn().await;
    let (cart, token, mug) = cart_with_a_mug(&app).await;

    // Act
    app.remove_price(&id_of(variant_of(&mug, "MUG-1")), "EUR")
        .await
        .assert_status(200);
    let after = app.cart_body(&cart, &token).await;

    // Assert: the mug is still priced in USD, which is not this cart's currency.
    assert_unavailable(&after, "MUG-1", 3);
    assert_eq!(totals_minor(&after), [5000, 490, 1043, 6533]);
}

#[tokio::test]
async fn a_chosen_tiered_option_stops_counting_when_the_cart_outgrows_its_last_tier() {
    // Arrange
    let app = TestApp::spawn().await;
    let (cart, token, _) = cart_with_a_mug(&app).await;

    // Act: 3 → 12 mugs; weight = 2 × 180 + 12 × 400 = 5160 g, past the 5000 g tier.
    let res = app.add_line(&cart, &token, "MUG-1", 9).await;

    // Assert
    let body = res.assert_status(201);
    assert_eq!(body["shipping_option"], Value::Null);
    // subtotal = 5000 + 12 × 1600 = 24200; no shipping
    // tax = 24200 × 19 % = 4598; total = 24200 + 4598 = 28798
    assert_eq!(totals_minor(body), [24_200, 0, 4598, 28_798]);
}

#[tokio::test]
async fn changing_the_address_country_drops_a_shipping_option_that_no_longer_applies() {
    // Arrange
    let app = TestApp::spawn().await;
    app.create_product("tee", "Tee", &[("TEE-M", &[(2500, "EUR")], 180)])
        .await;
    let dhl = app
        .create_flat_shipping_option("DHL Paket", &["DE"], "EUR", 490)
        .await;
    let europe = app
        .create_flat_shipping_option("Europe Flat", &["DE", "FR"], "EUR", 990)
        .await;
    app.set_tax_rate("DE", "19").await;
    app.set_tax_rate("FR", "20").await;
    let (cart, token) = app.create_cart("EUR").await;
    app.add_line(&cart, &token, "TEE-M", 1)
        .await
        .assert_status(201);
    app.set_address(&cart, &token, "DE").await;
    let chosen = app.choose_shipping_option(&cart, &token, &dhl).await;
    // tax = (2500 + 490) × 19 % = 568.1 → 568; total = 2500 + 490 + 568 = 3558
    assert_eq!(
        totals_minor(chosen.assert_status(200)),
        [2500, 490, 568, 3558]
    );

    // Act
    let moved = app.set_address(&cart, &token, "FR").await;

    // Assert
    assert_eq!(moved["shipping_option"], Value::Null);
    assert_eq!(moved["tax_rate"], "20");
    // tax = 2500 × 20 % = 500; total = 2500 + 500 = 3000
    assert_eq!(totals_minor(&moved), [2500, 0, 500, 3000]);
    assert_eq!(app.cart_body(&cart, &token).await, moved);
    let quotes = app.shipping_quotes(&cart, &token).await;
    assert_eq!(
        quotes.assert_status(200)["items"],
        json!([{"id": europe, "name": "Europe Flat", "amount": money(990, "EUR")}])
    );
}

#[tokio::test]
async fn changing_the_address_country_keeps_an_option_that_still_applies() {
    // Arrange
    let app = TestApp::spawn().await;
    app.create_product("tee", "Tee", &[("TEE-M", &[(2500, "EUR")], 180)])
        .await;
    let europe = app
        .create_flat_shipping_option("Europe Flat", &["DE", "FR"], "EUR", 990)
        .await;
    app.set_tax_rate("DE", "19").await;
    app.set_tax_rate("FR", "20").await;
    let (cart, token) = app.create_cart("EUR").await;
    app.add_line(&cart, &token, "TEE-M", 1)
        .await
        .assert_status(201);
    app.set_address(&cart, &token, "DE").await;
    app.choose_shipping_option(&cart, &token, &europe)
        .await
        .assert_status(200);

    // Act
    let moved = app.set_address(&cart, &token, "FR").await;

    // Assert
    assert_eq!(moved["shipping_option"]["id"], europe);
    // tax = (2500 + 990) × 20 % = 698; total = 2500 + 990 + 698 = 4188
    assert_eq!(totals_minor(&moved), [2500, 990, 698, 4188]);
}

#[tokio::test]
async fn an_address_in_a_country_without_a_tax_rate_is_not_taxed() {
    // Arrange
    let app = TestApp::spawn().await;
    app.create_product("tee", "Tee", &[("TEE-M", &[(2500, "EUR")], 180)])
        .await;
    app.set_tax_rate("DE", "19").await;
    let (cart, token) = app.create_cart("EUR").await;
    app.add_line(&cart, &token, "TEE-M", 1)
        .await
        .assert_status(201);

    // Act
    let body = app.set_address(&cart, &token, "CH").await;

    // Assert
    assert_eq!(body["tax_rate"], Value::Null);
    assert_eq!(totals_minor(&body), [2500, 0, 0, 2500]);
}
