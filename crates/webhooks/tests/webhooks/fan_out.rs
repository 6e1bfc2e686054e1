//! The consumer: one delivery per matching enabled endpoint, once per event however often the
//! bus hands it over.

use kassa_webhooks::*;

use crate::{event, fixture, Receiver};

#[tokio::test]
async fn an_event_becomes_one_delivery_per_matching_endpoint_once_even_when_handled_twice() {
    // Arrange
    let f = fixture().await;
    let receiver = Receiver::ok().await;
    let exact = f.register(&receiver.url, &["order.placed"]).await;
    let district = f.register(&receiver.url, &["order.*"]).await;
    let everything = f.register(&receiver.url, &["*"]).await;
    let payments = f.register(&receiver.url, &["payment.*"]).await;
    let disabled = f.register(&receiver.url, &["*"]).await;
    let patch = EndpointPatch::parse(None, None, None, Some(false)).unwrap();
    f.webhooks
        .update_endpoint(disabled.endpoint.id, patch)
        .await
        .unwrap();
    let placed = event("order.placed", 1);

    // Act: the bus hands the same event over twice (a relay retried), and concurrently.
    f.publish("orders", &placed).await;
    f.publish("orders", &placed).await;
    let (a, b) = tokio::join!(f.publish("orders", &placed), f.publish("orders", &placed));
    let () = a;
    let () = b;

    // Assert
    for endpoint in [&exact, &district, &everything] {
        let deliveries = f.deliveries_of(endpoint.endpoint.id).await;
        assert_eq!(deliveries.len(), 1, "{:?}", endpoint.endpoint.event_types);
        let delivery = &deliveries[0];
        assert_eq!(delivery.event_id, placed.id);
        assert_eq!(delivery.event_type, "order.placed");
        assert_eq!(delivery.status, DeliveryStatus::Pending);
        assert_eq!(delivery.next_attempt_at, Some(f.now()));
        assert_eq!(delivery.body, body("orders", &placed));
    }
    assert!(f.deliveries_of(payments.endpoint.id).await.is_empty());
    assert!(f.deliveries_of(disabled.endpoint.id).await.is_empty());
    let counts = f.webhooks.delivery_counts().await.unwrap();
    assert_eq!(counts.pending, 3);
    assert_eq!(receiver.count(), 0, "fan-out records; it does not send");
}

#[tokio::test]
async fn an_event_nobody_subscribes_to_records_nothing_and_a_later_one_still_fans_out() {
    // Arrange
    let f = fixture().await;
    let receiver = Receiver::ok().await;
    let orders = f.register(&receiver.url, &["order.*"]).await;

    // Act
    f.publish("inventory", &event("inventory.reserved", 1))
        .await;
    f.publish("catalog", &event("catalog.product_created", 2))
        .await;
    let placed = event("order.placed", 3);
    f.publish("orders", &placed).await;

    // Assert
    let deliveries = f.deliveries_of(orders.endpoint.id).await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].event_id, placed.id);
    assert_eq!(f.webhooks.delivery_counts().await.unwrap().pending, 1);
}
