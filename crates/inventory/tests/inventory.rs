//! Inventory service tests, each on a fresh database: SQLite always, PostgreSQL when
//! TEST_DATABASE_URL is set. Stock and locations are in the module `stock`, reservations and the
//! sweeper in `reservations`, buyers racing for the same units in `concurrency`, reservations
//! combined into batches in `batching` — one test binary.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

// Under tests/inventory/, so that Cargo does not build each as a test binary of its own.
#[path = "inventory/batching.rs"]
mod batching;
#[path = "inventory/concurrency.rs"]
mod concurrency;
#[path = "inventory/reservations.rs"]
mod reservations;
#[path = "inventory/stock.rs"]
mod stock;

use std::sync::Arc;
use std::time::Duration;

use kassa_db::{Db, DbError, PoolSettings};
use kassa_inventory::store::InventoryStore;
use kassa_inventory::*;
use kassa_kernel::{Clock, ManualClock, Quantity, Sku, Timestamp};
use kassa_testkit::TestDb;
use sqlx::Row;

const START_MS: i64 = 1_795_000_000_000;

/// The service (behind the trait object other crates hold), the clock it sees, its database
/// for statements that bypass the service, and the test database kept alive for the test.
struct Fixture {
    inventory: Arc<dyn InventoryService>,
    clock: ManualClock,
    db: Db,
    _test: TestDb,
}

async fn fixture() -> Fixture {
    let test = TestDb::new().await;
    let db = test.district("inventory").await;
    fixture_over(test, db).await
}

/// A fixture whose pool has `connections` connections (on SQLite: readers; the writer is always
/// one) and waits long for one, so that hundreds of concurrent calls queue instead of failing
/// as unavailable on a busy machine.
async fn fixture_with_pool(connections: u32) -> Fixture {
    let test = TestDb::new().await;
    let settings = PoolSettings {
        max_connections: connections,
        acquire_timeout: Duration::from_secs(120),
        sqlite_busy_timeout: Duration::from_secs(120),
        ..PoolSettings::default()
    };
    let db = Db::connect(test.backend(), "inventory", &settings)
        .await
        .unwrap();
    fixture_over(test, db).await
}

async fn fixture_over(test: TestDb, db: Db) -> Fixture {
    let clock = ManualClock::new(Timestamp::from_millis(START_MS));
    let store = InventoryStore::new(db.clone());
    store.migrate().await.unwrap();
    let inventory = Arc::new(Inventory::new(
        store,
        Arc::new(clock.clone()),
        InventoryConfig::default(),
    ));
    Fixture {
        inventory,
        clock,
        db,
        _test: test,
    }
}

impl Fixture {
    async fn set(&self, code: &str, on_hand: u32) -> StockLevel {
        self.inventory
            .set_stock(sku(code), LocationId::DEFAULT, on_hand)
            .await
            .unwrap()
    }

    /// (on_hand, reserved) at the default location; (0, 0) if the SKU was never stocked.
    async fn level(&self, code: &str) -> (u32, u32) {
        let summary = self.inventory.stock(sku(code)).await.unwrap();
        summary
            .at(LocationId::DEFAULT)
            .map_or((0, 0), |l| (l.on_hand, l.reserved))
    }

    async fn reserve(
        &self,
        order_ref: &str,
        lines: &[(&str, u32)],
    ) -> Result<Reservation, InventoryError> {
        self.inventory
            .reserve(order_ref.to_owned(), &order_lines(lines), None)
            .await
    }

    /// Every recorded event's type, oldest first.
    async fn event_types(&self) -> Vec<String> {
        self.inventory
            .events(None, EVENTS_PAGE_MAX)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_type)
            .collect()
    }

    fn tick(&self) {
        self.clock.advance(Duration::from_secs(1));
    }

    /// Runs `sql` in a transaction of its own, bypassing the service.
    async fn execute(&self, sql: &str) -> Result<u64, DbError> {
        let mut tx = self.db.begin().await?;
        let done = kassa_db::query(sql).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn count(&self, table: &str) -> i64 {
        kassa_db::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(self.db.reader())
            .await
            .unwrap()
            .try_get("n")
            .unwrap()
    }
}

fn sku(code: &str) -> Sku {
    Sku::parse(code).unwrap()
}

fn quantity(n: u32) -> Quantity {
    Quantity::new(n).unwrap()
}

fn order_lines(lines: &[(&str, u32)]) -> Vec<(Sku, Quantity)> {
    lines
        .iter()
        .map(|(code, n)| (sku(code), quantity(*n)))
        .collect()
}

fn shortage(code: &str, requested: u32, available: u32) -> Shortage {
    Shortage {
        sku: sku(code),
        requested,
        available,
    }
}
