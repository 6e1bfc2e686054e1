//! Catalog routes, public and staff: happy paths, filters, paging and the main refusals.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{
    fill_path, id_of, items_of, money, variant_body, variant_of, TestApp, CLOCK_START_RFC3339,
};

/// The handles of a list body's items, as a set.
fn handles(body: &Value) -> BTreeSet<String> {
    items_of(body)
        .iter()
        .filter_map(|p| p["handle"].as_str().map(str::to_owned))
        .collect()
}

fn set(handles: &[&str]) -> BTreeSet<String> {
    handles.iter().map(|h| (*h).to_owned()).collect()
}

#[tokio::test]
async fn creating_a_category_answers_201_and_the_public_list_shows_it() {
    // Arrange
    let app = TestApp::spawn().await;

    // Act
    let res = app
        .admin(
            Method::POST,
            "/v1/admin/categories",
            Some(&json!({"handle": "t-shirts", "name": "T-shirts"})),
        )
        .await;

    // Assert
    let category = res.assert_status(201).clone();
    let id = id_of(&category);
    assert!(id.starts_with("cat_"), "{id}");
    assert_eq!(
        category,
        json!({"id": id, "handle": "t-shirts", "name": "T-shirts"})
    );
    let list = app.get("/v1/categories").await;
    assert_eq!(
        list.assert_status(200),
        &json!({"items": [category], "next_cursor": null})
    );
}

#[tokio::test]
async fn creating_a_product_answers_201_with_the_documented_shape() {
    // Arrange
    let app = TestApp::spawn().await;
    let category = app.create_category("t-shirts", "T-shirts").await;

    // Act
    let res = app
        .admin(
            Method::POST,
            "/v1/admin/products",
            Some(&json!({
                "handle": "tee-aurora",
                "title": "Aurora T-shirt",
                "description": "Northern lights.",
                "category_ids": [category],
                "variants": [{
                    "sku": "tee-aurora-m",
                    "title": "Aurora T-shirt / M",
                    "options": [{"name": "size", "value": "M"}],
                    "weight_grams": 200,
                    "prices": [money(2700, "USD"), money(2500, "EUR")],
                }],
            })),
        )
        .await;

    // Assert
    let product = res.assert_status(201).clone();
    let id = id_of(&product);
    assert!(id.starts_with("prod_"), "{id}");
    let variant_id = id_of(&product["variants"][0]);
    assert!(variant_id.starts_with("var_"), "{variant_id}");
    assert_eq!(
        product,
        json!({
            "id": id,
            "handle": "tee-aurora",
            "title": "Aurora T-shirt",
            "description": "Northern lights.",
            "status": "active",
            "category_ids": [category],
            "variants": [{
                "id": variant_id,
                // SKUs are upper-cased; prices are ordered by currency code.
                "sku": "TEE-AURORA-M",
                "title": "Aurora T-shirt / M",
                "options": [{"name": "size", "value": "M"}],
                "weight_grams": 200,
                "prices": [money(2500, "EUR"), money(2700, "USD")],
                "status": "active",
            }],
            "created_at": CLOCK_START_RFC3339,
            "updated_at": CLOCK_START_RFC3339,
        })
    );
}

#[tokio::test]
async fn a_product_is_read_publicly_by_id_and_by_handle() {
    // Arrange
    let app = TestApp::spawn().await;
    let created = app
        .create_product(
            "mug-nimbus",
            "Nimbus Mug",
            &[("MUG-NIMBUS", &[(1600, "EUR")], 400)],
        )
        .await;
    let id = id_of(&created);

    // Act
    let by_id = app.get(&format!("/v1/products/{id}")).await;
    let by_handle = app.get("/v1/products/mug-nimbus").await;

    // Assert
    assert_eq!(by_id.assert_status(200), &created);
    assert_eq!(by_handle.assert_status(200), &created);
}

#[tokio::test]
async fn an_unknown_product_id_or_handle_is_product_not_found() {
    // Arrange
    let app = TestApp::spawn().await;
    let unknown_id = kassa_kernel::ids::ProductId::new().to_string();

    // Act
    let by_id = app.get(&format!("/v1/products/{unknown_id}")).await;
    let by_handle = app.get("/v1/products/no-such-mug").await;
    let staff = app
        .admin(
            Method::GET,
            &format!("/v1/admin/products/{unknown_id}"),
            None,
        )
        .await;

    // Assert
    by_id.assert_problem(404, "product_not_found");
    by_handle.assert_problem(404, "product_not_found");
    staff.assert_problem(404, "product_not_found");
}

#[tokio::test]
async fn a_duplicate_product_or_category_handle_is_refused_with_409_handle_taken() {
    // Arrange
    let app = TestApp::spawn().await;
    app.create_product("mug", "Mug", &[("MUG-1", &[(1000, "EUR")], 300)])
        .await;
    app.create_category("mugs", "Mugs").await;

    // Act
    let same_product_handle = app
        .admin(
            Method::POST,
            "/v1/admin/products",
            Some(&json!({"handle": "mug", "title": "Other", "variants": [variant_body("MUG-2", &[(1, "EUR")], 1)]})),
        )
        .await;
    let same_category_handle = app
        .admin(
            Method::POST,
            "/v1/admin/categories",
            Some(&json!({"handle": "mugs", "name": "More mugs"})),
        )
        .await;

    // Assert
    same_product_handle.assert_problem(409, "handle_taken");
    same_category_handle.assert_problem(409, "handle_taken");
    let products = app.all_products_admin().await;
    assert_eq!(products.len(), 1, "{products:#?}");
}

#[tokio::test]
async fn a_duplicate_sku_is_refused_with_409_sku_taken_on_create_and_on_add_variant() {
    // Arrange
    let app = TestApp::spawn().await;
    let first = app
        .create_product("mug", "Mug", &[("MUG-1", &[(1000, "EUR")], 300)])
        .await;
    let second = app
        .create_product("cup", "Cup", &[("CUP-1", &[(900, "EUR")], 200)])
        .await;

    // Act
    let on_create = app
        .admin(
            Method::POST,
            "/v1/admin/products",
            Some(&json!({"handle": "bowl", "title": "Bowl", "variants": [variant_body("mug-1", &[(1, "EUR")], 1)]})),
        )
        .await;
    let on_add = app
        .admin(
            Method::POST,
            &format!("/v1/admin/products/{}/variants", id_of(&second)),
            Some(&variant_body("MUG-1", &[(1, "EUR")], 1)),
        )
        .await;

    // Assert
    on_create.assert_problem(409, "sku_taken");
    on_add.assert_problem(409, "sku_taken");
    assert_eq!(app.admin_product(&id_of(&second)).await, second);
    assert_eq!(app.admin_product(&id_of(&first)).await, first);
    assert_eq!(app.all_products_admin().await.len(), 2);
}

#[tokio::test]
async fn an_invalid_handle_is_refused_with_422_invalid_handle() {
    // Arrange
    let app = TestApp::spawn().await;

    // Act
    let res = app
        .admin(
            Method::POST,
            "/v1/admin/products",
            Some(&json!({"handle": "Not A Handle", "title": "Mug", "variants": [variant_body("MUG-1", &[(1, "EUR")], 1)]})),
        )
        .await;

    // Assert
    res.assert_problem(422, "invalid_handle");
    assert!(app.all_products_admin().await.is_empty());
}

/// Three products for the filter tests: two tees in the `shirts` category, one mug outside it.
async fn three_products(app: &TestApp) -> String {
    let shirts = app.create_category("shirts", "Shirts").await;
    app.create_product_from(&json!({
        "handle": "alpha-tee", "title": "Alpha Tee", "category_ids": [shirts],
        "variants": [variant_body("ALPHA-M", &[(1000, "EUR"), (1200, "USD")], 200)],
    }))
    .await;
    app.create_product_from(&json!({
        "handle": "beta-mug", "title": "Beta Mug",
        "variants": [variant_body("BETA-1", &[(2000, "EUR")], 400)],
    }))
    .await;
    app.create_product_from(&json!({
        "handle": "gamma-tee", "title": "Gamma TEE Special", "category_ids": [shirts],
        "variants": [
            variant_body("GAMMA-S", &[(3000, "EUR")], 200),
            variant_body("GAMMA-L", &[(3500, "EUR"), (500, "USD")], 220),
        ],
    }))
    .await;
    shirts
}

#[tokio::test]
async fn the_public_list_filters_by_category() {
    // Arrange
    let app = TestApp::spawn().await;
    let shirts = three_products(&app).await;

    // Act
    let all = app.get("/v1/products").await;
    let in_shirts = app.get(&format!("/v1/products?category={shirts}")).await;

    // Assert
    assert_eq!(
        handles(all.assert_status(200)),
        set(&["alpha-tee", "beta-mug", "gamma-tee"])
    );
    assert_eq!(all.body["next_cursor"], Value::Null);
    assert_eq!(
        handles(in_shirts.assert_status(200)),
        set(&["alpha-tee", "gamma-tee"])
    );
}

#[tokio::test]
async fn the_public_list_filters_by_case_insensitive_title_text() {
    // Arrange
    let app = TestApp::spawn().await;
    three_products(&app).await;

    // Act
    let tee = app.get("/v1/products?q=tee").await;
    let mug = app.get("/v1/products?q=MUG").await;
    let special = app.get("/v1/products?q=a%20tee%20sp").await;
    let none = app.get("/v1/products?q=hoodie").await;

    // Assert
    assert_eq!(
        handles(tee.assert_status(200)),
        set(&["alpha-tee", "gamma-tee"])
    );
    assert_eq!(handles(mug.assert_status(200)), set(&["beta-mug"]));
    assert_eq!(handles(special.assert_status(200)), set(&["gamma-tee"]));
    assert_eq!(handles(none.assert_status(200)), set(&[]));
}

#[tokio::test]
async fn the_public_list_filters_by_an_inclusive_price_range_in_one_currency() {
    // Arrange
    let app = TestApp::spawn().await;
    three_products(&app).await;

    // Act
    let eur_mid = app
        .get("/v1/products?currency=EUR&price_min=1500&price_max=3000")
        .await;
    let usd_cheap = app.get("/v1/products?currency=USD&price_max=1200").await;
    let usd_dear = app.get("/v1/products?currency=USD&price_min=1000").await;
    let usd_any = app.get("/v1/products?currency=USD").await;
    let eur_none = app
        .get("/v1/products?currency=EUR&price_min=3001&price_max=3499")
        .await;

    // Assert: bounds are inclusive (3000, 1200), one matching variant is enough (gamma's L).
    assert_eq!(
        handles(eur_mid.assert_status(200)),
        set(&["beta-mug", "gamma-tee"])
    );
    assert_eq!(
        handles(usd_cheap.assert_status(200)),
        set(&["alpha-tee", "gamma-tee"])
    );
    assert_eq!(handles(usd_dear.assert_status(200)), set(&["alpha-tee"]));
    assert_eq!(
        handles(usd_any.assert_status(200)),
        set(&["alpha-tee", "gamma-tee"])
    );
    assert_eq!(handles(eur_none.assert_status(200)), set(&[]));
}

#[tokio::test]
async fn a_price_bound_without_a_currency_is_refused_with_422() {
    // Arrange
    let app = TestApp::spawn().await;

    // Act
    let min_only = app.get("/v1/products?price_min=100").await;
    let max_only = app.get("/v1/products?price_max=100").await;

    // Assert
    for res in [min_only, max_only] {
        assert_eq!(res.status.as_u16(), 422, "{:#}", res.body);
        assert_eq!(res.header("content-type"), Some("application/problem+json"));
    }
}

#[tokio::test]
async fn cursor_paging_visits_every_product_once_without_gaps() {
    // Arrange
    let app = TestApp::spawn().await;
    let mut created = BTreeSet::new();
    for i in 0..7 {
        let handle = format!("product-{i}");
        app.create_product(
            &handle,
            &format!("Product {i}"),
            &[(&format!("SKU-{i}"), &[(100 + i, "EUR")], 10)],
        )
        .await;
        created.insert(handle);
    }

    // Act
    let mut seen = Vec::new();
    let mut path = "/v1/products?limit=3".to_owned();
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 10, "paging does not end");
        let res = app.get(&path).await;
        let body = res.assert_status(200);
        assert!(items_of(body).len() <= 3, "{body:#}");
        seen.extend(
            items_of(body)
                .iter()
                .map(|p| p["handle"].as_str().expect("handle").to_owned()),
        );
        match body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/products?limit=3&cursor={cursor}"),
            None => break,
        }
    }

    // Assert
    assert_eq!(seen.len(), 7, "duplicates or gaps: {seen:?}");
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), created);
    assert!(pages >= 3, "7 products in pages of 3 came in {pages} pages");
}

#[tokio::test]
async fn a_limit_above_the_maximum_is_refused_and_the_maximum_itself_is_accepted() {
    // Arrange
    let app = TestApp::spawn().await;

    // Act
    let at_max = app.get("/v1/products?limit=100").await;
    let past_max = app.get("/v1/products?limit=101").await;
    let zero = app.get("/v1/products?limit=0").await;
    let staff_past_max = app
        .admin(Method::GET, "/v1/admin/products?limit=101", None)
        .await;

    // Assert
    at_max.assert_status(200);
    past_max.assert_problem(422, "validation_failed");
    assert_eq!(past_max.pointers(), ["/limit"]);
    zero.assert_problem(422, "validation_failed");
    staff_past_max.assert_problem(422, "validation_failed");
}

#[tokio::test]
async fn patching_a_product_changes_only_the_given_fields() {
    // Arrange
    let app = TestApp::spawn().await;
    let category = app.create_category("mugs", "Mugs").await;
    let product = app
        .create_product("mug", "Mug", &[("MUG-1", &[(1000, "EUR")], 300)])
        .await;
    let id = id_of(&product);
    app.clock.advance(Duration::from_secs(60));

    // Act
    let res = app
        .admin(
            Method::PATCH,
            &format!("/v1/admin/products/{id}"),
            Some(&json!({"title": "Stoneware Mug", "handle": "stoneware-mug", "category_ids": [category]})),
        )
        .await;

    // Assert
    let patched = res.assert_status(200).clone();
    let mut expected = product.clone();
    expected["title"] = json!("Stoneware Mug");
    expected["handle"] = json!("stoneware-mug");
    expected["category_ids"] = json!([category]);
    expected["updated_at"] = json!("2026-11-18T11:07:40.000Z");
    assert_eq!(patched, expected);
    assert_eq!(
        app.get("/v1/products/stoneware-mug")
            .await
            .assert_status(200),
        &patched
    );
    app.get("/v1/products/mug")
        .await
        .assert_problem(404, "product_not_found");
}

#[tokio::test]
async fn patching_a_product_to_another_products_handle_is_refused_and_changes_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    app.create_product("mug", "Mug", &[("MUG-1", &[(1000, "EUR")], 300)])
        .await;
    let cup = app
        .create_product("cup", "Cup", &[("CUP-1", &[(900, "EUR")], 200)])
        .await;

    // Act
    let res = app
        .admin(
            Method::PATCH,
            &format!("/v1/admin/products/{}", id_of(&cup)),
            Some(&json!({"handle": "mug", "title": "Renamed"})),
        )
        .await;

    // Assert
    res.assert_problem(409, "handle_taken");
    assert_eq!(app.admin_product(&id_of(&cup)).await, cup);
}

#[tokio::test]
async fn an_archived_product_is_hidden_from_shoppers_but_not_from_staff() {
    // Arrange
    let app = TestApp::spawn().await;
    let product = app
        .create_product("mug", "Mug", &[("MUG-1", &[(1000, "EUR")], 300)])
        .await;
    app.create_product("cup", "Cup", &[("CUP-1", &[(900, "EUR")], 200)])
        .await;
    let id = id_of(&product);

    // Act
    let archived = app.archive_product(&id).await;
    let again = app.archive_product(&id).await;

    // Assert
    assert_eq!(archived.assert_status(200)["status"], "archived");
    assert_eq!(again.assert_status(200), &archived.body);
    app.get(&format!("/v1/products/{id}"))
        .await
        .assert_problem(404, "product_not_found");
    app.get("/v1/products/mug")
        .await
        .assert_problem(404, "product_not_found");
    let staff = app.admin_product(&id).await;
    assert_eq!(staff["status"], "archived");
    assert_eq!(staff["variants"], product["variants"]);
    assert_eq!(
        handles(app.get("/v1/products").await.assert_status(200)),
        set(&["cup"])
    );
    assert_eq!(
        handles(
            app.admin(Method::GET, "/v1/admin/products", None)
                .await
                .assert_status(200)
        ),
        set(&["cup", "mug"])
    );
}

#[tokio::test]
async fn patching_the_status_back_to_active_restores_an_archived_product() {
    // Arrange
    let app = TestApp::spawn().await;
    let product = app
        .create_product("mug", "Mug", &[("MUG-1", &[(1000, "EUR")], 300)])
        .await;
    let id = id_of(&product);
    app.archive_product(&id).await.assert_status(200);

    // Act
    let res = app
        .admin(
            Method::PATCH,
            &format!("/v1/admin/products/{id}"),
            Some(&json!({"status": "active"})),
        )
        .await;

    // Assert
    assert_eq!(res.assert_status(200)["status"], "active");
    assert_eq!(
        app.get("/v1/products/mug").await.assert_status(200)["id"],
        id
    );
}

#[tokio::test]
async fn adding_a_variant_answers_201_with_the_product_and_refuses_an_archived_product() {
    // Arrange
    let app = TestApp::spawn().await;
    let product = app
        .create_product("tee", "Tee", &[("TEE-M", &[(2500, "EUR")], 180)])
        .await;
    let archived = app
        .create_product("old-tee", "Old tee", &[("OLD-M", &[(2500, "EUR")], 180)])
        .await;
    app.archive_product(&id_of(&archived))
        .await
        .assert_status(200);

    // Act
    let res = app
        .admin(
            Method::POST,
            &format!("/v1/admin/products/{}/variants", id_of(&product)),
            Some(&variant_body("tee-l", &[(2700, "EUR"), (2900, "USD")], 200)),
        )
        .await;
    let on_archived = app
        .admin(
            Method::POST,
            &format!("/v1/admin/products/{}/variants", id_of(&archived)),
            Some(&variant_body("OLD-L", &[(2700, "EUR")], 200)),
        )
        .await;

    // Assert
    let body = res.assert_status(201);
    assert_eq!(body["variants"].as_array().map(Vec::len), Some(2));
    let added = variant_of(body, "TEE-L");
    assert!(id_of(added).starts_with("var_"));
    assert_eq!(
        added["prices"],
        json!([money(2700, "EUR"), money(2900, "USD")])
    );
    assert_eq!(added["weight_grams"], 200);
    assert_eq!(added["status"], "active");
    on_archived.assert_problem(409, "product_archived");
    assert_eq!(
        app.get(&format!("/v1/products/{}", id_of(&product)))
            .await
            .assert_status(200),
        body
    );
}

#[tokio::test]
async fn patching_a_variant_changes_its_title_options_and_weight() {
    // Arrange
    let app = TestApp::spawn().await;
    let product = app
        .create_product("tee", "Tee", &[("TEE-M", &[(2500, "EUR")], 180)])
        .await;
    let variant = id_of(variant_of(&product, "TEE-M"));

    // Act
    let res = app
        .admin(
            Method::PATCH,
            &format!("/v1/admin/variants/{variant}"),
            Some(&json!({
                "title": "Tee / Medium",
                "options": [{"name": "size", "value": "Medium"}, {"name": "colour", "value": "Red"}],
                "weight_grams": 190,
            })),
        )
        .await;

    // Assert
    let body = res.assert_status(200);
    let patched = variant_of(body, "TEE-M");
    assert_eq!(patched["title"], "Tee / Medium");
    assert_eq!(
        patched["options"],
        json!([{"name": "size", "value": "Medium"}, {"name": "colour", "value": "Red"}])
    );
    assert_eq!(patched["weight_grams"], 190);
    assert_eq!(patched["prices"], json!([money(2500, "EUR")]));
    assert_eq!(app.admin_product(&id_of(&product)).await, *body);
}

#[tokio::test]
async fn an_unknown_variant_is_variant_not_found() {
    // Arrange
    let app = TestApp::spawn().await;
    let unknown = kassa_kernel::ids::VariantId::new().to_string();

    // Act
    let patch = app
        .admin(
            Method::PATCH,
            &format!("/v1/admin/variants/{unknown}"),
            Some(&json!({"weight_grams": 10})),
        )
        .await;
    let archive = app.archive_variant(&unknown).await;
    let price = app.set_price(&unknown, "EUR", 100).await;

    // Assert
    patch.assert_problem(404, "variant_not_found");
    archive.assert_problem(404, "variant_not_found");
    price.assert_problem(404, "variant_not_found");
}

#[tokio::test]
async fn an_archived_variant_is_left_out_of_public_reads_and_kept_for_staff() {
    // Arrange
    let app = TestApp::spawn().await;
    let product = app
        .create_product(
            "tee",
            "Tee",
            &[
                ("TEE-M", &[(2500, "EUR")], 180),
                ("TEE-L", &[(2700, "EUR")], 200),
            ],
        )
        .await;
    let id = id_of(&product);
    let large = id_of(variant_of(&product, "TEE-L"));

    // Act
    let res = app.archive_variant(&large).await;
    let again = app.archive_variant(&large).await;

    // Assert
    assert_eq!(
        variant_of(res.assert_status(200), "TEE-L")["status"],
        "archived"
    );
    assert_eq!(again.assert_status(200), &res.body);
    let public = app.get(&format!("/v1/products/{id}")).await;
    let skus: Vec<&str> = public.assert_status(200)["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .filter_map(|v| v["sku"].as_str())
        .collect();
    assert_eq!(skus, ["TEE-M"]);
    let staff = app.admin_product(&id).await;
    assert_eq!(variant_of(&staff, "TEE-L")["status"], "archived");
    assert_eq!(variant_of(&staff, "TEE-M")["status"], "active");
}

#[tokio::test]
async fn a_price_is_set_replaced_and_removed_per_currency() {
    // Arrange
    let app = TestApp::spawn().await;
    let product = app
        .create_product(
            "tee",
            "Tee",
            &[("TEE-M", &[(2500, "EUR"), (2700, "USD")], 180)],
        )
        .await;
    let variant = id_of(variant_of(&product, "TEE-M"));

    // Act
    let added = app.set_price(&variant, "GBP", 2200).await;
    let replaced = app.set_price(&variant, "USD", 2900).await;
    let removed = app.remove_price(&variant, "EUR").await;

    // Assert
    assert_eq!(
        variant_of(added.assert_status(200), "TEE-M")["prices"],
        json!([money(2500, "EUR"), money(2200, "GBP"), money(2700, "USD")])
    );
    assert_eq!(
        variant_of(replaced.assert_status(200), "TEE-M")["prices"],
        json!([money(2500, "EUR"), money(2200, "GBP"), money(2900, "USD")])
    );
    assert_eq!(
        variant_of(removed.assert_status(200), "TEE-M")["prices"],
        json!([money(2200, "GBP"), money(2900, "USD")])
    );
    let public = app.get("/v1/products/tee").await;
    assert_eq!(
        variant_of(public.assert_status(200), "TEE-M")["prices"],
        json!([money(2200, "GBP"), money(2900, "USD")])
    );
}

#[tokio::test]
async fn a_price_outside_one_to_a_trillion_minor_units_is_refused_and_changes_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    let product = app
        .create_product("tee", "Tee", &[("TEE-M", &[(2500, "EUR")], 180)])
        .await;
    let variant = id_of(variant_of(&product, "TEE-M"));

    // Act
    let zero = app.set_price(&variant, "EUR", 0).await;
    let too_large = app.set_price(&variant, "EUR", 1_000_000_000_001).await;
    let largest = app.set_price(&variant, "USD", 1_000_000_000_000).await;

    // Assert
    for res in [zero, too_large] {
        assert_eq!(res.status.as_u16(), 422, "{:#}", res.body);
        assert_eq!(res.header("content-type"), Some("application/problem+json"));
    }
    assert_eq!(
        variant_of(largest.assert_status(200), "TEE-M")["prices"],
        json!([money(2500, "EUR"), money(1_000_000_000_000, "USD")])
    );
}

#[tokio::test]
async fn every_staff_route_refuses_a_missing_or_wrong_bearer_token_with_401() {
    // Arrange
    let app = TestApp::spawn().await;
    let staff_routes: Vec<_> = app
        .route_table
        .entries()
        .iter()
        .filter(|(method, path)| {
            // Signing in is how a staff member gets a token: it needs none.
            path.starts_with("/v1/admin/")
                && (method.as_str(), path.as_str()) != ("POST", "/v1/admin/sessions")
        })
        .cloned()
        .collect();
    assert!(staff_routes.len() >= 17, "{staff_routes:?}");
    let body = json!({"handle": "mug", "name": "Mugs", "title": "Mug", "variants": []});
    let owner = app.owner_token().await;

    for (method, template) in &staff_routes {
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        let path = fill_path(template);
        let body = (method != Method::GET && method != Method::DELETE).then_some(&body);
        // No header is `unauthorized`; a wrong token, and a right one without its scheme, are
        // `invalid_token`.
        let cases = [
            (None, "unauthorized"),
            (Some("Bearer wrong-token".to_owned()), "invalid_token"),
            (Some(owner.clone()), "invalid_token"),
        ];
        for (auth, code) in &cases {
            // Act
            // A new key, which the routes that move money or stock require before anything
            // else, so that what is checked here is the token.
            let key = format!("staff-401-{method}-{path}-{code}-{}", auth.is_some());
            let headers: Vec<(&str, &str)> = auth
                .as_deref()
                .map(|a| ("authorization", a))
                .into_iter()
                .chain([("idempotency-key", key.as_str())])
                .collect();
            let res = app.send(method.clone(), &path, body, &headers).await;

            // Assert
            let problem = res.assert_problem(401, code);
            assert_eq!(
                res.header("www-authenticate"),
                Some("Bearer"),
                "{method} {path}"
            );
            assert!(problem["detail"].is_string());
        }
    }
    assert!(app.all_products_admin().await.is_empty());
    assert_eq!(
        app.get("/v1/categories").await.assert_status(200)["items"],
        json!([])
    );
}

#[tokio::test]
async fn the_staff_list_takes_the_public_filters_and_includes_archived_products() {
    // Arrange
    let app = TestApp::spawn().await;
    let shirts = three_products(&app).await;
    let gamma = app
        .admin(Method::GET, "/v1/admin/products?q=gamma", None)
        .await;
    app.archive_product(&id_of(&items_of(gamma.assert_status(200))[0]))
        .await
        .assert_status(200);

    // Act
    let by_category = app
        .admin(
            Method::GET,
            &format!("/v1/admin/products?category={shirts}"),
            None,
        )
        .await;
    let by_text = app
        .admin(Method::GET, "/v1/admin/products?q=TEE", None)
        .await;
    let by_price = app
        .admin(
            Method::GET,
            "/v1/admin/products?currency=USD&price_max=500",
            None,
        )
        .await;
    let public = app.get(&format!("/v1/products?category={shirts}")).await;

    // Assert
    assert_eq!(
        handles(by_category.assert_status(200)),
        set(&["alpha-tee", "gamma-tee"])
    );
    assert_eq!(
        handles(by_text.assert_status(200)),
        set(&["alpha-tee", "gamma-tee"])
    );
    assert_eq!(handles(by_price.assert_status(200)), set(&["gamma-tee"]));
    assert_eq!(handles(public.assert_status(200)), set(&["alpha-tee"]));
}

#[tokio::test]
async fn catalog_changes_are_listed_as_catalog_events() {
    // Arrange
    let app = TestApp::spawn().await;
    let category = app.create_category("mugs", "Mugs").await;
    let product = app
        .admin(
            Method::POST,
            "/v1/admin/products",
            Some(&json!({
                "handle": "mug-blue",
                "title": "Blue mug",
                "variants": [variant_body("MUG-BLUE", &[(1200, "USD")], 300)],
            })),
        )
        .await
        .assert_status(201)
        .clone();
    let product_id = id_of(&product);

    // Act
    let res = app
        .admin(Method::GET, "/v1/admin/events?source=catalog", None)
        .await;

    // Assert
    let page = res.assert_status(200);
    let items = items_of(page);
    let seen: Vec<(&str, &str)> = items
        .iter()
        .map(|event| {
            (
                event["type"].as_str().unwrap_or_default(),
                event["aggregate_id"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("catalog.category_created", category.as_str()),
            ("catalog.product_created", product_id.as_str()),
        ]
    );
    assert_eq!(items[1]["data"]["handle"], "mug-blue");
    assert_eq!(page["next_cursor"], Value::Null);
}
