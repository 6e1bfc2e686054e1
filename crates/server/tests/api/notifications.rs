//! Shopper emails end to end: a real checkout's confirmation lands in the dev mailbox with the
//! order's lines and totals, staff read it over HTTP, and `/metrics` shows the outbox lag, the
//! webhook deliveries and the emails by status.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::checkout_helpers::{
    checkout, confirmed_order, open_shop, ready_cart, PM_SUCCESS, SHOPPER_EMAIL,
};
use crate::helpers::{items_of, TestApp};

/// `{"amount_minor", "currency"}` as the emails print it (EUR: two decimals).
fn eur(money: &Value) -> String {
    let minor = money["amount_minor"].as_i64().unwrap_or(i64::MIN);
    assert_eq!(money["currency"], "EUR");
    format!("EUR {}.{:02}", minor / 100, minor % 100)
}

async fn mailbox(app: &TestApp) -> Vec<Value> {
    let res = app
        .admin(Method::GET, "/v1/admin/mailbox?limit=100", None)
        .await;
    items_of(res.assert_status(200)).clone()
}

#[tokio::test]
async fn the_confirmation_of_a_checkout_lands_in_the_mailbox_with_its_lines_and_totals() {
    // Arrange
    let app = TestApp::spawn_with(|settings| {
        settings.workers.relay_interval_ms = 20;
        settings.notifications.send_interval_ms = 20;
    })
    .await;
    let shop = open_shop(&app, &[("TEE-M", 2500, 10), ("CAP-L", 1290, 10)]).await;
    let cart = ready_cart(&app, &shop, &[("TEE-M", 2), ("CAP-L", 1)]).await;

    // Act
    let order = confirmed_order(&checkout(&app, &cart, PM_SUCCESS).await);

    // Assert: queued by the consumer, then sent into the mailbox by the sender.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let message = loop {
        let mail = mailbox(&app).await;
        if let Some(sent) = mail.iter().find(|m| m["status"] == "sent") {
            assert_eq!(mail.len(), 1, "one email for one order: {mail:#?}");
            break sent.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no sent email: {mail:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(message["kind"], "order_confirmed");
    assert_eq!(message["to"], SHOPPER_EMAIL);
    assert_eq!(message["order_id"], order["id"]);
    assert_eq!(message["transport"], "mailbox");
    let text = message["text_body"].as_str().unwrap_or_default();
    let html = message["html_body"].as_str().unwrap_or_default();
    let lines = order["lines"].as_array().cloned().unwrap_or_default();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        let expected = format!(
            "{} x {} = {}",
            line["quantity"],
            eur(&line["unit_price"]),
            eur(&line["line_total"])
        );
        assert!(text.contains(&expected), "{expected:?} not in\n{text}");
        let title = line["product_title"].as_str().unwrap_or("?");
        assert!(text.contains(title) && html.contains(title), "{title}");
    }
    let totals = &order["totals"];
    for (label, key) in [
        ("Subtotal", "subtotal"),
        ("Shipping", "shipping"),
        ("Tax", "tax"),
        ("Total", "total"),
    ] {
        let expected = format!("{label}: {}", eur(&totals[key]));
        assert!(text.contains(&expected), "{expected:?} not in\n{text}");
        assert!(html.contains(&eur(&totals[key])));
    }
    assert_eq!(eur(&totals["subtotal"]), "EUR 62.90");

    // One message read on its own is the same message.
    let id = message["id"].as_str().unwrap_or_default();
    let one = app
        .admin(Method::GET, &format!("/v1/admin/mailbox/{id}"), None)
        .await;
    assert_eq!(one.assert_status(200)["subject"], message["subject"]);
    app.admin(
        Method::GET,
        "/v1/admin/mailbox/msg_0191b7c26d4e7cc28a113f2b4c5d6e7f",
        None,
    )
    .await
    .assert_problem(404, "mail_message_not_found");
    app.admin(Method::GET, "/v1/admin/mailbox?after=nope", None)
        .await
        .assert_problem(422, "validation_failed");
    let anonymous = app.get("/v1/admin/mailbox").await;
    anonymous.assert_problem(401, "unauthorized");
}

#[tokio::test]
async fn metrics_show_outbox_lag_deliveries_and_mail_by_status() {
    // The relay never runs in this test's lifetime, so the outboxes fall behind.
    let app = TestApp::spawn_with(|settings| settings.workers.relay_interval_ms = 3_600_000).await;
    let shop = open_shop(&app, &[("TEE-M", 2500, 10)]).await;
    let cart = ready_cart(&app, &shop, &[("TEE-M", 1)]).await;
    confirmed_order(&checkout(&app, &cart, PM_SUCCESS).await);
    // The first relay pass runs at start-up; what the checkout recorded stays pending.
    app.clock.advance(Duration::from_secs(90));

    let res = app.get("/metrics").await;
    let text = res.body.as_str().expect("metrics are text").to_owned();

    let lag = |source: &str| -> f64 {
        let prefix = format!("kassa_events_outbox_lag_seconds{{source=\"{source}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no lag for {source} in\n{text}"))
    };
    assert!(lag("orders") >= 90.0, "orders lag {}", lag("orders"));
    assert!(lag("inventory") >= 90.0);
    for line in [
        "# TYPE kassa_webhook_deliveries gauge",
        "kassa_webhook_deliveries{status=\"dead\"} 0",
        "kassa_webhook_dead_letters 0",
        "kassa_notification_messages{status=\"queued\"} 0",
        "kassa_payment_gateway_paused_seconds 0",
        "kassa_payments_unsettled{kind=\"operation\"} 0",
        "kassa_payments_unsettled{kind=\"refund\"} 0",
    ] {
        assert!(text.contains(line), "{line:?} not in\n{text}");
    }
}
