//! Checkouts and refunds racing each other on the live server (DESIGN promises 1–3): buyers
//! outnumbering the stock never oversell it, multi-line carts are all or nothing, a double
//! submit makes one order and one authorization, and refunds arriving together never exceed
//! what was captured.
//!
//! The requests of a race are prepared first and released together (a barrier), over the app's
//! one reqwest client, on a two-worker runtime. These tests take [`HEAVY`] so that two of them
//! never load the machine at once.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Instant;

use kassa_payments::Operation;
use serde_json::{json, Value};

use crate::checkout_helpers::{
    admin_order, admin_order_action, all_admin_orders, assert_in_progress, checkout, checkout_with,
    confirmed_order, fire_at_once, is_replay, minor, new_key, open_shop, ready_cart, ready_carts,
    refund_with, sandbox, stock, text, total_of, Stock, HEAVY, PM_SUCCESS,
};
use crate::helpers::{money, TestApp, TestResponse};

/// An app sized for a race: pools big enough that a request waits for the database rather
/// than failing to get a connection, and a request timeout no queue reaches.
async fn race_app(configure: impl FnOnce(&mut kassa_server::Settings)) -> Arc<TestApp> {
    let app = TestApp::spawn_with(|settings| {
        settings.database.max_connections = 6;
        settings.database.acquire_timeout_ms = 60_000;
        settings.http.request_timeout_ms = 120_000;
        configure(settings);
    })
    .await;
    Arc::new(app)
}

/// Fires one checkout per cart, all at once, each with its own key.
async fn checkout_all(
    app: &Arc<TestApp>,
    carts: &[crate::checkout_helpers::Cart],
) -> Vec<TestResponse> {
    let carts: Arc<Vec<_>> = Arc::new(carts.to_vec());
    fire_at_once(app, carts.len(), move |app, i| {
        let carts = carts.clone();
        async move { checkout(&app, &carts[i], PM_SUCCESS).await }
    })
    .await
}

/// Units per SKU over these orders.
fn units(orders: &[Value]) -> BTreeMap<String, i64> {
    let mut units = BTreeMap::new();
    for order in orders {
        for line in order["lines"].as_array().expect("order lines") {
            *units.entry(text(line, "sku")).or_insert(0) +=
                line["quantity"].as_i64().expect("a quantity");
        }
    }
    units
}

/// The orders checkout can leave behind once every request answered: none still open.
fn assert_no_open_orders(orders: &[Value]) {
    for order in orders {
        let status = order["status"].as_str().unwrap_or_default();
        assert!(
            !matches!(status, "pending" | "awaiting_payment"),
            "an order left open after its checkout answered: {order:#}"
        );
    }
}

// ---- no oversell ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_forty_buyers_racing_for_fifty_units_make_exactly_fifty_orders() {
    let _heavy = HEAVY.lock().await;
    // Arrange
    const BUYERS: usize = 240;
    const UNITS: u32 = 50;
    let app = race_app(|_| {}).await;
    let shop = open_shop(&app, &[("HOT-1", 1999, UNITS)]).await;
    let specs = vec![vec![("HOT-1".to_owned(), 1)]; BUYERS];
    let prepared = Instant::now();
    let carts = ready_carts(&app, &shop, &specs, 8).await;
    eprintln!("prepared {BUYERS} carts in {:?}", prepared.elapsed());

    // Act
    let started = Instant::now();
    let answers = checkout_all(&app, &carts).await;
    eprintln!("{BUYERS} checkouts answered in {:?}", started.elapsed());

    // Assert: exactly the stock sold, every other buyer told why
    let mut confirmed = Vec::new();
    for res in &answers {
        if res.status.as_u16() == 201 {
            confirmed.push(confirmed_order(res));
        } else {
            let problem = res.assert_problem(409, "insufficient_stock");
            assert_eq!(
                problem["skus"],
                json!([{"sku": "HOT-1", "requested": 1, "available": 0}]),
                "{problem:#}"
            );
        }
    }
    assert_eq!(confirmed.len(), UNITS as usize, "orders confirmed");
    let ids: HashSet<String> = confirmed.iter().map(|o| text(o, "id")).collect();
    assert_eq!(ids.len(), confirmed.len(), "two answers named one order");
    assert_eq!(stock(&app, "HOT-1").await, Stock::new(0, 0));
    // The orders staff see agree with the answers.
    let listed = all_admin_orders(&app, "status=confirmed").await;
    let listed_ids: HashSet<String> = listed.iter().map(|o| text(o, "id")).collect();
    assert_eq!(listed_ids, ids);
    assert_eq!(units(&listed).get("HOT-1"), Some(&i64::from(UNITS)));
    assert_no_open_orders(&all_admin_orders(&app, "").await);
    // One authorization per confirmed order, none for the refused.
    let gateway = sandbox(&app);
    for id in &ids {
        assert_eq!(gateway.authorizations_for(id), 1, "{id}");
    }
    assert_eq!(gateway.calls(Operation::Authorize), UNITS as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_carts_of_two_skus_are_all_or_nothing_and_never_sell_more_than_stocked() {
    let _heavy = HEAVY.lock().await;
    // Arrange: 30 of each, 240 carts asking for 240 of each
    const BUYERS: usize = 240;
    const UNITS: i64 = 30;
    let app = race_app(|_| {}).await;
    let shop = open_shop(&app, &[("SKU-A", 1200, 30), ("SKU-B", 800, 30)]).await;
    let patterns: [&[(&str, i64)]; 4] = [
        &[("SKU-A", 1), ("SKU-B", 1)],
        &[("SKU-A", 2)],
        &[("SKU-B", 1)],
        &[("SKU-A", 1), ("SKU-B", 2)],
    ];
    let specs: Vec<Vec<(String, i64)>> = (0..BUYERS)
        .map(|i| {
            patterns[i % patterns.len()]
                .iter()
                .map(|(sku, q)| ((*sku).to_owned(), *q))
                .collect()
        })
        .collect();
    let carts = ready_carts(&app, &shop, &specs, 8).await;

    // Act
    let started = Instant::now();
    let answers = checkout_all(&app, &carts).await;
    eprintln!(
        "{BUYERS} mixed checkouts answered in {:?}",
        started.elapsed()
    );

    // Assert: every answer is a whole order or a whole refusal
    let mut confirmed = Vec::new();
    let mut refused: Vec<(usize, Value)> = Vec::new();
    for (i, res) in answers.iter().enumerate() {
        if res.status.as_u16() == 201 {
            let order = confirmed_order(res);
            let mut asked: Vec<(String, i64)> = specs[i].clone();
            asked.sort();
            let mut got = crate::checkout_helpers::order_units(&order);
            got.sort();
            assert_eq!(got, asked, "an order is not its cart: {order:#}");
            confirmed.push(order);
        } else {
            let problem = res.assert_problem(409, "insufficient_stock").clone();
            let short = problem["skus"].as_array().expect("the short SKUs");
            assert!(!short.is_empty(), "{problem:#}");
            for entry in short {
                let sku = text(entry, "sku");
                let requested = entry["requested"].as_i64().expect("requested");
                let available = entry["available"].as_i64().expect("available");
                let in_cart = specs[i].iter().find(|(s, _)| *s == sku);
                assert_eq!(in_cart.map(|(_, q)| *q), Some(requested), "{problem:#}");
                assert!(
                    available < requested,
                    "refused with enough stock: {problem:#}"
                );
            }
            refused.push((i, problem));
        }
    }
    let sold = units(&confirmed);
    let sold_a = sold.get("SKU-A").copied().unwrap_or(0);
    let sold_b = sold.get("SKU-B").copied().unwrap_or(0);
    assert!(sold_a <= UNITS && sold_b <= UNITS, "oversold: {sold:?}");
    let (a, b) = (stock(&app, "SKU-A").await, stock(&app, "SKU-B").await);
    assert_eq!(
        a,
        Stock::new(UNITS - sold_a, 0),
        "SKU-A after selling {sold_a}"
    );
    assert_eq!(
        b,
        Stock::new(UNITS - sold_b, 0),
        "SKU-B after selling {sold_b}"
    );
    // Stock only went down, so a cart refused then is still short now: no false refusals.
    let available: BTreeMap<&str, i64> = [("SKU-A", a.available), ("SKU-B", b.available)].into();
    for (i, problem) in &refused {
        assert!(
            specs[*i]
                .iter()
                .any(|(sku, q)| available[sku.as_str()] < *q),
            "cart {i} {:?} was refused but its stock is there: {available:?} {problem:#}",
            specs[*i]
        );
    }
    let listed = all_admin_orders(&app, "status=confirmed").await;
    assert_eq!(listed.len(), confirmed.len());
    assert_eq!(
        units(&listed),
        sold,
        "staff's orders account for the stock removed"
    );
    assert_no_open_orders(&all_admin_orders(&app, "").await);
    eprintln!(
        "sold {sold:?}, {} orders, {} refused",
        confirmed.len(),
        refused.len()
    );
}

// ---- double submit ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_identical_submits_with_one_key_make_one_order_and_one_authorization() {
    let _heavy = HEAVY.lock().await;
    // Arrange: a gateway slow enough that the submits overlap the first
    let app = race_app(|settings| settings.payments.sandbox_latency_ms = 200).await;
    let shop = open_shop(&app, &[("TEE-M", 2500, 10)]).await;
    let cart = ready_cart(&app, &shop, &[("TEE-M", 2)]).await;
    let key = new_key();

    // Act
    let answers = {
        let (cart, key) = (cart.clone(), key.clone());
        fire_at_once(&app, 20, move |app, _| {
            let (cart, key) = (cart.clone(), key.clone());
            async move { checkout_with(&app, &cart, PM_SUCCESS, Some(&key)).await }
        })
        .await
    };

    // Assert: one original 201; the rest replays of it or "in progress"
    let originals: Vec<&TestResponse> = answers
        .iter()
        .filter(|r| r.status.as_u16() == 201 && !is_replay(r))
        .collect();
    assert_eq!(originals.len(), 1, "original answers: {originals:#?}");
    let original = originals[0];
    let order = confirmed_order(original);
    let order_id = text(&order, "id");
    for res in &answers {
        if res.status.as_u16() == 201 {
            assert_eq!(
                res.body, original.body,
                "a replay differs from the original"
            );
        } else {
            assert_in_progress(res);
        }
    }
    assert_eq!(all_admin_orders(&app, "").await.len(), 1, "one order");
    assert_eq!(sandbox(&app).authorizations_for(&order_id), 1);
    assert_eq!(stock(&app, "TEE-M").await, Stock::new(8, 0));

    // Act: a retry once everything answered
    let retry = checkout_with(&app, &cart, PM_SUCCESS, Some(&key)).await;

    // Assert
    assert_eq!(retry.status.as_u16(), 201, "{:#}", retry.body);
    assert!(is_replay(&retry));
    assert_eq!(retry.body, original.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_submits_of_one_cart_with_different_keys_make_one_order() {
    let _heavy = HEAVY.lock().await;
    // Arrange
    let app = race_app(|settings| settings.payments.sandbox_latency_ms = 200).await;
    let shop = open_shop(&app, &[("TEE-M", 2500, 10)]).await;
    let cart = ready_cart(&app, &shop, &[("TEE-M", 2)]).await;

    // Act: a double-clicking shopper whose client makes a new key each time
    let answers = {
        let cart = cart.clone();
        fire_at_once(&app, 20, move |app, _| {
            let cart = cart.clone();
            async move { checkout(&app, &cart, PM_SUCCESS).await }
        })
        .await
    };

    // Assert: every answer is the one order
    let mut order_ids = BTreeSet::new();
    let mut tokens = 0;
    for res in &answers {
        assert!(
            matches!(res.status.as_u16(), 201 | 202),
            "a submit of the same cart answered {}: {:#}",
            res.status,
            res.body
        );
        order_ids.insert(text(&res.body["order"], "id"));
        if res.body["order_token"].is_string() {
            tokens += 1;
        }
    }
    assert_eq!(order_ids.len(), 1, "orders answered: {order_ids:?}");
    let order_id = order_ids.into_iter().next().expect("one order");
    assert_eq!(
        tokens, 1,
        "the order token is shown to the call that made the order only"
    );
    let orders = all_admin_orders(&app, "").await;
    assert_eq!(orders.len(), 1, "{orders:#?}");
    assert_eq!(orders[0]["status"], "confirmed");
    assert_eq!(sandbox(&app).authorizations_for(&order_id), 1);
    assert_eq!(stock(&app, "TEE-M").await, Stock::new(8, 0));
}

// ---- refunds racing ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_refunds_racing_never_refund_more_than_was_captured() {
    let _heavy = HEAVY.lock().await;
    // Arrange: a confirmed, captured, shipped order of (2 × 2500 + 490) × 1.19 = 6533.10
    let app = race_app(|_| {}).await;
    let shop = open_shop(&app, &[("TEE-M", 2500, 10)]).await;
    let cart = ready_cart(&app, &shop, &[("TEE-M", 2)]).await;
    let order = confirmed_order(&checkout(&app, &cart, PM_SUCCESS).await);
    let order_id = text(&order, "id");
    let captured = minor(&order["captured"]);
    assert_eq!(captured, total_of(&order));
    assert_eq!(captured, 6533);
    admin_order_action(
        &app,
        &order_id,
        "fulfilments",
        Some(&json!({"carrier": "DHL", "tracking_number": "00340434161094042557"})),
    )
    .await
    .assert_status(201);

    // Act: ten refunds of 15.00, each its own key: 150.00 asked of 65.33
    let answers = {
        let order_id = order_id.clone();
        fire_at_once(&app, 10, move |app, _| {
            let order_id = order_id.clone();
            async move { refund_with(&app, &order_id, 1500, Some(&new_key())).await }
        })
        .await
    };

    // Assert: in any order, exactly four fit; the rest are refused as exceeding
    let mut succeeded = 0;
    for res in &answers {
        if res.status.as_u16() == 201 {
            assert_eq!(res.body["refund"]["amount"], money(1500, "EUR"));
            assert_eq!(res.body["refund"]["status"], "succeeded");
            succeeded += 1;
        } else {
            res.assert_problem(409, "refund_exceeds_captured");
        }
    }
    assert_eq!(succeeded, 4, "refunds that fit in {captured}");
    let detail = admin_order(&app, &order_id).await;
    assert_eq!(minor(&detail["order"]["refunded"]), 6000, "{detail:#}");
    assert_eq!(minor(&detail["payment"]["refunded"]), 6000);
    assert_eq!(minor(&detail["payment"]["captured"]), captured);
    let refunds = detail["refunds"].as_array().expect("refunds");
    let succeeded_refunds: i64 = refunds
        .iter()
        .filter(|r| r["status"] == "succeeded")
        .map(|r| minor(&r["amount"]))
        .sum();
    assert_eq!(succeeded_refunds, 6000, "{detail:#}");
    let books = sandbox(&app).payments_for(&order_id);
    assert_eq!(books.len(), 1, "{books:?}");
    assert_eq!(books[0].refunded.amount_minor(), 6000);
    assert_eq!(books[0].captured.amount_minor(), captured);
    assert_ne!(
        detail["order"]["status"], "refunded",
        "533 are still captured"
    );

    // Act: refund exactly what is left, then one cent more
    let rest = refund_with(&app, &order_id, captured - 6000, Some(&new_key())).await;
    let more = refund_with(&app, &order_id, 1, Some(&new_key())).await;

    // Assert
    let body = rest.assert_status(201);
    assert_eq!(body["order"]["status"], "refunded", "{body:#}");
    assert_eq!(minor(&body["order"]["refunded"]), captured);
    assert_eq!(more.status.as_u16(), 409, "{:#}", more.body);
    assert!(
        matches!(
            more.body["code"].as_str(),
            Some("refund_exceeds_captured" | "illegal_transition")
        ),
        "{:#}",
        more.body
    );
    assert_eq!(
        sandbox(&app).payments_for(&order_id)[0]
            .refunded
            .amount_minor(),
        captured
    );
}
