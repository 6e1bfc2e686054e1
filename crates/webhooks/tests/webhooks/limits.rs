//! What bounds an attempt: the response body limit, the timeout, and the targets it may reach.

use std::time::{Duration, Instant};

use kassa_webhooks::*;

use crate::{event, fixture_with, local_config, CountingListener, Receiver, Reply};

#[tokio::test]
async fn a_one_mebibyte_response_body_is_kept_only_up_to_the_limit() {
    // Arrange
    let limit = 4 * 1024;
    let f = fixture_with(WebhooksConfig {
        response_body_max_bytes: limit,
        ..local_config()
    })
    .await;
    let receiver = Receiver::start(Vec::new(), Reply::Body(200, 1024 * 1024)).await;
    let endpoint = f.register(&receiver.url, &["order.placed"]).await.endpoint;
    f.publish("orders", &event("order.placed", 1)).await;

    // Act
    let report = f.deliver().await;

    // Assert
    assert_eq!(report.succeeded, 1);
    let attempt = f.only_delivery(endpoint.id).await.attempts.remove(0);
    assert_eq!(attempt.status_code, Some(200));
    assert_eq!(attempt.response_body.len(), limit);
    assert!(attempt.response_body.bytes().all(|b| b == b'x'));
    assert!(attempt.response_body_truncated);
}

#[tokio::test]
async fn a_short_response_body_is_kept_whole() {
    // Arrange
    let f = fixture_with(local_config()).await;
    let receiver = Receiver::start(vec![Reply::Body(422, 10)], Reply::Status(200)).await;
    let endpoint = f.register(&receiver.url, &["*"]).await.endpoint;
    f.publish("orders", &event("order.placed", 1)).await;

    // Act
    f.deliver().await;

    // Assert: a 4xx fails the attempt like any non-2xx.
    let detail = f.only_delivery(endpoint.id).await;
    assert_eq!(detail.delivery.status, DeliveryStatus::Retrying);
    assert_eq!(detail.attempts[0].response_body, "xxxxxxxxxx");
    assert!(!detail.attempts[0].response_body_truncated);
}

#[tokio::test]
async fn a_receiver_that_never_answers_fails_the_attempt_within_the_timeout() {
    // Arrange
    let timeout = Duration::from_millis(300);
    let f = fixture_with(WebhooksConfig {
        timeout,
        ..local_config()
    })
    .await;
    let receiver = Receiver::start(Vec::new(), Reply::Hang).await;
    let endpoint = f.register(&receiver.url, &["order.placed"]).await.endpoint;
    f.publish("orders", &event("order.placed", 1)).await;

    // Act
    let started = Instant::now();
    let report = f.deliver().await;
    let took = started.elapsed();

    // Assert
    assert_eq!(report.retrying, 1);
    assert!(took >= timeout, "gave up after {took:?}");
    assert!(took < timeout + Duration::from_secs(2), "took {took:?}");
    assert_eq!(receiver.count(), 1, "the request did reach the receiver");
    let attempt = f.only_delivery(endpoint.id).await.attempts.remove(0);
    assert_eq!(attempt.status_code, None);
    let error = attempt.error.unwrap_or_default();
    assert!(error.contains("timed out"), "{error}");
    assert!(attempt.duration_ms >= 300, "{}", attempt.duration_ms);
}

#[tokio::test]
async fn private_ip_literals_are_refused_at_registration_unless_allowed() {
    // Arrange
    let strict = fixture_with(WebhooksConfig::default()).await;
    let relaxed = fixture_with(local_config()).await;
    let types = vec!["*".to_owned()];

    for url in [
        "http://127.0.0.1:8080/hooks",
        "http://10.1.2.3/",
        "https://192.168.0.10/",
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.0.1/",
        "http://[::1]/",
        "http://[fd00::1]/",
        "http://[::ffff:192.168.0.1]/",
        "http://0x7f.1/",
    ] {
        // Act
        let input = NewEndpoint::parse(url, &types, None).unwrap();
        let refused = strict.webhooks.create_endpoint(input.clone()).await;
        let allowed = relaxed.webhooks.create_endpoint(input).await;

        // Assert
        assert!(
            matches!(refused, Err(WebhookError::TargetNotAllowed { .. })),
            "{url}: {refused:?}"
        );
        assert!(allowed.is_ok(), "{url}: {allowed:?}");
    }
    assert!(strict.webhooks.endpoints().await.unwrap().is_empty());
    // A public literal and a name pass registration (names are checked when delivering).
    for url in ["https://93.184.216.34/hooks", "https://shop.example/hooks"] {
        let input = NewEndpoint::parse(url, &types, None).unwrap();
        assert!(
            strict.webhooks.create_endpoint(input).await.is_ok(),
            "{url}"
        );
    }
    // Changing an endpoint's url to a private literal is refused too.
    let id = strict.webhooks.endpoints().await.unwrap()[0].id;
    let patch = EndpointPatch::parse(Some("http://192.168.1.1/"), None, None, None).unwrap();
    assert!(matches!(
        strict.webhooks.update_endpoint(id, patch).await,
        Err(WebhookError::TargetNotAllowed { .. })
    ));
}

#[tokio::test]
async fn localhost_is_refused_when_delivering_without_any_connection_being_made() {
    // Arrange: private targets not allowed; a listener that counts connections.
    let f = fixture_with(WebhooksConfig {
        timeout: Duration::from_secs(2),
        ..WebhooksConfig::default()
    })
    .await;
    let listener = CountingListener::start().await;
    let url = format!("http://localhost:{}/hooks", listener.port);
    let endpoint = f.register(&url, &["order.placed"]).await.endpoint;
    f.publish("orders", &event("order.placed", 1)).await;

    // Act
    let report = f.deliver().await;

    // Assert
    assert_eq!(report.retrying, 1, "{report:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(listener.accepted(), 0, "a connection was made");
    let attempt = f.only_delivery(endpoint.id).await.attempts.remove(0);
    assert_eq!(attempt.status_code, None);
    let error = attempt.error.unwrap_or_default();
    assert!(
        error.contains("target refused") && error.contains("loopback"),
        "{error}"
    );
}
