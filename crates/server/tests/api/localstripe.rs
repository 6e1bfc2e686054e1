//! End to end against localstripe (a third-party Stripe stand-in from PyPI, started by `.ci/run`
//! through `scripts/localstripe.sh`): kassa's server with `payments.gateway = "stripe"` pointed at
//! it. Runs when `TEST_LOCALSTRIPE_URL` is set (CI sets it; without it each test says on stderr
//! that it was skipped).
//!
//! Where localstripe departs from Stripe (payments-facts §7; measured in detail for this suite):
//! it refuses `return_url`, so none is configured here, and its 3-D Secure is always
//! `use_stripe_sdk` (Stripe's own answer without a `return_url`), completed by its
//! `_authenticate` route where Stripe.js would run the challenge; it has no `amount_received`
//! (the connector then takes the intent's amount); its `last_payment_error` has no `type`
//! (read as unknown); it has no idempotency, so these tests never rely on a replayed key (the
//! contract tests against the fake Stripe do); it sends only `payment_intent.succeeded` and
//! `payment_intent.payment_failed` (no `amount_capturable_updated` when a challenge passes, no
//! `charge.dispute.created` at all — the dispute test signs that event itself, as Stripe
//! would), about a second after the call, never retried.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kassa_kernel::{Clock, Currency, Money, Timestamp};
use kassa_payments::{NoticeOutcome, OrderRef, Payment, PaymentStatus};
use kassa_server::settings::{CaptureSetting, GatewaySetting};
use serde_json::Value;

use reqwest::Method;

use crate::checkout_helpers::{checkout, confirmed_order, open_shop, ready_cart};
use crate::helpers::TestApp;
use crate::stripe_gateway::signed;

const SECRET: &str = "whsec_kassa_localstripe_e2e";

fn localstripe() -> Option<String> {
    match std::env::var("TEST_LOCALSTRIPE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped: TEST_LOCALSTRIPE_URL is not set (.ci/run starts localstripe)");
            None
        }
    }
}

async fn app_on(url: &str) -> TestApp {
    let app = TestApp::spawn_with(|s| {
        s.payments.gateway = GatewaySetting::Stripe;
        s.payments.stripe.base_url = url.to_owned();
        s.payments.stripe.secret_key = Some("sk_test_kassa_localstripe".to_owned().into());
        s.payments.stripe.webhook_secrets = Some(SECRET.to_owned().into());
        s.orders.capture = CaptureSetting::OnFulfilment;
    })
    .await;
    // localstripe signs with the real time; the test clock starts elsewhere.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    app.clock.set(Timestamp::from_millis(
        i64::try_from(now.as_millis()).unwrap(),
    ));
    // Its webhooks go to this server (registrations cannot be deleted: one name per app).
    let name = format!("kassa_{}", app.base_url.rsplit(':').next().unwrap());
    let res = reqwest::Client::new()
        .post(format!("{url}/_config/webhooks/{name}"))
        .form(&[
            ("url", format!("{}/v1/webhooks/stripe", app.base_url)),
            ("secret", SECRET.to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{:?}", res.text().await);
    app
}

async fn payment_of(app: &TestApp, order: &Value) -> Payment {
    let order_ref = OrderRef::parse(order["id"].as_str().unwrap()).unwrap();
    app.districts
        .payments
        .payment_for_order(&order_ref)
        .await
        .unwrap()
        .unwrap()
}

async fn intent(url: &str, id: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{url}/v1/payment_intents/{id}"))
        .bearer_auth("sk_test_kassa_localstripe")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::Eur)
}

/// Waits up to 10 s for the webhook of type `event_type` about the payment.
async fn webhook(app: &TestApp, payment: &Payment, event_type: &str) -> NoticeOutcome {
    for _ in 0..100 {
        let records = app
            .districts
            .payments
            .gateway_events(payment.id())
            .await
            .unwrap();
        if let Some(record) = records.iter().find(|r| r.event_type == event_type) {
            return record.outcome;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {event_type} webhook for {} within 10 s", payment.id());
}

#[tokio::test]
async fn checkout_partial_capture_and_partial_refunds_go_through_localstripe() {
    let Some(url) = localstripe() else { return };
    let app = app_on(&url).await;
    let (order, payment) = paid_order(&app, "LS-MUG", 1250, 2).await;
    assert_eq!(payment.status(), PaymentStatus::RequiresCapture);
    let pi = payment.gateway_ref().unwrap().to_owned();
    let held = intent(&url, &pi).await;
    assert_eq!(held["status"], "requires_capture");
    assert_eq!(held["capture_method"], "manual");
    assert_eq!(held["metadata"]["order_id"], order["id"]);
    assert_eq!(held["amount"], payment.amount().amount_minor());

    // Partial capture: part of the hold, the rest released.
    let part = eur(payment.amount().amount_minor() - 500);
    let captured = app
        .districts
        .payments
        .capture(payment.id(), Some(part))
        .await
        .unwrap();
    assert_eq!(captured.status(), PaymentStatus::Succeeded);
    assert_eq!(captured.captured(), part);
    assert_eq!(intent(&url, &pi).await["status"], "succeeded");

    // Two partial refunds, each its own Stripe refund.
    for _ in 0..2 {
        let refund = app
            .districts
            .payments
            .refund(payment.id(), eur(300))
            .await
            .unwrap();
        assert!(refund.gateway_ref.as_deref().unwrap().starts_with("re_"));
    }
    let refunds: Value = reqwest::Client::new()
        .get(format!("{url}/v1/refunds?payment_intent={pi}"))
        .bearer_auth("sk_test_kassa_localstripe")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ours: Vec<&Value> = refunds["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["payment_intent"] == pi.as_str() && r["amount"] == 300)
        .collect();
    assert_eq!(ours.len(), 2, "{refunds:#}");
    assert_eq!(
        app.districts
            .payments
            .payment(payment.id())
            .await
            .unwrap()
            .refunded(),
        eur(600)
    );
    // localstripe signs a payment_intent.succeeded for the capture; kassa verifies it, keeps it
    // in its inbox, and finds the payment already there.
    assert_eq!(
        webhook(&app, &payment, "payment_intent.succeeded").await,
        NoticeOutcome::Unchanged
    );
}

#[tokio::test]
async fn a_capture_made_at_localstripe_reaches_kassa_by_signed_webhook_and_is_applied() {
    let Some(url) = localstripe() else { return };
    let app = app_on(&url).await;
    let (_, payment) = paid_order(&app, "LS-CUP", 900, 1).await;
    let pi = payment.gateway_ref().unwrap().to_owned();
    // Captured in "the dashboard": straight at localstripe, not through kassa.
    let res = reqwest::Client::new()
        .post(format!("{url}/v1/payment_intents/{pi}/capture"))
        .bearer_auth("sk_test_kassa_localstripe")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    assert_eq!(
        webhook(&app, &payment, "payment_intent.succeeded").await,
        NoticeOutcome::Applied
    );
    let after = app.districts.payments.payment(payment.id()).await.unwrap();
    assert_eq!(after.status(), PaymentStatus::Succeeded);
    assert_eq!(after.captured(), payment.amount());
}

/// A confirmed order of `quantity` × `sku` paid with `pm_card_visa`, and its payment (held,
/// `requires_capture`: these apps capture on fulfilment).
async fn paid_order(app: &TestApp, sku: &str, price: i64, quantity: i64) -> (Value, Payment) {
    let shop = open_shop(app, &[(sku, price, 10)]).await;
    let cart = ready_cart(app, &shop, &[(sku, quantity)]).await;
    let order = confirmed_order(&checkout(app, &cart, "pm_card_visa").await);
    let payment = payment_of(app, &order).await;
    (order, payment)
}

/// A card PaymentMethod created at localstripe, as Stripe.js would in the shopper's browser.
async fn card(url: &str, number: &str) -> String {
    let pm: Value = reqwest::Client::new()
        .post(format!("{url}/v1/payment_methods"))
        .bearer_auth("sk_test_kassa_localstripe")
        .form(&[
            ("type", "card"),
            ("card[number]", number),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2030"),
            ("card[cvc]", "123"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    pm["id"].as_str().unwrap().to_owned()
}

/// What Stripe.js does in the shopper's browser once they pass (or fail) the challenge.
async fn authenticate(url: &str, pi: &str, client_secret: &str, success: bool) -> u16 {
    reqwest::Client::new()
        .post(format!("{url}/v1/payment_intents/{pi}/_authenticate"))
        .bearer_auth("sk_test_kassa_localstripe")
        .form(&[
            ("client_secret", client_secret),
            ("success", if success { "true" } else { "false" }),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Checks out with a card that needs 3-D Secure: 202 with a Stripe.js action.
async fn checkout_3ds(app: &TestApp, url: &str, number: &str) -> (Value, String, String) {
    let shop = open_shop(app, &[("LS-3DS", 700, 10)]).await;
    let cart = ready_cart(app, &shop, &[("LS-3DS", 1)]).await;
    let pm = card(url, number).await;
    let res = checkout(app, &cart, &pm).await;
    let body = res.assert_status(202).clone();
    let action = &body["next_action"];
    assert_eq!(action["type"], "use_stripe_sdk", "{body:#}");
    assert!(action["redirect_url"].is_null());
    let client_secret = action["client_secret"].as_str().unwrap().to_owned();
    let token = body["order_token"].as_str().unwrap().to_owned();
    (body["order"].clone(), token, client_secret)
}

async fn continue_payment(
    app: &TestApp,
    order: &Value,
    token: &str,
) -> crate::helpers::TestResponse {
    let path = format!(
        "/v1/orders/{}/payment/continue",
        order["id"].as_str().unwrap()
    );
    app.send(Method::POST, &path, None, &[("order-token", token)])
        .await
}

#[tokio::test]
async fn three_d_secure_through_stripe_js_then_the_shopper_returns_and_the_order_is_confirmed() {
    let Some(url) = localstripe() else { return };
    let app = app_on(&url).await;
    let (order, token, client_secret) = checkout_3ds(&app, &url, "4000002500003155").await;
    let payment = payment_of(&app, &order).await;
    assert_eq!(payment.status(), PaymentStatus::RequiresAction);
    let pi = payment.gateway_ref().unwrap().to_owned();
    assert!(
        client_secret.starts_with(&pi),
        "the intent's own client secret"
    );
    // Before the challenge: still waiting.
    let waiting = continue_payment(&app, &order, &token).await;
    assert_eq!(
        waiting.assert_status(202)["order"]["status"],
        "awaiting_payment"
    );

    assert_eq!(authenticate(&url, &pi, &client_secret, true).await, 200);
    let back = continue_payment(&app, &order, &token).await;
    assert_eq!(back.assert_status(200)["order"]["status"], "confirmed");
    let after = app.districts.payments.payment(payment.id()).await.unwrap();
    assert_eq!(after.status(), PaymentStatus::RequiresCapture);
    // Returning again answers the same; nothing is applied twice.
    let again = continue_payment(&app, &order, &token).await;
    assert_eq!(again.assert_status(200)["order"]["status"], "confirmed");
    let authorized = app
        .districts
        .payments
        .events(None, 500)
        .await
        .unwrap()
        .iter()
        .filter(|e| {
            e.event_type == "payment.authorized" && e.aggregate_id == payment.id().to_string()
        })
        .count();
    assert_eq!(authorized, 1);
}

#[tokio::test]
async fn a_failed_challenge_declines_the_checkout_when_the_shopper_returns() {
    let Some(url) = localstripe() else { return };
    let app = app_on(&url).await;
    let (order, token, client_secret) = checkout_3ds(&app, &url, "4000002500003155").await;
    let pi = payment_of(&app, &order)
        .await
        .gateway_ref()
        .unwrap()
        .to_owned();
    assert_eq!(authenticate(&url, &pi, &client_secret, false).await, 200);
    let back = continue_payment(&app, &order, &token).await;
    let problem = back.assert_problem(402, "payment_declined");
    assert_eq!(
        problem["decline_code"],
        "payment_intent_authentication_failure"
    );
}

#[tokio::test]
async fn a_challenge_outcome_that_arrives_by_signed_webhook_is_applied_before_the_shopper_returns()
{
    let Some(url) = localstripe() else { return };
    let app = app_on(&url).await;
    // This card passes authentication and is then declined: localstripe answers the challenge
    // with 402 and signs a payment_intent.payment_failed about a second later.
    let (order, token, client_secret) = checkout_3ds(&app, &url, "4000008260003178").await;
    let payment = payment_of(&app, &order).await;
    let pi = payment.gateway_ref().unwrap().to_owned();
    assert_eq!(authenticate(&url, &pi, &client_secret, true).await, 402);
    assert_eq!(
        webhook(&app, &payment, "payment_intent.payment_failed").await,
        NoticeOutcome::Applied
    );
    let failed = app.districts.payments.payment(payment.id()).await.unwrap();
    assert_eq!(failed.status(), PaymentStatus::Failed);
    // The shopper comes back after the webhook: the outcome is the webhook's, applied once.
    continue_payment(&app, &order, &token)
        .await
        .assert_problem(402, "payment_declined");
}

#[tokio::test]
async fn a_dispute_signed_as_stripe_signs_it_flags_the_order_for_staff() {
    let Some(url) = localstripe() else { return };
    let app = app_on(&url).await;
    let (order, payment) = paid_order(&app, "LS-DSP", 1500, 1).await;
    let pi = payment.gateway_ref().unwrap().to_owned();
    // localstripe has no disputes: the event is made and signed here exactly as Stripe does.
    let now = app.clock.now().millis() / 1000;
    let body = serde_json::to_vec(&serde_json::json!({
        "id": format!("evt_dispute_{pi}"), "object": "event", "type": "charge.dispute.created",
        "created": now, "livemode": false, "api_version": "2023-08-16",
        "data": {"object": {"id": format!("dp_{pi}"), "object": "dispute",
            "amount": payment.amount().amount_minor(), "currency": "eur", "charge": "ch_x",
            "payment_intent": pi, "reason": "fraudulent", "status": "needs_response",
            "livemode": false, "created": now}}
    }))
    .unwrap();
    let signature = signed(&app, SECRET, &body);
    let receipt = app
        .send_raw(
            Method::POST,
            "/v1/webhooks/stripe",
            "application/json",
            body,
            &[("stripe-signature", &signature)],
        )
        .await;
    assert_eq!(receipt.assert_status(200)["outcome"], "applied");
    // The orders district learns of it from payments' event, through the bus.
    let path = format!("/v1/admin/orders/{}", order["id"].as_str().unwrap());
    for _ in 0..100 {
        let detail = app.admin(Method::GET, &path, None).await;
        let flags = detail.assert_status(200)["flags"]
            .as_array()
            .unwrap()
            .clone();
        if let Some(flag) = flags.first() {
            assert_eq!(flag["kind"], "dispute", "{flag:#}");
            assert_eq!(flag["reason"], "fraudulent");
            let flagged = app
                .admin(Method::GET, "/v1/admin/orders?flagged=true", None)
                .await;
            let items = flagged.assert_status(200)["items"]
                .as_array()
                .unwrap()
                .clone();
            assert_eq!(items.len(), 1, "{items:#?}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the order was not flagged within 10 s");
}
