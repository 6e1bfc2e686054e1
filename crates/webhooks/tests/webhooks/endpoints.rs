//! Registering, changing and deleting endpoints; listing deliveries.

use kassa_webhooks::*;

use crate::{event, fixture, Receiver};

#[tokio::test]
async fn an_invalid_registration_names_every_bad_field_and_registers_nothing() {
    // Act
    let result = NewEndpoint::parse(
        "ftp://user@shop.example/",
        &["order.placed".to_owned(), "order.shipped".to_owned()],
        Some("bell\u{7}"),
    );

    // Assert
    let Err(WebhookError::InvalidEndpoint(issues)) = result else {
        panic!("accepted: {result:?}");
    };
    let pointers: Vec<&str> = issues.iter().map(|i| i.pointer.as_str()).collect();
    assert_eq!(pointers, ["/url", "/event_types/1", "/description"]);
    let f = fixture().await;
    assert!(f.webhooks.endpoints().await.unwrap().is_empty());
}

#[tokio::test]
async fn endpoints_can_be_listed_changed_and_deleted_and_a_deleted_one_gets_nothing() {
    // Arrange
    let f = fixture().await;
    let receiver = Receiver::ok().await;
    let first = f.register(&receiver.url, &["order.placed"]).await.endpoint;
    let second = f.register(&receiver.url, &["payment.*"]).await.endpoint;
    f.publish("orders", &event("order.placed", 1)).await;

    // Act
    let patch = EndpointPatch::parse(
        None,
        Some(&["order.*".to_owned(), "catalog.price_set".to_owned()]),
        Some("ERP"),
        None,
    )
    .unwrap();
    let changed = f.webhooks.update_endpoint(second.id, patch).await.unwrap();
    let pending = f.deliveries_of(first.id).await;
    f.webhooks.delete_endpoint(first.id).await.unwrap();
    let report = f.deliver().await;

    // Assert
    assert_eq!(
        changed.event_types.to_strings(),
        ["order.*", "catalog.price_set"]
    );
    assert_eq!(changed.description.as_str(), "ERP");
    assert!(changed.enabled);
    let listed: Vec<WebhookId> = f
        .webhooks
        .endpoints()
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(listed, [second.id]);
    assert_eq!(report.attempted, 0);
    assert_eq!(receiver.count(), 0, "a deleted endpoint was sent to");
    assert!(matches!(
        f.webhooks.delivery(pending[0].id).await,
        Err(WebhookError::DeliveryNotFound(_))
    ));
    assert!(matches!(
        f.webhooks.endpoint(first.id).await,
        Err(WebhookError::EndpointNotFound(_))
    ));
    assert!(matches!(
        f.webhooks.delete_endpoint(first.id).await,
        Err(WebhookError::EndpointNotFound(_))
    ));
}

#[tokio::test]
async fn the_fifty_first_endpoint_is_refused() {
    // Arrange
    let f = fixture().await;
    for n in 0..ENDPOINTS_MAX {
        f.register(&format!("https://shop.example/hooks/{n}"), &["*"])
            .await;
    }

    // Act
    let input =
        NewEndpoint::parse("https://shop.example/one-more", &["*".to_owned()], None).unwrap();
    let refused = f.webhooks.create_endpoint(input).await;

    // Assert
    assert!(matches!(
        refused,
        Err(WebhookError::TooManyEndpoints { max: 50 })
    ));
    assert_eq!(f.webhooks.endpoints().await.unwrap().len(), ENDPOINTS_MAX);
}

#[tokio::test]
async fn deliveries_are_listed_newest_first_by_status_and_in_pages() {
    // Arrange: three events for one endpoint.
    let f = fixture().await;
    let receiver = Receiver::ok().await;
    let endpoint = f.register(&receiver.url, &["order.*"]).await.endpoint;
    let mut events = Vec::new();
    for n in 1..=3 {
        let e = event("order.placed", n);
        f.publish("orders", &e).await;
        events.push(e.id);
    }

    // Act
    let page = |status, after, limit| DeliveryFilter {
        status,
        after,
        limit,
    };
    let first = f
        .webhooks
        .deliveries(endpoint.id, page(None, None, 2))
        .await
        .unwrap();
    let second = f
        .webhooks
        .deliveries(endpoint.id, page(None, Some(first[1].id), 2))
        .await
        .unwrap();
    f.deliver().await;
    let succeeded = f
        .webhooks
        .deliveries(endpoint.id, page(Some(DeliveryStatus::Succeeded), None, 10))
        .await
        .unwrap();
    let pending = f
        .webhooks
        .deliveries(endpoint.id, page(Some(DeliveryStatus::Pending), None, 10))
        .await
        .unwrap();

    // Assert
    let ids = |page: &[Delivery]| page.iter().map(|d| d.event_id).collect::<Vec<_>>();
    assert_eq!(ids(&first), [events[2], events[1]]);
    assert_eq!(ids(&second), [events[0]]);
    assert_eq!(succeeded.len(), 3);
    assert!(pending.is_empty());
    assert!(matches!(
        f.webhooks
            .deliveries(WebhookId::new(), page(None, None, 10))
            .await,
        Err(WebhookError::EndpointNotFound(_))
    ));
}
