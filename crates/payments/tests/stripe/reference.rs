//! Stripe's own example objects parse into the connector's types, and the signature vectors
//! made with Stripe's library behave as they say.

use std::time::Duration;

use kassa_kernel::{Clock, Timestamp};
use kassa_payments::connectors::stripe::wire::{
    Charge, PaymentIntent, PaymentIntentStatus, Refund,
};
use kassa_payments::connectors::stripe::{
    parse_event, verify_signature, EventObject, SignatureError, STRIPE_WEBHOOK_TOLERANCE_DEFAULT,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use super::openapi::{load_reference, Mode, Spec};
use super::{setup, WEBHOOK_SECRET};

fn fixtures() -> Value {
    load_reference("fixtures-subset.json")["resources"].clone()
}

#[test]
fn stripe_example_objects_parse_into_the_connector_types() {
    let fixtures = fixtures();
    let intent: PaymentIntent = serde_json::from_value(fixtures["payment_intent"].clone()).unwrap();
    assert_eq!(intent.id, "pi_1NnlpVGPxmnHQRkJNuz3w9tH");
    assert_eq!(intent.status, PaymentIntentStatus::RequiresPaymentMethod);
    assert_eq!((intent.amount, intent.currency.as_str()), (1099, "usd"));
    assert_eq!(
        intent
            .client_secret
            .as_ref()
            .map(|s| s.expose_secret().to_owned()),
        fixtures["payment_intent"]["client_secret"]
            .as_str()
            .map(str::to_owned)
    );
    assert!(!format!("{intent:?}").contains("_secret_"));

    let refund: Refund = serde_json::from_value(fixtures["refund"].clone()).unwrap();
    assert_eq!(refund.id, "re_1NnmX5GPxmnHQRkJzG1txqB9");
    assert_eq!(refund.status.as_deref(), Some("succeeded"));
    assert_eq!(
        refund.charge.map(|c| c.0).as_deref(),
        Some("ch_1NnlpSGPxmnHQRkJcYsK19E8")
    );
    assert_eq!(refund.payment_intent, None);

    let charge: Charge = serde_json::from_value(fixtures["charge"].clone()).unwrap();
    assert_eq!(charge.id, "ch_1NnlpSGPxmnHQRkJcYsK19E8");
    assert_eq!(
        (charge.amount, charge.captured, charge.status.as_str()),
        (100, false, "succeeded")
    );

    // The example event is about a plan: kept by name, envelope read.
    let event = parse_event(fixtures["event"].to_string().as_bytes()).unwrap();
    assert_eq!(event.id, "evt_1NnmXEGPxmnHQRkJO3bak93X");
    assert_eq!(event.event_type, "plan.created");
    assert_eq!(event.created, 1_234_567_890);
    assert!(matches!(event.object, EventObject::Other { ref object } if object == "plan"));
}

#[test]
fn events_carrying_each_example_object_parse_into_typed_objects() {
    let fixtures = fixtures();
    for (kind, event_type) in [
        ("payment_intent", "payment_intent.succeeded"),
        ("charge", "charge.refunded"),
        ("refund", "refund.updated"),
    ] {
        let mut envelope = fixtures["event"].clone();
        envelope["type"] = json!(event_type);
        envelope["data"]["object"] = fixtures[kind].clone();
        let event = parse_event(envelope.to_string().as_bytes()).unwrap();
        let id = match &event.object {
            EventObject::PaymentIntent(intent) => intent.id.clone(),
            EventObject::Charge(charge) => charge.id.clone(),
            EventObject::Refund(refund) => refund.id.clone(),
            other => panic!("{kind} parsed as {other:?}"),
        };
        assert_eq!(id, fixtures[kind]["id"].as_str().unwrap());
    }
    // A dispute, shaped by the spec's required fields (the fixtures have none).
    let mut envelope = fixtures["event"].clone();
    envelope["type"] = json!("charge.dispute.created");
    envelope["data"]["object"] = json!({"id": "dp_1", "object": "dispute", "amount": 1000, "currency": "eur",
        "charge": {"id": "ch_1", "object": "charge"}, "payment_intent": "pi_1", "reason": "fraudulent",
        "status": "needs_response", "livemode": false, "created": 1});
    let event = parse_event(envelope.to_string().as_bytes()).unwrap();
    let EventObject::Dispute(dispute) = event.object else {
        panic!("not a dispute")
    };
    assert_eq!(
        (dispute.charge.0.as_str(), dispute.status.as_str()),
        ("ch_1", "needs_response")
    );
}

/// Validates Stripe's fixtures with the same checker the request tests use: zero errors, as the
/// reference README reports with the `nullable` rule, and an error once a required field goes.
#[test]
fn stripe_example_objects_validate_against_their_schemas() {
    let spec = Spec::load();
    let fixtures = fixtures();
    for kind in [
        "payment_intent",
        "refund",
        "charge",
        "payment_method",
        "event",
    ] {
        let errors = spec.validate(spec.component(kind), &fixtures[kind], Mode::Json);
        assert_eq!(errors, Vec::<String>::new(), "{kind}");
    }
    let mut broken = fixtures["payment_intent"].clone();
    broken.as_object_mut().unwrap().remove("status");
    broken["capture_method"] = json!("later");
    let errors = spec.validate(spec.component("payment_intent"), &broken, Mode::Json);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("required property status")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("/capture_method")),
        "{errors:?}"
    );
}

/// What the fake answers with is what Stripe would: its objects validate too.
#[tokio::test]
async fn the_fake_answers_with_objects_that_validate() {
    use kassa_payments::gateway::{AuthorizeOutcome, PaymentGateway};
    use kassa_payments::{IdempotencyKey, PaymentId, RefundId};
    let s = setup().await;
    let spec = Spec::load();
    let request = super::authorize_request(super::eur(900), super::fake::PM_VISA, None);
    let AuthorizeOutcome::Authorized { gateway_ref } = s.gateway.authorize(&request).await.unwrap()
    else {
        panic!("not authorized")
    };
    s.gateway
        .capture(
            &gateway_ref,
            super::eur(900),
            &IdempotencyKey::capture(PaymentId::new()),
        )
        .await
        .unwrap();
    s.gateway
        .refund(
            &gateway_ref,
            super::eur(100),
            &IdempotencyKey::refund(RefundId::new()),
        )
        .await
        .unwrap();
    let objects = s.fake.all_objects();
    assert_eq!(objects.len(), 2);
    for object in objects {
        let kind = object["object"].as_str().unwrap().to_owned();
        let errors = spec.validate(spec.component(&kind), &object, Mode::Json);
        assert_eq!(errors, Vec::<String>::new(), "{kind}");
    }
}

#[test]
fn every_signature_vector_behaves_as_it_says() {
    let vectors = load_reference("webhook-signature-vectors.json");
    let vectors = vectors["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 4);
    let tolerance = STRIPE_WEBHOOK_TOLERANCE_DEFAULT;
    for vector in vectors {
        let name = vector["name"].as_str().unwrap();
        let header = vector["header"].as_str().unwrap();
        let body = vector["payload"].as_str().unwrap().as_bytes();
        let signed_at = Timestamp::from_millis(vector["timestamp"].as_i64().unwrap() * 1000);
        for (secret_field, valid_field) in [
            ("secret", "valid_for_secret"),
            ("other_secret", "valid_for_other_secret"),
        ] {
            let Some(secret) = vector[secret_field].as_str() else {
                continue;
            };
            let expected = vector[valid_field].as_bool().unwrap();
            let secrets = [SecretString::from(secret)];
            let result = verify_signature(header, body, &secrets, signed_at, tolerance);
            assert_eq!(
                result.is_ok(),
                expected,
                "{name} with {secret_field}: {result:?}"
            );
        }
    }
    // The signer the tests use elsewhere computes the vector's own v1.
    let single = &vectors[0];
    assert_eq!(
        sign(
            single["secret"].as_str().unwrap(),
            single["timestamp"].as_i64().unwrap(),
            single["payload"].as_str().unwrap()
        ),
        single["expected_v1"].as_str().unwrap()
    );
    // Rotation: either secret, or both configured, verifies the two-v1 header.
    let rotation = &vectors[1];
    let both = [
        SecretString::from("whsec_unrelated"),
        SecretString::from("whsec_old_secret"),
    ];
    let signed_at = Timestamp::from_millis(rotation["timestamp"].as_i64().unwrap() * 1000);
    verify_signature(
        rotation["header"].as_str().unwrap(),
        rotation["payload"].as_str().unwrap().as_bytes(),
        &both,
        signed_at,
        tolerance,
    )
    .unwrap();
    // v0 only: refused for having no v1 at all (no downgrade).
    let v0 = &vectors[3];
    assert_eq!(
        verify_signature(
            v0["header"].as_str().unwrap(),
            v0["payload"].as_str().unwrap().as_bytes(),
            &[SecretString::from(WEBHOOK_SECRET)],
            signed_at,
            tolerance
        ),
        Err(SignatureError::NoV1Signature)
    );
}

#[test]
fn an_expired_or_future_signature_fails_even_when_it_matches() {
    let vectors = load_reference("webhook-signature-vectors.json");
    let vector = &vectors["vectors"][0];
    let header = vector["header"].as_str().unwrap();
    let body = vector["payload"].as_str().unwrap().as_bytes();
    let t_ms = vector["timestamp"].as_i64().unwrap() * 1000;
    let secrets = [SecretString::from(vector["secret"].as_str().unwrap())];
    let check = |now_ms: i64| {
        verify_signature(
            header,
            body,
            &secrets,
            Timestamp::from_millis(now_ms),
            Duration::from_secs(300),
        )
    };
    assert_eq!(check(t_ms + 300_000), Ok(()));
    assert!(matches!(
        check(t_ms + 300_001),
        Err(SignatureError::OutsideTolerance { .. })
    ));
    assert!(matches!(
        check(t_ms + 86_400_000),
        Err(SignatureError::OutsideTolerance { .. })
    ));
    assert!(matches!(
        check(t_ms - 300_001),
        Err(SignatureError::OutsideTolerance { .. })
    ));
}

/// The gateway's own entry point for the later webhook route: its secrets, its clock.
#[tokio::test]
async fn the_gateway_verifies_and_reads_a_webhook_with_its_clock() {
    let s = setup().await;
    let vectors = load_reference("webhook-signature-vectors.json");
    let vector = &vectors["vectors"][0];
    let header = vector["header"].as_str().unwrap();
    let body = vector["payload"].as_str().unwrap().as_bytes();
    s.clock.set(Timestamp::from_millis(
        vector["timestamp"].as_i64().unwrap() * 1000 + 10_000,
    ));
    // The vector's payload is a bare envelope without data: signed right, but not an event.
    let err = s.gateway.verify_webhook(header, body).unwrap_err();
    assert!(err.to_string().contains("not a Stripe event"), "{err}");
    s.clock.advance(Duration::from_secs(300));
    let err = s.gateway.verify_webhook(header, body).unwrap_err();
    assert!(err.to_string().contains("tolerance"), "{err}");

    // A whole event, signed here the way the vectors were, reads back typed.
    let mut event = fixtures()["event"].clone();
    event["type"] = json!("payment_intent.amount_capturable_updated");
    event["data"]["object"] = fixtures()["payment_intent"].clone();
    let body = event.to_string();
    let t = s.clock.now().millis() / 1000 - 5;
    let header = format!("t={t},v0=00,v1={}", sign(WEBHOOK_SECRET, t, &body));
    let event = s.gateway.verify_webhook(&header, body.as_bytes()).unwrap();
    assert!(matches!(event.object, EventObject::PaymentIntent(ref pi) if pi.amount == 1099));
    let tampered = body.replace("1099", "1098");
    assert!(s
        .gateway
        .verify_webhook(&header, tampered.as_bytes())
        .is_err());
}

/// `hex(HMAC-SHA256(secret, "t.body"))`, the algorithm the vectors file states.
fn sign(secret: &str, t: i64, body: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
