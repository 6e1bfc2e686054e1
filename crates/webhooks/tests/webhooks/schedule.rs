//! The retry schedule under a manual clock: every attempt at its documented time and never
//! before, `dead` after the last, a replay that succeeds; and two dispatchers that never send
//! the same attempt.

use std::sync::Arc;
use std::time::Duration;

use kassa_kernel::Timestamp;
use kassa_webhooks::*;

use crate::{event, fixture_with, local_config, Receiver, Reply};

/// The documented window of retry `n`: 30 s × 3^(n−1), capped at 12 h, ±20 %, in ms — written
/// out here rather than asked of the crate.
fn documented_window(n: u32) -> (i64, i64) {
    let nominal = (30_000_i64 * 3_i64.pow(n - 1)).min(12 * 3_600_000);
    (nominal * 8 / 10, nominal * 12 / 10)
}

#[tokio::test]
async fn a_failing_receiver_gets_each_attempt_at_its_documented_time_then_dead_then_a_replay_succeeds(
) {
    // Arrange: five attempts per schedule, a receiver failing the first five requests.
    let max_attempts = 5;
    let f = fixture_with(WebhooksConfig {
        max_attempts,
        ..local_config()
    })
    .await;
    let failures = vec![Reply::Status(500); 5];
    let receiver = Receiver::start(failures, Reply::Status(204)).await;
    let endpoint = f.register(&receiver.url, &["order.placed"]).await.endpoint;
    f.publish("orders", &event("order.placed", 1)).await;

    for attempt in 1..=max_attempts {
        // Act: the attempt that is due now.
        let report = f.deliver().await;

        // Assert
        assert_eq!(receiver.count(), attempt as usize, "attempt {attempt}");
        let detail = f.only_delivery(endpoint.id).await;
        let made = detail.attempts.last().unwrap();
        assert_eq!(made.number, attempt);
        assert_eq!(made.status_code, Some(500));
        assert_eq!(made.attempted_at, f.now());
        if attempt == max_attempts {
            assert_eq!(report.dead, 1);
            assert_eq!(detail.delivery.status, DeliveryStatus::Dead);
            assert_eq!(detail.delivery.next_attempt_at, None);
            break;
        }
        assert_eq!(report.retrying, 1);
        assert_eq!(detail.delivery.status, DeliveryStatus::Retrying);
        let due = detail.delivery.next_attempt_at.unwrap();
        let (earliest, latest) = documented_window(attempt);
        let delay = due.millis() - f.now().millis();
        assert!(
            (earliest..=latest).contains(&delay),
            "retry {attempt} due after {delay} ms, outside {earliest}..={latest}"
        );

        // Act: one millisecond early nothing is sent; at the due time the next attempt is.
        f.clock.set(due.plus_millis(-1));
        assert_eq!(f.deliver().await.attempted, 0);
        assert_eq!(receiver.count(), attempt as usize, "sent early");
        f.clock.set(due);
    }

    // A dead delivery is not sent again, however long one waits.
    f.clock.advance(Duration::from_secs(30 * 24 * 3_600));
    assert_eq!(f.deliver().await.attempted, 0);
    assert_eq!(receiver.count(), max_attempts as usize);

    // Act: replay.
    let dead = f.only_delivery(endpoint.id).await.delivery;
    let replayed = f.webhooks.replay(dead.id).await.unwrap();
    assert_eq!(replayed.status, DeliveryStatus::Pending);
    assert_eq!(replayed.next_attempt_at, Some(f.now()));
    let report = f.deliver().await;

    // Assert: sent once more, succeeded, the history kept.
    assert_eq!(report.succeeded, 1);
    assert_eq!(receiver.count(), max_attempts as usize + 1);
    let detail = f.only_delivery(endpoint.id).await;
    assert_eq!(detail.delivery.status, DeliveryStatus::Succeeded);
    assert_eq!(detail.delivery.attempt_count, max_attempts + 1);
    let numbers: Vec<u32> = detail.attempts.iter().map(|a| a.number).collect();
    assert_eq!(numbers, (1..=max_attempts + 1).collect::<Vec<_>>());
    assert_eq!(detail.attempts.last().unwrap().status_code, Some(204));
    let counts = f.webhooks.delivery_counts().await.unwrap();
    assert_eq!((counts.succeeded, counts.dead), (1, 0));
}

#[tokio::test]
async fn an_injected_jitter_at_either_bound_puts_the_retry_at_the_window_s_edge() {
    for (jitter, expected_ms) in [(200, 36_000), (-200, 24_000), (0, 30_000)] {
        // Arrange
        let base = fixture_with(local_config()).await;
        let store = base.store.clone();
        let clock = base.clock.clone();
        let webhooks = Webhooks::new(store, Arc::new(clock.clone()), local_config())
            .unwrap()
            .with_jitter(Arc::new(FixedJitter(jitter)));
        let receiver = Receiver::start(Vec::new(), Reply::Status(503)).await;
        let endpoint = base.register(&receiver.url, &["*"]).await.endpoint;
        base.publish("payments", &event("payment.captured", 1))
            .await;

        // Act
        webhooks.deliver_due(base.now(), 10).await.unwrap();

        // Assert
        let delivery = base.only_delivery(endpoint.id).await.delivery;
        assert_eq!(
            delivery.next_attempt_at,
            Some(Timestamp::from_millis(base.now().millis() + expected_ms)),
            "jitter {jitter}"
        );
    }
}

#[tokio::test]
async fn two_dispatchers_at_once_never_send_the_same_attempt() {
    // Arrange: two services (two nodes) over one database, twenty due deliveries.
    let f = fixture_with(local_config()).await;
    let other = Webhooks::new(f.store.clone(), Arc::new(f.clock.clone()), local_config()).unwrap();
    let receiver = Receiver::ok().await;
    let endpoint = f.register(&receiver.url, &["order.placed"]).await.endpoint;
    for n in 0..20 {
        f.publish("orders", &event("order.placed", n)).await;
    }

    // Act
    let now = f.now();
    let (a, b) = tokio::join!(
        f.webhooks.deliver_due(now, 100),
        other.deliver_due(now, 100)
    );

    // Assert
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.attempted + b.attempted, 20, "{a:?} {b:?}");
    assert_eq!(receiver.count(), 20);
    let mut ids: Vec<String> = receiver
        .requests()
        .iter()
        .map(|r| r.header("kassa-delivery-id").to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20, "a delivery was sent twice");
    let deliveries = f.deliveries_of(endpoint.id).await;
    assert!(deliveries
        .iter()
        .all(|d| d.status == DeliveryStatus::Succeeded && d.attempt_count == 1));
}
