//! The relay and the in-process bus, on SQLite and on PostgreSQL when TEST_DATABASE_URL is set:
//! every committed event reaches a consumer once in effect, in order; a relay stopped between
//! publishing and marking publishes again and the consumer's inbox absorbs the repeat; nothing
//! of a rolled-back transaction is ever published; one relay per outbox at a time.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use kassa_db::Db;
use kassa_events::inbox::{first_time, inbox_table_sql};
use kassa_events::{
    append, list, oldest_unpublished_at, prune, Bus, BusError, Consumer, Event, InProcessBus,
    NewEvent, Relay, RelayError, RelayFaults,
};
use kassa_kernel::{Clock, ManualClock, Timestamp};
use kassa_testkit::TestDb;
use serde_json::json;

mod common;
use common::{migrated, outbox_db};

const OUTBOX: &str = "demo_outbox";
const INBOX: &str = "sink_inbox";

/// The consumer's own district: its inbox and what it applied.
async fn sink_db(test: &TestDb) -> Db {
    let ddl = format!(
        "{} CREATE TABLE sink_applied (event_id TEXT PRIMARY KEY, n BIGINT NOT NULL);",
        inbox_table_sql(INBOX)
    );
    migrated(test, "sink", ddl).await
}

fn event(n: i64) -> NewEvent {
    NewEvent {
        event_type: "demo.happened",
        version: 1,
        aggregate_id: format!("agg-{}", n % 2),
        occurred_at: Timestamp::from_millis(1_000 + n),
        data: json!({"n": n}),
    }
}

async fn record(db: &Db, events: &[NewEvent], commit: bool) {
    let mut tx = db.begin().await.unwrap();
    append(&mut tx, OUTBOX, events).await.unwrap();
    if commit {
        tx.commit().await.unwrap();
    } else {
        tx.rollback().await.unwrap();
    }
}

/// Applies each event once (inbox + effect in one transaction), counting deliveries, and fails
/// the first delivery of `fail_once_on` (an `n`).
struct Sink {
    db: Db,
    clock: ManualClock,
    deliveries: AtomicUsize,
    delivered: Mutex<Vec<i64>>,
    fail_once_on: Mutex<Option<i64>>,
}

impl Sink {
    fn new(db: Db, clock: ManualClock) -> Arc<Sink> {
        Arc::new(Sink {
            db,
            clock,
            deliveries: AtomicUsize::new(0),
            delivered: Mutex::new(Vec::new()),
            fail_once_on: Mutex::new(None),
        })
    }

    async fn applied(&self) -> Vec<i64> {
        kassa_db::query_scalar::<i64>("SELECT n FROM sink_applied ORDER BY n")
            .fetch_all(self.db.reader())
            .await
            .unwrap()
    }
}

#[async_trait]
impl Consumer for Sink {
    fn name(&self) -> &str {
        "sink"
    }

    async fn handle(&self, source: &str, event: &Event) -> Result<(), BusError> {
        assert_eq!(source, "demo");
        let n = event.data["n"].as_i64().unwrap();
        self.deliveries.fetch_add(1, Ordering::SeqCst);
        self.delivered.lock().unwrap().push(n);
        if self
            .fail_once_on
            .lock()
            .unwrap()
            .take_if(|f| *f == n)
            .is_some()
        {
            return Err(BusError(format!("refusing {n} once")));
        }
        let mut tx = self.db.begin().await.unwrap();
        if first_time(&mut tx, INBOX, event.id, self.clock.now())
            .await
            .unwrap()
        {
            kassa_db::query("INSERT INTO sink_applied (event_id, n) VALUES ($1, $2)")
                .bind(event.id.to_string())
                .bind(n)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        Ok(())
    }
}

struct Fixture {
    outbox: Db,
    sink: Arc<Sink>,
    bus: Arc<InProcessBus>,
    clock: ManualClock,
    _test: TestDb,
}

async fn fixture() -> Fixture {
    let test = TestDb::new().await;
    let outbox = outbox_db(&test).await;
    let clock = ManualClock::new(Timestamp::from_millis(5_000));
    let sink = Sink::new(sink_db(&test).await, clock.clone());
    let bus = Arc::new(InProcessBus::new());
    bus.subscribe(sink.clone());
    Fixture {
        outbox,
        sink,
        bus,
        clock,
        _test: test,
    }
}

impl Fixture {
    fn relay(&self) -> Relay {
        Relay::new(
            self.outbox.clone(),
            OUTBOX,
            "demo",
            self.bus.clone() as Arc<dyn Bus>,
            Arc::new(self.clock.clone()),
        )
    }
}

#[tokio::test]
async fn every_committed_event_is_published_once_in_order_and_marked() {
    let f = fixture().await;
    record(&f.outbox, &[event(1), event(2)], true).await;
    record(&f.outbox, &[event(99)], false).await;
    record(&f.outbox, &[event(3)], true).await;

    let pass = f.relay().pass().await.unwrap();

    assert_eq!(pass.published, 3);
    assert!(!pass.skipped);
    assert_eq!(*f.sink.delivered.lock().unwrap(), vec![1, 2, 3]);
    assert_eq!(f.sink.applied().await, vec![1, 2, 3]);
    let events = list(&f.outbox, OUTBOX, None, 10).await.unwrap();
    assert!(events
        .iter()
        .all(|e| e.published_at == Some(Timestamp::from_millis(5_000))));
    // Nothing is pending any more: the next pass publishes nothing.
    assert_eq!(f.relay().pass().await.unwrap().published, 0);
    assert_eq!(f.sink.deliveries.load(Ordering::SeqCst), 3);
}

struct CrashAfter(i64);

impl RelayFaults for CrashAfter {
    fn crash_after_publish(&self, event: &Event) -> bool {
        event.data["n"].as_i64() == Some(self.0)
    }
}

#[tokio::test]
async fn a_relay_stopped_after_publishing_publishes_again_and_the_consumer_applies_once() {
    let f = fixture().await;
    record(&f.outbox, &[event(1), event(2), event(3)], true).await;

    let crashed = f.relay().with_faults(Arc::new(CrashAfter(2))).pass().await;
    assert!(matches!(crashed, Err(RelayError::Interrupted { .. })));
    let pending = list(&f.outbox, OUTBOX, None, 10).await.unwrap();
    assert!(
        pending.iter().all(|e| e.published_at.is_none()),
        "1 and 2 were published, nothing was marked"
    );

    let pass = f.relay().pass().await.unwrap();

    assert_eq!(pass.published, 3);
    assert_eq!(*f.sink.delivered.lock().unwrap(), vec![1, 2, 1, 2, 3]);
    assert_eq!(
        f.sink.applied().await,
        vec![1, 2, 3],
        "1 and 2 applied once"
    );
}

#[tokio::test]
async fn a_failed_delivery_leaves_its_event_and_the_later_ones_pending() {
    let f = fixture().await;
    record(&f.outbox, &[event(1), event(2), event(3)], true).await;
    *f.sink.fail_once_on.lock().unwrap() = Some(2);

    let failed = f.relay().pass().await;

    assert!(matches!(failed, Err(RelayError::Bus(_))), "{failed:?}");
    assert_eq!(f.sink.applied().await, vec![1], "nothing after 2 went out");
    let pass = f.relay().pass().await.unwrap();
    assert_eq!(pass.published, 2);
    assert_eq!(*f.sink.delivered.lock().unwrap(), vec![1, 2, 2, 3]);
    assert_eq!(f.sink.applied().await, vec![1, 2, 3]);
}

#[tokio::test]
async fn one_relay_publishes_an_outbox_at_a_time() {
    let f = fixture().await;
    record(&f.outbox, &[event(1)], true).await;
    let held = f
        .outbox
        .try_exclusive("relay:demo_outbox")
        .await
        .unwrap()
        .expect("free");

    let pass = f.relay().pass().await.unwrap();
    assert!(pass.skipped);
    assert_eq!(pass.published, 0);
    assert!(f.sink.delivered.lock().unwrap().is_empty());

    held.release().await.unwrap();
    assert_eq!(f.relay().pass().await.unwrap().published, 1);
}

#[tokio::test]
async fn the_relay_role_is_shared_by_every_process_on_postgresql_and_freed_by_a_dropped_holder() {
    let test = TestDb::new().await;
    let first = outbox_db(&test).await;
    if first.dialect() != kassa_db::Dialect::Postgres {
        // One process owns an embedded database; the role is process-local there (above).
        eprintln!("NOT RUN on SQLite: roles across processes are a PostgreSQL matter");
        return;
    }
    // A second handle has its own pool: another process, as far as PostgreSQL can tell.
    let second = test.district("demo").await;
    let held = first.try_exclusive("relay:demo_outbox").await.unwrap();
    assert!(held.is_some());
    assert!(second
        .try_exclusive("relay:demo_outbox")
        .await
        .unwrap()
        .is_none());
    assert!(
        second.try_exclusive("relay:other").await.unwrap().is_some(),
        "another role is free"
    );
    // Dropped without release (a crashed holder): its session ends and the role is free.
    drop(held);
    let mut taken = None;
    for _ in 0..50 {
        taken = second.try_exclusive("relay:demo_outbox").await.unwrap();
        if taken.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(taken.is_some(), "a dropped holder frees the role");
}

#[tokio::test]
async fn pruning_deletes_only_published_events_older_than_the_retention() {
    let f = fixture().await;
    record(&f.outbox, &[event(1), event(2)], true).await;
    f.relay().pass().await.unwrap();
    record(&f.outbox, &[event(3)], true).await;

    // Published at 5,000: kept by a cut at 5,000, deleted by one after it.
    assert_eq!(
        prune(&f.outbox, OUTBOX, Timestamp::from_millis(5_000), 100)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        prune(&f.outbox, OUTBOX, Timestamp::from_millis(5_001), 100)
            .await
            .unwrap(),
        2
    );
    let left = list(&f.outbox, OUTBOX, None, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert!(left[0].published_at.is_none(), "the unpublished one stays");
}

#[tokio::test]
async fn an_event_is_not_published_while_its_transaction_is_open() {
    let f = fixture().await;
    let mut open = f.outbox.begin().await.unwrap();
    append(&mut open, OUTBOX, &[event(1)]).await.unwrap();

    let pass = f.relay().pass().await.unwrap();
    assert_eq!(
        pass.published, 0,
        "an uncommitted event is not there to publish"
    );
    assert!(f.sink.delivered.lock().unwrap().is_empty());

    open.commit().await.unwrap();
    assert_eq!(f.relay().pass().await.unwrap().published, 1);
    assert_eq!(*f.sink.delivered.lock().unwrap(), vec![1]);
}

#[tokio::test]
async fn the_lag_is_the_age_of_the_oldest_unpublished_event() {
    let f = fixture().await;
    assert_eq!(
        oldest_unpublished_at(&f.outbox, OUTBOX).await.unwrap(),
        None
    );
    // event(n) happened at 1,000 + n.
    record(&f.outbox, &[event(2), event(1)], true).await;
    assert_eq!(
        f.relay().oldest_unpublished_at().await.unwrap(),
        Some(Timestamp::from_millis(1_001))
    );
    f.relay().pass().await.unwrap();
    assert_eq!(
        oldest_unpublished_at(&f.outbox, OUTBOX).await.unwrap(),
        None
    );
}
