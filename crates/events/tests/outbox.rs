//! The outbox on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use kassa_events::{append, list, NewEvent};
use kassa_kernel::Timestamp;
use kassa_testkit::TestDb;
use serde_json::json;

mod common;
use common::outbox_db;

fn event(n: i64) -> NewEvent {
    NewEvent {
        event_type: "demo.happened",
        version: 1,
        aggregate_id: format!("agg-{n}"),
        occurred_at: Timestamp::from_millis(1_000 + n),
        data: json!({"n": n}),
    }
}

#[tokio::test]
async fn events_commit_with_their_transaction_and_list_in_order() {
    let test = TestDb::new().await;
    let db = outbox_db(&test).await;
    let mut tx = db.begin().await.unwrap();
    append(&mut tx, "demo_outbox", &[event(1), event(2)])
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let events = list(&db, "demo_outbox", None, 10).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].aggregate_id, "agg-1");
    assert_eq!(events[1].data, json!({"n": 2}));
    assert_eq!(events[0].occurred_at, Timestamp::from_millis(1_001));
    assert!(events[0].published_at.is_none());

    let rest = list(&db, "demo_outbox", Some(events[0].id), 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].id, events[1].id);
}

#[tokio::test]
async fn events_of_a_rolled_back_transaction_never_exist() {
    let test = TestDb::new().await;
    let db = outbox_db(&test).await;
    let mut tx = db.begin().await.unwrap();
    append(&mut tx, "demo_outbox", &[event(1)]).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(list(&db, "demo_outbox", None, 10).await.unwrap().is_empty());
}
