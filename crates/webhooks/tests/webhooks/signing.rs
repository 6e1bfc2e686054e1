//! The `Kassa-Signature` header against an HMAC computed here, independently of the crate, and
//! against Stripe's published vectors; rotation's two signatures and their end.

use std::time::Duration;

use hmac::{Hmac, Mac};
use kassa_webhooks::signature::{header_value, sign};
use kassa_webhooks::*;
use sha2::Sha256;

use crate::{event, fixture, Received, Receiver, START_MS};

/// HMAC-SHA256 of `<t>.<body>` keyed with the secret's UTF-8 bytes, as lower-case hex.
fn independent_v1(secret: &str, t: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// (t, every v1) of a `Kassa-Signature` value.
fn parse(header: &str) -> (String, Vec<String>) {
    let mut t = String::new();
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.to_owned(),
            Some(("v1", value)) => v1.push(value.to_owned()),
            _ => panic!("unexpected part {part:?} in {header:?}"),
        }
    }
    (t, v1)
}

fn signatures_of(request: &Received) -> (String, Vec<String>) {
    parse(request.header("kassa-signature"))
}

#[tokio::test]
async fn a_delivery_is_signed_with_the_hmac_of_timestamp_dot_body_and_named_by_its_headers() {
    // Arrange
    let f = fixture().await;
    let receiver = Receiver::ok().await;
    let created = f.register(&receiver.url, &["order.placed"]).await;
    let placed = event("order.placed", 1);
    f.publish("orders", &placed).await;

    // Act
    let report = f.deliver().await;

    // Assert
    assert_eq!(report.succeeded, 1, "{report:?}");
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    let (t, v1) = signatures_of(request);
    assert_eq!(t, (START_MS / 1_000).to_string());
    assert_eq!(
        v1,
        [independent_v1(created.secret.expose(), &t, &request.body)]
    );
    assert!(created.secret.expose().starts_with("whsec_"));
    let delivery = f.only_delivery(created.endpoint.id).await.delivery;
    assert_eq!(request.header("kassa-event-id"), placed.id.to_string());
    assert_eq!(request.header("kassa-event-type"), "order.placed");
    assert_eq!(request.header("kassa-delivery-id"), delivery.id.to_string());
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(
        request.header("user-agent"),
        format!("kassa-webhooks/{}", env!("CARGO_PKG_VERSION"))
    );
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "id": placed.id.to_string(),
            "type": "order.placed",
            "source": "orders",
            "occurred_at": "2026-11-18T11:06:40.001Z",
            "data": {"n": 1, "note": "ünïcode"},
        })
    );
    assert_eq!(
        request.body,
        delivery.body.as_bytes(),
        "the stored body is what was sent"
    );
    assert_eq!(delivery.status, DeliveryStatus::Succeeded);
}

/// Stripe-Signature vectors produced with Stripe's own Python library (16.1.0) for this
/// project; see shared/reference/stripe/webhook-signature-vectors.json.
#[test]
fn stripe_s_published_signature_vectors_are_reproduced() {
    let payload =
        br#"{"id":"evt_test_webhook","object":"event","type":"payment_intent.succeeded"}"#;
    assert_eq!(
        sign("whsec_test_secret", 1_700_000_000, payload),
        "130dc37d5a27b1b232a61e4f2ff00ed245f498112c11e8b747aff3d0fb754056"
    );
    assert_eq!(
        header_value(
            1_700_000_000,
            payload,
            &["whsec_old_secret", "whsec_test_secret"]
        ),
        "t=1700000000,\
         v1=6daa70102e2f431a83f7b08885d93d13ac419307ea83e0fea4941119ca7c9c70,\
         v1=130dc37d5a27b1b232a61e4f2ff00ed245f498112c11e8b747aff3d0fb754056"
    );
}

#[tokio::test]
async fn after_a_rotation_deliveries_carry_both_signatures_until_the_old_secret_expires() {
    // Arrange
    let f = fixture().await;
    let receiver = Receiver::ok().await;
    let created = f.register(&receiver.url, &["order.*"]).await;
    let old = created.secret.clone();
    let rotation = SecretRotation::parse(Some(3_600)).unwrap();

    // Act: rotate, deliver one event; an hour and a second later, deliver another.
    let rotated = f
        .webhooks
        .rotate_secret(created.endpoint.id, rotation)
        .await
        .unwrap();
    f.publish("orders", &event("order.placed", 1)).await;
    f.deliver().await;
    let shown_during = f.webhooks.endpoint(created.endpoint.id).await.unwrap();
    f.clock.advance(Duration::from_secs(3_601));
    f.publish("orders", &event("order.cancelled", 2)).await;
    f.deliver().await;
    let shown_after = f.webhooks.endpoint(created.endpoint.id).await.unwrap();

    // Assert
    let new = rotated.secret;
    assert_ne!(new, old);
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    let (t, during) = signatures_of(&requests[0]);
    assert_eq!(
        during,
        [
            independent_v1(new.expose(), &t, &requests[0].body),
            independent_v1(old.expose(), &t, &requests[0].body),
        ]
    );
    let (t, after) = signatures_of(&requests[1]);
    assert_eq!(after, [independent_v1(new.expose(), &t, &requests[1].body)]);
    assert_eq!(
        shown_during.previous_secret_expires_at,
        Some(kassa_kernel::Timestamp::from_millis(START_MS + 3_600_000))
    );
    assert_eq!(shown_after.previous_secret_expires_at, None);
}

#[tokio::test]
async fn a_rotation_without_overlap_drops_the_old_secret_at_once_and_over_7_days_is_refused() {
    // Arrange
    let f = fixture().await;
    let receiver = Receiver::ok().await;
    let created = f.register(&receiver.url, &["*"]).await;

    // Act
    let rotated = f
        .webhooks
        .rotate_secret(created.endpoint.id, SecretRotation::parse(Some(0)).unwrap())
        .await
        .unwrap();
    f.publish("catalog", &event("catalog.price_set", 1)).await;
    f.deliver().await;

    // Assert
    let requests = receiver.requests();
    let (t, v1) = signatures_of(&requests[0]);
    assert_eq!(
        v1,
        [independent_v1(
            rotated.secret.expose(),
            &t,
            &requests[0].body
        )]
    );
    assert_eq!(rotated.endpoint.previous_secret_expires_at, None);
    assert!(SecretRotation::parse(Some(7 * 24 * 3_600)).is_ok());
    assert!(matches!(
        SecretRotation::parse(Some(7 * 24 * 3_600 + 1)),
        Err(WebhookError::InvalidRotation { .. })
    ));
    assert_eq!(
        SecretRotation::parse(None).unwrap().overlap(),
        Duration::from_secs(86_400)
    );
}
