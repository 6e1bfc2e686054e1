//! Stripe webhooks applied by the payments service, and reconciliation, over the fake Stripe
//! on a fresh database (SQLite, or PostgreSQL with TEST_DATABASE_URL): every event is signed
//! with the endpoint secret and goes through the connector's verification first, as the HTTP
//! route does.

use std::time::Duration;

use hmac::{Hmac, Mac};
use kassa_kernel::{Clock, Timestamp};
use kassa_payments::gateway::{WebhookRejection, WebhookVerifier};
use kassa_payments::service::Difference;
use kassa_payments::{NoticeOutcome, PaymentError, PaymentId, PaymentStatus};
use serde_json::{json, Value};
use sha2::Sha256;

use super::fake::{Script, PM_3DS, PM_VISA};
use super::service::{fixture_with, order, timed_out_authorization, token, Fixture};
use super::{eur, WEBHOOK_SECRET};

async fn fixture() -> Fixture {
    fixture_with(|payments| {
        payments
            .with_call_timeout(Duration::from_secs(5))
            .with_return_url(Some("https://shop.example/return/{order_id}".to_owned()))
    })
    .await
}

fn new_event_id() -> String {
    format!("evt_{}", PaymentId::new().as_uuid().simple())
}

impl Fixture {
    /// A Stripe event of `event_type` about `object`, signed now with the endpoint secret, as
    /// Stripe delivers it.
    fn signed(&self, event_id: &str, event_type: &str, object: Value) -> (String, Vec<u8>) {
        let now = self.stripe.clock.now().millis() / 1000;
        let body = serde_json::to_vec(&json!({
            "id": event_id,
            "object": "event",
            "api_version": "2023-08-16",
            "created": now,
            "livemode": false,
            "type": event_type,
            "data": {"object": object},
        }))
        .unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
        mac.update(format!("{now}.").as_bytes());
        mac.update(&body);
        let signature: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        (format!("t={now},v1={signature}"), body)
    }

    /// Delivers the event through the connector's verification to the service.
    async fn deliver(
        &self,
        event_id: &str,
        event_type: &str,
        object: Value,
    ) -> kassa_payments::GatewayEventRecord {
        let (header, body) = self.signed(event_id, event_type, object);
        let event = self.stripe.gateway.verify(&header, &body).unwrap();
        self.payments.apply_gateway_event(event).await.unwrap()
    }

    /// A payment of 25 EUR waiting for the shopper's 3-D Secure challenge, and its intent.
    async fn awaiting_challenge(&self) -> (kassa_payments::Payment, String) {
        let payment = self
            .payments
            .authorize(order(), eur(2500), token(PM_3DS))
            .await
            .unwrap();
        assert_eq!(payment.status(), PaymentStatus::RequiresAction);
        let pi = payment.gateway_ref().unwrap().to_owned();
        (payment, pi)
    }

    async fn authorized(&self, amount: i64) -> (PaymentId, String) {
        let payment = self
            .payments
            .authorize(order(), eur(amount), token(PM_VISA))
            .await
            .unwrap();
        assert_eq!(payment.status(), PaymentStatus::RequiresCapture);
        (payment.id(), payment.gateway_ref().unwrap().to_owned())
    }

    async fn event_types(&self) -> Vec<String> {
        self.payments
            .events(None, 500)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_type)
            .collect()
    }
}

#[tokio::test]
async fn three_d_secure_finished_by_webhook_is_applied_once_and_the_shopper_return_agrees() {
    let f = fixture().await;
    let (payment, pi) = f.awaiting_challenge().await;
    // Stored with both: Stripe's page to redirect to, and the client secret for Stripe.js.
    let stored = f.payments.payment(payment.id()).await.unwrap();
    let next = stored.next_action().unwrap();
    assert!(
        next.redirect_url.as_deref().unwrap().starts_with("http"),
        "{next:?}"
    );
    assert_eq!(
        next.client_secret.as_deref(),
        Some(format!("{pi}_secret_fake").as_str())
    );
    // The return URL names the order, so the storefront knows which order to continue.
    let sent = f.stripe.fake.received();
    let form = sent[0].form();
    assert_eq!(
        form["return_url"],
        format!("https://shop.example/return/{}", payment.order_ref())
    );

    f.stripe.fake.complete_3ds(&pi, true);
    let event_id = new_event_id();
    let object = f.stripe.fake.intent(&pi);
    let first = f
        .deliver(
            &event_id,
            "payment_intent.amount_capturable_updated",
            object.clone(),
        )
        .await;
    assert_eq!(first.outcome, NoticeOutcome::Applied, "{first:?}");
    assert!(!first.duplicate);
    assert_eq!(first.payment_id, Some(payment.id()));
    let after = f.payments.payment(payment.id()).await.unwrap();
    assert_eq!(after.status(), PaymentStatus::RequiresCapture);
    assert!(
        after.next_action().is_none(),
        "the client secret is dropped"
    );

    // Stripe delivers at least once: the same event again applies nothing.
    let again = f
        .deliver(
            &event_id,
            "payment_intent.amount_capturable_updated",
            object,
        )
        .await;
    assert!(again.duplicate);
    assert_eq!(again.outcome, NoticeOutcome::Applied);
    // The shopper comes back after the webhook: the same outcome, nothing applied twice.
    let returned = f.payments.complete_action(payment.id()).await.unwrap();
    assert_eq!(returned.status(), PaymentStatus::RequiresCapture);
    let types = f.event_types().await;
    assert_eq!(
        types.iter().filter(|t| *t == "payment.authorized").count(),
        1,
        "{types:?}"
    );
    let records = f.payments.gateway_events(payment.id()).await.unwrap();
    assert_eq!(records.len(), 1);
}

#[tokio::test]
async fn a_failed_challenge_reported_by_webhook_fails_the_payment_with_its_code() {
    let f = fixture().await;
    let (payment, pi) = f.awaiting_challenge().await;
    f.stripe.fake.complete_3ds(&pi, false);
    let record = f
        .deliver(
            &new_event_id(),
            "payment_intent.payment_failed",
            f.stripe.fake.intent(&pi),
        )
        .await;
    assert_eq!(record.outcome, NoticeOutcome::Applied);
    let failed = f.payments.payment(payment.id()).await.unwrap();
    assert_eq!(failed.status(), PaymentStatus::Failed);
    assert_eq!(
        failed.decline().unwrap().code,
        "payment_intent_authentication_failure"
    );
    // The shopper returning afterwards is told it was declined.
    let err = f.payments.complete_action(payment.id()).await.unwrap_err();
    assert!(matches!(err, PaymentError::Declined { .. }), "{err:?}");
}

#[tokio::test]
async fn late_and_out_of_order_events_never_move_a_payment_back() {
    let f = fixture().await;
    let (id, pi) = f.authorized(2500).await;
    let authorized_object = f.stripe.fake.intent(&pi);
    f.payments.capture(id, None).await.unwrap();
    let before = f.event_types().await;

    let mut requires_action = authorized_object.clone();
    requires_action["status"] = json!("requires_action");
    requires_action["next_action"] = json!({"type": "redirect_to_url",
        "redirect_to_url": {"url": "https://hooks.stripe.com/3ds", "return_url": null}});
    let mut failed = authorized_object.clone();
    failed["status"] = json!("requires_payment_method");
    failed["last_payment_error"] = json!({"type": "card_error", "code": "card_declined",
        "decline_code": "generic_decline", "message": "declined"});
    for (event_type, object) in [
        (
            "payment_intent.amount_capturable_updated",
            authorized_object,
        ),
        ("payment_intent.requires_action", requires_action),
        ("payment_intent.payment_failed", failed),
    ] {
        let record = f.deliver(&new_event_id(), event_type, object).await;
        assert_eq!(record.outcome, NoticeOutcome::Unchanged, "{event_type}");
    }
    let payment = f.payments.payment(id).await.unwrap();
    assert_eq!(payment.status(), PaymentStatus::Succeeded);
    assert_eq!(payment.captured(), eur(2500));
    assert_eq!(
        f.event_types().await,
        before,
        "no event for a late delivery"
    );
}

#[tokio::test]
async fn a_capture_and_a_cancel_made_in_the_dashboard_are_followed() {
    let f = fixture().await;
    let (captured_id, captured_pi) = f.authorized(2500).await;
    f.stripe.fake.edit_intent(&captured_pi, |intent| {
        intent["status"] = json!("succeeded");
        intent["amount_received"] = json!(2000);
        intent["amount_capturable"] = json!(0);
    });
    let record = f
        .deliver(
            &new_event_id(),
            "payment_intent.succeeded",
            f.stripe.fake.intent(&captured_pi),
        )
        .await;
    assert_eq!(record.outcome, NoticeOutcome::Applied);
    let payment = f.payments.payment(captured_id).await.unwrap();
    assert_eq!(payment.status(), PaymentStatus::Succeeded);
    assert_eq!(payment.captured(), eur(2000));

    let (canceled_id, canceled_pi) = f.authorized(1500).await;
    f.stripe.fake.edit_intent(&canceled_pi, |intent| {
        intent["status"] = json!("canceled");
        intent["cancellation_reason"] = json!("automatic");
    });
    let record = f
        .deliver(
            &new_event_id(),
            "payment_intent.canceled",
            f.stripe.fake.intent(&canceled_pi),
        )
        .await;
    assert_eq!(record.outcome, NoticeOutcome::Applied);
    let payment = f.payments.payment(canceled_id).await.unwrap();
    assert_eq!(payment.status(), PaymentStatus::Canceled);
}

#[tokio::test]
async fn a_dispute_is_recorded_as_an_event_and_a_dashboard_refund_as_a_refund() {
    let f = fixture().await;
    let (id, pi) = f.authorized(2500).await;
    f.payments.capture(id, None).await.unwrap();
    f.payments.refund(id, eur(500)).await.unwrap();

    let charge = json!({"id": "ch_1", "object": "charge", "amount": 2500,
        "amount_captured": 2500, "amount_refunded": 800, "currency": "eur",
        "status": "succeeded", "captured": true, "refunded": false, "paid": true,
        "payment_intent": pi, "livemode": false, "created": 1_795_000_000});
    let refunded = f
        .deliver(&new_event_id(), "charge.refunded", charge.clone())
        .await;
    assert_eq!(refunded.outcome, NoticeOutcome::Applied, "{refunded:?}");
    let payment = f.payments.payment(id).await.unwrap();
    assert_eq!(payment.refunded(), eur(800));
    let refunds = f.payments.refunds(id).await.unwrap();
    assert_eq!(refunds.len(), 2);
    assert_eq!(refunds[1].amount, eur(300));
    // Another event with the same total (Stripe sends one per refund) changes nothing more.
    let again = f.deliver(&new_event_id(), "charge.refunded", charge).await;
    assert_eq!(again.outcome, NoticeOutcome::Unchanged);
    assert_eq!(f.payments.payment(id).await.unwrap().refunded(), eur(800));

    let dispute = json!({"id": "dp_1", "object": "dispute", "amount": 2500, "currency": "eur",
        "charge": "ch_1", "payment_intent": pi, "reason": "fraudulent",
        "status": "needs_response", "livemode": false, "created": 1_795_000_000});
    let record = f
        .deliver(&new_event_id(), "charge.dispute.created", dispute)
        .await;
    assert_eq!(record.outcome, NoticeOutcome::Applied);
    let events = f.payments.events(None, 500).await.unwrap();
    let disputed = events
        .iter()
        .find(|e| e.event_type == "payment.disputed")
        .expect("a payment.disputed event");
    assert_eq!(disputed.data["dispute_ref"], "dp_1");
    assert_eq!(disputed.data["reason"], "fraudulent");
    assert_eq!(disputed.data["order_ref"], payment.order_ref().as_str());
    assert_eq!(disputed.data["amount"]["amount_minor"], 2500);
}

#[tokio::test]
async fn events_kassa_cannot_place_are_kept_and_a_forged_one_is_refused() {
    let f = fixture().await;
    let unknown = f
        .deliver(
            &new_event_id(),
            "payment_intent.succeeded",
            json!({"id": "pi_nobody", "object": "payment_intent", "amount": 100,
                "amount_capturable": 0, "amount_received": 100, "currency": "eur",
                "status": "succeeded", "metadata": {}, "livemode": false,
                "created": 1_795_000_000}),
        )
        .await;
    assert_eq!(unknown.outcome, NoticeOutcome::UnknownPayment);
    let other = f
        .deliver(
            &new_event_id(),
            "customer.created",
            json!({"id": "cus_1", "object": "customer"}),
        )
        .await;
    assert_eq!(other.outcome, NoticeOutcome::Ignored);

    let (header, body) = f.signed(
        "evt_forged",
        "customer.created",
        json!({"object": "customer"}),
    );
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let err = f.stripe.gateway.verify(&header, &tampered).unwrap_err();
    assert!(matches!(err, WebhookRejection::Signature(_)), "{err:?}");
    // Signed more than the tolerance ago: refused, so a captured delivery cannot be replayed.
    f.stripe.clock.advance(Duration::from_secs(301));
    let err = f.stripe.gateway.verify(&header, &body).unwrap_err();
    assert!(matches!(err, WebhookRejection::Signature(_)), "{err:?}");
}

#[tokio::test]
async fn an_authorization_that_timed_out_is_settled_by_the_reconciliation_job() {
    let f = fixture().await;
    let pending = timed_out_authorization(&f, 1200).await;

    let pass = f.payments.reconcile_pending(10).await.unwrap();
    assert_eq!((pass.examined, pass.settled), (1, 1), "{pass:?}");
    let settled = f.payments.payment(pending.id()).await.unwrap();
    assert_eq!(settled.status(), PaymentStatus::RequiresCapture);
    // The same key again: Stripe answered with the first intent, none was made twice.
    assert_eq!(f.stripe.fake.intent_count(), 1);
    let again = f.payments.reconcile_pending(10).await.unwrap();
    assert_eq!(again.examined, 0);
}

#[tokio::test]
async fn the_reconciliation_report_lists_only_payments_that_differ_from_stripe() {
    let f = fixture().await;
    let from = Timestamp::from_millis(f.stripe.clock.now().millis() - 1);
    let (matching, _) = f.authorized(1000).await;
    f.payments.capture(matching, None).await.unwrap();
    let (drifted, drifted_pi) = f.authorized(2000).await;
    // Captured in the dashboard, and no webhook arrived.
    f.stripe.fake.edit_intent(&drifted_pi, |intent| {
        intent["status"] = json!("succeeded");
        intent["amount_received"] = json!(2000);
        intent["amount_capturable"] = json!(0);
    });
    let to = Timestamp::from_millis(f.stripe.clock.now().millis() + 1);
    let report = f.payments.reconciliation(from, to, None, 50).await.unwrap();
    assert_eq!(report.examined, 2);
    assert_eq!(report.mismatches.len(), 1, "{report:#?}");
    let mismatch = &report.mismatches[0];
    assert_eq!(mismatch.payment.id(), drifted);
    assert_eq!(
        mismatch.differences,
        [Difference::Status, Difference::Captured]
    );
    let view = mismatch.gateway.as_ref().unwrap();
    assert_eq!(view.status, "succeeded");
    assert_eq!(view.captured, eur(2000));

    // Paged: one payment per page, the second page holds the mismatch.
    let first = f.payments.reconciliation(from, to, None, 1).await.unwrap();
    assert_eq!(first.examined, 1);
    assert!(first.mismatches.is_empty());
    let second = f
        .payments
        .reconciliation(from, to, first.next, 1)
        .await
        .unwrap();
    assert_eq!(second.mismatches.len(), 1);
    assert!(second.next.is_none());
}

#[tokio::test]
async fn an_open_breaker_refuses_checkout_fast_and_says_how_long_to_wait() {
    let f = fixture().await;
    assert!(f.payments.check_available().is_ok());
    for _ in 0..9 {
        f.stripe
            .fake
            .script(Script::status(503, "api_error", "down"));
    }
    // Three failing calls (each with its retries) open the breaker (threshold 3).
    for _ in 0..3 {
        let err = f
            .payments
            .authorize(order(), eur(100), token(PM_VISA))
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err:?}");
    }
    let err = f.payments.check_available().unwrap_err();
    match &err {
        PaymentError::GatewayRefusing { retry_after, .. } => {
            assert!(*retry_after > Duration::from_secs(25), "{retry_after:?}")
        }
        other => panic!("expected GatewayRefusing, got {other:?}"),
    }
    assert_eq!(err.retry_after().map(|d| d.as_secs() > 25), Some(true));
    f.stripe.clock.advance(Duration::from_secs(31));
    assert!(f.payments.check_available().is_ok());
}

#[tokio::test]
async fn the_shopper_return_follows_an_intent_canceled_at_stripe_and_records_it_once() {
    let f = fixture().await;
    let (payment, pi) = f.awaiting_challenge().await;
    f.stripe.fake.edit_intent(&pi, |intent| {
        intent["status"] = json!("canceled");
        intent["next_action"] = Value::Null;
        intent["cancellation_reason"] = json!("abandoned");
    });
    let returned = f.payments.complete_action(payment.id()).await.unwrap();
    assert_eq!(returned.status(), PaymentStatus::Canceled);
    assert!(returned.next_action().is_none());
    // The webhook that follows finds it done.
    let record = f
        .deliver(
            &new_event_id(),
            "payment_intent.canceled",
            f.stripe.fake.intent(&pi),
        )
        .await;
    assert_eq!(record.outcome, NoticeOutcome::Unchanged);
    let voided = f
        .event_types()
        .await
        .into_iter()
        .filter(|t| t == "payment.voided")
        .count();
    assert_eq!(voided, 1);
}

#[tokio::test]
async fn an_event_that_does_not_fit_the_payment_is_kept_unchanged_not_refused() {
    let f = fixture().await;
    let (id, pi) = f.authorized(1000).await;
    // Captured for more than was authorized: not something kassa can record.
    let mut object = f.stripe.fake.intent(&pi);
    object["status"] = json!("succeeded");
    object["amount_received"] = json!(5000);
    let record = f
        .deliver(&new_event_id(), "payment_intent.succeeded", object)
        .await;
    assert_eq!(record.outcome, NoticeOutcome::Unchanged);
    assert!(
        record.detail.as_deref().unwrap().starts_with("not applied"),
        "{record:?}"
    );
    let payment = f.payments.payment(id).await.unwrap();
    assert_eq!(payment.status(), PaymentStatus::RequiresCapture);
    assert_eq!(payment.captured(), eur(0));
}
