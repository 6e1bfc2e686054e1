//! Events on the in-process bus: the outbox relays publish every event a checkout records,
//! and a consumer subscribed through the test hooks receives each exactly once, in each
//! district's order — compared with what each district lists at `GET /v1/admin/events`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kassa_events::{BusError, Consumer, Event};
use kassa_server::settings::BusKind;
use kassa_server::{Hooks, Settings};
use reqwest::Method;
use serde_json::Value;

use crate::checkout_helpers::{checkout, confirmed_order, open_shop, ready_cart, PM_SUCCESS};
use crate::helpers::{items_of, TestApp};

/// Remembers every delivery: (source, event id, type).
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<(String, String, String)>>,
}

impl Recorder {
    fn of(&self, source: &str) -> Vec<(String, String)> {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(s, _, _)| s == source)
            .map(|(_, id, kind)| (id.clone(), kind.clone()))
            .collect()
    }
}

#[async_trait]
impl Consumer for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }

    async fn handle(&self, source: &str, event: &Event) -> Result<(), BusError> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).push((
            source.to_owned(),
            event.id.to_string(),
            event.event_type.clone(),
        ));
        Ok(())
    }
}

async fn listed(app: &TestApp, source: &str) -> Vec<(String, String)> {
    let res = app
        .admin(
            Method::GET,
            &format!("/v1/admin/events?source={source}&limit=100"),
            None,
        )
        .await;
    items_of(res.assert_status(200))
        .iter()
        .map(|e: &Value| {
            (
                e["id"].as_str().unwrap_or_default().to_owned(),
                e["type"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_event_of_a_checkout_reaches_a_consumer_once_in_order() {
    let app = checkout_reaches_a_recorder(|settings| settings.workers.relay_interval_ms = 20).await;
    drop(app);
}

/// The same on NATS JetStream (TEST_NATS_URL; CI sets it): the relays publish to a stream of
/// the test's own, and the recorder reads it through its durable consumer.
#[tokio::test]
async fn every_event_of_a_checkout_reaches_a_consumer_once_in_order_on_nats_jetstream() {
    let Ok(url) = std::env::var("TEST_NATS_URL") else {
        eprintln!("skipped: TEST_NATS_URL is not set");
        return;
    };
    let suffix = kassa_events::EventId::new()
        .to_string()
        .trim_start_matches("evt_")
        .to_owned();
    let app = checkout_reaches_a_recorder(|settings| {
        settings.workers.relay_interval_ms = 20;
        settings.events.bus = BusKind::Nats;
        settings.events.nats_url = url;
        settings.events.nats_stream = format!("KASSA_TEST_{suffix}");
        settings.events.nats_subject_prefix = format!("kassa.test.{suffix}");
    })
    .await;
    let nats = app.districts.nats.clone().expect("the app runs on NATS");
    let stored = nats.stream_messages().await.unwrap_or_default();
    assert!(
        stored >= 8,
        "the stream holds the checkout's events: {stored}"
    );
    nats.delete_stream()
        .await
        .expect("the test's stream is deleted");
}

/// Runs a checkout on an app configured by `configure` with a recorder subscribed, and checks
/// that the recorder got every event each district lists, once each, in order.
async fn checkout_reaches_a_recorder(configure: impl FnOnce(&mut Settings)) -> TestApp {
    // Arrange
    let recorder = Arc::new(Recorder::default());
    let app = TestApp::spawn_with_hooks(
        configure,
        Hooks {
            consumers: vec![recorder.clone() as Arc<dyn Consumer>],
            ..Hooks::default()
        },
    )
    .await;
    let shop = open_shop(&app, &[("TEE-M", 2500, 10)]).await;
    let cart = ready_cart(&app, &shop, &[("TEE-M", 2)]).await;

    // Act
    let res = checkout(&app, &cart, PM_SUCCESS).await;
    confirmed_order(&res);

    // Assert: within a few relay intervals, the consumer has what each district recorded.
    let sources = ["orders", "inventory", "payments", "catalog"];
    let mut expected = Vec::new();
    for source in sources {
        expected.push(listed(&app, source).await);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got: Vec<_> = sources.iter().map(|s| recorder.of(s)).collect();
        if got == expected || tokio::time::Instant::now() > deadline {
            assert_eq!(got, expected, "deliveries per source, in order, once each");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let kinds: HashSet<String> = expected
        .iter()
        .flatten()
        .map(|(_, kind)| kind.clone())
        .collect();
    for kind in [
        "catalog.product_created",
        "inventory.reserved",
        "inventory.committed",
    ] {
        assert!(kinds.contains(kind), "no {kind} in {kinds:?}");
    }
    assert!(
        expected[0].len() >= 2 && expected[2].len() >= 2,
        "orders and payments recorded the checkout: {expected:?}"
    );
    // Nothing more arrives later (each event exactly once).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again: Vec<_> = sources.iter().map(|s| recorder.of(s)).collect();
    assert_eq!(again, expected);
    app
}
