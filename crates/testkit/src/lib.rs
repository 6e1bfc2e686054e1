//! Test-only helpers: a fresh database per test on the backend the run asks for.
//!
//! Every store and API test calls [`TestDb::new`]. Without `TEST_DATABASE_URL` it gives a
//! temporary directory of SQLite files; with it (CI sets it) it creates a PostgreSQL database with
//! a random name on that server and drops it when the `TestDb` is dropped. An unreachable server
//! is a test failure, never a silent skip. The suite therefore runs once per backend: the README's
//! test command on SQLite, then again with `TEST_DATABASE_URL` on PostgreSQL.

use std::path::Path;

use kassa_db::{Backend, Db, PoolSettings};
use sqlx::Connection;

/// Environment variable naming the PostgreSQL server for the PostgreSQL run of the suite.
pub const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

/// One test's private database; dropped (PostgreSQL) or deleted (SQLite) at the end.
pub struct TestDb {
    backend: Backend,
    /// Keeps the SQLite directory alive for the test's duration.
    _dir: Option<tempfile::TempDir>,
    /// For PostgreSQL: the server URL (maintenance database) and the database to drop.
    pg_drop: Option<(String, String)>,
}

impl TestDb {
    /// A fresh, empty database. Panics (failing the test) if PostgreSQL was asked for and
    /// cannot be reached.
    pub async fn new() -> TestDb {
        match std::env::var(TEST_DATABASE_URL) {
            Ok(url) if !url.trim().is_empty() => Self::postgres(url.trim()).await,
            _ => Self::sqlite(),
        }
    }

    fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("create a temporary directory for SQLite");
        TestDb {
            backend: Backend::Sqlite {
                data_dir: dir.path().to_path_buf(),
            },
            _dir: Some(dir),
            pg_drop: None,
        }
    }

    async fn postgres(server_url: &str) -> TestDb {
        let name = format!("kassa_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::PgConnection::connect(server_url)
            .await
            .unwrap_or_else(|err| {
                panic!("TEST_DATABASE_URL is set but PostgreSQL cannot be reached: {err}")
            });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        let _ = conn.close().await;
        TestDb {
            backend: Backend::Postgres {
                url: with_database(server_url, &name),
            },
            _dir: None,
            pg_drop: Some((server_url.to_owned(), name)),
        }
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The SQLite data directory, if this is a SQLite test database.
    pub fn data_dir(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Sqlite { data_dir } => Some(data_dir),
            Backend::Postgres { .. } => None,
        }
    }

    /// Opens (and on SQLite creates) the database of one district, with a small pool.
    pub async fn district(&self, district: &'static str) -> Db {
        let settings = PoolSettings {
            max_connections: 4,
            ..PoolSettings::default()
        };
        Db::connect(&self.backend, district, &settings)
            .await
            .expect("open the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server_url, name)) = self.pg_drop.take() else {
            return;
        };
        // Drop runs outside async context (or inside a runtime we must not block), so the
        // database is dropped from a thread with its own small runtime.
        let handle = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&server_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    if let Err(err) = sqlx::query(&sql).execute(&mut conn).await {
                        eprintln!("could not drop test database {name}: {err}");
                    }
                    let _ = conn.close().await;
                }
            });
        });
        let _ = handle.join();
    }
}

/// Replaces the database name in a PostgreSQL URL, keeping any query string.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{database}?{q}"),
        None => format!("{host_part}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced_and_the_query_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "t2"),
            "postgres://u@h/t2?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:1", "t3"),
            "postgres://u@h:1/t3"
        );
    }
}
