#![allow(clippy::unwrap_used)]
//! Write transactions under concurrency: on SQLite they are group-committed (one COMMIT for a
//! batch of savepoints, `writer.rs`), on PostgreSQL each commits on its own; stores must not be
//! able to tell. Runs on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set; the tests
//! about the SQLite writer's queue and batches return early on PostgreSQL.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kassa_db::{Db, DbError, Dialect, Migration, PoolSettings};
use kassa_testkit::TestDb;
use sqlx::Row;
use tokio::sync::Barrier;

const SCHEMA: &[Migration] = &[Migration {
    version: 2026120101,
    name: "create widgets, notes and parts",
    sqlite: "CREATE TABLE widgets (id TEXT PRIMARY KEY, qty BIGINT NOT NULL CHECK (qty >= 0));
        CREATE TABLE notes (id INTEGER PRIMARY KEY, caller TEXT NOT NULL, body TEXT NOT NULL);
        CREATE TABLE parts (widget_id TEXT NOT NULL
            REFERENCES widgets (id) DEFERRABLE INITIALLY DEFERRED);",
    postgres: "CREATE TABLE widgets (id TEXT PRIMARY KEY, qty BIGINT NOT NULL CHECK (qty >= 0));
        CREATE TABLE notes (id BIGSERIAL PRIMARY KEY, caller TEXT NOT NULL, body TEXT NOT NULL);
        CREATE TABLE parts (widget_id TEXT NOT NULL
            REFERENCES widgets (id) DEFERRABLE INITIALLY DEFERRED);",
}];

/// Enough patience that a busy machine never turns a queue into an "unavailable".
fn patient() -> PoolSettings {
    PoolSettings {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(60),
        ..PoolSettings::default()
    }
}

async fn open(test: &TestDb, settings: PoolSettings) -> Db {
    let db = Db::connect(test.backend(), "widgets", &settings)
        .await
        .unwrap();
    db.migrate(SCHEMA).await.unwrap();
    db
}

async fn insert(db: &Db, id: &str, qty: i64) -> Result<(), DbError> {
    let mut tx = db.begin().await?;
    kassa_db::query("INSERT INTO widgets (id, qty) VALUES ($1, $2)")
        .bind(id)
        .bind(qty)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Widget ids visible to the readers, in order.
async fn widget_ids(db: &Db) -> Vec<String> {
    kassa_db::query_scalar("SELECT id FROM widgets ORDER BY id")
        .fetch_all(db.reader())
        .await
        .unwrap()
}

fn widget(i: usize) -> String {
    format!("w{i:03}")
}

/// Waits (a bounded time) until `n` write transactions are queued for the SQLite writer.
async fn until_waiting(db: &Db, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while db.stats().waiting != n {
        assert!(Instant::now() < deadline, "never saw {n} writes waiting");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Starts `count` tasks that each wait for all the others, then run `write(db, i)`.
fn all_at_once<F, Fut, T>(db: &Db, count: usize, write: F) -> Vec<tokio::task::JoinHandle<T>>
where
    F: Fn(Db, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(count));
    (0..count)
        .map(|i| {
            let (db, barrier, write) = (db.clone(), Arc::clone(&barrier), write.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                write(db, i).await
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_writes_fail_exactly_where_the_check_refuses() {
    // Arrange
    let test = TestDb::new().await;
    let db = open(&test, patient()).await;

    // Act: every 4th write breaks the CHECK (qty >= 0).
    let tasks = all_at_once(&db, 200, |db, i| async move {
        let qty = if i % 4 == 3 { -1 } else { 1 };
        insert(&db, &widget(i), qty).await
    });

    // Assert
    for (i, task) in tasks.into_iter().enumerate() {
        let result = task.await.unwrap();
        if i % 4 == 3 {
            assert!(result.unwrap_err().is_check_violation(), "write {i}");
        } else {
            result.unwrap_or_else(|err| panic!("write {i} failed: {err:?}"));
        }
    }
    let expected: Vec<String> = (0..200).filter(|i| i % 4 != 3).map(widget).collect();
    assert_eq!(widget_ids(&db).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_concurrent_writer_gets_back_the_rows_it_wrote() {
    // Arrange
    let test = TestDb::new().await;
    let db = open(&test, patient()).await;

    // Act: 200 writers, two rows each, read back through RETURNING inside the transaction.
    let tasks = all_at_once(&db, 200, |db, i| async move {
        let caller = format!("caller-{i}");
        let mut tx = db.begin().await.unwrap();
        let mut written = Vec::new();
        for n in 0..2 {
            let body = format!("note {n} of {caller}");
            let row = kassa_db::query(
                "INSERT INTO notes (caller, body) VALUES ($1, $2) RETURNING id, caller, body",
            )
            .bind(&caller)
            .bind(&body)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
            assert_eq!(row.try_get::<String, _>("caller").unwrap(), caller);
            assert_eq!(row.try_get::<String, _>("body").unwrap(), body);
            written.push((row.try_get::<i64, _>("id").unwrap(), body));
        }
        tx.commit().await.unwrap();
        written
    });

    // Assert: ids are distinct and each names the row its writer wrote.
    let mut ids = BTreeSet::new();
    for task in tasks {
        for (id, body) in task.await.unwrap() {
            assert!(ids.insert(id), "id {id} returned twice");
            let stored: String = kassa_db::query_scalar("SELECT body FROM notes WHERE id = $1")
                .bind(id)
                .fetch_one(db.reader())
                .await
                .unwrap();
            assert_eq!(stored, body);
        }
    }
    assert_eq!(ids.len(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_commits_on_sqlite() {
    // Arrange
    let test = TestDb::new().await;
    let db = open(&test, patient()).await;
    let before = db.stats();

    // Act
    let tasks = all_at_once(
        &db,
        200,
        |db, i| async move { insert(&db, &widget(i), 1).await },
    );
    for task in tasks {
        task.await.unwrap().unwrap();
    }

    // Assert
    let after = db.stats();
    let transactions = after.transactions_committed - before.transactions_committed;
    let commits = after.commits - before.commits;
    assert_eq!(transactions, 200);
    eprintln!("{transactions} write transactions made durable by {commits} commits");
    match db.dialect() {
        // At most a quarter: in practice a handful of batches of up to group_commit_max.
        Dialect::Sqlite => assert!(commits * 4 <= transactions, "{commits} commits"),
        Dialect::Postgres => assert_eq!(commits, transactions),
    }
    assert_eq!(after.waiting, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_and_rolled_back_writes_leave_no_trace_while_batch_mates_commit() {
    // Arrange
    let test = TestDb::new().await;
    let db = open(&test, patient()).await;

    // Act: a third commit, a third roll back, a third drop their transaction, all interleaved.
    let tasks = all_at_once(&db, 150, |db, i| async move {
        let mut tx = db.begin().await.unwrap();
        for (id, qty) in [(widget(i), 1_i64), (format!("{}-extra", widget(i)), 2)] {
            kassa_db::query("INSERT INTO widgets (id, qty) VALUES ($1, $2)")
                .bind(id)
                .bind(qty)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        match i % 3 {
            0 => tx.commit().await.unwrap(),
            1 => tx.rollback().await.unwrap(),
            _ => drop(tx),
        }
    });
    for task in tasks {
        task.await.unwrap();
    }

    // Assert
    let mut expected: Vec<String> = (0..150)
        .filter(|i| i % 3 == 0)
        .flat_map(|i| [widget(i), format!("{}-extra", widget(i))])
        .collect();
    expected.sort();
    assert_eq!(widget_ids(&db).await, expected);
    // The writer is left clean: the next write commits alone and promptly.
    let started = Instant::now();
    insert(&db, "z-after", 1).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(widget_ids(&db).await.contains(&"z-after".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_write_queue_answers_overloaded_at_once() {
    // Arrange: the queue holds two; the writer is held, and two writes queue behind it.
    let test = TestDb::new().await;
    let settings = PoolSettings {
        write_queue_max: 2,
        ..patient()
    };
    let db = open(&test, settings).await;
    if db.dialect() != Dialect::Sqlite {
        return; // PostgreSQL has no writer queue: its pool bounds waiting instead.
    }
    let held = db.begin().await.unwrap();
    let queued: Vec<_> = (0..2)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move { insert(&db, &widget(i), 1).await })
        })
        .collect();
    until_waiting(&db, 2).await;

    // Act
    let started = Instant::now();
    let refused = tokio::time::timeout(Duration::from_secs(1), db.begin())
        .await
        .expect("a full queue answers at once");

    // Assert
    let err = refused.expect_err("a third queued write is refused");
    assert!(matches!(err, DbError::Overloaded), "{err:?}");
    assert!(err.is_unavailable());
    assert!(started.elapsed() < Duration::from_millis(500));
    held.commit().await.unwrap();
    for task in queued {
        task.await.unwrap().unwrap();
    }
    assert_eq!(widget_ids(&db).await, vec![widget(0), widget(1)]);
    assert_eq!(db.stats().waiting, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_give_up_while_queued_do_not_stall_the_others() {
    // Arrange: one write holds the writer (on SQLite), so the others queue behind it.
    let test = TestDb::new().await;
    let db = open(&test, patient()).await;
    let mut held = db.begin().await.unwrap();
    kassa_db::query("INSERT INTO widgets (id, qty) VALUES ('held', 1)")
        .execute(&mut *held)
        .await
        .unwrap();

    // Act: one gives up while queued; then forty more queue, every other one giving up after
    // a few milliseconds (while queued, or halfway through its transaction).
    let gave_up = tokio::time::timeout(Duration::from_millis(50), db.begin()).await;
    if db.dialect() == Dialect::Sqlite {
        assert!(gave_up.is_err(), "the writer is held, so begin had to wait");
    }
    drop(gave_up);
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                let id = widget(i);
                let write = insert(&db, &id, 1);
                if i % 2 == 0 {
                    let patience = Duration::from_millis(u64::try_from(i).unwrap());
                    let _ = tokio::time::timeout(patience, write).await;
                    None
                } else {
                    Some(tokio::time::timeout(Duration::from_secs(30), write).await)
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    tokio::time::timeout(Duration::from_secs(10), held.commit())
        .await
        .expect("the held write commits although a queued one gave up")
        .unwrap();

    // Assert: every write that kept waiting committed, and is visible.
    for task in tasks {
        if let Some(result) = task.await.unwrap() {
            result.expect("a patient write finished").unwrap();
        }
    }
    let ids = widget_ids(&db).await;
    assert!(ids.contains(&"held".to_owned()));
    for i in (1..40).step_by(2) {
        assert!(ids.contains(&widget(i)), "{} missing", widget(i));
    }
    let started = Instant::now();
    insert(&db, "z-after", 1).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_meets_a_batch_mates_row_and_ends_then_reads_that_row() {
    // The pattern of "insert … ON CONFLICT DO NOTHING; if nothing was inserted, end the
    // transaction and read the row that won": the row must be visible to the readers then,
    // although on SQLite it was still in the open batch when the conflict was found.
    let test = TestDb::new().await;
    let db = open(&test, patient()).await;
    for (round, roll_back) in [("dropped", false), ("rolled-back", true)] {
        // Arrange: `held` writes the row and commits while `loser` is queued behind it.
        let id = format!("dup-{round}");
        let mut held = db.begin().await.unwrap();
        kassa_db::query("INSERT INTO widgets (id, qty) VALUES ($1, 1)")
            .bind(&id)
            .execute(&mut *held)
            .await
            .unwrap();
        let loser = {
            let (db, id) = (db.clone(), id.clone());
            tokio::spawn(async move {
                // Act
                let mut tx = db.begin().await.unwrap();
                let inserted = kassa_db::query(
                    "INSERT INTO widgets (id, qty) VALUES ($1, 2) ON CONFLICT (id) DO NOTHING",
                )
                .bind(&id)
                .execute(&mut *tx)
                .await
                .unwrap()
                .rows_affected();
                if roll_back {
                    tx.rollback().await.unwrap();
                } else {
                    drop(tx);
                }
                let winner: Option<i64> =
                    kassa_db::query_scalar("SELECT qty FROM widgets WHERE id = $1")
                        .bind(&id)
                        .fetch_optional(db.reader())
                        .await
                        .unwrap();
                (inserted, winner)
            })
        };
        if db.dialect() == Dialect::Sqlite {
            until_waiting(&db, 1).await;
        }
        held.commit().await.unwrap();

        // Assert
        let (inserted, winner) = loser.await.unwrap();
        if db.dialect() == Dialect::Sqlite {
            assert_eq!(inserted, 0, "{round}: the loser ran after the winner");
        }
        if inserted == 0 {
            assert_eq!(winner, Some(1), "{round}: the winning row is visible");
        }
    }
}

/// Holds the writer with one write (`h`), queues a good write (`m`) and then `last`, and
/// commits `h`: so `h`, `m` and `last` run as one batch, in that order.
async fn batch_of_three_ending_with<F, Fut>(db: &Db, last: F) -> [Result<(), DbError>; 3]
where
    F: FnOnce(Db) -> Fut,
    Fut: std::future::Future<Output = Result<(), DbError>> + Send + 'static,
{
    let mut held = db.begin().await.unwrap();
    kassa_db::query("INSERT INTO widgets (id, qty) VALUES ('h', 1)")
        .execute(&mut *held)
        .await
        .unwrap();
    let good = {
        let db = db.clone();
        tokio::spawn(async move {
            let mut tx = db.begin().await?;
            kassa_db::query("INSERT INTO widgets (id, qty) VALUES ('m', 1)")
                .execute(&mut *tx)
                .await?;
            Ok(tx.commit().await?)
        })
    };
    until_waiting(db, 1).await;
    let last = tokio::spawn(last(db.clone()));
    until_waiting(db, 2).await;
    let first = held.commit().await.map_err(DbError::from);
    [first, good.await.unwrap(), last.await.unwrap()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_commit_fails_every_member_and_keeps_nothing() {
    // Arrange
    let test = TestDb::new().await;
    let db = open(&test, patient()).await;
    if db.dialect() != Dialect::Sqlite {
        return; // No batches on PostgreSQL.
    }

    // Act: the last member breaks a deferred foreign key, which only COMMIT checks.
    let results = batch_of_three_ending_with(&db, |db| async move {
        let mut tx = db.begin().await?;
        kassa_db::query("INSERT INTO parts (widget_id) VALUES ('missing')")
            .execute(&mut *tx)
            .await?;
        Ok(tx.commit().await?)
    })
    .await;

    // Assert: nobody was acknowledged, nothing was kept, and the writer starts clean.
    for result in results {
        let err = result.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
    }
    assert!(widget_ids(&db).await.is_empty());
    insert(&db, "after", 1).await.unwrap();
    assert_eq!(widget_ids(&db).await, vec!["after".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outer_transaction_lost_mid_batch_fails_its_members_and_the_writer_recovers() {
    // Arrange
    let test = TestDb::new().await;
    let db = open(&test, patient()).await;
    if db.dialect() != Dialect::Sqlite {
        return; // No batches on PostgreSQL.
    }

    // Act: the last member's transaction loses the outer transaction, as SQLite does itself
    // after a full disk or an I/O error.
    let results = batch_of_three_ending_with(&db, |db| async move {
        let mut tx = db.begin().await?;
        kassa_db::query("ROLLBACK").execute(&mut *tx).await?;
        Ok(tx.commit().await?)
    })
    .await;

    // Assert
    for result in results {
        assert!(result.is_err(), "a member of a lost batch was acknowledged");
    }
    assert!(widget_ids(&db).await.is_empty());
    insert(&db, "after", 1).await.unwrap();
    assert_eq!(widget_ids(&db).await, vec!["after".to_owned()]);
}
