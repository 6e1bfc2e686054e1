//! Idempotency service tests, each on a fresh database: SQLite always, PostgreSQL when
//! TEST_DATABASE_URL is set. The clock is manual, so leases and TTLs end when a test says so.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::sync::Arc;
use std::time::Duration;

use kassa_db::{Db, PoolSettings};
use kassa_idempotency::store::IdempotencyStore;
use kassa_idempotency::*;
use kassa_kernel::{Clock, ManualClock, Timestamp};
use kassa_testkit::TestDb;

const START_MS: i64 = 1_795_000_000_000;
const LEASE: Duration = Duration::from_secs(60);
const TTL: Duration = Duration::from_secs(24 * 60 * 60);

struct Fixture {
    service: Arc<dyn IdempotencyService>,
    store: IdempotencyStore,
    clock: ManualClock,
    _test: TestDb,
}

async fn fixture() -> Fixture {
    let test = TestDb::new().await;
    let db = test.district("idempotency").await;
    let clock = ManualClock::new(Timestamp::from_millis(START_MS));
    let store = IdempotencyStore::new(db);
    store.migrate().await.unwrap();
    Fixture {
        service: service_over(store.clone(), &clock),
        store,
        clock,
        _test: test,
    }
}

fn service_over(store: IdempotencyStore, clock: &ManualClock) -> Arc<dyn IdempotencyService> {
    let config = IdempotencyConfig {
        ttl: TTL,
        lease: LEASE,
    };
    Arc::new(Idempotency::new(store, Arc::new(clock.clone()), config))
}

fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::parse(text).unwrap()
}

fn fingerprint(body: &str) -> Fingerprint {
    Fingerprint::of_request("POST", "/v1/orders", body.as_bytes())
}

fn response(status: u16, body: &[u8]) -> StoredResponse {
    let headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("location".to_owned(), "/v1/orders/ord_1".to_owned()),
    ];
    StoredResponse::new(status, headers, body.to_vec()).unwrap()
}

impl Fixture {
    async fn begin(&self, key_text: &str, body: &str) -> Result<Begin, IdempotencyError> {
        self.service
            .begin(&Scope::anonymous(), &key(key_text), &fingerprint(body))
            .await
    }

    async fn proceed(&self, key_text: &str, body: &str) -> Lease {
        match self.begin(key_text, body).await {
            Ok(Begin::Proceed(lease)) => lease,
            other => panic!("expected to proceed, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_new_key_proceeds_and_once_completed_its_response_is_replayed_exactly() {
    // Arrange
    let f = fixture().await;
    let lease = f.proceed("k1", "{}").await;
    assert_eq!(lease.until(), Timestamp::from_millis(START_MS + 60_000));
    // Bytes that are not UTF-8 come back as they went in.
    let stored = response(201, b"{\"id\":\"ord_1\"}\xff\x00");

    // Act
    f.service.complete(&lease, &stored).await.unwrap();
    f.clock.advance(Duration::from_secs(3_600));
    let again = f.begin("k1", "{}").await.unwrap();

    // Assert
    assert_eq!(again, Begin::Replay(stored.clone()));
    let Begin::Replay(replayed) = again else {
        unreachable!()
    };
    assert_eq!(replayed.status(), 201);
    assert_eq!(replayed.headers(), stored.headers());
    assert_eq!(replayed.body(), stored.body());
}

#[tokio::test]
async fn client_errors_are_stored_and_replayed_like_successes() {
    let f = fixture().await;
    for (key_text, status) in [("k402", 402), ("k409", 409), ("k422", 422)] {
        let lease = f.proceed(key_text, "{}").await;
        f.service
            .complete(&lease, &response(status, b"{}"))
            .await
            .unwrap();
        let replay = f.begin(key_text, "{}").await.unwrap();
        assert!(
            matches!(&replay, Begin::Replay(r) if r.status() == status),
            "{replay:?}"
        );
    }
}

#[tokio::test]
async fn the_same_key_with_another_fingerprint_is_refused_as_reused_running_or_completed() {
    // Arrange
    let f = fixture().await;
    let lease = f.proceed("k1", "{\"a\":1}").await;

    // Act + Assert: while running
    let running = f.begin("k1", "{\"a\":2}").await;
    assert!(
        matches!(running, Err(IdempotencyError::KeyReused)),
        "{running:?}"
    );

    // Act + Assert: once completed
    f.service
        .complete(&lease, &response(201, b"{}"))
        .await
        .unwrap();
    let completed = f.begin("k1", "{\"a\":2}").await;
    assert!(
        matches!(completed, Err(IdempotencyError::KeyReused)),
        "{completed:?}"
    );
    let other_path = f
        .service
        .begin(
            &Scope::anonymous(),
            &key("k1"),
            &Fingerprint::of_request("POST", "/v1/payments", b"{\"a\":1}"),
        )
        .await;
    assert!(matches!(other_path, Err(IdempotencyError::KeyReused)));
}

#[tokio::test]
async fn the_same_request_while_the_first_runs_is_in_progress_until_its_lease_ends() {
    // Arrange
    let f = fixture().await;
    let _lease = f.proceed("k1", "{}").await;

    // Act: one millisecond before the lease ends
    f.clock.advance(LEASE - Duration::from_millis(1));
    let during = f.begin("k1", "{}").await;

    // Assert
    assert!(
        matches!(&during, Err(IdempotencyError::InProgress)),
        "{during:?}"
    );
    assert_eq!(during.err().and_then(|e| e.retry_after_secs()), Some(1));
}

#[tokio::test]
async fn a_running_record_whose_lease_ended_is_taken_over_and_the_first_lease_is_lost() {
    // Arrange: the first request's server "crashes" after claiming the key
    let f = fixture().await;
    let first = f.proceed("k1", "{}").await;
    f.clock.advance(LEASE);

    // Act: another fingerprint still may not take it; the same one may
    let other = f.begin("k1", "{\"x\":1}").await;
    let second = f.proceed("k1", "{}").await;

    // Assert
    assert!(
        matches!(other, Err(IdempotencyError::KeyReused)),
        "{other:?}"
    );
    assert_eq!(
        second.until(),
        Timestamp::from_millis(START_MS + 2 * 60_000)
    );
    // The first request cannot overwrite or delete the new claim.
    let late = f.service.complete(&first, &response(201, b"late")).await;
    assert!(matches!(late, Err(IdempotencyError::LeaseLost)), "{late:?}");
    f.service.release(&first).await.unwrap();
    let still = f.begin("k1", "{}").await;
    assert!(
        matches!(still, Err(IdempotencyError::InProgress)),
        "{still:?}"
    );
    f.service
        .complete(&second, &response(201, b"second"))
        .await
        .unwrap();
    let replay = f.begin("k1", "{}").await.unwrap();
    assert!(matches!(replay, Begin::Replay(r) if r.body() == b"second"));
}

#[tokio::test]
async fn a_released_key_runs_again_with_any_fingerprint() {
    // Arrange
    let f = fixture().await;
    let lease = f.proceed("k1", "{}").await;

    // Act
    f.service.release(&lease).await.unwrap();

    // Assert
    let record = f
        .store
        .record(&Scope::anonymous(), &key("k1"))
        .await
        .unwrap();
    assert_eq!(record, None);
    f.proceed("k1", "{}").await;
    // Releasing twice is fine; the second claim is untouched by the first lease.
    f.service.release(&lease).await.unwrap();
    let still = f.begin("k1", "{}").await;
    assert!(matches!(still, Err(IdempotencyError::InProgress)));
}

#[tokio::test]
async fn keys_are_independent_per_scope() {
    let f = fixture().await;
    let fp = fingerprint("{}");
    let scopes = [
        Scope::anonymous(),
        Scope::cart_token("t0ken"),
        Scope::cart_token("t0ken-2"),
        Scope::staff(kassa_kernel::ids::StaffId::new()),
        Scope::customer(kassa_kernel::ids::CustomerId::new()),
    ];
    for scope in &scopes {
        let begun = f.service.begin(scope, &key("shared"), &fp).await.unwrap();
        assert!(matches!(begun, Begin::Proceed(_)), "{scope}");
    }
}

#[tokio::test]
async fn records_past_their_ttl_count_as_absent_and_are_purged() {
    // Arrange: one completed record, one running one, one made an hour later
    let f = fixture().await;
    let done = f.proceed("done", "{}").await;
    f.service
        .complete(&done, &response(201, b"{}"))
        .await
        .unwrap();
    f.proceed("running", "{}").await;
    f.clock.advance(Duration::from_secs(3_600));
    f.proceed("later", "{}").await;

    // Act + Assert: nothing has expired a millisecond before the TTL
    let ttl_end = Timestamp::from_millis(START_MS).plus_secs(86_400);
    let before = ttl_end.plus_millis(-1);
    assert_eq!(f.service.purge(before, 100).await.unwrap(), 0);

    // Act + Assert: at the first two records' TTL they are absent to begin, even with
    // another fingerprint, and purged without touching the third
    f.clock.set(ttl_end);
    let reused = f.begin("done", "{\"other\":true}").await.unwrap();
    assert!(matches!(reused, Begin::Proceed(_)));
    assert_eq!(f.service.purge(f.clock.now(), 100).await.unwrap(), 1);
    assert!(f
        .store
        .record(&Scope::anonymous(), &key("running"))
        .await
        .unwrap()
        .is_none());
    assert!(f
        .store
        .record(&Scope::anonymous(), &key("later"))
        .await
        .unwrap()
        .is_some());
    assert!(f
        .store
        .record(&Scope::anonymous(), &key("done"))
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn purge_deletes_at_most_its_batch() {
    let f = fixture().await;
    for i in 0..5 {
        f.proceed(&format!("k{i}"), "{}").await;
    }
    let later = f.clock.now().plus_secs(86_400);
    assert_eq!(f.service.purge(later, 2).await.unwrap(), 2);
    assert_eq!(f.service.purge(later, 2).await.unwrap(), 2);
    assert_eq!(f.service.purge(later, 2).await.unwrap(), 1);
    assert_eq!(f.service.purge(later, 2).await.unwrap(), 0);
}

/// Two services with their own pools over one database stand for two server processes: the
/// database alone decides.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_begins_with_one_key_let_exactly_one_proceed() {
    // Arrange
    let f = fixture().await;
    let settings = PoolSettings {
        max_connections: 8,
        acquire_timeout: Duration::from_secs(60),
        sqlite_busy_timeout: Duration::from_secs(60),
        ..PoolSettings::default()
    };
    let other_db = Db::connect(f._test.backend(), "idempotency", &settings)
        .await
        .unwrap();
    let other = service_over(IdempotencyStore::new(other_db), &f.clock);
    let services = [f.service.clone(), other];
    let barrier = Arc::new(tokio::sync::Barrier::new(20));

    // Act
    let mut tasks = Vec::new();
    for i in 0..20 {
        let service = services[i % 2].clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            service
                .begin(&Scope::anonymous(), &key("race"), &fingerprint("{}"))
                .await
        }));
    }
    let mut proceeded = 0;
    let mut in_progress = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(Begin::Proceed(_)) => proceeded += 1,
            Err(IdempotencyError::InProgress) => in_progress += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
    }

    // Assert
    assert_eq!((proceeded, in_progress), (1, 19));
}
