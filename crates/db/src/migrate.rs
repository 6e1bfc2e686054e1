//! The migrator every district uses. Each district embeds its migrations for both dialects with
//! the same versions and names; bookkeeping lives in one `kassa_migrations` table keyed by
//! (district, version), so districts sharing a PostgreSQL database never collide.

use sqlx::Row;

use crate::{Db, DbError, Dialect};

/// One schema change, written once per dialect.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Increasing within a district; by convention `YYYYMMDDNN`.
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

const BOOKKEEPING: &str = "CREATE TABLE IF NOT EXISTS kassa_migrations (
    district TEXT NOT NULL,
    version BIGINT NOT NULL,
    name TEXT NOT NULL,
    applied_at_ms BIGINT NOT NULL,
    PRIMARY KEY (district, version)
)";

impl Db {
    /// Applies the migrations of this district that have not run yet, each in its own
    /// transaction, in version order. Safe to run from several processes at once on
    /// PostgreSQL: the bookkeeping table is locked while one migrator works.
    pub async fn migrate(&self, migrations: &[Migration]) -> Result<(), DbError> {
        check_order(migrations)?;
        // Through a write transaction like every other write: on SQLite that keeps it out of
        // the middle of another transaction's savepoint.
        let mut tx = self.begin().await?;
        tx.execute_batch(BOOKKEEPING).await?;
        tx.commit().await?;
        for migration in migrations {
            let mut tx = self.begin().await?;
            if self.dialect() == Dialect::Postgres {
                tx.execute_batch("LOCK TABLE kassa_migrations IN EXCLUSIVE MODE")
                    .await?;
            }
            let applied = crate::query(
                "SELECT name FROM kassa_migrations WHERE district = $1 AND version = $2",
            )
            .bind(self.district())
            .bind(migration.version)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = applied {
                let name: String = row.try_get(0)?;
                if name != migration.name {
                    return Err(DbError::Setup(format!(
                        "{} migration {} is recorded as '{name}' but the code calls it '{}'",
                        self.district(),
                        migration.version,
                        migration.name
                    )));
                }
                continue;
            }
            let sql = match self.dialect() {
                Dialect::Sqlite => migration.sqlite,
                Dialect::Postgres => migration.postgres,
            };
            tx.execute_batch(sql).await?;
            crate::query(
                "INSERT INTO kassa_migrations (district, version, name, applied_at_ms) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(self.district())
            .bind(migration.version)
            .bind(migration.name)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            tracing::info!(
                district = self.district(),
                version = migration.version,
                name = migration.name,
                "applied migration"
            );
        }
        Ok(())
    }
}

fn check_order(migrations: &[Migration]) -> Result<(), DbError> {
    for pair in migrations.windows(2) {
        if pair[0].version >= pair[1].version {
            return Err(DbError::Setup(format!(
                "migrations out of order: {} before {}",
                pair[0].version, pair[1].version
            )));
        }
    }
    Ok(())
}

/// Bookkeeping only: when a migration ran is not domain time, so the wall clock is fine here.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
