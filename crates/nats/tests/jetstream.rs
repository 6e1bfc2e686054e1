//! The JetStream bus against a real NATS server, named by `TEST_NATS_URL` (CI sets
//! `nats://127.0.0.1:4222`). Without it each test that needs the server says so on stderr and
//! passes; with it, an unreachable server fails the test. Each test has its own stream and subject
//! prefix (random suffix), deleted when it ends, so the tests run in parallel.
//!
//! What they prove: events reach each consumer once, in publish order, across aggregates and
//! sources; a re-published id is stored once; a failing event comes back before later ones; a
//! durable consumer resumes after its last ack; concurrent start-ups share one stream and leave
//! it as it is; an unreachable server fails `connect` in time; a relay that crashed between
//! publishing and marking (on SQLite, or PostgreSQL with `TEST_DATABASE_URL`) is absorbed by the
//! server's duplicate window.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kassa_db::Migration;
use kassa_events::{
    append, outbox_table_sql, Bus, BusError, Consumer, Event, EventId, NewEvent, Relay, RelayError,
    RelayFaults,
};
use kassa_kernel::{ManualClock, Timestamp};
use kassa_nats::{JetStreamBus, NatsConfig, NatsError};
use kassa_testkit::TestDb;
use serde_json::json;
use tokio::sync::watch;

const URL_VAR: &str = "TEST_NATS_URL";
/// How long a test waits for something that should happen within milliseconds.
const DEADLINE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Fixture: a private stream per test.

/// The server to test against, or `None` (after saying so) when the run has none.
fn nats_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_string()),
        _ => {
            eprintln!("skipped: TEST_NATS_URL is not set");
            None
        }
    }
}

/// A stream name and subject prefix no other test uses; the stream is deleted on drop, also
/// when the test failed.
struct TestStream {
    config: NatsConfig,
}

impl TestStream {
    fn new(url: &str) -> TestStream {
        let suffix = EventId::new().as_uuid().simple().to_string();
        TestStream {
            config: NatsConfig {
                url: url.to_string(),
                stream: format!("KASSA_TEST_{suffix}"),
                subject_prefix: format!("kassa-test.{suffix}"),
                // Left behind only if the deleting below fails; then the server drops it soon.
                max_age: Duration::from_secs(60 * 60),
                ..NatsConfig::default()
            },
        }
    }

    async fn bus(&self) -> JetStreamBus {
        JetStreamBus::connect(self.config.clone())
            .await
            .unwrap_or_else(|err| panic!("{URL_VAR} is set but connecting failed: {err:?}"))
    }

    /// A plain JetStream handle on the same server, to look behind the bus.
    async fn raw(&self) -> async_nats::jetstream::Context {
        async_nats::jetstream::new(async_nats::connect(self.config.url.as_str()).await.unwrap())
    }
}

impl Drop for TestStream {
    fn drop(&mut self) {
        let url = self.config.url.clone();
        let stream = self.config.stream.clone();
        // Drop cannot await; a thread with its own runtime works inside the test's runtime too.
        let deleted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let client = async_nats::connect(url.as_str()).await?;
                async_nats::jetstream::new(client)
                    .delete_stream(&stream)
                    .await?;
                Ok::<_, async_nats::Error>(())
            })
        })
        .join();
        if !matches!(deleted, Ok(Ok(()))) {
            eprintln!("could not delete test stream {}", self.config.stream);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A consumer that records what it was given.

#[derive(Debug, Clone, PartialEq)]
struct Attempt {
    source: String,
    id: EventId,
    event_type: String,
    ok: bool,
}

/// Records every attempt as (source, event id, type, outcome); fails the first `k` attempts at
/// the events it was told to.
struct Recorder {
    name: String,
    attempts: Mutex<Vec<Attempt>>,
    failures_left: Mutex<HashMap<EventId, usize>>,
}

impl Recorder {
    fn new(name: &str) -> Arc<Recorder> {
        Arc::new(Recorder {
            name: name.to_string(),
            attempts: Mutex::new(Vec::new()),
            failures_left: Mutex::new(HashMap::new()),
        })
    }

    fn failing(name: &str, event: EventId, times: usize) -> Arc<Recorder> {
        let recorder = Recorder::new(name);
        recorder.failures_left.lock().unwrap().insert(event, times);
        recorder
    }

    fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().unwrap().clone()
    }

    /// (source, id, type) of each event handled successfully, in handling order.
    fn handled(&self) -> Vec<(String, EventId, String)> {
        self.attempts()
            .into_iter()
            .filter(|a| a.ok)
            .map(|a| (a.source, a.id, a.event_type))
            .collect()
    }

    fn handled_ids(&self) -> Vec<EventId> {
        self.handled().into_iter().map(|(_, id, _)| id).collect()
    }
}

#[async_trait]
impl Consumer for Recorder {
    fn name(&self) -> &str {
        &self.name
    }

    async fn handle(&self, source: &str, event: &Event) -> Result<(), BusError> {
        let fail = match self.failures_left.lock().unwrap().get_mut(&event.id) {
            Some(left) if *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        };
        self.attempts.lock().unwrap().push(Attempt {
            source: source.to_string(),
            id: event.id,
            event_type: event.event_type.clone(),
            ok: !fail,
        });
        if fail {
            Err(BusError("told to fail".into()))
        } else {
            Ok(())
        }
    }
}

/// A started consumer runner and the switch that stops it.
struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn start(bus: &JetStreamBus, consumer: Arc<Recorder>) -> Running {
        let (stop, stopped) = watch::channel(false);
        let task = bus.spawn_consumer(consumer, stopped).await.unwrap();
        Running { stop, task }
    }

    /// Stops the runner and waits for it to end, which it must do promptly.
    async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("the runner stops when told")
            .unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Polls `check` until it holds, failing the test after [`DEADLINE`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < DEADLINE,
            "timed out after {DEADLINE:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `recorder` handled `n` events and the server holds nothing unacknowledged for it,
/// so nothing more can arrive; then its record is final.
async fn settled(bus: &JetStreamBus, recorder: &Recorder, n: usize) {
    eventually(&format!("{} handled {n} events", recorder.name), || async {
        recorder.handled().len() >= n && bus.consumer_pending(&recorder.name).await.unwrap() == 0
    })
    .await;
}

fn event(aggregate: &str, n: i64) -> Event {
    Event {
        id: EventId::new(),
        event_type: format!("demo.step{}", n % 3),
        version: 1,
        aggregate_id: aggregate.to_string(),
        occurred_at: Timestamp::from_millis(1_000 + n),
        data: json!({"n": n}),
        published_at: None,
    }
}

async fn publish_all(bus: &JetStreamBus, events: &[(&str, Event)]) {
    for (source, event) in events {
        bus.publish(source, event).await.unwrap();
    }
}

fn expected(events: &[(&str, Event)]) -> Vec<(String, EventId, String)> {
    events
        .iter()
        .map(|(source, e)| (source.to_string(), e.id, e.event_type.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Delivery: once each, in order.

#[tokio::test]
async fn events_of_several_aggregates_reach_each_consumer_once_in_publish_order() {
    let Some(url) = nats_url() else { return };
    let test = TestStream::new(&url);
    let bus = test.bus().await;
    let sources = ["orders", "inventory", "payments"];
    let events: Vec<(&str, Event)> = (0..12)
        .map(|n| {
            let aggregate = ["agg-a", "agg-b", "agg-c"][(n % 3) as usize];
            (sources[(n % 2) as usize], event(aggregate, n))
        })
        .collect();

    // Half before the consumers exist (caught up from the stream), half while they run.
    publish_all(&bus, &events[..6]).await;
    let search = Recorder::new("search");
    let mail = Recorder::new("mail");
    let search_run = Running::start(&bus, search.clone()).await;
    let mail_run = Running::start(&bus, mail.clone()).await;
    publish_all(&bus, &events[6..]).await;

    settled(&bus, &search, 12).await;
    settled(&bus, &mail, 12).await;
    assert_eq!(search.handled(), expected(&events));
    assert_eq!(mail.handled(), expected(&events));
    assert!(search.attempts().iter().all(|a| a.ok));
    assert_eq!(bus.stream_messages().await.unwrap(), 12);
    search_run.stop().await;
    mail_run.stop().await;
}

#[tokio::test]
async fn the_decoded_event_equals_the_published_one() {
    let Some(url) = nats_url() else { return };
    let test = TestStream::new(&url);
    let bus = test.bus().await;
    let sent = Event {
        data: json!({"lines": [{"sku": "TSHIRT-RED-M", "quantity": 2}], "note": "ünïcode"}),
        version: 3,
        ..event("ord_1", 7)
    };
    bus.publish("orders", &sent).await.unwrap();

    struct Keep(Mutex<Vec<(String, Event)>>);
    #[async_trait]
    impl Consumer for Keep {
        fn name(&self) -> &str {
            "keep"
        }
        async fn handle(&self, source: &str, event: &Event) -> Result<(), BusError> {
            self.0
                .lock()
                .unwrap()
                .push((source.to_string(), event.clone()));
            Ok(())
        }
    }
    let keep = Arc::new(Keep(Mutex::new(Vec::new())));
    let (stop, stopped) = watch::channel(false);
    let task = bus.spawn_consumer(keep.clone(), stopped).await.unwrap();
    eventually("the event arrived", || async {
        !keep.0.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(
        keep.0.lock().unwrap().clone(),
        vec![("orders".to_string(), sent)]
    );
    stop.send(true).unwrap();
    tokio::time::timeout(DEADLINE, task).await.unwrap().unwrap();
}

// ---------------------------------------------------------------------------------------------
// 2. Deduplication by event id.

#[tokio::test]
async fn an_event_published_twice_is_stored_once_and_handled_once() {
    let Some(url) = nats_url() else { return };
    let test = TestStream::new(&url);
    let bus = test.bus().await;
    let first = event("agg-a", 1);
    let barrier = event("agg-a", 2);

    bus.publish("orders", &first).await.unwrap();
    bus.publish("orders", &first).await.unwrap();
    bus.publish("orders", &barrier).await.unwrap();
    assert_eq!(bus.stream_messages().await.unwrap(), 2);

    let recorder = Recorder::new("dedup");
    let run = Running::start(&bus, recorder.clone()).await;
    settled(&bus, &recorder, 2).await;
    assert_eq!(recorder.handled_ids(), vec![first.id, barrier.id]);

    // Once more after it was consumed: still dropped, and nothing new reaches the consumer
    // (the event after it is the only new arrival).
    bus.publish("orders", &first).await.unwrap();
    let after = event("agg-a", 3);
    bus.publish("orders", &after).await.unwrap();
    settled(&bus, &recorder, 3).await;
    assert_eq!(recorder.handled_ids(), vec![first.id, barrier.id, after.id]);
    assert_eq!(bus.stream_messages().await.unwrap(), 3);
    run.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 3. A failing event keeps its place.

#[tokio::test]
async fn a_failing_event_comes_back_before_any_event_after_it() {
    let Some(url) = nats_url() else { return };
    let test = TestStream::new(&url);
    let bus = test.bus().await;
    let events = [
        ("orders", event("agg-a", 1)),
        ("orders", event("agg-a", 2)),
        ("inventory", event("agg-b", 3)),
        ("orders", event("agg-a", 4)),
    ];
    publish_all(&bus, &events).await;

    // Three failures: 100 + 200 + 400 ms of backoff before the fourth attempt succeeds.
    let recorder = Recorder::failing("flaky", events[1].1.id, 3);
    let run = Running::start(&bus, recorder.clone()).await;
    settled(&bus, &recorder, 4).await;

    let attempts: Vec<(EventId, bool)> = recorder.attempts().iter().map(|a| (a.id, a.ok)).collect();
    let [e1, e2, e3, e4] = [0, 1, 2, 3].map(|i| events[i].1.id);
    assert_eq!(
        attempts,
        vec![
            (e1, true),
            (e2, false),
            (e2, false),
            (e2, false),
            (e2, true),
            (e3, true),
            (e4, true)
        ]
    );
    run.stop().await;
}

#[tokio::test]
async fn an_undecodable_message_is_set_aside_and_does_not_block_the_consumer() {
    let Some(url) = nats_url() else { return };
    let test = TestStream::new(&url);
    let bus = test.bus().await;
    let raw = test.raw().await;
    let subject = format!("{}.orders.order.placed", test.config.subject_prefix);
    raw.publish(subject, "not an envelope".into())
        .await
        .unwrap()
        .await
        .unwrap();
    let good = event("agg-a", 1);
    bus.publish("orders", &good).await.unwrap();

    let recorder = Recorder::new("tolerant");
    let run = Running::start(&bus, recorder.clone()).await;
    settled(&bus, &recorder, 1).await;
    assert_eq!(recorder.handled_ids(), vec![good.id]);
    assert_eq!(recorder.attempts().len(), 1);
    run.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 4. Durable consumers resume.

#[tokio::test]
async fn a_durable_consumer_resumes_after_its_last_acknowledged_event() {
    let Some(url) = nats_url() else { return };
    let test = TestStream::new(&url);
    let bus = test.bus().await;
    let before: Vec<(&str, Event)> = (1..=3).map(|n| ("orders", event("agg-a", n))).collect();
    let after: Vec<(&str, Event)> = (4..=6).map(|n| ("orders", event("agg-a", n))).collect();

    let first = Recorder::new("resumer");
    let run = Running::start(&bus, first.clone()).await;
    publish_all(&bus, &before).await;
    settled(&bus, &first, 3).await;
    run.stop().await;

    publish_all(&bus, &after).await;
    assert_eq!(bus.consumer_pending("resumer").await.unwrap(), 3);
    assert_eq!(
        first.handled(),
        expected(&before),
        "the stopped runner got nothing more"
    );

    let second = Recorder::new("resumer");
    let run = Running::start(&bus, second.clone()).await;
    settled(&bus, &second, 3).await;
    assert_eq!(second.handled(), expected(&after));
    assert_eq!(first.handled().len(), 3);
    run.stop().await;
}

#[tokio::test]
async fn a_consumer_told_to_stop_before_it_starts_ends_at_once() {
    let Some(url) = nats_url() else { return };
    let test = TestStream::new(&url);
    let bus = test.bus().await;
    bus.publish("orders", &event("agg-a", 1)).await.unwrap();
    let recorder = Recorder::new("stopped");
    let (stop, stopped) = watch::channel(true);
    let task = bus.spawn_consumer(recorder.clone(), stopped).await.unwrap();
    tokio::time::timeout(DEADLINE, task).await.unwrap().unwrap();
    assert!(recorder.attempts().is_empty());
    // The durable consumer exists all the same, with the event waiting for it.
    assert_eq!(bus.consumer_pending("stopped").await.unwrap(), 1);
    drop(stop);
}

// ---------------------------------------------------------------------------------------------
// 5. Start-up is idempotent.

#[tokio::test]
async fn concurrent_connects_both_succeed_and_share_one_stream() {
    let Some(url) = nats_url() else { return };
    let test = TestStream::new(&url);
    let (one, two) = tokio::join!(
        JetStreamBus::connect(test.config.clone()),
        JetStreamBus::connect(test.config.clone())
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    one.publish("orders", &event("agg-a", 1)).await.unwrap();
    two.publish("orders", &event("agg-a", 2)).await.unwrap();
    assert_eq!(one.stream_messages().await.unwrap(), 2);
    assert_eq!(two.stream_messages().await.unwrap(), 2);

    let raw = test.raw().await;
    let found = raw
        .stream_by_subject(format!("{}.orders.x", test.config.subject_prefix))
        .await
        .unwrap();
    assert_eq!(found, test.config.stream, "one stream holds our subjects");
    let info = raw
        .get_stream(&test.config.stream)
        .await
        .unwrap()
        .cached_info()
        .clone();
    assert_eq!(
        info.config.subjects,
        vec![format!("{}.>", test.config.subject_prefix)]
    );
    assert_eq!(
        info.config.storage,
        async_nats::jetstream::stream::StorageType::File
    );
    assert_eq!(
        info.config.retention,
        async_nats::jetstream::stream::RetentionPolicy::Limits
    );
    assert_eq!(info.config.duplicate_window, Duration::from_secs(120));
    assert_eq!(info.config.max_age, Duration::from_secs(3600));
}

#[tokio::test]
async fn connecting_to_an_existing_stream_leaves_its_settings_alone() {
    let Some(url) = nats_url() else { return };
    let test = TestStream::new(&url);
    let bus = test.bus().await;
    bus.publish("orders", &event("agg-a", 1)).await.unwrap();

    let other = NatsConfig {
        duplicate_window: Duration::from_secs(30),
        max_age: Duration::from_secs(600),
        ..test.config.clone()
    };
    let again = JetStreamBus::connect(other).await.unwrap();
    assert_eq!(again.stream_messages().await.unwrap(), 1);
    let info = test
        .raw()
        .await
        .get_stream(&test.config.stream)
        .await
        .unwrap()
        .cached_info()
        .clone();
    assert_eq!(info.config.duplicate_window, Duration::from_secs(120));
    assert_eq!(info.config.max_age, Duration::from_secs(3600));
}

#[tokio::test]
async fn a_stream_that_does_not_listen_on_our_subjects_is_refused() {
    let Some(url) = nats_url() else { return };
    let test = TestStream::new(&url);
    test.bus().await;
    let elsewhere = NatsConfig {
        subject_prefix: format!("{}-other", test.config.subject_prefix),
        ..test.config.clone()
    };
    let refused = JetStreamBus::connect(elsewhere).await;
    assert!(
        matches!(refused, Err(NatsError::StreamSubjects { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn publishing_with_no_stream_is_a_bus_error_not_a_hang() {
    let Some(url) = nats_url() else { return };
    let test = TestStream::new(&url);
    let bus = test.bus().await;
    test.raw()
        .await
        .delete_stream(&test.config.stream)
        .await
        .unwrap();
    let started = Instant::now();
    let failed = bus.publish("orders", &event("agg-a", 1)).await;
    assert!(failed.is_err(), "{failed:?}");
    assert!(started.elapsed() <= test.config.request_timeout + Duration::from_secs(1));
    assert!(bus.stream_messages().await.is_err());
}

// ---------------------------------------------------------------------------------------------
// 6. An unreachable server. Needs no NATS server, so it runs in every run.

async fn connect_fails_in_time(url: String) {
    let config = NatsConfig {
        url,
        request_timeout: Duration::from_secs(1),
        ..NatsConfig::default()
    };
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(5), JetStreamBus::connect(config))
        .await
        .expect("connect must not hang past its request timeout");
    assert!(
        matches!(result, Err(NatsError::Connect { .. })),
        "{result:?}"
    );
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1_500), "took {took:?}");
}

#[tokio::test]
async fn connecting_to_a_closed_port_fails_within_the_request_timeout() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    connect_fails_in_time(format!("nats://127.0.0.1:{port}")).await;
}

#[tokio::test]
async fn connecting_to_a_server_that_never_answers_fails_within_the_request_timeout() {
    // Accepts the TCP connection (the kernel's backlog does) but never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    connect_fails_in_time(format!("nats://user:secret@127.0.0.1:{port}")).await;
    drop(silent);
}

#[tokio::test]
async fn a_connect_error_does_not_show_the_password() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = NatsConfig {
        url: format!("nats://user:secret@127.0.0.1:{port}"),
        request_timeout: Duration::from_secs(1),
        ..NatsConfig::default()
    };
    let err = JetStreamBus::connect(config).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("secret"), "{shown}");
    assert!(shown.contains(&format!("127.0.0.1:{port}")), "{shown}");
}

// ---------------------------------------------------------------------------------------------
// The relay on top: a crash between publish and mark, absorbed by the duplicate window.

const OUTBOX: &str = "demo_outbox";

struct CrashAfter(i64);

impl RelayFaults for CrashAfter {
    fn crash_after_publish(&self, event: &Event) -> bool {
        event.data["n"].as_i64() == Some(self.0)
    }
}

#[tokio::test]
async fn a_relay_crash_between_publish_and_mark_is_dropped_by_the_server() {
    let Some(url) = nats_url() else { return };
    let test = TestStream::new(&url);
    let bus = Arc::new(test.bus().await);
    let db_test = TestDb::new().await;
    let db = db_test.district("demo").await;
    let ddl: &'static str = Box::leak(outbox_table_sql(OUTBOX).into_boxed_str());
    db.migrate(&[Migration {
        version: 1,
        name: "outbox",
        sqlite: ddl,
        postgres: ddl,
    }])
    .await
    .unwrap();
    let mut tx = db.begin().await.unwrap();
    let recorded: Vec<NewEvent> = (1..=3)
        .map(|n| {
            NewEvent::v1(
                "demo.happened",
                format!("agg-{}", n % 2),
                Timestamp::from_millis(1_000 + n),
                json!({"n": n}),
            )
        })
        .collect();
    append(&mut tx, OUTBOX, &recorded).await.unwrap();
    tx.commit().await.unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(5_000)));
    let relay = || Relay::new(db.clone(), OUTBOX, "demo", bus.clone(), clock.clone());

    let crashed = relay().with_faults(Arc::new(CrashAfter(2))).pass().await;
    assert!(
        matches!(crashed, Err(RelayError::Interrupted { .. })),
        "{crashed:?}"
    );
    assert_eq!(bus.stream_messages().await.unwrap(), 2);

    // The next pass publishes 1 and 2 again; the server knows their ids and drops them.
    assert_eq!(relay().pass().await.unwrap().published, 3);
    assert_eq!(bus.stream_messages().await.unwrap(), 3);

    let recorder = Recorder::new("after-crash");
    let run = Running::start(&bus, recorder.clone()).await;
    settled(&bus, &recorder, 3).await;
    let outbox = kassa_events::list(&db, OUTBOX, None, 10).await.unwrap();
    let in_order: Vec<(String, EventId, String)> = outbox
        .iter()
        .map(|e| ("demo".to_string(), e.id, e.event_type.clone()))
        .collect();
    assert_eq!(recorder.handled(), in_order);
    run.stop().await;
}
