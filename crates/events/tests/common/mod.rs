//! Shared by the events test binaries.

#![allow(clippy::unwrap_used, dead_code)]

use kassa_db::{Db, Migration};
use kassa_events::outbox_table_sql;
use kassa_testkit::TestDb;

/// The `demo` district's database with its outbox `demo_outbox`.
pub async fn outbox_db(test: &TestDb) -> Db {
    migrated(test, "demo", outbox_table_sql("demo_outbox")).await
}

/// The `district`'s database after one migration running `ddl` on both dialects.
pub async fn migrated(test: &TestDb, district: &'static str, ddl: String) -> Db {
    let db = test.district(district).await;
    let ddl: &'static str = Box::leak(ddl.into_boxed_str());
    db.migrate(&[Migration {
        version: 1,
        name: "schema",
        sqlite: ddl,
        postgres: ddl,
    }])
    .await
    .unwrap();
    db
}
