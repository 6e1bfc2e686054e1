#![allow(clippy::unwrap_used)]
//! Storage tests: run on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set.

use kassa_db::{row, DbError, Dialect, Migration, Sql};
use kassa_testkit::TestDb;

const WIDGETS: &[Migration] = &[
    Migration {
        version: 2026112201,
        name: "create widgets",
        sqlite: "CREATE TABLE widgets (id TEXT PRIMARY KEY, qty BIGINT NOT NULL CHECK (qty >= 0));",
        postgres: "CREATE TABLE widgets (id TEXT PRIMARY KEY, qty BIGINT NOT NULL CHECK (qty >= 0));",
    },
    Migration {
        version: 2026112202,
        name: "add widget parts",
        sqlite: "CREATE TABLE widget_parts (widget_id TEXT NOT NULL REFERENCES widgets (id), part TEXT NOT NULL);",
        postgres: "CREATE TABLE widget_parts (widget_id TEXT NOT NULL REFERENCES widgets (id), part TEXT NOT NULL);",
    },
];

async fn insert(db: &kassa_db::Db, id: &str, qty: i64) -> Result<(), DbError> {
    let mut tx = db.begin().await?;
    kassa_db::query("INSERT INTO widgets (id, qty) VALUES ($1, $2)")
        .bind(id)
        .bind(qty)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

#[tokio::test]
async fn migrations_apply_once_and_rerunning_them_is_harmless() {
    let test = TestDb::new().await;
    let db = test.district("widgets").await;
    db.migrate(WIDGETS).await.unwrap();
    db.migrate(WIDGETS).await.unwrap();
    let count: i64 =
        kassa_db::query_scalar("SELECT COUNT(*) FROM kassa_migrations WHERE district = 'widgets'")
            .fetch_one(db.reader())
            .await
            .unwrap();
    assert_eq!(count, 2);
}

#[tokio::test]
async fn a_renamed_migration_is_refused() {
    let test = TestDb::new().await;
    let db = test.district("widgets").await;
    db.migrate(&WIDGETS[..1]).await.unwrap();
    let renamed = [Migration {
        name: "something else",
        ..WIDGETS[0]
    }];
    assert!(matches!(db.migrate(&renamed).await, Err(DbError::Setup(_))));
}

#[tokio::test]
async fn migrations_out_of_order_are_refused() {
    let test = TestDb::new().await;
    let db = test.district("widgets").await;
    let reversed = [WIDGETS[1], WIDGETS[0]];
    assert!(matches!(
        db.migrate(&reversed).await,
        Err(DbError::Setup(_))
    ));
}

#[tokio::test]
async fn constraint_violations_are_classified_by_kind() {
    let test = TestDb::new().await;
    let db = test.district("widgets").await;
    db.migrate(WIDGETS).await.unwrap();
    insert(&db, "w1", 1).await.unwrap();

    assert!(insert(&db, "w1", 2)
        .await
        .unwrap_err()
        .is_unique_violation());
    assert!(insert(&db, "w2", -1)
        .await
        .unwrap_err()
        .is_check_violation());

    let mut tx = db.begin().await.unwrap();
    let err: DbError =
        kassa_db::query("INSERT INTO widget_parts (widget_id, part) VALUES ($1, $2)")
            .bind("missing")
            .bind("bolt")
            .execute(&mut *tx)
            .await
            .unwrap_err()
            .into();
    assert!(err.is_foreign_key_violation(), "{err:?}");
}

#[tokio::test]
async fn a_rolled_back_transaction_leaves_nothing() {
    let test = TestDb::new().await;
    let db = test.district("widgets").await;
    db.migrate(WIDGETS).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    kassa_db::query("INSERT INTO widgets (id, qty) VALUES ('w9', 9)")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let count: i64 = kassa_db::query_scalar("SELECT COUNT(*) FROM widgets")
        .fetch_one(db.reader())
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn the_builder_binds_numbered_markers_on_this_backend() {
    let test = TestDb::new().await;
    let db = test.district("widgets").await;
    db.migrate(WIDGETS).await.unwrap();
    for (id, qty) in [("a", 1), ("b", 5), ("c", 9)] {
        insert(&db, id, qty).await.unwrap();
    }
    // Markers used out of textual order would break a positional binder; ours numbers them.
    let mut sql = Sql::new("SELECT id, qty FROM widgets WHERE qty >= ");
    sql.bind(2_i64)
        .push(" AND id <> ")
        .bind("c".to_owned())
        .push(" ORDER BY id");
    let rows = sql.build().unwrap().fetch_all(db.reader()).await.unwrap();
    let ids: Vec<String> = rows.iter().map(|r| row::text(r, "id").unwrap()).collect();
    assert_eq!(ids, vec!["b".to_owned()]);
}

#[tokio::test]
async fn sqlite_is_durable_by_default_and_readers_cannot_write() {
    let test = TestDb::new().await;
    let db = test.district("widgets").await;
    db.migrate(WIDGETS).await.unwrap();
    if db.dialect() != Dialect::Sqlite {
        // The PostgreSQL run checks its own durability setting instead.
        let fsync: String = kassa_db::query_scalar("SHOW fsync")
            .fetch_one(db.reader())
            .await
            .unwrap();
        assert_eq!(fsync, "on");
        return;
    }
    let mut conn = db.reader().acquire().await.unwrap();
    let mode: String = kassa_db::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
    let write = kassa_db::query("INSERT INTO widgets (id, qty) VALUES ('r', 1)")
        .execute(&mut conn)
        .await;
    assert!(write.is_err(), "a reader connection accepted a write");
    drop(conn);
    let mut tx = db.begin().await.unwrap();
    let synchronous: i64 = kassa_db::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(synchronous, 2, "synchronous must be FULL");
}

#[tokio::test]
async fn markers_bind_by_number_even_out_of_order_and_repeated() {
    let test = TestDb::new().await;
    let db = test.district("widgets").await;
    db.migrate(WIDGETS).await.unwrap();
    for (id, qty) in [("a", 1), ("b", 5), ("c", 9)] {
        insert(&db, id, qty).await.unwrap();
    }
    // `$2` appears before `$1`, and `$1` twice: SQLite numbers named parameters by first
    // appearance, so binding by position would swap them.
    let rows = kassa_db::query(
        "SELECT id FROM widgets WHERE id <> $2 AND qty >= $1 AND qty + 0 >= $1 ORDER BY id",
    )
    .bind(2_i64)
    .bind("c")
    .fetch_all(db.reader())
    .await
    .unwrap();
    let ids: Vec<String> = rows.iter().map(|r| row::text(r, "id").unwrap()).collect();
    assert_eq!(ids, vec!["b".to_owned()]);
}

#[tokio::test]
async fn values_come_back_as_they_were_bound() {
    use sqlx::Row;
    let test = TestDb::new().await;
    let db = test.district("widgets").await;
    db.migrate(WIDGETS).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    let row = kassa_db::query("SELECT $1 AS big, $2 AS text, $3 AS none, $4 AS bytes")
        .bind(i64::MAX)
        .bind("zwölf €")
        .bind(None::<String>)
        .bind(vec![0_u8, 255, 7])
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(row.try_get::<i64, _>("big").unwrap(), i64::MAX);
    assert_eq!(row.try_get::<String, _>("text").unwrap(), "zwölf €");
    assert_eq!(row.try_get::<Option<String>, _>("none").unwrap(), None);
    assert_eq!(
        row.try_get::<Vec<u8>, _>("bytes").unwrap(),
        vec![0_u8, 255, 7]
    );
    assert!(row.try_get::<i64, _>("missing").is_err());
}

#[tokio::test]
async fn an_update_reports_the_rows_it_changed_and_returning_gives_them() {
    let test = TestDb::new().await;
    let db = test.district("widgets").await;
    db.migrate(WIDGETS).await.unwrap();
    for (id, qty) in [("a", 1), ("b", 5), ("c", 9)] {
        insert(&db, id, qty).await.unwrap();
    }
    let mut tx = db.begin().await.unwrap();
    let done = kassa_db::query("UPDATE widgets SET qty = qty + 1 WHERE qty >= $1")
        .bind(5_i64)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 2);
    let returned = kassa_db::query("UPDATE widgets SET qty = qty - 1 WHERE id = $1 RETURNING qty")
        .bind("c")
        .fetch_optional(&mut *tx)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row::int(&returned, "qty").unwrap(), 9);
    tx.commit().await.unwrap();
    let missing = kassa_db::query("SELECT id FROM widgets WHERE id = $1")
        .bind("zz")
        .fetch_one(db.reader())
        .await;
    assert!(matches!(missing, Err(sqlx::Error::RowNotFound)));
}

#[tokio::test]
async fn a_read_transaction_sees_one_snapshot() {
    let test = TestDb::new().await;
    let db = test.district("widgets").await;
    db.migrate(WIDGETS).await.unwrap();
    insert(&db, "a", 1).await.unwrap();
    let mut read = db.reader().begin().await.unwrap();
    if db.dialect() == Dialect::Postgres {
        kassa_db::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .execute(&mut *read)
            .await
            .unwrap();
    }
    let before: i64 = kassa_db::query_scalar("SELECT COUNT(*) FROM widgets")
        .fetch_one(&mut *read)
        .await
        .unwrap();
    insert(&db, "b", 2).await.unwrap();
    let inside: i64 = kassa_db::query_scalar("SELECT COUNT(*) FROM widgets")
        .fetch_one(&mut *read)
        .await
        .unwrap();
    read.commit().await.unwrap();
    let after: i64 = kassa_db::query_scalar("SELECT COUNT(*) FROM widgets")
        .fetch_one(db.reader())
        .await
        .unwrap();
    assert_eq!((before, inside, after), (1, 1, 2));
}
