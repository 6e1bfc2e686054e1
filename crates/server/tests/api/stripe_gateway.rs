//! The server with `payments.gateway = "stripe"`: the webhook route verifies Stripe's
//! signature over the raw body and applies each event once; an open circuit breaker fails
//! checkout fast with 503 and Retry-After before anything is reserved; the reconciliation
//! report is a staff route. Stripe here is an address nobody listens on, so every call fails
//! the way an outage does (connection refused); the connector's behaviour against a Stripe
//! that answers is in kassa-payments' contract tests and the localstripe suite.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use hmac::{Hmac, Mac};
use kassa_kernel::Clock;
use kassa_server::settings::GatewaySetting;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::checkout_helpers::{checkout, open_shop, ready_cart};
use crate::helpers::TestApp;

const SECRET: &str = "whsec_server_test";

async fn stripe_app() -> TestApp {
    TestApp::spawn_with(|s| {
        s.payments.gateway = GatewaySetting::Stripe;
        // Nobody listens on port 9 here: every call is refused before it is sent.
        s.payments.stripe.base_url = "http://127.0.0.1:9".to_owned();
        s.payments.stripe.secret_key = Some("sk_test_server".to_owned().into());
        s.payments.stripe.webhook_secrets = Some(format!("whsec_old_rolled, {SECRET}").into());
        s.payments.stripe.max_retries = 0;
        s.payments.stripe.breaker_failure_threshold = 1;
        s.payments.stripe.breaker_cool_down_secs = 40;
    })
    .await
}

/// `Stripe-Signature` for `body` signed with `secret` at the app clock's time, as Stripe signs.
pub fn signed(app: &TestApp, secret: &str, body: &[u8]) -> String {
    let t = app.clock.now().millis() / 1000;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

fn event(id: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id, "object": "event", "type": "payment_intent.succeeded",
        "created": 1_795_000_000, "livemode": false, "api_version": "2023-08-16",
        "data": {"object": {"id": "pi_unknown_to_kassa", "object": "payment_intent",
            "amount": 1000, "amount_capturable": 0, "amount_received": 1000,
            "currency": "eur", "status": "succeeded", "metadata": {},
            "livemode": false, "created": 1_795_000_000}}
    }))
    .unwrap()
}

#[tokio::test]
async fn the_stripe_webhook_route_checks_the_signature_and_records_each_event_once() {
    let app = stripe_app().await;
    let body = event("evt_server_1");
    let header = signed(&app, SECRET, &body);
    let first = app
        .send_raw(
            Method::POST,
            "/v1/webhooks/stripe",
            "application/json",
            body.clone(),
            &[("stripe-signature", &header)],
        )
        .await;
    let receipt = first.assert_status(200).clone();
    assert_eq!(receipt["event_id"], "evt_server_1");
    assert_eq!(receipt["outcome"], "unknown_payment");
    assert_eq!(receipt["duplicate"], false);
    let again = app
        .send_raw(
            Method::POST,
            "/v1/webhooks/stripe",
            "application/json",
            body.clone(),
            &[("stripe-signature", &header)],
        )
        .await;
    assert_eq!(again.assert_status(200)["duplicate"], true);

    // Signed with a secret this endpoint does not have, or not signed, or the body altered.
    let wrong = signed(&app, "whsec_someone_else", &body);
    let mut altered = body.clone();
    altered.push(b'\n');
    for (header, body) in [
        (wrong.as_str(), body.clone()),
        ("", body.clone()),
        (header.as_str(), altered),
    ] {
        app.send_raw(
            Method::POST,
            "/v1/webhooks/stripe",
            "application/json",
            body,
            &[("stripe-signature", header)],
        )
        .await
        .assert_problem(400, "webhook_signature_invalid");
    }
}

#[tokio::test]
async fn the_stripe_webhook_route_is_not_served_with_the_sandbox() {
    let app = TestApp::spawn().await;
    let body = event("evt_sandbox");
    let header = signed(&app, SECRET, &body);
    app.send_raw(
        Method::POST,
        "/v1/webhooks/stripe",
        "application/json",
        body,
        &[("stripe-signature", &header)],
    )
    .await
    .assert_problem(404, "gateway_not_configured");
}

#[tokio::test]
async fn an_open_breaker_answers_checkout_503_with_retry_after_and_reserves_nothing() {
    let app = stripe_app().await;
    let shop = open_shop(&app, &[("MUG-1", 1200, 5)]).await;
    // The first checkout reaches for Stripe, which is down: the order is closed, the stock
    // released, and the failure opens the breaker (threshold 1).
    let cart = ready_cart(&app, &shop, &[("MUG-1", 2)]).await;
    let first = checkout(&app, &cart, "pm_card_visa").await;
    first.assert_problem(502, "gateway_unavailable");
    // Now checkout fails fast, before an order is made, saying how long the breaker stays open.
    let cart = ready_cart(&app, &shop, &[("MUG-1", 1)]).await;
    let second = checkout(&app, &cart, "pm_card_visa").await;
    second.assert_problem(503, "gateway_paused");
    let retry_after: u64 = second
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((30..=40).contains(&retry_after), "{retry_after}");
    let metrics = app.get("/metrics").await;
    let text = metrics.body.as_str().unwrap();
    let paused: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("kassa_payment_gateway_paused_seconds "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no paused gauge in\n{text}"));
    assert!(paused > 30.0, "{paused}");
    let orders = app.admin(Method::GET, "/v1/admin/orders", None).await;
    let items = orders.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        items.len(),
        1,
        "only the first checkout made an order: {items:#?}"
    );
    let stock = app
        .admin(Method::GET, "/v1/admin/inventory/MUG-1", None)
        .await;
    let stock: &Value = stock.assert_status(200);
    assert_eq!(stock["reserved"], 0, "{stock}");
}

#[tokio::test]
async fn the_reconciliation_report_is_for_staff_and_checks_its_window() {
    let app = stripe_app().await;
    let path =
        "/v1/admin/payments/reconciliation?from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z";
    app.get(path).await.assert_problem(401, "unauthorized");
    let report = app.admin(Method::GET, path, None).await;
    let report = report.assert_status(200);
    assert_eq!(report["examined"], 0);
    assert_eq!(report["mismatches"], json!([]));
    for bad in [
        "/v1/admin/payments/reconciliation?from=yesterday&to=2026-12-02T00:00:00Z",
        "/v1/admin/payments/reconciliation?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z",
        "/v1/admin/payments/reconciliation?from=2026-10-01T00:00:00Z&to=2026-12-01T00:00:00Z",
        "/v1/admin/payments/reconciliation?from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z&limit=0",
    ] {
        app.admin(Method::GET, bad, None)
            .await
            .assert_problem(422, "validation_failed");
    }
}
